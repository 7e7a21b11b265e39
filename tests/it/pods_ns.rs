//! Pods by name without the Kubernetes API (`check --all-netns`): "pods"
//! made here as network namespaces whose holder process has its own mount
//! namespace (a tmpfs over /run with a service-account namespace file) and
//! its own UTS namespace with the pod's hostname, or the node's UTS
//! namespace and an /etc/hostname bind-mounted in its own mount namespace.
//! Every namespace is the holder's and goes with it (killed on drop).

use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::netns::require_tool;
use crate::support::sandbox::wait_for;
use crate::support::tier::Need;
use crate::support::{TWTUNE, stderr};

/// A "pod": `unshare` with its own network, mount (and UTS) namespaces,
/// holding them with `sleep` once its files are in place.
pub struct FakePod {
    holder: Child,
}

impl FakePod {
    /// `namespace` goes into the service-account namespace file; `hostname`
    /// into the pod's own UTS namespace (`own_uts`) or, without one, a file
    /// bind-mounted over its /etc/hostname.
    pub fn new(namespace: &str, hostname: &str, own_uts: bool) -> FakePod {
        require_tool("unshare", "util-linux");
        let sa = "/run/secrets/kubernetes.io/serviceaccount";
        let name = match own_uts {
            true => format!("hostname {hostname}"),
            false => format!(
                "printf '%s\\n' {hostname} > /run/hostname && mount --bind /run/hostname /etc/hostname"
            ),
        };
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir -p {sa} && printf %s {namespace} > {sa}/namespace && {name} && exec sleep 600"
        );
        let mut args = vec!["--net", "--mount", "--propagation", "private"];
        if own_uts {
            args.push("--uts");
        }
        let holder = Command::new("unshare")
            .args(&args)
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare");
        let pod = FakePod { holder };
        wait_for("the pod's holder to be ready", || {
            std::fs::read_to_string(format!("/proc/{}/comm", pod.pid()))
                .is_ok_and(|c| c.trim() == "sleep")
        });
        pod
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }
}

impl Drop for FakePod {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The `namespaces[]` entry whose processes include `pid`.
pub fn namespace_of(doc: &Value, pid: u32) -> &Value {
    doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["pids"].as_array().unwrap().iter().any(|p| p == pid))
        .unwrap_or_else(|| panic!("no namespace holds pid {pid}: {doc}"))
}

#[test]
fn every_pod_is_named_by_namespace_and_name() {
    needs!(Need::Root, Need::Tool("unshare"));
    let from_uts = FakePod::new("team-a", "web-1", true);
    let from_file = FakePod::new("team-b", "api-7", false);
    let out = Command::new(TWTUNE)
        .args(["check", "--all-netns", "--format", "json"])
        .output()
        .unwrap();
    // --all-netns exits by the worst namespace on the host, other tests' too.
    assert!(matches!(out.status.code(), Some(0..=2)), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 7);
    let pod = &namespace_of(&doc, from_uts.pid())["pod"];
    assert_eq!(pod["namespace"], "team-a", "{pod}");
    assert_eq!(pod["name"], "web-1", "{pod}");
    // No kubepods cgroup here: the UID is not shown, and says so by null.
    assert_eq!(pod["uid"], Value::Null, "{pod}");
    let pod = &namespace_of(&doc, from_file.pid())["pod"];
    assert_eq!(
        (&pod["namespace"], &pod["name"]),
        (&"team-b".into(), &"api-7".into())
    );
    // The node's own namespace is no pod's.
    let host = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["facts"]["namespace"]["initial"] == true)
        .expect("the host's namespace");
    assert_eq!(host["pod"], Value::Null);

    let table = Command::new(TWTUNE)
        .args(["check", "--all-netns"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("team-a/web-1"), "{table}");
    assert!(table.contains("team-b/api-7"), "{table}");
}

#[test]
fn a_claim_that_is_no_kubernetes_name_is_not_shown() {
    needs!(Need::Root, Need::Tool("unshare"));
    // A pod chooses its own files: a namespace file with a quote and an
    // escape sequence is not a name, so it labels nothing.
    let hostile = FakePod::new("'evil\"\\033[2J'", "web-2", true);
    let out = Command::new(TWTUNE)
        .args(["check", "--all-netns", "--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = namespace_of(&doc, hostile.pid());
    // No UID and no namespace that is a name: no pod is claimed.
    assert_eq!(entry["pod"], Value::Null, "{entry}");
}

/// `promtool check metrics` on `text`: its complaints, empty when clean.
pub fn promtool_complaints(text: &str) -> String {
    let out = crate::prometheus::promtool_check_metrics(text);
    match out.status.success() {
        true => String::new(),
        false => format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out)),
    }
}

#[test]
fn every_pod_has_its_series_labelled_by_pod() {
    needs!(Need::Root, Need::Tool("unshare"), Need::Tool("promtool"));
    let pod = FakePod::new("team-a", "web-1", true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twtune.prom");
    let out = Command::new(TWTUNE)
        .args([
            "check",
            "--all-netns",
            "--top-destinations",
            "3",
            "--textfile",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0..=2)), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(promtool_complaints(&text), "", "{text}");
    let inode = std::fs::metadata(format!("/proc/{}/ns/net", pod.pid()))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    let labels = format!("netns=\"{inode}\",pod=\"web-1\",namespace=\"team-a\",container=\"\"");
    assert!(
        text.contains(&format!("twtune_check_success{{{labels}}} 1\n")),
        "{text}"
    );
    assert!(
        text.contains(
            "twtune_check_success{netns=\"host\",pod=\"\",namespace=\"\",container=\"\"} 1\n"
        ),
        "{text}"
    );
    // One HELP per family, and the whole file ends with the last family.
    assert_eq!(text.matches("# HELP twtune_check_success ").count(), 1);
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("twtune_apply_interrupted{"),
        "{text}"
    );
}
