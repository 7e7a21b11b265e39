//! `twtune check` on fixture trees that stand in for real hosts: each test is a
//! scenario, the command, and the finding (and exit status) an operator expects.

mod harness;

use harness::Scenario;
use serde_json::json;

#[test]
fn centos7_with_tcp_tw_recycle_on_is_critical_while_nat_is_possible() {
    let run = Scenario::fixture("centos7-tw-recycle")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let doc = run.json();
    assert_eq!(doc["kernel"]["release"], "3.10.0-1160.el7.x86_64");
    // The fixture's TcpExt PAWSEstab is non-zero: a NAT signal of weight "possible".
    assert_eq!(doc["facts"]["nat"]["verdict"], "possible");
    assert_eq!(doc["facts"]["nat"]["signals"][0]["name"], "paws_rejects");
    let recycle = &run.findings("tcp-tw-recycle-enabled")[0];
    assert_eq!(recycle["severity"], "critical");
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
fn tcp_tw_recycle_without_nat_is_a_warning() {
    // The fixture's verdict is "possible"; a rule override shows the
    // escalation is driven by the verdict, not hard-wired.
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let rules = tempfile::tempdir().unwrap();
    let builtin =
        std::fs::read_to_string(harness::fixtures().join("../../rules/tcp-tw-recycle.toml"))
            .unwrap();
    std::fs::write(
        rules.path().join("override.toml"),
        builtin.replace("nat.verdict != 'none'", "nat.verdict == 'likely'"),
    )
    .unwrap();
    let run = scenario
        .twtune(&[
            "check",
            "--format",
            "json",
            "--rules",
            rules.path().to_str().unwrap(),
        ])
        .expect_code(2);
    assert_eq!(
        run.findings("tcp-tw-recycle-enabled")[0]["severity"],
        "warning"
    );
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
fn debian12_defaults_are_compliant_and_say_so_in_one_line() {
    let run = Scenario::fixture("debian12-defaults")
        .twtune(&["check"])
        .expect_code(0);
    let lines: Vec<_> = run.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("no TIME_WAIT-related problems found"),
        "{lines:?}"
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
    assert_eq!(f["recommended"], "262144");
}

#[test]
fn time_wait_overflow_counter_fires_even_below_the_limit() {
    let netstat = "TcpExt: TW TCPTimeWaitOverflow\nTcpExt: 10 7\n";
    let run = Scenario::fixture("debian12-defaults")
        .write("proc/net/netstat", netstat)
        .sysctl("tcp_max_tw_buckets", "200000")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("tcp-max-tw-buckets-near-limit")[0];
    assert_eq!(f["recommended"], "400000");
    assert!(
        f["evidence"]
            .to_string()
            .contains("TCPTimeWaitOverflow = 7")
    );
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
fn an_unparsable_kernel_release_makes_version_rules_undecided_and_the_check_incomplete() {
    let run = Scenario::fixture("ubuntu1804-defaults")
        .sysctl("tcp_tw_reuse", "2")
        .write("proc/sys/kernel/osrelease", "custom-build\n")
        .twtune(&["check", "--format", "json"])
        // Incomplete, not an error: a custom kernel must not turn a fleet red.
        .expect_code(0);
    let doc = run.json();
    assert_eq!(doc["kernel"]["version"], serde_json::Value::Null);
    assert_eq!(doc["status"], "incomplete");
    let undecided = doc["undecided"].as_array().unwrap();
    assert_eq!(undecided[0]["rule"], "tcp-tw-reuse-2-before-4-18");
    assert!(
        undecided[0]["reason"]
            .as_str()
            .unwrap()
            .contains("\"custom-build\" does not parse")
    );
    assert!(doc["errors"][0]["file"] == "/proc/sys/kernel/osrelease");
    // Human output says the same, and names the file.
    let human = Scenario::fixture("ubuntu1804-defaults")
        .write("proc/sys/kernel/osrelease", "custom-build\n")
        .twtune(&["check"])
        .expect_code(0);
    assert!(
        human.stdout().contains(
            "error: /proc/sys/kernel/osrelease: kernel release \"custom-build\" does not parse"
        ),
        "{}",
        human.stdout()
    );
}

#[test]
fn reserved_ports_inside_the_range_widen_it() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_reserved_ports", "40000-44999,50000")
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = &run.findings("ip-local-port-range-reserved")[0];
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
    // The runtime range differs from the persisted one as well.
    assert_eq!(
        run.findings("persisted-drift")[0]["key"],
        "net.ipv4.ip_local_port_range"
    );
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
    assert_eq!(doc["schema_version"], 1);
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
    assert_eq!(doc["facts"]["nat"]["verdict"], "possible");
    assert_eq!(doc["status"], "changes_pending");
}

#[test]
fn human_output_of_centos7() {
    let run = Scenario::fixture("centos7-tw-recycle")
        .twtune(&["check"])
        .expect_code(2);
    insta::assert_snapshot!(run.stdout());
}

#[test]
fn verbose_human_output_of_stale_recycle() {
    let run = Scenario::fixture("jammy-stale-tw-recycle")
        .twtune(&["check", "--verbose"])
        .expect_code(2);
    insta::assert_snapshot!(run.stdout());
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
        .expect_code(2);
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
    let coloured = on_a_terminal(false);
    assert!(coloured.contains("\x1b[1;31mcritical"), "{coloured:?}");
    let plain = on_a_terminal(true);
    assert!(
        plain.contains("critical") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    // And never on a pipe, even without NO_COLOR.
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let mut command = harness::twtune();
    command
        .env_remove("NO_COLOR")
        .arg("--root")
        .arg(scenario.root())
        .arg("check");
    let piped = harness::Run::of(command).expect_code(2);
    assert!(piped.stdout().contains("critical") && !piped.stdout().contains('\x1b'));
}
