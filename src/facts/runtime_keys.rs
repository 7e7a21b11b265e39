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

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::read::read_dir_confined;
use crate::sysctl::SysctlKey;

/// Folder listings under `ROOT/proc/sys`, each made once.
#[derive(Debug, Default)]
pub struct Listings {
    /// Folder, named by the dotted key prefix that leads to it (`""` for
    /// proc/sys itself, `net.ipv4.conf`) → its names; None where it could
    /// not be listed. Keyed by the key's own text, so asking about a key
    /// allocates nothing once its folders are listed (100,000 keys).
    folders: HashMap<String, usize>,
    /// The listings `folders` points into: names sorted, for a binary search.
    listings: Vec<Option<Vec<OsString>>>,
    /// The folder asked about last, and its listing: keys come in runs
    /// under one folder, which then costs a comparison, not a hash.
    last: Option<(String, usize)>,
    /// The last key's leading components that were each found in their
    /// folder's listing (`net.ipv4.conf`): keys come in runs under one
    /// folder, and the next key that starts with them is looked up from
    /// there.
    found: String,
}

impl Listings {
    /// False only when a folder on the way to `key`'s file was listed and
    /// lacks the next name: then the key has no runtime value.
    pub fn may_exist(&mut self, root: &Path, key: &SysctlKey) -> bool {
        let text = key.as_str();
        let mut start = match text.strip_prefix(self.found.as_str()) {
            Some(rest) if !self.found.is_empty() && rest.starts_with('.') => self.found.len() + 1,
            _ => 0,
        };
        let answer = loop {
            let end = text[start..].find('.').map_or(text.len(), |i| start + i);
            // A slashed key's dots live on as '/' inside a component.
            let name = match text[start..end].contains('/') {
                true => Cow::Owned(text[start..end].replace('/', ".")),
                false => Cow::Borrowed(&text[start..end]),
            };
            let folder = &text[..start.saturating_sub(1)];
            let cached = (self.last.as_ref())
                .filter(|(last, _)| last == folder)
                .map(|&(_, index)| index);
            let index = match cached.or_else(|| self.folders.get(folder).copied()) {
                Some(index) => index,
                None => {
                    let listing =
                        read_dir_confined(&folder_path(root, folder))
                            .ok()
                            .map(|mut names| {
                                names.sort_unstable();
                                names
                            });
                    self.listings.push(listing);
                    let index = self.listings.len() - 1;
                    self.folders.insert(folder.to_string(), index);
                    index
                }
            };
            match &mut self.last {
                Some((last, at)) => {
                    if last != folder {
                        last.clear();
                        last.push_str(folder);
                    }
                    *at = index;
                }
                None => self.last = Some((folder.to_string(), index)),
            }
            match &self.listings[index] {
                Some(names)
                    if names
                        .binary_search_by(|n| n.as_os_str().cmp(OsStr::new(name.as_ref())))
                        .is_err() =>
                {
                    break false;
                }
                Some(_) => {}
                None => break true,
            }
            if end == text.len() {
                break true;
            }
            start = end + 1;
        };
        // Every component before `start` was found (or skipped as found).
        let found = &text[..start.saturating_sub(1)];
        if self.found != found {
            self.found.clear();
            self.found.push_str(found);
        }
        answer
    }
}

/// `ROOT/proc/sys/net/ipv4/conf` for the prefix `net.ipv4.conf`.
fn folder_path(root: &Path, prefix: &str) -> PathBuf {
    let mut path = root.join("proc/sys");
    for component in prefix.split('.').filter(|c| !c.is_empty()) {
        path.push(component.replace('/', "."));
    }
    path
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
