//! The tools twtune runs (issue 19 §5): found by absolute path in the
//! system folders, never through PATH, and read with a bound on size. Each
//! test runs `twtune facts` live in a private network and mount namespace;
//! misbehaving tools are planted in a test-only folder through the
//! `TWTUNE_TEST_TOOL_DIRS` hook of test builds. twtune reads nf_tables over
//! netlink first and starts `nft` only when that fails, so the tests of
//! `nft` run twtune without CAP_NET_ADMIN (`setpriv`), which the kernel
//! checks for every nfnetlink message: refused, as an unprivileged
//! container would be.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::TWTUNE as BIN;
use crate::support::sandbox::Netns;
use crate::support::tier::Need;
use crate::support::{stderr, stdout};
use serde_json::Value;

fn tool(dir: &Path, name: &str, script: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `twtune` in the namespace, without CAP_NET_ADMIN: the netlink read of
/// nf_tables is refused and `nft` is started.
fn without_net_admin(ns: &Netns) -> std::process::Command {
    let mut command = ns.command("setpriv");
    command.args([
        "--bounding-set",
        "-net_admin",
        "--inh-caps",
        "-net_admin",
        BIN,
    ]);
    command
}

fn facts(ns: &Netns, tool_dirs: Option<&Path>) -> Value {
    facts_with(without_net_admin(ns), tool_dirs)
}

fn facts_with(mut command: std::process::Command, tool_dirs: Option<&Path>) -> Value {
    command.args(["facts", "--format", "json"]);
    if let Some(dirs) = tool_dirs {
        command.env("TWTUNE_TEST_TOOL_DIRS", dirs);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn unchecked(facts: &Value) -> Vec<String> {
    facts["facts"]["nat"]["unchecked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_planted_nft_in_the_working_folder_is_not_run_with_dot_in_path() {
    needs!(Need::Root);
    let ns = Netns::new();
    let planted = tempfile::tempdir().unwrap();
    let marker = planted.path().join("ran");
    tool(
        planted.path(),
        "nft",
        &format!("touch {}; echo '{{\"nftables\": []}}'", marker.display()),
    );
    let out = without_net_admin(&ns)
        .current_dir(planted.path())
        .env("PATH", ".:/usr/sbin:/usr/bin:/sbin:/bin")
        .args(["facts", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!marker.exists(), "root ran ./nft found through PATH");
    let facts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // Either the system's nft was read, or there is none.
    let nft_read = facts["facts"]["nat"]["checked"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "nft");
    assert!(
        nft_read || unchecked(&facts).iter().any(|u| u.starts_with("nft")),
        "{}",
        facts["facts"]["nat"]
    );
}

#[test]
fn an_unreadable_rule_set_makes_the_nat_verdict_unknown_not_none() {
    needs!(Need::Root);
    let ns = Netns::new();
    // ip_forward stays 0: no signal, so the verdict rests on the rule set.
    let dir = tempfile::tempdir().unwrap();
    for save in ["iptables-save", "ip6tables-save"] {
        tool(
            dir.path(),
            save,
            "printf '*nat\\n:POSTROUTING ACCEPT [0:0]\\nCOMMIT\\n'",
        );
    }
    // The rule set read and empty: nothing translates.
    tool(dir.path(), "nft", "echo '{\"nftables\": []}'");
    let readable = facts(&ns, Some(dir.path()));
    assert_eq!(
        readable["facts"]["nat"]["translates"], "none",
        "{}",
        readable["facts"]["nat"]
    );
    // nft refused, as without CAP_NET_ADMIN: the rules are unknown.
    tool(
        dir.path(),
        "nft",
        "echo 'netlink: Error: cache initialization failed: Operation not permitted' >&2; exit 1",
    );
    let refused = facts(&ns, Some(dir.path()));
    assert_eq!(
        refused["facts"]["nat"]["translates"], "unknown",
        "{}",
        refused["facts"]["nat"]
    );
    assert_eq!(
        refused["facts"]["nat"]["verdict"], "unknown",
        "{}",
        refused["facts"]["nat"]
    );
    assert!(
        unchecked(&refused)
            .iter()
            .any(|u| u.starts_with("nft: nft exited with") && u.contains("Operation not permitted")),
        "{:?}",
        unchecked(&refused)
    );
}

#[test]
fn an_oversized_rule_set_dump_is_cut_and_reported() {
    needs!(Need::Root);
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    // Endless output: read to the end it would take all memory.
    tool(dir.path(), "nft", "exec yes '{\"nftables\": []}'");
    let facts = facts(&ns, Some(dir.path()));
    assert!(
        unchecked(&facts)
            .iter()
            .any(|u| u == "nft: nft printed more than 32 MiB; stopped and not read"),
        "{:?}",
        unchecked(&facts)
    );
}

fn checked(facts: &Value) -> Vec<String> {
    facts["facts"]["nat"]["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn with_no_tool_installed_the_rule_set_is_read_over_netlink() {
    needs!(Need::Root);
    let ns = Netns::new();
    // No nft, no iptables-save: as in a FROM-scratch image.
    let none = tempfile::tempdir().unwrap();
    let facts = facts_with(ns.command(BIN), Some(none.path()));
    let nat = &facts["facts"]["nat"];
    assert!(checked(&facts).contains(&"nf_tables".to_string()), "{nat}");
    assert!(!checked(&facts).contains(&"nft".to_string()), "{nat}");
    assert!(unchecked(&facts).is_empty(), "{nat}");
    // An empty rule set, read: nothing translates.
    assert_eq!(nat["translates"], "none", "{nat}");
}

#[test]
fn refused_over_netlink_with_no_nft_the_rules_are_unknown() {
    needs!(Need::Root);
    let ns = Netns::new();
    let none = tempfile::tempdir().unwrap();
    let facts = facts(&ns, Some(none.path()));
    let nat = &facts["facts"]["nat"];
    let unchecked = unchecked(&facts);
    assert!(
        unchecked
            .iter()
            .any(|u| u.starts_with("nf_tables netlink: the kernel refused the dump: EPERM")),
        "{unchecked:?}"
    );
    assert!(
        unchecked.contains(&"nft: not installed".to_string()),
        "{unchecked:?}"
    );
    assert_eq!(nat["translates"], "unknown", "{nat}");
}

#[test]
fn iptables_save_is_not_started_without_a_legacy_nat_table() {
    needs!(Need::Root);
    let ns = Netns::new();
    // A fresh namespace: ip_tables lists no nat table (iptables-nft's live
    // in nf_tables), so there are no legacy rules to read.
    let out = ns.sh(
        "cat /proc/net/ip_tables_names 2>/dev/null; cat /proc/net/ip6_tables_names 2>/dev/null",
    );
    assert!(
        !stdout(&out).lines().any(|l| l == "nat"),
        "{}",
        stdout(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    for save in ["iptables-save", "ip6tables-save"] {
        tool(dir.path(), save, &format!("touch {}", marker.display()));
    }
    let facts = facts_with(ns.command(BIN), Some(dir.path()));
    assert!(!marker.exists(), "an iptables-save was started");
    assert!(
        checked(&facts).contains(&"nf_tables".to_string()),
        "{}",
        facts["facts"]["nat"]
    );
}

#[test]
fn a_legacy_nat_table_is_read_with_iptables_save() {
    needs!(
        Need::Root,
        Need::Tool("iptables-legacy"),
        Need::Tool("iptables-legacy-save")
    );
    let ns = Netns::new();
    ns.must(
        "iptables-legacy -t nat -A POSTROUTING -o eth0 -p tcp -j MASQUERADE --to-ports 40000-40099",
    );
    let out = ns.sh("cat /proc/net/ip_tables_names");
    assert!(stdout(&out).lines().any(|l| l == "nat"), "{}", stdout(&out));
    // twtune runs `iptables-save` from its folders: the legacy one here.
    let dir = tempfile::tempdir().unwrap();
    let legacy = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("iptables-legacy-save"))
        .find(|p| p.is_file())
        .unwrap();
    std::os::unix::fs::symlink(legacy, dir.path().join("iptables-save")).unwrap();
    let facts = facts_with(ns.command(BIN), Some(dir.path()));
    let nat = &facts["facts"]["nat"];
    assert!(
        checked(&facts).contains(&"iptables-save".to_string()),
        "{nat}"
    );
    let evidence = nat["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nat_rules")
        .map(|s| s["evidence"].as_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        evidence.contains(
            "iptables: -A POSTROUTING -o eth0 -p tcp -j MASQUERADE --to-ports 40000-40099"
        ),
        "{nat}"
    );
}
