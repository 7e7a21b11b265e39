//! Text for people: a compact findings table first, details on request.

mod check_page;
mod facts_page;
mod rules_page;

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use super::escape;
use super::style::Style;
use crate::facts::Facts;
use crate::rules::expr::percent_text as percent;
use crate::rules::{
    Evaluation, Finding, Resolved, Rule, RuleSet, Severity, resolve_recommendations,
};
use crate::sysctl::SysctlKey;

pub use check_page::check;
pub use facts_page::facts;
pub use rules_page::{explain, rules_list};

pub struct CheckOptions {
    pub verbose: bool,
    pub rules_checked: usize,
    /// The options that chose what was checked, as typed for a shell:
    /// `--root`/`--rules` (global) and `--netns` (the subcommand's), so a
    /// `Next:` hint pasted back acts on the same target.
    pub target: Target,
}

/// What a run was pointed at, repeated in the commands it suggests.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// ` --root DIR --rules DIR…`, or empty.
    pub global: String,
    /// ` --netns NS`, or empty.
    pub netns: String,
}

impl Target {
    pub fn new(
        root: &std::path::Path,
        rules: &[std::path::PathBuf],
        netns: Option<&str>,
    ) -> Target {
        let mut global = String::new();
        if root != std::path::Path::new("/") {
            global.push_str(&format!(" --root {}", shell_word(&root.to_string_lossy())));
        }
        for dir in rules {
            global.push_str(&format!(" --rules {}", shell_word(&dir.to_string_lossy())));
        }
        let netns = netns
            .map(|n| format!(" --netns {}", shell_word(n)))
            .unwrap_or_default();
        Target { global, netns }
    }
}

/// A word as a POSIX shell reads it back: bare when it is plain, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Human lines stay within this many columns: longer text wraps.
pub const LINE_WIDTH: usize = 120;

/// `text` wrapped at word boundaries to `width` columns, every line after
/// the first indented by `indent` spaces (the first line's own prefix is
/// the caller's, `first` columns wide). A word longer than a line stays
/// whole.
pub fn wrap(text: &str, first: usize, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut column = first;
    let mut line_empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if !line_empty && column + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
            line_empty = true;
        }
        if !line_empty {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
        line_empty = false;
    }
    out
}

/// Runs a section writer into a new String. Writing into a String cannot
/// fail, so the one `fmt::Result` that reaches here is always `Ok`.
fn render(write: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::new();
    let _always_ok = write(&mut out);
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod page_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_repeated_as_a_shell_reads_them() {
        let target = Target::new(
            std::path::Path::new("/srv/host trees/a"),
            &[std::path::PathBuf::from("/etc/rules")],
            Some("blue"),
        );
        assert_eq!(
            target.global,
            " --root '/srv/host trees/a' --rules /etc/rules"
        );
        assert_eq!(target.netns, " --netns blue");
        let host = Target::new(std::path::Path::new("/"), &[], None);
        assert_eq!((host.global.as_str(), host.netns.as_str()), ("", ""));
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn wrapping_keeps_lines_within_the_width_and_words_whole() {
        let text = "aaaa bbbb cccc dddd";
        assert_eq!(wrap(text, 0, 2, 10), "aaaa bbbb\n  cccc\n  dddd");
        assert_eq!(wrap(text, 0, 2, 11), "aaaa bbbb\n  cccc dddd");
        assert_eq!(wrap("abcdefghijkl", 0, 2, 5), "abcdefghijkl");
        assert_eq!(wrap(text, 0, 0, 120), text);
    }
}
