//! The `rules` pages: the list of rules, and one rule explained.

use super::*;

pub fn rules_list(rules: &RuleSet, style: Style) -> String {
    render(|out| write_rules_list(out, rules, style))
}

pub(super) fn write_rules_list(out: &mut impl Write, rules: &RuleSet, style: Style) -> fmt::Result {
    let all: Vec<&Rule> = rules.rules().collect();
    // "warning→critical": the severity a rule starts at, and the ones it can
    // escalate to (`twtune explain RULE` says when).
    let severity_of = |rule: &Rule| {
        let words: Vec<&str> = rule
            .severities()
            .into_iter()
            .map(Severity::as_str)
            .collect();
        words.join("→")
    };
    let width = all.iter().map(|r| r.id.len()).max().unwrap_or(0).max(4);
    let severity_width = all
        .iter()
        .map(|r| severity_of(r).chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    writeln!(
        out,
        "{}",
        style.dim(&format!(
            "{:width$}  {:severity_width$}  TITLE",
            "RULE", "SEVERITY"
        ))
    )?;
    for rule in all {
        let severity = severity_of(rule);
        let pad = " ".repeat(severity_width.saturating_sub(severity.chars().count()));
        writeln!(
            out,
            "{}  {}{pad}  {}",
            format_args!("{:width$}", rule.id),
            style.severity(rule.severity, &severity),
            rule.title
        )?;
    }
    writeln!(
        out,
        "{}",
        style.dim(
            "a→b: starts at a and escalates to b when its condition holds (`twtune explain RULE`)"
        )
    )?;
    Ok(())
}

pub fn explain(rule: &Rule, style: Style) -> String {
    render(|out| write_explain(out, rule, style))
}

pub(super) fn write_explain(out: &mut impl Write, rule: &Rule, style: Style) -> fmt::Result {
    writeln!(
        out,
        "{}  {}",
        style.bold(&rule.id),
        style.severity(rule.severity, rule.severity.as_str())
    )?;
    writeln!(out, "{}\n", rule.title)?;
    writeln!(out, "{}", rule.rationale)?;
    writeln!(out, "\n{}", style.bold("Fires when"))?;
    if let Some(for_each) = &rule.for_each {
        writeln!(out, "  for each item of: {}", for_each.source.trim())?;
    }
    writeln!(out, "  {}", rule.when.source.trim())?;
    for escalation in &rule.escalate {
        writeln!(
            out,
            "  {} when: {}",
            escalation.severity,
            escalation.when.source.trim()
        )?;
    }
    if !rule.requires.is_empty() {
        writeln!(
            out,
            "  undecided unless known: {}",
            rule.requires.join(", ")
        )?;
    }
    if let Some(key) = &rule.key {
        writeln!(out, "\n{}", style.bold("Key"))?;
        writeln!(out, "  {}", key.source)?;
        if let Some(recommend) = &rule.recommend {
            writeln!(out, "  recommended: {}", recommend.source.trim())?;
        }
    }
    writeln!(out, "\n{}", style.bold("References"))?;
    for reference in &rule.references {
        writeln!(out, "  {reference}")?;
    }
    writeln!(
        out,
        "\n{}",
        style.dim(&format!(
            "defined at {}:{}",
            escape::text(&rule.origin.file),
            rule.origin.line
        ))
    )?;
    Ok(())
}
