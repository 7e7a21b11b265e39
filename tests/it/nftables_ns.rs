//! The netlink reader of the nf_tables rule set (`facts::nat::nftables`)
//! against `nft -j list ruleset`, on real rule sets loaded with `nft -f`
//! into a private network namespace: for every rule, the same family, table,
//! chain and NAT statements (kind, port range, `random` / `fully-random` /
//! `persistent`), and the same evidence and port ranges for the NAT facts as
//! the JSON consumer they replace. iptables-nft's xt targets, whose ports
//! nft's JSON does not show, are checked against `iptables-save`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use twtune::facts::nat::nftables::{self, NatKind, NatRuleSet, Ports};
use twtune::facts::nat::{ruleset, snat};

use crate::support::netns::{NamedNs, in_private_netns, require_tool};
use crate::support::tier::Need;
use crate::support::{TWTUNE, stdout};

/// Loads `rules` with `nft -f -` in the calling thread's namespace.
fn load(rules: &str) {
    require_tool("nft", "nftables");
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nft_json() -> String {
    let out = Command::new("nft")
        .args(["-j", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// One NAT statement as both sides can say it.
type Seen = (
    String,
    String,
    String,
    &'static str,
    Option<(u16, u16)>,
    Vec<String>,
);

fn port_range(port: &Value) -> Option<(u16, u16)> {
    if let Some(p) = port.as_u64() {
        return Some((p as u16, p as u16));
    }
    let range = port.get("range")?.as_array()?;
    Some((range[0].as_u64()? as u16, range[1].as_u64()? as u16))
}

/// The NAT statements of nft's JSON, in order. xt targets have no port in
/// nft's JSON: `None`, and their ports are compared with iptables-save.
fn from_json(text: &str) -> Vec<Seen> {
    let doc: Value = serde_json::from_str(text).unwrap();
    let mut seen = Vec::new();
    for rule in doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i.get("rule"))
    {
        let field = |k: &str| rule[k].as_str().unwrap().to_string();
        for expr in rule["expr"].as_array().unwrap() {
            let (action, stmt) = if let Some(s) = expr.get("masquerade") {
                ("masquerade", s)
            } else if let Some(s) = expr.get("snat") {
                ("snat", s)
            } else if let Some(s) = expr.get("dnat") {
                ("dnat", s)
            } else if let Some(xt) = expr.get("xt") {
                match xt["name"].as_str() {
                    Some("MASQUERADE") => ("masquerade (xt)", &Value::Null),
                    Some("SNAT") => ("snat (xt)", &Value::Null),
                    _ => continue,
                }
            } else {
                continue;
            };
            let flags = match stmt.get("flags") {
                Some(Value::String(f)) => vec![f.clone()],
                Some(Value::Array(fs)) => fs.iter().map(|f| f.as_str().unwrap().into()).collect(),
                _ => Vec::new(),
            };
            let ports = stmt.get("port").and_then(port_range);
            seen.push((
                field("family"),
                field("table"),
                field("chain"),
                action,
                ports,
                flags,
            ));
        }
    }
    seen
}

fn from_netlink(set: &NatRuleSet, xt_ports: bool) -> Vec<Seen> {
    let mut seen = Vec::new();
    for rule in &set.rules {
        for s in &rule.statements {
            let xt = matches!(s.kind, NatKind::XtMasquerade | NatKind::XtSnat);
            seen.push((
                rule.family.clone(),
                rule.table.clone(),
                rule.chain.clone(),
                s.kind.action(),
                if xt && !xt_ports {
                    None
                } else {
                    s.ports.known()
                },
                if xt && !xt_ports {
                    Vec::new()
                } else {
                    s.flag_names().into_iter().map(String::from).collect()
                },
            ));
        }
    }
    seen
}

/// Loads `rules` in a fresh namespace and compares the two readings.
fn same_as_nft(rules: &'static str) -> NatRuleSet {
    in_private_netns(move || {
        load(rules);
        let set = nftables::dump().expect("the netlink dump");
        let json = nft_json();
        assert_eq!(from_netlink(&set, false), from_json(&json), "{json}");
        // What the NAT facts take: the same evidence and ranges as from the JSON.
        let (rules, ranges) = nftables::source_nat(&set);
        assert_eq!(rules, ruleset::parse_nft_json(&json).unwrap());
        assert_eq!(ranges, snat::nft_port_ranges(&json));
        set
    })
}

#[test]
fn masquerade_with_and_without_a_port_range_reads_as_nft_shows_it() {
    needs!(Need::Root, Need::Tool("nft"));
    let set = same_as_nft(
        "table ip nat {
           chain post {
             type nat hook postrouting priority 100;
             oifname \"veth1\" meta l4proto tcp masquerade to :40000-40099
             oifname \"veth2\" meta l4proto udp masquerade to :5000
             masquerade
           }
         }
         table inet both {
           chain post {
             type nat hook postrouting priority 110;
             meta l4proto { tcp, udp } masquerade to :1024-2047 random
             counter masquerade random,fully-random,persistent
           }
         }",
    );
    assert_eq!(set.rules.len(), 5);
    assert_eq!(set.rules[0].statements[0].ports, Ports::Range(40000, 40099));
}

#[test]
fn snat_to_an_address_and_port_range_with_random_flags_reads_as_nft_shows_it() {
    needs!(Need::Root, Need::Tool("nft"));
    let set = same_as_nft(
        "table ip nat {
           chain post {
             type nat hook postrouting priority 100;
             ip daddr 192.0.2.0/24 meta l4proto tcp snat to 198.51.100.1:1000-2000 fully-random
             meta l4proto udp snat to 198.51.100.1-198.51.100.4:3000-3999 random,persistent
             snat to 198.51.100.9
           }
           chain pre {
             type nat hook prerouting priority -100;
             tcp dport 80 dnat to 192.0.2.9:8080
             tcp dport 443 redirect to :8443
           }
         }
         table ip6 nat6 {
           chain post {
             type nat hook postrouting priority 100;
             meta l4proto tcp snat to [2001:db8::1]:3000-3100
           }
         }",
    );
    // A redirect is no source NAT statement: 5 rules with one statement each.
    assert_eq!(set.rules.len(), 5);
}

#[test]
fn ports_from_a_map_and_rules_in_a_jumped_to_chain_read_as_nft_shows_them() {
    needs!(Need::Root, Need::Tool("nft"));
    let set = same_as_nft(
        "table ip nat {
           chain masq_some {
             ip saddr 10.0.0.0/8 masquerade
           }
           chain post {
             type nat hook postrouting priority 100;
             oifname \"veth9\" jump masq_some
             meta l4proto tcp snat ip to ip saddr map { 192.0.2.2 : 198.51.100.1 . 1000-2000 }
           }
         }",
    );
    // The ports come from the map, per packet: no range the facts could use.
    let snat = &set.rules[1].statements[0];
    assert_eq!((snat.kind, snat.ports), (NatKind::Snat, Ports::Dynamic));
    assert_eq!(set.rules[0].chain, "masq_some");
}

#[test]
fn a_rule_set_larger_than_one_receive_buffer_is_read_whole() {
    needs!(Need::Root, Need::Tool("nft"));
    let mut rules =
        String::from("table ip nat {\n chain post {\n type nat hook postrouting priority 100;\n");
    for i in 0..600u32 {
        rules += &format!(
            "  ip saddr 10.{}.{}.0/24 meta l4proto tcp masquerade to :{}-{}\n",
            i / 256,
            i % 256,
            10000 + i,
            10000 + 2 * i
        );
        rules += "  counter\n";
    }
    rules += " }\n}\n";
    let rules: &'static str = Box::leak(rules.into_boxed_str());
    let set = same_as_nft(rules);
    assert_eq!(set.rules.len(), 600);
    assert_eq!(set.left_out, 0);
}

#[test]
fn iptables_nft_masquerade_and_snat_targets_read_with_their_ports() {
    needs!(Need::Root, Need::Tool("nft"), Need::Tool("iptables-nft"));
    let (set, json, save) = in_private_netns(|| {
        let run = |tool: &str, args: &[&str]| {
            let out = Command::new(tool).args(args).output().unwrap();
            assert!(out.status.success(), "{tool} {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        for args in [
            &[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "eth0",
                "-p",
                "tcp",
                "-j",
                "MASQUERADE",
                "--to-ports",
                "40000-40099",
                "--random",
            ][..],
            &[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "eth1",
                "-j",
                "MASQUERADE",
            ],
            &[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "eth2",
                "-p",
                "udp",
                "-j",
                "SNAT",
                "--to-source",
                "192.0.2.1:1000-2000",
                "--random-fully",
            ],
        ] {
            run("iptables-nft", args);
        }
        let set = nftables::dump().expect("the netlink dump");
        (set, nft_json(), run("iptables-nft-save", &[]))
    });
    // The names as nft's JSON shows them.
    assert_eq!(from_netlink(&set, false), from_json(&json), "{json}");
    // The ports and flags as iptables-save shows them.
    assert_eq!(
        from_netlink(&set, true)
            .into_iter()
            .map(|s| (s.3, s.4, s.5))
            .collect::<Vec<_>>(),
        [
            (
                "masquerade (xt)",
                Some((40000, 40099)),
                vec!["random".to_string()]
            ),
            ("masquerade (xt)", None, vec![]),
            (
                "snat (xt)",
                Some((1000, 2000)),
                vec!["fully-random".to_string()]
            ),
        ],
        "{save}"
    );
    assert_eq!(
        nftables::source_nat(&set).1,
        snat::iptables_port_ranges(&save),
        "{save}"
    );
}

#[test]
fn all_netns_reads_each_namespaces_nat_rules_without_starting_nft() {
    needs!(Need::Root, Need::Tool("nft"));
    // A pod's namespace with its own masquerade (a CNI's, say): before the
    // netlink read, `--all-netns` read NAT rules in its own namespace only.
    let pod = NamedNs::new("nftpod");
    let rules = pod.run(|| {
        load(
            "table ip cni {
               chain post {
                 type nat hook postrouting priority 100;
                 meta l4proto tcp masquerade to :30000-30099
               }
             }",
        )
    });
    rules.join().unwrap();
    // No tool to start: the read is netlink's alone.
    let none = tempfile::tempdir().unwrap();
    let out = Command::new(TWTUNE)
        .args(["check", "--all-netns", "--format", "json"])
        .env("TWTUNE_TEST_TOOL_DIRS", none.path())
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let entry = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["names"]
                .as_array()
                .is_some_and(|names| names.iter().any(|x| x == pod.name.as_str()))
        })
        .unwrap_or_else(|| panic!("{} not in the report", pod.name));
    let nat = &entry["facts"]["nat"];
    assert!(
        nat["checked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "nf_tables"),
        "{nat}"
    );
    let evidence = nat["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nat_rules")
        .unwrap_or_else(|| panic!("no nat_rules signal: {nat}"));
    assert_eq!(
        evidence["evidence"], "1 source-NAT rule(s): nft table ip cni chain post: masquerade",
        "{nat}"
    );
    assert_eq!(nat["translates"], "likely", "{nat}");
}
