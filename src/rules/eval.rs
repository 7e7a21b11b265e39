//! Evaluating rules: pure, facts in, findings out. Nothing here reads the host.

use cel::Context;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::expr::{MAX_EVALUATION_STEPS, env};
use super::finding::{Finding, Severity, Undecided};
use super::load::{ITEM, Rule, RuleSet};
use super::view::{self, cel_to_text, to_cel};
use crate::facts::Facts;
use crate::sysctl::SysctlKey;

/// The outcome of a check: what fired, and what could not be decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    /// Most severe first, then worst first by the rule's `rank`, then by rule id.
    pub findings: Vec<Finding>,
    pub undecided: Vec<Undecided>,
    /// Rules refused while judging (over the evaluation budget): bad input,
    /// like a rule-file error, so the status is an error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RuleFailure>,
}

/// A rule that was not evaluated because it is bad input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailure {
    pub rule: String,
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: rule {}: {}",
            self.file, self.line, self.rule, self.message
        )
    }
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
    let budget = Budget::of(&view);
    for rule in rules.rules() {
        match evaluate_rule(
            rule,
            facts,
            &view,
            &context,
            &budget,
            &mut evaluation.findings,
        ) {
            Ok(()) => {}
            Err(Failure::Undecided(reason)) => evaluation.undecided.push(Undecided {
                rule: rule.id.clone(),
                reason,
            }),
            Err(Failure::OverBudget(message)) => evaluation.errors.push(RuleFailure {
                rule: rule.id.clone(),
                file: rule.origin.file.clone(),
                line: rule.origin.line,
                message,
            }),
        }
    }
    // Stable: a rule's own findings keep their for_each order on a tie.
    evaluation.findings.sort_by(super::finding::report_order);
    evaluation
}

/// Why a rule gave no verdict.
enum Failure {
    /// It could not be decided on this host (a fact is unknown).
    Undecided(String),
    /// It would need more work than any rule may; bad input.
    OverBudget(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Undecided(reason)
    }
}

/// The sizes of the lists in the facts, to estimate a rule's work before
/// running it: list macros over host data are the one way a rule's cost
/// grows with the host rather than with the rule's text.
struct Budget<'a> {
    view: &'a Map<String, Json>,
    largest: u64,
}

impl<'a> Budget<'a> {
    fn of(view: &'a Map<String, Json>) -> Self {
        let mut largest = 0u64;
        let mut stack: Vec<&Json> = view.values().collect();
        while let Some(node) = stack.pop() {
            match node {
                Json::Array(items) => {
                    largest = largest.max(items.len() as u64);
                    stack.extend(items);
                }
                Json::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
        Budget { view, largest }
    }

    fn size_of(&self, path: &str) -> Option<u64> {
        lookup(self.view, path)
            .and_then(Json::as_array)
            .map(|a| a.len() as u64)
    }

    /// The estimated steps of one firing of `rule` (its condition and texts).
    fn per_firing(&self, rule: &Rule) -> u64 {
        let size_of = |p: &str| self.size_of(p);
        let largest = self.largest;
        let mut steps = rule.when.steps(&size_of, largest);
        for e in &rule.escalate {
            steps = steps.saturating_add(e.when.steps(&size_of, largest));
        }
        let templates = [&rule.key, &rule.summary]
            .into_iter()
            .flatten()
            .chain(std::iter::once(&rule.message))
            .chain(&rule.evidence);
        for t in templates {
            steps = steps.saturating_add(t.steps(&size_of, largest));
        }
        for r in [&rule.recommend, &rule.rank].into_iter().flatten() {
            steps = steps.saturating_add(r.steps(&size_of, largest));
        }
        steps
    }

    fn check(&self, steps: u64) -> Result<(), Failure> {
        if steps > MAX_EVALUATION_STEPS {
            return Err(Failure::OverBudget(format!(
                "would need an estimated {steps} list-macro steps on this host, over the limit of {MAX_EVALUATION_STEPS}; not evaluated"
            )));
        }
        Ok(())
    }
}

fn evaluate_rule(
    rule: &Rule,
    facts: &Facts,
    view: &Map<String, Json>,
    context: &Context,
    budget: &Budget,
    findings: &mut Vec<Finding>,
) -> Result<(), Failure> {
    if let Some(applies) = &rule.applies {
        match applies.evaluate(context)? {
            cel::Value::Bool(true) => {}
            cel::Value::Bool(false) => return Ok(()),
            other => return Err(format!("applies gave {other:?}, not true or false").into()),
        }
    }
    for path in &rule.requires {
        if lookup(view, path).is_none() {
            return Err(Failure::Undecided(unknown_reason(path, facts)));
        }
    }
    let per_firing = budget.per_firing(rule);
    let Some(for_each) = &rule.for_each else {
        budget.check(per_firing)?;
        return Ok(fire(rule, facts, context, findings)?);
    };
    budget.check(for_each.steps(&|p| budget.size_of(p), budget.largest))?;
    let items = match for_each.evaluate(context)? {
        cel::Value::List(items) => items,
        other => return Err(format!("for_each gave {other:?}, not a list").into()),
    };
    budget.check(per_firing.saturating_mul(items.len() as u64))?;
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
    // A templated key is only known once rendered: parse it here, once, so
    // everything downstream carries a validated key. Whether twtune may write
    // it (a managed tree) is the planner's question, as for a literal key.
    let key = rule
        .key
        .as_ref()
        .map(|k| {
            let text = k.render(context)?;
            SysctlKey::parse(&text).map_err(|e| format!("key: {e}"))
        })
        .transpose()?;
    let recommended = rule
        .recommend
        .as_ref()
        .map(|r| r.evaluate(context).map(|v| cel_to_text(&v)))
        .transpose()?;
    let current = key
        .as_ref()
        .and_then(|k| facts.sysctl(k.as_str()))
        .map(str::to_string);
    let rank = match &rule.rank {
        None => None,
        Some(r) => match r.evaluate(context)? {
            cel::Value::Int(n) => Some(n as f64),
            cel::Value::UInt(n) => Some(n as f64),
            cel::Value::Float(x) => Some(x),
            other => return Err(format!("rank gave {other:?}, not a number")),
        },
    };
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
        rank,
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
