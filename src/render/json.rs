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

/// Any document twtune prints as JSON, pretty-printed. Escaping is the JSON
/// serializer's alone — never the terminal escaper's, whose `\x1b` and
/// `\u{9b}` are not JSON. serde_json already writes the C0 controls as
/// `\u00XX`; DEL and the C1 controls (U+0080–U+009F, which a terminal may
/// obey as CSI and others) and the JSON-legal but line-breaking U+2028 and
/// U+2029 are written as `\u00XX`/`\u20XX` too, so the document stays valid
/// JSON and prints on a terminal without a control character in it.
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(4096);
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, EscapingFormatter::default());
    value.serialize(&mut serializer)?;
    // The serializer writes only UTF-8 (every string it is given is a &str).
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// [`to_string_pretty`] written straight to `writer`, so a document holding
/// 100,000 persisted settings is not held in memory a second time as text.
pub fn to_writer_pretty<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut serializer =
        serde_json::Serializer::with_formatter(writer, EscapingFormatter::default());
    value.serialize(&mut serializer)
}

/// [`to_writer_pretty`] of a value `levels` deep in a document written
/// around it (each `namespaces[]` entry of `check --all-netns`).
pub fn to_writer_pretty_at<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    levels: usize,
) -> serde_json::Result<()> {
    let formatter = EscapingFormatter {
        current_indent: levels,
        has_value: false,
    };
    value.serialize(&mut serde_json::Serializer::with_formatter(
        writer, formatter,
    ))
}

/// serde_json's `PrettyFormatter` layout (two spaces a level), each line's
/// break and indentation written at once: a document of 100,000 persisted
/// settings has millions of lines (issue 20 §2).
#[derive(Default)]
struct EscapingFormatter {
    current_indent: usize,
    has_value: bool,
}

/// `,` then a line break and the deepest indentation written in one piece.
const BREAK: &[u8; 2 + 2 * 32] =
    b",\n                                                                ";

impl EscapingFormatter {
    /// A line break (after a comma unless `first`) and the current indentation.
    fn new_line<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        let from = usize::from(first);
        match 2 + 2 * self.current_indent {
            end if end <= BREAK.len() => w.write_all(&BREAK[from..end]),
            _ => {
                w.write_all(&BREAK[from..2])?;
                (0..self.current_indent).try_for_each(|_| w.write_all(b"  "))
            }
        }
    }

    fn open<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.current_indent += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.current_indent -= 1;
        if self.has_value {
            self.new_line(w, true)?;
        }
        w.write_all(bracket)
    }
}

/// Whether any byte is DEL (0x7f) or above, eight bytes a step: most of a
/// document is plain ASCII in short strings (a key, a field name, a file
/// name), where a vectorised loop spends more on its set-up than on the
/// bytes. The last word overlaps the one before it (a byte looked at twice
/// answers the same), so a string is read in whole words, never byte by byte
/// unless it is shorter than four.
fn has_del_or_above(bytes: &[u8]) -> bool {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Per byte: the high bit is set, or the low seven are all ones (DEL),
    // which adding one carries into the high bit; no carry crosses a byte.
    let flags = |w: u64| w | ((w & LOW7) + ONES);
    let u64_at = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_ne_bytes(word)
    };
    let u32_at = |at: usize| {
        let mut word = [0u8; 4];
        word.copy_from_slice(&bytes[at..at + 4]);
        u64::from(u32::from_ne_bytes(word))
    };
    let n = bytes.len();
    let found = match n {
        0..4 => return bytes.iter().any(|&b| b >= 0x7f),
        4..8 => flags(u32_at(0) | (u32_at(n - 4) << 32)),
        _ => {
            let whole = (0..n / 8).fold(0, |found, i| found | flags(u64_at(8 * i)));
            whole | flags(u64_at(n - 8))
        }
    };
    found & HIGH != 0
}

fn json_escaped(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
}

impl serde_json::ser::Formatter for EscapingFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // Below DEL every character is written as it is (serde_json has
        // already escaped the C0 controls, quotes and backslashes).
        if !has_del_or_above(fragment.as_bytes()) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(at) = rest.find(json_escaped) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(writer, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.new_line(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.new_line(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn del_and_above_is_found_at_every_place_of_a_word() {
        for len in 0..20 {
            for at in 0..len {
                for b in [0x7f_u8, 0x80, 0xc3, 0xff] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert!(has_del_or_above(&bytes), "{bytes:?}");
                }
            }
            // Every byte below DEL, the ones next to it included.
            let low: Vec<u8> = (0..len)
                .map(|i| [0x7e_u8, 0x00, 0x3f, 0x40][i % 4])
                .collect();
            assert!(!has_del_or_above(&low), "{low:?}");
        }
        for b in 0..=255_u8 {
            assert_eq!(has_del_or_above(&[b; 9]), b >= 0x7f, "{b:#x}");
        }
    }

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
