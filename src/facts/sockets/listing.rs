//! A listing's sockets, kept to tell the next listing's new connections
//! from old ones: one entry per socket in the order the kernel listed them,
//! and a lookup that follows that order.
//!
//! Why not a hash map (issue 24): at 250,000 TIME_WAIT, inserting every
//! socket into one map and looking every socket of the next listing up in
//! it cost a `twtune top` refresh more than all of a `check` (two cache
//! misses per socket each way, in a table of 8 MiB). But two listings of
//! one namespace come in nearly the same order: sock_diag walks the
//! kernel's connection table bucket by bucket (inet_diag_dump_icsk()), a
//! bucket's chain keeps its order (new sockets go to its head), and the
//! passes (live states, then TIME_WAIT) come in the same sequence. So a
//! socket of the second listing is first looked for where the previous
//! match left off (and a few entries on, past sockets gone since); only a
//! socket not there (new since, or moved) is looked up in an index of every
//! entry, built the first time one is needed: a bit per low-bits value of
//! the hashes present, which answers most new sockets at once, and the
//! entries sorted by hash into buckets (a counting sort: two sequential
//! passes). Recording is a push onto a vector.
//!
//! The answer is exact either way, as exact as the map's was: a match near
//! the cursor is the same 64-bit hash, and the index holds every entry, so
//! a hash it does not have (its bit clear, or in no bucket) is in no entry. A 4-tuple listed twice by one
//! listing (its state changed between two passes, or a dump resumed while
//! its bucket changed) is found by either entry: both are the same
//! connection, so it is not new either way.

use super::{SockRecord, TcpState, tuple_hash};

/// The timer value an entry holds for a socket not in TIME_WAIT.
pub(super) const NOT_TIME_WAIT: u32 = u32::MAX;

/// The destination an entry holds for a socket counted toward none.
pub(super) const NO_DESTINATION: u32 = u32::MAX;

/// One socket of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// [`tuple_hash`] of its 4-tuple.
    hash: u64,
    /// What was left of its TIME_WAIT timer, in milliseconds;
    /// [`NOT_TIME_WAIT`] for another state.
    left: u32,
    /// Where the aggregation that recorded it counted its destination
    /// ([`FirstListing::counted_toward`]), or [`NO_DESTINATION`]: in the
    /// padding the hash leaves, so it costs no memory.
    destination: u32,
}

/// What a listing holds of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    /// What was left of its TIME_WAIT timer ([`NOT_TIME_WAIT`] if it was in
    /// another state).
    pub left: u32,
    /// Where its destination was counted, or [`NO_DESTINATION`].
    pub destination: u32,
}

/// The first listing of `--sample` (and of each `top` refresh): every
/// connected socket's 4-tuple hash and TIME_WAIT timer, in the order
/// listed, and when the listing began.
#[derive(Debug, Clone)]
pub struct FirstListing {
    entries: Vec<Entry>,
    pub(super) started: std::time::Instant,
    /// When the listing ended, once it has.
    pub(super) ended: Option<std::time::Instant>,
    /// Where the next socket looked for is expected: after the last found.
    cursor: usize,
    /// Every entry by hash, built at the first socket not at the cursor.
    index: Option<Index>,
}

impl Default for FirstListing {
    fn default() -> Self {
        FirstListing::new()
    }
}

impl FirstListing {
    /// An empty listing, begun now.
    pub fn new() -> Self {
        FirstListing::reusing(Vec::new())
    }

    /// A listing that starts now in the storage of `old` (a listing done
    /// with: `twtune top` alternates two, rather than allocating and
    /// faulting in megabytes each refresh), with room for `sockets` (the
    /// previous listing's count).
    pub(super) fn reuse(old: FirstListing, sockets: usize) -> Self {
        let mut entries = old.entries;
        entries.clear();
        entries.reserve(sockets);
        FirstListing::reusing(entries)
    }

    fn reusing(entries: Vec<Entry>) -> Self {
        FirstListing {
            entries,
            started: std::time::Instant::now(),
            ended: None,
            cursor: 0,
            index: None,
        }
    }

    /// Marks the listing ended: every socket of it was read before now.
    pub(super) fn end(&mut self) {
        self.ended = Some(std::time::Instant::now());
    }

    /// [`FirstListing::end`], by value.
    pub(super) fn ended(mut self) -> Self {
        self.end();
        self
    }

    /// How many sockets it holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a socket.
    pub(super) fn record(&mut self, r: &SockRecord) {
        self.record_hashed(tuple_hash(r), r);
    }

    /// Adds a socket whose [`tuple_hash`] is `hash`. Inlined, as
    /// [`FirstListing::find`]: once per socket of each `twtune top` listing.
    #[inline]
    pub(super) fn record_hashed(&mut self, hash: u64, r: &SockRecord) {
        let left = match r.timer_left_ms {
            Some(left) if r.state == TcpState::TimeWait => left.min(NOT_TIME_WAIT - 1),
            _ => NOT_TIME_WAIT,
        };
        self.entries.push(Entry {
            hash,
            left,
            destination: NO_DESTINATION,
        });
        // An index of what was there before would not have it.
        if self.index.is_some() {
            self.index = None;
        }
    }

    /// Notes where the socket recorded last was counted: an opaque number
    /// of the aggregation's (its destination's slot), handed back by
    /// [`FirstListing::find`] to the next aggregation, which may count the
    /// same socket there again without looking its destination up.
    pub(super) fn counted_toward(&mut self, destination: u32) {
        if let Some(last) = self.entries.last_mut() {
            last.destination = destination;
        }
    }

    /// What was recorded of the socket whose 4-tuple hash is `hash`, or
    /// `None` when this listing does not have it. Cheapest when asked in
    /// the order listed.
    ///
    /// Inlined: once per socket of each `twtune top` refresh, nearly always
    /// at the cursor, where a call cost more than the comparison.
    #[inline]
    pub(super) fn find(&mut self, hash: u64) -> Option<Seen> {
        // At the cursor, or a few entries on: the ones between are gone
        // since (a TIME_WAIT expired, a connection closed).
        let ahead = self.entries.get(self.cursor..).unwrap_or_default();
        let at = match ahead.iter().take(LOOK_AHEAD).position(|e| e.hash == hash) {
            Some(k) => self.cursor + k,
            None => self.indexed(hash)?,
        };
        self.cursor = at + 1;
        let e = self.entries[at];
        Some(Seen {
            left: e.left,
            destination: e.destination,
        })
    }

    /// Where an entry with `hash` is, asked of the index (built now if
    /// not yet): a socket not near the cursor.
    #[cold]
    fn indexed(&mut self, hash: u64) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .get_or_insert_with(|| Index::build(entries))
            .position(hash)
    }
}

/// How many entries from the cursor on are compared before the index is
/// asked: an old socket whose predecessors in the listing are gone.
const LOOK_AHEAD: usize = 4;

/// Every entry's position, grouped by the top bits of its hash (the hashes
/// are seeded and uniform, so about two per group), and a bit per value of
/// a hash's low bits that some entry has.
#[derive(Debug, Clone)]
struct Index {
    /// Bit `hash & mask` is set when an entry's hash has those low bits: a
    /// clear bit proves a new socket new in one read of a table of 16 bits
    /// an entry (512 KiB at 250,000), where the groups take two reads,
    /// further apart. Most sockets asked the index about under churn are
    /// new ones.
    present: Vec<u64>,
    mask: u64,
    /// Right shift that leaves a hash's group.
    shift: u32,
    /// Group g's slots are `slots[starts[g]..starts[g + 1]]`.
    starts: Vec<u32>,
    /// (hash, position in the listing), grouped, in listing order within a group.
    slots: Vec<(u64, u32)>,
}

impl Index {
    fn build(entries: &[Entry]) -> Index {
        // About two entries a group; at least two groups, so the shift
        // stays below 64.
        let bits = (usize::BITS - (entries.len() / 2).leading_zeros()).clamp(1, 24);
        let shift = u64::BITS - bits;
        let group = |hash: u64| (hash >> shift) as usize;
        let mut starts = vec![0u32; (1 << bits) + 1];
        for e in entries {
            starts[group(e.hash) + 1] += 1;
        }
        for g in 1..starts.len() {
            starts[g] += starts[g - 1];
        }
        let mut next = starts.clone();
        let mut slots = vec![(0u64, 0u32); entries.len()];
        for (at, e) in entries.iter().enumerate() {
            let slot = &mut next[group(e.hash)];
            // A listing holds fewer than 2^32 sockets: the kernel's socket
            // table is far smaller.
            slots[*slot as usize] = (e.hash, at as u32);
            *slot += 1;
        }
        let bits = (entries.len().max(1) * 16).next_power_of_two().max(64);
        let mask = bits as u64 - 1;
        let mut present = vec![0u64; bits / 64];
        for e in entries {
            let bit = e.hash & mask;
            present[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        Index {
            present,
            mask,
            shift,
            starts,
            slots,
        }
    }

    /// The position of an entry with `hash` (the last listed, if several).
    fn position(&self, hash: u64) -> Option<usize> {
        let bit = hash & self.mask;
        if self.present[(bit / 64) as usize] & (1 << (bit % 64)) == 0 {
            return None;
        }
        let g = (hash >> self.shift) as usize;
        let (from, to) = (self.starts[g] as usize, self.starts[g + 1] as usize);
        self.slots[from..to]
            .iter()
            .rev()
            .find(|(h, _)| *h == hash)
            .map(|&(_, at)| at as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A deterministic stream of well-mixed 64-bit values (splitmix64).
    fn mixed(seed: u64) -> impl Iterator<Item = u64> {
        let mut state = seed;
        std::iter::repeat_with(move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }

    fn listing(entries: &[(u64, u32)]) -> FirstListing {
        let mut l = FirstListing::new();
        l.entries.extend(entries.iter().map(|&(hash, left)| Entry {
            hash,
            left,
            destination: NO_DESTINATION,
        }));
        l
    }

    /// Looks every `asked` hash up, in order, and checks each answer
    /// against a map of the listing (the last entry of a hash wins).
    fn agrees_with_a_map(first: &[(u64, u32)], asked: &[u64]) {
        let map: HashMap<u64, u32> = first.iter().copied().collect();
        let mut l = listing(first);
        for (n, h) in asked.iter().enumerate() {
            let got = l.find(*h).map(|seen| seen.left);
            let want = map.get(h).copied();
            match want {
                // A duplicated hash may be found by either of its entries.
                Some(_) if first.iter().filter(|(x, _)| x == h).count() > 1 => {
                    assert!(got.is_some(), "ask #{n}: {h:#x} listed twice, not found")
                }
                _ => assert_eq!(got, want, "ask #{n}: {h:#x}"),
            }
        }
    }

    #[test]
    fn the_same_order_is_found_without_an_index() {
        let first: Vec<(u64, u32)> = mixed(1).take(1000).zip(0..).collect();
        let mut l = listing(&first);
        for &(h, left) in &first {
            assert_eq!(l.find(h).map(|seen| seen.left), Some(left));
        }
        assert!(l.index.is_none(), "every socket was at the cursor");
        // Past the end: an index is built, and says no.
        assert_eq!(l.find(7), None);
        assert!(l.index.is_some());
    }

    #[test]
    fn sockets_gone_since_are_stepped_over_without_an_index() {
        let first: Vec<(u64, u32)> = mixed(5).take(100).zip(0..).collect();
        let mut l = listing(&first);
        // Every fourth socket gone: each next one is a step or two on.
        for (n, &(h, left)) in first.iter().enumerate() {
            if n % 4 != 0 {
                assert_eq!(l.find(h).map(|seen| seen.left), Some(left));
            }
        }
        assert!(l.index.is_none());
        // A hash that is not there needs the index to be told new.
        assert_eq!(l.find(1), None);
        assert!(l.index.is_some());
    }

    #[test]
    fn new_gone_and_moved_sockets_are_told_exactly() {
        let first: Vec<(u64, u32)> = mixed(2).take(5000).zip(0..).collect();
        let fresh: Vec<u64> = mixed(3).take(700).collect();
        // The next listing: every third socket gone, a new one after every
        // seventh, and one stretch listed in reverse (a bucket reordered).
        let mut asked = Vec::new();
        for (n, &(h, _)) in first.iter().enumerate() {
            if n % 3 != 0 {
                asked.push(h);
            }
            if n % 7 == 0 {
                asked.push(fresh[n / 7 % fresh.len()]);
            }
        }
        asked[100..400].reverse();
        agrees_with_a_map(&first, &asked);
        // Shuffled completely, and asked twice.
        let mut shuffled: Vec<u64> = first.iter().map(|&(h, _)| h).collect();
        let order: Vec<u64> = mixed(4).take(shuffled.len()).collect();
        let mut keyed: Vec<(u64, u64)> = order.into_iter().zip(shuffled.drain(..)).collect();
        keyed.sort_unstable();
        let mut twice: Vec<u64> = keyed.into_iter().map(|(_, h)| h).collect();
        twice.extend(twice.clone());
        agrees_with_a_map(&first, &twice);
    }

    #[test]
    fn hashes_sharing_their_top_bits_and_duplicates_are_found() {
        // Every hash in one group, and one 4-tuple listed twice.
        let mut first: Vec<(u64, u32)> = (0..300).map(|n| (n * 3, n as u32)).collect();
        first.push((21, 99_999));
        let mut asked: Vec<u64> = (0..1000).rev().collect();
        asked.push(21);
        agrees_with_a_map(&first, &asked);
        // The last entry of a hash is the index's answer.
        let mut l = listing(&first);
        assert_eq!(l.find(5), None);
        assert_eq!(l.find(21).map(|seen| seen.left), Some(99_999));
    }

    #[test]
    fn an_empty_listing_has_nothing() {
        let mut l = listing(&[]);
        assert_eq!(l.find(0), None);
        assert_eq!(l.find(u64::MAX), None);
    }

    #[test]
    fn a_reused_listing_starts_empty() {
        let mut l = listing(&[(1, 2), (3, 4)]);
        assert_eq!(l.find(9), None);
        let mut again = FirstListing::reuse(l, 10);
        assert_eq!(again.len(), 0);
        assert_eq!(again.find(1), None);
        // 59 s of TIME_WAIT left.
        let r = super::super::tests::rec(TcpState::TimeWait, "10.0.0.1", 40000, "10.0.0.2", 80, 0);
        again.record(&r);
        let seen = Seen {
            left: 59_000,
            destination: NO_DESTINATION,
        };
        assert_eq!(again.find(tuple_hash(&r)), Some(seen));
        // Where the socket was counted is handed back with it.
        again.counted_toward(7);
        assert_eq!(
            again.find(tuple_hash(&r)),
            Some(Seen {
                destination: 7,
                ..seen
            })
        );
    }
}
