#!/bin/sh
# Shrinks each committed corpus to what keeps its edge coverage (hit counts
# ignored, so a few hundred files at most), with inputs cut to
# 2 KiB, so the replay test stays small and fast: libFuzzer's set-cover merge
# of fuzz/corpus/<t> and the run's fuzz/corpus-run/<t> into a fresh
# fuzz/corpus/<t>. Usage (from fuzz/, after `cargo fuzz build -O`):
#   ./minimise.sh TARGET...
set -eu
bin=target/x86_64-unknown-linux-gnu/release
for t in "$@"; do
    rm -rf "corpus-min/$t" && mkdir -p "corpus-min/$t" "corpus-run/$t"
    nice -n 19 "$bin/$t" -merge=1 -set_cover_merge=1 -use_counters=0 -max_len=2048 \
        "corpus-min/$t" "corpus/$t" "corpus-run/$t" > "logs/$t.minimise.log" 2>&1
    rm -rf "corpus/$t" && mv "corpus-min/$t" "corpus/$t"
    printf '%s\t%s files\t%s bytes\n' "$t" "$(ls "corpus/$t" | wc -l)" "$(cat "corpus/$t"/* | wc -c)"
done
