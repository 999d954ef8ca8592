/* repack.h - a model's weight matrices repacked once at load into the active kernel set's
 * row-panel layouts (kernels/quant.h, kernels/panels.c), in place of the mapped file's bytes.
 * See repack.c. */
#ifndef GEMMA_REPACK_H
#define GEMMA_REPACK_H

#include "model.h"

/* Repack every matrix the forward pass multiplies whose file type the active kernel set
 * repacks (the tied token_embd too), and fill m->repack. Nothing to repack, or no memory for
 * it: the weights stay as they are (never an error). */
void model_repack(gemma_model *m);
/* Give back the repacked weights' memory (model_free). */
void model_repack_free(gemma_model *m);

#endif
