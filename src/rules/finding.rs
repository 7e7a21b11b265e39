//! What a rule concludes: findings are data; renderers only print them and the
//! planner only reads their recommendations.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::sysctl::SysctlKey;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
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

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Finding {
    /// The rule id that fired.
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    /// The title made specific to this finding (which file, which destination);
    /// the title itself where the rule has no summary.
    pub summary: String,
    /// The full dotted sysctl key concerned, if any.
    pub key: Option<SysctlKey>,
    /// Its runtime value (folded whitespace), if the key exists.
    pub current: Option<String>,
    /// The value to set, if the rule recommends one.
    pub recommended: Option<String>,
    pub message: String,
    /// The fix by hand when no sysctl makes it (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    pub evidence: Vec<String>,
    pub references: Vec<String>,
    /// The rule's `rank` for this finding (higher = worse): orders findings
    /// within a severity. Not part of the report; its order is.
    #[serde(skip)]
    #[schemars(skip)]
    pub rank: Option<f64>,
}

impl Finding {
    /// A finding the planner can act on: a key and a value that differs from now.
    pub fn recommendation(&self) -> Option<(&SysctlKey, &str)> {
        let key = self.key.as_ref()?;
        let value = self.recommended.as_deref()?;
        (self.current.as_deref() != Some(value)).then_some((key, value))
    }

    /// What `apply` does about this finding's key, when the finding
    /// recommends a value: its own value, a more severe rule's, or a conflict.
    /// `resolved` is [`resolve_recommendations`] over every finding.
    pub fn planned<'a>(&self, resolved: &'a BTreeMap<SysctlKey, Resolved>) -> Option<&'a Resolved> {
        self.recommended.as_ref()?;
        resolved.get(self.key.as_ref()?)
    }

    /// The value `apply` sets instead of this finding's own, and the more
    /// severe rule that recommends it; `None` when this finding's value (or
    /// the same value) is the one applied, or rules conflict.
    pub fn outranked_by<'a>(
        &self,
        resolved: &'a BTreeMap<SysctlKey, Resolved>,
    ) -> Option<(&'a str, &'a str)> {
        match self.planned(resolved)? {
            Resolved::Value { value, rule }
                if *rule != self.rule && self.recommended.as_deref() != Some(value.as_str()) =>
            {
                Some((value, rule))
            }
            _ => None,
        }
    }
}

/// The order findings are reported in: most severe first, then the worst
/// (highest rank; a finding without one after those with one), then by
/// rule id, so the first finding is the headline.
pub fn report_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    let rank = |f: &Finding| f.rank.filter(|r| r.is_finite());
    b.severity
        .cmp(&a.severity)
        .then_with(|| match (rank(a), rank(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        .then_with(|| a.rule.cmp(&b.rule))
}

/// A rule that could not be decided, e.g. it needs the kernel version and the
/// release did not parse. Never silently treated as passing or failing.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Undecided {
    pub rule: String,
    pub reason: String,
}

/// What `apply` would set for one key, given every finding that recommends a
/// value for it: the most severe finding's value (a narrow port range outranks
/// its parity advice), or a conflict when equally severe findings disagree.
/// The same policy as the planner (`apply::plan::build`), so `check` shows the
/// value `apply` sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Resolved {
    Value {
        value: String,
        rule: String,
    },
    Conflict {
        /// Always null: no value wins.
        #[schemars(with = "()")]
        value: Option<String>,
        conflict: Vec<String>,
    },
}

impl Resolved {
    pub fn value(&self) -> Option<&str> {
        match self {
            Resolved::Value { value, .. } => Some(value),
            Resolved::Conflict { .. } => None,
        }
    }
}

/// Key → resolved recommendation, over findings with a change to make.
pub fn resolve_recommendations(findings: &[Finding]) -> BTreeMap<SysctlKey, Resolved> {
    let mut out = BTreeMap::new();
    // Most severe first, so the first value seen for a key is the winner
    // unless an equally severe finding disagrees.
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    ordered.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut winners: BTreeMap<&SysctlKey, (&Finding, &str)> = BTreeMap::new();
    for finding in ordered {
        let Some((key, value)) = finding.recommendation() else {
            continue;
        };
        match winners.get(key) {
            None => {
                winners.insert(key, (finding, value));
                out.insert(
                    key.clone(),
                    Resolved::Value {
                        value: value.to_string(),
                        rule: finding.rule.clone(),
                    },
                );
            }
            Some((first, first_value))
                if first.severity == finding.severity
                    && crate::sysctl::normalize_value(first_value)
                        != crate::sysctl::normalize_value(value) =>
            {
                let entry = out.entry(key.clone()).or_insert(Resolved::Conflict {
                    value: None,
                    conflict: vec![],
                });
                match entry {
                    Resolved::Conflict { conflict, .. } => conflict.push(finding.rule.clone()),
                    Resolved::Value { rule, .. } => {
                        *entry = Resolved::Conflict {
                            value: None,
                            conflict: vec![rule.clone(), finding.rule.clone()],
                        }
                    }
                }
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rule: &str, severity: Severity, value: &str) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            title: String::new(),
            summary: String::new(),
            key: Some(SysctlKey::ipv4("ip_local_port_range")),
            current: Some("40000 40100".into()),
            recommended: Some(value.into()),
            message: String::new(),
            manual: None,
            evidence: vec![],
            references: vec![],
            rank: None,
        }
    }

    #[test]
    fn the_most_severe_value_wins_and_equal_severities_that_disagree_conflict() {
        let findings = [
            rec("parity", Severity::Info, "40000 40101"),
            rec("narrow", Severity::Warning, "32768 60999"),
        ];
        let resolved = resolve_recommendations(&findings);
        assert_eq!(
            resolved["net.ipv4.ip_local_port_range"],
            Resolved::Value {
                value: "32768 60999".into(),
                rule: "narrow".into()
            }
        );
        assert_eq!(
            findings[0].outranked_by(&resolved),
            Some(("32768 60999", "narrow")),
            "the parity advice is shown as outranked"
        );
        assert_eq!(findings[1].outranked_by(&resolved), None);
        let findings = [
            rec("a", Severity::Warning, "1 2"),
            rec("b", Severity::Warning, "3 4"),
        ];
        let resolved = resolve_recommendations(&findings);
        assert_eq!(resolved["net.ipv4.ip_local_port_range"].value(), None);
        assert!(matches!(
            findings[0].planned(&resolved),
            Some(Resolved::Conflict { .. })
        ));
        assert_eq!(findings[0].outranked_by(&resolved), None);
        assert_eq!(
            serde_json::to_value(&resolved["net.ipv4.ip_local_port_range"]).unwrap()["conflict"],
            serde_json::json!(["a", "b"])
        );
    }
}
