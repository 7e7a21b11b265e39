//! The house rules for imports: no two modules import each other, and the
//! layers only point down (facts → rules → apply → render, commands on top).
//! And one for size: no file under `src/` is over 800 lines.
//!
//! The test reads the sources, not the compiler's view, so the rules it
//! applies are written out here:
//!
//! - A *module* is a file: `src/lib.rs` and `src/main.rs` are the roots of
//!   the library and the binary crate, `mod x;` in a module names `x.rs` or
//!   `x/mod.rs` next to it. Every `.rs` file under `src/` must be reached
//!   that way, and a non-test inline module (`mod x { … }`) fails the test,
//!   because it would make the file ↔ module mapping wrong.
//! - Comments (doc comments included, so intra-doc links do not count),
//!   string and character literals are blanked before anything is read, and
//!   every `mod tests { … }` block right after a `#[cfg(…)]` whose condition
//!   names `test` (`#[cfg(test)]`, `#[cfg(all(test, …))]`) is skipped up to
//!   its closing brace: unit tests may reach anywhere. Any other code counts, including
//!   code behind `#[cfg(feature = …)]`.
//! - A dependency is: a `mod x;` declaration (parent → child); every path of
//!   a `use` tree (`pub use` too), expanded through braces, `self` and `as`;
//!   and every path in code that starts with `crate::`, `super::` (repeated as
//!   written), `self::` or — in the binary crate — `twtune::` (the library).
//!   A `use` path may also start with the name of a child module. Paths in
//!   code that start with any other name (a child module, an imported alias,
//!   an external crate) are not followed: they can only point at a descendant
//!   or at something a `use` already recorded.
//! - A path names the deepest module file it walks through: `crate::facts::
//!   read::read_optional` is `src/facts/read.rs`, `crate::facts::MAX_FILE_BYTES`
//!   is `src/facts/mod.rs` even when `facts` re-exports it from a child.
//!   Re-exports are not followed.
//! - Two modules *import each other* when each has a dependency on the other
//!   and neither is an ancestor of the other: a parent declaring its children
//!   and re-exporting from them while a child uses `super::` is the normal
//!   shape of a module tree, not a cycle.
//! - Layers are the first segment of the module path: `facts`, `rules`,
//!   `apply`, `render` in the library and `commands` in the binary; the
//!   crate-level modules (`atomic`, `host_path`, `sysctl`, `cli`, …) belong to
//!   no layer and are not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

#[test]
fn no_two_modules_import_each_other() {
    let house = House::read(&read_src());
    let cycles = house.mutual_imports();
    assert!(
        cycles.is_empty(),
        "modules that import each other:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let house = House::read(&read_src());
    let circles = house.circles();
    assert!(
        circles.is_empty(),
        "modules that import each other in a circle:\n{}",
        circles.join("\n")
    );
}

/// One concern per file: a file past this many lines holds several.
const MAX_LINES: usize = 800;

#[test]
fn no_source_file_is_over_800_lines() {
    let long = too_long(&read_src(), MAX_LINES);
    assert!(
        long.is_empty(),
        "source files over {MAX_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_file_is_named_with_its_length() {
    let (at_most, over) = ("//\n".repeat(MAX_LINES), "//\n".repeat(MAX_LINES + 1));
    let sources = tree(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", &at_most),
        ("b.rs", &over),
    ]);
    assert_eq!(too_long(&sources, MAX_LINES), ["src/b.rs: 801 lines"]);
}

/// Every file of `sources` over `max` lines, with its length.
fn too_long(sources: &BTreeMap<String, String>, max: usize) -> Vec<String> {
    sources
        .iter()
        .map(|(file, text)| (file, text.lines().count()))
        .filter(|&(_, lines)| lines > max)
        .map(|(file, lines)| format!("src/{file}: {lines} lines"))
        .collect()
}

#[test]
fn a_circle_of_three_is_reported_with_every_step() {
    // No pair imports each other: only a walk around all three finds it.
    let house = House::read(&tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a.rs", "use crate::b::B;\n"),
        ("b.rs", "use crate::c::C;\n"),
        ("c.rs", "fn f() { crate::a::g(); }\n"),
    ]));
    assert!(house.mutual_imports().is_empty());
    let circles = house.circles();
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert!(
        circles[0].contains("src/a.rs → src/b.rs → src/c.rs → src/a.rs"),
        "{}",
        circles[0]
    );
    assert!(circles[0].contains("src/c.rs:1 crate::a"), "{}", circles[0]);
}

#[test]
fn layers_only_import_downwards() {
    let house = House::read(&read_src());
    let violations = house.layer_violations();
    assert!(
        violations.is_empty(),
        "imports against the layer direction (facts → rules → apply → render → commands):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_reader_sees_the_module_tree_it_checks() {
    // A reader that found no dependencies would pass everything: make sure it
    // sees the edges it must see in the real tree.
    let house = House::read(&read_src());
    let facts = Module::lib(&["facts"]);
    let commands = Module::bin(&["commands"]);
    assert!(
        house.depends(&Module::lib(&[]), &facts),
        "lib.rs declares mod facts"
    );
    assert!(
        house.depends(&Module::bin(&[]), &commands),
        "main.rs declares mod commands"
    );
    assert!(
        house
            .edges
            .keys()
            .any(|m| m.layer() == Some("apply") && house.depends_on_layer(m, "facts")),
        "apply uses facts somewhere"
    );
    assert!(
        house
            .edges
            .keys()
            .any(|m| m.layer() == Some("commands") && house.depends_on_layer(m, "render")),
        "commands use render through `twtune::`"
    );
    assert!(
        house.depends(
            &Module::lib(&["apply", "executor"]),
            &Module::lib(&["apply", "plan"])
        ),
        "apply/executor.rs uses super::plan"
    );
}

#[test]
fn a_mutual_import_is_reported_with_both_modules() {
    let house = House::read(&tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::Thing;\n"),
        // Through a brace tree, a renamed `self` and a comment that must not count.
        ("b.rs", "// crate::c\nuse super::{a::{self as alias}, c};\n"),
    ]));
    let cycles = house.mutual_imports();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("src/a.rs ↔ src/b.rs"), "{}", cycles[0]);
    assert!(
        cycles[0].contains("src/a.rs:1 crate::b::Thing"),
        "{}",
        cycles[0]
    );
    assert!(cycles[0].contains("src/b.rs:2 super::a"), "{}", cycles[0]);
}

#[test]
fn a_parent_and_its_child_are_not_a_cycle_and_tests_do_not_count() {
    let house = House::read(&tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "a/mod.rs",
            "mod child;\npub use child::Item;\nfn f() { let _ = \"crate::b\"; }\n",
        ),
        (
            "a/child.rs",
            "use super::Helper;\nfn g() { crate::a::f(); }\n",
        ),
        (
            "b.rs",
            "pub fn b() {}\n#[cfg(test)]\nmod tests {\n    use crate::a::Item;\n    fn t() { {} }\n}\n",
        ),
    ]));
    assert_eq!(house.mutual_imports(), Vec::<String>::new());
    assert!(!house.depends(&Module::lib(&["b"]), &Module::lib(&["a"])));
    assert!(house.depends(&Module::lib(&["a", "child"]), &Module::lib(&["a"])));
}

#[test]
fn an_upward_import_is_a_layer_violation() {
    let house = House::read(&tree(&[
        ("lib.rs", "pub mod facts;\npub mod rules;\n"),
        (
            "facts/mod.rs",
            "fn f() -> crate::rules::Finding { todo!() }\n",
        ),
        ("rules/mod.rs", "use crate::facts::Facts;\n"),
    ]));
    let violations = house.layer_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("src/facts/mod.rs (facts) imports src/rules/mod.rs (rules)"),
        "{}",
        violations[0]
    );
}

/// The layers a layer must not import.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("facts", &["rules", "apply", "render", "commands"]),
    ("rules", &["apply", "render", "commands"]),
    ("apply", &["render", "commands"]),
];

fn read_src() -> BTreeMap<String, String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&src, &src, &mut out);
    out
}

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Crate {
    Lib,
    Bin,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Module {
    krate: Crate,
    path: Vec<String>,
}

impl Module {
    fn lib(path: &[&str]) -> Self {
        Module {
            krate: Crate::Lib,
            path: path.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn bin(path: &[&str]) -> Self {
        Module {
            krate: Crate::Bin,
            path: path.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn child(&self, name: &str) -> Self {
        let mut path = self.path.clone();
        path.push(name.to_owned());
        Module {
            krate: self.krate,
            path,
        }
    }

    fn is_ancestor_of(&self, other: &Module) -> bool {
        self.krate == other.krate && other.path.starts_with(&self.path)
    }

    fn layer(&self) -> Option<&'static str> {
        let first = self.path.first()?.as_str();
        match (self.krate, first) {
            (Crate::Lib, "facts") => Some("facts"),
            (Crate::Lib, "rules") => Some("rules"),
            (Crate::Lib, "apply") => Some("apply"),
            (Crate::Lib, "render") => Some("render"),
            (Crate::Bin, "commands") => Some("commands"),
            _ => None,
        }
    }
}

/// Where a dependency was seen: file, line and the path as written.
struct Evidence {
    file: String,
    line: usize,
    path: String,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src/{}:{} {}", self.file, self.line, self.path)
    }
}

struct House {
    files: BTreeMap<Module, String>,
    /// module → module it depends on → the first place that says so.
    edges: BTreeMap<Module, BTreeMap<Module, Evidence>>,
}

impl House {
    fn read(sources: &BTreeMap<String, String>) -> House {
        let code: BTreeMap<&str, Vec<Token>> = sources
            .iter()
            .map(|(file, text)| {
                (
                    file.as_str(),
                    tokens(&skip_test_modules(&blank_non_code(text))),
                )
            })
            .collect();

        // The module trees, from the roots through `mod x;`.
        let mut files = BTreeMap::new();
        let mut pending = vec![
            (Module::lib(&[]), "lib.rs".to_owned()),
            (Module::bin(&[]), "main.rs".to_owned()),
        ];
        while let Some((module, file)) = pending.pop() {
            let Some(toks) = code.get(file.as_str()) else {
                continue;
            };
            let dir = module_dir(&module, &file);
            for w in toks.windows(3) {
                if w[0].text == "mod" && is_ident(&w[1].text) {
                    assert!(
                        w[2].text == ";",
                        "src/{file}:{}: inline module `{}`: the house test maps one file to one module",
                        w[0].line,
                        w[1].text
                    );
                    let name = &w[1].text;
                    let candidates = [format!("{dir}{name}.rs"), format!("{dir}{name}/mod.rs")];
                    let child_file = candidates.iter().find(|c| code.contains_key(c.as_str()));
                    let child_file =
                        child_file.unwrap_or_else(|| panic!("src/{file}: no file for mod {name}"));
                    pending.push((module.child(name), child_file.clone()));
                }
            }
            files.insert(module, file);
        }
        let reached: BTreeSet<&String> = files.values().collect();
        let unreached: Vec<&String> = sources.keys().filter(|f| !reached.contains(f)).collect();
        assert!(
            unreached.is_empty(),
            "files in neither module tree: {unreached:?}"
        );

        let modules: BTreeSet<Module> = files.keys().cloned().collect();
        let mut edges: BTreeMap<Module, BTreeMap<Module, Evidence>> = BTreeMap::new();
        for (module, file) in &files {
            let toks = &code[file.as_str()];
            let mut found = Vec::new();
            let mut i = 0;
            while i < toks.len() {
                let t = &toks[i];
                let next = toks.get(i + 1).map(|t| t.text.as_str());
                let prev = i.checked_sub(1).map(|p| toks[p].text.as_str());
                if t.text == "mod" && next.is_some_and(is_ident) {
                    let name = &toks[i + 1].text;
                    found.push((
                        t.line,
                        vec!["self".to_owned(), name.clone()],
                        format!("mod {name}"),
                    ));
                    i += 2;
                } else if t.text == "use" {
                    let line = t.line;
                    i += 1;
                    let mut paths = Vec::new();
                    use_tree(toks, &mut i, Vec::new(), &mut paths);
                    found.extend(paths.into_iter().map(|p| (line, p.clone(), p.join("::"))));
                } else if is_path_start(&t.text, module.krate)
                    && next == Some("::")
                    && prev != Some("::")
                {
                    let line = t.line;
                    let mut path = vec![t.text.clone()];
                    i += 1;
                    while toks.get(i).is_some_and(|t| t.text == "::")
                        && toks.get(i + 1).is_some_and(|t| is_ident(&t.text))
                    {
                        path.push(toks[i + 1].text.clone());
                        i += 2;
                    }
                    let text = path.join("::");
                    found.push((line, path, text));
                } else {
                    i += 1;
                }
            }
            let out = edges.entry(module.clone()).or_default();
            // (line, path, the path as the evidence shows it)
            for (line, path, text) in found {
                let Some(target) = resolve(module, &path, &modules) else {
                    continue;
                };
                if &target != module {
                    out.entry(target).or_insert_with(|| Evidence {
                        file: file.clone(),
                        line,
                        path: text,
                    });
                }
            }
        }
        House { files, edges }
    }

    fn depends(&self, from: &Module, to: &Module) -> bool {
        self.edges.get(from).is_some_and(|e| e.contains_key(to))
    }

    fn depends_on_layer(&self, from: &Module, layer: &str) -> bool {
        self.edges
            .get(from)
            .is_some_and(|e| e.keys().any(|m| m.layer() == Some(layer)))
    }

    fn name(&self, module: &Module) -> String {
        format!("src/{}", self.files[module])
    }

    fn mutual_imports(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (a, deps) in &self.edges {
            for (b, a_to_b) in deps {
                if a >= b || a.is_ancestor_of(b) || b.is_ancestor_of(a) {
                    continue;
                }
                if let Some(b_to_a) = self.edges.get(b).and_then(|e| e.get(a)) {
                    out.push(format!(
                        "  {} ↔ {}\n    {a_to_b}\n    {b_to_a}",
                        self.name(a),
                        self.name(b)
                    ));
                }
            }
        }
        out
    }

    /// The edges a circle may use: a parent declaring its children and a
    /// child using `super::` are the shape of a module tree, not a circle.
    fn sideways(&self, from: &Module) -> impl Iterator<Item = &Module> {
        self.edges
            .get(from)
            .into_iter()
            .flat_map(|deps| deps.keys())
            .filter(move |to| !from.is_ancestor_of(to) && !to.is_ancestor_of(from))
    }

    /// Every circle of imports, of any length: one line per group of modules
    /// that all reach each other (a strongly connected component), showing
    /// the shortest circle through its first module with the evidence of
    /// each step.
    fn circles(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut placed: BTreeSet<&Module> = BTreeSet::new();
        for start in self.edges.keys() {
            if placed.contains(start) {
                continue;
            }
            let reach = self.reachable(start);
            // The group: modules `start` reaches that reach `start` back.
            let group: BTreeSet<&Module> = reach
                .iter()
                .copied()
                .filter(|m| self.reachable(m).contains(start))
                .collect();
            placed.extend(group.iter().copied());
            if !group.contains(start) {
                continue;
            }
            let Some(path) = self.shortest_circle(start) else {
                continue;
            };
            let names: Vec<String> = path.iter().map(|m| self.name(m)).collect();
            let steps: Vec<String> = path
                .windows(2)
                .map(|w| format!("    {}", self.edges[w[0]][w[1]]))
                .collect();
            out.push(format!("  {}\n{}", names.join(" → "), steps.join("\n")));
        }
        out
    }

    fn reachable(&self, from: &Module) -> BTreeSet<&Module> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&Module> = self.sideways(from).collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m) {
                todo.extend(self.sideways(m));
            }
        }
        seen
    }

    /// Breadth first, so the circle shown is the shortest one.
    fn shortest_circle<'a>(&'a self, start: &'a Module) -> Option<Vec<&'a Module>> {
        let mut came_from: BTreeMap<&Module, &Module> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(m) = queue.pop_front() {
            for next in self.sideways(m) {
                if next == start {
                    let mut path = vec![start, m];
                    let mut at = m;
                    while let Some(prev) = came_from.get(at) {
                        path.push(prev);
                        at = prev;
                    }
                    // path is start, m, …, start's first successor, start.
                    let mut circle: Vec<&Module> = path[1..].iter().rev().copied().collect();
                    circle.push(start);
                    return Some(circle);
                }
                if !came_from.contains_key(next) && next != start {
                    came_from.insert(next, m);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    fn layer_violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (from, deps) in &self.edges {
            let Some(layer) = from.layer() else { continue };
            let Some((_, forbidden)) = FORBIDDEN.iter().find(|(l, _)| *l == layer) else {
                continue;
            };
            for (to, evidence) in deps {
                if let Some(target) = to.layer().filter(|t| forbidden.contains(t)) {
                    out.push(format!(
                        "  {} ({layer}) imports {} ({target}): {evidence}",
                        self.name(from),
                        self.name(to)
                    ));
                }
            }
        }
        out
    }
}

/// The folder a module's `mod x;` declarations are relative to.
fn module_dir(module: &Module, file: &str) -> String {
    if module.path.is_empty() {
        String::new()
    } else if file.ends_with("mod.rs") {
        file.trim_end_matches("mod.rs").to_owned()
    } else {
        format!("{}/", file.trim_end_matches(".rs"))
    }
}

fn is_path_start(ident: &str, krate: Crate) -> bool {
    matches!(ident, "crate" | "super" | "self") || (krate == Crate::Bin && ident == "twtune")
}

/// The module file a path names, or `None` for paths outside this crate tree.
fn resolve(from: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let (mut at, rest) = match path.first()?.as_str() {
        "crate" => (
            Module {
                krate: from.krate,
                path: Vec::new(),
            },
            &path[1..],
        ),
        "twtune" if from.krate == Crate::Bin => (Module::lib(&[]), &path[1..]),
        "self" => (from.clone(), &path[1..]),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let mut at = from.clone();
            for _ in 0..ups {
                at.path.pop()?;
            }
            (at, &path[ups..])
        }
        first if modules.contains(&from.child(first)) => (from.clone(), path),
        _ => return None,
    };
    for segment in rest {
        let child = at.child(segment);
        if !modules.contains(&child) {
            break;
        }
        at = child;
    }
    Some(at)
}

/// Expands one `use` tree into its paths, leaving `i` after it.
fn use_tree(toks: &[Token], i: &mut usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
    let text = |i: usize| toks.get(i).map(|t| t.text.as_str());
    if text(*i) == Some("::") {
        *i += 1;
    }
    loop {
        match text(*i) {
            Some("{") => {
                *i += 1;
                while let Some(t) = text(*i) {
                    if t == "}" {
                        *i += 1;
                        break;
                    }
                    use_tree(toks, i, path.clone(), out);
                    if text(*i) == Some(",") {
                        *i += 1;
                    }
                }
                return;
            }
            Some("*") => {
                *i += 1;
                out.push(path);
                return;
            }
            Some(ident) if is_ident(ident) => {
                *i += 1;
                let is_self_in_braces = ident == "self" && !path.is_empty();
                if !is_self_in_braces {
                    path.push(ident.to_owned());
                }
                if !is_self_in_braces && text(*i) == Some("::") {
                    *i += 1;
                    continue;
                }
                if text(*i) == Some("as") {
                    *i += 2;
                }
                out.push(path);
                return;
            }
            // A malformed tree (or the end of the file): stop at this token.
            _ => return,
        }
    }
}

struct Token {
    text: String,
    line: usize,
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters, with their lines.
fn tokens(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                text: chars[start..i].iter().collect(),
                line,
            });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Token {
                text: "::".to_owned(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// Blanks comments and string and character literals (newlines are kept, so
/// line numbers stay right). Lifetimes are left alone.
fn blank_non_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(chars.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let ident_before = |i: usize| i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < chars.len() && depth > 0 {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (c == 'r' || (c == 'b' && next == Some('r'))) && !ident_before(i) {
            // A raw string r"…", r#"…"#, br"…", or just an identifier.
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
            j += hashes;
            if chars.get(j) == Some(&'"') {
                let closing: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let mut k = j + 1;
                while k < chars.len() && !chars[k..].starts_with(&closing) {
                    k += 1;
                }
                let end = k + closing.len();
                blank(&mut out, i, end);
                i = end;
            } else {
                i += 1;
            }
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == '\'' {
            // 'x' and '\n' are characters; 'a (no closing quote right after
            // one character) is a lifetime or a label.
            if next == Some('\\') {
                let end = chars[i + 3..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map_or(chars.len(), |p| i + 3 + p + 1);
                blank(&mut out, i, end);
                i = end;
            } else if chars.get(i + 2) == Some(&'\'') {
                blank(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            // Skip the whole identifier, so an `r` or `b` inside one is not
            // read as the start of a literal.
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Where the body of a `#[cfg(…test…)] mod tests {` starting at `i` opens.
fn test_module_at(
    chars: &[char],
    i: usize,
    toks_at: impl Fn(&[char], usize, &[&str]) -> Option<usize>,
) -> Option<usize> {
    if chars[i] != '#' {
        return None;
    }
    let attribute = toks_at(chars, i, &["#[cfg("])?;
    let end = attribute + chars[attribute..].iter().position(|&c| c == ']')?;
    let condition: String = chars[attribute..end].iter().collect();
    let mentions_test = condition
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == "test");
    mentions_test.then_some(())?;
    toks_at(chars, end + 1, &["mod", "tests", "{"])
}

/// Removes every `#[cfg(…test…)] mod tests { … }` block (on code whose
/// comments and literals are already blank, so braces balance).
fn skip_test_modules(code: &str) -> String {
    let mut out: Vec<char> = code.chars().collect();
    let toks_at = |chars: &[char], from: usize, words: &[&str]| -> Option<usize> {
        let mut j = from;
        for word in words {
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let w: Vec<char> = word.chars().collect();
            if !chars[j..].starts_with(&w) {
                return None;
            }
            j += w.len();
        }
        Some(j)
    };
    let mut i = 0;
    while i < out.len() {
        let Some(open) = test_module_at(&out, i, toks_at) else {
            i += 1;
            continue;
        };
        let (mut depth, mut j) = (1, open);
        while j < out.len() && depth > 0 {
            match out[j] {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        for c in &mut out[i..j] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        i = j;
    }
    out.into_iter().collect()
}
