//! One function a subcommand: each gathers, decides and renders through the
//! library's layers and returns the exit status. Context is added to errors here.

mod apply;
mod check;
mod completions;
mod every;
mod metrics;
mod netns;
mod netns_sample;
mod netns_visit;
mod output;
mod pipeline;
mod rules;
mod serve;
mod top;
mod top_all;

use twtune::cli::{Cli, Command, Namespaces};
use twtune::exit_code::Exit;

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    if !cli.format.is_document() && !matches!(cli.command, Command::Check(_)) {
        anyhow::bail!(
            "--format {} is for `twtune check` only; use --format human or json here",
            metrics::format_name(cli.format)
        );
    }
    // A node agent reads the node's configuration from a mount and changes
    // nothing: apply and rollback write where they read, under one root.
    if cli.config_root.is_some() && matches!(cli.command, Command::Apply(_) | Command::Rollback(_))
    {
        anyhow::bail!(
            "--config-root is for reading (check, facts, rules); apply and rollback change one host and take --root only"
        );
    }
    // apply and rollback handle an interrupted run themselves; a completion
    // script or a schema being printed reads nothing from the host.
    if !matches!(
        cli.command,
        Command::Apply(_) | Command::Rollback(_) | Command::Completions { .. } | Command::Schema(_)
    ) {
        apply::warn_if_interrupted(&cli);
    }
    if let Command::Check(args) = &cli.command
        && let Some(every) = args.every
    {
        if cli.format == twtune::cli::Format::Nagios {
            anyhow::bail!("--every loops; a Nagios plugin runs once (drop --every)");
        }
        return every::run(every, || check_once(&cli, args));
    }
    match &cli.command {
        Command::Check(args) if args.namespaces == Namespaces::All => netns::check_all(&cli, args),
        Command::Check(args) if metrics::wanted(&cli, args) => metrics::run(&cli, args),
        Command::Check(args) => check::check(&cli, args),
        Command::Facts(args) if args.schema => rules::schema(&cli),
        Command::Facts(args) => check::facts(&cli, args),
        Command::Rules { check } => rules::list(&cli, *check),
        Command::Explain { id } => rules::explain(&cli, id),
        Command::Apply(args) => apply::apply(&cli, args),
        Command::Rollback(args) => apply::rollback(&cli, args),
        Command::Serve(args) => serve::serve(&cli, args),
        Command::Top(args) if args.all_netns => top_all::top_all(&cli, args),
        Command::Top(args) => top::top(&cli, args),
        Command::Completions { shell } => completions::completions(*shell),
        Command::Schema(args) => rules::json_schema(args.document),
    }
}

/// One `check`, in whichever form its flags ask for.
fn check_once(cli: &Cli, args: &twtune::cli::CheckArgs) -> anyhow::Result<Exit> {
    if args.namespaces == Namespaces::All {
        netns::check_all(cli, args)
    } else if metrics::wanted(cli, args) {
        metrics::run(cli, args)
    } else {
        check::check(cli, args)
    }
}
