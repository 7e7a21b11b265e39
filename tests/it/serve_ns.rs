//! `twtune serve --listen ADDR`, scraped for real: curl and promtool against
//! a server in a private network namespace (its port and the namespace it
//! checks are the test's alone).

use std::process::{Command, Stdio};

use crate::pods_ns::promtool_complaints;
use crate::support::netns::{in_private_netns, require_tool};
use crate::support::sandbox::wait_for;
use crate::support::tier::Need;
use crate::support::{TWTUNE, stderr};

const ADDR: &str = "127.0.0.1:9847";

/// curl's status code and body for `method` on `path`.
fn curl(method: &str, path: &str, body: Option<&str>) -> (String, String) {
    let mut command = Command::new("curl");
    command
        .args(["-s", "-X", method, "-w", "\n%{http_code}"])
        .arg(format!("http://{ADDR}{path}"));
    if let Some(body) = body {
        command.args(["--data", body]);
    }
    let out = command.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.to_string(), body.to_string())
}

/// The server, killed on drop (a failed assertion leaves none behind).
struct Server(Option<std::process::Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn timestamp(metrics: &str) -> String {
    metrics
        .lines()
        .find(|l| l.starts_with("twtune_last_check_timestamp_seconds"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_scrape_gets_promtool_clean_metrics_and_nothing_else_is_served() {
    needs!(Need::Root, Need::Tool("curl"), Need::Tool("promtool"));
    require_tool("curl", "curl");
    in_private_netns(|| {
        let mut guard = Server(Some(
            Command::new(TWTUNE)
                .args(["serve", "--listen", ADDR, "--max-age", "1h"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ));
        let server = guard.0.as_mut().unwrap();
        wait_for("the server to answer /healthz", || {
            curl("GET", "/healthz", None).0 == "200" || server.try_wait().unwrap().is_some()
        });
        assert_eq!(curl("GET", "/healthz", None), ("200".into(), "ok\n".into()));
        let (code, metrics) = curl("GET", "/metrics", None);
        assert_eq!(code, "200");
        assert_eq!(
            promtool_complaints(&format!("{metrics}\n")),
            "",
            "{metrics}"
        );
        assert!(metrics.contains("\ntwtune_check_success 1\n"), "{metrics}");
        // A scrape within --max-age reuses the last check.
        let (_, again) = curl("GET", "/metrics", None);
        assert_eq!(timestamp(&again), timestamp(&metrics));
        assert!(!timestamp(&metrics).is_empty());
        // Nothing else: no other path, no other method, no body.
        assert_eq!(curl("GET", "/apply", None).0, "404");
        assert_eq!(curl("DELETE", "/metrics", None).0, "405");
        assert_eq!(curl("POST", "/metrics", Some("x")).0, "413");
        let long = format!("/metrics?{}", "a".repeat(2000));
        assert_eq!(curl("GET", &long, None).0, "414");

        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        wait_for("the server to exit on SIGTERM", || {
            server.try_wait().unwrap().is_some()
        });
        let out = guard.0.take().unwrap().wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    });
}

#[test]
fn the_checks_read_the_tree_the_server_was_given() {
    needs!(Need::Root, Need::Tool("curl"));
    let tree = crate::support::fixtures().join("centos7-tw-recycle");
    in_private_netns(move || {
        let mut guard = Server(Some(
            Command::new(TWTUNE)
                .arg("--root")
                .arg(&tree)
                .args(["serve", "--listen", ADDR])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        let server = guard.0.as_mut().unwrap();
        wait_for("the server to answer /healthz", || {
            curl("GET", "/healthz", None).0 == "200" || server.try_wait().unwrap().is_some()
        });
        let (code, metrics) = curl("GET", "/metrics", None);
        assert_eq!(code, "200");
        // The tree's kernel, not this machine's: the child got --root.
        assert!(
            metrics.contains("kernel_release=\"3.10.0-1160.el7.x86_64\""),
            "{metrics}"
        );
        assert!(metrics.contains("\ntwtune_check_success 1\n"), "{metrics}");
    });
}
