//! Issue 18 §4 and §5 against fixture trees (`--root`): an apply that
//! converges where the value is read (boot order and `sysctl --system`),
//! and keys other programs own left to a person, the owner named.
//!
//! Each convergence scenario runs the loop an operator would: a default
//! `apply --yes`, then `check` (no drift, no finding left for the key) and
//! `apply --dry-run` ("nothing to change", exit 0).

use serde_json::Value;

use crate::support::Scenario;
use crate::support::tier::Need;

const TIMESTAMPS: &str = "net.ipv4.tcp_timestamps";

/// A 6.18 host with TCP timestamps off at run time, which
/// `tcp-timestamps-off` flags and `apply` turns on.
fn timestamps_off() -> Scenario {
    Scenario::new().sysctl("tcp_timestamps", "0")
}

fn link_sysctl_conf(scenario: &Scenario) {
    std::fs::create_dir_all(scenario.path("etc/sysctl.d")).unwrap();
    std::os::unix::fs::symlink(
        "../sysctl.conf",
        scenario.path("etc/sysctl.d/99-sysctl.conf"),
    )
    .unwrap();
}

/// After the apply: `check` reports neither the finding nor drift for the
/// key, and a second apply has nothing to do.
fn assert_converged(scenario: &Scenario) {
    let check = scenario
        .twtune(&["--format", "json", "check"])
        .expect_code(0);
    let doc = check.json();
    let left: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["key"] == TIMESTAMPS)
        .collect();
    assert!(left.is_empty(), "check still reports: {left:?}");
    let again = scenario.twtune(&["apply", "--dry-run"]).expect_code(0);
    assert!(
        again.stdout().contains("Nothing to change"),
        "{}",
        again.stdout()
    );
}

#[test]
fn sysctl_conf_winning_through_99_sysctl_conf_is_edited_in_place_and_check_is_clean() {
    let host = timestamps_off().write(
        "etc/sysctl.conf",
        "# site settings\nnet.ipv4.tcp_timestamps = 0\nnet.core.somaxconn = 4096\n",
    );
    link_sysctl_conf(&host);
    // Before: check reports the drift the old apply would leave behind.
    let dry = host
        .twtune(&["--format", "json", "apply", "--dry-run"])
        .expect_code(2);
    let plan = dry.json();
    assert_eq!(plan["persist"]["file"], "/etc/sysctl.conf", "{plan}");
    assert!(
        plan["persist"]["diff"]
            .as_str()
            .unwrap()
            .contains("-net.ipv4.tcp_timestamps = 0\n+net.ipv4.tcp_timestamps = 1\n"),
        "{plan}"
    );
    host.twtune(&["apply", "--yes"]).expect_code(0);
    assert_eq!(
        host.read("etc/sysctl.conf").unwrap(),
        "# site settings\nnet.ipv4.tcp_timestamps = 1\nnet.core.somaxconn = 4096\n",
        "the line edited in place, everything else kept"
    );
    assert_eq!(host.read("etc/sysctl.d/90-twtune.conf"), None);
    assert_eq!(
        host.read("proc/sys/net/ipv4/tcp_timestamps").unwrap(),
        "1\n"
    );
    assert_converged(&host);
}

#[test]
fn sysctl_conf_without_the_link_refuses_then_converges_once_the_line_is_changed() {
    let host = timestamps_off().write("etc/sysctl.conf", "net.ipv4.tcp_timestamps = 0\n");
    // The boot does not read /etc/sysctl.conf here, `sysctl --system` does,
    // last: a drop-in would hold at boot and be undone by the next
    // `sysctl --system`. Refused, dry run or not, saying what to change.
    for args in [&["apply", "--dry-run"][..], &["apply", "--yes"][..]] {
        let run = host.twtune(args).expect_code(1);
        let err = run.stderr();
        assert!(
            err.contains("systemd-sysctl does not read /etc/sysctl.conf at boot here")
                && err
                    .contains("change line 1 of /etc/sysctl.conf to `net.ipv4.tcp_timestamps = 1`"),
            "{err}"
        );
    }
    assert_eq!(host.read("etc/sysctl.d/90-twtune.conf"), None);
    assert_eq!(
        host.read("proc/sys/net/ipv4/tcp_timestamps").unwrap(),
        "0\n"
    );
    assert_eq!(
        host.read("etc/sysctl.conf").unwrap(),
        "net.ipv4.tcp_timestamps = 0\n"
    );
    // check names the order the drift is about once the runtime value moves.
    let drifted = Scenario::new()
        .sysctl("tcp_timestamps", "1")
        .write("etc/sysctl.conf", "net.ipv4.tcp_timestamps = 0\n");
    let check = drifted.twtune(&["--format", "json", "check"]);
    let drift = check.findings("persisted-drift");
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert!(
        drift[0]["message"]
            .as_str()
            .unwrap()
            .contains("`sysctl --system` changes it"),
        "{drift:?}"
    );

    // The operator does what the refusal said; the apply then converges.
    host.put("etc/sysctl.conf", "net.ipv4.tcp_timestamps = 1\n");
    host.twtune(&["apply", "--yes"]).expect_code(0);
    let dropin = host.read("etc/sysctl.d/90-twtune.conf").unwrap_or_default();
    assert!(dropin.contains("net.ipv4.tcp_timestamps = 1"), "{dropin}");
    assert_converged(&host);
}

/// The JSON plan's `manual[]` entry for `rule`.
fn manual_entry(plan: &Value, rule: &str) -> Value {
    plan["manual"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["rule"] == rule)
        .cloned()
        .unwrap_or_else(|| panic!("no manual[] entry for {rule}: {plan}"))
}

fn dry_run_plan(scenario: &Scenario) -> Value {
    let run = scenario.twtune(&["--format", "json", "apply", "--dry-run"]);
    assert!(matches!(run.code(), 0 | 2), "{}", run.stderr());
    run.json()
}

fn assert_not_planned(plan: &Value, key: &str) {
    let changes = plan["changes"].as_array().unwrap();
    assert!(
        changes.iter().all(|c| c["key"] != key),
        "{key} planned: {plan}"
    );
    let after = plan["persist"]["after"].as_str().unwrap_or_default();
    assert!(!after.contains(key), "{key} in the drop-in: {after}");
}

#[test]
fn a_kubernetes_node_with_kube_proxy_leaves_nf_conntrack_max_to_it() {
    let node = Scenario::fixture("k8s-node-conntrack-full");
    // Without kube-proxy the table's limit is twtune's to raise.
    let plan = dry_run_plan(&node);
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "net.netfilter.nf_conntrack_max"),
        "{plan}"
    );
    node.put(
        "proc/2417/cmdline",
        "/usr/local/bin/kube-proxy\0--config=/var/lib/kube-proxy/config.conf\0--hostname-override=node-1\0",
    );
    node.put(
        "var/lib/kube-proxy/config.conf",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: 32768\n  min: 131072\n",
    );
    let plan = dry_run_plan(&node);
    assert_not_planned(&plan, "net.netfilter.nf_conntrack_max");
    let manual = manual_entry(&plan, "conntrack-table-near-full");
    assert_eq!(manual["owner"], "kube-proxy", "{manual}");
    let fix = manual["fix"].as_str().unwrap();
    assert!(
        fix.contains("process 2417")
            && fix.contains("conntrack.maxPerCore")
            && fix.contains("/var/lib/kube-proxy/config.conf"),
        "{fix}"
    );
    // A kube-proxy told to leave the limit alone owns nothing.
    node.put(
        "var/lib/kube-proxy/config.conf",
        "conntrack:\n  maxPerCore: 0\n",
    );
    let plan = dry_run_plan(&node);
    assert!(
        plan["manual"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("owner").is_none()),
        "{plan}"
    );
}

#[test]
fn an_active_tuned_profile_owns_what_its_sysctl_section_sets() {
    let host = timestamps_off()
        .write("etc/tuned/active_profile", "site-latency\n")
        .write(
            "etc/tuned/site-latency/tuned.conf",
            "[main]\ninclude=network-latency\n[sysctl]\nnet.core.somaxconn=4096\n",
        )
        .write(
            "usr/lib/tuned/network-latency/tuned.conf",
            "[main]\nsummary=x\n[sysctl]\nnet.ipv4.tcp_timestamps=0\n",
        );
    let plan = dry_run_plan(&host);
    assert_not_planned(&plan, TIMESTAMPS);
    let manual = manual_entry(&plan, "tcp-timestamps-off");
    assert_eq!(manual["owner"], "tuned profile site-latency", "{manual}");
    let fix = manual["fix"].as_str().unwrap();
    assert!(
        fix.contains("/usr/lib/tuned/network-latency/tuned.conf:4")
            && fix.contains("tuned-adm profile site-latency"),
        "{fix}"
    );
    // Nothing twtune can do: the plan is empty, exit 0, the finding by hand.
    host.twtune(&["apply", "--yes"]).expect_code(0);
    assert_eq!(host.read("etc/sysctl.d/90-twtune.conf"), None);
}

#[test]
fn a_configuration_management_marker_in_the_winning_file_names_the_tool() {
    for (marker, tool) in [
        ("# Ansible managed: do not edit", "Ansible"),
        ("# This file is managed by Salt", "Salt"),
        ("## Managed by Puppet ##", "Puppet"),
        ("# Generated by Chef for web-1", "Chef"),
    ] {
        let host = timestamps_off().write(
            "etc/sysctl.d/60-site.conf",
            &format!("{marker}\nnet.ipv4.tcp_timestamps = 0\n"),
        );
        let plan = dry_run_plan(&host);
        assert_not_planned(&plan, TIMESTAMPS);
        let manual = manual_entry(&plan, "tcp-timestamps-off");
        assert_eq!(manual["owner"], tool, "{manual}");
        assert!(
            manual["fix"]
                .as_str()
                .unwrap()
                .contains("/etc/sysctl.d/60-site.conf:2"),
            "{manual}"
        );
    }
    // The same file without a marker is twtune's to converge: its value
    // loses to the drop-in (60 < 90), so the drop-in is written.
    let host = timestamps_off().write(
        "etc/sysctl.d/60-site.conf",
        "# site\nnet.ipv4.tcp_timestamps = 0\n",
    );
    let plan = dry_run_plan(&host);
    assert_eq!(plan["persist"]["file"], "/etc/sysctl.d/90-twtune.conf");
    assert!(plan["manual"].as_array().unwrap().is_empty(), "{plan}");
}

#[test]
fn a_hardening_baseline_pinning_timestamps_off_is_named_not_fought() {
    needs!(Need::Root);
    let host = timestamps_off().write(
        "etc/sysctl.d/99-hardening.conf",
        "# CIS Benchmark 3.3: TCP timestamps off (clock fingerprinting)\nnet.ipv4.tcp_timestamps = 0\n",
    );
    let plan = dry_run_plan(&host);
    assert_not_planned(&plan, TIMESTAMPS);
    let manual = manual_entry(&plan, "tcp-timestamps-off");
    assert_eq!(manual["owner"], "a hardening baseline (CIS)", "{manual}");
    // Without the comment the same 99- file is a later file that wins: the
    // apply persists there, in place (it is under /etc and read at boot).
    let host = timestamps_off().write(
        "etc/sysctl.d/99-hardening.conf",
        "net.ipv4.tcp_timestamps = 0\n",
    );
    let plan = dry_run_plan(&host);
    assert_eq!(plan["persist"]["file"], "/etc/sysctl.d/99-hardening.conf");
    host.twtune(&["apply", "--yes"]).expect_code(0);
    assert_converged(&host);
}

/// `ip netns exec NS twtune apply` and `nsenter --net`: another network
/// namespace, the host's files. Run in the apply sandbox (a private network
/// and mount namespace, tmpfs over /etc/sysctl.d, /run and /var/lib), whose
/// /etc/sysctl.d stands for the host's; `ip netns add` makes the named
/// namespace inside it.
#[test]
fn ip_netns_exec_apply_changes_runtime_values_only_and_writes_no_drop_in() {
    needs!(Need::Root, Need::Tool("ip"));
    use crate::support::sandbox::Netns;
    crate::support::netns::require_tool("ip", "iproute2");
    let sandbox = Netns::new();
    sandbox.must(
        "ip netns add twtune-i18 && ip netns exec twtune-i18 sysctl -qw net.ipv4.tcp_timestamps=0",
    );
    let sandbox_timestamps = sandbox.sysctl("net.ipv4.tcp_timestamps");
    let in_ns = |args: &str| {
        sandbox.sh(&format!(
            "ip netns exec twtune-i18 {} {args}",
            crate::support::TWTUNE
        ))
    };

    let out = in_ns("apply --yes");
    let err = crate::support::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("runtime values only, nothing persisted")
            && err.contains("named twtune-i18 by `ip netns`")
            && err.contains("--persist-to"),
        "{err}"
    );
    let value = |ns: &str| {
        let out = sandbox.sh(&format!(
            "ip netns exec {ns} cat /proc/sys/net/ipv4/tcp_timestamps"
        ));
        crate::support::stdout(&out).trim().to_string()
    };
    assert_eq!(
        value("twtune-i18"),
        "1",
        "the namespace's own value changed"
    );
    assert_eq!(
        sandbox.file("/etc/sysctl.d/90-twtune.conf"),
        None,
        "no drop-in"
    );
    assert_eq!(sandbox.ls("/etc/sysctl.d"), Vec::<String>::new());
    assert_eq!(
        sandbox.sysctl("net.ipv4.tcp_timestamps"),
        sandbox_timestamps
    );

    // nsenter into the same namespace: the same answer.
    sandbox.must("ip netns exec twtune-i18 sysctl -qw net.ipv4.tcp_timestamps=0");
    let out = sandbox.sh(&format!(
        "nsenter --net=/run/netns/twtune-i18 {} apply --yes",
        crate::support::TWTUNE
    ));
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert_eq!(value("twtune-i18"), "1");
    assert_eq!(sandbox.file("/etc/sysctl.d/90-twtune.conf"), None);

    // --persist-only has nothing to do there unless a file is named; with
    // --persist-to the operator's file is written.
    let out = in_ns("apply --yes --persist-only --set net.ipv4.tcp_timestamps=1");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        crate::support::stderr(&out)
    );
    let out =
        in_ns("apply --yes --persist-to /etc/sysctl.d/80-ns.conf --set net.ipv4.tcp_timestamps=1");
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert!(
        sandbox
            .file("/etc/sysctl.d/80-ns.conf")
            .is_some_and(|t| t.contains("net.ipv4.tcp_timestamps = 1")),
        "{:?}",
        sandbox.ls("/etc/sysctl.d")
    );
    sandbox.must("ip netns del twtune-i18");
    sandbox.assert_host_untouched();
}

/// Every shipped fixture host: a default `apply --yes` converges — `check`
/// then has nothing for apply to change, no drift, and a second apply is
/// empty — or is refused saying which line to change, and converges once
/// that is done.
#[test]
fn a_default_apply_converges_on_every_fixture_host() {
    for host in [
        "debian12-defaults",
        "ubuntu1804-defaults",
        "jammy-stale-tw-recycle",
        "k8s-node-conntrack-full",
        "centos7-tw-recycle",
        // Issue 18's own 4.9 tree: recycle on, timestamps off (§1: recycle
        // must be planned off before timestamps on).
        "debian9-recycle-timestamps-off",
    ] {
        let fx = Scenario::fixture(host);
        let before = fx.twtune(&["--format", "json", "check"]).json();
        let recommended = |doc: &Value| -> Vec<String> {
            doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| !f["recommended"].is_null() || f["rule"] == "persisted-drift")
                .map(|f| format!("{} {}", f["rule"], f["key"]))
                .collect()
        };
        let first = fx.twtune(&["apply", "--yes"]);
        if host == "centos7-tw-recycle" {
            // /etc/sysctl.conf sets recycle and no sysctl.d entry links it.
            assert_eq!(first.code(), 1, "{host}: {}", first.stderr());
            assert!(
                first
                    .stderr()
                    .contains("change line 4 of /etc/sysctl.conf to `net.ipv4.tcp_tw_recycle = 0`"),
                "{}",
                first.stderr()
            );
            let conf = fx.read("etc/sysctl.conf").unwrap();
            fx.put(
                "etc/sysctl.conf",
                &conf.replace("net.ipv4.tcp_tw_recycle = 1", "net.ipv4.tcp_tw_recycle = 0"),
            );
            fx.twtune(&["apply", "--yes"]).expect_code(0);
        } else {
            assert_eq!(first.code(), 0, "{host}: {}", first.stderr());
        }
        let after = fx.twtune(&["--format", "json", "check"]).json();
        assert!(
            recommended(&after).is_empty(),
            "{host}: before {:?}, left {:?}",
            recommended(&before),
            recommended(&after)
        );
        let again = fx.twtune(&["apply", "--dry-run"]).expect_code(0);
        assert!(again.stdout().contains("Nothing to change"), "{host}");
    }
}
