//! The fuzz corpora and every crash the fuzzers ever found, replayed on the
//! stable toolchain: each file under fuzz/corpus/<target>/ and
//! fuzz/regressions/<target>/ goes through the same property check the fuzz
//! target runs (twtune::fuzzing), so CI keeps them passing without nightly or
//! libFuzzer. FUZZING.md says how the corpora were made.

use std::collections::BTreeSet;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use twtune::fuzzing::{TARGETS, target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Subfolder (or file stem) names of `dir`.
fn names(dir: &Path, strip_rs: bool) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| !strip_rs || p.extension().is_some_and(|x| x == "rs"))
                .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `check` on every file, collecting the ones that fail instead of
/// stopping at the first, so one run names them all.
fn replay(check: fn(&[u8]), inputs: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for path in inputs {
        let data = fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    failures
}

#[test]
fn every_fuzz_target_has_its_property_check_and_a_corpus() {
    let registered: BTreeSet<String> = TARGETS.iter().map(|t| t.name.to_string()).collect();
    let binaries = names(&fuzz_dir().join("fuzz_targets"), true);
    assert_eq!(
        binaries, registered,
        "fuzz/fuzz_targets vs twtune::fuzzing::TARGETS"
    );
    for dir in ["corpus", "regressions"] {
        for name in names(&fuzz_dir().join(dir), false) {
            assert!(target(&name).is_some(), "fuzz/{dir}/{name} names no target");
        }
    }
    for t in TARGETS {
        assert!(
            !files(&fuzz_dir().join("corpus").join(t.name)).is_empty(),
            "fuzz/corpus/{} is empty",
            t.name
        );
    }
}

#[test]
fn corpora_keep_their_properties() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for t in TARGETS {
        let inputs = files(&fuzz_dir().join("corpus").join(t.name));
        replayed += inputs.len();
        failures.extend(replay(t.check, &inputs));
    }
    assert!(replayed > 0);
    assert!(failures.is_empty(), "failing corpus inputs: {failures:#?}");
}

#[test]
fn every_crash_found_stays_fixed() {
    let mut failures = Vec::new();
    for t in TARGETS {
        let inputs = files(&fuzz_dir().join("regressions").join(t.name));
        failures.extend(replay(t.check, &inputs));
    }
    assert!(
        failures.is_empty(),
        "failing regression inputs: {failures:#?}"
    );
}
