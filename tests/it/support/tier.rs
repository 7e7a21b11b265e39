//! The test tiers: what a test needs beyond `cargo test` as an ordinary user.
//!
//! A test that needs more (root for private namespaces, a real engine such as
//! promtool or puppet, the `test-hooks` feature) says so first thing:
//!
//! ```ignore
//! needs!(Need::Root, Need::Tool("promtool"));
//! ```
//!
//! When a need is not met the test returns at once and is recorded; when the
//! test binary exits it prints, once, the tests it skipped grouped by reason.
//! Under `TWTUNE_REQUIRE_ALL_TESTS=1` (what `.ci/run` sets) a need not met
//! fails the test instead: in CI a skipped test is not a passing test.
//!
//! The helpers that run a tool (`netns::require_tool`) go through
//! [`require`]: inside a test that declared its needs, a missing tool is a
//! failure naming the package to install.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Mutex, Once, OnceLock};

/// What a test may need beyond an ordinary user's `cargo test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Root (CAP_SYS_ADMIN): private network and mount namespaces, device
    /// nodes, running a command as another user.
    Root,
    /// A program on PATH: a real engine (promtool, nagios4, puppet,
    /// ansible-playbook, …) or a system tool.
    Tool(&'static str),
    /// The `test-hooks` feature: the pause hook the crash and concurrency
    /// tests stop an apply with (`cargo test --features test-hooks`).
    TestHooks,
}

/// The variable under which a need not met fails the test.
pub const REQUIRE_ALL: &str = "TWTUNE_REQUIRE_ALL_TESTS";

impl Need {
    /// Why this need is not met here, `None` when it is.
    pub fn unmet(self) -> Option<String> {
        match self {
            Need::Root => can_make_namespaces()
                .err()
                .map(|why| format!("needs root: namespaces, device nodes ({why})")),
            Need::Tool(program) => (!on_path(program))
                .then(|| format!("needs {program}, not on PATH (.ci/run installs it; see README)")),
            Need::TestHooks => (!cfg!(feature = "test-hooks"))
                .then(|| "needs the test-hooks feature (cargo test --features test-hooks)".into()),
        }
    }
}

/// Whether `program` is a file in one of PATH's folders.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Whether this process may make a private network namespace: tried once, on
/// a thread of its own that ends right after (the namespace dies with it).
fn can_make_namespaces() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if !nix::unistd::geteuid().is_root() {
                return Err(format!("running as uid {}", nix::unistd::geteuid()));
            }
            std::thread::spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))
            })
            .join()
            .unwrap_or_else(|_| Err("the probe thread panicked".into()))
        })
        .clone()
}

/// Skipped tests by the first need they lack (root, then the feature, then
/// tools), each with the other needs it lacks too.
static SKIPPED: Mutex<BTreeMap<String, Vec<Skipped>>> = Mutex::new(BTreeMap::new());

/// A skipped test and the needs it lacks besides the one it is listed under.
type Skipped = (String, Vec<String>);
static SUMMARY_AT_EXIT: Once = Once::new();

/// The running test's name: libtest names each test's thread after it.
fn test_name(module: &str) -> String {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("a test in {module}"))
}

/// `true` when the calling test must return now: one of `needs` is not met
/// (recorded for the summary). Under [`REQUIRE_ALL`] it panics instead.
/// Tests call it through `needs!`.
pub fn skip(module: &str, needs: &[Need]) -> bool {
    SUMMARY_AT_EXIT.call_once(|| {
        // SAFETY: `summary` is an `extern "C" fn()` that never unwinds out
        // (it catches its own panics); atexit only stores the pointer.
        unsafe {
            nix::libc::atexit(summary);
        }
    });
    let mut needs = needs.to_vec();
    needs.sort_by_key(|need| match need {
        Need::Root => 0,
        Need::TestHooks => 1,
        Need::Tool(_) => 2,
    });
    let mut reasons = needs.iter().filter_map(|need| need.unmet());
    let Some(first) = reasons.next() else {
        return false;
    };
    let also: Vec<String> = reasons.collect();
    let test = test_name(module);
    if std::env::var_os(REQUIRE_ALL).is_some_and(|v| v != "0" && !v.is_empty()) {
        panic!(
            "{test} cannot run here and {REQUIRE_ALL} is set: {first}{}",
            also.iter().map(|a| format!("; {a}")).collect::<String>()
        );
    }
    SKIPPED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(first)
        .or_default()
        .push((test, also));
    true
}

/// For helpers a test calls after `needs!`: fails the test
/// with `why` when `need` is not met.
pub fn require(need: Need, why: &str) {
    if let Some(reason) = need.unmet() {
        panic!("{why}: {reason}");
    }
}

/// Prints the skipped tests, grouped by reason, once, when the test binary
/// exits (after libtest's own summary).
extern "C" fn summary() {
    let _ = std::panic::catch_unwind(|| {
        let skipped = SKIPPED.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = skipped.values().map(Vec::len).sum();
        if total == 0 {
            eprintln!(
                "\ntwtune tests: every test ran (none skipped for lack of root, a tool or a feature)"
            );
            return;
        }
        eprintln!(
            "\ntwtune tests: {total} test(s) skipped, counted above as passed; \
             none is skipped under {REQUIRE_ALL}=1 (.ci/run, as root):"
        );
        for (reason, tests) in skipped.iter() {
            let mut tests = tests.clone();
            tests.sort();
            eprintln!("  {} skipped: {reason}", tests.len());
            for (test, also) in tests {
                if also.is_empty() {
                    eprintln!("    {test}");
                } else {
                    eprintln!("    {test} (also {})", also.join("; "));
                }
            }
        }
    });
}

/// Returns from the calling test, recorded as skipped, unless every need is
/// met: `needs!(Need::Root, Need::Tool("promtool"));`
macro_rules! needs {
    ($($need:expr),+ $(,)?) => {
        if $crate::support::tier::skip(module_path!(), &[$($need),+]) {
            return;
        }
    };
}
