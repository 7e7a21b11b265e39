//! Rendering: turns findings, facts and rules into text for people (`human`)
//! and programs (`json`, `prometheus` for node_exporter, `nagios` for monitoring plugins); `plan` prints apply plans and rollbacks; `netns` the `--all-netns` table; `kubernetes` the plan for a cluster; `schema` the fact schema; `json_schema` the JSON Schemas of the documents; `rule_report` lists and explains rules. Renderers decide nothing; they only print.

pub mod apply_report;
pub mod diff;
pub mod escape;
pub mod human;
pub mod json;
pub mod json_schema;
pub mod kubernetes;
pub mod nagios;
pub mod netns;
pub mod plan;
pub mod prometheus;
pub mod prometheus_netns;
pub mod rule_report;
pub mod schema;
pub mod style;
pub mod top;

pub use json::SCHEMA_VERSION;
