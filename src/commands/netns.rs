//! `rollback` returning to the namespace an apply changed, and
//! `check --all-netns`. (`--netns TARGET` is entered by the shared pipeline,
//! `pipeline::enter_target`.)
//!
//! Every namespace is entered by the main thread (see `twtune::facts::netns`
//! for why not a helper thread), so these run before any other thread exists
//! and gather exactly as a check in that namespace would.

use anyhow::{Context as _, bail};
use twtune::apply::journal::NetnsRecord;
use twtune::cli::{CheckArgs, Cli, Format};
use twtune::exit_code::{Exit, Status};
use twtune::facts;
use twtune::facts::netns::{self, Namespace};
use twtune::render::netns as table;
use twtune::rules;

use super::netns_visit::{AllChecked, Keep, Kept, enter, gather_entered, hold};
use super::pipeline;

/// The namespace the calling thread is in, as a run records it: what an
/// apply without `--netns` changes (the host's, or the one `ip netns exec`
/// or `nsenter -n` started twtune in). `None` under `--root`, whose runtime
/// values are files of the tree.
pub fn record_here(cli: &Cli) -> anyhow::Result<Option<NetnsRecord>> {
    if !super::pipeline::source(cli).reads_running_system() {
        return Ok(None);
    }
    Ok(Some(NetnsRecord {
        inode: netns::current_inode()?,
        cookie: netns::current_cookie()?,
        target: None,
    }))
}

/// Makes the main thread be in the namespace a journal or last-apply record
/// says the run changed, or refuses (exit 1, nothing written).
///
/// Rollback never trusts an inode: the kernel gives a deleted namespace's
/// inode to the next one made. The record's cookie is the identity — where
/// rollback runs when the cookies agree, else every namespace on the host
/// with the recorded inode (found by the record's `--netns` target, its
/// names, processes, threads, open descriptors and bind mounts) is entered
/// and its cookie compared. A namespace with the inode but another cookie is
/// a newcomer: refused, as is a record whose namespace is gone.
///
/// Returns the namespace to announce (with how it was found), `None` when
/// rollback writes where it runs and the apply had no `--netns`.
pub fn enter_recorded(
    cli: &Cli,
    record: &NetnsRecord,
    record_path: &str,
) -> anyhow::Result<Option<NetnsRecord>> {
    pipeline::refuse_root(cli, "a record of the namespace an apply changed")?;
    let here_inode = netns::current_inode()?;
    let here_cookie = netns::current_cookie()?;
    let named = record.target.as_deref().unwrap_or("none: it ran there");
    let Some(cookie) = record.cookie else {
        return here_without_cookie(record, here_inode, record_path);
    };
    if here_cookie.is_none() {
        bail!(
            "{record_path} records network namespace cookie {cookie}, but this kernel reads no cookies (SO_NETNS_COOKIE needs Linux 5.14): refusing to guess which namespace it changed; nothing was changed"
        );
    }
    if here_cookie == Some(cookie) {
        return Ok(record.target.is_some().then(|| record.clone()));
    }
    let home = Namespace::current()?;
    let mut newcomer: Option<(String, Option<u64>)> = None;
    for (via, namespace) in candidates(record) {
        match namespace.cookie(&home)? {
            Some(found) if found == cookie => {
                namespace.enter()?;
                return Ok(Some(NetnsRecord {
                    target: record.target.clone().or(Some(via)),
                    ..record.clone()
                }));
            }
            found => newcomer = Some((via, found)),
        }
    }
    match newcomer {
        Some((via, found)) => bail!(
            "refusing to roll back: {via} has the inode {inode} the last apply recorded (--netns {named}) but is another network namespace (cookie {}, the apply changed cookie {cookie}): the kernel gave the deleted namespace's inode to a new one. The namespace the apply changed is gone with its values; nothing was written anywhere. Remove {record_path} once you are sure.",
            found.map_or_else(|| "unreadable".to_string(), |c| c.to_string()),
            inode = record.inode,
        ),
        None => bail!(
            "the network namespace the last apply changed ({}, inode {}, cookie {cookie}) is gone: its values went with it, so there is nothing to roll back; nothing was written. Remove {record_path} once you are sure",
            record.target.as_deref().unwrap_or("the one it ran in"),
            record.inode
        ),
    }
}

/// Every file on the host that opens a namespace with the recorded inode,
/// the record's own `--netns` target first, each with how it was opened.
fn candidates(record: &NetnsRecord) -> Vec<(String, Namespace)> {
    let mut out = Vec::new();
    if let Some(target) = &record.target
        && let Ok(found) = netns::resolve(target)
        && found.namespace.inode == record.inode
    {
        out.push((target.clone(), found.namespace));
    }
    if let Ok(all) = netns::list_all()
        && let Some(listed) = all.into_iter().find(|l| l.inode == record.inode)
    {
        let paths = listed
            .names
            .iter()
            .map(|n| std::path::Path::new(netns::NETNS_RUN_DIR).join(n))
            .chain(
                listed
                    .pids
                    .iter()
                    .map(|p| format!("/proc/{p}/ns/net").into()),
            )
            .chain(listed.held_by.iter().cloned());
        // One open file per place it is held: each is checked on its own,
        // since the inode alone says nothing.
        for path in paths.take(16) {
            let one = netns::Listed {
                inode: listed.inode,
                names: Vec::new(),
                pids: Vec::new(),
                held_by: vec![path],
            };
            if let Some((via, namespace)) = netns::open_listed_via(&one) {
                out.push((via.display().to_string(), namespace));
            }
        }
    }
    out
}

/// A record without a cookie (a kernel before 5.14, or twtune before it
/// recorded one). Only the initial namespace is provably itself: it lives as
/// long as the machine, so no other namespace can have had its inode. Any
/// other could be a newcomer with a reused inode: refused.
fn here_without_cookie(
    record: &NetnsRecord,
    here_inode: u64,
    record_path: &str,
) -> anyhow::Result<Option<NetnsRecord>> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok();
    let kernel = facts::kernel::KernelFacts::from_release(release.as_deref()).version;
    let initial = twtune::facts::namespace::is_initial(
        Some(here_inode),
        netns::pid_net_inode(1),
        std::fs::read_link("/proc/self/ns/pid")
            .ok()
            .and_then(|l| netns::parse_ns_link(&l.to_string_lossy(), "pid")),
        kernel,
    );
    if record.inode == here_inode && initial == Some(true) {
        return Ok(record.target.is_some().then(|| record.clone()));
    }
    bail!(
        "{record_path} names network namespace {} without its cookie (SO_NETNS_COOKIE, Linux 5.14+), and the kernel gives a deleted namespace's inode to new ones: refusing to guess that the namespace with that inode now is the one the apply changed; nothing was changed. Check its values by hand, then remove {record_path}",
        record.describe()
    )
}

/// `check --all-netns`: every namespace, each gathered and judged as a
/// single check would, one row each; the exit status is the worst one's.
/// With `--sample`, one window for all of them (see [`super::netns_sample`]).
pub fn check_all(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    pipeline::refuse_root(cli, "--all-netns")?;
    if cli.format == Format::Nagios {
        bail!(
            "--all-netns prints a table, --format json or --format prometheus (--textfile); --format nagios checks one namespace"
        );
    }
    let prometheus = super::metrics::wanted(cli, args);
    if prometheus {
        super::metrics::check_textfile_args(cli, args)?;
    }
    let checked_at = super::metrics::now();
    let started_at = std::time::Instant::now();
    let keep = match cli.format {
        _ if prometheus => Keep::Whole,
        Format::Json => Keep::Json,
        Format::Human | Format::Prometheus | Format::Nagios => Keep::Row {
            verbose: args.verbose,
        },
    };
    let (rule_set, mut all) = match check_every_namespace(cli, args, keep) {
        Ok(done) => done,
        // A run that failed as a whole replaces the last exposition too,
        // as a single check's does: twtune_check_success 0, never an old
        // success going stale.
        Err(err) if prometheus => {
            let text =
                twtune::render::prometheus::failure(&twtune::render::prometheus::FailureMetrics {
                    kernel_release: None,
                    checked_at,
                    duration_seconds: started_at.elapsed().as_secs_f64(),
                    apply_interrupted: super::metrics::apply_interrupted(cli),
                });
            if let Err(write_err) = super::metrics::publish(args.textfile.as_deref(), &text) {
                return Err(err.context(format!("{write_err:#}")));
            }
            return Err(err);
        }
        Err(err) => return Err(err),
    };
    // The host's namespace first, then by inode.
    all.checked.sort_by_key(|c| c.order);
    // The verdict over every namespace, decided where every verdict is: a
    // namespace that could not be gathered for a reason other than
    // vanishing makes it an error.
    let status = Status::worst_of(all.checked.iter().map(|c| c.status), all.failed);
    let errors: Vec<(u64, Vec<String>)> = all
        .checked
        .iter_mut()
        .map(|c| (c.inode, std::mem::take(&mut c.errors)))
        .collect();
    let skipped = &all.skipped;
    match keep {
        Keep::Whole => {
            let checked: Vec<table::Checked> = all
                .checked
                .into_iter()
                .filter_map(|c| match c.kept {
                    Kept::Whole(checked) => Some(*checked),
                    _ => None,
                })
                .collect();
            let text = twtune::render::prometheus_netns::all_netns(
                &twtune::render::prometheus_netns::AllNetnsMetrics {
                    checked: &checked,
                    skipped,
                    rules: rule_set
                        .rules()
                        .map(|r| (r.id.as_str(), r.severity))
                        .collect(),
                    checked_at,
                    duration_seconds: started_at.elapsed().as_secs_f64(),
                    top_destinations: args.top_destinations,
                    apply_interrupted: super::metrics::apply_interrupted(cli),
                },
            );
            super::metrics::publish(args.textfile.as_deref(), &text)?;
        }
        Keep::Json => {
            let entries = all.checked.iter().filter_map(|c| match &c.kept {
                Kept::Json(at) => all.json.get(at.clone()),
                _ => None,
            });
            emit_json_document(|out| table::write_json(out, entries, skipped, status))?;
        }
        Keep::Row { .. } => {
            let rows: Vec<(&table::Row, &[String])> = all
                .checked
                .iter()
                .filter_map(|c| match &c.kept {
                    Kept::Row { row, findings } => Some((row, findings.as_slice())),
                    _ => None,
                })
                .collect();
            super::output::emit(&table::table(rows.iter().map(|(row, _)| *row), skipped))?;
            for line in rows.iter().flat_map(|(_, findings)| *findings) {
                super::output::emit(line)?;
            }
        }
    }
    for (inode, failures) in errors {
        for failure in failures {
            eprintln!(
                "twtune: error: namespace {inode}: {}",
                twtune::render::escape::text(&failure)
            );
        }
    }
    Ok(status.exit())
}

/// Writes the `--all-netns` JSON document to stdout through a buffer, as
/// [`super::output::emit_json`] writes a single check's: a reader gone
/// (`| head`) is not the command's failure.
fn emit_json_document(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let result = (|| {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        write(&mut out)?;
        out.write_all(b"\n")?;
        out.flush()
    })();
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Loads the rules, lists the namespaces and checks each; an error here is
/// the run's as a whole.
fn check_every_namespace(
    cli: &Cli,
    args: &CheckArgs,
    keep: Keep,
) -> anyhow::Result<(rules::RuleSet, AllChecked)> {
    // Rules first, as a single check loads them: a broken rule file is an
    // error before any namespace is entered.
    let rule_set = pipeline::load_rules(cli)?;
    let home = Namespace::current()?;
    let listed = netns::list_all().context("listing network namespaces")?;
    let all = match args.sample {
        Some(interval) => {
            super::netns_sample::check_sampled(cli, &rule_set, &home, listed, interval, keep)?
        }
        None => {
            let mut all = AllChecked::new(keep);
            for found in listed {
                let Some(held) = hold(found, &mut all.skipped) else {
                    continue;
                };
                if enter(&held, &mut all.skipped)? {
                    let gathered = gather_entered(cli, &home, &held, None)?;
                    all.judge(&rule_set, held.found, gathered)?;
                }
            }
            all
        }
    };
    Ok((rule_set, all))
}
