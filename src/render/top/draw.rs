//! The terminal view: a [`Screen`] drawn with ratatui, whatever the
//! backend (crossterm on a terminal, `TestBackend` in the tests).

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table, TableState, Wrap,
};

use super::lines::header_parts;
use super::{Screen, Sort, What, bar, duration, percent, rate, yes_no};
use crate::rules::Severity;

/// What is shown over the table.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Overlay {
    #[default]
    None,
    Help,
    /// Enter on a destination: its lines, scrolled by this many.
    Details {
        lines: Vec<String>,
        scroll: u16,
    },
}

/// The state the keys change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct View {
    pub sort: Sort,
    pub paused: bool,
    /// The selected row of the table.
    pub selected: usize,
    pub overlay: Overlay,
}

/// The keys, for the help overlay and the status line.
pub const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit (the terminal is restored)"),
    (
        "s",
        "sort by the next column: time to exhaustion, ports taken, new conn/s, TIME_WAIT",
    ),
    ("p", "pause / resume refreshing (tracing goes on)"),
    ("Up, Down", "select a destination"),
    (
        "Enter",
        "its creators, and the rule text (explain) of what fires for it",
    ),
    ("Esc", "close this window"),
    ("?", "this help"),
];

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Critical => Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        Severity::Warning => Style::new().add_modifier(Modifier::BOLD),
        Severity::Info => Style::new(),
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, screen: &Screen, view: &View) {
    let area = frame.area();
    let header = fill_parts(header_parts(screen), usize::from(area.width));
    let changes_height = (area.height / 4).clamp(3, 12);
    let [head, table, changes, status] = Layout::vertical([
        Constraint::Length(header.len().min(4) as u16),
        Constraint::Min(3),
        Constraint::Length(changes_height),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(header.into_iter().map(Line::from).collect::<Vec<_>>()),
        head,
    );
    draw_table(frame, screen, view, table);
    draw_changes(frame, screen, changes);
    status_line(
        frame,
        status,
        format!(
            " sorted by {} · {} of {} destinations{} · q quit  s sort  p pause  Enter details  ? help",
            view.sort.label(),
            screen.rows.len(),
            screen.destination_count,
            if view.paused { " · PAUSED" } else { "" }
        ),
    );
    match &view.overlay {
        Overlay::None => {}
        Overlay::Help => {
            let lines: Vec<Line> = HELP
                .iter()
                .map(|(key, what)| Line::from(format!("{key:<10} {what}")))
                .collect();
            popup(frame, area, " keys ", Text::from(lines), 0);
        }
        Overlay::Details { lines, scroll } => {
            let text: Vec<Line> = lines.iter().map(|l| Line::from(l.as_str())).collect();
            popup(
                frame,
                area,
                " destination (Esc closes, Up/Down scroll) ",
                Text::from(text),
                *scroll,
            );
        }
    }
}

/// The reversed line at the bottom, cut to its width.
pub(super) fn status_line(frame: &mut Frame, area: Rect, mut text: String) {
    text.truncate(
        text.char_indices()
            .nth(usize::from(area.width))
            .map_or(text.len(), |(i, _)| i),
    );
    frame.render_widget(
        Paragraph::new(text).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

/// The header's parts put on as few lines of `width` as they fit, each
/// group starting a line of its own.
pub(super) fn fill_parts(
    groups: impl IntoIterator<Item = Vec<String>>,
    width: usize,
) -> Vec<String> {
    let mut lines = Vec::new();
    for group in groups {
        let mut line = String::new();
        for part in group {
            let wanted = line.chars().count() + 3 + part.chars().count();
            if line.is_empty() {
                line = part;
            } else if wanted <= width {
                line.push_str(" · ");
                line.push_str(&part);
            } else {
                lines.push(std::mem::replace(&mut line, part));
            }
        }
        lines.push(line);
    }
    lines
}

fn draw_table(frame: &mut Frame, screen: &Screen, view: &View, area: Rect) {
    let wide = area.width >= 150;
    let traced = screen.header.tracing.starts_with("traced");
    let mut heading = vec![
        "DESTINATION",
        "TAKEN/USABLE",
        "RATIO",
        "TW",
        "NEW/S",
        if wide { "EXHAUSTED IN" } else { "OUT IN" },
        if wide { "FAILED/S" } else { "FAIL/S" },
        "TS",
        "TOP CREATOR",
    ];
    let mut widths = vec![
        Constraint::Length(if wide { 28 } else { 16 }),
        Constraint::Length(12),
        Constraint::Length(if wide { 17 } else { 6 }),
        Constraint::Length(if wide { 8 } else { 6 }),
        Constraint::Length(if wide { 6 } else { 5 }),
        Constraint::Length(if wide { 12 } else { 6 }),
        Constraint::Length(if wide { 8 } else { 6 }),
        Constraint::Length(3),
        Constraint::Min(10),
    ];
    if wide {
        heading.insert(1, "LOCAL");
        widths.insert(1, Constraint::Length(16));
    }
    // Right-aligned by the cell, so a column the layout narrows cuts
    // padding, never digits.
    let right = |text: String| Cell::from(Line::from(text).alignment(Alignment::Right));
    let rows = screen.rows.iter().map(|r| {
        let ratio = match wide {
            true => format!("{} {:>6}", bar(r.ratio, 10), percent(r.ratio)),
            false => percent(r.ratio),
        };
        // Narrow, whether the creators are traced is said once, in the
        // title; a likely one among traced ones is marked "?".
        let creator = match (&r.creator, wide, r.traced) {
            (Some(c), true, true) => format!("{c} (traced)"),
            (Some(c), true, false) => format!("{c} (likely)"),
            (Some(c), false, false) if traced => format!("{}?", c.trim_start_matches("pid ")),
            (Some(c), false, _) => c.trim_start_matches("pid ").to_string(),
            (None, ..) => "-".to_string(),
        };
        let out_in = match r.ratio >= 1.0 {
            true => "now".to_string(),
            false => duration(r.seconds_to_exhaustion),
        };
        let mut cells = vec![
            Cell::from(r.remote.clone()),
            right(format!("{}/{}", r.taken, r.usable)),
            right(ratio),
            right(r.time_wait.to_string()),
            right(rate(r.new_per_second)),
            right(out_in),
            right(rate(r.failures_per_second)),
            Cell::from(yes_no(r.peer_timestamps)),
            Cell::from(creator),
        ];
        if wide {
            cells.insert(1, Cell::from(r.local.clone()));
        }
        TableRow::new(cells)
    });
    let title = format!(
        " destinations, sorted by {}; creators {} ",
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

/// How a table's creators are known, for its title.
pub(super) fn creators_known(traced: bool, wide: bool) -> &'static str {
    match (traced, wide) {
        (true, true) => "traced",
        (true, false) => "traced (? likely)",
        (false, _) => "likely (untraced)",
    }
}

/// A sorted table as both views draw it (the destinations, the
/// namespaces): a bold heading, a top border titled with what it lists,
/// and the selected one of its `rows` rows reversed.
pub(super) fn draw_sorted<'a>(
    frame: &mut Frame,
    area: Rect,
    table: Table<'a>,
    heading: Vec<&'a str>,
    title: String,
    selected: usize,
    rows: usize,
) {
    let table = table
        .header(TableRow::new(heading).style(Style::new().add_modifier(Modifier::BOLD)))
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .block(Block::new().borders(Borders::TOP).title(title));
    let mut state = TableState::default();
    if rows > 0 {
        state.select(Some(selected.min(rows - 1)));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_changes(frame: &mut Frame, screen: &Screen, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    for change in &screen.changes {
        let text = format!(
            "{} {} [{}] {}: {}",
            change.at,
            change.what.word(),
            change.severity.as_str(),
            change.rule,
            change.summary
        );
        lines.push(match change.what {
            What::Cleared | What::Lowered => Line::from(text),
            What::Appeared | What::Raised => Line::styled(text, severity_style(change.severity)),
        });
    }
    if lines.is_empty() {
        lines.push(Line::from("no finding so far"));
    }
    let title = format!(
        " findings: {} now; changes, newest first ",
        screen.findings.len()
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::TOP).title(title)),
        area,
    );
}

pub(super) fn popup(frame: &mut Frame, area: Rect, title: &str, text: Text, scroll: u16) {
    let inner = Rect {
        x: area.x + area.width / 20,
        y: area.y + area.height / 10,
        width: area.width - area.width / 10,
        height: area.height - area.height / 5,
    };
    frame.render_widget(Clear, inner);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(Block::bordered().title(title.to_string())),
        inner,
    );
}
