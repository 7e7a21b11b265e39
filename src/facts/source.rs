//! Where the facts come from: the running system, or a tree of files.

use std::path::{Path, PathBuf};

/// Where the facts come from. Decides, once, what twtune may ask of the
/// kernel it runs on: only a [`Source::Live`] gather opens netlink
/// sockets, lists processes and namespaces, starts nft and iptables-save or
/// traces; a [`Source::Tree`] is files only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The running system: `/proc` and the kernel asked directly. Its
    /// persisted configuration (sysctl.d folders, /etc/sysctl.conf,
    /// /etc/twtune/rules.d, the state folder) is read under `/`, or under
    /// `config` (`--config-root`: a node agent with the node's folders
    /// mounted there; the kernel read is still the running one).
    Live { config: Option<PathBuf> },
    /// A tree of files (`--root DIR`): a fixture, or a copy of another
    /// host. Everything, live values and configuration, is read under it.
    Tree(PathBuf),
}

impl Source {
    /// What `--root DIR` names: `/` is the running system, any other folder
    /// a tree.
    pub fn of_root(root: &Path) -> Source {
        match root == Path::new("/") {
            true => Source::Live { config: None },
            false => Source::Tree(root.to_path_buf()),
        }
    }

    /// Where the live values (`/proc`) are read: `/` or the tree.
    pub fn root(&self) -> &Path {
        match self {
            Source::Live { .. } => Path::new("/"),
            Source::Tree(dir) => dir,
        }
    }

    /// Where the persisted configuration is read.
    pub fn config_root(&self) -> &Path {
        match self {
            Source::Live { config: Some(dir) } | Source::Tree(dir) => dir,
            Source::Live { config: None } => Path::new("/"),
        }
    }

    /// True when the running kernel is read: only then may twtune ask it
    /// directly (netlink, processes, namespaces, tools, tracing) instead of
    /// reading files. True with `--config-root` too.
    pub fn reads_running_system(&self) -> bool {
        matches!(self, Source::Live { .. })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Source;

    #[test]
    fn only_the_running_system_is_asked_directly() {
        let host = Source::of_root(Path::new("/"));
        assert_eq!(host, Source::Live { config: None });
        assert!(host.reads_running_system());
        assert_eq!(
            (host.root(), host.config_root()),
            (Path::new("/"), Path::new("/"))
        );

        let tree = Source::of_root(Path::new("/srv/fixture"));
        assert!(!tree.reads_running_system());
        assert_eq!(tree.root(), Path::new("/srv/fixture"));
        assert_eq!(tree.config_root(), Path::new("/srv/fixture"));

        // --config-root: the kernel read is the running one, the files the node's.
        let agent = Source::Live {
            config: Some("/host".into()),
        };
        assert!(agent.reads_running_system());
        assert_eq!(agent.root(), Path::new("/"));
        assert_eq!(agent.config_root(), Path::new("/host"));
    }
}
