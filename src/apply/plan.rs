//! From findings and `--set` overrides to a plan: which keys change at
//! runtime, what the persisted file will say, and what would override it at
//! the next boot. Planning reads the host (current values, the file) but
//! writes nothing; everything it returns is what `--dry-run` shows.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::dropin::{self, DropinError};
use super::runtime::{self, RuntimeError};
use super::value::{self, Context, ValueError};
use crate::facts::persisted::{PersistedConfig, SYSCTL_CONF};
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

    /// The unified diff of the file, before → after; empty when unchanged.
    pub fn diff(&self) -> String {
        let before = self.before.as_deref().unwrap_or("");
        let old_label = match self.before {
            Some(_) => format!("{} (now)", self.file),
            None => "/dev/null (no file yet)".to_string(),
        };
        similar::TextDiff::from_lines(before, self.after.as_str())
            .unified_diff()
            .context_radius(3)
            .header(&old_label, &format!("{} (after apply)", self.file))
            .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// `None` with `--no-persist`.
    pub persist: Option<PersistPlan>,
    /// Advice that does not stop the plan (e.g. port range parity).
    pub notes: Vec<String>,
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
    #[error("{key} does not exist on this kernel ({path}); twtune will not create it")]
    Absent { key: String, path: String },
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
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Dropin(#[from] DropinError),
}

/// A key and value to plan, and where it came from.
struct Wanted {
    key: SysctlKey,
    raw: String,
    rule: Option<String>,
    severity: Option<Severity>,
}

pub fn build(
    root: &Path,
    persisted: &PersistedConfig,
    request: &Request,
) -> Result<Plan, PlanError> {
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut notes = Vec::new();
    for finding in request.findings {
        if request.skip.contains(&finding.rule) {
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
        let severity = Some(finding.severity);
        match wanted.iter_mut().find(|w| w.key == key) {
            Some(w) if value::normalize_same(&w.raw, value) => {}
            // Two rules want different values: the more severe finding wins
            // (a narrow port range outranks its parity advice); a tie is the
            // operator's call.
            Some(w) if w.severity != severity => {
                let (kept, dropped, dropped_value) = if w.severity > severity {
                    (
                        w.rule.clone().unwrap_or_default(),
                        finding.rule.clone(),
                        value.to_string(),
                    )
                } else {
                    let old = (
                        finding.rule.clone(),
                        w.rule.clone().unwrap_or_default(),
                        w.raw.clone(),
                    );
                    *w = Wanted {
                        key: key.clone(),
                        raw: value.to_string(),
                        rule: Some(finding.rule.clone()),
                        severity,
                    };
                    old
                };
                notes.push(format!(
                    "{key}: rule {dropped} recommends {dropped_value:?}; rule {kept} is more severe and its value is planned instead"
                ));
            }
            Some(w) => {
                return Err(PlanError::Conflict {
                    key: key.to_string(),
                    first: w.rule.clone().unwrap_or_default(),
                    first_value: w.raw.clone(),
                    second: finding.rule.clone(),
                    second_value: value.to_string(),
                });
            }
            None => wanted.push(Wanted {
                key,
                raw: value.to_string(),
                rule: Some(finding.rule.clone()),
                severity,
            }),
        }
    }
    // --set overrides a rule's value for the same key, keeping its place.
    let mut set_keys: Vec<(SysctlKey, String)> = Vec::new();
    for arg in request.sets {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(PlanError::SetSyntax { arg: arg.clone() });
        };
        let key = SysctlKey::parse_managed(key).map_err(|source| PlanError::Key {
            flag: "--set",
            arg: arg.clone(),
            source,
        })?;
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
    if !request.only.is_empty() {
        let only = request
            .only
            .iter()
            .map(|arg| {
                SysctlKey::parse_managed(arg).map_err(|source| PlanError::Key {
                    flag: "--only",
                    arg: arg.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((key, _)) = set_keys.iter().find(|(k, _)| !only.contains(k)) {
            return Err(PlanError::SetOutsideOnly {
                key: key.to_string(),
            });
        }
        wanted.retain(|w| only.contains(&w.key));
    }

    // Validate everything before deciding anything, so one bad value fails the
    // whole plan with that value's error.
    let ctx = Context {
        unprivileged_port_start: planned_or_current(root, &wanted, "ip_unprivileged_port_start"),
    };
    let mut checked: Vec<(Wanted, String, String)> = Vec::new();
    for w in wanted {
        let current = match runtime::read(root, &w.key) {
            Ok(v) => v,
            Err(RuntimeError::Absent { key, path }) => return Err(PlanError::Absent { key, path }),
            Err(e) => return Err(e.into()),
        };
        let kind = value::kind_of(&w.key, &current);
        let ok = value::check(&w.key, kind, &w.raw, ctx)?;
        notes.extend(ok.notes);
        checked.push((w, current, ok.value));
    }

    let persist = if request.scope == Scope::RuntimeOnly {
        None
    } else {
        let file = match request.persist_to {
            Some(p) => p.to_string_lossy().into_owned(),
            None => dropin::DEFAULT_DROPIN.to_string(),
        };
        dropin::check_location(root, &file)?;
        let before = dropin::read_current(root, &file)?;
        let updates: Vec<(SysctlKey, String)> = checked
            .iter()
            .filter(|(w, _, to)| {
                before
                    .as_deref()
                    .and_then(|t| dropin::value_in(t, &w.key))
                    .as_deref()
                    != Some(to)
            })
            .map(|(w, _, to)| (w.key.clone(), to.clone()))
            .collect();
        let after = if updates.is_empty() {
            before.clone().unwrap_or_default()
        } else {
            dropin::edit(before.as_deref(), &updates)
        };
        let shadowed = checked
            .iter()
            .flat_map(|(w, _, to)| shadows(root, persisted, &file, &w.key, to))
            .collect();
        Some(PersistPlan {
            file,
            before,
            after,
            shadowed,
        })
    };

    let changes = checked
        .into_iter()
        .filter_map(|(w, from, to)| {
            let runtime = request.scope != Scope::PersistOnly && from != to;
            let persist = persist.as_ref().is_some_and(|p| {
                p.changes()
                    && p.before
                        .as_deref()
                        .and_then(|t| dropin::value_in(t, &w.key))
                        .as_deref()
                        != Some(&to)
            });
            (runtime || persist).then(|| Change {
                key: w.key.clone(),
                from,
                to,
                rule: w.rule,
                runtime,
                persist,
            })
        })
        .collect();
    Ok(Plan {
        changes,
        persist,
        notes,
    })
}

fn planned_or_current(root: &Path, wanted: &[Wanted], name: &str) -> Option<i64> {
    let key = SysctlKey::ipv4(name);
    match wanted.iter().find(|w| w.key == key) {
        Some(w) => w.raw.trim().parse().ok(),
        None => runtime::read(root, &key).ok()?.parse().ok(),
    }
}

/// Settings of `key` to another value in files read after `ours`.
fn shadows(
    root: &Path,
    persisted: &PersistedConfig,
    ours: &str,
    key: &SysctlKey,
    to: &str,
) -> Vec<Shadow> {
    let ours_real = real_host_path(root, ours);
    persisted
        .settings_for(key.as_str())
        .filter(|s| s.value != to)
        .filter(|s| {
            let theirs_real = real_host_path(root, &s.file);
            theirs_real != ours_real && read_after(&theirs_real, &ours_real)
        })
        .map(|s| Shadow {
            key: key.clone(),
            value: s.value.clone(),
            file: s.file.clone(),
            line: s.line,
            suggest: real_host_path(root, &s.file),
        })
        .collect()
}

/// systemd-sysctl order: by file name across folders, /etc/sysctl.conf last.
fn read_after(theirs: &str, ours: &str) -> bool {
    let conf = format!("/{SYSCTL_CONF}");
    if ours == conf {
        return false;
    }
    if theirs == conf {
        return true;
    }
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default()
    };
    name(theirs) > name(ours)
}

/// The host path with symlinks resolved (Debian's /etc/sysctl.d/99-sysctl.conf
/// is /etc/sysctl.conf), or the path as given when it cannot be resolved.
fn real_host_path(root: &Path, file: &str) -> String {
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let resolved: Option<PathBuf> = dropin::host_join(root, file).canonicalize().ok();
    match resolved.as_deref().map(|p| p.strip_prefix(&real_root)) {
        Some(Ok(rel)) => format!("/{}", rel.display()),
        _ => file.to_string(),
    }
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
}
