//! The netlink side shared by the two dumps twtune asks the kernel for:
//! sock_diag (src/facts/sockets/diag.rs) and ctnetlink
//! (src/facts/nat/ctnetlink.rs). Each module encodes its own request and
//! decodes its own messages in place; this one opens the socket, sends the
//! request and feeds every receive buffer to the decoder until it says the
//! dump is done.

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
