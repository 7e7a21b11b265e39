//! Which container or pod a process runs in, from its /proc/PID/cgroup.
//!
//! Container runtimes name the cgroup of each container after its 64-hex id,
//! and the kubelet puts each pod's containers under a folder named after the
//! pod's UID. The shapes differ by runtime and cgroup driver:
//!
//! - docker, cgroupfs driver: `/docker/<id>`; systemd driver:
//!   `/system.slice/docker-<id>.scope`
//! - kubelet, cgroupfs driver: `/kubepods/<qos>/pod<uid>/<id>` (CRI-O:
//!   `…/crio-<id>`); systemd driver:
//!   `/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope`
//!   (CRI-O `crio-<id>.scope`, dockershim `docker-<id>.scope`)
//! - podman: `…/libpod-<id>.scope` (possibly followed by `/container`)
//!
//! cgroup v1 lists one line per hierarchy (`ID:controllers:path`), v2 one
//! line `0::path`; the first line that names a container decides.

use serde::Serialize;

/// The container (and pod) a process's cgroup path claims it belongs to.
///
/// A claim, not a fact: cgroup names are chosen by whoever may create
/// cgroups, and a delegated subtree (a systemd user manager's, rootless
/// podman's, a container with its own cgroup namespace) lets an
/// unprivileged user create `…/docker-<64 hex>.scope` or
/// `…/kubepods-pod<uid>.slice` under it. Reports say so (`source`, and
/// "cgroup says" for people).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Container {
    /// "docker", "containerd", "cri-o" or "podman"; null when the path shows
    /// a container but not which runtime made it (the kubelet's cgroupfs
    /// layout under containerd).
    pub runtime: Option<&'static str>,
    /// The container's 64-hex id.
    pub id: String,
    /// The Kubernetes pod's UID, when it runs in a pod.
    pub pod_uid: Option<String>,
    /// How the fields above were told: always `"cgroup_name"`, the names in
    /// the cgroup path, which whoever created the cgroup chose.
    pub source: &'static str,
    /// The cgroup path that makes the claim.
    pub cgroup: String,
}

impl Container {
    /// A short label for a table, worded as the claim it is: `cgroup says
    /// pod <uid>` or `cgroup says <runtime> <id prefix>`.
    pub fn label(&self) -> String {
        let id: String = self.id.chars().take(12).collect();
        match (&self.pod_uid, self.runtime) {
            (Some(uid), _) => format!("cgroup says pod {uid}"),
            (None, Some(runtime)) => format!("cgroup says {runtime} {id}"),
            (None, None) => format!("cgroup says container {id}"),
        }
    }
}

/// The container named by a /proc/PID/cgroup text, if any.
pub fn container_of(cgroup: &str) -> Option<Container> {
    cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_hierarchy, _controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        container_of_path(path)
    })
}

fn container_of_path(path: &str) -> Option<Container> {
    let mut pod_uid = None;
    let mut found: Option<(Option<&'static str>, String)> = None;
    let mut parent = "";
    for component in path.split('/').filter(|c| !c.is_empty()) {
        if let Some(uid) = pod_uid_of(component) {
            pod_uid = Some(uid);
        } else if let Some(id) = container_id_of(component, parent) {
            found = Some(id);
        }
        parent = component;
    }
    let (runtime, id) = found?;
    let in_kubepods = path.contains("kubepods");
    Some(Container {
        runtime,
        id,
        pod_uid: pod_uid.filter(|_| in_kubepods),
        source: "cgroup_name",
        cgroup: path.to_string(),
    })
}

/// `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid_with_underscores>.slice`
/// (systemd, which does not allow dashes inside a unit name's parts).
fn pod_uid_of(component: &str) -> Option<String> {
    let component = component.strip_suffix(".slice").unwrap_or(component);
    let after = match component.rfind("-pod") {
        Some(at) if component.starts_with("kubepods") => &component[at + 4..],
        _ => component.strip_prefix("pod")?,
    };
    let uid = after.replace('_', "-");
    let is_uid = uid.len() == 36
        && uid.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    is_uid.then(|| uid.to_ascii_lowercase())
}

fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// A container id in one path component, and the runtime its prefix names.
fn container_id_of(component: &str, parent: &str) -> Option<(Option<&'static str>, String)> {
    const PREFIXES: &[(&str, &str)] = &[
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
        ("libpod-", "podman"),
    ];
    let bare = component.strip_suffix(".scope").unwrap_or(component);
    for (prefix, runtime) in PREFIXES {
        if let Some(id) = bare.strip_prefix(prefix)
            && is_container_id(id)
        {
            return Some((Some(*runtime), id.to_ascii_lowercase()));
        }
    }
    if is_container_id(bare) {
        let runtime = (parent == "docker").then_some("docker");
        return Some((runtime, bare.to_ascii_lowercase()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
    const UID: &str = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f";

    fn expect(text: &str, runtime: Option<&'static str>, pod_uid: Option<&str>) {
        let found = container_of(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            (found.runtime, found.id.as_str(), found.pod_uid.as_deref()),
            (runtime, ID, pod_uid),
            "{text}"
        );
        assert_eq!(found.source, "cgroup_name");
        assert!(text.contains(&found.cgroup), "{text}: {}", found.cgroup);
    }

    #[test]
    fn a_delegated_cgroup_named_like_a_container_is_reported_as_its_claim() {
        let text = format!(
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope\n"
        );
        let found = container_of(&text).unwrap();
        assert_eq!(found.source, "cgroup_name");
        assert_eq!(
            found.cgroup,
            format!("/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope")
        );
        assert_eq!(found.label(), "cgroup says docker 3f1c2b9a8d7e");
    }

    #[test]
    fn docker_cgroup_v1_and_v2() {
        expect(
            &format!(
                "12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/system.slice/containerd.service\n"
            ),
            Some("docker"),
            None,
        );
        expect(
            &format!("0::/system.slice/docker-{ID}.scope\n"),
            Some("docker"),
            None,
        );
    }

    #[test]
    fn kubelet_with_containerd_cgroupfs_and_systemd_drivers() {
        expect(
            &format!("11:memory:/kubepods/burstable/pod{UID}/{ID}\n"),
            None,
            Some(UID),
        );
        let underscored = UID.replace('-', "_");
        expect(
            &format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{underscored}.slice/cri-containerd-{ID}.scope\n"
            ),
            Some("containerd"),
            Some(UID),
        );
        // Guaranteed QoS pods sit right under kubepods.
        expect(
            &format!(
                "0::/kubepods.slice/kubepods-pod{underscored}.slice/cri-containerd-{ID}.scope\n"
            ),
            Some("containerd"),
            Some(UID),
        );
    }

    #[test]
    fn kubelet_with_cri_o_and_dockershim() {
        let underscored = UID.replace('-', "_");
        expect(
            &format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice/crio-{ID}.scope\n"
            ),
            Some("cri-o"),
            Some(UID),
        );
        expect(
            &format!("4:cpu,cpuacct:/kubepods/besteffort/pod{UID}/crio-{ID}\n"),
            Some("cri-o"),
            Some(UID),
        );
        expect(
            &format!(
                "9:devices:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice/docker-{ID}.scope\n"
            ),
            Some("docker"),
            Some(UID),
        );
    }

    #[test]
    fn podman() {
        expect(
            &format!("0::/machine.slice/libpod-{ID}.scope/container\n"),
            Some("podman"),
            None,
        );
    }

    #[test]
    fn no_container_on_the_host() {
        for text in [
            "0::/init.scope\n",
            "0::/system.slice/ssh.service\n",
            "0::/user.slice/user-0.slice/session-3.scope\n",
            "12:pids:/\n1:name=systemd:/init.scope\n",
            // A conmon scope is CRI-O's monitor, not the container.
            &format!("0::/system.slice/crio-conmon-{ID}.scope\n"),
            // Too short to be an id, or not hex.
            "0::/docker/3f1c2b9a8d7e\n",
            &format!("0::/docker/{}\n", "g".repeat(64)),
            "",
            "garbage without colons\n",
        ] {
            assert_eq!(container_of(text), None, "{text}");
        }
    }
}
