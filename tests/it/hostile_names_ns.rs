//! Nothing a local user names can break root's output (issue 19 §2, §6):
//! processes that named themselves with a newline, DEL, C1 controls or
//! bytes that are not UTF-8, holding CLOSE_WAIT sockets; a loopback renamed
//! to bytes that are not UTF-8; another type of namespace bind-mounted under
//! /run/netns. All inside a sandbox (private network and mount namespaces,
//! tmpfs over /run, /var/lib and /etc/sysctl.d).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::support::netns::require_tool;
use crate::support::sandbox::Netns as Sandbox;
use crate::support::tier::Need;
use crate::support::{stderr, stdout};

/// Makes a CLOSE_WAIT socket (its peer closed, it did not), then names
/// itself with the bytes given in hex (prctl(PR_SET_NAME) by another name:
/// a write to /proc/self/comm), and holds it until its stdin closes.
const HOLDER: &str = r#"
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept()
a.close()
srv.close()
with open("/proc/self/comm", "wb") as comm:
    comm.write(bytes.fromhex(sys.argv[1]))
print("ready", flush=True)
sys.stdin.read()
"#;

struct Holder(Child);

impl Holder {
    fn new(sandbox: &Sandbox, name: &[u8]) -> Holder {
        let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let mut child = sandbox
            .command("python3")
            .args(["-c", HOLDER, &hex])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the holder failed");
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The names, and how twtune must report them (bytes that are not UTF-8
/// written `\xNN`; JSON carries the rest as it is, escaped by JSON).
const NAMES: &[(&[u8], &str)] = &[
    ("\n✓ all ok".as_bytes(), "\n✓ all ok"),
    (b"a\x7fb\xc2\x85c\xc2\x9b", "a\u{7f}b\u{85}c\u{9b}"),
    (b"\xff\xfe\n\xe2\x9c\x93 x", "\\xff\\xfe\n✓ x"),
];

fn parse(out: &std::process::Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}), exit {:?}:\n{}\n{}",
            out.status.code(),
            stdout(out),
            stderr(out)
        )
    })
}

#[test]
fn hostile_process_names_give_valid_json_and_forge_no_line() {
    needs!(Need::Root, Need::Tool("python3"));
    require_tool("python3", "python3");
    let sandbox = Sandbox::new();
    sandbox.must("ip link set lo up");
    let _holders: Vec<Holder> = NAMES
        .iter()
        .map(|(name, _)| Holder::new(&sandbox, name))
        .collect();

    for args in [
        &["check", "--format", "json"][..],
        &["facts", "--format", "json"][..],
        &["apply", "--dry-run", "--format", "json"][..],
    ] {
        let out = sandbox.twtune(args);
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{args:?}: {}",
            stderr(&out)
        );
        let doc = parse(&out, &args.join(" "));
        let text = stdout(&out);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: a raw control character in the JSON: {text:?}"
        );
        if args[0] == "apply" {
            continue;
        }
        let commands: Vec<&str> = doc["facts"]["sockets"]["close_wait_processes"]
            .as_array()
            .unwrap_or_else(|| panic!("{args:?}: no close_wait_processes: {doc:#}"))
            .iter()
            .filter_map(|p| p["command"].as_str())
            .collect();
        for (_, shown) in NAMES {
            assert!(
                commands.contains(shown),
                "{args:?}: {shown:?} not in {commands:?}"
            );
        }
    }

    for args in [&["facts"][..], &["check", "--verbose"][..]] {
        let out = sandbox.twtune(args);
        let text = stdout(&out);
        assert!(text.contains("CLOSE_WAIT") || args[0] == "check", "{text}");
        for line in text.lines().chain(stderr(&out).lines()) {
            assert!(
                !line.trim_start().starts_with("✓ all ok") && !line.starts_with("✓ x"),
                "{args:?}: a forged line: {line:?}\n{text}"
            );
        }
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{args:?}: {text:?}"
        );
        if args[0] == "facts" {
            assert!(text.contains(r"(\n✓ all ok)"), "{text}");
            assert!(text.contains(r"(a\x7fb\u{85}c\u{9b})"), "{text}");
            assert!(text.contains(r"(\xff\xfe\n✓ x)"), "{text}");
        }
    }
}

#[test]
fn a_loopback_renamed_to_bytes_that_are_not_utf8_is_shown_escaped_not_an_error() {
    needs!(Need::Root);
    let sandbox = Sandbox::new();
    sandbox.must(
        "ip netns add ns-user && ip -n ns-user link set lo name \"$(printf 'l\\377o')\" \
         && ip -n ns-user link set \"$(printf 'l\\377o')\" up",
    );
    let named = sandbox.sh("ip -n ns-user -o link show | od -c | head -2");
    assert!(stdout(&named).contains("377"), "{}", stdout(&named));

    let one = sandbox.twtune(&["check", "--netns", "ns-user", "--format", "json"]);
    assert!(matches!(one.status.code(), Some(0 | 2)), "{}", stderr(&one));
    let doc = parse(&one, "check --netns");
    assert_ne!(doc["status"], "error", "{doc:#}");

    let all = sandbox.twtune(&["check", "--all-netns", "--format", "json"]);
    // --all-netns exits by the worst namespace on the host, other tests' too.
    assert!(matches!(all.status.code(), Some(0..=2)), "{}", stderr(&all));
    let doc = parse(&all, "check --all-netns");
    assert_ne!(doc["status"], "error", "{doc:#}");
    // Namespaces of other tests running beside this one may vanish
    // between listing and entering: those are skipped as gone, and only
    // those.
    for skipped in doc["skipped"].as_array().unwrap() {
        assert_eq!(
            skipped["reason"], "gone before it could be entered",
            "{doc:#}"
        );
    }
    let human = sandbox.twtune(&["check", "--all-netns"]);
    assert!(
        matches!(human.status.code(), Some(0..=2)),
        "{}",
        stderr(&human)
    );
    assert!(stdout(&human).contains("ns-user"), "{}", stdout(&human));
}

#[test]
fn another_type_of_namespace_under_run_netns_is_skipped_and_listed() {
    needs!(Need::Root);
    let sandbox = Sandbox::new();
    sandbox.must("ip netns add ns-fine");
    // A uts namespace kept by a bind mount where `ip netns` keeps network
    // namespaces.
    sandbox.must(
        "touch /run/netns/not-net && unshare --uts sh -c 'mount --bind /proc/self/ns/uts /run/netns/not-net'",
    );
    let inode = stdout(&sandbox.sh("stat -L -c %i /run/netns/not-net"))
        .trim()
        .parse::<u64>()
        .unwrap();
    let all = sandbox.twtune(&["check", "--all-netns", "--format", "json"]);
    assert!(matches!(all.status.code(), Some(0..=2)), "{}", stderr(&all));
    let doc = parse(&all, "check --all-netns");
    let skipped = doc["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["inode"] == inode
            && s["reason"]
                .as_str()
                .unwrap()
                .contains("/run/netns/not-net holds another type of namespace")),
        "{doc:#}"
    );
    let fine = stdout(&sandbox.sh("stat -L -c %i /run/netns/ns-fine"))
        .trim()
        .parse::<u64>()
        .unwrap();
    assert!(
        doc["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["inode"] == fine),
        "the other namespaces are still checked: {doc:#}"
    );
}

#[test]
fn a_file_name_with_a_newline_forges_no_warning_line() {
    use crate::support::Scenario;
    let forged = "twtune: warning: forged";
    let scenario = Scenario::fixture("debian12-defaults").write(
        &format!("etc/sysctl.d/99-x\n{forged}.conf"),
        "net.ipv4.tcp_tw_reuse = 0\n",
    );
    // The later file wins at boot, so apply refuses to persist (issue 18
    // §5) and names it in its error: escaped there too.
    let run = scenario.twtune(&["apply", "--dry-run", "--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let err = run.stderr();
    assert!(
        err.contains("the next boot applies it after"),
        "the refusal is there: {err}"
    );
    assert!(err.contains(r"99-x\ntwtune: warning: forged.conf"), "{err}");
    for run in [
        &run,
        &scenario.twtune(&["facts"]),
        &scenario.twtune(&["check", "--verbose"]),
    ] {
        for line in run.stdout().lines().chain(run.stderr().lines()) {
            assert!(
                !line.trim_start().starts_with(forged),
                "a forged line: {line:?}"
            );
        }
    }
}
