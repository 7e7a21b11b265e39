//! Walking a parsed CEL tree: one list of a node's children, in one order,
//! for every reader of the tree (the largest id in `parse`, the shape and
//! the fact and string-call searches in `expr`). Iterative, never recursive:
//! a rule's tree is as deep as its text nests, and the depth is only
//! checked while walking.

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};

/// The direct children of `node`: a call's target then its arguments; a
/// comprehension's range, accumulator start, condition, step and result; a
/// list's elements; a selection's operand; each map entry's key then value
/// and each struct field's value.
pub fn children(node: &IdedExpr) -> Children<'_> {
    match &node.expr {
        Expr::Call(call) => Children::Call(call.target.as_deref(), call.args.iter()),
        Expr::Comprehension(c) => Children::Fixed(
            [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ]
            .into_iter(),
        ),
        Expr::List(list) => Children::Call(None, list.elements.iter()),
        Expr::Select(select) => Children::Call(Some(&select.operand), [].iter()),
        Expr::Map(map) => Children::Entries(map.entries.iter(), None),
        Expr::Struct(st) => Children::Entries(st.entries.iter(), None),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Children::Call(None, [].iter()),
    }
}

/// See [`children`].
pub enum Children<'a> {
    /// One optional node, then a slice of them.
    Call(Option<&'a IdedExpr>, std::slice::Iter<'a, IdedExpr>),
    /// A comprehension's five parts.
    Fixed(std::array::IntoIter<&'a IdedExpr, 5>),
    /// Map or struct entries, and a map entry's value still to give.
    Entries(std::slice::Iter<'a, IdedEntryExpr>, Option<&'a IdedExpr>),
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a IdedExpr;

    fn next(&mut self) -> Option<&'a IdedExpr> {
        match self {
            Children::Call(first, rest) => first.take().or_else(|| rest.next()),
            Children::Fixed(parts) => parts.next(),
            Children::Entries(entries, value) => value.take().or_else(|| {
                let entry = entries.next()?;
                Some(match &entry.expr {
                    EntryExpr::MapEntry(e) => {
                        *value = Some(&e.value);
                        &e.key
                    }
                    EntryExpr::StructField(f) => &f.value,
                })
            }),
        }
    }
}

/// Every node of the tree under `root` (itself included), depth first,
/// descending into a node's children only when `descend` says so.
pub fn walk(
    root: &IdedExpr,
    descend: impl Fn(&IdedExpr) -> bool,
) -> impl Iterator<Item = &IdedExpr> {
    let mut stack = vec![root];
    std::iter::from_fn(move || {
        let node = stack.pop()?;
        if descend(node) {
            stack.extend(children(node));
        }
        Some(node)
    })
}

/// The ids of a map's or struct's entries (they are not nodes of their own).
pub fn entry_ids(node: &IdedExpr) -> impl Iterator<Item = u64> + '_ {
    let entries = match &node.expr {
        Expr::Map(map) => map.entries.as_slice(),
        Expr::Struct(st) => st.entries.as_slice(),
        _ => &[],
    };
    entries.iter().map(|entry| entry.id)
}

#[cfg(test)]
mod tests {
    use super::{children, walk};
    use cel::common::ast::{Expr, IdedExpr};

    fn parse(text: &str) -> IdedExpr {
        crate::rules::parse::parse(text).unwrap()
    }

    fn idents(root: &IdedExpr, descend: impl Fn(&IdedExpr) -> bool) -> Vec<String> {
        walk(root, descend)
            .filter_map(|n| match &n.expr {
                Expr::Ident(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_kind_of_node_gives_its_children() {
        let tree = parse("f(a, b.c, [d, e], {k: v}, x.all(i, i > y))");
        let mut seen = idents(&tree, |_| true);
        seen.sort();
        for name in ["a", "b", "d", "e", "i", "k", "v", "x", "y"] {
            assert!(seen.contains(&name.to_string()), "{name} in {seen:?}");
        }
        // A call's children: its five arguments, in order.
        assert_eq!(children(&tree).count(), 5);
    }

    #[test]
    fn a_walk_can_stay_out_of_a_subtree() {
        let tree = parse("a + x.all(i, i > y)");
        let outside = idents(&tree, |n| !matches!(n.expr, Expr::Comprehension(_)));
        assert!(outside.contains(&"a".to_string()), "{outside:?}");
        assert!(!outside.contains(&"y".to_string()), "{outside:?}");
    }
}
