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
    void *amx_act, *amx_scratch;        /* AMX buffers, grown on first use (amx.h) */
    size_t amx_act_size, amx_scratch_size;
    void *ffn_act;                      /* matmul_ffn's packed intermediate, grown on use */
    size_t ffn_act_size;
    void *ffn_rows;                     /* matmul_ffn's per-thread rows for Q8_K */
    size_t ffn_rows_size;
} matmul_ctx;

/* One of several products that share their input (matmul_many): y = X · w^T, w = N rows
 * of `type`. */
typedef struct {
    float *y;
    const void *w;
    uint32_t type;
    int64_t N;
} matmul_part;
#define MATMUL_MAX_PARTS 4

/* Y[M][N] = X[M][K] · W^T, W = N rows of `type` at `w` (row stride = row size of K). */
void matmul(matmul_ctx *mc, float *y, const void *w, uint32_t type, int64_t N, int64_t K,
            const float *x, int64_t M);

/* Y_i = X · W_i^T for up to MATMUL_MAX_PARTS products that share X (M rows of K): Q, K and
 * V; gate and up. X is converted once per activation format, and all products' rows go to
 * the threads in one pass (one barrier, not one per product). */
void matmul_many(matmul_ctx *mc, const matmul_part *parts, int n, int64_t K, const float *x,
                 int64_t M);

/* Whether a batch of M rows goes to the AMX tiles (the CPU has them, and M is at least
 * the minimum set below). */
bool matmul_amx_batch(int64_t M);

/* Whether matmul_geglu can take a product of this shape: when the AMX tiles would (a batch
 * of at least the AMX minimum, a quantized type they support). */
bool matmul_fuses_geglu(uint32_t type, int64_t K, int64_t M);

/* Y[m][n] = gelu(X[m] . G[n]) * (X[m] . U[n]) for gate and up matrices G and U of the same
 * type and shape (N rows of K), in one pass: each output tile gets its activation in
 * registers (amx_gated_rows). Only where matmul_fuses_geglu says so. */
void matmul_geglu(matmul_ctx *mc, float *y, const void *gate, const void *up, uint32_t type, int64_t N,
                  int64_t K, const float *x, int64_t M);

/* Whether matmul_ffn can take a feed-forward of this shape: matmul_fuses_geglu, and either
 * gate and up in a per-block format (amx.h: amx_gated_q8_supports) with a down projection
 * whose activations are Q8_0 (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4) and F a multiple of 32, or
 * a down projection with Q8_K activations (the K-quants, IQ4_XS) and F a multiple of 256. */
bool matmul_fuses_ffn(uint32_t type, uint32_t down_type, int64_t E, int64_t F, int64_t M);

/* out[M][E] = W_down · (gelu(W_gate · x) * (W_up · x)) for gate and up of F rows of E
 * (`type`) and down of E rows of F (down_type), with the F-wide intermediate going from the
 * gated tiles straight into the down projection's packed activations (Q8_0 from registers;
 * Q8_K through a thread's cache-sized buffer of 256 rows): it is never written whole in f32,
 * read back, quantized and rearranged. Only where matmul_fuses_ffn says so. */
void matmul_ffn(matmul_ctx *mc, float *out, const void *gate, const void *up, uint32_t type, const void *down,
                uint32_t down_type, int64_t E, int64_t F, const float *x, int64_t M);

/* Bytes of scratch matmul needs for M rows of K elements, over all types. */
size_t matmul_scratch_size(int64_t K, int64_t M);

/* Free the buffers matmul grew for itself (not qbuf, which the owner of mc allocates). */
void matmul_ctx_release(matmul_ctx *mc);

/* Batches of at least m tokens use AMX tiles when the kernel set has them (default 16;
 * 0 = never). Returns the previous value. For tests and benchmarks. */
int matmul_set_amx_min_rows(int m);

#endif
