//! Conntrack and NAT: the NAT verdict, how full the conntrack table is, the
//! kernel's conntrack statistics (from /proc/net/stat/nf_conntrack or, where
//! that file is missing, ctnetlink), and the SNAT port shares per
//! destination and translated address.

use super::exposition::{Exposition, flag};
use super::sockets::split_remote;
use crate::facts::Facts;
use crate::facts::nat::NatVerdict;

/// The NAT verdicts `twtune_nat_verdict` always lists (`weak` is only ever
/// a signal's weight, never a verdict).
const NAT_VERDICTS: [NatVerdict; 4] = [
    NatVerdict::Unknown,
    NatVerdict::None,
    NatVerdict::Possible,
    NatVerdict::Likely,
];

pub fn families(out: &mut Exposition, facts: &Facts, top: usize) {
    out.gauge(
        "twtune_nat_verdict",
        "Whether this host translates or is translated by NAT (1 = the current verdict) (boolean).",
    );
    let verdict = facts.nat.verdict;
    let extra = (!NAT_VERDICTS.contains(&verdict)).then_some(verdict);
    for each in NAT_VERDICTS.iter().copied().chain(extra) {
        out.sample(&[("verdict", each.as_str())], flag(each == verdict));
    }

    let count = facts.sysctl_int("net.netfilter.nf_conntrack_count");
    let max = facts.sysctl_int("net.netfilter.nf_conntrack_max");
    if let Some(count) = count {
        out.gauge(
            "twtune_conntrack_entries",
            "Connections the conntrack table holds (nf_conntrack_count) (entries).",
        );
        out.sample(&[], count as f64);
        if let Some(max) = max.filter(|m| *m > 0) {
            out.gauge(
                "twtune_conntrack_fill_ratio",
                "nf_conntrack_count / nf_conntrack_max: at 1 the kernel drops new connections (ratio, 0 to 1).",
            );
            out.sample(&[], count as f64 / max as f64);
        }
    }

    if let Some(stats) = &facts.nat.conntrack_stats {
        let counters: [(&'static str, &'static str, Option<u64>); 4] = [
            (
                "twtune_conntrack_insert_failed_total",
                "Conntrack inserts that lost a race since boot, summed over CPUs (SNAT port clashes, parallel UDP) (inserts).",
                stats.insert_failed,
            ),
            (
                "twtune_conntrack_clash_resolve_total",
                "Conntrack insert clashes resolved without a drop since boot, summed over CPUs; Linux 5.10 and later (clashes).",
                stats.clash_resolve,
            ),
            (
                "twtune_conntrack_drop_total",
                "New connections conntrack dropped because its table was full, since boot, summed over CPUs (connections).",
                stats.drop,
            ),
            (
                "twtune_conntrack_early_drop_total",
                "Conntrack entries evicted early to make room since boot, summed over CPUs (entries).",
                stats.early_drop,
            ),
        ];
        for (name, help, value) in counters {
            if let Some(value) = value {
                out.counter(name, help);
                out.sample(&[], value as f64);
            }
        }
    }

    if facts.nat.conntrack.is_some() {
        out.gauge(
            "twtune_snat_exhaustion_ratio",
            "Share of the SNAT port range taken toward a destination (address, port, protocol) from one translated address, for the busiest ones (ratio, 0 to 1).",
        );
        for d in facts.nat.snat_destinations.iter().take(top) {
            let (address, port) = split_remote(&d.remote);
            out.sample(
                &[
                    ("protocol", &d.protocol),
                    ("address", address),
                    ("port", port),
                    ("translated_address", &d.translated_address),
                ],
                d.ratio,
            );
        }
    }
}
