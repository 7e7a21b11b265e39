//! The fact schema: every variable a rule condition may name, what it holds,
//! and every path below it the load-time name check accepts, with its type.
//!
//! One table ([`VARIABLES`]) describes the variables; the paths and types come
//! from [`view::schema_view`], the same tree `expr::check_path` checks rule
//! conditions against. `twtune facts --schema` prints both (`render::schema`), and the fact table
//! in rules/README.md is generated from them (a test keeps it current).

use serde::Serialize;
use serde_json::Value as Json;

use super::{defaults, view};

/// A top-level variable of the rule conditions.
pub struct Variable {
    pub name: &'static str,
    /// What it holds, in one paragraph of Markdown.
    pub holds: &'static str,
}

/// Every variable, in the order of [`view::ROOTS`].
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "kernel",
        holds: "`release` (string), `version.major`, `.minor`, `.patch` (absent when the release does not parse; gate on it with `kernel_at_least(\"4.18\")`)",
    },
    Variable {
        name: "net",
        holds: "runtime sysctls by path, typed: `net.ipv4.tcp_tw_reuse` is an int, `net.ipv4.ip_local_port_range` a list of ints; a key the kernel lacks is absent. `net.netfilter.nf_conntrack_{count,max,buckets,tcp_timeout_time_wait}` when conntrack is loaded (test `has(net.netfilter)` first)",
    },
    Variable {
        name: "sysctl",
        holds: "the same as text, by full key: `sysctl['net.ipv4.ip_local_reserved_ports']`",
    },
    Variable {
        name: "persisted",
        holds: "`settings[]` (`key`, `value`, `file`, `line`, `ignore_failure`, `at_boot`: false for an unlinked /etc/sysctl.conf, which only `sysctl --system` reads) in the order applied; `winners` (key → setting, at boot); `sysctl_conf_at_boot` (the sysctl.d link through which the boot reads /etc/sysctl.conf; absent when none); `drift[]` (`key`, `runtime`, `persisted`, `file`, `line`, `order`: `boot` or `sysctl --system`; against the last line the kernel accepts in that order); `problems[]` (`file`, `line`, `message`); `refused[]` (`key`, `value`, `file`, `line`, `reason`: lines the kernel rejects at boot); `files[]`",
    },
    Variable {
        name: "counters",
        holds: "`tcp_ext.<Name>` (/proc/net/netstat TcpExt), `tcp.<Name>` (/proc/net/snmp Tcp); absent counters are absent",
    },
    Variable {
        name: "sockstat",
        holds: "`tcp.inuse`, `tcp.orphan`, `tcp.tw`, `tcp.alloc`, `tcp.mem`; `tcp6.inuse`",
    },
    Variable {
        name: "ports",
        holds: "the ephemeral range: `low`, `high`, `count`, `reserved_in_range`, `usable`",
    },
    Variable {
        name: "namespace",
        holds: "the same as `netns`; a reserved word in CEL, so conditions cannot name it",
    },
    Variable {
        name: "netns",
        holds: "`initial` (absent when unknown), `proc_sys_net_writable`, `net_inode`, `names` (its `ip netns` names), `holder_pid`, `target` (the `--netns` given)",
    },
    Variable {
        name: "nat",
        holds: "`verdict`, `translates` (this host translates others' traffic), `translated` (its own traffic is translated): each `\"none\"`, `\"possible\"`, `\"likely\"` or `\"unknown\"`; `signals[]` (`name`, `weight` incl. `\"weak\"`, `side`: `\"translates\"`/`\"translated\"`/`\"peers\"`, `evidence`), `checked[]`, `unchecked[]`, `conntrack` (`entries`, `snat`, `dnat`, `time_wait`, `example`), `conntrack_stats` (`insert_failed`, `drop`, `early_drop`, `clash_resolve` (5.10+), since boot); `conntrack_source` (`\"netlink\"`, `\"proc\"` or `\"conntrack-tool\"`), `snat_port_range` (`low`, `high`, `from`: `\"rule\"` or `\"kernel default\"`…; absent when conntrack was not read), `snat_destinations[]` (top 10 by connections: `remote` \"addr:port\", `protocol`, `translated_address`, `connections` (source-translated conntrack entries toward it on that address, TIME_WAIT included), `ports` (the NAT range's size), `ratio`), `snat_destination_count`; the scoring is documented in `src/facts/nat/mod.rs`. Test an optional member with `has(nat.conntrack) && has(nat.conntrack.time_wait)`",
    },
    Variable {
        name: "sockets",
        holds: "`source` (`\"netlink\"` or `\"proc\"`), `states` (state name → count, every name present), `total`, `time_wait`, `close_wait`, `time_wait_server_side` (on a listening port, or the listener-gone pattern), `time_wait_client_side`, `time_wait_reusable` (client TIME_WAIT connect() may take over now: toward peers known to send timestamps), `time_wait_unconfirmed` (reusable only if the peer sends timestamps, unknown: counted taken), `reuse` (`tcp_tw_reuse`, `timestamps`, `scope` `\"none\"`/`\"all\"`/`\"loopback\"`, `delay_ms`, `delay_source`, `time_wait_ms`), `listening_ports[]`, `server_side_ports[]` (`port`, `time_wait`), `ephemeral_range` (`low`, `high`), `reserved_in_range`, `listeners_in_range`, `bound_in_range`, `usable_ports` (range − reserved − listeners − bound-only), `destinations[]` (top 20 by ports taken: `remote` \"addr:port\" or \"[v6]:port\", `local`, `time_wait`, `time_wait_reusable`, `time_wait_unconfirmed`, `time_wait_aged` (older than the reuse delay), `established`, `other`, `taken` (the severity's figure), `taken_without_reuse`, `taken_if_peer_timestamps`, `peer_timestamps` (true/false; absent when unknown: test `has(d.peer_timestamps)`), `peer_timestamps_evidence`, `live_with_timestamps`, `live_without_timestamps`, `reuse_seen` (with `--sample`), `reuse_effective` (tcp_tw_reuse covers it, timestamps on here, peer not known to lack them), `usable_ports`, `exhaustion_ratio` (taken / usable), `ratio_without_reuse`, `ratio_if_peer_timestamps`, `max_new_per_second`, `max_new_per_second_reusing` (absent unless reuse is effective), `closes_per_second`, `headroom_per_second`, with `--sample` `new_per_second` and `seconds_to_exhaustion`; `processes[]` (`pid`, `command`, `established`: the holders of its ESTABLISHED sockets, most first, top 5; TIME_WAIT has no owner, so these are its likely creators), `processes_unattributed` (established sockets no readable process holds); `creators[]` (`pid`, `command`, `cgroup`, `container`, `connects`, `active_closes`, `exited`: most active closes first), `attribution` (`\"traced\"` during a traced `--sample`, else `\"inferred\"`), `attribution_method`, `connect_failures[]` (`pid`, `command`, `errno`, `count`: traced connect() failures toward it), `top_creator` (`pid`, `command`, `attribution`, `phrase` \"top creator pid 4242 (churner) (traced)\" or \"likely creator pid 17 (pool)\", `sentence`: the one process every port finding names; absent when nothing names one)), `destination_count`, `max_exhaustion_ratio`, `host_ports` (`in_use`, `in_use_with_time_wait`, `usable`, `ratio`, `ratio_with_time_wait` (what bind(0) faces), `first_parity_usable`, `first_parity_in_use`, `first_parity_ratio`), `close_wait_processes[]` (`pid`, `command`, `count`), `close_wait_unattributed`, `connect_failures[]` (`pid`, `command`, `errno` `\"EADDRNOTAVAIL\"`/`\"EADDRINUSE\"`, `count`, `syscall` `\"connect\"`/`\"bind\"`, `destination` or null), `tracing` (`status` `\"traced\"`/`\"unavailable\"`/`\"not_sampled\"`, `reason`, `tracepoints[]`, `events`, `lost_events`, `duration_seconds`, `namespace_filter`); an empty map when a fixture tree has no socket tables (rules that need it say `requires = [\"sockets.source\"]`)",
    },
    Variable {
        name: "rates",
        holds: "with `check --sample`: `interval_seconds`, per-second (rounded) `active_opens` (host-wide), `passive_opens`, `time_wait_entered`, `time_wait_reused`, `time_wait_killed`, `time_wait_overflow`, `paws_active`, `paws_estab`, `tcp_abort_on_memory`, `sockstat_tw_change` (absent counters are absent), `counters_went_back[]`; an empty map without `--sample`",
    },
    Variable {
        name: "defaults",
        // The members and their values are appended from `defaults::DEFAULTS`.
        holds: "the kernel's defaults and twtune's port thresholds, stated once in `src/rules/defaults.rs`",
    },
];

impl Variable {
    /// What it holds; for `defaults`, with each member and its value.
    pub fn holds(&self) -> String {
        if self.name != "defaults" {
            return self.holds.to_string();
        }
        let members: Vec<String> = defaults::DEFAULTS
            .iter()
            .map(|d| format!("`{}` ({})", d.name, (d.value)()))
            .collect();
        format!("{}: {}", self.holds, members.join(", "))
    }
}

/// One path a condition may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactPath {
    /// Dotted, as a condition writes it; `.*` ends an open map.
    pub path: String,
    /// `int`, `float`, `string`, `bool`, `list`, `map` (any member), or
    /// `sysctl` (an int, a list of ints or a string, as the kernel prints it).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A line of its own where the schema has one (the defaults), else empty.
    pub description: String,
}

/// One variable of the schema with its paths.
#[derive(Debug, Clone, Serialize)]
pub struct VariableSchema {
    pub name: &'static str,
    pub holds: String,
    pub paths: Vec<FactPath>,
}

/// The whole schema, in [`VARIABLES`] order.
pub fn schema() -> Vec<VariableSchema> {
    let tree = view::schema_view();
    VARIABLES
        .iter()
        .map(|variable| {
            let mut paths = Vec::new();
            if let Some(node) = tree.get(variable.name) {
                collect(variable.name, node, &mut paths);
            }
            VariableSchema {
                name: variable.name,
                holds: variable.holds(),
                paths,
            }
        })
        .collect()
}

fn collect(path: &str, node: &Json, out: &mut Vec<FactPath>) {
    let mut push = |kind: &'static str| {
        out.push(FactPath {
            path: path.to_string(),
            kind,
            description: description_of(path),
        })
    };
    if view::OPEN_MAPS.contains(&path) {
        push("map");
        return;
    }
    if path.starts_with("net.") && !node.is_object() {
        push("sysctl");
        return;
    }
    match node {
        Json::Object(members) => {
            let mut names: Vec<&String> = members.keys().collect();
            names.sort();
            for name in names {
                collect(&format!("{path}.{name}"), &members[name.as_str()], out);
            }
        }
        Json::Array(_) => push("list"),
        Json::String(_) => push("string"),
        Json::Bool(_) => push("bool"),
        Json::Number(n) if n.is_i64() || n.is_u64() => push("int"),
        Json::Number(_) => push("float"),
        Json::Null => {}
    }
}

fn description_of(path: &str) -> String {
    path.strip_prefix("defaults.")
        .and_then(|name| defaults::DEFAULTS.iter().find(|d| d.name == name))
        .map(|d| d.description.to_string())
        .unwrap_or_default()
}

/// The Markdown table of rules/README.md: variable → what it holds.
pub fn markdown_table() -> String {
    let mut table = String::from("| variable | holds |\n|---|---|\n");
    for variable in VARIABLES {
        table.push_str(&format!("| `{}` | {} |\n", variable.name, variable.holds()));
    }
    table
}

/// Every name the check knows at the top level, for a test against [`view::ROOTS`].
pub fn variable_names() -> Vec<&'static str> {
    VARIABLES.iter().map(|v| v.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_exactly_the_variables_the_check_knows() {
        assert_eq!(variable_names(), view::ROOTS.to_vec());
        for name in view::schema_view().keys() {
            assert!(view::ROOTS.contains(&name.as_str()), "{name}");
        }
    }

    #[test]
    fn every_path_printed_is_one_the_check_accepts() {
        for variable in schema() {
            assert!(!variable.paths.is_empty(), "{} has no paths", variable.name);
            for path in variable.paths {
                let parts: Vec<String> = path.path.split('.').map(str::to_string).collect();
                super::super::names::check_path(&parts, view::schema_view(), &[])
                    .unwrap_or_else(|e| panic!("{}: {e}", path.path));
            }
        }
    }

    #[test]
    fn paths_have_types_and_the_defaults_their_descriptions() {
        let all: Vec<FactPath> = schema().into_iter().flat_map(|v| v.paths).collect();
        let find = |p: &str| all.iter().find(|f| f.path == p).cloned();
        assert_eq!(find("kernel.version.major").map(|f| f.kind), Some("int"));
        assert_eq!(find("kernel.release").map(|f| f.kind), Some("string"));
        assert_eq!(
            find("net.ipv4.ip_local_port_range").map(|f| f.kind),
            Some("sysctl")
        );
        assert_eq!(find("counters.tcp_ext").map(|f| f.kind), Some("map"));
        assert_eq!(find("persisted.settings").map(|f| f.kind), Some("list"));
        let range = find("defaults.ip_local_port_range").expect("defaults row");
        assert_eq!(range.kind, "list");
        assert!(range.description.contains("af_inet.c"), "{range:?}");
    }
}
