//! Per-second rates from two samples of the counters (`check --sample`).
//!
//! A counter the kernel lacks is null in both samples' rate, never 0: "no
//! PAWSPassive since 4.12" is not "no passive PAWS rejects". Kernel counters
//! are unsigned 64-bit and only grow; a second reading below the first (a
//! wrap, a reset, a namespace that went away) gives no rate and is named in
//! `counters_went_back`, never a negative or wrapped-around number.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;

use super::counters::Counters;

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Rates {
    pub interval_seconds: f64,
    /// Tcp ActiveOpens: new outbound connections, host-wide (every
    /// destination together; each destination's own rate is its
    /// `new_per_second`).
    pub active_opens: Option<f64>,
    /// Tcp PassiveOpens: accepted connections.
    pub passive_opens: Option<f64>,
    /// TcpExt TW: sockets entering TIME_WAIT.
    pub time_wait_entered: Option<f64>,
    /// TcpExt TWRecycled: TIME_WAIT reused by connect() (tcp_tw_reuse at work).
    pub time_wait_reused: Option<f64>,
    pub time_wait_killed: Option<f64>,
    /// TcpExt TCPTimeWaitOverflow: closes that got no TIME_WAIT (tcp_max_tw_buckets full).
    pub time_wait_overflow: Option<f64>,
    pub paws_active: Option<f64>,
    pub paws_estab: Option<f64>,
    /// TcpExt TCPAbortOnMemory: orphans reset for want of resources
    /// (tcp_out_of_resources()), the evidence for tcp-orphans-near-limit.
    pub tcp_abort_on_memory: Option<f64>,
    /// Change of sockstat `tw` (IPv4 + IPv6) per second: TIME_WAIT growing
    /// (positive) or draining (negative). A gauge, not a counter.
    pub sockstat_tw_change: Option<f64>,
    /// Counters whose second reading was below the first (wrapped or reset):
    /// their rate is null.
    pub counters_went_back: Vec<String>,
}

impl Rates {
    /// Every field present, for checking the names rule conditions use.
    pub fn schema() -> Rates {
        let some = Some(0.0);
        Rates {
            interval_seconds: 1.0,
            active_opens: some,
            passive_opens: some,
            time_wait_entered: some,
            time_wait_reused: some,
            time_wait_killed: some,
            time_wait_overflow: some,
            paws_active: some,
            paws_estab: some,
            tcp_abort_on_memory: some,
            sockstat_tw_change: some,
            counters_went_back: vec![String::new()],
        }
    }
}

/// A rate rounded for people: one decimal ("818.6"), or two significant
/// digits below 1/s ("0.042"), so messages never print 818.6467549945272.
pub fn round_rate(rate: f64) -> f64 {
    if !rate.is_finite() || rate == 0.0 {
        return rate;
    }
    if rate.abs() >= 1.0 {
        (rate * 10.0).round() / 10.0
    } else {
        let scale = 10f64.powi(1 - rate.abs().log10().floor() as i32);
        (rate * scale).round() / scale
    }
}

/// A counter value as the kernel keeps it: unsigned. The parser stores
/// signed numbers; a negative one cannot be a kernel counter.
fn unsigned(value: Option<&i128>) -> Option<u64> {
    value.and_then(|v| u64::try_from(*v).ok())
}

fn sockstat_tw(c: &Counters) -> Option<u64> {
    let v4 = unsigned(c.sockstat.get("TCP").and_then(|g| g.get("tw")));
    let v6 = unsigned(c.sockstat.get("TCP6").and_then(|g| g.get("tw")));
    match (v4, v6) {
        (None, None) => None,
        (a, b) => a.unwrap_or(0).checked_add(b.unwrap_or(0)),
    }
}

pub fn compute(before: &Counters, after: &Counters, interval: Duration) -> Rates {
    let secs = interval.as_secs_f64().max(f64::MIN_POSITIVE);
    let mut went_back = Vec::new();
    let mut rate = |name: String, a: Option<&i128>, b: Option<&i128>| {
        let (a, b) = (unsigned(a)?, unsigned(b)?);
        match b.checked_sub(a) {
            Some(delta) => Some(round_rate(delta as f64 / secs)),
            None => {
                went_back.push(name);
                None
            }
        }
    };
    let mut tcp = |k: &str| rate(format!("Tcp {k}"), before.tcp.get(k), after.tcp.get(k));
    let active_opens = tcp("ActiveOpens");
    let passive_opens = tcp("PassiveOpens");
    let mut ext = |k: &str| {
        rate(
            format!("TcpExt {k}"),
            before.tcp_ext.get(k),
            after.tcp_ext.get(k),
        )
    };
    let time_wait_entered = ext("TW");
    let time_wait_reused = ext("TWRecycled");
    let time_wait_killed = ext("TWKilled");
    let time_wait_overflow = ext("TCPTimeWaitOverflow");
    let paws_active = ext("PAWSActive");
    let paws_estab = ext("PAWSEstab");
    let tcp_abort_on_memory = ext("TCPAbortOnMemory");
    // sockstat tw is a gauge: it may fall, and the difference is signed.
    let sockstat_tw_change = match (sockstat_tw(before), sockstat_tw(after)) {
        (Some(a), Some(b)) => {
            let change = if b >= a {
                (b - a) as f64
            } else {
                -((a - b) as f64)
            };
            Some(round_rate(change / secs))
        }
        _ => None,
    };
    Rates {
        interval_seconds: secs,
        active_opens,
        passive_opens,
        time_wait_entered,
        time_wait_reused,
        time_wait_killed,
        time_wait_overflow,
        paws_active,
        paws_estab,
        tcp_abort_on_memory,
        sockstat_tw_change,
        counters_went_back: went_back,
    }
}

/// Sleeps for `duration`; on a terminal, shows how long is left on stderr.
pub fn wait(duration: Duration) {
    wait_with(duration, Duration::from_millis(200), || {});
}

/// Sleeps for `duration`, calling `tick` at least every `every` (a trace
/// reads its rings there); on a terminal, shows how long is left on stderr.
pub fn wait_with(duration: Duration, every: Duration, mut tick: impl FnMut()) {
    let mut stderr = std::io::stderr();
    let terminal = stderr.is_terminal();
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let left = duration - elapsed;
        if terminal {
            let _ = write!(
                stderr,
                "\rsampling counters: {:.1}s left ",
                left.as_secs_f64()
            );
            let _ = stderr.flush();
        }
        std::thread::sleep(left.min(every));
        tick();
    }
    if !terminal {
        return;
    }
    let _ = write!(stderr, "\r\x1b[2K");
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(active: i64, tw: i64, sock_tw: i64) -> Counters {
        let mut c = Counters::default();
        c.tcp.insert("ActiveOpens".into(), active.into());
        c.tcp_ext.insert("TW".into(), tw.into());
        c.sockstat
            .entry("TCP".into())
            .or_default()
            .insert("tw".into(), sock_tw.into());
        c
    }

    #[test]
    fn rates_per_second_and_absent_counters_stay_null() {
        let r = compute(
            &counters(100, 50, 10),
            &counters(1100, 550, 30),
            Duration::from_secs(2),
        );
        assert_eq!(r.active_opens, Some(500.0));
        assert_eq!(r.time_wait_entered, Some(250.0));
        assert_eq!(r.sockstat_tw_change, Some(10.0));
        assert_eq!(r.paws_active, None);
        assert!(r.counters_went_back.is_empty());
        let draining = compute(
            &counters(0, 0, 30),
            &counters(0, 0, 10),
            Duration::from_secs(2),
        );
        assert_eq!(draining.sockstat_tw_change, Some(-10.0));
    }

    #[test]
    fn a_counter_that_went_back_is_named_not_wrapped() {
        let reset = compute(
            &counters(100, i64::MAX, 0),
            &counters(5, 0, 0),
            Duration::from_secs(1),
        );
        assert_eq!(reset.active_opens, None);
        assert_eq!(reset.time_wait_entered, None);
        assert_eq!(
            reset.counters_went_back,
            vec!["Tcp ActiveOpens".to_string(), "TcpExt TW".to_string()]
        );
        // Extremes neither panic nor wrap.
        let huge = compute(
            &counters(0, 0, i64::MAX),
            &counters(i64::MAX, i64::MAX, 0),
            Duration::from_nanos(1),
        );
        assert!(huge.active_opens.unwrap() > 1e18);
        assert!(huge.sockstat_tw_change.unwrap() < -1e18);
        let negative = compute(
            &counters(-5, 0, 0),
            &counters(5, 0, 0),
            Duration::from_secs(1),
        );
        assert_eq!(negative.active_opens, None);
    }

    #[test]
    fn rates_are_rounded_for_people() {
        assert_eq!(round_rate(818.6467549945272), 818.6);
        assert_eq!(round_rate(0.04213), 0.042);
        assert_eq!(round_rate(-3.333), -3.3);
        assert_eq!(round_rate(0.0), 0.0);
        let r = compute(
            &counters(0, 0, 0),
            &counters(2456, 0, 0),
            Duration::from_secs(3),
        );
        assert_eq!(r.active_opens, Some(818.7));
    }
}
