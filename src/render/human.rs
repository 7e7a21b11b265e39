//! Text for people: a compact findings table first, details on request.

use std::fmt::Write as _;

use super::style::Style;
use crate::facts::Facts;
use crate::rules::{Evaluation, Rule, RuleSet, Severity};

pub struct CheckOptions {
    pub verbose: bool,
    pub rules_checked: usize,
}

fn host_line(facts: &Facts) -> String {
    let kernel = facts.kernel.release.as_deref().unwrap_or("unknown kernel");
    let namespace = match facts.namespace.initial {
        Some(true) => "host network namespace",
        Some(false) => "private network namespace (container?)",
        None => "network namespace unknown",
    };
    format!("kernel {kernel} · {namespace}")
}

pub fn check(
    facts: &Facts,
    evaluation: &Evaluation,
    options: &CheckOptions,
    style: Style,
) -> String {
    let mut out = String::new();
    let findings = &evaluation.findings;
    if findings.is_empty() {
        let _ = writeln!(
            out,
            "{} no TIME_WAIT-related problems found ({} rules checked; {})",
            style.ok("✓"),
            options.rules_checked,
            host_line(facts)
        );
    } else {
        let _ = writeln!(
            out,
            "{}\n",
            style.bold(&format!("twtune check · {}", host_line(facts)))
        );
        let rows: Vec<[String; 4]> = findings
            .iter()
            .map(|f| {
                let change = match (&f.current, &f.recommended) {
                    (Some(c), Some(r)) => format!("{c} → {r}"),
                    (None, Some(r)) => format!("(absent) → {r}"),
                    (Some(c), None) => c.clone(),
                    (None, None) if f.key.is_some() => "(absent)".into(),
                    (None, None) => "—".into(),
                };
                [
                    f.severity.to_string(),
                    f.key.clone().unwrap_or_else(|| "—".into()),
                    change,
                    f.summary.clone(),
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
        let _ = writeln!(
            out,
            "{}",
            style.dim(&format!(
                "{}  {}  {}  {}",
                pad(header[0], widths[0]),
                pad(header[1], widths[1]),
                pad(header[2], widths[2]),
                header[3]
            ))
        );
        for (row, finding) in rows.iter().zip(findings) {
            let _ = writeln!(
                out,
                "{}  {}  {}  {}",
                style.severity(finding.severity, &pad(&row[0], widths[0])),
                pad(&row[1], widths[1]),
                pad(&row[2], widths[2]),
                row[3]
            );
        }
        if options.verbose {
            for finding in findings {
                let _ = writeln!(
                    out,
                    "\n{} {}",
                    style.severity(finding.severity, &format!("[{}]", finding.severity)),
                    style.bold(&finding.rule)
                );
                let _ = writeln!(out, "  {}", finding.message);
                for evidence in &finding.evidence {
                    let _ = writeln!(out, "  {} {evidence}", style.dim("evidence:"));
                }
                for reference in &finding.references {
                    let _ = writeln!(out, "  {} {reference}", style.dim("see:"));
                }
            }
        }
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        let _ = writeln!(
            out,
            "\n{} finding{}: {} critical, {} warning, {} info.",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            count(Severity::Critical),
            count(Severity::Warning),
            count(Severity::Info)
        );
        let mut next = Vec::new();
        if !options.verbose {
            next.push("`twtune check --verbose` for evidence");
        }
        if findings.iter().any(|f| f.recommendation().is_some()) {
            next.push("`twtune apply --dry-run` for the changes");
        }
        next.push("`twtune explain RULE` for why");
        let _ = writeln!(
            out,
            "{}",
            style.dim(&format!("Next: {}.", next.join(" · ")))
        );
    }
    // A clean host keeps its one line unless more was asked for.
    let wanted = !findings.is_empty() || options.verbose || facts.rates.is_some();
    if let Some(line) = pressure_line(facts).filter(|_| wanted) {
        let _ = writeln!(out, "{}", style.dim(&line));
    }
    for undecided in &evaluation.undecided {
        let _ = writeln!(
            out,
            "{} rule {} undecided: {}",
            style.dim("?"),
            undecided.rule,
            undecided.reason
        );
    }
    for problem in &facts.degraded {
        let _ = writeln!(
            out,
            "{} {}: {}",
            style.severity(Severity::Critical, "error:"),
            problem.file,
            problem.message
        );
    }
    out
}

/// One line of context under a check: the socket counts, and the sampled
/// rates when `--sample` was given.
fn pressure_line(facts: &Facts) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(sockets) = &facts.sockets {
        parts.push(format!(
            "TIME_WAIT {} (server side {}, client side {}), CLOSE_WAIT {}",
            sockets.time_wait,
            sockets.time_wait_server_side,
            sockets.time_wait_client_side,
            sockets.close_wait
        ));
    }
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
    (!parts.is_empty()).then(|| parts.join(" · "))
}

pub fn rules_list(rules: &RuleSet, style: Style) -> String {
    let all: Vec<&Rule> = rules.rules().collect();
    let width = all.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for rule in all {
        let _ = writeln!(
            out,
            "{}  {}  {}",
            format_args!("{:width$}", rule.id),
            style.severity(rule.severity, &format!("{:8}", rule.severity.as_str())),
            rule.title
        );
    }
    out
}

pub fn explain(rule: &Rule, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {}",
        style.bold(&rule.id),
        style.severity(rule.severity, rule.severity.as_str())
    );
    let _ = writeln!(out, "{}\n", rule.title);
    let _ = writeln!(out, "{}", rule.rationale);
    let _ = writeln!(out, "\n{}", style.bold("Fires when"));
    if let Some(for_each) = &rule.for_each {
        let _ = writeln!(out, "  for each item of: {}", for_each.source.trim());
    }
    let _ = writeln!(out, "  {}", rule.when.source.trim());
    for escalation in &rule.escalate {
        let _ = writeln!(
            out,
            "  {} when: {}",
            escalation.severity,
            escalation.when.source.trim()
        );
    }
    if !rule.requires.is_empty() {
        let _ = writeln!(
            out,
            "  undecided unless known: {}",
            rule.requires.join(", ")
        );
    }
    if let Some(key) = &rule.key {
        let _ = writeln!(out, "\n{}", style.bold("Key"));
        let _ = writeln!(out, "  {}", key.source);
        if let Some(recommend) = &rule.recommend {
            let _ = writeln!(out, "  recommended: {}", recommend.source.trim());
        }
    }
    let _ = writeln!(out, "\n{}", style.bold("References"));
    for reference in &rule.references {
        let _ = writeln!(out, "  {reference}");
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.dim(&format!(
            "defined at {}:{}",
            rule.origin.file, rule.origin.line
        ))
    );
    out
}

pub fn facts(facts: &Facts, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.bold(&host_line(facts)));
    if let Some(v) = facts.kernel.version {
        let _ = writeln!(out, "kernel version {v}");
    }
    let _ = writeln!(
        out,
        "/proc/sys/net writable: {}",
        if facts.namespace.proc_sys_net_writable {
            "yes"
        } else {
            "no"
        }
    );
    let _ = writeln!(out, "\n{}", style.bold("Runtime sysctls"));
    for (key, value) in &facts.sysctl {
        let persisted = facts
            .persisted
            .winner(key)
            .map(|w| format!("  (persisted {} at {}:{})", w.value, w.file, w.line))
            .unwrap_or_default();
        let _ = writeln!(out, "  {key} = {value}{}", style.dim(&persisted));
    }
    for key in &facts.sysctl_absent {
        let _ = writeln!(out, "  {key} {}", style.dim("(absent on this kernel)"));
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.bold("Persisted sysctl files, in the order applied")
    );
    for file in &facts.persisted.files {
        let _ = writeln!(out, "  {file}");
    }
    for masked in &facts.persisted.masked {
        let _ = writeln!(
            out,
            "  {} {} (masked by {})",
            style.dim("-"),
            masked.file,
            masked.by
        );
    }
    let _ = writeln!(out, "\n{}", style.bold("Counters"));
    for (protocol, fields) in &facts.counters.sockstat {
        let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "  sockstat {protocol}: {}", fields.join(", "));
    }
    for name in [
        "TW",
        "TWRecycled",
        "TWKilled",
        "TCPTimeWaitOverflow",
        "PAWSActive",
        "PAWSEstab",
    ] {
        if let Some(v) = facts.counters.tcp_ext.get(name) {
            let _ = writeln!(out, "  TcpExt {name} = {v}");
        }
    }
    for name in ["ActiveOpens", "PassiveOpens", "CurrEstab"] {
        if let Some(v) = facts.counters.tcp.get(name) {
            let _ = writeln!(out, "  Tcp {name} = {v}");
        }
    }
    let _ = writeln!(out, "\n{}", style.bold("NAT"));
    let _ = writeln!(
        out,
        "  verdict: {}",
        serde_json::to_value(facts.nat.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    for signal in &facts.nat.signals {
        let _ = writeln!(out, "  {}: {}", signal.name, signal.evidence);
    }
    if let Some(sockets) = &facts.sockets {
        sockets_section(&mut out, sockets, style);
    }
    for problem in &facts.degraded {
        let _ = writeln!(out, "\nerror: {}: {}", problem.file, problem.message);
    }
    out
}

fn sockets_section(out: &mut String, s: &crate::facts::SocketFacts, style: Style) {
    let _ = writeln!(
        out,
        "\n{}",
        style.bold(&format!("Sockets (from {})", s.source))
    );
    if let Some(reason) = &s.fallback_reason {
        let _ = writeln!(out, "  netlink refused: {reason}");
    }
    let states: Vec<String> = s
        .states
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "  states: {}",
        if states.is_empty() {
            "none".to_string()
        } else {
            states.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "  TIME_WAIT {}: server side {}, client side {}; CLOSE_WAIT {}",
        s.time_wait, s.time_wait_server_side, s.time_wait_client_side, s.close_wait
    );
    let _ = writeln!(
        out,
        "  ephemeral ports {}-{}: {} usable ({} reserved, {} held by listeners); client sockets hold {} ({}%)",
        s.ephemeral_range.low,
        s.ephemeral_range.high,
        s.usable_ports,
        s.reserved_in_range,
        s.listeners_in_range,
        s.host_ports.in_use,
        (s.host_ports.ratio * 100.0) as u64
    );
    let scope = match s.reuse.scope {
        crate::facts::sockets::ReuseScope::None => "off",
        crate::facts::sockets::ReuseScope::All => "all destinations",
        crate::facts::sockets::ReuseScope::Loopback => "loopback only",
    };
    let _ = writeln!(
        out,
        "  TIME_WAIT reuse by connect(): {scope}, after {} ms; {} client-side TIME_WAIT reusable now",
        s.reuse.delay_ms, s.time_wait_reusable
    );
    const SHOWN: usize = 5;
    for d in s.destinations.iter().take(SHOWN) {
        let rate = d
            .new_per_second
            .map(|r| format!(", {r} new/s"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} → {}: {} of {} ports taken ({}%); TIME_WAIT {} ({} reusable), established {}, other {}{rate}",
            d.local,
            d.remote,
            d.taken,
            d.usable_ports,
            (d.exhaustion_ratio * 100.0) as u64,
            d.time_wait,
            d.time_wait_reusable,
            d.established,
            d.other
        );
    }
    let more = s
        .destination_count
        .saturating_sub(SHOWN.min(s.destinations.len()) as u64);
    if more > 0 {
        let _ = writeln!(
            out,
            "  … and {more} more {}",
            if more == 1 {
                "destination"
            } else {
                "destinations"
            }
        );
    }
    for p in &s.close_wait_processes {
        let _ = writeln!(
            out,
            "  CLOSE_WAIT held by pid {} ({}): {}",
            p.pid, p.command, p.count
        );
    }
}
