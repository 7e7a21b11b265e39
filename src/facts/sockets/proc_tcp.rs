//! /proc/net/tcp and /proc/net/tcp6: the fallback listing, and the only one a
//! fixture tree can give.
//!
//! Every socket is a text line; addresses are the kernel's in-memory words
//! printed with `%08X`, so each 32-bit group is in this machine's byte order.
//! Lines are streamed through one reused buffer because the file can hold
//! hundreds of thousands of them.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::record::SockRecord;
use crate::facts::read_line_bounded;
use crate::facts::tcp_state::TcpState;

/// The clock-tick rate the /proc timer column is printed in (USER_HZ; alpha
/// uses 1024, where ages read from /proc would come out wrong).
const USER_HZ: u64 = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ProcTcpError {
    pub line: usize,
    pub message: String,
}

fn word(hex: &str) -> Option<[u8; 4]> {
    if hex.len() != 8 {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
}

fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    if port.len() != 4 {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some((addr, port))
}

/// Parses one line; `Ok(None)` for the header and blank lines.
pub fn parse_line(line: &str) -> Result<Option<SockRecord>, String> {
    let mut fields = line.split_whitespace();
    let Some(slot) = fields.next() else {
        return Ok(None);
    };
    if slot == "sl" {
        return Ok(None);
    }
    if !slot.ends_with(':') {
        return Err(format!("expected a slot number like `12:`, found {slot:?}"));
    }
    let mut next = |what: &str| fields.next().ok_or_else(|| format!("missing {what}"));
    let local = next("local address")?;
    let remote = next("remote address")?;
    let state = next("state")?;
    let (local, local_port) =
        parse_endpoint(local).ok_or_else(|| format!("bad local address {local:?}"))?;
    let (remote, remote_port) =
        parse_endpoint(remote).ok_or_else(|| format!("bad remote address {remote:?}"))?;
    // One socket has one family: tcp lists IPv4 pairs, tcp6 IPv6 pairs.
    if local.is_ipv4() != remote.is_ipv4() {
        return Err(format!(
            "local address {local} and remote address {remote} are of different families"
        ));
    }
    let state = u8::from_str_radix(state, 16)
        .ok()
        .filter(|s| (1..=12).contains(s))
        .map(TcpState::from_number)
        .ok_or_else(|| format!("bad state {state:?}"))?;
    next("queues")?;
    let timer = next("timer")?;
    // `tr:when`: the timer kind and what is left of it in clock ticks
    // (jiffies_delta_to_clock_t(): USER_HZ, 100 on x86, arm, arm64, ppc,
    // s390 and riscv). Kind 3 is the TIME_WAIT timer (get_timewait4_sock()).
    let timer_left_ms = match timer.split_once(':') {
        Some((kind, when)) if u8::from_str_radix(kind, 16) == Ok(super::diag::TIME_WAIT_TIMER) => {
            let ticks =
                u64::from_str_radix(when, 16).map_err(|_| format!("bad timer {timer:?}"))?;
            Some(u32::try_from(ticks.saturating_mul(1000 / USER_HZ)).unwrap_or(u32::MAX))
        }
        Some(_) => None,
        None => return Err(format!("bad timer {timer:?}")),
    };
    for what in ["retransmits", "uid", "timeout"] {
        next(what)?;
    }
    let inode = next("inode")?;
    let inode = inode.parse().map_err(|_| format!("bad inode {inode:?}"))?;
    Ok(Some(SockRecord {
        state,
        local,
        local_port,
        remote,
        remote_port,
        // /proc/net/tcp does not show the bound device.
        bound_dev_if: 0,
        timer_left_ms,
        inode,
        // Nor whether timestamps were negotiated.
        peer_timestamps: None,
    }))
}

/// Streams the sockets of one file to `each`.
pub fn for_each(
    mut reader: impl BufRead,
    mut each: impl FnMut(SockRecord),
) -> Result<(), ProcTcpError> {
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        number += 1;
        let n = read_line_bounded(&mut reader, &mut line).map_err(|e| ProcTcpError {
            line: number,
            message: e.to_string(),
        })?;
        if n == 0 {
            return Ok(());
        }
        match parse_line(&line) {
            Ok(Some(record)) => each(record),
            Ok(None) => {}
            Err(message) => {
                return Err(ProcTcpError {
                    line: number,
                    message,
                });
            }
        }
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23071 1 0000000000000000 100 0 0 10 0
   1: 0200007F:9C40 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   2: 0100007F:1F90 0200007F:9C41 08 00000000:00000001 00:00000000 00000000  1000        0 44123 1 0000000000000000 20 4 30 10 -1
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9999 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000200007F:D431 06 00000000:00000000 03:000008B4 00000000     0        0 0 3 0000000000000000
";

    #[test]
    fn ipv4_lines() {
        let mut got = Vec::new();
        for_each(TCP.as_bytes(), |r| got.push(r)).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].state, TcpState::Listen);
        assert_eq!(got[0].local, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(got[0].local_port, 8080);
        assert_eq!(got[0].inode, 23071);
        assert_eq!(got[1].state, TcpState::TimeWait);
        assert_eq!(got[1].local, "127.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(got[1].local_port, 40000);
        assert_eq!(got[1].remote_port, 8080);
        // 0x1770 ticks of 10 ms: the whole 60 s left.
        assert_eq!(got[1].timer_left_ms, Some(60_000));
        assert_eq!(got[0].timer_left_ms, None);
        assert_eq!(got[2].state, TcpState::CloseWait);
        assert_eq!(got[2].inode, 44123);
    }

    #[test]
    fn ipv6_lines() {
        let mut got = Vec::new();
        for_each(TCP6.as_bytes(), |r| got.push(r)).unwrap();
        assert_eq!(got[0].local, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(got[0].local_port, 80);
        assert_eq!(got[1].local, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(got[1].remote, "::ffff:127.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(got[1].remote_port, 0xD431);
        assert_eq!(got[1].timer_left_ms, Some(22_280));
    }

    #[test]
    fn garbled_lines_name_the_line() {
        let cases = [
            "   0: 0100007F:1F90 00000000:0000\n",
            "   0: 0100007G:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n",
            "   0: 0100007F:1F90 00000000:0000 FF 0:0 0:0 0 0 0 1\n",
            "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 x\n",
            "   0: 0100007F:1F90 00000000:0000 06 0:0 03:zz 0 0 0 1\n",
            "   0: 0100007F:1F90 00000000:0000 06 0:0 0300 0 0 0 1\n",
            "   0: 0100007F1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n",
            // Found by fuzzing: an IPv6 local address with an IPv4 remote one.
            "   0: 0000000000000000FFFF00000100007F:9C40 0100007F:1F90 06 0:0 0:0 0 0 0 0\n",
            "garbage\n",
        ];
        for case in cases {
            let text = format!("  sl  local_address\n{case}");
            let err = for_each(text.as_bytes(), |_| {}).unwrap_err();
            assert_eq!(err.line, 2, "{case}");
        }
    }
}
