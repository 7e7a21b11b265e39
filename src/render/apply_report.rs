//! The JSON reports of `apply` and `rollback`, as types.
//!
//! Every object lists its fields in alphabetical order: the order these
//! reports have always had (they were first built as sorted maps), kept
//! because scripts may compare the text. `tests/apply_fixture.rs` pins the
//! exact output.

use schemars::JsonSchema;
use serde::Serialize;

use super::{diff, escape};
use crate::apply::journal::{FileRecord, KeyRecord, NetnsRecord};
use crate::apply::manual::ManualFix;
use crate::apply::plan::{Change, PersistPlan, Plan, Shadow};
use crate::rules::Severity;

/// Version of the JSON plan and rollback objects. 2: the top-level
/// `changed` and `comment` that configuration management reads.
pub const PLAN_SCHEMA_VERSION: u32 = 2;

/// `twtune apply --format json`: the plan, and whether it was carried out.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanReport<'a> {
    /// The changes were made (false on `--dry-run`).
    pub applied: bool,
    /// Something was changed, or with `--dry-run` would be: the flag Salt's
    /// `stateful` and Ansible's `changed` read.
    pub changed: bool,
    pub changes: Vec<ChangeReport<'a>>,
    /// One line for people: what was, or would be, changed.
    #[schemars(pattern(r"^[^\n\r]*$"))]
    pub comment: String,
    pub dry_run: bool,
    pub empty: bool,
    /// The findings no sysctl fixes, with their fix by hand.
    pub manual: Vec<ManualReport<'a>>,
    pub notes: &'a [String],
    /// `null` with `--no-persist`.
    pub persist: Option<PersistReport<'a>>,
    pub schema_version: u32,
    /// The network namespace `--netns` changes; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<PlanNamespace>,
}

/// The namespace an `apply --netns` plan is for.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlanNamespace {
    pub inode: u64,
    /// `--netns` as given.
    pub target: String,
    /// Its `ip netns` names.
    pub names: Vec<String>,
    /// Always false: a namespace has no boot, so only runtime values change.
    pub persisted: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeReport<'a> {
    pub from: &'a str,
    pub key: &'a str,
    pub persist: bool,
    /// `null` for `--set`.
    pub rule: Option<&'a str>,
    pub runtime: bool,
    pub to: &'a str,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ManualReport<'a> {
    pub fix: &'a str,
    /// The program or baseline that manages the key (kube-proxy, a tuned
    /// profile, Ansible…); absent when none does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    pub rule: &'a str,
    pub severity: Severity,
    pub summary: &'a str,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PersistReport<'a> {
    pub after: &'a str,
    pub changed: bool,
    /// The unified diff; `null` when the file does not change.
    pub diff: Option<String>,
    pub exists: bool,
    pub file: &'a str,
    pub shadowed: Vec<ShadowReport<'a>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ShadowReport<'a> {
    pub file: &'a str,
    pub key: &'a str,
    pub line: usize,
    /// `boot` or `sysctl --system`.
    pub order: &'a str,
    pub suggest: &'a str,
    pub value: &'a str,
}

impl<'a> PlanReport<'a> {
    pub fn new(plan: &'a Plan, dry_run: bool, applied: bool, manual: &'a [ManualFix]) -> Self {
        PlanReport {
            applied,
            changed: !plan.is_empty(),
            changes: plan.changes.iter().map(ChangeReport::from).collect(),
            comment: plan_comment(plan, dry_run, applied, manual.len()),
            dry_run,
            empty: plan.is_empty(),
            manual: manual.iter().map(ManualReport::from).collect(),
            notes: &plan.notes,
            persist: plan.persist.as_ref().map(PersistReport::from),
            schema_version: PLAN_SCHEMA_VERSION,
            namespace: None,
        }
    }

    /// The same report, for a plan made in the namespace `--netns` named.
    pub fn in_namespace(mut self, namespace: Option<PlanNamespace>) -> Self {
        self.namespace = namespace;
        self
    }
}

impl<'a> From<&'a Change> for ChangeReport<'a> {
    fn from(change: &'a Change) -> Self {
        ChangeReport {
            from: &change.from,
            key: change.key.as_str(),
            persist: change.persist,
            rule: change.rule.as_deref(),
            runtime: change.runtime,
            to: &change.to,
        }
    }
}

impl<'a> From<&'a ManualFix> for ManualReport<'a> {
    fn from(fix: &'a ManualFix) -> Self {
        ManualReport {
            fix: &fix.fix,
            owner: fix.owner.as_deref(),
            rule: &fix.rule,
            severity: fix.severity,
            summary: &fix.summary,
        }
    }
}

impl<'a> From<&'a PersistPlan> for PersistReport<'a> {
    fn from(persist: &'a PersistPlan) -> Self {
        PersistReport {
            after: &persist.after,
            changed: persist.changes(),
            diff: persist.changes().then(|| persist_diff(persist)),
            exists: persist.before.is_some(),
            file: &persist.file,
            shadowed: persist.shadowed.iter().map(ShadowReport::from).collect(),
        }
    }
}

impl<'a> From<&'a Shadow> for ShadowReport<'a> {
    fn from(shadow: &'a Shadow) -> Self {
        ShadowReport {
            file: &shadow.file,
            key: shadow.key.as_str(),
            line: shadow.line,
            order: shadow.order,
            suggest: &shadow.suggest,
            value: &shadow.value,
        }
    }
}

/// One line: how many keys change, which, and the persisted file.
fn plan_comment(plan: &Plan, dry_run: bool, applied: bool, manual: usize) -> String {
    let mut comment = if plan.is_empty() {
        "nothing to change".to_string()
    } else {
        let verb = match (dry_run, applied) {
            (true, _) => "would change",
            (false, true) => "changed",
            (false, false) => "plans to change",
        };
        let keys: Vec<String> = plan
            .changes
            .iter()
            .map(|c| format!("{} {} -> {}", c.key.as_str(), c.from, c.to))
            .collect();
        let mut comment = format!("{verb} {}: {}", count(keys.len(), "key"), keys.join(", "));
        if let Some(file) = plan.persist_change() {
            let verb = if applied { "wrote" } else { "writes" };
            comment.push_str(&format!("; {verb} {}", file.file));
        }
        comment
    };
    if manual > 0 {
        comment.push_str(&format!("; {} to fix by hand", count(manual, "finding")));
    }
    one_line(&comment)
}

fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Values and file names come from the inspected host: the comment stays one
/// line of printable text whatever they hold.
fn one_line(text: &str) -> String {
    escape::text(text).into_owned()
}

/// The persisted file of a plan, before → after apply.
pub fn persist_diff(persist: &PersistPlan) -> String {
    diff::unified(
        &persist.file,
        persist.before.as_deref(),
        Some(&persist.after),
        "now",
        "after apply",
        "no file yet",
    )
}

/// What a rollback undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackOf {
    /// An apply or rollback that did not finish (its journal).
    Interrupted,
    /// The last apply that finished (its record).
    LastApply,
}

/// `twtune rollback --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RollbackReport<'a> {
    /// Something was restored, or with `--dry-run` would be.
    pub changed: bool,
    pub changes: Vec<RestoreReport<'a>>,
    /// One line for people: what was, or would be, restored.
    #[schemars(pattern(r"^[^\n\r]*$"))]
    pub comment: String,
    /// The values were restored (false on `--dry-run`).
    pub done: bool,
    pub dry_run: bool,
    pub persist: Option<RestoreFileReport<'a>>,
    pub rollback_of: RollbackOf,
    pub schema_version: u32,
    /// The network namespace the rollback returned to (the one an
    /// `apply --netns` changed); absent for the host's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<RollbackNamespace<'a>>,
}

/// The namespace of a rollback, as the journal recorded it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RollbackNamespace<'a> {
    pub inode: u64,
    /// How `--netns` named it when it was changed, or, for a namespace an
    /// apply ran in (`ip netns exec`), the file rollback found it through.
    pub target: &'a str,
    /// Its SO_NETNS_COOKIE, which rollback checked before writing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<u64>,
}

/// One key, from its value now back to the recorded one.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RestoreReport<'a> {
    pub from: &'a str,
    pub key: &'a str,
    pub to: &'a str,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RestoreFileReport<'a> {
    pub diff: String,
    pub file: &'a str,
    /// The file goes: it did not exist before.
    pub removed: bool,
}

impl<'a> RollbackReport<'a> {
    pub fn new(
        of: RollbackOf,
        runtime: &'a [KeyRecord],
        persist: Option<&'a FileRecord>,
        dry_run: bool,
        done: bool,
    ) -> Self {
        let changed = !runtime.is_empty() || persist.is_some();
        RollbackReport {
            changed,
            changes: runtime
                .iter()
                .map(|r| RestoreReport {
                    from: &r.old,
                    key: r.key.as_str(),
                    to: &r.new,
                })
                .collect(),
            comment: rollback_comment(of, runtime, persist, dry_run, done),
            done,
            dry_run,
            persist: persist.map(|f| RestoreFileReport {
                diff: restore_diff(f),
                file: &f.file,
                removed: f.new.is_none(),
            }),
            rollback_of: of,
            schema_version: PLAN_SCHEMA_VERSION,
            namespace: None,
        }
    }

    /// Names the namespace the rollback returned to.
    pub fn in_namespace(mut self, namespace: Option<&'a NetnsRecord>) -> Self {
        self.namespace = namespace.map(|n| RollbackNamespace {
            inode: n.inode,
            target: n.target.as_deref().unwrap_or_default(),
            cookie: n.cookie,
        });
        if let Some(n) = &self.namespace {
            self.comment.push_str(&format!(
                " in network namespace {} (inode {})",
                n.target, n.inode
            ));
            self.comment = one_line(&self.comment);
        }
        self
    }
}

fn rollback_comment(
    of: RollbackOf,
    runtime: &[KeyRecord],
    persist: Option<&FileRecord>,
    dry_run: bool,
    done: bool,
) -> String {
    if runtime.is_empty() && persist.is_none() {
        return "nothing to roll back".to_string();
    }
    let verb = match (dry_run, done) {
        (true, _) => "would restore",
        (false, true) => "restored",
        (false, false) => "restores",
    };
    let what = match of {
        RollbackOf::Interrupted => "the interrupted run",
        RollbackOf::LastApply => "the last apply",
    };
    let keys: Vec<String> = runtime
        .iter()
        .map(|r| format!("{} {} -> {}", r.key.as_str(), r.old, r.new))
        .collect();
    let mut comment = format!("{verb} {} of {what}", count(keys.len(), "key"));
    if !keys.is_empty() {
        comment.push_str(&format!(": {}", keys.join(", ")));
    }
    if let Some(file) = persist {
        let action = match (&file.new, done) {
            (None, true) => "removed",
            (None, false) => "removes",
            (Some(_), true) => "restored",
            (Some(_), false) => "restores",
        };
        comment.push_str(&format!("; {action} {}", file.file));
    }
    one_line(&comment)
}

/// `twtune rollback --format json` when no apply is recorded: printed on one line.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NothingToRollBack {
    /// Always false: nothing was, or would be, changed.
    #[schemars(extend("const" = false))]
    pub changed: bool,
    pub changes: [RestoreReport<'static>; 0],
    #[schemars(pattern(r"^[^\n\r]*$"))]
    pub comment: &'static str,
    /// Always null: there is no file to restore.
    #[schemars(with = "()")]
    pub persist: Option<RestoreFileReport<'static>>,
    /// Always null: there is nothing to roll back.
    #[schemars(with = "()")]
    pub rollback_of: Option<RollbackOf>,
    pub schema_version: u32,
}

impl Default for NothingToRollBack {
    fn default() -> Self {
        NothingToRollBack {
            changed: false,
            changes: [],
            comment: "nothing to roll back: no apply is recorded",
            persist: None,
            rollback_of: None,
            schema_version: PLAN_SCHEMA_VERSION,
        }
    }
}

/// A rollback's file, from its text now to the recorded one (or removed).
pub fn restore_diff(file: &FileRecord) -> String {
    diff::unified(
        &file.file,
        file.old.as_deref(),
        file.new.as_deref(),
        "now",
        "after rollback",
        "no file",
    )
}
