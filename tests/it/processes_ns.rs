//! The process behind a hot destination: TIME_WAIT sockets have no owner,
//! so twtune names the holders of the live connections to the same
//! destination as its likely creators.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use crate::support::TWTUNE;
use crate::support::netns::*;
use crate::support::tier::Need;
use serde_json::Value;

/// Live connections the helper process holds.
const LIVE: u64 = 30;

/// In a private namespace with a 100-port range and reuse off: `LIVE`
/// TIME_WAIT from this process toward `server`, then `LIVE` live connections
/// held by a separate bash process; `look` runs while bash holds them.
/// Returns what `look` returned and bash's pid.
fn with_hot_destination(
    server: &'static str,
    look: impl FnOnce() -> Value + Send + 'static,
) -> (Value, u32) {
    require_tool("bash", "bash");
    in_private_netns(move || {
        // 30 TIME_WAIT and 30 live connections put the destination at 60%;
        // tw_reuse=2 would reuse loopback TIME_WAIT.
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40099");
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let listener = TcpListener::bind(addr(server)).unwrap();
        // TIME_WAIT from this process: gone from every fd table.
        make_time_wait(&listener, LIVE as usize, true);
        // A separate process (bash's /dev/tcp) opens the live connections;
        // the kernel completes them from the listener's backlog.
        let (host, port) = server.split_once(':').unwrap();
        let script = format!(
            "for fd in $(seq 10 {}); do eval \"exec $fd<>/dev/tcp/{host}/{port}\" || exit 1; done; echo ready; read _",
            9 + LIVE
        );
        let mut child = Command::new("bash")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start bash");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready", "bash could not open its connections");
        let seen = look();
        // Closing its stdin ends the helper.
        drop(child.stdin.take());
        child.wait().unwrap();
        drop(listener);
        (seen, child.id())
    })
}

#[test]
fn the_process_holding_live_connections_to_a_hot_destination_is_named() {
    needs!(Need::Root, Need::Tool("bash"));
    let (both, pid) = with_hot_destination("127.0.0.6:8083", || {
        let human = Command::new(TWTUNE).arg("check").output().unwrap();
        serde_json::json!({
            "report": check(),
            "human": String::from_utf8_lossy(&human.stdout),
        })
    });
    let report = &both["report"];
    let facts = &report["facts"];
    let d = destination(facts, "127.0.0.6:8083")
        .unwrap_or_else(|| panic!("no destination in {}", facts["sockets"]));
    assert_eq!(d["established"], LIVE, "{d}");
    assert_eq!(d["time_wait"], LIVE, "{d}");
    let top = &d["processes"][0];
    assert_eq!(top["pid"], pid, "{d}");
    assert_eq!(top["command"], "bash", "{d}");
    assert_eq!(top["established"], LIVE, "{d}");
    assert_eq!(d["processes"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["processes_unattributed"], 0, "{d}");

    let expected = format!(
        "Likely creator: pid {pid} (bash), {LIVE} live connections to it; TIME_WAIT sockets have no owner"
    );
    // The human report names it too, in each pressured destination's line.
    // Table rows wrap at 120 columns: compare the words.
    let human = both["human"].as_str().unwrap();
    let words = human.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains(&format!("likely creator pid {pid} (bash)")),
        "{human}"
    );
    for rule in [
        "ephemeral-ports-exhausted-toward-destination",
        "tcp-tw-reuse-outbound-pressure",
    ] {
        let found = findings(report, rule);
        assert_eq!(found.len(), 1, "{rule}: {}", report["findings"]);
        let message = found[0]["message"].as_str().unwrap();
        assert!(message.contains(&expected), "{rule}: {message}");
        assert!(
            found[0]["summary"]
                .as_str()
                .unwrap()
                .contains(&format!("likely creator pid {pid} (bash)")),
            "{}",
            found[0]["summary"]
        );
    }
}

#[test]
fn a_destination_with_no_live_connection_names_no_process() {
    needs!(Need::Root);
    let facts = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40099");
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let listener = TcpListener::bind(addr("127.0.0.7:8084")).unwrap();
        make_time_wait(&listener, 60, true);
        check()
    });
    let d = destination(&facts["facts"], "127.0.0.7:8084").unwrap();
    assert_eq!(d["processes"], serde_json::json!([]));
    assert_eq!(d["processes_unattributed"], 0);
    let found = findings(&facts, "ephemeral-ports-exhausted-toward-destination");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "No process holds a live connection to it now, and TIME_WAIT sockets have no owner"
        ),
        "{message}"
    );
}

#[test]
fn a_non_root_run_says_the_owner_is_unknown() {
    needs!(Need::Root, Need::Tool("bash"));
    use std::os::unix::process::CommandExt;
    let (report, _) = with_hot_destination("127.0.0.8:8085", || {
        // nobody: cannot read the root-owned bash's /proc/<pid>/fd.
        let out = Command::new(TWTUNE)
            .args(["check", "--format", "json"])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    });
    let d = destination(&report["facts"], "127.0.0.8:8085").unwrap();
    assert_eq!(d["processes"], serde_json::json!([]), "{d}");
    assert_eq!(d["processes_unattributed"], LIVE, "{d}");
    let found = findings(&report, "ephemeral-ports-exhausted-toward-destination");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "Likely creator: unknown, the {LIVE} live connections to it belong to processes not readable here (run as root to name them); TIME_WAIT sockets have no owner"
        )),
        "{message}"
    );
}
