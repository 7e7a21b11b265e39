//! `twtune serve --listen ADDR`: the Prometheus exposition over HTTP, for
//! clusters without node_exporter's textfile collector.
//!
//! One thread answers requests one at a time (tiny_http reads each request
//! on its own worker first, so a slow client holds no check up). /metrics
//! runs a check as a child process — `twtune check --format prometheus`,
//! the same exposition as the textfile — or serves the last one while it is
//! younger than `--max-age`; a check past `--check-timeout` is killed and
//! served as a failed one. The child keeps every namespace change out of
//! the server and a stuck check from stopping it. Nothing here writes: no
//! apply, no textfile.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tiny_http::{Header, Method, Request, Response, Server};
use twtune::cli::{Cli, ServeArgs};
use twtune::exit_code::Exit;
use twtune::facts::Source;
use twtune::render::prometheus;

/// The longest request target answered (the paths served are short).
const MAX_TARGET: usize = 1024;
/// The most bytes of a check's exposition kept (a hundred pods with five
/// destinations each is well under a MiB).
const MAX_EXPOSITION: u64 = 16 * 1024 * 1024;
/// How often the server looks for SIGTERM while idle.
const POLL: Duration = Duration::from_millis(200);

struct Cached {
    at: Instant,
    text: String,
}

pub fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<Exit> {
    let signals = super::every::block_termination()?;
    let server = Server::http(args.listen)
        .map_err(|e| anyhow::anyhow!("listening on {}: {e}", args.listen))?;
    eprintln!("twtune: serving /metrics and /healthz on {}", args.listen);
    let mut cache: Option<Cached> = None;
    loop {
        if super::every::wait_for_termination(&signals, Duration::ZERO)? {
            return Ok(Exit::Compliant);
        }
        let request = match server.recv_timeout(POLL) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(e) => return Err(e).context("accepting a request"),
        };
        answer(cli, args, request, &mut cache);
    }
}

fn answer(cli: &Cli, args: &ServeArgs, mut request: Request, cache: &mut Option<Cached>) {
    let text_plain = |body: &str, code: u16| {
        Response::from_string(body)
            .with_status_code(code)
            .with_header(header("Content-Type", "text/plain; charset=utf-8"))
    };
    let response = if request.url().len() > MAX_TARGET {
        text_plain("request target too long\n", 414)
    } else if request.body_length().unwrap_or(0) > 0
        || request.as_reader().take(1).read(&mut [0u8; 1]).unwrap_or(0) > 0
    {
        text_plain("requests carry no body here\n", 413)
    } else if !matches!(request.method(), Method::Get | Method::Head) {
        text_plain("only GET and HEAD\n", 405).with_header(header("Allow", "GET, HEAD"))
    } else {
        match request.url().split('?').next().unwrap_or("") {
            "/healthz" => text_plain("ok\n", 200),
            "/metrics" => {
                let fresh = cache
                    .as_ref()
                    .is_some_and(|c| c.at.elapsed() < args.max_age);
                if !fresh {
                    *cache = Some(Cached {
                        text: run_check(cli, args),
                        at: Instant::now(),
                    });
                }
                let text = cache.as_ref().map_or("", |c| c.text.as_str());
                Response::from_string(text).with_header(header(
                    "Content-Type",
                    "text/plain; version=0.0.4; charset=utf-8",
                ))
            }
            _ => text_plain("not found: /metrics and /healthz only\n", 404),
        }
    };
    // A client that went away is no error of the server's.
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// One check as a child process; its exposition, or a failed check's.
fn run_check(cli: &Cli, args: &ServeArgs) -> String {
    let started = std::time::Instant::now();
    match child_check(cli, args) {
        Ok(text) => text,
        Err(err) => {
            eprintln!(
                "twtune: error: {}",
                twtune::render::escape::message(&format!("{err:#}"))
            );
            prometheus::failure(&prometheus::FailureMetrics {
                kernel_release: None,
                checked_at: super::metrics::now(),
                duration_seconds: started.elapsed().as_secs_f64(),
                apply_interrupted: super::metrics::apply_interrupted(cli),
            })
        }
    }
}

fn child_check(cli: &Cli, args: &ServeArgs) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("finding twtune's own binary")?;
    let mut command = Command::new(exe);
    // The child reads what the server was asked to read.
    match super::pipeline::source(cli) {
        Source::Tree(dir) => {
            command.arg("--root").arg(dir);
        }
        Source::Live { config: Some(dir) } => {
            command.arg("--config-root").arg(dir);
        }
        Source::Live { config: None } => {}
    }
    for dir in &cli.rules_dirs {
        command.arg("--rules").arg(dir);
    }
    command
        .args(["--format", "prometheus", "check", "--top-destinations"])
        .arg(args.top_destinations.to_string());
    if args.all_netns {
        command.arg("--all-netns");
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting a check")?;
    let stdout = child.stdout.take().context("the check's output")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let read = stdout.take(MAX_EXPOSITION).read_to_string(&mut text);
        read.map(|_| text)
    });
    let deadline = Instant::now() + args.check_timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "the check took longer than --check-timeout {}",
                humantime::format_duration(args.check_timeout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading the check's output failed"))?
        .context("reading the check's output")?;
    match status.code() {
        Some(0 | 2) => Ok(text),
        _ => anyhow::bail!("the check failed ({status})"),
    }
}
