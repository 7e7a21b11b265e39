//! The socket rules on fixture trees: /proc/net/tcp text written into a copy
//! of a Debian 12 tree, read through the /proc fallback (`--root`). These pin
//! down when tcp_tw_reuse may be recommended, which the namespace tests can
//! only show for loopback.

mod harness;

use std::net::Ipv4Addr;

use harness::Scenario;

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
    let f = run.findings("close-wait-held-by-process");
    assert_eq!(f.len(), 1, "{}", run.stdout());
    assert_eq!(f[0]["severity"], "info");
    let message = f[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("pid 4242 (leaky-worker) holds 2 socket(s) in CLOSE_WAIT"),
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
