//! The state folder, `ROOT/var/lib/twtune`, and the names of what lives in
//! it: the lock, the journal of a run under way, and the last-apply record.
//!
//! The folder is root's and nobody else may write it: `rollback` writes what
//! the records there say, so a record another user could plant would be a
//! way to set any sysctl. Every use checks it first ([`check_state_dir`]).

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::confine;

pub const STATE_DIR: &str = "var/lib/twtune";
pub const LOCK: &str = "lock";
pub const JOURNAL: &str = "journal.json";
pub const LAST_APPLY: &str = "last-apply.json";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path}: {reason}; twtune keeps its state only in a folder of root's that nobody else can write"
    )]
    Unsafe { path: PathBuf, reason: String },
}

pub fn state_dir(root: &Path) -> PathBuf {
    root.join(STATE_DIR)
}

pub fn lock_path(root: &Path) -> PathBuf {
    state_dir(root).join(LOCK)
}

pub fn journal_path(root: &Path) -> PathBuf {
    state_dir(root).join(JOURNAL)
}

pub fn last_apply_path(root: &Path) -> PathBuf {
    state_dir(root).join(LAST_APPLY)
}

/// `ROOT` for `ROOT/var/lib/twtune/FILE`.
pub fn root_of(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    dir.ends_with(STATE_DIR)
        .then(|| dir.ancestors().nth(3).map(Path::to_path_buf))
        .flatten()
}

/// Checks the state folder as it is: not a symlink, owned by root (or the
/// user running twtune), writable by nobody else, and under `--root` inside
/// the root.
/// `Ok(false)` when it does not exist.
pub fn check_state_dir(root: &Path) -> Result<bool, StateError> {
    let dir = state_dir(root);
    let unsafe_state = |reason: String| StateError::Unsafe {
        path: dir.clone(),
        reason,
    };
    if !root.is_dir() {
        return Ok(false);
    }
    confine::parent_beneath(root, &dir).map_err(|e| unsafe_state(e.to_string()))?;
    let meta = match dir.symlink_metadata() {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(StateError::Read { path: dir, source }),
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_state("the state folder is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_state("the state folder is not a folder".into()));
    }
    // Root's, or the user's running twtune (a fixture tree of a non-root
    // test run); an unprivileged `twtune check` still reads root's state.
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(unsafe_state(format!(
            "the state folder is owned by uid {}, neither root nor {me}",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_state(format!(
            "the state folder has mode {:o}: others can write it",
            meta.mode() & 0o777
        )));
    }
    Ok(true)
}

/// Creates the state folder (mode 0700 whatever the umask) or checks the one
/// there, then narrows an older, wider mode to 0700.
pub fn prepare_state_dir(root: &Path) -> Result<PathBuf, StateError> {
    let dir = state_dir(root);
    let werr = |source| StateError::Write {
        path: dir.clone(),
        source,
    };
    if !check_state_dir(root)? {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(werr)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(werr(source)),
        }
        check_state_dir(root)?;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(werr)?;
    Ok(dir)
}
