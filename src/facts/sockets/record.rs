//! One socket, as both listings (sock_diag and /proc/net/tcp) report it: the
//! record the parsers produce and the aggregation reads.

use std::net::IpAddr;

use crate::facts::tcp_state::TcpState;

/// One socket as either listing reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockRecord {
    pub state: TcpState,
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// The interface the socket is bound to (SO_BINDTODEVICE), 0 for none;
    /// only sock_diag reports it.
    pub bound_dev_if: u32,
    /// For TIME_WAIT: what is left of its timer, in milliseconds.
    pub timer_left_ms: Option<u32>,
    /// 0 for TIME_WAIT: those have no file.
    pub inode: u64,
    /// Whether the connection negotiated TCP timestamps, from sock_diag's
    /// tcp_info when it was asked for; `None` otherwise (TIME_WAIT, the
    /// /proc listing, which cannot show it).
    pub peer_timestamps: Option<bool>,
}
