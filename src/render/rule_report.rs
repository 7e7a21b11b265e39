//! The JSON documents of `twtune rules --format json` and `twtune explain RULE
//! --format json`.
//!
//! Fields are in alphabetical order: these documents were first written as
//! `json!` objects, whose keys serde_json sorts, and the bytes stay the same.

use serde::Serialize;

use crate::rules::{Rule, RuleSet, Severity};

/// `twtune rules --format json`.
#[derive(Debug, Serialize)]
pub struct RulesReport<'a> {
    pub rules: Vec<RuleSummary<'a>>,
}

/// One rule in the list: where it is defined and what it is about.
#[derive(Debug, Serialize)]
pub struct RuleSummary<'a> {
    pub file: &'a str,
    pub id: &'a str,
    pub line: usize,
    /// The severity the rule starts at (escalations are in `explain`'s text).
    pub severity: Severity,
    pub title: &'a str,
}

/// `twtune explain RULE --format json`: the rule's definition, its
/// expressions as written.
#[derive(Debug, Serialize)]
pub struct RuleReport<'a> {
    pub file: &'a str,
    pub for_each: Option<&'a str>,
    pub id: &'a str,
    /// The key template as written (`${…}` allowed).
    pub key: Option<&'a str>,
    pub line: usize,
    pub rationale: &'a str,
    pub recommend: Option<&'a str>,
    pub references: &'a [String],
    pub severity: Severity,
    pub title: &'a str,
    pub when: &'a str,
}

pub fn rules_report(rules: &RuleSet) -> RulesReport<'_> {
    RulesReport {
        rules: rules
            .rules()
            .map(|rule| RuleSummary {
                file: &rule.origin.file,
                id: &rule.id,
                line: rule.origin.line,
                severity: rule.severity,
                title: &rule.title,
            })
            .collect(),
    }
}

pub fn rule_report(rule: &Rule) -> RuleReport<'_> {
    RuleReport {
        file: &rule.origin.file,
        for_each: rule.for_each.as_ref().map(|e| e.source.as_str()),
        id: &rule.id,
        key: rule.key.as_ref().map(|k| k.source.as_str()),
        line: rule.origin.line,
        rationale: &rule.rationale,
        recommend: rule.recommend.as_ref().map(|e| e.source.as_str()),
        references: &rule.references,
        severity: rule.severity,
        title: &rule.title,
        when: &rule.when.source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"
[[rule]]
id = "tw-reuse-off"
title = "TIME_WAIT reuse is off"
severity = "info"
escalate = [{ severity = "warning", when = "sysctl.net.ipv4.tcp_tw_reuse == 0" }]
when = "sysctl.net.ipv4.tcp_tw_reuse == 0"
key = "net.ipv4.tcp_tw_reuse"
recommend = "2"
message = "off"
rationale = "why"
references = ["Documentation/networking/ip-sysctl.rst: tcp_tw_reuse"]
"#;

    #[test]
    fn explain_json_names_every_field_as_it_always_has() {
        let rules = crate::rules::load::parse_rule_file("site.toml", RULE).unwrap();
        let json = serde_json::to_string_pretty(&rule_report(&rules[0])).unwrap();
        assert_eq!(
            json,
            r#"{
  "file": "site.toml",
  "for_each": null,
  "id": "tw-reuse-off",
  "key": "net.ipv4.tcp_tw_reuse",
  "line": 2,
  "rationale": "why",
  "recommend": "2",
  "references": [
    "Documentation/networking/ip-sysctl.rst: tcp_tw_reuse"
  ],
  "severity": "info",
  "title": "TIME_WAIT reuse is off",
  "when": "sysctl.net.ipv4.tcp_tw_reuse == 0"
}"#
        );
        assert_eq!(
            rules[0].severities(),
            [Severity::Info, Severity::Warning],
            "the list shows the severities a rule can reach"
        );
    }

    #[test]
    fn the_rule_list_names_each_rule_and_where_it_is_defined() {
        let summary = RuleSummary {
            file: "site.toml",
            id: "tw-reuse-off",
            line: 2,
            severity: Severity::Info,
            title: "TIME_WAIT reuse is off",
        };
        let json = serde_json::to_string(&RulesReport {
            rules: vec![summary],
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"rules":[{"file":"site.toml","id":"tw-reuse-off","line":2,"severity":"info","title":"TIME_WAIT reuse is off"}]}"#
        );
    }
}
