//! The one process a destination's findings name as its creator, and the
//! words for it, decided once so that every port rule names the same
//! process the same way (a traced churner, never the pool beside it in one
//! finding and the churner in the next).

use schemars::JsonSchema;
use serde::Serialize;

use super::creators::Attribution;
use super::{Destination, SocketFacts};

/// A destination's top creator (`destinations[].top_creator`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TopCreator {
    pub pid: u32,
    pub command: String,
    /// "traced": the process that closed most connections toward it first
    /// during a traced `--sample`; "inferred": the process that closed its
    /// connections first between the two listings of an untraced sample,
    /// or else the holder of most of its live connections.
    pub attribution: Attribution,
    /// For a summary: "top creator pid 4242 (churner) (traced)" or
    /// "likely creator pid 17 (pool)".
    pub phrase: String,
    /// For a message: who it is and what shows it, one sentence.
    pub sentence: String,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Who `d`'s findings name: the traced creator with most active closes;
/// untraced, the owner whose connections turned into TIME_WAIT between the
/// two listings, else the holder of most live connections; `None` when
/// nothing names anyone.
pub fn top_creator(d: &Destination) -> Option<TopCreator> {
    let first = d.creators.first();
    let named = |pid: u32, command: &str, attribution, sentence: String| {
        let phrase = match attribution {
            Attribution::Traced => format!("top creator pid {pid} ({command}) (traced)"),
            Attribution::Inferred => format!("likely creator pid {pid} ({command})"),
        };
        Some(TopCreator {
            pid,
            command: command.to_string(),
            attribution,
            phrase,
            sentence,
        })
    };
    match (d.attribution, first) {
        (Attribution::Traced, Some(c)) => named(
            c.pid,
            &c.command,
            Attribution::Traced,
            format!(
                "Creator (traced): pid {} ({}){}, {} and {} toward it during the sample.",
                c.pid,
                c.command,
                if c.exited { ", exited since" } else { "" },
                plural(
                    c.active_closes.unwrap_or(0),
                    "active close",
                    "active closes"
                ),
                plural(c.connects.unwrap_or(0), "connect", "connects"),
            ),
        ),
        (Attribution::Inferred, Some(c)) if c.active_closes.is_some() => named(
            c.pid,
            &c.command,
            Attribution::Inferred,
            format!(
                "Likely creator: pid {} ({}), which closed {} first during the sample \
                 (ESTABLISHED with its owner at the first listing, TIME_WAIT at the second).",
                c.pid,
                c.command,
                plural(
                    c.active_closes.unwrap_or(0),
                    "connection to it",
                    "connections to it"
                ),
            ),
        ),
        _ => d.processes.first().and_then(|p| {
            named(
                p.pid,
                &p.command,
                Attribution::Inferred,
                format!(
                    "Likely creator: pid {} ({}), {} to it; TIME_WAIT sockets have no owner.",
                    p.pid,
                    p.command,
                    plural(p.established, "live connection", "live connections"),
                ),
            )
        }),
    }
}

/// Names every destination's top creator; run once the creators are final
/// (after the trace or the untraced transitions were applied).
pub fn name_top_creators(facts: &mut SocketFacts) {
    for d in &mut facts.destinations {
        d.top_creator = top_creator(d);
    }
}
