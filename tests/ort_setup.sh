#!/bin/sh
# tests/ort_setup.sh: makes ONNX Runtime available to the export test and bench: npm's
# onnxruntime-node (its CPU library libonnxruntime.so.1 and the Node.js binding) under
# $ORT_DIR, installed once on demand. --ignore-scripts: the package's install script only
# fetches GPU extras. Never fails the build: without node or npm, or when the install fails,
# it says so and the ONNX Runtime checks print "skipped".
ORT_DIR=${ORT_DIR:-../ort}
PKG="$ORT_DIR/node_modules/onnxruntime-node"
[ -f "$PKG/package.json" ] && exit 0
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "ort_setup: node/npm not found: ONNX Runtime checks will be skipped"
    exit 0
fi
echo "ort_setup: installing onnxruntime-node into $ORT_DIR (once)"
mkdir -p "$ORT_DIR" &&
    (cd "$ORT_DIR" && npm install --ignore-scripts --no-audit --no-fund onnxruntime-node >/dev/null 2>&1) ||
    echo "ort_setup: npm install onnxruntime-node failed: ONNX Runtime checks will be skipped"
exit 0
