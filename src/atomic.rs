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
