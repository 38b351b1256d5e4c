#!/usr/bin/python3
"""tests/ort_export.py BENCH OUT.onnx ARGS...: exports the PyTorch baseline's model
(BENCH = ../shared/bench/torch_bert_bench.py, built from ARGS exactly as it builds it: same
shape, per-layer heads and FFN widths, random weights) to ONNX with torch.onnx, for
tests/ort_bench.js to time in ONNX Runtime. Inputs input_ids, token_type_ids,
attention_mask [batch, seq] int64; outputs start_logits, end_logits."""
import importlib.util
import sys

bench, out, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.argv = [bench] + args  # the baseline parses its arguments on import
spec = importlib.util.spec_from_file_location("torch_bert_bench", bench)
tb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tb)
torch = tb.torch
a = tb.ARGS
model = tb.BertQA(tb.build_cfg(a), 0.0).eval()
ids = torch.randint(0, a.vocab, (a.batch, a.seq))
types = torch.zeros(a.batch, a.seq, dtype=torch.long)
mask = torch.ones(a.batch, a.seq, dtype=torch.long)
with torch.no_grad():
    torch.onnx.export(model, (ids, types, mask), out, opset_version=14,
                      input_names=["input_ids", "token_type_ids", "attention_mask"],
                      output_names=["start_logits", "end_logits"])
