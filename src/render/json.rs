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
/// U+2029 are written as `\u00XX`/`\u20XX` too ([`EscapeControls`]), so the
/// document stays valid JSON and prints on a terminal without a control
/// character in it.
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(4096);
    write_document(&mut out, value, Indenting::default())?;
    // The serializer writes only UTF-8 (every string it is given is a &str),
    // and the escaping replaces whole characters.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// [`to_string_pretty`] written straight to `writer`, so a document holding
/// 100,000 persisted settings is not held in memory a second time as text.
pub fn to_writer_pretty<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    write_document(writer, value, Indenting::default())
}

/// [`to_writer_pretty`] of a value `levels` deep in a document written
/// around it (each `namespaces[]` entry of `check --all-netns`).
pub fn to_writer_pretty_at<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    levels: usize,
) -> serde_json::Result<()> {
    let layout = Indenting {
        current_indent: levels,
        has_value: false,
    };
    write_document(writer, value, layout)
}

fn write_document<W: std::io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    layout: Indenting,
) -> serde_json::Result<()> {
    use std::io::Write;
    // serde_json writes a document in pieces of a few bytes; the controls
    // are escaped in the buffer's blocks, not piece by piece.
    let mut out = std::io::BufWriter::with_capacity(32 * 1024, EscapeControls::new(writer));
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, layout,
    ))?;
    out.flush().map_err(serde_json::Error::io)
}

/// Writes serde_json's output with DEL, the C1 controls and U+2028/U+2029
/// as `\u007f`, `\u0080`…`\u009f`, `\u2028`, `\u2029`. Every byte of DEL
/// or above in serde_json's output lies inside a string (its structure,
/// numbers and literals are ASCII), so escaping them in the output is
/// escaping them in the strings, and a block of plain ASCII — almost every
/// block — is passed on after two vectorised scans instead of being
/// looked at string by string (a document of 100,000 persisted settings
/// has 1.1 million strings). A character split between two writes is held
/// back until its end arrives.
struct EscapeControls<W> {
    out: W,
    /// The start of a sequence that may be one to escape, awaiting its rest:
    /// `C2`, `E2` or `E2 80`.
    held: Held,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    Nothing,
    C2,
    E2,
    E280,
}

impl<W: std::io::Write> EscapeControls<W> {
    fn new(out: W) -> Self {
        EscapeControls {
            out,
            held: Held::Nothing,
        }
    }

    /// Writes what is held as it was: its sequence turned out to be
    /// another character.
    fn release(&mut self) -> std::io::Result<()> {
        let held: &[u8] = match self.held {
            Held::Nothing => return Ok(()),
            Held::C2 => b"\xc2",
            Held::E2 => b"\xe2",
            Held::E280 => b"\xe2\x80",
        };
        self.held = Held::Nothing;
        self.out.write_all(held)
    }

    fn escape(&mut self, code: u32) -> std::io::Result<()> {
        write!(self.out, "\\u{code:04x}")
    }
}

/// No byte is DEL or above: plain ASCII, passed on as it is.
fn plain(bytes: &[u8]) -> bool {
    bytes.is_ascii() && memchr::memchr(0x7f, bytes).is_none()
}

impl<W: std::io::Write> std::io::Write for EscapeControls<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.held == Held::Nothing && plain(bytes) {
            return self.out.write_all(bytes);
        }
        let mut run = 0;
        for (at, &b) in bytes.iter().enumerate() {
            let (escape, held) = match (self.held, b) {
                (Held::Nothing, 0x7f) => (Some(0x7f), Held::Nothing),
                (Held::Nothing, 0xc2) => (None, Held::C2),
                (Held::Nothing, 0xe2) => (None, Held::E2),
                (Held::Nothing, _) => continue,
                (Held::C2, 0x80..=0x9f) => (Some(u32::from(b)), Held::Nothing),
                (Held::E2, 0x80) => (None, Held::E280),
                (Held::E280, 0xa8 | 0xa9) => (Some(0x2000 + u32::from(b) - 0x80), Held::Nothing),
                // Another character: what was held goes out as it was, and
                // this byte starts a run of its own (it may itself start a
                // sequence: `C2 C2 85`).
                _ => {
                    self.release()?;
                    run = at;
                    match b {
                        0x7f => (Some(0x7f), Held::Nothing),
                        0xc2 => (None, Held::C2),
                        0xe2 => (None, Held::E2),
                        _ => continue,
                    }
                }
            };
            // The run before this byte, unless it is held or escaped.
            if self.held == Held::Nothing {
                self.out.write_all(&bytes[run..at])?;
            }
            self.held = held;
            run = at + 1;
            if let Some(code) = escape {
                self.escape(code)?;
            }
        }
        if self.held == Held::Nothing {
            self.out.write_all(&bytes[run..])?;
        }
        Ok(())
    }

    /// The end of a document: anything still held is written as it was.
    fn flush(&mut self) -> std::io::Result<()> {
        self.release()?;
        self.out.flush()
    }
}

/// serde_json's `PrettyFormatter` layout (two spaces a level), each line's
/// break and indentation written at once: a document of 100,000 persisted
/// settings has millions of lines (issue 20 §2).
#[derive(Default)]
struct Indenting {
    current_indent: usize,
    has_value: bool,
}

/// `,` then a line break and the deepest indentation written in one piece.
const BREAK: &[u8; 2 + 2 * 32] =
    b",\n                                                                ";

impl Indenting {
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

impl serde_json::ser::Formatter for Indenting {
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

    /// What the escaping must write for `text`: each character the old
    /// per-string escaper escaped, as `\uXXXX`.
    fn escaped_by_character(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => format!("\\u{:04x}", c as u32),
                c => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn controls_are_escaped_wherever_the_writes_split_them() {
        use std::io::Write;
        // Neighbours that share a first byte with an escaped character:
        // `Â` (C3 82), `ł` (C5 82), `¡` (C2 A1), `‧` (E2 80 A7), `€`
        // (E2 82 AC); and two escaped ones in a row.
        let text = "a\u{7f}b\u{80}\u{85}\u{9b}\u{9f}\u{a0}¡Âł\u{2027}\u{2028}\u{2029}\u{202a}€ü\u{2028}\u{85}z";
        let expected = escaped_by_character(text);
        let bytes = text.as_bytes();
        for first in 0..=bytes.len() {
            for second in first..=bytes.len() {
                let mut out = Vec::new();
                let mut escape = EscapeControls::new(&mut out);
                for part in [&bytes[..first], &bytes[first..second], &bytes[second..]] {
                    escape.write_all(part).unwrap();
                }
                escape.flush().unwrap();
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    expected,
                    "split at {first}, {second}"
                );
            }
        }
        // Plain text passes as it is; a lone lead byte at the very end is
        // written as it was.
        let mut out = Vec::new();
        let mut escape = EscapeControls::new(&mut out);
        escape.write_all(b"{\"a\": 1}\xe2\x80").unwrap();
        escape.flush().unwrap();
        assert_eq!(out, b"{\"a\": 1}\xe2\x80");
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
