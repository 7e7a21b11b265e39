//! Colour in the human output: on a terminal unless NO_COLOR is set or
//! TERM=dumb; `--color always|never` overrides both. A real pseudo-terminal
//! (util-linux `script`) stands for the terminal.

use std::process::Command;

use crate::support::netns::require_tool;
use crate::support::tier::Need;
use crate::support::{Run, Scenario, TWTUNE, fixtures};

const ESC: char = '\u{1b}';

/// `twtune --root FIXTURE check ARGS` on a pseudo-terminal, with `env` set.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> String {
    require_tool("script", "util-linux");
    let root = fixtures().join("centos7-tw-recycle");
    let mut command = Command::new("script");
    command
        .args(["-q", "-e", "-c"])
        .arg(format!("{TWTUNE} --root {} check {args}", root.display()))
        .arg("/dev/null")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    for (k, v) in env {
        command.env(k, v);
    }
    let run = Run::of(command);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    run.stdout()
}

#[test]
fn a_terminal_gets_colour_unless_no_color_or_term_dumb() {
    needs!(Need::Tool("script"));
    assert!(on_a_terminal("", &[]).contains(ESC), "colour on a terminal");
    assert!(!on_a_terminal("", &[("NO_COLOR", "1")]).contains(ESC));
    assert!(!on_a_terminal("", &[("TERM", "dumb")]).contains(ESC));
    assert!(!on_a_terminal("--color never", &[]).contains(ESC));
    assert!(on_a_terminal("--color always", &[("TERM", "dumb")]).contains(ESC));
}

#[test]
fn color_always_colours_a_pipe_and_never_is_the_default_there() {
    let fx = Scenario::fixture("centos7-tw-recycle");
    let piped = fx.twtune(&["check"]).expect_code(2).stdout();
    assert!(!piped.contains(ESC), "no colour into a pipe");
    let forced = fx
        .twtune(&["--color", "always", "check"])
        .expect_code(2)
        .stdout();
    assert!(forced.contains(&format!("{ESC}[")), "{forced:?}");
    // Only twtune's own codes: stripped of them, the text is the plain one.
    let mut stripped = String::new();
    let mut rest = forced.as_str();
    while let Some(at) = rest.find(ESC) {
        stripped.push_str(&rest[..at]);
        let after = &rest[at..];
        rest = &after[after.find('m').unwrap() + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, piped);
    let run = fx.twtune(&["--color", "sometimes", "check"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
}
