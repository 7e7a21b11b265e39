//! The facts as rule conditions see them: the CEL variables.
//!
//! The view is built as JSON first (one tree, easy to inspect with
//! `twtune facts`) and then converted to CEL values. Numbers that are whole
//! become CEL `int`, so conditions compare with plain literals (`!= 0`).
//!
//! The variables and what each holds are described once, in
//! [`super::schema::VARIABLES`]: `twtune facts --schema` prints them with every
//! path and type [`schema_view`] offers, and rules/README.md's table is
//! generated from them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value as Json, json};

use super::demand::wanted::{Demand, Settings};
use crate::facts::persisted::{Order, Setting};
use crate::facts::ports;
use crate::facts::{
    Facts, KernelFacts, KernelVersion, NamespaceFacts, NatFacts, PersistedConfig, SocketFacts,
};
use crate::sysctl::{GATHERED_IPV4_KEYS, GATHERED_NETFILTER_KEYS, GATHERED_VENDOR_IPV4_KEYS};

/// The top-level variables a condition may name.
pub const ROOTS: &[&str] = &[
    "kernel",
    "net",
    "sysctl",
    "persisted",
    "counters",
    "sockstat",
    "ports",
    "namespace",
    // `namespace` is a reserved word in CEL, so conditions cannot name it;
    // `netns` is the same map under a name they can.
    "netns",
    "nat",
    "sockets",
    "rates",
    "defaults",
];

/// Variables whose members are open maps: any member name is allowed, and a
/// missing one is simply absent (counters come and go between kernels).
pub const OPEN_MAPS: &[&str] = &[
    "sysctl",
    "counters.tcp_ext",
    "counters.tcp",
    "sockstat",
    "persisted.winners",
    "sockets.states",
];

/// Builds the JSON view of the facts, every member of it.
pub fn json_view(facts: &Facts) -> Map<String, Json> {
    json_view_for(facts, &Demand::everything())
}

/// The view with only the persisted settings `demand` says the loaded rules
/// can name (see [`super::demand`]); the rest is whole.
pub fn json_view_for(facts: &Facts, demand: &Demand) -> Map<String, Json> {
    let mut view = Map::new();
    view.insert(
        "kernel".into(),
        serde_json::to_value(&facts.kernel).unwrap_or(Json::Null),
    );
    view.insert("net".into(), typed_sysctl_tree(&facts.sysctl));
    view.insert(
        "sysctl".into(),
        serde_json::to_value(&facts.sysctl).unwrap_or(Json::Null),
    );
    view.insert(
        "persisted".into(),
        persisted_view(&facts.persisted, &facts.sysctl, demand),
    );
    view.insert(
        "counters".into(),
        json!({ "tcp_ext": facts.counters.tcp_ext, "tcp": facts.counters.tcp }),
    );
    let sockstat: Map<String, Json> = facts
        .counters
        .sockstat
        .iter()
        .map(|(proto, fields)| (proto.to_lowercase(), json!(fields)))
        .collect();
    view.insert("sockstat".into(), Json::Object(sockstat));
    if let Some(ports) = ports_view(facts) {
        view.insert("ports".into(), ports);
    }
    let namespace = serde_json::to_value(&facts.namespace).unwrap_or(Json::Null);
    view.insert("netns".into(), namespace.clone());
    view.insert("namespace".into(), namespace);
    view.insert(
        "nat".into(),
        serde_json::to_value(&facts.nat).unwrap_or(Json::Null),
    );
    // Sockets (absent in a fixture tree without socket tables) and rates
    // (only with --sample) are empty maps when missing, so rules test their
    // members with has() instead of failing on an undeclared variable.
    let or_empty = |v: Option<Json>| {
        v.filter(Json::is_object)
            .unwrap_or_else(|| Json::Object(Map::new()))
    };
    view.insert(
        "sockets".into(),
        or_empty(
            facts
                .sockets
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok()),
        ),
    );
    view.insert(
        "rates".into(),
        or_empty(
            facts
                .rates
                .as_ref()
                .and_then(|r| serde_json::to_value(r).ok()),
        ),
    );
    view.insert("defaults".into(), super::defaults::view());
    drop_nulls(&mut view);
    view
}

/// A view with every variable and field present, for checking the names a
/// condition uses when the rule is loaded (not when it runs on a host that
/// happens to have them).
pub fn schema_view() -> &'static Map<String, Json> {
    static SCHEMA: std::sync::OnceLock<Map<String, Json>> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(build_schema_view)
}

fn build_schema_view() -> Map<String, Json> {
    let sysctl: BTreeMap<String, String> = GATHERED_IPV4_KEYS
        .iter()
        .chain(GATHERED_VENDOR_IPV4_KEYS)
        .map(|k| (format!("net.ipv4.{k}"), "0".to_string()))
        .chain(
            GATHERED_NETFILTER_KEYS
                .iter()
                .map(|k| (format!("net.netfilter.{k}"), "0".to_string())),
        )
        .collect();
    let persisted = PersistedConfig {
        settings: vec![crate::facts::persisted::Setting {
            key: crate::sysctl::SysctlKey::ipv4("tcp_tw_reuse"),
            value: "1".into(),
            file: "".into(),
            line: 1,
            ignore_failure: false,
            at_boot: true,
        }],
        ..Default::default()
    };
    let facts = Facts {
        kernel: KernelFacts {
            release: Some(String::new()),
            version: Some(KernelVersion::new(0, 0, 0)),
        },
        sysctl,
        sysctl_absent: Vec::new(),
        persisted,
        counters: Default::default(),
        namespace: NamespaceFacts {
            net_inode: Some(0),
            initial: Some(true),
            proc_sys_net_writable: true,
            names: vec!["blue".into()],
            holder_pid: Some(1),
            target: Some("blue".into()),
        },
        sockets: Some(SocketFacts::default()),
        nat: NatFacts {
            conntrack: Some(Default::default()),
            conntrack_stats: Some(crate::facts::nat::table::ConntrackStats {
                insert_failed: Some(0),
                clash_resolve: Some(0),
                drop: Some(0),
                early_drop: Some(0),
            }),
            conntrack_source: Some(String::new()),
            snat_port_range: Some(Default::default()),
            ..NatFacts::default()
        },
        rates: Some(crate::facts::rates::Rates::schema()),
        roots: Default::default(),
    };
    let mut view = json_view(&facts);
    // The port range is always derivable on a real kernel; give it a shape here.
    let (low, high) = ports::DEFAULT_RANGE;
    view.insert(
        "ports".into(),
        ports_fields(i64::from(low), i64::from(high), 0),
    );
    view
}

/// Sysctl values typed for comparison: "1" → 1, "32768 60999" → [32768, 60999],
/// anything else stays text. Nested by path, so `net.ipv4.tcp_tw_reuse` reads naturally.
fn typed_sysctl_tree(sysctl: &BTreeMap<String, String>) -> Json {
    let mut tree = Map::new();
    for (key, value) in sysctl {
        let parts: Vec<&str> = key.split('.').collect();
        if let ["net", path @ ..] = parts.as_slice()
            && path.len() >= 2
        {
            insert_at(&mut tree, path, typed_value(value));
        }
    }
    Json::Object(tree)
}

/// Inserts `value` at `path`, making the folders on the way. No sysctl is both
/// a file and a folder, so a clash cannot arise from /proc; were one to, the
/// file wins and the deeper value is left out.
fn insert_at(map: &mut Map<String, Json>, path: &[&str], value: Json) {
    match path {
        [] => {}
        [leaf] => {
            map.insert(leaf.to_string(), value);
        }
        [folder, rest @ ..] => {
            let entry = map
                .entry(folder.to_string())
                .or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(inner) = entry {
                insert_at(inner, rest, value);
            }
        }
    }
}

pub fn typed_value(value: &str) -> Json {
    let numbers: Option<Vec<i64>> = value.split_whitespace().map(|w| w.parse().ok()).collect();
    match numbers {
        Some(n) if n.len() == 1 => json!(n[0]),
        Some(n) if n.len() > 1 => json!(n),
        _ => json!(value),
    }
}

fn persisted_view(
    config: &PersistedConfig,
    runtime: &BTreeMap<String, String>,
    demand: &Demand,
) -> Json {
    // Only the members some loaded rule names, and of the settings only
    // those of the keys its filters compare with (`super::demand`).
    let mut view = Map::new();
    let mut add = |member: &str, value: &dyn Fn() -> Json| {
        if demand.wants(member) {
            view.insert(member.to_string(), value());
        }
    };
    add("files", &|| json!(config.files));
    add("sysctl_conf_at_boot", &|| json!(config.sysctl_conf_at_boot));
    add("winners", &|| json!(config.winners_map()));
    add("problems", &|| json!(config.problems));
    add("refused", &|| json!(config.refused));
    if !demand.wants("drift") && !demand.wants("settings") {
        return Json::Object(view);
    }
    let drift = drift(config, runtime);
    if demand.wants("settings") {
        let settings: Vec<Json> = match demand.settings() {
            Settings::All => config.settings.iter().map(|s| json!(s)).collect(),
            Settings::Keys {
                keys,
                drift: by_drift,
            } => {
                let drift_keys: std::collections::HashSet<&str> = match by_drift {
                    true => drift.iter().filter_map(|d| d["key"].as_str()).collect(),
                    false => Default::default(),
                };
                config
                    .settings
                    .iter()
                    .filter(|s| {
                        keys.contains(s.key.as_str()) || drift_keys.contains(s.key.as_str())
                    })
                    .map(|s| json!(s))
                    .collect()
            }
        };
        view.insert("settings".into(), Json::Array(settings));
    }
    if demand.wants("drift") {
        view.insert("drift".into(), Json::Array(drift));
    }
    Json::Object(view)
}

fn drift(config: &PersistedConfig, runtime: &BTreeMap<String, String>) -> Vec<Json> {
    // Drift: the value the next boot sets differs from the one running now.
    // The next boot sets the last value the kernel accepts; a refused line
    // sets nothing, so it is never what "will apply". `sysctl --system`
    // reads /etc/sysctl.conf last even where the boot does not: where its
    // winner is another line, that is drift of its own, named by its order.
    let keys = || runtime.keys().map(String::as_str);
    let boot = config.winners_among(Order::Boot, keys());
    let system = config.winners_among(Order::System, keys());
    let item = |key: &str, now: &String, winner: &Setting, order: Order| {
        json!({
            "key": key, "runtime": now, "persisted": winner.value,
            "file": winner.file, "line": winner.line, "order": order.name(),
        })
    };
    let mut drift: Vec<Json> = Vec::new();
    for (key, winner) in &system {
        let Some(now) = runtime.get(*key) else {
            continue;
        };
        let at_boot = boot.get(key);
        if let Some(boot_winner) = at_boot
            && now != &boot_winner.value
        {
            drift.push(item(key, now, boot_winner, Order::Boot));
        }
        let same_line = at_boot.is_some_and(|b| b.file == winner.file && b.line == winner.line);
        if !same_line && now != &winner.value {
            drift.push(item(key, now, winner, Order::System));
        }
    }
    drift
}

fn ports_view(facts: &Facts) -> Option<Json> {
    let range = ports::parse_range(facts.sysctl("net.ipv4.ip_local_port_range")?).ok()?;
    let reserved = facts
        .sysctl("net.ipv4.ip_local_reserved_ports")
        .and_then(|r| ports::parse_reserved(r).ok())
        .unwrap_or_default();
    let reserved_in_range = range.size() - ports::usable_ports(range, &reserved);
    Some(ports_fields(
        i64::from(range.low),
        i64::from(range.high),
        i64::from(reserved_in_range),
    ))
}

fn ports_fields(low: i64, high: i64, reserved_in_range: i64) -> Json {
    let count = (high - low + 1).max(0);
    json!({
        "low": low, "high": high, "count": count,
        "reserved_in_range": reserved_in_range,
        "usable": (count - reserved_in_range).max(0),
    })
}

fn drop_nulls(map: &mut Map<String, Json>) {
    map.retain(|_, v| !v.is_null());
    for value in map.values_mut() {
        match value {
            Json::Object(inner) => drop_nulls(inner),
            Json::Array(items) => items.iter_mut().for_each(|item| {
                if let Json::Object(inner) = item {
                    drop_nulls(inner)
                }
            }),
            _ => {}
        }
    }
}

/// JSON → CEL. Whole numbers become `int` (CEL does not compare int with uint).
pub fn to_cel(value: &Json) -> cel::Value {
    match value {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => cel::Value::String(Arc::new(s.clone())),
        Json::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Json::Object(map) => {
            let map: HashMap<String, cel::Value> =
                map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            cel::Value::Map(map.into())
        }
    }
}

/// CEL → text for messages and recommended values: lists join with spaces, the
/// way multi-value sysctls are written.
pub fn cel_to_text(value: &cel::Value) -> String {
    match value {
        cel::Value::String(s) => s.to_string(),
        cel::Value::Int(i) => i.to_string(),
        cel::Value::UInt(u) => u.to_string(),
        cel::Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        cel::Value::Float(f) => format!("{f:.2}"),
        cel::Value::Bool(b) => b.to_string(),
        cel::Value::Null => "null".into(),
        cel::Value::List(items) => items.iter().map(cel_to_text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}
