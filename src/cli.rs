//! The command line, as clap derive types. Names here are contracts that
//! scripts depend on: flags and subcommands are only ever added.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::k8s_version::K8sVersion;

#[derive(Debug, Parser)]
#[command(
    name = "twtune",
    version,
    about = "Find and fix TIME_WAIT-related TCP settings, with evidence",
    long_about = "twtune reads a Linux host's TCP settings, kernel version, counters, sockets and \
                  persisted sysctl files, says what is wrong with its TIME_WAIT handling and why, \
                  and applies the fix atomically.\n\n\
                  Exit status: 0 compliant (or incomplete: some rule undecided, nothing needing \
                  attention), 2 findings at warning or above (or a non-empty plan), 1 error \
                  (bad input, or a refused or failed write)."
)]
pub struct Cli {
    /// Read the host under DIR instead of / (a fixture tree: DIR/proc/sys/…, DIR/etc/sysctl.d/…).
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Read the persisted configuration (sysctl.d folders, /etc/sysctl.conf, /etc/twtune/rules.d, the state folder) under DIR, and everything live (/proc, netlink, NAT rules, processes, namespaces) from the running system: a node agent with the node's folders mounted at DIR. Not with --root; check and facts only.
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "root")]
    pub config_root: Option<PathBuf>,

    /// Also load rules from DIR/*.toml (after /etc/twtune/rules.d); a rule with the same id replaces the built-in one.
    #[arg(long = "rules", global = true, value_name = "DIR")]
    pub rules_dirs: Vec<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Colour the human output: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Where the persisted configuration is read: `--config-root`, else `--root`.
    pub fn config_root(&self) -> &std::path::Path {
        self.config_root.as_deref().unwrap_or(&self.root)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// For check only: the Prometheus text exposition format (for node_exporter's textfile collector).
    Prometheus,
    /// For check only: a Nagios/Icinga/Sensu plugin's output, with the plugin exit statuses 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Nagios,
}

/// When the human output is coloured (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (non-empty) or TERM is `dumb`.
    Auto,
    /// Always, even into a pipe and whatever NO_COLOR says.
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// `Some(on)` when the choice is forced, `None` for auto.
    pub fn forced(self) -> Option<bool> {
        match self {
            ColorWhen::Auto => None,
            ColorWhen::Always => Some(true),
            ColorWhen::Never => Some(false),
        }
    }
}

impl Format {
    /// The formats every command prints; the others are `check`'s alone.
    pub fn is_document(self) -> bool {
        matches!(self, Format::Human | Format::Json)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Gather facts, run the rules, print findings.
    Check(CheckArgs),
    /// Print every fact gathered.
    Facts(FactsArgs),
    /// List the rules.
    Rules {
        /// Also compile every text of every rule (messages, summaries,
        /// evidence; otherwise compiled when a rule fires) and exit 1 naming
        /// the file, line and rule of the first that does not compile.
        #[arg(long)]
        check: bool,
    },
    /// Print one rule whole: what it checks, why, and its references.
    Explain {
        /// The rule id.
        id: String,
    },
    /// Apply the recommendations: runtime sysctls and a persisted drop-in, atomically.
    #[command(after_long_help = "\
Every key is written and read back, or none is: on any failure the keys already \
written are restored and the exit status is 1. Old values are journalled under \
ROOT/var/lib/twtune/ before the first write. The drop-in is replaced atomically \
(a temporary file, fsync, rename, folder fsync); a symlink at its path is refused. \
If twtune is killed mid-apply, apply refuses to start until `twtune rollback` has \
restored the values from before it.

Exit status: 0 applied or nothing to do; 2 a non-empty plan with --dry-run, or \
the confirmation declined; 1 error.

Environment: TWTUNE_LOCK_WAIT_MS, how long to wait for another apply's lock \
(default 10000).")]
    Apply(ApplyArgs),
    /// Undo the last apply, or finish an interrupted one, from its journal.
    #[command(after_long_help = "\
Restores the recorded values newest first, journalled like an apply, and the \
persisted file atomically.

Exit status: 0 restored, or nothing to restore; 2 something to restore with \
--dry-run, or the confirmation declined; 1 error.")]
    Rollback(RollbackArgs),
    /// Serve the Prometheus metrics over HTTP: GET /metrics (a check, or one younger than --max-age) and /healthz; read-only, one check at a time.
    #[command(after_long_help = "\
Only GET and HEAD of /metrics and /healthz are answered (405, 404 otherwise); \
a request with a body or a target longer than 1 KiB is refused (413, 414). \
Each check runs as a child process (`twtune check --format prometheus`, with \
--config-root, --rules and --all-netns passed on), killed past --check-timeout; \
a failed check is served as twtune_check_success 0. Never applies anything. \
SIGTERM or SIGINT end it with exit status 0.")]
    Serve(ServeArgs),
    /// Watch the destinations, their TIME_WAIT, creators and findings live, refreshed every --interval; reads only.
    #[command(after_long_help = "\
On a terminal: a full-screen view. The header names the kernel, the network \
namespace, the verdict with the findings by severity, TIME_WAIT (client and \
server side), CLOSE_WAIT, the conntrack fill and the ephemeral ports held. The \
table lists the busiest destinations, soonest out of ports first: ports taken \
of usable, TIME_WAIT, new connections/s, time to exhaustion, failed \
connect()s/s, whether the peer sends timestamps, and the top creator (traced \
as root, else the likely one). Below, the findings that appeared or cleared, \
with their time. Keys: q or Ctrl-C quit, s sort, p pause, Up/Down select, \
Enter the destination's creators and the rule text of what fires for it, ? help.

With --all-netns: one row per network namespace, worst first (its names, pod \
or container, verdict and findings, TIME_WAIT, CLOSE_WAIT, worst destination \
and time to exhaustion, new connections/s, top creator); s sorts, Enter shows \
that namespace's destinations, Esc or Backspace goes back. Namespaces that \
appear or vanish are added or dropped; one trace serves them all.

Without a terminal, or with --iterations N: one plain block per interval (no \
escape codes), N of them.

The settings, persisted files and NAT rules are read once at the start; each \
interval re-reads the counters, the sockets and the conntrack fill, and \
tracing (as root) runs for as long as top does. Never applies anything.

Exit status: 0 on q, Ctrl-C, SIGTERM, SIGINT or the end of --iterations; 1 \
error (bad input).")]
    Top(TopArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema (draft 2020-12) of a `--format json` document.
    #[command(
        long_about = "Print the JSON Schema (draft 2020-12) of a `--format json` document: \
                            `check`, `facts`, `plan` (apply) or `rollback`. Always JSON, whatever --format \
                            says; reads nothing from the host. The same schemas ship under schemas/.\n\n\
                            Not the rule fact schema: `twtune facts --schema` lists what a rule \
                            condition may name."
    )]
    Schema(SchemaArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also print each finding's evidence and references.
    #[arg(long, short)]
    pub verbose: bool,

    /// Sample the counters and sockets twice, this far apart (e.g. 5s, 500ms, 1m30s), and report rates.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sample: Option<Duration>,

    /// Write the Prometheus metrics to FILE atomically (for node_exporter's textfile collector) instead of printing them; implies --format prometheus. A failed check writes twtune_check_success 0.
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,

    /// With --format prometheus: export twtune_destination_exhaustion_ratio for the N busiest destinations (of each namespace, with --all-netns).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top_destinations: usize,

    /// Check again every DURATION (e.g. 60s, 5m) until SIGTERM or SIGINT, which end the loop at once (after the check under way) with exit status 0; a failed check is reported and the loop goes on. For a node agent: with --textfile, each check replaces the file.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<Duration>,

    /// `--netns TARGET` (another network namespace) or `--all-netns` (every one).
    #[command(flatten)]
    pub namespaces: Namespaces,

    /// With --format nagios: WARNING when a port, conntrack or SNAT ratio is above RATIO (0 to 1), whatever the rules say; the perfdata carries it as warn (check_twtune -w).
    #[arg(long, value_name = "RATIO", value_parser = parse_ratio)]
    pub warning: Option<f64>,

    /// With --format nagios: CRITICAL when a port, conntrack or SNAT ratio is above RATIO (0 to 1); the perfdata carries it as crit (check_twtune -c).
    #[arg(long, value_name = "RATIO", value_parser = parse_ratio)]
    pub critical: Option<f64>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Watch another network namespace: a name from `ip netns list`, a namespace file (/run/netns/NAME, /proc/PID/ns/net) or a PID.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,

    /// Watch every network namespace: one row each (its names, pod or container as `check --all-netns` shows them), worst first; Enter shows one namespace's destinations, Esc or Backspace goes back.
    #[arg(long, conflicts_with = "netns")]
    pub all_netns: bool,

    /// How often to re-read and redraw (e.g. 1s, 500ms, 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,

    /// Print N plain blocks, one per interval, then exit 0 (the line mode, also used whenever stdout is not a terminal).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on, e.g. 0.0.0.0:9847 or 127.0.0.1:9847.
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// Reuse a check younger than this for /metrics instead of running another (e.g. 30s, 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub max_age: Duration,

    /// A check that takes longer than this is killed and reported as failed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub check_timeout: Duration,

    /// Export every network namespace, labelled by pod (as `check --all-netns --format prometheus`).
    #[arg(long)]
    pub all_netns: bool,

    /// Export twtune_destination_exhaustion_ratio for the N busiest destinations (of each namespace).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top_destinations: usize,
}

#[derive(Debug, Args)]
pub struct FactsArgs {
    /// Print the rule fact schema instead: every fact a rule condition may name, with its type and what it holds (for rule authors; the JSON Schema of this command's JSON is `twtune schema facts`).
    #[arg(long)]
    pub schema: bool,

    /// Gather in another network namespace: a name from `ip netns list`, a namespace file (/run/netns/NAME, /proc/PID/ns/net) or a PID.
    #[arg(long, value_name = "TARGET", conflicts_with = "schema")]
    pub netns: Option<String>,

    /// Sample the counters and sockets twice, this far apart (e.g. 5s), and report rates; as root, trace who connects, who closes first and whose connect() fails meanwhile.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "schema")]
    pub sample: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Show the plan as diffs and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,

    /// Add or override a change: KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Only plan these keys (repeatable).
    #[arg(long = "only", value_name = "KEY")]
    pub only: Vec<String>,

    /// Leave out the recommendations of these rules (repeatable).
    #[arg(long = "skip", value_name = "RULE")]
    pub skip: Vec<String>,

    /// Write the persisted settings to this file instead of `/etc/sysctl.d/90-twtune.conf`.
    #[arg(long, value_name = "FILE")]
    pub persist_to: Option<PathBuf>,

    /// `--no-persist` (runtime values only) or `--persist-only` (the drop-in only); neither: both.
    #[command(flatten)]
    pub persist: Persistence,

    /// Change the runtime values of another network namespace (a name from `ip netns list`, a namespace file or a PID); nothing is persisted, since a namespace has no boot. `rollback` returns to it.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,

    /// With --dry-run: print the plan for another system instead. `k8s`: YAML
    /// placing each key for a Kubernetes cluster: pod sysctls the kubelet allows,
    /// unsafe ones with the kubelet flag they need, and node settings.
    #[arg(long, value_enum, value_name = "TARGET", requires = "dry_run")]
    pub emit: Option<Emit>,

    /// The Kubernetes release --emit k8s plans for (1.21 or later; default 1.37,
    /// the last release that changed the kubelet's safe sysctls).
    #[arg(long, value_name = "VERSION", requires = "emit", value_parser = K8sVersion::parse)]
    pub k8s_version: Option<K8sVersion>,
}

/// What `apply --dry-run --emit` prints the plan as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// Kubernetes: pod securityContext sysctls, kubelet flags, node settings (YAML).
    K8s,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The document: check, facts, plan (apply's) or rollback.
    #[arg(value_enum, value_name = "DOCUMENT")]
    pub document: JsonDocument,
}

/// The JSON documents twtune prints, by the command that prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JsonDocument {
    /// `twtune check --format json`.
    Check,
    /// `twtune facts --format json`.
    Facts,
    /// `twtune apply --format json` (with or without --dry-run).
    Plan,
    /// `twtune rollback --format json` (with or without --dry-run).
    Rollback,
    /// `twtune check --all-netns --format json`.
    CheckAllNetns,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Show what would be restored and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,
}

/// Parses a threshold ratio: a number from 0 to 1 ("0.9", "1").
pub fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{text:?} is not a ratio from 0 to 1 (e.g. 0.9)")),
    }
}

/// Parses a sample length: "5s", "500ms", "2m", compound "1m30s" (the
/// humantime crate's syntax), or a bare number of seconds ("2", "0.5").
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 => {
            Duration::from_secs_f64(seconds)
        }
        Ok(_) => Duration::ZERO,
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{text:?} is not a duration like 5s, 500ms or 1m30s ({e})"))?,
    };
    if duration.is_zero() || duration > Duration::from_secs(3600) {
        return Err(format!(
            "{text:?}: a sample lasts more than 0 and at most 1h"
        ));
    }
    Ok(duration)
}

// Flags that come in exclusive pairs, read into one enum each: `check
// --netns`/`--all-netns` into `Namespaces`, `apply --no-persist`/
// `--persist-only` into `Persistence`. The flag names, help texts and
// conflicts are the contract; clap refuses a conflicting pair before these
// read the matches.

/// Which network namespaces `check` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Namespaces {
    /// Neither flag: the one twtune runs in.
    #[default]
    Current,
    /// `--netns TARGET`: another one, as typed (a name from `ip netns
    /// list`, a namespace file or a PID).
    One(String),
    /// `--all-netns`: every one on the host.
    All,
}

impl Namespaces {
    /// The `--netns` target, if one was given.
    pub fn target(&self) -> Option<&str> {
        match self {
            Namespaces::One(target) => Some(target),
            Namespaces::Current | Namespaces::All => None,
        }
    }
}

impl FromArgMatches for Namespaces {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        if matches.get_flag("all_netns") {
            return Ok(Namespaces::All);
        }
        Ok(match matches.remove_one::<String>("netns") {
            Some(target) => Namespaces::One(target),
            None => Namespaces::Current,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Namespaces {
    fn augment_args(command: clap::Command) -> clap::Command {
        command
            .arg(
                Arg::new("netns")
                    .long("netns")
                    .value_name("TARGET")
                    .action(ArgAction::Set)
                    .value_parser(clap::value_parser!(String))
                    .help("Check another network namespace: a name from `ip netns list`, a namespace file (/run/netns/NAME, /proc/PID/ns/net) or a PID"),
            )
            .arg(
                Arg::new("all_netns")
                    .long("all-netns")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("netns")
                    .help("Check every network namespace on the host (the host's own, `ip netns` ones, containers' and pods', named by the pod they claim to be): one row each; the exit status is the worst one's. With --format prometheus or --textfile: every series once per namespace, labelled netns, pod, namespace and container. With --sample: one window for all of them"),
            )
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

/// What `apply` may change: `--no-persist`, `--persist-only`, or neither.
/// The command may still narrow it to runtime values only (in a namespace,
/// or when the host's files are shared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Persistence {
    /// Neither flag: the runtime values and the persisted drop-in.
    #[default]
    Both,
    /// `--no-persist`: the runtime values only.
    RuntimeOnly,
    /// `--persist-only`: the persisted drop-in only.
    PersistOnly,
}

impl FromArgMatches for Persistence {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(
            match (
                matches.get_flag("no_persist"),
                matches.get_flag("persist_only"),
            ) {
                (true, _) => Persistence::RuntimeOnly,
                (_, true) => Persistence::PersistOnly,
                _ => Persistence::Both,
            },
        )
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for Persistence {
    fn augment_args(command: clap::Command) -> clap::Command {
        command
            .arg(
                Arg::new("no_persist")
                    .long("no-persist")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("persist_only")
                    .help("Change the runtime values only"),
            )
            .arg(
                Arg::new("persist_only")
                    .long("persist-only")
                    .action(ArgAction::SetTrue)
                    .help("Write only the persisted drop-in; leave runtime values alone"),
            )
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("NaN").is_err());
        assert!(parse_duration("inf").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("1h1s").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        // Found by fuzzing: positive, yet zero once rounded to nanoseconds.
        assert!(
            parse_duration("0.0000000000000000000000000000000000000000000000000000000000001s")
                .is_err()
        );
    }

    #[test]
    fn ratios() {
        assert_eq!(parse_ratio("0.9"), Ok(0.9));
        assert_eq!(parse_ratio("1"), Ok(1.0));
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("-0.1").is_err());
        assert!(parse_ratio("NaN").is_err());
        assert!(parse_ratio("90%").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("twtune").chain(args.iter().copied()))
    }

    fn namespaces(args: &[&str]) -> Namespaces {
        match parse(args).unwrap().command {
            Command::Check(check) => check.namespaces,
            other => panic!("not a check: {other:?}"),
        }
    }

    fn persistence(args: &[&str]) -> Persistence {
        match parse(args).unwrap().command {
            Command::Apply(apply) => apply.persist,
            other => panic!("not an apply: {other:?}"),
        }
    }

    #[test]
    fn check_reads_one_namespace_choice() {
        assert_eq!(namespaces(&["check"]), Namespaces::Current);
        assert_eq!(
            namespaces(&["check", "--netns", "blue"]),
            Namespaces::One("blue".into())
        );
        assert_eq!(namespaces(&["check", "--all-netns"]), Namespaces::All);
    }

    #[test]
    fn apply_reads_one_persistence_choice() {
        assert_eq!(persistence(&["apply"]), Persistence::Both);
        assert_eq!(
            persistence(&["apply", "--no-persist"]),
            Persistence::RuntimeOnly
        );
        assert_eq!(
            persistence(&["apply", "--persist-only"]),
            Persistence::PersistOnly
        );
    }

    #[test]
    fn conflicting_pairs_are_refused_naming_both_flags() {
        for (args, first, second) in [
            (
                &["check", "--netns", "blue", "--all-netns"][..],
                "--netns",
                "--all-netns",
            ),
            (
                &["apply", "--no-persist", "--persist-only"][..],
                "--no-persist",
                "--persist-only",
            ),
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
            let text = error.to_string();
            assert!(
                text.contains(first) && text.contains(second),
                "{args:?}: {text}"
            );
        }
    }
}
