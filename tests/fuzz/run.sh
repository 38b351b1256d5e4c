#!/bin/sh
# tests/fuzz/run.sh SECONDS BUILD NAME...: runs the libFuzzer harness BUILD/tests/fuzz/fuzz_NAME
# of each NAME for SECONDS, one after the other (never two at once), on its committed seeds
# tests/fuzz/corpus/NAME (read, never written) and a working corpus BUILD/corpus/NAME (where
# the inputs it finds go), with the dictionary tests/fuzz/dict/NAME.dict when there is one
# (the format's keys and tokens). Every seed, and so every committed regression input, runs
# first.
# Prints one line per harness with its executions; on a finding, the start of the sanitizer
# report and the input saved under BUILD/artifacts/. Fails if any harness found anything.
secs=$1 build=$2
shift 2
passed=0 failed=0 names=""
mkdir -p "$build/artifacts" "$build/logs"
for name in "$@"; do
    bin=$build/tests/fuzz/fuzz_$name seeds=tests/fuzz/corpus/$name work=$build/corpus/$name
    log=$build/logs/$name.log
    dict=tests/fuzz/dict/$name.dict dict_opt=""
    [ -f "$dict" ] && dict_opt="-dict=$dict"
    mkdir -p "$work"
    [ -d "$seeds" ] || { echo "fuzz $name: no seed corpus $seeds"; failed=$((failed + 1)); names="$names $name"; continue; }
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
           -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" $dict_opt \
           "$work" "$seeds" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz $name: ${runs:-?} executions in ${secs} s, $cov, $(ls "$seeds" | wc -l) seeds"
        passed=$((passed + 1))
    else
        echo "fuzz $name: FAILED (log $log):"
        grep -m1 -A12 -E 'ERROR: |runtime error|fuzz check failed|ALARM|out-of-memory' "$log"
        grep 'Test unit written to' "$log"
        failed=$((failed + 1))
        names="$names $name"
    fi
done
echo "fuzz harnesses: $passed passed, $failed failed$names"
[ "$failed" -eq 0 ]
