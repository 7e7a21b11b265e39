#!/bin/sh
# Runs fuzz targets one after another for SECONDS each (default 600), under
# nice, then minimises each corpus into fuzz/corpus/<target> (the committed
# one). Usage: fuzz/run_all.sh [SECONDS] TARGET...   (run from fuzz/)
# Logs: fuzz/logs/<target>.log, times in fuzz/logs/times.tsv (git-ignored).
set -u
secs=${1:-600}; shift
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs corpus-run artifacts
for t in "$@"; do
    mkdir -p "corpus-run/$t" "artifacts/$t" "corpus/$t" "corpus-raw/$t" "regressions/$t"
    start=$(date -u +%s)
    nice -n 19 "$bin/$t" "corpus-run/$t" "corpus/$t" "corpus-raw/$t" "regressions/$t" \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" > "logs/$t.log" 2>&1
    rc=$?
    end=$(date -u +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log")
    # Minimise everything seen into a fresh committed corpus (what `cargo fuzz cmin` does).
    rm -rf "corpus-min/$t" && mkdir -p "corpus-min/$t"
    nice -n 19 "$bin/$t" -merge=1 "corpus-min/$t" "corpus/$t" "corpus-run/$t" > "logs/$t.cmin.log" 2>&1 \
        && rm -rf "corpus/$t" && mv "corpus-min/$t" "corpus/$t"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(date -u -d @$start +%H:%M:%S)" "$((end - start))" "${execs:-?}" "$rc" "$(ls "corpus/$t" | wc -l)" >> logs/times.tsv
done
