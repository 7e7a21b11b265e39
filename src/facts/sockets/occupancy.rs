//! Which sock_diag dumps can find nothing, told by /proc/net/sockstat{,6}
//! before asking (issue 20: `--all-netns` over 1,000 namespaces, most of
//! them with no TCP socket at all).
//!
//! The kernel counts a namespace's TCP sockets as it hashes them
//! (`sock_prot_inuse_add()` in `inet_hash()`, `inet_ehash_nolisten()`,
//! `__inet_hash_connect()`; per namespace, per protocol: `TCP` is
//! `tcp_prot`, `TCP6` is `tcpv6_prot`) and its TIME_WAIT sockets
//! (`tw` from `tcp_death_row`, IPv4 and IPv6 together). So:
//!
//! - `inuse` 0 for a family: no listener and no connected or connecting
//!   socket of that family, and no request socket either (those hang off a
//!   listener). Bound-only sockets (BOUND_INACTIVE) are not hashed and not
//!   counted: they are still asked for.
//! - `tw` 0: no TIME_WAIT socket of either family. (Kernels that kept one
//!   count for all namespaces only ever count more, never fewer.)
//! - `alloc` counts every full TCP socket of the host, both families and
//!   every namespace (`tcp_sockets_allocated`, shared by `tcp_prot` and
//!   `tcpv6_prot`, counted from `tcp_init_sock()` to its destruction; a
//!   TIME_WAIT or request socket is not one). When it is no more than this
//!   namespace's `TCP` and `TCP6` `inuse` together, every TCP socket there
//!   is is hashed here, so none is bound-only: the dumps that walk the
//!   kernel's whole bind table for BOUND_INACTIVE (about 3 ms each on an
//!   idle host) can find nothing.
//! - `sockets: used` 0: no socket of any kind in this namespace (counted
//!   per namespace in `sk_alloc()` for every socket a process makes, since
//!   4.16; before, for the whole host, which only counts more), so none is
//!   bound-only either: an empty namespace of `--all-netns` needs no dump.
//!
//! The counters are read through /proc/thread-self: the namespace of the
//! thread that then makes the netlink socket (/proc/net shows the thread
//! group leader's). Anything that cannot be read or parsed skips nothing.
//! A socket made between the read and the dump is missed as it would be
//! had it been made just after the dump.

use super::diag::{AF_INET, AF_INET6};
use crate::facts::counters::parse_sockstat;

/// What sockstat says about the calling thread's namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Hashed TCP sockets, IPv4 (`TCP: inuse`); None: unknown.
    inet: Option<u64>,
    /// Hashed TCP sockets, IPv6 (`TCP6: inuse`); None: unknown.
    inet6: Option<u64>,
    /// TIME_WAIT sockets, both families (`TCP: tw`); None: unknown.
    time_wait: Option<u64>,
    /// Full TCP sockets of the whole host (`TCP: alloc`); None: unknown.
    allocated: Option<u64>,
    /// Sockets of every kind in this namespace (`sockets: used`); None: unknown.
    used: Option<u64>,
}

impl Occupancy {
    /// The calling thread's namespace, now; unknown where unreadable.
    pub fn read() -> Self {
        let read = |name: &str| std::fs::read_to_string(format!("/proc/thread-self/net/{name}"));
        Self::parse(
            read("sockstat").ok().as_deref(),
            read("sockstat6").ok().as_deref(),
        )
    }

    /// From the two files' text (either may be missing).
    pub fn parse(sockstat: Option<&str>, sockstat6: Option<&str>) -> Self {
        let field = |text: Option<&str>, protocol: &str, name: &str| {
            let groups = parse_sockstat(text?).ok()?;
            let value = *groups.get(protocol)?.get(name)?;
            u64::try_from(value).ok()
        };
        Occupancy {
            inet: field(sockstat, "TCP", "inuse"),
            inet6: field(sockstat6, "TCP6", "inuse"),
            time_wait: field(sockstat, "TCP", "tw"),
            allocated: field(sockstat, "TCP", "alloc"),
            used: field(sockstat, "sockets", "used"),
        }
    }

    fn hashed(&self, family: u8) -> Option<u64> {
        match family {
            AF_INET => self.inet,
            AF_INET6 => self.inet6,
            _ => None,
        }
    }

    /// Whether a dump of `family`'s listeners can find any.
    pub fn may_listen(&self, family: u8) -> bool {
        self.hashed(family) != Some(0)
    }

    /// Whether a bound-only (BOUND_INACTIVE) socket can exist here: false
    /// when this namespace has no socket at all, or when every TCP socket
    /// of the host is hashed in this namespace.
    pub fn may_bound_only(&self) -> bool {
        let all_hashed_here = match (self.allocated, self.inet, self.inet6) {
            (Some(all), Some(inet), Some(inet6)) => all <= inet.saturating_add(inet6),
            _ => false,
        };
        self.used != Some(0) && !all_hashed_here
    }

    /// The states worth asking `family` for out of `states`: only the
    /// bound-only bit where nothing of the family is hashed, and not that
    /// bit where no socket can be bound-only. 0: no dump is needed.
    pub fn live_states(&self, family: u8, states: u32, bound_only: u32) -> u32 {
        let states = match self.may_bound_only() {
            true => states,
            false => states & !bound_only,
        };
        match self.hashed(family) {
            Some(0) => states & bound_only,
            _ => states,
        }
    }

    /// Whether every socket of `family` hashed here is one of the
    /// `listeners` its listener dump found: then no connected, connecting
    /// or closing socket is, and a walk of the kernel's connection table
    /// (every bucket of a table all namespaces share, ~2–3 ms on an idle
    /// host with a large one) can find only request sockets (NEW_SYN_RECV),
    /// which hang off a listener and are not counted in `inuse`. A listener
    /// made between the counter's read and the dump only makes the counts
    /// differ: then the table is walked.
    pub fn only_listeners(&self, family: u8, listeners: u64) -> bool {
        self.hashed(family) == Some(listeners)
    }

    /// Whether a TIME_WAIT dump can find any.
    pub fn may_time_wait(&self) -> bool {
        self.time_wait != Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_with_sockets_but_no_tcp_needs_only_the_bound_only_dump() {
        let o = Occupancy::parse(
            Some("sockets: used 3\nTCP: inuse 0 orphan 0 tw 0 alloc 9 mem 1\nUDP: inuse 0 mem 0\n"),
            Some("TCP6: inuse 0\nUDP6: inuse 0\n"),
        );
        assert!(!o.may_listen(AF_INET) && !o.may_listen(AF_INET6));
        assert!(!o.may_time_wait());
        assert_eq!(o.live_states(AF_INET, 0b1110, 0b0100), 0b0100);
    }

    #[test]
    fn sockets_of_one_family_or_unknown_counts_skip_nothing_there() {
        let o = Occupancy::parse(Some("TCP: inuse 2 orphan 0 tw 7 alloc 9 mem 1\n"), None);
        assert!(o.may_listen(AF_INET));
        assert!(o.may_listen(AF_INET6), "sockstat6 unread: unknown");
        assert!(o.may_time_wait());
        assert_eq!(o.live_states(AF_INET, 0b1110, 0b0100), 0b1110);
        assert_eq!(o.live_states(AF_INET6, 0b1110, 0b0100), 0b1110);
        let garbled = Occupancy::parse(Some("TCP: inuse\n"), Some("TCP6: inuse 0\n"));
        assert!(garbled.may_listen(AF_INET) && garbled.may_time_wait());
        assert!(!garbled.may_listen(AF_INET6));
        assert_eq!(Occupancy::parse(None, None), Occupancy::default());
    }

    #[test]
    fn a_namespace_without_a_socket_needs_no_dump() {
        let o = Occupancy::parse(
            Some("sockets: used 0\nTCP: inuse 0 orphan 0 tw 0 alloc 9 mem 1\nUDP: inuse 0 mem 0\n"),
            Some("TCP6: inuse 0\nUDP6: inuse 0\n"),
        );
        assert!(!o.may_bound_only() && !o.may_time_wait());
        assert!(!o.may_listen(AF_INET) && !o.may_listen(AF_INET6));
        assert_eq!(o.live_states(AF_INET, 0b1110, 0b0100), 0);
        assert_eq!(o.live_states(AF_INET6, 0b1110, 0b0100), 0);
    }

    #[test]
    fn every_socket_hashed_here_leaves_no_bound_only_dump() {
        // An idle host: its one TCP socket is an IPv4 listener.
        let idle = Occupancy::parse(
            Some("TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 58\n"),
            Some("TCP6: inuse 0\n"),
        );
        assert!(!idle.may_bound_only());
        assert_eq!(idle.live_states(AF_INET, 0b1110, 0b0100), 0b1010);
        assert_eq!(idle.live_states(AF_INET6, 0b1110, 0b0100), 0);
        // One more socket somewhere (made, bound, or in another namespace).
        let more = Occupancy::parse(
            Some("TCP: inuse 1 orphan 0 tw 0 alloc 2 mem 58\n"),
            Some("TCP6: inuse 0\n"),
        );
        assert!(more.may_bound_only());
        assert_eq!(more.live_states(AF_INET6, 0b1110, 0b0100), 0b0100);
        // sockstat6 unread: unknown, so asked.
        let half = Occupancy::parse(Some("TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 58\n"), None);
        assert!(half.may_bound_only());
    }
}
