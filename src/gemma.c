/* gemma.c - the public API (include/gemma.h) over the internal modules. */
#include "gemma.h"

#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "repack.h"
#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "sampler.h"
#include "threads.h"
#include "tokenizer.h"
#include "util.h"

gemma_model *gemma_model_load_params(const char *path, const gemma_model_params *p, char *err) {
    (void)kernels_active(); /* the kernel set is chosen (and its warning printed) up front */
    gemma_model *m = model_load(path, err);
    const char *env = getenv("GEMMA_NO_REPACK");
    bool no_repack = p->no_repack || (env && *env && strcmp(env, "0") != 0);
    if (m && !no_repack) model_repack(m);
    return m;
}

gemma_model *gemma_model_load(const char *path, char *err) {
    gemma_model_params p = {0};
    return gemma_model_load_params(path, &p, err);
}

gemma_model *gemma_vocab_load(const char *path, char *err) { return model_load_vocab(path, err); }

/* The repacked panels are the loader's second step (model_repack above), so they are given
 * back here, before the model they belong to. */
void gemma_model_free(gemma_model *m) {
    if (m) model_repack_free(m);
    model_free(m);
}

void gemma_model_get_info(const gemma_model *m, gemma_model_info *info) {
    info->arch = m->arch_name;
    info->name = m->name;
    info->ftype = model_ftype_name(m);
    info->n_layer = m->n_layer;
    info->n_embd = m->n_embd;
    info->n_vocab = m->n_vocab;
    info->n_ctx_train = m->n_ctx_train;
    info->n_params = m->n_params;
    info->n_bytes = m->weight_bytes;
    info->weight_bytes_per_token = weight_bytes_per_token(m);
    info->has_chat_template = m->gguf && gguf_find(m->gguf, "tokenizer.chat_template");
    info->n_repacked = m->repacked.n_matrices;
    info->repacked_bytes = m->repacked.bytes;
    info->repacked_huge_bytes = m->repacked.huge_bytes;
    info->repack_seconds = m->repacked.seconds;
    info->repacked_layouts = m->repacked.layouts;
    info->has_temp = m->has_temp;
    info->has_top_k = m->has_top_k;
    info->has_top_p = m->has_top_p;
    info->has_min_p = m->has_min_p;
    info->temp = m->temp;
    info->top_k = m->top_k;
    info->top_p = m->top_p;
    info->min_p = m->min_p;
}

size_t gemma_model_desc(const gemma_model *m, char *buf, size_t cap) { return model_desc(m, buf, cap); }

int32_t *gemma_tokenize(const gemma_model *m, const char *text, size_t len, bool add_bos,
                        bool parse_special, int *n) {
    return tokenizer_encode(m->tok, text, len, add_bos, parse_special, n);
}

size_t gemma_token_to_piece(const gemma_model *m, int32_t id, char *buf, size_t cap) {
    return tokenizer_piece(m->tok, id, buf, cap);
}

bool gemma_token_is_eog(const gemma_model *m, int32_t id) { return tokenizer_is_eog(m->tok, id); }

int32_t gemma_token_id(const gemma_model *m, const char *text) {
    return tokenizer_find(m->tok, text, strlen(text));
}

int32_t gemma_token_bos(const gemma_model *m) {
    int32_t bos = tokenizer_bos(m->tok);
    return tokenizer_add_bos(m->tok) && bos >= 0 ? bos : -1;
}

bool gemma_token_is_text(const gemma_model *m, int32_t id) {
    int type = tokenizer_type(m->tok, id);
    return type == TOKEN_NORMAL || type == TOKEN_BYTE || type == TOKEN_USER_DEFINED;
}

gemma_context *gemma_context_new(gemma_model *m, const gemma_context_params *p, char *err) {
    context_params cp;
    cp.n_ctx = p->n_ctx > 0 ? p->n_ctx : (m->n_ctx_train < 4096 ? m->n_ctx_train : 4096);
    cp.n_threads = p->n_threads > 0 ? p->n_threads : gemma_default_threads();
    cp.n_threads_batch = cp.n_threads;
    cp.n_ubatch = p->n_batch > 0 ? p->n_batch : 512;
    static const uint32_t ggml_of[GEMMA_KV_COUNT] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0};
    if ((unsigned)p->type_k >= GEMMA_KV_COUNT || (unsigned)p->type_v >= GEMMA_KV_COUNT) {
        set_err(err, "unknown KV cache type %d (f32, f16, bf16 or q8_0)",
                (unsigned)p->type_k >= GEMMA_KV_COUNT ? (int)p->type_k : (int)p->type_v);
        return NULL;
    }
    cp.type_k = ggml_of[p->type_k];
    cp.type_v = ggml_of[p->type_v];
    return context_new(m, &cp, err);
}

static const char *const kv_type_names[GEMMA_KV_COUNT] = {"f32", "f16", "bf16", "q8_0"};

const char *gemma_kv_type_name(gemma_kv_type t) {
    return (unsigned)t < GEMMA_KV_COUNT ? kv_type_names[t] : NULL;
}

int gemma_kv_type_parse(const char *name) {
    for (int t = 0; t < GEMMA_KV_COUNT; t++)
        if (name && !strcmp(name, kv_type_names[t])) return t;
    return -1;
}

static gemma_kv_type kv_type_of(uint32_t ggml) {
    return ggml == GGML_TYPE_F16 ? GEMMA_KV_F16 : ggml == GGML_TYPE_BF16 ? GEMMA_KV_BF16
         : ggml == GGML_TYPE_Q8_0 ? GEMMA_KV_Q8_0 : GEMMA_KV_F32;
}
gemma_kv_type gemma_kv_type_k(const gemma_context *c) { return kv_type_of(c->p.type_k); }
gemma_kv_type gemma_kv_type_v(const gemma_context *c) { return kv_type_of(c->p.type_v); }

void gemma_context_free(gemma_context *c) { context_free(c); }

int gemma_eval(gemma_context *c, const int32_t *ids, int n, float *logits, bool all_logits,
               char *err) {
    pool_set_active(c->pool, n > 1 ? c->p.n_threads_batch : c->p.n_threads);
    return context_eval(c, ids, n, logits, all_logits, err);
}

int gemma_eval_batch(const gemma_batch_item *items, int n, char *err) {
    if (n <= 0) return 0;
    seq_eval *seq = xmalloc((size_t)n * sizeof *seq);
    int rows = 0;
    for (int i = 0; i < n; i++) {
        seq[i] = (seq_eval){items[i].c, items[i].ids, items[i].n, items[i].logits, items[i].all_logits};
        rows += items[i].n > 0 ? items[i].n : 0;
    }
    gemma_context *c = items[0].c;
    pool_set_active(c->pool, rows > 1 ? c->p.n_threads_batch : c->p.n_threads);
    int rc = context_eval_batch(seq, n, err);
    free(seq);
    return rc;
}

int gemma_n_ctx(const gemma_context *c) { return c->p.n_ctx; }
int gemma_n_past(const gemma_context *c) { return c->n_past; }
/* The pool keeps the threads it was made with; an eval wakes as many as its kind uses. */
static int clamp_threads(const gemma_context *c, int n) {
    int max = pool_size(c->pool);
    return n < 1 ? 1 : n > max ? max : n;
}
void gemma_set_threads(gemma_context *c, int n_threads, int n_threads_batch) {
    c->p.n_threads = clamp_threads(c, n_threads);
    c->p.n_threads_batch = clamp_threads(c, n_threads_batch);
}
int gemma_n_threads(const gemma_context *c) { return clamp_threads(c, c->p.n_threads); }
int gemma_n_threads_batch(const gemma_context *c) { return clamp_threads(c, c->p.n_threads_batch); }
size_t gemma_kv_bytes(const gemma_context *c) { return c->kv_bytes; }
void gemma_context_reset(gemma_context *c) { context_reset(c); }
int gemma_context_truncate(gemma_context *c, int n) { return context_truncate(c, n); }
size_t gemma_scratch_bytes(const gemma_context *c) { return c->scratch_bytes; }

void gemma_sampler_params_default(gemma_sampler_params *p) {
    sampler_params sp;
    sampler_params_default(&sp);
    p->temp = sp.temp;
    p->top_k = sp.top_k;
    p->top_p = sp.top_p;
    p->min_p = sp.min_p;
    p->repeat_penalty = sp.repeat_penalty;
    p->repeat_last_n = sp.repeat_last_n;
    p->seed = GEMMA_SEED_RANDOM;
    p->presence_penalty = sp.presence_penalty;
    p->frequency_penalty = sp.frequency_penalty;
}

gemma_sampler *gemma_sampler_new(const gemma_model *m, const gemma_sampler_params *p, char *err) {
    sampler_params sp = {p->temp, p->top_k, p->top_p, p->min_p, p->repeat_penalty,
                         p->repeat_last_n, p->seed == GEMMA_SEED_RANDOM ? SAMPLER_SEED_RANDOM : p->seed,
                         p->presence_penalty, p->frequency_penalty};
    sampler *s = sampler_new(&sp, m->n_vocab, err);
    if (!s) return NULL;
    /* Gemma 4 "unified" files list tokens that must never be generated. */
    const gguf_kv *kv = gguf_find(m->gguf, "tokenizer.ggml.suppress_tokens");
    if (kv && kv->type == GGUF_ARRAY && gguf_arr_is_int(kv) && kv->arr_n < (1u << 24)) {
        int n = (int)kv->arr_n;
        int32_t *ids = xmalloc((size_t)(n ? n : 1) * sizeof(int32_t));
        for (int i = 0; i < n; i++) ids[i] = (int32_t)gguf_arr_int(kv, (uint64_t)i);
        sampler_set_suppress(s, ids, n);
        free(ids);
    }
    return s;
}

void gemma_sampler_free(gemma_sampler *s) { sampler_free(s); }
int32_t gemma_sampler_sample(gemma_sampler *s, const float *logits) { return sampler_sample(s, logits); }
void gemma_sampler_accept(gemma_sampler *s, int32_t id) { sampler_accept(s, id); }
uint64_t gemma_sampler_seed(const gemma_sampler *s) { return sampler_seed(s); }

float *gemma_dequant_tensor(const char *path, const char *name, size_t *n, char *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return NULL;
    float *out = NULL;
    const gguf_tensor *t = gguf_find_tensor(f, name);
    const type_traits *tt = t ? quant_traits(t->type) : NULL;
    if (!t) {
        set_err(err, "%s: no tensor named '%s'", path, name);
    } else if (!tt || !tt->to_float) {
        set_err(err, "%s: tensor '%s' has type %s, which this build cannot dequantize", path,
                name, quant_type_name(t->type));
    } else {
        uint64_t count = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        if (count > SIZE_MAX / sizeof(float) / 2) {
            set_err(err, "%s: tensor '%s' is too large", path, name);
        } else {
            out = xmalloc((size_t)count * sizeof(float));
            uint64_t rows = t->ne[0] > 0 ? count / (uint64_t)t->ne[0] : 0; /* empty tensor */
            size_t rb = quant_row_size(t->type, t->ne[0]);
            for (uint64_t r = 0; r < rows; r++)
                tt->to_float((const uint8_t *)t->data + r * rb, out + r * (uint64_t)t->ne[0], t->ne[0]);
            *n = (size_t)count;
        }
    }
    gguf_close(f);
    return out;
}

const char *gemma_kernel_path(void) { return kernels_active()->name; }

int gemma_default_threads(void) { return cpu_physical_cores(); }
