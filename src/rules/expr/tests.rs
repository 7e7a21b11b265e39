use super::*;

#[test]
fn known_facts_compile() {
    for source in [
        "has(net.ipv4.tcp_tw_recycle) && net.ipv4.tcp_tw_recycle != 0",
        "nat.verdict != 'none'",
        "counters.tcp_ext.TCPTimeWaitOverflow > 0",
        "sockstat.tcp.tw >= net.ipv4.tcp_max_tw_buckets * 8 / 10",
        "persisted.drift.exists(d, d.key == 'x')",
        "math.greatest(1, 2) == 2",
        "kernel.version.major >= 4",
        "ports.usable < 28232",
        "[1, 2].map(x, x * 2).size() == 2",
    ] {
        compile(source, &[]).unwrap_or_else(|e| panic!("{source}: {e}"));
    }
}

#[test]
fn misspelt_facts_are_refused() {
    let err = compile("net.ipv4.tcp_tw_recyle == 1", &[]).unwrap_err();
    assert!(err.contains("net.ipv4.tcp_tw_recyle"), "{err}");
    assert!(compile("has(kernel.versoin)", &[]).is_err());
    assert!(compile("natt.verdict == 'none'", &[]).is_err());
    assert!(compile("ports.usable.x == 1", &[]).is_err());
}

#[test]
fn bound_variables_are_not_facts() {
    assert!(compile("item.key == 'x'", &["item"]).is_ok());
    assert!(compile("item.key == 'x'", &[]).is_err());
}

#[test]
fn syntax_errors_are_reported() {
    assert!(compile("net.ipv4.tcp_tw_reuse ==", &[]).is_err());
}

#[test]
fn templates_interpolate() {
    let t = Template::compile("range ${[1, 2]} is ${'x' + '}'}!", &[]).unwrap();
    let ctx = Context::with_env(env().clone());
    assert_eq!(t.render(&ctx).unwrap(), "range 1 2 is x}!");
    assert!(Template::compile("oops ${1 + ", &[]).is_err());
}

#[test]
fn prose_compiles_when_rendered_and_names_are_checked_at_load() {
    // A syntax error in prose shows when it is compiled, not before.
    let broken = Template::compile("n = ${ports.usable +}", &[]).unwrap();
    assert!(broken.compile_all().is_err());
    let ctx = Context::with_env(env().clone());
    assert!(matches!(broken.render(&ctx), Err(RenderError::Compile(_))));
    // A misspelt fact is an error when loading, plain path or not.
    for bad in [
        "${ports.usabel}",
        "${ports.usabel + 1}",
        "${has(kernel.versoin) ? 1 : 2}",
    ] {
        let err = Template::compile(bad, &[]).unwrap_err();
        assert!(err.contains("unknown fact"), "{bad}: {err}");
    }
    // Paths read the facts without the parser.
    let mut ctx = Context::with_env(env().clone());
    ctx.add_variable_from_value(
        "ports",
        view::to_cel(&serde_json::json!({"usable": 7, "low": 1})),
    );
    let t = Template::compile("${ ports.usable } of ${ports.low + 1}", &[]).unwrap();
    assert_eq!(t.render(&ctx).unwrap(), "7 of 2");
    let absent = Template::compile("${ports.count}", &[]).unwrap();
    assert!(matches!(absent.render(&ctx), Err(RenderError::Evaluate(_))));
}
