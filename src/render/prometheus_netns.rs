//! `check --all-netns --format prometheus` (and `--textfile`): the
//! single-namespace exposition ([`super::prometheus::check_exposition`]) once
//! per network namespace, each sample labelled with
//!
//! - `netns`: `host` for the node's own namespace, else its first `ip netns`
//!   name, else its inode;
//! - `pod`, `namespace`: the pod it claims to be ([`crate::facts::pod`]),
//!   empty when not shown;
//! - `container`: the container id its cgroup names, empty when none.
//!
//! The parts are merged family by family, so each family has one HELP and
//! one TYPE line and its samples together, as the text format requires;
//! `twtune_apply_interrupted` stays last. Cardinality is bounded: a series
//! per namespace for each family of the single exposition, and
//! `twtune_destination_exhaustion_ratio` for the top N destinations of each
//! namespace only (`--top-destinations`, default 5).

use super::netns::{Checked, Skipped};
use super::prometheus::{self, CheckMetrics};
use crate::exit_code::Status;

/// What `check --all-netns` exports besides each namespace's own part.
pub struct AllNetnsMetrics<'a> {
    pub checked: &'a [Checked],
    pub skipped: &'a [Skipped],
    /// Every loaded rule with its declared severity, in the rule set's order.
    pub rules: Vec<(&'a str, crate::rules::Severity)>,
    pub checked_at: f64,
    /// How long listing, gathering and judging every namespace took.
    pub duration_seconds: f64,
    pub top_destinations: usize,
    pub apply_interrupted: bool,
}

/// The label `netns` of a checked namespace.
pub fn netns_label(checked: &Checked) -> String {
    if checked.facts.namespace.initial == Some(true) {
        return "host".into();
    }
    checked
        .names
        .first()
        .cloned()
        .unwrap_or_else(|| checked.inode.to_string())
}

pub fn all_netns(metrics: &AllNetnsMetrics<'_>) -> String {
    let mut parts = vec![summary(metrics)];
    for c in metrics.checked {
        let netns = netns_label(c);
        let pod = c.pod.as_ref();
        let name = pod.and_then(|p| p.name.as_deref()).unwrap_or("");
        let namespace = pod.and_then(|p| p.namespace.as_deref()).unwrap_or("");
        let container = c.container.as_ref().map_or("", |c| c.id.as_str());
        let status = Status::of(&c.evaluation);
        parts.push(
            prometheus::check_exposition(
                &CheckMetrics {
                    facts: &c.facts,
                    evaluation: &c.evaluation,
                    rules: metrics.rules.clone(),
                    status,
                    check_success: status != Status::Error,
                    checked_at: metrics.checked_at,
                    duration_seconds: metrics.duration_seconds,
                    top_destinations: metrics.top_destinations,
                    apply_interrupted: metrics.apply_interrupted,
                },
                &[
                    ("netns", &netns),
                    ("pod", name),
                    ("namespace", namespace),
                    ("container", container),
                ],
            )
            .render(),
        );
    }
    merge(&parts)
}

/// How many namespaces were checked and skipped: unlabelled, first.
fn summary(metrics: &AllNetnsMetrics<'_>) -> String {
    format!(
        "# HELP twtune_netns_checked Network namespaces checked by the last check --all-netns.\n\
         # TYPE twtune_netns_checked gauge\n\
         twtune_netns_checked {}\n\
         # HELP twtune_netns_skipped Network namespaces listed but not checked (gone, or not readable).\n\
         # TYPE twtune_netns_skipped gauge\n\
         twtune_netns_skipped {}\n",
        metrics.checked.len(),
        metrics.skipped.len()
    )
}

/// Merges expositions family by family: the first HELP and TYPE of each,
/// then every part's samples of it, families in the order first seen, with
/// `twtune_apply_interrupted` last.
pub fn merge(parts: &[String]) -> String {
    struct Family<'a> {
        name: &'a str,
        head: Vec<&'a str>,
        samples: Vec<&'a str>,
    }
    let mut families: Vec<Family<'_>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for part in parts {
        for line in part.lines() {
            let (name, is_head) = match line.strip_prefix("# ") {
                Some(rest) => (rest.split(' ').nth(1).unwrap_or(""), true),
                None => (line.split(['{', ' ']).next().unwrap_or(""), false),
            };
            let at = *index.entry(name).or_insert_with(|| {
                families.push(Family {
                    name,
                    head: Vec::new(),
                    samples: Vec::new(),
                });
                families.len() - 1
            });
            let family = &mut families[at];
            if is_head {
                if family.head.len() < 2 && family.samples.is_empty() {
                    family.head.push(line);
                }
            } else {
                family.samples.push(line);
            }
        }
    }
    let last = "twtune_apply_interrupted";
    families.sort_by_key(|f| f.name == last);
    let mut out = String::new();
    for family in families {
        for line in family.head.iter().chain(&family.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_merged_with_one_head_each_and_the_last_stays_last() {
        let a = "# HELP x X.\n# TYPE x gauge\nx{netns=\"host\"} 1\n\
                 # HELP twtune_apply_interrupted I.\n# TYPE twtune_apply_interrupted gauge\n\
                 twtune_apply_interrupted{netns=\"host\"} 0\n";
        let b = "# HELP x X.\n# TYPE x gauge\nx{netns=\"1\"} 2\n\
                 # HELP y Y.\n# TYPE y gauge\ny{netns=\"1\"} 3\n\
                 # HELP twtune_apply_interrupted I.\n# TYPE twtune_apply_interrupted gauge\n\
                 twtune_apply_interrupted{netns=\"1\"} 0\n";
        let merged = merge(&[a.to_string(), b.to_string()]);
        assert_eq!(
            merged,
            "# HELP x X.\n# TYPE x gauge\nx{netns=\"host\"} 1\nx{netns=\"1\"} 2\n\
             # HELP y Y.\n# TYPE y gauge\ny{netns=\"1\"} 3\n\
             # HELP twtune_apply_interrupted I.\n# TYPE twtune_apply_interrupted gauge\n\
             twtune_apply_interrupted{netns=\"host\"} 0\ntwtune_apply_interrupted{netns=\"1\"} 0\n"
        );
    }
}
