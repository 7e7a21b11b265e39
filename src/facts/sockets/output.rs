//! What the socket facts say: the types the JSON output is made of.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::{PortRange, ReusePolicy, SocketOwner, creators};

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
    /// States the listing did not look for, whose `states` count is then
    /// unknown rather than 0 (absent when every state was listed):
    /// "NEW_SYN_RECV" when every TCP socket hashed in the namespace was a
    /// listener (/proc/net/sockstat `inuse`), so the kernel's connection
    /// table, shared by every namespace, was not walked for request sockets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlisted_states: Vec<String>,
    /// connect() and bind() calls that failed with EADDRNOTAVAIL or
    /// EADDRINUSE during a traced `--sample`, per process, most first.
    pub connect_failures: Vec<creators::ConnectFailure>,
    /// Whether the sample was traced, and what tracing saw.
    pub tracing: crate::facts::trace::TracingFacts,
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
    /// The process its findings name as the creator, with the words for
    /// it; null when nothing names anyone.
    pub top_creator: Option<super::TopCreator>,
}

/// A process holding ESTABLISHED sockets toward one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DestinationProcess {
    pub pid: u32,
    pub command: String,
    pub established: u64,
}
