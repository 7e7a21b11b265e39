//! The one CEL environment every rule expression is compiled and run in.

use std::sync::{Arc, OnceLock};

use cel::Env;

/// The CEL environment: the standard library plus the strings, math and lists
/// extensions (`math.greatest`, `'a'.join()`, …).
pub fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // These registrations only fail on a name clash inside the crate itself.
        let _ = env.add_extension(cel::extensions::strings);
        let _ = env.add_extension(cel::extensions::math);
        let _ = env.add_extension(cel::extensions::lists);
        let _ = env.add_extension(super::kernel_gate::register);
        let _ = cel::add_overload!(env, fn percent: (cel::common::types::CelDouble) -> cel::common::types::CelString);
        Arc::new(env)
    })
}

/// A ratio as people read it, the same way in rule texts (`percent(r)` in
/// CEL) and in twtune's own lines: "12.3%".
pub fn percent_text(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

fn percent(ratio: &cel::common::types::CelDouble) -> cel::common::types::CelString<'static> {
    percent_text(*ratio.inner()).into()
}
