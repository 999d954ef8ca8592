/* forward.c - one Gemma forward pass, from token ids to logits.
 *
 * The path of a micro-batch of M tokens (ARCHITECTURES.md §3-§6):
 *   x = token_embd[t] * sqrt(n_embd)                            embed()
 *   (Gemma 4 E models: per-layer embedding inputs)               ple_inputs()
 *   for each layer:
 *     x += post_norm(Wo · attention(rope(norm(Wq h)), K, V))     attention_block()
 *     x += post_norm(FFN(norm(x)))  or the mixture of experts     ffn_block(), moe_block()
 *     (Gemma 4: per-layer embedding, layer output scale)          ple_block()
 *   logits = softcap(W_out · norm(x))                             output_logits()
 * Activations are f32 throughout; weights stay in their file format (matmul.c). */
#include "forward.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------
 * Small vector operations */

/* RMSNorm(x; w) = x / sqrt(mean(x^2) + eps) * w; w == NULL is the weightless form. */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    if (w) for (int i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
    else   for (int i = 0; i < n; i++) out[i] = x[i] * scale;
}

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))).
 * Evaluated the way llama.cpp's CPU backend does (ARCHITECTURES.md §1.2): for |x| < 10 the
 * input is rounded to f16 and looked up in a table of f16-rounded results. That is faster
 * than tanhf and reproduces the reference's numbers, not just its formula. */
static float gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static float gelu_exact(float x) {
    const float c = 0.79788456080286535587989211986876f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x)));
}

static void gelu_table_init(void) {
    for (int h = 0; h < 65536; h++)
        gelu_table[h] = fp16_to_fp32(fp32_to_fp16(gelu_exact(fp16_to_fp32((uint16_t)h))));
}

/* f32 -> f16 bits, round to nearest even, for |x| < 10: normal halves take the fast
 * path (rebias the exponent, round the 13 dropped mantissa bits); tiny values go through
 * the general conversion. Same result as fp32_to_fp16 on that range. */
static inline uint16_t half_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a < 0x38800000) return fp32_to_fp16(x); /* below the smallest normal half */
    a += 0x0fff + ((a >> 13) & 1);
    return (uint16_t)(sign | ((a - 0x38000000) >> 13));
}

static inline float gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return gelu_table[half_bits(x)];
}

static inline float softcap(float x, float cap) { return cap * tanhf(x / cap); }

/* RoPE angles of one position (§1.3): theta_i = pos * inv_freq[i], with the layer's
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
static void rope(float *v, int half, const float *cs, const float *sn) {
    for (int i = 0; i < half; i++) {
        float a = v[i], b = v[i + half];
        v[i] = a * cs[i] - b * sn[i];
        v[i + half] = a * sn[i] + b * cs[i];
    }
}

/* q·k over one head, through the type table's F32 row dot (SIMD where available). */
static inline float dotf(vec_dot_fn dot, const float *a, const float *b, int n) {
    float s;
    dot(n, &s, a, b);
    return s;
}

/* y[M][w->ne[1]] = x[M][w->ne[0]] · W^T, for a whole matrix or expert e of a stack. */
static void mm(gemma_context *c, float *y, const weight *w, const float *x, int M) {
    matmul(&c->mm, y, w->data, w->type, w->ne[1], w->ne[0], x, M);
}
static void mm_expert(gemma_context *c, float *y, const weight *w, int e, const float *x, int M) {
    const uint8_t *base = (const uint8_t *)w->data + (size_t)e * (size_t)w->ne[1] * w->row_bytes;
    matmul(&c->mm, y, base, w->type, w->ne[1], w->ne[0], x, M);
}

/* ---------------------------------------------------------------------------------------
 * Embeddings */

static void embed(gemma_context *c, const int32_t *ids, int M) {
    gemma_model *m = c->m;
    int E = m->n_embd;
    float scale = sqrtf((float)E); /* exact f32 sqrt, as llama.cpp (HF rounds it to bf16) */
    for (int i = 0; i < M; i++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)ids[i] * m->tok_embd.row_bytes;
        dequant_row(m->tok_embd.type, row, c->x + (size_t)i * E, E);
        for (int j = 0; j < E; j++) c->x[(size_t)i * E + j] *= scale;
    }
}

/* Gemma 4 per-layer embedding inputs (§6.4), from the token rows (read straight from the
 * mapping, one row per token) and a projection of the scaled embedding x:
 *   ple[l] = (RMSNorm(proj(x)[l] / sqrt(n_embd)) + tok[l] * sqrt(n_pl)) / sqrt(2) */
static void ple_inputs(gemma_context *c, const int32_t *ids, int M) {
    gemma_model *m = c->m;
    int P = m->n_pl, L = m->n_layer, W = P * L, E = m->n_embd;
    mm(c, c->ple_tmp, &m->ple_model_proj, c->x, M);
    float tok_scale = sqrtf((float)P), proj_scale = 1.0f / sqrtf((float)E);
    float mix = 1.0f / sqrtf(2.0f);
    for (int i = 0; i < M; i++) {
        float *pl = c->ple + (size_t)i * W, *pp = c->ple_tmp + (size_t)i * W;
        const uint8_t *row = (const uint8_t *)m->ple_tok_embd.data + (size_t)ids[i] * m->ple_tok_embd.row_bytes;
        dequant_row(m->ple_tok_embd.type, row, pl, W);
        for (int l = 0; l < L; l++) {
            float *s = pp + (size_t)l * P;
            for (int j = 0; j < P; j++) s[j] *= proj_scale;
            rmsnorm(s, s, m->ple_proj_norm, P, m->eps);
            for (int j = 0; j < P; j++) pl[l * P + j] = (s[j] + pl[l * P + j] * tok_scale) * mix;
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Attention */

typedef struct {
    gemma_context *c;
    const layer_weights *l;
    int M, pos0;
    const kv_layer *kv;
    chunk_counter next;
} attn_job;

/* One (token, head) per task: scores over the visible cached keys, softmax, weighted sum
 * of values. Keys visible to a query at position p: p' <= p, and on sliding layers also
 * p - p' < n_swa (the window includes the query itself). */
static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    gemma_context *c = j->c;
    const layer_weights *l = j->l;
    const kv_layer *kv = j->kv;
    int hd = l->head_dim, nh = l->n_head, group = l->n_head / l->n_head_kv;
    int qd = nh * hd;
    float cap = c->m->attn_softcap;
    float *scores = c->scores + (size_t)ith * c->p.n_ctx;
    vec_dot_fn dot = ggml_type_traits(GGML_TYPE_F32)->vec_dot;
    axpy_fn axpy = f32_axpy();
    for (int t = chunks_next(&j->next); t < j->M * nh; t = chunks_next(&j->next)) {
        int i = t / nh, h = t % nh, g = h / group;
        int p = j->pos0 + i;
        int lo = l->is_swa && p - c->m->n_swa + 1 > 0 ? p - c->m->n_swa + 1 : 0;
        const float *q = c->q + (size_t)i * qd + (size_t)h * hd;
        float mx = -INFINITY;
        for (int pp = lo; pp <= p; pp++) {
            int slot = pp % kv->len;
            float s = dotf(dot, q, kv->k + (size_t)slot * kv->kv_dim + (size_t)g * hd, hd);
            if (cap > 0) s = softcap(s, cap);
            scores[pp - lo] = s;
            if (s > mx) mx = s;
        }
        float sum = 0.0f;
        for (int pp = lo; pp <= p; pp++) {
            float e = expf(scores[pp - lo] - mx);
            scores[pp - lo] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        float *out = c->att + (size_t)i * qd + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int pp = lo; pp <= p; pp++) {
            int slot = pp % kv->len;
            const float *v = kv->v + (size_t)slot * kv->kv_dim + (size_t)g * hd;
            axpy(hd, scores[pp - lo] * inv, v, out);
        }
    }
}

static void attention_block(gemma_context *c, int il, int M, int pos0) {
    gemma_model *m = c->m;
    const layer_weights *l = &m->layers[il];
    int E = m->n_embd, hd = l->head_dim, nh = l->n_head, nkv = l->n_head_kv;
    int qd = nh * hd, kvd = nkv * hd;

    for (int i = 0; i < M; i++) rmsnorm(c->h + (size_t)i * E, c->x + (size_t)i * E, l->attn_norm, E, m->eps);

    /* RoPE angles for each token of the batch, shared by all heads of Q and K */
    int half = l->n_rot / 2;
    for (int i = 0; i < M; i++)
        rope_angles(c->rope_cos + (size_t)i * half, c->rope_sin + (size_t)i * half, c->inv_freq[il], half, pos0 + i);

    /* Q: per-head norm (Gemma 3/4), RoPE, query scale */
    mm(c, c->q, &l->wq, c->h, M);
    for (int i = 0; i < M; i++)
        for (int h = 0; h < nh; h++) {
            float *q = c->q + (size_t)i * qd + (size_t)h * hd;
            if (l->q_norm) rmsnorm(q, q, l->q_norm, hd, m->eps);
            rope(q, half, c->rope_cos + (size_t)i * half, c->rope_sin + (size_t)i * half);
            if (l->kq_scale != 1.0f) for (int d = 0; d < hd; d++) q[d] *= l->kq_scale;
        }

    /* K, V of this layer into its cache (layers sharing another layer's cache skip this) */
    if (l->has_kv) {
        kv_layer *kv = &c->kv[il];
        mm(c, c->k, &l->wk, c->h, M);
        if (l->v_from_k) memcpy(c->v, c->k, (size_t)M * kvd * sizeof(float)); /* raw K, before its norm */
        else mm(c, c->v, &l->wv, c->h, M);
        for (int i = 0; i < M; i++) {
            int p = pos0 + i, slot = p % kv->len;
            for (int g = 0; g < nkv; g++) {
                float *k = c->k + (size_t)i * kvd + (size_t)g * hd;
                float *v = c->v + (size_t)i * kvd + (size_t)g * hd;
                if (l->k_norm) rmsnorm(k, k, l->k_norm, hd, m->eps);
                if (l->v_norm) rmsnorm(v, v, NULL, hd, m->eps);
                rope(k, half, c->rope_cos + (size_t)i * half, c->rope_sin + (size_t)i * half);
            }
            memcpy(kv->k + (size_t)slot * kvd, c->k + (size_t)i * kvd, (size_t)kvd * sizeof(float));
            memcpy(kv->v + (size_t)slot * kvd, c->v + (size_t)i * kvd, (size_t)kvd * sizeof(float));
            kv->pos[slot] = p;
        }
    }

    attn_job j = {c, l, M, pos0, &c->kv[l->kv_source], {0}};
    chunks_reset(&j.next);
    pool_run(c->pool, attn_worker, &j);

    mm(c, c->o, &l->wo, c->att, M);
    for (int i = 0; i < M; i++) {
        float *o = c->o + (size_t)i * E, *x = c->x + (size_t)i * E;
        if (l->post_attn_norm) rmsnorm(o, o, l->post_attn_norm, E, m->eps);
        for (int d = 0; d < E; d++) x[d] += o[d];
    }
}

/* ---------------------------------------------------------------------------------------
 * Feed-forward: GeGLU, FFN(h) = W_down · (gelu(W_gate · h) * (W_up · h)) */

static void geglu(gemma_context *c, float *out, const weight *gate, const weight *up,
                  const weight *down, const float *h, int M) {
    int64_t F = gate->ne[1];
    mm(c, c->gate, gate, h, M);
    mm(c, c->up, up, h, M);
    for (int64_t i = 0; i < (int64_t)M * F; i++) c->gate[i] = gelu(c->gate[i]) * c->up[i];
    mm(c, out, down, c->gate, M);
}

/* Mixture of experts (Gemma 4 26B-A4B, §6.7) on the post-attention stream a = x:
 *   f = post_ffw_norm_1(FFN(ffn_norm(a))) + post_ffw_norm_2(sum_e w_e s_e expert_e(pre_ffw_norm_2(a)))
 * The batch's tokens are grouped by expert so each expert's matrices are read once. */
static void moe_block(gemma_context *c, const layer_weights *l, int M, float *f) {
    gemma_model *m = c->m;
    int E = m->n_embd, X = m->n_expert, K = m->n_expert_used, F = m->n_ff_exp;

    /* dense branch */
    for (int i = 0; i < M; i++) rmsnorm(c->h + (size_t)i * E, c->x + (size_t)i * E, l->ffn_norm, E, m->eps);
    geglu(c, f, &l->ffn_gate, &l->ffn_up, &l->ffn_down, c->h, M);
    for (int i = 0; i < M; i++) rmsnorm(f + (size_t)i * E, f + (size_t)i * E, l->post_ffw_norm_1, E, m->eps);

    /* router: softmax over all experts of W_r · (rms_norm(a) / sqrt(n_embd) * scale) */
    float inv_sqrt_e = 1.0f / sqrtf((float)E);
    for (int i = 0; i < M; i++) {
        float *r = c->h + (size_t)i * E;
        rmsnorm(r, c->x + (size_t)i * E, NULL, E, m->eps);
        for (int d = 0; d < E; d++) r[d] = r[d] * inv_sqrt_e * l->gate_inp_scale[d];
    }
    mm(c, c->router, &l->gate_inp, c->h, M);
    for (int i = 0; i < M; i++) {
        float *p = c->router + (size_t)i * X;
        float mx = -INFINITY, sum = 0.0f;
        for (int e = 0; e < X; e++) if (p[e] > mx) mx = p[e];
        for (int e = 0; e < X; e++) { p[e] = expf(p[e] - mx); sum += p[e]; }
        for (int e = 0; e < X; e++) p[e] /= sum;
        /* top-k by probability (ties: lower expert id), weights renormalised */
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

    /* experts, one matrix pass per expert over the tokens routed to it */
    for (int i = 0; i < M; i++) rmsnorm(c->moe_n2 + (size_t)i * E, c->x + (size_t)i * E, l->pre_ffw_norm_2, E, m->eps);
    memset(c->moe_acc, 0, (size_t)M * E * sizeof(float));
    for (int e = 0; e < X; e++) {
        int cnt = 0;
        for (int i = 0; i < M; i++)
            for (int k = 0; k < K; k++)
                if (c->moe_sel[(size_t)i * K + k] == e) {
                    c->moe_rows[cnt] = i * K + k; /* token i, slot k */
                    memcpy(c->moe_in + (size_t)cnt * E, c->moe_n2 + (size_t)i * E, (size_t)E * sizeof(float));
                    cnt++;
                }
        if (cnt == 0) continue;
        float *act = c->gate;
        if (l->gate_up_exps.data) {
            mm_expert(c, c->moe_gu, &l->gate_up_exps, e, c->moe_in, cnt); /* rows: gate | up */
            for (int r = 0; r < cnt; r++)
                for (int j = 0; j < F; j++)
                    act[(size_t)r * F + j] = gelu(c->moe_gu[(size_t)r * 2 * F + j]) * c->moe_gu[(size_t)r * 2 * F + F + j];
        } else {
            mm_expert(c, c->moe_gu, &l->gate_exps, e, c->moe_in, cnt);
            mm_expert(c, c->up, &l->up_exps, e, c->moe_in, cnt);
            for (int64_t j = 0; j < (int64_t)cnt * F; j++) act[j] = gelu(c->moe_gu[j]) * c->up[j];
        }
        mm_expert(c, c->moe_out, &l->down_exps, e, act, cnt);
        float es = l->down_exps_scale ? l->down_exps_scale[e] : 1.0f;
        for (int r = 0; r < cnt; r++) {
            int i = c->moe_rows[r] / K, k = c->moe_rows[r] % K;
            float wgt = c->moe_w[(size_t)i * K + k];
            float *acc = c->moe_acc + (size_t)i * E, *y = c->moe_out + (size_t)r * E;
            for (int d = 0; d < E; d++) acc[d] += (y[d] * es) * wgt;
        }
    }
    for (int i = 0; i < M; i++) {
        float *acc = c->moe_acc + (size_t)i * E;
        rmsnorm(acc, acc, l->post_ffw_norm_2, E, m->eps);
        for (int d = 0; d < E; d++) f[(size_t)i * E + d] += acc[d];
    }
}

static void ffn_block(gemma_context *c, int il, int M) {
    gemma_model *m = c->m;
    const layer_weights *l = &m->layers[il];
    int E = m->n_embd;
    if (l->gate_inp.data) {
        moe_block(c, l, M, c->o);
    } else {
        for (int i = 0; i < M; i++) rmsnorm(c->h + (size_t)i * E, c->x + (size_t)i * E, l->ffn_norm, E, m->eps);
        geglu(c, c->o, &l->ffn_gate, &l->ffn_up, &l->ffn_down, c->h, M);
    }
    for (int i = 0; i < M; i++) {
        float *o = c->o + (size_t)i * E, *x = c->x + (size_t)i * E;
        if (l->post_ffw_norm) rmsnorm(o, o, l->post_ffw_norm, E, m->eps);
        for (int d = 0; d < E; d++) x[d] += o[d];
    }
}

/* Gemma 4 per-layer embedding: x += post_norm(proj(gelu(inp_gate · x) * ple[il])), then
 * the whole stream is multiplied by layer_output_scale. */
static void ple_block(gemma_context *c, int il, int M) {
    gemma_model *m = c->m;
    const layer_weights *l = &m->layers[il];
    int E = m->n_embd, P = m->n_pl, W = P * m->n_layer;
    if (P > 0) {
        mm(c, c->gate, &l->ple_gate, c->x, M);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < P; j++)
                c->gate[(size_t)i * P + j] = gelu(c->gate[(size_t)i * P + j]) * c->ple[(size_t)i * W + (size_t)il * P + j];
        mm(c, c->o, &l->ple_proj, c->gate, M);
        for (int i = 0; i < M; i++) {
            float *o = c->o + (size_t)i * E, *x = c->x + (size_t)i * E;
            rmsnorm(o, o, l->ple_post_norm, E, m->eps);
            for (int d = 0; d < E; d++) x[d] += o[d];
        }
    }
    if (l->out_scale != 1.0f)
        for (int64_t i = 0; i < (int64_t)M * E; i++) c->x[i] *= l->out_scale;
}

/* logits of `rows` consecutive tokens starting at row r0 of x */
static void output_logits(gemma_context *c, int r0, int rows, float *logits) {
    gemma_model *m = c->m;
    int E = m->n_embd;
    for (int i = 0; i < rows; i++)
        rmsnorm(c->h + (size_t)i * E, c->x + (size_t)(r0 + i) * E, m->output_norm, E, m->eps);
    const weight *w = m->output.data ? &m->output : &m->tok_embd; /* tied head: unscaled */
    mm(c, logits, w, c->h, rows);
    if (m->final_softcap > 0)
        for (int64_t i = 0; i < (int64_t)rows * m->n_vocab; i++) logits[i] = softcap(logits[i], m->final_softcap);
}

/* ---------------------------------------------------------------------------------------
 * Context */

static void *try_alloc(size_t n, size_t *total, char *err, const char *what, bool *failed) {
    if (*failed) return NULL;
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        set_err(err, "cannot allocate %zu MiB for the %s", n >> 20, what);
        *failed = true;
    }
    *total += n;
    return p;
}

gemma_context *context_new(gemma_model *m, const context_params *p, char *err) {
    gemma_context *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->p = *p;
    if (c->p.n_ctx < 1) c->p.n_ctx = 1;
    if (c->p.n_ubatch < 1) c->p.n_ubatch = 512;
    if (c->p.n_ubatch > c->p.n_ctx) c->p.n_ubatch = c->p.n_ctx;
    if (c->p.n_threads < 1) c->p.n_threads = 1;
    int U = c->p.n_ubatch, E = m->n_embd, L = m->n_layer;
    bool failed = false;

    /* KV cache: full layers hold n_ctx cells; sliding layers a ring of window + batch.
     * Refuse up front, with the size, a cache larger than the machine's memory (the
     * kernel would happily hand out the virtual memory and fail later). */
    uint64_t need = 0;
    for (int il = 0; il < L; il++) {
        const layer_weights *l = &m->layers[il];
        if (!l->has_kv) continue;
        uint64_t len = (uint64_t)c->p.n_ctx;
        if (l->is_swa && (uint64_t)m->n_swa + (uint64_t)U < len) len = (uint64_t)m->n_swa + (uint64_t)U;
        need += len * ((uint64_t)l->n_head_kv * (uint64_t)l->head_dim * 2 * sizeof(float) + sizeof(int32_t));
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    if (ram && need > ram) {
        set_err(err, "a context of %d tokens needs %.1f GiB of KV cache, more than this machine's %.1f GiB of memory; use a smaller -c",
                c->p.n_ctx, need / 1073741824.0, ram / 1073741824.0);
        free(c);
        return NULL;
    }
    c->kv = xcalloc((size_t)L, sizeof(kv_layer));
    for (int il = 0; il < L && !failed; il++) {
        const layer_weights *l = &m->layers[il];
        if (!l->has_kv) continue;
        kv_layer *kv = &c->kv[il];
        kv->len = c->p.n_ctx;
        if (l->is_swa && (int64_t)m->n_swa + U < kv->len) kv->len = m->n_swa + U;
        kv->kv_dim = l->n_head_kv * l->head_dim;
        size_t n = (size_t)kv->len * kv->kv_dim * sizeof(float);
        kv->k = try_alloc(n, &c->kv_bytes, err, "KV cache", &failed);
        kv->v = try_alloc(n, &c->kv_bytes, err, "KV cache", &failed);
        kv->pos = try_alloc((size_t)kv->len * sizeof(int32_t), &c->kv_bytes, err, "KV cache", &failed);
        if (kv->pos) for (int i = 0; i < kv->len; i++) kv->pos[i] = -1;
    }

    int qd = 0, kvd = 0, ff = 0;
    for (int il = 0; il < L; il++) {
        const layer_weights *l = &m->layers[il];
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

    size_t *sb = &c->scratch_bytes;
#define ALLOC(ptr, count, what) ptr = try_alloc((size_t)(count) * sizeof(*(ptr)), sb, err, what, &failed)
    ALLOC(c->x, (size_t)U * E, "activations");
    ALLOC(c->h, (size_t)U * E, "activations");
    ALLOC(c->o, (size_t)U * E, "activations");
    ALLOC(c->q, (size_t)U * qd, "activations");
    ALLOC(c->k, (size_t)U * (kvd ? kvd : 1), "activations");
    ALLOC(c->v, (size_t)U * (kvd ? kvd : 1), "activations");
    ALLOC(c->att, (size_t)U * qd, "activations");
    ALLOC(c->gate, (size_t)U * ff, "activations");
    ALLOC(c->up, (size_t)U * ff, "activations");
    if (m->n_pl > 0) {
        ALLOC(c->ple, (size_t)U * ple_w, "per-layer embeddings");
        ALLOC(c->ple_tmp, (size_t)U * ple_w, "per-layer embeddings");
    }
    if (m->n_expert > 0) {
        int K = m->n_expert_used;
        ALLOC(c->router, (size_t)U * m->n_expert, "router");
        ALLOC(c->moe_sel, (size_t)U * K, "router");
        ALLOC(c->moe_w, (size_t)U * K, "router");
        ALLOC(c->moe_rows, (size_t)U * K, "router");
        ALLOC(c->moe_n2, (size_t)U * E, "experts");
        ALLOC(c->moe_acc, (size_t)U * E, "experts");
        ALLOC(c->moe_in, (size_t)U * E, "experts");
        ALLOC(c->moe_out, (size_t)U * E, "experts");
        ALLOC(c->moe_gu, (size_t)U * 2 * m->n_ff_exp, "experts");
    }
    int rot = 0;
    for (int il = 0; il < L; il++) if (m->layers[il].n_rot > rot) rot = m->layers[il].n_rot;
    ALLOC(c->rope_cos, (size_t)U * (rot / 2 + 1), "RoPE tables");
    ALLOC(c->rope_sin, (size_t)U * (rot / 2 + 1), "RoPE tables");
    c->inv_freq = xcalloc((size_t)L, sizeof(double *));
    for (int il = 0; il < L; il++) {
        const layer_weights *l = &m->layers[il];
        int half = l->n_rot / 2;
        c->inv_freq[il] = xmalloc((size_t)(half + 1) * sizeof(double));
        for (int i = 0; i < half; i++) {
            double f = (double)l->rope_scale * pow((double)l->rope_base, -2.0 * i / l->n_rot);
            if (l->rope_freqs) f /= l->rope_freqs[i];
            c->inv_freq[il][i] = f;
        }
    }
    pthread_once(&gelu_once, gelu_table_init);
    c->pool = pool_new(c->p.n_threads);
    ALLOC(c->scores, (size_t)pool_size(c->pool) * c->p.n_ctx, "attention scores");
#undef ALLOC
    c->mm.pool = c->pool;
    c->mm.qbuf_size = matmul_scratch_size(wide, U);
    c->mm.qbuf = try_alloc(c->mm.qbuf_size, sb, err, "quantized activations", &failed);
    if (failed) {
        context_free(c);
        return NULL;
    }
    return c;
}

void context_free(gemma_context *c) {
    if (!c) return;
    if (c->kv)
        for (int il = 0; il < c->m->n_layer; il++) {
            free(c->kv[il].k);
            free(c->kv[il].v);
            free(c->kv[il].pos);
        }
    free(c->kv);
    matmul_ctx_release(&c->mm);
    if (c->inv_freq)
        for (int il = 0; il < c->m->n_layer; il++) free(c->inv_freq[il]);
    free(c->inv_freq);
    void *bufs[] = {c->rope_cos, c->rope_sin, c->x, c->h, c->o, c->q, c->k, c->v, c->att, c->gate, c->up, c->ple,
                    c->ple_tmp, c->router, c->moe_sel, c->moe_w, c->moe_rows, c->moe_n2,
                    c->moe_acc, c->moe_in, c->moe_out, c->moe_gu, c->scores, c->mm.qbuf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
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
