//! The pod UID from a real cgroup path (issue 22): an emulated pod whose
//! process sits in a cgroup named as the kubelet's systemd driver names a
//! container's (`/kubepods.slice/kubepods-besteffort.slice/
//! kubepods-besteffort-pod<UID>.slice/cri-containerd-<ID>.scope`).
//!
//! The cgroup is made without touching the machine's own hierarchies: the
//! pod's private mount namespace mounts a new cgroup v1 hierarchy with no
//! controller (`-o none,name=…`: it limits and accounts nothing, it only
//! names), the pod's process joins the cgroup made there, and when the pod
//! is stopped the folders are removed and the hierarchy unmounted, which
//! frees it. /proc/PID/cgroup lists the named hierarchy's path as it lists
//! any other, which is all the kubelet's layout is to twtune.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use crate::pods_ns::namespace_of;
use crate::support::sandbox::wait_for;
use crate::support::tier::Need;
use crate::support::{TWTUNE, stderr, stdout};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A pod whose process is in a kubepods cgroup of a private, controller-less
/// hierarchy; stopped (cgroups removed, hierarchy unmounted) by `stop` or
/// on drop.
struct CgroupPod {
    holder: Option<Child>,
    uid: String,
    id: String,
}

impl CgroupPod {
    fn new(namespace: &str, hostname: &str) -> CgroupPod {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let uid = format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id());
        let id = format!(
            "{:064x}",
            (u128::from(std::process::id()) << 32) | u128::from(n)
        );
        let hierarchy = format!("twtune-test-{}-{n}", std::process::id());
        let qos = "kubepods.slice/kubepods-besteffort.slice";
        let pod_dir = format!(
            "{qos}/kubepods-besteffort-pod{}.slice",
            uid.replace('-', "_")
        );
        let container = format!("{pod_dir}/cri-containerd-{id}.scope");
        let sa = "/run/secrets/kubernetes.io/serviceaccount";
        // The pod's process is a child of the holder shell, which removes
        // the cgroups and unmounts the hierarchy once it has ended.
        let script = format!(
            r#"set -e
mount -t tmpfs tmpfs /run
mkdir -p {sa} && printf %s {namespace} > {sa}/namespace
hostname {hostname}
mkdir /run/cg && mount -t cgroup -o none,name={hierarchy} cgroup /run/cg
mkdir -p /run/cg/{container}
sh -c 'echo $$ > /run/cg/{container}/cgroup.procs && exec sleep 600' &
pod=$!
trap 'kill $pod' TERM
wait $pod || wait $pod || true
rmdir /run/cg/{container} /run/cg/{pod_dir} /run/cg/{qos} /run/cg/kubepods.slice
umount /run/cg
"#
        );
        let holder = Command::new("unshare")
            .args(["--net", "--mount", "--uts", "--propagation", "private"])
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare");
        let pod = CgroupPod {
            holder: Some(holder),
            uid,
            id,
        };
        wait_for("the pod's process in its cgroup", || pod.pid().is_some());
        pod
    }

    /// The pod's process: the one whose cgroup names this pod's container.
    fn pid(&self) -> Option<u32> {
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                    .is_ok_and(|c| c.contains(&format!("cri-containerd-{}.scope", self.id)))
                    && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim() == "sleep")
            })
    }

    /// Stops the pod; the holder's output once it has removed its cgroups.
    fn stop(&mut self) -> Option<std::process::Output> {
        let holder = self.holder.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(holder.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        holder.wait_with_output().ok()
    }
}

impl Drop for CgroupPod {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[test]
fn a_pod_in_a_kubepods_cgroup_is_named_by_its_uid() {
    needs!(Need::Root, Need::Tool("unshare"));
    let mut pod = CgroupPod::new("team-c", "db-0");
    let pid = pod.pid().expect("the pod's process");
    let out = Command::new(TWTUNE)
        .args(["check", "--all-netns", "--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(&out), stderr(&out)));
    let entry = namespace_of(&doc, pid);
    assert_eq!(entry["pod"]["uid"], pod.uid.as_str(), "{entry:#}");
    assert_eq!(entry["pod"]["namespace"], "team-c", "{}", entry["pod"]);
    assert_eq!(entry["pod"]["name"], "db-0", "{}", entry["pod"]);
    let container = &entry["container"];
    assert_eq!(container["id"], pod.id.as_str(), "{container}");
    assert_eq!(container["pod_uid"], pod.uid.as_str(), "{container}");
    assert_eq!(container["runtime"], "containerd", "{container}");

    // The series carry the container it claims.
    let text = Command::new(TWTUNE)
        .args(["check", "--all-netns", "--format", "prometheus"])
        .output()
        .unwrap();
    let text = stdout(&text);
    assert!(
        text.contains(&format!(
            "pod=\"db-0\",namespace=\"team-c\",container=\"{}\"",
            pod.id
        )),
        "{text}"
    );

    // Stopped, the pod leaves no cgroup and no hierarchy behind: its
    // folders are removed and the hierarchy unmounted (`set -e`).
    let stopped = pod.stop().expect("the holder's output");
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    assert!(pod.pid().is_none());
}
