//! The JSON document of `twtune check --format json`, a contract for scripts
//! and configuration management. Fields are only ever added; a change of shape
//! bumps [`SCHEMA_VERSION`]. README.md documents every field.

use schemars::JsonSchema;
use serde::Serialize;

use crate::exit_code::Status;
use crate::facts::Facts;
use crate::rules::{Evaluation, Finding, Resolved, Severity, Undecided, resolve_recommendations};
use crate::sysctl::SysctlKey;

mod pretty;

/// The shape of the `check` and `facts` documents. 2: `status` may be
/// `"incomplete"`; a destination's `usable_ports` and `exhaustion_ratio`
/// count only ports really taken (reusable TIME_WAIT, listeners and bound
/// ports left out). 3: `facts.namespace` names the namespace (`names[]`,
/// `holder_pid`, `target`), each destination its `processes[]`, and
/// `facts.nat` the SNAT pressure (`snat_destinations[]`, `snat_port_range`,
/// `conntrack_source`); `exhaustion_ratio` may be null. 4: CHANGELOG.md
/// lists the fields (peer timestamps and reuse without it, traced creators
/// and connect failures, `tracing`, persisted settings' `at_boot`, a
/// container named as the cgroup path's claim, and more). 7:
/// `facts.persisted.winners` maps each key to the position of its winning
/// line in `facts.persisted.settings[]` instead of repeating the setting.
pub const SCHEMA_VERSION: u32 = 7;

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
        let count = |s| evaluation.count(s);
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

/// Any document twtune prints as JSON, pretty-printed (serde_json's layout).
/// Escaping is the JSON writer's alone — never the terminal escaper's, whose
/// `\x1b` and `\u{9b}` are not JSON: the C0 controls as serde_json writes
/// them (`\n`, `\u001b`…), and DEL, the C1 controls (U+0080–U+009F, which a
/// terminal may obey as CSI and others) and the JSON-legal but
/// line-breaking U+2028 and U+2029 as `\u00XX`/`\u20XX` too, so the
/// document stays valid JSON and prints on a terminal without a control
/// character in it (the writer of `render/json/pretty.rs`).
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(4096);
    pretty::write(&mut out, value, 0)?;
    // The writer writes only UTF-8 (every string it is given is a &str),
    // and the escaping replaces whole characters.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// [`to_string_pretty`] written straight to `writer`, so a document holding
/// 100,000 persisted settings is not held in memory a second time as text.
pub fn to_writer_pretty<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    pretty::write(writer, value, 0)
}

/// [`to_writer_pretty`] of a value `levels` deep in a document written
/// around it (each `namespaces[]` entry of `check --all-netns`).
pub fn to_writer_pretty_at<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    levels: usize,
) -> serde_json::Result<()> {
    pretty::write(writer, value, levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_every_control_character_and_stays_json() {
        let hostile = "\n✓ all ok\x1b[2J\x7f\u{85}\u{9b}31m\u{2028}ü";
        let text = to_string_pretty(&serde_json::json!({ "comm": hostile })).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(
            text.contains(r#""\n✓ all ok\u001b[2J\u007f\u0085\u009b31m\u2028ü""#),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["comm"], hostile);
        // Laid out as serde_json's pretty printer lays it out.
        let plain = serde_json::json!({"a": [1, {"b": "c"}], "d": {}});
        assert_eq!(
            to_string_pretty(&plain).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }
}
