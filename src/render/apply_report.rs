//! The JSON reports of `apply` and `rollback`, as types.
//!
//! Every object lists its fields in alphabetical order: the order these
//! reports have always had (they were first built as sorted maps), kept
//! because scripts may compare the text. `tests/apply_fixture.rs` pins the
//! exact output.

use schemars::JsonSchema;
use serde::Serialize;

use super::diff;
use crate::apply::journal::{FileRecord, KeyRecord};
use crate::apply::manual::ManualFix;
use crate::apply::plan::{Change, PersistPlan, Plan, Shadow};
use crate::rules::Severity;

/// Version of the JSON plan and rollback objects.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// `twtune apply --format json`: the plan, and whether it was carried out.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanReport<'a> {
    /// The changes were made (false on `--dry-run`).
    pub applied: bool,
    pub changes: Vec<ChangeReport<'a>>,
    pub dry_run: bool,
    pub empty: bool,
    /// The findings the plan cannot fix (see [`crate::apply::manual`]).
    pub manual: Vec<ManualReport<'a>>,
    pub notes: &'a [String],
    /// `null` with `--no-persist`.
    pub persist: Option<PersistReport<'a>>,
    pub schema_version: u32,
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
    pub suggest: &'a str,
    pub value: &'a str,
}

impl<'a> PlanReport<'a> {
    pub fn new(plan: &'a Plan, dry_run: bool, applied: bool, manual: &'a [ManualFix]) -> Self {
        PlanReport {
            applied,
            changes: plan.changes.iter().map(ChangeReport::from).collect(),
            dry_run,
            empty: plan.is_empty(),
            manual: manual.iter().map(ManualReport::from).collect(),
            notes: &plan.notes,
            persist: plan.persist.as_ref().map(PersistReport::from),
            schema_version: PLAN_SCHEMA_VERSION,
        }
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
            suggest: &shadow.suggest,
            value: &shadow.value,
        }
    }
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
    pub changes: Vec<RestoreReport<'a>>,
    /// The values were restored (false on `--dry-run`).
    pub done: bool,
    pub dry_run: bool,
    pub persist: Option<RestoreFileReport<'a>>,
    pub rollback_of: RollbackOf,
    pub schema_version: u32,
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
        RollbackReport {
            changes: runtime
                .iter()
                .map(|r| RestoreReport {
                    from: &r.old,
                    key: r.key.as_str(),
                    to: &r.new,
                })
                .collect(),
            done,
            dry_run,
            persist: persist.map(|f| RestoreFileReport {
                diff: restore_diff(f),
                file: &f.file,
                removed: f.new.is_none(),
            }),
            rollback_of: of,
            schema_version: PLAN_SCHEMA_VERSION,
        }
    }
}

/// `twtune rollback --format json` when no apply is recorded: printed on one line.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NothingToRollBack {
    pub changes: [RestoreReport<'static>; 0],
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
            changes: [],
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
