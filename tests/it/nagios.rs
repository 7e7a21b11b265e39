//! `twtune check --format nagios` and `integrations/nagios/check_twtune`:
//! the plugin output and statuses on fixture hosts, the wrapper's usage
//! errors, and a real nagios4 running the check once and recording it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::netns::require_tool;
use crate::support::sandbox::{Netns, wait_for};
use crate::support::tier::Need;
use crate::support::{Run, Scenario, TWTUNE, fixtures};

fn check_twtune() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/nagios/check_twtune")
}

/// A plugin's output, split by the guidelines: the status line's text, its
/// performance data, and the long output lines.
struct PluginOutput {
    text: String,
    perfdata: Vec<String>,
    long: Vec<String>,
}

fn parse(stdout: &str) -> PluginOutput {
    let mut lines = stdout.lines();
    let first = lines.next().expect("a first line");
    let (text, perf) = first.split_once(" | ").unwrap_or((first, ""));
    assert!(!text.contains('|'), "a | in the text: {first}");
    let perfdata: Vec<String> = perf.split_whitespace().map(str::to_string).collect();
    for item in &perfdata {
        assert_perfdata_syntax(item);
    }
    PluginOutput {
        text: text.to_string(),
        perfdata,
        long: lines.map(str::to_string).collect(),
    }
}

/// `'label'=value[UOM];[warn];[crit];[min];[max]`, numbers where present.
fn assert_perfdata_syntax(item: &str) {
    let (label, rest) = item
        .strip_prefix('\'')
        .and_then(|s| s.split_once("'="))
        .unwrap_or_else(|| panic!("perfdata without a quoted label: {item}"));
    assert!(!label.is_empty() && !label.contains(['=', '\'']), "{item}");
    let fields: Vec<&str> = rest.split(';').collect();
    // Trailing empty fields may be dropped.
    assert!((1..=5).contains(&fields.len()), "{item}");
    let value = fields[0].trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
    assert!(value.parse::<f64>().is_ok(), "value of {item}");
    for field in &fields[1..] {
        assert!(field.is_empty() || field.parse::<f64>().is_ok(), "{item}");
    }
}

fn perf_value<'a>(output: &'a PluginOutput, label: &str) -> &'a str {
    let prefix = format!("'{label}'=");
    output
        .perfdata
        .iter()
        .find_map(|p| p.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {label} in {:?}", output.perfdata))
}

/// Each state on a fixture host: the exit status, the first line, the
/// perfdata and one long-output line per finding, against the JSON verdict.
#[test]
fn each_fixture_host_gets_the_state_of_its_worst_finding() {
    let undecided = Scenario::fixture("debian12-defaults");
    undecided.put("proc/sys/kernel/osrelease", "my-custom-kernel\n");
    let cases = [
        (Scenario::fixture("debian12-defaults"), 0, "OK"),
        (Scenario::fixture("jammy-stale-tw-recycle"), 1, "WARNING"),
        (Scenario::fixture("centos7-tw-recycle"), 2, "CRITICAL"),
        (undecided, 3, "UNKNOWN"),
    ];
    for (scenario, code, state) in cases {
        let json = scenario.twtune(&["check", "--format", "json"]).json();
        let run = scenario
            .twtune(&["check", "--format", "nagios"])
            .expect_code(code);
        let out = parse(&run.stdout());
        let summary = &json["summary"];
        let counts = format!(
            "{} critical, {} warning, {} info",
            summary["critical"], summary["warning"], summary["info"]
        );
        assert!(
            out.text.starts_with(&format!("TWTUNE {state} - {counts}")),
            "{}",
            out.text
        );
        let findings = json["findings"].as_array().unwrap();
        if let Some(worst) = findings.first().filter(|_| state != "UNKNOWN") {
            let summary = worst["summary"].as_str().unwrap();
            assert!(out.text.ends_with(&format!(": {summary}")), "{}", out.text);
        }
        for (finding, line) in findings.iter().zip(&out.long) {
            let severity = finding["severity"].as_str().unwrap().to_uppercase();
            assert_eq!(
                line,
                &format!(
                    "{severity}: {}: {}",
                    finding["rule"].as_str().unwrap(),
                    finding["summary"].as_str().unwrap()
                )
            );
        }
        let undecided = json["undecided"].as_array().unwrap();
        assert_eq!(
            out.long.len(),
            findings.len() + undecided.len(),
            "{:?}",
            out.long
        );
        assert_eq!(
            perf_value(&out, "critical"),
            format!("{};;;0", summary["critical"])
        );
        assert_eq!(
            perf_value(&out, "undecided"),
            format!("{};;;0", undecided.len())
        );
        let sockets = &json["facts"]["sockets"];
        assert_eq!(
            perf_value(&out, "time_wait_client"),
            format!("{};;;0", sockets["time_wait_client_side"])
        );
    }
}

/// The perfdata thresholds are the numbers the port rules compare against:
/// `defaults.exhaustion_ratio_warning` / `_critical`, which no rule file
/// writes out again.
#[test]
fn perfdata_thresholds_are_the_port_rules_own() {
    let schema = Run::of({
        let mut c = crate::support::twtune();
        c.args(["facts", "--schema", "--format", "json"]);
        c
    })
    .stdout();
    let stated = |name: &str| {
        let marker = format!("`{name}` (");
        let start = schema
            .find(&marker)
            .unwrap_or_else(|| panic!("{name} in the schema"))
            + marker.len();
        schema[start..].split(')').next().unwrap().to_string()
    };
    let (warn, crit) = (
        stated("exhaustion_ratio_warning"),
        stated("exhaustion_ratio_critical"),
    );
    let run = Scenario::fixture("debian12-defaults").twtune(&["check", "--format", "nagios"]);
    let out = parse(&run.stdout());
    for label in [
        "max_exhaustion_ratio",
        "host_ports_ratio",
        "host_ports_ratio_with_time_wait",
    ] {
        let fields: Vec<&str> = perf_value(&out, label).split(';').collect();
        assert_eq!(
            (fields[1], fields[2]),
            (warn.as_str(), crit.as_str()),
            "{label}"
        );
    }
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(rules_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for literal in [
                format!(">= {warn}"),
                format!(">= {crit}"),
                format!("< {warn}"),
            ] {
                assert!(
                    !text
                        .lines()
                        .any(|l| l.contains("ratio") && l.contains(&literal)),
                    "{}: a port threshold written out ({literal}); use defaults.exhaustion_ratio_*",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn warning_and_critical_thresholds_judge_the_ratios_and_fill_the_perfdata() {
    let fx = Scenario::fixture("debian12-defaults");
    let plain = parse(
        &fx.twtune(&["check", "--format", "nagios"])
            .expect_code(0)
            .stdout(),
    );
    let ratio: f64 = perf_value(&plain, "host_ports_ratio_with_time_wait")
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ratio > 0.0, "the fixture holds some ports");
    // A warning threshold below the ratio: WARNING, whatever the rules say.
    let below = format!("{}", ratio / 2.0);
    let run = fx
        .twtune(&["check", "--format", "nagios", "--warning", &below])
        .expect_code(1);
    let out = parse(&run.stdout());
    assert!(out.text.starts_with("TWTUNE WARNING - "), "{}", out.text);
    let fields: Vec<String> = perf_value(&out, "host_ports_ratio_with_time_wait")
        .split(';')
        .map(str::to_string)
        .collect();
    // warn is the threshold given; crit stays the rules' own; min 0, max 1.
    assert_eq!(fields[1], below);
    assert_eq!((fields[3].as_str(), fields[4].as_str()), ("0", "1"));
    let run = fx
        .twtune(&[
            "check",
            "--format",
            "nagios",
            "--warning",
            &below,
            "--critical",
            &below,
        ])
        .expect_code(2);
    assert!(run.stdout().starts_with("TWTUNE CRITICAL - "));
    // Thresholds above every ratio change nothing.
    fx.twtune(&[
        "check",
        "--format",
        "nagios",
        "-v",
        "--warning",
        "0.99",
        "--critical",
        "1",
    ])
    .expect_code(0);
    // Bad thresholds are usage errors, UNKNOWN in this format.
    let run = fx
        .twtune(&[
            "check",
            "--format",
            "nagios",
            "--warning",
            "0.9",
            "--critical",
            "0.5",
        ])
        .expect_code(3);
    assert!(
        run.stdout()
            .contains("--warning 0.9 is above --critical 0.5"),
        "{}",
        run.stdout()
    );
    fx.twtune(&["check", "--format", "nagios", "--warning", "90%"])
        .expect_code(3);
    // And they belong to this format alone.
    let run = fx.twtune(&["check", "--warning", "0.5"]).expect_code(1);
    assert!(run.stderr().contains("--format nagios"), "{}", run.stderr());
}

#[test]
fn conntrack_and_snat_ratios_are_in_the_perfdata() {
    let run = Scenario::fixture("k8s-node-conntrack-full").twtune(&["check", "--format", "nagios"]);
    let out = parse(&run.stdout());
    // 126000 of 131072, against the conntrack rule's 80 % and a full table.
    assert_eq!(perf_value(&out, "conntrack_fill_ratio"), "0.9613;0.8;1;0;1");
    assert!(perf_value(&out, "snat_max_ratio").ends_with(";0;1"));
    let run = Scenario::fixture("k8s-node-conntrack-full")
        .twtune(&["check", "--format", "nagios", "--critical", "0.95"])
        .expect_code(2);
    let out = parse(&run.stdout());
    assert!(out.text.starts_with("TWTUNE CRITICAL - "), "{}", out.text);
    assert_eq!(
        perf_value(&out, "conntrack_fill_ratio"),
        "0.9613;0.8;0.95;0;1"
    );
}

#[test]
fn an_undecided_verdict_is_unknown_and_says_which_rule() {
    let scenario = Scenario::fixture("debian12-defaults");
    scenario.put("proc/sys/kernel/osrelease", "my-custom-kernel\n");
    assert_eq!(
        scenario.twtune(&["check", "--format", "json"]).json()["status"],
        "incomplete"
    );
    let run = scenario
        .twtune(&["check", "--format", "nagios"])
        .expect_code(3);
    let out = parse(&run.stdout());
    assert!(
        out.text.contains("undecided: needs the kernel version"),
        "{}",
        out.text
    );
    assert!(
        out.long.iter().all(|l| l.starts_with("UNDECIDED: ")),
        "{:?}",
        out.long
    );
}

#[test]
fn errors_are_unknown_on_stdout() {
    // Unreadable input.
    let scenario =
        Scenario::fixture("debian12-defaults").make_unreadable("proc/sys/net/ipv4/tcp_tw_reuse");
    let run = scenario
        .twtune(&["check", "--format", "nagios"])
        .expect_code(3);
    assert!(
        run.stdout().starts_with("TWTUNE UNKNOWN - "),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("tcp_tw_reuse"), "{}", run.stdout());
    assert_eq!(run.stdout().lines().count(), 1);

    // A usage error, whichever way --format is spelled.
    for args in [
        &["check", "--format", "nagios", "--no-such-flag"][..],
        &["--format=nagios", "check", "--sample", "fast"],
        &["--format", "nagios", "no-such-command"],
    ] {
        let run = Run::of({
            let mut c = crate::support::twtune();
            c.args(args);
            c
        })
        .expect_code(3);
        assert!(
            run.stdout().starts_with("TWTUNE UNKNOWN - usage: "),
            "{args:?}: {}",
            run.stdout()
        );
        assert!(!run.stdout().contains('|'), "{}", run.stdout());
    }

    // A command the format does not fit.
    let run = scenario
        .twtune(&["rules", "--format", "nagios"])
        .expect_code(3);
    assert!(
        run.stdout()
            .starts_with("TWTUNE UNKNOWN - --format nagios is for `twtune check` only")
    );

    // Without --format nagios, a usage error keeps twtune's own status.
    let run = Run::of({
        let mut c = crate::support::twtune();
        c.args(["check", "--no-such-flag"]);
        c
    });
    assert_eq!(run.code(), 1);
}

#[test]
fn hostile_text_cannot_forge_perfdata_or_lines() {
    let scenario = Scenario::fixture("debian12-defaults");
    scenario.put(
        "proc/sys/kernel/osrelease",
        "evil | 'critical'=0;;;0\nTWTUNE OK - forged\n",
    );
    let run = scenario.twtune(&["check", "--format", "nagios"]);
    let stdout = run.stdout();
    let out = parse(&stdout);
    assert!(!stdout.contains("\nTWTUNE OK"), "{stdout}");
    assert_eq!(
        out.perfdata
            .iter()
            .filter(|p| p.starts_with("'critical'="))
            .count(),
        1,
        "{stdout}"
    );
}

fn wrapper(args: &[&str], twtune: &str) -> Run {
    let mut command = Command::new(check_twtune());
    command
        .args(args)
        .env("TWTUNE", twtune)
        .env("NO_COLOR", "1")
        // Not through sudo, whatever ran the tests.
        .env_remove("SUDO_UID")
        .env_remove("SUDO_USER");
    Run::of(command)
}

#[test]
fn check_twtune_passes_options_through_and_maps_usage_errors_to_unknown() {
    let root = fixtures().join("centos7-tw-recycle");
    let root = root.to_str().unwrap();
    let run = wrapper(&["--root", root], TWTUNE).expect_code(2);
    let direct = Scenario::fixture("centos7-tw-recycle")
        .twtune(&["check", "--format", "nagios"])
        .stdout();
    assert_eq!(run.stdout(), direct);

    let run = wrapper(&["--root", root, "--bogus"], TWTUNE).expect_code(3);
    assert!(
        run.stdout().starts_with("TWTUNE UNKNOWN - usage: "),
        "{}",
        run.stdout()
    );
    let run = wrapper(&["extra-argument"], TWTUNE).expect_code(3);
    assert!(
        run.stdout().starts_with("TWTUNE UNKNOWN - usage: "),
        "{}",
        run.stdout()
    );
    // --format belongs to the wrapper: a second one is a usage error.
    let run = wrapper(&["--format", "json"], TWTUNE).expect_code(3);
    assert!(
        run.stdout().starts_with("TWTUNE UNKNOWN - "),
        "{}",
        run.stdout()
    );

    let run = wrapper(&["--root", root], "/nonexistent/twtune").expect_code(3);
    assert_eq!(
        run.stdout(),
        "TWTUNE UNKNOWN - twtune binary not found at /nonexistent/twtune\n"
    );
    let run = wrapper(&["--root", root], "no-such-twtune-binary").expect_code(3);
    assert!(
        run.stdout()
            .starts_with("TWTUNE UNKNOWN - twtune not found on PATH")
    );
    let run = wrapper(&["--help"], TWTUNE).expect_code(3);
    assert!(run.stdout().starts_with("usage: check_twtune"));
}

#[test]
fn check_twtune_has_version_timeout_and_thresholds() {
    let run = wrapper(&["-V"], TWTUNE).expect_code(3);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        run.stdout(),
        format!("check_twtune {version} (twtune {version})\n")
    );
    // -t: a twtune that hangs is given up on, UNKNOWN.
    let dir = tempfile::tempdir().unwrap();
    let hang = dir.path().join("twtune");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 600\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = wrapper(&["-t", "1"], hang.to_str().unwrap()).expect_code(3);
    assert_eq!(
        run.stdout(),
        "TWTUNE UNKNOWN - timed out after 1 seconds (-t)\n"
    );
    for bad in [&["-t", "0"][..], &["-t", "soon"], &["-w", "high"], &["-c"]] {
        let run = wrapper(bad, TWTUNE).expect_code(3);
        assert!(run.stdout().starts_with("TWTUNE UNKNOWN - "), "{bad:?}");
    }
    // -w/-c reach twtune as --warning/--critical.
    let root = fixtures().join("debian12-defaults");
    let run = wrapper(
        &[
            "-w",
            "0.000001",
            "-c",
            "0.99",
            "--root",
            root.to_str().unwrap(),
        ],
        TWTUNE,
    )
    .expect_code(1);
    assert!(
        run.stdout().starts_with("TWTUNE WARNING - "),
        "{}",
        run.stdout()
    );
}

#[test]
fn check_twtune_maps_a_killed_twtune_to_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("twtune");
    std::fs::write(&fake, "#!/bin/sh\nkill -KILL $$\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = wrapper(&[], fake.to_str().unwrap()).expect_code(3);
    assert_eq!(
        run.stdout(),
        "TWTUNE UNKNOWN - twtune exited with status 137\n"
    );
}

/// A minimal nagios4 configuration in a temporary folder: one host, one
/// service running check_twtune on a fixture tree, everything nagios writes
/// (status, log, command pipe, query socket) in that folder.
struct NagiosConfig {
    dir: tempfile::TempDir,
}

impl NagiosConfig {
    fn new(fixture_root: &Path) -> NagiosConfig {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join("checkresults")).unwrap();
        std::fs::write(dir.path().join("resource.cfg"), "").unwrap();
        let main = format!(
            "log_file={d}/nagios.log\n\
             cfg_file={d}/objects.cfg\n\
             object_cache_file={d}/objects.cache\n\
             precached_object_file={d}/objects.precache\n\
             resource_file={d}/resource.cfg\n\
             status_file={d}/status.dat\n\
             status_update_interval=1\n\
             nagios_user=root\n\
             nagios_group=root\n\
             check_external_commands=1\n\
             command_file={d}/nagios.cmd\n\
             query_socket={d}/nagios.qh\n\
             lock_file={d}/nagios.lock\n\
             temp_file={d}/nagios.tmp\n\
             temp_path={d}\n\
             retain_state_information=0\n\
             state_retention_file={d}/retention.dat\n\
             check_result_path={d}/checkresults\n\
             enable_notifications=0\n\
             log_rotation_method=n\n\
             use_syslog=0\n\
             check_for_updates=0\n\
             execute_host_checks=0\n\
             interval_length=1\n\
             illegal_macro_output_chars=`~$&|<>\"\n"
        );
        std::fs::write(dir.path().join("nagios.cfg"), main).unwrap();
        let days: String = [
            "sunday",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
        ]
        .iter()
        .map(|day| format!("  {day} 00:00-24:00\n"))
        .collect();
        // The first check comes only when forced: the interval is an hour.
        let objects = format!(
            "define timeperiod {{\n  timeperiod_name always\n  alias always\n{days}}}\n\
             define command {{\n  command_name check_twtune\n  command_line /usr/bin/env TWTUNE={bin} {plugin} --root $ARG1$\n}}\n\
             define contact {{\n  contact_name nobody\n  host_notifications_enabled 0\n  service_notifications_enabled 0\n  host_notification_period always\n  service_notification_period always\n  host_notification_options n\n  service_notification_options n\n  host_notification_commands check_twtune\n  service_notification_commands check_twtune\n}}\n\
             define host {{\n  host_name fixture\n  address 127.0.0.1\n  max_check_attempts 1\n  check_period always\n  contacts nobody\n  notification_period always\n  notification_interval 0\n}}\n\
             define service {{\n  host_name fixture\n  service_description twtune\n  check_command check_twtune!{root}\n  max_check_attempts 1\n  check_interval 3600\n  retry_interval 3600\n  check_period always\n  contacts nobody\n  notification_period always\n  notification_interval 0\n}}\n",
            bin = TWTUNE,
            plugin = check_twtune().display(),
            root = fixture_root.display(),
        );
        std::fs::write(dir.path().join("objects.cfg"), objects).unwrap();
        NagiosConfig { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// nagios4 in the foreground inside the sandbox namespace; killed on drop.
struct Nagios {
    child: Child,
}

impl Drop for Nagios {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `servicestatus` block of status.dat, as key → value.
fn service_status(status_dat: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let block = status_dat.split("servicestatus {").nth(1)?;
    let block = block.split('}').next()?;
    Some(
        block
            .lines()
            .filter_map(|l| l.trim().split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn nagios4_runs_the_plugin_and_records_state_output_and_perfdata() {
    needs!(Need::Root, Need::Tool("nagios4"));
    require_tool("nagios4", "nagios4-core");
    let scenario = Scenario::fixture("centos7-tw-recycle");
    let expected = scenario
        .twtune(&["check", "--format", "nagios"])
        .expect_code(2);
    let expected = parse(&expected.stdout());
    let config = NagiosConfig::new(scenario.root());
    let cfg = config.path("nagios.cfg");

    let verify = Command::new("nagios4")
        .arg("-v")
        .arg(&cfg)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert!(
        verify.status.success()
            && report.contains("Total Errors:   0")
            && report.contains("Total Warnings: 0"),
        "nagios4 -v:\n{report}"
    );

    let ns = Netns::new();
    let _nagios = Nagios {
        child: ns
            .command("nagios4")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nagios4"),
    };
    let pipe = config.path("nagios.cmd");
    wait_for("nagios4's command pipe", || {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(&pipe).is_ok_and(|m| m.file_type().is_fifo())
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(
        &pipe,
        format!("[{now}] SCHEDULE_FORCED_SVC_CHECK;fixture;twtune;{now}\n"),
    )
    .unwrap();
    let mut recorded = None;
    wait_for("nagios4 to record the check in status.dat", || {
        recorded = std::fs::read_to_string(config.path("status.dat"))
            .ok()
            .as_deref()
            .and_then(service_status)
            .filter(|s| s.get("has_been_checked").map(String::as_str) == Some("1"));
        recorded.is_some()
    });
    let recorded = recorded.unwrap();
    let log = std::fs::read_to_string(config.path("nagios.log")).unwrap_or_default();
    assert_eq!(recorded["current_state"], "2", "{recorded:?}\n{log}");
    assert_eq!(recorded["plugin_output"], expected.text, "{log}");
    assert_eq!(recorded["performance_data"], expected.perfdata.join(" "));
    // Nagios stores the long output with its newlines escaped.
    assert_eq!(recorded["long_plugin_output"], expected.long.join("\\n"));
    assert!(
        log.contains("SERVICE ALERT: fixture;twtune;CRITICAL;HARD;1;TWTUNE CRITICAL - "),
        "{log}"
    );
    drop(_nagios);
    ns.assert_host_untouched();
}

#[test]
fn check_twtune_through_sudo_accepts_only_its_own_options() {
    use std::os::unix::fs::PermissionsExt;
    // The twtune sudo's PATH finds: logs its arguments.
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("log");
    for (name, script) in [
        (
            "twtune",
            format!(
                "echo \"$*\" >> {}\necho 'TWTUNE OK - fake'\n",
                log.display()
            ),
        ),
        ("evil", format!("echo evil >> {}\n", log.display())),
    ] {
        let path = bin.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let sudo = |args: &[&str]| {
        let mut command = Command::new(check_twtune());
        command
            .args(args)
            .env("SUDO_UID", "1000")
            .env("SUDO_USER", "nagios")
            // Ignored through sudo: only sudo's PATH picks the binary.
            .env("TWTUNE", bin.path().join("evil"))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()));
        Run::of(command)
    };
    for args in [
        &["--root", "/tmp"][..],
        &["--rules", "/tmp"],
        &["--netns", "1"],
        &["--root=/tmp"],
        &["--sample", "--root"],
        &["--sample=5s", "--format", "json"],
        &["--top-destinations", "3 --root /"],
        &["--sample"],
    ] {
        let run = sudo(args).expect_code(3);
        assert!(
            run.stdout().starts_with("TWTUNE UNKNOWN - "),
            "{args:?}: {}",
            run.stdout()
        );
        assert!(!log.exists(), "{args:?} ran twtune");
    }
    let run = sudo(&[
        "--sample",
        "5s",
        "--top-destinations=3",
        "-w",
        "0.5",
        "--critical=0.9",
        "-t",
        "20",
    ])
    .expect_code(0);
    assert_eq!(run.stdout(), "TWTUNE OK - fake\n");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "check --format nagios --sample 5s --top-destinations 3 --warning 0.5 --critical 0.9\n"
    );
}
