//! Telling a process from a later one with the same pid.
//!
//! A pid is reused once its process is gone, so a process read in two steps
//! (its descriptors, then its name) may be two processes. Its start time —
//! field 22 of /proc/PID/stat, clock ticks since boot (fs/proc/array.c,
//! do_task_stat(): `start_time`) — does not repeat for one pid within a
//! tick, so the same pid with the same start time before and after is the
//! same process.

use std::path::Path;

/// Field 22 of a /proc/PID/stat line. The command (field 2) is in
/// parentheses and may itself hold `)` and spaces, so fields are counted
/// from the last `)`.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, after) = stat.rsplit_once(')')?;
    // Field 3 (state) is the first after the command; 22 is the 20th.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The start time of the process whose /proc folder is `process` (under
/// the root being read), `None` when it is gone or has no stat (a fixture
/// tree).
pub fn start_time(process: &Path) -> Option<u64> {
    let text = super::read::read_optional_names(&process.join("stat"))
        .ok()
        .flatten()?;
    parse_start_time(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_field_22_counted_after_the_command() {
        let stat =
            "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("4242 (x) S 1"), None);
        assert_eq!(parse_start_time("garbage"), None);
        let own = start_time(Path::new("/proc/self")).expect("own start time");
        assert_eq!(start_time(Path::new("/proc/self")), Some(own));
    }
}
