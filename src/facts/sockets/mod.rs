//! TCP sockets: how many in each state, whose TIME_WAIT it is, how close each
//! destination is to running out of ephemeral ports, and which processes leak
//! CLOSE_WAIT.
//!
//! Live, the kernel lists them over sock_diag ([`diag`]); under `--root`, or
//! when netlink is refused, /proc/net/tcp{,6} ([`proc_tcp`]). Both feed one
//! [`Aggregator`] record by record, so memory grows with the number of
//! distinct destinations and listening ports, never with the number of
//! sockets. Listening ports are gathered first because attribution needs them.

pub mod creators;
pub mod diag;
mod occupancy;
pub mod owners;
pub mod proc_tcp;
mod record;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufReader;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use schemars::JsonSchema;
use serde::Serialize;

use super::kernel::KernelVersion;
use super::options::GatherOptions;
pub use super::ports::{self, PortRange};
use super::read::{FactError, metadata_confined, open_streaming};
pub use owners::SocketOwner;
pub use record::SockRecord;

/// TIME_WAIT lasts TCP_TIMEWAIT_LEN (include/net/tcp.h); no mainline
/// sysctl changes it.
pub const TIME_WAIT_SECONDS: f64 = 60.0;
const TIME_WAIT_MS: u32 = 60_000;
/// How many destinations the facts keep, by pressure.
pub const TOP_DESTINATIONS: usize = 20;
const TOP_SERVER_PORTS: usize = 10;
/// How many processes each destination names, most connections first.
pub const TOP_PROCESSES: usize = 5;

pub const ESTABLISHED: u8 = 1;
pub const TIME_WAIT: u8 = 6;
pub const CLOSE_WAIT: u8 = 8;
pub const LISTEN: u8 = 10;
pub const CLOSE: u8 = 7;
/// TCP_BOUND_INACTIVE: the pseudo-state a sock_diag request names to get
/// sockets bound to a port but neither listening nor connected (commit
/// 91051f003948, "tcp: Dump bound-only sockets in inet_diag."); they come
/// back in state CLOSE with no peer. Older kernels list none.
pub const BOUND_INACTIVE: u8 = 13;

/// Names as `ss` and the kernel's tcp_states.h spell them, by state number.
const STATE_NAMES: [&str; 13] = [
    "UNKNOWN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
];

/// The loopback device's index (LOOPBACK_IFINDEX, include/net/flow.h).
const LOOPBACK_IFINDEX: u32 = 1;

/// Which TIME_WAIT sockets connect() may take over in this namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReuseScope {
    /// tcp_tw_reuse = 0, or timestamps off: no reuse at all.
    #[default]
    None,
    /// Every destination (tcp_tw_reuse = 1, or any non-zero value before 4.18).
    All,
    /// tcp_tw_reuse = 2 from 4.18 on: a loopback address at either end, or a
    /// socket bound to `lo`.
    Loopback,
}

/// What tcp_twsk_unique() (net/ipv4/tcp_ipv4.c) needs before connect() may
/// reuse a TIME_WAIT port: tcp_tw_reuse covering the socket, the peer's
/// timestamp recorded (so timestamps on here), and the TIME_WAIT older than
/// the reuse delay.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ReusePolicy {
    /// Runtime tcp_tw_reuse, when readable.
    pub tcp_tw_reuse: Option<i64>,
    /// Runtime tcp_timestamps != 0 (absent counts as the default, on).
    pub timestamps: bool,
    pub scope: ReuseScope,
    /// A TIME_WAIT socket must be at least this old before connect() may
    /// take its port.
    pub delay_ms: u32,
    /// Where `delay_ms` comes from.
    pub delay_source: String,
    /// How long TIME_WAIT lasts: 60 s (TCP_TIMEWAIT_LEN), or the vendor
    /// tcp_tw_timeout where a kernel has it.
    pub time_wait_ms: u32,
}

impl Default for ReusePolicy {
    fn default() -> Self {
        ReusePolicy::from_settings(ReuseSettings::default(), None)
    }
}

/// The sysctls the reuse policy is made of, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseSettings {
    pub tcp_tw_reuse: Option<i64>,
    pub tcp_timestamps: Option<i64>,
    pub tcp_tw_reuse_delay: Option<i64>,
    pub tcp_tw_timeout: Option<i64>,
}

/// Before tcp_tw_reuse_delay (6.14, commit ca6a6f93867a) the test was in
/// whole seconds: "a later second than the last timestamp received"
/// (`time_after32(ktime_get_seconds(), tw_ts_recent_stamp)`), and "more than
/// one second" on older kernels (`get_seconds() - tw_ts_recent_stamp > 1`).
/// Two seconds is past both.
const SECOND_GRANULAR_DELAY_MS: u32 = 2000;

impl ReusePolicy {
    pub fn from_settings(s: ReuseSettings, kernel: Option<KernelVersion>) -> Self {
        let timestamps = s.tcp_timestamps.is_none_or(|t| t != 0);
        let loopback_only_kernel = kernel.is_none_or(|v| v >= KernelVersion::new(4, 18, 0));
        let scope = match s.tcp_tw_reuse {
            _ if !timestamps => ReuseScope::None,
            None | Some(0) => ReuseScope::None,
            // 79e9fed46038 (4.18) made 2 "loopback only"; before, any
            // non-zero value was on. An unknown version is read the modern
            // way, which counts fewer ports as free.
            Some(2) if loopback_only_kernel => ReuseScope::Loopback,
            Some(_) => ReuseScope::All,
        };
        let (delay_ms, delay_source) = match s.tcp_tw_reuse_delay {
            Some(ms) => (
                u32::try_from(ms.max(0)).unwrap_or(u32::MAX),
                "net.ipv4.tcp_tw_reuse_delay".to_string(),
            ),
            None => (
                SECOND_GRANULAR_DELAY_MS,
                "no tcp_tw_reuse_delay (before 6.14): whole seconds, at most 2 s".to_string(),
            ),
        };
        let time_wait_ms = s
            .tcp_tw_timeout
            .filter(|&secs| secs > 0)
            .and_then(|secs| u32::try_from(secs.saturating_mul(1000)).ok())
            .unwrap_or(TIME_WAIT_MS);
        ReusePolicy {
            tcp_tw_reuse: s.tcp_tw_reuse,
            timestamps,
            scope,
            delay_ms,
            delay_source,
            time_wait_ms,
        }
    }

    /// Whether tcp_tw_reuse covers a socket with these endpoints, as the
    /// loopback test in tcp_twsk_unique() decides.
    pub fn covers(&self, local: IpAddr, remote: IpAddr, bound_dev_if: u32) -> bool {
        match self.scope {
            ReuseScope::None => false,
            ReuseScope::All => true,
            ReuseScope::Loopback => {
                bound_dev_if == LOOPBACK_IFINDEX
                    || canonical(local).is_loopback()
                    || canonical(remote).is_loopback()
            }
        }
    }

    /// Whether a TIME_WAIT socket is old enough to be taken over; its age is
    /// the lifetime minus what is left of its timer. Unknown age: not yet.
    pub fn aged(&self, timer_left_ms: Option<u32>) -> bool {
        timer_left_ms.is_some_and(|left| self.time_wait_ms.saturating_sub(left) > self.delay_ms)
    }
}

/// Where the socket table was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SocketSource {
    /// sock_diag over netlink, the live host's first choice.
    Netlink,
    /// /proc/net/tcp{,6}: a --root tree, or when netlink is refused; what a
    /// table with no reading behind it defaults to, as it needs no privilege.
    #[default]
    Proc,
}

impl SocketSource {
    /// The word the JSON output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketSource::Netlink => "netlink",
            SocketSource::Proc => "proc",
        }
    }
}

impl std::fmt::Display for SocketSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct SocketFacts {
    /// "netlink" (sock_diag) or "proc" (/proc/net/tcp{,6}).
    pub source: SocketSource,
    /// Why netlink was not used on a live host, if it was refused.
    pub fallback_reason: Option<String>,
    /// Every TCP state name → sockets in it (0 included), IPv4 and IPv6.
    pub states: BTreeMap<String, u64>,
    pub total: u64,
    pub time_wait: u64,
    pub close_wait: u64,
    /// TIME_WAIT on a port something listens on now, or on a non-listening
    /// port outside the ephemeral range where one peer address reached it
    /// from many ports (a server that stopped listening): this host closed
    /// first as a server. tcp_tw_reuse cannot help these.
    pub time_wait_server_side: u64,
    /// Every other TIME_WAIT: connections this host opened and closed first,
    /// including those from ports a client bound itself (below the range).
    pub time_wait_client_side: u64,
    /// Client-side TIME_WAIT connect() may take over now (see `reuse`),
    /// toward peers known to send timestamps: counted as free ports, not
    /// taken ones.
    pub time_wait_reusable: u64,
    /// Client-side TIME_WAIT connect() could take over if the peer sends
    /// timestamps, which nothing here shows (`peer_timestamps` null):
    /// counted as taken.
    pub time_wait_unconfirmed: u64,
    /// How connect() reuses TIME_WAIT here.
    pub reuse: ReusePolicy,
    pub listening_ports: Vec<u16>,
    /// Server-side TIME_WAIT by local port, most first (top 10).
    pub server_side_ports: Vec<PortCount>,
    pub ephemeral_range: PortRange,
    /// Reserved ports (ip_local_reserved_ports) inside the ephemeral range.
    pub reserved_in_range: u32,
    /// Listening ports inside the ephemeral range and not reserved: connect()
    /// skips them for every destination.
    pub listeners_in_range: u32,
    /// Other ports inside the range that sockets bound without listening or
    /// connecting hold (sock_diag's BOUND_INACTIVE, 6.x kernels): connect()
    /// skips them too. A connected socket that bound its port explicitly is
    /// skipped the same way but looks like connect()'s own in both listings,
    /// so it is not counted here.
    pub bound_in_range: u32,
    /// Ports connect() may choose toward one destination: the range minus
    /// reserved ports and ports listeners and bound-only sockets hold.
    pub usable_ports: u32,
    /// Outbound destinations by ports taken, highest first (top 20).
    pub destinations: Vec<Destination>,
    /// Distinct outbound destinations seen, before the cut to the top 20.
    pub destination_count: u64,
    /// The highest exhaustion ratio of any destination (0 when none).
    /// Infinite, which JSON writes as null, when a destination holds ports
    /// and none is usable.
    #[schemars(with = "Option<f64>")]
    pub max_exhaustion_ratio: f64,
    /// The whole range, all destinations together.
    pub host_ports: HostPorts,
    /// Processes holding CLOSE_WAIT sockets, most first.
    pub close_wait_processes: Vec<SocketOwner>,
    /// CLOSE_WAIT sockets no readable process holds (gone, or not ours to see).
    pub close_wait_unattributed: u64,
    /// connect() and bind() calls that failed with EADDRNOTAVAIL or
    /// EADDRINUSE during a traced `--sample`, per process, most first.
    pub connect_failures: Vec<creators::ConnectFailure>,
    /// Whether the sample was traced, and what tracing saw.
    pub tracing: super::trace::TracingFacts,
}

/// The ephemeral range as a whole: every client socket, whatever its
/// destination. bind(0) and clients without a destination yet need a port
/// no socket holds at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct HostPorts {
    /// Distinct usable ports a client socket holds that connect() could not
    /// take over (anything but TIME_WAIT it may reuse).
    pub in_use: u32,
    /// Distinct usable ports any client socket holds, reusable TIME_WAIT
    /// included: bind(0) without SO_REUSEADDR cannot take those either.
    pub in_use_with_time_wait: u32,
    pub usable: u32,
    /// in_use / usable (0 when nothing is usable and nothing in use).
    pub ratio: f64,
    /// in_use_with_time_wait / usable: what bind(0) and bind-before-connect
    /// face, since they conflict with every TIME_WAIT holder.
    pub ratio_with_time_wait: f64,
    /// connect() tries ports of the low end's parity first (since 4.2,
    /// 07f4c90062f8): how many of those are usable, and held by any client
    /// socket (each one costs the walk a lookup).
    pub first_parity_usable: u32,
    pub first_parity_in_use: u32,
    pub first_parity_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PortCount {
    pub port: u16,
    pub time_wait: u64,
}

/// One outbound destination: (local address, remote address, remote port),
/// the unit the kernel's 4-tuple uniqueness makes ports scarce for.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Destination {
    /// "addr:port", IPv6 as `"[addr]:port"`.
    pub remote: String,
    pub local: String,
    /// Every TIME_WAIT toward it from the ephemeral range.
    pub time_wait: u64,
    /// Of those, the ones connect() may take over now: free, not taken.
    /// Only toward a peer known to send timestamps (`peer_timestamps` true).
    pub time_wait_reusable: u64,
    /// Old enough and covered by tcp_tw_reuse, but toward a peer whose
    /// timestamps nothing shows (`peer_timestamps` null): reusable only if
    /// it sends them, so counted as taken.
    pub time_wait_unconfirmed: u64,
    /// Of those, the ones older than the reuse delay: what tcp_tw_reuse
    /// would free if it covered this destination.
    pub time_wait_aged: u64,
    pub established: u64,
    /// Client-side sockets in other states (SYN_SENT, FIN_WAIT*, …): they hold a port too.
    pub other: u64,
    /// Ports really taken: established + other + TIME_WAIT not reusable.
    /// The figure the severity comes from.
    pub taken: u64,
    /// Every TIME_WAIT counted as taken: the figure without any reuse.
    pub taken_without_reuse: u64,
    /// The figure if the peer sends timestamps: `taken` less the
    /// unconfirmed TIME_WAIT. Equal to `taken` unless `peer_timestamps` is
    /// null.
    pub taken_if_peer_timestamps: u64,
    /// Whether the peer sends TCP timestamps, which tcp_twsk_unique() needs
    /// (`tw_ts_recent_stamp`) before connect() may take over a TIME_WAIT:
    /// true or false from the live connections' tcp_info (sock_diag
    /// INET_DIAG_INFO, false when any of them lacks them), true from reuse
    /// seen during `--sample` or for loopback (both ends are this host);
    /// null when nothing tells (no live connection, the /proc listing, or
    /// timestamps off on this host, so none negotiates them).
    pub peer_timestamps: Option<bool>,
    /// How `peer_timestamps` was decided, in words.
    pub peer_timestamps_evidence: String,
    /// Live connections toward it (past the handshake) that negotiated
    /// timestamps, and that did not (sock_diag only).
    pub live_with_timestamps: u64,
    pub live_without_timestamps: u64,
    /// With `--sample`: 4-tuples in TIME_WAIT at the first listing that
    /// carried a new connection at the second, before their timer could
    /// have run out: connect() took them over, proof the peer sends
    /// timestamps.
    pub reuse_seen: u64,
    /// Whether connect() may reuse its TIME_WAIT: tcp_tw_reuse covers it,
    /// timestamps are on here, and the peer is not known to lack them.
    pub reuse_effective: bool,
    pub usable_ports: u32,
    /// taken / usable_ports: infinite, which JSON writes as null, when no
    /// port is usable and some are taken.
    #[schemars(with = "Option<f64>")]
    pub exhaustion_ratio: f64,
    /// taken_without_reuse / usable_ports.
    #[schemars(with = "Option<f64>")]
    pub ratio_without_reuse: f64,
    /// taken_if_peer_timestamps / usable_ports.
    #[schemars(with = "Option<f64>")]
    pub ratio_if_peer_timestamps: f64,
    /// usable_ports / 60: the sustained rate of new connections this
    /// destination allows without TIME_WAIT reuse.
    pub max_new_per_second: f64,
    /// With reuse effective: usable_ports per reuse delay, the rate at
    /// which ports come back once each TIME_WAIT may be taken over
    /// (assuming the peer sends timestamps when `peer_timestamps` is null).
    pub max_new_per_second_reusing: Option<f64>,
    /// time_wait / 60: the close rate the TIME_WAIT population implies, since
    /// each one lives exactly 60 s.
    pub closes_per_second: f64,
    /// max_new_per_second - closes_per_second: how many more new connections
    /// per second this destination can take before it runs dry.
    pub headroom_per_second: f64,
    /// With `--sample`: new connections per second toward this destination
    /// (client sockets in the second listing that the first did not have).
    pub new_per_second: Option<f64>,
    /// With `--sample`: seconds until no port is left at this destination's
    /// own sampled rate; null when nobody connects to it or the pool is not
    /// shrinking.
    pub seconds_to_exhaustion: Option<f64>,
    /// The processes holding its ESTABLISHED sockets, most first (top 5).
    /// TIME_WAIT sockets have no owner: these are its likely creators.
    pub processes: Vec<DestinationProcess>,
    /// ESTABLISHED sockets toward it no readable process holds (gone, or
    /// not ours to see without root).
    pub processes_unattributed: u64,
    /// Who made its connections and TIME_WAIT, most active closes first.
    pub creators: Vec<creators::Creator>,
    /// "traced": `creators` come from the kernel's tracepoints during
    /// `--sample`; "inferred": from socket listings (see
    /// `attribution_method`).
    pub attribution: creators::Attribution,
    /// How `creators` were found, in words.
    pub attribution_method: String,
    /// Traced connect() failures toward it (EADDRNOTAVAIL: no port left).
    pub connect_failures: Vec<creators::DestinationFailure>,
}

/// A process holding ESTABLISHED sockets toward one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DestinationProcess {
    pub pid: u32,
    pub command: String,
    pub established: u64,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DestKey {
    local: IpAddr,
    remote: IpAddr,
    remote_port: u16,
}

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
    fn new() -> Self {
        FirstListing {
            tuples: HashMap::new(),
            started: std::time::Instant::now(),
        }
    }

    fn record(&mut self, r: &SockRecord) {
        let left = match r.timer_left_ms {
            Some(left) if r.state == TIME_WAIT => left.min(NOT_TIME_WAIT - 1),
            _ => NOT_TIME_WAIT,
        };
        self.tuples.insert(tuple_hash(r), left);
    }
}

/// The sockets of a first listing, for telling new connections from old.
#[derive(Debug, Clone)]
pub struct Sample {
    first: FirstListing,
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
    fn judge(&self, r: &SockRecord) -> (bool, bool) {
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
        let other = r.state != TIME_WAIT || r.timer_left_ms.is_some_and(|left| left > most_left);
        let reused = alive && other;
        (reused, reused)
    }
}

fn tuple_hash(r: &SockRecord) -> u64 {
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
    fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port / 64)] & (1 << (port % 64)) != 0
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
    listening: HashSet<u16>,
    /// Ports inside the range held by sockets only bound (BOUND_INACTIVE).
    bound_only: HashSet<u16>,
    states: [u64; STATE_NAMES.len()],
    time_wait_server: u64,
    time_wait_client: u64,
    time_wait_reusable: u64,
    server_ports: HashMap<u16, u64>,
    destinations: HashMap<DestKey, DestCount>,
    in_use: PortSet,
    /// Ports held by something other than TIME_WAIT connect() may reuse.
    taken: PortSet,
    /// TIME_WAIT on non-listening ports outside the range: (local port,
    /// peer address); which side they are is decided once all are seen.
    unlisted: Vec<(u16, IpAddr)>,
    close_wait_inodes: HashSet<u64>,
}

/// States whose tcp_info tells whether timestamps were negotiated:
/// `tstamp_ok` is settled by the handshake (tcp_rcv_synsent_state_process()
/// on this side), so SYN_SENT and SYN_RECV do not count.
fn past_handshake(state: u8) -> bool {
    matches!(state, 1 | 4 | 5 | 8 | 9 | 11)
}

/// v4-mapped IPv6 addresses are IPv4 peers of a dual-stack socket; naming
/// them as IPv4 keeps one destination one entry.
fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

impl Aggregator {
    pub fn new(range: PortRange, reserved: Vec<PortRange>, policy: ReusePolicy) -> Self {
        Aggregator {
            range,
            reserved,
            policy,
            previous: None,
            listening: HashSet::new(),
            bound_only: HashSet::new(),
            states: [0; STATE_NAMES.len()],
            time_wait_server: 0,
            time_wait_client: 0,
            time_wait_reusable: 0,
            server_ports: HashMap::new(),
            destinations: HashMap::new(),
            in_use: PortSet::new(),
            taken: PortSet::new(),
            unlisted: Vec::new(),
            close_wait_inodes: HashSet::new(),
        }
    }

    /// With `--sample`: the first listing, against which new connections
    /// are counted.
    pub fn with_previous(mut self, previous: Option<Sample>) -> Self {
        self.previous = previous;
        self
    }

    /// First pass: a listening socket marks its port as a server port.
    pub fn listener(&mut self, record: SockRecord) {
        if record.state == LISTEN {
            self.states[usize::from(LISTEN)] += 1;
            self.listening.insert(record.local_port);
        }
    }

    fn usable(&self, port: u16) -> bool {
        self.range.contains(port)
            && !self.listening.contains(&port)
            && !self.bound_only.contains(&port)
            && !self.reserved.iter().any(|r| r.contains(port))
    }

    /// Second pass: every socket.
    pub fn observe(&mut self, record: SockRecord) {
        if record.state == LISTEN {
            // Counted by the first pass.
            return;
        }
        let state = usize::from(record.state);
        // Out-of-range states count as UNKNOWN (index 0), never named.
        let state = if state < STATE_NAMES.len() { state } else { 0 };
        self.states[state] += 1;
        let bound_only = record.state == BOUND_INACTIVE
            || (record.state == CLOSE && record.remote_port == 0 && record.remote.is_unspecified());
        if bound_only {
            // bind() without listen() or connect(): its bind bucket makes
            // connect() skip the port for every destination.
            if self.range.contains(record.local_port) {
                self.bound_only.insert(record.local_port);
            }
            return;
        }
        if record.state == CLOSE_WAIT && record.inode != 0 {
            self.close_wait_inodes.insert(record.inode);
        }
        // A port something listens on is a server's, whatever its number
        // (its accepted connections share it).
        if self.listening.contains(&record.local_port) {
            if record.state == TIME_WAIT {
                self.server_time_wait(record.local_port, 1);
            }
            return;
        }
        if !self.range.contains(record.local_port) {
            // Not a listener and outside the range: a client that bound its
            // own port (NFS, rsh, some database drivers), or a server whose
            // listener is gone. Either way it takes no ephemeral port.
            if record.state == TIME_WAIT {
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
        let (is_new, reused) = self
            .previous
            .as_ref()
            .map_or((false, false), |p| p.judge(&record));
        let count = self.destinations.entry(key).or_default();
        count.new += u64::from(is_new);
        count.reuse_seen += u64::from(reused);
        if past_handshake(record.state) {
            match record.peer_timestamps {
                Some(true) => count.with_timestamps += 1,
                Some(false) => count.without_timestamps += 1,
                None => {}
            }
        }
        match record.state {
            TIME_WAIT => {
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
            ESTABLISHED => {
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
        let mut in_use = 0;
        let mut in_use_with_time_wait = 0;
        let mut first_parity_usable = 0;
        let mut first_parity_in_use = 0;
        if self.range.size() > 0 {
            for port in self.range.low..=self.range.high {
                if !self.usable(port) {
                    continue;
                }
                let held = self.in_use.contains(port);
                in_use_with_time_wait += u32::from(held);
                in_use += u32::from(self.taken.contains(port));
                if port % 2 == self.range.low % 2 {
                    first_parity_usable += 1;
                    first_parity_in_use += u32::from(held);
                }
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
        let mut ranked: Vec<Ranked> = self
            .destinations
            .drain()
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
                    elapsed.map(|secs| super::rates::round_rate(c.new as f64 / secs));
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
                    max_new_per_second_reusing: reuse_effective
                        .then(|| super::rates::round_rate(f64::from(usable) / delay_seconds)),
                    closes_per_second: c.time_wait as f64 / lifetime,
                    headroom_per_second: (f64::from(usable) - c.time_wait as f64) / lifetime,
                    new_per_second,
                    seconds_to_exhaustion: None,
                    creators: creators::inferred(&processes),
                    attribution: creators::Attribution::Inferred,
                    attribution_method: creators::INFERRED_FROM_HOLDERS.to_string(),
                    connect_failures: Vec::new(),
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
        // UNKNOWN (index 0) only collects out-of-range values, never named.
        let states: BTreeMap<String, u64> = STATE_NAMES
            .iter()
            .zip(self.states)
            .skip(1)
            .map(|(name, n)| (name.to_string(), n))
            .collect();
        let mut facts = SocketFacts {
            source,
            fallback_reason: None,
            total: self.states.iter().sum(),
            time_wait: self.states[usize::from(TIME_WAIT)],
            close_wait: self.states[usize::from(CLOSE_WAIT)],
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

fn garbled(path: &Path, message: impl std::fmt::Display) -> FactError {
    FactError::Garbled {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The runtime sysctls `facts::gather` read (full dotted key → value), the
/// one reading of them: the sockets are judged against the same values the
/// rules see.
pub type Sysctls = BTreeMap<String, String>;

/// The ephemeral range and reserved ports; the kernel defaults where this
/// kernel lacks the keys.
fn port_settings(root: &Path, sysctl: &Sysctls) -> Result<(PortRange, Vec<PortRange>), FactError> {
    let value = |name: &str| sysctl.get(&format!("net.ipv4.{name}"));
    let path = |name: &str| root.join("proc/sys/net/ipv4").join(name);
    let range = match value("ip_local_port_range") {
        Some(text) => {
            ports::parse_range(text).map_err(|e| garbled(&path("ip_local_port_range"), e))?
        }
        None => PortRange::default(),
    };
    let reserved = match value("ip_local_reserved_ports") {
        Some(text) => {
            ports::parse_reserved(text).map_err(|e| garbled(&path("ip_local_reserved_ports"), e))?
        }
        None => Vec::new(),
    };
    Ok((range, reserved))
}

/// The sysctls tcp_twsk_unique() reads; absent values are `None`.
fn reuse_settings(sysctl: &Sysctls) -> ReuseSettings {
    let read = |name: &str| -> Option<i64> {
        sysctl
            .get(&format!("net.ipv4.{name}"))
            .and_then(|t| t.trim().parse().ok())
    };
    ReuseSettings {
        tcp_tw_reuse: read("tcp_tw_reuse"),
        tcp_timestamps: read("tcp_timestamps"),
        tcp_tw_reuse_delay: read("tcp_tw_reuse_delay"),
        tcp_tw_timeout: read("tcp_tw_timeout"),
    }
}

/// Every state but LISTEN, which the first pass already has, and the
/// bound-only sockets (kernels before 91051f003948 simply never match it).
fn non_listen_states() -> u32 {
    (1..STATE_NAMES.len() as u8)
        .filter(|&s| s != LISTEN)
        .map(diag::state_bit)
        .fold(diag::state_bit(BOUND_INACTIVE), |a, b| a | b)
}

/// A kernel booted with ipv6.disable=1 has no inet6 diag handler and answers
/// an IPv6 dump with ENOENT: that host simply has no IPv6 sockets.
fn no_such_family(family: u8, err: &diag::DiagError) -> bool {
    family == diag::AF_INET6
        && matches!(
            err,
            diag::DiagError::Kernel(Errno::ENOENT | Errno::EAFNOSUPPORT | Errno::EPROTONOSUPPORT)
        )
}

/// Streams every listed socket over netlink: listeners, then live sockets
/// (with tcp_info when `info`, for the peer's timestamps), then TIME_WAIT
/// without it. The aggregation relies on that order: a destination's live
/// connections are seen before its TIME_WAIT.
fn netlink_passes(
    info: bool,
    mut listener: impl FnMut(SockRecord),
    mut other: impl FnMut(SockRecord),
) -> Result<(), diag::DiagError> {
    let mut families = vec![diag::AF_INET, diag::AF_INET6];
    // No dump where sockstat counts no socket it could find (occupancy.rs).
    let seen = occupancy::Occupancy::read();
    let skip = |family: u8, result: Result<(), diag::DiagError>| match result {
        Err(e) if no_such_family(family, &e) => Ok(()),
        other => other,
    };
    for family in families.clone() {
        if !seen.may_listen(family) {
            continue;
        }
        match diag::dump(family, diag::state_bit(LISTEN), &mut listener) {
            Err(e) if no_such_family(family, &e) => families.retain(|f| *f != family),
            other => other?,
        }
    }
    let ext = if info { diag::EXT_INFO } else { 0 };
    let live = non_listen_states() & !diag::state_bit(TIME_WAIT);
    for &family in &families {
        let states = seen.live_states(family, live, diag::state_bit(BOUND_INACTIVE));
        skip(family, diag::dump_ext(family, states, ext, &mut other))?;
    }
    for &family in families.iter().filter(|_| seen.may_time_wait()) {
        skip(
            family,
            diag::dump(family, diag::state_bit(TIME_WAIT), &mut other),
        )?;
    }
    Ok(())
}

fn gather_netlink(mut agg: Aggregator) -> Result<Aggregator, diag::DiagError> {
    let agg_cell = std::cell::RefCell::new(&mut agg);
    netlink_passes(
        true,
        |r| agg_cell.borrow_mut().listener(r),
        |r| agg_cell.borrow_mut().observe(r),
    )?;
    Ok(agg)
}

fn proc_tables(root: &Path) -> Vec<PathBuf> {
    ["proc/net/tcp", "proc/net/tcp6"]
        .iter()
        .map(|p| root.join(p))
        .filter(|p| metadata_confined(p).is_ok())
        .collect()
}

fn stream_proc(path: &Path, each: impl FnMut(SockRecord)) -> Result<(), FactError> {
    let file = open_streaming(path).map_err(|source| FactError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    proc_tcp::for_each(BufReader::with_capacity(64 * 1024, file), each)
        .map_err(|e| garbled(path, e))
}

fn gather_proc(mut agg: Aggregator, tables: &[PathBuf]) -> Result<Aggregator, FactError> {
    // Two passes: an IPv6 listener can own the port of an IPv4 socket listed
    // before it, so attribution waits until every listener is known.
    for path in tables {
        stream_proc(path, |r| agg.listener(r))?;
    }
    for path in tables {
        stream_proc(path, |r| agg.observe(r))?;
    }
    Ok(agg)
}

/// The first listing of `--sample`: every connected socket's 4-tuple, so
/// the second listing can tell which connections are new. `None` when a
/// fixture tree has no socket tables.
pub fn first_sample(options: &GatherOptions) -> Result<Option<FirstListing>, FactError> {
    let mut listing = FirstListing::new();
    let mut keep = |r: SockRecord| {
        if r.state != LISTEN {
            listing.record(&r);
        }
    };
    if options.is_live() && netlink_passes(false, |_| {}, &mut keep).is_ok() {
        return Ok(Some(listing));
    }
    let mut listing = FirstListing::new();
    let tables = proc_tables(&options.root);
    if tables.is_empty() {
        return Ok(None);
    }
    for path in &tables {
        stream_proc(path, |r| {
            if r.state != LISTEN {
                listing.record(&r);
            }
        })?;
    }
    Ok(Some(listing))
}

/// Gathers socket facts; `None` when a fixture tree has no socket tables.
/// `kernel` decides what tcp_tw_reuse = 2 means; `sysctl` holds the port and
/// reuse settings as gathered; `previous` is the first listing of `--sample`
/// and how long ago it was taken.
pub fn gather(
    options: &GatherOptions,
    kernel: Option<KernelVersion>,
    sysctl: &Sysctls,
    previous: Option<(FirstListing, std::time::Duration)>,
) -> Result<Option<SocketFacts>, FactError> {
    let root = options.root.as_path();
    let (range, reserved) = port_settings(root, sysctl)?;
    let policy = ReusePolicy::from_settings(reuse_settings(sysctl), kernel);
    let previous = previous.map(|(first, elapsed)| Sample { first, elapsed });
    let fresh =
        || Aggregator::new(range, reserved.clone(), policy.clone()).with_previous(previous.clone());
    let mut fallback_reason = None;
    if options.is_live() {
        match gather_netlink(fresh()) {
            Ok(agg) => return Ok(Some(agg.finish(SocketSource::Netlink, root))),
            Err(e) => fallback_reason = Some(e.to_string()),
        }
    }
    let tables = proc_tables(root);
    if tables.is_empty() {
        return Ok(None);
    }
    let mut facts = gather_proc(fresh(), &tables)?.finish(SocketSource::Proc, root);
    facts.fallback_reason = fallback_reason;
    Ok(Some(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: u8, local: &str, lport: u16, remote: &str, rport: u16, inode: u64) -> SockRecord {
        SockRecord {
            state,
            local: local.parse().unwrap(),
            local_port: lport,
            remote: remote.parse().unwrap(),
            remote_port: rport,
            bound_dev_if: 0,
            // Young: 59 s of 60 left.
            timer_left_ms: (state == TIME_WAIT).then_some(59_000),
            inode,
            peer_timestamps: None,
        }
    }

    fn aged(mut r: SockRecord) -> SockRecord {
        r.timer_left_ms = Some(30_000);
        r
    }

    fn policy(reuse: i64, timestamps: i64, kernel: (u32, u32)) -> ReusePolicy {
        ReusePolicy::from_settings(
            ReuseSettings {
                tcp_tw_reuse: Some(reuse),
                tcp_timestamps: Some(timestamps),
                tcp_tw_reuse_delay: None,
                tcp_tw_timeout: None,
            },
            Some(KernelVersion::new(kernel.0, kernel.1, 0)),
        )
    }

    #[test]
    fn reuse_policy_follows_tcp_twsk_unique() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let v4mapped_lo: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        let far: IpAddr = "192.0.2.1".parse().unwrap();
        let near: IpAddr = "192.0.2.2".parse().unwrap();
        let two = policy(2, 1, (6, 1));
        assert_eq!(two.scope, ReuseScope::Loopback);
        assert!(two.covers(near, lo, 0));
        assert!(two.covers(v4mapped_lo, far, 0));
        assert!(two.covers(near, far, LOOPBACK_IFINDEX));
        assert!(!two.covers(near, far, 0));
        // Before 4.18 any non-zero value is "on for all".
        assert_eq!(policy(2, 1, (4, 14)).scope, ReuseScope::All);
        assert_eq!(policy(1, 1, (6, 1)).scope, ReuseScope::All);
        assert_eq!(policy(0, 1, (6, 1)).scope, ReuseScope::None);
        // No timestamps, no recorded peer timestamp: nothing is reused.
        assert_eq!(policy(1, 0, (6, 1)).scope, ReuseScope::None);
        // Unknown version: 2 is read as loopback only.
        let unknown = ReusePolicy::from_settings(
            ReuseSettings {
                tcp_tw_reuse: Some(2),
                ..Default::default()
            },
            None,
        );
        assert_eq!(unknown.scope, ReuseScope::Loopback);
        // The delay: the sysctl where it exists (6.14+), else the 2 s bound.
        assert_eq!(two.delay_ms, 2000);
        assert!(!two.aged(Some(58_500)));
        assert!(two.aged(Some(57_000)));
        assert!(!two.aged(None));
        let quick = ReusePolicy::from_settings(
            ReuseSettings {
                tcp_tw_reuse: Some(1),
                tcp_tw_reuse_delay: Some(1),
                tcp_tw_timeout: Some(30),
                ..Default::default()
            },
            None,
        );
        assert_eq!((quick.delay_ms, quick.time_wait_ms), (1, 30_000));
        assert!(quick.aged(Some(29_990)));
    }

    #[test]
    fn reusable_time_wait_is_free_and_listeners_in_range_are_not_usable() {
        let range = PortRange {
            low: 40000,
            high: 40099,
        };
        let mut agg = Aggregator::new(range, vec![], policy(1, 1, (6, 1)));
        agg.listener(rec(LISTEN, "0.0.0.0", 40010, "0.0.0.0", 0, 1));
        // A live connection that negotiated timestamps: the peer sends them.
        let mut est = rec(ESTABLISHED, "10.0.0.1", 40001, "10.0.0.2", 80, 9);
        est.peer_timestamps = Some(true);
        agg.observe(est);
        // 60 TIME_WAIT toward one destination: 40 old enough to reuse, 20 young.
        for p in 0..60u16 {
            let r = rec(TIME_WAIT, "10.0.0.1", 40020 + p, "10.0.0.2", 80, 0);
            agg.observe(if p < 40 { aged(r) } else { r });
        }
        let root = tempfile::tempdir().unwrap();
        let f = agg.finish(SocketSource::Proc, root.path());
        assert_eq!(f.listeners_in_range, 1);
        assert_eq!(f.usable_ports, 99);
        let d = &f.destinations[0];
        assert_eq!(
            (d.time_wait, d.time_wait_reusable, d.time_wait_aged),
            (60, 40, 40)
        );
        assert_eq!(d.taken, 21);
        assert!(d.reuse_effective);
        assert!((d.exhaustion_ratio - 21.0 / 99.0).abs() < 1e-9);
        assert_eq!(f.time_wait_reusable, 40);
        // The host view: 21 ports taken, 61 with the reusable TIME_WAIT.
        assert_eq!(f.host_ports.in_use, 21);
        assert_eq!(f.host_ports.in_use_with_time_wait, 61);
        assert_eq!(f.host_ports.usable, 99);
        // Ports of 40000's parity: 50, minus the listener's 40010.
        assert_eq!(f.host_ports.first_parity_usable, 49);
        assert_eq!(f.host_ports.first_parity_in_use, 30);

        // The same sockets with reuse off: every TIME_WAIT is taken.
        let mut off = Aggregator::new(range, vec![], policy(0, 1, (6, 1)));
        for p in 0..60u16 {
            off.observe(aged(rec(
                TIME_WAIT,
                "10.0.0.1",
                40020 + p,
                "10.0.0.2",
                80,
                0,
            )));
        }
        let f = off.finish(SocketSource::Proc, root.path());
        let d = &f.destinations[0];
        assert_eq!(
            (d.taken, d.time_wait_reusable, d.time_wait_aged),
            (60, 0, 60)
        );
        assert!(!d.reuse_effective);
    }

    #[test]
    fn a_port_outside_the_range_proves_nothing_without_a_listener() {
        let range = PortRange {
            low: 40000,
            high: 40099,
        };
        let mut agg = Aggregator::new(range, vec![], policy(0, 1, (6, 1)));
        // An NFS-like client binding its own low ports toward one server.
        for p in 0..20u16 {
            agg.observe(rec(TIME_WAIT, "10.0.0.1", 700 + p, "10.0.0.5", 2049, 0));
        }
        // A server whose listener on 8443 is gone: one peer, many of its ports.
        for p in 0..12u16 {
            agg.observe(rec(TIME_WAIT, "10.0.0.1", 8443, "10.0.0.7", 50000 + p, 0));
        }
        let root = tempfile::tempdir().unwrap();
        let f = agg.finish(SocketSource::Proc, root.path());
        assert_eq!(f.time_wait_client_side, 20);
        assert_eq!(f.time_wait_server_side, 12);
        assert_eq!(f.server_side_ports[0].port, 8443);
        // Neither takes an ephemeral port.
        assert!(f.destinations.is_empty());
        assert_eq!(f.host_ports.in_use, 0);
    }

    #[test]
    fn sampled_rates_are_per_destination() {
        let range = PortRange {
            low: 40000,
            high: 40999,
        };
        let busy = |p: u16| rec(TIME_WAIT, "10.0.0.1", 40000 + p, "10.0.0.2", 80, 0);
        let idle = |p: u16| rec(TIME_WAIT, "10.0.0.1", 40500 + p, "10.0.0.3", 80, 0);
        let mut first = FirstListing::new();
        for r in (0..100).map(busy).chain((0..100).map(idle)) {
            first.record(&r);
        }
        let mut agg =
            Aggregator::new(range, vec![], policy(0, 1, (6, 1))).with_previous(Some(Sample {
                first,
                elapsed: std::time::Duration::from_secs(2),
            }));
        // The same TIME_WAIT 2 s on: 2 s less of its timer left.
        let older = |mut r: SockRecord| {
            r.timer_left_ms = Some(57_000);
            r
        };
        for p in 0..300 {
            agg.observe(if p < 100 { older(busy(p)) } else { busy(p) });
        }
        for p in 0..100 {
            agg.observe(older(idle(p)));
        }
        let root = tempfile::tempdir().unwrap();
        let f = agg.finish(SocketSource::Proc, root.path());
        let busy = &f.destinations[0];
        assert_eq!(busy.remote, "10.0.0.2:80");
        assert_eq!(busy.new_per_second, Some(100.0));
        // 700 free ports, filling at 100/s and draining at 300/60 = 5/s:
        // 7.4 s, said as 8 (rounded up, never "0 s" while ports are free).
        assert_eq!(busy.seconds_to_exhaustion, Some(8.0));
        let idle = &f.destinations[1];
        assert_eq!(idle.new_per_second, Some(0.0));
        assert_eq!(idle.seconds_to_exhaustion, None);
    }

    #[test]
    fn attributes_time_wait_and_ranks_destinations() {
        let range = PortRange {
            low: 40000,
            high: 40099,
        };
        let mut agg = Aggregator::new(
            range,
            vec![PortRange {
                low: 40090,
                high: 40099,
            }],
            policy(0, 1, (6, 1)),
        );
        agg.listener(rec(LISTEN, "0.0.0.0", 8080, "0.0.0.0", 0, 1));
        agg.listener(rec(LISTEN, "::", 40050, "::", 0, 2));
        // Server side: on a listening port. A port below the range with no
        // listener is a client that bound its own port.
        agg.observe(rec(TIME_WAIT, "10.0.0.1", 8080, "10.0.0.9", 40001, 0));
        agg.observe(rec(TIME_WAIT, "10.0.0.1", 22, "10.0.0.9", 40002, 0));
        // A listener inside the range (seen in the IPv6 table) still makes it server side.
        agg.observe(rec(TIME_WAIT, "10.0.0.1", 40050, "10.0.0.9", 50000, 0));
        // Client side toward two destinations; the v4-mapped one merges with IPv4.
        for p in 0..30 {
            agg.observe(rec(TIME_WAIT, "10.0.0.1", 40000 + p, "10.0.0.2", 80, 0));
        }
        agg.observe(rec(
            TIME_WAIT,
            "::ffff:10.0.0.1",
            40031,
            "::ffff:10.0.0.2",
            80,
            0,
        ));
        agg.observe(rec(ESTABLISHED, "10.0.0.1", 40032, "10.0.0.2", 80, 5));
        agg.observe(rec(2, "10.0.0.1", 40033, "10.0.0.2", 80, 6));
        agg.observe(rec(TIME_WAIT, "2001:db8::1", 40040, "2001:db8::2", 443, 0));
        agg.observe(rec(CLOSE_WAIT, "10.0.0.1", 8080, "10.0.0.9", 40003, 77));
        let root = tempfile::tempdir().unwrap();
        let f = agg.finish(SocketSource::Proc, root.path());

        assert_eq!(f.time_wait, 35);
        assert_eq!(f.states["TIME_WAIT"], 35);
        assert_eq!(f.states["ESTABLISHED"], 1);
        assert_eq!(f.states["LISTEN"], 2);
        assert_eq!(f.states["SYN_SENT"], 1);
        assert_eq!(f.close_wait, 1);
        assert_eq!(f.total, 40);
        assert_eq!(f.time_wait_server_side, 2);
        assert_eq!(f.time_wait_client_side, 33);
        // 100 in the range, 10 reserved, one held by the listener on 40050.
        assert_eq!(f.usable_ports, 89);
        assert_eq!(f.reserved_in_range, 10);
        assert_eq!(f.listeners_in_range, 1);
        assert_eq!(f.listening_ports, vec![8080, 40050]);
        assert_eq!(f.server_side_ports.len(), 2);
        assert_eq!(f.destination_count, 2);
        let top = &f.destinations[0];
        assert_eq!(top.remote, "10.0.0.2:80");
        assert_eq!(top.local, "10.0.0.1");
        assert_eq!((top.time_wait, top.established, top.other), (31, 1, 1));
        assert!((top.exhaustion_ratio - 33.0 / 89.0).abs() < 1e-9);
        assert!((top.max_new_per_second - 89.0 / 60.0).abs() < 1e-9);
        assert_eq!(f.max_exhaustion_ratio, top.exhaustion_ratio);
        assert_eq!(f.destinations[1].remote, "[2001:db8::2]:443");
        assert_eq!(f.close_wait_unattributed, 1);
    }

    #[test]
    fn destinations_name_the_holders_of_their_live_connections() {
        let range = PortRange {
            low: 40000,
            high: 40999,
        };
        let root = tempfile::tempdir().unwrap();
        let holder = |pid: u32, comm: &str, inodes: std::ops::Range<u64>| {
            let dir = root.path().join(format!("proc/{pid}"));
            std::fs::create_dir_all(dir.join("fd")).unwrap();
            std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
            for inode in inodes {
                std::os::unix::fs::symlink(
                    format!("socket:[{inode}]"),
                    dir.join("fd").join(inode.to_string()),
                )
                .unwrap();
            }
        };
        // Seven processes toward one destination, one with most; one
        // socket's holder is unreadable; a CLOSE_WAIT held by the same walk.
        holder(300, "curl", 100..112);
        for (i, pid) in (401..=406).enumerate() {
            let first = 200 + 10 * i as u64;
            holder(pid, "worker", first..first + 1 + i as u64 % 2);
        }
        holder(500, "leaky", 900..901);
        let mut agg = Aggregator::new(range, vec![], policy(0, 1, (6, 1)));
        let mut port = 40000;
        let mut est = |agg: &mut Aggregator, inode: u64| {
            port += 1;
            agg.observe(rec(ESTABLISHED, "10.0.0.1", port, "10.0.0.2", 443, inode));
        };
        for inode in 100..112 {
            est(&mut agg, inode);
        }
        for i in 0..6u64 {
            for inode in (200 + 10 * i)..(200 + 10 * i + 1 + i % 2) {
                est(&mut agg, inode);
            }
        }
        est(&mut agg, 999);
        agg.observe(rec(CLOSE_WAIT, "10.0.0.1", 8080, "10.0.0.9", 50000, 900));
        let f = agg.finish(SocketSource::Proc, root.path());
        let d = &f.destinations[0];
        let named: Vec<(u32, &str, u64)> = d
            .processes
            .iter()
            .map(|p| (p.pid, p.command.as_str(), p.established))
            .collect();
        // Most first, then by pid; five at most.
        assert_eq!(
            named,
            vec![
                (300, "curl", 12),
                (402, "worker", 2),
                (404, "worker", 2),
                (406, "worker", 2),
                (401, "worker", 1),
            ]
        );
        assert_eq!(d.processes_unattributed, 1);
        assert_eq!(f.close_wait_processes[0].pid, 500);
        assert_eq!(f.close_wait_unattributed, 0);
    }

    #[test]
    fn the_socket_source_reads_the_same_in_json_and_in_text() {
        for source in [SocketSource::Netlink, SocketSource::Proc] {
            assert_eq!(serde_json::to_value(source).unwrap(), source.to_string());
        }
    }

    #[test]
    fn serialises_every_field_even_when_empty() {
        let json = serde_json::to_value(SocketFacts::default()).unwrap();
        for field in [
            "source",
            "states",
            "time_wait",
            "close_wait",
            "time_wait_server_side",
            "time_wait_client_side",
            "destinations",
            "time_wait_reusable",
            "reuse",
            "listeners_in_range",
            "host_ports",
            "close_wait_processes",
            "fallback_reason",
            "connect_failures",
            "tracing",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn gathers_from_a_fixture_root() {
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        let sysctl = |range: &str| -> Sysctls {
            [
                ("net.ipv4.ip_local_port_range", range),
                ("net.ipv4.ip_local_reserved_ports", "40000-40999"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        std::fs::write(
            net.join("tcp"),
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23071 1 0000000000000000 100 0 0 10 0
   1: 0200007F:9C40 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   2: 0100007F:1F90 0200007F:9C41 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
",
        )
        .unwrap();
        let facts = gather(
            &GatherOptions::new(root.path()),
            None,
            &sysctl("32768 60999"),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(facts.source, SocketSource::Proc);
        assert_eq!(facts.time_wait, 2);
        assert_eq!(facts.time_wait_client_side, 1);
        assert_eq!(facts.time_wait_server_side, 1);
        assert_eq!(facts.usable_ports, 28232 - 1000);
        assert_eq!(facts.destinations[0].remote, "127.0.0.1:8080");

        let err = gather(
            &GatherOptions::new(root.path()),
            None,
            &sysctl("lots"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ip_local_port_range"), "{err}");
        std::fs::write(net.join("tcp6"), "  sl  local\n   0: 0100007F:1F90 zz\n").unwrap();
        let err = gather(
            &GatherOptions::new(root.path()),
            None,
            &sysctl("32768 60999"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("tcp6") && err.contains("line 2"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            gather(
                &GatherOptions::new(empty.path()),
                None,
                &Sysctls::new(),
                None
            )
            .unwrap(),
            None
        );
    }

    fn live(state: u8, lport: u16, remote: &str, timestamps: Option<bool>) -> SockRecord {
        let mut r = rec(state, "10.0.0.1", lport, remote, 80, 0);
        r.peer_timestamps = timestamps;
        r
    }

    fn narrow() -> PortRange {
        PortRange {
            low: 40000,
            high: 40199,
        }
    }

    #[test]
    fn time_wait_is_reusable_only_toward_a_peer_known_to_send_timestamps() {
        let mut agg = Aggregator::new(narrow(), vec![], policy(1, 1, (6, 18)));
        // Live connections come first in the stream, as netlink_passes lists them.
        agg.observe(live(ESTABLISHED, 40190, "10.0.0.2", Some(true)));
        agg.observe(live(ESTABLISHED, 40191, "10.0.0.3", Some(false)));
        // A SYN_SENT says nothing yet: tstamp_ok is settled by the handshake.
        agg.observe(live(2, 40192, "10.0.0.3", Some(false)));
        agg.observe(live(2, 40193, "10.0.0.4", Some(false)));
        for p in 0..120 {
            for remote in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
                agg.observe(aged(rec(TIME_WAIT, "10.0.0.1", 40000 + p, remote, 80, 0)));
            }
        }
        let root = tempfile::tempdir().unwrap();
        let f = agg.finish(SocketSource::Netlink, root.path());
        let by = |remote: &str| {
            f.destinations
                .iter()
                .find(|d| d.remote == remote)
                .unwrap()
                .clone()
        };
        let yes = by("10.0.0.2:80");
        assert_eq!(yes.peer_timestamps, Some(true));
        assert_eq!((yes.time_wait_reusable, yes.taken), (120, 1));
        assert!(yes.reuse_effective);
        // 200 ports per reuse delay (2 s without tcp_tw_reuse_delay).
        assert_eq!(yes.max_new_per_second_reusing, Some(100.0));
        let no = by("10.0.0.3:80");
        assert_eq!(no.peer_timestamps, Some(false));
        assert_eq!(
            (no.live_with_timestamps, no.live_without_timestamps),
            (0, 1)
        );
        assert_eq!((no.time_wait_reusable, no.taken), (0, 122));
        assert!(!no.reuse_effective);
        assert_eq!(no.max_new_per_second_reusing, None);
        assert_eq!(no.exhaustion_ratio, no.ratio_without_reuse);
        let unknown = by("10.0.0.4:80");
        assert_eq!(unknown.peer_timestamps, None);
        assert_eq!(
            (
                unknown.time_wait_reusable,
                unknown.time_wait_unconfirmed,
                unknown.taken,
                unknown.taken_if_peer_timestamps
            ),
            (0, 120, 121, 1)
        );
        assert_eq!(unknown.exhaustion_ratio, unknown.ratio_without_reuse);
        assert_eq!(unknown.ratio_if_peer_timestamps, 1.0 / 200.0);
        assert_eq!(f.time_wait_reusable, 120);
        assert_eq!(f.time_wait_unconfirmed, 120);
        // bind(0) conflicts with every TIME_WAIT holder: all 120 ports and
        // the live ones are held for it.
        assert_eq!(f.host_ports.in_use_with_time_wait, 124);
        assert_eq!(f.host_ports.ratio_with_time_wait, 124.0 / 200.0);
    }

    #[test]
    fn loopback_peers_are_this_host_and_off_here_tells_nothing() {
        let mut agg = Aggregator::new(narrow(), vec![], policy(1, 1, (6, 18)));
        for p in 0..10 {
            agg.observe(aged(rec(
                TIME_WAIT,
                "127.0.0.1",
                40000 + p,
                "127.0.0.1",
                6379,
                0,
            )));
        }
        let root = tempfile::tempdir().unwrap();
        let f = agg.finish(SocketSource::Proc, root.path());
        assert_eq!(f.destinations[0].peer_timestamps, Some(true));
        assert_eq!(f.destinations[0].time_wait_reusable, 10);

        let mut agg = Aggregator::new(narrow(), vec![], policy(1, 0, (6, 18)));
        agg.observe(live(ESTABLISHED, 40190, "10.0.0.3", Some(false)));
        let f = agg.finish(SocketSource::Netlink, root.path());
        assert_eq!(f.destinations[0].peer_timestamps, None);
        assert!(
            f.destinations[0]
                .peer_timestamps_evidence
                .contains("off on this host")
        );
    }

    #[test]
    fn reuse_seen_during_the_sample_proves_the_peer_sends_timestamps() {
        let tw = |p: u16, left: u32| {
            let mut r = rec(TIME_WAIT, "10.0.0.1", 40000 + p, "10.0.0.2", 80, 0);
            r.timer_left_ms = Some(left);
            r
        };
        let mut first = FirstListing::new();
        // 0..10: in TIME_WAIT with 50 s left; 10..20: 1 ms left, expired since.
        for p in 0..10 {
            first.record(&tw(p, 50_000));
        }
        for p in 10..20 {
            first.record(&tw(p, 1));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut agg =
            Aggregator::new(narrow(), vec![], policy(1, 1, (6, 18))).with_previous(Some(Sample {
                first,
                elapsed: std::time::Duration::from_secs(1),
            }));
        // 0..3 carry a live connection again, 3..6 went back to TIME_WAIT
        // with a fresh timer, 6..10 are the same TIME_WAIT, older now.
        for p in 0..3 {
            agg.observe(rec(ESTABLISHED, "10.0.0.1", 40000 + p, "10.0.0.2", 80, 0));
        }
        // (5: younger than the old one could be after the 1 s between the
        // readings, though with less of its timer left than it had.)
        for p in 3..6 {
            agg.observe(tw(p, if p == 5 { 49_500 } else { 59_000 }));
        }
        for p in 6..10 {
            agg.observe(tw(p, 49_000));
        }
        // Expired before they came back: no proof of anything.
        for p in 10..20 {
            agg.observe(rec(ESTABLISHED, "10.0.0.1", 40000 + p, "10.0.0.2", 80, 0));
        }
        let root = tempfile::tempdir().unwrap();
        let f = agg.finish(SocketSource::Proc, root.path());
        let d = &f.destinations[0];
        assert_eq!(d.reuse_seen, 6);
        assert_eq!(d.peer_timestamps, Some(true));
        assert!(d.peer_timestamps_evidence.contains("took over 6"));
        // The reused 4-tuples are new connections, though seen before.
        assert_eq!(d.new_per_second, Some(6.0));
    }
}
