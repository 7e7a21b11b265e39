//! How to gather: from which source, and whether to sample.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::source::Source;

/// How to gather.
#[derive(Debug, Clone)]
pub struct GatherOptions {
    pub source: Source,
    /// Sample the counters twice this far apart and report rates.
    pub sample: Option<Duration>,
    /// Who the network namespace being gathered is, when the caller entered
    /// it (`--netns`, `--all-netns`) and already knows; `None`: found out.
    pub namespace: Option<super::namespace::Identity>,
    /// Whether the NAT facts may start nft and iptables-save (a process
    /// each) where netlink does not tell. `--all-netns` starts them in its
    /// own namespace only: at a hundred namespaces they would be most of its
    /// time. The nf_tables rule set is read over netlink in every namespace.
    pub nat_tools: bool,
}

impl GatherOptions {
    /// Gathers what `--root` names: `/` is the running system, any other
    /// folder a tree of files ([`Source::of_root`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::of(Source::of_root(&root.into()))
    }

    pub fn of(source: Source) -> Self {
        GatherOptions {
            source,
            sample: None,
            namespace: None,
            nat_tools: true,
        }
    }

    pub fn with_sample(mut self, sample: Option<Duration>) -> Self {
        self.sample = sample;
        self
    }

    pub fn with_namespace(mut self, namespace: Option<super::namespace::Identity>) -> Self {
        self.namespace = namespace;
        self
    }

    pub fn with_nat_tools(mut self, nat_tools: bool) -> Self {
        self.nat_tools = nat_tools;
        self
    }

    /// Where the live values are read: `/`, or the `--root` tree.
    pub fn root(&self) -> &Path {
        self.source.root()
    }

    /// Where the persisted configuration is read.
    pub fn config_root(&self) -> &Path {
        self.source.config_root()
    }

    /// See [`Source::reads_running_system`].
    pub fn reads_running_system(&self) -> bool {
        self.source.reads_running_system()
    }
}
