/* tests/test_nq_windows.c: BERT-joint windows over NQ documents (core/qa/nq_windows.c) on
 * random documents of paragraphs, tables and lists: every gold short span lies whole in at
 * least one window, token_map maps every subtoken back to the document token it came from
 * (re-encoding that token gives exactly those subtokens), labels point at the right tokens,
 * markup tokens are in place, and training down-samples windows without an answer. The same
 * through the generic tokenizer (nq_tokenizer_of): a WordPiece Tokenizer gives the very
 * windows of nq_tokenizer_wordpiece, and RoBERTa's byte-level BPE (the checkpoint of
 * tests/data/torch_roberta_bpe) passes every check above in its own layout
 * (<s> q </s></s> doc </s>, token types 0, words with their leading "Ġ"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qa/nq_windows.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "core/util/rng.h"
#include "tests/test.h"

static const char *const vocab_words[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[Q]", "[ContextId=-1]", "[NoLongAnswer]",
    "[ContextId=0]", "[ContextId=1]", "[ContextId=2]", "[ContextId=3]", "[ContextId=4]",
    "[Paragraph=1]", "[Paragraph=2]", "[Paragraph=3]", "[List=1]", /* no [Table=k]: [UNK] */
    "was", "born", "in", "the", "year", "1962", "mentor", "of", "is", "where", "who", "la",
    "##fel", "bu", "##pi", "##va", "go", "##pan", ".", ",", "home", "children", "four"};
enum { N_VOCAB = sizeof vocab_words / sizeof vocab_words[0] };
static const char *const words[] = {"lafel", "was", "born", "in", "bupiva", "the", "year",
                                    "1962", "mentor", "of", "gopan", ".", ",", "home",
                                    "children", "four", "[1]", "zzz"};
enum { N_WORDS = sizeof words / sizeof words[0] };

/* A random document: blocks of <P> text </P>, <Table><Tr><Td> text </Td></Tr></Table> and
 * <Ul><Li> text </Li></Ul>, their candidates (tables' rows and list items nested), and five
 * annotations, each null, long only, yes/no, or with one or two short answers. */
static void push_tok(NqExample *ex, const char *t) {
    ex->tokens[ex->n_tokens] = strdup(t);
    ex->is_html[ex->n_tokens++] = t[0] == '<' && t[1];
}

static void push_text(NqExample *ex, Rng *r, int n) {
    for (int i = 0; i < n; i++) push_tok(ex, words[rng_below(r, N_WORDS)]);
}

static void add_cand(NqExample *ex, int s, int e, int top) {
    ex->candidates[ex->n_candidates++] = (NqCandidate){s, e, -1, -1, top};
}

static void make_doc(NqExample *ex, Rng *r, int64_t id) {
    memset(ex, 0, sizeof *ex);
    ex->example_id = id;
    ex->question = strdup(rng_below(r, 4) ? "where was lafel born" :
                          "who is the mentor of gopan in the year 1962 where was lafel born in the year");
    ex->tokens = calloc(512, sizeof *ex->tokens);
    ex->is_html = calloc(512, 1);
    ex->candidates = calloc(64, sizeof *ex->candidates);
    int blocks = 2 + (int)rng_below(r, 5);
    for (int b = 0; b < blocks && ex->n_tokens < 400; b++) {
        int kind = (int)rng_below(r, 3), s = ex->n_tokens;
        if (kind == 0) {
            push_tok(ex, "<P>");
            push_text(ex, r, 3 + (int)rng_below(r, 25));
            push_tok(ex, "</P>");
            add_cand(ex, s, ex->n_tokens, 1);
        } else {
            push_tok(ex, kind == 1 ? "<Table>" : "<Ul>");
            int top = ex->n_candidates;
            add_cand(ex, s, s, 1);
            for (int row = 0; row < 1 + (int)rng_below(r, 3); row++) {
                int rs = ex->n_tokens;
                push_tok(ex, kind == 1 ? "<Tr>" : "<Li>");
                if (kind == 1) push_tok(ex, "<Td>");
                push_text(ex, r, 1 + (int)rng_below(r, 6));
                if (kind == 1) push_tok(ex, "</Td>");
                push_tok(ex, kind == 1 ? "</Tr>" : "</Li>");
                add_cand(ex, rs, ex->n_tokens, 0);
            }
            push_tok(ex, kind == 1 ? "</Table>" : "</Ul>");
            ex->candidates[top].end_token = ex->n_tokens;
        }
    }
    ex->annotations = calloc(5, sizeof *ex->annotations);
    ex->n_annotations = 5;
    int style = (int)rng_below(r, 5); /* what the annotators who answer agree on */
    for (int a = 0; a < 5; a++) {
        NqLabel *l = &ex->annotations[a];
        l->candidate_index = -1;
        l->long_answer = NQ_NULL_SPAN;
        int kind = rng_below(r, 10) < 3 ? 0 : style;
        if (kind == 0) continue;
        int c = (int)rng_below(r, (uint64_t)ex->n_candidates);
        const NqCandidate *cand = &ex->candidates[c];
        l->candidate_index = c;
        l->long_answer = (NqSpan){-1, -1, cand->start_token, cand->end_token};
        if (kind == 2) l->yes_no = rng_below(r, 2) ? NQ_YES_NO_YES : NQ_YES_NO_NO;
        if (kind < 3) continue;
        /* short answers: runs of text tokens inside the candidate */
        int text[400], nt = 0;
        for (int64_t t = cand->start_token; t < cand->end_token; t++)
            if (!ex->is_html[t]) text[nt++] = (int)t;
        if (!nt) continue;
        l->short_answers = calloc(2, sizeof *l->short_answers);
        int n = kind == 4 && nt > 3 ? 2 : 1;
        for (int k = 0; k < n; k++) {
            int i = (int)rng_below(r, (uint64_t)nt), j = i + (int)rng_below(r, 3);
            if (j >= nt) j = nt - 1;
            if (n == 2) i = k == 0 ? 0 : nt - 1, j = i; /* first and last text token */
            l->short_answers[k] = (NqSpan){-1, -1, text[i], text[j] + 1};
        }
        l->n_short = n;
    }
}

static void free_doc(NqExample *ex) {
    for (int i = 0; i < ex->n_tokens; i++) free(ex->tokens[i]);
    nq_example_clear(ex);
}

/* 1 when candidate c of ex is top-level and among the first max_contexts - 1 of those */
static int kept(const NqExample *ex, int64_t token, int max_contexts) {
    int seen = 1;
    for (int c = 0; c < ex->n_candidates && seen < max_contexts; c++) {
        if (!ex->candidates[c].top_level) continue;
        seen++;
        if (token >= ex->candidates[c].start_token && token < ex->candidates[c].end_token) return 1;
    }
    return 0;
}

static void check_example(const NqWindows *w, int e, const NqExample *ex, const NqTokenizer *tok,
                          const NqWindowOpts *o) {
    int first = w->first_window[e], last = w->first_window[e + 1];
    CHECK(last > first, "example %d has windows", e);
    /* token_map: runs of equal map re-encode to the same ids; every kept text token appears */
    int *seen = calloc((size_t)ex->n_tokens + 1, sizeof *seen);
    for (int r = first; r < last; r++) {
        const int32_t *ids = w->input_ids + (size_t)r * w->seq, *map = w->token_map + (size_t)r * w->seq;
        for (int p = 0; p < w->seq;) {
            if (map[p] < 0) {
                p++;
                continue;
            }
            int m = map[p], q = p;
            while (q < w->seq && map[q] == m) q++;
            CHECK(m < ex->n_tokens && !ex->is_html[m] && kept(ex, m, o->max_contexts),
                  "window %d pos %d maps to a kept text token (%d)", r, p, m);
            int32_t *want = NULL;
            int nw = 0;
            if (!strcmp(ex->tokens[m], "[1]")) { /* bracketed: looked up whole */
                want = malloc(sizeof *want);
                want[0] = tok->unk;
                nw = 1;
            } else {
                tok->encode(tok->ctx, ex->tokens[m], strlen(ex->tokens[m]), &want, &nw);
            }
            /* a run cut by the window edge is a prefix or suffix of the token's pieces */
            int n_run = q - p, ok = n_run <= nw;
            for (int k = 0; ok && k < n_run; k++)
                ok = ids[p + k] == want[k] || ids[p + k] == want[nw - n_run + k];
            CHECK(ok, "window %d: the subtokens of document token %d ('%s') re-encode", r, m,
                  ex->tokens[m]);
            if (n_run == nw) seen[m] = 1;
            free(want);
            p = q;
        }
        CHECK(ids[0] == tok->cls, "window starts with [CLS]");
    }
    for (int t = 0; t < ex->n_tokens; t++)
        if (!ex->is_html[t] && kept(ex, t, o->max_contexts))
            CHECK(seen[t], "example %d: kept token %d is whole in some window", e, t);
    /* every gold short span (all annotations) lies whole in at least one window */
    for (int a = 0; a < ex->n_annotations; a++) {
        for (int k = 0; k < ex->annotations[a].n_short; k++) {
            const NqSpan *s = &ex->annotations[a].short_answers[k];
            if (!kept(ex, s->start_token, o->max_contexts)) continue;
            int lo = -1, hi = -1, found = 0;
            for (int64_t t = s->start_token; t < s->end_token; t++)
                if (!ex->is_html[t]) hi = (int)t, lo = lo < 0 ? (int)t : lo;
            for (int r = first; r < last && !found; r++) {
                const int32_t *map = w->token_map + (size_t)r * w->seq;
                int has_lo = 0, has_hi = 0;
                for (int p = 0; p < w->seq; p++) {
                    if (map[p] == lo && (p == 0 || map[p - 1] != lo)) has_lo = 1;
                    if (map[p] == hi && (p + 1 == w->seq || map[p + 1] != hi) && has_lo) has_hi = 1;
                }
                found = has_lo && has_hi;
            }
            CHECK(found, "example %d annotation %d short answer [%lld, %lld) in a window", e, a,
                  (long long)s->start_token, (long long)s->end_token);
        }
    }
    /* labels: positive windows point at the first and last text tokens of the answer span */
    int ls = w->label_start[e], le = w->label_end[e], positives = 0;
    for (int r = first; r < last; r++) {
        if (w->answer_type[r] == NQ_TYPE_NONE) {
            CHECK(w->start_pos[r] == 0 && w->end_pos[r] == 0, "NONE windows point at [CLS]");
            continue;
        }
        positives++;
        CHECK(w->answer_type[r] == w->label_type[e], "window type is the example's");
        const int32_t *map = w->token_map + (size_t)r * w->seq;
        int s = map[w->start_pos[r]], t = map[w->end_pos[r]];
        int lo = -1, hi = -1;
        for (int x = ls; x < le; x++)
            if (!ex->is_html[x]) hi = x, lo = lo < 0 ? x : lo;
        CHECK(s == lo && t == hi && w->start_pos[r] <= w->end_pos[r] &&
              (w->start_pos[r] == 0 || map[w->start_pos[r] - 1] != s) &&
              (w->end_pos[r] + 1 >= w->seq || map[w->end_pos[r] + 1] != t),
              "example %d window %d: label [%d, %d] maps to tokens %d..%d, want %d..%d", e, r,
              w->start_pos[r], w->end_pos[r], s, t, lo, hi);
    }
    if (w->label_type[e] != NQ_TYPE_NONE && kept(ex, ls, o->max_contexts) &&
        le - ls <= 6) /* fits a window */
        CHECK(positives > 0, "example %d: its answer (%s, tokens [%d, %d)) is in a window", e,
              nq_type_names[w->label_type[e]], ls, le);
    free(seen);
}

/* Windows of n_ex random documents (seed 11) with tok into a new set. */
static NqWindows *windows_of(const NqTokenizer *tok, const NqWindowOpts *o, int n_ex, int check) {
    Rng r;
    rng_seed(&r, 11);
    NqWindows *w = nq_windows_new(o);
    for (int e = 0; e < n_ex; e++) {
        NqExample ex;
        make_doc(&ex, &r, (int64_t)0x7000000000000000LL + e);
        CHECK(nq_windows_add(w, &ex, tok, o) == QA_OK, "add: %s", qa_last_error());
        if (check) check_example(w, e, &ex, tok, o);
        free_doc(&ex);
    }
    return w;
}

/* The generic tokenizer behind NqTokenizer: WordPiece equal to the WordPiece adapter, and
 * RoBERTa's BPE in its layout. */
static void test_generic(const char *vocab_path, const NqWindowOpts *o, const NqWindows *wp_w) {
    Tokenizer *t = NULL;
    TokenizerFiles tf = {.vocab = vocab_path};
    CHECK(tokenizer_load(&tf, &t) == QA_OK, "WordPiece tokenizer: %s", qa_last_error());
    if (!t) return;
    NqTokenizer gt = nq_tokenizer_of(t);
    NqWindows *g = windows_of(&gt, o, 150, 0);
    CHECK(g->n == wp_w->n && !memcmp(g->input_ids, wp_w->input_ids,
                                     sizeof(int32_t) * (size_t)g->n * g->seq) &&
          !memcmp(g->type_ids, wp_w->type_ids, sizeof(int32_t) * (size_t)g->n * g->seq) &&
          !memcmp(g->token_map, wp_w->token_map, sizeof(int32_t) * (size_t)g->n * g->seq),
          "a WordPiece Tokenizer gives the WordPiece adapter's windows (%d, %d)", g->n, wp_w->n);
    nq_windows_free(g);
    tokenizer_free(t);

    Tokenizer *b = NULL;
    if (tokenizer_load_dir("tests/data/torch_roberta_bpe", &b)) {
        CHECK(0, "RoBERTa tokenizer: %s", qa_last_error());
        return;
    }
    NqTokenizer bt = nq_tokenizer_of(b);
    TokSpecial sp = tokenizer_special(b);
    CHECK(bt.seps_between == 2 && bt.doc_type == 0 && bt.cls == sp.cls && bt.sep == sp.sep &&
          bt.unk == sp.unk && sp.unk >= 0, "RoBERTa layout: two separators, types 0, its <unk>");
    /* the small BPE vocabulary cuts words into more pieces: windows long enough for an
     * answer of 6 words */
    NqWindowOpts bo = *o;
    bo.max_seq_len = 96;
    bo.doc_stride = 24;
    NqWindows *w = windows_of(&bt, &bo, 150, 1); /* every check of check_example */
    int q_end = 1;
    while (w->input_ids[q_end] != bt.sep) q_end++;
    CHECK(w->input_ids[0] == sp.cls && w->input_ids[1] == sp.unk && w->input_ids[q_end + 1] == bt.sep,
          "<s> [Q] (not in the vocabulary: <unk>) ... </s></s>");
    int types = 0;
    for (size_t k = 0; k < (size_t)w->n * w->seq; k++) types += w->type_ids[k] != 0;
    CHECK(types == 0, "RoBERTa windows have token types 0 (%d are not)", types);
    /* a document word reads as after a space: its first piece starts with "Ġ" */
    int32_t *ids = NULL;
    int n = 0;
    CHECK(bt.encode(bt.ctx, "lafel", 5, &ids, &n) == QA_OK && n > 0 &&
          !strncmp(tokenizer_token_str(b, ids[0]), "\xc4\xa0", 2),
          "'lafel' encodes as ' lafel' (first piece '%s')", n ? tokenizer_token_str(b, ids[0]) : "");
    free(ids);
    printf("RoBERTa BPE: %d windows of %d examples\n", w->n, w->n_examples);
    nq_windows_free(w);
    tokenizer_free(b);
}

int main(void) {
    char dir[] = "/tmp/test_nq_windows.XXXXXX", vocab_path[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    char text[2048] = "";
    for (int i = 0; i < N_VOCAB; i++) {
        strcat(text, vocab_words[i]);
        strcat(text, "\n");
    }
    WpVocab *v = NULL;
    if (file_write_atomic(vocab_path, text, strlen(text)) || wp_vocab_load(vocab_path, &v)) {
        fprintf(stderr, "%s\n", qa_last_error());
        return 1;
    }
    NqTokenizer tok = nq_tokenizer_wordpiece(v);
    NqWindowOpts o = NQ_WINDOW_OPTS_DEFAULT;
    o.max_seq_len = 40;
    o.doc_stride = 8;
    o.max_query_len = 12;
    o.max_contexts = 6;
    Rng r;
    rng_seed(&r, 11);
    NqWindows *w = nq_windows_new(&o), *train0 = NULL, *train1 = NULL, *train_some = NULL;
    NqWindowOpts t0 = o, t1 = o, ts = o;
    t0.training = t1.training = ts.training = 1;
    t0.include_unknowns = -1;
    t1.include_unknowns = 1;
    ts.include_unknowns = 0.3;
    train0 = nq_windows_new(&t0);
    train1 = nq_windows_new(&t1);
    train_some = nq_windows_new(&ts);
    enum { N_EX = 150 };
    int types[NQ_N_TYPES] = {0};
    for (int e = 0; e < N_EX; e++) {
        NqExample ex;
        make_doc(&ex, &r, (int64_t)0x7000000000000000LL + e);
        CHECK(nq_windows_add(w, &ex, &tok, &o) == QA_OK && nq_windows_add(train0, &ex, &tok, &t0) == QA_OK &&
              nq_windows_add(train1, &ex, &tok, &t1) == QA_OK &&
              nq_windows_add(train_some, &ex, &tok, &ts) == QA_OK, "add: %s", qa_last_error());
        check_example(w, e, &ex, &tok, &o);
        types[w->label_type[e]]++;
        free_doc(&ex);
    }
    for (int t = 1; t < NQ_N_TYPES; t++) CHECK(types[t] > 5, "%d examples of type %s", types[t], nq_type_names[t]);
    CHECK(w->n_examples == N_EX && w->n > 3 * N_EX, "%d windows of %d examples", w->n, w->n_examples);
    /* markup: the document opens with [ContextId=-1] [NoLongAnswer] then the first candidate's */
    const int32_t *ids0 = w->input_ids;
    int q_end = 0;
    while (ids0[q_end] != tok.sep) q_end++;
    CHECK(ids0[1] == wp_token_id(v, "[Q]"), "[Q] after [CLS]");
    CHECK(ids0[q_end + 1] == wp_token_id(v, "[ContextId=-1]") &&
          ids0[q_end + 2] == wp_token_id(v, "[NoLongAnswer]") &&
          ids0[q_end + 3] == wp_token_id(v, "[ContextId=0]"), "markup opens the document");
    CHECK(w->type_ids[q_end] == 0 && w->type_ids[q_end + 1] == 1, "types 0 then 1");
    int unk_tables = 0;
    for (size_t k = 0; k < (size_t)w->n * w->seq; k++)
        unk_tables += w->input_ids[k] == tok.unk && w->token_map[k] < 0 && w->mask[k];
    CHECK(unk_tables > 0, "markup missing from the vocabulary ([Table=k]) is [UNK]");
    /* the long question keeps its last max_query_len tokens ([Q] dropped) */
    int long_q = 0;
    for (int k = 0; k < w->n; k++) {
        const int32_t *row = w->input_ids + (size_t)k * w->seq;
        if (row[o.max_query_len + 1] == tok.sep && row[1] != wp_token_id(v, "[Q]")) long_q++;
    }
    CHECK(long_q > 0, "long questions cut from the front");
    /* down-sampling */
    int pos = 0, neg = 0;
    for (int k = 0; k < w->n; k++) {
        if (w->answer_type[k]) pos++;
        else neg++;
    }
    CHECK(train1->n == w->n, "include_unknowns 1 keeps all %d windows (%d)", w->n, train1->n);
    CHECK(train0->n == pos, "include_unknowns -1 keeps the %d positive windows (%d)", pos, train0->n);
    for (int k = 0; k < train0->n; k++) CHECK(train0->answer_type[k] != NQ_TYPE_NONE, "only positives");
    double frac = (double)(train_some->n - pos) / neg;
    CHECK(frac > 0.2 && frac < 0.4, "include_unknowns 0.3 keeps %.3f of %d negatives", frac, neg);
    printf("%d examples: %d windows, %d positive (none %d, long %d, short %d, yes %d, no %d); "
           "%d answers outside every window\n", N_EX, w->n, pos, types[0], types[1], types[2],
           types[3], types[4], w->n_answers_outside);
    test_generic(vocab_path, &o, w);
    nq_windows_free(w);
    nq_windows_free(train0);
    nq_windows_free(train1);
    nq_windows_free(train_some);
    wp_vocab_free(v);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
