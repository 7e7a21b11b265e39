use twtune::cli::{Cli, Format, JsonDocument};
use twtune::exit_code::Exit;
use twtune::render::{human, rule_report, style::Style};

use super::pipeline::load_rules;

pub fn list(cli: &Cli, check: bool) -> anyhow::Result<Exit> {
    let rules = load_rules(cli)?;
    if check {
        check_prose(rules.rules().chain(rules.disabled()))?;
    }
    match cli.format {
        Format::Human | Format::Prometheus | Format::Nagios => super::output::emit(
            &human::rules_list(&rules, Style::for_stdout(cli.color.forced())),
        )?,
        Format::Json => super::output::emit_json(&rule_report::rules_report(&rules))?,
    }
    Ok(Exit::Compliant)
}

pub fn explain(cli: &Cli, id: &str) -> anyhow::Result<Exit> {
    let rules = load_rules(cli)?;
    let Some(rule) = rules.get(id) else {
        let known: Vec<&str> = rules.rules().map(|r| r.id.as_str()).collect();
        let near = twtune::suggest::closest(id, known.iter().copied());
        if !near.is_empty() {
            anyhow::bail!(
                "no rule {id:?}{} (`twtune rules` lists them)",
                twtune::suggest::did_you_mean(&near)
            );
        }
        anyhow::bail!("no rule {id:?}; the rules are: {}", known.join(", "));
    };
    // Explaining a rule shows it whole: its prose must compile too.
    check_prose(std::iter::once(rule))?;
    match cli.format {
        Format::Human | Format::Prometheus | Format::Nagios => {
            super::output::emit(&human::explain(rule, Style::for_stdout(cli.color.forced())))?
        }
        Format::Json => super::output::emit_json(&rule_report::rule_report(rule))?,
    }
    Ok(Exit::Compliant)
}

/// Compiles the prose of `rules` (compiled otherwise only when a rule
/// fires): every error, as loading reports rule errors.
fn check_prose<'r>(rules: impl Iterator<Item = &'r twtune::rules::Rule>) -> anyhow::Result<()> {
    let errors: Vec<_> = rules.filter_map(|r| r.compile_prose().err()).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(anyhow::Error::new(twtune::rules::LoadError::Rule(
            errors.into_iter().next().expect("one error"),
        ))
        .context("compiling rule texts")),
        _ => Err(anyhow::Error::new(twtune::rules::LoadError::Many(errors))
            .context("compiling rule texts")),
    }
}

/// `facts --schema`: what a rule may name. Reads nothing from the host, so it
/// works without a --root tree.
pub fn schema(cli: &Cli) -> anyhow::Result<Exit> {
    let variables = twtune::rules::schema::schema();
    match cli.format {
        Format::Human | Format::Prometheus | Format::Nagios => {
            super::output::emit(&twtune::render::schema::human(&variables))?
        }
        Format::Json => {
            super::output::emit_json(&twtune::render::schema::SchemaReport { variables })?
        }
    }
    Ok(Exit::Compliant)
}

/// `schema DOCUMENT`: the JSON Schema of a `--format json` document. Always
/// JSON, whatever `--format` says: a schema has no human form. Reads nothing
/// from the host.
pub fn json_schema(document: JsonDocument) -> anyhow::Result<Exit> {
    use twtune::render::json_schema;
    let schema = match document {
        JsonDocument::Check => json_schema::check(),
        JsonDocument::Facts => json_schema::facts(),
        JsonDocument::Plan => json_schema::plan(),
        JsonDocument::Rollback => json_schema::rollback(),
        JsonDocument::CheckAllNetns => json_schema::check_all_netns(),
    };
    super::output::emit_json(&schema)?;
    Ok(Exit::Compliant)
}
