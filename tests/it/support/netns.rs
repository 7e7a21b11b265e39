//! Namespace helpers for the integration tests that need a real kernel.
//!
//! Nothing here may touch the host's own network settings: sockets and
//! sysctl writes happen only inside network namespaces these helpers create,
//! and every write first checks it is not in the namespace the tests started in. The tests run
//! as root in CI; a test using these helpers says `needs!(Need::Root)` first
//! (`super::tier`), and the helpers fail one that did not.
#![allow(dead_code)]

use std::fs::File;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{CloneFlags, setns, unshare};
use serde_json::Value;

use super::TWTUNE;
use super::tier::{Need, require};

/// What a helper that makes namespaces says when the test did not declare
/// `needs!(Need::Root)` and runs without it.
pub const ROOT_HELPER: &str =
    "this test makes private network namespaces: its needs! must name Need::Root";

fn ns_inode(path: &str) -> std::io::Result<std::path::PathBuf> {
    std::fs::read_link(path)
}

/// Panics unless the calling thread is in a network namespace other than the
/// test process's main thread: the guard in front of every sysctl write.
/// The helpers below never move the main thread, so its namespace is the one
/// the tests were started in.
pub fn assert_private_netns() {
    let mine = ns_inode("/proc/thread-self/ns/net").expect("read /proc/thread-self/ns/net");
    let start = ns_inode("/proc/self/ns/net").expect("read /proc/self/ns/net");
    assert_ne!(
        mine, start,
        "refusing to touch the namespace the tests started in"
    );
}

/// Fails the test with a clear message when a tool is missing (a test names
/// the tools it drives in its `needs!`, which skips it without them outside
/// CI; the helpers check again for the tools they run themselves).
pub fn require_tool(tool: &'static str, package: &str) {
    require(Need::Tool(tool), &format!("apt-get install -y {package}"));
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `body` on a fresh thread moved into a new, private network namespace
/// with `lo` up. Namespaces are per thread, so the test harness's threads and
/// the host stay where they were; children spawned from that thread (twtune,
/// `ip`) inherit the namespace.
pub fn in_private_netns<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    require(Need::Root, ROOT_HELPER);
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| {
            panic!("unshare(CLONE_NEWNET) failed: {e}; these tests need root (CAP_SYS_ADMIN)")
        });
        assert_private_netns();
        require_tool("ip", "iproute2");
        run_ok(Command::new("ip").args(["link", "set", "lo", "up"]));
        body()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Writes a sysctl of the calling thread's (private) namespace.
pub fn write_ns_sysctl(key: &str, value: &str) {
    assert_private_netns();
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// Runs the built twtune from the calling thread and parses its JSON output.
pub fn twtune_json(args: &[&str]) -> (Value, i32) {
    let out = Command::new(TWTUNE)
        .args(args)
        .output()
        .expect("run twtune");
    parse_output(out)
}

fn parse_output(out: Output) -> (Value, i32) {
    let code = out.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "twtune did not print JSON ({e}), exit {code}: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (json, code)
}

/// `twtune check --format json` in the calling thread's namespace: the whole
/// report (`findings`, `facts`, …).
pub fn check() -> Value {
    let (doc, code) = twtune_json(&["check", "--format", "json"]);
    assert!(code == 0 || code == 2, "twtune check exited {code}: {doc}");
    doc
}

/// The facts of the calling thread's namespace.
pub fn facts() -> Value {
    check()["facts"].clone()
}

/// The findings of one rule in a check report.
pub fn findings<'a>(doc: &'a Value, rule: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .map(|all| all.iter().filter(|f| f["rule"] == rule).collect())
        .unwrap_or_default()
}

/// One accepted connection pair on loopback.
pub struct Pair {
    pub client: TcpStream,
    pub server: TcpStream,
}

pub fn connect_pair(listener: &TcpListener) -> std::io::Result<Pair> {
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok(Pair { client, server })
}

/// `count` server-side sockets in CLOSE_WAIT: each peer closes, this process
/// keeps its end open. Returned so the caller holds them while it looks,
/// each once its peer's FIN has landed (a read returns end of file; the
/// socket stays in CLOSE_WAIT until it is closed).
pub fn hold_close_wait(listener: &TcpListener, count: usize) -> Vec<TcpStream> {
    use std::io::Read;
    (0..count)
        .map(|_| {
            let pair = connect_pair(listener).unwrap();
            drop(pair.client);
            let mut server = pair.server;
            server
                .set_read_timeout(Some(std::time::Duration::from_secs(60)))
                .unwrap();
            let read = server.read(&mut [0u8; 16]);
            assert!(
                matches!(read, Ok(0)),
                "the peer's FIN, not {read:?}, on a connection CLOSE_WAIT needs"
            );
            server
        })
        .collect()
}

/// Closes `first`, waits until `second` sees the FIN, then closes `second`:
/// `first`'s side ends in TIME_WAIT.
pub fn close_in_order(first: TcpStream, second: TcpStream) {
    use std::io::Read;
    drop(first);
    let mut second = second;
    let mut buf = [0u8; 16];
    // read() returns 0 once the peer's FIN arrived; on loopback that is immediate.
    let _ = second.read(&mut buf);
    let _ = second.shutdown(Shutdown::Both);
    drop(second);
}

/// Makes `n` connections to `listener` and leaves `n` TIME_WAIT sockets on
/// the side that closes first.
pub fn make_time_wait(listener: &TcpListener, n: usize, client_closes_first: bool) {
    for _ in 0..n {
        let pair = connect_pair(listener).expect("connect on loopback");
        if client_closes_first {
            close_in_order(pair.client, pair.server);
        } else {
            close_in_order(pair.server, pair.client);
        }
    }
}

/// The destination entry for `remote`, if twtune reported one.
pub fn destination<'a>(facts: &'a Value, remote: &str) -> Option<&'a Value> {
    facts["sockets"]["destinations"]
        .as_array()?
        .iter()
        .find(|d| d["remote"] == remote)
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A named namespace (`ip netns add`), deleted on drop, for topologies of
/// several namespaces. Names carry the pid and a counter so parallel tests
/// and runs never collide.
pub struct NamedNs {
    pub name: String,
}

impl NamedNs {
    pub fn new(role: &str) -> NamedNs {
        require(Need::Root, ROOT_HELPER);
        require_tool("ip", "iproute2");
        let name = format!(
            "twt{}-{}-{role}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = NamedNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace; panics on failure.
    pub fn exec(&self, args: &[&str]) -> Output {
        run_ok(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(args),
        )
    }

    pub fn ip(&self, args: &[&str]) -> Output {
        run_ok(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// twtune's JSON facts as seen from inside the namespace.
    pub fn facts(&self) -> Value {
        self.check()["facts"].clone()
    }

    /// twtune's check report as seen from inside the namespace.
    pub fn check(&self) -> Value {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &self.name, TWTUNE, "check", "--format", "json",
            ])
            .output()
            .expect("run twtune in namespace");
        parse_output(out).0
    }

    /// Runs `body` on a thread that has joined this namespace.
    pub fn run<T: Send + 'static>(
        &self,
        body: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = Path::new("/var/run/netns").join(&self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns into test namespace");
            assert_private_netns();
            body()
        })
    }
}

impl Drop for NamedNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Joins two namespaces with a veth pair and addresses each end.
pub fn veth(a: &NamedNs, a_if: &str, a_addr: &str, b: &NamedNs, b_if: &str, b_addr: &str) {
    a.ip(&[
        "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name,
    ]);
    a.ip(&["addr", "add", a_addr, "dev", a_if]);
    b.ip(&["addr", "add", b_addr, "dev", b_if]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// Three namespaces, client 192.0.2.2 → router → server 198.51.100.2
/// (documentation ranges, RFC 5737), the router forwarding and source-NATing
/// what leaves toward the server with nftables `rule` (a postrouting
/// statement after `oifname rs`, such as `masquerade`). Named `PREFIX-client`,
/// `PREFIX-router`, `PREFIX-server`; returned in that order.
pub fn masquerading_router(prefix: &str, rule: &str) -> (NamedNs, NamedNs, NamedNs) {
    require_tool("nft", "nftables");
    let client = NamedNs::new(&format!("{prefix}client"));
    let router = NamedNs::new(&format!("{prefix}router"));
    let server = NamedNs::new(&format!("{prefix}server"));
    veth(&client, "c0", "192.0.2.2/24", &router, "rc", "192.0.2.1/24");
    veth(
        &router,
        "rs",
        "198.51.100.1/24",
        &server,
        "s0",
        "198.51.100.2/24",
    );
    client.ip(&["route", "add", "default", "via", "192.0.2.1"]);
    router.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    router.exec(&["nft", "add table ip nat"]);
    router.exec(&[
        "nft",
        "add chain ip nat post { type nat hook postrouting priority 100 ; }",
    ]);
    router.exec(&["nft", &format!("add rule ip nat post oifname rs {rule}")]);
    (client, router, server)
}

pub fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

/// A server in `ns` on `address` that reads each connection to its end and
/// then closes, so the client closes first and keeps the TIME_WAIT.
pub fn serve_until_eof(ns: &NamedNs, address: &'static str) {
    let (ready, wait) = std::sync::mpsc::channel();
    let _server = ns.run(move || {
        use std::io::Read;
        let listener = TcpListener::bind(addr(address)).unwrap();
        // The client makes 150 connections faster than a loaded machine may
        // schedule this thread: std's backlog of 128 would overflow, and the
        // connections dropped from the accept queue end without TIME_WAIT.
        nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(1024).unwrap()).unwrap();
        ready.send(()).unwrap();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 16];
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        }
    });
    wait.recv().unwrap();
}

/// A check run in the calling thread's namespace (`run`, whose outcome holds
/// the JSON report `report_of` finds), repeated until
/// every connection made toward `remote` has settled into TIME_WAIT (none
/// established or closing) and all of them are older than the reuse delay:
/// the condition the test needs, not a guess at how long it takes. There are
/// at most `made` of them: toward a peer that sends timestamps, a connect()
/// of the churn itself may take over one aged meanwhile (a loaded machine
/// makes the churn outlast the 1 s delay).
pub fn time_wait_aged_toward<T>(
    remote: &str,
    made: u64,
    mut run: impl FnMut() -> T,
    report_of: impl Fn(&T) -> &Value,
) -> T {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let outcome = run();
        let report = report_of(&outcome);
        if let Some(d) = destination(&report["facts"], remote)
            && d["established"] == 0
            && d["other"] == 0
            && d["time_wait"].as_u64().is_some_and(|n| n > 0 && n <= made)
            && d["time_wait_aged"] == d["time_wait"]
        {
            return outcome;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "TIME_WAIT toward {remote} never all aged: {}",
            report["facts"]["sockets"]
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
