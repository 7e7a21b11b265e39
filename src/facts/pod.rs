//! Which Kubernetes pod a network namespace belongs to, without the
//! Kubernetes API: from what the namespace's processes show.
//!
//! - the pod UID from the cgroup path (`kubepods…pod<UID>…`, see
//!   [`super::cgroup`]);
//! - the Kubernetes namespace from the service-account namespace file
//!   (`/var/run/secrets/kubernetes.io/serviceaccount/namespace`) when the
//!   pod mounts one;
//! - the pod name from the pod's hostname: its UTS namespace's (the
//!   kubelet gives each pod its own), else `/etc/hostname` inside the
//!   process's root.
//!
//! Files are read through each process's own root (`/proc/PID/root`) by
//! openat2(2) with `RESOLVE_IN_ROOT`: every link (`/var/run` is usually one
//! to `/run`) is resolved inside the pod's tree, never on the node.
//!
//! These are **claims a pod makes about itself**: whoever runs in the pod
//! chooses its hostname and files, and a delegated cgroup subtree can be
//! named like a pod's. They label what twtune reports and never choose what
//! it reads elsewhere or writes. A value that is not a Kubernetes name (a
//! DNS-1123 label or subdomain, a UUID) is not shown.

use std::io::Read as _;
use std::os::fd::AsFd as _;

use schemars::JsonSchema;
use serde::Serialize;

/// The pod a network namespace's processes claim to belong to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Pod {
    /// The Kubernetes namespace, from the service-account namespace file;
    /// null when no process in it mounts one.
    pub namespace: Option<String>,
    /// The pod's name, from its hostname (the kubelet sets the pod's
    /// hostname to its name, or to `spec.hostname` when the pod sets one).
    pub name: Option<String>,
    /// The pod's UID, from the cgroup path.
    pub uid: Option<String>,
}

impl Pod {
    /// `namespace/name` for a table, `?` where one is not shown.
    pub fn label(&self) -> String {
        format!(
            "{}/{}",
            self.namespace.as_deref().unwrap_or("?"),
            self.name.as_deref().unwrap_or("?")
        )
    }
}

/// The service-account namespace file, relative to a pod's root.
pub const SERVICE_ACCOUNT_NAMESPACE: &str =
    "var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The most bytes read from a pod's file: a name is at most 253.
const MAX_CLAIM_BYTES: u64 = 4096;

/// The pod the processes `pids` (in the network namespace `inode`) claim to
/// belong to; at most `limit` processes are read. `None` unless one shows a
/// pod UID or a service-account namespace: a hostname alone is no pod's.
/// A process counts only while it is still in the namespace after it was
/// read (a pid reused since the listing is another process), and its root
/// and UTS namespace only when they are not the node's: a process
/// sharing the node's files shows the node's hostname, not a pod's.
pub fn of_pids(pids: &[u32], inode: u64, limit: usize) -> Option<Pod> {
    // The node's namespaces are pid 1's; where pid 1 cannot be read (no
    // CAP_SYS_PTRACE over it), twtune's own, which a node agent shares
    // with the node (hostNetwork brings the node's UTS namespace).
    let node = |kind| ns_inode(1, kind).or_else(|| ns_inode(std::process::id(), kind));
    let (node_mnt, node_uts) = (node("mnt"), node("uts"));
    let mut pod = Pod::default();
    for &pid in pids.iter().take(limit) {
        let mut found = Pod::default();
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            found.uid = super::cgroup::container_of(&text).and_then(|c| c.pod_uid);
        }
        if ns_inode(pid, "uts").is_some_and(|u| Some(u) != node_uts) {
            found.name = uts_hostname(pid).and_then(|t| dns_subdomain(&t));
        }
        if ns_inode(pid, "mnt").is_some_and(|m| Some(m) != node_mnt) {
            found.namespace =
                read_in_root(pid, SERVICE_ACCOUNT_NAMESPACE).and_then(|t| dns_label(&t));
            if found.name.is_none() {
                found.name = read_in_root(pid, "etc/hostname").and_then(|t| dns_subdomain(&t));
            }
        }
        if super::netns::pid_net_inode(pid) != Some(inode) {
            continue;
        }
        pod.uid = pod.uid.or(found.uid);
        pod.namespace = pod.namespace.or(found.namespace);
        pod.name = pod.name.or(found.name);
        if pod.uid.is_some() && pod.namespace.is_some() && pod.name.is_some() {
            break;
        }
    }
    (pod.uid.is_some() || pod.namespace.is_some()).then_some(pod)
}

fn ns_inode(pid: u32, kind: &str) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok()?;
    super::netns::parse_ns_link(&link.to_string_lossy(), kind)
}

/// Reads `relative` inside process `pid`'s root, every link resolved inside
/// that root; without blocking (a FIFO is refused), regular files only,
/// bounded. `None` when it is not there or cannot be read.
pub fn read_in_root(pid: u32, relative: &str) -> Option<String> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
    use nix::sys::stat::Mode;
    let root = open(
        format!("/proc/{pid}/root").as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let file = std::fs::File::from(openat2(root.as_fd(), relative, how).ok()?);
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_CLAIM_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The hostname of process `pid`'s UTS namespace, read by a short-lived
/// thread that joins it: a thread may join another UTS namespace alone, and
/// /proc/sys/kernel/hostname shows the reader's.
fn uts_hostname(pid: u32) -> Option<String> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/uts")).ok()?;
    std::thread::spawn(move || {
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWUTS).ok()?;
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok()
    })
    .join()
    .ok()
    .flatten()
}

/// The first line, trimmed, when it is a DNS-1123 label (a Kubernetes
/// namespace's name): 1 to 63 of `a-z0-9-`, alphanumeric at both ends.
fn dns_label(text: &str) -> Option<String> {
    let name = text.lines().next()?.trim();
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    ok.then(|| name.to_string())
}

/// The first line, trimmed, when it is a DNS-1123 subdomain (a pod's name):
/// dot-separated labels, at most 253 characters.
fn dns_subdomain(text: &str) -> Option<String> {
    let name = text.lines().next()?.trim();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| dns_label(label).is_some());
    ok.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kubernetes_names_are_shown() {
        assert_eq!(dns_label("kube-system\n").as_deref(), Some("kube-system"));
        assert_eq!(dns_label("default").as_deref(), Some("default"));
        for bad in [
            "",
            "Default",
            "-a",
            "a-",
            "a b",
            "a\x1b[2J",
            &"a".repeat(64),
        ] {
            assert_eq!(dns_label(bad), None, "{bad:?}");
        }
        assert_eq!(
            dns_subdomain("web-7d9f8-abcde\n").as_deref(),
            Some("web-7d9f8-abcde")
        );
        assert_eq!(dns_subdomain("a.b-c").as_deref(), Some("a.b-c"));
        for bad in ["", "a..b", "a\"b", ".a"] {
            assert_eq!(dns_subdomain(bad), None, "{bad:?}");
        }
        // Only the first line counts: a second is never a label's text.
        assert_eq!(dns_subdomain("pod\nx\"y").as_deref(), Some("pod"));
    }

    #[test]
    fn a_label_says_what_is_not_shown() {
        let pod = Pod {
            namespace: None,
            name: Some("web".into()),
            uid: None,
        };
        assert_eq!(pod.label(), "?/web");
    }

    #[test]
    fn own_process_shares_the_nodes_files_so_claims_no_pod() {
        // This test runs in the node's mount and UTS namespaces (or a
        // build container's, where pid 1 shares them): no pod.
        let me = std::process::id();
        let inode = super::super::netns::pid_net_inode(me).unwrap();
        if ns_inode(me, "mnt") == ns_inode(1, "mnt") {
            assert_eq!(of_pids(&[me], inode, 4), None);
        }
    }
}
