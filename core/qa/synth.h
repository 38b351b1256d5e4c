/* core/qa/synth.h: the built-in synthetic QA task (SQuAD 2.0 format), the embedded default's
 * training and evaluation data. docs/synthetic-task.md describes it and its learnability.
 *
 * Paragraphs state facts about 1-4 fictional people (single-word names from a closed set of
 * SYNTH_N_NAMES), who share attribute kinds: birthplace and home (cities), birth year,
 * job, employer, number of children, sister and mentor (other people), in shuffled order,
 * with up to one filler sentence mentioning a city, company, year or number that belongs
 * to nobody. Questions ask for one attribute of one person, phrased three ways; about 40%
 * are unanswerable: the attribute is stated only for someone else, or only in a sibling
 * kind (home vs birthplace, sister vs mentor), or the person is not in the paragraph.
 * Answering needs the binding "find the person, then read that person's fact", which a
 * model ignoring the asked name cannot do.
 *
 * Beyond the SQuAD fields each paragraph carries "synth_entities" (its number of people)
 * and each question "synth_kind" ("answer", "other_person", "sibling_kind", "absent"),
 * for analyses; SQuAD readers ignore them. */
#ifndef QAPRUNE_SYNTH_H
#define QAPRUNE_SYNTH_H

#include <stdint.h>

#define SYNTH_DEFAULT_TRAIN 200000 /* questions (the teacher sees ~150k windows) */
#define SYNTH_DEFAULT_DEV 2000
#define SYNTH_N_NAMES 120
#define SYNTH_VERSION 2 /* bumped whenever the same settings give different files */

/* Writes out_dir/train.json (n_train questions), out_dir/dev.json (n_dev questions) and
 * out_dir/vocab.txt, creating out_dir if needed. With lookups, each training paragraph also
 * gets two lookup questions ("Where is X mentioned?" -> X's first mention; "What does the
 * text say about X?" -> X's first fact sentence; synth_kind "lookup_mention" and
 * "lookup_sentence"), counted in n_train; they train the "find the person" step on its
 * own, without which small models stall (docs/synthetic-task.md). dev.json never has them.
 * The same seed gives the same files. The
 * vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4, then every word and punctuation
 * mark the generator can produce) is the same for every seed and size, so a model trained
 * on one seed's data reads any other's; the WordPiece tokenizer gives no [UNK] on the data.
 * Returns 0, or QA_ERR naming the file that could not be written. */
int synth_generate(const char *out_dir, uint64_t seed, int n_train, int n_dev, int lookups);

#endif
