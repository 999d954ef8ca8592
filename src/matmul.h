/* matmul.h - Y = X · W^T for a quantized weight W and a batch of float activation rows X.
 *
 *   W: N rows of K elements (any supported type, used in place from the mapping)
 *   X: M rows of K floats (M tokens)
 *   Y: M rows of N floats, Y[m][n] = dot(W row n, X row m)
 *
 * The activations are converted once to the weight type's vec_dot_type (e.g. Q8_0 for
 * Q4_0 weights), then weight rows are split over the thread pool in chunks handed out
 * dynamically; each weight row, once loaded, is multiplied with all M activation rows.
 * Which kernels do the work is the active kernel set's business (kernels/dispatch.h): its
 * row dots and gemm tiles, or, for a large enough batch, its tile kernels. */
#ifndef GEMMA_MATMUL_H
#define GEMMA_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "threads.h"

typedef struct {
    threadpool *pool;
    void *qbuf;        /* scratch for quantized activations */
    size_t qbuf_size;
    void *qmore;       /* further activation formats of a matmul_many, grown on use */
    size_t qmore_size;
    void *tile_act, *tile_scratch;      /* tile kernels' packed activations and per-thread
                                           scratch, grown on first use */
    size_t tile_act_size, tile_scratch_size;
    void *ffn_act;                      /* matmul_ffn's packed intermediate, grown on use */
    size_t ffn_act_size;
    void *ffn_rows;                     /* matmul_ffn's per-thread rows for Q8_K */
    size_t ffn_rows_size;
} matmul_ctx;

/* An epilogue of a product: fn(arg, y, n) on each run of n finished outputs y = &Y[m][n0 ..
 * n0 + n - 1], called by the thread that computed them while they are in its cache (the
 * logits' soft-capping and copy into each sequence's buffer). Outputs are independent of the split, so is the epilogue's work. */
typedef void (*matmul_epilogue_fn)(const void *arg, float *y, int64_t n);

/* A prologue of a job: fn(arg, ith, nth) by each of its nth threads before it reads its
 * first weights (forward.c: the cache lines the next step will read, asked for on every core
 * that will read them). */
typedef void (*matmul_prologue_fn)(const void *arg, int ith, int nth);

/* One of several products that share their input (matmul_many): y = X · w^T, w = N rows
 * of `type`; then, if given, the epilogue on y. A part may have an input of its own (the
 * down products of the experts a token picked: one job for all of them). */
typedef struct {
    float *y;
    const void *w;
    uint32_t type;
    int64_t N;
    matmul_epilogue_fn epilogue;   /* NULL: none */
    const void *epilogue_arg;
    const float *x;                /* NULL: the job's X; else this part's M rows of K */
    matmul_prologue_fn prologue;   /* NULL: none; the job runs the first part's */
    const void *prologue_arg;
} matmul_part;
#define MATMUL_MAX_PARTS 16

/* Y[M][N] = X[M][K] · W^T, W = N rows of `type` at `w` (row stride = row size of K). */
void matmul(matmul_ctx *mc, float *y, const void *w, uint32_t type, int64_t N, int64_t K,
            const float *x, int64_t M);

/* Y_i = X · W_i^T for up to MATMUL_MAX_PARTS products that share X (M rows of K): Q, K and
 * V; gate and up; the gate and up products of several experts. X is converted once per
 * activation format (and each part's own input once), and all products' rows go to the
 * threads in one pass (one barrier, not one per product). */
void matmul_many(matmul_ctx *mc, const matmul_part *parts, int n, int64_t K, const float *x,
                 int64_t M);

/* Y[m][n] = gelu(X[m] . G[n]) * (X[m] . U[n]) for gate and up matrices G and U of the same
 * type and shape (N rows of K). Where the tile kernels take it, in one pass with the
 * activation applied to each output tile in registers; otherwise as two products and a
 * GeGLU pass, with `up_scratch` (M x N floats) holding the up products. */
void matmul_geglu(matmul_ctx *mc, float *y, const void *gate, const void *up, uint32_t type, int64_t N,
                  int64_t K, const float *x, int64_t M, float *up_scratch);

/* A GeGLU feed-forward: gate and up of F rows of E, down of E rows of F. */
typedef struct {
    const void *gate, *up, *down;
    uint32_t gate_type, up_type, down_type;
    int64_t E, F;
    bool stacked;     /* gate and up are the halves of one matrix of 2F rows (up follows
                         gate): one product of 2F rows */
} matmul_ffn_weights;

/* Floats of scratch matmul_ffn needs for M tokens: 2 M F, 3 M F for stacked gate and up. */
size_t matmul_ffn_scratch(const matmul_ffn_weights *w, int64_t M);

/* out[M][E] = W_down · (gelu(W_gate · x) * (W_up · x)), whatever the types and the batch.
 * Where the tile kernels take it, the F-wide intermediate goes from the gated tiles
 * straight into the down projection's packed activations (Q8_0 from registers; Q8_K through
 * a thread's cache-sized buffer of 256 rows), never written whole in f32; or the gated
 * products are fused on the tiles and the down projection follows; or (vector kernels) the
 * products, a GeGLU pass and the down projection. mid: matmul_ffn_scratch() floats. */
void matmul_ffn(matmul_ctx *mc, float *out, const matmul_ffn_weights *w, const float *x, int64_t M,
                float *mid);

/* Whether a batch of M rows goes to the active set's tile kernels (it has them, and M is
 * at least the minimum below); the attention of a batch follows the same rule. */
bool matmul_tile_batch(int64_t M);

/* Bytes of scratch matmul needs for M rows of K elements, over all types. */
size_t matmul_scratch_size(int64_t K, int64_t M);

/* Free the buffers matmul grew for itself (not qbuf, which the owner of mc allocates). */
void matmul_ctx_release(matmul_ctx *mc);

/* Batches of at least m tokens use the tile kernels when the kernel set has them (m < 0:
 * the set's own minimum, the default; 0 = never). Returns the previous value. For tests
 * and benchmarks. */
int matmul_set_tile_min_rows(int m);

#endif
