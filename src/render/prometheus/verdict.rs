//! The check's outcome: who ran, whether it reached a verdict, when, how
//! long it took, the verdict, the findings by severity and by rule, and
//! whether every fact family could be read.

use super::exposition::{Exposition, flag};
use crate::exit_code::Status;
use crate::facts::Facts;
use crate::rules::{Evaluation, Severity};

pub struct Head<'a> {
    pub kernel_release: Option<&'a str>,
    pub success: bool,
    pub checked_at: f64,
    pub duration_seconds: f64,
    pub status: Option<Status>,
}

pub fn head(out: &mut Exposition, head: &Head<'_>) {
    out.gauge(
        "twtune_info",
        "twtune's version, the inspected kernel's release and the JSON schema version; always 1.",
    );
    let schema_version = crate::render::SCHEMA_VERSION.to_string();
    out.sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("kernel_release", head.kernel_release.unwrap_or("")),
            ("schema_version", &schema_version),
        ],
        1.0,
    );

    out.gauge(
        "twtune_check_success",
        "1 when the last check reached a verdict (exit status 0 or 2), 0 when it failed (exit status 1) (boolean).",
    );
    out.sample(&[], flag(head.success));

    out.gauge(
        "twtune_last_check_timestamp_seconds",
        "When the last check ran (seconds since the Unix epoch).",
    );
    out.sample(&[], head.checked_at);

    out.gauge(
        "twtune_check_duration_seconds",
        "How long the last check took to gather the facts and judge them, a --sample included (seconds).",
    );
    out.sample(&[], head.duration_seconds);

    out.gauge(
        "twtune_status",
        "The verdict of the last check (1 = current); none is current when the check failed before a verdict (boolean).",
    );
    for each in Status::ALL {
        out.sample(&[("status", each.word())], flag(head.status == Some(each)));
    }
}

pub fn findings(out: &mut Exposition, evaluation: &Evaluation, rules: &[(&str, Severity)]) {
    out.gauge(
        "twtune_findings",
        "Findings of the last check by severity (findings).",
    );
    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        let count = evaluation
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count();
        out.sample(&[("severity", severity.as_str())], count as f64);
    }

    out.gauge(
        "twtune_rule_findings",
        "Findings of the last check by rule, labelled with the rule's declared severity; every loaded rule is listed, 0 when it stayed quiet (findings).",
    );
    for (rule, severity) in rules {
        let count = evaluation
            .findings
            .iter()
            .filter(|f| f.rule == *rule)
            .count();
        out.sample(
            &[("rule", rule), ("severity", severity.as_str())],
            count as f64,
        );
    }
}

/// The fact families `twtune_facts_complete` lists, always all of them.
pub const FACT_FAMILIES: [&str; 4] = ["sockets", "conntrack", "conntrack_stats", "trace"];

/// Whether each fact family that can go missing was read. Conntrack's two
/// count as read when conntrack is not loaded (nothing to read); tracing
/// when no `--sample` asked for it.
pub fn completeness(out: &mut Exposition, facts: &Facts) {
    out.gauge(
        "twtune_facts_complete",
        "1 when the fact family could be read (or does not apply here), 0 when it could not and the rules judging it stayed undecided (boolean).",
    );
    let conntrack_loaded = facts.sysctl("net.netfilter.nf_conntrack_count").is_some();
    for family in FACT_FAMILIES {
        let complete = match family {
            "sockets" => facts.sockets.is_some(),
            "conntrack" => !conntrack_loaded || facts.nat.conntrack.is_some(),
            "conntrack_stats" => !conntrack_loaded || facts.nat.conntrack_stats.is_some(),
            _ => facts
                .sockets
                .as_ref()
                .is_none_or(|s| s.tracing.status != "unavailable"),
        };
        out.sample(&[("family", family)], flag(complete));
    }
}
