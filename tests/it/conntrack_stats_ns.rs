//! The conntrack statistics through ctnetlink (IPCTNL_MSG_CT_GET_STATS_CPU),
//! for kernels without /proc/net/stat/nf_conntrack (node_exporter#3184): in a
//! private namespace whose nftables `ct state` rule loads conntrack and
//! whose loopback traffic fills its table, the counters read over netlink
//! (the file hidden by a test hook) are the file's, CPU by CPU summed, and
//! reach the Prometheus output.

use serde_json::Value;

use crate::support::netns::require_tool;
use crate::support::sandbox::Netns;
use crate::support::stderr;
use crate::support::tier::Need;

/// Twenty connections over loopback, each closed: tracked, TIME_WAIT after.
const TCP_TRAFFIC: &str = r#"
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(64)
for _ in range(20):
    c = socket.create_connection(l.getsockname()); s, _ = l.accept(); c.close(); s.close()
"#;

/// UDP sends racing on one socket (two threads, one destination) until a
/// conntrack clash is resolved (counted since Linux 5.10), or 20000 rounds:
/// a non-zero counter to compare where the race is won.
const UDP_RACE: &str = r#"
import socket, threading
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 0)); dst = r.getsockname()
def clashes():
    rows = open("/proc/net/stat/nf_conntrack").read().splitlines()[1:]
    return sum(int(row.split()[1], 16) for row in rows if row)
for n in range(20000):
    if n % 500 == 0 and clashes():
        break
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b = threading.Barrier(2)
    ts = [threading.Thread(target=lambda: (b.wait(), s.sendto(b"x", dst))) for _ in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]; s.close()
"#;

/// A namespace with conntrack loaded and some TCP connections tracked.
fn namespace_with_tracked_traffic() -> Netns {
    require_tool("nft", "nftables");
    require_tool("python3", "python3");
    let ns = Netns::new();
    ns.must(
        "ip link set lo up && nft add table inet t && \
         nft add chain inet t out '{ type filter hook output priority 0; }' && \
         nft add rule inet t out ct state new,established,related counter accept",
    );
    for (what, script) in [("TCP", TCP_TRAFFIC), ("UDP", UDP_RACE)] {
        let out = ns.command("python3").args(["-c", script]).output().unwrap();
        assert!(out.status.success(), "{what}: {}", stderr(&out));
    }
    ns
}

fn facts(ns: &Netns, hide_proc: bool) -> Value {
    let mut command = ns.command(crate::support::TWTUNE);
    command.args(["facts", "--format", "json"]);
    if hide_proc {
        command.env("TWTUNE_TEST_NO_PROC_CT_STATS", "1");
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["facts"].clone()
}

#[test]
fn ctnetlink_statistics_equal_the_proc_file_where_it_is_missing() {
    needs!(
        Need::Root,
        Need::TestHooks,
        Need::Tool("nft"),
        Need::Tool("python3")
    );
    let ns = namespace_with_tracked_traffic();
    let from_proc = facts(&ns, false);
    let entries = from_proc["nat"]["conntrack"]["entries"].as_u64();
    assert!(entries.is_some_and(|n| n >= 20), "{}", from_proc["nat"]);
    let from_netlink = facts(&ns, true);
    let (proc_stats, netlink_stats) = (
        &from_proc["nat"]["conntrack_stats"],
        &from_netlink["nat"]["conntrack_stats"],
    );
    for field in ["insert_failed", "drop", "early_drop", "clash_resolve"] {
        assert!(
            netlink_stats[field].is_u64(),
            "{field} not read over ctnetlink: {}",
            from_netlink["nat"]
        );
    }
    assert_eq!(netlink_stats, proc_stats);
    eprintln!("conntrack statistics, proc and ctnetlink: {proc_stats}");
    let unchecked = from_netlink["nat"]["unchecked"].to_string();
    assert!(!unchecked.contains("conntrack statistics"), "{unchecked}");

    // And the counters reach the textfile.
    let out = ns
        .command(crate::support::TWTUNE)
        .args(["check", "--format", "prometheus"])
        .env("TWTUNE_TEST_NO_PROC_CT_STATS", "1")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "\ntwtune_conntrack_insert_failed_total {}\n",
            proc_stats["insert_failed"]
        )),
        "{text}"
    );
    assert!(text.contains("\ntwtune_facts_complete{family=\"conntrack_stats\"} 1\n"));
}
