/* model.h - hyperparameters and weights of one Gemma model, bound from a GGUF file.
 *
 * Everything that differs between Gemma generations is data here, read once at load time
 * (doc/model.md): per-layer head counts and sizes, sliding-window flags, RoPE
 * bases, soft-caps, optional tensors. The forward pass (forward.c) branches on these fields
 * in plain sight instead of having one forward function per generation. */
#ifndef GEMMA_MODEL_H
#define GEMMA_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "tokenizer.h"

typedef enum { ARCH_GEMMA = 1, ARCH_GEMMA2, ARCH_GEMMA3, ARCH_GEMMA4 } gemma_arch;

/* A weight matrix (or stack of expert matrices), used in place from the mapping or repacked
 * at load into a panel layout (repack.c; type is then the layout's id, kernels/quant.h). */
typedef struct {
    const void *data;   /* NULL if the tensor is absent */
    uint32_t type;      /* ggml type */
    int64_t ne[4];      /* ne[0] = row length (input features), ne[1] = rows (outputs) */
    size_t row_bytes;   /* bytes per row of ne[0] elements */
} weight;

typedef struct {
    /* shape */
    bool is_swa;          /* sliding-window layer */
    int n_head, n_head_kv, head_dim, n_rot, n_ff;
    float rope_base;      /* theta base for this layer type */
    float rope_scale;     /* frequency scale s (1 / linear factor) */
    const float *rope_freqs; /* per-pair frequency divisors (Gemma 4 global layers) or NULL */
    float kq_scale;       /* factor on Q before the dot products */
    bool has_kv;          /* computes and stores its own K/V */
    int kv_source;        /* layer whose cache this layer reads (itself if has_kv) */
    bool v_from_k;        /* Gemma 4 K=V: no attn_v, V is the raw K projection */
    bool v_norm;          /* weightless RMSNorm on V (Gemma 4) */

    /* norms: dequantized to f32 at load (tiny), NULL if absent */
    float *attn_norm, *q_norm, *k_norm, *post_attn_norm, *ffn_norm, *post_ffw_norm;
    weight wq, wk, wv, wo;
    weight ffn_gate, ffn_up, ffn_down;

    /* Gemma 4 extras */
    float out_scale;      /* layer_output_scale, 1 if absent */
    /* mixture of experts (present iff gate_inp.data) */
    weight gate_inp;                     /* router {n_embd, n_expert} */
    float *gate_inp_scale;               /* {n_embd} */
    float *pre_ffw_norm_2, *post_ffw_norm_1, *post_ffw_norm_2;
    weight gate_exps, up_exps, gate_up_exps, down_exps; /* 3-D expert stacks */
    float *down_exps_scale;              /* {n_expert} or NULL */
    /* per-layer embeddings */
    weight ple_gate, ple_proj;           /* inp_gate {n_embd, n_pl}, proj {n_pl, n_embd} */
    float *ple_post_norm;                /* {n_embd} */
} layer_weights;

/* Weights repacked at load (repack.c): what, and the anonymous memory holding them. */
typedef struct {
    int n_matrices;        /* matrices (or expert stacks) repacked */
    uint64_t bytes;        /* their bytes */
    uint64_t huge_bytes;   /* of those, in 2 MiB pages (as the kernel reports after the copy) */
    double seconds;        /* time the repacking took */
    char layouts[128];     /* "Q4_0_R16 x 182, Q8_0_R16 x 1" */
    void *region;          /* the memory, region_size bytes (NULL: nothing repacked) */
    size_t region_size;
} model_repacked;

struct gmatch_vocab; /* grammar_match.h */

typedef struct gemma_model {
    char *path;
    gguf_file *gguf;
    tokenizer *tok;
    gemma_arch arch;
    const char *arch_name;
    char *name;            /* general.name, or the file's base name */

    int n_embd, n_layer, n_vocab, n_ctx_train;
    float eps;
    int n_swa;             /* sliding window (keys visible including the query itself) */
    float attn_softcap;    /* 0 = off */
    float final_softcap;   /* 0 = off */
    int n_expert, n_expert_used, n_ff_exp;
    int n_pl;              /* per-layer-embedding width (Gemma 4 E models), 0 = none */
    int n_kv_shared;

    weight tok_embd, output;   /* output.data == NULL -> tied to tok_embd */
    float *output_norm;
    float *rope_freqs;         /* Gemma 4 global layers */
    weight ple_tok_embd, ple_model_proj;
    float *ple_proj_norm;
    layer_weights *layers;

    uint64_t n_params;
    uint64_t weight_bytes;
    model_repacked repacked;

    /* sampling defaults from general.sampling.* (has_* false when absent) */
    bool has_temp, has_top_k, has_top_p, has_min_p;
    float temp, top_p, min_p;
    int top_k;

    /* the vocabulary indexed for grammar matching (constrain.c): built by the first grammar
     * bound to the model (230-340 ms on a 262,144-token vocabulary) and read by all after
     * it, from any thread; freed with the model */
    _Atomic(struct gmatch_vocab *) match_vocab;
} gemma_model;

gemma_model *model_load(const char *path, char *err);
/* Only the GGUF and its tokenizer (vocabulary-only files): no weights bound. */
gemma_model *model_load_vocab(const char *path, char *err);
void model_free(gemma_model *m);
/* Row r of a weight matrix as w->ne[0] floats, whichever its layout (file rows or panels):
 * the embedding lookup. row_buf (w->row_bytes bytes) takes a panel's row in the file's
 * format on its way to floats; file rows do not use it. */
void weight_row(const weight *w, int64_t r, float *out, uint8_t *row_buf);
/* Name of the type holding the most bytes among the 2-D weights, e.g. "Q8_0". */
const char *model_ftype_name(const gemma_model *m);
/* "<arch> <size class> <file type>" as llama.cpp describes a model (gemma_model_desc). */
size_t model_desc(const gemma_model *m, char *buf, size_t cap);

#endif
