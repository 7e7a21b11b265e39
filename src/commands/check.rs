//! `check` (the human and JSON reports) and `facts`.

use twtune::cli::{CheckArgs, Cli, FactsArgs, Format};
use twtune::exit_code::{Exit, Status};
use twtune::render::{self, human, style::Style};
use twtune::rules;

pub fn check(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    let (rule_set, facts, evaluation) = super::pipeline::judge(cli, args)?;
    match cli.format {
        Format::Json => {
            let report = render::json::check_report(&facts, &evaluation, rule_set.site_files());
            super::output::emit_json(&report)?;
        }
        Format::Human | Format::Prometheus | Format::Nagios => {
            let options = human::CheckOptions {
                verbose: args.verbose,
                rules_checked: rule_set.rules().count(),
                target: human::Target::new(&cli.root, &cli.rules_dirs, args.namespaces.target()),
            };
            super::output::emit(&human::check(
                &facts,
                &evaluation,
                &options,
                Style::for_stdout(cli.color.forced()),
            ))?;
            if !rule_set.site_files().is_empty() {
                super::output::emit(&format!(
                    "Site rules loaded from {}: {}",
                    cli.config_root()
                        .join(rules::load::SITE_RULES_DIR)
                        .display(),
                    rule_set.site_files().join(", ")
                ))?;
            }
        }
    }
    let exit = Status::of(&evaluation).exit();
    if args.every.is_none() {
        // A single check ends the process here: freeing the rules' trees
        // and the facts node by node cost more than judging them (0.9M of
        // an idle check's 12.9M instructions; issue 20), and exit returns
        // the pages whole. A check repeated by --every frees them each time.
        std::mem::forget((rule_set, facts, evaluation));
    }
    Ok(exit)
}

pub fn facts(cli: &Cli, args: &FactsArgs) -> anyhow::Result<Exit> {
    let namespace = match &args.netns {
        Some(target) => Some(super::pipeline::enter_target(cli, target)?.identity),
        None => None,
    };
    let facts = super::pipeline::gather(cli, namespace, args.sample)?;
    match cli.format {
        Format::Json => super::output::emit_json(&render::json::facts_report(&facts))?,
        _ => super::output::emit(&human::facts(&facts, Style::for_stdout(cli.color.forced())))?,
    }
    // `facts` passes no verdict: bad input is an error before this point,
    // and what was gathered is shown as it is.
    Ok(Exit::Compliant)
}
