//! `top`: the live view. Gathers once, then re-reads what changes every
//! interval (`twtune::facts::live`), judges with the normal rules and shows
//! it: full screen on a terminal, one plain block per interval otherwise or
//! with `--iterations`. Reads only: nothing here applies anything.
//!
//! SIGTERM and SIGINT are blocked before anything starts (no thread exists
//! yet) and looked for between reads, so either ends top with the terminal
//! restored and exit status 0, like `q`.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use twtune::cli::{Cli, Format, TopArgs};
use twtune::exit_code::Exit;
use twtune::facts::live::{self, Live};
use twtune::facts::{Facts, GatherOptions};
use twtune::render::top::draw::{Overlay, View};
use twtune::render::top::{self, History, Screen};
use twtune::rules::{self, Evaluation, RuleSet};

use super::{every, pipeline};

pub fn top(cli: &Cli, args: &TopArgs) -> anyhow::Result<Exit> {
    refuse_format(cli)?;
    let signals = every::block_termination()?;
    let rule_set = pipeline::load_rules(cli)?;
    let namespace = match &args.netns {
        Some(target) => Some(pipeline::enter_target(cli, target)?.identity),
        None => None,
    };
    let options = GatherOptions::of(super::pipeline::source(cli)).with_namespace(namespace);
    let live = Live::start(options).with_context(|| match &cli.config_root {
        Some(config) => format!("gathering facts (configuration under {})", config.display()),
        None => format!("gathering facts under {}", cli.root.display()),
    })?;
    let session = Session {
        live,
        rules: rule_set,
        history: History::default(),
        interval: args.interval,
        signals,
    };
    match line_mode(args) {
        true => session.lines(args.iterations),
        false => session.terminal(),
    }
}

/// Top draws for people: any `--format` but human is refused.
pub(super) fn refuse_format(cli: &Cli) -> anyhow::Result<()> {
    if cli.format != Format::Human {
        bail!(
            "top draws for people (--format human); for a document per interval use `twtune check --every DURATION --format json`"
        );
    }
    Ok(())
}

/// Plain blocks (with `--iterations`, or when stdout is no terminal), or
/// the full-screen view.
pub(super) fn line_mode(args: &TopArgs) -> bool {
    args.iterations.is_some() || !std::io::stdout().is_terminal()
}

/// The terminal in raw mode on the alternate screen, restored when the
/// returned value is dropped: an error, a panic (ratatui's hook), q.
pub(super) fn init_terminal() -> anyhow::Result<Terminal> {
    let terminal = ratatui::try_init().context("setting up the terminal")?;
    Ok(Terminal(terminal))
}

/// A terminal set up by [`init_terminal`].
pub(super) struct Terminal(ratatui::DefaultTerminal);

impl Drop for Terminal {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

impl std::ops::Deref for Terminal {
    type Target = ratatui::DefaultTerminal;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Terminal {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

struct Session {
    live: Live,
    rules: RuleSet,
    history: History,
    interval: Duration,
    signals: nix::libc::sigset_t,
}

/// Writes one block of the line mode; false when the reader has gone
/// (`twtune top | head`): the end of the session, not an error.
pub(super) fn print_block(block: &str) -> anyhow::Result<bool> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(block.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

pub(super) fn now() -> String {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    top::clock(seconds)
}

impl Session {
    /// Whether SIGTERM or SIGINT is pending.
    fn terminated(&self) -> anyhow::Result<bool> {
        every::wait_for_termination(&self.signals, Duration::ZERO)
    }

    /// Waits until `deadline`, reading the trace meanwhile; true when a
    /// signal asked to stop.
    fn wait_until(&mut self, deadline: Instant) -> anyhow::Result<bool> {
        loop {
            if self.terminated()? {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            live::wait(&mut self.live, left.min(live::POLL));
        }
    }

    /// Re-reads, judges and records the changes.
    fn refresh(&mut self, at: &str) -> anyhow::Result<Evaluation> {
        let facts = self.live.refresh().context("reading the host again")?;
        let evaluation = rules::evaluate(&self.rules, facts);
        self.history.update(&evaluation, &self.rules, at);
        Ok(evaluation)
    }

    /// The line mode: a block per interval, `iterations` of them (until a
    /// signal or a closed pipe without).
    fn lines(mut self, iterations: Option<u64>) -> anyhow::Result<Exit> {
        let mut done = 0u64;
        let mut deadline = Instant::now() + self.interval;
        while iterations.is_none_or(|n| done < n) {
            if self.wait_until(deadline)? {
                break;
            }
            deadline += self.interval;
            let at = now();
            let evaluation = self.refresh(&at)?;
            for failure in &evaluation.errors {
                eprintln!(
                    "twtune: error: {}",
                    twtune::render::escape::text(&failure.to_string())
                );
            }
            let screen = top::screen(
                self.live.facts(),
                &evaluation,
                &self.history,
                top::Sort::default(),
                &at,
            );
            if !print_block(&top::lines::block(&screen, self.history.added()))? {
                break;
            }
            done += 1;
        }
        Ok(Exit::Compliant)
    }

    /// The full-screen view, until q, Ctrl-C, SIGTERM or SIGINT.
    fn terminal(mut self) -> anyhow::Result<Exit> {
        let mut terminal = init_terminal()?;
        let mut view = View::default();
        let at = now();
        let mut evaluation = rules::evaluate(&self.rules, self.live.facts());
        self.history.update(&evaluation, &self.rules, &at);
        let mut screen = top::screen(
            self.live.facts(),
            &evaluation,
            &self.history,
            view.sort,
            &at,
        );
        let mut deadline = Instant::now() + self.interval;
        loop {
            terminal
                .draw(|frame| top::draw::draw(frame, &screen, &view))
                .context("drawing")?;
            // Keys until the next refresh, the trace read meanwhile.
            let mut redraw = false;
            while !redraw {
                if self.terminated()? {
                    return Ok(Exit::Compliant);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                if event::poll(left.min(live::POLL)).context("reading the keyboard")? {
                    match event::read().context("reading the keyboard")? {
                        Event::Key(key) if key.kind != KeyEventKind::Release => {
                            let ctrl_c = key.code == KeyCode::Char('c')
                                && key.modifiers.contains(KeyModifiers::CONTROL);
                            if ctrl_c || key.code == KeyCode::Char('q') {
                                return Ok(Exit::Compliant);
                            }
                            self::key(
                                key.code,
                                &mut view,
                                &mut screen,
                                self.live.facts(),
                                &evaluation,
                                &self.rules,
                            );
                            redraw = true;
                        }
                        Event::Resize(..) => redraw = true,
                        _ => {}
                    }
                }
                self.live.poll();
            }
            if Instant::now() >= deadline {
                deadline = Instant::now() + self.interval;
                if !view.paused {
                    let at = now();
                    evaluation = self.refresh(&at)?;
                    screen = top::screen(
                        self.live.facts(),
                        &evaluation,
                        &self.history,
                        view.sort,
                        &at,
                    );
                }
            }
        }
    }
}

/// What a key does to the single-namespace view (`q` and Ctrl-C are the
/// caller's): shared by `top` and a namespace drilled into from `top
/// --all-netns`.
pub(super) fn key(
    code: KeyCode,
    view: &mut View,
    screen: &mut Screen,
    facts: &Facts,
    evaluation: &Evaluation,
    rules: &RuleSet,
) {
    let details_open = matches!(view.overlay, Overlay::Details { .. });
    match code {
        KeyCode::Char('s') => {
            view.sort = view.sort.next();
            top::sort_rows(&mut screen.rows, view.sort);
        }
        KeyCode::Char('p') => view.paused = !view.paused,
        KeyCode::Char('?') => {
            view.overlay = match view.overlay {
                Overlay::Help => Overlay::None,
                _ => Overlay::Help,
            }
        }
        KeyCode::Esc => view.overlay = Overlay::None,
        KeyCode::Up | KeyCode::Char('k') => match &mut view.overlay {
            Overlay::Details { scroll, .. } => *scroll = scroll.saturating_sub(1),
            _ => view.selected = view.selected.saturating_sub(1),
        },
        KeyCode::Down | KeyCode::Char('j') => match &mut view.overlay {
            Overlay::Details { scroll, .. } => *scroll = scroll.saturating_add(1),
            _ => view.selected = (view.selected + 1).min(screen.rows.len().saturating_sub(1)),
        },
        KeyCode::Enter if !details_open => {
            if let Some(row) = screen.rows.get(view.selected) {
                view.overlay = Overlay::Details {
                    lines: top::details(facts, evaluation, rules, &row.remote, &row.local),
                    scroll: 0,
                };
            }
        }
        KeyCode::Enter => view.overlay = Overlay::None,
        _ => {}
    }
}
