//! Persisted sysctl configuration, in the order systemd-sysctl and
//! `sysctl --system` apply it.
//!
//! Files named `*.conf` in the sysctl.d folders are sorted by file name across
//! all folders; a file in a folder earlier in [`SYSCTL_D_DIRS`] masks a file of
//! the same name in a later one (a symlink to /dev/null masks and sets nothing).
//! /etc/sysctl.conf is read last. Later assignments win.
//!
//! The parser ([`parse_sysctl_file`]) takes text; [`gather`] does the I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{FactError, read_optional};
use crate::sysctl::{SysctlKey, normalize_value};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
    /// The file as it is named on the host (`/etc/sysctl.d/99-x.conf`), not under --root.
    pub file: String,
    pub line: usize,
    /// `-key = value`: a failure to set it is not an error to systemd-sysctl.
    pub ignore_failure: bool,
}

/// A line systemd-sysctl would skip with a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineProblem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PersistedConfig {
    /// Files read, in the order applied.
    pub files: Vec<String>,
    /// Files hidden by a same-name file in an earlier folder: (hidden, by).
    pub masked: Vec<Masked>,
    /// Every assignment, in the order applied.
    pub settings: Vec<Setting>,
    /// For each key, the assignment that takes effect at boot: the last applied.
    pub winners: BTreeMap<String, Setting>,
    pub problems: Vec<LineProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Masked {
    pub file: String,
    pub by: String,
}

impl PersistedConfig {
    /// The assignment that takes effect at boot for `key`: the last one applied.
    pub fn winner(&self, key: &str) -> Option<&Setting> {
        self.winners.get(key)
    }

    /// Every assignment to `key`, in the order applied.
    pub fn settings_for<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Setting> + 'a {
        self.settings.iter().filter(move |s| s.key == key)
    }

    /// The distinct keys set anywhere, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.settings.iter().map(|s| s.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Parses one sysctl.d / sysctl.conf file. `file` is only used to label results.
pub fn parse_sysctl_file(file: &str, text: &str) -> (Vec<Setting>, Vec<LineProblem>) {
    let mut settings = Vec::new();
    let mut problems = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let Some((raw_key, raw_value)) = trimmed.split_once('=') else {
            problems.push(LineProblem {
                file: file.to_string(),
                line,
                message: format!("not an assignment: {trimmed:?}"),
            });
            continue;
        };
        let raw_key = raw_key.trim();
        let (ignore_failure, raw_key) = match raw_key.strip_prefix('-') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, raw_key),
        };
        match SysctlKey::parse(raw_key) {
            Ok(key) => settings.push(Setting {
                key: key.to_string(),
                value: normalize_value(raw_value),
                file: file.to_string(),
                line,
                ignore_failure,
            }),
            Err(err) => problems.push(LineProblem {
                file: file.to_string(),
                line,
                message: err.to_string(),
            }),
        }
    }
    (settings, problems)
}

/// Which files apply, in order, and which are masked. Names only; no reading.
fn ordered_files(root: &Path) -> Result<(Vec<PathBuf>, Vec<Masked>), FactError> {
    // name → (priority, path); the lowest priority index wins the name.
    let mut chosen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut masked = Vec::new();
    for dir in SYSCTL_D_DIRS {
        let dir_path = root.join(dir);
        let entries = match std::fs::read_dir(&dir_path) {
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
            let entry = entry.map_err(|source| FactError::Read {
                path: dir_path.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
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
                    file: host_path(root, &path),
                    by: host_path(root, winner),
                }),
                None => {
                    chosen.insert(name, path);
                }
            }
        }
    }
    let mut files: Vec<PathBuf> = chosen.into_values().collect();
    // Debian links /etc/sysctl.d/99-sysctl.conf to ../sysctl.conf: read it once.
    let conf = root.join(SYSCTL_CONF);
    if conf.exists() && !files.iter().any(|f| same_file(f, &conf)) {
        files.push(conf);
    }
    Ok((files, masked))
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The path as the host names it: `/etc/sysctl.conf` for `ROOT/etc/sysctl.conf`.
pub fn host_path(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => path.display().to_string(),
    }
}

pub fn gather(root: &Path) -> Result<PersistedConfig, FactError> {
    let (paths, masked) = ordered_files(root)?;
    let mut config = PersistedConfig {
        masked,
        ..Default::default()
    };
    for path in paths {
        // A symlink to /dev/null masks: it reads empty, and sets nothing.
        let is_dev_null = std::fs::read_link(&path).is_ok_and(|t| t == Path::new("/dev/null"));
        let text = if is_dev_null {
            String::new()
        } else {
            match read_optional(&path)? {
                Some(text) => text,
                None => continue, // a dangling symlink applies nothing
            }
        };
        let name = host_path(root, &path);
        let (settings, problems) = parse_sysctl_file(&name, &text);
        config.files.push(name);
        config.settings.extend(settings);
        config.problems.extend(problems);
    }
    for setting in &config.settings {
        config.winners.insert(setting.key.clone(), setting.clone());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_assignment_spellings_and_comments() {
        let text = "# comment\n; also comment\nnet.ipv4.tcp_tw_reuse = 1\nnet/ipv4/tcp_timestamps=0\n\n-net.ipv4.tcp_tw_recycle = 1\n";
        let (settings, problems) = parse_sysctl_file("/etc/sysctl.conf", text);
        assert!(problems.is_empty());
        let keys: Vec<_> = settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str(), s.line))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("net.ipv4.tcp_tw_reuse", "1", 3),
                ("net.ipv4.tcp_timestamps", "0", 4),
                ("net.ipv4.tcp_tw_recycle", "1", 6)
            ]
        );
        assert!(settings[2].ignore_failure);
    }

    #[test]
    fn port_range_value_whitespace_is_folded() {
        let (settings, _) =
            parse_sysctl_file("f", "net.ipv4.ip_local_port_range =  1024\t65000  \n");
        assert_eq!(settings[0].value, "1024 65000");
    }

    #[test]
    fn a_line_without_equals_is_reported_with_its_line() {
        let (settings, problems) =
            parse_sysctl_file("/etc/sysctl.d/x.conf", "net.ipv4.tcp_tw_reuse 1\n");
        assert!(settings.is_empty());
        assert_eq!(problems[0].line, 1);
        assert_eq!(problems[0].file, "/etc/sysctl.d/x.conf");
    }

    #[test]
    fn files_sort_by_name_across_folders_and_earlier_folders_mask() {
        let root = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| {
            let path = root.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, t).unwrap();
        };
        w(
            "usr/lib/sysctl.d/50-default.conf",
            "net.ipv4.tcp_tw_reuse = 0\n",
        );
        w(
            "usr/lib/sysctl.d/10-masked.conf",
            "net.ipv4.tcp_timestamps = 0\n",
        );
        w(
            "etc/sysctl.d/10-masked.conf",
            "net.ipv4.tcp_timestamps = 1\n",
        );
        w("run/sysctl.d/60-run.conf", "net.ipv4.tcp_tw_reuse = 2\n");
        w("etc/sysctl.d/README", "not a conf file\n");
        w("etc/sysctl.conf", "net.ipv4.tcp_tw_reuse = 1\n");
        let config = gather(root.path()).unwrap();
        assert_eq!(
            config.files,
            vec![
                "/etc/sysctl.d/10-masked.conf",
                "/usr/lib/sysctl.d/50-default.conf",
                "/run/sysctl.d/60-run.conf",
                "/etc/sysctl.conf"
            ]
        );
        assert_eq!(config.masked[0].file, "/usr/lib/sysctl.d/10-masked.conf");
        let winner = config.winner("net.ipv4.tcp_tw_reuse").unwrap();
        assert_eq!(
            (winner.file.as_str(), winner.value.as_str()),
            ("/etc/sysctl.conf", "1")
        );
        assert_eq!(config.settings_for("net.ipv4.tcp_tw_reuse").count(), 3);
        assert_eq!(config.winner("net.ipv4.tcp_timestamps").unwrap().value, "1");
    }
}
