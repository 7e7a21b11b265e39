//! `--sample`: the first listing, and telling new connections (and
//! TIME_WAIT taken over) from old ones at the second.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use super::{SockRecord, TcpState, canonical};

/// The first listing of `--sample`: one 64-bit hash per 4-tuple, with what
/// was left of its timer if it was in TIME_WAIT (a marker if not),
/// and when the listing began.
#[derive(Debug, Clone)]
pub struct FirstListing {
    tuples: HashMap<u64, u32, BuildHasherDefault<Keyed>>,
    started: std::time::Instant,
}

/// The map's hasher: its keys are [`tuple_hash`]es, already mixed with a
/// secret of this process, so they are used as they are rather than hashed
/// a second time (at 250,000 sockets, SipHash twice per socket was most of
/// a `top` refresh).
#[derive(Debug, Default, Clone, Copy)]
struct Keyed(u64);

impl Hasher for Keyed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed (`write_u64`); any other input is folded
        // in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Two readings of one TIME_WAIT timer, each rounded to jiffies (10 ms at
/// HZ=100) and converted to milliseconds, can disagree by this much.
const TIMER_SLACK_MS: u32 = 50;

/// The timer value a first listing records for a socket not in TIME_WAIT.
const NOT_TIME_WAIT: u32 = u32::MAX;

impl FirstListing {
    pub(super) fn new() -> Self {
        FirstListing::with_capacity(0)
    }

    /// A listing with room for `sockets` (the previous one's count: a
    /// listing grown from empty rehashes a dozen times at 250,000).
    pub(super) fn with_capacity(sockets: usize) -> Self {
        FirstListing {
            tuples: HashMap::with_capacity_and_hasher(sockets, BuildHasherDefault::default()),
            started: std::time::Instant::now(),
        }
    }

    /// How many sockets it holds.
    pub(super) fn len(&self) -> usize {
        self.tuples.len()
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

/// A 64-bit hash of a socket's 4-tuple (addresses canonical: v4-mapped
/// IPv6 as IPv4), by foldhash's quality hasher with a seed of this process,
/// drawn once: the hashes of one run are only compared with each other,
/// and a peer that chooses its addresses and ports cannot aim them at one
/// bucket of the listing's map without it.
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
