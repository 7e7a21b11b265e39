//! Persisted sysctl configuration, in the two orders that apply it.
//!
//! Files named `*.conf` in the sysctl.d folders are sorted by file name across
//! all folders; a file in a folder earlier in [`SYSCTL_D_DIRS`] masks a file of
//! the same name in a later one (a symlink to /dev/null masks and sets nothing).
//! Later assignments win. The two orders differ only in /etc/sysctl.conf:
//!
//! - **Boot** (systemd-sysctl, sysctl.d(5)): reads the sysctl.d folders only.
//!   /etc/sysctl.conf applies at boot only where a sysctl.d entry links to it
//!   (Debian, Ubuntu and Fedora ship `/etc/sysctl.d/99-sysctl.conf →
//!   ../sysctl.conf`), and then at that entry's place in the order.
//! - **`sysctl --system`** (procps): the same files, then /etc/sysctl.conf
//!   once more, last, linked or not.
//!
//! [`Setting::at_boot`] marks the lines only `sysctl --system` reads;
//! [`PersistedConfig::boot_winners`] and [`PersistedConfig::system_winners`]
//! give each order's winners.
//!
//! The parser ([`parse_sysctl_file`]) takes text; [`gather`] does the I/O.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use arcstr::{ArcStr, Substr};

use schemars::JsonSchema;
use serde::Serialize;

use super::read::{
    FactError, metadata_confined, read_dir_confined, read_link_confined, read_optional_shared,
};
use crate::host_path;
use crate::sysctl::{SysctlKey, normalize_value, trim};

/// Folders in masking priority: a name in an earlier one hides the same name later.
pub const SYSCTL_D_DIRS: &[&str] = &[
    "etc/sysctl.d",
    "run/sysctl.d",
    "usr/local/lib/sysctl.d",
    "usr/lib/sysctl.d",
    "lib/sysctl.d",
];
pub const SYSCTL_CONF: &str = "etc/sysctl.conf";

/// One assignment in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Setting {
    pub key: SysctlKey,
    // A view into the file's text where the value is written as stored (a
    // file can hold 100,000 settings), else its folded copy.
    #[schemars(with = "String")]
    pub value: Substr,
    /// The file as it is named on the host (`/etc/sysctl.d/99-x.conf`), not under --root.
    // Shared by every setting of the file (a file can hold 100,000).
    #[schemars(with = "String")]
    pub file: ArcStr,
    pub line: usize,
    /// `-key = value`: a failure to set it is not an error to systemd-sysctl.
    pub ignore_failure: bool,
    /// systemd-sysctl applies this line at boot. False for the lines of an
    /// /etc/sysctl.conf that no sysctl.d entry links to: only `sysctl
    /// --system` reads them.
    pub at_boot: bool,
}

/// A line systemd-sysctl would skip with a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LineProblem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, JsonSchema)]
pub struct PersistedConfig {
    /// Files read, in the order applied (by `sysctl --system`; the boot reads
    /// the same but for an unlinked /etc/sysctl.conf).
    pub files: Vec<String>,
    /// The sysctl.d entry through which the boot reads /etc/sysctl.conf
    /// (`/etc/sysctl.d/99-sysctl.conf`); null when none does, so the file
    /// applies only with `sysctl --system`.
    pub sysctl_conf_at_boot: Option<String>,
    /// Files hidden by a same-name file in an earlier folder: (hidden, by).
    pub masked: Vec<Masked>,
    /// Every assignment, in the order applied.
    pub settings: Vec<Setting>,
    /// For each key, the assignment that takes effect at boot: the last the
    /// boot (systemd-sysctl) applies. Serialised as key → its position in
    /// `settings` (from 0).
    #[schemars(with = "BTreeMap<SysctlKey, usize>")]
    pub winners: Winners,
    pub problems: Vec<LineProblem>,
    /// Assignments the kernel will refuse (EINVAL) when they are applied at
    /// boot, in the order applied: the key keeps its previous value.
    pub refused: Vec<Refused>,
}

/// An assignment the kernel's handler rejects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Refused {
    pub key: SysctlKey,
    pub value: String,
    pub file: String,
    pub line: usize,
    /// Why, in the kernel's terms.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Masked {
    pub file: String,
    pub by: String,
}

mod index;
pub use index::Winners;
use index::{Runs, run_of};

/// `winners` as rule conditions see them: key → setting.
pub struct WinnersMap<'a>(&'a PersistedConfig);

impl Serialize for WinnersMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.winners().map(|s| (&s.key, s)))
    }
}

/// `winners` as JSON shows them (schema_version 7): key → the position of
/// its setting in `settings[]`, so a tree of 100,000 settings writes each
/// once (issue 20 §2).
struct WinnerPositions<'a>(&'a PersistedConfig);

impl Serialize for WinnerPositions<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let settings = &self.0.settings;
        serializer.collect_map(
            self.0
                .winners
                .boot()
                .iter()
                .filter_map(|&i| settings.get(i).map(|s| (&s.key, i))),
        )
    }
}

impl Serialize for PersistedConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("PersistedConfig", 7)?;
        out.serialize_field("files", &self.files)?;
        out.serialize_field("sysctl_conf_at_boot", &self.sysctl_conf_at_boot)?;
        out.serialize_field("masked", &self.masked)?;
        out.serialize_field("settings", &self.settings)?;
        out.serialize_field("winners", &WinnerPositions(self))?;
        out.serialize_field("problems", &self.problems)?;
        out.serialize_field("refused", &self.refused)?;
        out.end()
    }
}

impl PersistedConfig {
    /// The assignment that takes effect at boot for `key`: the last one applied.
    pub fn winner(&self, key: &str) -> Option<&Setting> {
        let boot = self.winners.boot();
        let found = boot
            .binary_search_by(|&i| self.settings[i].key.as_str().cmp(key))
            .ok()?;
        self.settings.get(boot[found])
    }

    /// Each key's winner at boot, by key.
    pub fn winners(&self) -> impl Iterator<Item = &Setting> + '_ {
        self.winners
            .boot()
            .iter()
            .filter_map(|&i| self.settings.get(i))
    }

    /// The winners as rule conditions see them (key → setting).
    pub fn winners_map(&self) -> WinnersMap<'_> {
        WinnersMap(self)
    }

    /// Every assignment to `key`, in the order applied.
    pub fn settings_for<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Setting> + 'a {
        let by_key = self.winners.by_key(&self.settings);
        let run: Vec<usize> = run_of(&self.settings, &by_key, key).to_vec();
        run.into_iter().map(|i| &self.settings[i])
    }

    /// The assignment that will take effect at boot for each key: the last
    /// one systemd-sysctl applies that the kernel accepts. A key whose every
    /// line is refused (the kernel default stays) has none. One pass over the
    /// settings sorted by key, so a tree of 100,000 lines stays linear.
    pub fn boot_winners(&self) -> BTreeMap<&str, &Setting> {
        self.winners_in(Order::Boot)
    }

    /// The same for `sysctl --system`: every line, then /etc/sysctl.conf's
    /// once more when the boot already read it through a link.
    pub fn system_winners(&self) -> BTreeMap<&str, &Setting> {
        self.winners_in(Order::System)
    }

    fn winners_in(&self, order: Order) -> BTreeMap<&str, &Setting> {
        let by_key = self.winners.by_key(&self.settings);
        let refused = self.refused_lines();
        Runs::new(&self.settings, &by_key)
            .filter_map(|run| self.winner_of_run(order, run, &refused))
            .map(|s| (s.key.as_str(), s))
            .collect()
    }

    /// The winners in `order` of `keys` only: a key's winner depends on that
    /// key's lines alone, found by a binary search, so drift, which needs
    /// the keys with a runtime value, never walks 100,000 other keys.
    pub fn winners_among<'a, 'k>(
        &'a self,
        order: Order,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> BTreeMap<&'a str, &'a Setting> {
        let by_key = self.winners.by_key(&self.settings);
        let refused = self.refused_lines();
        keys.into_iter()
            .filter_map(|key| {
                let run = run_of(&self.settings, &by_key, key);
                self.winner_of_run(order, run, &refused)
            })
            .map(|s| (s.key.as_str(), s))
            .collect()
    }

    fn refused_lines(&self) -> HashSet<(&str, usize)> {
        self.refused
            .iter()
            .map(|r| (r.file.as_str(), r.line))
            .collect()
    }

    /// The winner in `order` among one key's lines (in the order applied):
    /// the last the kernel accepts; for `sysctl --system`, a line of the
    /// linked /etc/sysctl.conf, read once more at the end, before any other.
    fn winner_of_run<'a>(
        &'a self,
        order: Order,
        run: &[usize],
        refused: &HashSet<(&str, usize)>,
    ) -> Option<&'a Setting> {
        let accepted = |s: &&Setting| !refused.contains(&(&*s.file, s.line));
        let lines = || {
            run.iter()
                .rev()
                .map(|&i| &self.settings[i])
                .filter(accepted)
        };
        match order {
            Order::Boot => lines().find(|s| s.at_boot),
            Order::System => {
                let again = self.sysctl_conf_at_boot.as_ref();
                again
                    .and_then(|link| lines().find(|s| *s.file == **link))
                    .or_else(|| lines().next())
            }
        }
    }

    /// Whether the kernel refuses this line at boot.
    pub fn is_refused(&self, setting: &Setting) -> bool {
        self.refused
            .iter()
            .any(|r| *r.file == *setting.file && r.line == setting.line)
    }

    /// The distinct keys set anywhere, sorted.
    pub fn keys(&self) -> Vec<&SysctlKey> {
        let by_key = self.winners.by_key(&self.settings);
        Runs::new(&self.settings, &by_key)
            .map(|run| &self.settings[run[0]].key)
            .collect()
    }
}

/// Which program's order of the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// systemd-sysctl at boot.
    Boot,
    /// `sysctl --system`.
    System,
}

impl Order {
    /// As findings and JSON name it.
    pub fn name(self) -> &'static str {
        match self {
            Order::Boot => "boot",
            Order::System => "sysctl --system",
        }
    }
}

/// Parses one sysctl.d / sysctl.conf file. `file` is only used to label results.
pub fn parse_sysctl_file(file: &str, text: &str) -> (Vec<Setting>, Vec<LineProblem>) {
    let mut settings = Vec::new();
    let mut problems = Vec::new();
    parse_into(
        file,
        &ArcStr::from(text),
        true,
        &mut settings,
        &mut problems,
    );
    (settings, problems)
}

/// [`parse_sysctl_file`] appending to the lists it is given, its settings
/// read at boot or not (`at_boot`): a file of 100,000 lines is not copied
/// from one list into another, and its keys and values are views into
/// `text`.
fn parse_into(
    file: &str,
    text: &ArcStr,
    at_boot: bool,
    settings: &mut Vec<Setting>,
    problems: &mut Vec<LineProblem>,
) {
    // One name for every setting of the file, shared, not copied per line.
    let shared = ArcStr::from(file);
    // Room for a setting a line at once: grown by doubling, a list of
    // 100,000 is copied on the way, and each copy touches fresh pages.
    settings.reserve(memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1);
    for (index, raw) in lines(text).enumerate() {
        let line = index + 1;
        let trimmed = trim(raw);
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        // A byte search: `=` is ASCII.
        let equals = memchr::memchr(b'=', trimmed.as_bytes());
        let Some((raw_key, raw_value)) = equals.map(|at| (&trimmed[..at], &trimmed[at + 1..]))
        else {
            problems.push(LineProblem {
                file: file.to_string(),
                line,
                message: format!("not an assignment: {trimmed:?}"),
            });
            continue;
        };
        let raw_key = trim(raw_key);
        let (ignore_failure, raw_key) = match raw_key.strip_prefix('-') {
            Some(rest) => (true, trim(rest)),
            None => (false, raw_key),
        };
        match SysctlKey::parse_in(text, raw_key) {
            Ok(key) => settings.push(Setting {
                key,
                value: value_of(text, raw_value),
                file: shared.clone(),
                line,
                ignore_failure,
                at_boot,
            }),
            Err(err) => problems.push(LineProblem {
                file: file.to_string(),
                line,
                message: err.to_string(),
            }),
        }
    }
}

/// The lines of `text` as [`str::lines`] gives them (split at `\n`, a
/// `\r` right before it dropped, no empty last line), found by the memchr
/// crate's vectorised search: std's per-line search costs more than the
/// short line it finds (a file can hold 100,000 lines).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', text.as_bytes());
    std::iter::from_fn(move || {
        let line = match ends.next() {
            // Only a `\r` that ends the line before its `\n` goes.
            Some(end) => {
                let line = &text[start..end];
                start = end + 1;
                line.strip_suffix('\r').unwrap_or(line)
            }
            None if start < text.len() => {
                let line = &text[start..];
                start = text.len();
                line
            }
            None => return None,
        };
        Some(line)
    })
}

/// [`normalize_value`], without its word-by-word rebuild for the common
/// value that is one plain word (`0`, `1`): trimmed, it is already folded.
fn value_of(text: &ArcStr, raw: &str) -> Substr {
    let trimmed = trim(raw);
    match trimmed.bytes().all(|b| b.is_ascii_graphic()) {
        true => text.substr_from(trimmed),
        false => Substr::from(normalize_value(raw)),
    }
}

/// The files, in order, and which are masked. Names only; no reading.
struct Ordered {
    /// What systemd-sysctl reads at boot, in order.
    boot: Vec<PathBuf>,
    masked: Vec<Masked>,
    /// The boot entry that is /etc/sysctl.conf (a link to it).
    conf_link: Option<PathBuf>,
    /// /etc/sysctl.conf exists: `sysctl --system` reads it last.
    conf_exists: bool,
}

fn ordered_files(root: &Path) -> Result<Ordered, FactError> {
    // name → path: the first folder in SYSCTL_D_DIRS holding a name wins it.
    let mut chosen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut masked = Vec::new();
    for dir in SYSCTL_D_DIRS {
        let dir_path = root.join(dir);
        let entries = match read_dir_confined(&dir_path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(source) => {
                return Err(FactError::Read {
                    path: dir_path,
                    source,
                });
            }
        };
        let mut names: Vec<String> = Vec::new();
        for entry in entries {
            let name = entry.to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let path = dir_path.join(&name);
            match chosen.get(&name) {
                // /lib is often a link to /usr/lib: the same file is not masking itself.
                Some(winner) if same_file(winner, &path) => {}
                Some(winner) => masked.push(Masked {
                    file: host_path::of(root, &path),
                    by: host_path::of(root, winner),
                }),
                None => {
                    chosen.insert(name, path);
                }
            }
        }
    }
    let boot: Vec<PathBuf> = chosen.into_values().collect();
    let conf = root.join(SYSCTL_CONF);
    let conf_exists = metadata_confined(&conf).is_ok();
    let conf_link = match conf_exists {
        true => boot.iter().find(|f| same_file(f, &conf)).cloned(),
        false => None,
    };
    Ok(Ordered {
        boot,
        masked,
        conf_link,
        conf_exists,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (metadata_confined(a), metadata_confined(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

pub fn gather(root: &Path) -> Result<PersistedConfig, FactError> {
    let ordered = ordered_files(root)?;
    let mut config = PersistedConfig {
        masked: ordered.masked,
        sysctl_conf_at_boot: ordered.conf_link.as_ref().map(|l| host_path::of(root, l)),
        ..Default::default()
    };
    // Without a link, /etc/sysctl.conf is read by `sysctl --system` only, last.
    let system_only =
        (ordered.conf_exists && ordered.conf_link.is_none()).then(|| root.join(SYSCTL_CONF));
    let paths = ordered
        .boot
        .into_iter()
        .map(|p| (p, true))
        .chain(system_only.map(|p| (p, false)));
    for (path, at_boot) in paths {
        // A symlink to /dev/null masks: it reads empty, and sets nothing.
        let is_dev_null = read_link_confined(&path).is_ok_and(|t| t == Path::new("/dev/null"));
        let text = if is_dev_null {
            ArcStr::new()
        } else {
            // Shared by the settings that are views into it.
            match read_optional_shared(&path)? {
                Some(text) => text,
                None => continue, // a dangling symlink applies nothing
            }
        };
        let name = host_path::of(root, &path);
        parse_into(
            &name,
            &text,
            at_boot,
            &mut config.settings,
            &mut config.problems,
        );
        config.files.push(name);
    }
    config.winners = Winners::of(&config.settings);
    Ok(config)
}

/// What the kernel itself checks when a persisted value is written at boot,
/// replayed in file order from the boot defaults (a value's validity can
/// depend on an earlier line: the port range against
/// ip_unprivileged_port_start). Only refusals the kernel makes on every
/// version that has the key are claimed (net/ipv4/sysctl_net_ipv4.c:
/// `ipv4_local_port_range()`, `ipv4_privileged_ports()`, the
/// `proc_do*vec_minmax` bounds of each table entry).
pub struct BootReplay {
    /// The kernel has `ip_unprivileged_port_start` (4.11+).
    pub has_unprivileged_port_start: bool,
    /// tcp_tw_reuse is bounded 0..=2 (4.18+, commit 79e9fed46038); before,
    /// `proc_dointvec` took any integer. `None`: the version is unknown.
    pub tw_reuse_bounded: Option<bool>,
}

impl BootReplay {
    pub fn judge(&self, config: &mut PersistedConfig) {
        // Kernel defaults at boot (4.2+ range; include/net/ip.h, af_inet.c).
        let mut range = (
            i64::from(super::ports::DEFAULT_RANGE.0),
            i64::from(super::ports::DEFAULT_RANGE.1),
        );
        let mut unprivileged = self.has_unprivileged_port_start.then_some(1024_i64);
        let mut refused = Vec::new();
        for s in &config.settings {
            let verdict = self.refusal(s.key.as_str(), &s.value, range, unprivileged);
            match verdict {
                Err(reason) => refused.push(Refused {
                    key: s.key.clone(),
                    value: s.value.to_string(),
                    file: s.file.to_string(),
                    line: s.line,
                    reason,
                }),
                Ok(Accepted::Range(low, high)) => range = (low, high),
                Ok(Accepted::UnprivilegedStart(start)) => unprivileged = Some(start),
                Ok(Accepted::Other) => {}
            }
        }
        config.refused = refused;
    }

    fn refusal(
        &self,
        key: &str,
        value: &str,
        range: (i64, i64),
        unprivileged: Option<i64>,
    ) -> Result<Accepted, String> {
        let Some(name) = key.strip_prefix("net.ipv4.") else {
            return Ok(Accepted::Other);
        };
        let ints = || -> Result<Vec<i64>, String> {
            value
                .split_whitespace()
                .map(|w| {
                    kernel_int(w).ok_or_else(|| format!("{w:?} is not an integer the kernel reads"))
                })
                .collect()
        };
        let one = || -> Result<i64, String> {
            match ints()?.as_slice() {
                [n] => Ok(*n),
                [] => Err("empty: the kernel reads no integer".into()),
                // proc_dointvec stores one int and ignores the rest.
                [n, ..] => Ok(*n),
            }
        };
        let within = |n: i64, min: i64, max: i64| {
            if (min..=max).contains(&n) {
                Ok(Accepted::Other)
            } else {
                Err(format!("{n} is outside {min}..{max}"))
            }
        };
        match name {
            "ip_local_port_range" => {
                let values = ints()?;
                let (low, high) = match values.as_slice() {
                    [low, high] => (*low, *high),
                    // One value writes the low end only; the high end stays.
                    [low] => (*low, range.1),
                    [] => return Err("empty: a range is two integers, low and high".into()),
                    _ => return Err("more than two values: a range is low and high".into()),
                };
                if !(1..=65535).contains(&low) || !(1..=65535).contains(&high) {
                    return Err(
                        "ports are 1..65535 (0 and anything above 65535 are refused)".into(),
                    );
                }
                if high < low {
                    return Err(format!("the low end {low} is above the high end {high}"));
                }
                if let Some(start) = unprivileged
                    && low < start
                {
                    return Err(format!(
                        "the low end {low} is below ip_unprivileged_port_start ({start} at that point of the boot)"
                    ));
                }
                Ok(Accepted::Range(low, high))
            }
            "ip_unprivileged_port_start" => {
                let start = one()?;
                within(start, 0, 65535)?;
                if start > range.0 {
                    return Err(format!(
                        "{start} is above the low end of ip_local_port_range ({} at that point of the boot)",
                        range.0
                    ));
                }
                Ok(Accepted::UnprivilegedStart(start))
            }
            "tcp_tw_reuse" => {
                let n = one()?;
                match self.tw_reuse_bounded {
                    Some(true) => within(n, 0, 2),
                    _ => within(n, i64::from(i32::MIN), i64::from(i32::MAX)),
                }
            }
            "tcp_tw_reuse_delay" => within(one()?, 1, 60_000),
            // proc_dointvec_jiffies refuses seconds above INT_MAX / HZ; HZ is
            // at least 100, so anything above INT_MAX / 100 is refused.
            "tcp_fin_timeout" => within(one()?, i64::from(i32::MIN), i64::from(i32::MAX) / 100),
            "tcp_timestamps" | "tcp_tw_recycle" | "tcp_rfc1337" | "tcp_max_tw_buckets"
            | "tcp_max_orphans" | "ip_forward" => {
                within(one()?, i64::from(i32::MIN), i64::from(i32::MAX))
            }
            "ip_local_reserved_ports" => reserved_ports_syntax(value).map(|()| Accepted::Other),
            _ => Ok(Accepted::Other),
        }
    }
}

enum Accepted {
    Range(i64, i64),
    UnprivilegedStart(i64),
    Other,
}

/// An integer as the kernel's `proc_get_long()` reads it: an optional minus,
/// then decimal, `0x` hex or leading-zero octal (base 0).
fn kernel_int(word: &str) -> Option<i64> {
    let (negative, digits) = match word.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let magnitude = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `proc_do_large_bitmap()`: comma-separated ports or `low-high` ranges of
/// 0..65535 with low ≤ high; empty clears the bitmap.
fn reserved_ports_syntax(value: &str) -> Result<(), String> {
    let text: String = value.split_whitespace().collect();
    if text.is_empty() {
        return Ok(());
    }
    for part in text.split(',') {
        let bounds: Vec<Option<i64>> = part
            .splitn(2, '-')
            .map(|p| {
                (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect();
        let ok = match bounds.as_slice() {
            [Some(p)] => (0..=65535).contains(p),
            [Some(a), Some(b)] => (0..=65535).contains(a) && (0..=65535).contains(b) && a <= b,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{part:?} is not a port or a range low-high within 0..65535"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
