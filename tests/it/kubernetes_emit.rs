//! `apply --dry-run --emit k8s`: the plan placed for a Kubernetes cluster, as
//! YAML that a YAML parser reads (PyYAML) and whose pod part the Kubernetes
//! API schema accepts (kubernetes-validate, offline, `--strict`). Both come
//! from PyPI; `.ci/run` installs them in its venv.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::Scenario;
use crate::support::tier::Need;

/// Fails with a clear message when a PyPI tool is missing (the tests name
/// it in their `needs!`, which skips them without it outside CI).
pub(crate) fn require_python_tool(tool: &'static str) {
    crate::support::tier::require(
        Need::Tool(tool),
        "`./.ci/run` installs it (pip install kubernetes-validate into target/ci-venv, which it puts on PATH)",
    );
}

/// Parses YAML with PyYAML's safe loader and returns it as JSON.
pub(crate) fn parse_yaml(text: &str) -> Value {
    require_python_tool("kubernetes-validate");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.yaml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&file)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "PyYAML refused the document:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Validates Kubernetes objects against the API schema of `version`.
fn kubernetes_validate(objects: &[Value], version: &str) {
    require_python_tool("kubernetes-validate");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let file = dir.path().join(format!("object-{i}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(object).unwrap()).unwrap();
        files.push(file);
    }
    validate_files(&files, version);
}

pub(crate) fn validate_files(files: &[impl AsRef<Path>], version: &str) {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", version])
        .args(files.iter().map(AsRef::as_ref))
        .output()
        .expect("run kubernetes-validate");
    assert!(
        out.status.success(),
        "kubernetes-validate refused it:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A pod that carries the emitted `pod.spec` part, as an operator would merge it.
fn pod_with(spec: &Value) -> Value {
    let mut spec = spec.clone();
    spec["containers"] = json!([{"name": "app", "image": "registry.example/app:1"}]);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"}, "spec": spec})
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect()
}

fn emit(scenario: &Scenario, extra: &[&str]) -> (Value, String) {
    let run = scenario
        .twtune(&[&["apply", "--dry-run", "--emit", "k8s"], extra].concat())
        .expect_code(2);
    let text = run.stdout();
    (parse_yaml(&text), text)
}

#[test]
fn a_node_plan_splits_into_safe_pod_sysctls_unsafe_ones_and_node_settings() {
    needs!(Need::Tool("kubernetes-validate"));
    // A Kubernetes node with a full conntrack table, and three more keys set by
    // hand: one the kubelet treats as safe, two it does not.
    let node = Scenario::fixture("k8s-node-conntrack-full");
    let (doc, text) = emit(
        &node,
        &[
            "--k8s-version",
            "1.29",
            "--set",
            "net.ipv4.ip_local_port_range=10000 60999",
            "--set",
            "net.ipv4.tcp_tw_reuse=1",
            "--set",
            "net.ipv4.tcp_max_tw_buckets=262144",
        ],
    );
    assert_eq!(doc["kubernetesVersion"], "1.29");
    let safe = &doc["pod"]["spec"]["securityContext"]["sysctls"];
    assert_eq!(names(safe), ["net.ipv4.ip_local_port_range"], "{text}");
    assert_eq!(safe[0]["value"], "10000 60999", "values are strings");

    let unsafe_keys = names(&doc["unsafe"]["sysctls"]);
    assert!(unsafe_keys.contains(&"net.ipv4.tcp_tw_reuse"), "{text}");
    assert!(
        unsafe_keys.contains(&"net.ipv4.tcp_max_tw_buckets"),
        "{text}"
    );
    let flag = doc["unsafe"]["kubeletFlag"].as_str().expect("a flag");
    assert!(flag.starts_with("--allowed-unsafe-sysctls="), "{flag}");
    for key in &unsafe_keys {
        assert!(flag.contains(key), "{flag} names {key}");
    }
    assert_eq!(
        names(&doc["unsafe"]["sysctls"]).len(),
        doc["unsafe"]["kubeletConfiguration"]["allowedUnsafeSysctls"]
            .as_array()
            .unwrap()
            .len()
    );

    // kube-proxy rewrites the table's limit at every start: its
    // configuration is where the value goes, not the node's sysctl.d.
    assert_eq!(
        names(&doc["kubeProxy"]),
        ["net.netfilter.nf_conntrack_max"],
        "{text}"
    );
    assert!(
        doc["kubeProxy"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("conntrack.maxPerCore"),
        "{text}"
    );
    assert!(
        !names(&doc["node"]).contains(&"net.netfilter.nf_conntrack_max"),
        "{text}"
    );
    for setting in doc["node"].as_array().unwrap() {
        assert!(setting["value"].is_string() && setting["reason"].is_string());
    }

    // The pod part is what the API server accepts, and so is the pod with the
    // unsafe keys added once the kubelet allows them.
    kubernetes_validate(&[pod_with(&doc["pod"]["spec"])], "1.29.0");
    let mut with_unsafe = doc["pod"]["spec"].clone();
    let mut all = safe.as_array().unwrap().clone();
    all.extend(doc["unsafe"]["sysctls"].as_array().unwrap().iter().cloned());
    with_unsafe["securityContext"]["sysctls"] = Value::Array(all);
    kubernetes_validate(&[pod_with(&with_unsafe)], "1.29.0");
}

#[test]
fn the_kubernetes_version_moves_keys_onto_the_safe_list() {
    needs!(Need::Tool("kubernetes-validate"));
    // ip_local_reserved_ports joined the kubelet's safe list in 1.27,
    // tcp_fin_timeout in 1.29.
    let host = Scenario::new().sysctl("ip_local_reserved_ports", "");
    let sets = [
        "--set",
        "net.ipv4.ip_local_reserved_ports=30000-32767",
        "--set",
        "net.ipv4.tcp_fin_timeout=30",
    ];
    let at = |version: &str| {
        let (doc, _) = emit(&host, &[&["--k8s-version", version][..], &sets].concat());
        (
            names(&doc["pod"]["spec"]["securityContext"]["sysctls"])
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            names(&doc["unsafe"]["sysctls"])
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    };
    let (safe, unsafe_keys) = at("1.26");
    assert!(safe.is_empty(), "{safe:?}");
    assert_eq!(
        unsafe_keys,
        [
            "net.ipv4.ip_local_reserved_ports",
            "net.ipv4.tcp_fin_timeout"
        ]
    );
    let (safe, unsafe_keys) = at("v1.27.4");
    assert_eq!(safe, ["net.ipv4.ip_local_reserved_ports"]);
    assert_eq!(unsafe_keys, ["net.ipv4.tcp_fin_timeout"]);
    let (safe, unsafe_keys) = at("1.29");
    assert_eq!(safe.len(), 2, "{safe:?}");
    assert!(unsafe_keys.is_empty());
}

#[test]
fn the_kernel_gates_of_the_kubelet_and_the_kernel_place_each_key() {
    needs!(Need::Tool("kubernetes-validate"));
    let host = |release: &str| {
        Scenario::new()
            .write("proc/sys/kernel/osrelease", &format!("{release}\n"))
            .sysctl("tcp_rmem", "4096\t131072\t6291456")
            .sysctl("tcp_notsent_lowat", "4294967295")
    };
    let sets = [
        "--set",
        "net.ipv4.tcp_rmem=4096 262144 8388608",
        "--set",
        "net.ipv4.tcp_tw_reuse=1",
        "--set",
        "net.ipv4.tcp_notsent_lowat=131072",
    ];
    let place = |release: &str, version: &str| {
        let (doc, text) = emit(
            &host(release),
            &[&["--k8s-version", version][..], &sets].concat(),
        );
        let list = |v: &Value| -> Vec<String> { names(v).into_iter().map(String::from).collect() };
        (
            list(&doc["pod"]["spec"]["securityContext"]["sysctls"]),
            list(&doc["unsafe"]["sysctls"]),
            list(&doc["node"]),
            text,
        )
    };
    // tcp_rmem: safe from 1.32, on kernels from 4.15 only; tcp_tw_reuse is
    // per namespace from 4.10 (not 4.11), unsafe; tcp_notsent_lowat joins
    // the safe list in 1.37 and is unsafe before, never a node setting.
    let (safe, unsafe_keys, node, text) = place("4.15.0", "1.37");
    assert_eq!(
        safe,
        ["net.ipv4.tcp_rmem", "net.ipv4.tcp_notsent_lowat"],
        "{text}"
    );
    assert_eq!(unsafe_keys, ["net.ipv4.tcp_tw_reuse"], "{text}");
    assert!(node.is_empty(), "{text}");
    let (safe, unsafe_keys, _, text) = place("4.15.0", "1.36");
    assert_eq!(safe, ["net.ipv4.tcp_rmem"], "{text}");
    assert_eq!(
        unsafe_keys,
        ["net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_notsent_lowat"],
        "{text}"
    );
    let (safe, unsafe_keys, node, text) = place("4.10.0", "1.32");
    assert!(safe.is_empty(), "{text}");
    assert_eq!(unsafe_keys, ["net.ipv4.tcp_tw_reuse"], "{text}");
    assert_eq!(
        node,
        ["net.ipv4.tcp_rmem", "net.ipv4.tcp_notsent_lowat"],
        "{text}"
    );
    assert!(
        text.contains("per network namespace only from Linux 4.15"),
        "{text}"
    );
    let (_, unsafe_keys, node, text) = place("4.9.0", "1.32");
    assert!(unsafe_keys.is_empty(), "{text}");
    assert!(
        node.contains(&"net.ipv4.tcp_tw_reuse".to_string()),
        "{text}"
    );
}

#[test]
fn a_plan_from_the_node_s_own_namespace_is_also_a_node_setting() {
    needs!(Need::Tool("kubernetes-validate"));
    // The host's namespace: /proc/self/ns/net names the initial inode
    // (PROC_NET_INIT_INO, fixed since 6.18).
    let host = Scenario::new();
    std::fs::create_dir_all(host.path("proc/self/ns")).unwrap();
    std::os::unix::fs::symlink("net:[4026531833]", host.path("proc/self/ns/net")).unwrap();
    let (doc, text) = emit(&host, &["--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(names(&doc["unsafe"]["sysctls"]), ["net.ipv4.tcp_tw_reuse"]);
    assert_eq!(names(&doc["node"]), ["net.ipv4.tcp_tw_reuse"], "{text}");
    let reason = doc["node"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("node's own network namespace") && reason.contains("hostNetwork"),
        "{reason}"
    );
}

#[test]
fn an_old_node_kernel_keeps_keys_it_does_not_namespace_on_the_node() {
    needs!(Need::Tool("kubernetes-validate"));
    // CentOS 7's 3.10 kernel: tcp_tw_recycle still exists and is global, and
    // tcp_tw_reuse is not yet per network namespace.
    let old = Scenario::fixture("centos7-tw-recycle");
    let (doc, text) = emit(&old, &["--set", "net.ipv4.tcp_tw_reuse=1"]);
    assert_eq!(doc["nodeKernel"], "3.10.0");
    let node_keys = names(&doc["node"]);
    assert!(node_keys.contains(&"net.ipv4.tcp_tw_recycle"), "{text}");
    assert!(node_keys.contains(&"net.ipv4.tcp_tw_reuse"), "{text}");
    assert!(doc["unsafe"]["kubeletFlag"].is_null(), "{text}");
}

#[test]
fn a_compliant_node_emits_an_empty_plan_and_exits_0() {
    needs!(Need::Tool("kubernetes-validate"));
    let run = Scenario::new()
        .twtune(&[
            "apply",
            "--dry-run",
            "--emit",
            "k8s",
            "--skip",
            "tcp-fin-timeout-lowered",
        ])
        .expect_code(0);
    let doc = parse_yaml(&run.stdout());
    assert_eq!(doc["pod"]["spec"]["securityContext"]["sysctls"], json!([]));
    assert_eq!(doc["unsafe"]["sysctls"], json!([]));
    assert_eq!(doc["node"], json!([]));
}

#[test]
fn emit_refuses_what_it_cannot_honour() {
    let host = Scenario::new();
    let refused = |args: &[&str], says: &str| {
        let run = host.twtune(args).expect_code(1);
        assert!(run.stderr().contains(says), "{args:?}: {}", run.stderr());
    };
    refused(&["apply", "--emit", "k8s"], "--dry-run");
    refused(
        &[
            "apply",
            "--dry-run",
            "--emit",
            "k8s",
            "--k8s-version",
            "1.20",
        ],
        "1.21",
    );
    refused(
        &[
            "apply",
            "--dry-run",
            "--emit",
            "k8s",
            "--k8s-version",
            "latest",
        ],
        "not a Kubernetes version",
    );
    refused(&["apply", "--dry-run", "--k8s-version", "1.29"], "--emit");
    refused(
        &["--format", "json", "apply", "--dry-run", "--emit", "k8s"],
        "leave out --format",
    );
}

#[test]
fn the_shipped_daemonset_is_a_valid_kubernetes_object() {
    needs!(Need::Tool("kubernetes-validate"));
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("integrations/kubernetes/twtune-textfile-daemonset.yaml");
    for version in ["1.29.0", "1.32.0", "1.34.0"] {
        validate_files(&[&file], version);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let doc = parse_yaml(&text);
    let pod = &doc["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    // No shell: the command is twtune's own loop, which exits on SIGTERM
    // (tests/it/kubernetes_agent_ns.rs runs it as written).
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(command[..4], ["/twtune", "--config-root", "/host", "check"]);
    assert!(command.contains(&"--all-netns") && command.contains(&"--every"));
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    // Only node folders, never the node's whole /.
    for volume in pod["volumes"].as_array().unwrap() {
        assert_ne!(volume["hostPath"]["path"], "/", "{volume}");
    }
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
}

#[test]
fn a_node_whose_kube_proxy_owns_the_conntrack_limit_places_it_in_kube_proxy() {
    needs!(Need::Tool("kubernetes-validate"));
    let node = Scenario::fixture("k8s-node-conntrack-full")
        .write(
            "proc/2417/cmdline",
            "/usr/local/bin/kube-proxy\0--config=/var/lib/kube-proxy/config.conf\0",
        )
        .write(
            "var/lib/kube-proxy/config.conf",
            "conntrack:\n  maxPerCore: 32768\n  min: 131072\n",
        );
    let (doc, text) = emit(&node, &[]);
    assert_eq!(
        names(&doc["kubeProxy"]),
        ["net.netfilter.nf_conntrack_max"],
        "{text}"
    );
    let reason = doc["kubeProxy"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("kube-proxy manages") && reason.contains("/var/lib/kube-proxy/config.conf"),
        "{reason}"
    );
    assert!(!names(&doc["node"]).contains(&"net.netfilter.nf_conntrack_max"));
}
