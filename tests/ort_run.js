// tests/ort_run.js: runs exported ONNX models in ONNX Runtime (npm onnxruntime-node, CPU).
//   ORT_DIR=DIR node tests/ort_run.js SPEC.json OUT.json
// SPEC: {"models": [PATH, ...], "B": b, "T": t, "threads": n, "warmup": w, "repeats": r,
//        "inputs": {"input_ids": [...], "attention_mask": [...], "token_type_ids": [...]}}
// (inputs row-major [B,T] integers; a model gets those of its own input names).
// OUT: {"ort_version", "outputs": [{"start_logits": [...], "end_logits": [...]}, ...],
//       "median_ms": [...], "min_ms": [...]}: one entry per model. Timing protocol as the
// engine's: same inputs and threads, models interleaved within every repeat, median.
'use strict';
const fs = require('fs');
const path = require('path');
const ortDir = process.env.ORT_DIR || path.join(__dirname, '..', '..', 'ort');
const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  const [specPath, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const opts = {
    intraOpNumThreads: spec.threads || 1, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all',
  };
  const sessions = [];
  for (const m of spec.models) sessions.push(await ort.InferenceSession.create(m, opts));
  const feeds = sessions.map((s) => {
    const f = {};
    for (const name of s.inputNames) {
      if (!spec.inputs[name]) throw new Error(`${specPath}: no input "${name}"`);
      f[name] = new ort.Tensor('int64', BigInt64Array.from(spec.inputs[name].map(BigInt)),
                               [spec.B, spec.T]);
    }
    return f;
  });
  const outputs = [];
  for (let i = 0; i < sessions.length; i++) {
    const r = await sessions[i].run(feeds[i]);
    outputs.push({start_logits: Array.from(r.start_logits.data),
                  end_logits: Array.from(r.end_logits.data),
                  dims: r.start_logits.dims});
  }
  const times = sessions.map(() => []);
  for (let rep = -(spec.warmup || 0); rep < (spec.repeats || 0); rep++) {
    for (let i = 0; i < sessions.length; i++) {
      const t0 = process.hrtime.bigint();
      await sessions[i].run(feeds[i]);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (rep >= 0) times[i].push(ms);
    }
  }
  const out = {ort_version: ort.env.versions ? ort.env.versions.node : '?', outputs,
               median_ms: times.map((t) => (t.length ? median(t) : null)),
               min_ms: times.map((t) => (t.length ? Math.min(...t) : null))};
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => { console.error(`ort_run: ${e.message}`); process.exit(1); });
