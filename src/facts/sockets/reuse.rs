//! When connect() may take over a TIME_WAIT port: the reuse policy
//! tcp_twsk_unique() applies, from the sysctls it reads.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Serialize;

use super::{TIME_WAIT_MS, canonical};
use crate::facts::kernel::KernelVersion;

/// The loopback device's index (LOOPBACK_IFINDEX, include/net/flow.h).
pub(super) const LOOPBACK_IFINDEX: u32 = 1;

/// Which TIME_WAIT sockets connect() may take over in this namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReuseScope {
    /// tcp_tw_reuse = 0, or timestamps off: no reuse at all.
    #[default]
    None,
    /// Every destination (tcp_tw_reuse = 1, or any non-zero value before 4.18).
    All,
    /// tcp_tw_reuse = 2 from 4.18 on: a loopback address at either end, or a
    /// socket bound to `lo`.
    Loopback,
}

/// What tcp_twsk_unique() (net/ipv4/tcp_ipv4.c) needs before connect() may
/// reuse a TIME_WAIT port: tcp_tw_reuse covering the socket, the peer's
/// timestamp recorded (so timestamps on here), and the TIME_WAIT older than
/// the reuse delay.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ReusePolicy {
    /// Runtime tcp_tw_reuse, when readable.
    pub tcp_tw_reuse: Option<i64>,
    /// Runtime tcp_timestamps != 0 (absent counts as the default, on).
    pub timestamps: bool,
    pub scope: ReuseScope,
    /// A TIME_WAIT socket must be at least this old before connect() may
    /// take its port.
    pub delay_ms: u32,
    /// Where `delay_ms` comes from.
    pub delay_source: String,
    /// How long TIME_WAIT lasts: 60 s (TCP_TIMEWAIT_LEN), or the vendor
    /// tcp_tw_timeout where a kernel has it.
    pub time_wait_ms: u32,
}

impl Default for ReusePolicy {
    fn default() -> Self {
        ReusePolicy::from_settings(ReuseSettings::default(), None)
    }
}

/// The sysctls the reuse policy is made of, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseSettings {
    pub tcp_tw_reuse: Option<i64>,
    pub tcp_timestamps: Option<i64>,
    pub tcp_tw_reuse_delay: Option<i64>,
    pub tcp_tw_timeout: Option<i64>,
}

/// Before tcp_tw_reuse_delay (6.14, commit ca6a6f93867a) the test was in
/// whole seconds: "a later second than the last timestamp received"
/// (`time_after32(ktime_get_seconds(), tw_ts_recent_stamp)`), and "more than
/// one second" on older kernels (`get_seconds() - tw_ts_recent_stamp > 1`).
/// Two seconds is past both.
const SECOND_GRANULAR_DELAY_MS: u32 = 2000;

impl ReusePolicy {
    pub fn from_settings(s: ReuseSettings, kernel: Option<KernelVersion>) -> Self {
        let timestamps = s.tcp_timestamps.is_none_or(|t| t != 0);
        let loopback_only_kernel = kernel.is_none_or(|v| v >= KernelVersion::new(4, 18, 0));
        let scope = match s.tcp_tw_reuse {
            _ if !timestamps => ReuseScope::None,
            None | Some(0) => ReuseScope::None,
            // 79e9fed46038 (4.18) made 2 "loopback only"; before, any
            // non-zero value was on. An unknown version is read the modern
            // way, which counts fewer ports as free.
            Some(2) if loopback_only_kernel => ReuseScope::Loopback,
            Some(_) => ReuseScope::All,
        };
        let (delay_ms, delay_source) = match s.tcp_tw_reuse_delay {
            Some(ms) => (
                u32::try_from(ms.max(0)).unwrap_or(u32::MAX),
                "net.ipv4.tcp_tw_reuse_delay".to_string(),
            ),
            None => (
                SECOND_GRANULAR_DELAY_MS,
                "no tcp_tw_reuse_delay (before 6.14): whole seconds, at most 2 s".to_string(),
            ),
        };
        let time_wait_ms = s
            .tcp_tw_timeout
            .filter(|&secs| secs > 0)
            .and_then(|secs| u32::try_from(secs.saturating_mul(1000)).ok())
            .unwrap_or(TIME_WAIT_MS);
        ReusePolicy {
            tcp_tw_reuse: s.tcp_tw_reuse,
            timestamps,
            scope,
            delay_ms,
            delay_source,
            time_wait_ms,
        }
    }

    /// Whether tcp_tw_reuse covers a socket with these endpoints, as the
    /// loopback test in tcp_twsk_unique() decides.
    pub fn covers(&self, local: IpAddr, remote: IpAddr, bound_dev_if: u32) -> bool {
        match self.scope {
            ReuseScope::None => false,
            ReuseScope::All => true,
            ReuseScope::Loopback => {
                bound_dev_if == LOOPBACK_IFINDEX
                    || canonical(local).is_loopback()
                    || canonical(remote).is_loopback()
            }
        }
    }

    /// Whether a TIME_WAIT socket is old enough to be taken over; its age is
    /// the lifetime minus what is left of its timer. Unknown age: not yet.
    pub fn aged(&self, timer_left_ms: Option<u32>) -> bool {
        timer_left_ms.is_some_and(|left| self.time_wait_ms.saturating_sub(left) > self.delay_ms)
    }
}
