//! The shipped systemd units (integrations/systemd/) as systemd itself reads
//! them: `systemd-analyze verify` loads each unit, checks every directive, the
//! ExecStart binary and the Documentation= man page, and prints a line for
//! anything wrong. The units name /usr/bin/twtune; here they are copied with
//! ExecStart pointed at the binary under test, and man:twtune(1) is found in
//! a MANPATH holding the committed page. Any output at all fails the test.

use std::path::Path;
use std::process::Command;

use crate::support::netns::require_tool;
use crate::support::tier::Need;
use crate::support::{TWTUNE, stderr, stdout};

const UNITS: &[&str] = &[
    "twtune-check.service",
    "twtune-check.timer",
    "twtune-apply.service",
];

#[test]
fn systemd_analyze_verify_accepts_the_units_silently() {
    needs!(Need::Tool("systemd-analyze"));
    require_tool("systemd-analyze", "systemd");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        let text = std::fs::read_to_string(repo.join("integrations/systemd").join(unit)).unwrap();
        let pointed = text.replace("/usr/bin/twtune", TWTUNE);
        if unit.ends_with(".service") {
            assert_ne!(pointed, text, "{unit} runs /usr/bin/twtune");
        }
        std::fs::write(dir.path().join(unit), pointed).unwrap();
    }
    let man1 = dir.path().join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    std::fs::copy(repo.join("man/twtune.1"), man1.join("twtune.1")).unwrap();

    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(UNITS.iter().map(|unit| dir.path().join(unit)))
        .env("MANPATH", dir.path().join("man"))
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success() && said.is_empty(),
        "systemd-analyze verify ({}):\n{said}",
        out.status
    );
}

#[test]
fn the_check_service_exports_to_the_node_exporter_textfile_folder() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/systemd/twtune-check.service"),
    )
    .unwrap();
    let directives: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    for expected in [
        "Type=oneshot",
        "ExecStart=/usr/bin/twtune check --format prometheus --textfile /var/lib/prometheus/node-exporter/twtune.prom",
        "SuccessExitStatus=2",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/prometheus/node-exporter",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
    ] {
        assert!(directives.contains(&expected), "missing {expected:?}");
    }
    // What would blind the check: another network namespace hides the host's
    // sockets; invisible processes hide who holds a CLOSE_WAIT socket; no
    // netlink, no sock_diag.
    for forbidden in ["PrivateNetwork=", "ProtectProc=invisible", "PrivateUsers="] {
        assert!(
            !directives.iter().any(|l| l.starts_with(forbidden)),
            "{forbidden} would blind the check"
        );
    }
    // nft and ctnetlink dumps need CAP_NET_ADMIN; with /proc/sys read-only
    // and modules locked it writes no sysctl and loads nothing.
    let capabilities = directives
        .iter()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap_or_default();
    assert!(
        capabilities
            .split_whitespace()
            .any(|c| c == "CAP_NET_ADMIN"),
        "without CAP_NET_ADMIN nft cannot list the NAT rules"
    );
    for kept in ["ProtectKernelTunables=yes", "ProtectKernelModules=yes"] {
        assert!(directives.contains(&kept), "missing {kept:?}");
    }
    let families = directives
        .iter()
        .find_map(|l| l.strip_prefix("RestrictAddressFamilies="))
        .unwrap_or_default();
    for family in ["AF_NETLINK", "AF_UNIX", "AF_INET", "AF_INET6"] {
        assert!(
            families.split_whitespace().any(|f| f == family),
            "RestrictAddressFamilies= lacks {family}"
        );
    }
}

#[test]
fn the_rpm_stops_and_disables_the_timer_before_erasing_and_not_on_upgrade() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::fs::read_to_string(manifest.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("pre_uninstall_script = \"packaging/rpm/preun\""),
        "Cargo.toml's generate-rpm metadata names no %preun"
    );
    // A systemctl that only logs what it is asked, first in PATH.
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("log");
    let systemctl = bin.path().join("systemctl");
    std::fs::write(
        &systemctl,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &systemctl,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let run = |arg: &str| {
        let out = Command::new("sh")
            .arg(manifest.join("packaging/rpm/preun"))
            .arg(arg)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read_to_string(&log).unwrap_or_default()
    };
    // An upgrade ($1 = 1) leaves the units alone.
    assert_eq!(run("1"), "");
    let said = run("0");
    assert!(
        said.contains("disable --now twtune-check.timer"),
        "{said:?}"
    );
}
