//! Which persisted settings the loaded rules can name, so the CEL view binds
//! only those (issue 20 §2).
//!
//! A host can persist 100,000 settings (a generated sysctl.d file, one line
//! per interface); converting each into CEL values for every check cost
//! hundreds of MiB. No built-in rule walks the whole list: they name
//! `persisted.drift`, `persisted.refused` and `persisted.problems`, and read
//! `persisted.settings` only through `filter(s, s.key == 'a.literal.key')`
//! or `filter(s, s.key == item.key)` inside a rule whose `for_each` is
//! `persisted.drift`. Such a filter gives the same list whether it runs over
//! every setting or only over those of the keys it compares with, so the view
//! holds only those. A rule that names a member any other way (`.size()`,
//! `.map(…)`, an index, `has(persisted.winners)`, the bare `persisted`)
//! gets the whole member: site rules keep their full power, and pay for it.
//!
//! The scan is over each expression's source text, tokenised, not over the
//! compiled AST, so it covers message templates whether or not they are
//! compiled when the rules load. It errs one way only: whatever it does not
//! recognise demands everything under `persisted`. The other variables are
//! small and always bound (a macro such as `kernel_at_least` names `kernel`
//! without the word appearing in the text).

use super::load::{ITEM, Rule, RuleSet};

pub mod wanted;
pub use wanted::{Demand, Settings};

/// The variable this module narrows.
const PERSISTED: &str = "persisted";

impl Demand {
    /// What these rules can name. A disabled rule never runs: it names nothing.
    pub fn of(rules: &RuleSet) -> Self {
        let mut demand = Demand::default();
        for rule in rules.rules() {
            demand.add_rule(rule);
        }
        demand
    }

    fn add_rule(&mut self, rule: &Rule) {
        let item_is_drift = rule
            .for_each
            .as_ref()
            .is_some_and(|f| f.source.trim() == "persisted.drift");
        for path in &rule.requires {
            let mut parts = path.split('.');
            if parts.next() == Some(PERSISTED) {
                match parts.next() {
                    Some(member) => {
                        self.members.insert(member.to_string());
                    }
                    None => self.everything = true,
                }
            }
        }
        let (expressions, templates) = sources(rule);
        for source in expressions {
            self.add_source(source, item_is_drift);
        }
        for template in templates {
            match template_expressions(template) {
                Some(parts) => parts
                    .into_iter()
                    .for_each(|source| self.add_source(source, item_is_drift)),
                None => self.everything = true,
            }
        }
    }

    /// Scans one expression.
    pub fn add_source(&mut self, source: &str, item_is_drift: bool) {
        if self.everything || !source.contains(PERSISTED) {
            return;
        }
        let Some(tokens) = tokenize(source) else {
            self.everything = true;
            return;
        };
        // `item` rebound by a macro (`x.map(item, …)`) is no longer a
        // drift item.
        let item_rebound = tokens
            .windows(3)
            .any(|w| w[0] == Token::Punct("(") && w[1].is_ident(ITEM) && w[2] == Token::Punct(","));
        let item_is_drift = item_is_drift && !item_rebound;
        let mut i = 0;
        while i < tokens.len() {
            if tokens[i].is_ident(PERSISTED) && !is_member_of_something(&tokens, i) {
                i = self.add_use(&tokens, i, item_is_drift);
            } else {
                i += 1;
            }
        }
    }

    /// One use of `persisted` at `tokens[at]`; returns where scanning goes on.
    fn add_use(&mut self, tokens: &[Token], at: usize, item_is_drift: bool) -> usize {
        let member = match (tokens.get(at + 1), tokens.get(at + 2), tokens.get(at + 3)) {
            (Some(Token::Punct(".")), Some(Token::Ident(m)), next)
                if next != Some(&Token::Punct("(")) =>
            {
                m.clone()
            }
            _ => {
                self.everything = true;
                return at + 1;
            }
        };
        let after = at + 3;
        if member == "settings"
            && let Some((filter, end)) = key_filter(tokens, after)
        {
            match filter {
                KeyFilter::Literal(key) => {
                    self.setting_keys.insert(key);
                }
                KeyFilter::Item if item_is_drift => self.drift_keys = true,
                KeyFilter::Item => {
                    self.members.insert(member);
                }
            }
            return end;
        }
        self.members.insert(member);
        after
    }
}

/// A rule's expression texts, and its `${…}` template texts.
fn sources(rule: &Rule) -> (Vec<&str>, Vec<&str>) {
    let mut expressions: Vec<&str> = Vec::new();
    let optional = [&rule.applies, &rule.for_each, &rule.recommend, &rule.rank];
    expressions.extend(optional.into_iter().flatten().map(|e| e.source.as_str()));
    expressions.push(rule.when.source.as_str());
    expressions.extend(rule.escalate.iter().map(|e| e.when.source.as_str()));
    let mut templates: Vec<&str> = Vec::new();
    let optional = [&rule.key, &rule.summary, &rule.manual];
    templates.extend(optional.into_iter().flatten().map(|t| t.source.as_str()));
    templates.push(rule.message.source.as_str());
    templates.extend(rule.evidence.iter().map(|t| t.source.as_str()));
    (expressions, templates)
}

/// The expressions inside a template's `${…}`, found as `expr::Template`
/// finds them (braces inside string literals and map literals skipped);
/// None when one is unclosed.
fn template_expressions(source: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("${") {
        let inner = &rest[start + 2..];
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut end = None;
        for (i, c) in inner.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '{') => depth += 1,
                (None, '}') if depth == 0 => {
                    end = Some(i);
                    break;
                }
                (None, '}') => depth -= 1,
                _ => {}
            }
        }
        let end = end?;
        out.push(&inner[..end]);
        rest = &inner[end + 1..];
    }
    Some(out)
}

/// `x.persisted` (a field of something else, like a drift item's) is not
/// the variable; `.persisted` (CEL's root-scoped name) is.
fn is_member_of_something(tokens: &[Token], at: usize) -> bool {
    at >= 2
        && tokens[at - 1] == Token::Punct(".")
        && matches!(
            &tokens[at - 2],
            Token::Ident(_) | Token::Str(_) | Token::Other | Token::Punct(")" | "]" | "}")
        )
}

enum KeyFilter {
    Literal(String),
    Item,
}

/// `.filter(s, s.key == 'k')` or `.exists(…)` (either side of `==`, the
/// key a plain literal or `item.key`) starting at `tokens[at]`; with the
/// index just past its `)`. Over only the settings of that key these give
/// what they give over all.
fn key_filter(tokens: &[Token], at: usize) -> Option<(KeyFilter, usize)> {
    let t = |i: usize| tokens.get(at + i);
    if t(0) != Some(&Token::Punct("."))
        || !matches!(t(1), Some(Token::Ident(m)) if m == "filter" || m == "exists")
        || t(2) != Some(&Token::Punct("("))
        || t(4) != Some(&Token::Punct(","))
    {
        return None;
    }
    let Some(Token::Ident(var)) = t(3) else {
        return None;
    };
    if var == ITEM {
        return None;
    }
    let body = &tokens[at + 5..];
    let field = |b: &[Token]| {
        b.len() >= 3 && b[0].is_ident(var) && b[1] == Token::Punct(".") && b[2].is_ident("key")
    };
    let key = |b: &[Token]| match b {
        [Token::Str(Some(k)), ..] => Some((KeyFilter::Literal(k.clone()), 1)),
        [i, Token::Punct("."), k, ..] if i.is_ident(ITEM) && k.is_ident("key") => {
            Some((KeyFilter::Item, 3))
        }
        _ => None,
    };
    let (filter, used) = if field(body) && body.get(3) == Some(&Token::Punct("==")) {
        let (filter, n) = key(&body[4..])?;
        (filter, 4 + n)
    } else {
        let (filter, n) = key(body)?;
        let rest = &body[n..];
        if rest.first() != Some(&Token::Punct("==")) || !field(&rest[1..]) {
            return None;
        }
        (filter, n + 4)
    };
    (body.get(used) == Some(&Token::Punct(")"))).then_some((filter, at + 5 + used + 1))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// A string literal: its text when it has no escapes, else None.
    Str(Option<String>),
    Punct(&'static str),
    /// A number or any other operand-like token.
    Other,
}

impl Token {
    fn is_ident(&self, name: &str) -> bool {
        matches!(self, Token::Ident(n) if n == name)
    }
}

/// CEL text as the tokens this scan needs; None when it cannot tell (an
/// unterminated string), which makes the caller demand everything.
fn tokenize(source: &str) -> Option<Vec<Token>> {
    const PUNCT: &[&str] = &[
        "==", "!=", "<=", ">=", "&&", "||", ".", "(", ")", "[", "]", "{", "}", ",", ":", "?", "!",
        "<", ">", "+", "-", "*", "/", "%",
    ];
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if source[i..].starts_with("//") {
            i = source[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &source[start..i];
            let prefix = word.len() <= 2 && word.chars().all(|c| "rRbB".contains(c));
            if prefix && i < bytes.len() && (bytes[i] == b'\'' || bytes[i] == b'"') {
                let raw = word.contains(['r', 'R']);
                let (token, end) = string(source, i, raw)?;
                tokens.push(token);
                i = end;
            } else {
                tokens.push(Token::Ident(word.to_string()));
            }
        } else if c == b'\'' || c == b'"' {
            let (token, end) = string(source, i, false)?;
            tokens.push(token);
            i = end;
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
            }
            tokens.push(Token::Other);
        } else if let Some(p) = PUNCT.iter().find(|p| source[i..].starts_with(**p)) {
            tokens.push(Token::Punct(p));
            i += p.len();
        } else {
            // Any other character (`$`, `{` of a template, non-ASCII text).
            tokens.push(Token::Other);
            i += source[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    Some(tokens)
}

/// The string literal opening at `start`; the token and the index past it.
fn string(source: &str, start: usize, raw: bool) -> Option<(Token, usize)> {
    let quote = &source[start..start + 1];
    let triple = quote.repeat(3);
    let (close, mut i) = match source[start..].starts_with(&triple) {
        true => (triple.as_str(), start + 3),
        false => (quote, start + 1),
    };
    let body_start = i;
    let mut escaped = false;
    while i < source.len() {
        if source[i..].starts_with(close) {
            let text = (!escaped).then(|| source[body_start..i].to_string());
            return Some((Token::Str(text), i + close.len()));
        }
        if !raw && source.as_bytes()[i] == b'\\' {
            escaped = true;
            i += 1;
        }
        i += source[i..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn demand(sources: &[&str], item_is_drift: bool) -> Demand {
        let mut d = Demand::default();
        for s in sources {
            d.add_source(s, item_is_drift);
        }
        d
    }

    fn keys(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_key_filter_names_only_its_key() {
        let d = demand(
            &["persisted.settings.filter(s, s.key == 'net.ipv4.tcp_tw_recycle')"],
            false,
        );
        let k = keys(&["net.ipv4.tcp_tw_recycle"]);
        assert_eq!(
            d.settings(),
            Settings::Keys {
                keys: &k,
                drift: false
            }
        );
        assert!(d.wants("settings"));
        assert!(!d.wants("winners"));
        assert!(!d.wants("drift"));
        // Either side of ==, and exists() too.
        let d = demand(&["persisted.settings.exists(x, 'a.b' == x.key)"], false);
        let k = keys(&["a.b"]);
        assert_eq!(
            d.settings(),
            Settings::Keys {
                keys: &k,
                drift: false
            }
        );
    }

    #[test]
    fn item_key_narrows_only_under_a_drift_for_each() {
        let source = "${persisted.settings.filter(s, s.key == item.key).map(s, s.file).join(', ')}";
        let d = demand(&[source], true);
        assert_eq!(
            d.settings(),
            Settings::Keys {
                keys: &BTreeSet::new(),
                drift: true
            }
        );
        assert!(d.wants("drift"));
        assert_eq!(demand(&[source], false).settings(), Settings::All);
        // `item` rebound by a macro is not the drift item.
        let rebound = "[{'key': 'x'}].map(item, persisted.settings.filter(s, s.key == item.key))";
        assert_eq!(demand(&[rebound], true).settings(), Settings::All);
    }

    #[test]
    fn any_other_use_takes_the_whole_member_or_everything() {
        for source in [
            "persisted.settings.size() > 0",
            "persisted.settings.filter(s, s.key == 'a' || true).size() > 0",
            "persisted.settings.filter(s, s.key != 'a')",
            "persisted.settings.filter(s, s.key == 'a' + 'b')",
            "persisted.settings.map(s, s.key == 'a')",
            "persisted.settings.all(s, s.key == 'a')",
            "has(persisted.settings)",
            "persisted.settings[0].key == 'a'",
            "persisted.settings.filter(s, s.key == 'it\\'s')",
        ] {
            assert_eq!(
                demand(&[source], false).settings(),
                Settings::All,
                "{source}"
            );
        }
        for source in [
            "persisted['settings'].size() > 0",
            "size(persisted) > 0",
            "(persisted).settings.size() > 0",
            ".persisted.winners.size() > 0 && persisted",
            "'unterminated persisted",
        ] {
            let d = demand(&[source], false);
            assert!(d.everything, "{source}");
            assert_eq!(d.settings(), Settings::All, "{source}");
        }
        let d = demand(&[".persisted.winners.size() > 0"], false);
        assert!(d.wants("winners") && !d.everything);
    }

    #[test]
    fn fields_named_persisted_and_strings_are_not_the_variable() {
        let d = demand(
            &[
                "${item.persisted} ${item.key}",
                "'sets ' + item.persisted + \" persisted.settings\"",
                "x.map(d, d.persisted)",
            ],
            true,
        );
        assert_eq!(d, Demand::default());
        for member in [
            "settings", "winners", "drift", "refused", "problems", "files",
        ] {
            assert!(!d.wants(member), "{member}");
        }
    }

    #[test]
    fn template_text_is_not_scanned_only_its_expressions() {
        let parts = template_expressions(
            "persisted winner ${item.file}: ${ {'a': '}'}['a'] } and ${persisted.drift.size()}",
        )
        .unwrap();
        assert_eq!(
            parts,
            ["item.file", " {'a': '}'}['a'] ", "persisted.drift.size()"]
        );
        assert_eq!(template_expressions("oops ${1 + "), None);
    }

    /// A tree with drift, a removed key persisted, and 2,000 lines no rule
    /// names: the narrowed view judges exactly as the whole one.
    #[test]
    fn the_narrowed_view_judges_as_the_whole_one() {
        use crate::facts::{GatherOptions, gather};
        let root = std::env::temp_dir().join(format!("twtune-demand-{}", std::process::id()));
        let ipv4 = root.join("proc/sys/net/ipv4");
        std::fs::create_dir_all(&ipv4).unwrap();
        std::fs::create_dir_all(root.join("etc/sysctl.d")).unwrap();
        for (key, value) in [("tcp_tw_reuse", "0"), ("tcp_fin_timeout", "60")] {
            std::fs::write(ipv4.join(key), format!("{value}\n")).unwrap();
        }
        let mut conf = String::from(
            "net.ipv4.tcp_tw_reuse = 1\nnet.ipv4.tcp_tw_recycle = 1\nnet.ipv4.tcp_fin_timeout = 30\n",
        );
        for n in 0..2000 {
            conf.push_str(&format!("net.ipv4.conf.veth{n}.forwarding = 0\n"));
        }
        conf.push_str("net.ipv4.tcp_tw_reuse = 2\nnet.ipv4.tcp_tw_recycle = 0\n");
        std::fs::write(root.join("etc/sysctl.d/50-generated.conf"), conf).unwrap();
        let facts = gather(&GatherOptions::new(&root)).expect("gathers the tree");
        std::fs::remove_dir_all(&root).unwrap();
        let rules = RuleSet::load(std::path::Path::new("/nonexistent"), &[]).unwrap();
        let narrowed = super::super::eval::evaluate(&rules, &facts);
        let whole = super::super::eval::evaluate_with(&rules, &facts, &Demand::everything());
        let fired: Vec<&str> = narrowed.findings.iter().map(|f| f.rule.as_str()).collect();
        assert!(fired.contains(&"persisted-drift"), "{fired:?}");
        assert!(
            fired.contains(&"tcp-tw-recycle-persisted-removed"),
            "{fired:?}"
        );
        assert_eq!(
            serde_json::to_value(&narrowed).unwrap(),
            serde_json::to_value(&whole).unwrap()
        );
        // Only the settings of the drifting keys and tcp_tw_recycle were bound.
        let view = super::super::view::json_view_for(&facts, &Demand::of(&rules));
        let bound = view["persisted"]["settings"].as_array().unwrap().len();
        assert!(bound <= 6, "{bound} settings bound");
        assert!(view["persisted"].get("winners").is_none());
    }

    #[test]
    fn the_built_in_rules_need_no_whole_list_of_settings() {
        let rules =
            RuleSet::load(std::path::Path::new("/nonexistent"), &[]).expect("built-in rules load");
        let d = Demand::of(&rules);
        assert!(!d.everything, "{d:?}");
        assert!(
            matches!(d.settings(), Settings::Keys { drift: true, .. }),
            "{d:?}"
        );
        assert!(!d.wants("winners"), "{d:?}");
        assert!(d.wants("drift") && d.wants("refused") && d.wants("problems"));
    }
}
