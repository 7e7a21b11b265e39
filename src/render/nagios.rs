//! `twtune check --format nagios`: a plugin's output by the monitoring-plugins
//! development guidelines, read by Nagios, Icinga and Sensu.
//!
//! ```text
//! TWTUNE WARNING - 0 critical, 1 warning, 2 info: <worst finding> | 'label'=value[UOM];warn;crit;min;max ...
//! WARNING: <rule>: <summary>
//! ...
//! ```
//!
//! The state itself is decided by [`PluginState::of`]; this module only
//! writes it. Text from the inspected host has its control characters shown
//! escaped and no `|`, which would start the performance data.

use std::fmt::Write as _;

use crate::exit_code::PluginState;
use crate::facts::Facts;
use crate::rules::defaults::{EXHAUSTION_RATIO_CRITICAL, EXHAUSTION_RATIO_WARNING};
use crate::rules::{Evaluation, Severity};

pub fn check(state: PluginState, facts: &Facts, evaluation: &Evaluation) -> String {
    let count = |s| evaluation.count(s);
    let mut counts = format!(
        "{} critical, {} warning, {} info",
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    );
    if !evaluation.undecided.is_empty() {
        let _ = write!(counts, ", {} undecided", evaluation.undecided.len());
    }
    if !evaluation.errors.is_empty() {
        let _ = write!(counts, ", {} rule errors", evaluation.errors.len());
    }
    // Findings are sorted most severe first: the first is the worst. An
    // error or an undecided rule explains an UNKNOWN better than an info.
    let headline = match state {
        PluginState::Unknown => evaluation
            .errors
            .first()
            .map(|e| format!("rule {} failed: {}", e.rule, e.message))
            .or_else(|| {
                evaluation
                    .undecided
                    .first()
                    .map(|u| format!("rule {} undecided: {}", u.rule, u.reason))
            }),
        _ => None,
    }
    .or_else(|| evaluation.findings.first().map(|f| f.summary.clone()))
    .unwrap_or_else(|| "nothing to report".into());

    let mut out = format!(
        "TWTUNE {} - {counts}: {} | {}\n",
        state.word(),
        plugin_text(&headline),
        perfdata(facts, evaluation).join(" ")
    );
    for failure in &evaluation.errors {
        let _ = writeln!(
            out,
            "ERROR: {}",
            plugin_text(&format!("rule {}: {}", failure.rule, failure.message))
        );
    }
    for finding in &evaluation.findings {
        let _ = writeln!(
            out,
            "{}: {}: {}",
            finding.severity.as_str().to_ascii_uppercase(),
            plugin_text(&finding.rule),
            plugin_text(&finding.summary)
        );
    }
    for undecided in &evaluation.undecided {
        let _ = writeln!(
            out,
            "UNDECIDED: {}: {}",
            plugin_text(&undecided.rule),
            plugin_text(&undecided.reason)
        );
    }
    out
}

/// The output of a run that failed before any verdict: UNKNOWN, exit 3.
pub fn unknown(message: &str) -> String {
    format!("TWTUNE UNKNOWN - {}\n", plugin_text(message))
}

/// Performance data: finding counts, and, with a socket listing, the port
/// exhaustion ratios with the thresholds the port rules use, and the
/// TIME_WAIT and CLOSE_WAIT populations.
fn perfdata(facts: &Facts, evaluation: &Evaluation) -> Vec<String> {
    let count = |s| evaluation.count(s);
    let mut data = vec![
        format!("'critical'={};;;0", count(Severity::Critical)),
        format!("'warning'={};;;0", count(Severity::Warning)),
        format!("'info'={};;;0", count(Severity::Info)),
        format!("'undecided'={};;;0", evaluation.undecided.len()),
    ];
    if let Some(sockets) = &facts.sockets {
        let ratio = |label: &str, value: f64| {
            format!(
                "'{label}'={};{EXHAUSTION_RATIO_WARNING};{EXHAUSTION_RATIO_CRITICAL};0;1",
                round(value)
            )
        };
        data.push(ratio("max_exhaustion_ratio", sockets.max_exhaustion_ratio));
        data.push(ratio("host_ports_ratio", sockets.host_ports.ratio));
        // What ephemeral-ports-host-wide judges: bind(0) faces every TIME_WAIT.
        data.push(ratio(
            "host_ports_ratio_with_time_wait",
            sockets.host_ports.ratio_with_time_wait,
        ));
        data.push(format!(
            "'time_wait_client'={};;;0",
            sockets.time_wait_client_side
        ));
        data.push(format!(
            "'time_wait_server'={};;;0",
            sockets.time_wait_server_side
        ));
        data.push(format!("'close_wait'={};;;0", sockets.close_wait));
    }
    data
}

/// Four decimals: enough for a ratio, and no float noise in graphs.
fn round(value: f64) -> f64 {
    if value.is_finite() {
        (value * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

/// One line of plugin text: control characters (newlines too) shown
/// escaped, and `|` — which would begin the performance data — replaced.
pub fn plugin_text(raw: &str) -> String {
    crate::render::escape::text(raw).replace('|', "¦")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_text_cannot_start_perfdata_or_a_new_line() {
        assert_eq!(plugin_text("a|b\nc\x1b"), "a¦b\\nc\\x1b");
        assert_eq!(
            unknown("cannot read /x|y"),
            "TWTUNE UNKNOWN - cannot read /x¦y\n"
        );
    }

    #[test]
    fn ratios_are_rounded_for_graphs() {
        assert_eq!(round(0.123456), 0.1235);
        assert_eq!(round(f64::NAN), 0.0);
    }
}
