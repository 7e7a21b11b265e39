//! The contract as data: `twtune schema DOCUMENT` prints the JSON Schema of
//! each `--format json` document, the same schemas are committed under
//! schemas/, and real output of twtune — every fixture host, plans, rollbacks
//! with and without a record — is valid against them.
//!
//! After changing a type that reaches a JSON document run
//! `TWTUNE_UPDATE_SCHEMAS=1 cargo test --test it json_schema` and commit the
//! result.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::tier::Need;
use crate::support::{Scenario, fixtures, twtune};

const DOCUMENTS: [&str; 5] = ["check", "facts", "plan", "rollback", "check-all-netns"];

fn schema_path(document: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{document}.schema.json"))
}

/// The committed schema of `document`.
fn committed(document: &str) -> Value {
    let path = schema_path(document);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every way `instance` breaks the committed schema of `document`.
fn violations(document: &str, instance: &Value) -> Vec<String> {
    let schema = committed(document);
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("schemas/{document}.schema.json: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

pub fn assert_valid(document: &str, instance: &Value, what: &str) {
    let errors = violations(document, instance);
    assert!(
        errors.is_empty(),
        "{what} does not match schemas/{document}.schema.json:\n{}\n\n{instance:#}",
        errors.join("\n")
    );
}

/// The fixture hosts: every folder in tests/fixtures.
fn fixture_hosts() -> Vec<String> {
    let mut hosts: Vec<String> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    hosts.sort();
    hosts
}

#[test]
fn the_committed_schemas_are_what_twtune_schema_prints() {
    let update = std::env::var_os("TWTUNE_UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for document in DOCUMENTS {
        let run = crate::support::Run::of({
            let mut command = twtune();
            command.args(["schema", document]);
            command
        })
        .expect_code(0);
        let printed = run.stdout();
        let path = schema_path(document);
        if update {
            // Whole or not at all: the other tests here read these files.
            let dir = path.parent().unwrap();
            std::fs::create_dir_all(dir).unwrap();
            let mut temporary = tempfile::NamedTempFile::new_in(dir).unwrap();
            std::io::Write::write_all(&mut temporary, printed.as_bytes()).unwrap();
            std::fs::set_permissions(
                temporary.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
            .unwrap();
            temporary.persist(&path).unwrap();
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(printed.as_str()) {
            stale.push(format!("schemas/{document}.schema.json"));
        }
    }
    assert!(
        stale.is_empty(),
        "stale: {}; run `TWTUNE_UPDATE_SCHEMAS=1 cargo test --test it json_schema` and commit the result",
        stale.join(", ")
    );
}

#[test]
fn every_committed_schema_is_a_valid_draft_2020_12_schema() {
    for document in DOCUMENTS {
        let schema = committed(document);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{document}"
        );
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("schemas/{document}.schema.json is not a valid schema: {e}");
        }
    }
}

#[test]
fn the_schema_subcommand_reads_nothing_and_knows_only_its_documents() {
    // No --root tree at all: a schema describes the program, not a host.
    let mut command = twtune();
    command.args(["--root", "/nonexistent/twtune-schema", "schema", "plan"]);
    let run = crate::support::Run::of(command).expect_code(0);
    assert_eq!(run.json(), committed("plan"));

    let mut command = twtune();
    command.args(["schema", "journal"]);
    let run = crate::support::Run::of(command).expect_code(1);
    assert!(run.stderr().contains("check"), "{}", run.stderr());
}

#[test]
fn check_and_facts_of_every_fixture_host_match_their_schemas() {
    let hosts = fixture_hosts();
    assert!(hosts.len() >= 5, "fixture hosts: {hosts:?}");
    for host in hosts {
        let fx = Scenario::fixture(&host);
        let check = fx.twtune(&["--format", "json", "check"]);
        assert!(
            matches!(check.code(), 0 | 2),
            "{host}: check exited {}: {}",
            check.code(),
            check.stderr()
        );
        assert_valid("check", &check.json(), &format!("{host}: check"));

        let facts = fx.twtune(&["--format", "json", "facts"]).expect_code(0);
        assert_valid("facts", &facts.json(), &format!("{host}: facts"));
        // A facts document is not a check document: the schemas tell them apart.
        assert!(
            !violations("check", &facts.json()).is_empty(),
            "{host}: a facts document passed as a check"
        );
    }
}

#[test]
fn plans_match_the_plan_schema() {
    let mut plans = Vec::new();
    for host in [
        "centos7-tw-recycle",
        "jammy-stale-tw-recycle",
        "k8s-node-conntrack-full",
        "debian12-defaults",
    ] {
        let fx = Scenario::fixture(host);
        for extra in [&[][..], &["--no-persist"][..]] {
            let run = fx.twtune(&[&["--format", "json", "apply", "--dry-run"][..], extra].concat());
            // centos7-tw-recycle's /etc/sysctl.conf sets recycle, and no
            // sysctl.d entry links it: `sysctl --system` would undo a
            // drop-in, so only the runtime-only plan is made (issue 18 §5).
            if host == "centos7-tw-recycle" && extra.is_empty() {
                assert_eq!(run.code(), 1, "{host}: {}", run.stdout());
                assert!(run.stderr().contains("sysctl --system"), "{}", run.stderr());
                continue;
            }
            assert!(matches!(run.code(), 0 | 2), "{host}: {}", run.stderr());
            plans.push((format!("{host} apply --dry-run {extra:?}"), run.json()));
        }
    }
    // A `--set` (rule null) whose key a later file sets at boot: persisted
    // in that file instead; and a key Ansible manages (manual[] with owner).
    let fx = Scenario::new();
    fx.put("etc/sysctl.conf", "net.ipv4.tcp_tw_reuse = 0\n");
    std::fs::create_dir_all(fx.path("etc/sysctl.d")).unwrap();
    std::os::unix::fs::symlink("../sysctl.conf", fx.path("etc/sysctl.d/99-sysctl.conf")).unwrap();
    fx.put(
        "etc/sysctl.d/60-site.conf",
        "# Ansible managed\nnet.ipv4.tcp_timestamps = 0\n",
    );
    fx.put("proc/sys/net/ipv4/tcp_timestamps", "0\n");
    let run = fx
        .twtune(&[
            "--format",
            "json",
            "apply",
            "--dry-run",
            "--set",
            "net.ipv4.tcp_tw_reuse=1",
        ])
        .expect_code(2);
    let moved = run.json();
    assert_eq!(moved["changes"][0]["rule"], Value::Null);
    assert_eq!(moved["persist"]["file"], "/etc/sysctl.conf", "{moved:#}");
    assert!(
        moved["manual"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["owner"] == "Ansible")),
        "{moved:#}"
    );
    plans.push(("--set persisted where it wins, an owned key".into(), moved));

    assert!(
        plans.iter().any(|(_, p)| p["empty"] == false),
        "some plan has changes"
    );
    assert!(
        plans
            .iter()
            .any(|(_, p)| p["manual"].as_array().is_some_and(|m| !m.is_empty())),
        "some plan has a fix by hand"
    );
    for (what, plan) in &plans {
        assert_valid("plan", plan, what);
    }
}

/// A record of an apply in `var/lib/twtune/FILE` (the journal of an
/// interrupted one, or the last apply that finished).
fn plant_record(fx: &Scenario, file: &str) {
    let dir = fx.path("var/lib/twtune");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(
        dir.join(file),
        r#"{"version":1,"operation":"apply","pid":4242,"started":0,
            "runtime":[{"key":"net.ipv4.tcp_fin_timeout","old":"60","new":"30"}],
            "persist":{"file":"/etc/sysctl.d/90-twtune.conf","old":null,"new":"net.ipv4.tcp_fin_timeout = 30\n"}}"#,
    )
    .unwrap();
}

#[test]
fn rollbacks_with_and_without_a_record_match_the_rollback_schema() {
    let rollback = |fx: &Scenario| fx.twtune(&["--format", "json", "rollback", "--dry-run"]);

    // Nothing recorded.
    let fx = Scenario::new();
    let nothing = rollback(&fx).expect_code(0).json();
    assert_eq!(nothing["rollback_of"], Value::Null, "{nothing:#}");
    assert_eq!(nothing["changed"], false, "{nothing:#}");
    assert_valid("rollback", &nothing, "rollback with nothing recorded");

    // An apply that was interrupted: its journal.
    let fx = Scenario::new().sysctl("tcp_fin_timeout", "30");
    fx.put(
        "etc/sysctl.d/90-twtune.conf",
        "net.ipv4.tcp_fin_timeout = 30\n",
    );
    plant_record(&fx, "journal.json");
    let interrupted = rollback(&fx).expect_code(2).json();
    assert_eq!(interrupted["rollback_of"], "interrupted", "{interrupted:#}");
    assert_eq!(interrupted["changed"], true, "{interrupted:#}");
    assert_valid("rollback", &interrupted, "rollback of an interrupted apply");

    // The last apply that finished: its record.
    let fx = Scenario::new().sysctl("tcp_fin_timeout", "30");
    fx.put(
        "etc/sysctl.d/90-twtune.conf",
        "net.ipv4.tcp_fin_timeout = 30\n",
    );
    plant_record(&fx, "last-apply.json");
    let last = rollback(&fx).json();
    assert_eq!(last["rollback_of"], "last-apply", "{last:#}");
    assert!(
        last["changes"].as_array().is_some_and(|c| !c.is_empty()) && last["persist"].is_object(),
        "{last:#}"
    );
    assert_valid("rollback", &last, "rollback of the last apply");
}

#[test]
fn a_document_that_breaks_its_schema_is_rejected() {
    let fx = Scenario::fixture("centos7-tw-recycle");
    let check = fx
        .twtune(&["--format", "json", "check"])
        .expect_code(2)
        .json();
    assert_valid("check", &check, "the unbroken document");
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut document = check.clone();
        change(&mut document);
        document
    };
    for (what, document) in [
        (
            "an unknown status word",
            broken(&|d| d["status"] = json!("fine")),
        ),
        (
            "an unknown severity",
            broken(&|d| d["findings"][0]["severity"] = json!("fatal")),
        ),
        (
            "findings missing",
            broken(&|d| {
                d.as_object_mut().unwrap().remove("findings");
            }),
        ),
        (
            "another schema version",
            broken(&|d| d["schema_version"] = json!(99)),
        ),
        (
            "a count that is not a number",
            broken(&|d| d["summary"]["critical"] = json!("one")),
        ),
    ] {
        assert!(
            !violations("check", &document).is_empty(),
            "{what}: accepted by schemas/check.schema.json"
        );
    }
    // Fields are only ever added within a schema version: a document with a
    // field this version's schema does not list (what a later build of the
    // same version may print) still matches it.
    let mut added = check.clone();
    added["kernel"]["flavour"] = json!("vanilla");
    added["a_later_field"] = json!({"any": 1});
    assert_valid("check", &added, "a document with added fields");
    for document in ["check", "facts", "plan", "rollback", "check-all-netns"] {
        let id = committed(document)["$id"].as_str().unwrap().to_string();
        assert!(
            id.starts_with(&format!("urn:twtune:schema:{document}:")),
            "{id}"
        );
    }
    // A plan's comment is one line.
    let plan = Scenario::new()
        .twtune(&[
            "--format",
            "json",
            "apply",
            "--dry-run",
            "--set",
            "net.ipv4.tcp_tw_reuse=1",
        ])
        .expect_code(2)
        .json();
    assert_valid("plan", &plan, "the unbroken plan");
    let mut two_lines = plan.clone();
    two_lines["comment"] = json!("would change net.ipv4.tcp_tw_reuse\nand more");
    assert!(
        !violations("plan", &two_lines).is_empty(),
        "a comment of two lines: accepted by schemas/plan.schema.json"
    );
    // Neither shape of rollback takes a made-up `rollback_of`, nor an empty
    // rollback that claims to change something.
    let nothing = Scenario::new()
        .twtune(&["--format", "json", "rollback", "--dry-run"])
        .expect_code(0)
        .json();
    assert_valid("rollback", &nothing, "the unbroken empty rollback");
    let mut made_up = nothing.clone();
    made_up["rollback_of"] = json!("sideways");
    assert!(!violations("rollback", &made_up).is_empty());
    let mut claims = nothing.clone();
    claims["changed"] = json!(true);
    assert!(!violations("rollback", &claims).is_empty());
}

#[test]
fn a_destination_with_no_usable_port_has_a_null_ratio_its_schema_allows() {
    // Every port of the range reserved while connections hold two of them:
    // taken / usable is infinite, which JSON can only write as null.
    let fx = Scenario::fixture("debian12-defaults")
        .sysctl("ip_local_port_range", "40000\t40001")
        .sysctl("ip_local_reserved_ports", "40000-40001");
    let check = fx.twtune(&["--format", "json", "check"]).json();
    let sockets = &check["facts"]["sockets"];
    assert_eq!(sockets["usable_ports"], 0, "{sockets:#}");
    assert_eq!(sockets["max_exhaustion_ratio"], Value::Null, "{sockets:#}");
    assert_eq!(
        sockets["destinations"][0]["exhaustion_ratio"],
        Value::Null,
        "{sockets:#}"
    );
    assert_valid("check", &check, "check with no usable port");
}

/// The exact apply and rollback output `apply_fixture` pins — real applies
/// and rollbacks (`--yes`) on a fixture tree included — matches the schemas.
#[test]
fn the_pinned_apply_and_rollback_outputs_match_their_schemas() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "tests/it/snapshots/it__apply_fixture__the_plan_and_rollback_json_keep_their_exact_shape.snap",
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // After the snapshot's header: `$ twtune ARGS` lines, each followed by its output.
    let body = text.splitn(3, "---\n").nth(2).expect("snapshot header");
    let mut seen = Vec::new();
    for run in body.split("$ twtune ").filter(|r| !r.trim().is_empty()) {
        let (command, output) = run.split_once('\n').expect("a command line");
        let document = match command.split_whitespace().next() {
            Some("apply") => "plan",
            Some("rollback") => "rollback",
            other => panic!("unexpected command {other:?}"),
        };
        let json: Value = serde_json::from_str(output.trim())
            .unwrap_or_else(|e| panic!("{command}: {e}\n{output}"));
        assert_valid(document, &json, command);
        seen.push(command.to_string());
    }
    assert!(
        seen.iter().any(|c| c.starts_with("apply --yes"))
            && seen.iter().any(|c| c.starts_with("rollback --yes")),
        "{seen:?}"
    );
}

/// The live path on the real kernel, in a private network namespace: sockets
/// from netlink sock_diag, CLOSE_WAIT traced to this process, the NAT tools,
/// and the rates of `--sample`.
#[test]
fn a_live_check_with_sockets_and_rates_matches_the_check_schema() {
    needs!(Need::Root);
    use crate::support::netns::{connect_pair, hold_close_wait, in_private_netns, twtune_json};
    let (plain, sampled, facts) = in_private_netns(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _held = hold_close_wait(&listener, 3);
        let _open = connect_pair(&listener).unwrap();
        (
            twtune_json(&["check", "--format", "json"]),
            twtune_json(&["check", "--format", "json", "--sample", "0.2"]),
            twtune_json(&["facts", "--format", "json"]),
        )
    });
    for ((document, code), what) in [(&plain, "live check"), (&sampled, "live check --sample")] {
        assert!(matches!(code, 0 | 2), "{what}: exit {code}");
        assert_eq!(document["facts"]["sockets"]["source"], "netlink", "{what}");
        assert!(
            document["facts"]["sockets"]["close_wait_processes"]
                .as_array()
                .is_some_and(|p| !p.is_empty()),
            "{what}: {document:#}"
        );
        assert_valid("check", document, what);
    }
    assert!(sampled.0["facts"]["rates"].is_object(), "{:#}", sampled.0);
    assert_eq!(facts.1, 0);
    assert_valid("facts", &facts.0, "live facts");
}
