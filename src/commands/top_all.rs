//! `top --all-netns`: every network namespace, one row each, refreshed
//! every interval. Each refresh lists the namespaces again: each is entered
//! by the main thread (as `check --all-netns` does, see
//! `twtune::facts::netns`), re-read there with its own session of readings
//! (`twtune::facts::live::Watched`: gathered whole when first seen, then
//! only what moves), judged, and left. One trace runs for the whole
//! session, each event counted for its thread's namespace
//! (`twtune::facts::trace::SplitTrace`), drained once per refresh.
//!
//! A namespace that appears is gathered whole at its first refresh; one
//! that vanished is dropped; one whose inode the kernel gave to a new
//! namespace (another cookie) starts afresh. None of these is an error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use twtune::cli::{Cli, TopArgs};
use twtune::exit_code::Exit;
use twtune::facts::GatherOptions;
use twtune::facts::live::{POLL, Watched};
use twtune::facts::netns::{self, Namespace};
use twtune::facts::sampling;
use twtune::facts::trace::{SplitAccumulator, SplitTrace, Tracer};
use twtune::render::netns::{Checked, Skipped};
use twtune::render::top::all::{self, AllScreen};
use twtune::render::top::draw::{Overlay, View};
use twtune::render::top::draw_all::{self, AllView};
use twtune::render::top::{self, History, Screen};
use twtune::rules::RuleSet;

use super::netns_visit::{AllChecked, Done, Keep, enter, hold, options_for};
use super::{every, pipeline};

/// A namespace watched since an earlier refresh.
struct Known {
    /// Its cookie when first seen: an inode alone may be a newcomer's.
    cookie: Option<u64>,
    watched: Watched,
    history: History,
}

/// Every namespace a refresh judged, whole, and those it skipped.
#[derive(Default)]
struct Judged {
    checked: Vec<Checked>,
    skipped: Vec<Skipped>,
    failed: bool,
}

struct AllSession<'a> {
    cli: &'a Cli,
    rules: RuleSet,
    home: Namespace,
    tracer: Result<Tracer<SplitAccumulator>, String>,
    known: HashMap<u64, Known>,
    /// The last refresh: every namespace judged, and those skipped.
    all: Judged,
    /// When the last refresh was made, `HH:MM:SS` UTC.
    at: String,
    interval: Duration,
    signals: nix::libc::sigset_t,
}

pub fn top_all(cli: &Cli, args: &TopArgs) -> anyhow::Result<Exit> {
    super::top::refuse_format(cli)?;
    pipeline::refuse_root(cli, "--all-netns")?;
    let signals = every::block_termination()?;
    let rules = pipeline::load_rules(cli)?;
    let home = Namespace::current()?;
    let tracer = sampling::tracer(
        &GatherOptions::of(pipeline::source(cli)),
        Tracer::start_split,
    );
    let mut session = AllSession {
        cli,
        rules,
        home,
        tracer,
        known: HashMap::new(),
        all: Judged::default(),
        at: String::new(),
        interval: args.interval,
        signals,
    };
    // The first readings of every namespace, whole.
    session.refresh(&super::top::now())?;
    match super::top::line_mode(args) {
        true => session.lines(args.iterations),
        false => session.terminal(),
    }
}

impl AllSession<'_> {
    fn terminated(&self) -> anyhow::Result<bool> {
        every::wait_for_termination(&self.signals, Duration::ZERO)
    }

    fn poll(&mut self) {
        if let Ok(tracer) = &mut self.tracer {
            tracer.poll();
        }
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
            std::thread::sleep(left.min(POLL));
            self.poll();
        }
    }

    /// Lists the namespaces again and reads, judges and records each.
    fn refresh(&mut self, at: &str) -> anyhow::Result<()> {
        let split = match &mut self.tracer {
            Ok(tracer) => tracer.drain(),
            Err(reason) => SplitTrace::unavailable(reason.clone()),
        };
        let listed = netns::list_all().context("listing network namespaces")?;
        let mut all = AllChecked::new(Keep::Whole);
        let mut known = HashMap::new();
        for found in listed {
            let inode = found.inode;
            let Some(held) = hold(found, &mut all.skipped) else {
                continue;
            };
            match enter(&held, &mut all.skipped) {
                Ok(true) => {}
                Ok(false) => continue,
                // Watching goes on: this namespace is shown as skipped.
                Err(err) => {
                    all.skipped.push(Skipped {
                        inode,
                        reason: format!("could not be entered: {err:#}"),
                    });
                    continue;
                }
            }
            let cookie = netns::current_cookie().ok().flatten();
            let (gathered, kept) = match self.known.remove(&inode).filter(|k| k.cookie == cookie) {
                Some(mut k) => {
                    let gathered = k.watched.refresh(split.for_namespace(inode)).cloned();
                    (gathered, Some(k))
                }
                None => match Watched::start(options_for(self.cli, &self.home, &held.found)) {
                    Ok(watched) => (
                        Ok(watched.facts().clone()),
                        Some(Known {
                            cookie,
                            watched,
                            history: History::default(),
                        }),
                    ),
                    Err(err) => (Err(err), None),
                },
            };
            self.home
                .enter()
                .context("returning to twtune's own network namespace")?;
            let judged = all.checked.len();
            all.judge(&self.rules, held.found, gathered)?;
            // Kept while it can be read; one that failed starts afresh.
            let judged = all.checked.get(judged).and_then(Done::whole);
            if let (Some(mut k), Some(c)) = (kept, judged) {
                k.history.update(&c.evaluation, &self.rules, at);
                known.insert(inode, k);
            }
        }
        self.known = known;
        let (skipped, failed) = (std::mem::take(&mut all.skipped), all.failed);
        self.all = Judged {
            checked: all.into_whole(),
            skipped,
            failed,
        };
        self.at = at.to_string();
        Ok(())
    }

    fn screen(&self, view: &AllView) -> AllScreen {
        all::screen(
            &self.all.checked,
            &self.all.skipped,
            self.all.failed,
            view.sort,
            &self.at,
        )
    }

    /// The single-namespace screen of `inode`, if it is still there.
    fn drilled(&self, inode: u64, view: &View) -> Option<Screen> {
        let c = self.all.checked.iter().find(|c| c.inode == inode)?;
        let k = self.known.get(&inode)?;
        Some(top::screen(
            &c.facts,
            &c.evaluation,
            &k.history,
            view.sort,
            &self.at,
        ))
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
            self.refresh(&super::top::now())?;
            for c in &self.all.checked {
                for failure in &c.evaluation.errors {
                    eprintln!(
                        "twtune: error: namespace {}: {}",
                        c.inode,
                        twtune::render::escape::text(&failure.to_string())
                    );
                }
            }
            if !super::top::print_block(&all::block(&self.screen(&AllView::default())))? {
                break;
            }
            done += 1;
        }
        Ok(Exit::Compliant)
    }

    /// The full-screen view, until q, Ctrl-C, SIGTERM or SIGINT.
    fn terminal(mut self) -> anyhow::Result<Exit> {
        let mut terminal = super::top::init_terminal()?;
        let mut view = AllView::default();
        let mut deadline = Instant::now() + self.interval;
        loop {
            let mut drilled = view
                .drilled
                .as_ref()
                .and_then(|(inode, v)| self.drilled(*inode, v));
            if drilled.is_none() {
                // Not drilled in, or the namespace is gone (or unreadable
                // now): every namespace.
                view.drilled = None;
            }
            let screen = self.screen(&view);
            terminal
                .draw(|frame| match (&drilled, &view.drilled) {
                    (Some(single), Some((_, v))) => {
                        draw_all::draw_drilled(frame, single, v, view.paused)
                    }
                    _ => draw_all::draw_all(frame, &screen, &view),
                })
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
                if event::poll(left.min(POLL)).context("reading the keyboard")? {
                    match event::read().context("reading the keyboard")? {
                        Event::Key(key) if key.kind != KeyEventKind::Release => {
                            let ctrl_c = key.code == KeyCode::Char('c')
                                && key.modifiers.contains(KeyModifiers::CONTROL);
                            if ctrl_c || key.code == KeyCode::Char('q') {
                                return Ok(Exit::Compliant);
                            }
                            self.key(key.code, &mut view, &screen, drilled.as_mut());
                            redraw = true;
                        }
                        Event::Resize(..) => redraw = true,
                        _ => {}
                    }
                }
                self.poll();
            }
            if Instant::now() >= deadline {
                deadline = Instant::now() + self.interval;
                if !view.paused {
                    self.refresh(&super::top::now())?;
                }
            }
        }
    }

    fn key(
        &self,
        code: KeyCode,
        view: &mut AllView,
        screen: &AllScreen,
        drilled: Option<&mut Screen>,
    ) {
        if code == KeyCode::Char('p') {
            view.paused = !view.paused;
            return;
        }
        if let (Some((inode, single)), Some(drilled)) = (&mut view.drilled, drilled) {
            let back = match code {
                KeyCode::Backspace => true,
                KeyCode::Esc => single.overlay == Overlay::None,
                _ => false,
            };
            if back {
                view.drilled = None;
                return;
            }
            if let Some(c) = self.all.checked.iter().find(|c| c.inode == *inode) {
                super::top::key(code, single, drilled, &c.facts, &c.evaluation, &self.rules);
            }
            return;
        }
        match code {
            KeyCode::Char('s') => view.sort = view.sort.next(),
            KeyCode::Char('?') => view.help = !view.help,
            KeyCode::Esc => view.help = false,
            KeyCode::Up | KeyCode::Char('k') => view.selected = view.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                view.selected = (view.selected + 1).min(screen.rows.len().saturating_sub(1));
            }
            KeyCode::Enter => {
                if let Some(row) = screen.rows.get(view.selected) {
                    view.help = false;
                    view.drilled = Some((row.inode, View::default()));
                }
            }
            _ => {}
        }
    }
}
