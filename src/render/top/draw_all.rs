//! The terminal view of `top --all-netns`: an [`AllScreen`] drawn with
//! ratatui, and a namespace drilled into (the single-namespace view with a
//! status line that says how to go back).

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row as TableRow, Table};

use super::all::{AllScreen, NsSort, header_parts};
use super::draw::{View, creators_known, draw_sorted, fill_parts, popup, status_line};
use super::{Screen, rate};
use crate::exit_code::Status;

/// The state the keys change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AllView {
    pub sort: NsSort,
    pub paused: bool,
    /// The selected row of the table.
    pub selected: usize,
    pub help: bool,
    /// Enter on a namespace: its inode and the single-namespace view of it.
    pub drilled: Option<(u64, View)>,
}

/// The keys, for the help overlay.
pub const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit (the terminal is restored)"),
    (
        "s",
        "sort by the next column: worst first, time to exhaustion, TIME_WAIT, new conn/s",
    ),
    ("p", "pause / resume refreshing (tracing goes on)"),
    ("Up, Down", "select a namespace"),
    (
        "Enter",
        "that namespace's destinations (the view of `top --netns`)",
    ),
    (
        "Esc, Bksp",
        "back to every namespace (Esc first closes a window)",
    ),
    ("?", "this help"),
];

/// Draws the table of every namespace.
pub fn draw_all(frame: &mut Frame, screen: &AllScreen, view: &AllView) {
    let area = frame.area();
    let header = fill_parts(vec![header_parts(screen)], usize::from(area.width));
    let skipped_height = match screen.skipped.len() {
        0 => 0,
        n => (n as u16 + 1).min(area.height / 6).max(2),
    };
    let [head, table, skipped, status] = Layout::vertical([
        Constraint::Length(header.len().min(3) as u16),
        Constraint::Min(3),
        Constraint::Length(skipped_height),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(header.into_iter().map(Line::from).collect::<Vec<_>>()),
        head,
    );
    draw_table(frame, screen, view, table);
    if skipped_height > 0 {
        let lines: Vec<Line> = screen
            .skipped
            .iter()
            .map(|s| Line::from(s.as_str()))
            .collect();
        frame.render_widget(
            Paragraph::new(lines).block(Block::new().borders(Borders::TOP).title(" skipped ")),
            skipped,
        );
    }
    status_line(
        frame,
        status,
        format!(
            " sorted by {} · {} namespaces{} · q quit  s sort  p pause  Enter destinations  ? help",
            view.sort.label(),
            screen.rows.len(),
            if view.paused { " · PAUSED" } else { "" }
        ),
    );
    if view.help {
        let lines: Vec<Line> = HELP
            .iter()
            .map(|(key, what)| Line::from(format!("{key:<10} {what}")))
            .collect();
        popup(frame, area, " keys ", Text::from(lines), 0);
    }
}

/// Draws one namespace (Enter on its row): the single-namespace view, its
/// status line saying how to go back.
pub fn draw_drilled(frame: &mut Frame, screen: &Screen, view: &View, paused: bool) {
    super::draw::draw(frame, screen, view);
    let area = frame.area();
    let status = Rect {
        y: area.y + area.height.saturating_sub(1),
        height: area.height.min(1),
        ..area
    };
    status_line(
        frame,
        status,
        format!(
            " netns {} · sorted by {} · {} of {} destinations{} · Esc/Bksp all namespaces  q quit  s sort  Enter details  ? help",
            screen.header.namespace,
            view.sort.label(),
            screen.rows.len(),
            screen.destination_count,
            if paused { " · PAUSED" } else { "" }
        ),
    );
}

fn draw_table(frame: &mut Frame, screen: &AllScreen, view: &AllView, area: Rect) {
    let wide = area.width >= 150;
    let traced = screen.tracing.starts_with("traced");
    let mut heading = vec![
        "NAMESPACE",
        if wide { "FINDINGS" } else { "STATUS" },
        "TW",
        "CW",
        "WORST DEST",
        "RATIO",
        "OUT IN",
        "NEW/S",
        "TOP CREATOR",
    ];
    let mut widths = vec![
        Constraint::Length(if wide { 26 } else { 15 }),
        Constraint::Length(if wide { 46 } else { 6 }),
        Constraint::Length(if wide { 8 } else { 6 }),
        Constraint::Length(if wide { 6 } else { 4 }),
        Constraint::Length(if wide { 24 } else { 15 }),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(if wide { 7 } else { 5 }),
        Constraint::Min(8),
    ];
    if wide {
        heading.insert(0, "NETNS");
        widths.insert(0, Constraint::Length(10));
    }
    let right = |text: String| Cell::from(Line::from(text).alignment(Alignment::Right));
    let count = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
    let rows = screen.rows.iter().map(|r| {
        let names = match (wide, r.names.as_str()) {
            (false, "-") => r.inode.to_string(),
            _ => r.names.clone(),
        };
        let creator = match (&r.worst, wide) {
            (Some(w), false) => match &w.creator {
                Some(c) if traced && !w.traced => format!("{}?", c.trim_start_matches("pid ")),
                Some(c) => c.trim_start_matches("pid ").to_string(),
                None => "-".to_string(),
            },
            _ => r.creator(),
        };
        let findings = match wide {
            true => r.verdict_long(),
            false => r.verdict_short(),
        };
        let style = match r.verdict {
            Status::Error => Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            Status::ChangesPending if r.critical > 0 => Style::new().add_modifier(Modifier::BOLD),
            _ => Style::new(),
        };
        let mut cells = vec![
            Cell::from(names),
            Cell::from(findings),
            right(count(r.time_wait)),
            right(count(r.close_wait)),
            Cell::from(
                r.worst
                    .as_ref()
                    .map_or("-", |w| w.remote.as_str())
                    .to_string(),
            ),
            right(r.ratio_text()),
            right(r.out_in()),
            right(rate(r.new_per_second)),
            Cell::from(creator),
        ];
        if wide {
            cells.insert(0, right(r.inode.to_string()));
        }
        TableRow::new(cells).style(style)
    });
    let title = format!(
        " network namespaces, sorted by {}; creators {} ",
        view.sort.label(),
        creators_known(traced, wide)
    );
    let table = Table::new(rows, widths);
    draw_sorted(
        frame,
        area,
        table,
        heading,
        title,
        view.selected,
        screen.rows.len(),
    );
}
