//! From findings and `--set` overrides to a plan: which keys change at
//! runtime, what the persisted file will say, and what would override it at
//! the next boot. Planning reads the host (each planned key's value now, the
//! file; see the module docs of [`crate::apply`] for why not the facts) but
//! writes nothing; everything it returns is what `--dry-run` shows.

mod persist;
mod recycle;
mod wanted;

use std::path::Path;

use serde::Serialize;

use super::dropin::{self, DropinError};
use super::runtime::{self, RuntimeError};
use super::value::{self, Context, ValueError};
use crate::facts::owners::KeyOwner;
use crate::facts::persisted::{Order, PersistedConfig, SYSCTL_CONF, Setting};
use crate::host_path;
use crate::rules::{Finding, Severity};
use crate::sysctl::{KeyError, SysctlKey};
use persist::{persist_where_it_wins, persisted_as, plan_persisted_file};
use recycle::{recycle_first, refuse_timestamps_under_recycle};
use wanted::{check_against_host, keep_only, override_with_sets, recommendations};

/// Which side of the host an apply changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Runtime values and the persisted file.
    Both,
    /// `--no-persist`.
    RuntimeOnly,
    /// `--persist-only`.
    PersistOnly,
}

#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub findings: &'a [Finding],
    /// `--set KEY=VALUE`, as typed.
    pub sets: &'a [String],
    /// `--only KEY`, as typed.
    pub only: &'a [String],
    /// `--skip RULE`.
    pub skip: &'a [String],
    pub scope: Scope,
    /// `--persist-to FILE` (a host path); the default drop-in otherwise.
    pub persist_to: Option<&'a Path>,
    /// Keys other programs manage (kube-proxy, tuned, configuration
    /// management, a hardening baseline): a rule's value for them is left
    /// to a person, never persisted by twtune.
    pub owners: &'a [KeyOwner],
    /// A persisted value that a later file would override is moved to that
    /// file or refused (an apply). False for `--emit k8s`, which persists
    /// nothing: the later files are then only reported.
    pub converge: bool,
}

/// One key the plan touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub key: SysctlKey,
    /// The runtime value now.
    pub from: String,
    pub to: String,
    /// The rule whose recommendation this is; `None` for `--set`.
    pub rule: Option<String>,
    /// The runtime value will be written.
    pub runtime: bool,
    /// The persisted file will be changed for this key.
    pub persist: bool,
}

/// A setting in a file read after the persisted file, which wins at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shadow {
    pub key: SysctlKey,
    pub value: String,
    pub file: String,
    pub line: usize,
    /// The file to pass to `--persist-to` to change the winning setting.
    pub suggest: String,
    /// In which order it wins: `boot` (systemd-sysctl) or `sysctl --system`.
    pub order: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersistPlan {
    /// Host path of the file.
    pub file: String,
    /// Its text now, `None` when it does not exist.
    pub before: Option<String>,
    pub after: String,
    pub shadowed: Vec<Shadow>,
}

impl PersistPlan {
    /// The file's text changes. No file and nothing to write is no change
    /// (it would otherwise claim a change beside an empty plan).
    pub fn changes(&self) -> bool {
        self.before.as_deref().unwrap_or("") != self.after
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// `None` with `--no-persist`.
    pub persist: Option<PersistPlan>,
    /// Advice that does not stop the plan (e.g. port range parity).
    pub notes: Vec<String>,
    /// Rule recommendations for keys another program manages: for a person,
    /// with the owner named (`manual[]` in the JSON plan).
    pub owned: Vec<Owned>,
}

/// A recommendation left out of the plan because someone else owns the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owned {
    pub key: SysctlKey,
    /// The value the rule recommends.
    pub to: String,
    pub rule: String,
    pub severity: Severity,
    pub owner: KeyOwner,
}

impl Owned {
    /// What a person does, in one sentence.
    pub fn fix(&self) -> String {
        let sets = match &self.owner.value {
            Some(value) => format!(" (it sets {value}; {})", self.owner.source),
            None => format!(" ({})", self.owner.source),
        };
        format!(
            "{} manages {}{sets}: to use {:?}, change it in {}; twtune does not write it to a drop-in that {} would fight",
            self.owner.owner, self.key, self.to, self.owner.change_in, self.owner.owner
        )
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn runtime_changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.runtime)
    }

    /// The persisted file, when this plan changes it.
    pub fn persist_change(&self) -> Option<&PersistPlan> {
        self.persist.as_ref().filter(|p| p.changes())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--set {arg:?}: expected KEY=VALUE")]
    SetSyntax { arg: String },
    #[error("{flag} {arg:?}: {source}")]
    Key {
        flag: &'static str,
        arg: String,
        source: KeyError,
    },
    #[error("{key} does not exist on this kernel ({path}); twtune will not create it{hint}")]
    Absent {
        key: String,
        path: String,
        /// "; did you mean …?" from the keys beside it, or "".
        hint: String,
    },
    #[error("{flag} {arg:?}: a sysctl key is written in full; did you mean {suggestion}?")]
    Unqualified {
        flag: &'static str,
        arg: String,
        suggestion: String,
    },
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error(
        "{key}: rule {first} recommends {first_value:?} but rule {second} recommends {second_value:?}; choose one with --set {key}=VALUE or --skip one rule"
    )]
    Conflict {
        key: String,
        first: String,
        first_value: String,
        second: String,
        second_value: String,
    },
    #[error("--set {key}=… is outside --only; add --only {key} or drop the --set")]
    SetOutsideOnly { key: String },
    #[error("{key} is set twice with --set ({first:?} and {second:?})")]
    SetTwice {
        key: String,
        first: String,
        second: String,
    },
    #[error(
        "refusing to set net.ipv4.tcp_timestamps = {to} while net.ipv4.tcp_tw_recycle stays on ({state}): with timestamps on, recycle drops SYNs from clients behind NAT. Set net.ipv4.tcp_tw_recycle = 0 first, at run time and where it is persisted (in this apply: do not --skip tcp-tw-recycle-enabled, add --only net.ipv4.tcp_tw_recycle, or --set net.ipv4.tcp_tw_recycle=0); nothing was changed"
    )]
    RecycleStillOn { to: String, state: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Dropin(#[from] DropinError),
    #[error("the persisted value would not hold: {lines}; {what_to_do} (nothing was changed)")]
    Shadowed { lines: String, what_to_do: String },
}

/// A key and value to plan, and where it came from.
struct Wanted {
    key: SysctlKey,
    raw: String,
    rule: Option<String>,
    severity: Option<Severity>,
}

/// A wanted value, validated, beside the key's value now.
struct Checked {
    wanted: Wanted,
    current: String,
    /// The value as it will be written.
    to: String,
}

/// The plan for `request`: what the rules recommend, overridden by `--set`
/// and narrowed by `--only`, every value checked against the key's value
/// now, then the persisted file edited to match.
pub fn build(
    root: &Path,
    persisted: &PersistedConfig,
    request: &Request,
) -> Result<Plan, PlanError> {
    let (mut wanted, mut notes) = recommendations(request.findings, request.skip)?;
    let owned = set_aside_owned(&mut wanted, request.owners);
    let set_keys = override_with_sets(root, &mut wanted, request.sets)?;
    note_sets_of_owned_keys(&set_keys, request.owners, &mut notes);
    keep_only(root, &mut wanted, request.only, &set_keys)?;
    recycle_first(&mut wanted);
    let owned = owned
        .into_iter()
        .filter(|o| request.only.is_empty() || request.only.iter().any(|k| k == o.key.as_str()))
        .filter(|o| !set_keys.contains(&o.key))
        .collect();
    let checked = check_against_host(root, wanted, &mut notes)?;
    let persist = match request.scope {
        Scope::RuntimeOnly => None,
        Scope::Both | Scope::PersistOnly if !request.converge => Some(plan_persisted_file(
            root,
            persisted,
            request.persist_to,
            &checked,
        )?),
        Scope::Both | Scope::PersistOnly => Some(persist_where_it_wins(
            root,
            persisted,
            request.persist_to,
            &checked,
            &mut notes,
        )?),
    };
    let changes = changes(checked, request.scope, persist.as_ref());
    refuse_timestamps_under_recycle(root, persisted, &changes, persist.as_ref())?;
    Ok(Plan {
        changes,
        persist,
        notes,
        owned,
    })
}

/// Takes out of `wanted` every rule's value for a key another program
/// manages. Only rules' values: a `--set` is the operator's own choice.
fn set_aside_owned(wanted: &mut Vec<Wanted>, owners: &[KeyOwner]) -> Vec<Owned> {
    let mut owned = Vec::new();
    wanted.retain(|w| {
        let owner = owners.iter().find(|o| o.key == w.key);
        match (owner, &w.rule, w.severity) {
            (Some(owner), Some(rule), Some(severity)) => {
                owned.push(Owned {
                    key: w.key.clone(),
                    to: w.raw.clone(),
                    rule: rule.clone(),
                    severity,
                    owner: owner.clone(),
                });
                false
            }
            _ => true,
        }
    });
    owned
}

fn note_sets_of_owned_keys(set_keys: &[SysctlKey], owners: &[KeyOwner], notes: &mut Vec<String>) {
    for key in set_keys {
        if let Some(owner) = owners.iter().find(|o| o.key == *key) {
            notes.push(format!(
                "{key}: set with --set although {} manages it ({}); it may set its own value again: change it in {}",
                owner.owner, owner.source, owner.change_in
            ));
        }
    }
}

/// The keys the plan touches: written at runtime unless `--persist-only`
/// or already at the value, persisted when the file changes for them.
fn changes(checked: Vec<Checked>, scope: Scope, persist: Option<&PersistPlan>) -> Vec<Change> {
    checked
        .into_iter()
        .filter_map(|c| {
            let runtime = scope != Scope::PersistOnly && c.current != c.to;
            let persist = persist.is_some_and(|p| {
                p.changes()
                    && persisted_as(Some(&p.after), &c.wanted.key, &c.to)
                    && !persisted_as(p.before.as_deref(), &c.wanted.key, &c.to)
            });
            (runtime || persist).then(|| Change {
                key: c.wanted.key.clone(),
                from: c.current,
                to: c.to,
                rule: c.wanted.rule,
                runtime,
                persist,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
