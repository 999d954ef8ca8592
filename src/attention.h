/* attention.h - the attention of a micro-batch over the KV cache (attention.c).
 *
 * forward.c's attention block projects Q, K and V, then hands them here:
 *   attention(a, il, q, k, v, out, M, pos0)
 * stores the layer's K and V in its cache (norms, RoPE) and writes, for each of the M tokens
 * and each query head, the softmax-weighted sum of the values its query sees. The context
 * holds one attn_ctx: the cache, the RoPE tables, the per-thread scratch. */
#ifndef GEMMA_ATTENTION_H
#define GEMMA_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "threads.h"
#include "util.h"

/* One layer's KV cache: a ring of `len` cells, cell = position % len, its elements of
 * type_k and type_v (GGML_TYPE_F32, F16, BF16 or Q8_0; doc/forward.md#kv-cache-types).
 * Keys are rows per cell, in the type's row format (Q8_0: blocks of 32 dims). Values are
 * transposed (rows per dim, over the cells), as attention sums over cells; Q8_0 values are
 * quantized per cell along the dims, like llama.cpp's, with each block's scale kept
 * apart: the rows of V^T hold the codes as Q8_0 blocks of 32 cells whose scale is 1, and
 * v_scale the scale of every (32 dims, cell). */
typedef struct {
    int len;          /* cells in this layer's ring (n_ctx, or the window + a batch) */
    int kv_dim;       /* n_head_kv * head_dim */
    uint32_t type_k, type_v;
    void *k;          /* [cells][k_row bytes]; cells = len padded to 32 (KV_PAD) */
    size_t k_row;     /* bytes per cell of k */
    void *v;          /* transposed, [kv_dim][v_row bytes]: attention sums over cells */
    int v_stride;     /* cells per row of v: len padded to an odd number of cache lines (of
                         64 bytes; of 34-byte blocks for Q8_0) */
    size_t v_row;     /* bytes per row of v */
    float *v_scale;   /* Q8_0 values: [kv_dim / 32][v_stride], the scale of dims 32b .. 32b + 31
                         of each cell; NULL for the other types */
    int32_t *pos;     /* position stored in each cell, -1 if empty */
} kv_layer;

/* RoPE angles of a batch's positions for one class of layers, [n_ubatch][n_rot/2] */
typedef struct {
    float *cos, *sin;
    int pos0, n;      /* they hold positions pos0 .. pos0 + n - 1 (n = 0: none yet) */
} rope_tab;

typedef struct {
    const gemma_model *m;
    threadpool *pool;
    kv_layer *kv;                /* per layer; len 0 for layers that read another layer's cache */
    double **inv_freq;           /* per layer: RoPE inverse frequencies */
    int *rope_class;             /* per layer: its angle table; layers with the same n_rot and
                                    frequencies share one (Gemma 3 and 4: sliding, global) */
    rope_tab *rope;              /* per class: the angles of the batch's positions */
    int n_rope;
    float *scratch;              /* per thread: scores, P·V, running max and sum, and the
                                    tile kernels' forms of queries and probabilities */
    size_t scratch_each;         /* floats of it per thread */
    struct {
        void *data;          /* one layer's K and V packed for the tile kernels' attention
                                (kernels/dispatch.h), per kv head; NULL: none */
        size_t head_bytes;   /* bytes per kv head in it */
        int layer, b0, b1;   /* it holds blocks b0 .. b1 - 1 of that layer's cache (layer
                                -1: nothing valid) */
    } packed;
} attn_ctx;

/* The kernel would happily hand out the virtual memory and fail later: refuse, with the
 * size, a cache of n_ctx tokens (micro-batches of n_ubatch) larger than the machine's memory. */
int kv_cache_check(const gemma_model *m, int n_ctx, int n_ubatch, uint32_t type_k, uint32_t type_v, char *err);

/* Set up a for model m, contexts of n_ctx tokens, micro-batches of up to n_ubatch tokens and
 * the threads of pool: the KV cache of keys type_k and values type_v (kv_cache_check has
 * accepted them) (its bytes added to *kv_bytes), the RoPE tables and
 * the per-thread scratch (to *scratch_bytes). Allocation failures go to alloc; release with
 * attn_ctx_release whether or not it failed. */
void attn_ctx_init(attn_ctx *a, const gemma_model *m, threadpool *pool, int n_ctx, int n_ubatch,
                   uint32_t type_k, uint32_t type_v, setup_alloc *alloc, size_t *kv_bytes, size_t *scratch_bytes);
void attn_ctx_release(attn_ctx *a);

/* Every cell empty. */
void kv_cache_clear(attn_ctx *a);
/* Whether the cache still holds every cell that the tokens after the first n would see:
 * false when a sliding layer's ring has overwritten a position inside the window. */
bool kv_cache_holds(const attn_ctx *a, int n);

/* Ask the memory for the cache lines that storing the K and V of the token at `pos` in
 * layer il will write (a no-op on a layer that reads another layer's cache). At one token
 * these lines are cold (the whole model streamed through the caches since the last token)
 * and the transposed V makes them one line per dimension, so the stores wait on a miss
 * each; asked for as the layer's Q/K/V product starts (forward.c), the misses overlap its
 * streaming. Thread ith of nth asks for kv heads ith, ith + nth, ...: at one token the
 * attention's tasks take the kv heads in turn, and each head is stored by the thread that
 * attends it (lines asked for on another core would move between the two). */
void attention_prefetch_cell(const attn_ctx *a, int il, int pos, int ith, int nth);

/* The same for the cells the token at `pos` will attend to (at most `max_cells` of them:
 * the first ones; a long context's rows are long enough for the hardware prefetchers): the
 * keys and, in each dimension's row of the transposed V, the values. Also cold at one token,
 * and V's rows are short runs the hardware prefetchers do not pick up: gemma3-1b Q4_0
 * decode at up to 256 tokens of context spent 30-44 us a layer in attention, 21-24 with
 * them asked for before the Q/K/V product (3-5 % of a token). Each core that will read them
 * asks: a line in another core's cache is a transfer, not a hit; with at least as many kv
 * heads as threads, thread ith asks for the heads it will attend (as above). */
void attention_prefetch_cells(const attn_ctx *a, int il, int pos, int max_cells, int ith, int nth);

/* Attention of layer il for the M tokens at positions pos0 .. pos0 + M - 1
 * (doc/forward.md#attention-block):
 *   q    M rows of n_head * head_dim: the projected queries (normalised, rotated and scaled
 *        here, in place)
 *   k, v M rows of n_head_kv * head_dim: the projected keys and values, normalised, rotated
 *        and stored into the layer's cache first (in place); unused on a layer that reads
 *        another layer's cache
 *   out  M rows of n_head * head_dim: each head's attention output */
void attention(attn_ctx *a, int il, float *q, float *k, float *v, float *out, int M, int pos0);

/* attention() of layer il for several sequences, each on its own context's cache (a), at
 * its own positions, all on pool's threads in one run (each context's scratch must have a
 * slot for each of them): a server's step of one token per sequence meets the threads once
 * per layer, not once per sequence. */
typedef struct {
    attn_ctx *a;
    float *q, *k, *v, *out;
    int M, pos0;
} attn_seq;
void attention_seqs(const attn_seq *seqs, int n, int il, threadpool *pool);

#endif
