//! `--netns TARGET` (check, facts, apply), `rollback` returning to the
//! namespace an apply changed, and `check --all-netns`.
//!
//! Every namespace is entered by the main thread (see `twtune::facts::netns`
//! for why not a helper thread), so these run before any other thread exists
//! and gather exactly as a check in that namespace would.

use anyhow::{Context as _, bail};
use twtune::apply::journal::NetnsRecord;
use twtune::cli::{CheckArgs, Cli, Format};
use twtune::exit_code::Exit;
use twtune::facts::namespace::Identity;
use twtune::facts::netns::{self, Namespace};
use twtune::facts::{self, GatherOptions};
use twtune::render::netns::{self as table, Checked, Skipped};
use twtune::rules::{self, RuleSet};

/// The namespace twtune entered for `--netns`.
pub struct Entered {
    pub identity: Identity,
    pub record: NetnsRecord,
}

/// A fixture tree has no namespaces to enter.
fn refuse_root(cli: &Cli, flag: &str) -> anyhow::Result<()> {
    if cli.root != std::path::Path::new("/") {
        bail!(
            "{flag} enters a network namespace of the live host; it cannot be combined with --root {}",
            cli.root.display()
        );
    }
    Ok(())
}

/// Resolves `--netns TARGET` and moves the main thread into it: everything
/// gathered (or written, for apply) after this is that namespace's.
pub fn enter_target(cli: &Cli, target: &str) -> anyhow::Result<Entered> {
    refuse_root(cli, "--netns")?;
    let target = netns::resolve(target)?;
    let listed = netns::describe(target.namespace.inode);
    target.enter()?;
    Ok(Entered {
        identity: Identity {
            target: Some(target.named.clone()),
            names: listed.names,
            holder_pid: listed.pids.first().copied(),
        },
        record: NetnsRecord {
            inode: target.namespace.inode,
            target: target.named,
        },
    })
}

/// Enters the namespace a journal recorded, found again by how it was named
/// or, failing that (the holder process gone, the namespace kept by
/// another), by its inode among every namespace on the host. An error, exit
/// 1, when it no longer exists: there is nothing left to roll back.
pub fn enter_recorded(cli: &Cli, record: &NetnsRecord, record_path: &str) -> anyhow::Result<()> {
    refuse_root(cli, "a record of `apply --netns`")?;
    if let Ok(target) = netns::resolve(&record.target)
        && target.namespace.inode == record.inode
    {
        target.enter()?;
        return Ok(());
    }
    let found = netns::list_all()
        .context("listing network namespaces")?
        .into_iter()
        .find(|l| l.inode == record.inode)
        .and_then(|l| netns::open_listed(&l));
    match found {
        Some(namespace) => Ok(namespace.enter()?),
        None => bail!(
            "the network namespace the last apply changed ({}, inode {}) is gone: its values went with it, so there is nothing to roll back; remove {record_path} once you are sure",
            record.target,
            record.inode
        ),
    }
}

/// `check --all-netns`: every namespace, each gathered and judged as a
/// single check would, one row each; the exit status is the worst one's.
pub fn check_all(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    refuse_root(cli, "--all-netns")?;
    if super::metrics::wanted(cli, args) {
        bail!(
            "--all-netns prints a table (or --format json); --format prometheus, --format nagios and --textfile check one namespace"
        );
    }
    // Rules first, as a single check loads them: a broken rule file is an
    // error before any namespace is entered.
    let rule_set = RuleSet::load(&cli.root, &cli.rules_dirs).context("loading rules")?;
    let home = Namespace::current()?;
    let listed = netns::list_all().context("listing network namespaces")?;
    let mut checked = Vec::with_capacity(listed.len());
    let mut skipped = Vec::new();
    let mut failed = false;
    for found in listed {
        // Held open from here on: it cannot vanish while it is read.
        let Some(namespace) = netns::open_listed(&found) else {
            skipped.push(Skipped {
                inode: found.inode,
                reason: "gone before it could be entered".into(),
            });
            continue;
        };
        namespace.enter()?;
        // nft and iptables-save are started in twtune's own namespace (the
        // host's, where a node's NAT rules are) only: a process each, at a
        // hundred namespaces they would be most of the run.
        let own = found.inode == home.inode;
        let identity = Identity {
            target: None,
            names: found.names.clone(),
            holder_pid: found.pids.first().copied(),
        };
        let gathered = facts::gather(
            &GatherOptions::new(&cli.root)
                .with_namespace(Some(identity))
                .with_nat_tools(own),
        );
        home.enter()
            .context("returning to twtune's own network namespace")?;
        let facts = match gathered {
            Ok(facts) => facts,
            Err(err) => {
                failed = true;
                skipped.push(Skipped {
                    inode: found.inode,
                    reason: format!("gathering failed: {err}"),
                });
                continue;
            }
        };
        let evaluation = rules::evaluate(&rule_set, &facts);
        // The host's own namespace belongs to no container, whatever runs in it.
        let container = match facts.namespace.initial {
            Some(true) => None,
            _ => netns::container_of_pids(&found.pids, 16),
        };
        checked.push(Checked {
            inode: found.inode,
            command: found.pids.first().and_then(|pid| netns::command_of(*pid)),
            names: found.names,
            pids: found.pids,
            container,
            facts,
            evaluation,
        });
    }
    // The host's namespace first, then by inode.
    checked.sort_by_key(|c| (c.facts.namespace.initial != Some(true), c.inode));
    let status = table::overall(&checked, failed);
    match cli.format {
        Format::Json => super::output::emit_json(&table::json_report(&checked, &skipped, status))?,
        // Prometheus and Nagios were refused above.
        Format::Human | Format::Prometheus | Format::Nagios => {
            super::output::emit(&table::human(&checked, &skipped))?;
            if args.verbose {
                for c in &checked {
                    for f in &c.evaluation.findings {
                        super::output::emit(&format!(
                            "{} [{}] {}: {}",
                            c.inode,
                            f.severity.as_str(),
                            f.rule,
                            f.summary
                        ))?;
                    }
                }
            }
        }
    }
    for c in &checked {
        for failure in &c.evaluation.errors {
            eprintln!(
                "twtune: error: namespace {}: {}",
                c.inode,
                twtune::render::escape::text(&failure.to_string())
            );
        }
    }
    Ok(status.exit())
}
