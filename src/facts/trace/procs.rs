//! What /proc says about a traced process, read when it is first seen.

/// What /proc says about a live process, read when it is first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// When it started, CLOCK_BOOTTIME nanoseconds (stat field 22).
    pub start_ns: u64,
    pub command: Option<String>,
    pub cgroup: Option<String>,
    pub netns: Option<u64>,
}

/// The start time (field 22, clock ticks) from /proc/PID/stat text. The
/// command (field 2) may contain spaces and parentheses, so fields are
/// counted after its last ')'.
pub fn parse_stat_start(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `net:[4026531840]` → 4026531840.
pub fn parse_ns_link(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

pub(super) fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

pub(super) fn read_proc(pid: u32) -> Option<ProcInfo> {
    let dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let stat = crate::facts::read_optional(&dir.join("stat")).ok()??;
    let ticks = clock_ticks();
    let start_ns = parse_stat_start(&stat)?.saturating_mul(1_000_000_000 / ticks);
    let command = crate::facts::read_optional(&dir.join("comm"))
        .ok()
        .flatten()
        .map(|c| c.trim_end_matches('\n').to_string());
    let cgroup = crate::facts::read_optional(&dir.join("cgroup"))
        .ok()
        .flatten()
        .and_then(|text| {
            // v2's `0::path`, or the first v1 hierarchy's path.
            let line = text
                .lines()
                .find(|l| l.starts_with("0::"))
                .or(text.lines().next())?;
            Some(line.splitn(3, ':').nth(2)?.to_string())
        });
    let netns = std::fs::read_link(dir.join("ns/net"))
        .ok()
        .and_then(|l| l.to_str().and_then(parse_ns_link));
    Some(ProcInfo {
        start_ns,
        command,
        cgroup,
        netns,
    })
}
