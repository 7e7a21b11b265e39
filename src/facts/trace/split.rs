//! One trace for many network namespaces (`check --all-netns --sample`):
//! each event is counted for the namespace of the thread that made it, read
//! at first sight as a single-namespace trace reads it
//! ([`Accumulator::with_namespace`]), so one window serves every namespace.

use super::*;

type Lookup = fn(u32) -> Option<ProcInfo>;

/// Folds events into one [`Accumulator`] per network namespace, plus one
/// for threads whose namespace could not be read (they exited unseen).
pub struct SplitAccumulator {
    lookup: Lookup,
    netns_of: NetnsLookup,
    tick_ns: u64,
    /// tid → its namespace at first sight.
    threads: HashMap<u32, Option<u64>>,
    by_netns: HashMap<u64, Accumulator<Lookup>>,
    unknown: Accumulator<Lookup>,
}

impl SplitAccumulator {
    pub fn new(lookup: Lookup, tick_ns: u64, netns_of: NetnsLookup) -> Self {
        SplitAccumulator {
            lookup,
            netns_of,
            tick_ns,
            threads: HashMap::new(),
            by_netns: HashMap::new(),
            unknown: Accumulator::new(lookup, tick_ns),
        }
    }

    pub fn event(&mut self, pid: u32, tid: u32, time_ns: u64, event: Event) {
        if let Event::Exit { .. } = event {
            // A process's exit names it in every namespace it counted in.
            self.threads.remove(&tid);
            for acc in self.by_netns.values_mut() {
                acc.event(pid, tid, time_ns, event.clone());
            }
            self.unknown.event(pid, tid, time_ns, event);
            return;
        }
        let netns_of = self.netns_of;
        let netns = *self
            .threads
            .entry(tid)
            .or_insert_with(|| netns_of(pid, tid));
        let acc = match netns {
            Some(inode) => {
                let (lookup, tick_ns) = (self.lookup, self.tick_ns);
                self.by_netns
                    .entry(inode)
                    .or_insert_with(|| Accumulator::new(lookup, tick_ns))
            }
            None => &mut self.unknown,
        };
        acc.event(pid, tid, time_ns, event);
    }

    /// Every namespace's trace so far, each with `facts`, while counting
    /// goes on afresh (`top --all-netns`, one per refresh). A namespace
    /// whose processes all exited is forgotten.
    pub fn drain(&mut self, facts: TracingFacts) -> SplitTrace {
        let by_netns = self
            .by_netns
            .iter_mut()
            .map(|(inode, acc)| (*inode, acc.drain()))
            .collect();
        self.by_netns
            .retain(|_, acc| !acc.trace.processes.is_empty());
        SplitTrace {
            by_netns,
            unknown: self.unknown.drain(),
            facts,
        }
    }

    /// Every namespace's trace, each with `facts`.
    pub fn finish(self, facts: TracingFacts) -> SplitTrace {
        SplitTrace {
            by_netns: self
                .by_netns
                .into_iter()
                .map(|(inode, acc)| (inode, acc.trace))
                .collect(),
            unknown: self.unknown.trace,
            facts,
        }
    }
}

/// A window's trace, by network namespace.
#[derive(Debug, Clone, Default)]
pub struct SplitTrace {
    pub facts: TracingFacts,
    by_netns: HashMap<u64, Trace>,
    unknown: Trace,
}

impl SplitTrace {
    /// A trace that could not run, for every namespace.
    pub fn unavailable(reason: String) -> Self {
        SplitTrace {
            facts: TracingFacts::unavailable(reason),
            ..Default::default()
        }
    }

    /// What a trace of namespace `inode` alone would have counted: its
    /// threads' events and those of threads whose namespace is unknown
    /// (which count only where their 4-tuple matches a destination of the
    /// namespace's listing, see [`crate::facts::sockets::creators`]).
    pub fn for_namespace(&self, inode: u64) -> Trace {
        let mut trace = self.by_netns.get(&inode).cloned().unwrap_or_default();
        trace.facts = self.facts.clone();
        trace.own_netns = Some(inode);
        if !self.facts.is_traced() {
            return trace;
        }
        merge(&mut trace, &self.unknown);
        trace
    }
}

/// Adds `other`'s counts to `into`, a process of both (same pid and
/// command) counted once.
fn merge(into: &mut Trace, other: &Trace) {
    let mut known: HashMap<(u32, Option<String>), usize> = into
        .processes
        .iter()
        .enumerate()
        .map(|(at, q)| ((q.pid, q.command.clone()), at))
        .collect();
    let index: Vec<usize> = other
        .processes
        .iter()
        .map(|p| {
            let at = *known.entry((p.pid, p.command.clone())).or_insert_with(|| {
                into.processes.push(TracedProcess {
                    exited: false,
                    ..p.clone()
                });
                into.processes.len() - 1
            });
            into.processes[at].exited |= p.exited;
            at
        })
        .collect();
    for (&(process, dest), counts) in &other.per_destination {
        let c = into
            .per_destination
            .entry((index[process], dest))
            .or_default();
        c.connects += counts.connects;
        c.active_closes += counts.active_closes;
    }
    for (key, &count) in &other.failures {
        *into
            .failures
            .entry(FailureKey {
                process: index[key.process],
                ..*key
            })
            .or_default() += count;
    }
}
