//! The Prometheus text exposition format (version 0.0.4) of `twtune check
//! --format prometheus`, for node_exporter's textfile collector.
//!
//! Every family has HELP and TYPE lines; every sample is a gauge without a
//! timestamp (node_exporter rejects timestamps in textfiles); label sets are
//! bounded (verdict and severity words, loaded rule ids, the top N
//! destinations). What node_exporter already exports (sockstat, sysctl
//! values, TcpExt counters) is not repeated. The document always ends with
//! the `twtune_apply_interrupted` sample, so a reader can tell a whole file.

use std::fmt::Write as _;

use crate::exit_code::Status;
use crate::facts::Facts;
use crate::facts::nat::NatVerdict;
use crate::rules::{Evaluation, Severity};

/// What one completed check exports. The command fills it from the facts,
/// the evaluation and the journal; nothing here is decided by the renderer.
pub struct CheckMetrics<'a> {
    pub facts: &'a Facts,
    pub evaluation: &'a Evaluation,
    /// Every loaded rule, in the rule set's order.
    pub rule_ids: Vec<&'a str>,
    pub status: Status,
    /// Whether the check reached a verdict that is not an error (exit 0 or 2).
    pub check_success: bool,
    /// When the check ran, in seconds since the epoch.
    pub checked_at: f64,
    /// How many destinations to export, busiest first.
    pub top_destinations: usize,
    /// An apply or rollback left a journal behind (or one that cannot be read).
    pub apply_interrupted: bool,
}

/// What a check that failed before its verdict exports: enough for an alert
/// on `twtune_check_success == 0`, so a failed run never leaves an older
/// success in place.
pub struct FailureMetrics<'a> {
    pub kernel_release: Option<&'a str>,
    pub checked_at: f64,
    pub apply_interrupted: bool,
}

/// The NAT verdicts `twtune_nat_verdict` always lists (`weak` is only ever
/// a signal's weight, never a verdict).
const NAT_VERDICTS: [NatVerdict; 4] = [
    NatVerdict::Unknown,
    NatVerdict::None,
    NatVerdict::Possible,
    NatVerdict::Likely,
];

pub fn check(metrics: &CheckMetrics<'_>) -> String {
    check_labelled(metrics, &[])
}

/// [`check`] with `labels` first on every sample: one namespace's part of
/// `check --all-netns` (see [`super::prometheus_netns`]).
pub fn check_labelled(metrics: &CheckMetrics<'_>, labels: &[(&str, &str)]) -> String {
    let facts = metrics.facts;
    let mut out = Exposition {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    head(
        &mut out,
        facts.kernel.release.as_deref(),
        metrics.check_success,
        metrics.checked_at,
        Some(metrics.status),
    );

    out.family("twtune_findings", "Findings of the last check by severity.");
    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        let count = metrics
            .evaluation
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count();
        out.sample(
            "twtune_findings",
            &[("severity", severity.as_str())],
            count as f64,
        );
    }

    out.family(
        "twtune_rule_findings",
        "Findings of the last check by rule; every loaded rule is listed, 0 when it stayed quiet.",
    );
    for rule in &metrics.rule_ids {
        let count = metrics
            .evaluation
            .findings
            .iter()
            .filter(|f| f.rule == *rule)
            .count();
        out.sample("twtune_rule_findings", &[("rule", rule)], count as f64);
    }

    if let Some(sockets) = &facts.sockets {
        out.family(
            "twtune_time_wait_sockets",
            "TCP sockets in TIME_WAIT by which side closed first: client (this host connected) or server (this host accepted).",
        );
        out.sample(
            "twtune_time_wait_sockets",
            &[("side", "client")],
            sockets.time_wait_client_side as f64,
        );
        out.sample(
            "twtune_time_wait_sockets",
            &[("side", "server")],
            sockets.time_wait_server_side as f64,
        );

        out.family(
            "twtune_close_wait_sockets",
            "TCP sockets in CLOSE_WAIT: the peer closed, the local application has not.",
        );
        out.sample("twtune_close_wait_sockets", &[], sockets.close_wait as f64);

        out.family(
            "twtune_max_exhaustion_ratio",
            "The highest share of usable ephemeral ports taken toward any one destination (0 to 1).",
        );
        out.sample(
            "twtune_max_exhaustion_ratio",
            &[],
            sockets.max_exhaustion_ratio,
        );

        out.family(
            "twtune_destination_exhaustion_ratio",
            "Share of usable ephemeral ports taken toward a destination (local address, remote address and port), for the busiest destinations.",
        );
        for destination in sockets.destinations.iter().take(metrics.top_destinations) {
            out.sample(
                "twtune_destination_exhaustion_ratio",
                &[
                    ("local", &destination.local),
                    ("remote", &destination.remote),
                ],
                destination.exhaustion_ratio,
            );
        }
    }

    out.family(
        "twtune_nat_verdict",
        "Whether this host translates or is translated by NAT (1 = the current verdict).",
    );
    let verdict = facts.nat.verdict;
    let extra = (!NAT_VERDICTS.contains(&verdict)).then_some(verdict);
    for each in NAT_VERDICTS.iter().copied().chain(extra) {
        out.sample(
            "twtune_nat_verdict",
            &[("verdict", each.as_str())],
            flag(each == verdict),
        );
    }

    tail(&mut out, metrics.apply_interrupted);
    out.text
}

pub fn failure(metrics: &FailureMetrics<'_>) -> String {
    let mut out = Exposition::default();
    head(
        &mut out,
        metrics.kernel_release,
        false,
        metrics.checked_at,
        None,
    );
    tail(&mut out, metrics.apply_interrupted);
    out.text
}

fn head(
    out: &mut Exposition,
    kernel_release: Option<&str>,
    success: bool,
    checked_at: f64,
    status: Option<Status>,
) {
    out.family(
        "twtune_info",
        "twtune's version, the inspected kernel's release and the JSON schema version; always 1.",
    );
    let version = env!("CARGO_PKG_VERSION");
    let schema_version = crate::render::SCHEMA_VERSION.to_string();
    out.sample(
        "twtune_info",
        &[
            ("version", version),
            ("kernel_release", kernel_release.unwrap_or("")),
            ("schema_version", &schema_version),
        ],
        1.0,
    );

    out.family(
        "twtune_check_success",
        "1 when the last check reached a verdict (exit status 0 or 2), 0 when it failed (exit status 1).",
    );
    out.sample("twtune_check_success", &[], flag(success));

    out.family(
        "twtune_last_check_timestamp_seconds",
        "When the last check ran, in seconds since the epoch.",
    );
    out.sample("twtune_last_check_timestamp_seconds", &[], checked_at);

    out.family(
        "twtune_status",
        "The verdict of the last check (1 = current); none is current when the check failed before a verdict.",
    );
    for each in Status::ALL {
        out.sample(
            "twtune_status",
            &[("status", each.word())],
            flag(status == Some(each)),
        );
    }
}

fn tail(out: &mut Exposition, apply_interrupted: bool) {
    out.family(
        "twtune_apply_interrupted",
        "1 when an apply or rollback was interrupted and left its journal (run twtune rollback), else 0.",
    );
    out.sample("twtune_apply_interrupted", &[], flag(apply_interrupted));
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

#[derive(Default)]
struct Exposition {
    text: String,
    /// Put first on every sample.
    labels: Vec<(String, String)>,
}

impl Exposition {
    /// HELP and TYPE of a gauge family: every twtune metric is a gauge.
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} gauge");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        let extra = self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let labels: Vec<(&str, &str)> = extra.chain(labels.iter().copied()).collect();
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label_value(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }
}

/// A sample value as the exposition format spells it (Go's ParseFloat).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust never writes an exponent here, and whole numbers without ".0".
        format!("{value}")
    }
}

/// A label value from the inspected host (a kernel release, an address):
/// control characters shown escaped (as everywhere twtune prints outside
/// text), then backslash, double quote and newline escaped as the format
/// requires, so no value can end a label or a line early.
pub fn escape_label_value(raw: &str) -> String {
    let visible = crate::render::escape::text(raw);
    let mut out = String::with_capacity(visible.len());
    for c in visible.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(raw: &str) -> String {
    raw.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_break_out_of_their_quotes() {
        assert_eq!(escape_label_value("6.1.0-amd64"), "6.1.0-amd64");
        assert_eq!(escape_label_value("a\"b"), "a\\\"b");
        assert_eq!(escape_label_value("a\\b"), "a\\\\b");
        // The newline becomes the visible `\n`, whose backslash is escaped.
        assert_eq!(escape_label_value("a\nb"), "a\\\\nb");
        assert_eq!(escape_label_value("x\x1b[2J"), "x\\\\x1b[2J");
    }

    #[test]
    fn numbers_are_spelled_as_prometheus_parses_them() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1_700_000_000.125), "1700000000.125");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }

    #[test]
    fn a_failed_check_says_so_and_still_ends_with_the_last_family() {
        let text = failure(&FailureMetrics {
            kernel_release: None,
            checked_at: 1_700_000_000.5,
            apply_interrupted: false,
        });
        assert!(text.contains("\ntwtune_check_success 0\n"), "{text}");
        assert!(text.contains("twtune_status{status=\"compliant\"} 0\n"));
        assert!(text.ends_with("twtune_apply_interrupted 0\n"), "{text}");
    }
}
