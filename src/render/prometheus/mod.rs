//! The Prometheus text exposition format (version 0.0.4) of `twtune check
//! --format prometheus`, for node_exporter's textfile collector.
//!
//! Every family has HELP (with its unit) and TYPE lines; no sample has a
//! timestamp (node_exporter rejects timestamps in textfiles); label sets are
//! bounded (verdict and severity words, loaded rule ids, the top N
//! destinations, failures and SNAT targets: docs/monitoring.md gives each
//! bound). What node_exporter already exports (sockstat, sysctl values,
//! TcpExt counters) is not repeated. The document always ends with the
//! `twtune_apply_interrupted` sample, so a reader can tell a whole file.
//!
//! One concern per file: [`exposition`] writes the format, [`verdict`] the
//! check's outcome, [`sockets`] the port and socket numbers, [`nat`] conntrack
//! and SNAT.
//!
//! # One document for several namespaces
//!
//! [`check`] renders one namespace. [`check_exposition`] returns the same
//! families as values, every sample carrying the extra labels given first;
//! [`Exposition::merge`] joins several into one document (each family one
//! block under one HELP/TYPE, as the format requires) and
//! [`Exposition::render`] prints it:
//!
//! ```text
//! let mut all = Exposition::default();
//! for (netns, pod, metrics) in namespaces {
//!     all.merge(check_exposition(&metrics, &[("netns", netns), ("pod", pod)]));
//! }
//! all.move_to_end(APPLY_INTERRUPTED); // the whole-file marker stays last
//! let text = all.render();
//! ```

pub mod exposition;
pub mod nat;
pub mod sockets;
pub mod verdict;

pub use exposition::{Exposition, Family, Kind, Sample, escape_label_value};

use crate::exit_code::Status;
use crate::facts::Facts;
use crate::rules::{Evaluation, Severity};

/// The family every document ends with.
pub const APPLY_INTERRUPTED: &str = "twtune_apply_interrupted";

/// What one completed check exports. The command fills it from the facts,
/// the evaluation and the journal; nothing here is decided by the renderer.
pub struct CheckMetrics<'a> {
    pub facts: &'a Facts,
    pub evaluation: &'a Evaluation,
    /// Every loaded rule with its declared severity, in the rule set's order.
    pub rules: Vec<(&'a str, Severity)>,
    pub status: Status,
    /// Whether the check reached a verdict that is not an error (exit 0 or 2).
    pub check_success: bool,
    /// When the check ran, in seconds since the epoch.
    pub checked_at: f64,
    /// How long gathering and judging took, in seconds.
    pub duration_seconds: f64,
    /// How many destinations (and SNAT targets, failing commands) to
    /// export, worst first.
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
    pub duration_seconds: f64,
    pub apply_interrupted: bool,
}

/// One namespace's check as families, every sample carrying `extra` labels
/// first (e.g. `[("netns", name), ("pod", pod)]`; none for a plain check).
pub fn check_exposition(metrics: &CheckMetrics<'_>, extra: &[(&str, &str)]) -> Exposition {
    let mut out = Exposition::with_labels(extra);
    verdict::head(
        &mut out,
        &verdict::Head {
            kernel_release: metrics.facts.kernel.release.as_deref(),
            success: metrics.check_success,
            checked_at: metrics.checked_at,
            duration_seconds: metrics.duration_seconds,
            status: Some(metrics.status),
        },
    );
    verdict::findings(&mut out, metrics.evaluation, &metrics.rules);
    verdict::completeness(&mut out, metrics.facts);
    sockets::families(&mut out, metrics.facts, metrics.top_destinations);
    nat::families(&mut out, metrics.facts, metrics.top_destinations);
    tail(&mut out, metrics.apply_interrupted);
    out
}

/// A failed check as families, with `extra` labels first on every sample.
pub fn failure_exposition(metrics: &FailureMetrics<'_>, extra: &[(&str, &str)]) -> Exposition {
    let mut out = Exposition::with_labels(extra);
    verdict::head(
        &mut out,
        &verdict::Head {
            kernel_release: metrics.kernel_release,
            success: false,
            checked_at: metrics.checked_at,
            duration_seconds: metrics.duration_seconds,
            status: None,
        },
    );
    tail(&mut out, metrics.apply_interrupted);
    out
}

/// The document of one completed check.
pub fn check(metrics: &CheckMetrics<'_>) -> String {
    check_exposition(metrics, &[]).render()
}

/// The document of a check that failed before its verdict.
pub fn failure(metrics: &FailureMetrics<'_>) -> String {
    failure_exposition(metrics, &[]).render()
}

fn tail(out: &mut Exposition, apply_interrupted: bool) {
    out.gauge(
        APPLY_INTERRUPTED,
        "1 when an apply or rollback was interrupted and left its journal (run twtune rollback), else 0 (boolean).",
    );
    out.sample(&[], exposition::flag(apply_interrupted));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_says_so_and_still_ends_with_the_last_family() {
        let text = failure(&FailureMetrics {
            kernel_release: None,
            checked_at: 1_700_000_000.5,
            duration_seconds: 0.25,
            apply_interrupted: false,
        });
        assert!(text.contains("\ntwtune_check_success 0\n"), "{text}");
        assert!(text.contains("twtune_status{status=\"compliant\"} 0\n"));
        assert!(text.contains("\ntwtune_check_duration_seconds 0.25\n"));
        assert!(text.ends_with("twtune_apply_interrupted 0\n"), "{text}");
    }

    #[test]
    fn extra_labels_come_first_on_every_sample() {
        let text = failure_exposition(
            &FailureMetrics {
                kernel_release: Some("6.1"),
                checked_at: 1.0,
                duration_seconds: 0.0,
                apply_interrupted: true,
            },
            &[("netns", "cni-1"), ("pod", "web-0")],
        )
        .render();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.contains("{netns=\"cni-1\",pod=\"web-0\""),
                "{line}\n{text}"
            );
        }
        assert!(text.ends_with("twtune_apply_interrupted{netns=\"cni-1\",pod=\"web-0\"} 1\n"));
    }
}
