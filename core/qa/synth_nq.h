/* core/qa/synth_nq.h: the synthetic task (synth.h) as Natural Questions documents.
 *
 * synth_generate() writes the SQuAD-format task into OUT/squad/; every paragraph then becomes
 * an NQ document in the original format (nq.h), with byte offsets into a document_html made of
 * its tokens, so Google's nq_eval.py reads the dev file too:
 *   - the paragraph's sentences are grouped into 2-4 HTML blocks, each a paragraph <P>, a
 *     list <Ul> (one <Li> per sentence) or a table <Table> (one <Tr><Td> per sentence);
 *     the blocks are the top-level long-answer candidates, list items and rows nested ones;
 *   - a question's short answer is its SQuAD answer (word tokens; punctuation is split off),
 *     its long answer the block holding it; unanswerable questions have none;
 *   - about 15% of the answerable questions become yes/no questions ("... : is it V?", V the
 *     answer (YES) or another value of the paragraph (NO)), long answer the same block;
 *   - train: one annotation per example, the intended one; dev: five, with the disagreement
 *     NQ annotators show: some give no answer, some a long answer without the short one, and
 *     for unanswerable questions a few mark a block anyway.
 * Files: OUT/nq-train.jsonl.gz, OUT/nq-dev.jsonl.gz, and OUT/vocab.txt: the synthetic
 * vocabulary plus BERT-joint's markup tokens ([Q], [ContextId=i], [NoLongAnswer], [Paragraph=k],
 * [Table=k], [List=k], [Other=k]) and the yes/no question words. Example ids are 64-bit hashes
 * of (seed, split, index). The same seed gives the same files. */
#ifndef QAPRUNE_SYNTH_NQ_H
#define QAPRUNE_SYNTH_NQ_H

#include <stdint.h>

#define SYNTH_NQ_VERSION 1 /* bumped whenever the same settings give different files */

/* n_train, n_dev count questions (as synth_generate). Returns 0, or QA_ERR naming the file. */
int synth_nq_generate(const char *out_dir, uint64_t seed, int n_train, int n_dev, int lookups);

#endif
