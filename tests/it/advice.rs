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
