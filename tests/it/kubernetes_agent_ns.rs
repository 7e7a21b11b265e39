//! The shipped DaemonSet, emulated on this machine without a cluster: its
//! container's command, as written in the manifest, runs in a private mount
//! namespace whose root holds only what the pod would see — the node
//! folders its volumes mount (read-only) under /host, the textfile folder,
//! /proc (hostPID), and the binary at /twtune — while "pods" are network
//! namespaces whose holders have their own mount and UTS namespaces
//! (`pods_ns::FakePod`). The network namespace is the node's (hostNetwork).
//!
//! One departure from the image: the test's twtune is linked dynamically, so
//! the node's /usr and /lib folders are bound in for its C library (the
//! image's binary is static and has none).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::kubernetes_emit::{parse_yaml, require_python_tool};
use crate::pods_ns::{FakePod, namespace_of, promtool_complaints};
use crate::support::netns::require_tool;
use crate::support::sandbox::wait_for;
use crate::support::tier::Need;
use crate::support::{TWTUNE, stderr};

const MANIFEST: &str = "integrations/kubernetes/twtune-textfile-daemonset.yaml";

/// The container's command and its mounts: mount path → node path.
fn manifest() -> (Vec<String>, BTreeMap<String, String>) {
    manifest_at(MANIFEST)
}

/// The command and mounts of the DaemonSet at `path` (from the checkout).
pub(crate) fn manifest_at(path: &str) -> (Vec<String>, BTreeMap<String, String>) {
    require_python_tool("kubernetes-validate");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    let doc = parse_yaml(&text);
    let pod = &doc["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let command = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let volumes: BTreeMap<&str, &str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap(),
                v["hostPath"]["path"].as_str().unwrap(),
            )
        })
        .collect();
    let mounts = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let node = volumes[m["name"].as_str().unwrap()];
            (
                m["mountPath"].as_str().unwrap().to_string(),
                node.to_string(),
            )
        })
        .collect();
    (command, mounts)
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The shell script that builds the pod's root at `root` (inside a private
/// mount namespace) and runs `command` there; the textfile folder is
/// `textfile` instead of the node's. With `json_out`, the same check is run
/// once as JSON into that file first.
pub(crate) fn pod_script(
    root: &Path,
    command: &[String],
    mounts: &BTreeMap<String, String>,
    textfile: &Path,
    json_out: Option<&str>,
) -> String {
    let r = root.display().to_string();
    let mut lines = vec!["set -e".to_string()];
    let bind = |lines: &mut Vec<String>, from: &str, to: &str, read_only: bool| {
        let target = format!("{r}{to}");
        if Path::new(from).is_dir() {
            lines.push(format!("mkdir -p {}", quote(&target)));
        } else {
            lines.push(format!(
                "mkdir -p \"$(dirname {0})\" && touch {0}",
                quote(&target)
            ));
        }
        lines.push(format!("mount --bind {} {}", quote(from), quote(&target)));
        if read_only {
            lines.push(format!("mount -o remount,bind,ro {}", quote(&target)));
        }
    };
    for (path, node) in mounts {
        if path == "/textfile" {
            bind(&mut lines, &textfile.display().to_string(), path, false);
        } else if Path::new(node).exists() {
            // A DirectoryOrCreate folder the node lacks would be made on the
            // node by the kubelet; here it is simply left out.
            bind(&mut lines, node, path, true);
        }
    }
    bind(&mut lines, "/proc", "/proc", false);
    // Every container runtime gives a container /dev/null (OCI runtime
    // spec, "Default Devices"); `serve` opens it for its checks' stdin.
    bind(&mut lines, "/dev/null", "/dev/null", false);
    bind(&mut lines, TWTUNE, "/twtune", true);
    for lib in ["usr", "lib", "lib64", "lib32"] {
        let node = Path::new("/").join(lib);
        match std::fs::read_link(&node) {
            Ok(target) => lines.push(format!(
                "ln -s {} {}",
                quote(&target.display().to_string()),
                quote(&format!("{r}/{lib}"))
            )),
            Err(_) if node.is_dir() => bind(
                &mut lines,
                &node.display().to_string(),
                &format!("/{lib}"),
                true,
            ),
            Err(_) => {}
        }
    }
    let words = |args: &[String]| args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    // The same check once as JSON (the command's flags up to `check`, then
    // --all-netns --format json), then the command as written.
    if let Some(json_out) = json_out {
        let at = command.iter().position(|a| a == "check").unwrap();
        let json: Vec<String> = command[..=at]
            .iter()
            .cloned()
            .chain(["--all-netns", "--format", "json"].map(String::from))
            .collect();
        lines.push(format!(
            "chroot {} {} > {} || [ $? -eq 2 ]",
            quote(&r),
            words(&json),
            quote(json_out)
        ));
    }
    lines.push(format!("exec chroot {} {}", quote(&r), words(command)));
    lines.join("\n")
}

#[test]
fn the_shipped_daemonset_sees_every_pod_by_name() {
    needs!(
        Need::Root,
        Need::Tool("unshare"),
        Need::Tool("chroot"),
        Need::Tool("promtool"),
        Need::Tool("kubernetes-validate")
    );
    require_tool("unshare", "util-linux");
    require_tool("chroot", "coreutils");
    let (command, mounts) = manifest();
    assert!(
        mounts
            .keys()
            .all(|m| m == "/textfile" || m.starts_with("/host/")),
        "{mounts:?}"
    );
    let pod = FakePod::new("team-a", "web-1", true);
    let work = tempfile::tempdir().unwrap();
    let root: PathBuf = work.path().join("root");
    let textfile = work.path().join("textfile");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&textfile).unwrap();
    let json_out = work.path().join("check.json");
    let script = pod_script(
        &root,
        &command,
        &mounts,
        &textfile,
        Some(&json_out.display().to_string()),
    );
    let mut agent = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prom = textfile.join("twtune.prom");
    wait_for("the agent's first textfile", || {
        prom.exists() || agent.try_wait().unwrap().is_some()
    });
    assert!(agent.try_wait().unwrap().is_none(), "the agent ended early");

    // JSON: live sockets (netlink), the node's configuration from /host,
    // and the pod by name.
    let doc: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap()).unwrap();
    let entry = namespace_of(&doc, pod.pid());
    assert_eq!(entry["pod"]["namespace"], "team-a", "{}", entry["pod"]);
    assert_eq!(entry["pod"]["name"], "web-1");
    let host = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["facts"]["namespace"]["initial"] == true)
        .expect("the node's namespace");
    let facts = &host["facts"];
    assert_eq!(
        facts["sockets"]["source"], "netlink",
        "{}",
        facts["sockets"]
    );
    assert_eq!(facts["roots"]["live"], "/");
    assert_eq!(facts["roots"]["config"], "/host");
    // The persisted settings are the node's, named by their node paths.
    let node = Command::new(TWTUNE)
        .args(["facts", "--format", "json"])
        .output()
        .unwrap();
    let node: Value = serde_json::from_slice(&node.stdout).unwrap();
    let files = |f: &Value| -> Vec<String> {
        f["persisted"]["settings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["file"].as_str().unwrap().to_string())
            .filter(|f| !f.starts_with("/lib/"))
            .collect()
    };
    assert_eq!(files(facts), files(&node["facts"]));

    // Prometheus: promtool-clean, every series labelled by pod.
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(promtool_complaints(&text), "", "{text}");
    assert!(
        text.contains("pod=\"web-1\",namespace=\"team-a\""),
        "{text}"
    );
    assert!(text.contains("netns=\"host\""), "{text}");

    // SIGTERM ends the loop, with exit status 0.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("the agent to exit on SIGTERM", || {
        agent.try_wait().unwrap().is_some()
    });
    let status = agent.wait_with_output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
}
