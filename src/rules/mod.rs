//! Rules: loading rule files, and evaluating them — pure, facts in, findings out.

pub mod finding;

pub use finding::{Finding, Severity, Undecided};
