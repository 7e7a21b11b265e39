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

/// `--warning` / `--critical`: the ratio thresholds given on the command
/// line. A threshold not given leaves the state to the rules, and the
/// perfdata shows the rules' own thresholds instead.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

/// The conntrack rule warns at 80 % and turns critical at a full table.
const CONNTRACK_WARNING: f64 = 0.8;
const CONNTRACK_CRITICAL: f64 = 1.0;

/// One ratio the thresholds judge: its perfdata label, value, and the
/// rules' own warn and crit for it.
pub struct Ratio {
    pub label: &'static str,
    pub value: f64,
    pub rule_warning: f64,
    pub rule_critical: f64,
}

/// The port, conntrack and SNAT ratios of these facts, as far as gathered.
pub fn ratios(facts: &Facts) -> Vec<Ratio> {
    let port = |label, value| Ratio {
        label,
        value,
        rule_warning: EXHAUSTION_RATIO_WARNING,
        rule_critical: EXHAUSTION_RATIO_CRITICAL,
    };
    let mut out = Vec::new();
    if let Some(sockets) = &facts.sockets {
        out.push(port("max_exhaustion_ratio", sockets.max_exhaustion_ratio));
        out.push(port("host_ports_ratio", sockets.host_ports.ratio));
        // What ephemeral-ports-host-wide judges: bind(0) faces every TIME_WAIT.
        out.push(port(
            "host_ports_ratio_with_time_wait",
            sockets.host_ports.ratio_with_time_wait,
        ));
    }
    let count = facts.sysctl_int("net.netfilter.nf_conntrack_count");
    let max = facts.sysctl_int("net.netfilter.nf_conntrack_max");
    if let (Some(count), Some(max)) = (count, max.filter(|m| *m > 0)) {
        out.push(Ratio {
            label: "conntrack_fill_ratio",
            value: count as f64 / max as f64,
            rule_warning: CONNTRACK_WARNING,
            rule_critical: CONNTRACK_CRITICAL,
        });
    }
    if facts.nat.conntrack.is_some() {
        let worst = facts
            .nat
            .snat_destinations
            .iter()
            .map(|d| d.ratio)
            .fold(0.0, f64::max);
        out.push(port("snat_max_ratio", worst));
    }
    out
}

pub fn check(
    state: PluginState,
    facts: &Facts,
    evaluation: &Evaluation,
    thresholds: Thresholds,
) -> String {
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
    .or_else(|| threshold_crossed(state, facts, evaluation, thresholds))
    .or_else(|| evaluation.findings.first().map(|f| f.summary.clone()))
    .unwrap_or_else(|| "nothing to report".into());

    let mut out = format!(
        "TWTUNE {} - {counts}: {} | {}\n",
        state.word(),
        plugin_text(&headline),
        perfdata(facts, evaluation, thresholds).join(" ")
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

/// When the state comes from `--warning` / `--critical` rather than the
/// worst finding: which ratio crossed which threshold.
fn threshold_crossed(
    state: PluginState,
    facts: &Facts,
    evaluation: &Evaluation,
    thresholds: Thresholds,
) -> Option<String> {
    let (word, threshold, severity) = match state {
        PluginState::Critical => ("critical", thresholds.critical?, Severity::Critical),
        PluginState::Warning => ("warning", thresholds.warning?, Severity::Warning),
        _ => return None,
    };
    if evaluation.worst() == Some(severity) {
        return None;
    }
    let ratio = ratios(facts).into_iter().find(|r| r.value > threshold)?;
    Some(format!(
        "{} {} is above the {word} threshold {threshold}",
        ratio.label,
        round(ratio.value)
    ))
}

/// The output of a run that failed before any verdict: UNKNOWN, exit 3.
pub fn unknown(message: &str) -> String {
    format!("TWTUNE UNKNOWN - {}\n", plugin_text(message))
}

/// Performance data: finding counts; the port, conntrack and SNAT ratios
/// with `warn;crit;min;max` (the thresholds given, else the rules' own);
/// with a socket listing, the TIME_WAIT and CLOSE_WAIT populations.
fn perfdata(facts: &Facts, evaluation: &Evaluation, thresholds: Thresholds) -> Vec<String> {
    let count = |s| evaluation.count(s);
    let mut data = vec![
        format!("'critical'={};;;0", count(Severity::Critical)),
        format!("'warning'={};;;0", count(Severity::Warning)),
        format!("'info'={};;;0", count(Severity::Info)),
        format!("'undecided'={};;;0", evaluation.undecided.len()),
    ];
    for ratio in ratios(facts) {
        data.push(format!(
            "'{}'={};{};{};0;1",
            ratio.label,
            round(ratio.value),
            thresholds.warning.unwrap_or(ratio.rule_warning),
            thresholds.critical.unwrap_or(ratio.rule_critical)
        ));
    }
    if let Some(sockets) = &facts.sockets {
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
