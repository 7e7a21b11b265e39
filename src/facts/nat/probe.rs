//! The host's NAT rules, interfaces and addresses, read into signals.

use super::child::{collect, spawn_tool};
use super::*;

/// A NAT rule's port range, `None` for a rule without one.
pub(super) type PortRange = Option<(u16, u16)>;

/// Reads the source-NAT rules; returns the port range of each (`None` for a
/// rule without one), or `None` when no rule set could be read, and whether
/// a rule set that exists could not be read (refused, a tool that failed,
/// was stopped or printed garbage: the rules it holds are unknown, not
/// absent).
///
/// nf_tables is read over netlink first ([`nftables::dump`]: no process, and
/// possible where no `nft` is installed); the `nft` tool only when that
/// fails. `iptables-save` and `ip6tables-save` read the legacy xtables
/// rules, which nf_tables does not hold: started only when the kernel lists
/// a legacy `nat` table (/proc/net/ip_tables_names, ip6_tables_names) or
/// that list cannot be read. `tools`: whether processes may be started at
/// all (`--all-netns` starts them in its own namespace only).
pub(super) fn nat_rules(
    facts: &mut NatFacts,
    root: &Path,
    tools: bool,
) -> (Option<Vec<PortRange>>, bool) {
    let mut read = RulesRead::default();
    // Whether the netlink read failed in a way that hides rules that exist.
    let mut hidden = false;
    let netlink_read = match nftables::dump() {
        Ok(set) => {
            read.any = true;
            facts.checked.push(NatCheck::NfTables);
            let (found, ranges) = nftables::source_nat(&set);
            read.rules.extend(found);
            read.port_ranges.extend(ranges);
            true
        }
        Err(e) => {
            hidden = e.hides_rules();
            facts.unchecked.push(e.to_string());
            false
        }
    };
    if !tools {
        if !netlink_read {
            read.unreadable = hidden;
            facts.unchecked.push(
                "nft: not started in this namespace (--all-netns starts nft and iptables-save in its own namespace only; `check --netns` reads them)".into(),
            );
        }
        if [NatCheck::IptablesSave, NatCheck::Ip6tablesSave]
            .into_iter()
            .any(|check| legacy_nat_table(root, check) != Some(false))
        {
            facts.unchecked.push(
                "iptables (legacy) nat table: not read in this namespace (--all-netns starts iptables-save in its own namespace only; `check --netns` reads it)".into(),
            );
        }
    } else {
        read_with_tools(facts, root, netlink_read, hidden, &mut read);
    }
    if read.any && !read.rules.is_empty() {
        read.rules.dedup();
        let shown: Vec<&str> = read.rules.iter().take(5).map(String::as_str).collect();
        facts.signal(
            SignalName::NatRules,
            NatVerdict::Likely,
            NatSide::Translates,
            format!(
                "{} source-NAT rule(s): {}",
                read.rules.len(),
                shown.join("; ")
            ),
        );
    }
    (read.any.then_some(read.port_ranges), read.unreadable)
}

/// What the rule-set readers found, summed.
#[derive(Default)]
struct RulesRead {
    rules: Vec<String>,
    port_ranges: Vec<PortRange>,
    /// At least one rule set was read.
    any: bool,
    /// A rule set that exists could not be read.
    unreadable: bool,
}

/// `nft` when netlink failed, and `iptables-save` / `ip6tables-save` for a
/// legacy nat table: processes, started side by side.
fn read_with_tools(
    facts: &mut NatFacts,
    root: &Path,
    netlink_read: bool,
    hidden: bool,
    read: &mut RulesRead,
) {
    // Each tool takes a few milliseconds, mostly process start-up: run them
    // side by side, they only read.
    let nft = (!netlink_read).then(|| spawn_tool("nft", &["-j", "list", "ruleset"]));
    let legacy: Vec<_> = [NatCheck::IptablesSave, NatCheck::Ip6tablesSave]
        .into_iter()
        .filter(|check| legacy_nat_table(root, *check) != Some(false))
        .map(|check| (check, spawn_tool(check.as_str(), &[])))
        .collect();
    match nft.map(|nft| nft.map(|started| started.and_then(|child| collect("nft", child)))) {
        None => {}
        Some(None) => {
            // Refused over netlink, and no tool to try: unknown, not absent.
            read.unreadable |= hidden;
            facts.unchecked.push("nft: not installed".into());
        }
        Some(Some(Err(e))) => {
            read.unreadable = true;
            facts.unchecked.push(format!("nft: {e}"));
        }
        Some(Some(Ok(text))) => match ruleset::parse_nft_json(&text) {
            Ok(found) => {
                read.any = true;
                facts.checked.push(NatCheck::Nft);
                read.rules.extend(found);
                read.port_ranges.extend(snat::nft_port_ranges(&text));
            }
            Err(e) => {
                read.unreadable = true;
                facts.unchecked.push(format!("nft: {e}"));
            }
        },
    }
    // Legacy iptables keeps its own tables that nf_tables does not list.
    for (check, started) in legacy {
        let tool = check.as_str();
        match started.map(|started| started.and_then(|child| collect(tool, child))) {
            None => {}
            Some(Err(e)) => {
                read.unreadable = true;
                facts.unchecked.push(format!("{tool}: {e}"));
            }
            Some(Ok(text)) => {
                read.any = true;
                facts.checked.push(check);
                // iptables-nft rules live in nf_tables, where they were already read.
                let seen = text.contains("(nf_tables)")
                    && facts
                        .checked
                        .iter()
                        .any(|c| matches!(c, NatCheck::Nft | NatCheck::NfTables));
                if !seen {
                    read.rules.extend(ruleset::parse_iptables_save(&text));
                    read.port_ranges.extend(snat::iptables_port_ranges(&text));
                }
            }
        }
    }
}

/// Whether the kernel lists a legacy xtables `nat` table in this network
/// namespace (ip_tables registers each table it instantiates in
/// /proc/net/ip_tables_names; iptables-nft's tables are nf_tables ones and
/// never appear there). `Some(false)` also when the list is absent: no
/// legacy ip_tables in this kernel. `None`: the list could not be read.
fn legacy_nat_table(root: &Path, check: NatCheck) -> Option<bool> {
    let list = match check {
        NatCheck::Ip6tablesSave => "proc/net/ip6_tables_names",
        _ => "proc/net/ip_tables_names",
    };
    match read_optional(&root.join(list)) {
        Ok(Some(text)) => Some(text.lines().any(|l| l.trim() == "nat")),
        Ok(None) => Some(false),
        Err(_) => None,
    }
}

pub(super) fn interfaces(facts: &mut NatFacts, root: &Path) -> Result<(), FactError> {
    // /proc/net/dev follows the reader's network namespace; /sys/class/net
    // shows the namespace sysfs was mounted in, so it is only the fallback.
    let dev = root.join("proc/net/dev");
    // Interface names are bytes, and a user may name the interfaces of a
    // network namespace they own as they like: read as bytes, shown escaped.
    let names = match crate::facts::read::read_optional_names(&dev)? {
        Some(text) => host::parse_proc_net_dev(&text),
        None => match read_dir_confined(&root.join("sys/class/net")) {
            Ok(entries) => entries
                .into_iter()
                .map(|name| {
                    use std::os::unix::ffi::OsStrExt;
                    crate::facts::read::bytes_to_text(name.as_bytes())
                })
                .collect(),
            Err(_) => {
                facts
                    .unchecked
                    .push("interfaces: no proc/net/dev or sys/class/net".into());
                return Ok(());
            }
        },
    };
    facts.checked.push(NatCheck::Interfaces);
    let bridges: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| host::is_container_interface(n))
        .collect();
    let veths = names.iter().filter(|n| n.starts_with("veth")).count();
    if !bridges.is_empty() || veths >= host::MANY_VETH {
        let mut evidence = Vec::new();
        if !bridges.is_empty() {
            evidence.push(format!(
                "container/bridge interfaces: {}",
                bridges.join(", ")
            ));
        }
        if veths >= host::MANY_VETH {
            evidence.push(format!("{veths} veth interfaces"));
        }
        facts.signal(
            SignalName::ContainerInterfaces,
            NatVerdict::Possible,
            NatSide::Translates,
            evidence.join("; "),
        );
    }
    Ok(())
}

pub(super) fn addresses(facts: &mut NatFacts, root: &Path) -> Result<(), FactError> {
    let mut shared = Vec::new();
    let mut private = Vec::new();
    let trie = root.join("proc/net/fib_trie");
    let inet6 = root.join("proc/net/if_inet6");
    let mut read_any = false;
    let mut sort = |addr: IpAddr| match host::nat_range(addr) {
        Some(kind @ host::CGNAT) => shared.push(format!("{addr} {kind}")),
        Some(kind) => private.push(format!("{addr} {kind}")),
        None => {}
    };
    if let Some(text) = read_optional(&trie)? {
        read_any = true;
        for addr in host::parse_fib_trie(&text).map_err(|e| FactError::garbled(&trie, e))? {
            sort(addr.into());
        }
    }
    if let Some(text) = crate::facts::read::read_optional_names(&inet6)? {
        read_any = true;
        for addr in host::parse_if_inet6(&text).map_err(|e| FactError::garbled(&inet6, e))? {
            sort(addr.into());
        }
    }
    if !read_any {
        facts
            .unchecked
            .push("addresses: no proc/net/fib_trie or if_inet6".into());
        return Ok(());
    }
    facts.checked.push(NatCheck::Addresses);
    if !shared.is_empty() {
        // RFC 6598 space exists only behind a carrier-grade NAT.
        facts.signal(
            SignalName::PrivateAddresses,
            NatVerdict::Possible,
            NatSide::Translated,
            format!(
                "this host has {}: shared address space, reachable from the internet only through a carrier-grade NAT, so its own outbound traffic is possibly translated",
                shared.join(", ")
            ),
        );
    } else if !private.is_empty() {
        facts.signal(
            SignalName::PrivateAddresses,
            NatVerdict::Weak,
            NatSide::Translated,
            format!(
                "this host has {}: weak evidence on its own (private peers are reached without NAT); its traffic to the internet, if any, passes a NAT gateway",
                private.join(", ")
            ),
        );
    }
    Ok(())
}
