//! tcp_tw_recycle and tcp_timestamps: the order they are written in, and
//! the plans refused because timestamps on would arm recycle's SYN check.

use super::*;

/// Runtime writes and the persisted file follow the order of `wanted`:
/// tcp_tw_recycle goes before tcp_timestamps, so no moment has both on.
pub(super) fn recycle_first(wanted: &mut [Wanted]) {
    let rank = |w: &Wanted| match w.key.as_str() {
        RECYCLE => 0,
        TIMESTAMPS => 1,
        _ => 2,
    };
    let (Some(r), Some(t)) = (
        wanted.iter().position(|w| rank(w) == 0),
        wanted.iter().position(|w| rank(w) == 1),
    ) else {
        return;
    };
    if r > t {
        wanted[t..=r].rotate_right(1);
    }
}

pub(super) const RECYCLE: &str = "net.ipv4.tcp_tw_recycle";
pub(super) const TIMESTAMPS: &str = "net.ipv4.tcp_timestamps";

/// Timestamps turned on while tcp_tw_recycle stays on arms recycle's
/// per-peer SYN check, which needs the SYN's timestamp (4.4-4.11
/// tcp_conn_request() -> tcp_peer_is_proven(.., tmp_opt.saw_tstamp); see
/// rules/tcp-tw-recycle.toml): clients behind NAT start failing. So a plan
/// that writes tcp_timestamps on, at run time or into a file, must leave
/// recycle 0 both at run time and in the persisted setting that wins at
/// boot; with `--only` or `--skip` leaving recycle out, it is refused.
pub(super) fn refuse_timestamps_under_recycle(
    root: &Path,
    persisted: &PersistedConfig,
    changes: &[Change],
    persist: Option<&PersistPlan>,
) -> Result<(), PlanError> {
    let Some(on) = changes
        .iter()
        .find(|c| c.key.as_str() == TIMESTAMPS && c.to.trim() != "0")
    else {
        return Ok(());
    };
    let recycle_key = SysctlKey::ipv4("tcp_tw_recycle");
    let planned = changes.iter().find(|c| c.key == recycle_key);
    let runtime_after = match planned.filter(|c| c.runtime) {
        Some(c) => c.to.clone(),
        None => match runtime::read(root, &recycle_key) {
            Ok(v) => v,
            // Removed in 4.12: nothing to arm.
            Err(RuntimeError::Absent { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        },
    };
    let shadowed = persist.is_some_and(|p| p.shadowed.iter().any(|s| s.key == recycle_key));
    let ours = planned.filter(|c| persist.is_some() && !shadowed && c.to.trim() == "0");
    let mut state = Vec::new();
    if runtime_after.trim() != "0" {
        state.push(format!("{} at run time", runtime_after.trim()));
    }
    if let Some(w) = persisted
        .winner(RECYCLE)
        .filter(|w| ours.is_none() && w.value.trim() != "0")
    {
        state.push(format!("{} at boot from {}:{}", w.value, w.file, w.line));
    }
    if state.is_empty() {
        return Ok(());
    }
    Err(PlanError::RecycleStillOn {
        to: on.to.clone(),
        state: state.join(", "),
    })
}
