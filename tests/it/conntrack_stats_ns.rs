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
    // Twenty connections over loopback, each closed: tracked, TIME_WAIT after.
    ns.must(
        "python3 -c '\n\
import socket\n\
l = socket.socket(); l.bind((\"127.0.0.1\", 0)); l.listen(64)\n\
for _ in range(20):\n\
    c = socket.create_connection(l.getsockname()); s, _ = l.accept(); c.close(); s.close()\n\
'",
    );
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
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ctnetlink_statistics_equal_the_proc_file_where_it_is_missing() {
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
