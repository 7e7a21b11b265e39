//! `--sample`: telling new connections (and TIME_WAIT taken over) in the
//! second listing from old ones of the first ([`FirstListing`]).

use std::net::IpAddr;

use super::listing::NOT_TIME_WAIT;
use super::{FirstListing, SockRecord, TcpState, canonical};

/// Two readings of one TIME_WAIT timer, each rounded to jiffies (10 ms at
/// HZ=100) and converted to milliseconds, can disagree by this much.
const TIMER_SLACK_MS: u32 = 50;

/// The sockets of a first listing, for telling new connections from old.
#[derive(Debug, Clone)]
pub struct Sample {
    pub(super) first: FirstListing,
    /// Time between the two listings.
    pub elapsed: std::time::Duration,
    /// `elapsed` in whole milliseconds.
    elapsed_ms: u32,
}

impl Sample {
    /// The first listing, taken `elapsed` before the second begins.
    pub fn new(first: FirstListing, elapsed: std::time::Duration) -> Sample {
        Sample {
            first,
            elapsed,
            elapsed_ms: u32::try_from(elapsed.as_millis()).unwrap_or(u32::MAX),
        }
    }

    /// The first listing back, done with (`twtune top` records the next
    /// listing in its storage).
    pub(super) fn into_first(self) -> FirstListing {
        self.first
    }

    /// The first listing, leaving an empty one: the time between the
    /// listings stays.
    pub(super) fn take_first(&mut self) -> FirstListing {
        std::mem::take(&mut self.first)
    }

    /// Whether `r`, whose 4-tuple hashes to `hash` ([`tuple_hash`]), is a
    /// connection the first listing did not have, and whether it took over
    /// a TIME_WAIT of the first listing. A 4-tuple in TIME_WAIT at the
    /// first listing whose timer cannot have run out since (measured from
    /// the start of that listing, so the gap is never understated) yet
    /// carries another connection now was taken over by connect():
    /// tcp_twsk_unique() allows that only with the peer's timestamp
    /// recorded. The other connection is either live, or in TIME_WAIT
    /// again with more of its timer left than the old one could still
    /// have: at least `elapsed` passed between the two readings (the wait
    /// lies between them), so the old one has at most its first reading
    /// less that; [`TIMER_SLACK_MS`] absorbs the rounding of the two
    /// readings to jiffies. An RST can also end a TIME_WAIT early
    /// (tcp_timewait_state_process(), unless tcp_rfc1337=1), which this
    /// cannot tell from reuse; for a client's own ephemeral port that takes
    /// a peer sending RSTs to finished connections, which is rare.
    ///
    /// Called in the order the second listing streams (the first listing's
    /// lookup is cheapest so: see listing.rs).
    pub(super) fn judge(&mut self, hash: u64, r: &SockRecord) -> (bool, bool) {
        let Some(old_left) = self.first.find(hash) else {
            return (true, false);
        };
        if old_left == NOT_TIME_WAIT {
            return (false, false);
        }
        let most_left = old_left
            .saturating_sub(self.elapsed_ms)
            .saturating_add(TIMER_SLACK_MS);
        let other =
            r.state != TcpState::TimeWait || r.timer_left_ms.is_some_and(|left| left > most_left);
        if !other {
            // The same TIME_WAIT, older: no clock needed (most sockets of a
            // listing at 250,000 TIME_WAIT; a clock read each was a tenth
            // of a `top` refresh).
            return (false, false);
        }
        // Read now, after the kernel listed `r`: the gap is never understated.
        let since = u64::try_from(self.first.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let reused = u64::from(old_left) > since;
        (reused, reused)
    }
}

/// A 64-bit hash of a socket's 4-tuple (addresses canonical: v4-mapped
/// IPv6 as IPv4), by foldhash's quality hasher with a seed of this process,
/// drawn once: the hashes of one run are only compared with each other,
/// and a peer that chooses its addresses and ports cannot aim them at one
/// group of a listing's index without it.
pub(super) fn tuple_hash(r: &SockRecord) -> u64 {
    use std::hash::BuildHasher as _;
    static STATE: std::sync::OnceLock<foldhash::quality::RandomState> = std::sync::OnceLock::new();
    let bits = |a: IpAddr| match canonical(a) {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    };
    STATE.get_or_init(Default::default).hash_one((
        bits(r.local),
        bits(r.remote),
        r.local_port,
        r.remote_port,
    ))
}
