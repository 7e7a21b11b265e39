//! `--sample`: the first listing, and telling new connections (and
//! TIME_WAIT taken over) from old ones at the second.

use std::collections::HashMap;

use super::{SockRecord, TcpState, canonical};

/// The first listing of `--sample`: one 64-bit hash per 4-tuple, with what
/// was left of its timer if it was in TIME_WAIT (a marker if not),
/// and when the listing began.
#[derive(Debug, Clone)]
pub struct FirstListing {
    tuples: HashMap<u64, u32>,
    started: std::time::Instant,
}

/// Two readings of one TIME_WAIT timer, each rounded to jiffies (10 ms at
/// HZ=100) and converted to milliseconds, can disagree by this much.
const TIMER_SLACK_MS: u32 = 50;

/// The timer value a first listing records for a socket not in TIME_WAIT.
const NOT_TIME_WAIT: u32 = u32::MAX;

impl FirstListing {
    pub(super) fn new() -> Self {
        FirstListing {
            tuples: HashMap::new(),
            started: std::time::Instant::now(),
        }
    }

    pub(super) fn record(&mut self, r: &SockRecord) {
        let left = match r.timer_left_ms {
            Some(left) if r.state == TcpState::TimeWait => left.min(NOT_TIME_WAIT - 1),
            _ => NOT_TIME_WAIT,
        };
        self.tuples.insert(tuple_hash(r), left);
    }
}

/// The sockets of a first listing, for telling new connections from old.
#[derive(Debug, Clone)]
pub struct Sample {
    pub(super) first: FirstListing,
    /// Time between the two listings.
    pub elapsed: std::time::Duration,
}

impl Sample {
    /// Whether `r` is a connection the first listing did not have, and
    /// whether it took over a TIME_WAIT of the first listing. A 4-tuple in
    /// TIME_WAIT at the first listing whose timer cannot have run out since
    /// (measured from the start of that listing, so the gap is never
    /// understated) yet carries another connection now was taken over by
    /// connect(): tcp_twsk_unique() allows that only with the peer's
    /// timestamp recorded. The other connection is either live, or in
    /// TIME_WAIT again with more of its timer left than the old one could
    /// still have: at least `elapsed` passed between the two readings (the
    /// wait lies between them), so the old one has at most its first
    /// reading less that; [`TIMER_SLACK_MS`] absorbs the rounding of the
    /// two readings to jiffies. An
    /// RST can also end a TIME_WAIT early (tcp_timewait_state_process(),
    /// unless tcp_rfc1337=1), which this cannot tell from reuse; for a
    /// client's own ephemeral port that takes a peer sending RSTs to
    /// finished connections, which is rare.
    pub(super) fn judge(&self, r: &SockRecord) -> (bool, bool) {
        let Some(&old_left) = self.first.tuples.get(&tuple_hash(r)) else {
            return (true, false);
        };
        if old_left == NOT_TIME_WAIT {
            return (false, false);
        }
        let since = u64::try_from(self.first.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let alive = u64::from(old_left) > since;
        let elapsed = u32::try_from(self.elapsed.as_millis()).unwrap_or(u32::MAX);
        let most_left = old_left
            .saturating_sub(elapsed)
            .saturating_add(TIMER_SLACK_MS);
        let other =
            r.state != TcpState::TimeWait || r.timer_left_ms.is_some_and(|left| left > most_left);
        let reused = alive && other;
        (reused, reused)
    }
}

pub(super) fn tuple_hash(r: &SockRecord) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        canonical(r.local),
        r.local_port,
        canonical(r.remote),
        r.remote_port,
    )
        .hash(&mut h);
    h.finish()
}
