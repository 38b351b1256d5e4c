#!/bin/sh
# tests/bench.sh: `make bench`: the engine against the PyTorch baseline
# (../shared/bench/torch_bert_bench.py) on the issue's shapes, side by side in one run, and a
# ratio table at the end. Takes about 1-2 minutes on 2 cores. Run nothing else meanwhile.
SWEEP=${1:-bin/sweep}
TORCH=../shared/bench/torch_bert_bench.py
OUT=${BENCH_OUT:-build/bench.jsonl}
mkdir -p "$(dirname "$OUT")"; : > "$OUT"
have_torch=1
if [ ! -f "$TORCH" ] || ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "bench: PyTorch baseline unavailable (need $TORCH and Debian python3-torch): skipped torch columns"
    have_torch=0
fi
PRUNED_H='[6,6,6,6,6,6,6,6,6,6,6,6]'
PRUNED_F='[922,922,922,922,922,922,922,922,922,922,922,922]'
run() { # label threads args...
    label=$1; t=$2; shift 2
    q=$("$SWEEP" bench --threads "$t" "$@" | tail -1)
    echo "{\"label\":\"$label\",\"engine\":\"qaprune\",\"result\":$q}" >> "$OUT"
    if [ $have_torch = 1 ]; then
        targs=$(echo "$*" | sed 's/--ffn-per-layer/--ffn-per-layer/; s/--ffn /--intermediate /')
        p=$(LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 OMP_WAIT_POLICY=passive \
            /usr/bin/python3 "$TORCH" --threads "$t" $targs | tail -1)
        echo "{\"label\":\"$label\",\"engine\":\"torch\",\"result\":$p}" >> "$OUT"
    fi
    echo "bench: $label threads=$t done" >&2
}
for t in 1 2; do
    run "bert-base fwd" $t --reps 7
    run "bert-base pruned fwd" $t --reps 7 --heads-per-layer "$PRUNED_H" --ffn-per-layer "$PRUNED_F"
    run "4L/256 train" $t --layers 4 --hidden 256 --heads 4 --ffn 1024 --seq 128 --batch 16 --mode train --reps 7
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ms = {}
for r in rows:
    ms[(r["label"], r["result"]["threads"], r["engine"])] = r["result"]["median_ms"]
print("| shape | threads | qaprune ms | torch ms | qaprune/torch |")
print("|---|---|---|---|---|")
for (label, t, eng), v in ms.items():
    if eng != "qaprune": continue
    tv = ms.get((label, t, "torch"))
    ratio = f"{v / tv:.2f}" if tv else "-"
    print(f"| {label} | {t} | {v:.1f} | {tv if tv else '-'} | {ratio} |")
for t in (1, 2):
    a, b = ms.get(("bert-base fwd", t, "qaprune")), ms.get(("bert-base pruned fwd", t, "qaprune"))
    if a and b:
        print(f"pruned speedup over unpruned at {t} thread(s): {a / b:.2f}x (FLOP ratio 2.65x)")
PY
