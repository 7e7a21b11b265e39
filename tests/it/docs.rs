//! The documents say what the program does: the README's example is the
//! output of the command it shows, its command table lists every command
//! and it stays under 16 KB; every place the documents name a JSON
//! `schema_version` names the one the binary prints, and CHANGELOG.md says
//! what each version up to it changed.
//!
//! After a deliberate change of output, `TWTUNE_UPDATE_DOCS=1 cargo test
//! --test it docs::` writes the README's example anew; review the diff.

use std::path::PathBuf;
use std::process::Command;

use crate::support::TWTUNE;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(manifest().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The README's example: the first ```text block whose first line is
/// `$ twtune …`. Returns (byte range of the output in the README, the
/// arguments, the output shown).
fn readme_example(readme: &str) -> (std::ops::Range<usize>, Vec<String>, String) {
    let fence = "```text\n$ twtune ";
    let start = readme
        .find(fence)
        .expect("README.md has a ```text block starting with `$ twtune`");
    let command_start = start + "```text\n$ ".len();
    let command_end = command_start + readme[command_start..].find('\n').unwrap();
    let output_start = command_end + 1;
    let output_end = output_start + readme[output_start..].find("```\n").unwrap();
    let args = readme[command_start..command_end]
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect();
    (
        output_start..output_end,
        args,
        readme[output_start..output_end].to_string(),
    )
}

/// Runs twtune from the checkout's top folder, as the README's reader would.
fn run_in_checkout(args: &[String]) -> (String, Option<i32>) {
    let out = Command::new(TWTUNE)
        .current_dir(manifest())
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run twtune");
    (
        String::from_utf8(out.stdout).expect("UTF-8 output"),
        out.status.code(),
    )
}

#[test]
fn the_readme_example_is_what_twtune_prints() {
    let readme = read("README.md");
    let (range, args, shown) = readme_example(&readme);
    assert!(
        args.iter().any(|a| a == "--root"),
        "the README's example must name a fixture tree (--root tests/fixtures/…) so anyone gets the same output: {args:?}"
    );
    let (printed, status) = run_in_checkout(&args);
    assert_eq!(status, Some(2), "the example shows findings: exit 2");
    if std::env::var_os("TWTUNE_UPDATE_DOCS").is_some() {
        let mut updated = readme.clone();
        updated.replace_range(range, &printed);
        std::fs::write(manifest().join("README.md"), updated).unwrap();
        return;
    }
    assert_eq!(
        shown,
        printed,
        "README.md's example is not what `twtune {}` prints; after a deliberate change run `TWTUNE_UPDATE_DOCS=1 cargo test --test it docs::`",
        args.join(" ")
    );
}

/// Every `schema_version` the documents show.
fn versions_named(text: &str) -> Vec<(usize, u64)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for marker in [
            "\"schema_version\": ",
            "schema_version=\"",
            "this document describes ",
        ] {
            let mut rest = line;
            while let Some(at) = rest.find(marker) {
                rest = &rest[at + marker.len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(v) = digits.parse() {
                    found.push((number + 1, v));
                }
            }
        }
    }
    found
}

#[test]
fn the_documents_name_the_schema_version_the_binary_prints() {
    let printed = printed_schema_version();
    let mut checked = 0;
    for path in ["docs/json.md", "docs/monitoring.md"] {
        let text = read(path);
        let named = versions_named(&text);
        assert!(!named.is_empty(), "{path} names no schema_version");
        for (line, version) in named {
            // The plan and rollback documents keep their own version.
            let line_text = text.lines().nth(line - 1).unwrap();
            if line_text.contains("\"dry_run\"") || line_text.contains("rollback_of") {
                continue;
            }
            assert_eq!(
                version, printed,
                "{path}:{line} names schema_version {version}; twtune prints {printed}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "too few places checked: {checked}");
}

/// `check`'s JSON `schema_version`, as the binary prints it.
fn printed_schema_version() -> u64 {
    let (json, _) = run_in_checkout(&[
        "--root".into(),
        "tests/fixtures/debian12-defaults".into(),
        "check".into(),
        "--format".into(),
        "json".into(),
    ]);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("check JSON");
    doc["schema_version"].as_u64().expect("schema_version")
}

#[test]
fn the_changelog_says_what_the_printed_schema_version_changed() {
    let printed = printed_schema_version();
    let changelog = read("CHANGELOG.md");
    let versions = changelog
        .split("## JSON schema versions")
        .nth(1)
        .expect("CHANGELOG.md has a \"JSON schema versions\" section");
    for version in 1..=printed {
        assert!(
            versions.contains(&format!("- **{version}**:")),
            "CHANGELOG.md's JSON schema versions do not say what version {version} changed (twtune prints {printed})"
        );
    }
}

/// The issue's measure of a README read in five minutes; the rest lives in docs/.
const README_MAX_BYTES: usize = 16 * 1024;

#[test]
fn the_readme_is_short_and_lists_every_command() {
    use clap::CommandFactory as _;
    let readme = read("README.md");
    assert!(
        readme.len() <= README_MAX_BYTES,
        "README.md is {} bytes, over {README_MAX_BYTES}: move the detail to docs/",
        readme.len()
    );
    let missing: Vec<String> = twtune::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|name| !readme.contains(&format!("`twtune {name}")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's command table leaves out: {missing:?}"
    );
}
