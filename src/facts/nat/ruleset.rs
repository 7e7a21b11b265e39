//! Source-NAT rules in the firewall as the tools print them: `nft -j list
//! ruleset` (read only when the netlink read of [`super::nftables`] fails)
//! and `iptables-save` (legacy xtables tables, which nf_tables does not hold).
//!
//! Both are read only on the live host: the ruleset lives in the kernel and
//! is fetched over netlink by those tools (it needs CAP_NET_ADMIN).
//! iptables-nft rules appear in nft's JSON as `xt` targets, so both spellings
//! of MASQUERADE are recognised there.

use serde_json::Value;

/// One rule that rewrites source addresses, as evidence text.
pub type NatRule = String;

fn rewrites_source(expr: &Value) -> Option<&'static str> {
    let obj = expr.as_object()?;
    if obj.contains_key("masquerade") {
        return Some("masquerade");
    }
    if obj.contains_key("snat") {
        return Some("snat");
    }
    let xt = obj.get("xt")?;
    match xt.get("name")?.as_str()? {
        "MASQUERADE" => Some("masquerade (xt)"),
        "SNAT" => Some("snat (xt)"),
        _ => None,
    }
}

/// Source-NAT rules in `nft -j list ruleset` output.
pub fn parse_nft_json(text: &str) -> Result<Vec<NatRule>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not nft JSON: {e}"))?;
    let items = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("no top-level \"nftables\" array")?;
    let mut found = Vec::new();
    for item in items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let Some(exprs) = rule.get("expr").and_then(Value::as_array) else {
            continue;
        };
        if let Some(action) = exprs.iter().find_map(rewrites_source) {
            let field = |k: &str| rule.get(k).and_then(Value::as_str).unwrap_or("?");
            found.push(format!(
                "nft table {} {} chain {}: {action}",
                field("family"),
                field("table"),
                field("chain")
            ));
        }
    }
    Ok(found)
}

/// Source-NAT rules in `iptables-save` / `ip6tables-save` output.
pub fn parse_iptables_save(text: &str) -> Vec<NatRule> {
    text.lines()
        .filter(|l| l.starts_with("-A "))
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .windows(2)
                .any(|w| w[0] == "-j" && (w[1] == "MASQUERADE" || w[1] == "SNAT"))
        })
        .map(|l| format!("iptables: {l}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_masquerade_snat_and_xt() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
 {"table": {"family": "ip", "name": "nat", "handle": 1}},
 {"chain": {"family": "ip", "table": "nat", "name": "post", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
 {"rule": {"family": "ip", "table": "nat", "chain": "post", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "veth1"}}, {"masquerade": null}]}},
 {"rule": {"family": "ip", "table": "nat", "chain": "post", "handle": 3, "expr": [{"snat": {"addr": "192.0.2.1"}}]}},
 {"rule": {"family": "ip", "table": "nat", "chain": "pre", "handle": 4, "expr": [{"dnat": {"addr": "192.0.2.9"}}]}},
 {"rule": {"family": "ip", "table": "filter", "chain": "fwd", "handle": 5, "expr": [{"xt": {"type": "target", "name": "MASQUERADE"}}]}},
 {"rule": {"family": "ip", "table": "filter", "chain": "in", "handle": 6, "expr": [{"accept": null}]}}]}"#;
        assert_eq!(
            parse_nft_json(json).unwrap(),
            [
                "nft table ip nat chain post: masquerade",
                "nft table ip nat chain post: snat",
                "nft table ip filter chain fwd: masquerade (xt)"
            ]
        );
        assert_eq!(
            parse_nft_json(r#"{"nftables": []}"#).unwrap(),
            Vec::<String>::new()
        );
        assert!(parse_nft_json("{").is_err());
        assert!(parse_nft_json("[]").is_err());
    }

    #[test]
    fn iptables_save_rules() {
        let text = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n-A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 172.17.0.2\n-A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1\nCOMMIT\n";
        let got = parse_iptables_save(text);
        assert_eq!(got.len(), 2);
        assert!(got[0].contains("MASQUERADE"));
        assert!(got[1].contains("SNAT"));
    }
}
