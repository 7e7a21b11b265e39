//! TCP state numbers as the kernel's tcp_states.h has them, and their names.

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
pub(super) const STATE_NAMES: [&str; 13] = [
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
