//! Reading and writing one runtime sysctl, and checking that the kernel kept
//! what was written.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::facts::{self, FactError};
use crate::sysctl::{SysctlKey, normalize_value};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{key} does not exist on this kernel ({path})")]
    Absent { key: String, path: String },
    #[error("cannot read {key}: {source}")]
    Read { key: String, source: io::Error },
    #[error("writing {key} = {value:?} failed: {}", describe(source))]
    Write {
        key: String,
        value: String,
        source: io::Error,
    },
    #[error("{key}: wrote {wrote:?} but it reads back as {got:?}")]
    ReadBack {
        key: String,
        wrote: String,
        got: String,
    },
}

/// Says what an errno means for a sysctl write, since "Invalid argument" alone
/// does not tell an operator where to look.
fn describe(err: &io::Error) -> String {
    let why = match err.raw_os_error() {
        Some(e) if e == nix::libc::EINVAL => "the kernel rejected the value",
        Some(e) if e == nix::libc::EACCES => {
            "the key is read-only here (in this network namespace or on this kernel)"
        }
        Some(e) if e == nix::libc::EPERM => {
            "not permitted (writing net sysctls needs CAP_NET_ADMIN)"
        }
        Some(e) if e == nix::libc::EROFS => "/proc/sys is mounted read-only (a container?)",
        _ => return err.to_string(),
    };
    format!("{why} ({err})")
}

/// The current value, whitespace folded, read through the one sysctl reader
/// ([`facts::read_sysctl`]). A missing file is an absent key.
pub fn read(root: &Path, key: &SysctlKey) -> Result<String, RuntimeError> {
    let read_err = |source| RuntimeError::Read {
        key: key.to_string(),
        source,
    };
    // The key is read where it will be written: a folder on its way that
    // leaves a --root tree is refused here as it is before a write, rather
    // than read as the tree sees it (an absent key).
    super::confine::parent_beneath(root, &key.proc_path(root)).map_err(|e| read_err(e.into()))?;
    match facts::read_sysctl(root, key) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(RuntimeError::Absent {
            key: key.to_string(),
            path: key.proc_path(root).display().to_string(),
        }),
        Err(FactError::Read { source, .. }) => Err(read_err(source)),
        Err(other) => Err(read_err(io::Error::other(other.to_string()))),
    }
}

/// Writes `value` in one write(2), as sysctl(8) does (the kernel parses each
/// write separately), then reads it back.
pub fn write_and_verify(root: &Path, key: &SysctlKey, value: &str) -> Result<(), RuntimeError> {
    let path = key.proc_path(root);
    let write_err = |source| RuntimeError::Write {
        key: key.to_string(),
        value: value.to_string(),
        source,
    };
    // Under --root, never through a link out of the tree (ROOT/proc -> /proc
    // would write the host's own sysctl).
    super::confine::parent_beneath(root, &path).map_err(|e| write_err(e.into()))?;
    // Not create: a sysctl the kernel lacks must fail, not appear in a fixture tree.
    // O_NOFOLLOW: /proc/sys entries are never links; a planted one is refused.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(&path)
        .map_err(write_err)?;
    if !file.metadata().map_err(write_err)?.is_file() {
        return Err(write_err(io::Error::other("not a regular file")));
    }
    file.write_all(format!("{value}\n").as_bytes())
        .map_err(write_err)?;
    drop(file);
    let got = read(root, key)?;
    if got != normalize_value(value) {
        return Err(RuntimeError::ReadBack {
            key: key.to_string(),
            wrote: value.to_string(),
            got,
        });
    }
    Ok(())
}
