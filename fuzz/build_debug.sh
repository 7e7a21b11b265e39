#!/bin/sh
# Builds every fuzz target as `cargo fuzz build` (no -O) does: release
# profile with debug assertions and overflow checks, AddressSanitizer and
# libFuzzer's coverage instrumentation, into the folder run_all.sh reads.
# Needs no cargo-fuzz, only the stable toolchain (RUSTC_BOOTSTRAP unlocks -Z).
# Usage (from fuzz/): nice -n 19 ./build_debug.sh [cargo build args...]
set -eu
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cdebug-assertions -Coverflow_checks -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth --cfg fuzzing -Zsanitizer=address -Cforce-frame-pointers"
exec cargo build --release --target x86_64-unknown-linux-gnu --bins "$@"
