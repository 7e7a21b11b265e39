//! `rollback` writes the network namespace the apply changed, or nothing
//! (issue 19 §1): the namespace is recorded by its cookie, which the kernel
//! never reuses, not by its inode, which it does. Everything runs in a
//! sandbox (private network and mount namespaces, tmpfs over /run, /var/lib
//! and /etc/sysctl.d); the namespaces are made inside it and die with it.

use std::process::{Child, Stdio};

use serde_json::Value;

use crate::support::sandbox::Netns as Sandbox;
use crate::support::tier::Need;
use crate::support::{TWTUNE, stderr, stdout};

const LAST: &str = "/var/lib/twtune/last-apply.json";
const FIN: &str = "net.ipv4.tcp_fin_timeout";

/// A sysctl in the named namespace `name` of the sandbox.
fn in_ns(sandbox: &Sandbox, name: &str, key: &str) -> String {
    let out = sandbox.sh(&format!(
        "ip netns exec {name} cat /proc/sys/{}",
        key.replace('.', "/")
    ));
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn set_in_ns(sandbox: &Sandbox, name: &str, key: &str, value: &str) {
    sandbox.must(&format!(
        "ip netns exec {name} sh -c 'echo {value} > /proc/sys/{}'",
        key.replace('.', "/")
    ));
}

fn last_apply(sandbox: &Sandbox) -> Value {
    serde_json::from_str(&sandbox.file(LAST).expect("a last-apply record")).unwrap()
}

fn inode_of(sandbox: &Sandbox, name: &str) -> u64 {
    let out = sandbox.sh(&format!("stat -L -c %i /run/netns/{name}"));
    stdout(&out).trim().parse().unwrap()
}

/// Makes namespace `name` and applies `tcp_fin_timeout = 45` in it with
/// `apply --netns`: the change every rollback here undoes.
fn add_and_apply_in(sandbox: &Sandbox, name: &str) {
    sandbox.must(&format!("ip netns add {name}"));
    let applied = sandbox.twtune(&[
        "apply",
        "--yes",
        "--netns",
        name,
        "--set",
        "net.ipv4.tcp_fin_timeout=45",
    ]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
}

#[test]
fn rollback_refuses_a_namespace_that_only_has_the_recorded_inode() {
    needs!(Need::Root);
    let sandbox = Sandbox::new();
    // blue goes; the kernel gives its inode to a namespace made later. Made
    // one after another and kept, new namespaces take the lowest free inode,
    // so one gets blue's once its cleanup (asynchronous) has freed it —
    // unless a namespace made meanwhile by a test running beside this one
    // takes it first: then blue is made again (the reuse is this test's
    // setting, not what it checks).
    let mut reused = None;
    for attempt in 0..5 {
        let blue = format!("ns-blue{attempt}");
        add_and_apply_in(&sandbox, &blue);
        let last = last_apply(&sandbox);
        let inode = last["netns"]["inode"].as_u64().unwrap();
        let cookie = last["netns"]["cookie"]
            .as_u64()
            .expect("a cookie (Linux 5.14+)");
        assert_eq!(inode, inode_of(&sandbox, &blue));
        assert_eq!(last["netns"]["target"], blue.as_str());
        sandbox.must(&format!("ip netns del {blue}"));
        let made = sandbox.sh(&format!(
            "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); ip netns add ns-new{attempt}-$i || exit 2; \
             [ \"$(stat -L -c %i /run/netns/ns-new{attempt}-$i)\" = {inode} ] && {{ echo ns-new{attempt}-$i; exit 0; }}; done; exit 1"
        ));
        assert_ne!(made.status.code(), Some(2), "{}", stderr(&made));
        if made.status.code() == Some(0) {
            reused = Some((inode, cookie, made));
            break;
        }
    }
    let (inode, cookie, made) =
        reused.expect("no namespace reused a deleted one's inode in 5 tries");
    let newcomer = stdout(&made).trim().to_string();
    set_in_ns(&sandbox, &newcomer, FIN, "20");

    let rolled = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(rolled.status.code(), Some(1), "{}", stdout(&rolled));
    let err = stderr(&rolled);
    assert!(
        err.contains(&format!("has the inode {inode} the last apply recorded"))
            && err.contains(&format!("the apply changed cookie {cookie}"))
            && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!stdout(&rolled).contains("Restored"), "{}", stdout(&rolled));
    assert_eq!(
        in_ns(&sandbox, &newcomer, FIN),
        "20",
        "the newcomer is untouched"
    );
    assert_eq!(
        sandbox.sysctl(FIN),
        "60",
        "the namespace rollback ran in is untouched"
    );
    assert!(
        sandbox.file(LAST).is_some(),
        "the record is kept for the operator"
    );
}

#[test]
fn rollback_refuses_when_the_recorded_cookie_is_not_the_namespaces() {
    needs!(Need::Root);
    let sandbox = Sandbox::new();
    add_and_apply_in(&sandbox, "ns-blue");
    let cookie = last_apply(&sandbox)["netns"]["cookie"].as_u64().unwrap();
    // The record now names blue's inode with another namespace's cookie: the
    // state after an inode reuse, seen from the other side.
    let forged = cookie + 1_000_000;
    sandbox.must(&format!(
        "sed -i 's/\"cookie\": *{cookie}/\"cookie\":{forged}/' {LAST}"
    ));
    assert_eq!(last_apply(&sandbox)["netns"]["cookie"], forged);
    for args in [&["rollback", "--yes"][..], &["rollback", "--dry-run"][..]] {
        let rolled = sandbox.twtune(args);
        assert_eq!(
            rolled.status.code(),
            Some(1),
            "{args:?}: {}",
            stdout(&rolled)
        );
        assert!(
            stderr(&rolled).contains("is another network namespace (cookie"),
            "{}",
            stderr(&rolled)
        );
    }
    assert_eq!(in_ns(&sandbox, "ns-blue", FIN), "45", "blue is not written");
    assert_eq!(sandbox.sysctl(FIN), "60");

    // A cookie 0 (no namespace has one) is refused as a damaged record.
    sandbox.must(&format!(
        "sed -i 's/\"cookie\":{forged}/\"cookie\":0/' {LAST}"
    ));
    assert_eq!(last_apply(&sandbox)["netns"]["cookie"], 0);
    let damaged = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(damaged.status.code(), Some(1));
    assert!(
        stderr(&damaged).contains("cookie 0"),
        "{}",
        stderr(&damaged)
    );
    assert_eq!(in_ns(&sandbox, "ns-blue", FIN), "45");

    // Without a cookie (a kernel before 5.14 wrote no cookie), a namespace
    // other than the initial one cannot be proved the same: refused.
    sandbox.must(&format!("sed -i 's/\"cookie\":0,//' {LAST}"));
    assert_eq!(last_apply(&sandbox)["netns"].get("cookie"), None);
    for args in [&["rollback", "--yes"][..], &["rollback", "--dry-run"][..]] {
        let unsure = sandbox.twtune(args);
        assert_eq!(unsure.status.code(), Some(1), "{}", stdout(&unsure));
        assert!(
            stderr(&unsure).contains("without its cookie") && stderr(&unsure).contains("refusing"),
            "{}",
            stderr(&unsure)
        );
    }
    assert_eq!(in_ns(&sandbox, "ns-blue", FIN), "45");
    assert_eq!(sandbox.sysctl(FIN), "60");
}

#[test]
fn an_apply_run_by_ip_netns_exec_is_rolled_back_in_that_namespace_never_the_host() {
    needs!(Need::Root);
    let sandbox = Sandbox::new();
    sandbox.must("ip netns add ns-blue");
    // The sandbox plays the host: 50 there, blue at its default 60.
    sandbox.must("echo 50 > /proc/sys/net/ipv4/tcp_fin_timeout");
    let applied = sandbox
        .command("ip")
        .args([
            "netns",
            "exec",
            "ns-blue",
            TWTUNE,
            "apply",
            "--yes",
            "--set",
            "net.ipv4.tcp_fin_timeout=45",
        ])
        .output()
        .unwrap();
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert_eq!(in_ns(&sandbox, "ns-blue", FIN), "45");
    let last = last_apply(&sandbox);
    assert_eq!(
        last["netns"]["inode"],
        inode_of(&sandbox, "ns-blue"),
        "{last:#}"
    );
    assert!(last["netns"]["cookie"].as_u64().is_some(), "{last:#}");
    assert_eq!(last["netns"].get("target"), None, "no --netns was given");

    let dry = sandbox.twtune(&["rollback", "--dry-run", "--format", "json"]);
    assert_eq!(dry.status.code(), Some(2), "{}", stderr(&dry));
    let dry: Value = serde_json::from_slice(&dry.stdout).unwrap();
    crate::json_schema::assert_valid(
        "rollback",
        &dry,
        "a rollback into the namespace an apply ran in",
    );
    assert_eq!(dry["namespace"]["inode"], last["netns"]["inode"], "{dry:#}");
    assert_eq!(
        dry["namespace"]["cookie"], last["netns"]["cookie"],
        "{dry:#}"
    );
    assert_eq!(dry["changes"][0]["to"], "60", "blue's old value: {dry:#}");

    let rolled = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(rolled.status.code(), Some(0), "{}", stderr(&rolled));
    assert!(
        stdout(&rolled).contains("In network namespace "),
        "{}",
        stdout(&rolled)
    );
    assert_eq!(in_ns(&sandbox, "ns-blue", FIN), "60", "blue restored");
    assert_eq!(sandbox.sysctl(FIN), "50", "the host is never written");

    // Applied again the same way, then blue is deleted: nothing to return
    // to, and the host is not a stand-in.
    let again = sandbox
        .command("ip")
        .args([
            "netns",
            "exec",
            "ns-blue",
            TWTUNE,
            "apply",
            "--yes",
            "--set",
            "net.ipv4.tcp_fin_timeout=45",
        ])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    sandbox.must("ip netns del ns-blue");
    let gone = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(gone.status.code(), Some(1), "{}", stdout(&gone));
    assert!(stderr(&gone).contains("is gone"), "{}", stderr(&gone));
    assert_eq!(sandbox.sysctl(FIN), "50", "the host is never written");
}

/// A process of the sandbox that keeps a namespace open on descriptor 3 and
/// is in none of it: the namespace's only holder once its name is gone.
struct HeldByDescriptor(Child);

impl HeldByDescriptor {
    fn new(sandbox: &Sandbox, name: &str) -> HeldByDescriptor {
        let mut holder = sandbox
            .command("sh")
            .args([
                "-c",
                &format!("exec 3</run/netns/{name}; echo held; exec sleep infinity"),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "held");
        HeldByDescriptor(holder)
    }
}

impl Drop for HeldByDescriptor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_namespace_held_only_by_an_open_descriptor_is_found_and_rolled_back() {
    needs!(Need::Root);
    let sandbox = Sandbox::new();
    add_and_apply_in(&sandbox, "ns-fd");
    let inode = last_apply(&sandbox)["netns"]["inode"].as_u64().unwrap();
    let holder = HeldByDescriptor::new(&sandbox, "ns-fd");
    let fd = format!("/proc/{}/fd/3", holder.0.id());
    // The name goes; the descriptor keeps the namespace alive.
    sandbox.must("ip netns del ns-fd");
    let read_fin = || {
        let out = sandbox.sh(&format!(
            "nsenter --net={fd} cat /proc/sys/net/ipv4/tcp_fin_timeout"
        ));
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    assert_eq!(read_fin(), "45");
    let all = sandbox.twtune(&["check", "--all-netns", "--format", "json"]);
    let doc: Value =
        serde_json::from_slice(&all.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&all)));
    assert!(
        doc["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["inode"] == inode),
        "the descriptor-held namespace is listed: {doc:#}"
    );

    let rolled = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(rolled.status.code(), Some(0), "{}", stderr(&rolled));
    assert_eq!(read_fin(), "60", "restored through the descriptor");
    assert_eq!(sandbox.sysctl(FIN), "60");
}

#[test]
fn a_namespace_held_only_by_a_bind_mount_outside_run_netns_is_found_and_rolled_back() {
    needs!(Need::Root);
    let sandbox = Sandbox::new();
    add_and_apply_in(&sandbox, "ns-bm");
    // Where docker keeps its namespaces, say: not /run/netns. /var/lib is
    // the sandbox's tmpfs.
    sandbox.must(
        "touch /var/lib/held-ns && mount --bind /run/netns/ns-bm /var/lib/held-ns && ip netns del ns-bm",
    );
    let read_fin = || {
        let out =
            sandbox.sh("nsenter --net=/var/lib/held-ns cat /proc/sys/net/ipv4/tcp_fin_timeout");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    assert_eq!(read_fin(), "45");
    let rolled = sandbox.twtune(&["rollback", "--yes"]);
    assert_eq!(rolled.status.code(), Some(0), "{}", stderr(&rolled));
    assert_eq!(read_fin(), "60", "restored through the bind mount");
    assert_eq!(sandbox.sysctl(FIN), "60");
    sandbox.must("umount /var/lib/held-ns");
}
