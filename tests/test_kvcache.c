/* test_kvcache.c - the KV cache types (gemma_context_params.type_k / type_v): on every
 * fixture model and every kernel set this CPU runs, each type's logits against the f32
 * cache's, within the tolerance the type states below (f16 and bf16 also give the same
 * greedy tokens, up to a near tie); 1 and 2 threads bit-identical; a batch against token by token and
 * micro-batches of 5 (the sliding layers' ring); a truncated and re-fed context; the cache's
 * size (f16 halves it); an unknown type and q8_0 on heads that are not a multiple of 32
 * refused with a message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
#include "json.h"
#include "kernels/dispatch.h"
#include "matmul.h"
#include "test.h"
#include "util.h"

/* Max |logit - f32 cache's logit| allowed, per type, as a share of the largest |logit| of
 * the f32 run, over every position of a fixture prompt. f16 keeps 11 bits of each key and
 * value, bf16 8; q8_0 keeps about 8 bits of each block's largest value and, as llama.cpp
 * does, quantizes the queries to Q8_0 for the scores, and here also the probabilities
 * (times the values' scales) for P·V. Measured worst cases over the fixtures and kernel sets
 * (random weights make peaky attention, which amplifies score errors; the gemma2 fixture's
 * are the largest): f16 1.2%, but 3.1% on the bf16 fixture under the AMX set, whose f32
 * batch attention runs on its tiles; bf16 3.4%; q8_0 14%. */
static const struct { gemma_kv_type t; double tol; } types[] = {
    {GEMMA_KV_F16, 0.04}, {GEMMA_KV_BF16, 0.05}, {GEMMA_KV_Q8_0, 0.2}};
#define N_TYPES (int)(sizeof types / sizeof types[0])
#define GREEDY 8 /* tokens of the greedy continuation compared for f16 and bf16 */

typedef struct {
    const char *name;
    gemma_model *m;
    int32_t *ids;
    int n_ids, n_vocab;
    bool hd32;         /* every head dim a multiple of 32 (q8_0 possible) */
} model_case;

static bool load_case(model_case *mc, const char *name) {
    char rel[128], err[GEMMA_ERR_LEN];
    snprintf(rel, sizeof rel, "models/%s.json", name);
    size_t len;
    char *text = read_file(fixture_path(rel), &len);
    if (!text) return false;
    json_value *doc = json_parse(text, len, err);
    free(text);
    if (!doc) return false;
    const json_value *ids = json_get(doc, "ids");
    mc->name = name;
    mc->n_ids = (int)json_len(ids);
    mc->ids = xmalloc((size_t)mc->n_ids * sizeof(int32_t));
    for (int i = 0; i < mc->n_ids; i++) mc->ids[i] = (int32_t)json_num(json_at(ids, (size_t)i));
    json_free(doc);
    snprintf(rel, sizeof rel, "models/%s.gguf", name);
    mc->m = gemma_model_load(fixture_path(rel), err);
    if (!mc->m) return false;
    gemma_model_info info;
    gemma_model_get_info(mc->m, &info);
    mc->n_vocab = info.n_vocab;
    return true;
}

/* Logits of every position of the prompt, fed in batches of n_batch (1: token by token)
 * on a cache of types k, v; NULL (and a failed expectation) on an error. */
static float *run(const model_case *mc, gemma_kv_type k, gemma_kv_type v, int n_threads, int n_batch) {
    char err[GEMMA_ERR_LEN];
    gemma_context_params cp = {.n_ctx = mc->n_ids + 16, .n_threads = n_threads, .n_batch = n_batch, .type_k = k, .type_v = v};
    gemma_context *c = gemma_context_new(mc->m, &cp, err);
    EXPECT(c != NULL, "context: %s", err);
    if (!c) return NULL;
    size_t V = (size_t)mc->n_vocab;
    float *out = xmalloc((size_t)mc->n_ids * V * sizeof(float));
    int rc = 0;
    for (int i = 0; i < mc->n_ids && rc == 0; i += n_batch) {
        int n = mc->n_ids - i < n_batch ? mc->n_ids - i : n_batch;
        rc = gemma_eval(c, mc->ids + i, n, out + (size_t)i * V, true, err);
    }
    EXPECT(rc == 0, "eval: %s", err);
    gemma_context_free(c);
    if (rc) { free(out); return NULL; }
    return out;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst)) worst = d; /* NaN counts as the worst */
    }
    return worst;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

/* The greedy continuation of the prompt, GREEDY tokens, on a cache of type t (both), and
 * at each step the margin of the chosen token's logit over the runner-up's. */
static bool greedy(const model_case *mc, gemma_kv_type t, int32_t *toks, float *margin) {
    char err[GEMMA_ERR_LEN];
    gemma_context_params cp = {.n_ctx = mc->n_ids + GREEDY + 1, .n_threads = 2, .type_k = t, .type_v = t};
    gemma_context *c = gemma_context_new(mc->m, &cp, err);
    if (!c) return false;
    float *logits = xmalloc((size_t)mc->n_vocab * sizeof(float));
    int rc = gemma_eval(c, mc->ids, mc->n_ids, logits, false, err);
    for (int i = 0; i < GREEDY && rc == 0; i++) {
        toks[i] = argmax(logits, mc->n_vocab);
        float second = -INFINITY;
        for (int v = 0; v < mc->n_vocab; v++)
            if (v != toks[i] && logits[v] > second) second = logits[v];
        margin[i] = logits[toks[i]] - second;
        rc = gemma_eval(c, &toks[i], 1, logits, false, err);
    }
    free(logits);
    gemma_context_free(c);
    return rc == 0;
}

/* Feed the prompt, keep its first half, feed the rest again: the logits of the last token
 * as a straight batch gives them, to rounding (the second half is a batch of another size,
 * whose matrix products may take other kernels). */
static void check_truncate(const model_case *mc, gemma_kv_type t, const float *whole, double top) {
    char err[GEMMA_ERR_LEN];
    gemma_context_params cp = {.n_ctx = mc->n_ids + 16, .n_threads = 2, .n_batch = mc->n_ids, .type_k = t, .type_v = t};
    gemma_context *c = gemma_context_new(mc->m, &cp, err);
    EXPECT(c != NULL, "context: %s", err);
    if (!c) return;
    size_t V = (size_t)mc->n_vocab;
    float *logits = xmalloc(V * sizeof(float));
    int half = mc->n_ids / 2, rc = gemma_eval(c, mc->ids, mc->n_ids, logits, false, err);
    if (rc == 0 && gemma_context_truncate(c, half) != 0) { /* a ring overwrote the window: start again */
        rc = gemma_eval(c, mc->ids, half, logits, false, err);
    }
    if (rc == 0) rc = gemma_eval(c, mc->ids + half, mc->n_ids - half, logits, false, err);
    EXPECT(rc == 0, "eval: %s", err);
    if (rc == 0)
        EXPECT(max_diff(logits, whole + (size_t)(mc->n_ids - 1) * V, V) <= 1e-3 * top,
               "%s: truncated and re-fed: last logits differ from one batch by %.3g", gemma_kv_type_name(t),
               max_diff(logits, whole + (size_t)(mc->n_ids - 1) * V, V));
    free(logits);
    gemma_context_free(c);
}

/* Every type on one model under the active kernel set, against its f32 cache. */
static void check_types(const model_case *mc, bool full) {
    size_t n = (size_t)mc->n_ids * (size_t)mc->n_vocab;
    const char *set = kernels_active()->name;
    float *ref = run(mc, GEMMA_KV_F32, GEMMA_KV_F32, 2, mc->n_ids);
    if (!ref) return;
    double top = 0;
    for (size_t i = 0; i < n; i++) top = fabs(ref[i]) > top ? fabs(ref[i]) : top;
    for (int ti = 0; ti < N_TYPES; ti++) {
        gemma_kv_type t = types[ti].t;
        const char *tn = gemma_kv_type_name(t);
        if (t == GEMMA_KV_Q8_0 && !mc->hd32) continue;
        double tol = types[ti].tol * top;
        TEST_BEGIN("kvcache %s %s (%s): batch within %.3g of the f32 cache", mc->name, tn, set, tol);
        float *b = run(mc, t, t, 2, mc->n_ids);
        if (b) {
            double d = max_diff(b, ref, n);
            EXPECT(d <= tol, "max |dlogit| %.4g", d);
            if (getenv("KV_VERBOSE")) fprintf(stderr, "  %s %s %s: %.4g of %.4g: %.2f%%\n", mc->name, tn, set, d, top, 100 * d / top);
        }
        TEST_END();
        if (!full || !b) { free(b); continue; }

        TEST_BEGIN("kvcache %s %s: 1, 2 and 3 threads identical, token by token and batches of 5 within %.3g",
                   mc->name, tn, tol);
        float *b1 = run(mc, t, t, 1, mc->n_ids), *dec = run(mc, t, t, 1, 1), *b5 = run(mc, t, t, 2, 5);
        if (b1) EXPECT(memcmp(b1, b, n * sizeof(float)) == 0, "1 and 2 threads differ");
        if (dec) EXPECT(max_diff(dec, ref, n) <= tol, "token by token: %.4g", max_diff(dec, ref, n));
        /* token by token, the attention's tasks store each kv head's K and V on the threads */
        for (int nt = 2; nt <= 3 && dec; nt++) {
            float *d = run(mc, t, t, nt, 1);
            if (d) EXPECT(memcmp(d, dec, n * sizeof(float)) == 0, "token by token: %d threads differ from 1", nt);
            free(d);
        }
        if (b5) EXPECT(max_diff(b5, ref, n) <= tol, "batches of 5: %.4g", max_diff(b5, ref, n));
        free(b1);
        free(dec);
        free(b5);
        TEST_END();

        TEST_BEGIN("kvcache %s %s: truncate and re-feed", mc->name, tn);
        check_truncate(mc, t, b, top);
        TEST_END();
        free(b);

        if (t == GEMMA_KV_Q8_0) continue;
        /* the same tokens, up to a step where the f32 cache's top two logits lie within the
         * type's tolerance of each other (a near tie the cache may decide either way; the
         * continuations part there) */
        TEST_BEGIN("kvcache %s %s: greedy tokens as the f32 cache's (up to a near tie)", mc->name, tn);
        int32_t want[GREEDY], got[GREEDY];
        float margin[GREEDY], unused[GREEDY];
        EXPECT(greedy(mc, GEMMA_KV_F32, want, margin) && greedy(mc, t, got, unused), "greedy run failed");
        for (int i = 0; i < GREEDY; i++) {
            if (want[i] == got[i]) continue;
            EXPECT(margin[i] <= tol, "token %d: %d, the f32 cache's %d leads by %.3g", i, got[i], want[i], margin[i]);
            break;
        }
        TEST_END();
    }
    free(ref);
}

/* gemma_kv_bytes at each type, on a context long enough that padding does not matter. */
static void check_sizes(gemma_model *m) {
    char err[GEMMA_ERR_LEN];
    size_t bytes[GEMMA_KV_COUNT] = {0};
    for (int t = 0; t < GEMMA_KV_COUNT; t++) {
        gemma_context_params cp = {.n_ctx = 4096, .n_threads = 1, .n_batch = 64, .type_k = t, .type_v = t};
        gemma_context *c = gemma_context_new(m, &cp, err);
        EXPECT(c != NULL, "context: %s", err);
        if (!c) return;
        bytes[t] = gemma_kv_bytes(c);
        EXPECT(gemma_kv_type_k(c) == (gemma_kv_type)t && gemma_kv_type_v(c) == (gemma_kv_type)t, "types not kept");
        gemma_context_free(c);
    }
    double f16 = (double)bytes[GEMMA_KV_F16] / bytes[GEMMA_KV_F32], bf16 = (double)bytes[GEMMA_KV_BF16] / bytes[GEMMA_KV_F32];
    double q8 = (double)bytes[GEMMA_KV_Q8_0] / bytes[GEMMA_KV_F32];
    /* the positions (4 bytes per cell) do not shrink, nor do the padding's cache lines */
    EXPECT(f16 > 0.49 && f16 < 0.53, "f16 cache %.3f of f32", f16);
    EXPECT(bf16 == f16, "bf16 cache %.3f of f32, f16 %.3f", bf16, f16);
    EXPECT(q8 > 0.26 && q8 < 0.32, "q8_0 cache %.3f of f32", q8);
}

void suite_kvcache(void) {
    static const char *names[] = {"gemma1-f32", "gemma2-f16", "gemma3-f32", "gemma3-q4_0", "gemma4-dense-bf16",
                                  "gemma4-moe-f32", "gemma4-ple-f32"};
    char err[GEMMA_ERR_LEN];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        model_case mc = {0};
        TEST_BEGIN("kvcache %s: load", names[i]);
        EXPECT(load_case(&mc, names[i]), "cannot load the fixture");
        TEST_END();
        if (!mc.m) { free(mc.ids); continue; }
        /* q8_0 where every head dim is a multiple of 32; elsewhere it is refused */
        gemma_context_params cp = {.n_ctx = 64, .n_threads = 1, .type_k = GEMMA_KV_Q8_0};
        gemma_context *c = gemma_context_new(mc.m, &cp, err);
        mc.hd32 = c != NULL;
        gemma_context_free(c);
        if (!mc.hd32) {
            TEST_BEGIN("kvcache %s: q8_0 refused on heads not a multiple of 32", names[i]);
            EXPECT(strstr(err, "q8_0") && strstr(err, "multiples of 32"), "message: %s", err);
            TEST_END();
        }
        check_types(&mc, true);
        /* the other kernel sets this CPU runs: each type's batch against f32; a set with
         * tiles (AMX, emulated here) takes every batch on them, so its attention reads the
         * cells kv_pack converted */
        for (int s = 0; s < KERNELS_COUNT; s++) {
            if (s == (int)kernels_active()->id || !kernel_set_supported(cpu_get(), (kernel_set_id)s)) continue;
            kernel_set_id before = kernels_select((kernel_set_id)s);
            bool tiles = kernels_active()->tile.group > 0;
            int old = tiles ? matmul_set_tile_min_rows(1) : 0;
            check_types(&mc, false);
            if (tiles) matmul_set_tile_min_rows(old);
            kernels_select(before);
        }
        if (!strcmp(names[i], "gemma3-f32")) {
            TEST_BEGIN("kvcache: gemma_kv_bytes at each type (f16 half of f32)");
            check_sizes(mc.m);
            TEST_END();
            TEST_BEGIN("kvcache: an unknown type is refused");
            cp = (gemma_context_params){.n_ctx = 64, .type_v = GEMMA_KV_COUNT};
            c = gemma_context_new(mc.m, &cp, err);
            EXPECT(c == NULL && strstr(err, "unknown KV cache type"), "accepted, or message: %s", c ? "" : err);
            gemma_context_free(c);
            EXPECT(gemma_kv_type_parse("q8_0") == GEMMA_KV_Q8_0 && gemma_kv_type_parse("q4_0") == -1 &&
                       gemma_kv_type_parse("F16") == -1 && !strcmp(gemma_kv_type_name(GEMMA_KV_BF16), "bf16"),
                   "names");
            TEST_END();
        }
        gemma_model_free(mc.m);
        free(mc.ids);
    }
}
