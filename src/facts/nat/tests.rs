use super::*;

/// `gather` on a fixture tree, with the tree's ip_forward as
/// `facts::gather` would have read it.
fn gather_tree(
    root: &Path,
    counters: &Counters,
    rates: Option<&Rates>,
) -> Result<NatFacts, FactError> {
    let forward = std::fs::read_to_string(root.join("proc/sys/net/ipv4/ip_forward")).ok();
    gather(
        &GatherOptions::new(root),
        forward.as_deref().map(str::trim),
        counters,
        rates,
    )
}

#[test]
fn names_read_the_same_in_json_and_in_text() {
    use NatVerdict as V;
    for verdict in [V::Unknown, V::None, V::Weak, V::Possible, V::Likely] {
        assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.to_string());
    }
    use SignalName as S;
    for name in [
        S::ConntrackSnat,
        S::ConntrackDnat,
        S::NatRules,
        S::ContainerInterfaces,
        S::PrivateAddresses,
        S::PawsRejects,
        S::IpForward,
    ] {
        assert_eq!(serde_json::to_value(name).unwrap(), name.to_string());
    }
    use NatCheck as C;
    for check in [
        C::Conntrack,
        C::Nft,
        C::IptablesSave,
        C::Ip6tablesSave,
        C::Interfaces,
        C::Addresses,
        C::Paws,
        C::IpForward,
    ] {
        assert_eq!(serde_json::to_value(check).unwrap(), check.as_str());
    }
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = root.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    root
}

const NO_DEV: &str = "Inter-|\n face |\n    lo: 0 0\n";

#[test]
fn masquerading_conntrack_is_likely() {
    let root = tree(&[
        ("proc/sys/net/ipv4/ip_forward", "1\n"),
        ("proc/net/dev", NO_DEV),
        (
            "proc/net/nf_conntrack",
            "ipv4 2 tcp 6 117 TIME_WAIT src=192.0.2.2 dst=198.51.100.2 sport=41000 dport=8080 src=198.51.100.2 dst=198.51.100.1 sport=8080 dport=41000 [ASSURED] use=2\n",
        ),
    ]);
    let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
    assert_eq!(nat.verdict, NatVerdict::Likely);
    let names: Vec<&str> = nat.signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ip_forward", "conntrack_snat"]);
    assert!(nat.signals[1].evidence.contains("198.51.100.1:41000"));
    assert_eq!(nat.translates, NatVerdict::Likely);
    assert_eq!(serde_json::to_value(&nat).unwrap()["verdict"], "likely");
}

#[test]
fn quiet_host_is_none_only_when_enough_was_seen() {
    let files = [
        ("proc/sys/net/ipv4/ip_forward", "0\n"),
        ("proc/net/dev", NO_DEV),
        (
            "proc/net/fib_trie",
            "Local:\n     |-- 198.51.100.7\n        /32 host LOCAL\n",
        ),
    ];
    let root = tree(&files);
    let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
    assert_eq!(
        nat.verdict,
        NatVerdict::Unknown,
        "no conntrack, no rules: {nat:?}"
    );

    let mut with_ct = files.to_vec();
    with_ct.push(("proc/net/nf_conntrack", ""));
    let root = tree(&with_ct);
    let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
    assert_eq!(nat.verdict, NatVerdict::None, "{nat:?}");
}

#[test]
fn weak_signals_make_possible() {
    let root = tree(&[
        ("proc/sys/net/ipv4/ip_forward", "0\n"),
        ("proc/net/nf_conntrack", ""),
        ("proc/net/dev", "h\nh\n docker0: 0\n veth1: 0\n"),
        (
            "proc/net/fib_trie",
            "Local:\n     |-- 10.1.2.3\n        /32 host LOCAL\n",
        ),
    ]);
    let mut counters = Counters::default();
    counters.tcp_ext.insert("PAWSEstab".into(), 3);
    let nat = gather_tree(root.path(), &counters, None).unwrap();
    assert_eq!(nat.verdict, NatVerdict::Possible);
    assert_eq!(nat.translates, NatVerdict::Possible);
    // An RFC 1918 address alone is weak: shown, but it moves no verdict.
    assert_eq!(nat.translated, NatVerdict::None);
    let names: Vec<&str> = nat.signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["container_interfaces", "private_addresses"]);
    assert_eq!(nat.signals[1].weight, NatVerdict::Weak);
    assert!(!nat.signals[1].evidence.contains("likely"));
    // PAWSEstab since boot is noise without --sample: noted, not weighed.
    assert!(
        nat.unchecked
            .iter()
            .any(|u| u.contains("PAWSEstab=3 since boot")),
        "{:?}",
        nat.unchecked
    );
}

#[test]
fn paws_growth_while_sampling_is_a_signal_about_the_peers() {
    let root = tree(&[
        ("proc/sys/net/ipv4/ip_forward", "0\n"),
        ("proc/net/nf_conntrack", ""),
        ("proc/net/dev", NO_DEV),
    ]);
    let rates = Rates {
        interval_seconds: 5.0,
        paws_estab: Some(0.4),
        paws_active: Some(0.0),
        ..Rates::default()
    };
    let nat = gather_tree(root.path(), &Counters::default(), Some(&rates)).unwrap();
    assert_eq!(nat.signals[0].name, SignalName::PawsRejects);
    assert_eq!(nat.signals[0].side, NatSide::Peers);
    assert!(nat.signals[0].evidence.contains("PAWSEstab +0.4/s"));
    assert_eq!(nat.verdict, NatVerdict::Possible);
    // Neither question is answered by the peers' clocks.
    assert_eq!(nat.translates, NatVerdict::None);
    // A sample where the counters stand still is no signal.
    let still = Rates {
        paws_estab: Some(0.0),
        ..rates
    };
    let nat = gather_tree(root.path(), &Counters::default(), Some(&still)).unwrap();
    assert_eq!(nat.verdict, NatVerdict::None, "{nat:?}");
}

#[test]
fn a_cgnat_address_makes_own_translation_possible() {
    let root = tree(&[
        ("proc/sys/net/ipv4/ip_forward", "0\n"),
        ("proc/net/nf_conntrack", ""),
        ("proc/net/dev", NO_DEV),
        (
            "proc/net/fib_trie",
            "Local:\n     |-- 100.72.1.9\n        /32 host LOCAL\n",
        ),
    ]);
    let nat = gather_tree(root.path(), &Counters::default(), None).unwrap();
    assert_eq!(nat.translated, NatVerdict::Possible);
    assert_eq!(nat.translates, NatVerdict::None);
    assert!(nat.signals[0].evidence.contains("possibly translated"));
    let json = serde_json::to_value(&nat).unwrap();
    assert_eq!(json["translated"], "possible");
    assert_eq!(json["signals"][0]["side"], "translated");
}

#[test]
fn garbled_conntrack_names_the_file() {
    let root = tree(&[("proc/net/nf_conntrack", "ipv4 2 tcp 6 1 src=1.1.1.1\n")]);
    let err = gather_tree(root.path(), &Counters::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nf_conntrack") && err.contains("line 1"),
        "{err}"
    );
}
