use super::reuse::LOOPBACK_IFINDEX;
use super::*;
use crate::facts::kernel::KernelVersion;
use crate::facts::options::GatherOptions;

/// A record as the parsers give it (shared by the sockets modules' tests).
pub(super) fn rec(
    state: TcpState,
    local: &str,
    lport: u16,
    remote: &str,
    rport: u16,
    inode: u64,
) -> SockRecord {
    SockRecord {
        state,
        local: local.parse().unwrap(),
        local_port: lport,
        remote: remote.parse().unwrap(),
        remote_port: rport,
        bound_dev_if: 0,
        // Young: 59 s of 60 left.
        timer_left_ms: (state == TcpState::TimeWait).then_some(59_000),
        inode,
        peer_timestamps: None,
    }
}

fn aged(mut r: SockRecord) -> SockRecord {
    r.timer_left_ms = Some(30_000);
    r
}

fn policy(reuse: i64, timestamps: i64, kernel: (u32, u32)) -> ReusePolicy {
    ReusePolicy::from_settings(
        ReuseSettings {
            tcp_tw_reuse: Some(reuse),
            tcp_timestamps: Some(timestamps),
            tcp_tw_reuse_delay: None,
            tcp_tw_timeout: None,
        },
        Some(KernelVersion::new(kernel.0, kernel.1, 0)),
    )
}

#[test]
fn reuse_policy_follows_tcp_twsk_unique() {
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let v4mapped_lo: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
    let far: IpAddr = "192.0.2.1".parse().unwrap();
    let near: IpAddr = "192.0.2.2".parse().unwrap();
    let two = policy(2, 1, (6, 1));
    assert_eq!(two.scope, ReuseScope::Loopback);
    assert!(two.covers(near, lo, 0));
    assert!(two.covers(v4mapped_lo, far, 0));
    assert!(two.covers(near, far, LOOPBACK_IFINDEX));
    assert!(!two.covers(near, far, 0));
    // Before 4.18 any non-zero value is "on for all".
    assert_eq!(policy(2, 1, (4, 14)).scope, ReuseScope::All);
    assert_eq!(policy(1, 1, (6, 1)).scope, ReuseScope::All);
    assert_eq!(policy(0, 1, (6, 1)).scope, ReuseScope::None);
    // No timestamps, no recorded peer timestamp: nothing is reused.
    assert_eq!(policy(1, 0, (6, 1)).scope, ReuseScope::None);
    // Unknown version: 2 is read as loopback only.
    let unknown = ReusePolicy::from_settings(
        ReuseSettings {
            tcp_tw_reuse: Some(2),
            ..Default::default()
        },
        None,
    );
    assert_eq!(unknown.scope, ReuseScope::Loopback);
    // The delay: the sysctl where it exists (6.14+), else the 2 s bound.
    assert_eq!(two.delay_ms, 2000);
    assert!(!two.aged(Some(58_500)));
    assert!(two.aged(Some(57_000)));
    assert!(!two.aged(None));
    let quick = ReusePolicy::from_settings(
        ReuseSettings {
            tcp_tw_reuse: Some(1),
            tcp_tw_reuse_delay: Some(1),
            tcp_tw_timeout: Some(30),
            ..Default::default()
        },
        None,
    );
    assert_eq!((quick.delay_ms, quick.time_wait_ms), (1, 30_000));
    assert!(quick.aged(Some(29_990)));
}

#[test]
fn reusable_time_wait_is_free_and_listeners_in_range_are_not_usable() {
    let range = PortRange {
        low: 40000,
        high: 40099,
    };
    let mut agg = Aggregator::new(range, vec![], policy(1, 1, (6, 1)));
    agg.listener(rec(TcpState::Listen, "0.0.0.0", 40010, "0.0.0.0", 0, 1));
    // A live connection that negotiated timestamps: the peer sends them.
    let mut est = rec(TcpState::Established, "10.0.0.1", 40001, "10.0.0.2", 80, 9);
    est.peer_timestamps = Some(true);
    agg.observe(est);
    // 60 TIME_WAIT toward one destination: 40 old enough to reuse, 20 young.
    for p in 0..60u16 {
        let r = rec(TcpState::TimeWait, "10.0.0.1", 40020 + p, "10.0.0.2", 80, 0);
        agg.observe(if p < 40 { aged(r) } else { r });
    }
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Proc, root.path());
    assert_eq!(f.listeners_in_range, 1);
    assert_eq!(f.usable_ports, 99);
    let d = &f.destinations[0];
    assert_eq!(
        (d.time_wait, d.time_wait_reusable, d.time_wait_aged),
        (60, 40, 40)
    );
    assert_eq!(d.taken, 21);
    assert!(d.reuse_effective);
    assert!((d.exhaustion_ratio - 21.0 / 99.0).abs() < 1e-9);
    assert_eq!(f.time_wait_reusable, 40);
    // The host view: 21 ports taken, 61 with the reusable TIME_WAIT.
    assert_eq!(f.host_ports.in_use, 21);
    assert_eq!(f.host_ports.in_use_with_time_wait, 61);
    assert_eq!(f.host_ports.usable, 99);
    // Ports of 40000's parity: 50, minus the listener's 40010.
    assert_eq!(f.host_ports.first_parity_usable, 49);
    assert_eq!(f.host_ports.first_parity_in_use, 30);

    // The same sockets with reuse off: every TIME_WAIT is taken.
    let mut off = Aggregator::new(range, vec![], policy(0, 1, (6, 1)));
    for p in 0..60u16 {
        off.observe(aged(rec(
            TcpState::TimeWait,
            "10.0.0.1",
            40020 + p,
            "10.0.0.2",
            80,
            0,
        )));
    }
    let f = off.finish(SocketSource::Proc, root.path());
    let d = &f.destinations[0];
    assert_eq!(
        (d.taken, d.time_wait_reusable, d.time_wait_aged),
        (60, 0, 60)
    );
    assert!(!d.reuse_effective);
}

#[test]
fn a_port_outside_the_range_proves_nothing_without_a_listener() {
    let range = PortRange {
        low: 40000,
        high: 40099,
    };
    let mut agg = Aggregator::new(range, vec![], policy(0, 1, (6, 1)));
    // An NFS-like client binding its own low ports toward one server.
    for p in 0..20u16 {
        agg.observe(rec(
            TcpState::TimeWait,
            "10.0.0.1",
            700 + p,
            "10.0.0.5",
            2049,
            0,
        ));
    }
    // A server whose listener on 8443 is gone: one peer, many of its ports.
    for p in 0..12u16 {
        agg.observe(rec(
            TcpState::TimeWait,
            "10.0.0.1",
            8443,
            "10.0.0.7",
            50000 + p,
            0,
        ));
    }
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Proc, root.path());
    assert_eq!(f.time_wait_client_side, 20);
    assert_eq!(f.time_wait_server_side, 12);
    assert_eq!(f.server_side_ports[0].port, 8443);
    // Neither takes an ephemeral port.
    assert!(f.destinations.is_empty());
    assert_eq!(f.host_ports.in_use, 0);
}

#[test]
fn sampled_rates_are_per_destination() {
    let range = PortRange {
        low: 40000,
        high: 40999,
    };
    let busy = |p: u16| rec(TcpState::TimeWait, "10.0.0.1", 40000 + p, "10.0.0.2", 80, 0);
    let idle = |p: u16| rec(TcpState::TimeWait, "10.0.0.1", 40500 + p, "10.0.0.3", 80, 0);
    let mut first = FirstListing::new();
    for r in (0..100).map(busy).chain((0..100).map(idle)) {
        first.record(&r);
    }
    let mut agg = Aggregator::new(range, vec![], policy(0, 1, (6, 1)))
        .with_previous(Some(Sample::new(first, std::time::Duration::from_secs(2))));
    // The same TIME_WAIT 2 s on: 2 s less of its timer left.
    let older = |mut r: SockRecord| {
        r.timer_left_ms = Some(57_000);
        r
    };
    for p in 0..300 {
        agg.observe(if p < 100 { older(busy(p)) } else { busy(p) });
    }
    for p in 0..100 {
        agg.observe(older(idle(p)));
    }
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Proc, root.path());
    let busy = &f.destinations[0];
    assert_eq!(busy.remote, "10.0.0.2:80");
    assert_eq!(busy.new_per_second, Some(100.0));
    // 700 free ports, filling at 100/s and draining at 300/60 = 5/s:
    // 7.4 s, said as 8 (rounded up, never "0 s" while ports are free).
    assert_eq!(busy.seconds_to_exhaustion, Some(8.0));
    let idle = &f.destinations[1];
    assert_eq!(idle.new_per_second, Some(0.0));
    assert_eq!(idle.seconds_to_exhaustion, None);
}

#[test]
fn attributes_time_wait_and_ranks_destinations() {
    let range = PortRange {
        low: 40000,
        high: 40099,
    };
    let mut agg = Aggregator::new(
        range,
        vec![PortRange {
            low: 40090,
            high: 40099,
        }],
        policy(0, 1, (6, 1)),
    );
    agg.listener(rec(TcpState::Listen, "0.0.0.0", 8080, "0.0.0.0", 0, 1));
    agg.listener(rec(TcpState::Listen, "::", 40050, "::", 0, 2));
    // Server side: on a listening port. A port below the range with no
    // listener is a client that bound its own port.
    agg.observe(rec(
        TcpState::TimeWait,
        "10.0.0.1",
        8080,
        "10.0.0.9",
        40001,
        0,
    ));
    agg.observe(rec(
        TcpState::TimeWait,
        "10.0.0.1",
        22,
        "10.0.0.9",
        40002,
        0,
    ));
    // A listener inside the range (seen in the IPv6 table) still makes it server side.
    agg.observe(rec(
        TcpState::TimeWait,
        "10.0.0.1",
        40050,
        "10.0.0.9",
        50000,
        0,
    ));
    // Client side toward two destinations; the v4-mapped one merges with IPv4.
    for p in 0..30 {
        agg.observe(rec(
            TcpState::TimeWait,
            "10.0.0.1",
            40000 + p,
            "10.0.0.2",
            80,
            0,
        ));
    }
    agg.observe(rec(
        TcpState::TimeWait,
        "::ffff:10.0.0.1",
        40031,
        "::ffff:10.0.0.2",
        80,
        0,
    ));
    agg.observe(rec(
        TcpState::Established,
        "10.0.0.1",
        40032,
        "10.0.0.2",
        80,
        5,
    ));
    agg.observe(rec(TcpState::SynSent, "10.0.0.1", 40033, "10.0.0.2", 80, 6));
    agg.observe(rec(
        TcpState::TimeWait,
        "2001:db8::1",
        40040,
        "2001:db8::2",
        443,
        0,
    ));
    agg.observe(rec(
        TcpState::CloseWait,
        "10.0.0.1",
        8080,
        "10.0.0.9",
        40003,
        77,
    ));
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Proc, root.path());

    assert_eq!(f.time_wait, 35);
    assert_eq!(f.states["TIME_WAIT"], 35);
    assert_eq!(f.states["ESTABLISHED"], 1);
    assert_eq!(f.states["LISTEN"], 2);
    assert_eq!(f.states["SYN_SENT"], 1);
    assert_eq!(f.close_wait, 1);
    assert_eq!(f.total, 40);
    assert_eq!(f.time_wait_server_side, 2);
    assert_eq!(f.time_wait_client_side, 33);
    // 100 in the range, 10 reserved, one held by the listener on 40050.
    assert_eq!(f.usable_ports, 89);
    assert_eq!(f.reserved_in_range, 10);
    assert_eq!(f.listeners_in_range, 1);
    assert_eq!(f.listening_ports, vec![8080, 40050]);
    assert_eq!(f.server_side_ports.len(), 2);
    assert_eq!(f.destination_count, 2);
    let top = &f.destinations[0];
    assert_eq!(top.remote, "10.0.0.2:80");
    assert_eq!(top.local, "10.0.0.1");
    assert_eq!((top.time_wait, top.established, top.other), (31, 1, 1));
    assert!((top.exhaustion_ratio - 33.0 / 89.0).abs() < 1e-9);
    assert!((top.max_new_per_second - 89.0 / 60.0).abs() < 1e-9);
    assert_eq!(f.max_exhaustion_ratio, top.exhaustion_ratio);
    assert_eq!(f.destinations[1].remote, "[2001:db8::2]:443");
    assert_eq!(f.close_wait_unattributed, 1);
}

#[test]
fn destinations_name_the_holders_of_their_live_connections() {
    let range = PortRange {
        low: 40000,
        high: 40999,
    };
    let root = tempfile::tempdir().unwrap();
    let holder = |pid: u32, comm: &str, inodes: std::ops::Range<u64>| {
        let dir = root.path().join(format!("proc/{pid}"));
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        for inode in inodes {
            std::os::unix::fs::symlink(
                format!("socket:[{inode}]"),
                dir.join("fd").join(inode.to_string()),
            )
            .unwrap();
        }
    };
    // Seven processes toward one destination, one with most; one
    // socket's holder is unreadable; a CLOSE_WAIT held by the same walk.
    holder(300, "curl", 100..112);
    for (i, pid) in (401..=406).enumerate() {
        let first = 200 + 10 * i as u64;
        holder(pid, "worker", first..first + 1 + i as u64 % 2);
    }
    holder(500, "leaky", 900..901);
    let mut agg = Aggregator::new(range, vec![], policy(0, 1, (6, 1)));
    let mut port = 40000;
    let mut est = |agg: &mut Aggregator, inode: u64| {
        port += 1;
        agg.observe(rec(
            TcpState::Established,
            "10.0.0.1",
            port,
            "10.0.0.2",
            443,
            inode,
        ));
    };
    for inode in 100..112 {
        est(&mut agg, inode);
    }
    for i in 0..6u64 {
        for inode in (200 + 10 * i)..(200 + 10 * i + 1 + i % 2) {
            est(&mut agg, inode);
        }
    }
    est(&mut agg, 999);
    agg.observe(rec(
        TcpState::CloseWait,
        "10.0.0.1",
        8080,
        "10.0.0.9",
        50000,
        900,
    ));
    let f = agg.finish(SocketSource::Proc, root.path());
    let d = &f.destinations[0];
    let named: Vec<(u32, &str, u64)> = d
        .processes
        .iter()
        .map(|p| (p.pid, p.command.as_str(), p.established))
        .collect();
    // Most first, then by pid; five at most.
    assert_eq!(
        named,
        vec![
            (300, "curl", 12),
            (402, "worker", 2),
            (404, "worker", 2),
            (406, "worker", 2),
            (401, "worker", 1),
        ]
    );
    assert_eq!(d.processes_unattributed, 1);
    assert_eq!(f.close_wait_processes[0].pid, 500);
    assert_eq!(f.close_wait_unattributed, 0);
}

#[test]
fn the_socket_source_reads_the_same_in_json_and_in_text() {
    for source in [SocketSource::Netlink, SocketSource::Proc] {
        assert_eq!(serde_json::to_value(source).unwrap(), source.to_string());
    }
}

#[test]
fn serialises_every_field_even_when_empty() {
    let json = serde_json::to_value(SocketFacts::default()).unwrap();
    for field in [
        "source",
        "states",
        "time_wait",
        "close_wait",
        "time_wait_server_side",
        "time_wait_client_side",
        "destinations",
        "time_wait_reusable",
        "reuse",
        "listeners_in_range",
        "host_ports",
        "close_wait_processes",
        "fallback_reason",
        "connect_failures",
        "tracing",
    ] {
        assert!(json.get(field).is_some(), "{field}");
    }
}

#[cfg(target_endian = "little")]
#[test]
fn gathers_from_a_fixture_root() {
    let root = tempfile::tempdir().unwrap();
    let net = root.path().join("proc/net");
    std::fs::create_dir_all(&net).unwrap();
    let sysctl = |range: &str| -> Sysctls {
        [
            ("net.ipv4.ip_local_port_range", range),
            ("net.ipv4.ip_local_reserved_ports", "40000-40999"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    std::fs::write(
        net.join("tcp"),
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23071 1 0000000000000000 100 0 0 10 0
   1: 0200007F:9C40 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   2: 0100007F:1F90 0200007F:9C41 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
",
    )
    .unwrap();
    let facts = gather(
        &GatherOptions::new(root.path()),
        None,
        &sysctl("32768 60999"),
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(facts.source, SocketSource::Proc);
    assert_eq!(facts.time_wait, 2);
    assert_eq!(facts.time_wait_client_side, 1);
    assert_eq!(facts.time_wait_server_side, 1);
    assert_eq!(facts.usable_ports, 28232 - 1000);
    assert_eq!(facts.destinations[0].remote, "127.0.0.1:8080");

    let err = gather(
        &GatherOptions::new(root.path()),
        None,
        &sysctl("lots"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ip_local_port_range"), "{err}");
    std::fs::write(net.join("tcp6"), "  sl  local\n   0: 0100007F:1F90 zz\n").unwrap();
    let err = gather(
        &GatherOptions::new(root.path()),
        None,
        &sysctl("32768 60999"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tcp6") && err.contains("line 2"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        gather(
            &GatherOptions::new(empty.path()),
            None,
            &Sysctls::new(),
            None
        )
        .unwrap(),
        None
    );
}

fn live(state: TcpState, lport: u16, remote: &str, timestamps: Option<bool>) -> SockRecord {
    let mut r = rec(state, "10.0.0.1", lport, remote, 80, 0);
    r.peer_timestamps = timestamps;
    r
}

fn narrow() -> PortRange {
    PortRange {
        low: 40000,
        high: 40199,
    }
}

#[test]
fn time_wait_is_reusable_only_toward_a_peer_known_to_send_timestamps() {
    let mut agg = Aggregator::new(narrow(), vec![], policy(1, 1, (6, 18)));
    // Live connections come first in the stream, as netlink_passes lists them.
    agg.observe(live(TcpState::Established, 40190, "10.0.0.2", Some(true)));
    agg.observe(live(TcpState::Established, 40191, "10.0.0.3", Some(false)));
    // A SYN_SENT says nothing yet: tstamp_ok is settled by the handshake.
    agg.observe(live(TcpState::SynSent, 40192, "10.0.0.3", Some(false)));
    agg.observe(live(TcpState::SynSent, 40193, "10.0.0.4", Some(false)));
    for p in 0..120 {
        for remote in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
            agg.observe(aged(rec(
                TcpState::TimeWait,
                "10.0.0.1",
                40000 + p,
                remote,
                80,
                0,
            )));
        }
    }
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Netlink, root.path());
    let by = |remote: &str| {
        f.destinations
            .iter()
            .find(|d| d.remote == remote)
            .unwrap()
            .clone()
    };
    let yes = by("10.0.0.2:80");
    assert_eq!(yes.peer_timestamps, Some(true));
    assert_eq!((yes.time_wait_reusable, yes.taken), (120, 1));
    assert!(yes.reuse_effective);
    // 200 ports per reuse delay (2 s without tcp_tw_reuse_delay).
    assert_eq!(yes.max_new_per_second_reusing, Some(100.0));
    let no = by("10.0.0.3:80");
    assert_eq!(no.peer_timestamps, Some(false));
    assert_eq!(
        (no.live_with_timestamps, no.live_without_timestamps),
        (0, 1)
    );
    assert_eq!((no.time_wait_reusable, no.taken), (0, 122));
    assert!(!no.reuse_effective);
    assert_eq!(no.max_new_per_second_reusing, None);
    assert_eq!(no.exhaustion_ratio, no.ratio_without_reuse);
    let unknown = by("10.0.0.4:80");
    assert_eq!(unknown.peer_timestamps, None);
    assert_eq!(
        (
            unknown.time_wait_reusable,
            unknown.time_wait_unconfirmed,
            unknown.taken,
            unknown.taken_if_peer_timestamps
        ),
        (0, 120, 121, 1)
    );
    assert_eq!(unknown.exhaustion_ratio, unknown.ratio_without_reuse);
    assert_eq!(unknown.ratio_if_peer_timestamps, 1.0 / 200.0);
    assert_eq!(f.time_wait_reusable, 120);
    assert_eq!(f.time_wait_unconfirmed, 120);
    // bind(0) conflicts with every TIME_WAIT holder: all 120 ports and
    // the live ones are held for it.
    assert_eq!(f.host_ports.in_use_with_time_wait, 124);
    assert_eq!(f.host_ports.ratio_with_time_wait, 124.0 / 200.0);
}

#[test]
fn loopback_peers_are_this_host_and_off_here_tells_nothing() {
    let mut agg = Aggregator::new(narrow(), vec![], policy(1, 1, (6, 18)));
    for p in 0..10 {
        agg.observe(aged(rec(
            TcpState::TimeWait,
            "127.0.0.1",
            40000 + p,
            "127.0.0.1",
            6379,
            0,
        )));
    }
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Proc, root.path());
    assert_eq!(f.destinations[0].peer_timestamps, Some(true));
    assert_eq!(f.destinations[0].time_wait_reusable, 10);

    let mut agg = Aggregator::new(narrow(), vec![], policy(1, 0, (6, 18)));
    agg.observe(live(TcpState::Established, 40190, "10.0.0.3", Some(false)));
    let f = agg.finish(SocketSource::Netlink, root.path());
    assert_eq!(f.destinations[0].peer_timestamps, None);
    assert!(
        f.destinations[0]
            .peer_timestamps_evidence
            .contains("off on this host")
    );
}

#[test]
fn reuse_seen_during_the_sample_proves_the_peer_sends_timestamps() {
    let tw = |p: u16, left: u32| {
        let mut r = rec(TcpState::TimeWait, "10.0.0.1", 40000 + p, "10.0.0.2", 80, 0);
        r.timer_left_ms = Some(left);
        r
    };
    let mut first = FirstListing::new();
    // 0..10: in TIME_WAIT with 50 s left; 10..20: 1 ms left, expired since.
    for p in 0..10 {
        first.record(&tw(p, 50_000));
    }
    for p in 10..20 {
        first.record(&tw(p, 1));
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut agg = Aggregator::new(narrow(), vec![], policy(1, 1, (6, 18)))
        .with_previous(Some(Sample::new(first, std::time::Duration::from_secs(1))));
    // 0..3 carry a live connection again, 3..6 went back to TIME_WAIT
    // with a fresh timer, 6..10 are the same TIME_WAIT, older now.
    for p in 0..3 {
        agg.observe(rec(
            TcpState::Established,
            "10.0.0.1",
            40000 + p,
            "10.0.0.2",
            80,
            0,
        ));
    }
    // (5: younger than the old one could be after the 1 s between the
    // readings, though with less of its timer left than it had.)
    for p in 3..6 {
        agg.observe(tw(p, if p == 5 { 49_500 } else { 59_000 }));
    }
    for p in 6..10 {
        agg.observe(tw(p, 49_000));
    }
    // Expired before they came back: no proof of anything.
    for p in 10..20 {
        agg.observe(rec(
            TcpState::Established,
            "10.0.0.1",
            40000 + p,
            "10.0.0.2",
            80,
            0,
        ));
    }
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Proc, root.path());
    let d = &f.destinations[0];
    assert_eq!(d.reuse_seen, 6);
    assert_eq!(d.peer_timestamps, Some(true));
    assert!(d.peer_timestamps_evidence.contains("took over 6"));
    // The reused 4-tuples are new connections, though seen before.
    assert_eq!(d.new_per_second, Some(6.0));
}

#[test]
fn host_ports_count_word_by_word_as_port_by_port() {
    // An odd first port, word edges (64·k) inside the range, a reserved
    // range over one edge, a reserved port outside the range, a listener
    // and a bound-only port: the bit-set count against a count port by port.
    let range = PortRange {
        low: 32_767,
        high: 33_000,
    };
    let reserved = vec![
        PortRange {
            low: 32_830,
            high: 32_900,
        },
        PortRange {
            low: 40_000,
            high: 40_000,
        },
    ];
    let mut agg = Aggregator::new(range, reserved.clone(), policy(0, 1, (6, 1)));
    agg.listener(rec(TcpState::Listen, "0.0.0.0", 32_768, "0.0.0.0", 0, 1));
    agg.observe(rec(TcpState::Close, "0.0.0.0", 32_999, "0.0.0.0", 0, 2));
    let held: Vec<u16> = (32_767..=33_000).step_by(3).collect();
    for &p in &held {
        agg.observe(rec(TcpState::TimeWait, "10.0.0.1", p, "10.0.0.2", 80, 0));
    }
    let root = tempfile::tempdir().unwrap();
    let f = agg.finish(SocketSource::Proc, root.path());
    let usable = |p: u16| {
        p != 32_768 && p != 32_999 && !reserved.iter().any(|r| (r.low..=r.high).contains(&p))
    };
    let ports = || (32_767u16..=33_000).filter(|&p| usable(p));
    let in_use = ports().filter(|p| held.contains(p)).count() as u32;
    let odd = || ports().filter(|p| p % 2 == 1);
    assert_eq!(f.host_ports.usable, ports().count() as u32);
    assert_eq!(f.host_ports.in_use_with_time_wait, in_use);
    // Reuse off: every TIME_WAIT is taken.
    assert_eq!(f.host_ports.in_use, in_use);
    assert_eq!(f.host_ports.first_parity_usable, odd().count() as u32);
    assert_eq!(
        f.host_ports.first_parity_in_use,
        odd().filter(|p| held.contains(p)).count() as u32
    );
}

#[test]
fn tuple_hashes_tell_every_4_tuple_apart_and_v4_mapped_is_v4() {
    use super::sample::tuple_hash;
    let h = |local: &str, lport, remote: &str, rport| {
        tuple_hash(&rec(TcpState::TimeWait, local, lport, remote, rport, 0))
    };
    let base = h("10.0.0.1", 40000, "192.0.2.10", 443);
    assert_eq!(base, h("::ffff:10.0.0.1", 40000, "::ffff:192.0.2.10", 443));
    assert_eq!(base, h("10.0.0.1", 40000, "192.0.2.10", 443));
    // Each part counts, the two ends are not interchangeable.
    for other in [
        h("10.0.0.2", 40000, "192.0.2.10", 443),
        h("10.0.0.1", 40001, "192.0.2.10", 443),
        h("10.0.0.1", 40000, "192.0.2.11", 443),
        h("10.0.0.1", 40000, "192.0.2.10", 444),
        h("192.0.2.10", 443, "10.0.0.1", 40000),
        h("10.0.0.1", 443, "192.0.2.10", 40000),
        h("2001:db8::1", 40000, "2001:db8::10", 443),
    ] {
        assert_ne!(base, other);
    }
    // 65,536 ports toward one peer, from two addresses: no two alike.
    let mut seen = std::collections::HashSet::new();
    for local in ["10.0.0.1", "2001:db8::1"] {
        let remote = if local.contains(':') {
            "2001:db8::10"
        } else {
            "192.0.2.10"
        };
        for port in 0..=u16::MAX {
            assert!(seen.insert(h(local, port, remote, 443)), "{local}:{port}");
        }
    }
}
