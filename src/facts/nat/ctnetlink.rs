//! Listing conntrack entries over NETLINK_NETFILTER, the way `conntrack -L`
//! does: an IPCTNL_MSG_CT_GET dump of the ctnetlink subsystem
//! (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
//!
//! Each entry arrives as one netlink message: a 4-byte `nfgenmsg`, then
//! attributes, CTA_TUPLE_ORIG and CTA_TUPLE_REPLY nesting CTA_TUPLE_IP
//! (addresses) and CTA_TUPLE_PROTO (protocol number, ports), CTA_PROTOINFO
//! nesting the TCP state. Each message is decoded in place from the receive
//! buffer and handed to a callback, so a table of a million entries is never
//! held: the caller folds entries into bounded counts as they come. Decoding
//! takes bytes and returns values, never panics on any input, and is tested on
//! literal messages; only [`dump`] touches a socket.
//!
//! Why by hand, as sock_diag is (src/facts/sockets/diag.rs): the one crate with
//! a conntrack decoder, netlink-packet-netfilter (conntrack since 0.4, a fork
//! before that), builds an owned message with a `Vec` of attributes per entry,
//! the per-record allocation the sock_diag measurement showed to cost about ten
//! times the decoding itself, and brings netlink-packet-core and -utils for
//! what is five attribute types here. The socket side is
//! [`crate::facts::netlink::dump`], which sock_diag uses too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::errno::Errno;
use nix::sys::socket::SockProtocol;

use super::snat::{CtEntry, CtTuple};

pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
pub(super) const NFGENMSG_LEN: usize = 4;
pub(super) const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_PROTOINFO: u16 = 4;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;
/// TCP_CONNTRACK_TIME_WAIT (include/uapi/linux/netfilter/nf_conntrack_tcp.h).
const TCP_CONNTRACK_TIME_WAIT: u8 = 7;
const IPPROTO_TCP: u8 = 6;

/// What goes wrong in a ctnetlink dump, the table's or the statistics'.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CtError {
    #[error("ctnetlink socket: {0}")]
    Socket(Errno),
    #[error("ctnetlink: the kernel refused the dump: {0}")]
    Kernel(Errno),
    #[error("ctnetlink: message at byte {offset} is truncated ({detail})")]
    Truncated { offset: usize, detail: &'static str },
}

pub use crate::facts::netlink::Progress;
use crate::facts::netlink::{TransportError, attributes, u16_ne, u32_ne};

impl From<TransportError> for CtError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Socket(e) => CtError::Socket(e),
            TransportError::Closed => CtError::Truncated {
                offset: 0,
                detail: "socket closed before NLMSG_DONE",
            },
        }
    }
}

/// A ctnetlink dump request (NLM_F_REQUEST | NLM_F_DUMP) of message type
/// `msg_type` in the ctnetlink subsystem: IPCTNL_MSG_CT_GET lists every
/// entry of this namespace's table, IPCTNL_MSG_CT_GET_STATS_CPU its per-CPU
/// statistics ([`super::ctstats`]). Family AF_UNSPEC matches IPv4 and IPv6
/// (ctnetlink_dump_table skips only entries of another family when one is
/// named).
pub fn dump_request(msg_type: u16, seq: u32) -> [u8; NLMSG_HDRLEN + NFGENMSG_LEN] {
    let mut buf = [0u8; NLMSG_HDRLEN + NFGENMSG_LEN];
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    let kind = (NFNL_SUBSYS_CTNETLINK << 8) | msg_type;
    buf[4..6].copy_from_slice(&kind.to_ne_bytes());
    buf[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, res_id 0.
    buf
}

fn u16_be(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn nested(buf: &[u8], kind: u16) -> Option<&[u8]> {
    attributes(buf).find(|(k, _)| *k == kind).map(|(_, p)| p)
}

fn v4(b: &[u8]) -> Option<IpAddr> {
    let o: [u8; 4] = b.get(0..4)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(o)))
}

fn v6(b: &[u8]) -> Option<IpAddr> {
    let o: [u8; 16] = b.get(0..16)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(o)))
}

/// One CTA_TUPLE_* payload: its addresses, protocol and ports (ports absent
/// for protocols without them, such as ICMP).
pub fn decode_tuple(buf: &[u8]) -> Option<(u8, CtTuple)> {
    let (mut src, mut dst) = (None, None);
    for (kind, payload) in attributes(nested(buf, CTA_TUPLE_IP)?) {
        match kind {
            CTA_IP_V4_SRC => src = v4(payload),
            CTA_IP_V4_DST => dst = v4(payload),
            CTA_IP_V6_SRC => src = v6(payload),
            CTA_IP_V6_DST => dst = v6(payload),
            _ => {}
        }
    }
    let (mut protocol, mut sport, mut dport) = (None, None, None);
    if let Some(proto) = nested(buf, CTA_TUPLE_PROTO) {
        for (kind, payload) in attributes(proto) {
            match kind {
                CTA_PROTO_NUM => protocol = payload.first().copied(),
                CTA_PROTO_SRC_PORT => sport = u16_be(payload),
                CTA_PROTO_DST_PORT => dport = u16_be(payload),
                _ => {}
            }
        }
    }
    let (src, dst) = (src?, dst?);
    // The kernel writes both addresses of a tuple in its one family; a
    // message mixing them is garbage, not an entry (found by fuzzing).
    if src.is_ipv4() != dst.is_ipv4() {
        return None;
    }
    Some((
        protocol?,
        CtTuple {
            src,
            dst,
            sport,
            dport,
        },
    ))
}

/// One IPCTNL_MSG_CT_NEW message's attributes (after the nfgenmsg); `None`
/// when either tuple is missing or unreadable.
pub fn decode_entry(attrs: &[u8]) -> Option<CtEntry> {
    let (protocol, original) = decode_tuple(nested(attrs, CTA_TUPLE_ORIG)?)?;
    let (_, reply) = decode_tuple(nested(attrs, CTA_TUPLE_REPLY)?)?;
    let tcp_time_wait = protocol == IPPROTO_TCP
        && nested(attrs, CTA_PROTOINFO)
            .and_then(|info| nested(info, CTA_PROTOINFO_TCP))
            .and_then(|tcp| nested(tcp, CTA_PROTOINFO_TCP_STATE))
            .and_then(|state| state.first().copied())
            == Some(TCP_CONNTRACK_TIME_WAIT);
    Some(CtEntry {
        protocol,
        original,
        reply,
        tcp_time_wait,
    })
}

/// Decodes one receive buffer of netlink messages, calling `each` per entry.
/// An entry without both tuples is skipped, never an error: the kernel
/// always sends them, and one odd record must not hide the rest.
pub fn decode(buf: &[u8], mut each: impl FnMut(CtEntry)) -> Result<Progress, CtError> {
    walk_messages(buf, |kind, body| {
        if kind == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW
            && let Some(entry) = body.get(NFGENMSG_LEN..).and_then(decode_entry)
        {
            each(entry);
        }
    })
}

/// Walks one receive buffer of a ctnetlink dump (the table's or the
/// statistics'): ends at NLMSG_DONE, turns an NLMSG_ERROR into the kernel's
/// errno, and gives every other message's type and body to `each`.
pub(super) fn walk_messages(
    buf: &[u8],
    mut each: impl FnMut(u16, &[u8]),
) -> Result<Progress, CtError> {
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let header = (u32_ne(rest), u16_ne(rest.get(4..).unwrap_or(&[])));
        let (Some(len), Some(kind)) = header else {
            return Err(CtError::Truncated {
                offset,
                detail: "header",
            });
        };
        let len = len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(CtError::Truncated {
                offset,
                detail: "length field",
            });
        }
        let body = &rest[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(Progress::Done),
            NLMSG_ERROR => {
                let Some(code) = u32_ne(body) else {
                    return Err(CtError::Truncated {
                        offset,
                        detail: "error code",
                    });
                };
                let code = code as i32;
                if code != 0 {
                    return Err(CtError::Kernel(Errno::from_raw(code.saturating_neg())));
                }
            }
            _ => each(kind, body),
        }
        offset = offset.saturating_add((len + 3) & !3);
    }
    Ok(Progress::More)
}

/// Streams every conntrack entry of the calling thread's namespace to `each`.
/// Needs CAP_NET_ADMIN (nfnetlink checks it for every message): without it
/// the kernel answers EPERM.
pub fn dump(mut each: impl FnMut(CtEntry)) -> Result<(), CtError> {
    crate::facts::netlink::dump(
        SockProtocol::NetlinkNetFilter,
        &dump_request(IPCTNL_MSG_CT_GET, 1),
        |buf| decode(buf, &mut each),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::netlink::NLA_HDRLEN;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    /// NLA_F_NESTED, as the kernel sets it on nested attributes.
    fn nest(kind: u16, inner: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | 0x8000, &inner.concat())
    }

    fn tuple(kind: u16, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        nest(
            kind,
            &[
                nest(
                    CTA_TUPLE_IP,
                    &[attr(CTA_IP_V4_SRC, &src), attr(CTA_IP_V4_DST, &dst)],
                ),
                nest(
                    CTA_TUPLE_PROTO,
                    &[
                        attr(CTA_PROTO_NUM, &[6]),
                        attr(CTA_PROTO_SRC_PORT | 0x4000, &sport.to_be_bytes()),
                        attr(CTA_PROTO_DST_PORT | 0x4000, &dport.to_be_bytes()),
                    ],
                ),
            ],
        )
    }

    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0x2u16.to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    /// A masqueraded connection 192.0.2.2:41000 → 198.51.100.2:8080, seen by
    /// the server as coming from 198.51.100.1:40007, in TCP TIME_WAIT.
    fn masqueraded() -> Vec<u8> {
        let mut body = vec![2, 0, 0, 0];
        body.extend(tuple(
            CTA_TUPLE_ORIG,
            [192, 0, 2, 2],
            [198, 51, 100, 2],
            41000,
            8080,
        ));
        body.extend(tuple(
            CTA_TUPLE_REPLY,
            [198, 51, 100, 2],
            [198, 51, 100, 1],
            8080,
            40007,
        ));
        body.extend(attr(
            CTA_PROTOINFO | 0x8000,
            &nest(CTA_PROTOINFO_TCP, &[attr(CTA_PROTOINFO_TCP_STATE, &[7])]),
        ));
        message(0x0100, &body)
    }

    #[test]
    fn the_request_asks_ctnetlink_for_a_dump() {
        let r = dump_request(IPCTNL_MSG_CT_GET, 7);
        assert_eq!(r.len(), 20);
        assert_eq!(u32_ne(&r).unwrap(), 20);
        assert_eq!(u16_ne(&r[4..]).unwrap(), 0x0101);
        assert_eq!(u16_ne(&r[6..]).unwrap(), 0x0301);
        assert_eq!(u32_ne(&r[8..]).unwrap(), 7);
        assert_eq!(&r[16..], &[0, 0, 0, 0]);
    }

    #[test]
    fn decodes_a_masqueraded_entry_and_the_end_of_the_dump() {
        let mut buf = masqueraded();
        buf.extend(message(NLMSG_DONE, &0u32.to_ne_bytes()));
        let mut got = Vec::new();
        assert_eq!(decode(&buf, |e| got.push(e)), Ok(Progress::Done));
        assert_eq!(got.len(), 1);
        let e = &got[0];
        assert_eq!(e.protocol, 6);
        assert!(e.tcp_time_wait);
        assert_eq!(e.original.src, "192.0.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            (e.original.sport, e.original.dport),
            (Some(41000), Some(8080))
        );
        assert_eq!(e.reply.dst, "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!((e.reply.sport, e.reply.dport), (Some(8080), Some(40007)));
        // Not finished: more buffers follow.
        assert_eq!(decode(&masqueraded(), |_| {}), Ok(Progress::More));
    }

    #[test]
    fn a_tuple_mixing_address_families_is_no_entry() {
        let ip = nest(
            CTA_TUPLE_IP,
            &[
                attr(CTA_IP_V4_SRC, &[192, 0, 2, 2]),
                attr(CTA_IP_V6_DST, &[0; 16]),
            ],
        );
        let proto = nest(CTA_TUPLE_PROTO, &[attr(CTA_PROTO_NUM, &[6])]);
        assert_eq!(decode_tuple(&[ip.clone(), proto.clone()].concat()), None);
        let same = nest(
            CTA_TUPLE_IP,
            &[attr(CTA_IP_V6_SRC, &[0; 16]), attr(CTA_IP_V6_DST, &[0; 16])],
        );
        assert!(decode_tuple(&[same, proto].concat()).is_some());
    }

    #[test]
    fn kernel_errors_and_garbage_are_errors_not_panics() {
        let eperm = message(NLMSG_ERROR, &(-1i32).to_ne_bytes());
        assert_eq!(decode(&eperm, |_| {}), Err(CtError::Kernel(Errno::EPERM)));
        let whole = masqueraded();
        for cut in 0..whole.len() {
            // Every truncation either errors or yields no entry; none panics.
            let mut n = 0;
            let _ = decode(&whole[..cut], |_| n += 1);
            assert_eq!(n, 0, "cut at {cut}");
        }
        // An entry whose tuples are garbage is skipped, not fatal.
        let odd = message(0x0100, &[2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode(&odd, |_| panic!("no entry")), Ok(Progress::More));
        for byte in 0..=255u8 {
            let _ = decode(&[byte; 40], |_| {});
        }
    }
}
