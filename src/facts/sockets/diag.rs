//! Listing TCP sockets over NETLINK_SOCK_DIAG, the way `ss` does.
//!
//! The state bitmask travels in the request, so the kernel walks its hash
//! tables and sends only the sockets asked for, as fixed 72-byte
//! `inet_diag_msg` records (include/uapi/linux/inet_diag.h). Without
//! extensions a record carries at most a few small attributes, which the
//! decoder steps over by the message length (on Linux 6.18, asked as root,
//! each TIME_WAIT message held one 8-byte attribute of type 15,
//! INET_DIAG_MARK). So each record is decoded in place from the receive
//! buffer and handed to a callback: nothing is collected per socket. The
//! encoding and decoding take and return bytes and are tested on literal
//! messages; only [`dump`] touches a socket.
//!
//! Why by hand rather than netlink-packet-sock-diag: on one real dump of
//! 250,000 TIME_WAIT sockets, decoded both ways from the same captured bytes
//! into the same `SockRecord` consumer (bench/sockdiag-decode, results in
//! BENCHMARKS.md), netlink-packet-sock-diag 0.5.0 took about 11 times the
//! instructions (about 1,540 against 137 per socket, callgrind) and about 9
//! times the time (median 89 ms against 9.5 ms on a busy 2-CPU machine). The
//! difference is per record: it builds an owned `InetResponse` and boxes it,
//! one 432-byte allocation per socket, 250,000 per dump. Memory is not the
//! reason: freed one at a time, those records leave peak RSS unchanged.
//!
//! One extension is asked for, and only on the dump of live sockets:
//! INET_DIAG_INFO, whose `struct tcp_info` says in `tcpi_options` whether the
//! connection negotiated TCP timestamps (`TCPI_OPT_TIMESTAMPS`, set from
//! `tp->rx_opt.tstamp_ok` in tcp_get_info(), net/ipv4/tcp.c). That is the
//! one place this host can see whether a peer sends timestamps, which
//! decides whether its TIME_WAIT can ever be reused (tcp_twsk_unique() needs
//! `tw_ts_recent_stamp`). TIME_WAIT sockets are dumped separately without
//! it: inet_twsk_diag_fill() has no tcp_info to give, and the 1M-socket
//! TIME_WAIT dump keeps its 72-byte records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::errno::Errno;
use nix::sys::socket::SockProtocol;

use super::record::SockRecord;
use crate::facts::tcp_state::TcpState;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The request of the older inet_diag interface (TCPDIAG_GETSOCK,
/// include/uapi/linux/inet_diag.h), and the type of its answers: the
/// kernel still serves it (inet_diag_rcv_msg_compat()), and it lists both
/// families in one walk (below).
const TCPDIAG_GETSOCK: u16 = 18;
/// `struct inet_diag_req`: family, src_len, dst_len, ext, the 48-byte
/// inet_diag_sockid, states, dbs.
const INET_DIAG_REQ_LEN: usize = 60;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const INET_DIAG_REQ_V2_LEN: usize = 56;
const INET_DIAG_MSG_LEN: usize = 72;
const IPPROTO_TCP: u8 = 6;
/// INET_DIAG_INFO (include/uapi/linux/inet_diag.h): the attribute type, and
/// bit `1 << (INET_DIAG_INFO - 1)` of `idiag_ext` to ask for it.
const INET_DIAG_INFO: u16 = 2;
pub const EXT_INFO: u8 = 1 << (INET_DIAG_INFO - 1);
/// `tcpi_options` is byte 5 of `struct tcp_info` (after tcpi_state,
/// tcpi_ca_state, tcpi_retransmits, tcpi_probes, tcpi_backoff), and
/// TCPI_OPT_TIMESTAMPS its bit 0 (include/uapi/linux/tcp.h).
const TCPI_OPTIONS_AT: usize = 5;
const TCPI_OPT_TIMESTAMPS: u8 = 1;
/// struct rtattr: u16 length (header included), u16 type.
const RTA_HDRLEN: usize = 4;
/// `idiag_timer` / the /proc `tr` column for a TIME_WAIT socket's timer.
pub const TIME_WAIT_TIMER: u8 = 3;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// Bit `1 << state` selects a TCP state in `idiag_states`.
pub fn state_bit(state: TcpState) -> u32 {
    1u32 << state.number()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiagError {
    #[error("sock_diag socket: {0}")]
    Socket(Errno),
    #[error("sock_diag: the kernel refused the request: {0}")]
    Kernel(Errno),
    #[error("sock_diag: message at byte {offset} is truncated ({detail})")]
    Truncated { offset: usize, detail: &'static str },
    #[error("sock_diag: record at byte {offset} has address family {family}")]
    Family { offset: usize, family: u8 },
}

/// The netlink header of a dump request of `kind` filling all of `buf`;
/// pid 0 (the kernel).
fn write_dump_header(buf: &mut [u8], kind: u16, seq: u32) {
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf[4..6].copy_from_slice(&kind.to_ne_bytes());
    buf[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
}

/// A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of one family in the
/// given states, without extensions (they would make every record larger).
pub fn encode_request(
    family: u8,
    states: u32,
    seq: u32,
) -> [u8; NLMSG_HDRLEN + INET_DIAG_REQ_V2_LEN] {
    encode_request_ext(family, states, 0, seq)
}

/// The same request asking for the extensions in `ext` (`EXT_INFO`).
pub fn encode_request_ext(
    family: u8,
    states: u32,
    ext: u8,
    seq: u32,
) -> [u8; NLMSG_HDRLEN + INET_DIAG_REQ_V2_LEN] {
    let mut buf = [0u8; NLMSG_HDRLEN + INET_DIAG_REQ_V2_LEN];
    write_dump_header(&mut buf, SOCK_DIAG_BY_FAMILY, seq);
    let req = &mut buf[NLMSG_HDRLEN..];
    req[0] = family;
    req[1] = IPPROTO_TCP;
    req[2] = ext;
    req[4..8].copy_from_slice(&states.to_ne_bytes());
    // inet_diag_sockid stays zero: no address filter; cookie 0 is "any".
    buf
}

/// A TCPDIAG_GETSOCK dump request for TCP sockets of both families in the
/// given states. inet_diag_dump_compat() asks with family AF_UNSPEC
/// whatever the request's own says, and inet_diag_dump_icsk() then skips no
/// socket for its family: one walk of the kernel's connection table lists
/// IPv4 and IPv6 alike, where two SOCK_DIAG_BY_FAMILY dumps walk the whole
/// table twice (at 250,000 IPv4 TIME_WAIT, the IPv6 walk that finds nothing
/// cost about 40 ms of system time on Linux 6.18). Each answer still names
/// its own family.
pub fn encode_request_any_family(
    states: u32,
    ext: u8,
    seq: u32,
) -> [u8; NLMSG_HDRLEN + INET_DIAG_REQ_LEN] {
    let mut buf = [0u8; NLMSG_HDRLEN + INET_DIAG_REQ_LEN];
    write_dump_header(&mut buf, TCPDIAG_GETSOCK, seq);
    let req = &mut buf[NLMSG_HDRLEN..];
    // idiag_family (ignored by the kernel for a dump), no address lengths.
    req[0] = AF_INET;
    req[3] = ext;
    // inet_diag_sockid (bytes 4..52) stays zero: no filter.
    req[52..56].copy_from_slice(&states.to_ne_bytes());
    buf
}

pub use crate::facts::netlink::Progress;
use crate::facts::netlink::TransportError;

impl From<TransportError> for DiagError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Socket(e) => DiagError::Socket(e),
            TransportError::Closed => DiagError::Truncated {
                offset: 0,
                detail: "socket closed before NLMSG_DONE",
            },
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn be_port(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn address(family: u8, raw: &[u8]) -> IpAddr {
    if family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&raw[..16]);
        IpAddr::V6(Ipv6Addr::from(octets))
    }
}

/// Decodes one receive buffer of netlink messages, calling `each` per socket.
pub fn decode(buf: &[u8], mut each: impl FnMut(SockRecord)) -> Result<Progress, DiagError> {
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        if rest.len() < NLMSG_HDRLEN {
            return Err(DiagError::Truncated {
                offset,
                detail: "header",
            });
        }
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(DiagError::Truncated {
                offset,
                detail: "length field",
            });
        }
        let kind = u16_at(rest, 4);
        let body = &rest[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(Progress::Done),
            NLMSG_ERROR => {
                if body.len() < 4 {
                    return Err(DiagError::Truncated {
                        offset,
                        detail: "error code",
                    });
                }
                let code = u32_at(body, 0) as i32;
                // An error message with code 0 is an acknowledgement.
                if code != 0 {
                    return Err(DiagError::Kernel(Errno::from_raw(-code)));
                }
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                if body.len() < INET_DIAG_MSG_LEN {
                    return Err(DiagError::Truncated {
                        offset,
                        detail: "inet_diag_msg",
                    });
                }
                let family = body[0];
                if family != AF_INET && family != AF_INET6 {
                    return Err(DiagError::Family { offset, family });
                }
                // inet_diag_sockid starts at byte 4: sport, dport, src[16],
                // dst[16], if, cookie[2]; then expires (ms), rqueue, wqueue,
                // uid, inode. idiag_timer 3 is the TIME_WAIT timer
                // (inet_twsk_diag_fill), whose expiry is what is left of the
                // 60 s.
                let timer = body[2];
                let peer_timestamps = tcp_info_timestamps(&body[INET_DIAG_MSG_LEN..])
                    .map_err(|detail| DiagError::Truncated { offset, detail })?;
                each(SockRecord {
                    state: TcpState::from_number(body[1]),
                    local_port: be_port(body, 4),
                    remote_port: be_port(body, 6),
                    local: address(family, &body[8..24]),
                    remote: address(family, &body[24..40]),
                    bound_dev_if: u32_at(body, 40),
                    timer_left_ms: (timer == TIME_WAIT_TIMER).then(|| u32_at(body, 52)),
                    inode: u64::from(u32_at(body, 68)),
                    peer_timestamps,
                });
            }
            // Other control messages (NOOP, OVERRUN) carry no sockets.
            _ => {}
        }
        // Messages are padded to 4 bytes.
        offset += (len + 3) & !3;
    }
    Ok(Progress::More)
}

/// Walks the attributes after an `inet_diag_msg` for INET_DIAG_INFO and
/// reads the timestamps bit of its `tcpi_options`; `None` without one (not
/// asked for, a TIME_WAIT or request socket, or a socket in a state where
/// the handshake has not settled it: the caller decides which states count).
fn tcp_info_timestamps(mut attrs: &[u8]) -> Result<Option<bool>, &'static str> {
    let mut found = None;
    while attrs.len() >= RTA_HDRLEN {
        let len = usize::from(u16_at(attrs, 0));
        if len < RTA_HDRLEN || len > attrs.len() {
            return Err("attribute length");
        }
        if u16_at(attrs, 2) == INET_DIAG_INFO && len > RTA_HDRLEN + TCPI_OPTIONS_AT {
            found = Some(attrs[RTA_HDRLEN + TCPI_OPTIONS_AT] & TCPI_OPT_TIMESTAMPS != 0);
        }
        // Attributes are padded to 4 bytes; the last one may end the message
        // without padding.
        attrs = &attrs[((len + 3) & !3).min(attrs.len())..];
    }
    Ok(found)
}

/// Streams every TCP socket of `family` in `states` to `each`.
pub fn dump(family: u8, states: u32, each: impl FnMut(SockRecord)) -> Result<(), DiagError> {
    dump_ext(family, states, 0, each)
}

/// [`dump`], asking for the extensions in `ext`.
pub fn dump_ext(
    family: u8,
    states: u32,
    ext: u8,
    mut each: impl FnMut(SockRecord),
) -> Result<(), DiagError> {
    crate::facts::netlink::dump(
        SockProtocol::NetlinkSockDiag,
        &encode_request_ext(family, states, ext, 1),
        |buf| decode(buf, &mut each),
    )
}

/// Streams every TCP socket of both families in `states` to `each`, in one
/// walk ([`encode_request_any_family`]). `Ok(false)`, with nothing streamed,
/// when the kernel refuses the older request (a kernel or sandbox without
/// it): the caller then asks each family.
pub fn dump_any_family(states: u32, mut each: impl FnMut(SockRecord)) -> Result<bool, DiagError> {
    let mut streamed = false;
    let result = crate::facts::netlink::dump(
        SockProtocol::NetlinkSockDiag,
        &encode_request_any_family(states, 0, 1),
        |buf| {
            decode(buf, |r| {
                streamed = true;
                each(r)
            })
        },
    );
    match result {
        Ok(()) => Ok(true),
        Err(DiagError::Kernel(_)) if !streamed => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, kind: u16, flags: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&len.to_ne_bytes());
        h.extend_from_slice(&kind.to_ne_bytes());
        h.extend_from_slice(&flags.to_ne_bytes());
        h.extend_from_slice(&1u32.to_ne_bytes());
        h.extend_from_slice(&0u32.to_ne_bytes());
        h
    }

    #[test]
    fn any_family_request_layout_and_answers() {
        let r = encode_request_any_family(state_bit(TcpState::TimeWait), 0, 3);
        assert_eq!(r.len(), 76);
        assert_eq!(u32_at(&r, 0), 76);
        assert_eq!(u16_at(&r, 4), 18);
        assert_eq!(u16_at(&r, 6), 0x301);
        assert_eq!(u32_at(&r, 8), 3);
        assert_eq!(u32_at(&r, NLMSG_HDRLEN + 52), 1 << 6);
        assert_eq!(u32_at(&r, NLMSG_HDRLEN + 56), 0);
        // Its answers carry the request's type, each record its own family.
        let mut buf = record(AF_INET, 6, &[127, 0, 0, 1], 40000, &[127, 0, 0, 2], 80, 0);
        buf.extend(record(
            AF_INET6,
            6,
            &Ipv6Addr::LOCALHOST.octets(),
            40001,
            &Ipv6Addr::LOCALHOST.octets(),
            80,
            0,
        ));
        for at in [4, NLMSG_HDRLEN + INET_DIAG_MSG_LEN + 4] {
            buf[at..at + 2].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
        }
        let mut got = Vec::new();
        assert_eq!(decode(&buf, |r| got.push(r)), Ok(Progress::More));
        assert_eq!(got.len(), 2);
        assert!(got[0].local.is_ipv4() && got[1].local.is_ipv6());
        assert_eq!(got[1].timer_left_ms, Some(59_000));
    }

    /// An inet_diag_msg as the kernel lays it out.
    fn record(
        family: u8,
        state: u8,
        src: &[u8],
        sport: u16,
        dst: &[u8],
        dport: u16,
        inode: u32,
    ) -> Vec<u8> {
        let mut m = header(
            (NLMSG_HDRLEN + INET_DIAG_MSG_LEN) as u32,
            SOCK_DIAG_BY_FAMILY,
            2,
        );
        let mut body = vec![0u8; INET_DIAG_MSG_LEN];
        body[0] = family;
        body[1] = state;
        body[4..6].copy_from_slice(&sport.to_be_bytes());
        body[6..8].copy_from_slice(&dport.to_be_bytes());
        body[8..8 + src.len()].copy_from_slice(src);
        body[24..24 + dst.len()].copy_from_slice(dst);
        body[68..72].copy_from_slice(&inode.to_ne_bytes());
        if state == 6 {
            body[2] = TIME_WAIT_TIMER;
            body[52..56].copy_from_slice(&59_000u32.to_ne_bytes());
        }
        body[40..44].copy_from_slice(&1u32.to_ne_bytes());
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn request_layout() {
        let r = encode_request(
            AF_INET6,
            state_bit(TcpState::TimeWait) | state_bit(TcpState::CloseWait),
            7,
        );
        assert_eq!(r.len(), 72);
        assert_eq!(u32_at(&r, 0), 72);
        assert_eq!(u16_at(&r, 4), 20);
        assert_eq!(u16_at(&r, 6), 0x301);
        assert_eq!(u32_at(&r, 8), 7);
        assert_eq!(r[16], 10);
        assert_eq!(r[17], 6);
        assert_eq!(u32_at(&r, 20), 0x140);
    }

    #[test]
    fn decodes_records_until_done() {
        let mut buf = record(AF_INET, 6, &[127, 0, 0, 1], 40000, &[127, 0, 0, 2], 8080, 0);
        buf.extend(record(
            AF_INET6,
            8,
            &Ipv6Addr::LOCALHOST.octets(),
            443,
            &Ipv6Addr::LOCALHOST.octets(),
            50000,
            1234,
        ));
        let mut got = Vec::new();
        assert_eq!(decode(&buf, |r| got.push(r)), Ok(Progress::More));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].local, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(got[0].remote_port, 8080);
        assert_eq!(got[0].local_port, 40000);
        assert_eq!(got[0].state, TcpState::TimeWait);
        assert_eq!(got[0].timer_left_ms, Some(59_000));
        assert_eq!(got[0].bound_dev_if, 1);
        assert_eq!(got[1].timer_left_ms, None);
        assert_eq!(got[1].remote, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(got[1].inode, 1234);

        let mut done = header(20, NLMSG_DONE, 2);
        done.extend_from_slice(&0u32.to_ne_bytes());
        assert_eq!(decode(&done, |_| {}), Ok(Progress::Done));
    }

    #[test]
    fn kernel_errors_and_garbage_are_errors_not_panics() {
        let mut err = header(36, NLMSG_ERROR, 0);
        err.extend_from_slice(&(-1i32).to_ne_bytes());
        err.extend_from_slice(&[0u8; 16]);
        assert_eq!(decode(&err, |_| {}), Err(DiagError::Kernel(Errno::EPERM)));

        let full = record(AF_INET, 6, &[127, 0, 0, 1], 1, &[127, 0, 0, 1], 2, 0);
        for cut in [3, 16, 40, full.len() - 1] {
            assert!(
                matches!(
                    decode(&full[..cut], |_| {}),
                    Err(DiagError::Truncated { .. })
                ),
                "cut {cut}"
            );
        }
        let mut bad_len = full.clone();
        bad_len[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(decode(&bad_len, |_| {}).is_err());
        let mut bad_family = full;
        bad_family[NLMSG_HDRLEN] = 1;
        assert_eq!(
            decode(&bad_family, |_| {}),
            Err(DiagError::Family {
                offset: 0,
                family: 1
            })
        );
    }

    /// A record with an INET_DIAG_INFO attribute whose tcpi_options is
    /// `options`, after an 8-byte INET_DIAG_MARK the kernel sends root.
    fn record_with_info(options: u8) -> Vec<u8> {
        let mut m = record(AF_INET, 1, &[10, 0, 0, 1], 40000, &[10, 0, 0, 2], 80, 7);
        let mut mark = Vec::new();
        mark.extend_from_slice(&8u16.to_ne_bytes());
        mark.extend_from_slice(&15u16.to_ne_bytes());
        mark.extend_from_slice(&0u32.to_ne_bytes());
        // struct tcp_info is 232+ bytes; the decoder needs its first 6.
        let mut info = Vec::new();
        info.extend_from_slice(&(4u16 + 104).to_ne_bytes());
        info.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        let mut tcp_info = vec![0u8; 104];
        tcp_info[0] = 1;
        tcp_info[TCPI_OPTIONS_AT] = options;
        info.extend_from_slice(&tcp_info);
        m.extend_from_slice(&mark);
        m.extend_from_slice(&info);
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    #[test]
    fn tcp_info_says_whether_timestamps_were_negotiated() {
        let r = encode_request_ext(AF_INET, state_bit(TcpState::Established), EXT_INFO, 1);
        assert_eq!(r[NLMSG_HDRLEN + 2], 2);
        assert_eq!(
            encode_request(AF_INET, state_bit(TcpState::Established), 1)[NLMSG_HDRLEN + 2],
            0
        );
        for (options, expected) in [(0x07, Some(true)), (0x06, Some(false))] {
            let mut got = Vec::new();
            decode(&record_with_info(options), |r| got.push(r)).unwrap();
            assert_eq!(got[0].peer_timestamps, expected, "options {options:#x}");
            assert_eq!(got[0].inode, 7);
        }
        // Without the attribute: unknown.
        let mut got = Vec::new();
        decode(
            &record(AF_INET, 1, &[10, 0, 0, 1], 1, &[10, 0, 0, 2], 2, 0),
            |r| got.push(r),
        )
        .unwrap();
        assert_eq!(got[0].peer_timestamps, None);
        // An attribute claiming more than the message holds is an error.
        let mut bad = record_with_info(1);
        let at = NLMSG_HDRLEN + INET_DIAG_MSG_LEN + 8;
        bad[at..at + 2].copy_from_slice(&500u16.to_ne_bytes());
        assert!(matches!(
            decode(&bad, |_| {}),
            Err(DiagError::Truncated { .. })
        ));
    }
}
