//! `check --every DURATION`: the node agent's loop, in place of a shell
//! `while …; sleep` that ignores SIGTERM (a shell running as pid 1 of a
//! container has no default action for it, so the kubelet waits out the
//! grace period and kills it).
//!
//! SIGTERM and SIGINT are blocked before the first check (no thread exists
//! yet, so every later thread inherits the mask) and waited for with
//! sigtimedwait(2) between checks: one arriving during a check stays
//! pending and ends the loop as soon as that check is done; one arriving
//! while waiting ends it at once. Either way the exit status is 0.

use std::time::{Duration, Instant};

use nix::libc;
use twtune::exit_code::Exit;
use twtune::render::escape;

pub fn run(
    every: Duration,
    mut check: impl FnMut() -> anyhow::Result<Exit>,
) -> anyhow::Result<Exit> {
    let set = block_termination()?;
    loop {
        if let Err(err) = check() {
            // The check's own output (a textfile with twtune_check_success
            // 0) says it failed; the loop goes on.
            eprintln!("twtune: error: {}", escape::message(&format!("{err:#}")));
        }
        if wait_for_termination(&set, every)? {
            return Ok(Exit::Compliant);
        }
    }
}

pub fn block_termination() -> anyhow::Result<libc::sigset_t> {
    // SAFETY: the set is initialised by sigemptyset before any other use,
    // and pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            anyhow::bail!(
                "blocking SIGTERM for --every: {}",
                std::io::Error::from_raw_os_error(rc)
            );
        }
        Ok(set)
    }
}

/// Waits up to `every` for SIGTERM or SIGINT: true when one came.
pub fn wait_for_termination(set: &libc::sigset_t, every: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + every;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `set` is a valid, initialised signal set; no siginfo is asked for.
        let rc = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
        if rc > 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(anyhow::Error::new(err).context("waiting between checks")),
        }
    }
}
