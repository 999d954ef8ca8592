/* forward.h - the transformer forward pass over a model, with its KV cache and scratch.
 *
 * A context owns everything that changes while a model runs: attention's state (the KV
 * cache, attention.h), activation buffers (allocated once, sized for one micro-batch), the
 * thread pool. context_eval() feeds tokens at the next positions and writes logits;
 * context_eval_batch() does it for several contexts (sequences) in one pass. */
#ifndef GEMMA_FORWARD_H
#define GEMMA_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "attention.h"
#include "matmul.h"
#include "model.h"
#include "threads.h"

typedef struct {
    int n_ctx;        /* KV cache length in tokens (positions 0 .. n_ctx-1) */
    int n_threads;    /* threads of the pool; then of evals of one token (gemma_set_threads) */
    int n_threads_batch; /* threads of evals of several tokens (gemma.c: pool_set_active) */
    int n_ubatch;     /* tokens per forward micro-batch (prompt processing) */
    uint32_t type_k, type_v; /* the KV cache's element types: GGML_TYPE_F32 (0), F16, BF16, Q8_0 */
} context_params;

typedef struct gemma_context {
    gemma_model *m;
    context_params p;
    threadpool *pool;
    matmul_ctx mm;
    attn_ctx attn;    /* the KV cache, RoPE tables and attention's scratch */
    int n_past;       /* tokens already in the cache = position of the next token */
    size_t kv_bytes, scratch_bytes;

    /* activation scratch, [n_ubatch][width] each */
    float *x, *h, *o, *q, *k, *v, *att;
    float *ffn_mid;                          /* the feed-forward's intermediate (matmul_ffn) */
    float *gate, *ple, *ple_tmp;             /* per-layer embeddings */
    float *moe_n2, *moe_acc, *moe_in, *moe_out, *router; /* experts */
    int *moe_sel; float *moe_w;              /* [n_ubatch][n_expert_used] */
    int *moe_rows;                           /* token slots grouped by expert */
    int *moe_start, *moe_fill;               /* [n_expert + 1]: each expert's first slot */
    int32_t *ids;                            /* [n_ubatch]: the micro-batch's tokens */
    uint8_t *embd_row;                       /* a token's embedding row out of its panel
                                                (weight_row), in the file's format */
    int *out_row; float **out_dst;           /* [n_ubatch]: its rows whose logits are wanted */
    float *logits_rows;                      /* several sequences' logits, before they go
                                                to their buffers (grown on use) */
    size_t logits_rows_n;
    struct dumper *dump;                     /* GEMMA_DUMP's points (dump.h); NULL: none */
} gemma_context;

gemma_context *context_new(gemma_model *m, const context_params *p, char *err);
void context_free(gemma_context *c);
/* Forget all cached tokens. */
void context_reset(gemma_context *c);
/* Keep only the first n cached tokens (n <= n_past). Returns 0 if the cache still holds
 * everything the next token needs, -1 if a sliding-window ring has already overwritten
 * cells inside the window (then the caller must re-evaluate; the context is reset). */
int context_truncate(gemma_context *c, int n);

/* Run n tokens at positions n_past .. n_past+n-1. Writes logits for every token
 * (logits[i*n_vocab ...]) if all_logits, else only for the last token (logits[0..n_vocab)).
 * Returns -1 with a message if the context would overflow or an id is out of range. */
int context_eval(gemma_context *c, const int32_t *ids, int n, float *logits, bool all_logits,
                 char *err);

/* One sequence of a batch (gemma_batch_item): n tokens for context c, logits as
 * context_eval's. */
typedef struct {
    gemma_context *c;
    const int32_t *ids;
    int n;
    float *logits;
    bool all_logits;
} seq_eval;

/* Several sequences in one forward pass: their rows form one batch through every matrix
 * product (micro-batches of up to the first context's n_ubatch rows), each attending to its
 * own context's KV cache at its own positions, on the first context's threads. The
 * contexts: distinct, on one model, with at least as many threads as the first. A row's
 * logits do not depend on the other rows (tests/test_batch.c). context_eval is a batch of
 * one. Nothing is evaluated if any item is refused (-1 with a message). */
int context_eval_batch(const seq_eval *items, int n, char *err);

/* Bytes of weights context_eval reads for one decoded token (gemma_model_info). */
uint64_t weight_bytes_per_token(const gemma_model *m);

#endif
