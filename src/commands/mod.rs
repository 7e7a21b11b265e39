//! One function a subcommand: each gathers, decides and renders through the
//! library's layers and returns the exit status. Context is added to errors here.

mod apply;
mod check;
mod netns;
mod output;
mod rules;

use twtune::cli::{Cli, Command};
use twtune::exit_code::Exit;

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    // apply and rollback handle an interrupted run themselves.
    if !matches!(cli.command, Command::Apply(_) | Command::Rollback(_)) {
        apply::warn_if_interrupted(&cli);
    }
    match &cli.command {
        Command::Check(args) if args.all_netns => netns::check_all(&cli, args),
        Command::Check(args) => check::check(&cli, args),
        Command::Facts(args) if args.schema => rules::schema(&cli),
        Command::Facts(args) => check::facts(&cli, args),
        Command::Rules => rules::list(&cli),
        Command::Explain { id } => rules::explain(&cli, id),
        Command::Apply(args) => apply::apply(&cli, args),
        Command::Rollback(args) => apply::rollback(&cli, args),
    }
}
