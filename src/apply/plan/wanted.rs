//! What the plan wants: one value per key from the findings, `--set`
//! overrides, `--only` and `--skip`, each checked against the key's value now.

use super::*;

/// One value per key from the findings not skipped. Where two rules want
/// different values the more severe finding wins (a narrow port range
/// outranks its parity advice), with a note; a tie is the operator's call.
pub(super) fn recommendations(
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
pub(super) fn merge(
    wanted: &mut Vec<Wanted>,
    notes: &mut Vec<String>,
    new: Wanted,
) -> Result<(), PlanError> {
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
pub(super) fn override_with_sets(
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
pub(super) fn keep_only(
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
pub(super) fn parse_managed_arg(
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
pub(super) fn nearby_keys(root: &Path, key: &SysctlKey) -> String {
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
pub(super) fn check_against_host(
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

pub(super) fn planned_or_current(root: &Path, wanted: &[Wanted], name: &str) -> Option<i64> {
    let key = SysctlKey::ipv4(name);
    match wanted.iter().find(|w| w.key == key) {
        Some(w) => w.raw.trim().parse().ok(),
        None => runtime::read(root, &key).ok()?.parse().ok(),
    }
}
