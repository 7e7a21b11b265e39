//! Host paths and their places in a `--root` tree.
//!
//! twtune names files as the host names them (`/etc/sysctl.d/90-twtune.conf`)
//! in everything it prints and records, and opens them under the root
//! (`ROOT/etc/sysctl.d/90-twtune.conf`). These three functions are the only
//! translation between the two.

use std::path::{Path, PathBuf};

/// Where the host path `file` lies in the tree at `root`.
pub fn in_tree(root: &Path, file: &str) -> PathBuf {
    root.join(file.trim_start_matches('/'))
}

/// The path as the host names it: `/etc/sysctl.conf` for `ROOT/etc/sysctl.conf`;
/// a path outside the tree as it is.
pub fn of(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => path.display().to_string(),
    }
}

/// The host path `file` with links resolved inside the tree (Debian's
/// /etc/sysctl.d/99-sysctl.conf is /etc/sysctl.conf), or `file` as given
/// when it cannot be resolved or resolves out of the tree.
pub fn resolved(root: &Path, file: &str) -> String {
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let resolved: Option<PathBuf> = in_tree(root, file).canonicalize().ok();
    match resolved.as_deref().map(|p| p.strip_prefix(&real_root)) {
        Some(Ok(rel)) => format!("/{}", rel.display()),
        _ => file.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_tree_paths_translate_both_ways() {
        let root = tempfile::tempdir().unwrap();
        let inside = in_tree(root.path(), "/etc/sysctl.conf");
        assert_eq!(inside, root.path().join("etc/sysctl.conf"));
        assert_eq!(of(root.path(), &inside), "/etc/sysctl.conf");
        assert_eq!(of(root.path(), Path::new("/elsewhere")), "/elsewhere");
        // A link inside the tree resolves to its target's host name.
        std::fs::create_dir_all(root.path().join("etc/sysctl.d")).unwrap();
        std::fs::write(&inside, "").unwrap();
        std::os::unix::fs::symlink(
            "../sysctl.conf",
            root.path().join("etc/sysctl.d/99-sysctl.conf"),
        )
        .unwrap();
        assert_eq!(
            resolved(root.path(), "/etc/sysctl.d/99-sysctl.conf"),
            "/etc/sysctl.conf"
        );
        assert_eq!(
            resolved(root.path(), "/etc/missing.conf"),
            "/etc/missing.conf"
        );
    }
}
