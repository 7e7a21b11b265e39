//! The `twtune serve` DaemonSet (issue 22): its manifests validated, and its
//! container's command, as written, run in an emulated pod and scraped by a
//! real Prometheus whose scrape settings are the PodMonitor's.
//!
//! The emulated pod is the textfile agent's (`kubernetes_agent_ns`): a
//! private mount namespace whose root holds only the node folders its
//! volumes mount under /host, /proc (hostPID) and the binary. One departure
//! besides the dynamically linked binary: the pod's network namespace is a
//! private one, not the node's (hostNetwork), because the command listens
//! on 0.0.0.0 and a test opens no port on this machine; Prometheus runs in
//! that namespace too and scrapes it on loopback.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::kubernetes_agent_ns::{manifest_at, pod_script};
use crate::kubernetes_emit::{parse_yaml, validate_files};
use crate::pods_ns::FakePod;
use crate::support::netns::in_private_netns;
use crate::support::tier::Need;
use crate::support::{stderr, stdout};

const DAEMONSET: &str = "integrations/kubernetes/twtune-serve-daemonset.yaml";
const SERVICE: &str = "integrations/kubernetes/twtune-serve-service.yaml";
const PODMONITOR: &str = "integrations/kubernetes/twtune-podmonitor.yaml";

fn load(path: &str) -> Value {
    parse_yaml(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap())
}

/// The fields of the PodMonitor CRD (monitoring.coreos.com/v1, Prometheus
/// Operator's `Documentation/api.md`) the example may use: its schema is
/// not in kubernetes-validate, which knows the built-in kinds only.
const PODMONITOR_SPEC: &[&str] = &[
    "selector",
    "namespaceSelector",
    "podMetricsEndpoints",
    "jobLabel",
    "podTargetLabels",
    "sampleLimit",
];
const PODMONITOR_ENDPOINT: &[&str] = &[
    "port",
    "path",
    "scheme",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "relabelings",
    "metricRelabelings",
];

/// The container port named `name`.
fn port_named(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no port {name}: {container}"))["containerPort"]
        .as_u64()
        .unwrap()
}

fn keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn the_serve_manifests_are_valid_and_agree_with_each_other() {
    needs!(Need::Tool("kubernetes-validate"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for version in ["1.29.0", "1.32.0", "1.34.0"] {
        validate_files(&[root.join(DAEMONSET), root.join(SERVICE)], version);
    }
    let daemonset = load(DAEMONSET);
    let pod = &daemonset["spec"]["template"]["spec"];
    let labels = &daemonset["spec"]["template"]["metadata"]["labels"];
    let container = &pod["containers"][0];
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(command[..4], ["/twtune", "--config-root", "/host", "serve"]);
    assert!(command.contains(&"--all-netns"), "{command:?}");
    let listen = command[command.iter().position(|a| *a == "--listen").unwrap() + 1];
    let port = port_named(container, "metrics");
    assert_eq!(listen, format!("0.0.0.0:{port}"));
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], "/healthz", "{probe}");
        assert_eq!(get["port"], "metrics", "{probe}");
    }
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);

    // The Service selects the pods and names their port.
    let service = load(SERVICE);
    assert_eq!(service["spec"]["selector"], *labels);
    assert_eq!(
        service["metadata"]["namespace"],
        daemonset["metadata"]["namespace"]
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(service["spec"]["ports"][0]["port"], port);

    // The PodMonitor: the CRD's kind and fields only, selecting these pods
    // in their namespace, on the port the probes use, at the path served.
    let monitor = load(PODMONITOR);
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["kind"], "PodMonitor");
    for key in keys(&monitor) {
        assert!(
            ["apiVersion", "kind", "metadata", "spec"].contains(&key),
            "{key}"
        );
    }
    let spec = &monitor["spec"];
    for key in keys(spec) {
        assert!(PODMONITOR_SPEC.contains(&key), "spec.{key}");
    }
    assert_eq!(spec["selector"]["matchLabels"], *labels);
    assert_eq!(
        spec["namespaceSelector"]["matchNames"],
        serde_json::json!([daemonset["metadata"]["namespace"]])
    );
    let endpoints = spec["podMetricsEndpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    for key in keys(&endpoints[0]) {
        assert!(
            PODMONITOR_ENDPOINT.contains(&key),
            "podMetricsEndpoints[].{key}"
        );
    }
    assert_eq!(endpoints[0]["port"], "metrics");
    assert_eq!(endpoints[0]["path"], "/metrics");
    let seconds = |v: &Value| {
        humantime::parse_duration(v.as_str().unwrap())
            .unwrap()
            .as_secs()
    };
    assert!(seconds(&endpoints[0]["scrapeTimeout"]) <= seconds(&endpoints[0]["interval"]));
}

/// A child process killed and reaped on drop.
struct Killed(Option<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// GET `url` with curl: the status code and the body.
fn get(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.to_string(), body.to_string())
}

/// Polls until `found` returns something, for at most two minutes.
fn poll<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of the series of `query` whose labels include `labels`.
fn query(prometheus: &str, query: &str, labels: &[(&str, &str)]) -> Option<String> {
    let (code, body) = get(&format!("http://{prometheus}/api/v1/query?query={query}"));
    if code != "200" {
        return None;
    }
    let doc: Value = serde_json::from_str(&body).ok()?;
    doc["data"]["result"]
        .as_array()?
        .iter()
        .find(|r| labels.iter().all(|(k, v)| r["metric"][k] == *v))
        .map(|r| r["value"][1].as_str().unwrap_or_default().to_string())
}

#[test]
fn prometheus_scrapes_the_serve_daemonsets_command_with_every_pod() {
    needs!(
        Need::Root,
        Need::Tool("kubernetes-validate"),
        Need::Tool("prometheus"),
        Need::Tool("curl"),
        Need::Tool("unshare"),
        Need::Tool("chroot"),
    );
    let (command, mounts) = manifest_at(DAEMONSET);
    let daemonset = load(DAEMONSET);
    let container = &daemonset["spec"]["template"]["spec"]["containers"][0];
    let port = port_named(container, "metrics");
    let healthz = container["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let endpoint = load(PODMONITOR)["spec"]["podMetricsEndpoints"][0].clone();
    let pod = FakePod::new("team-d", "web-3", true);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let unused = work.path().join("textfile");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&unused).unwrap();
    let script = pod_script(&root, &command, &mounts, &unused, None);
    let data = work.path().join("prometheus");
    let config = work.path().join("prometheus.yml");
    // The PodMonitor's path; its interval and timeout shortened so the test
    // need not wait a minute for the first scrape.
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n\
             scrape_configs:\n  - job_name: twtune\n    metrics_path: {}\n    \
             static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            endpoint["path"].as_str().unwrap()
        ),
    )
    .unwrap();
    in_private_netns(move || {
        let mut agent = Killed(Some(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        let serving = format!("http://127.0.0.1:{port}");
        poll("the server to answer its probe", || {
            let running = agent.0.as_mut().unwrap().try_wait().unwrap().is_none();
            assert!(running, "the agent ended early");
            (get(&format!("{serving}{healthz}")).0 == "200").then_some(())
        });
        let _prometheus = Killed(Some(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .args(["--web.listen-address=127.0.0.1:9090", "--log.level=warn"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus"),
        ));
        let prometheus = "127.0.0.1:9090";
        // The target is up, as Prometheus's own API says.
        poll("Prometheus to scrape twtune", || {
            let (_, body) = get(&format!("http://{prometheus}/api/v1/targets"));
            let doc: Value = serde_json::from_str(&body).ok()?;
            doc["data"]["activeTargets"]
                .as_array()?
                .iter()
                .any(|t| t["labels"]["job"] == "twtune" && t["health"] == "up")
                .then_some(())
        });
        // The series arrived: the pod's, by name, and the node's.
        let pod_success = poll("the pod's series in Prometheus", || {
            query(
                prometheus,
                "twtune_check_success",
                &[("pod", "web-3"), ("namespace", "team-d"), ("job", "twtune")],
            )
        });
        assert_eq!(pod_success, "1");
        let host = query(prometheus, "twtune_check_success", &[("netns", "host")]);
        assert_eq!(host.as_deref(), Some("1"));
        let netns = poll("the pod's namespace series", || {
            query(prometheus, "twtune_netns_checked", &[("job", "twtune")])
        });
        assert!(netns.parse::<f64>().unwrap() >= 2.0, "{netns}");
        drop(pod);

        // SIGTERM ends the server, with exit status 0.
        let child = agent.0.take().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
    });
}
