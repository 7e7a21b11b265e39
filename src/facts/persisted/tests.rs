use super::*;

fn refused_of(text: &str, replay: BootReplay) -> Vec<(usize, String)> {
    let (settings, _) = parse_sysctl_file("/etc/sysctl.d/70-x.conf", text);
    let mut config = PersistedConfig {
        settings,
        ..Default::default()
    };
    replay.judge(&mut config);
    config
        .refused
        .into_iter()
        .map(|r| (r.line, r.reason))
        .collect()
}

const MODERN: BootReplay = BootReplay {
    has_unprivileged_port_start: true,
    tw_reuse_bounded: Some(true),
};

#[test]
fn port_ranges_the_kernel_refuses_at_boot() {
    let text = "net.ipv4.ip_local_port_range = 61000 32768\n\
                net.ipv4.ip_local_port_range = 0 60999\n\
                net.ipv4.ip_local_port_range = 32768 65536\n\
                net.ipv4.ip_local_port_range = 1000 60999\n\
                net.ipv4.ip_local_port_range = low high\n\
                net.ipv4.ip_local_port_range = 10000 60999\n";
    let refused = refused_of(text, MODERN);
    let lines: Vec<usize> = refused.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5], "{refused:?}");
    assert!(refused[0].1.contains("above the high end"));
    assert!(
        refused[3]
            .1
            .contains("below ip_unprivileged_port_start (1024")
    );
}

#[test]
fn an_earlier_line_can_make_a_range_valid() {
    let text = "net.ipv4.ip_unprivileged_port_start = 500\n\
                net.ipv4.ip_local_port_range = 1000 60999\n";
    assert_eq!(refused_of(text, MODERN), []);
    // Before 4.11 there is no such floor.
    let old = BootReplay {
        has_unprivileged_port_start: false,
        tw_reuse_bounded: Some(false),
    };
    assert_eq!(
        refused_of("net.ipv4.ip_local_port_range = 1000 60999\n", old),
        []
    );
}

#[test]
fn bounded_integers_and_the_kernel_number_syntax() {
    let text = "net.ipv4.tcp_tw_reuse = 3\n\
                net.ipv4.tcp_tw_reuse_delay = 0\n\
                net.ipv4.tcp_max_tw_buckets = 0x40000\n\
                net.ipv4.tcp_fin_timeout = thirty\n\
                net.ipv4.ip_local_reserved_ports = 30000-29999\n\
                net.core.somaxconn = anything\n";
    let refused = refused_of(text, MODERN);
    let lines: Vec<usize> = refused.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [1, 2, 4, 5], "{refused:?}");
    // Before 4.18 tcp_tw_reuse took any integer; unknown: not claimed.
    let unknown = BootReplay {
        has_unprivileged_port_start: true,
        tw_reuse_bounded: None,
    };
    assert_eq!(refused_of("net.ipv4.tcp_tw_reuse = 3\n", unknown), []);
}

#[test]
fn both_assignment_spellings_and_comments() {
    let text = "# comment\n; also comment\nnet.ipv4.tcp_tw_reuse = 1\nnet/ipv4/tcp_timestamps=0\n\n-net.ipv4.tcp_tw_recycle = 1\n";
    let (settings, problems) = parse_sysctl_file("/etc/sysctl.conf", text);
    assert!(problems.is_empty());
    let keys: Vec<_> = settings
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str(), s.line))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("net.ipv4.tcp_tw_reuse", "1", 3),
            ("net.ipv4.tcp_timestamps", "0", 4),
            ("net.ipv4.tcp_tw_recycle", "1", 6)
        ]
    );
    assert!(settings[2].ignore_failure);
}

#[test]
fn port_range_value_whitespace_is_folded() {
    let (settings, _) = parse_sysctl_file("f", "net.ipv4.ip_local_port_range =  1024\t65000  \n");
    assert_eq!(settings[0].value, "1024 65000");
}

#[test]
fn a_line_without_equals_is_reported_with_its_line() {
    let (settings, problems) =
        parse_sysctl_file("/etc/sysctl.d/x.conf", "net.ipv4.tcp_tw_reuse 1\n");
    assert!(settings.is_empty());
    assert_eq!(problems[0].line, 1);
    assert_eq!(problems[0].file, "/etc/sysctl.d/x.conf");
}

#[test]
fn files_sort_by_name_across_folders_and_earlier_folders_mask() {
    let root = tempfile::tempdir().unwrap();
    let w = |p: &str, t: &str| {
        let path = root.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    };
    w(
        "usr/lib/sysctl.d/50-default.conf",
        "net.ipv4.tcp_tw_reuse = 0\n",
    );
    w(
        "usr/lib/sysctl.d/10-masked.conf",
        "net.ipv4.tcp_timestamps = 0\n",
    );
    w(
        "etc/sysctl.d/10-masked.conf",
        "net.ipv4.tcp_timestamps = 1\n",
    );
    w("run/sysctl.d/60-run.conf", "net.ipv4.tcp_tw_reuse = 2\n");
    w("etc/sysctl.d/README", "not a conf file\n");
    w("etc/sysctl.conf", "net.ipv4.tcp_tw_reuse = 1\n");
    let config = gather(root.path()).unwrap();
    assert_eq!(
        config.files,
        vec![
            "/etc/sysctl.d/10-masked.conf",
            "/usr/lib/sysctl.d/50-default.conf",
            "/run/sysctl.d/60-run.conf",
            "/etc/sysctl.conf"
        ]
    );
    assert_eq!(config.masked[0].file, "/usr/lib/sysctl.d/10-masked.conf");
    // No sysctl.d entry links /etc/sysctl.conf: the boot does not read
    // it, `sysctl --system` reads it last.
    assert_eq!(config.sysctl_conf_at_boot, None);
    let winner = config.winner("net.ipv4.tcp_tw_reuse").unwrap();
    assert_eq!(
        (winner.file.as_str(), winner.value.as_str()),
        ("/run/sysctl.d/60-run.conf", "2")
    );
    let system = config.system_winners();
    assert_eq!(system["net.ipv4.tcp_tw_reuse"].file, "/etc/sysctl.conf");
    assert_eq!(config.boot_winners()["net.ipv4.tcp_tw_reuse"].value, "2");
    assert_eq!(config.settings_for("net.ipv4.tcp_tw_reuse").count(), 3);
    assert_eq!(config.winner("net.ipv4.tcp_timestamps").unwrap().value, "1");
}

#[test]
fn a_sysctl_d_link_brings_sysctl_conf_into_the_boot_at_its_place() {
    let root = tempfile::tempdir().unwrap();
    let w = |p: &str, t: &str| {
        let path = root.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    };
    w("etc/sysctl.conf", "net.ipv4.tcp_tw_reuse = 0\n");
    w("etc/sysctl.d/99-zzz.conf", "net.ipv4.tcp_tw_reuse = 2\n");
    std::os::unix::fs::symlink(
        "../sysctl.conf",
        root.path().join("etc/sysctl.d/99-sysctl.conf"),
    )
    .unwrap();
    let config = gather(root.path()).unwrap();
    assert_eq!(
        config.sysctl_conf_at_boot.as_deref(),
        Some("/etc/sysctl.d/99-sysctl.conf")
    );
    // Read once, at the link's place; every line at boot.
    assert_eq!(
        config.files,
        ["/etc/sysctl.d/99-sysctl.conf", "/etc/sysctl.d/99-zzz.conf"]
    );
    assert!(config.settings.iter().all(|s| s.at_boot));
    // The boot: 99-zzz sorts after the link and wins. `sysctl --system`
    // reads /etc/sysctl.conf once more, last.
    assert_eq!(config.boot_winners()["net.ipv4.tcp_tw_reuse"].value, "2");
    let system = config.system_winners();
    assert_eq!(
        (
            system["net.ipv4.tcp_tw_reuse"].file.as_str(),
            system["net.ipv4.tcp_tw_reuse"].value.as_str()
        ),
        ("/etc/sysctl.d/99-sysctl.conf", "0")
    );
}

#[test]
fn a_plain_word_value_is_what_the_folding_gives() {
    for raw in [
        " 0",
        "1 ",
        "\t1024 65000 ",
        "",
        "  ",
        "a\u{a0}b",
        "\u{2003}x\u{2003}",
        "ü",
        "x\u{85}",
        "0x10",
        " - ",
    ] {
        let text = arcstr::ArcStr::from(raw);
        assert_eq!(*value_of(&text, &text), normalize_value(raw), "{raw:?}");
    }
}

#[test]
fn the_byte_trim_and_line_split_give_what_std_gives() {
    let texts = [
        "",
        " ",
        "a",
        " a ",
        "\t\x0b\x0ca b\r\n",
        "\u{a0} x \u{a0}",
        " \u{2003}\tx\t\u{2003} ",
        "\u{85}",
        "ü ",
        " \u{3000}",
        "x\u{a0}\u{a0} \t",
        "\n\nnet.ipv4.a = 1\r\nb=2\n\r\n last",
        "no newline at the end",
        "ends with\r",
        "\r\n",
        "a\n\n",
    ];
    for text in texts {
        assert_eq!(trim(text), text.trim(), "{text:?}");
        let ours: Vec<&str> = lines(text).collect();
        let std: Vec<&str> = text.lines().collect();
        assert_eq!(ours, std, "{text:?}");
    }
}

#[test]
fn winners_in_each_order_are_found_by_key() {
    // The boot reads sysctl.conf through 99-sysctl.conf; `sysctl --system`
    // reads it again last. A refused line sets nothing.
    let (mut settings, _) = parse_sysctl_file(
        "/etc/sysctl.d/99-sysctl.conf",
        "net.ipv4.tcp_tw_reuse = 2\nnet.ipv4.tcp_fin_timeout = 30\nnet.ipv4.tcp_tw_reuse = 9\n",
    );
    let (later, _) = parse_sysctl_file(
        "/usr/lib/sysctl.d/zz.conf",
        "net.ipv4.tcp_tw_reuse = 0\nnet.ipv4.tcp_timestamps = 1\n",
    );
    settings.extend(later);
    let mut config = PersistedConfig {
        settings,
        sysctl_conf_at_boot: Some("/etc/sysctl.d/99-sysctl.conf".into()),
        ..Default::default()
    };
    config.winners = Winners::of(&config.settings);
    MODERN.judge(&mut config);
    assert_eq!(config.refused.len(), 1, "{:?}", config.refused);
    let keys: Vec<&str> = config.keys().into_iter().map(SysctlKey::as_str).collect();
    assert_eq!(
        keys,
        [
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_timestamps",
            "net.ipv4.tcp_tw_reuse"
        ]
    );
    // The winner ignores refusal; boot_winners does not.
    assert_eq!(config.winner("net.ipv4.tcp_tw_reuse").unwrap().value, "0");
    assert_eq!(config.boot_winners()["net.ipv4.tcp_tw_reuse"].value, "0");
    assert_eq!(config.system_winners()["net.ipv4.tcp_tw_reuse"].value, "2");
    let among = config.winners_among(Order::System, ["net.ipv4.tcp_tw_reuse", "net.x.y"]);
    assert_eq!(among.len(), 1);
    assert_eq!(among["net.ipv4.tcp_tw_reuse"].line, 1);
    let values: Vec<&str> = config
        .settings_for("net.ipv4.tcp_tw_reuse")
        .map(|s| s.value.as_str())
        .collect();
    assert_eq!(values, ["2", "9", "0"]);
    // JSON: each winner by its position in settings[].
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["winners"]["net.ipv4.tcp_tw_reuse"], 3);
    assert_eq!(json["winners"]["net.ipv4.tcp_fin_timeout"], 1);
    assert_eq!(json["winners"]["net.ipv4.tcp_timestamps"], 4);
}

/// The winners as they were found before the settings were indexed by key:
/// every line in order, a later one replacing an earlier one.
fn winners_by_replaying(config: &PersistedConfig, order: Order) -> BTreeMap<&str, &Setting> {
    let accepted = |s: &&Setting| !config.is_refused(s);
    let mut winners = BTreeMap::new();
    let in_order = config
        .settings
        .iter()
        .filter(|s| order == Order::System || s.at_boot);
    for setting in in_order.filter(accepted) {
        winners.insert(setting.key.as_str(), setting);
    }
    if order == Order::System
        && let Some(link) = &config.sysctl_conf_at_boot
    {
        for s in config
            .settings
            .iter()
            .filter(|s| &s.file == link)
            .filter(accepted)
        {
            winners.insert(s.key.as_str(), s);
        }
    }
    winners
}

#[test]
fn indexed_winners_are_the_winners_of_replaying_every_line() {
    // Three files, keys repeated across and within them, refused lines, and
    // /etc/sysctl.conf both linked (read at its place and again last by
    // `sysctl --system`) and unlinked (read by `sysctl --system` only).
    let files = [
        ("/usr/lib/sysctl.d/10-a.conf", true),
        ("/etc/sysctl.d/99-sysctl.conf", true),
        ("/etc/sysctl.conf", false),
    ];
    for linked in [true, false] {
        let mut config = PersistedConfig::default();
        for (f, (file, at_boot)) in files.iter().enumerate() {
            if linked && !at_boot {
                continue;
            }
            let mut text = String::new();
            for n in 0..300 {
                let key = match (n * 7 + f) % 5 {
                    0 => "net.ipv4.tcp_tw_reuse".to_string(),
                    1 => "net.ipv4.ip_local_port_range".to_string(),
                    _ => format!("net.ipv4.conf.veth{}.forwarding", (n * 13 + f) % 40),
                };
                let value = match n % 4 {
                    0 => "5".to_string(),
                    1 => "2000 1000".to_string(),
                    _ => (n % 3).to_string(),
                };
                text.push_str(&format!("{key} = {value}\n"));
            }
            parse_into(
                file,
                &arcstr::ArcStr::from(text),
                *at_boot,
                &mut config.settings,
                &mut config.problems,
            );
        }
        if linked {
            config.sysctl_conf_at_boot = Some("/etc/sysctl.d/99-sysctl.conf".into());
        }
        config.winners = Winners::of(&config.settings);
        MODERN.judge(&mut config);
        assert!(!config.refused.is_empty());
        for order in [Order::Boot, Order::System] {
            let expected = winners_by_replaying(&config, order);
            assert_eq!(
                config.winners_in(order),
                expected,
                "{order:?}, linked {linked}"
            );
            let keys = [
                "net.ipv4.tcp_tw_reuse",
                "net.ipv4.conf.veth3.forwarding",
                "net.x",
            ];
            let among = config.winners_among(order, keys);
            let wanted: BTreeMap<&str, &Setting> = expected
                .into_iter()
                .filter(|(k, _)| keys.contains(k))
                .collect();
            assert_eq!(among, wanted, "{order:?}, linked {linked}");
        }
        // The JSON winners: the last line the boot reads, refused or not.
        let mut last = BTreeMap::new();
        for (i, s) in config
            .settings
            .iter()
            .enumerate()
            .filter(|(_, s)| s.at_boot)
        {
            last.insert(s.key.as_str(), i);
        }
        let json = serde_json::to_value(&config).unwrap();
        let positions: BTreeMap<&str, usize> = json["winners"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_u64().unwrap() as usize))
            .collect();
        assert_eq!(positions, last, "linked {linked}");
    }
}
