//! Evaluating rules: pure, facts in, findings out. Nothing here reads the host.

use cel::Context;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::expr::{MAX_EVALUATION_STEPS, MAX_RUN_STEPS, RenderError, Sizes, env};
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

    /// How many findings are of `severity`: the one count every output
    /// (text, JSON, Nagios, Prometheus) reports.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether anything is at warning or above: "changes pending".
    pub fn needs_attention(&self) -> bool {
        self.worst().is_some_and(|s| s >= Severity::Warning)
    }
}

pub fn evaluate(rules: &RuleSet, facts: &Facts) -> Evaluation {
    evaluate_with(rules, facts, &super::demand::Demand::of(rules))
}

/// [`evaluate`] over a view holding what `demand` asks for: the rules'
/// own demand ([`Demand::of`](super::demand::Demand::of), worked out once
/// when one rule set judges many namespaces), or everything (the test that
/// both judge alike).
pub fn evaluate_with(rules: &RuleSet, facts: &Facts, demand: &super::demand::Demand) -> Evaluation {
    let view = view::json_view_for(facts, demand);
    let mut context = Context::with_env(env().clone());
    for (name, value) in &view {
        context.add_variable_from_value(name.as_str(), to_cel(value));
    }
    let mut evaluation = Evaluation::default();
    let budget = Budget::of(&view);
    let over_run = over_run_share(&budget, rules);
    for rule in rules.rules() {
        if let Some(message) = over_run.get(rule.id.as_str()) {
            evaluation.errors.push(RuleFailure {
                rule: rule.id.clone(),
                file: rule.origin.file.clone(),
                line: rule.origin.line,
                message: message.clone(),
            });
            continue;
        }
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
            Err(Failure::OverBudget(message) | Failure::Invalid(message)) => {
                evaluation.errors.push(RuleFailure {
                    rule: rule.id.clone(),
                    file: rule.origin.file.clone(),
                    line: rule.origin.line,
                    message,
                })
            }
        }
    }
    // Nothing was checked: not "compliant". Every rule switched off (a
    // rules.d in a --root tree can do it) leaves the verdict open, and says
    // which file did it.
    if rules.rules().next().is_none() {
        for rule in rules.disabled() {
            let by = rule.disabled_by.as_ref().map_or_else(
                || "a rule file".to_string(),
                |o| format!("{}:{}", o.file, o.line),
            );
            evaluation.undecided.push(Undecided {
                rule: rule.id.clone(),
                reason: format!("disabled by {by}, and no rule was left to check"),
            });
        }
    }
    // Stable: a rule's own findings keep their for_each order on a tie.
    evaluation.findings.sort_by(super::finding::report_order);
    evaluation
}

/// The rules refused for the run's budget, with why: when the rules that
/// fit their own limit would together need more than [`MAX_RUN_STEPS`], the
/// costliest are refused until the rest fit. Costliest first rather than
/// last loaded, so the cheap built-in rules are judged whatever a site adds.
fn over_run_share<'r>(
    budget: &Budget,
    rules: &'r RuleSet,
) -> std::collections::HashMap<&'r str, String> {
    let mut estimates: Vec<(u64, &str)> = rules
        .rules()
        .map(|r| (budget.estimate(r), r.id.as_str()))
        // Over their own limit: refused when evaluated, never run.
        .filter(|(steps, _)| *steps <= MAX_EVALUATION_STEPS)
        .collect();
    let mut total = estimates
        .iter()
        .fold(0u64, |sum, (steps, _)| sum.saturating_add(*steps));
    let all = total;
    // Cheapest first, ties by id, so popping takes the costliest.
    estimates.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)));
    let mut refused = std::collections::HashMap::new();
    while total > MAX_RUN_STEPS {
        let Some((steps, id)) = estimates.pop() else {
            break;
        };
        total -= steps;
        refused.insert(
            id,
            format!(
                "would need an estimated {steps} list-macro steps on this host; with the other rules the run would need {all}, over the run's limit of {MAX_RUN_STEPS}, and the costliest rules are refused first; not evaluated"
            ),
        );
    }
    // What the run has left for prose, which is estimated when it is
    // rendered (`Budget::check_prose`).
    budget.run_left.set(MAX_RUN_STEPS.saturating_sub(total));
    refused
}

/// Why a rule gave no verdict.
enum Failure {
    /// It could not be decided on this host (a fact is unknown).
    Undecided(String),
    /// It would need more work than any rule may; bad input.
    OverBudget(String),
    /// Its prose does not compile (prose is compiled when the rule fires);
    /// bad input, like a rule-file error.
    Invalid(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Undecided(reason)
    }
}

/// A text of `rule` (`field`) rendered: a compile error is bad input, an
/// evaluation error leaves the rule undecided, as its condition's would.
fn render(field: &str, text: &super::expr::Template, context: &Context) -> Result<String, Failure> {
    text.render(context).map_err(|e| match e {
        RenderError::Compile(message) => Failure::Invalid(format!("{field}: {message}")),
        RenderError::Evaluate(message) => Failure::Undecided(message),
    })
}

/// The sizes of the lists in the facts, to estimate a rule's work before
/// running it: list macros over host data are the one way a rule's cost
/// grows with the host rather than with the rule's text.
///
/// A rule's prose (its key, summary, message, manual and evidence texts) is
/// estimated, like it is compiled, only when the rule fires: estimating a
/// text needs its tree, and compiling every text of every rule up front was
/// a sixth of an idle check (issue 20). It then counts against the rule's
/// own limit together with its condition, and against what the run has
/// left once the conditions of every rule are counted.
struct Budget<'a> {
    view: &'a Map<String, Json>,
    largest: u64,
    longest_string: u64,
    /// Steps the run may still spend on prose.
    run_left: std::cell::Cell<u64>,
}

impl<'a> Budget<'a> {
    fn of(view: &'a Map<String, Json>) -> Self {
        let mut largest = 0u64;
        let mut longest_string = 0u64;
        let mut stack: Vec<&Json> = view.values().collect();
        while let Some(node) = stack.pop() {
            match node {
                Json::Array(items) => {
                    largest = largest.max(items.len() as u64);
                    stack.extend(items);
                }
                Json::Object(map) => {
                    // Keys are strings a rule can read too (`keys()`, maps).
                    for key in map.keys() {
                        longest_string = longest_string.max(key.len() as u64);
                    }
                    stack.extend(map.values());
                }
                Json::String(s) => longest_string = longest_string.max(s.len() as u64),
                _ => {}
            }
        }
        Budget {
            view,
            largest,
            longest_string,
            run_left: std::cell::Cell::new(MAX_RUN_STEPS),
        }
    }

    fn steps_of(&self, steps: impl Fn(&Sizes) -> u64) -> u64 {
        let size_of = |p: &str| self.size_of(p);
        steps(&Sizes {
            size_of: &size_of,
            largest: self.largest,
            longest_string: self.longest_string,
        })
    }

    /// The estimated steps of the whole rule, before running it: for the
    /// run's budget. A `for_each` over a fact list counts that list's
    /// length, over anything else the longest list.
    fn estimate(&self, rule: &Rule) -> u64 {
        let mut steps = rule
            .applies
            .as_ref()
            .map_or(0, |a| self.steps_of(|s| a.steps(s)));
        let per_firing = self.per_firing(rule);
        match &rule.for_each {
            None => steps = steps.saturating_add(per_firing),
            Some(for_each) => {
                let items = self
                    .size_of(for_each.source.trim())
                    .unwrap_or(self.largest)
                    .max(1);
                steps = steps
                    .saturating_add(self.steps_of(|s| for_each.steps(s)))
                    .saturating_add(per_firing.saturating_mul(items));
            }
        }
        steps
    }

    fn size_of(&self, path: &str) -> Option<u64> {
        lookup(self.view, path)
            .and_then(Json::as_array)
            .map(|a| a.len() as u64)
    }

    /// The estimated steps of one firing of `rule`'s condition: `when`,
    /// `escalate`, `recommend` and `rank`.
    fn per_firing(&self, rule: &Rule) -> u64 {
        self.steps_of(|sizes| {
            let mut steps = rule.when.steps(sizes);
            for e in &rule.escalate {
                steps = steps.saturating_add(e.when.steps(sizes));
            }
            for r in [&rule.recommend, &rule.rank].into_iter().flatten() {
                steps = steps.saturating_add(r.steps(sizes));
            }
            steps
        })
    }

    /// The estimated steps of rendering `rule`'s texts once.
    fn prose(&self, rule: &Rule) -> u64 {
        self.steps_of(|sizes| {
            [&rule.key, &rule.summary, &rule.manual]
                .into_iter()
                .flatten()
                .chain(std::iter::once(&rule.message))
                .chain(&rule.evidence)
                .fold(0u64, |sum, t| sum.saturating_add(t.steps(sizes)))
        })
    }

    /// Before `rule` first renders its texts, for up to `firings` items:
    /// its condition and its prose together within the rule's limit, and
    /// the prose within what the run has left.
    fn check_prose(&self, rule: &Rule, firings: u64) -> Result<(), Failure> {
        let prose = self.prose(rule).saturating_mul(firings);
        if prose == 0 {
            return Ok(());
        }
        self.check(
            self.per_firing(rule)
                .saturating_mul(firings)
                .saturating_add(prose),
        )?;
        let left = self.run_left.get();
        if prose > left {
            return Err(Failure::OverBudget(format!(
                "its texts would need an estimated {prose} list-macro steps on this host, more than the {left} left of the run's limit of {MAX_RUN_STEPS} once every rule's condition is counted; not rendered"
            )));
        }
        self.run_left.set(left - prose);
        Ok(())
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
        return fire(
            rule,
            facts,
            context,
            &|| budget.check_prose(rule, 1),
            findings,
        );
    };
    budget.check(budget.steps_of(|s| for_each.steps(s)))?;
    let items = match for_each.evaluate(context)? {
        cel::Value::List(items) => items,
        other => return Err(format!("for_each gave {other:?}, not a list").into()),
    };
    budget.check(per_firing.saturating_mul(items.len() as u64))?;
    // The prose of every item is counted when the first item fires.
    let prose_checked = std::cell::Cell::new(false);
    let check_prose = || {
        if !prose_checked.replace(true) {
            budget.check_prose(rule, items.len() as u64)?;
        }
        Ok(())
    };
    for item in items.iter() {
        let mut scope = context.new_inner_scope();
        scope.add_variable_from_value(ITEM, item.clone());
        fire(rule, facts, &scope, &check_prose, findings)?;
    }
    Ok(())
}

fn fire(
    rule: &Rule,
    facts: &Facts,
    context: &Context,
    check_prose: &dyn Fn() -> Result<(), Failure>,
    findings: &mut Vec<Finding>,
) -> Result<(), Failure> {
    match rule.when.evaluate(context)? {
        cel::Value::Bool(true) => {}
        cel::Value::Bool(false) => return Ok(()),
        other => return Err(format!("when gave {other:?}, not true or false").into()),
    }
    check_prose()?;
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
            let text = render("key", k, context)?;
            SysctlKey::parse(&text).map_err(|e| Failure::from(format!("key: {e}")))
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
            other => return Err(format!("rank gave {other:?}, not a number").into()),
        },
    };
    findings.push(Finding {
        rule: rule.id.clone(),
        severity,
        title: rule.title.clone(),
        summary: match &rule.summary {
            Some(summary) => render("summary", summary, context)?,
            None => rule.title.clone(),
        },
        key,
        current,
        recommended,
        message: render("message", &rule.message, context)?,
        manual: rule
            .manual
            .as_ref()
            .map(|m| render("manual", m, context))
            .transpose()?,
        evidence: rule
            .evidence
            .iter()
            .map(|e| render("evidence", e, context))
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
