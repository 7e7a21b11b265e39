//! `--sample`: telling new connections (and TIME_WAIT taken over) in the
//! second listing from old ones of the first ([`FirstListing`]).

use std::net::IpAddr;

use super::listing::{NO_DESTINATION, NOT_TIME_WAIT};
use super::{FirstListing, SockRecord, TcpState, canonical};

/// Two readings of one TIME_WAIT timer, each rounded to jiffies (10 ms at
/// HZ=100) and converted to milliseconds, can disagree by this much.
const TIMER_SLACK_MS: u32 = 50;

/// The sockets of a first listing, for telling new connections from old.
#[derive(Debug, Clone)]
pub struct Sample {
    pub(super) first: FirstListing,
    /// Time between the two listings (the rates' denominator).
    pub elapsed: std::time::Duration,
    /// The least time, in whole milliseconds, between the two readings of
    /// any one socket.
    gap_ms: u32,
}

impl Sample {
    /// The first listing, taken `elapsed` before the second, which begins
    /// now. Every socket of the first listing was read by its end and is
    /// read again after now, so the time since that end is the least gap
    /// between a socket's two readings. `elapsed` is not: `twtune top`
    /// measures it from one refresh's start to the next, and a socket the
    /// first walk reached late (the walk slowed, or top was preempted) and
    /// the second early has had less than `elapsed` between its readings.
    /// A listing that never ended (one built by a test) counts `elapsed`.
    pub fn new(first: FirstListing, elapsed: std::time::Duration) -> Sample {
        let gap = first.ended.map_or(elapsed, |end| end.elapsed());
        Sample {
            first,
            elapsed,
            gap_ms: u32::try_from(gap.as_millis()).unwrap_or(u32::MAX),
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
    /// have: at least the gap of [`Sample::new`] passed between the two
    /// readings, so the old one has at most its first reading less that;
    /// [`TIMER_SLACK_MS`] absorbs the rounding of the two readings to
    /// jiffies. An RST can also end a TIME_WAIT early
    /// (tcp_timewait_state_process(), unless tcp_rfc1337=1), which this
    /// cannot tell from reuse; for a client's own ephemeral port that takes
    /// a peer sending RSTs to finished connections, which is rare.
    ///
    /// Called in the order the second listing streams (the first listing's
    /// lookup is cheapest so: see listing.rs).
    pub(super) fn judge(&mut self, hash: u64, r: &SockRecord) -> Judged {
        let Some(seen) = self.first.find(hash) else {
            return Judged {
                new: true,
                reused: false,
                counted_toward: NO_DESTINATION,
            };
        };
        let (new, reused) = self.judge_seen(seen.left, r);
        Judged {
            new,
            reused,
            counted_toward: seen.destination,
        }
    }

    /// [`Sample::judge`] of a socket the first listing has, with `old_left`
    /// of its timer then.
    fn judge_seen(&self, old_left: u32, r: &SockRecord) -> (bool, bool) {
        if old_left == NOT_TIME_WAIT {
            return (false, false);
        }
        let most_left = old_left
            .saturating_sub(self.gap_ms)
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

/// What [`Sample::judge`] tells of a socket of the second listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Judged {
    /// A connection the first listing did not have.
    pub new: bool,
    /// One that took over a TIME_WAIT of the first listing.
    pub reused: bool,
    /// Where the aggregation of the first listing counted the socket's
    /// destination ([`FirstListing::counted_toward`]), or
    /// [`NO_DESTINATION`].
    pub counted_toward: u32,
}

/// A 64-bit hash of a socket's 4-tuple (addresses canonical: v4-mapped
/// IPv6 as IPv4), by foldhash's quality hasher with a seed of this process,
/// drawn once: the hashes of one run are only compared with each other,
/// and a peer that chooses its addresses and ports cannot aim them at one
/// group of a listing's index without it. An IPv4 4-tuple is hashed as
/// two words (both addresses in one, both ports in the other), anything
/// else as both 128-bit addresses and the ports: once per socket per
/// listing in `twtune top`, the widening to IPv6 was most of its cost.
pub(super) fn tuple_hash(r: &SockRecord) -> u64 {
    use std::hash::BuildHasher as _;
    static STATE: std::sync::OnceLock<foldhash::quality::RandomState> = std::sync::OnceLock::new();
    let state = STATE.get_or_init(Default::default);
    let ports = (u32::from(r.local_port) << 16) | u32::from(r.remote_port);
    match (canonical(r.local), canonical(r.remote)) {
        (IpAddr::V4(local), IpAddr::V4(remote)) => state.hash_one((
            (u64::from(local.to_bits()) << 32) | u64::from(remote.to_bits()),
            ports,
        )),
        (local, remote) => {
            let bits = |a: IpAddr| match a {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
                IpAddr::V6(v6) => v6.to_bits(),
            };
            state.hash_one((bits(local), bits(remote), ports))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// (new, reused) of `r`.
    fn judged(sample: &mut Sample, r: &SockRecord) -> (bool, bool) {
        let j = sample.judge(tuple_hash(r), r);
        (j.new, j.reused)
    }

    fn time_wait(left: u32) -> SockRecord {
        let mut r =
            super::super::tests::rec(TcpState::TimeWait, "10.0.0.1", 40000, "10.0.0.2", 80, 0);
        r.timer_left_ms = Some(left);
        r
    }

    /// Each destination's (TIME_WAIT, established, new) in facts.
    fn per_destination(f: &super::super::SocketFacts) -> Vec<(String, u64, u64, f64)> {
        let mut d: Vec<_> = f
            .destinations
            .iter()
            .map(|d| {
                let new = d.new_per_second.unwrap_or(-1.0);
                (d.remote.clone(), d.time_wait, d.established, new)
            })
            .collect();
        d.sort_by(|a, b| a.0.cmp(&b.0));
        d
    }

    /// One aggregation of `stream` as `twtune top` makes it: judged
    /// against `previous` (1 s before), keeping its own listing.
    fn aggregate(
        stream: &[SockRecord],
        previous: Option<FirstListing>,
    ) -> (super::super::SocketFacts, FirstListing) {
        use super::super::{Aggregator, PortRange, ReusePolicy, SocketSource};
        let range = PortRange {
            low: 40000,
            high: 40999,
        };
        let policy = ReusePolicy::from_settings(Default::default(), None);
        let mut agg = Aggregator::new(range, vec![], policy)
            .with_previous(previous.map(|p| Sample::new(p, Duration::from_secs(1))))
            .keeping_listing(FirstListing::default());
        for r in stream {
            agg.observe(*r);
        }
        let listing = agg.take_listing().unwrap();
        let root = tempfile::tempdir().unwrap();
        (agg.finish(SocketSource::Proc, root.path()), listing)
    }

    /// A socket of the previous listing is counted where that listing's
    /// aggregation counted it, without looking its destination up: each
    /// aggregation numbers destinations in the order it meets them, so
    /// here, where every listing meets them in another order (one new
    /// first), the numbers differ from one to the next. Every count is the
    /// one the socket's own destination should have.
    #[test]
    fn sockets_carried_from_the_previous_listing_count_toward_their_destination() {
        let remotes = ["10.0.0.2", "10.0.0.3", "2001:db8::4", "10.0.0.5"];
        // Listing n: destination d's sockets on ports 40000 + 100 d + p,
        // TIME_WAIT with n s less of their timer at each listing, one in
        // four established.
        let socket = |n: u32, d: usize, p: u16| {
            let port = 40000 + 100 * d as u16 + p;
            let (local, remote) = match remotes[d] {
                v6 if v6.contains(':') => ("2001:db8::1", v6),
                v4 => ("10.0.0.1", v4),
            };
            if p.is_multiple_of(4) {
                super::super::tests::rec(TcpState::Established, local, port, remote, 80, 0)
            } else {
                let mut r = time_wait(59_000 - 1000 * n);
                (r.local, r.local_port) = (local.parse().unwrap(), port);
                (r.remote, r.remote_port) = (remote.parse().unwrap(), 80);
                r
            }
        };
        // Destinations 0..3 interleaved; then 3 first and the others in
        // reverse, 2 ports of destination 0 gone and 5 new ones on 1;
        // then in the first order again, destination 3 gone.
        let first: Vec<SockRecord> = (0..20)
            .flat_map(|p| (0..3).map(move |d| socket(0, d, p)))
            .collect();
        let mut second: Vec<SockRecord> = (0..6).map(|p| socket(1, 3, p)).collect();
        for d in (0..3).rev() {
            let ports = match d {
                0 => 2..20,
                1 => 0..25,
                _ => 0..20,
            };
            second.extend(ports.map(|p| socket(1, d, p)));
        }
        let third: Vec<SockRecord> = (0..25)
            .flat_map(|p| (0..3).map(move |d| socket(2, d, p)))
            .filter(|r| r.local_port % 100 < if r.local_port / 100 == 401 { 25 } else { 20 })
            .collect();
        let (f, listing) = aggregate(&first, None);
        assert_eq!(
            per_destination(&f),
            [
                ("10.0.0.2:80".to_string(), 15, 5, -1.0),
                ("10.0.0.3:80".to_string(), 15, 5, -1.0),
                ("[2001:db8::4]:80".to_string(), 15, 5, -1.0),
            ]
        );
        let (f, listing) = aggregate(&second, Some(listing));
        assert_eq!(
            per_destination(&f),
            [
                ("10.0.0.2:80".to_string(), 14, 4, 0.0),
                ("10.0.0.3:80".to_string(), 18, 7, 5.0),
                ("10.0.0.5:80".to_string(), 4, 2, 6.0),
                ("[2001:db8::4]:80".to_string(), 15, 5, 0.0),
            ]
        );
        // The two ports of destination 0 gone at the second listing are
        // back: new again.
        let (f, _) = aggregate(&third, Some(listing));
        assert_eq!(
            per_destination(&f),
            [
                ("10.0.0.2:80".to_string(), 15, 5, 2.0),
                ("10.0.0.3:80".to_string(), 18, 7, 0.0),
                ("[2001:db8::4]:80".to_string(), 15, 5, 0.0),
            ]
        );
    }

    /// Where a previous listing says a socket was counted is only taken
    /// once the destination there is the socket's own: two 4-tuples
    /// sharing a 64-bit hash, one of them found for the other, still count
    /// toward their own destinations. Here the listing is made to say both
    /// were counted in the same place.
    #[test]
    fn a_destination_carried_is_compared_before_it_is_counted() {
        let to = |remote: &str, port: u16| {
            let mut r = time_wait(59_000);
            (r.remote, r.local_port) = (remote.parse().unwrap(), port);
            r
        };
        let (one, other) = (to("10.0.0.2", 40001), to("10.0.0.3", 40002));
        let mut listing = FirstListing::new();
        for r in [&one, &other] {
            listing.record(r);
            listing.counted_toward(0);
        }
        let (one, other) = (
            SockRecord {
                timer_left_ms: Some(58_000),
                ..one
            },
            SockRecord {
                timer_left_ms: Some(58_000),
                ..other
            },
        );
        let (f, _) = aggregate(&[one, other, one], Some(listing));
        assert_eq!(
            per_destination(&f),
            [
                ("10.0.0.2:80".to_string(), 2, 0, 0.0),
                ("10.0.0.3:80".to_string(), 1, 0, 0.0),
            ]
        );
    }

    /// `twtune top`'s `elapsed` runs from one refresh's start to the next;
    /// a socket read late in the first walk and early in the second has
    /// had less than that between its readings. Its TIME_WAIT, older by the
    /// real gap, is the same one: not new, not taken over.
    #[test]
    fn the_gap_between_readings_is_counted_from_the_first_listings_end() {
        let then = time_wait(50_000);
        let mut first = FirstListing::new();
        first.record(&then);
        let Some(two_seconds_ago) = Instant::now().checked_sub(Duration::from_secs(2)) else {
            return;
        };
        first.ended = Some(two_seconds_ago);
        // Refresh to refresh, 5 s; the socket's two readings, 2 s apart.
        let mut sample = Sample::new(first, Duration::from_secs(5));
        let now = time_wait(48_000);
        assert_eq!(judged(&mut sample, &now), (false, false));
        // A fresh TIME_WAIT on the 4-tuple (more left than 2 s allows) is
        // another connection, within the old one's 50 s.
        let mut first = FirstListing::new();
        first.record(&then);
        first.ended = Some(two_seconds_ago);
        let mut sample = Sample::new(first, Duration::from_secs(5));
        let again = time_wait(59_000);
        assert_eq!(judged(&mut sample, &again), (true, true));
        // Counted from `elapsed` (5 s), the older one would have been
        // taken for another connection: what the gap prevents.
        let mut first = FirstListing::new();
        first.record(&then);
        let mut sample = Sample::new(first, Duration::from_secs(5));
        assert_eq!(judged(&mut sample, &now), (true, true));
    }
}
