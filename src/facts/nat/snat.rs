//! SNAT port pressure: where this host masquerades or source-NATs, every
//! translated connection to one destination takes one port of the NAT port
//! range on one translated source address, and the kernel cannot give two
//! connections to the same destination the same one.
//!
//! How the kernel picks the port (net/netfilter/nf_nat_core.c, read at
//! torvalds/linux 002c6ca75289): get_unique_tuple() keeps the original source
//! port when it lies in the rule's range and the resulting tuple is unused;
//! otherwise nf_nat_l4proto_unique_tuple() searches the range the rule gives
//! (NF_NAT_RANGE_PROTO_SPECIFIED, e.g. nft `masquerade to :40000-40099`,
//! iptables `--to-ports`), or, without one, 1024-65535 for source ports from
//! 1024 up (1-511 and 600-1023 for lower ones) — never ip_local_port_range.
//! A port is free when nf_nat_used_tuple() finds no entry with the same reply
//! tuple: (destination address and port, translated address and port), so
//! the pool is per destination and per translated address. The search tries
//! at most 128 ports from a random offset, then 64, 32, 16 from new ones: on
//! a nearly full range it gives up with free ports left, and the connection
//! fails when the duplicate is found at confirmation (conntrack's
//! insert_failed).
//!
//! The conntrack table is read entry by entry (over netlink, or as text) and
//! folded into [`SnatCounter`], whose memory is bounded by [`MAX_KEYS`]
//! distinct (translated address, destination) pairs, never by the number of
//! entries.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// One direction of a conntrack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

/// A conntrack entry: the original direction and the reply the kernel
/// expects, which NAT rewrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtEntry {
    pub protocol: u8,
    pub original: CtTuple,
    pub reply: CtTuple,
    /// TCP entry in conntrack's TIME_WAIT state.
    pub tcp_time_wait: bool,
}

impl CtEntry {
    /// The source was rewritten (SNAT, MASQUERADE): the reply goes to another
    /// address, or another port, than the original came from.
    pub fn source_translated(&self) -> bool {
        let port_differs = matches!(
            (self.reply.dport, self.original.sport),
            (Some(a), Some(b)) if a != b
        );
        self.reply.dst != self.original.src || port_differs
    }

    /// The destination was rewritten (DNAT).
    pub fn destination_translated(&self) -> bool {
        let port_differs = matches!(
            (self.reply.sport, self.original.dport),
            (Some(a), Some(b)) if a != b
        );
        self.reply.src != self.original.dst || port_differs
    }

    /// "src:sport -> dst:dport replied as …", as the text listing's evidence.
    pub fn show(&self) -> String {
        let end = |a: IpAddr, p: Option<u16>| match p {
            Some(p) => format!("{a}:{p}"),
            None => a.to_string(),
        };
        let t = |t: &CtTuple| format!("{} -> {}", end(t.src, t.sport), end(t.dst, t.dport));
        format!("{} replied as {}", t(&self.original), t(&self.reply))
    }
}

/// Distinct (protocol, translated address, destination) pairs counted; more
/// are left out (and said so in `snat_destination_count`).
pub const MAX_KEYS: usize = 100_000;
/// How many destinations the facts keep, most pressed first.
pub const TOP_SNAT_DESTINATIONS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SnatKey {
    protocol: u8,
    remote: IpAddr,
    remote_port: u16,
    translated: IpAddr,
}

/// Translated connections per destination and translated source address,
/// counted as entries stream past.
#[derive(Debug, Default)]
pub struct SnatCounter {
    counts: HashMap<SnatKey, u64>,
    /// Entries of pairs beyond [`MAX_KEYS`]: not counted per destination.
    pub left_out: u64,
}

impl SnatCounter {
    /// Counts one entry if its source was translated and its protocol has
    /// ports (TCP, UDP, SCTP, DCCP, UDP-Lite); others take no port.
    pub fn observe(&mut self, entry: &CtEntry) {
        if !entry.source_translated() {
            return;
        }
        let (Some(remote_port), Some(_)) = (entry.reply.sport, entry.reply.dport) else {
            return;
        };
        // The reply comes from the real destination to the translated address.
        let key = SnatKey {
            protocol: entry.protocol,
            remote: entry.reply.src.to_canonical(),
            remote_port,
            translated: entry.reply.dst.to_canonical(),
        };
        if let Some(n) = self.counts.get_mut(&key) {
            *n += 1;
        } else if self.counts.len() < MAX_KEYS {
            self.counts.insert(key, 1);
        } else {
            self.left_out += 1;
        }
    }

    /// The most pressed destinations against `range`, and how many distinct
    /// pairs were seen.
    pub fn finish(self, range: &SnatPortRange) -> (Vec<SnatDestination>, u64) {
        let ports = range.ports();
        let distinct = self.counts.len() as u64;
        let mut ranked: Vec<(SnatKey, u64)> = self.counts.into_iter().collect();
        ranked.sort_by(|(ka, a), (kb, b)| b.cmp(a).then(ka.cmp(kb)));
        ranked.truncate(TOP_SNAT_DESTINATIONS);
        let destinations = ranked
            .into_iter()
            .map(|(key, connections)| SnatDestination {
                remote: SocketAddr::new(key.remote, key.remote_port).to_string(),
                protocol: protocol_name(key.protocol),
                translated_address: key.translated.to_string(),
                connections,
                ports,
                ratio: if ports == 0 {
                    1.0
                } else {
                    connections as f64 / f64::from(ports)
                },
            })
            .collect();
        (destinations, distinct)
    }
}

fn protocol_name(number: u8) -> String {
    match number {
        6 => "tcp".into(),
        17 => "udp".into(),
        33 => "dccp".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        n => n.to_string(),
    }
}

/// One destination as this host's SNAT sees it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SnatDestination {
    /// The real destination, `"addr:port"` (`"[v6]:port"`).
    pub remote: String,
    /// "tcp", "udp", … (the number for others).
    pub protocol: String,
    /// The source address connections to it are translated to.
    pub translated_address: String,
    /// Conntrack entries (any state, TIME_WAIT included: they keep their
    /// port) translated to that address toward this destination.
    pub connections: u64,
    /// The NAT port range's size: the ports one translated address has for
    /// one destination.
    pub ports: u32,
    /// connections / ports.
    pub ratio: f64,
}

/// The source ports SNAT chooses from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SnatPortRange {
    pub low: u16,
    pub high: u16,
    /// "rule" (every source NAT rule read names this range, or the widest of
    /// theirs) or "kernel default" (1024-65535, nf_nat_l4proto_unique_tuple).
    pub from: String,
}

/// nf_nat_l4proto_unique_tuple()'s range for source ports from 1024 up.
pub const KERNEL_DEFAULT: (u16, u16) = (1024, 65535);

impl Default for SnatPortRange {
    fn default() -> Self {
        SnatPortRange {
            low: KERNEL_DEFAULT.0,
            high: KERNEL_DEFAULT.1,
            from: "kernel default".into(),
        }
    }
}

impl SnatPortRange {
    pub fn ports(&self) -> u32 {
        u32::from(self.high.max(self.low)) - u32::from(self.high.min(self.low)) + 1
    }

    /// The range to judge by, from the ranges of the source NAT rules read
    /// (`None` for a rule without one): a rule without a range uses the
    /// kernel's, and entries cannot be told apart by rule, so the widest
    /// range any rule allows is taken — pressure is never overstated.
    pub fn from_rules(ranges: &[Option<(u16, u16)>]) -> SnatPortRange {
        if ranges.is_empty() || ranges.iter().any(Option::is_none) {
            return SnatPortRange::default();
        }
        let widest = ranges
            .iter()
            .flatten()
            .max_by_key(|(low, high)| u32::from(*high) - u32::from(*low));
        match widest {
            Some(&(low, high)) => SnatPortRange {
                low,
                high,
                from: "rule".into(),
            },
            None => SnatPortRange::default(),
        }
    }
}

fn port_range(port: &Value) -> Option<(u16, u16)> {
    let as_port = |v: &Value| v.as_u64().and_then(|n| u16::try_from(n).ok());
    if let Some(p) = as_port(port) {
        return Some((p, p));
    }
    let range = port.get("range")?.as_array()?;
    let (low, high) = (as_port(range.first()?)?, as_port(range.get(1)?)?);
    Some((low.min(high), low.max(high)))
}

/// The port range of every source NAT rule in `nft -j list ruleset` output
/// (`None` for a rule that names none).
pub fn nft_port_ranges(text: &str) -> Vec<Option<(u16, u16)>> {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let Some(items) = doc.get("nftables").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut ranges = Vec::new();
    for expr in items
        .iter()
        .filter_map(|item| item.get("rule")?.get("expr")?.as_array())
        .flatten()
    {
        for action in ["masquerade", "snat"] {
            if let Some(nat) = expr.get(action) {
                ranges.push(nat.get("port").and_then(port_range));
            }
        }
    }
    ranges
}

/// The port range of every MASQUERADE/SNAT rule in `iptables-save` output:
/// `--to-ports LOW[-HIGH]` or `--to-source ADDR[-ADDR]:LOW[-HIGH]`.
pub fn iptables_port_ranges(text: &str) -> Vec<Option<(u16, u16)>> {
    let parse = |spec: &str| -> Option<(u16, u16)> {
        let (low, high) = spec.split_once('-').unwrap_or((spec, spec));
        let (low, high) = (low.parse::<u16>().ok()?, high.parse::<u16>().ok()?);
        Some((low.min(high), low.max(high)))
    };
    text.lines()
        .filter(|l| l.starts_with("-A ") && (l.contains("-j MASQUERADE") || l.contains("-j SNAT")))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.windows(2).find_map(|w| match w[0] {
                "--to-ports" => parse(w[1]),
                // An IPv6 address is bracketed when a port follows.
                "--to-source" => w[1].rsplit_once(']').map_or_else(
                    || w[1].split_once(':').and_then(|(_, p)| parse(p)),
                    |(_, rest)| rest.strip_prefix(':').and_then(parse),
                ),
                _ => None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(orig: (&str, u16, &str, u16), reply: (&str, u16, &str, u16)) -> CtEntry {
        let t = |(s, sp, d, dp): (&str, u16, &str, u16)| CtTuple {
            src: s.parse().unwrap(),
            dst: d.parse().unwrap(),
            sport: Some(sp),
            dport: Some(dp),
        };
        CtEntry {
            protocol: 6,
            original: t(orig),
            reply: t(reply),
            tcp_time_wait: false,
        }
    }

    #[test]
    fn counts_translated_entries_per_destination_and_address() {
        let mut c = SnatCounter::default();
        for p in 0..80u16 {
            c.observe(&entry(
                ("192.0.2.2", 50000 + p, "198.51.100.2", 8080),
                ("198.51.100.2", 8080, "198.51.100.1", 40000 + p),
            ));
        }
        // Untranslated: the router's own connection, and a DNAT-only entry.
        c.observe(&entry(
            ("198.51.100.1", 33000, "198.51.100.2", 8080),
            ("198.51.100.2", 8080, "198.51.100.1", 33000),
        ));
        c.observe(&entry(
            ("203.0.113.9", 40000, "192.0.2.1", 80),
            ("172.17.0.2", 8080, "203.0.113.9", 40000),
        ));
        for p in 0..3u16 {
            c.observe(&entry(
                ("192.0.2.3", 50000 + p, "198.51.100.3", 53),
                ("198.51.100.3", 53, "198.51.100.1", 61000 + p),
            ));
        }
        let range = SnatPortRange::from_rules(&[Some((40000, 40099))]);
        let (top, distinct) = c.finish(&range);
        assert_eq!(distinct, 2);
        assert_eq!(top[0].remote, "198.51.100.2:8080");
        assert_eq!(top[0].translated_address, "198.51.100.1");
        assert_eq!(top[0].protocol, "tcp");
        assert_eq!((top[0].connections, top[0].ports), (80, 100));
        assert!((top[0].ratio - 0.8).abs() < 1e-12);
        assert_eq!(top[1].connections, 3);
    }

    #[test]
    fn the_range_is_the_rules_or_the_kernels() {
        assert_eq!(SnatPortRange::from_rules(&[]).ports(), 64512);
        assert_eq!(
            SnatPortRange::from_rules(&[Some((40000, 40099)), None]).from,
            "kernel default"
        );
        let two = SnatPortRange::from_rules(&[Some((40000, 40099)), Some((1000, 2000))]);
        assert_eq!((two.low, two.high, two.ports()), (1000, 2000, 1001));
    }

    #[test]
    fn reads_port_ranges_from_nft_and_iptables() {
        let nft = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"rule": {"family": "ip", "table": "nat", "chain": "post", "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "rs"}},
            {"masquerade": {"port": {"range": [40000, 40099]}}}]}},
          {"rule": {"expr": [{"snat": {"addr": "192.0.2.9", "port": 3000}}]}},
          {"rule": {"expr": [{"masquerade": {"flags": ["random", "fully-random"]}}]}},
          {"rule": {"expr": [{"accept": null}]}}]}"#;
        assert_eq!(
            nft_port_ranges(nft),
            vec![Some((40000, 40099)), Some((3000, 3000)), None]
        );
        assert!(nft_port_ranges("not json").is_empty());
        let save = "*nat\n-A POSTROUTING -o eth0 -p tcp -j MASQUERADE --to-ports 40000-40099\n-A POSTROUTING -o eth1 -p udp -j SNAT --to-source 192.0.2.1-192.0.2.4:1000-2000\n-A POSTROUTING -o eth2 -j SNAT --to-source [2001:db8::1]:7000\n-A POSTROUTING -o eth3 -j MASQUERADE\n-A PREROUTING -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n";
        assert_eq!(
            iptables_port_ranges(save),
            vec![
                Some((40000, 40099)),
                Some((1000, 2000)),
                Some((7000, 7000)),
                None
            ]
        );
    }
}
