//! The alerting pack of `integrations/prometheus/`: the shipped `promtool test
//! rules` unit tests pass; every alert has a severity, a runbook section and
//! unit tests that show it firing and staying quiet; every expression names
//! only series twtune exports (or node_exporter's own); the Alertmanager
//! example passes `amtool check-config` and inhibits only real alerts; the
//! Icinga example passes `icinga2 daemon -C`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::netns::require_tool;
use crate::support::tier::Need;
use crate::support::{Scenario, stderr, stdout};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Where the rules file says it publishes docs/runbook.md.
const RUNBOOK_BASE: &str = "https://runbooks.example.com/twtune/runbook.md";

/// One alert of the rules file, read line by line (the file keeps one key a
/// line, as promtool's own formatter does).
#[derive(Debug, Default)]
struct Alert {
    name: String,
    expr: String,
    severity: Option<String>,
    runbook_url: Option<String>,
}

fn alerts() -> Vec<Alert> {
    let mut all: Vec<Alert> = Vec::new();
    for line in read("integrations/prometheus/twtune.rules.yml").lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- alert: ") {
            all.push(Alert {
                name: name.to_string(),
                ..Alert::default()
            });
        } else if let Some(alert) = all.last_mut() {
            let unquote = |v: &str| v.trim_matches('"').to_string();
            if let Some(v) = line.strip_prefix("expr: ") {
                alert.expr = v.to_string();
            } else if let Some(v) = line.strip_prefix("severity: ") {
                alert.severity = Some(unquote(v));
            } else if let Some(v) = line.strip_prefix("runbook_url: ") {
                alert.runbook_url = Some(unquote(v));
            }
        }
    }
    all
}

/// The metric names in a PromQL expression or a dashboard query: words
/// starting with `twtune_` or `node_`, outside label matchers' values.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_string = false;
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_') {
            word.push(c);
            continue;
        }
        if word.starts_with("twtune_") || word.starts_with("node_") {
            names.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
    names
}

/// Every family name twtune exports, from the exposition of every fixture
/// host (families are listed with HELP/TYPE even without samples).
pub fn exported_families() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(crate::support::fixtures()).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = Scenario::fixture(&name)
            .twtune(&["check", "--format", "prometheus"])
            .stdout();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                names.insert(rest.split(' ').next().unwrap().to_string());
            }
        }
    }
    assert!(names.contains("twtune_info"), "{names:?}");
    names
}

#[test]
fn promtool_passes_the_shipped_alert_unit_tests() {
    needs!(Need::Tool("promtool"));
    require_tool("promtool", "prometheus");
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(repo("integrations/prometheus/tests/twtune.rules.test.yml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("SUCCESS"), "{}", stdout(&out));
}

#[test]
fn promtool_test_rules_catches_an_alert_that_would_page_late() {
    needs!(Need::Tool("promtool"));
    // The unit tests can fail: with TwtuneConntrackTableFull waiting an hour
    // (as the generic alert did), "96 % pages after 5 minutes" fails.
    require_tool("promtool", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let rules = read("integrations/prometheus/twtune.rules.yml");
    let slow = rules.replacen(
        "expr: twtune_conntrack_fill_ratio >= 0.95\n        for: 5m",
        "expr: twtune_conntrack_fill_ratio >= 0.95\n        for: 1h",
        1,
    );
    assert_ne!(slow, rules);
    std::fs::write(dir.path().join("twtune.rules.yml"), slow).unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let test = dir.path().join("tests/twtune.rules.test.yml");
    std::fs::copy(
        repo("integrations/prometheus/tests/twtune.rules.test.yml"),
        &test,
    )
    .unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test)
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("alertname: TwtuneConntrackTableFull"),
        "{said}"
    );
}

#[test]
fn promtool_checks_the_alert_rules() {
    needs!(Need::Tool("promtool"));
    require_tool("promtool", "prometheus");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(repo("integrations/prometheus/twtune.rules.yml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("SUCCESS: {} rules found", alerts().len())),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_alert_has_a_severity_a_runbook_section_and_both_kinds_of_unit_test() {
    let runbook = read("docs/runbook.md");
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let tests = read("integrations/prometheus/tests/twtune.rules.test.yml");
    // Each alert_rule_test case: the alert's name and whether it expects none.
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    let cases: Vec<(&str, bool)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let name = l.strip_prefix("alertname: ")?;
            Some((name, lines.get(i + 1) == Some(&"exp_alerts: []")))
        })
        .collect();
    let all = alerts();
    assert!(all.len() >= 15, "{all:?}");
    for alert in &all {
        assert!(
            matches!(
                alert.severity.as_deref(),
                Some("critical" | "warning" | "info")
            ),
            "{}: severity {:?}",
            alert.name,
            alert.severity
        );
        let anchor = alert.name.to_lowercase();
        assert_eq!(
            alert.runbook_url.as_deref(),
            Some(format!("{RUNBOOK_BASE}#{anchor}").as_str()),
            "{}",
            alert.name
        );
        assert!(
            anchors.contains(&anchor),
            "docs/runbook.md has no section {}",
            alert.name
        );
        let fires = cases.iter().any(|(n, quiet)| *n == alert.name && !quiet);
        let quiet = cases.iter().any(|(n, quiet)| *n == alert.name && *quiet);
        assert!(
            fires && quiet,
            "{}: fires {fires}, quiet {quiet}",
            alert.name
        );
    }
    // And no runbook section for an alert that is gone.
    for anchor in &anchors {
        assert!(
            all.iter().any(|a| a.name.to_lowercase() == *anchor),
            "docs/runbook.md: section {anchor} has no alert"
        );
    }
}

#[test]
fn the_symptom_alerts_page_fast_and_the_generic_one_does_not() {
    let all = alerts();
    let rules = read("integrations/prometheus/twtune.rules.yml");
    let block = |name: &str| {
        let start = rules.find(&format!("- alert: {name}\n")).unwrap();
        let rest = &rules[start + 1..];
        rest[..rest.find("- alert: ").unwrap_or(rest.len())].to_string()
    };
    for name in [
        "TwtuneConntrackTableFull",
        "TwtuneEphemeralPortsExhausted",
        "TwtuneHostPortsExhausted",
        "TwtuneSnatPortsExhausted",
    ] {
        assert!(all.iter().any(|a| a.name == name), "{name}");
        let text = block(name);
        assert!(text.contains("for: 5m"), "{name}:\n{text}");
        assert!(text.contains("severity: critical"), "{name}:\n{text}");
    }
    assert!(block("TwtuneChangesPending").contains("for: 1h"));
}

#[test]
fn alert_expressions_name_only_series_twtune_exports() {
    let exported = exported_families();
    // What node_exporter itself serves, which TwtuneTextfileMissing compares with.
    let node_exporter = ["node_exporter_build_info"];
    for alert in alerts() {
        let names = metric_names(&alert.expr);
        assert!(!names.is_empty(), "{}: {}", alert.name, alert.expr);
        for name in names {
            assert!(
                exported.contains(&name) || node_exporter.contains(&name.as_str()),
                "{}: {name} is not exported (exported: {exported:?})",
                alert.name
            );
        }
    }
}

#[test]
fn amtool_accepts_the_alertmanager_example_and_it_inhibits_real_alerts() {
    needs!(Need::Tool("amtool"));
    require_tool("amtool", "prometheus-alertmanager");
    let file = repo("integrations/prometheus/alertmanager-inhibit.yml");
    let out = Command::new("amtool")
        .args(["check-config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("2 inhibit rules"), "{}", stdout(&out));
    let names: BTreeSet<String> = alerts().into_iter().map(|a| a.name).collect();
    let text = read("integrations/prometheus/alertmanager-inhibit.yml");
    let mut named = 0;
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.starts_with("Twtune") {
            assert!(names.contains(word), "{word} is no alert");
            named += 1;
        }
    }
    assert!(named >= 8, "{named}");
    assert!(text.contains("alertname=~\"TwtuneChangesPending"));
}

#[test]
fn icinga2_validates_the_example_and_it_runs_on_the_agent() {
    needs!(Need::Tool("icinga2"));
    require_tool("icinga2", "icinga2-bin");
    let conf = read("integrations/nagios/icinga2-twtune.conf");
    assert!(conf.contains("command_endpoint = host.name"));
    assert!(conf.contains("timeout = "));
    for option in ["\"-t\"", "\"-w\"", "\"-c\""] {
        assert!(conf.contains(option), "{option}");
    }
    let validate = |example: &str| {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("zones.d/master");
        std::fs::create_dir_all(&zone).unwrap();
        std::fs::write(zone.join("twtune.conf"), example).unwrap();
        std::fs::write(
            zone.join("hosts.conf"),
            "object Host \"web1.example\" {\n  check_command = \"dummy\"\n  vars.os = \"Linux\"\n  vars.agent_endpoint = name\n}\n",
        )
        .unwrap();
        let main = dir.path().join("icinga2.conf");
        std::fs::write(
            &main,
            format!(
                "include <itl>\n\
                 const PluginDir = \"/usr/lib/nagios/plugins\"\n\
                 const NodeName = \"master.example\"\n\
                 const ZoneName = \"master\"\n\
                 object Endpoint \"master.example\" {{}}\n\
                 object Zone \"master\" {{ endpoints = [ \"master.example\" ] }}\n\
                 object Endpoint \"web1.example\" {{ host = \"192.0.2.20\" }}\n\
                 object Zone \"web1.example\" {{ endpoints = [ \"web1.example\" ]; parent = \"master\" }}\n\
                 template Service \"generic-service\" {{ max_check_attempts = 3 }}\n\
                 include_zones \"etc\", \"{}\"\n",
                dir.path().join("zones.d").display()
            ),
        )
        .unwrap();
        let user = Command::new("id").arg("-un").output().unwrap();
        let group = Command::new("id").arg("-gn").output().unwrap();
        let d = dir.path().display();
        let out = Command::new("icinga2")
            .args(["daemon", "-C", "-c"])
            .arg(&main)
            .arg(format!("-DRunAsUser={}", stdout(&user).trim()))
            .arg(format!("-DRunAsGroup={}", stdout(&group).trim()))
            .args(
                [
                    "CacheDir",
                    "DataDir",
                    "LogDir",
                    "StateDir",
                    "SpoolDir",
                    "InitRunDir",
                ]
                .map(|v| format!("-D{v}={d}")),
            )
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    };
    let (ok, log) = validate(&conf);
    assert!(ok, "{log}");
    assert!(log.contains("Instantiated 1 Service"), "{log}");
    // The validation is real: a command_endpoint naming no endpoint fails.
    let (ok, log) = validate(&conf.replace(
        "command_endpoint = host.name",
        "command_endpoint = \"nowhere.example\"",
    ));
    assert!(!ok, "{log}");
}
