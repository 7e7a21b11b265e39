//! `twtune check` on fixture trees that stand in for real hosts: each test is a
//! scenario, the command, and the finding (and exit status) an operator expects.

use crate::support::Scenario;
use crate::support::tier::Need;
use serde_json::json;

#[test]
fn centos7_with_tcp_tw_recycle_on_is_critical_whatever_this_hosts_nat_verdict() {
    let run = Scenario::fixture("centos7-tw-recycle")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let doc = run.json();
    assert_eq!(doc["kernel"]["release"], "3.10.0-1160.el7.x86_64");
    // The fixture's PAWSEstab since boot is noise without --sample: too
    // little was seen to call NAT anything but unknown, and that does not
    // soften recycle, whose NAT stands in front of the remote clients.
    assert_eq!(doc["facts"]["nat"]["verdict"], "unknown");
    assert_eq!(doc["facts"]["nat"]["signals"], json!([]));
    let recycle = &run.findings("tcp-tw-recycle-enabled")[0];
    assert_eq!(recycle["severity"], "critical");
    let message = recycle["message"].as_str().unwrap();
    // PAWSPassive = 311: SYNs already dropped, cited as direct evidence.
    assert!(message.contains("TcpExt PAWSPassive = 311"), "{message}");
    // The cost of turning it off: TIME_WAIT lasts 60 s, mind the bucket limit.
    assert!(
        message.contains("full 60 s (4821 now against tcp_max_tw_buckets 262144)"),
        "{message}"
    );
    assert_eq!(recycle["key"], "net.ipv4.tcp_tw_recycle");
    assert_eq!(recycle["current"], "1");
    assert_eq!(recycle["recommended"], "0");
    // It is persisted in /etc/sysctl.conf too, and the runtime agrees: no drift.
    assert!(run.findings("persisted-drift").is_empty());
    assert_eq!(
        doc["facts"]["persisted"]["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == "net.ipv4.tcp_tw_recycle")
            .unwrap()["file"],
        "/etc/sysctl.conf"
    );
    // tcp_fin_timeout = 30 is only information.
    assert_eq!(
        run.findings("tcp-fin-timeout-lowered")[0]["severity"],
        "info"
    );
}

#[test]
fn tcp_tw_recycle_is_critical_even_when_this_host_sees_no_nat() {
    // ip_forward 0 and an empty conntrack table: this host's verdict is
    // "none", yet the clients' NAT is out of its sight.
    let run = Scenario::fixture("centos7-tw-recycle")
        .sysctl("ip_forward", "0")
        .write("proc/net/nf_conntrack", "")
        .write("proc/net/netstat", "TcpExt: TW PAWSPassive\nTcpExt: 10 0\n")
        .sysctl("tcp_tw_reuse", "0")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    assert_eq!(run.json()["facts"]["nat"]["verdict"], "none");
    let recycle = &run.findings("tcp-tw-recycle-enabled")[0];
    assert_eq!(recycle["severity"], "critical");
    let message = recycle["message"].as_str().unwrap();
    assert!(
        !message.contains("PAWSPassive"),
        "zero is no evidence: {message}"
    );
    assert!(message.contains("NAT verdict (none) does not make it safe"));
}

#[test]
fn tcp_tw_recycle_off_or_gone_is_quiet() {
    let run = Scenario::fixture("centos7-tw-recycle")
        .sysctl("tcp_tw_recycle", "0")
        .twtune(&["check", "--format", "json"]);
    assert!(run.findings("tcp-tw-recycle-enabled").is_empty());
    let run = Scenario::fixture("debian12-defaults")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert!(run.findings("tcp-tw-recycle-enabled").is_empty());
}

#[test]
fn tcp_tw_recycle_explain_cites_the_timestamp_offset_history() {
    let text = Scenario::fixture("debian12-defaults")
        .twtune(&["explain", "tcp-tw-recycle-enabled"])
        .expect_code(0)
        .stdout()
        .to_string();
    for commit in [
        "95a22caee396",
        "28ee1b746f49",
        "165573e41f2f",
        "4396e46187ca",
    ] {
        assert!(text.contains(commit), "{commit} missing:\n{text}");
    }
}

#[test]
fn ubuntu1804_defaults_are_compliant() {
    let run = Scenario::fixture("ubuntu1804-defaults")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let doc = run.json();
    assert_eq!(doc["kernel"]["version"], "4.15.0");
    assert_eq!(doc["status"], "compliant");
    assert_eq!(doc["findings"], json!([]));
    assert!(
        doc["facts"]["sysctl_absent"]
            .as_array()
            .unwrap()
            .contains(&json!("net.ipv4.tcp_tw_recycle"))
    );
}

#[test]
fn debian12_defaults_are_compliant_and_say_what_was_seen_in_one_line() {
    let run = Scenario::fixture("debian12-defaults")
        .twtune(&["check"])
        .expect_code(0);
    let lines: Vec<_> = run.stdout().lines().map(str::to_string).collect();
    assert!(
        lines[0].contains("no TIME_WAIT-related problems found"),
        "{lines:?}"
    );
    // "No problems" rests on evidence: what was seen, in one paragraph,
    // wrapped to 120 columns (issue 18).
    assert!(lines.iter().all(|l| l.chars().count() <= 120), "{lines:?}");
    assert_eq!(
        lines[1..]
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" "),
        "Seen: TIME_WAIT 35 (0 server side, 35 client side) · CLOSE_WAIT 0 · busiest destination 192.0.2.10:443 uses 0.0% of its 28232 ports · NAT unknown (translates here: unknown; own traffic translated: unknown)."
    );
    // /etc/sysctl.d/99-sysctl.conf links to /etc/sysctl.conf: it is read once.
    let facts = Scenario::fixture("debian12-defaults")
        .twtune(&["facts", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        facts["facts"]["persisted"]["files"],
        json!([
            "/usr/lib/sysctl.d/50-pid-max.conf",
            "/etc/sysctl.d/99-sysctl.conf"
        ])
    );
}

#[test]
fn newer_kernel_with_stale_tcp_tw_recycle_in_sysctl_d_names_file_and_line() {
    let run = Scenario::fixture("jammy-stale-tw-recycle")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let stale = run.findings("tcp-tw-recycle-persisted-removed");
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["severity"], "warning");
    assert_eq!(stale[0]["current"], json!(null));
    assert_eq!(stale[0]["recommended"], json!(null));
    let message = stale[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("/etc/sysctl.d/60-tcp-tuning.conf:3 sets net.ipv4.tcp_tw_recycle = 1"),
        "{message}"
    );
    assert!(run.findings("tcp-tw-recycle-enabled").is_empty());
}

#[test]
fn container_with_read_only_proc_sys_is_seen_as_such() {
    let scenario = Scenario::fixture("container-readonly").read_only("proc/sys");
    let run = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let namespace = &run.json()["facts"]["namespace"];
    assert_eq!(namespace["initial"], false);
    assert_eq!(namespace["proc_sys_net_writable"], false);
    assert_eq!(namespace["net_inode"], 4026532731u64);
}

#[test]
fn timestamps_off_recommends_on() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_timestamps", "0")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("tcp-timestamps-off")[0];
    assert_eq!(
        (f["current"].as_str(), f["recommended"].as_str()),
        (Some("0"), Some("1"))
    );
}

#[test]
fn time_wait_near_the_bucket_limit_recommends_a_concrete_higher_limit() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_tw_buckets", "1000")
        .write(
            "proc/net/sockstat",
            "TCP: inuse 5 orphan 0 tw 850 alloc 7 mem 1\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("tcp-max-tw-buckets-near-limit")[0];
    assert_eq!(f["current"], "1000");
    // 1.5 × the 850 seen now.
    assert_eq!(f["recommended"], "1275");
}

#[test]
fn the_bucket_recommendation_stays_within_the_established_hash() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_tw_buckets", "1000")
        .sysctl("tcp_ehash_entries", "1024")
        .write(
            "proc/net/sockstat",
            "TCP: inuse 5 orphan 0 tw 990 alloc 7 mem 1\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("tcp-max-tw-buckets-near-limit")[0];
    assert_eq!(f["recommended"], "1024");
    assert!(f["message"].as_str().unwrap().contains("(1024 entries)"));
}

#[test]
fn an_overflow_long_ago_does_not_fire_forever() {
    // TCPTimeWaitOverflow = 7 since boot, far below the limit now: context,
    // not a finding.
    let netstat = "TcpExt: TW TCPTimeWaitOverflow\nTcpExt: 10 7\n";
    let run = Scenario::fixture("debian12-defaults")
        .write("proc/net/netstat", netstat)
        .sysctl("tcp_max_tw_buckets", "200000")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert!(run.findings("tcp-max-tw-buckets-near-limit").is_empty());
}

#[test]
fn a_port_starved_client_is_told_to_fix_ports_before_raising_the_bucket_limit() {
    // 900 TIME_WAIT toward one destination in a 1000-port range, at 90 % of
    // the bucket limit.
    let mut tcp = String::from(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
    );
    for i in 0..900u32 {
        tcp.push_str(&format!(
            "{i:4}: 0A00000A:{:04X} 0200A8C0:1F90 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0000000000000000\n",
            50000 + i
        ));
    }
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "50000\t50999")
        .sysctl("tcp_max_tw_buckets", "1000")
        .write(
            "proc/net/sockstat",
            "TCP: inuse 5 orphan 0 tw 900 alloc 7 mem 1\n",
        )
        .write("proc/net/tcp", &tcp)
        .write("proc/net/tcp6", "  sl  local_address\n")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("tcp-max-tw-buckets-near-limit")[0];
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with("This host is short of ephemeral ports"),
        "{message}"
    );
    assert!(message.contains("EADDRNOTAVAIL"), "{message}");
}

#[test]
fn below_eighty_percent_of_the_bucket_limit_is_fine() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_tw_buckets", "1000")
        .write(
            "proc/net/sockstat",
            "TCP: inuse 5 orphan 0 tw 799 alloc 7 mem 1\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert!(run.findings("tcp-max-tw-buckets-near-limit").is_empty());
}

#[test]
fn narrow_port_range_recommends_the_kernel_default() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "50000\t51000")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("ip-local-port-range-narrow")[0];
    assert_eq!(f["current"], "50000 51000");
    assert_eq!(f["recommended"], "32768 60999");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("about 16 new connections per second")
    );
    // 50000 and 51000 are both even: the parity note comes with it.
    assert_eq!(
        run.findings("ip-local-port-range-parity")[0]["recommended"],
        "50000 51001"
    );
}

#[test]
fn tcp_tw_reuse_2_on_a_4_15_kernel_is_global_reuse() {
    let run = Scenario::fixture("ubuntu1804-defaults")
        .sysctl("tcp_tw_reuse", "2")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let f = &run.findings("tcp-tw-reuse-2-before-4-18")[0];
    assert_eq!(f["severity"], "info");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("kernel 4.15.0-213-generic predates it")
    );
    // The same value on 4.18 and later is the loopback-only default.
    let modern = Scenario::fixture("debian12-defaults")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert!(modern.findings("tcp-tw-reuse-2-before-4-18").is_empty());
}

#[test]
fn an_unparsable_kernel_release_leaves_version_rules_undecided_and_exits_by_the_findings() {
    // A custom kernel must not turn a fleet's dashboards red: no finding,
    // exit 0, status incomplete; the version-gated rules are reported undecided.
    let run = Scenario::fixture("ubuntu1804-defaults")
        .sysctl("tcp_tw_reuse", "2")
        .write("proc/sys/kernel/osrelease", "custom-build\n")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let doc = run.json();
    assert_eq!(doc["kernel"]["version"], serde_json::Value::Null);
    assert_eq!(doc["status"], "incomplete");
    let undecided: Vec<&str> = doc["undecided"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["rule"].as_str().unwrap())
        .collect();
    // Exactly the version-gated rules.
    assert_eq!(
        undecided,
        [
            "connect-port-scan-cost",
            "ip-local-port-range-parity",
            "tcp-tw-reuse-2-before-4-18"
        ]
    );
    assert!(
        doc["undecided"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("\"custom-build\" does not parse")
    );
    assert_eq!(doc["errors"], json!([]));
    assert!(doc["facts"].get("degraded").is_none());
    // With a finding it exits 2, like any host.
    Scenario::fixture("ubuntu1804-defaults")
        .sysctl("tcp_timestamps", "0")
        .write("proc/sys/kernel/osrelease", "custom-build\n")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    // Human output names the release and the undecided rule.
    let human = Scenario::fixture("ubuntu1804-defaults")
        .write("proc/sys/kernel/osrelease", "custom-build\n")
        .twtune(&["check"])
        .expect_code(0);
    // Its first line says "no problems" covers only the rules decided.
    assert!(
        human
            .stdout()
            .lines()
            .next()
            .unwrap()
            .contains("rules checked, 3 undecided: see below;"),
        "{}",
        human.stdout()
    );
    assert!(
        human
            .stdout()
            .contains("rule tcp-tw-reuse-2-before-4-18 undecided")
            && human.stdout().contains("\"custom-build\" does not parse"),
        "{}",
        human.stdout()
    );
}

#[test]
fn reserved_ports_inside_the_range_widen_it() {
    // Without port pressure this is information (exit 0).
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_reserved_ports", "40000-44999,50000")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let f = &run.findings("ip-local-port-range-reserved")[0];
    assert_eq!(f["severity"], "info");
    // 5001 reserved: 32768 + 28231 + 5001 = 66000, capped at 65535.
    assert_eq!(f["recommended"], "32768 65535");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("removes 5001 of the 28232 ports")
    );
}

#[test]
fn reserved_ports_outside_the_range_are_harmless() {
    Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_reserved_ports", "8080,9000-9100")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
}

#[test]
fn an_inverted_range_in_a_sysctl_file_is_caught_before_boot() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/sysctl.d/70-ports.conf",
            "net.ipv4.ip_local_port_range = 61000 32768\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("ip-local-port-range-persisted-invalid")[0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("/etc/sysctl.d/70-ports.conf:1")
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("the low end 61000 is above the high end 32768")
    );
    // A refused line sets nothing: drift must not claim it will apply.
    assert!(run.findings("persisted-drift").is_empty());
}

#[test]
fn every_port_range_the_kernel_refuses_is_named_with_file_and_line() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/sysctl.d/70-ports.conf",
            "net.ipv4.ip_local_port_range = 0 60999\n\
             net.ipv4.ip_local_port_range = 32768 65536\n\
             net.ipv4.ip_local_port_range = 1000 60999\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let found: Vec<String> = run
        .findings("ip-local-port-range-persisted-invalid")
        .iter()
        .map(|f| f["summary"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        found,
        [
            "/etc/sysctl.d/70-ports.conf:1 sets a range the kernel refuses: 0 60999",
            "/etc/sysctl.d/70-ports.conf:2 sets a range the kernel refuses: 32768 65536",
            "/etc/sysctl.d/70-ports.conf:3 sets a range the kernel refuses: 1000 60999",
        ]
    );
    assert!(
        run.findings("ip-local-port-range-persisted-invalid")[2]["message"]
            .as_str()
            .unwrap()
            .contains("below ip_unprivileged_port_start")
    );
}

#[test]
fn other_values_the_kernel_refuses_are_flagged_and_valid_ones_are_not() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/sysctl.d/60-tcp.conf",
            "net.ipv4.tcp_tw_reuse = 3\nnet.ipv4.tcp_max_tw_buckets = lots\nnet.ipv4.tcp_fin_timeout = 30\n",
        )
        .sysctl("tcp_fin_timeout", "30")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let refused = run.findings("persisted-value-refused");
    let summaries: Vec<&str> = refused
        .iter()
        .map(|f| f["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "/etc/sysctl.d/60-tcp.conf:1: the kernel refuses net.ipv4.tcp_tw_reuse = 3",
            "/etc/sysctl.d/60-tcp.conf:2: the kernel refuses net.ipv4.tcp_max_tw_buckets = lots",
        ]
    );
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("3 is outside 0..2")
    );
    // Neither refused line is a value the next boot "will set": no drift.
    assert!(run.findings("persisted-drift").is_empty());
}

#[test]
fn a_valid_persisted_range_decides_every_rule() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/sysctl.d/70-ports.conf",
            "net.ipv4.ip_local_port_range = 32768 60999\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert_eq!(run.json()["undecided"], json!([]));
    assert_eq!(run.json()["findings"], json!([]));
}

#[test]
fn every_builtin_rule_is_decided_on_every_fixture() {
    for fixture in [
        "centos7-tw-recycle",
        "ubuntu1804-defaults",
        "debian12-defaults",
        "jammy-stale-tw-recycle",
        "container-readonly",
    ] {
        let run = Scenario::fixture(fixture)
            .write(
                "etc/sysctl.d/70-ports.conf",
                "net.ipv4.ip_local_port_range = 32768 60999\nnet.ipv4.tcp_tw_reuse = 1\n",
            )
            .twtune(&["check", "--format", "json"]);
        assert_eq!(run.json()["undecided"], json!([]), "{fixture}");
    }
}

#[test]
fn lowered_fin_timeout_is_information_only() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_fin_timeout", "15")
        .write(
            "etc/sysctl.d/80-fin.conf",
            "net.ipv4.tcp_fin_timeout = 15\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let f = &run.findings("tcp-fin-timeout-lowered")[0];
    assert_eq!(f["severity"], "info");
    assert_eq!(f["recommended"], json!(null));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("TIME_WAIT still lasts 60 s")
    );
}

#[test]
fn drift_names_the_file_that_wins_at_boot() {
    let run = Scenario::fixture("debian12-defaults")
        .write("etc/sysctl.d/60-reuse.conf", "net.ipv4.tcp_tw_reuse = 1\n")
        .write("usr/lib/sysctl.d/90-late.conf", "net/ipv4/tcp_tw_reuse=0\n")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let drift = run.findings("persisted-drift");
    assert_eq!(drift.len(), 1);
    assert_eq!(drift[0]["key"], "net.ipv4.tcp_tw_reuse");
    assert_eq!(drift[0]["current"], "2");
    let message = drift[0]["message"].as_str().unwrap();
    assert!(
        message.contains("/usr/lib/sysctl.d/90-late.conf:1 sets 0"),
        "{message}"
    );
}

#[test]
fn a_skipped_sysctl_file_line_is_reported() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/sysctl.d/50-typo.conf",
            "# ok\nnet.ipv4.tcp_tw_reuse 1\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("sysctl-file-syntax")[0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("/etc/sysctl.d/50-typo.conf:2:")
    );
}

#[test]
fn json_has_the_documented_shape() {
    let doc = Scenario::fixture("centos7-tw-recycle")
        .twtune(&["check", "--format", "json"])
        .json();
    assert_eq!(doc["schema_version"], 7);
    for field in [
        "kernel",
        "status",
        "summary",
        "findings",
        "undecided",
        "errors",
        "facts",
    ] {
        assert!(doc.get(field).is_some(), "missing {field}");
    }
    for finding in doc["findings"].as_array().unwrap() {
        for field in [
            "rule",
            "severity",
            "key",
            "current",
            "recommended",
            "message",
            "evidence",
        ] {
            assert!(
                finding.get(field).is_some(),
                "finding lacks {field}: {finding}"
            );
        }
    }
    assert_eq!(
        doc["facts"]["sysctl"]["net.ipv4.ip_local_port_range"],
        "32768 60999"
    );
    assert_eq!(doc["facts"]["nat"]["verdict"], "unknown");
    for field in [
        "translates",
        "translated",
        "signals",
        "checked",
        "unchecked",
    ] {
        assert!(
            doc["facts"]["nat"].get(field).is_some(),
            "nat lacks {field}"
        );
    }
    assert!(doc["facts"]["persisted"]["refused"].is_array());
    assert_eq!(doc["status"], "changes_pending");
}

#[test]
fn human_output_of_centos7() {
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let run = scenario.twtune(&["check"]).expect_code(2);
    // The hints repeat --root, a temporary folder: named ROOT here.
    let root = scenario.root().to_str().unwrap();
    insta::assert_snapshot!(run.stdout().replace(root, "ROOT"));
}

#[test]
fn verbose_human_output_of_stale_recycle() {
    let scenario = Scenario::fixture("jammy-stale-tw-recycle");
    let run = scenario.twtune(&["check", "--verbose"]).expect_code(2);
    let root = scenario.root().to_str().unwrap();
    insta::assert_snapshot!(run.stdout().replace(root, "ROOT"));
}

#[test]
fn site_rules_extend_and_override_the_builtin_ones() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/twtune/rules.d/local.toml",
            r#"
[[rule]]
id = "site-reuse-policy"
title = "Site policy: tcp_tw_reuse must be 1"
severity = "warning"
when = "net.ipv4.tcp_tw_reuse != 1"
key = "net.ipv4.tcp_tw_reuse"
recommend = "1"
message = "site policy"
rationale = "Our load balancers open many outgoing connections."
references = ["Documentation/networking/ip-sysctl.rst: tcp_tw_reuse"]

[[rule]]
id = "tcp-fin-timeout-lowered"
title = "disabled here"
severity = "info"
disabled = true
when = "false"
message = "-"
rationale = "We lower it on purpose."
references = ["local policy"]
"#,
        )
        .sysctl("tcp_fin_timeout", "10")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    assert_eq!(run.rule_ids(), vec!["site-reuse-policy"]);
}

#[test]
fn overlapping_reserved_ranges_count_each_port_once() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_reserved_ports", "40000-44999,42000-45999,50000")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let f = &run.findings("ip-local-port-range-reserved")[0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("removes 6001 of the 28232 ports"),
        "{}",
        f["message"]
    );
}

/// Runs `twtune check` on a pseudo-terminal (util-linux `script`), with or
/// without NO_COLOR, and returns what the terminal showed.
fn on_a_terminal(no_color: bool) -> String {
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let command = format!(
        "{} --root {} check",
        env!("CARGO_BIN_EXE_twtune"),
        scenario.root().display()
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR");
    if no_color {
        script.env("NO_COLOR", "1");
    }
    let output = script.output().expect("script(1) from util-linux");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn colour_on_a_terminal_and_never_with_no_color() {
    needs!(Need::Tool("script"));
    let coloured = on_a_terminal(false);
    assert!(coloured.contains("\x1b[1;31mcritical"), "{coloured:?}");
    let plain = on_a_terminal(true);
    assert!(
        plain.contains("critical") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    // And never on a pipe, even without NO_COLOR.
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let mut command = crate::support::twtune();
    command
        .env_remove("NO_COLOR")
        .arg("--root")
        .arg(scenario.root())
        .arg("check");
    let piped = crate::support::Run::of(command).expect_code(2);
    assert!(piped.stdout().contains("critical") && !piped.stdout().contains('\x1b'));
}

/// TIME_WAIT toward 192.168.0.2:8080 from `count` local ports starting at
/// `first`, plus listeners on `listening`: a /proc/net/tcp body.
/// `count` TIME_WAIT sockets from 10.0.0.10 (not loopback, so the default
/// tcp_tw_reuse=2 does not cover them) toward 192.168.0.2:8080, about 19 s old.
fn proc_net_tcp(first: u16, count: u16, listening: &[u16]) -> String {
    proc_net_tcp_aged(first, count, listening, AGED_19S)
}

/// The TIME_WAIT timer column: 0x1000 USER_HZ ticks (41 s) left, 19 s old.
const AGED_19S: &str = "00001000";
/// 0x173E ticks (59.5 s) left: half a second old, younger than the default
/// 1000 ms reuse delay.
const YOUNG_HALF_SECOND: &str = "0000173E";

fn proc_net_tcp_aged(first: u16, count: u16, listening: &[u16], timer: &str) -> String {
    let mut tcp = String::from(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
    );
    for (i, port) in listening.iter().enumerate() {
        tcp.push_str(&format!(
            "{i:4}: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {} 1 0000000000000000\n",
            1000 + i
        ));
    }
    for i in 0..count {
        tcp.push_str(&format!(
            "{i:4}: 0A00000A:{:04X} 0200A8C0:1F90 06 00000000:00000000 03:{timer} 00000000     0        0 0 3 0000000000000000\n",
            first + i
        ));
    }
    tcp
}

#[test]
fn reserved_ports_are_a_warning_once_a_destination_runs_short() {
    // 1001 ports, 400 reserved, 500 TIME_WAIT toward one destination.
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "50000\t51000")
        .sysctl("ip_local_reserved_ports", "50600-50999")
        .write("proc/net/tcp", &proc_net_tcp(50000, 500, &[51500]))
        .write("proc/net/tcp6", "  sl  local_address\n")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("ip-local-port-range-reserved")[0];
    assert_eq!(f["severity"], "warning");
    let message = f["message"].as_str().unwrap();
    // The listener above the range must be reserved before widening.
    assert!(
        message.contains("services listen on 51500 there"),
        "{message}"
    );
}

#[test]
fn widening_a_narrow_range_names_listeners_nodeports_and_firewalls() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "50000\t51001")
        .write(
            "proc/net/tcp",
            &proc_net_tcp(50000, 10, &[22, 40000, 50500]),
        )
        .write("proc/net/tcp6", "  sl  local_address\n")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let message = run.findings("ip-local-port-range-narrow")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    // 40000 is inside 32768-60999 and outside today's range; 50500 is
    // already inside it, 22 is far below.
    assert!(
        message.contains("services listen on 40000 inside the new span"),
        "{message}"
    );
    assert!(message.contains("Kubernetes NodePorts (30000-32767)"));
    assert!(message.contains("32768-60999 must be widened too"));
    // Different parity: no parity note.
    assert!(run.findings("ip-local-port-range-parity").is_empty());
}

#[test]
fn same_parity_ends_say_the_low_end_is_lost_and_cite_4_6() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "32768\t61000")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let f = &run.findings("ip-local-port-range-parity")[0];
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("almost always the low end 32768")
    );
    let refs = f["references"].to_string();
    assert!(
        refs.contains("07f4c90062f8") && refs.contains("Linux 4.2"),
        "{refs}"
    );
    assert!(
        refs.contains("1580ab63fc9a") && refs.contains("Linux 4.6"),
        "{refs}"
    );
}

#[test]
fn the_vendor_tw_timeout_is_used_in_its_own_arithmetic() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_tw_timeout", "10")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    let message = run.findings("tcp-tw-timeout-vendor")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    // 28232 usable ports / 10 s.
    assert!(
        message.contains("about 2823 new connections per second"),
        "{message}"
    );
    assert!(message.contains("assume 60 s"), "{message}");
    let quiet = Scenario::fixture("debian12-defaults")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert!(quiet.findings("tcp-tw-timeout-vendor").is_empty());
}

#[test]
fn a_lower_reuse_delay_is_offered_to_a_port_starved_client_with_the_clock_caveat() {
    let starved = || {
        Scenario::fixture("debian12-defaults")
            .write("proc/sys/kernel/osrelease", "6.14.0\n")
            .sysctl("tcp_tw_reuse", "1")
            .sysctl("ip_local_port_range", "50000\t50999")
            .write(
                "proc/net/tcp",
                &proc_net_tcp_aged(50000, 900, &[], YOUNG_HALF_SECOND),
            )
            .write("proc/net/tcp6", "  sl  local_address\n")
    };
    let run = starved()
        .sysctl("tcp_tw_reuse_delay", "1000")
        .twtune(&["check", "--format", "json"]);
    let f = &run.findings("tcp-tw-reuse-delay-may-be-lowered")[0];
    assert_eq!(f["severity"], "info");
    assert_eq!(f["recommended"], serde_json::Value::Null);
    assert!(f["message"].as_str().unwrap().contains("timestamp clock"));
    // Already lowered, or no such key (before 6.14): quiet.
    let lowered = starved()
        .sysctl("tcp_tw_reuse_delay", "100")
        .twtune(&["check", "--format", "json"]);
    assert!(
        lowered
            .findings("tcp-tw-reuse-delay-may-be-lowered")
            .is_empty()
    );
    let old = starved().twtune(&["check", "--format", "json"]);
    assert!(old.findings("tcp-tw-reuse-delay-may-be-lowered").is_empty());
}

#[test]
fn drift_in_a_containers_namespace_is_information_and_says_why() {
    let scenario = Scenario::fixture("debian12-defaults")
        .write("etc/sysctl.d/60-reuse.conf", "net.ipv4.tcp_tw_reuse = 1\n");
    let ns = scenario.root().join("proc/self/ns");
    std::fs::create_dir_all(&ns).unwrap();
    std::os::unix::fs::symlink("net:[4026532731]", ns.join("net")).unwrap();
    let pid1 = scenario.root().join("proc/1/ns");
    std::fs::create_dir_all(&pid1).unwrap();
    std::os::unix::fs::symlink("net:[4026531840]", pid1.join("net")).unwrap();
    let run = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert_eq!(run.json()["facts"]["namespace"]["initial"], false);
    let drift = &run.findings("persisted-drift")[0];
    assert_eq!(drift["severity"], "info");
    assert!(
        drift["message"]
            .as_str()
            .unwrap()
            .contains("not the initial network namespace")
    );
}

#[test]
fn a_kubernetes_node_with_a_nearly_full_conntrack_table() {
    let run = Scenario::fixture("k8s-node-conntrack-full")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let doc = run.json();
    assert_eq!(doc["facts"]["nat"]["translates"], "likely");
    assert_eq!(doc["facts"]["nat"]["conntrack"]["time_wait"], 2);
    assert_eq!(doc["facts"]["nat"]["conntrack_stats"]["insert_failed"], 23);
    let full = &run.findings("conntrack-table-near-full")[0];
    assert_eq!(full["severity"], "warning");
    assert_eq!(full["current"], "131072");
    assert_eq!(full["recommended"], "262144");
    assert!(full["message"].as_str().unwrap().contains("kube-proxy"));
    // Two TIME_WAIT entries listed: a shorter conntrack TIME_WAIT would free
    // nothing that matters (issue 18; `advice::conntrack_time_wait_…`).
    assert!(run.findings("conntrack-time-wait-timeout").is_empty());
    assert_eq!(
        run.findings("conntrack-insert-failures")[0]["severity"],
        "info"
    );
    // A full table is critical.
    let run = Scenario::fixture("k8s-node-conntrack-full")
        .write("proc/sys/net/netfilter/nf_conntrack_count", "131072\n")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    assert_eq!(
        run.findings("conntrack-table-near-full")[0]["severity"],
        "critical"
    );
}

#[test]
fn a_roomy_conntrack_table_and_a_host_without_conntrack_are_quiet() {
    let run = Scenario::fixture("k8s-node-conntrack-full")
        .write("proc/sys/net/netfilter/nf_conntrack_count", "20000\n")
        .write(
            "proc/net/stat/nf_conntrack",
            "entries insert_failed drop early_drop\n00004e20 00000000 00000000 00000000\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    for rule in [
        "conntrack-table-near-full",
        "conntrack-time-wait-timeout",
        "conntrack-insert-failures",
    ] {
        assert!(run.findings(rule).is_empty(), "{rule}");
    }
    let plain = Scenario::fixture("debian12-defaults")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert_eq!(plain.json()["undecided"], json!([]));
    assert_eq!(
        plain.json()["facts"]["nat"]["conntrack_stats"],
        serde_json::Value::Null
    );
}

#[test]
fn with_findings_what_was_seen_comes_before_the_next_hint() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_timestamps", "0")
        .write("proc/net/tcp", &proc_net_tcp(40000, 3, &[8080]))
        .write("proc/net/tcp6", "  sl  local_address\n")
        .twtune(&["check"])
        .expect_code(2);
    let out = run.stdout();
    // Lines wrap at 120 columns, continuation indented: join them back.
    let joined = out.replace("\n  ", " ");
    let seen = joined.find("Seen: TIME_WAIT 3 (0 server side, 3 client side) · CLOSE_WAIT 0 · busiest destination 192.168.0.2:8080 uses 0.0% of its 28232 ports").unwrap_or_else(|| panic!("{out}"));
    let next = joined.find("Next:").unwrap();
    assert!(seen < next, "{out}");
    // The verdict, with the counts, is the first line.
    assert_eq!(
        out.lines().next().unwrap(),
        "✗ changes pending: 1 finding (0 critical, 1 warning, 0 info)",
        "{out}"
    );
}

#[test]
fn check_shows_the_value_apply_sets_when_two_rules_recommend_for_one_key() {
    // 40000-40100: narrow (warning, 32768 60999) and same parity (info,
    // 40000 40101). Both rows show what apply will set.
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "40000\t40100")
        .twtune(&["check", "--verbose"])
        .expect_code(2);
    let out = run.stdout();
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("net.ipv4.ip_local_port_range"))
        .take(2)
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in &rows {
        assert!(row.contains("40000 40100 → 32768 60999"), "{row}");
    }
    assert!(
        out.contains("this rule alone recommends 40000 40101; apply sets 32768 60999 (rule ip-local-port-range-narrow is more severe)"),
        "{out}"
    );
    let json = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "40000\t40100")
        .twtune(&["check", "--format", "json"])
        .json();
    assert_eq!(
        json["recommendations"]["net.ipv4.ip_local_port_range"],
        json!({"value": "32768 60999", "rule": "ip-local-port-range-narrow"})
    );
    // apply --dry-run plans the same value.
    let plan = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "40000\t40100")
        .twtune(&["apply", "--dry-run", "--format", "json"])
        .expect_code(2)
        .json();
    assert_eq!(plan["changes"][0]["to"], "32768 60999");
}

#[test]
fn apply_dry_run_names_what_it_cannot_fix_and_keeps_the_plans_exit_status() {
    let run = Scenario::fixture("jammy-stale-tw-recycle")
        .twtune(&["apply", "--dry-run", "--format", "json"])
        .expect_code(0);
    let plan = run.json();
    assert_eq!(plan["empty"], true);
    // No file and nothing to write: the persist block claims no change.
    assert_eq!(plan["persist"]["changed"], false);
    let manual = plan["manual"].as_array().unwrap();
    assert_eq!(manual.len(), 1, "{manual:?}");
    assert_eq!(manual[0]["rule"], "tcp-tw-recycle-persisted-removed");
    assert!(
        manual[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("delete line 3 of /etc/sysctl.d/60-tcp-tuning.conf")
    );
    let human = Scenario::fixture("jammy-stale-tw-recycle")
        .twtune(&["apply", "--dry-run"])
        .expect_code(0);
    assert!(
        human
            .stdout()
            .contains("By hand (1 finding twtune cannot fix):"),
        "{}",
        human.stdout()
    );
    // A host with nothing to do by hand has an empty manual[].
    let clean = Scenario::fixture("debian12-defaults")
        .twtune(&["apply", "--dry-run", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(clean["manual"], json!([]));
}

#[test]
fn rules_list_has_a_header_and_shows_escalation() {
    let out = Scenario::fixture("debian12-defaults")
        .twtune(&["rules"])
        .expect_code(0)
        .stdout();
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("RULE") && first.contains("SEVERITY") && first.contains("TITLE"),
        "{first}"
    );
    let conntrack = out
        .lines()
        .find(|l| l.starts_with("conntrack-table-near-full"))
        .unwrap();
    assert!(conntrack.contains("warning→critical"), "{conntrack}");
}

#[test]
fn facts_label_cumulative_counters_and_show_ratios_as_percentages() {
    let out = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &proc_net_tcp(40000, 3, &[]))
        .write("proc/net/tcp6", "  sl  local_address\n")
        .twtune(&["facts"])
        .expect_code(0)
        .stdout();
    let tw = out.lines().find(|l| l.contains("TcpExt TW =")).unwrap();
    assert!(tw.ends_with("(cumulative since boot)"), "{tw}");
    assert!(out.contains("3 of 28232 ports taken (0.0%)"), "{out}");
}

#[test]
fn every_rule_changed_for_issue_13_cites_kernel_sources_in_explain() {
    for rule in [
        "tcp-tw-recycle-enabled",
        "tcp-tw-recycle-persisted-removed",
        "tcp-max-tw-buckets-near-limit",
        "ip-local-port-range-narrow",
        "ip-local-port-range-reserved",
        "ip-local-port-range-persisted-invalid",
        "ip-local-port-range-parity",
        "persisted-drift",
        "persisted-value-refused",
        "tcp-tw-timeout-vendor",
        "tcp-tw-reuse-delay-may-be-lowered",
        "conntrack-table-near-full",
        "conntrack-time-wait-timeout",
        "conntrack-insert-failures",
    ] {
        assert_explain_cites_kernel_sources(rule);
    }
}

/// `twtune explain RULE` has a References section with at least one kernel
/// source: a file under net/, include/ or kernel/, a commit, or
/// Documentation/networking/.
pub(crate) fn assert_explain_cites_kernel_sources(rule: &str) {
    let text = Scenario::fixture("debian12-defaults")
        .twtune(&["explain", rule])
        .expect_code(0)
        .stdout();
    let references = text
        .split("References")
        .nth(1)
        .unwrap_or_else(|| panic!("{rule}: no references\n{text}"));
    assert!(
        references.lines().any(|l| l.contains("net/")
            || l.contains("include/")
            || l.contains("kernel/")
            || l.contains("commit ")
            || l.contains("Documentation/networking/")),
        "{rule} cites no kernel source:\n{references}"
    );
}

#[test]
fn same_parity_ends_mean_nothing_before_4_2() {
    let run = Scenario::fixture("centos7-tw-recycle")
        .sysctl("ip_local_port_range", "32768\t61000")
        .twtune(&["check", "--format", "json"]);
    assert!(run.findings("ip-local-port-range-parity").is_empty());
    assert_eq!(run.json()["kernel"]["version"], "3.10.0");
}

#[test]
fn a_site_rules_file_switches_built_in_rules_off_with_disable() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/twtune/rules.d/local.toml",
            "# We lower these on purpose.\ndisable = [\"tcp-fin-timeout-lowered\", \"tcp-timestamps-off\"]\n",
        )
        .sysctl("tcp_fin_timeout", "10")
        .sysctl("tcp_timestamps", "0")
        .twtune(&["check", "--format", "json"])
        .expect_code(0);
    assert_eq!(run.rule_ids(), Vec::<String>::new());
    let listed = Scenario::fixture("debian12-defaults")
        .write(
            "etc/twtune/rules.d/local.toml",
            "disable = [\"tcp-fin-timeout-lowered\"]\n",
        )
        .twtune(&["rules", "--format", "json"])
        .expect_code(0)
        .json();
    let ids: Vec<&str> = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"tcp-fin-timeout-lowered"), "{ids:?}");
    assert!(ids.contains(&"tcp-timestamps-off"), "{ids:?}");
}

#[test]
fn disabling_an_unknown_rule_is_an_error_naming_file_line_and_id() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/twtune/rules.d/local.toml",
            "disable = [\n  \"tcp-fin-timeout-lowered\",\n  \"tcp-fin-timout-lowered\",\n]\n",
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("etc/twtune/rules.d/local.toml:3: rule tcp-fin-timout-lowered: disable"),
        "{stderr}"
    );
}

#[test]
fn a_later_rules_folder_can_disable_a_site_rule_and_redefine_a_disabled_one() {
    let later = tempfile::tempdir().unwrap();
    std::fs::write(
        later.path().join("later.toml"),
        r#"
disable = ["site-reuse-policy"]

[[rule]]
id = "tcp-fin-timeout-lowered"
title = "Our own fin timeout rule"
severity = "warning"
when = "net.ipv4.tcp_fin_timeout < 20"
message = "fin timeout ${net.ipv4.tcp_fin_timeout}"
rationale = "Local policy."
references = ["local policy"]
"#,
    )
    .unwrap();
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "etc/twtune/rules.d/local.toml",
            r#"
disable = ["tcp-fin-timeout-lowered"]

[[rule]]
id = "site-reuse-policy"
title = "Site policy: tcp_tw_reuse must be 1"
severity = "warning"
when = "net.ipv4.tcp_tw_reuse != 1"
message = "site policy"
rationale = "Our load balancers open many outgoing connections."
references = ["local policy"]
"#,
        )
        .sysctl("tcp_fin_timeout", "10");
    let run = run
        .twtune(&[
            "check",
            "--format",
            "json",
            "--rules",
            later.path().to_str().unwrap(),
        ])
        .expect_code(2);
    assert_eq!(run.rule_ids(), vec!["tcp-fin-timeout-lowered"]);
    assert_eq!(
        run.findings("tcp-fin-timeout-lowered")[0]["severity"],
        "warning"
    );
}
