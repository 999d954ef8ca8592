/* matmul.h - Y = X · W^T for a quantized weight W and a batch of float activation rows X.
 *
 *   W: N rows of K elements (any supported type, used in place from the mapping)
 *   X: M rows of K floats (M tokens)
 *   Y: M rows of N floats, Y[m][n] = dot(W row n, X row m)
 *
 * The activations are converted once to the weight type's vec_dot_type (e.g. Q8_0 for
 * Q4_0 weights), then weight rows are split over the thread pool in chunks handed out
 * dynamically; each weight row, once loaded, is multiplied with all M activation rows. */
#ifndef GEMMA_MATMUL_H
#define GEMMA_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "threads.h"

typedef struct {
    threadpool *pool;
    void *qbuf;        /* scratch for quantized activations */
    size_t qbuf_size;
    void *amx_act, *amx_scratch;        /* AMX buffers, grown on first use (amx.h) */
    size_t amx_act_size, amx_scratch_size;
} matmul_ctx;

/* Y[M][N] = X[M][K] · W^T, W = N rows of `type` at `w` (row stride = row size of K). */
void matmul(matmul_ctx *mc, float *y, const void *w, uint32_t type, int64_t N, int64_t K,
            const float *x, int64_t M);

/* Bytes of scratch matmul needs for M rows of K elements, over all types. */
size_t matmul_scratch_size(int64_t K, int64_t M);

/* Free the buffers matmul grew for itself (not qbuf, which the owner of mc allocates). */
void matmul_ctx_release(matmul_ctx *mc);

/* Batches of at least m tokens use AMX tiles when the kernel set has them (default 16;
 * 0 = never). Returns the previous value. For tests and benchmarks. */
int matmul_set_amx_min_rows(int m);

#endif
