//! Loading rule files: TOML → raw rules → validated rules, with every error
//! naming the file, the line and the rule id. A rule set with any error is
//! refused whole: nothing runs on half a rule set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::expr::{self, Checks, Expression, Template};
use super::finding::Severity;
use super::raw::{RawEscalation, RawFile, RawRule};
use crate::sysctl::SysctlKey;

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// Where operators add or override rules, relative to --root.
pub const SITE_RULES_DIR: &str = "etc/twtune/rules.d";

/// A rule error, always with its place.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {}{message}", rule.as_ref().map(|r| format!("rule {r}: ")).unwrap_or_default())]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub rule: Option<String>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Rule(#[from] RuleError),
    #[error("{} rule errors:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Many(Vec<RuleError>),
    #[error("cannot read rules from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a rule was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

#[derive(Debug)]
pub struct Escalation {
    pub severity: Severity,
    pub when: Expression,
}

/// A validated rule: every expression compiled, every fact name known.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    /// A one-line, per-finding version of the title (`${…}` allowed), for the
    /// findings table; rules that fire once per item name the item here.
    pub summary: Option<Template>,
    pub severity: Severity,
    pub disabled: bool,
    /// Where it was switched off: its own `disabled = true`, or the line of
    /// a `disable = [...]` list.
    pub disabled_by: Option<Origin>,
    pub escalate: Vec<Escalation>,
    /// Where the rule has a question to answer at all: when this gives
    /// false the rule is quiet, before `requires` can make it undecided
    /// (a global limit in a namespace that cannot see it, say).
    pub applies: Option<Expression>,
    pub requires: Vec<String>,
    pub for_each: Option<Expression>,
    pub when: Expression,
    pub key: Option<Template>,
    pub recommend: Option<Expression>,
    /// A number, higher = worse (a ratio of a limit, 0..1): findings of one
    /// severity are shown worst first by it, ahead of findings without one.
    pub rank: Option<Expression>,
    pub message: Template,
    /// The fix by hand, for findings `apply` cannot make (a line in a file
    /// the administrator owns, a program that leaks sockets).
    pub manual: Option<Template>,
    pub evidence: Vec<Template>,
    pub rationale: String,
    pub references: Vec<String>,
    pub origin: Origin,
}

/// The variable a `for_each` rule binds to each element.
pub const ITEM: &str = "item";

/// Byte offset → line number for one file's text, built in one pass: a
/// file of many rules asks for a line per rule and per error, and counting
/// from the top each time made loading quadratic (2 MiB of rules took 10 s).
struct Lines {
    /// Offsets of every `\n`, ascending.
    newlines: Vec<usize>,
}

impl Lines {
    fn of(text: &str) -> Self {
        Lines {
            // A char pattern is found by memchr, not byte by byte.
            newlines: text.match_indices('\n').map(|(i, _)| i).collect(),
        }
    }

    /// The 1-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }
}

/// Parses and validates one rule file's text. `file` labels errors.
pub fn parse_rule_file(file: &str, text: &str) -> Result<Vec<Rule>, Vec<RuleError>> {
    parse_file(file, text).map(|parsed| parsed.rules)
}

/// A rule file: its rules, and the rules it switches off.
#[derive(Debug, Default)]
pub struct RuleFile {
    pub rules: Vec<Rule>,
    /// `disable = [...]`: ids with the line each is written on.
    pub disable: Vec<(String, usize)>,
}

/// Parses and validates one rule file's text, `disable` list included.
pub fn parse_file(file: &str, text: &str) -> Result<RuleFile, Vec<RuleError>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| Lines::of(text).line_of(s.start))
            .unwrap_or(1);
        vec![RuleError {
            file: file.to_string(),
            line,
            rule: None,
            message: e.message().trim().to_string(),
        }]
    })?;
    validate_file(file, text, raw, Checks::Load)
}

/// Validates a file already parsed from `text` (which places its spans).
fn validate_file(
    file: &str,
    text: &str,
    raw: RawFile,
    checks: Checks,
) -> Result<RuleFile, Vec<RuleError>> {
    let lines = Lines::of(text);
    let line_of = |_: &str, offset: usize| lines.line_of(offset);
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let disable = raw
        .disable
        .iter()
        .map(|id| (id.get_ref().clone(), line_of(text, id.span().start)))
        .collect();
    for spanned in raw.rule {
        let rule_line = line_of(text, spanned.span().start);
        let raw = spanned.into_inner();
        let id = raw.id.get_ref().clone();
        let err = |span: std::ops::Range<usize>, message: String| RuleError {
            file: file.to_string(),
            line: line_of(text, span.start),
            rule: Some(id.clone()),
            message,
        };
        if let Some(first) = seen.insert(id.clone(), rule_line) {
            errors.push(err(
                raw.id.span(),
                format!("duplicate rule id (first at line {first})"),
            ));
            continue;
        }
        match validate(raw, file, rule_line, &err, checks) {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(RuleFile { rules, disable })
    } else {
        Err(errors)
    }
}

fn validate(
    raw: RawRule,
    file: &str,
    rule_line: usize,
    err: &dyn Fn(std::ops::Range<usize>, String) -> RuleError,
    checks: Checks,
) -> Result<Rule, RuleError> {
    let id = raw.id.get_ref();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(err(
            raw.id.span(),
            "an id is kebab-case: lowercase letters, digits and '-'".into(),
        ));
    }
    let bound: &[&str] = if raw.for_each.is_some() { &[ITEM] } else { &[] };
    let compile = |field: &str, s: &Spanned<String>, bound: &[&str]| {
        expr::compile_as(s.get_ref(), bound, checks)
            .map_err(|m| err(s.span(), format!("{field}: {m}")))
    };
    let template = |field: &str, s: &Spanned<String>| {
        let mut text = Template::compile_as(s.get_ref(), bound, checks)
            .map_err(|m| err(s.span(), format!("{field}: {m}")))?;
        text.line = err(s.span(), String::new()).line;
        Ok::<_, RuleError>(text)
    };
    let for_each = raw
        .for_each
        .as_ref()
        .map(|s| compile("for_each", s, &[]))
        .transpose()?;
    let when = compile("when", &raw.when, bound)?;
    let applies = raw
        .applies
        .as_ref()
        .map(|s| compile("applies", s, &[]))
        .transpose()?;
    let mut escalate = Vec::new();
    for e in &raw.escalate {
        let when = expr::compile_as(&e.get_ref().when, bound, checks)
            .map_err(|m| err(e.span(), format!("escalate.when: {m}")))?;
        escalate.push(Escalation {
            severity: e.get_ref().severity,
            when,
        });
    }
    let mut requires = Vec::new();
    for r in &raw.requires {
        let path: Vec<String> = r.get_ref().split('.').map(str::to_string).collect();
        super::names::check_path(&path, super::view::schema_view(), &[])
            .map_err(|m| err(r.span(), format!("requires: {m}")))?;
        requires.push(r.get_ref().clone());
    }
    let key = match &raw.key {
        Some(k) if !k.get_ref().contains("${") => {
            SysctlKey::parse_managed(k.get_ref())
                .map_err(|e| err(k.span(), format!("key: {e}")))?;
            Some(template("key", k)?)
        }
        Some(k) => Some(template("key", k)?),
        None => None,
    };
    let recommend = raw
        .recommend
        .as_ref()
        .map(|s| compile("recommend", s, bound))
        .transpose()?;
    if recommend.is_some() && key.is_none() {
        let span = raw.recommend.as_ref().map(|s| s.span()).unwrap_or_default();
        return Err(err(span, "recommend needs a key".into()));
    }
    let rank = raw
        .rank
        .as_ref()
        .map(|s| compile("rank", s, bound))
        .transpose()?;
    let message = template("message", &raw.message)?;
    let summary = raw
        .summary
        .as_ref()
        .map(|s| template("summary", s))
        .transpose()?;
    let manual = raw
        .manual
        .as_ref()
        .map(|s| template("manual", s))
        .transpose()?;
    let evidence = raw
        .evidence
        .iter()
        .map(|e| template("evidence", e))
        .collect::<Result<_, _>>()?;
    if raw.rationale.trim().is_empty() {
        return Err(err(
            raw.id.span(),
            "rationale is empty: it is the rule's documentation".into(),
        ));
    }
    if raw.references.is_empty() {
        return Err(err(
            raw.id.span(),
            "references are empty: cite the kernel documentation or commit".into(),
        ));
    }
    Ok(Rule {
        id: id.clone(),
        title: raw.title,
        summary,
        severity: raw.severity,
        disabled: raw.disabled,
        disabled_by: raw.disabled.then(|| Origin {
            file: file.to_string(),
            line: rule_line,
        }),
        escalate,
        applies,
        requires,
        for_each,
        when,
        key,
        recommend,
        rank,
        message,
        manual,
        evidence,
        rationale: raw.rationale.trim().to_string(),
        references: raw.references,
        origin: Origin {
            file: file.to_string(),
            line: rule_line,
        },
    })
}

/// The rules in force, in a stable order (by id).
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: BTreeMap<String, Rule>,
    /// Rule files loaded from the root's `etc/twtune/rules.d` — under
    /// `--root`, the inspected tree's own rules, which the report names.
    site_files: Vec<String>,
}

impl RuleSet {
    /// Built-in rules, then `ROOT/etc/twtune/rules.d/*.toml`, then each `--rules`
    /// folder; a later layer's rule replaces an earlier one with the same id.
    pub fn load(root: &Path, extra_dirs: &[PathBuf]) -> Result<RuleSet, LoadError> {
        // Built in: parsed from TOML when twtune was built (build.rs), so
        // only validated here.
        let mut layers: Vec<Vec<(String, Parsed)>> = vec![
            EMBEDDED_RULES
                .iter()
                .enumerate()
                .map(|(index, (name, text))| {
                    let file = format!("rules/{name}");
                    let parsed = validate_file(&file, text, embedded_raw(index), Checks::BuiltIn);
                    (file, parsed)
                })
                .collect(),
        ];
        let site = root.join(SITE_RULES_DIR);
        let mut site_files = Vec::new();
        // The site folder is the untrusted tree's: listed and read inside it.
        let confined = crate::facts::ConfinedReads::unless_already(root);
        if crate::facts::metadata_confined(&site).is_ok_and(|m| m.is_dir()) {
            let layer = read_dir_rules(&site)?;
            site_files = layer.iter().map(|(file, _)| file.clone()).collect();
            layers.push(layer);
        }
        // `--rules` folders are the operator's own, named on the command
        // line outside the tree: read as given.
        drop(confined);
        for dir in extra_dirs {
            layers.push(read_dir_rules(dir)?);
        }
        let mut set = RuleSet {
            site_files,
            ..RuleSet::default()
        };
        let mut errors = Vec::new();
        for layer in layers {
            let mut layer_rules: BTreeMap<String, Rule> = BTreeMap::new();
            let mut layer_disables: Vec<(String, String, usize)> = Vec::new();
            for (file, parsed) in layer {
                match parsed {
                    Ok(parsed) => {
                        layer_disables.extend(
                            parsed
                                .disable
                                .into_iter()
                                .map(|(id, line)| (file.clone(), id, line)),
                        );
                        for rule in parsed.rules {
                            if let Some(other) = layer_rules.get(&rule.id) {
                                errors.push(RuleError {
                                    file: rule.origin.file.clone(),
                                    line: rule.origin.line,
                                    rule: Some(rule.id.clone()),
                                    message: format!(
                                        "duplicate rule id (also at {}:{})",
                                        other.origin.file, other.origin.line
                                    ),
                                });
                            } else {
                                layer_rules.insert(rule.id.clone(), rule);
                            }
                        }
                    }
                    Err(e) => errors.extend(e),
                }
            }
            set.rules.extend(layer_rules);
            errors.extend(set.disable(layer_disables));
        }
        match errors.len() {
            0 => Ok(set),
            1 => Err(LoadError::Rule(errors.remove(0))),
            _ => Err(LoadError::Many(errors)),
        }
    }

    /// The rules that run: every loaded one not disabled by an override.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values().filter(|r| !r.disabled)
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.get(id)
    }

    /// The rules switched off, by id.
    pub fn disabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values().filter(|r| r.disabled)
    }

    /// The site rule files loaded from the root's `etc/twtune/rules.d`.
    pub fn site_files(&self) -> &[String] {
        &self.site_files
    }

    /// Switches off the rules a layer's `disable` lists name: rules of that
    /// layer or an earlier one. A later layer may bring a rule back by
    /// defining it again. An id that names no rule is an error, so a typo
    /// does not leave a rule running that the operator meant to stop.
    fn disable(&mut self, disables: Vec<(String, String, usize)>) -> Vec<RuleError> {
        let mut errors = Vec::new();
        for (file, id, line) in disables {
            match self.rules.get_mut(&id) {
                Some(rule) => {
                    rule.disabled = true;
                    rule.disabled_by = Some(Origin { file, line });
                }
                None => errors.push(RuleError {
                    file,
                    line,
                    rule: Some(id),
                    message: "disable names no rule loaded before this file or with it".into(),
                }),
            }
        }
        errors
    }

    /// A set of exactly these rules, without the built-in ones: for the fuzz
    /// targets, which evaluate what one file loads. A later rule with the
    /// same id replaces an earlier one, as a later layer does.
    #[doc(hidden)]
    pub fn from_rules(rules: impl IntoIterator<Item = Rule>) -> RuleSet {
        RuleSet {
            rules: rules.into_iter().map(|r| (r.id.clone(), r)).collect(),
            ..RuleSet::default()
        }
    }
}

/// A rule file parsed and validated, or its errors.
type Parsed = Result<RuleFile, Vec<RuleError>>;

/// Every `*.toml` of `dir`, each parsed and validated.
fn read_dir_rules(dir: &Path) -> Result<Vec<(String, Parsed)>, LoadError> {
    let read_err = |source| LoadError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = crate::facts::read_dir_confined(dir)
        .map_err(read_err)?
        .into_iter()
        .map(|name| dir.join(name))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let files: Vec<Option<(String, String)>> = paths
        .into_iter()
        .map(|path| {
            // Bounded and non-blocking like every other read: a rule file in
            // an untrusted tree may be a FIFO or a runaway file.
            let read_err = |source| LoadError::Read {
                path: path.clone(),
                source,
            };
            let bytes = match crate::facts::read_bounded(&path) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(None),
                Err(crate::facts::BoundedReadError::Io(source)) => return Err(read_err(source)),
                Err(refused) => return Err(read_err(std::io::Error::other(refused.to_string()))),
            };
            let text = String::from_utf8(bytes).map_err(|_| {
                read_err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not UTF-8 text",
                ))
            })?;
            Ok(Some((path.display().to_string(), text)))
        })
        .collect::<Result<_, LoadError>>()?;
    Ok(files
        .into_iter()
        .flatten()
        .map(|(file, text)| {
            let parsed = parse_file(&file, &text);
            (file, parsed)
        })
        .collect())
}

impl Rule {
    /// Every text of the rule, by field, with the line it is written on.
    fn texts(&self) -> impl Iterator<Item = (&'static str, &Template)> {
        let single = [
            ("key", self.key.as_ref()),
            ("summary", self.summary.as_ref()),
            ("message", Some(&self.message)),
            ("manual", self.manual.as_ref()),
        ];
        single
            .into_iter()
            .filter_map(|(field, t)| t.map(|t| (field, t)))
            .chain(self.evidence.iter().map(|t| ("evidence", t)))
    }

    /// Compiles all of the rule's prose now (it is otherwise compiled when
    /// the rule fires): `explain`, `rules --check` and the test of every
    /// built-in text. The error names the file, the rule and the field.
    pub fn compile_prose(&self) -> Result<(), RuleError> {
        for (field, text) in self.texts() {
            text.compile_all().map_err(|message| RuleError {
                file: self.origin.file.clone(),
                line: text.line.max(self.origin.line),
                rule: Some(self.id.clone()),
                message: format!("{field}: {message}"),
            })?;
        }
        Ok(())
    }

    /// The source of every CEL expression of the rule: its decision, then
    /// the `${…}` parts of its texts.
    pub fn expression_sources(&self) -> impl Iterator<Item = String> + '_ {
        let decision = [&self.applies, &self.for_each, &self.recommend, &self.rank]
            .into_iter()
            .flatten()
            .chain(std::iter::once(&self.when))
            .chain(self.escalate.iter().map(|e| &e.when))
            .map(|e| e.source.clone());
        decision.chain(self.texts().flat_map(|(_, t)| t.expression_sources()))
    }

    /// The severity the rule starts at, then each one it can escalate to, in
    /// the order of its escalations and without repeats.
    pub fn severities(&self) -> Vec<Severity> {
        let mut severities = vec![self.severity];
        for escalation in &self.escalate {
            if !severities.contains(&escalation.severity) {
                severities.push(escalation.severity);
            }
        }
        severities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_as_from_the_top() {
        let text = "a\nbb\n\nccc\n";
        let lines = Lines::of(text);
        for offset in 0..=text.len() + 2 {
            let naive = text[..offset.min(text.len())].matches('\n').count() + 1;
            assert_eq!(lines.line_of(offset), naive, "offset {offset}");
        }
        assert_eq!(Lines::of("").line_of(0), 1);
    }

    const GOOD: &str = r#"
[[rule]]
id = "demo"
title = "Demo"
severity = "warning"
when = "net.ipv4.tcp_timestamps == 0"
key = "net.ipv4.tcp_timestamps"
recommend = "1"
message = "timestamps are ${net.ipv4.tcp_timestamps}"
rationale = "Because."
references = ["Documentation/networking/ip-sysctl.rst"]
"#;

    fn error_of(text: &str) -> RuleError {
        parse_rule_file("x.toml", text).unwrap_err().remove(0)
    }

    #[test]
    fn a_good_rule_loads() {
        let rules = parse_rule_file("x.toml", GOOD).unwrap();
        assert_eq!(rules[0].id, "demo");
        assert_eq!(rules[0].origin.line, 2);
    }

    #[test]
    fn toml_syntax_error_names_file_and_line() {
        let e = error_of("[[rule]]\nid = \"a\"\ntitle = \n");
        assert_eq!((e.file.as_str(), e.line), ("x.toml", 3));
    }

    #[test]
    fn condition_error_names_rule_and_line() {
        let e =
            error_of(&GOOD.replace("net.ipv4.tcp_timestamps == 0", "net.ipv4.tcp_timestamps =="));
        assert_eq!(e.rule.as_deref(), Some("demo"));
        assert_eq!(e.line, 6);
    }

    #[test]
    fn unknown_fact_is_an_error() {
        let e = error_of(&GOOD.replace(
            "when = \"net.ipv4.tcp_timestamps",
            "when = \"net.ipv4.tcp_timestamp",
        ));
        assert!(e.message.contains("unknown fact"), "{e}");
    }

    #[test]
    fn duplicate_ids_in_a_file_are_an_error() {
        let text = format!("{GOOD}\n{GOOD}");
        let e = error_of(&text);
        assert!(e.message.contains("duplicate rule id"), "{e}");
        assert_eq!(e.line, 15);
    }

    #[test]
    fn keys_outside_the_network_trees_are_refused() {
        let e = error_of(&GOOD.replace(
            "key = \"net.ipv4.tcp_timestamps\"",
            "key = \"kernel.panic\"",
        ));
        assert!(e.message.contains("outside net.ipv4"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = error_of(&GOOD.replace("when =", "condition ="));
        assert!(e.message.contains("condition"), "{e}");
    }

    /// Built-in rules are parsed by build.rs and loaded without the name
    /// and limit checks (`Checks::BuiltIn`): this is where they get them.
    /// Each embedded file parsed by build.rs is what the TOML parser makes
    /// of it at run time, and passes every check a site rule file gets.
    #[test]
    fn builtin_rules_pass_every_load_check() {
        for (index, (name, text)) in EMBEDDED_RULES.iter().enumerate() {
            let at_run_time: RawFile = toml::from_str(text).unwrap();
            assert_eq!(
                format!("{at_run_time:?}"),
                format!("{:?}", embedded_raw(index)),
                "{name}"
            );
            let checked = parse_file(name, text).unwrap_or_else(|e| panic!("{e:?}"));
            let built_in = validate_file(name, text, embedded_raw(index), Checks::BuiltIn)
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(format!("{checked:?}"), format!("{built_in:?}"), "{name}");
        }
    }

    /// Prose is compiled when a rule fires; this compiles every text of
    /// every built-in rule, so a broken one fails here, not in a user's run.
    #[test]
    fn every_builtin_text_compiles() {
        let set = RuleSet::load(Path::new("/nonexistent-root"), &[]).unwrap();
        let mut texts = 0;
        for rule in set.rules().chain(set.disabled()) {
            rule.compile_prose().unwrap_or_else(|e| panic!("{e}"));
            texts += rule.texts().count();
            // Only a text naming a list macro is compiled to estimate its
            // work: every other must have none.
            for source in rule.texts().flat_map(|(_, t)| t.expression_sources()) {
                if !super::super::names::may_loop(&source) {
                    let compiled = expr::compile(&source, &[ITEM]).unwrap();
                    assert!(compiled.loops.is_empty(), "{}: {source}", rule.id);
                }
            }
        }
        assert!(texts > 100, "{texts}");
    }

    #[test]
    fn a_broken_text_loads_and_fails_when_compiled() {
        let text = GOOD.replace(
            "message = \"timestamps are ${net.ipv4.tcp_timestamps}\"",
            "message = \"timestamps are ${net.ipv4.tcp_timestamps ==}\"",
        );
        let rules = parse_rule_file("x.toml", &text).unwrap();
        let e = rules[0].compile_prose().unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.rule.as_deref()),
            ("x.toml", 9, Some("demo"))
        );
        assert!(e.message.starts_with("message: "), "{e}");
        // A misspelt fact in prose is still an error when loading.
        let e = error_of(&GOOD.replace(
            "${net.ipv4.tcp_timestamps}",
            "${net.ipv4.tcp_timestamp + 1}",
        ));
        assert!(e.message.contains("unknown fact"), "{e}");
        assert_eq!(e.line, 9);
    }

    #[test]
    fn builtin_rules_load_with_unique_ids_and_documentation() {
        let set = RuleSet::load(Path::new("/nonexistent-root"), &[]).unwrap();
        assert!(set.rules().count() >= 7);
        for rule in set.rules() {
            assert!(
                !rule.rationale.is_empty() && !rule.references.is_empty(),
                "{}",
                rule.id
            );
        }
    }
}
