//! Gathering again and again, for `twtune top`: what changes from one
//! interval to the next is read each time, the rest once.
//!
//! [`Live::start`] gathers everything once, as a check does: the kernel, the
//! runtime settings, the persisted files, the namespace, the NAT facts (with
//! their `nft`/`iptables-save` runs and the conntrack table read). It also
//! starts the trace (as root on the live host), which then runs for as long
//! as the session lives: [`Live::poll`] reads its rings, each
//! [`Live::refresh`] takes what it saw since the previous one.
//!
//! Each refresh re-reads only what moves during an incident: the counters
//! (/proc/net/netstat, snmp, sockstat: the rates), the sockets (one listing,
//! which is also the next refresh's first listing, so each destination gets
//! its own rate of new connections) and the conntrack fill
//! (`net.netfilter.nf_conntrack_count`). The settings are the ones read at
//! the start: a change made while top runs shows in the next `check`.

use std::time::{Duration, Instant};

use super::sockets::{self, FirstListing};
use super::trace::{self, Trace, Tracer, TracingFacts};
use super::{Counters, FactError, Facts, GatherOptions, rates};
use crate::sysctl::SysctlKey;

/// The conntrack fill a refresh re-reads: both are in `Facts::sysctl`.
const CONNTRACK_COUNT: &str = "net.netfilter.nf_conntrack_count";

/// A gathering session: one namespace's readings ([`Watched`]) and the
/// running trace.
pub struct Live {
    watched: Watched,
    tracer: Result<Tracer, String>,
}

/// One namespace's readings, from one refresh to the next: the facts of
/// the start, the previous refresh's counters and listing. Read in the
/// calling thread's network namespace: `top --all-netns` keeps one per
/// namespace and enters each before it refreshes it.
pub struct Watched {
    options: GatherOptions,
    facts: Facts,
    counters: Counters,
    listing: Option<FirstListing>,
    /// The listing before, done with: where the next one is recorded.
    spare: FirstListing,
    last: Instant,
}

impl Live {
    /// Gathers everything once and starts tracing; the facts of the start
    /// (no rates yet) are [`Live::facts`].
    pub fn start(options: GatherOptions) -> Result<Live, FactError> {
        let watched = Watched::start(options)?;
        #[allow(unused_mut)]
        let mut tracer = match watched.options.reads_running_system() {
            true => Tracer::start(),
            false => Err("a --root tree has no running kernel to trace".to_string()),
        };
        #[cfg(feature = "test-hooks")]
        if std::env::var_os("TWTUNE_TEST_NO_TRACE").is_some() {
            tracer = Err("disabled by TWTUNE_TEST_NO_TRACE (test hook)".to_string());
        }
        Ok(Live { watched, tracer })
    }

    /// The facts of the last refresh (of the start, before the first).
    pub fn facts(&self) -> &Facts {
        self.watched.facts()
    }

    /// Whether the kernel's tracepoints are read, or why not.
    pub fn tracing(&self) -> Result<(), &str> {
        self.tracer.as_ref().map(|_| ()).map_err(String::as_str)
    }

    /// Reads the trace's rings: call at least every [`POLL`] between
    /// refreshes, or the kernel drops what does not fit (counted as lost).
    pub fn poll(&mut self) {
        if let Ok(tracer) = &mut self.tracer {
            tracer.poll();
        }
    }

    /// Re-reads what changes and returns the new facts: counter rates and
    /// each destination's new connections since the previous refresh, the
    /// trace of the interval, the conntrack fill.
    pub fn refresh(&mut self) -> Result<&Facts, FactError> {
        let trace = match &mut self.tracer {
            Ok(tracer) => tracer.drain(),
            Err(reason) => Trace {
                facts: TracingFacts::unavailable(reason.clone()),
                ..Default::default()
            },
        };
        self.watched.refresh(trace)
    }
}

impl Watched {
    /// Gathers everything once (tracing nothing): the facts of the start,
    /// no rates yet.
    pub fn start(options: GatherOptions) -> Result<Watched, FactError> {
        let options = GatherOptions {
            sample: None,
            ..options
        };
        let facts = super::gather(&options)?;
        let last = Instant::now();
        let counters = super::gather_counters(options.root())?;
        let listing = sockets::first_sample(&options)?;
        Ok(Watched {
            options,
            facts,
            counters,
            listing,
            spare: FirstListing::default(),
            last,
        })
    }

    /// The facts of the last refresh (of the start, before the first).
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Re-reads what changes, with `trace` the trace of the interval (of
    /// this namespace), and returns the new facts.
    pub fn refresh(&mut self, trace: Trace) -> Result<&Facts, FactError> {
        let root = self.options.root().to_path_buf();
        let elapsed = self.last.elapsed();
        self.last = Instant::now();
        let counters = super::gather_counters(&root)?;
        let previous = self.listing.take().map(|l| (l, elapsed));
        let facts = &mut self.facts;
        if let Ok(key) = SysctlKey::parse_managed(CONNTRACK_COUNT)
            && let Some(value) = super::read_sysctl(&root, &key)?
        {
            facts.sysctl.insert(CONNTRACK_COUNT.to_string(), value);
        }
        let kept = sockets::gather_keeping(
            &self.options,
            facts.kernel.version,
            &facts.sysctl,
            previous,
            Some(std::mem::take(&mut self.spare)),
        )?;
        self.listing = kept.listing;
        self.spare = kept.spent.unwrap_or_default();
        facts.sockets = kept.facts.map(|mut s| {
            sockets::creators::apply_trace(&mut s, &trace);
            sockets::name_top_creators(&mut s);
            s
        });
        facts.rates = Some(rates::compute(&self.counters, &counters, elapsed));
        facts.counters = counters.clone();
        self.counters = counters;
        Ok(&self.facts)
    }
}

/// How often [`Live::poll`] must run.
pub const POLL: Duration = trace::POLL;

/// Sleeps `duration`, polling the session's trace meanwhile.
pub fn wait(live: &mut Live, duration: Duration) {
    let start = Instant::now();
    while let Some(left) = duration
        .checked_sub(start.elapsed())
        .filter(|d| !d.is_zero())
    {
        std::thread::sleep(left.min(POLL));
        live.poll();
    }
}
