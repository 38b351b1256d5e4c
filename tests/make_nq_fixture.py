#!/usr/bin/python3
"""Writes the NQ metric fixtures of tests/test_nq_metric.c and their expected figures.

For each case: tests/data/nq/CASE-gold.jsonl.gz (original-format NQ lines holding only what
the metric reads: example_id and five annotations each), CASE-pred.json (the official
prediction format) and CASE-expected.json, the output of Google's official nq_eval.py run on
them. Run once, with Debian's Python and python3-absl installed, from the project root:

    /usr/bin/python3 tests/make_nq_fixture.py ../shared/nq-official

The data are random (seeded) but built to exercise every rule of the metric: 2-of-5 votes
for long and short answers, byte-offset versus token-offset span equality (with one side's
bytes missing or wrong), span sets with extra null spans, subsets and reorderings, yes/no
answers, absent prediction fields, score ties, and 64-bit ids that a double cannot tell apart.
"""
import gzip
import json
import random
import subprocess
import sys

BYTES_PER_TOKEN = 7


def span(st, et, with_bytes=True):
    if st < 0:
        return {"start_byte": -1, "end_byte": -1, "start_token": -1, "end_token": -1}
    if with_bytes:
        return {"start_byte": st * BYTES_PER_TOKEN, "end_byte": et * BYTES_PER_TOKEN,
                "start_token": st, "end_token": et}
    return {"start_byte": -1, "end_byte": -1, "start_token": st, "end_token": et}


def make_example(rng, example_id):
    n_tokens = rng.randint(60, 400)
    cands = []
    for _ in range(rng.randint(2, 6)):
        st = rng.randrange(0, n_tokens - 20)
        cands.append((st, st + rng.randint(5, 20)))
    with_bytes = rng.random() < 0.8
    # a few popular long answers and short-answer sets, so that annotators agree sometimes
    long_pool = rng.sample(range(len(cands)), min(2, len(cands)))
    short_pool = []
    for ci in long_pool:
        st, et = cands[ci]
        a = rng.randrange(st, et - 1)
        b = rng.randrange(a + 1, et)
        sets = [[(a, b)]]
        if b + 1 < et:
            sets.append([(a, b), (b + 1, et)])
        short_pool.append((ci, sets))
    p_long = rng.choice([0.2, 0.5, 0.8, 1.0])
    annotations = []
    for _ in range(5):
        ann = {"long_answer": dict(span(-1, -1), candidate_index=-1), "short_answers": [],
               "yes_no_answer": "NONE"}
        if rng.random() < p_long:
            k = rng.randrange(len(short_pool))
            ci, sets = short_pool[k]
            ann["long_answer"] = dict(span(*cands[ci], with_bytes), candidate_index=ci)
            r = rng.random()
            if r < 0.5:
                ann["short_answers"] = [span(a, b, with_bytes) for a, b in rng.choice(sets)]
            elif r < 0.65:
                ann["yes_no_answer"] = rng.choice(["YES", "NO", "yes"])
        annotations.append(ann)
    gold = {"example_id": example_id, "annotations": annotations}
    return gold, cands, short_pool


def perturb_bytes(rng, sp):
    """Predicted spans: right bytes, no bytes, or wrong bytes (tokens decide then)."""
    r = rng.random()
    if sp["start_token"] < 0 or r < 0.6:
        return sp
    if r < 0.8:
        return dict(sp, start_byte=-1, end_byte=-1)
    return dict(sp, start_byte=sp["start_byte"] + 1, end_byte=sp["end_byte"] + 3)


def make_prediction(rng, example_id, gold, cands, short_pool, scores, bonus):
    """bonus: added to the scores of the answers taken from an annotator, so that a
    threshold between the good and the bad ones exists."""
    pred = {"example_id": example_id}
    anns = gold["annotations"]
    r = rng.random()
    long_bonus = bonus if r < 0.55 else 0
    if r < 0.55:  # the long answer of some annotator (maybe a null one)
        la = rng.choice(anns)["long_answer"]
        pred["long_answer"] = perturb_bytes(rng, {k: la[k] for k in
                                                  ("start_byte", "end_byte", "start_token", "end_token")})
    elif r < 0.8:  # some candidate
        pred["long_answer"] = perturb_bytes(rng, span(*rng.choice(cands)))
    elif r < 0.9:
        pred["long_answer"] = span(-1, -1)
    # else: no long_answer key at all (null)
    r = rng.random()
    short_bonus = bonus if r < 0.45 else 0
    if r < 0.45:  # an annotator's set, reordered, maybe with a null span or a missing part
        spans = [perturb_bytes(rng, dict(s)) for s in rng.choice(anns)["short_answers"]]
        rng.shuffle(spans)
        if spans and rng.random() < 0.2:
            spans.append(span(-1, -1))
        if len(spans) > 1 and rng.random() < 0.2:
            spans.pop()
        pred["short_answers"] = spans
    elif r < 0.6:
        ci, sets = rng.choice(short_pool)
        pred["short_answers"] = [perturb_bytes(rng, span(a, b)) for a, b in rng.choice(sets)]
    elif r < 0.75:
        pred["short_answers"] = []
        pred["yes_no_answer"] = rng.choice(["YES", "NO", "yes", "no"])
    elif r < 0.9:
        pred["short_answers"] = [span(-1, -1)]
    # else: no short_answers key
    if "yes_no_answer" not in pred and rng.random() < 0.7:
        pred["yes_no_answer"] = rng.choice(["NONE", "none"])
    pred["long_answer_score"] = rng.choice(scores) + long_bonus
    pred["short_answers_score"] = rng.choice(scores) + short_bonus
    return pred


def write_case(rng, name, n, scores, bonus, out_dir, official):
    golds, preds = [], []
    ids = set()
    while len(ids) < n:
        base = rng.randrange(-2 ** 63, 2 ** 63 - 2)
        ids.add(base)
        if rng.random() < 0.1 and len(ids) < n:
            ids.add(base + 1)  # the same double as base
    for example_id in sorted(ids, key=lambda _: rng.random()):
        gold, cands, pool = make_example(rng, example_id)
        golds.append(gold)
        preds.append(make_prediction(rng, example_id, gold, cands, pool, scores, bonus))
    gold_path = "%s/%s-gold.jsonl.gz" % (out_dir, name)
    pred_path = "%s/%s-pred.json" % (out_dir, name)
    with open(gold_path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            for g in golds:
                f.write((json.dumps(g) + "\n").encode())
    with open(pred_path, "w") as f:
        json.dump({"predictions": preds}, f, indent=0)
        f.write("\n")
    out = subprocess.run([sys.executable, official + "/nq_eval.py", "--gold_path=" + gold_path,
                          "--predictions_path=" + pred_path, "--num_threads=1"],
                         check=True, capture_output=True, text=True).stdout
    expected = json.loads(out.strip().splitlines()[-1])
    with open("%s/%s-expected.json" % (out_dir, name), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(name, expected["long-best-threshold-f1"], expected["short-best-threshold-f1"])


def main():
    official = sys.argv[1] if len(sys.argv) > 1 else "../shared/nq-official"
    rng = random.Random(11)
    out_dir = "tests/data/nq"
    # many distinct scores (floats, some negative)
    write_case(rng, "mixed", 300, [round(rng.uniform(-5, 30), 3) for _ in range(250)],
               8, out_dir, official)
    # few scores, many ties, integers among them
    write_case(rng, "ties", 80, [0, 1, 2, 2.5, 7, 10], 1, out_dir, official)


if __name__ == "__main__":
    main()
