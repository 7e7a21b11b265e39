//! Writing to stdout without panicking: `println!` panics when the reader has
//! gone (`twtune facts | head`); this returns the error, which main treats as
//! success.

use std::io::Write;

pub fn emit(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()
}

pub fn emit_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    emit(&serde_json::to_string_pretty(value)?)?;
    Ok(())
}
