//! The kernel's defaults (and twtune's two port thresholds), as rule conditions see them: the `defaults`
//! variable. Rules compare against and recommend these instead of writing the
//! numbers again, so a default is stated once, next to the code that relies
//! on it (`facts::ports::DEFAULT_RANGE`, `facts::sockets::TIME_WAIT_SECONDS`).

use serde_json::{Value as Json, json};

use crate::facts::{ports, sockets};

/// tcp_fin_timeout's default: TCP_FIN_TIMEOUT, defined as TCP_TIMEWAIT_LEN
/// (include/net/tcp.h; set in tcp_sk_init(), net/ipv4/tcp_ipv4.c).
pub const TCP_FIN_TIMEOUT_SECONDS: i64 = 60;

/// tcp_tw_reuse_delay's default (6.14+): `1 * MSEC_PER_SEC` in tcp_sk_init(),
/// net/ipv4/tcp_ipv4.c (commit ca6a6f93867a).
pub const TCP_TW_REUSE_DELAY_MS: i64 = 1000;

/// nf_conntrack_tcp_timeout_time_wait's default: 2 minutes
/// (`tcp_timeouts[TCP_CONNTRACK_TIME_WAIT] = 2 MINS`, net/netfilter/nf_conntrack_proto_tcp.c).
pub const NF_CONNTRACK_TCP_TIMEOUT_TIME_WAIT_SECONDS: i64 = 120;

/// The share of a destination's usable ephemeral ports taken at which the
/// port rules warn, and at which they turn critical. Stated once: the rules
/// compare against `defaults.exhaustion_ratio_warning` / `_critical`, and the
/// Nagios perfdata thresholds are these numbers.
pub const EXHAUSTION_RATIO_WARNING: f64 = 0.5;
pub const EXHAUSTION_RATIO_CRITICAL: f64 = 0.9;

/// One row of the `defaults` view: its name, value and where the kernel sets it.
pub struct Default {
    pub name: &'static str,
    pub value: fn() -> Json,
    pub description: &'static str,
}

/// Every member of `defaults`, in the order `twtune facts --schema` prints them.
pub const DEFAULTS: &[Default] = &[
    Default {
        name: "ip_local_port_range",
        value: || json!([ports::DEFAULT_RANGE.0, ports::DEFAULT_RANGE.1]),
        description: "the ephemeral port range since 4.2, [low, high] (inet_init_net(), net/ipv4/af_inet.c)",
    },
    Default {
        name: "ephemeral_ports",
        value: || json!(ephemeral_ports()),
        description: "the number of ports in that range",
    },
    Default {
        name: "time_wait_seconds",
        // A whole number of seconds, so conditions divide ints by it.
        value: || json!(sockets::TIME_WAIT_SECONDS as i64),
        description: "how long TIME_WAIT lasts: TCP_TIMEWAIT_LEN (include/net/tcp.h), not a sysctl on mainline kernels",
    },
    Default {
        name: "tcp_fin_timeout",
        value: || json!(TCP_FIN_TIMEOUT_SECONDS),
        description: "tcp_fin_timeout's default in seconds: TCP_FIN_TIMEOUT (include/net/tcp.h)",
    },
    Default {
        name: "tcp_tw_reuse_delay",
        value: || json!(TCP_TW_REUSE_DELAY_MS),
        description: "tcp_tw_reuse_delay's default in milliseconds (6.14+; tcp_sk_init(), net/ipv4/tcp_ipv4.c)",
    },
    Default {
        name: "nf_conntrack_tcp_timeout_time_wait",
        value: || json!(NF_CONNTRACK_TCP_TIMEOUT_TIME_WAIT_SECONDS),
        description: "nf_conntrack_tcp_timeout_time_wait's default in seconds (nf_conntrack_proto_tcp.c)",
    },
    Default {
        name: "exhaustion_ratio_warning",
        value: || json!(EXHAUSTION_RATIO_WARNING),
        description: "twtune's own threshold, not the kernel's: the share of usable ephemeral ports taken (toward one destination, or host-wide) at which the port rules warn",
    },
    Default {
        name: "exhaustion_ratio_critical",
        value: || json!(EXHAUSTION_RATIO_CRITICAL),
        description: "twtune's own threshold: the share at which those rules turn critical",
    },
];

fn ephemeral_ports() -> i64 {
    i64::from(ports::DEFAULT_RANGE.1) - i64::from(ports::DEFAULT_RANGE.0) + 1
}

/// The `defaults` variable.
pub fn view() -> Json {
    Json::Object(
        DEFAULTS
            .iter()
            .map(|d| (d.name.to_string(), (d.value)()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_range_default_is_the_one_the_facts_fall_back_to() {
        let view = view();
        assert_eq!(view["ip_local_port_range"], json!([32768, 60999]));
        assert_eq!(view["ephemeral_ports"], 28232);
        assert_eq!(view["time_wait_seconds"], 60);
    }
}
