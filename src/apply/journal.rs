//! The journal: what an apply is about to change, on disk before the first
//! write, so a crash can be undone.
//!
//! `ROOT/var/lib/twtune/journal.json` exists only while an apply (or a
//! rollback) is under way. Finding it later means that run was interrupted;
//! every command says so ([`interrupted`]), `apply` refuses to start, and
//! `rollback` restores the old values it records. A successful apply turns
//! its journal into `last-apply.json`, the record `rollback` undoes.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dropin;
use super::state::{self, StateError};
use crate::atomic;
use crate::sysctl::{SysctlKey, normalize_value};

const FORMAT_VERSION: u32 = 1;

/// The largest state record read back. A record holds at most the persisted
/// file's text twice; sysctl files are kilobytes.
pub const MAX_RECORD_BYTES: u64 = 4 * 1024 * 1024;
/// The most runtime keys one apply records (twtune manages a few dozen).
pub const MAX_RECORD_KEYS: usize = 1024;
/// The longest value one key may hold in a record.
pub const MAX_VALUE_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Apply,
    Rollback,
}

/// One runtime key: the value before, and the value being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub key: SysctlKey,
    pub old: String,
    pub new: String,
}

/// A runtime key as a record on disk spells it, before [`parse_record`]
/// checks it: the key stays text so a slashed or otherwise unusual spelling
/// can be named in the error rather than silently normalised.
#[derive(Deserialize)]
struct KeyRecordText {
    key: String,
    old: String,
    new: String,
}

/// The persisted file: its whole text before (`None`: it did not exist) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub file: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// The temporary file a crash may leave beside it. Written for the
    /// operator's benefit only: on reading, it is derived again from `file`
    /// and the run's pid ([`dropin::temp_name_for`]), never taken from the
    /// record, so a crafted record cannot name a file to delete.
    #[serde(default)]
    pub temp: String,
}

/// What a run changes: runtime keys in the order written, and the file.
pub type Records = (Vec<KeyRecord>, Option<FileRecord>);

/// The network namespace a run changed, so `rollback` writes that one or
/// nothing. Recorded for every run on the live host, with or without
/// `--netns` (an apply started by `ip netns exec` or `nsenter -n` changes the
/// namespace it was started in, not the host's). Absent from runs under
/// `--root` and from records written before twtune recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsRecord {
    /// The namespace's inode when the run changed it. Not an identity on its
    /// own: the kernel gives a dead namespace's inode to a new one.
    pub inode: u64,
    /// Its SO_NETNS_COOKIE, which the kernel never gives to another
    /// namespace; absent on kernels before 5.14, where `rollback` refuses
    /// any namespace it cannot prove is this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<u64>,
    /// How `--netns` named it (a name, a path or a PID), tried first to find
    /// it again; absent when the run changed the namespace it ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl NetnsRecord {
    /// How people are told which namespace: its `--netns` target, or its
    /// inode when it had none.
    pub fn describe(&self) -> String {
        match &self.target {
            Some(target) => format!("{target} (inode {})", self.inode),
            None => format!("inode {}", self.inode),
        }
    }
}

/// The longest `--netns` target a record may hold.
pub const MAX_TARGET_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Journal {
    pub version: u32,
    pub operation: Operation,
    pub pid: u32,
    /// Seconds since the Unix epoch.
    pub started: u64,
    pub runtime: Vec<KeyRecord>,
    pub persist: Option<FileRecord>,
    /// The namespace changed (see [`NetnsRecord`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<NetnsRecord>,
}

/// [`Journal`] as read, before [`parse_record`] has checked its keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalText {
    version: u32,
    operation: Operation,
    pid: u32,
    started: u64,
    runtime: Vec<KeyRecordText>,
    persist: Option<FileRecord>,
    #[serde(default)]
    netns: Option<NetnsRecord>,
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
            netns: None,
        }
    }

    /// The same run, recorded as changing the namespace `netns`.
    pub fn in_netns(mut self, netns: Option<NetnsRecord>) -> Self {
        self.netns = netns;
        self
    }

    /// What undoing this run writes: every key from the value it recorded
    /// as new back to its old one, newest first, and the file back to its
    /// old text (removed when it did not exist).
    pub fn inverse(&self) -> Records {
        let runtime = self
            .runtime
            .iter()
            .rev()
            .map(|r| KeyRecord {
                key: r.key.clone(),
                old: r.new.clone(),
                new: r.old.clone(),
            })
            .collect();
        let persist = self.persist.as_ref().map(|f| FileRecord {
            file: f.file.clone(),
            old: f.new.clone(),
            new: f.old.clone(),
            temp: f.temp.clone(),
        });
        (runtime, persist)
    }
}

/// Why a state record is not one twtune would have written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("not a twtune record: {0}")]
    Syntax(String),
    #[error("format version {0} is not {FORMAT_VERSION}")]
    Version(u32),
    #[error("{0}")]
    Key(String),
    #[error("{key}: {reason}")]
    Value { key: String, reason: String },
    #[error("records {0} runtime keys; an apply records at most {MAX_RECORD_KEYS}")]
    TooManyKeys(usize),
    #[error("records {0} twice")]
    DuplicateKey(String),
    #[error("persisted file {file:?}: {reason}")]
    File { file: String, reason: String },
    #[error("network namespace {target:?}: {reason}")]
    Netns { target: String, reason: String },
}

/// Parses and validates a journal or last-apply record from its text.
///
/// Pure (text in, record out) so it can be fuzzed and tested on literal
/// text. The record is untrusted: `rollback` writes what it says, so it is
/// held to exactly the checks `--set` and `--persist-to` pass — every key a
/// managed one, every value one line of printable text, the file a `*.conf`
/// in a sysctl.d folder or /etc/sysctl.conf with no `..` — and the temporary
/// file's name is derived, not read.
pub fn parse_record(text: &str) -> Result<Journal, RecordError> {
    let read: JournalText =
        serde_json::from_str(text).map_err(|e| RecordError::Syntax(e.to_string()))?;
    if read.version != FORMAT_VERSION {
        return Err(RecordError::Version(read.version));
    }
    if read.runtime.len() > MAX_RECORD_KEYS {
        return Err(RecordError::TooManyKeys(read.runtime.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut runtime = Vec::with_capacity(read.runtime.len());
    for record in read.runtime {
        let key =
            SysctlKey::parse_managed(&record.key).map_err(|e| RecordError::Key(e.to_string()))?;
        if key.as_str() != record.key {
            return Err(RecordError::Key(format!(
                "key {:?} is not spelled the way twtune records keys ({key})",
                record.key
            )));
        }
        if !seen.insert(key.clone()) {
            return Err(RecordError::DuplicateKey(record.key));
        }
        for value in [&record.old, &record.new] {
            check_value(value).map_err(|reason| RecordError::Value {
                key: record.key.clone(),
                reason,
            })?;
        }
        runtime.push(KeyRecord {
            key,
            old: record.old,
            new: record.new,
        });
    }
    if let Some(netns) = &read.netns {
        check_netns(netns)?;
    }
    let mut journal = Journal {
        version: read.version,
        operation: read.operation,
        pid: read.pid,
        started: read.started,
        runtime,
        persist: read.persist,
        netns: read.netns,
    };
    if let Some(file) = &mut journal.persist {
        let invalid = |reason: String| RecordError::File {
            file: file.file.clone(),
            reason,
        };
        dropin::check_location_text(&file.file).map_err(|e| invalid(e.to_string()))?;
        for text in [&file.old, &file.new].into_iter().flatten() {
            if text.contains('\0') {
                return Err(invalid("its recorded text contains a NUL byte".into()));
            }
        }
        file.temp = dropin::temp_name_for(&file.file, journal.pid);
    }
    Ok(journal)
}

/// A namespace as `--netns` accepts it: `rollback` opens what the record
/// names, so it is held to the same parsing, and to one printable line.
fn check_netns(netns: &NetnsRecord) -> Result<(), RecordError> {
    let invalid = |reason: String| RecordError::Netns {
        target: netns.describe(),
        reason,
    };
    if netns.inode == 0 {
        return Err(invalid("inode 0 is no namespace".into()));
    }
    // The kernel's first cookie is 1 (atomic64_inc_return on a zeroed counter).
    if netns.cookie == Some(0) {
        return Err(invalid("cookie 0 is no namespace's".into()));
    }
    let Some(target) = &netns.target else {
        return Ok(());
    };
    if target.len() > MAX_TARGET_BYTES {
        return Err(invalid(format!("longer than {MAX_TARGET_BYTES} bytes")));
    }
    if target.chars().any(char::is_control) {
        return Err(invalid("contains a newline or control character".into()));
    }
    crate::facts::netns::parse_target(target).map_err(|e| invalid(e.to_string()))?;
    Ok(())
}

/// A value as twtune records it: read from /proc or checked by `--set`, so
/// one line of printable text with whitespace already folded.
fn check_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("a value longer than {MAX_VALUE_BYTES} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "value {value:?} contains a newline or control character"
        ));
    }
    if normalize_value(value) != value {
        return Err(format!("value {value:?} is not in the form twtune records"));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is damaged or not a record twtune wrote ({source}); nothing was changed — inspect it and remove it once the host is as it should be"
    )]
    Invalid { path: PathBuf, source: RecordError },
    #[error(
        "{path}: {reason}; twtune keeps its state only in a folder of root's that nobody else can write"
    )]
    UnsafeState { path: PathBuf, reason: String },
    #[error(transparent)]
    State(#[from] StateError),
}

/// A record written and fsynced under a temporary name, not yet in place.
#[derive(Debug)]
pub struct StagedRecord(atomic::Staged);

impl StagedRecord {
    /// Renames it into place and fsyncs the folder: no new data blocks, so a
    /// full disk has already failed at [`stage`].
    pub fn commit(self) -> Result<(), JournalError> {
        let path = self.0.dest_path().to_path_buf();
        self.0
            .commit()
            .map_err(|source| JournalError::Write { path, source })
    }

    pub fn discard(self) {
        self.0.discard();
    }
}

/// Writes `journal` beside `path` under a temporary name (fsynced, mode
/// 0600) without replacing anything yet.
pub fn stage(path: &Path, journal: &Journal) -> Result<StagedRecord, JournalError> {
    let err = |source| JournalError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut text = serde_json::to_string_pretty(journal).map_err(|e| err(io::Error::other(e)))?;
    text.push('\n');
    let temp = path.with_extension("json.tmp");
    atomic::stage(path, &temp, text.as_bytes(), 0o600)
        .map(StagedRecord)
        .map_err(err)
}

/// Writes `journal` to `path` durably: temp file, fsync, rename, fsync folder.
/// `path` is a file in the state folder of the root it lies under.
pub fn write(path: &Path, journal: &Journal) -> Result<(), JournalError> {
    if let Some(root) = state::root_of(path) {
        state::prepare_state_dir(&root)?;
    }
    stage(path, journal)?.commit()
}

pub fn read(path: &Path) -> Result<Option<Journal>, JournalError> {
    if let Some(root) = state::root_of(path)
        && !state::check_state_dir(&root)?
    {
        return Ok(None);
    }
    let rerr = |source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(JournalError::UnsafeState {
                path: path.to_path_buf(),
                reason: "the state file is a symbolic link".into(),
            });
        }
        Err(source) => return Err(rerr(source)),
    };
    if !file.metadata().map_err(rerr)?.is_file() {
        return Err(JournalError::UnsafeState {
            path: path.to_path_buf(),
            reason: "the state file is not a regular file".into(),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(rerr)?;
    let invalid = |source| JournalError::Invalid {
        path: path.to_path_buf(),
        source,
    };
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(invalid(RecordError::Syntax(format!(
            "larger than {MAX_RECORD_BYTES} bytes"
        ))));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| invalid(RecordError::Syntax("not UTF-8 text".into())))?;
    parse_record(&text).map(Some).map_err(invalid)
}

pub fn remove(path: &Path) -> Result<(), JournalError> {
    atomic::remove(path).map_err(|source| JournalError::Write {
        path: path.to_path_buf(),
        source,
    })
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
    /// The same run as seen by a process holding the lock: nobody else holds
    /// it, so the run is dead, not under way.
    pub fn seen_holding_the_lock(self) -> Interrupted {
        Interrupted {
            running: false,
            ..self
        }
    }

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
        if let Some(netns) = &self.journal.netns {
            touched.push_str(&format!(" in network namespace {}", netns.describe()));
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
    let path = state::journal_path(root);
    Ok(read(&path)?.map(|journal| Interrupted {
        path,
        journal,
        running: super::lock::held_elsewhere(root),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::state::{journal_path, last_apply_path, prepare_state_dir, state_dir};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_journal_round_trips_and_announces_itself() {
        let root = tempfile::tempdir().unwrap();
        assert!(interrupted(root.path()).unwrap().is_none());
        let journal = Journal::new(
            Operation::Apply,
            vec![KeyRecord {
                key: SysctlKey::ipv4("tcp_tw_reuse"),
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

    fn record(runtime: &str, persist: &str) -> String {
        format!(
            r#"{{"version":1,"operation":"apply","pid":4242,"started":0,"runtime":[{runtime}],"persist":{persist}}}"#
        )
    }

    #[test]
    fn a_record_twtune_wrote_parses_back() {
        let text = record(
            r#"{"key":"net.ipv4.tcp_tw_reuse","old":"2","new":"1"}"#,
            r#"{"file":"/etc/sysctl.d/90-twtune.conf","old":null,"new":"a = 1\n","temp":"/etc/passwd"}"#,
        );
        let journal = parse_record(&text).unwrap();
        assert_eq!(
            journal.persist.unwrap().temp,
            "/etc/sysctl.d/.90-twtune.conf.twtune-4242.tmp",
            "derived from the file and pid, never read"
        );
    }

    #[test]
    fn a_record_is_held_to_the_checks_of_set_and_persist_to() {
        let key =
            |k: &str, v: &str| record(&format!(r#"{{"key":"{k}","old":"0","new":"{v}"}}"#), "null");
        let file = |f: &str| {
            record(
                "",
                &format!(r#"{{"file":"{f}","old":null,"new":"x","temp":""}}"#),
            )
        };
        for (text, says) in [
            (key("kernel.core_pattern", "1"), "outside net.ipv4"),
            (key("net/ipv4/../../kernel/x", "1"), "relative component"),
            (key("net.ipv4.tcp_tw_reuse", "1\n2"), "control character"),
            (key("net.ipv4.tcp_tw_reuse", " 1"), "not in the form"),
            (file("/etc/shadow"), "not read at boot"),
            (file("/etc/sysctl.d/../shadow"), "without `.`, `..`"),
            (file("/etc/sysctl.d//x.conf"), "doubled slashes"),
            (file("etc/sysctl.d/x.conf"), "absolute"),
            (file("/etc/sysctl.d/x"), "*.conf"),
            (
                record("", "null").replace("\"version\":1", "\"version\":2"),
                "version",
            ),
            (
                record("", "null").replace("}", ",\"extra\":1}"),
                "unknown field",
            ),
            (
                record(
                    r#"{"key":"net.ipv4.tcp_tw_reuse","old":"2","new":"1"},{"key":"net.ipv4.tcp_tw_reuse","old":"2","new":"1"}"#,
                    "null",
                ),
                "twice",
            ),
        ] {
            let err = parse_record(&text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn a_record_names_the_namespace_it_changed_and_old_records_still_parse() {
        let old = parse_record(&record("", "null")).unwrap();
        assert_eq!(old.netns, None, "a record from before --netns");
        let with = record("", "null").replace(
            "\"persist\":null",
            r#""persist":null,"netns":{"inode":4026532290,"cookie":7,"target":"blue"}"#,
        );
        let journal = parse_record(&with).unwrap();
        assert_eq!(
            journal.netns,
            Some(NetnsRecord {
                inode: 4026532290,
                cookie: Some(7),
                target: Some("blue".into())
            })
        );
        let written = serde_json::to_string(&journal).unwrap();
        assert_eq!(parse_record(&written).unwrap(), journal);
        // An apply run where it ran (`ip netns exec`): no target; and one
        // from before cookies were recorded: no cookie.
        for (netns, inode, cookie, target) in [
            (r#"{"inode":9,"cookie":3}"#, 9, Some(3), None),
            (r#"{"inode":9,"target":"blue"}"#, 9, None, Some("blue")),
        ] {
            let text = record("", "null").replace(
                "\"persist\":null",
                &format!(r#""persist":null,"netns":{netns}"#),
            );
            let netns = parse_record(&text).unwrap().netns.unwrap();
            assert_eq!(
                (netns.inode, netns.cookie, netns.target.as_deref()),
                (inode, cookie, target)
            );
        }
        let no_netns = serde_json::to_string(&old).unwrap();
        assert!(!no_netns.contains("netns"), "{no_netns}");
        for (netns, says) in [
            (r#"{"inode":1,"target":""}"#, "not a name"),
            (
                r#"{"inode":1,"target":"a
b"}"#,
                "control character",
            ),
            (r#"{"inode":0,"target":"blue"}"#, "inode 0"),
            (r#"{"inode":1,"target":".."}"#, "not a name"),
            (r#"{"inode":1,"target":"blue","x":1}"#, "unknown field"),
            (r#"{"inode":1,"cookie":0}"#, "cookie 0"),
            (r#"{"inode":1,"cookie":-1}"#, "invalid value"),
            (r#"{"inode":1,"cookie":"1"}"#, "invalid type"),
            (
                r#"{"inode":1,"cookie":18446744073709551616}"#,
                "not a twtune record",
            ),
        ] {
            let text = record("", "null").replace(
                "\"persist\":null",
                &format!(r#""persist":null,"netns":{netns}"#),
            );
            let err = parse_record(&text).unwrap_err().to_string();
            assert!(err.contains(says), "{netns}: {err}");
        }
    }

    #[test]
    fn state_is_private_whatever_the_umask() {
        let root = tempfile::tempdir().unwrap();
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let journal = Journal::new(Operation::Apply, vec![], None);
        let written = write(&journal_path(root.path()), &journal);
        nix::sys::stat::umask(old);
        written.unwrap();
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(state_dir(root.path())), 0o700);
        assert_eq!(mode(journal_path(root.path())), 0o600);
    }

    #[test]
    fn a_state_folder_that_is_a_link_or_writable_by_others_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("var/lib")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), state_dir(root.path())).unwrap();
        let journal = Journal::new(Operation::Apply, vec![], None);
        let err = write(&journal_path(root.path()), &journal).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(read(&journal_path(root.path())).is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

        std::fs::remove_file(state_dir(root.path())).unwrap();
        std::fs::create_dir(state_dir(root.path())).unwrap();
        std::fs::set_permissions(
            state_dir(root.path()),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let err = write(&journal_path(root.path()), &journal).unwrap_err();
        assert!(err.to_string().contains("others can write it"), "{err}");

        // Someone else's folder (only root can hand one over; skip otherwise).
        std::fs::set_permissions(
            state_dir(root.path()),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        if nix::unistd::geteuid().is_root() {
            nix::unistd::chown(
                &state_dir(root.path()),
                Some(nix::unistd::Uid::from_raw(4321)),
                None,
            )
            .unwrap();
            let err = write(&journal_path(root.path()), &journal).unwrap_err();
            assert!(err.to_string().contains("owned by uid 4321"), "{err}");
        }
    }

    #[test]
    fn a_link_planted_at_a_state_file_is_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let victim = tempfile::tempdir().unwrap();
        let precious = victim.path().join("precious");
        std::fs::write(&precious, "precious\n").unwrap();
        prepare_state_dir(root.path()).unwrap();
        let temp = journal_path(root.path()).with_extension("json.tmp");
        std::os::unix::fs::symlink(&precious, &temp).unwrap();
        std::os::unix::fs::symlink(&precious, last_apply_path(root.path())).unwrap();
        let journal = Journal::new(Operation::Apply, vec![], None);
        write(&journal_path(root.path()), &journal).unwrap();
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
        let err = read(&last_apply_path(root.path())).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
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
