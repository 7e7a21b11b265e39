//! The NAT signals: what each is, how it is checked, and PAWS rejects as one.

use super::*;

/// What a NAT signal is, by the source that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalName {
    ConntrackSnat,
    ConntrackDnat,
    NatRules,
    ContainerInterfaces,
    PrivateAddresses,
    PawsRejects,
    IpForward,
}

impl SignalName {
    /// The name the JSON output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalName::ConntrackSnat => "conntrack_snat",
            SignalName::ConntrackDnat => "conntrack_dnat",
            SignalName::NatRules => "nat_rules",
            SignalName::ContainerInterfaces => "container_interfaces",
            SignalName::PrivateAddresses => "private_addresses",
            SignalName::PawsRejects => "paws_rejects",
            SignalName::IpForward => "ip_forward",
        }
    }
}

impl std::fmt::Display for SignalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source of NAT evidence that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum NatCheck {
    #[serde(rename = "conntrack")]
    Conntrack,
    // The nf_tables rule set, read over netlink (no `nft` started).
    #[serde(rename = "nf_tables")]
    NfTables,
    // The nf_tables rule set, read by `nft -j list ruleset`.
    #[serde(rename = "nft")]
    Nft,
    #[serde(rename = "iptables-save")]
    IptablesSave,
    #[serde(rename = "ip6tables-save")]
    Ip6tablesSave,
    #[serde(rename = "interfaces")]
    Interfaces,
    #[serde(rename = "addresses")]
    Addresses,
    #[serde(rename = "paws")]
    Paws,
    #[serde(rename = "ip_forward")]
    IpForward,
}

impl NatCheck {
    /// The name the JSON output uses; for a rule-set dump, the tool's name.
    pub fn as_str(self) -> &'static str {
        match self {
            NatCheck::Conntrack => "conntrack",
            NatCheck::NfTables => "nf_tables",
            NatCheck::Nft => "nft",
            NatCheck::IptablesSave => "iptables-save",
            NatCheck::Ip6tablesSave => "ip6tables-save",
            NatCheck::Interfaces => "interfaces",
            NatCheck::Addresses => "addresses",
            NatCheck::Paws => "paws",
            NatCheck::IpForward => "ip_forward",
        }
    }

    /// A NAT table or rule set was inspected (not only hints around it).
    pub(super) fn inspects_translation(self) -> bool {
        matches!(
            self,
            NatCheck::Conntrack
                | NatCheck::NfTables
                | NatCheck::Nft
                | NatCheck::IptablesSave
                | NatCheck::Ip6tablesSave
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NatSignal {
    pub name: SignalName,
    /// "likely", "possible" or "weak": what this signal alone says.
    pub weight: NatVerdict,
    pub side: NatSide,
    pub evidence: String,
}

/// PAWS rejects as a NAT signal: only their growth while sampling counts.
/// A since-boot total says nothing about now (one misbehaving peer a month
/// ago, a clock jump), so without `--sample` it is noted and not weighed.
pub(super) fn paws(facts: &mut NatFacts, counters: &Counters, rates: Option<&Rates>) {
    match rates {
        Some(rates) => {
            let growing: Vec<String> = [
                ("PAWSActive", rates.paws_active),
                ("PAWSEstab", rates.paws_estab),
            ]
            .iter()
            .filter_map(|(name, rate)| {
                rate.filter(|r| *r > 0.0)
                    .map(|r| format!("{name} +{r:.1}/s"))
            })
            .collect();
            facts.checked.push(NatCheck::Paws);
            if !growing.is_empty() {
                facts.signal(
                    SignalName::PawsRejects,
                    NatVerdict::Possible,
                    NatSide::Peers,
                    format!(
                        "TcpExt {} over {:.1} s: segments rejected for old timestamps now, as when peers behind one address have unrelated clocks",
                        growing.join(", "),
                        rates.interval_seconds
                    ),
                );
            }
        }
        None => {
            let since_boot: Vec<String> = ["PAWSActive", "PAWSEstab"]
                .iter()
                .filter_map(|k| {
                    counters
                        .tcp_ext
                        .get(*k)
                        .filter(|v| **v > 0)
                        .map(|v| format!("{k}={v}"))
                })
                .collect();
            if !since_boot.is_empty() {
                facts.unchecked.push(format!(
                    "paws: TcpExt {} since boot is not evidence of NAT now; `check --sample` measures whether it grows",
                    since_boot.join(", ")
                ));
            }
        }
    }
}
