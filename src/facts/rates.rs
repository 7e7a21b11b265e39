//! Per-second rates from two samples of the counters (`check --sample`), and
//! the port-headroom model they feed.
//!
//! A counter the kernel lacks is null in both samples' rate, never 0: "no
//! PAWSPassive since 4.12" is not "no passive PAWS rejects".

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Counters;
use super::sockets::SocketFacts;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rates {
    pub interval_seconds: f64,
    /// Tcp ActiveOpens: new outbound connections.
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
    /// Change of sockstat `tw` (IPv4 + IPv6) per second: TIME_WAIT growing or draining.
    pub sockstat_tw_change: Option<f64>,
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
            sockstat_tw_change: some,
        }
    }
}

fn sockstat_tw(c: &Counters) -> Option<i64> {
    let v4 = c.sockstat.get("TCP").and_then(|g| g.get("tw"));
    let v6 = c.sockstat.get("TCP6").and_then(|g| g.get("tw"));
    match (v4, v6) {
        (None, None) => None,
        (a, b) => Some(a.copied().unwrap_or(0) + b.copied().unwrap_or(0)),
    }
}

pub fn compute(before: &Counters, after: &Counters, interval: Duration) -> Rates {
    let secs = interval.as_secs_f64().max(f64::MIN_POSITIVE);
    let rate = |a: Option<&i64>, b: Option<&i64>| match (a, b) {
        // Counters are monotonic; a smaller second value means a wrap or a
        // reset, and a negative rate would only mislead.
        (Some(a), Some(b)) => Some((b - a).max(0) as f64 / secs),
        _ => None,
    };
    let tcp = |k: &str| rate(before.tcp.get(k), after.tcp.get(k));
    let ext = |k: &str| rate(before.tcp_ext.get(k), after.tcp_ext.get(k));
    Rates {
        interval_seconds: secs,
        active_opens: tcp("ActiveOpens"),
        passive_opens: tcp("PassiveOpens"),
        time_wait_entered: ext("TW"),
        time_wait_reused: ext("TWRecycled"),
        time_wait_killed: ext("TWKilled"),
        time_wait_overflow: ext("TCPTimeWaitOverflow"),
        paws_active: ext("PAWSActive"),
        paws_estab: ext("PAWSEstab"),
        sockstat_tw_change: match (sockstat_tw(before), sockstat_tw(after)) {
            (Some(a), Some(b)) => Some((b - a) as f64 / secs),
            _ => None,
        },
    }
}

/// Time to exhaustion per destination, in the worst case that every observed
/// new outbound connection goes to it: ports fill at the open rate and drain
/// at the close rate its TIME_WAIT population implies.
pub fn apply_headroom(sockets: &mut SocketFacts, rates: &Rates) {
    let Some(opens) = rates.active_opens else {
        return;
    };
    for d in &mut sockets.destinations {
        let in_use = (d.time_wait + d.established + d.other) as f64;
        let free = (f64::from(d.usable_ports) - in_use).max(0.0);
        let growth = opens - d.closes_per_second;
        d.seconds_to_exhaustion = if free == 0.0 {
            Some(0.0)
        } else if growth > 0.0 {
            Some(free / growth)
        } else {
            None
        };
    }
}

/// Sleeps for `duration`; on a terminal, shows how long is left on stderr.
pub fn wait(duration: Duration) {
    let mut stderr = std::io::stderr();
    if !stderr.is_terminal() {
        std::thread::sleep(duration);
        return;
    }
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let left = duration - elapsed;
        let _ = write!(
            stderr,
            "\rsampling counters: {:.1}s left ",
            left.as_secs_f64()
        );
        let _ = stderr.flush();
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
    let _ = write!(stderr, "\r\x1b[2K");
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::sockets::Destination;

    fn counters(active: i64, tw: i64, sock_tw: i64) -> Counters {
        let mut c = Counters::default();
        c.tcp.insert("ActiveOpens".into(), active);
        c.tcp_ext.insert("TW".into(), tw);
        c.sockstat
            .entry("TCP".into())
            .or_default()
            .insert("tw".into(), sock_tw);
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
        let reset = compute(
            &counters(100, 0, 0),
            &counters(5, 0, 0),
            Duration::from_secs(1),
        );
        assert_eq!(reset.active_opens, Some(0.0));
    }

    #[test]
    fn headroom_model() {
        let dest = |tw: u64| Destination {
            remote: "192.0.2.1:80".into(),
            local: "192.0.2.2".into(),
            time_wait: tw,
            established: 0,
            other: 0,
            usable_ports: 600,
            exhaustion_ratio: tw as f64 / 600.0,
            max_new_per_second: 10.0,
            closes_per_second: tw as f64 / 60.0,
            headroom_per_second: (600.0 - tw as f64) / 60.0,
            seconds_to_exhaustion: None,
        };
        let mut s = SocketFacts {
            destinations: vec![dest(120), dest(600), dest(0)],
            ..Default::default()
        };
        let rates = Rates {
            active_opens: Some(12.0),
            ..Default::default()
        };
        apply_headroom(&mut s, &rates);
        // 480 free ports, filling at 12/s and draining at 2/s.
        assert_eq!(s.destinations[0].seconds_to_exhaustion, Some(48.0));
        assert_eq!(s.destinations[1].seconds_to_exhaustion, Some(0.0));
        assert_eq!(s.destinations[2].seconds_to_exhaustion, Some(50.0));
        let slow = Rates {
            active_opens: Some(1.0),
            ..Default::default()
        };
        apply_headroom(&mut s, &slow);
        assert_eq!(s.destinations[0].seconds_to_exhaustion, None);
    }
}
