#!/bin/sh
# tests/bench.sh: `make bench`: the engine against its peers on the issue's shapes, side by
# side in one run, and a ratio table at the end:
#   qaprune fp32 with OpenBLAS, qaprune fp32 with oneDNN, qaprune bf16 (oneDNN, forward),
#   PyTorch fp32 and PyTorch bf16 autocast (../shared/bench/torch_bert_bench.py, Debian
#   python3-torch), and ONNX Runtime fp32 when tests/ort_bench.sh finds it (optional).
# Every engine runs the same shape and thread count back to back, so drifts of the machine
# hit them alike. Takes about 3 minutes on 2 cores. Run nothing else meanwhile.
SWEEP=${1:-bin/sweep}
TORCH=../shared/bench/torch_bert_bench.py
OUT=${BENCH_OUT:-build/bench.jsonl}
REPS=${BENCH_REPS:-7}
mkdir -p "$(dirname "$OUT")"; : > "$OUT"
have_torch=1
if [ ! -f "$TORCH" ] || ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "bench: PyTorch baseline unavailable (need $TORCH and Debian python3-torch): skipped torch columns"
    have_torch=0
fi
have_ort=0
if sh tests/ort_bench.sh --check 2>/dev/null; then have_ort=1; else
    echo "bench: ONNX Runtime unavailable (see tests/ort_bench.sh): skipped its column"
fi
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
[ -f "$TCMALLOC" ] || TCMALLOC=
PRUNED_H='[6,6,6,6,6,6,6,6,6,6,6,6]'
PRUNED_F='[922,922,922,922,922,922,922,922,922,922,922,922]'

record() { # label engine json
    [ -n "$3" ] && echo "{\"label\":\"$1\",\"engine\":\"$2\",\"result\":$3}" >> "$OUT"
}
# PyTorch fp32 runs its GEMMs in OpenBLAS, whose threads fight spinning OpenMP threads, so
# it gets OMP_WAIT_POLICY=passive (../shared/bench/README.md); its bf16 GEMMs run in oneDNN
# inside the OpenMP threads, where libgomp's default brief spin is faster (2 threads,
# BERT-base: 132 ms default, 161 ms passive), as it is for qaprune's oneDNN paths.
torch() { # policy script threads args...
    pol=$1; script=$2; shift 2
    if [ "$pol" = passive ]; then
        LD_PRELOAD=$TCMALLOC OMP_WAIT_POLICY=passive /usr/bin/python3 $script "$@" | tail -1
    else
        env -u OMP_WAIT_POLICY LD_PRELOAD=$TCMALLOC /usr/bin/python3 $script "$@" | tail -1
    fi
}
run() { # label mode threads args...
    label=$1; mode=$2; t=$3; shift 3
    record "$label" "qaprune fp32 openblas" \
        "$("$SWEEP" bench --threads "$t" --reps "$REPS" --mode "$mode" --gemm openblas "$@" | tail -1)"
    record "$label" "qaprune fp32 onednn" \
        "$("$SWEEP" bench --threads "$t" --reps "$REPS" --mode "$mode" --gemm onednn "$@" | tail -1)"
    [ "$mode" = forward ] && record "$label" "qaprune bf16" \
        "$("$SWEEP" bench --threads "$t" --reps "$REPS" --mode "$mode" --precision bf16 "$@" | tail -1)"
    targs=$(echo "$*" | sed 's/--ffn /--intermediate /')
    if [ $have_torch = 1 ]; then
        record "$label" "torch fp32" \
            "$(torch passive "$TORCH" --threads "$t" --reps "$REPS" --mode "$mode" $targs)"
        [ "$mode" = forward ] && record "$label" "torch bf16" \
            "$(torch default "tests/torch_autocast_bench.py $TORCH" --threads "$t" --reps "$REPS" --mode "$mode" $targs)"
    fi
    [ $have_ort = 1 ] && [ "$mode" = forward ] && record "$label" "onnxruntime fp32" \
        "$(sh tests/ort_bench.sh --threads "$t" --reps "$REPS" $targs)"
    echo "bench: $label threads=$t done" >&2
}
for t in 1 2; do
    run "bert-base fwd" forward $t
    run "bert-base pruned fwd" forward $t --heads-per-layer "$PRUNED_H" --ffn-per-layer "$PRUNED_F"
    run "4L/256 train" train $t --layers 4 --hidden 256 --heads 4 --ffn 1024 --seq 128 --batch 16
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
engines = ["qaprune fp32 openblas", "qaprune fp32 onednn", "qaprune bf16",
           "torch fp32", "torch bf16", "onnxruntime fp32"]
ms, keys = {}, []
for r in rows:
    k = (r["label"], r["result"]["threads"])
    if k not in keys: keys.append(k)
    ms[k + (r["engine"],)] = r["result"]["median_ms"]
present = [e for e in engines if any(k[2] == e for k in ms)]
def ratio(k, a, b):
    x, y = ms.get(k + (a,)), ms.get(k + (b,))
    return f"{x / y:.2f}" if x and y else "-"
print("median ms (" + ", ".join(present) + ") and ratios")
print("| shape | threads | " + " | ".join(present) +
      " | onednn/openblas | fp32 onednn/torch | bf16/torch bf16 | fp32 onednn/ort |")
print("|---|---|" + "---|" * (len(present) + 4))
for k in keys:
    cells = [f"{ms[k + (e,)]:.1f}" if k + (e,) in ms else "-" for e in present]
    print(f"| {k[0]} | {k[1]} | " + " | ".join(cells) + " | " +
          " | ".join([ratio(k, "qaprune fp32 onednn", "qaprune fp32 openblas"),
                      ratio(k, "qaprune fp32 onednn", "torch fp32"),
                      ratio(k, "qaprune bf16", "torch bf16"),
                      ratio(k, "qaprune fp32 onednn", "onnxruntime fp32")]) + " |")
for t in (1, 2):
    for e in ("qaprune fp32 onednn", "qaprune bf16"):
        a, b = ms.get(("bert-base fwd", t, e)), ms.get(("bert-base pruned fwd", t, e))
        if a and b:
            print(f"{e}: pruned speedup over unpruned at {t} thread(s): {a / b:.2f}x "
                  f"(FLOP ratio 2.65x)")
PY
