//! The `check` page: the verdict, the host, the findings table, details on
//! request, and what to run next.

use super::*;

pub(super) fn host_line(facts: &Facts) -> String {
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

pub(super) fn no_findings(
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
pub(super) fn verdict_line(
    out: &mut impl Write,
    evaluation: &Evaluation,
    style: Style,
) -> fmt::Result {
    let findings = &evaluation.findings;
    let count = |s: Severity| evaluation.count(s);
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

pub(super) fn findings_report(
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

pub(super) fn findings_table(
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

pub(super) fn finding_details(
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
pub(super) fn closing_lines(
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
pub(super) fn undecided_rules(
    out: &mut impl Write,
    evaluation: &Evaluation,
    style: Style,
) -> fmt::Result {
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

/// What the check saw, in one line: TIME_WAIT with its client/server split,
/// CLOSE_WAIT, the busiest destination's use of its ports, the NAT verdict,
/// and the sampled rates with `--sample`.
pub(super) fn seen_line(facts: &Facts) -> String {
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
        if let Some(tracing) = facts.sockets.as_ref().map(|s| &s.tracing) {
            parts.push(tracing_part(tracing));
        }
    }
    format!("Seen: {}.", parts.join(" · "))
}

/// Whether a sample was traced (so creators and failures are the kernel's
/// record) or why not (so they are inferred), and the records lost.
fn tracing_part(tracing: &crate::facts::trace::TracingFacts) -> String {
    match (tracing.is_traced(), tracing.reason.as_deref()) {
        (true, _) => {
            let mut part = format!(
                "traced ({} events in {:.1} s",
                tracing.events, tracing.duration_seconds
            );
            if tracing.lost_events > 0 {
                part += &format!(
                    ", {} lost: the traced counts are lower bounds",
                    tracing.lost_events
                );
            }
            part + ")"
        }
        (false, Some(reason)) => format!(
            "not traced ({}): creators inferred, failures unseen",
            escape::text(reason)
        ),
        (false, None) => "not traced: creators inferred, failures unseen".to_string(),
    }
}
