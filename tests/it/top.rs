//! `twtune top` (issue 24): the screen drawn from fixed facts (ratatui's
//! TestBackend, 80×24 and 200×50), the line mode, bad input, and the real
//! thing in a terminal (tmux) inside a private network namespace with a
//! churning client.

use std::process::Command;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use twtune::facts::sockets::creators::{Attribution, Creator, DestinationFailure};
use twtune::facts::{self, Facts, GatherOptions};
use twtune::render::top::draw::{Overlay, View};
use twtune::render::top::{self, History, Sort, What};
use twtune::rules::{self, RuleSet};

use crate::support::tier::Need;
use crate::support::{TWTUNE, fixtures};

/// debian12-defaults as gathered, with its first destination made hot: all
/// but 1,400 of its ports taken, 250 new connections/s, traced creators and
/// failures, as a traced refresh of one second would report them.
pub(crate) fn hot_facts() -> Facts {
    let mut facts = facts::gather(&GatherOptions::new(fixtures().join("debian12-defaults")))
        .expect("the fixture gathers");
    let sockets = facts
        .sockets
        .as_mut()
        .expect("the fixture has socket tables");
    sockets.tracing.status = "traced".into();
    sockets.tracing.reason = None;
    sockets.tracing.duration_seconds = 1.0;
    let d = &mut sockets.destinations[3];
    d.taken = 26_832;
    d.time_wait = 26_800;
    d.established = 32;
    d.exhaustion_ratio = d.taken as f64 / f64::from(d.usable_ports);
    d.new_per_second = Some(250.0);
    d.seconds_to_exhaustion = Some(5.6);
    d.attribution = Attribution::Traced;
    d.attribution_method = "traced".into();
    d.creators = vec![
        Creator {
            pid: 4242,
            command: "churner".into(),
            cgroup: Some("/system.slice/churner.service".into()),
            container: None,
            connects: Some(240),
            active_closes: Some(238),
            exited: false,
        },
        Creator {
            pid: 77,
            command: "curl".into(),
            cgroup: None,
            container: None,
            connects: Some(10),
            active_closes: Some(9),
            exited: true,
        },
    ];
    d.connect_failures = vec![DestinationFailure {
        pid: 4242,
        command: "churner".into(),
        errno: "EADDRNOTAVAIL".into(),
        count: 12,
    }];
    sockets.max_exhaustion_ratio = sockets.destinations[3].exhaustion_ratio;
    twtune::facts::sockets::name_top_creators(sockets);
    facts
}

pub(crate) fn rules() -> RuleSet {
    RuleSet::load(&fixtures().join("debian12-defaults"), &[]).expect("the built-in rules load")
}

fn render(width: u16, height: u16, view: &View) -> String {
    let facts = hot_facts();
    let rules = rules();
    let evaluation = rules::evaluate(&rules, &facts);
    let mut history = History::default();
    history.update(&evaluation, &rules, "06:30:00");
    let screen = top::screen(&facts, &evaluation, &history, view.sort, "06:30:00");
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| top::draw::draw(frame, &screen, view))
        .unwrap();
    terminal.backend().to_string()
}

#[test]
fn the_screen_at_80_by_24() {
    let screen = render(80, 24, &View::default());
    assert!(screen.contains("192.0.2.13:443"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_screen_at_200_by_50() {
    let screen = render(200, 50, &View::default());
    assert!(screen.contains("pid 4242 churner (traced)"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn enter_shows_the_creators_and_the_rule_text() {
    let facts = hot_facts();
    let rules = rules();
    let evaluation = rules::evaluate(&rules, &facts);
    let d = &facts.sockets.as_ref().unwrap().destinations[3];
    let lines = top::details(&facts, &evaluation, &rules, &d.remote, &d.local).join("\n");
    assert!(
        lines.contains("pid 4242 churner, 240 connects, 238 closed first"),
        "{lines}"
    );
    assert!(
        lines.contains("pid 77 curl, 10 connects, 9 closed first, exited"),
        "{lines}"
    );
    assert!(lines.contains("got EADDRNOTAVAIL 12 times"), "{lines}");
    // The firing rule, and its whole text as `twtune explain` prints it.
    assert!(
        lines.contains("ephemeral-ports-exhausted-toward-destination"),
        "{lines}"
    );
    let explain = twtune::render::human::explain(
        rules
            .get("ephemeral-ports-exhausted-toward-destination")
            .unwrap(),
        twtune::render::style::Style::plain(),
    );
    let first = explain.lines().next().unwrap();
    assert!(lines.contains(first), "{first:?} not in {lines}");
    let view = View {
        overlay: Overlay::Details {
            lines: lines.lines().map(String::from).collect(),
            scroll: 0,
        },
        ..View::default()
    };
    insta::assert_snapshot!(render(80, 24, &view));
}

#[test]
fn findings_appear_and_clear_with_their_time() {
    let rules = rules();
    let hot = hot_facts();
    let calm = facts::gather(&GatherOptions::new(fixtures().join("debian12-defaults"))).unwrap();
    let mut history = History::default();
    history.update(&rules::evaluate(&rules, &calm), &rules, "06:30:00");
    assert!(
        !history
            .changes()
            .any(|c| c.rule == "ephemeral-ports-exhausted-toward-destination")
    );
    history.update(&rules::evaluate(&rules, &hot), &rules, "06:30:01");
    // The same finding with other figures is no change.
    let mut hotter = hot.clone();
    hotter.sockets.as_mut().unwrap().destinations[3].taken += 100;
    history.update(&rules::evaluate(&rules, &hotter), &rules, "06:30:02");
    assert_eq!(
        history.added(),
        0,
        "{:?}",
        history.changes().collect::<Vec<_>>()
    );
    // Failures alone keep it firing, as a warning: lowered.
    let mut warm = hot.clone();
    let d = &mut warm.sockets.as_mut().unwrap().destinations[3];
    d.taken = 1;
    d.exhaustion_ratio = 1.0 / f64::from(d.usable_ports);
    history.update(&rules::evaluate(&rules, &warm), &rules, "06:30:03");
    history.update(&rules::evaluate(&rules, &calm), &rules, "06:30:04");
    let seen: Vec<(String, What)> = history
        .changes()
        .filter(|c| c.rule == "ephemeral-ports-exhausted-toward-destination")
        .map(|c| (c.at.clone(), c.what))
        .collect();
    assert_eq!(
        seen,
        [
            ("06:30:04".to_string(), What::Cleared),
            ("06:30:03".to_string(), What::Lowered),
            ("06:30:01".to_string(), What::Appeared),
        ]
    );
}

#[test]
fn s_sorts_by_the_next_column() {
    let facts = hot_facts();
    let rules = rules();
    let evaluation = rules::evaluate(&rules, &facts);
    let history = History::default();
    let mut screen = top::screen(&facts, &evaluation, &history, Sort::Exhaustion, "06:30:00");
    assert_eq!(screen.rows[0].remote, "192.0.2.13:443", "soonest out first");
    top::sort_rows(&mut screen.rows, Sort::NewPerSecond);
    assert_eq!(screen.rows[0].new_per_second, Some(250.0));
    top::sort_rows(&mut screen.rows, Sort::TimeWait);
    assert_eq!(screen.rows[0].time_wait, 26_800);
    let calmer = screen.rows.iter().skip(1).all(|r| r.time_wait <= 26_800);
    assert!(calmer);
}

fn twtune(args: &[&str]) -> std::process::Output {
    Command::new(TWTUNE)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn the_line_mode_prints_one_plain_block_per_interval_and_ends() {
    let root = fixtures().join("debian12-defaults");
    let root = root.to_str().unwrap();
    let out = twtune(&[
        "--root",
        root,
        "top",
        "--iterations",
        "2",
        "--interval",
        "100ms",
    ]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!out.stdout.contains(&0x1b), "no escape code: {text:?}");
    let blocks = text.split("\n\n").filter(|b| !b.trim().is_empty()).count();
    assert_eq!(blocks, 2, "{text}");
    assert_eq!(
        text.matches(" UTC · kernel 6.1.0-13-amd64").count(),
        2,
        "{text}"
    );
    assert!(text.contains("DESTINATION"), "{text}");
    assert!(text.contains("192.0.2.10:443"), "{text}");
}

#[test]
fn bad_input_is_an_error() {
    for (args, says) in [
        (&["top", "--interval", "0"][..], "--interval"),
        (&["top", "--iterations", "0"][..], "--iterations"),
        (
            &["--format", "json", "top", "--iterations", "1"][..],
            "top draws for people",
        ),
        (
            &[
                "top",
                "--netns",
                "twtune-no-such-namespace",
                "--iterations",
                "1",
            ][..],
            "twtune-no-such-namespace",
        ),
    ] {
        let out = twtune(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// A private tmux server, killed (with everything in it) on drop.
pub(crate) struct Tmux {
    pub(crate) socket: String,
}

impl Tmux {
    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    pub(crate) fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Waits (at most a minute: the suite runs hundreds of tests at once) for
/// `done`; the last screen is in the panic message.
pub(crate) fn wait_for(tmux: &Tmux, what: &str, mut done: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = tmux.screen();
        if done(&screen) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The churning client: a listener on 127.0.0.1, and a main thread named
/// `churner` (prctl) that connects and closes first, leaving TIME_WAIT,
/// every 5 ms.
const CHURNER: &str = r#"
import ctypes, socket, threading, time
ctypes.CDLL(None).prctl(15, b"churner", 0, 0, 0)
server = socket.socket()
server.bind(("127.0.0.1", 7070))
server.listen(4096)
def serve():
    while True:
        conn, _ = server.accept()
        conn.recv(1)
        conn.close()
threading.Thread(target=serve, daemon=True).start()
while True:
    try:
        client = socket.create_connection(("127.0.0.1", 7070))
        client.close()
    except OSError:
        pass
    time.sleep(0.005)
"#;

#[test]
fn in_a_terminal_top_shows_the_hot_destination_and_its_creator_and_q_quits() {
    needs!(
        Need::Root,
        Need::Tool("tmux"),
        Need::Tool("python3"),
        Need::Tool("unshare")
    );
    let dir = tempfile::tempdir().unwrap();
    let churner = dir.path().join("churner.py");
    std::fs::write(&churner, CHURNER).unwrap();
    let status = dir.path().join("status");
    let stty = dir.path().join("stty");
    // A private network namespace: loopback up, 300 ports, no TIME_WAIT
    // reuse, so the churner's destination fills within seconds.
    let inner = format!(
        "ip link set lo up; echo '40000 40299' > /proc/sys/net/ipv4/ip_local_port_range; \
         echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse; python3 {churner} & \
         echo before top; {TWTUNE} top --interval 300ms; rc=$?; echo \"top exited $rc\"; \
         echo $rc > {status}.tmp; stty -a > {stty}; mv {status}.tmp {status}; exec sleep 600",
        churner = churner.display(),
        status = status.display(),
        stty = stty.display(),
    );
    let script = format!("unshare -n -- sh -c {}", shell_quote(&inner));
    let tmux = Tmux {
        socket: format!("twtune-top-{}", std::process::id()),
    };
    let started = tmux.run(&["new-session", "-d", "-x", "160", "-y", "40", &script]);
    assert!(
        started.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    // Its row names the churner, traced (the test runs as root).
    let screen = wait_for(&tmux, "the hot destination and its creator", |s| {
        s.lines()
            .any(|l| l.contains("127.0.0.1:7070") && l.contains("churner (traced)"))
    });
    assert!(screen.contains("destinations, sorted by"), "{screen}");
    let clock = |s: &str| s.split(" UTC").next().map(str::to_string);
    let first = clock(&screen);
    wait_for(&tmux, "a refresh (the header's time moves on)", |s| {
        clock(s) != first && s.contains("127.0.0.1:7070")
    });
    let findings = wait_for(&tmux, "the exhaustion finding to appear", |s| {
        s.contains("appeared") && s.contains("ephemeral-ports-exhausted-toward")
    });
    assert!(
        findings.contains("critical") || findings.contains("warning"),
        "{findings}"
    );
    tmux.run(&["send-keys", "q"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status.exists() {
        assert!(
            Instant::now() < deadline,
            "top did not quit: {}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = wait_for(&tmux, "the shell's screen again", |s| {
        s.contains("top exited")
    });
    assert!(after.contains("top exited 0"), "{after}");
    // The alternate screen was left: the lines printed before top are
    // back, the table is gone.
    assert!(after.contains("before top"), "{after}");
    assert!(!after.contains("destinations, sorted by"), "{after}");
    // Raw mode was left: the line discipline echoes and edits lines again.
    let modes = std::fs::read_to_string(&stty).unwrap();
    assert!(
        modes.split_whitespace().any(|w| w == "icanon")
            && modes.split_whitespace().any(|w| w == "echo"),
        "{modes}"
    );
}

pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
