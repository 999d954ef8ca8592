/* matmul.c - the matrix multiply driver over the per-type kernels (quant.h).
 *
 * 1. Convert the M activation rows once to the weight type's vec_dot_type (Q8_0, Q8_K ...),
 *    all threads cooperating, then a barrier (the end of pool_run).
 * 2. Split the N weight rows into chunks handed out dynamically to the threads. Inside a
 *    chunk, tiles of up to GEMM_MAX_NW weight rows x GEMM_MAX_NA activation rows go to the
 *    type's tile kernel, or (types without one) each weight row is dotted with every
 *    activation row while it is hot in cache. */
#include "matmul.h"

#include <stdlib.h>
#include <string.h>

#include "amx.h"
#include "quant.h"
#include "util.h"

/* Batches of at least this many tokens go to the AMX tiles when the kernel set has them
 * (0: never). Below it the vector kernels win: a tile serves 16 tokens, and the weight
 * panel is unpacked once per call whatever the batch. */
static int amx_min_rows = 16;

int matmul_set_amx_min_rows(int m) {
    int old = amx_min_rows;
    amx_min_rows = m < 0 ? 0 : m;
    return old;
}

typedef struct {
    float *y;
    const uint8_t *w;
    size_t w_row;          /* bytes per weight row */
    const float *x;        /* f32 activations */
    uint8_t *a;            /* activations in vec_dot_type */
    size_t a_row;          /* bytes per activation row */
    int64_t N, K, M;
    uint32_t type;
    const type_traits *tt, *at;
    int64_t chunk;         /* weight rows per chunk */
    chunk_counter next;
    uint8_t *amx_act;      /* activations in the AMX tile layout */
    uint8_t *amx_scratch;  /* per-thread panels, amx_each bytes apart */
    size_t amx_each;
} matmul_job;

/* Step 1: thread ith converts rows ith, ith + nth, ... */
static void quantize_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    for (int64_t m = ith; m < j->M; m += nth)
        j->at->from_float(j->x + m * j->K, j->a + (size_t)m * j->a_row, j->K);
}

static void rows_times_all(const matmul_job *j, int64_t n0, int64_t n1) {
    vec_dot_fn dot = j->tt->vec_dot;
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *wrow = j->w + (size_t)n * j->w_row;
        for (int64_t m = 0; m < j->M; m++)
            dot((int)j->K, &j->y[m * j->N + n], wrow, j->a + (size_t)m * j->a_row);
    }
}

static void tiles(const matmul_job *j, int64_t n0, int64_t n1) {
    gemm_fn gemm = j->tt->gemm;
    for (int64_t m = 0; m < j->M; m += GEMM_MAX_NA) {
        int na = (int)(j->M - m < GEMM_MAX_NA ? j->M - m : GEMM_MAX_NA);
        for (int64_t n = n0; n < n1; n += GEMM_MAX_NW) {
            int nw = (int)(n1 - n < GEMM_MAX_NW ? n1 - n : GEMM_MAX_NW);
            gemm((int)j->K, &j->y[m * j->N + n], (size_t)j->N, j->w + (size_t)n * j->w_row,
                 j->w_row, j->a + (size_t)m * j->a_row, j->a_row, nw, na);
        }
    }
}

/* Step 2: chunks of weight rows, dynamically scheduled. */
static void matmul_worker(void *arg, int ith, int nth) {
    (void)ith;
    (void)nth;
    matmul_job *j = arg;
    int64_t n_chunks = (j->N + j->chunk - 1) / j->chunk;
    /* Tiles also for decode (M = 1): a tile of 8 weight rows shares one pass over the
     * activation row and one horizontal reduction, which keeps more loads in flight. */
    bool use_tiles = j->tt->gemm != NULL;
    for (int64_t c = chunks_next(&j->next); c < n_chunks; c = chunks_next(&j->next)) {
        int64_t n0 = c * j->chunk, n1 = n0 + j->chunk < j->N ? n0 + j->chunk : j->N;
        if (use_tiles) tiles(j, n0, n1);
        else rows_times_all(j, n0, n1);
    }
}

#if defined(__x86_64__)
/* ---- AMX (amx.h): the activations rearranged for the tiles, then 32-row chunks ---- */

static void amx_pack_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    int64_t groups = (j->M + AMX_TOKENS - 1) / AMX_TOKENS;
    for (int64_t g = ith; g < groups; g += nth)
        amx_pack_act(j->type, j->a, j->a_row, j->K, j->M, g, j->amx_act);
}

static void amx_worker(void *arg, int ith, int nth) {
    (void)nth;
    matmul_job *j = arg;
    int64_t n_chunks = (j->N + j->chunk - 1) / j->chunk;
    for (int64_t c = chunks_next(&j->next); c < n_chunks; c = chunks_next(&j->next)) {
        int64_t n0 = c * j->chunk, n1 = n0 + j->chunk < j->N ? n0 + j->chunk : j->N;
        amx_rows(j->type, j->y, j->N, j->w, j->w_row, j->K, n0, (int)(n1 - n0), j->amx_act, j->M,
                 j->amx_scratch + j->amx_each * (size_t)ith);
    }
}

/* Grow *buf to at least n bytes (matmul runs on the caller's thread, before pool_run). */
static void *grown(void **buf, size_t *size, size_t n) {
    if (*size < n) {
        free(*buf);
        *buf = xmalloc(n);
        *size = n;
    }
    return *buf;
}

static void matmul_amx(matmul_ctx *mc, matmul_job *j) {
    int nth = pool_size(mc->pool);
    j->amx_act = grown(&mc->amx_act, &mc->amx_act_size, amx_act_size(j->type, j->K, j->M));
    j->amx_each = amx_scratch_size(j->type, j->K);
    j->amx_scratch = grown(&mc->amx_scratch, &mc->amx_scratch_size, j->amx_each * (size_t)nth);
    pool_run(mc->pool, amx_pack_worker, j);
    j->chunk = 32;
    chunks_reset(&j->next);
    pool_run(mc->pool, amx_worker, j);
}
#endif

void matmul_ctx_release(matmul_ctx *mc) {
    free(mc->amx_act);
    free(mc->amx_scratch);
    mc->amx_act = mc->amx_scratch = NULL;
    mc->amx_act_size = mc->amx_scratch_size = 0;
}

size_t matmul_scratch_size(int64_t K, int64_t M) {
    /* Q8_K is the widest activation format per element (292 bytes per 256). */
    size_t per_row = ggml_row_size(GGML_TYPE_Q8_1, K);
    size_t k8 = (size_t)((K + QK_K - 1) / QK_K) * 292;
    if (k8 > per_row) per_row = k8;
    return per_row * (size_t)M;
}

void matmul(matmul_ctx *mc, float *y, const void *w, uint32_t type, int64_t N, int64_t K,
            const float *x, int64_t M) {
    matmul_job j = {0};
    j.type = type;
    j.tt = ggml_type_traits(type);
    j.at = ggml_type_traits(j.tt->vec_dot_type);
    j.y = y;
    j.w = w;
    j.w_row = ggml_row_size(type, K);
    j.x = x;
    j.N = N;
    j.K = K;
    j.M = M;
    if (j.tt->vec_dot_type == GGML_TYPE_F32) {
        j.a = (uint8_t *)x;
        j.a_row = (size_t)K * sizeof(float);
    } else {
        j.a_row = ggml_row_size(j.tt->vec_dot_type, K);
        j.a = mc->qbuf;
        if (M > 1) pool_run(mc->pool, quantize_worker, &j);
        else quantize_worker(&j, 0, 1);
    }
#if defined(__x86_64__)
    if (amx_min_rows > 0 && M >= amx_min_rows && quant_amx() && amx_supports(type, K, quant_amx_bf16())) {
        matmul_amx(mc, &j);
        return;
    }
#endif
    /* Chunks: enough of them (>= 4 per thread) that a slow thread never holds up the rest,
     * and a multiple of the tile height so tiles stay whole. */
    int nth = pool_size(mc->pool);
    j.chunk = M > 1 ? 32 : 64;
    while (j.chunk > GEMM_MAX_NW && (N + j.chunk - 1) / j.chunk < 4 * nth) j.chunk /= 2;
    if (M == 1) while (j.chunk > 1 && (N + j.chunk - 1) / j.chunk < 4 * nth) j.chunk /= 2;
    chunks_reset(&j.next);
    pool_run(mc->pool, matmul_worker, &j);
}
