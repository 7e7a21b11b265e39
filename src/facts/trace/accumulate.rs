//! Folding decoded events into per-process counts.

use super::*;

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

    /// Takes the counts so far and starts counting afresh, for a trace
    /// read per interval (`twtune top`). The processes are returned whole;
    /// those that exited are then forgotten, so a long run keeps only the
    /// living ones, re-indexed.
    pub fn drain(&mut self) -> Trace {
        let own_netns = self.trace.own_netns;
        let taken = std::mem::take(&mut self.trace);
        self.trace.own_netns = own_netns;
        let mut remap = HashMap::new();
        for (pid, index) in &self.current {
            let new = self.trace.processes.len();
            self.trace.processes.push(taken.processes[*index].clone());
            remap.insert(*pid, new);
        }
        self.current = remap;
        taken
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
