#!/usr/bin/python3
"""tests/torch_autocast_bench.py BENCH ARGS...: runs the PyTorch baseline BENCH
(../shared/bench/torch_bert_bench.py) with ARGS under torch.autocast("cpu", torch.bfloat16),
PyTorch's bf16 mixed precision on the CPU (Linear and matmul in bf16 through oneDNN, the
weights cast on every call; LayerNorm and softmax in fp32): the peer of
`sweep bench --precision bf16`. Prints BENCH's JSON line."""
import os
import runpy
import sys

bench, args = sys.argv[1], sys.argv[2:]
# The baseline sets the thread variables before importing torch; torch is imported here
# first (to enter autocast), so set them here the same way.
threads = args[args.index("--threads") + 1] if "--threads" in args else "1"
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = threads

import torch  # noqa: E402

sys.argv = [bench] + args
with torch.autocast("cpu", dtype=torch.bfloat16):
    runpy.run_path(bench, run_name="__main__")
