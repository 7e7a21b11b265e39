//! One apply or rollback at a time: an exclusive flock on
//! `ROOT/var/lib/twtune/lock`, held until the run ends (the kernel drops it
//! when the process dies, so a crash never leaves a stale lock).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::state::{StateError, lock_path, prepare_state_dir};

/// How long a second run waits for the first by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the lock file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("another twtune apply or rollback holds {path}; gave up after waiting {}s", waited.as_secs_f64())]
    Busy { path: PathBuf, waited: Duration },
}

/// Held while alive.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock, polling until `wait` has passed.
pub fn acquire(root: &Path, wait: Duration) -> Result<Lock, LockError> {
    let path = lock_path(root);
    let open_err = |source| LockError::Open {
        path: path.clone(),
        source,
    };
    prepare_state_dir(root)?;
    // O_NOFOLLOW: a link planted at the lock's name is refused, not followed
    // (creating through a dangling link would make a file anywhere).
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(&path)
        .map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if !meta.is_file() {
        return Err(LockError::Open {
            path,
            source: io::Error::other("not a regular file"),
        });
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(open_err)?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy { path, waited: wait });
            }
            Err(TryLockError::Error(source)) => return Err(LockError::Open { path, source }),
        }
    }
}

/// True when another process holds the lock right now (an apply under way),
/// without creating anything: the lock file is opened read-only if it exists.
pub fn held_elsewhere(root: &Path) -> bool {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(lock_path(root));
    match opened {
        Ok(file) => matches!(file.try_lock(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_fails_clearly() {
        let root = tempfile::tempdir().unwrap();
        let held = acquire(root.path(), Duration::ZERO).unwrap();
        let err = acquire(root.path(), Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, LockError::Busy { .. }));
        assert!(err.to_string().contains("another twtune"), "{err}");
        drop(held);
        assert!(acquire(root.path(), Duration::ZERO).is_ok());
    }
}
