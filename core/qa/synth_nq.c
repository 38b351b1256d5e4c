/* core/qa/synth_nq.c: the synthetic task as NQ documents (see synth_nq.h). Per question: the
 * paragraph's word tokens, its blocks, the document tokens and candidates, the annotations,
 * one JSON line. */
#include "core/qa/synth_nq.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qa/squad.h"
#include "core/qa/synth.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "core/util/rng.h"
#include "core/util/strmap.h"

enum { MAX_TOK = 4096, MAX_CAND = 256 };

/* A paragraph cut into word tokens: byte spans [start, end) in the context. */
typedef struct {
    int n;
    int start[MAX_TOK], end[MAX_TOK];
} Words;

static int is_punct(char c) { return c && strchr(".,;:!?\"()", c) != NULL; }

/* Words of ctx: split at spaces, punctuation split off, and cut at every byte in cuts[]
 * (answer boundaries), so that every answer is whole tokens. */
static void split_words(const char *ctx, const int *cuts, int n_cuts, Words *w) {
    int len = (int)strlen(ctx), i = 0;
    w->n = 0;
    while (i < len && w->n < MAX_TOK) {
        if (ctx[i] == ' ') {
            i++;
            continue;
        }
        int j = i + 1;
        if (!is_punct(ctx[i])) {
            while (j < len && ctx[j] != ' ' && !is_punct(ctx[j])) {
                int cut = 0;
                for (int k = 0; k < n_cuts; k++) cut |= cuts[k] == j;
                if (cut) break;
                j++;
            }
        }
        w->start[w->n] = i;
        w->end[w->n++] = j;
        i = j;
    }
}

/* The document being built: tokens (strings borrowed from ctx or static tags), candidates. */
typedef struct {
    int n;
    const char *tok[MAX_TOK];
    int tok_len[MAX_TOK];
    int is_html[MAX_TOK];
    int of_word[MAX_TOK];   /* doc token -> word index, -1 for tags */
    int doc_of_word[MAX_TOK];
    int n_cand;
    int cand_s[MAX_CAND], cand_e[MAX_CAND], cand_top[MAX_CAND];
} Doc;

static void push(Doc *d, const char *t, int len, int word) {
    if (d->n >= MAX_TOK) return;
    d->tok[d->n] = t;
    d->tok_len[d->n] = len;
    d->is_html[d->n] = word < 0;
    d->of_word[d->n] = word;
    if (word >= 0) d->doc_of_word[word] = d->n;
    d->n++;
}

static void push_tag(Doc *d, const char *tag) { push(d, tag, (int)strlen(tag), -1); }

static void push_words(Doc *d, const char *ctx, const Words *w, int from, int to) {
    for (int k = from; k < to; k++) push(d, ctx + w->start[k], w->end[k] - w->start[k], k);
}

static int add_cand(Doc *d, int s, int top) {
    if (d->n_cand >= MAX_CAND) return -1;
    d->cand_s[d->n_cand] = s;
    d->cand_e[d->n_cand] = s;
    d->cand_top[d->n_cand] = top;
    return d->n_cand++;
}

/* Sentences (ending at ".", "?" or "!") grouped into 2-4 blocks of random kinds. */
static void build_doc(Rng *r, const char *ctx, const Words *w, Doc *d) {
    int sent_end[MAX_TOK], n_sent = 0;
    for (int k = 0; k < w->n; k++) {
        char c = ctx[w->start[k]];
        if ((c == '.' || c == '?' || c == '!') || k + 1 == w->n) sent_end[n_sent++] = k + 1;
    }
    int n_blocks = 2 + (int)rng_below(r, 3);
    if (n_blocks > n_sent) n_blocks = n_sent;
    d->n = d->n_cand = 0;
    int s0 = 0;
    for (int b = 0; b < n_blocks; b++) {
        /* the block takes sentences [s0, s1): at least one, leaving one for each block after */
        int left = n_sent - s0 - (n_blocks - b - 1);
        int s1 = b + 1 == n_blocks ? n_sent : s0 + 1 + (int)rng_below(r, (uint64_t)left);
        int kind = (int)rng_below(r, 4); /* 0, 1: paragraph; 2: list; 3: table */
        int top = add_cand(d, d->n, 1);
        push_tag(d, kind < 2 ? "<P>" : kind == 2 ? "<Ul>" : "<Table>");
        for (int s = s0; s < s1; s++) {
            int from = s ? sent_end[s - 1] : 0, item = -1;
            if (kind == 2) item = add_cand(d, d->n, 0), push_tag(d, "<Li>");
            if (kind == 3) item = add_cand(d, d->n, 0), push_tag(d, "<Tr>"), push_tag(d, "<Td>");
            push_words(d, ctx, w, from, sent_end[s]);
            if (kind == 2) push_tag(d, "</Li>");
            if (kind == 3) push_tag(d, "</Td>"), push_tag(d, "</Tr>");
            if (item >= 0) d->cand_e[item] = d->n;
        }
        push_tag(d, kind < 2 ? "</P>" : kind == 2 ? "</Ul>" : "</Table>");
        if (top >= 0) d->cand_e[top] = d->n;
        s0 = s1;
    }
}

/* ---- JSON --------------------------------------------------------------------------------- */

/* Byte offsets of the document tokens in document_html (tokens joined by single spaces). */
static void byte_offsets(const Doc *d, int *bs) {
    for (int k = 0, off = 0; k < d->n; k++) {
        bs[k] = off;
        off += d->tok_len[k] + 1;
    }
}

static cJSON *span_json(const Doc *d, const int *bs, int s, int e, int cand) {
    cJSON *o = cJSON_CreateObject();
    int null = s < 0;
    cJSON_AddNumberToObject(o, "start_byte", null ? -1 : bs[s]);
    cJSON_AddNumberToObject(o, "end_byte", null ? -1 : bs[e - 1] + d->tok_len[e - 1]);
    cJSON_AddNumberToObject(o, "start_token", null ? -1 : s);
    cJSON_AddNumberToObject(o, "end_token", null ? -1 : e);
    if (cand >= -1) cJSON_AddNumberToObject(o, "candidate_index", cand);
    return o;
}

/* What one annotator marks. */
typedef struct {
    int cand;         /* -1: nothing */
    int short_s, short_e; /* -1: no short answer */
    const char *yes_no;
} Mark;

static cJSON *annotation_json(const Doc *d, const int *bs, const Mark *m, int64_t id) {
    cJSON *a = cJSON_CreateObject();
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)id);
    cJSON_AddRawToObject(a, "annotation_id", buf);
    cJSON_AddItemToObject(a, "long_answer",
                          m->cand < 0 ? span_json(d, bs, -1, -1, -1)
                                      : span_json(d, bs, d->cand_s[m->cand], d->cand_e[m->cand], m->cand));
    cJSON *sa = cJSON_AddArrayToObject(a, "short_answers");
    if (m->short_s >= 0) cJSON_AddItemToArray(sa, span_json(d, bs, m->short_s, m->short_e, -2));
    cJSON_AddStringToObject(a, "yes_no_answer", m->yes_no);
    return a;
}

/* The intended answer and the five annotators of dev (see synth_nq.h). */
static int make_marks(Rng *r, int dev, const Mark *gold, int other_cand, Mark *marks) {
    if (!dev) {
        marks[0] = *gold;
        return 1;
    }
    for (int k = 0; k < 5; k++) {
        double u = rng_uniform(r);
        Mark none = {-1, -1, -1, "NONE"}, m = *gold;
        if (gold->cand < 0) {          /* unanswerable: a few mark a block anyway */
            m = u < 0.12 ? (Mark){other_cand, -1, -1, "NONE"} : none;
        } else if (u < 0.12) {         /* found nothing */
            m = none;
        } else if (u < 0.22) {         /* the block, but not the short answer */
            m.short_s = m.short_e = -1;
            m.yes_no = "NONE";
        }
        marks[k] = m;
    }
    return 5;
}

/* ---- one split ---------------------------------------------------------------------------- */

static int write_split(const char *squad_path, const char *out_path, uint64_t seed, int dev) {
    SquadSet *set = NULL;
    FileGz *gz = NULL;
    Words *w = malloc(sizeof *w);
    Doc *d = malloc(sizeof *d);
    int *bs = malloc(MAX_TOK * sizeof *bs), rc = QA_ERR;
    char *html = NULL;
    if (!w || !d || !bs) {
        qa_env_error(ENOMEM, "synth nq: out of memory");
        goto cleanup;
    }
    if (squad_load(squad_path, &set) || file_gz_open(out_path, &gz)) goto cleanup;
    for (int qi = 0; qi < set->n_questions; qi++) {
        const SquadQuestion *q = &set->questions[qi];
        Rng r;
        rng_seed(&r, rng_hash(seed, 0x4e51 + (uint64_t)dev, (uint64_t)qi));
        /* answer boundaries of this question and of every question of its paragraph (the
         * NO values of yes/no questions come from them) */
        int cuts[64], n_cuts = 0, others[32], n_others = 0;
        for (int k = 0; k < set->n_questions && n_cuts < 62; k++) {
            const SquadQuestion *o = &set->questions[k];
            if (o->paragraph != q->paragraph || !o->n_answers || o->answers[0].start < 0) continue;
            cuts[n_cuts++] = o->answers[0].start;
            cuts[n_cuts++] = o->answers[0].end;
            if (n_others < 32 && (!q->n_answers || strcmp(o->answers[0].text, q->answers[0].text)))
                others[n_others++] = k;
        }
        split_words(q->context, cuts, n_cuts, w);
        build_doc(&r, q->context, w, d);
        byte_offsets(d, bs);
        /* the intended answer */
        Mark gold = {-1, -1, -1, "NONE"};
        char question[1024];
        snprintf(question, sizeof question, "%s", q->question);
        if (q->n_answers && q->answers[0].start >= 0) {
            int a = q->answers[0].start, b = q->answers[0].end, ws = -1, we = -1;
            for (int k = 0; k < w->n; k++)
                if (w->start[k] >= a && w->end[k] <= b) we = k, ws = ws < 0 ? k : ws;
            if (ws >= 0) {
                gold.short_s = d->doc_of_word[ws];
                gold.short_e = d->doc_of_word[we] + 1;
                for (int c = 0; c < d->n_cand; c++)
                    if (d->cand_top[c] && d->cand_s[c] <= gold.short_s && gold.short_e <= d->cand_e[c])
                        gold.cand = c;
            }
            if (gold.cand >= 0 && rng_uniform(&r) < 0.15) { /* a yes/no question */
                int yes = n_others == 0 || rng_below(&r, 2);
                const char *value = yes ? q->answers[0].text
                                        : set->questions[others[rng_below(&r, (uint64_t)n_others)]].answers[0].text;
                size_t ql = strlen(q->question);
                int cut = ql && q->question[ql - 1] == '?' ? (int)ql - 1 : (int)ql;
                snprintf(question, sizeof question, "%.*s : is it %s ?", cut, q->question, value);
                gold.yes_no = yes ? "YES" : "NO";
                gold.short_s = gold.short_e = -1;
            }
        }
        if (gold.cand < 0) gold.short_s = gold.short_e = -1;
        int other_cand = 0;
        for (int c = 0; c < d->n_cand; c++)
            if (d->cand_top[c]) other_cand = rng_below(&r, 2) ? c : other_cand;
        Mark marks[5];
        int n_marks = make_marks(&r, dev, &gold, other_cand, marks);
        /* the line */
        int64_t id = (int64_t)rng_hash(seed, 0x4e5100 + (uint64_t)dev, (uint64_t)qi);
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
        size_t html_len = (size_t)(d->n ? bs[d->n - 1] + d->tok_len[d->n - 1] : 0);
        char *h = realloc(html, html_len + 2);
        if (!h) {
            qa_env_error(ENOMEM, "synth nq: out of memory");
            goto cleanup;
        }
        html = h;
        for (int k = 0; k < d->n; k++) {
            memcpy(html + bs[k], d->tok[k], (size_t)d->tok_len[k]);
            html[bs[k] + d->tok_len[k]] = ' ';
        }
        html[html_len] = '\0';
        cJSON *o = cJSON_CreateObject();
        cJSON_AddRawToObject(o, "example_id", idbuf);
        cJSON_AddStringToObject(o, "question_text", question);
        cJSON_AddStringToObject(o, "document_title", "synthetic");
        cJSON_AddStringToObject(o, "document_url", "");
        cJSON_AddStringToObject(o, "document_html", html);
        cJSON *toks = cJSON_AddArrayToObject(o, "document_tokens");
        for (int k = 0; k < d->n; k++) {
            cJSON *t = cJSON_CreateObject();
            char tb[256];
            snprintf(tb, sizeof tb, "%.*s", d->tok_len[k], d->tok[k]);
            cJSON_AddStringToObject(t, "token", tb);
            cJSON_AddNumberToObject(t, "start_byte", bs[k]);
            cJSON_AddNumberToObject(t, "end_byte", bs[k] + d->tok_len[k]);
            cJSON_AddBoolToObject(t, "html_token", d->is_html[k]);
            cJSON_AddItemToArray(toks, t);
        }
        cJSON *cands = cJSON_AddArrayToObject(o, "long_answer_candidates");
        for (int c = 0; c < d->n_cand; c++) {
            cJSON *j = span_json(d, bs, d->cand_s[c], d->cand_e[c], -2);
            cJSON_AddBoolToObject(j, "top_level", d->cand_top[c]);
            cJSON_AddItemToArray(cands, j);
        }
        cJSON *anns = cJSON_AddArrayToObject(o, "annotations");
        for (int k = 0; k < n_marks; k++)
            cJSON_AddItemToArray(anns, annotation_json(d, bs, &marks[k], id ^ (k + 1)));
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!line) {
            qa_env_error(ENOMEM, "synth nq: out of memory");
            goto cleanup;
        }
        int wrc = file_gz_write(gz, line, strlen(line)) || file_gz_write(gz, "\n", 1);
        free(line);
        if (wrc) goto cleanup;
    }
    rc = file_gz_commit(gz);
    gz = NULL;
cleanup:
    file_gz_abort(gz);
    squad_free(set);
    free(w);
    free(d);
    free(bs);
    free(html);
    return rc;
}

/* OUT/vocab.txt: the synthetic vocabulary with the NQ markup and yes/no words appended. */
static int write_vocab(const char *squad_vocab, const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (file_read(squad_vocab, 0, &text, &len)) return QA_ERR;
    StrMap *seen = strmap_new(4096);
    size_t cap = len + 64 * 1024, n = len;
    char *out = malloc(cap);
    int rc = seen && out ? QA_OK : qa_env_error(ENOMEM, "synth nq: out of memory");
    if (!rc) memcpy(out, text, len);
    for (char *s = text; !rc && *s;) { /* the existing entries, one a line */
        char *nl = strchr(s, '\n');
        size_t l = nl ? (size_t)(nl - s) : strlen(s);
        rc = strmap_put(seen, s, l, 1);
        s += l + (nl != NULL);
    }
    char extra[64];
    static const char *const kinds[] = {"Paragraph", "Table", "List", "Other"};
    static const char *const words[] = {"[Q]", "[NoLongAnswer]", "is", "it", ":", "?"};
    for (int k = -1; !rc && k < 48 + 4 * 50 + 6; k++) {
        if (k < 48) snprintf(extra, sizeof extra, "[ContextId=%d]", k);
        else if (k < 48 + 200) snprintf(extra, sizeof extra, "[%s=%d]", kinds[(k - 48) / 50], (k - 48) % 50 + 1);
        else snprintf(extra, sizeof extra, "%s", words[k - 248]);
        size_t l = strlen(extra);
        if (strmap_get(seen, extra, l) >= 0) continue;
        memcpy(out + n, extra, l);
        out[n + l] = '\n';
        n += l + 1;
    }
    if (!rc) rc = file_write_atomic(path, out, n);
    strmap_free(seen);
    free(out);
    free(text);
    return rc;
}

int synth_nq_generate(const char *out_dir, uint64_t seed, int n_train, int n_dev, int lookups) {
    char squad_dir[4096], in[4096], out[4096];
    if (path_join(squad_dir, sizeof squad_dir, out_dir, "squad")) return QA_ERR;
    if (synth_generate(squad_dir, seed, n_train, n_dev, lookups)) return QA_ERR;
    static const char *const splits[2][2] = {{"train.json", "nq-train.jsonl.gz"},
                                             {"dev.json", "nq-dev.jsonl.gz"}};
    for (int s = 0; s < 2; s++) {
        if (path_join(in, sizeof in, squad_dir, splits[s][0]) ||
            path_join(out, sizeof out, out_dir, splits[s][1]) || write_split(in, out, seed, s))
            return QA_ERR;
    }
    if (path_join(in, sizeof in, squad_dir, "vocab.txt") ||
        path_join(out, sizeof out, out_dir, "vocab.txt"))
        return QA_ERR;
    return write_vocab(in, out);
}
