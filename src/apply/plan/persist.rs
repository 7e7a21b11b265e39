//! The persisted side of a plan: the file edited so each key has its
//! planned value, and the files read after it that would override it.

use super::*;

/// The persisted file's plan, made to win where the value is read: with
/// no `--persist-to`, a later file that wins over the drop-in becomes the
/// file persisted to (its line edited in place) when it is one file that
/// the boot and `sysctl --system` both read, under /etc; otherwise the plan
/// is refused, saying what to change. A plan whose value would lose at the
/// next boot or `sysctl --system` leaves `check` reporting drift after an
/// apply that said it was done.
pub(super) fn persist_where_it_wins(
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
pub(super) fn editable_winner(persisted: &PersistedConfig, target: &str) -> bool {
    if target == format!("/{SYSCTL_CONF}") {
        return persisted.sysctl_conf_at_boot.is_some();
    }
    target.starts_with("/etc/") && dropin::check_location_text(target).is_ok()
}

pub(super) fn when(order: &str) -> &'static str {
    match order {
        "boot" => "boot",
        _ => "`sysctl --system`",
    }
}

pub(super) fn refusal(persisted: &PersistedConfig, plan: &PersistPlan) -> PlanError {
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
pub(super) fn value_planned(plan: &PersistPlan, key: &SysctlKey) -> Option<String> {
    dropin::value_in(&plan.after, key)
}

/// The persisted file (`--persist-to` or the default drop-in) edited so
/// each key has its planned value, and the files that would override it
/// at the next boot.
pub(super) fn plan_persisted_file(
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

/// The file's text already sets `key` to `to` (its last assignment wins).
pub(super) fn persisted_as(text: Option<&str>, key: &SysctlKey, to: &str) -> bool {
    text.and_then(|t| dropin::value_in(t, key)).as_deref() == Some(to)
}

/// The lines that would still win over `ours` for `key` with another value
/// than `to`: the key's winner at boot and with `sysctl --system`, where
/// read after `ours`. Only winners count: a later line that a still later
/// one overrides with `to` loses anyway.
pub(super) fn shadows(
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
            .any(|s| *s.file == *winner.file && s.line == winner.line)
        {
            continue;
        }
        found.push(Shadow {
            key: key.clone(),
            value: winner.value.to_string(),
            file: winner.file.to_string(),
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
pub(super) fn read_after(
    persisted: &PersistedConfig,
    theirs: &Setting,
    ours: &str,
    order: Order,
) -> bool {
    let conf = format!("/{SYSCTL_CONF}");
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default()
    };
    // Positions: (pass, name); pass 1 is `sysctl --system`'s final read of
    // /etc/sysctl.conf.
    let theirs_is_conf =
        *theirs.file == *conf || persisted.sysctl_conf_at_boot.as_deref() == Some(&*theirs.file);
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
