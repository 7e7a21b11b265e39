//! `check --all-netns --sample DURATION`: one sample window for every
//! namespace, not one per namespace in turn. The first readings are taken in
//! each namespace, twtune waits once (tracing the whole window, each event
//! counted for the namespace of the thread that made it), the namespaces are
//! listed again, and the second readings are taken in each. Every
//! namespace's rates run from its own first readings to its own second, so
//! each is what a single `check --sample` there would report.
//!
//! A namespace that appeared during the window has no first readings, and
//! one whose last process and mount went away during it is gone for
//! everyone but twtune (which held it open): both are skipped, with the
//! reason.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use twtune::cli::Cli;
use twtune::facts::GatherOptions;
use twtune::facts::netns::{self, Listed, Namespace};
use twtune::facts::sampling;
use twtune::facts::trace::{self, SplitTrace, Tracer};
use twtune::render::netns::Skipped;
use twtune::rules::RuleSet;

use super::netns_visit::{AllChecked, Keep, enter, gather_entered, hold, options_for};

pub fn check_sampled(
    cli: &Cli,
    rule_set: &RuleSet,
    home: &Namespace,
    listed: Vec<Listed>,
    interval: Duration,
    keep: Keep,
) -> anyhow::Result<AllChecked> {
    let mut all = AllChecked::new(keep);
    let first: HashSet<u64> = listed.iter().map(|l| l.inode).collect();
    let mut tracer = sampling::tracer(
        &GatherOptions::of(super::pipeline::source(cli)),
        Tracer::start_split,
    );
    let mut started = Vec::new();
    for found in listed {
        let Some(held) = hold(found, &mut all.skipped) else {
            continue;
        };
        if !enter(&held, &mut all.skipped)? {
            continue;
        }
        let options = options_for(cli, home, &held.found);
        let begun = {
            // Dropped before leaving: the folders show this namespace's values.
            let _folders = twtune::facts::netns_dirs::Opened::here(options.root());
            sampling::begin(&options, tracer.is_ok())
        };
        home.enter()
            .context("returning to twtune's own network namespace")?;
        match begun {
            Ok(start) => started.push((held, start)),
            Err(err) => {
                all.failed = true;
                all.skipped.push(Skipped {
                    inode: held.found.inode,
                    reason: format!("the first readings of the sample failed: {err}"),
                });
            }
        }
    }
    sampling::announce_started();
    twtune::facts::rates::wait_with(interval, trace::POLL, || {
        if let Ok(t) = &mut tracer {
            t.poll();
        }
    });
    sampling::hold_at_end();
    let split = match tracer {
        Ok(t) => t.finish(),
        Err(reason) => SplitTrace::unavailable(reason),
    };
    let relisted =
        netns::list_all().context("listing network namespaces at the end of the sample")?;
    let own = format!("/proc/{}/", std::process::id());
    for found in &relisted {
        if !first.contains(&found.inode) {
            all.skipped.push(Skipped {
                inode: found.inode,
                reason:
                    "appeared during the --sample window: it has no first readings to compare with"
                        .into(),
            });
        }
    }
    for (mut held, start) in started {
        // twtune holds every namespace open itself: one that only it holds
        // now lost its last process, name and mount during the window.
        let now = relisted.iter().find(|l| {
            l.inode == held.found.inode
                && (!l.pids.is_empty()
                    || !l.names.is_empty()
                    || l.held_by.iter().any(|p| !p.starts_with(&own)))
        });
        let Some(now) = now else {
            all.skipped.push(Skipped {
                inode: held.found.inode,
                reason: "gone during the --sample window: its last process, name and mount went away before the second readings".into(),
            });
            continue;
        };
        // Who is in it now names it (its pod, its command).
        held.found = now.clone();
        if !enter(&held, &mut all.skipped)? {
            continue;
        }
        let trace = split.for_namespace(held.found.inode);
        let gathered = gather_entered(cli, home, &held, Some((start, trace)))?;
        all.judge(rule_set, held.found, gathered)?;
    }
    Ok(all)
}
