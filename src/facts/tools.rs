//! The programs twtune runs to read what the kernel does not show in /proc:
//! `nft`, `iptables-save`, `ip6tables-save` and `conntrack`.
//!
//! Each is found by absolute path in a fixed list of system folders, never
//! through PATH: root with `.` (or a user's folder) in PATH would otherwise
//! run whatever a user left there under that name. And what a tool prints is
//! read the way files are: at most [`MAX_OUTPUT_BYTES`] and for at most
//! [`TIMEOUT`]; past either the tool is killed and the source reported as
//! unread. `check --netns PID` runs these inside a namespace another user may
//! own, whose rule set can be as large as that user likes.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the tools are looked for, in order: the distributions' own
/// folders, then the local administrator's. Only root can write to any of
/// them on a sane host; a tool in a folder others can write is refused.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
];

/// The most a tool may print: the same bound as a file read
/// ([`super::read::MAX_FILE_BYTES`]). 8,000 nftables rules print 3.7 MB of
/// JSON.
pub const MAX_OUTPUT_BYTES: u64 = super::read::MAX_FILE_BYTES;

/// How long a tool may run. A rule-set dump takes milliseconds; a tool
/// still running after this is stuck or fed a rule set built to be slow.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The first of stderr that is kept, to say why a tool failed.
const STDERR_BYTES: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{program}: {source}")]
    Start { program: String, source: io::Error },
    #[error("{program} printed more than {} MiB; stopped and not read", .limit / (1024 * 1024))]
    TooLarge { program: String, limit: u64 },
    #[error("{program} ran longer than {} s; stopped and not read", .limit.as_secs())]
    TimedOut { program: String, limit: Duration },
    #[error("{program} exited with {status}: {stderr}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{program} printed non-UTF-8 output")]
    NotText { program: String },
}

/// The folders searched: [`SYSTEM_DIRS`], or in test builds the folders in
/// `TWTUNE_TEST_TOOL_DIRS` (colon-separated), so a test can plant a tool
/// that misbehaves without touching the host's.
fn dirs() -> Vec<PathBuf> {
    #[cfg(feature = "test-hooks")]
    if let Some(dirs) = std::env::var_os("TWTUNE_TEST_TOOL_DIRS") {
        return std::env::split_paths(&dirs).collect();
    }
    SYSTEM_DIRS.iter().map(PathBuf::from).collect()
}

/// The absolute path of `program` in the first folder that has it as an
/// executable regular file; `None` when none does (not installed).
pub fn find(program: &str) -> Option<PathBuf> {
    find_in(program, &dirs())
}

fn find_in(program: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    // A name is a name: nothing with a slash is looked up.
    if program.contains('/') || program.is_empty() {
        return None;
    }
    dirs.iter()
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Starts `program` (found by [`find`]) with `args`, its stdin closed and
/// its output piped. `None` when it is not installed.
pub fn spawn(program: &str, args: &[&str]) -> Option<Result<Child, ToolError>> {
    let path = find(program)?;
    Some(spawn_path(program, &path, args))
}

fn spawn_path(program: &str, path: &Path, args: &[&str]) -> Result<Child, ToolError> {
    Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ToolError::Start {
            program: program.to_string(),
            source,
        })
}

/// Reads a started tool's stdout, bounded by `limit` bytes and `timeout`,
/// and waits for it: its stdout as text when it exited 0. A tool past either
/// bound is killed.
pub fn collect(
    program: &str,
    mut child: Child,
    limit: u64,
    timeout: Duration,
) -> Result<String, ToolError> {
    let start_err = |source| ToolError::Start {
        program: program.to_string(),
        source,
    };
    let guard = watchdog(&child, timeout);
    let stderr = child.stderr.take();
    // Drained to the end beside stdout, so a tool writing much to stderr is
    // never blocked on a full pipe; only the first part is kept.
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut err) = stderr {
            let _ = (&mut err).take(STDERR_BYTES).read_to_end(&mut text);
            let _ = io::copy(&mut err, &mut io::sink());
        }
        text
    });
    let mut text = Vec::new();
    let read = match child.stdout.take() {
        // Killing the tool (the watchdog) closes the pipe and ends the read.
        Some(out) => out.take(limit + 1).read_to_end(&mut text).map(|_| ()),
        None => Ok(()),
    };
    let too_large = text.len() as u64 > limit;
    if too_large {
        let _ = child.kill();
    }
    let (status, timed_out) = guard.finish(&mut child).map_err(start_err)?;
    let stderr = err_reader.join().unwrap_or_default();
    if timed_out {
        return Err(ToolError::TimedOut {
            program: program.to_string(),
            limit: timeout,
        });
    }
    if too_large {
        return Err(ToolError::TooLarge {
            program: program.to_string(),
            limit,
        });
    }
    read.map_err(start_err)?;
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        return Err(ToolError::Failed {
            program: program.to_string(),
            status,
            stderr: stderr.lines().next().unwrap_or("").trim().to_string(),
        });
    }
    String::from_utf8(text).map_err(|_| ToolError::NotText {
        program: program.to_string(),
    })
}

/// Kills a child still running after its time. Only [`Watchdog::finish`]
/// reaps the child, and only after the watchdog has stopped, so the pid it
/// would signal cannot have been reused by then.
pub struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<bool>>,
    pid: i32,
}

/// Starts a [`Watchdog`] for `child`: killed after `timeout`.
pub fn watchdog(child: &Child, timeout: Duration) -> Watchdog {
    let (stop, stopped) = mpsc::channel::<()>();
    let pid = child.id() as i32;
    let thread = std::thread::spawn(move || match stopped.recv_timeout(timeout) {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // SAFETY: kill(2) with a pid and a signal number; no memory.
            unsafe { nix::libc::kill(pid, nix::libc::SIGKILL) };
            true
        }
        _ => false,
    });
    Watchdog {
        stop: Some(stop),
        thread: Some(thread),
        pid,
    }
}

impl Watchdog {
    /// Waits for the child to end (killed at the deadline if need be), then
    /// reaps it: its exit status, and whether the watchdog killed it.
    pub fn finish(mut self, child: &mut Child) -> io::Result<(std::process::ExitStatus, bool)> {
        // Wait for the exit without reaping: the pid stays the child's.
        loop {
            // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
            let mut info: nix::libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid(2) writes only into `info`.
            let rc = unsafe {
                nix::libc::waitid(
                    nix::libc::P_PID,
                    self.pid as nix::libc::id_t,
                    &mut info,
                    nix::libc::WEXITED | nix::libc::WNOWAIT,
                )
            };
            if rc == 0 {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
        drop(self.stop.take());
        let killed = self
            .thread
            .take()
            .map(|t| t.join().unwrap_or(false))
            .unwrap_or(false);
        Ok((child.wait()?, killed))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Not finished (an early return): stop it now; the caller has not
        // reaped the child, so a kill racing this is still aimed at it.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tool(dir: &Path, name: &str, script: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn tools_are_found_only_by_name_in_the_listed_folders() {
        let dir = tempfile::tempdir().unwrap();
        let planted = tempfile::tempdir().unwrap();
        tool(dir.path(), "nft", "echo listed");
        tool(planted.path(), "nft", "echo planted");
        let dirs = vec![dir.path().to_path_buf()];
        assert_eq!(find_in("nft", &dirs), Some(dir.path().join("nft")));
        assert_eq!(find_in("conntrack", &dirs), None);
        // A relative folder (`.` in PATH) and a name with a slash are never used.
        let relative = vec![PathBuf::from("."), PathBuf::from("")];
        assert_eq!(find_in("nft", &relative), None);
        assert_eq!(find_in("./nft", &dirs), None);
        // Not executable: not a tool.
        std::fs::write(dir.path().join("iptables-save"), "x").unwrap();
        assert_eq!(find_in("iptables-save", &dirs), None);
    }

    #[test]
    fn output_past_the_limit_is_cut_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = tool(dir.path(), "nft", "exec yes nft-rule");
        let child = spawn_path("nft", &path, &[]).unwrap();
        let err = collect("nft", child, 1024 * 1024, TIMEOUT).unwrap_err();
        assert!(matches!(err, ToolError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("more than 1 MiB"), "{err}");
    }

    #[test]
    fn a_tool_past_its_time_is_killed_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        // Prints a little, then never ends: a read to the end would block.
        let path = tool(dir.path(), "nft", "echo '{'; exec sleep 1000");
        let child = spawn_path("nft", &path, &[]).unwrap();
        let pid = child.id();
        let err = collect("nft", child, MAX_OUTPUT_BYTES, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, ToolError::TimedOut { .. }), "{err}");
        // Killed and reaped: no such process any more.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn a_failing_tool_says_why_and_a_good_one_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let bad = tool(
            dir.path(),
            "nft",
            "echo 'Operation not permitted' >&2; exit 1",
        );
        let err = collect("nft", spawn_path("nft", &bad, &[]).unwrap(), 100, TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("Operation not permitted"), "{err}");
        let good = tool(dir.path(), "iptables-save", "echo '*nat'");
        let text = collect(
            "iptables-save",
            spawn_path("iptables-save", &good, &[]).unwrap(),
            100,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(text, "*nat\n");
    }
}
