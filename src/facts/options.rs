//! How to gather: which tree, and whether to sample.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to gather.
#[derive(Debug, Clone)]
pub struct GatherOptions {
    pub root: PathBuf,
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
    /// `--config-root`: the persisted configuration is read under this
    /// folder while everything live is read under `root` (the running
    /// system's `/`); `None`: both under `root`.
    pub config_root: Option<PathBuf>,
}

impl GatherOptions {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        GatherOptions {
            root: root.into(),
            sample: None,
            namespace: None,
            nat_tools: true,
            config_root: None,
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

    pub fn with_config_root(mut self, config_root: Option<PathBuf>) -> Self {
        self.config_root = config_root;
        self
    }

    /// Where the persisted configuration is read.
    pub fn config_root(&self) -> &Path {
        self.config_root.as_deref().unwrap_or(&self.root)
    }

    /// True when reading the live host rather than a fixture tree: only then may
    /// twtune ask the kernel directly (netlink) instead of reading files.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }
}
