/* mkseeds.c - write the small hand-made GGUF seeds of the fuzz corpus (tests/fuzz/corpus/gguf).
 *
 *   build-fuzz/mkseeds tests/fuzz/corpus/gguf
 *
 * Each seed is a complete, loadable model of a few KB (n_embd 8 or 32, one or two layers,
 * a vocabulary of a few dozen tokens) covering one binding path of src/model.c: every
 * architecture, tied and untied output, fused QKV, sliding/global layers, Gemma 4's K=V
 * layers, shared KV, mixture of experts and per-layer embeddings, float and block-quantized
 * weights; plus vocabulary-only files. Small seeds keep the fuzzer fast: a mutation of a
 * 3 KB model is parsed, bound and evaluated in well under a millisecond. The fixture models
 * (too big to commit) are added to the working corpus at fuzz time (tests/fuzz/run.sh).
 * Output is deterministic; rerun only when model.c's requirements change. The regress-*.gguf
 * files beside the seeds are not made here: they are the reproducers of the bugs the fuzzers
 * found (the same bytes as tests/test_regress.c), kept so every fuzz run retries them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_write.h"
#include "kernels/quant.h"
#include "util.h"

/* ---- vocabularies -------------------------------------------------------------------- */

enum { T_NORMAL = 1, T_UNKNOWN = 2, T_CONTROL = 3, T_USER = 4, T_BYTE = 6 };

typedef struct {
    const char *text;
    int type;
} tok;

/* SPM (Gemma 1-3): controls, a few byte tokens, U+2581-prefixed pieces. */
static const tok spm_vocab[] = {
    {"<pad>", T_CONTROL}, {"<eos>", T_CONTROL}, {"<bos>", T_CONTROL}, {"<unk>", T_UNKNOWN},
    {"<start_of_turn>", T_CONTROL}, {"<end_of_turn>", T_CONTROL}, {"<mask>", T_USER},
    {"<0x00>", T_BYTE}, {"<0x0A>", T_BYTE}, {"<0x20>", T_BYTE}, {"<0x41>", T_BYTE},
    {"<0xC3>", T_BYTE}, {"<0xA9>", T_BYTE}, {"<0xFF>", T_BYTE},
    {"\xe2\x96\x81", T_NORMAL}, {"\xe2\x96\x81H", T_NORMAL}, {"\xe2\x96\x81w", T_NORMAL},
    {"H", T_NORMAL}, {"e", T_NORMAL}, {"l", T_NORMAL}, {"o", T_NORMAL}, {"w", T_NORMAL},
    {"r", T_NORMAL}, {"d", T_NORMAL}, {"ll", T_NORMAL}, {"llo", T_NORMAL}, {"He", T_NORMAL},
    {"Hello", T_NORMAL}, {"\xe2\x96\x81world", T_NORMAL}, {"or", T_NORMAL}, {"\n", T_NORMAL},
    {"\xe2\x96\x81\xe2\x96\x81", T_NORMAL},
};

/* Gemma 4 BPE: the same idea with merges instead of scores. */
static const tok bpe_vocab[] = {
    {"<pad>", T_CONTROL}, {"<eos>", T_CONTROL}, {"<bos>", T_CONTROL}, {"<unk>", T_UNKNOWN},
    {"<|turn>", T_CONTROL}, {"<turn|>", T_CONTROL}, {"<|image|>", T_USER},
    {"<0x00>", T_BYTE}, {"<0x0A>", T_BYTE}, {"<0xC3>", T_BYTE}, {"<0xA9>", T_BYTE},
    {"\xe2\x96\x81", T_NORMAL}, {"H", T_NORMAL}, {"e", T_NORMAL}, {"l", T_NORMAL},
    {"o", T_NORMAL}, {"w", T_NORMAL}, {"r", T_NORMAL}, {"d", T_NORMAL}, {"\n", T_NORMAL},
    {"\n\n", T_NORMAL}, {"He", T_NORMAL}, {"ll", T_NORMAL}, {"llo", T_NORMAL},
    {"Hello", T_NORMAL}, {"\xe2\x96\x81w", T_NORMAL}, {"or", T_NORMAL},
    {"\xe2\x96\x81wor", T_NORMAL}, {"\xe2\x96\x81world", T_NORMAL},
};
static const char *const bpe_merges[] = {
    "H e", "l l", "ll o", "He llo", "\xe2\x96\x81 w", "o r", "\xe2\x96\x81w or",
    "\xe2\x96\x81wor l", "\xe2\x96\x81wor ld", "l d", "\xe2\x96\x81wor ld",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int put_vocab(gguf_writer *w, bool bpe) {
    const tok *v = bpe ? bpe_vocab : spm_vocab;
    size_t n = bpe ? COUNT(bpe_vocab) : COUNT(spm_vocab);
    const char *texts[64];
    float scores[64];
    int32_t types[64];
    for (size_t i = 0; i < n; i++) {
        texts[i] = v[i].text;
        scores[i] = v[i].type == T_NORMAL ? -(float)i : 0.0f;
        types[i] = v[i].type;
    }
    int rc = gguf_writer_set_str(w, "tokenizer.ggml.model", bpe ? "gemma4" : "llama");
    rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", texts, n);
    if (!bpe) rc |= gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, n);
    rc |= gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, n);
    if (bpe) rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", bpe_merges, COUNT(bpe_merges));
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 2);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 3);
    rc |= gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    rc |= gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    rc |= gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    if (!bpe) rc |= gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
    return rc ? -1 : (int)n;
}

/* ---- models -------------------------------------------------------------------------- */

typedef struct {
    const char *file, *arch;
    int n_layer, n_embd, n_head, n_head_kv, hd, n_ff;
    uint32_t wtype;       /* 2-D weight type (norms are always F32) */
    uint32_t etype;       /* token embedding type */
    int n_swa;            /* sliding window, 0: none */
    int swa_period;       /* scalar sliding_window_pattern, 0: written as a bool array */
    int hd_swa;           /* Gemma 4: head size of sliding layers */
    bool untied;          /* output.weight present (Gemma 3/4) */
    bool fused_qkv;
    bool v_from_k;        /* Gemma 4: no attn_v on global layers */
    int n_kv_shared;
    int n_expert, n_expert_used, n_ff_exp;
    int n_pl;
    bool rope_linear;     /* rope.scaling.type linear, factor 8 */
    bool sampling;        /* general.sampling.* keys */
    bool bpe;
} spec;

/* A deterministic, well-scaled fill for every tensor: small values, norm weights near 1. */
static uint32_t rng_state = 12345;
static float rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return ((float)(rng_state >> 8) / 16777216.0f - 0.5f) * 0.2f;
}

static int fill(void *ctx, const gguf_writer_tensor *t, void *dst, int64_t row0, int64_t n_rows,
                char *err) {
    (void)ctx;
    (void)row0;
    (void)err;
    int64_t n = t->ne[0];
    float *row = malloc((size_t)n * sizeof(float));
    bool norm = strstr(t->name, "norm") != NULL || strstr(t->name, "scale") != NULL ||
                strstr(t->name, "rope_freqs") != NULL;
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t i = 0; i < n; i++) row[i] = norm ? 1.0f + rnd() : rnd();
        quantize_row(t->type, row, (uint8_t *)dst + (size_t)r * t->row_bytes, n);
    }
    free(row);
    return 0;
}

static void add(gguf_writer *w, const char *name, uint32_t type, int64_t ne0, int64_t ne1,
                int64_t ne2) {
    int64_t ne[3] = {ne0, ne1, ne2};
    uint32_t nd = ne2 > 0 ? 3 : ne1 > 0 ? 2 : 1;
    if (gguf_writer_add_tensor_fill(w, name, type, nd, ne, fill, NULL) < 0)
        fprintf(stderr, "mkseeds: %s: %s\n", name, gguf_writer_error(w));
}

static void addl(gguf_writer *w, int il, const char *suffix, uint32_t type, int64_t ne0,
                 int64_t ne1, int64_t ne2) {
    char name[GGUF_MAX_NAME];
    snprintf(name, sizeof name, "blk.%d.%s", il, suffix);
    add(w, name, type, ne0, ne1, ne2);
}

static void akey(char *buf, size_t cap, const spec *s, const char *suffix) {
    snprintf(buf, cap, "%s.%s", s->arch, suffix);
}

static int write_model(const spec *s, const char *dir) {
    gguf_writer *w = gguf_writer_new();
    char k[128];
    gguf_writer_set_str(w, "general.architecture", s->arch);
    gguf_writer_set_str(w, "general.name", s->file);
    int n_vocab = put_vocab(w, s->bpe);
    bool g4 = strcmp(s->arch, "gemma4") == 0;
    int L = s->n_layer, E = s->n_embd;
#define KU32(suffix, v) (akey(k, sizeof k, s, suffix), gguf_writer_set_u32(w, k, (uint32_t)(v)))
#define KF32(suffix, v) (akey(k, sizeof k, s, suffix), gguf_writer_set_f32(w, k, (float)(v)))
    KU32("context_length", 64);
    KU32("embedding_length", E);
    KU32("block_count", L);
    KU32("feed_forward_length", s->n_ff);
    KU32("attention.head_count", s->n_head);
    KU32("attention.head_count_kv", s->n_head_kv);
    KU32("attention.key_length", s->hd);
    KU32("attention.value_length", s->hd);
    KF32("attention.layer_norm_rms_epsilon", 1e-6);
    KF32("rope.freq_base", 10000.0);
    if (s->n_swa > 0) KU32("attention.sliding_window", s->n_swa);
    bool is_swa[8] = {0};
    for (int il = 0; il < L; il++)
        is_swa[il] = s->n_swa > 0 && (s->swa_period ? il % s->swa_period < s->swa_period - 1
                                                    : il % 2 == 0);
    if (s->n_swa > 0) {
        if (s->swa_period) {
            KU32("attention.sliding_window_pattern", s->swa_period);
        } else {
            akey(k, sizeof k, s, "attention.sliding_window_pattern");
            gguf_writer_set_arr(w, k, GGUF_BOOL, is_swa, (uint64_t)L);
        }
    }
    if (g4) {
        KU32("attention.key_length_swa", s->hd_swa);
        KU32("attention.value_length_swa", s->hd_swa);
        KU32("rope.dimension_count_swa", s->hd_swa);
        KF32("rope.freq_base_swa", 10000.0);
        KF32("final_logit_softcapping", 30.0);
        if (s->n_kv_shared) KU32("attention.shared_kv_layers", s->n_kv_shared);
        if (s->n_pl) KU32("embedding_length_per_layer_input", s->n_pl);
    }
    if (strcmp(s->arch, "gemma2") == 0) {
        KF32("attn_logit_softcapping", 50.0);
        KF32("final_logit_softcapping", 30.0);
    }
    if (s->n_expert) {
        KU32("expert_count", s->n_expert);
        KU32("expert_used_count", s->n_expert_used);
        KU32("expert_feed_forward_length", s->n_ff_exp);
    }
    if (s->rope_linear) {
        akey(k, sizeof k, s, "rope.scaling.type");
        gguf_writer_set_str(w, k, "linear");
        KF32("rope.scaling.factor", 8.0);
    }
    if (s->sampling) {
        gguf_writer_set_f32(w, "general.sampling.temp", 0.7f);
        gguf_writer_set_i32(w, "general.sampling.top_k", 20);
        gguf_writer_set_f32(w, "general.sampling.top_p", 0.9f);
        gguf_writer_set_f32(w, "general.sampling.min_p", 0.01f);
        int32_t sup[2] = {4, 5};
        gguf_writer_set_arr(w, "tokenizer.ggml.suppress_tokens", GGUF_I32, sup, 2);
    }
#undef KU32
#undef KF32

    const uint32_t F = GGML_TYPE_F32, W = s->wtype;
    add(w, "token_embd.weight", s->etype, E, n_vocab, 0);
    if (s->untied) add(w, "output.weight", W, E, n_vocab, 0);
    add(w, "output_norm.weight", F, E, 0, 0);
    bool any_global = false;
    for (int il = 0; il < L; il++) any_global |= !is_swa[il];
    if (g4 && any_global) add(w, "rope_freqs.weight", F, s->hd / 2, 0, 0);
    if (g4 && s->n_pl) {
        add(w, "per_layer_token_embd.weight", s->etype, s->n_pl * L, n_vocab, 0);
        add(w, "per_layer_model_proj.weight", W, E, s->n_pl * L, 0);
        add(w, "per_layer_proj_norm.weight", F, s->n_pl, 0, 0);
    }
    for (int il = 0; il < L; il++) {
        int hd = g4 && is_swa[il] ? s->hd_swa : s->hd;
        int qd = s->n_head * hd, kvd = s->n_head_kv * hd;
        bool has_kv = il < L - s->n_kv_shared;
        addl(w, il, "attn_norm.weight", F, E, 0, 0);
        if (s->fused_qkv) {
            addl(w, il, "attn_qkv.weight", W, E, qd + 2 * kvd, 0);
        } else {
            addl(w, il, "attn_q.weight", W, E, qd, 0);
            if (has_kv) {
                addl(w, il, "attn_k.weight", W, E, kvd, 0);
                if (!(s->v_from_k && !is_swa[il])) addl(w, il, "attn_v.weight", W, E, kvd, 0);
            }
        }
        addl(w, il, "attn_output.weight", W, qd, E, 0);
        if (strcmp(s->arch, "gemma3") == 0 || g4) {
            addl(w, il, "attn_q_norm.weight", F, hd, 0, 0);
            if (has_kv) addl(w, il, "attn_k_norm.weight", F, hd, 0, 0);
        }
        if (strcmp(s->arch, "gemma") != 0) {
            addl(w, il, "post_attention_norm.weight", F, E, 0, 0);
            addl(w, il, "post_ffw_norm.weight", F, E, 0, 0);
        }
        addl(w, il, "ffn_norm.weight", F, E, 0, 0);
        addl(w, il, "ffn_gate.weight", W, E, s->n_ff, 0);
        addl(w, il, "ffn_up.weight", W, E, s->n_ff, 0);
        addl(w, il, "ffn_down.weight", W, s->n_ff, E, 0);
        if (!g4) continue;
        addl(w, il, "layer_output_scale.weight", F, 1, 0, 0);
        if (s->n_expert) {
            int X = s->n_expert, FF = s->n_ff_exp;
            addl(w, il, "ffn_gate_inp.weight", W, E, X, 0);
            addl(w, il, "ffn_gate_inp.scale", F, E, 0, 0);
            addl(w, il, "pre_ffw_norm_2.weight", F, E, 0, 0);
            addl(w, il, "post_ffw_norm_1.weight", F, E, 0, 0);
            addl(w, il, "post_ffw_norm_2.weight", F, E, 0, 0);
            if (il % 2 == 0) {
                addl(w, il, "ffn_gate_up_exps.weight", W, E, 2 * FF, X);
            } else {
                addl(w, il, "ffn_gate_exps.weight", W, E, FF, X);
                addl(w, il, "ffn_up_exps.weight", W, E, FF, X);
            }
            addl(w, il, "ffn_down_exps.weight", W, FF, E, X);
            addl(w, il, "ffn_down_exps.scale", F, X, 0, 0);
        }
        if (s->n_pl) {
            addl(w, il, "inp_gate.weight", W, E, s->n_pl, 0);
            addl(w, il, "proj.weight", W, s->n_pl, E, 0);
            addl(w, il, "post_norm.weight", F, E, 0, 0);
        }
    }

    char path[512], err[GEMMA_ERR_LEN];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, s->file);
    int rc = gguf_writer_write(w, path, err);
    if (rc) fprintf(stderr, "mkseeds: %s\n", err);
    else printf("%s: %llu bytes\n", path, (unsigned long long)gguf_writer_file_size(w));
    gguf_writer_free(w);
    return rc;
}

static int write_vocab(const char *dir, const char *name, bool bpe) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", bpe ? "gemma4" : "gemma3");
    put_vocab(w, bpe);
    char path[512], err[GEMMA_ERR_LEN];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    int rc = gguf_writer_write(w, path, err);
    if (rc) fprintf(stderr, "mkseeds: %s\n", err);
    else printf("%s: %llu bytes\n", path, (unsigned long long)gguf_writer_file_size(w));
    gguf_writer_free(w);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds OUTDIR\n");
        return 2;
    }
    static const spec specs[] = {
        /* file           arch     L  E  H kv hd ff  wtype etype swa P hdS untied fused vk shr X Xu Fx pl lin smp bpe */
        {"gemma1-tiny", "gemma", 1, 8, 2, 1, 4, 16, GGML_TYPE_F32, GGML_TYPE_F16,
         0, 0, 0, false, false, false, 0, 0, 0, 0, 0, false, true, false},
        {"gemma2-tiny", "gemma2", 2, 8, 2, 2, 4, 16, GGML_TYPE_F16, GGML_TYPE_F16,
         4, 2, 0, false, false, false, 0, 0, 0, 0, 0, false, false, false},
        {"gemma3-tiny", "gemma3", 2, 8, 2, 1, 4, 16, GGML_TYPE_F32, GGML_TYPE_F16,
         4, 2, 0, true, false, false, 0, 0, 0, 0, 0, true, false, false},
        {"gemma3-fused-bf16", "gemma3", 1, 8, 2, 1, 4, 8, GGML_TYPE_BF16, GGML_TYPE_BF16,
         0, 0, 0, false, true, false, 0, 0, 0, 0, 0, false, false, false},
        {"gemma3-q8_0", "gemma3", 1, 32, 2, 1, 16, 32, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0,
         0, 0, 0, true, false, false, 0, 0, 0, 0, 0, false, false, false},
        {"gemma3-q4_0", "gemma3", 1, 32, 2, 2, 16, 32, GGML_TYPE_Q4_0, GGML_TYPE_Q4_0,
         0, 0, 0, false, false, false, 0, 0, 0, 0, 0, false, false, false},
        {"gemma4-tiny", "gemma4", 2, 8, 2, 1, 8, 16, GGML_TYPE_F32, GGML_TYPE_F16,
         4, 0, 4, true, false, true, 0, 0, 0, 0, 0, false, true, true},
        {"gemma4-shared-ple", "gemma4", 3, 8, 2, 1, 4, 8, GGML_TYPE_F32, GGML_TYPE_F16,
         4, 2, 4, false, false, false, 1, 0, 0, 0, 2, false, false, true},
        {"gemma4-moe", "gemma4", 2, 8, 2, 1, 4, 8, GGML_TYPE_F16, GGML_TYPE_F16,
         4, 0, 4, false, false, true, 0, 4, 2, 8, 0, false, false, true},
    };
    int rc = 0;
    for (size_t i = 0; i < COUNT(specs); i++) rc |= write_model(&specs[i], argv[1]);
    rc |= write_vocab(argv[1], "vocab-spm", false);
    rc |= write_vocab(argv[1], "vocab-bpe", true);
    return rc ? 1 : 0;
}
