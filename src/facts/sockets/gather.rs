//! Gathering: the settings the sockets are judged against, then every socket
//! over sock_diag (live) or /proc/net/tcp{,6} (a --root tree, or netlink refused).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::*;
use crate::facts::kernel::KernelVersion;
use crate::facts::options::GatherOptions;
use crate::facts::read::{FactError, metadata_confined, open_streaming};

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
        Some(text) => ports::parse_range(text)
            .map_err(|e| FactError::garbled(&path("ip_local_port_range"), e))?,
        None => PortRange::default(),
    };
    let reserved = match value("ip_local_reserved_ports") {
        Some(text) => ports::parse_reserved(text)
            .map_err(|e| FactError::garbled(&path("ip_local_reserved_ports"), e))?,
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
    TcpState::NAMED
        .into_iter()
        .filter(|&s| s != TcpState::Listen)
        .map(diag::state_bit)
        .fold(diag::state_bit(TcpState::BoundInactive), |a, b| a | b)
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

/// What a netlink listing left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Unlisted {
    /// Request sockets (NEW_SYN_RECV): the kernel's connection table was not
    /// walked because every hashed socket was a listener (occupancy.rs).
    request_sockets: bool,
}

/// Streams every listed socket over netlink: listeners, then live sockets
/// (with tcp_info when `info`, for the peer's timestamps), then TIME_WAIT
/// without it. The aggregation relies on that order: a destination's live
/// connections are seen before its TIME_WAIT.
fn netlink_passes(
    info: bool,
    mut listener: impl FnMut(SockRecord),
    mut other: impl FnMut(SockRecord),
) -> Result<Unlisted, diag::DiagError> {
    let mut families = vec![diag::AF_INET, diag::AF_INET6];
    // No dump where sockstat counts no socket it could find (occupancy.rs).
    let seen = super::occupancy::Occupancy::read();
    let skip = |family: u8, result: Result<(), diag::DiagError>| match result {
        Err(e) if no_such_family(family, &e) => Ok(()),
        other => other,
    };
    let mut listeners = [0u64; 2];
    let slot = |family: u8| usize::from(family == diag::AF_INET6);
    for family in families.clone() {
        if !seen.may_listen(family) {
            continue;
        }
        let counted = diag::dump(family, diag::state_bit(TcpState::Listen), |r| {
            listeners[slot(family)] += 1;
            listener(r)
        });
        match counted {
            Err(e) if no_such_family(family, &e) => families.retain(|f| *f != family),
            other => other?,
        }
    }
    let ext = if info { diag::EXT_INFO } else { 0 };
    let live = non_listen_states() & !diag::state_bit(TcpState::TimeWait);
    let bound_only = diag::state_bit(TcpState::BoundInactive);
    let mut unlisted = Unlisted::default();
    for &family in &families {
        let mut states = seen.live_states(family, live, bound_only);
        if seen.only_listeners(family, listeners[slot(family)]) {
            // Nothing of the connection table's but request sockets can be
            // this namespace's: the walk of every bucket is skipped.
            unlisted.request_sockets |= states & !bound_only != 0;
            states &= bound_only;
        }
        if states != 0 {
            skip(family, diag::dump_ext(family, states, ext, &mut other))?;
        }
    }
    // Both families' TIME_WAIT in one walk of the connection table, or one
    // walk each where the kernel refuses that request.
    let time_wait = diag::state_bit(TcpState::TimeWait);
    if seen.may_time_wait() && !diag::dump_any_family(time_wait, &mut other)? {
        for &family in &families {
            skip(family, diag::dump(family, time_wait, &mut other))?;
        }
    }
    Ok(unlisted)
}

fn gather_netlink(agg: &mut Aggregator) -> Result<(), diag::DiagError> {
    let agg_cell = std::cell::RefCell::new(&mut *agg);
    let unlisted = netlink_passes(
        true,
        |r| agg_cell.borrow_mut().listener(r),
        |r| agg_cell.borrow_mut().observe(r),
    )?;
    if unlisted.request_sockets {
        agg.unlisted_state(TcpState::NewSynRecv);
    }
    Ok(())
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
        .map_err(|e| FactError::garbled(path, e))
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
        if r.state != TcpState::Listen {
            listing.record(&r);
        }
    };
    if options.reads_running_system() && netlink_passes(false, |_| {}, &mut keep).is_ok() {
        listing.end();
        return Ok(Some(listing));
    }
    let mut listing = FirstListing::new();
    let tables = proc_tables(options.root());
    if tables.is_empty() {
        return Ok(None);
    }
    for path in &tables {
        stream_proc(path, |r| {
            if r.state != TcpState::Listen {
                listing.record(&r);
            }
        })?;
    }
    listing.end();
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
    gather_keeping(options, kernel, sysctl, previous, None).map(|kept| kept.facts)
}

/// What [`gather_keeping`] read.
#[derive(Debug)]
pub struct Kept {
    /// The socket facts; `None` when a fixture tree has no socket tables.
    pub facts: Option<SocketFacts>,
    /// This listing's sockets, when asked to keep them.
    pub listing: Option<FirstListing>,
    /// The `previous` listing, done with: storage for the next one.
    pub spent: Option<FirstListing>,
}

/// [`gather`], also keeping this listing's 4-tuples when `keep` is given
/// (a listing done with, whose storage it reuses, or
/// [`FirstListing::default`]): the first listing of the next reading, taken
/// in the same pass (`twtune top` reads the sockets once per interval, not
/// twice, and records each listing in the storage of the one before last).
pub fn gather_keeping(
    options: &GatherOptions,
    kernel: Option<KernelVersion>,
    sysctl: &Sysctls,
    previous: Option<(FirstListing, std::time::Duration)>,
    keep: Option<FirstListing>,
) -> Result<Kept, FactError> {
    let root = options.root();
    let (range, reserved) = port_settings(root, sysctl)?;
    let policy = ReusePolicy::from_settings(reuse_settings(sysctl), kernel);
    // The first listing (an entry per socket: 250,000 at 250,000
    // TIME_WAIT) is moved into the aggregator, never copied; a netlink pass
    // that fails hands it back for the /proc fallback.
    let mut previous = previous.map(|(first, elapsed)| Sample::new(first, elapsed));
    let fresh = |previous: Option<Sample>, keep: Option<FirstListing>| {
        let agg = Aggregator::new(range, reserved.clone(), policy.clone()).with_previous(previous);
        match keep {
            Some(storage) => agg.keeping_listing(storage),
            None => agg,
        }
    };
    let mut keep = keep;
    let mut fallback_reason = None;
    if options.reads_running_system() {
        let mut agg = fresh(previous.take(), keep.take());
        match gather_netlink(&mut agg) {
            Ok(()) => {
                let listing = agg.take_listing().map(FirstListing::ended);
                let spent = agg.take_spent();
                return Ok(Kept {
                    facts: Some(agg.finish(SocketSource::Netlink, root)),
                    listing,
                    spent,
                });
            }
            Err(e) => {
                fallback_reason = Some(e.to_string());
                previous = agg.take_previous();
                keep = agg.take_listing();
            }
        }
    }
    let tables = proc_tables(root);
    if tables.is_empty() {
        return Ok(Kept {
            facts: None,
            listing: None,
            spent: previous.map(Sample::into_first),
        });
    }
    let mut agg = gather_proc(fresh(previous, keep), &tables)?;
    let listing = agg.take_listing().map(FirstListing::ended);
    let spent = agg.take_spent();
    let mut facts = agg.finish(SocketSource::Proc, root);
    facts.fallback_reason = fallback_reason;
    Ok(Kept {
        facts: Some(facts),
        listing,
        spent,
    })
}
