use super::persist::read_after;
use super::*;

fn finding(rule: &str, key: &str, current: &str, recommended: &str) -> Finding {
    Finding {
        rule: rule.into(),
        severity: if rule.starts_with("advice") {
            Severity::Info
        } else {
            Severity::Warning
        },
        title: String::new(),
        summary: String::new(),
        key: Some(SysctlKey::parse(key).unwrap()),
        current: Some(current.into()),
        recommended: Some(recommended.into()),
        message: String::new(),
        manual: None,
        evidence: vec![],
        references: vec![],
        rank: None,
    }
}

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ipv4 = dir.path().join("proc/sys/net/ipv4");
    std::fs::create_dir_all(&ipv4).unwrap();
    std::fs::write(ipv4.join("tcp_tw_reuse"), "2\n").unwrap();
    std::fs::write(ipv4.join("tcp_timestamps"), "0\n").unwrap();
    dir
}

fn request<'a>(findings: &'a [Finding], sets: &'a [String], skip: &'a [String]) -> Request<'a> {
    Request {
        findings,
        sets,
        only: &[],
        skip,
        scope: Scope::RuntimeOnly,
        persist_to: None,
        owners: &[],
        converge: true,
    }
}

#[test]
fn recommendations_become_changes_named_by_rule_and_skip_drops_them() {
    let dir = root();
    let findings = [
        finding("timestamps-off", "net.ipv4.tcp_timestamps", "0", "1"),
        finding("tw-reuse", "net.ipv4.tcp_tw_reuse", "2", "1"),
        // Already at the recommended value: nothing to do.
        finding("noop", "net.ipv4.tcp_tw_reuse", "2", "2"),
    ];
    let plan = build(
        dir.path(),
        &PersistedConfig::default(),
        &request(&findings, &[], &[]),
    )
    .unwrap();
    let rules: Vec<_> = plan
        .changes
        .iter()
        .map(|c| c.rule.as_deref().unwrap())
        .collect();
    assert_eq!(rules, ["timestamps-off", "tw-reuse"]);
    assert!(plan.persist.is_none());
    let skip = ["tw-reuse".to_string()];
    let plan = build(
        dir.path(),
        &PersistedConfig::default(),
        &request(&findings, &[], &skip),
    )
    .unwrap();
    assert_eq!(plan.changes.len(), 1);
}

fn setting(file: &str) -> Setting {
    Setting {
        key: SysctlKey::ipv4("tcp_tw_reuse"),
        value: "0".into(),
        file: file.into(),
        line: 1,
        ignore_failure: false,
        at_boot: true,
    }
}

#[test]
fn which_file_is_read_after_which_in_each_order() {
    let linked = PersistedConfig {
        sysctl_conf_at_boot: Some("/etc/sysctl.d/99-sysctl.conf".into()),
        ..Default::default()
    };
    let unlinked = PersistedConfig::default();
    let dropin = "/etc/sysctl.d/90-twtune.conf";
    let conf_via_link = setting("/etc/sysctl.d/99-sysctl.conf");
    let conf = setting("/etc/sysctl.conf");
    let zzz = setting("/etc/sysctl.d/99-zzz.conf");
    let early = setting("/usr/lib/sysctl.d/50-default.conf");
    // The link's place at boot, last again with `sysctl --system`.
    assert!(read_after(&linked, &conf_via_link, dropin, Order::Boot));
    assert!(read_after(&linked, &conf_via_link, dropin, Order::System));
    assert!(!read_after(&linked, &early, dropin, Order::Boot));
    // Persisting in /etc/sysctl.conf: 99-zzz sorts after the link at
    // boot, but `sysctl --system` reads /etc/sysctl.conf last.
    assert!(read_after(&linked, &zzz, "/etc/sysctl.conf", Order::Boot));
    assert!(!read_after(
        &linked,
        &zzz,
        "/etc/sysctl.conf",
        Order::System
    ));
    // Unlinked: the boot never reads /etc/sysctl.conf, so whatever the
    // boot applies wins over it; `sysctl --system` reads it last.
    assert!(read_after(
        &unlinked,
        &early,
        "/etc/sysctl.conf",
        Order::Boot
    ));
    assert!(read_after(&unlinked, &conf, dropin, Order::System));
}

#[test]
fn two_rules_disagreeing_is_an_error_that_set_resolves() {
    let dir = root();
    let findings = [
        finding("a", "net.ipv4.tcp_tw_reuse", "2", "1"),
        finding("b", "net.ipv4.tcp_tw_reuse", "2", "0"),
    ];
    let err = build(
        dir.path(),
        &PersistedConfig::default(),
        &request(&findings, &[], &[]),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("rule a recommends \"1\" but rule b recommends \"0\""),
        "{err}"
    );
    // A less severe rule's different value gives way, with a note.
    let ranked = [
        finding("advice-parity", "net.ipv4.tcp_tw_reuse", "2", "0"),
        finding("a", "net.ipv4.tcp_tw_reuse", "2", "1"),
    ];
    let plan = build(
        dir.path(),
        &PersistedConfig::default(),
        &request(&ranked, &[], &[]),
    )
    .unwrap();
    assert_eq!(
        (plan.changes[0].to.as_str(), plan.changes[0].rule.as_deref()),
        ("1", Some("a"))
    );
    assert!(
        plan.notes[0].contains("rule advice-parity recommends \"0\""),
        "{:?}",
        plan.notes
    );
    let sets = ["net.ipv4.tcp_tw_reuse=0".to_string()];
    let plan = build(
        dir.path(),
        &PersistedConfig::default(),
        &request(&findings[..1], &sets, &[]),
    )
    .unwrap();
    assert_eq!(
        (plan.changes[0].to.as_str(), plan.changes[0].rule.clone()),
        ("0", None)
    );
}

fn recycle_root(recycle: &str) -> tempfile::TempDir {
    let dir = root();
    let ipv4 = dir.path().join("proc/sys/net/ipv4");
    std::fs::write(ipv4.join("tcp_tw_recycle"), format!("{recycle}\n")).unwrap();
    dir
}

#[test]
fn timestamps_on_is_refused_while_recycle_stays_on_and_planned_after_it() {
    let dir = recycle_root("1");
    let timestamps = finding("tcp-timestamps-off", "net.ipv4.tcp_timestamps", "0", "1");
    let recycle = finding(
        "tcp-tw-recycle-enabled",
        "net.ipv4.tcp_tw_recycle",
        "1",
        "0",
    );
    // Timestamps alone: refused, nothing planned.
    let err = build(
        dir.path(),
        &PersistedConfig::default(),
        &request(std::slice::from_ref(&timestamps), &[], &[]),
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::RecycleStillOn { .. }), "{err}");
    assert!(err.to_string().contains("1 at run time"), "{err}");
    // --skip of the recycle rule leaves it on: refused too.
    let both = [timestamps.clone(), recycle.clone()];
    let skip = ["tcp-tw-recycle-enabled".to_string()];
    assert!(
        build(
            dir.path(),
            &PersistedConfig::default(),
            &request(&both, &[], &skip)
        )
        .is_err()
    );
    // Both in one plan: recycle is written first, whatever the findings' order.
    let plan = build(
        dir.path(),
        &PersistedConfig::default(),
        &request(&both, &[], &[]),
    )
    .unwrap();
    let keys: Vec<_> = plan.changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["net.ipv4.tcp_tw_recycle", "net.ipv4.tcp_timestamps"]);
    // Recycle already 0 at run time and nothing persisted: allowed.
    let dir = recycle_root("0");
    build(
        dir.path(),
        &PersistedConfig::default(),
        &request(std::slice::from_ref(&timestamps), &[], &[]),
    )
    .unwrap();
}
