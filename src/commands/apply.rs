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
use twtune::cli::{ApplyArgs, Cli, Emit, Format, Persistence, RollbackArgs};
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
            if args.persist == Persistence::PersistOnly {
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
            Some(super::pipeline::enter_target(cli, target)?)
        }
        None => None,
    };
    // Recorded for every apply on the live host, so rollback finds the
    // namespace this one changes even when it was entered by `ip netns exec`.
    options.netns = match &entered {
        Some(e) => Some(e.record.clone()),
        None => super::netns::record_here(cli)?,
    };
    let namespace = entered.as_ref().map(|e| PlanNamespace {
        inode: e.record.inode,
        target: e.record.target.clone().unwrap_or_default(),
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
    let rule_set = super::pipeline::load_rules(cli)?;
    if let Some(unknown) = args.skip.iter().find(|id| rule_set.get(id).is_none()) {
        let near = twtune::suggest::closest(unknown, rule_set.rules().map(|r| r.id.as_str()));
        bail!(
            "--skip {unknown}: no rule has this id{} (`twtune rules` lists them)",
            twtune::suggest::did_you_mean(&near)
        );
    }
    let facts = super::pipeline::gather(cli, entered.map(|e| e.identity), None)?;
    let findings = rules::evaluate(&rule_set, &facts).findings;
    let mut manual = manual::manual_fixes(&findings, &args.skip);
    let host_files = namespace
        .is_none()
        .then(|| sharing_host_files(cli, &facts))
        .flatten();
    if let Some(why) = &host_files
        && args.persist == Persistence::PersistOnly
        && args.persist_to.is_none()
    {
        bail!(
            "--persist-only: {why}; name the file with --persist-to FILE to persist anyway (nothing was changed)"
        );
    }
    // A namespace has no boot; the host's files are shared: runtime only.
    let scope = match namespace.is_some() || (host_files.is_some() && args.persist_to.is_none()) {
        true => Scope::RuntimeOnly,
        false => match args.persist {
            Persistence::Both => Scope::Both,
            Persistence::RuntimeOnly => Scope::RuntimeOnly,
            Persistence::PersistOnly => Scope::PersistOnly,
        },
    };
    // Owners manage the host's own namespace (kube-proxy, tuned and the
    // boot files configure it), not another one.
    let owners = match namespace.is_none() && facts.namespace.initial != Some(false) {
        true => twtune::facts::owners::gather(root, &facts.persisted)
            .context("cannot read who else manages the keys")?,
        false => Vec::new(),
    };
    let request = Request {
        findings: &findings,
        sets: &args.set,
        only: &args.only,
        skip: &args.skip,
        scope,
        persist_to: args.persist_to.as_deref(),
        owners: &owners,
        converge: args.emit.is_none(),
    };
    let mut plan =
        plan::build(root, &facts.persisted, &request).context("cannot plan the changes")?;
    manual::add_owned(&mut manual, &plan.owned);
    if let (Some(why), None) = (&host_files, &args.persist_to)
        && args.persist != Persistence::RuntimeOnly
    {
        plan.notes.push(format!(
            "runtime values only, nothing persisted: {why}; name a file with --persist-to FILE to persist anyway"
        ));
    }

    // The persisted file's warnings concern this node, not a cluster's pods.
    if let Some(Emit::K8s) = args.emit {
        let version = args
            .k8s_version
            .unwrap_or(kubernetes::K8sVersion::NEWEST_LIST_CHANGE);
        // Facts from the node's own namespace describe the node, not a pod.
        let node_namespace = namespace.is_none() && facts.namespace.initial == Some(true);
        let placed = kubernetes::place(&plan, version, facts.kernel.version, node_namespace);
        emit(twtune::render::kubernetes::yaml(&placed).trim_end())?;
        return Ok(if placed.is_empty() {
            Exit::Compliant
        } else {
            Exit::ChangesPending
        });
    }
    for line in render::warnings(&plan) {
        eprintln!("twtune: warning: {}", escape::text(&line));
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
        eprintln!("twtune: {}", escape::text(&found.notice()));
        let mut namespace = None;
        if let Some(record) = &found.journal.netns
            && !found.journal.runtime.is_empty()
        {
            let path = found.path.display().to_string();
            namespace = super::netns::enter_recorded(cli, record, &path)?;
            if let Some(shown) = &namespace {
                announce_namespace(cli, shown)?;
            }
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
    // A record of the namespace is the identity it was changed in: rollback
    // writes there or nowhere.
    let last_path = state::last_apply_path(root);
    let last = journal::read(&last_path).context("cannot read the last apply")?;
    let mut namespace = None;
    options.netns = super::netns::record_here(cli)?;
    if let Some(last) = &last
        && let Some(record) = &last.netns
        && !last.runtime.is_empty()
    {
        namespace = super::netns::enter_recorded(cli, record, &last_path.display().to_string())?;
        if let Some(shown) = &namespace {
            announce_namespace(cli, shown)?;
        }
        options.netns = Some(namespace.clone().unwrap_or_else(|| record.clone()));
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

/// Why this run must not persist by default: the network namespace is not
/// the initial one, while the files twtune would write are the host's
/// (`ip netns exec NS twtune apply`, `nsenter -n`). `None` when persisting
/// is right, or cannot be told (under `--root`).
fn sharing_host_files(cli: &Cli, facts: &twtune::facts::Facts) -> Option<String> {
    use twtune::facts::namespace::shares_host_sysctl_d;
    if facts.namespace.initial != Some(false) {
        return None;
    }
    let inode = facts
        .namespace
        .net_inode
        .map(|i| format!(" (inode {i})"))
        .unwrap_or_default();
    let named = (!facts.namespace.names.is_empty())
        .then(|| format!(", named {} by `ip netns`", facts.namespace.names.join(", ")));
    let shared = shares_host_sysctl_d(&super::pipeline::source(cli)) == Some(true);
    if named.is_none() && !shared {
        return None;
    }
    Some(format!(
        "this is not the initial network namespace{inode}{}, but /etc/sysctl.d is the host's: a file there configures the host's namespace at its next boot, never this one",
        named.unwrap_or_default()
    ))
}

/// Says, for people, which namespace a rollback returned to.
fn announce_namespace(cli: &Cli, record: &journal::NetnsRecord) -> anyhow::Result<()> {
    if cli.format == Format::Human {
        emit(&format!(
            "In network namespace {}, which the last apply changed:",
            escape::text(&record.describe())
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
    match journal::interrupted(cli.config_root()) {
        Ok(Some(found)) => eprintln!("twtune: warning: {}", escape::text(&found.notice())),
        Ok(None) => {}
        Err(err) => eprintln!("twtune: warning: {}", escape::text(&err.to_string())),
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
