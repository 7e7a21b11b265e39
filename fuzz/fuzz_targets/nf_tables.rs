#![no_main]
//! Checks in twtune::fuzzing, shared with tests/fuzz_replay.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| twtune::fuzzing::nf_tables_buffers(data));
