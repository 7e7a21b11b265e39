//! The pipeline every command that judges a host shares: load the rules,
//! enter the network namespace asked for, gather the facts, evaluate.
//! `check`, `facts`, the monitoring formats, `check --all-netns` and `apply`
//! all go through here, so no command reaches into another for it (the
//! house test `no_modules_import_each_other_in_a_circle` keeps it so).

use anyhow::{Context as _, bail};
use twtune::apply::journal::NetnsRecord;
use twtune::cli::{CheckArgs, Cli};
use twtune::facts::namespace::Identity;
use twtune::facts::netns;
use twtune::facts::{self, Facts, GatherOptions, Source};
use twtune::render;
use twtune::rules::{self, Evaluation, RuleSet};

/// Gathers in twtune's own namespace, or in the one `--netns` entered;
/// with a sample (and its trace) when one is asked for.
pub fn gather(
    cli: &Cli,
    namespace: Option<Identity>,
    sample: Option<std::time::Duration>,
) -> anyhow::Result<Facts> {
    gather_with(
        cli,
        GatherOptions::of(source(cli))
            .with_sample(sample)
            .with_namespace(namespace),
    )
}

/// What `--root` and `--config-root` ask to read: the running system (with
/// its configuration under `/` or the `--config-root` folder), or a tree.
pub fn source(cli: &Cli) -> Source {
    match &cli.config_root {
        // The CLI refuses --root with it: the live part is the running system's.
        Some(config) => Source::Live {
            config: Some(config.clone()),
        },
        None => Source::of_root(&cli.root),
    }
}

fn gather_with(cli: &Cli, options: GatherOptions) -> anyhow::Result<Facts> {
    facts::gather(&options).with_context(|| match &cli.config_root {
        Some(config) => format!("gathering facts (configuration under {})", config.display()),
        None => format!("gathering facts under {}", cli.root.display()),
    })
}

pub fn load_rules(cli: &Cli) -> anyhow::Result<RuleSet> {
    RuleSet::load(cli.config_root(), &cli.rules_dirs).context("loading rules")
}

/// Loads the rules, enters the namespace asked for, gathers the facts and
/// evaluates: every format's check. Rule failures found while judging are
/// reported on stderr here.
pub fn judge(cli: &Cli, args: &CheckArgs) -> anyhow::Result<(RuleSet, Facts, Evaluation)> {
    // The rules load on a thread of their own while this one gathers: the
    // two share nothing, and on an idle host they are most of a check's
    // time (issue 20). Gathering only reads; a broken rule file is still
    // the error reported, ahead of anything gathering met, and nothing is
    // judged on half a rule set.
    let ((rule_set, demand), facts) = std::thread::scope(|scope| {
        // What judging needs from the rules alone is made there too: the
        // facts they can name, and the CEL environment.
        let prepare = || {
            load_rules(cli).map(|set| {
                let demand = rules::demand::Demand::of(&set);
                rules::expr::env();
                (set, demand)
            })
        };
        let rules = std::thread::Builder::new()
            .name("twtune-rules".into())
            .spawn_scoped(scope, prepare);
        let facts = (|| {
            let namespace = match args.namespaces.target() {
                Some(target) => Some(enter_target(cli, target)?.identity),
                None => None,
            };
            gather(cli, namespace, args.sample)
        })();
        // No thread to spare (RLIMIT_NPROC, say): the rules load here.
        let prepared = match rules {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => prepare(),
        };
        anyhow::Ok((prepared?, facts?))
    })?;
    let evaluation = rules::eval::evaluate_with(&rule_set, &facts, &demand);
    for failure in &evaluation.errors {
        eprintln!(
            "twtune: error: {}",
            render::escape::text(&failure.to_string())
        );
    }
    Ok((rule_set, facts, evaluation))
}

/// The namespace twtune entered for `--netns`.
pub struct Entered {
    pub identity: Identity,
    pub record: NetnsRecord,
}

/// A fixture tree has no namespaces to enter.
pub fn refuse_root(cli: &Cli, flag: &str) -> anyhow::Result<()> {
    if !source(cli).reads_running_system() {
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
    let (names, holder_pid) = netns::describe(target.namespace.inode);
    target.enter()?;
    Ok(Entered {
        identity: Identity {
            target: Some(target.named.clone()),
            names,
            holder_pid,
        },
        record: NetnsRecord {
            inode: target.namespace.inode,
            cookie: netns::current_cookie()?,
            target: Some(target.named),
        },
    })
}
