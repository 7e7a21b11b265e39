//! Properties the fuzz targets (`fuzz/`) and their replay test
//! (`tests/fuzz_replay.rs`) check, in one place so the two cannot drift.
//!
//! Each function takes the raw fuzz input, feeds it to one parser and panics
//! if a property the parser promises does not hold: a panic is what libFuzzer
//! reports as a crash and what `cargo test` reports as a failure. A parser
//! returning an error is never a failure; every input is untrusted.
//! Not part of twtune's interface.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use crate::apply::{dropin, journal};
use crate::facts::counters::{self, CounterGroup};
use crate::facts::kernel::KernelVersion;
use crate::facts::nat::{conntrack, ctnetlink, host, ruleset, snat, table};
use crate::facts::sockets::{SockRecord, diag, owners, proc_tcp};
use crate::facts::{self, Facts, GatherOptions, cgroup as cgroups, persisted, ports};
use crate::rules::{self, load};
use crate::sysctl::{SysctlKey, normalize_value};

mod ctstats;
mod nf_tables;
mod trace;

pub use ctstats::ctnetlink_stats;
pub use nf_tables::nf_tables_buffers;
pub use trace::{perf_sample, trace_format};

/// One fuzz target: its name (the file under `fuzz/fuzz_targets/` and the
/// folder under `fuzz/corpus/` and `fuzz/regressions/`) and its property check.
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
}

/// Every target, in the order FUZZING.md lists them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "sock_diag",
        check: sock_diag,
    },
    Target {
        name: "proc_tcp",
        check: proc_tcp_lines,
    },
    Target {
        name: "paired_counters",
        check: paired_counters,
    },
    Target {
        name: "sockstat",
        check: sockstat,
    },
    Target {
        name: "ports",
        check: port_settings,
    },
    Target {
        name: "sysctl_file",
        check: sysctl_file,
    },
    Target {
        name: "dropin_edit",
        check: dropin_edit,
    },
    Target {
        name: "conntrack",
        check: conntrack_lines,
    },
    Target {
        name: "ctnetlink",
        check: ctnetlink_buffers,
    },
    Target {
        name: "nat_ruleset",
        check: nat_ruleset,
    },
    Target {
        name: "kernel_release",
        check: kernel_release,
    },
    Target {
        name: "duration",
        check: duration,
    },
    Target {
        name: "journal",
        check: journal_json,
    },
    Target {
        name: "rule_toml",
        check: rule_toml,
    },
    Target {
        name: "nat_host",
        check: nat_host,
    },
    Target {
        name: "socket_link",
        check: socket_link,
    },
    Target {
        name: "cgroup",
        check: cgroup,
    },
    Target {
        name: "conntrack_stats",
        check: conntrack_stats,
    },
    Target {
        name: "trace_format",
        check: trace_format,
    },
    Target {
        name: "perf_sample",
        check: perf_sample,
    },
    Target {
        name: "ctnetlink_stats",
        check: ctnetlink_stats,
    },
    Target {
        name: "nf_tables",
        check: nf_tables_buffers,
    },
];

/// The check registered under `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|t| t.name == name).map(|t| t.check)
}

/// Text parsers take `&str`: what is not UTF-8 never reaches them (the
/// readers reject it first), so the fuzzer's non-UTF-8 inputs are skipped.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

const NLMSG_AND_INET_DIAG_MSG: usize = 16 + 72;

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// sock_diag receive buffers: a record comes only from a whole message, and
/// both its addresses are of the family the record names.
pub fn sock_diag(data: &[u8]) {
    let mut records = Vec::new();
    let result = diag::decode(data, |r| records.push(r));
    assert!(
        records.len() * NLMSG_AND_INET_DIAG_MSG <= data.len(),
        "{} records from {} bytes",
        records.len(),
        data.len()
    );
    for r in &records {
        assert!(same_family(r.local, r.remote), "{r:?}");
    }
    // Decoding is a pure function of the bytes.
    let mut again = Vec::new();
    assert_eq!(diag::decode(data, |r| again.push(r)), result);
    assert_eq!(again, records);
}

/// The address as /proc/net/tcp prints it: each 32-bit word in memory order
/// through `%08X`.
fn proc_address(addr: IpAddr) -> String {
    let octets: Vec<u8> = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    octets
        .chunks_exact(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

/// A record written back as a /proc/net/tcp line, as the kernel's
/// get_tcp4_sock / get_tcp6_sock / get_timewait4_sock print it: a TIME_WAIT
/// timer (kind 3) in USER_HZ ticks; a value that saturated when read back in
/// milliseconds is printed as the largest tick count, which saturates again.
fn proc_line(r: &SockRecord) -> String {
    let timer = match r.timer_left_ms {
        Some(u32::MAX) => format!("03:{:08X}", u32::MAX),
        Some(ms) => format!("03:{:08X}", ms / 10),
        None => "00:00000000".to_string(),
    };
    format!(
        "   0: {}:{:04X} {}:{:04X} {:02X} 00000000:00000000 {timer} 00000000     0        0 {} 1 0000000000000000 100 0 0 10 0\n",
        proc_address(r.local),
        r.local_port,
        proc_address(r.remote),
        r.remote_port,
        r.state.number(),
        r.inode
    )
}

/// /proc/net/tcp{,6}: every parsed line has a TCP state (1..=12) and one
/// family, writing it back and parsing again gives the same socket, and the
/// streaming reader yields exactly the lines `parse_line` accepts.
pub fn proc_tcp_lines(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut expected = Vec::new();
    let mut first_error = None;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        match proc_tcp::parse_line(line) {
            Ok(Some(r)) => {
                assert!((1..=12).contains(&r.state.number()), "{r:?}");
                assert!(same_family(r.local, r.remote), "{r:?}");
                let printed = proc_line(&r);
                assert_eq!(proc_tcp::parse_line(&printed), Ok(Some(r)), "{printed:?}");
                if first_error.is_none() {
                    expected.push(r);
                }
            }
            Ok(None) => {}
            Err(_) => {
                if first_error.is_none() {
                    first_error = Some(index + 1);
                }
            }
        }
    }
    let mut streamed = Vec::new();
    let result = proc_tcp::for_each(text.as_bytes(), |r| streamed.push(r));
    assert_eq!(streamed, expected);
    assert_eq!(result.err().map(|e| e.line), first_error);
}

fn check_prefix(prefix: &str) {
    assert!(
        !prefix.is_empty() && !prefix.contains(char::is_whitespace) && !prefix.contains(':'),
        "{prefix:?}"
    );
}

fn check_names(group: &CounterGroup) {
    for name in group.keys() {
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "{name:?}"
        );
    }
}

/// /proc/net/netstat and /proc/net/snmp: what parses can be written back in
/// the same format and parses to the same counters.
pub fn paired_counters(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(groups) = counters::parse_paired_counters(text) else {
        return;
    };
    let mut printed = String::new();
    for (prefix, group) in &groups {
        check_prefix(prefix);
        check_names(group);
        let names: Vec<&str> = group.keys().map(String::as_str).collect();
        let values: Vec<String> = group.values().map(i128::to_string).collect();
        printed.push_str(&format!("{prefix}: {}\n", names.join(" ")));
        printed.push_str(&format!("{prefix}: {}\n", values.join(" ")));
    }
    assert_eq!(
        counters::parse_paired_counters(&printed).as_ref(),
        Ok(&groups),
        "{printed:?}"
    );
}

/// /proc/net/sockstat{,6}: what parses can be written back and parses the same.
pub fn sockstat(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(protocols) = counters::parse_sockstat(text) else {
        return;
    };
    let mut printed = String::new();
    for (protocol, group) in &protocols {
        check_prefix(protocol);
        check_names(group);
        printed.push_str(protocol);
        printed.push(':');
        for (name, value) in group {
            printed.push_str(&format!(" {name} {value}"));
        }
        printed.push('\n');
    }
    assert_eq!(
        counters::parse_sockstat(&printed).as_ref(),
        Ok(&protocols),
        "{printed:?}"
    );
}

/// ip_local_port_range and ip_local_reserved_ports (the input is split at the
/// first newline): every reserved range has low ≤ high, and the usable ports
/// never exceed the range.
pub fn port_settings(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let (range_text, reserved_text) = text.split_once('\n').unwrap_or((text, ""));
    let range = ports::parse_range(range_text);
    if let Ok(range) = range {
        assert_eq!(
            ports::parse_range(&format!("{}\t{}", range.low, range.high)),
            Ok(range)
        );
    }
    let Ok(reserved) = ports::parse_reserved(reserved_text) else {
        return;
    };
    for r in &reserved {
        assert!(r.low <= r.high, "{r:?}");
    }
    let printed: Vec<String> = reserved
        .iter()
        .map(|r| format!("{}-{}", r.low, r.high))
        .collect();
    assert_eq!(
        ports::parse_reserved(&printed.join(",")).as_ref(),
        Ok(&reserved)
    );
    let range = range.unwrap_or_default();
    let usable = ports::usable_ports(range, &reserved);
    assert!(usable <= range.size(), "{usable} of {range:?}");
}

type Assignment = (String, String, bool);

fn assignments(settings: &[persisted::Setting]) -> Vec<Assignment> {
    settings
        .iter()
        .map(|s| (s.key.to_string(), s.value.to_string(), s.ignore_failure))
        .collect()
}

/// sysctl.d files: keys come out canonical (dotted, managed), values
/// normalised, lines numbered in order, and the settings written back as a
/// file parse to the same settings.
pub fn sysctl_file(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let (settings, problems) = persisted::parse_sysctl_file("fuzz.conf", text);
    let line_count = text.lines().count();
    let mut last_line = 0;
    for s in &settings {
        let key = SysctlKey::parse(s.key.as_str()).map(|k| k.to_string());
        assert_eq!(key.as_deref(), Ok(s.key.as_str()), "{s:?}");
        assert_eq!(normalize_value(&s.value), s.value, "{s:?}");
        assert!(s.line > last_line && s.line <= line_count, "{s:?}");
        last_line = s.line;
    }
    for p in &problems {
        assert!(p.line >= 1 && p.line <= line_count, "{p:?}");
    }
    assert!(settings.len() + problems.len() <= line_count);
    let printed: String = settings
        .iter()
        .map(|s| {
            let dash = if s.ignore_failure { "-" } else { "" };
            format!("{dash}{} = {}\n", s.key, s.value)
        })
        .collect();
    let (again, again_problems) = persisted::parse_sysctl_file("fuzz.conf", &printed);
    assert_eq!(assignments(&again), assignments(&settings), "{printed:?}");
    assert!(again_problems.is_empty(), "{again_problems:?}");
}

/// The sysctl.d drop-in edit and its inverse, the parser. The input is
/// `FLAG BEFORE \0 UPDATES`: FLAG's low bit says whether a file exists before,
/// UPDATES are `key = value` lines. Only keys a plan can hold are used:
/// managed, distinct, and without `=` (`--set` splits at the first one, and a
/// sysctl.d line could not say where such a key ends). After the edit every updated key reads back its new value,
/// every other assignment is untouched and in order, and editing again
/// changes nothing.
pub fn dropin_edit(data: &[u8]) {
    let Some((flag, rest)) = data.split_first() else {
        return;
    };
    let Some(rest) = text(rest) else { return };
    let (before, updates_text) = rest.split_once('\0').unwrap_or((rest, ""));
    let before = (flag & 1 == 1).then_some(before);
    let mut updates: Vec<(SysctlKey, String)> = Vec::new();
    for line in updates_text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let Ok(key) = SysctlKey::parse_managed(key) else {
            continue;
        };
        if key.as_str().contains('=') || updates.iter().any(|(k, _)| *k == key) {
            continue;
        }
        updates.push((key, normalize_value(value)));
    }
    let after = dropin::edit(before, &updates);
    for (key, value) in &updates {
        assert_eq!(
            dropin::value_in(&after, key).as_ref(),
            Some(value),
            "{key} in {after:?}"
        );
    }
    let updated: BTreeSet<&str> = updates.iter().map(|(k, _)| k.as_str()).collect();
    let others = |text: &str| -> Vec<Assignment> {
        let (settings, _) = persisted::parse_sysctl_file("", text);
        assignments(&settings)
            .into_iter()
            .filter(|(k, _, _)| !updated.contains(k.as_str()))
            .collect()
    };
    assert_eq!(others(&after), others(before.unwrap_or("")), "{after:?}");
    assert_eq!(dropin::edit(Some(&after), &updates), after);
}

/// ctnetlink receive buffers: an entry comes only from a whole message
/// (header, nfgenmsg and two tuples of at least an address pair each), the
/// addresses of a tuple share a family, and decoding is deterministic.
pub fn ctnetlink_buffers(data: &[u8]) {
    let mut entries = Vec::new();
    let result = ctnetlink::decode(data, |e| entries.push(e));
    // 16 (nlmsghdr) + 4 (nfgenmsg) + 2 × (4 tuple + 4 ip + 2 × 8 v4 address).
    assert!(
        entries.len() * 68 <= data.len(),
        "{} entries from {} bytes",
        entries.len(),
        data.len()
    );
    for e in &entries {
        assert!(same_family(e.original.src, e.original.dst), "{e:?}");
        assert!(same_family(e.reply.src, e.reply.dst), "{e:?}");
    }
    let mut again = Vec::new();
    assert_eq!(ctnetlink::decode(data, |e| again.push(e)), result);
    assert_eq!(entries, again);
    for e in &entries {
        let _ = (e.source_translated(), e.destination_translated(), e.show());
    }
}

/// Conntrack listings: NAT counts never exceed the entries, there is an
/// example exactly when something was NATed, and the summary counts exactly
/// the lines `classify` accepts.
pub fn conntrack_lines(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut entries = 0u64;
    let mut snat = 0u64;
    let mut dnat = 0u64;
    let mut first_error = None;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.starts_with("conntrack v") {
            continue;
        }
        // The structured reading of a line, for SNAT counts, never panics.
        if let Some(entry) = conntrack::entry(line) {
            let _ = (entry.source_translated(), entry.show());
        }
        match conntrack::classify(line) {
            Ok(Some((nat, _))) => {
                entries += 1;
                snat += u64::from(nat.snat);
                dnat += u64::from(nat.dnat);
            }
            Ok(None) => {}
            Err(_) => {
                first_error = Some(index + 1);
                break;
            }
        }
    }
    let mut counter = snat::SnatCounter::default();
    match conntrack::summarise(text.as_bytes(), &mut counter) {
        Ok(summary) => {
            let (top, distinct) = counter.finish(&Default::default());
            // Only source-translated entries are counted per destination.
            assert!(top.iter().map(|d| d.connections).sum::<u64>() <= summary.snat);
            assert!(top.len() as u64 <= distinct);
            assert_eq!(first_error, None);
            assert_eq!(
                (summary.entries, summary.snat, summary.dnat),
                (entries, snat, dnat)
            );
            assert!(summary.snat <= summary.entries && summary.dnat <= summary.entries);
            assert_eq!(summary.example.is_some(), snat + dnat > 0, "{summary:?}");
        }
        Err(e) => assert_eq!(Some(e.line), first_error, "{e}"),
    }
}

/// nft JSON and iptables-save text: each found rule is one source-NAT rule,
/// named as such; iptables finds at most one per `-A` line.
pub fn nat_ruleset(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Ok(rules) = ruleset::parse_nft_json(text) {
        for rule in &rules {
            assert!(rule.starts_with("nft table "), "{rule:?}");
            assert!(
                ["masquerade", "snat", "masquerade (xt)", "snat (xt)"]
                    .iter()
                    .any(|a| rule.ends_with(&format!(": {a}"))),
                "{rule:?}"
            );
        }
    }
    let rules = ruleset::parse_iptables_save(text);
    let appends = text.lines().filter(|l| l.starts_with("-A ")).count();
    assert!(rules.len() <= appends);
    // Port ranges: one per source-NAT rule at most, each low <= high.
    let ranges = snat::iptables_port_ranges(text);
    assert!(ranges.len() <= appends);
    for (low, high) in ranges
        .into_iter()
        .chain(snat::nft_port_ranges(text))
        .flatten()
    {
        assert!(low <= high);
    }
    for rule in &rules {
        assert!(rule.starts_with("iptables: -A "), "{rule:?}");
        let words: Vec<&str> = rule.split_whitespace().collect();
        assert!(
            words
                .windows(2)
                .any(|w| w[0] == "-j" && (w[1] == "MASQUERADE" || w[1] == "SNAT")),
            "{rule:?}"
        );
    }
}

/// Kernel release strings: a parsed version prints as `M.m.p` and that text
/// parses back to the same version.
pub fn kernel_release(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Some(version) = KernelVersion::parse_release(text) else {
        return;
    };
    let printed = version.to_string();
    assert_eq!(KernelVersion::parse_release(&printed), Some(version));
    let facts = facts::kernel::KernelFacts::from_release(Some(text));
    assert_eq!(facts.version, Some(version));
}

/// `--sample` durations: what parses lasts more than zero and at most an hour.
pub fn duration(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Ok(d) = crate::cli::parse_duration(text) {
        assert!(
            !d.is_zero() && d <= std::time::Duration::from_secs(3600),
            "{text:?} gave {d:?}"
        );
    }
}

/// The journal and the last-apply record, through the one reader every
/// command uses, `journal::parse_record` (the record is untrusted input and
/// held to the checks of `--set` and `--persist-to`). What it accepts writes
/// back as a record it accepts again, unchanged; every key it accepts is a
/// managed one; and the interrupted-run notice names every key and the file.
pub fn journal_json(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(record) = journal::parse_record(text) else {
        return;
    };
    for key in &record.runtime {
        assert!(
            SysctlKey::parse_managed(key.key.as_str()).is_ok(),
            "{key:?}"
        );
    }
    let written = serde_json::to_string_pretty(&record).expect("a Journal always serialises");
    let read_back = journal::parse_record(&written).expect("what was written reads back");
    assert_eq!(read_back, record);
    let notice = journal::Interrupted {
        path: "/var/lib/twtune/journal.json".into(),
        journal: record.clone(),
        running: data.len().is_multiple_of(2),
    }
    .notice();
    for key in &record.runtime {
        assert!(notice.contains(key.key.as_str()), "{notice}");
    }
    if let Some(file) = &record.persist {
        assert!(notice.contains(&file.file), "{notice}");
    }
}

/// The facts rule texts are evaluated against: a fixture tree, gathered once.
fn fixture_facts() -> Option<&'static Facts> {
    static FACTS: OnceLock<Option<Facts>> = OnceLock::new();
    FACTS
        .get_or_init(|| {
            let root = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/debian12-defaults"
            );
            facts::gather(&GatherOptions::new(root)).ok()
        })
        .as_ref()
}

/// Rule files (TOML with CEL): errors point at a line of the file, rule ids
/// are unique, and what loads evaluates against a fixture's facts without a
/// panic, each rule either deciding or saying why it could not.
pub fn rule_toml(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let last_line = text.bytes().filter(|&b| b == b'\n').count() + 1;
    match load::parse_rule_file("fuzz.toml", text) {
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                assert!(e.line >= 1 && e.line <= last_line, "{e:?}");
            }
        }
        Ok(rules) => {
            let mut ids = BTreeMap::new();
            for rule in &rules {
                assert!(rule.origin.line >= 1 && rule.origin.line <= last_line);
                assert!(ids.insert(rule.id.clone(), ()).is_none(), "{}", rule.id);
            }
            let Some(facts) = fixture_facts() else { return };
            let count = rules.iter().filter(|r| !r.disabled).count();
            let set = load::RuleSet::from_rules(rules);
            let evaluation = rules::eval::evaluate(&set, facts);
            let decided: BTreeSet<&str> = evaluation
                .findings
                .iter()
                .map(|f| f.rule.as_str())
                .chain(evaluation.undecided.iter().map(|u| u.rule.as_str()))
                .collect();
            assert!(decided.len() <= count);
            for f in &evaluation.findings {
                assert!(set.get(&f.rule).is_some(), "{}", f.rule);
            }
        }
    }
}

/// The host's own addresses and interfaces (/proc/net/fib_trie, if_inet6,
/// /proc/net/dev), all three fed the same text: every local IPv4 address is
/// a `|-- ADDR` leaf of the text, every IPv6 address the first word of a
/// line, and interface names are trimmed, non-empty and free of `:`.
pub fn nat_host(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let lines = text.lines().count();
    if let Ok(local) = host::parse_fib_trie(text) {
        assert!(local.len() <= lines);
        for addr in &local {
            let leaf = format!("|-- {addr}");
            // An address may be written with leading zeros or spaces the
            // parse drops; its octets still appear on a leaf line.
            assert!(
                text.contains(&leaf)
                    || text.lines().any(|l| l
                        .trim_start()
                        .strip_prefix("|-- ")
                        .and_then(|a| a.trim().parse::<std::net::Ipv4Addr>().ok())
                        == Some(*addr)),
                "{addr}"
            );
            let _ = host::nat_range(IpAddr::V4(*addr));
        }
    }
    match host::parse_if_inet6(text) {
        Ok(addrs) => {
            assert!(addrs.len() <= lines);
            let firsts: BTreeSet<u128> = text
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(|w| u128::from_str_radix(w, 16).unwrap())
                .collect();
            for addr in &addrs {
                assert!(firsts.contains(&u128::from(*addr)), "{addr}");
                let _ = host::nat_range(IpAddr::V6(*addr));
            }
        }
        Err(e) => assert!(e.starts_with("line "), "{e}"),
    }
    let names = host::parse_proc_net_dev(text);
    assert!(names.len() <= lines.saturating_sub(2));
    for name in &names {
        assert!(!name.is_empty() && !name.contains(':'), "{name:?}");
        assert_eq!(name.trim(), name);
        let _ = host::is_container_interface(name);
    }
}

/// `socket:[INODE]` links: what parses is the inode the link names, and the
/// link the kernel would print for it parses back to the same inode.
pub fn socket_link(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Some(inode) = owners::parse_socket_link(text) {
        assert!(
            text.starts_with("socket:[") && text.ends_with(']'),
            "{text:?}"
        );
        let printed = format!("socket:[{inode}]");
        assert_eq!(owners::parse_socket_link(&printed), Some(inode));
    }
}

/// /proc/PID/cgroup texts: a container found has a 64-hex lower-case id the
/// text holds (in either case), a pod UID is one the text holds (dashes or
/// systemd's underscores), and the label is one line.
pub fn cgroup(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Some(container) = cgroups::container_of(text) else {
        return;
    };
    let lower = text.to_ascii_lowercase();
    assert_eq!(container.id.len(), 64);
    assert!(
        container
            .id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert!(lower.contains(&container.id), "{container:?}");
    if let Some(uid) = &container.pod_uid {
        assert_eq!(uid.len(), 36);
        // systemd writes the UID's dashes as underscores; a text may mix both.
        assert!(
            lower.replace('_', "-").contains(uid.as_str()),
            "{container:?}"
        );
    }
    let label = container.label();
    assert!(!label.contains('\n') && !label.is_empty(), "{label:?}");
    assert_eq!(cgroups::container_of(text), Some(container));
}

/// /proc/net/stat/nf_conntrack: a field is reported exactly when the header
/// names it, and the CPU lines listed twice sum to twice as much (saturating).
pub fn conntrack_stats(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(stats) = table::parse_stats(text) else {
        return;
    };
    let header: Vec<&str> = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    for (name, value) in [
        ("insert_failed", stats.insert_failed),
        ("drop", stats.drop),
        ("early_drop", stats.early_drop),
    ] {
        assert_eq!(header.contains(&name), value.is_some(), "{name}");
    }
    let cpus: String = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    let twice = table::parse_stats(&format!("{text}\n{cpus}")).expect("same lines again");
    let double = |v: Option<u64>| v.map(|v| v.saturating_mul(2));
    assert_eq!(
        (twice.insert_failed, twice.drop, twice.early_drop),
        (
            double(stats.insert_failed),
            double(stats.drop),
            double(stats.early_drop)
        )
    );
}
