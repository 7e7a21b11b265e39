//! NAT signals. Until they are gathered the verdict is "unknown".

use serde::Serialize;

use super::{FactError, GatherOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NatVerdict {
    None,
    Possible,
    Likely,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatSignal {
    pub name: String,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatFacts {
    pub verdict: NatVerdict,
    pub signals: Vec<NatSignal>,
}

pub fn gather(_options: &GatherOptions) -> Result<NatFacts, FactError> {
    Ok(NatFacts {
        verdict: NatVerdict::Unknown,
        signals: Vec::new(),
    })
}
