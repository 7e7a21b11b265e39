//! Nothing read from /proc, a sysctl file or netlink may panic a parser. Each
//! parser here is fed real text (the fixtures) cut short at every length and
//! with bytes flipped at random (a fixed seed, so a failure reproduces); it
//! may return an error, never panic.

use std::path::Path;

use twtune::facts::nat::{conntrack, host, ruleset, snat};
use twtune::facts::sockets::{diag, proc_tcp};
use twtune::facts::{counters, kernel::KernelVersion, persisted, ports};

/// xorshift64*: deterministic, dependency-free noise.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Every prefix of `text` (on char boundaries), then 300 copies with a few
/// bytes replaced by ASCII noise that parsers care about (digits, separators).
fn mutations(text: &str) -> Vec<String> {
    let mut out: Vec<String> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .map(|i| text[..i].to_string())
        .collect();
    let alphabet = b"0123456789abcdefABCDEF:;=-,. \t\n#[]{}\"x/";
    let mut noise = Noise(0x7477_7475_6e65);
    for _ in 0..300 {
        let mut bytes = text.as_bytes().to_vec();
        if bytes.is_empty() {
            break;
        }
        for _ in 0..1 + noise.next() % 4 {
            let at = (noise.next() as usize) % bytes.len();
            if bytes[at].is_ascii() {
                bytes[at] = alphabet[(noise.next() as usize) % alphabet.len()];
            }
        }
        out.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    out
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

const PROC_TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23961 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 06 00000000:00000000 03:00000F3C 00000000     0        0 0 3 0000000000000000
";

const CONNTRACK: &str = "ipv4     2 tcp      6 117 TIME_WAIT src=10.0.0.2 dst=198.51.100.7 sport=40000 dport=80 src=198.51.100.7 dst=192.0.2.1 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 431999 ESTABLISHED src=192.0.2.5 dst=192.0.2.1 sport=5555 dport=22 src=192.0.2.1 dst=192.0.2.5 sport=22 dport=5555 [ASSURED] mark=0 zone=0 use=2
";

const NFT: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"rule": {"family": "ip", "table": "nat", "chain": "postrouting", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}}, {"masquerade": null}]}}]}"#;

#[test]
fn counter_parsers() {
    for text in mutations(&fixture("centos7-tw-recycle/proc/net/netstat"))
        .iter()
        .chain(&mutations(&fixture("centos7-tw-recycle/proc/net/snmp")))
    {
        let _ = counters::parse_paired_counters(text);
    }
    for text in mutations(&fixture("centos7-tw-recycle/proc/net/sockstat")) {
        let _ = counters::parse_sockstat(&text);
    }
}

#[test]
fn sysctl_file_and_value_parsers() {
    for text in mutations(&fixture("centos7-tw-recycle/etc/sysctl.conf")) {
        let _ = persisted::parse_sysctl_file("/etc/sysctl.conf", &text);
    }
    for text in mutations("32768\t60999\n")
        .iter()
        .chain(&mutations("8080,9000-9100,65535"))
    {
        let _ = ports::parse_range(text);
        let _ = ports::parse_reserved(text);
    }
    for text in mutations("3.10.0-1160.el7.x86_64") {
        let _ = KernelVersion::parse_release(&text);
    }
}

#[test]
fn socket_listing_parsers() {
    for text in mutations(PROC_TCP) {
        for line in text.lines() {
            let _ = proc_tcp::parse_line(line);
        }
    }
    // sock_diag replies: a real-shaped message, then every truncation and flip.
    let mut message = vec![0u8; 16 + 72];
    message[0..4].copy_from_slice(&(88u32).to_ne_bytes());
    message[4..6].copy_from_slice(&20u16.to_ne_bytes());
    message[16] = 2; // AF_INET
    message[17] = 6; // TIME_WAIT
    let mut noise = Noise(42);
    for len in 0..=message.len() {
        let _ = diag::decode(&message[..len], |_| {});
    }
    for _ in 0..2000 {
        let mut bytes = message.clone();
        let at = (noise.next() as usize) % bytes.len();
        bytes[at] = noise.next() as u8;
        let _ = diag::decode(&bytes, |_| {});
    }
}

#[test]
fn nat_signal_parsers() {
    for text in mutations(CONNTRACK) {
        let mut counter = snat::SnatCounter::default();
        let _ = conntrack::summarise(text.as_bytes(), &mut counter);
        let _ = counter.finish(&Default::default());
    }
    for text in mutations(NFT) {
        let _ = ruleset::parse_nft_json(&text);
        let _ = snat::nft_port_ranges(&text);
    }
    for text in
        mutations("-A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE --to-ports 40000-40099\n")
    {
        let _ = ruleset::parse_iptables_save(&text);
        let _ = snat::iptables_port_ranges(&text);
    }
    for text in mutations(
        "Inter-|   Receive\n face |bytes\n    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\ndocker0: 1 2 3\n",
    ) {
        let _ = host::parse_proc_net_dev(&text);
    }
    let fib_trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.2.15\n        /32 host LOCAL\nLocal:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.2.15\n        /32 host LOCAL\n";
    for text in mutations(fib_trie) {
        let _ = host::parse_fib_trie(&text);
    }
    for text in mutations(
        "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000002 02 40 00 80     eth0\n",
    ) {
        let _ = host::parse_if_inet6(&text);
    }
}
