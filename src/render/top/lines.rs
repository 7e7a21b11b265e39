//! The line mode: one plain block per refresh, for logs and scripts (no
//! escape codes, no screen control).

use std::fmt::Write as _;

use super::{Screen, bar, duration, percent, rate, yes_no};

/// The header as its parts, each read alone ("TIME_WAIT 35 (client 35,
/// server 0)", "CLOSE_WAIT 0", …): the line mode puts them on two lines,
/// the terminal view fills its width with them.
pub fn header_parts(screen: &Screen) -> [Vec<String>; 2] {
    let h = &screen.header;
    let mut verdict = format!(
        "{}: {} critical, {} warning, {} info",
        h.verdict.word(),
        h.critical,
        h.warning,
        h.info
    );
    if h.undecided > 0 {
        let _ = write!(verdict, ", {} undecided", h.undecided);
    }
    let first = vec![
        format!("{} UTC", h.at),
        format!("kernel {}", h.kernel),
        format!("netns {}", h.namespace),
        verdict,
    ];
    let mut second = vec![
        match (h.time_wait, h.time_wait_client, h.time_wait_server) {
            (Some(all), Some(client), Some(server)) => {
                format!("TIME_WAIT {all} (client {client}, server {server})")
            }
            _ => "TIME_WAIT unknown (no socket table)".to_string(),
        },
    ];
    if let Some(close_wait) = h.close_wait {
        second.push(format!("CLOSE_WAIT {close_wait}"));
    }
    second.push(match h.conntrack {
        Some((count, max)) if max > 0 => format!(
            "conntrack {count}/{max} ({})",
            percent(count as f64 / max as f64)
        ),
        _ => "conntrack off".to_string(),
    });
    if let Some((used, usable)) = h.host_ports {
        let ratio = match usable {
            0 => f64::INFINITY,
            n => used as f64 / n as f64,
        };
        second.push(format!("host ports {used}/{usable} ({})", percent(ratio)));
    }
    second.push(h.tracing.clone());
    if let Some(interval) = h.interval {
        second.push(format!("over {interval:.1}s"));
    }
    [first, second]
}

/// The header's two lines.
pub fn header_lines(screen: &Screen) -> [String; 2] {
    header_parts(screen).map(|parts| parts.join(" · "))
}

/// The destination table's heading and rows, `remote` cut to `width`.
pub fn table(screen: &Screen, limit: usize) -> Vec<String> {
    let mut out = vec![format!(
        "{:<24} {:>13} {:<12} {:>7} {:>7} {:>9} {:>7} {:>4}  {}",
        "DESTINATION", "TAKEN/USABLE", "", "TW", "NEW/S", "EXHAUST", "FAIL/S", "TS", "TOP CREATOR"
    )];
    for r in screen.rows.iter().take(limit) {
        let creator = match (&r.creator, r.traced) {
            (Some(c), true) => format!("{c} (traced)"),
            (Some(c), false) => format!("{c} (likely)"),
            (None, _) => "-".to_string(),
        };
        out.push(format!(
            "{:<24} {:>13} {:<12} {:>7} {:>7} {:>9} {:>7} {:>4}  {}",
            r.remote,
            format!("{}/{}", r.taken, r.usable),
            format!("{} {}", bar(r.ratio, 5), percent(r.ratio)),
            r.time_wait,
            rate(r.new_per_second),
            match r.ratio >= 1.0 {
                true => "now".to_string(),
                false => duration(r.seconds_to_exhaustion),
            },
            rate(r.failures_per_second),
            yes_no(r.peer_timestamps),
            creator
        ));
    }
    if screen.rows.is_empty() {
        out.push("(no outbound destination)".to_string());
    }
    out
}

/// One block: the header, every destination kept, the findings firing and
/// the changes since the previous block. Ends with a blank line.
pub fn block(screen: &Screen, changes_since: usize) -> String {
    let mut out = String::new();
    for line in header_lines(screen) {
        out.push_str(&line);
        out.push('\n');
    }
    for line in table(screen, usize::MAX) {
        out.push_str(&line);
        out.push('\n');
    }
    for change in screen.changes.iter().take(changes_since) {
        let _ = writeln!(
            out,
            "{} {} [{}] {}: {}",
            change.at,
            change.what.word(),
            change.severity.as_str(),
            change.rule,
            change.summary
        );
    }
    out.push('\n');
    out
}
