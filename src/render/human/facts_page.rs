//! The `facts` page: everything gathered, section by section.

use super::check_page::host_line;
use super::*;

pub fn facts(facts: &Facts, style: Style) -> String {
    render(|out| write_facts(out, facts, style))
}

pub(super) fn write_facts(out: &mut impl Write, facts: &Facts, style: Style) -> fmt::Result {
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

pub(super) fn sockets_section(
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
        // The creator the port findings name: traced, or likely (TIME_WAIT
        // has no owner).
        let holder = match &d.top_creator {
            Some(top) => format!("; {}", escape::text(&top.phrase)),
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
