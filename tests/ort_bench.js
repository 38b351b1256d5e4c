// tests/ort_bench.js MODEL.onnx THREADS REPS WARMUP BATCH SEQ VOCAB: times forward passes of
// an ONNX model in ONNX Runtime's CPU provider (npm onnxruntime-node), THREADS intra-op
// threads, sequential execution, all graph optimisations; prints one JSON line with
// median_ms, min_ms, max_ms like `sweep bench`.
const path = require("path");
const ort = require(path.join(process.env.ORT_DIR, "node_modules", "onnxruntime-node"));
const [model, threads, reps, warmup, batch, seq, vocab] = process.argv.slice(2);
(async () => {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: +threads, interOpNumThreads: 1, executionMode: "sequential",
    graphOptimizationLevel: "all", executionProviders: ["cpu"],
  });
  const n = +batch * +seq;
  const ids = new BigInt64Array(n), types = new BigInt64Array(n), mask = new BigInt64Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    ids[i] = BigInt(x % +vocab);
    types[i] = BigInt((i % +seq) >= +seq / 2 ? 1 : 0);
    mask[i] = 1n;
  }
  const dims = [+batch, +seq];
  const feeds = {
    input_ids: new ort.Tensor("int64", ids, dims),
    token_type_ids: new ort.Tensor("int64", types, dims),
    attention_mask: new ort.Tensor("int64", mask, dims),
  };
  const times = [];
  for (let i = 0; i < +warmup + +reps; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= +warmup) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const median = times.length % 2 ? times[(times.length - 1) / 2]
                                   : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
  console.log(JSON.stringify({engine: "onnxruntime", version: ort.env.versions ? ort.env.versions.common : "",
                              threads: +threads, batch: +batch, seq: +seq, reps: +reps,
                              median_ms: +median.toFixed(3), min_ms: +times[0].toFixed(3),
                              max_ms: +times[times.length - 1].toFixed(3)}));
})().catch((e) => { console.error("ort_bench: " + e.message); process.exit(1); });
