//! Text for people: a compact findings table first, details on request.

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use super::escape;
use super::style::Style;
use crate::facts::Facts;
use crate::rules::expr::percent_text as percent;
use crate::rules::{
    Evaluation, Finding, Resolved, Rule, RuleSet, Severity, resolve_recommendations,
};
use crate::sysctl::SysctlKey;

pub struct CheckOptions {
    pub verbose: bool,
    pub rules_checked: usize,
    /// The options that chose what was checked, as typed for a shell:
    /// `--root`/`--rules` (global) and `--netns` (the subcommand's), so a
    /// `Next:` hint pasted back acts on the same target.
    pub target: Target,
}

/// What a run was pointed at, repeated in the commands it suggests.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// ` --root DIR --rules DIR…`, or empty.
    pub global: String,
    /// ` --netns NS`, or empty.
    pub netns: String,
}

impl Target {
    pub fn new(
        root: &std::path::Path,
        rules: &[std::path::PathBuf],
        netns: Option<&str>,
    ) -> Target {
        let mut global = String::new();
        if root != std::path::Path::new("/") {
            global.push_str(&format!(" --root {}", shell_word(&root.to_string_lossy())));
        }
        for dir in rules {
            global.push_str(&format!(" --rules {}", shell_word(&dir.to_string_lossy())));
        }
        let netns = netns
            .map(|n| format!(" --netns {}", shell_word(n)))
            .unwrap_or_default();
        Target { global, netns }
    }
}

/// A word as a POSIX shell reads it back: bare when it is plain, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Human lines stay within this many columns: longer text wraps.
pub const LINE_WIDTH: usize = 120;

/// `text` wrapped at word boundaries to `width` columns, every line after
/// the first indented by `indent` spaces (the first line's own prefix is
/// the caller's, `first` columns wide). A word longer than a line stays
/// whole.
pub fn wrap(text: &str, first: usize, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut column = first;
    let mut line_empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if !line_empty && column + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
            line_empty = true;
        }
        if !line_empty {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
        line_empty = false;
    }
    out
}

/// Runs a section writer into a new String. Writing into a String cannot
/// fail, so the one `fmt::Result` that reaches here is always `Ok`.
fn render(write: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::new();
    let _always_ok = write(&mut out);
    out
}

fn host_line(facts: &Facts) -> String {
    let kernel = facts.kernel.release.as_deref().unwrap_or("unknown kernel");
    let namespace = match facts.namespace.initial {
        Some(true) => "host network namespace",
        Some(false) => "private network namespace (container?)",
        None => "network namespace unknown",
    };
    // Entered by --netns: say which one was checked.
    let Some(target) = &facts.namespace.target else {
        return format!("kernel {kernel} · {namespace}");
    };
    let mut which = match facts.namespace.names.is_empty() {
        true => target.clone(),
        false => facts.namespace.names.join(", "),
    };
    if let Some(inode) = facts.namespace.net_inode {
        which.push_str(&format!(", inode {inode}"));
    }
    if let Some(pid) = facts.namespace.holder_pid {
        which.push_str(&format!(", pid {pid}"));
    }
    format!("kernel {kernel} · {namespace}: {which}")
}

pub fn check(
    facts: &Facts,
    evaluation: &Evaluation,
    options: &CheckOptions,
    style: Style,
) -> String {
    render(|out| {
        if evaluation.findings.is_empty() {
            no_findings(out, facts, evaluation.undecided.len(), options, style)?;
        } else {
            verdict_line(out, evaluation, style)?;
            findings_report(out, facts, &evaluation.findings, options, style)?;
        }
        undecided_rules(out, evaluation, style)
    })
}

fn no_findings(
    out: &mut impl Write,
    facts: &Facts,
    undecided: usize,
    options: &CheckOptions,
    style: Style,
) -> fmt::Result {
    // An incomplete check says so in its first line: "no problems" covers
    // only the rules that could be decided.
    let undecided = match undecided {
        0 => String::new(),
        n => format!(", {n} undecided: see below"),
    };
    writeln!(
        out,
        "{} no TIME_WAIT-related problems found ({} rules checked{undecided}; {})",
        style.ok("✓"),
        options.rules_checked,
        host_line(facts)
    )?;
    // "No problems" is visibly based on what was seen.
    writeln!(
        out,
        "{}",
        style.dim(&wrap(&seen_line(facts), 0, 2, LINE_WIDTH))
    )
}

/// The verdict first: what an operator (or a `head -1`) needs before the
/// host line and the table.
fn verdict_line(out: &mut impl Write, evaluation: &Evaluation, style: Style) -> fmt::Result {
    let findings = &evaluation.findings;
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let counts = format!(
        "{} ({} critical, {}, {} info)",
        plural(findings.len(), "finding"),
        count(Severity::Critical),
        plural(count(Severity::Warning), "warning"),
        count(Severity::Info)
    );
    let undecided = match evaluation.undecided.len() {
        0 => String::new(),
        n => format!("; {n} undecided: see below"),
    };
    let (mark, verdict) = match (evaluation.needs_attention(), evaluation.worst()) {
        (true, Some(Severity::Critical)) => {
            (style.severity(Severity::Critical, "✗"), "changes pending")
        }
        (true, _) => (style.severity(Severity::Warning, "✗"), "changes pending"),
        (false, _) => (style.ok("✓"), "nothing to change"),
    };
    writeln!(out, "{mark} {verdict}: {counts}{undecided}")
}

fn findings_report(
    out: &mut impl Write,
    facts: &Facts,
    findings: &[Finding],
    options: &CheckOptions,
    style: Style,
) -> fmt::Result {
    let resolved = resolve_recommendations(findings);
    writeln!(
        out,
        "{}\n",
        style.bold(&format!("twtune check · {}", host_line(facts)))
    )?;
    findings_table(out, findings, &resolved, style)?;
    if options.verbose {
        for finding in findings {
            finding_details(out, finding, &resolved, style)?;
        }
    }
    closing_lines(out, facts, findings, options, style)
}

fn findings_table(
    out: &mut impl Write,
    findings: &[Finding],
    resolved: &BTreeMap<SysctlKey, Resolved>,
    style: Style,
) -> fmt::Result {
    let rows: Vec<[String; 4]> = findings
        .iter()
        .map(|f| {
            // The value `apply` sets for this key, which a more severe
            // finding on the same key may decide.
            let recommended = match f.planned(resolved) {
                Some(Resolved::Value { value, .. }) => Some(value.clone()),
                Some(Resolved::Conflict { .. }) => Some("? (rules disagree)".to_string()),
                None => f.recommended.clone(),
            };
            let change = match (&f.current, &recommended) {
                (Some(c), Some(r)) => format!("{c} → {r}"),
                (None, Some(r)) => format!("(absent) → {r}"),
                (Some(c), None) => c.clone(),
                (None, None) if f.key.is_some() => "(absent)".into(),
                (None, None) => "—".into(),
            };
            [
                f.severity.to_string(),
                f.key
                    .as_ref()
                    .map_or_else(|| "—".into(), ToString::to_string),
                escape::text(&change).into_owned(),
                // Rule texts quote process names and paths from the host.
                escape::text(&f.summary).into_owned(),
            ]
        })
        .collect();
    let header = ["SEVERITY", "KEY", "CURRENT → RECOMMENDED", "FINDING"];
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let pad = |text: &str, width: usize| {
        format!(
            "{text}{}",
            " ".repeat(width.saturating_sub(text.chars().count()))
        )
    };
    writeln!(
        out,
        "{}",
        style.dim(&format!(
            "{}  {}  {}  {}",
            pad(header[0], widths[0]),
            pad(header[1], widths[1]),
            pad(header[2], widths[2]),
            header[3]
        ))
    )?;
    // The FINDING column wraps under itself, so no row passes LINE_WIDTH
    // unless the first three columns alone do.
    let column = widths.iter().sum::<usize>() + 6;
    for (row, finding) in rows.iter().zip(findings) {
        writeln!(
            out,
            "{}  {}  {}  {}",
            style.severity(finding.severity, &pad(&row[0], widths[0])),
            pad(&row[1], widths[1]),
            pad(&row[2], widths[2]),
            wrap(&row[3], column, column, LINE_WIDTH.max(column + 40))
        )?;
    }
    Ok(())
}

fn finding_details(
    out: &mut impl Write,
    finding: &Finding,
    resolved: &BTreeMap<SysctlKey, Resolved>,
    style: Style,
) -> fmt::Result {
    writeln!(
        out,
        "\n{} {}",
        style.severity(finding.severity, &format!("[{}]", finding.severity)),
        style.bold(&finding.rule)
    )?;
    writeln!(
        out,
        "  {}",
        wrap(&escape::text(&finding.message), 2, 2, LINE_WIDTH)
    )?;
    if let (Some(own), Some((value, rule))) = (&finding.recommended, finding.outranked_by(resolved))
    {
        writeln!(
            out,
            "  {} this rule alone recommends {own}; apply sets {value} (rule {rule} is more severe)",
            style.dim("plan:")
        )?;
    }
    if let (Some(key), Some(Resolved::Conflict { conflict, .. })) =
        (&finding.key, finding.planned(resolved))
    {
        writeln!(
            out,
            "  {} rules {} disagree on {key}: choose with `twtune apply --set {key}=VALUE`",
            style.dim("plan:"),
            conflict.join(", ")
        )?;
    }
    if let Some(manual) = &finding.manual {
        writeln!(
            out,
            "  {} {}",
            style.dim("by hand:"),
            wrap(&escape::text(manual), 11, 4, LINE_WIDTH)
        )?;
    }
    for evidence in &finding.evidence {
        writeln!(
            out,
            "  {} {}",
            style.dim("evidence:"),
            wrap(&escape::text(&evidence.to_string()), 12, 4, LINE_WIDTH)
        )?;
    }
    for reference in &finding.references {
        writeln!(
            out,
            "  {} {}",
            style.dim("see:"),
            wrap(reference, 7, 4, LINE_WIDTH)
        )?;
    }
    Ok(())
}

/// The counts, what was seen, and what to run next.
fn closing_lines(
    out: &mut impl Write,
    facts: &Facts,
    findings: &[Finding],
    options: &CheckOptions,
    style: Style,
) -> fmt::Result {
    // The counts are in the verdict line, first.
    writeln!(out)?;
    // What was seen comes before what to do next.
    writeln!(
        out,
        "{}",
        style.dim(&wrap(&seen_line(facts), 0, 2, LINE_WIDTH))
    )?;
    let Target { global, netns } = &options.target;
    let mut next = Vec::new();
    if !options.verbose {
        next.push(format!(
            "`twtune{global} check{netns} --verbose` for evidence"
        ));
    }
    if findings.iter().any(|f| f.recommendation().is_some()) {
        next.push(format!(
            "`twtune{global} apply{netns} --dry-run` for the changes"
        ));
    }
    next.push(format!("`twtune{global} explain RULE` for why"));
    // A command is never split across lines: one line when it fits, else
    // one hint a line, each pasteable whole.
    let one_line = format!("Next: {}.", next.join(" · "));
    let text = match one_line.chars().count() <= LINE_WIDTH {
        true => one_line,
        false => format!("Next:\n  {}", next.join("\n  ")),
    };
    writeln!(out, "{}", style.dim(&text))
}

/// Rules that could not be decided, with the reason.
fn undecided_rules(out: &mut impl Write, evaluation: &Evaluation, style: Style) -> fmt::Result {
    for undecided in &evaluation.undecided {
        writeln!(
            out,
            "{} rule {} undecided: {}",
            style.dim("?"),
            undecided.rule,
            undecided.reason
        )?;
    }
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// What the check saw, in one line: TIME_WAIT with its client/server split,
/// CLOSE_WAIT, the busiest destination's use of its ports, the NAT verdict,
/// and the sampled rates with `--sample`.
fn seen_line(facts: &Facts) -> String {
    let mut parts = Vec::new();
    match &facts.sockets {
        Some(s) => {
            parts.push(format!(
                "TIME_WAIT {} ({} server side, {} client side)",
                s.time_wait, s.time_wait_server_side, s.time_wait_client_side
            ));
            parts.push(format!("CLOSE_WAIT {}", s.close_wait));
            match s.destinations.first() {
                Some(d) => parts.push(format!(
                    "busiest destination {} uses {} of its {} ports",
                    d.remote,
                    percent(d.exhaustion_ratio),
                    d.usable_ports
                )),
                None => parts.push("no client-side destination".to_string()),
            }
        }
        None => {
            let tw = facts
                .counters
                .sockstat
                .values()
                .filter_map(|g| g.get("tw"))
                .sum::<i128>();
            parts.push(format!(
                "TIME_WAIT {tw} (sockstat; no socket table to split it)"
            ));
        }
    }
    parts.push(format!(
        "NAT {} (translates here: {}; own traffic translated: {})",
        facts.nat.verdict, facts.nat.translates, facts.nat.translated
    ));
    if let Some(rates) = &facts.rates {
        let rate = |name: &str, value: Option<f64>| value.map(|v| format!("{name} {v:.1}/s"));
        let sampled: Vec<String> = [
            rate("new outbound", rates.active_opens),
            rate("accepted", rates.passive_opens),
            rate("entering TIME_WAIT", rates.time_wait_entered),
            rate("TIME_WAIT reused", rates.time_wait_reused),
            rate("TIME_WAIT overflow", rates.time_wait_overflow),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.push(format!(
            "over {:.1} s: {}",
            rates.interval_seconds,
            sampled.join(", ")
        ));
        if !rates.counters_went_back.is_empty() {
            parts.push(format!(
                "no rate for {} (lower at the second reading: wrapped or reset)",
                rates.counters_went_back.join(", ")
            ));
        }
    }
    format!("Seen: {}.", parts.join(" · "))
}

pub fn rules_list(rules: &RuleSet, style: Style) -> String {
    render(|out| write_rules_list(out, rules, style))
}

fn write_rules_list(out: &mut impl Write, rules: &RuleSet, style: Style) -> fmt::Result {
    let all: Vec<&Rule> = rules.rules().collect();
    // "warning→critical": the severity a rule starts at, and the ones it can
    // escalate to (`twtune explain RULE` says when).
    let severity_of = |rule: &Rule| {
        let words: Vec<&str> = rule
            .severities()
            .into_iter()
            .map(Severity::as_str)
            .collect();
        words.join("→")
    };
    let width = all.iter().map(|r| r.id.len()).max().unwrap_or(0).max(4);
    let severity_width = all
        .iter()
        .map(|r| severity_of(r).chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    writeln!(
        out,
        "{}",
        style.dim(&format!(
            "{:width$}  {:severity_width$}  TITLE",
            "RULE", "SEVERITY"
        ))
    )?;
    for rule in all {
        let severity = severity_of(rule);
        let pad = " ".repeat(severity_width.saturating_sub(severity.chars().count()));
        writeln!(
            out,
            "{}  {}{pad}  {}",
            format_args!("{:width$}", rule.id),
            style.severity(rule.severity, &severity),
            rule.title
        )?;
    }
    writeln!(
        out,
        "{}",
        style.dim(
            "a→b: starts at a and escalates to b when its condition holds (`twtune explain RULE`)"
        )
    )?;
    Ok(())
}

pub fn explain(rule: &Rule, style: Style) -> String {
    render(|out| write_explain(out, rule, style))
}

fn write_explain(out: &mut impl Write, rule: &Rule, style: Style) -> fmt::Result {
    writeln!(
        out,
        "{}  {}",
        style.bold(&rule.id),
        style.severity(rule.severity, rule.severity.as_str())
    )?;
    writeln!(out, "{}\n", rule.title)?;
    writeln!(out, "{}", rule.rationale)?;
    writeln!(out, "\n{}", style.bold("Fires when"))?;
    if let Some(for_each) = &rule.for_each {
        writeln!(out, "  for each item of: {}", for_each.source.trim())?;
    }
    writeln!(out, "  {}", rule.when.source.trim())?;
    for escalation in &rule.escalate {
        writeln!(
            out,
            "  {} when: {}",
            escalation.severity,
            escalation.when.source.trim()
        )?;
    }
    if !rule.requires.is_empty() {
        writeln!(
            out,
            "  undecided unless known: {}",
            rule.requires.join(", ")
        )?;
    }
    if let Some(key) = &rule.key {
        writeln!(out, "\n{}", style.bold("Key"))?;
        writeln!(out, "  {}", key.source)?;
        if let Some(recommend) = &rule.recommend {
            writeln!(out, "  recommended: {}", recommend.source.trim())?;
        }
    }
    writeln!(out, "\n{}", style.bold("References"))?;
    for reference in &rule.references {
        writeln!(out, "  {reference}")?;
    }
    writeln!(
        out,
        "\n{}",
        style.dim(&format!(
            "defined at {}:{}",
            escape::text(&rule.origin.file),
            rule.origin.line
        ))
    )?;
    Ok(())
}

pub fn facts(facts: &Facts, style: Style) -> String {
    render(|out| write_facts(out, facts, style))
}

fn write_facts(out: &mut impl Write, facts: &Facts, style: Style) -> fmt::Result {
    writeln!(out, "{}", style.bold(&host_line(facts)))?;
    if let Some(v) = facts.kernel.version {
        writeln!(out, "kernel version {v}")?;
    }
    writeln!(
        out,
        "/proc/sys/net writable: {}",
        if facts.namespace.proc_sys_net_writable {
            "yes"
        } else {
            "no"
        }
    )?;
    writeln!(out, "\n{}", style.bold("Runtime sysctls"))?;
    for (key, value) in &facts.sysctl {
        let persisted = facts
            .persisted
            .winner(key)
            .map(|w| {
                format!(
                    "  (persisted {} at {}:{})",
                    w.value,
                    escape::text(&w.file),
                    w.line
                )
            })
            .unwrap_or_default();
        writeln!(out, "  {key} = {value}{}", style.dim(&persisted))?;
    }
    for key in &facts.sysctl_absent {
        writeln!(out, "  {key} {}", style.dim("(absent on this kernel)"))?;
    }
    writeln!(
        out,
        "\n{}",
        style.bold("Persisted sysctl files, in the order applied")
    )?;
    for file in &facts.persisted.files {
        writeln!(out, "  {}", escape::text(file))?;
    }
    for masked in &facts.persisted.masked {
        writeln!(
            out,
            "  {} {} (masked by {})",
            style.dim("-"),
            escape::text(&masked.file),
            escape::text(&masked.by)
        )?;
    }
    writeln!(out, "\n{}", style.bold("Counters"))?;
    for (protocol, fields) in &facts.counters.sockstat {
        let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "  sockstat {protocol}: {}", fields.join(", "))?;
    }
    // Beside sockstat's "tw" (TIME_WAIT now), these count events since boot.
    for name in [
        "TW",
        "TWRecycled",
        "TWKilled",
        "TCPTimeWaitOverflow",
        "PAWSActive",
        "PAWSEstab",
    ] {
        if let Some(v) = facts.counters.tcp_ext.get(name) {
            writeln!(
                out,
                "  TcpExt {name} = {v} {}",
                style.dim("(cumulative since boot)")
            )?;
        }
    }
    for name in ["ActiveOpens", "PassiveOpens", "CurrEstab"] {
        if let Some(v) = facts.counters.tcp.get(name) {
            writeln!(out, "  Tcp {name} = {v}")?;
        }
    }
    writeln!(out, "\n{}", style.bold("NAT"))?;
    writeln!(
        out,
        "  verdict: {} (this host translates: {}; its own traffic is translated: {})",
        facts.nat.verdict, facts.nat.translates, facts.nat.translated
    )?;
    for signal in &facts.nat.signals {
        writeln!(out, "  {}: {}", signal.name, signal.evidence)?;
    }
    if let Some(range) = &facts.nat.snat_port_range {
        for d in facts.nat.snat_destinations.iter().take(5) {
            writeln!(
                out,
                "  SNAT {} → {} ({}): {} of {} NAT ports ({}-{}, {}), {}",
                d.translated_address,
                d.remote,
                d.protocol,
                d.connections,
                d.ports,
                range.low,
                range.high,
                range.from,
                percent(d.ratio)
            )?;
        }
    }
    if let Some(sockets) = &facts.sockets {
        sockets_section(out, sockets, style)?;
    }
    Ok(())
}

fn sockets_section(
    out: &mut impl Write,
    s: &crate::facts::SocketFacts,
    style: Style,
) -> fmt::Result {
    writeln!(
        out,
        "\n{}",
        style.bold(&format!("Sockets (from {})", s.source))
    )?;
    if let Some(reason) = &s.fallback_reason {
        writeln!(out, "  netlink refused: {reason}")?;
    }
    let states: Vec<String> = s
        .states
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    writeln!(
        out,
        "  states: {}",
        if states.is_empty() {
            "none".to_string()
        } else {
            states.join(", ")
        }
    )?;
    writeln!(
        out,
        "  TIME_WAIT {}: server side {}, client side {}; CLOSE_WAIT {}",
        s.time_wait, s.time_wait_server_side, s.time_wait_client_side, s.close_wait
    )?;
    writeln!(
        out,
        "  ephemeral ports {}-{}: {} usable ({} reserved, {} held by listeners); client sockets hold {} ({}), {} with TIME_WAIT ({}, what bind(0) faces)",
        s.ephemeral_range.low,
        s.ephemeral_range.high,
        s.usable_ports,
        s.reserved_in_range,
        s.listeners_in_range,
        s.host_ports.in_use,
        percent(s.host_ports.ratio),
        s.host_ports.in_use_with_time_wait,
        percent(s.host_ports.ratio_with_time_wait)
    )?;
    let scope = match s.reuse.scope {
        crate::facts::sockets::ReuseScope::None => "off",
        crate::facts::sockets::ReuseScope::All => "all destinations",
        crate::facts::sockets::ReuseScope::Loopback => "loopback only",
    };
    writeln!(
        out,
        "  TIME_WAIT reuse by connect(): {scope}, after {} ms; {} client-side TIME_WAIT reusable now",
        s.reuse.delay_ms, s.time_wait_reusable
    )?;
    const SHOWN: usize = 5;
    for d in s.destinations.iter().take(SHOWN) {
        let rate = d
            .new_per_second
            .map(|r| format!(", {r} new/s"))
            .unwrap_or_default();
        // Whether its TIME_WAIT can be reused at all is the peer's to decide.
        let peer = match d.peer_timestamps {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        let unconfirmed = if d.time_wait_unconfirmed > 0 {
            format!(", {} if the peer sends timestamps", d.time_wait_unconfirmed)
        } else {
            String::new()
        };
        // TIME_WAIT has no owner; whoever holds its live connections is the
        // likely creator.
        let holder = match d.processes.first() {
            Some(p) => format!(
                "; likely creator pid {} ({}), {} live",
                p.pid,
                escape::text(&p.command),
                p.established
            ),
            None if d.processes_unattributed > 0 => "; owner unknown (not root)".to_string(),
            None => String::new(),
        };
        writeln!(
            out,
            "  {} → {}: {} of {} ports taken ({}); TIME_WAIT {} ({} reusable{unconfirmed}), established {}, other {}; peer timestamps {peer}{rate}{holder}",
            d.local,
            d.remote,
            d.taken,
            d.usable_ports,
            percent(d.exhaustion_ratio),
            d.time_wait,
            d.time_wait_reusable,
            d.established,
            d.other
        )?;
    }
    let more = s
        .destination_count
        .saturating_sub(SHOWN.min(s.destinations.len()) as u64);
    if more > 0 {
        writeln!(
            out,
            "  … and {more} more {}",
            if more == 1 {
                "destination"
            } else {
                "destinations"
            }
        )?;
    }
    for p in &s.close_wait_processes {
        writeln!(
            out,
            "  CLOSE_WAIT held by pid {} ({}): {}",
            p.pid,
            escape::text(&p.command),
            p.count
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_repeated_as_a_shell_reads_them() {
        let target = Target::new(
            std::path::Path::new("/srv/host trees/a"),
            &[std::path::PathBuf::from("/etc/rules")],
            Some("blue"),
        );
        assert_eq!(
            target.global,
            " --root '/srv/host trees/a' --rules /etc/rules"
        );
        assert_eq!(target.netns, " --netns blue");
        let host = Target::new(std::path::Path::new("/"), &[], None);
        assert_eq!((host.global.as_str(), host.netns.as_str()), ("", ""));
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn wrapping_keeps_lines_within_the_width_and_words_whole() {
        let text = "aaaa bbbb cccc dddd";
        assert_eq!(wrap(text, 0, 2, 10), "aaaa bbbb\n  cccc\n  dddd");
        assert_eq!(wrap(text, 0, 2, 11), "aaaa bbbb\n  cccc dddd");
        assert_eq!(wrap("abcdefghijkl", 0, 2, 5), "abcdefghijkl");
        assert_eq!(wrap(text, 0, 0, 120), text);
    }
}
