/* tests/fuzz/fuzz_grid.c: grid.json (sweep/grid.h grid_load). Only the file is read: no
 * identities are resolved, so nothing else on disk is touched. */
#include <string.h>

#include "sweep/grid.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Grid *g = NULL;
    if (grid_load(fuzz_file(0, data, size), &g) == 0) {
        FUZZ_CHECK(g && g->n_points > 0 && g->points, "a loaded grid has points");
        FUZZ_CHECK(g->n_teachers >= 1 && g->n_teachers <= GRID_MAX_TEACHERS, "%d teachers",
                   g->n_teachers);
        for (int i = 0; i < g->n_points; i++) {
            const GridPoint *p = &g->points[i];
            FUZZ_CHECK(p->teacher >= 0 && p->teacher < g->n_teachers, "point %d: teacher %d", i,
                       p->teacher);
            FUZZ_CHECK(p->spec.head_sparsity >= 0 && p->spec.head_sparsity <= 1 &&
                       p->spec.ffn_sparsity >= 0 && p->spec.ffn_sparsity <= 1,
                       "point %d: sparsity %g / %g", i, p->spec.head_sparsity,
                       p->spec.ffn_sparsity);
        }
        FUZZ_CHECK(*g->out && strlen(g->out) < sizeof g->out, "out is set");
    }
    grid_free(g);
    return 0;
}
