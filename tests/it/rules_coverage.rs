//! Every built-in rule has a scenario that makes it fire and one that keeps it
//! quiet. The registry below must name exactly the embedded rules: a new rule
//! without its pair fails here, and so does a pair left behind by a removed
//! rule. Each quiet scenario is a near miss where one is cheap (the value just
//! on the safe side of the threshold), and the rule must be decided there —
//! a rule that is merely undecided has not been shown quiet.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::support::{Run, Scenario};

struct Case {
    rule: &'static str,
    fires: fn() -> Scenario,
    quiet: fn() -> Scenario,
}

const CASES: &[Case] = &[
    Case {
        rule: "conntrack-table-near-full",
        // 128000 of 131072 entries.
        fires: || Scenario::fixture("k8s-node-conntrack-full"),
        // 79 % full: below the 80 % mark.
        quiet: || conntrack_count("103546"),
    },
    Case {
        rule: "conntrack-time-wait-timeout",
        // A translating node, the table 96 % full, TIME_WAIT kept 120 s, and
        // 13108 TIME_WAIT entries listed: 60 s would free 6554, 5 % of the
        // 131072 entries nf_conntrack_max allows.
        fires: || snat_pressure(13108),
        // One entry fewer frees just under 5 %: not material.
        quiet: || snat_pressure(13107),
    },
    Case {
        rule: "conntrack-insert-failures",
        fires: || Scenario::fixture("k8s-node-conntrack-full"),
        quiet: || {
            Scenario::fixture("k8s-node-conntrack-full").write(
                "proc/net/stat/nf_conntrack",
                "entries insert_failed drop early_drop\n00004e20 00000000 00000000 00000005\n",
            )
        },
    },
    Case {
        rule: "snat-ports-exhausted-toward-destination",
        // Half of the kernel's 64512 NAT source ports (no rule set is read
        // under --root) toward one destination.
        fires: || snat_pressure(32256),
        quiet: || snat_pressure(32255),
    },
    Case {
        rule: "ip-local-port-range-inverted",
        fires: || debian12().sysctl("ip_local_port_range", "61000\t32768"),
        // Equal ends: one port, narrow but not inverted.
        quiet: || debian12().sysctl("ip_local_port_range", "40000\t40000"),
    },
    Case {
        rule: "ip-local-port-range-persisted-invalid",
        fires: || {
            debian12().write(
                "etc/sysctl.d/70-ports.conf",
                "net.ipv4.ip_local_port_range = 61000 32768\n",
            )
        },
        quiet: || {
            debian12().write(
                "etc/sysctl.d/70-ports.conf",
                "net.ipv4.ip_local_port_range = 32768 60999\n",
            )
        },
    },
    Case {
        rule: "ip-local-port-range-narrow",
        // 28231 ports: one short of the default's 28232.
        fires: || debian12().sysctl("ip_local_port_range", "32768\t60998"),
        quiet: || debian12().sysctl("ip_local_port_range", "32768\t60999"),
    },
    Case {
        rule: "ip-local-port-range-reserved",
        fires: || debian12().sysctl("ip_local_reserved_ports", "40000-40009"),
        quiet: || debian12().sysctl("ip_local_reserved_ports", "8080,9000-9100"),
    },
    Case {
        rule: "ip-local-port-range-parity",
        // Same-parity ends on 4.6, the first kernel with the two-pass walk
        // (1580ab63fc9a) ...
        fires: || {
            debian12()
                .write("proc/sys/kernel/osrelease", "4.6.0\n")
                .sysctl("ip_local_port_range", "32768\t61000")
        },
        // ... and on 4.5, whose walk (07f4c90062f8: an even start only)
        // still visits every port.
        quiet: || {
            debian12()
                .write("proc/sys/kernel/osrelease", "4.5.7\n")
                .sysctl("ip_local_port_range", "32768\t61000")
        },
    },
    Case {
        rule: "tcp-orphans-near-limit",
        fires: || orphans(500),
        quiet: || orphans(499),
    },
    Case {
        rule: "fin-wait2-piling-up",
        fires: || debian12().write("proc/net/tcp", &fin_wait2_table(1000)),
        quiet: || debian12().write("proc/net/tcp", &fin_wait2_table(999)),
    },
    Case {
        rule: "persisted-drift",
        fires: || debian12().write("etc/sysctl.d/60-reuse.conf", "net.ipv4.tcp_tw_reuse = 1\n"),
        // The file says what runs now.
        quiet: || debian12().write("etc/sysctl.d/60-reuse.conf", "net.ipv4.tcp_tw_reuse = 2\n"),
    },
    Case {
        rule: "persisted-value-refused",
        fires: || debian12().write("etc/sysctl.d/60-tcp.conf", "net.ipv4.tcp_tw_reuse = 3\n"),
        quiet: || debian12().write("etc/sysctl.d/60-tcp.conf", "net.ipv4.tcp_tw_reuse = 2\n"),
    },
    Case {
        rule: "sysctl-file-syntax",
        fires: || {
            debian12().write(
                "etc/sysctl.d/50-typo.conf",
                "# ok\nnet.ipv4.tcp_tw_reuse 2\n",
            )
        },
        quiet: || {
            debian12().write(
                "etc/sysctl.d/50-typo.conf",
                "# ok\nnet.ipv4.tcp_tw_reuse = 2\n",
            )
        },
    },
    Case {
        rule: "tcp-tw-reuse-outbound-pressure",
        // 150 TIME_WAIT toward one remote port in a 200-port range, reuse off
        // for non-loopback destinations (2).
        fires: || narrow_range_pressure("2", HOST, 150),
        // The same toward a loopback destination, which 2 already covers.
        quiet: || narrow_range_pressure("2", Ipv4Addr::LOCALHOST, 150),
    },
    Case {
        rule: "ephemeral-ports-exhausted-toward-destination",
        // 100 of 200 ports: half.
        fires: || narrow_range_pressure("0", HOST, 100),
        quiet: || narrow_range_pressure("0", HOST, 99),
    },
    Case {
        rule: "ephemeral-ports-host-wide",
        fires: || narrow_range_many_destinations(100),
        quiet: || narrow_range_many_destinations(99),
    },
    Case {
        rule: "connect-port-scan-cost",
        // 60 of the 100 even ports held.
        fires: || narrow_range_even_ports(60),
        quiet: || narrow_range_even_ports(50),
    },
    Case {
        rule: "time-wait-server-side",
        fires: || debian12().write("proc/net/tcp", &server_side_time_wait(true)),
        // The same TIME_WAIT pattern with nothing listening.
        quiet: || debian12().write("proc/net/tcp", &server_side_time_wait(false)),
    },
    Case {
        rule: "close-wait-held-by-process",
        fires: || close_wait_with_owner(true),
        quiet: || close_wait_with_owner(false),
    },
    Case {
        rule: "close-wait-unattributed",
        fires: || close_wait_with_owner(false),
        quiet: || close_wait_with_owner(true),
    },
    Case {
        rule: "tcp-fin-timeout-lowered",
        fires: || debian12().sysctl("tcp_fin_timeout", "59"),
        quiet: || debian12().sysctl("tcp_fin_timeout", "60"),
    },
    Case {
        rule: "tcp-tw-timeout-vendor",
        fires: || debian12().sysctl("tcp_tw_timeout", "10"),
        // A mainline kernel has no such key.
        quiet: debian12,
    },
    Case {
        rule: "tcp-max-tw-buckets-near-limit",
        fires: || tw_buckets(800),
        quiet: || tw_buckets(799),
    },
    Case {
        rule: "tcp-timestamps-off",
        // 4.9 with recycle on: it fires, and says to turn recycle off first.
        fires: || Scenario::fixture("debian9-recycle-timestamps-off"),
        quiet: || debian12().sysctl("tcp_timestamps", "1"),
    },
    Case {
        rule: "tcp-tw-recycle-enabled",
        // Inert with timestamps off, but still a finding (a warning).
        fires: || Scenario::fixture("debian9-recycle-timestamps-off"),
        quiet: || Scenario::fixture("debian9-recycle-timestamps-off").sysctl("tcp_tw_recycle", "0"),
    },
    Case {
        rule: "tcp-tw-recycle-persisted-removed",
        fires: || Scenario::fixture("jammy-stale-tw-recycle"),
        // The file sets it on a kernel that still has it: not "removed".
        quiet: || Scenario::fixture("centos7-tw-recycle"),
    },
    Case {
        rule: "tcp-tw-reuse-delay-may-be-lowered",
        fires: || reuse_delay("1000"),
        quiet: || reuse_delay("999"),
    },
    Case {
        rule: "tcp-tw-reuse-2-before-4-18",
        fires: || kernel_with_reuse_2("4.17.19"),
        quiet: || kernel_with_reuse_2("4.18.0"),
    },
];

#[test]
fn every_builtin_rule_has_a_firing_and_a_quiet_scenario() {
    let listed = Scenario::empty()
        .twtune(&["rules", "--format", "json"])
        .expect_code(0)
        .json();
    let builtin: BTreeSet<String> = listed["rules"]
        .as_array()
        .expect("rules[]")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let registered: BTreeSet<String> = CASES.iter().map(|c| c.rule.to_string()).collect();
    assert_eq!(registered.len(), CASES.len(), "a rule is registered twice");
    let untested: Vec<&String> = builtin.difference(&registered).collect();
    let stale: Vec<&String> = registered.difference(&builtin).collect();
    assert!(
        untested.is_empty() && stale.is_empty(),
        "built-in rules without a firing and a quiet scenario: {untested:?}; \
         scenarios for rules that do not exist: {stale:?}"
    );
}

fn check(scenario: Scenario) -> Run {
    let run = scenario.twtune(&["check", "--format", "json"]);
    assert!(
        run.code() == 0 || run.code() == 2,
        "check failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout(),
        run.stderr()
    );
    run
}

fn undecided(run: &Run, rule: &str) -> bool {
    run.json()["undecided"]
        .as_array()
        .expect("undecided[]")
        .iter()
        .any(|u| u["rule"] == rule)
}

#[test]
fn each_rule_fires_in_its_firing_scenario() {
    let silent: Vec<String> = CASES
        .iter()
        .filter_map(|case| {
            let run = check((case.fires)());
            run.findings(case.rule)
                .is_empty()
                .then(|| format!("{} (undecided: {})", case.rule, undecided(&run, case.rule)))
        })
        .collect();
    assert!(
        silent.is_empty(),
        "no finding where one was expected: {silent:?}"
    );
}

#[test]
fn each_rule_is_decided_and_quiet_in_its_quiet_scenario() {
    let loud: Vec<String> = CASES
        .iter()
        .filter_map(|case| {
            let run = check((case.quiet)());
            if undecided(&run, case.rule) {
                Some(format!("{} is undecided", case.rule))
            } else if !run.findings(case.rule).is_empty() {
                Some(format!("{} fired", case.rule))
            } else {
                None
            }
        })
        .collect();
    assert!(loud.is_empty(), "quiet scenarios that were not: {loud:?}");
}

// The scenarios' building blocks.

const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const BACKEND: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 0, 2, 10), 443);
const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// Debian 12 defaults on Linux 6.1, with an empty socket table: every socket
/// rule is decided there.
fn debian12() -> Scenario {
    Scenario::fixture("debian12-defaults")
}

/// One /proc/net/tcp line: each address is the in-memory word printed with %08X.
fn tcp_line(
    slot: usize,
    local: (Ipv4Addr, u16),
    remote: (Ipv4Addr, u16),
    state: u8,
    timer: &str,
    inode: u64,
) -> String {
    let hex = |a: Ipv4Addr| format!("{:08X}", u32::from_ne_bytes(a.octets()));
    format!(
        "{slot:4}: {}:{:04X} {}:{:04X} {state:02X} 00000000:00000000 {timer} 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n",
        hex(local.0),
        local.1,
        hex(remote.0),
        remote.1
    )
}

const NO_TIMER: &str = "00:00000000";
/// A TIME_WAIT timer with 0x173E USER_HZ ticks (59.5 s) left: half a second
/// old, younger than the default 1000 ms reuse delay.
const YOUNG_HALF_SECOND: &str = "03:0000173E";

fn conntrack_count(count: &str) -> Scenario {
    Scenario::fixture("k8s-node-conntrack-full").write(
        "proc/sys/net/netfilter/nf_conntrack_count",
        &format!("{count}\n"),
    )
}

/// A masquerading node whose conntrack table holds `n` translated
/// connections from pods to one destination, out of 198.51.100.10.
fn snat_pressure(n: u32) -> Scenario {
    let mut table = String::with_capacity(n as usize * 200);
    for i in 0..n {
        let (pod, sport) = (7 + i % 200, 40000 + i / 200);
        let nat_port = 1024 + i;
        table.push_str(&format!(
            "ipv4     2 tcp      6 117 TIME_WAIT src=10.244.1.{pod} dst=203.0.113.50 sport={sport} dport=443 src=203.0.113.50 dst=198.51.100.10 sport=443 dport={nat_port} [ASSURED] mark=0 zone=0 use=2\n"
        ));
    }
    Scenario::fixture("k8s-node-conntrack-full").write("proc/net/nf_conntrack", &table)
}

fn orphans(orphan: u32) -> Scenario {
    debian12().sysctl("tcp_max_orphans", "1000").write(
        "proc/net/sockstat",
        &format!("sockets: used 310\nTCP: inuse 27 orphan {orphan} tw 35 alloc 40 mem 5\n"),
    )
}

fn tw_buckets(tw: u32) -> Scenario {
    debian12().sysctl("tcp_max_tw_buckets", "1000").write(
        "proc/net/sockstat",
        &format!("TCP: inuse 5 orphan 0 tw {tw} alloc 7 mem 1\n"),
    )
}

fn fin_wait2_table(count: u16) -> String {
    let mut text = TCP_HEADER.to_string();
    for i in 0..count {
        let peer = Ipv4Addr::new(198, 51, 100, (i / 1000) as u8 + 1);
        text += &tcp_line(
            usize::from(i),
            (HOST, 40000 + i % 1000),
            (peer, 80),
            5,
            NO_TIMER,
            0,
        );
    }
    text
}

/// `count` client-side TIME_WAIT from `local` toward one remote port, in a
/// 200-port range.
fn narrow_range_pressure(tw_reuse: &str, local: Ipv4Addr, count: u16) -> Scenario {
    let remote = if local.is_loopback() {
        (Ipv4Addr::new(127, 0, 0, 9), 8080)
    } else {
        BACKEND
    };
    let mut text = TCP_HEADER.to_string();
    for i in 0..count {
        text += &tcp_line(usize::from(i), (local, 40000 + i), remote, 6, NO_TIMER, 0);
    }
    debian12()
        .sysctl("ip_local_port_range", "40000\t40199")
        .sysctl("tcp_tw_reuse", tw_reuse)
        .write("proc/net/tcp", &text)
}

/// `count` established connections, one per destination, in a 200-port range.
fn narrow_range_many_destinations(count: u16) -> Scenario {
    let mut text = TCP_HEADER.to_string();
    for i in 0..count {
        let peer = (Ipv4Addr::new(198, 51, 100, (i % 250) as u8 + 1), 443);
        text += &tcp_line(
            usize::from(i),
            (HOST, 40000 + i),
            peer,
            1,
            NO_TIMER,
            1000 + u64::from(i),
        );
    }
    debian12()
        .sysctl("ip_local_port_range", "40000\t40199")
        .write("proc/net/tcp", &text)
}

/// `count` established connections on the even ports of a 200-port range.
fn narrow_range_even_ports(count: u16) -> Scenario {
    let mut text = TCP_HEADER.to_string();
    for i in 0..count {
        text += &tcp_line(
            usize::from(i),
            (HOST, 40000 + 2 * i),
            BACKEND,
            1,
            NO_TIMER,
            5000 + u64::from(i),
        );
    }
    debian12()
        .sysctl("ip_local_port_range", "40000\t40199")
        .sysctl("tcp_tw_reuse", "0")
        .write("proc/net/tcp", &text)
}

/// 1000 TIME_WAIT on port 443 from many clients, with or without a listener there.
fn server_side_time_wait(listening: bool) -> String {
    let mut text = TCP_HEADER.to_string();
    if listening {
        text += &tcp_line(
            0,
            (Ipv4Addr::UNSPECIFIED, 443),
            (Ipv4Addr::UNSPECIFIED, 0),
            0x0A,
            NO_TIMER,
            100,
        );
    }
    for i in 0..1000u16 {
        let client = Ipv4Addr::new(198, 51, 100, (i % 200) as u8 + 1);
        text += &tcp_line(
            usize::from(i) + 1,
            (HOST, 443),
            (client, 50000 + i),
            6,
            NO_TIMER,
            0,
        );
    }
    text
}

/// Two CLOSE_WAIT sockets on port 8080; with `owned`, a process in the
/// fixture's /proc holds both.
fn close_wait_with_owner(owned: bool) -> Scenario {
    let mut text = TCP_HEADER.to_string();
    for (slot, inode) in [90001u64, 90002].into_iter().enumerate() {
        let client = (Ipv4Addr::new(198, 51, 100, 7), 51000 + slot as u16);
        text += &tcp_line(slot, (HOST, 8080), client, 8, NO_TIMER, inode);
    }
    let scenario = debian12().write("proc/net/tcp", &text);
    if owned {
        let scenario = scenario.write("proc/4242/comm", "leaky-worker\n");
        let fd = scenario.root().join("proc/4242/fd");
        std::fs::create_dir_all(&fd).expect("fd folder");
        for (fd_number, inode) in [(7, 90001), (8, 90002)] {
            std::os::unix::fs::symlink(format!("socket:[{inode}]"), fd.join(fd_number.to_string()))
                .expect("fd link");
        }
        scenario
    } else {
        scenario
    }
}

/// A 6.14 client with reuse on, 900 of 1000 ports in young TIME_WAIT toward
/// one destination, and the reuse delay at `delay_ms`.
fn reuse_delay(delay_ms: &str) -> Scenario {
    let mut text = TCP_HEADER.to_string();
    for i in 0..900u16 {
        text += &tcp_line(
            usize::from(i),
            (Ipv4Addr::new(10, 0, 0, 10), 50000 + i),
            (Ipv4Addr::new(192, 168, 0, 2), 8080),
            6,
            YOUNG_HALF_SECOND,
            0,
        );
    }
    debian12()
        .write("proc/sys/kernel/osrelease", "6.14.0\n")
        .sysctl("tcp_tw_reuse", "1")
        .sysctl("ip_local_port_range", "50000\t50999")
        .sysctl("tcp_tw_reuse_delay", delay_ms)
        .write("proc/net/tcp", &text)
}

fn kernel_with_reuse_2(release: &str) -> Scenario {
    debian12()
        .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
        .sysctl("tcp_tw_reuse", "2")
}

#[test]
fn the_fact_table_in_rules_readme_is_generated_from_the_schema() {
    const BEGIN: &str = "<!-- Generated from src/rules/schema.rs; after changing it run `TWTUNE_UPDATE_RULES_README=1 cargo test --test it rules_coverage`. -->\n";
    const END: &str = "<!-- end of the generated table -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/README.md");
    let readme = std::fs::read_to_string(&path).expect("rules/README.md");
    let start = readme
        .find(BEGIN)
        .expect("the generated table's opening marker")
        + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .map(|at| start + at)
        .expect("the generated table's closing marker");
    let fresh = twtune::rules::schema::markdown_table();
    if std::env::var_os("TWTUNE_UPDATE_RULES_README").is_some() {
        let updated = format!("{}{fresh}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).expect("write rules/README.md");
        return;
    }
    assert!(
        readme[start..end] == fresh,
        "rules/README.md's fact table is stale: run \
         `TWTUNE_UPDATE_RULES_README=1 cargo test --test it rules_coverage`"
    );
}

#[test]
fn facts_schema_lists_what_a_rule_may_name_with_types() {
    let run = Scenario::empty()
        .twtune(&["facts", "--schema", "--format", "json"])
        .expect_code(0);
    let doc = run.json();
    let variables = doc["variables"].as_array().expect("variables[]");
    let path = |name: &str| {
        variables
            .iter()
            .flat_map(|v| v["paths"].as_array().expect("paths[]"))
            .find(|p| p["path"] == name)
            .cloned()
    };
    assert_eq!(path("ports.usable").expect("ports.usable")["type"], "int");
    assert_eq!(
        path("defaults.ephemeral_ports").expect("defaults")["type"],
        "int"
    );
    assert!(path("sockets.time_wait").is_some());
    assert!(path("ports.free").is_none());
    // Every variable the rules may name has a row, and what it holds.
    for v in variables {
        assert!(!v["holds"].as_str().unwrap_or("").is_empty(), "{v}");
    }
    let human = Scenario::empty()
        .twtune(&["facts", "--schema"])
        .expect_code(0)
        .stdout();
    assert!(
        human.contains("defaults.ip_local_port_range") && human.contains("kernel.version.major"),
        "{human}"
    );
}

#[test]
fn builtin_rules_take_kernel_defaults_and_version_gates_from_one_place() {
    // Conditions and recommendations name `defaults.*` and
    // `kernel_at_least(…)`; messages print the defaults through `defaults`
    // too. Rationales are prose and may cite the numbers.
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut offences = Vec::new();
    for entry in std::fs::read_dir(&folder).expect("rules/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("rule file");
        let file: toml::Table = toml::from_str(&text).expect("rule file parses");
        let rules = file
            .get("rule")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        for rule in rules {
            let id = rule["id"].as_str().unwrap_or("?").to_string();
            let field = |name: &str| rule.get(name).map(|v| v.to_string()).unwrap_or_default();
            let conditions = [
                field("when"),
                field("recommend"),
                field("for_each"),
                field("escalate"),
            ]
            .join("\n");
            let texts = [
                field("message"),
                field("summary"),
                field("evidence"),
                field("manual"),
            ]
            .join("\n");
            for literal in ["28232", "28231", "32768", "60999", "kernel.version.m"] {
                if conditions.contains(literal) {
                    offences.push(format!("{id}: {literal} in a condition"));
                }
            }
            for literal in ["28232", "60999"] {
                if texts.contains(literal) {
                    offences.push(format!("{id}: {literal} in a message"));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}
