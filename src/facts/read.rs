//! Reading the inspected tree: bounded, non-blocking, confined to `--root`.
//! The one place facts open files; the gatherers call it, it calls none of them.

use std::io;
use std::path::{Path, PathBuf};

use super::counters::CounterParseError;

#[derive(Debug, thiserror::Error)]
pub enum FactError {
    #[error("root {path} does not exist or is not a folder")]
    NoRoot { path: PathBuf },
    #[error(
        "{root} is not a host tree: {missing} is missing (twtune reads a host's proc/sys/net/ipv4, proc/net and etc below --root); nothing was checked"
    )]
    NotAHostTree { root: PathBuf, missing: PathBuf },
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

impl FactError {
    /// A file whose content makes no sense, with what is wrong with it.
    pub(crate) fn garbled(path: &Path, message: impl std::fmt::Display) -> FactError {
        FactError::Garbled {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
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
    if let Some(line) = first_long_line(&bytes) {
        return Err(BoundedReadError::LineTooLong { line });
    }
    Ok(Some(bytes))
}

/// The number (from 1) of the first line longer than [`MAX_LINE_BYTES`].
/// Each step looks back from the end of the longest line that fits for its
/// newline, so a file of short lines is checked a few bytes per 64 KiB,
/// not byte by byte (a sysctl file of 100,000 lines).
fn first_long_line(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while bytes.len() - start > MAX_LINE_BYTES {
        let window = &bytes[start..=start + MAX_LINE_BYTES];
        match window.iter().rposition(|&b| b == b'\n') {
            Some(at) => start += at + 1,
            None => return Some(1 + bytes[..start].iter().filter(|&&b| b == b'\n').count()),
        }
    }
    None
}

thread_local! {
    /// The `--root` tree `gather` is reading, while it reads it.
    static READ_ROOT: std::cell::RefCell<Option<(PathBuf, std::fs::File)>> = const { std::cell::RefCell::new(None) };
}

/// Confines this thread's reads under `root` to the tree until dropped, then
/// puts back the confinement that was in force before.
#[must_use = "reads are confined only while the guard lives"]
pub struct ConfinedReads {
    previous: Option<(PathBuf, std::fs::File)>,
}

impl ConfinedReads {
    pub fn to(root: &Path) -> ConfinedReads {
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
    pub fn unless_already(root: &Path) -> Option<ConfinedReads> {
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

/// How often [`open_in_root`] tries an openat2 a concurrent rename or mount
/// made fail with EAGAIN. On a loaded machine a lookup preempted halfway
/// meets a busy renamer's next rename every time: 64 quick tries failed a
/// few reads in 100,000 there (the race test below), so past the first few
/// each try yields the processor first and starts on a fresh time slice.
const OPENAT2_TRIES: u32 = 1024;
/// Tries made at once, before [`open_in_root`] yields between them.
const OPENAT2_EAGER_TRIES: u32 = 8;

/// Opens `path` with `flags` by openat2(2) from the `--root` tree's fd with
/// RESOLVE_IN_ROOT: every link, absolute ones included, is resolved as if
/// the tree were `/`, so no link reaches outside the tree. `None` when no
/// tree is confining this thread's reads or `path` is not inside it, and on
/// kernels before 5.6 (no openat2): the caller then opens the plain path.
///
/// With RESOLVE_IN_ROOT the kernel answers EAGAIN when a rename or a mount
/// anywhere on the system raced the lookup (it cannot prove the walk stayed
/// inside the tree). That is not an error of the path: the open is tried
/// again, [`OPENAT2_TRIES`] times at most, before EAGAIN is reported.
fn open_in_root(path: &Path, flags: nix::fcntl::OFlag) -> Option<io::Result<std::os::fd::OwnedFd>> {
    use nix::fcntl::{OpenHow, ResolveFlag, openat2};
    use std::os::fd::AsFd;
    let how = OpenHow::new()
        .flags(flags | nix::fcntl::OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let opened = READ_ROOT.with(|r| {
        let borrowed = r.borrow();
        let (root, dir) = borrowed.as_ref()?;
        let rel = path.strip_prefix(root).ok()?;
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let mut tries = 1;
        loop {
            match openat2(dir.as_fd(), rel, how) {
                Err(nix::errno::Errno::EAGAIN) if tries < OPENAT2_TRIES => {
                    if tries >= OPENAT2_EAGER_TRIES {
                        std::thread::yield_now();
                    }
                    tries += 1;
                }
                opened => return Some(opened),
            }
        }
    })?;
    match opened {
        Ok(fd) => Some(Ok(fd)),
        Err(nix::errno::Errno::ENOSYS) => None,
        Err(errno) => Some(Err(io::Error::from(errno))),
    }
}

/// Opens `path` for reading without blocking, inside the `--root` tree
/// while `gather` reads one ([`open_in_root`]).
fn open_confined(path: &Path) -> io::Result<std::fs::File> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    match open_in_root(path, flags).or_else(|| super::netns_dirs::open_beneath(path, flags)) {
        Some(opened) => opened.map(std::fs::File::from),
        None => std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() | nix::libc::O_CLOEXEC)
            .open(path),
    }
}

/// The names in folder `path` (without `.` and `..`), listed from a folder
/// opened inside the `--root` tree while reads are confined to one: a folder
/// linked out of the tree is resolved inside it (usually not found), never
/// listed on the host.
pub fn read_dir_confined(path: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    use nix::fcntl::OFlag;
    use std::os::unix::ffi::OsStrExt;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NONBLOCK;
    let Some(opened) = open_in_root(path, flags) else {
        return std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect();
    };
    let dir = nix::dir::Dir::from_fd(opened?).map_err(io::Error::from)?;
    let mut names = Vec::new();
    for entry in dir {
        let name = entry
            .map_err(io::Error::from)?
            .file_name()
            .to_bytes()
            .to_vec();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(&name).to_os_string());
        }
    }
    Ok(names)
}

/// An fd for `path` that only names it (O_PATH: no read, no side effect of
/// opening a device or FIFO), resolved inside the `--root` tree while reads
/// are confined to one (or from a namespace's folder opened by
/// `netns_dirs`); `None` when they are not.
pub(crate) fn path_fd_confined(path: &Path) -> Option<io::Result<std::fs::File>> {
    let flags = nix::fcntl::OFlag::O_PATH;
    open_in_root(path, flags)
        .or_else(|| super::netns_dirs::open_beneath(path, flags))
        .map(|r| r.map(std::fs::File::from))
}

/// `std::fs::metadata` (links followed), but inside the `--root` tree while
/// reads are confined to one, so a link out of the tree stats nothing on the host.
pub fn metadata_confined(path: &Path) -> io::Result<std::fs::Metadata> {
    match path_fd_confined(path) {
        Some(opened) => opened?.metadata(),
        None => std::fs::metadata(path),
    }
}

/// `std::fs::read_link`, with the folders on the way resolved inside the
/// `--root` tree while reads are confined to one (the link itself is read,
/// not followed).
pub fn read_link_confined(path: &Path) -> io::Result<PathBuf> {
    use nix::fcntl::OFlag;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return std::fs::read_link(path);
    };
    match open_in_root(parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Some(opened) => nix::fcntl::readlinkat(opened?, name)
            .map(PathBuf::from)
            .map_err(io::Error::from),
        None => std::fs::read_link(path),
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
/// Text of bytes that need not be UTF-8, such as an interface name (the
/// kernel takes any bytes but `/`, `:` and whitespace, net/core/dev.c,
/// dev_valid_name()): every byte that is not part of valid UTF-8 is written
/// `\xNN`, so names stay distinct and show what they are; a `\` of the
/// original is written `\\`, so no name can pass for another's escape.
pub fn bytes_to_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// [`read_optional`] for a file that holds names that are bytes
/// (/proc/net/dev, /proc/net/if_inet6): read whole, each byte that is not
/// UTF-8 written as [`bytes_to_text`] writes it, never an error.
pub fn read_optional_names(path: &Path) -> Result<Option<String>, FactError> {
    match read_bounded(path) {
        Ok(Some(bytes)) => Ok(Some(match String::from_utf8(bytes) {
            Ok(text) if !text.contains('\\') => text,
            Ok(text) => bytes_to_text(text.as_bytes()),
            Err(e) => bytes_to_text(e.as_bytes()),
        })),
        Ok(None) => Ok(None),
        Err(refused) => Err(read_error(path, refused)),
    }
}

/// A bounded read's failure as the fact error that names the file.
fn read_error(path: &Path, refused: BoundedReadError) -> FactError {
    let source = match refused {
        BoundedReadError::Io(source) => source,
        refused => io::Error::other(refused.to_string()),
    };
    FactError::Read {
        path: path.to_path_buf(),
        source,
    }
}

pub fn read_optional(path: &Path) -> Result<Option<String>, FactError> {
    match read_bounded(path) {
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| FactError::NotText {
                path: path.to_path_buf(),
            }),
        Ok(None) => Ok(None),
        Err(refused) => Err(read_error(path, refused)),
    }
}

/// [`read_optional`] straight into shared text: the settings parsed from a
/// sysctl file are views into it, and a file of 100,000 lines read into a
/// buffer and then copied would touch each of its pages twice. Anything
/// unusual — a file that changed size since its stat, text that is not
/// UTF-8 — is read again by [`read_optional`], which gives the same answer
/// and the same errors.
pub fn read_optional_shared(path: &Path) -> Result<Option<arcstr::ArcStr>, FactError> {
    use std::io::Read;
    let file = match open_confined(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(path, e.into())),
    };
    // A size of 0 is read the plain way too: arcstr allocates no empty text
    // (and a file that reports 0 may still hold some).
    let size = match file.metadata() {
        Ok(m) if m.is_file() && m.len() > 0 && m.len() <= MAX_FILE_BYTES => m.len() as usize,
        _ => return Ok(read_optional(path)?.map(arcstr::ArcStr::from)),
    };
    let mut read = Ok(());
    let text = arcstr::ArcStr::init_with(size, |buffer| read = (&file).read_exact(buffer));
    let at_end = || (&file).read(&mut [0u8; 1]).is_ok_and(|n| n == 0);
    match text {
        Ok(text) if read.is_ok() && at_end() => match first_long_line(text.as_bytes()) {
            None => Ok(Some(text)),
            Some(line) => Err(read_error(path, BoundedReadError::LineTooLong { line })),
        },
        _ => Ok(read_optional(path)?.map(arcstr::ArcStr::from)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_long_line_is_found_as_a_line_by_line_walk_finds_it() {
        use super::{MAX_LINE_BYTES, first_long_line};
        let walk = |bytes: &[u8]| {
            bytes
                .split(|&b| b == b'\n')
                .position(|line| line.len() > MAX_LINE_BYTES)
                .map(|i| i + 1)
        };
        let line = |len: usize| {
            let mut l = vec![b'x'; len];
            l.push(b'\n');
            l
        };
        let cases: Vec<Vec<usize>> = vec![
            vec![],
            vec![3; 50_000],
            vec![MAX_LINE_BYTES],
            vec![MAX_LINE_BYTES + 1],
            vec![MAX_LINE_BYTES, MAX_LINE_BYTES, 0, MAX_LINE_BYTES + 1, 5],
            vec![10, MAX_LINE_BYTES - 5, 7, MAX_LINE_BYTES + 2],
            vec![MAX_LINE_BYTES / 2; 9],
        ];
        for lens in cases {
            let mut bytes: Vec<u8> = lens.iter().flat_map(|&n| line(n)).collect();
            assert_eq!(first_long_line(&bytes), walk(&bytes), "{lens:?}");
            // The same without the last newline.
            bytes.pop();
            assert_eq!(first_long_line(&bytes), walk(&bytes), "{lens:?} unended");
        }
        let unended = vec![b'x'; MAX_LINE_BYTES + 1];
        assert_eq!(first_long_line(&unended), Some(1));
    }

    use super::*;

    #[test]
    fn the_shared_read_answers_as_the_plain_one() {
        use super::{MAX_LINE_BYTES, read_optional, read_optional_shared};
        let dir = tempfile::tempdir().unwrap();
        let mut long = vec![b'x'; MAX_LINE_BYTES + 1];
        long.extend_from_slice(b"\nnet.ipv4.ip_forward = 1\n");
        let cases: [(&str, &[u8]); 5] = [
            ("empty", b""),
            ("text", b"net.ipv4.tcp_tw_reuse = 1\n# \xc3\xbc\n"),
            ("no-final-newline", b"a = 1"),
            ("not-utf8", b"net.ipv4.tcp_tw_reuse = \xff\n"),
            ("long-line", &long),
        ];
        for (name, bytes) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let plain = read_optional(&path).map_err(|e| e.to_string());
            let shared = read_optional_shared(&path).map_err(|e| e.to_string());
            assert_eq!(shared.map(|t| t.map(|t| t.to_string())), plain, "{name}");
        }
        let missing = dir.path().join("missing");
        assert!(matches!(read_optional_shared(&missing), Ok(None)));
        // Not a regular file: refused as the plain read refuses it.
        let plain = read_optional(dir.path()).map_err(|e| e.to_string());
        let shared = read_optional_shared(dir.path()).map_err(|e| e.to_string());
        assert_eq!(shared.map(|t| t.map(|t| t.to_string())), plain);
    }

    #[test]
    fn names_that_are_not_utf8_are_written_escaped_and_stay_distinct() {
        assert_eq!(bytes_to_text(b"lo"), "lo");
        assert_eq!(bytes_to_text(b"l\xffo"), "l\\xffo");
        assert_eq!(bytes_to_text(b"l\\xffo"), "l\\\\xffo");
        assert_eq!(bytes_to_text("eth\u{e9}".as_bytes()), "eth\u{e9}");
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("dev");
        std::fs::write(&dev, b"h1\nh2\n  l\xffo: 0 0\n").unwrap();
        let text = read_optional_names(&dev).unwrap().unwrap();
        assert!(text.ends_with("  l\\xffo: 0 0\n"), "{text:?}");
        assert!(
            read_optional(&dev).is_err(),
            "plain text readers still refuse it"
        );
    }

    #[test]
    fn under_a_root_a_folder_linked_out_of_it_is_neither_listed_nor_stated() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("host-file"), "x").unwrap();
        std::os::unix::fs::symlink("host-file", outside.path().join("host-link")).unwrap();
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        std::os::unix::fs::symlink(outside.path(), &out).unwrap();
        std::fs::create_dir(root.path().join("in")).unwrap();
        std::fs::write(root.path().join("in/tree-file"), "y").unwrap();
        std::os::unix::fs::symlink("/in", root.path().join("in-link")).unwrap();

        let confined = ConfinedReads::to(root.path());
        let kind = |e: io::Error| e.kind();
        assert_eq!(
            read_dir_confined(&out).map_err(kind),
            Err(io::ErrorKind::NotFound)
        );
        assert_eq!(
            metadata_confined(&out.join("host-file"))
                .map_err(kind)
                .err(),
            Some(io::ErrorKind::NotFound)
        );
        assert_eq!(
            read_link_confined(&out.join("host-link")).map_err(kind),
            Err(io::ErrorKind::NotFound)
        );
        // An absolute link is the tree's own path, resolved inside it.
        assert_eq!(
            read_dir_confined(&root.path().join("in-link")).unwrap(),
            vec![std::ffi::OsString::from("tree-file")]
        );
        assert!(
            metadata_confined(&root.path().join("in-link/tree-file")).is_ok_and(|m| m.is_file())
        );
        drop(confined);

        // Unconfined (the host's own root), links are followed as always.
        assert_eq!(read_dir_confined(&out).unwrap().len(), 2);
        assert_eq!(
            read_link_confined(&out.join("host-link")).unwrap(),
            PathBuf::from("host-file")
        );
    }

    /// A rename anywhere on the system while openat2 walks a `..` under
    /// RESOLVE_IN_ROOT makes the kernel answer EAGAIN; the tests (and any
    /// host) rename files all the time, so a read retries it, never fails.
    /// Without the retry, about one read in a hundred failed here.
    #[test]
    fn a_read_through_dot_dot_survives_renames_racing_it() {
        use std::sync::atomic::Ordering::Relaxed;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("a")).unwrap();
        std::fs::write(root.path().join("b"), "read\n").unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let renamer = {
            let (stop, renames) = (
                std::sync::Arc::clone(&stop),
                std::sync::Arc::clone(&renames),
            );
            let dir = tempfile::tempdir().unwrap();
            std::thread::spawn(move || {
                let (x, y) = (dir.path().join("x"), dir.path().join("y"));
                std::fs::write(&x, "").unwrap();
                while !stop.load(Relaxed) {
                    std::fs::rename(&x, &y).unwrap();
                    std::fs::rename(&y, &x).unwrap();
                    renames.fetch_add(2, Relaxed);
                }
            })
        };
        while renames.load(Relaxed) == 0 {
            std::thread::yield_now();
        }
        let _confined = ConfinedReads::to(root.path());
        let through = root.path().join("a/../a/../a/../b");
        let (mut reads, mut failed) = (0u64, Vec::new());
        // At least 20,000 reads, and as many while 100,000 renames ran
        // beside them (bounded: a million reads at most).
        let start = renames.load(Relaxed);
        while reads < 1_000_000 && (reads < 20_000 || renames.load(Relaxed) - start < 100_000) {
            reads += 1;
            match read_bounded(&through) {
                Ok(Some(bytes)) if bytes == b"read\n" => {}
                other => failed.push(format!("{other:?}")),
            }
        }
        stop.store(true, Relaxed);
        renamer.join().unwrap();
        assert!(
            failed.is_empty(),
            "{} of {reads} reads failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(3)]
        );
    }
}
