//! The netlink side shared by the dumps twtune asks the kernel for:
//! sock_diag (src/facts/sockets/diag.rs), ctnetlink
//! (src/facts/nat/ctnetlink.rs, ctstats.rs) and nf_tables
//! (src/facts/nat/nftables.rs). Each module encodes its own request and
//! decodes its own messages in place; this one opens the socket, sends the
//! request and feeds every receive buffer to the decoder until it says the
//! dump is done, and walks a message's attributes.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    socket,
};

/// What a receive buffer ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    More,
    Done,
}

/// What can go wrong on the socket itself, whichever the dump.
#[derive(Debug, PartialEq, Eq)]
pub enum TransportError {
    /// socket, bind, send or recv failed.
    Socket(Errno),
    /// The socket reached its end before the dump's NLMSG_DONE.
    Closed,
}

/// Sends `request` on a new `protocol` socket and hands each receive buffer
/// to `decode` until it returns [`Progress::Done`].
pub fn dump<E: From<TransportError>>(
    protocol: SockProtocol,
    request: &[u8],
    mut decode: impl FnMut(&[u8]) -> Result<Progress, E>,
) -> Result<(), E> {
    let socket_error = |e| E::from(TransportError::Socket(e));
    let fd: OwnedFd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        protocol,
    )
    .map_err(socket_error)?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(socket_error)?;
    send(fd.as_raw_fd(), request, MsgFlags::empty()).map_err(socket_error)?;
    // The kernel fills a dump skb up to the largest read seen, capped near
    // 32 KiB (netlink_recvmsg), so a bigger buffer would only waste memory.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(socket_error(e)),
        };
        if n == 0 {
            return Err(E::from(TransportError::Closed));
        }
        if decode(&buf[..n])? == Progress::Done {
            return Ok(());
        }
    }
}

/// An attribute's header: u16 length, u16 type (include/uapi/linux/netlink.h).
pub(crate) const NLA_HDRLEN: usize = 4;
/// NLA_F_NESTED and NLA_F_NET_BYTEORDER ride in the type's top bits.
pub(crate) const NLA_TYPE_MASK: u16 = 0x3fff;

pub(crate) fn u16_ne(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes([*b.first()?, *b.get(1)?]))
}

pub(crate) fn u32_ne(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(0..4)?.try_into().ok()?))
}

/// The attributes in `buf`, as (type without flags, payload); stops at the
/// first one that does not fit, so garbage yields what came before it. One
/// walk for every netlink family twtune decodes (ctnetlink, nf_tables).
pub(crate) fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::from(u16_ne(rest)?);
        let kind = u16_ne(rest.get(2..)?)? & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            rest = &[];
            return None;
        }
        let payload = &rest[NLA_HDRLEN..len];
        // Attributes are padded to 4 bytes; the last one may omit its padding.
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, payload))
    })
}
