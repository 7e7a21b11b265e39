//! `twtune top --all-netns` (issue 24): the table of every namespace drawn
//! from fixed facts (TestBackend, 80×24 and 200×50), its order and keys'
//! model, the line mode against two real namespaces made here, and the
//! real thing in a terminal (tmux): Enter drills into a namespace, Esc goes
//! back, q quits with the terminal restored. Other tests make namespaces at
//! the same time: these look at their own rows only.

use std::process::Command;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use twtune::facts::pod::Pod;
use twtune::facts::{self, GatherOptions};
use twtune::render::netns::{Checked, Skipped};
use twtune::render::top::all::{self, NsSort};
use twtune::render::top::draw_all::{self, AllView};
use twtune::rules;

use crate::support::netns::{NamedNs, make_time_wait};
use crate::support::tier::Need;
use crate::support::{TWTUNE, fixtures, stderr, stdout};
use crate::top::{Tmux, hot_facts, rules as rule_set, shell_quote, wait_for};

fn checked(inode: u64, names: &[&str], facts: facts::Facts) -> Checked {
    let evaluation = rules::evaluate(&rule_set(), &facts);
    Checked {
        inode,
        names: names.iter().map(|n| n.to_string()).collect(),
        pids: vec![],
        command: None,
        container: None,
        pod: None,
        facts,
        evaluation,
    }
}

/// Three namespaces as a refresh would judge them: the host's, calm; a
/// pod's, its first destination all but out of ports (the single view's
/// hot facts: traced creator, 250 new connections/s); a named one, calm,
/// with CLOSE_WAIT.
fn namespaces() -> (Vec<Checked>, Vec<Skipped>) {
    let calm = || {
        facts::gather(&GatherOptions::new(fixtures().join("debian12-defaults")))
            .expect("the fixture gathers")
    };
    let mut host = calm();
    host.namespace.initial = Some(true);
    let mut hot = hot_facts();
    hot.namespace.initial = Some(false);
    let mut rates = facts::rates::compute(&hot.counters, &hot.counters, Duration::from_secs(1));
    rates.active_opens = Some(250.0);
    hot.rates = Some(rates);
    let mut named = calm();
    named.namespace.initial = Some(false);
    named.sockets.as_mut().unwrap().close_wait = 7;
    let mut pod = checked(4026532300, &[], hot);
    pod.pod = Some(Pod {
        namespace: Some("shop".into()),
        name: Some("checkout-7d9f".into()),
        uid: None,
    });
    let all = vec![
        checked(4026531833, &[], host),
        checked(4026532411, &["blue"], named),
        pod,
    ];
    let skipped = vec![Skipped {
        inode: 4026532999,
        reason: "gone before it could be entered".into(),
    }];
    (all, skipped)
}

fn render(width: u16, height: u16, view: &AllView) -> String {
    let (checked, skipped) = namespaces();
    let screen = all::screen(&checked, &skipped, false, view.sort, "06:30:00");
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| draw_all::draw_all(frame, &screen, view))
        .unwrap();
    terminal.backend().to_string()
}

#[test]
fn the_table_of_every_namespace_at_80_by_24() {
    let screen = render(80, 24, &AllView::default());
    // Narrow, the names are cut to their column.
    assert!(screen.contains("shop/checkout"), "{screen}");
    assert!(screen.contains("traced"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_table_of_every_namespace_at_200_by_50() {
    let screen = render(200, 50, &AllView::default());
    assert!(screen.contains("pid 4242 churner (traced)"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_worst_namespace_comes_first_and_s_sorts_by_the_next_column() {
    let (checked, skipped) = namespaces();
    let screen = all::screen(&checked, &skipped, false, NsSort::Worst, "06:30:00");
    let order = |s: &all::AllScreen| s.rows.iter().map(|r| r.inode).collect::<Vec<_>>();
    // The pod's namespace has the critical finding.
    assert_eq!(screen.rows[0].inode, 4026532300, "{:?}", screen.rows);
    assert!(screen.rows[0].critical > 0);
    assert_eq!(screen.rows[0].names, "shop/checkout-7d9f");
    assert_eq!(screen.rows[0].new_per_second, Some(250.0));
    let worst = screen.rows[0].worst.as_ref().unwrap();
    assert_eq!(worst.remote, "192.0.2.13:443");
    assert_eq!(screen.rows[0].creator(), "pid 4242 churner (traced)");
    // The host's is named as check --all-netns names it.
    assert!(screen.rows.iter().any(|r| r.names == "(host)"));
    // Most TIME_WAIT first: the pod's again; then by CLOSE_WAIT nothing.
    let mut by_tw = screen.rows.clone();
    all::sort_ns_rows(&mut by_tw, NsSort::Worst.next().next());
    assert_eq!(by_tw[0].inode, 4026532300);
    assert!(by_tw.windows(2).all(|w| w[0].time_wait >= w[1].time_wait));
    assert_eq!(order(&screen).len(), 3);
    // The line mode: one line per namespace and the skipped one, no escape.
    let block = all::block(&screen);
    assert!(!block.contains('\u{1b}'));
    assert_eq!(block.lines().filter(|l| l.starts_with("40265")).count(), 3);
    assert!(
        block.contains("skipped 4026532999: gone before it could be entered"),
        "{block}"
    );
    assert!(block.ends_with("\n\n"));
}

#[test]
fn help_lists_every_key() {
    let view = AllView {
        help: true,
        ..AllView::default()
    };
    let screen = render(120, 30, &view);
    for key in ["q, Ctrl-C", "Enter", "Esc, Bksp", "p ", "s "] {
        assert!(screen.contains(key), "{key:?} not in\n{screen}");
    }
}

/// The TW and CW figures of the line-mode row of `inode`, read under the
/// heading's columns (right-aligned numbers end where their heading ends).
fn counts_in(block: &str, inode: u64) -> Option<(String, String)> {
    let heading = block
        .lines()
        .find(|l| l.trim_start().starts_with("NETNS"))?;
    let row = block
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&inode.to_string()))?;
    let cell = |name: &str| {
        let end = heading.find(name)? + name.len();
        let text = row.get(..end)?;
        Some(text.rsplit(' ').next()?.to_string())
    };
    Some((cell(" TW")?, cell(" CW")?))
}

fn inode_of(ns: &NamedNs) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{}", ns.name))
        .unwrap()
        .ino()
}

#[test]
fn the_line_mode_prints_a_row_per_namespace_with_its_counts() {
    needs!(Need::Root, Need::Tool("ip"));
    let busy = NamedNs::new("topall-busy");
    let quiet = NamedNs::new("topall-quiet");
    // 25 TIME_WAIT on the busy namespace's loopback, the client's side.
    busy.run(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        make_time_wait(&listener, 25, true);
    })
    .join()
    .unwrap();
    let out = Command::new(TWTUNE)
        .args([
            "top",
            "--all-netns",
            "--iterations",
            "2",
            "--interval",
            "200ms",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = stdout(&out);
    // The end of the iterations: 0, whatever other namespaces' verdicts.
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(!out.stdout.contains(&0x1b), "no escape code: {text:?}");
    let blocks: Vec<&str> = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    assert_eq!(blocks.len(), 2, "{text}\n{}", stderr(&out));
    for block in blocks {
        let (busy_tw, busy_cw) = counts_in(block, inode_of(&busy))
            .unwrap_or_else(|| panic!("no row of {}:\n{block}", busy.name));
        let (quiet_tw, quiet_cw) = counts_in(block, inode_of(&quiet))
            .unwrap_or_else(|| panic!("no row of {}:\n{block}", quiet.name));
        assert_eq!((busy_tw.as_str(), busy_cw.as_str()), ("25", "0"), "{block}");
        assert_eq!(
            (quiet_tw.as_str(), quiet_cw.as_str()),
            ("0", "0"),
            "{block}"
        );
        // Each row carries its namespace's name.
        for ns in [&busy, &quiet] {
            let inode = inode_of(ns).to_string();
            let row = block
                .lines()
                .find(|l| l.split_whitespace().next() == Some(inode.as_str()))
                .unwrap();
            assert!(row.contains(&ns.name), "{row}");
        }
        let busy_row = block.lines().find(|l| l.contains(&busy.name)).unwrap();
        assert!(busy_row.contains("127.0.0.1:"), "{busy_row}");
    }
}

#[test]
fn all_netns_is_refused_with_netns_and_under_root() {
    let root = fixtures().join("debian12-defaults");
    for (args, says) in [
        (
            &["top", "--all-netns", "--netns", "x", "--iterations", "1"][..],
            "cannot be used with",
        ),
        (
            &[
                "--root",
                root.to_str().unwrap(),
                "top",
                "--all-netns",
                "--iterations",
                "1",
            ][..],
            "--all-netns",
        ),
    ] {
        let out = Command::new(TWTUNE).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn in_a_terminal_enter_drills_into_a_namespace_esc_returns_and_q_quits() {
    needs!(Need::Root, Need::Tool("tmux"), Need::Tool("ip"));
    let ns = NamedNs::new("topall-tmux");
    ns.run(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        make_time_wait(&listener, 12, true);
    })
    .join()
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status");
    let stty = dir.path().join("stty");
    let inner = format!(
        "echo before top; {TWTUNE} top --all-netns --interval 300ms; rc=$?; \
         echo \"top exited $rc\"; echo $rc > {status}.tmp; stty -a > {stty}; \
         mv {status}.tmp {status}; exec sleep 600",
        status = status.display(),
        stty = stty.display(),
    );
    let tmux = Tmux {
        socket: format!("twtune-topall-{}", std::process::id()),
    };
    let script = format!("sh -c {}", shell_quote(&inner));
    // Tall: other tests' namespaces are listed too, and ours must be seen.
    let started = tmux.run(&["new-session", "-d", "-x", "220", "-y", "90", &script]);
    assert!(
        started.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    wait_for(&tmux, "our namespace's row", |s| {
        s.contains("network namespaces, sorted by worst first") && s.contains(&ns.name)
    });
    // Paused, the rows keep their order while ours is selected.
    tmux.run(&["send-keys", "p"]);
    let table = wait_for(&tmux, "the pause", |s| s.contains("PAUSED"));
    let rows: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.contains("NAMESPACE"))
        .skip(1)
        .collect();
    let index = rows
        .iter()
        .position(|l| l.contains(&ns.name))
        .unwrap_or_else(|| panic!("{} not in the table:\n{table}", ns.name));
    for _ in 0..index {
        tmux.run(&["send-keys", "Down"]);
    }
    tmux.run(&["send-keys", "Enter"]);
    // Its destinations: the single-namespace view of it.
    let drilled = wait_for(&tmux, "our namespace's destinations", |s| {
        s.contains("Esc/Bksp all namespaces")
    });
    assert!(drilled.contains("destinations, sorted by"), "{drilled}");
    assert!(drilled.contains(&format!("netns {}", ns.name)), "{drilled}");
    assert!(drilled.contains("127.0.0.1:"), "{drilled}");
    tmux.run(&["send-keys", "Escape"]);
    wait_for(&tmux, "every namespace again", |s| {
        s.contains("network namespaces, sorted by worst first")
    });
    // `s` sorts by the next column.
    tmux.run(&["send-keys", "s"]);
    wait_for(&tmux, "the next sort", |s| {
        s.contains("network namespaces, sorted by time to exhaustion")
    });
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
    assert!(after.contains("before top"), "{after}");
    assert!(!after.contains("network namespaces, sorted by"), "{after}");
    let modes = std::fs::read_to_string(&stty).unwrap();
    assert!(
        modes.split_whitespace().any(|w| w == "icanon")
            && modes.split_whitespace().any(|w| w == "echo"),
        "{modes}"
    );
}
