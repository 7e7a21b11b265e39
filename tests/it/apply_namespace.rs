//! `twtune apply` and `rollback` against the real kernel, inside a private
//! network and mount namespace: real writes, real read-backs, real faults.

use std::process::Stdio;

use crate::support::sandbox::{Netns, wait_for};
use crate::support::tier::Need;
use crate::support::{TWTUNE as BIN, stderr, stdout};

const DROPIN: &str = "/etc/sysctl.d/90-twtune.conf";
const JOURNAL: &str = "/var/lib/twtune/journal.json";
const LAST: &str = "/var/lib/twtune/last-apply.json";

/// A fresh namespace starts with the kernel's defaults.
fn defaults(ns: &Netns) -> [String; 3] {
    [
        ns.sysctl("net.ipv4.tcp_fin_timeout"),
        ns.sysctl("net.ipv4.tcp_tw_reuse"),
        ns.sysctl("net.ipv4.ip_local_port_range"),
    ]
}

const THREE: &[&str] = &[
    "--set",
    "net.ipv4.tcp_fin_timeout=30",
    "--set",
    "net.ipv4.tcp_tw_reuse=1",
    "--set",
    "net.ipv4.ip_local_port_range=10000 60999",
];

fn apply_three(ns: &Netns, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply"];
    args.extend_from_slice(extra);
    args.extend_from_slice(THREE);
    ns.twtune(&args)
}

#[test]
fn dry_run_apply_idempotent_then_rollback() {
    needs!(Need::Root);
    let ns = Netns::new();
    let before = defaults(&ns);
    assert_eq!(before, ["60", "2", "32768 60999"]);

    let dry = apply_three(&ns, &["--dry-run"]);
    assert_eq!(dry.status.code(), Some(2), "{}", stderr(&dry));
    let text = stdout(&dry);
    assert!(text.contains("net.ipv4.tcp_tw_reuse: 2 → 1"), "{text}");
    assert!(
        text.contains("+net.ipv4.ip_local_port_range = 10000 60999"),
        "{text}"
    );
    assert_eq!(defaults(&ns), before, "a dry run writes nothing");
    assert_eq!(ns.file(DROPIN), None);
    assert!(ns.ls("/var/lib").is_empty(), "a dry run leaves no state");

    let applied = apply_three(&ns, &["--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert_eq!(defaults(&ns), ["30", "1", "10000 60999"]);
    let dropin = ns.file(DROPIN).expect("drop-in written");
    assert!(
        dropin.contains("net.ipv4.tcp_fin_timeout = 30\n"),
        "{dropin}"
    );
    let mode = stdout(&ns.sh(&format!("stat -c %a {DROPIN}")));
    assert_eq!(mode.trim(), "644");
    assert_eq!(
        ns.file(JOURNAL),
        None,
        "the journal became the last-apply record"
    );
    assert!(ns.file(LAST).is_some());
    assert_eq!(
        ns.ls("/etc/sysctl.d"),
        ["90-twtune.conf"],
        "no temporary file left"
    );

    let again = apply_three(&ns, &["--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("Nothing to change"),
        "{}",
        stdout(&again)
    );
    let again_dry = apply_three(&ns, &["--dry-run", "--format", "json"]);
    assert_eq!(again_dry.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&again_dry.stdout).unwrap();
    assert_eq!(plan["empty"], true);
    assert_eq!(plan["changed"], false, "a second apply changes nothing");

    let undo_dry = ns.twtune(&["rollback", "--dry-run"]);
    assert_eq!(undo_dry.status.code(), Some(2), "{}", stderr(&undo_dry));
    assert_eq!(defaults(&ns), ["30", "1", "10000 60999"]);
    let undo = ns.twtune(&["rollback", "--yes"]);
    assert_eq!(undo.status.code(), Some(0), "{}", stderr(&undo));
    assert_eq!(defaults(&ns), before);
    assert_eq!(
        ns.file(DROPIN),
        None,
        "the drop-in did not exist before, so it is gone"
    );
    assert_eq!(ns.file(LAST), None);
    let nothing = ns.twtune(&["rollback", "--yes"]);
    assert_eq!(nothing.status.code(), Some(0));
    assert!(stdout(&nothing).contains("Nothing to roll back"));
    ns.assert_host_untouched();
}

#[test]
fn rollback_restores_an_earlier_drop_in_and_runtime_only_apply_leaves_files() {
    needs!(Need::Root);
    let ns = Netns::new();
    ns.must(&format!(
        "printf '# mine\\nnet.ipv4.tcp_fin_timeout = 45\\n' > {DROPIN}"
    ));
    let out = ns.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_fin_timeout=30"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        ns.file(DROPIN).unwrap(),
        "# mine\nnet.ipv4.tcp_fin_timeout = 30\n"
    );
    let out = ns.twtune(&["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        ns.file(DROPIN).unwrap(),
        "# mine\nnet.ipv4.tcp_fin_timeout = 45\n"
    );
    assert_eq!(ns.sysctl("net.ipv4.tcp_fin_timeout"), "60");

    let out = ns.twtune(&[
        "apply",
        "--yes",
        "--no-persist",
        "--set",
        "net.ipv4.tcp_tw_reuse=0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ns.sysctl("net.ipv4.tcp_tw_reuse"), "0");
    assert_eq!(
        ns.file(DROPIN).unwrap(),
        "# mine\nnet.ipv4.tcp_fin_timeout = 45\n"
    );

    let out = ns.twtune(&[
        "apply",
        "--yes",
        "--persist-only",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        ns.sysctl("net.ipv4.tcp_tw_reuse"),
        "0",
        "--persist-only leaves runtime alone"
    );
    assert!(
        ns.file(DROPIN)
            .unwrap()
            .contains("net.ipv4.tcp_tw_reuse = 1\n")
    );
    ns.assert_host_untouched();
}

/// Asserts the namespace is exactly as a fresh one and no state is left.
fn assert_untouched(ns: &Netns) {
    assert_eq!(defaults(ns), ["60", "2", "32768 60999"]);
    assert_eq!(ns.sysctl("net.ipv4.tcp_syn_retries"), "6");
    assert!(
        ns.ls("/etc/sysctl.d").iter().all(|f| !f.contains("twtune")),
        "{:?}",
        ns.ls("/etc/sysctl.d")
    );
    assert_eq!(ns.file(JOURNAL), None);
    assert_eq!(ns.file(LAST), None);
}

#[test]
fn the_kernel_rejecting_the_second_of_three_keys_restores_the_first() {
    needs!(Need::Root);
    let ns = Netns::new();
    // tcp_syn_retries is capped at 127 by the kernel (MAX_TCP_SYNCNT); twtune
    // has no table entry for it, so only the kernel can say no.
    let out = ns.twtune(&[
        "apply",
        "--yes",
        "--set",
        "net.ipv4.tcp_fin_timeout=30",
        "--set",
        "net.ipv4.tcp_syn_retries=200",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("net.ipv4.tcp_syn_retries") && err.contains("the kernel rejected the value"),
        "{err}"
    );
    assert!(
        err.contains("restored net.ipv4.tcp_fin_timeout = 60")
            && err.contains("nothing is left changed"),
        "{err}"
    );
    assert_untouched(&ns);
    ns.assert_host_untouched();
}

#[test]
fn a_key_the_kernel_makes_read_only_is_refused_and_the_first_restored() {
    needs!(Need::Root);
    let ns = Netns::new();
    // Outside the initial namespace the kernel registers net.core.rmem_default 0444.
    let out = ns.twtune(&[
        "apply",
        "--yes",
        "--set",
        "net.ipv4.tcp_fin_timeout=30",
        "--set",
        "net.core.rmem_default=100000",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("net.core.rmem_default") && err.contains("read-only"),
        "{err}"
    );
    assert!(err.contains("Permission denied"), "EACCES: {err}");
    assert_untouched(&ns);
    ns.assert_host_untouched();
}

#[test]
fn values_are_validated_before_anything_is_written() {
    needs!(Need::Root);
    let ns = Netns::new();
    for (set, says) in [
        (
            "net.ipv4.ip_local_port_range=40000 30000",
            "above the high port",
        ),
        ("net.ipv4.tcp_tw_reuse=3", "0, 1 or 2"),
        ("kernel.panic=1", "outside net.ipv4"),
        (
            "net.ipv4.tcp_no_such_key=1",
            "does not exist on this kernel",
        ),
    ] {
        let out = ns.twtune(&[
            "apply",
            "--yes",
            "--set",
            "net.ipv4.tcp_fin_timeout=30",
            "--set",
            set,
        ]);
        assert_eq!(out.status.code(), Some(1), "{set}");
        let err = stderr(&out);
        assert!(
            err.contains(says) && !err.contains("panicked"),
            "{set}: {err}"
        );
        assert_untouched(&ns);
    }
    ns.assert_host_untouched();
}

// The pause hook exists only in a binary built with `--features test-hooks`.
#[test]
fn kill_9_after_the_first_write_leaves_a_journal_that_rollback_resolves() {
    needs!(Need::Root, Need::TestHooks);
    let ns = Netns::new();
    let marker = tempfile::tempdir().unwrap();
    let pause = marker.path().join("paused");
    let mut child = ns
        .command(BIN)
        .args(["apply", "--yes"])
        .args(THREE)
        .env("TWTUNE_TEST_PAUSE_AFTER_FIRST_WRITE", &pause)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the applier to pause after its first write", || {
        pause.exists()
    });
    assert_eq!(
        ns.sysctl("net.ipv4.tcp_fin_timeout"),
        "30",
        "the first key is written"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();

    assert_eq!(
        defaults(&ns),
        ["30", "2", "32768 60999"],
        "killed between writes"
    );
    let journal: serde_json::Value =
        serde_json::from_str(&ns.file(JOURNAL).expect("journal left")).unwrap();
    assert_eq!(journal["runtime"][0]["old"], "60");
    assert!(ns.ls("/etc/sysctl.d").iter().all(|f| f != "90-twtune.conf"));

    for command in ["check", "facts", "rules"] {
        let out = ns.twtune(&[command]);
        assert!(
            stderr(&out).contains("was interrupted"),
            "{command}: {}",
            stderr(&out)
        );
    }
    let refused = apply_three(&ns, &["--yes"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("twtune rollback"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        ns.sysctl("net.ipv4.tcp_fin_timeout"),
        "30",
        "a refused apply changes nothing"
    );

    let dry = ns.twtune(&["rollback", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(2), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("net.ipv4.tcp_fin_timeout: 30 → 60"),
        "{}",
        stdout(&dry)
    );
    let undo = ns.twtune(&["rollback", "--yes"]);
    assert_eq!(undo.status.code(), Some(0), "{}", stderr(&undo));
    assert_untouched(&ns);
    assert!(
        ns.ls("/etc/sysctl.d").is_empty(),
        "the staged temporary file is cleaned up"
    );
    let facts = ns.twtune(&["facts"]);
    assert!(!stderr(&facts).contains("interrupted"));
    ns.assert_host_untouched();
}

// The pause hook exists only in a binary built with `--features test-hooks`.
#[test]
fn a_second_concurrent_apply_waits_then_fails_and_the_first_completes() {
    needs!(Need::Root, Need::TestHooks);
    let ns = Netns::new();
    let marker = tempfile::tempdir().unwrap();
    let pause = marker.path().join("paused");
    let first = ns
        .command(BIN)
        .args(["apply", "--yes"])
        .args(THREE)
        .env("TWTUNE_TEST_PAUSE_AFTER_FIRST_WRITE", &pause)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first apply to hold the lock mid-way", || {
        pause.exists()
    });

    let facts = ns.twtune(&["facts"]);
    assert!(
        stderr(&facts).contains("is under way"),
        "{}",
        stderr(&facts)
    );
    let second = ns
        .command(BIN)
        .args(["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=0"])
        .env("TWTUNE_LOCK_WAIT_MS", "300")
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains("another twtune apply or rollback holds"),
        "{}",
        stderr(&second)
    );
    let rollback = ns
        .command(BIN)
        .args(["rollback", "--yes"])
        .env("TWTUNE_LOCK_WAIT_MS", "300")
        .output()
        .unwrap();
    assert_eq!(
        rollback.status.code(),
        Some(1),
        "rollback does not race a live apply"
    );

    std::fs::remove_file(&pause).unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(defaults(&ns), ["30", "1", "10000 60999"]);
    ns.assert_host_untouched();
}

#[test]
fn a_read_back_that_differs_restores_what_was_written() {
    needs!(Need::Root);
    let ns = Netns::new();
    // The kernel keeps reserved ports as a bitmap and prints adjacent ports
    // as a range: "1000,1001" is accepted and reads back as "1000-1001".
    let out = ns.twtune(&[
        "apply",
        "--yes",
        "--set",
        "net.ipv4.tcp_fin_timeout=30",
        "--set",
        "net.ipv4.ip_local_reserved_ports=1000,1001",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "net.ipv4.ip_local_reserved_ports: wrote \"1000,1001\" but it reads back as \"1000-1001\""
        ),
        "{err}"
    );
    assert!(
        err.contains("restored net.ipv4.ip_local_reserved_ports = , net.ipv4.tcp_fin_timeout = 60"),
        "{err}"
    );
    assert_eq!(ns.sysctl("net.ipv4.ip_local_reserved_ports"), "");
    assert_untouched(&ns);
    ns.assert_host_untouched();
}

#[test]
fn a_symlink_planted_at_the_drop_in_is_refused_not_followed() {
    needs!(Need::Root);
    let ns = Netns::new();
    let victim = tempfile::tempdir().unwrap();
    let target = victim.path().join("precious");
    std::fs::write(&target, "precious\n").unwrap();
    ns.must(&format!("ln -s {} {DROPIN}", target.display()));
    let out = apply_three(&ns, &["--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "/etc/sysctl.d/90-twtune.conf is a symbolic link; twtune does not write through links"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert_eq!(defaults(&ns), ["60", "2", "32768 60999"]);
    assert_eq!(ns.file(JOURNAL), None);
    ns.assert_host_untouched();
}

#[test]
fn a_full_disk_for_the_drop_in_changes_nothing() {
    needs!(Need::Root);
    let ns = Netns::new();
    // One page of tmpfs, filled: the drop-in cannot be written.
    ns.must("umount /etc/sysctl.d && mount -t tmpfs -o size=4k twtune-full /etc/sysctl.d && (dd if=/dev/zero of=/etc/sysctl.d/filler bs=4096 count=4 2>/dev/null || true)");
    let out = apply_three(&ns, &["--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("/etc/sysctl.d/90-twtune.conf") && err.contains("No space left"),
        "{err}"
    );
    assert_untouched(&ns);
    assert_eq!(ns.ls("/etc/sysctl.d"), ["filler"], "no temporary file left");
    ns.assert_host_untouched();
}

#[test]
fn a_full_disk_for_the_state_changes_nothing_journal_or_last_apply() {
    needs!(Need::Root);
    // /var/lib on a 4-page tmpfs. First completely full: the journal, written
    // before any change, cannot be. Then with one page left: the journal fits
    // (one page) but the last-apply record, staged before the first change,
    // does not — the apply must end "not applied", never "applied, failed".
    for (filler_pages, what) in [(4, "journal.json"), (3, "last-apply.json")] {
        let ns = Netns::new();
        ns.must(&format!(
            "umount /var/lib && mount -t tmpfs -o size=16k twtune-full /var/lib && mkdir -m 0700 /var/lib/twtune && (dd if=/dev/zero of=/var/lib/filler bs=4096 count={filler_pages} 2>/dev/null || true)"
        ));
        let out = apply_three(&ns, &["--yes"]);
        assert_eq!(out.status.code(), Some(1), "{what}");
        let err = stderr(&out);
        assert!(
            err.contains(what) && err.contains("No space left"),
            "{what}: {err}"
        );
        assert_untouched(&ns);
        assert_eq!(
            ns.ls("/var/lib/twtune"),
            ["lock"],
            "{what}: no record, no temporary file left"
        );
        ns.assert_host_untouched();
    }
}

#[test]
fn read_only_folders_change_nothing() {
    needs!(Need::Root);
    // The drop-in's folder read-only: staging fails before the first write.
    // The state folder read-only: the journal cannot be written, so nothing starts.
    for (folder, says) in [
        ("/etc/sysctl.d", "/etc/sysctl.d/90-twtune.conf"),
        ("/var/lib", "/var/lib/twtune"),
    ] {
        let ns = Netns::new();
        ns.must(&format!("mount -o remount,ro {folder}"));
        let out = apply_three(&ns, &["--yes"]);
        assert_eq!(out.status.code(), Some(1), "{folder}");
        let err = stderr(&out);
        assert!(
            err.contains(says) && err.contains("Read-only file system"),
            "{folder}: {err}"
        );
        assert_untouched(&ns);
        ns.assert_host_untouched();
    }
}

#[test]
fn without_a_terminal_and_without_yes_nothing_is_changed() {
    needs!(Need::Root);
    let ns = Netns::new();
    let out = apply_three(&ns, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not on a terminal and --yes was not given"),
        "{}",
        stderr(&out)
    );
    assert_untouched(&ns);
    ns.assert_host_untouched();
}

/// A private tmux server, killed (with whatever still runs in it) on drop,
/// so a failed test leaves no prompt waiting for input.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        stdout(&self.run(&["capture-pane", "-p"]))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Drives the confirmation prompt through a real terminal (tmux).
fn prompt_answered(ns: &Netns, answer: &str) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    let tmux = Tmux {
        socket: format!("twtune-test-{}-{answer}", std::process::id()),
    };
    let script = format!(
        "nsenter -t {} -n -m -- {BIN} apply --set net.ipv4.tcp_fin_timeout=30; echo $? > {}; sleep 60",
        ns.holder_pid(),
        status.display()
    );
    let started = tmux.run(&["new-session", "-d", "-x", "160", "-y", "40", &script]);
    assert!(started.status.success(), "tmux: {}", stderr(&started));
    wait_for("the confirmation prompt", || {
        tmux.screen().contains("Apply these changes?")
    });
    let screen = tmux.screen();
    assert!(
        screen.contains("net.ipv4.tcp_fin_timeout: 60 → 30"),
        "the plan is shown first: {screen}"
    );
    tmux.run(&["send-keys", answer]);
    wait_for("twtune to exit", || {
        std::fs::read_to_string(&status).is_ok_and(|s| s.ends_with('\n'))
    });
    std::fs::read_to_string(&status)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn on_a_terminal_the_prompt_decides() {
    needs!(Need::Root);
    let ns = Netns::new();
    assert_eq!(
        prompt_answered(&ns, "n"),
        2,
        "declined: changes still pending"
    );
    assert_eq!(ns.sysctl("net.ipv4.tcp_fin_timeout"), "60");
    assert_eq!(prompt_answered(&ns, "y"), 0);
    assert_eq!(ns.sysctl("net.ipv4.tcp_fin_timeout"), "30");
    ns.assert_host_untouched();
}

#[test]
fn the_readme_flow_fixes_what_check_finds() {
    needs!(Need::Root);
    let ns = Netns::new();
    ns.must("echo 0 > /proc/sys/net/ipv4/tcp_timestamps && echo '32768 33000' > /proc/sys/net/ipv4/ip_local_port_range");
    assert_eq!(ns.twtune(&["check"]).status.code(), Some(2));

    let dry = ns.twtune(&["--format", "json", "apply", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(2), "{}", stderr(&dry));
    let plan: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let changes: Vec<(&str, &str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap(),
                c["to"].as_str().unwrap(),
                c["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        changes.contains(&("net.ipv4.tcp_timestamps", "1", "tcp-timestamps-off")),
        "{changes:?}"
    );
    // The narrow-range warning outranks the parity advice for the same key.
    assert!(
        changes
            .iter()
            .any(|c| c.0 == "net.ipv4.ip_local_port_range" && c.1 == "32768 60999"),
        "{changes:?}"
    );

    let applied = ns.twtune(&["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let check = ns.twtune(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    let again = ns.twtune(&["apply", "--dry-run"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    let undo = ns.twtune(&["rollback", "--yes"]);
    assert_eq!(undo.status.code(), Some(0), "{}", stderr(&undo));
    assert_eq!(ns.sysctl("net.ipv4.tcp_timestamps"), "0");
    assert_eq!(ns.sysctl("net.ipv4.ip_local_port_range"), "32768 33000");
    assert_eq!(ns.twtune(&["check"]).status.code(), Some(2));
    ns.assert_host_untouched();
}
