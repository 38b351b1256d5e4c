#!/bin/sh
# tests/ort_bench.sh [--check] --threads T --reps R [baseline ARGS...]: ONNX Runtime fp32 on
# the PyTorch baseline's model (tests/ort_export.py, cached per ARGS under build/ort), timed
# by tests/ort_bench.js; prints its JSON line. Needs node and npm's onnxruntime-node under
# $ORT_DIR (tests/ort_setup.sh installs it; `make bench` runs that first). The exported
# models are cached under build/ort-models. --check: exit 0 when all of that is present.
ORT_DIR=${ORT_DIR:-../ort}
MODELS=build/ort-models
TORCH=../shared/bench/torch_bert_bench.py
if [ "$1" = --check ]; then
    command -v node >/dev/null && [ -d "$ORT_DIR/node_modules/onnxruntime-node" ] && [ -f "$TORCH" ] &&
        /usr/bin/python3 -c "import torch" 2>/dev/null
    exit $?
fi
threads=1; reps=10; batch=1; seq=384; vocab=30522; rest=""
while [ $# -gt 0 ]; do
    case $1 in
        --threads) threads=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --batch) batch=$2; rest="$rest $1 $2"; shift 2 ;;
        --seq) seq=$2; rest="$rest $1 $2"; shift 2 ;;
        --vocab) vocab=$2; rest="$rest $1 $2"; shift 2 ;;
        *) rest="$rest $1"; shift ;;
    esac
done
key=$(echo "$rest" | cksum | cut -d' ' -f1)
model="$MODELS/bert-$key.onnx"
if [ ! -f "$model" ]; then
    mkdir -p "$MODELS"
    /usr/bin/python3 tests/ort_export.py "$TORCH" "$model.tmp" $rest >/dev/null 2>"$MODELS/export.log" &&
        mv "$model.tmp" "$model" || { echo "ort_bench: export failed, see $MODELS/export.log" >&2; exit 1; }
fi
ORT_DIR=$(cd "$ORT_DIR" && pwd) OMP_WAIT_POLICY=passive \
    node tests/ort_bench.js "$model" "$threads" "$reps" 2 "$batch" "$seq" "$vocab"
