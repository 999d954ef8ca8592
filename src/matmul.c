/* matmul.c - the matrix multiply driver over the per-type kernels (quant.h).
 *
 * A job is one or more products that share their input X (Q, K and V; gate and up), so that
 * X is converted once and the threads meet at as few barriers as possible:
 * 1. Convert the M activation rows once to each activation format the vector kernels need
 *    (the weights' vec_dot_type: Q8_0, Q8_K ...), all threads cooperating, then a barrier.
 * 2. With AMX (amx.h) and a batch of at least amx_min_rows tokens: rearrange the rows for
 *    the tiles, once per tile layout, then a barrier. A format only the tiles use is not
 *    converted in step 1: each group of 16 rows is converted here, into the thread's
 *    scratch, and rearranged from there while it is in cache.
 * 3. Split every product's N weight rows into chunks, handed out dynamically to the threads
 *    from one counter over all products. Inside a chunk: AMX tiles; or tiles of up to
 *    GEMM_MAX_NW weight rows x GEMM_MAX_NA activation rows through the type's tile kernel;
 *    or (types without one) each weight row dotted with every activation row while it is
 *    hot in cache. */
#include "matmul.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/amx.h"
#include "kernels/cpu.h"
#include "kernels/quant.h"
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

/* The activations in one format. */
typedef struct {
    uint32_t type;            /* a vec_dot_type; GGML_TYPE_F32: the input floats themselves */
    uint8_t *a;               /* NULL: not converted (only AMX parts use it, see step 2) */
    size_t a_row;             /* bytes per row */
    bool vector;              /* a part reads it with the vector kernels */
} act_format;

/* The activations in one AMX tile layout (one per activation format, F16 and BF16 apart). */
typedef struct {
    uint32_t key, type;       /* layout key; a weight type that uses it */
    const act_format *af;
    uint8_t *dst;
} amx_layout;

typedef struct {
    matmul_part p;
    const void *up;           /* matmul_geglu: the up rows beside p.w's gate rows */
    uint8_t *q8_out;          /* matmul_ffn: the gated outputs go here, packed (amx.h) */
    uint8_t *q8k_out;         /* the same for a Q8_K down input, 256 rows at a time */
    const type_traits *tt;
    size_t w_row;             /* bytes per weight row */
    const act_format *af;
    const amx_layout *amx;    /* NULL: vector kernels */
    int64_t chunk;            /* weight rows per chunk */
    int64_t first;            /* index of its first chunk in the job */
} part_job;

typedef struct {
    const float *x;
    int64_t K, M;
    part_job part[MATMUL_MAX_PARTS];
    act_format fmt[MATMUL_MAX_PARTS];
    amx_layout lay[MATMUL_MAX_PARTS];
    int n_part, n_fmt, n_lay;
    int64_t n_chunks;
    chunk_counter next;
    uint8_t *amx_scratch;     /* per-thread panels, amx_each bytes apart */
    size_t amx_each;
    bool packed;              /* the one part's activations are packed already (lay[0]) */
    float *rows256;           /* per thread: M x 256 gated outputs (q8k_out), M * 256 apart */
} matmul_job;

/* Step 1: thread ith converts (format, row) pairs ith, ith + nth, ... */
static void quantize_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    for (int64_t i = ith; i < j->n_fmt * j->M; i += nth) {
        const act_format *f = &j->fmt[i / j->M];
        int64_t m = i % j->M;
        if (f->type != GGML_TYPE_F32 && f->a)
            kernel_traits(f->type)->from_float(j->x + m * j->K, f->a + (size_t)m * f->a_row, j->K);
    }
}

static void rows_times_all(const matmul_job *j, const part_job *pj, int64_t n0, int64_t n1) {
    vec_dot_fn dot = pj->tt->vec_dot;
    const uint8_t *w = pj->p.w;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t m = 0; m < j->M; m++)
            dot((int)j->K, &pj->p.y[m * pj->p.N + n], w + (size_t)n * pj->w_row,
                pj->af->a + (size_t)m * pj->af->a_row);
}

/* Tiles also for decode (M = 1): a tile of 8 weight rows shares one pass over the
 * activation row and one horizontal reduction, which keeps more loads in flight. */
static void tiles(const matmul_job *j, const part_job *pj, int64_t n0, int64_t n1) {
    gemm_fn gemm = pj->tt->gemm;
    const uint8_t *w = pj->p.w;
    for (int64_t m = 0; m < j->M; m += GEMM_MAX_NA) {
        int na = (int)(j->M - m < GEMM_MAX_NA ? j->M - m : GEMM_MAX_NA);
        for (int64_t n = n0; n < n1; n += GEMM_MAX_NW) {
            int nw = (int)(n1 - n < GEMM_MAX_NW ? n1 - n : GEMM_MAX_NW);
            gemm((int)j->K, &pj->p.y[m * pj->p.N + n], (size_t)pj->p.N, w + (size_t)n * pj->w_row,
                 pj->w_row, pj->af->a + (size_t)m * pj->af->a_row, pj->af->a_row, nw, na);
        }
    }
}

#if defined(__x86_64__)
/* Rows n0 .. n1 - 1 of an AMX part: plain products, a gated pair (matmul_geglu), or a gated
 * pair quantized for the down projection (matmul_ffn: from the tiles for Q8_0; 256 rows
 * through the thread's buffer for Q8_K). */
static void amx_chunk(const matmul_job *j, const part_job *pj, int64_t n0, int64_t n1, uint8_t *scratch, int ith) {
    amx_geglu_fn geglu = vec_kernels_active()->geglu;
    if (pj->q8k_out) {
        float *buf = j->rows256 + (size_t)ith * (size_t)j->M * QK_K;
        const uint8_t *g = (const uint8_t *)pj->p.w + (size_t)n0 * pj->w_row;
        const uint8_t *u = (const uint8_t *)pj->up + (size_t)n0 * pj->w_row;
        for (int r0 = 0; r0 < QK_K; r0 += 16)
            amx_gated_rows(pj->p.type, buf, QK_K, g, u, pj->w_row, j->K, r0, 16, pj->amx->dst, j->M, scratch, geglu);
        amx_put_q8_k(buf, QK_K, j->M, pj->p.N, n0 / QK_K, pj->q8k_out);
    } else if (pj->q8_out) {
        amx_gated_rows_q8(pj->p.type, pj->q8_out, pj->p.N, pj->p.w, pj->up, pj->w_row, j->K, n0, pj->amx->dst,
                          j->M, scratch, geglu);
    } else if (pj->up) {
        amx_gated_rows(pj->p.type, pj->p.y, pj->p.N, pj->p.w, pj->up, pj->w_row, j->K, n0, (int)(n1 - n0),
                       pj->amx->dst, j->M, scratch, geglu);
    } else {
        amx_rows(pj->p.type, pj->p.y, pj->p.N, pj->p.w, pj->w_row, j->K, n0, (int)(n1 - n0), pj->amx->dst, j->M,
                 scratch);
    }
}
#endif

/* Step 3: chunks of weight rows of all parts, dynamically scheduled. */
static void matmul_worker(void *arg, int ith, int nth) {
    (void)nth;
    matmul_job *j = arg;
    for (int64_t c = chunks_next(&j->next); c < j->n_chunks; c = chunks_next(&j->next)) {
        const part_job *pj = &j->part[0];
        while (pj + 1 < j->part + j->n_part && c >= pj[1].first) pj++;
        int64_t n0 = (c - pj->first) * pj->chunk, n1 = n0 + pj->chunk < pj->p.N ? n0 + pj->chunk : pj->p.N;
#if defined(__x86_64__)
        if (pj->amx) {
            amx_chunk(j, pj, n0, n1, j->amx_scratch + j->amx_each * (size_t)ith, ith);
            continue;
        }
#else
        (void)ith;
#endif
        if (pj->tt->gemm) tiles(j, pj, n0, n1);
        else rows_times_all(j, pj, n0, n1);
    }
}

/* Grow *buf to at least n bytes (matmul runs on the caller's thread, before pool_run). */
static void *grown(void **buf, size_t *size, size_t n) {
    if (*size < n) {
        free_lines(*buf);
        *buf = xalloc_lines(n);
        *size = n;
    }
    return *buf;
}

#if defined(__x86_64__)
/* Step 2: thread ith rearranges (layout, token group) pairs ith, ith + nth, ... */
static void amx_pack_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    int64_t groups = (j->M + AMX_TOKENS - 1) / AMX_TOKENS;
    for (int64_t i = ith; i < j->n_lay * groups; i += nth) {
        const amx_layout *l = &j->lay[i / groups];
        const act_format *af = l->af;
        int64_t m0 = i % groups * AMX_TOKENS;
        int n = (int)(j->M - m0 < AMX_TOKENS ? j->M - m0 : AMX_TOKENS);
        const uint8_t *a;
        if (af->a) {
            a = af->a + (size_t)m0 * af->a_row;
        } else { /* convert the group's rows here (the scratch is free until step 3) */
            uint8_t *rows = j->amx_scratch + j->amx_each * (size_t)ith;
            for (int t = 0; t < n; t++)
                kernel_traits(af->type)->from_float(j->x + (m0 + t) * j->K, rows + (size_t)t * af->a_row, j->K);
            a = rows;
        }
        amx_pack_act(l->type, a, af->a_row, j->K, n, l->dst + amx_group_size(l->type, j->K) * (size_t)(m0 / AMX_TOKENS));
    }
}

/* F16 and BF16 weights both take f32 activations but lay them out differently. */
static uint32_t layout_key(uint32_t type, uint32_t vec_dot_type) {
    return type == GGML_TYPE_F16 || type == GGML_TYPE_BF16 ? type : vec_dot_type;
}

/* Which parts go to the AMX tiles, and their layouts (offsets for now). */
static size_t choose_amx(matmul_job *j, size_t *each) {
    size_t total = 0;
    *each = 0;
    if (!matmul_amx_batch(j->M)) return 0;
    for (int i = 0; i < j->n_part; i++) {
        part_job *pj = &j->part[i];
        if (!amx_supports(pj->p.type, j->K, quant_amx_bf16())) continue;
        uint32_t key = layout_key(pj->p.type, pj->tt->vec_dot_type);
        int k = 0;
        while (k < j->n_lay && j->lay[k].key != key) k++;
        if (k == j->n_lay) {
            j->lay[j->n_lay++] = (amx_layout){key, pj->p.type, pj->af, (uint8_t *)(uintptr_t)total};
            total += amx_act_size(pj->p.type, j->K, j->M);
        }
        pj->amx = &j->lay[k];
        size_t s = amx_scratch_size(pj->p.type, j->K), rows = AMX_TOKENS * pj->af->a_row;
        if (s < rows) s = rows; /* step 2 converts a group's rows in it */
        if (s > *each) *each = s;
    }
    return total;
}

/* Step 2: lay out the AMX parts' activations. */
static void pack_amx(matmul_ctx *mc, matmul_job *j, size_t total, size_t each) {
    if (!j->n_lay) return;
    uint8_t *base = grown(&mc->amx_act, &mc->amx_act_size, total);
    for (int k = 0; k < j->n_lay; k++) j->lay[k].dst = base + (uintptr_t)j->lay[k].dst;
    j->amx_each = each;
    j->amx_scratch = grown(&mc->amx_scratch, &mc->amx_scratch_size, each * (size_t)pool_size(mc->pool));
    pool_run(mc->pool, amx_pack_worker, j);
}
#endif

void matmul_ctx_release(matmul_ctx *mc) {
    free_lines(mc->amx_act);
    free_lines(mc->ffn_act);
    free_lines(mc->ffn_rows);
    free_lines(mc->amx_scratch);
    free_lines(mc->qmore);
    mc->amx_act = mc->ffn_act = mc->ffn_rows = mc->amx_scratch = mc->qmore = NULL;
    mc->amx_act_size = mc->ffn_act_size = mc->ffn_rows_size = mc->amx_scratch_size = mc->qmore_size = 0;
}

size_t matmul_scratch_size(int64_t K, int64_t M) {
    /* Q8_K is the widest activation format per element (292 bytes per 256). */
    size_t per_row = quant_row_size(GGML_TYPE_Q8_1, K);
    size_t k8 = (size_t)((K + QK_K - 1) / QK_K) * 292;
    if (k8 > per_row) per_row = k8;
    return per_row * (size_t)M;
}

/* The activation format of every part. */
static void assign_formats(matmul_job *j) {
    for (int i = 0; i < j->n_part; i++) {
        part_job *pj = &j->part[i];
        uint32_t t = pj->tt->vec_dot_type;
        int f = 0;
        while (f < j->n_fmt && j->fmt[f].type != t) f++;
        if (f == j->n_fmt)
            j->fmt[j->n_fmt++] = (act_format){t, NULL, t == GGML_TYPE_F32 ? (size_t)j->K * sizeof(float)
                                                                          : quant_row_size(t, j->K), false};
        pj->af = &j->fmt[f];
    }
}

/* Step 1: the formats the vector kernels need: the floats themselves (F32), or converted,
 * the first conversion into qbuf and any others into qmore. */
static void convert_inputs(matmul_ctx *mc, matmul_job *j) {
    for (int i = 0; i < j->n_part; i++)
        if (!j->part[i].amx) j->fmt[j->part[i].af - j->fmt].vector = true;
    size_t more = 0;
    int conv = 0;
    for (int f = 0; f < j->n_fmt; f++)
        if (j->fmt[f].type != GGML_TYPE_F32 && j->fmt[f].vector && conv++ > 0) more += j->fmt[f].a_row * (size_t)j->M;
    uint8_t *extra = more ? grown(&mc->qmore, &mc->qmore_size, more) : NULL;
    conv = 0;
    for (int f = 0; f < j->n_fmt; f++) {
        act_format *af = &j->fmt[f];
        if (af->type == GGML_TYPE_F32) {
            af->a = (uint8_t *)j->x;
        } else if (!af->vector) {
            af->a = NULL;
        } else if (conv++ == 0) {
            af->a = mc->qbuf;
        } else {
            af->a = extra;
            extra += af->a_row * (size_t)j->M;
        }
    }
    if (!conv) return;
    if (j->M > 1) pool_run(mc->pool, quantize_worker, j);
    else quantize_worker(j, 0, 1);
}

/* A job over parts[0 .. n-1] (their `up` still NULL). */
static void job_init(matmul_job *j, const matmul_part *parts, int n, int64_t K, const float *x, int64_t M) {
    memset(j, 0, sizeof *j);
    j->x = x;
    j->K = K;
    j->M = M;
    j->n_part = n < MATMUL_MAX_PARTS ? n : MATMUL_MAX_PARTS;
    for (int i = 0; i < j->n_part; i++) {
        j->part[i].p = parts[i];
        j->part[i].tt = kernel_traits(parts[i].type);
        j->part[i].w_row = quant_row_size(parts[i].type, K);
    }
}

/* Steps 1 to 3 for a job. */
static void job_run(matmul_ctx *mc, matmul_job *j) {
    int64_t M = j->M;
    if (!j->packed) {
        assign_formats(j);
#if defined(__x86_64__)
        size_t each, total = choose_amx(j, &each);
#endif
        convert_inputs(mc, j);
#if defined(__x86_64__)
        pack_amx(mc, j, total, each);
#endif
    }
    /* Chunks: enough of them (>= 4 per thread) that a slow thread never holds up the rest,
     * and a multiple of the tile height so tiles stay whole; 32 rows (two panels) for AMX,
     * 16 gate and 16 up rows for a gated part, 32 or 256 of each (one Q8_0 block or Q8_K
     * super-block of every token's output) when they go out packed. */
    int nth = pool_size(mc->pool);
    for (int i = 0; i < j->n_part; i++) {
        part_job *pj = &j->part[i];
        int64_t N = pj->p.N, c = pj->q8k_out ? QK_K : pj->q8_out ? 32 : pj->up ? 16 : M > 1 ? 32 : 64;
        if (!pj->amx) {
            while (c > GEMM_MAX_NW && (N + c - 1) / c < 4 * nth) c /= 2;
            if (M == 1) while (c > 1 && (N + c - 1) / c < 4 * nth) c /= 2;
        }
        pj->chunk = c;
        pj->first = j->n_chunks;
        j->n_chunks += (N + c - 1) / c;
    }
    chunks_reset(&j->next);
    pool_run(mc->pool, matmul_worker, j);
}

void matmul_many(matmul_ctx *mc, const matmul_part *parts, int n, int64_t K, const float *x, int64_t M) {
    matmul_job j;
    job_init(&j, parts, n, K, x, M);
    job_run(mc, &j);
}

bool matmul_amx_batch(int64_t M) {
#if defined(__x86_64__)
    return amx_min_rows > 0 && M >= amx_min_rows && quant_amx();
#else
    (void)M;
    return false;
#endif
}

bool matmul_fuses_geglu(uint32_t type, int64_t K, int64_t M) {
#if defined(__x86_64__)
    return matmul_amx_batch(M) && amx_gated_supports(type) && amx_supports(type, K, quant_amx_bf16());
#else
    (void)type, (void)K, (void)M;
    return false;
#endif
}

void matmul_geglu(matmul_ctx *mc, float *y, const void *gate, const void *up, uint32_t type, int64_t N,
                  int64_t K, const float *x, int64_t M) {
    matmul_part p = {y, gate, type, N};
    matmul_job j;
    job_init(&j, &p, 1, K, x, M);
    j.part[0].up = up;
    job_run(mc, &j);
}

bool matmul_fuses_ffn(uint32_t type, uint32_t down_type, int64_t E, int64_t F, int64_t M) {
#if defined(__x86_64__)
    if (!matmul_fuses_geglu(type, E, M) || !amx_supports(down_type, F, quant_amx_bf16())) return false;
    return (F % 32 == 0 && amx_gated_q8_supports(type, down_type)) || (F % QK_K == 0 && amx_q8_k_input(down_type));
#else
    (void)type, (void)down_type, (void)E, (void)F, (void)M;
    return false;
#endif
}

void matmul_ffn(matmul_ctx *mc, float *out, const void *gate, const void *up, uint32_t type, const void *down,
                uint32_t down_type, int64_t E, int64_t F, const float *x, int64_t M) {
#if defined(__x86_64__)
    /* the gated products, quantized into the down projection's groups: 32 rows x 16 tokens
     * at a time on the tiles (Q8_0), or 256 rows through a per-thread buffer (Q8_K) */
    bool q8_k = amx_q8_k_input(down_type);
    uint8_t *act = grown(&mc->ffn_act, &mc->ffn_act_size, amx_act_size(down_type, F, M));
    matmul_part p = {NULL, gate, type, F};
    matmul_job j;
    job_init(&j, &p, 1, E, x, M);
    j.part[0].up = up;
    if (q8_k) {
        j.part[0].q8k_out = act;
        j.rows256 = grown(&mc->ffn_rows, &mc->ffn_rows_size, (size_t)pool_size(mc->pool) * (size_t)M * QK_K * sizeof(float));
    } else {
        j.part[0].q8_out = act;
    }
    job_run(mc, &j);
    /* the down projection from them */
    matmul_part d = {out, down, down_type, E};
    job_init(&j, &d, 1, F, NULL, M);
    j.packed = true;
    j.lay[0] = (amx_layout){q8_k ? GGML_TYPE_Q8_K : GGML_TYPE_Q8_0, down_type, NULL, act};
    j.n_lay = 1;
    j.part[0].amx = &j.lay[0];
    j.amx_each = amx_scratch_size(down_type, F);
    j.amx_scratch = grown(&mc->amx_scratch, &mc->amx_scratch_size, j.amx_each * (size_t)pool_size(mc->pool));
    job_run(mc, &j);
#else
    (void)mc, (void)out, (void)gate, (void)up, (void)type, (void)down, (void)down_type, (void)E, (void)F, (void)x, (void)M;
#endif
}

void matmul(matmul_ctx *mc, float *y, const void *w, uint32_t type, int64_t N, int64_t K,
            const float *x, int64_t M) {
    matmul_part p = {y, w, type, N};
    matmul_many(mc, &p, 1, K, x, M);
}
