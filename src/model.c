/* model.c - bind a GGUF file to a Gemma model: read hyperparameters (doc/model.md),
 * check every tensor's presence, type and shape, and point the weights into the mapping.
 *
 *   model_load        the file, its tokenizer, then bind_model:
 *     read_arch         generation, width, depth
 *     read_hparams      per-layer sizes, norm eps, RoPE, the generation's extras, experts
 *     bind_weights      global tensors, each layer's shape (shape_layer, with the query
 *                       scale rule), Gemma 4 KV sharing and PLE tables, each layer's tensors */
#include "model.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar_match.h"
#include "kernels/quant.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------
 * Metadata helpers. Keys are "<arch>.<suffix>"; integers may be scalar or per-layer arrays. */

typedef struct {
    gemma_model *m;
    char *err;
} binder;

static const char *akey(const binder *b, const char *suffix) {
    static _Thread_local char buf[160];
    snprintf(buf, sizeof buf, "%s.%s", b->m->arch_name, suffix);
    return buf;
}

/* Required/optional scalar integer: returns -1 on error (message set). */
static int get_int(binder *b, const char *suffix, bool required, int64_t lo, int64_t hi,
                   int64_t *out) {
    const char *key = akey(b, suffix);
    char e2[GEMMA_ERR_LEN];
    int r = gguf_get_i64(b->m->gguf, key, out, e2);
    if (r < 0) return set_err(b->err, "%s: %s", b->m->path, e2);
    if (r == 0 && required) return set_err(b->err, "%s: missing required key '%s'", b->m->path, key);
    if (r == 1 && (*out < lo || *out > hi))
        return set_err(b->err, "%s: key '%s' = %lld is out of range [%lld, %lld]", b->m->path,
                       key, (long long)*out, (long long)lo, (long long)hi);
    return 0;
}

static int get_float(binder *b, const char *suffix, bool required, float *out) {
    const char *key = akey(b, suffix);
    char e2[GEMMA_ERR_LEN];
    int r = gguf_get_f32(b->m->gguf, key, out, e2);
    if (r < 0) return set_err(b->err, "%s: %s", b->m->path, e2);
    if (r == 0 && required) return set_err(b->err, "%s: missing required key '%s'", b->m->path, key);
    if (r == 1 && !isfinite(*out))
        return set_err(b->err, "%s: key '%s' is not a finite number", b->m->path, key);
    return 0;
}

/* A hyperparameter that is either one integer for all layers or an array of n_layer. */
static int get_per_layer(binder *b, const char *suffix, bool required, int64_t dflt, int64_t lo,
                         int64_t hi, int *out) {
    int n = b->m->n_layer;
    const char *key = akey(b, suffix);
    const gguf_kv *kv = gguf_find(b->m->gguf, key);
    if (kv && kv->type == GGUF_ARRAY) {
        if (!gguf_arr_is_int(kv))
            return set_err(b->err, "%s: key '%s' must be an integer array", b->m->path, key);
        if (kv->arr_n != (uint64_t)n)
            return set_err(b->err, "%s: key '%s' has %llu entries, expected one per layer (%d)",
                           b->m->path, key, (unsigned long long)kv->arr_n, n);
        for (int i = 0; i < n; i++) {
            int64_t v = gguf_arr_int(kv, (uint64_t)i);
            if (v < lo || v > hi)
                return set_err(b->err, "%s: key '%s'[%d] = %lld is out of range [%lld, %lld]",
                               b->m->path, key, i, (long long)v, (long long)lo, (long long)hi);
            out[i] = (int)v;
        }
        return 0;
    }
    int64_t v = dflt;
    if (get_int(b, suffix, required, lo, hi, &v)) return -1;
    for (int i = 0; i < n; i++) out[i] = (int)v;
    return 0;
}

/* Sliding-window flags (doc/model.md#sliding-layers): an array (bool or int) is taken as is; a scalar period P (or
 * the arch default) makes layer il sliding iff il % P < P - 1 (P = 0: all sliding). */
static int get_swa_pattern(binder *b, int default_period, bool required, bool *is_swa) {
    int n = b->m->n_layer;
    const char *key = akey(b, "attention.sliding_window_pattern");
    const gguf_kv *kv = gguf_find(b->m->gguf, key);
    if (kv && kv->type == GGUF_ARRAY) {
        if (!gguf_arr_is_int(kv) || kv->arr_n != (uint64_t)n)
            return set_err(b->err, "%s: key '%s' must be a bool array with one entry per layer (%d)",
                           b->m->path, key, n);
        for (int i = 0; i < n; i++) is_swa[i] = gguf_arr_int(kv, (uint64_t)i) != 0;
        return 0;
    }
    if (required && !kv) return set_err(b->err, "%s: missing required key '%s'", b->m->path, key);
    int64_t period = default_period;
    if (get_int(b, "attention.sliding_window_pattern", false, 0, 1 << 20, &period)) return -1;
    for (int i = 0; i < n; i++) is_swa[i] = period == 0 ? true : (i % period) < period - 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Tensor helpers: look up, check type and shape, bind in place. */

static int check_shape(binder *b, const gguf_tensor *t, int n_dims, int64_t ne0, int64_t ne1,
                       int64_t ne2) {
    int64_t want[4] = {ne0, ne1, ne2, 1};
    for (int d = 0; d < 4; d++) {
        int64_t w = d < n_dims ? want[d] : 1;
        if (t->ne[d] != w)
            return set_err(b->err,
                           "%s: tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]",
                           b->m->path, t->name, (long long)t->ne[0], (long long)t->ne[1],
                           (long long)t->ne[2], (long long)ne0, (long long)(n_dims > 1 ? ne1 : 1),
                           (long long)(n_dims > 2 ? ne2 : 1));
    }
    return 0;
}

static int check_type(binder *b, const gguf_tensor *t) {
    const type_traits *tt = quant_traits(t->type);
    if (!tt || !tt->supported || !tt->vec_dot || !tt->to_float)
        return set_err(b->err, "%s: tensor '%s' has type %s (%u), which this build does not support",
                       b->m->path, t->name, quant_type_name(t->type), t->type);
    return 0;
}

static const gguf_tensor *find_tensor(binder *b, const char *name, bool required, int *rc) {
    const gguf_tensor *t = gguf_find_tensor(b->m->gguf, name);
    *rc = 0;
    if (!t && required) *rc = set_err(b->err, "%s: missing tensor '%s'", b->m->path, name);
    return t;
}

/* Bind a matrix {ne0, ne1} (or expert stack {ne0, ne1, ne2} when ne2 > 0). */
static int bind_weight(binder *b, weight *w, const char *name, bool required, int64_t ne0,
                       int64_t ne1, int64_t ne2) {
    int rc;
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = find_tensor(b, name, required, &rc);
    if (!t) return rc;
    if (check_shape(b, t, ne2 > 0 ? 3 : 2, ne0, ne1, ne2) || check_type(b, t)) return -1;
    w->data = t->data;
    w->type = t->type;
    memcpy(w->ne, t->ne, sizeof w->ne);
    w->row_bytes = quant_row_size(t->type, t->ne[0]);
    return 0;
}

/* A small vector (norm weights, scales): dequantized into an owned f32 array. */
static int load_vec(binder *b, float **out, const char *name, bool required, int64_t n) {
    int rc;
    *out = NULL;
    const gguf_tensor *t = find_tensor(b, name, required, &rc);
    if (!t) return rc;
    if (check_shape(b, t, 1, n, 1, 1) || check_type(b, t)) return -1;
    *out = xmalloc((size_t)n * sizeof(float));
    dequant_row(t->type, t->data, *out, n);
    return 0;
}

static const char *blk(int il, const char *suffix) {
    static _Thread_local char buf[GGUF_MAX_NAME + 16];
    snprintf(buf, sizeof buf, "blk.%d.%s", il, suffix);
    return buf;
}

/* ---------------------------------------------------------------------------------------
 * Hyperparameters (doc/model.md), read before any tensor is bound. Gemma 2-4 interleave two kinds
 * of attention layer, full (global) and sliding-window, and Gemma 3-4 give them different
 * RoPE (Gemma 4 also a different head size): each kind's values are one attn_kind. Values
 * shared by every layer (eps, window, soft-caps, experts, PLE width) go straight into the
 * model. */

typedef struct {
    int head_dim;       /* key length (= value length) */
    int n_rot;          /* dimensions RoPE rotates: even, <= head_dim */
    float rope_base;    /* theta base */
    float rope_scale;   /* frequency scale s = 1 / linear factor */
} attn_kind;

typedef struct {
    int *n_head, *n_head_kv, *n_ff;   /* per layer */
    bool *is_swa;                     /* per layer: the file's sliding-window pattern */
    attn_kind full, swa;
} hparams;

static hparams hparams_new(int n_layer) {
    hparams hp = {0};
    hp.n_head = xcalloc((size_t)n_layer * 3, sizeof(int));
    hp.n_head_kv = hp.n_head + n_layer;
    hp.n_ff = hp.n_head + 2 * n_layer;
    hp.is_swa = xcalloc((size_t)n_layer, sizeof(bool));
    return hp;
}

static void hparams_free(hparams *hp) {
    free(hp->n_head);
    free(hp->is_swa);
}

/* Head counts and FFN widths per layer; head size and RoPE dimensions of the full layers. */
static int read_layer_sizes(binder *b, hparams *hp) {
    gemma_model *m = b->m;
    if (get_per_layer(b, "attention.head_count", true, 0, 1, 4096, hp->n_head)) return -1;
    int n_head0 = hp->n_head[0];
    if (get_per_layer(b, "attention.head_count_kv", false, n_head0, 0, 4096, hp->n_head_kv)) return -1;
    if (get_per_layer(b, "feed_forward_length", true, 0, 1, 1 << 24, hp->n_ff)) return -1;
    for (int i = 0; i < m->n_layer; i++)
        if (hp->n_head_kv[i] > hp->n_head[i] || (hp->n_head_kv[i] > 0 && hp->n_head[i] % hp->n_head_kv[i]))
            return set_err(b->err, "%s: layer %d has %d query heads and %d KV heads (must divide)",
                           m->path, i, hp->n_head[i], hp->n_head_kv[i]);

    int64_t key_len = m->n_embd / n_head0;
    if (get_int(b, "attention.key_length", false, 1, 8192, &key_len)) return -1;
    int64_t val_len = key_len;
    if (get_int(b, "attention.value_length", false, 1, 8192, &val_len)) return -1;
    if (val_len != key_len)
        return set_err(b->err, "%s: value_length %lld != key_length %lld is not supported",
                       m->path, (long long)val_len, (long long)key_len);
    if (key_len < 1)
        return set_err(b->err, "%s: head size is 0 (embedding_length %d < head_count %d and no key_length)",
                       m->path, m->n_embd, n_head0);
    int64_t n_rot = key_len;
    if (get_int(b, "rope.dimension_count", false, 2, 8192, &n_rot)) return -1;
    hp->full.head_dim = (int)key_len;
    hp->full.n_rot = (int)n_rot;
    return 0;
}

static int read_norm_eps(binder *b) {
    float eps = 1e-6f;
    if (get_float(b, "attention.layer_norm_rms_epsilon", true, &eps)) return -1;
    if (!(eps > 0 && eps < 1)) return set_err(b->err, "%s: rms epsilon %g is invalid", b->m->path, eps);
    b->m->eps = eps;
    return 0;
}

/* RoPE base and linear scaling of the full layers: s = 1/factor unless the type is "none". */
static int read_rope(binder *b, attn_kind *full) {
    gemma_model *m = b->m;
    full->rope_base = 10000.0f;
    if (get_float(b, "rope.freq_base", false, &full->rope_base)) return -1;
    float factor = 0;
    if (get_float(b, "rope.scaling.factor", false, &factor)) return -1;
    if (factor == 0 && get_float(b, "rope.scale_linear", false, &factor)) return -1;
    gguf_str stype = {0};
    char e2[GEMMA_ERR_LEN];
    if (gguf_get_str(m->gguf, akey(b, "rope.scaling.type"), &stype, e2) < 0)
        return set_err(b->err, "%s: %s", m->path, e2);
    bool scaling_none = stype.ptr && gguf_str_eq(stype, "none");
    full->rope_scale = (factor > 0 && !scaling_none) ? 1.0f / factor : 1.0f;
    if (stype.ptr && !gguf_str_eq(stype, "none") && !gguf_str_eq(stype, "linear")) {
        char q[64];
        return set_err(b->err, "%s: rope scaling type '%s' is not supported", m->path,
                       printable_str(q, sizeof q, stype.ptr, stype.len, 40));
    }
    return 0;
}

/* What each generation adds: the sliding window and its layer pattern, the sliding layers'
 * attention (like the full layers' unless said otherwise), soft-caps, and on Gemma 4 KV
 * sharing and the per-layer-embedding width. The one switch on the generation. */
static int read_generation(binder *b, hparams *hp) {
    gemma_model *m = b->m;
    int64_t n_swa = 0, v = 0;
    attn_kind *swa = &hp->swa;
    *swa = hp->full;
    switch (m->arch) {
    case ARCH_GEMMA:
        break;
    case ARCH_GEMMA2:
        n_swa = 4096;
        if (get_int(b, "attention.sliding_window", false, 0, INT32_MAX, &n_swa)) return -1;
        if (get_swa_pattern(b, 2, false, hp->is_swa)) return -1;
        if (get_float(b, "rope.freq_base_swa", false, &swa->rope_base)) return -1;
        m->attn_softcap = 50.0f;
        m->final_softcap = 30.0f;
        if (get_float(b, "attn_logit_softcapping", false, &m->attn_softcap)) return -1;
        if (get_float(b, "final_logit_softcapping", false, &m->final_softcap)) return -1;
        break;
    case ARCH_GEMMA3:
        if (get_int(b, "attention.sliding_window", false, 0, INT32_MAX, &n_swa)) return -1;
        if (n_swa > 0 && get_swa_pattern(b, 6, false, hp->is_swa)) return -1;
        swa->rope_base = 10000.0f;
        if (get_float(b, "rope.freq_base_swa", false, &swa->rope_base)) return -1;
        swa->rope_scale = 1.0f;
        m->final_softcap = 0.0f;
        if (get_float(b, "final_logit_softcapping", false, &m->final_softcap)) return -1;
        break;
    case ARCH_GEMMA4:
        if (get_int(b, "attention.sliding_window", true, 1, INT32_MAX, &n_swa)) return -1;
        if (get_swa_pattern(b, 0, true, hp->is_swa)) return -1;
        if (get_int(b, "attention.key_length_swa", true, 1, 8192, &v)) return -1;
        int64_t vswa = v;
        if (get_int(b, "attention.value_length_swa", true, 1, 8192, &vswa)) return -1;
        if (vswa != v)
            return set_err(b->err, "%s: value_length_swa != key_length_swa is not supported", m->path);
        swa->head_dim = (int)v;
        v = swa->n_rot;
        if (get_int(b, "rope.dimension_count_swa", false, 2, 8192, &v)) return -1;
        swa->n_rot = (int)v;
        swa->rope_base = 10000.0f;
        if (get_float(b, "rope.freq_base_swa", false, &swa->rope_base)) return -1;
        swa->rope_scale = 1.0f;
        m->final_softcap = 30.0f;
        if (get_float(b, "final_logit_softcapping", false, &m->final_softcap)) return -1;
        v = 0;
        if (get_int(b, "attention.shared_kv_layers", false, 0, m->n_layer - 1, &v)) return -1;
        m->n_kv_shared = (int)v;
        v = 0;
        if (get_int(b, "embedding_length_per_layer_input", false, 0, 1 << 16, &v)) return -1;
        m->n_pl = (int)v;
        break;
    }
    m->n_swa = (int)n_swa;
    if (m->attn_softcap < 0 || m->final_softcap < 0)
        return set_err(b->err, "%s: negative soft-capping value", m->path);
    return 0;
}

/* Mixture of experts (Gemma 4 26B-A4B): how many experts, how many route each token, and
 * their FFN width (per-layer arrays hold one value for all layers). */
static int read_experts(binder *b) {
    gemma_model *m = b->m;
    int64_t ne = 0;
    if (get_int(b, "expert_count", false, 0, 4096, &ne)) return -1;
    m->n_expert = (int)ne;
    int *tmp = xmalloc((size_t)m->n_layer * sizeof(int));
    int rc = get_per_layer(b, "expert_used_count", false, 0, 0, 4096, tmp);
    m->n_expert_used = rc ? 0 : tmp[0];
    if (!rc) rc = get_per_layer(b, "expert_feed_forward_length", false, 0, 0, 1 << 24, tmp);
    m->n_ff_exp = rc ? 0 : tmp[0];
    free(tmp);
    if (rc) return -1;
    if (m->n_expert > 0 && (m->n_expert_used < 1 || m->n_expert_used > m->n_expert))
        return set_err(b->err, "%s: expert_used_count %d is invalid for %d experts", m->path,
                       m->n_expert_used, m->n_expert);
    return 0;
}

static int read_hparams(binder *b, hparams *hp) {
    if (read_layer_sizes(b, hp) || read_norm_eps(b) || read_rope(b, &hp->full) ||
        read_generation(b, hp) || read_experts(b))
        return -1;
    const attn_kind *full = &hp->full, *swa = &hp->swa;
    if (full->n_rot > full->head_dim || swa->n_rot > swa->head_dim || (full->n_rot & 1) || (swa->n_rot & 1))
        return set_err(b->err, "%s: rope dimension count exceeds the head size or is odd", b->m->path);
    return 0;
}

/* llama.cpp's size class of a model, known only by its generation and layer count ("?B"
 * for any other count): "27B" selects the query scale below, and it names the model in
 * gemma_model_desc as llama.cpp does. */
static const char *model_size_class(const gemma_model *m) {
    static const struct { gemma_arch arch; int n_layer; const char *name; } table[] = {
        {ARCH_GEMMA, 18, "2B"}, {ARCH_GEMMA, 28, "7B"},
        {ARCH_GEMMA2, 26, "2B"}, {ARCH_GEMMA2, 42, "9B"}, {ARCH_GEMMA2, 46, "27B"},
        {ARCH_GEMMA3, 18, "270M"}, {ARCH_GEMMA3, 26, "1B"}, {ARCH_GEMMA3, 32, "8B"},
        {ARCH_GEMMA3, 34, "4B"}, {ARCH_GEMMA3, 48, "12B"}, {ARCH_GEMMA3, 62, "27B"},
        {ARCH_GEMMA4, 30, "26B.A4B"}, {ARCH_GEMMA4, 35, "E2B"}, {ARCH_GEMMA4, 42, "E4B"},
        {ARCH_GEMMA4, 60, "31B"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].arch == m->arch && table[i].n_layer == m->n_layer) return table[i].name;
    return "?B";
}

/* Queries are scaled by 1/sqrt(query_pre_attn_scalar) before the dot products (doc/model.md#query-scale). The
 * scalar is HF's config value, which GGUF files do not carry; llama.cpp's rule stands in for
 * it: n_embd / n_head on the 27B models (Gemma 2 27B: 4608/32 = 144, Gemma 3 27B:
 * 5376/32 = 168), the head size on every other one. Gemma 4 normalises Q and K per head
 * instead and does not scale at all. */
static float query_pre_attn_scalar(const gemma_model *m, const layer_weights *l) {
    if (!strcmp(model_size_class(m), "27B")) return (float)m->n_embd / (float)l->n_head;
    return (float)l->head_dim;
}

static float query_scale(const gemma_model *m, const layer_weights *l) {
    return m->arch == ARCH_GEMMA4 ? 1.0f : 1.0f / sqrtf(query_pre_attn_scalar(m, l));
}

/* ---------------------------------------------------------------------------------------
 * Layers: shape from the hyperparameters of the layer's kind, KV-cache sources, tensors. */

static int shape_layer(binder *b, const hparams *hp, int il) {
    gemma_model *m = b->m;
    layer_weights *l = &m->layers[il];
    l->is_swa = hp->is_swa[il] && m->n_swa > 0;
    const attn_kind *k = l->is_swa ? &hp->swa : &hp->full;
    l->n_head = hp->n_head[il];
    l->n_head_kv = hp->n_head_kv[il];
    l->n_ff = hp->n_ff[il];
    l->head_dim = k->head_dim;
    l->n_rot = k->n_rot;
    l->rope_base = k->rope_base;
    l->rope_scale = k->rope_scale;
    l->v_norm = m->arch == ARCH_GEMMA4;
    l->kq_scale = query_scale(m, l);
    if (hp->n_head_kv[il] == 0 && !(m->arch == ARCH_GEMMA4 && il >= m->n_layer - m->n_kv_shared))
        return set_err(b->err, "%s: layer %d has 0 KV heads", m->path, il);
    return 0;
}

/* Shared-KV source (Gemma 4 E models): the last non-shared layer of the same type. */
static int assign_kv_sources(binder *b) {
    gemma_model *m = b->m;
    int first_shared = m->n_layer - m->n_kv_shared;
    for (int il = 0; il < m->n_layer; il++) {
        layer_weights *l = &m->layers[il];
        l->has_kv = il < first_shared;
        l->kv_source = il;
        if (l->has_kv) continue;
        l->kv_source = -1;
        for (int j = first_shared - 1; j >= 0; j--)
            if (m->layers[j].is_swa == l->is_swa) { l->kv_source = j; break; }
        if (l->kv_source < 0)
            return set_err(b->err, "%s: shared-KV layer %d has no earlier %s layer to read from",
                           m->path, il, l->is_swa ? "sliding" : "global");
    }
    return 0;
}

/* A layer reading another layer's cache attends with that layer's KV heads. */
static int share_kv_heads(binder *b) {
    gemma_model *m = b->m;
    for (int il = 0; il < m->n_layer; il++) {
        layer_weights *l = &m->layers[il], *src = &m->layers[l->kv_source];
        if (l->has_kv) continue;
        l->n_head_kv = src->n_head_kv;
        if (src->n_head_kv < 1 || l->n_head % src->n_head_kv || l->head_dim != src->head_dim)
            return set_err(b->err, "%s: layer %d cannot share the KV cache of layer %d (%d query heads of %d, %d KV heads of %d)",
                           m->path, il, l->kv_source, l->n_head, l->head_dim, src->n_head_kv, src->head_dim);
    }
    return 0;
}

/* Gemma 4's model-wide extras: KV sharing, the global layers' RoPE frequency divisors
 * ("proportional" partial RoPE, doc/forward.md#proportional-rope) and the per-layer-embedding tables. */
static int bind_gemma4_globals(binder *b, const hparams *hp) {
    gemma_model *m = b->m;
    int L = m->n_layer;
    if (assign_kv_sources(b)) return -1;
    bool any_global = false;
    for (int il = 0; il < L; il++) any_global |= !m->layers[il].is_swa;
    if (any_global && load_vec(b, &m->rope_freqs, "rope_freqs.weight", true, hp->full.head_dim / 2)) return -1;
    for (int il = 0; il < L; il++)
        if (!m->layers[il].is_swa) {
            m->layers[il].rope_freqs = m->rope_freqs;
            if (m->layers[il].n_rot != hp->full.head_dim)
                return set_err(b->err, "%s: rope.dimension_count must equal key_length on Gemma 4", m->path);
        }
    if (m->n_pl > 0) {
        int64_t W = (int64_t)m->n_pl * L;
        if (bind_weight(b, &m->ple_tok_embd, "per_layer_token_embd.weight", true, W, m->n_vocab, 0)) return -1;
        if (bind_weight(b, &m->ple_model_proj, "per_layer_model_proj.weight", true, m->n_embd, W, 0)) return -1;
        if (load_vec(b, &m->ple_proj_norm, "per_layer_proj_norm.weight", true, m->n_pl)) return -1;
    }
    return 0;
}

/* Gemma 4 extras of one layer: output scale, mixture of experts, per-layer embedding. */
static int bind_layer_gemma4(binder *b, int il) {
    gemma_model *m = b->m;
    layer_weights *l = &m->layers[il];
    int64_t E = m->n_embd;
    float *s = NULL;
    if (load_vec(b, &s, blk(il, "layer_output_scale.weight"), false, 1)) return -1;
    if (s) { l->out_scale = s[0]; free(s); }

    /* mixture of experts: the router's presence makes this an MoE layer */
    if (gguf_find_tensor(m->gguf, blk(il, "ffn_gate_inp.weight"))) {
        int64_t X = m->n_expert, F = m->n_ff_exp;
        if (X < 1 || F < 1)
            return set_err(b->err, "%s: layer %d has a router but expert_count/expert_feed_forward_length are not set",
                           m->path, il);
        if (bind_weight(b, &l->gate_inp, blk(il, "ffn_gate_inp.weight"), true, E, X, 0)) return -1;
        if (load_vec(b, &l->gate_inp_scale, blk(il, "ffn_gate_inp.scale"), true, E)) return -1;
        if (load_vec(b, &l->pre_ffw_norm_2, blk(il, "pre_ffw_norm_2.weight"), true, E)) return -1;
        if (load_vec(b, &l->post_ffw_norm_1, blk(il, "post_ffw_norm_1.weight"), true, E)) return -1;
        if (load_vec(b, &l->post_ffw_norm_2, blk(il, "post_ffw_norm_2.weight"), true, E)) return -1;
        if (gguf_find_tensor(m->gguf, blk(il, "ffn_gate_up_exps.weight"))) {
            if (bind_weight(b, &l->gate_up_exps, blk(il, "ffn_gate_up_exps.weight"), true, E, 2 * F, X)) return -1;
        } else {
            if (bind_weight(b, &l->gate_exps, blk(il, "ffn_gate_exps.weight"), true, E, F, X)) return -1;
            if (bind_weight(b, &l->up_exps, blk(il, "ffn_up_exps.weight"), true, E, F, X)) return -1;
        }
        if (bind_weight(b, &l->down_exps, blk(il, "ffn_down_exps.weight"), true, F, E, X)) return -1;
        if (load_vec(b, &l->down_exps_scale, blk(il, "ffn_down_exps.scale"), false, X)) return -1;
    }
    if (m->n_pl > 0) {
        if (bind_weight(b, &l->ple_gate, blk(il, "inp_gate.weight"), true, E, m->n_pl, 0)) return -1;
        if (bind_weight(b, &l->ple_proj, blk(il, "proj.weight"), true, m->n_pl, E, 0)) return -1;
        if (load_vec(b, &l->ple_post_norm, blk(il, "post_norm.weight"), true, E)) return -1;
    }
    return 0;
}

/* One layer's tensors, their shapes from the file's head counts and FFN width for it and
 * the head size of its kind. */
static int bind_layer(binder *b, const hparams *hp, int il) {
    gemma_model *m = b->m;
    layer_weights *l = &m->layers[il];
    int64_t E = m->n_embd;
    int64_t hd = (hp->is_swa[il] ? &hp->swa : &hp->full)->head_dim;
    int64_t q_dim = hp->n_head[il] * hd, kv_dim = hp->n_head_kv[il] * hd, F = hp->n_ff[il];
    bool g4 = m->arch == ARCH_GEMMA4;

    if (load_vec(b, &l->attn_norm, blk(il, "attn_norm.weight"), true, E)) return -1;
    /* Q/K/V: separate, or one fused attn_qkv with rows [Q | K | V]
     * (doc/model.md#optional-tensors). */
    if (gguf_find_tensor(m->gguf, blk(il, "attn_qkv.weight"))) {
        weight qkv;
        if (bind_weight(b, &qkv, blk(il, "attn_qkv.weight"), true, E, q_dim + 2 * kv_dim, 0)) return -1;
        l->wq = l->wk = l->wv = qkv;
        l->wq.ne[1] = q_dim;
        l->wk.ne[1] = l->wv.ne[1] = kv_dim;
        l->wk.data = (const uint8_t *)qkv.data + (size_t)q_dim * qkv.row_bytes;
        l->wv.data = (const uint8_t *)qkv.data + (size_t)(q_dim + kv_dim) * qkv.row_bytes;
    } else {
        if (bind_weight(b, &l->wq, blk(il, "attn_q.weight"), true, E, q_dim, 0)) return -1;
        if (l->has_kv) {
            if (bind_weight(b, &l->wk, blk(il, "attn_k.weight"), true, E, kv_dim, 0)) return -1;
            if (bind_weight(b, &l->wv, blk(il, "attn_v.weight"), !g4, E, kv_dim, 0)) return -1;
            l->v_from_k = g4 && !l->wv.data;
        }
    }
    if (bind_weight(b, &l->wo, blk(il, "attn_output.weight"), true, q_dim, E, 0)) return -1;
    if (m->arch >= ARCH_GEMMA3) {
        if (load_vec(b, &l->q_norm, blk(il, "attn_q_norm.weight"), true, hd)) return -1;
        if (l->has_kv && load_vec(b, &l->k_norm, blk(il, "attn_k_norm.weight"), true, hd)) return -1;
    }
    if (m->arch >= ARCH_GEMMA2) {
        if (load_vec(b, &l->post_attn_norm, blk(il, "post_attention_norm.weight"), true, E)) return -1;
        if (load_vec(b, &l->post_ffw_norm, blk(il, "post_ffw_norm.weight"), true, E)) return -1;
    }
    if (load_vec(b, &l->ffn_norm, blk(il, "ffn_norm.weight"), true, E)) return -1;
    if (bind_weight(b, &l->ffn_gate, blk(il, "ffn_gate.weight"), true, E, F, 0)) return -1;
    if (bind_weight(b, &l->ffn_up, blk(il, "ffn_up.weight"), true, E, F, 0)) return -1;
    if (bind_weight(b, &l->ffn_down, blk(il, "ffn_down.weight"), true, F, E, 0)) return -1;

    l->out_scale = 1.0f;
    return g4 ? bind_layer_gemma4(b, il) : 0;
}

/* ---------------------------------------------------------------------------------------
 * The model */

static int read_arch(binder *b) {
    gemma_model *m = b->m;
    char e2[GEMMA_ERR_LEN];
    gguf_str arch = {0};
    if (gguf_get_str(m->gguf, "general.architecture", &arch, e2) <= 0)
        return set_err(b->err, "%s: missing or invalid key 'general.architecture'", m->path);
    static const struct { const char *name; gemma_arch arch; } archs[] = {
        {"gemma", ARCH_GEMMA}, {"gemma2", ARCH_GEMMA2}, {"gemma3", ARCH_GEMMA3}, {"gemma4", ARCH_GEMMA4}};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (gguf_str_eq(arch, archs[i].name)) { m->arch = archs[i].arch; m->arch_name = archs[i].name; }
    if (!m->arch) {
        char q[80];
        return set_err(b->err, "%s: architecture '%s' is not supported (gemma, gemma2, gemma3, gemma4 are)",
                       m->path, printable_str(q, sizeof q, arch.ptr, arch.len, 64));
    }
    int64_t v;
    if (get_int(b, "embedding_length", true, 1, 1 << 20, &v)) return -1;
    m->n_embd = (int)v;
    if (get_int(b, "block_count", true, 1, 4096, &v)) return -1;
    m->n_layer = (int)v;
    v = 8192;
    if (get_int(b, "context_length", false, 1, INT32_MAX, &v)) return -1;
    m->n_ctx_train = (int)v;
    return 0;
}

/* Token embedding, output head (tied to the embedding when absent) and final norm. */
static int bind_globals(binder *b) {
    gemma_model *m = b->m;
    const gguf_tensor *te = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te) return set_err(b->err, "%s: missing tensor 'token_embd.weight'", m->path);
    m->n_vocab = tokenizer_n_vocab(m->tok);
    if (bind_weight(b, &m->tok_embd, "token_embd.weight", true, m->n_embd, m->n_vocab, 0)) return -1;
    if (m->arch >= ARCH_GEMMA3 &&
        bind_weight(b, &m->output, "output.weight", false, m->n_embd, m->n_vocab, 0)) return -1;
    return load_vec(b, &m->output_norm, "output_norm.weight", true, m->n_embd);
}

/* Every tensor, shaped by the hyperparameters. */
static int bind_weights(binder *b, const hparams *hp) {
    gemma_model *m = b->m;
    int L = m->n_layer;
    if (bind_globals(b)) return -1;
    m->layers = xcalloc((size_t)L, sizeof(layer_weights));
    for (int il = 0; il < L; il++)
        if (shape_layer(b, hp, il)) return -1;
    if (m->arch == ARCH_GEMMA4) {
        if (bind_gemma4_globals(b, hp)) return -1;
    } else {
        for (int il = 0; il < L; il++) {
            m->layers[il].has_kv = true;
            m->layers[il].kv_source = il;
        }
    }
    if (share_kv_heads(b)) return -1;
    for (int il = 0; il < L; il++)
        if (bind_layer(b, hp, il)) return -1;
    return 0;
}

static int bind_model(binder *b) {
    if (read_arch(b)) return -1;
    hparams hp = hparams_new(b->m->n_layer);
    int rc = read_hparams(b, &hp) || bind_weights(b, &hp) ? -1 : 0;
    hparams_free(&hp);
    return rc;
}

static void read_sampling_defaults(gemma_model *m) {
    char e2[GEMMA_ERR_LEN];
    int64_t k;
    m->has_temp = gguf_get_f32(m->gguf, "general.sampling.temp", &m->temp, e2) == 1;
    m->has_top_p = gguf_get_f32(m->gguf, "general.sampling.top_p", &m->top_p, e2) == 1;
    m->has_min_p = gguf_get_f32(m->gguf, "general.sampling.min_p", &m->min_p, e2) == 1;
    if (gguf_get_i64(m->gguf, "general.sampling.top_k", &k, e2) == 1 && k >= 0 && k < INT32_MAX) {
        m->has_top_k = true;
        m->top_k = (int)k;
    }
}

gemma_model *model_load(const char *path, char *err) {
    gemma_model *m = xcalloc(1, sizeof *m);
    m->path = xmalloc(strlen(path) + 1);
    strcpy(m->path, path);
    binder b = {m, err};
    m->gguf = gguf_open(path, err);
    if (!m->gguf) goto fail;
    m->tok = tokenizer_load(m->gguf, err);
    if (!m->tok) goto fail;
    if (bind_model(&b)) goto fail;
    read_sampling_defaults(m);

    gguf_str name = {0};
    char e2[GEMMA_ERR_LEN];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (gguf_get_str(m->gguf, "general.name", &name, e2) == 1 && name.len > 0 && name.len < 256) {
        m->name = xmalloc(name.len + 1);
        memcpy(m->name, name.ptr, name.len);
        m->name[name.len] = 0;
    } else {
        m->name = xmalloc(strlen(base) + 1);
        strcpy(m->name, base);
    }
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const gguf_tensor *t = &m->gguf->tensors[i];
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        m->weight_bytes += t->nbytes;
    }
    return m;
fail:
    model_free(m);
    return NULL;
}

gemma_model *model_load_vocab(const char *path, char *err) {
    gemma_model *m = xcalloc(1, sizeof *m);
    m->path = xmalloc(strlen(path) + 1);
    strcpy(m->path, path);
    m->gguf = gguf_open(path, err);
    if (!m->gguf) goto fail;
    m->tok = tokenizer_load(m->gguf, err);
    if (!m->tok) goto fail;
    m->n_vocab = tokenizer_n_vocab(m->tok);
    return m;
fail:
    model_free(m);
    return NULL;
}

void weight_row(const weight *w, int64_t r, float *out, uint8_t *row_buf) {
    const type_traits *tt = quant_traits(w->type);
    int64_t K = w->ne[0];
    if (!tt->panel) {
        dequant_row(w->type, (const uint8_t *)w->data + (size_t)r * w->row_bytes, out, K);
        return;
    }
    const uint8_t *panel = (const uint8_t *)w->data + (size_t)(r / tt->panel) * quant_panel_size(w->type, K);
    tt->unpack_row(row_buf, panel, (int)(r % tt->panel), K);
    dequant_row(tt->panel_base, row_buf, out, K);
}

void model_free(gemma_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int il = 0; il < m->n_layer; il++) {
            layer_weights *l = &m->layers[il];
            float *vecs[] = {l->attn_norm, l->q_norm, l->k_norm, l->post_attn_norm, l->ffn_norm,
                             l->post_ffw_norm, l->gate_inp_scale, l->pre_ffw_norm_2,
                             l->post_ffw_norm_1, l->post_ffw_norm_2, l->down_exps_scale,
                             l->ple_post_norm};
            for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) free(vecs[i]);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freqs);
    free(m->ple_proj_norm);
    gmatch_vocab_free(atomic_load(&m->match_vocab));
    tokenizer_free(m->tok);
    gguf_close(m->gguf);
    free(m->name);
    free(m->path);
    free(m);
}

const char *model_ftype_name(const gemma_model *m) {
    /* The type holding the most bytes among 2-D weights describes the file best. */
    uint64_t bytes[GGML_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const gguf_tensor *t = &m->gguf->tensors[i];
        if (t->n_dims >= 2 && t->type < GGML_TYPE_COUNT) bytes[t->type] += t->nbytes;
    }
    uint32_t best = 0;
    for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++)
        if (bytes[t] > bytes[best]) best = t;
    return quant_type_name(best);
}

/* llama.cpp's display name of the file type (doc/gguf.md#file-types). Without
 * general.file_type llama.cpp guesses from the dominant tensor type and says so. */
static void file_type_desc(const gemma_model *m, char *out, size_t cap) {
    char e[GEMMA_ERR_LEN];
    uint32_t ft = 0;
    if (gguf_get_u32(m->gguf, "general.file_type", &ft, e) == 1) {
        const char *name = quant_ftype_name(ft);
        snprintf(out, cap, "%s", name ? name : "unknown, may not work");
        return;
    }
    const char *t = model_ftype_name(m);
    const char *guess = !strcmp(t, "F32") ? "all F32" : !strcmp(t, "Q2_K") ? "Q2_K - Medium"
                      : !strcmp(t, "Q3_K") ? "Q3_K - Medium" : !strcmp(t, "Q4_K") ? "Q4_K - Medium"
                      : !strcmp(t, "Q5_K") ? "Q5_K - Medium" : t;
    snprintf(out, cap, "%s (guessed)", guess);
}

size_t model_desc(const gemma_model *m, char *buf, size_t cap) {
    char ft[64];
    file_type_desc(m, ft, sizeof ft);
    int n = snprintf(buf, cap, "%s %s %s", m->arch_name ? m->arch_name : "unknown",
                     model_size_class(m), ft);
    return n > 0 ? (size_t)n : 0;
}
