//! Who creates a destination's connections and TIME_WAIT: traced during
//! `--sample` (facts::trace), otherwise inferred from the socket listings.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use schemars::JsonSchema;
use serde::Serialize;

use super::{DestinationProcess, SocketFacts, apply_headroom};
use crate::facts::cgroup;
use crate::facts::trace::{DestTuple, Trace, TracedProcess, errno_name};

/// How many creators each destination lists.
pub const TOP_CREATORS: usize = 10;

pub const INFERRED_FROM_HOLDERS: &str = "the processes holding its ESTABLISHED connections now (TIME_WAIT sockets have no owner); connects and active_closes unknown";
pub const TRACED: &str = "sock:inet_sock_set_state during the sample: CLOSE→SYN_SENT in the connecting task (connects), ESTABLISHED→FIN_WAIT1 in the closing task (active_closes)";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Attribution {
    Traced,
    #[default]
    Inferred,
}

/// A process that opened or closed connections toward a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Creator {
    pub pid: u32,
    /// Its command (`comm`): from /proc when first seen, or from the
    /// kernel's exit record for a process that exited first; "?" when
    /// neither was seen.
    pub command: String,
    /// Its cgroup path (/proc/PID/cgroup at first sight); null when it
    /// exited before it was seen, or when inferred.
    pub cgroup: Option<String>,
    /// The container or pod the cgroup path names, if any.
    pub container: Option<String>,
    /// Connections it opened toward the destination during the sample;
    /// null when inferred.
    pub connects: Option<u64>,
    /// Connections toward it this process closed first (each one a
    /// TIME_WAIT here); null when inferred from live connections alone.
    pub active_closes: Option<u64>,
    /// Whether it exited during the sample.
    pub exited: bool,
}

/// A traced failure toward one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DestinationFailure {
    pub pid: u32,
    pub command: String,
    pub errno: String,
    pub count: u64,
}

/// connect() or bind() calls of one process that failed for want of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConnectFailure {
    pub pid: u32,
    pub command: String,
    /// "EADDRNOTAVAIL" (connect(): no free port toward that destination)
    /// or "EADDRINUSE" (bind(): the port is taken).
    pub errno: String,
    pub count: u64,
    /// "connect" or "bind".
    pub syscall: String,
    /// "addr:port" of a failed connect() (its socket went SYN_SENT→CLOSE
    /// with no source port); null for bind(), which has none.
    pub destination: Option<String>,
}

/// Creators from the holders of live connections: the old inference.
pub fn inferred(processes: &[DestinationProcess]) -> Vec<Creator> {
    processes
        .iter()
        .map(|p| Creator {
            pid: p.pid,
            command: p.command.clone(),
            cgroup: None,
            container: None,
            connects: None,
            active_closes: None,
            exited: false,
        })
        .collect()
}

fn command(p: &TracedProcess) -> String {
    p.command.clone().unwrap_or_else(|| "?".to_string())
}

fn creator(p: &TracedProcess, connects: u64, active_closes: u64) -> Creator {
    // container_of() reads /proc/PID/cgroup lines; the path is one's third field.
    let container = p
        .cgroup
        .as_deref()
        .and_then(|path| cgroup::container_of(&format!("0::{path}")))
        .map(|c| c.label());
    Creator {
        pid: p.pid,
        command: command(p),
        cgroup: p.cgroup.clone(),
        container,
        connects: Some(connects),
        active_closes: Some(active_closes),
        exited: p.exited,
    }
}

fn key_of(local: &str, remote: &str) -> Option<DestTuple> {
    let local: IpAddr = local.parse().ok()?;
    let remote: SocketAddr = remote.parse().ok()?;
    Some(DestTuple {
        local: local.to_canonical(),
        remote: remote.ip().to_canonical(),
        remote_port: remote.port(),
    })
}

fn format_dest(d: &DestTuple) -> String {
    SocketAddr::new(d.remote, d.remote_port).to_string()
}

/// Puts a traced sample's counts into the socket facts: each kept
/// destination's creators and connect rate, and the failures. Events of
/// threads in other network namespaces were left out as they were read
/// (see facts::trace).
pub fn apply_trace(facts: &mut SocketFacts, trace: &Trace) {
    facts.tracing = trace.facts.clone();
    if !trace.facts.is_traced() {
        return;
    }
    let mut by_dest: HashMap<DestTuple, Vec<(usize, u64, u64)>> = HashMap::new();
    for (&(process, dest), counts) in &trace.per_destination {
        by_dest
            .entry(dest)
            .or_default()
            .push((process, counts.connects, counts.active_closes));
    }
    let secs = trace.facts.duration_seconds.max(f64::MIN_POSITIVE);
    for d in &mut facts.destinations {
        let Some(key) = key_of(&d.local, &d.remote) else {
            continue;
        };
        d.attribution = Attribution::Traced;
        d.attribution_method = TRACED.to_string();
        let mut found = by_dest.remove(&key).unwrap_or_default();
        let connects: u64 = found.iter().map(|(_, c, _)| c).sum();
        d.new_per_second = Some(crate::facts::rates::round_rate(connects as f64 / secs));
        found.sort_by(|a, b| {
            b.2.cmp(&a.2)
                .then(b.1.cmp(&a.1))
                .then(trace.processes[a.0].pid.cmp(&trace.processes[b.0].pid))
        });
        found.truncate(TOP_CREATORS);
        d.creators = found
            .into_iter()
            .map(|(p, connects, closes)| creator(&trace.processes[p], connects, closes))
            .collect();
        let mut failures: Vec<DestinationFailure> = trace
            .failures
            .iter()
            .filter(|(k, _)| k.destination == Some(key))
            .map(|(k, &count)| DestinationFailure {
                pid: trace.processes[k.process].pid,
                command: command(&trace.processes[k.process]),
                errno: errno_name(k.errno).to_string(),
                count,
            })
            .collect();
        failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.pid.cmp(&b.pid)));
        d.connect_failures = failures;
    }
    let mut failures: Vec<ConnectFailure> = trace
        .failures
        .iter()
        .map(|(k, &count)| ConnectFailure {
            pid: trace.processes[k.process].pid,
            command: command(&trace.processes[k.process]),
            errno: errno_name(k.errno).to_string(),
            count,
            syscall: k.syscall.as_str().to_string(),
            destination: k.destination.as_ref().map(format_dest),
        })
        .collect();
    failures.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.pid.cmp(&b.pid))
            .then(a.syscall.cmp(&b.syscall))
            .then(a.destination.cmp(&b.destination))
    });
    facts.connect_failures = failures;
    apply_headroom(facts);
}

pub const INFERRED_FROM_TRANSITIONS: &str = "4-tuples ESTABLISHED with a known owner in the first listing of the sample and TIME_WAIT in the second (active_closes: at least that many; connects unknown)";

/// The owners of ESTABLISHED sockets at the start of an untraced sample:
/// 4-tuple hash → (pid, command). Live hosts only (sock_diag and
/// /proc/PID/fd); empty when nothing could be read.
pub fn established_owners(options: &crate::facts::GatherOptions) -> HashMap<u64, (u32, String)> {
    use super::{TcpState, diag, owners, tuple_hash};
    let mut by_inode: HashMap<u64, u64> = HashMap::new();
    if !options.reads_running_system() {
        return HashMap::new();
    }
    for family in [diag::AF_INET, diag::AF_INET6] {
        let _ = diag::dump(family, diag::state_bit(TcpState::Established), |r| {
            if r.inode != 0 {
                by_inode.insert(r.inode, tuple_hash(&r));
            }
        });
    }
    let inodes: HashMap<u64, u64> = by_inode.keys().map(|&i| (i, i)).collect();
    let (holders, _) = owners::walk(options.root(), &inodes);
    let mut owned = HashMap::new();
    for h in holders {
        for (inode, _) in &h.held {
            if let Some(&tuple) = by_inode.get(inode) {
                owned.insert(tuple, (h.pid, h.command.clone()));
            }
        }
    }
    owned
}

/// Without tracing: a 4-tuple ESTABLISHED with a known owner in the first
/// listing and TIME_WAIT in the second was closed first by that owner. A
/// third, TIME_WAIT-only sock_diag pass lists them (live hosts only).
pub fn apply_transitions(
    facts: &mut SocketFacts,
    options: &crate::facts::GatherOptions,
    first: &HashMap<u64, (u32, String)>,
) {
    use super::{TcpState, diag, tuple_hash};
    if first.is_empty() || !options.reads_running_system() {
        return;
    }
    let mut closed: HashMap<DestTuple, HashMap<(u32, &str), u64>> = HashMap::new();
    for family in [diag::AF_INET, diag::AF_INET6] {
        let _ = diag::dump(family, diag::state_bit(TcpState::TimeWait), |r| {
            if let Some((pid, command)) = first.get(&tuple_hash(&r)) {
                let key = DestTuple {
                    local: r.local.to_canonical(),
                    remote: r.remote.to_canonical(),
                    remote_port: r.remote_port,
                };
                *closed
                    .entry(key)
                    .or_default()
                    .entry((*pid, command.as_str()))
                    .or_default() += 1;
            }
        });
    }
    for d in &mut facts.destinations {
        let Some(found) = key_of(&d.local, &d.remote).and_then(|k| closed.remove(&k)) else {
            continue;
        };
        let mut creators: Vec<Creator> = found
            .into_iter()
            .map(|((pid, command), n)| Creator {
                pid,
                command: command.to_string(),
                cgroup: None,
                container: None,
                connects: None,
                active_closes: Some(n),
                exited: false,
            })
            .collect();
        creators.sort_by(|a, b| {
            b.active_closes
                .cmp(&a.active_closes)
                .then(a.pid.cmp(&b.pid))
        });
        creators.truncate(TOP_CREATORS);
        d.creators = creators;
        d.attribution_method = INFERRED_FROM_TRANSITIONS.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::trace::{Counts, FailureKey, Syscall, TracingFacts};

    fn facts_with(remote: &str) -> SocketFacts {
        let mut f = SocketFacts::default();
        f.destinations.push(super::super::Destination {
            remote: remote.into(),
            local: "10.0.0.1".into(),
            time_wait: 0,
            time_wait_reusable: 0,
            time_wait_unconfirmed: 0,
            time_wait_aged: 0,
            established: 0,
            other: 0,
            taken: 0,
            taken_without_reuse: 0,
            taken_if_peer_timestamps: 0,
            peer_timestamps: None,
            peer_timestamps_evidence: String::new(),
            live_with_timestamps: 0,
            live_without_timestamps: 0,
            reuse_seen: 0,
            reuse_effective: false,
            usable_ports: 100,
            exhaustion_ratio: 0.0,
            ratio_without_reuse: 0.0,
            ratio_if_peer_timestamps: 0.0,
            max_new_per_second: 0.0,
            max_new_per_second_reusing: None,
            closes_per_second: 0.0,
            headroom_per_second: 0.0,
            new_per_second: None,
            seconds_to_exhaustion: None,
            processes: vec![],
            processes_unattributed: 0,
            creators: vec![],
            attribution: Attribution::Inferred,
            attribution_method: String::new(),
            connect_failures: vec![],
            top_creator: None,
        });
        f
    }

    #[test]
    fn traced_creators_are_ranked_and_exited_ones_kept() {
        let dest = DestTuple {
            local: "10.0.0.1".parse().unwrap(),
            remote: "10.0.0.2".parse().unwrap(),
            remote_port: 80,
        };
        let proc = |pid, netns, comm: Option<&str>, exited| {
            TracedProcess {
            pid,
            command: comm.map(String::from),
            cgroup: Some("/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope".into()),
            netns,
            exited,
        }
        };
        let mut trace = Trace {
            facts: TracingFacts {
                status: "traced".into(),
                duration_seconds: 2.0,
                ..TracingFacts::not_sampled()
            },
            own_netns: Some(1),
            ..Default::default()
        };
        trace.processes = vec![
            proc(10, Some(1), Some("here"), false),
            // Toward another destination.
            proc(20, Some(1), Some("elsewhere"), false),
            // Exited before it was seen: no command but the exit's.
            proc(30, None, None, true),
        ];
        let c = |connects, active_closes| Counts {
            connects,
            active_closes,
        };
        trace.per_destination.insert((0, dest), c(10, 4));
        let other = DestTuple {
            remote_port: 443,
            ..dest
        };
        trace.per_destination.insert((1, other), c(500, 500));
        trace.per_destination.insert((2, dest), c(6, 6));
        trace.failures.insert(
            FailureKey {
                process: 1,
                syscall: Syscall::Bind,
                errno: 98,
                destination: None,
            },
            7,
        );
        trace.failures.insert(
            FailureKey {
                process: 0,
                syscall: Syscall::Connect,
                errno: 99,
                destination: Some(dest),
            },
            3,
        );
        let mut facts = facts_with("10.0.0.2:80");
        apply_trace(&mut facts, &trace);
        let d = &facts.destinations[0];
        assert_eq!(d.attribution, Attribution::Traced);
        let named: Vec<(u32, &str, Option<u64>, bool)> = d
            .creators
            .iter()
            .map(|c| (c.pid, c.command.as_str(), c.active_closes, c.exited))
            .collect();
        assert_eq!(
            named,
            vec![(30, "?", Some(6), true), (10, "here", Some(4), false)]
        );
        assert_eq!(
            d.creators[1].container.as_deref(),
            Some("cgroup says docker 0123456789ab")
        );
        // (10 + 6) connects in 2 s.
        assert_eq!(d.new_per_second, Some(8.0));
        assert_eq!(d.connect_failures.len(), 1);
        assert_eq!(d.connect_failures[0].count, 3);
        assert_eq!(facts.connect_failures.len(), 2);
        assert_eq!(facts.connect_failures[0].syscall, "bind");
        assert_eq!(facts.connect_failures[0].errno, "EADDRINUSE");
        assert_eq!(facts.connect_failures[0].destination, None);
        assert_eq!(
            facts.connect_failures[1].destination.as_deref(),
            Some("10.0.0.2:80")
        );
        assert_eq!(facts.tracing.status, "traced");

        // Untraced: nothing changes but the tracing facts.
        let mut untraced = facts_with("10.0.0.2:80");
        let off = Trace {
            facts: TracingFacts::unavailable("no".into()),
            ..trace
        };
        apply_trace(&mut untraced, &off);
        assert_eq!(untraced.destinations[0].attribution, Attribution::Inferred);
        assert!(untraced.connect_failures.is_empty());
        assert_eq!(untraced.tracing.status, "unavailable");
    }
}
