//! Traced `--sample` (issue 17): the kernel's tracepoints name who opens and
//! who closes connections toward a destination, and whose connect() fails.
//! Every scenario runs in private network namespaces on the real kernel,
//! with processes forked and named with prctl(PR_SET_NAME).

use std::ffi::CString;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::libc;
use serde_json::Value;

use crate::support::TWTUNE;
use crate::support::netns::*;
use crate::support::tier::Need;

/// A forked, named child; its end of the `stop` socket pair ends it when
/// dropped (the child reads EOF).
struct Child {
    pid: libc::pid_t,
    stop: Option<OwnedFd>,
}

impl Child {
    /// Closes its end of the stop pair and reaps the child; its exit status.
    fn stop(mut self) -> i32 {
        drop(self.stop.take());
        self.wait()
    }

    fn wait(&mut self) -> i32 {
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
        self.pid = 0;
        libc::WEXITSTATUS(status)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.pid > 0 {
            drop(self.stop.take());
            // SAFETY: our own child, killed and reaped once.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

fn sockaddr(addr: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(v4.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// What a forked child does. Only raw syscalls run after fork() (the test
/// process has other threads; nothing may allocate or lock).
#[derive(Clone, Copy)]
enum Work {
    /// Opens `n` connections and holds them until stopped.
    Hold(usize),
    /// connect() + close() in a loop, `pause_us` apart, until stopped or
    /// `limit` attempts; then exits.
    Churn { limit: usize, pause_us: u32 },
    /// bind() to the address given (port 0) and close() in a loop,
    /// `pause_us` apart, until stopped.
    Bind { pause_us: u32 },
}

/// Forks a child named `name` (prctl(PR_SET_NAME)) in the calling thread's
/// network namespace, doing `work` toward `to`; returns once a `Hold` child
/// says it holds all its connections.
fn spawn_named(name: &str, to: SocketAddr, work: Work) -> Child {
    let name = CString::new(name).unwrap();
    let sa = sockaddr(to);
    let mut fds = [0 as RawFd; 2];
    // A socket pair, not a pipe: the child also says through it when a
    // `Hold` has connected.
    // SAFETY: a socket pair into a two-int array.
    assert_eq!(
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        },
        0
    );
    // SAFETY: both ends are ours.
    let (child_end, parent_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child runs only async-signal-safe syscalls and _exit()s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe { child(name.as_ptr(), &sa, child_end.as_raw_fd(), work) }
    }
    drop(child_end);
    if let Work::Hold(_) = work {
        // Ready when its last connect() has returned, so the sample sees
        // none of them opened. The child's own word, not a count of
        // ESTABLISHED sockets in /proc/net/tcp: a CI run once saw 70 of a
        // pool's 200 connects traced inside the sample after that count
        // had said all 200 were there.
        let mut poll = libc::pollfd {
            fd: parent_end.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd; a bounded wait (60 s) for the child's byte.
        let ready = unsafe { libc::poll(&mut poll, 1, 60_000) };
        let mut byte = 0u8;
        // SAFETY: one byte into a local.
        let got = unsafe {
            libc::read(
                parent_end.as_raw_fd(),
                &mut byte as *mut u8 as *mut libc::c_void,
                1,
            )
        };
        assert!(
            ready == 1 && got == 1,
            "the {} child did not say it had connected (poll {ready}, read {got})",
            name.to_string_lossy()
        );
    }
    Child {
        pid,
        stop: Some(parent_end),
    }
}

unsafe fn child(name: *const libc::c_char, sa: &libc::sockaddr_in, stop: RawFd, work: Work) -> ! {
    unsafe {
        // Other tests fork at the same time: close every inherited
        // descriptor but the stop socket, or another child would hold the
        // parent's end open and this one would never see EOF.
        let stop = {
            let moved = libc::dup2(stop, 3);
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            if moved == 3 { 3 } else { libc::_exit(3) }
        };
        libc::prctl(libc::PR_SET_NAME, name, 0, 0, 0);
        let connect = || {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            let rc = libc::connect(
                fd,
                sa as *const libc::sockaddr_in as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            (fd, rc)
        };
        let mut byte = 0u8;
        match work {
            Work::Hold(n) => {
                for _ in 0..n {
                    let (_, rc) = connect();
                    if rc != 0 {
                        libc::_exit(2);
                    }
                }
                // Every connect() has returned: tell the parent.
                if libc::write(stop, &byte as *const u8 as *const libc::c_void, 1) != 1 {
                    libc::_exit(4);
                }
                // Blocks until the parent closes its end.
                libc::read(stop, &mut byte as *mut u8 as *mut libc::c_void, 1);
            }
            Work::Churn { limit, pause_us } => {
                libc::fcntl(stop, libc::F_SETFL, libc::O_NONBLOCK);
                for _ in 0..limit {
                    if libc::read(stop, &mut byte as *mut u8 as *mut libc::c_void, 1) == 0 {
                        break;
                    }
                    let (fd, _) = connect();
                    libc::close(fd);
                    if pause_us > 0 {
                        libc::usleep(pause_us);
                    }
                }
            }
            Work::Bind { pause_us } => {
                libc::fcntl(stop, libc::F_SETFL, libc::O_NONBLOCK);
                while libc::read(stop, &mut byte as *mut u8 as *mut libc::c_void, 1) != 0 {
                    let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                    libc::bind(
                        fd,
                        sa as *const libc::sockaddr_in as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    );
                    libc::close(fd);
                    libc::usleep(pause_us);
                }
            }
        }
        libc::_exit(0)
    }
}

/// Accepts on `listener` and closes each connection once its client has:
/// clients close first, so their side ends in TIME_WAIT. Runs until the
/// flag is set.
fn serve(listener: TcpListener) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        let mut buf = [0u8; 64];
        while !flag.load(Ordering::Relaxed) {
            while let Ok((s, _)) = listener.accept() {
                s.set_nonblocking(true).unwrap();
                open.push(s);
            }
            open.retain_mut(|s| {
                matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    done
}

fn run_json(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run twtune");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn sampled_check(sample: &str) -> Command {
    let mut cmd = Command::new(TWTUNE);
    cmd.args(["check", "--format", "json", "--sample", sample]);
    cmd
}

fn creator<'a>(d: &'a Value, command: &str) -> Option<&'a Value> {
    d["creators"]
        .as_array()?
        .iter()
        .find(|c| c["command"] == command)
}

#[test]
fn the_churner_beside_a_pool_is_the_traced_creator() {
    needs!(Need::Root);
    const SERVER: &str = "127.0.0.9:8090";
    let (report, pool_pid, churner_pid) = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 49999");
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let done = serve(TcpListener::bind(addr(SERVER)).unwrap());
        let pool = spawn_named("pool", addr(SERVER), Work::Hold(200));
        let churner = spawn_named(
            "churner",
            addr(SERVER),
            Work::Churn {
                limit: usize::MAX,
                pause_us: 2000,
            },
        );
        let report = run_json(&mut sampled_check("2s"));
        let ids = (pool.pid as u32, churner.pid as u32);
        assert_eq!(churner.stop(), 0);
        assert_eq!(pool.stop(), 0);
        done.store(true, Ordering::Relaxed);
        (report, ids.0, ids.1)
    });
    crate::json_schema::assert_valid("check", &report, "a traced check");
    let facts = &report["facts"];
    let sockets = &facts["sockets"];
    assert_eq!(
        sockets["tracing"]["status"], "traced",
        "{}",
        sockets["tracing"]
    );
    let d = destination(facts, SERVER).unwrap_or_else(|| panic!("{sockets}"));
    assert_eq!(d["attribution"], "traced", "{d}");
    // The listing's inference names the pool: it holds the live connections.
    assert_eq!(d["processes"][0]["pid"], pool_pid, "{d}");
    assert_eq!(d["processes"][0]["command"], "pool", "{d}");
    // The trace names the churner: it opened and closed first.
    let top = &d["creators"][0];
    assert_eq!(top["pid"], churner_pid, "{d}");
    assert_eq!(top["command"], "churner", "{d}");
    assert_eq!(top["exited"], false, "{d}");
    let closes = top["active_closes"].as_u64().unwrap();
    let connects = top["connects"].as_u64().unwrap();
    assert!(closes > 0 && connects > 0, "{d}");
    // The pool opened nothing during the sample (its connects had all
    // returned before twtune started) and closed nothing.
    assert!(
        creator(d, "pool").is_none_or(|p| p["active_closes"] == 0 && p["connects"] == 0),
        "{d}"
    );
    // The destination's rate is the traced connects over the traced window.
    let secs = sockets["tracing"]["duration_seconds"].as_f64().unwrap();
    let rate = d["new_per_second"].as_f64().unwrap();
    assert!(
        (rate - connects as f64 / secs).abs() <= 0.1 * rate + 1.0,
        "{rate} vs {connects} in {secs}"
    );
    assert!(sockets["tracing"]["events"].as_u64().unwrap() >= connects + closes);
}

/// Issue 18 §6: two findings for one destination name one creator. A pool
/// holds live connections and a churner beside it fills a narrow range
/// with TIME_WAIT, tcp_tw_reuse=0: the reuse finding and the destination's
/// both name the churner, traced, never the pool.
#[test]
fn both_port_findings_of_a_destination_name_the_traced_churner() {
    needs!(Need::Root);
    const SERVER: &str = "127.0.0.13:8096";
    const PORTS: usize = 2000;
    let (report, churner_pid) = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 41999");
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let done = serve(TcpListener::bind(addr(SERVER)).unwrap());
        let pool = spawn_named("pool", addr(SERVER), Work::Hold(100));
        let churner = spawn_named(
            "churner",
            addr(SERVER),
            Work::Churn {
                limit: usize::MAX,
                pause_us: 500,
            },
        );
        // Past the warning ratio before the sample: over half the range
        // in TIME_WAIT.
        wait_until("the churner's TIME_WAIT", || {
            client_sockets(8096, "06") > PORTS * 6 / 10
        });
        let report = run_json(&mut sampled_check("1s"));
        let pid = churner.pid as u32;
        assert_eq!(churner.stop(), 0);
        assert_eq!(pool.stop(), 0);
        done.store(true, Ordering::Relaxed);
        (report, pid)
    });
    crate::json_schema::assert_valid("check", &report, "a traced check");
    let d = destination(&report["facts"], SERVER)
        .unwrap_or_else(|| panic!("{}", report["facts"]["sockets"]));
    assert_eq!(d["processes"][0]["command"], "pool", "{d}");
    let top = &d["top_creator"];
    assert_eq!(top["pid"], churner_pid, "{d}");
    assert_eq!(top["command"], "churner", "{d}");
    assert_eq!(top["attribution"], "traced", "{d}");
    let named = format!("top creator pid {churner_pid} (churner) (traced)");
    for rule in [
        "tcp-tw-reuse-outbound-pressure",
        "ephemeral-ports-exhausted-toward-destination",
    ] {
        let found: Vec<&Value> = findings(&report, rule)
            .into_iter()
            .filter(|f| f["summary"].as_str().unwrap().contains(SERVER))
            .collect();
        assert_eq!(found.len(), 1, "{rule}: {}", report["findings"]);
        let f = found[0];
        assert!(
            f["summary"].as_str().unwrap().ends_with(&named),
            "{rule}: {}",
            f["summary"]
        );
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("Creator (traced): pid {churner_pid} (churner), ")),
            "{rule}: {message}"
        );
        assert!(!message.contains("(pool)"), "{rule}: {message}");
    }
}

/// bind() to port 0 into a range every port of which a listener holds:
/// each call fails with EADDRINUSE. No client socket holds a port, so the
/// ratio says nothing; the traced failures raise the host-wide finding,
/// quoted with their process.
#[test]
fn traced_bind_failures_in_an_exhausted_range_raise_the_host_wide_finding() {
    needs!(Need::Root);
    let (report, pid) = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40009");
        let listeners: Vec<TcpListener> = (40000..=40009)
            .map(|port| TcpListener::bind(("127.0.0.1", port)).unwrap())
            .collect();
        let binder = spawn_named("binder", addr("0.0.0.0:0"), Work::Bind { pause_us: 1000 });
        let report = run_json(&mut sampled_check("1s"));
        let pid = binder.pid as u32;
        assert_eq!(binder.stop(), 0);
        drop(listeners);
        (report, pid)
    });
    crate::json_schema::assert_valid("check", &report, "a check with bind failures");
    let sockets = &report["facts"]["sockets"];
    assert_eq!(
        sockets["tracing"]["status"], "traced",
        "{}",
        sockets["tracing"]
    );
    let f = sockets["connect_failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["pid"] == pid)
        .unwrap_or_else(|| panic!("{sockets}"));
    assert_eq!(f["command"], "binder", "{f}");
    assert_eq!(f["syscall"], "bind", "{f}");
    assert_eq!(f["errno"], "EADDRINUSE", "{f}");
    assert_eq!(f["destination"], Value::Null, "{f}");
    let count = f["count"].as_u64().unwrap();
    assert!(count > 0, "{f}");
    assert_eq!(
        sockets["host_ports"]["ratio_with_time_wait"], 0.0,
        "{sockets}"
    );
    let found = findings(&report, "ephemeral-ports-host-wide");
    assert_eq!(found.len(), 1, "{}", report["findings"]);
    let severity = found[0]["severity"].as_str().unwrap();
    assert!(matches!(severity, "warning" | "critical"), "{severity}");
    let quoted = format!("{count} bind() calls failed with EADDRINUSE in ");
    let evidence = found[0]["evidence"].as_array().unwrap();
    assert!(
        evidence.iter().any(|e| {
            let e = e.as_str().unwrap();
            e.contains(&quoted) && e.contains(&format!(" s, pid {pid} binder"))
        }),
        "{evidence:?}"
    );
    assert!(
        found[0]["summary"]
            .as_str()
            .unwrap()
            .contains("bind() calls failed with EADDRINUSE"),
        "{}",
        found[0]["summary"]
    );
}

#[test]
fn a_churner_that_exits_inside_the_window_is_still_named() {
    needs!(Need::Root);
    const SERVER: &str = "127.0.0.10:8091";
    const MADE: usize = 150;
    let (report, pid) = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 49999");
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let done = serve(TcpListener::bind(addr(SERVER)).unwrap());
        let ready = tempfile::tempdir().unwrap();
        let flag = ready.path().join("tracing");
        let twtune = sampled_check("3s")
            .env("TWTUNE_TEST_SAMPLE_STARTED", &flag)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_until("twtune to start its sample", || flag.exists());
        let mut churner = spawn_named(
            "shortlived",
            addr(SERVER),
            Work::Churn {
                limit: MADE,
                pause_us: 0,
            },
        );
        let pid = churner.pid as u32;
        assert_eq!(churner.wait(), 0);
        let out = twtune.wait_with_output().unwrap();
        done.store(true, Ordering::Relaxed);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (report, pid)
    });
    let d = destination(&report["facts"], SERVER)
        .unwrap_or_else(|| panic!("{}", report["facts"]["sockets"]));
    let c = creator(d, "shortlived").unwrap_or_else(|| panic!("{d}"));
    assert_eq!(c["pid"], pid, "{d}");
    assert_eq!(c["exited"], true, "{d}");
    assert_eq!(c["connects"], MADE, "{d}");
    assert_eq!(c["active_closes"], MADE, "{d}");
    assert_eq!(report["facts"]["sockets"]["tracing"]["lost_events"], 0);
}

/// Polls `done` until true: the condition, never a fixed sleep, decides.
fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_until_saying(what, done, String::new);
}

/// [`wait_until`], whose failure also says what `seen` reads then.
fn wait_until_saying(what: &str, mut done: impl FnMut() -> bool, seen: impl Fn() -> String) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "gave up waiting for {what}{}",
            seen()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A client with tcp_tw_reuse=1 churning into a 10-port range toward a peer
/// that does not do timestamps (tcp_timestamps=0 in its namespace): no
/// TIME_WAIT can be reused, so connect() fails with EADDRNOTAVAIL.
#[test]
fn connect_failures_toward_a_peer_without_timestamps_are_counted_and_raise_the_finding() {
    needs!(Need::Root);
    let client = NamedNs::new("tfc");
    let server = NamedNs::new("tfs");
    veth(&client, "c0", "192.0.2.2/24", &server, "s0", "192.0.2.3/24");
    const SERVER: &str = "192.0.2.3:8095";
    let done = server
        .run(|| {
            write_ns_sysctl("net.ipv4.tcp_timestamps", "0");
            serve(TcpListener::bind(addr(SERVER)).unwrap())
        })
        .join()
        .unwrap();
    let (report, pid, metrics) = client
        .run(|| {
            write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40009");
            write_ns_sysctl("net.ipv4.tcp_tw_reuse", "1");
            // One live connection the whole time, so the listing can tell
            // the peer's timestamps (tcp_info) whatever the churn leaves.
            let holder = spawn_named("holder", addr(SERVER), Work::Hold(1));
            let failer = spawn_named(
                "failer",
                addr(SERVER),
                Work::Churn {
                    limit: usize::MAX,
                    pause_us: 1000,
                },
            );
            let report = run_json(&mut sampled_check("2s"));
            // The same failures as metrics: the one family with samples
            // only when failures were traced.
            let metrics = Command::new(TWTUNE)
                .args(["check", "--format", "prometheus", "--sample", "1s"])
                .output()
                .unwrap();
            let pid = failer.pid as u32;
            assert_eq!(failer.stop(), 0);
            assert_eq!(holder.stop(), 0);
            (report, pid, metrics)
        })
        .join()
        .unwrap();
    done.store(true, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        [0, 2].contains(&metrics.status.code().unwrap_or(-1)),
        "{}",
        String::from_utf8_lossy(&metrics.stderr)
    );
    assert!(
        text.contains(
            "\ntwtune_connect_failures_total{errno=\"EADDRNOTAVAIL\",command=\"failer\"} "
        ),
        "{text}"
    );
    crate::prometheus::assert_promtool_accepts("traced connect failures", &text);
    crate::json_schema::assert_valid("check", &report, "a check with connect failures");
    let sockets = &report["facts"]["sockets"];
    let failures = sockets["connect_failures"].as_array().unwrap();
    let f = failures
        .iter()
        .find(|f| f["pid"] == pid)
        .unwrap_or_else(|| panic!("{sockets}"));
    assert_eq!(f["command"], "failer", "{f}");
    assert_eq!(f["errno"], "EADDRNOTAVAIL", "{f}");
    assert_eq!(f["syscall"], "connect", "{f}");
    assert_eq!(f["destination"], SERVER, "{f}");
    let count = f["count"].as_u64().unwrap();
    assert!(count > 0, "{f}");
    let d = destination(&report["facts"], SERVER).unwrap_or_else(|| panic!("{sockets}"));
    assert_eq!(d["connect_failures"][0]["count"], count, "{d}");
    // The peer does not send timestamps, and the live connection says so.
    assert_eq!(d["peer_timestamps"], false, "{d}");
    let found = findings(&report, "ephemeral-ports-exhausted-toward-destination");
    assert_eq!(found.len(), 1, "{}", report["findings"]);
    let severity = found[0]["severity"].as_str().unwrap();
    assert!(matches!(severity, "warning" | "critical"), "{severity}");
    let quoted = format!("{count} connect() calls failed with EADDRNOTAVAIL in ");
    assert!(
        found[0]["evidence"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .unwrap()
            .contains(&quoted)
            && e.as_str().unwrap().contains(&format!("pid {pid} failer"))),
        "{}",
        found[0]["evidence"]
    );
}

/// The same hot destination checked as root (traced) and as nobody
/// (tracing unavailable): inferred creators, the same severities.
#[test]
fn a_non_root_sample_falls_back_to_inference_with_the_same_severity() {
    needs!(Need::Root);
    use std::os::unix::process::CommandExt;
    const SERVER: &str = "127.0.0.11:8092";
    let (root, nobody) = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40999");
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let listener = TcpListener::bind(addr(SERVER)).unwrap();
        make_time_wait(&listener, 700, true);
        let root = run_json(&mut sampled_check("1s"));
        let nobody = run_json(sampled_check("1s").uid(65534).gid(65534));
        (root, nobody)
    });
    let tracing = &nobody["facts"]["sockets"]["tracing"];
    assert_eq!(tracing["status"], "unavailable", "{tracing}");
    assert!(
        tracing["reason"].as_str().unwrap().contains("ermi"),
        "{tracing}"
    );
    assert_eq!(root["facts"]["sockets"]["tracing"]["status"], "traced");
    let d = destination(&nobody["facts"], SERVER).unwrap();
    assert_eq!(d["attribution"], "inferred", "{d}");
    let severities = |doc: &Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(
        severities(&root)
            .iter()
            .any(|(r, _)| r == "ephemeral-ports-exhausted-toward-destination"),
        "{}",
        root["findings"]
    );
    assert_eq!(severities(&root), severities(&nobody));
}

/// tracefs is mounted only inside a private mount namespace of twtune's
/// own thread: after a traced run the host's mount table has no new
/// tracefs mount.
#[test]
fn a_traced_run_leaves_the_host_mount_table_as_it_was() {
    needs!(Need::Root);
    let tracefs = || -> Vec<String> {
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap()
            .lines()
            .filter(|l| l.contains("tracefs") || l.contains("/sys/kernel/tracing"))
            .map(String::from)
            .collect()
    };
    let before = tracefs();
    let report = in_private_netns(|| run_json(&mut sampled_check("200ms")));
    assert_eq!(
        report["facts"]["sockets"]["tracing"]["status"], "traced",
        "{}",
        report["facts"]["sockets"]["tracing"]
    );
    // `facts --sample` traces the same way.
    let facts = in_private_netns(|| {
        run_json(Command::new(TWTUNE).args(["facts", "--format", "json", "--sample", "200ms"]))
    });
    assert_eq!(
        facts["facts"]["sockets"]["tracing"]["status"], "traced",
        "{}",
        facts["facts"]["sockets"]["tracing"]
    );
    assert_eq!(tracefs(), before);
}

/// Client sockets toward `port` in `state` (hex, as /proc/net/tcp has it) in
/// the calling thread's namespace.
fn client_sockets(port: u16, state: &str) -> usize {
    let table = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap();
    let remote_port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() > 3 && fields[2].ends_with(&remote_port) && fields[3] == state
        })
        .count()
}

/// Untraced (tracing off through the test hook, as when perf is refused),
/// TIME_WAIT whose 4-tuple was ESTABLISHED with a known owner at the start
/// of the sample is that owner's.
#[test]
fn untraced_time_wait_is_inferred_from_the_owner_of_its_established_connection() {
    needs!(Need::Root);
    const SERVER: &str = "127.0.0.12:8093";
    const HELD: usize = 40;
    let (report, pid, time_wait) = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 49999");
        write_ns_sysctl("net.ipv4.tcp_tw_reuse", "0");
        let done = serve(TcpListener::bind(addr(SERVER)).unwrap());
        let closer = spawn_named("closer", addr(SERVER), Work::Hold(HELD));
        let pid = closer.pid as u32;
        let ready = tempfile::tempdir().unwrap();
        let flag = ready.path().join("sampling");
        let mut twtune = sampled_check("3s")
            .env("TWTUNE_TEST_NO_TRACE", "1")
            .env("TWTUNE_TEST_SAMPLE_STARTED", &flag)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_until("twtune to start its sample", || flag.exists());
        // Exiting closes its connections, client first.
        assert_eq!(closer.stop(), 0);
        // Every client socket closed: in TIME_WAIT, or gone where the
        // kernel ended one without it (a reset under memory pressure). The
        // inference is then asked to name exactly the TIME_WAIT there is.
        let still_closing = || {
            ["01", "04", "05", "07", "08", "0B"]
                .iter()
                .map(|state| (*state, client_sockets(8093, state)))
                .filter(|(_, n)| *n > 0)
                .collect::<Vec<_>>()
        };
        wait_until_saying(
            "the closer's sockets to close",
            || still_closing().is_empty(),
            || {
                format!(
                    ": still {:?} (state, count), {} in TIME_WAIT",
                    still_closing(),
                    client_sockets(8093, "06")
                )
            },
        );
        let time_wait = client_sockets(8093, "06");
        assert!(time_wait > 0, "no TIME_WAIT left by {HELD} closes");
        assert!(
            twtune.try_wait().unwrap().is_none(),
            "the sample ended before the TIME_WAIT was there"
        );
        let out = twtune.wait_with_output().unwrap();
        done.store(true, Ordering::Relaxed);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (report, pid, time_wait)
    });
    let sockets = &report["facts"]["sockets"];
    assert_eq!(
        sockets["tracing"]["status"], "unavailable",
        "{}",
        sockets["tracing"]
    );
    let d = destination(&report["facts"], SERVER).unwrap_or_else(|| panic!("{sockets}"));
    assert_eq!(d["attribution"], "inferred", "{d}");
    assert!(
        d["attribution_method"]
            .as_str()
            .unwrap()
            .contains("ESTABLISHED with a known owner in the first listing"),
        "{d}"
    );
    let top = &d["creators"][0];
    assert_eq!(top["pid"], pid, "{d}");
    assert_eq!(top["command"], "closer", "{d}");
    assert_eq!(top["active_closes"], time_wait, "{d}");
    assert_eq!(top["connects"], Value::Null, "{d}");
    // Nobody holds a live connection to it any more: the old inference
    // would have named no one.
    assert_eq!(d["processes"], serde_json::json!([]), "{d}");
}
