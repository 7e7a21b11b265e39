//! Which network namespace twtune runs in, and whether it may write /proc/sys/net.
//!
//! Since Linux 6.18 the initial network namespace has a fixed inode
//! (PROC_NET_INIT_INO, 0xEFFFFFF9, include/linux/proc_ns.h), so one readlink
//! answers. On older kernels every namespace gets an allocated inode; there we
//! compare with pid 1's namespace, which is conclusive only when this is the
//! initial pid namespace (PROC_PID_INIT_INO has been fixed since 3.8).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use schemars::JsonSchema;
use serde::Serialize;

use super::kernel::KernelVersion;
pub use super::netns::parse_ns_link;
use super::read::FactError;
use super::source::Source;

const PROC_NET_INIT_INO: u64 = 0xEFFF_FFF9;
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;
const FIXED_NET_INIT_INO_SINCE: KernelVersion = KernelVersion::new(6, 18, 0);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NamespaceFacts {
    /// The inode of this process's network namespace, from `proc/self/ns/net`.
    pub net_inode: Option<u64>,
    /// True in the host's own namespace, false in a container's or another
    /// private one, None when it cannot be told.
    pub initial: Option<bool>,
    /// Whether net.ipv4 sysctls can be written from here: false on a read-only
    /// /proc/sys (typical of containers) or read-only files.
    pub proc_sys_net_writable: bool,
    /// Its `ip netns` names (files under /run/netns), sorted; empty when it
    /// has none or under a `--root` tree.
    pub names: Vec<String>,
    /// A process in it (the lowest pid), null when none is (a namespace held
    /// only by its /run/netns name) or under a `--root` tree.
    pub holder_pid: Option<u32>,
    /// The `--netns` target as given, when twtune entered this namespace;
    /// null for twtune's own.
    pub target: Option<String>,
}

/// Who the namespace being gathered is, when the caller already knows it
/// (it entered it by `--netns`, or listed it for `--all-netns`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub target: Option<String>,
    pub names: Vec<String>,
    pub holder_pid: Option<u32>,
}

fn ns_inode(root: &Path, who: &str, kind: &str) -> Option<u64> {
    let link = super::read::read_link_confined(&root.join(format!("proc/{who}/ns/{kind}"))).ok()?;
    parse_ns_link(&link.to_string_lossy(), kind)
}

pub fn is_initial(
    net_inode: Option<u64>,
    pid1_net_inode: Option<u64>,
    pid_ns_inode: Option<u64>,
    kernel: Option<KernelVersion>,
) -> Option<bool> {
    let net_inode = net_inode?;
    if net_inode == PROC_NET_INIT_INO {
        return Some(true);
    }
    if kernel.is_some_and(|v| v >= FIXED_NET_INIT_INO_SINCE) {
        return Some(false);
    }
    match pid1_net_inode {
        Some(pid1) if pid1 != net_inode => Some(false),
        Some(_) if pid_ns_inode == Some(PROC_PID_INIT_INO) => Some(true),
        _ => None,
    }
}

pub fn gather(
    source: &Source,
    kernel: Option<KernelVersion>,
    identity: Option<&Identity>,
) -> Result<NamespaceFacts, FactError> {
    let root = source.root();
    let net_inode = ns_inode(root, "self", "net");
    // Names and holders are the running system's: a --root tree has neither.
    let identity = match (identity, net_inode) {
        (Some(known), _) => known.clone(),
        (None, Some(inode)) if source.reads_running_system() => {
            let (names, holder_pid) = super::netns::describe(inode);
            Identity {
                target: None,
                names,
                holder_pid,
            }
        }
        (None, _) => Identity::default(),
    };
    let initial = is_initial(
        net_inode,
        ns_inode(root, "1", "net"),
        ns_inode(root, "self", "pid"),
        kernel,
    );
    Ok(NamespaceFacts {
        net_inode,
        initial,
        proc_sys_net_writable: writable(&root.join("proc/sys/net/ipv4/tcp_tw_reuse")),
        names: identity.names,
        holder_pid: identity.holder_pid,
        target: identity.target,
    })
}

/// Whether the /etc/sysctl.d seen here is the folder the host's boot reads:
/// the same folder (device and inode) as pid 1's, where pid 1 is the host's
/// init (this is the initial pid namespace). `ip netns exec` and `nsenter
/// -n` change the network namespace but keep the host's files. `None` when
/// it cannot be told: under `--root` or `--config-root` (whose folders are
/// not this system's /etc), in another pid namespace, no folder.
pub fn shares_host_sysctl_d(source: &Source) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    if *source != (Source::Live { config: None })
        || ns_inode(source.root(), "self", "pid") != Some(PROC_PID_INIT_INO)
    {
        return None;
    }
    let ours = std::fs::metadata("/etc/sysctl.d").ok()?;
    let host = std::fs::metadata("/proc/1/root/etc/sysctl.d").ok()?;
    Some(ours.dev() == host.dev() && ours.ino() == host.ino())
}

/// A write bit in the mode (fixture trees mark read-only keys 0444), a mount that
/// is not read-only (containers mount /proc/sys ro), and access(2) agreeing.
fn writable(path: &Path) -> bool {
    use nix::fcntl::AtFlags;
    use nix::sys::statvfs::{FsFlags, fstatvfs, statvfs};
    use nix::unistd::{AccessFlags, access, faccessat};
    // Under a --root tree, asked of the file resolved inside the tree, so a
    // link out of it stats nothing on the host.
    let Some(confined) = super::read::path_fd_confined(path) else {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        return meta.permissions().mode() & 0o222 != 0
            && !statvfs(path).is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
            && access(path, AccessFlags::W_OK).is_ok();
    };
    let Ok(file) = confined else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    meta.permissions().mode() & 0o222 != 0
        && !fstatvfs(&file).is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
        && faccessat(&file, "", AccessFlags::W_OK, AtFlags::AT_EMPTY_PATH).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_links_parse() {
        assert_eq!(parse_ns_link("net:[4026531833]", "net"), Some(4026531833));
        assert_eq!(parse_ns_link("pid:[1]", "net"), None);
        assert_eq!(parse_ns_link("net:[x]", "net"), None);
    }

    #[test]
    fn fixed_inode_means_initial() {
        assert_eq!(
            is_initial(Some(PROC_NET_INIT_INO), None, None, None),
            Some(true)
        );
    }

    #[test]
    fn other_inode_on_new_kernel_is_not_initial() {
        let v = Some(KernelVersion::new(6, 18, 0));
        assert_eq!(is_initial(Some(4026532177), None, None, v), Some(false));
    }

    #[test]
    fn old_kernels_compare_with_pid_one() {
        let v = Some(KernelVersion::new(5, 15, 0));
        assert_eq!(is_initial(Some(10), Some(11), None, v), Some(false));
        assert_eq!(
            is_initial(Some(10), Some(10), Some(PROC_PID_INIT_INO), v),
            Some(true)
        );
        // Same as pid 1 but inside a pid namespace: pid 1 may be a container's init.
        assert_eq!(is_initial(Some(10), Some(10), Some(99), v), None);
        assert_eq!(is_initial(None, Some(10), None, v), None);
    }
}
