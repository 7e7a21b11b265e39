//! `check --netns TARGET`, `check --all-netns` and `apply --netns` against
//! real namespaces: a dozen made with `ip netns add`, two held only by a
//! process, TIME_WAIT and CLOSE_WAIT made in some. Every namespace here is
//! made by the test and deleted by a guard, also on failure; the host has
//! other namespaces too (its own, other tests'), so the tests assert on the
//! ones they made, never on totals.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{CloneFlags, setns};
use serde_json::Value;

use crate::support::netns::{assert_private_netns, hold_close_wait, make_time_wait, require_tool};
use crate::support::sandbox::Netns as Sandbox;
use crate::support::tier::Need;
use crate::support::{Scenario, TWTUNE, stderr, stdout, twtune};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A namespace made with `ip netns add ns-<pid>-<tag>-<n>`, deleted on drop.
struct NamedNs {
    name: String,
}

impl NamedNs {
    fn new(tag: &str) -> NamedNs {
        require_tool("ip", "iproute2");
        let name = format!(
            "ns-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            stderr(&out)
        );
        let ns = NamedNs { name };
        let up = Command::new("ip")
            .args(["-n", &ns.name, "link", "set", "lo", "up"])
            .output()
            .unwrap();
        assert!(up.status.success(), "lo up in {}: {}", ns.name, stderr(&up));
        ns
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(self.path()).unwrap().ino()
    }
}

impl Drop for NamedNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A namespace only a process holds (`unshare --net sleep`), killed on drop.
struct HeldNs {
    holder: Child,
}

impl HeldNs {
    fn new() -> HeldNs {
        require_tool("unshare", "util-linux");
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare --net sleep");
        let held = HeldNs { holder };
        // unshare execs sleep once it has its namespace.
        crate::support::sandbox::wait_for("the holder to have its own namespace", || {
            held.inode() != own_inode()
                && std::fs::read_to_string(format!("/proc/{}/comm", held.pid()))
                    .is_ok_and(|c| c.trim() == "sleep")
        });
        held
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid()))
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(self.path()).map(|m| m.ino()).unwrap_or(0)
    }
}

impl Drop for HeldNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn own_inode() -> u64 {
    std::fs::metadata("/proc/self/ns/net").unwrap().ino()
}

/// Runs `body` on a thread inside the namespace file `path`, with lo up.
fn inside<T: Send + 'static>(path: PathBuf, body: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns into a test namespace");
        assert_private_netns();
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .output()
            .unwrap();
        assert!(up.status.success(), "{}", stderr(&up));
        body()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Leaves `count` client-side TIME_WAIT sockets in the namespace at `path`.
fn time_wait_in(path: PathBuf, count: usize) {
    inside(path, move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        make_time_wait(&listener, count, true);
    });
}

/// Makes `count` CLOSE_WAIT sockets in the namespace at `path`; they last as
/// long as the returned streams (and their listener) are held.
fn close_wait_in(path: PathBuf, count: usize) -> (TcpListener, Vec<TcpStream>) {
    inside(path, move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let held = hold_close_wait(&listener, count);
        (listener, held)
    })
}

fn all_netns_json() -> (Value, i32) {
    let out = twtune()
        .args(["check", "--all-netns", "--format", "json"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}), exit {code}: {}\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (doc, code)
}

/// The exit status is the worst namespace's: of every namespace on the host,
/// so also of other tests' namespaces, which may be worse than the ones a
/// test made (one whose gathering failed, say). What a test can hold to: the
/// status word and the exit status agree, the namespaces it made (`ours`)
/// were all checked and none of them is in error, and an error comes from a
/// namespace that is not its own and is named in the report.
fn assert_exit_follows_the_worst_namespace(doc: &Value, code: i32, ours: &[u64]) {
    let status = doc["status"].as_str().unwrap_or_default();
    let expected = match status {
        "compliant" | "incomplete" => 0,
        "changes_pending" => 2,
        _ => 1,
    };
    assert_eq!(code, expected, "exit {code} for status {status:?}: {doc:#}");
    let skipped = doc["skipped"].as_array().expect("skipped[]");
    for inode in ours {
        assert!(
            !skipped.iter().any(|s| s["inode"] == *inode),
            "namespace {inode} was made by this test and skipped: {skipped:#?}"
        );
        assert_ne!(entry(doc, *inode)["status"], "error", "namespace {inode}");
    }
    if code == 1 {
        let foreign_error = doc["namespaces"]
            .as_array()
            .expect("namespaces[]")
            .iter()
            .any(|n| n["status"] == "error")
            || skipped.iter().any(|s| {
                s["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("gathering failed"))
            });
        assert!(foreign_error, "exit 1 with no namespace in error: {doc:#}");
        eprintln!("another namespace on this host is in error: {skipped:#?}");
    }
}

fn entry(doc: &Value, inode: u64) -> &Value {
    doc["namespaces"]
        .as_array()
        .expect("namespaces[]")
        .iter()
        .find(|n| n["inode"] == inode)
        .unwrap_or_else(|| panic!("namespace {inode} not in the report: {doc:#}"))
}

#[test]
fn all_netns_finds_every_namespace_with_its_own_counts_and_names() {
    needs!(Need::Root, Need::Tool("unshare"));
    let named: Vec<NamedNs> = (0..12).map(|_| NamedNs::new("all")).collect();
    let held = [HeldNs::new(), HeldNs::new()];
    // TIME_WAIT in every third named namespace, a different count in each,
    // and in the first process-held one.
    let expected_tw = |i: usize| if i.is_multiple_of(3) { i + 1 } else { 0 };
    for (i, ns) in named.iter().enumerate() {
        if expected_tw(i) > 0 {
            time_wait_in(ns.path(), expected_tw(i));
        }
    }
    time_wait_in(held[0].path(), 4);
    let _close_wait = close_wait_in(named[1].path(), 2);

    let (doc, code) = all_netns_json();
    crate::json_schema::assert_valid("check-all-netns", &doc, "check --all-netns --format json");
    let ours: Vec<u64> = named
        .iter()
        .map(NamedNs::inode)
        .chain(held.iter().map(HeldNs::inode))
        .collect();
    assert_exit_follows_the_worst_namespace(&doc, code, &ours);
    assert!(doc["schema_version"].is_u64(), "{doc:#}");
    assert!(doc["skipped"].is_array(), "{doc:#}");
    for (i, ns) in named.iter().enumerate() {
        let found = entry(&doc, ns.inode());
        assert_eq!(found["names"], serde_json::json!([ns.name]), "{found:#}");
        assert_eq!(found["container"], Value::Null);
        assert_eq!(
            found["facts"]["sockets"]["time_wait"],
            expected_tw(i) as u64,
            "{}",
            ns.name
        );
        let close_wait = if i == 1 { 2 } else { 0 };
        assert_eq!(
            found["facts"]["sockets"]["close_wait"], close_wait,
            "{}",
            ns.name
        );
        assert_eq!(found["facts"]["namespace"]["initial"], false);
        assert_eq!(found["facts"]["namespace"]["net_inode"], ns.inode());
        assert!(found["facts"]["sysctl"]["net.ipv4.tcp_tw_reuse"].is_string());
        assert!(found["findings"].is_array() && found["summary"].is_object());
        let status = found["status"].as_str().unwrap();
        assert!(
            ["compliant", "incomplete", "changes_pending"].contains(&status),
            "{status}"
        );
    }
    for (held, tw) in held.iter().zip([4, 0]) {
        let found = entry(&doc, held.inode());
        assert_eq!(found["names"], serde_json::json!([]));
        assert!(
            found["pids"]
                .as_array()
                .unwrap()
                .contains(&Value::from(held.pid())),
            "{found:#}"
        );
        assert_eq!(found["command"], "sleep");
        assert_eq!(found["facts"]["sockets"]["time_wait"], tw);
    }
    // The host's own namespace is there too, first, and is the initial one.
    let host = entry(&doc, own_inode());
    assert_eq!(doc["namespaces"][0]["inode"], host["inode"]);

    // The table: one row per namespace, its TIME_WAIT in the fifth column.
    let out = twtune().args(["check", "--all-netns"]).output().unwrap();
    // 1 only for another namespace's error (asserted on the JSON above).
    assert!(matches!(out.status.code(), Some(0..=2)), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.starts_with("NAMESPACE "), "{table}");
    for (i, ns) in named.iter().enumerate() {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(ns.name.as_str()))
            .unwrap_or_else(|| panic!("no row for {}:\n{table}", ns.name));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[0], ns.inode().to_string(), "{row}");
        // No process in it: pid and command are "-". A process passing
        // through (another test's `check --all-netns` enters every namespace
        // in turn) may be seen at the listing, never one that stays in it.
        let passing_through = |pid: &str| {
            pid.parse::<u32>().is_ok_and(|pid| {
                std::fs::metadata(format!("/proc/{pid}/ns/net"))
                    .map(|m| m.ino())
                    .ok()
                    != Some(ns.inode())
            })
        };
        assert!(cells[2] == "-" || passing_through(cells[2]), "{row}");
        assert!(["-", "twtune"].contains(&cells[3]), "{row}");
        assert_eq!(cells[4], expected_tw(i).to_string(), "{row}");
    }
    let held_row = table
        .lines()
        .find(|l| l.starts_with(&held[0].inode().to_string()))
        .unwrap_or_else(|| panic!("no row for the held namespace:\n{table}"));
    let cells: Vec<&str> = held_row.split_whitespace().collect();
    assert_eq!(cells[1..5], ["-", &held[0].pid().to_string(), "sleep", "4"]);
}

#[test]
fn all_netns_exit_status_is_the_worst_namespaces() {
    needs!(Need::Root, Need::Tool("unshare"));
    let quiet = NamedNs::new("quiet");
    let ns = NamedNs::new("worst");
    // TCP timestamps off in a namespace of its own: a warning there only.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-qw",
            "net.ipv4.tcp_timestamps=0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (doc, code) = all_netns_json();
    let found = entry(&doc, ns.inode());
    assert_eq!(found["status"], "changes_pending", "{found:#}");
    assert!(
        found["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "net.ipv4.tcp_timestamps" && f["severity"] == "warning"),
        "{found:#}"
    );
    assert_ne!(entry(&doc, quiet.inode())["status"], "changes_pending");
    assert_exit_follows_the_worst_namespace(&doc, code, &[quiet.inode(), ns.inode()]);
    assert_ne!(code, 0, "a namespace with a warning: {doc:#}");
    // The table's row for it names the finding.
    let out = twtune().args(["check", "--all-netns"]).output().unwrap();
    let table = stdout(&out);
    let row = table
        .lines()
        .find(|l| l.contains(&ns.name))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("warning "), "{row}");
}

/// The facts a check's verdict rests on, for comparing two runs.
fn comparable(doc: &Value) -> Value {
    let sockets = &doc["facts"]["sockets"];
    let mut rules: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    rules.sort();
    serde_json::json!({
        "time_wait": sockets["time_wait"],
        "close_wait": sockets["close_wait"],
        "states": sockets["states"],
        "destinations": sockets["destinations"].as_array().map(Vec::len),
        "sysctl": doc["facts"]["sysctl"],
        "initial": doc["facts"]["namespace"]["initial"],
        "net_inode": doc["facts"]["namespace"]["net_inode"],
        "findings": rules,
        "status": doc["status"],
    })
}

#[test]
fn netns_by_name_path_and_pid_agree_with_ip_netns_exec() {
    needs!(Need::Root, Need::Tool("unshare"));
    let ns = NamedNs::new("one");
    time_wait_in(ns.path(), 3);
    let _close_wait = close_wait_in(ns.path(), 2);
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sleep", "600"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = holder.id();
    crate::support::sandbox::wait_for("the holder to enter the namespace", || {
        std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| m.ino() == ns.inode())
    });

    let exec = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, TWTUNE, "check", "--format", "json",
        ])
        .output()
        .unwrap();
    let reference: Value =
        serde_json::from_slice(&exec.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&exec)));
    assert_eq!(reference["facts"]["sockets"]["time_wait"], 3);
    assert_eq!(reference["facts"]["sockets"]["close_wait"], 2);

    let path = ns.path().display().to_string();
    let proc_path = format!("/proc/{pid}/ns/net");
    for target in [ns.name.as_str(), &path, &proc_path, &pid.to_string()] {
        let out = twtune()
            .args(["check", "--format", "json", "--netns", target])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            exec.status.code(),
            "{target}: {}",
            stderr(&out)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(comparable(&doc), comparable(&reference), "--netns {target}");
        let namespace = &doc["facts"]["namespace"];
        assert_eq!(namespace["target"], target);
        assert_eq!(namespace["names"], serde_json::json!([ns.name]));
        assert_eq!(namespace["net_inode"], ns.inode());
        assert_eq!(namespace["holder_pid"], pid, "{namespace:#}");
    }
    // facts --netns reads the same namespace.
    let out = twtune()
        .args(["facts", "--format", "json", "--netns", &ns.name])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let facts: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(facts["facts"]["sockets"]["time_wait"], 3, "{facts:#}");

    // The header says which namespace was checked.
    let human = twtune()
        .args(["check", "--netns", &ns.name])
        .output()
        .unwrap();
    let text = stdout(&human);
    assert!(
        text.contains(&format!("{}, inode {}, pid {pid}", ns.name, ns.inode())),
        "{text}"
    );
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn a_bad_netns_target_is_an_error_naming_it() {
    needs!(Need::Root, Need::Tool("unshare"));
    let regular = tempfile::NamedTempFile::new().unwrap();
    let regular = regular.path().display().to_string();
    let missing = format!("ns-{}-never-made", std::process::id());
    for (args, says) in [
        (
            vec!["check", "--netns", &missing],
            "no network namespace is named",
        ),
        (
            vec!["check", "--netns", &regular],
            "is not a network namespace (a regular file)",
        ),
        (
            vec!["facts", "--netns", "/proc/self/ns/uts"],
            "is not a network namespace (a uts namespace)",
        ),
        (
            vec!["check", "--netns", "999999999"],
            "no process 999999999 is running",
        ),
        (
            vec!["check", "--netns", "/nonexistent/ns"],
            "/nonexistent/ns does not exist",
        ),
        (
            vec!["check", "--all-netns", "--netns", "1"],
            "cannot be used with",
        ),
        // Refused before anything is read or written.
        (
            vec![
                "apply",
                "--dry-run",
                "--netns",
                "/proc/self/ns/net",
                "--persist-only",
            ],
            "--persist-only cannot be combined with --netns",
        ),
        (
            vec![
                "apply",
                "--dry-run",
                "--netns",
                "/proc/self/ns/net",
                "--persist-to",
                "/etc/sysctl.d/x.conf",
            ],
            "cannot be combined with --netns",
        ),
    ] {
        let out = twtune().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let fixture = Scenario::fixture("debian12-defaults");
    let run = fixture.twtune(&["check", "--netns", "/proc/self/ns/net"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("cannot be combined with --root"),
        "{}",
        run.stderr()
    );
}

const DROPIN: &str = "/etc/sysctl.d/90-twtune.conf";
const LAST: &str = "/var/lib/twtune/last-apply.json";

#[test]
fn apply_netns_changes_that_namespace_only_and_rollback_returns_to_it() {
    needs!(Need::Root, Need::Tool("unshare"));
    let sandbox = Sandbox::new();
    // Named inside the sandbox's private /run: gone with it.
    sandbox.must("ip netns add ns-target && ip netns add ns-sibling");
    let in_ns = |name: &str, key: &str| {
        let out = sandbox.sh(&format!(
            "ip netns exec {name} cat /proc/sys/{}",
            key.replace('.', "/")
        ));
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let keys = ["net.ipv4.tcp_fin_timeout", "net.ipv4.ip_local_port_range"];
    let read_all = |name: &str| keys.map(|k| in_ns(name, k));
    let defaults = ["60".to_string(), "32768 60999".to_string()];
    assert_eq!(read_all("ns-target"), defaults);
    let sets = [
        "--set",
        "net.ipv4.tcp_fin_timeout=31",
        "--set",
        "net.ipv4.ip_local_port_range=20000 60999",
    ];

    // The plan says it is runtime only.
    let mut args = vec![
        "apply",
        "--dry-run",
        "--format",
        "json",
        "--netns",
        "ns-target",
    ];
    args.extend(sets);
    let dry = sandbox.twtune(&args);
    assert_eq!(dry.status.code(), Some(2), "{}", stderr(&dry));
    let plan: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(plan["namespace"]["target"], "ns-target");
    assert_eq!(plan["namespace"]["names"], serde_json::json!(["ns-target"]));
    assert_eq!(plan["namespace"]["persisted"], false);
    assert_eq!(plan["persist"], Value::Null, "{plan:#}");
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["runtime"] == true && c["persist"] == false),
        "{plan:#}"
    );

    let mut args = vec!["apply", "--yes", "--netns", "ns-target"];
    args.extend(sets);
    let applied = sandbox.twtune(&args);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let text = stdout(&applied);
    assert!(
        text.contains("Network namespace ns-target (inode ")
            && text.contains("Nothing is persisted"),
        "{text}"
    );
    assert_eq!(read_all("ns-target"), ["31", "20000 60999"]);
    assert_eq!(read_all("ns-sibling"), defaults, "the sibling is untouched");
    assert_eq!(
        keys.map(|k| sandbox.sysctl(k)),
        defaults,
        "the namespace twtune ran in is untouched"
    );
    assert_eq!(sandbox.file(DROPIN), None, "nothing persisted");
    let last: Value = serde_json::from_str(&sandbox.file(LAST).expect("last apply")).unwrap();
    assert_eq!(last["netns"]["target"], "ns-target");
    assert!(last["netns"]["inode"].as_u64().unwrap() > 0);
    assert_eq!(last["persist"], Value::Null);

    // A check of the namespace now sees the new values.
    let check = sandbox.twtune(&["check", "--format", "json", "--netns", "ns-target"]);
    let doc: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(doc["facts"]["sysctl"]["net.ipv4.tcp_fin_timeout"], "31");

    let planned = sandbox.twtune(&["rollback", "--dry-run", "--format", "json"]);
    assert_eq!(planned.status.code(), Some(2), "{}", stderr(&planned));
    let planned: Value = serde_json::from_slice(&planned.stdout).unwrap();
    crate::json_schema::assert_valid("rollback", &planned, "a rollback into a namespace");
    assert_eq!(planned["namespace"]["target"], "ns-target", "{planned:#}");
    assert_eq!(planned["namespace"]["inode"], last["netns"]["inode"]);
    assert!(
        planned["comment"]
            .as_str()
            .unwrap()
            .contains("in network namespace ns-target (inode "),
        "{planned:#}"
    );
    let rolled = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(rolled.status.code(), Some(0), "{}", stderr(&rolled));
    assert!(
        stdout(&rolled).contains("In network namespace ns-target"),
        "{}",
        stdout(&rolled)
    );
    assert_eq!(read_all("ns-target"), defaults);
    assert_eq!(read_all("ns-sibling"), defaults);
    assert_eq!(keys.map(|k| sandbox.sysctl(k)), defaults);

    // Applied again, then the namespace is deleted: nothing to return to.
    let again = sandbox.twtune(&args);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    sandbox.must("ip netns del ns-target");
    let gone = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(gone.status.code(), Some(1), "{}", stdout(&gone));
    assert!(
        stderr(&gone).contains("the network namespace the last apply changed (ns-target, inode")
            && stderr(&gone).contains("is gone"),
        "{}",
        stderr(&gone)
    );
    assert_eq!(keys.map(|k| sandbox.sysctl(k)), defaults);
    assert_eq!(read_all("ns-sibling"), defaults);
    assert_eq!(sandbox.file(DROPIN), None);
}

#[test]
fn an_apply_netns_killed_midway_is_recovered_in_its_namespace() {
    needs!(Need::Root, Need::TestHooks, Need::Tool("unshare"));
    let sandbox = Sandbox::new();
    sandbox.must("ip netns add ns-target");
    let in_target = |key: &str| {
        let out = sandbox.sh(&format!(
            "ip netns exec ns-target cat /proc/sys/{}",
            key.replace('.', "/")
        ));
        stdout(&out).trim().to_string()
    };
    let marker = tempfile::tempdir().unwrap();
    let pause = marker.path().join("paused");
    let mut child = sandbox
        .command(TWTUNE)
        .args([
            "apply",
            "--yes",
            "--netns",
            "ns-target",
            "--set",
            "net.ipv4.tcp_fin_timeout=31",
            "--set",
            "net.ipv4.tcp_tw_reuse=1",
        ])
        .env("TWTUNE_TEST_PAUSE_AFTER_FIRST_WRITE", &pause)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    crate::support::sandbox::wait_for("the applier to pause after its first write", || {
        pause.exists()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let written = [
        in_target("net.ipv4.tcp_fin_timeout"),
        in_target("net.ipv4.tcp_tw_reuse"),
    ];
    assert!(
        written == ["31", "2"] || written == ["60", "1"],
        "one key written before the kill: {written:?}"
    );
    let journal: Value = serde_json::from_str(
        &sandbox
            .file("/var/lib/twtune/journal.json")
            .expect("journal left"),
    )
    .unwrap();
    assert_eq!(journal["netns"]["target"], "ns-target", "{journal:#}");
    let check = sandbox.twtune(&["check"]);
    assert!(
        stderr(&check).contains("in network namespace ns-target (inode "),
        "{}",
        stderr(&check)
    );

    let rolled = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(rolled.status.code(), Some(0), "{}", stderr(&rolled));
    assert_eq!(in_target("net.ipv4.tcp_fin_timeout"), "60");
    assert_eq!(in_target("net.ipv4.tcp_tw_reuse"), "2");
    assert_eq!(sandbox.sysctl("net.ipv4.tcp_fin_timeout"), "60");
    assert_eq!(sandbox.sysctl("net.ipv4.tcp_tw_reuse"), "2");
    assert_eq!(sandbox.file("/var/lib/twtune/journal.json"), None);
    assert_eq!(sandbox.file(DROPIN), None);
}
