//! `twtune check` on the real kernel, inside a private network namespace: the
//! facts come from /proc as the kernel writes it, not from a fixture.

use crate::support::netns::{check, findings, in_private_netns, twtune_json, write_ns_sysctl};
use crate::support::tier::Need;

#[test]
fn a_fresh_namespace_has_kernel_defaults_and_is_not_the_host() {
    needs!(Need::Root);
    let doc = in_private_netns(check);
    let sysctl = &doc["facts"]["sysctl"];
    assert_eq!(sysctl["net.ipv4.ip_local_port_range"], "32768 60999");
    assert_eq!(sysctl["net.ipv4.tcp_timestamps"], "1");
    assert_eq!(doc["facts"]["namespace"]["initial"], false);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(doc["kernel"]["release"], release.trim());
}

/// tcp_max_orphans and the orphan count are the host's: a namespace cannot
/// see the limit, and the question is the host check's, so the rule does not
/// apply here rather than leaving every container's check undecided.
#[test]
fn a_fresh_namespace_is_compliant_with_the_host_wide_orphan_rule_left_to_the_host() {
    needs!(Need::Root);
    let (doc, code) = in_private_netns(|| twtune_json(&["check", "--format", "json"]));
    assert_eq!(code, 0);
    assert!(
        doc["facts"]["sysctl"]["net.ipv4.tcp_max_orphans"].is_null(),
        "the kernel shows tcp_max_orphans in the initial namespace only"
    );
    assert_eq!(doc["status"], "compliant", "{doc:#}");
    assert_eq!(doc["undecided"], serde_json::json!([]), "{doc:#}");
    assert!(findings(&doc, "tcp-orphans-near-limit").is_empty());
}

#[test]
fn timestamps_switched_off_in_the_namespace_are_found() {
    needs!(Need::Root);
    let (doc, code) = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.tcp_timestamps", "0");
        twtune_json(&["check", "--format", "json"])
    });
    assert_eq!(code, 2);
    let finding = findings(&doc, "tcp-timestamps-off")[0];
    assert_eq!(finding["current"], "0");
    assert_eq!(finding["recommended"], "1");
}

#[test]
fn a_narrowed_port_range_in_the_namespace_is_found() {
    needs!(Need::Root);
    let doc = in_private_netns(|| {
        write_ns_sysctl("net.ipv4.ip_local_port_range", "40000 40999");
        check()
    });
    let narrow = findings(&doc, "ip-local-port-range-narrow");
    assert_eq!(narrow[0]["current"], "40000 40999");
    assert!(
        narrow[0]["message"]
            .as_str()
            .unwrap()
            .contains("1000 ephemeral ports")
    );
}
