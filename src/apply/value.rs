//! What a value may be, per key, checked before anything is written.
//!
//! The kernel is the last word (a value it rejects is rolled back), but
//! several keys accept values that make no sense and some quietly keep a
//! prefix of what was written: `tcp_fin_timeout` takes "-5" and "1 2 3" reads
//! back as "1". Catching those here gives an error that names the key and
//! says why, before the host is touched. Bounds come from
//! Documentation/networking/ip-sysctl.rst and the handlers in
//! net/ipv4/sysctl_net_ipv4.c.

use crate::sysctl::SysctlKey;

/// The shape of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// One integer from a fixed set (modes such as tcp_tw_reuse 0/1/2).
    Choice(&'static [i64]),
    /// One integer within inclusive bounds.
    Int { min: i64, max: i64 },
    /// `ip_local_port_range`: "low high", 1..=65535, low ≤ high.
    PortRange,
    /// `ip_local_reserved_ports`: comma-separated ports and ranges, or empty.
    PortList,
    /// A key twtune has no table entry for whose current value is N integers
    /// (tcp_mem, tcp_rmem): the new value must be N integers too.
    Ints(usize),
    /// Anything else: one line of printable text.
    Text,
}

const INT_MAX: i64 = i32::MAX as i64;

/// Keys twtune knows by name. Others are typed from their current value.
fn known(key: &str) -> Option<ValueKind> {
    let name = key.strip_prefix("net.ipv4.")?;
    Some(match name {
        "tcp_tw_reuse" | "tcp_timestamps" => ValueKind::Choice(&[0, 1, 2]),
        "tcp_tw_recycle" | "tcp_rfc1337" | "ip_forward" => ValueKind::Choice(&[0, 1]),
        // ip-sysctl.rst: "Possible values are 1 - 60000" (milliseconds).
        "tcp_tw_reuse_delay" => ValueKind::Int {
            min: 1,
            max: 60_000,
        },
        // Seconds kept in jiffies in an int: INT_MAX / HZ with HZ up to 1000.
        // The kernel takes 0 and negatives; neither is a FIN_WAIT2 lifetime.
        "tcp_fin_timeout" => ValueKind::Int {
            min: 1,
            max: INT_MAX / 1000,
        },
        "tcp_max_tw_buckets" | "tcp_max_orphans" => ValueKind::Int {
            min: 0,
            max: INT_MAX,
        },
        "ip_unprivileged_port_start" => ValueKind::Int {
            min: 0,
            max: 65_535,
        },
        "ip_local_port_range" => ValueKind::PortRange,
        "ip_local_reserved_ports" => ValueKind::PortList,
        _ => return None,
    })
}

/// The kind of `key`, from the table or else from the shape of `current`.
pub fn kind_of(key: &SysctlKey, current: &str) -> ValueKind {
    if let Some(kind) = known(key.as_str()) {
        return kind;
    }
    let words: Vec<&str> = current.split_whitespace().collect();
    if !words.is_empty() && words.iter().all(|w| w.parse::<i64>().is_ok()) {
        if words.len() == 1 {
            ValueKind::Int {
                min: i64::MIN,
                max: i64::MAX,
            }
        } else {
            ValueKind::Ints(words.len())
        }
    } else {
        ValueKind::Text
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value:?}: {reason}")]
pub struct ValueError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// What else the kernel constrains, read from the host at plan time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// `net.ipv4.ip_unprivileged_port_start`: the kernel refuses a local port
    /// range that starts below it.
    pub unprivileged_port_start: Option<i64>,
}

/// A valid value in canonical form (the way /proc prints it, whitespace
/// folded), plus advice that does not make it invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub value: String,
    pub notes: Vec<String>,
}

pub fn check(
    key: &SysctlKey,
    kind: ValueKind,
    raw: &str,
    ctx: Context,
) -> Result<Checked, ValueError> {
    let fail = |reason: String| ValueError {
        key: key.to_string(),
        value: raw.to_string(),
        reason,
    };
    let words: Vec<&str> = raw.split_whitespace().collect();
    let one_int = || -> Result<i64, ValueError> {
        match words.as_slice() {
            [word] => parse_int(word).ok_or_else(|| fail("not an integer".into())),
            [] => Err(fail("empty; an integer is needed".into())),
            _ => Err(fail("one integer is needed, not several".into())),
        }
    };
    let mut notes = Vec::new();
    let value = match kind {
        ValueKind::Choice(allowed) => {
            let n = one_int()?;
            if !allowed.contains(&n) {
                return Err(fail(format!("must be one of {}", join(allowed))));
            }
            n.to_string()
        }
        ValueKind::Int { min, max } => {
            let n = one_int()?;
            if n < min || n > max {
                return Err(fail(format!("must be between {min} and {max}")));
            }
            n.to_string()
        }
        ValueKind::PortRange => {
            let [low, high] = words.as_slice() else {
                return Err(fail("a port range is two integers, \"low high\"".into()));
            };
            let (Some(low), Some(high)) = (parse_int(low), parse_int(high)) else {
                return Err(fail("a port range is two integers, \"low high\"".into()));
            };
            if !(1..=65_535).contains(&low) || !(1..=65_535).contains(&high) {
                return Err(fail("ports are between 1 and 65535".into()));
            }
            if low > high {
                return Err(fail(format!(
                    "the low port {low} is above the high port {high}"
                )));
            }
            if let Some(start) = ctx.unprivileged_port_start
                && low < start
            {
                return Err(fail(format!(
                    "the kernel refuses a range starting below net.ipv4.ip_unprivileged_port_start ({start})"
                )));
            }
            if low % 2 == high % 2 {
                notes.push(format!(
                    "{key}: {low} and {high} have the same parity; the kernel prefers different parity for start/end values"
                ));
            }
            format!("{low} {high}")
        }
        ValueKind::PortList => {
            let text: String = raw.split_whitespace().collect();
            if !text.is_empty() {
                for part in text.split(',') {
                    let ports: Vec<Option<i64>> = part.splitn(2, '-').map(parse_int).collect();
                    let ok = match ports.as_slice() {
                        [Some(p)] => (0..=65_535).contains(p),
                        [Some(a), Some(b)] => {
                            (0..=65_535).contains(a) && (0..=65_535).contains(b) && a <= b
                        }
                        _ => false,
                    };
                    if !ok {
                        return Err(fail(format!(
                            "{part:?} is not a port or a range low-high within 0..65535"
                        )));
                    }
                }
            }
            text
        }
        ValueKind::Ints(n) => {
            if words.len() != n || words.iter().any(|w| parse_int(w).is_none()) {
                return Err(fail(format!("this key holds {n} integers")));
            }
            words
                .iter()
                .map(|w| parse_int(w).unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }
        ValueKind::Text => {
            if raw.chars().any(|c| c.is_control() && c != '\t') {
                return Err(fail("contains a newline or control character".into()));
            }
            words.join(" ")
        }
    };
    Ok(Checked { value, notes })
}

/// Two spellings of one value (whitespace aside).
pub fn normalize_same(a: &str, b: &str) -> bool {
    crate::sysctl::normalize_value(a) == crate::sysctl::normalize_value(b)
}

/// Decimal only, as the kernel's integer handlers read it; no "+", no hex.
fn parse_int(word: &str) -> Option<i64> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

fn join(values: &[i64]) -> String {
    let texts: Vec<String> = values.iter().map(i64::to_string).collect();
    match texts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => texts.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chk(key: &str, current: &str, raw: &str) -> Result<String, String> {
        let key = SysctlKey::parse(key).unwrap();
        let ctx = Context {
            unprivileged_port_start: Some(1024),
        };
        check(&key, kind_of(&key, current), raw, ctx)
            .map(|c| c.value)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn modes_are_enumerated() {
        assert_eq!(chk("net.ipv4.tcp_tw_reuse", "2", " 1 "), Ok("1".into()));
        let err = chk("net.ipv4.tcp_tw_reuse", "2", "3").unwrap_err();
        assert!(
            err.contains("net.ipv4.tcp_tw_reuse") && err.contains("0, 1 or 2"),
            "{err}"
        );
        assert!(chk("net.ipv4.tcp_tw_recycle", "0", "2").is_err());
    }

    #[test]
    fn integers_are_bounded_and_single() {
        assert!(chk("net.ipv4.tcp_fin_timeout", "60", "-5").is_err());
        assert!(chk("net.ipv4.tcp_fin_timeout", "60", "1 2 3").is_err());
        assert!(chk("net.ipv4.tcp_fin_timeout", "60", "0x10").is_err());
        assert_eq!(
            chk("net.ipv4.tcp_fin_timeout", "60", "030"),
            Ok("30".into())
        );
        assert!(chk("net.ipv4.tcp_tw_reuse_delay", "1000", "0").is_err());
        assert_eq!(
            chk("net.ipv4.tcp_tw_reuse_delay", "1000", "60000"),
            Ok("60000".into())
        );
    }

    #[test]
    fn port_ranges_are_ordered_pairs_above_the_privileged_ports() {
        assert_eq!(
            chk(
                "net.ipv4.ip_local_port_range",
                "32768 60999",
                "10000\t65000"
            ),
            Ok("10000 65000".into())
        );
        let err = chk("net.ipv4.ip_local_port_range", "", "40000 30000").unwrap_err();
        assert!(err.contains("above the high port"), "{err}");
        assert!(chk("net.ipv4.ip_local_port_range", "", "80 60999").is_err());
        assert!(chk("net.ipv4.ip_local_port_range", "", "1024").is_err());
        assert!(chk("net.ipv4.ip_local_port_range", "", "1024 70000").is_err());
    }

    #[test]
    fn same_parity_is_advice_not_an_error() {
        let key = SysctlKey::ipv4("ip_local_port_range");
        let checked = check(
            &key,
            ValueKind::PortRange,
            "10000 60000",
            Context::default(),
        )
        .unwrap();
        assert_eq!(checked.notes.len(), 1);
    }

    #[test]
    fn reserved_ports_are_lists_of_ports_and_ranges() {
        assert_eq!(
            chk("net.ipv4.ip_local_reserved_ports", "", "8080, 9000-9100"),
            Ok("8080,9000-9100".into())
        );
        assert_eq!(
            chk("net.ipv4.ip_local_reserved_ports", "", ""),
            Ok("".into())
        );
        assert!(chk("net.ipv4.ip_local_reserved_ports", "", "9100-9000").is_err());
        assert!(chk("net.ipv4.ip_local_reserved_ports", "", "http").is_err());
    }

    #[test]
    fn unknown_keys_are_typed_by_their_current_value() {
        assert_eq!(chk("net.core.somaxconn", "4096", "8192"), Ok("8192".into()));
        assert!(chk("net.core.somaxconn", "4096", "lots").is_err());
        assert_eq!(
            chk("net.ipv4.tcp_mem", "1 2 3", "4  5 6"),
            Ok("4 5 6".into())
        );
        assert!(chk("net.ipv4.tcp_mem", "1 2 3", "4 5").is_err());
        assert_eq!(
            chk("net.ipv4.tcp_congestion_control", "cubic", "bbr"),
            Ok("bbr".into())
        );
        assert!(chk("net.ipv4.tcp_congestion_control", "cubic", "bbr\nx").is_err());
    }
}
