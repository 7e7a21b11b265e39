//! The tracing decoders' properties (issue 17's `--sample` tracing): the
//! tracefs `format` parser, the perf ring's record walk and the tracepoint
//! record decoder.

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::facts::trace::format::{self, Field, Format};
use crate::facts::trace::perf::{self, Record};
use crate::facts::trace::{Decoders, DestTuple, Event, Syscall, kernel_formats};

/// The value of a field's bytes in this machine's byte order.
fn native(bytes: &[u8]) -> u64 {
    let fold = |v: u64, b: &u8| (v << 8) | u64::from(*b);
    if cfg!(target_endian = "little") {
        bytes.iter().rev().fold(0, fold)
    } else {
        bytes.iter().fold(0, fold)
    }
}

/// A format written back the way tracefs prints one.
fn print_format(f: &Format) -> String {
    let mut out = format!("name: {}\nID: {}\nformat:\n", f.name, f.id);
    let mut fields: Vec<_> = f.fields.iter().collect();
    fields.sort_by_key(|(name, _)| name.as_str());
    for (name, field) in fields {
        out.push_str(&format!(
            "\tfield:__u8 {name};\toffset:{};\tsize:{};\tsigned:{};\n",
            field.offset,
            field.size,
            u8::from(field.signed)
        ));
    }
    out.push_str("\nprint fmt: \"\"\n");
    out
}

/// Input `FORMAT TEXT [\0 RAW RECORD]`. A parsed format's field names are
/// one word (no whitespace, `*`, `[` or `;`), every field ends within
/// `usize`; reading a field from the record gives exactly its `size` bytes
/// when it lies inside the record and nothing otherwise, integers of 1, 2,
/// 4 or 8 bytes are those bytes in native order and the signed read
/// sign-extends them; the format printed back as tracefs prints one parses
/// to the same format.
pub fn trace_format(data: &[u8]) {
    let (text, raw) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(parsed) = format::parse(text) else {
        return;
    };
    for (name, field) in &parsed.fields {
        assert!(
            !name.is_empty()
                && !name.contains(|c: char| c.is_whitespace() || matches!(c, '*' | '[' | ';')),
            "{name:?}"
        );
        check_field_reads(raw, field);
    }
    let printed = print_format(&parsed);
    assert_eq!(format::parse(&printed), Ok(parsed), "{printed}");
}

fn check_field_reads(raw: &[u8], field: &Field) {
    let end = field
        .offset
        .checked_add(field.size)
        .expect("checked by parse");
    let inside = end <= raw.len();
    let bytes = format::read_bytes(raw, field);
    assert_eq!(bytes.is_some(), inside, "{field:?}");
    if let Some(bytes) = bytes {
        assert_eq!(bytes.len(), field.size);
    }
    let uint = format::read_uint(raw, field);
    let int = format::read_int(raw, field);
    assert_eq!(
        uint.is_some(),
        inside && matches!(field.size, 1 | 2 | 4 | 8),
        "{field:?}"
    );
    assert_eq!(int.is_some(), uint.is_some());
    if let (Some(uint), Some(int), Some(bytes)) = (uint, int, bytes) {
        assert_eq!(uint, native(bytes));
        let bits = field.size as u32 * 8;
        let mask = u64::MAX >> (64 - bits);
        assert_eq!(int as u64 & mask, uint);
        let negative = uint >> (bits - 1) & 1 == 1;
        assert_eq!(int < 0, negative, "{field:?} {uint:#x} {int}");
    }
}

/// The decoders of the kernel's own four tracepoints (Linux 6.18 layout).
fn kernel_decoders() -> &'static (Decoders, Vec<Format>) {
    static DECODERS: OnceLock<(Decoders, Vec<Format>)> = OnceLock::new();
    DECODERS.get_or_init(|| {
        let formats: Vec<Format> = kernel_formats::ALL
            .iter()
            .map(|text| format::parse(text).expect("the kernel's format"))
            .collect();
        let options: Vec<Option<Format>> = formats.iter().cloned().map(Some).collect();
        (
            Decoders::new(&options).expect("the kernel's layout"),
            formats,
        )
    })
}

fn put(raw: &mut [u8], f: &Format, name: &str, bytes: &[u8]) {
    let field = &f.fields[name];
    let place = &mut raw[field.offset..field.offset + field.size];
    place.fill(0);
    place[..bytes.len()].copy_from_slice(bytes);
}

fn v6(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// Writes `event`'s fields over `raw` with the kernel's layout; `false`
/// when the event cannot be written back (a command name longer than the
/// field once lossily decoded).
fn encode_event(event: &Event, raw: &mut [u8]) -> bool {
    let (_, formats) = kernel_decoders();
    let (state, connect, bind, exit) = (&formats[0], &formats[1], &formats[2], &formats[3]);
    let id = |f: &Format| (f.id as u16).to_ne_bytes();
    match event {
        Event::StateChange {
            old,
            new,
            sport,
            dest,
        } => {
            put(raw, state, "common_type", &id(state));
            put(raw, state, "protocol", &6u16.to_ne_bytes());
            put(raw, state, "oldstate", &(*old as i32).to_ne_bytes());
            put(raw, state, "newstate", &(*new as i32).to_ne_bytes());
            put(raw, state, "sport", &sport.to_ne_bytes());
            put(raw, state, "dport", &dest.remote_port.to_ne_bytes());
            match (dest.local, dest.remote) {
                (IpAddr::V4(l), IpAddr::V4(r)) => {
                    put(raw, state, "family", &2u16.to_ne_bytes());
                    put(raw, state, "saddr", &l.octets());
                    put(raw, state, "daddr", &r.octets());
                }
                (l, r) => {
                    put(raw, state, "family", &10u16.to_ne_bytes());
                    put(raw, state, "saddr_v6", &v6(l));
                    put(raw, state, "daddr_v6", &v6(r));
                }
            }
        }
        Event::SyscallExit { syscall, ret } => {
            let f = match syscall {
                Syscall::Connect => connect,
                Syscall::Bind => bind,
            };
            put(raw, f, "common_type", &id(f));
            put(raw, f, "ret", &ret.to_ne_bytes());
        }
        Event::Exit { comm, group_dead } => {
            if comm.len() > exit.fields["comm"].size {
                return false;
            }
            put(raw, exit, "common_type", &id(exit));
            put(raw, exit, "comm", comm.as_bytes());
            put(raw, exit, "group_dead", &[u8::from(*group_dead)]);
        }
    }
    true
}

/// A decoded tracepoint record: its values fit the fields they came from,
/// and written back over the record (or into a zeroed one) it decodes the
/// same: the decoder reads nothing but its fields.
fn check_event(raw: &[u8], event: &Event) {
    let (decoders, _) = kernel_decoders();
    match event {
        Event::StateChange { old, new, .. } => {
            assert!(i32::try_from(*old).is_ok() && i32::try_from(*new).is_ok());
        }
        Event::SyscallExit { .. } => {}
        Event::Exit { comm, .. } => {
            assert!(
                comm.chars().count() <= 16 && !comm.contains('\0'),
                "{comm:?}"
            );
        }
    }
    let mut over = raw.to_vec();
    if encode_event(event, &mut over) {
        assert_eq!(decoders.decode(&over).as_ref(), Some(event));
        let mut fresh = vec![0u8; raw.len()];
        assert!(encode_event(event, &mut fresh));
        assert_eq!(decoders.decode(&fresh).as_ref(), Some(event));
    }
    if let Event::StateChange { dest, .. } = event {
        let DestTuple { local, remote, .. } = dest;
        // IPv4-mapped IPv6 addresses are read as the IPv4 ones they are.
        for addr in [local, remote] {
            if let IpAddr::V6(a) = addr {
                assert!(a.to_ipv4_mapped().is_none(), "{a}");
            }
        }
    }
}

/// Input `TAIL (u64 LE) SPAN (u16 LE) RING…`: the ring's bytes walked from
/// TAIL to TAIL + SPAN (wrapping as the kernel's positions do). The walk
/// frees exactly up to the head, reads records only between tail and head,
/// and the records written afresh walk back the same; each sample's raw
/// record, and the ring bytes taken as one raw record, decode with the
/// kernel's tracepoint layout to events that write back to themselves.
pub fn perf_sample(data: &[u8]) {
    let Some((position, ring)) = data.split_at_checked(10) else {
        return;
    };
    let tail = u64::from_le_bytes(position[..8].try_into().unwrap());
    let span = u64::from(u16::from_le_bytes(position[8..].try_into().unwrap()));
    let (decoders, _) = kernel_decoders();
    if let Some(event) = decoders.decode(ring) {
        check_event(ring, &event);
    }
    if ring.is_empty() {
        return;
    }
    let head = tail.wrapping_add(span);
    let mut records = Vec::new();
    let freed = walk(ring, tail, head, |r| records.push(r));
    assert_eq!(freed, tail.max(head));
    let bytes: Vec<u8> = records.iter().flat_map(perf::encode).collect();
    assert!(bytes.len() as u64 <= head.saturating_sub(tail).min(ring.len() as u64));
    if !bytes.is_empty() {
        let mut again = Vec::new();
        let end = walk(&bytes, 0, bytes.len() as u64, |r| again.push(r));
        assert_eq!((again, end), (records.clone(), bytes.len() as u64));
    }
    for record in &records {
        if let Record::Sample { raw, .. } = record
            && let Some(event) = decoders.decode(raw)
        {
            check_event(raw, &event);
        }
    }
}

fn walk(ring: &[u8], tail: u64, head: u64, each: impl FnMut(Record)) -> u64 {
    let size = ring.len() as u64;
    let copy = |pos: u64, out: &mut [u8]| {
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = ring[(pos.wrapping_add(i as u64) % size) as usize];
        }
    };
    perf::walk(size, copy, tail, head, each)
}
