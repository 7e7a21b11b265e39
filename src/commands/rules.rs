use twtune::cli::Cli;
use twtune::exit_code::Exit;

pub fn list(_cli: &Cli) -> anyhow::Result<Exit> {
    anyhow::bail!("rules: engine not wired yet")
}

pub fn explain(_cli: &Cli, _id: &str) -> anyhow::Result<Exit> {
    anyhow::bail!("explain: engine not wired yet")
}
