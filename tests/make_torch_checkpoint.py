#!/usr/bin/python3
"""tests/make_torch_checkpoint.py: writes the PyTorch-made checkpoints core/model/checkpoint.c must
load exactly as Hugging Face would, and the logits they must give.

For a tiny BERT, RoBERTa, DistilBERT and ELECTRA question-answering model (seeded), it writes
  tests/data/torch_ckpt/            config.json, model.safetensors, vocab.txt
  tests/data/torch_ckpt_expected.safetensors
  tests/data/torch_roberta_ckpt/    the same for RoBERTa
  tests/data/torch_roberta_ckpt_expected.safetensors
  tests/data/torch_distilbert_ckpt/, tests/data/torch_electra_ckpt/ and their _expected files
Each model has one layer with heads removed the way PreTrainedModel.prune_heads() removes them
(rows of query/key/value, columns of attention.output.dense; the original ids recorded in
config.json "pruned_heads") and another layer with a narrower FFN (visible only in the tensor
shapes). Some tensors are stored as F16 or BF16; the reference logits are computed in float64
from the rounded values, so the file's numbers are the model's numbers. The file also holds
the tensors transformers saves but question answering ignores (position_ids, the pooler).
The math is BertForQuestionAnswering / RobertaForQuestionAnswering: post-LayerNorm, exact-erf
GELU, additive attention mask with finfo.min, QA head Linear(hidden, 2); RoBERTa position ids
are cumsum(input_ids != pad) * (input_ids != pad) + pad, so a padded token sits at position
pad. DistilBertForQuestionAnswering is the same encoder under other names
(distilbert.transformer.layer.N.attention.q_lin, sa_layer_norm, ffn.lin1, output_layer_norm),
without token type embeddings (its inputs still carry types 0/1 here, which it must ignore),
with LayerNorm eps 1e-12 and, with sinusoidal_pos_embds, the fixed position table of
create_sinusoidal_embeddings. ElectraForQuestionAnswering is BERT with embedding tables and
their LayerNorm of width embedding_size, followed by embeddings_project Linear(E, hidden).
Run from anywhere:  /usr/bin/python3 tests/make_torch_checkpoint.py
Needs only torch; safetensors files are written by save_safetensors() below."""

import json
import math
import os
import struct

import torch

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
DT = torch.float64

BERT = dict(name="torch_ckpt", model_type="bert", arch="BertForQuestionAnswering",
            prefix="bert.", vocab=30, maxpos=24, types=2, hidden=16, heads=4, ffn=32,
            layers=3, eps=1e-12, pad=0, prune={1: [0, 2]}, narrow={2: 20},
            half={"bert.embeddings.word_embeddings.weight": torch.float16,
                  "bert.encoder.layer.0.attention.self.query.weight": torch.bfloat16,
                  "bert.encoder.layer.2.intermediate.dense.weight": torch.float16,
                  "qa_outputs.weight": torch.bfloat16},
            specials=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], seed=1910063)
ROBERTA = dict(name="torch_roberta_ckpt", model_type="roberta",
               arch="RobertaForQuestionAnswering", prefix="roberta.", vocab=24, maxpos=16,
               types=1, hidden=16, heads=4, ffn=24, layers=2, eps=1e-5, pad=1,
               prune={0: [1]}, narrow={1: 12},
               half={"roberta.encoder.layer.1.output.dense.weight": torch.bfloat16,
                     "roberta.embeddings.position_embeddings.weight": torch.float16},
               specials=["<s>", "<pad>", "</s>", "<unk>"], seed=1910064)
DISTILBERT = dict(name="torch_distilbert_ckpt", model_type="distilbert",
                  arch="DistilBertForQuestionAnswering", prefix="distilbert.", vocab=28,
                  maxpos=20, types=0, hidden=16, heads=4, ffn=24, layers=3, eps=1e-12, pad=0,
                  prune={0: [3], 2: [0, 2]}, narrow={1: 10, 2: 7}, sinusoidal=True,
                  half={"distilbert.transformer.layer.1.ffn.lin1.weight": torch.bfloat16},
                  specials=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], seed=1910065)
ELECTRA = dict(name="torch_electra_ckpt", model_type="electra",
               arch="ElectraForQuestionAnswering", prefix="electra.", vocab=26, maxpos=16,
               types=2, embedding=8, hidden=16, heads=4, ffn=20, layers=2, eps=1e-12, pad=0,
               prune={1: [1, 2]}, narrow={0: 12},
               half={"electra.embeddings_project.weight": torch.float16},
               specials=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], seed=1910066)
B, T = 3, 10

# Hugging Face BERT-style names (after the prefix) -> DistilBERT's
DISTIL_NAMES = [("encoder.layer.", "transformer.layer."),
                ("attention.self.query", "attention.q_lin"),
                ("attention.self.key", "attention.k_lin"),
                ("attention.self.value", "attention.v_lin"),
                ("attention.output.dense", "attention.out_lin"),
                ("attention.output.LayerNorm", "sa_layer_norm"),
                ("intermediate.dense", "ffn.lin1"), ("output.dense", "ffn.lin2"),
                ("output.LayerNorm", "output_layer_norm")]


def hf(s, name):
    """The family's name of a BERT-style tensor name (prefix included)."""
    if s["model_type"] == "distilbert":
        for a, b in DISTIL_NAMES:
            name = name.replace(a, b)
    return name


def sinusoids(n_pos, dim):
    """create_sinusoidal_embeddings of transformers' DistilBERT, in float64."""
    j = torch.arange(dim, dtype=DT)
    angle = torch.arange(n_pos, dtype=DT)[:, None] / torch.pow(10000.0, 2 * (j // 2) / dim)
    out = torch.empty(n_pos, dim, dtype=DT)
    out[:, 0::2] = torch.sin(angle[:, 0::2])
    out[:, 1::2] = torch.cos(angle[:, 1::2])
    return out
LENGTHS = [10, 7, 4]  # real tokens per sequence; the rest is padding


def full_params(s, gen):
    """An unpruned model: weights N(0, 0.2), biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.1)."""
    C, Fw, p, e = s["hidden"], s["ffn"], {}, s["prefix"] + "embeddings."
    E = s.get("embedding", C)

    def put(name, shape, kind):
        r = torch.randn(shape, generator=gen, dtype=DT)
        p[name] = {"w": 0.2 * r, "b": 0.1 * r, "ln": 1 + 0.1 * r}[kind]

    put(e + "word_embeddings.weight", [s["vocab"], E], "w")
    put(e + "position_embeddings.weight", [s["maxpos"], E], "w")
    if s.get("sinusoidal"):
        p[e + "position_embeddings.weight"] = sinusoids(s["maxpos"], E)
    if s["types"]:
        put(e + "token_type_embeddings.weight", [s["types"], E], "w")
    put(e + "LayerNorm.weight", [E], "ln")
    put(e + "LayerNorm.bias", [E], "b")
    if E != C:
        put(s["prefix"] + "embeddings_project.weight", [C, E], "w")
        put(s["prefix"] + "embeddings_project.bias", [C], "b")
    for i in range(s["layers"]):
        lp = "%sencoder.layer.%d." % (s["prefix"], i)
        for n in ("query", "key", "value"):
            put(lp + "attention.self.%s.weight" % n, [C, C], "w")
            put(lp + "attention.self.%s.bias" % n, [C], "b")
        put(lp + "attention.output.dense.weight", [C, C], "w")
        put(lp + "attention.output.dense.bias", [C], "b")
        put(lp + "attention.output.LayerNorm.weight", [C], "ln")
        put(lp + "attention.output.LayerNorm.bias", [C], "b")
        put(lp + "intermediate.dense.weight", [Fw, C], "w")
        put(lp + "intermediate.dense.bias", [Fw], "b")
        put(lp + "output.dense.weight", [C, Fw], "w")
        put(lp + "output.dense.bias", [C], "b")
        put(lp + "output.LayerNorm.weight", [C], "ln")
        put(lp + "output.LayerNorm.bias", [C], "b")
    put("qa_outputs.weight", [2, C], "w")
    put("qa_outputs.bias", [2], "b")
    return p


def prune(s, p, gen):
    """Removes heads as transformers' prune_linear_layer does (keep index of the remaining
    rows of Q, K, V and columns of the output dense) and a random subset of FFN neurons."""
    hs = s["hidden"] // s["heads"]
    for i, gone in s["prune"].items():
        lp = "%sencoder.layer.%d." % (s["prefix"], i)
        keep = torch.tensor([h * hs + k for h in range(s["heads"]) if h not in gone
                             for k in range(hs)])
        for n in ("query", "key", "value"):
            for t in ("weight", "bias"):
                name = lp + "attention.self.%s.%s" % (n, t)
                p[name] = p[name][keep]
        p[lp + "attention.output.dense.weight"] = p[lp + "attention.output.dense.weight"][:, keep]
    for i, width in s["narrow"].items():
        lp = "%sencoder.layer.%d." % (s["prefix"], i)
        keep = torch.randperm(s["ffn"], generator=gen)[:width].sort().values
        for name in ("intermediate.dense.weight", "intermediate.dense.bias"):
            p[lp + name] = p[lp + name][keep]
        p[lp + "output.dense.weight"] = p[lp + "output.dense.weight"][:, keep]


def make_inputs(s, gen):
    """Ids avoid the special tokens; padding has the pad id, type 0 and mask 0."""
    ids = torch.randint(len(s["specials"]), s["vocab"], (B, T), generator=gen)
    types = torch.zeros(B, T, dtype=torch.int64)
    mask = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(LENGTHS):
        mask[b, :n] = 1
        ids[b, n:] = s["pad"]
        if s["types"] != 1:  # DistilBERT (0) gets types too, to show it ignores them
            types[b, n // 2:n] = 1
    return ids, types, mask


def forward(s, p, ids, types, mask):
    """Start and end logits [B, T] of Bert/RobertaForQuestionAnswering (padding included)."""
    C, hs, e = s["hidden"], s["hidden"] // s["heads"], s["prefix"] + "embeddings."

    def lin(name, z):
        return z @ p[name + ".weight"].T + p[name + ".bias"]

    def ln(name, z):
        return torch.nn.functional.layer_norm(z, (z.shape[-1],), p[name + ".weight"],
                                              p[name + ".bias"], s["eps"])

    if s["model_type"] == "roberta":
        real = (ids != s["pad"]).long()
        pos = torch.cumsum(real, dim=1) * real + s["pad"]
    else:
        pos = torch.arange(T).expand(B, T)
    x = p[e + "word_embeddings.weight"][ids] + p[e + "position_embeddings.weight"][pos]
    if s["types"]:  # DistilBERT has no token type embeddings and ignores the types
        x = x + p[e + "token_type_embeddings.weight"][types]
    x = ln(e + "LayerNorm", x)
    if s["prefix"] + "embeddings_project.weight" in p:  # ELECTRA, embedding_size != hidden
        x = lin(s["prefix"] + "embeddings_project", x)
    add = ((1.0 - mask.to(DT)) * torch.finfo(DT).min)[:, None, None, :]
    for i in range(s["layers"]):
        lp = "%sencoder.layer.%d." % (s["prefix"], i)
        nh = p[lp + "attention.self.query.weight"].shape[0] // hs
        q, k, v = (lin(lp + "attention.self." + n, x).view(B, T, nh, hs).transpose(1, 2)
                   for n in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs) + add, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, nh * hs)
        a = ln(lp + "attention.output.LayerNorm", x + lin(lp + "attention.output.dense", ctx))
        h = lin(lp + "intermediate.dense", a)
        h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
        x = ln(lp + "output.LayerNorm", a + lin(lp + "output.dense", h))
    logits = lin("qa_outputs", x)
    return logits[..., 0], logits[..., 1]


def save_safetensors(path, tensors):
    """tensors: {name: tensor}, stored in their own dtype (F32, F16, BF16, I64)."""
    codes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64"}
    header, blobs, pos = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.element_size() == 2 \
            else t.numpy().tobytes()
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(blobs))


def config_json(s):
    """config.json as transformers 4.x writes it (sorted keys, indent 2)."""
    pruned = {str(l): sorted(h) for l, h in s["prune"].items()}
    if s["model_type"] == "distilbert":
        cfg = {"activation": "gelu", "architectures": [s["arch"]], "attention_dropout": 0.1,
               "dim": s["hidden"], "dropout": 0.1, "hidden_dim": s["ffn"],
               "initializer_range": 0.02, "max_position_embeddings": s["maxpos"],
               "model_type": "distilbert", "n_heads": s["heads"], "n_layers": s["layers"],
               "pad_token_id": s["pad"], "pruned_heads": pruned, "qa_dropout": 0.1,
               "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": s["sinusoidal"],
               "tie_weights_": True, "torch_dtype": "float32",
               "transformers_version": "4.40.0", "vocab_size": s["vocab"]}
        return json.dumps(cfg, indent=2, sort_keys=True) + "\n"
    cfg = {"architectures": [s["arch"]], "attention_probs_dropout_prob": 0.1,
           "classifier_dropout": None, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
           "hidden_size": s["hidden"], "initializer_range": 0.02,
           "intermediate_size": s["ffn"], "layer_norm_eps": s["eps"],
           "max_position_embeddings": s["maxpos"], "model_type": s["model_type"],
           "num_attention_heads": s["heads"], "num_hidden_layers": s["layers"],
           "pad_token_id": s["pad"], "position_embedding_type": "absolute",
           "pruned_heads": {str(l): sorted(h) for l, h in s["prune"].items()},
           "torch_dtype": "float32", "transformers_version": "4.40.0",
           "type_vocab_size": s["types"], "use_cache": True, "vocab_size": s["vocab"]}
    if s["model_type"] == "roberta":
        cfg.update(bos_token_id=0, eos_token_id=2)
    if s["model_type"] == "electra":
        cfg.update(embedding_size=s["embedding"], summary_activation="gelu",
                   summary_last_dropout=0.1, summary_type="first", summary_use_proj=True)
    return json.dumps(cfg, indent=2, sort_keys=True) + "\n"


def make(s):
    gen = torch.Generator().manual_seed(s["seed"])
    p = full_params(s, gen)
    prune(s, p, gen)
    stored = {}
    for name, t in p.items():  # round to the stored dtype; the reference uses the rounding
        stored[hf(s, name)] = t.to(s["half"].get(hf(s, name), torch.float32))
        p[name] = stored[hf(s, name)].to(DT)
    pp = s["prefix"]
    if s["model_type"] != "distilbert":  # buffers and the pooler transformers may save
        stored[pp + "embeddings.position_ids"] = torch.arange(s["maxpos"])[None, :]
    if s["model_type"] in ("bert", "roberta"):
        stored[pp + "pooler.dense.weight"] = torch.zeros(s["hidden"], s["hidden"])
        stored[pp + "pooler.dense.bias"] = torch.zeros(s["hidden"])
    ids, types, mask = make_inputs(s, gen)
    start, end = forward(s, p, ids, types, mask)

    d = os.path.join(DATA, s["name"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(config_json(s))
    save_safetensors(os.path.join(d, "model.safetensors"), stored)
    words = s["specials"] + ["w%d" % i for i in range(s["vocab"] - len(s["specials"]))]
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(words) + "\n")
    save_safetensors(os.path.join(DATA, s["name"] + "_expected.safetensors"),
                     {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
                      "start_logits": start.float(), "end_logits": end.float()})


if __name__ == "__main__":
    make(BERT)
    make(ROBERTA)
    make(DISTILBERT)
    make(ELECTRA)
