//! Exit statuses, the `terraform plan -detailed-exitcode` contract that
//! config-management tools drive twtune by, and the verdict of a check
//! ([`Status`]), computed once and shown both as the exit status and as the
//! JSON `status` word.

use schemars::JsonSchema;
use serde::Serialize;

use crate::rules::Evaluation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Compliant: no finding at warning or above (some rules may be
    /// undecided); an empty plan; an apply that changed nothing or succeeded.
    Compliant = 0,
    /// Something failed: bad input (a garbled or unreadable file twtune
    /// relies on, a bad rule file), a refused write. Nothing half-applied.
    Error = 1,
    /// Changes pending: a finding at warning or above, or a non-empty plan.
    ChangesPending = 2,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// The verdict of `twtune check`, serialised as its JSON `status` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every rule decided, nothing needs attention.
    Compliant,
    /// A finding at warning or above.
    ChangesPending,
    /// Nothing needs attention, but some rule could not be decided (an
    /// unparsable custom kernel release, a fact this host lacks). Exits 0 so a
    /// custom kernel does not turn a fleet red; the JSON word says it.
    Incomplete,
    /// Bad input found while judging (a rule that exceeded its evaluation
    /// budget). Bad input found before judging is an error with no verdict.
    Error,
}

impl Status {
    /// The one place the verdict is decided.
    pub fn of(evaluation: &Evaluation) -> Status {
        if !evaluation.errors.is_empty() {
            Status::Error
        } else if evaluation.needs_attention() {
            Status::ChangesPending
        } else if !evaluation.undecided.is_empty() {
            Status::Incomplete
        } else {
            Status::Compliant
        }
    }

    pub fn exit(self) -> Exit {
        match self {
            Status::Compliant | Status::Incomplete => Exit::Compliant,
            Status::ChangesPending => Exit::ChangesPending,
            Status::Error => Exit::Error,
        }
    }

    /// The JSON `status` word.
    pub fn word(self) -> &'static str {
        match self {
            Status::Compliant => "compliant",
            Status::ChangesPending => "changes_pending",
            Status::Incomplete => "incomplete",
            Status::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_status_is_its_word() {
        for status in [
            Status::Compliant,
            Status::ChangesPending,
            Status::Incomplete,
            Status::Error,
        ] {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::from(status.word()))
            );
        }
    }
}
