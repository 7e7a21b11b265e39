//! From findings and `--set` overrides to a plan: which keys change at
//! runtime, what the persisted file will say, and what would override it at
//! the next boot. Planning reads the host (each planned key's value now, the
//! file; see the module docs of [`crate::apply`] for why not the facts) but
//! writes nothing; everything it returns is what `--dry-run` shows.

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

/// The persisted file's plan, made to win where the value is read: with
/// no `--persist-to`, a later file that wins over the drop-in becomes the
/// file persisted to (its line edited in place) when it is one file that
/// the boot and `sysctl --system` both read, under /etc; otherwise the plan
/// is refused, saying what to change. A plan whose value would lose at the
/// next boot or `sysctl --system` leaves `check` reporting drift after an
/// apply that said it was done.
fn persist_where_it_wins(
    root: &Path,
    persisted: &PersistedConfig,
    persist_to: Option<&Path>,
    checked: &[Checked],
    notes: &mut Vec<String>,
) -> Result<PersistPlan, PlanError> {
    let first = plan_persisted_file(root, persisted, persist_to, checked)?;
    let conf = format!("/{SYSCTL_CONF}");
    if persisted.sysctl_conf_at_boot.is_none()
        && first.changes()
        && host_path::resolved(root, &first.file) == conf
    {
        notes.push(format!(
            "{conf}: systemd-sysctl does not read it at boot here (no sysctl.d entry links to it); only `sysctl --system` applies it, so the values persisted there are lost at the next boot"
        ));
    }
    if first.shadowed.is_empty() {
        return Ok(first);
    }
    let targets: std::collections::BTreeSet<&str> =
        first.shadowed.iter().map(|s| s.suggest.as_str()).collect();
    let single = targets.iter().next().filter(|_| targets.len() == 1);
    if persist_to.is_none()
        && let Some(target) = single
        && editable_winner(persisted, target)
    {
        let moved = plan_persisted_file(root, persisted, Some(Path::new(target)), checked)?;
        if moved.shadowed.is_empty() {
            for shadow in &first.shadowed {
                notes.push(format!(
                    "{}: {}:{} sets {} and wins over {} at {}: persisting in {target} instead, where that line is edited in place",
                    shadow.key,
                    shadow.file,
                    shadow.line,
                    shadow.value,
                    first.file,
                    when(shadow.order),
                ));
            }
            return Ok(moved);
        }
    }
    Err(refusal(persisted, &first))
}

/// A file twtune may edit in place: under /etc, one systemd-sysctl reads at
/// boot (an /etc/sysctl.conf that no sysctl.d entry links to is not: the
/// value would hold for `sysctl --system` and be lost at the next boot).
fn editable_winner(persisted: &PersistedConfig, target: &str) -> bool {
    if target == format!("/{SYSCTL_CONF}") {
        return persisted.sysctl_conf_at_boot.is_some();
    }
    target.starts_with("/etc/") && dropin::check_location_text(target).is_ok()
}

fn when(order: &str) -> &'static str {
    match order {
        "boot" => "boot",
        _ => "`sysctl --system`",
    }
}

fn refusal(persisted: &PersistedConfig, plan: &PersistPlan) -> PlanError {
    let lines = plan
        .shadowed
        .iter()
        .map(|s| {
            let why = match (s.order, s.suggest.as_str()) {
                ("boot", _) => "the next boot applies it after".to_string(),
                (_, conf) if conf == format!("/{SYSCTL_CONF}") && persisted.sysctl_conf_at_boot.is_none() => {
                    "systemd-sysctl does not read /etc/sysctl.conf at boot here (no sysctl.d entry links to it), but `sysctl --system` reads it last, after".to_string()
                }
                _ => "`sysctl --system` applies it after".to_string(),
            };
            // File names are the host's, printed on stderr: a newline in
            // one must not start a line of its own (RELIABILITY.md).
            format!(
                "{}:{} sets {} = {} and {why} {}",
                s.file.escape_debug(),
                s.line,
                s.key,
                s.value.escape_debug(),
                plan.file.escape_debug()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let edits = plan
        .shadowed
        .iter()
        .map(|s| {
            let to = value_planned(plan, &s.key).unwrap_or_default();
            format!(
                "line {} of {} to `{} = {to}` (or delete it)",
                s.line,
                s.suggest.escape_debug(),
                s.key
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    PlanError::Shadowed {
        lines,
        what_to_do: format!(
            "change {edits}, then run apply again; or keep this run to runtime values with --no-persist"
        ),
    }
}

/// The value the persisted plan gives `key`.
fn value_planned(plan: &PersistPlan, key: &SysctlKey) -> Option<String> {
    dropin::value_in(&plan.after, key)
}

/// One value per key from the findings not skipped. Where two rules want
/// different values the more severe finding wins (a narrow port range
/// outranks its parity advice), with a note; a tie is the operator's call.
fn recommendations(
    findings: &[Finding],
    skip: &[String],
) -> Result<(Vec<Wanted>, Vec<String>), PlanError> {
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut notes = Vec::new();
    for finding in findings {
        if skip.contains(&finding.rule) {
            continue;
        }
        let Some((key, value)) = finding.recommendation() else {
            continue;
        };
        // The rules engine parses recommended keys; one outside the managed
        // trees is refused here, as a --set of it would be.
        let key = key
            .clone()
            .into_managed()
            .map_err(|source| PlanError::Key {
                flag: "rule recommendation",
                arg: format!("{} ({})", key, finding.rule),
                source,
            })?;
        let wanted_here = Wanted {
            key,
            raw: value.to_string(),
            rule: Some(finding.rule.clone()),
            severity: Some(finding.severity),
        };
        merge(&mut wanted, &mut notes, wanted_here)?;
    }
    Ok((wanted, notes))
}

/// Adds one rule's value for a key to `wanted`, or settles it against the
/// value another rule wants for the same key.
fn merge(wanted: &mut Vec<Wanted>, notes: &mut Vec<String>, new: Wanted) -> Result<(), PlanError> {
    let Some(w) = wanted.iter_mut().find(|w| w.key == new.key) else {
        wanted.push(new);
        return Ok(());
    };
    let rule = new.rule.clone().unwrap_or_default();
    if value::normalize_same(&w.raw, &new.raw) {
        return Ok(());
    }
    if w.severity == new.severity {
        return Err(PlanError::Conflict {
            key: new.key.to_string(),
            first: w.rule.clone().unwrap_or_default(),
            first_value: w.raw.clone(),
            second: rule,
            second_value: new.raw,
        });
    }
    let key = new.key.clone();
    let (kept, dropped, dropped_value) = if w.severity > new.severity {
        (w.rule.clone().unwrap_or_default(), rule, new.raw)
    } else {
        let old = (rule, w.rule.clone().unwrap_or_default(), w.raw.clone());
        *w = new;
        old
    };
    notes.push(format!(
        "{key}: rule {dropped} recommends {dropped_value:?}; rule {kept} is more severe and its value is planned instead"
    ));
    Ok(())
}

/// Applies `--set KEY=VALUE`: it overrides a rule's value for the same key,
/// keeping its place, or adds the key. Returns the keys set.
fn override_with_sets(
    root: &Path,
    wanted: &mut Vec<Wanted>,
    sets: &[String],
) -> Result<Vec<SysctlKey>, PlanError> {
    let mut set_keys: Vec<(SysctlKey, String)> = Vec::new();
    for arg in sets {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(PlanError::SetSyntax { arg: arg.clone() });
        };
        let key = parse_managed_arg(root, "--set", arg, key)?;
        if let Some((_, first)) = set_keys.iter().find(|(k, _)| *k == key) {
            return Err(PlanError::SetTwice {
                key: key.to_string(),
                first: first.clone(),
                second: value.to_string(),
            });
        }
        set_keys.push((key.clone(), value.to_string()));
        match wanted.iter_mut().find(|w| w.key == key) {
            Some(w) => {
                w.raw = value.to_string();
                w.rule = None;
            }
            None => wanted.push(Wanted {
                key,
                raw: value.to_string(),
                rule: None,
                severity: None,
            }),
        }
    }
    Ok(set_keys.into_iter().map(|(key, _)| key).collect())
}

/// `--only KEY…`: keeps those keys; a `--set` outside them is an error, not
/// a value silently dropped.
fn keep_only(
    root: &Path,
    wanted: &mut Vec<Wanted>,
    only: &[String],
    set_keys: &[SysctlKey],
) -> Result<(), PlanError> {
    if only.is_empty() {
        return Ok(());
    }
    let only = only
        .iter()
        .map(|arg| parse_managed_arg(root, "--only", arg, arg))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(key) = set_keys.iter().find(|k| !only.contains(k)) {
        return Err(PlanError::SetOutsideOnly {
            key: key.to_string(),
        });
    }
    wanted.retain(|w| only.contains(&w.key));
    Ok(())
}

/// A managed key from the command line. A bare name (`tcp_tw_reuse`) that
/// exists under one of the managed trees gets its full name suggested.
fn parse_managed_arg(
    root: &Path,
    flag: &'static str,
    arg: &str,
    key: &str,
) -> Result<SysctlKey, PlanError> {
    SysctlKey::parse_managed(key).map_err(|source| {
        let bare = key.trim();
        let full = (!bare.contains(['.', '/']) && !bare.is_empty())
            .then(|| {
                ["net.ipv4", "net.core", "net.netfilter"]
                    .into_iter()
                    .map(|tree| format!("{tree}.{bare}"))
                    .find(|name| {
                        SysctlKey::parse(name).is_ok_and(|k| runtime::read(root, &k).is_ok())
                    })
            })
            .flatten();
        match full {
            Some(suggestion) => PlanError::Unqualified {
                flag,
                arg: arg.to_string(),
                suggestion,
            },
            None => PlanError::Key {
                flag,
                arg: arg.to_string(),
                source,
            },
        }
    })
}

/// "; did you mean …?" naming the keys in `key`'s folder closest to it.
fn nearby_keys(root: &Path, key: &SysctlKey) -> String {
    let path = key.proc_path(root);
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return String::new();
    };
    let _confined = crate::facts::ConfinedReads::unless_already(root);
    let Ok(names) = crate::facts::read_dir_confined(folder) else {
        return String::new();
    };
    let names: Vec<String> = names
        .iter()
        .filter_map(|n| n.to_str().map(str::to_string))
        .collect();
    let near = crate::suggest::closest(&name.to_string_lossy(), names.iter().map(String::as_str));
    let prefix = key.as_str().rsplit_once('.').map_or("", |(p, _)| p);
    let full: Vec<String> = near.iter().map(|n| format!("{prefix}.{n}")).collect();
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    crate::suggest::did_you_mean(&full)
}

/// Reads each key's value now and validates the wanted one against it.
/// Everything is validated before anything is decided, so one bad value
/// fails the whole plan with that value's error.
fn check_against_host(
    root: &Path,
    wanted: Vec<Wanted>,
    notes: &mut Vec<String>,
) -> Result<Vec<Checked>, PlanError> {
    let ctx = Context {
        unprivileged_port_start: planned_or_current(root, &wanted, "ip_unprivileged_port_start"),
    };
    let mut checked = Vec::new();
    for w in wanted {
        let current = match runtime::read(root, &w.key) {
            Ok(v) => v,
            Err(RuntimeError::Absent { key, path }) => {
                let hint = nearby_keys(root, &w.key);
                return Err(PlanError::Absent { key, path, hint });
            }
            Err(e) => return Err(e.into()),
        };
        let kind = value::kind_of(&w.key, &current);
        let ok = value::check(&w.key, kind, &w.raw, ctx)?;
        notes.extend(ok.notes);
        checked.push(Checked {
            wanted: w,
            current,
            to: ok.value,
        });
    }
    Ok(checked)
}

/// The persisted file (`--persist-to` or the default drop-in) edited so
/// each key has its planned value, and the files that would override it
/// at the next boot.
fn plan_persisted_file(
    root: &Path,
    persisted: &PersistedConfig,
    persist_to: Option<&Path>,
    checked: &[Checked],
) -> Result<PersistPlan, PlanError> {
    let file = match persist_to {
        Some(p) => p.to_string_lossy().into_owned(),
        None => dropin::DEFAULT_DROPIN.to_string(),
    };
    dropin::check_location(root, &file)?;
    let before = dropin::read_current(root, &file)?;
    // Without --persist-to, a key whose winning line in both orders already
    // has the value is persisted: writing it again in the drop-in would be a
    // change that changes nothing.
    let (boot, system) = (persisted.boot_winners(), persisted.system_winners());
    let held = |key: &SysctlKey, to: &str| {
        persist_to.is_none()
            && [&boot, &system]
                .iter()
                .all(|w| w.get(key.as_str()).is_some_and(|s| s.value == to))
    };
    let updates: Vec<(SysctlKey, String)> = checked
        .iter()
        .filter(|c| !persisted_as(before.as_deref(), &c.wanted.key, &c.to))
        .filter(|c| !held(&c.wanted.key, &c.to))
        .map(|c| (c.wanted.key.clone(), c.to.clone()))
        .collect();
    let after = if updates.is_empty() {
        before.clone().unwrap_or_default()
    } else {
        dropin::edit(before.as_deref(), &updates)
    };
    let shadowed = checked
        .iter()
        .flat_map(|c| shadows(root, persisted, &file, &c.wanted.key, &c.to))
        .collect();
    Ok(PersistPlan {
        file,
        before,
        after,
        shadowed,
    })
}

/// Runtime writes and the persisted file follow the order of `wanted`:
/// tcp_tw_recycle goes before tcp_timestamps, so no moment has both on.
fn recycle_first(wanted: &mut [Wanted]) {
    let rank = |w: &Wanted| match w.key.as_str() {
        RECYCLE => 0,
        TIMESTAMPS => 1,
        _ => 2,
    };
    let (Some(r), Some(t)) = (
        wanted.iter().position(|w| rank(w) == 0),
        wanted.iter().position(|w| rank(w) == 1),
    ) else {
        return;
    };
    if r > t {
        wanted[t..=r].rotate_right(1);
    }
}

const RECYCLE: &str = "net.ipv4.tcp_tw_recycle";
const TIMESTAMPS: &str = "net.ipv4.tcp_timestamps";

/// Timestamps turned on while tcp_tw_recycle stays on arms recycle's
/// per-peer SYN check, which needs the SYN's timestamp (4.4-4.11
/// tcp_conn_request() -> tcp_peer_is_proven(.., tmp_opt.saw_tstamp); see
/// rules/tcp-tw-recycle.toml): clients behind NAT start failing. So a plan
/// that writes tcp_timestamps on, at run time or into a file, must leave
/// recycle 0 both at run time and in the persisted setting that wins at
/// boot; with `--only` or `--skip` leaving recycle out, it is refused.
fn refuse_timestamps_under_recycle(
    root: &Path,
    persisted: &PersistedConfig,
    changes: &[Change],
    persist: Option<&PersistPlan>,
) -> Result<(), PlanError> {
    let Some(on) = changes
        .iter()
        .find(|c| c.key.as_str() == TIMESTAMPS && c.to.trim() != "0")
    else {
        return Ok(());
    };
    let recycle_key = SysctlKey::ipv4("tcp_tw_recycle");
    let planned = changes.iter().find(|c| c.key == recycle_key);
    let runtime_after = match planned.filter(|c| c.runtime) {
        Some(c) => c.to.clone(),
        None => match runtime::read(root, &recycle_key) {
            Ok(v) => v,
            // Removed in 4.12: nothing to arm.
            Err(RuntimeError::Absent { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        },
    };
    let shadowed = persist.is_some_and(|p| p.shadowed.iter().any(|s| s.key == recycle_key));
    let ours = planned.filter(|c| persist.is_some() && !shadowed && c.to.trim() == "0");
    let mut state = Vec::new();
    if runtime_after.trim() != "0" {
        state.push(format!("{} at run time", runtime_after.trim()));
    }
    if let Some(w) = persisted
        .winner(RECYCLE)
        .filter(|w| ours.is_none() && w.value.trim() != "0")
    {
        state.push(format!("{} at boot from {}:{}", w.value, w.file, w.line));
    }
    if state.is_empty() {
        return Ok(());
    }
    Err(PlanError::RecycleStillOn {
        to: on.to.clone(),
        state: state.join(", "),
    })
}

/// The file's text already sets `key` to `to` (its last assignment wins).
fn persisted_as(text: Option<&str>, key: &SysctlKey, to: &str) -> bool {
    text.and_then(|t| dropin::value_in(t, key)).as_deref() == Some(to)
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

fn planned_or_current(root: &Path, wanted: &[Wanted], name: &str) -> Option<i64> {
    let key = SysctlKey::ipv4(name);
    match wanted.iter().find(|w| w.key == key) {
        Some(w) => w.raw.trim().parse().ok(),
        None => runtime::read(root, &key).ok()?.parse().ok(),
    }
}

/// The lines that would still win over `ours` for `key` with another value
/// than `to`: the key's winner at boot and with `sysctl --system`, where
/// read after `ours`. Only winners count: a later line that a still later
/// one overrides with `to` loses anyway.
fn shadows(
    root: &Path,
    persisted: &PersistedConfig,
    ours: &str,
    key: &SysctlKey,
    to: &str,
) -> Vec<Shadow> {
    let ours_real = host_path::resolved(root, ours);
    let mut found: Vec<Shadow> = Vec::new();
    for order in [Order::Boot, Order::System] {
        let winners = match order {
            Order::Boot => persisted.boot_winners(),
            Order::System => persisted.system_winners(),
        };
        let Some(winner) = winners.get(key.as_str()) else {
            continue;
        };
        if winner.value == to {
            continue;
        }
        let theirs_real = host_path::resolved(root, &winner.file);
        if theirs_real == ours_real || !read_after(persisted, winner, &ours_real, order) {
            continue;
        }
        if found
            .iter()
            .any(|s| s.file == winner.file && s.line == winner.line)
        {
            continue;
        }
        found.push(Shadow {
            key: key.clone(),
            value: winner.value.clone(),
            file: winner.file.clone(),
            line: winner.line,
            suggest: theirs_real,
            order: order.name(),
        });
    }
    found
}

/// `theirs` is applied after the file `ours` (a resolved host path) in
/// `order`: by file name across the sysctl.d folders; /etc/sysctl.conf at
/// its link's place at boot (nowhere without one), and last again for
/// `sysctl --system`.
fn read_after(persisted: &PersistedConfig, theirs: &Setting, ours: &str, order: Order) -> bool {
    let conf = format!("/{SYSCTL_CONF}");
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default()
    };
    // Positions: (pass, name); pass 1 is `sysctl --system`'s final read of
    // /etc/sysctl.conf.
    let theirs_is_conf = theirs.file == conf
        || persisted.sysctl_conf_at_boot.as_deref() == Some(theirs.file.as_str());
    let theirs_pos = match (order, theirs_is_conf) {
        (Order::System, true) => (1, Default::default()),
        _ => (0, name(&theirs.file)),
    };
    let ours_pos = if ours == conf {
        match (order, &persisted.sysctl_conf_at_boot) {
            (Order::System, _) => (1, Default::default()),
            (Order::Boot, Some(link)) => (0, name(link)),
            // Not read at boot: whatever the boot applies wins.
            (Order::Boot, None) => return true,
        }
    } else {
        (0, name(ours))
    };
    theirs_pos > ours_pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, key: &str, current: &str, recommended: &str) -> Finding {
        Finding {
            rule: rule.into(),
            severity: if rule.starts_with("advice") {
                Severity::Info
            } else {
                Severity::Warning
            },
            title: String::new(),
            summary: String::new(),
            key: Some(SysctlKey::parse(key).unwrap()),
            current: Some(current.into()),
            recommended: Some(recommended.into()),
            message: String::new(),
            manual: None,
            evidence: vec![],
            references: vec![],
            rank: None,
        }
    }

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let ipv4 = dir.path().join("proc/sys/net/ipv4");
        std::fs::create_dir_all(&ipv4).unwrap();
        std::fs::write(ipv4.join("tcp_tw_reuse"), "2\n").unwrap();
        std::fs::write(ipv4.join("tcp_timestamps"), "0\n").unwrap();
        dir
    }

    fn request<'a>(findings: &'a [Finding], sets: &'a [String], skip: &'a [String]) -> Request<'a> {
        Request {
            findings,
            sets,
            only: &[],
            skip,
            scope: Scope::RuntimeOnly,
            persist_to: None,
            owners: &[],
            converge: true,
        }
    }

    #[test]
    fn recommendations_become_changes_named_by_rule_and_skip_drops_them() {
        let dir = root();
        let findings = [
            finding("timestamps-off", "net.ipv4.tcp_timestamps", "0", "1"),
            finding("tw-reuse", "net.ipv4.tcp_tw_reuse", "2", "1"),
            // Already at the recommended value: nothing to do.
            finding("noop", "net.ipv4.tcp_tw_reuse", "2", "2"),
        ];
        let plan = build(
            dir.path(),
            &PersistedConfig::default(),
            &request(&findings, &[], &[]),
        )
        .unwrap();
        let rules: Vec<_> = plan
            .changes
            .iter()
            .map(|c| c.rule.as_deref().unwrap())
            .collect();
        assert_eq!(rules, ["timestamps-off", "tw-reuse"]);
        assert!(plan.persist.is_none());
        let skip = ["tw-reuse".to_string()];
        let plan = build(
            dir.path(),
            &PersistedConfig::default(),
            &request(&findings, &[], &skip),
        )
        .unwrap();
        assert_eq!(plan.changes.len(), 1);
    }

    fn setting(file: &str) -> Setting {
        Setting {
            key: SysctlKey::ipv4("tcp_tw_reuse"),
            value: "0".into(),
            file: file.into(),
            line: 1,
            ignore_failure: false,
            at_boot: true,
        }
    }

    #[test]
    fn which_file_is_read_after_which_in_each_order() {
        let linked = PersistedConfig {
            sysctl_conf_at_boot: Some("/etc/sysctl.d/99-sysctl.conf".into()),
            ..Default::default()
        };
        let unlinked = PersistedConfig::default();
        let dropin = "/etc/sysctl.d/90-twtune.conf";
        let conf_via_link = setting("/etc/sysctl.d/99-sysctl.conf");
        let conf = setting("/etc/sysctl.conf");
        let zzz = setting("/etc/sysctl.d/99-zzz.conf");
        let early = setting("/usr/lib/sysctl.d/50-default.conf");
        // The link's place at boot, last again with `sysctl --system`.
        assert!(read_after(&linked, &conf_via_link, dropin, Order::Boot));
        assert!(read_after(&linked, &conf_via_link, dropin, Order::System));
        assert!(!read_after(&linked, &early, dropin, Order::Boot));
        // Persisting in /etc/sysctl.conf: 99-zzz sorts after the link at
        // boot, but `sysctl --system` reads /etc/sysctl.conf last.
        assert!(read_after(&linked, &zzz, "/etc/sysctl.conf", Order::Boot));
        assert!(!read_after(
            &linked,
            &zzz,
            "/etc/sysctl.conf",
            Order::System
        ));
        // Unlinked: the boot never reads /etc/sysctl.conf, so whatever the
        // boot applies wins over it; `sysctl --system` reads it last.
        assert!(read_after(
            &unlinked,
            &early,
            "/etc/sysctl.conf",
            Order::Boot
        ));
        assert!(read_after(&unlinked, &conf, dropin, Order::System));
    }

    #[test]
    fn two_rules_disagreeing_is_an_error_that_set_resolves() {
        let dir = root();
        let findings = [
            finding("a", "net.ipv4.tcp_tw_reuse", "2", "1"),
            finding("b", "net.ipv4.tcp_tw_reuse", "2", "0"),
        ];
        let err = build(
            dir.path(),
            &PersistedConfig::default(),
            &request(&findings, &[], &[]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("rule a recommends \"1\" but rule b recommends \"0\""),
            "{err}"
        );
        // A less severe rule's different value gives way, with a note.
        let ranked = [
            finding("advice-parity", "net.ipv4.tcp_tw_reuse", "2", "0"),
            finding("a", "net.ipv4.tcp_tw_reuse", "2", "1"),
        ];
        let plan = build(
            dir.path(),
            &PersistedConfig::default(),
            &request(&ranked, &[], &[]),
        )
        .unwrap();
        assert_eq!(
            (plan.changes[0].to.as_str(), plan.changes[0].rule.as_deref()),
            ("1", Some("a"))
        );
        assert!(
            plan.notes[0].contains("rule advice-parity recommends \"0\""),
            "{:?}",
            plan.notes
        );
        let sets = ["net.ipv4.tcp_tw_reuse=0".to_string()];
        let plan = build(
            dir.path(),
            &PersistedConfig::default(),
            &request(&findings[..1], &sets, &[]),
        )
        .unwrap();
        assert_eq!(
            (plan.changes[0].to.as_str(), plan.changes[0].rule.clone()),
            ("0", None)
        );
    }

    fn recycle_root(recycle: &str) -> tempfile::TempDir {
        let dir = root();
        let ipv4 = dir.path().join("proc/sys/net/ipv4");
        std::fs::write(ipv4.join("tcp_tw_recycle"), format!("{recycle}\n")).unwrap();
        dir
    }

    #[test]
    fn timestamps_on_is_refused_while_recycle_stays_on_and_planned_after_it() {
        let dir = recycle_root("1");
        let timestamps = finding("tcp-timestamps-off", "net.ipv4.tcp_timestamps", "0", "1");
        let recycle = finding(
            "tcp-tw-recycle-enabled",
            "net.ipv4.tcp_tw_recycle",
            "1",
            "0",
        );
        // Timestamps alone: refused, nothing planned.
        let err = build(
            dir.path(),
            &PersistedConfig::default(),
            &request(std::slice::from_ref(&timestamps), &[], &[]),
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::RecycleStillOn { .. }), "{err}");
        assert!(err.to_string().contains("1 at run time"), "{err}");
        // --skip of the recycle rule leaves it on: refused too.
        let both = [timestamps.clone(), recycle.clone()];
        let skip = ["tcp-tw-recycle-enabled".to_string()];
        assert!(
            build(
                dir.path(),
                &PersistedConfig::default(),
                &request(&both, &[], &skip)
            )
            .is_err()
        );
        // Both in one plan: recycle is written first, whatever the findings' order.
        let plan = build(
            dir.path(),
            &PersistedConfig::default(),
            &request(&both, &[], &[]),
        )
        .unwrap();
        let keys: Vec<_> = plan.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["net.ipv4.tcp_tw_recycle", "net.ipv4.tcp_timestamps"]);
        // Recycle already 0 at run time and nothing persisted: allowed.
        let dir = recycle_root("0");
        build(
            dir.path(),
            &PersistedConfig::default(),
            &request(std::slice::from_ref(&timestamps), &[], &[]),
        )
        .unwrap();
    }
}
