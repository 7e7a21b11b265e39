//! What the host's own interfaces and addresses say about NAT: container
//! bridges mean masqueraded guests behind it; a private or CGNAT address
//! means its own outbound traffic leaves through a NAT gateway.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Local addresses from /proc/net/fib_trie: each `|-- ADDR` leaf followed by a
/// `/32 host LOCAL` line is an address of this host. The file lists the Main
/// and Local tables, so the same address shows up twice.
pub fn parse_fib_trie(text: &str) -> Result<BTreeSet<Ipv4Addr>, String> {
    let mut local = BTreeSet::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(addr) = trimmed.strip_prefix("|-- ") {
            let addr = addr.trim().parse().map_err(|_| {
                format!(
                    "line {}: {:?} is not an IPv4 address",
                    index + 1,
                    addr.trim()
                )
            })?;
            leaf = Some(addr);
        } else if trimmed.starts_with('/') {
            if trimmed.split_whitespace().any(|w| w == "LOCAL")
                && trimmed.starts_with("/32 ")
                && let Some(addr) = leaf
            {
                local.insert(addr);
            }
        } else {
            leaf = None;
        }
    }
    Ok(local)
}

/// Addresses from /proc/net/if_inet6: `<32 hex> ifindex plen scope flags name`.
pub fn parse_if_inet6(text: &str) -> Result<BTreeSet<Ipv6Addr>, String> {
    let mut out = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        let value = (hex.len() == 32)
            .then(|| u128::from_str_radix(hex, 16).ok())
            .flatten()
            .ok_or_else(|| format!("line {}: {hex:?} is not an IPv6 address", index + 1))?;
        out.insert(Ipv6Addr::from(value));
    }
    Ok(out)
}

/// The kind [`nat_range`] gives a shared carrier-grade NAT address.
pub const CGNAT: &str = "CGNAT (RFC 6598)";

/// Private (RFC 1918), shared CGNAT (RFC 6598, 100.64/10) or unique-local
/// IPv6: addresses that reach the internet only through NAT.
pub fn nat_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(a) => {
            let [o1, o2, ..] = a.octets();
            if a.is_private() {
                Some("private (RFC 1918)")
            } else if o1 == 100 && (64..128).contains(&o2) {
                Some(CGNAT)
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            ((a.segments()[0] & 0xfe00) == 0xfc00).then_some("unique local (RFC 4193)")
        }
    }
}

/// Interface names from /proc/net/dev (`  name: counters…` after two headers).
pub fn parse_proc_net_dev(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Interfaces that container runtimes and CNI plugins create; guests behind
/// them reach out through this host's masquerade.
pub fn is_container_interface(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "docker",
        "br-",
        "cni",
        "cilium_",
        "flannel",
        "virbr",
        "lxcbr",
        "podman",
        "weave",
        "kube-bridge",
        "cbr0",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

/// From this many veth interfaces on, a host is taken to run containers: one
/// or two are as likely a test rig or a single namespace link.
pub const MANY_VETH: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.2.0/24 2 0 2
        |-- 10.0.2.0
           /24 link UNICAST
        |-- 10.0.2.15
           /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.0.2.15
        /32 host LOCAL
     |-- 198.51.100.7
        /32 host LOCAL
";

    #[test]
    fn fib_trie_local_addresses() {
        let got: Vec<String> = parse_fib_trie(FIB_TRIE)
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["10.0.2.15", "127.0.0.1", "198.51.100.7"]);
        assert!(
            parse_fib_trie("Main:\n     |-- 10.0.0.x\n")
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn if_inet6_addresses() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000005 02 40 00 80     eth0\n";
        let got = parse_if_inet6(text).unwrap();
        assert!(got.contains(&"::1".parse().unwrap()));
        assert!(got.contains(&"fd00::5".parse().unwrap()));
        assert!(parse_if_inet6("zz 01 80 10 80 lo\n").is_err());
    }

    #[test]
    fn ranges() {
        let r = |s: &str| nat_range(s.parse().unwrap());
        assert!(r("10.1.2.3").is_some());
        assert!(r("172.20.0.1").is_some());
        assert!(r("192.168.1.1").is_some());
        assert_eq!(r("100.100.0.1"), Some("CGNAT (RFC 6598)"));
        assert_eq!(r("100.128.0.1"), None);
        assert_eq!(r("198.51.100.7"), None);
        assert_eq!(r("127.0.0.1"), None);
        assert!(r("fd12::1").is_some());
        assert_eq!(r("2001:db8::1"), None);
    }

    #[test]
    fn interfaces() {
        let dev = "Inter-|   Receive\n face |bytes\n    lo: 0 0\n docker0: 1 2\nvethab12: 3 4\n";
        assert_eq!(parse_proc_net_dev(dev), ["lo", "docker0", "vethab12"]);
        assert!(is_container_interface("docker0"));
        assert!(is_container_interface("cni0"));
        assert!(is_container_interface("cilium_host"));
        assert!(!is_container_interface("eth0"));
        assert!(!is_container_interface("vethab12"));
    }
}
