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
/// of a long file share a long prefix (`net.ipv4.conf.`), which makes every
/// comparison of a plain sort a `memcmp` over it: instead the keys are
/// sorted eight bytes at a time, as numbers, and only the keys that tie on
/// those eight are sorted on the next eight (a radix sort from the left).
pub fn sorted_by_key(settings: &[Setting]) -> Vec<usize> {
    let key = |i: usize| settings[i].key.as_str().as_bytes();
    let mut order: Vec<(u64, usize)> = (0..settings.len()).map(|i| (0, i)).collect();
    // Ranges of `order` whose keys share their first `depth` bytes.
    let mut pending: Vec<(usize, usize, usize)> = vec![(0, order.len(), 0)];
    while let Some((start, end, depth)) = pending.pop() {
        let run = &mut order[start..end];
        for entry in run.iter_mut() {
            entry.0 = word_at(key(entry.1), depth);
        }
        // A range whose keys all share this word too (`net.ipv4`, `.conf.ve`
        // in a generated file) is already in the order applied: only a
        // range that differs here is sorted.
        if run.iter().any(|e| e.0 != run[0].0) {
            run.sort_unstable_by_key(|&(word, i)| (u128::from(word) << 64) | i as u128);
        }
        let mut at = 0;
        while at < run.len() {
            let word = run[at].0;
            let len = run[at..].iter().take_while(|e| e.0 == word).count();
            // Keys hold no NUL (SysctlKey refuses control characters): a
            // zero word is keys that have ended, all equal, already in the
            // order applied. A key ending inside a word is padded with
            // zeros and sorts before the keys it is a prefix of.
            if len > 1 && word != 0 {
                pending.push((start + at, start + at + len, depth + 8));
            }
            at += len;
        }
    }
    order.into_iter().map(|(_, i)| i).collect()
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
                value: n.to_string().into(),
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
    fn the_word_by_word_sort_is_the_bytewise_sort() {
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
            // Keys ending at, just before and just past a word's end.
            &[
                "abcdefgh.ijklmnop.q",
                "abcdefgh",
                "abcdefg",
                "abcdefgh.ijklmnop",
                "abcdefgh.i",
                "abcdefgh",
                "abcdefgh.ijklmnoo.z",
                "abcdefgh.ijklmnop",
            ],
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
