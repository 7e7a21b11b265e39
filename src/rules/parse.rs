//! Parsing CEL text into the tree `expr` checks and the `cel` crate runs.
//!
//! The crate has two parsers: the ANTLR one its `Env::compile` uses, and a
//! hand-written Pratt parser (`parser_pratt`) that gives the same tree for
//! about a twentieth of the instructions (measured with callgrind on every
//! expression of the built-in rules: 114 M against 5.3 M; issue 20). Parsing
//! was most of an idle `check`, so every expression is parsed here with the
//! Pratt parser, and with the ANTLR one only where the two could differ:
//!
//! - the Pratt parser expands the standard macros only (`has`, `all`,
//!   `exists`, `exists_one`, `map`, `filter`). `kernel_at_least` is ours and
//!   expanded here by the same code as the macro (`kernel_gate`), and the
//!   math extension's `math.greatest`/`math.least` as that extension does;
//!   a call of `sortBy` (the lists extension's macro) sends the text to the
//!   ANTLR parser, which expands it as `Env` does;
//! - on any error the ANTLR parser parses the text again, so a rule's error
//!   reads as it always did (and a text only it accepts still loads).
//!
//! `tests::the_fast_tree_is_the_env_tree` parses every expression of every
//! built-in rule both ways and compares the trees: an upgrade of the crate
//! that makes the two parsers differ fails there, not in a user's run.

use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, ListExpr, LiteralValue};
use cel::parser::PrattParser;

use super::cel_env::env;
use super::kernel_gate::{KERNEL_AT_LEAST, expansion};

/// Macros of the environment that the Pratt parser does not expand and this
/// module does not either, by function name: a call of one is parsed by the
/// environment's own parser.
const ENV_ONLY_MACROS: &[&str] = &["sortBy"];

/// The math extension's macros, `math.greatest(…)` and `math.least(…)`, and
/// the functions they call.
const EXTREMES: &[(&str, &str)] = &[("greatest", "math.@max"), ("least", "math.@min")];

/// Parses `source` as `env().compile` would, into the same tree; the error
/// is the environment parser's first line.
pub fn parse(source: &str) -> Result<IdedExpr, String> {
    match fast(source) {
        Some(tree) => Ok(tree),
        None => slow(source),
    }
}

/// The environment's own (ANTLR) parser.
pub(crate) fn slow(source: &str) -> Result<IdedExpr, String> {
    env().parser().parse(source).map_err(|e| {
        // The crate's message quotes the source with a caret; one line is enough here.
        e.to_string()
            .lines()
            .next()
            .unwrap_or("syntax error")
            .to_string()
    })
}

/// The Pratt parser's tree with `kernel_at_least` expanded; `None` when the
/// text needs the environment's parser (an error, or a macro only it has).
fn fast(source: &str) -> Option<IdedExpr> {
    let mut tree = PrattParser::new()
        .enable_optional_syntax(true)
        .parse(source)
        .ok()?;
    let mut next_id = max_id(&tree) + 1;
    let mut stack: Vec<&mut IdedExpr> = vec![&mut tree];
    while let Some(node) = stack.pop() {
        if let Expr::Call(call) = &node.expr {
            if ENV_ONLY_MACROS.contains(&call.func_name.as_str()) && call.target.is_some() {
                return None;
            }
            if call.func_name == KERNEL_AT_LEAST && call.target.is_none() && call.args.len() == 1 {
                // Anything but a version literal is the macro's error.
                let Expr::Literal(LiteralValue::String(version)) = &call.args[0].expr else {
                    return None;
                };
                let mut next = |expr| {
                    next_id += 1;
                    IdedExpr {
                        id: next_id - 1,
                        expr,
                    }
                };
                let expanded = expansion(version.as_ref(), &mut next)?;
                *node = expanded;
                continue;
            }
        }
        if let Expr::Call(call) = &mut node.expr
            && let Some(&(_, function)) = EXTREMES.iter().find(|(m, _)| *m == call.func_name)
            && matches!(call.target.as_deref(), Some(IdedExpr { expr: Expr::Ident(ns), .. }) if ns == "math")
        {
            // The extension's expansion (cel's extensions/math.rs `extreme`):
            // one or two arguments as they are, more as one list. Arguments
            // it refuses go to its own parser for its error.
            let valid = match call.args.as_slice() {
                [] => false,
                [arg] => is_numeric_list(arg) || may_be_numeric(arg),
                args => args.iter().all(may_be_numeric),
            };
            if !valid {
                return None;
            }
            let mut args = std::mem::take(&mut call.args);
            if args.len() > 2 {
                next_id += 1;
                args = vec![IdedExpr {
                    id: next_id - 1,
                    expr: Expr::List(ListExpr::new(args)),
                }];
            }
            next_id += 1;
            *node = IdedExpr {
                id: next_id - 1,
                expr: Expr::Call(CallExpr {
                    func_name: function.to_string(),
                    target: None,
                    args,
                }),
            };
        }
        push_children(node, &mut stack);
    }
    Some(tree)
}

/// Whether `arg` can be a number, as the math extension decides it.
fn may_be_numeric(arg: &IdedExpr) -> bool {
    match &arg.expr {
        Expr::Literal(literal) => matches!(
            literal,
            LiteralValue::Int(_) | LiteralValue::UInt(_) | LiteralValue::Double(_)
        ),
        Expr::List(_) | Expr::Map(_) | Expr::Struct(_) => false,
        _ => true,
    }
}

/// A list literal of things that can be numbers, not empty.
fn is_numeric_list(arg: &IdedExpr) -> bool {
    matches!(&arg.expr, Expr::List(list)
        if !list.elements.is_empty() && list.elements.iter().all(may_be_numeric))
}

fn max_id(tree: &IdedExpr) -> u64 {
    super::tree::walk(tree, |_| true)
        .flat_map(|node| std::iter::once(node.id).chain(super::tree::entry_ids(node)))
        .max()
        .unwrap_or(0)
}

/// The mutable walk `fast` rewrites the tree with ([`super::tree::children`]
/// is the shared read-only one; a mutable borrow cannot share its code).
fn push_children<'a>(node: &'a mut IdedExpr, stack: &mut Vec<&'a mut IdedExpr>) {
    match &mut node.expr {
        Expr::Call(call) => {
            stack.extend(call.target.as_deref_mut());
            stack.extend(call.args.iter_mut());
        }
        Expr::Comprehension(c) => {
            let c = &mut **c;
            stack.extend([
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ]);
        }
        Expr::List(list) => stack.extend(list.elements.iter_mut()),
        Expr::Select(select) => stack.push(&mut select.operand),
        Expr::Map(map) => push_entries(&mut map.entries, stack),
        Expr::Struct(st) => push_entries(&mut st.entries, stack),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn push_entries<'a>(
    entries: &'a mut [cel::common::ast::IdedEntryExpr],
    stack: &mut Vec<&'a mut IdedExpr>,
) {
    for entry in entries {
        match &mut entry.expr {
            EntryExpr::MapEntry(e) => stack.extend([&mut e.key, &mut e.value]),
            EntryExpr::StructField(f) => stack.push(&mut f.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree with every id set to 0: the ids of a macro's expansion
    /// depend on the parser, its meaning does not.
    fn without_ids(mut tree: IdedExpr) -> IdedExpr {
        let mut stack: Vec<&mut IdedExpr> = vec![&mut tree];
        while let Some(node) = stack.pop() {
            node.id = 0;
            if let Expr::Map(m) = &mut node.expr {
                m.entries.iter_mut().for_each(|e| e.id = 0);
            }
            if let Expr::Struct(s) = &mut node.expr {
                s.entries.iter_mut().for_each(|e| e.id = 0);
            }
            push_children(node, &mut stack);
        }
        tree
    }

    fn same_as_env(source: &str) {
        let fast = parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        let env = slow(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(without_ids(fast), without_ids(env), "{source}");
    }

    /// Every expression of every built-in rule, decisions and the `${…}`
    /// parts of its texts.
    fn builtin_expressions() -> Vec<String> {
        let set = super::super::RuleSet::load(std::path::Path::new("/nonexistent-root"), &[])
            .expect("the built-in rules load");
        let mut all = Vec::new();
        for rule in set.rules() {
            all.extend(rule.expression_sources());
        }
        assert!(all.len() > 400, "{}", all.len());
        all
    }

    #[test]
    fn the_fast_tree_is_the_env_tree() {
        for source in builtin_expressions() {
            same_as_env(&source);
        }
        for source in [
            "kernel_at_least(\"4.18\") && kernel_at_least('5.10.2')",
            "[kernel_at_least(\"4.18\")].exists(x, x)",
            "math.greatest(1, 2, 3) + math.least([4, 5])",
            "math.greatest(ports.low) + math.least(1, math.greatest(2.0, 3u))",
            "[3, 1].sortBy(x, -x)",
            "{'a': 1, 'b': [1, 2].map(x, x * 2)}.a",
            "has(net.ipv4.tcp_tw_reuse) ? 'x' : \"y\\n\" + r'\\z'",
            "b'\\x00'.size() == 1u && 1.5e3 > -2.0 && 0x1F == 31",
            "[1, 2, 3].filter(x, x > 1).all(y, y in [2, 3])",
            "[1].exists_one(x, x == 1) || !false",
            "{'a': 1}.?a.orValue(2)",
        ] {
            same_as_env(source);
        }
    }

    #[test]
    fn errors_read_as_the_env_parser_writes_them() {
        for bad in [
            "net.ipv4.tcp_tw_reuse ==",
            "kernel_at_least('4.x')",
            "(1",
            "math.greatest()",
            "math.least('a', 1)",
        ] {
            assert_eq!(parse(bad).unwrap_err(), slow(bad).unwrap_err(), "{bad}");
        }
    }
}
