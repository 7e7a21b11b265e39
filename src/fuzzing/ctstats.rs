//! The ctnetlink statistics decoder's properties
//! (`facts::nat::ctstats::decode`, IPCTNL_MSG_CT_GET_STATS_CPU dumps).

use crate::facts::nat::ctnetlink::CtError;
use crate::facts::nat::ctstats;
use crate::facts::nat::table::ConntrackStats;

fn fields(s: &ConntrackStats) -> [Option<u64>; 4] {
    [s.insert_failed, s.drop, s.early_drop, s.clash_resolve]
}

/// Receive buffers of a statistics dump: decoding is deterministic; the
/// same buffer decoded twice into one sum doubles every counter it set
/// (saturating) and sets no other; a counter comes only from whole 8-byte
/// attributes, so it is at most u32::MAX per 8 bytes of input; a truncation
/// names an offset inside the buffer; and the sum written back as one CPU's
/// message decodes to itself.
pub fn ctnetlink_stats(data: &[u8]) {
    let mut sum = ConntrackStats::default();
    let result = ctstats::decode(data, &mut sum);
    if let Err(CtError::Truncated { offset, .. }) = &result {
        assert!(*offset < data.len(), "{result:?}");
    }
    let mut again = ConntrackStats::default();
    assert_eq!(ctstats::decode(data, &mut again), result);
    assert_eq!(again, sum);
    let _ = ctstats::decode(data, &mut again);
    let double = fields(&sum).map(|v| v.map(|v| v.saturating_mul(2)));
    assert_eq!(fields(&again), double);
    let attributes = (data.len() / 8) as u64;
    for value in fields(&sum).into_iter().flatten() {
        assert!(value <= u64::from(u32::MAX) * attributes, "{value}");
    }
    let mut back = ConntrackStats::default();
    let written = ctstats::encode_cpu(0, &sum);
    assert_eq!(
        ctstats::decode(&written, &mut back),
        Ok(crate::facts::netlink::Progress::More)
    );
    assert_eq!(back, sum);
}
