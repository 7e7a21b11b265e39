//! Carrying out a change set atomically: lock, journal, write and verify each
//! key, persist the file, and on any failure put back everything already
//! written, newest first.
//!
//! The persisted file is staged (written and fsynced under a temporary name)
//! before the first runtime write and renamed into place after the last, so
//! the step most likely to fail on a sick disk fails while nothing has changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dropin::{self, DropinError};
use super::journal::{self, FileRecord, Journal, JournalError, KeyRecord, Operation};
use super::lock::{Lock, LockError};
use super::plan::Plan;
use super::runtime::{self, RuntimeError};
use super::state;
use crate::sysctl::SysctlKey;

pub use super::lock::DEFAULT_WAIT as DEFAULT_LOCK_WAIT;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How long to wait for another run's lock.
    pub lock_wait: Duration,
    /// Test hook (feature `test-hooks` only): after the first runtime write,
    /// create this file and wait until it is removed (a test kills the
    /// process meanwhile, or lets it go).
    #[cfg(feature = "test-hooks")]
    pub pause_after_first_write: Option<PathBuf>,
    /// The network namespace the calling thread entered to change (`apply
    /// --netns`, or a rollback returning to one): recorded in the journal.
    pub netns: Option<journal::NetnsRecord>,
}

/// The step that failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Dropin(#[from] DropinError),
    #[error(transparent)]
    Record(Box<JournalError>),
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{notice}")]
    Interrupted { notice: String },
    #[error(
        "{what} changed since the plan was made (planned from {planned:?}, now {now:?}); nothing was changed — run again to plan from the new value"
    )]
    Stale {
        what: String,
        planned: String,
        now: String,
    },
    /// Failed before any change, or failed and every change was put back.
    #[error("{cause}; {}", restored_text(restored))]
    RolledBack {
        cause: StepError,
        restored: Vec<String>,
    },
    /// Failed and could not put everything back: the journal stays.
    #[error("{cause}; restoring failed too ({}); the journal {} is kept — run `twtune rollback`", failures.join("; "), journal.display())]
    Unrestored {
        cause: StepError,
        failures: Vec<String>,
        journal: PathBuf,
    },
    #[error("restoring from the journal failed ({}); the journal {} is kept — fix the cause and run `twtune rollback` again", failures.join("; "), journal.display())]
    RecoveryFailed {
        failures: Vec<String>,
        journal: PathBuf,
    },
    #[error(transparent)]
    Read(#[from] StepError),
}

fn restored_text(restored: &[String]) -> String {
    if restored.is_empty() {
        "nothing was changed".to_string()
    } else {
        format!(
            "restored {} (newest first); nothing is left changed",
            restored.join(", ")
        )
    }
}

pub use super::journal::Records;

/// The records an apply of `plan` journals.
pub fn records(plan: &Plan) -> Records {
    let runtime = plan
        .runtime_changes()
        .map(|c| KeyRecord {
            key: c.key.clone(),
            old: c.from.clone(),
            new: c.to.clone(),
        })
        .collect();
    let persist = plan.persist_change().map(|p| FileRecord {
        file: p.file.clone(),
        old: p.before.clone(),
        new: Some(p.after.clone()),
        temp: dropin::temp_name(&p.file),
    });
    (runtime, persist)
}

/// Applies `plan`. On success the journal becomes the last-apply record.
/// The caller holds the lock, taken before it planned, so the plan and the
/// apply see the same host.
pub fn apply(
    root: &Path,
    plan: &Plan,
    _lock: &Lock,
    options: &Options,
) -> Result<Journal, ApplyError> {
    let (runtime, persist) = records(plan);
    refuse_if_interrupted(root)?;
    let journal = execute(
        root,
        Journal::new(Operation::Apply, runtime, persist).in_netns(options.netns.clone()),
        options,
        Record::LastApply,
    )?;
    journal::remove(&state::journal_path(root))?;
    Ok(journal)
}

/// What undoing the last apply would change now: each key from its current
/// value back to the recorded one, and the file back to its recorded text.
/// `None` when there is no last apply.
pub fn rollback_records(root: &Path) -> Result<Option<Records>, ApplyError> {
    let Some(last) = journal::read(&state::last_apply_path(root))? else {
        return Ok(None);
    };
    let mut runtime = Vec::new();
    for record in last.runtime.iter().rev() {
        let now = runtime::read(root, &record.key).map_err(StepError::from)?;
        if now != record.old {
            runtime.push(KeyRecord {
                key: record.key.clone(),
                old: now,
                new: record.old.clone(),
            });
        }
    }
    let persist = match &last.persist {
        Some(file) => {
            let now = dropin::read_current(root, &file.file).map_err(StepError::from)?;
            (now != file.old).then(|| FileRecord {
                file: file.file.clone(),
                old: now,
                new: file.old.clone(),
                temp: dropin::temp_name(&file.file),
            })
        }
        None => None,
    };
    Ok(Some((runtime, persist)))
}

/// Undoes the last apply, journaled like an apply; then forgets it.
pub fn rollback_last(
    root: &Path,
    runtime: Vec<KeyRecord>,
    persist: Option<FileRecord>,
    _lock: &Lock,
    options: &Options,
) -> Result<(), ApplyError> {
    refuse_if_interrupted(root)?;
    execute(
        root,
        Journal::new(Operation::Rollback, runtime, persist).in_netns(options.netns.clone()),
        options,
        Record::None,
    )?;
    journal::remove(&state::last_apply_path(root))?;
    journal::remove(&state::journal_path(root))?;
    Ok(())
}

/// Finishes an interrupted run by restoring every value its journal recorded
/// as old, then removes the journal. Safe to repeat.
pub fn recover(root: &Path, _lock: &Lock) -> Result<Option<Journal>, ApplyError> {
    let path = state::journal_path(root);
    let Some(journal) = journal::read(&path)? else {
        return Ok(None);
    };
    let mut failures = Vec::new();
    for record in journal.runtime.iter().rev() {
        if let Err(e) = restore_key(root, &record.key, &record.old) {
            failures.push(e.to_string());
        }
    }
    if let Some(file) = &journal.persist {
        // `temp` was derived from the file and the run's pid when the journal
        // was read, never taken from it; its folder is the file's, checked.
        let temp = crate::host_path::in_tree(root, &file.temp);
        if super::confine::parent_beneath(root, &temp).is_ok() {
            let _ = std::fs::remove_file(temp);
        }
        let result = dropin::read_current(root, &file.file).and_then(|now| {
            if now != file.old {
                dropin::restore(root, &file.file, file.old.as_deref())
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            failures.push(e.to_string());
        }
    }
    if !failures.is_empty() {
        return Err(ApplyError::RecoveryFailed {
            failures,
            journal: path,
        });
    }
    journal::remove(&path)?;
    Ok(Some(journal))
}

fn refuse_if_interrupted(root: &Path) -> Result<(), ApplyError> {
    // The caller holds the lock, so a journal here belongs to a dead run.
    if let Some(found) = journal::interrupted(root)? {
        return Err(ApplyError::Interrupted {
            notice: found.seen_holding_the_lock().notice(),
        });
    }
    Ok(())
}

/// The record a successful run leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    /// `last-apply.json`, the record `rollback` undoes.
    LastApply,
    None,
}

/// The journaled transaction. Returns the journal on success; on failure
/// everything written is put back and the journal removed, unless putting
/// back failed, in which case the journal stays for `twtune rollback`.
///
/// Everything that needs new disk space — the journal, the staged file, the
/// staged last-apply record — is written before the first change; after the
/// changes only renames follow. So a full disk ends in "not applied", and a
/// success always ends "applied, recorded".
fn execute(
    root: &Path,
    journal: Journal,
    options: &Options,
    record: Record,
) -> Result<Journal, ApplyError> {
    #[cfg(not(feature = "test-hooks"))]
    let _ = options;
    check_not_stale(root, &journal)?;
    let path = state::journal_path(root);
    journal::write(&path, &journal)?;

    let staged = match journal
        .persist
        .as_ref()
        .and_then(|f| Some((&f.file, f.new.as_deref()?)))
    {
        Some((file, text)) => match dropin::stage(root, file, text) {
            Ok(staged) => Some(staged),
            Err(e) => return Err(give_back(root, &path, &journal, 0, false, e.into())),
        },
        None => None,
    };
    let staged_record = match record {
        Record::LastApply => match journal::stage(&state::last_apply_path(root), &journal) {
            Ok(staged_record) => Some(staged_record),
            Err(e) => {
                if let Some(staged) = staged {
                    staged.discard();
                }
                let cause = StepError::Record(Box::new(e));
                return Err(give_back(root, &path, &journal, 0, false, cause));
            }
        },
        Record::None => None,
    };
    // A file going back to "did not exist" is a removal, not a rename.
    let removal = journal.persist.as_ref().is_some_and(|f| f.new.is_none());

    for (index, record) in journal.runtime.iter().enumerate() {
        if let Err(e) = runtime::write_and_verify(root, &record.key, &record.new) {
            if let Some(staged) = staged {
                staged.discard();
            }
            if let Some(staged_record) = staged_record {
                staged_record.discard();
            }
            // The failed key too: a write can half-take (a read-back mismatch).
            return Err(give_back(root, &path, &journal, index + 1, false, e.into()));
        }
        #[cfg(feature = "test-hooks")]
        if index == 0
            && let Some(pause) = &options.pause_after_first_write
        {
            pause_until_removed(pause);
        }
    }

    let committed = match (staged, &journal.persist) {
        (Some(staged), _) => staged.commit(),
        (None, Some(file)) if removal => dropin::restore(root, &file.file, None),
        _ => Ok(()),
    };
    if let Err(e) = committed {
        if let Some(staged_record) = staged_record {
            staged_record.discard();
        }
        return Err(give_back(
            root,
            &path,
            &journal,
            journal.runtime.len(),
            false,
            e.into(),
        ));
    }
    if let Some(staged_record) = staged_record
        && let Err(e) = staged_record.commit()
    {
        let file_changed = journal.persist.is_some();
        return Err(give_back(
            root,
            &path,
            &journal,
            journal.runtime.len(),
            file_changed,
            StepError::Record(Box::new(e)),
        ));
    }
    Ok(journal)
}

fn check_not_stale(root: &Path, journal: &Journal) -> Result<(), ApplyError> {
    for record in &journal.runtime {
        let now = runtime::read(root, &record.key).map_err(StepError::from)?;
        if now != record.old {
            return Err(ApplyError::Stale {
                what: record.key.to_string(),
                planned: record.old.clone(),
                now,
            });
        }
    }
    if let Some(file) = &journal.persist {
        let now = dropin::read_current(root, &file.file).map_err(StepError::from)?;
        if now != file.old {
            return Err(ApplyError::Stale {
                what: file.file.clone(),
                planned: file.old.clone().unwrap_or_else(|| "(no file)".into()),
                now: now.unwrap_or_else(|| "(no file)".into()),
            });
        }
    }
    Ok(())
}

/// Restores the first `written` runtime keys, newest first, and the file when
/// `file_changed`, then drops the journal if all went back. The file is
/// renamed into place after the last key, so only a failure after that (the
/// last-apply record's rename) needs it put back.
fn give_back(
    root: &Path,
    path: &Path,
    journal: &Journal,
    written: usize,
    file_changed: bool,
    cause: StepError,
) -> ApplyError {
    let mut restored = Vec::new();
    let mut failures = Vec::new();
    if file_changed && let Some(file) = &journal.persist {
        match dropin::restore(root, &file.file, file.old.as_deref()) {
            Ok(()) => restored.push(file.file.clone()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    for record in journal.runtime[..written].iter().rev() {
        match restore_key(root, &record.key, &record.old) {
            Ok(true) => restored.push(format!("{} = {}", record.key, record.old)),
            Ok(false) => {}
            Err(e) => failures.push(e.to_string()),
        }
    }
    if failures.is_empty() {
        if let Err(e) = journal::remove(path) {
            failures.push(e.to_string());
        } else {
            return ApplyError::RolledBack { cause, restored };
        }
    }
    ApplyError::Unrestored {
        cause,
        failures,
        journal: path.to_path_buf(),
    }
}

/// Puts `key` back to `old`; false when it already was (nothing written).
fn restore_key(root: &Path, key: &SysctlKey, old: &str) -> Result<bool, StepError> {
    if runtime::read(root, key)? == old {
        return Ok(false);
    }
    runtime::write_and_verify(root, key, old)?;
    Ok(true)
}

#[cfg(feature = "test-hooks")]
fn pause_until_removed(marker: &Path) {
    if std::fs::write(marker, std::process::id().to_string()).is_err() {
        return;
    }
    while marker.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::lock;
    use crate::apply::plan::{Request, Scope, build};
    use crate::facts::persisted::PersistedConfig;

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let ipv4 = dir.path().join("proc/sys/net/ipv4");
        std::fs::create_dir_all(&ipv4).unwrap();
        std::fs::write(ipv4.join("tcp_tw_reuse"), "2\n").unwrap();
        std::fs::write(ipv4.join("tcp_fin_timeout"), "60\n").unwrap();
        dir
    }

    fn plan_for(root: &Path, sets: &[String]) -> Plan {
        let request = Request {
            findings: &[],
            sets,
            only: &[],
            skip: &[],
            scope: Scope::Both,
            persist_to: None,
            owners: &[],
            converge: true,
        };
        build(root, &PersistedConfig::default(), &request).unwrap()
    }

    #[test]
    fn a_value_changed_after_planning_stops_the_apply_untouched() {
        let dir = fixture();
        let sets = [
            "net.ipv4.tcp_tw_reuse=1".to_string(),
            "net.ipv4.tcp_fin_timeout=30".to_string(),
        ];
        let plan = plan_for(dir.path(), &sets);
        let fin = dir.path().join("proc/sys/net/ipv4/tcp_fin_timeout");
        std::fs::write(&fin, "45\n").unwrap();
        let lock = lock::acquire(dir.path(), Duration::ZERO).unwrap();
        let err = apply(dir.path(), &plan, &lock, &Options::default()).unwrap_err();
        assert!(
            matches!(&err, ApplyError::Stale { what, .. } if what == "net.ipv4.tcp_fin_timeout"),
            "{err}"
        );
        let reuse = dir.path().join("proc/sys/net/ipv4/tcp_tw_reuse");
        assert_eq!(std::fs::read_to_string(reuse).unwrap(), "2\n");
        assert!(!state::journal_path(dir.path()).exists());
        assert!(!dir.path().join("etc/sysctl.d/90-twtune.conf").exists());
    }

    #[test]
    fn apply_then_rollback_last_round_trips_and_forgets_the_record() {
        let dir = fixture();
        let root = dir.path();
        let plan = plan_for(root, &["net.ipv4.tcp_tw_reuse=1".to_string()]);
        let lock = lock::acquire(root, Duration::ZERO).unwrap();
        let journal = apply(root, &plan, &lock, &Options::default()).unwrap();
        assert_eq!(journal.runtime[0].old, "2");
        let (runtime, persist) = rollback_records(root).unwrap().unwrap();
        assert_eq!(runtime[0].new, "2");
        assert_eq!(
            persist.as_ref().unwrap().new,
            None,
            "the file did not exist before"
        );
        rollback_last(root, runtime, persist, &lock, &Options::default()).unwrap();
        let reuse = root.join("proc/sys/net/ipv4/tcp_tw_reuse");
        assert_eq!(std::fs::read_to_string(reuse).unwrap().trim(), "2");
        assert!(!root.join("etc/sysctl.d/90-twtune.conf").exists());
        assert!(rollback_records(root).unwrap().is_none());
    }
}
