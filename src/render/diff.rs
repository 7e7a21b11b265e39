//! Unified diffs of a file, the one place they are built: the plan's
//! persisted file (before → after apply) and a rollback's (now → after
//! rollback) read the same way.

/// The unified diff from `old` to `new` (`None`: the file does not exist),
/// with three lines of context; empty when they are the same. A missing
/// side is labelled `/dev/null` with `missing` saying why.
pub fn unified(
    file: &str,
    old: Option<&str>,
    new: Option<&str>,
    old_when: &str,
    new_when: &str,
    missing: &str,
) -> String {
    let label = |text: Option<&str>, when: &str| match text {
        Some(_) => format!("{file} ({when})"),
        None => format!("/dev/null ({missing})"),
    };
    similar::TextDiff::from_lines(old.unwrap_or(""), new.unwrap_or(""))
        .unified_diff()
        .context_radius(3)
        .header(&label(old, old_when), &label(new, new_when))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_side_is_dev_null_and_no_change_is_empty() {
        let diff = unified("/f", None, Some("a\n"), "now", "after", "no file yet");
        assert_eq!(
            diff,
            "--- /dev/null (no file yet)\n+++ /f (after)\n@@ -0,0 +1 @@\n+a\n"
        );
        assert_eq!(
            unified("/f", Some("a\n"), Some("a\n"), "now", "after", "x"),
            ""
        );
    }
}
