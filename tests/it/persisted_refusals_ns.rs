//! The persisted values twtune says the kernel refuses at boot, checked
//! against the kernel itself: each sequence of sysctl.d lines is written, in
//! order, to a fresh private network namespace (which starts from the same
//! kernel defaults a boot does), and the kernel's EINVAL is compared with
//! twtune's replay. twtune must never claim a refusal the kernel does not
//! make; for the refusals it documents, it must not miss one either.

use crate::support::netns::{assert_private_netns, in_private_netns};
use crate::support::tier::Need;
use twtune::facts::KernelVersion;
use twtune::facts::persisted::{BootReplay, PersistedConfig, parse_sysctl_file};

/// Lines in boot order, and whether twtune documents catching every refusal
/// among them.
const CASES: &[(&[&str], bool)] = &[
    (&["net.ipv4.ip_local_port_range = 61000 32768"], true),
    (&["net.ipv4.ip_local_port_range = 0 60999"], true),
    (&["net.ipv4.ip_local_port_range = 32768 65536"], true),
    (&["net.ipv4.ip_local_port_range = 1000 60999"], true),
    (&["net.ipv4.ip_local_port_range = 40000 50001"], true),
    (&["net.ipv4.ip_local_port_range = 40000"], true),
    (
        &[
            "net.ipv4.ip_unprivileged_port_start = 500",
            "net.ipv4.ip_local_port_range = 1000 60999",
        ],
        true,
    ),
    (&["net.ipv4.ip_unprivileged_port_start = 40000"], true),
    (&["net.ipv4.tcp_tw_reuse = 3"], true),
    (&["net.ipv4.tcp_tw_reuse = 2"], true),
    (&["net.ipv4.tcp_tw_reuse_delay = 0"], true),
    (&["net.ipv4.tcp_tw_reuse_delay = 60001"], true),
    (&["net.ipv4.tcp_tw_reuse_delay = 100"], true),
    (&["net.ipv4.tcp_max_tw_buckets = lots"], true),
    (&["net.ipv4.tcp_max_tw_buckets = 0x40000"], true),
    (&["net.ipv4.tcp_fin_timeout = thirty"], true),
    (&["net.ipv4.tcp_fin_timeout = 30"], true),
    (&["net.ipv4.ip_local_reserved_ports = 30000-29999"], true),
    (
        &["net.ipv4.ip_local_reserved_ports = 40000-40010,50000"],
        true,
    ),
    // u8 bounds on newer kernels: not claimed (the version that added them
    // is not verified), so only "no false alarm" is checked.
    (&["net.ipv4.tcp_timestamps = 256"], false),
    (&["net.ipv4.tcp_timestamps = 1"], true),
];

fn kernel_refuses(lines: &'static [&'static str]) -> Vec<bool> {
    in_private_netns(move || {
        assert_private_netns();
        lines
            .iter()
            .map(|line| {
                let (key, value) = line.split_once(" = ").unwrap();
                let path = format!("/proc/sys/{}", key.replace('.', "/"));
                match std::fs::write(&path, value) {
                    Ok(()) => false,
                    Err(e) if e.raw_os_error() == Some(libc_einval()) => true,
                    Err(e) => panic!("{line}: unexpected error {e}"),
                }
            })
            .collect()
    })
}

fn libc_einval() -> i32 {
    nix::errno::Errno::EINVAL as i32
}

fn twtune_refuses(lines: &[&str]) -> Vec<bool> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let (settings, problems) = parse_sysctl_file("/etc/sysctl.d/70-x.conf", &text);
    assert!(problems.is_empty());
    let mut config = PersistedConfig {
        settings,
        ..Default::default()
    };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let version = KernelVersion::parse_release(&release);
    BootReplay {
        has_unprivileged_port_start: std::path::Path::new(
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        )
        .exists(),
        tw_reuse_bounded: version.map(|v| v >= KernelVersion::new(4, 18, 0)),
    }
    .judge(&mut config);
    config
        .settings
        .iter()
        .map(|s| config.is_refused(s))
        .collect()
}

#[test]
fn twtune_refuses_what_the_kernel_refuses_and_nothing_it_accepts() {
    needs!(Need::Root);
    for (lines, claimed) in CASES {
        // tcp_tw_reuse_delay exists from 6.14 only.
        if lines.iter().any(|l| l.contains("tcp_tw_reuse_delay"))
            && !std::path::Path::new("/proc/sys/net/ipv4/tcp_tw_reuse_delay").exists()
        {
            continue;
        }
        let kernel = kernel_refuses(lines);
        let ours = twtune_refuses(lines);
        for ((line, k), o) in lines.iter().zip(&kernel).zip(&ours) {
            assert!(
                !o || *k,
                "{line}: twtune claims EINVAL, the kernel accepts it"
            );
            if *claimed {
                assert_eq!(o, k, "{line}: the kernel refuses it, twtune misses it");
            }
        }
    }
}
