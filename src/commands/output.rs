//! Writing to stdout without panicking: `println!` panics when the reader has
//! gone (`twtune facts | head`). A closed pipe is not the command's failure:
//! the write error is swallowed here and the command's real exit status
//! (2 stays 2) is kept; every other write error is returned.

use std::io::{ErrorKind, Write};

pub fn emit(text: &str) -> std::io::Result<()> {
    let result = (|| {
        let mut stdout = std::io::stdout().lock();
        // Text from the inspected system is in there: no control character
        // of its reaches the terminal; twtune's own colours do.
        let text = twtune::render::escape::terminal(text);
        stdout.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            stdout.write_all(b"\n")?;
        }
        stdout.flush()
    })();
    match result {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes twtune's own bytes (a completion script) unescaped: nothing in them
/// comes from the inspected system.
pub fn emit_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let result = (|| {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()
    })();
    match result {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A JSON document, escaped by the JSON serializer alone
/// (`twtune::render::json::to_string_pretty`): passing it through the
/// terminal escaper would write `\x1b`, which is not JSON.
/// Streamed through the renderer's own buffer rather than built whole
/// first: a check of a tree with 100,000 persisted settings prints tens of
/// MB, and a second buffer here would copy each of them once more.
pub fn emit_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let result = (|| {
        let mut out = std::io::stdout().lock();
        twtune::render::json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()
    })();
    match result {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
