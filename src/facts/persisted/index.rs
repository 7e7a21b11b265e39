//! The settings sorted by key, once: each key's lines found by a binary
//! search, the distinct keys and the boot's winners read off it in one pass
//! (issue 20 §2: a tree of 100,000 settings sorts them once, not once per
//! question, and a question about one key does not walk all of them).

use std::borrow::Cow;

use super::Setting;

/// Positions in [`super::PersistedConfig::settings`]: every setting sorted by
/// key, then in the order applied (`by_key`), and each key's winner at boot,
/// sorted by key (`boot`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Winners {
    by_key: Vec<usize>,
    boot: Vec<usize>,
}

impl Winners {
    /// The index of `settings`: the boot's winner of a key is its last
    /// line the boot reads (`at_boot`).
    pub fn of(settings: &[Setting]) -> Self {
        let by_key = sorted_by_key(settings);
        let mut boot: Vec<usize> = Vec::new();
        for run in Runs::new(settings, &by_key) {
            if let Some(&last) = run.iter().rev().find(|&&i| settings[i].at_boot) {
                boot.push(last);
            }
        }
        Winners { by_key, boot }
    }

    /// Each key's winner at boot, sorted by key.
    pub fn boot(&self) -> &[usize] {
        &self.boot
    }

    /// `by_key`, if it indexes these `settings` (a configuration built by
    /// hand, not by `gather`, has none): else sorted now.
    pub fn by_key<'a>(&'a self, settings: &[Setting]) -> Cow<'a, [usize]> {
        match self.by_key.len() == settings.len() {
            true => Cow::Borrowed(&self.by_key),
            false => Cow::Owned(sorted_by_key(settings)),
        }
    }
}

/// The positions of the settings sorted by key, then by position. Most keys
/// of a long file share a prefix (`net.ipv4.conf.`): the prefix all keys
/// share is skipped and the next eight bytes compared as one number, so
/// most comparisons are one instruction, not a `memcmp` over the prefix.
pub fn sorted_by_key(settings: &[Setting]) -> Vec<usize> {
    let key = |i: usize| settings[i].key.as_str().as_bytes();
    let Some(first) = settings.first() else {
        return Vec::new();
    };
    let first = first.key.as_str().as_bytes();
    let shared = settings.iter().fold(first.len(), |shared, s| {
        common_len(first, s.key.as_str().as_bytes(), shared)
    });
    let mut order: Vec<(u64, usize)> = (0..settings.len())
        .map(|i| (word_at(key(i), shared), i))
        .collect();
    // Keys hold no NUL (SysctlKey refuses control characters), so a key
    // that ends inside the word, padded with zeros, sorts before every key
    // it is a prefix of, as bytewise order wants.
    let tail = |i: usize| key(i).get(shared + 8..).unwrap_or_default();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| tail(a.1).cmp(tail(b.1)))
            .then(a.1.cmp(&b.1))
    });
    order.into_iter().map(|(_, i)| i).collect()
}

/// How many leading bytes `a` and `b` share, at most `max`.
fn common_len(a: &[u8], b: &[u8], max: usize) -> usize {
    let n = max.min(a.len()).min(b.len());
    let mut i = 0;
    while i + 8 <= n && a[i..i + 8] == b[i..i + 8] {
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The eight bytes of `key` from `at`, big-endian, zero-padded.
fn word_at(key: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    let rest = key.get(at..).unwrap_or_default();
    let n = rest.len().min(8);
    word[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(word)
}

/// The lines of `key` among `by_key`, in the order applied.
pub fn run_of<'a>(settings: &[Setting], by_key: &'a [usize], key: &str) -> &'a [usize] {
    let start = by_key.partition_point(|&i| settings[i].key.as_str() < key);
    let len = by_key[start..].partition_point(|&i| settings[i].key.as_str() == key);
    &by_key[start..start + len]
}

/// Each key's lines, key by key, from a `by_key` order.
pub struct Runs<'a> {
    settings: &'a [Setting],
    rest: &'a [usize],
}

impl<'a> Runs<'a> {
    pub fn new(settings: &'a [Setting], by_key: &'a [usize]) -> Self {
        Runs {
            settings,
            rest: by_key,
        }
    }
}

impl<'a> Iterator for Runs<'a> {
    type Item = &'a [usize];

    fn next(&mut self) -> Option<&'a [usize]> {
        let &first = self.rest.first()?;
        let key = self.settings[first].key.as_str();
        let len = 1 + self.rest[1..]
            .iter()
            .take_while(|&&i| self.settings[i].key.as_str() == key)
            .count();
        let (run, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysctl::SysctlKey;

    fn settings(keys: &[&str]) -> Vec<Setting> {
        keys.iter()
            .enumerate()
            .map(|(n, k)| Setting {
                key: SysctlKey::parse(k).unwrap(),
                value: n.to_string(),
                file: "/etc/sysctl.conf".into(),
                line: n + 1,
                ignore_failure: false,
                at_boot: true,
            })
            .collect()
    }

    /// The plain sort the fast one must equal: by key bytes, then position.
    fn plain(settings: &[Setting]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..settings.len()).collect();
        order.sort_by(|&a, &b| settings[a].key.cmp(&settings[b].key).then(a.cmp(&b)));
        order
    }

    #[test]
    fn the_prefix_sort_is_the_bytewise_sort() {
        let cases: &[&[&str]] = &[
            &[],
            &["net.ipv4.tcp_tw_reuse"],
            // Shared prefix, keys ending inside and past the compared word,
            // a key the prefix of another, repeats, non-ASCII.
            &[
                "net.ipv4.conf.veth10.forwarding",
                "net.ipv4.conf.veth1.forwarding",
                "net.ipv4.conf.veth1",
                "net.ipv4.conf.veth",
                "net.ipv4.conf.veth1.forwarding",
                "net.ipv4.conf.veth2.forwarding",
                "net.ipv4.conf.vethé.forwarding",
                "net.ipv4.conf.veth1.forwardinf",
                "net.ipv4.conf.veth1.forwarding_x",
            ],
            &["b", "a", "ab", "a.b", "a", "ba", "b.a.c"],
            &[
                "net.core.somaxconn",
                "net.ipv4.tcp_tw_reuse",
                "kernel.x",
                "net.ipv4.tcp_fin_timeout",
            ],
        ];
        for keys in cases {
            let s = settings(keys);
            assert_eq!(sorted_by_key(&s), plain(&s), "{keys:?}");
        }
        // Many keys sharing a long prefix and differing past the word.
        let many: Vec<String> = (0..500)
            .map(|n| format!("net.ipv4.conf.veth{}.forwarding{}", n % 37, n % 3))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let s = settings(&many);
        assert_eq!(sorted_by_key(&s), plain(&s));
    }

    #[test]
    fn runs_and_run_of_find_each_keys_lines_in_order() {
        let s = settings(&["b", "a", "b", "c", "a", "b"]);
        let by_key = sorted_by_key(&s);
        let runs: Vec<&[usize]> = Runs::new(&s, &by_key).collect();
        assert_eq!(runs, [&[1, 4][..], &[0, 2, 5], &[3]]);
        assert_eq!(run_of(&s, &by_key, "b"), [0, 2, 5]);
        assert_eq!(run_of(&s, &by_key, "c"), [3]);
        assert_eq!(run_of(&s, &by_key, "bb"), [] as [usize; 0]);
        assert_eq!(run_of(&s, &by_key, ""), [] as [usize; 0]);
    }
}
