#!/bin/sh
# tests/bench.sh: `make bench`: the engine against its peers on the issue's shapes, side by
# side in one run, and a ratio table at the end:
#   qaprune fp32 with OpenBLAS, qaprune fp32 with oneDNN, qaprune bf16 (oneDNN; training in
#   bf16 with fp32 master weights, against PyTorch fp32 training: PyTorch bf16 is forward only),
#   PyTorch fp32 and PyTorch bf16 autocast (../shared/bench/torch_bert_bench.py, Debian
#   python3-torch), and ONNX Runtime fp32 when tests/ort_bench.sh finds it (optional).
# Every engine runs the same shape and thread count back to back, so drifts of the machine
# hit them alike. Then the pruned shape's speedup with both models in one process, passes
# interleaved (fixtures from tests/onnx_fixture under build/bench-pair, ~1 GB), and two more
# rows: the whole model's GFLOP/s (BERT-base forward) over
# oneDNN's dnnl_sgemm GFLOP/s on the layer's four GEMM shapes (sweep bench --mode gemm), and
# the peak RSS of a BERT-base training step (batch 8, seq 384, 2 threads) of qaprune and
# PyTorch, each the child's maximum resident set by /usr/bin/time -f %M. Takes about 6
# minutes on 2 cores. Run nothing else meanwhile. BENCH_ROWS (default "peers pair gemm rss")
# picks the parts; gemm alone times the BERT-base forward it needs itself.
SWEEP=${1:-bin/sweep}
FIXTURE=${2:-build/tests/onnx_fixture}
PAIR_DIR=${BENCH_PAIR_DIR:-build/bench-pair}
TORCH=../shared/bench/torch_bert_bench.py
OUT=${BENCH_OUT:-build/bench.jsonl}
REPS=${BENCH_REPS:-7}
ROWS=${BENCH_ROWS:-peers pair gemm rss}
has_row() { case " $ROWS " in *" $1 "*) return 0 ;; esac; return 1; }
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

record() { # label engine json [maxrss_kb]
    [ -n "$3" ] || return 0
    if [ -n "$4" ]; then
        echo "{\"label\":\"$1\",\"engine\":\"$2\",\"maxrss_kb\":$4,\"result\":$3}" >> "$OUT"
    else
        echo "{\"label\":\"$1\",\"engine\":\"$2\",\"result\":$3}" >> "$OUT"
    fi
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
    record "$label" "qaprune bf16" \
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
    has_row peers || break
    run "bert-base fwd" forward $t
    run "bert-base pruned fwd" forward $t --heads-per-layer "$PRUNED_H" --ffn-per-layer "$PRUNED_F"
    run "4L/256 train" train $t --layers 4 --hidden 256 --heads 4 --ffn 1024 --seq 128 --batch 16
done
# the pruned shape's speedup over BERT-base, both models in one process, their passes
# interleaved (sweep bench's pair mode, the latency protocol of a sweep point): the two
# medians above come from separate processes at different moments, and the machine's speed
# drifts between them by more than the goal's margin
if has_row pair; then
    fixture() { # name heads ffn
        [ -f "$PAIR_DIR/$1/model.safetensors" ] || "$FIXTURE" "$PAIR_DIR/$1" --layers 12 \
            --hidden 768 --heads 12 --ffn 3072 --vocab 30522 --positions 384 \
            --heads-per-layer "$2" --ffn-per-layer "$3" >/dev/null
    }
    fixture base 12 3072
    fixture pruned 6 922
    for t in 1 2; do
        for p in fp32 bf16; do
            record "pruned speedup (interleaved)" "qaprune $p" "$("$SWEEP" bench \
                --teacher "$PAIR_DIR/base" --model "$PAIR_DIR/pruned" --runtime engine \
                --precision "$p" --threads "$t" --reps "$REPS" --seq 384 2>/dev/null | tail -1)"
        done
        echo "bench: pruned speedup (interleaved) threads=$t done" >&2
    done
fi
# the layer GEMMs (384 rows: seq 384, batch 1) in dnnl_sgemm and in the engine's gemm_f32
for t in 1 2; do
    has_row gemm || break
    has_row peers || record "bert-base fwd" "qaprune fp32 onednn" \
        "$("$SWEEP" bench --threads "$t" --reps "$REPS" --mode forward --gemm onednn | tail -1)"
    record "layer gemms" "qaprune gemm" \
        "$("$SWEEP" bench --threads "$t" --reps "$REPS" --mode gemm --gemm onednn | tail -1)"
    echo "bench: layer gemms threads=$t done" >&2
done
# peak RSS of one BERT-base training step, b8 seq 384, 2 threads (one warm-up, one timed step)
RSS_ARGS="--mode train --threads 2 --batch 8 --seq 384 --reps 1 --warmup 1"
RSS_TMP=$(mktemp)
if has_row rss; then
    json=$(/usr/bin/time -f %M -o "$RSS_TMP" "$SWEEP" bench $RSS_ARGS --gemm onednn | tail -1)
    record "bert-base train b8 seq 384" "qaprune fp32 onednn" "$json" "$(tail -1 "$RSS_TMP")"
    if [ $have_torch = 1 ]; then
        json=$(LD_PRELOAD=$TCMALLOC OMP_WAIT_POLICY=passive /usr/bin/time -f %M -o "$RSS_TMP" \
               /usr/bin/python3 $TORCH $RSS_ARGS | tail -1)
        record "bert-base train b8 seq 384" "torch fp32" "$json" "$(tail -1 "$RSS_TMP")"
    fi
    echo "bench: training peak RSS done" >&2
fi
rm -f "$RSS_TMP"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
engines = ["qaprune fp32 openblas", "qaprune fp32 onednn", "qaprune bf16",
           "torch fp32", "torch bf16", "onnxruntime fp32"]
ms, keys, gflops, gemms, rss, pair = {}, [], {}, {}, {}, {}
for r in rows:
    k = (r["label"], r["result"]["threads"])
    if r["label"].startswith("pruned speedup"):
        pair[(r["engine"], k[1])] = r["result"]
        continue
    if r["label"] == "layer gemms":
        gemms[k[1]] = r["result"]
        continue
    if "maxrss_kb" in r:
        rss[r["engine"]] = (r["maxrss_kb"], r["result"].get("median_ms"))
        continue
    if k not in keys: keys.append(k)
    ms[k + (r["engine"],)] = r["result"]["median_ms"]
    if "gflop_per_s" in r["result"]: gflops[k + (r["engine"],)] = r["result"]["gflop_per_s"]
present = [e for e in engines if any(k[2] == e for k in ms)]
def ratio(k, a, b):
    x, y = ms.get(k + (a,)), ms.get(k + (b,))
    return f"{x / y:.2f}" if x and y else "-"
if keys:
    print("median ms (" + ", ".join(present) + ") and ratios")
    print("| shape | threads | " + " | ".join(present) +
          " | onednn/openblas | fp32 onednn/torch | bf16/torch bf16 | fp32 onednn/ort |"
          " bf16/torch fp32 |")
    print("|---|---|" + "---|" * (len(present) + 5))
for k in keys:
    cells = [f"{ms[k + (e,)]:.1f}" if k + (e,) in ms else "-" for e in present]
    print(f"| {k[0]} | {k[1]} | " + " | ".join(cells) + " | " +
          " | ".join([ratio(k, "qaprune fp32 onednn", "qaprune fp32 openblas"),
                      ratio(k, "qaprune fp32 onednn", "torch fp32"),
                      ratio(k, "qaprune bf16", "torch bf16"),
                      ratio(k, "qaprune fp32 onednn", "onnxruntime fp32"),
                      ratio(k, "qaprune bf16", "torch fp32")]) + " |")
if gemms:
    print("whole-model GFLOP/s (BERT-base fwd, seq 384, b1, qaprune fp32 oneDNN) over oneDNN "
          "dnnl_sgemm GFLOP/s on the layer's GEMMs (384x768.768x2304, 384x768.768x768, "
          "384x768.768x3072, 384x3072.3072x768, summed)")
    print("| threads | model GFLOP/s | dnnl_sgemm GFLOP/s | engine gemm_f32 GFLOP/s | "
          "model / sgemm | engine gemm / sgemm |")
    print("|---|---|---|---|---|---|")
    for t in sorted(gemms):
        g = gemms[t]
        mg = gflops.get(("bert-base fwd", t, "qaprune fp32 onednn"))
        print(f"| {t} | {mg:.1f} | {g['sgemm_gflop_per_s']:.1f} | {g['engine_gflop_per_s']:.1f} | "
              f"{mg / g['sgemm_gflop_per_s']:.2f} | "
              f"{g['engine_gflop_per_s'] / g['sgemm_gflop_per_s']:.2f} |" if mg else
              f"| {t} | - | {g['sgemm_gflop_per_s']:.1f} | {g['engine_gflop_per_s']:.1f} | - | "
              f"{g['engine_gflop_per_s'] / g['sgemm_gflop_per_s']:.2f} |")
if rss:
    q, p = rss.get("qaprune fp32 onednn"), rss.get("torch fp32")
    print("peak RSS of a BERT-base training step (b8, seq 384, 2 threads; /usr/bin/time %M, KB)")
    print("| qaprune fp32 oneDNN | PyTorch fp32 | qaprune / PyTorch |")
    print("|---|---|---|")
    print(f"| {q[0] if q else '-'} | {p[0] if p else '-'} | "
          f"{q[0] / p[0]:.2f} |" if q and p else
          f"| {q[0] if q else '-'} | {p[0] if p else '-'} | - |")
for t in (1, 2):
    for e in ("qaprune fp32 onednn", "qaprune bf16"):
        a, b = ms.get(("bert-base fwd", t, e)), ms.get(("bert-base pruned fwd", t, e))
        if a and b:
            print(f"{e}: pruned speedup over unpruned at {t} thread(s): {a / b:.2f}x "
                  f"(FLOP ratio 2.65x; separate processes)")
if pair:
    print("pruned shape (6 heads, 922 FFN per layer) over BERT-base, interleaved in one "
          "process (sweep bench --teacher --model), FLOP ratio 2.65x, goal >= 2.385x")
    print("| precision | threads | BERT-base ms | pruned ms | speedup | speedup / FLOP ratio |")
    print("|---|---|---|---|---|---|")
    for (e, t), r in sorted(pair.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"| {e.split()[-1]} | {t} | {r['teacher_ms']:.1f} | {r['model_ms']:.1f} | "
              f"{r['speedup']:.2f}x | {r['speedup'] / 2.65:.2f} |")
PY
