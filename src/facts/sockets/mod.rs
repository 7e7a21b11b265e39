//! TCP sockets: how many in each state, whose TIME_WAIT it is, how close each
//! destination is to running out of ephemeral ports, and which processes leak
//! CLOSE_WAIT.
//!
//! Live, the kernel lists them over sock_diag ([`diag`]); under `--root`, or
//! when netlink is refused, /proc/net/tcp{,6} ([`proc_tcp`]). Both feed one
//! [`Aggregator`] record by record, so memory grows with the number of
//! distinct destinations and listening ports, never with the number of
//! sockets. Listening ports are gathered first because attribution needs them.

mod aggregate;
pub mod creators;
pub mod diag;
mod gather;
mod listing;
mod occupancy;
mod output;
pub mod owners;
pub mod proc_tcp;
mod record;
mod reuse;
mod sample;
mod top_creator;

use std::net::IpAddr;

pub use super::ports::{self, PortRange};
pub use super::tcp_state::TcpState;
pub use aggregate::{Aggregator, apply_headroom};
pub use gather::{Kept, Sysctls, first_sample, gather, gather_keeping};
pub use listing::FirstListing;
pub use output::{
    Destination, DestinationProcess, HostPorts, PortCount, SocketFacts, SocketSource,
};
pub use owners::SocketOwner;
pub use record::SockRecord;
pub use reuse::{ReusePolicy, ReuseScope, ReuseSettings};
pub use sample::Sample;
use sample::tuple_hash;
pub use top_creator::{TopCreator, name_top_creators, top_creator};

/// TIME_WAIT lasts TCP_TIMEWAIT_LEN (include/net/tcp.h); no mainline
/// sysctl changes it.
pub const TIME_WAIT_SECONDS: f64 = 60.0;
const TIME_WAIT_MS: u32 = 60_000;
/// How many destinations the facts keep, by pressure.
pub const TOP_DESTINATIONS: usize = 20;
const TOP_SERVER_PORTS: usize = 10;
/// How many processes each destination names, most connections first.
pub const TOP_PROCESSES: usize = 5;

/// v4-mapped IPv6 addresses are IPv4 peers of a dual-stack socket; naming
/// them as IPv4 keeps one destination one entry.
fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

#[cfg(test)]
mod tests;
