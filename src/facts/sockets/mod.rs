//! TCP sockets: how many in each state, whose TIME_WAIT it is, how close each
//! destination is to running out of ephemeral ports, and which processes leak
//! CLOSE_WAIT.
//!
//! Live, the kernel lists them over sock_diag ([`diag`]); under `--root`, or
//! when netlink is refused, /proc/net/tcp{,6} ([`proc_tcp`]). Both feed one
//! [`Aggregator`] record by record, so memory grows with the number of
//! distinct destinations and listening ports, never with the number of
//! sockets. Listening ports are gathered first because attribution needs them.

pub mod diag;
pub mod owners;
pub mod proc_tcp;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufReader;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde::Serialize;

pub use super::ports::{self, PortRange};
use super::{FactError, GatherOptions, read_optional};
pub use owners::SocketOwner;

/// TIME_WAIT lasts TCP_TIMEWAIT_LEN (include/net/tcp.h); no sysctl changes it.
pub const TIME_WAIT_SECONDS: f64 = 60.0;
/// How many destinations the facts keep, by pressure.
pub const TOP_DESTINATIONS: usize = 20;
const TOP_SERVER_PORTS: usize = 10;

pub const ESTABLISHED: u8 = 1;
pub const TIME_WAIT: u8 = 6;
pub const CLOSE_WAIT: u8 = 8;
pub const LISTEN: u8 = 10;

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

/// One socket as either listing reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockRecord {
    pub state: u8,
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// 0 for TIME_WAIT: those have no file.
    pub inode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SocketFacts {
    /// "netlink" (sock_diag) or "proc" (/proc/net/tcp{,6}).
    pub source: String,
    /// Why netlink was not used on a live host, if it was refused.
    pub fallback_reason: Option<String>,
    /// Every TCP state name → sockets in it (0 included), IPv4 and IPv6.
    pub states: BTreeMap<String, u64>,
    pub total: u64,
    pub time_wait: u64,
    pub close_wait: u64,
    /// TIME_WAIT on a listening port or a port outside the ephemeral range:
    /// this host closed first as a server. tcp_tw_reuse cannot help these.
    pub time_wait_server_side: u64,
    /// TIME_WAIT on an ephemeral local port: outbound connections this host
    /// closed first; they hold ports toward their destination.
    pub time_wait_client_side: u64,
    pub listening_ports: Vec<u16>,
    /// Server-side TIME_WAIT by local port, most first (top 10).
    pub server_side_ports: Vec<PortCount>,
    pub ephemeral_range: PortRange,
    /// Reserved ports (ip_local_reserved_ports) inside the ephemeral range.
    pub reserved_in_range: u32,
    /// Ports connect() may choose toward one destination.
    pub usable_ports: u32,
    /// Outbound destinations by port pressure, highest first (top 20).
    pub destinations: Vec<Destination>,
    /// Distinct outbound destinations seen, before the cut to the top 20.
    pub destination_count: u64,
    /// The highest exhaustion ratio of any destination (0 when none).
    pub max_exhaustion_ratio: f64,
    /// Processes holding CLOSE_WAIT sockets, most first.
    pub close_wait_processes: Vec<SocketOwner>,
    /// CLOSE_WAIT sockets no readable process holds (gone, or not ours to see).
    pub close_wait_unattributed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortCount {
    pub port: u16,
    pub time_wait: u64,
}

/// One outbound destination: (local address, remote address, remote port),
/// the unit the kernel's 4-tuple uniqueness makes ports scarce for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Destination {
    /// "addr:port", IPv6 as `"[addr]:port"`.
    pub remote: String,
    pub local: String,
    pub time_wait: u64,
    pub established: u64,
    /// Client-side sockets in other states (SYN_SENT, FIN_WAIT*, …): they hold a port too.
    pub other: u64,
    pub usable_ports: u32,
    /// (time_wait + established + other) / usable_ports.
    pub exhaustion_ratio: f64,
    /// usable_ports / 60: the sustained rate of new connections this
    /// destination allows without TIME_WAIT reuse.
    pub max_new_per_second: f64,
    /// time_wait / 60: the close rate the TIME_WAIT population implies, since
    /// each one lives exactly 60 s.
    pub closes_per_second: f64,
    /// max_new_per_second - closes_per_second: how many more new connections
    /// per second this destination can take before it runs dry.
    pub headroom_per_second: f64,
    /// With `--sample`: seconds until no port is left if every observed new
    /// outbound connection went here; null when the pool is not shrinking.
    pub seconds_to_exhaustion: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct DestCount {
    time_wait: u64,
    established: u64,
    other: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DestKey {
    local: IpAddr,
    remote: IpAddr,
    remote_port: u16,
}

/// Folds socket records into counts as they stream past.
#[derive(Debug)]
pub struct Aggregator {
    range: PortRange,
    listening: HashSet<u16>,
    states: [u64; STATE_NAMES.len()],
    time_wait_server: u64,
    time_wait_client: u64,
    server_ports: HashMap<u16, u64>,
    destinations: HashMap<DestKey, DestCount>,
    close_wait_inodes: HashSet<u64>,
}

/// v4-mapped IPv6 addresses are IPv4 peers of a dual-stack socket; naming
/// them as IPv4 keeps one destination one entry.
fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

impl Aggregator {
    pub fn new(range: PortRange) -> Self {
        Aggregator {
            range,
            listening: HashSet::new(),
            states: [0; STATE_NAMES.len()],
            time_wait_server: 0,
            time_wait_client: 0,
            server_ports: HashMap::new(),
            destinations: HashMap::new(),
            close_wait_inodes: HashSet::new(),
        }
    }

    /// First pass: a listening socket marks its port as a server port.
    pub fn listener(&mut self, record: SockRecord) {
        if record.state == LISTEN {
            self.states[usize::from(LISTEN)] += 1;
            self.listening.insert(record.local_port);
        }
    }

    fn is_server_side(&self, local_port: u16) -> bool {
        self.listening.contains(&local_port) || !self.range.contains(local_port)
    }

    /// Second pass: every socket.
    pub fn observe(&mut self, record: SockRecord) {
        if record.state == LISTEN {
            // Counted by the first pass.
            return;
        }
        let state = usize::from(record.state).min(STATE_NAMES.len() - 1);
        self.states[state] += 1;
        match record.state {
            CLOSE_WAIT if record.inode != 0 => {
                self.close_wait_inodes.insert(record.inode);
            }
            _ => {}
        }
        let server = self.is_server_side(record.local_port);
        if record.state == TIME_WAIT {
            if server {
                self.time_wait_server += 1;
                *self.server_ports.entry(record.local_port).or_default() += 1;
            } else {
                self.time_wait_client += 1;
            }
        }
        if server {
            return;
        }
        let key = DestKey {
            local: canonical(record.local),
            remote: canonical(record.remote),
            remote_port: record.remote_port,
        };
        let count = self.destinations.entry(key).or_default();
        match record.state {
            TIME_WAIT => count.time_wait += 1,
            ESTABLISHED => count.established += 1,
            _ => count.other += 1,
        }
    }

    pub fn finish(self, source: &str, reserved: &[PortRange], root: &Path) -> SocketFacts {
        let usable = ports::usable_ports(self.range, reserved);
        let per = |n: u64| {
            if usable == 0 {
                // No usable port at all: any outbound connection fails.
                if n == 0 { 0.0 } else { f64::INFINITY }
            } else {
                n as f64 / f64::from(usable)
            }
        };
        let mut ranked: Vec<(DestKey, DestCount)> = self.destinations.into_iter().collect();
        let destination_count = ranked.len() as u64;
        let in_use = |c: &DestCount| c.time_wait + c.established + c.other;
        ranked.sort_by(|(ka, a), (kb, b)| {
            in_use(b).cmp(&in_use(a)).then_with(|| {
                (ka.remote, ka.remote_port, ka.local).cmp(&(kb.remote, kb.remote_port, kb.local))
            })
        });
        ranked.truncate(TOP_DESTINATIONS);
        let destinations: Vec<Destination> = ranked
            .into_iter()
            .map(|(key, c)| Destination {
                remote: SocketAddr::new(key.remote, key.remote_port).to_string(),
                local: key.local.to_string(),
                time_wait: c.time_wait,
                established: c.established,
                other: c.other,
                usable_ports: usable,
                exhaustion_ratio: per(in_use(&c)),
                max_new_per_second: f64::from(usable) / TIME_WAIT_SECONDS,
                closes_per_second: c.time_wait as f64 / TIME_WAIT_SECONDS,
                headroom_per_second: (f64::from(usable) - c.time_wait as f64) / TIME_WAIT_SECONDS,
                seconds_to_exhaustion: None,
            })
            .collect();
        let max_exhaustion_ratio = destinations.first().map_or(0.0, |d| d.exhaustion_ratio);

        let mut server_ports: Vec<PortCount> = self
            .server_ports
            .into_iter()
            .map(|(port, time_wait)| PortCount { port, time_wait })
            .collect();
        server_ports.sort_by(|a, b| b.time_wait.cmp(&a.time_wait).then(a.port.cmp(&b.port)));
        server_ports.truncate(TOP_SERVER_PORTS);
        let mut listening_ports: Vec<u16> = self.listening.into_iter().collect();
        listening_ports.sort_unstable();

        let (close_wait_processes, close_wait_unattributed) =
            owners::find(root, &self.close_wait_inodes);
        // UNKNOWN (index 0) only collects out-of-range values, never named.
        let states: BTreeMap<String, u64> = STATE_NAMES
            .iter()
            .zip(self.states)
            .skip(1)
            .map(|(name, n)| (name.to_string(), n))
            .collect();
        SocketFacts {
            source: source.to_string(),
            fallback_reason: None,
            total: self.states.iter().sum(),
            time_wait: self.states[usize::from(TIME_WAIT)],
            close_wait: self.states[usize::from(CLOSE_WAIT)],
            states,
            time_wait_server_side: self.time_wait_server,
            time_wait_client_side: self.time_wait_client,
            listening_ports,
            server_side_ports: server_ports,
            ephemeral_range: self.range,
            reserved_in_range: self.range.size() - usable,
            usable_ports: usable,
            destinations,
            destination_count,
            max_exhaustion_ratio,
            close_wait_processes,
            close_wait_unattributed,
        }
    }
}

fn garbled(path: &Path, message: impl std::fmt::Display) -> FactError {
    FactError::Garbled {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The ephemeral range and reserved ports, from the root's sysctls; the
/// kernel defaults where the files are absent.
fn port_settings(root: &Path) -> Result<(PortRange, Vec<PortRange>), FactError> {
    let range_path = root.join("proc/sys/net/ipv4/ip_local_port_range");
    let range = match read_optional(&range_path)? {
        Some(text) => ports::parse_range(&text).map_err(|e| garbled(&range_path, e))?,
        None => PortRange::default(),
    };
    let reserved_path = root.join("proc/sys/net/ipv4/ip_local_reserved_ports");
    let reserved = match read_optional(&reserved_path)? {
        Some(text) => ports::parse_reserved(&text).map_err(|e| garbled(&reserved_path, e))?,
        None => Vec::new(),
    };
    Ok((range, reserved))
}

/// Every state but LISTEN, which the first pass already has.
fn non_listen_states() -> u32 {
    (1..STATE_NAMES.len() as u8)
        .filter(|&s| s != LISTEN)
        .map(diag::state_bit)
        .fold(0, |a, b| a | b)
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

fn gather_netlink(range: PortRange) -> Result<Aggregator, diag::DiagError> {
    let mut agg = Aggregator::new(range);
    let mut families = vec![diag::AF_INET, diag::AF_INET6];
    for family in families.clone() {
        match diag::dump(family, diag::state_bit(LISTEN), |r| agg.listener(r)) {
            Err(e) if no_such_family(family, &e) => families.retain(|f| *f != family),
            other => other?,
        }
    }
    for family in families {
        diag::dump(family, non_listen_states(), |r| agg.observe(r))?;
    }
    Ok(agg)
}

fn proc_tables(root: &Path) -> Vec<PathBuf> {
    ["proc/net/tcp", "proc/net/tcp6"]
        .iter()
        .map(|p| root.join(p))
        .filter(|p| p.exists())
        .collect()
}

fn stream_proc(path: &Path, each: impl FnMut(SockRecord)) -> Result<(), FactError> {
    let file = super::open_streaming(path).map_err(|source| FactError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    proc_tcp::for_each(BufReader::with_capacity(64 * 1024, file), each)
        .map_err(|e| garbled(path, e))
}

fn gather_proc(range: PortRange, tables: &[PathBuf]) -> Result<Aggregator, FactError> {
    let mut agg = Aggregator::new(range);
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

/// Gathers socket facts; `None` when a fixture tree has no socket tables.
pub fn gather(options: &GatherOptions) -> Result<Option<SocketFacts>, FactError> {
    let root = options.root.as_path();
    let (range, reserved) = port_settings(root)?;
    let mut fallback_reason = None;
    if options.is_live() {
        match gather_netlink(range) {
            Ok(agg) => return Ok(Some(agg.finish("netlink", &reserved, root))),
            Err(e) => fallback_reason = Some(e.to_string()),
        }
    }
    let tables = proc_tables(root);
    if tables.is_empty() {
        return Ok(None);
    }
    let mut facts = gather_proc(range, &tables)?.finish("proc", &reserved, root);
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
            inode,
        }
    }

    #[test]
    fn attributes_time_wait_and_ranks_destinations() {
        let range = PortRange {
            low: 40000,
            high: 40099,
        };
        let mut agg = Aggregator::new(range);
        agg.listener(rec(LISTEN, "0.0.0.0", 8080, "0.0.0.0", 0, 1));
        agg.listener(rec(LISTEN, "::", 40050, "::", 0, 2));
        // Server side: on a listening port, and on a port below the range.
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
        let f = agg.finish(
            "proc",
            &[PortRange {
                low: 40090,
                high: 40099,
            }],
            root.path(),
        );

        assert_eq!(f.time_wait, 35);
        assert_eq!(f.states["TIME_WAIT"], 35);
        assert_eq!(f.states["ESTABLISHED"], 1);
        assert_eq!(f.states["LISTEN"], 2);
        assert_eq!(f.states["SYN_SENT"], 1);
        assert_eq!(f.close_wait, 1);
        assert_eq!(f.total, 40);
        assert_eq!(f.time_wait_server_side, 3);
        assert_eq!(f.time_wait_client_side, 32);
        assert_eq!(f.usable_ports, 90);
        assert_eq!(f.reserved_in_range, 10);
        assert_eq!(f.listening_ports, vec![8080, 40050]);
        assert_eq!(f.server_side_ports.len(), 3);
        assert_eq!(f.destination_count, 2);
        let top = &f.destinations[0];
        assert_eq!(top.remote, "10.0.0.2:80");
        assert_eq!(top.local, "10.0.0.1");
        assert_eq!((top.time_wait, top.established, top.other), (31, 1, 1));
        assert!((top.exhaustion_ratio - 33.0 / 90.0).abs() < 1e-9);
        assert!((top.max_new_per_second - 1.5).abs() < 1e-9);
        assert_eq!(f.max_exhaustion_ratio, top.exhaustion_ratio);
        assert_eq!(f.destinations[1].remote, "[2001:db8::2]:443");
        assert_eq!(f.close_wait_unattributed, 1);
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
            "close_wait_processes",
            "fallback_reason",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn gathers_from_a_fixture_root() {
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("proc/net");
        let sys = root.path().join("proc/sys/net/ipv4");
        std::fs::create_dir_all(&net).unwrap();
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::write(sys.join("ip_local_port_range"), "32768\t60999\n").unwrap();
        std::fs::write(sys.join("ip_local_reserved_ports"), "40000-40999\n").unwrap();
        std::fs::write(
            net.join("tcp"),
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23071 1 0000000000000000 100 0 0 10 0
   1: 0200007F:9C40 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   2: 0100007F:1F90 0200007F:9C41 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
",
        )
        .unwrap();
        let facts = gather(&GatherOptions::new(root.path())).unwrap().unwrap();
        assert_eq!(facts.source, "proc");
        assert_eq!(facts.time_wait, 2);
        assert_eq!(facts.time_wait_client_side, 1);
        assert_eq!(facts.time_wait_server_side, 1);
        assert_eq!(facts.usable_ports, 28232 - 1000);
        assert_eq!(facts.destinations[0].remote, "127.0.0.1:8080");

        std::fs::write(sys.join("ip_local_port_range"), "lots\n").unwrap();
        let err = gather(&GatherOptions::new(root.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ip_local_port_range"), "{err}");
        std::fs::write(sys.join("ip_local_port_range"), "32768\t60999\n").unwrap();
        std::fs::write(net.join("tcp6"), "  sl  local\n   0: 0100007F:1F90 zz\n").unwrap();
        let err = gather(&GatherOptions::new(root.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tcp6") && err.contains("line 2"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        assert_eq!(gather(&GatherOptions::new(empty.path())).unwrap(), None);
    }
}
