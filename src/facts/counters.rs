//! Kernel counters: /proc/net/netstat, /proc/net/snmp, /proc/net/sockstat{,6}.
//!
//! procfs-core parses /proc/net/snmp into a struct with every field required and
//! has no TcpExt parser at all; counters come and go between kernels
//! (PAWSPassive left in 4.12, PAWSTimewait arrived later), and a missing one is
//! "absent", never an error. So these two small line formats are parsed here, by
//! name, tolerating any extra or missing fields.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

/// One `Prefix:` group of /proc/net/netstat or /proc/net/snmp, by counter name.
///
/// The kernel prints most counters as `unsigned long` (a 64-bit counter can
/// pass 2^63 and wrap to 0) and a few fields signed (`Tcp: MaxConn -1`,
/// net/ipv4/proc.c: snmp_seq_show_tcp_udp), so a value is either: held in
/// an i128, which both fit in, and parsed as u64 unless it is negative.
pub type CounterGroup = BTreeMap<String, i128>;

/// A counter's text: a u64, or an i64 when it starts with `-`.
fn parse_counter(text: &str) -> Option<i128> {
    // Rust's parsers take a leading `+`; the kernel never prints one.
    if text.starts_with('+') {
        None
    } else if text.starts_with('-') {
        text.parse::<i64>().ok().map(i128::from)
    } else {
        text.parse::<u64>().ok().map(i128::from)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Counters {
    /// TcpExt from /proc/net/netstat (TW, TWRecycled, TCPTimeWaitOverflow, …).
    pub tcp_ext: CounterGroup,
    /// Tcp from /proc/net/snmp (ActiveOpens, PassiveOpens, CurrEstab, …).
    pub tcp: CounterGroup,
    /// /proc/net/sockstat and sockstat6: protocol ("TCP", "TCP6") → field → value.
    pub sockstat: BTreeMap<String, CounterGroup>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CounterParseError {
    #[error("line {line}: {prefix} header has {names} names but the values line has {values}")]
    LengthMismatch {
        line: usize,
        prefix: String,
        names: usize,
        values: usize,
    },
    #[error("line {line}: {prefix} header is not followed by its values line")]
    MissingValues { line: usize, prefix: String },
    #[error("line {line}: {value:?} is not a number")]
    NotANumber { line: usize, value: String },
    #[error("line {line}: expected `Prefix: …`, found {text:?}")]
    Malformed { line: usize, text: String },
}

/// Parses the "header line, values line" format shared by /proc/net/netstat and
/// /proc/net/snmp into prefix → (name → value).
pub fn parse_paired_counters(
    text: &str,
) -> Result<BTreeMap<String, CounterGroup>, CounterParseError> {
    let mut groups: BTreeMap<String, CounterGroup> = BTreeMap::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    while let Some((index, header)) = lines.next() {
        let line = index + 1;
        let (prefix, names) = split_prefix(header, line)?;
        let Some((value_index, values_line)) = lines.next() else {
            return Err(CounterParseError::MissingValues {
                line,
                prefix: prefix.to_string(),
            });
        };
        let (value_prefix, values) = split_prefix(values_line, value_index + 1)?;
        if value_prefix != prefix {
            return Err(CounterParseError::MissingValues {
                line,
                prefix: prefix.to_string(),
            });
        }
        let names: Vec<&str> = names.split_whitespace().collect();
        let values: Vec<&str> = values.split_whitespace().collect();
        if names.len() != values.len() {
            return Err(CounterParseError::LengthMismatch {
                line: value_index + 1,
                prefix: prefix.to_string(),
                names: names.len(),
                values: values.len(),
            });
        }
        let pairs = names
            .into_iter()
            .zip(values)
            .map(|(name, value)| match parse_counter(value) {
                Some(n) => Ok((name.to_string(), n)),
                None => Err(CounterParseError::NotANumber {
                    line: value_index + 1,
                    value: value.to_string(),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Built whole from the pairs, the map's nodes are full: `check
        // --all-netns` keeps ~150 counters for each of 1,000 namespaces,
        // and one insert at a time leaves the nodes about half empty.
        match groups.get_mut(prefix) {
            Some(group) => CounterGroup::extend(group, pairs),
            None => {
                groups.insert(prefix.to_string(), pairs.into_iter().collect());
            }
        }
    }
    Ok(groups)
}

/// Parses /proc/net/sockstat or sockstat6: `TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`.
pub fn parse_sockstat(text: &str) -> Result<BTreeMap<String, CounterGroup>, CounterParseError> {
    let mut protocols = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = index + 1;
        let (protocol, fields) = split_prefix(raw, line)?;
        let words: Vec<&str> = fields.split_whitespace().collect();
        if !words.len().is_multiple_of(2) {
            return Err(CounterParseError::Malformed {
                line,
                text: raw.to_string(),
            });
        }
        let group: &mut CounterGroup = protocols.entry(protocol.to_string()).or_default();
        for pair in words.chunks_exact(2) {
            let value = parse_counter(pair[1]).ok_or_else(|| CounterParseError::NotANumber {
                line,
                value: pair[1].to_string(),
            })?;
            group.insert(pair[0].to_string(), value);
        }
    }
    Ok(protocols)
}

fn split_prefix(line_text: &str, line: usize) -> Result<(&str, &str), CounterParseError> {
    match line_text.split_once(':') {
        Some((prefix, rest)) if !prefix.is_empty() && !prefix.contains(char::is_whitespace) => {
            Ok((prefix, rest))
        }
        _ => Err(CounterParseError::Malformed {
            line,
            text: line_text.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETSTAT: &str = "\
TcpExt: SyncookiesSent SyncookiesRecv TW TWRecycled TWKilled PAWSActive PAWSEstab TCPTimeWaitOverflow
TcpExt: 0 0 1520 3 0 0 2 17
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
";

    #[test]
    fn tcpext_counters_are_read_by_name() {
        let groups = parse_paired_counters(NETSTAT).unwrap();
        assert_eq!(groups["TcpExt"]["TW"], 1520);
        assert_eq!(groups["TcpExt"]["TCPTimeWaitOverflow"], 17);
        assert_eq!(groups["IpExt"]["InNoRoutes"], 0);
        assert!(!groups["TcpExt"].contains_key("PAWSPassive"));
    }

    #[test]
    fn snmp_negative_values_parse() {
        // Tcp MaxConn is -1 ("no limit") in /proc/net/snmp.
        let text = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens\nTcp: 1 200 120000 -1 42\n";
        let groups = parse_paired_counters(text).unwrap();
        assert_eq!(groups["Tcp"]["MaxConn"], -1);
        assert_eq!(groups["Tcp"]["ActiveOpens"], 42);
    }

    #[test]
    fn counters_past_2_63_parse_and_signed_fields_stay_signed() {
        let text = "TcpExt: TW TWKilled\nTcpExt: 18446744073709551615 9223372036854775808\n\
                    Tcp: MaxConn ActiveOpens\nTcp: -1 18446744073709551615\n";
        let groups = parse_paired_counters(text).unwrap();
        assert_eq!(groups["TcpExt"]["TW"], i128::from(u64::MAX));
        assert_eq!(groups["TcpExt"]["TWKilled"], 1i128 << 63);
        assert_eq!(groups["Tcp"]["MaxConn"], -1);
        assert_eq!(groups["Tcp"]["ActiveOpens"], i128::from(u64::MAX));
        // Past u64, or below i64: not a counter the kernel prints.
        for bad in ["18446744073709551616", "-9223372036854775809", "+1", "1.5"] {
            let text = format!("TcpExt: TW\nTcpExt: {bad}\n");
            assert!(
                matches!(
                    parse_paired_counters(&text),
                    Err(CounterParseError::NotANumber { line: 2, .. })
                ),
                "{bad}"
            );
        }
        let sockstat = parse_sockstat("TCP: inuse 18446744073709551615 tw 1\n").unwrap();
        assert_eq!(sockstat["TCP"]["inuse"], i128::from(u64::MAX));
    }

    #[test]
    fn truncated_values_line_is_an_error_with_its_line() {
        let text = "TcpExt: TW TWRecycled TWKilled\nTcpExt: 1 2\n";
        assert_eq!(
            parse_paired_counters(text),
            Err(CounterParseError::LengthMismatch {
                line: 2,
                prefix: "TcpExt".into(),
                names: 3,
                values: 2
            })
        );
    }

    #[test]
    fn header_without_values_is_an_error() {
        assert!(matches!(
            parse_paired_counters("TcpExt: TW TWRecycled\n"),
            Err(CounterParseError::MissingValues { line: 1, .. })
        ));
    }

    #[test]
    fn garbled_number_is_an_error() {
        assert!(matches!(
            parse_paired_counters("TcpExt: TW\nTcpExt: 1x\n"),
            Err(CounterParseError::NotANumber { line: 2, .. })
        ));
    }

    #[test]
    fn sockstat_fields_are_pairs() {
        let text =
            "sockets: used 290\nTCP: inuse 5 orphan 0 tw 1520 alloc 7 mem 1\nUDP: inuse 2 mem 0\n";
        let groups = parse_sockstat(text).unwrap();
        assert_eq!(groups["TCP"]["tw"], 1520);
        assert_eq!(groups["sockets"]["used"], 290);
    }

    #[test]
    fn sockstat6_and_extra_fields_are_tolerated() {
        let text = "TCP6: inuse 3 future 9\nFRAG6: inuse 0 memory 0\n";
        let groups = parse_sockstat(text).unwrap();
        assert_eq!(groups["TCP6"]["future"], 9);
    }

    #[test]
    fn sockstat_odd_field_count_is_an_error() {
        assert!(matches!(
            parse_sockstat("TCP: inuse 5 orphan\n"),
            Err(CounterParseError::Malformed { line: 1, .. })
        ));
    }
}
