//! The three pages from fixed input: a fixture tree (tests/fixtures/, a
//! CentOS 7 host with tcp_tw_recycle on) gathered under `--root`, judged by
//! the built-in rules, rendered without colour. The snapshots are the pages.

use std::path::{Path, PathBuf};

use super::*;
use crate::facts::GatherOptions;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/centos7-tw-recycle")
}

fn gathered() -> (Facts, RuleSet, Evaluation) {
    let root = fixture();
    let facts = crate::facts::gather(&GatherOptions::new(&root)).unwrap();
    let rules = RuleSet::load(&root, &[]).unwrap();
    let evaluation = crate::rules::evaluate(&rules, &facts);
    (facts, rules, evaluation)
}

fn options(verbose: bool) -> CheckOptions {
    CheckOptions {
        verbose,
        rules_checked: 7,
        target: Target::new(Path::new("/"), &[], None),
    }
}

#[test]
fn check_page() {
    let (facts, _, evaluation) = gathered();
    assert!(!evaluation.findings.is_empty());
    let page = check(&facts, &evaluation, &options(false), Style::plain());
    assert!(page.starts_with('✗') || page.contains("critical"), "{page}");
    insta::assert_snapshot!("check_page", page);
    let verbose = check(&facts, &evaluation, &options(true), Style::plain());
    assert!(verbose.len() > page.len());
    insta::assert_snapshot!("check_page_verbose", verbose);
}

#[test]
fn check_page_without_findings() {
    let (facts, _, _) = gathered();
    let page = check(
        &facts,
        &Evaluation::default(),
        &options(false),
        Style::plain(),
    );
    insta::assert_snapshot!("check_page_without_findings", page);
}

#[test]
fn rules_page() {
    let (_, rules, _) = gathered();
    let list = rules_list(&rules, Style::plain());
    for rule in rules.rules() {
        assert!(
            list.contains(rule.id.as_str()),
            "{} missing:\n{list}",
            rule.id
        );
    }
    insta::assert_snapshot!("rules_page", list);
    let rule = rules.rules().next().unwrap();
    let page = explain(rule, Style::plain());
    assert!(page.contains(rule.id.as_str()));
    insta::assert_snapshot!("explain_page", page);
}

#[test]
fn facts_page() {
    let (facts, _, _) = gathered();
    let page = super::facts(&facts, Style::plain());
    assert!(page.contains("tcp_tw_recycle"), "{page}");
    insta::assert_snapshot!("facts_page", page);
}

#[test]
fn the_seen_line_says_whether_the_sample_was_traced_and_what_was_lost() {
    use crate::facts::trace::TracingFacts;
    let (mut facts, _, _) = gathered();
    facts.sockets.get_or_insert_with(Default::default);
    // Without --sample nothing was traced, and the line does not say so.
    let plain = check_page::seen_line(&facts);
    assert!(!plain.contains("traced"), "{plain}");
    facts.rates = Some(crate::facts::rates::Rates {
        counters_went_back: Vec::new(),
        ..crate::facts::rates::Rates::schema()
    });
    let with = |tracing: TracingFacts, facts: &mut Facts| {
        facts.sockets.as_mut().unwrap().tracing = tracing;
        check_page::seen_line(facts)
    };
    let traced = TracingFacts {
        status: "traced".into(),
        reason: None,
        events: 1200,
        lost_events: 0,
        duration_seconds: 2.0,
        ..TracingFacts::not_sampled()
    };
    let line = with(traced.clone(), &mut facts);
    assert!(line.contains("traced (1200 events in 2.0 s)"), "{line}");
    assert!(!line.contains("lost"), "{line}");
    let lossy = TracingFacts {
        lost_events: 37,
        ..traced
    };
    let line = with(lossy, &mut facts);
    assert!(
        line.contains("traced (1200 events in 2.0 s, 37 lost: the traced counts are lower bounds)"),
        "{line}"
    );
    let refused = TracingFacts::unavailable(
        "perf_event_open(sock/inet_sock_set_state, cpu 0): Permission denied\x1b[2J".into(),
    );
    let line = with(refused, &mut facts);
    assert!(
        line.contains(
            "not traced (perf_event_open(sock/inet_sock_set_state, cpu 0): Permission denied\\x1b[2J): creators inferred, failures unseen"
        ),
        "{line}"
    );
}
