//! What `apply` cannot fix: findings whose remedy is a person's, not a
//! sysctl's (a stale line in a file the administrator owns, a program that
//! leaks CLOSE_WAIT, a server that closes first). `apply --dry-run` names
//! them so an empty plan is not read as "nothing left to do".

use serde::Serialize;

use crate::rules::{Finding, Severity};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualFix {
    pub rule: String,
    pub severity: Severity,
    /// The finding, made specific (which file, which process).
    pub summary: String,
    /// What to do by hand.
    pub fix: String,
    /// The program or baseline that manages the key, when one does.
    pub owner: Option<String>,
}

/// Adds the recommendations left out because another program manages the
/// key, the owner named; a rule already listed gets the owner's fix.
pub fn add_owned(fixes: &mut Vec<ManualFix>, owned: &[super::plan::Owned]) {
    for o in owned {
        let fix = ManualFix {
            rule: o.rule.clone(),
            severity: o.severity,
            summary: format!("{} is managed by {}", o.key, o.owner.owner),
            fix: o.fix(),
            owner: Some(o.owner.owner.clone()),
        };
        match fixes
            .iter_mut()
            .find(|f| f.rule == o.rule && f.owner.is_none())
        {
            Some(existing) => *existing = fix,
            None => fixes.push(fix),
        }
    }
}

/// The findings (minus `--skip`ped rules) that need a hand: those whose
/// rule says how (`manual`), and any other at warning or above with nothing
/// for the plan to set, whose message then says what is wrong.
pub fn manual_fixes(findings: &[Finding], skip: &[String]) -> Vec<ManualFix> {
    findings
        .iter()
        .filter(|f| !skip.contains(&f.rule))
        .filter_map(|f| {
            let fix = match &f.manual {
                Some(manual) => manual.clone(),
                None if f.severity >= Severity::Warning && f.recommendation().is_none() => {
                    f.message.clone()
                }
                None => return None,
            };
            Some(ManualFix {
                rule: f.rule.clone(),
                severity: f.severity,
                summary: f.summary.clone(),
                fix,
                owner: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(
        rule: &str,
        severity: Severity,
        manual: Option<&str>,
        recommended: Option<&str>,
    ) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            title: String::new(),
            summary: format!("{rule} here"),
            key: recommended.map(|_| crate::sysctl::SysctlKey::ipv4("tcp_tw_reuse")),
            current: Some("0".into()),
            recommended: recommended.map(str::to_string),
            message: format!("{rule} message"),
            manual: manual.map(str::to_string),
            evidence: vec![],
            references: vec![],
            rank: None,
        }
    }

    #[test]
    fn named_fixes_and_unfixable_warnings_but_not_sysctl_changes_or_skipped_rules() {
        let findings = [
            finding(
                "stale-line",
                Severity::Warning,
                Some("delete /etc/x.conf:3"),
                None,
            ),
            finding("leak", Severity::Warning, None, None),
            finding("reuse", Severity::Warning, None, Some("1")),
            finding("note", Severity::Info, None, None),
            finding(
                "server-side",
                Severity::Info,
                Some("let clients close"),
                None,
            ),
            finding("skipped", Severity::Warning, Some("x"), None),
        ];
        let fixes = manual_fixes(&findings, &["skipped".to_string()]);
        let named: Vec<(&str, &str)> = fixes
            .iter()
            .map(|f| (f.rule.as_str(), f.fix.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("stale-line", "delete /etc/x.conf:3"),
                ("leak", "leak message"),
                ("server-side", "let clients close"),
            ]
        );
    }
}
