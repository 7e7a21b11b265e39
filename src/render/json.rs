//! The JSON document of `twtune check --format json`, a contract for scripts
//! and configuration management. Fields are only ever added; a change of shape
//! bumps [`SCHEMA_VERSION`]. README.md documents every field.

use schemars::JsonSchema;
use serde::Serialize;

use crate::exit_code::Status;
use crate::facts::Facts;
use crate::rules::{Evaluation, Finding, Resolved, Severity, Undecided, resolve_recommendations};
use crate::sysctl::SysctlKey;

/// The shape of the `check` and `facts` documents. 2: `status` may be
/// `"incomplete"`; a destination's `usable_ports` and `exhaustion_ratio`
/// count only ports really taken (reusable TIME_WAIT, listeners and bound
/// ports left out). 3: `facts.namespace` names the namespace (`names[]`,
/// `holder_pid`, `target`), each destination its `processes[]`, and
/// `facts.nat` the SNAT pressure (`snat_destinations[]`, `snat_port_range`,
/// `conntrack_source`); `exhaustion_ratio` may be null. 4: each destination
/// its `creators[]`, `attribution` and `connect_failures[]`, and
/// `facts.sockets` `connect_failures[]` and `tracing` (issue 17, traced
/// `--sample`).
pub const SCHEMA_VERSION: u32 = 4;

#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckReport<'a> {
    pub schema_version: u32,
    pub twtune_version: &'static str,
    pub kernel: KernelSummary<'a>,
    /// "compliant", "changes_pending", "incomplete" or "error": the verdict
    /// the exit status is derived from.
    pub status: Status,
    pub summary: Summary,
    pub findings: &'a [Finding],
    /// Key → the value `apply` would set (`value`, `rule`), or a conflict
    /// (`value` null, `conflict[]` the rules that disagree).
    pub recommendations: std::collections::BTreeMap<SysctlKey, Resolved>,
    pub undecided: &'a [Undecided],
    /// Rules refused while judging (over their evaluation budget): they make
    /// the status "error".
    pub errors: Vec<ReportError>,
    /// Rule files loaded from the inspected root's etc/twtune/rules.d (its
    /// site rules; under --root, rules the inspected tree brought along).
    pub site_rules: &'a [String],
    pub facts: &'a Facts,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct KernelSummary<'a> {
    pub release: Option<&'a str>,
    /// "MAJOR.MINOR.PATCH", or null when the release does not parse.
    pub version: Option<String>,
}

impl<'a> KernelSummary<'a> {
    fn of(facts: &'a Facts) -> Self {
        KernelSummary {
            release: facts.kernel.release.as_deref(),
            version: facts.kernel.version.map(|v| v.to_string()),
        }
    }
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Summary {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
    pub undecided: usize,
}

impl Summary {
    pub fn of(evaluation: &Evaluation) -> Self {
        let count = |s| {
            evaluation
                .findings
                .iter()
                .filter(|f| f.severity == s)
                .count()
        };
        Summary {
            critical: count(Severity::Critical),
            warning: count(Severity::Warning),
            info: count(Severity::Info),
            undecided: evaluation.undecided.len(),
        }
    }
}

/// The JSON status word: [`Status`] decides, this only names it.
pub fn status_word(evaluation: &Evaluation) -> &'static str {
    Status::of(evaluation).word()
}

pub fn check_report<'a>(
    facts: &'a Facts,
    evaluation: &'a Evaluation,
    site_rules: &'a [String],
) -> CheckReport<'a> {
    CheckReport {
        schema_version: SCHEMA_VERSION,
        twtune_version: env!("CARGO_PKG_VERSION"),
        kernel: KernelSummary::of(facts),
        status: Status::of(evaluation),
        summary: Summary::of(evaluation),
        findings: &evaluation.findings,
        recommendations: resolve_recommendations(&evaluation.findings),
        undecided: &evaluation.undecided,
        errors: evaluation
            .errors
            .iter()
            .map(|failure| ReportError {
                file: failure.file.clone(),
                message: format!(
                    "line {}: rule {}: {}",
                    failure.line, failure.rule, failure.message
                ),
            })
            .collect(),
        site_rules,
        facts,
    }
}

/// An entry of a report's `errors[]`: the file, and what is wrong in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReportError {
    pub file: String,
    pub message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FactsReport<'a> {
    pub schema_version: u32,
    pub twtune_version: &'static str,
    pub kernel: KernelSummary<'a>,
    /// Always empty: bad input is an error (exit 1) before a report is made.
    /// Kept so the document keeps its shape.
    pub errors: &'a [ReportError],
    pub facts: &'a Facts,
}

pub fn facts_report(facts: &Facts) -> FactsReport<'_> {
    FactsReport {
        schema_version: SCHEMA_VERSION,
        twtune_version: env!("CARGO_PKG_VERSION"),
        kernel: KernelSummary::of(facts),
        errors: &[],
        facts,
    }
}
