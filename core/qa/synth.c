/* core/qa/synth.c: the synthetic QA task generator (see synth.h and docs/synthetic-task.md).
 *
 * Top-down: the attribute kinds and their sentence templates, the closed word pools, one
 * paragraph (people, facts, fillers, questions), one split as SQuAD JSON, the vocabulary,
 * and synth_generate(). In templates '@' stands for a person's name and '#' for a value. */
#include "core/qa/synth.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/util/rng.h"
#include "core/util/strmap.h"
#include "core/text/text.h"
#include "core/util/fileio.h"

enum { CITY, YEAR, JOB, COMPANY, COUNT, PERSON }; /* value classes */

typedef struct {
    const char *key;
    int cls;
    const char *facts[2];     /* the statement, two ways */
    const char *questions[3]; /* the question, three ways */
} AttrKind;

static const AttrKind kinds[] = {
    {"birthplace", CITY, {"@ was born in the city of #.", "The birthplace of @ is #."},
     {"In which city was @ born?", "Where was @ born?", "What is the birthplace of @?"}},
    {"home", CITY, {"@ has a home in #.", "The home of @ is in #."},
     {"Where is the home of @?", "In which city is @'s home?", "Where does @ have a home?"}},
    {"birth_year", YEAR, {"@ was born in the year #.", "The birth year of @ is #."},
     {"In which year was @ born?", "When was @ born?", "What is the birth year of @?"}},
    {"job", JOB, {"@ has a job as a #.", "The job of @ is #."},
     {"What is the job of @?", "What job does @ have?", "What is @'s job?"}},
    {"employer", COMPANY, {"@'s employer is #.", "The employer of @ is #."},
     {"Who is the employer of @?", "Which company is @'s employer?",
      "What is the name of @'s employer?"}},
    {"children", COUNT, {"@ has # children.", "The number of children of @ is #."},
     {"How many children does @ have?", "How many children has @?",
      "What is the number of children of @?"}},
    {"sister", PERSON, {"@'s sister is #.", "# is the sister of @."},
     {"Who is @'s sister?", "What is the name of @'s sister?", "Who is the sister of @?"}},
    {"mentor", PERSON, {"@'s mentor is #.", "# is the mentor of @."},
     {"Who is @'s mentor?", "What is the name of @'s mentor?", "Who is the mentor of @?"}},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

/* Filler sentences: values that belong to nobody ('#' city, '$' company, '%' year, '&' count). */
static const char *fillers[] = {
    "# is a quiet town by the sea.", "$ was founded in %.", "Many people in # work for $.",
    "The harbor of # holds & boats.", "In %, a storm hit #.",
};

static const char *jobs[] = {
    "baker", "nurse", "pilot", "carpenter", "ship captain", "train driver", "flight engineer",
    "marine biologist", "tax lawyer", "senior software engineer", "jazz pianist",
    "museum curator", "high school teacher", "dentist", "police detective", "plumber",
    "tailor", "bus driver", "wedding photographer", "night watchman", "veterinarian",
    "chemist", "farmer", "librarian", "court reporter", "sports journalist", "tour guide",
    "head chef", "bridge inspector", "piano tuner",
};
static const char *company_heads[] = {
    "Northwind", "Bluepeak", "Redstone", "Silverline", "Greenfield", "Ironbridge", "Oakmont",
    "Starling", "Harborview", "Brightwater", "Coldspring", "Goldcrest", "Westmark", "Pinecone",
    "Stormhill", "Riverside",
};
static const char *company_tails[] = {
    "Shipping", "Bank", "Motors", "Foods", "Airlines", "Press", "Mining", "Labs", "Textiles",
    "Insurance", "Hotels", "Railways",
};
static const char *city_prefixes[] = {"Port", "New", "North", "Lake", "Fort"};
static const char *counts[] = {"two", "three", "four", "five", "six", "seven", "eight", "nine"};
enum { N_CITIES = 48, YEAR_LO = 1850, YEAR_HI = 2030 };

/* ---- the closed pools of invented names ---- */

typedef struct {
    char names[SYNTH_N_NAMES][8]; /* people: two syllables, e.g. "Kalo", "Tirun" */
    char cities[N_CITIES][24];    /* three syllables, some with a prefix: "Port Velmora" */
} Pools;

/* Writes a capitalised invented word of n_syl consonant-vowel syllables (+ maybe a final
 * consonant) into out. */
static void invent_word(Rng *r, int n_syl, int final, char *out) {
    static const char cons[] = "bdfgklmnprstvz", vow[] = "aeiou", ends[] = "nrls";
    int k = 0;
    for (int s = 0; s < n_syl; s++) {
        out[k++] = cons[rng_below(r, sizeof cons - 1)];
        out[k++] = vow[rng_below(r, sizeof vow - 1)];
    }
    if (final) out[k++] = ends[rng_below(r, sizeof ends - 1)];
    out[k] = '\0';
    out[0] = (char)toupper((unsigned char)out[0]);
}

static int pool_has(char (*pool)[8], int n, const char *w) {
    for (int i = 0; i < n; i++)
        if (!strcmp(pool[i], w)) return 1;
    return 0;
}

/* The pools are fixed (their own constant seed), the same for every data seed. */
static void pools_init(Pools *p) {
    Rng r;
    rng_seed(&r, 0x5117A5CEULL);
    for (int i = 0; i < SYNTH_N_NAMES;) {
        char w[8];
        invent_word(&r, 2, rng_below(&r, 2), w);
        if (!pool_has(p->names, i, w)) strcpy(p->names[i++], w);
    }
    for (int i = 0; i < N_CITIES;) {
        char w[8];
        invent_word(&r, 3, 0, w);
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= strstr(p->cities[j], w) != NULL;
        if (dup) continue;
        if (rng_below(&r, 3) == 0)
            snprintf(p->cities[i++], 24, "%s %s", city_prefixes[rng_below(&r, 5)], w);
        else
            strcpy(p->cities[i++], w);
    }
}

/* ---- one paragraph ---- */

enum { MAX_PEOPLE = 4, MAX_SENTENCES = 20, MAX_QUESTIONS = 6, VALUE_LEN = 48 };

typedef struct {
    int name;                         /* index into Pools.names */
    int has[N_KINDS];                 /* 1 when the paragraph states this attribute */
    char value[N_KINDS][VALUE_LEN];
    int value_at[N_KINDS];            /* byte offset of the value in the context */
} Person;

typedef struct {
    char context[2048];
    int len;
    Person people[MAX_PEOPLE];
    int n_people;
    int used_name[SYNTH_N_NAMES];     /* names appearing anywhere in the context */
    /* the sentences in context order: byte span, whose fact (-1: a filler), subject's offset */
    int n_sent, sent_at[MAX_SENTENCES], sent_len[MAX_SENTENCES], sent_person[MAX_SENTENCES];
    int sent_name_at[MAX_SENTENCES];
} Paragraph;

typedef struct {
    char text[160];
    int person;                       /* index into people, -1 for an absent name */
    int kind;                         /* attribute kind asked about */
    int answerable;
    char answer[160];                 /* the answer text when answerable */
    int answer_at;
    const char *label;                /* synth_kind */
} Question;

static int pick_weighted(Rng *r, const double *w, int n) {
    double u = rng_uniform(r), acc = 0;
    for (int i = 0; i < n - 1; i++)
        if (u < (acc += w[i])) return i;
    return n - 1;
}

static void pick_value(Rng *r, const Pools *pools, const Paragraph *pg, int self, int kind,
                       char *out) {
    switch (kinds[kind].cls) {
    case CITY: strcpy(out, pools->cities[rng_below(r, N_CITIES)]); break;
    case YEAR: snprintf(out, VALUE_LEN, "%d", 1920 + (int)rng_below(r, 90)); break;
    case JOB: strcpy(out, jobs[rng_below(r, sizeof jobs / sizeof jobs[0])]); break;
    case COMPANY:
        snprintf(out, VALUE_LEN, "%s %s", company_heads[rng_below(r, 16)],
                 company_tails[rng_below(r, 12)]);
        break;
    case COUNT: strcpy(out, counts[rng_below(r, 8)]); break;
    default: { /* another person of the paragraph half of the time, else an outsider */
        int name;
        if (pg->n_people > 1 && rng_below(r, 2)) {
            int k = (self + 1 + (int)rng_below(r, pg->n_people - 1)) % pg->n_people;
            name = pg->people[k].name;
        } else {
            do name = (int)rng_below(r, SYNTH_N_NAMES);
            while (name == pg->people[self].name);
        }
        strcpy(out, pools->names[name]);
    }
    }
}

/* Appends template t to the context, '@' -> name and '#' -> value (whose offset goes to
 * *value_at), '$', '%', '&' -> the filler values. */
static void append(Paragraph *pg, const char *t, const char *name, const char *value,
                   int *value_at, const char *company, const char *year, const char *count) {
    if (pg->len) pg->context[pg->len++] = ' ';
    pg->sent_at[pg->n_sent] = pg->len;
    for (const char *c = t; *c; c++) {
        const char *s = *c == '@' ? name : *c == '#' ? value : *c == '$' ? company
                        : *c == '%' ? year : *c == '&' ? count : NULL;
        if (*c == '#' && value_at) *value_at = pg->len;
        if (*c == '@') pg->sent_name_at[pg->n_sent] = pg->len;
        if (s) pg->len += snprintf(pg->context + pg->len, sizeof pg->context - pg->len, "%s", s);
        else pg->context[pg->len++] = *c;
    }
    pg->context[pg->len] = '\0';
    pg->sent_len[pg->n_sent] = pg->len - pg->sent_at[pg->n_sent];
    pg->n_sent++;
}

static void shuffle(Rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* An attribute kind person i does not have yet: half of the time one that an earlier person
 * of the paragraph has (so kinds are shared and values of one kind compete), else any. */
static int pick_kind(Rng *r, const Paragraph *pg, int i) {
    int shared[N_KINDS], n_shared = 0, k;
    for (k = 0; k < N_KINDS; k++) {
        int others = 0;
        for (int j = 0; j < i; j++) others |= pg->people[j].has[k];
        if (others && !pg->people[i].has[k]) shared[n_shared++] = k;
    }
    if (n_shared && rng_below(r, 2)) return shared[rng_below(r, n_shared)];
    do k = (int)rng_below(r, N_KINDS);
    while (pg->people[i].has[k]);
    return k;
}

/* People, their facts and the fillers, shuffled into one context. Paragraphs have 1-4
 * people (weights .25 .35 .25 .15), each with 2-3 attributes (chosen by pick_kind). */
static void make_paragraph(Rng *r, const Pools *pools, Paragraph *pg) {
    static const double people_w[] = {0.25, 0.35, 0.25, 0.15};
    memset(pg, 0, sizeof *pg);
    pg->n_people = 1 + pick_weighted(r, people_w, 4);
    for (int i = 0; i < pg->n_people; i++) {
        Person *p = &pg->people[i];
        do p->name = (int)rng_below(r, SYNTH_N_NAMES);
        while (pg->used_name[p->name]);
        pg->used_name[p->name] = 1;
    }
    int facts[MAX_SENTENCES], n = 0; /* person * N_KINDS + kind, or -1 - filler */
    for (int i = 0; i < pg->n_people; i++) {
        Person *p = &pg->people[i];
        int n_attr = 2 + (int)rng_below(r, 2);
        for (int a = 0; a < n_attr; a++) {
            int k = pick_kind(r, pg, i);
            p->has[k] = 1;
            pick_value(r, pools, pg, i, k, p->value[k]);
            if (kinds[k].cls == PERSON)
                for (int j = 0; j < SYNTH_N_NAMES; j++)
                    if (!strcmp(pools->names[j], p->value[k])) pg->used_name[j] = 1;
            facts[n++] = i * N_KINDS + k;
        }
    }
    for (int f = (int)rng_below(r, 2); f > 0; f--)
        facts[n++] = -1 - (int)rng_below(r, sizeof fillers / sizeof fillers[0]);
    shuffle(r, facts, n);
    for (int s = 0; s < n; s++) {
        if (facts[s] < 0) {
            char company[VALUE_LEN], year[16];
            snprintf(company, sizeof company, "%s %s", company_heads[rng_below(r, 16)],
                     company_tails[rng_below(r, 12)]);
            snprintf(year, sizeof year, "%d", YEAR_LO + (int)rng_below(r, 70));
            pg->sent_person[pg->n_sent] = -1;
            append(pg, fillers[-1 - facts[s]], NULL, pools->cities[rng_below(r, N_CITIES)], NULL,
                   company, year, counts[rng_below(r, 8)]);
            continue;
        }
        Person *p = &pg->people[facts[s] / N_KINDS];
        int k = facts[s] % N_KINDS;
        pg->sent_person[pg->n_sent] = facts[s] / N_KINDS;
        append(pg, kinds[k].facts[rng_below(r, 2)], pools->names[p->name], p->value[k],
               &p->value_at[k], NULL, NULL, NULL);
    }
}

/* Fills q->kind, q->answer and q->label for person pi asked about kind k. */
static void classify(const Paragraph *pg, int pi, int k, Question *q) {
    q->person = pi;
    q->kind = k;
    q->answerable = 0;
    if (pi < 0) {
        q->label = "absent";
        return;
    }
    const Person *p = &pg->people[pi];
    if (p->has[k]) {
        q->answerable = 1;
        snprintf(q->answer, sizeof q->answer, "%s", p->value[k]);
        q->answer_at = p->value_at[k];
        q->label = "answer";
        return;
    }
    int other = 0, sibling = 0;
    for (int j = 0; j < pg->n_people; j++) other |= j != pi && pg->people[j].has[k];
    for (int j = 0; j < N_KINDS; j++) sibling |= p->has[j] && kinds[j].cls == kinds[k].cls;
    q->label = other ? "other_person" : sibling ? "sibling_kind" : "missing";
}

/* The question mix (before redraws of types a paragraph cannot give): answerable 60%;
 * unanswerable: the attribute is stated only for other people 25%, only in a sibling kind
 * for this person 8%, the person is absent 7%. */
enum { Q_ANSWER, Q_OTHER, Q_SIBLING, Q_ABSENT, N_QTYPES };
static const double qtype_w[N_QTYPES] = {0.6, 0.25, 0.08, 0.07};

/* Draws one question of type t. Returns 0 when this draw does not fit the paragraph (the
 * caller retries). */
static int draw_question(Rng *r, const Paragraph *pg, int t, Question *q) {
    int pi = (int)rng_below(r, pg->n_people), k = (int)rng_below(r, N_KINDS);
    const Person *p = &pg->people[pi];
    int other = 0, sibling = 0;
    for (int j = 0; j < pg->n_people; j++) other |= j != pi && pg->people[j].has[k];
    for (int j = 0; j < N_KINDS; j++) sibling |= p->has[j] && kinds[j].cls == kinds[k].cls;
    if (t == Q_ABSENT) {
        if (!other && !p->has[k]) return 0; /* ask for an attribute someone here has */
        int name;
        do name = (int)rng_below(r, SYNTH_N_NAMES);
        while (pg->used_name[name]);
        classify(pg, -1, k, q);
        q->person = -1 - name;
        return 1;
    }
    if (t == Q_ANSWER ? !p->has[k] : p->has[k] || (t == Q_OTHER ? !other : other || !sibling))
        return 0;
    classify(pg, pi, k, q);
    return 1;
}

/* Writes the question text from a random template of its kind. */
/* Writes question template t with '@' -> name into q->text. */
static void fill_question(Question *q, const char *t, const char *name) {
    int len = 0;
    for (const char *c = t; *c; c++) {
        if (*c == '@') len += snprintf(q->text + len, sizeof q->text - len, "%s", name);
        else q->text[len++] = *c;
    }
    q->text[len] = '\0';
}

static void phrase_question(Rng *r, const Pools *pools, const Paragraph *pg, Question *q) {
    const char *name = q->person >= 0 ? pools->names[pg->people[q->person].name]
                                      : pools->names[-1 - q->person];
    fill_question(q, kinds[q->kind].questions[rng_below(r, 3)], name);
}

/* ---- lookup questions (training split only) ---- */

/* Byte offset of person pi's first mention: as the subject of a fact, or as another
 * person's sister or mentor. */
static int first_mention(const Paragraph *pg, const char *name, int pi) {
    int at = -1;
    for (int s = 0; s < pg->n_sent && at < 0; s++)
        if (pg->sent_person[s] == pi) at = pg->sent_name_at[s]; /* everyone has facts */
    for (int j = 0; j < pg->n_people; j++)
        for (int k = 0; k < N_KINDS; k++) {
            const Person *p = &pg->people[j];
            if (p->has[k] && kinds[k].cls == PERSON && !strcmp(p->value[k], name) &&
                p->value_at[k] < at)
                at = p->value_at[k];
        }
    return at;
}

/* "Where is X mentioned?" -> the first mention of X; "What does the text say about X?" ->
 * the first sentence stating a fact of X. X is a random person of the paragraph. These
 * train the "find the person" step on its own (see docs/synthetic-task.md). */
static const char *const lookup_questions[2] = {"Where is @ mentioned?",
                                                "What does the text say about @?"};

static void make_lookup(Rng *r, const Pools *pools, const Paragraph *pg, int sentence,
                        Question *q) {
    int pi = (int)rng_below(r, pg->n_people), s = 0;
    const char *name = pools->names[pg->people[pi].name];
    q->person = pi;
    q->kind = -1 - sentence;
    q->answerable = 1;
    q->label = sentence ? "lookup_sentence" : "lookup_mention";
    if (sentence) {
        while (pg->sent_person[s] != pi) s++; /* everyone has at least two facts */
        q->answer_at = pg->sent_at[s];
        snprintf(q->answer, sizeof q->answer, "%.*s", pg->sent_len[s], pg->context + q->answer_at);
    } else {
        q->answer_at = first_mention(pg, name, pi);
        snprintf(q->answer, sizeof q->answer, "%s", name);
    }
    fill_question(q, lookup_questions[sentence], name);
}

/* Up to n_want questions about distinct (person, attribute) pairs; returns their count. */
static int make_questions(Rng *r, const Pools *pools, const Paragraph *pg, int n_want,
                          int lookups, Question *qs) {
    int n = 0;
    for (int l = 0; lookups && l < 2 && n < n_want; l++) make_lookup(r, pools, pg, l, &qs[n++]);
    for (int tries = 0; n < n_want && tries < 100; tries++) {
        int t = pick_weighted(r, qtype_w, N_QTYPES), ok = 0, dup = 0;
        Question q;
        for (int j = 0; j < 30 && !ok; j++) ok = draw_question(r, pg, t, &q);
        for (int i = 0; ok && i < n; i++) dup |= qs[i].person == q.person && qs[i].kind == q.kind;
        if (!ok || dup) continue;
        phrase_question(r, pools, pg, &q);
        qs[n++] = q;
    }
    return n;
}

/* ---- one split as SQuAD 2.0 JSON ---- */

static cJSON *question_json(const Question *q, const char *id) {
    cJSON *jq = cJSON_CreateObject(), *answers = cJSON_CreateArray();
    cJSON_AddStringToObject(jq, "id", id);
    cJSON_AddStringToObject(jq, "question", q->text);
    cJSON_AddItemToObject(jq, "answers", answers);
    if (q->answerable) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "text", q->answer);
        cJSON_AddNumberToObject(a, "answer_start", q->answer_at); /* ASCII: bytes = chars */
        cJSON_AddItemToArray(answers, a);
    }
    cJSON_AddBoolToObject(jq, "is_impossible", !q->answerable);
    cJSON_AddStringToObject(jq, "synth_kind", q->label);
    return jq;
}

enum { PARAGRAPHS_PER_ARTICLE = 100 };

static int write_split(const char *path, const char *split, uint64_t seed, int n_questions,
                       int lookups, const Pools *pools) {
    Rng r;
    rng_seed(&r, rng_hash(seed, (uint64_t)split[0], 0x5D17));
    cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateArray(), *paragraphs = NULL;
    cJSON_AddStringToObject(root, "version", "v2.0");
    cJSON_AddItemToObject(root, "data", data);
    Paragraph pg;
    for (int made = 0, pi = 0; made < n_questions; pi++) {
        if (pi % PARAGRAPHS_PER_ARTICLE == 0) {
            char title[64];
            snprintf(title, sizeof title, "synthetic %s %d", split, pi / PARAGRAPHS_PER_ARTICLE);
            cJSON *article = cJSON_CreateObject();
            cJSON_AddStringToObject(article, "title", title);
            paragraphs = cJSON_AddArrayToObject(article, "paragraphs");
            cJSON_AddItemToArray(data, article);
        }
        make_paragraph(&r, pools, &pg);
        Question qs[MAX_QUESTIONS];
        int want = 3 + (int)rng_below(&r, 3);
        int nq = make_questions(&r, pools, &pg, want < n_questions - made ? want : n_questions - made,
                                lookups, qs);
        cJSON *jp = cJSON_CreateObject(), *qas = cJSON_CreateArray();
        cJSON_AddStringToObject(jp, "context", pg.context);
        cJSON_AddItemToObject(jp, "qas", qas);
        cJSON_AddNumberToObject(jp, "synth_entities", pg.n_people);
        for (int i = 0; i < nq; i++) {
            char id[48];
            snprintf(id, sizeof id, "synth-%s-%06d-%d", split, pi, i);
            cJSON_AddItemToArray(qas, question_json(&qs[i], id));
        }
        cJSON_AddItemToArray(paragraphs, jp);
        made += nq;
    }
    char *text = cJSON_PrintUnformatted(root);
    int rc = text ? file_write_atomic(path, text, strlen(text)) : qa_error("%s: out of memory", path);
    free(text);
    cJSON_Delete(root);
    return rc;
}

/* ---- the vocabulary ---- */

typedef struct {
    StrMap *seen;
    char **words; /* owned */
    int n, cap;
} WordSet;

/* Adds the lowercased words (letter/digit runs) and punctuation marks of s; the template
 * placeholders @ # $ % & are skipped. */
static int add_words(WordSet *ws, const char *s) {
    for (const char *c = s; *c;) {
        size_t len = 1;
        if (isalnum((unsigned char)*c)) while (isalnum((unsigned char)c[len])) len++;
        else if (*c == ' ' || strchr("@#$%&", *c)) {
            c++;
            continue;
        }
        char w[64];
        snprintf(w, sizeof w, "%.*s", (int)len, c);
        for (char *p = w; *p; p++) *p = (char)tolower((unsigned char)*p);
        c += len;
        if (strmap_get(ws->seen, w, strlen(w)) >= 0) continue;
        if (ws->n == ws->cap) {
            char **grown = realloc(ws->words, (size_t)(ws->cap = 2 * ws->cap + 64) * sizeof *grown);
            if (!grown) return qa_error("synth: out of memory");
            ws->words = grown;
        }
        if (!(ws->words[ws->n] = strdup(w)) ||
            strmap_put(ws->seen, ws->words[ws->n], strlen(w), ws->n))
            return qa_error("synth: out of memory");
        ws->n++;
    }
    return QA_OK;
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int write_vocab(const char *path, const Pools *pools) {
    WordSet ws = {strmap_new(1024), NULL, 0, 0};
    int rc = ws.seen ? QA_OK : qa_error("synth: out of memory");
    for (int k = 0; !rc && k < N_KINDS; k++)
        for (int t = 0; !rc && t < 3; t++) {
            if (t < 2) rc = add_words(&ws, kinds[k].facts[t]);
            if (!rc) rc = add_words(&ws, kinds[k].questions[t]);
        }
    for (int l = 0; !rc && l < 2; l++) rc = add_words(&ws, lookup_questions[l]);
#define ADD_ALL(list) \
    for (size_t i = 0; !rc && i < sizeof list / sizeof list[0]; i++) rc = add_words(&ws, list[i])
    ADD_ALL(fillers);
    ADD_ALL(jobs);
    ADD_ALL(company_heads);
    ADD_ALL(company_tails);
    ADD_ALL(city_prefixes);
    ADD_ALL(counts);
    ADD_ALL(pools->names);
    ADD_ALL(pools->cities);
#undef ADD_ALL
    for (int y = YEAR_LO; !rc && y <= YEAR_HI; y++) {
        char w[16];
        snprintf(w, sizeof w, "%d", y);
        rc = add_words(&ws, w);
    }
    FILE *f = rc ? NULL : fopen(path, "w");
    if (!rc) {
        qsort(ws.words, ws.n, sizeof *ws.words, by_string);
        int ok = f && fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", f) >= 0;
        for (int i = 0; ok && i < ws.n; i++) ok = fprintf(f, "%s\n", ws.words[i]) > 0;
        if (f && fclose(f)) ok = 0;
        if (!ok) rc = qa_env_error(errno, "%s: cannot write: %s", path, strerror(errno));
    }
    for (int i = 0; i < ws.n; i++) free(ws.words[i]);
    free(ws.words);
    strmap_free(ws.seen);
    return rc;
}

int synth_generate(const char *out_dir, uint64_t seed, int n_train, int n_dev, int lookups) {
    if (file_mkdirs(out_dir)) return QA_ERR;
    Pools *pools = calloc(1, sizeof *pools);
    if (!pools) return qa_error("synth: out of memory");
    pools_init(pools);
    char path[4096];
    int rc = QA_OK;
    snprintf(path, sizeof path, "%s/train.json", out_dir);
    rc = write_split(path, "train", seed, n_train, lookups, pools);
    snprintf(path, sizeof path, "%s/dev.json", out_dir);
    if (!rc) rc = write_split(path, "dev", seed, n_dev, 0, pools);
    snprintf(path, sizeof path, "%s/vocab.txt", out_dir);
    if (!rc) rc = write_vocab(path, pools);
    free(pools);
    return rc;
}
