/* forward.c - one Gemma forward pass, from token ids to logits.
 *
 * The path of a micro-batch of M tokens (doc/forward.md), forward():
 *   x = token_embd[t] * sqrt(n_embd)                            embed()
 *   (Gemma 4 E models: per-layer embedding inputs)               ple_inputs()
 *   for each layer:
 *     x += post_norm(Wo · attention(q, K, V))                     attention_block()
 *          with q, k, v = Wq, Wk, Wv · norm(x)  (attention.c: norms, RoPE, the KV cache)
 *     x += post_norm(FFN(norm(x)))  or the mixture of experts     ffn_block(), moe_block()
 *     (Gemma 4: per-layer embedding, layer output scale)          ple_block()
 *   logits = softcap(W_out · norm(x))                             output_logits()
 * The M rows may come from several sequences, each with its own context (KV cache,
 * position): context_eval_batch() forms the micro-batches (next_ubatch), and only the
 * attention over the cache is per sequence (seq_attention); context_eval() is a batch of
 * one sequence, so decode, prompt processing and the server's steps run the same code.
 * Activations are f32 throughout; weights stay in their file format (matmul.c); the
 * element-wise steps between the products are vec.h's. At each block boundary dump() shows
 * the activations to GEMMA_DUMP (dump.h), when it was set. */
#include "forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "util.h"
#include "vec.h"

/* y[M][w->ne[1]] = x[M][w->ne[0]] · W^T; several products of the same x go to
 * matmul_many in one pass. */
static matmul_part part(float *y, const weight *w) {
    return (matmul_part){.y = y, .w = w->data, .type = w->type, .N = w->ne[1]};
}
static void mm(gemma_context *c, float *y, const weight *w, const float *x, int M) {
    matmul(&c->mm, y, w->data, w->type, w->ne[1], w->ne[0], x, M);
}

/* A micro-batch: M rows (c->ids) from one or more sequences, and the rows whose logits
 * are wanted. Everything but attention treats the rows alike, so each matrix is read once
 * for all of them; attention takes each sequence's rows to its own cache (seq_attention). */
typedef struct {
    gemma_context *c; /* the sequence's context: its KV cache and position */
    int row0, n;      /* its rows row0 .. row0 + n - 1 of the batch */
    int pos0;         /* the position of its first row */
} seq_rows;

typedef struct {
    const int32_t *ids;
    int M;
    seq_rows *seq;
    int n_seq;
    int *out_row;     /* the rows whose logits are wanted, in order */
    float **out_dst;  /* where each one's n_vocab logits go */
    int n_out;
} ubatch;

/* GEMMA_DUMP (dump.h): the activations at a block boundary, n rows of `width` from the
 * batch's row r0, when the context was made with a dumper */
static void dump(gemma_context *c, dump_point p, int il, const float *x, int width, int n, int r0) {
    if (c->dump) dump_rows(c->dump, p, il, x, width, n, r0);
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
        weight_row(&m->tok_embd, ids[i], c->x + (size_t)i * E, c->embd_row); /* file rows or panels (repack.c) */
    }
    dump(c, DUMP_INP_EMBD, -1, c->x, E, M, 0);
    for (int i = 0; i < M; i++) scale(c->x + (size_t)i * E, s, E);
    dump(c, DUMP_INP_SCALED, -1, c->x, E, M, 0);
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
 * Attention block: the projections here, the attention over the cache in attention.c */

/* The attention of each sequence's rows of the batch over its own KV cache, at its own
 * positions, all on the batch's threads in one run: each sequence's context lends its cache,
 * RoPE tables and per-thread scratch (context_eval_batch checked the scratch has a slot for
 * each of those threads), the batch's context its pool. */
static void seqs_attention(gemma_context *c, const ubatch *b, int il) {
    const layer_weights *l = &c->m->layers[il];
    size_t qd = (size_t)l->n_head * l->head_dim, kvd = (size_t)l->n_head_kv * l->head_dim;
    enum { FEW = 16 };
    attn_seq few[FEW], *s = b->n_seq <= FEW ? few : xmalloc((size_t)b->n_seq * sizeof *s);
    for (int i = 0; i < b->n_seq; i++) {
        const seq_rows *r = &b->seq[i];
        s[i] = (attn_seq){&r->c->attn, c->q + r->row0 * qd, c->k + r->row0 * kvd, c->v + r->row0 * kvd,
                          c->att + r->row0 * qd, r->n, r->pos0};
    }
    attention_seqs(s, b->n_seq, il, c->pool);
    if (s != few) free(s);
}

/* At one token the cache lines attention will touch are cold (the whole model streamed
 * through the caches since the last token): the lines the new K and V go to, and those of the
 * first cells each step attends to (up to 256, shared by the sequences). So the threads of the
 * Q/K/V product's run ask for them before they stream their weights, and the misses overlap
 * the product. Every thread asks for the cells, as attention's tasks read them on whichever
 * cores claim them; asked for on the caller alone, the other core read them out of the
 * caller's cache (gemma3-1b Q4_0, alternating token by token: attention 13.5-14.6 -> 12.1-12.6
 * us a layer, the worker's tasks 11.3-12.0 -> 10.0-10.2). The lines to write, and with
 * several kv heads the cells too, are asked for head by head by the thread that will store
 * and attend the head (attention.h). */
typedef struct { const ubatch *b; int il; } kv_lines;

static void prefetch_kv_lines(const void *arg, int ith, int nth) {
    const kv_lines *k = arg;
    const ubatch *b = k->b;
    int cells = 256 / (b->n_seq > 0 ? b->n_seq : 1);
    for (int i = 0; i < b->n_seq; i++)
        if (b->seq[i].n == 1) {
            attention_prefetch_cell(&b->seq[i].c->attn, k->il, b->seq[i].pos0, ith, nth);
            attention_prefetch_cells(&b->seq[i].c->attn, k->il, b->seq[i].pos0, cells < 16 ? 16 : cells, ith, nth);
        }
}

static void attention_block(gemma_context *c, int il, const ubatch *b) {
    gemma_model *m = c->m;
    const layer_weights *l = &m->layers[il];
    int E = m->n_embd, kvd = l->n_head_kv * l->head_dim, M = b->M;

    norm(c, c->h, c->x, l->attn_norm, E, M);
    dump(c, DUMP_ATTN_NORM, il, c->h, E, M, 0);
    /* Q, and K, V of this layer (layers sharing another layer's cache skip K and V), as
     * one pass over the threads */
    kv_lines lines = {b, il};
    matmul_part p[3] = {part(c->q, &l->wq), part(c->k, &l->wk), part(c->v, &l->wv)};
    p[0].prologue = prefetch_kv_lines;
    p[0].prologue_arg = &lines;
    int n = !l->has_kv ? 1 : l->v_from_k ? 2 : 3;
    matmul_many(&c->mm, p, n, l->wq.ne[0], c->h, M);
    if (l->has_kv && l->v_from_k) memcpy(c->v, c->k, (size_t)M * kvd * sizeof(float)); /* raw K, before its norm */
    /* each sequence's K and V into its cache, then its query heads over the keys they see */
    seqs_attention(c, b, il);
    dump(c, DUMP_KQV_OUT, il, c->att, l->n_head * l->head_dim, M, 0);
    mm(c, c->o, &l->wo, c->att, M);
    dump(c, DUMP_ATTN_OUT, il, c->o, E, M, 0);
    residual(c, c->o, l->post_attn_norm, 1.0f, M);
    dump(c, DUMP_FFN_INP, il, c->x, E, M, 0);
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
    dump(c, DUMP_FFN_OUT, il, c->o, m->n_embd, M, 0);
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

/* The output projection's epilogue, on a run of logits a thread has just computed: the
 * final soft-capping (262,144 per token on Gemma 3 and 4: one thread's scalar tanhf took
 * 2.4-2.6 ms), then, when the rows go to buffers apart (several sequences), the copy into
 * the row's own buffer while the run is in this thread's cache (after the product, one
 * thread copied 8 rows' 8 MB: 2 % of a step of 8 sequences). */
typedef struct {
    float cap;                /* <= 0: none */
    const float *rows;        /* the product's output, rows of V */
    int64_t V;
    float *const *dst;        /* NULL: the rows are the callers' buffers already */
} logits_epilogue;

static void finish_logits(const void *arg, float *y, int64_t n) {
    const logits_epilogue *e = arg;
    if (e->cap > 0) kernels_active()->vec.softcap(y, (int)n, e->cap);
    if (e->dst) {
        int64_t at = y - e->rows;
        memcpy(e->dst[at / e->V] + at % e->V, y, (size_t)n * sizeof(float));
    }
}

/* The logits of the batch's out rows: their rows of x gathered into h, the final norm, one
 * product with the output matrix for all of them (262,144 rows on Gemma 3 and 4: the
 * largest matrix, read once per step whatever the number of sequences), written straight
 * to the callers' buffers when they follow each other there (one sequence), else through
 * c->logits_rows, from where the threads copy each run out as they finish it. */
static void output_logits(gemma_context *c, const ubatch *b) {
    gemma_model *m = c->m;
    int E = m->n_embd, V = m->n_vocab, n = b->n_out;
    bool direct = true;
    for (int i = 0; i < n; i++) {
        memcpy(c->h + (size_t)i * E, c->x + (size_t)b->out_row[i] * E, (size_t)E * sizeof(float));
        direct &= b->out_dst[i] == b->out_dst[0] + (size_t)i * V;
    }
    norm(c, c->h, c->h, m->output_norm, E, n);
    dump(c, DUMP_RESULT_NORM, -1, c->h, E, n, b->out_row[0]);
    float *logits = b->out_dst[0];
    if (!direct) {
        if ((size_t)n * V > c->logits_rows_n) {
            free(c->logits_rows);
            c->logits_rows_n = (size_t)n * V;
            c->logits_rows = xmalloc(c->logits_rows_n * sizeof(float));
        }
        logits = c->logits_rows;
    }
    const weight *w = m->output.data ? &m->output : &m->tok_embd; /* tied head: unscaled */
    matmul_part p = part(logits, w);
    logits_epilogue e = {m->final_softcap, logits, V, direct ? NULL : b->out_dst};
    if (e.cap > 0 || e.dst) {
        p.epilogue = finish_logits;
        p.epilogue_arg = &e;
    }
    matmul_many(&c->mm, &p, 1, E, c->h, n);
    dump(c, DUMP_RESULT_OUTPUT, -1, logits, V, n, b->out_row[0]);
}

/* One micro-batch through the model: the path in this file's header, for all its rows. */
static void forward(gemma_context *c, const ubatch *b) {
    gemma_model *m = c->m;
    if (c->dump) dump_batch(c->dump, b->seq[0].pos0);
    embed(c, b->ids, b->M);
    if (m->n_pl > 0) ple_inputs(c, b->ids, b->M);
    for (int il = 0; il < m->n_layer; il++) {
        attention_block(c, il, b);
        ffn_block(c, il, b->M);
        if (m->arch == ARCH_GEMMA4) ple_block(c, il, b->M);
        dump(c, DUMP_L_OUT, il, c->x, m->n_embd, b->M, 0);
    }
    if (b->n_out) output_logits(c, b); /* none for a prompt chunk whose logits nobody reads */
}

/* ---------------------------------------------------------------------------------------
 * Context: set-up in the order of its jobs, each a function
 *   context_params_fit()   the parameters made consistent (batch <= context, >= 1 thread)
 *   kv_cache_check()       refuse a KV cache larger than the machine's memory, up front
 *   attn_ctx_init()        attention's state: the KV cache, RoPE tables, per-thread scratch
 *   scratch_new()          activation buffers for one micro-batch, sized by the widest layer
 * Buffers come from one allocator that remembers the first failure (util.h: setup_alloc):
 * set-up then runs to the end and context_new frees what it got. */

static context_params context_params_fit(const context_params *p) {
    context_params q = *p;
    if (q.n_ctx < 1) q.n_ctx = 1;
    if (q.n_ubatch < 1) q.n_ubatch = 512;
    if (q.n_ubatch > q.n_ctx) q.n_ubatch = q.n_ctx;
    if (q.n_threads < 1) q.n_threads = 1;
    return q;
}

/* Activation buffers, [n_ubatch][width] each, for the widest layer. Returns the widest row
 * a matrix product takes as input (it sizes the quantized-activation buffer). */
static int scratch_new(gemma_context *c, setup_alloc *a) {
    const gemma_model *m = c->m;
    int U = c->p.n_ubatch, E = m->n_embd, L = m->n_layer;
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
#define ALLOC(ptr, count, what) ptr = setup_alloc_lines(a, (size_t)(count) * sizeof(*(ptr)), sb, what)
    ALLOC(c->x, (size_t)U * E, "activations");
    ALLOC(c->h, (size_t)U * E, "activations");
    ALLOC(c->o, (size_t)U * E, "activations");
    ALLOC(c->q, (size_t)U * qd, "activations");
    ALLOC(c->k, (size_t)U * (kvd ? kvd : 1), "activations");
    ALLOC(c->v, (size_t)U * (kvd ? kvd : 1), "activations");
    ALLOC(c->att, (size_t)U * qd, "activations");
    ALLOC(c->ffn_mid, ffn_mid ? ffn_mid : 1, "activations");
    ALLOC(c->ids, U, "activations");
    ALLOC(c->embd_row, m->tok_embd.row_bytes, "activations");
    ALLOC(c->out_row, U, "activations");
    ALLOC(c->out_dst, U, "activations");
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

gemma_context *context_new(gemma_model *m, const context_params *p, char *err) {
    context_params fit = context_params_fit(p);
    if (kv_cache_check(m, fit.n_ctx, fit.n_ubatch, fit.type_k, fit.type_v, err)) return NULL;
    dumper *dump; /* GEMMA_DUMP, read once here */
    if (dumper_new(getenv("GEMMA_DUMP"), getenv("GEMMA_DUMP_DIR"), m->n_layer, &dump, err)) return NULL;
    gemma_context *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->p = fit;
    c->dump = dump;
    setup_alloc a = {err, false};
    c->pool = pool_new(c->p.n_threads);
    attn_ctx_init(&c->attn, m, c->pool, c->p.n_ctx, c->p.n_ubatch, c->p.type_k, c->p.type_v, &a, &c->kv_bytes, &c->scratch_bytes);
    int wide = scratch_new(c, &a);
    c->mm.pool = c->pool;
    c->mm.qbuf_size = matmul_scratch_size(wide, c->p.n_ubatch);
    c->mm.qbuf = setup_alloc_lines(&a, c->mm.qbuf_size, &c->scratch_bytes, "quantized activations");
    if (a.failed) {
        context_free(c);
        return NULL;
    }
    return c;
}

void context_free(gemma_context *c) {
    if (!c) return;
    attn_ctx_release(&c->attn);
    matmul_ctx_release(&c->mm);
    void *bufs[] = {c->x, c->h, c->o, c->q, c->k, c->v, c->att, c->ffn_mid, c->gate, c->ple,
                    c->ple_tmp, c->router, c->moe_sel, c->moe_w, c->moe_rows, c->moe_start, c->moe_fill, c->moe_n2,
                    c->moe_acc, c->moe_in, c->moe_out, c->mm.qbuf, c->ids, c->embd_row, c->out_row, c->out_dst};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_lines(bufs[i]);
    free(c->logits_rows);
    pool_free(c->pool);
    dumper_free(c->dump);
    free(c);
}

void context_reset(gemma_context *c) {
    c->n_past = 0;
    kv_cache_clear(&c->attn);
}

int context_truncate(gemma_context *c, int n) {
    if (n < 0 || n > c->n_past) return -1;
    if (!kv_cache_holds(&c->attn, n)) {
        context_reset(c);
        return -1;
    }
    c->n_past = n;
    return 0;
}

/* Why a batch cannot run, or 0: every sequence's context on the same model, once; its pool
 * at least as large as the batch's (attention uses its per-thread scratch on the batch's
 * threads); its tokens in range and within its context. */
static int batch_check(const seq_eval *items, int n, char *err) {
    gemma_context *c = items[0].c;
    for (int i = 0; i < n; i++) {
        const seq_eval *it = &items[i];
        gemma_context *ci = it->c;
        if (it->n < 0) return set_err(err, "batch item %d: negative token count %d", i, it->n);
        if (ci->m != c->m) return set_err(err, "batch item %d: its context is on another model than item 0's", i);
        for (int k = 0; k < i; k++)
            if (items[k].c == ci) return set_err(err, "batch items %d and %d: the same context twice", k, i);
        if (pool_size(ci->pool) < pool_size(c->pool))
            return set_err(err, "batch item %d: its context has %d threads, fewer than item 0's %d", i,
                           pool_size(ci->pool), pool_size(c->pool));
        if ((int64_t)ci->n_past + it->n > ci->p.n_ctx)
            return set_err(err, "context is full: %d tokens in the cache + %d new > context size %d", ci->n_past,
                           it->n, ci->p.n_ctx);
        for (int k = 0; k < it->n; k++)
            if (it->ids[k] < 0 || it->ids[k] >= c->m->n_vocab)
                return set_err(err, "token id %d is out of range (vocabulary has %d tokens)", it->ids[k],
                               c->m->n_vocab);
    }
    return 0;
}

/* The next micro-batch: up to n_ubatch rows of the first context, a piece of each
 * sequence in order. A sequence's pieces are those context_eval would cut on its own context
 * alone (its micro-batch size: its sliding rings hold a window plus that many), so its rows
 * meet the same attention whatever runs beside them; a piece that does not fit waits for the
 * next micro-batch, unless the micro-batch is empty (then it is cut to fit). done[i]: item
 * i's tokens already evaluated. Returns the rows. */
static int next_ubatch(ubatch *b, const seq_eval *items, int n, const int *done) {
    gemma_context *c = items[0].c;
    int U = c->p.n_ubatch, V = c->m->n_vocab;
    b->ids = c->ids;
    b->M = b->n_seq = b->n_out = 0;
    for (int i = 0; i < n && b->M < U; i++) {
        const seq_eval *it = &items[i];
        int k = it->n - done[i];
        if (k > it->c->p.n_ubatch) k = it->c->p.n_ubatch;
        if (k <= 0 || (k > U - b->M && b->M > 0)) continue;
        if (k > U) k = U;
        b->seq[b->n_seq++] = (seq_rows){it->c, b->M, k, it->c->n_past};
        memcpy(c->ids + b->M, it->ids + done[i], (size_t)k * sizeof(int32_t));
        if (it->logits && it->all_logits) {
            for (int r = 0; r < k; r++) {
                b->out_row[b->n_out] = b->M + r;
                b->out_dst[b->n_out++] = it->logits + (size_t)(done[i] + r) * V;
            }
        } else if (it->logits && done[i] + k == it->n) {
            b->out_row[b->n_out] = b->M + k - 1;
            b->out_dst[b->n_out++] = it->logits;
        }
        b->M += k;
    }
    return b->M;
}

int context_eval_batch(const seq_eval *items, int n, char *err) {
    if (n <= 0) return 0;
    if (batch_check(items, n, err)) return -1;
    gemma_context *c = items[0].c;
    /* No allocation per call for the usual few sequences (a token's eval is one call): the
     * heap would churn every token, and under AddressSanitizer each freed block waits in
     * quarantine, so the soak test saw the process grow by 9 MB over 3000 tokens. */
    enum { FEW = 16 };
    int done_few[FEW] = {0};
    seq_rows seq_few[FEW];
    int *done = n <= FEW ? done_few : xcalloc((size_t)n, sizeof *done);
    ubatch b = {.seq = n <= FEW ? seq_few : xmalloc((size_t)n * sizeof *b.seq), .out_row = c->out_row,
                .out_dst = c->out_dst};
    while (next_ubatch(&b, items, n, done) > 0) {
        forward(c, &b);
        for (int i = 0, s = 0; i < n; i++) {
            if (s < b.n_seq && b.seq[s].c == items[i].c) {
                done[i] += b.seq[s].n;
                items[i].c->n_past += b.seq[s].n;
                s++;
            }
        }
    }
    if (n > FEW) {
        free(done);
        free(b.seq);
    }
    return c->dump ? dump_error(c->dump, err) : 0;
}

int context_eval(gemma_context *c, const int32_t *ids, int n, float *logits, bool all_logits, char *err) {
    seq_eval one = {c, ids, n, logits, all_logits};
    return context_eval_batch(&one, 1, err);
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
