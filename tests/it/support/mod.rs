//! The integration-test harness: a scenario is a fixture tree (copied to a
//! temporary folder so a test may change it) and a twtune command run on it.
//!
//! Every twtune run on a tree goes through [`twtune`], which sets NO_COLOR:
//! output is compared as text. The colour tests (`check_scenarios`) build
//! their own command without it, on a terminal.
//!
//! [`netns`] and [`sandbox`] hold the namespace helpers for the tests that
//! need a real kernel.
#![allow(dead_code)]

pub mod netns;
pub mod sandbox;
#[macro_use]
pub mod tier;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The twtune binary under test.
pub const TWTUNE: &str = env!("CARGO_BIN_EXE_twtune");

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub struct Scenario {
    dir: tempfile::TempDir,
}

impl Scenario {
    /// A private copy of `tests/fixtures/NAME`.
    pub fn fixture(name: &str) -> Scenario {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_tree(&fixtures().join(name), dir.path());
        Scenario { dir }
    }

    /// An empty root.
    pub fn empty() -> Scenario {
        Scenario {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A minimal host for the apply tests: kernel 6.18.44 with the defaults
    /// of the keys they change, and nothing persisted.
    pub fn new() -> Scenario {
        let scenario = Scenario::empty();
        scenario.put("proc/sys/kernel/osrelease", "6.18.44\n");
        for (key, value) in [
            ("tcp_tw_reuse", "2"),
            ("tcp_timestamps", "1"),
            ("ip_local_port_range", "32768\t60999"),
            ("tcp_fin_timeout", "60"),
            ("ip_unprivileged_port_start", "1024"),
        ] {
            scenario.put(&format!("proc/sys/net/ipv4/{key}"), &format!("{value}\n"));
        }
        scenario
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `path` inside the tree.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root().join(path)
    }

    /// The file at `path` inside the tree, `None` when it cannot be read.
    pub fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.path(path)).ok()
    }

    /// Writes `text` at `path` inside the tree, replacing a folder there.
    pub fn write(self, path: &str, text: &str) -> Self {
        self.put(path, text);
        self
    }

    /// [`Scenario::write`] between runs, on a scenario a test keeps.
    pub fn put(&self, path: &str, text: &str) {
        let full = self.root().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        if full.is_dir() {
            std::fs::remove_dir_all(&full).unwrap();
        }
        std::fs::write(&full, text).unwrap();
    }

    /// A sysctl at run time: `sysctl("tcp_timestamps", "0")`.
    pub fn sysctl(self, ipv4_key: &str, value: &str) -> Self {
        self.write(
            &format!("proc/sys/net/ipv4/{ipv4_key}"),
            &format!("{value}\n"),
        )
    }

    pub fn remove(self, path: &str) -> Self {
        let full = self.root().join(path);
        if full.is_dir() {
            std::fs::remove_dir_all(full).unwrap();
        } else {
            std::fs::remove_file(full).unwrap();
        }
        self
    }

    /// Replaces a file with a folder: reading it fails (root reads any file,
    /// whatever its mode, so this is how a test makes one unreadable).
    pub fn make_unreadable(self, path: &str) -> Self {
        let full = self.root().join(path);
        let _ = std::fs::remove_file(&full);
        std::fs::create_dir_all(&full).unwrap();
        self
    }

    /// Clears the write bits of every file below `path`, as a read-only /proc/sys shows.
    pub fn read_only(self, path: &str) -> Self {
        fn walk(p: &Path) {
            let meta = std::fs::symlink_metadata(p).unwrap();
            if meta.is_dir() {
                for e in std::fs::read_dir(p).unwrap() {
                    walk(&e.unwrap().path());
                }
            } else if meta.is_file() {
                let mut perms = meta.permissions();
                perms.set_mode(0o444);
                std::fs::set_permissions(p, perms).unwrap();
            }
        }
        walk(&self.root().join(path));
        self
    }

    pub fn twtune(&self, args: &[&str]) -> Run {
        let mut command = twtune();
        command.arg("--root").arg(self.root()).args(args);
        Run::of(command)
    }
}

/// The twtune command every scenario runs: NO_COLOR set, stdin empty.
pub fn twtune() -> Command {
    let mut command = Command::new(TWTUNE);
    command.env("NO_COLOR", "1");
    command
}

/// A finished twtune run; it reads as its [`Output`] too (`run.status`).
pub struct Run {
    pub output: Output,
}

impl std::ops::Deref for Run {
    type Target = Output;

    fn deref(&self) -> &Output {
        &self.output
    }
}

impl Run {
    pub fn of(mut command: Command) -> Run {
        let output = command.output().expect("run twtune");
        Run { output }
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().expect("exited, not killed")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Asserts the exit status, showing the output when it differs.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The findings of a `check --format json` run, by rule id.
    pub fn findings(&self, rule: &str) -> Vec<Value> {
        self.json()["findings"]
            .as_array()
            .expect("findings[]")
            .iter()
            .filter(|f| f["rule"] == rule)
            .cloned()
            .collect()
    }

    pub fn rule_ids(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .expect("findings[]")
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
