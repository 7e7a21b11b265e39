//! Tracepoint ids and formats from tracefs, on a host where it may not be
//! mounted, without leaving a mount behind.
//!
//! When `/sys/kernel/tracing` already shows the events they are read there.
//! Otherwise a thread of its own unshares its mount namespace (and its
//! fs_struct, which CLONE_NEWNS needs in a multi-threaded process), makes
//! every mount private so nothing propagates back to the host, mounts tracefs
//! over `/sys/kernel/tracing` inside that namespace, reads what it needs and
//! ends. The namespace — and the mount with it — goes away with the thread:
//! the host's mount table is never touched.

use std::path::Path;

use super::format::{self, Format};

const TRACEFS: &str = "/sys/kernel/tracing";

/// The formats of `events` (`"sock/inet_sock_set_state"`, …), in order;
/// `None` for a tracepoint this kernel does not have. Err: why tracefs could
/// not be read at all.
pub fn formats(events: &[&str]) -> Result<Vec<Option<Format>>, String> {
    if Path::new(TRACEFS).join("events").is_dir() {
        return read_all(Path::new(TRACEFS), events);
    }
    let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    std::thread::Builder::new()
        .name("twtune-tracefs".into())
        .spawn(move || {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            in_private_mount_namespace(&events)
        })
        .map_err(|e| format!("cannot start the tracefs thread: {e}"))?
        .join()
        .map_err(|_| "the tracefs thread panicked".to_string())?
}

fn in_private_mount_namespace(events: &[&str]) -> Result<Vec<Option<Format>>, String> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS)
        .map_err(|e| format!("cannot make a private mount namespace for tracefs: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make mounts private: {e}"))?;
    mount(
        Some("tracefs"),
        TRACEFS,
        Some("tracefs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("cannot mount tracefs (in a private mount namespace): {e}"))?;
    read_all(Path::new(TRACEFS), events)
}

fn read_all(tracefs: &Path, events: &[&str]) -> Result<Vec<Option<Format>>, String> {
    events
        .iter()
        .map(|event| {
            let path = tracefs.join("events").join(event).join("format");
            match std::fs::read_to_string(&path) {
                Ok(text) => format::parse(&text)
                    .map(Some)
                    .map_err(|e| format!("{}: {e}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: {e}", path.display())),
            }
        })
        .collect()
}
