#!/bin/sh
# Runs every test binary given as an argument; prints one summary line; fails if any failed.
failed=0; passed=0; names=""
for t in "$@"; do
    echo "== $t"
    if "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); names="$names $t"; fi
done
echo "test programs: $passed passed, $failed failed$names"
[ "$failed" -eq 0 ]
