//! NAT signals, each with its evidence, combined into one verdict.
//!
//! tcp_tw_recycle dropped SYNs from hosts behind a shared NAT address, so the
//! rules need to know whether NAT is in the path. No single file proves it;
//! each signal below is weighed:
//!
//! | signal | weight | side |
//! |---|---|---|
//! | `nat_rules`: a masquerade or SNAT rule (nf_tables over netlink, else nft; legacy iptables) | likely | translates |
//! | `conntrack_snat`: tracked connections whose source was rewritten | likely | translates |
//! | `conntrack_dnat`: tracked connections whose destination was rewritten | possible | translates |
//! | `ip_forward`: net.ipv4.ip_forward = 1 | possible | translates |
//! | `container_interfaces`: docker0, cni*, cilium_*, flannel*, …, or many veth | possible | translates |
//! | `private_addresses`: a host address in CGNAT space (RFC 6598) | possible | translated |
//! | `private_addresses`: only RFC 1918 or ULA addresses | weak | translated |
//! | `paws_rejects`: PAWSActive or PAWSEstab *growing* during `--sample` | possible | peers |
//!
//! Two questions hide in "is there NAT": does **this host translate** other
//! hosts' traffic (a router, a container host, a Kubernetes node), and is
//! **this host's own traffic translated** on its way out (it sits behind a NAT
//! gateway). `translates` and `translated` answer them separately; `verdict`
//! stays the strongest weight of all signals, `weak` ones excepted (an RFC 1918
//! address alone says little: most such hosts talk to private peers directly).
//! PAWS counters since boot are not evidence: only their growth during
//! `--sample` is a signal.
//!
//! With no signal, the verdict is "none" only when ip_forward was read and at
//! least one of the rule set or the conntrack table could be inspected;
//! otherwise too little was seen and it is "unknown" (a fixture tree without
//! conntrack data, an unprivileged run).

mod child;
pub mod conntrack;
pub mod ctnetlink;
pub mod ctstats;
pub mod host;
pub mod nftables;
mod probe;
pub mod ruleset;
mod signals;
pub mod snat;
pub mod table;
mod tracking;
mod verdict;

use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use schemars::JsonSchema;
use serde::Serialize;

use super::counters::Counters;
use super::options::GatherOptions;
use super::rates::Rates;
use super::read::{FactError, open_streaming, read_dir_confined, read_optional};
use super::tools;

use probe::{addresses, interfaces, nat_rules};
use signals::paws;
pub use signals::{NatCheck, NatSignal, SignalName};
use tracking::{conntrack_stats, conntrack_summary};
pub use verdict::{NatSide, NatVerdict};

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NatFacts {
    /// The strongest weight of all signals (weak ones excepted).
    pub verdict: NatVerdict,
    /// Does this host translate others' traffic (masquerade/SNAT rules,
    /// conntrack NAT entries, forwarding, container bridges)?
    pub translates: NatVerdict,
    /// Is this host's own traffic translated (private or CGNAT addresses)?
    pub translated: NatVerdict,
    pub signals: Vec<NatSignal>,
    /// Sources that were read, e.g. "ip_forward", "conntrack", and the NAT
    /// rule set's: "nf_tables" (over netlink), "nft" (the tool, when netlink
    /// failed), "iptables-save" / "ip6tables-save" (legacy xtables).
    pub checked: Vec<NatCheck>,
    /// Sources that could not be read, with the reason.
    pub unchecked: Vec<String>,
    /// Conntrack entries seen and how many had NAT applied (null if unread).
    pub conntrack: Option<conntrack::ConntrackSummary>,
    /// /proc/net/stat/nf_conntrack, summed over CPUs (null if unreadable or
    /// conntrack is not loaded). The table's size and fill are the sysctls
    /// net.netfilter.nf_conntrack_{count,max}.
    pub conntrack_stats: Option<table::ConntrackStats>,
    /// Where the conntrack entries were read: "netlink" (ctnetlink),
    /// "proc" (/proc/net/nf_conntrack) or "conntrack-tool" (`conntrack -L`);
    /// null when unread.
    pub conntrack_source: Option<String>,
    /// The source ports SNAT chooses from, as the rules or the kernel set
    /// them (null when the conntrack table was not read).
    pub snat_port_range: Option<snat::SnatPortRange>,
    /// Destinations of source-translated connections, most connections per
    /// translated address first (top 10).
    pub snat_destinations: Vec<snat::SnatDestination>,
    /// Distinct (protocol, translated address, destination) seen.
    pub snat_destination_count: u64,
}

impl Default for NatFacts {
    fn default() -> Self {
        NatFacts {
            verdict: NatVerdict::Unknown,
            translates: NatVerdict::Unknown,
            translated: NatVerdict::Unknown,
            signals: Vec::new(),
            checked: Vec::new(),
            unchecked: Vec::new(),
            conntrack: None,
            conntrack_stats: None,
            conntrack_source: None,
            snat_port_range: None,
            snat_destinations: Vec::new(),
            snat_destination_count: 0,
        }
    }
}

impl NatFacts {
    fn signal(&mut self, name: SignalName, weight: NatVerdict, side: NatSide, evidence: String) {
        self.signals.push(NatSignal {
            name,
            weight,
            side,
            evidence,
        });
    }

    /// The strongest non-weak weight among the signals of `side` (all sides
    /// when `None`), or `if_none` when there is none.
    fn strongest(&self, side: Option<NatSide>, if_none: NatVerdict) -> NatVerdict {
        self.signals
            .iter()
            .filter(|s| side.is_none_or(|side| s.side == side))
            .map(|s| s.weight)
            .filter(|w| *w > NatVerdict::Weak)
            .max()
            .unwrap_or(if_none)
    }
}

/// `ip_forward` is the runtime value `facts::gather` read (`None` when the
/// kernel lacks it): one reading of each sysctl.
pub fn gather(
    options: &GatherOptions,
    ip_forward: Option<&str>,
    counters: &Counters,
    rates: Option<&Rates>,
) -> Result<NatFacts, FactError> {
    let root = options.root();
    let mut facts = NatFacts::default();

    let forward_read = match ip_forward {
        Some(value) => {
            facts.checked.push(NatCheck::IpForward);
            if value.trim() == "1" {
                facts.signal(
                    SignalName::IpForward,
                    NatVerdict::Possible,
                    NatSide::Translates,
                    "net.ipv4.ip_forward = 1: this host routes packets for others".into(),
                );
            }
            true
        }
        None => {
            facts.unchecked.push("ip_forward: absent".into());
            false
        }
    };

    let mut snat_counter = snat::SnatCounter::default();
    conntrack_summary(
        &mut facts,
        root,
        options.reads_running_system(),
        &mut snat_counter,
    )?;
    conntrack_stats(&mut facts, root, options.reads_running_system())?;
    let mut rules_unreadable = false;
    let port_ranges = if options.reads_running_system() {
        let (ranges, unreadable) = nat_rules(&mut facts, root, options.nat_tools);
        rules_unreadable = unreadable;
        ranges
    } else {
        facts
            .unchecked
            .push("nat rules: only read on the live host".into());
        None
    };
    if facts.conntrack.is_some() {
        let range = match &port_ranges {
            Some(ranges) => snat::SnatPortRange::from_rules(ranges),
            None => snat::SnatPortRange {
                from: "kernel default (rule set not read)".into(),
                ..Default::default()
            },
        };
        let (top, distinct) = snat_counter.finish(&range);
        facts.snat_destinations = top;
        facts.snat_destination_count = distinct;
        facts.snat_port_range = Some(range);
    }
    interfaces(&mut facts, root)?;
    addresses(&mut facts, root)?;
    paws(&mut facts, counters, rates);

    let inspected = facts.checked.iter().any(|c| c.inspects_translation());
    // A rule set that could not be read (no CAP_NET_ADMIN for nft, a tool
    // stopped at its bound) may hold a masquerade: without a signal the
    // verdict is unknown, not none.
    let quiet = if forward_read && inspected && !rules_unreadable {
        NatVerdict::None
    } else {
        NatVerdict::Unknown
    };
    facts.verdict = facts.strongest(None, quiet);
    facts.translates = facts.strongest(Some(NatSide::Translates), quiet);
    // Whether a NAT stands in front of this host cannot be seen from inside
    // it: the addresses can make it possible, never rule it out.
    let addresses_read = facts.checked.contains(&NatCheck::Addresses);
    facts.translated = facts.strongest(
        Some(NatSide::Translated),
        if addresses_read {
            NatVerdict::None
        } else {
            NatVerdict::Unknown
        },
    );
    Ok(facts)
}

#[cfg(test)]
mod tests;
