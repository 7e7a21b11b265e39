//! The binary: parse the command line, run one command, map the outcome to an
//! exit status. Errors are printed once, here, with their context chain.

mod commands;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser as _;
use twtune::cli::Cli;
use twtune::exit_code::Exit;

fn main() -> ExitCode {
    // clap exits 2 on a usage error, which here means "changes pending": a
    // typo in a cron job must read as an error (1), never as "not compliant".
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Error
            } else {
                Exit::Compliant
            }
            .into();
        }
    };
    match commands::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            // `twtune check | head` closes our stdout early: the reader has
            // gone, not the verdict. The output module swallows that write
            // error and keeps the status; one surfacing here anyway is no
            // failure of the check.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<io::Error>())
                .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return Exit::Compliant.into();
            }
            // Library errors already quote their cause; repeat none of it.
            let mut message = err.to_string();
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            // File names, values and rule texts in the chain come from the
            // inspected system: no control character reaches the terminal.
            let message = twtune::render::escape::lines(&message);
            let _ = writeln!(io::stderr().lock(), "twtune: error: {message}");
            Exit::Error.into()
        }
    }
}
