//! Which persisted keys can have a runtime value, told by listing folders
//! instead of failing to open one file per key (issue 20 §2).
//!
//! Gathering reads the runtime value of every key a sysctl file sets, for
//! drift. A generated file of 100,000 per-interface lines
//! (`net.ipv4.conf.vethN.forwarding`) for interfaces that do not exist made
//! 100,000 failed opens. A folder on the way (`net/ipv4/conf`) is listed once
//! instead; a key whose next name the listing lacks has no file, and is not
//! opened. Anything that cannot be listed is opened as before, so the
//! answer is the same: only the failed opens are saved.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::read::read_dir_confined;
use crate::sysctl::SysctlKey;

/// Folder listings under `ROOT/proc/sys`, each made once.
#[derive(Debug, Default)]
pub struct Listings {
    /// Folder → its names; None where it could not be listed.
    folders: HashMap<PathBuf, Option<HashSet<OsString>>>,
}

impl Listings {
    /// False only when a folder on the way to `key`'s file was listed and
    /// lacks the next name: then the key has no runtime value.
    pub fn may_exist(&mut self, root: &Path, key: &SysctlKey) -> bool {
        let base = root.join("proc/sys");
        let path = key.proc_path(root);
        let Ok(relative) = path.strip_prefix(&base) else {
            return true;
        };
        let mut folder = base.clone();
        for component in relative.components() {
            let Component::Normal(name) = component else {
                return true;
            };
            let listing = self.folders.entry(folder.clone()).or_insert_with(|| {
                read_dir_confined(&folder)
                    .ok()
                    .map(|names| names.into_iter().collect())
            });
            match listing {
                Some(names) if !names.contains(name) => return false,
                Some(_) => folder.push(name),
                None => return true,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_under_a_missing_folder_has_no_file_and_others_may() {
        let root = std::env::temp_dir().join(format!("twtune-listings-{}", std::process::id()));
        let conf = root.join("proc/sys/net/ipv4/conf/eth0");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("forwarding"), "0\n").unwrap();
        let mut listings = Listings::default();
        let key = |k: &str| SysctlKey::parse(k).unwrap();
        assert!(listings.may_exist(&root, &key("net.ipv4.conf.eth0.forwarding")));
        assert!(!listings.may_exist(&root, &key("net.ipv4.conf.veth7.forwarding")));
        assert!(!listings.may_exist(&root, &key("net.ipv4.conf.eth0.rp_filter")));
        assert!(!listings.may_exist(&root, &key("net.core.somaxconn")));
        // Listed once each: proc/sys, net, ipv4, conf, eth0.
        assert_eq!(listings.folders.len(), 5);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
