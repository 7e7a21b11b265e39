//! What a rule concludes: findings are data; renderers only print them and the
//! planner only reads their recommendations.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The rule id that fired.
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    /// The title made specific to this finding (which file, which destination);
    /// the title itself where the rule has no summary.
    pub summary: String,
    /// The full dotted sysctl key concerned, if any.
    pub key: Option<String>,
    /// Its runtime value (folded whitespace), if the key exists.
    pub current: Option<String>,
    /// The value to set, if the rule recommends one.
    pub recommended: Option<String>,
    pub message: String,
    pub evidence: Vec<String>,
    pub references: Vec<String>,
}

impl Finding {
    /// A finding the planner can act on: a key and a value that differs from now.
    pub fn recommendation(&self) -> Option<(&str, &str)> {
        let key = self.key.as_deref()?;
        let value = self.recommended.as_deref()?;
        (self.current.as_deref() != Some(value)).then_some((key, value))
    }
}

/// A rule that could not be decided, e.g. it needs the kernel version and the
/// release did not parse. Never silently treated as passing or failing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undecided {
    pub rule: String,
    pub reason: String,
}
