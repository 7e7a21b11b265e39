//! The socket and port numbers behind the port rules: TIME_WAIT by side,
//! CLOSE_WAIT, the host-wide and per-destination shares of the ephemeral
//! range, time to exhaustion, and traced connect() failures. All of it only
//! with a socket listing; per-destination series for the `top` worst
//! destinations only.

use std::collections::BTreeMap;

use super::exposition::Exposition;
use crate::facts::Facts;

/// Splits `"addr:port"` / `"[v6]:port"` into address and port; a value
/// without a port keeps it whole as the address.
pub fn split_remote(remote: &str) -> (&str, &str) {
    match remote.rsplit_once(':') {
        Some((address, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            let address = address
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(address);
            (address, port)
        }
        _ => (remote, ""),
    }
}

pub fn families(out: &mut Exposition, facts: &Facts, top: usize) {
    let Some(sockets) = &facts.sockets else {
        return;
    };
    out.gauge(
        "twtune_time_wait_sockets",
        "TCP sockets in TIME_WAIT by which side closed first: client (this host connected) or server (this host accepted) (sockets).",
    );
    out.sample(&[("side", "client")], sockets.time_wait_client_side as f64);
    out.sample(&[("side", "server")], sockets.time_wait_server_side as f64);

    out.gauge(
        "twtune_close_wait_sockets",
        "TCP sockets in CLOSE_WAIT: the peer closed, the local application has not (sockets).",
    );
    out.sample(&[], sockets.close_wait as f64);

    out.gauge(
        "twtune_max_exhaustion_ratio",
        "The highest share of usable ephemeral ports taken toward any one destination (ratio, 0 to 1).",
    );
    out.sample(&[], sockets.max_exhaustion_ratio);

    out.gauge(
        "twtune_host_ports_ratio",
        "Share of the usable ephemeral range held by any client socket, reusable TIME_WAIT included: what bind(0) and bind-before-connect face (ratio, 0 to 1).",
    );
    out.sample(&[], sockets.host_ports.ratio_with_time_wait);

    let worst = &sockets.destinations[..top.min(sockets.destinations.len())];
    let per_destination = |out: &mut Exposition, value: &dyn Fn(usize) -> Option<f64>| {
        for (i, d) in worst.iter().enumerate() {
            if let Some(v) = value(i) {
                let (address, port) = split_remote(&d.remote);
                out.sample(
                    &[("local", &d.local), ("address", address), ("port", port)],
                    v,
                );
            }
        }
    };
    out.gauge(
        "twtune_destination_exhaustion_ratio",
        "Share of usable ephemeral ports taken toward a destination (local address, remote address and port), for the busiest destinations (ratio, 0 to 1).",
    );
    per_destination(out, &|i| Some(worst[i].exhaustion_ratio));
    out.gauge(
        "twtune_destination_time_wait_sockets",
        "TIME_WAIT sockets from the ephemeral range toward a destination, for the busiest destinations (sockets).",
    );
    per_destination(out, &|i| Some(worst[i].time_wait as f64));
    out.gauge(
        "twtune_destination_taken_ports",
        "Ephemeral ports connect() cannot use toward a destination now (live connections and TIME_WAIT it may not reuse), for the busiest destinations (ports).",
    );
    per_destination(out, &|i| Some(worst[i].taken as f64));
    out.gauge(
        "twtune_destination_seconds_to_exhaustion",
        "At the sampled rate of new connections, how long until no ephemeral port is left toward a destination; only where --sample measured a rate that runs out (seconds).",
    );
    per_destination(out, &|i| worst[i].seconds_to_exhaustion);

    // The family is always named; it has samples only after a traced
    // --sample (none is not zero when nothing was traced). A counter, as its
    // `_total` name (issue 23) says and promtool's lint requires of it: each
    // run counts its sample from zero, which Prometheus reads as a restart.
    out.counter(
        "twtune_connect_failures_total",
        "connect() and bind() calls that failed with EADDRNOTAVAIL or EADDRINUSE during the last traced --sample, by errno and command, the most failing first; no sample without tracing (failures in the sample, counted from zero at each run).",
    );
    if sockets.tracing.status == "traced" {
        let mut by: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for failure in &sockets.connect_failures {
            let count = by
                .entry((failure.errno.as_str(), failure.command.as_str()))
                .or_default();
            *count = count.saturating_add(failure.count);
        }
        let mut ranked: Vec<_> = by.into_iter().collect();
        ranked.sort_by(|(ka, a), (kb, b)| b.cmp(a).then(ka.cmp(kb)));
        for ((errno, command), count) in ranked.into_iter().take(top) {
            out.sample(&[("errno", errno), ("command", command)], count as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_splits_into_address_and_port() {
        assert_eq!(split_remote("192.0.2.10:443"), ("192.0.2.10", "443"));
        assert_eq!(split_remote("[2001:db8::1]:80"), ("2001:db8::1", "80"));
        assert_eq!(split_remote("odd"), ("odd", ""));
        assert_eq!(split_remote("[::1]:x"), ("[::1]:x", ""));
    }
}
