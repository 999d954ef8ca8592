/* dump.h - GEMMA_DUMP: the activations at the block boundaries of a forward pass, printed or
 * written to files, to find the block where our numbers leave a reference's.
 *
 *   GEMMA_DUMP=NAME[,NAME...]   which points: NAME (every layer), NAME-N (layer N only),
 *                               all (every point), all-N (every point of layer N)
 *   GEMMA_DUMP_DIR=DIR          write DIR/NAME.f32 or DIR/NAME-N.f32, rows of little-endian
 *                               f32, one per token in the order computed, instead of
 *                               printing a summary of each to stderr
 *
 * The points, in the order context_eval reaches them, named after llama.cpp's intermediate
 * tensors (what its eval-callback tool prints) where there is one:
 *   inp_embd       token_embd rows, dequantized                        n_embd wide
 *   inp_scaled     inp_embd * sqrt(n_embd): the residual stream x      n_embd
 *   attn_norm-N    RMSNorm(x; attn_norm)                              n_embd
 *   kqv_out-N      the attention's output, before Wo                   n_head * head_dim
 *   attn_out-N     Wo · kqv_out, before the post-attention norm         n_embd
 *   ffn_inp-N      x after the attention's residual add (llama.cpp's gemma graphs: sa_out)
 *   ffn_out-N      the feed-forward's (or mixture of experts') output, before its post-norm
 *   l_out-N        x at the end of layer N                             n_embd
 *   result_norm    RMSNorm(x; output_norm), the rows whose logits are computed
 *   result_output  the logits, after the final soft-cap                n_vocab
 * The forward pass asks dump_rows() at each point only when a dumper exists (GEMMA_DUMP
 * set when the context was made), so an unset GEMMA_DUMP costs one test per point. */
#ifndef GEMMA_DUMP_H
#define GEMMA_DUMP_H

#include <stdbool.h>

typedef enum {
    DUMP_INP_EMBD,
    DUMP_INP_SCALED,
    DUMP_ATTN_NORM,
    DUMP_KQV_OUT,
    DUMP_ATTN_OUT,
    DUMP_FFN_INP,
    DUMP_FFN_OUT,
    DUMP_L_OUT,
    DUMP_RESULT_NORM,
    DUMP_RESULT_OUTPUT,
    DUMP_POINTS
} dump_point;

typedef struct dumper dumper;

/* A dumper for the spec (GEMMA_DUMP's value) and dir (GEMMA_DUMP_DIR's, NULL: print) on a
 * model of n_layer layers. *out = NULL for a NULL or empty spec. Returns -1 with a message
 * naming the variable for an unknown name, a layer out of range, or a dir that is not a
 * directory. */
int dumper_new(const char *spec, const char *dir, int n_layer, dumper **out, char *err);
void dumper_free(dumper *d);

/* The micro-batch that starts at position pos0: rows passed to dump_rows are its tokens. */
void dump_batch(dumper *d, int pos0);
/* Point p of layer il (-1 for the points outside the layers), if asked for: n rows of
 * `width` floats at x, the batch's tokens r0 .. r0 + n - 1. */
void dump_rows(dumper *d, dump_point p, int il, const float *x, int width, int n, int r0);
/* The first write error since the last call: -1 with its message in err; 0 if none. */
int dump_error(dumper *d, char *err);

#endif
