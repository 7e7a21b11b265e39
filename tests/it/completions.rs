//! `twtune completions SHELL`: a real bash, given the generated script,
//! completes the command line the way a user's Tab would.

use std::process::Command;

use crate::support::netns::require_tool;
use crate::support::tier::Need;
use crate::support::{stderr, stdout, twtune};

/// What bash offers for `LINE<Tab>` once `script` is sourced: the completion
/// function `complete -p twtune` names is called with COMP_WORDS/COMP_CWORD
/// as readline would set them.
fn bash_completes(script: &str, line: &str) -> Vec<String> {
    require_tool("bash", "bash");
    let program = r#"
source "$1" || exit 10
spec=$(complete -p twtune) || exit 11
function=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
[ -n "$function" ] || exit 12
COMP_LINE=$2
COMP_POINT=${#2}
read -ra COMP_WORDS <<<"$2"
[ "${2: -1}" = " " ] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
"$function" twtune "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twtune.bash");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", program, "bash"])
        .arg(&path)
        .arg(line)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash completion failed ({}): {}",
        out.status,
        stderr(&out)
    );
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_ch_to_check() {
    needs!(Need::Tool("bash"));
    let run = twtune().args(["completions", "bash"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(bash_completes(&stdout(&run), "twtune ch"), ["check"]);
    let offered = bash_completes(&stdout(&run), "twtune ");
    for sub in [
        "check",
        "facts",
        "rules",
        "explain",
        "apply",
        "rollback",
        "top",
        "completions",
    ] {
        assert!(
            offered.iter().any(|o| o == sub),
            "{sub} not offered: {offered:?}"
        );
    }
}

#[test]
fn zsh_and_fish_scripts_name_the_subcommands() {
    for (shell, marker) in [("zsh", "#compdef twtune"), ("fish", "complete -c twtune")] {
        let run = twtune().args(["completions", shell]).output().unwrap();
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        let script = stdout(&run);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        assert!(script.contains("check"), "{shell}: no check subcommand");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let run = twtune().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("tcsh"));
}
