//! The sandbox for the apply tests: a private network + mount namespace where
//! twtune may write real sysctls (fixture trees for `--root` are
//! [`super::Scenario`]).
//!
//! The namespace is held open by a sleeping process; every command enters it
//! with nsenter, so a test can run twtune several times, kill it, or race two
//! copies, and read the namespace's sysctls and files between steps. Before
//! anything runs, the setup proves it is not in the host's network namespace
//! and that /etc/sysctl.d, /run and /var/lib are private tmpfs mounts.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{TWTUNE as BIN, stderr, stdout};

/// The keys the tests change, with the host's values as they must stay.
pub const WATCHED: &[&str] = &[
    "net/ipv4/tcp_tw_reuse",
    "net/ipv4/tcp_timestamps",
    "net/ipv4/ip_local_port_range",
    "net/ipv4/tcp_fin_timeout",
    "net/ipv4/tcp_syn_retries",
];

fn host_net_ns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .display()
        .to_string()
}

/// What of the host the tests could touch: the watched sysctls and the host's
/// sysctl.d and state folders.
#[derive(Debug, PartialEq, Eq)]
pub struct HostSnapshot {
    sysctls: Vec<(String, String)>,
    sysctl_d: Vec<String>,
    state_dir: bool,
}

pub fn host_snapshot() -> HostSnapshot {
    let sysctls = WATCHED
        .iter()
        .map(|k| {
            (
                k.to_string(),
                std::fs::read_to_string(Path::new("/proc/sys").join(k)).unwrap(),
            )
        })
        .collect();
    let mut sysctl_d: Vec<String> = std::fs::read_dir("/etc/sysctl.d")
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    sysctl_d.sort();
    HostSnapshot {
        sysctls,
        sysctl_d,
        state_dir: Path::new("/var/lib/twtune").exists(),
    }
}

pub struct Netns {
    holder: Child,
    host_before: HostSnapshot,
}

const SETUP: &str = r#"
set -eu
[ "$(readlink /proc/self/ns/net)" != "$HOST_NET_NS" ] || { echo "still in the host network namespace" >&2; exit 97; }
mount -t tmpfs -o size=1m,mode=755 twtune-test /etc/sysctl.d
mount -t tmpfs -o mode=755 twtune-test /run
mount -t tmpfs -o mode=755 twtune-test /var/lib
for d in /etc/sysctl.d /run /var/lib; do
  [ "$(stat -f -c %T "$d")" = tmpfs ] || { echo "$d is not private" >&2; exit 98; }
done
echo ready
exec sleep infinity
"#;

impl Netns {
    pub fn new() -> Netns {
        super::tier::require(super::tier::Need::Root, super::netns::ROOT_HELPER);
        let host_before = host_snapshot();
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                SETUP,
            ])
            .env("HOST_NET_NS", host_net_ns())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare (util-linux) runs; the tests need root");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "namespace setup failed: {:?}",
            holder.try_wait()
        );
        let ns = Netns {
            holder,
            host_before,
        };
        let inside = ns.sh("readlink /proc/self/ns/net");
        assert_ne!(
            stdout(&inside).trim(),
            host_net_ns(),
            "nsenter did not enter the private namespace"
        );
        ns
    }

    /// The process holding the namespace open: `nsenter -t` targets it.
    pub fn holder_pid(&self) -> u32 {
        self.holder.id()
    }

    /// A command run inside the namespace (nsenter execs it: its pid is the program's).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.holder.id().to_string(),
            "-n",
            "-m",
            "--",
            program,
        ]);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn twtune(&self, args: &[&str]) -> Output {
        self.command(BIN).args(args).output().unwrap()
    }

    pub fn sh(&self, script: &str) -> Output {
        self.command("sh").args(["-c", script]).output().unwrap()
    }

    /// Runs a setup step that must succeed.
    pub fn must(&self, script: &str) {
        let out = self.sh(script);
        assert!(out.status.success(), "{script}: {}", stderr(&out));
    }

    /// A sysctl inside the namespace, as /proc shows it with whitespace folded.
    pub fn sysctl(&self, key: &str) -> String {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let out = self.sh(&format!("cat {path}"));
        assert!(out.status.success(), "{path}: {}", stderr(&out));
        stdout(&out)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A file inside the namespace, `None` when it does not exist.
    pub fn file(&self, path: &str) -> Option<String> {
        let out = self.sh(&format!(
            "[ -e {path} ] || [ -L {path} ] || exit 3; cat {path}"
        ));
        match out.status.code() {
            Some(3) => None,
            _ => Some(stdout(&out)),
        }
    }

    pub fn ls(&self, dir: &str) -> Vec<String> {
        let out = self.sh(&format!("ls -A {dir}"));
        stdout(&out).lines().map(str::to_string).collect()
    }

    /// The host is as it was when the namespace was made.
    pub fn assert_host_untouched(&self) {
        assert_eq!(host_snapshot(), self.host_before, "the host changed");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        // A failing test must not hide a host change either.
        if !std::thread::panicking() {
            assert_eq!(host_snapshot(), self.host_before, "the host changed");
        }
    }
}

/// Waits (bounded, polling) until `done` holds; panics with `what` otherwise.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}
