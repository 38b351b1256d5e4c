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
Needs torch (and, for the byte-level BPE RoBERTa at the end, python3-regex); safetensors
files are written by save_safetensors() below."""

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
    B, T = ids.shape

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


# ---------------------------------------------------------------- RoBERTa with byte-level BPE
# A RoBERTa QA checkpoint as Hugging Face saves one (config.json, model.safetensors, vocab.json,
# merges.txt, tokenizer_config.json, special_tokens_map.json; and the same tokenizer as one
# tokenizer.json), a small SQuAD 2.0 file, and what `sweep eval` must give on it: the input ids
# of every window, the start/end logits, the predictions and the no-answer scores.
#   tests/data/torch_roberta_bpe/            the checkpoint
#   tests/data/torch_roberta_bpe_json/       tokenizer.json alone
#   tests/data/torch_roberta_bpe_data/       dev.json (= train.json, for `sweep prune`)
#   tests/data/torch_roberta_bpe_expected.safetensors, ..._expected.json
# Everything here is independent of the C code: the GPT-2 pattern through the `regex`
# module (Debian python3-regex), GPT-2's encoder.py merge loop, run_squad.py's windows
# (doc_stride is the step), run_qa.py's question.lstrip(), transformers' RoBERTa layout
# and position ids, run_squad.py's n-best decoding with the SQuAD 2.0 null score.

import regex  # noqa: E402  (only this part needs it)

GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
WINDOW = dict(max_seq_len=384, doc_stride=128, max_query_len=64)  # qaprune's defaults
RB = dict(name="torch_roberta_bpe", model_type="roberta", arch="RobertaForQuestionAnswering",
          prefix="roberta.", vocab=0, maxpos=WINDOW["max_seq_len"] + 8, types=1, hidden=32,
          heads=4, ffn=48, layers=2, eps=1e-5, pad=1, prune={1: [2]}, narrow={0: 37}, half={},
          seed=1910065)
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0-3 as in RoBERTa; <mask> is the last id


def bytes_to_unicode():
    """GPT-2 encoder.py: printable Latin-1 bytes stand for themselves, the rest 256 onwards."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_CHAR = bytes_to_unicode()


def corpus():
    """Paragraphs (one long enough for several windows) and their questions."""
    people = ["Ångström", "Zoë", "Bob", "Müller-Lüdenscheidt", "Ōtani", "Nuñez", "Ada"]
    places = ["Reykjavík", "São Paulo", "Kraków", "Zürich", "Tōkyō", "Lyon"]
    paras = []
    for i in range(6):
        p, q = people[i % len(people)], places[i % len(places)]
        other = people[(i + 3) % len(people)]
        sents = ["%s was born in %s in %d." % (p, q, 1900 + 7 * i),
                 "%s's mentor, %s, didn't like the café's naïve façade." % (p, other),
                 "They've  said it's %d%% true \u2014 or 'mostly' (%d)." % (10 * i, i)]
        if i == 2:  # the long one: several windows
            sents += ["In year %d, %s visited %s and wrote %d letters." %
                      (1950 + k, people[k % 7], places[k % 6], k * 3) for k in range(45)]
        ctx = " ".join(sents) + ("\n%s lives in %s." % (other, places[(i + 2) % 6]))
        qas = [dict(id="q%d-born" % i, question="  Where was %s born?" % p, ans=q),
               dict(id="q%d-year" % i, question="When was %s born?" % p, ans=str(1900 + 7 * i)),
               dict(id="q%d-lives" % i, question="Where does %s live?" % other,
                    ans=places[(i + 2) % 6]),
               dict(id="q%d-none" % i, question="What did %s sell?" % p, ans=None)]
        if i == 2:
            qas.append(dict(id="q2-late", question="What did Ada visit in year 1993?",
                            ans=places[43 % 6]))
        paras.append((ctx, qas))
    return paras


def squad_json(paras):
    data = []
    for ctx, qas in paras:
        out = []
        for q in qas:
            if q["ans"] is None:
                out.append({"id": q["id"], "question": q["question"], "answers": [],
                            "is_impossible": True})
            else:
                start = ctx.rfind(q["ans"]) if q["id"] == "q2-late" else ctx.find(q["ans"])
                out.append({"id": q["id"], "question": q["question"], "is_impossible": False,
                            "answers": [{"text": q["ans"], "answer_start": start}]})
        data.append({"context": ctx, "qas": out})
    return {"version": "v2.0", "data": [{"title": "mirror", "paragraphs": data}]}


def pieces(text):
    return [m for m in GPT2_PATTERN.finditer(text)]


def train_bpe(texts, n_merges):
    """Most frequent adjacent pair within pieces, ties to the smallest pair; n_merges times."""
    words = {}
    for t in texts:
        for m in pieces(t):
            w = tuple(BYTE_CHAR[b] for b in m.group().encode("utf-8"))
            words[w] = words.get(w, 0) + 1
    merges = []
    for _ in range(n_merges):
        count = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                count[(a, b)] = count.get((a, b), 0) + c
        if not count:
            break
        best = min(count, key=lambda pr: (-count[pr], pr))
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        words = new
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for b in range(256):
        vocab[BYTE_CHAR[b]] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<mask>"] = len(vocab)
    return vocab, merges


def bpe_word(word, ranks):
    """GPT-2 encoder.py bpe(): merge the lowest-ranked pair everywhere until none is left."""
    word = list(word)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda pr: ranks.get(pr, float("inf")))
        if best not in ranks:
            break
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def encode(text, vocab, ranks):
    """[(id, char start, char end)]: ByteLevel offsets trimmed of the token's spaces."""
    out = []
    for m in pieces(text):
        raw = m.group().encode("utf-8")
        char_of = [k for k, ch in enumerate(m.group()) for _ in ch.encode("utf-8")]
        at = 0
        for tok in bpe_word([BYTE_CHAR[b] for b in raw], ranks):
            n = len(tok)
            start, end = m.start() + char_of[at], m.start() + char_of[at + n - 1] + 1
            lead = len(tok) - len(tok.lstrip("\u0120"))
            trail = len(tok) - len(tok.rstrip("\u0120"))
            if lead:
                start = min(start + lead, end)
            if trail and end >= trail:
                end = max(end - trail, start)
            out.append((vocab[tok], start, end))
            at += n
    return out


def features(squad, vocab, ranks):
    """run_squad.py windows in the RoBERTa layout: <s> q </s></s> window </s> <pad>..."""
    seq, stride, mq = WINDOW["max_seq_len"], WINDOW["doc_stride"], WINDOW["max_query_len"]
    rows = []
    for para in squad["data"][0]["paragraphs"]:
        ctx = encode(para["context"], vocab, ranks)
        for qa in para["qas"]:
            q = [t[0] for t in encode(qa["question"].lstrip(), vocab, ranks)][:mq]
            per = seq - len(q) - 4
            starts, s = [], 0
            while True:
                starts.append(s)
                n = min(per, len(ctx) - s)
                if s + n >= len(ctx):
                    break
                s += min(n, stride)
            lens = [min(per, len(ctx) - s) for s in starts]
            for w, s in enumerate(starts):
                ids = [0] + q + [2, 2]
                off = len(ids)
                spans, maxc = {}, {}
                for j in range(lens[w]):
                    tid, a, b = ctx[s + j]
                    spans[len(ids)] = (a, b)
                    best, best_score = None, None
                    for k, (s2, n2) in enumerate(zip(starts, lens)):
                        if s2 <= s + j <= s2 + n2 - 1:
                            sc = min(s + j - s2, s2 + n2 - 1 - (s + j)) + 0.01 * n2
                            if best is None or sc > best_score:
                                best, best_score = k, sc
                    maxc[len(ids)] = best == w
                    ids.append(tid)
                ids.append(2)
                mask = [1] * len(ids) + [0] * (seq - len(ids))
                ids += [1] * (seq - len(ids))
                rows.append(dict(qid=qa["id"], ctx=para["context"], ids=ids, mask=mask,
                                 spans=spans, maxc=maxc, off=off))
    return rows


def best_indexes(logits, n):
    return sorted(range(len(logits)), key=lambda i: -logits[i])[:n]


def decode(rows, start, end, n_best=20, max_len=30):
    """run_squad.py write_predictions, SQuAD 2.0: the top candidate against the null score."""
    preds, na = {}, {}
    order = []
    for r in rows:
        if r["qid"] not in order:
            order.append(r["qid"])
    for qid in order:
        cands, null = [], float("inf")
        for w, r in enumerate(rows):
            if r["qid"] != qid:
                continue
            s, e = start[w], end[w]
            null = min(null, s[0] + e[0])
            for a in best_indexes(s, n_best):
                for b in best_indexes(e, n_best):
                    if a not in r["spans"] or b not in r["spans"] or not r["maxc"][a]:
                        continue
                    if b < a or b - a + 1 > max_len:
                        continue
                    cands.append((s[a] + e[b], r["ctx"][r["spans"][a][0]:r["spans"][b][1]]))
        cands.sort(key=lambda c: -c[0])
        if not cands:
            preds[qid], na[qid] = "", 3.4028234663852886e38
            continue
        na[qid] = null - cands[0][0]
        preds[qid] = "" if na[qid] > 0 else cands[0][1]
    return preds, na


def make_roberta_bpe():
    paras = corpus()
    squad = squad_json(paras)
    texts = [c for c, _ in paras] + [q["question"] for _, qs in paras for q in qs]
    vocab, merges = train_bpe(texts, 160)
    ranks = {m: i for i, m in enumerate(merges)}
    s = dict(RB, vocab=len(vocab))
    gen = torch.Generator().manual_seed(s["seed"])
    p = full_params(s, gen)
    prune(s, p, gen)
    stored = {n: t.to(torch.float32) for n, t in p.items()}
    p = {n: t.to(DT) for n, t in stored.items()}
    rows = features(squad, vocab, ranks)
    ids = torch.tensor([r["ids"] for r in rows])
    mask = torch.tensor([r["mask"] for r in rows])
    types = torch.zeros_like(ids)
    start, end = forward(s, p, ids, types, mask)
    preds, na = decode(rows, start.float().double().tolist(), end.float().double().tolist())

    d = os.path.join(DATA, s["name"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(config_json(s))
    save_safetensors(os.path.join(d, "model.safetensors"), stored)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
    special = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
               "pad_token": "<pad>", "unk_token": "<unk>",
               "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False,
                              "rstrip": False, "single_word": False}}
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"add_prefix_space": False, "errors": "replace", "model_max_length": 512,
                   "tokenizer_class": "RobertaTokenizer", "trim_offsets": True,
                   "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>",
                   "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
                   "mask_token": "<mask>"}, f, indent=2)
    tj = os.path.join(DATA, s["name"] + "_json")
    os.makedirs(tj, exist_ok=True)
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": t == "<mask>",
              "rstrip": False, "normalized": t != "<mask>", "special": True}
             for t in SPECIALS + ["<mask>"]]
    with open(os.path.join(tj, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump({"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
                   "normalizer": None,
                   "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                                     "trim_offsets": True, "use_regex": True},
                   "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2],
                                      "cls": ["<s>", 0], "trim_offsets": True,
                                      "add_prefix_space": False},
                   "decoder": {"type": "ByteLevel", "add_prefix_space": True,
                               "trim_offsets": True, "use_regex": True},
                   "model": {"type": "BPE", "dropout": None, "unk_token": None,
                             "continuing_subword_prefix": "", "end_of_word_suffix": "",
                             "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                             "merges": [" ".join(m) for m in merges]}},
                  f, ensure_ascii=False)
    dd = os.path.join(DATA, s["name"] + "_data")
    os.makedirs(dd, exist_ok=True)
    for name in ("dev.json", "train.json"):
        with open(os.path.join(dd, name), "w", encoding="utf-8") as f:
            json.dump(squad, f, ensure_ascii=False, indent=1)
    save_safetensors(os.path.join(DATA, s["name"] + "_expected.safetensors"),
                     {"input_ids": ids, "attention_mask": mask, "start_logits": start.float(),
                      "end_logits": end.float()})
    samples = ["Ångström's café  didn't open in 1999.", texts[0][:60]]
    with open(os.path.join(DATA, s["name"] + "_expected.json"), "w", encoding="utf-8") as f:
        json.dump({"predictions": preds, "na_prob": na,
                   "samples": [{"text": t, "ids": [x[0] for x in encode(t, vocab, ranks)]}
                               for t in samples]}, f, ensure_ascii=False, indent=1)
    print("%s: %d ids, %d merges, %d windows, %d questions, %d answered" %
          (s["name"], len(vocab), len(merges), len(rows), len(preds),
           sum(1 for v in preds.values() if v)))


if __name__ == "__main__":
    make(BERT)
    make(ROBERTA)
    make(DISTILBERT)
    make(ELECTRA)
    make_roberta_bpe()
