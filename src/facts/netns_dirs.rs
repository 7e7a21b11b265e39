//! The sysctl folders of the network namespace being gathered, opened once
//! in it, so each file beneath them is opened from its folder rather than
//! looked up from `/` (`check --all-netns`).
//!
//! Why: the kernel keeps a dentry per network namespace for each folder of
//! /proc/sys/net, every one under the same name and parent, told apart only
//! by the namespace whose sysctl set holds it (fs/proc/proc_sysctl.c,
//! proc_sys_compare() and sysctl_is_seen()). Each path walk through
//! /proc/sys/net/ipv4 compares against every namespace's `ipv4` in turn: with
//! 1,000 namespaces, a third of `check --all-netns`'s time went into that
//! walk, and the whole run grew with the square of the namespaces. A file
//! opened from a folder already resolved in this namespace is looked up
//! under that folder alone.
//!
//! A folder opened in one namespace keeps showing that namespace's values
//! wherever the thread goes (the entries are looked up in the folder's own
//! sysctl set), so the folders are opened after entering a namespace and
//! dropped before leaving it: [`Opened`] is a guard, in force on this thread
//! while it lives. Without one, nothing changes: every read opens its path.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// The folders opened in each namespace: those holding the sysctls a gather
/// reads (the gathered keys and what the persisted files name under
/// net.ipv4, the conntrack keys under net.netfilter).
pub const FOLDERS: [&str; 2] = ["proc/sys/net/ipv4", "proc/sys/net/netfilter"];

thread_local! {
    static OPENED: RefCell<Vec<(PathBuf, OwnedFd)>> = const { RefCell::new(Vec::new()) };
}

/// The sysctl folders of the namespace this thread is in, opened under
/// `root` (the running system's `/`), in force until dropped.
#[must_use = "the folders are used only while the guard lives"]
pub struct Opened {
    previous: Vec<(PathBuf, OwnedFd)>,
}

impl Opened {
    /// Opens [`FOLDERS`] under `root` as this thread's namespace shows them;
    /// one that is missing (no conntrack module) is left out, and its files
    /// are opened by path as without a guard.
    pub fn here(root: &Path) -> Opened {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let opened = FOLDERS
            .iter()
            .filter_map(|folder| {
                let path = root.join(folder);
                let fd = nix::fcntl::open(&path, flags, Mode::empty()).ok()?;
                Some((path, fd))
            })
            .collect();
        Opened {
            previous: OPENED.with(|o| o.replace(opened)),
        }
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        let previous = std::mem::take(&mut self.previous);
        OPENED.with(|o| *o.borrow_mut() = previous);
    }
}

/// Opens `path` with `flags` from the opened folder it lies in (the folder
/// itself as `.`), when one is in force on this thread and the rest of the
/// path is plain names: `None` otherwise, and the caller opens the path.
/// Links are followed as an open of the whole path would follow them.
pub(crate) fn open_beneath(path: &Path, flags: OFlag) -> Option<io::Result<OwnedFd>> {
    OPENED.with(|o| {
        let opened = o.borrow();
        let (rest, dir) = opened
            .iter()
            .find_map(|(folder, fd)| Some((path.strip_prefix(folder).ok()?, fd)))?;
        if !rest.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        let rest = if rest.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rest
        };
        Some(
            nix::fcntl::openat(dir.as_fd(), rest, flags | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(io::Error::from),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    fn read(fd: OwnedFd) -> String {
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn files_beneath_an_opened_folder_are_opened_from_it_and_only_while_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc/sys/net/ipv4/conf")).unwrap();
        std::fs::write(root.join("proc/sys/net/ipv4/tcp_tw_reuse"), "2\n").unwrap();
        std::fs::write(root.join("proc/sys/net/ipv4/conf/x"), "1\n").unwrap();
        let key = root.join("proc/sys/net/ipv4/tcp_tw_reuse");
        assert!(open_beneath(&key, OFlag::O_RDONLY).is_none());
        {
            let _opened = Opened::here(root);
            // Moved aside: a file opened from the folder is found under the
            // folder opened, not by its path.
            std::fs::rename(root.join("proc/sys/net"), root.join("proc/sys/moved")).unwrap();
            let fd = open_beneath(&key, OFlag::O_RDONLY).unwrap().unwrap();
            assert_eq!(read(fd), "2\n");
            let nested = open_beneath(&root.join("proc/sys/net/ipv4/conf/x"), OFlag::O_RDONLY);
            assert_eq!(read(nested.unwrap().unwrap()), "1\n");
            let folder = open_beneath(&root.join("proc/sys/net/ipv4"), OFlag::O_PATH);
            let folder = std::fs::File::from(folder.unwrap().unwrap());
            assert_eq!(
                folder.metadata().unwrap().ino(),
                std::fs::metadata(root.join("proc/sys/moved/ipv4"))
                    .unwrap()
                    .ino()
            );
            let missing = open_beneath(&root.join("proc/sys/net/ipv4/nope"), OFlag::O_RDONLY);
            assert_eq!(
                missing.unwrap().unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            // Not plain names beneath the folder, or another folder (not
            // opened: net.netfilter is missing here): opened by path.
            assert!(open_beneath(&root.join("proc/sys/net/ipv4/../x"), OFlag::O_RDONLY).is_none());
            assert!(
                open_beneath(&root.join("proc/sys/net/netfilter/y"), OFlag::O_RDONLY).is_none()
            );
            std::fs::rename(root.join("proc/sys/moved"), root.join("proc/sys/net")).unwrap();
        }
        assert!(open_beneath(&key, OFlag::O_RDONLY).is_none());
    }
}
