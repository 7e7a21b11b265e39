//! Exit statuses, the `terraform plan -detailed-exitcode` contract that
//! config-management tools drive twtune by.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Compliant: no finding at warning or above; an empty plan; an apply that changed nothing or succeeded.
    Compliant = 0,
    /// Something failed: bad input, a refused write, an incomplete verdict. Nothing half-applied.
    Error = 1,
    /// Changes pending: a finding at warning or above, or a non-empty plan.
    ChangesPending = 2,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}
