//! The persisted side of a plan: the sysctl file twtune writes, how it is
//! edited, and how it is replaced atomically.
//!
//! The default is `/etc/sysctl.d/90-twtune.conf`. systemd-sysctl applies files
//! sorted by name, later ones winning: distribution and package files use
//! 10–60 (systemd's 50-default.conf, 50-pid-max.conf), so 90 beats them, while
//! 99-* stays the administrator's (Debian's 99-sysctl.conf is /etc/sysctl.conf)
//! — an explicit local choice there still wins, and the plan says so.
//!
//! Writes go to a hidden temporary name that does not end in `.conf` (so a
//! crash never leaves a file systemd-sysctl would read) in the same folder,
//! are fsynced, renamed over the destination, and the folder is fsynced. A
//! symlink at the destination is refused, never followed or replaced.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::facts::persisted::{SYSCTL_CONF, SYSCTL_D_DIRS, parse_sysctl_file};
use crate::host_path;
use crate::sysctl::SysctlKey;

pub const DEFAULT_DROPIN: &str = "/etc/sysctl.d/90-twtune.conf";

const HEADER: &str = "# Written by `twtune apply`. `twtune rollback` undoes the last apply.\n\
                      # Later files in sysctl.d order (and /etc/sysctl.conf) override these.\n";

#[derive(Debug, thiserror::Error)]
pub enum DropinError {
    #[error("{file}: {reason}")]
    Location { file: String, reason: String },
    #[error(
        "{file} is a symbolic link; twtune does not write through links (remove it, or use --persist-to with the file it points to)"
    )]
    Symlink { file: String },
    #[error("{file} is not a regular file")]
    NotRegular { file: String },
    #[error("{file} is masked by {by}, which has the same name in a folder read first")]
    Masked { file: String, by: String },
    #[error("cannot read {file}: {source}")]
    Read { file: String, source: io::Error },
    #[error("{file} is not valid UTF-8 text")]
    NotText { file: String },
    #[error("cannot write {file}: {source}")]
    Write { file: String, source: io::Error },
}

/// Checks the text of `file` (a host path) alone: an absolute path, with no
/// `.`, `..` or empty component and no control character, naming
/// /etc/sysctl.conf or a `*.conf` file directly in a folder systemd-sysctl
/// reads at boot. Pure, so the same check guards `--persist-to` and the
/// path read back from a state record. Returns the folder's rank in
/// [`SYSCTL_D_DIRS`] (`None` for /etc/sysctl.conf).
pub fn check_location_text(file: &str) -> Result<Option<usize>, DropinError> {
    let location = |reason: &str| DropinError::Location {
        file: file.to_string(),
        reason: reason.to_string(),
    };
    let path = Path::new(file);
    if !path.is_absolute() {
        return Err(location("must be an absolute path"));
    }
    if file.chars().any(char::is_control) {
        return Err(location("contains a control character"));
    }
    if file[1..]
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(location(
            "must be a plain path, without `.`, `..` or doubled slashes",
        ));
    }
    if file == format!("/{SYSCTL_CONF}") {
        return Ok(None);
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let parent = path.parent().and_then(|p| p.to_str()).unwrap_or_default();
    let Some(rank) = SYSCTL_D_DIRS.iter().position(|d| format!("/{d}") == parent) else {
        return Err(location(
            "not read at boot: use /etc/sysctl.conf or a *.conf file in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d or /lib/sysctl.d",
        ));
    };
    if !name.ends_with(".conf") || name.starts_with('.') {
        return Err(location("systemd-sysctl only reads files named *.conf"));
    }
    Ok(Some(rank))
}

/// Checks that `file` (a host path) is one systemd-sysctl reads at boot, not
/// hidden by a same-name file in a folder it reads first, and under `--root`
/// in a folder that resolves inside the root.
pub fn check_location(root: &Path, file: &str) -> Result<(), DropinError> {
    let Some(rank) = check_location_text(file)? else {
        return confined(root, file).map(|_| ());
    };
    let name = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    for dir in &SYSCTL_D_DIRS[..rank] {
        let other = root.join(dir).join(name);
        if other.symlink_metadata().is_ok() {
            return Err(DropinError::Masked {
                file: file.to_string(),
                by: format!("/{dir}/{name}"),
            });
        }
    }
    confined(root, file).map(|_| ())
}

/// `ROOT/file`, once its folder is known to resolve inside `root`.
fn confined(root: &Path, file: &str) -> Result<PathBuf, DropinError> {
    let path = host_path::in_tree(root, file);
    super::confine::parent_beneath(root, &path).map_err(|e| DropinError::Location {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    Ok(path)
}

/// The file's text, `None` when it does not exist. Refuses a symlink.
///
/// Not read through the facts' reader: this is the file an apply replaces,
/// so it is opened the way it will be written — O_NOFOLLOW, in a folder
/// checked to lie inside `--root` — and a link at its name is an error, not
/// a file to read through. Bounded and non-blocking like every other read.
pub fn read_current(root: &Path, file: &str) -> Result<Option<String>, DropinError> {
    let path = confined(root, file)?;
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&path);
    let handle = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(DropinError::Symlink {
                file: file.to_string(),
            });
        }
        Err(source) => {
            return Err(DropinError::Read {
                file: file.to_string(),
                source,
            });
        }
    };
    let meta = handle.metadata().map_err(|source| DropinError::Read {
        file: file.to_string(),
        source,
    })?;
    if !meta.is_file() {
        return Err(DropinError::NotRegular {
            file: file.to_string(),
        });
    }
    let mut bytes = Vec::new();
    // One byte past the bound, so a larger file is refused, never read
    // short: a truncated text would be edited and written back truncated.
    handle
        .take(crate::facts::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| DropinError::Read {
            file: file.to_string(),
            source,
        })?;
    if bytes.len() as u64 > crate::facts::MAX_FILE_BYTES {
        return Err(DropinError::Read {
            file: file.to_string(),
            source: io::Error::other(crate::facts::BoundedReadError::TooLarge.to_string()),
        });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| DropinError::NotText {
            file: file.to_string(),
        })
}

/// The value `text` assigns to `key` (the last assignment wins), if any.
pub fn value_in(text: &str, key: &SysctlKey) -> Option<String> {
    let (settings, _) = parse_sysctl_file("", text);
    settings
        .into_iter()
        .rev()
        .find(|s| s.key == *key)
        .map(|s| s.value.to_string())
}

/// `before` with each key set to its new value: every existing assignment of
/// the key is rewritten in place (so none contradicts it further down), and
/// keys not yet there are appended. Everything else — comments, other keys,
/// a `-` prefix — stays as it was. A new file starts with a header.
pub fn edit(before: Option<&str>, updates: &[(SysctlKey, String)]) -> String {
    let mut out = String::new();
    let mut seen = vec![false; updates.len()];
    match before {
        None => out.push_str(HEADER),
        Some(text) => {
            for line in text.split_inclusive('\n') {
                let (settings, _) = parse_sysctl_file("", line);
                let found = settings.first().and_then(|s| {
                    updates
                        .iter()
                        .position(|(k, _)| *k == s.key)
                        .map(|i| (i, s.ignore_failure))
                });
                match found {
                    Some((i, ignore_failure)) => {
                        seen[i] = true;
                        let (key, value) = &updates[i];
                        let dash = if ignore_failure { "-" } else { "" };
                        out.push_str(&format!("{dash}{key} = {value}\n"));
                    }
                    None => out.push_str(line),
                }
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    for ((key, value), seen) in updates.iter().zip(seen) {
        if !seen {
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    out
}

/// A new version written to a temporary file beside the destination, fsynced,
/// not yet visible under the destination's name.
#[derive(Debug)]
pub struct Staged {
    pub file: String,
    staged: atomic::Staged,
}

impl Staged {
    pub fn temp_path(&self) -> &Path {
        self.staged.temp_path()
    }
}

/// The temporary name for `file` in this run: hidden, and not `*.conf`.
pub fn temp_name(file: &str) -> String {
    temp_name_for(file, std::process::id())
}

/// The temporary name the run with process id `pid` used for `file`.
pub fn temp_name_for(file: &str, pid: u32) -> String {
    let path = Path::new(file);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("twtune");
    let parent = path.parent().and_then(|p| p.to_str()).unwrap_or("/");
    format!(
        "{}/.{name}.twtune-{}.tmp",
        parent.trim_end_matches('/'),
        pid
    )
}

/// Writes `text` to the temporary file for `file` (mode 0644) and fsyncs it.
pub fn stage(root: &Path, file: &str, text: &str) -> Result<Staged, DropinError> {
    let dest = confined(root, file)?;
    let temp = host_path::in_tree(root, &temp_name(file));
    let werr = |source| DropinError::Write {
        file: file.to_string(),
        source,
    };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(werr)?;
    }
    // Again once the folders exist: nothing raced a link in while creating them.
    confined(root, file)?;
    // Mode 0644 whatever the umask: sysctl files are world-readable.
    let staged = atomic::stage(&dest, &temp, text.as_bytes(), 0o644).map_err(werr)?;
    Ok(Staged {
        file: file.to_string(),
        staged,
    })
}

impl Staged {
    /// Renames the staged file over the destination and fsyncs the folder.
    /// Refuses when a symlink or non-file appeared at the destination since.
    pub fn commit(self) -> Result<(), DropinError> {
        let file = self.file;
        if let Err(err) = refuse_non_file(self.staged.dest_path(), &file) {
            self.staged.discard();
            return Err(err);
        }
        self.staged
            .commit()
            .map_err(|source| DropinError::Write { file, source })
    }

    pub fn discard(self) {
        self.staged.discard();
    }
}

fn refuse_non_file(dest: &Path, file: &str) -> Result<(), DropinError> {
    match dest.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() => Err(DropinError::Symlink {
            file: file.to_string(),
        }),
        Ok(meta) if !meta.is_file() => Err(DropinError::NotRegular {
            file: file.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Puts `file` back as `text`, or removes it when it did not exist.
pub fn restore(root: &Path, file: &str, text: Option<&str>) -> Result<(), DropinError> {
    match text {
        Some(text) => stage(root, file, text)?.commit(),
        None => {
            let dest = confined(root, file)?;
            refuse_non_file(&dest, file)?;
            atomic::remove(&dest).map_err(|source| DropinError::Write {
                file: file.to_string(),
                source,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn up(pairs: &[(&str, &str)]) -> Vec<(SysctlKey, String)> {
        pairs
            .iter()
            .map(|(k, v)| (SysctlKey::parse(k).unwrap(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_new_file_has_a_header_and_the_settings() {
        let text = edit(None, &up(&[("net.ipv4.tcp_tw_reuse", "1")]));
        assert!(text.starts_with("# Written by `twtune apply`"));
        assert!(text.ends_with("net.ipv4.tcp_tw_reuse = 1\n"));
        assert_eq!(
            value_in(&text, &SysctlKey::ipv4("tcp_tw_reuse")).as_deref(),
            Some("1")
        );
    }

    #[test]
    fn existing_assignments_are_rewritten_in_place_and_the_rest_kept() {
        let before =
            "# mine\nnet/ipv4/tcp_tw_reuse=0\nvm.swappiness = 10\n-net.ipv4.tcp_tw_reuse = 2";
        let after = edit(
            Some(before),
            &up(&[
                ("net.ipv4.tcp_tw_reuse", "1"),
                ("net.ipv4.tcp_fin_timeout", "30"),
            ]),
        );
        assert_eq!(
            after,
            "# mine\nnet.ipv4.tcp_tw_reuse = 1\nvm.swappiness = 10\n-net.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_fin_timeout = 30\n"
        );
    }

    #[test]
    fn only_boot_read_locations_are_accepted() {
        let root = tempfile::tempdir().unwrap();
        assert!(check_location(root.path(), "/etc/sysctl.conf").is_ok());
        assert!(check_location(root.path(), "/etc/sysctl.d/99-zz.conf").is_ok());
        assert!(check_location(root.path(), "/etc/sysctl.d/99-zz").is_err());
        assert!(check_location(root.path(), "/tmp/x.conf").is_err());
        assert!(check_location(root.path(), "etc/sysctl.d/x.conf").is_err());
        std::fs::create_dir_all(root.path().join("etc/sysctl.d")).unwrap();
        std::fs::write(root.path().join("etc/sysctl.d/50-x.conf"), "").unwrap();
        let err = check_location(root.path(), "/usr/lib/sysctl.d/50-x.conf").unwrap_err();
        assert!(
            err.to_string()
                .contains("masked by /etc/sysctl.d/50-x.conf"),
            "{err}"
        );
    }

    #[test]
    fn stage_commit_restore_round_trip_with_mode_0644() {
        let root = tempfile::tempdir().unwrap();
        let file = DEFAULT_DROPIN;
        assert_eq!(read_current(root.path(), file).unwrap(), None);
        stage(root.path(), file, "a = 1\n")
            .unwrap()
            .commit()
            .unwrap();
        let path = host_path::in_tree(root.path(), file);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 1\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "the temporary file is gone");
        restore(root.path(), file, None).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn a_file_past_the_size_bound_is_refused_not_read_short() {
        let root = tempfile::tempdir().unwrap();
        let path = host_path::in_tree(root.path(), DEFAULT_DROPIN);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(crate::facts::MAX_FILE_BYTES + 1).unwrap();
        let err = read_current(root.path(), DEFAULT_DROPIN).unwrap_err();
        assert!(err.to_string().contains("refusing to read it"), "{err}");
    }

    #[test]
    fn a_symlink_at_the_destination_is_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        std::fs::write(&target, "precious\n").unwrap();
        let path = host_path::in_tree(root.path(), DEFAULT_DROPIN);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(
            read_current(root.path(), DEFAULT_DROPIN),
            Err(DropinError::Symlink { .. })
        ));
        let staged = stage(root.path(), DEFAULT_DROPIN, "x = 1\n").unwrap();
        assert!(matches!(staged.commit(), Err(DropinError::Symlink { .. })));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        assert!(path.symlink_metadata().unwrap().file_type().is_symlink());
    }
}
