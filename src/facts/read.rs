//! Reading the inspected tree: bounded, non-blocking, confined to `--root`.
//! The one place facts open files; the gatherers call it, it calls none of them.

use std::io;
use std::path::{Path, PathBuf};

use super::counters::CounterParseError;

#[derive(Debug, thiserror::Error)]
pub enum FactError {
    #[error("root {path} does not exist or is not a folder")]
    NoRoot { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not valid UTF-8 text")]
    NotText { path: PathBuf },
    #[error("{path}: {source}")]
    Counters {
        path: PathBuf,
        source: CounterParseError,
    },
    #[error("{path}: {message}")]
    Garbled { path: PathBuf, message: String },
}

/// The largest file twtune reads whole. The biggest legitimate one is a
/// sysctl.d file or /proc/net/netstat, a few KiB to a few MiB; anything
/// larger is runaway or hostile and is refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// The longest line twtune accepts in a file it reads whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Reads one line of a streamed table (/proc/net/tcp, nf_conntrack) into
/// `line`, refusing one longer than [`MAX_LINE_BYTES`]: those tables are read
/// line by line rather than whole, and a runaway line in a planted table must
/// be an error, not an allocation as large as the file.
pub fn read_line_bounded(reader: &mut impl io::BufRead, line: &mut String) -> io::Result<usize> {
    use io::{BufRead, Read};
    let n = reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_line(line)?;
    if n > MAX_LINE_BYTES && !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("longer than {} KiB", MAX_LINE_BYTES / 1024),
        ));
    }
    Ok(n)
}

/// Why a bounded read refused a file.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a regular file (a FIFO, device or folder where a file was expected)")]
    NotRegular,
    #[error("larger than {} MiB; refusing to read it", MAX_FILE_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("line {line} is longer than {} KiB", MAX_LINE_BYTES / 1024)]
    LineTooLong { line: usize },
}

/// Reads `path` whole, without blocking and within bounds: opened with
/// O_NONBLOCK (a FIFO planted where a /proc or sysctl file should be must not
/// hang twtune), refused unless it is a regular file (/proc and /sys files
/// are regular files too), and refused past [`MAX_FILE_BYTES`] or a line
/// past [`MAX_LINE_BYTES`]. `Ok(None)` when it does not exist.
pub fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, BoundedReadError> {
    use std::io::Read;
    let file = match open_confined(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !file.metadata()?.is_file() {
        return Err(BoundedReadError::NotRegular);
    }
    let mut bytes = Vec::new();
    // /proc files report size 0, so the cap is on what is read, not on stat.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(BoundedReadError::TooLarge);
    }
    if let Some(index) = bytes
        .split(|&b| b == b'\n')
        .position(|line| line.len() > MAX_LINE_BYTES)
    {
        return Err(BoundedReadError::LineTooLong { line: index + 1 });
    }
    Ok(Some(bytes))
}

thread_local! {
    /// The `--root` tree `gather` is reading, while it reads it.
    static READ_ROOT: std::cell::RefCell<Option<(PathBuf, std::fs::File)>> = const { std::cell::RefCell::new(None) };
}

/// Confines this thread's reads under `root` to the tree until dropped, then
/// puts back the confinement that was in force before.
pub(super) struct ConfinedReads {
    previous: Option<(PathBuf, std::fs::File)>,
}

impl ConfinedReads {
    pub(super) fn to(root: &Path) -> ConfinedReads {
        let host = root.canonicalize().is_ok_and(|r| r == Path::new("/"));
        // Opened once: 100,000 persisted keys mean 100,000 reads beneath it.
        let confined = match std::fs::File::open(root) {
            Ok(dir) if !host => Some((root.to_path_buf(), dir)),
            _ => None,
        };
        let previous = READ_ROOT.with(|r| r.replace(confined));
        ConfinedReads { previous }
    }

    /// Confines to `root` unless `gather` already does (reading a single
    /// key need not reopen the root a 100,000-key gather opened once).
    pub(super) fn unless_already(root: &Path) -> Option<ConfinedReads> {
        let already = READ_ROOT.with(|r| {
            r.borrow()
                .as_ref()
                .is_some_and(|(confined, _)| confined == root)
        });
        (!already).then(|| ConfinedReads::to(root))
    }
}

impl Drop for ConfinedReads {
    fn drop(&mut self) {
        let previous = self.previous.take();
        READ_ROOT.with(|r| *r.borrow_mut() = previous);
    }
}

/// Opens `path` for reading without blocking. While `gather` reads a
/// `--root` tree, a path inside it is resolved with openat2(2)
/// RESOLVE_IN_ROOT: every link, absolute ones included, is resolved as if
/// the tree were `/`, so no link reads a file outside the tree.
fn open_confined(path: &Path) -> io::Result<std::fs::File> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC;
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::from_bits_truncate(flags))
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let confined = READ_ROOT.with(|r| {
        let borrowed = r.borrow();
        let (root, dir) = borrowed.as_ref()?;
        let rel = path.strip_prefix(root).ok()?;
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        Some(openat2(dir.as_fd(), rel, how))
    });
    let Some(opened) = confined else {
        return std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path);
    };
    match opened {
        Ok(fd) => Ok(std::fs::File::from(fd)),
        // Kernels before 5.6: the plain open, as before.
        Err(nix::errno::Errno::ENOSYS) => std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(path),
        Err(errno) => Err(io::Error::from(errno)),
    }
}

/// Opens a file that is read as a stream (/proc/net/tcp, nf_conntrack: they
/// can legitimately be hundreds of MiB) the way [`read_bounded`] opens one:
/// without blocking, inside the `--root` tree, and only if it is a regular
/// file, so a FIFO or a device in its place cannot hang or flood a command.
pub fn open_streaming(path: &Path) -> io::Result<std::fs::File> {
    let file = open_confined(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(BoundedReadError::NotRegular.to_string()));
    }
    Ok(file)
}

/// Reads a text file, bounded as [`read_bounded`]; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, FactError> {
    match read_bounded(path) {
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| FactError::NotText {
                path: path.to_path_buf(),
            }),
        Ok(None) => Ok(None),
        Err(BoundedReadError::Io(source)) => Err(FactError::Read {
            path: path.to_path_buf(),
            source,
        }),
        Err(refused) => Err(FactError::Read {
            path: path.to_path_buf(),
            source: io::Error::other(refused.to_string()),
        }),
    }
}
