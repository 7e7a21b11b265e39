//! The fact names a CEL text uses, read from its tokens without parsing it.
//!
//! A rule's texts (`message`, `summary`, `evidence`, …) are compiled only
//! when the rule fires (issue 20), but a misspelt fact in them must still be
//! an error when the rule is loaded. This walk finds each `a.b.c` chain
//! rooted at a name that is not a function, a namespace or a variable a list
//! macro binds, and checks it against the fact schema as the compiled check
//! does (`expr::check_path`). It may pass a text the compiled check refuses
//! (a name bound by a macro is trusted everywhere in the text, and syntax is
//! not checked: both surface when the text is compiled, by `rules --check`
//! and when the rule fires); it never refuses one on its own: a complaint is
//! confirmed by compiling the text (`expr::Template`).

use serde_json::{Map, Value as Json};

use super::view;

#[derive(Debug, PartialEq)]
enum Token<'a> {
    Ident(&'a str),
    Punct(char),
    /// A string, bytes or number literal.
    Literal,
}

/// The macros whose first arguments are variables they bind.
const BINDING_MACROS: &[&str] = &[
    "all",
    "exists",
    "exists_one",
    "existsOne",
    "map",
    "filter",
    "sortBy",
];

const KEYWORDS: &[&str] = &["true", "false", "null", "in"];

fn tokens(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &source[start..i];
            let prefix = word.len() <= 2 && word.bytes().all(|b| b"rRbB".contains(&b));
            if prefix && i < bytes.len() && (bytes[i] == b'\'' || bytes[i] == b'"') {
                let raw = word.bytes().any(|b| b == b'r' || b == b'R');
                i = skip_string(bytes, i, raw);
                out.push(Token::Literal);
            } else {
                out.push(Token::Ident(word));
            }
        } else if c == b'\'' || c == b'"' {
            i = skip_string(bytes, i, false);
            out.push(Token::Literal);
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < bytes.len() {
                let b = bytes[i];
                let exponent_sign = (b == b'+' || b == b'-')
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && !source[..i].starts_with("0x");
                if b.is_ascii_alphanumeric()
                    || exponent_sign
                    || (b == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
                {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(Token::Literal);
        } else if c == b'`' {
            // An escaped field name: `a.`b-c``.
            i += 1;
            while i < bytes.len() && bytes[i] != b'`' {
                i += 1;
            }
            i += 1;
            out.push(Token::Literal);
        } else {
            // Multi-byte characters are only valid inside strings.
            let ch = source[i..].chars().next().unwrap_or('?');
            out.push(Token::Punct(ch));
            i += ch.len_utf8();
        }
    }
    out
}

/// The index after the string literal opening at `i`.
fn skip_string(bytes: &[u8], mut i: usize, raw: bool) -> usize {
    let quote = bytes[i];
    let triple = bytes.get(i..i + 3) == Some(&[quote, quote, quote][..]);
    i += if triple { 3 } else { 1 };
    while i < bytes.len() {
        if bytes[i] == b'\\' && !raw {
            i += 2;
        } else if bytes[i] == quote
            && (!triple || bytes.get(i..i + 3) == Some(&[quote, quote, quote][..]))
        {
            return i + if triple { 3 } else { 1 };
        } else {
            i += 1;
        }
    }
    i
}

/// Whether `source` may hold a list macro, the only loop CEL has: it names
/// one. A text that does not costs no list-macro steps.
pub fn may_loop(source: &str) -> bool {
    tokens(source)
        .iter()
        .any(|t| matches!(t, Token::Ident(name) if BINDING_MACROS.contains(name)))
}

/// Checks the fact names `source` uses; `bound` names the variables the
/// caller provides (`item`). The error is the first unknown name.
pub fn check(source: &str, bound: &[&str], schema: &Map<String, Json>) -> Result<(), String> {
    check_tokens(&tokens(source), bound, schema)
}

fn check_tokens(
    tokens: &[Token],
    bound: &[&str],
    schema: &Map<String, Json>,
) -> Result<(), String> {
    let mut scope: Vec<String> = bound.iter().map(|s| s.to_string()).collect();
    // The variables list macros bind: `x` in `.exists(x, …)`, `k, v` in
    // `.all(k, v, …)`.
    for (i, token) in tokens.iter().enumerate() {
        if let Token::Ident(name) = token
            && BINDING_MACROS.contains(name)
            && tokens.get(i + 1) == Some(&Token::Punct('('))
        {
            let mut j = i + 2;
            while let (Some(Token::Ident(var)), Some(Token::Punct(','))) =
                (tokens.get(j), tokens.get(j + 1))
            {
                scope.push(var.to_string());
                j += 2;
            }
        }
    }
    let mut i = 0;
    while i < tokens.len() {
        let Token::Ident(first) = tokens[i] else {
            i += 1;
            continue;
        };
        // A member of something else (`x[0].name`, `f().name`): no fact name.
        let member = i > 0 && tokens[i - 1] == Token::Punct('.');
        let mut path = vec![first.to_string()];
        let mut j = i + 1;
        while let (Some(Token::Punct('.')), Some(Token::Ident(next))) =
            (tokens.get(j), tokens.get(j + 1))
        {
            path.push(next.to_string());
            j += 2;
        }
        i = j;
        if member || KEYWORDS.contains(&first) {
            continue;
        }
        match tokens.get(j) {
            // `f(…)` or `a.b.f(…)`: the last name is a function.
            Some(Token::Punct('(')) => {
                path.pop();
                // `math.greatest(…)`: a namespace, not a fact.
                let namespace = path.len() == 1
                    && !super::view::ROOTS.contains(&path[0].as_str())
                    && !scope.contains(&path[0]);
                if path.is_empty() || namespace {
                    continue;
                }
            }
            // `Type{field: …}`: a message's type name.
            Some(Token::Punct('{')) => continue,
            _ => {}
        }
        check_path(&path, schema, &scope)?;
    }
    Ok(())
}

/// Checks one `a.b.c` fact path against the schema: a name bound in
/// `scope` (a macro variable, `item`) passes; anything else must exist.
pub fn check_path(
    path: &[String],
    schema: &Map<String, Json>,
    scope: &[String],
) -> Result<(), String> {
    let root = &path[0];
    if scope.contains(root) {
        return Ok(());
    }
    if !view::ROOTS.contains(&root.as_str()) {
        return Err(format!(
            "unknown fact {root:?} (facts are: {})",
            view::ROOTS.join(", ")
        ));
    }
    let mut node = schema.get(root.as_str());
    for depth in 1..path.len() {
        let prefix = path[..depth].join(".");
        if view::OPEN_MAPS.contains(&prefix.as_str()) {
            return Ok(());
        }
        match node {
            Some(Json::Object(map)) => {
                node = map.get(path[depth].as_str());
                if node.is_none() {
                    let known: Vec<&str> = map.keys().map(String::as_str).collect();
                    return Err(format!(
                        "unknown fact {:?} ({prefix} has: {})",
                        path[..=depth].join("."),
                        known.join(", ")
                    ));
                }
            }
            // A list or a scalar has no members to select.
            _ => {
                return Err(format!(
                    "{:?} selects a member of {prefix:?}, which has none",
                    path[..=depth].join(".")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::view::schema_view;
    use super::*;

    fn ok(source: &str) -> bool {
        check(source, &["item"], schema_view()).is_ok()
    }

    #[test]
    fn known_names_pass() {
        for source in [
            "net.ipv4.tcp_tw_reuse",
            "has(net.ipv4.tcp_tw_reuse) ? 'net.ipv4.nope' : \"x.y\"",
            "sockets.destinations.map(d, d.remote + ' ' + string(d.time_wait)).join(', ')",
            "math.greatest(1, ports.usable) + 1.5e-3",
            "item.key + sysctl['net.ipv4.nope'] + r'\\'",
            "persisted.drift.exists(d, d.key == 'x') ? percent(0.5) : ''",
            "sockets.destinations[0].remote.size()",
            "'''a ' b''' + kernel.release.lowerAscii()",
            "kernel_at_least('4.18') && .5 < 1.0",
        ] {
            assert!(
                ok(source),
                "{source}: {:?}",
                check(source, &["item"], schema_view())
            );
        }
    }

    #[test]
    fn misspelt_names_are_found() {
        for source in [
            "net.ipv4.tcp_tw_reuze",
            "'a' + kernel.relase",
            "has(sockets.destinatons)",
            "sockets.destinations.map(d, d.remote) + natt.verdict",
            "ports.usable.x",
            "sockets.destinations.size() + ports.usabel.string()",
            "nope",
        ] {
            assert!(!ok(source), "{source}");
        }
    }
}
