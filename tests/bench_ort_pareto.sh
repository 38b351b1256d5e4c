#!/bin/sh
# tests/bench_ort_pareto.sh OUT [THREADS...]: the speedup of every point of OUT/results.db's
# pareto view over its teacher, in the engine and in ONNX Runtime side by side: one
# `sweep bench --runtime engine,ort` per point and thread count (default 1 and 2), so both
# runtimes time the same inputs with the same threads, warm-up and repeats, each timing the
# teacher and the point interleaved. Prints a Markdown table, with the speedup the sweep
# itself recorded beside. Run it from the directory the sweep ran in (the teacher paths in
# the points' config_json are relative to it), with the machine otherwise idle.
# Environment: SWEEP (default bin/sweep), REPS (50), WARMUP (5), QAPRUNE_ORT_DIR or ORT_DIR
# (ONNX Runtime's install, sweep/ort.h).
set -e
OUT=${1:?usage: tests/bench_ort_pareto.sh OUT [THREADS...]}
shift
THREADS=${*:-1 2}
SWEEP=${SWEEP:-bin/sweep}
REPS=${REPS:-50}
WARMUP=${WARMUP:-5}
ORT=${QAPRUNE_ORT_DIR:-${ORT_DIR:-.}}
DB="$OUT/results.db"
[ -f "$DB" ] || { echo "bench_ort_pareto: no $DB" >&2; exit 2; }
ROWS=$(mktemp)
trap 'rm -f "$ROWS"' EXIT
# hash|teacher dir|strategy|finetune|heads|ffn|f1|heads_kept|ffn_kept|recorded speedup|threads
sqlite3 -separator '|' "$DB" "SELECT p.config_hash,
    coalesce(json_extract(r.config_json, '\$.teacher.checkpoint'),
             json_extract(r.config_json, '\$.teacher.cache')),
    p.strategy, p.finetune, p.head_sparsity, p.ffn_sparsity, round(p.f1, 2), p.heads_kept,
    p.ffn_kept, round(p.speedup, 2), json_extract(r.config_json, '\$.threads')
    FROM pareto p JOIN runs r ON r.id = p.run_id ORDER BY p.teacher, p.speedup" > "$ROWS"
echo "| point | F1 | heads / FFN kept | threads | engine teacher / point ms | engine speedup | ORT teacher / point ms | ORT speedup | sweep's speedup |"
echo "|---|---|---|---|---|---|---|---|---|"
while IFS='|' read -r hash teacher strategy finetune heads ffn f1 hk fk recorded rthreads; do
    for t in $THREADS; do
        "$SWEEP" bench --teacher "$teacher" --model "$OUT/points/$hash" --runtime engine,ort \
            --threads "$t" --reps "$REPS" --warmup "$WARMUP" --ort "$ORT" 2>/dev/null </dev/null |
            /usr/bin/python3 -c '
import json, sys
rows = {}
for line in sys.stdin:
    j = json.loads(line)
    rows[j["runtime"]] = j
e, o = rows["engine"], rows["ort"]
a = sys.argv[1:]
print("| %s / %s h%.2f f%.2f | %s | %s / %s | %d | %.3f / %.3f | %.2fx | %.3f / %.3f | %.2fx | %sx at %s threads |"
      % (a[0], a[1], float(a[2]), float(a[3]), a[4], a[5], a[6], e["threads"], e["teacher_ms"],
         e["model_ms"], e["speedup"], o["teacher_ms"], o["model_ms"], o["speedup"], a[7], a[8]))
' "$strategy" "$finetune" "$heads" "$ffn" "$f1" "$hk" "$fk" "$recorded" "$rthreads"
    done
done < "$ROWS"
