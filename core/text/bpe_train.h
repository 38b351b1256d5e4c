/* core/text/bpe_train.h: learns a byte-level BPE vocabulary (vocab.json + merges.txt, as
 * Hugging Face's RoBERTa tokenizer reads them) from a corpus.
 *
 * The corpus is cut into pieces by GPT-2's pattern (bpe_pretokenize) and every distinct piece
 * is counted; each piece starts as its bytes' symbols (bytes_to_unicode). Then, n_merges
 * times: the adjacent pair of symbols occurring most often over all pieces (each piece
 * weighted by its count) becomes a merge, ties going to the smallest pair (the left symbol's
 * string, then the right's, compared as UTF-8 bytes, i.e. by code point), and every
 * non-overlapping occurrence of it, left to right, is merged. Training stops early when no
 * pair is left. This is the plain algorithm of Sennrich et al. (2016) on byte symbols, the
 * same as the PyTorch mirror's train_bpe() in tests/make_torch_checkpoint.py.
 *
 * vocab.json: <s> <pad> </s> <unk> at ids 0-3 (RoBERTa's), the 256 byte symbols in byte
 * order, each merge's token (once, at its first merge), <mask> last. merges.txt: a
 * "#version: 0.2" line, then one "left right" line per merge in rank order. */
#ifndef QAPRUNE_BPE_TRAIN_H
#define QAPRUNE_BPE_TRAIN_H

#include <stddef.h>

typedef struct BpeTrainer BpeTrainer;

/* Returns a new trainer in *out (free with bpe_trainer_free), or QA_ERR. */
int bpe_trainer_new(BpeTrainer **out);
void bpe_trainer_free(BpeTrainer *t); /* accepts NULL */

/* Counts the pieces of text[0..len). QA_ERR when out of memory. */
int bpe_trainer_add(BpeTrainer *t, const char *text, size_t len);

/* Learns up to n_merges merges and writes vocab_path and merges_path (atomically). Returns
 * the number of merges learnt, or QA_ERR naming the file that could not be written. */
int bpe_trainer_write(BpeTrainer *t, int n_merges, const char *vocab_path,
                      const char *merges_path);

#endif
