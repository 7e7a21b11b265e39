//! `twtune check --format prometheus` and `--textfile`, checked by the real
//! consumers: promtool's linter, and node_exporter's textfile collector
//! serving the file inside a private network namespace.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::netns::require_tool;
use crate::support::sandbox::{Netns, wait_for};
use crate::support::tier::Need;
use crate::support::{Run, Scenario, fixtures, stderr, stdout, twtune};

/// The last line of every document twtune writes: a reader that sees it
/// has the whole file.
const LAST_LINE: &str = "twtune_apply_interrupted 0\n";

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `promtool check metrics` run on `text`, its output as it printed it.
pub fn promtool_check_metrics(text: &str) -> std::process::Output {
    use std::io::Write as _;
    require_tool("promtool", "prometheus");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `promtool check metrics` on `text`: it exits 0 and has nothing to say.
pub fn assert_promtool_accepts(what: &str, text: &str) {
    let out = promtool_check_metrics(text);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics complains about {what}:\n{}{}\n--- the metrics:\n{text}",
        stdout(&out),
        stderr(&out)
    );
}

/// The value of the one sample `series` (name and labels as printed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a sample value"))
}

#[test]
fn promtool_accepts_the_metrics_of_every_fixture_host() {
    needs!(Need::Tool("promtool"));
    let names = fixture_names();
    assert!(names.len() >= 5, "fixtures: {names:?}");
    for name in names {
        let run = Scenario::fixture(&name).twtune(&["check", "--format", "prometheus"]);
        assert!(
            [0, 2].contains(&run.code()),
            "{name}: exit {}: {}",
            run.code(),
            run.stderr()
        );
        let text = run.stdout();
        assert_promtool_accepts(&name, &text);
        assert_eq!(sample(&text, "twtune_check_success"), Some(1.0), "{name}");
        assert!(text.ends_with(LAST_LINE), "{name}:\n{text}");
        // The status series agrees with the exit status.
        let pending = sample(&text, "twtune_status{status=\"changes_pending\"}");
        assert_eq!(
            pending,
            Some(if run.code() == 2 { 1.0 } else { 0.0 }),
            "{name}"
        );
        // No sample carries a timestamp: name, optional labels, one value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let after_name = match line.rfind('}') {
                Some(end) => &line[end + 1..],
                None => line.split_once(' ').map_or("", |(_, rest)| rest),
            };
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            assert_eq!(fields.len(), 1, "{name}: a timestamp? {line}");
            assert!(fields[0].parse::<f64>().is_ok(), "{name}: {line}");
        }
    }
}

#[test]
fn the_metrics_follow_the_facts_and_the_findings() {
    let run = Scenario::fixture("k8s-node-conntrack-full").twtune(&["check", "--format", "json"]);
    let doc = run.json();
    let text = Scenario::fixture("k8s-node-conntrack-full")
        .twtune(&["check", "--format", "prometheus", "--top-destinations", "2"])
        .expect_code(2)
        .stdout();
    for severity in ["critical", "warning", "info"] {
        assert_eq!(
            sample(
                &text,
                &format!("twtune_findings{{severity=\"{severity}\"}}")
            ),
            doc["summary"][severity].as_f64(),
            "{severity}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "twtune_rule_findings{rule=\"conntrack-table-near-full\",severity=\"warning\"}"
        ),
        Some(1.0)
    );
    // Every loaded rule is listed, the quiet ones at 0.
    let rules = twtune()
        .args(["rules", "--format", "json"])
        .output()
        .unwrap();
    let rules: serde_json::Value = serde_json::from_slice(&rules.stdout).unwrap();
    let listed = text
        .lines()
        .filter(|l| l.starts_with("twtune_rule_findings{"))
        .count();
    assert_eq!(
        Some(listed),
        rules["rules"].as_array().map(Vec::len),
        "{text}"
    );
    // Each rule's series carries the severity the rule declares.
    for rule in rules["rules"].as_array().unwrap() {
        let series = format!(
            "twtune_rule_findings{{rule=\"{}\",severity=\"{}\"}}",
            rule["id"].as_str().unwrap(),
            rule["severity"].as_str().unwrap()
        );
        assert!(sample(&text, &series).is_some(), "{series}\n{text}");
    }
    assert_eq!(
        sample(
            &text,
            "twtune_rule_findings{rule=\"tcp-tw-recycle-enabled\",severity=\"warning\"}"
        ),
        Some(0.0)
    );
    let sockets = &doc["facts"]["sockets"];
    assert_eq!(
        sample(&text, "twtune_time_wait_sockets{side=\"client\"}"),
        sockets["time_wait_client_side"].as_f64()
    );
    assert_eq!(
        sample(&text, "twtune_time_wait_sockets{side=\"server\"}"),
        sockets["time_wait_server_side"].as_f64()
    );
    assert_eq!(
        sample(&text, "twtune_close_wait_sockets"),
        sockets["close_wait"].as_f64()
    );
    assert_eq!(
        sample(&text, "twtune_max_exhaustion_ratio"),
        sockets["max_exhaustion_ratio"].as_f64()
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("twtune_destination_exhaustion_ratio{"))
            .count(),
        2,
        "--top-destinations 2"
    );
    let verdict = doc["facts"]["nat"]["verdict"].as_str().unwrap();
    assert_eq!(
        sample(
            &text,
            &format!("twtune_nat_verdict{{verdict=\"{verdict}\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("twtune_nat_verdict{") && l.ends_with(" 1"))
            .count(),
        1
    );
    let release = doc["kernel"]["release"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "twtune_info{{version=\"{}\",kernel_release=\"{release}\",schema_version=\"{}\"}} 1\n",
            doc["twtune_version"].as_str().unwrap(),
            doc["schema_version"]
        )),
        "{text}"
    );
}

#[test]
fn the_numbers_behind_the_verdict_are_exported() {
    needs!(Need::Tool("promtool"));
    let scenario = Scenario::fixture("k8s-node-conntrack-full");
    let doc = scenario.twtune(&["check", "--format", "json"]).json();
    let text = scenario
        .twtune(&["check", "--format", "prometheus", "--top-destinations", "2"])
        .expect_code(2)
        .stdout();
    assert_promtool_accepts("k8s-node-conntrack-full", &text);
    // The conntrack table and its statistics (two CPUs summed: 0x11 + 0x6).
    assert_eq!(sample(&text, "twtune_conntrack_entries"), Some(126000.0));
    assert_eq!(
        sample(&text, "twtune_conntrack_fill_ratio"),
        Some(126000.0 / 131072.0)
    );
    assert_eq!(
        sample(&text, "twtune_conntrack_insert_failed_total"),
        Some(23.0)
    );
    assert_eq!(
        sample(&text, "twtune_conntrack_clash_resolve_total"),
        Some(2.0)
    );
    assert!(text.contains("# TYPE twtune_conntrack_insert_failed_total counter\n"));
    // Every fact family is listed; this tree has all of them but tracing
    // (not asked for, so complete).
    for family in ["sockets", "conntrack", "conntrack_stats", "trace"] {
        assert_eq!(
            sample(
                &text,
                &format!("twtune_facts_complete{{family=\"{family}\"}}")
            ),
            Some(1.0),
            "{family}"
        );
    }
    let duration = sample(&text, "twtune_check_duration_seconds").unwrap();
    assert!(duration >= 0.0 && duration.is_finite(), "{duration}");
    let sockets = &doc["facts"]["sockets"];
    assert_eq!(
        sample(&text, "twtune_host_ports_ratio"),
        sockets["host_ports"]["ratio_with_time_wait"].as_f64()
    );
    // Per destination: remote split into address and port, the JSON's order,
    // at most --top-destinations of each family.
    let first = &sockets["destinations"][0];
    let (address, port) = first["remote"].as_str().unwrap().rsplit_once(':').unwrap();
    let labels = format!(
        "{{local=\"{}\",address=\"{address}\",port=\"{port}\"}}",
        first["local"].as_str().unwrap()
    );
    assert_eq!(
        sample(
            &text,
            &format!("twtune_destination_time_wait_sockets{labels}")
        ),
        first["time_wait"].as_f64()
    );
    assert_eq!(
        sample(&text, &format!("twtune_destination_taken_ports{labels}")),
        first["taken"].as_f64()
    );
    for family in [
        "twtune_destination_exhaustion_ratio",
        "twtune_destination_time_wait_sockets",
        "twtune_destination_taken_ports",
        "twtune_destination_seconds_to_exhaustion",
        "twtune_snat_exhaustion_ratio",
        "twtune_connect_failures_total",
    ] {
        // promtool's lint: a `_total` family is a counter, any other here a gauge.
        let kind = match family.ends_with("_total") {
            true => "counter",
            false => "gauge",
        };
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family}"
        );
        let samples = text
            .lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .count();
        assert!(samples <= 2, "{family}: {samples} samples");
    }
    // No rate without --sample, no failures without tracing: no sample, not 0.
    assert!(!text.contains("\ntwtune_destination_seconds_to_exhaustion{"));
    assert!(!text.contains("\ntwtune_connect_failures_total{"));
    assert!(!text.contains("remote="), "{text}");
}

#[test]
fn a_hostile_kernel_release_stays_inside_its_label() {
    needs!(Need::Tool("promtool"));
    let scenario = Scenario::fixture("debian12-defaults");
    scenario.put(
        "proc/sys/kernel/osrelease",
        "6.1.0\"} 1\nevil_metric{a=\"\\\n",
    );
    let text = scenario
        .twtune(&["check", "--format", "prometheus"])
        .stdout();
    assert_promtool_accepts("a hostile kernel release", &text);
    assert!(!text.contains("\nevil_metric"), "{text}");
}

#[test]
fn the_textfile_is_written_whole_world_readable_and_the_exit_status_kept() {
    needs!(Need::Tool("promtool"));
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("twtune.prom");
    let mut command = twtune();
    command
        .arg("--root")
        .arg(scenario.root())
        .args(["check", "--textfile"])
        .arg(&file);
    // A restrictive umask must not make the file unreadable to node_exporter.
    unsafe {
        command.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
            Ok(())
        });
    }
    let run = Run::of(command).expect_code(2);
    assert_eq!(run.stdout(), "", "--textfile prints nothing");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_promtool_accepts("the textfile", &text);
    assert_eq!(sample(&text, "twtune_check_success"), Some(1.0));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // Only the file itself is left in the folder: no temporary beside it.
    let entries: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("twtune.prom")]);
}

#[test]
fn a_failed_check_replaces_the_textfile_with_check_success_0() {
    needs!(Need::Tool("promtool"));
    let scenario = Scenario::fixture("debian12-defaults");
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("twtune.prom");
    let file_arg = file.to_str().unwrap();
    scenario
        .twtune(&["check", "--textfile", file_arg])
        .expect_code(0);
    assert_eq!(
        sample(
            &std::fs::read_to_string(&file).unwrap(),
            "twtune_check_success"
        ),
        Some(1.0)
    );

    // A broken site rule file: the check fails before any verdict.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("broken.toml"), "[[rule]\nid = ").unwrap();
    let run = scenario
        .twtune(&[
            "--rules",
            rules.path().to_str().unwrap(),
            "check",
            "--textfile",
            file_arg,
        ])
        .expect_code(1);
    assert!(run.stderr().contains("broken.toml"), "{}", run.stderr());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_promtool_accepts("a failed check's textfile", &text);
    assert_eq!(sample(&text, "twtune_check_success"), Some(0.0), "{text}");
    for status in ["compliant", "changes_pending", "incomplete", "error"] {
        assert_eq!(
            sample(&text, &format!("twtune_status{{status=\"{status}\"}}")),
            Some(0.0),
            "no verdict is current"
        );
    }
    assert!(text.ends_with(LAST_LINE), "{text}");

    // The same failure printed: the document on stdout, the error on stderr.
    let printed = scenario.twtune(&[
        "--rules",
        rules.path().to_str().unwrap(),
        "check",
        "--format",
        "prometheus",
    ]);
    assert_eq!(printed.code(), 1);
    assert_eq!(sample(&printed.stdout(), "twtune_check_success"), Some(0.0));
}

#[test]
fn a_symlink_at_the_textfile_is_refused_and_left_alone() {
    let scenario = Scenario::fixture("debian12-defaults");
    let out_dir = tempfile::tempdir().unwrap();
    let precious = out_dir.path().join("precious");
    std::fs::write(&precious, "keep\n").unwrap();
    let link = out_dir.path().join("twtune.prom");
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    let run = scenario
        .twtune(&["check", "--textfile", link.to_str().unwrap()])
        .expect_code(1);
    assert!(run.stderr().contains("symbolic link"), "{}", run.stderr());
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep\n");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
}

#[test]
fn textfile_and_prometheus_only_go_with_check() {
    let scenario = Scenario::fixture("debian12-defaults");
    let run = scenario
        .twtune(&["check", "--format", "json", "--textfile", "/tmp/never.prom"])
        .expect_code(1);
    assert!(run.stderr().contains("--textfile"), "{}", run.stderr());
    assert!(!Path::new("/tmp/never.prom").exists());
    for command in [
        &["facts"][..],
        &["rules"],
        &["explain", "tcp-tw-recycle-enabled"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--format", "prometheus"]);
        let run = scenario.twtune(&args).expect_code(1);
        assert!(
            run.stderr().contains("for `twtune check` only"),
            "{command:?}: {}",
            run.stderr()
        );
        assert_eq!(run.stdout(), "");
    }
}

#[test]
fn a_reader_never_sees_a_partial_textfile() {
    needs!(Need::Tool("promtool"));
    let scenario = Scenario::fixture("k8s-node-conntrack-full");
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("twtune.prom");
    const WRITES: usize = 30;
    let writer = {
        let root = scenario.root().to_path_buf();
        let file = file.clone();
        std::thread::spawn(move || {
            for _ in 0..WRITES {
                let status = twtune()
                    .arg("--root")
                    .arg(&root)
                    .args(["check", "--textfile"])
                    .arg(&file)
                    .status()
                    .unwrap();
                assert_eq!(status.code(), Some(2));
            }
        })
    };
    let mut reads = 0;
    let mut versions = std::collections::HashSet::new();
    while !writer.is_finished() {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{e}"),
        };
        reads += 1;
        assert!(
            text.starts_with("# HELP twtune_info ") && text.ends_with(LAST_LINE),
            "read {reads} saw a partial file:\n{text}"
        );
        versions.insert(text);
    }
    writer.join().unwrap();
    assert!(reads > 0);
    // Each run's timestamp differs: the reader saw the file replaced.
    assert!(versions.len() > 1, "{reads} reads saw one version");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_promtool_accepts("the last rewrite", &text);
}

/// node_exporter serving DIR through its textfile collector alone, on
/// 127.0.0.1 inside the sandbox's private network namespace; killed on drop.
struct NodeExporter<'a> {
    ns: &'a Netns,
    child: Child,
}

const NODE_EXPORTER_ADDRESS: &str = "127.0.0.1:9100";

impl<'a> NodeExporter<'a> {
    fn start(ns: &'a Netns, dir: &Path, extra: &[&str]) -> NodeExporter<'a> {
        require_tool("prometheus-node-exporter", "prometheus-node-exporter");
        require_tool("curl", "curl");
        ns.must("ip link set lo up");
        let child = ns
            .command("prometheus-node-exporter")
            .arg(format!("--web.listen-address={NODE_EXPORTER_ADDRESS}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-node-exporter");
        NodeExporter { ns, child }
    }

    /// One scrape of /metrics, once node_exporter answers.
    fn scrape(&mut self) -> String {
        let mut body = None;
        wait_for("node_exporter to answer", || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("node_exporter exited: {status}");
            }
            let out = self
                .ns
                .command("curl")
                .args(["-fsS", &format!("http://{NODE_EXPORTER_ADDRESS}/metrics")])
                .output()
                .unwrap();
            if out.status.success() {
                body = Some(stdout(&out));
            }
            body.is_some()
        });
        body.unwrap()
    }
}

impl Drop for NodeExporter<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn node_exporter_serves_the_textfile() {
    needs!(
        Need::Root,
        Need::Tool("curl"),
        Need::Tool("prometheus-node-exporter")
    );
    let ns = Netns::new();
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twtune.prom");
    scenario
        .twtune(&["check", "--textfile", file.to_str().unwrap()])
        .expect_code(2);
    let mut exporter = NodeExporter::start(&ns, dir.path(), &[]);
    let metrics = exporter.scrape();
    assert_eq!(
        sample(&metrics, "node_textfile_scrape_error"),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("\ntwtune_findings{severity=\"critical\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\ntwtune_check_success 1\n"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("node_textfile_mtime_seconds{") && l.contains("twtune.prom")),
        "{metrics}"
    );
    // TwtuneTextfileMissing compares twtune's series with this one, which
    // node_exporter serves whatever its textfile holds.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("node_exporter_build_info{")),
        "{metrics}"
    );
    drop(exporter);
    ns.assert_host_untouched();
}

/// The README's flag for the TIME_WAIT counters twtune leaves to
/// node_exporter: the default field list, plus TcpExt's TW*, PAWS* and
/// TCPTimeWaitOverflow.
const README_NETSTAT_FIELDS: &str = "--collector.netstat.fields=^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TW.*|PAWS.*|TCPTimeWaitOverflow)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

#[test]
fn the_readme_netstat_flag_adds_the_time_wait_counters() {
    needs!(
        Need::Root,
        Need::Tool("curl"),
        Need::Tool("prometheus-node-exporter")
    );
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/prometheus/README.md"),
    )
    .unwrap();
    assert!(
        readme.contains(&format!("'{README_NETSTAT_FIELDS}'")),
        "the README shows another flag than the one tested here"
    );
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = NodeExporter::start(
        &ns,
        dir.path(),
        &["--collector.netstat", README_NETSTAT_FIELDS],
    );
    let metrics = exporter.scrape();
    for counter in [
        "node_netstat_TcpExt_TW ",
        "node_netstat_TcpExt_TWRecycled ",
        "node_netstat_TcpExt_TWKilled ",
        "node_netstat_TcpExt_TCPTimeWaitOverflow ",
        "node_netstat_TcpExt_PAWSEstab ",
        // The defaults are kept.
        "node_netstat_Tcp_CurrEstab ",
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(counter)),
            "{counter} missing:\n{metrics}"
        );
    }
}

#[test]
fn without_a_socket_table_the_socket_families_are_left_out() {
    needs!(Need::Tool("promtool"));
    // A tree with sysctls only: the socket rules are undecided.
    let run =
        Scenario::new().twtune(&["check", "--format", "prometheus", "--top-destinations", "0"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let text = run.stdout();
    assert_promtool_accepts("a host without socket tables", &text);
    assert_eq!(
        sample(&text, "twtune_status{status=\"incomplete\"}"),
        Some(1.0),
        "{text}"
    );
    for family in [
        "twtune_time_wait_sockets",
        "twtune_close_wait_sockets",
        "twtune_max_exhaustion_ratio",
        "twtune_destination_exhaustion_ratio",
    ] {
        assert!(
            !text.contains(family),
            "{family} without a socket table:\n{text}"
        );
    }
    // What could not be read says so.
    assert_eq!(
        sample(&text, "twtune_facts_complete{family=\"sockets\"}"),
        Some(0.0),
        "{text}"
    );
    assert!(text.ends_with(LAST_LINE));
}

/// `twtune --root ROOT check --textfile FILE`, not yet run.
fn textfile_run(root: &Path, file: &Path) -> Command {
    let mut command = twtune();
    command
        .arg("--root")
        .arg(root)
        .args(["check", "--textfile"])
        .arg(file);
    command
}

#[test]
fn thirty_concurrent_textfile_writers_all_succeed_and_readers_see_whole_files() {
    let scenario = Scenario::fixture("k8s-node-conntrack-full");
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("twtune.prom");
    let mut children: Vec<Child> = (0..30)
        .map(|_| {
            textfile_run(scenario.root(), &file)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Read while they run: once the file exists it is always a whole one.
    let mut reads = 0;
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                reads += 1;
                assert!(
                    text.starts_with("# HELP twtune_info ") && text.ends_with(LAST_LINE),
                    "read {reads} saw a partial or empty file:\n{text}"
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("{e}"),
        }
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let entries: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("twtune.prom")]);
}

#[test]
fn a_folder_planted_at_the_old_temporary_name_does_not_block_the_textfile() {
    let scenario = Scenario::fixture("debian12-defaults");
    let out_dir = tempfile::tempdir().unwrap();
    // Sticky and world-writable, as /tmp: anyone may plant a folder.
    std::fs::set_permissions(out_dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::create_dir(out_dir.path().join(".twtune.prom.tmp")).unwrap();
    let file = out_dir.path().join("twtune.prom");
    Run::of(textfile_run(scenario.root(), &file)).expect_code(0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(sample(&text, "twtune_check_success"), Some(1.0));
    assert!(out_dir.path().join(".twtune.prom.tmp").is_dir());
}

#[test]
fn a_folder_everyone_may_write_without_the_sticky_bit_is_refused() {
    let scenario = Scenario::fixture("debian12-defaults");
    let out_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = out_dir.path().join("twtune.prom");
    let run = Run::of(textfile_run(scenario.root(), &file)).expect_code(1);
    assert!(
        run.stderr().contains("writable by every user") && run.stderr().contains("sticky bit"),
        "{}",
        run.stderr()
    );
    assert!(!file.exists());
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
}

#[test]
fn a_link_on_the_way_to_the_textfile_folder_is_not_followed() {
    let scenario = Scenario::fixture("debian12-defaults");
    let out_dir = tempfile::tempdir().unwrap();
    let real = out_dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, out_dir.path().join("link")).unwrap();
    let file = out_dir.path().join("link").join("twtune.prom");
    let run = Run::of(textfile_run(scenario.root(), &file)).expect_code(1);
    assert!(run.stderr().contains("symbolic link"), "{}", run.stderr());
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
}
