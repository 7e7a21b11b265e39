use twtune::cli::{CheckArgs, Cli};
use twtune::exit_code::Exit;
use twtune::facts::{self, GatherOptions};

pub fn check(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    let facts = facts::gather(&GatherOptions::new(&cli.root).with_sample(args.sample))?;
    println!("{}", serde_json::to_string_pretty(&facts)?);
    Ok(Exit::Compliant)
}

pub fn facts(cli: &Cli) -> anyhow::Result<Exit> {
    let facts = facts::gather(&GatherOptions::new(&cli.root))?;
    println!("{}", serde_json::to_string_pretty(&facts)?);
    Ok(Exit::Compliant)
}
