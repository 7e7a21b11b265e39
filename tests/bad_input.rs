//! Bad input gets a clear error that names the file, line, rule or key, and
//! exit status 1 — never a panic, never a half-made verdict.

mod harness;

use harness::{Run, Scenario, twtune};

fn expect_error(run: Run, needles: &[&str]) {
    let run = run.expect_code(1);
    let stderr = run.stderr();
    assert!(stderr.starts_with("twtune: error: "), "{stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_root_that_does_not_exist() {
    let mut command = twtune();
    command.args(["--root", "/nonexistent/twtune-root", "check"]);
    expect_error(
        Run::of(command),
        &["/nonexistent/twtune-root", "does not exist"],
    );
}

#[test]
fn an_unreadable_sysctl() {
    let scenario =
        Scenario::fixture("debian12-defaults").make_unreadable("proc/sys/net/ipv4/tcp_timestamps");
    expect_error(
        scenario.twtune(&["check"]),
        &["proc/sys/net/ipv4/tcp_timestamps"],
    );
}

#[test]
fn an_unreadable_sysctl_d_file() {
    let scenario = Scenario::fixture("ubuntu1804-defaults")
        .make_unreadable("etc/sysctl.d/10-network-security.conf");
    expect_error(
        scenario.twtune(&["check"]),
        &["cannot read", "etc/sysctl.d/10-network-security.conf"],
    );
}

#[test]
fn a_truncated_netstat() {
    let scenario = Scenario::fixture("debian12-defaults").write(
        "proc/net/netstat",
        "TcpExt: SyncookiesSent SyncookiesRecv TW\nTcpExt: 0 0\n",
    );
    expect_error(
        scenario.twtune(&["check"]),
        &["proc/net/netstat", "line 2", "3 names", "2"],
    );
}

#[test]
fn a_netstat_cut_after_its_header() {
    let scenario =
        Scenario::fixture("debian12-defaults").write("proc/net/netstat", "TcpExt: TW TWRecycled\n");
    expect_error(scenario.twtune(&["check"]), &["proc/net/netstat", "line 1"]);
}

#[test]
fn a_garbled_sockstat() {
    let scenario = Scenario::fixture("debian12-defaults")
        .write("proc/net/sockstat", "TCP: inuse 5 orphan zero tw 1\n");
    expect_error(
        scenario.twtune(&["check"]),
        &["proc/net/sockstat", "line 1", "\"zero\""],
    );
}

#[test]
fn a_snmp_file_of_binary_garbage() {
    let scenario = Scenario::fixture("debian12-defaults");
    std::fs::write(
        scenario.root().join("proc/net/snmp"),
        [0xff, 0xfe, 0x00, 0x41],
    )
    .unwrap();
    expect_error(scenario.twtune(&["check"]), &["proc/net/snmp", "UTF-8"]);
}

#[test]
fn a_rule_file_with_a_toml_error() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("broken.toml"),
        "[[rule]]\nid = \"x\"\ntitle = \"unterminated\n",
    )
    .unwrap();
    let run = Scenario::fixture("debian12-defaults").twtune(&[
        "check",
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    expect_error(run, &["broken.toml:3"]);
}

fn rule_with(when: &str, key: &str) -> String {
    format!(
        "[[rule]]\nid = \"local-rule\"\ntitle = \"t\"\nseverity = \"warning\"\nwhen = \"{when}\"\nkey = \"{key}\"\nmessage = \"m\"\nrationale = \"r\"\nreferences = [\"x\"]\n"
    )
}

fn check_with_rule(text: &str) -> Run {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("local.toml"), text).unwrap();
    let run = Scenario::fixture("debian12-defaults").twtune(&[
        "check",
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    drop(rules);
    run
}

#[test]
fn a_rule_whose_condition_does_not_compile() {
    let run = check_with_rule(&rule_with(
        "net.ipv4.tcp_tw_reuse == ",
        "net.ipv4.tcp_tw_reuse",
    ));
    expect_error(run, &["local.toml:5", "rule local-rule", "when"]);
}

#[test]
fn a_rule_naming_a_fact_that_does_not_exist() {
    let run = check_with_rule(&rule_with(
        "net.ipv4.tcp_tw_resue == 1",
        "net.ipv4.tcp_tw_reuse",
    ));
    expect_error(
        run,
        &[
            "local.toml:5",
            "rule local-rule",
            "unknown fact \"net.ipv4.tcp_tw_resue\"",
        ],
    );
}

#[test]
fn a_rule_recommending_a_key_outside_the_network_trees() {
    let run = check_with_rule(&rule_with("true", "vm.swappiness"));
    expect_error(
        run,
        &[
            "local.toml:6",
            "rule local-rule",
            "vm.swappiness",
            "outside net.ipv4",
        ],
    );
}

#[test]
fn two_rules_with_one_id_in_one_folder() {
    let rules = tempfile::tempdir().unwrap();
    let text = rule_with("true", "net.ipv4.tcp_tw_reuse");
    std::fs::write(rules.path().join("a.toml"), &text).unwrap();
    std::fs::write(rules.path().join("b.toml"), &text).unwrap();
    let run = Scenario::fixture("debian12-defaults").twtune(&[
        "check",
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    expect_error(
        run,
        &[
            "b.toml:1",
            "rule local-rule",
            "duplicate rule id",
            "a.toml:1",
        ],
    );
}

#[test]
fn a_rules_folder_that_does_not_exist() {
    let run = Scenario::fixture("debian12-defaults").twtune(&[
        "check",
        "--rules",
        "/nonexistent/rules.d",
    ]);
    expect_error(run, &["/nonexistent/rules.d"]);
}

#[test]
fn a_broken_rule_stops_the_run_before_any_finding() {
    let run = check_with_rule(&rule_with("oops(", "net.ipv4.tcp_tw_reuse")).expect_code(1);
    assert_eq!(run.stdout(), "", "nothing runs on half a rule set");
}

#[test]
fn a_usage_error_is_status_1_not_changes_pending() {
    let mut command = twtune();
    command.args(["check", "--sample", "soon"]);
    let run = Run::of(command).expect_code(1);
    assert!(run.stderr().contains("soon"), "{}", run.stderr());
    let mut command = twtune();
    command.args(["frobnicate"]);
    Run::of(command).expect_code(1);
}

#[test]
fn explain_an_unknown_rule() {
    let mut command = twtune();
    command.args(["explain", "no-such-rule"]);
    expect_error(
        Run::of(command),
        &["no-such-rule", "tcp-tw-recycle-enabled"],
    );
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    use std::process::Stdio;
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let mut child = twtune()
        .args(["--root", scenario.root().to_str().unwrap(), "facts"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `twtune facts | head -0`
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
