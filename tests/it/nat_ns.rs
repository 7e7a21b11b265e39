//! NAT seen from three namespaces: a client, a router that masquerades with
//! nftables, and a server. The router must call NAT likely with the rule and
//! the translated connection as evidence; the two ends must see none.
//!
//! Addresses come from the documentation ranges (RFC 5737), not RFC 1918:
//! a private address is itself a NAT signal, and the ends must stay quiet.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use crate::support::netns::*;
use crate::support::tier::Need;
use serde_json::Value;

fn signal<'a>(facts: &'a Value, name: &str) -> Option<&'a Value> {
    facts["nat"]["signals"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

#[test]
fn masquerading_router_is_likely_and_its_ends_see_none() {
    needs!(Need::Root);
    let (client, router, server) = masquerading_router("", "masquerade");

    let (bound, is_bound) = std::sync::mpsc::channel();
    let listening = server.run(move || {
        let listener = TcpListener::bind(addr("198.51.100.2:8080")).unwrap();
        bound.send(()).unwrap();
        let (mut conn, peer) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(b"pong!").unwrap();
        // Keep the connection until the client is done with it.
        let _ = conn.read(&mut buf);
        peer
    });
    let peer_seen_by_server = {
        // Connect once the server is listening, not after a guessed delay.
        is_bound
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server binds its listener");
        let talk = client.run(|| {
            let mut conn =
                TcpStream::connect(addr("198.51.100.2:8080")).expect("connect through the router");
            conn.write_all(b"ping!").unwrap();
            let mut buf = [0u8; 5];
            conn.read_exact(&mut buf).unwrap();
            conn
        });
        let conn = talk.join().unwrap();
        let facts = (router.facts(), client.facts(), server.facts());
        drop(conn);
        (listening.join().unwrap(), facts)
    };
    let (peer, (router_facts, client_facts, server_facts)) = peer_seen_by_server;
    // The masquerade really happened: the server saw the router's address.
    assert_eq!(peer.ip().to_string(), "198.51.100.1");

    let nat = &router_facts["nat"];
    assert_eq!(nat["verdict"], "likely", "{nat}");
    let rule = signal(&router_facts, "nat_rules").unwrap_or_else(|| panic!("{nat}"));
    assert!(
        rule["evidence"].as_str().unwrap().contains("masquerade"),
        "{rule}"
    );
    let ct = signal(&router_facts, "conntrack_snat").unwrap_or_else(|| panic!("{nat}"));
    assert!(
        ct["evidence"].as_str().unwrap().contains("198.51.100.1"),
        "the translated tuple is the evidence: {ct}"
    );
    assert!(signal(&router_facts, "ip_forward").is_some());
    // The split: the router translates; its own addresses (RFC 5737) say
    // nothing about its own traffic being translated.
    assert_eq!(nat["translates"], "likely", "{nat}");
    assert_eq!(nat["translated"], "none", "{nat}");
    // Conntrack's own table, read from this namespace's /proc/sys/net/netfilter:
    // the masqueraded connection is counted, and the TIME_WAIT timeout is the
    // kernel's 120 s.
    let count = router_facts["sysctl"]["net.netfilter.nf_conntrack_count"]
        .as_str()
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{}", router_facts["sysctl"]));
    assert!(count >= 1, "{count}");
    assert_eq!(
        router_facts["sysctl"]["net.netfilter.nf_conntrack_tcp_timeout_time_wait"],
        "120"
    );
    assert!(
        router_facts["nat"]["conntrack_stats"].is_object(),
        "{}",
        router_facts["nat"]
    );

    for (who, facts) in [("client", &client_facts), ("server", &server_facts)] {
        assert_eq!(facts["nat"]["verdict"], "none", "{who}: {}", facts["nat"]);
        assert_eq!(facts["nat"]["translates"], "none", "{who}");
        assert_eq!(facts["nat"]["signals"], serde_json::json!([]), "{who}");
    }
}
