//! Evaluating rules: pure, facts in, findings out. Nothing here reads the host.

use cel::Context;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::expr::env;
use super::finding::{Finding, Severity, Undecided};
use super::load::{ITEM, Rule, RuleSet};
use super::view::{self, cel_to_text, to_cel};
use crate::facts::Facts;

/// The outcome of a check: what fired, and what could not be decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    /// Most severe first, then by rule id.
    pub findings: Vec<Finding>,
    pub undecided: Vec<Undecided>,
}

impl Evaluation {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether anything is at warning or above: "changes pending".
    pub fn needs_attention(&self) -> bool {
        self.worst().is_some_and(|s| s >= Severity::Warning)
    }
}

pub fn evaluate(rules: &RuleSet, facts: &Facts) -> Evaluation {
    let view = view::json_view(facts);
    let mut context = Context::with_env(env().clone());
    for (name, value) in &view {
        context.add_variable_from_value(name.as_str(), to_cel(value));
    }
    let mut evaluation = Evaluation::default();
    for rule in rules.rules() {
        if let Err(reason) = evaluate_rule(rule, facts, &view, &context, &mut evaluation.findings) {
            evaluation.undecided.push(Undecided {
                rule: rule.id.clone(),
                reason,
            });
        }
    }
    evaluation.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    evaluation
}

fn evaluate_rule(
    rule: &Rule,
    facts: &Facts,
    view: &Map<String, Json>,
    context: &Context,
    findings: &mut Vec<Finding>,
) -> Result<(), String> {
    for path in &rule.requires {
        if lookup(view, path).is_none() {
            return Err(unknown_reason(path, facts));
        }
    }
    let Some(for_each) = &rule.for_each else {
        return fire(rule, facts, context, findings);
    };
    let items = match for_each.evaluate(context)? {
        cel::Value::List(items) => items,
        other => return Err(format!("for_each gave {other:?}, not a list")),
    };
    for item in items.iter() {
        let mut scope = context.new_inner_scope();
        scope.add_variable_from_value(ITEM, item.clone());
        fire(rule, facts, &scope, findings)?;
    }
    Ok(())
}

fn fire(
    rule: &Rule,
    facts: &Facts,
    context: &Context,
    findings: &mut Vec<Finding>,
) -> Result<(), String> {
    match rule.when.evaluate(context)? {
        cel::Value::Bool(true) => {}
        cel::Value::Bool(false) => return Ok(()),
        other => return Err(format!("when gave {other:?}, not true or false")),
    }
    let mut severity = rule.severity;
    for escalation in &rule.escalate {
        if escalation.when.evaluate(context)? == cel::Value::Bool(true) {
            severity = escalation.severity;
            break;
        }
    }
    let key = rule.key.as_ref().map(|k| k.render(context)).transpose()?;
    let recommended = rule
        .recommend
        .as_ref()
        .map(|r| r.evaluate(context).map(|v| cel_to_text(&v)))
        .transpose()?;
    let current = key
        .as_deref()
        .and_then(|k| facts.sysctl(k))
        .map(str::to_string);
    findings.push(Finding {
        rule: rule.id.clone(),
        severity,
        title: rule.title.clone(),
        summary: match &rule.summary {
            Some(summary) => summary.render(context)?,
            None => rule.title.clone(),
        },
        key,
        current,
        recommended,
        message: rule.message.render(context)?,
        manual: rule
            .manual
            .as_ref()
            .map(|m| m.render(context))
            .transpose()?,
        evidence: rule
            .evidence
            .iter()
            .map(|e| e.render(context))
            .collect::<Result<_, _>>()?,
        references: rule.references.clone(),
    });
    Ok(())
}

fn lookup<'a>(view: &'a Map<String, Json>, path: &str) -> Option<&'a Json> {
    let mut parts = path.split('.');
    let mut node = view.get(parts.next()?)?;
    for part in parts {
        node = node.as_object()?.get(part)?;
    }
    Some(node)
}

fn unknown_reason(path: &str, facts: &Facts) -> String {
    match (path.starts_with("kernel.version"), &facts.kernel.release) {
        (true, Some(release)) => {
            format!("needs the kernel version, and release {release:?} does not parse")
        }
        (true, None) => "needs the kernel version, and osrelease is missing".into(),
        _ => format!("needs {path}, which is unknown on this host"),
    }
}
