//! `twtune top --all-netns`: one row per network namespace, as a pure
//! model. [`screen`] turns one refresh's namespaces (each gathered and
//! judged as `check --all-netns` does, [`Checked`]) into the table: the
//! namespace as `check --all-netns` names it, its verdict and findings, its
//! TIME_WAIT and CLOSE_WAIT, its worst destination (the one the
//! single-namespace view puts first), new connections per second and who
//! makes them. [`block`] prints it as a plain block (the line mode);
//! `draw::draw_all` draws it. Enter on a row shows that namespace with the
//! single-namespace model ([`super::screen`]).

use std::cmp::Ordering;
use std::fmt::Write as _;

use super::{Row, Sort, duration, percent, rate, sort_rows};
use crate::exit_code::Status;
use crate::render::escape;
use crate::render::netns::{Checked, Skipped};
use crate::rules::Severity;

/// How the namespaces are ordered; `s` goes to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NsSort {
    /// The worst verdict first (error, changes pending, incomplete,
    /// compliant), then the most critical and warning findings, then the
    /// worst destination soonest out of ports.
    #[default]
    Worst,
    /// The worst destination soonest out of ports first.
    Exhaustion,
    /// Most TIME_WAIT first.
    TimeWait,
    /// Most new outbound connections per second first.
    NewPerSecond,
}

impl NsSort {
    pub fn next(self) -> NsSort {
        match self {
            NsSort::Worst => NsSort::Exhaustion,
            NsSort::Exhaustion => NsSort::TimeWait,
            NsSort::TimeWait => NsSort::NewPerSecond,
            NsSort::NewPerSecond => NsSort::Worst,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NsSort::Worst => "worst first",
            NsSort::Exhaustion => "time to exhaustion",
            NsSort::TimeWait => "TIME_WAIT",
            NsSort::NewPerSecond => "new conn/s",
        }
    }
}

/// One namespace's row.
#[derive(Debug, Clone, PartialEq)]
pub struct NsRow {
    pub inode: u64,
    /// Its names, pod and container as `check --all-netns` shows them
    /// ("(host)" for the host's); "-" when it has none.
    pub names: String,
    pub verdict: Status,
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
    pub undecided: usize,
    pub time_wait: Option<u64>,
    pub close_wait: Option<u64>,
    /// Its worst destination: the first of the single-namespace view.
    pub worst: Option<Row>,
    /// New outbound connections per second (TCP ActiveOpens), over the
    /// interval; `None` at its first reading.
    pub new_per_second: Option<f64>,
}

impl NsRow {
    fn of(c: &Checked) -> NsRow {
        let count = |s: Severity| {
            c.evaluation
                .findings
                .iter()
                .filter(|f| f.severity == s)
                .count()
        };
        let sockets = c.facts.sockets.as_ref();
        let traced_seconds = sockets
            .filter(|s| s.tracing.is_traced())
            .map(|s| s.tracing.duration_seconds);
        let mut rows: Vec<Row> = sockets
            .iter()
            .flat_map(|s| &s.destinations)
            .map(|d| super::row(d, traced_seconds))
            .collect();
        sort_rows(&mut rows, Sort::Exhaustion);
        NsRow {
            inode: c.inode,
            names: c.label(),
            verdict: c.status(),
            critical: count(Severity::Critical),
            warning: count(Severity::Warning),
            info: count(Severity::Info),
            undecided: c.evaluation.undecided.len(),
            time_wait: sockets.map(|s| s.time_wait),
            close_wait: sockets.map(|s| s.close_wait),
            worst: rows.into_iter().next(),
            new_per_second: c.facts.rates.as_ref().and_then(|r| r.active_opens),
        }
    }

    /// The verdict in a few characters: "ok", "1c 2w", "incomplete", "ERROR".
    pub fn verdict_short(&self) -> String {
        match self.verdict {
            Status::Compliant => "ok".to_string(),
            Status::Incomplete => "incomplete".to_string(),
            Status::Error => "ERROR".to_string(),
            Status::ChangesPending => {
                let mut parts = Vec::new();
                if self.critical > 0 {
                    parts.push(format!("{}c", self.critical));
                }
                if self.warning > 0 {
                    parts.push(format!("{}w", self.warning));
                }
                parts.join(" ")
            }
        }
    }

    /// The verdict with every count: "changes pending: 1 critical, 2 warning, 0 info".
    pub fn verdict_long(&self) -> String {
        let mut text = format!(
            "{}: {} critical, {} warning, {} info",
            self.verdict.word().replace('_', " "),
            self.critical,
            self.warning,
            self.info
        );
        if self.undecided > 0 {
            let _ = write!(text, ", {} undecided", self.undecided);
        }
        text
    }

    /// The worst destination's ratio, "-" without one.
    pub fn ratio_text(&self) -> String {
        self.worst
            .as_ref()
            .map_or_else(|| "-".to_string(), |w| percent(w.ratio))
    }

    /// How soon the worst destination runs out: "now", "45s", "-".
    pub fn out_in(&self) -> String {
        match &self.worst {
            Some(w) if w.ratio >= 1.0 => "now".to_string(),
            Some(w) => duration(w.seconds_to_exhaustion),
            None => "-".to_string(),
        }
    }

    /// The worst destination's top creator, with how it is known.
    pub fn creator(&self) -> String {
        match self
            .worst
            .as_ref()
            .and_then(|w| w.creator.as_ref().map(|c| (c, w.traced)))
        {
            Some((c, true)) => format!("{c} (traced)"),
            Some((c, false)) => format!("{c} (likely)"),
            None => "-".to_string(),
        }
    }
}

/// What the all-namespaces screen shows after one refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct AllScreen {
    /// Wall-clock time of the refresh, `HH:MM:SS` UTC.
    pub at: String,
    pub kernel: String,
    /// The worst namespace's verdict (error when one could not be gathered).
    pub verdict: Status,
    /// "traced", or why not ("untraced: …").
    pub tracing: String,
    /// The time since the previous refresh, seconds; `None` at the start.
    pub interval: Option<f64>,
    pub rows: Vec<NsRow>,
    /// "INODE: reason", escaped.
    pub skipped: Vec<String>,
}

/// The screen of one refresh made at `at` (`HH:MM:SS`); `failed`: a
/// namespace could not be gathered for a reason other than vanishing.
pub fn screen(
    checked: &[Checked],
    skipped: &[Skipped],
    failed: bool,
    sort: NsSort,
    at: &str,
) -> AllScreen {
    let mut rows: Vec<NsRow> = checked.iter().map(NsRow::of).collect();
    sort_ns_rows(&mut rows, sort);
    // One kernel and one trace for every namespace; a namespace first seen
    // at this refresh has not been traced yet, so a traced one says.
    let first = checked
        .iter()
        .find(|c| {
            c.facts
                .sockets
                .as_ref()
                .is_some_and(|s| s.tracing.is_traced())
        })
        .or_else(|| checked.iter().find(|c| c.facts.sockets.is_some()));
    AllScreen {
        at: at.to_string(),
        kernel: escape::text(
            checked
                .first()
                .and_then(|c| c.facts.kernel.release.as_deref())
                .unwrap_or("unknown"),
        )
        .into_owned(),
        verdict: crate::render::netns::overall(checked, failed),
        tracing: first.map_or_else(|| "untraced".to_string(), |c| super::tracing(&c.facts)),
        interval: checked
            .iter()
            .find_map(|c| c.facts.rates.as_ref().map(|r| r.interval_seconds)),
        rows,
        skipped: skipped
            .iter()
            .map(|s| format!("{}: {}", s.inode, escape::text(&s.reason)))
            .collect(),
    }
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Compliant => 0,
        Status::Incomplete => 1,
        Status::ChangesPending => 2,
        Status::Error => 3,
    }
}

/// Soonest out first: already out (ratio ≥ 1) before any time, a time
/// before none.
fn by_exhaustion(a: &NsRow, b: &NsRow) -> Ordering {
    let key = |r: &NsRow| {
        r.worst.as_ref().and_then(|w| match w.ratio >= 1.0 {
            true => Some(0.0),
            false => w.seconds_to_exhaustion,
        })
    };
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Orders rows by `sort`, ties by the worst ratio, TIME_WAIT, then inode
/// (a stable screen).
pub fn sort_ns_rows(rows: &mut [NsRow], sort: NsSort) {
    let desc = |a: f64, b: f64| b.partial_cmp(&a).unwrap_or(Ordering::Equal);
    let ratio = |r: &NsRow| r.worst.as_ref().map_or(-1.0, |w| w.ratio);
    rows.sort_by(|a, b| {
        let first = match sort {
            NsSort::Worst => rank(b.verdict)
                .cmp(&rank(a.verdict))
                .then(b.critical.cmp(&a.critical))
                .then(b.warning.cmp(&a.warning))
                .then_with(|| by_exhaustion(a, b)),
            NsSort::Exhaustion => by_exhaustion(a, b),
            NsSort::TimeWait => b.time_wait.cmp(&a.time_wait),
            NsSort::NewPerSecond => desc(
                a.new_per_second.unwrap_or(-1.0),
                b.new_per_second.unwrap_or(-1.0),
            ),
        };
        first
            .then(desc(ratio(a), ratio(b)))
            .then(b.time_wait.cmp(&a.time_wait))
            .then(a.inode.cmp(&b.inode))
    });
}

/// The header's parts ("09:40:01 UTC", "kernel …", "12 network namespaces",
/// the worst verdict, the tracing, the interval).
pub fn header_parts(screen: &AllScreen) -> Vec<String> {
    let mut parts = vec![
        format!("{} UTC", screen.at),
        format!("kernel {}", screen.kernel),
        format!(
            "{} network namespace{}{}",
            screen.rows.len(),
            if screen.rows.len() == 1 { "" } else { "s" },
            match screen.skipped.len() {
                0 => String::new(),
                n => format!(" ({n} skipped)"),
            }
        ),
        format!("worst: {}", screen.verdict.word().replace('_', " ")),
        screen.tracing.clone(),
    ];
    if let Some(interval) = screen.interval {
        parts.push(format!("over {interval:.1}s"));
    }
    parts
}

/// The line mode's heading and one line per namespace.
pub fn table(screen: &AllScreen) -> Vec<String> {
    let line = |cells: [&str; 10]| {
        format!(
            "{:>10}  {:<24} {:<11} {:>7} {:>6}  {:<22} {:>7} {:>7} {:>7}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            cells[7],
            cells[8],
            cells[9]
        )
        .trim_end()
        .to_string()
    };
    let mut out = vec![line([
        "NETNS",
        "NAMES",
        "FINDINGS",
        "TW",
        "CW",
        "WORST DESTINATION",
        "RATIO",
        "OUT IN",
        "NEW/S",
        "TOP CREATOR",
    ])];
    let count = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
    for r in &screen.rows {
        out.push(line([
            &r.inode.to_string(),
            &r.names,
            &r.verdict_short(),
            &count(r.time_wait),
            &count(r.close_wait),
            r.worst.as_ref().map_or("-", |w| w.remote.as_str()),
            &r.ratio_text(),
            &r.out_in(),
            &rate(r.new_per_second),
            &r.creator(),
        ]));
    }
    out
}

/// One block: the header, a line per namespace, a line per skipped one.
/// Ends with a blank line.
pub fn block(screen: &AllScreen) -> String {
    let mut out = header_parts(screen).join(" · ");
    out.push('\n');
    for line in table(screen) {
        out.push_str(&line);
        out.push('\n');
    }
    for s in &screen.skipped {
        let _ = writeln!(out, "skipped {s}");
    }
    out.push('\n');
    out
}
