//! The nf_tables rule set decoder's properties (`fuzz/fuzz_targets/nf_tables.rs`).

use crate::facts::nat::nftables::{self, NatKind, NatRuleSet, Ports};

/// The smallest message that can yield a rule: nlmsghdr (16), nfgenmsg (4),
/// the table, chain and expression list attributes (4 each), one list
/// element (4) and its name attribute ("nat" or "masq": 8).
const SMALLEST_RULE: usize = 16 + 4 + 4 + 4 + 4 + 4 + 8;
/// Each further statement: a list element and its name.
const SMALLEST_STATEMENT: usize = 4 + 8;

/// NFT_MSG_NEWRULE receive buffers: rules only from whole messages, each
/// with at least one NAT statement; a port range only where the kernel uses
/// one (NF_NAT_RANGE_PROTO_SPECIFIED), low ≤ high; decoding is
/// deterministic; the facts' view has one evidence line at most per rule and
/// one range per source NAT statement.
pub fn nf_tables_buffers(data: &[u8]) {
    let mut set = NatRuleSet::default();
    let result = nftables::decode(data, &mut set);
    let statements: usize = set.rules.iter().map(|r| r.statements.len()).sum();
    assert!(
        set.rules.len() * SMALLEST_RULE <= data.len(),
        "{} rules from {} bytes",
        set.rules.len(),
        data.len()
    );
    assert!(statements * SMALLEST_STATEMENT <= data.len());
    for rule in &set.rules {
        assert!(!rule.statements.is_empty(), "{rule:?}");
        for s in &rule.statements {
            if let Ports::Range(low, high) = s.ports {
                assert!(low <= high, "{s:?}");
                assert!(
                    s.flags & nftables::NF_NAT_RANGE_PROTO_SPECIFIED != 0,
                    "a range the kernel would ignore: {s:?}"
                );
            }
            let _ = s.flag_names();
        }
    }
    let mut again = NatRuleSet::default();
    assert_eq!(nftables::decode(data, &mut again), result);
    assert_eq!(set, again);
    let (evidence, ranges) = nftables::source_nat(&set);
    assert!(evidence.len() <= set.rules.len());
    let source = set
        .rules
        .iter()
        .flat_map(|r| &r.statements)
        .filter(|s| s.kind != NatKind::Dnat)
        .count();
    assert_eq!(ranges.len(), source + usize::from(set.left_out > 0));
    for line in &evidence {
        assert!(line.starts_with("nft table "), "{line:?}");
    }
}
