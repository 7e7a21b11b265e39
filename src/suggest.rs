//! "Did you mean …?": the closest known names to a mistyped one.

/// The Levenshtein distance between `a` and `b`, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Up to three of `candidates` close enough to `word` to be what was meant
/// (within a third of its length, at least 2 edits, or a name it begins),
/// nearest first.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let distance = |c: &str| match word.len() >= 4 && c.starts_with(word) {
        true => 1,
        false => edit_distance(word, c),
    };
    let mut near: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (distance(c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    near.sort();
    near.dedup();
    near.into_iter().take(3).map(|(_, c)| c).collect()
}

/// "; did you mean a, b?" or "" when nothing is close.
pub fn did_you_mean(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        _ => format!("; did you mean {}?", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_names_come_first_and_far_ones_not_at_all() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        let ids = [
            "tcp-timestamps-off",
            "tcp-tw-recycle-enabled",
            "tcp-tw-reuse-outbound-pressure",
        ];
        assert_eq!(closest("tcp-timestamp-off", ids), ["tcp-timestamps-off"]);
        assert_eq!(
            closest("tcp-tw-recycle-enable", ids),
            ["tcp-tw-recycle-enabled"]
        );
        assert_eq!(closest("tcp-tw-recycle", ids), ["tcp-tw-recycle-enabled"]);
        assert!(closest("conntrack", ids).is_empty());
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&["a", "b"]), "; did you mean a, b?");
    }
}
