//! `twtune apply` and `twtune rollback`: plan, show, confirm, carry out.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, bail};
use twtune::apply::executor::{self, Options};
use twtune::apply::journal::{self, FileRecord, KeyRecord};
use twtune::apply::kubernetes;
use twtune::apply::lock;
use twtune::apply::manual::{self, ManualFix};
use twtune::apply::plan::{self, Request, Scope};
use twtune::apply::state;
use twtune::cli::{ApplyArgs, Cli, Emit, Format, RollbackArgs};
use twtune::exit_code::Exit;
use twtune::render::apply_report::{
    NothingToRollBack, PlanNamespace, PlanReport, RollbackOf, RollbackReport,
};
use twtune::render::escape;
use twtune::render::plan as render;
use twtune::rules;

use super::output::{emit, emit_json};

/// Milliseconds a run waits for another's lock (default 10 s).
const LOCK_WAIT_ENV: &str = "TWTUNE_LOCK_WAIT_MS";
/// Test hook (feature `test-hooks` only): pause after the first runtime
/// write until this file is removed.
#[cfg(feature = "test-hooks")]
const PAUSE_ENV: &str = "TWTUNE_TEST_PAUSE_AFTER_FIRST_WRITE";

pub fn apply(cli: &Cli, args: &ApplyArgs) -> anyhow::Result<Exit> {
    let root = &cli.root;
    if args.emit.is_some() && cli.format != Format::Human {
        bail!("--emit k8s prints YAML: leave out --format");
    }
    let mut options = options()?;
    // Into the namespace before anything reads a value: the plan, the lock's
    // re-reads and every write are that namespace's.
    let entered = match &args.netns {
        Some(target) => {
            if args.persist_only {
                bail!(
                    "--persist-only cannot be combined with --netns: the persisted drop-in is read at the host's boot, and a network namespace has no boot of its own (`apply --netns` changes runtime values only); nothing was changed"
                );
            }
            if let Some(file) = &args.persist_to {
                bail!(
                    "--persist-to {} cannot be combined with --netns: a network namespace has no boot to persist for (`apply --netns` changes runtime values only); nothing was changed",
                    file.display()
                );
            }
            Some(super::netns::enter_target(cli, target)?)
        }
        None => None,
    };
    options.netns = entered.as_ref().map(|e| e.record.clone());
    let namespace = entered.as_ref().map(|e| PlanNamespace {
        inode: e.record.inode,
        target: e.record.target.clone(),
        names: e.identity.names.clone(),
        persisted: false,
    });
    // Lock before planning, so the plan shows the host the apply will change.
    let lock = match args.dry_run {
        true => None,
        false => Some(lock::acquire(root, options.lock_wait)?),
    };
    refuse_if_interrupted(
        root,
        lock.is_some(),
        "apply refuses to start until it is resolved",
    )?;
    // Rules first, as check does: a broken rule file fails before host I/O.
    let rule_set = super::check::load_rules(cli)?;
    if let Some(unknown) = args.skip.iter().find(|id| rule_set.get(id).is_none()) {
        let near = twtune::suggest::closest(unknown, rule_set.rules().map(|r| r.id.as_str()));
        bail!(
            "--skip {unknown}: no rule has this id{} (`twtune rules` lists them)",
            twtune::suggest::did_you_mean(&near)
        );
    }
    let facts = super::check::gather(cli, entered.map(|e| e.identity))?;
    let findings = rules::evaluate(&rule_set, &facts).findings;
    let manual = manual::manual_fixes(&findings, &args.skip);
    let scope = match (args.no_persist || namespace.is_some(), args.persist_only) {
        (true, _) => Scope::RuntimeOnly,
        (_, true) => Scope::PersistOnly,
        _ => Scope::Both,
    };
    let request = Request {
        findings: &findings,
        sets: &args.set,
        only: &args.only,
        skip: &args.skip,
        scope,
        persist_to: args.persist_to.as_deref(),
    };
    let plan = plan::build(root, &facts.persisted, &request).context("cannot plan the changes")?;

    // The persisted file's warnings concern this node, not a cluster's pods.
    if let Some(Emit::K8s) = args.emit {
        let version = args
            .k8s_version
            .unwrap_or(kubernetes::K8sVersion::NEWEST_LIST_CHANGE);
        let placed = kubernetes::place(&plan, version, facts.kernel.version);
        emit(twtune::render::kubernetes::yaml(&placed).trim_end())?;
        return Ok(if placed.is_empty() {
            Exit::Compliant
        } else {
            Exit::ChangesPending
        });
    }
    for line in render::warnings(&plan) {
        eprintln!("twtune: warning: {}", escape::lines(&line));
    }
    if let (Some(namespace), Format::Human) = (&namespace, cli.format) {
        emit(&render::human_namespace(namespace))?;
    }
    if plan.is_empty() || args.dry_run {
        print_plan(cli, &plan, args.dry_run, false, &manual, namespace.as_ref())?;
        if cli.format == Format::Human {
            let by_hand = render::human_manual(&manual);
            if !by_hand.is_empty() {
                emit(by_hand.trim_end())?;
            }
            if args.dry_run && !plan.is_empty() {
                emit("Dry run: nothing was changed.")?;
            }
        }
        return Ok(if plan.is_empty() {
            Exit::Compliant
        } else {
            Exit::ChangesPending
        });
    }
    if cli.format == Format::Human {
        emit(&render::human(&plan))?;
        let by_hand = render::human_manual(&manual);
        if !by_hand.is_empty() {
            emit(by_hand.trim_end())?;
        }
    }
    if !confirmed(args.yes, "Apply these changes?")? {
        eprintln!("twtune: not applied; nothing was changed");
        return Ok(Exit::ChangesPending);
    }
    let lock = lock.context("internal error: the lock was not taken")?;
    executor::apply(root, &plan, &lock, &options).context("apply failed")?;
    match cli.format {
        Format::Json => print_plan(cli, &plan, false, true, &manual, namespace.as_ref())?,
        _ => emit("Applied. `twtune rollback` undoes this apply.")?,
    }
    Ok(Exit::Compliant)
}

pub fn rollback(cli: &Cli, args: &RollbackArgs) -> anyhow::Result<Exit> {
    let root = &cli.root;
    let mut options = options()?;
    let lock = match args.dry_run {
        true => None,
        false => Some(lock::acquire(root, options.lock_wait)?),
    };
    if let Some(found) = journal::interrupted(root)? {
        if found.running && lock.is_none() {
            bail!("{}; try again when it has finished", found.notice());
        }
        let found = found.seen_holding_the_lock();
        eprintln!("twtune: {}", escape::lines(&found.notice()));
        let namespace = found.journal.netns.clone();
        if let Some(record) = &namespace {
            let path = found.path.display().to_string();
            super::netns::enter_recorded(cli, record, &path)?;
            announce_namespace(cli, record)?;
        }
        // Show what recovery writes: every recorded old value, newest first.
        let (runtime, persist) = found.journal.inverse();
        show_restore(
            cli,
            RollbackOf::Interrupted,
            &runtime,
            persist.as_ref(),
            args.dry_run,
            namespace.as_ref(),
        )?;
        if args.dry_run {
            return Ok(Exit::ChangesPending);
        }
        if !confirmed(args.yes, "Restore these values?")? {
            eprintln!("twtune: not restored; nothing was changed");
            return Ok(Exit::ChangesPending);
        }
        let lock = lock.context("internal error: the lock was not taken")?;
        executor::recover(root, &lock).context("rollback failed")?;
        finish_restore(
            cli,
            RollbackOf::Interrupted,
            &runtime,
            persist.as_ref(),
            namespace.as_ref(),
        )?;
        return Ok(Exit::Compliant);
    }
    // The last apply may have changed another namespace: return to it
    // before reading what its keys hold now.
    let last_path = state::last_apply_path(root);
    let namespace = journal::read(&last_path)
        .context("cannot read the last apply")?
        .and_then(|last| last.netns);
    if let Some(record) = &namespace {
        super::netns::enter_recorded(cli, record, &last_path.display().to_string())?;
        announce_namespace(cli, record)?;
        options.netns = Some(record.clone());
    }
    let Some((runtime, persist)) =
        executor::rollback_records(root).context("cannot read the last apply")?
    else {
        if cli.format == Format::Json {
            emit(&serde_json::to_string(&NothingToRollBack::default())?)?;
        } else {
            emit(&format!(
                "Nothing to roll back: no apply is recorded in {}.",
                state::last_apply_path(root).display()
            ))?;
        }
        return Ok(Exit::Compliant);
    };
    let nothing = runtime.is_empty() && persist.is_none();
    show_restore(
        cli,
        RollbackOf::LastApply,
        &runtime,
        persist.as_ref(),
        args.dry_run,
        namespace.as_ref(),
    )?;
    if nothing {
        return Ok(Exit::Compliant);
    }
    if args.dry_run {
        return Ok(Exit::ChangesPending);
    }
    if !confirmed(args.yes, "Roll back the last apply?")? {
        eprintln!("twtune: not rolled back; nothing was changed");
        return Ok(Exit::ChangesPending);
    }
    let lock = lock.context("internal error: the lock was not taken")?;
    executor::rollback_last(root, runtime.clone(), persist.clone(), &lock, &options)
        .context("rollback failed")?;
    finish_restore(
        cli,
        RollbackOf::LastApply,
        &runtime,
        persist.as_ref(),
        namespace.as_ref(),
    )?;
    Ok(Exit::Compliant)
}

/// Says, for people, which namespace a rollback returned to.
fn announce_namespace(cli: &Cli, record: &journal::NetnsRecord) -> anyhow::Result<()> {
    if cli.format == Format::Human {
        emit(&format!(
            "In network namespace {} (inode {}), which the last apply changed:",
            record.target, record.inode
        ))?;
    }
    Ok(())
}

/// Refuses while a journal exists. `locked`: this process holds the lock, so
/// the journal's run is dead, not merely under way.
fn refuse_if_interrupted(
    root: &std::path::Path,
    locked: bool,
    consequence: &str,
) -> anyhow::Result<()> {
    if let Some(found) = journal::interrupted(root)? {
        if found.running && !locked {
            bail!("{}; try again when it has finished", found.notice());
        }
        bail!("{}; {consequence}", found.seen_holding_the_lock().notice());
    }
    Ok(())
}

/// Every command but apply and rollback calls this first: a crashed apply
/// must not go unnoticed, whatever the operator runs next.
pub fn warn_if_interrupted(cli: &Cli) {
    match journal::interrupted(&cli.root) {
        Ok(Some(found)) => eprintln!("twtune: warning: {}", escape::lines(&found.notice())),
        Ok(None) => {}
        Err(err) => eprintln!("twtune: warning: {}", escape::lines(&err.to_string())),
    }
}

fn print_plan(
    cli: &Cli,
    plan: &plan::Plan,
    dry_run: bool,
    applied: bool,
    manual: &[ManualFix],
    namespace: Option<&PlanNamespace>,
) -> anyhow::Result<()> {
    match cli.format {
        Format::Json => emit_json(
            &PlanReport::new(plan, dry_run, applied, manual).in_namespace(namespace.cloned()),
        ),
        _ => Ok(emit(&render::human(plan))?),
    }
}

fn show_restore(
    cli: &Cli,
    kind: RollbackOf,
    runtime: &[KeyRecord],
    persist: Option<&FileRecord>,
    dry_run: bool,
    namespace: Option<&journal::NetnsRecord>,
) -> anyhow::Result<()> {
    match cli.format {
        // JSON prints once, after the outcome is known, unless nothing will happen.
        Format::Json if dry_run || (runtime.is_empty() && persist.is_none()) => emit_json(
            &RollbackReport::new(kind, runtime, persist, dry_run, false).in_namespace(namespace),
        ),
        Format::Json => Ok(()),
        _ => {
            emit(&render::human_restore(runtime, persist))?;
            if dry_run {
                emit("Dry run: nothing was changed.")?;
            }
            Ok(())
        }
    }
}

fn finish_restore(
    cli: &Cli,
    kind: RollbackOf,
    runtime: &[KeyRecord],
    persist: Option<&FileRecord>,
    namespace: Option<&journal::NetnsRecord>,
) -> anyhow::Result<()> {
    match cli.format {
        Format::Json => emit_json(
            &RollbackReport::new(kind, runtime, persist, false, true).in_namespace(namespace),
        ),
        _ => Ok(emit("Restored.")?),
    }
}

/// Asks on a terminal; off one, only `--yes` proceeds.
fn confirmed(yes: bool, prompt: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!(
            "not on a terminal and --yes was not given: refusing to change anything without confirmation (nothing was changed)"
        );
    }
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .context("cannot read the confirmation")
}

fn options() -> anyhow::Result<Options> {
    let lock_wait =
        match std::env::var(LOCK_WAIT_ENV) {
            Ok(ms) => Duration::from_millis(ms.trim().parse().with_context(|| {
                format!("{LOCK_WAIT_ENV}={ms:?} is not a number of milliseconds")
            })?),
            Err(_) => executor::DEFAULT_LOCK_WAIT,
        };
    Ok(Options {
        lock_wait,
        #[cfg(feature = "test-hooks")]
        pause_after_first_write: std::env::var_os(PAUSE_ENV).map(std::path::PathBuf::from),
        netns: None,
    })
}
