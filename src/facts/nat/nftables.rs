//! The nf_tables rule set's NAT statements, read over NETLINK_NETFILTER the
//! way `nft list ruleset` reads it: one NFT_MSG_GETRULE dump of the
//! nf_tables subsystem (NFNL_SUBSYS_NFTABLES) for every family, table and
//! chain, without starting a process — which costs an idle check ~8 ms and
//! is impossible in an image that has no `nft` (issue 22's FROM-scratch pod).
//!
//! What the NAT facts take from a rule is what they took from `nft -j list
//! ruleset`: the rule's family, table and chain, each NAT statement
//! (masquerade, snat, dnat, and iptables-nft's xt MASQUERADE and SNAT
//! targets) and the port range a source NAT statement gives the kernel. The
//! format, from the kernel's uapi (include/uapi/linux/netfilter/nf_tables.h,
//! nf_tables_compat.h, nf_nat.h, read at torvalds/linux 0c17cc5fc36a):
//!
//! - a rule is an NFT_MSG_NEWRULE message: a 4-byte `nfgenmsg` whose family
//!   is the table's, then NFTA_RULE_TABLE, NFTA_RULE_CHAIN (NUL-terminated
//!   names), NFTA_RULE_HANDLE and NFTA_RULE_EXPRESSIONS, a list of
//!   NFTA_LIST_ELEM each holding NFTA_EXPR_NAME and NFTA_EXPR_DATA;
//! - `masq` (net/netfilter/nft_masq.c, nft_masq_dump at 254a14200711):
//!   NFTA_MASQ_FLAGS (be32, only when not 0) and NFTA_MASQ_REG_PROTO_MIN/MAX,
//!   the registers holding the ports; nft_masq_eval hands the flags to
//!   nf_nat as they are, so the ports count only with
//!   NF_NAT_RANGE_PROTO_SPECIFIED set (nft sets it: `masquerade to :a-b`
//!   dumps flags 0x2);
//! - `nat` (net/netfilter/nft_nat.c, nft_nat_init/nft_nat_dump at
//!   8a8d41512fb8): NFTA_NAT_TYPE (NFT_NAT_SNAT 0, NFT_NAT_DNAT 1),
//!   NFTA_NAT_FAMILY, the address and port registers, NFTA_NAT_FLAGS (the
//!   kernel adds NF_NAT_RANGE_MAP_IPS and NF_NAT_RANGE_PROTO_SPECIFIED itself
//!   when the registers are given);
//! - the registers are loaded by `immediate` expressions before the NAT one
//!   (NFTA_IMMEDIATE_DREG, NFTA_IMMEDIATE_DATA → NFTA_DATA_VALUE); a register
//!   number is an old 16-byte one (NFT_REG_1..4) or a 32-bit one
//!   (NFT_REG32_00..15), mapped to one index as nft_parse_register does
//!   (net/netfilter/nf_tables_api.c, since 6e1acfa387b9 refusing others). The
//!   port is the first two bytes of its register, in network order
//!   (nft_reg_load16). Only values that a run of `immediate` expressions
//!   right before the NAT statement loaded are taken: any other expression
//!   in between (a map lookup, a payload load) makes the range
//!   [`Ports::Dynamic`], decided per packet;
//! - iptables-nft keeps what nf_tables has no native form for as xt
//!   expressions (net/netfilter/nft_compat.c): a `target` with
//!   NFTA_TARGET_NAME ("MASQUERADE", "SNAT"), NFTA_TARGET_REV and
//!   NFTA_TARGET_INFO, the xtables target's own struct in host order:
//!   `nf_nat_ipv4_multi_range_compat` for MASQUERADE in IPv4 and SNAT
//!   revision 0, `nf_nat_range` / `nf_nat_range2` otherwise (xt_MASQUERADE.c,
//!   xt_nat.c). nft's JSON shows only their name; their ports are read here.
//!
//! A dump that the rule set changed under carries NLM_F_DUMP_INTR
//! (nl_dump_check_consistent against the rule set's generation): it is read
//! again, a few times at most. Decoding takes bytes and returns values, never
//! panics on any input, holds at most [`MAX_RULES`] NAT rules whatever the
//! rule set's size, and is tested on bytes captured from the kernel; only
//! [`dump`] touches a socket. Like `nft`, the request needs CAP_NET_ADMIN
//! (nfnetlink_rcv_msg checks it for every message) and, on a kernel with
//! nf_tables as a module, loads it as `nft list ruleset` would.
//!
//! Why by hand: rustables (the maintained fork of nftnl-rs) is GPL-3.0 where
//! twtune is MIT/Apache-2.0, generates its bindings with bindgen at build
//! time, lists rules one chain at a time, and its `Masquerade` expression
//! decodes no attribute at all (no flags, no port registers); nftnl needs the
//! libnftnl C library, which the static scratch image does not carry;
//! nf_tables 0.1.0 only builds commands and decodes no dump. The socket side
//! is [`crate::facts::netlink::dump`], shared with sock_diag and ctnetlink,
//! whose attribute walking this module follows.

use nix::errno::Errno;
use nix::sys::socket::SockProtocol;

pub use crate::facts::netlink::Progress;
use crate::facts::netlink::{TransportError, attributes, u16_ne, u32_ne};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
const NFGENMSG_LEN: usize = 4;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;

const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFTA_NAT_REG_PROTO_MAX: u16 = 6;
const NFTA_NAT_FLAGS: u16 = 7;
const NFT_NAT_SNAT: u32 = 0;
const NFT_NAT_DNAT: u32 = 1;
const NFTA_MASQ_FLAGS: u16 = 1;
const NFTA_MASQ_REG_PROTO_MIN: u16 = 2;
const NFTA_MASQ_REG_PROTO_MAX: u16 = 3;
const NFTA_TARGET_NAME: u16 = 1;
const NFTA_TARGET_REV: u16 = 2;
const NFTA_TARGET_INFO: u16 = 3;

/// include/uapi/linux/netfilter/nf_nat.h.
pub const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 1 << 1;
pub const NF_NAT_RANGE_PROTO_RANDOM: u32 = 1 << 2;
pub const NF_NAT_RANGE_PERSISTENT: u32 = 1 << 3;
pub const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 1 << 4;

const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// NFT_REG_1..4 are 16 bytes, NFT_REG32_00..15 four: 4 + 16 32-bit words
/// after the verdict (struct nft_regs), indexed as nft_parse_register does.
const REG32_WORDS: usize = 4 + 16;
const NFT_REG_4: u32 = 4;
const NFT_REG32_00: u32 = 8;
const NFT_REG32_15: u32 = 23;

/// The most NAT rules kept from one dump; more are counted, not kept.
pub const MAX_RULES: usize = 10_000;
/// How often a dump the rule set changed under is read again.
const DUMP_TRIES: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NftError {
    #[error("nf_tables netlink socket: {0}")]
    Socket(Errno),
    #[error("nf_tables netlink: the kernel refused the dump: {0}")]
    Kernel(Errno),
    #[error("nf_tables netlink: message at byte {offset} is truncated ({detail})")]
    Truncated { offset: usize, detail: &'static str },
    #[error("nf_tables netlink: the rule set changed during {DUMP_TRIES} dumps in a row")]
    Interrupted,
}

impl NftError {
    /// The kernel or the socket said no (no CAP_NET_ADMIN): the rules exist
    /// but are unknown, unlike a kernel without nf_tables.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            NftError::Socket(Errno::EPERM | Errno::EACCES)
                | NftError::Kernel(Errno::EPERM | Errno::EACCES)
        )
    }
}

impl NftError {
    /// Rules may exist that this failure hid: anything but a kernel without
    /// nfnetlink (no NETLINK_NETFILTER protocol) or without nf_tables
    /// (nfnetlink_rcv_msg answers EINVAL for a subsystem it lacks).
    pub fn hides_rules(&self) -> bool {
        !matches!(
            self,
            NftError::Socket(Errno::EPROTONOSUPPORT)
                | NftError::Kernel(Errno::EINVAL | Errno::EOPNOTSUPP)
        )
    }
}

impl From<TransportError> for NftError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Socket(e) => NftError::Socket(e),
            TransportError::Closed => NftError::Truncated {
                offset: 0,
                detail: "socket closed before NLMSG_DONE",
            },
        }
    }
}

/// What a NAT statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// `masq`: source NAT to the outgoing interface's address.
    Masquerade,
    /// `nat` of type NFT_NAT_SNAT.
    Snat,
    /// `nat` of type NFT_NAT_DNAT.
    Dnat,
    /// iptables-nft's xt target MASQUERADE.
    XtMasquerade,
    /// iptables-nft's xt target SNAT.
    XtSnat,
}

impl NatKind {
    /// The action as the facts' evidence names it (as from nft's JSON).
    pub fn action(self) -> &'static str {
        match self {
            NatKind::Masquerade => "masquerade",
            NatKind::Snat => "snat",
            NatKind::Dnat => "dnat",
            NatKind::XtMasquerade => "masquerade (xt)",
            NatKind::XtSnat => "snat (xt)",
        }
    }

    pub fn rewrites_source(self) -> bool {
        !matches!(self, NatKind::Dnat)
    }
}

/// The ports a NAT statement gives the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// None: the kernel's own range (nf_nat_l4proto_unique_tuple).
    Unset,
    /// LOW..=HIGH, LOW ≤ HIGH.
    Range(u16, u16),
    /// From registers not loaded by constants (a map, a payload): per packet.
    Dynamic,
}

impl Ports {
    /// The range when it is one and the same for every packet.
    pub fn known(self) -> Option<(u16, u16)> {
        match self {
            Ports::Range(low, high) => Some((low, high)),
            _ => None,
        }
    }

    fn between(min: u16, max: u16) -> Ports {
        Ports::Range(min.min(max), min.max(max))
    }
}

/// One NAT statement of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatStatement {
    pub kind: NatKind,
    pub ports: Ports,
    /// NF_NAT_RANGE_* flags as the kernel holds them.
    pub flags: u32,
}

impl NatStatement {
    /// nft's names of the flags it prints (`random`, `fully-random`,
    /// `persistent`), in its order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        [
            (NF_NAT_RANGE_PROTO_RANDOM, "random"),
            (NF_NAT_RANGE_PROTO_RANDOM_FULLY, "fully-random"),
            (NF_NAT_RANGE_PERSISTENT, "persistent"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.flags & bit != 0)
        .map(|(_, name)| name)
        .collect()
    }
}

/// A rule with at least one NAT statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatRule {
    /// nft's name of the table's family ("ip", "ip6", "inet", …).
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: Option<u64>,
    /// In the rule's order.
    pub statements: Vec<NatStatement>,
}

/// Every NAT rule of a dump, bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatRuleSet {
    pub rules: Vec<NatRule>,
    /// NAT rules beyond [`MAX_RULES`], not kept.
    pub left_out: u64,
}

impl NatRuleSet {
    fn add(&mut self, rule: NatRule) {
        if self.rules.len() < MAX_RULES {
            self.rules.push(rule);
        } else {
            self.left_out += 1;
        }
    }
}

/// An NFT_MSG_GETRULE dump request for every rule of every family
/// (NFPROTO_UNSPEC: nf_tables_dump_rules skips only tables of another family
/// when one is named).
pub fn encode_request(seq: u32) -> [u8; NLMSG_HDRLEN + NFGENMSG_LEN] {
    let mut buf = [0u8; NLMSG_HDRLEN + NFGENMSG_LEN];
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    let kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
    buf[4..6].copy_from_slice(&kind.to_ne_bytes());
    buf[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nfgenmsg: family NFPROTO_UNSPEC, version NFNETLINK_V0, res_id 0.
    buf
}

fn u32_be(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(0..4)?.try_into().ok()?))
}

fn u64_be(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(0..8)?.try_into().ok()?))
}

fn u16_be_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.checked_add(1)?)?,
    ]))
}

fn attribute(buf: &[u8], kind: u16) -> Option<&[u8]> {
    attributes(buf).find(|(k, _)| *k == kind).map(|(_, p)| p)
}

/// A NUL-terminated name, as text (bytes that are not UTF-8 escaped).
fn name(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    crate::facts::read::bytes_to_text(&payload[..end])
}

/// nft's name of an nfgenmsg family (src/rule.c, family2str).
pub fn family_name(family: u8) -> String {
    match family {
        1 => "inet".into(),
        NFPROTO_IPV4 => "ip".into(),
        3 => "arp".into(),
        5 => "netdev".into(),
        7 => "bridge".into(),
        NFPROTO_IPV6 => "ip6".into(),
        n => n.to_string(),
    }
}

/// A register attribute (be32) as an index of 32-bit words, as
/// nft_parse_register maps it; `None` for a number the kernel refuses.
fn register(payload: &[u8]) -> Option<usize> {
    let reg = u32_be(payload)?;
    let word = match reg {
        0..=NFT_REG_4 => reg * 4,
        NFT_REG32_00..=NFT_REG32_15 => reg - NFT_REG32_00 + 4,
        _ => return None,
    };
    usize::try_from(word).ok().filter(|w| *w < REG32_WORDS)
}

/// What constants the `immediate` expressions just before loaded, byte by
/// byte of the register file.
struct Registers {
    bytes: [Option<u8>; REG32_WORDS * 4],
}

impl Registers {
    fn unknown() -> Registers {
        Registers {
            bytes: [None; REG32_WORDS * 4],
        }
    }

    /// nft_immediate_eval → nft_data_copy: `len` bytes, the rest of the
    /// last 32-bit word zeroed.
    fn load(&mut self, word: usize, value: &[u8]) {
        let start = word * 4;
        let end = start.saturating_add(value.len().div_ceil(4) * 4);
        if value.is_empty() || end > self.bytes.len() {
            return;
        }
        for (i, slot) in self.bytes[start..end].iter_mut().enumerate() {
            *slot = Some(value.get(i).copied().unwrap_or(0));
        }
    }

    /// nft_reg_load16: the register's first two bytes, network order.
    fn port(&self, word: usize) -> Option<u16> {
        let at = word.checked_mul(4)?;
        let hi = (*self.bytes.get(at)?)?;
        let lo = (*self.bytes.get(at + 1)?)?;
        Some(u16::from_be_bytes([hi, lo]))
    }

    /// The ports of registers `min` and `max` (attributes), as the kernel
    /// would take them when `specified`.
    fn ports(&self, min: Option<&[u8]>, max: Option<&[u8]>, specified: bool) -> Ports {
        let Some(min) = min else {
            return Ports::Unset;
        };
        if !specified {
            return Ports::Unset;
        }
        // Without a maximum register the kernel uses the minimum's.
        let (Some(min), Some(max)) = (register(min), max.map_or(register(min), register)) else {
            return Ports::Dynamic;
        };
        match (self.port(min), self.port(max)) {
            (Some(low), Some(high)) => Ports::between(low, high),
            _ => Ports::Dynamic,
        }
    }
}

fn masq(data: &[u8], regs: &Registers) -> NatStatement {
    let flags = attribute(data, NFTA_MASQ_FLAGS)
        .and_then(u32_be)
        .unwrap_or(0);
    NatStatement {
        kind: NatKind::Masquerade,
        ports: regs.ports(
            attribute(data, NFTA_MASQ_REG_PROTO_MIN),
            attribute(data, NFTA_MASQ_REG_PROTO_MAX),
            flags & NF_NAT_RANGE_PROTO_SPECIFIED != 0,
        ),
        flags,
    }
}

fn nat(data: &[u8], regs: &Registers) -> Option<NatStatement> {
    let kind = match attribute(data, NFTA_NAT_TYPE).and_then(u32_be)? {
        NFT_NAT_SNAT => NatKind::Snat,
        NFT_NAT_DNAT => NatKind::Dnat,
        _ => return None,
    };
    let flags = attribute(data, NFTA_NAT_FLAGS)
        .and_then(u32_be)
        .unwrap_or(0);
    Some(NatStatement {
        kind,
        ports: regs.ports(
            attribute(data, NFTA_NAT_REG_PROTO_MIN),
            attribute(data, NFTA_NAT_REG_PROTO_MAX),
            flags & NF_NAT_RANGE_PROTO_SPECIFIED != 0,
        ),
        flags,
    })
}

/// An xt target MASQUERADE or SNAT (iptables-nft), with the range its
/// xtables struct holds; `None` for any other target.
fn xt_target(data: &[u8], family: u8) -> Option<NatStatement> {
    let target = name(attribute(data, NFTA_TARGET_NAME)?);
    let revision = attribute(data, NFTA_TARGET_REV).and_then(u32_be);
    let info = attribute(data, NFTA_TARGET_INFO).unwrap_or(&[]);
    let kind = match target.as_str() {
        "MASQUERADE" => NatKind::XtMasquerade,
        "SNAT" => NatKind::XtSnat,
        _ => return None,
    };
    // struct nf_nat_ipv4_multi_range_compat { rangesize; { flags, min_ip,
    // max_ip, min, max } } for IPv4 MASQUERADE and SNAT revision 0;
    // struct nf_nat_range(2) { flags, min_addr[16], max_addr[16],
    // min_proto, max_proto, … } for the others.
    let compat = match kind {
        NatKind::XtMasquerade => family == NFPROTO_IPV4,
        _ => revision == Some(0),
    };
    let (flags_at, min_at) = if compat { (4, 16) } else { (0, 36) };
    let Some(flags) = info.get(flags_at..).and_then(u32_ne) else {
        // A struct too short for its fields: what it holds is unknown.
        return Some(NatStatement {
            kind,
            ports: Ports::Dynamic,
            flags: 0,
        });
    };
    let ports = match (u16_be_at(info, min_at), u16_be_at(info, min_at + 2)) {
        _ if flags & NF_NAT_RANGE_PROTO_SPECIFIED == 0 => Ports::Unset,
        (Some(min), Some(max)) => Ports::between(min, max),
        _ => Ports::Dynamic,
    };
    Some(NatStatement { kind, ports, flags })
}

/// The NAT statements of one NFTA_RULE_EXPRESSIONS list.
pub fn decode_expressions(list: &[u8], family: u8) -> Vec<NatStatement> {
    let mut found = Vec::new();
    let mut regs = Registers::unknown();
    for (kind, elem) in attributes(list) {
        if kind != NFTA_LIST_ELEM {
            continue;
        }
        let expr = attribute(elem, NFTA_EXPR_NAME).map(name);
        let data = attribute(elem, NFTA_EXPR_DATA).unwrap_or(&[]);
        match expr.as_deref() {
            Some("immediate") => {
                let word = attribute(data, NFTA_IMMEDIATE_DREG).and_then(register);
                let value = attribute(data, NFTA_IMMEDIATE_DATA)
                    .and_then(|d| attribute(d, NFTA_DATA_VALUE));
                // Not for a verdict, nor a register the kernel would refuse.
                if let (Some(word), Some(value)) = (word, value) {
                    regs.load(word, value);
                }
                continue;
            }
            Some("masq") => found.push(masq(data, &regs)),
            Some("nat") => found.extend(nat(data, &regs)),
            Some("target") => found.extend(xt_target(data, family)),
            _ => {}
        }
        // Whatever else ran may have written any register.
        regs = Registers::unknown();
    }
    found
}

/// One NFT_MSG_NEWRULE message's attributes (after the nfgenmsg): the rule
/// when it holds a NAT statement.
pub fn decode_rule(attrs: &[u8], family: u8) -> Option<NatRule> {
    let statements = decode_expressions(attribute(attrs, NFTA_RULE_EXPRESSIONS)?, family);
    if statements.is_empty() {
        return None;
    }
    Some(NatRule {
        family: family_name(family),
        table: attribute(attrs, NFTA_RULE_TABLE).map(name)?,
        chain: attribute(attrs, NFTA_RULE_CHAIN).map(name)?,
        handle: attribute(attrs, NFTA_RULE_HANDLE).and_then(u64_be),
        statements,
    })
}

/// Decodes one receive buffer of netlink messages into `set`. A dump the
/// rule set changed under is [`NftError::Interrupted`], to be read again.
pub fn decode(buf: &[u8], set: &mut NatRuleSet) -> Result<Progress, NftError> {
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let header = (
            u32_ne(rest),
            u16_ne(rest.get(4..).unwrap_or(&[])),
            u16_ne(rest.get(6..).unwrap_or(&[])),
        );
        let (Some(len), Some(kind), Some(flags)) = header else {
            return Err(NftError::Truncated {
                offset,
                detail: "header",
            });
        };
        let len = len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(NftError::Truncated {
                offset,
                detail: "length field",
            });
        }
        if flags & NLM_F_DUMP_INTR != 0 {
            return Err(NftError::Interrupted);
        }
        let body = &rest[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(Progress::Done),
            NLMSG_ERROR => {
                let Some(code) = u32_ne(body) else {
                    return Err(NftError::Truncated {
                        offset,
                        detail: "error code",
                    });
                };
                let code = code as i32;
                if code != 0 {
                    return Err(NftError::Kernel(Errno::from_raw(code.saturating_neg())));
                }
            }
            k if k == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE => {
                let family = body.first().copied().unwrap_or(0);
                if let Some(rule) = body
                    .get(NFGENMSG_LEN..)
                    .and_then(|a| decode_rule(a, family))
                {
                    set.add(rule);
                }
            }
            _ => {}
        }
        offset = offset.saturating_add((len + 3) & !3);
    }
    Ok(Progress::More)
}

/// Every NAT rule of the calling thread's network namespace.
pub fn dump() -> Result<NatRuleSet, NftError> {
    let mut last = NftError::Interrupted;
    for seq in 1..=DUMP_TRIES as u32 {
        let mut set = NatRuleSet::default();
        match crate::facts::netlink::dump(
            SockProtocol::NetlinkNetFilter,
            &encode_request(seq),
            |buf| decode(buf, &mut set),
        ) {
            Ok(()) => return Ok(set),
            Err(NftError::Interrupted) => last = NftError::Interrupted,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// The facts' view of a rule set: one evidence line per rule that rewrites
/// source addresses (its first such statement, as from nft's JSON), and the
/// port range of every source NAT statement (`None`: the kernel's own range,
/// or one decided per packet). Rules left out count as rules without a
/// range, so the range judged by is never narrower than the kernel's.
pub fn source_nat(set: &NatRuleSet) -> (Vec<String>, Vec<Option<(u16, u16)>>) {
    let mut rules = Vec::new();
    let mut ranges = Vec::new();
    for rule in &set.rules {
        if let Some(first) = rule.statements.iter().find(|s| s.kind.rewrites_source()) {
            rules.push(format!(
                "nft table {} {} chain {}: {}",
                rule.family,
                rule.table,
                rule.chain,
                first.kind.action()
            ));
        }
        ranges.extend(
            rule.statements
                .iter()
                .filter(|s| s.kind.rewrites_source())
                .map(|s| s.ports.known()),
        );
    }
    if set.left_out > 0 {
        ranges.push(None);
    }
    (rules, ranges)
}

#[cfg(test)]
mod tests;
