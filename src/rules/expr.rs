//! CEL expressions in rule files: compiling them once, checking every fact
//! name they use against the facts that exist, and `${…}` message templates.
//!
//! Conditions use CEL (the `cel` crate) rather than a home-made language. What
//! the crate does not do is tell a misspelt fact (`net.ipv4.tcp_tw_recyle`)
//! from one that is merely absent on this host; both just fail to resolve at
//! run time. So the compiled AST is walked here and each `a.b.c` chain rooted
//! at a fact variable is checked against [`view::schema_view`] at load time.

use cel::common::ast::{Expr, IdedExpr, SelectExpr};
use std::sync::OnceLock;

use cel::Context;
use serde_json::{Map, Value as Json};

pub use super::cel_env::{env, percent_text};
use super::names::check_path;
use super::tree;
use super::view;

/// The longest expression a rule may hold. The longest built-in one is
/// about 600 bytes.
pub const MAX_EXPRESSION_BYTES: usize = 2048;
/// How deep brackets may nest. The cel parser recurses per level and, in a
/// debug build on an 8 MiB stack, overflows near 50 (measured); the check
/// runs on the text, before the parser sees it.
pub const MAX_BRACKET_NESTING: usize = 12;
/// How deep the parsed expression may be (a chain `1+1+…` is as deep as it
/// is long); evaluation recurses per level.
pub const MAX_AST_DEPTH: usize = 64;
/// How deep list macros (`all`, `exists`, `map`, `filter`, …) may nest: each
/// level multiplies the work by the size of a list read from the host.
pub const MAX_LOOP_NESTING: usize = 2;
/// The most list-macro iterations one rule may need, estimated from the
/// sizes of the lists it walks before it runs.
pub const MAX_EVALUATION_STEPS: u64 = 2_000_000;

/// The most list-macro iterations all the rules of one run may need
/// together. Past it the costliest rules are refused first, so a site rule
/// cannot starve the built-in ones, and ten rules each just within
/// [`MAX_EVALUATION_STEPS`] cannot add up to minutes.
pub const MAX_RUN_STEPS: u64 = 8_000_000;

/// How many items a list built from one item's fields without splitting a
/// string (`item.processes`) is assumed to hold.
pub const SMALL_LIST: u64 = 16;

/// How many bytes a string function (`contains`, `split`, `+`, …) scans for
/// the price of one list-macro step: a CEL step costs about a microsecond,
/// scanning or copying a byte about a nanosecond. Strings a host controls
/// can be long (a 60,000-character kernel release), so their length is
/// counted; it is the longest string anywhere in the facts, an upper bound,
/// so the price per byte is not set higher than it costs.
pub const STRING_BYTES_PER_STEP: u64 = 1024;

/// CEL functions whose work grows with the length of the strings they take.
pub const STRING_FUNCTIONS: &[&str] = &[
    "split",
    "join",
    "contains",
    "startsWith",
    "endsWith",
    "indexOf",
    "lastIndexOf",
    "replace",
    "substring",
    "charAt",
    "lowerAscii",
    "upperAscii",
    "trim",
    "reverse",
    "format",
    "quote",
    "_+_",
];

/// What a rule's work is estimated from: the sizes of the host's lists and
/// the length of its longest string.
pub struct Sizes<'a> {
    /// A fact list's length by path, when the path names one.
    pub size_of: &'a dyn Fn(&str) -> Option<u64>,
    /// The longest list anywhere in the facts.
    pub largest: u64,
    /// The longest string anywhere in the facts, in bytes.
    pub longest_string: u64,
}

impl Sizes<'_> {
    /// The steps one string function costs.
    fn string_call(&self) -> u64 {
        1 + self.longest_string / STRING_BYTES_PER_STEP
    }
}

/// What a list macro walks, as far as its size can be told before running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// A fact list by path (`persisted.settings`): its length on this host.
    Fact(String),
    /// Built from fact lists some other way: as long as the longest of them.
    FromFacts,
    /// Built from the output of list macros: as long as their largest input.
    FromLoops(Vec<Loop>),
    /// Built only from bound variables and literals: [`SMALL_LIST`].
    Local,
    /// Split out of a string (`kernel.release.split('')`): up to one item per
    /// byte of the longest string the expression can build, counted
    /// `strings` times the longest string of the facts (a `+` joins two).
    Split { strings: u64 },
}

/// A list macro in an expression: the list it walks and the macros nested
/// in its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    pub range: Range,
    pub inner: Vec<Loop>,
    /// Calls of [`STRING_FUNCTIONS`] in the body outside nested loops: each
    /// runs once per item and scans up to the longest string.
    pub string_calls: u64,
    /// The same calls in the range expression outside its own loops: they
    /// run once, to build the list.
    pub range_string_calls: u64,
}

impl Loop {
    /// The most items this loop's list can hold.
    fn size(&self, sizes: &Sizes) -> u64 {
        match &self.range {
            Range::Fact(path) => (sizes.size_of)(path).unwrap_or(sizes.largest),
            Range::FromFacts => sizes.largest,
            Range::FromLoops(loops) => loops
                .iter()
                .map(|l| l.size(sizes))
                .max()
                .unwrap_or(SMALL_LIST),
            Range::Local => SMALL_LIST,
            Range::Split { strings } => sizes
                .longest_string
                .max(MAX_EXPRESSION_BYTES as u64)
                .saturating_mul(*strings)
                .saturating_add(1),
        }
    }

    /// Iterations this loop needs, its range's macros and string work
    /// included.
    fn steps(&self, sizes: &Sizes) -> u64 {
        let size = self.size(sizes).max(1);
        let per_item = self
            .string_calls
            .saturating_mul(sizes.string_call())
            .saturating_add(1);
        let body = self
            .inner
            .iter()
            .fold(per_item, |sum, l| sum.saturating_add(l.steps(sizes)));
        let mut range_steps = match &self.range {
            Range::FromLoops(loops) => loops
                .iter()
                .fold(0u64, |sum, l| sum.saturating_add(l.steps(sizes))),
            // Building the list is a step per item it gets.
            Range::Split { .. } => size,
            _ => 0,
        };
        range_steps =
            range_steps.saturating_add(self.range_string_calls.saturating_mul(sizes.string_call()));
        size.saturating_mul(body).saturating_add(range_steps)
    }
}

/// A compiled expression and its source text.
pub struct Expression {
    pub source: String,
    /// The parsed tree, macros expanded (`parse`).
    tree: IdedExpr,
    /// The list macros it contains, outermost first.
    pub loops: Vec<Loop>,
}

impl Expression {
    /// The list-macro iterations one evaluation needs at most, estimated from
    /// the sizes of the lists it walks.
    pub fn steps(&self, sizes: &Sizes) -> u64 {
        self.loops
            .iter()
            .fold(0u64, |sum, l| sum.saturating_add(l.steps(sizes)))
    }
}

/// Checks the text against the limits the parser itself lacks.
fn precheck(source: &str) -> Result<(), String> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(format!(
            "expression is {} bytes; the limit is {MAX_EXPRESSION_BYTES}",
            source.len()
        ));
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => {
                depth += 1;
                if depth > MAX_BRACKET_NESTING {
                    return Err(format!(
                        "brackets nest deeper than {MAX_BRACKET_NESTING} levels"
                    ));
                }
            }
            (None, ')' | ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The depth of the tree and its list macros, without recursion (the tree
/// is checked before anything recursive walks it).
fn shape(root: &IdedExpr) -> Result<Vec<Loop>, String> {
    shape_at(root, 1, 0)
}

/// When `node` splits a string: how many strings the split text joins
/// (`a + b` is two), so the list can be as long as their lengths together.
fn splits(node: &IdedExpr) -> Option<u64> {
    let mut split = false;
    let mut strings = 1u64;
    for node in tree::walk(node, |n| !matches!(n.expr, Expr::Comprehension(_))) {
        if let Expr::Call(call) = &node.expr {
            split |= call.func_name == "split";
            if call.func_name == "_+_" {
                strings = strings.saturating_add(1);
            }
        }
    }
    split.then_some(strings)
}

/// Calls of [`STRING_FUNCTIONS`] in `node`, not counting those inside list
/// macros (those are counted with their own loop).
fn string_calls_outside_loops(node: &IdedExpr) -> u64 {
    let outside_loops = |n: &IdedExpr| !matches!(n.expr, Expr::Comprehension(_));
    tree::walk(node, outside_loops)
        .filter(|n| matches!(&n.expr, Expr::Call(call) if STRING_FUNCTIONS.contains(&call.func_name.as_str())))
        .count() as u64
}

/// Whether `node` reads any fact (an identifier that is a fact root).
fn mentions_fact(node: &IdedExpr) -> bool {
    tree::walk(node, |_| true)
        .any(|n| matches!(&n.expr, Expr::Ident(name) if view::ROOTS.contains(&name.as_str())))
}

fn shape_at(
    root: &IdedExpr,
    start_depth: usize,
    start_nesting: usize,
) -> Result<Vec<Loop>, String> {
    // (node, depth, index of the enclosing loop in `loops`, loop nesting)
    let mut loops: Vec<(Loop, Option<usize>)> = Vec::new();
    let mut stack: Vec<(&IdedExpr, usize, Option<usize>, usize)> =
        vec![(root, start_depth, None, start_nesting)];
    while let Some((node, depth, parent, nesting)) = stack.pop() {
        if depth > MAX_AST_DEPTH {
            return Err(format!(
                "expression nests deeper than {MAX_AST_DEPTH} levels"
            ));
        }
        let next = depth + 1;
        match &node.expr {
            Expr::Call(call) => {
                if call.func_name == "range" || call.func_name == "lists.range" {
                    return Err(
                        "lists.range is not allowed in rules: it builds lists of any size".into(),
                    );
                }
                // The regex engine would be a quarter of the binary, and no
                // built-in rule needs it: say so at load, not at run time.
                if call.func_name == "matches" {
                    return Err("matches() is not available: twtune is built without \
                                regular expressions; use contains(), startsWith() or endsWith()"
                        .into());
                }
                if let Some(p) = parent
                    && STRING_FUNCTIONS.contains(&call.func_name.as_str())
                {
                    loops[p].0.string_calls += 1;
                }
                stack.extend(tree::children(node).map(|c| (c, next, parent, nesting)));
            }
            Expr::Comprehension(c) => {
                if nesting + 1 > MAX_LOOP_NESTING {
                    return Err(format!(
                        "list macros nest deeper than {MAX_LOOP_NESTING} levels"
                    ));
                }
                let range = match qualified_path(&c.iter_range) {
                    Some(path) if view::ROOTS.contains(&path[0].as_str()) => {
                        Range::Fact(path.join("."))
                    }
                    _ => {
                        // The range's own macros run once, before this loop:
                        // they are part of its range, not of its body.
                        let inner = shape_at(&c.iter_range, next, nesting)?;
                        if !inner.is_empty() {
                            Range::FromLoops(inner)
                        } else if let Some(strings) = splits(&c.iter_range) {
                            Range::Split { strings }
                        } else if mentions_fact(&c.iter_range) {
                            Range::FromFacts
                        } else {
                            Range::Local
                        }
                    }
                };
                loops.push((
                    Loop {
                        range,
                        inner: Vec::new(),
                        string_calls: 0,
                        range_string_calls: string_calls_outside_loops(&c.iter_range),
                    },
                    parent,
                ));
                let me = Some(loops.len() - 1);
                stack.push((&c.accu_init, next, parent, nesting));
                for body in [&c.loop_cond, &c.loop_step, &c.result] {
                    stack.push((body, next, me, nesting + 1));
                }
            }
            // Selections, lists, maps and structs: their children, as they are.
            _ => stack.extend(tree::children(node).map(|c| (c, next, parent, nesting))),
        }
    }
    // Children were pushed after their parents: fold them in from the end.
    let mut top = Vec::new();
    while let Some((l, parent)) = loops.pop() {
        match parent {
            Some(p) => loops[p].0.inner.push(l),
            None => top.push(l),
        }
    }
    Ok(top)
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

/// Compiles `source` and checks the fact names it uses. `bound` names extra
/// variables the caller provides (e.g. `item` inside `for_each` rules).
pub fn compile(source: &str, bound: &[&str]) -> Result<Expression, String> {
    compile_as(source, bound, Checks::Load)
}

/// Which of a text's checks run when its rule is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// Every check: a rule file read at run time.
    Load,
    /// A built-in rule's: its fact names and limits were checked by the
    /// tests of the build that embeds it (`load::tests::
    /// builtin_rules_pass_every_load_check`), against the fact schema that
    /// same build carries, so a run would only repeat them (issue 20: they
    /// were a fifth of an idle check's rule loading).
    BuiltIn,
}

/// [`compile`], with the checks `checks` asks for.
pub fn compile_as(source: &str, bound: &[&str], checks: Checks) -> Result<Expression, String> {
    if checks == Checks::Load {
        precheck(source)?;
    }
    let tree = super::parse::parse(source)?;
    let loops = shape(&tree)?;
    if checks == Checks::Load {
        check_names(&tree, bound)?;
    }
    Ok(Expression {
        source: source.to_string(),
        tree,
        loops,
    })
}

impl Expression {
    pub fn evaluate(&self, context: &Context) -> Result<cel::Value, String> {
        cel::Value::resolve(&self.tree, context).map_err(|e| e.to_string())
    }
}

fn check_names(root: &IdedExpr, bound: &[&str]) -> Result<(), String> {
    let schema = view::schema_view();
    let mut scope: Vec<String> = bound.iter().map(|s| s.to_string()).collect();
    walk(root, schema, &mut scope)
}

fn walk(
    node: &IdedExpr,
    schema: &Map<String, Json>,
    scope: &mut Vec<String>,
) -> Result<(), String> {
    match &node.expr {
        Expr::Ident(_) | Expr::Select(_) => {
            if let Some(path) = qualified_path(node) {
                return check_path(&path, schema, scope);
            }
            if let Expr::Select(select) = &node.expr {
                walk(&select.operand, schema, scope)?;
            }
            Ok(())
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                // `math.greatest(…)` parses as a call on the identifier `math`.
                let is_namespace = matches!(&target.expr, Expr::Ident(n) if !view::ROOTS.contains(&n.as_str()) && !scope.contains(n));
                if !is_namespace {
                    walk(target, schema, scope)?;
                }
            }
            call.args.iter().try_for_each(|a| walk(a, schema, scope))
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, schema, scope)?;
            walk(&c.accu_init, schema, scope)?;
            let pushed = 2 + usize::from(c.iter_var2.is_some());
            scope.push(c.iter_var.clone());
            scope.push(c.accu_var.clone());
            if let Some(v) = &c.iter_var2 {
                scope.push(v.clone());
            }
            let result = [&c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .try_for_each(|e| walk(e, schema, scope));
            scope.truncate(scope.len() - pushed);
            result
        }
        Expr::List(list) => list
            .elements
            .iter()
            .try_for_each(|e| walk(e, schema, scope)),
        Expr::Map(map) => walk_entries(&map.entries, schema, scope),
        Expr::Struct(s) => walk_entries(&s.entries, schema, scope),
        Expr::Literal(_) | Expr::Unspecified => Ok(()),
    }
}

fn walk_entries(
    entries: &[cel::common::ast::IdedEntryExpr],
    schema: &Map<String, Json>,
    scope: &mut Vec<String>,
) -> Result<(), String> {
    use cel::common::ast::EntryExpr;
    entries.iter().try_for_each(|entry| match &entry.expr {
        EntryExpr::MapEntry(e) => {
            walk(&e.key, schema, scope)?;
            walk(&e.value, schema, scope)
        }
        EntryExpr::StructField(f) => walk(&f.value, schema, scope),
    })
}

/// `a.b.c` (including `has(a.b.c)`) as ["a", "b", "c"]; None for anything else.
fn qualified_path(node: &IdedExpr) -> Option<Vec<String>> {
    match &node.expr {
        Expr::Ident(name) => Some(vec![name.clone()]),
        Expr::Select(select) => {
            let mut path = qualified_path(&select.operand)?;
            path.push(select.field.clone());
            Some(path)
        }
        _ => None,
    }
}

/// A message with `${expression}` parts: the prose of a rule.
///
/// Prose is compiled when it is first rendered (the rule fired), or when
/// [`Template::compile_all`] asks (`explain`, `rules --check`, the test of
/// every built-in text), not when the rule is loaded: it is most of a rule
/// set's CEL, and an idle check renders none of it (issue 20). What loading
/// still does costs no parse: a part that is just a fact path
/// (`${kernel.release}`) is checked against the fact schema exactly and is
/// read without CEL's parser; any other part has its fact names checked
/// from its tokens (`names`), and a name found wrong there is confirmed by
/// compiling it, so the load-time error is the compiler's.
#[derive(Debug)]
pub struct Template {
    pub source: String,
    /// The line it is written on (0 when not from a file).
    pub line: usize,
    bound: Vec<String>,
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    /// `a.b.c`: its tree, built without the parser.
    Path(IdedExpr),
    /// Any other expression, compiled on first use.
    Cel {
        source: String,
        compiled: OnceLock<Result<Expression, String>>,
    },
}

/// Why a text could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// The text does not compile: the rule is bad input.
    Compile(String),
    /// It compiled, and failed on these facts (an absent fact, say).
    Evaluate(String),
}

impl Template {
    /// Splits `source` into text and expressions and checks the fact names
    /// they use; compiles nothing unless a name looks wrong (above).
    pub fn compile(source: &str, bound: &[&str]) -> Result<Template, String> {
        Self::compile_as(source, bound, Checks::Load)
    }

    /// [`Template::compile`], with the checks `checks` asks for.
    pub fn compile_as(source: &str, bound: &[&str], checks: Checks) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("${") {
            parts.push(Part::Text(rest[..start].to_string()));
            let inner = &rest[start + 2..];
            let end = closing_brace(inner).ok_or_else(|| format!("unclosed ${{ in {source:?}"))?;
            parts.push(Part::prepare(&inner[..end], bound, checks)?);
            rest = &inner[end + 1..];
        }
        parts.push(Part::Text(rest.to_string()));
        Ok(Template {
            source: source.to_string(),
            line: 0,
            bound: bound.iter().map(|s| s.to_string()).collect(),
            parts,
        })
    }

    /// Compiles every expression of the text now: the first error.
    pub fn compile_all(&self) -> Result<(), String> {
        let bound = self.bound_names();
        for part in &self.parts {
            if let Part::Cel {
                source, compiled, ..
            } = part
            {
                compiled
                    .get_or_init(|| compile(source, &bound))
                    .as_ref()
                    .map_err(Clone::clone)?;
            }
        }
        Ok(())
    }

    /// The sources of its `${…}` expressions.
    pub fn expression_sources(&self) -> impl Iterator<Item = String> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Text(_) => None,
            Part::Path(tree) => qualified_path(tree).map(|p| p.join(".")),
            Part::Cel { source, .. } => Some(source.clone()),
        })
    }

    fn bound_names(&self) -> Vec<&str> {
        self.bound.iter().map(String::as_str).collect()
    }

    /// The list-macro iterations one rendering needs at most. Only a part
    /// that can hold a list macro (`names::may_loop`) is compiled to tell:
    /// list macros are the only loops, and a text without one costs none.
    pub fn steps(&self, sizes: &Sizes) -> u64 {
        let bound = self.bound_names();
        self.parts.iter().fold(0u64, |sum, part| match part {
            Part::Cel { source, compiled } if super::names::may_loop(source) => {
                match compiled.get_or_init(|| compile(source, &bound)) {
                    Ok(e) => sum.saturating_add(e.steps(sizes)),
                    // Rendering reports it.
                    Err(_) => sum,
                }
            }
            _ => sum,
        })
    }

    pub fn render(&self, context: &Context) -> Result<String, RenderError> {
        let bound = self.bound_names();
        let mut out = String::new();
        for part in &self.parts {
            let value = match part {
                Part::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Part::Path(tree) => cel::Value::resolve(tree, context),
                Part::Cel {
                    source, compiled, ..
                } => compiled
                    .get_or_init(|| compile(source, &bound))
                    .as_ref()
                    .map_err(|e| RenderError::Compile(e.clone()))?
                    .evaluate_value(context),
            };
            let value = value.map_err(|e| RenderError::Evaluate(e.to_string()))?;
            out.push_str(&view::cel_to_text(&value));
        }
        Ok(out)
    }
}

impl Expression {
    fn evaluate_value(&self, context: &Context) -> cel::ResolveResult {
        cel::Value::resolve(&self.tree, context)
    }
}

impl Part {
    fn prepare(source: &str, bound: &[&str], checks: Checks) -> Result<Part, String> {
        if checks == Checks::Load {
            precheck(source)?;
        }
        if let Some(path) = plain_path(source) {
            let tree = path_tree(&path);
            if checks == Checks::Load {
                check_names(&tree, bound)?;
            }
            return Ok(Part::Path(tree));
        }
        let compiled = OnceLock::new();
        if checks == Checks::Load
            && super::names::check(source, bound, view::schema_view()).is_err()
        {
            // The token walk only suspects: the compiler decides, and its
            // error is the one reported.
            let _ = compiled.set(Ok(compile(source, bound)?));
        }
        Ok(Part::Cel {
            source: source.to_string(),
            compiled,
        })
    }
}

/// `a.b.c` (spaces around it allowed) as its names; None for anything else.
fn plain_path(source: &str) -> Option<Vec<&str>> {
    const RESERVED: &[&str] = &[
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    let names: Vec<&str> = source.trim().split('.').collect();
    names
        .iter()
        .all(|name| {
            name.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !RESERVED.contains(name)
        })
        .then_some(names)
}

/// The tree CEL's parser gives a path: an identifier and its selections.
fn path_tree(path: &[&str]) -> IdedExpr {
    let mut tree = IdedExpr {
        id: 1,
        expr: Expr::Ident(path[0].to_string()),
    };
    for (i, field) in path.iter().enumerate().skip(1) {
        tree = IdedExpr {
            id: i as u64 + 1,
            expr: Expr::Select(SelectExpr {
                operand: Box::new(tree),
                field: field.to_string(),
                test: false,
            }),
        };
    }
    tree
}

/// The index of the `}` that closes a `${`, skipping braces inside CEL string
/// literals and nested map literals.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') if depth == 0 => return Some(i),
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
