//! The verdict: how strongly NAT is indicated, and on which side of this host.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NatVerdict {
    Unknown,
    None,
    /// Only as a signal's weight: worth showing, too weak to move a verdict.
    Weak,
    Possible,
    Likely,
}

/// Which question a signal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NatSide {
    /// This host translates other hosts' traffic (router, container host).
    Translates,
    /// This host's own traffic is translated by a NAT in front of it.
    Translated,
    /// The remote peers seem to share addresses (PAWS rejects): a NAT in
    /// front of them, invisible from here.
    Peers,
}

impl NatVerdict {
    /// The word the JSON output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            NatVerdict::Unknown => "unknown",
            NatVerdict::None => "none",
            NatVerdict::Weak => "weak",
            NatVerdict::Possible => "possible",
            NatVerdict::Likely => "likely",
        }
    }
}

impl std::fmt::Display for NatVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
