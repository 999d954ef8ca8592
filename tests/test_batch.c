/* test_batch.c - several sequences in one forward pass (gemma_eval_batch), through the
 * public API: every sequence's logits are the same bits as when its context runs alone.
 *
 * Four sequences follow a plan of steps (below): each step a sequence feeds a prompt chunk,
 * one token, or nothing, so prompt chunks run beside single tokens, sequences sit at
 * different positions, prompts pass the fixtures' 8-token sliding window, and micro-batches
 * of 8 rows split a step. The reference is each sequence on a context of its own with
 * gemma_eval, the same chunks; the batch is gemma_eval_batch over four contexts. Every
 * fixture architecture (Gemma 2, 3, 4 dense, per-layer embeddings, experts) and weight type
 * the fixtures hold (F32, F16, BF16, Q8_0, Q4_0 (panels), Q4_K), 1-3 threads.
 * Where gemma.h says rows agree to rounding only (the AMX sets, which leave weights in the
 * file's layout, and GEMMA_NO_REPACK), the check is that bound instead of the bits:
 * every logit within 4e-6 of the row's largest magnitude (10x the 4e-7 measured), the same
 * top token. tests/test_kernel_paths.sh runs this suite on every set the CPU has. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
#include "kernels/dispatch.h"
#include "test.h"

enum { N_SEQ = 4, N_STEP = 6, N_CTX = 64 };

/* Tokens each sequence feeds at each step (0: it sits this step out). */
static const int plan[N_SEQ][N_STEP] = {
    {7, 1, 1, 1, 1, 1},
    {0, 3, 1, 1, 1, 1},
    {2, 2, 2, 1, 1, 0},
    {0, 0, 9, 1, 1, 1},
};
/* Sequence 2 at step 1 wants every row's logits; the others the last row's. */
static bool all_logits(int s, int t) { return s == 2 && t == 1; }

/* the token at position p of sequence s: fixed pseudo-random ids past the special ones */
static int32_t token(int s, int p, int n_vocab) {
    uint32_t h = (uint32_t)(s * 7919 + p * 104729 + 12345) * 2654435761u;
    return (int32_t)(3 + (h >> 8) % (uint32_t)(n_vocab - 3));
}

typedef struct {
    int32_t ids[N_SEQ][N_CTX];
    int start[N_SEQ][N_STEP];   /* position of each step's first token */
    float *ref[N_SEQ][N_STEP];  /* logits of each sequence alone */
} batch_case;

/* Bits, or only rounding (see the top)? */
static bool exact_path(void) {
    kernel_set_id id = kernels_active()->id;
    const char *no_repack = getenv("GEMMA_NO_REPACK");
    return id != KERNELS_AMX && id != KERNELS_AMX_EMULATED && id != KERNELS_AMX_AVX512_EMULATED &&
           !(no_repack && *no_repack && strcmp(no_repack, "0"));
}

/* index of the first logit in a[0..n) that differs from b beyond the bound, or n */
static size_t first_mismatch(const float *a, const float *b, size_t n_rows, size_t n_vocab, bool exact) {
    for (size_t r = 0; r < n_rows; r++) {
        const float *x = a + r * n_vocab, *y = b + r * n_vocab;
        float big = 0;
        size_t top_x = 0, top_y = 0;
        for (size_t i = 0; i < n_vocab; i++) {
            big = fmaxf(big, fabsf(y[i]));
            if (x[i] > x[top_x]) top_x = i;
            if (y[i] > y[top_y]) top_y = i;
        }
        for (size_t i = 0; i < n_vocab; i++) {
            bool same = exact ? x[i] == y[i] : fabsf(x[i] - y[i]) <= 4e-6f * big;
            if (!same) return r * n_vocab + i;
        }
        if (top_x != top_y) return r * n_vocab + top_x;
    }
    return n_rows * n_vocab;
}

static float *logits_for(int s, int t, int n_vocab) {
    int rows = all_logits(s, t) ? plan[s][t] : 1;
    return calloc((size_t)rows * (size_t)n_vocab, sizeof(float));
}

static gemma_context *new_ctx(gemma_model *m, int threads, int n_batch, char *err) {
    gemma_context_params p = {.n_ctx = N_CTX, .n_threads = threads, .n_batch = n_batch};
    return gemma_context_new(m, &p, err);
}

/* Each sequence alone on its own context, step by step. */
static bool run_alone(gemma_model *m, batch_case *bc, int threads, int n_batch, int n_vocab) {
    char err[GEMMA_ERR_LEN];
    for (int s = 0; s < N_SEQ; s++) {
        gemma_context *c = new_ctx(m, threads, n_batch, err);
        EXPECT(c, "context: %s", err);
        if (!c) return false;
        for (int t = 0; t < N_STEP; t++) {
            if (!plan[s][t]) continue;
            bc->ref[s][t] = logits_for(s, t, n_vocab);
            int rc = gemma_eval(c, bc->ids[s] + bc->start[s][t], plan[s][t], bc->ref[s][t], all_logits(s, t), err);
            EXPECT(rc == 0, "alone: %s", err);
        }
        gemma_context_free(c);
    }
    return true;
}

/* The four sequences together, one gemma_eval_batch per step; returns the steps whose
 * logits matched the reference to the bit. */
static int run_batched(gemma_model *m, const batch_case *bc, int threads, int n_batch, int n_vocab, const char *name) {
    char err[GEMMA_ERR_LEN];
    gemma_context *c[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) c[s] = new_ctx(m, threads, n_batch, err);
    int same = 0;
    for (int t = 0; t < N_STEP; t++) {
        gemma_batch_item items[N_SEQ];
        float *got[N_SEQ] = {0};
        int n = 0;
        for (int s = 0; s < N_SEQ; s++) {
            if (!plan[s][t]) continue;
            got[s] = logits_for(s, t, n_vocab);
            items[n++] = (gemma_batch_item){c[s], bc->ids[s] + bc->start[s][t], plan[s][t], got[s], all_logits(s, t)};
        }
        int rc = gemma_eval_batch(items, n, err);
        EXPECT(rc == 0, "%s: batch step %d: %s", name, t, err);
        bool ok = true;
        for (int s = 0; s < N_SEQ; s++) {
            if (!got[s]) continue;
            size_t rows = (size_t)(all_logits(s, t) ? plan[s][t] : 1), count = rows * (size_t)n_vocab;
            bool finite = true;
            for (size_t i = 0; i < count; i++) finite &= isfinite(got[s][i]) != 0;
            EXPECT(finite, "%s: step %d sequence %d: logits not finite", name, t, s);
            size_t i = first_mismatch(got[s], bc->ref[s][t], rows, (size_t)n_vocab, exact_path());
            if (i < count) {
                EXPECT(false, "%s: step %d sequence %d: logit %zu is %.9g batched, %.9g alone", name, t, s, i,
                       got[s][i], bc->ref[s][t][i]);
                ok = false;
            }
            EXPECT(gemma_n_past(c[s]) == bc->start[s][t] + plan[s][t], "%s: step %d sequence %d: n_past %d", name, t,
                   s, gemma_n_past(c[s]));
            free(got[s]);
        }
        same += ok;
    }
    for (int s = 0; s < N_SEQ; s++) gemma_context_free(c[s]);
    return same;
}

static void check_model(const char *fixture) {
    char rel[256], err[GEMMA_ERR_LEN];
    snprintf(rel, sizeof rel, "models/%s.gguf", fixture);
    gemma_model *m = gemma_model_load(fixture_path(rel), err);
    if (!m) {
        TEST_BEGIN("batch: %s loads", fixture);
        EXPECT(false, "%s", err);
        TEST_END();
        return;
    }
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    batch_case bc = {0};
    for (int s = 0; s < N_SEQ; s++) {
        for (int p = 0; p < N_CTX; p++) bc.ids[s][p] = token(s, p, info.n_vocab);
        for (int t = 0, p = 0; t < N_STEP; p += plan[s][t], t++) bc.start[s][t] = p;
    }
    for (int threads = 1; threads <= 3; threads++) {
        for (int n_batch = 8; n_batch <= 32; n_batch *= 4) {
            TEST_BEGIN("batch: %s, %d thread(s), micro-batches of %d: four sequences together give each one's "
                       "logits alone, %s",
                       fixture, threads, n_batch, exact_path() ? "to the bit" : "to rounding (this set's bound)");
            if (run_alone(m, &bc, threads, n_batch, info.n_vocab)) {
                int same = run_batched(m, &bc, threads, n_batch, info.n_vocab, fixture);
                EXPECT(same == N_STEP, "%d of %d steps identical", same, N_STEP);
            }
            for (int s = 0; s < N_SEQ; s++)
                for (int t = 0; t < N_STEP; t++) {
                    free(bc.ref[s][t]);
                    bc.ref[s][t] = NULL;
                }
            TEST_END();
        }
    }
    gemma_model_free(m);
}

/* What the API refuses, before evaluating anything. */
static void check_refusals(void) {
    char err[GEMMA_ERR_LEN];
    gemma_model *m = gemma_model_load(fixture_path("models/gemma3-q4_0.gguf"), err);
    gemma_model *m2 = gemma_model_load(fixture_path("models/gemma3-q8_0.gguf"), err);
    TEST_BEGIN("batch: a context twice, another model, fewer threads, a full context or a bad id are refused, "
               "nothing evaluated");
    EXPECT(m && m2, "load: %s", err);
    if (m && m2) {
        gemma_context *a = new_ctx(m, 2, 8, err), *b = new_ctx(m, 2, 8, err), *few = new_ctx(m, 1, 8, err);
        gemma_context *other = new_ctx(m2, 2, 8, err);
        int32_t ids[4] = {5, 6, 7, 8}, bad[1] = {1 << 20};
        struct {
            gemma_batch_item second;
            const char *what, *msg;
        } cases[] = {
            {{a, ids, 2, NULL, false}, "the same context twice", "same context"},
            {{other, ids, 2, NULL, false}, "another model", "another model"},
            {{few, ids, 2, NULL, false}, "fewer threads", "threads"},
            {{b, ids, N_CTX + 1, NULL, false}, "more tokens than the context holds", "context is full"},
            {{b, bad, 1, NULL, false}, "an id out of range", "out of range"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            gemma_batch_item items[2] = {{a, ids, 4, NULL, false}, cases[i].second};
            err[0] = 0;
            int rc = gemma_eval_batch(items, 2, err);
            EXPECT(rc == -1 && strstr(err, cases[i].msg), "%s: rc %d, '%s'", cases[i].what, rc, err);
            EXPECT(gemma_n_past(a) == 0 && gemma_n_past(b) == 0, "%s: something was evaluated", cases[i].what);
        }
        gemma_context_free(a);
        gemma_context_free(b);
        gemma_context_free(few);
        gemma_context_free(other);
    }
    TEST_END();
    gemma_model_free(m);
    gemma_model_free(m2);
}

void suite_batch(void) {
    static const char *fixtures[] = {"gemma3-q4_0", "gemma3-q4_k", "gemma3-q8_0", "gemma3-f32", "gemma2-f16",
                                     "gemma4-dense-bf16", "gemma4-ple-f32", "gemma4-moe-q8_0", "gemma4-moe-f32"};
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) check_model(fixtures[i]);
    check_refusals();
}
