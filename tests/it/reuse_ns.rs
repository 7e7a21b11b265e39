//! Whether connect() can reuse a TIME_WAIT depends on the peer: it must send
//! TCP timestamps (tcp_twsk_unique(): `tw_ts_recent_stamp`). Real sockets
//! between two namespaces joined by a veth pair, the server's namespace
//! with or without `tcp_timestamps`; the kernel's own connect() results are
//! checked against what twtune says.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::netns::*;
use crate::support::tier::Need;

/// Opens and closes `n` connections; returns how many connect() calls
/// failed with EADDRNOTAVAIL (any other failure panics).
fn churn(to: &str, n: usize) -> usize {
    let mut refused = 0;
    for _ in 0..n {
        match TcpStream::connect(addr(to)) {
            Ok(c) => drop(c),
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EADDRNOTAVAIL as i32) => {
                refused += 1
            }
            Err(e) => panic!("connect {to}: {e}"),
        }
    }
    refused
}

/// Client 10.78.0.1 → server 10.78.0.2:8088 over a veth pair, the server's
/// namespace with `tcp_timestamps` = `server_timestamps`; the client has
/// tcp_tw_reuse=1 and a 200-port range. It makes 150 TIME_WAIT, holds one
/// live connection, waits until the TIME_WAIT are older than the reuse
/// delay, checks, then tries 100 more connections. Returns the report and
/// how many of those the kernel refused.
fn churn_toward(server_timestamps: &str) -> (Value, usize) {
    let client = NamedNs::new("client");
    let server = NamedNs::new("server");
    veth(&client, "c0", "10.78.0.1/24", &server, "s0", "10.78.0.2/24");
    server.exec(&[
        "sysctl",
        "-qw",
        &format!("net.ipv4.tcp_timestamps={server_timestamps}"),
    ]);
    serve_until_eof(&server, "10.78.0.2:8088");
    client
        .run(|| {
            write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40199");
            write_ns_sysctl("net.ipv4.tcp_tw_reuse", "1");
            assert_eq!(churn("10.78.0.2:8088", 150), 0);
            time_wait_aged_toward("10.78.0.2:8088", 150, check, |r| r);
            // One live connection: its tcp_info says what the peer does. It
            // opens after the TIME_WAIT are made, as the server reads one
            // connection at a time.
            let live = TcpStream::connect(addr("10.78.0.2:8088")).unwrap();
            let give_up = Instant::now() + Duration::from_secs(30);
            let report = loop {
                let report = check();
                let d = destination(&report["facts"], "10.78.0.2:8088").unwrap();
                if d["established"] == 1 {
                    break report;
                }
                assert!(Instant::now() < give_up, "{d}");
                std::thread::sleep(Duration::from_millis(50));
            };
            drop(live);
            // The kernel's answer: 100 more connections into 49 free ports.
            (report, churn("10.78.0.2:8088", 100))
        })
        .join()
        .unwrap()
}

#[test]
fn a_peer_without_timestamps_leaves_every_time_wait_taken_whatever_tw_reuse_says() {
    needs!(Need::Root);
    let (report, refused) = churn_toward("0");
    let d = destination(&report["facts"], "10.78.0.2:8088").unwrap();
    // Aged TIME_WAIT and one live connection to a peer without timestamps:
    // none of it is reusable, and tcp_tw_reuse=1 changes nothing.
    assert_eq!(d["peer_timestamps"], false, "{d}");
    assert_eq!(d["live_without_timestamps"], 1, "{d}");
    assert_eq!(d["time_wait_reusable"], 0, "{d}");
    // Every TIME_WAIT is taken, and the live connection. (Up to 150: on a
    // loaded machine a few may end early, which changes nothing here.)
    let time_wait = d["time_wait"].as_u64().unwrap();
    assert!(time_wait > 100 && time_wait <= 150, "{d}");
    assert_eq!(d["taken"], time_wait + 1, "{d}");
    assert_eq!(d["reuse_effective"], false, "{d}");
    let dry = findings(&report, "ephemeral-ports-exhausted-toward-destination");
    assert_eq!(dry.len(), 1, "{}", report["findings"]);
    assert_eq!(dry[0]["severity"], "warning");
    let message = dry[0]["message"].as_str().unwrap();
    assert!(
        message.contains("the peer does not send TCP timestamps")
            && message.contains("tcp_tw_reuse cannot help here")
            && !message.contains("tcp_tw_reuse=1"),
        "{message}"
    );
    assert!(
        findings(&report, "tcp-tw-reuse-outbound-pressure").is_empty(),
        "{}",
        report["findings"]
    );
    // And the kernel agrees: with over 100 of 200 ports held, some of 100
    // more fail.
    assert!(
        refused > 0,
        "the kernel reused TIME_WAIT toward a peer without timestamps"
    );
}

#[test]
fn a_peer_with_timestamps_frees_aged_time_wait_and_raises_no_alarm() {
    needs!(Need::Root);
    let (report, refused) = churn_toward("1");
    let d = destination(&report["facts"], "10.78.0.2:8088").unwrap();
    assert_eq!(d["peer_timestamps"], true, "{d}");
    assert_eq!(d["live_with_timestamps"], 1, "{d}");
    // The churn, or the live connection, may have taken some of them over.
    assert!(d["time_wait"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["time_wait_reusable"], d["time_wait"], "{d}");
    assert_eq!(d["taken"], 1, "{d}");
    assert!(
        findings(&report, "ephemeral-ports-exhausted-toward-destination").is_empty(),
        "{}",
        report["findings"]
    );
    assert!(findings(&report, "tcp-tw-reuse-outbound-pressure").is_empty());
    // The kernel agrees: every one of 100 more connections finds a port.
    assert_eq!(refused, 0);
}

#[test]
fn reuse_seen_during_a_sample_proves_the_peer_sends_timestamps() {
    needs!(Need::Root);
    // Every port of the range in aged TIME_WAIT toward the server and no
    // live connection: the snapshot cannot tell. Connections made during
    // the sample can only take those TIME_WAIT over, which is the proof.
    let client = NamedNs::new("client");
    let server = NamedNs::new("server");
    veth(&client, "c0", "10.79.0.1/24", &server, "s0", "10.79.0.2/24");
    serve_until_eof(&server, "10.79.0.2:8089");
    let (before, sampled) = client
        .run(|| {
            write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40199");
            write_ns_sysctl("net.ipv4.tcp_tw_reuse", "1");
            assert_eq!(churn("10.79.0.2:8089", 200), 0);
            let before = time_wait_aged_toward("10.79.0.2:8089", 200, check, |r| r);
            let mut twtune = std::process::Command::new(crate::support::TWTUNE)
                .args(["check", "--sample", "2s", "--format", "json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Churn until the sample's second listing is over: the child
            // exits only after it. Its output is far below a pipe's buffer.
            while twtune.try_wait().unwrap().is_none() {
                churn("10.79.0.2:8089", 1);
            }
            let out = twtune.wait_with_output().unwrap();
            (
                before,
                serde_json::from_slice::<Value>(&out.stdout).unwrap(),
            )
        })
        .join()
        .unwrap();
    let d = destination(&before["facts"], "10.79.0.2:8089").unwrap();
    assert_eq!(d["peer_timestamps"], Value::Null, "{d}");
    assert_eq!(d["time_wait_unconfirmed"], d["time_wait"], "{d}");
    assert_eq!(
        findings(&before, "ephemeral-ports-exhausted-toward-destination").len(),
        1
    );
    let d = destination(&sampled["facts"], "10.79.0.2:8089").unwrap();
    assert!(d["reuse_seen"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["peer_timestamps"], true, "{d}");
    assert!(
        d["peer_timestamps_evidence"]
            .as_str()
            .unwrap()
            .contains("took over"),
        "{d}"
    );
}
