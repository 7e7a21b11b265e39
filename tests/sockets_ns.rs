//! Real sockets in private network namespaces: TIME_WAIT on each side,
//! CLOSE_WAIT held by a known process, and a port range run dry. Every test
//! builds its own namespace, so they run in parallel without seeing each
//! other's sockets.

mod support;

use std::net::TcpListener;

use support::*;

const N: usize = 40;

#[test]
fn client_side_time_wait_is_attributed_to_the_client_and_its_destination() {
    let facts = in_private_netns(|| {
        let listener = TcpListener::bind(addr("127.0.0.2:8080")).unwrap();
        make_time_wait(&listener, N, true);
        facts()
    });
    let s = &facts["sockets"];
    assert_eq!(s["source"], "netlink", "{s}");
    assert_eq!(s["time_wait"], N as u64, "{s}");
    assert_eq!(s["states"]["TIME_WAIT"], N as u64);
    assert_eq!(s["states"]["LISTEN"], 1);
    assert_eq!(s["time_wait_client_side"], N as u64, "{s}");
    assert_eq!(s["time_wait_server_side"], 0, "{s}");
    let d =
        destination(&facts, "127.0.0.2:8080").unwrap_or_else(|| panic!("no destination in {s}"));
    assert_eq!(d["time_wait"], N as u64);
    assert_eq!(d["local"], "127.0.0.1");
    assert_eq!(d["usable_ports"], 28232);
    let ratio = d["exhaustion_ratio"].as_f64().unwrap();
    assert!((ratio - N as f64 / 28232.0).abs() < 1e-9, "{ratio}");
}

#[test]
fn server_side_time_wait_is_attributed_to_the_listening_port() {
    let facts = in_private_netns(|| {
        let listener = TcpListener::bind(addr("127.0.0.3:8081")).unwrap();
        make_time_wait(&listener, N, false);
        facts()
    });
    let s = &facts["sockets"];
    assert_eq!(s["time_wait"], N as u64, "{s}");
    assert_eq!(s["time_wait_server_side"], N as u64, "{s}");
    assert_eq!(s["time_wait_client_side"], 0, "{s}");
    assert_eq!(s["server_side_ports"][0]["port"], 8081);
    assert_eq!(s["server_side_ports"][0]["time_wait"], N as u64);
    assert_eq!(s["listening_ports"], serde_json::json!([8081]));
    // Server-side TIME_WAIT holds no client port toward anyone.
    assert_eq!(s["max_exhaustion_ratio"], 0.0, "{s}");
}

#[test]
fn ipv6_time_wait_is_listed_with_bracketed_destinations() {
    let facts = in_private_netns(|| {
        let listener = TcpListener::bind(addr("[::1]:8443")).unwrap();
        make_time_wait(&listener, 5, true);
        facts()
    });
    let d = destination(&facts, "[::1]:8443").unwrap_or_else(|| panic!("{}", facts["sockets"]));
    assert_eq!(d["time_wait"], 5);
    assert_eq!(d["local"], "::1");
}

#[test]
fn close_wait_names_the_holding_process() {
    let (facts, held) = in_private_netns(|| {
        let listener = TcpListener::bind(addr("127.0.0.4:9000")).unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let pair = connect_pair(&listener).unwrap();
            // The peer closes; this process keeps its end open: CLOSE_WAIT.
            drop(pair.client);
            held.push(pair.server);
        }
        // Let the FINs land before listing.
        std::thread::sleep(std::time::Duration::from_millis(50));
        (facts(), held)
    });
    let s = &facts["sockets"];
    assert_eq!(s["close_wait"], 3, "{s}");
    let owners = s["close_wait_processes"].as_array().unwrap();
    let me = owners
        .iter()
        .find(|o| o["pid"] == std::process::id())
        .unwrap_or_else(|| panic!("pid {} not among {owners:?}", std::process::id()));
    assert_eq!(me["count"], 3);
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(me["command"], comm.trim_end());
    assert_eq!(s["close_wait_unattributed"], 0);
    drop(held);
}

#[test]
fn a_shrunk_port_range_runs_dry_toward_one_destination() {
    let (facts, refused) = in_private_netns(|| {
        // Both written in this private namespace only (write_ns_sysctl checks).
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40199");
        // tw_reuse=2 would reuse loopback TIME_WAIT and hide the exhaustion.
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let listener = TcpListener::bind(addr("127.0.0.5:8082")).unwrap();
        make_time_wait(&listener, 200, true);
        let refused = std::net::TcpStream::connect(addr("127.0.0.5:8082"))
            .err()
            .and_then(|e| e.raw_os_error());
        (facts(), refused)
    });
    assert_eq!(
        refused,
        Some(libc_eaddrnotavail()),
        "the 201st connect must fail"
    );
    let s = &facts["sockets"];
    assert_eq!(s["usable_ports"], 200, "{s}");
    assert_eq!(s["ephemeral_range"]["low"], 40000);
    let d = destination(&facts, "127.0.0.5:8082").unwrap_or_else(|| panic!("{s}"));
    assert_eq!(d["time_wait"], 200);
    assert_eq!(d["exhaustion_ratio"], 1.0);
    assert_eq!(s["max_exhaustion_ratio"], 1.0);
    assert_eq!(facts["sysctl"]["net.ipv4.tcp_tw_reuse"], "0");
}

fn libc_eaddrnotavail() -> i32 {
    nix::errno::Errno::EADDRNOTAVAIL as i32
}

#[test]
fn proc_fallback_agrees_with_netlink() {
    // The same sockets through /proc/net/tcp: a --root pointing at a tree
    // whose proc is this namespace's view.
    let (netlink, proc_view) = in_private_netns(|| {
        let listener = TcpListener::bind(addr("127.0.0.6:8083")).unwrap();
        make_time_wait(&listener, 10, true);
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        for f in ["tcp", "tcp6"] {
            std::fs::copy(format!("/proc/thread-self/net/{f}"), net.join(f)).unwrap();
        }
        let (report, _) = twtune_json(&[
            "--root",
            root.path().to_str().unwrap(),
            "facts",
            "--format",
            "json",
        ]);
        (facts(), report["facts"].clone())
    });
    assert_eq!(proc_view["sockets"]["source"], "proc");
    for field in [
        "time_wait",
        "time_wait_client_side",
        "time_wait_server_side",
        "states",
        "destinations",
    ] {
        assert_eq!(
            netlink["sockets"][field], proc_view["sockets"][field],
            "{field}"
        );
    }
}
