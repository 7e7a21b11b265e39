//! The nf_tables decoder on bytes captured from Linux 6.18 (an NFT_MSG_GETRULE
//! dump of every family, as [`dump`] sends it, read in a private network
//! namespace), and on messages built by hand for what a capture cannot show.

use super::*;
use crate::facts::netlink::NLA_HDRLEN;

/// `nft -f` of (family ip) table nat { chain post { type nat hook
/// postrouting priority 100; oifname "veth1" meta l4proto tcp masquerade to
/// :40000-40099 random; ip daddr 192.0.2.0/24 meta l4proto udp snat to
/// 198.51.100.1:1000-2000 fully-random,persistent; masquerade }; chain pre
/// { type nat hook prerouting priority -100; tcp dport 80 dnat to
/// 192.0.2.9:8080 } } and table ip6 nat6 { chain post { type nat hook
/// postrouting priority 100; meta l4proto tcp snat to [2001:db8::1]:3000 } }.
const NATIVE: &[&str] = &[
    "68010000060a0208010000004373000002000002080001006e61740009000200706f7374000000000c00030000000000",
    "000000033401040024000100090001006d65746100000000140002000800020000000007080001000000000138000100",
    "08000100636d70002c000200080001000000000108000200000000001800030014000100766574683100000000000000",
    "0000000024000100090001006d6574610000000014000200080002000000001008000100000000012c00010008000100",
    "636d700020000200080001000000000108000200000000000c00030005000100060000002c0001000e000100696d6d65",
    "64696174650000001800020008000100000000010c000200060001009c4000002c0001000e000100696d6d6564696174",
    "650000001800020008000100000000020c000200060001009ca300002c000100090001006d617371000000001c000200",
    "080001000000000608000200000000010800030000000002c0010000060a020801000000437300000200000208000100",
    "6e61740009000200706f7374000000000c00030000000000000000040c00060000000000000000038001040034000100",
    "0c0001007061796c6f616400240002000800010000000001080002000000000108000300000000100800040000000003",
    "2c00010008000100636d700020000200080001000000000108000200000000000c00030007000100c000020024000100",
    "090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d700020000200",
    "080001000000000108000200000000000c00030005000100110000002c0001000e000100696d6d656469617465000000",
    "1800020008000100000000010c00020008000100c63364012c0001000e000100696d6d65646961746500000018000200",
    "08000100000000020c0002000600010003e800002c0001000e000100696d6d6564696174650000001800020008000100",
    "000000030c0002000600010007d0000048000100080001006e6174003c00020008000100000000000800020000000002",
    "0800030000000001080004000000000108000500000000020800060000000003080007000000001b58000000060a0208",
    "010000004373000002000002080001006e61740009000200706f7374000000000c00030000000000000000050c000600",
    "00000000000000041800040014000100090001006d617371000000000400020084010000060a02080100000043730000",
    "02000002080001006e61740008000200707265000c00030000000000000000065401040024000100090001006d657461",
    "0000000014000200080002000000001008000100000000012c00010008000100636d7000200002000800010000000001",
    "08000200000000000c0003000500010006000000340001000c0001007061796c6f616400240002000800010000000001",
    "0800020000000002080003000000000208000400000000022c00010008000100636d7000200002000800010000000001",
    "08000200000000000c00030006000100005000002c0001000e000100696d6d6564696174650000001800020008000100",
    "000000010c00020008000100c00002092c0001000e000100696d6d656469617465000000180002000800010000000002",
    "0c000200060001001f90000048000100080001006e6174003c0002000800010000000001080002000000000208000300",
    "00000001080004000000000108000500000000020800060000000002080007000000000338010000060a020801000000",
    "437300000a000002090001006e6174360000000009000200706f7374000000000c000300000000000000000200010400",
    "24000100090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d7000",
    "20000200080001000000000108000200000000000c0003000500010006000000380001000e000100696d6d6564696174",
    "65000000240002000800010000000001180002001400010020010db80000000000000000000000012c0001000e000100",
    "696d6d6564696174650000001800020008000100000000020c000200060001000bb8000048000100080001006e617400",
    "3c0002000800010000000000080002000000000a08000300000000010800040000000001080005000000000208000600",
    "0000000208000700000000031400000003000200010000004373000000000000",
];

/// iptables-nft 1.8.9: `-t nat -A POSTROUTING -o eth0 -p tcp -j MASQUERADE
/// --to-ports 40000-40099 --random`, `-o eth1 -j MASQUERADE`, `-o eth2 -p udp
/// -j SNAT --to-source 192.0.2.1:1000-2000 --random-fully`, and ip6tables-nft
/// `-o eth0 -p tcp -j MASQUERADE --to-ports 7000-7010`: xt targets.
const XT: &[&str] = &[
    "54010000060a0208010000004b13000002000005080001006e61740010000200504f5354524f5554494e47000c000300",
    "00000000000000021c01040024000100090001006d657461000000001400020008000200000000070800010000000001",
    "3000010008000100636d7000240002000800010000000001080002000000000010000300090001006574683000000000",
    "24000100090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d7000",
    "20000200080001000000000108000200000000000c00030005000100060000002c0001000c000100636f756e74657200",
    "1c0002000c00010000000000000000000c0002000000000000000000480001000b000100746172676574000038000200",
    "0f0001004d415351554552414445000008000200000000001c000300010000000600000000000000000000009c409ca3",
    "0000000010010000060a0208010000004b13000002000005080001006e61740010000200504f5354524f5554494e4700",
    "0c00030000000000000000030c0006000000000000000002cc00040024000100090001006d6574610000000014000200",
    "080002000000000708000100000000013000010008000100636d70002400020008000100000000010800020000000000",
    "100003000900010065746831000000002c0001000c000100636f756e746572001c0002000c0001000000000000000000",
    "0c0002000000000000000000480001000b0001007461726765740000380002000f0001004d4153515545524144450000",
    "08000200000000001c0003000100000000000000000000000000000000000000000000005c010000060a020801000000",
    "4b13000002000005080001006e61740010000200504f5354524f5554494e47000c00030000000000000000040c000600",
    "00000000000000031801040024000100090001006d657461000000001400020008000200000000070800010000000001",
    "3000010008000100636d7000240002000800010000000001080002000000000010000300090001006574683200000000",
    "24000100090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d7000",
    "20000200080001000000000108000200000000000c00030005000100110000002c0001000c000100636f756e74657200",
    "1c0002000c00010000000000000000000c0002000000000000000000440001000b000100746172676574000034000200",
    "09000100534e41540000000008000200000000001c0003000100000013000000c0000201c000020103e807d000000000",
    "64010000060a0208010000004b1300000a000005080001006e61740010000200504f5354524f5554494e47000c000300",
    "00000000000000022c01040024000100090001006d657461000000001400020008000200000000070800010000000001",
    "3000010008000100636d7000240002000800010000000001080002000000000010000300090001006574683000000000",
    "24000100090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d7000",
    "20000200080001000000000108000200000000000c00030005000100060000002c0001000c000100636f756e74657200",
    "1c0002000c00010000000000000000000c0002000000000000000000580001000b000100746172676574000048000200",
    "0f0001004d415351554552414445000008000200000000002c0003000200000000000000000000000000000000000000",
    "000000000000000000000000000000001b581b621400000003000200010000004b13000000000000",
];

fn bytes(hex: &[&str]) -> Vec<u8> {
    let hex: String = hex.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn decoded(buf: &[u8]) -> (Result<Progress, NftError>, NatRuleSet) {
    let mut set = NatRuleSet::default();
    let progress = decode(buf, &mut set);
    (progress, set)
}

fn statement(kind: NatKind, ports: Ports, flags: u32) -> NatStatement {
    NatStatement { kind, ports, flags }
}

fn rule(
    family: &str,
    table: &str,
    chain: &str,
    statements: &[NatStatement],
) -> (String, String, String, Vec<NatStatement>) {
    (
        family.into(),
        table.into(),
        chain.into(),
        statements.to_vec(),
    )
}

fn shown(set: &NatRuleSet) -> Vec<(String, String, String, Vec<NatStatement>)> {
    set.rules
        .iter()
        .map(|r| {
            (
                r.family.clone(),
                r.table.clone(),
                r.chain.clone(),
                r.statements.clone(),
            )
        })
        .collect()
}

#[test]
fn the_request_asks_nf_tables_for_every_rule() {
    let r = encode_request(7);
    assert_eq!(u32_ne(&r).unwrap(), 20);
    // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP.
    assert_eq!(u16_ne(&r[4..]).unwrap(), 0x0a07);
    assert_eq!(u16_ne(&r[6..]).unwrap(), 0x0301);
    assert_eq!(u32_ne(&r[8..]).unwrap(), 7);
    assert_eq!(&r[16..], &[0, 0, 0, 0]);
}

#[test]
fn native_masquerade_snat_and_dnat_from_a_captured_dump() {
    let (progress, set) = decoded(&bytes(NATIVE));
    assert_eq!(progress, Ok(Progress::Done));
    assert_eq!(set.left_out, 0);
    let specified = NF_NAT_RANGE_PROTO_SPECIFIED;
    let map_ips = 1;
    assert_eq!(
        shown(&set),
        [
            rule(
                "ip",
                "nat",
                "post",
                &[statement(
                    NatKind::Masquerade,
                    Ports::Range(40000, 40099),
                    specified | NF_NAT_RANGE_PROTO_RANDOM,
                )]
            ),
            rule(
                "ip",
                "nat",
                "post",
                &[statement(
                    NatKind::Snat,
                    Ports::Range(1000, 2000),
                    map_ips | specified | NF_NAT_RANGE_PERSISTENT | NF_NAT_RANGE_PROTO_RANDOM_FULLY,
                )]
            ),
            rule(
                "ip",
                "nat",
                "post",
                &[statement(NatKind::Masquerade, Ports::Unset, 0)]
            ),
            rule(
                "ip",
                "nat",
                "pre",
                &[statement(
                    NatKind::Dnat,
                    Ports::Range(8080, 8080),
                    map_ips | specified,
                )]
            ),
            rule(
                "ip6",
                "nat6",
                "post",
                &[statement(
                    NatKind::Snat,
                    Ports::Range(3000, 3000),
                    map_ips | specified,
                )]
            ),
        ]
    );
    assert_eq!(
        set.rules[1].statements[0].flag_names(),
        ["fully-random", "persistent"]
    );
    let (rules, ranges) = source_nat(&set);
    assert_eq!(
        rules,
        [
            "nft table ip nat chain post: masquerade",
            "nft table ip nat chain post: snat",
            "nft table ip nat chain post: masquerade",
            "nft table ip6 nat6 chain post: snat",
        ]
    );
    assert_eq!(
        ranges,
        [
            Some((40000, 40099)),
            Some((1000, 2000)),
            None,
            Some((3000, 3000))
        ]
    );
}

#[test]
fn iptables_nft_targets_with_their_ranges_from_a_captured_dump() {
    let (progress, set) = decoded(&bytes(XT));
    assert_eq!(progress, Ok(Progress::Done));
    let specified = NF_NAT_RANGE_PROTO_SPECIFIED;
    assert_eq!(
        shown(&set),
        [
            rule(
                "ip",
                "nat",
                "POSTROUTING",
                &[statement(
                    NatKind::XtMasquerade,
                    Ports::Range(40000, 40099),
                    specified | NF_NAT_RANGE_PROTO_RANDOM,
                )]
            ),
            rule(
                "ip",
                "nat",
                "POSTROUTING",
                &[statement(NatKind::XtMasquerade, Ports::Unset, 0)]
            ),
            rule(
                "ip",
                "nat",
                "POSTROUTING",
                &[statement(
                    NatKind::XtSnat,
                    Ports::Range(1000, 2000),
                    1 | specified | NF_NAT_RANGE_PROTO_RANDOM_FULLY,
                )]
            ),
            rule(
                "ip6",
                "nat",
                "POSTROUTING",
                &[statement(
                    NatKind::XtMasquerade,
                    Ports::Range(7000, 7010),
                    specified,
                )]
            ),
        ]
    );
    let (rules, _) = source_nat(&set);
    assert_eq!(
        rules[0],
        "nft table ip nat chain POSTROUTING: masquerade (xt)"
    );
    assert_eq!(rules[2], "nft table ip nat chain POSTROUTING: snat (xt)");
}

fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(payload);
    while a.len() % 4 != 0 {
        a.push(0);
    }
    a
}

fn nest(kind: u16, inner: &[Vec<u8>]) -> Vec<u8> {
    attr(kind | 0x8000, &inner.concat())
}

fn expr(name: &str, data: &[Vec<u8>]) -> Vec<u8> {
    let mut n = name.as_bytes().to_vec();
    n.push(0);
    nest(
        NFTA_LIST_ELEM,
        &[attr(NFTA_EXPR_NAME, &n), nest(NFTA_EXPR_DATA, data)],
    )
}

fn immediate(reg: u32, value: &[u8]) -> Vec<u8> {
    expr(
        "immediate",
        &[
            attr(NFTA_IMMEDIATE_DREG, &reg.to_be_bytes()),
            nest(NFTA_IMMEDIATE_DATA, &[attr(NFTA_DATA_VALUE, value)]),
        ],
    )
}

fn masq_expr(min: u32, max: u32, flags: u32) -> Vec<u8> {
    expr(
        "masq",
        &[
            attr(NFTA_MASQ_FLAGS, &flags.to_be_bytes()),
            attr(NFTA_MASQ_REG_PROTO_MIN, &min.to_be_bytes()),
            attr(NFTA_MASQ_REG_PROTO_MAX, &max.to_be_bytes()),
        ],
    )
}

#[test]
fn registers_are_the_kernels_two_numberings_and_only_constants_count() {
    let specified = NF_NAT_RANGE_PROTO_SPECIFIED;
    // NFT_REG32_01 is word 5, NFT_REG_2 words 8..12.
    let list = [
        immediate(NFT_REG32_00 + 1, &40000u16.to_be_bytes()),
        immediate(2, &40099u16.to_be_bytes()),
        masq_expr(NFT_REG32_00 + 1, 2, specified),
    ]
    .concat();
    assert_eq!(
        decode_expressions(&list, NFPROTO_IPV4),
        [statement(
            NatKind::Masquerade,
            Ports::Range(40000, 40099),
            specified
        )]
    );
    // A lookup between the constants and the statement: decided per packet.
    let list = [
        immediate(1, &40000u16.to_be_bytes()),
        expr("lookup", &[]),
        masq_expr(1, 1, specified),
    ]
    .concat();
    assert_eq!(
        decode_expressions(&list, NFPROTO_IPV4)[0].ports,
        Ports::Dynamic
    );
    // Registers given without NF_NAT_RANGE_PROTO_SPECIFIED: nft_masq_eval
    // passes the flags on as they are, and nf_nat ignores the ports.
    let list = [immediate(1, &1000u16.to_be_bytes()), masq_expr(1, 1, 0)].concat();
    assert_eq!(
        decode_expressions(&list, NFPROTO_IPV4)[0].ports,
        Ports::Unset
    );
    // A register number the kernel refuses (NFT_REG32_15 + 1) is no range.
    let list = [
        immediate(1, &1000u16.to_be_bytes()),
        masq_expr(24, 24, specified),
    ]
    .concat();
    assert_eq!(
        decode_expressions(&list, NFPROTO_IPV4)[0].ports,
        Ports::Dynamic
    );
    // A reversed range is the kernel's min..max all the same.
    let list = [
        immediate(1, &2000u16.to_be_bytes()),
        immediate(2, &1000u16.to_be_bytes()),
        masq_expr(1, 2, specified),
    ]
    .concat();
    assert_eq!(
        decode_expressions(&list, NFPROTO_IPV4)[0].ports,
        Ports::Range(1000, 2000)
    );
}

#[test]
fn kernel_errors_interrupted_dumps_and_garbage_are_errors_not_panics() {
    let mut eperm = Vec::new();
    eperm.extend_from_slice(&20u32.to_ne_bytes());
    eperm.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
    eperm.extend_from_slice(&0u16.to_ne_bytes());
    eperm.extend_from_slice(&[0; 8]);
    eperm.extend_from_slice(&(-1i32).to_ne_bytes());
    let (progress, _) = decoded(&eperm);
    assert_eq!(progress, Err(NftError::Kernel(Errno::EPERM)));
    assert!(progress.unwrap_err().is_refusal());
    // The first message of the capture, marked NLM_F_DUMP_INTR.
    let mut changed = bytes(NATIVE);
    let flags = u16_ne(&changed[6..]).unwrap() | NLM_F_DUMP_INTR;
    changed[6..8].copy_from_slice(&flags.to_ne_bytes());
    assert_eq!(decoded(&changed).0, Err(NftError::Interrupted));
    // Every cut of a capture decodes without a panic, to whole rules only.
    for capture in [NATIVE, XT] {
        let whole = bytes(capture);
        let all = decoded(&whole).1.rules.len();
        for cut in 0..whole.len() {
            let (_, set) = decoded(&whole[..cut]);
            assert!(set.rules.len() <= all, "cut at {cut}");
        }
        // And so does every single byte flipped.
        for at in 0..whole.len() {
            let mut flipped = whole.clone();
            flipped[at] ^= 0xff;
            let _ = decoded(&flipped);
        }
    }
    for byte in 0..=255u8 {
        let _ = decoded(&[byte; 64]);
    }
}

#[test]
fn a_huge_rule_set_is_counted_past_the_bound() {
    let mut set = NatRuleSet::default();
    let one = NatRule {
        family: "ip".into(),
        table: "t".into(),
        chain: "c".into(),
        handle: None,
        statements: vec![statement(NatKind::Masquerade, Ports::Range(1, 2), 0)],
    };
    for _ in 0..MAX_RULES + 3 {
        set.add(one.clone());
    }
    assert_eq!((set.rules.len(), set.left_out), (MAX_RULES, 3));
    // The left-out rules may have no range: the kernel's is assumed.
    assert_eq!(source_nat(&set).1.last(), Some(&None));
}
