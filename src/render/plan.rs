//! Printing plans and rollbacks: a runtime diff (`key: current → new`), the
//! persisted file as a unified diff, and the same as JSON. Decides nothing.

use serde_json::{Value, json};

use crate::apply::journal::{FileRecord, KeyRecord};
use crate::apply::manual::ManualFix;
use crate::apply::plan::{Change, Plan};

/// Version of the JSON plan and rollback objects.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("Nothing to change: the plan is empty.\n");
        return out;
    }
    let runtime: Vec<&Change> = plan.runtime_changes().collect();
    if !runtime.is_empty() {
        out.push_str(&format!("Runtime ({}):\n", count(runtime.len(), "change")));
        for change in &runtime {
            out.push_str(&format!(
                "  {}: {} → {}  [{}]\n",
                change.key,
                show(&change.from),
                show(&change.to),
                source(change)
            ));
        }
    }
    let persist_only: Vec<&Change> = plan.changes.iter().filter(|c| !c.runtime).collect();
    if !persist_only.is_empty() {
        out.push_str("Persisted only (runtime value left as it is):\n");
        for change in &persist_only {
            out.push_str(&format!(
                "  {} = {}  [{}] (runtime now {})\n",
                change.key,
                show(&change.to),
                source(change),
                show(&change.from)
            ));
        }
    }
    if let Some(persist) = plan.persist_change() {
        let state = if persist.before.is_some() {
            "changed"
        } else {
            "new file"
        };
        out.push_str(&format!("Persisted file {} ({state}):\n", persist.file));
        out.push_str(&persist.diff());
    }
    out
}

/// Findings the plan cannot fix, with their fix by hand; empty when none.
pub fn human_manual(manual: &[ManualFix]) -> String {
    if manual.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "By hand ({} twtune cannot fix):\n",
        count(manual.len(), "finding")
    );
    for m in manual {
        out.push_str(&format!("  [{}] {}: {}\n", m.rule, m.summary, m.fix));
    }
    out
}

/// Warnings and advice to print after the plan (on stderr).
pub fn warnings(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(persist) = &plan.persist {
        for shadow in &persist.shadowed {
            lines.push(format!(
                "{}:{} sets {} = {} and is read after {}: it wins at the next boot. \
                 Use --persist-to {} to change it there.",
                shadow.file, shadow.line, shadow.key, shadow.value, persist.file, shadow.suggest
            ));
        }
    }
    lines.extend(plan.notes.iter().cloned());
    lines
}

fn source(change: &Change) -> String {
    match &change.rule {
        Some(rule) => format!("rule {rule}"),
        None => "--set".to_string(),
    }
}

fn show(value: &str) -> String {
    if value.is_empty() {
        "\"\"".to_string()
    } else {
        value.to_string()
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The plan as data. `applied`: the changes were made (false on --dry-run).
/// `manual`: the findings the plan cannot fix (see [`crate::apply::manual`]).
pub fn json(plan: &Plan, dry_run: bool, applied: bool, manual: &[ManualFix]) -> Value {
    let persist = plan.persist.as_ref().map(|p| {
        json!({
            "file": p.file,
            "exists": p.before.is_some(),
            "changed": p.changes(),
            "diff": if p.changes() { Value::String(p.diff()) } else { Value::Null },
            "after": p.after,
            "shadowed": p.shadowed,
        })
    });
    json!({
        "schema_version": PLAN_SCHEMA_VERSION,
        "dry_run": dry_run,
        "empty": plan.is_empty(),
        "applied": applied,
        "changes": plan.changes,
        "persist": persist,
        "notes": plan.notes,
        "manual": manual,
    })
}

/// A rollback: each key from its value now back to the recorded one, and the
/// file back to its recorded text (or removed).
pub fn human_restore(runtime: &[KeyRecord], persist: Option<&FileRecord>) -> String {
    let mut out = String::new();
    if !runtime.is_empty() {
        out.push_str(&format!("Runtime ({}):\n", count(runtime.len(), "key")));
        for record in runtime {
            out.push_str(&format!(
                "  {}: {} → {}\n",
                record.key,
                show(&record.old),
                show(&record.new)
            ));
        }
    }
    if let Some(file) = persist {
        match &file.new {
            Some(_) => out.push_str(&format!("Persisted file {} (restored):\n", file.file)),
            None => out.push_str(&format!(
                "Persisted file {} (removed: it did not exist before):\n",
                file.file
            )),
        }
        out.push_str(&restore_diff(file));
    }
    if out.is_empty() {
        out.push_str("Nothing to restore.\n");
    }
    out
}

fn restore_diff(file: &FileRecord) -> String {
    let label = |text: &Option<String>, when: &str| match text {
        Some(_) => format!("{} ({when})", file.file),
        None => "/dev/null (no file)".to_string(),
    };
    similar::TextDiff::from_lines(
        file.old.as_deref().unwrap_or(""),
        file.new.as_deref().unwrap_or(""),
    )
    .unified_diff()
    .context_radius(3)
    .header(
        &label(&file.old, "now"),
        &label(&file.new, "after rollback"),
    )
    .to_string()
}

pub fn json_restore(
    kind: &str,
    runtime: &[KeyRecord],
    persist: Option<&FileRecord>,
    dry_run: bool,
    done: bool,
) -> Value {
    json!({
        "schema_version": PLAN_SCHEMA_VERSION,
        "rollback_of": kind,
        "dry_run": dry_run,
        "done": done,
        "changes": runtime.iter().map(|r| json!({"key": r.key, "from": r.old, "to": r.new})).collect::<Vec<_>>(),
        "persist": persist.map(|f| json!({
            "file": f.file,
            "removed": f.new.is_none(),
            "diff": restore_diff(f),
        })),
    })
}
