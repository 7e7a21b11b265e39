//! The running trace: perf fds on every online CPU, read until the sample ends.

use super::procs::{clock_ticks, read_proc};
use super::*;

/// Where decoded events go: one namespace's [`Accumulator`], or a
/// [`SplitAccumulator`] for every namespace.
pub trait Sink {
    fn event(&mut self, pid: u32, tid: u32, time_ns: u64, event: Event);
}

impl<L: FnMut(u32) -> Option<ProcInfo>> Sink for Accumulator<L> {
    fn event(&mut self, pid: u32, tid: u32, time_ns: u64, event: Event) {
        Accumulator::event(self, pid, tid, time_ns, event);
    }
}

impl Sink for SplitAccumulator {
    fn event(&mut self, pid: u32, tid: u32, time_ns: u64, event: Event) {
        SplitAccumulator::event(self, pid, tid, time_ns, event);
    }
}

/// A running trace: perf fds enabled on every online CPU.
pub struct Tracer<S: Sink = Accumulator<fn(u32) -> Option<ProcInfo>>> {
    rings: Vec<perf::Ring>,
    fds: Vec<OwnedFd>,
    decoders: Decoders,
    acc: S,
    started: Instant,
    events: u64,
    lost: u64,
    tracepoints: Vec<String>,
    boot_offset: u64,
}

/// In-kernel filters: only the transitions and return values counted are
/// copied out. Fields are named as the format file names them.
pub(super) fn filter_for(index: usize, format: &Format) -> Option<String> {
    match index {
        0 => {
            let states = format!(
                "(oldstate == {TCP_CLOSE} && newstate == {TCP_SYN_SENT}) || (oldstate == {TCP_ESTABLISHED} && newstate == {TCP_FIN_WAIT1}) || (oldstate == {TCP_SYN_SENT} && newstate == {TCP_CLOSE} && sport == 0)"
            );
            Some(if format.fields.contains_key("protocol") {
                format!("protocol == 6 && ({states})")
            } else {
                states
            })
        }
        1 | 2 => Some(format!("ret == -{EADDRNOTAVAIL} || ret == -{EADDRINUSE}")),
        3 if format.fields.contains_key("group_dead") => Some("group_dead == 1".into()),
        _ => None,
    }
}

/// CLOCK_BOOTTIME - CLOCK_MONOTONIC now: the time the host spent
/// suspended, which turns a sample's time into /proc's start-time clock.
pub(super) fn boot_offset_ns() -> u64 {
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

pub(super) fn own_netns() -> Option<u64> {
    std::fs::read_link("/proc/thread-self/ns/net")
        .ok()
        .and_then(|l| l.to_str().and_then(parse_ns_link))
}

pub(super) fn thread_netns(pid: u32, tid: u32) -> Option<u64> {
    std::fs::read_link(format!("/proc/{pid}/task/{tid}/ns/net"))
        .ok()
        .and_then(|l| l.to_str().and_then(parse_ns_link))
}

impl Tracer {
    /// Opens and enables the tracepoints, counting the events of threads in
    /// the calling thread's network namespace; Err says why tracing is
    /// unavailable (no privilege, locked down, no tracefs, old kernel).
    pub fn start() -> Result<Tracer, String> {
        Tracer::open(|tick_ns| {
            Accumulator::new(read_proc as fn(u32) -> Option<ProcInfo>, tick_ns)
                .with_namespace(own_netns(), thread_netns)
        })
    }

    /// What tracing saw since it started or since the last drain, while it
    /// goes on: `twtune top` reads one of these per interval and never
    /// restarts the trace.
    pub fn drain(&mut self) -> Trace {
        self.poll();
        let mut trace = self.acc.drain();
        trace.facts = self.facts_since_drain();
        trace
    }

    /// Stops tracing and returns what it saw.
    pub fn finish(mut self) -> Trace {
        let facts = self.stop();
        let mut trace = self.acc.trace;
        trace.facts = facts;
        trace
    }
}

impl Tracer<SplitAccumulator> {
    /// Opens and enables the tracepoints, counting every event for the
    /// network namespace of the thread that made it.
    pub fn start_split() -> Result<Tracer<SplitAccumulator>, String> {
        Tracer::open(|tick_ns| SplitAccumulator::new(read_proc, tick_ns, thread_netns))
    }

    /// What tracing saw since it started or since the last drain, by
    /// namespace, while it goes on: `twtune top --all-netns` reads one of
    /// these per refresh and never restarts the trace.
    pub fn drain(&mut self) -> SplitTrace {
        self.poll();
        let facts = self.facts_since_drain();
        self.acc.drain(facts)
    }

    /// Stops tracing and returns what it saw, by namespace.
    pub fn finish(mut self) -> SplitTrace {
        let facts = self.stop();
        self.acc.finish(facts)
    }
}

impl<S: Sink> Tracer<S> {
    fn open(sink: impl FnOnce(u64) -> S) -> Result<Tracer<S>, String> {
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
        let acc = sink(tick_ns);
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

    /// What tracing did since it started or since the last drain; the
    /// counts start again from here.
    fn facts_since_drain(&mut self) -> TracingFacts {
        let facts = TracingFacts {
            status: "traced".into(),
            reason: None,
            tracepoints: self.tracepoints.clone(),
            events: std::mem::take(&mut self.events),
            lost_events: std::mem::take(&mut self.lost),
            duration_seconds: crate::facts::rates::round_rate(self.started.elapsed().as_secs_f64()),
            namespace_filter: NAMESPACE_FILTER.into(),
        };
        self.started = Instant::now();
        facts
    }

    /// Disables the tracepoints, reads what is left and says what tracing did.
    fn stop(&mut self) -> TracingFacts {
        for fd in self.rings.iter().map(perf::Ring::fd).chain(self.fds.iter()) {
            let _ = perf::disable(fd);
        }
        self.poll();
        TracingFacts {
            status: "traced".into(),
            reason: None,
            tracepoints: std::mem::take(&mut self.tracepoints),
            events: self.events,
            lost_events: self.lost,
            duration_seconds: crate::facts::rates::round_rate(self.started.elapsed().as_secs_f64()),
            namespace_filter: NAMESPACE_FILTER.into(),
        }
    }
}
