//! The aggregator: folds socket records into counts as they stream past,
//! and turns the counts into [`SocketFacts`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use super::listing::NO_DESTINATION;
use super::sample::Judged;
use super::*;

/// What a socket inode of interest is, for the one walk over /proc/PID/fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Interest {
    CloseWait,
    /// Established toward the destination at this index of the top list.
    Destination(usize),
}

#[derive(Debug, Default, Clone)]
struct DestCount {
    time_wait: u64,
    /// Aged TIME_WAIT tcp_tw_reuse covers: reusable if the peer sends
    /// timestamps, decided once every socket is seen.
    candidates: u64,
    /// TIME_WAIT older than the reuse delay.
    aged: u64,
    with_timestamps: u64,
    without_timestamps: u64,
    reuse_seen: u64,
    established: u64,
    other: u64,
    new: u64,
    /// The inodes of its ESTABLISHED sockets, to name their processes: 8
    /// bytes per established client socket, at most one per local port of
    /// this 4-tuple's (local, remote, port) — 65,535 — per destination.
    established_inodes: Vec<u64>,
}

/// A destination with what its peer is known to do and its ports taken.
type Ranked = (DestKey, DestCount, (Option<bool>, String), u64);

/// What the peer's timestamps are known to be, and from what.
fn peer_timestamps(c: &DestCount, key: &DestKey, policy: &ReusePolicy) -> (Option<bool>, String) {
    let live = |n: u64| if n == 1 { "connection" } else { "connections" };
    if !policy.timestamps {
        return (
            None,
            "tcp_timestamps is off on this host, so no connection negotiates them: the peer's side cannot be seen".to_string(),
        );
    }
    if c.without_timestamps > 0 {
        return (
            Some(false),
            format!(
                "{} of {} live {} to it negotiated no timestamps (tcp_info)",
                c.without_timestamps,
                c.without_timestamps + c.with_timestamps,
                live(c.without_timestamps + c.with_timestamps)
            ),
        );
    }
    if c.with_timestamps > 0 {
        return (
            Some(true),
            format!(
                "{} live {} to it negotiated timestamps (tcp_info)",
                c.with_timestamps,
                live(c.with_timestamps)
            ),
        );
    }
    if c.reuse_seen > 0 {
        return (
            Some(true),
            format!(
                "during the sample connect() took over {} of its TIME_WAIT 4-tuples before their timer ran out",
                c.reuse_seen
            ),
        );
    }
    if key.local.is_loopback() || key.remote.is_loopback() {
        return (
            Some(true),
            "loopback: both ends are this host, which sends timestamps".to_string(),
        );
    }
    (
        None,
        "no live connection to it shows whether the peer sends timestamps; one over sock_diag, or reuse seen during check --sample, would tell".to_string(),
    )
}

/// Whether the peer is known, at this point of the stream, to send
/// timestamps: its aged TIME_WAIT may be counted free host-wide.
fn known_to_send_timestamps(c: &DestCount, key: &DestKey) -> bool {
    c.without_timestamps == 0
        && (c.with_timestamps > 0
            || c.reuse_seen > 0
            || key.local.is_loopback()
            || key.remote.is_loopback())
}

impl DestCount {
    /// TIME_WAIT connect() may take over, given what the peer is known to do.
    fn reusable(&self, peer: Option<bool>) -> u64 {
        if peer == Some(true) {
            self.candidates
        } else {
            0
        }
    }
    fn unconfirmed(&self, peer: Option<bool>) -> u64 {
        if peer.is_none() { self.candidates } else { 0 }
    }
    fn taken(&self, peer: Option<bool>) -> u64 {
        self.established + self.other + (self.time_wait - self.reusable(peer))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DestKey {
    local: IpAddr,
    remote: IpAddr,
    remote_port: u16,
}

/// Hashed once per connected socket (`check`) or per socket the previous
/// listing did not count (`top`): an IPv4 key as one 128-bit word, both
/// addresses and the port, rather than an enum tag and an address each
/// (equal keys still hash alike: the word is the values); foldhash takes
/// a 128-bit word in one multiplication, where two words are buffered.
impl std::hash::Hash for DestKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match (self.local, self.remote) {
            (IpAddr::V4(local), IpAddr::V4(remote)) => state.write_u128(
                (u128::from(local.to_bits()) << 48)
                    | (u128::from(remote.to_bits()) << 16)
                    | u128::from(self.remote_port),
            ),
            (local, remote) => {
                local.hash(state);
                remote.hash(state);
                state.write_u16(self.remote_port);
            }
        }
    }
}

/// Ephemeral-range ports as a bitset, for counting distinct ports.
#[derive(Debug)]
struct PortSet(Vec<u64>);

impl PortSet {
    fn new() -> Self {
        PortSet(vec![0; 1024])
    }
    fn insert(&mut self, port: u16) {
        self.0[usize::from(port / 64)] |= 1 << (port % 64);
    }
}

/// A non-listening port outside the ephemeral range with this many
/// TIME_WAIT from one peer address is a server's port (its listener gone):
/// a client that bound the port itself has one connection per peer port.
const SERVER_PATTERN_MIN: u64 = 8;

/// Folds socket records into counts as they stream past.
#[derive(Debug)]
pub struct Aggregator {
    range: PortRange,
    reserved: Vec<PortRange>,
    policy: ReusePolicy,
    previous: Option<Sample>,
    /// Every connected socket's 4-tuple as it streams past, when kept for
    /// the next reading (`twtune top`): that listing's first listing.
    listing: Option<FirstListing>,
    listening: HashSet<u16>,
    /// Ports inside the range held by sockets only bound (BOUND_INACTIVE).
    bound_only: HashSet<u16>,
    states: [u64; TcpState::COUNT],
    time_wait_server: u64,
    time_wait_client: u64,
    time_wait_reusable: u64,
    server_ports: HashMap<u16, u64>,
    /// Every destination's slot in `counts`. Looked up once per connected
    /// socket the previous listing did not count: hashed by foldhash,
    /// seeded per map (std's SipHash was a tenth of a listing's user time
    /// at 250,000 TIME_WAIT).
    destinations: HashMap<DestKey, u32, foldhash::fast::RandomState>,
    /// Each destination and its counts, in the order first seen.
    counts: Vec<(DestKey, DestCount)>,
    /// The slot in `counts` of each slot of the previous listing's
    /// aggregation, [`NO_DESTINATION`] until one of its sockets is seen
    /// again: a socket the previous listing had is counted where it was
    /// then, after one comparison of its key (`twtune top`: at 250,000
    /// TIME_WAIT the key's hash and the map's probe were a tenth of a
    /// refresh's user time).
    carried: Vec<u32>,
    in_use: PortSet,
    /// Ports held by something other than TIME_WAIT connect() may reuse.
    taken: PortSet,
    /// TIME_WAIT on non-listening ports outside the range: (local port,
    /// peer address); which side they are is decided once all are seen.
    unlisted: Vec<(u16, IpAddr)>,
    close_wait_inodes: HashSet<u64>,
    /// States the listing could not see (`SocketFacts::unlisted_states`).
    unlisted_states: Vec<TcpState>,
}

impl Aggregator {
    pub fn new(range: PortRange, reserved: Vec<PortRange>, policy: ReusePolicy) -> Self {
        Aggregator {
            range,
            reserved,
            policy,
            previous: None,
            listing: None,
            listening: HashSet::new(),
            bound_only: HashSet::new(),
            states: [0; TcpState::COUNT],
            time_wait_server: 0,
            time_wait_client: 0,
            time_wait_reusable: 0,
            server_ports: HashMap::new(),
            destinations: HashMap::default(),
            counts: Vec::new(),
            carried: Vec::new(),
            in_use: PortSet::new(),
            taken: PortSet::new(),
            unlisted: Vec::new(),
            close_wait_inodes: HashSet::new(),
            unlisted_states: Vec::new(),
        }
    }

    /// With `--sample`: the first listing, against which new connections
    /// are counted.
    pub fn with_previous(mut self, previous: Option<Sample>) -> Self {
        self.previous = previous;
        self
    }

    /// Also keeps every connected socket's 4-tuple, so the next reading
    /// can tell its new connections from these without a listing of its own.
    /// `storage`: a listing done with, whose allocation is reused.
    pub fn keeping_listing(mut self, storage: FirstListing) -> Self {
        let room = self.previous.as_ref().map_or(0, |p| p.first.len());
        self.listing = Some(FirstListing::reuse(storage, room));
        self
    }

    /// The first listing given to [`Aggregator::with_previous`], done with
    /// once every socket is observed (what [`Aggregator::finish`] needs of
    /// it, the time between the listings, stays).
    pub fn take_spent(&mut self) -> Option<FirstListing> {
        self.previous.as_mut().map(Sample::take_first)
    }

    /// The first listing given to [`Aggregator::with_previous`], back.
    pub fn take_previous(&mut self) -> Option<Sample> {
        self.previous.take()
    }

    /// The listing kept by [`Aggregator::keeping_listing`].
    pub fn take_listing(&mut self) -> Option<FirstListing> {
        self.listing.take()
    }

    /// The listing did not look for sockets in `state`: their count is not 0
    /// but unknown.
    pub fn unlisted_state(&mut self, state: TcpState) {
        if !self.unlisted_states.contains(&state) {
            self.unlisted_states.push(state);
        }
    }

    /// First pass: a listening socket marks its port as a server port.
    pub fn listener(&mut self, record: SockRecord) {
        if record.state == TcpState::Listen {
            self.states[TcpState::Listen.index()] += 1;
            self.listening.insert(record.local_port);
        }
    }

    /// Second pass: every socket.
    pub fn observe(&mut self, record: SockRecord) {
        if record.state == TcpState::Listen {
            // Counted by the first pass.
            return;
        }
        // The 4-tuple's hash, once, for the listing kept and the one judged against.
        let hash = (self.listing.is_some() || self.previous.is_some()).then(|| tuple_hash(&record));
        if let (Some(listing), Some(hash)) = (&mut self.listing, hash) {
            listing.record_hashed(hash, &record);
        }
        // Unknown states and bound-only sockets count in the total, never named.
        self.states[record.state.index()] += 1;
        let bound_only = record.state == TcpState::BoundInactive
            || (record.state == TcpState::Close
                && record.remote_port == 0
                && record.remote.is_unspecified());
        if bound_only {
            // bind() without listen() or connect(): its bind bucket makes
            // connect() skip the port for every destination.
            if self.range.contains(record.local_port) {
                self.bound_only.insert(record.local_port);
            }
            return;
        }
        if record.state == TcpState::CloseWait && record.inode != 0 {
            self.close_wait_inodes.insert(record.inode);
        }
        // A port something listens on is a server's, whatever its number
        // (its accepted connections share it).
        if self.listening.contains(&record.local_port) {
            if record.state == TcpState::TimeWait {
                self.server_time_wait(record.local_port, 1);
            }
            return;
        }
        if !self.range.contains(record.local_port) {
            // Not a listener and outside the range: a client that bound its
            // own port (NFS, rsh, some database drivers), or a server whose
            // listener is gone. Either way it takes no ephemeral port.
            if record.state == TcpState::TimeWait {
                self.unlisted
                    .push((record.local_port, canonical(record.remote)));
            }
            return;
        }
        self.in_use.insert(record.local_port);
        let key = DestKey {
            local: canonical(record.local),
            remote: canonical(record.remote),
            remote_port: record.remote_port,
        };
        // A 4-tuple reused since the first listing is a new connection too.
        let judged = match (&mut self.previous, hash) {
            (Some(previous), Some(hash)) => previous.judge(hash, &record),
            _ => Judged {
                new: false,
                reused: false,
                counted_toward: NO_DESTINATION,
            },
        };
        let slot = self.slot(key, judged.counted_toward);
        if let Some(listing) = &mut self.listing {
            listing.counted_toward(slot);
        }
        let count = &mut self.counts[slot as usize].1;
        count.new += u64::from(judged.new);
        count.reuse_seen += u64::from(judged.reused);
        if record.state.past_handshake() {
            match record.peer_timestamps {
                Some(true) => count.with_timestamps += 1,
                Some(false) => count.without_timestamps += 1,
                None => {}
            }
        }
        match record.state {
            TcpState::TimeWait => {
                self.time_wait_client += 1;
                count.time_wait += 1;
                if self.policy.aged(record.timer_left_ms) {
                    count.aged += 1;
                    if self.policy.timestamps
                        && self
                            .policy
                            .covers(record.local, record.remote, record.bound_dev_if)
                    {
                        count.candidates += 1;
                        // Live sockets are listed before TIME_WAIT ones, so
                        // what their tcp_info says is known by now; the
                        // per-destination figures are settled in finish().
                        if known_to_send_timestamps(count, &key) {
                            return;
                        }
                    }
                }
                self.taken.insert(record.local_port);
            }
            TcpState::Established => {
                count.established += 1;
                if record.inode != 0 {
                    count.established_inodes.push(record.inode);
                }
                self.taken.insert(record.local_port);
            }
            _ => {
                count.other += 1;
                self.taken.insert(record.local_port);
            }
        }
    }

    /// The slot in `counts` of destination `key`, for a socket the previous
    /// listing's aggregation counted in its slot `then` (or
    /// [`NO_DESTINATION`]).
    fn slot(&mut self, key: DestKey, then: u32) -> u32 {
        // The same 4-tuple has the same destination: the comparison only
        // keeps the count exact should two 4-tuples share a 64-bit hash.
        if let Some(&slot) = self.carried.get(then as usize)
            && slot != NO_DESTINATION
            && self.counts[slot as usize].0 == key
        {
            return slot;
        }
        let slot = match self.destinations.get(&key) {
            Some(&slot) => slot,
            None => self.new_destination(key),
        };
        if then != NO_DESTINATION {
            let then = then as usize;
            if self.carried.len() <= then {
                self.carried.resize(then + 1, NO_DESTINATION);
            }
            self.carried[then] = slot;
        }
        slot
    }

    /// A slot for destination `key`, seen for the first time.
    #[cold]
    fn new_destination(&mut self, key: DestKey) -> u32 {
        // Fewer destinations than sockets, and the kernel's socket table
        // holds far fewer than 2^32.
        let slot = self.counts.len() as u32;
        self.counts.push((key, DestCount::default()));
        self.destinations.insert(key, slot);
        slot
    }

    fn server_time_wait(&mut self, port: u16, n: u64) {
        self.time_wait_server += n;
        *self.server_ports.entry(port).or_default() += n;
    }

    /// Decides the side of TIME_WAIT on non-listening ports outside the range.
    fn settle_unlisted(&mut self) {
        let mut per_port: HashMap<u16, HashMap<IpAddr, u64>> = HashMap::new();
        for (port, peer) in std::mem::take(&mut self.unlisted) {
            *per_port.entry(port).or_default().entry(peer).or_default() += 1;
        }
        for (port, peers) in per_port {
            let total: u64 = peers.values().sum();
            let busiest_peer = peers.values().copied().max().unwrap_or(0);
            if busiest_peer >= SERVER_PATTERN_MIN {
                self.server_time_wait(port, total);
            } else {
                self.time_wait_client += total;
            }
        }
    }

    fn host_ports(&self, usable: u32) -> HostPorts {
        let ratio = |n: u32, of: u32| {
            if of == 0 {
                if n == 0 { 0.0 } else { 1.0 }
            } else {
                f64::from(n) / f64::from(of)
            }
        };
        // Word by word over bit sets rather than port by port through the
        // hash sets: an idle check spent a tenth of its instructions here
        // hashing the 28,232 ports of the default range (issue 20).
        let mut unusable = PortSet::new();
        for r in &self.reserved {
            for port in r.low..=r.high {
                unusable.insert(port);
            }
        }
        for &port in self.listening.iter().chain(&self.bound_only) {
            unusable.insert(port);
        }
        // Bit b of word w is port 64w + b, so a port's parity is its bit's.
        let first_parity: u64 = match self.range.low % 2 {
            0 => 0x5555_5555_5555_5555,
            _ => 0xAAAA_AAAA_AAAA_AAAA,
        };
        let (mut in_use, mut in_use_with_time_wait) = (0, 0);
        let (mut first_parity_usable, mut first_parity_in_use) = (0, 0);
        if self.range.size() > 0 {
            let (low, high) = (usize::from(self.range.low), usize::from(self.range.high));
            for word in low / 64..=high / 64 {
                let mut in_range = !0u64;
                if word == low / 64 {
                    in_range &= !0u64 << (low % 64);
                }
                if word == high / 64 {
                    in_range &= !0u64 >> (63 - high % 64);
                }
                let usable_here = in_range & !unusable.0[word];
                let held = self.in_use.0[word] & usable_here;
                in_use_with_time_wait += held.count_ones();
                in_use += (self.taken.0[word] & usable_here).count_ones();
                first_parity_usable += (usable_here & first_parity).count_ones();
                first_parity_in_use += (held & first_parity).count_ones();
            }
        }
        HostPorts {
            in_use,
            in_use_with_time_wait,
            usable,
            ratio: ratio(in_use, usable),
            ratio_with_time_wait: ratio(in_use_with_time_wait, usable),
            first_parity_usable,
            first_parity_in_use,
            first_parity_ratio: ratio(first_parity_in_use, first_parity_usable),
        }
    }

    pub fn finish(mut self, source: SocketSource, root: &Path) -> SocketFacts {
        self.settle_unlisted();
        let unreserved = ports::usable_ports(self.range, &self.reserved);
        let mut blocked = self.reserved.clone();
        blocked.extend(
            self.listening
                .iter()
                .map(|&p| PortRange { low: p, high: p }),
        );
        let without_listeners = ports::usable_ports(self.range, &blocked);
        blocked.extend(
            self.bound_only
                .iter()
                .map(|&p| PortRange { low: p, high: p }),
        );
        let usable = ports::usable_ports(self.range, &blocked);
        let per = |n: u64| {
            if usable == 0 {
                // No usable port at all: any outbound connection fails.
                if n == 0 { 0.0 } else { f64::INFINITY }
            } else {
                n as f64 / f64::from(usable)
            }
        };
        let elapsed = self
            .previous
            .as_ref()
            .map(|p| p.elapsed.as_secs_f64().max(f64::MIN_POSITIVE));
        let lifetime = f64::from(self.policy.time_wait_ms) / 1000.0;
        let policy = self.policy.clone();
        // What each peer is known to do decides which TIME_WAIT are free.
        let mut ranked: Vec<Ranked> = std::mem::take(&mut self.counts)
            .into_iter()
            .map(|(key, c)| {
                let peer = peer_timestamps(&c, &key, &policy);
                let taken = c.taken(peer.0);
                (key, c, peer, taken)
            })
            .collect();
        let destination_count = ranked.len() as u64;
        self.time_wait_reusable = ranked.iter().map(|(_, c, p, _)| c.reusable(p.0)).sum();
        let time_wait_unconfirmed = ranked.iter().map(|(_, c, p, _)| c.unconfirmed(p.0)).sum();
        ranked.sort_by(|(ka, a, _, ta), (kb, b, _, tb)| {
            tb.cmp(ta)
                .then(b.time_wait.cmp(&a.time_wait))
                .then_with(|| {
                    (ka.remote, ka.remote_port, ka.local).cmp(&(
                        kb.remote,
                        kb.remote_port,
                        kb.local,
                    ))
                })
        });
        ranked.truncate(TOP_DESTINATIONS);
        let policy = &self.policy;
        let delay_seconds = f64::from(policy.delay_ms.max(1)) / 1000.0;
        // One walk over /proc/PID/fd for every inode of interest: CLOSE_WAIT
        // and the established sockets of the destinations kept.
        let mut interest: HashMap<u64, Interest> = self
            .close_wait_inodes
            .iter()
            .map(|&inode| (inode, Interest::CloseWait))
            .collect();
        for (index, (_, c, _, _)) in ranked.iter().enumerate() {
            interest.extend(
                c.established_inodes
                    .iter()
                    .map(|&inode| (inode, Interest::Destination(index))),
            );
        }
        let (holders, attributed) = owners::walk(root, &interest);
        let destinations: Vec<Destination> = ranked
            .into_iter()
            .enumerate()
            .map(|(index, (key, c, (peer, peer_evidence), taken))| {
                let processes: Vec<DestinationProcess> =
                    owners::owners_of(&holders, Interest::Destination(index), TOP_PROCESSES)
                        .into_iter()
                        .map(|o| DestinationProcess {
                            pid: o.pid,
                            command: o.command,
                            established: o.count,
                        })
                        .collect();
                let named = attributed
                    .get(&Interest::Destination(index))
                    .copied()
                    .unwrap_or(0);
                let new_per_second =
                    elapsed.map(|secs| crate::facts::rates::round_rate(c.new as f64 / secs));
                let reuse_effective = policy.timestamps
                    && policy.covers(key.local, key.remote, 0)
                    && peer != Some(false);
                Destination {
                    remote: SocketAddr::new(key.remote, key.remote_port).to_string(),
                    local: key.local.to_string(),
                    time_wait: c.time_wait,
                    time_wait_reusable: c.reusable(peer),
                    time_wait_unconfirmed: c.unconfirmed(peer),
                    time_wait_aged: c.aged,
                    established: c.established,
                    other: c.other,
                    taken,
                    taken_without_reuse: c.established + c.other + c.time_wait,
                    taken_if_peer_timestamps: taken - c.unconfirmed(peer),
                    peer_timestamps: peer,
                    peer_timestamps_evidence: peer_evidence,
                    live_with_timestamps: c.with_timestamps,
                    live_without_timestamps: c.without_timestamps,
                    reuse_seen: c.reuse_seen,
                    reuse_effective,
                    usable_ports: usable,
                    exhaustion_ratio: per(taken),
                    ratio_without_reuse: per(c.established + c.other + c.time_wait),
                    ratio_if_peer_timestamps: per(taken - c.unconfirmed(peer)),
                    max_new_per_second: f64::from(usable) / lifetime,
                    max_new_per_second_reusing: reuse_effective.then(|| {
                        crate::facts::rates::round_rate(f64::from(usable) / delay_seconds)
                    }),
                    closes_per_second: c.time_wait as f64 / lifetime,
                    headroom_per_second: (f64::from(usable) - c.time_wait as f64) / lifetime,
                    new_per_second,
                    seconds_to_exhaustion: None,
                    creators: creators::inferred(&processes),
                    attribution: creators::Attribution::Inferred,
                    attribution_method: creators::INFERRED_FROM_HOLDERS.to_string(),
                    connect_failures: Vec::new(),
                    top_creator: None,
                    processes,
                    processes_unattributed: (c.established_inodes.len() as u64)
                        .saturating_sub(named),
                }
            })
            .collect();
        let max_exhaustion_ratio = destinations
            .iter()
            .map(|d| d.exhaustion_ratio)
            .fold(0.0, f64::max);
        let host_ports = self.host_ports(usable);

        let mut server_ports: Vec<PortCount> = self
            .server_ports
            .drain()
            .map(|(port, time_wait)| PortCount { port, time_wait })
            .collect();
        server_ports.sort_by(|a, b| b.time_wait.cmp(&a.time_wait).then(a.port.cmp(&b.port)));
        server_ports.truncate(TOP_SERVER_PORTS);
        let mut listening_ports: Vec<u16> = self.listening.iter().copied().collect();
        listening_ports.sort_unstable();

        let close_wait_processes = owners::owners_of(&holders, Interest::CloseWait, usize::MAX);
        let close_wait_unattributed = (self.close_wait_inodes.len() as u64)
            .saturating_sub(attributed.get(&Interest::CloseWait).copied().unwrap_or(0));
        let states: BTreeMap<String, u64> = TcpState::NAMED
            .iter()
            .map(|s| (s.name().to_string(), self.states[s.index()]))
            .collect();
        let mut facts = SocketFacts {
            source,
            fallback_reason: None,
            total: self.states.iter().sum(),
            time_wait: self.states[TcpState::TimeWait.index()],
            close_wait: self.states[TcpState::CloseWait.index()],
            states,
            time_wait_server_side: self.time_wait_server,
            time_wait_client_side: self.time_wait_client,
            time_wait_reusable: self.time_wait_reusable,
            time_wait_unconfirmed,
            reuse: self.policy,
            listening_ports,
            server_side_ports: server_ports,
            ephemeral_range: self.range,
            reserved_in_range: self.range.size() - unreserved,
            listeners_in_range: unreserved - without_listeners,
            bound_in_range: without_listeners - usable,
            usable_ports: usable,
            destinations,
            destination_count,
            max_exhaustion_ratio,
            host_ports,
            close_wait_processes,
            close_wait_unattributed,
            unlisted_states: self
                .unlisted_states
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
            connect_failures: Vec::new(),
            tracing: Default::default(),
        };
        apply_headroom(&mut facts);
        facts
    }
}

/// Time to exhaustion per destination at its own sampled rate: ports fill
/// at that rate and drain at the close rate its TIME_WAIT population
/// implies. A destination nobody connects to gets none.
pub fn apply_headroom(sockets: &mut SocketFacts) {
    for d in &mut sockets.destinations {
        let Some(opens) = d.new_per_second else {
            continue;
        };
        let free = (f64::from(d.usable_ports) - d.taken as f64).max(0.0);
        let growth = opens
            - (d.time_wait - d.time_wait_reusable) as f64
                / (f64::from(sockets.reuse.time_wait_ms) / 1000.0);
        d.seconds_to_exhaustion = if opens <= 0.0 {
            None
        } else if free == 0.0 {
            Some(0.0)
        } else if growth > 0.0 {
            // Whole seconds, rounded up: with ports still free the answer is
            // never "0 s", which reads as "already out".
            Some((free / growth).ceil())
        } else {
            None
        };
    }
}
