/* quantize.c - `gemma quantize IN OUT TYPE [-t N] [--pure] [--allow-requantize]`: convert
 * a model's weights to another tensor type mix.
 *
 * The output is the file llama.cpp's llama-quantize writes for the same options (without an
 * importance matrix), byte for byte where the block quantizer is deterministic, which all of
 * ours are (quant.h): the same metadata (every KV copied in order; general.quantization_version
 * and general.file_type re-set, which moves them to the end; split.* keys dropped), the same
 * tensor order (llama.cpp's loader sorts by layer, then name), the same per-tensor types
 * (llama_tensor_get_type_impl in llama-quant.cpp, doc/gguf.md#quantization-mixes) and the
 * same bytes.
 *
 * One deliberate difference: llama-quantize aborts when a tensor's rows cannot be split into
 * blocks of a 32-element type (Q4_0 .. Q8_0, MXFP4; e.g. Gemma 4's PLE projection with 16
 * columns); we store that tensor as F16, as llama-quantize itself does when a K-quant's
 * fallback type does not fit either. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gguf.h"
#include "gguf_write.h"
#include "kernels/quant.h"

/* ---------------------------------------------------------------------------------------
 * Output types: llama-quantize's names, the file type (LlamaFileType, doc/gguf.md#file-types)
 * each one writes into general.file_type, and the default tensor type of that mix. */

enum {
    FT_ALL_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8,
    FT_Q5_1 = 9, FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13,
    FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18,
    FT_BF16 = 32, FT_MXFP4_MOE = 38
};

typedef struct {
    const char *name;
    int ftype;
    uint32_t type;      /* default tensor type of the mix */
} quant_option;

static const quant_option quant_options[] = {
    {"Q4_0", FT_Q4_0, GGML_TYPE_Q4_0},         {"Q4_1", FT_Q4_1, GGML_TYPE_Q4_1},
    {"Q5_0", FT_Q5_0, GGML_TYPE_Q5_0},         {"Q5_1", FT_Q5_1, GGML_TYPE_Q5_1},
    {"Q8_0", FT_Q8_0, GGML_TYPE_Q8_0},         {"Q2_K", FT_Q2_K, GGML_TYPE_Q2_K},
    {"Q3_K", FT_Q3_K_M, GGML_TYPE_Q3_K},       /* alias for Q3_K_M, as in llama-quantize */
    {"Q3_K_S", FT_Q3_K_S, GGML_TYPE_Q3_K},     {"Q3_K_M", FT_Q3_K_M, GGML_TYPE_Q3_K},
    {"Q3_K_L", FT_Q3_K_L, GGML_TYPE_Q3_K},
    {"Q4_K", FT_Q4_K_M, GGML_TYPE_Q4_K},       /* alias for Q4_K_M */
    {"Q4_K_S", FT_Q4_K_S, GGML_TYPE_Q4_K},     {"Q4_K_M", FT_Q4_K_M, GGML_TYPE_Q4_K},
    {"Q5_K", FT_Q5_K_M, GGML_TYPE_Q5_K},       /* alias for Q5_K_M */
    {"Q5_K_S", FT_Q5_K_S, GGML_TYPE_Q5_K},     {"Q5_K_M", FT_Q5_K_M, GGML_TYPE_Q5_K},
    {"Q6_K", FT_Q6_K, GGML_TYPE_Q6_K},         {"MXFP4_MOE", FT_MXFP4_MOE, GGML_TYPE_MXFP4},
    {"F16", FT_F16, GGML_TYPE_F16},            {"BF16", FT_BF16, GGML_TYPE_BF16},
    {"F32", FT_ALL_F32, GGML_TYPE_F32},
};
#define N_QUANT_OPTIONS (sizeof quant_options / sizeof quant_options[0])

/* By name (any case), or by file-type number like llama-quantize ("15" = Q4_K_M). */
static const quant_option *find_quant_option(const char *s) {
    for (size_t i = 0; i < N_QUANT_OPTIONS; i++)
        if (strcasecmp(s, quant_options[i].name) == 0) return &quant_options[i];
    char *end;
    long v = strtol(s, &end, 10);
    if (end != s && *end == 0)
        for (size_t i = 0; i < N_QUANT_OPTIONS; i++)
            if (quant_options[i].ftype == v) return &quant_options[i];
    return NULL;
}

static bool is_quantized(uint32_t type) {
    const type_traits *t = quant_traits(type);
    return t && t->blck_size > 1;
}

static int64_t block_size(uint32_t type) { return quant_traits(type)->blck_size; }

/* ---------------------------------------------------------------------------------------
 * Tensor order and names. llama.cpp's loader keeps tensors in a map sorted by layer number
 * ("blk.N."; -1 for global tensors), then by name, and llama-quantize writes them in that
 * order; the mixture rules count tensors in that order too. */


/* ggml_n_dims: trailing dimensions of size 1 do not count (a {64, 1} tensor is 1-D). */
static uint32_t effective_dims(const gguf_tensor *t) {
    for (int i = GGUF_MAX_DIMS - 1; i >= 1; i--)
        if (t->ne[i] > 1) return (uint32_t)i + 1;
    return 1;
}

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Tensors llama-quantize never converts (they keep their type, normally F32): vectors, names
 * not ending in "weight" (the Gemma 4 ".scale" tensors), norms, the MoE router, and the small
 * Gemma 3n / Gemma 4 tensors (altup, laurel, per_layer_model_proj). The other names in
 * llama-quant.cpp's list belong to other architectures; they are kept for fidelity. */
static bool allows_quantization(const gguf_tensor *t) {
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
        "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
        "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight",
        "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
        "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
        ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
        ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
    };
    if (effective_dims(t) < 2 || !ends_with(t->name, "weight")) return false;
    if (!strcmp(t->name, "position_embd.weight") || !strcmp(t->name, "token_types.weight"))
        return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (contains(t->name, never[i])) return false;
    return true;
}

typedef enum {
    CAT_TOKEN_EMBD, CAT_ATTN_Q, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_QKV, CAT_ATTN_KV_B,
    CAT_ATTN_OUTPUT, CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN, CAT_OUTPUT, CAT_OTHER
} tensor_category;

/* Broad roles the mixture rules key on. per_layer_token_embd counts as a token embedding
 * (so with a tied head it is quantized like the output); the fused Gemma 4 expert tensor
 * ffn_gate_up_exps falls under ffn_gate. The order of the tests matters. */
static tensor_category category_of(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight"))
        return CAT_TOKEN_EMBD;
    if (contains(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (contains(name, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (contains(name, "attn_v.weight")) return CAT_ATTN_V;
    if (contains(name, "attn_k.weight")) return CAT_ATTN_K;
    if (contains(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (contains(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (contains(name, "ffn_up")) return CAT_FFN_UP;
    if (contains(name, "ffn_gate")) return CAT_FFN_GATE;
    if (contains(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

static bool is_attn_v_like(tensor_category c) {
    return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B;
}

/* ---------------------------------------------------------------------------------------
 * The mixture rules (llama_tensor_get_type_impl) for the file types we write. */

typedef struct {
    const char *path;
    int ftype;
    uint32_t default_type;
    bool pure;
    /* model facts the rules read */
    int n_layer;          /* <arch>.block_count */
    int n_expert;         /* <arch>.expert_count */
    int n_gqa;            /* head_count / head_count_kv of layer 0 */
    bool tied;            /* no output.weight: the token embedding is also the output */
    /* counters, advanced in file order */
    int n_attn_v, i_attn_v, i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;
} mix_state;

/* llama.cpp's heuristic: the first and last eighth of the layers and every third layer in
 * between get more bits. */
static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The layer the counter stands for; MoE files may interleave expert tensors, so there the
 * layer is read from the name. */
static int layer_info(const mix_state *s, int counter, const char *name, int *layer, char *err) {
    *layer = counter;
    if (s->n_expert > 1) {
        if (sscanf(name, "blk.%d.", layer) != 1)
            return set_err(err, "%s: failed to determine the layer of tensor '%s'", s->path, name);
        if (*layer < 0 || *layer >= s->n_layer)
            return set_err(err, "%s: bad layer %d for tensor '%s' (block_count %d)", s->path,
                           *layer, name, s->n_layer);
    }
    return 0;
}

static int mixture_type(mix_state *s, const gguf_tensor *t, tensor_category cat, uint32_t *type,
                        char *err) {
    const int ft = s->ftype;
    uint32_t nt = *type;
    int layer;
    if (cat == CAT_OUTPUT || (s->tied && cat == CAT_TOKEN_EMBD)) {
        /* the output projection is the most sensitive matrix: Q6_K unless the mix is Q8_0 */
        if (ft == FT_MXFP4_MOE || t->ne[0] % block_size(nt) != 0) nt = GGML_TYPE_Q8_0;
        else if (nt != GGML_TYPE_Q8_0) nt = GGML_TYPE_Q6_K;
    } else if (ft == FT_MXFP4_MOE) {
        nt = t->ne[2] > 1 ? GGML_TYPE_MXFP4 : GGML_TYPE_Q8_0;  /* experts vs. the rest */
    } else if (cat == CAT_TOKEN_EMBD) {
        /* an untied embedding keeps the default type (the IQ/TQ mixes differ) */
    } else if (is_attn_v_like(cat)) {
        if (ft == FT_Q2_K) nt = s->n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) nt = s->i_attn_v < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) nt = GGML_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(s->i_attn_v, s->n_attn_v))
            nt = GGML_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && s->i_attn_v < 4) nt = GGML_TYPE_Q5_K;
        if (s->n_expert == 8) nt = GGML_TYPE_Q8_0;  /* Mixtral-style: V is cheap, keep it */
        s->i_attn_v++;
    } else if (cat == CAT_ATTN_K) {
        if (s->n_expert == 8) nt = GGML_TYPE_Q8_0;
    } else if (cat == CAT_FFN_DOWN) {
        if (layer_info(s, s->i_ffn_down, t->name, &layer, err)) return -1;
        int n = s->n_layer;
        if (ft == FT_Q2_K) nt = GGML_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) nt = layer < n / 16 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) nt = GGML_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) { if (use_more_bits(layer, n)) nt = GGML_TYPE_Q6_K; }
        else if (ft == FT_Q5_K_M && use_more_bits(layer, n)) nt = GGML_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && layer < n / 8) nt = GGML_TYPE_Q5_K;
        s->i_ffn_down++;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (s->n_expert == 8) {
            if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_Q4_K_S ||
                ft == FT_Q4_K_M)
                nt = GGML_TYPE_Q5_K;
        } else if (ft == FT_Q2_K) nt = GGML_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) nt = GGML_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) nt = GGML_TYPE_Q5_K;
    } else if (cat == CAT_FFN_GATE || cat == CAT_FFN_UP) {
        /* only the IQ3_XS mix changes these, but the layer check applies to every mix */
        int *counter = cat == CAT_FFN_GATE ? &s->i_ffn_gate : &s->i_ffn_up;
        if (layer_info(s, *counter, t->name, &layer, err)) return -1;
        (*counter)++;
    }
    *type = nt;
    return 0;
}

/* Rows that do not split into the type's blocks get a nearby type with 32-element blocks,
 * and F16 if even those do not fit. */
static uint32_t shape_fallback(mix_state *s, const gguf_tensor *t, uint32_t type, bool *fell_back) {
    *fell_back = false;
    if (t->ne[0] % block_size(type) == 0) return type;
    *fell_back = true;
    s->n_fallback++;
    uint32_t nt;
    switch (type) {
    case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: nt = GGML_TYPE_Q4_0; break;
    case GGML_TYPE_Q4_K: nt = GGML_TYPE_Q5_0; break;
    case GGML_TYPE_Q5_K: nt = GGML_TYPE_Q5_1; break;
    case GGML_TYPE_Q6_K: nt = GGML_TYPE_Q8_0; break;
    default: nt = GGML_TYPE_F16; break;   /* llama-quantize gives up here (see the top) */
    }
    return t->ne[0] % block_size(nt) == 0 ? nt : GGML_TYPE_F16;
}

/* The type tensor t is written as (llama_tensor_get_type). */
static int choose_type(mix_state *s, const gguf_tensor *t, uint32_t *type, bool *fell_back,
                       char *err) {
    *fell_back = false;
    *type = t->type;
    if (!allows_quantization(t)) return 0;
    *type = s->default_type;
    if (!is_quantized(s->default_type)) return 0;  /* F32 / F16 / BF16: no mixture */
    if (!s->pure && mixture_type(s, t, category_of(t->name), type, err)) return -1;
    *type = shape_fallback(s, t, *type, fell_back);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Model facts for the rules, from the metadata (as llama.cpp's hparams loader reads them). */

static int64_t get_int(const gguf_file *f, const char *key, int64_t def) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return def;
    if (kv->type == GGUF_ARRAY) /* per-layer array: layer 0 */
        return kv->arr_n > 0 && gguf_arr_is_int(kv) ? gguf_arr_int(kv, 0) : def;
    int64_t v = def;
    if (gguf_get_i64(f, key, &v, NULL) < 0) return def;
    return v;
}

static int read_model_facts(const gguf_file *f, mix_state *s, char *err) {
    gguf_str arch;
    char e2[GEMMA_ERR_LEN];
    if (gguf_get_str(f, "general.architecture", &arch, e2) != 1 || arch.len == 0 || arch.len > 64)
        return set_err(err, "%s: no general.architecture: not a model file", f->path);
    char key[128];
    snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
    s->n_layer = (int)get_int(f, key, -1);
    if (s->n_layer <= 0 || s->n_layer > 4096)
        return set_err(err, "%s: missing or invalid %s: not a model file", f->path, key);
    snprintf(key, sizeof key, "%.*s.expert_count", (int)arch.len, arch.ptr);
    s->n_expert = (int)get_int(f, key, 0);
    snprintf(key, sizeof key, "%.*s.attention.head_count", (int)arch.len, arch.ptr);
    int64_t n_head = get_int(f, key, 0);
    snprintf(key, sizeof key, "%.*s.attention.head_count_kv", (int)arch.len, arch.ptr);
    int64_t n_head_kv = get_int(f, key, n_head);
    s->n_gqa = n_head_kv > 0 ? (int)(n_head / n_head_kv) : 0;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Conversion: the writer asks for a few MB of rows at a time; the rows are split over the
 * threads in chunks handed out by an atomic counter, each row decoded to float (unless it
 * already is) and encoded in the new type. Quantization is row by row, so the result does
 * not depend on the number of threads. */

typedef struct {
    const gguf_tensor *src;
    uint32_t type;
    bool fell_back;
} tensor_plan;

typedef struct {
    const tensor_plan *plans;
    int n_plans;
    int n_threads;
    float **scratch;          /* one row buffer per thread */
    int cur;                  /* index of the tensor being written */
    bool bad_data;            /* a source tensor held NaN / Inf */
    /* the current request */
    const tensor_plan *plan;
    void *dst;
    int64_t row0, n_rows, rows_per_chunk;
    atomic_int next_chunk;
    atomic_llong bad_row;     /* first row found holding NaN / Inf, or -1 */
} convert_job;

static bool all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

static void convert_rows(void *ctx, int ith, int nth) {
    (void)nth;
    convert_job *j = ctx;
    const gguf_tensor *src = j->plan->src;
    const int64_t ne0 = src->ne[0];
    const size_t src_row = quant_row_size(src->type, ne0), dst_row = quant_row_size(j->plan->type, ne0);
    float *buf = j->scratch[ith];
    for (int64_t c; (c = atomic_fetch_add(&j->next_chunk, 1) * j->rows_per_chunk) < j->n_rows;) {
        int64_t end = c + j->rows_per_chunk < j->n_rows ? c + j->rows_per_chunk : j->n_rows;
        for (int64_t r = c; r < end; r++) {
            const uint8_t *in = (const uint8_t *)src->data + (size_t)(j->row0 + r) * src_row;
            uint8_t *out = (uint8_t *)j->dst + (size_t)r * dst_row;
            const float *x = buf;
            if (src->type != GGML_TYPE_F32) dequant_row(src->type, in, buf, ne0);
            else if (((uintptr_t)in & 3) == 0) x = (const float *)(const void *)in;
            else memcpy(buf, in, (size_t)ne0 * sizeof(float)); /* general.alignment < 4 */
            if (!all_finite(x, ne0)) {
                long long expect = -1;
                atomic_compare_exchange_strong(&j->bad_row, &expect, (long long)(j->row0 + r));
                memset(out, 0, dst_row);
                continue;
            }
            quantize_row(j->plan->type, x, out, ne0);
        }
    }
}

static void print_shape(char *buf, size_t cap, const gguf_tensor *t) {
    int n = snprintf(buf, cap, "[%lld", (long long)t->ne[0]);
    for (uint32_t d = 1; d < effective_dims(t) && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, ", %lld", (long long)t->ne[d]);
    if (n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, "]");
}

/* "12.50 MiB" */
static const char *fmt_size(char *buf, size_t cap, uint64_t bytes) {
    if (bytes < 1024) snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else if (bytes < ((uint64_t)1 << 20)) snprintf(buf, cap, "%.2f KiB", (double)bytes / 1024);
    else if (bytes < ((uint64_t)1 << 30)) snprintf(buf, cap, "%.2f MiB", (double)bytes / 1048576);
    else snprintf(buf, cap, "%.2f GiB", (double)bytes / 1073741824);
    return buf;
}

static void report_tensor(const convert_job *j, const tensor_plan *p, const gguf_writer_tensor *wt) {
    char shape[96], a[32], b[32];
    print_shape(shape, sizeof shape, p->src);
    int index = (int)(p - j->plans) + 1;
    if (p->type == p->src->type)
        logf_("[%4d/%4d] %-36s %-20s %-6s           %10s\n", index, j->n_plans, p->src->name,
              shape, quant_type_name(p->type), fmt_size(a, sizeof a, wt->nbytes));
    else
        logf_("[%4d/%4d] %-36s %-20s %-6s -> %-6s %10s -> %s%s\n", index, j->n_plans,
              p->src->name, shape, quant_type_name(p->src->type), quant_type_name(p->type),
              fmt_size(a, sizeof a, p->src->nbytes), fmt_size(b, sizeof b, wt->nbytes),
              p->fell_back ? " (fallback: row length)" : "");
}

static int fill_tensor(void *ctx, const gguf_writer_tensor *wt, void *dst, int64_t row0,
                       int64_t n_rows, char *err) {
    convert_job *j = ctx;
    /* tensors come in the order they were added; the name confirms which one this is */
    if (strcmp(j->plans[j->cur].src->name, wt->name) != 0)
        for (j->cur = 0; j->cur < j->n_plans - 1; j->cur++)
            if (!strcmp(j->plans[j->cur].src->name, wt->name)) break;
    const tensor_plan *p = &j->plans[j->cur];
    if (row0 == 0) report_tensor(j, p, wt);
    if (p->type == p->src->type) {  /* unchanged: copy the bytes */
        memcpy(dst, (const uint8_t *)p->src->data + (size_t)row0 * wt->row_bytes,
               (size_t)n_rows * wt->row_bytes);
        return 0;
    }
    j->plan = p;
    j->dst = dst;
    j->row0 = row0;
    j->n_rows = n_rows;
    j->rows_per_chunk = p->src->ne[0] >= 16384 ? 1 : 16384 / p->src->ne[0];
    atomic_store(&j->next_chunk, 0);
    atomic_store(&j->bad_row, -1);
    run_threads(j->n_threads, convert_rows, j);
    long long bad = atomic_load(&j->bad_row);
    if (bad >= 0) {
        j->bad_data = true;
        return set_err(err, "the source holds NaN or infinite values (row %lld)", bad);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * The command. */

typedef struct {
    const char *in, *out;
    const quant_option *opt;
    int n_threads;
    bool pure, allow_requantize, quiet;
} quantize_args;

/* "Q4_0, Q4_1, ..." */
static const char *type_list(void) {
    static char buf[512];
    size_t n = 0;
    for (size_t i = 0; i < N_QUANT_OPTIONS && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", quant_options[i].name);
    return buf;
}

static void print_help(void) {
    printf("usage: gemma quantize IN.gguf OUT.gguf TYPE [options]\n"
           "\n"
           "Convert a model (F32, F16 or BF16; quantized with --allow-requantize) to TYPE, with\n"
           "llama-quantize's per-tensor mixture rules. The output is byte-identical to what\n"
           "llama-quantize writes for the same options (no importance matrix).\n"
           "\n"
           "  -t, --threads N        threads (default: physical cores)\n"
           "      --pure             every quantizable matrix gets TYPE (no mixture rules)\n"
           "      --allow-requantize accept already quantized inputs (lower quality)\n"
           "      --log-disable      no progress output\n"
           "\n"
           "TYPE (any case, or the general.file_type number): %s\n"
           "(Q3_K, Q4_K and Q5_K are aliases of Q3_K_M, Q4_K_M and Q5_K_M)\n", type_list());
}

static void parse_args(int argc, char **argv, quantize_args *a) {
    const char *pos[3];
    int n_pos = 0;
    a->n_threads = 0;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            print_help();
            exit(0);
        } else if (!strcmp(s, "-t") || !strcmp(s, "--threads")) {
            a->n_threads = (int)parse_int(s, arg_value(argc, argv, &i), 1, 1024);
        } else if (!strcmp(s, "--pure")) {
            a->pure = true;
        } else if (!strcmp(s, "--allow-requantize")) {
            a->allow_requantize = true;
        } else if (!strcmp(s, "--log-disable")) {
            a->quiet = true;
        } else if (s[0] == '-' && s[1] != 0) {
            die_usage("unknown option '%s' for quantize", s);
        } else if (n_pos < 3) {
            pos[n_pos++] = s;
        } else {
            die_usage("quantize takes IN OUT TYPE; unexpected argument '%s'", s);
        }
    }
    if (n_pos < 3) die_usage("usage: gemma quantize IN.gguf OUT.gguf TYPE [-t N] [--pure]");
    a->in = pos[0];
    a->out = pos[1];
    a->opt = find_quant_option(pos[2]);
    if (!a->opt) die_usage("unknown quantization type '%s' (one of %s)", pos[2], type_list());
    if (a->n_threads <= 0) a->n_threads = gemma_default_threads();
}

/* Types and checks for every tensor before anything is written. Returns an exit code. */
static int plan_tensors(gguf_file *f, const quantize_args *a, tensor_plan *plans, mix_state *s,
                        char *err) {
    const gguf_tensor **order = xmalloc((size_t)f->n_tensors * sizeof *order);
    for (uint64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, gguf_tensor_order);
    s->tied = gguf_find_tensor(f, "output.weight") == NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (is_attn_v_like(category_of(order[i]->name))) s->n_attn_v++;
    int rc = 0;
    for (uint64_t i = 0; i < f->n_tensors && !rc; i++) {
        const gguf_tensor *t = order[i];
        tensor_plan *p = &plans[i];
        p->src = t;
        if (choose_type(s, t, &p->type, &p->fell_back, err)) { rc = EXIT_MODEL; break; }
        if (p->type == t->type) continue;
        const type_traits *from = quant_traits(t->type), *to = quant_traits(p->type);
        if (!from || !from->to_float) {
            set_err(err, "%s: tensor '%s' has type %s, which cannot be converted", a->in,
                    t->name, quant_type_name(t->type));
            rc = EXIT_MODEL;
        } else if (!to || !to->from_float) {
            set_err(err, "%s: no quantizer for type %s (tensor '%s')", a->in,
                    quant_type_name(p->type), t->name);
            rc = EXIT_RUNTIME;
        } else if (is_quantized(t->type) && !a->allow_requantize) {
            set_err(err, "%s: tensor '%s' is already quantized (%s); requantizing loses "
                    "quality, pass --allow-requantize to do it anyway", a->in, t->name,
                    quant_type_name(t->type));
            rc = EXIT_USAGE;
        }
    }
    free(order);
    return rc;
}

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Metadata: every KV of the source in order, then llama-quantize's changes. Setting a key
 * in llama.cpp's gguf removes it and appends it, so both keys end up last. */
static int copy_metadata(gguf_writer *w, const gguf_file *f, int ftype) {
    if (gguf_writer_copy_kvs(w, f, NULL) < 0) return -1;
    gguf_writer_remove(w, "general.quantization_version");
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_remove(w, "general.file_type");
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    gguf_writer_remove(w, "split.no");
    gguf_writer_remove(w, "split.count");
    gguf_writer_remove(w, "split.tensors.count");
    return gguf_writer_error(w) ? -1 : 0;
}

int cmd_quantize(int argc, char **argv) {
    quantize_args a = {0};
    parse_args(argc, argv, &a);
    if (a.quiet) log_enabled = false;
    char err[GEMMA_ERR_LEN];
    if (same_file(a.in, a.out)) die_usage("output '%s' is the input file", a.out);

    gguf_file *f = gguf_open(a.in, err);
    if (!f) die(EXIT_MODEL, "%s", err);
    if (f->n_tensors == 0) die(EXIT_MODEL, "%s: no tensors (a vocabulary-only file?)", a.in);
    if (f->n_tensors > 1000000) die(EXIT_MODEL, "%s: %llu tensors is not a model", a.in,
                                    (unsigned long long)f->n_tensors);

    mix_state s = {.path = a.in, .ftype = a.opt->ftype, .default_type = a.opt->type, .pure = a.pure};
    if (read_model_facts(f, &s, err)) die(EXIT_MODEL, "%s", err);
    tensor_plan *plans = xcalloc((size_t)f->n_tensors, sizeof *plans);
    int rc = plan_tensors(f, &a, plans, &s, err);
    if (rc) die(rc, "%s", err);

    gguf_writer *w = gguf_writer_new();
    if (copy_metadata(w, f, a.opt->ftype))
        die(EXIT_MODEL, "%s: %s", a.in, gguf_writer_error(w) ? gguf_writer_error(w) : "bad metadata");

    convert_job job = {.plans = plans, .n_plans = (int)f->n_tensors};
    int64_t max_ne0 = 1;
    uint64_t bytes_in = 0, n_elements = 0;
    for (int i = 0; i < job.n_plans; i++) {
        const gguf_tensor *t = plans[i].src;
        if (t->ne[0] > max_ne0) max_ne0 = t->ne[0];
        bytes_in += t->nbytes;
        n_elements += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        gguf_writer_add_tensor_fill(w, t->name, plans[i].type, effective_dims(t), t->ne,
                                    fill_tensor, &job);
    }
    if (gguf_writer_error(w)) die(EXIT_MODEL, "%s: %s", a.in, gguf_writer_error(w));
    uint64_t bytes_out = 0;
    for (int64_t i = 0; i < gguf_writer_n_tensors(w); i++) bytes_out += gguf_writer_get_tensor(w, i)->nbytes;

    int nth = job.n_threads = a.n_threads;
    job.scratch = xmalloc((size_t)nth * sizeof(float *));
    for (int i = 0; i < nth; i++) job.scratch[i] = xmalloc((size_t)max_ne0 * sizeof(float));
    atomic_init(&job.next_chunk, 0);
    atomic_init(&job.bad_row, -1);

    logf_("gemma quantize: %s -> %s as %s%s, %d tensors, %d thread%s\n", a.in, a.out, a.opt->name,
          a.pure ? " (pure)" : "", job.n_plans, nth, nth == 1 ? "" : "s");
    double t0 = now_seconds();
    rc = gguf_writer_write(w, a.out, err);
    double dt = now_seconds() - t0;

    for (int i = 0; i < nth; i++) free(job.scratch[i]);
    free(job.scratch);
    uint64_t file_size = gguf_writer_file_size(w);
    gguf_writer_free(w);
    free(plans);
    gguf_close(f);
    if (rc) die(job.bad_data ? EXIT_MODEL : EXIT_IO, "%s", err);
    if (s.n_fallback)
        logf_("gemma quantize: %d of %d tensors needed a fallback type (row length not a "
              "multiple of the block size)\n", s.n_fallback, job.n_plans);
    double n = n_elements ? (double)n_elements : 1;
    char a1[32], a2[32], a3[32];
    logf_("gemma quantize: tensors %s (%.2f bits per weight) -> %s (%.2f bpw), file %s, "
          "in %.2f s\n", fmt_size(a1, sizeof a1, bytes_in), 8.0 * (double)bytes_in / n,
          fmt_size(a2, sizeof a2, bytes_out), 8.0 * (double)bytes_out / n,
          fmt_size(a3, sizeof a3, file_size), dt);
    return 0;
}
