//! The Grafana dashboard `integrations/grafana/twtune.json`: a valid
//! dashboard model (JSON, the fields Grafana requires, unique panel ids,
//! panels on the grid), every query valid PromQL (promtool parses each as a
//! recording rule) and naming only series twtune really exports, and the
//! panels the issue asks for present.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::alerts::{exported_families, metric_names};
use crate::support::netns::require_tool;
use crate::support::tier::Need;
use crate::support::{stderr, stdout};

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/grafana/twtune.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

fn queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_string();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

#[test]
fn the_dashboard_is_a_valid_grafana_model() {
    let d = dashboard();
    assert_eq!(d["title"], "twtune");
    assert_eq!(d["uid"], "twtune");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    assert!(d["time"]["from"].is_string() && d["time"]["to"].is_string());
    let mut ids = BTreeSet::new();
    for panel in panels(&d) {
        let id = panel["id"].as_u64().expect("a panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        assert!(panel["type"].is_string() && panel["title"].is_string());
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24 && grid["h"].as_u64().unwrap() > 0, "{panel}");
        if panel["type"] != "row" {
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{}", panel["title"]);
            for t in targets {
                assert!(t["refId"].is_string() && t["expr"].is_string());
                assert_eq!(t["datasource"]["uid"], "${datasource}");
            }
        }
    }
    let variables: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "instance"]);
}

#[test]
fn every_query_names_only_series_twtune_exports() {
    let exported = exported_families();
    let mut used = BTreeSet::new();
    for (title, expr) in queries(&dashboard()) {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "{title}: {expr}");
        for name in names {
            assert!(
                exported.contains(&name),
                "{title}: {name} is not exported by twtune"
            );
            used.insert(name);
        }
    }
    // The panels: verdicts, worst destinations, time to exhaustion,
    // conntrack and SNAT fill, TIME_WAIT by side, failures by process.
    for wanted in [
        "twtune_status",
        "twtune_destination_exhaustion_ratio",
        "twtune_destination_seconds_to_exhaustion",
        "twtune_conntrack_fill_ratio",
        "twtune_snat_exhaustion_ratio",
        "twtune_time_wait_sockets",
        "twtune_connect_failures_total",
    ] {
        assert!(used.contains(wanted), "no panel shows {wanted}");
    }
}

#[test]
fn promtool_parses_every_query() {
    needs!(Need::Tool("promtool"));
    require_tool("promtool", "prometheus");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries(&dashboard()).into_iter().enumerate() {
        // Grafana's variables, as Grafana substitutes them.
        let expr = expr.replace("$instance", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queries.yml");
    std::fs::write(&file, &rules).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{rules}",
        stdout(&out),
        stderr(&out)
    );
}
