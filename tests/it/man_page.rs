//! man/twtune.1 is generated from the command-line definition
//! (man/generate.rs, which build.rs also uses for the packaged page); this
//! test keeps it current. After changing src/cli.rs run
//! `TWTUNE_UPDATE_MAN=1 cargo test --test it man_page` and commit the result.

use std::path::Path;
use std::process::Command as Process;

use clap::CommandFactory;
use twtune::cli::Cli;

use crate::support::netns::require_tool;
use crate::support::tier::Need;

#[path = "../../man/generate.rs"]
mod generate;

fn render() -> String {
    String::from_utf8(generate::render(Cli::command())).expect("the page is UTF-8")
}

fn man_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man/twtune.1")
}

#[test]
fn man_page_is_current() {
    let path = man_path();
    let fresh = render();
    if std::env::var_os("TWTUNE_UPDATE_MAN").is_some() {
        // Whole or not at all: another test here formats the file.
        let mut temporary = tempfile::NamedTempFile::new_in(path.parent().unwrap()).unwrap();
        std::io::Write::write_all(&mut temporary, fresh.as_bytes()).unwrap();
        std::fs::set_permissions(
            temporary.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        temporary.persist(&path).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "man/twtune.1 is stale: run `TWTUNE_UPDATE_MAN=1 cargo test --test it man_page`"
    );
}

#[test]
fn man_page_formats_without_a_warning() {
    needs!(Need::Tool("man"));
    require_tool("man", "man-db");
    let out = Process::new("man")
        .args(["--warnings", "-l"])
        .arg(man_path())
        .env("MANPAGER", "cat")
        // The page is UTF-8 (… in the options); under the C locale groff
        // warns that it cannot draw U+2026, whoever runs the test.
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "80")
        .output()
        .expect("run man");
    assert!(out.status.success(), "man failed: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "man --warnings:\n{stderr}");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("TWTUNE_LOCK_WAIT_MS"), "{page}");
}

#[test]
fn man_page_names_no_page_it_does_not_ship() {
    let page = render();
    let shipped: Vec<String> = std::fs::read_dir(man_path().parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for (at, _) in page.match_indices("twtune\\-") {
        let reference: String = page[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ',')
            .collect();
        if let Some(open) = reference.find('(') {
            let file = format!(
                "{}.{}",
                reference[..open].replace("\\-", "-"),
                reference[open + 1..].trim_end_matches(')')
            );
            assert!(
                shipped.contains(&file),
                "the page refers to {reference}, not in man/"
            );
        }
    }
}

#[test]
fn the_synopsis_shows_option_arguments() {
    let page = render();
    let synopsis = &page[page.find(".SH SYNOPSIS").unwrap()..page.find(".SH DESCRIPTION").unwrap()];
    for expected in [
        r"[\fB\-\-root\fR \fIDIR\fR]",
        r"[\fB\-\-sample\fR \fIDURATION\fR]",
        r"[\fB\-\-set\fR \fIKEY=VALUE\fR]...",
        ".SY \"twtune schema\"\n\\fBcheck\\fR|\\fBfacts\\fR|\\fBplan\\fR|\\fBrollback\\fR|\\fBcheck\\-all\\-netns\\fR\n",
    ] {
        assert!(synopsis.contains(expected), "{expected} not in\n{synopsis}");
    }
}
