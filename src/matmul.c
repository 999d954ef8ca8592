/* matmul.c - the matrix multiply driver over the active kernel set (kernels/dispatch.h).
 *
 * A job is one or more products that share their input X (Q, K and V; gate and up), so that
 * X is converted once and the threads meet at as few barriers as possible:
 * 1. Convert the M activation rows once to each activation format the vector kernels need
 *    (the weights' vec_dot_type: Q8_0, Q8_K, Q8_0S for the panel layouts ...), all threads
 *    cooperating, then a barrier.
 * 2. With tile kernels (the set's `tile`) and a batch of at least tile_min_rows tokens: pack
 *    the rows for the tiles, once per layout, then a barrier. A format only the tiles use is
 *    not converted in step 1: each group of rows is converted here, into the thread's
 *    scratch, and packed from there while it is in cache.
 * 3. Split the job's weight rows into units (a panel of a repacked matrix, or a chunk of
 *    rows) and the units into contiguous ranges the threads claim (split_claim below): each
 *    thread streams its rows front to back as one sequential read, and the threads meet
 *    wherever the work balances. Inside a claim: the panel kernel over all its panels (weights
 *    repacked at load, quant.h's panel layouts); the tile kernels; tiles of up to
 *    GEMM_MAX_NW weight rows x GEMM_MAX_NA activation rows through the type's gemm kernel;
 *    or (types without one) each weight row dotted with every activation row while it is
 *    hot in cache. A row is always summed by one thread in one order, so results do not
 *    depend on the thread count.
 * The feed-forward (matmul_ffn) is one call whatever the kernels: fused on the tiles from
 * gate and up into the down projection's packed input where they take it, gated on the
 * tiles where they take that, else two products, GeGLU and the down projection. */
#include "matmul.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "util.h"

/* Batches of at least this many tokens go to the tile kernels when the kernel set has them
 * (0: never; < 0: the set's own minimum). Below it the vector kernels win: the weight panels
 * are unpacked once per call whatever the batch. */
static int tile_min_rows = -1;

int matmul_set_tile_min_rows(int m) {
    int old = tile_min_rows;
    tile_min_rows = m;
    return old;
}

/* The active set's tile kernels if a batch of M rows goes to them, else NULL. */
static const tile_kernels *tiles_for(int64_t M) {
    const tile_kernels *t = &kernels_active()->tile;
    int min = tile_min_rows < 0 ? t->min_batch : tile_min_rows;
    return t->group && min > 0 && M >= min ? t : NULL;
}

bool matmul_tile_batch(int64_t M) { return tiles_for(M) != NULL; }

/* The activations in one format: one input (the job's, or a part's own) in one type. */
typedef struct {
    const float *x;           /* the input rows */
    uint32_t type;            /* a vec_dot_type; GGML_TYPE_F32: the input floats themselves */
    uint8_t *a;               /* NULL: not converted (only tile parts use it, see step 2) */
    size_t a_row;             /* bytes per row */
    bool vector;              /* a part reads it with the vector kernels */
} act_format;

/* The activations packed for the tile kernels, one per layout and input. */
typedef struct {
    uint32_t key, type;       /* the layout; a weight type that uses it */
    const act_format *af;
    uint8_t *dst;
} tile_layout;

typedef struct {
    matmul_part p;
    const void *up;           /* gated: the up rows beside p.w's gate rows */
    uint8_t *q8_out;          /* gated outputs packed as the down projection's Q8_0 input */
    uint8_t *q8k_out;         /* the same for a Q8_K down input, 256 rows at a time */
    const type_traits *tt;
    size_t w_row;             /* bytes per weight row */
    const act_format *af;
    const tile_layout *tiled; /* NULL: vector kernels */
    int64_t chunk;            /* weight rows per unit: a panel, or a chunk of rows */
    int64_t units;            /* units of the part */
    size_t unit_bytes;        /* weight bytes per unit */
    int64_t first;            /* index of its first unit in the job */
} part_job;

/* ---- the split of a job's units between the threads ----
 * The units 0 .. U-1 (the parts' units one after the other) are cut into contiguous ranges,
 * one per thread (up to SPLIT_RANGES; beyond that two threads share a range, one claiming
 * from its front, the other from its back). A thread claims runs of units from the front of
 * its own range and reads each run front to back, so its claims follow each other: one
 * sequential stream per thread, which is what the hardware prefetchers follow best (42-54
 * GB/s on this Zen 4 against 17-18 with rows handed out in small dynamic chunks). A claim is
 * a quarter of what the range still holds (at least min_claim units): large at first, one
 * or two units at the end, a few dozen atomic operations per job. A thread whose range is
 * empty takes from the back of the others', so wherever one thread is slower the others
 * finish its work and all end together. (Ranges shared by pairs of threads, the odd one
 * claiming from the back, read about 2-4 % slower in decode's small products: each of its
 * claims lay before the last one, a new stream for the prefetchers every time.) One 64-bit
 * word per range holds both ends, so one compare-and-swap claims. */
#define SPLIT_RANGES 16

typedef struct {
    _Alignas(64) _Atomic uint64_t span;   /* lo | hi << 32: the units nobody claimed yet */
} unit_range;

typedef struct {
    unit_range range[SPLIT_RANGES];
    int n_ranges;
    uint32_t min_claim;
} unit_split;

static void split_init(unit_split *s, int64_t units, int nth, uint32_t min_claim) {
    s->n_ranges = nth < SPLIT_RANGES ? nth : SPLIT_RANGES;
    s->min_claim = min_claim ? min_claim : 1;
    for (int r = 0; r < s->n_ranges; r++) {
        uint64_t lo = (uint64_t)(units * r / s->n_ranges), hi = (uint64_t)(units * (r + 1) / s->n_ranges);
        atomic_init(&s->range[r].span, lo | hi << 32);
    }
}

/* Claim units from the front or the back of a range: false when it is empty. */
static bool range_take(unit_range *r, bool back, uint32_t min_claim, int64_t *u0, int64_t *u1) {
    uint64_t s = atomic_load_explicit(&r->span, memory_order_relaxed);
    for (;;) {
        uint32_t lo = (uint32_t)s, hi = (uint32_t)(s >> 32);
        if (lo >= hi) return false;
        uint32_t n = (hi - lo) / 4;
        if (n < min_claim) n = min_claim;
        if (n > hi - lo) n = hi - lo;
        uint64_t next = back ? lo | (uint64_t)(hi - n) << 32 : (uint64_t)(lo + n) | (uint64_t)hi << 32;
        if (atomic_compare_exchange_weak_explicit(&r->span, &s, next, memory_order_relaxed, memory_order_relaxed)) {
            *u0 = back ? hi - n : lo;
            *u1 = back ? hi : lo + n;
            return true;
        }
    }
}

/* Thread ith's next run of units [*u0, *u1): from its own range (from the back if it is the
 * second thread on it), then from the back of the others'. */
static bool split_claim(unit_split *s, int ith, int64_t *u0, int64_t *u1) {
    int home = ith % s->n_ranges;
    bool second = ith / s->n_ranges % 2 == 1;
    for (int k = 0; k < s->n_ranges; k++)
        if (range_take(&s->range[(home + k) % s->n_ranges], k > 0 || second, s->min_claim, u0, u1)) return true;
    return false;
}

typedef struct {
    const float *x;
    int64_t K, M;
    const tile_kernels *tiles;/* the set's tile kernels, NULL: not for this batch */
    part_job part[MATMUL_MAX_PARTS];
    act_format fmt[MATMUL_MAX_PARTS];
    tile_layout lay[MATMUL_MAX_PARTS];
    int n_part, n_fmt, n_lay;
    int64_t n_units;
    unit_split split;
    uint8_t *tile_scratch;    /* per-thread scratch, tile_each bytes apart */
    size_t tile_each;
    bool packed;              /* the one part's activations are packed already (lay[0]) */
    float *rows256;           /* per thread: M x 256 gated outputs (q8k_out), M * 256 apart */
    /* one token: its row made (prep) and converted by the threads of the run, in chunks */
    rows_fn prep;             /* NULL, or prep(prep_arg, k0, k1) writes x[k0 .. k1) first */
    const void *prep_arg;
    int64_t conv_chunk;       /* elements per chunk; 0: converted before the run */
    int n_chunks;
    chunk_counter conv_next;  /* the next chunk to claim */
    atomic_int conv_done, conv_ready;
} matmul_job;

/* Step 1: thread ith converts (format, row) pairs ith, ith + nth, ... */
static void quantize_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    for (int64_t i = ith; i < j->n_fmt * j->M; i += nth) {
        const act_format *f = &j->fmt[i / j->M];
        int64_t m = i % j->M;
        if (f->type != GGML_TYPE_F32 && f->a)
            kernel_traits(f->type)->from_float(f->x + m * j->K, f->a + (size_t)m * f->a_row, j->K);
    }
}

/* ---- one token's row, converted in the run ----
 * At one token (decode) converting the activation row (and, before the down projection,
 * making it: GeGLU of the gate and up products) was serial work on the caller between two
 * products, 1-9 us each while the other threads waited (gemma3-1b: 105 conversions and 26
 * GeGLUs a token, 2-3 % of it). So it is done at the start of the run: the threads claim
 * chunks of the row (prep, then every format of the chunk), then wait until the last chunk
 * is done - only for chunks in progress, so a thread that joins late leaves its share to the
 * others. Each block is converted by itself whatever the chunking (per-block formats), so
 * the bytes are the same as one conversion of the whole row. A row shorter than IN_RUN_MIN_K
 * with nothing to make is converted on the caller: 0.2-0.3 us for gemma3-1b's 1152, against
 * about 1 us for the run's chunks to go round (each claim and count a cache line that
 * crosses cores). */
#define IN_RUN_MIN_K 4096

static void convert_chunk(const matmul_job *j, int c) {
    int64_t k0 = c * j->conv_chunk, k1 = k0 + j->conv_chunk < j->K ? k0 + j->conv_chunk : j->K;
    if (j->prep) j->prep(j->prep_arg, (int)k0, (int)k1);
    for (int f = 0; f < j->n_fmt; f++) {
        const act_format *af = &j->fmt[f];
        if (af->type != GGML_TYPE_F32 && af->a)
            kernel_traits(af->type)->from_float(af->x + k0, af->a + quant_row_size(af->type, k0), k1 - k0);
    }
}

static void convert_in_run(matmul_job *j) {
    for (int c; (c = chunks_next(&j->conv_next)) < j->n_chunks;) {
        convert_chunk(j, c);
        if (atomic_fetch_add_explicit(&j->conv_done, 1, memory_order_acq_rel) == j->n_chunks - 1)
            atomic_store_explicit(&j->conv_ready, 1, memory_order_release);
    }
    pool_wait_flag(&j->conv_ready);
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

/* Rows n0 .. n1 - 1 of a part on the tile kernels: plain products, a gated pair
 * (matmul_geglu), or a gated pair quantized for the down projection (matmul_ffn: from the
 * tiles for Q8_0; 256 rows through the thread's buffer for Q8_K). */
static void tile_chunk(const matmul_job *j, const part_job *pj, int64_t n0, int64_t n1, uint8_t *scratch, int ith) {
    const tile_kernels *t = j->tiles;
    geglu_fn geglu = kernels_active()->vec.geglu;
    if (pj->q8k_out) {
        float *buf = j->rows256 + (size_t)ith * (size_t)j->M * QK_K;
        const uint8_t *g = (const uint8_t *)pj->p.w + (size_t)n0 * pj->w_row;
        const uint8_t *u = (const uint8_t *)pj->up + (size_t)n0 * pj->w_row;
        for (int r0 = 0; r0 < QK_K; r0 += t->panel)
            t->gated_rows(pj->p.type, buf, QK_K, g, u, pj->w_row, j->K, r0, t->panel, pj->tiled->dst, j->M, scratch,
                          geglu);
        t->put_q8_k(buf, QK_K, j->M, pj->p.N, n0 / QK_K, pj->q8k_out);
    } else if (pj->q8_out) {
        t->gated_rows_q8(pj->p.type, pj->q8_out, pj->p.N, pj->p.w, pj->up, pj->w_row, j->K, n0, pj->tiled->dst, j->M,
                         scratch, geglu);
    } else if (pj->up) {
        t->gated_rows(pj->p.type, pj->p.y, pj->p.N, pj->p.w, pj->up, pj->w_row, j->K, n0, (int)(n1 - n0),
                      pj->tiled->dst, j->M, scratch, geglu);
    } else {
        t->rows(pj->p.type, pj->p.y, pj->p.N, pj->p.w, pj->w_row, j->K, n0, (int)(n1 - n0), pj->tiled->dst, j->M,
                scratch);
    }
}

/* Weight bytes a panel kernel call covers when a batch has several rows (the call then runs
 * each group of activation rows over all its panels, which stay in L2), and activation rows
 * per call (their quantized rows stay in L2 beside them). */
#define PANEL_CALL_BYTES (96 << 10)
#define PANEL_CALL_ROWS 64

/* Units u0 .. u1 - 1 of a part with a panel layout: the panel kernel on all their rows. */
static void panel_units(const matmul_job *j, const part_job *pj, int64_t u0, int64_t u1) {
    panel_fn dot = pj->tt->panel_dot;
    int64_t N = pj->p.N, per_call = u1 - u0;
    if (j->M > 1) {
        per_call = (int64_t)(PANEL_CALL_BYTES / pj->unit_bytes);
        if (per_call < 1) per_call = 1;
    }
    for (int64_t u = u0; u < u1; u += per_call) {
        int64_t v = u + per_call < u1 ? u + per_call : u1;
        int64_t r0 = u * pj->chunk, r1 = v * pj->chunk < N ? v * pj->chunk : N;
        const uint8_t *w = (const uint8_t *)pj->p.w + (size_t)u * pj->unit_bytes;
        for (int64_t m = 0; m < j->M; m += PANEL_CALL_ROWS)
            dot(j->K, pj->p.y + m * N + r0, (size_t)N, w, r1 - r0, pj->af->a + (size_t)m * pj->af->a_row,
                pj->af->a_row, j->M - m < PANEL_CALL_ROWS ? j->M - m : PANEL_CALL_ROWS);
    }
}

/* Units u0 .. u1 - 1 of a part (chunks of rows, or panels), then the part's epilogue on
 * their outputs while they are in this thread's cache. */
static void part_units(const matmul_job *j, const part_job *pj, int64_t u0, int64_t u1, int ith) {
    if (pj->tt->panel_dot) {
        panel_units(j, pj, u0, u1);
    } else {
        for (int64_t u = u0; u < u1; u++) {
            int64_t n0 = u * pj->chunk, n1 = n0 + pj->chunk < pj->p.N ? n0 + pj->chunk : pj->p.N;
            if (pj->tiled) tile_chunk(j, pj, n0, n1, j->tile_scratch + j->tile_each * (size_t)ith, ith);
            else if (pj->tt->gemm) tiles(j, pj, n0, n1);
            else rows_times_all(j, pj, n0, n1);
        }
    }
    if (pj->p.epilogue) {
        int64_t n0 = u0 * pj->chunk, n1 = u1 * pj->chunk < pj->p.N ? u1 * pj->chunk : pj->p.N;
        for (int64_t m = 0; m < j->M; m++) pj->p.epilogue(pj->p.epilogue_arg, pj->p.y + m * pj->p.N + n0, n1 - n0);
    }
}

/* Step 3: the job's prologue, then the runs of units each thread claims, over all parts. */
static void matmul_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    int64_t u0, u1;
    if (j->part[0].p.prologue) j->part[0].p.prologue(j->part[0].p.prologue_arg, ith, nth);
    if (j->n_chunks) convert_in_run(j);
    while (split_claim(&j->split, ith, &u0, &u1)) {
        const part_job *pj = &j->part[0];
        for (int64_t u = u0; u < u1;) {
            while (pj + 1 < j->part + j->n_part && u >= pj[1].first) pj++;
            int64_t end = pj->first + pj->units < u1 ? pj->first + pj->units : u1;
            part_units(j, pj, u - pj->first, end - pj->first, ith);
            u = end;
        }
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

/* Bytes of the packed activations of M tokens in a layout. */
static size_t packed_size(const tile_kernels *t, uint32_t type, int64_t K, int64_t M) {
    return t->group_size(type, K) * (size_t)((M + t->group - 1) / t->group);
}

/* Step 2: thread ith packs (layout, token group) pairs ith, ith + nth, ... */
static void pack_worker(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    const tile_kernels *t = j->tiles;
    int64_t groups = (j->M + t->group - 1) / t->group;
    for (int64_t i = ith; i < j->n_lay * groups; i += nth) {
        const tile_layout *l = &j->lay[i / groups];
        const act_format *af = l->af;
        int64_t m0 = i % groups * t->group;
        int n = (int)(j->M - m0 < t->group ? j->M - m0 : t->group);
        const uint8_t *a;
        if (af->a) {
            a = af->a + (size_t)m0 * af->a_row;
        } else { /* convert the group's rows here (the scratch is free until step 3) */
            uint8_t *rows = j->tile_scratch + j->tile_each * (size_t)ith;
            for (int r = 0; r < n; r++)
                kernel_traits(af->type)->from_float(af->x + (m0 + r) * j->K, rows + (size_t)r * af->a_row, j->K);
            a = rows;
        }
        t->pack(l->type, a, af->a_row, j->K, n, l->dst + t->group_size(l->type, j->K) * (size_t)(m0 / t->group));
    }
}

/* Which parts go to the tile kernels, and their layouts (offsets for now). */
static size_t choose_tiles(matmul_job *j, size_t *each) {
    const tile_kernels *t = j->tiles;
    size_t total = 0;
    *each = 0;
    if (!t) return 0;
    for (int i = 0; i < j->n_part; i++) {
        part_job *pj = &j->part[i];
        if (!t->supports(pj->p.type, j->K)) continue;
        uint32_t key = t->layout(pj->p.type);
        int k = 0;
        while (k < j->n_lay && (j->lay[k].key != key || j->lay[k].af->x != pj->af->x)) k++;
        if (k == j->n_lay) {
            j->lay[j->n_lay++] = (tile_layout){key, pj->p.type, pj->af, (uint8_t *)(uintptr_t)total};
            total += packed_size(t, pj->p.type, j->K, j->M);
        }
        pj->tiled = &j->lay[k];
        size_t s = t->scratch_size(pj->p.type, j->K), rows = (size_t)t->group * pj->af->a_row;
        if (s < rows) s = rows; /* step 2 converts a group's rows in it */
        if (s > *each) *each = s;
    }
    return total;
}

/* Step 2: pack the tile parts' activations. */
static void pack_tiles(matmul_ctx *mc, matmul_job *j, size_t total, size_t each) {
    if (!j->n_lay) return;
    uint8_t *base = grown(&mc->tile_act, &mc->tile_act_size, total);
    for (int k = 0; k < j->n_lay; k++) j->lay[k].dst = base + (uintptr_t)j->lay[k].dst;
    j->tile_each = each;
    j->tile_scratch = grown(&mc->tile_scratch, &mc->tile_scratch_size, each * (size_t)pool_size(mc->pool));
    pool_run(mc->pool, pack_worker, j);
}

void matmul_ctx_release(matmul_ctx *mc) {
    free_lines(mc->tile_act);
    free_lines(mc->ffn_act);
    free_lines(mc->ffn_rows);
    free_lines(mc->tile_scratch);
    free_lines(mc->qmore);
    mc->tile_act = mc->ffn_act = mc->ffn_rows = mc->tile_scratch = mc->qmore = NULL;
    mc->tile_act_size = mc->ffn_act_size = mc->ffn_rows_size = mc->tile_scratch_size = mc->qmore_size = 0;
}

size_t matmul_scratch_size(int64_t K, int64_t M) {
    /* The widest activation format per element: BF16 (2 bytes; BF16_R16's), or Q8_K for
     * rows shorter than a super-block (292 bytes for up to 256). Q8_0S takes 40 per 32. */
    size_t per_row = quant_row_size(GGML_TYPE_BF16, K);
    size_t k8 = (size_t)((K + QK_K - 1) / QK_K) * 292;
    if (k8 > per_row) per_row = k8;
    return per_row * (size_t)M;
}

/* The activation format of every part: its input in its weights' vec_dot_type. */
static void assign_formats(matmul_job *j) {
    for (int i = 0; i < j->n_part; i++) {
        part_job *pj = &j->part[i];
        uint32_t t = pj->tt->vec_dot_type;
        const float *x = pj->p.x ? pj->p.x : j->x;
        int f = 0;
        while (f < j->n_fmt && (j->fmt[f].type != t || j->fmt[f].x != x)) f++;
        if (f == j->n_fmt)
            j->fmt[j->n_fmt++] = (act_format){x, t, NULL, t == GGML_TYPE_F32 ? (size_t)j->K * sizeof(float)
                                                                             : quant_row_size(t, j->K), false};
        pj->af = &j->fmt[f];
    }
}

/* Step 1: the formats the vector kernels need: the floats themselves (F32), or converted,
 * the first conversion into qbuf and any others into qmore. */
static void convert_inputs(matmul_ctx *mc, matmul_job *j) {
    for (int i = 0; i < j->n_part; i++)
        if (!j->part[i].tiled) j->fmt[j->part[i].af - j->fmt].vector = true;
    size_t more = 0;
    int conv = 0;
    for (int f = 0; f < j->n_fmt; f++)
        if (j->fmt[f].type != GGML_TYPE_F32 && j->fmt[f].vector && conv++ > 0) more += j->fmt[f].a_row * (size_t)j->M;
    uint8_t *extra = more ? grown(&mc->qmore, &mc->qmore_size, more) : NULL;
    conv = 0;
    for (int f = 0; f < j->n_fmt; f++) {
        act_format *af = &j->fmt[f];
        if (af->type == GGML_TYPE_F32) {
            af->a = (uint8_t *)af->x;
        } else if (!af->vector) {
            af->a = NULL;
        } else if (conv++ == 0) {
            af->a = mc->qbuf;
        } else {
            af->a = extra;
            extra += af->a_row * (size_t)j->M;
        }
    }
    if (!conv && !j->prep) return;
    if (j->M == 1 && pool_active(mc->pool) > 1 && !j->tiles && (j->prep || j->K >= IN_RUN_MIN_K)) {
        /* in the run: chunks of whole super-blocks */
        int nth = pool_active(mc->pool);
        j->conv_chunk = (j->K + 2 * nth - 1) / (2 * nth);
        j->conv_chunk = (j->conv_chunk + QK_K - 1) / QK_K * QK_K;
        j->n_chunks = (int)((j->K + j->conv_chunk - 1) / j->conv_chunk);
        chunks_reset(&j->conv_next);
        atomic_init(&j->conv_done, 0);
        atomic_init(&j->conv_ready, 0);
        return;
    }
    if (j->prep) j->prep(j->prep_arg, 0, (int)j->K);
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
    j->tiles = tiles_for(M);
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
        size_t each, total = choose_tiles(j, &each);
        convert_inputs(mc, j);
        pack_tiles(mc, j, total, each);
    }
    /* Units: a panel for a panel layout. Otherwise chunks: enough of them (>= 4 per thread)
     * that the split can balance, and a multiple of the tile height so tiles stay whole; two
     * panels for the tile kernels, one panel each of gate and up for a gated part, 32 or 256
     * rows of each (one Q8_0 block or Q8_K super-block of every token's output) when they go
     * out packed. */
    int nth = pool_active(mc->pool); /* the threads that run it */
    int panel = j->tiles ? j->tiles->panel : 0;
    size_t bytes = 0;
    for (int i = 0; i < j->n_part; i++) {
        part_job *pj = &j->part[i];
        int64_t N = pj->p.N, c = pj->tt->panel ? pj->tt->panel : pj->q8k_out ? QK_K : pj->q8_out ? 32
                                 : pj->up ? panel : pj->tiled ? 2 * panel : M > 1 ? 32 : 64;
        if (!pj->tiled && !pj->tt->panel) {
            while (c > GEMM_MAX_NW && (N + c - 1) / c < 4 * nth) c /= 2;
            if (M == 1) while (c > 1 && (N + c - 1) / c < 4 * nth) c /= 2;
        }
        pj->chunk = c;
        pj->units = (N + c - 1) / c;
        pj->unit_bytes = pj->tt->panel ? quant_panel_size(pj->p.type, j->K) : (size_t)c * pj->w_row;
        pj->first = j->n_units;
        j->n_units += pj->units;
        bytes += pj->unit_bytes * (size_t)pj->units;
    }
    /* At one token a claim of at least 16 KiB of weights (the atomics then cost < 1 % of
     * streaming it); with a batch every unit is long enough. */
    uint32_t min_claim = 1;
    if (M == 1 && j->n_units > 0) {
        size_t per_unit = bytes / (size_t)j->n_units;
        min_claim = (uint32_t)((16 << 10) / (per_unit ? per_unit : 1) + 1);
    }
    split_init(&j->split, j->n_units, nth, min_claim);
    pool_run(mc->pool, matmul_worker, j);
}

void matmul_many(matmul_ctx *mc, const matmul_part *parts, int n, int64_t K, const float *x, int64_t M) {
    matmul_job j;
    job_init(&j, parts, n, K, x, M);
    job_run(mc, &j);
}

void matmul(matmul_ctx *mc, float *y, const void *w, uint32_t type, int64_t N, int64_t K,
            const float *x, int64_t M) {
    matmul_part p = {.y = y, .w = w, .type = type, .N = N};
    matmul_many(mc, &p, 1, K, x, M);
}

/* ---- the gated feed-forward ---- */

/* out row r = gelu(gate row r) * (up row r), n wide, each with its own row stride. */
typedef struct {
    float *out;
    const float *gate, *up;
    size_t out_stride, gate_stride, up_stride;
    int n;
} geglu_args;

static void geglu_rows(const void *arg, int r0, int r1) {
    const geglu_args *a = arg;
    geglu_fn geglu = kernels_active()->vec.geglu;
    for (int r = r0; r < r1; r++)
        geglu(a->out + (size_t)r * a->out_stride, a->gate + (size_t)r * a->gate_stride, a->up + (size_t)r * a->up_stride,
              a->n);
}

/* Columns k0 .. k1 - 1 of the one row (a job's prep, rows_fn's shape). */
static void geglu_cols(const void *arg, int k0, int k1) {
    const geglu_args *a = arg;
    kernels_active()->vec.geglu(a->out + k0, a->gate + k0, a->up + k0, k1 - k0);
}

static void geglu_pass(matmul_ctx *mc, const geglu_args *a, int64_t M) {
    pool_for_rows(mc->pool, (int)M, a->n, geglu_rows, a);
}

/* Whether the tiles take the gated products of gate and up (same type, rows of K). */
static bool tiles_gate(const tile_kernels *t, uint32_t type, int64_t K) {
    return t && t->gated_supports(type) && t->supports(type, K);
}

/* The gated products on the tiles: one part whose chunks write geglu(gate, up). */
static void gated_on_tiles(matmul_ctx *mc, float *y, const void *gate, const void *up, uint32_t type, int64_t N,
                           int64_t K, const float *x, int64_t M) {
    matmul_part p = {.y = y, .w = gate, .type = type, .N = N};
    matmul_job j;
    job_init(&j, &p, 1, K, x, M);
    j.part[0].up = up;
    job_run(mc, &j);
}

void matmul_geglu(matmul_ctx *mc, float *y, const void *gate, const void *up, uint32_t type, int64_t N,
                  int64_t K, const float *x, int64_t M, float *up_scratch) {
    if (tiles_gate(tiles_for(M), type, K)) {
        gated_on_tiles(mc, y, gate, up, type, N, K, x, M);
        return;
    }
    matmul_part p[2] = {{.y = y, .w = gate, .type = type, .N = N},
                        {.y = up_scratch, .w = up, .type = type, .N = N}};
    matmul_many(mc, p, 2, K, x, M);
    geglu_args a = {y, y, up_scratch, (size_t)N, (size_t)N, (size_t)N, (int)N};
    geglu_pass(mc, &a, M);
}

/* Whether the tiles take the whole feed-forward: gate and up gated on them, the down
 * projection on them too, and either gate and up in a per-block format feeding a down
 * projection with Q8_0 activations (F a multiple of 32), or a down projection with Q8_K
 * activations (F a multiple of 256). */
static bool tiles_fuse(const tile_kernels *t, const matmul_ffn_weights *w) {
    if (w->gate_type != w->up_type || !tiles_gate(t, w->gate_type, w->E) || !t->supports(w->down_type, w->F))
        return false;
    return (w->F % 32 == 0 && t->gated_q8_supports(w->gate_type, w->down_type)) ||
           (w->F % QK_K == 0 && t->q8_k_input(w->down_type));
}

/* The gated products quantized into the down projection's packed activations (32 rows x
 * a token group at a time on the tiles for Q8_0, 256 rows through a per-thread buffer for
 * Q8_K), then the down projection from them. */
static void ffn_on_tiles(matmul_ctx *mc, const tile_kernels *t, float *out, const matmul_ffn_weights *w,
                         const float *x, int64_t M) {
    bool q8_k = t->q8_k_input(w->down_type);
    uint8_t *act = grown(&mc->ffn_act, &mc->ffn_act_size, packed_size(t, w->down_type, w->F, M));
    matmul_part p = {.w = w->gate, .type = w->gate_type, .N = w->F};
    matmul_job j;
    job_init(&j, &p, 1, w->E, x, M);
    j.part[0].up = w->up;
    if (q8_k) {
        j.part[0].q8k_out = act;
        j.rows256 = grown(&mc->ffn_rows, &mc->ffn_rows_size, (size_t)pool_size(mc->pool) * (size_t)M * QK_K * sizeof(float));
    } else {
        j.part[0].q8_out = act;
    }
    job_run(mc, &j);
    matmul_part d = {.y = out, .w = w->down, .type = w->down_type, .N = w->E};
    job_init(&j, &d, 1, w->F, NULL, M);
    j.packed = true;
    j.lay[0] = (tile_layout){q8_k ? GGML_TYPE_Q8_K : GGML_TYPE_Q8_0, w->down_type, NULL, act};
    j.n_lay = 1;
    j.part[0].tiled = &j.lay[0];
    j.tile_each = t->scratch_size(w->down_type, w->F);
    j.tile_scratch = grown(&mc->tile_scratch, &mc->tile_scratch_size, j.tile_each * (size_t)pool_size(mc->pool));
    job_run(mc, &j);
}

size_t matmul_ffn_scratch(const matmul_ffn_weights *w, int64_t M) {
    return (size_t)(w->stacked ? 3 : 2) * (size_t)M * (size_t)w->F;
}

void matmul_ffn(matmul_ctx *mc, float *out, const matmul_ffn_weights *w, const float *x, int64_t M,
                float *mid) {
    const tile_kernels *t = tiles_for(M);
    int64_t E = w->E, F = w->F;
    if (tiles_fuse(t, w)) {
        ffn_on_tiles(mc, t, out, w, x, M);
        return;
    }
    if (M == 1) gelu_table_prefetch(); /* in cache by the time GeGLU reads it (dispatch.h) */
    float *act = mid; /* [M][F]: the gated products, the down projection's input */
    geglu_args a = {0};
    if (w->gate_type == w->up_type && tiles_gate(t, w->gate_type, E)) {
        gated_on_tiles(mc, act, w->gate, w->up, w->gate_type, F, E, x, M);
    } else if (w->stacked) { /* one product of 2F rows: gate | up per token */
        float *gu = mid + (size_t)M * F;
        matmul(mc, gu, w->gate, w->gate_type, 2 * F, E, x, M);
        a = (geglu_args){act, gu, gu + F, (size_t)F, 2 * (size_t)F, 2 * (size_t)F, (int)F};
    } else {
        float *up = mid + (size_t)M * F;
        matmul_part p[2] = {{.y = act, .w = w->gate, .type = w->gate_type, .N = F},
                            {.y = up, .w = w->up, .type = w->up_type, .N = F}};
        matmul_many(mc, p, 2, E, x, M);
        a = (geglu_args){act, act, up, (size_t)F, (size_t)F, (size_t)F, (int)F};
    }
    matmul_part d = {.y = out, .w = w->down, .type = w->down_type, .N = E};
    matmul_job j;
    job_init(&j, &d, 1, F, act, M);
    if (a.out && M == 1) { /* the GeGLU in the down projection's run, chunk by chunk */
        j.prep = geglu_cols;
        j.prep_arg = &a;
    } else if (a.out) {
        geglu_pass(mc, &a, M);
    }
    job_run(mc, &j);
}
