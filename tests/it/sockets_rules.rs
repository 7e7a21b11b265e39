//! The socket rules on fixture trees: /proc/net/tcp text written into a copy
//! of a Debian 12 tree, read through the /proc fallback (`--root`). These pin
//! down when tcp_tw_reuse may be recommended, which the namespace tests can
//! only show for loopback.

use std::net::Ipv4Addr;

use crate::support::Scenario;

/// One /proc/net/tcp line as the kernel prints it on this machine: each
/// address is the in-memory word printed with %08X.
fn line(
    slot: usize,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    state: u8,
    inode: u64,
) -> String {
    let hex = |a: Ipv4Addr| format!("{:08X}", u32::from_ne_bytes(a.octets()));
    format!(
        "{slot:4}: {}:{:04X} {}:{:04X} {state:02X} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n",
        hex(local.0),
        local.1,
        hex(remote.0),
        remote.1
    )
}

const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// `count` client-side TIME_WAIT from `local` toward `remote`, on ports from 40000.
fn time_wait_table(local: Ipv4Addr, remote: (Ipv4Addr, u16), count: u16) -> String {
    let mut text = HEADER.to_string();
    for i in 0..count {
        text += &line(usize::from(i), (local, 40000 + i), remote, 6, 0);
    }
    text
}

fn scenario(tw_reuse: &str, local: Ipv4Addr, remote: (Ipv4Addr, u16)) -> Scenario {
    Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "40000\t40199")
        .sysctl("tcp_tw_reuse", tw_reuse)
        .write("proc/net/tcp", &time_wait_table(local, remote, 150))
}

const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const BACKEND: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 0, 2, 10), 443);

#[test]
fn pressure_toward_a_remote_destination_recommends_tw_reuse() {
    let run = scenario("2", HOST, BACKEND)
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let doc = run.json();
    let s = &doc["facts"]["sockets"];
    assert_eq!(s["source"], "proc");
    assert_eq!(s["destinations"][0]["remote"], "192.0.2.10:443");
    assert_eq!(s["destinations"][0]["exhaustion_ratio"], 0.75);
    let reuse = run.findings("tcp-tw-reuse-outbound-pressure");
    assert_eq!(reuse.len(), 1, "{}", doc["findings"]);
    assert_eq!(reuse[0]["severity"], "warning");
    assert_eq!(reuse[0]["current"], "2");
    assert_eq!(reuse[0]["recommended"], "1");
    let dry = run.findings("ephemeral-ports-exhausted-toward-destination");
    assert_eq!(dry.len(), 1);
    assert!(
        dry[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("192.0.2.1 → 192.0.2.10:443")
    );
}

#[test]
fn loopback_pressure_is_already_covered_by_tw_reuse_2() {
    let run = scenario(
        "2",
        Ipv4Addr::LOCALHOST,
        (Ipv4Addr::new(127, 0, 0, 9), 8080),
    )
    .twtune(&["check", "--format", "json"]);
    assert!(
        run.findings("tcp-tw-reuse-outbound-pressure").is_empty(),
        "{}",
        run.stdout()
    );
    // The pressure itself is still reported.
    assert_eq!(
        run.findings("ephemeral-ports-exhausted-toward-destination")
            .len(),
        1
    );
}

/// The narrow-range rule's arithmetic assumes no TIME_WAIT is reused; toward
/// a destination where reuse is in effect (loopback: this host sends
/// timestamps, and tcp_tw_reuse = 2 covers it) it says how many new
/// connections per second the reuse delay allows there.
#[test]
fn a_narrow_range_names_the_destinations_where_reuse_is_in_effect_and_their_rate() {
    let loopback = || {
        scenario(
            "2",
            Ipv4Addr::LOCALHOST,
            (Ipv4Addr::new(127, 0, 0, 9), 8080),
        )
    };
    let run = loopback().twtune(&["check", "--format", "json"]);
    let doc = run.json();
    let sockets = &doc["facts"]["sockets"];
    let dest = &sockets["destinations"][0];
    assert_eq!(dest["remote"], "127.0.0.9:8080");
    assert_eq!(dest["reuse_effective"], true);
    assert_eq!(dest["peer_timestamps"], true);
    let delay_ms = sockets["reuse"]["delay_ms"].as_u64().unwrap();
    let usable = dest["usable_ports"].as_u64().unwrap();
    let per_second = usable * 1000 / delay_ms;
    assert_eq!(
        dest["max_new_per_second_reusing"].as_f64(),
        Some(per_second as f64)
    );
    let narrow = run.findings("ip-local-port-range-narrow");
    assert_eq!(narrow.len(), 1, "{}", run.stdout());
    let message = narrow[0]["message"].as_str().unwrap();
    let expected = format!(
        "if this host closes each connection first (so each leaves a TIME_WAIT for 60 s), connects from one source address, and no TIME_WAIT is reused; toward 127.0.0.9:8080 reuse is in effect (the peer sends timestamps), so a port comes back after the {delay_ms} ms reuse delay: about {per_second} per second there. Before widening"
    );
    assert!(message.contains(&expected), "{message}");

    // Timestamps off here: no TIME_WAIT can be reused toward anyone, and the
    // message says nothing of reuse.
    let off = loopback()
        .sysctl("tcp_timestamps", "0")
        .twtune(&["check", "--format", "json"]);
    let narrow = off.findings("ip-local-port-range-narrow");
    assert_eq!(narrow.len(), 1, "{}", off.stdout());
    let message = narrow[0]["message"].as_str().unwrap();
    assert!(
        message.contains("and no TIME_WAIT is reused. Before widening")
            && !message.contains("reuse is in effect"),
        "{message}"
    );
}

#[test]
fn tw_reuse_already_on_gets_range_advice_only() {
    let run = scenario("1", HOST, BACKEND).twtune(&["check", "--format", "json"]);
    assert!(run.findings("tcp-tw-reuse-outbound-pressure").is_empty());
    let dry = run.findings("ephemeral-ports-exhausted-toward-destination");
    assert!(
        dry[0]["message"]
            .as_str()
            .unwrap()
            .contains("wider ip_local_port_range")
    );
}

#[test]
fn below_half_the_ports_is_no_evidence() {
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "40000\t40199")
        .sysctl("tcp_tw_reuse", "0")
        .write("proc/net/tcp", &time_wait_table(HOST, BACKEND, 99))
        .twtune(&["check", "--format", "json"]);
    assert!(run.findings("tcp-tw-reuse-outbound-pressure").is_empty());
    assert!(
        run.findings("ephemeral-ports-exhausted-toward-destination")
            .is_empty()
    );
    assert!(run.findings("ephemeral-ports-host-wide").is_empty());
    assert!(run.findings("connect-port-scan-cost").is_empty());
}

#[test]
fn server_side_time_wait_never_recommends_tw_reuse() {
    // 1500 TIME_WAIT on listening port 443 from many clients, tw_reuse off.
    let mut text = HEADER.to_string();
    text += &line(
        0,
        (Ipv4Addr::UNSPECIFIED, 443),
        (Ipv4Addr::UNSPECIFIED, 0),
        0x0A,
        100,
    );
    for i in 0..1500u16 {
        let client = Ipv4Addr::new(198, 51, 100, (i % 200) as u8 + 1);
        text += &line(usize::from(i) + 1, (HOST, 443), (client, 50000 + i), 6, 0);
    }
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_tw_reuse", "0")
        .write("proc/net/tcp", &text)
        .twtune(&["check", "--format", "json"]);
    let doc = run.json();
    assert_eq!(doc["facts"]["sockets"]["time_wait_server_side"], 1500);
    assert_eq!(run.findings("time-wait-server-side").len(), 1);
    for f in doc["findings"].as_array().unwrap() {
        assert_ne!(f["key"], "net.ipv4.tcp_tw_reuse", "{f}");
    }
}

#[test]
fn close_wait_owner_from_a_fixture_proc_tree() {
    let mut text = HEADER.to_string();
    text += &line(
        0,
        (HOST, 8080),
        (Ipv4Addr::new(198, 51, 100, 7), 51000),
        8,
        90001,
    );
    text += &line(
        1,
        (HOST, 8080),
        (Ipv4Addr::new(198, 51, 100, 7), 51001),
        8,
        90002,
    );
    let scenario = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &text)
        .write("proc/4242/comm", "leaky-worker\n");
    let fd = scenario.root().join("proc/4242/fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::os::unix::fs::symlink("socket:[90001]", fd.join("7")).unwrap();
    std::os::unix::fs::symlink("socket:[90002]", fd.join("8")).unwrap();
    let run = scenario.twtune(&["check", "--format", "json"]);
    // Every CLOSE_WAIT has a known owner: nothing is unattributed.
    assert!(run.findings("close-wait-unattributed").is_empty());
    let f = run.findings("close-wait-held-by-process");
    assert_eq!(f.len(), 1, "{}", run.stdout());
    assert_eq!(f[0]["severity"], "info");
    let message = f[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("pid 4242 (leaky-worker) holds 2 sockets in CLOSE_WAIT")
            && message.contains("only close() frees it")
            && message.contains("pool idle timeout below the server's keep-alive"),
        "{message}"
    );
}

#[test]
fn a_garbled_socket_table_is_an_error_naming_file_and_line() {
    let run = Scenario::fixture("debian12-defaults")
        .write(
            "proc/net/tcp6",
            &format!("{HEADER}   0: 00000000:0050 nonsense\n"),
        )
        .twtune(&["check", "--format", "json"])
        .expect_code(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("proc/net/tcp6") && stderr.contains("line 2"),
        "{stderr}"
    );
}

/// A TIME_WAIT line with `left_ms` of its timer left (printed in clock ticks
/// of 10 ms, as get_timewait4_sock() does).
fn time_wait_line(
    slot: usize,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    left_ms: u32,
) -> String {
    line(slot, local, remote, 6, 0).replacen(
        " 00:00000000 ",
        &format!(" 03:{:08X} ", left_ms / 10),
        1,
    )
}

#[test]
fn aged_time_wait_toward_a_peer_of_unknown_timestamps_is_judged_without_reuse() {
    // 150 TIME_WAIT toward a remote backend, 30 s old, reuse=1: connect()
    // may take them over only if the peer sends timestamps, which
    // /proc/net/tcp cannot show. The severity comes from the figure
    // without reuse; the message gives the one with it.
    let mut text = HEADER.to_string();
    for i in 0..150u16 {
        text += &time_wait_line(usize::from(i), (HOST, 40000 + i), BACKEND, 30_000);
    }
    let run = scenario("1", HOST, BACKEND)
        .write("proc/net/tcp", &text)
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let doc = run.json();
    let d = &doc["facts"]["sockets"]["destinations"][0];
    assert_eq!(d["peer_timestamps"], serde_json::Value::Null, "{d}");
    assert_eq!(d["time_wait_reusable"], 0, "{d}");
    assert_eq!(d["time_wait_unconfirmed"], 150, "{d}");
    assert_eq!(d["taken"], 150, "{d}");
    assert_eq!(d["taken_if_peer_timestamps"], 0, "{d}");
    assert_eq!(d["ratio_without_reuse"], 0.75, "{d}");
    assert_eq!(d["ratio_if_peer_timestamps"], 0.0, "{d}");
    // tcp_tw_reuse is already 1: nothing to recommend for it.
    assert!(run.findings("tcp-tw-reuse-outbound-pressure").is_empty());
    let dry = run.findings("ephemeral-ports-exhausted-toward-destination");
    assert_eq!(dry.len(), 1, "{}", doc["findings"]);
    assert_eq!(dry[0]["severity"], "warning");
    let message = dry[0]["message"].as_str().unwrap();
    assert!(
        message.contains("150 of them would be reusable if the peer sends TCP timestamps")
            && message.contains("with them 0.0% of the ports are taken")
            && message.contains("check --sample"),
        "{message}"
    );

    // The same toward loopback: both ends are this host, which sends
    // timestamps, so the TIME_WAIT is free and nothing is raised.
    let mut text = HEADER.to_string();
    let lo = (Ipv4Addr::new(127, 0, 0, 9), 6379);
    for i in 0..150u16 {
        text += &time_wait_line(usize::from(i), (Ipv4Addr::LOCALHOST, 40000 + i), lo, 30_000);
    }
    let run = scenario("1", HOST, BACKEND)
        .write("proc/net/tcp", &text)
        .twtune(&["check", "--format", "json"]);
    let doc = run.json();
    let d = &doc["facts"]["sockets"]["destinations"][0];
    assert_eq!(d["peer_timestamps"], true, "{d}");
    assert_eq!(d["time_wait_reusable"], 150, "{d}");
    assert_eq!(d["taken"], 0, "{d}");
    assert!(
        run.findings("ephemeral-ports-exhausted-toward-destination")
            .is_empty()
    );
}

#[test]
fn reusable_time_wait_still_holds_its_port_against_bind_0() {
    // 26,000 loopback TIME_WAIT, 30 s old, under the default
    // tcp_tw_reuse=2: connect() may take every one over (taken 0 per
    // destination), but bind(0) conflicts with each: 92% of the default
    // range is held for it.
    let mut text = HEADER.to_string();
    for i in 0..26_000u16 {
        let peer = (Ipv4Addr::new(127, 0, 0, 2 + (i % 10) as u8), 6379);
        text += &time_wait_line(
            usize::from(i),
            (Ipv4Addr::LOCALHOST, 32768 + i),
            peer,
            30_000,
        );
    }
    let tree = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_tw_reuse", "2")
        .write("proc/net/tcp", &text);
    let run = tree.twtune(&["check", "--format", "json"]).expect_code(2);
    let doc = run.json();
    let host = &doc["facts"]["sockets"]["host_ports"];
    assert_eq!(host["in_use"], 0, "{host}");
    assert_eq!(host["in_use_with_time_wait"], 26_000, "{host}");
    assert!(
        run.findings("ephemeral-ports-exhausted-toward-destination")
            .is_empty()
    );
    let found = run.findings("ephemeral-ports-host-wide");
    assert_eq!(found.len(), 1, "{}", doc["findings"]);
    assert_eq!(found[0]["severity"], "critical");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("26000 of the 28232") && message.contains("92.1%"),
        "{message}"
    );
    // TCP and UDP ports are separate tables: never "DNS fails".
    assert!(
        message.contains("does not make UDP (DNS resolvers) fail")
            && !message.contains("same range)"),
        "{message}"
    );
}

#[test]
fn same_parity_ends_lose_the_low_end_from_4_6_on() {
    let on = |release: &str| {
        Scenario::fixture("debian12-defaults")
            .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
            .sysctl("ip_local_port_range", "32768\t61000")
            .twtune(&["check", "--format", "json"])
    };
    let run = on("4.6.0");
    let parity = run.findings("ip-local-port-range-parity");
    assert_eq!(parity.len(), 1, "{}", run.stdout());
    let message = parity[0]["message"].as_str().unwrap();
    assert!(
        message.contains("almost always the low end 32768")
            && message.contains("the top port 61000 only when"),
        "{message}"
    );
    assert_eq!(parity[0]["recommended"], "32768 61001");
    // 4.5: the walk is sequential (07f4c90062f8 only made the start even).
    assert!(
        on("4.5.7")
            .findings("ip-local-port-range-parity")
            .is_empty()
    );
}

#[test]
fn tw_reuse_advice_is_bound_to_each_uncovered_destination() {
    // Loopback at 95% (covered by reuse=2, young so still taken) and a remote
    // backend at 60%: one tcp_tw_reuse finding, for the backend, at its own
    // severity, not the loopback's critical.
    let mut text = HEADER.to_string();
    for i in 0..190u16 {
        text += &line(
            usize::from(i),
            (Ipv4Addr::LOCALHOST, 40000 + i),
            (Ipv4Addr::new(127, 0, 0, 9), 6379),
            6,
            0,
        );
    }
    for i in 0..120u16 {
        text += &line(usize::from(i) + 190, (HOST, 40000 + i), BACKEND, 6, 0);
    }
    let run = scenario("2", HOST, BACKEND)
        .write("proc/net/tcp", &text)
        .twtune(&["check", "--format", "json"]);
    let reuse = run.findings("tcp-tw-reuse-outbound-pressure");
    assert_eq!(reuse.len(), 1, "{}", run.stdout());
    assert_eq!(reuse[0]["severity"], "warning");
    let message = reuse[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("192.0.2.1 → 192.0.2.10:443 has 120 of 200"),
        "{message}"
    );
    assert!(
        reuse[0]["summary"]
            .as_str()
            .unwrap()
            .contains("192.0.2.10:443")
    );
    // The loopback destination is still reported as pressure, at critical.
    let dry = run.findings("ephemeral-ports-exhausted-toward-destination");
    assert_eq!(dry.len(), 2);
    assert_eq!(dry[0]["severity"], "critical");
    assert!(
        dry[0]["message"]
            .as_str()
            .unwrap()
            .contains("TIME_WAIT reuse already covers")
    );
}

#[test]
fn host_wide_pressure_across_many_destinations() {
    // 120 destinations with one connection each: no destination is short,
    // the range as a whole is 60% held.
    let mut text = HEADER.to_string();
    for i in 0..120u16 {
        let peer = (
            Ipv4Addr::new(198, 51, 100, (i % 250) as u8 + 1),
            443 + i / 250,
        );
        text += &line(
            usize::from(i),
            (HOST, 40000 + i),
            peer,
            1,
            1000 + u64::from(i),
        );
    }
    let run = scenario("2", HOST, BACKEND)
        .write("proc/net/tcp", &text)
        .twtune(&["check", "--format", "json"]);
    let host = run.findings("ephemeral-ports-host-wide");
    assert_eq!(host.len(), 1, "{}", run.stdout());
    assert_eq!(host[0]["severity"], "warning");
    let message = host[0]["message"].as_str().unwrap();
    assert!(
        message.contains("120 of the 200")
            && message.contains("IP_BIND_ADDRESS_NO_PORT")
            && message.contains("IP_LOCAL_PORT_RANGE"),
        "{message}"
    );
    assert!(
        run.findings("ephemeral-ports-exhausted-toward-destination")
            .is_empty()
    );
    // The scan-cost note gives way to the host-wide warning.
    assert!(run.findings("connect-port-scan-cost").is_empty());
    // The facts say how many more destinations there are than shown.
    let facts = scenario("2", HOST, BACKEND)
        .write("proc/net/tcp", &text)
        .twtune(&["facts"]);
    assert!(
        facts.stdout().contains("and 115 more destinations"),
        "{}",
        facts.stdout()
    );
}

#[test]
fn connect_scan_cost_once_half_of_one_parity_is_held() {
    // 60 of the 100 even ports held, 30% of the range: the scan rule only.
    let mut text = HEADER.to_string();
    for i in 0..60u16 {
        text += &line(
            usize::from(i),
            (HOST, 40000 + 2 * i),
            BACKEND,
            1,
            5000 + u64::from(i),
        );
    }
    let on = |release: &str| {
        scenario("0", HOST, BACKEND)
            .write("proc/net/tcp", &text)
            .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
            .twtune(&["check", "--format", "json"])
    };
    let run = on("4.6.0");
    let scan = run.findings("connect-port-scan-cost");
    assert_eq!(scan.len(), 1, "{}", run.stdout());
    assert_eq!(scan[0]["severity"], "info");
    assert!(run.findings("ephemeral-ports-host-wide").is_empty());
    // Before 4.6 connect() walks the whole range port by port (07f4c90062f8
    // only made the start even): no half is tried first, the rule is quiet
    // on the same table.
    let old = on("4.5.7");
    assert!(
        old.findings("connect-port-scan-cost").is_empty(),
        "{}",
        old.stdout()
    );
    assert_eq!(old.json()["kernel"]["release"], "4.5.7");
}

#[test]
fn server_side_rule_needs_a_listener() {
    // 1500 TIME_WAIT on port 443 from many client ports, nothing listening:
    // the pattern says server side, but without a listener the rule is quiet.
    let mut text = HEADER.to_string();
    for i in 0..1500u16 {
        let client = Ipv4Addr::new(198, 51, 100, (i % 50) as u8 + 1);
        text += &line(usize::from(i), (HOST, 443), (client, 50000 + i), 6, 0);
    }
    let run = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &text)
        .twtune(&["check", "--format", "json"]);
    assert_eq!(
        run.json()["facts"]["sockets"]["time_wait_server_side"],
        1500
    );
    assert!(run.findings("time-wait-server-side").is_empty());
}

#[test]
fn close_wait_without_a_visible_owner_is_a_warning_from_ten() {
    let table = |n: u16| {
        let mut text = HEADER.to_string();
        for i in 0..n {
            text += &line(
                usize::from(i),
                (HOST, 8080),
                (Ipv4Addr::new(198, 51, 100, 7), 51000 + i),
                8,
                70000 + u64::from(i),
            );
        }
        text
    };
    let run = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &table(12))
        .twtune(&["check", "--format", "json"])
        .expect_code(2);
    let f = run.findings("close-wait-unattributed");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["severity"], "warning");
    let message = f[0]["message"].as_str().unwrap();
    assert!(
        message.contains("owner unknown: run as root to name the process")
            && message.contains("pool idle timeout"),
        "{message}"
    );
    // No sysctl fixes it: apply --dry-run names it under manual[], with the
    // fix, and its exit status stays the (empty) plan's.
    let plan = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &table(12))
        .twtune(&["apply", "--dry-run", "--format", "json"])
        .expect_code(0)
        .json();
    let manual = plan["manual"].as_array().unwrap();
    assert_eq!(manual.len(), 1, "{manual:?}");
    assert_eq!(manual[0]["rule"], "close-wait-unattributed");
    assert!(
        manual[0]["fix"]
            .as_str()
            .unwrap()
            .contains("run twtune as root"),
        "{manual:?}"
    );
    let few = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &table(2))
        .twtune(&["check", "--format", "json"]);
    assert_eq!(
        few.findings("close-wait-unattributed")[0]["severity"],
        "info"
    );
}

#[test]
fn orphans_near_tcp_max_orphans() {
    let sockstat = |orphan: u32| {
        format!("sockets: used 310\nTCP: inuse 27 orphan {orphan} tw 35 alloc 40 mem 5\n")
    };
    let run = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_orphans", "1000")
        .write("proc/net/sockstat", &sockstat(950))
        .twtune(&["check", "--format", "json"]);
    let f = run.findings("tcp-orphans-near-limit");
    assert_eq!(f.len(), 1, "{}", run.stdout());
    assert_eq!(f[0]["severity"], "critical");
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains("too many orphaned sockets")
    );
    let quiet = Scenario::fixture("debian12-defaults")
        .sysctl("tcp_max_orphans", "1000")
        .write("proc/net/sockstat", &sockstat(100))
        .twtune(&["check", "--format", "json"]);
    assert!(quiet.findings("tcp-orphans-near-limit").is_empty());
    // No sockstat: undecided, not quietly fine.
    let unknown = Scenario::fixture("debian12-defaults")
        .remove("proc/net/sockstat")
        .twtune(&["check", "--format", "json"]);
    let doc = unknown.json();
    let undecided: Vec<&str> = doc["undecided"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["rule"].as_str().unwrap())
        .collect();
    assert!(
        undecided.contains(&"tcp-orphans-near-limit"),
        "{}",
        doc["undecided"]
    );
}

#[test]
fn fin_wait2_piling_up_points_at_tcp_fin_timeout() {
    let table = |n: u16| {
        let mut text = HEADER.to_string();
        for i in 0..n {
            text += &line(
                usize::from(i),
                (HOST, 40000 + i % 1000),
                (Ipv4Addr::new(198, 51, 100, (i / 1000) as u8 + 1), 80),
                5,
                0,
            );
        }
        text
    };
    let run = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &table(1200))
        .twtune(&["check", "--format", "json"]);
    let f = run.findings("fin-wait2-piling-up");
    assert_eq!(f.len(), 1, "{}", run.stdout());
    assert_eq!(f[0]["key"], "net.ipv4.tcp_fin_timeout");
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains("does not shorten TIME_WAIT")
    );
    let quiet = Scenario::fixture("debian12-defaults")
        .write("proc/net/tcp", &table(10))
        .twtune(&["check", "--format", "json"]);
    assert!(quiet.findings("fin-wait2-piling-up").is_empty());
}

#[test]
fn without_a_socket_listing_the_socket_rules_are_undecided_not_quiet() {
    // A --root tree with no proc/net/tcp{,6}: nothing can be said about
    // destinations, listeners or CLOSE_WAIT, and the report must say so.
    let run = Scenario::fixture("debian12-defaults")
        .remove("proc/net/tcp")
        .remove("proc/net/tcp6")
        .twtune(&["check", "--format", "json"]);
    let report = run.json();
    let undecided: Vec<&str> = report["undecided"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["rule"].as_str().unwrap())
        .collect();
    for rule in [
        "tcp-tw-reuse-outbound-pressure",
        "ephemeral-ports-exhausted-toward-destination",
        "ephemeral-ports-host-wide",
        "time-wait-server-side",
        "close-wait-held-by-process",
        "close-wait-unattributed",
    ] {
        assert!(undecided.contains(&rule), "{rule} not in {undecided:?}");
    }
    // With an (empty) listing the same rules are decided, and quiet.
    let listed = Scenario::fixture("debian12-defaults").twtune(&["check", "--format", "json"]);
    assert_eq!(listed.json()["undecided"], serde_json::json!([]));
}
