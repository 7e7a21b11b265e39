//! Network namespaces besides twtune's own: naming one (`--netns`), listing
//! every one on the host (`--all-netns`), and entering one to gather in it.
//!
//! How gathering sees another namespace: the *main* thread enters it with
//! setns(2) before it gathers (and, for `--all-netns`, enters the next one
//! after, and its own at the end). Not a helper thread, on purpose:
//! /proc/self/net — and /proc/net, a link to it — shows the namespace of the
//! thread-group leader (fs/proc/proc_net.c, get_proc_task_net() looks up the
//! task of the /proc/PID directory), so a helper thread would read the main
//! thread's counters and socket tables through every `proc/net/…` path the
//! gatherers use. Everything else the gatherers touch follows the calling
//! thread, which here is the same one: /proc/sys/net (net_ctl_header_lookup()
//! uses current's namespace), sock_diag netlink sockets (created in current's
//! namespace) and the tools they start (a child inherits its parent's
//! namespaces). setns(CLONE_NEWNET) needs no single-threaded process, unlike
//! entering a user or mount namespace.
//!
//! A namespace is held by an open file for as long as twtune needs it, so it
//! cannot vanish between being opened and being read; one that vanishes
//! before it is opened is skipped, never an error.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Parses the target of a namespace link: `net:[4026531833]` → 4026531833.
pub fn parse_ns_link(target: &str, kind: &str) -> Option<u64> {
    target
        .trim()
        .strip_prefix(kind)?
        .strip_prefix(":[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Where `ip netns` keeps the namespaces it names.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A network namespace, held open.
#[derive(Debug)]
pub struct Namespace {
    file: File,
    /// Its inode number: the namespace's identity while it lives.
    pub inode: u64,
}

/// What `--netns` was given, and the namespace it names.
#[derive(Debug)]
pub struct Target {
    pub namespace: Namespace,
    /// The target as the command line spelled it.
    pub named: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(
        "--netns {target}: no network namespace is named {target:?} ({NETNS_RUN_DIR}/{target} does not exist; `ip netns list` lists the names)"
    )]
    NoSuchName { target: String },
    #[error("--netns {target}: no process {target} is running")]
    NoSuchPid { target: String },
    #[error("--netns {target}: {path} does not exist")]
    NoSuchPath { target: String, path: PathBuf },
    #[error(
        "--netns {target}: {path} is not a network namespace ({found}); give a name from `ip netns list`, a file such as /run/netns/NAME or /proc/PID/ns/net, or a PID"
    )]
    NotNetns {
        target: String,
        path: PathBuf,
        found: String,
    },
    #[error("--netns {target:?}: not a name, a path or a PID")]
    BadTarget { target: String },
    #[error("--netns {target}: cannot open {path}: {source}")]
    Open {
        target: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot enter the network namespace {what}: {source}{}", permission_hint(*source))]
    Enter { what: String, source: nix::Error },
    #[error("cannot read the network namespace cookie (SO_NETNS_COOKIE): {source}")]
    Cookie { source: nix::Error },
    #[error("cannot read twtune's own network namespace ({path}): {source}")]
    Own { path: PathBuf, source: io::Error },
}

fn permission_hint(errno: nix::Error) -> &'static str {
    match errno {
        nix::Error::EPERM => " (entering a namespace needs root: CAP_SYS_ADMIN)",
        _ => "",
    }
}

/// The file a `--netns` target names, and how it was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPath {
    /// A name under /run/netns.
    Name(PathBuf),
    /// /proc/PID/ns/net.
    Pid(PathBuf),
    /// A namespace file given by path.
    Path(PathBuf),
}

impl TargetPath {
    pub fn path(&self) -> &Path {
        match self {
            TargetPath::Name(p) | TargetPath::Pid(p) | TargetPath::Path(p) => p,
        }
    }
}

/// How a `--netns` target reads: all digits is a PID, anything with a slash
/// a path, anything else a name under /run/netns (which `ip netns add`
/// refuses to contain a slash, and which may not be `.` or `..`).
pub fn parse_target(target: &str) -> Result<TargetPath, NetnsError> {
    let bad = || NetnsError::BadTarget {
        target: target.to_string(),
    };
    if target.is_empty() || target.contains('\0') {
        return Err(bad());
    }
    if target.bytes().all(|b| b.is_ascii_digit()) {
        let pid: u32 = target.parse().map_err(|_| NetnsError::NoSuchPid {
            target: target.to_string(),
        })?;
        if pid == 0 {
            return Err(NetnsError::NoSuchPid {
                target: target.to_string(),
            });
        }
        return Ok(TargetPath::Pid(PathBuf::from(format!(
            "/proc/{pid}/ns/net"
        ))));
    }
    if target.contains('/') {
        return Ok(TargetPath::Path(PathBuf::from(target)));
    }
    if target == "." || target == ".." {
        return Err(bad());
    }
    Ok(TargetPath::Name(Path::new(NETNS_RUN_DIR).join(target)))
}

/// Opens and checks what `--netns TARGET` names: a network namespace, or a
/// clear error (exit 1) for a missing name, a PID that is not running, a
/// path that is not a network namespace.
pub fn resolve(target: &str) -> Result<Target, NetnsError> {
    let parsed = parse_target(target)?;
    let path = parsed.path().to_path_buf();
    let file = match open_ns_file(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let target = target.to_string();
            return Err(match parsed {
                TargetPath::Name(_) => NetnsError::NoSuchName { target },
                TargetPath::Pid(_) => NetnsError::NoSuchPid { target },
                TargetPath::Path(path) => NetnsError::NoSuchPath { target, path },
            });
        }
        Err(source) => {
            return Err(NetnsError::Open {
                target: target.to_string(),
                path,
                source,
            });
        }
    };
    let inode = net_inode_of(&file).map_err(|found| NetnsError::NotNetns {
        target: target.to_string(),
        path: path.clone(),
        found,
    })?;
    Ok(Target {
        namespace: Namespace { file, inode },
        named: target.to_string(),
    })
}

/// Opened without blocking (a FIFO given as a target must not hang) and
/// without following the descriptor across an exec.
fn open_ns_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC | nix::libc::O_NOCTTY)
        .open(path)
}

/// The inode of the namespace `file` is, or what it is instead.
///
/// A namespace is an inode of the namespace filesystem (one internal mount
/// for every namespace, so one device). Its type shows in its name in
/// /proc/self/fd — `net:[INODE]`, `uts:[…]` (fs/nsfs.c, ns_dname()) — when it
/// was opened through /proc/PID/ns; opened through a bind mount (/run/netns/x)
/// the name is the mount's path, and the type is only known when setns(2)
/// refuses a namespace of another type (EINVAL), which [`Target::enter`] turns
/// into the same "not a network namespace" error.
fn net_inode_of(file: &File) -> Result<u64, String> {
    use std::os::fd::AsRawFd;
    let unknown = |e: io::Error| format!("cannot tell what it is: {e}");
    let meta = file.metadata().map_err(unknown)?;
    if Some(meta.dev()) != nsfs_device() {
        return Err(match () {
            _ if meta.is_dir() => "a folder".into(),
            _ if meta.is_file() => "a regular file".into(),
            _ => "neither a namespace nor a regular file".into(),
        });
    }
    let link =
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(unknown)?;
    let link = link.to_string_lossy();
    match parse_ns_link(&link, "net") {
        Some(inode) if inode == meta.ino() => Ok(inode),
        _ if link.starts_with('/') => Ok(meta.ino()),
        _ => {
            let kind = link.split(':').next().unwrap_or("another");
            Err(format!("a {kind} namespace"))
        }
    }
}

/// The device of the namespace filesystem (one internal mount for every
/// namespace), read from twtune's own namespace file.
fn nsfs_device() -> Option<u64> {
    std::fs::metadata("/proc/self/ns/net").ok().map(|m| m.dev())
}

impl Target {
    /// Moves the calling thread into the namespace. A namespace of another
    /// type (known only now: a bind-mounted namespace file does not show its
    /// type) is the same error as any other file that is no network namespace.
    pub fn enter(&self) -> Result<(), NetnsError> {
        match self.namespace.enter() {
            Err(NetnsError::Enter {
                source: nix::Error::EINVAL,
                ..
            }) => Err(NetnsError::NotNetns {
                target: self.named.clone(),
                path: parse_target(&self.named)
                    .map(|p| p.path().to_path_buf())
                    .unwrap_or_default(),
                found: "another type of namespace".into(),
            }),
            other => other,
        }
    }
}

impl Namespace {
    /// The calling thread's own network namespace, to come back to.
    pub fn current() -> Result<Namespace, NetnsError> {
        let path = PathBuf::from("/proc/thread-self/ns/net");
        let own = |source| NetnsError::Own {
            path: path.clone(),
            source,
        };
        let file = open_ns_file(&path).map_err(own)?;
        let inode = file.metadata().map_err(own)?.ino();
        Ok(Namespace { file, inode })
    }

    /// This namespace's cookie ([`current_cookie`]), read from inside it; the
    /// calling thread returns to `home` after, whatever the outcome.
    pub fn cookie(&self, home: &Namespace) -> Result<Option<u64>, NetnsError> {
        self.enter()?;
        let cookie = current_cookie();
        home.enter()?;
        cookie
    }

    /// Moves the calling thread into this namespace (see the module docs for
    /// why the main thread is the one that must call this).
    pub fn enter(&self) -> Result<(), NetnsError> {
        nix::sched::setns(self.file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(
            |source| NetnsError::Enter {
                what: format!("with inode {}", self.inode),
                source,
            },
        )
    }
}

/// SO_NETNS_COOKIE (include/uapi/asm-generic/socket.h; 0x0050 in
/// arch/sparc/include/uapi/asm/socket.h), added in Linux 5.14 by commit
/// e8b9eab99232 ("net: Introduce SO_NETNS_COOKIE"). The libc crate does not
/// export it.
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_NETNS_COOKIE: nix::libc::c_int = 0x0050;
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_NETNS_COOKIE: nix::libc::c_int = 71;

use nix::{getsockopt_impl, libc, sockopt_impl};
sockopt_impl!(
    /// SO_NETNS_COOKIE, read as the kernel writes it: exactly 8 bytes.
    NetnsCookie,
    GetOnly,
    nix::libc::SOL_SOCKET,
    SO_NETNS_COOKIE,
    u64
);

/// The cookie of the calling thread's network namespace: unlike its inode,
/// never given to another namespace while the machine runs. The kernel hands
/// out cookies from one 64-bit counter as namespaces are made
/// (net/core/net_namespace.c, preinit_net()/net_alloc(): `net_cookie =
/// atomic64_inc_return(...)`, the first is 1), and sock_getsockopt() answers
/// SO_NETNS_COOKIE with `sock_net(sk)->net_cookie` (net/core/sock.c). The
/// socket is made by the calling thread, so it lives in that thread's
/// namespace (sock_create() takes `current->nsproxy->net_ns`).
///
/// `None` on kernels before 5.14, which answer ENOPROTOOPT.
pub fn current_cookie() -> Result<Option<u64>, NetnsError> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, getsockopt, socket};
    let failed = |source| NetnsError::Cookie { source };
    let sock = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(failed)?;
    match getsockopt(&sock, NetnsCookie) {
        Ok(cookie) => Ok(Some(cookie)),
        Err(nix::Error::ENOPROTOOPT) => Ok(None),
        Err(e) => Err(failed(e)),
    }
}

/// The inode of the calling thread's network namespace.
pub fn current_inode() -> Result<u64, NetnsError> {
    let path = PathBuf::from("/proc/thread-self/ns/net");
    std::fs::metadata(&path)
        .map(|m| m.ino())
        .map_err(|source| NetnsError::Own { path, source })
}

/// One network namespace found on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Listed {
    pub inode: u64,
    /// Its `ip netns` names (files under /run/netns), sorted.
    pub names: Vec<String>,
    /// The processes in it, lowest first.
    pub pids: Vec<u32>,
    /// Other files it can be opened through when neither a name nor a
    /// process's namespace holds it: a thread's /proc/PID/task/TID/ns/net, an
    /// open descriptor /proc/PID/fd/N, a bind mount outside /run/netns.
    #[serde(skip)]
    #[schemars(skip)]
    pub held_by: Vec<PathBuf>,
}

/// Every network namespace on the host: the unique inodes of
/// /proc/PID/ns/net (each process's, twtune's own included), of the files
/// under /run/netns, and of what else keeps a namespace alive — a thread
/// that entered another namespace than its process's, an open namespace
/// descriptor, a bind mount elsewhere — ordered by inode. A process that
/// exits while being listed is left out; a file under /run/netns that is no
/// namespace (left behind by a failed `ip netns delete`) too.
pub fn list_all() -> io::Result<Vec<Listed>> {
    let mut found: BTreeMap<u64, Listed> = BTreeMap::new();
    fn entry(found: &mut BTreeMap<u64, Listed>, inode: u64) -> &mut Listed {
        found.entry(inode).or_insert_with(|| Listed {
            inode,
            names: Vec::new(),
            pids: Vec::new(),
            held_by: Vec::new(),
        })
    }
    let pids: Vec<u32> = std::fs::read_dir("/proc")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    for &pid in &pids {
        let Some(inode) = pid_net_inode(pid) else {
            continue;
        };
        entry(&mut found, inode).pids.push(pid);
    }
    for (name, inode) in named_namespaces() {
        entry(&mut found, inode).names.push(name);
    }
    for (path, inode) in other_holders(&pids) {
        let listed = entry(&mut found, inode);
        if listed.held_by.len() < MAX_HELD_BY {
            listed.held_by.push(path);
        }
    }
    let mut all: Vec<Listed> = found.into_values().collect();
    for listed in &mut all {
        listed.pids.sort_unstable();
        listed.names.sort();
    }
    Ok(all)
}

/// Enough ways to reopen one namespace; more only cost memory.
const MAX_HELD_BY: usize = 8;

/// Namespaces kept by something other than a process's own namespace or a
/// /run/netns name: threads (a thread's setns(2) moves only that thread),
/// open descriptors (an `ip netns` helper, a container runtime keeps one)
/// and bind mounts outside /run/netns (docker's /run/docker/netns, CNI's
/// /var/run/netns of another mount namespace). Their /proc links read
/// `net:[INODE]` (fs/nsfs.c, ns_dname()), so a readlink tells, without
/// opening or stating what a descriptor points to.
fn other_holders(pids: &[u32]) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let nsfs = nsfs_device();
    let net_link = |path: &Path| {
        let link = std::fs::read_link(path).ok()?;
        parse_ns_link(link.to_str()?, "net")
    };
    for &pid in pids {
        let own = pid_net_inode(pid);
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let path = task.path().join("ns/net");
                if let Some(inode) = net_link(&path)
                    && Some(inode) != own
                {
                    out.push((path, inode));
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for fd in fds.flatten() {
                let path = fd.path();
                if let Some(inode) = net_link(&path) {
                    out.push((path, inode));
                } else if let Some(inode) = bind_opened(&path, nsfs) {
                    out.push((path, inode));
                }
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") {
        for (mount, inode) in parse_nsfs_mounts(&text) {
            if !mount.starts_with(NETNS_RUN_DIR) {
                out.push((mount, inode));
            }
        }
    }
    out
}

/// A descriptor opened through a bind mount reads as the mount's path, and
/// as `/` once `ip netns delete` has detached the mount (d_path() of a
/// detached mount's root), not `net:[INODE]`. Only such links are stated
/// (stat of the open file itself: on the nsfs device, a namespace), so the
/// descriptors of ordinary files, which could sit on a hung network file
/// system, are never touched. The type is known on entering only; a listed
/// namespace of another type is skipped then.
fn bind_opened(path: &Path, nsfs: Option<u64>) -> Option<u64> {
    let link = std::fs::read_link(path).ok()?;
    let text = link.to_str()?;
    if text != "/" && !text.contains("/netns/") {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    (Some(meta.dev()) == nsfs).then_some(meta.ino())
}

/// The network namespaces bind-mounted in a mount table
/// (/proc/PID/mountinfo): mount point and inode. An nsfs mount's root field
/// is the namespace's name, `net:[INODE]`; the mount point has spaces,
/// tabs, newlines and backslashes written as octal escapes (fs/proc_namespace.c,
/// show_mountinfo() and mangle()).
pub fn parse_nsfs_mounts(text: &str) -> Vec<(PathBuf, u64)> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? != "nsfs" {
                return None;
            }
            let mut fields = left.split(' ');
            let root = fields.nth(3)?;
            let mount = fields.next()?;
            let inode = parse_ns_link(root, "net")?;
            Some((PathBuf::from(unmangle(mount)), inode))
        })
        .collect()
}

/// Undoes mountinfo's `\ooo` escapes, byte for byte.
fn unmangle(field: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) && d[0] <= b'3'
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// The network namespace inode of process `pid`, if it still runs.
pub fn pid_net_inode(pid: u32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    parse_ns_link(&link.to_string_lossy(), "net")
}

/// The `ip netns` names and their namespaces' inodes. Only namespace files
/// count (the bind-mounted namespace, not the empty file under it); of
/// which type is only known on entering ([`Target::enter`]).
pub fn named_namespaces() -> Vec<(String, u64)> {
    let Ok(dir) = std::fs::read_dir(NETNS_RUN_DIR) else {
        return Vec::new();
    };
    let nsfs = nsfs_device();
    dir.filter_map(|entry| {
        let entry = entry.ok()?;
        let name = entry.file_name().into_string().ok()?;
        let meta = std::fs::metadata(entry.path()).ok()?;
        (Some(meta.dev()) == nsfs).then_some((name, meta.ino()))
    })
    .collect()
}

/// The names of the namespace with `inode` and its lowest process: what a
/// check reports about the namespace it judged (`names`, `holder_pid`).
pub fn describe(inode: u64) -> (Vec<String>, Option<u32>) {
    let mut names: Vec<String> = named_namespaces()
        .into_iter()
        .filter(|(_, i)| *i == inode)
        .map(|(name, _)| name)
        .collect();
    names.sort();
    // No pid is lower than init's: the host's namespace (every idle check's)
    // needs no walk of every process.
    if pid_net_inode(1) == Some(inode) {
        return (names, Some(1));
    }
    let lowest = std::fs::read_dir("/proc").ok().and_then(|dir| {
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| pid_net_inode(*pid) == Some(inode))
            .min()
    });
    (names, lowest)
}

/// Opens a listed namespace again, through its names first, then its
/// processes, then whatever else held it; each candidate must still be the
/// same inode (a pid may have been reused). `None` when it has vanished
/// meanwhile.
pub fn open_listed(listed: &Listed) -> Option<Namespace> {
    open_listed_via(listed).map(|(_, namespace)| namespace)
}

/// [`open_listed`], with the file it was opened through.
pub fn open_listed_via(listed: &Listed) -> Option<(PathBuf, Namespace)> {
    let candidates = listed
        .names
        .iter()
        .map(|name| Path::new(NETNS_RUN_DIR).join(name))
        .chain(
            listed
                .pids
                .iter()
                .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/net"))),
        )
        .chain(listed.held_by.iter().cloned());
    for path in candidates {
        let Ok(file) = open_ns_file(&path) else {
            continue;
        };
        // The inode of a listed namespace is a network namespace's: equal
        // inodes on the namespace filesystem are the same namespace.
        if net_inode_of(&file) == Ok(listed.inode) {
            return Some((
                path,
                Namespace {
                    file,
                    inode: listed.inode,
                },
            ));
        }
    }
    None
}

/// The command of process `pid` (its `comm`, bytes not UTF-8 escaped), if
/// it still runs and is the process that was listed: `started` is its start
/// time when listed, and a pid reused since is not named.
pub fn command_of(pid: u32, started: Option<u64>) -> Option<String> {
    let process = PathBuf::from(format!("/proc/{pid}"));
    let text = super::read::read_optional_names(&process.join("comm"))
        .ok()
        .flatten()?;
    (super::process::start_time(&process) == started)
        .then(|| text.strip_suffix('\n').unwrap_or(&text).to_string())
}

/// The container the first of `pids` that belongs to one runs in, from
/// /proc/PID/cgroup (at most `limit` processes are read). A pid counts only
/// while it is still in the namespace with `inode` after its cgroup was
/// read: a pid reused since the listing names another process's cgroup.
pub fn container_of_pids(
    pids: &[u32],
    inode: u64,
    limit: usize,
) -> Option<super::cgroup::Container> {
    pids.iter().take(limit).find_map(|&pid| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let container = super::cgroup::container_of(&text)?;
        (pid_net_inode(pid) == Some(inode)).then_some(container)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_as_pid_path_or_name() {
        assert_eq!(
            parse_target("1234").unwrap(),
            TargetPath::Pid("/proc/1234/ns/net".into())
        );
        assert_eq!(
            parse_target("/proc/1/ns/net").unwrap(),
            TargetPath::Path("/proc/1/ns/net".into())
        );
        assert_eq!(parse_target("./x").unwrap(), TargetPath::Path("./x".into()));
        assert_eq!(
            parse_target("blue").unwrap(),
            TargetPath::Name("/run/netns/blue".into())
        );
        for bad in ["", ".", "..", "a\0b"] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse_target("99999999999999999999"),
            Err(NetnsError::NoSuchPid { .. })
        ));
        assert!(matches!(
            parse_target("0"),
            Err(NetnsError::NoSuchPid { .. })
        ));
    }

    #[test]
    fn a_regular_file_is_not_a_namespace() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let target = file.path().to_str().unwrap().to_string();
        let err = resolve(&target).unwrap_err().to_string();
        assert!(
            err.contains("is not a network namespace (a regular file)"),
            "{err}"
        );
    }

    #[test]
    fn twtunes_own_namespace_resolves_and_is_listed() {
        let own = resolve("/proc/self/ns/net").unwrap();
        assert_eq!(Some(own.namespace.inode), pid_net_inode(std::process::id()));
        let all = list_all().unwrap();
        let mine = all
            .iter()
            .find(|l| l.inode == own.namespace.inode)
            .expect("own namespace listed");
        assert!(mine.pids.contains(&std::process::id()));
    }

    #[test]
    fn a_namespace_gone_since_it_was_listed_is_not_opened() {
        let gone = Listed {
            inode: 1,
            names: vec!["twtune-never-made".into()],
            pids: vec![999_999_999],
            held_by: vec!["/proc/999999999/fd/3".into()],
        };
        assert!(open_listed(&gone).is_none());
        // A pid that now runs in another namespace is not taken for it.
        let reused = Listed {
            inode: 1,
            names: vec![],
            pids: vec![std::process::id()],
            held_by: vec![],
        };
        assert!(open_listed(&reused).is_none());
    }

    #[test]
    #[ignore = "needs root (private network namespaces): cargo test -- --include-ignored"]
    fn the_cookie_is_the_namespaces_own_and_read_from_inside_it() {
        let here = current_cookie().unwrap().expect("Linux 5.14 or later");
        assert!(here > 0);
        assert_eq!(current_cookie().unwrap(), Some(here), "stable");
        let own = Namespace::current().unwrap();
        assert_eq!(own.cookie(&own).unwrap(), Some(here));
        assert_eq!(current_inode().unwrap(), own.inode);
    }

    /// A namespace only one thread of this process is in, then one only an
    /// open descriptor keeps: both listed, both opened again, and entered
    /// they are the namespace with the cookie read inside them. (A private
    /// namespace made by unshare(2) on a helper thread: nothing of the
    /// host's changes, and it goes when the descriptor is closed.)
    #[test]
    #[ignore = "needs root (private network namespaces): cargo test -- --include-ignored"]
    fn namespaces_held_only_by_a_thread_or_a_descriptor_are_found() {
        let (to_main, from_thread) = std::sync::mpsc::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let own = Namespace::current().unwrap();
            let cookie = current_cookie().unwrap();
            let tid = nix::unistd::gettid();
            to_main.send((own.file, own.inode, cookie, tid)).unwrap();
            wait.recv().unwrap();
        });
        let (file, inode, cookie, tid) = from_thread.recv().unwrap();
        let held = |all: &[Listed]| all.iter().find(|l| l.inode == inode).cloned();
        let listed = held(&list_all().unwrap()).expect("the thread's namespace is listed");
        assert!(listed.pids.is_empty(), "no process is in it: {listed:?}");
        assert!(
            listed
                .held_by
                .iter()
                .any(|p| p.ends_with(format!("task/{tid}/ns/net"))),
            "{listed:?}"
        );
        release.send(()).unwrap();
        thread.join().unwrap();
        // The thread is gone; the descriptor it handed over keeps it.
        let listed = held(&list_all().unwrap()).expect("the descriptor's namespace is listed");
        let fd = format!("/proc/{}/fd/", std::process::id());
        assert!(
            listed
                .held_by
                .iter()
                .any(|p| p.to_string_lossy().starts_with(&fd)),
            "{listed:?}"
        );
        let home = Namespace::current().unwrap();
        let (_, opened) = open_listed_via(&listed).expect("opened through the descriptor");
        assert_eq!(opened.cookie(&home).unwrap(), cookie);
        assert_ne!(current_cookie().unwrap(), cookie, "back home");
        drop((file, opened));
    }

    #[test]
    fn nsfs_bind_mounts_are_read_from_mountinfo() {
        let text = "\
36 25 0:4 net:[4026532290] /run/netns/blue rw shared:5 - nsfs nsfs rw
37 25 0:4 net:[4026532300] /run/docker/netns/a\\040b rw - nsfs nsfs rw
38 25 0:4 uts:[4026532301] /run/uts rw - nsfs nsfs rw
39 25 0:22 / /run/netns rw - tmpfs tmpfs rw
40 25 0:4 net:[4026532302] /x\\012y\\134 rw - nsfs nsfs rw
garbage line
41 25 0:4 net:[1]
";
        assert_eq!(
            parse_nsfs_mounts(text),
            vec![
                (PathBuf::from("/run/netns/blue"), 4026532290),
                (PathBuf::from("/run/docker/netns/a b"), 4026532300),
                (PathBuf::from("/x\ny\\"), 4026532302),
            ]
        );
    }

    #[test]
    fn another_namespace_type_is_refused() {
        let err = resolve("/proc/self/ns/uts").unwrap_err().to_string();
        assert!(
            err.contains("is not a network namespace (a uts namespace)"),
            "{err}"
        );
    }
}
