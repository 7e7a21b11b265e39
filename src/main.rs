//! The binary: parse the command line, run one command, map the outcome to an
//! exit status. Errors are printed once, here, with their context chain.

mod commands;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use twtune::cli::Cli;
use twtune::exit_code::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            // `twtune check | head` closes our stdout early: that is success.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<io::Error>())
                .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return Exit::Compliant.into();
            }
            let mut stderr = io::stderr().lock();
            let _ = write!(stderr, "twtune: error: {err}");
            for cause in err.chain().skip(1) {
                let _ = write!(stderr, ": {cause}");
            }
            let _ = writeln!(stderr);
            Exit::Error.into()
        }
    }
}
