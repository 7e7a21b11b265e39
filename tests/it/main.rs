//! The integration tests: one binary, one support module.
//!
//! Each module below was its own test binary; together they link the library
//! once and share `support` (fixture trees and the twtune runner, the
//! per-thread network namespaces, the sandbox `apply` may write in). Run one
//! part with a filter: `cargo test --test it check_scenarios::`.
//!
//! Nothing here needs a binary of its own: namespaces are entered per thread
//! (`support::netns`) or per child process (`support::sandbox`), never by the
//! test process's main thread, so the tests share one process safely.

#[macro_use]
mod support;

mod advice;
mod alerts;
mod all_netns;
mod all_netns_sample_ns;
mod all_netns_textfile_ns;
mod apply_converges;
mod apply_fixture;
mod apply_namespace;
mod bad_input;
mod check_scenarios;
mod color;
mod completions;
mod config_management;
mod config_root;
mod conntrack_stats_ns;
mod dashboard;
mod docs;
mod fuzz_replay;
mod hostile_names_ns;
mod house;
mod json_schema;
mod kubernetes_agent_ns;
mod kubernetes_emit;
mod kubernetes_serve_ns;
mod man_page;
mod nagios;
mod nat_ns;
mod netns_check;
mod nftables_ns;
mod parsers_robust;
mod persisted_refusals_ns;
mod pod_uid_ns;
mod pods_ns;
mod processes_ns;
mod prometheus;
mod reuse_ns;
mod rollback_netns;
mod rules_coverage;
mod serve_ns;
mod snat_ns;
mod sockets_ns;
mod sockets_rules;
mod systemd_units;
mod tools_ns;
mod top;
mod top_all;
mod trace_ns;
