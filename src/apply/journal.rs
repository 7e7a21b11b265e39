//! The journal: what an apply is about to change, on disk before the first
//! write, so a crash can be undone.
//!
//! `ROOT/var/lib/twtune/journal.json` exists only while an apply (or a
//! rollback) is under way. Finding it later means that run was interrupted;
//! every command says so ([`interrupted`]), `apply` refuses to start, and
//! `rollback` restores the old values it records. A successful apply turns
//! its journal into `last-apply.json`, the record `rollback` undoes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dropin::sync_dir;

pub const STATE_DIR: &str = "var/lib/twtune";
pub const JOURNAL: &str = "journal.json";
pub const LAST_APPLY: &str = "last-apply.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Apply,
    Rollback,
}

/// One runtime key: the value before, and the value being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key: String,
    pub old: String,
    pub new: String,
}

/// The persisted file: its whole text before (`None`: it did not exist) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub file: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// The temporary file a crash may leave beside it.
    pub temp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub operation: Operation,
    pub pid: u32,
    /// Seconds since the Unix epoch.
    pub started: u64,
    pub runtime: Vec<KeyRecord>,
    pub persist: Option<FileRecord>,
}

impl Journal {
    pub fn new(operation: Operation, runtime: Vec<KeyRecord>, persist: Option<FileRecord>) -> Self {
        Journal {
            version: FORMAT_VERSION,
            operation,
            pid: std::process::id(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            runtime,
            persist,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is damaged ({source}); inspect it and remove it once the host is as it should be"
    )]
    Garbled {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub fn state_dir(root: &Path) -> PathBuf {
    root.join(STATE_DIR)
}

pub fn journal_path(root: &Path) -> PathBuf {
    state_dir(root).join(JOURNAL)
}

pub fn last_apply_path(root: &Path) -> PathBuf {
    state_dir(root).join(LAST_APPLY)
}

/// Writes `journal` to `path` durably: temp file, fsync, rename, fsync folder.
pub fn write(path: &Path, journal: &Journal) -> Result<(), JournalError> {
    let err = |source| JournalError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(err)?;
    let temp = path.with_extension("json.tmp");
    let result = (|| -> io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        let text = serde_json::to_string_pretty(journal).map_err(io::Error::other)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(err)
}

pub fn read(path: &Path) -> Result<Option<Journal>, JournalError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| JournalError::Garbled {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(JournalError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub fn remove(path: &Path) -> Result<(), JournalError> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(path).map_err(|source| JournalError::Write {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(JournalError::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// An apply or rollback that did not finish.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub path: PathBuf,
    pub journal: Journal,
    /// The run still holds the lock: it is under way, not dead.
    pub running: bool,
}

impl Interrupted {
    /// One paragraph for an operator, naming the journal and the way out.
    pub fn notice(&self) -> String {
        let what = match self.journal.operation {
            Operation::Apply => "apply",
            Operation::Rollback => "rollback",
        };
        let keys: Vec<&str> = self
            .journal
            .runtime
            .iter()
            .map(|r| r.key.as_str())
            .collect();
        let mut touched = keys.join(", ");
        if let Some(file) = &self.journal.persist {
            if !touched.is_empty() {
                touched.push_str(" and ");
            }
            touched.push_str(&file.file);
        }
        if self.running {
            return format!(
                "a twtune {what} (pid {}) is under way and changing {touched}; its journal is {}",
                self.journal.pid,
                self.path.display()
            );
        }
        format!(
            "an earlier twtune {what} (pid {}) was interrupted and may have left {touched} half-changed; \
             its journal is {}. Run `twtune rollback` to restore the values from before it.",
            self.journal.pid,
            self.path.display()
        )
    }
}

/// The interrupted run under `root`, if any: the check every command makes.
/// A journal that cannot be read is reported as interrupted too, since it
/// equally means an unfinished change.
pub fn interrupted(root: &Path) -> Result<Option<Interrupted>, JournalError> {
    let path = journal_path(root);
    Ok(read(&path)?.map(|journal| Interrupted {
        path,
        journal,
        running: super::lock::held_elsewhere(root),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_round_trips_and_announces_itself() {
        let root = tempfile::tempdir().unwrap();
        assert!(interrupted(root.path()).unwrap().is_none());
        let journal = Journal::new(
            Operation::Apply,
            vec![KeyRecord {
                key: "net.ipv4.tcp_tw_reuse".into(),
                old: "2".into(),
                new: "1".into(),
            }],
            None,
        );
        write(&journal_path(root.path()), &journal).unwrap();
        let found = interrupted(root.path()).unwrap().unwrap();
        assert_eq!(found.journal, journal);
        let notice = found.notice();
        assert!(
            notice.contains("net.ipv4.tcp_tw_reuse") && notice.contains("twtune rollback"),
            "{notice}"
        );
        remove(&journal_path(root.path())).unwrap();
        assert!(interrupted(root.path()).unwrap().is_none());
    }

    #[test]
    fn a_damaged_journal_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(state_dir(root.path())).unwrap();
        std::fs::write(journal_path(root.path()), "{ half").unwrap();
        let err = interrupted(root.path()).unwrap_err().to_string();
        assert!(err.contains("journal.json"), "{err}");
    }
}
