//! `twtune completions SHELL`: the completion script clap_complete derives
//! from the command line (the packages carry the same scripts, which build.rs
//! writes from the same definitions).

use clap::CommandFactory as _;
use twtune::cli::Cli;
use twtune::exit_code::Exit;

use super::output;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    // Rendered to memory first: clap_complete panics on a failed write, and a
    // closed pipe is no failure here.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "twtune", &mut script);
    output::emit_bytes(&script)?;
    Ok(Exit::Compliant)
}
