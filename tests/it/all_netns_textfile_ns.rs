//! `check --all-netns --textfile` that fails as a whole (issue 22): the
//! file is replaced by the failure exposition, `twtune_check_success 0`, as
//! a single check's is — never an older success left to go stale.

use crate::support::tier::Need;
use crate::support::{stderr, stdout, twtune};

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a sample value"))
}

#[test]
fn a_failed_all_netns_run_replaces_the_textfile_with_check_success_0() {
    needs!(Need::Root, Need::Tool("promtool"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twtune.prom");
    let file_arg = file.to_str().unwrap();
    // A run that works: every namespace's series, the host's among them.
    let ok = twtune()
        .args(["check", "--all-netns", "--textfile", file_arg])
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{e}: exit {:?}, {}", ok.status, stderr(&ok)));
    assert!(
        text.lines()
            .any(|l| l.starts_with("twtune_check_success{netns=\"host\",") && l.ends_with(" 1")),
        "{text}"
    );

    // Rules that do not load: the run fails before any namespace is entered.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("broken.toml"), "[[rule]\nid = ").unwrap();
    let rules_arg = rules.path().to_str().unwrap();
    let failed = twtune()
        .args([
            "--rules",
            rules_arg,
            "check",
            "--all-netns",
            "--textfile",
            file_arg,
        ])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("broken.toml"),
        "{}",
        stderr(&failed)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let check = crate::prometheus::promtool_check_metrics(&text);
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        stdout(&check),
        stderr(&check)
    );
    assert_eq!(sample(&text, "twtune_check_success"), Some(0.0), "{text}");
    // No namespace's series is left from the run before.
    assert!(!text.contains("netns=\""), "{text}");
    assert!(
        text.ends_with("twtune_apply_interrupted 0\n")
            || text.ends_with("twtune_apply_interrupted 1\n"),
        "{text}"
    );

    // Printed instead: the same document on stdout, the error on stderr.
    let printed = twtune()
        .args([
            "--rules",
            rules_arg,
            "check",
            "--all-netns",
            "--format",
            "prometheus",
        ])
        .output()
        .unwrap();
    assert_eq!(printed.status.code(), Some(1));
    assert_eq!(sample(&stdout(&printed), "twtune_check_success"), Some(0.0));
    // The JSON and the table have no failure document: the error alone.
    let json = twtune()
        .args([
            "--rules",
            rules_arg,
            "check",
            "--all-netns",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    assert!(json.stdout.is_empty(), "{}", stdout(&json));
}
