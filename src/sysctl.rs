//! Sysctl keys and values as twtune names them.
//!
//! A key is always spelled the dotted way (`net.ipv4.tcp_tw_reuse`), the form the
//! JSON output, rule files and `--set` use. sysctl.d files may also write the
//! slashed form (`net/ipv4/tcp_tw_reuse`), so parsing normalises to dots here, once.

use arcstr::{ArcStr, Substr};
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The sysctl trees twtune may recommend or write. Anything else (kernel.*, vm.*)
/// is outside the tool's remit and refused.
pub const MANAGED_PREFIXES: &[&str] = &["net.ipv4.", "net.core.", "net.netfilter."];

/// The net.ipv4 keys gathered on every run; the rules may refer to each of them.
pub const GATHERED_IPV4_KEYS: &[&str] = &[
    "tcp_tw_reuse",
    "tcp_tw_reuse_delay",
    "tcp_tw_recycle",
    "tcp_timestamps",
    "tcp_max_tw_buckets",
    // Established hash size (6.1+; negative in a namespace sharing the
    // global table): the default tcp_max_tw_buckets is half of it.
    "tcp_ehash_entries",
    "tcp_fin_timeout",
    "tcp_rfc1337",
    "tcp_max_orphans",
    "ip_local_port_range",
    "ip_local_reserved_ports",
    "ip_unprivileged_port_start",
    "ip_forward",
];

/// Connection tracking, when the module is loaded (net.netfilter.*): the
/// table's fill and size and its TIME_WAIT timeout. Absent when conntrack is
/// not loaded, which is no problem to report.
pub const GATHERED_NETFILTER_KEYS: &[&str] = &[
    "nf_conntrack_count",
    "nf_conntrack_max",
    "nf_conntrack_buckets",
    "nf_conntrack_tcp_timeout_time_wait",
];

/// Out-of-tree knob on Alibaba Cloud Linux kernels; only its presence is a fact.
pub const GATHERED_VENDOR_IPV4_KEYS: &[&str] = &["tcp_tw_timeout"];

/// A dotted sysctl key, validated to be a plausible path component chain.
//
// Shared text (not in the JSON schema's description): a key is named again
// in a file's settings, its winner, its drift and the keys absent on this
// kernel (100,000 of each for a generated file), and a copy is a count, not
// an allocation. A key read from a file is a view into that file's text
// (`SysctlKey::parse_in`), so a file of 100,000 lines allocates no key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(try_from = "String")]
#[schemars(with = "String")]
pub struct SysctlKey(Substr);

/// The dotted text, borrowed: `into = "String"` would copy every key it
/// writes (a check can write 200,000).
impl Serialize for SysctlKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("empty sysctl key")]
    Empty,
    #[error("sysctl key {0:?} has an empty or relative component")]
    BadComponent(String),
    #[error("sysctl key {0:?} contains a character sysctl names never have")]
    BadCharacter(String),
    #[error("sysctl key {0:?} is outside net.ipv4, net.core and net.netfilter")]
    NotManaged(String),
}

impl SysctlKey {
    /// Parses a key written either way (`a.b.c` or `a/b/c`).
    ///
    /// Like sysctl(8) and systemd-sysctl: when the first separator is a slash the
    /// key is slashed and any dots are part of a component (e.g. interface names
    /// such as `eth0.100`); otherwise dots separate and slashes do.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        Self::parse_with(text, |plain: &str| Substr::from(plain))
    }

    /// [`SysctlKey::parse`] of `text`, a part of `source`: a key written as
    /// it is stored (dotted, no surrounding space) is kept as a view into
    /// `source`, not copied.
    ///
    /// # Panics
    /// If `text` does not lie inside `source`.
    pub fn parse_in(source: &ArcStr, text: &str) -> Result<Self, KeyError> {
        Self::parse_with(text, |plain| source.substr_from(plain))
    }

    fn parse_with(text: &str, keep: impl FnOnce(&str) -> Substr) -> Result<Self, KeyError> {
        let text = trim(text);
        // The common key, dotted printable ASCII without an empty component,
        // in one pass over its bytes (a file can hold 100,000 keys); anything
        // else is judged in full below, with the same answer.
        let mut after_dot = true;
        let mut plain = !text.is_empty();
        for &b in text.as_bytes() {
            let dot = b == b'.';
            plain &= b.is_ascii_graphic() && b != b'/' && !(dot && after_dot);
            after_dot = dot;
        }
        if plain && !after_dot {
            return Ok(SysctlKey(keep(text)));
        }
        Self::parse_in_full(text)
    }

    fn parse_in_full(text: &str) -> Result<Self, KeyError> {
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        // Bytes, not chars: both separators are ASCII, and a file can hold
        // 100,000 keys.
        let first_sep = text.bytes().find(|&b| b == b'.' || b == b'/');
        let slashed = first_sep == Some(b'/');
        let dotted: String = if slashed {
            text.chars()
                .map(|c| match c {
                    '/' => '.',
                    '.' => '/',
                    c => c,
                })
                .collect()
        } else {
            text.to_string()
        };
        for component in dotted.as_bytes().split(|&b| b == b'.') {
            // A slashed key's dots live on as '/' inside a component; judge the
            // component as the file system will see it ('/' there is '.'),
            // without a copy per component.
            if matches!(component, b"" | b"/" | b"//") {
                return Err(KeyError::BadComponent(text.to_string()));
            }
        }
        // In ASCII the only whitespace that is not a control is the space.
        let bad = match dotted.is_ascii() {
            true => dotted.bytes().any(|b| b == b' ' || b.is_ascii_control()),
            false => dotted
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\0'),
        };
        if bad {
            return Err(KeyError::BadCharacter(text.to_string()));
        }
        Ok(SysctlKey(Substr::from(dotted)))
    }

    /// Parses and insists on a tree twtune manages.
    pub fn parse_managed(text: &str) -> Result<Self, KeyError> {
        Self::parse(text)?.into_managed()
    }

    /// This key, if it lies in a tree twtune manages.
    pub fn into_managed(self) -> Result<Self, KeyError> {
        if !self.is_managed() {
            return Err(KeyError::NotManaged(self.0.to_string()));
        }
        Ok(self)
    }

    pub fn ipv4(name: &str) -> Self {
        SysctlKey(Substr::from(format!("net.ipv4.{name}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_managed(&self) -> bool {
        MANAGED_PREFIXES.iter().any(|p| self.0.starts_with(p))
    }

    /// `DIR/proc/sys/net/ipv4/tcp_tw_reuse` for `net.ipv4.tcp_tw_reuse`.
    /// A component that itself contained a slash (stored as '/') stays one
    /// component; it cannot escape the tree because `..` was refused.
    pub fn proc_path(&self, root: &Path) -> PathBuf {
        let mut path = root.join("proc/sys");
        for component in self.0.split('.') {
            path.push(component.replace('/', "."));
        }
        path
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Maps keyed by [`SysctlKey`] are looked up by the dotted text: the key
/// compares, orders and hashes exactly as its text does.
impl std::borrow::Borrow<str> for SysctlKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SysctlKey {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SysctlKey> for String {
    fn from(key: SysctlKey) -> String {
        key.0.to_string()
    }
}

/// [`str::trim`], the ASCII whitespace at either end stripped byte by byte
/// first: a line's ends are almost always ASCII, and the Unicode-aware trim
/// costs more than the short key or value it trims. A non-ASCII end is left
/// to [`str::trim`], so the answer is the same for every text.
pub fn trim(text: &str) -> &str {
    // char::is_whitespace's ASCII members (U+000B included, unlike
    // u8::is_ascii_whitespace).
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let bytes = text.as_bytes();
    // Already trimmed: both ends ASCII and not space (a key, a plain value).
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last))
            if *first < 0x80 && *last < 0x80 && !space(first) && !space(last) =>
        {
            return text;
        }
        _ => {}
    }
    let start = bytes.iter().position(|b| !space(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    // Both ends are ASCII positions, so char boundaries.
    let inner = &text[start..end];
    match (inner.as_bytes().first(), inner.as_bytes().last()) {
        (Some(&first), Some(&last)) if first >= 0x80 || last >= 0x80 => inner.trim(),
        _ => inner,
    }
}

/// The canonical text of a sysctl value: whitespace runs folded to one space,
/// ends trimmed. /proc prints `ip_local_port_range` with a tab; files write a
/// space; both mean the same value and must compare equal.
pub fn normalize_value(raw: &str) -> String {
    let mut value = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(word);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_pass_parse_answers_as_the_full_one() {
        for text in [
            "net.ipv4.tcp_tw_reuse",
            " net.ipv4.conf.veth7.forwarding\t",
            "a",
            "",
            " ",
            ".",
            "..",
            "a.",
            ".a",
            "a..b",
            "a.b.",
            "net/ipv4/tcp_tw_reuse",
            "net.ipv4/x",
            "a b",
            "a\u{7f}b",
            "a\u{1}b",
            "a.\u{e9}.b",
            "a.*.b",
            "-a.b",
            "a.b\u{a0}c",
        ] {
            assert_eq!(
                SysctlKey::parse(text),
                SysctlKey::parse_in_full(text.trim()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn dotted_and_slashed_keys_name_the_same_sysctl() {
        assert_eq!(
            SysctlKey::parse("net/ipv4/tcp_tw_reuse").unwrap(),
            SysctlKey::parse("net.ipv4.tcp_tw_reuse").unwrap()
        );
    }

    #[test]
    fn slashed_key_keeps_dots_inside_a_component() {
        let key = SysctlKey::parse("net/ipv4/conf/eth0.100/forwarding").unwrap();
        assert_eq!(
            key.proc_path(Path::new("/r")),
            PathBuf::from("/r/proc/sys/net/ipv4/conf/eth0.100/forwarding")
        );
    }

    #[test]
    fn keys_cannot_climb_out_of_proc_sys() {
        assert!(SysctlKey::parse("net.ipv4..x").is_err());
        assert!(SysctlKey::parse("net/../../etc/passwd").is_err());
    }

    #[test]
    fn only_network_trees_are_managed() {
        assert!(SysctlKey::parse_managed("net.core.somaxconn").is_ok());
        assert_eq!(
            SysctlKey::parse_managed("kernel.panic"),
            Err(KeyError::NotManaged("kernel.panic".into()))
        );
    }

    #[test]
    fn values_fold_whitespace() {
        assert_eq!(normalize_value("32768\t60999\n"), "32768 60999");
    }
}
