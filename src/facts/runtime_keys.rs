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
    /// proc/sys itself, `net.ipv4.conf`) → its listing in `listings`.
    folders: HashMap<String, usize>,
    /// The listings `folders` points into: names sorted, for a binary
    /// search; None where the folder could not be listed.
    listings: Vec<Option<Vec<OsString>>>,
    /// The folder the last key's search ended in, every component leading
    /// to it found, and its listing: keys come in runs under one folder
    /// (`net.ipv4.conf.vethN.forwarding` × 100,000), and the next key that
    /// starts with it is looked up from there, at the cost of one
    /// comparison instead of a hash and a listing search per component.
    resume: Option<(String, usize)>,
    /// The last name looked up, in which listing, and whether it was
    /// there: the keys of a run ask the same folder for the same next name
    /// (`conf`) one after another.
    last_lookup: Option<(usize, bool)>,
    /// Its name (a buffer kept, not a string made per lookup).
    last_name: String,
}

impl Listings {
    /// False only when a folder on the way to `key`'s file was listed and
    /// lacks the next name: then the key has no runtime value.
    pub fn may_exist(&mut self, root: &Path, key: &SysctlKey) -> bool {
        let text = key.as_str();
        let resumed = self.resume.as_ref().and_then(|(folder, index)| {
            let inside = text.len() > folder.len()
                && text.as_bytes()[folder.len()] == b'.'
                && text.starts_with(folder.as_str());
            // The root folder ("") is where every search starts anyway.
            (inside && !folder.is_empty()).then_some((folder.len() + 1, *index))
        });
        let (mut start, mut known) = match resumed {
            Some((start, index)) => (start, Some(index)),
            None => (0, None),
        };
        let first = start;
        let (answer, index) = loop {
            let end =
                memchr::memchr(b'.', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
            let folder = &text[..start.saturating_sub(1)];
            let index = match known.take() {
                Some(index) => index,
                None => self.listing_of(root, folder),
            };
            let component = &text[start..end];
            // A slashed key's dots live on as '/' inside a component.
            let name = match component.bytes().any(|b| b == b'/') {
                true => Cow::Owned(component.replace('/', ".")),
                false => Cow::Borrowed(component),
            };
            let listed = match self.last_lookup {
                Some((at, there)) if at == index && self.last_name == name => Some(there),
                _ => self.listings[index].as_ref().map(|names| {
                    let there = names
                        .binary_search_by(|n| n.as_os_str().cmp(OsStr::new(name.as_ref())))
                        .is_ok();
                    self.last_lookup = Some((index, there));
                    self.last_name.clear();
                    self.last_name.push_str(&name);
                    there
                }),
            };
            match listed {
                Some(false) => break (false, index),
                None => break (true, index),
                Some(true) if end == text.len() => break (true, index),
                Some(true) => start = end + 1,
            }
        };
        // The search ended in the folder before `start`; unless it is the
        // one it resumed in, the next key resumes there.
        if start != first || resumed.is_none() {
            let folder = &text[..start.saturating_sub(1)];
            match &mut self.resume {
                Some((last, at)) => {
                    last.clear();
                    last.push_str(folder);
                    *at = index;
                }
                None => self.resume = Some((folder.to_string(), index)),
            }
        }
        answer
    }

    /// The listing of the folder named by `prefix`, listed the first time.
    fn listing_of(&mut self, root: &Path, prefix: &str) -> usize {
        if let Some(&index) = self.folders.get(prefix) {
            return index;
        }
        let listing = read_dir_confined(&folder_path(root, prefix))
            .ok()
            .map(|mut names| {
                names.sort_unstable();
                names
            });
        self.listings.push(listing);
        let index = self.listings.len() - 1;
        self.folders.insert(prefix.to_string(), index);
        index
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

    #[test]
    fn in_any_order_the_answer_is_whether_the_path_is_there() {
        let root =
            std::env::temp_dir().join(format!("twtune-listings-order-{}", std::process::id()));
        let sys = root.join("proc/sys");
        for dir in [
            "net/ipv4/conf/eth0",
            "net/ipv4/conf/eth0.100",
            "net/ipv4/conf/lo",
            "net/core",
        ] {
            std::fs::create_dir_all(sys.join(dir)).unwrap();
        }
        for file in [
            "net/ipv4/conf/eth0/forwarding",
            "net/ipv4/conf/eth0.100/forwarding",
            "net/ipv4/conf/lo/rp_filter",
            "net/ipv4/tcp_tw_reuse",
            "net/core/somaxconn",
        ] {
            std::fs::write(sys.join(file), "0\n").unwrap();
        }
        let keys = [
            "net.ipv4.conf.veth1.forwarding",
            "net.ipv4.conf.eth0.forwarding",
            "net.ipv4.conf.eth0.rp_filter",
            "net.ipv4.conf.veth2.forwarding",
            "net.ipv4.conf.eth0/100.forwarding",
            "net.ipv4.conf.eth0/101.forwarding",
            "net.ipv4.conf.lo.rp_filter",
            "net.ipv4.conf.lo",
            "net.ipv4.conf",
            "net.ipv4.tcp_tw_reuse",
            "net.ipv4.tcp_tw_reusee",
            "net.ipv4",
            "net.ipv6.conf.all.forwarding",
            "net.core.somaxconn",
            "net.ipv4.conf.eth0.forwarding",
            "kernel.pid_max",
            "net.ipv4.conf.eth0.forwarding.x",
            "net.ipv4.conf.lo.rp_filter",
        ];
        // Every order of a few, and the whole list forwards and backwards.
        let mut orders: Vec<Vec<&str>> = vec![keys.to_vec(), keys.iter().rev().copied().collect()];
        for shift in 1..keys.len() {
            let mut order = keys.to_vec();
            order.rotate_left(shift);
            orders.push(order);
        }
        for order in orders {
            let mut listings = Listings::default();
            for key in order {
                let key = SysctlKey::parse(key).unwrap();
                let there = std::fs::symlink_metadata(key.proc_path(&root)).is_ok();
                // Below a file nothing can be listed: such a key may exist.
                let below_a_file = key.as_str().ends_with(".forwarding.x");
                let answer = listings.may_exist(&root, &key);
                assert_eq!(answer, there || below_a_file, "{key}");
                // The same as a search from the top, without what the
                // keys before it left.
                assert_eq!(answer, Listings::default().may_exist(&root, &key), "{key}");
            }
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
