#!/bin/sh
# tests/bench_onnx.sh: `make bench`, second part: ONNX Runtime latency of exported models
# beside the engine's, measured side by side in one run: same shapes, batch 1, same threads;
# ONNX Runtime times a group's models interleaved, median of repeats, as the engine's
# latency protocol does. Weights are random (latency depends on the shapes only). Groups:
#   bert-base  12L/768/12h/3072, seq 384: unpruned, 6 heads + 922 FFN per layer, a ragged
#              shape ending in an empty layer;
#   demo       the embedded default's teacher (4L/128/8h/512, seq 128, 20 repeats as
#              configs/grid.json) and the shape of its l0 50%/70% Pareto point (README).
# Needs node + onnxruntime-node under $ORT_DIR (tests/ort_setup.sh); else skipped. About
# 3 minutes on 2 cores and ~1.5 GB under build/bench-onnx. Run nothing else meanwhile.
SWEEP=${1:-bin/sweep}
FIXTURE=${2:-build/tests/onnx_fixture}
ORT_DIR=${ORT_DIR:-../ort}
W=${BENCH_ONNX_DIR:-build/bench-onnx}
if [ ! -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ] || ! command -v node >/dev/null; then
    echo "bench_onnx: skipped (ONNX Runtime not installed: node + onnxruntime-node under $ORT_DIR)"
    exit 0
fi
set -e
mkdir -p "$W"
OUT="$W/results.jsonl"; : > "$OUT"

# group NAME SEQ REPS "--layers L --hidden C --heads NH --ffn F --vocab V" SHAPES
# SHAPES: lines "name|heads per layer|FFN per layer" (one value = every layer; first = base)
group() {
    g=$1; seq=$2; reps=$3; dims=$4; shapes=$5
    L=$(echo "$dims" | sed 's/.*--layers \([0-9]*\).*/\1/')
    echo "$shapes" | while IFS='|' read -r name h f; do
        [ -f "$W/$g-$name/model.onnx" ] && continue
        "$FIXTURE" "$W/ckpt-$g-$name" $dims --positions "$seq" --heads-per-layer "$h" --ffn-per-layer "$f"
        "$SWEEP" export --model "$W/ckpt-$g-$name" --onnx "$W/$g-$name/model.onnx" >/dev/null 2>&1
    done
    names=$(echo "$shapes" | cut -d'|' -f1 | tr '\n' ' ')
    for t in 1 2; do
        echo "$shapes" | while IFS='|' read -r name h f; do
            hl=$(/usr/bin/python3 -c "import sys; v=sys.argv[1].split(','); print('['+','.join(v*int(sys.argv[2]) if len(v)==1 else v)+']')" "$h" "$L")
            fl=$(/usr/bin/python3 -c "import sys; v=sys.argv[1].split(','); print('['+','.join(v*int(sys.argv[2]) if len(v)==1 else v)+']')" "$f" "$L")
            q=$("$SWEEP" bench $dims --seq "$seq" --threads "$t" --reps "$reps" --warmup 3 \
                --heads-per-layer "$hl" --ffn-per-layer "$fl" | tail -1)
            echo "{\"engine\":\"qaprune\",\"group\":\"$g\",\"shape\":\"$name\",\"threads\":$t,\"result\":$q}" >> "$OUT"
        done
        /usr/bin/python3 - "$W" "$g" "$seq" "$t" "$reps" $names <<'PY'
import json, random, sys
w, g, T, t, reps, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:]
random.seed(1)
q = min(64, T // 4)
spec = {"models": [f"{w}/{g}-{n}/model.onnx" for n in names], "B": 1, "T": T, "threads": t,
        "warmup": 3, "repeats": reps,
        "inputs": {"input_ids": [random.randrange(5, 1000) for _ in range(T)],
                   "attention_mask": [1] * T, "token_type_ids": [0] * q + [1] * (T - q)}}
json.dump(spec, open(f"{w}/spec.json", "w"))
PY
        ORT_DIR="$ORT_DIR" node tests/ort_run.js "$W/spec.json" "$W/ort.json"
        /usr/bin/python3 - "$W/ort.json" "$g" "$t" $names >> "$OUT" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
for name, ms in zip(sys.argv[4:], o["median_ms"]):
    print(json.dumps({"engine": "ort", "group": sys.argv[2], "shape": name, "threads": int(sys.argv[3]),
                      "result": {"median_ms": ms, "ort_version": o["ort_version"]}}))
PY
        echo "bench_onnx: $g threads=$t done" >&2
    done
}

group bert-base 384 7 "--layers 12 --hidden 768 --heads 12 --ffn 3072 --vocab 30522" "base|12|3072
pruned|6|922
ragged|12,12,10,10,8,8,6,6,4,4,2,0|3072,2800,2400,2000,1600,1200,1000,800,600,400,200,0"
group demo 128 20 "--layers 4 --hidden 128 --heads 8 --ffn 512 --vocab 1000" "teacher|8|512
l0-50-70|7,8,1,0|302,195,88,29"

/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ms, order = {}, []
for r in rows:
    k = (r["group"], r["shape"])
    if k not in order: order.append(k)
    ms[(r["engine"],) + k + (r["threads"],)] = r["result"]["median_ms"]
base = {}
for g, s in order: base.setdefault(g, s)
print("| group | shape | threads | qaprune ms | ONNX Runtime ms | ORT/qaprune | qaprune speedup | ORT speedup |")
print("|---|---|---|---|---|---|---|---|")
for t in (1, 2):
    for g, s in order:
        q, o = ms[("qaprune", g, s, t)], ms[("ort", g, s, t)]
        qs, os_ = ms[("qaprune", g, base[g], t)] / q, ms[("ort", g, base[g], t)] / o
        print(f"| {g} | {s} | {t} | {q:.3f} | {o:.3f} | {o / q:.2f} | {qs:.2f}x | {os_:.2f}x |")
PY
