//! The conntrack table's own health: how full it is and what it dropped.
//!
//! `nf_conntrack_count` and `nf_conntrack_max` (and the TIME_WAIT timeout) are
//! sysctls under /proc/sys/net/netfilter, gathered with the other sysctls.
//! The per-CPU statistics come from /proc/net/stat/nf_conntrack: a header of
//! field names, then one line of hexadecimal values per CPU
//! (net/netfilter/nf_conntrack_standalone.c: `ct_cpu_seq_show()`). The field
//! list changed over the years (`searched` → `clashres`, `delete_list`
//! dropped), so fields are read by name and summed over the CPUs.

use schemars::JsonSchema;
use serde::Serialize;

/// Since boot, summed over CPUs; a field this kernel does not print is null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConntrackStats {
    /// Inserts that lost a race (the same tuple confirmed twice: SNAT port
    /// clashes, parallel UDP DNS queries on one socket).
    pub insert_failed: Option<u64>,
    /// New connections dropped because the table was full.
    pub drop: Option<u64>,
    /// Entries evicted early to make room.
    pub early_drop: Option<u64>,
    /// Clashes resolved without a drop (mostly parallel UDP, DNS): counted
    /// apart from insert_failed since Linux 5.10 ("netfilter: conntrack:
    /// add clash resolution stat counter"); null on older kernels, which
    /// counted them in insert_failed.
    pub clash_resolve: Option<u64>,
}

/// Parses /proc/net/stat/nf_conntrack.
pub fn parse_stats(text: &str) -> Result<ConntrackStats, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty: no header line")?
        .split_whitespace()
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let wanted = [
        column("insert_failed"),
        column("drop"),
        column("early_drop"),
        column("clashres"),
    ];
    let mut sums: [Option<u64>; 4] = wanted.map(|c| c.map(|_| 0));
    for (index, line) in lines.enumerate() {
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.len() != header.len() {
            return Err(format!(
                "line {}: {} values under {} field names",
                index + 2,
                values.len(),
                header.len()
            ));
        }
        for (sum, col) in sums.iter_mut().zip(wanted) {
            if let (Some(sum), Some(col)) = (sum.as_mut(), col) {
                let value = u64::from_str_radix(values[col], 16).map_err(|_| {
                    format!("line {}: {:?} is not hexadecimal", index + 2, values[col])
                })?;
                *sum = sum.saturating_add(value);
            }
        }
    }
    let [insert_failed, drop, early_drop, clash_resolve] = sums;
    Ok(ConntrackStats {
        insert_failed,
        drop,
        early_drop,
        clash_resolve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Linux 6.x: 17 fields, two CPUs.
    const MODERN: &str = "\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0000001e  00000000 00000000 00000000 00000005 00000000 00000000 00000000 00000000 00000003 00000001 00000000 00000000  00000000 00000000 00000000 00000000
0000001e  00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0000000a 00000000 00000004 00000000  00000000 00000000 00000000 00000000
";

    // Linux 3.10: `searched` and `delete_list` still there.
    const OLD: &str = "\
entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000000  00000000 00000000 00000000 00000000
";

    #[test]
    fn sums_the_cpus_by_field_name() {
        assert_eq!(
            parse_stats(MODERN).unwrap(),
            ConntrackStats {
                insert_failed: Some(13),
                drop: Some(1),
                early_drop: Some(4),
                clash_resolve: Some(2),
            }
        );
        assert_eq!(parse_stats(OLD).unwrap().drop, Some(2));
        assert_eq!(parse_stats(OLD).unwrap().clash_resolve, None);
    }

    #[test]
    fn a_missing_field_is_null_and_garbage_is_an_error() {
        let few = "entries drop\n00000001 00000002\n";
        assert_eq!(
            parse_stats(few).unwrap(),
            ConntrackStats {
                insert_failed: None,
                drop: Some(2),
                early_drop: None,
                clash_resolve: None,
            }
        );
        assert!(parse_stats("").is_err());
        assert!(
            parse_stats("entries drop\n1\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(parse_stats("entries drop\n1 zz\n").is_err());
    }
}
