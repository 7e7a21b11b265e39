//! Colour on a terminal, none elsewhere; `NO_COLOR` (any non-empty value) turns
//! it off everywhere (<https://no-color.org>), and so does `TERM=dumb` (a
//! terminal that cannot show it); `--color always|never` overrides both.
//! Three ANSI codes do not warrant a crate.

use std::io::IsTerminal;

use crate::rules::Severity;

/// `--color auto`: a terminal that can show colour, and nobody asked for none.
fn auto(
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
    terminal: bool,
) -> bool {
    let no_color = no_color.is_some_and(|v| !v.is_empty());
    let dumb = term.is_some_and(|t| t == "dumb");
    terminal && !no_color && !dumb
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn plain() -> Self {
        Style { color: false }
    }

    /// `forced` (`--color always|never`) when given; otherwise colour when
    /// stdout is a terminal, NO_COLOR is unset or empty and TERM is not
    /// `dumb`.
    pub fn for_stdout(forced: Option<bool>) -> Self {
        let color = forced.unwrap_or_else(|| {
            auto(
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("TERM").as_deref(),
                std::io::stdout().is_terminal(),
            )
        });
        Style { color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            // A mark, not ESC itself: escape::terminal escapes every control
            // character in the finished text, then turns only these into ESC.
            let mark = super::escape::style_mark();
            format!("{mark}{code}m{text}{mark}0m")
        } else {
            text.to_string()
        }
    }

    pub fn severity(&self, severity: Severity, text: &str) -> String {
        let code = match severity {
            Severity::Critical => "1;31",
            Severity::Warning => "33",
            Severity::Info => "36",
        };
        self.paint(code, text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn ok(&self, text: &str) -> String {
        self.paint("32", text)
    }
}

#[cfg(test)]
mod tests {
    use super::auto;
    use std::ffi::OsStr;

    #[test]
    fn auto_colours_only_a_terminal_that_can_show_it() {
        let os = |s| Some(OsStr::new(s));
        assert!(auto(None, os("xterm-256color"), true));
        assert!(auto(os(""), None, true), "an empty NO_COLOR is unset");
        assert!(!auto(None, os("xterm"), false), "not a terminal");
        assert!(!auto(os("1"), os("xterm"), true), "NO_COLOR");
        assert!(!auto(None, os("dumb"), true), "TERM=dumb");
    }
}
