use anyhow::Context as _;
use twtune::cli::{CheckArgs, Cli, FactsArgs, Format};
use twtune::exit_code::{Exit, Status};
use twtune::facts::namespace::Identity;
use twtune::facts::{self, Facts, GatherOptions};
use twtune::render::{self, human, style::Style};
use twtune::rules::{self, Evaluation, RuleSet};

/// Gathers in twtune's own namespace, or in the one `--netns` entered.
pub fn gather(cli: &Cli, namespace: Option<Identity>) -> anyhow::Result<Facts> {
    gather_with(cli, GatherOptions::new(&cli.root).with_namespace(namespace))
}

fn gather_with(cli: &Cli, options: GatherOptions) -> anyhow::Result<Facts> {
    facts::gather(&options).with_context(|| format!("gathering facts under {}", cli.root.display()))
}

pub fn load_rules(cli: &Cli) -> anyhow::Result<RuleSet> {
    RuleSet::load(&cli.root, &cli.rules_dirs).context("loading rules")
}

pub fn check(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    let (rule_set, facts, evaluation) = judge(cli, args)?;
    match cli.format {
        Format::Json => {
            let report = render::json::check_report(&facts, &evaluation, rule_set.site_files());
            super::output::emit_json(&report)?;
        }
        Format::Human | Format::Prometheus | Format::Nagios => {
            let options = human::CheckOptions {
                verbose: args.verbose,
                rules_checked: rule_set.rules().count(),
            };
            super::output::emit(&human::check(
                &facts,
                &evaluation,
                &options,
                Style::for_stdout(),
            ))?;
            if !rule_set.site_files().is_empty() {
                super::output::emit(&format!(
                    "Site rules loaded from {}: {}",
                    cli.root.join(rules::load::SITE_RULES_DIR).display(),
                    rule_set.site_files().join(", ")
                ))?;
            }
        }
    }
    Ok(Status::of(&evaluation).exit())
}

/// Loads the rules, enters the namespace asked for, gathers the facts and
/// evaluates: every format's check. Rule failures found while judging are
/// reported on stderr here.
pub fn judge(cli: &Cli, args: &CheckArgs) -> anyhow::Result<(RuleSet, Facts, Evaluation)> {
    // Rules first: a broken rule file is an error before any host I/O.
    let rule_set = load_rules(cli)?;
    let namespace = match &args.netns {
        Some(target) => Some(super::netns::enter_target(cli, target)?.identity),
        None => None,
    };
    let facts = gather_with(
        cli,
        GatherOptions::new(&cli.root)
            .with_sample(args.sample)
            .with_namespace(namespace),
    )?;
    let evaluation = rules::evaluate(&rule_set, &facts);
    for failure in &evaluation.errors {
        eprintln!(
            "twtune: error: {}",
            render::escape::text(&failure.to_string())
        );
    }
    Ok((rule_set, facts, evaluation))
}

pub fn facts(cli: &Cli, args: &FactsArgs) -> anyhow::Result<Exit> {
    let namespace = match &args.netns {
        Some(target) => Some(super::netns::enter_target(cli, target)?.identity),
        None => None,
    };
    let facts = gather_with(
        cli,
        GatherOptions::new(&cli.root)
            .with_sample(args.sample)
            .with_namespace(namespace),
    )?;
    match cli.format {
        Format::Json => super::output::emit_json(&render::json::facts_report(&facts))?,
        _ => super::output::emit(&human::facts(&facts, Style::for_stdout()))?,
    }
    // `facts` passes no verdict: bad input is an error before this point,
    // and what was gathered is shown as it is.
    Ok(Exit::Compliant)
}
