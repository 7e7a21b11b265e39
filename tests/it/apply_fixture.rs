//! `twtune apply` against fixture trees (`--root`): the plan, its JSON, the
//! persisted-file warnings, refusals, and a kernel that does not keep what
//! was written (simulated: a key that is a link to /dev/null).

use crate::support::{Scenario as Fixture, stderr, stdout};
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn the_json_plan_lists_each_change_and_the_drop_in_diff() {
    let fx = Fixture::new();
    let out = fx.twtune(&[
        "--format",
        "json",
        "apply",
        "--dry-run",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
        "--set",
        "net.ipv4.ip_local_port_range=10000\t60999",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let plan = json(&out);
    assert_eq!(plan["schema_version"], 2);
    assert_eq!(plan["changed"], true);
    assert_eq!(
        plan["comment"],
        "would change 2 keys: net.ipv4.tcp_tw_reuse 2 -> 1, net.ipv4.ip_local_port_range 32768 60999 -> 10000 60999; writes /etc/sysctl.d/90-twtune.conf"
    );
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["empty"], false);
    assert_eq!(plan["changes"][0]["key"], "net.ipv4.tcp_tw_reuse");
    assert_eq!(plan["changes"][0]["from"], "2");
    assert_eq!(plan["changes"][0]["to"], "1");
    assert_eq!(plan["changes"][0]["rule"], Value::Null);
    assert_eq!(
        plan["changes"][1]["from"], "32768 60999",
        "whitespace folded"
    );
    assert_eq!(plan["changes"][1]["to"], "10000 60999");
    assert_eq!(plan["persist"]["file"], "/etc/sysctl.d/90-twtune.conf");
    assert_eq!(plan["persist"]["exists"], false);
    let diff = plan["persist"]["diff"].as_str().unwrap();
    assert!(diff.contains("+net.ipv4.tcp_tw_reuse = 1\n"), "{diff}");
    assert_eq!(fx.read("etc/sysctl.d/90-twtune.conf"), None);
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_reuse").unwrap(), "2\n");
}

#[test]
fn a_later_file_that_wins_at_boot_becomes_the_file_persisted_to() {
    let fx = Fixture::new();
    fx.put("etc/sysctl.conf", "# local\nnet.ipv4.tcp_tw_reuse = 0\n");
    // Debian links 99-sysctl.conf to ../sysctl.conf: the value is persisted
    // in the real file, its line edited in place, not in a drop-in it beats.
    std::fs::create_dir_all(fx.path("etc/sysctl.d")).unwrap();
    std::os::unix::fs::symlink("../sysctl.conf", fx.path("etc/sysctl.d/99-sysctl.conf")).unwrap();
    fx.put(
        "usr/lib/sysctl.d/50-default.conf",
        "net.ipv4.tcp_tw_reuse = 2\n",
    );
    let out = fx.twtune(&[
        "--format",
        "json",
        "apply",
        "--dry-run",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let plan = json(&out);
    assert_eq!(plan["persist"]["file"], "/etc/sysctl.conf");
    let diff = plan["persist"]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-net.ipv4.tcp_tw_reuse = 0\n+net.ipv4.tcp_tw_reuse = 1\n"),
        "{diff}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("/etc/sysctl.d/99-sysctl.conf:2 sets 0 and wins over /etc/sysctl.d/90-twtune.conf at boot")
            && err.contains("persisting in /etc/sysctl.conf instead"),
        "{err}"
    );
    assert!(
        !err.contains("50-default.conf"),
        "an earlier file does not win: {err}"
    );

    let out = fx.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fx.read("etc/sysctl.conf").unwrap(),
        "# local\nnet.ipv4.tcp_tw_reuse = 1\n"
    );
    assert_eq!(fx.read("etc/sysctl.d/90-twtune.conf"), None);
    // Nothing left to win over it: the same request is now empty.
    let out = fx.twtune(&["apply", "--dry-run", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn persist_to_must_be_a_file_read_at_boot() {
    let fx = Fixture::new();
    for (file, says) in [
        ("/tmp/twtune.conf", "not read at boot"),
        ("/etc/sysctl.d/90-twtune", "*.conf"),
        ("relative.conf", "absolute"),
    ] {
        let out = fx.twtune(&[
            "apply",
            "--dry-run",
            "--persist-to",
            file,
            "--set",
            "net.ipv4.tcp_tw_reuse=1",
        ]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        assert!(stderr(&out).contains(says), "{file}: {}", stderr(&out));
    }
}

#[test]
fn a_sysctl_linked_out_of_the_tree_is_neither_read_nor_written() {
    // A hostile tree: its tcp_tw_reuse is a link to a file outside it (here
    // a victim file; ROOT/proc -> /proc would be the host's own sysctls).
    let fx = Fixture::new();
    let victim = tempfile::tempdir().unwrap();
    let target = victim.path().join("precious");
    std::fs::write(&target, "2\n").unwrap();
    std::fs::remove_file(fx.path("proc/sys/net/ipv4/tcp_tw_reuse")).unwrap();
    std::os::unix::fs::symlink(&target, fx.path("proc/sys/net/ipv4/tcp_tw_reuse")).unwrap();
    let out = fx.twtune(&[
        "apply",
        "--yes",
        "--set",
        "net.ipv4.tcp_fin_timeout=30",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("net.ipv4.tcp_tw_reuse"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "2\n");
    assert_eq!(
        fx.read("proc/sys/net/ipv4/tcp_fin_timeout").unwrap(),
        "60\n"
    );
    assert_eq!(fx.read("etc/sysctl.d/90-twtune.conf"), None);
    assert!(!fx.path("var/lib/twtune/journal.json").exists());
    assert!(!fx.path("var/lib/twtune/last-apply.json").exists());
}

#[test]
fn a_proc_folder_linked_out_of_the_tree_is_refused() {
    // ROOT/proc/sys/net -> a folder outside the tree: the write would land there.
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    let ipv4 = outside.path().join("ipv4");
    std::fs::create_dir_all(&ipv4).unwrap();
    for (key, value) in [("tcp_tw_reuse", "2\n"), ("tcp_fin_timeout", "60\n")] {
        std::fs::write(ipv4.join(key), value).unwrap();
    }
    let net = fx.path("proc/sys/net");
    std::fs::rename(&net, fx.path("proc/sys/net-real")).unwrap();
    std::os::unix::fs::symlink(outside.path(), &net).unwrap();
    let out = fx.twtune(&[
        "apply",
        "--yes",
        "--no-persist",
        "--set",
        "net.ipv4.tcp_fin_timeout=30",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("leaves the root"), "{err}");
    assert_eq!(
        std::fs::read_to_string(ipv4.join("tcp_fin_timeout")).unwrap(),
        "60\n"
    );
    assert!(!fx.path("var/lib/twtune/journal.json").exists());
}

#[test]
fn bad_arguments_fail_clearly_and_change_nothing() {
    let fx = Fixture::new();
    for (args, says) in [
        (vec!["--set", "net.ipv4.tcp_tw_reuse"], "expected KEY=VALUE"),
        (
            vec![
                "--set",
                "net.ipv4.tcp_tw_reuse=1",
                "--set",
                "net.ipv4.tcp_tw_reuse=0",
            ],
            "set twice",
        ),
        (
            vec![
                "--set",
                "net.ipv4.tcp_tw_reuse=1",
                "--only",
                "net.ipv4.tcp_fin_timeout",
            ],
            "outside --only",
        ),
        (
            vec!["--set", "net.ipv4.tcp_tw_reuse_delay=10"],
            "does not exist on this kernel",
        ),
        (
            vec!["--set", "net.ipv4.tcp_fin_timeout=1 2 3"],
            "one integer is needed",
        ),
        (vec!["--set", "vm.swappiness=10"], "outside net.ipv4"),
        (vec!["--only", "kernel.panic"], "--only"),
        (
            vec!["--skip", "no-such-rule"],
            "--skip no-such-rule: no rule has this id",
        ),
    ] {
        let mut all = vec!["apply", "--yes"];
        all.extend(args.iter().copied());
        let out = fx.twtune(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(says) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_reuse").unwrap(), "2\n");
    assert_eq!(
        fx.read("proc/sys/net/ipv4/tcp_fin_timeout").unwrap(),
        "60\n"
    );
    assert!(!fx.path("etc/sysctl.d/90-twtune.conf").exists());
}

#[test]
fn a_damaged_journal_stops_apply_and_is_named() {
    let fx = Fixture::new();
    fx.put("var/lib/twtune/journal.json", "{ not json");
    let out = fx.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("journal.json is damaged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_reuse").unwrap(), "2\n");
}

#[test]
fn an_empty_plan_exits_zero_in_both_formats() {
    let fx = Fixture::new();
    let out = fx.twtune(&[
        "apply",
        "--dry-run",
        "--set",
        "net.ipv4.tcp_tw_reuse=2",
        "--no-persist",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Nothing to change"));
    let out = fx.twtune(&["--format", "json", "apply", "--yes", "--no-persist"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = json(&out);
    assert_eq!(plan["empty"], true);
    assert_eq!(
        plan["changed"], false,
        "configuration management reads this"
    );
    assert_eq!(plan["comment"], "nothing to change");
}

/// A journal as a crashed apply would leave it, with `runtime` and `persist` crafted.
fn crafted_journal(runtime: &str, persist: &str) -> String {
    format!(
        r#"{{"version":1,"operation":"apply","pid":4242,"started":0,"runtime":[{runtime}],"persist":{persist}}}"#
    )
}

fn plant_state(fx: &Fixture, file: &str, text: &str) {
    let dir = fx.path("var/lib/twtune");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(dir.join(file), text).unwrap();
}

#[test]
fn a_crafted_journal_cannot_make_rollback_write_a_sysctl_outside_the_managed_trees() {
    let fx = Fixture::new();
    fx.put("proc/sys/kernel/core_pattern", "core\n");
    plant_state(
        &fx,
        "journal.json",
        &crafted_journal(
            r#"{"key":"kernel.core_pattern","old":"|/tmp/evil","new":"core"}"#,
            "null",
        ),
    );
    let out = fx.twtune(&["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("journal.json is damaged or not a record twtune wrote")
            && err.contains("outside net.ipv4"),
        "{err}"
    );
    assert_eq!(fx.read("proc/sys/kernel/core_pattern").unwrap(), "core\n");
}

#[test]
fn a_crafted_journal_cannot_make_rollback_delete_or_write_a_file_outside_sysctl_d() {
    for target in [
        "/etc/shadow",
        "/etc/sysctl.d/../shadow",
        "/etc/sysctl.d/x/../../shadow.conf",
    ] {
        let fx = Fixture::new();
        fx.put("etc/shadow", "root:secret\n");
        plant_state(
            &fx,
            "journal.json",
            &crafted_journal(
                "",
                &format!(r#"{{"file":"{target}","old":null,"new":"x","temp":"/etc/shadow"}}"#),
            ),
        );
        let out = fx.twtune(&["rollback", "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{target}");
        assert!(stderr(&out).contains("journal.json"), "{}", stderr(&out));
        assert_eq!(fx.read("etc/shadow").unwrap(), "root:secret\n", "{target}");
    }
}

#[test]
fn the_temporary_path_is_derived_never_read_from_the_journal() {
    let fx = Fixture::new();
    fx.put("etc/important", "keep me\n");
    fx.put("etc/sysctl.d/90-twtune.conf", "net.ipv4.tcp_tw_reuse = 1\n");
    plant_state(
        &fx,
        "journal.json",
        &crafted_journal(
            "",
            r#"{"file":"/etc/sysctl.d/90-twtune.conf","old":null,"new":"net.ipv4.tcp_tw_reuse = 1\n","temp":"/etc/important"}"#,
        ),
    );
    let out = fx.twtune(&["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fx.read("etc/important").unwrap(), "keep me\n");
    assert_eq!(
        fx.read("etc/sysctl.d/90-twtune.conf"),
        None,
        "restored to absent"
    );
}

#[test]
fn a_crafted_last_apply_record_is_refused_and_changes_nothing() {
    let fx = Fixture::new();
    fx.put("etc/passwd", "root:x:0:0\n");
    plant_state(
        &fx,
        "last-apply.json",
        &crafted_journal(
            r#"{"key":"net.ipv4.tcp_tw_reuse","old":"0\nkernel.panic=1","new":"2"}"#,
            r#"{"file":"/etc/passwd","old":null,"new":"x","temp":""}"#,
        ),
    );
    for args in [&["rollback", "--dry-run"][..], &["rollback", "--yes"][..]] {
        let out = fx.twtune(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("last-apply.json"), "{}", stderr(&out));
    }
    assert_eq!(fx.read("etc/passwd").unwrap(), "root:x:0:0\n");
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_reuse").unwrap(), "2\n");
}

#[test]
fn a_state_folder_linked_out_of_the_tree_is_refused() {
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fx.path("var/lib")).unwrap();
    std::os::unix::fs::symlink(outside.path(), fx.path("var/lib/twtune")).unwrap();
    let out = fx.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("var/lib/twtune"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_reuse").unwrap(), "2\n");
    assert_eq!(fx.read("etc/sysctl.d/90-twtune.conf"), None);
}

#[test]
fn a_sysctl_d_folder_linked_out_of_the_tree_is_refused() {
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("90-twtune.conf"), "precious\n").unwrap();
    std::fs::create_dir_all(fx.path("etc")).unwrap();
    std::os::unix::fs::symlink(outside.path(), fx.path("etc/sysctl.d")).unwrap();
    let out = fx.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("leaves the root"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(outside.path().join("90-twtune.conf")).unwrap(),
        "precious\n"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_reuse").unwrap(), "2\n");
}

#[test]
fn links_planted_at_the_state_files_are_never_followed() {
    let fx = Fixture::new();
    let victim = tempfile::tempdir().unwrap();
    let precious = victim.path().join("precious");
    std::fs::write(&precious, "precious\n").unwrap();
    plant_state(&fx, "placeholder", "");
    let state = fx.path("var/lib/twtune");
    // The journal's temporary file: removed, never written through.
    std::os::unix::fs::symlink(&precious, state.join("journal.json.tmp")).unwrap();
    let out = fx.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
    // The lock, dangling: not created through.
    let fx = Fixture::new();
    plant_state(&fx, "placeholder", "");
    let created = victim.path().join("created");
    std::os::unix::fs::symlink(&created, fx.path("var/lib/twtune/lock")).unwrap();
    let out = fx.twtune(&["apply", "--yes", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!created.exists());
    assert_eq!(fx.read("proc/sys/net/ipv4/tcp_tw_reuse").unwrap(), "2\n");
    // The journal itself: refused when read.
    let fx = Fixture::new();
    plant_state(&fx, "placeholder", "");
    std::os::unix::fs::symlink(&precious, fx.path("var/lib/twtune/journal.json")).unwrap();
    let out = fx.twtune(&["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
}

#[test]
fn state_is_written_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec {} --root {} apply --yes --set net.ipv4.tcp_tw_reuse=1",
            crate::support::TWTUNE,
            fx.root().display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = |rel: &str| {
        std::fs::metadata(fx.path(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("var/lib/twtune"), 0o700);
    assert_eq!(mode("var/lib/twtune/last-apply.json"), 0o600);
    assert_eq!(mode("var/lib/twtune/lock"), 0o600);
    assert_eq!(mode("etc/sysctl.d/90-twtune.conf"), 0o644);
}

/// The JSON of `apply` and `rollback`, byte for byte (field names, their
/// order, null vs absent): a contract that a change of how it is built must
/// not move.
#[test]
fn the_plan_and_rollback_json_keep_their_exact_shape() {
    let fx = Fixture::new();
    fx.put(
        "etc/sysctl.d/90-twtune.conf",
        "# mine\nnet.ipv4.tcp_tw_reuse = 0\n",
    );
    let sets = [
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
        "--set",
        "net.ipv4.tcp_fin_timeout=30",
    ];
    let run = |args: &[&str]| {
        let out = fx.twtune(&[&["--format", "json"], args].concat());
        format!("$ twtune {}\n{}", args.join(" "), stdout(&out))
    };
    let mut shown = vec![
        run(&["rollback", "--dry-run"]),
        run(&[&["apply", "--dry-run"][..], &sets].concat()),
        run(&[&["apply", "--yes"][..], &sets].concat()),
        run(&["rollback", "--dry-run"]),
        run(&["rollback", "--yes"]),
    ];
    fx.put(
        "var/lib/twtune/journal.json",
        r#"{"version":1,"operation":"apply","pid":4242,"started":0,
            "runtime":[{"key":"net.ipv4.tcp_fin_timeout","old":"60","new":"30"}],
            "persist":{"file":"/etc/sysctl.d/90-twtune.conf","old":null,"new":"a = 1\n"}}"#,
    );
    shown.push(run(&["rollback", "--dry-run"]));
    shown.push(run(&["rollback", "--yes"]));
    insta::assert_snapshot!(shown.join("\n"));
}
