//! SNAT pressure on a router: a client namespace opens connections to a
//! server namespace through a router namespace that masquerades with
//! nftables out of a 100-port range. The router's own check counts the
//! translated connections toward the server against those 100 ports.
//!
//! Addresses come from the documentation ranges (RFC 5737), as in nat_ns.rs.

use std::net::{TcpListener, TcpStream};

use crate::support::netns::*;
use crate::support::tier::Need;
use serde_json::Value;

const SERVER: &str = "198.51.100.2:8080";

/// Client → router (masquerade to :40000-40099) → server, `connections`
/// held open while the router's check runs.
fn router_check_with(connections: usize) -> Value {
    let (client, router, server) =
        masquerading_router("procs-snat-", "meta l4proto tcp masquerade to :40000-40099");
    // The listener stays in the server's namespace after its thread ends;
    // the kernel completes the handshakes from its backlog (128 > 80).
    let listener: TcpListener = server
        .run(|| TcpListener::bind(addr(SERVER)).unwrap())
        .join()
        .unwrap();
    let held: Vec<TcpStream> = client
        .run(move || {
            (0..connections)
                .map(|i| {
                    TcpStream::connect(addr(SERVER))
                        .unwrap_or_else(|e| panic!("connection {i} through the router: {e}"))
                })
                .collect()
        })
        .join()
        .unwrap();
    let report = router.check();
    drop(held);
    drop(listener);
    report
}

fn server_entry(nat: &Value) -> &Value {
    nat["snat_destinations"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["remote"] == SERVER))
        .unwrap_or_else(|| panic!("no SNAT destination {SERVER}: {nat}"))
}

#[test]
fn a_masquerading_router_reports_snat_pressure_toward_a_server() {
    needs!(Need::Root);
    let report = router_check_with(80);
    let nat = &report["facts"]["nat"];
    assert_eq!(nat["conntrack_source"], "netlink", "{nat}");
    assert_eq!(
        nat["snat_port_range"],
        serde_json::json!({"low": 40000, "high": 40099, "from": "rule"}),
        "{nat}"
    );
    let d = server_entry(nat);
    assert_eq!(d["connections"], 80, "{d}");
    assert_eq!(d["ports"], 100, "{d}");
    assert_eq!(d["ratio"], 0.8, "{d}");
    assert_eq!(d["protocol"], "tcp");
    assert_eq!(d["translated_address"], "198.51.100.1");

    let found = findings(&report, "snat-ports-exhausted-toward-destination");
    assert_eq!(found.len(), 1, "{}", report["findings"]);
    assert_eq!(found[0]["severity"], "warning");
    let message = found[0]["message"].as_str().unwrap();
    for needle in [
        SERVER,
        "198.51.100.1",
        "80 of them against 100 usable NAT source ports (40000-40099, rule)",
        "--random-fully",
        "more SNAT addresses",
        "connection reuse",
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
}

#[test]
fn a_router_with_few_translated_connections_reports_no_pressure() {
    needs!(Need::Root);
    let report = router_check_with(5);
    let d = server_entry(&report["facts"]["nat"]);
    assert_eq!(
        (d["connections"].as_u64(), d["ports"].as_u64()),
        (Some(5), Some(100))
    );
    assert!(
        findings(&report, "snat-ports-exhausted-toward-destination").is_empty(),
        "{}",
        report["findings"]
    );
}

#[test]
fn a_nearly_full_nat_range_is_critical() {
    needs!(Need::Root);
    let report = router_check_with(92);
    let d = server_entry(&report["facts"]["nat"]);
    assert_eq!(d["connections"], 92, "{d}");
    let found = findings(&report, "snat-ports-exhausted-toward-destination");
    assert_eq!(found.len(), 1, "{}", report["findings"]);
    assert_eq!(found[0]["severity"], "critical");
}
