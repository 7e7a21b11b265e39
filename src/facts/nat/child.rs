//! Child processes: the conntrack, nft and iptables tools, started by absolute
//! path with their output captured.

use super::*;

/// Starts a tool (by absolute path, never through PATH) with its output
/// captured; `None` when it is not installed.
pub(super) fn spawn_tool(program: &str, args: &[&str]) -> Option<Result<Child, String>> {
    tools::spawn(program, args).map(|r| r.map_err(|e| e.to_string()))
}

/// Waits for a tool started by [`spawn_tool`] and returns its stdout, read
/// as a file is: bounded in size, and in time.
pub(super) fn collect(program: &str, child: Child) -> Result<String, String> {
    tools::collect(program, child, tools::MAX_OUTPUT_BYTES, tools::TIMEOUT)
        .map_err(|e| e.to_string())
}

/// `conntrack -L`, summarised as it streams: the table can hold hundreds of
/// thousands of entries, more than is worth holding in memory as text.
pub(super) fn stream_conntrack_tool(
    snat: &mut snat::SnatCounter,
) -> Option<Result<conntrack::ConntrackSummary, String>> {
    let path = tools::find("conntrack")?;
    let mut child = match Command::new(&path)
        .arg("-L")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
    };
    // Streamed, so its size costs no memory; its time is bounded all the same.
    let guard = tools::watchdog(&child, tools::TIMEOUT);
    let stdout = child.stdout.take()?;
    let summary = conntrack::summarise(BufReader::new(stdout), snat);
    let finished = guard.finish(&mut child);
    Some(match (summary, finished) {
        (_, Err(e)) => Err(e.to_string()),
        (_, Ok((_, true))) => Err(format!(
            "conntrack -L ran longer than {} s; stopped and not read",
            tools::TIMEOUT.as_secs()
        )),
        (_, Ok((status, _))) if !status.success() => {
            Err(format!("conntrack -L exited with {status}"))
        }
        (Err(e), _) => Err(format!("conntrack -L output: {e}")),
        (Ok(summary), _) => Ok(summary),
    })
}
