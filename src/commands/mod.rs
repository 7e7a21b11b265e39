//! One function a subcommand: each gathers, decides and renders through the
//! library's layers and returns the exit status. Context is added to errors here.

mod apply;
mod output;
mod check;
mod rules;

use twtune::cli::{Cli, Command};
use twtune::exit_code::Exit;

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Check(args) => check::check(&cli, args),
        Command::Facts => check::facts(&cli),
        Command::Rules => rules::list(&cli),
        Command::Explain { id } => rules::explain(&cli, id),
        Command::Apply(args) => apply::apply(&cli, args),
        Command::Rollback(args) => apply::rollback(&cli, args),
    }
}
