//! `twtune top`: the live view, as a pure model. [`screen`] turns one
//! refresh's facts and findings into what the screen shows (the header, the
//! destinations sorted by how soon they run out, the findings that appeared
//! or cleared while it ran); [`History`] remembers the findings between
//! refreshes. [`lines`] prints a screen as a plain block (the line mode),
//! [`draw`] draws it with ratatui (the terminal mode); neither decides
//! anything: the verdict is `exit_code::Status`, the findings the rules'.
//!
//! Every text that comes from the host (commands, cgroups, rule summaries)
//! is escaped here, once: no control character reaches the terminal.

pub mod all;
pub mod draw;
pub mod draw_all;
pub mod lines;

use std::collections::{BTreeMap, VecDeque};

use crate::exit_code::Status;
use crate::facts::Facts;
use crate::facts::sockets::Destination;
use crate::facts::sockets::creators::Attribution;
use crate::render::escape;
use crate::rules::{Evaluation, Finding, RuleSet, Severity};

/// How the destinations are ordered; `s` goes to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Soonest out of ports first; those not running out after, fullest first.
    #[default]
    Exhaustion,
    /// Fullest first (taken / usable).
    Ratio,
    /// Most new connections per second first.
    NewPerSecond,
    /// Most TIME_WAIT first.
    TimeWait,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Exhaustion => Sort::Ratio,
            Sort::Ratio => Sort::NewPerSecond,
            Sort::NewPerSecond => Sort::TimeWait,
            Sort::TimeWait => Sort::Exhaustion,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Exhaustion => "time to exhaustion",
            Sort::Ratio => "ports taken",
            Sort::NewPerSecond => "new conn/s",
            Sort::TimeWait => "TIME_WAIT",
        }
    }
}

/// The header: the namespace and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Wall-clock time of the refresh, `HH:MM:SS` UTC.
    pub at: String,
    pub kernel: String,
    pub namespace: String,
    pub verdict: Status,
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
    pub undecided: usize,
    pub time_wait: Option<u64>,
    pub time_wait_client: Option<u64>,
    pub time_wait_server: Option<u64>,
    pub close_wait: Option<u64>,
    /// nf_conntrack_count, nf_conntrack_max.
    pub conntrack: Option<(i64, i64)>,
    /// Usable ports any client socket holds (TIME_WAIT included), and usable.
    pub host_ports: Option<(u32, u32)>,
    /// "traced", or why not ("untraced: …").
    pub tracing: String,
    /// The time since the previous refresh, seconds; `None` at the start.
    pub interval: Option<f64>,
}

/// One destination's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub remote: String,
    pub local: String,
    pub taken: u64,
    pub usable: u32,
    /// taken / usable; infinite when nothing is usable and something taken.
    pub ratio: f64,
    pub time_wait: u64,
    pub new_per_second: Option<f64>,
    pub seconds_to_exhaustion: Option<f64>,
    /// Traced connect() failures per second; `None` untraced.
    pub failures_per_second: Option<f64>,
    pub peer_timestamps: Option<bool>,
    /// "pid 1234 curl", the first creator; `None` when nobody is known.
    pub creator: Option<String>,
    /// Whether `creator` was traced (else: likely, from live connections);
    /// with no creator, whether the destination's attribution is traced.
    pub traced: bool,
}

/// What happened to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Appeared,
    Cleared,
    /// Still there, at a higher severity.
    Raised,
    /// Still there, at a lower severity.
    Lowered,
}

impl What {
    /// The word shown, all of one width.
    pub fn word(self) -> &'static str {
        match self {
            What::Appeared => "appeared",
            What::Cleared => "cleared ",
            What::Raised => "raised  ",
            What::Lowered => "lowered ",
        }
    }
}

/// A finding that appeared, cleared, or changed severity.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub at: String,
    pub what: What,
    pub severity: Severity,
    pub rule: String,
    pub summary: String,
}

/// What the screen shows after one refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    pub header: Header,
    pub rows: Vec<Row>,
    /// Distinct destinations seen, of which `rows` are the busiest.
    pub destination_count: u64,
    /// The findings firing now, most severe first: (severity, rule, summary).
    pub findings: Vec<(Severity, String, String)>,
    /// Newest first.
    pub changes: Vec<Change>,
}

/// Which findings fired at the previous refresh, and the changes so far.
#[derive(Debug, Default)]
pub struct History {
    active: BTreeMap<(String, String), (Severity, String)>,
    changes: VecDeque<Change>,
    added: usize,
}

/// Changes kept (newest first); older ones scroll away.
const CHANGES_KEPT: usize = 100;

/// What a finding is about, so that the same one refreshed with new figures
/// is not a change: the rule and, for a rule that fires per item, the
/// summary's subject (its text before the first ": ", " has " or
/// " holds ": a destination, a pid, a file and line), the figures after it
/// being what moves.
fn identity(finding: &Finding, rules: &RuleSet) -> (String, String) {
    let per_item = rules
        .get(&finding.rule)
        .is_some_and(|rule| rule.for_each.is_some());
    let subject = match per_item {
        false => String::new(),
        true => {
            let text = finding.summary.as_str();
            let end = [": ", " has ", " holds "]
                .iter()
                .filter_map(|mark| text.find(mark))
                .min()
                .unwrap_or(text.len());
            text[..end].to_string()
        }
    };
    (finding.rule.clone(), subject)
}

impl History {
    /// Records the findings of a refresh made at `at`: those new since the
    /// previous one appeared, those gone cleared, those whose severity
    /// moved raised or lowered. At the first refresh, every finding appears.
    pub fn update(&mut self, evaluation: &Evaluation, rules: &RuleSet, at: &str) {
        let mut now = BTreeMap::new();
        for finding in &evaluation.findings {
            now.insert(
                identity(finding, rules),
                (finding.severity, finding.summary.clone()),
            );
        }
        let mut changes = Vec::new();
        let change = |what, severity: &Severity, rule: &str, summary: &str| Change {
            at: at.to_string(),
            what,
            severity: *severity,
            rule: rule.to_string(),
            summary: escape::text(summary).into_owned(),
        };
        for (key, (severity, summary)) in &self.active {
            if !now.contains_key(key) {
                changes.push(change(What::Cleared, severity, &key.0, summary));
            }
        }
        for (key, (severity, summary)) in &now {
            let what = match self.active.get(key) {
                None => What::Appeared,
                Some((before, _)) if before < severity => What::Raised,
                Some((before, _)) if before > severity => What::Lowered,
                Some(_) => continue,
            };
            changes.push(change(what, severity, &key.0, summary));
        }
        // Most severe first within one refresh.
        changes.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
        self.added = changes.len();
        for change in changes.into_iter().rev() {
            self.changes.push_front(change);
        }
        self.changes.truncate(CHANGES_KEPT);
        self.active = now;
    }

    /// How many changes the last update added (the first ones of
    /// [`History::changes`]).
    pub fn added(&self) -> usize {
        self.added
    }

    /// Newest first.
    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter()
    }
}

/// `HH:MM:SS` UTC of a time in seconds since the epoch.
pub fn clock(unix_seconds: u64) -> String {
    let day = unix_seconds % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

fn namespace(facts: &Facts) -> String {
    let ns = &facts.namespace;
    let who = match (&ns.target, ns.names.first(), ns.initial) {
        (Some(target), _, _) => escape::text(target).into_owned(),
        (None, Some(name), _) => escape::text(name).into_owned(),
        (None, None, Some(true)) => "host".to_string(),
        (None, None, Some(false)) => "private".to_string(),
        (None, None, None) => "unknown".to_string(),
    };
    match ns.net_inode {
        Some(inode) => format!("{who} (net:[{inode}])"),
        None => who,
    }
}

fn tracing(facts: &Facts) -> String {
    match facts.sockets.as_ref().map(|s| &s.tracing) {
        Some(t) if t.is_traced() => match t.lost_events {
            0 => "traced".to_string(),
            lost => format!("traced, {lost} events lost"),
        },
        Some(t) if t.status == "unavailable" => format!(
            "untraced: {}",
            escape::text(t.reason.as_deref().unwrap_or("unavailable"))
        ),
        _ => "untraced".to_string(),
    }
}

fn header(facts: &Facts, evaluation: &Evaluation, at: &str) -> Header {
    let count = |s: Severity| {
        evaluation
            .findings
            .iter()
            .filter(|f| f.severity == s)
            .count()
    };
    let sockets = facts.sockets.as_ref();
    let conntrack = facts
        .sysctl_int("net.netfilter.nf_conntrack_count")
        .zip(facts.sysctl_int("net.netfilter.nf_conntrack_max"));
    Header {
        at: at.to_string(),
        kernel: escape::text(facts.kernel.release.as_deref().unwrap_or("unknown")).into_owned(),
        namespace: namespace(facts),
        verdict: Status::of(evaluation),
        critical: count(Severity::Critical),
        warning: count(Severity::Warning),
        info: count(Severity::Info),
        undecided: evaluation.undecided.len(),
        time_wait: sockets.map(|s| s.time_wait),
        time_wait_client: sockets.map(|s| s.time_wait_client_side),
        time_wait_server: sockets.map(|s| s.time_wait_server_side),
        close_wait: sockets.map(|s| s.close_wait),
        conntrack,
        host_ports: sockets.map(|s| (s.host_ports.in_use_with_time_wait, s.host_ports.usable)),
        tracing: tracing(facts),
        interval: facts.rates.as_ref().map(|r| r.interval_seconds),
    }
}

fn row(d: &Destination, traced_seconds: Option<f64>) -> Row {
    let traced = d.attribution == Attribution::Traced;
    // The one the findings name (`top_creator`): traced, the interval's
    // busiest closer; else, or when nobody connected to it meanwhile, the
    // likely one.
    let (creator, traced_creator) = match &d.top_creator {
        Some(c) => (
            Some(format!("pid {} {}", c.pid, escape::text(&c.command))),
            c.attribution == Attribution::Traced,
        ),
        None => (None, traced),
    };
    let failures: u64 = d.connect_failures.iter().map(|f| f.count).sum();
    Row {
        remote: escape::text(&d.remote).into_owned(),
        local: escape::text(&d.local).into_owned(),
        taken: d.taken,
        usable: d.usable_ports,
        ratio: d.exhaustion_ratio,
        time_wait: d.time_wait,
        new_per_second: d.new_per_second,
        seconds_to_exhaustion: d.seconds_to_exhaustion,
        failures_per_second: traced_seconds
            .filter(|_| traced)
            .map(|secs| crate::facts::rates::round_rate(failures as f64 / secs.max(f64::EPSILON))),
        peer_timestamps: d.peer_timestamps,
        creator,
        traced: traced_creator,
    }
}

/// Orders rows by `sort`, ties by ratio then address (a stable screen).
pub fn sort_rows(rows: &mut [Row], sort: Sort) {
    let desc = |a: f64, b: f64| b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal);
    rows.sort_by(|a, b| {
        let first = match sort {
            Sort::Exhaustion => {
                // Already out (ratio ≥ 1) is soonest of all.
                let key = |r: &Row| match (r.ratio >= 1.0, r.seconds_to_exhaustion) {
                    (true, _) => Some(0.0),
                    (false, s) => s,
                };
                match (key(a), key(b)) {
                    (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            }
            Sort::Ratio => std::cmp::Ordering::Equal,
            Sort::NewPerSecond => desc(
                a.new_per_second.unwrap_or(-1.0),
                b.new_per_second.unwrap_or(-1.0),
            ),
            Sort::TimeWait => b.time_wait.cmp(&a.time_wait),
        };
        first
            .then(desc(a.ratio, b.ratio))
            .then_with(|| a.remote.cmp(&b.remote))
            .then_with(|| a.local.cmp(&b.local))
    });
}

/// The screen of one refresh made at `at` (`HH:MM:SS`), after
/// `history.update` with the same evaluation.
pub fn screen(
    facts: &Facts,
    evaluation: &Evaluation,
    history: &History,
    sort: Sort,
    at: &str,
) -> Screen {
    let traced_seconds = facts
        .sockets
        .as_ref()
        .filter(|s| s.tracing.is_traced())
        .map(|s| s.tracing.duration_seconds);
    let mut rows: Vec<Row> = facts
        .sockets
        .iter()
        .flat_map(|s| &s.destinations)
        .map(|d| row(d, traced_seconds))
        .collect();
    sort_rows(&mut rows, sort);
    Screen {
        header: header(facts, evaluation, at),
        rows,
        destination_count: facts.sockets.as_ref().map_or(0, |s| s.destination_count),
        findings: evaluation
            .findings
            .iter()
            .map(|f| {
                (
                    f.severity,
                    f.rule.clone(),
                    escape::text(&f.summary).into_owned(),
                )
            })
            .collect(),
        changes: history.changes().cloned().collect(),
    }
}

/// What Enter shows for one destination: its creators, its failures, the
/// findings about it and the rule text (`twtune explain`) of each.
pub fn details(
    facts: &Facts,
    evaluation: &Evaluation,
    rules: &RuleSet,
    remote: &str,
    local: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(d) = facts
        .sockets
        .iter()
        .flat_map(|s| &s.destinations)
        .find(|d| escape::text(&d.remote) == remote && escape::text(&d.local) == local)
    else {
        out.push(format!(
            "{local} → {remote}: no longer among the busiest destinations"
        ));
        return out;
    };
    out.push(format!(
        "{local} → {remote}: {} of {} usable ports taken, {} TIME_WAIT, {} established",
        d.taken, d.usable_ports, d.time_wait, d.established
    ));
    out.push(format!(
        "Creators ({}):",
        escape::text(&d.attribution_method)
    ));
    for c in &d.creators {
        let mut line = format!("  pid {} {}", c.pid, escape::text(&c.command));
        if let Some(n) = c.connects {
            line.push_str(&format!(", {n} connects"));
        }
        if let Some(n) = c.active_closes {
            line.push_str(&format!(", {n} closed first"));
        }
        if c.exited {
            line.push_str(", exited");
        }
        if let Some(container) = &c.container {
            line.push_str(&format!(", container {}", escape::text(container)));
        } else if let Some(cgroup) = &c.cgroup {
            line.push_str(&format!(", cgroup {}", escape::text(cgroup)));
        }
        out.push(line);
    }
    if d.creators.is_empty() {
        out.push("  none seen".to_string());
    }
    for f in &d.connect_failures {
        out.push(format!(
            "Failed: pid {} {} got {} {} times",
            f.pid,
            escape::text(&f.command),
            escape::text(&f.errno),
            f.count
        ));
    }
    let prefix = format!("{} → {}", d.local, d.remote);
    let mut explained = Vec::new();
    for f in evaluation
        .findings
        .iter()
        .filter(|f| f.summary.starts_with(&prefix))
    {
        out.push(String::new());
        out.push(format!(
            "[{}] {}: {}",
            f.severity.as_str(),
            f.rule,
            escape::text(&f.summary)
        ));
        if !explained.contains(&f.rule)
            && let Some(rule) = rules.get(&f.rule)
        {
            explained.push(f.rule.clone());
            let text = crate::render::human::explain(rule, crate::render::style::Style::plain());
            out.extend(text.lines().map(|l| escape::text(l).into_owned()));
        }
    }
    if explained.is_empty() {
        out.push(String::new());
        out.push("No rule fires for this destination.".to_string());
    }
    out
}

/// A ratio as a percentage, "∞" when infinite.
pub fn percent(ratio: f64) -> String {
    match ratio.is_finite() {
        true => format!("{:.1}%", ratio * 100.0),
        false => "inf".to_string(),
    }
}

/// A number of seconds as "45s", "3m20s", "2h05m"; "-" for none.
pub fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "-".to_string();
    };
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// A rate with one decimal below 10, none above; "-" for none.
pub fn rate(value: Option<f64>) -> String {
    match value {
        Some(v) if v < 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
        None => "-".to_string(),
    }
}

/// `[#####-----]` of `width` cells for a ratio (full past 1).
pub fn bar(ratio: f64, width: usize) -> String {
    let filled = match ratio.is_finite() {
        true => ((ratio.clamp(0.0, 1.0) * width as f64).round() as usize).min(width),
        false => width,
    };
    format!("{}{}", "#".repeat(filled), ".".repeat(width - filled))
}

/// "yes", "no", "?" for peer timestamps.
pub fn yes_no(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

#[cfg(test)]
mod tests;
