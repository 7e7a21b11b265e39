//! Who opens and who closes: the kernel's own record of connects, active
//! closes and failed connect()/bind() calls during `--sample`.
//!
//! # Design: perf_event_open on tracepoints, not eBPF
//!
//! Both read the same stable tracepoints. eBPF (libbpf-rs, aya) would count
//! in the kernel and copy out only totals, which is cheaper at very high
//! connection rates; but it needs a BPF program built ahead (clang, or aya's
//! toolchain), BTF on the host for CO-RE, a verifier that differs by kernel,
//! CAP_BPF besides CAP_PERFMON, and several more crates. perf_event_open on
//! tracepoints needs none of that: one syscall per tracepoint and CPU, the
//! record layout read from tracefs `format` at run time (never hard-coded),
//! and an in-kernel ftrace filter so only the transitions twtune counts are
//! copied to user space. The cost is one ring-buffer record per counted
//! event, measured in BENCHMARKS.md; records that do not fit are counted
//! (PERF_RECORD_LOST) and reported, never silently dropped.
//!
//! # Events
//!
//! - `sock:inet_sock_set_state` (TCP only): CLOSE→SYN_SENT is a connect(),
//!   fired from tcp_v4_connect()/tcp_v6_connect() in the connecting task's
//!   context; ESTABLISHED→FIN_WAIT1 is this host closing first (tcp_close()
//!   or shutdown(), in the closing task's context): the future TIME_WAIT.
//! - `syscalls:sys_exit_connect` / `sys_exit_bind` returning -EADDRNOTAVAIL
//!   or -EADDRINUSE: the failures. The exit record carries only the return
//!   value, but a connect() that finds no port does change state:
//!   tcp_v4_connect() sets SYN_SENT before inet_hash_connect() and, when that
//!   fails, goes back to CLOSE with the destination still set and no source
//!   port (net/ipv4/tcp_ipv4.c, tcp_v4_connect(), label `failure:`). That
//!   SYN_SENT→CLOSE with sport 0, in the same thread just before the failing
//!   exit, names the destination; bind() failures have none.
//! - `sched:sched_process_exit`: the command of a process that exits before
//!   twtune reads its /proc entry.
//!
//! # Which namespace
//!
//! The tracepoints see every network namespace, and the records do not say
//! which one (the socket's `struct net` is not in them). An event counts for
//! the namespace being checked when the thread that made it is in that
//! namespace: /proc/PID/task/TID/ns/net, read when the thread is first
//! seen. Per thread, not per process: setns() moves one thread, so a process
//! can hold sockets of several namespaces (twtune's own tests do), and a
//! thread's new sockets are made in its namespace. A thread that exited
//! before it was seen has an unknown namespace; its events count only
//! through their 4-tuple matching a destination of this namespace's listing.
//! A socket made in one namespace and closed by a thread that moved to
//! another since is the case this cannot tell.
//!
//! # Cgroups
//!
//! PERF_SAMPLE_CGROUP (5.7) gives a cgroup id, which needs a walk of the
//! cgroup tree with name_to_handle_at() to become a path; /proc/PID/cgroup
//! read at first sight gives the path directly, and is what the container
//! detection ([`crate::facts::cgroup`]) parses. A process that exited before
//! it was seen has no cgroup in the report.

mod accumulate;
mod events;
pub mod format;
mod perf;
mod procs;
mod split;
mod tracefs;
mod tracer;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use super::tcp_state::TcpState;
use format::{Field, Format, read_bytes, read_int, read_uint};

pub use accumulate::{Accumulator, NetnsLookup};
pub use events::{Decoders, Event};
pub use procs::{ProcInfo, parse_ns_link, parse_stat_start};
pub use split::{SplitAccumulator, SplitTrace};
pub use tracer::{Sink, Tracer};

const EADDRINUSE: i64 = 98;
const EADDRNOTAVAIL: i64 = 99;
const TCP_ESTABLISHED: i64 = TcpState::Established as i64;
const TCP_SYN_SENT: i64 = TcpState::SynSent as i64;
const TCP_FIN_WAIT1: i64 = TcpState::FinWait1 as i64;
const TCP_CLOSE: i64 = TcpState::Close as i64;
const IPPROTO_TCP: u64 = 6;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
/// Data pages per CPU ring at most (512 KiB with 4 KiB pages): at 30,000
/// connections/s (two records of about 100 bytes each) a 50 ms poll needs
/// 300 KiB, spread over the CPUs; what does not fit is counted as lost.
const RING_PAGES: usize = 128;
/// All rings together stay under this many pages (16 MiB), so a host with
/// hundreds of CPUs does not lock hundreds of MiB for a sample.
const RING_PAGES_TOTAL: usize = 4096;

/// Pages per ring for `cpus` CPUs: a power of two (the kernel's rule), at
/// most `RING_PAGES` (128), at least 8.
pub fn ring_pages(cpus: usize) -> usize {
    let share = RING_PAGES_TOTAL / cpus.max(1);
    let mut pages = RING_PAGES;
    while pages > 8 && pages > share {
        pages /= 2;
    }
    pages
}
/// How often the rings are read.
pub const POLL: Duration = Duration::from_millis(50);

const EVENTS: [&str; 4] = [
    "sock/inet_sock_set_state",
    "syscalls/sys_exit_connect",
    "syscalls/sys_exit_bind",
    "sched/sched_process_exit",
];

/// What tracing did during the sample. Serialised as `facts.sockets.tracing`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TracingFacts {
    /// "traced": the counts come from the kernel's tracepoints;
    /// "unavailable": tracing was tried and could not run (see `reason`);
    /// "not_sampled": no `--sample`, so nothing was traced.
    pub status: String,
    /// Why tracing was unavailable or not run.
    pub reason: Option<String>,
    /// The tracepoints read.
    pub tracepoints: Vec<String>,
    /// Records read from the rings.
    pub events: u64,
    /// Records the kernel could not store (ring full): the counts are
    /// lower bounds when this is not 0.
    pub lost_events: u64,
    /// How long tracing ran, in seconds.
    pub duration_seconds: f64,
    /// How events were matched to the namespace being checked.
    pub namespace_filter: String,
}

pub const NAMESPACE_FILTER: &str = "the thread's network namespace at first sight (/proc/PID/task/TID/ns/net); for threads that exited unseen, the 4-tuple against this namespace's listing";

impl TracingFacts {
    pub fn not_sampled() -> Self {
        TracingFacts {
            status: "not_sampled".into(),
            reason: Some("tracing runs only during --sample".into()),
            tracepoints: Vec::new(),
            events: 0,
            lost_events: 0,
            duration_seconds: 0.0,
            namespace_filter: NAMESPACE_FILTER.into(),
        }
    }

    pub fn unavailable(reason: String) -> Self {
        TracingFacts {
            status: "unavailable".into(),
            reason: Some(reason),
            ..TracingFacts::not_sampled()
        }
    }

    pub fn is_traced(&self) -> bool {
        self.status == "traced"
    }
}

impl Default for TracingFacts {
    fn default() -> Self {
        TracingFacts::not_sampled()
    }
}

/// A destination as the kernel's 4-tuple names it, addresses canonical
/// (v4-mapped IPv6 as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestTuple {
    pub local: IpAddr,
    pub remote: IpAddr,
    pub remote_port: u16,
}

/// A process events were counted for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TracedProcess {
    pub pid: u32,
    pub command: Option<String>,
    pub cgroup: Option<String>,
    /// /proc/PID/ns/net's inode at first sight.
    pub netns: Option<u64>,
    pub exited: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub connects: u64,
    pub active_closes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Syscall {
    Connect,
    Bind,
}

impl Syscall {
    pub fn as_str(self) -> &'static str {
        match self {
            Syscall::Connect => "connect",
            Syscall::Bind => "bind",
        }
    }
}

pub fn errno_name(errno: i64) -> &'static str {
    match errno {
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        _ => "EADDRINUSE",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FailureKey {
    pub process: usize,
    pub syscall: Syscall,
    pub errno: i64,
    pub destination: Option<DestTuple>,
}

/// Everything a traced sample saw.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub facts: TracingFacts,
    pub processes: Vec<TracedProcess>,
    /// (process index, destination) → counts.
    pub per_destination: HashMap<(usize, DestTuple), Counts>,
    pub failures: HashMap<FailureKey, u64>,
    /// This thread's network namespace inode, to compare with the tasks'.
    pub own_netns: Option<u64>,
}

#[cfg(test)]
mod tests;
