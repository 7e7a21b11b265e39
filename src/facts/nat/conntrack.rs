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

/// Streams a conntrack listing and counts NATed entries.
pub fn summarise(mut reader: impl BufRead) -> Result<ConntrackSummary, ConntrackError> {
    let mut summary = ConntrackSummary::default();
    let mut dnat_example = None;
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
        summary.entries += 1;
        if line.split_whitespace().any(|w| w == "TIME_WAIT") {
            summary.time_wait += 1;
        }
        if nat.snat {
            summary.snat += 1;
            if summary.example.is_none() {
                summary.example = Some(text);
            }
        } else if nat.dnat && dnat_example.is_none() {
            dnat_example = Some(text);
        }
        if nat.dnat {
            summary.dnat += 1;
        }
    }
    if summary.example.is_none() {
        summary.example = dnat_example;
    }
    Ok(summary)
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
        let s = summarise(PROC.as_bytes()).unwrap();
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
        assert_eq!(summarise(text.as_bytes()).unwrap_err().line, 2);
        assert!(classify("src=a dst=b src=c dst=d src=e dst=f").is_err());
        assert!(classify("garbage").is_err());
        assert_eq!(
            summarise("".as_bytes()).unwrap(),
            ConntrackSummary::default()
        );
    }
}
