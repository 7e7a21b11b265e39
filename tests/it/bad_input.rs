//! Bad input gets a clear error that names the file, line, rule or key, and
//! exit status 1 — never a panic, never a half-made verdict.

use crate::support::tier::Need;
use crate::support::{Run, Scenario, twtune};

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
fn a_message_that_does_not_compile_fails_rules_check_and_the_check_it_fires_in() {
    // Prose is compiled when its rule fires (issue 20), and by `rules --check`.
    let text = rule_with("net.ipv4.tcp_tw_reuse >= 0", "net.ipv4.tcp_tw_reuse").replace(
        "message = \"m\"",
        "message = \"m ${net.ipv4.tcp_tw_reuse ==}\"",
    );
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("local.toml"), &text).unwrap();
    let dir = rules.path().to_str().unwrap();
    let fixture = Scenario::fixture("debian12-defaults");
    fixture.twtune(&["rules", "--rules", dir]).expect_code(0);
    expect_error(
        fixture.twtune(&["rules", "--check", "--rules", dir]),
        &["local.toml:7", "rule local-rule", "message: "],
    );
    let run = check_with_rule(&text).expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("rule local-rule") && stderr.contains("message: "),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_misspelt_fact_in_a_message_is_an_error_when_loading() {
    let text = rule_with("net.ipv4.tcp_tw_reuse >= 0", "net.ipv4.tcp_tw_reuse").replace(
        "message = \"m\"",
        "message = \"m ${'x' + net.ipv4.tcp_tw_reuze}\"",
    );
    expect_error(
        check_with_rule(&text),
        &["local.toml:7", "rule local-rule", "net.ipv4.tcp_tw_reuze"],
    );
}

#[test]
fn a_rule_using_a_regular_expression_is_an_error_naming_it() {
    // twtune is built without cel's regex feature: matches() in either form
    // is refused when the rule is loaded, before anything runs.
    for when in [
        "sysctl['net.ipv4.ip_local_reserved_ports'].matches('^[0-9]+$')",
        "matches(kernel.release, '^6[.]')",
    ] {
        let run = check_with_rule(&rule_with(when, "net.ipv4.tcp_tw_reuse"));
        expect_error(
            run,
            &[
                "local.toml:5",
                "rule local-rule",
                "matches() is not available",
            ],
        );
    }
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

/// Runs `twtune --root centos7-tw-recycle COMMAND` with its stdout closed
/// before it writes, as `twtune COMMAND | head -0` does; returns the exit
/// status and stderr.
fn with_stdout_closed(command: &str) -> (Option<i32>, String) {
    use std::process::Stdio;
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let mut child = twtune()
        .args(["--root", scenario.root().to_str().unwrap(), command])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code(), stderr)
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let (code, stderr) = with_stdout_closed("facts");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_closed_stdout_keeps_the_real_exit_status() {
    // centos7-tw-recycle has a critical finding: status 2, pipe or no pipe.
    let (code, stderr) = with_stdout_closed("check");
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn a_fifo_where_a_sysctl_should_be_does_not_hang() {
    let scenario = Scenario::fixture("debian12-defaults").remove("proc/sys/net/ipv4/tcp_tw_reuse");
    let fifo = scenario.root().join("proc/sys/net/ipv4/tcp_tw_reuse");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    expect_error(
        scenario.twtune(&["check"]),
        &["proc/sys/net/ipv4/tcp_tw_reuse", "not a regular file"],
    );
}

#[test]
fn a_device_where_a_sysctl_d_file_should_be_is_refused_not_read_forever() {
    // mknod(2) of a character device needs CAP_MKNOD.
    needs!(Need::Root);
    // A device node in the tree (a link to the host's /dev/zero would be
    // resolved inside the tree and find nothing): this one is /dev/zero's twin.
    let scenario = Scenario::fixture("debian12-defaults");
    nix::sys::stat::mknod(
        &scenario.root().join("etc/sysctl.d/50-zero.conf"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
        nix::sys::stat::makedev(1, 5),
    )
    .unwrap();
    expect_error(
        scenario.twtune(&["check"]),
        &["etc/sysctl.d/50-zero.conf", "not a regular file"],
    );
}

#[test]
fn a_runaway_file_and_a_runaway_line_are_refused() {
    let scenario = Scenario::fixture("debian12-defaults");
    // Sparse: 40 MiB of zeros that take no disk.
    let huge = std::fs::File::create(scenario.root().join("etc/sysctl.d/60-huge.conf")).unwrap();
    huge.set_len(40 * 1024 * 1024).unwrap();
    expect_error(
        scenario.twtune(&["check"]),
        &["etc/sysctl.d/60-huge.conf", "larger than 32 MiB"],
    );
    let scenario = Scenario::fixture("debian12-defaults").write(
        "etc/sysctl.d/60-long.conf",
        &format!("net.ipv4.tcp_tw_reuse = 1\n# {}\n", "x".repeat(100_000)),
    );
    expect_error(
        scenario.twtune(&["check"]),
        &["etc/sysctl.d/60-long.conf", "line 2 is longer than 64 KiB"],
    );
    // The socket and conntrack tables are streamed, not read whole: a
    // runaway line there (sparse: 40 MiB of zeros, no newline) is refused at
    // the cap, not read into memory.
    for table in ["proc/net/tcp", "proc/net/nf_conntrack"] {
        let scenario = Scenario::fixture("debian12-defaults");
        let mut text = std::fs::read(scenario.root().join("proc/net/tcp")).unwrap();
        if table.ends_with("nf_conntrack") {
            text.clear();
        }
        let path = scenario.root().join(table);
        std::fs::write(&path, &text).unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.set_len(text.len() as u64 + 40 * 1024 * 1024).unwrap();
        expect_error(scenario.twtune(&["check"]), &[table, "longer than 64 KiB"]);
    }
}

#[test]
fn a_garbled_runtime_value_is_an_error_never_compliant() {
    for (value, says) in [("abc\n", "\"abc\""), ("", "empty"), ("1\0", "NUL")] {
        let scenario = Scenario::fixture("debian12-defaults").sysctl("tcp_tw_reuse", value);
        expect_error(
            scenario.twtune(&["check", "--format", "json"]),
            &["proc/sys/net/ipv4/tcp_tw_reuse", says],
        );
    }
}

#[test]
fn control_characters_from_the_host_never_reach_the_terminal() {
    // A hostile tree: an escape sequence in the kernel release and in a
    // sysctl.d file name, both of which twtune prints.
    let scenario = Scenario::fixture("centos7-tw-recycle")
        .write(
            "proc/sys/kernel/osrelease",
            "3.10.0\x1b]0;owned\x07\x1b[2J\n",
        )
        .write(
            "etc/sysctl.d/\x1b[31mred.conf",
            "net.ipv4.tcp_tw_reuse = 1\n",
        );
    for args in [&["check", "--verbose"][..], &["facts"][..]] {
        let run = scenario.twtune(args);
        let out = format!("{}{}", run.stdout(), run.stderr());
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "{args:?}: {out:?}"
        );
        assert!(out.contains("\\x1b"), "{args:?}: shown escaped: {out}");
    }
}

#[test]
fn a_rule_nested_past_the_parser_stack_is_an_error_naming_it() {
    let rules = tempfile::tempdir().unwrap();
    for (name, when, says) in [
        (
            "deep.toml",
            format!("{}1{} == 1", "[".repeat(200), "]".repeat(200)),
            "brackets nest deeper than 12",
        ),
        (
            "long.toml",
            format!("1{} == 1", " + 1".repeat(1000)),
            "the limit is 2048",
        ),
        (
            "chain.toml",
            format!("1{} == 1", "+1".repeat(300)),
            "nests deeper than 64",
        ),
        (
            "loops.toml",
            "[1].all(a, [1].all(b, [1].all(c, true)))".to_string(),
            "list macros nest deeper than 2",
        ),
        (
            "range.toml",
            "lists.range(100000000).size() > 0".to_string(),
            "lists.range",
        ),
    ] {
        let dir = rules.path().join(name.trim_end_matches(".toml"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), rule_with(&when, "net.ipv4.tcp_tw_reuse")).unwrap();
        let run = Scenario::fixture("debian12-defaults").twtune(&[
            "check",
            "--rules",
            dir.to_str().unwrap(),
        ]);
        expect_error(run, &[name, "rule local-rule", says]);
    }
}

#[test]
fn a_rule_whose_work_grows_with_the_host_past_the_budget_is_an_error() {
    // 2,000 settings; a rule comparing each with each needs 4,000,000 steps.
    let text: String = (0..2000)
        .map(|i| format!("net.ipv4.conf.eth{i}.forwarding = 0\n"))
        .collect();
    let scenario = Scenario::fixture("debian12-defaults").write("etc/sysctl.d/70-many.conf", &text);
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("quadratic.toml"),
        rule_with(
            "persisted.settings.exists(a, persisted.settings.exists(b, a.key == b.key && a.line != b.line))",
            "net.ipv4.tcp_tw_reuse",
        ),
    )
    .unwrap();
    let run = scenario.twtune(&[
        "check",
        "--format",
        "json",
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    let run = run.expect_code(1);
    assert!(
        run.stderr().contains("quadratic.toml") && run.stderr().contains("rule local-rule"),
        "{}",
        run.stderr()
    );
    let doc = run.json();
    assert_eq!(doc["status"], "error");
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit")
    );
}

#[test]
fn a_site_rule_splitting_a_long_host_string_twice_is_refused_and_named() {
    // A 60,000-character release: `split('')` gives a list as long as the
    // string, so walking it twice is 3.6e9 steps, not 16 × 16.
    let release = format!("6.1.0-{}", "x".repeat(60_000));
    let scenario = Scenario::fixture("debian12-defaults")
        .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
        .write(
            "etc/twtune/rules.d/site.toml",
            &(rule_with(
                "kernel.release.split('').exists(a, kernel.release.split('').exists(b, a == b + 'y'))",
                "net.ipv4.tcp_tw_reuse",
            ) + &rule_with("true", "net.ipv4.tcp_tw_reuse").replace("local-rule", "site-fires")),
        );
    let run = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(1);
    assert!(
        run.stderr().contains("site.toml") && run.stderr().contains("rule local-rule"),
        "{}",
        run.stderr()
    );
    let doc = run.json();
    assert_eq!(doc["status"], "error");
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("rule local-rule") && message.contains("over the limit"),
        "{message}"
    );
    assert!(errors[0]["file"].as_str().unwrap().ends_with("site.toml"));
    // The run went on: the next rule was judged.
    let findings = doc["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["rule"] == "site-fires"));
}

#[test]
fn string_work_in_a_loop_body_counts_the_string_length() {
    // One split (60,001 items), and per item a scan of the whole release:
    // each loop alone is cheap, the product is not.
    let release = format!("6.1.0-{}", "x".repeat(60_000));
    let scenario = Scenario::fixture("debian12-defaults")
        .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
        .write(
            "etc/twtune/rules.d/site.toml",
            &rule_with(
                "kernel.release.split('').exists(c, kernel.release.contains(c + 'y'))",
                "net.ipv4.tcp_tw_reuse",
            ),
        );
    let run = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(1);
    let doc = run.json();
    let message = doc["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("rule local-rule"), "{message}");
}

#[test]
fn rules_each_within_their_limit_are_bounded_together_by_the_run() {
    // Ten rules, each a split of a 30,000-character release walked with one
    // scan per item: about 1.9 million steps each, within the per-rule limit,
    // 19 million together. The run refuses the costliest until the rest fit.
    let release = format!("6.1.0-{}", "x".repeat(30_000));
    let rules: String = (0..10)
        .map(|i| {
            rule_with(
                &format!("kernel.release.split('').exists(c, kernel.release.contains(c + '#{i}'))"),
                "net.ipv4.tcp_tw_reuse",
            )
            .replace("local-rule", &format!("site-rule-{i}"))
        })
        .collect();
    let scenario = Scenario::fixture("debian12-defaults")
        .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
        .write("etc/twtune/rules.d/site.toml", &rules);
    let run = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(1);
    let doc = run.json();
    let errors = doc["errors"].as_array().unwrap();
    assert!(!errors.is_empty() && errors.len() < 10, "{errors:?}");
    for e in errors {
        let message = e["message"].as_str().unwrap();
        assert!(message.contains("rule site-rule-"), "{message}");
        assert!(message.contains("the run's limit"), "{message}");
        assert!(e["file"].as_str().unwrap().ends_with("site.toml"), "{e}");
    }
}

#[test]
fn site_rules_in_a_root_tree_are_loaded_under_the_same_limits_and_named() {
    let scenario = Scenario::fixture("debian12-defaults").write(
        "etc/twtune/rules.d/site.toml",
        &rule_with("net.ipv4.tcp_tw_reuse == 2", "net.ipv4.tcp_tw_reuse"),
    );
    let run = scenario.twtune(&["check", "--format", "json"]);
    let doc = run.json();
    let site = doc["site_rules"].as_array().unwrap();
    assert!(
        site[0]
            .as_str()
            .unwrap()
            .ends_with("etc/twtune/rules.d/site.toml"),
        "{doc}"
    );
    assert!(!run.findings("local-rule").is_empty());
    let human = scenario.twtune(&["check"]);
    assert!(
        human.stdout().contains("Site rules loaded from"),
        "{}",
        human.stdout()
    );
    let hostile = Scenario::fixture("debian12-defaults").write(
        "etc/twtune/rules.d/site.toml",
        &rule_with(
            &format!("{}1{} == 1", "(".repeat(500), ")".repeat(500)),
            "net.ipv4.tcp_tw_reuse",
        ),
    );
    expect_error(
        hostile.twtune(&["check"]),
        &[
            "etc/twtune/rules.d/site.toml",
            "rule local-rule",
            "brackets nest",
        ],
    );
}

#[test]
fn a_link_in_a_root_tree_is_resolved_inside_the_tree_never_outside() {
    // A hostile tree links a sysctl.d file and a /proc value to files outside it.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("evil.conf"),
        "net.ipv4.tcp_tw_reuse = 0\n",
    )
    .unwrap();
    std::fs::write(outside.path().join("value"), "0\n").unwrap();
    let scenario =
        Scenario::fixture("debian12-defaults").remove("proc/sys/net/ipv4/tcp_fin_timeout");
    std::os::unix::fs::symlink(
        outside.path().join("evil.conf"),
        scenario.root().join("etc/sysctl.d/50-evil.conf"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("value"),
        scenario.root().join("proc/sys/net/ipv4/tcp_fin_timeout"),
    )
    .unwrap();
    let doc = scenario.twtune(&["facts", "--format", "json"]).json();
    let settings = doc["facts"]["persisted"]["settings"].as_array().unwrap();
    assert!(
        settings
            .iter()
            .all(|s| s["file"] != "/etc/sysctl.d/50-evil.conf"),
        "read through a link out of the tree: {settings:?}"
    );
    assert_eq!(
        doc["facts"]["sysctl"]["net.ipv4.tcp_fin_timeout"],
        serde_json::Value::Null,
        "the value outside the tree was read"
    );
    // The same link made relative and inside the tree is followed as usual.
    std::fs::write(
        scenario.root().join("etc/inside.conf"),
        "net.ipv4.tcp_timestamps = 1\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/etc/inside.conf",
        scenario.root().join("etc/sysctl.d/60-inside.conf"),
    )
    .unwrap();
    let doc = scenario.twtune(&["facts", "--format", "json"]).json();
    let settings = doc["facts"]["persisted"]["settings"].as_array().unwrap();
    assert!(
        settings
            .iter()
            .any(|s| s["file"] == "/etc/sysctl.d/60-inside.conf"),
        "{settings:?}"
    );
}

#[test]
fn a_fifo_where_a_streamed_proc_table_should_be_does_not_hang() {
    for table in ["proc/net/tcp", "proc/net/nf_conntrack"] {
        let scenario = Scenario::fixture("debian12-defaults");
        let fifo = scenario.root().join(table);
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        expect_error(scenario.twtune(&["check"]), &[table, "not a regular file"]);
    }
}

#[test]
fn a_key_template_that_renders_no_sysctl_name_leaves_its_rule_undecided() {
    // The key is parsed once, where the rule renders it: "net.ipv4.a b" can
    // name no sysctl, so no finding carries it on to a plan.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("local.toml"),
        rule_with("true", "net.ipv4.${'a b'}"),
    )
    .unwrap();
    let run = Scenario::fixture("debian12-defaults").twtune(&[
        "check",
        "--format",
        "json",
        "--rules",
        rules.path().to_str().unwrap(),
    ]);
    assert!(run.findings("local-rule").is_empty());
    let doc = run.json();
    assert_eq!(doc["undecided"][0]["rule"], "local-rule", "{doc}");
    assert!(
        doc["undecided"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("\"net.ipv4.a b\" contains a character"),
        "{doc}"
    );
}

/// Replaces `folder` in the tree with a link to `target` (the folder itself
/// first removed, so the link is what the tree holds there).
fn link_folder(scenario: &Scenario, folder: &str, target: &std::path::Path) {
    let path = scenario.root().join(folder);
    if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(&path).unwrap();
    } else {
        let _ = std::fs::remove_file(&path);
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, &path).unwrap();
}

#[test]
fn sysctl_d_folders_linked_out_of_a_root_tree_are_neither_listed_nor_read() {
    // A hostile tree links a sysctl.d folder to a host folder holding a file
    // with a recognisable setting, named like a file in the next folder
    // inside the tree: listed on the host, it would mask that inside file.
    const OUTSIDE: &str = "net.ipv4.tcp_max_tw_buckets = 4242\n";
    const INSIDE: &str = "net.ipv4.tcp_fin_timeout = 17\n";
    let name = "10-twtune-linked.conf";
    for (linked, next) in [
        ("etc/sysctl.d", "usr/lib/sysctl.d"),
        ("usr/lib/sysctl.d", "lib/sysctl.d"),
    ] {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join(name), OUTSIDE).unwrap();
        let scenario =
            Scenario::fixture("debian12-defaults").write(&format!("{next}/{name}"), INSIDE);
        link_folder(&scenario, linked, outside.path());
        let doc = scenario.twtune(&["check", "--format", "json"]).json();
        let persisted = &doc["facts"]["persisted"];
        let text = persisted.to_string();
        assert!(
            !text.contains("4242"),
            "{linked}: a setting outside the tree was read: {persisted}"
        );
        assert_eq!(
            persisted["masked"],
            serde_json::json!([]),
            "{linked}: a host folder's listing masked a file of the tree"
        );
        assert!(
            persisted["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| *f == format!("/{next}/{name}").as_str()),
            "{linked}: {persisted}"
        );
        assert_eq!(
            doc["facts"]["persisted"]["winners"]["net.ipv4.tcp_fin_timeout"]["value"], "17",
            "{linked}: {persisted}"
        );
        assert_eq!(
            std::fs::read_to_string(outside.path().join(name)).unwrap(),
            OUTSIDE
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);

        // The same folder linked inside the tree is listed and read as usual.
        let real = format!("{linked}.real");
        let scenario = scenario.write(&format!("{real}/{name}"), OUTSIDE);
        link_folder(
            &scenario,
            linked,
            std::path::Path::new(std::path::Path::new(&real).file_name().unwrap()),
        );
        let doc = scenario.twtune(&["check", "--format", "json"]).json();
        let persisted = &doc["facts"]["persisted"];
        assert_eq!(
            persisted["winners"]["net.ipv4.tcp_max_tw_buckets"]["file"],
            format!("/{linked}/{name}"),
            "{linked}: {persisted}"
        );
    }
}

#[test]
fn a_site_rules_folder_linked_out_of_a_root_tree_is_neither_listed_nor_read() {
    let rule = rule_with("true", "net.ipv4.tcp_tw_reuse");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("outside.toml"), &rule).unwrap();
    let scenario = Scenario::fixture("debian12-defaults");
    link_folder(&scenario, "etc/twtune/rules.d", outside.path());
    let run = scenario.twtune(&["check", "--format", "json"]);
    assert_eq!(run.json()["site_rules"], serde_json::json!([]));
    assert!(
        run.findings("local-rule").is_empty(),
        "a rule outside the tree was loaded: {}",
        run.stdout()
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("outside.toml")).unwrap(),
        rule
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);

    // The folder linked inside the tree: its rules are the tree's site rules.
    let scenario = scenario.write("etc/twtune/rules.real/inside.toml", &rule);
    link_folder(
        &scenario,
        "etc/twtune/rules.d",
        std::path::Path::new("rules.real"),
    );
    let run = scenario.twtune(&["check", "--format", "json"]);
    let site = run.json()["site_rules"].clone();
    assert!(
        site[0]
            .as_str()
            .is_some_and(|f| f.ends_with("etc/twtune/rules.d/inside.toml")),
        "{site}"
    );
    assert!(!run.findings("local-rule").is_empty(), "{}", run.stdout());
}

#[test]
fn a_large_rule_file_loads_and_names_each_rule_by_its_line() {
    // 4 MiB, 2,000 rules of ~2 KiB: the load counted lines from the top for
    // every rule (quadratic; bench/rule-load/run has the times).
    let rules = tempfile::tempdir().unwrap();
    let pad = "x".repeat(2000);
    let text: String = (0..2000)
        .map(|i| {
            rule_with(
                &format!("net.ipv4.tcp_tw_reuse == {i}"),
                "net.ipv4.tcp_tw_reuse",
            )
            .replace("local-rule", &format!("generated-{i}"))
            .replace("rationale = \"r\"", &format!("rationale = \"{pad}\""))
        })
        .collect();
    assert!(text.len() > 4_000_000);
    std::fs::write(rules.path().join("large.toml"), &text).unwrap();
    let run = Scenario::fixture("debian12-defaults").twtune(&[
        "rules",
        "--rules",
        rules.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    let doc = run.expect_code(0).json();
    let listed = doc["rules"].as_array().unwrap();
    let lines_per_rule = rule_with("x", "y").lines().count() as u64;
    for i in [0u64, 1, 999, 1999] {
        let rule = listed
            .iter()
            .find(|r| r["id"] == format!("generated-{i}"))
            .unwrap_or_else(|| panic!("generated-{i} not listed"));
        assert_eq!(rule["line"], i * lines_per_rule + 1, "{rule}");
    }
}

#[test]
fn a_root_tree_whose_rules_d_disables_every_rule_is_incomplete_not_compliant() {
    let listed = Scenario::fixture("debian12-defaults")
        .twtune(&["rules", "--format", "json"])
        .expect_code(0)
        .json();
    let ids: Vec<String> = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{:?}", r["id"].as_str().unwrap()))
        .collect();
    let scenario = Scenario::fixture("debian12-defaults").write(
        "etc/twtune/rules.d/off.toml",
        &format!("disable = [{}]\n", ids.join(", ")),
    );
    let doc = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(doc["status"], "incomplete", "{}", doc["undecided"]);
    let undecided = doc["undecided"].as_array().unwrap();
    assert_eq!(undecided.len(), ids.len());
    for u in undecided {
        let reason = u["reason"].as_str().unwrap();
        assert!(
            reason.contains("etc/twtune/rules.d/off.toml:1") && reason.contains("disabled"),
            "{u}"
        );
    }
    // The human report says so too.
    let human = scenario.twtune(&["check"]).expect_code(0);
    assert!(human.stdout().contains("off.toml:1"), "{}", human.stdout());
}

#[test]
fn a_costly_text_counts_when_its_rule_fires_and_not_before() {
    // The same message, a split of a 60,000-character release walked with a
    // scan per item (over the per-rule limit), under a condition that holds
    // and under one that does not. Texts are estimated, like they are
    // compiled, only when their rule fires.
    let release = format!("6.1.0-{}", "x".repeat(60_000));
    let costly = "${kernel.release.split('').exists(c, kernel.release.contains(c + 'y'))}";
    let rule = |id: &str, when: &str| {
        rule_with(when, "net.ipv4.tcp_tw_reuse")
            .replace("local-rule", id)
            .replace("message = \"m\"", &format!("message = \"{costly}\""))
    };
    let scenario = Scenario::fixture("debian12-defaults")
        .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
        .write(
            "etc/twtune/rules.d/site.toml",
            &(rule("quiet-rule", "false") + &rule("firing-rule", "true")),
        );
    let run = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(1);
    let doc = run.json();
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("rule firing-rule") && message.contains("over the limit"),
        "{message}"
    );
}
