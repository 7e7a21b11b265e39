//! Connection-tracking entries with NAT applied.
//!
//! Each entry carries the original tuple and the reply tuple the kernel
//! expects back. Without NAT the reply is the original mirrored; SNAT or
//! MASQUERADE rewrites the source, so the reply goes to another address or
//! port than the original came from; DNAT rewrites the destination. Lines from
//! /proc/net/nf_conntrack start with `ipv4 2`, lines from `conntrack -L`
//! without it: both are read by key, so either works.

use std::io::BufRead;

use schemars::JsonSchema;
use serde::Serialize;

use std::net::IpAddr;

use super::snat::{CtEntry, CtTuple, SnatCounter};
use crate::facts::read_line_bounded;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ConntrackError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tuple<'a> {
    src: Option<&'a str>,
    dst: Option<&'a str>,
    sport: Option<&'a str>,
    dport: Option<&'a str>,
}

impl Tuple<'_> {
    fn show(&self) -> String {
        let end = |a: Option<&str>, p: Option<&str>| match p {
            Some(p) => format!("{}:{p}", a.unwrap_or("?")),
            None => a.unwrap_or("?").to_string(),
        };
        format!(
            "{} -> {}",
            end(self.src, self.sport),
            end(self.dst, self.dport)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat {
    pub snat: bool,
    pub dnat: bool,
}

/// Classifies one entry; `Ok(None)` for blank lines.
pub fn classify(line: &str) -> Result<Option<(Nat, String)>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let mut tuples: [Tuple; 2] = Default::default();
    let mut index: Option<usize> = None;
    for token in line.split_whitespace() {
        let Some((key, value)) = token.split_once('=') else {
            continue;
        };
        if key == "src" {
            index = Some(index.map_or(0, |i| i + 1));
        }
        let Some(i) = index else { continue };
        if i > 1 {
            return Err("more than two src= tuples".to_string());
        }
        let t = &mut tuples[i];
        match key {
            "src" => t.src = Some(value),
            "dst" => t.dst = Some(value),
            "sport" => t.sport = t.sport.or(Some(value)),
            "dport" => t.dport = t.dport.or(Some(value)),
            _ => {}
        }
    }
    let [orig, reply] = tuples;
    if index != Some(1) || orig.dst.is_none() || reply.dst.is_none() {
        return Err("expected an original and a reply tuple (src= dst= … src= dst= …)".to_string());
    }
    let differs = |a: Option<&str>, b: Option<&str>| a.is_some() && b.is_some() && a != b;
    let nat = Nat {
        snat: reply.dst != orig.src || differs(reply.dport, orig.sport),
        dnat: reply.src != orig.dst || differs(reply.sport, orig.dport),
    };
    Ok(Some((
        nat,
        format!("{} replied as {}", orig.show(), reply.show()),
    )))
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConntrackSummary {
    pub entries: u64,
    pub snat: u64,
    pub dnat: u64,
    /// TCP entries in conntrack's TIME_WAIT state (kept 120 s by default,
    /// twice TCP's own TIME_WAIT).
    pub time_wait: u64,
    /// The first SNAT entry (or DNAT, if none), as evidence.
    pub example: Option<String>,
}

/// Folds entries into a [`ConntrackSummary`], from either listing.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    summary: ConntrackSummary,
    dnat_example: Option<String>,
}

impl SummaryBuilder {
    /// One entry: how it was translated, whether it is in TCP TIME_WAIT, and
    /// its text (made only when it becomes the example).
    pub fn add(&mut self, nat: Nat, time_wait: bool, text: impl FnOnce() -> String) {
        let summary = &mut self.summary;
        summary.entries += 1;
        summary.time_wait += u64::from(time_wait);
        if nat.snat {
            summary.snat += 1;
            if summary.example.is_none() {
                summary.example = Some(text());
            }
        } else if nat.dnat && self.dnat_example.is_none() {
            self.dnat_example = Some(text());
        }
        summary.dnat += u64::from(nat.dnat);
    }

    /// One entry as the netlink listing decodes it.
    pub fn add_entry(&mut self, entry: &CtEntry) {
        let nat = Nat {
            snat: entry.source_translated(),
            dnat: entry.destination_translated(),
        };
        self.add(nat, entry.tcp_time_wait, || entry.show());
    }

    pub fn finish(self) -> ConntrackSummary {
        let mut summary = self.summary;
        if summary.example.is_none() {
            summary.example = self.dnat_example;
        }
        summary
    }
}

/// The protocol numbers of the names conntrack's text listings use.
const PROTOCOLS: [(&str, u8); 8] = [
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("sctp", 132),
    ("dccp", 33),
    ("icmp", 1),
    ("icmpv6", 58),
    ("gre", 47),
];

/// src, dst, sport, dport as read so far.
type PartialTuple = (Option<IpAddr>, Option<IpAddr>, Option<u16>, Option<u16>);

/// One text line as a structured entry, for counting SNAT per destination;
/// `None` when it lacks a known protocol or a parsable tuple (the summary
/// still counts it through [`classify`]).
pub fn entry(line: &str) -> Option<CtEntry> {
    let mut words = line.split_whitespace();
    let protocol = words.by_ref().find_map(|w| {
        PROTOCOLS
            .iter()
            .find(|(name, _)| *name == w)
            .map(|(_, number)| *number)
    })?;
    let mut tuples: [PartialTuple; 2] = Default::default();
    let mut index: Option<usize> = None;
    let mut time_wait = false;
    for token in words {
        time_wait |= token == "TIME_WAIT";
        let Some((key, value)) = token.split_once('=') else {
            continue;
        };
        if key == "src" {
            index = Some(index.map_or(0, |i| i + 1));
        }
        let t = tuples.get_mut(index?)?;
        match key {
            "src" => t.0 = value.parse().ok(),
            "dst" => t.1 = value.parse().ok(),
            "sport" => t.2 = t.2.or(value.parse().ok()),
            "dport" => t.3 = t.3.or(value.parse().ok()),
            _ => {}
        }
    }
    let tuple = |t: PartialTuple| {
        Some(CtTuple {
            src: t.0?,
            dst: t.1?,
            sport: t.2,
            dport: t.3,
        })
    };
    let [original, reply] = tuples;
    Some(CtEntry {
        protocol,
        original: tuple(original)?,
        reply: tuple(reply)?,
        tcp_time_wait: protocol == 6 && time_wait,
    })
}

/// Streams a conntrack listing, counts NATed entries, and feeds `snat` the
/// source-translated ones.
pub fn summarise(
    mut reader: impl BufRead,
    snat: &mut SnatCounter,
) -> Result<ConntrackSummary, ConntrackError> {
    let mut builder = SummaryBuilder::default();
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        number += 1;
        let n = read_line_bounded(&mut reader, &mut line).map_err(|e| ConntrackError {
            line: number,
            message: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        // conntrack(8) ends with a summary on stderr, but be lenient if merged.
        if line.starts_with("conntrack v") {
            continue;
        }
        let Some((nat, text)) = classify(&line).map_err(|message| ConntrackError {
            line: number,
            message,
        })?
        else {
            continue;
        };
        let time_wait = line.split_whitespace().any(|w| w == "TIME_WAIT");
        builder.add(nat, time_wait, || text);
        if nat.snat
            && let Some(entry) = entry(&line)
        {
            snat.observe(&entry);
        }
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC: &str = "\
ipv4     2 tcp      6 117 TIME_WAIT src=192.0.2.2 dst=198.51.100.2 sport=41000 dport=8080 src=198.51.100.2 dst=198.51.100.1 sport=8080 dport=41000 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=50000 dport=22 src=127.0.0.1 dst=127.0.0.1 sport=22 dport=50000 [ASSURED] mark=0 zone=0 use=2
ipv4     2 udp      17 20 src=10.0.0.5 dst=10.0.0.1 sport=5353 dport=53 [UNREPLIED] src=10.0.0.1 dst=10.0.0.5 sport=53 dport=5353 mark=0 zone=0 use=2
ipv4     2 tcp      6 100 ESTABLISHED src=203.0.113.9 dst=192.0.2.1 sport=40000 dport=80 src=172.17.0.2 dst=203.0.113.9 sport=8080 dport=40000 [ASSURED] mark=0 use=1
ipv4     2 icmp     1 29 src=192.0.2.2 dst=198.51.100.2 type=8 code=0 id=7 src=198.51.100.2 dst=198.51.100.1 type=0 code=0 id=7 mark=0 use=1
ipv6     10 tcp      6 60 SYN_SENT src=2001:db8::2 dst=2001:db8:1::2 sport=5000 dport=80 [UNREPLIED] src=2001:db8:1::2 dst=2001:db8::2 sport=80 dport=5000 mark=0 use=1
";

    #[test]
    fn counts_snat_and_dnat() {
        let s = summarise(PROC.as_bytes(), &mut SnatCounter::default()).unwrap();
        assert_eq!(s.entries, 6);
        assert_eq!(s.snat, 2, "tcp and icmp masqueraded");
        assert_eq!(s.dnat, 1, "the port forward to 172.17.0.2");
        assert_eq!(s.time_wait, 1);
        assert_eq!(
            s.example.as_deref(),
            Some(
                "192.0.2.2:41000 -> 198.51.100.2:8080 replied as 198.51.100.2:8080 -> 198.51.100.1:41000"
            )
        );
    }

    #[test]
    fn text_entries_feed_the_snat_counter() {
        let mut snat = SnatCounter::default();
        summarise(PROC.as_bytes(), &mut snat).unwrap();
        let (top, distinct) = snat.finish(&Default::default());
        // The tcp and the masqueraded udp-less icmp: only tcp has ports.
        assert_eq!(distinct, 1);
        assert_eq!(top[0].remote, "198.51.100.2:8080");
        assert_eq!(top[0].translated_address, "198.51.100.1");
        assert_eq!((top[0].connections, top[0].ports), (1, 64512));
        let e = entry(PROC.lines().next().unwrap()).unwrap();
        assert_eq!(e.protocol, 6);
        assert!(e.tcp_time_wait);
        assert_eq!(e.reply.dport, Some(41000));
        let tool = "udp      17 20 src=10.0.0.5 dst=10.0.0.1 sport=5353 dport=53 [UNREPLIED] src=10.0.0.1 dst=10.0.0.9 sport=53 dport=1 mark=0 use=2";
        let e = entry(tool).unwrap();
        assert_eq!((e.protocol, e.reply.dport), (17, Some(1)));
        assert!(e.source_translated());
        assert_eq!(entry("garbage"), None);
        assert_eq!(
            entry("tcp 6 1 src=1.1.1.1 dst=zz sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1"),
            None
        );
    }

    #[test]
    fn port_only_rewrite_is_snat() {
        let line = "tcp 6 10 ESTABLISHED src=10.0.0.2 dst=10.0.0.1 sport=1000 dport=80 src=10.0.0.1 dst=10.0.0.2 sport=80 dport=61000 use=1";
        let (nat, _) = classify(line).unwrap().unwrap();
        assert_eq!(
            nat,
            Nat {
                snat: true,
                dnat: false
            }
        );
    }

    #[test]
    fn garbled_lines_name_the_line() {
        let text = "ipv4 2 tcp 6 10 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1\nipv4 2 tcp 6 10 ESTABLISHED src=1.1.1.1 dst=2.2.2.2\n";
        assert_eq!(
            summarise(text.as_bytes(), &mut SnatCounter::default())
                .unwrap_err()
                .line,
            2
        );
        assert!(classify("src=a dst=b src=c dst=d src=e dst=f").is_err());
        assert!(classify("garbage").is_err());
        assert_eq!(
            summarise("".as_bytes(), &mut SnatCounter::default()).unwrap(),
            ConntrackSummary::default()
        );
    }
}
