use twtune::cli::{ApplyArgs, Cli, RollbackArgs};
use twtune::exit_code::Exit;

pub fn apply(_cli: &Cli, _args: &ApplyArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("apply is not implemented yet (issue #4)")
}

pub fn rollback(_cli: &Cli, _args: &RollbackArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("rollback is not implemented yet (issue #4)")
}
