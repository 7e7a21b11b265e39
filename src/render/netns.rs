//! `twtune check --all-netns`: one row per network namespace for people, a
//! `namespaces[]` document for programs.

use serde::Serialize;

use super::escape;

use super::json::{SCHEMA_VERSION, Summary};
use crate::exit_code::Status;
use crate::facts::Facts;
use crate::facts::cgroup::Container;
use crate::facts::pod::Pod;
use crate::rules::expr::percent_text as percent;
use crate::rules::{Evaluation, Finding};

/// One namespace, checked.
#[derive(Debug)]
pub struct Checked {
    pub inode: u64,
    pub names: Vec<String>,
    pub pids: Vec<u32>,
    /// The command of the first pid.
    pub command: Option<String>,
    pub container: Option<Container>,
    /// The pod its processes claim to belong to.
    pub pod: Option<Pod>,
    pub facts: Facts,
    pub evaluation: Evaluation,
}

impl Checked {
    pub fn status(&self) -> Status {
        Status::of(&self.evaluation)
    }

    /// Its names, pod and container, escaped: "(host)" first for the
    /// host's own, "-" when it has none.
    pub fn label(&self) -> String {
        let mut names = escape::text(&self.names.join(",")).into_owned();
        if let Some(pod) = &self.pod {
            if !names.is_empty() {
                names.push(' ');
            }
            names.push_str(&escape::text(&pod.label()));
        }
        if let Some(container) = &self.container {
            if !names.is_empty() {
                names.push(' ');
            }
            names.push_str(&escape::text(&container.label()));
        }
        if self.facts.namespace.initial == Some(true) {
            names = match names.is_empty() {
                true => "(host)".into(),
                false => format!("(host) {names}"),
            };
        }
        if names.is_empty() {
            names = "-".into();
        }
        names
    }

    /// The highest exhaustion ratio among its destinations.
    fn worst_ratio(&self) -> Option<f64> {
        let sockets = self.facts.sockets.as_ref()?;
        sockets
            .destinations
            .iter()
            .map(|d| d.exhaustion_ratio)
            .reduce(f64::max)
    }

    /// Findings are ordered most severe first.
    fn worst_finding(&self) -> Option<&Finding> {
        self.evaluation.findings.first()
    }
}

/// A namespace listed but not checked, and why.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Skipped {
    pub inode: u64,
    pub reason: String,
}

/// The verdict over every namespace, decided where every verdict is
/// ([`Status::worst_of`]): a namespace that could not be gathered for a
/// reason other than vanishing makes it an error.
pub fn overall(checked: &[Checked], failed: bool) -> Status {
    Status::worst_of(checked.iter().map(Checked::status), failed)
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AllNetnsReport<'a> {
    pub schema_version: u32,
    pub twtune_version: &'static str,
    /// The worst namespace's status, the one the exit status follows.
    pub status: &'static str,
    pub namespaces: Vec<NamespaceReport<'a>>,
    /// Namespaces listed but not checked: gone before they were entered, or
    /// unreadable (then `status` is "error").
    pub skipped: &'a [Skipped],
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NamespaceReport<'a> {
    pub inode: u64,
    pub names: &'a [String],
    pub pids: &'a [u32],
    pub command: Option<&'a str>,
    pub container: Option<&'a Container>,
    /// The pod its processes claim to belong to (their hostname,
    /// service-account namespace file and cgroup: claims, not facts); null
    /// when none shows a pod UID or a service-account namespace.
    pub pod: Option<&'a Pod>,
    pub status: &'static str,
    pub summary: Summary,
    pub findings: &'a [Finding],
    pub facts: &'a Facts,
}

pub fn json_report<'a>(
    checked: &'a [Checked],
    skipped: &'a [Skipped],
    status: Status,
) -> AllNetnsReport<'a> {
    AllNetnsReport {
        schema_version: SCHEMA_VERSION,
        twtune_version: env!("CARGO_PKG_VERSION"),
        status: status.word(),
        namespaces: checked
            .iter()
            .map(|c| NamespaceReport {
                inode: c.inode,
                names: &c.names,
                pids: &c.pids,
                command: c.command.as_deref(),
                container: c.container.as_ref(),
                pod: c.pod.as_ref(),
                status: c.status().word(),
                summary: Summary::of(&c.evaluation),
                findings: &c.evaluation.findings,
                facts: &c.facts,
            })
            .collect(),
        skipped,
    }
}

/// The table: one row per namespace, aligned, then a line per skipped one.
pub fn human(checked: &[Checked], skipped: &[Skipped]) -> String {
    let header = [
        "NAMESPACE",
        "NAMES",
        "PID",
        "COMMAND",
        "TIME_WAIT",
        "CLOSE_WAIT",
        "WORST DEST",
        "WORST FINDING",
    ];
    let mut rows: Vec<[String; 8]> = vec![header.map(String::from)];
    for c in checked {
        let names = c.label();
        let sockets = c.facts.sockets.as_ref();
        let count = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
        let worst = match c.worst_finding() {
            Some(f) => format!("{} {}", f.severity.as_str(), f.rule),
            None => c.status().word().replace('_', " "),
        };
        rows.push([
            c.inode.to_string(),
            names,
            c.pids.first().map_or("-".into(), u32::to_string),
            c.command
                .as_deref()
                .map_or_else(|| "-".into(), |c| escape::text(c).into_owned()),
            count(sockets.map(|s| s.time_wait)),
            count(sockets.map(|s| s.close_wait)),
            c.worst_ratio().map_or("-".into(), percent),
            worst,
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Counts read right-aligned, words left-aligned.
    let right = [false, false, true, false, true, true, true, false];
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            if right[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "{} network namespace{} checked",
        checked.len(),
        if checked.len() == 1 { "" } else { "s" }
    ));
    out.push('\n');
    for s in skipped {
        out.push_str(&format!("Skipped namespace {}: {}\n", s.inode, s.reason));
    }
    out
}
