//! Colour on a terminal, none elsewhere; `NO_COLOR` (any non-empty value) turns
//! it off everywhere (<https://no-color.org>). Three ANSI codes do not warrant a
//! crate.

use std::io::IsTerminal;

use crate::rules::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn plain() -> Self {
        Style { color: false }
    }

    /// Colour when stdout is a terminal and NO_COLOR is unset or empty.
    pub fn for_stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
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
