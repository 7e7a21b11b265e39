//! Issue 18 §1, §2, §6: advice in the right order (recycle before
//! timestamps), conntrack and orphan findings that say what the kernel does,
//! and reports that say it right (verdict first, worst first, hints that act
//! on the same target, suggestions for typos).

use crate::support::Scenario;

const RECYCLE_49: &str = "debian9-recycle-timestamps-off";

#[test]
fn recycle_with_timestamps_off_is_an_inert_warning_that_says_what_arms_it() {
    let run = Scenario::fixture(RECYCLE_49)
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let recycle = &run.findings("tcp-tw-recycle-enabled")[0];
    assert_eq!(recycle["severity"], "warning");
    // Its fix comes first, so it leads the report (and the Nagios headline).
    assert_eq!(run.rule_ids()[0], "tcp-tw-recycle-enabled");
    let message = recycle["message"].as_str().unwrap();
    assert!(
        message.contains("is inert now: tcp_timestamps = 0"),
        "{message}"
    );
    assert!(
        message.contains("drops SYNs from clients behind NAT the moment timestamps are turned on"),
        "{message}"
    );
    let timestamps = &run.findings("tcp-timestamps-off")[0];
    let message = timestamps["message"].as_str().unwrap();
    assert!(message.contains("set tcp_tw_recycle=0 first"), "{message}");
    // The same host with timestamps on: recycle drops now, critical.
    let run = Scenario::fixture(RECYCLE_49)
        .sysctl("tcp_timestamps", "1")
        .twtune(&["check", "--format", "json"]);
    assert_eq!(
        run.findings("tcp-tw-recycle-enabled")[0]["severity"],
        "critical"
    );
}

#[test]
fn the_plan_writes_recycle_off_before_timestamps_on() {
    let fx = Scenario::fixture(RECYCLE_49);
    let run = fx
        .twtune(&["--format", "json", "apply", "--dry-run"])
        .expect_code(2);
    let plan = run.json();
    let keys: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["net.ipv4.tcp_tw_recycle", "net.ipv4.tcp_timestamps"]);
    let diff = plan["persist"]["diff"].as_str().unwrap();
    let recycle = diff.find("+net.ipv4.tcp_tw_recycle = 0").expect(diff);
    let timestamps = diff.find("+net.ipv4.tcp_timestamps = 1").expect(diff);
    assert!(recycle < timestamps, "{diff}");
}

#[test]
fn timestamps_on_is_refused_while_recycle_stays_on_under_only_skip_and_set() {
    for args in [
        &["apply", "--only", "net.ipv4.tcp_timestamps"][..],
        &["apply", "--skip", "tcp-tw-recycle-enabled"],
        &["apply", "--dry-run", "--only", "net.ipv4.tcp_timestamps"],
        &[
            "apply",
            "--no-persist",
            "--only",
            "net.ipv4.tcp_timestamps",
            "--set",
            "net.ipv4.tcp_timestamps=1",
        ],
    ] {
        let fx = Scenario::fixture(RECYCLE_49);
        let mut with_yes = args.to_vec();
        with_yes.push("--yes");
        let run = fx.twtune(&with_yes).expect_code(1);
        let err = run.stderr();
        assert!(
            err.contains("refusing to set net.ipv4.tcp_timestamps = 1")
                && err.contains("1 at run time")
                && err.contains("nothing was changed"),
            "{args:?}: {err}"
        );
        // Nothing written: runtime, drop-in, journal.
        assert_eq!(fx.read("proc/sys/net/ipv4/tcp_timestamps").unwrap(), "0\n");
        assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_recycle").unwrap(), "1\n");
        assert_eq!(fx.read("etc/sysctl.d/90-twtune.conf"), None);
    }
}

#[test]
fn timestamps_on_is_refused_when_recycle_wins_at_boot_though_off_now() {
    // Off at run time, but /etc/sysctl.d/60-tuning.conf turns it back on at
    // the next boot, and only timestamps is planned.
    let fx = Scenario::fixture(RECYCLE_49).sysctl("tcp_tw_recycle", "0");
    let run = fx
        .twtune(&["apply", "--yes", "--only", "net.ipv4.tcp_timestamps"])
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("1 at boot from /etc/sysctl.d/60-tuning.conf:3"),
        "{}",
        run.stderr()
    );
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_timestamps").unwrap(), "0\n");
    // Recycle planned to 0 in the same apply, and its drop-in wins at boot:
    // allowed.
    fx.twtune(&[
        "apply",
        "--dry-run",
        "--only",
        "net.ipv4.tcp_timestamps",
        "--only",
        "net.ipv4.tcp_tw_recycle",
        "--set",
        "net.ipv4.tcp_tw_recycle=0",
    ])
    .expect_code(2);
}

/// A masquerading node (the k8s fixture: 126000 of 131072 entries, TIME_WAIT
/// kept 120 s) whose conntrack listing holds `n` translated TIME_WAIT
/// entries toward one destination.
fn node_with_time_wait(n: u32) -> Scenario {
    let mut table = String::with_capacity(n as usize * 200);
    for i in 0..n {
        let (pod, sport) = (7 + i % 200, 40000 + i / 200);
        table.push_str(&format!(
            "ipv4     2 tcp      6 117 TIME_WAIT src=10.244.1.{pod} dst=203.0.113.50 sport={sport} dport=443 src=203.0.113.50 dst=198.51.100.10 sport=443 dport={} [ASSURED] mark=0 zone=0 use=2\n",
            1024 + i
        ));
    }
    Scenario::fixture("k8s-node-conntrack-full").write("proc/net/nf_conntrack", &table)
}

#[test]
fn conntrack_time_wait_timeout_needs_a_material_share_and_states_the_gain() {
    // The fixture's listing has 2 TIME_WAIT entries: a full table, but a
    // shorter timeout would free nothing that matters.
    let run = Scenario::fixture("k8s-node-conntrack-full").twtune(&["check", "--format", "json"]);
    assert!(run.findings("conntrack-time-wait-timeout").is_empty());
    assert_eq!(run.json()["facts"]["nat"]["conntrack"]["time_wait"], 2);
    // 20000 of them: 60 s frees about 10000, 7 % of nf_conntrack_max.
    let run = node_with_time_wait(20000).twtune(&["check", "--format", "json"]);
    let finding = &run.findings("conntrack-time-wait-timeout")[0];
    assert_eq!(finding["severity"], "warning", "the table is 96 % full");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("Expected gain at 60 s: about 10000 entries (7% of nf_conntrack_max)"),
        "{message}"
    );
    assert!(message.contains("up to 240 s"), "{message}");
    assert!(message.contains("165573e41f2f"), "{message}");
    // 6.1: the 6.5 eviction is not claimed for this kernel.
    assert!(!message.contains("nf_nat_used_tuple_harder"), "{message}");
    let explain = Scenario::fixture("debian12-defaults")
        .twtune(&["explain", "conntrack-time-wait-timeout"])
        .expect_code(0)
        .stdout();
    assert!(!explain.contains("costs no correctness"), "{explain}");
    assert!(explain.contains("nf_nat_used_tuple_harder"), "{explain}");
    // On 6.6 the message says SNAT already evicts closing entries.
    let run = node_with_time_wait(20000)
        .write("proc/sys/kernel/osrelease", "6.6.30\n")
        .twtune(&["check", "--format", "json"]);
    let message = run.findings("conntrack-time-wait-timeout")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("(6.5+) SNAT already evicts TIME_WAIT entries"),
        "{message}"
    );
}

#[test]
fn conntrack_near_full_recommends_the_buckets_in_proportion() {
    let run = Scenario::fixture("k8s-node-conntrack-full").twtune(&["check", "--format", "json"]);
    let finding = &run.findings("conntrack-table-near-full")[0];
    assert_eq!(finding["recommended"], "262144");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("32768 buckets now hold up to 4 entries each")
            && message.contains("set nf_conntrack_buckets to about 65536 too")
            && message.contains("hashsize"),
        "{message}"
    );
}

#[test]
fn conntrack_insert_failures_shows_clash_resolve_and_keeps_the_dns_delay_to_old_kernels() {
    let run = Scenario::fixture("k8s-node-conntrack-full").twtune(&["check", "--format", "json"]);
    assert_eq!(
        run.json()["facts"]["nat"]["conntrack_stats"]["clash_resolve"],
        2
    );
    let message = run.findings("conntrack-insert-failures")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("resolved 2 clashes without a drop (clash_resolve)"),
        "{message}"
    );
    assert!(
        message.contains("drop is not only a full table"),
        "{message}"
    );
    assert!(!message.contains("5 s"), "{message}");
    // A 3.10 header (no clashres column): the DNS delay is explained.
    let run = Scenario::fixture("k8s-node-conntrack-full")
        .write(
            "proc/net/stat/nf_conntrack",
            "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
             00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000007 00000002 00000000 00000000  00000000 00000000 00000000 00000000\n",
        )
        .twtune(&["check", "--format", "json"]);
    assert_eq!(
        run.json()["facts"]["nat"]["conntrack_stats"]["clash_resolve"],
        serde_json::Value::Null
    );
    let message = run.findings("conntrack-insert-failures")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("before 5.10") && message.contains("5 s retry"),
        "{message}"
    );
}

#[test]
fn snat_exhaustion_counts_248_probes_and_no_longer_sells_random_fully() {
    let run = node_with_time_wait(40000).twtune(&["check", "--format", "json"]);
    let message = run.findings("snat-ports-exhausted-toward-destination")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("at most 248 ports"), "{message}");
    assert!(message.contains("take from the same pool"), "{message}");
    assert!(
        message.contains("`--random-fully` is no longer the remedy it was")
            && message.contains("6ed5943f8735"),
        "{message}"
    );
    let explain = Scenario::fixture("debian12-defaults")
        .twtune(&["explain", "snat-ports-exhausted-toward-destination"])
        .expect_code(0)
        .stdout();
    assert!(
        explain.contains("248") && !explain.contains("240 at most"),
        "{explain}"
    );
}

#[test]
fn orphans_say_resets_start_at_a_half_or_a_quarter_with_tcp_abort_on_memory() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_orphans", "1000")
        .write(
            "proc/net/sockstat",
            "sockets: used 310\nTCP: inuse 27 orphan 600 tw 35 alloc 40 mem 5\n",
        )
        .write(
            "proc/net/netstat",
            "TcpExt: TW TCPAbortOnMemory\nTcpExt: 10 42\n",
        )
        .twtune(&["check", "--format", "json"]);
    let finding = &run.findings("tcp-orphans-near-limit")[0];
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("reset from 500 (max/2) or 250 (max/4) orphans on"),
        "{message}"
    );
    assert!(
        message.contains("TcpExt TCPAbortOnMemory, the count of these resets, is 42 since boot"),
        "{message}"
    );
    let evidence = finding["evidence"].to_string();
    assert!(evidence.contains("TCPAbortOnMemory = 42"), "{evidence}");
}

#[test]
fn a_root_that_is_no_host_tree_is_an_error_naming_what_is_missing() {
    for command in [&["check"][..], &["facts"], &["apply", "--dry-run"]] {
        let scenario = Scenario::empty().write("etc/hostname", "not-a-host\n");
        let run = scenario.twtune(command).expect_code(1);
        assert!(
            run.stderr().contains("is not a host tree")
                && run.stderr().contains("proc/sys/net/ipv4 is missing"),
            "{command:?}: {}",
            run.stderr()
        );
        assert_eq!(run.stdout(), "", "no verdict on stdout");
    }
}

/// debian12 with three warnings of different weight: orphans at 85 % of
/// tcp_max_orphans, TIME_WAIT at 80 % of tcp_max_tw_buckets, timestamps off
/// (no measure of how bad). By rule id they would read tw-buckets,
/// orphans, timestamps.
fn three_warnings() -> Scenario {
    Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_orphans", "1000")
        .sysctl("tcp_max_tw_buckets", "1000")
        .sysctl("tcp_timestamps", "0")
        .write(
            "proc/net/sockstat",
            "sockets: used 310\nTCP: inuse 27 orphan 850 tw 800 alloc 40 mem 5\n",
        )
}

#[test]
fn findings_are_ordered_worst_first_in_human_json_and_the_nagios_headline() {
    let scenario = three_warnings();
    let ids = scenario
        .twtune(&["check", "--format", "json"])
        .expect_code(2)
        .rule_ids();
    assert_eq!(
        ids,
        [
            "tcp-orphans-near-limit",
            "tcp-max-tw-buckets-near-limit",
            "tcp-timestamps-off"
        ]
    );
    let human = scenario.twtune(&["check"]).expect_code(2).stdout();
    let at = |what: &str| {
        human
            .find(what)
            .unwrap_or_else(|| panic!("{what}\n{human}"))
    };
    assert!(at("net.ipv4.tcp_max_orphans") < at("net.ipv4.tcp_max_tw_buckets"));
    assert!(at("net.ipv4.tcp_max_tw_buckets") < at("net.ipv4.tcp_timestamps"));
    let nagios = scenario
        .twtune(&["check", "--format", "nagios"])
        .expect_code(1)
        .stdout();
    let headline = nagios.lines().next().unwrap();
    assert!(
        headline.contains(": Orphaned sockets are near tcp_max_orphans"),
        "{headline}"
    );
}

#[test]
fn with_findings_the_verdict_is_the_first_line_and_no_line_passes_120_columns() {
    let scenario = three_warnings();
    let out = scenario
        .twtune(&["check", "--verbose"])
        .expect_code(2)
        .stdout();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "✗ changes pending: 3 findings (0 critical, 3 warnings, 0 info)"
    );
    assert!(lines.next().unwrap().starts_with("twtune check · kernel "));
    for line in out.lines() {
        assert!(
            line.chars().count() <= 120,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    // Info only: nothing to change, still verdict first.
    let out = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_fin_timeout", "30")
        .twtune(&["check"])
        .expect_code(0)
        .stdout();
    assert_eq!(
        out.lines().next().unwrap(),
        "✓ nothing to change: 1 finding (0 critical, 0 warnings, 1 info)"
    );
}

#[test]
fn next_hints_repeat_the_root_and_rules_the_run_was_given() {
    let scenario = three_warnings();
    let rules = tempfile::tempdir().unwrap();
    let rules_dir = rules.path().to_str().unwrap();
    let out = scenario
        .twtune(&["--rules", rules_dir, "check"])
        .expect_code(2)
        .stdout();
    let root = scenario.root().to_str().unwrap();
    for hint in [
        format!("`twtune --root {root} --rules {rules_dir} check --verbose`"),
        format!("`twtune --root {root} --rules {rules_dir} apply --dry-run`"),
        format!("`twtune --root {root} --rules {rules_dir} explain RULE`"),
    ] {
        assert!(out.contains(&hint), "{hint}\n{out}");
    }
}

#[test]
fn typos_get_a_suggestion() {
    let fx = Scenario::fixture("debian12-defaults");
    let cases: [(&[&str], &str); 5] = [
        (
            &["apply", "--dry-run", "--set", "tcp_tw_reuse=1"],
            "did you mean net.ipv4.tcp_tw_reuse?",
        ),
        (
            &["apply", "--dry-run", "--only", "tcp_timestamps"],
            "did you mean net.ipv4.tcp_timestamps?",
        ),
        (
            &["apply", "--dry-run", "--set", "net.ipv4.tcp_tw_resue=1"],
            "does not exist on this kernel",
        ),
        (
            &["apply", "--dry-run", "--skip", "tcp-timestamp-off"],
            "no rule has this id; did you mean tcp-timestamps-off?",
        ),
        (
            &["explain", "tcp-tw-recycle"],
            "did you mean tcp-tw-recycle-enabled, tcp-tw-recycle-persisted-removed?",
        ),
    ];
    for (args, expected) in cases {
        let run = fx.twtune(args).expect_code(1);
        assert!(
            run.stderr().contains(expected),
            "{args:?}: {}",
            run.stderr()
        );
    }
    let run = fx
        .twtune(&["apply", "--dry-run", "--set", "net.ipv4.tcp_tw_resue=1"])
        .expect_code(1);
    assert!(
        run.stderr().contains("did you mean net.ipv4.tcp_tw_reuse?"),
        "{}",
        run.stderr()
    );
    // Nothing close: no guess.
    let run = fx
        .twtune(&["apply", "--dry-run", "--set", "no_such_thing=1"])
        .expect_code(1);
    assert!(!run.stderr().contains("did you mean"), "{}", run.stderr());
}

#[test]
fn without_root_a_permission_error_says_it_needs_root() {
    use std::os::unix::process::CommandExt as _;
    // Reading another process's namespace as nobody (or as the ordinary
    // user running the tests): refused by the kernel, and nothing on this
    // machine is changed by trying.
    let mut command = crate::support::twtune();
    command.args(["check", "--netns", "1"]);
    if nix::unistd::geteuid().is_root() {
        command.uid(65534).gid(65534);
    }
    let run = crate::support::Run::of(command).expect_code(1);
    assert!(
        run.stderr().contains("Permission denied") && run.stderr().contains("this needs root"),
        "{}",
        run.stderr()
    );
}

/// `apply` and `rollback` as nobody, in the apply sandbox (a private network
/// and mount namespace, tmpfs over /etc/sysctl.d, /run and /var/lib): each
/// says it needs root, exits 1 and writes nothing, neither sysctl nor file.
#[test]
fn without_root_apply_and_rollback_say_they_need_root_and_write_nothing() {
    use crate::support::tier::Need;
    needs!(Need::Root, Need::Tool("setpriv"));
    let sandbox = crate::support::sandbox::Netns::new();
    let as_nobody = |args: &str| {
        sandbox.sh(&format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups {} {args}",
            crate::support::TWTUNE
        ))
    };
    let says_needs_root = |out: &std::process::Output, what: &str| {
        let err = crate::support::stderr(out);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.starts_with("twtune: error: ")
                && err.lines().count() == 1
                && (err.contains("Permission denied") || err.contains("Operation not permitted"))
                && err.contains("this needs root")
                && err.contains("run twtune as root"),
            "{what}: {err}"
        );
    };
    let reuse = sandbox.sysctl("net.ipv4.tcp_tw_reuse");
    assert_ne!(reuse, "1", "the sandbox starts at the kernel's default");
    // (mount(8) keeps its own /run/mount: compare, not expect empty.)
    let folders = ["/etc/sysctl.d", "/var/lib", "/run"];
    let before = folders.map(|dir| sandbox.ls(dir));

    let out = as_nobody("apply --yes --set net.ipv4.tcp_tw_reuse=1");
    says_needs_root(&out, "apply");
    assert_eq!(sandbox.sysctl("net.ipv4.tcp_tw_reuse"), reuse);
    assert_eq!(folders.map(|dir| sandbox.ls(dir)), before);
    assert_eq!(sandbox.ls("/etc/sysctl.d"), Vec::<String>::new());

    // What root applied, nobody cannot roll back: the value, the drop-in and
    // the record stay as they were.
    let out = sandbox.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let state = sandbox.ls("/var/lib/twtune");
    let dropin = sandbox.file("/etc/sysctl.d/90-twtune.conf");
    assert!(dropin.is_some(), "{:?}", sandbox.ls("/etc/sysctl.d"));
    let out = as_nobody("rollback --yes");
    says_needs_root(&out, "rollback");
    assert_eq!(sandbox.sysctl("net.ipv4.tcp_tw_reuse"), "1");
    assert_eq!(sandbox.file("/etc/sysctl.d/90-twtune.conf"), dropin);
    assert_eq!(sandbox.ls("/var/lib/twtune"), state);
    sandbox.assert_host_untouched();
}

#[test]
fn apply_by_hand_gives_the_action_not_the_finding_again() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_orphans", "1000")
        .write(
            "proc/net/sockstat",
            "sockets: used 310\nTCP: inuse 27 orphan 600 tw 35 alloc 40 mem 5\n",
        )
        .twtune(&["apply", "--dry-run"])
        .expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains("[tcp-orphans-near-limit] Orphaned sockets are near"),
        "{out}"
    );
    assert!(
        out.contains("    find what leaves so many orphans"),
        "{out}"
    );
    assert!(
        !out.contains("Each orphan can hold"),
        "the message is check's: {out}"
    );
}

#[test]
fn every_rule_changed_for_issue_18_cites_kernel_sources_in_explain() {
    for rule in [
        "snat-ports-exhausted-toward-destination",
        "tcp-orphans-near-limit",
        "tcp-timestamps-off",
        "ephemeral-ports-host-wide",
        "connect-port-scan-cost",
        "conntrack-time-wait-timeout",
        "conntrack-table-near-full",
    ] {
        crate::check_scenarios::assert_explain_cites_kernel_sources(rule);
    }
}
