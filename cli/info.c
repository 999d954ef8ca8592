/* info.c - `gemma info FILE [--tensors] [--json]`: what a GGUF model file holds.
 *
 * Everything comes straight from the container (gguf.h), not from the model binding, so it
 * also works for files the engine cannot run (other architectures, vocabulary-only files,
 * unsupported tensor types): architecture and published variant, parameter count, the mix
 * of tensor types, the hyperparameters, the vocabulary, the chat template and the sampling
 * defaults. --json prints the same as one JSON object for programs. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kernels/quant.h"

/* Little-endian values in the mapping (unaligned; gguf_open checked their bounds). */
static uint16_t rd_u16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd_u32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd_u64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* ---------------------------------------------------------------------------------------
 * A growing output buffer: the report is assembled first and written in one go. */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}

static void sb_putc(sbuf *b, char c) { sb_printf(b, "%c", c); }

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static int utf8_valid_len(const unsigned char *s, uint64_t n) {
    int len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
            : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || (uint64_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    uint32_t cp = len == 1 ? s[0] : len == 2 ? (s[0] & 0x1Fu) : len == 3 ? (s[0] & 0x0Fu) : (s[0] & 0x07u);
    for (int i = 1; i < len; i++) cp = (cp << 6) | (s[i] & 0x3Fu);
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* A file string for a terminal: control characters and invalid UTF-8 as escapes. */
static void sb_text(sbuf *b, gguf_str s) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (uint64_t i = 0; i < s.len;) {
        int n = utf8_valid_len(p + i, s.len - i);
        if (n == 1 && p[i] >= 0x20 && p[i] != 0x7F) sb_putc(b, (char)p[i]);
        else if (n == 1 && p[i] == '\n') sb_printf(b, "\\n");
        else if (n == 1 && p[i] == '\t') sb_printf(b, "\\t");
        else if (n <= 1) sb_printf(b, "\\x%02x", p[i]);
        else sb_printf(b, "%.*s", n, (const char *)p + i);
        i += n > 0 ? (uint64_t)n : 1;
    }
}

/* A JSON string literal (RFC 8259): escapes, and U+FFFD for bytes that are not UTF-8. */
static void sb_json_str(sbuf *b, gguf_str s) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    sb_putc(b, '"');
    for (uint64_t i = 0; i < s.len;) {
        int n = utf8_valid_len(p + i, s.len - i);
        unsigned char c = p[i];
        if (n == 0) sb_printf(b, "\\ufffd");
        else if (c == '"') sb_printf(b, "\\\"");
        else if (c == '\\') sb_printf(b, "\\\\");
        else if (c == '\n') sb_printf(b, "\\n");
        else if (c == '\r') sb_printf(b, "\\r");
        else if (c == '\t') sb_printf(b, "\\t");
        else if (c < 0x20 || c == 0x7F) sb_printf(b, "\\u%04x", c);
        else sb_printf(b, "%.*s", n, (const char *)p + i);
        i += n > 0 ? (uint64_t)n : 1;
    }
    sb_putc(b, '"');
}

static gguf_str cstr(const char *s) { return (gguf_str){s, s ? strlen(s) : 0}; }

static void sb_json_num(sbuf *b, double v) {
    if (isfinite(v)) sb_printf(b, "%.9g", v);
    else sb_printf(b, "null");
}

static void sb_size(sbuf *b, uint64_t bytes) {
    if (bytes < 1024) sb_printf(b, "%" PRIu64 " B", bytes);
    else if (bytes < (1u << 20)) sb_printf(b, "%.2f KiB", (double)bytes / 1024);
    else if (bytes < (1u << 30)) sb_printf(b, "%.2f MiB", (double)bytes / 1048576);
    else sb_printf(b, "%.2f GiB", (double)bytes / 1073741824);
}

static void sb_count(sbuf *b, uint64_t n) {
    if (n >= 1000000000) sb_printf(b, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000) sb_printf(b, "%.2f M", (double)n / 1e6);
    else if (n >= 1000) sb_printf(b, "%.2f K", (double)n / 1e3);
    else sb_printf(b, "%" PRIu64, n);
}

/* ---------------------------------------------------------------------------------------
 * Names: file types (doc/gguf.md#file-types, llama.cpp's display names) and the published
 * sizes, which llama.cpp tells apart by layer count alone (doc/model.md#size-names). */

static const char *file_type_name(int64_t ft) { return quant_ftype_name(ft); }

/* llama.cpp's guess when general.file_type is absent: the type most tensors have (the first
 * to reach the maximum, in the loader's order), mapped to its "mostly" file type. */
static int guessed_file_type(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F32: return 0;    case GGML_TYPE_F16: return 1;   case GGML_TYPE_BF16: return 32;
    case GGML_TYPE_Q4_0: return 2;   case GGML_TYPE_Q4_1: return 3;  case GGML_TYPE_Q5_0: return 8;
    case GGML_TYPE_Q5_1: return 9;   case GGML_TYPE_Q8_0: return 7;  case GGML_TYPE_Q2_K: return 10;
    case GGML_TYPE_Q3_K: return 12;  case GGML_TYPE_Q4_K: return 15; case GGML_TYPE_Q5_K: return 17;
    case GGML_TYPE_Q6_K: return 18;  case GGML_TYPE_TQ1_0: return 36; case GGML_TYPE_TQ2_0: return 37;
    case GGML_TYPE_IQ2_XXS: return 19; case GGML_TYPE_IQ2_XS: return 20; case GGML_TYPE_IQ2_S: return 28;
    case GGML_TYPE_IQ3_XXS: return 23; case GGML_TYPE_IQ1_S: return 24; case GGML_TYPE_IQ1_M: return 31;
    case GGML_TYPE_IQ4_NL: return 25; case GGML_TYPE_IQ4_XS: return 30; case GGML_TYPE_IQ3_S: return 26;
    case GGML_TYPE_MXFP4: return 38; case GGML_TYPE_NVFP4: return 39; case GGML_TYPE_Q1_0: return 40;
    case GGML_TYPE_Q2_0: return 41;
    default: return -1;
    }
}

static const char *family_name(const char *arch) {
    if (!strcmp(arch, "gemma")) return "Gemma 1";
    if (!strcmp(arch, "gemma2")) return "Gemma 2";
    if (!strcmp(arch, "gemma3")) return "Gemma 3";
    if (!strcmp(arch, "gemma3n")) return "Gemma 3n";
    if (!strcmp(arch, "gemma4")) return "Gemma 4";
    return NULL;
}

static const char *size_name(const char *arch, int64_t n_layer) {
    static const struct { const char *arch; int n_layer; const char *size; } sizes[] = {
        {"gemma", 18, "2B"},     {"gemma", 28, "7B"},
        {"gemma2", 26, "2B"},    {"gemma2", 42, "9B"},    {"gemma2", 46, "27B"},
        {"gemma3", 18, "270M"},  {"gemma3", 26, "1B"},    {"gemma3", 32, "8B"},
        {"gemma3", 34, "4B"},    {"gemma3", 48, "12B"},   {"gemma3", 62, "27B"},
        {"gemma3n", 30, "E2B"},  {"gemma3n", 35, "E4B"},
        {"gemma4", 30, "26B-A4B"}, {"gemma4", 35, "E2B"}, {"gemma4", 42, "E4B"},
        {"gemma4", 60, "31B"},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!strcmp(arch, sizes[i].arch) && n_layer == sizes[i].n_layer) return sizes[i].size;
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Reading the metadata. */

#define MAX_LAYERS 4096

typedef struct {
    const gguf_file *f;
    char arch[65];
    bool has_arch;
    int64_t n_layer;     /* 0 if unknown */
} model_keys;

static const char *akey(const model_keys *m, const char *suffix) {
    static char key[160];
    snprintf(key, sizeof key, "%s.%s", m->arch, suffix);
    return key;
}

/* An integer key, or def when absent / not an integer (arrays: element 0). */
static int64_t get_int(const gguf_file *f, const char *key, int64_t def) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return def;
    if (kv->type == GGUF_ARRAY) return kv->arr_n && gguf_arr_is_int(kv) ? gguf_arr_int(kv, 0) : def;
    int64_t v = def;
    return gguf_get_i64(f, key, &v, NULL) == 1 ? v : def;
}

static bool get_float(const gguf_file *f, const char *key, double *out) {
    float v;
    if (gguf_get_f32(f, key, &v, NULL) != 1) return false;
    *out = v;
    return true;
}

static bool get_string(const gguf_file *f, const char *key, gguf_str *out) {
    return gguf_get_str(f, key, out, NULL) == 1;
}

/* Per-layer values of a key that is a scalar or an array (missing layers repeat the last
 * element). Returns false if the key is absent; out keeps the defaults then. */
static bool layer_values(const model_keys *m, const char *suffix, int64_t *out) {
    const gguf_kv *kv = gguf_find(m->f, akey(m, suffix));
    if (!kv) return false;
    if (kv->type == GGUF_ARRAY) {
        if (!gguf_arr_is_int(kv) || kv->arr_n == 0) return false;
        for (int64_t il = 0; il < m->n_layer; il++)
            out[il] = gguf_arr_int(kv, (uint64_t)il < kv->arr_n ? (uint64_t)il : kv->arr_n - 1);
        return true;
    }
    int64_t v;
    if (gguf_get_i64(m->f, akey(m, suffix), &v, NULL) != 1) return false;
    for (int64_t il = 0; il < m->n_layer; il++) out[il] = v;
    return true;
}

/* Which layers use the sliding window (doc/model.md#sliding-layers). Returns the window (0 = no
 * sliding layers) and fills swa[]. The key may be a bool array or a period n (layer il
 * slides iff il % n < n - 1); without it Gemma 2 alternates and Gemma 3 uses 6. */
static int64_t sliding_layers(const model_keys *m, bool *swa) {
    for (int64_t il = 0; il < m->n_layer; il++) swa[il] = false;
    bool gemma2 = !strcmp(m->arch, "gemma2"), gemma3 = !strcmp(m->arch, "gemma3");
    int64_t window = get_int(m->f, akey(m, "attention.sliding_window"), gemma2 ? 4096 : 0);
    if (window <= 0 || !strcmp(m->arch, "gemma")) return 0;
    const gguf_kv *kv = gguf_find(m->f, akey(m, "attention.sliding_window_pattern"));
    if (kv && kv->type == GGUF_ARRAY && gguf_arr_is_int(kv) && kv->arr_n > 0) {
        for (int64_t il = 0; il < m->n_layer && (uint64_t)il < kv->arr_n; il++)
            swa[il] = gguf_arr_int(kv, (uint64_t)il) != 0;
        return window;
    }
    int64_t period = kv ? get_int(m->f, akey(m, "attention.sliding_window_pattern"), 0)
                        : gemma2 ? 2 : gemma3 ? 6 : 0;
    if (period <= 1) return period == 1 ? 0 : window; /* unknown pattern: window only */
    for (int64_t il = 0; il < m->n_layer; il++) swa[il] = il % period < period - 1;
    return window;
}

/* "SSSSSG x5" for a repeating pattern, else the whole string of S (sliding) / G (global). */
static void sb_pattern(sbuf *b, const bool *swa, int64_t n) {
    int64_t period = n;
    for (int64_t p = 1; p < n; p++) {
        if (n % p) continue;
        bool ok = true;
        for (int64_t i = p; i < n && ok; i++) ok = swa[i] == swa[i % p];
        if (ok) { period = p; break; }
    }
    for (int64_t i = 0; i < period; i++) sb_putc(b, swa[i] ? 'S' : 'G');
    if (period < n) sb_printf(b, " x%" PRId64, n / period);
}

static bool all_equal(const int64_t *v, int64_t n) {
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[0]) return false;
    return true;
}

/* One value per layer, summarised: "8", "2 (sliding), 1 (global)", "6144 x15, 12288 x20". */
static void sb_layer_values(sbuf *b, const int64_t *v, int64_t n, const bool *swa, bool has_swa) {
    if (n <= 0) return;
    if (all_equal(v, n)) { sb_printf(b, "%" PRId64, v[0]); return; }
    if (has_swa) {
        int64_t vs = -1, vg = -1;
        bool split = true;
        for (int64_t i = 0; i < n && split; i++) {
            int64_t *slot = swa[i] ? &vs : &vg;
            if (*slot == -1) *slot = v[i];
            else if (*slot != v[i]) split = false;
        }
        if (split && vs >= 0 && vg >= 0) {
            sb_printf(b, "%" PRId64 " (sliding), %" PRId64 " (global)", vs, vg);
            return;
        }
    }
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j] == v[i]) j++;
        sb_printf(b, "%s%" PRId64, i ? ", " : "", v[i]);
        if (j - i > 1) sb_printf(b, " x%" PRId64, j - i);
        i = j;
    }
}

static void sb_json_layer_values(sbuf *b, const int64_t *v, int64_t n) {
    if (n > 0 && all_equal(v, n)) { sb_printf(b, "%" PRId64, v[0]); return; }
    sb_putc(b, '[');
    for (int64_t i = 0; i < n; i++) sb_printf(b, "%s%" PRId64, i ? ", " : "", v[i]);
    sb_putc(b, ']');
}

/* ---------------------------------------------------------------------------------------
 * The facts, gathered once and printed as text or JSON. */

typedef struct {
    uint32_t type;
    uint64_t count, bytes;
} type_use;

typedef struct {
    const char *path;
    const gguf_file *f;
    model_keys m;
    gguf_str name;
    bool has_name;
    const char *family, *size;
    uint64_t n_params, tensor_bytes;
    type_use types[GGML_TYPE_COUNT + 1];  /* used types, most bytes first */
    int n_types;
    int64_t file_type;                    /* -1: unknown */
    bool file_type_guessed;
    /* hyperparameters (only when the file has tensors and a block count) */
    bool has_hparams;
    int64_t n_ctx, n_embd, n_expert, n_expert_used, n_ff_exp, n_pl, n_kv_shared;
    int64_t *n_head, *n_head_kv, *n_ff, *head_dim_k, *head_dim_v;
    bool has_n_ff;
    bool *swa;
    int64_t window, n_swa_layers;
    double rope_base, rope_base_swa, rope_scale, attn_softcap, final_softcap;
    bool has_rope_base, has_rope_base_swa, has_rope_scale, has_attn_softcap, has_final_softcap;
    /* vocabulary */
    gguf_str tok_model;
    bool has_tok_model;
    uint64_t n_tokens, n_merges;
    int64_t bos, eos;
    gguf_str bos_text, eos_text;
    gguf_str chat_template;
    bool has_chat_template;
} model_info;

/* Tensor sort order of llama.cpp's loader (layer number, then name): the guess of the file
 * type breaks ties by it. */

static int by_bytes_desc(const void *a, const void *b) {
    const type_use *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

static void gather_tensors(model_info *mi) {
    const gguf_file *f = mi->f;
    type_use use[GGML_TYPE_COUNT + 1] = {{0}};
    const gguf_tensor **order = xmalloc((f->n_tensors ? f->n_tensors : 1) * sizeof *order);
    for (uint64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, gguf_tensor_order);
    uint64_t best_count = 0;
    uint32_t best = GGML_TYPE_F32;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = order[i];
        uint32_t ty = t->type < GGML_TYPE_COUNT ? t->type : GGML_TYPE_COUNT;
        use[ty].type = t->type;
        use[ty].count++;
        use[ty].bytes += t->nbytes;
        if (use[ty].count > best_count) { best_count = use[ty].count; best = t->type; }
        mi->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        mi->tensor_bytes += t->nbytes;
    }
    free(order);
    for (int i = 0; i <= GGML_TYPE_COUNT; i++)
        if (use[i].count) mi->types[mi->n_types++] = use[i];
    qsort(mi->types, (size_t)mi->n_types, sizeof mi->types[0], by_bytes_desc);

    mi->file_type = get_int(f, "general.file_type", -1);
    if (mi->file_type < 0 && f->n_tensors > 0) {
        mi->file_type = guessed_file_type(best);
        mi->file_type_guessed = true;
    }
}

static void gather_hparams(model_info *mi) {
    model_keys *m = &mi->m;
    const gguf_file *f = mi->f;
    int64_t n = m->n_layer;
    mi->n_ctx = get_int(f, akey(m, "context_length"), 0);
    mi->n_embd = get_int(f, akey(m, "embedding_length"), 0);
    mi->n_expert = get_int(f, akey(m, "expert_count"), 0);
    mi->n_expert_used = get_int(f, akey(m, "expert_used_count"), 0);
    mi->n_ff_exp = get_int(f, akey(m, "expert_feed_forward_length"), 0);
    mi->n_pl = get_int(f, akey(m, "embedding_length_per_layer_input"), 0);
    mi->n_kv_shared = get_int(f, akey(m, "attention.shared_kv_layers"), 0);

    mi->n_head = xcalloc((size_t)n, sizeof(int64_t));
    mi->n_head_kv = xcalloc((size_t)n, sizeof(int64_t));
    mi->n_ff = xcalloc((size_t)n, sizeof(int64_t));
    mi->head_dim_k = xcalloc((size_t)n, sizeof(int64_t));
    mi->head_dim_v = xcalloc((size_t)n, sizeof(int64_t));
    mi->swa = xcalloc((size_t)n, sizeof(bool));
    layer_values(m, "attention.head_count", mi->n_head);
    if (!layer_values(m, "attention.head_count_kv", mi->n_head_kv))
        memcpy(mi->n_head_kv, mi->n_head, (size_t)n * sizeof(int64_t));
    mi->has_n_ff = layer_values(m, "feed_forward_length", mi->n_ff);
    mi->window = sliding_layers(m, mi->swa);
    for (int64_t il = 0; il < n; il++) mi->n_swa_layers += mi->swa[il];

    /* head dims: key_length (default n_embd / n_head); Gemma 4 sliding layers have their own */
    int64_t hd_def = mi->n_head[0] > 0 ? mi->n_embd / mi->n_head[0] : 0;
    int64_t hk = get_int(f, akey(m, "attention.key_length"), hd_def);
    int64_t hv = get_int(f, akey(m, "attention.value_length"), hk);
    int64_t hk_swa = get_int(f, akey(m, "attention.key_length_swa"), hk);
    int64_t hv_swa = get_int(f, akey(m, "attention.value_length_swa"), hk_swa);
    for (int64_t il = 0; il < n; il++) {
        mi->head_dim_k[il] = mi->swa[il] ? hk_swa : hk;
        mi->head_dim_v[il] = mi->swa[il] ? hv_swa : hv;
    }

    mi->has_rope_base = get_float(f, akey(m, "rope.freq_base"), &mi->rope_base);
    mi->has_rope_base_swa = get_float(f, akey(m, "rope.freq_base_swa"), &mi->rope_base_swa);
    mi->has_rope_scale = get_float(f, akey(m, "rope.scaling.factor"), &mi->rope_scale) &&
                         mi->rope_scale != 0 && mi->rope_scale != 1;
    mi->has_attn_softcap = get_float(f, akey(m, "attn_logit_softcapping"), &mi->attn_softcap);
    mi->has_final_softcap = get_float(f, akey(m, "final_logit_softcapping"), &mi->final_softcap);
}

static gguf_str token_text(const gguf_file *f, int64_t id) {
    gguf_str none = {NULL, 0};
    const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.tokens");
    if (!kv || kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING || id < 0 ||
        (uint64_t)id >= kv->arr_n)
        return none;
    /* walk the length-prefixed strings (validated by gguf_open) up to id */
    const uint8_t *p = kv->data;
    for (int64_t i = 0; i < id; i++) p += 8 + rd_u64(p);
    return (gguf_str){(const char *)p + 8, rd_u64(p)};
}

static void gather_vocab(model_info *mi) {
    const gguf_file *f = mi->f;
    mi->has_tok_model = get_string(f, "tokenizer.ggml.model", &mi->tok_model);
    const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.tokens");
    mi->n_tokens = kv && kv->type == GGUF_ARRAY ? kv->arr_n : 0;
    kv = gguf_find(f, "tokenizer.ggml.merges");
    mi->n_merges = kv && kv->type == GGUF_ARRAY ? kv->arr_n : 0;
    mi->bos = get_int(f, "tokenizer.ggml.bos_token_id", -1);
    mi->eos = get_int(f, "tokenizer.ggml.eos_token_id", -1);
    mi->bos_text = token_text(f, mi->bos);
    mi->eos_text = token_text(f, mi->eos);
    mi->has_chat_template = get_string(f, "tokenizer.chat_template", &mi->chat_template);
}

static void gather(model_info *mi, const gguf_file *f, const char *path) {
    mi->path = path;
    mi->f = f;
    mi->m.f = f;
    gguf_str arch;
    if (get_string(f, "general.architecture", &arch) && arch.len > 0 && arch.len < sizeof mi->m.arch) {
        memcpy(mi->m.arch, arch.ptr, (size_t)arch.len);
        mi->m.arch[arch.len] = 0; /* (an embedded NUL just shortens it) */
        mi->m.has_arch = true;
        int64_t n = get_int(f, akey(&mi->m, "block_count"), 0);
        mi->m.n_layer = n > 0 && n <= MAX_LAYERS ? n : 0;
        mi->family = family_name(mi->m.arch);
        mi->size = size_name(mi->m.arch, mi->m.n_layer);
    }
    mi->has_name = get_string(f, "general.name", &mi->name);
    gather_tensors(mi);
    mi->has_hparams = f->n_tensors > 0 && mi->m.n_layer > 0;
    if (mi->has_hparams) gather_hparams(mi);
    gather_vocab(mi);
}

static void release(model_info *mi) {
    free(mi->n_head);
    free(mi->n_head_kv);
    free(mi->n_ff);
    free(mi->head_dim_k);
    free(mi->head_dim_v);
    free(mi->swa);
}

/* ---------------------------------------------------------------------------------------
 * Generic KV values (the general.sampling.* keys). */

static void sb_kv_value(sbuf *b, const gguf_kv *kv, bool json) {
    const uint8_t *p = kv->data;
    switch (kv->type) {
    case GGUF_U8: sb_printf(b, "%u", p[0]); break;
    case GGUF_I8: sb_printf(b, "%d", (int8_t)p[0]); break;
    case GGUF_U16: sb_printf(b, "%u", rd_u16(p)); break;
    case GGUF_I16: sb_printf(b, "%d", (int16_t)rd_u16(p)); break;
    case GGUF_U32: sb_printf(b, "%" PRIu32, rd_u32(p)); break;
    case GGUF_I32: sb_printf(b, "%" PRId32, (int32_t)rd_u32(p)); break;
    case GGUF_U64: sb_printf(b, "%" PRIu64, rd_u64(p)); break;
    case GGUF_I64: sb_printf(b, "%" PRId64, (int64_t)rd_u64(p)); break;
    case GGUF_BOOL: sb_printf(b, "%s", p[0] ? "true" : "false"); break;
    case GGUF_F32: {
        float v;
        memcpy(&v, p, 4);
        if (json) sb_json_num(b, v);
        else sb_printf(b, "%g", v);
        break;
    }
    case GGUF_F64: {
        double v;
        memcpy(&v, p, 8);
        if (json) sb_json_num(b, v);
        else sb_printf(b, "%g", v);
        break;
    }
    case GGUF_STRING: {
        gguf_str s = {(const char *)p + 8, rd_u64(p)};
        if (json) sb_json_str(b, s);
        else sb_text(b, s);
        break;
    }
    default: /* arrays: numbers in full when short, otherwise the count */
        if (json && kv->arr_n <= 64 && (gguf_arr_is_int(kv) || gguf_arr_is_float(kv))) {
            sb_putc(b, '[');
            for (uint64_t i = 0; i < kv->arr_n; i++) {
                sb_printf(b, "%s", i ? ", " : "");
                if (gguf_arr_is_int(kv)) sb_printf(b, "%" PRId64, gguf_arr_int(kv, i));
                else sb_json_num(b, gguf_arr_float(kv, i));
            }
            sb_putc(b, ']');
        } else if (json) {
            sb_printf(b, "{\"array_length\": %" PRIu64 "}", kv->arr_n);
        } else {
            sb_printf(b, "[%" PRIu64 " %s values]", kv->arr_n, gguf_vtype_name(kv->arr_type));
        }
        break;
    }
}

#define SAMPLING_PREFIX "general.sampling."

static bool is_sampling_key(const gguf_kv *kv) {
    return strncmp(kv->key, SAMPLING_PREFIX, strlen(SAMPLING_PREFIX)) == 0;
}

static void sb_shape(sbuf *b, const gguf_tensor *t) {
    sb_printf(b, "[");
    for (uint32_t d = 0; d < t->n_dims; d++) sb_printf(b, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    sb_printf(b, "]");
}

/* ---------------------------------------------------------------------------------------
 * Text report. */

#define LABEL "%-17s"

static void text_report(sbuf *b, const model_info *mi, bool tensors) {
    const gguf_file *f = mi->f;
    sb_printf(b, LABEL "%s\n", "file:", mi->path);
    sb_printf(b, LABEL, "file size:");
    sb_size(b, f->size);
    sb_printf(b, " (%zu bytes), GGUF v%u, %" PRIu64 " metadata keys, %" PRIu64 " tensors\n", f->size,
              f->version, f->n_kv, f->n_tensors);
    sb_printf(b, LABEL "%s\n", "architecture:", mi->m.has_arch ? mi->m.arch : "(none)");
    if (mi->family) {
        sb_printf(b, LABEL "%s", "variant:", mi->family);
        if (mi->size) sb_printf(b, " %s\n", mi->size);
        else if (mi->m.n_layer) sb_printf(b, " (%" PRId64 " layers: not a published size)\n", mi->m.n_layer);
        else sb_printf(b, "\n");
    }
    if (mi->has_name) {
        sb_printf(b, LABEL, "name:");
        sb_text(b, mi->name);
        sb_putc(b, '\n');
    }
    if (f->n_tensors == 0) {
        sb_printf(b, LABEL "none (vocabulary-only file)\n", "tensors:");
    } else {
        sb_printf(b, LABEL, "parameters:");
        sb_count(b, mi->n_params);
        sb_printf(b, " (%" PRIu64 ")\n", mi->n_params);
        sb_printf(b, LABEL, "file type:");
        const char *ftn = file_type_name(mi->file_type);
        if (ftn) sb_printf(b, "%s", ftn);
        else if (mi->file_type >= 0) sb_printf(b, "unknown (%" PRId64 ")", mi->file_type);
        else sb_printf(b, "unknown");
        sb_printf(b, mi->file_type_guessed ? " (guessed: no general.file_type)\n" : "\n");
        for (int i = 0; i < mi->n_types; i++) {
            sb_printf(b, LABEL "%-6s %5" PRIu64 " tensor%s ", i ? "" : "tensor types:",
                      quant_type_name(mi->types[i].type), mi->types[i].count,
                      mi->types[i].count == 1 ? " " : "s");
            sb_size(b, mi->types[i].bytes);
            sb_printf(b, " (%.1f%%)\n", mi->tensor_bytes ? 100.0 * (double)mi->types[i].bytes / (double)mi->tensor_bytes : 0.0);
        }
    }
    if (mi->has_hparams) {
        int64_t n = mi->m.n_layer;
        bool has_swa = mi->window > 0 && mi->n_swa_layers > 0;
        sb_printf(b, LABEL, "context length:");
        if (mi->n_ctx > 0) sb_printf(b, "%" PRId64 "\n", mi->n_ctx);
        else sb_printf(b, "(not set)\n");
        sb_printf(b, LABEL "%" PRId64 "\n", "embedding width:", mi->n_embd);
        sb_printf(b, LABEL "%" PRId64 "\n", "layers:", n);
        sb_printf(b, LABEL, "heads:");
        sb_layer_values(b, mi->n_head, n, mi->swa, has_swa);
        sb_printf(b, "\n" LABEL, "KV heads:");
        sb_layer_values(b, mi->n_head_kv, n, mi->swa, has_swa);
        sb_printf(b, "\n" LABEL, "head dim:");
        if (memcmp(mi->head_dim_k, mi->head_dim_v, (size_t)n * sizeof(int64_t)) == 0) {
            sb_layer_values(b, mi->head_dim_k, n, mi->swa, has_swa);
        } else {
            sb_printf(b, "key ");
            sb_layer_values(b, mi->head_dim_k, n, mi->swa, has_swa);
            sb_printf(b, "; value ");
            sb_layer_values(b, mi->head_dim_v, n, mi->swa, has_swa);
        }
        sb_putc(b, '\n');
        if (mi->has_n_ff) {
            sb_printf(b, LABEL, "feed-forward:");
            sb_layer_values(b, mi->n_ff, n, mi->swa, has_swa);
            sb_putc(b, '\n');
        }
        sb_printf(b, LABEL, "sliding window:");
        if (mi->window <= 0) sb_printf(b, "none (all layers global)\n");
        else if (!has_swa) sb_printf(b, "%" PRId64 " tokens (no sliding layers)\n", mi->window);
        else {
            sb_printf(b, "%" PRId64 " tokens; %" PRId64 " sliding + %" PRId64 " global layers, pattern ",
                      mi->window, mi->n_swa_layers, n - mi->n_swa_layers);
            sb_pattern(b, mi->swa, n);
            sb_putc(b, '\n');
        }
        if (mi->has_rope_base || mi->has_rope_base_swa) {
            sb_printf(b, LABEL, "rope base:");
            if (mi->has_rope_base) sb_printf(b, "%.15g%s", mi->rope_base, mi->has_rope_base_swa ? " (global)" : "");
            if (mi->has_rope_base_swa) sb_printf(b, "%s%.15g (sliding)", mi->has_rope_base ? ", " : "", mi->rope_base_swa);
            if (mi->has_rope_scale) sb_printf(b, "; linear scaling x%g", mi->rope_scale);
            sb_putc(b, '\n');
        }
        if (mi->has_attn_softcap || mi->has_final_softcap) {
            sb_printf(b, LABEL, "soft-capping:");
            if (mi->has_attn_softcap) sb_printf(b, "attention %g%s", mi->attn_softcap, mi->has_final_softcap ? ", " : "");
            if (mi->has_final_softcap) sb_printf(b, "final %g", mi->final_softcap);
            sb_putc(b, '\n');
        }
        sb_printf(b, LABEL, "experts:");
        if (mi->n_expert > 0)
            sb_printf(b, "%" PRId64 " (%" PRId64 " used per token, feed-forward %" PRId64 ")\n",
                      mi->n_expert, mi->n_expert_used, mi->n_ff_exp);
        else sb_printf(b, "none\n");
        if (mi->n_pl > 0) sb_printf(b, LABEL "%" PRId64 " per layer\n", "per-layer embd:", mi->n_pl);
        if (mi->n_kv_shared > 0) sb_printf(b, LABEL "last %" PRId64 " layers reuse earlier KV caches\n", "shared KV:", mi->n_kv_shared);
    }
    sb_printf(b, LABEL, "vocabulary:");
    if (mi->has_tok_model || mi->n_tokens) {
        if (mi->has_tok_model) {
            sb_text(b, mi->tok_model);
            if (gguf_str_eq(mi->tok_model, "llama")) sb_printf(b, " (SentencePiece)");
            else if (gguf_str_eq(mi->tok_model, "gemma4")) sb_printf(b, " (BPE)");
        } else {
            sb_printf(b, "(no tokenizer.ggml.model)");
        }
        sb_printf(b, ", %" PRIu64 " tokens", mi->n_tokens);
        if (mi->n_merges) sb_printf(b, ", %" PRIu64 " merges", mi->n_merges);
        if (mi->bos >= 0) {
            sb_printf(b, ", bos %" PRId64, mi->bos);
            if (mi->bos_text.ptr) { sb_printf(b, " '"); sb_text(b, mi->bos_text); sb_printf(b, "'"); }
        }
        if (mi->eos >= 0) {
            sb_printf(b, ", eos %" PRId64, mi->eos);
            if (mi->eos_text.ptr) { sb_printf(b, " '"); sb_text(b, mi->eos_text); sb_printf(b, "'"); }
        }
        sb_putc(b, '\n');
    } else {
        sb_printf(b, "none\n");
    }
    sb_printf(b, LABEL, "chat template:");
    if (mi->has_chat_template) sb_printf(b, "yes (%" PRIu64 " bytes)\n", mi->chat_template.len);
    else sb_printf(b, "none\n");
    sb_printf(b, LABEL, "sampling:");
    int n_sampling = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        if (!is_sampling_key(&f->kv[i])) continue;
        sb_printf(b, "%s%s = ", n_sampling++ ? ", " : "", f->kv[i].key + strlen(SAMPLING_PREFIX));
        sb_kv_value(b, &f->kv[i], false);
    }
    sb_printf(b, n_sampling ? "\n" : "no defaults in the file\n");

    if (tensors && f->n_tensors) {
        sb_printf(b, "tensors: (index, name, type, shape, bytes, file offset)\n");
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            sb_printf(b, "%6" PRIu64 "  %-40s %-7s ", i, t->name, quant_type_name(t->type));
            size_t before = b->len;
            sb_shape(b, t);
            for (size_t w = b->len - before; w < 22; w++) sb_putc(b, ' ');
            sb_printf(b, " %12" PRIu64 " %12" PRIu64 "\n", t->nbytes, f->data_offset + t->offset);
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * JSON report: one object. Per-layer values are a number when every layer agrees, else an
 * array (the way GGUF itself stores them). Absent facts are null. */

static void json_key(sbuf *b, const char *key, bool *first) {
    sb_printf(b, "%s\n  \"%s\": ", *first ? "" : ",", key);
    *first = false;
}

static void json_report(sbuf *b, const model_info *mi, bool tensors) {
    const gguf_file *f = mi->f;
    bool first = true;
    sb_putc(b, '{');
    json_key(b, "file", &first);
    sb_json_str(b, cstr(mi->path));
    json_key(b, "file_size", &first);
    sb_printf(b, "%zu", f->size);
    json_key(b, "gguf_version", &first);
    sb_printf(b, "%u", f->version);
    json_key(b, "n_kv", &first);
    sb_printf(b, "%" PRIu64, f->n_kv);
    json_key(b, "n_tensors", &first);
    sb_printf(b, "%" PRIu64, f->n_tensors);
    json_key(b, "vocab_only", &first);
    sb_printf(b, "%s", f->n_tensors == 0 ? "true" : "false");
    json_key(b, "architecture", &first);
    if (mi->m.has_arch) sb_json_str(b, cstr(mi->m.arch));
    else sb_printf(b, "null");
    json_key(b, "family", &first);
    if (mi->family) sb_printf(b, "\"%s\"", mi->family);
    else sb_printf(b, "null");
    json_key(b, "variant", &first);
    if (mi->family && mi->size) sb_printf(b, "\"%s %s\"", mi->family, mi->size);
    else sb_printf(b, "null");
    json_key(b, "name", &first);
    if (mi->has_name) sb_json_str(b, mi->name);
    else sb_printf(b, "null");
    json_key(b, "n_params", &first);
    sb_printf(b, "%" PRIu64, mi->n_params);
    json_key(b, "tensor_bytes", &first);
    sb_printf(b, "%" PRIu64, mi->tensor_bytes);
    json_key(b, "file_type", &first);
    if (mi->file_type >= 0) {
        const char *ftn = file_type_name(mi->file_type);
        sb_printf(b, "{\"value\": %" PRId64 ", \"name\": ", mi->file_type);
        if (ftn) sb_printf(b, "\"%s\"", ftn);
        else sb_printf(b, "null");
        sb_printf(b, ", \"guessed\": %s}", mi->file_type_guessed ? "true" : "false");
    } else {
        sb_printf(b, "null");
    }
    json_key(b, "tensor_types", &first);
    sb_putc(b, '[');
    for (int i = 0; i < mi->n_types; i++)
        sb_printf(b, "%s{\"type\": \"%s\", \"count\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
                  i ? ", " : "", quant_type_name(mi->types[i].type), mi->types[i].count, mi->types[i].bytes);
    sb_putc(b, ']');

    json_key(b, "hparams", &first);
    if (mi->has_hparams) {
        int64_t n = mi->m.n_layer;
        sb_printf(b, "{\"context_length\": %" PRId64 ", \"embedding_length\": %" PRId64
                  ", \"n_layer\": %" PRId64 ", \"n_head\": ", mi->n_ctx, mi->n_embd, n);
        sb_json_layer_values(b, mi->n_head, n);
        sb_printf(b, ", \"n_head_kv\": ");
        sb_json_layer_values(b, mi->n_head_kv, n);
        sb_printf(b, ", \"head_dim_k\": ");
        sb_json_layer_values(b, mi->head_dim_k, n);
        sb_printf(b, ", \"head_dim_v\": ");
        sb_json_layer_values(b, mi->head_dim_v, n);
        sb_printf(b, ", \"feed_forward_length\": ");
        if (mi->has_n_ff) sb_json_layer_values(b, mi->n_ff, n);
        else sb_printf(b, "null");
        sb_printf(b, ", \"sliding_window\": %" PRId64 ", \"sliding_layers\": [", mi->window > 0 ? mi->window : 0);
        for (int64_t il = 0; il < n; il++) sb_printf(b, "%s%s", il ? ", " : "", mi->swa[il] ? "true" : "false");
        sb_printf(b, "], \"rope_freq_base\": ");
        if (mi->has_rope_base) sb_json_num(b, mi->rope_base);
        else sb_printf(b, "null");
        sb_printf(b, ", \"rope_freq_base_swa\": ");
        if (mi->has_rope_base_swa) sb_json_num(b, mi->rope_base_swa);
        else sb_printf(b, "null");
        sb_printf(b, ", \"attn_logit_softcapping\": ");
        if (mi->has_attn_softcap) sb_json_num(b, mi->attn_softcap);
        else sb_printf(b, "null");
        sb_printf(b, ", \"final_logit_softcapping\": ");
        if (mi->has_final_softcap) sb_json_num(b, mi->final_softcap);
        else sb_printf(b, "null");
        sb_printf(b, ", \"n_expert\": %" PRId64 ", \"n_expert_used\": %" PRId64
                  ", \"expert_feed_forward_length\": %" PRId64 ", \"embedding_length_per_layer\": %" PRId64
                  ", \"shared_kv_layers\": %" PRId64 "}",
                  mi->n_expert, mi->n_expert_used, mi->n_ff_exp, mi->n_pl, mi->n_kv_shared);
    } else {
        sb_printf(b, "null");
    }

    json_key(b, "vocab", &first);
    sb_printf(b, "{\"model\": ");
    if (mi->has_tok_model) sb_json_str(b, mi->tok_model);
    else sb_printf(b, "null");
    sb_printf(b, ", \"n_tokens\": %" PRIu64 ", \"n_merges\": %" PRIu64 ", \"bos\": ", mi->n_tokens, mi->n_merges);
    if (mi->bos >= 0) sb_printf(b, "%" PRId64, mi->bos);
    else sb_printf(b, "null");
    sb_printf(b, ", \"eos\": ");
    if (mi->eos >= 0) sb_printf(b, "%" PRId64, mi->eos);
    else sb_printf(b, "null");
    sb_printf(b, "}");
    json_key(b, "chat_template", &first);
    sb_printf(b, "{\"present\": %s, \"length\": %" PRIu64 "}", mi->has_chat_template ? "true" : "false",
              mi->has_chat_template ? mi->chat_template.len : 0);
    json_key(b, "sampling", &first);
    sb_putc(b, '{');
    int n_sampling = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        if (!is_sampling_key(&f->kv[i])) continue;
        sb_printf(b, "%s", n_sampling++ ? ", " : "");
        sb_json_str(b, cstr(f->kv[i].key + strlen(SAMPLING_PREFIX)));
        sb_printf(b, ": ");
        sb_kv_value(b, &f->kv[i], true);
    }
    sb_putc(b, '}');

    if (tensors) {
        json_key(b, "tensors", &first);
        sb_putc(b, '[');
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            sb_printf(b, "%s\n    {\"name\": ", i ? "," : "");
            sb_json_str(b, cstr(t->name));
            sb_printf(b, ", \"type\": \"%s\", \"shape\": ", quant_type_name(t->type));
            sb_shape(b, t);
            sb_printf(b, ", \"bytes\": %" PRIu64 ", \"offset\": %" PRIu64 ", \"file_offset\": %" PRIu64 "}",
                      t->nbytes, t->offset, f->data_offset + t->offset);
        }
        sb_printf(b, "%s]", f->n_tensors ? "\n  " : "");
    }
    sb_printf(b, "\n}\n");
}

/* ---------------------------------------------------------------------------------------
 * The command. */

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool tensors = false, json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--tensors")) tensors = true;
        else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gemma info FILE.gguf [--tensors] [--json]\n"
                   "\n"
                   "What a GGUF file holds: architecture and variant, parameters, tensor types,\n"
                   "hyperparameters, vocabulary, chat template, sampling defaults.\n"
                   "  --tensors   also list every tensor (name, type, shape, bytes, offset)\n"
                   "  --json      print one JSON object instead of text\n");
            return 0;
        } else if (!strcmp(argv[i], "-m")) path = arg_value(argc, argv, &i);
        else if (argv[i][0] == '-' && argv[i][1]) die_usage("unknown option '%s' for info", argv[i]);
        else if (!path) path = argv[i];
        else die_usage("info takes one FILE; unexpected argument '%s'", argv[i]);
    }
    if (!path) die_usage("usage: gemma info FILE.gguf [--tensors] [--json]");

    char err[GEMMA_ERR_LEN];
    gguf_file *f = gguf_open(path, err);
    if (!f) die(EXIT_MODEL, "%s", err);
    model_info mi = {0};
    gather(&mi, f, path);
    sbuf b = {0};
    if (json) json_report(&b, &mi, tensors);
    else text_report(&b, &mi, tensors);
    out_write(b.p, b.len);
    out_flush();
    free(b.p);
    release(&mi);
    gguf_close(f);
    return 0;
}
