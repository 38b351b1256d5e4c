/* tests/fuzz/fuzz_config.c: a checkpoint's config.json (core/model/checkpoint.h
 * checkpoint_read_config), then the sizes that the sweep computes from a config before any
 * tensor is read (parameter count, forward FLOPs, the per-layer slices). */
#include "core/model/checkpoint.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    BertConfig c;
    if (checkpoint_read_config(fuzz_file(0, data, size), &c) != 0) return 0;
    FUZZ_CHECK(bert_config_check(&c) == 0, "a config read is a valid config");
    FUZZ_CHECK(c.num_layers >= 0 && c.num_layers <= BERT_MAX_LAYERS, "%d layers", c.num_layers);
    for (int l = 0; l < c.num_layers; l++) {
        BertSlice s = bert_slice(&c, l);
        FUZZ_CHECK(s.NH == c.heads[l] && s.F == c.ffn[l], "layer %d slice", l);
    }
    FUZZ_CHECK(bert_total_heads(&c) >= 0 && bert_total_ffn(&c) >= 0, "totals");
    bert_config_num_params(&c);
    bert_forward_flops(&c, 1, c.max_position);
    return 0;
}
