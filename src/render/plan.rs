//! Printing plans and rollbacks for people: a runtime diff (`key: current →
//! new`) and the persisted file as a unified diff. Their JSON is
//! [`super::apply_report`]. Decides nothing.

use super::apply_report::{persist_diff, restore_diff};
use super::escape;
use crate::apply::journal::{FileRecord, KeyRecord};
use crate::apply::manual::ManualFix;
use crate::apply::plan::{Change, Plan};

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
        out.push_str(&format!(
            "Persisted file {} ({state}):\n",
            escape::text(&persist.file)
        ));
        out.push_str(&persist_diff(persist));
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
    // The finding in one line, then what to do, wrapped: the finding's
    // whole message is `check --verbose`'s, not repeated here.
    for m in manual {
        out.push_str(&format!(
            "  [{}] {}\n    {}\n",
            m.rule,
            super::human::wrap(
                &escape::text(&m.summary),
                4 + m.rule.len(),
                4,
                super::human::LINE_WIDTH
            ),
            super::human::wrap(&escape::text(&m.fix), 4, 4, super::human::LINE_WIDTH)
        ));
    }
    out
}

/// The line in front of an `apply --netns` plan: which namespace, and that
/// nothing is persisted for it.
pub fn human_namespace(namespace: &super::apply_report::PlanNamespace) -> String {
    let named = match namespace.names.is_empty() {
        true => namespace.target.clone(),
        false => namespace.names.join(", "),
    };
    let named = escape::text(&named);
    format!(
        "Network namespace {named} (inode {}): runtime values only. Nothing is persisted: a namespace has no boot of its own, and the drop-in in /etc/sysctl.d configures the host's.",
        namespace.inode
    )
}

/// Warnings and advice to print after the plan (on stderr).
pub fn warnings(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(persist) = &plan.persist {
        for shadow in &persist.shadowed {
            lines.push(format!(
                "{}:{} sets {} = {} and is read after {}: it wins at the next boot. \
                 Use --persist-to {} to change it there.",
                escape::text(&shadow.file),
                shadow.line,
                shadow.key,
                escape::text(&shadow.value),
                escape::text(&persist.file),
                escape::text(&shadow.suggest)
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
            Some(_) => out.push_str(&format!(
                "Persisted file {} (restored):\n",
                escape::text(&file.file)
            )),
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
