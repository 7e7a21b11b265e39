//! Rules: loading rule files and evaluating them — pure, facts in, findings out.
//!
//! A rule is data (`rules/*.toml`): a CEL condition over the facts, an optional
//! recommendation, a rationale and references. See `rules/README.md` for the
//! format and `view` for the facts a condition can name.

mod cel_env;
pub mod defaults;
pub mod demand;
pub mod eval;
pub mod expr;
pub mod finding;
pub mod kernel_gate;
pub mod load;
pub mod names;
pub mod parse;
#[cfg(test)]
mod port_rule_tests;
mod raw;
pub mod schema;
mod tree;
pub mod view;

pub use eval::{Evaluation, RuleFailure, evaluate};
pub use finding::{Finding, Resolved, Severity, Undecided, resolve_recommendations};
pub use load::{LoadError, Rule, RuleError, RuleSet};
