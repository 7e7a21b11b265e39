//! The man page, rendered from the command-line definition. One generator for
//! two users: build.rs (the gzipped page the packages install) and the
//! `man_page` test (which keeps the committed man/twtune.1 equal to it). Both
//! include this file with `#[path]`, so it needs nothing but clap.
//!
//! One page for the whole program: every command is a subsection of
//! COMMANDS, so the page names no other twtune page. Everything about the
//! commands and their options (the synopses with their option arguments, the
//! help texts, defaults, possible values, `env` variables) comes from clap;
//! only the sections clap knows nothing of (EXIT STATUS, ENVIRONMENT, FILES,
//! SEE ALSO) are written here.

use clap::{Arg, Command};

const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Compliant: no finding at warning or above (check), an empty plan (apply \-\-dry\-run), or a successful apply or rollback. A check whose every finding is below warning but which could not decide some rule (an unparsable custom kernel release, a fact the host lacks) also exits 0; its JSON status is "incomplete".
.TP
\fB1\fR
Error: bad input (a missing \-\-root, an unreadable or garbled file twtune relies on such as a /proc value reading "abc", empty or with a NUL, a FIFO or device where a file should be, a file over 32 MiB, a rule file error or a rule over its limits, a damaged or crafted journal or last\-apply record, a link leaving the \-\-root tree, a usage error), a refused or failed write. Nothing is left half\-applied. A closed output pipe is not an error: the status stays what the command decided.
.TP
\fB2\fR
Changes pending: a finding at warning or above, or a non\-empty plan.
.PP
\fBcheck \-\-format nagios\fR switches to the monitoring\-plugins statuses on purpose: 0 OK, 1 WARNING (the worst finding is a warning), 2 CRITICAL (a critical finding), 3 UNKNOWN (an error, a usage error, unreadable input, or a rule left undecided with nothing else wrong), with a TWTUNE UNKNOWN line on stdout.
"#;

const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
\fBNO_COLOR\fR
When set and not empty, no colour (\fB\-\-color always\fR overrides it). Without it, colour is used on a terminal only.
.TP
\fBTERM\fR
\fBdumb\fR: no colour (\fB\-\-color always\fR overrides it).
.TP
\fBTWTUNE_LOCK_WAIT_MS\fR
How long apply and rollback wait for another run's lock, in milliseconds (default 10000); then they fail with exit status 1.
"#;

const FILES: &str = r#".SH FILES
Every path is read under \fIROOT\fR (\fB\-\-root\fR, default /). A missing file is a fact ("absent"); an unreadable or garbled one is an error that names it.
.TP
\%\fIROOT\fR/proc/sys/kernel/osrelease
The kernel release, for the rules that depend on the kernel version.
.TP
\%\fIROOT\fR/proc/sys/net/ipv4/
.TQ
\%\fIROOT\fR/proc/sys/net/core/
.TQ
\%\fIROOT\fR/proc/sys/net/netfilter/
Runtime sysctl values: the keys the rules judge (net.ipv4.*, and net.netfilter.nf_conntrack_* when conntrack is loaded) and every managed key a persisted file sets. apply writes the keys of its plan here and reads each one back.
.TP
\%\fIROOT\fR/proc/net/netstat
.TQ
\%\fIROOT\fR/proc/net/snmp
.TQ
\%\fIROOT\fR/proc/net/sockstat
.TQ
\%\fIROOT\fR/proc/net/sockstat6
Counters (TcpExt, Tcp) and socket totals.
.TP
\%\fIROOT\fR/proc/net/tcp
.TQ
\%\fIROOT\fR/proc/net/tcp6
The socket table under \-\-root, or where netlink is refused; the live host is asked over netlink sock_diag.
.TP
\%\fIROOT\fR/proc/\fIPID\fR/fd/
.TQ
\%\fIROOT\fR/proc/\fIPID\fR/comm
The processes holding CLOSE_WAIT sockets (other users' processes only as root).
.TP
\%\fIROOT\fR/proc/self/ns/net
.TQ
\%\fIROOT\fR/proc/self/ns/pid
.TQ
\%\fIROOT\fR/proc/1/ns/net
Whether this is the host's network namespace.
.TP
\%\fIROOT\fR/proc/net/dev
.TQ
\%\fIROOT\fR/sys/class/net/
.TQ
\%\fIROOT\fR/proc/net/fib_trie
.TQ
\%\fIROOT\fR/proc/net/if_inet6
.TQ
\%\fIROOT\fR/proc/net/nf_conntrack
.TQ
\%\fIROOT\fR/proc/net/stat/nf_conntrack
NAT signals: interfaces, addresses, conntrack entries and statistics. On the live host (no \-\-root) also what \fBnft \-j list ruleset\fR, \fBiptables\-save\fR, \fBip6tables\-save\fR and \fBconntrack \-L\fR print, where installed.
.TP
\%\fIROOT\fR/etc/sysctl.d/*.conf
.TQ
\%\fIROOT\fR/run/sysctl.d/*.conf
.TQ
\%\fIROOT\fR/usr/local/lib/sysctl.d/*.conf
.TQ
\%\fIROOT\fR/usr/lib/sysctl.d/*.conf
.TQ
\%\fIROOT\fR/lib/sysctl.d/*.conf
.TQ
\%\fIROOT\fR/etc/sysctl.conf
Persisted settings, read in systemd\-sysctl's order: names sorted across the folders, a name in an earlier folder masking the same name in a later one, /etc/sysctl.conf last.
.TP
\%\fIROOT\fR/etc/sysctl.d/90\-twtune.conf
The drop\-in apply writes (\fB\-\-persist\-to\fR names another file read at boot).
.TP
\%\fIROOT\fR/etc/twtune/rules.d/*.toml
Site rules: add rules, replace a built\-in rule by using its id, or switch rules off with a top\-level disable = ["ID", ...].
.TP
\%\fIROOT\fR/var/lib/twtune/
The state of apply and rollback: \fBlock\fR (held by the run under way), \fBjournal.json\fR (the old values of a run under way, written before its first change), \fBlast\-apply.json\fR (what rollback undoes).
"#;

const SEE_ALSO: &str = r#".SH "SEE ALSO"
sysctl(8), sysctl.d(5), systemd\-sysctl.service(8), ss(8), tcp(7)
"#;

/// Text for roff: backslashes, hyphens and quotes that print as typed, and
/// no line that roff would read as a request.
fn roff(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\(aq")
        .replace('`', "\\(ga");
    escaped
        .lines()
        .map(|line| {
            let line = line.trim_start();
            if line.starts_with('.') {
                format!("\\&{line}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", roff(text))
}

fn italic(text: &str) -> String {
    format!("\\fI{}\\fR", roff(text))
}

/// Paragraphs (blank-line separated) joined by `separator` (`.PP`, `.IP`).
fn paragraphs(text: &str, separator: &str) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(roff)
        .collect::<Vec<_>>()
        .join(&format!("\n{separator}\n"))
}

fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set() && !matches!(arg.get_id().as_str(), "help" | "version")
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|names| names.first())
        .map(ToString::to_string)
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

fn possible_values(arg: &Arg) -> Vec<clap::builder::PossibleValue> {
    if !arg.get_action().takes_values() {
        return Vec::new();
    }
    arg.get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .collect()
}

fn repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// One argument as a synopsis shows it: `[--sample DURATION]`, `ID`,
/// `check|facts|…`, `[--set KEY=VALUE]...`.
fn synopsis_item(arg: &Arg) -> String {
    let item = if arg.is_positional() {
        let values = possible_values(arg);
        if values.is_empty() {
            italic(&value_name(arg))
        } else {
            values
                .iter()
                .map(|v| bold(v.get_name()))
                .collect::<Vec<_>>()
                .join("|")
        }
    } else {
        let mut names = Vec::new();
        if let Some(short) = arg.get_short() {
            names.push(bold(&format!("-{short}")));
        }
        if let Some(long) = arg.get_long() {
            names.push(bold(&format!("--{long}")));
        }
        let mut item = names.join("|");
        if arg.get_action().takes_values() {
            item.push(' ');
            item.push_str(&italic(&value_name(arg)));
        }
        item
    };
    let item = if arg.is_required_set() {
        item
    } else {
        format!("[{item}]")
    };
    if repeatable(arg) {
        format!("{item}...")
    } else {
        item
    }
}

/// `twtune apply [--dry-run] …`: the command path, then every shown
/// argument, wrapped with a hanging indent (`.SY`/`.YS`, groff's and
/// mandoc's synopsis macros).
fn synopsis(path: &str, command: &Command, with_globals: bool) -> String {
    let mut parts = Vec::new();
    parts.extend(
        command
            .get_arguments()
            .filter(|a| shown(a) && (with_globals || !a.is_global_set()))
            .map(synopsis_item),
    );
    if command.has_subcommands() {
        parts.push(italic("COMMAND"));
    }
    format!(".SY \"{}\"\n{}\n.YS\n", roff(path), parts.join("\n"))
}

/// One `.TP` entry a shown argument: its names and value, default, help,
/// possible values.
fn option_entry(arg: &Arg) -> String {
    let mut head = if arg.is_positional() {
        italic(&value_name(arg))
    } else {
        let mut names = Vec::new();
        if let Some(short) = arg.get_short() {
            names.push(bold(&format!("-{short}")));
        }
        if let Some(long) = arg.get_long() {
            names.push(bold(&format!("--{long}")));
        }
        let mut head = names.join(", ");
        if arg.get_action().takes_values() {
            head.push(' ');
            head.push_str(&italic(&value_name(arg)));
        }
        head
    };
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if arg.get_action().takes_values() && !defaults.is_empty() && !arg.is_hide_default_value_set() {
        head.push_str(&format!(" [default: {}]", roff(&defaults.join(", "))));
    }
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut entry = format!(".TP\n{head}\n{}\n", paragraphs(&help, ".IP"));
    let values = possible_values(arg);
    if !values.is_empty() {
        entry.push_str(".IP\n");
        let listed: Vec<String> = values
            .iter()
            .map(|v| match v.get_help() {
                Some(help) => format!("{}: {}", bold(v.get_name()), roff(&help.to_string())),
                None => bold(v.get_name()),
            })
            .collect();
        entry.push_str(&listed.join("\n.br\n"));
        entry.push('\n');
    }
    if let Some(env) = arg.get_env() {
        entry.push_str(&format!(
            ".IP\nAlso set by the environment variable {}.\n",
            bold(&env.to_string_lossy())
        ));
    }
    entry
}

/// `.SS` subsections for each command under `path`, nested commands after
/// their parent.
fn commands_section(path: &str, command: &Command, out: &mut String) {
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let sub_path = format!("{path} {}", sub.get_name());
        out.push_str(&format!(".SS \"{}\"\n", roff(&sub_path)));
        out.push_str(&synopsis(&sub_path, sub, false));
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        out.push_str(&format!(".PP\n{}\n", paragraphs(&about, ".PP")));
        for arg in sub
            .get_arguments()
            .filter(|a| shown(a) && !a.is_global_set())
        {
            out.push_str(&option_entry(arg));
        }
        if let Some(after) = sub.get_after_long_help().or(sub.get_after_help()) {
            out.push_str(&format!(".PP\n{}\n", paragraphs(&after.to_string(), ".PP")));
        }
        commands_section(&sub_path, sub, out);
    }
}

/// Variables any argument reads (`#[arg(env = …)]`), with its option.
fn argument_environment(command: &Command, out: &mut String) {
    for arg in command.get_arguments().filter(|a| shown(a)) {
        if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
            out.push_str(&format!(
                ".TP\n{}\nThe default of {} ({}).\n",
                bold(&env.to_string_lossy()),
                bold(&format!("--{long}")),
                roff(command.get_name())
            ));
        }
    }
    for sub in command.get_subcommands() {
        argument_environment(sub, out);
    }
}

/// The whole page as roff, from the command-line definition.
pub fn render(twtune: Command) -> Vec<u8> {
    let mut command = twtune;
    command.build();
    let name = command.get_name().to_string();
    let version = command.get_version().unwrap_or_default().to_string();
    let mut out = String::new();
    out.push_str(&format!(
        ".TH {} 1 2026-11-25 \"{} {}\" \"User Commands\"\n",
        name.to_uppercase(),
        roff(&name),
        roff(&version)
    ));
    out.push_str(&format!(
        ".SH NAME\n{} \\- {}\n",
        roff(&name),
        roff(
            &command
                .get_about()
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    ));

    out.push_str(".SH SYNOPSIS\n");
    out.push_str(&synopsis(&name, &command, true));
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        out.push_str(&synopsis(&format!("{name} {}", sub.get_name()), sub, false));
    }

    let about = command
        .get_long_about()
        .or(command.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    out.push_str(&format!(
        ".SH DESCRIPTION\n{}\n.PP\nThe options below apply to every command and may be given before or after it.\n",
        paragraphs(&about, ".PP")
    ));

    out.push_str(".SH OPTIONS\n");
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        out.push_str(&option_entry(arg));
    }

    out.push_str(".SH COMMANDS\n");
    commands_section(&name, &command, &mut out);

    out.push_str(EXIT_STATUS);
    out.push_str(ENVIRONMENT);
    argument_environment(&command, &mut out);
    out.push_str(FILES);
    out.push_str(SEE_ALSO);
    out.into_bytes()
}
