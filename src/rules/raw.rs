//! A rule file as written: the TOML's shape, with the place of everything
//! an error may name. Shared with build.rs, which parses the built-in rule
//! files into these at build time (see `embedded_raw` in load.rs): so this
//! file names nothing of the library but `super::finding::Severity`.

use serde::Deserialize;
use toml::Spanned;

use super::finding::Severity;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    /// Ids of rules from earlier layers (built-in or site) to switch off.
    #[serde(default)]
    pub(crate) disable: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) rule: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub(crate) id: Spanned<String>,
    pub(crate) title: String,
    pub(crate) summary: Option<Spanned<String>>,
    pub(crate) severity: Severity,
    #[serde(default)]
    pub(crate) disabled: bool,
    #[serde(default)]
    pub(crate) escalate: Vec<Spanned<RawEscalation>>,
    pub(crate) applies: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) requires: Vec<Spanned<String>>,
    pub(crate) for_each: Option<Spanned<String>>,
    pub(crate) when: Spanned<String>,
    pub(crate) key: Option<Spanned<String>>,
    pub(crate) recommend: Option<Spanned<String>>,
    /// How bad one finding is, to order findings of the same severity.
    pub(crate) rank: Option<Spanned<String>>,
    pub(crate) message: Spanned<String>,
    /// What an operator does by hand when no sysctl fixes it.
    pub(crate) manual: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) evidence: Vec<Spanned<String>>,
    pub(crate) rationale: String,
    #[serde(default)]
    pub(crate) references: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEscalation {
    pub(crate) severity: Severity,
    pub(crate) when: String,
}
