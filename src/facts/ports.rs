//! The ephemeral port range and the reserved ports inside it.
//!
//! connect() picks local ports from `ip_local_port_range`, skipping
//! `ip_local_reserved_ports`; what is left is the pool one destination can
//! draw from, and so the denominator of every exhaustion ratio.

use schemars::JsonSchema;
use serde::Serialize;

/// The kernel's default range since v4.2, used when the sysctl is unreadable.
pub const DEFAULT_RANGE: (u16, u16) = (32768, 60999);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange {
            low: DEFAULT_RANGE.0,
            high: DEFAULT_RANGE.1,
        }
    }
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        self.low <= port && port <= self.high
    }

    /// Ports in the range; 0 when the range is inverted (the kernel then
    /// refuses every automatic choice).
    pub fn size(&self) -> u32 {
        if self.low > self.high {
            0
        } else {
            u32::from(self.high) - u32::from(self.low) + 1
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortParseError {
    #[error("{0:?} is not two port numbers")]
    Range(String),
    #[error("{0:?} is not a port or port range")]
    Reserved(String),
}

/// Parses `ip_local_port_range` as /proc shows it: two numbers, tab separated.
pub fn parse_range(text: &str) -> Result<PortRange, PortParseError> {
    let err = || PortParseError::Range(text.trim().to_string());
    let mut words = text.split_whitespace();
    let low = words.next().and_then(|w| w.parse().ok()).ok_or_else(err)?;
    let high = words.next().and_then(|w| w.parse().ok()).ok_or_else(err)?;
    if words.next().is_some() {
        return Err(err());
    }
    Ok(PortRange { low, high })
}

/// Parses `ip_local_reserved_ports`: comma-separated ports and `a-b` ranges,
/// possibly empty.
pub fn parse_reserved(text: &str) -> Result<Vec<PortRange>, PortParseError> {
    let mut out = Vec::new();
    for part in text.trim().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let err = || PortParseError::Reserved(part.to_string());
        let range = match part.split_once('-') {
            Some((a, b)) => PortRange {
                low: a.trim().parse().map_err(|_| err())?,
                high: b.trim().parse().map_err(|_| err())?,
            },
            None => {
                let p = part.parse().map_err(|_| err())?;
                PortRange { low: p, high: p }
            }
        };
        if range.low > range.high {
            return Err(err());
        }
        out.push(range);
    }
    Ok(out)
}

/// Ports connect() may choose: the range minus the reserved ports inside it.
/// Reserved ranges may overlap each other, so count distinct ports.
pub fn usable_ports(range: PortRange, reserved: &[PortRange]) -> u32 {
    if range.size() == 0 {
        return 0;
    }
    let mut clipped: Vec<(u16, u16)> = reserved
        .iter()
        .filter(|r| r.high >= range.low && r.low <= range.high)
        .map(|r| (r.low.max(range.low), r.high.min(range.high)))
        .collect();
    clipped.sort_unstable();
    let mut reserved_count = 0u32;
    let mut covered_to: Option<u16> = None;
    for (low, high) in clipped {
        let start = match covered_to {
            Some(c) if c >= high => continue,
            Some(c) if c >= low => c + 1,
            _ => low,
        };
        reserved_count += u32::from(high) - u32::from(start) + 1;
        covered_to = Some(high);
    }
    range.size() - reserved_count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_as_proc_prints_it() {
        assert_eq!(
            parse_range("32768\t60999\n"),
            Ok(PortRange {
                low: 32768,
                high: 60999
            })
        );
        assert!(parse_range("32768").is_err());
        assert!(parse_range("1 2 3").is_err());
        assert!(parse_range("a b").is_err());
        assert!(parse_range("1 70000").is_err());
    }

    #[test]
    fn reserved_ports() {
        assert_eq!(parse_reserved("\n"), Ok(vec![]));
        assert_eq!(
            parse_reserved("8080,9000-9100\n"),
            Ok(vec![
                PortRange {
                    low: 8080,
                    high: 8080
                },
                PortRange {
                    low: 9000,
                    high: 9100
                }
            ])
        );
        assert!(parse_reserved("9100-9000").is_err());
        assert!(parse_reserved("80,x").is_err());
    }

    #[test]
    fn usable_counts_only_reserved_ports_inside_the_range() {
        let range = PortRange {
            low: 32768,
            high: 60999,
        };
        assert_eq!(usable_ports(range, &[]), 28232);
        let reserved = parse_reserved("8080,32768-32777,40000,39995-40004,60990-61100").unwrap();
        // 10 at the bottom, 10 around 40000 (overlapping the single port), 10 at the top.
        assert_eq!(usable_ports(range, &reserved), 28232 - 30);
        let inverted = PortRange {
            low: 2000,
            high: 1000,
        };
        assert_eq!(usable_ports(inverted, &[]), 0);
    }
}
