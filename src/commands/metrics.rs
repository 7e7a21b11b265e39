//! `check` for monitoring systems: the Prometheus exposition (printed, or
//! written atomically as a node_exporter textfile) and the Nagios plugin
//! output with its own exit statuses.

use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use twtune::apply::journal;
use twtune::atomic;
use twtune::cli::{CheckArgs, Cli, Format};
use twtune::exit_code::{Exit, PluginState, Status};
use twtune::render::{nagios, prometheus};

/// node_exporter reads the file as whoever it runs as: world-readable,
/// whatever the umask.
const TEXTFILE_MODE: u32 = 0o644;

/// `check` with `--textfile` or `--format prometheus|nagios`.
pub fn run(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    if (args.warning.is_some() || args.critical.is_some()) && cli.format != Format::Nagios {
        anyhow::bail!(
            "--warning and --critical are the Nagios plugin's thresholds; add --format nagios"
        );
    }
    match (cli.format, &args.textfile) {
        (Format::Prometheus | Format::Human, Some(file)) => check(cli, args, Some(file)),
        (format, Some(_)) => anyhow::bail!(
            "--textfile writes the Prometheus format; drop --format {}",
            format_name(format)
        ),
        (Format::Nagios, None) => nagios(cli, args),
        _ => check(cli, args, None),
    }
}

/// Whether `check` goes through here rather than the human or JSON report.
pub fn wanted(cli: &Cli, args: &CheckArgs) -> bool {
    args.textfile.is_some()
        || args.warning.is_some()
        || args.critical.is_some()
        || matches!(cli.format, Format::Prometheus | Format::Nagios)
}

/// The `--format` word as typed on the command line.
pub fn format_name(format: Format) -> String {
    use clap::ValueEnum as _;
    format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The Prometheus output's arguments, checked before any work: `--textfile`
/// with another format is refused, as is an unsafe destination.
pub fn check_textfile_args(cli: &Cli, args: &CheckArgs) -> anyhow::Result<()> {
    if let Some(file) = &args.textfile {
        if !matches!(cli.format, Format::Prometheus | Format::Human) {
            anyhow::bail!(
                "--textfile writes the Prometheus format; drop --format {}",
                format_name(cli.format)
            );
        }
        refuse_unsafe_destination(file)?;
    }
    Ok(())
}

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        // Milliseconds are plenty, and keep the number short.
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

fn check(cli: &Cli, args: &CheckArgs, textfile: Option<&Path>) -> anyhow::Result<Exit> {
    if let Some(file) = textfile {
        refuse_unsafe_destination(file)?;
    }
    let checked_at = now();
    let apply_interrupted = apply_interrupted(cli);
    let started = std::time::Instant::now();
    let judged = super::pipeline::judge(cli, args);
    let duration_seconds = started.elapsed().as_secs_f64();
    match judged {
        Ok((rule_set, facts, evaluation)) => {
            let status = Status::of(&evaluation);
            let exit = status.exit();
            let text = prometheus::check(&prometheus::CheckMetrics {
                facts: &facts,
                evaluation: &evaluation,
                rules: rule_set
                    .rules()
                    .map(|r| (r.id.as_str(), r.severity))
                    .collect(),
                status,
                check_success: exit != Exit::Error,
                checked_at,
                duration_seconds,
                top_destinations: args.top_destinations,
                apply_interrupted,
            });
            publish(textfile, &text)?;
            Ok(exit)
        }
        Err(err) => {
            // A failed run replaces the last file too: a consumer must see
            // twtune_check_success 0, not an old success going stale.
            let text = prometheus::failure(&prometheus::FailureMetrics {
                kernel_release: None,
                checked_at,
                duration_seconds,
                apply_interrupted,
            });
            if let Err(write_err) = publish(textfile, &text) {
                return Err(err.context(format!("{write_err:#}")));
            }
            Err(err)
        }
    }
}

fn nagios(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    // An error here is printed by main as `TWTUNE UNKNOWN - …`, exit 3.
    let thresholds = nagios::Thresholds {
        warning: args.warning,
        critical: args.critical,
    };
    if let (Some(w), Some(c)) = (args.warning, args.critical)
        && w > c
    {
        anyhow::bail!("--warning {w} is above --critical {c}: the warning threshold comes first");
    }
    let (_, facts, evaluation) = super::pipeline::judge(cli, args)?;
    let crossed = PluginState::of_ratios(
        nagios::ratios(&facts).iter().map(|r| r.value),
        args.warning,
        args.critical,
    );
    let state = PluginState::of(&evaluation).with_thresholds(&evaluation, crossed);
    super::output::emit(&nagios::check(state, &facts, &evaluation, thresholds))?;
    Ok(Exit::Plugin(state))
}

/// An unfinished apply or rollback, or a journal that cannot be read
/// (which equally means an unfinished change).
pub fn apply_interrupted(cli: &Cli) -> bool {
    !matches!(journal::interrupted(cli.config_root()), Ok(None))
}

pub fn publish(textfile: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match textfile {
        None => Ok(super::output::emit(text)?),
        Some(file) => write_textfile(file, text)
            .with_context(|| format!("writing the metrics to {}", file.display())),
    }
}

/// No link is followed on a write path: a symlink at FILE is refused, not
/// replaced, so twtune never writes where a link points and never silently
/// drops a link someone set up.
fn refuse_unsafe_destination(file: &Path) -> anyhow::Result<()> {
    match file.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() => anyhow::bail!(
            "--textfile {} is a symbolic link; twtune writes only a regular file there",
            file.display()
        ),
        Ok(meta) if !meta.is_file() => anyhow::bail!(
            "--textfile {} exists and is not a regular file",
            file.display()
        ),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("checking --textfile {}", file.display())),
    }
}

fn write_textfile(file: &Path, text: &str) -> anyhow::Result<()> {
    refuse_unsafe_destination(file)?;
    atomic::publish(file, text.as_bytes(), TEXTFILE_MODE)?;
    Ok(())
}
