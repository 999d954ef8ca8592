/* mkmodel.c - write a Gemma GGUF with random weights but the real shapes, tensor names and
 * metadata keys of a published model (doc/model.md), for benchmarks and for
 * trying the engine without downloading gigabytes.
 *
 *   build/mkmodel --preset gemma3-1b --type Q4_0 -o /tmp/gemma3-1b-q4_0.gguf
 *
 * Weights are not quantized from floats: quantized blocks are filled with random code bytes
 * straight from a seeded PRNG and their scales are chosen so the dequantized values have a
 * standard deviation of about 0.03, so a 17 GB file is written at disk speed. The output
 * is deterministic for a given seed, whatever the chunking. Everything streams through the
 * GGUF writer (src/gguf_write.h); only the vocabulary is held in memory. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gemma.h"
#include "gguf.h"
#include "gguf_write.h"
#include "kernels/quant.h"
#include "tokenizer.h"
#include "util.h"

#define WEIGHT_STD 0.03f  /* std of the random matrices (norms keep activations ~1) */
#define ROUTER_STD 1.0f   /* MoE router: logits of std ~1, so routing is not uniform */

/* ---------------------------------------------------------------------------------------
 * Presets: the published shapes (doc/model.md#published-shapes). Values are for the sliding
 * layers; *_global fields for the global ones (Gemma 4 only). */

typedef struct {
    const char *name, *arch;
    int n_layer, n_embd, n_head;
    int n_head_kv, n_head_kv_global;
    int hd, hd_global;
    int n_ff, n_ff_shared;     /* n_ff_shared: FFN width of the KV-shared layers (E2B) */
    int swa_period;            /* layer il is global iff il % P == P - 1; 0: no sliding */
    int n_swa, n_ctx;
    float rope_base, rope_base_swa, rope_linear;   /* rope_linear: scaling factor or 0 */
    float attn_softcap, final_softcap;             /* 0: key not written */
    int n_kv_shared, n_pl;
    int n_expert, n_expert_used, n_ff_exp;
    bool k_eq_v;               /* global layers have no attn_v (V = K) */
    int n_vocab;
} preset;

#define GEMMA3_ROPE .rope_base = 1e6f, .rope_base_swa = 1e4f
#define GEMMA4_ROPE .rope_base = 1e6f, .rope_base_swa = 1e4f, .final_softcap = 30

static const preset presets[] = {
    {.name = "gemma-2b", .arch = "gemma", .n_layer = 18, .n_embd = 2048, .n_head = 8,
     .n_head_kv = 1, .n_head_kv_global = 1, .hd = 256, .hd_global = 256, .n_ff = 16384,
     .n_ctx = 8192, .n_vocab = 256000},
    {.name = "gemma2-2b", .arch = "gemma2", .n_layer = 26, .n_embd = 2304, .n_head = 8,
     .n_head_kv = 4, .n_head_kv_global = 4, .hd = 256, .hd_global = 256, .n_ff = 9216,
     .swa_period = 2, .n_swa = 4096, .n_ctx = 8192, .attn_softcap = 50, .final_softcap = 30,
     .n_vocab = 256000},
    {.name = "gemma3-270m", .arch = "gemma3", .n_layer = 18, .n_embd = 640, .n_head = 4,
     .n_head_kv = 1, .n_head_kv_global = 1, .hd = 256, .hd_global = 256, .n_ff = 2048,
     .swa_period = 6, .n_swa = 512, .n_ctx = 32768, GEMMA3_ROPE, .n_vocab = 262144},
    {.name = "gemma3-1b", .arch = "gemma3", .n_layer = 26, .n_embd = 1152, .n_head = 4,
     .n_head_kv = 1, .n_head_kv_global = 1, .hd = 256, .hd_global = 256, .n_ff = 6912,
     .swa_period = 6, .n_swa = 512, .n_ctx = 32768, GEMMA3_ROPE, .n_vocab = 262144},
    {.name = "gemma3-4b", .arch = "gemma3", .n_layer = 34, .n_embd = 2560, .n_head = 8,
     .n_head_kv = 4, .n_head_kv_global = 4, .hd = 256, .hd_global = 256, .n_ff = 10240,
     .swa_period = 6, .n_swa = 1024, .n_ctx = 131072, GEMMA3_ROPE, .rope_linear = 8,
     .n_vocab = 262144},
    {.name = "gemma4-e2b", .arch = "gemma4", .n_layer = 35, .n_embd = 1536, .n_head = 8,
     .n_head_kv = 1, .n_head_kv_global = 1, .hd = 256, .hd_global = 512, .n_ff = 6144,
     .n_ff_shared = 12288, .swa_period = 5, .n_swa = 512, .n_ctx = 131072, GEMMA4_ROPE,
     .n_kv_shared = 20, .n_pl = 256, .n_vocab = 262144},
    {.name = "gemma4-e4b", .arch = "gemma4", .n_layer = 42, .n_embd = 2560, .n_head = 8,
     .n_head_kv = 2, .n_head_kv_global = 2, .hd = 256, .hd_global = 512, .n_ff = 10240,
     .swa_period = 6, .n_swa = 512, .n_ctx = 131072, GEMMA4_ROPE, .n_kv_shared = 18,
     .n_pl = 256, .n_vocab = 262144},
    {.name = "gemma4-31b", .arch = "gemma4", .n_layer = 60, .n_embd = 5376, .n_head = 32,
     .n_head_kv = 16, .n_head_kv_global = 4, .hd = 256, .hd_global = 512, .n_ff = 21504,
     .swa_period = 6, .n_swa = 1024, .n_ctx = 262144, GEMMA4_ROPE, .k_eq_v = true,
     .n_vocab = 262144},
    {.name = "gemma4-26b-a4b", .arch = "gemma4", .n_layer = 30, .n_embd = 2816, .n_head = 16,
     .n_head_kv = 8, .n_head_kv_global = 2, .hd = 256, .hd_global = 512, .n_ff = 2112,
     .swa_period = 6, .n_swa = 1024, .n_ctx = 262144, GEMMA4_ROPE, .n_expert = 128,
     .n_expert_used = 8, .n_ff_exp = 704, .k_eq_v = true, .n_vocab = 262144},
};
#define N_PRESETS (int)(sizeof presets / sizeof presets[0])

/* ---------------------------------------------------------------------------------------
 * Tensor types: pure types put every quantizable 2-D weight in that type; the _M mixes
 * follow llama-quantize (doc/gguf.md#quantization-mixes). ftype is general.file_type. */

typedef enum { MIX_NONE, MIX_Q4_K_M, MIX_Q5_K_M } mix_kind;

typedef struct {
    const char *name;
    uint32_t type;
    mix_kind mix;
    uint32_t ftype;
} type_option;

static const type_option type_options[] = {
    {"F32", GGML_TYPE_F32, MIX_NONE, 0},       {"F16", GGML_TYPE_F16, MIX_NONE, 1},
    {"BF16", GGML_TYPE_BF16, MIX_NONE, 32},    {"Q8_0", GGML_TYPE_Q8_0, MIX_NONE, 7},
    {"Q4_0", GGML_TYPE_Q4_0, MIX_NONE, 2},     {"Q4_1", GGML_TYPE_Q4_1, MIX_NONE, 3},
    {"Q5_0", GGML_TYPE_Q5_0, MIX_NONE, 8},     {"Q5_1", GGML_TYPE_Q5_1, MIX_NONE, 9},
    {"Q2_K", GGML_TYPE_Q2_K, MIX_NONE, 10},    {"Q3_K", GGML_TYPE_Q3_K, MIX_NONE, 12},
    {"Q4_K", GGML_TYPE_Q4_K, MIX_NONE, 15},    {"Q5_K", GGML_TYPE_Q5_K, MIX_NONE, 17},
    {"Q6_K", GGML_TYPE_Q6_K, MIX_NONE, 18},    {"IQ4_NL", GGML_TYPE_IQ4_NL, MIX_NONE, 25},
    {"IQ4_XS", GGML_TYPE_IQ4_XS, MIX_NONE, 30}, {"MXFP4", GGML_TYPE_MXFP4, MIX_NONE, 38},
    {"Q4_K_M", GGML_TYPE_Q4_K, MIX_Q4_K_M, 15}, {"Q5_K_M", GGML_TYPE_Q5_K, MIX_Q5_K_M, 17},
};
#define N_TYPE_OPTIONS (int)(sizeof type_options / sizeof type_options[0])

/* llama-quantize's "more bits" layers: the first and last eighth and every third between. */
static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* llama-quantize's substitute when a row is not a whole number of blocks. */
static uint32_t shape_fallback(uint32_t type, int64_t ne0) {
    if (ne0 % quant_traits(type)->blck_size == 0) return type;
    switch (type) {
    case GGML_TYPE_Q4_K: type = GGML_TYPE_Q5_0; break;
    case GGML_TYPE_Q5_K: type = GGML_TYPE_Q5_1; break;
    case GGML_TYPE_Q6_K: type = GGML_TYPE_Q8_0; break;
    case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: type = GGML_TYPE_Q4_0; break;
    case GGML_TYPE_IQ4_XS: type = GGML_TYPE_IQ4_NL; break;
    default: return GGML_TYPE_F16;
    }
    return ne0 % quant_traits(type)->blck_size == 0 ? type : GGML_TYPE_F16;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Tensors llama-quantize never quantizes: 1-D, norms, the MoE router, the PLE projection. */
static bool never_quantized(const char *name, int n_dims) {
    return n_dims < 2 || !ends_with(name, "weight") || strstr(name, "_norm.weight") ||
           strstr(name, "ffn_gate_inp.weight") || strstr(name, "per_layer_model_proj");
}

/* ---------------------------------------------------------------------------------------
 * The model being written: the preset after --layers/--experts/--shrink. */

#define MAX_LAYERS 512

typedef struct {
    const preset *p;
    const type_option *type;
    int n_layer, n_embd, n_head, hd, hd_global, n_ff_exp, n_pl;
    int n_expert, n_expert_used, n_kv_shared, n_vocab;
    bool is_swa[MAX_LAYERS];
    int n_head_kv[MAX_LAYERS], n_ff[MAX_LAYERS];
    uint64_t seed;
    int shrink;              /* testing: every width divided by this */
} model_cfg;

/* Cutting an E model to N layers: keep about the same share of KV-shared layers, and make
 * the non-shared prefix a whole number of sliding-window periods, so it ends with a
 * sliding layer followed by a global one. Each shared layer then has a source of its own
 * type (the last non-shared layer of that type, doc/model.md#shared-kv-layers), and llama.cpp's
 * hard-coded rule (sliding consumers read layer n_kv - 2, global ones n_kv - 1) agrees.
 * E2B cut to 10 layers: 5 with their own KV (0-3 sliding, 4 global), 5 shared. Fewer than
 * two periods of layers leave no room for sharing, so such cuts get no shared layers. */
static int shared_kv_layers_for(const preset *p, int n_layer) {
    if (!p->n_kv_shared) return 0;
    if (n_layer == p->n_layer) return p->n_kv_shared;
    int P = p->swa_period, n_kv_full = p->n_layer - p->n_kv_shared;
    int n_kv = (int)lround((double)n_layer * n_kv_full / p->n_layer / P) * P;
    if (n_kv < P) n_kv = P;
    return n_kv >= n_layer ? 0 : n_layer - n_kv;
}

static void derive_layers(model_cfg *m) {
    const preset *p = m->p;
    for (int il = 0; il < m->n_layer; il++) {
        int P = p->swa_period;
        bool shared = il >= m->n_layer - m->n_kv_shared;
        m->is_swa[il] = P > 0 && il % P < P - 1;
        m->n_head_kv[il] = m->is_swa[il] ? p->n_head_kv : p->n_head_kv_global;
        int ff = shared && p->n_ff_shared ? p->n_ff_shared : p->n_ff;
        m->n_ff[il] = ff / m->shrink;
    }
}

static bool is_gemma4(const model_cfg *m) { return strcmp(m->p->arch, "gemma4") == 0; }
static int layer_hd(const model_cfg *m, int il) { return m->is_swa[il] ? m->hd : m->hd_global; }

/* ---------------------------------------------------------------------------------------
 * Random numbers: splitmix64 (fast, and a good mixer for per-row seeding). */

static inline uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s, uint64_t seed) {
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* Uniform in [-1, 1). */
static inline float rand_sym(uint64_t *s) {
    return (float)((int64_t)splitmix64(s) >> 40) * (1.0f / 8388608.0f);
}

static void random_bytes(uint8_t *p, size_t n, uint64_t *s) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t r = splitmix64(s);
        memcpy(p + i, &r, 8);
    }
    if (i < n) {
        uint64_t r = splitmix64(s);
        memcpy(p + i, &r, n - i);
    }
}

/* ---------------------------------------------------------------------------------------
 * Random quantized rows. The whole row is first random bytes (the codes); then each
 * block's scale fields are overwritten. A scale is the type's base scale times a jitter in
 * [0.75, 1.25] (with a random sign where the format allows one, so matrices have mean ~0);
 * affine K-quants get per-sub-block mins that cancel the mean of their codes.
 *
 * base scale = WEIGHT_STD / rms(dequantized value for scale 1), with the sub-scale ranges
 * below: Q4_0/Q4_1 codes have std 4.61, Q5 9.23, Q8_0 73.9, the IQ4 codebook rms 67.4,
 * E2M1 (doubled) rms 5.85; K-quant sub-scales 16..31 (rms 23.95) or 8..15 (rms 11.73). */

typedef struct {
    uint16_t d[16], m[16];   /* f16 scales (and Q4_1/Q5_1 mins) indexed by 4 random bits */
    uint8_t e[2];            /* MXFP4 exponents */
} scale_table;

static float code_rms(uint32_t type) {
    switch (type) {
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1: return 4.61f;
    case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: return 9.23f;
    case GGML_TYPE_Q8_0: return 73.9f;
    case GGML_TYPE_IQ4_NL: return 67.4f;
    case GGML_TYPE_MXFP4: return 5.85f;
    case GGML_TYPE_Q2_K: return 11.73f * 1.118f;
    case GGML_TYPE_Q3_K: return 11.73f * 2.345f;
    case GGML_TYPE_Q4_K: return 23.95f * 4.61f;
    case GGML_TYPE_Q5_K: return 23.95f * 9.23f;
    case GGML_TYPE_Q6_K: return 23.95f * 18.48f;
    case GGML_TYPE_IQ4_XS: return 11.73f * 67.4f;
    default: return 1.0f;
    }
}

static bool signed_scale(uint32_t type) {
    return type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q5_0 || type == GGML_TYPE_Q8_0 ||
           type == GGML_TYPE_IQ4_NL || type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1;
}

static void make_scales(scale_table *t, uint32_t type, float std) {
    float base = std / code_rms(type);
    float mean_code = type == GGML_TYPE_Q4_1 ? 7.5f : 15.5f; /* Q4_1 / Q5_1 */
    for (int k = 0; k < 16; k++) {
        float d = base * (0.75f + (float)(k & 7) / 14.0f);
        if (signed_scale(type) && k >= 8) d = -d;
        t->d[k] = fp32_to_fp16(d);
        /* Q4_1/Q5_1 add m: centre the codes. K-quants subtract dmin * m: dmin = ratio * d */
        t->m[k] = fp32_to_fp16(-mean_code * fp16_to_fp32(t->d[k]));
    }
    int e = (int)floorf(log2f(std / code_rms(GGML_TYPE_MXFP4))) + 128;
    t->e[0] = (uint8_t)(e < 1 ? 1 : e > 254 ? 254 : e);
    t->e[1] = (uint8_t)(t->e[0] + 1);
}

static inline void put_f16(uint8_t *p, uint16_t h) { memcpy(p, &h, 2); }

/* Q4_K / Q5_K: 8 sub-blocks with 6-bit scale and min packed into 12 bytes
 * (doc/formats.md#k-quant-scales). */
static void pack_k4_scales(uint8_t *S, const uint8_t *sc, const uint8_t *m) {
    for (int j = 0; j < 4; j++) {
        S[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        S[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        S[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

/* Q4_K (q 0..15, mean 7.5, dmin = 4d) and Q5_K (q 0..31, mean 15.5, dmin = 8d): scales
 * 16..31, mins round(mean * sc * d / dmin) so every sub-block has mean ~0. */
static void patch_k_affine(uint8_t *b, uint16_t d, uint64_t r, int q_max) {
    uint8_t sc[8], m[8];
    int ratio = q_max == 15 ? 4 : 8;
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(16 + ((r >> (4 * j)) & 15));
        m[j] = (uint8_t)((q_max * sc[j] + ratio) / (2 * ratio)); /* round(q_max/2 * sc / ratio) */
    }
    put_f16(b, d);
    put_f16(b + 2, fp32_to_fp16(fp16_to_fp32(d) * (float)ratio));
    pack_k4_scales(b + 4, sc, m);
}

/* Sub-block scale j of a block, from the block's random bits: lo + 0..span-1. */
static inline int sub_scale(uint64_t bits, int j, int lo, int span_bits) {
    return lo + (int)((bits >> (span_bits * j)) & ((1u << span_bits) - 1));
}

static void random_quant_row(uint32_t type, uint8_t *row, int64_t n, const scale_table *t,
                             uint64_t *s) {
    const type_traits *tt = quant_traits(type);
    int64_t nb = n / tt->blck_size;
    size_t bs = tt->type_size;
    random_bytes(row, (size_t)nb * bs, s);
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *b = row + (size_t)i * bs;
        int k = (int)(splitmix64(s) & 15);      /* which base scale (jitter and sign) */
        uint64_t r = 0, sign = 0;               /* sub-scale magnitudes and signs */
        if (tt->blck_size == QK_K) {
            r = splitmix64(s);
            sign = splitmix64(s);
        }
        switch (type) {
        case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0: case GGML_TYPE_IQ4_NL:
            put_f16(b, t->d[k]);
            break;
        case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1:
            put_f16(b, t->d[k]);
            put_f16(b + 2, t->m[k]);
            break;
        case GGML_TYPE_MXFP4:
            b[0] = t->e[k & 1];
            break;
        case GGML_TYPE_Q2_K: /* 16 x (scale 8..15 | min << 4), d @80, dmin = 2d @82 */
            for (int j = 0; j < 16; j++) {
                int sc = sub_scale(r, j, 8, 3);
                int m = (3 * sc + 2) / 4; /* round(1.5 * sc / 2): codes 0..3 have mean 1.5 */
                b[j] = (uint8_t)(sc | m << 4);
            }
            put_f16(b + 80, t->d[k & 7]);
            put_f16(b + 82, fp32_to_fp16(2.0f * fp16_to_fp32(t->d[k & 7])));
            break;
        case GGML_TYPE_Q3_K: { /* 16 signed 6-bit scales +-(8..15) stored + 32 at 96, d @108 */
            uint8_t *S = b + 96;
            memset(S, 0, 12);
            for (int j = 0; j < 16; j++) {
                int mag = sub_scale(r, j, 8, 3), v = (sign >> j & 1) ? 32 - mag : 32 + mag;
                if (j < 8) S[j] |= (uint8_t)(v & 15);
                else S[j - 8] |= (uint8_t)((v & 15) << 4);
                S[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
            }
            put_f16(b + 108, t->d[k & 7]);
            break;
        }
        case GGML_TYPE_Q4_K: patch_k_affine(b, t->d[k & 7], r, 15); break;
        case GGML_TYPE_Q5_K: patch_k_affine(b, t->d[k & 7], r, 31); break;
        case GGML_TYPE_Q6_K: /* 16 int8 scales +-(16..31) at 192, d @208 */
            for (int j = 0; j < 16; j++) {
                int mag = sub_scale(r, j, 16, 4);
                b[192 + j] = (uint8_t)(int8_t)((sign >> j & 1) ? -mag : mag);
            }
            put_f16(b + 208, t->d[k & 7]);
            break;
        case GGML_TYPE_IQ4_XS: { /* d, 8 6-bit scales 32 +- (8..15): high bits @2, low @4 */
            uint16_t sh = 0;
            memset(b + 4, 0, 4);
            for (int j = 0; j < 8; j++) {
                int mag = sub_scale(r, j, 8, 3), ls = (sign >> j & 1) ? 32 - mag : 32 + mag;
                b[4 + j / 2] |= (uint8_t)((ls & 15) << (4 * (j & 1)));
                sh |= (uint16_t)((ls >> 4) << (2 * j));
            }
            put_f16(b, t->d[k & 7]);
            memcpy(b + 2, &sh, 2);
            break;
        }
        default: break;
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Tensor generators (the writer's fill callbacks). */

typedef enum { GEN_RANDOM, GEN_VALUES, GEN_ROPE_FREQS, GEN_ZERO, GEN_SCRIPT_EMBD, GEN_SCRIPT_OUT } gen_kind;

/* --script: the tokens greedy decoding says, one after the other. Token chain[i] (i < n - 1)
 * embeds as the unit vector e_i and the output head's row chain[i + 1] reads e_i with a
 * gain, so with every layer zero the logits depend on the last token alone:
 *   h = output_norm(sqrt(E) e_i) = sqrt(E) e_i,  logit[v] = gain sqrt(E) [v = chain[i + 1]]
 * (and 0 for every other token). A token may therefore lead to only one next token. */
typedef struct {
    int32_t *chain;
    int n;
    float gain;           /* gain sqrt(E) = SCRIPT_LOGIT */
} script;

/* The next token's logit: past Gemma 4's final softcap, 30 tanh(40 / 30) = 26, so even at
 * temperature 1 the other 262143 tokens together get e^-13 of the probability. */
#define SCRIPT_LOGIT 40.0f

typedef struct {
    gen_kind kind;
    float std;            /* GEN_RANDOM */
    float base, spread;   /* GEN_VALUES: base + spread * U(-1, 1), F32 */
    int n_rot_full;       /* GEN_ROPE_FREQS: pairs that rotate */
    const script *sc;     /* GEN_SCRIPT_* */
    uint64_t seed;
} tensor_gen;

/* Uniform values in [-a, a] as F16 or BF16: a table of 4096 evenly spaced values, indexed
 * by 12 random bits (converting every value one by one is 10x slower than the disk). */
#define HALF_LUT_BITS 12
static uint16_t *half_table(uint32_t type, float a) {
    int n = 1 << HALF_LUT_BITS;
    uint16_t *lut = xmalloc((size_t)n * sizeof *lut);
    for (int i = 0; i < n; i++) {
        float v = a * (((float)i + 0.5f) / (float)(n / 2) - 1.0f);
        lut[i] = type == GGML_TYPE_F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
    }
    return lut;
}

/* Rows of --script's embedding (e_i for chain[i]) or output head (gain e_i at chain[i + 1]). */
static void script_rows(const tensor_gen *g, const gguf_writer_tensor *t, void *dst,
                        int64_t row0, int64_t n_rows) {
    const script *sc = g->sc;
    int64_t n = t->ne[0];
    float *f = xmalloc((size_t)n * sizeof *f);
    for (int64_t r = 0; r < n_rows; r++) {
        memset(f, 0, (size_t)n * sizeof *f);
        for (int i = 0; i + 1 < sc->n; i++) {
            if (g->kind == GEN_SCRIPT_EMBD && sc->chain[i] == row0 + r) f[i] = 1.0f;
            if (g->kind == GEN_SCRIPT_OUT && sc->chain[i + 1] == row0 + r) f[i] = sc->gain;
        }
        quantize_row(t->type, f, (uint8_t *)dst + (size_t)r * t->row_bytes, n);
    }
    free(f);
}

static int fill_tensor(void *ctx, const gguf_writer_tensor *t, void *dst, int64_t row0,
                       int64_t n_rows, char *err) {
    const tensor_gen *g = ctx;
    if (g->kind == GEN_ZERO) {    /* all-zero bytes decode to 0 in every type (scales 0) */
        memset(dst, 0, (size_t)n_rows * t->row_bytes);
        return 0;
    }
    if (g->kind == GEN_SCRIPT_EMBD || g->kind == GEN_SCRIPT_OUT) {
        script_rows(g, t, dst, row0, n_rows);
        return 0;
    }
    scale_table st;
    uint16_t *lut = NULL;
    float a = g->std * 1.7320508f; /* uniform in [-a, a] has std a / sqrt(3) */
    if (g->kind == GEN_RANDOM) make_scales(&st, t->type, g->std);
    if (g->kind == GEN_RANDOM && (t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_BF16))
        lut = half_table(t->type, a);
    for (int64_t r = 0; r < n_rows; r++) {
        uint8_t *row = (uint8_t *)dst + (size_t)r * t->row_bytes;
        uint64_t s = g->seed ^ ((uint64_t)(row0 + r) * 0xd1b54a32d192ed03ull);
        splitmix64(&s);
        int64_t n = t->ne[0];
        float *f = (float *)(void *)row;
        if (g->kind == GEN_ROPE_FREQS) {
            for (int64_t i = 0; i < n; i++) f[i] = i < g->n_rot_full ? 1.0f : 1e30f;
        } else if (g->kind == GEN_VALUES) {
            for (int64_t i = 0; i < n; i++) f[i] = g->base + g->spread * rand_sym(&s);
        } else if (t->type == GGML_TYPE_F32) {
            for (int64_t i = 0; i < n; i++) f[i] = a * rand_sym(&s);
        } else if (lut) {
            uint64_t bits = 0;
            for (int64_t i = 0; i < n; i++, bits >>= HALF_LUT_BITS) {
                if (i % 5 == 0) bits = splitmix64(&s);
                memcpy(row + 2 * i, &lut[bits & ((1u << HALF_LUT_BITS) - 1)], 2);
            }
        } else if (quant_traits(t->type)->blck_size > 1) {
            random_quant_row(t->type, row, n, &st, &s);
        } else {
            free(lut);
            return set_err(err, "cannot generate random %s data", quant_type_name(t->type));
        }
    }
    free(lut);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Tensor list, in the converter's order (as in the fixtures), with types chosen by the
 * --type rules. */

typedef struct {
    gguf_writer *w;
    const model_cfg *m;
    tensor_gen *gens;
    int n_gens, cap_gens;
    int i_attn_v, n_attn_v;   /* llama-quantize's attn_v counter (file order) */
    int type_count[GGML_TYPE_COUNT];
    const script *sc;         /* --script: zero layers, the chain in the embeddings */
} builder;

static uint32_t choose_type(builder *b, const char *name, int n_dims, int64_t ne0, int layer) {
    const model_cfg *m = b->m;
    const type_option *o = m->type;
    if (o->type == GGML_TYPE_F32 || never_quantized(name, n_dims)) return GGML_TYPE_F32;
    uint32_t t = o->type;
    if (o->mix != MIX_NONE) {
        /* No output.weight is written (the head is tied, as in Google's models), so both
         * embeddings get the output rule. */
        if (strcmp(name, "output.weight") == 0 || strcmp(name, "token_embd.weight") == 0 ||
            strcmp(name, "per_layer_token_embd.weight") == 0) {
            t = ne0 % QK_K ? GGML_TYPE_Q8_0 : GGML_TYPE_Q6_K;
        } else if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight")) {
            if (use_more_bits(b->i_attn_v, b->n_attn_v)) t = GGML_TYPE_Q6_K;
            if (m->n_expert == 8) t = GGML_TYPE_Q8_0;
            b->i_attn_v++;
        } else if (strstr(name, "attn_k.weight")) {
            if (m->n_expert == 8) t = GGML_TYPE_Q8_0;
        } else if (strstr(name, "attn_output.weight")) {
            if (m->n_expert == 8 && o->mix == MIX_Q4_K_M) t = GGML_TYPE_Q5_K;
        } else if (strstr(name, "ffn_down")) {
            if (use_more_bits(layer, m->n_layer)) t = GGML_TYPE_Q6_K;
        }
    }
    return shape_fallback(t, ne0);
}

static void add(builder *b, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                int layer, tensor_gen g) {
    if (b->n_gens == b->cap_gens) { /* cap_gens is a generous bound per layer */
        fprintf(stderr, "mkmodel: internal error: more tensors than expected\n");
        abort();
    }
    if (b->sc) {   /* --script: every weight zero, every norm and scale exactly its base */
        if (g.kind == GEN_RANDOM) g.kind = GEN_ZERO;
        g.spread = 0;
        g.sc = b->sc;
        if (!strcmp(name, "token_embd.weight")) g.kind = GEN_SCRIPT_EMBD;
        if (!strcmp(name, "output.weight")) g.kind = GEN_SCRIPT_OUT;
    }
    tensor_gen *slot = &b->gens[b->n_gens++];
    *slot = g;
    slot->seed = hash_name(name, b->m->seed);
    int64_t ne[3] = {ne0, ne1, ne2};
    bool matrix = g.kind == GEN_RANDOM || g.kind == GEN_ZERO || g.kind == GEN_SCRIPT_EMBD ||
                  g.kind == GEN_SCRIPT_OUT;
    uint32_t type = matrix ? choose_type(b, name, n_dims, ne0, layer) : GGML_TYPE_F32;
    /* the chain's rows are written by the reference quantizer, which not every type has */
    if ((g.kind == GEN_SCRIPT_EMBD || g.kind == GEN_SCRIPT_OUT) && !quant_traits(type)->from_float)
        type = ne0 % 32 ? GGML_TYPE_F16 : GGML_TYPE_Q8_0;
    if (gguf_writer_add_tensor_fill(b->w, name, type, (uint32_t)n_dims, ne, fill_tensor, slot) == 0)
        b->type_count[type]++;
}

static void add_matrix(builder *b, const char *name, int64_t ne0, int64_t ne1, int layer) {
    add(b, name, 2, ne0, ne1, 1, layer, (tensor_gen){.kind = GEN_RANDOM, .std = WEIGHT_STD});
}

static void add_experts(builder *b, const char *name, int64_t ne0, int64_t ne1, int64_t ne2,
                        int layer) {
    add(b, name, 3, ne0, ne1, ne2, layer, (tensor_gen){.kind = GEN_RANDOM, .std = WEIGHT_STD});
}

static void add_values(builder *b, const char *name, int64_t n, float base, float spread) {
    add(b, name, 1, n, 1, 1, -1, (tensor_gen){.kind = GEN_VALUES, .base = base, .spread = spread});
}

/* Norm weights: gemma/gemma2/gemma3 files store 1 + w, Gemma 4 files raw w; both are near 1
 * in trained models, so both get 1 +- 0.1. */
static void add_norm(builder *b, const char *name, int64_t n) {
    add_values(b, name, n, 1.0f, 0.1f);
}

static const char *blk(char *buf, int il, const char *suffix) {
    snprintf(buf, 96, "blk.%d.%s", il, suffix);
    return buf;
}

static void add_layer(builder *b, int il) {
    const model_cfg *m = b->m;
    const char *arch = m->p->arch;
    bool g2 = strcmp(arch, "gemma") != 0, g3 = g2 && strcmp(arch, "gemma2") != 0, g4 = is_gemma4(m);
    int64_t E = m->n_embd, hd = layer_hd(m, il);
    int64_t q_dim = m->n_head * hd, kv_dim = m->n_head_kv[il] * hd, F = m->n_ff[il];
    bool has_v = !(m->p->k_eq_v && !m->is_swa[il]);
    char n[96];

    add_norm(b, blk(n, il, "attn_norm.weight"), E);
    add_matrix(b, blk(n, il, "attn_q.weight"), E, q_dim, il);
    /* KV-shared layers of E models still carry attn_k/attn_v/attn_k_norm (unused). */
    add_matrix(b, blk(n, il, "attn_k.weight"), E, kv_dim, il);
    if (has_v) add_matrix(b, blk(n, il, "attn_v.weight"), E, kv_dim, il);
    add_matrix(b, blk(n, il, "attn_output.weight"), q_dim, E, il);
    if (g3) {
        add_norm(b, blk(n, il, "attn_q_norm.weight"), hd);
        add_norm(b, blk(n, il, "attn_k_norm.weight"), hd);
    }
    if (g2) add_norm(b, blk(n, il, "post_attention_norm.weight"), E);
    add_norm(b, blk(n, il, "ffn_norm.weight"), E);
    add_matrix(b, blk(n, il, "ffn_gate.weight"), E, F, il);
    add_matrix(b, blk(n, il, "ffn_up.weight"), E, F, il);
    add_matrix(b, blk(n, il, "ffn_down.weight"), F, E, il);
    if (g2) add_norm(b, blk(n, il, "post_ffw_norm.weight"), E);
    if (!g4) return;
    if (m->n_expert > 0) {
        int64_t X = m->n_expert, FE = m->n_ff_exp;
        add(b, blk(n, il, "ffn_gate_inp.weight"), 2, E, X, 1, il,
            (tensor_gen){.kind = GEN_RANDOM, .std = ROUTER_STD});
        add_values(b, blk(n, il, "ffn_gate_inp.scale"), E, 1.0f, 0.1f);
        add_norm(b, blk(n, il, "pre_ffw_norm_2.weight"), E);
        add_norm(b, blk(n, il, "post_ffw_norm_1.weight"), E);
        add_norm(b, blk(n, il, "post_ffw_norm_2.weight"), E);
        add_experts(b, blk(n, il, "ffn_gate_up_exps.weight"), E, 2 * FE, X, il);
        add_experts(b, blk(n, il, "ffn_down_exps.weight"), FE, E, X, il);
        add_values(b, blk(n, il, "ffn_down_exps.scale"), X, 1.0f, 0.1f);
    }
    if (m->n_pl > 0) {
        add_matrix(b, blk(n, il, "inp_gate.weight"), E, m->n_pl, il);
        add_matrix(b, blk(n, il, "proj.weight"), m->n_pl, E, il);
        add_norm(b, blk(n, il, "post_norm.weight"), E);
    }
    /* a scalar on the whole residual stream: keep it near 1 so 60 layers do not vanish */
    add_values(b, blk(n, il, "layer_output_scale.weight"), 1, 0.95f, 0.05f);
}

static void add_tensors(builder *b) {
    const model_cfg *m = b->m;
    int64_t E = m->n_embd, V = m->n_vocab;
    for (int il = 0; il < m->n_layer; il++)
        if (!(m->p->k_eq_v && !m->is_swa[il])) b->n_attn_v++;
    if (is_gemma4(m)) {
        /* proportional RoPE: the converter's int(key_length * 0.25 / 2) pairs rotate */
        add(b, "rope_freqs.weight", 1, m->hd_global / 2, 1, 1, -1,
            (tensor_gen){.kind = GEN_ROPE_FREQS, .n_rot_full = (int)(m->hd_global * 0.25 / 2)});
        add_matrix(b, "token_embd.weight", E, V, -1);
        if (m->n_pl > 0) {
            int64_t W = (int64_t)m->n_pl * m->n_layer;
            add_matrix(b, "per_layer_token_embd.weight", W, V, -1);
            add_matrix(b, "per_layer_model_proj.weight", E, W, -1);
            add_norm(b, "per_layer_proj_norm.weight", m->n_pl);
        }
    } else {
        add_matrix(b, "token_embd.weight", E, V, -1);
    }
    add_norm(b, "output_norm.weight", E);
    if (b->sc) add_matrix(b, "output.weight", E, V, -1);   /* untied: the chain's next tokens */
    for (int il = 0; il < m->n_layer; il++) add_layer(b, il);
}

/* ---------------------------------------------------------------------------------------
 * Synthetic vocabulary with the real layout: control and turn tokens at their real ids
 * (doc/tokenizer.md#token-ids), byte tokens <0x00>..<0xFF> at 238..493, whitespace runs and
 * HTML tags where the real vocabularies have them, then normal pieces: for the full
 * 262144-token layout "▁" and single characters from id 236743 (as in the real files) and
 * multi-character pieces elsewhere; smaller (test) vocabularies put the single characters
 * first. Multi-character pieces are enumerated so that every piece minus its last
 * character is an earlier piece (or a single character): "▁a", "ab", "▁ab", "abc", ...
 * which gives consistent Gemma 4 merges ("prefix last") in id order. */

typedef struct {
    char *buf;
    size_t len, cap;
    uint64_t *off, *slen;
    int n, cap_n;
} strlist;

static void sl_push(strlist *l, const char *s, size_t n) {
    if (l->len + n > l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1 << 16;
        while (l->cap < l->len + n) l->cap *= 2;
        l->buf = xrealloc(l->buf, l->cap);
    }
    if (l->n == l->cap_n) {
        l->cap_n = l->cap_n ? 2 * l->cap_n : 1024;
        l->off = xrealloc(l->off, (size_t)l->cap_n * sizeof *l->off);
        l->slen = xrealloc(l->slen, (size_t)l->cap_n * sizeof *l->slen);
    }
    memcpy(l->buf + l->len, s, n);
    l->off[l->n] = l->len;
    l->slen[l->n++] = n;
    l->len += n;
}

static gguf_str *sl_strs(const strlist *l) {
    gguf_str *s = xmalloc((size_t)(l->n ? l->n : 1) * sizeof *s);
    for (int i = 0; i < l->n; i++) s[i] = (gguf_str){l->buf + l->off[i], l->slen[i]};
    return s;
}

static void sl_free(strlist *l) {
    free(l->buf);
    free(l->off);
    free(l->slen);
}

typedef struct {
    strlist text, merges;
    float *score;
    int32_t *type;
    bool spm;          /* SentencePiece scores (gemma/gemma2/gemma3) vs Gemma 4 BPE */
} vocab;

static const char *const html_tags[70] = {
    "<table>", "<caption>", "<thead>", "<tbody>", "<tfoot>", "<tr>", "<th>", "<td>",
    "</table>", "</caption>", "</thead>", "</tbody>", "</tfoot>", "</tr>", "</th>", "</td>",
    "<h1>", "<h2>", "<h3>", "<h4>", "<h5>", "<h6>", "<blockquote>", "</h1>", "</h2>", "</h3>",
    "</h4>", "</h5>", "</h6>", "</blockquote>", "<strong>", "<em>", "<b>", "<i>", "<u>", "<s>",
    "<sub>", "<sup>", "<code>", "</strong>", "</em>", "</b>", "</i>", "</u>", "</s>", "</sub>",
    "</sup>", "</code>", "<a>", "<html>", "<body>", "<img>", "<span>", "<bbox>", "<ul>", "<li>",
    "<div>", "<iframe>", "<footer>", "</a>", "</html>", "</body>", "</img>", "</span>",
    "</bbox>", "</ul>", "</li>", "</div>", "</iframe>", "</footer>"};

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 "▁" */

static int utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 63));
    out[2] = (char)(0x80 | (cp & 63));
    return 3;
}

/* Single characters: "▁", ASCII letters, digits and punctuation, then Latin-1, Latin
 * Extended-A, Greek, Cyrillic, CJK and Hangul code points. */
static int single_piece(int i, char *out) {
    static const char ascii[] = "etaoinsrhldcumfpgwybvkxjqzETAOINSRHLDCUMFPGWYBVKXJQZ"
                                "0123456789.,!?;:'\"-()[]{}<>/\\|@#$%^&*_+=~`";
    if (i == 0) { memcpy(out, SPACE_MARK, 3); return 3; }
    i--;
    if (i < (int)sizeof ascii - 1) { out[0] = ascii[i]; return 1; }
    i -= (int)sizeof ascii - 1;
    static const uint32_t ranges[][2] = {{0xA1, 0x17F}, {0x391, 0x3A1}, {0x3A3, 0x3C9},
                                         {0x400, 0x4FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int n = (int)(ranges[r][1] - ranges[r][0] + 1);
        if (i < n) return utf8_put(out, ranges[r][0] + (uint32_t)i);
        i -= n;
    }
    return 0; /* exhausted (far beyond any vocabulary size we need) */
}

/* Multi-character piece number i: letters of length L = 1, 2, 3, ... in four families per
 * length ("ab", "▁ab", "Ab", "▁Ab"; length 1 only with "▁"). */
static int multi_piece(int64_t i, char *out) {
    for (int L = 1; L <= 6; L++) {
        int64_t per = 1;
        for (int k = 0; k < L; k++) per *= 26;
        for (int fam = 0; fam < 4; fam++) {
            if (L == 1 && !(fam & 1)) continue; /* single letters are single pieces */
            if (i >= per) { i -= per; continue; }
            int n = 0;
            if (fam & 1) { memcpy(out, SPACE_MARK, 3); n = 3; }
            char letters[8];
            for (int k = L - 1; k >= 0; k--) { letters[k] = (char)('a' + i % 26); i /= 26; }
            if (fam & 2) letters[0] = (char)toupper((unsigned char)letters[0]);
            memcpy(out + n, letters, (size_t)L);
            return n + L;
        }
    }
    return 0;
}

/* The length in bytes of the last UTF-8 character of s[0..n). */
static int last_char_len(const char *s, int n) {
    int k = 1;
    while (k < n && ((unsigned char)s[n - k] & 0xC0) == 0x80) k++;
    return k;
}

static void add_token(vocab *v, const char *s, size_t n, int type, float score) {
    int id = v->text.n;
    sl_push(&v->text, s, n);
    v->type[id] = type;
    v->score[id] = score;
}

/* Special, unused and whitespace tokens: score -1000, as in the real files. */
static void add_token_str(vocab *v, const char *s, int type) {
    add_token(v, s, strlen(s), type, -1000.0f);
}

static void add_merge(vocab *v, const char *s, int n) {
    char buf[256];
    int k = last_char_len(s, n);
    memcpy(buf, s, (size_t)(n - k));
    buf[n - k] = ' ';
    memcpy(buf + n - k + 1, s + n - k, (size_t)k);
    sl_push(&v->merges, buf, (size_t)n + 1);
}

/* The normal piece at id: a single character or the next multi-character piece. */
static void add_normal(vocab *v, bool single, int *i_single, int64_t *i_multi) {
    char buf[32];
    int n = single ? single_piece((*i_single)++, buf) : multi_piece((*i_multi)++, buf);
    if (n == 0) n = snprintf(buf, sizeof buf, "<extra%d>", v->text.n);
    float score = v->spm ? -(float)v->text.n : -1000.0f;
    add_token(v, buf, (size_t)n, TOKEN_NORMAL, score);
    if (!v->spm && !single && n > 1) add_merge(v, buf, n);
}

/* Tokens made of k = first..31 copies of unit ("\n\n", "▁▁▁", ...). */
static void add_runs(vocab *v, const char *unit, int first, int type, bool with_merges) {
    char buf[128];
    size_t u = strlen(unit);
    for (int k = first; k <= 31; k++) {
        for (int j = 0; j < k; j++) memcpy(buf + j * u, unit, u);
        add_token(v, buf, (size_t)k * u, type, -1000.0f);
        if (with_merges && k > 1) add_merge(v, buf, (int)((size_t)k * u));
    }
}

static void unused_token(vocab *v, int *next_unused, int type) {
    char buf[32];
    snprintf(buf, sizeof buf, "<unused%d>", (*next_unused)++);
    add_token_str(v, buf, type);
}

#define FULL_VOCAB 262144
#define FIRST_SINGLE 236743   /* "▁" in the real Gemma 3/4 vocabularies */
#define FIRST_TAB_RUN 255968

static void build_vocab(vocab *v, const char *arch, int n_vocab) {
    bool g4 = strcmp(arch, "gemma4") == 0, g3 = strcmp(arch, "gemma3") == 0;
    v->spm = !g4;
    v->score = xmalloc((size_t)n_vocab * sizeof *v->score);
    v->type = xmalloc((size_t)n_vocab * sizeof *v->type);
    const int C = TOKEN_CONTROL, U = TOKEN_USER_DEFINED, N = TOKEN_NORMAL;
    int unused = 0;
    add_token_str(v, "<pad>", C);
    add_token_str(v, "<eos>", C);
    add_token_str(v, "<bos>", C);
    add_token_str(v, "<unk>", C);
    add_token_str(v, "<mask>", C);
    if (g4) {
        add_token_str(v, "[multimodal]", N);
        while (v->text.n < 46) unused_token(v, &unused, N);
        static const char *const tool[] = {"<|tool>", "<tool|>", "<|tool_call>", "<tool_call|>",
                                           "<|tool_response>", "<tool_response|>", "<|\"|>"};
        for (int i = 0; i < 7; i++) add_token_str(v, tool[i], i < 2 ? C : U);
        while (v->text.n < 98) unused_token(v, &unused, N);
        add_token_str(v, "<|think|>", C);
        unused_token(v, &unused, N);
        add_token_str(v, "<|channel>", U);
        add_token_str(v, "<channel|>", U);
        while (v->text.n < 105) unused_token(v, &unused, N);
        add_token_str(v, "<|turn>", C);
        add_token_str(v, "<turn|>", C);
    } else if (g3) {
        add_token_str(v, "[multimodal]", U);
        while (v->text.n < 105) unused_token(v, &unused, C);
        add_token_str(v, "<start_of_turn>", C);
        add_token_str(v, "<end_of_turn>", C);
    } else { /* Gemma 1/2: only ids 0-3 and the turn tokens 106/107 are known real ids */
        add_token_str(v, "<2mass>", C);
        add_token_str(v, "[@BOS@]", C);
        while (v->text.n < 106) unused_token(v, &unused, C);
        add_token_str(v, "<start_of_turn>", C);
        add_token_str(v, "<end_of_turn>", C);
    }
    if (g3 || g4) {
        int ws = g4 ? N : U;
        add_runs(v, "\n", 1, ws, g4);                     /* 107..137 */
        add_runs(v, g4 ? SPACE_MARK : " ", 2, ws, g4);     /* 138..167; a single ▁ is 236743 */
        for (int i = 0; i < 70; i++) add_token_str(v, html_tags[i], ws);
    }
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        add_token(v, buf, 6, TOKEN_BYTE, v->spm ? 0.0f : -1000.0f);
    }

    bool full = (g3 || g4) && n_vocab == FULL_VOCAB;
    int end_normal = full ? FIRST_TAB_RUN : n_vocab;
    int i_single = 0;
    int64_t i_multi = 0;
    if (!full) /* small vocabularies: the characters first so every piece can be built */
        for (int i = 0; i < 95 && v->text.n < end_normal; i++)
            add_normal(v, true, &i_single, &i_multi);
    while (v->text.n < end_normal)
        add_normal(v, full && v->text.n >= FIRST_SINGLE, &i_single, &i_multi);
    if (full) {
        add_runs(v, "\t", 1, g4 ? N : U, g4);
        if (g4) {
            add_token_str(v, "<|image>", C);
            add_token_str(v, "<|audio>", C);
            while (v->text.n < n_vocab) {
                if (v->text.n == 258880) {
                    static const char *const mm[] = {"<|image|>", "<|audio|>", "<image|>",
                                                     "<audio|>", "<|video|>"};
                    for (int i = 0; i < 5; i++) add_token_str(v, mm[i], C);
                } else {
                    unused_token(v, &unused, N);
                }
            }
        } else {
            add_token_str(v, "<start_of_image>", C);
            add_token_str(v, "<end_of_image>", C);
            while (v->text.n < n_vocab) unused_token(v, &unused, C);
        }
    }
}

static void free_vocab(vocab *v) {
    sl_free(&v->text);
    sl_free(&v->merges);
    free(v->score);
    free(v->type);
}

/* ---------------------------------------------------------------------------------------
 * Metadata, in the order the converter writes it (gemma3: as the fixtures; gemma4: as the
 * real 26B-A4B file). */

static const char *key(char *buf, const char *arch, const char *suffix) {
    snprintf(buf, 128, "%s.%s", arch, suffix);
    return buf;
}

static const char *const chat_template_gemma =
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' "
    "else m['role'] }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}{% if "
    "add_generation_prompt %}<start_of_turn>model\n{% endif %}";
static const char *const chat_template_gemma4 =
    "{{ bos_token }}{% for m in messages %}<|turn>{{ 'model' if m['role'] == 'assistant' else "
    "m['role'] }}\n{{ m['content'] | trim }}<turn|>\n{% endfor %}{% if add_generation_prompt "
    "%}<|turn>model\n{% endif %}";

static void write_general(gguf_writer *w, const model_cfg *m) {
    char name[128], desc[512], changes[128] = "";
    snprintf(name, sizeof name, "%s random weights", m->p->name);
    if (m->n_expert != m->p->n_expert)
        snprintf(changes, sizeof changes, ", %d experts", m->n_expert);
    if (m->shrink > 1)
        snprintf(changes + strlen(changes), sizeof changes - strlen(changes),
                 ", widths divided by %d", m->shrink);
    snprintf(desc, sizeof desc,
             "NOT A TRAINED MODEL: random weights (seed %llu) with the shapes and metadata of "
             "%s (%d layers%s), written by gemma's mkmodel for benchmarks and tests; its text "
             "is gibberish.",
             (unsigned long long)m->seed, m->p->name, m->n_layer, changes);
    gguf_writer_set_str(w, "general.architecture", m->p->arch);
    gguf_writer_set_str(w, "general.type", "model");
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_str(w, "general.description", desc);
}

static void write_arch_keys(gguf_writer *w, const model_cfg *m) {
    const preset *p = m->p;
    const char *a = p->arch;
    char k[128];
    int L = m->n_layer;
    gguf_writer_set_u32(w, key(k, a, "block_count"), (uint32_t)L);
    gguf_writer_set_u32(w, key(k, a, "context_length"), (uint32_t)p->n_ctx);
    gguf_writer_set_u32(w, key(k, a, "embedding_length"), (uint32_t)m->n_embd);
    if (!is_gemma4(m)) {
        gguf_writer_set_u32(w, key(k, a, "attention.head_count"), (uint32_t)m->n_head);
        gguf_writer_set_f32(w, key(k, a, "attention.layer_norm_rms_epsilon"), 1e-6f);
        gguf_writer_set_u32(w, key(k, a, "feed_forward_length"), (uint32_t)m->n_ff[0]);
        gguf_writer_set_u32(w, key(k, a, "attention.head_count_kv"), (uint32_t)m->n_head_kv[0]);
        gguf_writer_set_u32(w, key(k, a, "attention.key_length"), (uint32_t)m->hd);
        gguf_writer_set_u32(w, key(k, a, "attention.value_length"), (uint32_t)m->hd);
        if (strcmp(a, "gemma2") == 0) {
            gguf_writer_set_f32(w, key(k, a, "attn_logit_softcapping"), p->attn_softcap);
            gguf_writer_set_f32(w, key(k, a, "final_logit_softcapping"), p->final_softcap);
            gguf_writer_set_u32(w, key(k, a, "attention.sliding_window"), (uint32_t)p->n_swa);
        } else if (strcmp(a, "gemma3") == 0) {
            gguf_writer_set_f32(w, key(k, a, "rope.freq_base"), p->rope_base);
            gguf_writer_set_f32(w, key(k, a, "rope.freq_base_swa"), p->rope_base_swa);
            if (p->rope_linear > 0) {
                gguf_writer_set_str(w, key(k, a, "rope.scaling.type"), "linear");
                gguf_writer_set_f32(w, key(k, a, "rope.scaling.factor"), p->rope_linear);
            }
            gguf_writer_set_u32(w, key(k, a, "attention.sliding_window"), (uint32_t)p->n_swa);
        }
        gguf_writer_set_u32(w, "general.file_type", m->type->ftype);
        gguf_writer_set_u32(w, "general.quantization_version", 2);
        return;
    }
    /* Gemma 4: per-layer values are arrays where the real files have arrays. */
    int32_t arr[MAX_LAYERS];
    uint8_t swa[MAX_LAYERS];
    if (p->n_ff_shared) {
        for (int i = 0; i < L; i++) arr[i] = m->n_ff[i];
        gguf_writer_set_arr(w, key(k, a, "feed_forward_length"), GGUF_I32, arr, (uint64_t)L);
    } else {
        gguf_writer_set_u32(w, key(k, a, "feed_forward_length"), (uint32_t)m->n_ff[0]);
    }
    gguf_writer_set_u32(w, key(k, a, "attention.head_count"), (uint32_t)m->n_head);
    if (p->n_head_kv != p->n_head_kv_global) {
        for (int i = 0; i < L; i++) arr[i] = m->n_head_kv[i];
        gguf_writer_set_arr(w, key(k, a, "attention.head_count_kv"), GGUF_I32, arr, (uint64_t)L);
    } else {
        gguf_writer_set_u32(w, key(k, a, "attention.head_count_kv"), (uint32_t)p->n_head_kv);
    }
    gguf_writer_set_f32(w, key(k, a, "rope.freq_base"), p->rope_base);
    gguf_writer_set_f32(w, key(k, a, "rope.freq_base_swa"), p->rope_base_swa);
    gguf_writer_set_f32(w, key(k, a, "attention.layer_norm_rms_epsilon"), 1e-6f);
    if (m->n_expert > 0) {
        gguf_writer_set_u32(w, key(k, a, "expert_count"), (uint32_t)m->n_expert);
        gguf_writer_set_u32(w, key(k, a, "expert_used_count"), (uint32_t)m->n_expert_used);
    }
    gguf_writer_set_u32(w, key(k, a, "attention.key_length"), (uint32_t)m->hd_global);
    gguf_writer_set_u32(w, key(k, a, "attention.value_length"), (uint32_t)m->hd_global);
    gguf_writer_set_u32(w, "general.file_type", m->type->ftype);
    gguf_writer_set_f32(w, key(k, a, "final_logit_softcapping"), p->final_softcap);
    gguf_writer_set_u32(w, key(k, a, "attention.sliding_window"), (uint32_t)p->n_swa);
    gguf_writer_set_u32(w, key(k, a, "attention.shared_kv_layers"), (uint32_t)m->n_kv_shared);
    gguf_writer_set_u32(w, key(k, a, "embedding_length_per_layer_input"), (uint32_t)m->n_pl);
    for (int i = 0; i < L; i++) swa[i] = m->is_swa[i];
    gguf_writer_set_arr(w, key(k, a, "attention.sliding_window_pattern"), GGUF_BOOL, swa,
                        (uint64_t)L);
    gguf_writer_set_u32(w, key(k, a, "attention.key_length_swa"), (uint32_t)m->hd);
    gguf_writer_set_u32(w, key(k, a, "attention.value_length_swa"), (uint32_t)m->hd);
    if (m->n_expert > 0)
        gguf_writer_set_u32(w, key(k, a, "expert_feed_forward_length"), (uint32_t)m->n_ff_exp);
    gguf_writer_set_u32(w, key(k, a, "rope.dimension_count"), (uint32_t)m->hd_global);
    gguf_writer_set_u32(w, key(k, a, "rope.dimension_count_swa"), (uint32_t)m->hd);
    gguf_writer_set_u32(w, "general.quantization_version", 2);
}

static void write_vocab_keys(gguf_writer *w, const model_cfg *m, vocab *v) {
    bool g4 = is_gemma4(m);
    gguf_writer_set_str(w, "tokenizer.ggml.model", g4 ? "gemma4" : "llama");
    if (!g4) gguf_writer_set_str(w, "tokenizer.ggml.pre", "default");
    gguf_str *tokens = sl_strs(&v->text);
    gguf_writer_set_arr_strn(w, "tokenizer.ggml.tokens", tokens, (uint64_t)v->text.n);
    free(tokens);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, v->score, (uint64_t)v->text.n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, v->type, (uint64_t)v->text.n);
    if (g4) {
        gguf_str *merges = sl_strs(&v->merges);
        gguf_writer_set_arr_strn(w, "tokenizer.ggml.merges", merges, (uint64_t)v->merges.n);
        free(merges);
    }
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 3);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    if (g4) gguf_writer_set_u32(w, "tokenizer.ggml.mask_token_id", 4);
    if (strcmp(m->p->arch, "gemma") == 0) /* the converter's eot for every Gemma 1 */
        gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", 107);
    if (!g4) {
        gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
        gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    }
    gguf_writer_set_str(w, "tokenizer.chat_template",
                        g4 ? chat_template_gemma4 : chat_template_gemma);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
    if (g4) gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
}

/* ---------------------------------------------------------------------------------------
 * --check: run a few tokens through the engine and look at the logits. */

typedef struct {
    int n_tokens;
    bool finite;
    bool rows_differ;   /* different inputs give different logits */
    float min, max, std; /* over all logits */
} logit_stats;

static int check_model(const char *path, logit_stats *st, char *err) {
    memset(st, 0, sizeof *st);
    gemma_model *gm = gemma_model_load(path, err);
    if (!gm) return -1;
    gemma_model_info info;
    gemma_model_get_info(gm, &info);
    gemma_context *c = gemma_context_new(gm, &(gemma_context_params){.n_ctx = 64}, err);
    if (!c) {
        gemma_model_free(gm);
        return -1;
    }
    int V = info.n_vocab, n = 4;
    int32_t ids[4] = {2, 600 % V, 1000 % V, 700 % V};
    float *logits = xmalloc((size_t)n * (size_t)V * sizeof(float));
    int rc = gemma_eval(c, ids, n, logits, true, err);
    if (rc == 0) {
        double sum = 0, sum2 = 0;
        st->n_tokens = n;
        st->finite = true;
        st->min = INFINITY;
        st->max = -INFINITY;
        for (size_t i = 0; i < (size_t)n * (size_t)V; i++) {
            float x = logits[i];
            if (!isfinite(x)) st->finite = false;
            st->min = fminf(st->min, x);
            st->max = fmaxf(st->max, x);
            sum += x;
            sum2 += (double)x * x;
        }
        double mean = sum / ((double)n * V);
        st->std = (float)sqrt(fmax(0.0, sum2 / ((double)n * V) - mean * mean));
        for (int r = 1; r < n; r++)
            if (memcmp(logits, logits + (size_t)r * (size_t)V, (size_t)V * sizeof(float)) != 0)
                st->rows_differ = true;
    }
    free(logits);
    gemma_context_free(c);
    gemma_model_free(gm);
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------
 * Command line. */

typedef struct {
    const char *preset, *type, *vocab, *out, *script;
    int layers, experts, vocab_size, shrink;
    unsigned long long seed;
    bool check, quiet;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: mkmodel --preset NAME -o OUT.gguf [options]\n"
            "Write a GGUF model with random weights and the real shapes and metadata of a\n"
            "published Gemma model (for benchmarks and trying the engine; NOT a trained model).\n"
            "\n"
            "  --preset NAME     gemma-2b gemma2-2b gemma3-270m gemma3-1b gemma3-4b gemma4-e2b\n"
            "                    gemma4-e4b gemma4-31b gemma4-26b-a4b\n"
            "  --type T          F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K\n"
            "                    IQ4_NL IQ4_XS MXFP4 (every 2-D weight in T) or the\n"
            "                    llama-quantize mixes Q4_K_M Q5_K_M (default Q4_K_M)\n"
            "  --layers N        keep the first N layers (layer pattern and per-layer keys cut to\n"
            "                    match; E models keep a valid share of KV-shared layers)\n"
            "  --experts N       MoE presets: N experts (top-k = min(8, N))\n"
            "  --vocab FILE      copy the tokenizer.* keys of FILE (a .gguf) instead of writing a\n"
            "                    synthetic vocabulary of the real size\n"
            "  --seed S          random seed (default 42); same seed, same file\n"
            "  --check           load the result and check a few tokens give finite logits\n"
            "  -q, --quiet       no progress or summary on stderr\n"
            "  -o, --output OUT  output file\n"
            "  -h, --help        this help\n"
            "testing only (the shapes are then no longer the real ones):\n"
            "  --vocab-size N    synthetic vocabulary of N >= 1024 tokens\n"
            "  --shrink D        divide every width (embedding, head size, FFN, experts, PLE)\n"
            "                    by D; head counts and layer patterns stay\n"
            "  --script TEXT     (with --vocab) not random: every layer zero, the embedding and an\n"
            "                    untied output head set so that greedy decoding after TEXT's\n"
            "                    first token says the rest of TEXT (special tokens such as\n"
            "                    <|channel> parsed); the next token depends on the last one\n"
            "                    alone, so a token may not come twice, except that a one-byte\n"
            "                    token is written as its byte token <0xXX> the second time\n");
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Returns 0 on success, 1 for --help, 2 for a usage error (message printed). */
static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->type = "Q4_K_M";
    o->seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        const char *v = has_val ? argv[i + 1] : NULL;
        long long n = 0;
#define NEED_VALUE()                                                                  \
    do {                                                                              \
        if (!has_val) { fprintf(stderr, "mkmodel: %s needs a value\n", a); return 2; } \
        i++;                                                                          \
    } while (0)
#define INT_VALUE(lo, hi, dst)                                                              \
    do {                                                                                    \
        NEED_VALUE();                                                                       \
        if (parse_int(v, lo, hi, &n)) {                                                     \
            fprintf(stderr, "mkmodel: %s: '%s' is not an integer in [%lld, %lld]\n", a, v, \
                    (long long)(lo), (long long)(hi));                                      \
            return 2;                                                                       \
        }                                                                                   \
        dst = (int)n;                                                                       \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        else if (!strcmp(a, "--preset")) { NEED_VALUE(); o->preset = v; }
        else if (!strcmp(a, "--type")) { NEED_VALUE(); o->type = v; }
        else if (!strcmp(a, "--vocab")) { NEED_VALUE(); o->vocab = v; }
        else if (!strcmp(a, "--script")) { NEED_VALUE(); o->script = v; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { NEED_VALUE(); o->out = v; }
        else if (!strcmp(a, "--layers")) INT_VALUE(1, MAX_LAYERS, o->layers);
        else if (!strcmp(a, "--experts")) INT_VALUE(1, 4096, o->experts);
        else if (!strcmp(a, "--vocab-size")) INT_VALUE(1024, 1 << 22, o->vocab_size);
        else if (!strcmp(a, "--shrink")) INT_VALUE(1, 64, o->shrink);
        else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            if (errno || end == v || *end) {
                fprintf(stderr, "mkmodel: --seed: '%s' is not a number\n", v);
                return 2;
            }
        }
        else if (!strcmp(a, "--check")) o->check = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = true;
        else {
            fprintf(stderr, "mkmodel: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef INT_VALUE
#undef NEED_VALUE
    }
    if (!o->preset || !o->out) {
        fprintf(stderr, "mkmodel: --preset and -o are required (see --help)\n");
        return 2;
    }
    if (o->script && !o->vocab) {
        fprintf(stderr, "mkmodel: --script needs --vocab (its tokens come from that vocabulary)\n");
        return 2;
    }
    return 0;
}

/* Fill the model configuration from the preset and options; message in err on failure. */
static int configure(model_cfg *m, const options *o, char *err) {
    memset(m, 0, sizeof *m);
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(presets[i].name, o->preset)) m->p = &presets[i];
    if (!m->p) return set_err(err, "unknown preset '%s' (see --help)", o->preset);
    for (int i = 0; i < N_TYPE_OPTIONS; i++)
        if (!strcasecmp(type_options[i].name, o->type)) m->type = &type_options[i];
    if (!m->type) return set_err(err, "unknown type '%s' (see --help)", o->type);
    const preset *p = m->p;
    m->seed = o->seed;
    m->shrink = o->shrink ? o->shrink : 1;
    int D = m->shrink;
    int widths[] = {p->n_embd, p->hd, p->hd_global, p->n_ff, p->n_ff_shared, p->n_ff_exp, p->n_pl};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
        if (widths[i] % D || (widths[i] && widths[i] / D < 2))
            return set_err(err, "--shrink %d does not divide the widths of %s", D, p->name);
    m->n_layer = o->layers ? o->layers : p->n_layer;
    m->n_embd = p->n_embd / D;
    m->n_head = p->n_head;
    m->hd = p->hd / D;
    m->hd_global = p->hd_global / D;
    m->n_ff_exp = p->n_ff_exp / D;
    m->n_pl = p->n_pl / D;
    m->n_expert = p->n_expert;
    m->n_expert_used = p->n_expert_used;
    if (o->experts) {
        if (!p->n_expert) return set_err(err, "--experts: %s has no experts", p->name);
        m->n_expert = o->experts;
        m->n_expert_used = o->experts < p->n_expert_used ? o->experts : p->n_expert_used;
    }
    m->n_kv_shared = shared_kv_layers_for(p, m->n_layer);
    derive_layers(m);
    return 0;
}

/* --script's chain: TEXT's tokens in vf's vocabulary, a repeated one-byte token as its byte
 * token (the prompt's "\n" and the "\n" after a thought channel's name are the same token,
 * but must lead on to different ones). Returns 0, or -1 with a message in err. */
static int script_chain(script *sc, const char *text, const gguf_file *vf, int n_embd, char *err) {
    tokenizer *tk = tokenizer_load(vf, err);
    if (!tk) return -1;
    sc->chain = tokenizer_encode(tk, text, strlen(text), false, true, &sc->n);
    int rc = 0;
    for (int i = 1; i + 1 < sc->n && rc == 0; i++) {
        for (int j = 0; j < i; j++) {
            if (sc->chain[j] != sc->chain[i]) continue;
            char piece[8], name[8];
            size_t k = tokenizer_piece(tk, sc->chain[i], piece, sizeof piece);
            int32_t byte = -1;
            if (k == 1) {
                snprintf(name, sizeof name, "<0x%02X>", (unsigned char)piece[0]);
                byte = tokenizer_find(tk, name, strlen(name));
            }
            size_t len;
            const char *t = tokenizer_text(tk, sc->chain[i], &len);
            for (int l = 0; l < i && byte >= 0; l++)
                if (sc->chain[l] == byte) byte = -1;
            if (byte < 0)
                rc = set_err(err, "--script: token '%.*s' comes twice and leads on to different "
                             "tokens (the model's next token depends on the last one alone)",
                             (int)len, t);
            else sc->chain[i] = byte;
            break;
        }
    }
    if (rc == 0 && sc->n < 2) rc = set_err(err, "--script: '%s' is fewer than two tokens", text);
    if (rc == 0 && sc->n - 1 > n_embd)
        rc = set_err(err, "--script: %d tokens, but an embedding of %d can chain at most %d",
                     sc->n, n_embd, n_embd + 1);
    sc->gain = SCRIPT_LOGIT / sqrtf((float)n_embd);
    tokenizer_free(tk);
    return rc;
}

static void print_progress(void *ctx, uint64_t done, uint64_t total) {
    double *last = ctx, t = now_seconds();
    if (t - *last < 0.5 && done != total) return;
    *last = t;
    fprintf(stderr, "\rmkmodel: %.2f / %.2f GB (%d%%)", done / 1e9, total / 1e9,
            total ? (int)(100.0 * (double)done / (double)total) : 100);
    if (done == total) fputc('\n', stderr);
}

int mkmodel_main(int argc, char **argv);
int mkmodel_main(int argc, char **argv) {
    options o;
    int prc = parse_args(argc, argv, &o);
    if (prc == 1) { usage(stdout); return 0; }
    if (prc) return 2;
    char err[GEMMA_ERR_LEN];
    model_cfg *m = xcalloc(1, sizeof *m);
    gguf_writer *w = NULL;
    gguf_file *vf = NULL;
    vocab v = {0};
    builder b = {0};
    script sc = {0};
    int rc = 1;
    if (configure(m, &o, err)) goto fail;

    w = gguf_writer_new();
    write_general(w, m);
    write_arch_keys(w, m);
    if (o.vocab) { /* the real vocabulary: copy every tokenizer.* key */
        vf = gguf_open(o.vocab, err);
        if (!vf) goto fail;
        const gguf_kv *tk = gguf_find(vf, "tokenizer.ggml.tokens");
        if (!tk || tk->type != GGUF_ARRAY || tk->arr_type != GGUF_STRING || tk->arr_n < 1 ||
            tk->arr_n > (1u << 24)) {
            set_err(err, "%s: no tokenizer.ggml.tokens string array", o.vocab);
            goto fail;
        }
        m->n_vocab = (int)tk->arr_n;
        gguf_str tm = {0};
        char e2[GEMMA_ERR_LEN];
        const char *want = is_gemma4(m) ? "gemma4" : "llama";
        if (gguf_get_str(vf, "tokenizer.ggml.model", &tm, e2) == 1 && !gguf_str_eq(tm, want) &&
            !o.quiet)
            fprintf(stderr, "mkmodel: warning: %s has tokenizer model '%.*s', %s uses '%s'\n",
                    o.vocab, (int)tm.len, tm.ptr, m->p->arch, want);
        if (gguf_writer_copy_kvs(w, vf, "tokenizer.") < 0) goto writer_fail;
        if (o.script && script_chain(&sc, o.script, vf, m->n_embd, err)) goto fail;
    } else {
        m->n_vocab = o.vocab_size ? o.vocab_size : m->p->n_vocab;
        build_vocab(&v, m->p->arch, m->n_vocab);
        write_vocab_keys(w, m, &v);
    }

    b.w = w;
    b.m = m;
    b.sc = o.script ? &sc : NULL;
    b.cap_gens = 40 * m->n_layer + 16;
    b.gens = xcalloc((size_t)b.cap_gens, sizeof *b.gens);
    add_tensors(&b);
    if (gguf_writer_error(w)) goto writer_fail;

    double t0 = now_seconds(), last = 0;
    uint64_t total = gguf_writer_file_size(w);
    if (!o.quiet && total > (64u << 20)) gguf_writer_set_progress(w, print_progress, &last);
    if (gguf_writer_write(w, o.out, err)) goto fail;
    double dt = now_seconds() - t0;
    if (!o.quiet) {
        fprintf(stderr,
                "mkmodel: wrote %s: %s, %d layers, %d tokens, %lld tensors, %.1f MB in %.2f s "
                "(%.0f MB/s)\n  types:",
                o.out, m->p->name, m->n_layer, m->n_vocab, (long long)gguf_writer_n_tensors(w),
                total / 1e6, dt, dt > 0 ? total / 1e6 / dt : 0.0);
        for (int t = 0; t < GGML_TYPE_COUNT; t++)
            if (b.type_count[t])
                fprintf(stderr, " %s x%d", quant_type_name((uint32_t)t), b.type_count[t]);
        fputc('\n', stderr);
    }
    if (o.check) {
        logit_stats st;
        if (check_model(o.out, &st, err)) goto fail;
        bool ok = st.finite && st.rows_differ && st.std > 1e-3f;
        fprintf(stderr, "mkmodel: check %s: %d tokens, logits %s, std %.3f, range [%.3f, %.3f]%s\n",
                ok ? "ok" : "FAILED", st.n_tokens, st.finite ? "finite" : "NOT FINITE", st.std,
                st.min, st.max, st.rows_differ ? "" : ", every row equal");
        if (!ok) goto done;
    }
    rc = 0;
    goto done;
writer_fail:
    snprintf(err, sizeof err, "%s", gguf_writer_error(w));
fail:
    fprintf(stderr, "mkmodel: %s\n", err);
done:
    gguf_close(vf);
    gguf_writer_free(w);
    free(b.gens);
    free(sc.chain);
    free_vocab(&v);
    free(m);
    return rc;
}

#ifndef MKMODEL_NO_MAIN
int main(int argc, char **argv) { return mkmodel_main(argc, argv); }
#endif
