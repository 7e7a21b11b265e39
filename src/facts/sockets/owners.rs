//! Which process holds a socket: `ROOT/proc/<pid>/fd/*` links read
//! `socket:[<inode>]`, the inode sock_diag and /proc/net/tcp report.
//!
//! Processes come and go while the walk runs and some are not ours to read;
//! such a process is skipped, never an error. A socket shared across fork()
//! counts once for each process that holds it.
//!
//! The walk is written here rather than with the `procfs` crate, whose
//! `process::all_processes_with_root` does the same walk (procfs 0.18): its
//! fd iterator opens, stats and closes every descriptor besides reading the
//! link (four syscalls where one readlink does, on hosts with 100,000s of
//! sockets), it picks its open flags from the kernel version of the machine
//! it runs on (/proc/sys/kernel/osrelease, outside `--root`), and it has no
//! `comm` reader (the command would come from parsing all of `stat`, which
//! fixture trees would then need). One readlink per descriptor needs no crate.

use crate::facts::read::{read_dir_confined, read_link_confined};
use std::collections::{HashMap, HashSet};
use std::path::Path;

use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SocketOwner {
    pub pid: u32,
    pub command: String,
    pub count: u64,
}

/// `socket:[12345]` → 12345.
pub fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// One process holding sockets of interest: how many of each kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder<K> {
    pub pid: u32,
    pub command: String,
    /// Kind → sockets of that kind this process holds, in no order.
    pub held: Vec<(K, u64)>,
}

/// The processes holding any of `inodes` (inode → the kind of socket it is,
/// e.g. CLOSE_WAIT or established toward one destination), by pid, and how
/// many inodes of each kind some readable process holds. One walk over
/// /proc/PID/fd answers every kind at once: the walk, not the lookup, is
/// what costs on a host with many processes.
pub fn walk<K: Copy + Eq + std::hash::Hash>(
    root: &Path,
    inodes: &HashMap<u64, K>,
) -> (Vec<Holder<K>>, HashMap<K, u64>) {
    let mut holders = Vec::new();
    let mut held = HashSet::new();
    if inodes.is_empty() {
        return (holders, HashMap::new());
    }
    let proc = root.join("proc");
    let Ok(procs) = read_dir_confined(&proc) else {
        return (holders, HashMap::new());
    };
    for name in procs {
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let process = proc.join(&name);
        // Read again after the name: a pid reused meanwhile names another
        // process than the one whose descriptors were read.
        let started = crate::facts::process::start_time(&process);
        let fd_dir = process.join("fd");
        let Ok(fds) = read_dir_confined(&fd_dir) else {
            continue;
        };
        // A descriptor dup()ed within one process counts once.
        let mut mine = HashSet::new();
        for fd in fds {
            let Ok(target) = read_link_confined(&fd_dir.join(fd)) else {
                continue;
            };
            if let Some(inode) = target.to_str().and_then(parse_socket_link)
                && inodes.contains_key(&inode)
            {
                mine.insert(inode);
            }
        }
        if mine.is_empty() {
            continue;
        }
        let mut per_kind: Vec<(K, u64)> = Vec::new();
        for inode in &mine {
            let Some(&kind) = inodes.get(inode) else {
                continue;
            };
            match per_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => per_kind.push((kind, 1)),
            }
        }
        held.extend(mine);
        // A name is bytes the process chose (prctl PR_SET_NAME): not UTF-8
        // is shown escaped, never a reason to drop it.
        let command = crate::facts::read::read_optional_names(&process.join("comm"))
            .ok()
            .flatten()
            .map(|c| c.strip_suffix('\n').unwrap_or(&c).to_string())
            .unwrap_or_default();
        if crate::facts::process::start_time(&process) != started {
            continue;
        }
        holders.push(Holder {
            pid,
            command,
            held: per_kind,
        });
    }
    holders.sort_by_key(|h| h.pid);
    let mut attributed: HashMap<K, u64> = HashMap::new();
    for inode in &held {
        if let Some(&kind) = inodes.get(inode) {
            *attributed.entry(kind).or_default() += 1;
        }
    }
    (holders, attributed)
}

/// The holders of one kind of socket, most sockets first (then by pid, so
/// the order never depends on the walk's), at most `limit`.
pub fn owners_of<K: Copy + Eq>(holders: &[Holder<K>], kind: K, limit: usize) -> Vec<SocketOwner> {
    let mut owners: Vec<SocketOwner> = holders
        .iter()
        .filter_map(|h| {
            let (_, count) = h.held.iter().find(|(k, _)| *k == kind)?;
            Some(SocketOwner {
                pid: h.pid,
                command: h.command.clone(),
                count: *count,
            })
        })
        .collect();
    owners.sort_by(|a, b| b.count.cmp(&a.count).then(a.pid.cmp(&b.pid)));
    owners.truncate(limit);
    owners
}

/// The processes holding any of `inodes`, most sockets first, and how many of
/// the inodes no readable process holds.
pub fn find(root: &Path, inodes: &HashSet<u64>) -> (Vec<SocketOwner>, u64) {
    let kinds: HashMap<u64, ()> = inodes.iter().map(|&i| (i, ())).collect();
    let (holders, attributed) = walk(root, &kinds);
    let owners = owners_of(&holders, (), usize::MAX);
    let held = attributed.get(&()).copied().unwrap_or(0);
    (owners, inodes.len() as u64 - held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link("socket:[44123]"), Some(44123));
        assert_eq!(parse_socket_link("pipe:[44123]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
        assert_eq!(parse_socket_link("socket:[x]"), None);
    }

    #[test]
    fn walks_a_fixture_proc_tree() {
        let root = tempfile::tempdir().unwrap();
        let mk = |pid: &str, comm: &str, links: &[&str]| {
            let fd = root.path().join("proc").join(pid).join("fd");
            std::fs::create_dir_all(&fd).unwrap();
            std::fs::write(
                root.path().join("proc").join(pid).join("comm"),
                format!("{comm}\n"),
            )
            .unwrap();
            for (i, l) in links.iter().enumerate() {
                std::os::unix::fs::symlink(l, fd.join(i.to_string())).unwrap();
            }
        };
        mk(
            "100",
            "leaky",
            &["socket:[1]", "socket:[2]", "socket:[9]", "/dev/null"],
        );
        mk("200", "worker", &["socket:[3]"]);
        mk("300", "other", &["socket:[77]"]);
        std::fs::create_dir_all(root.path().join("proc/self")).unwrap();
        let inodes: HashSet<u64> = [1, 2, 3, 4].into_iter().collect();
        let (owners, unheld) = find(root.path(), &inodes);
        assert_eq!(
            owners,
            vec![
                SocketOwner {
                    pid: 100,
                    command: "leaky".into(),
                    count: 2
                },
                SocketOwner {
                    pid: 200,
                    command: "worker".into(),
                    count: 1
                },
            ]
        );
        assert_eq!(unheld, 1);
    }
}
