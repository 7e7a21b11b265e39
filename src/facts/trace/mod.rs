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

pub mod format;
mod perf;
mod tracefs;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use format::{Field, Format, read_bytes, read_int, read_uint};

const EADDRINUSE: i64 = 98;
const EADDRNOTAVAIL: i64 = 99;
const TCP_ESTABLISHED: i64 = 1;
const TCP_SYN_SENT: i64 = 2;
const TCP_FIN_WAIT1: i64 = 4;
const TCP_CLOSE: i64 = 7;
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

/// The decoded tracepoint records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    StateChange {
        old: i64,
        new: i64,
        sport: u16,
        dest: DestTuple,
    },
    SyscallExit {
        syscall: Syscall,
        ret: i64,
    },
    Exit {
        comm: String,
        group_dead: bool,
    },
}

struct StateFields {
    oldstate: Field,
    newstate: Field,
    sport: Field,
    dport: Field,
    family: Field,
    protocol: Option<Field>,
    saddr: Field,
    daddr: Field,
    saddr_v6: Field,
    daddr_v6: Field,
}

enum Decoder {
    State(StateFields),
    Exit(Syscall, Field),
    ProcessExit {
        comm: Field,
        group_dead: Option<Field>,
    },
}

/// Decodes raw records by their `common_type` (the tracepoint id).
pub struct Decoders {
    common_type: Field,
    by_id: HashMap<u64, Decoder>,
}

fn ip4(bytes: &[u8]) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)))
}

fn ip6(bytes: &[u8]) -> Option<IpAddr> {
    Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)).to_canonical())
}

impl Decoders {
    /// From the formats of [`EVENTS`], in order (`None`: not on this kernel).
    fn new(formats: &[Option<Format>]) -> Result<Decoders, String> {
        let state = formats[0]
            .as_ref()
            .ok_or("this kernel has no sock:inet_sock_set_state tracepoint (before 4.16)")?;
        let err = |e: format::FormatError| format!("sock/inet_sock_set_state format: {e}");
        let common_type = state.field("common_type", &[2]).map_err(err)?;
        let mut by_id = HashMap::new();
        by_id.insert(
            state.id,
            Decoder::State(StateFields {
                oldstate: state.field("oldstate", &[4]).map_err(err)?,
                newstate: state.field("newstate", &[4]).map_err(err)?,
                sport: state.field("sport", &[2]).map_err(err)?,
                dport: state.field("dport", &[2]).map_err(err)?,
                family: state.field("family", &[2]).map_err(err)?,
                protocol: state.field("protocol", &[2]).ok(),
                saddr: state.field("saddr", &[4]).map_err(err)?,
                daddr: state.field("daddr", &[4]).map_err(err)?,
                saddr_v6: state.field("saddr_v6", &[16]).map_err(err)?,
                daddr_v6: state.field("daddr_v6", &[16]).map_err(err)?,
            }),
        );
        for (format, syscall) in [
            (&formats[1], Syscall::Connect),
            (&formats[2], Syscall::Bind),
        ] {
            if let Some(f) = format
                && let Ok(ret) = f.field("ret", &[4, 8])
            {
                by_id.insert(f.id, Decoder::Exit(syscall, ret));
            }
        }
        if let Some(f) = &formats[3]
            && let Ok(comm) = f.field("comm", &[16])
        {
            by_id.insert(
                f.id,
                Decoder::ProcessExit {
                    comm,
                    group_dead: f.field("group_dead", &[1]).ok(),
                },
            );
        }
        Ok(Decoders { common_type, by_id })
    }

    /// The event a raw record holds; `None` for a record of no interest or
    /// one too short for its fields.
    pub fn decode(&self, raw: &[u8]) -> Option<Event> {
        let id = read_uint(raw, &self.common_type)?;
        match self.by_id.get(&id)? {
            Decoder::State(f) => {
                if let Some(protocol) = &f.protocol
                    && read_uint(raw, protocol)? != IPPROTO_TCP
                {
                    return None;
                }
                let family = read_uint(raw, &f.family)?;
                let (local, remote) = match family {
                    AF_INET => (
                        ip4(read_bytes(raw, &f.saddr)?)?,
                        ip4(read_bytes(raw, &f.daddr)?)?,
                    ),
                    AF_INET6 => (
                        ip6(read_bytes(raw, &f.saddr_v6)?)?,
                        ip6(read_bytes(raw, &f.daddr_v6)?)?,
                    ),
                    _ => return None,
                };
                Some(Event::StateChange {
                    old: read_int(raw, &f.oldstate)?,
                    new: read_int(raw, &f.newstate)?,
                    sport: read_uint(raw, &f.sport)? as u16,
                    dest: DestTuple {
                        local,
                        remote,
                        remote_port: read_uint(raw, &f.dport)? as u16,
                    },
                })
            }
            Decoder::Exit(syscall, ret) => Some(Event::SyscallExit {
                syscall: *syscall,
                ret: read_int(raw, ret)?,
            }),
            Decoder::ProcessExit { comm, group_dead } => {
                let bytes = read_bytes(raw, comm)?;
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Some(Event::Exit {
                    comm: String::from_utf8_lossy(&bytes[..end]).into_owned(),
                    group_dead: match group_dead {
                        Some(f) => read_uint(raw, f)? != 0,
                        None => true,
                    },
                })
            }
        }
    }
}

/// What /proc says about a live process, read when it is first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// When it started, CLOCK_BOOTTIME nanoseconds (stat field 22).
    pub start_ns: u64,
    pub command: Option<String>,
    pub cgroup: Option<String>,
    pub netns: Option<u64>,
}

/// The start time (field 22, clock ticks) from /proc/PID/stat text. The
/// command (field 2) may contain spaces and parentheses, so fields are
/// counted after its last ')'.
pub fn parse_stat_start(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `net:[4026531840]` → 4026531840.
pub fn parse_ns_link(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

fn read_proc(pid: u32) -> Option<ProcInfo> {
    let dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let stat = crate::facts::read_optional(&dir.join("stat")).ok()??;
    let ticks = clock_ticks();
    let start_ns = parse_stat_start(&stat)?.saturating_mul(1_000_000_000 / ticks);
    let command = crate::facts::read_optional(&dir.join("comm"))
        .ok()
        .flatten()
        .map(|c| c.trim_end_matches('\n').to_string());
    let cgroup = crate::facts::read_optional(&dir.join("cgroup"))
        .ok()
        .flatten()
        .and_then(|text| {
            // v2's `0::path`, or the first v1 hierarchy's path.
            let line = text
                .lines()
                .find(|l| l.starts_with("0::"))
                .or(text.lines().next())?;
            Some(line.splitn(3, ':').nth(2)?.to_string())
        });
    let netns = std::fs::read_link(dir.join("ns/net"))
        .ok()
        .and_then(|l| l.to_str().and_then(parse_ns_link));
    Some(ProcInfo {
        start_ns,
        command,
        cgroup,
        netns,
    })
}

/// A thread's network namespace inode: (pid, tid) → inode, when readable.
pub type NetnsLookup = fn(u32, u32) -> Option<u64>;

/// Folds events into per-process counts. Pure but for `lookup` and
/// `netns_of`, so it is tested with made-up processes.
pub struct Accumulator<L: FnMut(u32) -> Option<ProcInfo>> {
    lookup: L,
    netns_of: NetnsLookup,
    /// The namespace being checked; `None`: count every event.
    own_netns: Option<u64>,
    /// tid → its namespace at first sight.
    threads: HashMap<u32, Option<u64>>,
    pub trace: Trace,
    /// pid → index in `trace.processes` of the process that has it now.
    current: HashMap<u32, usize>,
    /// tid → the destination of its connect() that just found no port.
    failed_connect: HashMap<u32, DestTuple>,
    /// One clock tick in ns: /proc start times are that coarse.
    tick_ns: u64,
}

impl<L: FnMut(u32) -> Option<ProcInfo>> Accumulator<L> {
    pub fn new(lookup: L, tick_ns: u64) -> Self {
        Accumulator {
            lookup,
            netns_of: |_, _| None,
            own_netns: None,
            threads: HashMap::new(),
            trace: Trace::default(),
            current: HashMap::new(),
            failed_connect: HashMap::new(),
            tick_ns,
        }
    }

    fn process(&mut self, pid: u32, time_ns: u64) -> usize {
        if let Some(&index) = self.current.get(&pid) {
            return index;
        }
        // A process whose start is after the event is a later one that
        // reuses the pid: the event's process already exited, and its own
        // exit record will name it.
        let info =
            (self.lookup)(pid).filter(|info| info.start_ns <= time_ns.saturating_add(self.tick_ns));
        let info = info.unwrap_or_default();
        self.trace.processes.push(TracedProcess {
            pid,
            command: info.command,
            cgroup: info.cgroup,
            netns: info.netns,
            exited: false,
        });
        let index = self.trace.processes.len() - 1;
        self.current.insert(pid, index);
        index
    }

    /// Counts only events of threads in the namespace being checked (or
    /// whose namespace is unknown).
    pub fn with_namespace(mut self, own: Option<u64>, netns_of: NetnsLookup) -> Self {
        self.own_netns = own;
        self.netns_of = netns_of;
        self.trace.own_netns = own;
        self
    }

    fn in_this_namespace(&mut self, pid: u32, tid: u32) -> bool {
        let Some(own) = self.own_netns else {
            return true;
        };
        let lookup = self.netns_of;
        let netns = *self.threads.entry(tid).or_insert_with(|| lookup(pid, tid));
        netns.is_none_or(|n| n == own)
    }

    fn counts(&mut self, pid: u32, time_ns: u64, dest: DestTuple) -> &mut Counts {
        let p = self.process(pid, time_ns);
        self.trace.per_destination.entry((p, dest)).or_default()
    }

    pub fn event(&mut self, pid: u32, tid: u32, time_ns: u64, event: Event) {
        if !matches!(event, Event::Exit { .. }) && !self.in_this_namespace(pid, tid) {
            return;
        }
        match event {
            Event::StateChange {
                old,
                new,
                sport,
                dest,
            } => {
                match (old, new) {
                    (TCP_CLOSE, TCP_SYN_SENT) => self.counts(pid, time_ns, dest).connects += 1,
                    (TCP_ESTABLISHED, TCP_FIN_WAIT1) => {
                        self.counts(pid, time_ns, dest).active_closes += 1
                    }
                    (TCP_SYN_SENT, TCP_CLOSE) if sport == 0 => {
                        // The connect() that went SYN_SENT found no port: it
                        // is a failure, not a connection.
                        let c = self.counts(pid, time_ns, dest);
                        c.connects = c.connects.saturating_sub(1);
                        self.failed_connect.insert(tid, dest);
                    }
                    _ => {}
                }
            }
            Event::SyscallExit { syscall, ret } => {
                let errno = -ret;
                let destination = match syscall {
                    Syscall::Connect => self.failed_connect.remove(&tid),
                    Syscall::Bind => None,
                };
                if errno != EADDRNOTAVAIL && errno != EADDRINUSE {
                    return;
                }
                let process = self.process(pid, time_ns);
                *self
                    .trace
                    .failures
                    .entry(FailureKey {
                        process,
                        syscall,
                        errno,
                        destination,
                    })
                    .or_default() += 1;
            }
            Event::Exit { comm, group_dead } => {
                // A tid is not reused while its thread lives.
                self.threads.remove(&tid);
                if !group_dead {
                    return;
                }
                if let Some(index) = self.current.remove(&pid) {
                    let p = &mut self.trace.processes[index];
                    p.exited = true;
                    if p.command.is_none() {
                        p.command = Some(comm);
                    }
                }
            }
        }
    }
}

/// A running trace: perf fds enabled on every online CPU.
pub struct Tracer {
    rings: Vec<perf::Ring>,
    fds: Vec<OwnedFd>,
    decoders: Decoders,
    acc: Accumulator<fn(u32) -> Option<ProcInfo>>,
    started: Instant,
    events: u64,
    lost: u64,
    tracepoints: Vec<String>,
    boot_offset: u64,
}

/// In-kernel filters: only the transitions and return values counted are
/// copied out. Fields are named as the format file names them.
fn filter_for(index: usize, format: &Format) -> Option<String> {
    match index {
        0 => {
            let states = "(oldstate == 7 && newstate == 2) || (oldstate == 1 && newstate == 4) || (oldstate == 2 && newstate == 7 && sport == 0)";
            Some(if format.fields.contains_key("protocol") {
                format!("protocol == 6 && ({states})")
            } else {
                states.to_string()
            })
        }
        1 | 2 => Some(format!("ret == -{EADDRNOTAVAIL} || ret == -{EADDRINUSE}")),
        3 if format.fields.contains_key("group_dead") => Some("group_dead == 1".into()),
        _ => None,
    }
}

/// CLOCK_BOOTTIME - CLOCK_MONOTONIC now: the time the host spent
/// suspended, which turns a sample's time into /proc's start-time clock.
fn boot_offset_ns() -> u64 {
    let now = |clock| {
        let mut ts = nix::libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec to write into.
        unsafe { nix::libc::clock_gettime(clock, &mut ts) };
        (ts.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec as u64)
    };
    now(nix::libc::CLOCK_BOOTTIME).saturating_sub(now(nix::libc::CLOCK_MONOTONIC))
}

fn own_netns() -> Option<u64> {
    std::fs::read_link("/proc/thread-self/ns/net")
        .ok()
        .and_then(|l| l.to_str().and_then(parse_ns_link))
}

fn thread_netns(pid: u32, tid: u32) -> Option<u64> {
    std::fs::read_link(format!("/proc/{pid}/task/{tid}/ns/net"))
        .ok()
        .and_then(|l| l.to_str().and_then(parse_ns_link))
}

impl Tracer {
    /// Opens and enables the tracepoints; Err says why tracing is
    /// unavailable (no privilege, locked down, no tracefs, old kernel).
    pub fn start() -> Result<Tracer, String> {
        let formats = tracefs::formats(&EVENTS)?;
        let decoders = Decoders::new(&formats)?;
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .map_err(|e| format!("/sys/devices/system/cpu/online: {e}"))?;
        let cpus = perf::parse_cpu_list(&online)
            .ok_or_else(|| format!("/sys/devices/system/cpu/online: {online:?}"))?;
        let mut rings = Vec::new();
        let mut fds = Vec::new();
        let mut tracepoints = Vec::new();
        for (index, format) in formats.iter().enumerate() {
            if format.is_some() {
                tracepoints.push(EVENTS[index].replace('/', ":"));
            }
        }
        for &cpu in &cpus {
            let mut ring: Option<perf::Ring> = None;
            for (index, format) in formats.iter().enumerate() {
                let Some(format) = format else { continue };
                let fd = perf::open_tracepoint(format.id, cpu)
                    .map_err(|e| format!("perf_event_open({}, cpu {cpu}): {e}", EVENTS[index]))?;
                if let Some(filter) = filter_for(index, format) {
                    // Without the filter every transition is copied out and
                    // dropped here: slower, still right.
                    let _ = perf::set_filter(&fd, &filter);
                }
                match &ring {
                    None => {
                        ring = Some(
                            perf::Ring::map(fd, ring_pages(cpus.len()))
                                .map_err(|e| format!("mmap of the perf ring, cpu {cpu}: {e}"))?,
                        );
                    }
                    Some(r) => {
                        perf::set_output(&fd, r)
                            .map_err(|e| format!("PERF_EVENT_IOC_SET_OUTPUT, cpu {cpu}: {e}"))?;
                        fds.push(fd);
                    }
                }
            }
            rings.extend(ring);
        }
        for fd in rings.iter().map(perf::Ring::fd).chain(fds.iter()) {
            perf::enable(fd).map_err(|e| format!("PERF_EVENT_IOC_ENABLE: {e}"))?;
        }
        let tick_ns = 1_000_000_000 / clock_ticks();
        let boot_offset = boot_offset_ns();
        let acc = Accumulator::new(read_proc as fn(u32) -> Option<ProcInfo>, tick_ns)
            .with_namespace(own_netns(), thread_netns);
        Ok(Tracer {
            rings,
            fds,
            decoders,
            acc,
            started: Instant::now(),
            events: 0,
            lost: 0,
            tracepoints,
            boot_offset,
        })
    }

    /// Reads every ring; records of all CPUs are handled in time order so a
    /// process's exit comes after its connects.
    pub fn poll(&mut self) {
        let mut batch = Vec::new();
        let mut lost = 0;
        for ring in &mut self.rings {
            ring.drain(|record| match record {
                perf::Record::Sample {
                    pid,
                    tid,
                    time_ns,
                    raw,
                } => batch.push((time_ns, pid, tid, raw)),
                perf::Record::Lost(n) => lost += n,
            });
        }
        self.lost += lost;
        self.events += batch.len() as u64;
        batch.sort_by_key(|(time, ..)| *time);
        for (time, pid, tid, raw) in batch {
            if let Some(event) = self.decoders.decode(&raw) {
                let boottime = time.saturating_add(self.boot_offset);
                self.acc.event(pid, tid, boottime, event);
            }
        }
    }

    /// Stops tracing and returns what it saw.
    pub fn finish(mut self) -> Trace {
        for fd in self.rings.iter().map(perf::Ring::fd).chain(self.fds.iter()) {
            let _ = perf::disable(fd);
        }
        self.poll();
        let mut trace = self.acc.trace;
        trace.facts = TracingFacts {
            status: "traced".into(),
            reason: None,
            tracepoints: self.tracepoints,
            events: self.events,
            lost_events: self.lost,
            duration_seconds: crate::facts::rates::round_rate(self.started.elapsed().as_secs_f64()),
            namespace_filter: NAMESPACE_FILTER.into(),
        };
        trace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(port: u16) -> DestTuple {
        DestTuple {
            local: "10.0.0.1".parse().unwrap(),
            remote: "10.0.0.2".parse().unwrap(),
            remote_port: port,
        }
    }

    fn state(old: i64, new: i64, sport: u16, port: u16) -> Event {
        Event::StateChange {
            old,
            new,
            sport,
            dest: dest(port),
        }
    }

    fn info(start_ns: u64, comm: &str) -> ProcInfo {
        ProcInfo {
            start_ns,
            command: Some(comm.into()),
            cgroup: Some("/system.slice/x.service".into()),
            netns: Some(7),
        }
    }

    #[test]
    fn counts_connects_closes_and_failures_per_process() {
        let mut acc = Accumulator::new(
            |pid| match pid {
                10 => Some(info(0, "churner")),
                // Started after the events: a later process with the pid.
                20 => Some(info(5_000_000_000, "newcomer")),
                _ => None,
            },
            10_000_000,
        );
        for t in 0..3 {
            acc.event(10, 10, t, state(7, 2, 0, 80));
            acc.event(10, 11, t, state(1, 4, 40000, 80));
        }
        // Transitions not counted.
        acc.event(10, 10, 4, state(2, 1, 40001, 80));
        acc.event(10, 10, 4, state(2, 7, 40001, 80));
        // A connect that found no port: SYN_SENT→CLOSE with no source port,
        // then the failing exit in the same thread.
        acc.event(10, 12, 5, state(7, 2, 0, 80));
        acc.event(10, 12, 5, state(2, 7, 0, 80));
        acc.event(
            10,
            12,
            6,
            Event::SyscallExit {
                syscall: Syscall::Connect,
                ret: -99,
            },
        );
        // Other errors are not counted; a bind failure has no destination.
        acc.event(
            10,
            12,
            7,
            Event::SyscallExit {
                syscall: Syscall::Connect,
                ret: -111,
            },
        );
        acc.event(
            10,
            12,
            8,
            Event::SyscallExit {
                syscall: Syscall::Bind,
                ret: -98,
            },
        );
        // pid 20: the live process is newer than the event; its exit
        // record names the one that made it.
        acc.event(20, 20, 9, state(1, 4, 40002, 443));
        acc.event(
            20,
            20,
            10,
            Event::Exit {
                comm: "short-lived".into(),
                group_dead: true,
            },
        );
        // A thread's exit does not end the process.
        acc.event(
            10,
            11,
            11,
            Event::Exit {
                comm: "worker".into(),
                group_dead: false,
            },
        );
        let t = acc.trace;
        assert_eq!(t.processes.len(), 2);
        let churner = &t.processes[0];
        assert_eq!(churner.command.as_deref(), Some("churner"));
        assert!(!churner.exited);
        assert_eq!(churner.netns, Some(7));
        assert_eq!(
            t.per_destination[&(0, dest(80))],
            Counts {
                connects: 3,
                active_closes: 3
            }
        );
        assert_eq!(
            t.failures[&FailureKey {
                process: 0,
                syscall: Syscall::Connect,
                errno: 99,
                destination: Some(dest(80)),
            }],
            1
        );
        assert_eq!(
            t.failures[&FailureKey {
                process: 0,
                syscall: Syscall::Bind,
                errno: 98,
                destination: None,
            }],
            1
        );
        assert_eq!(t.failures.len(), 2);
        let gone = &t.processes[1];
        assert_eq!(gone.command.as_deref(), Some("short-lived"));
        assert!(gone.exited);
        assert_eq!(gone.netns, None);
        assert_eq!(t.per_destination[&(1, dest(443))].active_closes, 1);
    }

    #[test]
    fn only_threads_of_the_checked_namespace_count() {
        // Thread 11 of process 10 moved to namespace 2 (setns); 12 is gone.
        let mut acc =
            Accumulator::new(|_| Some(info(0, "mixed")), 1).with_namespace(Some(1), |_, tid| {
                match tid {
                    10 => Some(1),
                    11 => Some(2),
                    _ => None,
                }
            });
        acc.event(10, 10, 1, state(7, 2, 0, 80));
        acc.event(10, 11, 2, state(7, 2, 0, 80));
        acc.event(10, 11, 3, state(1, 4, 40000, 80));
        acc.event(10, 12, 4, state(1, 4, 40001, 80));
        assert_eq!(
            acc.trace.per_destination[&(0, dest(80))],
            Counts {
                connects: 1,
                active_closes: 1
            }
        );
        assert_eq!(acc.trace.own_netns, Some(1));
    }

    #[test]
    fn rings_shrink_on_hosts_with_many_cpus() {
        assert_eq!(ring_pages(2), 128);
        assert_eq!(ring_pages(32), 128);
        assert_eq!(ring_pages(64), 64);
        assert_eq!(ring_pages(256), 16);
        assert_eq!(ring_pages(4096), 8);
        assert_eq!(ring_pages(0), 128);
    }

    #[test]
    fn a_pid_reused_after_an_exit_is_a_new_process() {
        let mut acc = Accumulator::new(|_| Some(info(0, "first")), 1);
        acc.event(5, 5, 1, state(7, 2, 0, 80));
        acc.event(
            5,
            5,
            2,
            Event::Exit {
                comm: "first".into(),
                group_dead: true,
            },
        );
        acc.event(5, 5, 3, state(7, 2, 0, 80));
        assert_eq!(acc.trace.processes.len(), 2);
        assert!(acc.trace.processes[0].exited);
        assert!(!acc.trace.processes[1].exited);
    }

    #[test]
    fn proc_text() {
        let stat = "4242 (pay ments) api) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat_start(stat), Some(987654));
        assert_eq!(parse_stat_start("4242 (x"), None);
        assert_eq!(parse_stat_start("4242 (x) S 1"), None);
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("mnt:[1]"), None);
    }

    #[test]
    fn decodes_records_by_the_parsed_layout() {
        let state_format = format::parse(
            "ID: 5
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;
",
        )
        .unwrap();
        let decoders = Decoders::new(&[Some(state_format), None, None, None]).unwrap();
        let mut raw = vec![0u8; 72];
        raw[0..2].copy_from_slice(&5u16.to_ne_bytes());
        raw[16..20].copy_from_slice(&7i32.to_ne_bytes());
        raw[20..24].copy_from_slice(&2i32.to_ne_bytes());
        raw[26..28].copy_from_slice(&8080u16.to_ne_bytes());
        raw[28..30].copy_from_slice(&2u16.to_ne_bytes());
        raw[30..32].copy_from_slice(&6u16.to_ne_bytes());
        raw[32..36].copy_from_slice(&[10, 0, 0, 1]);
        raw[36..40].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(
            decoders.decode(&raw),
            Some(Event::StateChange {
                old: 7,
                new: 2,
                sport: 0,
                dest: DestTuple {
                    local: "10.0.0.1".parse().unwrap(),
                    remote: "10.0.0.2".parse().unwrap(),
                    remote_port: 8080
                }
            })
        );
        // UDP (SCTP, MPTCP) transitions are not TCP's.
        raw[30..32].copy_from_slice(&132u16.to_ne_bytes());
        assert_eq!(decoders.decode(&raw), None);
        // A record cut short, or of an unknown tracepoint, decodes to nothing.
        assert_eq!(decoders.decode(&raw[..30]), None);
        raw[0..2].copy_from_slice(&6u16.to_ne_bytes());
        assert_eq!(decoders.decode(&raw), None);
        assert!(Decoders::new(&[None, None, None, None]).is_err());
    }
}
