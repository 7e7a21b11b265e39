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
        namespaces: checked.iter().map(entry).collect(),
        skipped,
    }
}

fn entry(c: &Checked) -> NamespaceReport<'_> {
    NamespaceReport {
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
    }
}

/// Where a checked namespace goes in the table and the document: the
/// host's own first, then by inode.
pub fn order(c: &Checked) -> (bool, u64) {
    (c.facts.namespace.initial != Some(true), c.inode)
}

/// Appends one `namespaces[]` entry to `out`, as [`write_json`] prints it:
/// rendered as soon as its namespace is judged, so the facts need not be
/// kept until every namespace is (at 1,000 namespaces they were most of the
/// memory). Indented to its place in the document, two levels deep. Every
/// entry of a run goes into one buffer: a buffer of its own each would be
/// an allocation of its size each, which costs more than writing it.
pub fn entry_json(c: &Checked, out: &mut Vec<u8>) -> serde_json::Result<()> {
    super::json::to_writer_pretty_at(out, &entry(c), 2)
}

/// The `check --all-netns --format json` document from entries rendered by
/// [`entry_json`] (in their order), byte for byte what serialising
/// [`json_report`] of the namespaces themselves writes. The frame around
/// them is that document serialised with no namespace, so its fields stay
/// the serialiser's; the entries go where its empty `namespaces` array was.
pub fn write_json<'e, W: std::io::Write + ?Sized>(
    out: &mut W,
    entries: impl IntoIterator<Item = &'e [u8]>,
    skipped: &[Skipped],
    status: Status,
) -> std::io::Result<()> {
    const EMPTY: &str = "\"namespaces\": []";
    let frame = super::json::to_string_pretty(&json_report(&[], skipped, status))
        .map_err(std::io::Error::from)?;
    // The first: the top-level field comes before `skipped`, and a string
    // cannot hold it (its quotes would be escaped).
    let at = frame
        .find(EMPTY)
        .ok_or_else(|| std::io::Error::other("the document has no namespaces field"))?;
    let (head, tail) = (
        &frame[..at + EMPTY.len() - 1],
        &frame[at + EMPTY.len() - 1..],
    );
    out.write_all(head.as_bytes())?;
    let mut any = false;
    for text in entries {
        out.write_all(if any { b",\n    " } else { b"\n    " })?;
        out.write_all(text)?;
        any = true;
    }
    if any {
        out.write_all(b"\n  ")?;
    }
    out.write_all(tail.as_bytes())
}

/// One row of the table.
pub type Row = [String; 8];

/// The table row of a checked namespace: what [`table`] prints of it, so
/// the facts need not be kept until every namespace is checked.
pub fn row(c: &Checked) -> Row {
    let names = c.label();
    let sockets = c.facts.sockets.as_ref();
    let count = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    let worst = match c.worst_finding() {
        Some(f) => format!("{} {}", f.severity.as_str(), f.rule),
        None => c.status().word().replace('_', " "),
    };
    [
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
    ]
}

/// The table: one [`row`] per namespace, aligned, then a line per skipped
/// one.
pub fn table<'r>(rows: impl ExactSizeIterator<Item = &'r Row>, skipped: &[Skipped]) -> String {
    let header = [
        "NAMESPACE",
        "NAMES",
        "PID",
        "COMMAND",
        "TIME_WAIT",
        "CLOSE_WAIT",
        "WORST DEST",
        "WORST FINDING",
    ]
    .map(String::from);
    let count = rows.len();
    let mut all: Vec<&Row> = Vec::with_capacity(count + 1);
    all.push(&header);
    for row in rows {
        all.push(row);
    }
    let rows = all;
    let mut widths = [0usize; 8];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Counts read right-aligned, words left-aligned.
    let right = [false, false, true, false, true, true, true, false];
    let mut out = String::new();
    for row in rows {
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
        count,
        if count == 1 { "" } else { "s" }
    ));
    out.push('\n');
    for s in skipped {
        out.push_str(&format!("Skipped namespace {}: {}\n", s.inode, s.reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::GatherOptions;
    use crate::rules::RuleSet;
    use crate::rules::eval::evaluate;

    /// Two namespaces of a fixture host: the host's own, and one with a
    /// hostile name, a pod and a container, judged by the built-in rules.
    fn checked() -> Vec<Checked> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jammy-stale-tw-recycle");
        let facts = crate::facts::gather(&GatherOptions::new(root.clone())).unwrap();
        let rules = RuleSet::load(&root, &[]).unwrap();
        let evaluation = evaluate(&rules, &facts);
        assert!(!evaluation.findings.is_empty(), "the fixture has findings");
        let mut host = facts.clone();
        host.namespace.initial = Some(true);
        let mut other = facts;
        other.namespace.initial = Some(false);
        vec![
            Checked {
                inode: 4026531833,
                names: Vec::new(),
                pids: vec![1, 2],
                command: Some("systemd".into()),
                container: None,
                pod: None,
                facts: host,
                evaluation: evaluate(&rules, &other),
            },
            Checked {
                inode: 4026532180,
                names: vec!["a \"b\"\n\u{1b}[2J\u{2028}".into(), "c".into()],
                pids: Vec::new(),
                command: None,
                container: Some(Container {
                    runtime: Some("containerd"),
                    id: "ab".repeat(32),
                    pod_uid: None,
                    source: "cgroup_name",
                    cgroup: "/system.slice/containerd-x\n.scope".into(),
                }),
                pod: Some(Pod {
                    namespace: Some("default".into()),
                    name: Some("web\n1".into()),
                    uid: None,
                }),
                facts: other,
                evaluation,
            },
        ]
    }

    #[test]
    fn the_document_from_entries_rendered_one_by_one_is_the_document_of_all() {
        let checked = checked();
        let skipped = [Skipped {
            inode: 7,
            reason: "gone \"namespaces\": [] before it could be entered".into(),
        }];
        for n in 0..=checked.len() {
            for skipped in [&skipped[..], &[]] {
                let status = Status::worst_of(checked[..n].iter().map(Checked::status), false);
                let whole = super::super::json::to_string_pretty(&json_report(
                    &checked[..n],
                    skipped,
                    status,
                ))
                .unwrap();
                // Rendered one after the other into one buffer, as a run does.
                let mut rendered = Vec::new();
                let mut entries = Vec::new();
                for c in &checked[..n] {
                    let start = rendered.len();
                    entry_json(c, &mut rendered).unwrap();
                    entries.push(start..rendered.len());
                }
                let mut out = Vec::new();
                let entries = entries.into_iter().map(|at| &rendered[at]);
                write_json(&mut out, entries, skipped, status).unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), whole, "{n} namespaces");
            }
        }
    }

    #[test]
    fn the_table_aligns_each_row_and_names_the_host_and_the_skipped() {
        let checked = checked();
        let rows: Vec<Row> = checked.iter().map(row).collect();
        assert_eq!(rows[0][1], "(host)");
        assert_eq!(
            rows[1][1],
            format!(
                "a \"b\"\\n\\x1b[2J\\u{{2028}},c default/web\\n1 cgroup says containerd {}",
                "ab".repeat(6)
            )
        );
        assert_eq!(rows[1][2..4], ["-", "-"]);
        let skipped = [Skipped {
            inode: 7,
            reason: "gone".into(),
        }];
        let text = table(rows.iter(), &skipped);
        let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
        assert_eq!(lines.len(), 5, "{text}");
        // The last column starts where its header does on every row.
        let header: String = lines[0].iter().collect();
        let at = header.find("WORST FINDING").unwrap();
        for line in &lines[1..3] {
            assert!(line[at - 1] == ' ' && line[at] != ' ', "{text}");
        }
        assert!(header.starts_with("NAMESPACE   NAMES"), "{text}");
        assert_eq!(
            &text[text.len() - 55..],
            "2 network namespaces checked\nSkipped namespace 7: gone\n"
        );
    }
}
