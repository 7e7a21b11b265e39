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
//! - **Node**: one value for the whole node (the global TCP keys), a key this
//!   kernel does not yet keep per namespace, or — when the plan was made in
//!   the node's own network namespace — the node's own value of a namespaced
//!   key: a pod's `securityContext` changes only the pod's namespace, and
//!   hostNetwork pods may not set `net.*` sysctls at all, so the node's
//!   namespace is changed on the node.
//! - **kube-proxy**: `nf_conntrack_max`, which kube-proxy writes at start
//!   from `conntrack.maxPerCore` × CPUs (at least `conntrack.min`): a value
//!   put in the node's sysctl.d is overwritten by the next kube-proxy start.

use crate::facts::KernelVersion;
pub use crate::k8s_version::K8sVersion;
use crate::sysctl::SysctlKey;

use super::plan::Plan;

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
/// tcp_wmem 1.32 on kernels from 4.15 (the kubelet drops them from the list
/// on older ones; kubernetes.io "Linux kernel version requirements", "Pod
/// sysctls"), tcp_slow_start_after_idle and tcp_notsent_lowat 1.37.
///
/// Verified: the list up to 1.29 in `safe_sysctls.go` as stored, and the 1.32
/// kernel gates in the kubernetes.io page above. Not verified in a stored
/// `safe_sysctls.go`: the 1.37 additions (from issue 18 and KERNEL-FACTS.md)
/// and their kernel gate, taken here as 4.15, the release that made the
/// other per-socket TCP knobs per namespace (conservative: an older node
/// places them as unsafe or on the node, never as safe by mistake).
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
    safe("net.ipv4.tcp_rmem", 32, Some((4, 15))),
    safe("net.ipv4.tcp_wmem", 32, Some((4, 15))),
    safe("net.ipv4.tcp_slow_start_after_idle", 37, Some((4, 15))),
    safe("net.ipv4.tcp_notsent_lowat", 37, Some((4, 15))),
];

/// Keys twtune plans that the kernel keeps per network namespace, and from
/// which release (`None`: as long as twtune supports kernels). From
/// `ipv4_net_table` in net/ipv4/sysctl_net_ipv4.c. tcp_tw_reuse moved there
/// in 4.10 ("ipv4: Namespaceify tcp_tw_reuse knob": `ipv4_net_table` in
/// v4.10, still `ipv4_table` in v4.9, per KERNEL-FACTS.md as corrected for
/// issue 18; the commit id could not be read from the stored tree);
/// tcp_max_tw_buckets 4.11, tcp_timestamps 4.13 (KERNEL-FACTS.md). A key on
/// the kubelet's safe list is per namespace from the kernel the kubelet
/// gates it on ([`SAFE`]), so it need not be repeated here.
const NAMESPACED: &[(&str, Option<(u32, u32)>)] = &[
    ("net.ipv4.ip_local_port_range", Some((3, 13))),
    ("net.ipv4.ip_local_reserved_ports", Some((3, 16))),
    ("net.ipv4.ip_unprivileged_port_start", None),
    ("net.ipv4.ip_forward", None),
    ("net.ipv4.tcp_tw_reuse", Some((4, 10))),
    ("net.ipv4.tcp_max_tw_buckets", Some((4, 11))),
    ("net.ipv4.tcp_timestamps", Some((4, 13))),
    ("net.ipv4.tcp_tw_reuse_delay", None),
    ("net.ipv4.tcp_fin_timeout", Some((4, 6))),
    ("net.core.somaxconn", None),
    // Namespaced in 4.6 (kubernetes.io, "Linux kernel version requirements").
    ("net.ipv4.tcp_syncookies", Some((4, 6))),
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
    /// Set in kube-proxy's configuration, which writes them at its start.
    pub kube_proxy: Vec<NodeSetting>,
}

impl K8sPlan {
    pub fn is_empty(&self) -> bool {
        self.pod_safe.is_empty()
            && self.pod_unsafe.is_empty()
            && self.node.is_empty()
            && self.kube_proxy.is_empty()
    }
}

/// Why the node's own namespace is changed on the node, not by a pod.
pub const NODE_NAMESPACE_REASON: &str = "found in the node's own network namespace: set it on the node (its sysctl.d, or `twtune apply` there); a pod's securityContext changes only that pod's namespace, and hostNetwork pods, which share the node's, may not set net.* sysctls";

/// Why nf_conntrack_max belongs to kube-proxy.
pub const KUBE_PROXY_REASON: &str = "kube-proxy writes nf_conntrack_max at every start from conntrack.maxPerCore × CPUs (at least conntrack.min; maxPerCore 0 leaves it alone): set conntrack.maxPerCore (or conntrack.min) in kube-proxy's configuration (--conntrack-max-per-core / --conntrack-min), not in the node's sysctl.d, which kube-proxy overrides; on a cluster without kube-proxy, set it on the node";

/// Places every key the plan changes. A persisted-only change counts too: on
/// a cluster the question is which value pods need, not where the node keeps it.
/// `node_namespace`: the plan was made in the node's own (initial) network
/// namespace, so its findings are about the node; a namespaced key is then
/// placed for pods and for the node both.
pub fn place(
    plan: &Plan,
    version: K8sVersion,
    kernel: Option<KernelVersion>,
    node_namespace: bool,
) -> K8sPlan {
    let mut placed = K8sPlan {
        version,
        kernel,
        pod_safe: Vec::new(),
        pod_unsafe: Vec::new(),
        node: Vec::new(),
        kube_proxy: Vec::new(),
    };
    for change in &plan.changes {
        let setting = Setting {
            key: change.key.clone(),
            value: change.to.clone(),
        };
        let placement = placement(change.key.as_str(), version, kernel);
        if node_namespace && matches!(placement, Placement::PodSafe | Placement::PodUnsafe) {
            placed.node.push(NodeSetting {
                setting: setting.clone(),
                reason: NODE_NAMESPACE_REASON.to_string(),
            });
        }
        match placement {
            Placement::PodSafe => placed.pod_safe.push(setting),
            Placement::PodUnsafe => placed.pod_unsafe.push(setting),
            Placement::Node(reason) => placed.node.push(NodeSetting { setting, reason }),
            Placement::KubeProxy => placed.kube_proxy.push(NodeSetting {
                setting,
                reason: KUBE_PROXY_REASON.to_string(),
            }),
        }
    }
    // Keys another program manages are not in the plan's changes, but a
    // cluster plan still says where their value goes: kube-proxy's
    // configuration, or the node, the owner named.
    for owned in &plan.owned {
        let entry = NodeSetting {
            setting: Setting {
                key: owned.key.clone(),
                value: owned.to.clone(),
            },
            reason: owned.fix(),
        };
        match owned.owner.owner.as_str() {
            "kube-proxy" => placed.kube_proxy.push(entry),
            _ => placed.node.push(entry),
        }
    }
    placed
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    PodSafe,
    PodUnsafe,
    Node(String),
    KubeProxy,
}

fn placement(key: &str, version: K8sVersion, kernel: Option<KernelVersion>) -> Placement {
    if let Some((_, reason)) = NODE_ONLY.iter().find(|(k, _)| *k == key) {
        return Placement::Node((*reason).to_string());
    }
    if key == "net.netfilter.nf_conntrack_max" || key == "net.nf_conntrack_max" {
        return Placement::KubeProxy;
    }
    if key.starts_with("net.netfilter.") {
        return Placement::Node(
            "connection tracking: kube-proxy and the node's NAT use the initial namespace's table"
                .to_string(),
        );
    }
    let safe_entry = SAFE.iter().find(|s| s.key == key);
    let namespaced = NAMESPACED
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, since)| *since)
        .or_else(|| safe_entry.map(|s| s.kernel.map(|k| (k.major, k.minor))));
    let Some(namespaced_since) = namespaced else {
        return Placement::Node(
            "twtune does not know whether the kernel keeps this key per network namespace; set it on the node"
                .to_string(),
        );
    };
    if let Some((major, minor)) = namespaced_since {
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
    let safe = safe_entry.is_some_and(|s| {
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
    fn tcp_tw_reuse_is_per_namespace_from_4_10_not_4_11() {
        let key = "net.ipv4.tcp_tw_reuse";
        let v = K8sVersion::NEWEST_LIST_CHANGE;
        assert_eq!(
            at(key, v, Some(KernelVersion::new(4, 10, 0))),
            Placement::PodUnsafe
        );
        assert!(matches!(
            at(key, v, Some(KernelVersion::new(4, 9, 0))),
            Placement::Node(reason) if reason.contains("4.10")
        ));
    }

    #[test]
    fn buffer_sizes_are_safe_from_1_32_on_kernels_from_4_15() {
        for key in ["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"] {
            let v1_32 = K8sVersion::new(1, 32);
            assert_eq!(
                at(key, v1_32, Some(KernelVersion::new(4, 15, 0))),
                Placement::PodSafe,
                "{key}"
            );
            assert_eq!(at(key, V1_29, MODERN), Placement::PodUnsafe, "{key}");
            // The kubelet drops them on an older kernel; the kernel does
            // not keep them per namespace there either.
            assert!(
                matches!(
                    at(key, v1_32, Some(KernelVersion::new(4, 14, 0))),
                    Placement::Node(reason) if reason.contains("4.15")
                ),
                "{key}"
            );
        }
    }

    #[test]
    fn safe_keys_missing_from_the_namespaced_table_are_not_node_settings() {
        let v = K8sVersion::NEWEST_LIST_CHANGE;
        for key in [
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
            "net.ipv4.ping_group_range",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.tcp_slow_start_after_idle",
            "net.ipv4.tcp_notsent_lowat",
        ] {
            assert_eq!(at(key, v, MODERN), Placement::PodSafe, "{key}");
        }
        // Added to the list in 1.37: unsafe before, not a node setting.
        assert_eq!(
            at("net.ipv4.tcp_notsent_lowat", K8sVersion::new(1, 36), MODERN),
            Placement::PodUnsafe
        );
    }

    #[test]
    fn conntrack_max_goes_to_kube_proxy() {
        assert_eq!(
            at("net.netfilter.nf_conntrack_max", V1_29, MODERN),
            Placement::KubeProxy
        );
    }

    fn plan_of(keys: &[(&str, &str)]) -> Plan {
        Plan {
            changes: keys
                .iter()
                .map(|(k, v)| super::super::plan::Change {
                    key: SysctlKey::parse(k).unwrap(),
                    from: "0".into(),
                    to: (*v).into(),
                    rule: None,
                    runtime: true,
                    persist: true,
                })
                .collect(),
            persist: None,
            notes: vec![],
            owned: vec![],
        }
    }

    #[test]
    fn the_node_namespace_is_changed_on_the_node_as_well_as_in_pods() {
        let plan = plan_of(&[
            ("net.ipv4.tcp_tw_reuse", "1"),
            ("net.ipv4.ip_local_port_range", "10000 60999"),
            ("net.netfilter.nf_conntrack_max", "262144"),
        ]);
        let v = K8sVersion::NEWEST_LIST_CHANGE;
        let pods_only = place(&plan, v, MODERN, false);
        assert!(pods_only.node.is_empty(), "{:?}", pods_only.node);
        assert_eq!(pods_only.kube_proxy.len(), 1);
        let node = place(&plan, v, MODERN, true);
        let node_keys: Vec<&str> = node.node.iter().map(|n| n.setting.key.as_str()).collect();
        assert_eq!(
            node_keys,
            ["net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range"]
        );
        assert!(node.node[0].reason.contains("hostNetwork"));
        assert_eq!(node.pod_safe.len(), 1);
        assert_eq!(node.pod_unsafe.len(), 1);
        assert_eq!(
            node.kube_proxy[0].setting.key.as_str(),
            "net.netfilter.nf_conntrack_max"
        );
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
}
