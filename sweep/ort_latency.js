// sweep/ort_latency.js: the latency protocol of core/model/latency.h in ONNX Runtime (npm's
// onnxruntime-node, CPU provider). Compiled into bin/sweep (the Makefile makes it a C string)
// and run by sweep/ort.c as
//   node -e SCRIPT ORT_DIR INPUTS.bin B T THREADS WARMUP REPEATS MODEL.onnx...
// INPUTS.bin: three int64 little-endian arrays of B*T values, row-major [B,T]: input_ids,
// attention_mask, token_type_ids (the engine's timed inputs; a model gets those of its own
// input names). Every model runs on THREADS intra-op threads (one inter-op thread,
// sequential execution, every graph optimisation); WARMUP untimed rounds, then REPEATS timed
// rounds, each round running every model once in the order given (interleaved, so drifts of
// the machine hit all alike); per model the median and the minimum.
// Prints one JSON line on stdout: {"ort_version", "median_ms": [...], "min_ms": [...]}, or
// {"error": "..."} with exit code 1.
'use strict';
const fs = require('fs');
const path = require('path');

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  const [ortDir, inputsPath, B, T, threads, warmup, repeats, ...models] = process.argv.slice(1);
  const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
  const n = +B * +T;
  const buf = fs.readFileSync(inputsPath);
  if (buf.length !== 3 * 8 * n) throw new Error(`${inputsPath}: ${buf.length} bytes, expected ${24 * n}`);
  const all = new BigInt64Array(buf.buffer, buf.byteOffset, 3 * n);
  const inputs = {input_ids: all.subarray(0, n), attention_mask: all.subarray(n, 2 * n),
                  token_type_ids: all.subarray(2 * n, 3 * n)};
  const opts = {intraOpNumThreads: +threads, interOpNumThreads: 1, executionMode: 'sequential',
                graphOptimizationLevel: 'all', executionProviders: ['cpu']};
  const sessions = [], feeds = [];
  for (const m of models) {
    const s = await ort.InferenceSession.create(m, opts);
    const f = {};
    for (const name of s.inputNames) {
      if (!inputs[name]) throw new Error(`${m}: unknown input "${name}"`);
      f[name] = new ort.Tensor('int64', inputs[name], [+B, +T]);
    }
    sessions.push(s);
    feeds.push(f);
  }
  const times = sessions.map(() => []);
  for (let rep = -+warmup; rep < +repeats; rep++) {
    for (let i = 0; i < sessions.length; i++) {
      const t0 = process.hrtime.bigint();
      await sessions[i].run(feeds[i]);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (rep >= 0) times[i].push(ms);
    }
  }
  const version = ort.env && ort.env.versions ? ort.env.versions.common || ort.env.versions.node : '';
  console.log(JSON.stringify({ort_version: version || '', median_ms: times.map(median),
                              min_ms: times.map((t) => Math.min(...t))}));
}

main().catch((e) => {
  console.log(JSON.stringify({error: String(e && e.message ? e.message : e).split('\n')[0]}));
  process.exit(1);
});
