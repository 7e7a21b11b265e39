//! perf_event_open(2) on tracepoints, one mmap ring per CPU.
//!
//! Neither nix nor libc wraps perf_event_open or its ioctls, so they are
//! raw syscalls here, with `perf_event_attr` and the ring's control page laid
//! out as include/uapi/linux/perf_event.h has them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering, fence};

use nix::libc;

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_SAMPLE_TID: u64 = 1 << 1;
const PERF_SAMPLE_TIME: u64 = 1 << 2;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
const PERF_RECORD_LOST: u32 = 2;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
const PERF_RECORD_SAMPLE: u32 = 9;
/// attr flag bits (the bitfield after `read_format`).
const FLAG_DISABLED: u64 = 1 << 0;
const FLAG_USE_CLOCKID: u64 = 1 << 25;
/// _IO('$', 0), _IO('$', 1), _IO('$', 5), _IOW('$', 6, char *).
const IOC_ENABLE: libc::c_ulong = 0x2400;
const IOC_DISABLE: libc::c_ulong = 0x2401;
const IOC_SET_OUTPUT: libc::c_ulong = 0x2405;
const IOC_SET_FILTER: libc::c_ulong = 0x4008_2406;

/// `struct perf_event_attr` up to `config3` (PERF_ATTR_SIZE_VER8, 136
/// bytes). An older kernel accepts it as long as the fields it does not know
/// are zero (perf_copy_attr()).
#[repr(C)]
#[derive(Default)]
struct Attr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved_2: u16,
    aux_sample_size: u32,
    reserved_3: u32,
    sig_data: u64,
    config3: u64,
}

/// Opens tracepoint `id` on one CPU for every task, disabled. Samples carry
/// pid/tid, a CLOCK_MONOTONIC time and the raw record. (/proc/PID/stat
/// counts start times in CLOCK_BOOTTIME, but perf_event_set_clock() refuses
/// a clock that is not NMI-safe for a PMU that may run in NMI context, which
/// BOOTTIME is not: the caller adds the offset between the two.)
pub fn open_tracepoint(id: u64, cpu: i32) -> io::Result<OwnedFd> {
    let attr = Attr {
        kind: PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<Attr>() as u32,
        config: id,
        sample_period: 1,
        sample_type: PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW,
        flags: FLAG_DISABLED | FLAG_USE_CLOCKID,
        clockid: libc::CLOCK_MONOTONIC,
        ..Attr::default()
    };
    // SAFETY: attr is a valid perf_event_attr of the size it states; the
    // kernel only reads it. pid -1 with a cpu: every task on that CPU.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const Attr,
            -1 as libc::pid_t,
            cpu,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn ioctl(fd: &OwnedFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: perf ioctls on a perf fd; SET_FILTER's argument points to a
    // NUL-terminated string that outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An ftrace filter evaluated in the kernel, so records nobody reads are
/// never copied into the ring ("newstate == 2 || ...").
pub fn set_filter(fd: &OwnedFd, filter: &str) -> io::Result<()> {
    let c = std::ffi::CString::new(filter).map_err(io::Error::other)?;
    ioctl(fd, IOC_SET_FILTER, c.as_ptr() as libc::c_ulong)
}

/// Sends `fd`'s samples into `ring`'s buffer (same CPU): one ring per CPU
/// whatever the number of tracepoints.
pub fn set_output(fd: &OwnedFd, ring: &Ring) -> io::Result<()> {
    ioctl(fd, IOC_SET_OUTPUT, ring.fd.as_raw_fd() as libc::c_ulong)
}

pub fn enable(fd: &OwnedFd) -> io::Result<()> {
    ioctl(fd, IOC_ENABLE, 0)
}

pub fn disable(fd: &OwnedFd) -> io::Result<()> {
    ioctl(fd, IOC_DISABLE, 0)
}

/// A CPU's ring buffer: a control page, then 2^n data pages.
pub struct Ring {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping belongs to this value alone; it is only read and its
// tail written through &mut self.
unsafe impl Send for Ring {}

/// Offsets in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
const DATA_OFFSET: usize = 1040;
const DATA_SIZE: usize = 1048;

/// One record read from a ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Sample {
        pid: u32,
        tid: u32,
        time_ns: u64,
        raw: Vec<u8>,
    },
    /// PERF_RECORD_LOST: this many samples did not fit in the ring.
    Lost(u64),
}

impl Ring {
    /// Maps `pages` (a power of two) data pages for `fd`.
    pub fn map(fd: OwnedFd, pages: usize) -> io::Result<Ring> {
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as usize;
        let len = page * (pages + 1);
        // SAFETY: a fresh shared mapping of a perf fd, as perf_event_open(2)
        // describes; unmapped in Drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = base as *mut u8;
        let mut ring = Ring {
            fd,
            base,
            len,
            data_offset: page,
            data_size: page * pages,
        };
        // Kernels since 4.1 state where the data is; older ones put it right
        // after the control page.
        let (offset, size) = (ring.word(DATA_OFFSET), ring.word(DATA_SIZE));
        if offset != 0 && size != 0 && (offset + size) as usize <= len {
            ring.data_offset = offset as usize;
            ring.data_size = size as usize;
        }
        Ok(ring)
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    fn word(&self, at: usize) -> u64 {
        // SAFETY: `at` is inside the control page, 8-byte aligned.
        unsafe { (*(self.base.add(at) as *const AtomicU64)).load(Ordering::Acquire) }
    }

    fn copy(&self, pos: u64, out: &mut [u8]) {
        let size = self.data_size;
        for (i, byte) in out.iter_mut().enumerate() {
            let at = (pos as usize).wrapping_add(i) % size;
            // SAFETY: `at` < data_size, inside the mapping.
            *byte = unsafe { *self.base.add(self.data_offset + at) };
        }
    }

    /// Reads every complete record written so far and frees its space.
    pub fn drain(&mut self, each: impl FnMut(Record)) {
        let head = self.word(DATA_HEAD);
        let tail = self.word(DATA_TAIL);
        let tail = walk(
            self.data_size as u64,
            |pos, out| self.copy(pos, out),
            tail,
            head,
            each,
        );
        fence(Ordering::Release);
        // SAFETY: data_tail is the one word of the control page user space
        // writes; the store tells the kernel the space is free.
        unsafe { (*(self.base.add(DATA_TAIL) as *const AtomicU64)).store(tail, Ordering::Release) }
    }
}

/// Walks the records of a ring of `ring_size` data bytes from `tail` to
/// `head` (positions count up forever and wrap at the ring's size; `copy`
/// reads the bytes at one), handing each decoded record to `each`; returns
/// the new tail. The kernel never leaves more than the ring's size unread,
/// and writes records of at least their 8-byte header that end at or before
/// `head`: a span or record that breaks this drops the rest rather than loop,
/// overflow or read past the head.
pub(crate) fn walk(
    ring_size: u64,
    mut copy: impl FnMut(u64, &mut [u8]),
    mut tail: u64,
    head: u64,
    mut each: impl FnMut(Record),
) -> u64 {
    if head.saturating_sub(tail) > ring_size {
        return head;
    }
    let mut header = [0u8; 8];
    while tail < head {
        copy(tail, &mut header);
        let kind = u32::from_ne_bytes(header[0..4].try_into().unwrap_or_default());
        let size = u64::from(u16::from_ne_bytes(
            header[6..8].try_into().unwrap_or_default(),
        ));
        let Some(end) = tail
            .checked_add(size)
            .filter(|end| size >= 8 && *end <= head)
        else {
            return head;
        };
        let mut body = vec![0u8; size as usize - 8];
        copy(tail + 8, &mut body);
        if let Some(record) = decode(kind, &body) {
            each(record);
        }
        tail = end;
    }
    tail
}

/// A record as the kernel writes it into the ring, header included, for
/// the sample layout `open_tracepoint` asks for (the tests' and fuzz
/// targets' inverse of [`walk`]).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn encode(record: &Record) -> Vec<u8> {
    let (kind, body) = match record {
        Record::Sample {
            pid,
            tid,
            time_ns,
            raw,
        } => {
            let mut body = Vec::new();
            body.extend(pid.to_ne_bytes());
            body.extend(tid.to_ne_bytes());
            body.extend(time_ns.to_ne_bytes());
            body.extend((raw.len() as u32).to_ne_bytes());
            body.extend(raw);
            (PERF_RECORD_SAMPLE, body)
        }
        // The id of the event that lost them, then the count.
        Record::Lost(n) => (PERF_RECORD_LOST, [[0u8; 8], n.to_ne_bytes()].concat()),
    };
    let mut out = Vec::new();
    out.extend(kind.to_ne_bytes());
    out.extend(0u16.to_ne_bytes());
    out.extend(((body.len() + 8) as u16).to_ne_bytes());
    out.extend(body);
    out
}

/// A record's body after its 8-byte header, for the sample layout
/// `open_tracepoint` asks for: pid, tid, time, then the raw data.
fn decode(kind: u32, body: &[u8]) -> Option<Record> {
    let u32_at = |at: usize| Some(u32::from_ne_bytes(body.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_ne_bytes(body.get(at..at + 8)?.try_into().ok()?));
    match kind {
        PERF_RECORD_SAMPLE => {
            let raw_len = u32_at(16)? as usize;
            Some(Record::Sample {
                pid: u32_at(0)?,
                tid: u32_at(4)?,
                time_ns: u64_at(8)?,
                raw: body.get(20..20usize.checked_add(raw_len)?)?.to_vec(),
            })
        }
        // struct { header; u64 id; u64 lost; }
        PERF_RECORD_LOST => Some(Record::Lost(u64_at(8)?)),
        _ => None,
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

/// The CPUs the kernel has online: `/sys/devices/system/cpu/online` reads
/// like "0-3,6".
pub fn parse_cpu_list(text: &str) -> Option<Vec<i32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (low, high): (i32, i32) = match part.split_once('-') {
            Some((l, h)) => (l.parse().ok()?, h.parse().ok()?),
            None => {
                let n = part.parse().ok()?;
                (n, n)
            }
        };
        if high < low || high > 65_535 {
            return None;
        }
        cpus.extend(low..=high);
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attr_has_the_kernels_ver8_size() {
        assert_eq!(std::mem::size_of::<Attr>(), 136);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("0-99999999"), None);
    }

    /// Walks a ring of `ring.len()` bytes from `tail` to `head`.
    fn walk_ring(ring: &[u8], tail: u64, head: u64) -> (Vec<Record>, u64) {
        let mut got = Vec::new();
        let copy = |pos: u64, out: &mut [u8]| {
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = ring[(pos as usize + i) % ring.len()];
            }
        };
        let tail = walk(ring.len() as u64, copy, tail, head, |r| got.push(r));
        (got, tail)
    }

    #[test]
    fn walks_records_across_the_rings_end_and_drops_what_the_kernel_cannot_have_written() {
        let sample = Record::Sample {
            pid: 1,
            tid: 2,
            time_ns: 3,
            raw: vec![9; 12],
        };
        let records = vec![sample.clone(), Record::Lost(5), sample];
        let bytes: Vec<u8> = records.iter().flat_map(encode).collect();
        assert_eq!(bytes.len(), 40 + 24 + 40);
        // A 128-byte ring whose positions have gone round three times; the
        // first record starts 16 bytes before the end and wraps.
        let mut ring = vec![0u8; 128];
        let tail = 3 * 128 - 16;
        for (i, byte) in bytes.iter().enumerate() {
            ring[(tail as usize + i) % 128] = *byte;
        }
        let head = tail + bytes.len() as u64;
        assert_eq!(walk_ring(&ring, tail, head), (records.clone(), head));
        // Only what is before the head: the last record is not whole yet.
        assert_eq!(
            walk_ring(&ring, tail, head - 1),
            (records[..2].to_vec(), head - 1)
        );
        // More unread than the ring holds: nothing is read, all is freed.
        assert_eq!(walk_ring(&ring, tail, tail + 129), (vec![], tail + 129));
        // A zeroed header (size 0) would loop forever: dropped.
        assert_eq!(walk_ring(&[0u8; 64], 0, 64), (vec![], 64));
        // A record whose end is past u64::MAX neither overflows nor is read.
        let top = u64::MAX - 39;
        let mut high = vec![0u8; 128];
        for (i, byte) in bytes[..40].iter().enumerate() {
            high[(top as usize + i) % 128] = *byte;
        }
        assert_eq!(walk_ring(&high, top, u64::MAX), (vec![], u64::MAX));
        // A head behind the tail reads nothing and moves nothing.
        assert_eq!(walk_ring(&ring, head, tail), (vec![], head));
    }

    #[test]
    fn decodes_samples_and_lost_records() {
        let mut body = Vec::new();
        body.extend(42u32.to_ne_bytes());
        body.extend(43u32.to_ne_bytes());
        body.extend(1_000u64.to_ne_bytes());
        body.extend(4u32.to_ne_bytes());
        body.extend([1, 2, 3, 4]);
        assert_eq!(
            decode(PERF_RECORD_SAMPLE, &body),
            Some(Record::Sample {
                pid: 42,
                tid: 43,
                time_ns: 1000,
                raw: vec![1, 2, 3, 4]
            })
        );
        // A raw size past the record is dropped, not read past.
        body[16..20].copy_from_slice(&400u32.to_ne_bytes());
        assert_eq!(decode(PERF_RECORD_SAMPLE, &body), None);
        let mut lost = 7u64.to_ne_bytes().to_vec();
        lost.extend(12u64.to_ne_bytes());
        assert_eq!(decode(PERF_RECORD_LOST, &lost), Some(Record::Lost(12)));
        assert_eq!(decode(PERF_RECORD_LOST, &lost[..10]), None);
        assert_eq!(decode(99, &lost), None);
    }
}
