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
    Compliant,
    /// Something failed: bad input (a garbled or unreadable file twtune
    /// relies on, a bad rule file), a refused write. Nothing half-applied.
    Error,
    /// Changes pending: a finding at warning or above, or a non-empty plan.
    ChangesPending,
    /// `--format nagios` only: the monitoring-plugins statuses instead of
    /// the ones above, which that format switches off on purpose.
    Plugin(PluginState),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Compliant => 0,
            Exit::Error => 1,
            Exit::ChangesPending => 2,
            Exit::Plugin(state) => state as u8,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// A Nagios / Icinga / Sensu plugin's state and exit status (the
/// monitoring-plugins development guidelines, "Plugin Return Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PluginState {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    /// An error, unreadable input, or a verdict twtune could not reach.
    Unknown = 3,
}

impl PluginState {
    /// The one place a check's outcome becomes a plugin state: the worst
    /// finding when something needs attention; UNKNOWN when a rule failed
    /// or, with nothing needing attention, some rule stayed undecided (the
    /// guidelines' "invalid … or unable to determine").
    pub fn of(evaluation: &Evaluation) -> PluginState {
        match Status::of(evaluation) {
            Status::Compliant => PluginState::Ok,
            Status::Incomplete | Status::Error => PluginState::Unknown,
            Status::ChangesPending => match evaluation.worst() {
                Some(crate::rules::Severity::Critical) => PluginState::Critical,
                _ => PluginState::Warning,
            },
        }
    }

    /// The state `--warning` / `--critical` give a set of ratios: CRITICAL
    /// when one is above `critical`, WARNING when one is above `warning`
    /// (above, as a plugin range `0:T` reads), else OK. A threshold not
    /// given judges nothing.
    pub fn of_ratios(
        ratios: impl IntoIterator<Item = f64>,
        warning: Option<f64>,
        critical: Option<f64>,
    ) -> PluginState {
        let above = |value: f64, threshold: Option<f64>| threshold.is_some_and(|t| value > t);
        ratios
            .into_iter()
            .map(|r| {
                if above(r, critical) {
                    PluginState::Critical
                } else if above(r, warning) {
                    PluginState::Warning
                } else {
                    PluginState::Ok
                }
            })
            .max()
            .unwrap_or(PluginState::Ok)
    }

    /// The rules' state and the thresholds' together: the worse one, except
    /// that a threshold crossed is more telling than an UNKNOWN that only
    /// means some rule stayed undecided. A rule that failed stays UNKNOWN.
    pub fn with_thresholds(self, evaluation: &Evaluation, thresholds: PluginState) -> PluginState {
        match self {
            PluginState::Unknown
                if evaluation.errors.is_empty() && thresholds > PluginState::Ok =>
            {
                thresholds
            }
            state => state.max(thresholds),
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            PluginState::Ok => "OK",
            PluginState::Warning => "WARNING",
            PluginState::Critical => "CRITICAL",
            PluginState::Unknown => "UNKNOWN",
        }
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
    /// Every verdict, in the order `twtune_status{status}` lists them.
    pub const ALL: [Status; 4] = [
        Status::Compliant,
        Status::ChangesPending,
        Status::Incomplete,
        Status::Error,
    ];

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

    /// The verdict over several checks (`check --all-netns`): the worst
    /// one's, error > changes pending > incomplete > compliant; `failed` (a
    /// check that could not be made at all) makes it an error. Compliant
    /// when there is none.
    pub fn worst_of(statuses: impl IntoIterator<Item = Status>, failed: bool) -> Status {
        let rank = |s: &Status| match s {
            Status::Compliant => 0,
            Status::Incomplete => 1,
            Status::ChangesPending => 2,
            Status::Error => 3,
        };
        if failed {
            return Status::Error;
        }
        statuses
            .into_iter()
            .max_by_key(rank)
            .unwrap_or(Status::Compliant)
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
    fn the_worst_verdict_wins_and_a_failure_is_an_error() {
        use Status::*;
        assert_eq!(Status::worst_of([], false), Compliant);
        assert_eq!(Status::worst_of([Compliant, Incomplete], false), Incomplete);
        assert_eq!(
            Status::worst_of([Incomplete, ChangesPending, Compliant], false),
            ChangesPending
        );
        assert_eq!(Status::worst_of([ChangesPending, Error], false), Error);
        assert_eq!(Status::worst_of([Compliant], true), Error);
    }

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

    #[test]
    fn thresholds_judge_ratios_above_them() {
        let of = |r: &[f64]| PluginState::of_ratios(r.iter().copied(), Some(0.5), Some(0.9));
        assert_eq!(of(&[]), PluginState::Ok);
        assert_eq!(
            of(&[0.5, 0.1]),
            PluginState::Ok,
            "at the threshold is not above"
        );
        assert_eq!(of(&[0.51]), PluginState::Warning);
        assert_eq!(of(&[0.2, 0.95]), PluginState::Critical);
        assert_eq!(
            PluginState::of_ratios([0.99], None, None),
            PluginState::Ok,
            "no threshold, no judgement"
        );
        let quiet = Evaluation::default();
        assert_eq!(
            PluginState::Unknown.with_thresholds(&quiet, PluginState::Critical),
            PluginState::Critical
        );
        assert_eq!(
            PluginState::Warning.with_thresholds(&quiet, PluginState::Ok),
            PluginState::Warning
        );
        assert_eq!(
            PluginState::Ok.with_thresholds(&quiet, PluginState::Warning),
            PluginState::Warning
        );
    }
}
