//! Keeping every write under `--root` inside the root.
//!
//! A `--root` tree is untrusted: a link at `ROOT/proc`, `ROOT/etc/sysctl.d`
//! or `ROOT/var/lib` pointing at the host's own folders would otherwise make
//! an apply against a fixture tree write the host's sysctls or files. Before
//! each write, the folder it goes into is resolved with openat2(2)
//! RESOLVE_BENEATH from the root, which fails when any step of the resolution
//! (a `..`, an absolute link, a relative link climbing out) leaves the root;
//! the last component is then opened with O_NOFOLLOW by the writer itself.
//! With the default root `/` nothing can lie outside it and the check is void.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};

#[derive(Debug, thiserror::Error)]
#[error("{} leaves the root {}: a symbolic link or `..` on the way points outside it; twtune does not write through it", path.display(), root.display())]
pub struct Escapes {
    pub root: PathBuf,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error(transparent)]
    Escapes(#[from] Escapes),
    #[error("cannot resolve {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl From<ConfineError> for io::Error {
    fn from(err: ConfineError) -> io::Error {
        match err {
            ConfineError::Io { source, .. } => source,
            escapes => io::Error::new(io::ErrorKind::PermissionDenied, escapes.to_string()),
        }
    }
}

fn is_host_root(root: &Path) -> bool {
    root.canonicalize().is_ok_and(|r| r == Path::new("/"))
}

/// Checks that the folder holding `path` (or, while it does not exist yet,
/// its deepest existing ancestor) resolves beneath `root`.
pub fn parent_beneath(root: &Path, path: &Path) -> Result<(), ConfineError> {
    if is_host_root(root) {
        return Ok(());
    }
    let rel = path.strip_prefix(root).map_err(|_| Escapes {
        root: root.to_path_buf(),
        path: path.to_path_buf(),
    })?;
    let mut dir = rel.parent().unwrap_or(Path::new("")).to_path_buf();
    let root_dir = std::fs::File::open(root).map_err(|source| ConfineError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    loop {
        let target = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir.as_path()
        };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        match openat2(root_dir.as_fd(), target, how) {
            Ok(_) => return Ok(()),
            Err(Errno::ENOENT) if !dir.as_os_str().is_empty() => {
                dir = dir.parent().unwrap_or(Path::new("")).to_path_buf();
            }
            Err(Errno::EXDEV | Errno::ELOOP) => {
                return Err(Escapes {
                    root: root.to_path_buf(),
                    path: path.to_path_buf(),
                }
                .into());
            }
            Err(Errno::ENOSYS) => return canonical_fallback(root, path),
            Err(errno) => {
                return Err(ConfineError::Io {
                    path: root.join(target),
                    source: io::Error::from(errno),
                });
            }
        }
    }
}

/// Kernels before 5.6 lack openat2: compare canonical paths instead.
fn canonical_fallback(root: &Path, path: &Path) -> Result<(), ConfineError> {
    let root_canon = root.canonicalize().map_err(|source| ConfineError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let mut dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    while !dir.exists() {
        match dir.parent() {
            Some(parent) => dir = parent.to_path_buf(),
            None => break,
        }
    }
    match dir.canonicalize() {
        Ok(canon) if canon.starts_with(&root_canon) => Ok(()),
        _ => Err(Escapes {
            root: root.to_path_buf(),
            path: path.to_path_buf(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_linked_out_of_the_root_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc/sysctl.d")).unwrap();
        let file = root.path().join("etc/sysctl.d/90-twtune.conf");
        assert!(matches!(
            parent_beneath(root.path(), &file),
            Err(ConfineError::Escapes(_))
        ));
        // A link that stays inside the tree is fine.
        std::fs::create_dir_all(root.path().join("usr/lib/sysctl.d")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
        parent_beneath(root.path(), &root.path().join("lib/sysctl.d/x.conf")).unwrap();
        // A folder that does not exist yet is judged by its existing ancestor.
        parent_beneath(root.path(), &root.path().join("var/lib/twtune/lock")).unwrap();
        assert!(parent_beneath(root.path(), &root.path().join("etc/sysctl.d/new/x.conf")).is_err());
    }
}
