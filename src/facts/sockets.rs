//! TIME_WAIT and CLOSE_WAIT sockets. Filled in by the socket-pressure issue.

use serde::Serialize;

use super::{FactError, GatherOptions};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SocketFacts {}

pub fn gather(_options: &GatherOptions) -> Result<Option<SocketFacts>, FactError> {
    Ok(None)
}
