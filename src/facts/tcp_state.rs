//! TCP states as the kernel numbers them (include/net/tcp_states.h) and as
//! `ss` and the JSON `states` map name them: one enum for the socket
//! listings (sock_diag, /proc/net/tcp) and the tracepoints alike.

/// A TCP socket's state. The discriminant is the kernel's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// 0, or a number past the known ones: counted, never named.
    Unknown = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    NewSynRecv = 12,
    /// TCP_BOUND_INACTIVE: the pseudo-state a sock_diag request names to get
    /// sockets bound to a port but neither listening nor connected (commit
    /// 91051f003948, "tcp: Dump bound-only sockets in inet_diag."); they come
    /// back in state CLOSE with no peer. Older kernels list none.
    BoundInactive = 13,
}

impl TcpState {
    /// How many states there are, `Unknown` included: the size of a table
    /// indexed by [`TcpState::index`].
    pub const COUNT: usize = 14;

    /// The states a socket listing reports and the JSON `states` map names,
    /// in the kernel's order.
    pub const NAMED: [TcpState; 12] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
    ];

    /// The state the kernel's number stands for; `Unknown` for 0 and any
    /// number past the known ones.
    pub fn from_number(number: u8) -> TcpState {
        match number {
            13 => TcpState::BoundInactive,
            1..=12 => TcpState::NAMED[usize::from(number - 1)],
            _ => TcpState::Unknown,
        }
    }

    /// The kernel's number for it.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Its place in a table of [`TcpState::COUNT`] entries.
    pub fn index(self) -> usize {
        usize::from(self.number())
    }

    /// The name as `ss` and tcp_states.h spell it.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Unknown => "UNKNOWN",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::BoundInactive => "BOUND_INACTIVE",
        }
    }

    /// Whether tcp_info tells if timestamps were negotiated: `tstamp_ok` is
    /// settled by the handshake (tcp_rcv_synsent_state_process() on this
    /// side), so SYN_SENT and SYN_RECV do not count.
    pub fn past_handshake(self) -> bool {
        matches!(
            self,
            TcpState::Established
                | TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::CloseWait
                | TcpState::LastAck
                | TcpState::Closing
        )
    }
}

impl std::fmt::Display for TcpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::TcpState;

    #[test]
    fn numbers_round_trip_and_unknown_numbers_are_unknown() {
        for number in 0..=u8::MAX {
            let state = TcpState::from_number(number);
            if (1..=13).contains(&number) {
                assert_eq!(state.number(), number);
                assert!(state.index() < TcpState::COUNT);
            } else {
                assert_eq!(state, TcpState::Unknown, "{number}");
            }
        }
        assert_eq!(TcpState::from_number(6), TcpState::TimeWait);
        assert_eq!(TcpState::from_number(10).name(), "LISTEN");
        assert_eq!(TcpState::BoundInactive.index(), TcpState::COUNT - 1);
    }

    #[test]
    fn the_named_states_are_the_kernels_in_order() {
        let names: Vec<&str> = TcpState::NAMED.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
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
                "NEW_SYN_RECV"
            ]
        );
        for (i, state) in TcpState::NAMED.iter().enumerate() {
            assert_eq!(state.index(), i + 1);
        }
    }
}
