//! The port rules on facts made to order: a debian 12 fixture tree gathered
//! under `--root`, its socket facts replaced by destinations and traced
//! failures a fixture cannot hold (tracing runs only on a live host), judged
//! by the built-in rules.

use std::path::{Path, PathBuf};

use crate::facts::sockets::creators::{
    Attribution, ConnectFailure, Creator, DestinationFailure, INFERRED_FROM_HOLDERS, TRACED,
};
use crate::facts::sockets::{Destination, DestinationProcess, name_top_creators};
use crate::facts::trace::TracingFacts;
use crate::facts::{Facts, GatherOptions};
use crate::rules::{Finding, RuleSet, Severity, evaluate};

const REMOTE: &str = "192.0.2.10:443";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian12-defaults")
}

/// A destination with `taken` of 1000 usable ports taken, all TIME_WAIT.
fn destination(taken: u64) -> Destination {
    let ratio = taken as f64 / 1000.0;
    Destination {
        remote: REMOTE.into(),
        local: "10.0.0.5".into(),
        time_wait: taken,
        time_wait_reusable: 0,
        time_wait_unconfirmed: 0,
        time_wait_aged: taken,
        established: 0,
        other: 0,
        taken,
        taken_without_reuse: taken,
        taken_if_peer_timestamps: taken,
        peer_timestamps: Some(true),
        peer_timestamps_evidence: "3 live connections to it negotiated timestamps (tcp_info)"
            .into(),
        live_with_timestamps: 3,
        live_without_timestamps: 0,
        reuse_seen: 0,
        reuse_effective: false,
        usable_ports: 1000,
        exhaustion_ratio: ratio,
        ratio_without_reuse: ratio,
        ratio_if_peer_timestamps: ratio,
        max_new_per_second: 1000.0 / 60.0,
        max_new_per_second_reusing: None,
        closes_per_second: taken as f64 / 60.0,
        headroom_per_second: (1000.0 - taken as f64) / 60.0,
        new_per_second: Some(40.0),
        seconds_to_exhaustion: None,
        processes: vec![],
        processes_unattributed: 0,
        creators: vec![],
        attribution: Attribution::Inferred,
        attribution_method: INFERRED_FROM_HOLDERS.into(),
        connect_failures: vec![],
        top_creator: None,
    }
}

fn traced() -> TracingFacts {
    TracingFacts {
        status: "traced".into(),
        reason: None,
        events: 500,
        duration_seconds: 2.0,
        ..TracingFacts::not_sampled()
    }
}

/// The fixture's facts with `tw_reuse`, one destination and the traced
/// host-wide failures.
fn facts_with(tw_reuse: &str, d: Destination, failures: Vec<ConnectFailure>) -> Facts {
    let mut facts = crate::facts::gather(&GatherOptions::new(fixture())).unwrap();
    facts
        .sysctl
        .insert("net.ipv4.tcp_tw_reuse".into(), tw_reuse.into());
    let sockets = facts
        .sockets
        .as_mut()
        .expect("the fixture has socket tables");
    sockets.destinations = vec![d];
    sockets.connect_failures = failures;
    sockets.tracing = traced();
    name_top_creators(sockets);
    facts
}

fn judged(facts: &Facts) -> Vec<Finding> {
    let rules = RuleSet::load(&fixture(), &[]).unwrap();
    let evaluation = evaluate(&rules, facts);
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    evaluation.findings
}

fn found<'a>(findings: &'a [Finding], rule: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.rule == rule).collect()
}

fn failure(syscall: &str, errno: &str, destination: Option<&str>) -> ConnectFailure {
    ConnectFailure {
        pid: 4242,
        command: "worker".into(),
        errno: errno.into(),
        count: 12,
        syscall: syscall.into(),
        destination: destination.map(String::from),
    }
}

#[test]
fn connect_failures_raise_a_destination_whatever_its_ratio() {
    // 10% of the ports taken: far below the warning ratio.
    let mut d = destination(100);
    d.connect_failures = vec![DestinationFailure {
        pid: 4242,
        command: "worker".into(),
        errno: "EADDRNOTAVAIL".into(),
        count: 12,
    }];
    let findings = judged(&facts_with(
        "1",
        d.clone(),
        vec![failure("connect", "EADDRNOTAVAIL", Some(REMOTE))],
    ));
    let hot = found(&findings, "ephemeral-ports-exhausted-toward-destination");
    assert_eq!(hot.len(), 1, "{findings:#?}");
    assert_eq!(hot[0].severity, Severity::Warning);
    assert!(
        hot[0]
            .evidence
            .iter()
            .any(|e| e == "12 connect() calls failed with EADDRNOTAVAIL in 2 s, pid 4242 worker"),
        "{:#?}",
        hot[0].evidence
    );
    // Its failures are the destination rule's: the host-wide one stays quiet.
    assert!(found(&findings, "ephemeral-ports-host-wide").is_empty());

    // The quiet twin: the same destination, nothing failed.
    d.connect_failures.clear();
    let findings = judged(&facts_with("1", d, vec![]));
    assert!(
        found(&findings, "ephemeral-ports-exhausted-toward-destination").is_empty(),
        "{findings:#?}"
    );
}

#[test]
fn traced_bind_failures_raise_the_host_wide_rule_whatever_the_ratio() {
    let quiet = destination(100);
    let findings = judged(&facts_with(
        "1",
        quiet.clone(),
        vec![failure("bind", "EADDRINUSE", None)],
    ));
    let host = found(&findings, "ephemeral-ports-host-wide");
    assert_eq!(host.len(), 1, "{findings:#?}");
    assert!(host[0].severity >= Severity::Warning);
    assert!(
        host[0]
            .summary
            .starts_with("12 bind() calls failed with EADDRINUSE; "),
        "{}",
        host[0].summary
    );
    let quote = "12 bind() calls failed with EADDRINUSE in 2 s, pid 4242 worker";
    assert!(
        host[0].evidence.iter().any(|e| e == quote),
        "{:#?}",
        host[0].evidence
    );
    assert!(host[0].message.contains(quote), "{}", host[0].message);

    // connect() failing toward a destination not kept is the host's too.
    let findings = judged(&facts_with(
        "1",
        quiet.clone(),
        vec![failure("connect", "EADDRNOTAVAIL", Some("198.51.100.7:80"))],
    ));
    let host = found(&findings, "ephemeral-ports-host-wide");
    assert_eq!(host.len(), 1, "{findings:#?}");
    assert!(
        host[0].evidence.iter().any(|e| e
            == "12 connect() calls failed with EADDRNOTAVAIL in 2 s, pid 4242 worker toward 198.51.100.7:80"),
        "{:#?}",
        host[0].evidence
    );

    // Quiet twins: bind()'s EADDRNOTAVAIL is an address this host does not
    // have, not a port; and no failure at all.
    for failures in [vec![failure("bind", "EADDRNOTAVAIL", None)], vec![]] {
        let findings = judged(&facts_with("1", quiet.clone(), failures));
        assert!(
            found(&findings, "ephemeral-ports-host-wide").is_empty(),
            "{findings:#?}"
        );
    }
}

#[test]
fn both_port_findings_name_the_traced_churner_not_the_pool() {
    let mut d = destination(800);
    d.attribution = Attribution::Traced;
    d.attribution_method = TRACED.into();
    d.processes = vec![DestinationProcess {
        pid: 17,
        command: "pool".into(),
        established: 200,
    }];
    d.established = 200;
    d.creators = vec![Creator {
        pid: 4242,
        command: "churner".into(),
        cgroup: None,
        container: None,
        connects: Some(900),
        active_closes: Some(900),
        exited: false,
    }];
    let findings = judged(&facts_with("0", d.clone(), vec![]));
    for rule in [
        "tcp-tw-reuse-outbound-pressure",
        "ephemeral-ports-exhausted-toward-destination",
    ] {
        let f = found(&findings, rule);
        assert_eq!(f.len(), 1, "{rule}: {findings:#?}");
        assert!(
            f[0].summary
                .ends_with("; top creator pid 4242 (churner) (traced)"),
            "{rule}: {}",
            f[0].summary
        );
        assert!(
            f[0].message.contains(
                "Creator (traced): pid 4242 (churner), 900 active closes and 900 connects toward it during the sample."
            ),
            "{rule}: {}",
            f[0].message
        );
        assert!(!f[0].message.contains("Likely creator"), "{}", f[0].message);
    }
    let manual = found(&findings, "ephemeral-ports-exhausted-toward-destination")[0]
        .manual
        .clone()
        .unwrap();
    assert!(
        manual.ends_with("; start with its top creator pid 4242 (churner) (traced)"),
        "{manual}"
    );

    // Untraced, both name the pool, as likely.
    d.attribution = Attribution::Inferred;
    d.creators.clear();
    let findings = judged(&facts_with("0", d, vec![]));
    for rule in [
        "tcp-tw-reuse-outbound-pressure",
        "ephemeral-ports-exhausted-toward-destination",
    ] {
        let f = found(&findings, rule);
        assert!(
            f[0].summary.ends_with("; likely creator pid 17 (pool)"),
            "{rule}: {}",
            f[0].summary
        );
        assert!(
            f[0].message.contains(
                "Likely creator: pid 17 (pool), 200 live connections to it; TIME_WAIT sockets have no owner."
            ),
            "{rule}: {}",
            f[0].message
        );
    }
}

#[test]
fn explain_says_which_evidence_the_reuse_and_host_wide_rules_trace() {
    let rules = RuleSet::load(&fixture(), &[]).unwrap();
    let rationale = |id: &str| {
        rules
            .rules()
            .find(|r| r.id == id)
            .map(|r| r.rationale.clone())
            .unwrap()
    };
    let reuse = rationale("tcp-tw-reuse-outbound-pressure");
    assert!(reuse.contains("Which evidence is traced"), "{reuse}");
    for said in [
        "always come from the socket listings",
        "`sock:inet_sock_set_state`",
        "`attribution: traced`",
        "`top_creator`",
        "likely",
    ] {
        assert!(reuse.contains(said), "{said}: {reuse}");
    }
    let host = rationale("ephemeral-ports-host-wide");
    assert!(host.contains("Which evidence is traced"), "{host}");
    for said in [
        "never from tracing",
        "`syscalls:sys_exit_bind`",
        "EADDRINUSE",
        "EADDRNOTAVAIL",
        "whatever the ratio",
        "`facts.sockets.tracing`",
    ] {
        assert!(host.contains(said), "{said}: {host}");
    }
}
