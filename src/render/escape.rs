//! Escaping text that comes from the inspected system — process names, the
//! kernel release, file names and their contents, rule texts from a --root
//! tree — before it reaches a terminal. A control character (an ANSI escape
//! sequence, a carriage return, a C1 code) in such text could rewrite or
//! hide what an operator reads; it is shown as `\x1b`, `\r`, `\u{9b}`.
//! Every piece of human output built from outside text goes through here.

use std::borrow::Cow;

/// One-line text: every control character escaped, newlines and tabs included.
pub fn text(raw: &str) -> Cow<'_, str> {
    escape(raw, false)
}

/// Multi-line text (a rationale, a diff, an error chain): newlines kept,
/// tabs kept, every other control character escaped.
pub fn lines(raw: &str) -> Cow<'_, str> {
    escape(raw, true)
}

/// What the `Style` painter writes where twtune's own colour codes
/// begin: a marker made unguessable per process, so no outside text can
/// carry one. [`terminal`] turns it into the real escape, after escaping
/// everything else.
pub fn style_mark() -> &'static str {
    static MARK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARK.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let nonce = hasher.finish();
        // Private-use characters: never control characters, never in real text.
        std::iter::once('\u{f8ff}')
            .chain((0..16).map(|i| {
                char::from_u32(0xe000 + ((nonce >> (i * 4)) & 0xf) as u32).unwrap_or('\u{e000}')
            }))
            .collect()
    })
}

/// The last step before the terminal: every control character in `rendered`
/// escaped (newlines and tabs kept), then twtune's own colour marks turned
/// into ANSI escapes. All human and JSON stdout passes through here.
pub fn terminal(rendered: &str) -> Cow<'_, str> {
    let escaped = lines(rendered);
    if !escaped.contains(style_mark()) {
        return escaped;
    }
    Cow::Owned(escaped.replace(style_mark(), "\x1b["))
}

/// A message for stderr, where wrappers (the Ansible module, Salt) take
/// every line starting `twtune: warning: ` as a warning: [`lines`], and
/// every line after the first indented, so outside text with a newline in
/// it cannot start a line of its own.
pub fn message(raw: &str) -> Cow<'_, str> {
    let escaped = lines(raw);
    if !escaped.contains('\n') {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    for (i, line) in escaped.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.starts_with([' ', '\t']) {
                out.push_str("  ");
            }
        }
        out.push_str(line);
    }
    Cow::Owned(out)
}

/// Control characters, and the two Unicode line separators, which are not
/// control characters but end a line for Python's `splitlines()` (the
/// Ansible module and Salt read twtune's output with it) and for some
/// terminals.
fn unsafe_anywhere(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

fn escape(raw: &str, keep_layout: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| unsafe_anywhere(c) && !(keep_layout && (c == '\n' || c == '\t'));
    if !raw.chars().any(unsafe_char) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(text("nginx\x1b[2J\r"), "nginx\\x1b[2J\\r");
        assert_eq!(text("a\nb\tc\u{9b}"), "a\\nb\\tc\\u{9b}");
        assert_eq!(lines("a\nb\x07\tc"), "a\nb\\x07\tc");
        assert!(matches!(text("plain · ünïcode"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_message_cannot_start_a_line_of_its_own() {
        assert_eq!(
            message("cannot read /x\ntwtune: warning: forged"),
            "cannot read /x\n  twtune: warning: forged"
        );
        assert_eq!(
            message("3 rule errors:\n  a\n  b"),
            "3 rule errors:\n  a\n  b"
        );
        assert_eq!(text("a\u{2028}b\u{85}"), "a\\u{2028}b\\u{85}");
    }

    #[test]
    fn only_twtunes_own_colour_reaches_the_terminal() {
        let style = crate::render::style::Style { color: true };
        let hostile = "evil\x1b]0;owned\x07";
        let rendered = format!("{} {}", style.bold("ok"), hostile);
        assert_eq!(
            terminal(&rendered),
            "\x1b[1mok\x1b[0m evil\\x1b]0;owned\\x07"
        );
    }
}
