/* forward.c - one Gemma forward pass, from token ids to logits.
 *
 * The path of a micro-batch of M tokens (doc/forward.md):
 *   x = token_embd[t] * sqrt(n_embd)                            embed()
 *   (Gemma 4 E models: per-layer embedding inputs)               ple_inputs()
 *   for each layer:
 *     x += post_norm(Wo · attention(rope(norm(Wq h)), K, V))     attention_block()
 *     x += post_norm(FFN(norm(x)))  or the mixture of experts     ffn_block(), moe_block()
 *     (Gemma 4: per-layer embedding, layer output scale)          ple_block()
 *   logits = softcap(W_out · norm(x))                             output_logits()
 * Activations are f32 throughout; weights stay in their file format (matmul.c). */
#include "forward.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------
 * Small vector operations
 *
 * This file is compiled for the baseline ISA, and gcc -O2 only vectorizes a loop whose trip
 * count is a known multiple of the vector width. So the long loops below go in blocks of
 * VB elements with a fixed-count inner loop (vectorized as straight-line code) plus a
 * scalar tail. Pointers marked restrict never alias; the others may be equal (in place). */
#define VB 8

/* y[i] += x[i] */
static void add_to(float *restrict y, const float *restrict x, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) y[i + k] += x[i + k];
    for (; i < n; i++) y[i] += x[i];
}

/* x[i] *= s */
static void scale(float *x, float s, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) x[i + k] *= s;
    for (; i < n; i++) x[i] *= s;
}

/* y[i] += (x[i] * a) * b */
static void add_scaled(float *restrict y, const float *restrict x, float a, float b, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) y[i + k] += (x[i + k] * a) * b;
    for (; i < n; i++) y[i] += (x[i] * a) * b;
}

/* RMSNorm(x; w) = x / sqrt(mean(x^2) + eps) * w; w == NULL is the weightless form; out may
 * be x. The kernel of the active set (kernels/dispatch.h) takes the sum of squares in double. */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    kernels_active()->vec.rmsnorm(out, x, w, n, eps);
}

static inline float softcap(float x, float cap) { return cap * tanhf(x / cap); }

/* RoPE angles of one position (doc/forward.md#rope): theta_i = pos * inv_freq[i], with the layer's
 * inv_freq[i] = s * base^(-2i/n_rot) / ff[i] computed once per context. */
static void rope_angles(float *cs, float *sn, const double *inv_freq, int half, int pos) {
    for (int i = 0; i < half; i++) {
        double theta = pos * inv_freq[i];
        cs[i] = (float)cos(theta);
        sn[i] = (float)sin(theta);
    }
}

/* NEOX RoPE on one head: dimension i is paired with i + n_rot/2; dimensions >= n_rot are
 * left alone. */
static void rotate_pairs(float *restrict lo, float *restrict hi, const float *restrict cs,
                         const float *restrict sn, int half) {
    int i = 0;
    for (; i + VB <= half; i += VB)
        for (int k = 0; k < VB; k++) {
            float a = lo[i + k], b = hi[i + k];
            lo[i + k] = a * cs[i + k] - b * sn[i + k];
            hi[i + k] = a * sn[i + k] + b * cs[i + k];
        }
    for (; i < half; i++) {
        float a = lo[i], b = hi[i];
        lo[i] = a * cs[i] - b * sn[i];
        hi[i] = a * sn[i] + b * cs[i];
    }
}
static void rope(float *v, int half, const float *cs, const float *sn) { rotate_pairs(v, v + half, cs, sn, half); }

/* y[M][w->ne[1]] = x[M][w->ne[0]] · W^T; several products of the same x go to
 * matmul_many in one pass. */
static matmul_part part(float *y, const weight *w) {
    return (matmul_part){.y = y, .w = w->data, .type = w->type, .N = w->ne[1]};
}
static void mm(gemma_context *c, float *y, const weight *w, const float *x, int M) {
    matmul(&c->mm, y, w->data, w->type, w->ne[1], w->ne[0], x, M);
}
static void mm2(gemma_context *c, matmul_part p0, matmul_part p1, int64_t K, const float *x, int M) {
    matmul_part p[2] = {p0, p1};
    matmul_many(&c->mm, p, 2, K, x, M);
}

/* ---------------------------------------------------------------------------------------
 * Row-parallel loops: the element-wise work between the matrix products (norms, GeGLU,
 * residual adds) is spread over the thread pool in chunks of rows when there is enough of
 * it to pay for waking the threads (prefill); decode runs it inline. Rows are independent,
 * so the results do not depend on the number of threads (threads.h: pool_for_rows). */

/* fn(arg, r0, r1) over the rows [0, n) of `width` floats each */
static void for_rows(gemma_context *c, int n, int64_t width, rows_fn fn, const void *arg) {
    pool_for_rows(c->pool, n, width, fn, arg);
}

/* out row r = RMSNorm(in row r; w) (out may be in) */
typedef struct { float *out; const float *in, *w; int n; float eps; } norm_args;

static void norm_rows(const void *arg, int r0, int r1) {
    const norm_args *a = arg;
    for (int r = r0; r < r1; r++)
        rmsnorm(a->out + (size_t)r * a->n, a->in + (size_t)r * a->n, a->w, a->n, a->eps);
}

static void norm(gemma_context *c, float *out, const float *in, const float *w, int n, int M) {
    norm_args a = {out, in, w, n, c->m->eps};
    for_rows(c, M, n, norm_rows, &a);
}

/* The residual add of a block's output o: x = (x + post_norm(o)) * s (no norm if w is
 * NULL; s is Gemma 4's layer_output_scale, 1 elsewhere). o is overwritten. */
typedef struct { float *x, *o; const float *w; int n; float eps, s; } residual_args;

static void residual_rows(const void *arg, int r0, int r1) {
    const residual_args *a = arg;
    for (int r = r0; r < r1; r++) {
        float *x = a->x + (size_t)r * a->n, *o = a->o + (size_t)r * a->n;
        if (a->w) rmsnorm(o, o, a->w, a->n, a->eps);
        add_to(x, o, a->n);
        if (a->s != 1.0f) scale(x, a->s, a->n);
    }
}

static void residual(gemma_context *c, float *o, const float *w, float s, int M) {
    residual_args a = {c->x, o, w, c->m->n_embd, c->m->eps, s};
    for_rows(c, M, c->m->n_embd, residual_rows, &a);
}

/* GeGLU's gating, out row r = gelu(gate row r) * (up row r), n wide, each with its own row
 * stride (the per-layer embedding multiplies by a slice of a wider row; the feed-forward's
 * gating is matmul_ffn's). out may be gate. GELU is the tanh approximation evaluated as
 * llama.cpp does (doc/forward.md#gelu): for |x| < 10 through a table of f16-rounded
 * results indexed by the f16-rounded input (kernels/scalar.c). */
typedef struct {
    float *out;
    const float *gate, *up;
    size_t out_stride, gate_stride, up_stride;
    int n;
} geglu_args;

static void geglu_rows(const void *arg, int r0, int r1) {
    const geglu_args *a = arg;
    const vec_kernels *k = &kernels_active()->vec;
    for (int r = r0; r < r1; r++) {
        float *o = a->out + (size_t)r * a->out_stride;
        const float *g = a->gate + (size_t)r * a->gate_stride, *u = a->up + (size_t)r * a->up_stride;
        k->geglu(o, g, u, a->n);
    }
}

static void gelu_mul(gemma_context *c, const geglu_args *a, int M) {
    for_rows(c, M, a->n, geglu_rows, a);
}

/* ---------------------------------------------------------------------------------------
 * Embeddings */

static void embed(gemma_context *c, const int32_t *ids, int M) {
    gemma_model *m = c->m;
    int E = m->n_embd;
    float s = sqrtf((float)E); /* exact f32 sqrt, as llama.cpp (HF rounds it to bf16) */
    for (int i = 0; i < M; i++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)ids[i] * m->tok_embd.row_bytes;
        dequant_row(m->tok_embd.type, row, c->x + (size_t)i * E, E);
        scale(c->x + (size_t)i * E, s, E);
    }
}

/* Gemma 4 per-layer embedding inputs (doc/forward.md#per-layer-embedding-inputs), from the
 * token rows (read straight from the
 * mapping, one row per token) and a projection of the scaled embedding x:
 *   ple[l] = (RMSNorm(proj(x)[l] / sqrt(n_embd)) + tok[l] * sqrt(n_pl)) / sqrt(2) */
typedef struct { gemma_context *c; const int32_t *ids; } ple_args;

static void ple_input_rows(const void *arg, int r0, int r1) {
    const ple_args *a = arg;
    gemma_context *c = a->c;
    gemma_model *m = c->m;
    int P = m->n_pl, L = m->n_layer, W = P * L, E = m->n_embd;
    float tok_scale = sqrtf((float)P), proj_scale = 1.0f / sqrtf((float)E);
    float mix = 1.0f / sqrtf(2.0f);
    for (int i = r0; i < r1; i++) {
        float *pl = c->ple + (size_t)i * W, *pp = c->ple_tmp + (size_t)i * W;
        const uint8_t *row = (const uint8_t *)m->ple_tok_embd.data + (size_t)a->ids[i] * m->ple_tok_embd.row_bytes;
        dequant_row(m->ple_tok_embd.type, row, pl, W);
        for (int l = 0; l < L; l++) {
            float *s = pp + (size_t)l * P, *t = pl + (size_t)l * P;
            scale(s, proj_scale, P);
            rmsnorm(s, s, m->ple_proj_norm, P, m->eps);
            for (int j = 0; j < P; j++) t[j] = (s[j] + t[j] * tok_scale) * mix;
        }
    }
}

static void ple_inputs(gemma_context *c, const int32_t *ids, int M) {
    gemma_model *m = c->m;
    mm(c, c->ple_tmp, &m->ple_model_proj, c->x, M);
    ple_args a = {c, ids};
    for_rows(c, M, (int64_t)m->n_pl * m->n_layer, ple_input_rows, &a);
}

/* ---------------------------------------------------------------------------------------
 * Attention
 *
 * One task = one query head h over a block of up to Q_BLOCK consecutive tokens. Keys are
 * taken K_BLOCK cache cells at a time, and each step is two small matrix products through
 * the type table's F32 tile kernel (the same SIMD code as the float weight matmuls):
 *   S = Q · K^T        the scores of the block's queries against the block's keys
 *   O = O * a + P · V  with P = exp(S - m), the online softmax: m is each query row's
 *                      running max, a = exp(m_old - m) rescales what was summed before
 * so the work per key is register-blocked over several queries and the memory used does not
 * grow with the context. The cache keeps V transposed ([dim][cell]): a row of P and a row
 * of V^T are then both contiguous over the keys, as the tile kernel wants.
 * Keys visible to a query at position p: p' <= p, and on sliding layers also
 * p - p' < n_swa (the window includes the query itself). */

#define Q_BLOCK 16  /* query rows per task: a key's row serves all of them while in L1 */
#define K_BLOCK 512         /* keys per step: larger steps mean fewer horizontal sums in P·V */

/* per-thread scratch floats: scores, the P·V product, running max and sum; with the tile
 * kernels' attention (kernels/dispatch.h) also a block's queries and probabilities in the
 * form they take */
static size_t attn_scratch_floats(const tile_kernels *t, int head_dim) {
    size_t n = (size_t)Q_BLOCK * K_BLOCK + (size_t)Q_BLOCK * head_dim + 2 * Q_BLOCK;
    if (t->attn_supports) n += (t->query_size(head_dim) + t->prob_size(K_BLOCK) + sizeof(float) - 1) / sizeof(float);
    return n;
}

/* s[j * s_stride + i] = dot(row i of w, row j of a) over n floats, i < nw, j < na; strides
 * in floats. The F32 tile kernel takes up to GEMM_MAX_NW rows of w and GEMM_MAX_NA rows of a
 * at a time (the rows of w serve every row of a while they are in L1); a kernel set without
 * one gets row dots. */
static void dot_tile(int n, float *s, size_t s_stride, const float *w, size_t w_stride,
                     const float *a, size_t a_stride, int nw, int na) {
    const type_traits *tt = kernel_traits(GGML_TYPE_F32);
    for (int i0 = 0; i0 < nw; i0 += GEMM_MAX_NW) {
        int cnt = nw - i0 < GEMM_MAX_NW ? nw - i0 : GEMM_MAX_NW;
        const float *wi = w + (size_t)i0 * w_stride;
        if (tt->gemm) {
            for (int j0 = 0; j0 < na; j0 += GEMM_MAX_NA)
                tt->gemm(n, s + (size_t)j0 * s_stride + i0, s_stride, wi, w_stride * sizeof(float),
                         a + (size_t)j0 * a_stride, a_stride * sizeof(float), cnt,
                         na - j0 < GEMM_MAX_NA ? na - j0 : GEMM_MAX_NA);
            continue;
        }
        for (int i = 0; i < cnt; i++)
            for (int j = 0; j < na; j++)
                tt->vec_dot(n, &s[(size_t)j * s_stride + i0 + i], wi + (size_t)i * w_stride, a + (size_t)j * a_stride);
    }
}

typedef struct {
    gemma_context *c;
    const layer_weights *l;
    const kv_layer *kv;
    int M, pos0, n_qblk;
    const tile_kernels *tiles; /* on the tile kernels, from c->kv_packed; NULL: vector */
    chunk_counter next;
} attn_job;

/* the first position a query at position p sees */
static int first_key(const attn_job *j, int p) {
    int lo = j->l->is_swa ? p - j->c->m->n_swa + 1 : 0;
    return lo > 0 ? lo : 0;
}

/* The query rows of tokens i0 .. i0+n-1, head h: per-head norm (Gemma 3/4), RoPE, query
 * scale. Each row belongs to exactly one task, which prepares it just before use. */
static void prepare_queries(const attn_job *j, int h, int i0, int n) {
    gemma_context *c = j->c;
    const layer_weights *l = j->l;
    int hd = l->head_dim, qd = l->n_head * hd, half = l->n_rot / 2;
    for (int i = i0; i < i0 + n; i++) {
        float *q = c->q + (size_t)i * qd + (size_t)h * hd;
        if (l->q_norm) rmsnorm(q, q, l->q_norm, hd, c->m->eps);
        rope(q, half, c->rope_cos + (size_t)i * half, c->rope_sin + (size_t)i * half);
        if (l->kq_scale != 1.0f) scale(q, l->kq_scale, hd);
    }
}

/* One online-softmax step for a query row: s[0..n) are its scores against keys k0.., of
 * which [a, b] are visible. On return s holds exp(s - m) (0 where masked), m and l the
 * updated running max and sum; returns the factor for what was summed before.
 * Weights below FLT_MIN (keys more than ~87 below the max, common on Gemma 4 whose scores
 * are not scaled down) are flushed to zero: they cannot change an f32 sum that holds a 1,
 * and subnormal operands send the FMAs of P·V through a microcode assist on many CPUs
 * (measured on the development machine: attention 30x slower). */
static float softmax_step(float *s, int n, int a, int b, float cap, float *m, float *l) {
    float mx = *m;
    for (int k = a; k <= b; k++) {
        if (cap > 0) s[k] = softcap(s[k], cap);
        if (s[k] > mx) mx = s[k];
    }
    float sum = 0.0f;
    for (int k = 0; k < n; k++) {
        float e = k < a || k > b ? 0.0f : expf(s[k] - mx);
        if (e < FLT_MIN) e = 0.0f;
        s[k] = e;
        sum += e;
    }
    float alpha = expf(*m - mx); /* 0 on the first step (m = -inf) */
    if (alpha < FLT_MIN) alpha = 0.0f;
    *l = *l * alpha + sum;
    *m = mx;
    return alpha;
}

/* out row = out * alpha + t, n floats */
static void rescale_add(float *restrict out, float alpha, const float *restrict t, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) out[i + k] = out[i + k] * alpha + t[i + k];
    for (; i < n; i++) out[i] = out[i] * alpha + t[i];
}

/* Attention of head h for the tokens i0 .. i0+nq-1 (nq <= Q_BLOCK), into c->att. */
static void attend(const attn_job *j, int h, int i0, int nq, float *scratch) {
    gemma_context *c = j->c;
    const layer_weights *l = j->l;
    const kv_layer *kv = j->kv;
    int hd = l->head_dim, qd = l->n_head * hd, kvd = kv->kv_dim, len = kv->len;
    int g = h / (l->n_head / l->n_head_kv);
    float cap = c->m->attn_softcap;
    float *S = scratch, *T = S + Q_BLOCK * K_BLOCK, *m = T + (size_t)Q_BLOCK * hd, *sum = m + Q_BLOCK;
    const float *q = c->q + (size_t)i0 * qd + (size_t)h * hd;
    float *out = c->att + (size_t)i0 * qd + (size_t)h * hd;
    const float *kg = kv->k + (size_t)g * hd, *vg = kv->v + (size_t)g * hd * kv->v_stride;
    int p0 = j->pos0 + i0, p1 = p0 + nq - 1;

    for (int r = 0; r < nq; r++) {
        m[r] = -INFINITY;
        sum[r] = 0.0f;
        memset(out + (size_t)r * qd, 0, (size_t)hd * sizeof(float));
    }
    for (int k0 = first_key(j, p0), nk; k0 <= p1; k0 += nk) {
        /* a step never crosses the end of a sliding layer's ring */
        int slot = k0 % len;
        nk = p1 - k0 + 1;
        if (nk > K_BLOCK) nk = K_BLOCK;
        if (nk > len - slot) nk = len - slot;
        /* the query rows ra..rb that see some key of this step (an interval: the first and
         * last visible key both grow with the position) */
        int ra = k0 > p0 ? k0 - p0 : 0, rb = nq - 1;
        while (rb >= ra && first_key(j, p0 + rb) > k0 + nk - 1) rb--;
        if (rb < ra) continue;
        int nr = rb - ra + 1;

        dot_tile(hd, S, K_BLOCK, kg + (size_t)slot * kvd, (size_t)kvd, q + (size_t)ra * qd, (size_t)qd, nk, nr);
        float alpha[Q_BLOCK];
        for (int r = ra; r <= rb; r++) {
            int p = p0 + r, a = first_key(j, p) - k0, b = p - k0;
            alpha[r] = softmax_step(S + (size_t)(r - ra) * K_BLOCK, nk, a > 0 ? a : 0,
                                    b < nk - 1 ? b : nk - 1, cap, &m[r], &sum[r]);
        }
        dot_tile(nk, T, (size_t)hd, vg + slot, (size_t)kv->v_stride, S, K_BLOCK, hd, nr);
        for (int r = ra; r <= rb; r++)
            rescale_add(out + (size_t)r * qd, alpha[r], T + (size_t)(r - ra) * hd, hd);
    }
    for (int r = 0; r < nq; r++) scale(out + (size_t)r * qd, 1.0f / sum[r], hd);
}

/* attend() on the tile kernels (kernels/dispatch.h): the same steps, with S = Q K^T and
 * P V taken by the set's attention entries from the layer's packed keys and values, to the
 * precision its file documents. A step starts and ends on a multiple of the packing's block
 * of cells; the cells it takes in beyond its keys are masked like any invisible key. */
static void attend_tiles(const attn_job *j, int h, int i0, int nq, float *scratch) {
    const tile_kernels *t = j->tiles;
    gemma_context *c = j->c;
    const layer_weights *l = j->l;
    const kv_layer *kv = j->kv;
    int hd = l->head_dim, qd = l->n_head * hd, len = kv->len, kb = t->kv_block;
    int g = h / (l->n_head / l->n_head_kv);
    float cap = c->m->attn_softcap;
    float *S = scratch, *T = S + Q_BLOCK * K_BLOCK, *m = T + (size_t)Q_BLOCK * hd, *sum = m + Q_BLOCK;
    uint8_t *qt = (uint8_t *)(sum + Q_BLOCK), *pt = qt + t->query_size(hd);
    const float *q = c->q + (size_t)i0 * qd + (size_t)h * hd;
    float *out = c->att + (size_t)i0 * qd + (size_t)h * hd;
    const uint8_t *kvt = (const uint8_t *)c->kv_packed.data + (size_t)g * c->kv_packed.head_bytes;
    int p0 = j->pos0 + i0, p1 = p0 + nq - 1;

    for (int r = 0; r < nq; r++) {
        m[r] = -INFINITY;
        sum[r] = 0.0f;
        memset(out + (size_t)r * qd, 0, (size_t)hd * sizeof(float));
    }
    t->attn_queries(q, (size_t)qd, nq, hd, qt);
    for (int k0 = first_key(j, p0), nk; k0 <= p1; k0 += nk) {
        int slot = k0 % len, c0 = slot - slot % kb, off = slot - c0;
        nk = p1 - k0 + 1;
        if (nk > K_BLOCK - off) nk = K_BLOCK - off;
        if (nk > len - slot) nk = len - slot;
        int n = (off + nk + kb - 1) / kb * kb; /* cells c0 .. c0 + n - 1; key k0 is cell off */
        int ra = k0 > p0 ? k0 - p0 : 0, rb = nq - 1;
        while (rb >= ra && first_key(j, p0 + rb) > k0 + nk - 1) rb--;
        if (rb < ra) continue;

        t->attn_scores(S, K_BLOCK, qt, hd, kvt, len, c0, n);
        float alpha[Q_BLOCK];
        for (int r = 0; r < Q_BLOCK; r++) { /* the softmax step, straight into P's form */
            float *sr = S + (size_t)r * K_BLOCK;
            if (r < ra || r > rb) { /* a row that sees none of these keys: P's row is zero */
                t->attn_probs(sr, n, 1, 0, &m[r], pt, r);
                continue;
            }
            int p = p0 + r, a = first_key(j, p) - k0, b = p - k0;
            a = (a > 0 ? a : 0) + off;
            b = (b < nk - 1 ? b : nk - 1) + off;
            float m_old = m[r];
            if (cap > 0) for (int k = a; k <= b; k++) sr[k] = softcap(sr[k], cap);
            float e_sum = t->attn_probs(sr, n, a, b, &m[r], pt, r);
            alpha[r] = expf(m_old - m[r]); /* 0 on the first step (m = -inf) */
            if (alpha[r] < FLT_MIN) alpha[r] = 0.0f;
            sum[r] = sum[r] * alpha[r] + e_sum;
        }
        t->attn_values(T, (size_t)hd, pt, n, kvt, len, hd, c0);
        for (int r = ra; r <= rb; r++)
            rescale_add(out + (size_t)r * qd, alpha[r], T + (size_t)r * hd, hd);
    }
    for (int r = 0; r < nq; r++) scale(out + (size_t)r * qd, 1.0f / sum[r], hd);
}

/* Pack the cells this batch reads of layer kv (the positions its queries see) into
 * c->kv_packed: rows = (kv head, block of cells) pairs. */
typedef struct { gemma_context *c; const tile_kernels *t; const kv_layer *kv; int hd, b0, nb; } kv_pack_args;

static void kv_pack_rows(const void *arg, int r0, int r1) {
    const kv_pack_args *a = arg;
    const kv_layer *kv = a->kv;
    for (int r = r0; r < r1; r++) {
        int g = r / a->nb, b = a->b0 + r % a->nb;
        a->t->kv_pack(kv->k + (size_t)g * a->hd, (size_t)kv->kv_dim, kv->v + (size_t)g * a->hd * kv->v_stride,
                      (size_t)kv->v_stride, a->hd, kv->len, b, b + 1,
                      (uint8_t *)a->c->kv_packed.data + (size_t)g * a->c->kv_packed.head_bytes);
    }
}

/* Layers that share a cache (Gemma 4's last ones) read what the previous reader of that
 * cache packed, unless a cache was written since. */
static void kv_pack(gemma_context *c, const attn_job *j, int src) {
    const kv_layer *kv = j->kv;
    int hd = j->l->head_dim, len = kv->len, kb = j->tiles->kv_block;
    int lo = first_key(j, j->pos0), hi = j->pos0 + j->M - 1;
    int b0 = 0, b1 = (len + kb - 1) / kb;
    if (hi - lo + 1 < len && lo % len <= hi % len) { /* no wrap: only the blocks in between */
        b0 = lo % len / kb;
        b1 = hi % len / kb + 1;
    }
    if (c->kv_packed.layer == src && c->kv_packed.b0 <= b0 && b1 <= c->kv_packed.b1) return;
    kv_pack_args a = {c, j->tiles, kv, hd, b0, b1 - b0};
    for_rows(c, j->l->n_head_kv * (b1 - b0), (int64_t)kb * hd * 2, kv_pack_rows, &a);
    c->kv_packed.layer = src;
    c->kv_packed.b0 = b0;
    c->kv_packed.b1 = b1;
}

/* Tasks (query block, head), the blocks with the most keys (the last ones) first so that
 * no thread is left with a long task at the end. */
static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    int nh = j->l->n_head;
    float *scratch = j->c->scores + (size_t)ith * j->c->scores_each;
    for (int t = chunks_next(&j->next); t < j->n_qblk * nh; t = chunks_next(&j->next)) {
        int qb = j->n_qblk - 1 - t / nh, h = t % nh;
        int i0 = qb * Q_BLOCK, nq = j->M - i0 < Q_BLOCK ? j->M - i0 : Q_BLOCK;
        prepare_queries(j, h, i0, nq);
        if (j->tiles) attend_tiles(j, h, i0, nq, scratch);
        else attend(j, h, i0, nq, scratch);
    }
}

/* RoPE angles of the batch's positions for layer il; layers with the same frequencies
 * (all sliding layers, all global ones) reuse the table of the last one. */
static void rope_table(gemma_context *c, int il, int M, int pos0) {
    int half = c->m->layers[il].n_rot / 2, last = c->rope_layer;
    if (last >= 0 && c->m->layers[last].n_rot / 2 == half &&
        memcmp(c->inv_freq[last], c->inv_freq[il], (size_t)half * sizeof(double)) == 0)
        return;
    for (int i = 0; i < M; i++)
        rope_angles(c->rope_cos + (size_t)i * half, c->rope_sin + (size_t)i * half, c->inv_freq[il], half, pos0 + i);
    c->rope_layer = il;
}

/* K and V rows of tokens r0..r1-1 into layer il's cache: K norm (Gemma 3/4), RoPE; V's
 * weightless norm (Gemma 4); V stored transposed. */
typedef struct { gemma_context *c; int il, pos0; } kv_args;

static void store_kv_rows(const void *arg, int r0, int r1) {
    const kv_args *a = arg;
    gemma_context *c = a->c;
    const layer_weights *l = &c->m->layers[a->il];
    kv_layer *kv = &c->kv[a->il];
    int hd = l->head_dim, kvd = kv->kv_dim, half = l->n_rot / 2;
    for (int i = r0; i < r1; i++) {
        int p = a->pos0 + i, slot = p % kv->len;
        float *k = c->k + (size_t)i * kvd, *v = c->v + (size_t)i * kvd;
        for (int g = 0; g < l->n_head_kv; g++) {
            if (l->k_norm) rmsnorm(k + (size_t)g * hd, k + (size_t)g * hd, l->k_norm, hd, c->m->eps);
            if (l->v_norm) rmsnorm(v + (size_t)g * hd, v + (size_t)g * hd, NULL, hd, c->m->eps);
            rope(k + (size_t)g * hd, half, c->rope_cos + (size_t)i * half, c->rope_sin + (size_t)i * half);
        }
        memcpy(kv->k + (size_t)slot * kvd, k, (size_t)kvd * sizeof(float));
        for (int d = 0; d < kvd; d++) kv->v[(size_t)d * kv->v_stride + slot] = v[d];
        kv->pos[slot] = p;
    }
}

static void attention_block(gemma_context *c, int il, int M, int pos0) {
    gemma_model *m = c->m;
    const layer_weights *l = &m->layers[il];
    int E = m->n_embd, kvd = l->n_head_kv * l->head_dim;

    norm(c, c->h, c->x, l->attn_norm, E, M);
    rope_table(c, il, M, pos0);
    /* Q, and K, V of this layer into its cache (layers sharing another layer's cache skip
     * K and V), as one pass over the threads */
    if (!l->has_kv) {
        mm(c, c->q, &l->wq, c->h, M);
    } else if (l->v_from_k) {
        mm2(c, part(c->q, &l->wq), part(c->k, &l->wk), l->wq.ne[0], c->h, M);
        memcpy(c->v, c->k, (size_t)M * kvd * sizeof(float)); /* raw K, before its norm */
    } else {
        matmul_part p[3] = {part(c->q, &l->wq), part(c->k, &l->wk), part(c->v, &l->wv)};
        matmul_many(&c->mm, p, 3, l->wq.ne[0], c->h, M);
    }
    if (l->has_kv) {
        kv_args a = {c, il, pos0};
        for_rows(c, M, 2 * kvd, store_kv_rows, &a);
        c->kv_packed.layer = -1; /* a cache changed: what kv_packed holds may be stale */
    }

    attn_job j = {c, l, &c->kv[l->kv_source], M, pos0, (M + Q_BLOCK - 1) / Q_BLOCK, NULL, {0}};
    /* on the tile kernels with the matmuls of the batch, when the heads fit them */
    const tile_kernels *t = &kernels_active()->tile;
    if (c->kv_packed.data && t->attn_supports && t->attn_supports(l->head_dim) && matmul_tile_batch(M)) {
        j.tiles = t;
        kv_pack(c, &j, l->kv_source);
    }
    chunks_reset(&j.next);
    pool_run(c->pool, attn_worker, &j);

    mm(c, c->o, &l->wo, c->att, M);
    residual(c, c->o, l->post_attn_norm, 1.0f, M);
}

/* ---------------------------------------------------------------------------------------
 * Feed-forward: GeGLU, FFN(h) = W_down · (gelu(W_gate · h) * (W_up · h)), one matmul_ffn
 * whatever the kernels (fused on the tile kernels where they take it). */

static void ffn(gemma_context *c, float *out, const weight *gate, const weight *up, const weight *down,
                const float *h, int M) {
    matmul_ffn_weights w = {gate->data, up->data, down->data, gate->type, up->type, down->type,
                            gate->ne[0], gate->ne[1], false};
    matmul_ffn(&c->mm, out, &w, h, M, c->ffn_mid);
}

/* Expert e's feed-forward: its rows of the gate and up stacks, or of the fused stack whose
 * expert e holds F gate rows and then F up rows; its down matrix. */
static matmul_ffn_weights expert_ffn(const gemma_model *m, const layer_weights *l, int e) {
    int64_t E = m->n_embd, F = m->n_ff_exp;
    matmul_ffn_weights w = {0};
    if (l->gate_up_exps.data) {
        w.gate = (const uint8_t *)l->gate_up_exps.data + (size_t)e * 2 * F * l->gate_up_exps.row_bytes;
        w.up = (const uint8_t *)w.gate + (size_t)F * l->gate_up_exps.row_bytes;
        w.gate_type = w.up_type = l->gate_up_exps.type;
        w.stacked = true;
    } else {
        w.gate = (const uint8_t *)l->gate_exps.data + (size_t)e * F * l->gate_exps.row_bytes;
        w.up = (const uint8_t *)l->up_exps.data + (size_t)e * F * l->up_exps.row_bytes;
        w.gate_type = l->gate_exps.type;
        w.up_type = l->up_exps.type;
    }
    w.down = (const uint8_t *)l->down_exps.data + (size_t)e * E * l->down_exps.row_bytes;
    w.down_type = l->down_exps.type;
    w.E = E;
    w.F = F;
    return w;
}

/* Router of token rows r0..r1-1: softmax over all experts of W_r · h (c->router), then
 * the top k by probability (ties: lower expert id), weights renormalised. */
typedef struct { gemma_context *c; } route_args;

static void route_rows(const void *arg, int r0, int r1) {
    gemma_context *c = ((const route_args *)arg)->c;
    int X = c->m->n_expert, K = c->m->n_expert_used;
    for (int i = r0; i < r1; i++) {
        float *p = c->router + (size_t)i * X;
        float mx = -INFINITY, sum = 0.0f;
        for (int e = 0; e < X; e++) if (p[e] > mx) mx = p[e];
        for (int e = 0; e < X; e++) { p[e] = expf(p[e] - mx); sum += p[e]; }
        for (int e = 0; e < X; e++) p[e] /= sum;
        int *sel = c->moe_sel + (size_t)i * K;
        float *w = c->moe_w + (size_t)i * K, wsum = 0.0f;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < X; e++) {
                bool taken = false;
                for (int kk = 0; kk < k; kk++) taken |= sel[kk] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            sel[k] = best;
            w[k] = p[best];
            wsum += p[best];
        }
        if (wsum < 6.103515625e-5f) wsum = 6.103515625e-5f;
        for (int k = 0; k < K; k++) w[k] /= wsum;
    }
}

/* The router's input rows: rms_norm(a) / sqrt(n_embd) * scale */
typedef struct { gemma_context *c; const float *scale; } router_in_args;

static void router_in_rows(const void *arg, int r0, int r1) {
    const router_in_args *a = arg;
    gemma_context *c = a->c;
    int E = c->m->n_embd;
    float inv_sqrt_e = 1.0f / sqrtf((float)E);
    for (int i = r0; i < r1; i++) {
        float *r = c->h + (size_t)i * E;
        rmsnorm(r, c->x + (size_t)i * E, NULL, E, c->m->eps);
        for (int d = 0; d < E; d++) r[d] = r[d] * inv_sqrt_e * a->scale[d];
    }
}

/* One expert's rows: gather the inputs of its token slots (moe_rows[0..cnt)) into moe_in,
 * and afterwards add the weighted outputs into each token's accumulator. A token picks an
 * expert at most once, so the rows of one expert touch distinct accumulators. */
typedef struct { gemma_context *c; const int *rows; float es; } expert_args;

static void gather_rows(const void *arg, int r0, int r1) {
    const expert_args *a = arg;
    gemma_context *c = a->c;
    int E = c->m->n_embd, K = c->m->n_expert_used;
    for (int r = r0; r < r1; r++)
        memcpy(c->moe_in + (size_t)r * E, c->moe_n2 + (size_t)(a->rows[r] / K) * E, (size_t)E * sizeof(float));
}

static void scatter_add_rows(const void *arg, int r0, int r1) {
    const expert_args *a = arg;
    gemma_context *c = a->c;
    int E = c->m->n_embd, K = c->m->n_expert_used;
    for (int r = r0; r < r1; r++) {
        int i = a->rows[r] / K;
        add_scaled(c->moe_acc + (size_t)i * E, c->moe_out + (size_t)r * E, a->es, c->moe_w[a->rows[r]], E);
    }
}

/* The experts of a batch, one matrix pass per expert over its tokens (moe_start[e] ..
 * moe_start[e + 1] - 1 of moe_rows), in expert order. */
static void experts_by_expert(gemma_context *c, const layer_weights *l) {
    const gemma_model *m = c->m;
    int E = m->n_embd;
    const int *start = c->moe_start;
    for (int e = 0; e < m->n_expert; e++) {
        int cnt = start[e + 1] - start[e];
        if (cnt == 0) continue;
        expert_args ea = {c, c->moe_rows + start[e], l->down_exps_scale ? l->down_exps_scale[e] : 1.0f};
        for_rows(c, cnt, E, gather_rows, &ea);
        matmul_ffn_weights w = expert_ffn(m, l, e);
        matmul_ffn(&c->mm, c->moe_out, &w, c->moe_in, cnt, c->ffn_mid);
        for_rows(c, cnt, E, scatter_add_rows, &ea);
    }
}

/* The experts of a single token (decode), moe_rows[0 .. K) its slots in expert order: the
 * gate and up products of all of them in one job (the input converted once, one barrier
 * instead of two per expert: 160 jobs per token on the 26B-A4B shape became 20), GEGLU in
 * place, then their down products in one job, each part with its own input. Each output
 * row is the same dot product as in experts_by_expert, and the weighted outputs are added
 * in the same expert order, so the result is the same to the bit. */
static void experts_one_token(gemma_context *c, const layer_weights *l) {
    const gemma_model *m = c->m;
    int E = m->n_embd, K = m->n_expert_used;
    int64_t F = m->n_ff_exp;
    enum { GROUP = MATMUL_MAX_PARTS / 2 }; /* experts per job: a gate and an up part each */
    matmul_part gate_up[MATMUL_MAX_PARTS], down[GROUP];
    for (int k0 = 0; k0 < K; k0 += GROUP) {
        int n = K - k0 < GROUP ? K - k0 : GROUP;
        for (int i = 0; i < n; i++) {
            int e = c->moe_sel[c->moe_rows[k0 + i]];
            matmul_ffn_weights w = expert_ffn(m, l, e);
            float *mid = c->ffn_mid + (size_t)i * 2 * F; /* gate products, then up */
            gate_up[2 * i] = (matmul_part){.y = mid, .w = w.gate, .type = w.gate_type, .N = F};
            gate_up[2 * i + 1] = (matmul_part){.y = mid + F, .w = w.up, .type = w.up_type, .N = F};
            down[i] = (matmul_part){.y = c->moe_out + (size_t)i * E, .w = w.down, .type = w.down_type, .N = E,
                                    .x = mid};
        }
        matmul_many(&c->mm, gate_up, 2 * n, E, c->moe_n2, 1);
        for (int i = 0; i < n; i++) {
            float *mid = c->ffn_mid + (size_t)i * 2 * F;
            kernels_active()->vec.geglu(mid, mid, mid + F, (int)F);
        }
        matmul_many(&c->mm, down, n, F, NULL, 1);
        for (int i = 0; i < n; i++) {
            int slot = c->moe_rows[k0 + i], e = c->moe_sel[slot];
            add_scaled(c->moe_acc, c->moe_out + (size_t)i * E, l->down_exps_scale ? l->down_exps_scale[e] : 1.0f,
                       c->moe_w[slot], E);
        }
    }
}

/* Mixture of experts (Gemma 4 26B-A4B, doc/forward.md#mixture-of-experts) on the
 * post-attention stream a = x:
 *   f = post_ffw_norm_1(FFN(ffn_norm(a))) + post_ffw_norm_2(sum_e w_e s_e expert_e(pre_ffw_norm_2(a)))
 * The batch's tokens are grouped by expert so each expert's matrices are read once; a
 * single token's experts go to two jobs (experts_one_token). */
static void moe_block(gemma_context *c, const layer_weights *l, int M, float *f) {
    gemma_model *m = c->m;
    int E = m->n_embd, X = m->n_expert, K = m->n_expert_used;

    /* dense branch */
    norm(c, c->h, c->x, l->ffn_norm, E, M);
    ffn(c, f, &l->ffn_gate, &l->ffn_up, &l->ffn_down, c->h, M);
    norm(c, f, f, l->post_ffw_norm_1, E, M);

    /* router */
    router_in_args ra = {c, l->gate_inp_scale};
    for_rows(c, M, E, router_in_rows, &ra);
    mm(c, c->router, &l->gate_inp, c->h, M);
    route_args rt = {c};
    for_rows(c, M, (int64_t)X * K, route_rows, &rt);

    /* token slots (i * K + k) grouped by expert, in token order: a counting sort */
    int *start = c->moe_start;
    memset(start, 0, (size_t)(X + 1) * sizeof(int));
    for (int s = 0; s < M * K; s++) start[c->moe_sel[s] + 1]++;
    for (int e = 0; e < X; e++) start[e + 1] += start[e];
    memcpy(c->moe_fill, start, (size_t)X * sizeof(int));
    for (int s = 0; s < M * K; s++) c->moe_rows[c->moe_fill[c->moe_sel[s]]++] = s;

    /* experts, one matrix pass per expert over the tokens routed to it */
    norm(c, c->moe_n2, c->x, l->pre_ffw_norm_2, E, M);
    memset(c->moe_acc, 0, (size_t)M * E * sizeof(float));
    if (M == 1) experts_one_token(c, l);
    else experts_by_expert(c, l);
    norm(c, c->moe_acc, c->moe_acc, l->post_ffw_norm_2, E, M);
    for (int i = 0; i < M; i++) add_to(f + (size_t)i * E, c->moe_acc + (size_t)i * E, E);
}

static void ffn_block(gemma_context *c, int il, int M) {
    gemma_model *m = c->m;
    const layer_weights *l = &m->layers[il];
    if (l->gate_inp.data) {
        moe_block(c, l, M, c->o);
    } else {
        norm(c, c->h, c->x, l->ffn_norm, m->n_embd, M);
        ffn(c, c->o, &l->ffn_gate, &l->ffn_up, &l->ffn_down, c->h, M);
    }
    residual(c, c->o, l->post_ffw_norm, 1.0f, M);
}

/* Gemma 4 per-layer embedding: x += post_norm(proj(gelu(inp_gate · x) * ple[il])), then
 * the whole stream is multiplied by layer_output_scale. */
static void ple_block(gemma_context *c, int il, int M) {
    gemma_model *m = c->m;
    const layer_weights *l = &m->layers[il];
    int E = m->n_embd, P = m->n_pl, W = P * m->n_layer;
    if (P > 0) {
        mm(c, c->gate, &l->ple_gate, c->x, M);
        geglu_args a = {c->gate, c->gate, c->ple + (size_t)il * P, (size_t)P, (size_t)P, (size_t)W, P};
        gelu_mul(c, &a, M);
        mm(c, c->o, &l->ple_proj, c->gate, M);
        residual(c, c->o, l->ple_post_norm, l->out_scale, M);
    } else if (l->out_scale != 1.0f) {
        for (int i = 0; i < M; i++) scale(c->x + (size_t)i * E, l->out_scale, E);
    }
}

/* Final soft-capping of a run of logits, cap = *arg: the output projection's epilogue, so
 * each thread caps the logits it has just computed (262,144 per token on Gemma 3 and 4: one
 * thread's scalar tanhf took 2.4-2.6 ms). */
static void softcap_logits(const void *arg, float *y, int64_t n) {
    kernels_active()->vec.softcap(y, (int)n, *(const float *)arg);
}

/* logits of `rows` consecutive tokens starting at row r0 of x */
static void output_logits(gemma_context *c, int r0, int rows, float *logits) {
    gemma_model *m = c->m;
    int E = m->n_embd;
    norm(c, c->h, c->x + (size_t)r0 * E, m->output_norm, E, rows);
    const weight *w = m->output.data ? &m->output : &m->tok_embd; /* tied head: unscaled */
    matmul_part p = part(logits, w);
    if (m->final_softcap > 0) {
        p.epilogue = softcap_logits;
        p.epilogue_arg = &m->final_softcap;
    }
    matmul_many(&c->mm, &p, 1, E, c->h, rows);
}

/* ---------------------------------------------------------------------------------------
 * Context: set-up in the order of its jobs, each a function
 *   context_params_fit()   the parameters made consistent (batch <= context, >= 1 thread)
 *   kv_cache_check()       refuse a KV cache larger than the machine's memory, up front
 *   kv_cache_new()         the KV cache of every layer that fills its own
 *   scratch_new()          activation buffers for one micro-batch, sized by the widest layer
 *   rope_new()             RoPE angle tables and each layer's inverse frequencies
 *   attention_scratch_new() per-thread attention scratch (and the AMX tiles' K/V copy)
 * Buffers come from one allocator that remembers the first failure: set-up then runs to the
 * end and context_new frees what it got. */

typedef struct {
    char *err;
    bool failed;        /* the first failure's message is in err; later requests get NULL */
} ctx_alloc;

static void *try_alloc(ctx_alloc *a, size_t n, size_t *total, const char *what) {
    if (a->failed) return NULL;
    void *p = alloc_lines(n);
    if (!p) {
        set_err(a->err, "cannot allocate %zu MiB for the %s", n >> 20, what);
        a->failed = true;
    }
    *total += n;
    return p;
}

static context_params context_params_fit(const context_params *p) {
    context_params q = *p;
    if (q.n_ctx < 1) q.n_ctx = 1;
    if (q.n_ubatch < 1) q.n_ubatch = 512;
    if (q.n_ubatch > q.n_ctx) q.n_ubatch = q.n_ctx;
    if (q.n_threads < 1) q.n_threads = 1;
    return q;
}

/* Cells of a layer's cache: n_ctx on full layers; on sliding ones a ring of the window
 * plus one micro-batch, when that is smaller. */
static int kv_cells(const gemma_model *m, const layer_weights *l, const context_params *p) {
    if (l->is_swa && (int64_t)m->n_swa + p->n_ubatch < p->n_ctx) return m->n_swa + p->n_ubatch;
    return p->n_ctx;
}

/* The kernel would happily hand out the virtual memory and fail later: refuse, with the
 * size, a cache larger than the machine's memory. */
static int kv_cache_check(const gemma_model *m, const context_params *p, char *err) {
    uint64_t need = 0;
    for (int il = 0; il < m->n_layer; il++) {
        const layer_weights *l = &m->layers[il];
        if (!l->has_kv) continue;
        uint64_t len = (uint64_t)kv_cells(m, l, p);
        need += len * ((uint64_t)l->n_head_kv * (uint64_t)l->head_dim * 2 * sizeof(float) + sizeof(int32_t));
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    if (ram && need > ram)
        return set_err(err, "a context of %d tokens needs %.1f GiB of KV cache, more than this machine's %.1f GiB of memory; use a smaller -c",
                       p->n_ctx, need / 1073741824.0, ram / 1073741824.0);
    return 0;
}

static void kv_cache_new(gemma_context *c, ctx_alloc *a) {
    const gemma_model *m = c->m;
    c->kv = xcalloc((size_t)m->n_layer, sizeof(kv_layer));
    for (int il = 0; il < m->n_layer && !a->failed; il++) {
        const layer_weights *l = &m->layers[il];
        if (!l->has_kv) continue;
        kv_layer *kv = &c->kv[il];
        kv->len = kv_cells(m, l, &c->p);
        kv->kv_dim = l->n_head_kv * l->head_dim;
        /* rows of V^T a power of two apart would all map to the same few cache sets */
        int lines = (kv->len + 15) / 16;
        kv->v_stride = 16 * (lines | 1);
        size_t n = (size_t)kv->len * kv->kv_dim * sizeof(float);
        kv->k = try_alloc(a, n, &c->kv_bytes, "KV cache");
        kv->v = try_alloc(a, (size_t)kv->v_stride * kv->kv_dim * sizeof(float), &c->kv_bytes, "KV cache");
        kv->pos = try_alloc(a, (size_t)kv->len * sizeof(int32_t), &c->kv_bytes, "KV cache");
        if (kv->pos) for (int i = 0; i < kv->len; i++) kv->pos[i] = -1;
    }
}

/* Activation buffers, [n_ubatch][width] each, for the widest layer. Returns the widest row
 * a matrix product takes as input (it sizes the quantized-activation buffer). */
static int scratch_new(gemma_context *c, ctx_alloc *a) {
    const gemma_model *m = c->m;
    int U = c->p.n_ubatch, E = m->n_embd, L = m->n_layer;
    int qd = 0, kvd = 0, ff = 0;
    for (int il = 0; il < L; il++) {
        const layer_weights *l = &m->layers[il];
        if (l->head_dim > c->head_dim_max) c->head_dim_max = l->head_dim;
        if (l->n_head * l->head_dim > qd) qd = l->n_head * l->head_dim;
        if (l->n_head_kv * l->head_dim > kvd) kvd = l->n_head_kv * l->head_dim;
        if (l->n_ff > ff) ff = l->n_ff;
    }
    if (m->n_ff_exp > ff) ff = m->n_ff_exp;
    if (m->n_pl > ff) ff = m->n_pl;
    int wide = E > qd ? E : qd;
    if (ff > wide) wide = ff;
    int ple_w = m->n_pl * L;
    if (ple_w > wide) wide = ple_w;
    size_t ffn_mid = 0; /* matmul_ffn's scratch for a micro-batch, over the layers */
    for (int il = 0; il < L; il++) {
        const layer_weights *l = &m->layers[il];
        matmul_ffn_weights dense = {.F = l->n_ff};
        size_t n = matmul_ffn_scratch(&dense, U);
        if (l->gate_inp.data) { /* and experts_one_token's gate and up products of K experts */
            matmul_ffn_weights expert = expert_ffn(m, l, 0);
            size_t e = matmul_ffn_scratch(&expert, U), one = 2 * (size_t)m->n_expert_used * (size_t)m->n_ff_exp;
            if (e > n) n = e;
            if (one > n) n = one;
        }
        if (n > ffn_mid) ffn_mid = n;
    }

    size_t *sb = &c->scratch_bytes;
#define ALLOC(ptr, count, what) ptr = try_alloc(a, (size_t)(count) * sizeof(*(ptr)), sb, what)
    ALLOC(c->x, (size_t)U * E, "activations");
    ALLOC(c->h, (size_t)U * E, "activations");
    ALLOC(c->o, (size_t)U * E, "activations");
    ALLOC(c->q, (size_t)U * qd, "activations");
    ALLOC(c->k, (size_t)U * (kvd ? kvd : 1), "activations");
    ALLOC(c->v, (size_t)U * (kvd ? kvd : 1), "activations");
    ALLOC(c->att, (size_t)U * qd, "activations");
    ALLOC(c->ffn_mid, ffn_mid ? ffn_mid : 1, "activations");
    if (m->n_pl > 0) {
        ALLOC(c->gate, (size_t)U * m->n_pl, "per-layer embeddings");
        ALLOC(c->ple, (size_t)U * ple_w, "per-layer embeddings");
        ALLOC(c->ple_tmp, (size_t)U * ple_w, "per-layer embeddings");
    }
    if (m->n_expert > 0) {
        int K = m->n_expert_used;
        ALLOC(c->router, (size_t)U * m->n_expert, "router");
        ALLOC(c->moe_sel, (size_t)U * K, "router");
        ALLOC(c->moe_w, (size_t)U * K, "router");
        ALLOC(c->moe_rows, (size_t)U * K, "router");
        ALLOC(c->moe_start, (size_t)m->n_expert + 1, "router");
        ALLOC(c->moe_fill, (size_t)m->n_expert + 1, "router");
        ALLOC(c->moe_n2, (size_t)U * E, "experts");
        ALLOC(c->moe_acc, (size_t)U * E, "experts");
        ALLOC(c->moe_in, (size_t)U * E, "experts");
        ALLOC(c->moe_out, (size_t)(U > K ? U : K) * E, "experts"); /* K: experts_one_token */
    }
#undef ALLOC
    return wide;
}

/* Angle tables for one micro-batch and, per layer, inv_freq[i] = s * base^(-2i/n_rot) / ff[i]
 * (doc/forward.md#rope, doc/forward.md#proportional-rope), so a forward pass computes only
 * cos and sin. */
static void rope_new(gemma_context *c, ctx_alloc *a) {
    const gemma_model *m = c->m;
    int U = c->p.n_ubatch, rot = 0;
    for (int il = 0; il < m->n_layer; il++) if (m->layers[il].n_rot > rot) rot = m->layers[il].n_rot;
    c->rope_cos = try_alloc(a, (size_t)U * (rot / 2 + 1) * sizeof(float), &c->scratch_bytes, "RoPE tables");
    c->rope_sin = try_alloc(a, (size_t)U * (rot / 2 + 1) * sizeof(float), &c->scratch_bytes, "RoPE tables");
    c->inv_freq = xcalloc((size_t)m->n_layer, sizeof(double *));
    for (int il = 0; il < m->n_layer; il++) {
        const layer_weights *l = &m->layers[il];
        int half = l->n_rot / 2;
        c->inv_freq[il] = xmalloc((size_t)(half + 1) * sizeof(double));
        for (int i = 0; i < half; i++) {
            double f = (double)l->rope_scale * pow((double)l->rope_base, -2.0 * i / l->n_rot);
            if (l->rope_freqs) f /= l->rope_freqs[i];
            c->inv_freq[il][i] = f;
        }
    }
}

/* Each pool thread's attention scratch and, where the kernel set has tile attention, room
 * for the largest layer's K and V packed for the tiles, per kv head. Building the pool asks
 * for the kernel set, which is built (with its tables) here, not in the first pass. */
static void attention_scratch_new(gemma_context *c, ctx_alloc *a) {
    const gemma_model *m = c->m;
    const tile_kernels *t = &kernels_active()->tile;
    size_t *sb = &c->scratch_bytes;
    c->scores_each = attn_scratch_floats(t, c->head_dim_max);
    c->scores = try_alloc(a, (size_t)pool_size(c->pool) * c->scores_each * sizeof(float), sb,
                          "attention scratch");
    c->kv_packed.layer = -1;
    if (t->attn_supports) {
        int heads = 0;
        for (int il = 0; il < m->n_layer; il++) {
            const layer_weights *l = &m->layers[il];
            const kv_layer *kv = &c->kv[l->kv_source];
            if (kv->len == 0 || !t->attn_supports(l->head_dim)) continue;
            size_t each = t->kv_size(l->head_dim, kv->len);
            if (each > c->kv_packed.head_bytes) c->kv_packed.head_bytes = each;
            if (l->n_head_kv > heads) heads = l->n_head_kv;
        }
        if (heads) c->kv_packed.data = try_alloc(a, (size_t)heads * c->kv_packed.head_bytes, sb, "attention tiles");
    }
}

gemma_context *context_new(gemma_model *m, const context_params *p, char *err) {
    context_params fit = context_params_fit(p);
    if (kv_cache_check(m, &fit, err)) return NULL;
    gemma_context *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->p = fit;
    ctx_alloc a = {err, false};
    kv_cache_new(c, &a);
    int wide = scratch_new(c, &a);
    rope_new(c, &a);
    c->pool = pool_new(c->p.n_threads);
    attention_scratch_new(c, &a);
    c->mm.pool = c->pool;
    c->mm.qbuf_size = matmul_scratch_size(wide, c->p.n_ubatch);
    c->mm.qbuf = try_alloc(&a, c->mm.qbuf_size, &c->scratch_bytes, "quantized activations");
    if (a.failed) {
        context_free(c);
        return NULL;
    }
    return c;
}

void context_free(gemma_context *c) {
    if (!c) return;
    if (c->kv)
        for (int il = 0; il < c->m->n_layer; il++) {
            free_lines(c->kv[il].k);
            free_lines(c->kv[il].v);
            free_lines(c->kv[il].pos);
        }
    free(c->kv);
    matmul_ctx_release(&c->mm);
    if (c->inv_freq)
        for (int il = 0; il < c->m->n_layer; il++) free(c->inv_freq[il]);
    free(c->inv_freq);
    void *bufs[] = {c->rope_cos, c->rope_sin, c->x, c->h, c->o, c->q, c->k, c->v, c->att, c->ffn_mid, c->gate, c->ple,
                    c->ple_tmp, c->router, c->moe_sel, c->moe_w, c->moe_rows, c->moe_start, c->moe_fill, c->moe_n2,
                    c->moe_acc, c->moe_in, c->moe_out, c->scores, c->kv_packed.data, c->mm.qbuf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_lines(bufs[i]);
    pool_free(c->pool);
    free(c);
}

void context_reset(gemma_context *c) {
    c->n_past = 0;
    for (int il = 0; il < c->m->n_layer; il++)
        for (int i = 0; i < c->kv[il].len; i++) c->kv[il].pos[i] = -1;
}

int context_truncate(gemma_context *c, int n) {
    if (n < 0 || n > c->n_past) return -1;
    for (int il = 0; il < c->m->n_layer; il++) {
        const kv_layer *kv = &c->kv[il];
        if (kv->len == 0) continue;
        int lo = c->m->layers[il].is_swa ? n - c->m->n_swa : 0;
        for (int p = lo < 0 ? 0 : lo; p < n; p++)
            if (kv->pos[p % kv->len] != p) {
                context_reset(c);
                return -1;
            }
    }
    c->n_past = n;
    return 0;
}

int context_eval(gemma_context *c, const int32_t *ids, int n, float *logits, bool all_logits,
                 char *err) {
    gemma_model *m = c->m;
    if (n <= 0) return 0;
    if ((int64_t)c->n_past + n > c->p.n_ctx)
        return set_err(err, "context is full: %d tokens in the cache + %d new > context size %d",
                       c->n_past, n, c->p.n_ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->n_vocab)
            return set_err(err, "token id %d is out of range (vocabulary has %d tokens)", ids[i], m->n_vocab);

    for (int b0 = 0; b0 < n; b0 += c->p.n_ubatch) {
        int M = n - b0 < c->p.n_ubatch ? n - b0 : c->p.n_ubatch;
        int pos0 = c->n_past;
        c->rope_layer = -1;
        embed(c, ids + b0, M);
        if (m->n_pl > 0) ple_inputs(c, ids + b0, M);
        for (int il = 0; il < m->n_layer; il++) {
            attention_block(c, il, M, pos0);
            ffn_block(c, il, M);
            if (m->arch == ARCH_GEMMA4) ple_block(c, il, M);
        }
        c->n_past += M;
        if (all_logits) output_logits(c, 0, M, logits + (size_t)b0 * m->n_vocab);
        else if (b0 + M == n) output_logits(c, M - 1, 1, logits);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * What one token reads: the weight bytes context_eval's steps touch for a single decoded
 * token, which bound its speed on a CPU (bench reports bytes x tokens/s as bandwidth).
 *   embed()            one row of token_embd
 *   ple_inputs()       one row of per_layer_token_embd and all of per_layer_model_proj
 *   attention_block()  Wq, Wo; Wk, Wv only on layers that fill their own cache
 *   ffn_block()        gate, up, down; the router and, of each expert stack, the share of
 *                      the n_expert_used experts it picks
 *   ple_block()        the per-layer embedding gate and projection
 *   output_logits()    the output matrix (token_embd when tied)
 * Norm vectors (f32 copies, well under 0.1%) are left out. */

static uint64_t matrix_bytes(const weight *w) {
    if (!w->data) return 0;
    return (uint64_t)w->row_bytes * (uint64_t)w->ne[1] * (uint64_t)w->ne[2] * (uint64_t)w->ne[3];
}

static uint64_t layer_bytes_per_token(const gemma_model *m, const layer_weights *l) {
    uint64_t b = matrix_bytes(&l->wq) + matrix_bytes(&l->wo);
    if (l->has_kv) b += matrix_bytes(&l->wk) + matrix_bytes(&l->wv);
    b += matrix_bytes(&l->ffn_gate) + matrix_bytes(&l->ffn_up) + matrix_bytes(&l->ffn_down);
    b += matrix_bytes(&l->gate_inp) + matrix_bytes(&l->ple_gate) + matrix_bytes(&l->ple_proj);
    if (m->n_expert > 0) {
        uint64_t experts = matrix_bytes(&l->gate_exps) + matrix_bytes(&l->up_exps)
                         + matrix_bytes(&l->gate_up_exps) + matrix_bytes(&l->down_exps);
        b += experts / (uint64_t)m->n_expert * (uint64_t)m->n_expert_used;
    }
    return b;
}

uint64_t weight_bytes_per_token(const gemma_model *m) {
    uint64_t b = m->tok_embd.row_bytes;
    if (m->ple_tok_embd.data) b += m->ple_tok_embd.row_bytes + matrix_bytes(&m->ple_model_proj);
    for (int il = 0; il < m->n_layer && m->layers; il++) b += layer_bytes_per_token(m, &m->layers[il]);
    b += m->output.data ? matrix_bytes(&m->output) : matrix_bytes(&m->tok_embd);
    return b;
}
