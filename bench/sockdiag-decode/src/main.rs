//! Decodes one real sock_diag dump two ways, from the same bytes: with
//! twtune's in-place decoder (`twtune::facts::sockets::diag::decode`, what
//! `diag::dump` calls on every receive buffer) and with
//! netlink-packet-sock-diag driven as its `dump_ipv4.rs` example drives it
//! (`NetlinkMessage::<SockDiagMessage>::deserialize` per message).
//!
//! The dump is captured once (`capture`), so both decoders see byte for byte
//! the same receive buffers from the same request; the socket and the kernel
//! are out of the timed part. Both sides hand every socket to the same
//! consumer as a `SockRecord`, which folds it into an order-sensitive
//! checksum: the run fails unless both saw the same sockets in the same order.
//!
//! Usage (bench/sockdiag-decode/run drives it inside a private namespace):
//!   sockdiag-decode capture FILE          dump IPv4 TCP TIME_WAIT into FILE
//!   sockdiag-decode time FILE RUNS        alternate full decodes, print medians
//!   sockdiag-decode once twtune|crate|none FILE   one decode (callgrind, RSS)

use std::alloc::{GlobalAlloc, Layout, System};
use std::error::Error;
use std::hint::black_box;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
use twtune::facts::sockets::{SockRecord, TcpState, diag};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Counts heap allocations only while `COUNTING` is set, so the timed runs
/// pay one relaxed load per allocation and nothing more.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
            ALLOCATED_BYTES.fetch_add(layout.size(), Relaxed);
            let live = LIVE_BYTES.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK_LIVE_BYTES.fetch_max(live, Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What a full decode saw; equal on both sides or the comparison is void.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Seen {
    sockets: u64,
    checksum: u64,
}

impl Seen {
    fn add(&mut self, record: SockRecord) {
        fn bits(ip: IpAddr) -> u128 {
            match ip {
                IpAddr::V4(v4) => u128::from(u32::from(v4)),
                IpAddr::V6(v6) => u128::from(v6),
            }
        }
        let fields = [
            u128::from(record.state.number()),
            u128::from(record.local_port),
            u128::from(record.remote_port),
            bits(record.local),
            bits(record.remote),
            u128::from(record.inode),
        ];
        for field in fields {
            self.checksum =
                (self.checksum.rotate_left(7) ^ (field as u64) ^ ((field >> 64) as u64))
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        self.sockets += 1;
    }
}

#[inline(never)]
fn decode_twtune(buffers: &[&[u8]]) -> Result<Seen> {
    let mut seen = Seen::default();
    for buf in buffers {
        if diag::decode(buf, |r| seen.add(r))? == diag::Progress::Done {
            return Ok(seen);
        }
    }
    Err("twtune: no NLMSG_DONE in the capture".into())
}

#[inline(never)]
fn decode_crate(buffers: &[&[u8]]) -> Result<Seen> {
    let mut seen = Seen::default();
    for buf in buffers {
        let mut offset = 0;
        while offset < buf.len() {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[offset..])?;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    let id = &response.header.socket_id;
                    seen.add(SockRecord {
                        state: TcpState::from_number(response.header.state),
                        local: id.source_address,
                        local_port: id.source_port,
                        remote: id.destination_address,
                        remote_port: id.destination_port,
                        bound_dev_if: id.interface_id,
                        // The crate's Timer::TimeWait drops the time left;
                        // the checksum covers neither of these two fields.
                        timer_left_ms: None,
                        inode: u64::from(response.header.inode),
                        peer_timestamps: None,
                    });
                }
                NetlinkPayload::Done(_) => return Ok(seen),
                NetlinkPayload::Error(e) => return Err(format!("crate: kernel error {e:?}").into()),
                _ => {}
            }
            let len = message.header.length as usize;
            if len == 0 {
                break;
            }
            offset += (len + 3) & !3;
        }
    }
    Err("crate: no NLMSG_DONE in the capture".into())
}

/// The request as netlink-packet-sock-diag builds it (dump_ipv4.rs, with the
/// TIME_WAIT state filter instead of every state).
fn crate_request() -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: AF_INET,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::TIME_WAIT,
            socket_id: SocketId::new_v4(),
        })
        .into(),
    );
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    buf
}

/// Sends the request and writes every receive buffer to `path` as it came:
/// a native-endian u32 length, then the bytes.
fn capture(path: &str) -> Result<()> {
    let ours = diag::encode_request(diag::AF_INET, diag::state_bit(TcpState::TimeWait), 1);
    let theirs = crate_request();
    if theirs != ours {
        return Err(
            format!("the two requests differ:\n twtune {ours:?}\n crate  {theirs:?}").into(),
        );
    }
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&ours, 0)?;
    // The receive buffer twtune's `diag::dump` uses.
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let (mut buffers, mut bytes, mut sockets) = (0usize, 0usize, 0u64);
    loop {
        let n = socket.recv(&mut &mut buf[..], 0)?;
        if n == 0 {
            return Err("socket closed before NLMSG_DONE".into());
        }
        out.write_all(&(n as u32).to_ne_bytes())?;
        out.write_all(&buf[..n])?;
        buffers += 1;
        bytes += n;
        if diag::decode(&buf[..n], |_| sockets += 1)? == diag::Progress::Done {
            break;
        }
    }
    out.flush()?;
    println!(
        "captured\t{sockets} sockets in {buffers} receive buffers, {bytes} bytes (request identical on both sides)"
    );
    Ok(())
}

fn load(data: &[u8]) -> Result<Vec<&[u8]>> {
    let mut buffers = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let len_bytes: [u8; 4] = data
            .get(at..at + 4)
            .ok_or("capture: truncated length")?
            .try_into()?;
        let len = u32::from_ne_bytes(len_bytes) as usize;
        buffers.push(
            data.get(at + 4..at + 4 + len)
                .ok_or("capture: truncated buffer")?,
        );
        at += 4 + len;
    }
    Ok(buffers)
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn counted(
    decoder: fn(&[&[u8]]) -> Result<Seen>,
    buffers: &[&[u8]],
) -> Result<(usize, usize, usize)> {
    for counter in [
        &ALLOCATIONS,
        &ALLOCATED_BYTES,
        &LIVE_BYTES,
        &PEAK_LIVE_BYTES,
    ] {
        counter.store(0, Relaxed);
    }
    COUNTING.store(true, Relaxed);
    let seen = decoder(buffers);
    COUNTING.store(false, Relaxed);
    black_box(seen?);
    Ok((
        ALLOCATIONS.load(Relaxed),
        ALLOCATED_BYTES.load(Relaxed),
        PEAK_LIVE_BYTES.load(Relaxed),
    ))
}

fn time(path: &str, runs: usize) -> Result<()> {
    let data = std::fs::read(path)?;
    let buffers = load(&data)?;
    let ours = decode_twtune(&buffers)?;
    let theirs = decode_crate(&buffers)?;
    if ours != theirs {
        return Err(format!("the decoders disagree: twtune {ours:?}, crate {theirs:?}").into());
    }
    println!("sockets\t{}", ours.sockets);
    println!("buffers\t{}", buffers.len());
    println!("bytes\t{}", buffers.iter().map(|b| b.len()).sum::<usize>());
    // Alternate, so a burst of load from the shared machine hits both.
    let (mut t_ours, mut t_theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        black_box(decode_twtune(black_box(&buffers))?);
        t_ours.push(start.elapsed().as_nanos());
        let start = Instant::now();
        black_box(decode_crate(black_box(&buffers))?);
        t_theirs.push(start.elapsed().as_nanos());
    }
    for (name, times, decoder) in [
        (
            "twtune",
            t_ours,
            decode_twtune as fn(&[&[u8]]) -> Result<Seen>,
        ),
        ("crate", t_theirs, decode_crate),
    ] {
        let min = *times.iter().min().ok_or("no runs")?;
        let max = *times.iter().max().ok_or("no runs")?;
        println!("{name}_median_ns\t{}", median(times));
        println!("{name}_min_ns\t{min}");
        println!("{name}_max_ns\t{max}");
        let (allocations, bytes, peak) = counted(decoder, &buffers)?;
        println!("{name}_allocations\t{allocations}");
        println!("{name}_allocated_bytes\t{bytes}");
        println!("{name}_peak_heap_bytes\t{peak}");
    }
    Ok(())
}

fn once(which: &str, path: &str) -> Result<()> {
    let data = std::fs::read(path)?;
    let buffers = load(&data)?;
    let seen = match which {
        "twtune" => decode_twtune(&buffers)?,
        "crate" => decode_crate(&buffers)?,
        "none" => Seen::default(),
        other => return Err(format!("unknown decoder {other}").into()),
    };
    println!("{which}\t{} sockets\t{:016x}", seen.sockets, seen.checksum);
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["capture", path] => capture(path),
        ["time", path, runs] => time(path, runs.parse()?),
        ["once", which, path] => once(which, path),
        _ => Err(
            "usage: sockdiag-decode capture FILE | time FILE RUNS | once twtune|crate|none FILE"
                .into(),
        ),
    }
}
