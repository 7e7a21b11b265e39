//! Replacing a file atomically and durably: the one way twtune writes a file
//! (the journal, the last-apply record, the persisted sysctl file).
//!
//! The new text goes to a temporary name beside the destination (created
//! new with O_EXCL|O_NOFOLLOW, so no planted link is followed), is fsynced,
//! renamed over the destination, and the folder is fsynced. A crash leaves
//! either the old file or the new one, never half of one; the caller chooses
//! a temporary name that nothing reads by mistake.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// fsync the folder holding `path`, so a rename or unlink in it is durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// A new version written and fsynced under a temporary name, not yet
/// visible under the destination's name.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    dest: PathBuf,
}

/// Writes `text` to `temp` with `mode` (whatever the umask) and fsyncs it.
/// A leftover at `temp` (a killed run's, or a planted link) is unlinked
/// first, never opened. Everything that needs disk space happens here, so a
/// full disk fails before anything is replaced.
pub fn stage(dest: &Path, temp: &Path, text: &[u8], mode: u32) -> io::Result<Staged> {
    match std::fs::remove_file(temp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let written = (|| -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .mode(mode)
            .open(temp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(text)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(temp);
        return Err(e);
    }
    Ok(Staged {
        temp: temp.to_path_buf(),
        dest: dest.to_path_buf(),
    })
}

impl Staged {
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    pub fn dest_path(&self) -> &Path {
        &self.dest
    }

    /// Renames it over the destination and fsyncs the folder: no new data
    /// blocks, so a full disk has already failed at [`stage`].
    pub fn commit(self) -> io::Result<()> {
        if let Err(e) = std::fs::rename(&self.temp, &self.dest) {
            self.discard();
            return Err(e);
        }
        sync_dir(&self.dest)
    }

    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Why a file could not be published into a shared folder.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{} names no file", .0.display())]
    NoFileName(PathBuf),
    #[error(
        "{}: a folder on the way is a symbolic link; twtune does not follow links to the folder it writes in",
        .0.display()
    )]
    LinkedFolder(PathBuf),
    #[error(
        "{} is writable by every user and has no sticky bit: anyone could replace the file twtune writes there. Make it writable only by its owner (chmod o-w) or set the sticky bit (chmod +t)",
        .0.display()
    )]
    SharedFolder(PathBuf),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Replaces `dest` with `text` (mode `mode`) where other writers, and other
/// users, may be at work in the same folder: a textfile collector's folder.
///
/// - The folder is opened one component at a time without following links,
///   and every later step is relative to that open folder, so a link swapped
///   in on the way cannot redirect the write.
/// - A folder every user may write is refused unless it has the sticky bit:
///   without it anyone can rename or unlink what twtune put there.
/// - The new text goes to a name no other run uses (pid, time and a counter,
///   created O_EXCL; a name taken, by another run or by a planted file or
///   folder, just means the next name), so concurrent runs never share a
///   temporary file, and each rename puts a whole file in place: a reader
///   sees the old text or a new one, never an empty or partial one.
pub fn publish(dest: &Path, text: &[u8], mode: u32) -> Result<(), PublishError> {
    use nix::fcntl::{OFlag, open, openat, renameat};
    use nix::sys::stat::{Mode, fstat};
    use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    let io_err = |path: &Path, e: nix::Error| PublishError::Io {
        path: path.to_path_buf(),
        source: io::Error::from(e),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| PublishError::NoFileName(dest.to_path_buf()))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir_flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    let start = if parent.is_absolute() { "/" } else { "." };
    let mut dir: OwnedFd = open(start, dir_flags, Mode::empty()).map_err(|e| io_err(&parent, e))?;
    let mut walked = PathBuf::from(start);
    for component in parent.components() {
        use std::path::Component;
        let part = match component {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(part) => part,
            Component::ParentDir => std::ffi::OsStr::new(".."),
            Component::Prefix(_) => continue,
        };
        walked.push(part);
        dir = match openat(dir.as_fd(), part, dir_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(nix::Error::ELOOP) | Err(nix::Error::ENOTDIR)
                if std::fs::symlink_metadata(&walked).is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                return Err(PublishError::LinkedFolder(walked));
            }
            Err(e) => return Err(io_err(&walked, e)),
        };
    }
    let stat = fstat(dir.as_fd()).map_err(|e| io_err(&parent, e))?;
    let (others_write, sticky) = (0o002, 0o1000);
    if stat.st_mode & others_write != 0 && stat.st_mode & sticky == 0 {
        return Err(PublishError::SharedFolder(parent));
    }

    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut attempt = 0u32;
    let (temp, file) = loop {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A dot name without the destination's suffix: a textfile
        // collector reads only `*.prom`.
        let mut temp = b".".to_vec();
        temp.extend_from_slice(name.as_bytes());
        temp.extend_from_slice(format!(".{}.{nanos:x}.{n}.tmp", std::process::id()).as_bytes());
        let temp = std::ffi::OsString::from(std::ffi::OsStr::from_bytes(&temp));
        match openat(
            dir.as_fd(),
            temp.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode & 0o777),
        ) {
            // SAFETY: openat returned a new descriptor this code alone owns.
            Ok(fd) => break (temp, unsafe { File::from_raw_fd(fd.into_raw_fd()) }),
            Err(nix::Error::EEXIST) if attempt < 100 => attempt += 1,
            Err(e) => return Err(io_err(&parent.join(&temp), e)),
        }
    };
    let temp_path = parent.join(&temp);
    let unlink_temp = || {
        let _ = nix::unistd::unlinkat(
            dir.as_fd(),
            temp.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    };
    let written = (|| -> io::Result<()> {
        let mut file = file;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(text)?;
        file.sync_all()
    })();
    if let Err(source) = written {
        unlink_temp();
        return Err(PublishError::Io {
            path: temp_path,
            source,
        });
    }
    if let Err(e) = renameat(dir.as_fd(), temp.as_os_str(), dir.as_fd(), name) {
        unlink_temp();
        return Err(io_err(dest, e));
    }
    nix::unistd::fsync(dir.as_fd()).map_err(|e| io_err(&parent, e))
}

/// Removes `path` durably (the folder fsynced); a file already gone is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_text_appears_only_on_commit_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("file");
        let temp = dir.path().join(".file.tmp");
        std::fs::write(&dest, "old\n").unwrap();
        let staged = stage(&dest, &temp, b"new\n", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
        staged.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new\n");
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!temp.exists());
        stage(&dest, &temp, b"other\n", 0o600).unwrap().discard();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new\n");
        remove(&dest).unwrap();
        remove(&dest).unwrap();
        assert!(!dest.exists());
    }

    #[test]
    fn a_link_planted_at_the_temporary_name_is_removed_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let precious = dir.path().join("precious");
        std::fs::write(&precious, "keep\n").unwrap();
        let temp = dir.path().join(".file.tmp");
        std::os::unix::fs::symlink(&precious, &temp).unwrap();
        stage(&dir.path().join("file"), &temp, b"x\n", 0o644)
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep\n");
    }
}
