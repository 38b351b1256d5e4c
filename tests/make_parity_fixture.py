#!/usr/bin/python3
"""tests/make_parity_fixture.py: writes tests/data/parity.safetensors, the PyTorch reference
that qaprune's C engine is checked against.

A small, deterministically seeded BERT question-answering model (the math of Hugging Face
BertForQuestionAnswering: post-LayerNorm, eps 1e-12, exact-erf GELU, additive attention mask,
QA head Linear(C, 2)) with ragged per-layer heads and FFN widths and with gates: each head's
context vector is scaled by its head gate before the output projection, each FFN neuron by its
gate after GELU. Everything is computed in float64 (gradients checked here by central finite
differences) and stored as F32. The file holds the parameters, gates, inputs, logits, the gold
loss and its gradients, a distillation loss with its logit gradients, and a 10-step AdamW
trajectory. Run from the project root:  /usr/bin/python3 tests/make_parity_fixture.py
Needs only torch and numpy; the safetensors file is written by write_safetensors() below."""

import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "parity.safetensors")

VOCAB, MAXPOS, TYPES, C, HS, NH, FFN = 40, 24, 2, 16, 4, 4, 24
KEPT_HEADS = [[0, 1, 2, 3], [2], [], [1, 3]]
FFN_PER_LAYER = [24, 9, 5, 0]
HEADS = [len(k) for k in KEPT_HEADS]
L = len(HEADS)
EPS = 1e-12
B, T = 3, 12
MASK_MIN = -1e30  # float32 finfo.min in the C engine; masked keys get probability 0 either way
DISTILL_T, DISTILL_ALPHA = 2.0, 0.7
ADAM_LR, ADAM_BETAS, ADAM_EPS, ADAM_WD = 1e-2, (0.9, 0.999), 1e-8, 0.01
WARMUP, TOTAL, CLIP = 3, 10, 1.0
DT = torch.float64


def param_shapes():
    """The parameter table: (Hugging Face name, shape, init kind), in file order."""
    e = "bert.embeddings."
    rows = [(e + "word_embeddings.weight", [VOCAB, C], "w"),
            (e + "position_embeddings.weight", [MAXPOS, C], "w"),
            (e + "token_type_embeddings.weight", [TYPES, C], "w"),
            (e + "LayerNorm.weight", [C], "lnw"), (e + "LayerNorm.bias", [C], "b")]
    for i in range(L):
        p, a, f = "bert.encoder.layer.%d." % i, HEADS[i] * HS, FFN_PER_LAYER[i]
        for qkv in ("query", "key", "value"):
            rows += [(p + "attention.self.%s.weight" % qkv, [a, C], "w"),
                     (p + "attention.self.%s.bias" % qkv, [a], "b")]
        rows += [(p + "attention.output.dense.weight", [C, a], "w"),
                 (p + "attention.output.dense.bias", [C], "b"),
                 (p + "attention.output.LayerNorm.weight", [C], "lnw"),
                 (p + "attention.output.LayerNorm.bias", [C], "b"),
                 (p + "intermediate.dense.weight", [f, C], "w"),
                 (p + "intermediate.dense.bias", [f], "b"),
                 (p + "output.dense.weight", [C, f], "w"),
                 (p + "output.dense.bias", [C], "b"),
                 (p + "output.LayerNorm.weight", [C], "lnw"),
                 (p + "output.LayerNorm.bias", [C], "b")]
    rows += [("qa_outputs.weight", [2, C], "w"), ("qa_outputs.bias", [2], "b")]
    return rows


def make_params(gen):
    """Weights N(0, 0.2), biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.1)."""
    params = {}
    for name, shape, kind in param_shapes():
        r = torch.randn(shape, generator=gen, dtype=DT)
        params[name] = {"w": 0.2 * r, "b": 0.1 * r, "lnw": 1 + 0.1 * r}[kind]
    return params


def make_gates(gen):
    """Head gates U(0.2, 1), FFN gates U(0, 1); zero-size gates are kept (shape [0])."""
    gates = {}
    for i in range(L):
        gates["head_gates.%d" % i] = 0.2 + 0.8 * torch.rand(HEADS[i], generator=gen, dtype=DT)
    for i in range(L):
        gates["ffn_gates.%d" % i] = torch.rand(FFN_PER_LAYER[i], generator=gen, dtype=DT)
    return gates


def make_inputs(gen):
    ids = torch.randint(0, VOCAB, (B, T), generator=gen, dtype=torch.int64)
    types = torch.zeros(B, T, dtype=torch.int64)
    types[:, 5:] = 1
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, T - 3:] = 0
    mask[2, T - 6:] = 0
    start = torch.tensor([6, 5, 1], dtype=torch.int64)  # inside the valid tokens of each row
    end = torch.tensor([9, 7, 3], dtype=torch.int64)
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "start_positions": start, "end_positions": end}


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b):
    return F.layer_norm(x, (C,), w, b, EPS)


def linear(p, name, z):
    """Hugging Face Linear: z W^T + b, W stored [out, in]."""
    return z @ p[name + ".weight"].T + p[name + ".bias"]


def forward(p, g, inp):
    """Returns start_logits, end_logits [B, T] (padded positions included, not masked)."""
    ids, types, mask = inp["input_ids"], inp["token_type_ids"], inp["attention_mask"]
    e = "bert.embeddings."
    x = p[e + "word_embeddings.weight"][ids] + p[e + "position_embeddings.weight"][:T] \
        + p[e + "token_type_embeddings.weight"][types]
    x = layer_norm(x, p[e + "LayerNorm.weight"], p[e + "LayerNorm.bias"])
    addmask = ((1.0 - mask.to(DT)) * MASK_MIN)[:, None, None, :]  # [B, 1, 1, T]
    for i in range(L):
        pre, nh = "bert.encoder.layer.%d." % i, HEADS[i]
        q, k, v = (linear(p, pre + "attention.self." + n, x).view(B, T, nh, HS).transpose(1, 2)
                   for n in ("query", "key", "value"))  # [B, nh, T, HS], head h = rows h*HS..
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + addmask, dim=-1)
        ctx = (probs @ v) * g["head_gates.%d" % i][None, :, None, None]
        ctx = ctx.transpose(1, 2).reshape(B, T, nh * HS)  # nh = 0: empty, so a = LN(x + bo)
        a = layer_norm(x + linear(p, pre + "attention.output.dense", ctx),
                       p[pre + "attention.output.LayerNorm.weight"],
                       p[pre + "attention.output.LayerNorm.bias"])
        h = gelu(linear(p, pre + "intermediate.dense", a)) * g["ffn_gates.%d" % i]
        x = layer_norm(a + linear(p, pre + "output.dense", h),  # F = 0: x = LN(a + b2)
                       p[pre + "output.LayerNorm.weight"], p[pre + "output.LayerNorm.bias"])
    logits = x @ p["qa_outputs.weight"].T + p["qa_outputs.bias"]
    return logits[..., 0], logits[..., 1]


def gold_loss(s, e, inp):
    return (F.cross_entropy(s, inp["start_positions"])
            + F.cross_entropy(e, inp["end_positions"])) / 2


def distill_loss(s, e, ts, te, inp):
    """alpha T^2 (soft_s + soft_e)/2 + (1 - alpha) gold; soft = -mean_b sum_t p_teacher log p."""
    def soft(student, teacher):
        return -(torch.softmax(teacher / DISTILL_T, -1) *
                 torch.log_softmax(student / DISTILL_T, -1)).sum(-1).mean()
    return DISTILL_ALPHA * DISTILL_T ** 2 * (soft(s, ts) + soft(e, te)) / 2 \
        + (1 - DISTILL_ALPHA) * gold_loss(s, e, inp)


def grads_of(loss_fn, leaves):
    """Gradients of loss_fn() w.r.t. the dict of leaves (zero-size leaves get empty grads)."""
    ts = {k: v.detach().clone().requires_grad_(True) for k, v in leaves.items()}
    loss = loss_fn(ts)
    gs = torch.autograd.grad(loss, list(ts.values()), allow_unused=True)
    return loss.detach(), {k: (torch.zeros_like(v) if gr is None else gr)
                           for (k, v), gr in zip(ts.items(), gs)}


def check_fd(loss_fn, leaves, grads, picks, h=1e-6, tol=1e-6):
    """Asserts analytic gradients against central finite differences for (name, flat index)."""
    worst = 0.0
    for name, idx in picks:
        def at(delta):
            moved = dict(leaves)
            t = leaves[name].clone()
            t.view(-1)[idx] += delta
            moved[name] = t
            return loss_fn(moved).item()
        fd = (at(h) - at(-h)) / (2 * h)
        an = grads[name].reshape(-1)[idx].item()
        err = abs(fd - an) / max(1.0, abs(fd), abs(an))
        worst = max(worst, err)
        assert err < tol, "finite differences disagree for %s[%d]: %g vs %g" % (name, idx, fd, an)
    return worst


def adamw_trajectory(params, gates, inp):
    """10 AdamW steps (HF linear warm-up/decay schedule, grad clipping); returns losses, norms."""
    ps = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    no_decay = [v for k, v in ps.items() if k.endswith("bias") or "LayerNorm.weight" in k]
    decay = [v for k, v in ps.items() if not (k.endswith("bias") or "LayerNorm.weight" in k)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": ADAM_WD},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / WARMUP if s < WARMUP else max(0.0, (TOTAL - s) / (TOTAL - WARMUP)))
    losses, norms = [], []
    for _ in range(TOTAL):
        opt.zero_grad()
        loss = gold_loss(*forward(ps, gates, inp), inp)
        losses.append(loss.item())
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(ps.values()), CLIP).item())
        opt.step()
        sched.step()
    with torch.no_grad():
        losses.append(gold_loss(*forward(ps, gates, inp), inp).item())
    return torch.tensor(losses, dtype=DT), torch.tensor(norms, dtype=DT)


def adamw_by_hand(params, gates, inp):
    """The same trajectory from the formulas the C side implements (checks the reading of
    torch's AdamW, schedule and clipping that the "adamw" metadata states):
      g *= min(1, clip / (|g| + 1e-6));  lr = lr0 * mult(s);  p *= 1 - lr wd
      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
      p -= lr / (1 - b1^k) * m / (sqrt(v) / sqrt(1 - b2^k) + eps),  k = s + 1"""
    ps = {k: v.clone() for k, v in params.items()}
    m = {k: torch.zeros_like(v) for k, v in ps.items()}
    v2 = {k: torch.zeros_like(v) for k, v in ps.items()}
    b1, b2 = ADAM_BETAS
    losses, norms = [], []
    for s in range(TOTAL):
        loss, g = grads_of(lambda lv: gold_loss(*forward(lv, gates, inp), inp), ps)
        norm = math.sqrt(sum((t ** 2).sum().item() for t in g.values()))
        losses.append(loss.item())
        norms.append(norm)
        coef = min(1.0, CLIP / (norm + 1e-6))
        lr = ADAM_LR * (s / WARMUP if s < WARMUP else max(0.0, (TOTAL - s) / (TOTAL - WARMUP)))
        for k in ps:
            wd = 0.0 if k.endswith("bias") or "LayerNorm.weight" in k else ADAM_WD
            gk = g[k] * coef
            m[k] = b1 * m[k] + (1 - b1) * gk
            v2[k] = b2 * v2[k] + (1 - b2) * gk * gk
            ps[k] = ps[k] * (1 - lr * wd) - lr / (1 - b1 ** (s + 1)) * m[k] / (
                v2[k].sqrt() / math.sqrt(1 - b2 ** (s + 1)) + ADAM_EPS)
    losses.append(gold_loss(*forward(ps, gates, inp), inp).item())
    return torch.tensor(losses, dtype=DT), torch.tensor(norms, dtype=DT)


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor); float tensors are stored F32, int64 ones I64."""
    header, blobs, pos = {"__metadata__": metadata}, [], 0
    for name, t in tensors:
        if t.dtype == torch.int64:
            dtype, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            dtype, raw = "F32", t.detach().to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(blobs))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    torch.manual_seed(20240611)
    gen = torch.Generator().manual_seed(20240611)
    params, gates, inp = make_params(gen), make_gates(gen), make_inputs(gen)
    teacher_s = 2 * torch.randn(B, T, generator=gen, dtype=DT)
    teacher_e = 2 * torch.randn(B, T, generator=gen, dtype=DT)

    leaves = {**params, **gates}

    def gold_of(lv):
        return gold_loss(*forward({k: lv[k] for k in params}, {k: lv[k] for k in gates}, inp), inp)
    with torch.no_grad():
        start, end = forward(params, gates, inp)
    loss, grads = grads_of(gold_of, leaves)

    def distill_of(lv):
        return distill_loss(lv["s"], lv["e"], teacher_s, teacher_e, inp)
    dloss, dgrads = grads_of(distill_of, {"s": start, "e": end})

    picks = [(n, j) for n in leaves if leaves[n].numel() for j in (0, leaves[n].numel() - 1)]
    worst = check_fd(gold_of, leaves, grads, picks)
    worst = max(worst, check_fd(distill_of, {"s": start, "e": end}, dgrads,
                                [("s", 0), ("s", 17), ("e", 5), ("e", 35)]))
    losses, norms = adamw_trajectory(params, gates, inp)
    assert losses[-1] < losses[0], "AdamW did not lower the loss"
    hand_losses, hand_norms = adamw_by_hand(params, gates, inp)
    adam_err = max((hand_losses - losses).abs().max().item(),
                   (hand_norms - norms).abs().max().item())
    assert adam_err < 1e-10, "hand-written AdamW disagrees with torch's by %g" % adam_err

    out = [(k, v) for k, v in inp.items()]
    out += [(k, v) for k, v in params.items()] + [(k, v) for k, v in gates.items()]
    out += [("start_logits", start), ("end_logits", end), ("loss", loss.reshape(1))]
    out += [("grad." + k, grads[k]) for k in leaves]
    out += [("teacher_start_logits", teacher_s), ("teacher_end_logits", teacher_e),
            ("distill.loss", dloss.reshape(1)), ("distill.grad_start_logits", dgrads["s"]),
            ("distill.grad_end_logits", dgrads["e"])]
    out += [("adamw.losses", losses), ("adamw.grad_norms", norms)]

    config = {"vocab_size": VOCAB, "max_position_embeddings": MAXPOS, "type_vocab_size": TYPES,
              "hidden_size": C, "num_attention_heads": NH, "intermediate_size": FFN,
              "num_hidden_layers": L, "layer_norm_eps": EPS, "heads_per_layer": HEADS,
              "ffn_per_layer": FFN_PER_LAYER, "kept_heads": KEPT_HEADS}
    meta = {
        "format": "qaprune parity fixture v1 (tests/make_parity_fixture.py)",
        "config": json.dumps(config, separators=(",", ":")),
        "inputs": "B=%d T=%d; positions 0..T-1; attention mask added as (1-mask)*finfo(float32).min"
                  % (B, T),
        "gates": "head_gates.i [heads_i] scale each head's context before attention.output.dense; "
                 "ffn_gates.i [F_i] scale each neuron after GELU; zero-size gates stored as [0]",
        "loss": "(CE(start_logits, start_positions) + CE(end_logits, end_positions)) / 2, "
                "CE mean over the batch; grad.* are its gradients",
        "distill_T": repr(DISTILL_T),
        "distill_alpha": repr(DISTILL_ALPHA),
        "distill": "alpha*T^2*(soft_s+soft_e)/2 + (1-alpha)*loss, soft = -mean_b sum_t "
                   "softmax(teacher/T)*log_softmax(student/T); grads w.r.t. student logits",
        "adamw": "torch.optim.AdamW lr=%g betas=%r eps=%g; weight_decay %g except names ending "
                 "'bias' or containing 'LayerNorm.weight' (0); lr multiplier s/%d for s<%d else "
                 "max(0,(%d-s)/%d), s = scheduler steps taken (step 1 uses 0); before each step "
                 "clip_grad_norm_(max_norm=%g, coef max_norm/(norm+1e-6)); gates fixed; "
                 "adamw.losses[k] = loss before step k+1, last = after step %d; "
                 "adamw.grad_norms = pre-clip norms"
                 % (ADAM_LR, ADAM_BETAS, ADAM_EPS, ADAM_WD, WARMUP, WARMUP, TOTAL,
                    TOTAL - WARMUP, CLIP, TOTAL),
        "precision": "computed in float64, stored as F32",
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, out, meta)

    print("wrote %s: %d tensors, %d bytes" % (os.path.relpath(OUT), len(out), os.path.getsize(OUT)))
    print("heads per layer %s, FFN per layer %s, %d parameters"
          % (HEADS, FFN_PER_LAYER, sum(v.numel() for v in params.values())))
    print("gold loss %.6f, distill loss %.6f (T=%g, alpha=%g)"
          % (loss.item(), dloss.item(), DISTILL_T, DISTILL_ALPHA))
    print("finite differences: %d gradient entries agree, worst relative error %.2e"
          % (len(picks) + 4, worst))
    print("adamw: torch and the hand-written formulas agree to %.1e" % adam_err)
    print("adamw losses: " + " ".join("%.4f" % v for v in losses.tolist()))
    print("adamw grad norms: " + " ".join("%.4f" % v for v in norms.tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
