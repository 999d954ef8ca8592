/* attention.c - attention of a micro-batch over the KV cache (doc/forward.md#attention).
 *
 * attention() for layer il and the batch's M tokens:
 *   rope_table()        the batch's RoPE angles for the layer's frequencies
 *   store_kv_rows()     K: norm (Gemma 3/4), RoPE; V: weightless norm (Gemma 4); into the
 *                       layer's cache (layers that fill their own), converted to its types
 *                       (f32, f16, bf16, q8_0: doc/forward.md#kv-cache-types), kv head by kv
 *                       head (store_head); a few tokens' heads by the tasks (kv_head_ready)
 *   kv_pack()           on the tile kernels: the cells the batch reads, in their form
 *                       (converted to f32 first on caches of other types: cells_f32)
 *   attn_worker()       tasks of (query head, block of up to Q_BLOCK tokens), each
 *     prepare_queries()   Q: norm (Gemma 3/4), RoPE, query scale
 *     attend()            the online softmax over the visible keys, K_BLOCK at a time; its
 *                         steps run on the vector kernels (vector_steps: the row kernels
 *                         of the cache's type) or the tile kernels (tile_steps)
 * and the set-up it needs: the KV cache (kv_cache_*), RoPE frequencies, per-thread scratch. */
#include "attention.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/dispatch.h"
#include "matmul.h"
#include "vec.h"

/* ---------------------------------------------------------------------------------------
 * The online softmax
 *
 * One task = one query head h over a block of up to Q_BLOCK consecutive tokens. Keys are
 * taken K_BLOCK cache cells at a time, and each step is two small matrix products:
 *   S = Q · K^T        the scores of the block's queries against the step's keys
 *   O = O * a + P · V  with P = exp(S - m), the online softmax: m is each query row's
 *                      running max, a = exp(m_old - m) rescales what was summed before
 * so the work per key is register-blocked over several queries and the memory used does not
 * grow with the context. The cache keeps V transposed ([dim][cell]): a row of P and a row
 * of V^T are then both contiguous over the keys, as the products want.
 * Keys visible to a query at position p: p' <= p, and on sliding layers also
 * p - p' < n_swa (the window includes the query itself). */

#define Q_BLOCK 16  /* query rows per task: a key's row serves all of them while in L1 */
#define K_BLOCK 512 /* keys per step: larger steps mean fewer horizontal sums in P·V */
/* Bytes of an activation row of n elements in any format the vector steps convert queries
 * or probabilities to (Q8_0: 34 per 32; bf16: 2 per element): the scratch's room per row. */
#define ACT_BYTES(n) ((size_t)(n) * 2 + 64)

typedef struct attn_steps attn_steps;

/* A job with at most this many kv heads can leave storing its K and V to the run's tasks
 * (a bit each in a word) */
#define ATTN_RUN_KV_HEADS 32

typedef struct {
    attn_ctx *a;
    const layer_weights *l;
    const kv_layer *kv;        /* the cache the layer reads (its own or its source's) */
    float *q, *out;            /* [M][n_head * head_dim] */
    int M, pos0, n_qblk;
    int group;                 /* query heads per task: 1 (tasks of Q_BLOCK tokens of one
                                  head), or a kv head's n_head / n_head_kv (tasks of one
                                  token: head_rows) */
    const attn_steps *steps;   /* vector_steps or tile_steps */
    const tile_kernels *tiles; /* the kernel set's, for tile_steps */
    int kv_block;              /* a step's cells start and end on a multiple of this: the
                                  packed cache's block for tile_steps, 1 for vector_steps */
    float *k, *v;              /* the tokens' K and V the run stores, kv head by kv head,
                                  before its tasks read the cache (NULL: stored before) */
    atomic_uint claimed;       /* bit g: kv head g's store is taken by a task */
    atomic_int stored[ATTN_RUN_KV_HEADS]; /* kv head g's K and V are in the cache */
    const rope_tab *rope;      /* the RoPE angles of the layer's class at the job's positions */
} attn_job;

/* One task: query head h of the tokens i0 .. i0 + nq - 1 (nq <= Q_BLOCK), or the query
 * heads h .. h + nh - 1 of one kv head for token i0 (nh <= Q_BLOCK): its rows. */
typedef struct {
    const attn_job *j;
    int g, hd, qd;             /* g: the rows' kv head; qd: floats from one query row to the
                                  next (a token's: n_head * hd; a head's: hd) */
    int pstep;                 /* row r is at position p0 + r * pstep (1: token rows; 0: head
                                  rows, all at the token's position) */
    const float *q;            /* its first query row */
    float *S;                  /* [Q_BLOCK][K_BLOCK]: scores, then (vector) probabilities */
    float *T;                  /* [Q_BLOCK][hd]: P · V */
    void *qt, *pt;             /* the tile kernels' forms of the queries and probabilities */
    /* the vector steps where keys or values are multiplied as a type whose activations are
     * not f32 (a Q8_0 cache; a bf16 one on vdpbf16ps): vector_queries, vector_values */
    float *pv;                 /* [Q_BLOCK][K_BLOCK]: probabilities x one block's scales (Q8_0) */
    void *qq, *pq;             /* rows in that activation format (at most ACT_BYTES each): the
                                  queries (hd elements), the probabilities (K_BLOCK) */
} attn_task;

/* One step's keys k0 .. k0 + nk - 1, in cells c0 + off ..; the products take the n cells
 * c0 .. c0 + n - 1 (the cells beyond the keys are masked like any invisible key). Query
 * rows ra .. rb see some of them. */
typedef struct { int k0, nk, c0, off, n, ra, rb; } key_step;

/* The steps of attend() that depend on the kernels. Rows of S, T and the probabilities are
 * indexed by the query row r of the block. */
struct attn_steps {
    bool whole_block;  /* the products take all Q_BLOCK rows: a row that sees none of a
                          step's keys gets zero probabilities */
    /* the block's queries in the form scores() takes (NULL: as they are) */
    void (*queries)(const attn_task *t, int nq);
    /* S row r = the scores of query r against the step's cells, rows ra .. rb at least */
    void (*scores)(const attn_task *t, const key_step *s);
    /* One online-softmax step of query row `row` (tile_kernels.attn_probs): *m = max(*m,
     * s[a .. b]); e_k = exp(s_k - *m) for k in [a, b] (0 below FLT_MIN), 0 elsewhere, k < n,
     * stored as the row's probabilities; returns the sum of the e_k. a > b: all zero. */
    float (*probs)(const attn_task *t, float *s, int n, int a, int b, float *m, int row);
    /* T row r = sum over the step's cells of probability x value, rows ra .. rb at least */
    void (*values)(const attn_task *t, const key_step *s);
};

/* the first position a query at position p sees */
static int first_key(const attn_job *j, int p) {
    int lo = j->l->is_swa ? p - j->a->m->n_swa + 1 : 0;
    return lo > 0 ? lo : 0;
}

/* The step that starts at key k0 for queries at positions p0 .. p0 + nq - 1: at most
 * K_BLOCK cells, never across the end of a sliding layer's ring. */
static key_step step_at(const attn_job *j, int k0, int p0, int nq) {
    int len = j->kv->len, kb = j->kv_block, slot = k0 % len;
    key_step s = {.k0 = k0, .c0 = slot - slot % kb};
    s.off = slot - s.c0;
    s.nk = p0 + nq - k0;
    if (s.nk > K_BLOCK - s.off) s.nk = K_BLOCK - s.off;
    if (s.nk > len - slot) s.nk = len - slot;
    s.n = (s.off + s.nk + kb - 1) / kb * kb;
    /* the query rows ra..rb that see some key of this step (an interval: the first and
     * last visible key both grow with the position); none when rb < ra */
    s.ra = k0 > p0 ? k0 - p0 : 0;
    s.rb = nq - 1;
    while (s.rb >= s.ra && first_key(j, p0 + s.rb) > k0 + s.nk - 1) s.rb--;
    return s;
}

/* The online softmax over one step's scores: for each row that sees some of its keys, the
 * soft-cap (Gemma 2), the probabilities (the steps' probs), the running max m and sum l,
 * and alpha = exp(m_old - m), the factor for what the row summed before. */
static void softmax_step(const attn_task *t, const key_step *s, int p0, float *m, float *l, float *alpha) {
    const attn_steps *st = t->j->steps;
    float cap = t->j->a->m->attn_softcap;
    int r_lo = st->whole_block ? 0 : s->ra, r_hi = st->whole_block ? Q_BLOCK - 1 : s->rb;
    for (int r = r_lo; r <= r_hi; r++) {
        float *sr = t->S + (size_t)r * K_BLOCK;
        if (r < s->ra || r > s->rb) { /* a row that sees none of these keys */
            st->probs(t, sr, s->n, 1, 0, &m[r], r);
            continue;
        }
        int p = p0 + r * t->pstep, a = first_key(t->j, p) - s->k0, b = p - s->k0;
        a = (a > 0 ? a : 0) + s->off;
        b = (b < s->nk - 1 ? b : s->nk - 1) + s->off;
        float m_old = m[r];
        if (cap > 0) for (int k = a; k <= b; k++) sr[k] = softcap(sr[k], cap);
        float e_sum = st->probs(t, sr, s->n, a, b, &m[r], r);
        alpha[r] = expf(m_old - m[r]); /* 0 on the first step (m = -inf) */
        if (alpha[r] < FLT_MIN) alpha[r] = 0.0f;
        l[r] = l[r] * alpha[r] + e_sum;
    }
}

/* Attention of one task into its rows of out: O = 0, m = -inf, l = 0; per step S = Q K^T,
 * the softmax step, O = O * alpha + P V; then O / l. The task's rows: nh = 1 and nq tokens
 * of head h, or nq = 1 and the nh heads h .. of one kv head, whose rows then follow each
 * other hd floats apart and share the token's position and visible keys: each cell's key
 * and value row serves all nh of them while in L1 (one query per sequence in a server's
 * step: Gemma 3 1B's 4 query heads per kv head, E2B's 8). A row's sums are the same either
 * way: the products and the softmax take each row on its own. */
static void attend(const attn_job *j, int h, int nh, int i0, int nq, float *scratch) {
    const attn_steps *st = j->steps;
    const layer_weights *l = j->l;
    int hd = l->head_dim, qd = l->n_head * hd, rows = nh * nq, row_qd = nh > 1 ? hd : qd;
    float *S = scratch, *T = S + Q_BLOCK * K_BLOCK, *m = T + (size_t)Q_BLOCK * hd, *sum = m + Q_BLOCK;
    attn_task t = {j, h / (l->n_head / l->n_head_kv), hd, row_qd, nh > 1 ? 0 : 1,
                   j->q + (size_t)i0 * qd + (size_t)h * hd, S, T, NULL, NULL, NULL, NULL, NULL};
    if (j->tiles) {
        t.qt = sum + Q_BLOCK;
        t.pt = (uint8_t *)t.qt + j->tiles->query_size(hd);
    } else { /* the same room: the tile steps take none of these */
        t.pv = sum + Q_BLOCK;
        t.qq = t.pv + (size_t)Q_BLOCK * K_BLOCK;
        t.pq = (uint8_t *)t.qq + Q_BLOCK * ACT_BYTES(hd);
    }
    float *out = j->out + (size_t)i0 * qd + (size_t)h * hd;
    int p0 = j->pos0 + i0, p1 = p0 + nq - 1;

    for (int r = 0; r < rows; r++) {
        m[r] = -INFINITY;
        sum[r] = 0.0f;
        memset(out + (size_t)r * row_qd, 0, (size_t)hd * sizeof(float));
    }
    if (st->queries) st->queries(&t, rows);
    key_step s;
    for (int k0 = first_key(j, p0); k0 <= p1; k0 += s.nk) {
        s = step_at(j, k0, p0, nq);
        if (s.rb < s.ra) continue;
        if (nh > 1) s.rb = rows - 1; /* head rows: all see what the token sees */
        float alpha[Q_BLOCK];
        st->scores(&t, &s);
        softmax_step(&t, &s, p0, m, sum, alpha);
        st->values(&t, &s);
        for (int r = s.ra; r <= s.rb; r++)
            rescale_add(out + (size_t)r * row_qd, alpha[r], T + (size_t)r * hd, hd);
    }
    for (int r = 0; r < rows; r++) scale(out + (size_t)r * row_qd, 1.0f / sum[r], hd);
}

/* ---- the steps on the vector kernels: products of cache rows (of the cache's type)
 * with f32 rows, or with Q8_0 rows for a Q8_0 cache, through the kernel set's row kernels
 * of that type: the same SIMD code as weight matrices of the type ---- */

/* s[j * s_stride + i] = dot(row i of w, row j of a) over n elements, i < nw, j < na; w's
 * rows of `type`, a's of its vec_dot_type, strides in bytes. The type's tile kernel takes up
 * to GEMM_MAX_NW rows of w and GEMM_MAX_NA rows of a at a time (the rows of w serve every
 * row of a while they are in L1); a kernel set without one gets row dots. */
static void dot_tile(uint32_t type, int n, float *s, size_t s_stride, const void *w, size_t w_stride,
                     const void *a, size_t a_stride, int nw, int na) {
    const type_traits *tt = kernel_traits(type);
    for (int i0 = 0; i0 < nw; i0 += GEMM_MAX_NW) {
        int cnt = nw - i0 < GEMM_MAX_NW ? nw - i0 : GEMM_MAX_NW;
        const uint8_t *wi = (const uint8_t *)w + (size_t)i0 * w_stride;
        if (tt->gemm) {
            for (int j0 = 0; j0 < na; j0 += GEMM_MAX_NA)
                tt->gemm(n, s + (size_t)j0 * s_stride + i0, s_stride, wi, w_stride, (const uint8_t *)a + (size_t)j0 * a_stride,
                         a_stride, cnt, na - j0 < GEMM_MAX_NA ? na - j0 : GEMM_MAX_NA);
            continue;
        }
        for (int i = 0; i < cnt; i++)
            for (int j = 0; j < na; j++)
                tt->vec_dot(n, &s[(size_t)j * s_stride + i0 + i], wi + (size_t)i * w_stride,
                            (const uint8_t *)a + (size_t)j * a_stride);
    }
}

/* The type id the kernel set multiplies this cache's values as: the cache's own, or one
 * with the same storage and other activations (dispatch.h: kv_values_as). */
static uint32_t values_as(const kv_layer *kv) {
    uint32_t t = kernels_active()->kv_values_as[kv->type_v];
    return t ? t : kv->type_v;
}

/* The queries in the activation format of the keys' type, when that is not f32 (the
 * block's rows, converted once per task): Q8_0 for a Q8_0 cache, as llama.cpp's attention
 * does for such a cache. */
static void vector_queries(const attn_task *t, int nq) {
    uint32_t at = kernel_traits(t->j->kv->type_k)->vec_dot_type;
    if (at == GGML_TYPE_F32) return;
    size_t row = quant_row_size(at, t->hd);
    const type_traits *conv = kernel_traits(at);
    for (int r = 0; r < nq; r++)
        conv->from_float(t->q + (size_t)r * t->qd, (uint8_t *)t->qq + (size_t)r * row, t->hd);
}

/* S rows ra..rb = Q · K^T over the step's cells */
static void vector_scores(const attn_task *t, const key_step *s) {
    const kv_layer *kv = t->j->kv;
    uint32_t kt = kv->type_k, at = kernel_traits(kt)->vec_dot_type;
    const uint8_t *k = (const uint8_t *)kv->k + (size_t)s->c0 * kv->k_row + quant_row_size(kv->type_k, (int64_t)t->g * t->hd);
    const void *q = t->q + (size_t)s->ra * t->qd;
    size_t q_stride = (size_t)t->qd * sizeof(float);
    if (at != GGML_TYPE_F32) { /* vector_queries converted them */
        q_stride = quant_row_size(at, t->hd);
        q = (const uint8_t *)t->qq + (size_t)s->ra * q_stride;
    }
    dot_tile(kt, t->hd, t->S + (size_t)s->ra * K_BLOCK, K_BLOCK, k, kv->k_row, q, q_stride, s->n, s->rb - s->ra + 1);
}

/* The softmax step in place: the probabilities overwrite the scores. Weights below FLT_MIN
 * (keys more than ~87 below the max, common on Gemma 4 whose scores are not scaled down)
 * are flushed to zero: they cannot change an f32 sum that holds a 1, and subnormal
 * operands send the FMAs of P·V through a microcode assist on many CPUs (measured on the
 * development machine: attention 30x slower). */
static float vector_probs(const attn_task *t, float *s, int n, int a, int b, float *m, int row) {
    (void)t;
    (void)row;
    float mx = *m;
    for (int k = a; k <= b; k++)
        if (s[k] > mx) mx = s[k];
    float sum = 0.0f;
    for (int k = 0; k < n; k++) {
        float e = k < a || k > b ? 0.0f : expf(s[k] - mx);
        if (e < FLT_MIN) e = 0.0f;
        s[k] = e;
        sum += e;
    }
    *m = mx;
    return sum;
}

/* P · V on Q8_0 values: value(c)[d] = scale[d / 32][c] * code[d][c], so for each block of
 * 32 dims, T[r][d] = sum_c (p[r][c] * scale[b][c]) * code[d][c]: the probabilities take the
 * block's scales, are quantized to Q8_0 (blocks of 32 cells) and meet the rows of codes
 * (Q8_0 blocks of scale 1) in the Q8_0 row kernels. Steps start and end on a block of 32
 * cells (kv_block). */
static void q8_values(const attn_task *t, const key_step *s) {
    const kv_layer *kv = t->j->kv;
    const type_traits *q8 = kernel_traits(GGML_TYPE_Q8_0);
    int nb = t->hd / 32, nr = s->rb - s->ra + 1;
    size_t p_row = quant_row_size(GGML_TYPE_Q8_0, s->n);
    const uint8_t *v = (const uint8_t *)kv->v + quant_row_size(GGML_TYPE_Q8_0, s->c0);
    for (int b = 0; b < nb; b++) {
        int d0 = t->g * t->hd + 32 * b;
        const float *sc = kv->v_scale + (size_t)(d0 / 32) * kv->v_stride + s->c0;
        for (int r = s->ra; r <= s->rb; r++) {
            const float *p = t->S + (size_t)r * K_BLOCK;
            float *pv = t->pv + (size_t)r * K_BLOCK;
            for (int c = 0; c < s->n; c++) pv[c] = p[c] * sc[c];
            q8->from_float(pv, (uint8_t *)t->pq + (size_t)r * p_row, s->n);
        }
        dot_tile(GGML_TYPE_Q8_0, s->n, t->T + (size_t)s->ra * t->hd + 32 * b, (size_t)t->hd, v + (size_t)d0 * kv->v_row,
                 kv->v_row, (const uint8_t *)t->pq + (size_t)s->ra * p_row, p_row, 32, nr);
    }
}

/* T rows ra..rb = P · V over the step's cells: rows of P against rows of V^T, P first
 * converted to the activation format of the values' row when that is not f32 (bf16 on
 * vdpbf16ps: each probability to within 2^-9 of itself) */
static void vector_values(const attn_task *t, const key_step *s) {
    const kv_layer *kv = t->j->kv;
    if (kv->type_v == GGML_TYPE_Q8_0) {
        q8_values(t, s);
        return;
    }
    uint32_t vt = values_as(kv), at = kernel_traits(vt)->vec_dot_type;
    const uint8_t *v = (const uint8_t *)kv->v + (size_t)t->g * t->hd * kv->v_row + quant_row_size(kv->type_v, s->c0);
    const void *p = t->S + (size_t)s->ra * K_BLOCK;
    size_t p_stride = K_BLOCK * sizeof(float);
    if (at != GGML_TYPE_F32) {
        const type_traits *conv = kernel_traits(at);
        p_stride = quant_row_size(at, s->n);
        for (int r = s->ra; r <= s->rb; r++)
            conv->from_float(t->S + (size_t)r * K_BLOCK, (uint8_t *)t->pq + (size_t)(r - s->ra) * p_stride, s->n);
        p = t->pq;
    }
    dot_tile(vt, s->n, t->T + (size_t)s->ra * t->hd, (size_t)t->hd, v, kv->v_row, p, p_stride, t->hd, s->rb - s->ra + 1);
}

static const attn_steps vector_steps = {false, vector_queries, vector_scores, vector_probs, vector_values};

/* ---- the steps on the tile kernels (kernels/dispatch.h): the kv head's cells as kv_pack()
 * left them, queries and probabilities in the set's form, to the precision its file
 * documents ---- */

static const void *packed_head(const attn_task *t) {
    const attn_ctx *a = t->j->a;
    return (const uint8_t *)a->packed.data + (size_t)t->g * a->packed.head_bytes;
}

static void tile_queries(const attn_task *t, int nq) {
    t->j->tiles->attn_queries(t->q, (size_t)t->qd, nq, t->hd, t->qt);
}

static void tile_scores(const attn_task *t, const key_step *s) {
    t->j->tiles->attn_scores(t->S, K_BLOCK, t->qt, t->hd, packed_head(t), t->j->kv->len, s->c0, s->n);
}

static float tile_probs(const attn_task *t, float *s, int n, int a, int b, float *m, int row) {
    return t->j->tiles->attn_probs(s, n, a, b, m, t->pt, row);
}

static void tile_values(const attn_task *t, const key_step *s) {
    t->j->tiles->attn_values(t->T, (size_t)t->hd, t->pt, s->n, packed_head(t), t->j->kv->len, t->hd, s->c0);
}

static const attn_steps tile_steps = {true, tile_queries, tile_scores, tile_probs, tile_values};

/* ---------------------------------------------------------------------------------------
 * A layer's attention: its K and V into the cache, then the tasks */

/* Pack the cells this batch reads of layer kv (the positions its queries see) into
 * a->packed: rows = (kv head, block of cells) pairs. */
typedef struct { attn_ctx *a; const tile_kernels *t; const kv_layer *kv; int hd, b0, nb; } kv_pack_args;

/* Cells c0 .. c0 + n - 1 (those below len) of kv head g as f32: keys into k ([n][hd]),
 * values into v ([hd][n]), for the tile kernels, which take f32 cells. */
static void cells_f32(const kv_layer *kv, int g, int hd, int c0, int n, float *k, float *v) {
    int m = kv->len - c0 < n ? kv->len - c0 : n;
    size_t k_at = quant_row_size(kv->type_k, (int64_t)g * hd);
    for (int c = 0; c < m; c++)
        dequant_row(kv->type_k, (const uint8_t *)kv->k + (size_t)(c0 + c) * kv->k_row + k_at, k + (size_t)c * hd, hd);
    for (int d = 0; d < hd; d++) {
        size_t row = (size_t)g * hd + (size_t)d;
        const uint8_t *vr = (const uint8_t *)kv->v + row * kv->v_row;
        float *out = v + (size_t)d * n;
        if (kv->type_v != GGML_TYPE_Q8_0) {
            dequant_row(kv->type_v, vr + quant_row_size(kv->type_v, c0), out, m);
            continue;
        }
        const float *sc = kv->v_scale + row / 32 * kv->v_stride;
        for (int c = c0; c < c0 + m; c++) out[c - c0] = sc[c] * (float)(int8_t)vr[(size_t)c / 32 * 34 + 2 + (size_t)c % 32];
    }
}

static void kv_pack_rows(const void *arg, int r0, int r1) {
    const kv_pack_args *p = arg;
    const kv_layer *kv = p->kv;
    int kb = p->t->kv_block, hd = p->hd;
    bool f32 = kv->type_k == GGML_TYPE_F32 && kv->type_v == GGML_TYPE_F32;
    float *tmp = f32 ? NULL : xmalloc((size_t)kb * hd * 2 * sizeof(float));
    for (int r = r0; r < r1; r++) {
        int g = r / p->nb, b = p->b0 + r % p->nb, c0 = b * kb;
        void *dst = (uint8_t *)p->a->packed.data + (size_t)g * p->a->packed.head_bytes;
        if (f32) {
            p->t->kv_pack((const float *)kv->k + (size_t)c0 * kv->kv_dim + (size_t)g * hd, (size_t)kv->kv_dim,
                          (const float *)kv->v + (size_t)g * hd * kv->v_stride + c0, (size_t)kv->v_stride, hd,
                          kv->len, b, b + 1, dst);
            continue;
        }
        cells_f32(kv, g, hd, c0, kb, tmp, tmp + (size_t)kb * hd);
        p->t->kv_pack(tmp, (size_t)hd, tmp + (size_t)kb * hd, (size_t)kb, hd, kv->len, b, b + 1, dst);
    }
    free(tmp);
}

/* Layers that share a cache (Gemma 4's last ones) read what the previous reader of that
 * cache packed, unless a cache was written since. */
static void kv_pack(attn_ctx *a, const attn_job *j, int src) {
    const kv_layer *kv = j->kv;
    int hd = j->l->head_dim, len = kv->len, kb = j->kv_block;
    int lo = first_key(j, j->pos0), hi = j->pos0 + j->M - 1;
    int b0 = 0, b1 = (len + kb - 1) / kb;
    if (hi - lo + 1 < len && lo % len <= hi % len) { /* no wrap: only the blocks in between */
        b0 = lo % len / kb;
        b1 = hi % len / kb + 1;
    }
    if (a->packed.layer == src && a->packed.b0 <= b0 && b1 <= a->packed.b1) return;
    kv_pack_args p = {a, j->tiles, kv, hd, b0, b1 - b0};
    pool_for_rows(a->pool, j->l->n_head_kv * (b1 - b0), (int64_t)kb * hd * 2, kv_pack_rows, &p);
    a->packed.layer = src;
    a->packed.b0 = b0;
    a->packed.b1 = b1;
}

/* The query rows of tokens i0 .. i0+n-1, head h: per-head norm (Gemma 3/4), RoPE, query
 * scale. Each row belongs to exactly one task, which prepares it just before use. */
static void prepare_queries(const attn_job *j, int h, int i0, int n) {
    const layer_weights *l = j->l;
    int hd = l->head_dim, qd = l->n_head * hd, half = l->n_rot / 2;
    for (int i = i0; i < i0 + n; i++) {
        float *q = j->q + (size_t)i * qd + (size_t)h * hd;
        if (l->q_norm) rmsnorm(q, q, l->q_norm, hd, j->a->m->eps);
        rope(q, half, j->rope->cos + (size_t)i * half, j->rope->sin + (size_t)i * half);
        if (l->kq_scale != 1.0f) scale(q, l->kq_scale, hd);
    }
}

/* RoPE angles of one position (doc/forward.md#rope): theta_i = pos * inv_freq[i], with the
 * layer's inv_freq[i] = s * base^(-2i/n_rot) / ff[i] computed once per context. */
static void rope_angles(float *cs, float *sn, const double *inv_freq, int half, int pos) {
    for (int i = 0; i < half; i++) {
        double theta = pos * inv_freq[i];
        cs[i] = (float)cos(theta);
        sn[i] = (float)sin(theta);
    }
}

/* The RoPE angles of the batch's positions for layer il: its class's table, computed when
 * the positions change. One table per class, not one for the last layer: Gemma 3 interleaves
 * 5 sliding layers with a global one, and a single table was recomputed at every switch
 * (gemma3-1b: 9 times a batch instead of 2; the cos and sin were 0.2 % of a 512-token
 * prompt's samples, all on the caller while the other threads waited). */
static const rope_tab *rope_table(attn_ctx *a, int il, int M, int pos0) {
    rope_tab *t = &a->rope[a->rope_class[il]];
    if (t->n == M && t->pos0 == pos0) return t;
    int half = a->m->layers[il].n_rot / 2;
    for (int i = 0; i < M; i++)
        rope_angles(t->cos + (size_t)i * half, t->sin + (size_t)i * half, a->inv_freq[il], half, pos0 + i);
    t->pos0 = pos0;
    t->n = M;
    return t;
}

/* K and V rows of tokens r0..r1-1 into the layer's cache: K norm (Gemma 3/4), RoPE; V's
 * weightless norm (Gemma 4); both converted to the cache's types (the reference
 * conversions, rounding to nearest), V stored transposed. */
typedef struct {
    const attn_ctx *a;
    const layer_weights *l;
    kv_layer *kv;
    float *k, *v;
    int pos0;
    const rope_tab *rope;
} kv_store_args;

/* The byte offset of cell `slot` in each row of the transposed V: one element per row, or
 * for Q8_0 the cell's code inside its block of 32 (the scales go to v_scale). */
static size_t v_cell_offset(const kv_layer *kv, int slot) {
    if (kv->type_v == GGML_TYPE_Q8_0) return (size_t)slot / 32 * 34 + 2 + (size_t)slot % 32;
    return (size_t)slot * quant_row_size(kv->type_v, 1);
}

/* Cell `slot`'s values of kv head g (v: its hd floats) into the transposed rows; tmp: room
 * for hd values in the type. Q8_0: the head's dims quantized in blocks of 32, the codes
 * into the rows, the scales into v_scale. */
static void store_values(kv_layer *kv, int g, int hd, int slot, const float *v, uint8_t *tmp) {
    uint8_t *base = kv->v;
    size_t d0 = (size_t)g * hd;
    kernel_traits(kv->type_v)->from_float(v, tmp, hd); /* the set's: the reference bytes */
    if (kv->type_v != GGML_TYPE_Q8_0) {
        /* one copy per dimension, of a size the compiler knows (2 or 4 bytes) so that it is
         * a store, not a call (gemma4-26b-a4b decode, 2048 dims: storing K and V 35 -> 32.5 us
         * a layer, averaged over tg32 runs that include the cache's first-touch page faults) */
        size_t es = quant_row_size(kv->type_v, 1);
        uint8_t *dst = base + v_cell_offset(kv, slot) + d0 * kv->v_row;
        if (es == 2)
            for (int d = 0; d < hd; d++) memcpy(dst + (size_t)d * kv->v_row, tmp + 2 * (size_t)d, 2);
        else if (es == 4)
            for (int d = 0; d < hd; d++) memcpy(dst + (size_t)d * kv->v_row, tmp + 4 * (size_t)d, 4);
        else
            for (int d = 0; d < hd; d++) memcpy(dst + (size_t)d * kv->v_row, tmp + (size_t)d * es, es);
        return;
    }
    size_t at = v_cell_offset(kv, slot);
    for (int b = 0; b < hd / 32; b++) {
        const uint8_t *blk = tmp + (size_t)b * 34;
        size_t row = d0 + 32 * (size_t)b;
        kv->v_scale[row / 32 * kv->v_stride + slot] = fp16_to_fp32(rd_u16(blk));
        for (int i = 0; i < 32; i++) base[(row + i) * kv->v_row + at] = blk[2 + i];
    }
}

/* Rows r0 .. r1 - 1's K and V of kv head g into the cache: the head's norms and RoPE, its K
 * in the cache's type, its V into the transposed rows. Every cache type converts in blocks
 * inside a head (head_dim is a multiple of 32), so head by head gives the bytes of whole
 * rows. Head 0 records the cells' positions. */
static void store_head(const kv_store_args *s, int g, int r0, int r1) {
    const layer_weights *l = s->l;
    kv_layer *kv = s->kv;
    int hd = l->head_dim, kvd = kv->kv_dim, half = l->n_rot / 2;
    /* a head's V in the cache's type, on the stack: a heap block per layer and token churns
     * the allocator (and under AddressSanitizer each freed one waits in quarantine: the soak
     * test saw the process grow) */
    _Alignas(64) uint8_t few[1024 * sizeof(float)];
    size_t tmp_bytes = (size_t)hd * sizeof(float);
    uint8_t *tmp = tmp_bytes <= sizeof few ? few : xmalloc(tmp_bytes);
    for (int i = r0; i < r1; i++) {
        int p = s->pos0 + i, slot = p % kv->len;
        float *k = s->k + (size_t)i * kvd + (size_t)g * hd, *v = s->v + (size_t)i * kvd + (size_t)g * hd;
        if (l->k_norm) rmsnorm(k, k, l->k_norm, hd, s->a->m->eps);
        if (l->v_norm) rmsnorm(v, v, NULL, hd, s->a->m->eps);
        rope(k, half, s->rope->cos + (size_t)i * half, s->rope->sin + (size_t)i * half);
        kernel_traits(kv->type_k)->from_float(k, (uint8_t *)kv->k + (size_t)slot * kv->k_row +
                                                     quant_row_size(kv->type_k, (int64_t)g * hd), hd);
        store_values(kv, g, hd, slot, v, tmp);
        if (g == 0) kv->pos[slot] = p;
    }
    if (tmp != few) free(tmp);
}

static void store_kv_rows(const void *arg, int r0, int r1) {
    const kv_store_args *s = arg;
    for (int g = 0; g < s->l->n_head_kv; g++) store_head(s, g, r0, r1);
}

/* Measured with gemma3-1b Q4_0 decode (26 layers, 256 V lines + 8 K lines a layer): storing
 * K and V 7.4-9.7 -> 5.1-5.6 us a layer, about 1 % of a token. */
void attention_prefetch_cell(const attn_ctx *a, int il, int pos, int ith, int nth) {
    const kv_layer *kv = &a->kv[il];
    const layer_weights *l = &a->m->layers[il];
    if (!l->has_kv || kv->len == 0) return;
    int slot = pos % kv->len, hd = l->head_dim;
    size_t k_head = quant_row_size(kv->type_k, hd), at = v_cell_offset(kv, slot); /* in each row of V, where store_values writes */
    for (int g = ith; g < l->n_head_kv; g += nth) {
        const uint8_t *k = (const uint8_t *)kv->k + (size_t)slot * kv->k_row + g * k_head;
        for (size_t o = 0; o < k_head; o += 64) __builtin_prefetch(k + o, 1, 3);
        for (int d = g * hd; d < (g + 1) * hd; d++) __builtin_prefetch((const uint8_t *)kv->v + (size_t)d * kv->v_row + at, 1, 3);
    }
}

void attention_prefetch_cells(const attn_ctx *a, int il, int pos, int max_cells, int ith, int nth) {
    const layer_weights *l = &a->m->layers[il];
    const kv_layer *kv = &a->kv[l->kv_source];
    int n = pos < kv->len ? pos : kv->len, hd = l->head_dim;
    if (n > max_cells) n = max_cells;
    if (n <= 0) return;
    if (l->n_head_kv < nth) { /* a head's tasks on several threads: each reads all of it */
        ith = 0;
        nth = 1;
    }
    const uint8_t *k = kv->k, *v = kv->v;
    size_t k_head = quant_row_size(kv->type_k, hd), run = v_cell_offset(kv, n); /* bytes of each V row up to cell n */
    for (int g = ith; g < l->n_head_kv; g += nth) {
        for (int c = 0; c < n; c++)
            for (size_t o = 0; o < k_head; o += 64) __builtin_prefetch(k + (size_t)c * kv->k_row + g * k_head + o, 0, 3);
        for (int d = g * hd; d < (g + 1) * hd; d++)
            for (size_t o = 0; o < run; o += 64) __builtin_prefetch(v + (size_t)d * kv->v_row + o, 0, 3);
    }
}

/* At most this many sequences' jobs per pool run (more take several). */
#define ATTN_MAX_SEQS 64

/* Tasks of a job: (query block, head), or with heads grouped (token, kv head). */
static int job_tasks(const attn_job *j) { return j->n_qblk * (j->l->n_head / j->group); }

/* The K and V of the job's kv head g in the cache, when the run stores them: the first task
 * of the head to start stores them, on the thread that then reads them, and its other tasks
 * (the head's query heads split between threads) wait the few microseconds that takes. A
 * store waits for nothing, so nobody waits forever. Head by head, a model with several kv
 * heads stores on all the threads at once (gemma4-26b-a4b decode: 8 heads of 256 dims, one
 * line of the transposed V per dimension, about 30 us a layer on one thread before). */
static void kv_head_ready(attn_job *j, int g) {
    unsigned bit = 1u << g;
    if (atomic_fetch_or_explicit(&j->claimed, bit, memory_order_acq_rel) & bit) {
        pool_wait_flag(&j->stored[g]);
        return;
    }
    kv_store_args s = {j->a, j->l, &j->a->kv[j->l->kv_source], j->k, j->v, j->pos0, j->rope};
    store_head(&s, g, 0, j->M);
    atomic_store_explicit(&j->stored[g], 1, memory_order_release);
}

/* Task t of job j on thread ith's scratch of the job's context: the blocks with the most
 * keys (the last ones) first so that no thread is left with a long task at the end. */
static void run_task(attn_job *j, int t, int ith) {
    int per = j->l->n_head / j->group;
    int qb = j->n_qblk - 1 - t / per, h = t % per * j->group;
    float *scratch = j->a->scratch + (size_t)ith * j->a->scratch_each;
    if (j->k) kv_head_ready(j, h / (j->l->n_head / j->l->n_head_kv));
    if (j->group > 1) { /* token qb, the kv head's query heads */
        for (int k = 0; k < j->group; k++) prepare_queries(j, h + k, qb, 1);
        attend(j, h, j->group, qb, 1, scratch);
        return;
    }
    int i0 = qb * Q_BLOCK, nq = j->M - i0 < Q_BLOCK ? j->M - i0 : Q_BLOCK;
    prepare_queries(j, h, i0, nq);
    attend(j, h, 1, i0, nq, scratch);
}

/* The tasks of several sequences' jobs (one per sequence, each on its own cache), claimed
 * one at a time from a common counter: one pool run per layer for a server's step instead
 * of one per sequence. */
typedef struct {
    attn_job *job;
    int n;
    chunk_counter next;
} attn_jobs;

static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_jobs *js = arg;
    int k = 0, first = 0; /* the job of the claimed task, and that job's first task */
    for (int t = chunks_next(&js->next);; t = chunks_next(&js->next)) {
        while (k < js->n && t >= first + job_tasks(&js->job[k])) first += job_tasks(&js->job[k++]);
        if (k == js->n) return;
        run_task(&js->job[k], t - first, ith);
    }
}

/* A sequence with at most this many tokens leaves storing its K and V to the run. */
#define STORE_IN_RUN 4

/* One sequence's job: its K and V into its cache now (or by the run: few tokens, not on the
 * tile kernels, whose packing reads the cache before the run), and its tasks' form. */
static void attn_prepare(attn_job *j, const attn_seq *q, int il) {
    attn_ctx *a = q->a;
    const layer_weights *l = &a->m->layers[il];
    const kv_layer *kv = &a->kv[l->kv_source];
    const tile_kernels *t = &kernels_active()->tile;
    int M = q->M, group = l->n_head / l->n_head_kv;
    memset(j, 0, sizeof *j);
    j->a = a;
    j->l = l;
    j->kv = kv;
    j->q = q->q;
    j->out = q->out;
    j->M = M;
    j->pos0 = q->pos0;
    j->n_qblk = (M + Q_BLOCK - 1) / Q_BLOCK;
    j->group = 1;
    j->steps = &vector_steps;
    j->kv_block = kv->type_v == GGML_TYPE_Q8_0 ? 32 : 1;
    /* on the tile kernels with the matmuls of the batch, when the heads fit them (they
     * take f32 cells: kv_pack converts those of the other types) */
    bool tiles = a->packed.data && t->attn_supports && t->attn_supports(l->head_dim) && matmul_tile_batch(M);
    j->rope = rope_table(a, il, M, q->pos0);
    if (l->has_kv) {
        a->packed.layer = -1; /* a cache changed: what packed holds may be stale */
        if (!tiles && M <= STORE_IN_RUN && l->n_head_kv <= ATTN_RUN_KV_HEADS) {
            j->k = q->k;
            j->v = q->v;
            atomic_init(&j->claimed, 0);
            for (int g = 0; g < l->n_head_kv; g++) atomic_init(&j->stored[g], 0);
        } else {
            kv_store_args s = {a, l, &a->kv[il], q->k, q->v, q->pos0, j->rope};
            pool_for_rows(a->pool, M, 2 * a->kv[il].kv_dim, store_kv_rows, &s);
        }
    }
    if (tiles) {
        j->steps = &tile_steps;
        j->tiles = t;
        j->kv_block = t->kv_block;
        kv_pack(a, j, l->kv_source);
    } else if (group > 1 && group <= Q_BLOCK && M < group) {
        /* fewer tokens than query heads per kv head: a task's rows are heads, not tokens */
        j->group = group;
        j->n_qblk = M;
    }
}

/* Fewer tasks than threads (one sequence's token: a task per kv head), the head rows in
 * smaller groups (each a divisor of the kv head's heads) until every thread has one. */
static void split_groups(attn_job *job, int n, int nth) {
    for (;;) {
        int tasks = 0;
        bool split = false;
        for (int i = 0; i < n; i++) tasks += job_tasks(&job[i]);
        for (int i = 0; i < n && tasks < nth; i++) {
            int g = job[i].group;
            if (g == 1) continue;
            int d = g / 2;
            while (g % d) d--;
            tasks += job_tasks(&job[i]) * (g / d - 1);
            job[i].group = d;
            split = true;
        }
        if (tasks >= nth || !split) return;
    }
}

void attention_seqs(const attn_seq *seqs, int n, int il, threadpool *pool) {
    for (int s0 = 0; s0 < n; s0 += ATTN_MAX_SEQS) {
        attn_job job[ATTN_MAX_SEQS];
        int cnt = n - s0 < ATTN_MAX_SEQS ? n - s0 : ATTN_MAX_SEQS;
        attn_jobs js = {job, cnt, {0}};
        for (int i = 0; i < cnt; i++) {
            attn_ctx *a = seqs[s0 + i].a;
            threadpool *own = a->pool;
            a->pool = pool;
            attn_prepare(&job[i], &seqs[s0 + i], il);
            a->pool = own;
        }
        split_groups(job, cnt, pool_size(pool));
        chunks_reset(&js.next);
        pool_run(pool, attn_worker, &js);
    }
}

void attention(attn_ctx *a, int il, float *q, float *k, float *v, float *out, int M, int pos0) {
    attn_seq s = {a, q, k, v, out, M, pos0};
    attention_seqs(&s, 1, il, a->pool);
}

/* ---------------------------------------------------------------------------------------
 * Set-up, in the order of its jobs:
 *   kv_cache_new()   the KV cache of every layer that fills its own
 *   rope_new()       RoPE angle tables and each layer's inverse frequencies
 *   scratch_new()    per-thread scratch (and the tile kernels' K/V copy) */

/* Cells of a layer's cache: n_ctx on full layers; on sliding ones a ring of the window
 * plus one micro-batch, when that is smaller. */
static int kv_cells(const gemma_model *m, const layer_weights *l, int n_ctx, int n_ubatch) {
    if (l->is_swa && (int64_t)m->n_swa + n_ubatch < n_ctx) return m->n_swa + n_ubatch;
    return n_ctx;
}

/* Cells of a layer's cache rows: len padded to a block of 32, as the Q8_0 values' steps
 * take whole blocks of cells (keys included). */
#define KV_PAD(len) (((len) + 31) / 32 * 32)

/* Cells per row of V^T: len padded to an odd number of units (64-byte cache lines; 34-byte
 * blocks of 32 cells for Q8_0), since rows a power of two apart would all map to the same
 * few cache sets. */
static int v_cells(uint32_t type, int len) {
    int per = type == GGML_TYPE_Q8_0 ? 32 : 64 / (int)quant_row_size(type, 1);
    int units = (len + per - 1) / per;
    return per * (units | 1);
}

/* Bytes of one layer's cache of len cells. */
static uint64_t kv_layer_bytes(int len, int kv_dim, uint32_t type_k, uint32_t type_v) {
    uint64_t vc = (uint64_t)v_cells(type_v, len);
    uint64_t b = (uint64_t)KV_PAD(len) * quant_row_size(type_k, kv_dim) + (uint64_t)kv_dim * quant_row_size(type_v, (int64_t)vc);
    if (type_v == GGML_TYPE_Q8_0) b += (uint64_t)kv_dim / 32 * vc * sizeof(float);
    return b + (uint64_t)len * sizeof(int32_t);
}

int kv_cache_check(const gemma_model *m, int n_ctx, int n_ubatch, uint32_t type_k, uint32_t type_v, char *err) {
    uint64_t need = 0;
    for (int il = 0; il < m->n_layer; il++) {
        const layer_weights *l = &m->layers[il];
        if (!l->has_kv) continue;
        if ((type_k == GGML_TYPE_Q8_0 || type_v == GGML_TYPE_Q8_0) && l->head_dim % 32)
            return set_err(err, "a q8_0 KV cache needs head dims that are multiples of 32; layer %d has %d", il,
                           l->head_dim);
        need += kv_layer_bytes(kv_cells(m, l, n_ctx, n_ubatch), l->n_head_kv * l->head_dim, type_k, type_v);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    if (ram && need > ram)
        return set_err(err, "a context of %d tokens needs %.1f GiB of KV cache, more than this machine's %.1f GiB of memory; use a smaller -c",
                       n_ctx, need / 1073741824.0, ram / 1073741824.0);
    return 0;
}

static void kv_cache_new(attn_ctx *a, int n_ctx, int n_ubatch, uint32_t type_k, uint32_t type_v, setup_alloc *alloc,
                         size_t *bytes) {
    const gemma_model *m = a->m;
    a->kv = xcalloc((size_t)m->n_layer, sizeof(kv_layer));
    for (int il = 0; il < m->n_layer && !alloc->failed; il++) {
        const layer_weights *l = &m->layers[il];
        if (!l->has_kv) continue;
        kv_layer *kv = &a->kv[il];
        kv->len = kv_cells(m, l, n_ctx, n_ubatch);
        kv->kv_dim = l->n_head_kv * l->head_dim;
        kv->type_k = type_k;
        kv->type_v = type_v;
        kv->k_row = quant_row_size(type_k, kv->kv_dim);
        kv->v_stride = v_cells(type_v, kv->len);
        kv->v_row = quant_row_size(type_v, kv->v_stride);
        kv->k = setup_alloc_lines(alloc, (size_t)KV_PAD(kv->len) * kv->k_row, bytes, "KV cache");
        kv->v = setup_alloc_lines(alloc, (size_t)kv->kv_dim * kv->v_row, bytes, "KV cache");
        if (type_v == GGML_TYPE_Q8_0) {
            kv->v_scale = setup_alloc_lines(alloc, (size_t)kv->kv_dim / 32 * kv->v_stride * sizeof(float), bytes, "KV cache");
            uint16_t one = fp32_to_fp16(1.0f); /* every block of codes has scale 1 */
            if (kv->v)
                for (size_t b = 0; b < (size_t)kv->kv_dim * (size_t)(kv->v_stride / 32); b++)
                    memcpy((uint8_t *)kv->v + b * 34, &one, 2);
        }
        kv->pos = setup_alloc_lines(alloc, (size_t)kv->len * sizeof(int32_t), bytes, "KV cache");
        if (kv->pos) for (int i = 0; i < kv->len; i++) kv->pos[i] = -1;
    }
}

/* Per layer inv_freq[i] = s * base^(-2i/n_rot) / ff[i] (doc/forward.md#rope,
 * doc/forward.md#proportional-rope), so a forward pass computes only cos and sin; the layers'
 * classes (equal n_rot and frequencies), and an angle table of one micro-batch per class. */
static void rope_new(attn_ctx *a, int n_ubatch, setup_alloc *alloc, size_t *bytes) {
    const gemma_model *m = a->m;
    a->inv_freq = xcalloc((size_t)m->n_layer, sizeof(double *));
    a->rope_class = xcalloc((size_t)m->n_layer, sizeof(int));
    a->rope = xcalloc((size_t)m->n_layer, sizeof(rope_tab));
    for (int il = 0; il < m->n_layer; il++) {
        const layer_weights *l = &m->layers[il];
        int half = l->n_rot / 2;
        a->inv_freq[il] = xmalloc((size_t)(half + 1) * sizeof(double));
        for (int i = 0; i < half; i++) {
            double f = (double)l->rope_scale * pow((double)l->rope_base, -2.0 * i / l->n_rot);
            if (l->rope_freqs) f /= l->rope_freqs[i];
            a->inv_freq[il][i] = f;
        }
        /* the class of an earlier layer with the same angles, else a new one */
        int c = a->n_rope;
        for (int jl = 0; jl < il && c == a->n_rope; jl++)
            if (m->layers[jl].n_rot == l->n_rot &&
                memcmp(a->inv_freq[jl], a->inv_freq[il], (size_t)half * sizeof(double)) == 0)
                c = a->rope_class[jl];
        a->rope_class[il] = c;
        if (c == a->n_rope) {
            size_t n = (size_t)n_ubatch * (size_t)(half + 1) * sizeof(float);
            a->rope[c].cos = setup_alloc_lines(alloc, n, bytes, "RoPE tables");
            a->rope[c].sin = setup_alloc_lines(alloc, n, bytes, "RoPE tables");
            a->n_rope++;
        }
    }
}

/* Per-thread floats: scores, the P·V product, running max and sum; with the tile kernels'
 * attention also a block's queries and probabilities in the form they take. */
static size_t scratch_floats(const tile_kernels *t, int head_dim) {
    size_t n = (size_t)Q_BLOCK * K_BLOCK + (size_t)Q_BLOCK * head_dim + 2 * Q_BLOCK;
    /* then either the tile steps' forms, or the vector steps' room for queries and
     * probabilities in another format (a Q8_0 cache; bf16 on vdpbf16ps) */
    size_t tiles = t->attn_supports ? t->query_size(head_dim) + t->prob_size(K_BLOCK) : 0;
    size_t act = (size_t)Q_BLOCK * (K_BLOCK * sizeof(float) + ACT_BYTES(head_dim) + ACT_BYTES(K_BLOCK));
    return n + ((tiles > act ? tiles : act) + sizeof(float) - 1) / sizeof(float);
}

/* Each pool thread's scratch, for the widest head, and, where the kernel set has tile
 * attention, room for the largest layer's K and V packed for the tiles, per kv head. */
static void scratch_new(attn_ctx *a, setup_alloc *alloc, size_t *bytes) {
    const gemma_model *m = a->m;
    const tile_kernels *t = &kernels_active()->tile;
    int head_dim_max = 0;
    for (int il = 0; il < m->n_layer; il++)
        if (m->layers[il].head_dim > head_dim_max) head_dim_max = m->layers[il].head_dim;
    a->scratch_each = scratch_floats(t, head_dim_max);
    a->scratch = setup_alloc_lines(alloc, (size_t)pool_size(a->pool) * a->scratch_each * sizeof(float), bytes,
                                   "attention scratch");
    a->packed.layer = -1;
    if (!t->attn_supports) return;
    int heads = 0;
    for (int il = 0; il < m->n_layer; il++) {
        const layer_weights *l = &m->layers[il];
        const kv_layer *kv = &a->kv[l->kv_source];
        if (kv->len == 0 || !t->attn_supports(l->head_dim)) continue;
        size_t each = t->kv_size(l->head_dim, kv->len);
        if (each > a->packed.head_bytes) a->packed.head_bytes = each;
        if (l->n_head_kv > heads) heads = l->n_head_kv;
    }
    if (heads) a->packed.data = setup_alloc_lines(alloc, (size_t)heads * a->packed.head_bytes, bytes, "attention tiles");
}

void attn_ctx_init(attn_ctx *a, const gemma_model *m, threadpool *pool, int n_ctx, int n_ubatch,
                   uint32_t type_k, uint32_t type_v, setup_alloc *alloc, size_t *kv_bytes, size_t *scratch_bytes) {
    a->m = m;
    a->pool = pool;
    kv_cache_new(a, n_ctx, n_ubatch, type_k, type_v, alloc, kv_bytes);
    rope_new(a, n_ubatch, alloc, scratch_bytes);
    scratch_new(a, alloc, scratch_bytes);
}

void attn_ctx_release(attn_ctx *a) {
    if (a->kv)
        for (int il = 0; il < a->m->n_layer; il++) {
            free_lines(a->kv[il].k);
            free_lines(a->kv[il].v);
            free_lines(a->kv[il].v_scale);
            free_lines(a->kv[il].pos);
        }
    free(a->kv);
    if (a->inv_freq)
        for (int il = 0; il < a->m->n_layer; il++) free(a->inv_freq[il]);
    free(a->inv_freq);
    for (int c = 0; c < a->n_rope; c++) {
        free_lines(a->rope[c].cos);
        free_lines(a->rope[c].sin);
    }
    free(a->rope);
    free(a->rope_class);
    free_lines(a->scratch);
    free_lines(a->packed.data);
    memset(a, 0, sizeof *a);
}

void kv_cache_clear(attn_ctx *a) {
    for (int il = 0; il < a->m->n_layer; il++)
        for (int i = 0; i < a->kv[il].len; i++) a->kv[il].pos[i] = -1;
}

bool kv_cache_holds(const attn_ctx *a, int n) {
    const gemma_model *m = a->m;
    for (int il = 0; il < m->n_layer; il++) {
        const kv_layer *kv = &a->kv[il];
        if (kv->len == 0) continue;
        int lo = m->layers[il].is_swa ? n - m->n_swa : 0;
        for (int p = lo < 0 ? 0 : lo; p < n; p++)
            if (kv->pos[p % kv->len] != p) return false;
    }
    return true;
}
