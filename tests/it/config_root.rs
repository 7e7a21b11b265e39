//! `--config-root DIR`: the persisted configuration is read under DIR (as a
//! node agent sees the node's folders mounted at /host), everything live
//! from the running system. Reads only: runs as anyone, changes nothing.

use crate::support::twtune;

fn config_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let put = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    put(
        "etc/sysctl.d/50-node.conf",
        "net.ipv4.tcp_fin_timeout = 33\n",
    );
    dir
}

#[test]
fn persisted_files_come_from_the_config_root_and_the_rest_is_live() {
    let tree = config_tree();
    // A link out of the tree is resolved inside it, as under --root: the
    // node's own /etc/sysctl.conf is never read through it.
    std::os::unix::fs::symlink(
        "/etc/sysctl.conf",
        tree.path().join("etc/sysctl.d/60-escape.conf"),
    )
    .unwrap();
    let out = twtune()
        .arg("--config-root")
        .arg(tree.path())
        .args(["facts", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let facts = &doc["facts"];
    assert_eq!(facts["roots"]["live"], "/");
    assert_eq!(facts["roots"]["config"], tree.path().to_str().unwrap());
    let settings = facts["persisted"]["settings"].as_array().unwrap();
    let files: Vec<&str> = settings
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["/etc/sysctl.d/50-node.conf"], "{settings:?}");
    assert_eq!(settings[0]["value"], "33");
    // Live: the running kernel's values, not a tree's.
    let live = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fin_timeout").unwrap();
    assert_eq!(
        facts["sysctl"]["net.ipv4.tcp_fin_timeout"].as_str(),
        Some(live.trim())
    );
}

#[test]
fn site_rules_are_read_under_the_config_root() {
    let tree = config_tree();
    let rules = tree.path().join("etc/twtune/rules.d");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("broken.toml"), "[[rule]]\nid = \n").unwrap();
    let out = twtune()
        .arg("--config-root")
        .arg(tree.path())
        .arg("rules")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml"), "{err}");
}

#[test]
fn config_root_never_writes() {
    let tree = config_tree();
    for args in [&["apply", "--dry-run"][..], &["rollback", "--dry-run"]] {
        let out = twtune()
            .arg("--config-root")
            .arg(tree.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--config-root is for reading"),
            "{args:?}"
        );
    }
    let both = twtune()
        .args(["--root", "/", "--config-root"])
        .arg(tree.path())
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(1));
}
