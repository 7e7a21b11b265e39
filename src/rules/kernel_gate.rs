//! `kernel_at_least("4.18")`: a version gate that reads as one.
//!
//! It is a CEL macro, expanded when the rule is compiled into the comparison
//! rules used to spell out by hand —
//! `kernel.version.major > 4 || (kernel.version.major == 4 && kernel.version.minor >= 18)` —
//! so it decides exactly as those did: on a kernel whose version is unknown
//! `kernel.version` is absent, the expansion fails to evaluate and the rule is
//! undecided, never silently true or false. Rules that gate on the version
//! also say `requires = ["kernel.version"]`, which reports that case with its
//! reason (the release that did not parse). A malformed version (`"4.x"`) is a
//! load error naming the rule.

use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, SelectExpr, operators};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{DeclarationError, Env};

/// The function name rules call.
pub const KERNEL_AT_LEAST: &str = "kernel_at_least";

/// Registers the macro on a CEL environment.
pub fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_macro(Macro::global(KERNEL_AT_LEAST, 1, expand))
}

fn expand(
    helper: &mut MacroExprHelper<'_>,
    _target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    let arg = args.remove(0);
    let version = match &arg.expr {
        Expr::Literal(LiteralValue::String(text)) => parse_version(text.as_ref()),
        _ => None,
    }
    .ok_or_else(|| {
        helper.new_error(
            arg.id,
            "kernel_at_least takes a version literal such as \"4.18\" or \"5.10.2\"",
        )
    })?;
    Ok(Some(at_least(&mut |e| helper.next_expr(e), &version)))
}

/// The expansion of `kernel_at_least(version)` for a parser that does not
/// run this macro (`parse`'s fast path): `None` when `version` is not a
/// version literal, which the macro refuses. `next` makes a node with a
/// fresh id.
pub(crate) fn expansion(version: &str, next: &mut dyn FnMut(Expr) -> IdedExpr) -> Option<IdedExpr> {
    parse_version(version).map(|v| at_least(next, &v))
}

/// "4.18" → [4, 18]; "5.10.2" → [5, 10, 2]. Two or three whole numbers.
fn parse_version(text: &str) -> Option<Vec<i64>> {
    let parts: Vec<i64> = text
        .split('.')
        .map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    (2..=3).contains(&parts.len()).then_some(parts)
}

const FIELDS: [&str; 3] = ["major", "minor", "patch"];

/// `v[0] > a || (v[0] == a && (v[1] > b || (v[1] == b && v[2] >= c)))`, the
/// last component compared with `>=`. `next` makes a node with a fresh id.
fn at_least(next: &mut dyn FnMut(Expr) -> IdedExpr, version: &[i64]) -> IdedExpr {
    let field = FIELDS[version.len() - 1];
    let last = version[version.len() - 1];
    let mut expr = compare(next, field, operators::GREATER_EQUALS, last);
    for (index, &number) in version.iter().enumerate().rev().skip(1) {
        let field = FIELDS[index];
        let equal = compare(next, field, operators::EQUALS, number);
        let inner = call(next, operators::LOGICAL_AND, vec![equal, expr]);
        let greater = compare(next, field, operators::GREATER, number);
        expr = call(next, operators::LOGICAL_OR, vec![greater, inner]);
    }
    expr
}

fn compare(next: &mut dyn FnMut(Expr) -> IdedExpr, field: &str, op: &str, number: i64) -> IdedExpr {
    let kernel = next(Expr::Ident("kernel".into()));
    let version = select(next, kernel, "version");
    let member = select(next, version, field);
    let literal = next(Expr::Literal(LiteralValue::Int(number.into())));
    call(next, op, vec![member, literal])
}

fn select(next: &mut dyn FnMut(Expr) -> IdedExpr, operand: IdedExpr, field: &str) -> IdedExpr {
    next(Expr::Select(SelectExpr {
        operand: Box::new(operand),
        field: field.into(),
        test: false,
    }))
}

fn call(next: &mut dyn FnMut(Expr) -> IdedExpr, function: &str, args: Vec<IdedExpr>) -> IdedExpr {
    next(Expr::Call(CallExpr {
        func_name: function.into(),
        target: None,
        args,
    }))
}

#[cfg(test)]
mod tests {
    use cel::Context;
    use serde_json::json;

    use super::super::expr::{compile, env};
    use super::super::view::to_cel;

    fn gate(source: &str, version: Option<(i64, i64, i64)>) -> Result<cel::Value, String> {
        let mut context = Context::with_env(env().clone());
        let kernel = match version {
            Some((major, minor, patch)) => {
                json!({"release": "x", "version": {"major": major, "minor": minor, "patch": patch}})
            }
            None => json!({"release": "custom"}),
        };
        context.add_variable_from_value("kernel", to_cel(&kernel));
        compile(source, &[])?.evaluate(&context)
    }

    #[test]
    fn it_decides_as_the_comparisons_it_replaces() {
        let by_hand =
            "kernel.version.major > 4 || (kernel.version.major == 4 && kernel.version.minor >= 18)";
        for version in [
            (3, 10, 0),
            (4, 17, 9),
            (4, 18, 0),
            (4, 19, 0),
            (5, 0, 0),
            (6, 1, 0),
        ] {
            assert_eq!(
                gate("kernel_at_least(\"4.18\")", Some(version)),
                gate(by_hand, Some(version)),
                "{version:?}"
            );
        }
        assert_eq!(
            gate("kernel_at_least(\"4.18\")", Some((4, 18, 0))),
            Ok(true.into())
        );
        assert_eq!(
            gate("kernel_at_least(\"4.18\")", Some((4, 17, 99))),
            Ok(false.into())
        );
        assert_eq!(
            gate("kernel_at_least(\"5.10.2\")", Some((5, 10, 1))),
            Ok(false.into())
        );
        assert_eq!(
            gate("kernel_at_least(\"5.10.2\")", Some((5, 10, 2))),
            Ok(true.into())
        );
        assert_eq!(
            gate("kernel_at_least(\"5.10.2\")", Some((5, 9, 30))),
            Ok(false.into())
        );
        assert_eq!(
            gate("kernel_at_least(\"5.10.2\")", Some((6, 0, 0))),
            Ok(true.into())
        );
    }

    #[test]
    fn an_unknown_version_is_an_error_not_an_answer() {
        assert!(gate("kernel_at_least(\"4.18\")", None).is_err());
        assert!(gate("!kernel_at_least(\"4.18\")", None).is_err());
        // Guarded by has(), as message texts do, it is simply false.
        assert_eq!(
            gate("has(kernel.version) && !kernel_at_least(\"4.2\")", None),
            Ok(false.into())
        );
    }

    #[test]
    fn a_malformed_version_does_not_compile() {
        for bad in [
            "\"4\"",
            "\"4.x\"",
            "\"4.18.0.1\"",
            "\"\"",
            "418",
            "kernel.release",
        ] {
            assert!(
                compile(&format!("kernel_at_least({bad})"), &[]).is_err(),
                "{bad}"
            );
        }
    }
}
