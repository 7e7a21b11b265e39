//! The plan for Kubernetes (`apply --dry-run --emit k8s`): where each planned
//! key belongs on a cluster. Pure: a plan, a Kubernetes version and the node's
//! kernel in; three lists out.
//!
//! - **Pod, safe**: the kubelet's safe sysctls, which any pod may set in
//!   `spec.securityContext.sysctls`. The list and the kernel each entry needs
//!   are the kubelet's own (`pkg/kubelet/sysctl/safe_sysctls.go` and
//!   `pkg/util/kernel/constants.go`, kubernetes/kubernetes): the kubelet drops
//!   an entry whose kernel is older, so the node's kernel matters too.
//! - **Pod, unsafe**: per network namespace in the kernel, but not on that
//!   list: the kubelet refuses the pod unless it runs with
//!   `--allowed-unsafe-sysctls` (`allowedUnsafeSysctls` in its configuration).
//! - **Node**: one value for the whole node (conntrack, the global TCP keys),
//!   or a key this kernel does not yet keep per namespace: set on the node.

use std::fmt;

use crate::facts::KernelVersion;
use crate::sysctl::SysctlKey;

use super::plan::Plan;

/// A Kubernetes minor release (`1.29`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct K8sVersion {
    pub major: u32,
    pub minor: u32,
}

impl K8sVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        K8sVersion { major, minor }
    }

    /// The first release whose safe list twtune knows: pod sysctls went GA in
    /// 1.21. Older clusters are refused rather than guessed at.
    pub const OLDEST_KNOWN: K8sVersion = K8sVersion::new(1, 21);
    /// The release that last changed the safe list (tcp_rmem, tcp_wmem); later
    /// releases keep it, so it is the default.
    pub const NEWEST_LIST_CHANGE: K8sVersion = K8sVersion::new(1, 32);

    /// Parses `1.29`, `v1.29` or `1.29.3` (the patch release does not change the list).
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = bare.split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let part = part?;
            (!part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        let (Some(major), Some(minor)) = (number(parts.next()), number(parts.next())) else {
            return Err(format!(
                "{text:?} is not a Kubernetes version like 1.29 or v1.29.3"
            ));
        };
        match parts.next() {
            None => {}
            Some(patch) if number(Some(patch)).is_some() && parts.next().is_none() => {}
            Some(_) => {
                return Err(format!(
                    "{text:?} is not a Kubernetes version like 1.29 or v1.29.3"
                ));
            }
        }
        let version = K8sVersion { major, minor };
        if version < Self::OLDEST_KNOWN {
            return Err(format!(
                "Kubernetes {version}: twtune knows the kubelet's safe sysctls from {} on (pod sysctls went GA there)",
                Self::OLDEST_KNOWN
            ));
        }
        Ok(version)
    }
}

impl fmt::Display for K8sVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One entry of the kubelet's safe list: from which Kubernetes release, and
/// the kernel that keeps the key per network namespace (the kubelet's gate).
struct SafeSysctl {
    key: &'static str,
    since: K8sVersion,
    kernel: Option<KernelVersion>,
}

const fn safe(key: &'static str, minor: u32, kernel: Option<(u32, u32)>) -> SafeSysctl {
    SafeSysctl {
        key,
        since: K8sVersion::new(1, minor),
        kernel: match kernel {
            Some((major, minor)) => Some(KernelVersion::new(major, minor, 0)),
            None => None,
        },
    }
}

/// The kubelet's safe sysctls under net.* (kernel.shm_rmid_forced is outside
/// twtune's trees). Releases: ping_group_range 1.18, ip_unprivileged_port_start
/// 1.22, ip_local_reserved_ports 1.27 (kernel 3.16, 122ff243f5f1),
/// tcp_keepalive_* and tcp_fin_timeout 1.29 (kernels 4.5 and 4.6:
/// 13b287e8d1ca, b840d15d3912, 9bd6861bd432, 1e579caa18b9), tcp_rmem and
/// tcp_wmem 1.32.
const SAFE: &[SafeSysctl] = &[
    safe("net.ipv4.ip_local_port_range", 21, None),
    safe("net.ipv4.tcp_syncookies", 21, None),
    safe("net.ipv4.ping_group_range", 21, None),
    safe("net.ipv4.ip_unprivileged_port_start", 22, None),
    safe("net.ipv4.ip_local_reserved_ports", 27, Some((3, 16))),
    safe("net.ipv4.tcp_keepalive_time", 29, Some((4, 5))),
    safe("net.ipv4.tcp_fin_timeout", 29, Some((4, 6))),
    safe("net.ipv4.tcp_keepalive_intvl", 29, Some((4, 5))),
    safe("net.ipv4.tcp_keepalive_probes", 29, Some((4, 5))),
    safe("net.ipv4.tcp_rmem", 32, None),
    safe("net.ipv4.tcp_wmem", 32, None),
];

/// Keys twtune plans that the kernel keeps per network namespace, and from
/// which release (`None`: as long as twtune supports kernels). From
/// `ipv4_net_table` in net/ipv4/sysctl_net_ipv4.c; the releases of the three
/// TIME_WAIT keys follow the kernel facts the rules use (KERNEL-FACTS.md).
const NAMESPACED: &[(&str, Option<(u32, u32)>)] = &[
    ("net.ipv4.ip_local_port_range", Some((3, 13))),
    ("net.ipv4.ip_local_reserved_ports", Some((3, 16))),
    ("net.ipv4.ip_unprivileged_port_start", None),
    ("net.ipv4.ip_forward", None),
    ("net.ipv4.tcp_tw_reuse", Some((4, 11))),
    ("net.ipv4.tcp_max_tw_buckets", Some((4, 11))),
    ("net.ipv4.tcp_timestamps", Some((4, 13))),
    ("net.ipv4.tcp_tw_reuse_delay", None),
    ("net.ipv4.tcp_fin_timeout", Some((4, 6))),
    ("net.core.somaxconn", None),
];

/// Keys that are one value for the whole node, whatever the kernel:
/// `ipv4_table` (not `ipv4_net_table`) in net/ipv4/sysctl_net_ipv4.c, and
/// conntrack's table, which only the initial namespace sizes.
const NODE_ONLY: &[(&str, &str)] = &[
    (
        "net.ipv4.tcp_max_orphans",
        "one limit for the whole node (not per network namespace)",
    ),
    (
        "net.ipv4.tcp_mem",
        "one limit for the whole node (not per network namespace)",
    ),
    (
        "net.ipv4.tcp_tw_recycle",
        "removed in Linux 4.12; on older nodes set 0 in the node's sysctl files",
    ),
];

/// A key and the value to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: SysctlKey,
    pub value: String,
}

/// A node setting, and why it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSetting {
    pub setting: Setting,
    pub reason: String,
}

/// The plan, placed for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sPlan {
    pub version: K8sVersion,
    /// The node's kernel, when known; the kubelet gates safe keys on it.
    pub kernel: Option<KernelVersion>,
    /// Any pod may set these.
    pub pod_safe: Vec<Setting>,
    /// Namespaced, but the kubelet must allow them first.
    pub pod_unsafe: Vec<Setting>,
    /// Set on the node itself.
    pub node: Vec<NodeSetting>,
}

impl K8sPlan {
    pub fn is_empty(&self) -> bool {
        self.pod_safe.is_empty() && self.pod_unsafe.is_empty() && self.node.is_empty()
    }
}

/// Places every key the plan changes. A persisted-only change counts too: on
/// a cluster the question is which value pods need, not where the node keeps it.
pub fn place(plan: &Plan, version: K8sVersion, kernel: Option<KernelVersion>) -> K8sPlan {
    let mut placed = K8sPlan {
        version,
        kernel,
        pod_safe: Vec::new(),
        pod_unsafe: Vec::new(),
        node: Vec::new(),
    };
    for change in &plan.changes {
        let setting = Setting {
            key: change.key.clone(),
            value: change.to.clone(),
        };
        match placement(change.key.as_str(), version, kernel) {
            Placement::PodSafe => placed.pod_safe.push(setting),
            Placement::PodUnsafe => placed.pod_unsafe.push(setting),
            Placement::Node(reason) => placed.node.push(NodeSetting { setting, reason }),
        }
    }
    placed
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    PodSafe,
    PodUnsafe,
    Node(String),
}

fn placement(key: &str, version: K8sVersion, kernel: Option<KernelVersion>) -> Placement {
    if let Some((_, reason)) = NODE_ONLY.iter().find(|(k, _)| *k == key) {
        return Placement::Node((*reason).to_string());
    }
    if key.starts_with("net.netfilter.") {
        return Placement::Node(
            "connection tracking: kube-proxy and the node's NAT use the initial namespace's table"
                .to_string(),
        );
    }
    let Some((_, namespaced_since)) = NAMESPACED.iter().find(|(k, _)| *k == key) else {
        return Placement::Node(
            "twtune does not know whether the kernel keeps this key per network namespace; set it on the node"
                .to_string(),
        );
    };
    if let Some((major, minor)) = *namespaced_since {
        let needed = KernelVersion::new(major, minor, 0);
        match kernel {
            Some(kernel) if kernel >= needed => {}
            Some(kernel) => {
                return Placement::Node(format!(
                    "per network namespace only from Linux {major}.{minor}; this node runs {kernel}"
                ));
            }
            None => {
                return Placement::Node(format!(
                    "per network namespace only from Linux {major}.{minor}, and this node's kernel is unknown"
                ));
            }
        }
    }
    let safe = SAFE.iter().find(|s| s.key == key).is_some_and(|s| {
        version >= s.since
            && s.kernel
                .is_none_or(|needed| kernel.is_some_and(|kernel| kernel >= needed))
    });
    if safe {
        Placement::PodSafe
    } else {
        Placement::PodUnsafe
    }
}

/// The kubelet flag that lets pods set the unsafe keys; `None` when there are none.
pub fn allowed_unsafe_flag(plan: &K8sPlan) -> Option<String> {
    if plan.pod_unsafe.is_empty() {
        return None;
    }
    let keys: Vec<&str> = plan.pod_unsafe.iter().map(|s| s.key.as_str()).collect();
    Some(format!("--allowed-unsafe-sysctls={}", keys.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_26: K8sVersion = K8sVersion::new(1, 26);
    const V1_27: K8sVersion = K8sVersion::new(1, 27);
    const V1_29: K8sVersion = K8sVersion::new(1, 29);
    const MODERN: Option<KernelVersion> = Some(KernelVersion::new(6, 1, 0));

    fn at(key: &str, version: K8sVersion, kernel: Option<KernelVersion>) -> Placement {
        placement(key, version, kernel)
    }

    #[test]
    fn the_port_range_is_safe_in_every_known_release() {
        assert_eq!(
            at(
                "net.ipv4.ip_local_port_range",
                K8sVersion::OLDEST_KNOWN,
                MODERN
            ),
            Placement::PodSafe
        );
    }

    #[test]
    fn reserved_ports_became_safe_in_1_27() {
        let key = "net.ipv4.ip_local_reserved_ports";
        assert_eq!(at(key, V1_26, MODERN), Placement::PodUnsafe);
        assert_eq!(at(key, V1_27, MODERN), Placement::PodSafe);
    }

    #[test]
    fn fin_timeout_is_safe_from_1_29_on_kernels_from_4_6() {
        let key = "net.ipv4.tcp_fin_timeout";
        assert_eq!(at(key, V1_26, MODERN), Placement::PodUnsafe);
        assert_eq!(at(key, V1_29, MODERN), Placement::PodSafe);
        assert!(matches!(
            at(key, V1_29, Some(KernelVersion::new(4, 4, 0))),
            Placement::Node(reason) if reason.contains("4.6")
        ));
    }

    #[test]
    fn the_time_wait_keys_are_namespaced_but_unsafe() {
        for key in [
            "net.ipv4.tcp_tw_reuse",
            "net.ipv4.tcp_timestamps",
            "net.ipv4.tcp_max_tw_buckets",
        ] {
            assert_eq!(
                at(key, K8sVersion::NEWEST_LIST_CHANGE, MODERN),
                Placement::PodUnsafe,
                "{key}"
            );
        }
    }

    #[test]
    fn conntrack_and_global_keys_are_node_settings() {
        for key in [
            "net.netfilter.nf_conntrack_max",
            "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
            "net.ipv4.tcp_max_orphans",
        ] {
            assert!(
                matches!(at(key, V1_29, MODERN), Placement::Node(_)),
                "{key}"
            );
        }
    }

    #[test]
    fn an_unknown_kernel_keeps_gated_keys_on_the_node() {
        assert!(matches!(
            at("net.ipv4.tcp_tw_reuse", V1_29, None),
            Placement::Node(reason) if reason.contains("unknown")
        ));
        assert_eq!(
            at("net.ipv4.ip_unprivileged_port_start", V1_29, None),
            Placement::PodSafe
        );
    }

    #[test]
    fn versions_parse_the_ways_kubectl_prints_them() {
        assert_eq!(K8sVersion::parse("1.29"), Ok(V1_29));
        assert_eq!(K8sVersion::parse("v1.29.3"), Ok(V1_29));
        assert_eq!(K8sVersion::parse(" 1.27 "), Ok(V1_27));
        for bad in [
            "", "1", "1.", "1.x", "v", "1.29.3.4", "1.29-rc1", "99999.1", "1.20",
        ] {
            assert!(K8sVersion::parse(bad).is_err(), "{bad:?}");
        }
    }
}
