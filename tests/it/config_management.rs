//! Configuration management drives twtune: the Ansible collection, the Puppet
//! module and its Facter fact, and the Salt states under `integrations/`, each
//! run by its real engine (ansible-core and salt from PyPI in target/ci-venv,
//! Debian's puppet and facter) inside the apply sandbox: a private network and
//! mount namespace with tmpfs over /etc/sysctl.d, /var/lib and /run. The
//! engines' own state (HOME, Puppet's vardir and ssldir, Salt's cache) lives
//! in a temporary folder of the test.
//!
//! Every scenario starts from a namespace with TCP timestamps off, which the
//! rule `tcp-timestamps-off` flags and `apply` fixes: one key, one drop-in.
//!
//! After an apply twtune's verdict in the sandbox is "compliant": the one
//! host-wide rule a private namespace cannot judge (`tcp-orphans-near-limit`,
//! whose limit only the initial namespace shows) does not apply there.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::sandbox::Netns;
use crate::support::tier::Need;
use crate::support::{TWTUNE, stderr, stdout};

const DROPIN: &str = "/etc/sysctl.d/90-twtune.conf";
const TIMESTAMPS: &str = "net.ipv4.tcp_timestamps";
const LAST_APPLY: &str = "/var/lib/twtune/last-apply.json";
const JOURNAL: &str = "/var/lib/twtune/journal.json";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn integrations() -> PathBuf {
    repo().join("integrations")
}

/// Fails with what to install when an engine is missing (the tests name it
/// in their `needs!`, which skips them without it outside CI).
fn require_engine(program: &'static str, install: &str) {
    crate::support::tier::require(
        Need::Tool(program),
        &format!("{install}; .ci/run installs it"),
    );
}

const PIP_ENGINES: &str = "target/ci-venv: pip install ansible-core salt";

/// All its output, for assertion messages.
fn both(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// A namespace with TCP timestamps off and a folder for the engine's state.
struct Sandbox {
    ns: Netns,
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let ns = Netns::new();
        ns.must("echo 0 > /proc/sys/net/ipv4/tcp_timestamps");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Sandbox { ns, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// PATH in the sandbox: the twtune under test first.
    fn path_env(&self) -> String {
        let bin = Path::new(TWTUNE).parent().unwrap().display().to_string();
        format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
    }

    /// Runs an engine inside the namespace, with HOME in the test's folder.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.ns
            .command(program)
            .args(args)
            .env("PATH", self.path_env())
            .env("HOME", self.path("home"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    fn timestamps(&self) -> String {
        self.ns.sysctl(TIMESTAMPS)
    }

    /// Nothing was changed: timestamps still off, no drop-in, no apply record.
    fn assert_unchanged(&self, after: &str) {
        assert_eq!(self.timestamps(), "0", "{after} changed the sysctl");
        assert_eq!(self.ns.file(DROPIN), None, "{after} wrote the drop-in");
        for record in [LAST_APPLY, JOURNAL] {
            assert_eq!(self.ns.file(record), None, "{after} left {record}");
        }
    }

    /// Applied: timestamps on, and persisted in the drop-in.
    fn assert_applied(&self, after: &str) {
        assert_eq!(self.timestamps(), "1", "{after} did not apply");
        let dropin = self.ns.file(DROPIN).unwrap_or_default();
        assert!(
            dropin.contains("net.ipv4.tcp_timestamps = 1\n"),
            "{after}: drop-in {dropin:?}"
        );
    }
}

// --- Ansible -------------------------------------------------------------

/// A play of one task, its registered result saved (even under --check) to
/// `result.json` in the sandbox folder.
fn ansible_play(sandbox: &Sandbox, name: &str, task: &str) -> String {
    let result = sandbox.path("result.json").display().to_string();
    sandbox.write(
        name,
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n{task}\n      register: outcome\n\
             \x20   - name: keep the result for the test\n\
             \x20     ansible.builtin.copy:\n\
             \x20       content: \"{{{{ outcome | to_json }}}}\"\n\
             \x20       dest: {result}\n\
             \x20     check_mode: false\n\
             \x20     changed_when: false\n\
             \x20     diff: false\n"
        ),
    )
}

fn ansible_playbook(sandbox: &Sandbox, playbook: &str, extra: &[&str]) -> Output {
    let collections = integrations().join("ansible").display().to_string();
    let mut args = vec![
        "-c",
        "local",
        "-i",
        "localhost,",
        "-e",
        "ansible_python_interpreter={{ ansible_playbook_python }}",
        playbook,
    ];
    args.extend_from_slice(extra);
    sandbox
        .ns
        .command("env")
        .arg(format!("PATH={}", sandbox.path_env()))
        .arg(format!("HOME={}", sandbox.path("home").display()))
        .arg(format!("ANSIBLE_COLLECTIONS_PATH={collections}"))
        // The local connection expands the remote ~ as the user's home
        // (/root), not $HOME: its temporary files stay in the test's folder.
        .arg(format!(
            "ANSIBLE_REMOTE_TMP={}",
            sandbox.path("home/remote-tmp").display()
        ))
        .arg(format!(
            "ANSIBLE_LOCAL_TEMP={}",
            sandbox.path("home/local-tmp").display()
        ))
        .args([
            "ANSIBLE_NOCOLOR=1",
            "ANSIBLE_FORCE_COLOR=0",
            "ansible-playbook",
        ])
        .args(&args)
        .output()
        .expect("ansible-playbook runs")
}

/// The PLAY RECAP counts of localhost: (changed, failed).
fn recap(out: &Output) -> (u32, u32) {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.starts_with("localhost") && l.contains("changed="))
        .unwrap_or_else(|| panic!("no PLAY RECAP: {}", both(out)));
    let count = |key: &str| -> u32 {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    (count("changed="), count("failed="))
}

fn saved_result(sandbox: &Sandbox) -> Value {
    let text = std::fs::read_to_string(sandbox.path("result.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

const TUNED: &str = "    - twtune.host.twtune:";
const FACTS: &str = "    - twtune.host.twtune_facts:";
const ROLLED_BACK: &str = "    - twtune.host.twtune:\n        state: rolled_back";
const NOT_TWTUNE: &str = "    - twtune.host.twtune:\n        binary: /bin/echo";
const BAD_SET: &str = "    - twtune.host.twtune:\n        set:\n          net.ipv4.tcp_tw_reuse: 7";

#[test]
fn ansible_check_diff_apply_idempotent_facts_rollback_and_errors() {
    needs!(Need::Root, Need::Tool("ansible-playbook"));
    require_engine("ansible-playbook", PIP_ENGINES);
    let sandbox = Sandbox::new();
    let tuned = ansible_play(&sandbox, "tuned.yml", TUNED);
    let facts = ansible_play(&sandbox, "facts.yml", FACTS);
    let rolled_back = ansible_play(&sandbox, "rolled_back.yml", ROLLED_BACK);
    let bad_set = ansible_play(&sandbox, "bad_set.yml", BAD_SET);

    // twtune_facts in check mode: the finding, and nothing changed.
    let out = ansible_playbook(&sandbox, &facts, &["--check"]);
    assert!(out.status.success(), "{}", both(&out));
    let fact = &saved_result(&sandbox)["ansible_facts"]["twtune"];
    assert_eq!(fact["status"], "changes_pending", "{fact}");
    assert_eq!(fact["summary"]["warning"], 1, "{fact}");
    assert_eq!(fact["findings"][0]["rule"], "tcp-timestamps-off", "{fact}");
    assert_eq!(saved_result(&sandbox)["changed"], false);

    // --check --diff: changed, both diffs shown, nothing changed.
    let out = ansible_playbook(&sandbox, &tuned, &["--check", "--diff"]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(recap(&out), (1, 0), "{}", both(&out));
    let text = stdout(&out);
    for line in [
        "--- before: runtime sysctls (now)",
        "+++ after: runtime sysctls (after apply)",
        "-net.ipv4.tcp_timestamps = 0",
        "+net.ipv4.tcp_timestamps = 1",
        "+++ /etc/sysctl.d/90-twtune.conf (after apply)",
        "+# Written by `twtune apply`.",
    ] {
        assert!(text.contains(line), "no {line:?} in the diff: {text}");
    }
    let result = saved_result(&sandbox);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["plan"]["dry_run"], true, "{result}");
    assert!(
        result.get("rc").is_none(),
        "twtune's 2 must not be returned as rc: {result}"
    );
    sandbox.assert_unchanged("ansible-playbook --check");

    // A real run applies.
    let out = ansible_playbook(&sandbox, &tuned, &[]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(recap(&out), (1, 0), "{}", both(&out));
    sandbox.assert_applied("ansible-playbook");
    let result = saved_result(&sandbox);
    assert_eq!(result["plan"]["applied"], true, "{result}");
    assert_eq!(result["plan"]["changes"][0]["key"], TIMESTAMPS, "{result}");
    assert_eq!(result["findings"], serde_json::json!([]), "{result}");

    // A second run has nothing to do.
    let out = ansible_playbook(&sandbox, &tuned, &["--diff"]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(recap(&out), (0, 0), "{}", both(&out));
    assert_eq!(saved_result(&sandbox)["comment"], "nothing to change");

    // twtune_facts afterwards: no finding left.
    let out = ansible_playbook(&sandbox, &facts, &[]);
    assert!(out.status.success(), "{}", both(&out));
    let fact = &saved_result(&sandbox)["ansible_facts"]["twtune"];
    assert_eq!(fact["findings"], serde_json::json!([]), "{fact}");
    assert_eq!(fact["summary"]["warning"], 0, "{fact}");
    assert_eq!(fact["summary"]["critical"], 0, "{fact}");
    assert_eq!(fact["status"], "compliant", "{fact}");

    // state: rolled_back, checked first, then for real.
    let out = ansible_playbook(&sandbox, &rolled_back, &["--check", "--diff"]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(recap(&out), (1, 0), "{}", both(&out));
    assert!(
        stdout(&out).contains("+net.ipv4.tcp_timestamps = 0"),
        "{}",
        stdout(&out)
    );
    sandbox.assert_applied("ansible-playbook --check (rolled_back)");
    let out = ansible_playbook(&sandbox, &rolled_back, &[]);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(recap(&out), (1, 0), "{}", both(&out));
    sandbox.assert_unchanged("state: rolled_back");
    let out = ansible_playbook(&sandbox, &rolled_back, &[]);
    assert_eq!(
        recap(&out),
        (0, 0),
        "nothing left to roll back: {}",
        both(&out)
    );

    // A bad `set` fails the task with twtune's message, in check mode too.
    for extra in [&["--check"][..], &[]] {
        let out = ansible_playbook(&sandbox, &bad_set, extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", both(&out));
        assert_eq!(recap(&out).1, 1, "{}", both(&out));
        assert!(
            stdout(&out).contains("must be one of 0, 1 or 2"),
            "{extra:?}: twtune's message: {}",
            both(&out)
        );
        sandbox.assert_unchanged("a bad set");
    }

    // Output that is not twtune's JSON fails the task and says so.
    let not_twtune = ansible_play(&sandbox, "not_twtune.yml", NOT_TWTUNE);
    let out = ansible_playbook(&sandbox, &not_twtune, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(
        stdout(&out).contains("twtune printed no JSON document"),
        "{}",
        both(&out)
    );
    sandbox.assert_unchanged("a binary that is not twtune");
    sandbox.ns.assert_host_untouched();
}

/// `ansible-test sanity` (validate-modules, pep8, yamllint, compile) on a
/// copy of the collection. ansible-test bootstraps pip into each test's
/// virtual environment with a get-pip.py it downloads from outside the
/// package registries; integrations/tests/get-pip-local.py stands in for it
/// in ansible-test's cache. The environments persist in
/// target/ansible-test-home, so only the first run installs from PyPI.
#[test]
fn ansible_collection_passes_ansible_test_sanity() {
    needs!(
        Need::Root,
        Need::Tool("ansible-test"),
        Need::Tool("python3")
    );
    require_engine("ansible-test", PIP_ENGINES);
    require_engine("python3", PIP_ENGINES);
    let home = repo().join("target/ansible-test-home");
    let pip = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, types\n\
             from ansible_test._internal.python_requirements import get_venv_packages\n\
             print(get_venv_packages(types.SimpleNamespace(version='%d.%d' % sys.version_info[:2]))['pip'])",
        ])
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "which pip ansible-test bootstraps: {}",
        both(&pip)
    );
    let pip_version = stdout(&pip).trim().replace('.', "_");
    let cache = home.join(".ansible/test/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::copy(
        integrations().join("tests/get-pip-local.py"),
        cache.join(format!("get_pip_{pip_version}.py")),
    )
    .unwrap();

    let work = tempfile::tempdir().unwrap();
    let collection = work.path().join("ansible_collections/twtune/host");
    std::fs::create_dir_all(work.path().join("ansible_collections/twtune")).unwrap();
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(integrations().join("ansible/ansible_collections/twtune/host"))
        .arg(&collection)
        .output()
        .unwrap();
    assert!(copy.status.success(), "{}", both(&copy));

    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let python = stdout(&python).trim().to_string();
    let out = std::process::Command::new("ansible-test")
        .args(["sanity", "--color", "no", "--python", &python])
        .args(["--test", "validate-modules", "--test", "pep8"])
        .args(["--test", "yamllint", "--test", "compile"])
        .current_dir(&collection)
        .env("HOME", &home)
        .output()
        .unwrap();
    let text = both(&out);
    assert!(out.status.success(), "ansible-test sanity: {text}");
    for test in ["validate-modules", "pep8", "yamllint", "compile"] {
        assert!(
            text.contains(&format!("Running sanity test \"{test}\"")),
            "{test} did not run: {text}"
        );
    }
}

#[test]
fn ansible_doc_renders_both_modules() {
    needs!(Need::Root, Need::Tool("ansible-doc"));
    require_engine("ansible-doc", PIP_ENGINES);
    let home = tempfile::tempdir().unwrap();
    for (module, expect) in [
        ("twtune.host.twtune", "rolled_back"),
        ("twtune.host.twtune_facts", "ansible_facts"),
    ] {
        let out = std::process::Command::new("ansible-doc")
            .arg(module)
            .env("ANSIBLE_COLLECTIONS_PATH", integrations().join("ansible"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{module}: {}", both(&out));
        let text = stdout(&out);
        for part in [module, "OPTIONS", "EXAMPLES", "RETURN VALUES", expect] {
            assert!(text.contains(part), "{module}: no {part:?} in {text}");
        }
    }
}

// --- Puppet and Facter ---------------------------------------------------

fn facter_twtune(sandbox: &Sandbox, fact: &str) -> Output {
    let facts_d = integrations().join("puppet/facts.d").display().to_string();
    sandbox.run("facter", &["--external-dir", &facts_d, fact])
}

/// `puppet apply --detailed-exitcodes` with every directory of its own in
/// the sandbox folder and the module as `twtune` on its modulepath.
fn puppet_apply(sandbox: &Sandbox, manifest: &str, extra: &[&str]) -> Output {
    let modules = sandbox.path("modules");
    if !modules.exists() {
        std::fs::create_dir(&modules).unwrap();
        std::os::unix::fs::symlink(integrations().join("puppet"), modules.join("twtune")).unwrap();
    }
    let dir = |name: &str| sandbox.path(name).display().to_string();
    let mut args = vec![
        "apply".to_string(),
        "--detailed-exitcodes".into(),
        "--color=false".into(),
        format!("--modulepath={}", modules.display()),
    ];
    for (flag, name) in [
        ("confdir", "puppet-conf"),
        ("codedir", "puppet-code"),
        ("vardir", "puppet-var"),
        ("ssldir", "puppet-ssl"),
        ("logdir", "puppet-log"),
        ("rundir", "puppet-run"),
        ("publicdir", "puppet-public"),
    ] {
        args.push(format!("--{flag}={}", dir(name)));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("-e".into());
    args.push(manifest.to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sandbox.run("puppet", &args)
}

#[test]
fn puppet_fact_and_class_converge_and_stop_on_errors() {
    needs!(Need::Root, Need::Tool("facter"), Need::Tool("puppet"));
    require_engine("puppet", "apt-get install puppet");
    require_engine("facter", "apt-get install facter");
    let sandbox = Sandbox::new();
    let manifest = integrations().join("puppet/manifests/init.pp");
    let valid = sandbox.run(
        "puppet",
        &["parser", "validate", manifest.to_str().unwrap()],
    );
    assert!(valid.status.success(), "{}", both(&valid));

    let status = facter_twtune(&sandbox, "twtune.status");
    assert_eq!(
        stdout(&status).trim(),
        "changes_pending",
        "{}",
        both(&status)
    );
    let rule = facter_twtune(&sandbox, "twtune.findings.0.rule");
    assert_eq!(
        stdout(&rule).trim(),
        "tcp-timestamps-off",
        "{}",
        both(&rule)
    );

    let class = format!("class {{ 'twtune': binary => '{TWTUNE}' }}");
    let noop = puppet_apply(&sandbox, &class, &["--noop"]);
    assert_eq!(noop.status.code(), Some(0), "{}", both(&noop));
    assert!(
        stdout(&noop)
            .contains("Exec[twtune apply]/returns: current_value 'notrun', should be ['0'] (noop)"),
        "the pending apply as a noop event: {}",
        both(&noop)
    );
    assert!(!stdout(&noop).contains("stop on error"), "{}", both(&noop));
    sandbox.assert_unchanged("puppet apply --noop");

    let real = puppet_apply(&sandbox, &class, &[]);
    assert_eq!(real.status.code(), Some(2), "changes made: {}", both(&real));
    assert!(
        stdout(&real).contains("Exec[twtune apply]/returns: executed successfully"),
        "{}",
        both(&real)
    );
    sandbox.assert_applied("puppet apply");

    let again = puppet_apply(&sandbox, &class, &[]);
    assert_eq!(again.status.code(), Some(0), "converged: {}", both(&again));
    assert!(!stdout(&again).contains("Exec[twtune"), "{}", both(&again));

    let status = facter_twtune(&sandbox, "twtune.status");
    assert_eq!(stdout(&status).trim(), "compliant", "{}", both(&status));
    let warnings = facter_twtune(&sandbox, "twtune.summary.warning");
    assert_eq!(stdout(&warnings).trim(), "0", "{}", both(&warnings));

    // A twtune error is a failure (4), never a pending change, and the apply
    // is skipped. The host stays as the last good run left it.
    let bad = format!(
        "class {{ 'twtune': binary => '{TWTUNE}', settings => {{ 'net.ipv4.tcp_tw_reuse' => '7' }} }}"
    );
    let failed = puppet_apply(&sandbox, &bad, &[]);
    assert_eq!(failed.status.code(), Some(4), "{}", both(&failed));
    let text = both(&failed);
    assert!(
        text.contains("must be one of 0, 1 or 2"),
        "twtune's message: {text}"
    );
    assert!(
        text.contains("Exec[twtune apply]: Skipping because of failed dependencies"),
        "{text}"
    );
    sandbox.assert_applied("a failed puppet apply");
    let noop = puppet_apply(&sandbox, &bad, &["--noop"]);
    assert!(
        stdout(&noop).contains("Exec[twtune: stop on error]/returns: current_value 'notrun'"),
        "under --noop the error is its own event: {}",
        both(&noop)
    );

    // The fact script exits 1 with the reason when twtune itself fails.
    let fact = integrations().join("puppet/facts.d/twtune");
    let broken = sandbox
        .ns
        .command(fact.to_str().unwrap())
        .env("TWTUNE", "/bin/false")
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1), "{}", both(&broken));
    assert!(stdout(&broken).is_empty(), "no fact: {}", both(&broken));
    assert!(
        stderr(&broken).contains("twtune check failed"),
        "{}",
        both(&broken)
    );
    sandbox.ns.assert_host_untouched();
}

// --- Salt ----------------------------------------------------------------

/// `salt-call --local state.apply STATE` with a minion config of its own
/// (state under the sandbox folder, states from integrations/salt), as JSON.
fn salt_state(sandbox: &Sandbox, state: &str, pillar: &str, extra: &[&str]) -> (Output, Value) {
    let conf = sandbox.path("salt-conf");
    if !conf.exists() {
        std::fs::create_dir(&conf).unwrap();
        std::fs::write(
            conf.join("minion"),
            format!(
                "id: twtune-test\nfile_client: local\nroot_dir: {}\nfile_roots:\n  base:\n    - {}\n",
                sandbox.path("salt-root").display(),
                integrations().join("salt").display()
            ),
        )
        .unwrap();
    }
    let conf = conf.display().to_string();
    let pillar = format!("pillar={pillar}");
    let mut args = vec![
        "--local",
        "--config-dir",
        &conf,
        "--retcode-passthrough",
        "--out",
        "json",
        "--log-level",
        "quiet",
        "state.apply",
        state,
        &pillar,
    ];
    args.extend_from_slice(extra);
    let out = sandbox.run("salt-call", &args);
    let document: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("salt-call printed no JSON ({e}): {}", both(&out)));
    let states = document["local"]
        .as_object()
        .unwrap_or_else(|| panic!("{document}"));
    assert_eq!(states.len(), 1, "{document}");
    let only = states.values().next().unwrap().clone();
    (out, only)
}

#[test]
fn salt_states_test_mode_apply_clean_rollback_and_errors() {
    needs!(Need::Root, Need::Tool("salt-call"));
    require_engine("salt-call", PIP_ENGINES);
    let sandbox = Sandbox::new();
    let pillar = serde_json::json!({ "twtune": { "binary": TWTUNE } }).to_string();

    let (out, state) = salt_state(&sandbox, "twtune", &pillar, &["test=True"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], Value::Null, "pending: {state}");
    assert_eq!(state["changes"]["changed"], true, "{state}");
    assert_eq!(state["changes"]["dry_run"], true, "{state}");
    assert!(
        state["comment"]
            .as_str()
            .unwrap()
            .starts_with("would change 1 key: net.ipv4.tcp_timestamps 0 -> 1"),
        "{state}"
    );
    sandbox.assert_unchanged("state.apply test=True");

    let (out, state) = salt_state(&sandbox, "twtune", &pillar, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], true, "{state}");
    assert_eq!(state["changes"]["applied"], true, "{state}");
    sandbox.assert_applied("state.apply");

    let (out, state) = salt_state(&sandbox, "twtune", &pillar, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], true, "{state}");
    assert_eq!(state["changes"], serde_json::json!({}), "clean: {state}");
    assert_eq!(state["comment"], "nothing to change", "{state}");

    let (out, state) = salt_state(&sandbox, "twtune.rolled_back", &pillar, &["test=True"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], Value::Null, "{state}");
    sandbox.assert_applied("state.apply twtune.rolled_back test=True");
    let (out, state) = salt_state(&sandbox, "twtune.rolled_back", &pillar, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], true, "{state}");
    sandbox.assert_unchanged("state.apply twtune.rolled_back");

    // The custom state module: Salt-style changes, old/new per key and the
    // drop-in's diff.
    let sync = sandbox.run(
        "salt-call",
        &[
            "--local",
            "--config-dir",
            sandbox.path("salt-conf").to_str().unwrap(),
            "--log-level",
            "quiet",
            "saltutil.sync_states",
        ],
    );
    assert!(sync.status.success(), "{}", both(&sync));
    let (out, state) = salt_state(&sandbox, "twtune.module", &pillar, &["test=True"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], Value::Null, "pending: {state}");
    assert_eq!(
        state["changes"][TIMESTAMPS],
        serde_json::json!({ "old": "0", "new": "1" }),
        "{state}"
    );
    let diff = state["changes"][DROPIN]["diff"]
        .as_str()
        .unwrap_or_default();
    assert!(diff.contains("+net.ipv4.tcp_timestamps = 1"), "{state}");
    sandbox.assert_unchanged("state.apply twtune.module test=True");
    let (out, state) = salt_state(&sandbox, "twtune.module", &pillar, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], true, "{state}");
    assert_eq!(state["changes"][TIMESTAMPS]["new"], "1", "{state}");
    sandbox.assert_applied("state.apply twtune.module");
    let (out, state) = salt_state(&sandbox, "twtune.module", &pillar, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["changes"], serde_json::json!({}), "clean: {state}");
    let (out, state) = salt_state(&sandbox, "twtune.rolled_back", &pillar, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(state["result"], true, "{state}");
    sandbox.assert_unchanged("state.apply twtune.rolled_back, again");

    // An error fails the state with twtune's message, in test mode too.
    let bad = serde_json::json!({
        "twtune": { "binary": TWTUNE, "set": { "net.ipv4.tcp_tw_reuse": 7 } }
    })
    .to_string();
    for (sls, extra) in [
        ("twtune", &["test=True"][..]),
        ("twtune", &[]),
        ("twtune.module", &["test=True"]),
        ("twtune.module", &[]),
    ] {
        let (out, state) = salt_state(&sandbox, sls, &bad, extra);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{sls} {extra:?}: {}",
            both(&out)
        );
        assert_eq!(state["result"], false, "{sls} {extra:?}: {state}");
        assert!(
            state["comment"]
                .as_str()
                .unwrap()
                .contains("must be one of 0, 1 or 2"),
            "{sls} {extra:?}: {state}"
        );
        sandbox.assert_unchanged("a bad pillar");
    }
    sandbox.ns.assert_host_untouched();
}
