//! The two ends of `--sample`, apart, so one window can span many network
//! namespaces: [`begin`] takes a namespace's first readings (counters, the
//! socket listing, and, untraced, who holds which connection), the caller
//! waits once, and [`crate::facts::Prelude::conclude`] takes the second in
//! each. A single check does both around its own wait ([`crate::facts::gather`]);
//! `check --all-netns --sample` begins in every namespace, waits once, and
//! concludes in every namespace, with one trace for the whole window split
//! by the namespace of each event's thread ([`crate::facts::trace::SplitTrace`]).

use std::collections::HashMap;
use std::time::Instant;

use super::counters::Counters;
use super::read::ConfinedReads;
use super::sockets::{self, FirstListing};
use super::trace::{Trace, TracingFacts};
use super::{FactError, GatherOptions};

/// A namespace's first readings of a sample.
#[derive(Debug)]
pub struct SampleStart {
    pub(super) before: Counters,
    pub(super) listing: Option<FirstListing>,
    /// Untraced: 4-tuple hash → the (pid, command) holding it ESTABLISHED.
    pub(super) owners: HashMap<u64, (u32, String)>,
    /// When the first readings ended: each namespace's rates are measured
    /// from its own start to its own second readings.
    pub(super) started: Instant,
}

/// Takes the first readings in the calling thread's network namespace.
/// `traced`: the window is traced, so who held which connection at the
/// start need not be looked up.
pub fn begin(options: &GatherOptions, traced: bool) -> Result<SampleStart, FactError> {
    let _confined = ConfinedReads::to(options.config_root());
    let before = super::gather_counters(options.root())?;
    let listing = sockets::first_sample(options)?;
    // Untraced, who held which connection at the start is what the second
    // listing's TIME_WAIT can be traced back to.
    let owners = match traced {
        true => HashMap::new(),
        false => sockets::creators::established_owners(options),
    };
    Ok(SampleStart {
        before,
        listing,
        owners,
        started: Instant::now(),
    })
}

/// The tracer for a window: started with `start` on a live host, else why
/// not (and, built with test hooks, not when `TWTUNE_TEST_NO_TRACE` is set).
pub fn tracer<T>(
    options: &GatherOptions,
    start: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    #[cfg(feature = "test-hooks")]
    if std::env::var_os("TWTUNE_TEST_NO_TRACE").is_some() {
        return Err("disabled by TWTUNE_TEST_NO_TRACE (test hook)".to_string());
    }
    match options.reads_running_system() {
        true => start(),
        false => Err("a --root tree has no running kernel to trace".to_string()),
    }
}

/// The trace of a window that could not be traced, and why.
pub fn untraced(reason: String) -> Trace {
    Trace {
        facts: TracingFacts::unavailable(reason),
        ..Default::default()
    }
}

/// Tests start their load once the sample has begun (test hooks only:
/// `TWTUNE_TEST_SAMPLE_STARTED` names a file written then).
pub fn announce_started() {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = std::env::var_os("TWTUNE_TEST_SAMPLE_STARTED") {
        let _ = std::fs::write(path, "sampling\n");
    }
}

/// Tests change the namespaces between the two readings (test hooks only):
/// while the file `TWTUNE_TEST_SAMPLE_HOLD` names exists, the end of the
/// window waits (a minute at most).
pub fn hold_at_end() {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = std::env::var_os("TWTUNE_TEST_SAMPLE_HOLD") {
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while std::path::Path::new(&path).exists() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
