//! The conntrack statistics over ctnetlink, where /proc/net/stat/nf_conntrack
//! is missing (kernels built without CONFIG_NF_CONNTRACK_PROCFS, as some
//! distributions and container hosts ship them: node_exporter#3184).
//!
//! An IPCTNL_MSG_CT_GET_STATS_CPU dump (what `conntrack -S` asks) answers
//! with one message per possible CPU, the CPU number in the nfgenmsg's
//! `res_id`, each counter a big-endian u32 attribute of `enum
//! ctattr_stats_cpu` (include/uapi/linux/netfilter/nfnetlink_conntrack.h;
//! filled by ctnetlink_ct_stat_cpu_fill_info() in
//! net/netfilter/nf_conntrack_netlink.c). The counters are this network
//! namespace's (`net->ct.stat`), as /proc/net/stat/nf_conntrack's are; they
//! are summed over the CPUs here. A counter this kernel does not send (the
//! clash one before Linux 5.10) stays `None`. Decoding takes bytes, never
//! panics and is tested on literal messages; only [`dump`] opens a socket.

use nix::sys::socket::SockProtocol;

use super::ctnetlink::{CtError, NFGENMSG_LEN, NFNL_SUBSYS_CTNETLINK, dump_request, walk_messages};
use super::table::ConntrackStats;
use crate::facts::netlink::Progress;
use crate::facts::netlink::{NLA_HDRLEN, NLA_TYPE_MASK, u16_ne};

const IPCTNL_MSG_CT_GET_STATS_CPU: u16 = 4;
const STATS_CPU: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU;

const CTA_STATS_INSERT_FAILED: u16 = 9;
const CTA_STATS_DROP: u16 = 10;
const CTA_STATS_EARLY_DROP: u16 = 11;
const CTA_STATS_CLASH_RESOLVE: u16 = 14;

fn u32_be(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(0..4)?.try_into().ok()?))
}

/// Adds one CPU's attributes to `sum`; an attribute that does not fit ends
/// the walk (what came before it counts).
fn add_cpu(attrs: &[u8], sum: &mut ConntrackStats) {
    let mut rest = attrs;
    while let (Some(len), Some(kind)) = (u16_ne(rest), rest.get(2..).and_then(u16_ne)) {
        let len = usize::from(len);
        if len < NLA_HDRLEN || len > rest.len() {
            return;
        }
        let field = match kind & NLA_TYPE_MASK {
            CTA_STATS_INSERT_FAILED => Some(&mut sum.insert_failed),
            CTA_STATS_DROP => Some(&mut sum.drop),
            CTA_STATS_EARLY_DROP => Some(&mut sum.early_drop),
            CTA_STATS_CLASH_RESOLVE => Some(&mut sum.clash_resolve),
            _ => None,
        };
        if let (Some(field), Some(value)) = (field, u32_be(&rest[NLA_HDRLEN..len])) {
            *field = Some(field.unwrap_or(0).saturating_add(u64::from(value)));
        }
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
}

/// Decodes one receive buffer, adding every CPU's counters to `sum`.
pub fn decode(buf: &[u8], sum: &mut ConntrackStats) -> Result<Progress, CtError> {
    walk_messages(buf, |kind, body| {
        if kind == STATS_CPU {
            add_cpu(body.get(NFGENMSG_LEN..).unwrap_or(&[]), sum);
        }
    })
}

/// One CPU's statistics message as ctnetlink_ct_stat_cpu_fill_info() writes
/// it, the counters `stats` knows as big-endian u32 attributes (one past
/// u32 split over repeated attributes, which [`decode`] adds up): the unit
/// tests' and the fuzz target's inverse of [`decode`].
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn encode_cpu(cpu: u16, stats: &ConntrackStats) -> Vec<u8> {
    use super::ctnetlink::NLMSG_HDRLEN;
    // nfgenmsg: AF_UNSPEC, NFNETLINK_V0, the CPU in res_id (big-endian).
    let mut body = vec![0, 0];
    body.extend_from_slice(&cpu.to_be_bytes());
    for (kind, value) in [
        (CTA_STATS_INSERT_FAILED, stats.insert_failed),
        (CTA_STATS_DROP, stats.drop),
        (CTA_STATS_EARLY_DROP, stats.early_drop),
        (CTA_STATS_CLASH_RESOLVE, stats.clash_resolve),
    ] {
        let Some(mut left) = value else { continue };
        loop {
            let part = left.min(u64::from(u32::MAX));
            body.extend_from_slice(&8u16.to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(&(part as u32).to_be_bytes());
            left -= part;
            if left == 0 {
                break;
            }
        }
    }
    let mut message = Vec::new();
    message.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
    message.extend_from_slice(&STATS_CPU.to_ne_bytes());
    message.extend_from_slice(&[0; 10]);
    message.extend_from_slice(&body);
    message
}

/// This network namespace's conntrack statistics, summed over CPUs. Needs
/// CAP_NET_ADMIN, like every ctnetlink request.
pub fn dump() -> Result<ConntrackStats, CtError> {
    let mut sum = ConntrackStats::default();
    crate::facts::netlink::dump(
        SockProtocol::NetlinkNetFilter,
        &dump_request(IPCTNL_MSG_CT_GET_STATS_CPU, 1),
        |buf| decode(buf, &mut sum),
    )?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::nat::ctnetlink::{NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN};
    use crate::facts::netlink::u32_ne;
    use nix::errno::Errno;

    fn attr(kind: u16, value: u32) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&8u16.to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(&value.to_be_bytes());
        a
    }

    /// One CPU's message, as ctnetlink_ct_stat_cpu_fill_info() builds it:
    /// nfgenmsg with the CPU in res_id (big-endian), then the counters.
    fn cpu(n: u16, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![0, 0];
        body.extend_from_slice(&n.to_be_bytes());
        body.extend(attrs.concat());
        message(STATS_CPU, &body)
    }

    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0x2u16.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn the_request_asks_for_the_per_cpu_statistics() {
        let r = dump_request(IPCTNL_MSG_CT_GET_STATS_CPU, 3);
        assert_eq!(u32_ne(&r), Some(20));
        assert_eq!(u16_ne(&r[4..]), Some(0x0104));
        assert_eq!(u16_ne(&r[6..]), Some(0x0301));
    }

    #[test]
    fn sums_the_cpus_and_leaves_unsent_counters_unknown() {
        let mut buf = cpu(
            0,
            &[
                attr(2, 99), // found: not read
                attr(CTA_STATS_INSERT_FAILED, 3),
                attr(CTA_STATS_DROP, 1),
                attr(CTA_STATS_EARLY_DROP | 0x4000, 0),
            ],
        );
        buf.extend(cpu(
            1,
            &[
                attr(CTA_STATS_INSERT_FAILED, 10),
                attr(CTA_STATS_DROP, 0),
                attr(CTA_STATS_EARLY_DROP, 4),
            ],
        ));
        buf.extend(message(NLMSG_DONE, &0u32.to_ne_bytes()));
        let mut sum = ConntrackStats::default();
        assert_eq!(decode(&buf, &mut sum), Ok(Progress::Done));
        assert_eq!(
            sum,
            ConntrackStats {
                insert_failed: Some(13),
                drop: Some(1),
                early_drop: Some(4),
                clash_resolve: None,
            }
        );
        let mut with_clash = ConntrackStats::default();
        let _ = decode(
            &cpu(0, &[attr(CTA_STATS_CLASH_RESOLVE, 7)]),
            &mut with_clash,
        );
        assert_eq!(with_clash.clash_resolve, Some(7));
    }

    #[test]
    fn what_is_encoded_decodes_the_same_even_past_u32() {
        let stats = ConntrackStats {
            insert_failed: Some(u64::from(u32::MAX) * 2 + 5),
            drop: Some(0),
            early_drop: None,
            clash_resolve: Some(7),
        };
        let mut sum = ConntrackStats::default();
        assert_eq!(decode(&encode_cpu(3, &stats), &mut sum), Ok(Progress::More));
        assert_eq!(sum, stats);
    }

    #[test]
    fn kernel_errors_and_garbage_are_errors_not_panics() {
        let eperm = message(NLMSG_ERROR, &(-1i32).to_ne_bytes());
        let mut sum = ConntrackStats::default();
        assert_eq!(decode(&eperm, &mut sum), Err(CtError::Kernel(Errno::EPERM)));
        let whole = cpu(0, &[attr(CTA_STATS_DROP, 5)]);
        for cut in 0..whole.len() {
            let mut sum = ConntrackStats::default();
            let _ = decode(&whole[..cut], &mut sum);
            assert_eq!(sum.drop, None, "cut at {cut}");
        }
        for byte in 0..=255u8 {
            let _ = decode(&[byte; 40], &mut ConntrackStats::default());
        }
    }
}
