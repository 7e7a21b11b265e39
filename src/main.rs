//! The binary: parse the command line, run one command, map the outcome to an
//! exit status. Errors are printed once, here, with their context chain.

mod commands;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser as _;
use twtune::cli::{Cli, Format};
use twtune::exit_code::{Exit, PluginState};

fn main() -> ExitCode {
    // clap exits 2 on a usage error, which here means "changes pending": a
    // typo in a cron job must read as an error (1), never as "not compliant".
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A plugin's usage error is UNKNOWN (3), on stdout, where the
        // monitoring system looks.
        Err(err) if err.use_stderr() && nagios_requested(std::env::args_os()) => {
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("bad usage");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            return plugin_unknown(&format!("usage: {message}"));
        }
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
    let nagios = cli.format == Format::Nagios;
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
            // A bare "Permission denied" does not tell a user why.
            if !nix::unistd::geteuid().is_root() && permission_denied(&err) {
                message.push_str(
                    "; this needs root (writing /proc/sys, /etc/sysctl.d and /var/lib/twtune, or entering another network namespace): run twtune as root, e.g. with sudo",
                );
            }
            if nagios {
                return plugin_unknown(&message);
            }
            // File names, values and rule texts in the chain come from the
            // inspected system: no control character reaches the terminal.
            let message = twtune::render::escape::message(&message);
            let _ = writeln!(io::stderr().lock(), "twtune: error: {message}");
            Exit::Error.into()
        }
    }
}

/// Whether the error comes from the kernel refusing an unprivileged user.
fn permission_denied(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::PermissionDenied)
            || e.downcast_ref::<nix::Error>()
                .is_some_and(|e| matches!(e, nix::Error::EACCES | nix::Error::EPERM))
            // Errors that carry their cause as text (thiserror messages).
            || e.to_string().contains("(os error 13)")
            || e.to_string().contains("(os error 1)")
    })
}

/// Whether the raw command line asks for `--format nagios` (clap refused it,
/// so there is no parsed value to ask).
fn nagios_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_format = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if arg == "--format=nagios" || (previous_was_format && arg == "nagios") {
            return true;
        }
        previous_was_format = arg == "--format";
    }
    false
}

/// `TWTUNE UNKNOWN - message` on stdout, exit 3: an error in nagios mode.
fn plugin_unknown(message: &str) -> ExitCode {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(twtune::render::nagios::unknown(message).as_bytes());
    let _ = stdout.flush();
    Exit::Plugin(PluginState::Unknown).into()
}
