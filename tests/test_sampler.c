/* test_sampler.c - the sampling chain (src/sampler.c) and the tests' JSON reader
 * (src/json.c), including a check of every model fixture's .json against its logits. */
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "sampler.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static sampler_params params(float temp, int top_k, float top_p, float min_p) {
    sampler_params p;
    sampler_params_default(&p);
    p.temp = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 1234;
    return p;
}

static sampler *make(const sampler_params *p, int n_vocab) {
    char err[GEMMA_ERR_LEN] = "";
    sampler *s = sampler_new(p, n_vocab, err);
    EXPECT(s != NULL, "sampler_new failed: %s", err);
    return s;
}

/* counts[id] += how often each token is drawn in `draws` samples */
static void draw_counts(sampler *s, const float *logits, int draws, int *counts) {
    for (int i = 0; i < draws; i++) counts[sampler_sample(s, logits)]++;
}

/* Pearson chi-square of observed counts against expected probabilities (cells with
 * probability 0 must have count 0 and are skipped). */
static double chi_square(const int *counts, const double *probs, int n, int draws) {
    double x2 = 0;
    for (int i = 0; i < n; i++) {
        if (probs[i] <= 0) continue;
        double e = probs[i] * draws, d = counts[i] - e;
        x2 += d * d / e;
    }
    return x2;
}

static void softmax(const float *logits, int n, float temp, double *probs) {
    double max = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
    for (int i = 0; i < n; i++) sum += probs[i] = exp((logits[i] - max) / temp);
    for (int i = 0; i < n; i++) probs[i] /= sum;
}

/* Roughly normal logits with standard deviation `scale` (sum of 4 uniforms). */
static void random_logits(sampler_rng *r, float *out, int n, float scale) {
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(r) + rng_uniform(r) + rng_uniform(r) + rng_uniform(r) - 2.0;
        out[i] = (float)(u * scale * 1.7320508);
    }
}

/* The candidate set and probabilities of `p` (no penalty, no suppress) the slow, obvious
 * way: sort the whole vocabulary, then cut. Returns the count; ids/probs in rank order. */
typedef struct { float logit; int32_t id; } ranked;
static int by_rank(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}
static int reference_chain(const float *logits, int n, const sampler_params *p, int32_t *ids,
                           double *probs) {
    ranked *r = malloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) r[i] = (ranked){logits[i], i};
    qsort(r, (size_t)n, sizeof *r, by_rank);
    int m = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    float max = r[0].logit;
    if (p->top_p < 1) {
        double sum = 0, cum = 0;
        for (int i = 0; i < m; i++) sum += expf(r[i].logit - max);
        int keep = 0;
        while (keep < m) {
            cum += expf(r[keep++].logit - max);
            if (cum >= p->top_p * sum) break;
        }
        m = keep;
    }
    if (p->min_p > 0) {
        float thr = max + logf(p->min_p);
        int keep = 1;
        while (keep < m && r[keep].logit >= thr) keep++;
        m = keep;
    }
    double sum = 0;
    for (int i = 0; i < m; i++) sum += probs[i] = expf((r[i].logit - max) / p->temp);
    for (int i = 0; i < m; i++) {
        probs[i] /= sum;
        ids[i] = r[i].id;
    }
    free(r);
    return m;
}

/* ---------------------------------------------------------------------------------------
 * Sampler
 * ------------------------------------------------------------------------------------- */

static void test_defaults_and_errors(void) {
    TEST_BEGIN("sampler: defaults are llama.cpp's CLI defaults; bad parameters rejected");
    sampler_params p;
    sampler_params_default(&p);
    EXPECT(p.temp == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f,
           "temp %g top_k %d top_p %g min_p %g", p.temp, p.top_k, p.top_p, p.min_p);
    EXPECT(p.repeat_penalty == 1.0f && p.repeat_last_n == 64 && p.seed == SAMPLER_SEED_RANDOM,
           "repeat_penalty %g repeat_last_n %d", p.repeat_penalty, p.repeat_last_n);
    char err[GEMMA_ERR_LEN];
    struct { const char *what; sampler_params p; int n_vocab; } bad[] = {
        {"n_vocab 0", p, 0}, {"penalty 0", p, 8}, {"NaN temp", p, 8}, {"NaN top_p", p, 8},
        {"huge window", p, 8},
    };
    bad[1].p.repeat_penalty = 0;
    bad[2].p.temp = NAN;
    bad[3].p.top_p = NAN;
    bad[4].p.repeat_last_n = 1 << 30;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        sampler *s = sampler_new(&bad[i].p, bad[i].n_vocab, err);
        EXPECT(s == NULL && strncmp(err, "sampler:", 8) == 0, "%s: accepted (err '%s')",
               bad[i].what, err);
        sampler_free(s);
    }
    TEST_END();
}

static void test_rng(void) {
    TEST_BEGIN("sampler: xoshiro256** and splitmix64 reproduce the reference values");
    /* xoshiro256** from state {1,2,3,4}, and splitmix64 from 0: published test values */
    sampler_rng r = {{1, 2, 3, 4}};
    const uint64_t xo[4] = {11520u, 0u, 1509978240u, 1215971899390074240u};
    for (int i = 0; i < 4; i++) {
        uint64_t v = rng_next(&r);
        EXPECT(v == xo[i], "xoshiro output %d: %llu, expected %llu", i,
               (unsigned long long)v, (unsigned long long)xo[i]);
    }
    rng_seed(&r, 0);
    const uint64_t sm[4] = {0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull,
                            0x06c45d188009454full, 0xf88bb8a8724c81ecull};
    for (int i = 0; i < 4; i++)
        EXPECT(r.s[i] == sm[i], "splitmix64 output %d: %016llx", i, (unsigned long long)r.s[i]);
    EXPECT(rng_next(&r) == 0x99ec5f36cb75f2b4ull, "first output after rng_seed(0)");
    /* uniform numbers stay in [0, 1) and average 1/2 */
    rng_seed(&r, 7);
    double sum = 0, lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&r);
        float f = rng_uniformf(&r);
        EXPECT(u >= 0 && u < 1 && f >= 0 && f < 1, "uniform out of range: %g %g", u, f);
        sum += u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    EXPECT(fabs(sum / 100000 - 0.5) < 0.005 && lo < 1e-3 && hi > 1 - 1e-3,
           "mean %g min %g max %g", sum / 100000, lo, hi);
    TEST_END();
}

static void test_greedy(void) {
    TEST_BEGIN("sampler: temp 0 picks the argmax, the lowest id on ties, logits untouched");
    float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, NAN};
    float copy[6];
    memcpy(copy, logits, sizeof copy);
    for (float temp = 0; temp >= -1; temp -= 1) {
        sampler_params p = params(temp, 40, 0.95f, 0.05f);
        sampler *s = make(&p, 6);
        if (!s) break;
        for (int i = 0; i < 10; i++) {
            int32_t t = sampler_sample(s, logits);
            EXPECT(t == 1, "temp %g: picked %d, expected 1", temp, t);
        }
        int32_t ids[6];
        float probs[6];
        int n = sampler_candidates(s, logits, ids, probs, 6);
        EXPECT(n == 1 && ids[0] == 1 && probs[0] == 1.0f, "candidates: %d, id %d", n, ids[0]);
        sampler_free(s);
    }
    EXPECT(memcmp(copy, logits, sizeof copy) == 0, "logits modified");
    TEST_END();
}

static void test_top_k_1_is_greedy(void) {
    TEST_BEGIN("sampler: top_k 1 equals greedy at any temperature");
    enum { N = 300 };
    float logits[N];
    sampler_rng r;
    rng_seed(&r, 99);
    sampler_params pg = params(0, 40, 0.95f, 0.05f);
    sampler *greedy = make(&pg, N);
    for (int t = 0; t < 4 && greedy; t++) {
        float temp = (float[]){0.1f, 0.8f, 1.0f, 5.0f}[t];
        sampler_params p = params(temp, 1, 1.0f, 0.0f);
        sampler *s = make(&p, N);
        for (int row = 0; row < 50 && s; row++) {
            random_logits(&r, logits, N, 2.0f);
            int32_t want = sampler_sample(greedy, logits), got = sampler_sample(s, logits);
            EXPECT(want == got, "temp %g row %d: %d vs greedy %d", temp, row, got, want);
        }
        sampler_free(s);
    }
    sampler_free(greedy);
    TEST_END();
}

static void test_seeds(void) {
    TEST_BEGIN("sampler: a seed reproduces its run, other seeds differ, reset restarts");
    enum { N = 50, DRAWS = 200 };
    float logits[N];
    for (int i = 0; i < N; i++) logits[i] = (float)(i % 7) * 0.3f;   /* a flat-ish row */
    int32_t a[DRAWS], b[DRAWS], c[DRAWS], d[DRAWS];
    sampler_params p = params(1.0f, 0, 1.0f, 0.0f);
    p.seed = 42;
    sampler *s1 = make(&p, N), *s2 = make(&p, N);
    p.seed = 43;
    sampler *s3 = make(&p, N);
    if (s1 && s2 && s3) {
        int differ = 0;
        for (int i = 0; i < DRAWS; i++) {
            a[i] = sampler_sample(s1, logits);
            b[i] = sampler_sample(s2, logits);
            c[i] = sampler_sample(s3, logits);
            differ += a[i] != c[i];
        }
        EXPECT(memcmp(a, b, sizeof a) == 0, "same seed, different tokens");
        EXPECT(differ > DRAWS / 2, "seeds 42 and 43 agree on %d of %d draws", DRAWS - differ,
               DRAWS);
        sampler_reset(s1);
        for (int i = 0; i < DRAWS; i++) d[i] = sampler_sample(s1, logits);
        EXPECT(memcmp(a, d, sizeof a) == 0, "after reset the run differs");
        EXPECT(sampler_seed(s1) == 42, "sampler_seed %llu", (unsigned long long)sampler_seed(s1));
    }
    sampler_free(s1);
    sampler_free(s2);
    sampler_free(s3);
    /* random seeds: resolved, and two samplers do not share one */
    p.seed = SAMPLER_SEED_RANDOM;
    sampler *r1 = make(&p, N), *r2 = make(&p, N);
    if (r1 && r2) {
        EXPECT(sampler_seed(r1) != SAMPLER_SEED_RANDOM, "random seed not resolved");
        EXPECT(sampler_seed(r1) != sampler_seed(r2), "two random samplers share seed %llu",
               (unsigned long long)sampler_seed(r1));
    }
    sampler_free(r1);
    sampler_free(r2);
    /* ... and drawn where -s can take them back: below 2^32 - 1 (llama.cpp's "random") */
    uint64_t top = 0;
    for (int i = 0; i < 200; i++) {
        sampler *r = make(&p, N);
        if (!r) break;
        if (sampler_seed(r) > top) top = sampler_seed(r);
        sampler_free(r);
    }
    EXPECT(top < SAMPLER_SEED_CLOCK_LIMIT && top > (1ull << 28),
           "largest of 200 clock seeds %llu: outside [2^28, 2^32 - 1)", (unsigned long long)top);
    TEST_END();
}

static void test_frequencies(void) {
    TEST_BEGIN("sampler: temp 1 draws follow the softmax (chi-square, 20000 draws)");
    enum { N = 8, DRAWS = 20000 };
    const float logits[N] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f, 0.25f, 1.5f};
    double probs[N];
    softmax(logits, N, 1.0f, probs);
    int counts[N] = {0};
    sampler_params p = params(1.0f, 0, 1.0f, 0.0f);
    sampler *s = make(&p, N);
    if (s) {
        draw_counts(s, logits, DRAWS, counts);
        /* 7 degrees of freedom: P(chi2 > 29.9) = 1e-4 */
        double x2 = chi_square(counts, probs, N, DRAWS);
        EXPECT(x2 < 29.9, "chi-square %.2f (counts %d %d %d %d %d %d %d %d)", x2, counts[0],
               counts[1], counts[2], counts[3], counts[4], counts[5], counts[6], counts[7]);
        float cp[N];
        int32_t ids[N];
        int n = sampler_candidates(s, logits, ids, cp, N);
        EXPECT(n == N, "candidates %d", n);
        for (int i = 0; i < n; i++)
            EXPECT(fabs(cp[i] - probs[ids[i]]) < 1e-6, "p[%d] = %g, softmax %g", ids[i], cp[i],
                   probs[ids[i]]);
        for (int i = 1; i < n; i++) EXPECT(cp[i] <= cp[i - 1], "candidates not sorted at %d", i);
    }
    sampler_free(s);
    TEST_END();
}

/* Draw many samples and check the drawn set is exactly `keep` (a 0/1 mask), and that the
 * frequencies match the softmax at temp over the kept tokens. */
static void expect_kept(const char *what, sampler *s, const float *logits, int n,
                        const int *keep, float temp) {
    enum { DRAWS = 20000 };
    int counts[64] = {0};
    float masked[64];
    double probs[64];
    draw_counts(s, logits, DRAWS, counts);
    for (int i = 0; i < n; i++) {
        EXPECT(keep[i] || counts[i] == 0, "%s: excluded token %d drawn %d times", what, i,
               counts[i]);
        EXPECT(!keep[i] || counts[i] > 0, "%s: kept token %d never drawn", what, i);
        masked[i] = keep[i] ? logits[i] : -INFINITY;
    }
    softmax(masked, n, temp, probs);
    int kept = 0;
    for (int i = 0; i < n; i++) kept += keep[i];
    /* chi-square with kept-1 dof; 40 is far beyond the 1e-4 tail for up to 12 dof */
    double x2 = chi_square(counts, probs, n, DRAWS);
    EXPECT(x2 < 40, "%s: chi-square %.2f over %d kept tokens", what, x2, kept);
    int32_t ids[64];
    int nc = sampler_candidates(s, logits, ids, NULL, 64);
    int in_mask = 0;
    for (int i = 0; i < nc; i++) in_mask += keep[ids[i]];
    EXPECT(nc == kept && in_mask == kept, "%s: candidates %d, expected %d", what, nc, kept);
}

static void test_top_k(void) {
    TEST_BEGIN("sampler: top_k keeps exactly the k largest logits");
    enum { N = 12 };
    const float logits[N] = {0.1f, 1.0f, -0.3f, 0.9f, 0.0f, 1.2f, -2.0f, 0.8f, 0.2f, 0.3f,
                             -1.0f, 0.85f};
    const int keep[N] = {0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1};   /* 1.2, 1.0, 0.9, 0.85 */
    sampler_params p = params(1.0f, 4, 1.0f, 0.0f);
    sampler *s = make(&p, N);
    if (s) expect_kept("top_k 4", s, logits, N, keep, 1.0f);
    sampler_free(s);
    TEST_END();
}

static void test_top_p(void) {
    TEST_BEGIN("sampler: top_p keeps the smallest prefix reaching p (with and without top_k)");
    /* probabilities 0.4 0.3 0.2 0.06 0.04 at shuffled ids: p 0.8 keeps three (0.7 < 0.8) */
    enum { N = 5 };
    float logits[N];
    const double pr[N] = {0.06, 0.3, 0.04, 0.4, 0.2};
    for (int i = 0; i < N; i++) logits[i] = (float)log(pr[i]);
    const int keep[N] = {0, 1, 0, 1, 1};
    for (int path = 0; path < 2; path++) {
        /* top_k off: candidates unsorted; top_k = N - 1: already sorted */
        sampler_params p = params(1.0f, path ? N - 1 : 0, 0.8f, 0.0f);
        sampler *s = make(&p, N);
        if (s) expect_kept(path ? "top_p 0.8 after top_k" : "top_p 0.8", s, logits, N, keep,
                           1.0f);
        sampler_free(s);
    }
    /* top_p is measured before temperature: at temp 3 the same three tokens remain */
    sampler_params p = params(3.0f, 0, 0.8f, 0.0f);
    sampler *s = make(&p, N);
    if (s) expect_kept("top_p 0.8 at temp 3", s, logits, N, keep, 3.0f);
    sampler_free(s);
    /* a tiny top_p keeps just the best token */
    p = params(1.0f, 0, 0.01f, 0.0f);
    s = make(&p, N);
    const int only_best[N] = {0, 0, 0, 1, 0};
    if (s) expect_kept("top_p 0.01", s, logits, N, only_best, 1.0f);
    sampler_free(s);
    TEST_END();
}

static void test_min_p(void) {
    TEST_BEGIN("sampler: min_p keeps tokens with p >= min_p * p_max (sorted and unsorted)");
    /* relative to the best: 1, e^-1 = 0.37, e^-2 = 0.14, e^-1.5 = 0.22, e^-0.5 = 0.61 */
    enum { N = 5 };
    const float logits[N] = {-1.0f, 0.0f, -2.0f, -1.5f, -0.5f};
    const int keep[N] = {1, 1, 0, 1, 1};      /* min_p 0.2 */
    for (int path = 0; path < 2; path++) {
        sampler_params p = params(1.0f, path ? N - 1 : 0, 1.0f, 0.2f);
        sampler *s = make(&p, N);
        if (s) expect_kept(path ? "min_p 0.2 after top_k" : "min_p 0.2", s, logits, N, keep,
                           1.0f);
        sampler_free(s);
    }
    /* min_p > 1 reaches no token: the best one stays */
    sampler_params p = params(1.0f, 0, 1.0f, 1.5f);
    sampler *s = make(&p, N);
    const int only_best[N] = {0, 1, 0, 0, 0};
    if (s) expect_kept("min_p 1.5", s, logits, N, only_best, 1.0f);
    sampler_free(s);
    TEST_END();
}

static void test_temperature(void) {
    TEST_BEGIN("sampler: temperature sharpens (< 1) and flattens (> 1)");
    const float logits[2] = {1.0f, 0.0f};
    double last = 1.0;
    for (int t = 0; t < 4; t++) {
        float temp = (float[]){0.25f, 0.5f, 1.0f, 2.0f}[t];
        sampler_params p = params(temp, 0, 1.0f, 0.0f);
        sampler *s = make(&p, 2);
        if (!s) continue;
        int counts[2] = {0};
        draw_counts(s, logits, 20000, counts);
        double want = 1.0 / (1.0 + exp(-1.0 / temp)), got = counts[0] / 20000.0;
        EXPECT(fabs(got - want) < 0.015, "temp %g: P(best) %.4f, expected %.4f", temp, got, want);
        EXPECT(got < last, "temp %g: P(best) %.4f not below the colder %.4f", temp, got, last);
        last = got;
        float probs[2];
        sampler_candidates(s, logits, NULL, probs, 2);
        EXPECT(fabs(probs[0] - want) < 1e-6, "temp %g: candidate p %g", temp, probs[0]);
        sampler_free(s);
    }
    TEST_END();
}

/* P(token 0) among tokens {0, 1} after the current history, by sampler_candidates. */
static double p_first(sampler *s, const float *logits) {
    int32_t ids[2];
    float probs[2];
    int n = sampler_candidates(s, logits, ids, probs, 2);
    for (int i = 0; i < n && i < 2; i++)
        if (ids[i] == 0) return probs[i];
    return 0;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static void test_repeat_penalty(void) {
    TEST_BEGIN("sampler: repeat penalty divides positive, multiplies negative logits, once");
    sampler_params p = params(1.0f, 0, 1.0f, 0.0f);
    p.repeat_penalty = 2.0f;
    sampler *s = make(&p, 2);
    if (s) {
        const float pos[2] = {2.0f, 0.8f}, neg[2] = {-1.0f, -1.5f}, zero[2] = {0.0f, -0.5f};
        EXPECT(fabs(p_first(s, pos) - sigmoid(1.2)) < 1e-6, "no history: penalty applied");
        sampler_accept(s, 0);
        EXPECT(fabs(p_first(s, pos) - sigmoid(1.0 - 0.8)) < 1e-6, "positive: 2 -> 1 (p %g)",
               p_first(s, pos));
        EXPECT(fabs(p_first(s, neg) - sigmoid(-2.0 + 1.5)) < 1e-6, "negative: -1 -> -2 (p %g)",
               p_first(s, neg));
        EXPECT(fabs(p_first(s, zero) - sigmoid(0.5)) < 1e-6, "zero stays zero");
        sampler_accept(s, 0);
        sampler_accept(s, 0);
        EXPECT(fabs(p_first(s, pos) - sigmoid(0.2)) < 1e-6, "three repeats penalised more than once");
        /* by drawing: the repeated token comes up less often than without the penalty */
        int counts[2] = {0};
        draw_counts(s, pos, 20000, counts);
        EXPECT(fabs(counts[0] / 20000.0 - sigmoid(0.2)) < 0.015 && counts[0] / 20000.0 < 0.7,
               "drawn P(repeated) %.4f, expected %.4f (unpenalised %.4f)", counts[0] / 20000.0,
               sigmoid(0.2), sigmoid(1.2));
        /* greedy: the penalty comes before the argmax */
        sampler_params pg = p;
        pg.temp = 0;
        sampler *g = make(&pg, 2);
        if (g) {
            const float close[2] = {1.0f, 0.9f};
            EXPECT(sampler_sample(g, close) == 0, "greedy without history");
            sampler_accept(g, 0);
            EXPECT(sampler_sample(g, close) == 1, "greedy ignores the penalty");
        }
        sampler_free(g);
        sampler_reset(s);
        EXPECT(fabs(p_first(s, pos) - sigmoid(1.2)) < 1e-6, "reset keeps the history");
        sampler_accept(s, -1);
        sampler_accept(s, 2);                 /* out of range: ignored */
        EXPECT(fabs(p_first(s, pos) - sigmoid(1.2)) < 1e-6, "out-of-range token counted");
    }
    sampler_free(s);
    TEST_END();
}

static void test_repeat_window(void) {
    TEST_BEGIN("sampler: repeat penalty covers only the last repeat_last_n tokens");
    enum { N = 6 };
    const float logits[N] = {2.0f, 0.8f, 0.0f, 0.0f, 0.0f, 0.0f};
    /* the penalised logit of token 0 is read back as log(P(0) / P(1)) + 0.8 */
    sampler_params p = params(1.0f, 0, 1.0f, 0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 3;
    sampler *s = make(&p, N);
    if (s) {
        int32_t ids[N];
        float probs[N];
        double l0[6];
        const int32_t history[6] = {0, 2, 3, 4, 0, 5};
        for (int i = 0; i < 6; i++) {
            sampler_accept(s, history[i]);
            int n = sampler_candidates(s, logits, ids, probs, N);
            double p0 = 0, p1 = 0;
            for (int j = 0; j < n; j++) {
                if (ids[j] == 0) p0 = probs[j];
                if (ids[j] == 1) p1 = probs[j];
            }
            l0[i] = log(p0 / p1) + 0.8;
        }
        /* windows: {0} {0,2} {0,2,3} {2,3,4} {3,4,0} {4,0,5} */
        const double want[6] = {1.0, 1.0, 1.0, 2.0, 1.0, 1.0};
        for (int i = 0; i < 6; i++)
            EXPECT(fabs(l0[i] - want[i]) < 1e-4, "after %d tokens: logit %g, expected %g", i + 1,
                   l0[i], want[i]);
    }
    sampler_free(s);
    /* -1: the whole history; 0: off */
    for (int mode = 0; mode < 2; mode++) {
        p.repeat_last_n = mode ? 0 : -1;
        s = make(&p, N);
        if (!s) continue;
        sampler_accept(s, 0);
        for (int i = 0; i < 100; i++) sampler_accept(s, 2 + i % 4);
        float probs[N];
        int32_t ids[N];
        int n = sampler_candidates(s, logits, ids, probs, N);
        double p0 = 0, p1 = 0;
        for (int j = 0; j < n; j++) {
            if (ids[j] == 0) p0 = probs[j];
            if (ids[j] == 1) p1 = probs[j];
        }
        double want = mode ? 2.0 : 1.0;
        EXPECT(fabs(log(p0 / p1) + 0.8 - want) < 1e-4, "repeat_last_n %d: logit %g, expected %g",
               p.repeat_last_n, log(p0 / p1) + 0.8, want);
        sampler_free(s);
    }
    TEST_END();
}

static void test_suppress(void) {
    TEST_BEGIN("sampler: suppressed tokens are never drawn");
    enum { N = 10 };
    const float logits[N] = {1.0f, 5.0f, 0.5f, 4.9f, 0.0f, 1.0f, 2.0f, 0.1f, 0.2f, 0.3f};
    const int32_t sup[] = {1, 3, -5, 1000};   /* out-of-range ids are ignored */
    sampler_params pg = params(0, 40, 0.95f, 0.05f);
    sampler *g = make(&pg, N);
    if (g) {
        sampler_set_suppress(g, sup, 4);
        EXPECT(sampler_sample(g, logits) == 6, "greedy picked a suppressed token");
        sampler_set_suppress(g, sup, 1);      /* replaces the list */
        EXPECT(sampler_sample(g, logits) == 3, "list not replaced");
    }
    sampler_free(g);
    sampler_params p = params(1.5f, 0, 1.0f, 0.0f);
    sampler *s = make(&p, N);
    if (s) {
        sampler_set_suppress(s, sup, 4);
        int counts[N] = {0};
        draw_counts(s, logits, 20000, counts);
        EXPECT(counts[1] == 0 && counts[3] == 0, "suppressed drawn %d and %d times", counts[1],
               counts[3]);
        /* every token suppressed: the lowest id comes back, no crash */
        int32_t all[N];
        for (int i = 0; i < N; i++) all[i] = N - 1 - i;
        sampler_set_suppress(s, all, N);
        EXPECT(sampler_sample(s, logits) == 0, "all suppressed");
        sampler_set_suppress(s, NULL, 0);
        EXPECT(sampler_candidates(s, logits, NULL, NULL, 0) == N, "suppress list not cleared");
    }
    sampler_free(s);
    TEST_END();
}

static void test_odd_logits(void) {
    TEST_BEGIN("sampler: NaN and infinite logits (NaN never drawn, +inf ties)");
    enum { N = 600 };   /* longer than the scan blocks */
    float logits[N];
    for (int i = 0; i < N; i++) logits[i] = (float)(i % 13) * 0.1f;
    logits[0] = NAN;
    logits[1] = INFINITY;
    logits[3] = -INFINITY;
    logits[4] = INFINITY;
    logits[300] = NAN;
    logits[555] = INFINITY;
    for (int c = 0; c < 3; c++) {
        int top_k = (int[]){-1, 0, 3}[c];          /* -1 here: greedy */
        sampler_params p = params(top_k < 0 ? 0.0f : 1.0f, top_k, 0.95f, 0.05f);
        sampler *s = make(&p, N);
        if (!s) continue;
        int counts[3] = {0};
        for (int i = 0; i < 300; i++) {
            int32_t t = sampler_sample(s, logits);
            EXPECT(t == 1 || t == 4 || t == 555, "top_k %d: drew %d", top_k, t);
            counts[t == 1 ? 0 : t == 4 ? 1 : 2]++;
        }
        if (top_k < 0) EXPECT(counts[0] == 300, "greedy: not the first +inf");
        else EXPECT(counts[0] && counts[1] && counts[2], "top_k %d: an +inf never drawn", top_k);
        float nan_row[N];
        for (int i = 0; i < N; i++) nan_row[i] = NAN;
        EXPECT(sampler_sample(s, nan_row) == 0, "top_k %d: all-NaN row", top_k);
        sampler_free(s);
    }
    TEST_END();
}

static void test_against_reference(void) {
    TEST_BEGIN("sampler: candidate sets equal a sort-everything reference (random rows)");
    struct { int top_k; float top_p, min_p, temp; } cases[] = {
        {40, 0.95f, 0.05f, 0.8f}, {0, 0.95f, 0.0f, 1.0f}, {0, 1.0f, 0.05f, 1.0f},
        {0, 0.9f, 0.05f, 0.7f},   {100, 1.0f, 0.0f, 1.5f}, {0, 1.0f, 0.0f, 1.0f},
        {5, 0.5f, 0.3f, 2.0f},    {0, 0.3f, 0.0f, 1.0f},  {999, 0.99f, 0.01f, 1.0f},
    };
    enum { N = 1000 };
    float *logits = malloc(N * sizeof *logits);
    int32_t *ids = malloc(N * sizeof *ids), *ref_ids = malloc(N * sizeof *ref_ids);
    float *probs = malloc(N * sizeof *probs);
    double *ref_probs = malloc(N * sizeof *ref_probs);
    sampler_rng r;
    rng_seed(&r, 5);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sampler_params p = params(cases[c].temp, cases[c].top_k, cases[c].top_p, cases[c].min_p);
        sampler *s = make(&p, N);
        if (!s) continue;
        for (int row = 0; row < 12; row++) {
            random_logits(&r, logits, N, row < 6 ? 1.0f + row : 2.0f);
            if (row >= 6)   /* many equal logits: ties must break by id alike */
                for (int i = 0; i < N; i++) logits[i] = roundf(logits[i] * 2) / 2;
            int n = sampler_candidates(s, logits, ids, probs, N);
            int m = reference_chain(logits, N, &p, ref_ids, ref_probs);
            bool same = n == m;
            for (int i = 0; same && i < n; i++)
                same = ids[i] == ref_ids[i] && fabs(probs[i] - ref_probs[i]) < 1e-6;
            EXPECT(same, "case %zu row %d: %d candidates, reference %d", c, row, n, m);
            /* and every draw lies in the set */
            for (int i = 0; i < 20; i++) {
                int32_t t = sampler_sample(s, logits);
                bool in = false;
                for (int j = 0; j < m && !in; j++) in = ref_ids[j] == t;
                EXPECT(in, "case %zu row %d: drew %d outside the set", c, row, t);
            }
        }
        sampler_free(s);
    }
    free(logits);
    free(ids);
    free(ref_ids);
    free(probs);
    free(ref_probs);
    TEST_END();
}

static void test_big_vocab(void) {
    TEST_BEGIN("sampler: n_vocab 262144 (timing printed, not asserted)");
    enum { N = 262144 };
    float *logits = malloc(N * sizeof *logits);
    int32_t *ref_ids = malloc(N * sizeof *ref_ids);
    double *ref_probs = malloc(N * sizeof *ref_probs);
    int32_t ids[64];
    float probs[64];
    sampler_rng r;
    rng_seed(&r, 11);
    random_logits(&r, logits, N, 3.0f);
    sampler_params p = params(0.8f, 40, 0.95f, 0.05f);
    p.repeat_penalty = 1.1f;
    sampler *s = make(&p, N);
    if (s) {
        for (int i = 0; i < 64; i++) sampler_accept(s, (int32_t)(rng_next(&r) % N));
        int n = sampler_candidates(s, logits, ids, probs, 64);
        EXPECT(n >= 1 && n <= 40, "%d candidates", n);
        double t0 = now_seconds();
        int samples = 1000;
        for (int i = 0; i < samples; i++) {
            int32_t t = sampler_sample(s, logits);
            bool in = false;
            for (int j = 0; j < n && !in; j++) in = ids[j] == t;
            EXPECT(in, "draw %d: token %d not among the candidates", i, t);
        }
        double ms = (now_seconds() - t0) * 1000;
        printf("    # top_k 40 + penalty: %d samples in %.1f ms (%.3f ms each)\n", samples, ms,
               ms / samples);
        sampler_free(s);
    }
    /* top_k off: top_p walks a heap of the whole vocabulary; check against the reference */
    p = params(1.0f, 0, 0.95f, 0.0f);
    s = make(&p, N);
    if (s) {
        double t0 = now_seconds();
        int samples = 20;
        for (int i = 0; i < samples; i++) sampler_sample(s, logits);
        double ms = (now_seconds() - t0) * 1000;
        int32_t *cids = malloc(N * sizeof *cids);
        int n = sampler_candidates(s, logits, cids, NULL, N);
        int m = reference_chain(logits, N, &p, ref_ids, ref_probs);
        EXPECT(n == m && memcmp(cids, ref_ids, (size_t)n * sizeof *cids) == 0,
               "top_p 0.95 without top_k: %d candidates, reference %d", n, m);
        printf("    # top_k off, top_p 0.95 (%d of %d tokens kept): %d samples in %.1f ms\n", n,
               N, samples, ms);
        free(cids);
        sampler_free(s);
    }
    free(logits);
    free(ref_ids);
    free(ref_probs);
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * JSON reader
 * ------------------------------------------------------------------------------------- */

static void test_json_values(void) {
    TEST_BEGIN("json: values, escapes, surrogate pairs, numbers");
    const char *doc =
        " {\"a\": [1, -0, 2.5e3, -1.25E-2, 0.5, 1e400],\n"
        "  \"s\": \"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\\u0000z\",\n"
        "  \"t\": true, \"f\": false, \"n\": null, \"o\": {}, \"e\": [],\n"
        "  \"dup\": 1, \"dup\": 2, \"x\": [NaN, Infinity, -Infinity], \"raw\": \"\xc3\xa9\"} ";
    char err[GEMMA_ERR_LEN] = "";
    json_value *v = json_parse(doc, strlen(doc), err);
    EXPECT(v == NULL && strstr(err, "unexpected 'N'"), "NaN accepted by the strict reader");
    json_free(v);
    v = json_parse_lenient(doc, strlen(doc), err);
    EXPECT(v != NULL, "parse failed: %s", err);
    if (v) {
        const json_value *a = json_get(v, "a");
        EXPECT(json_typeof(v) == JSON_OBJECT && json_len(v) == 11, "object of %zu", json_len(v));
        EXPECT(json_len(a) == 6 && json_num(json_at(a, 0)) == 1 && json_num(json_at(a, 1)) == 0 &&
               signbit(json_num(json_at(a, 1))) && json_num(json_at(a, 2)) == 2500 &&
               json_num(json_at(a, 3)) == -0.0125 && json_num(json_at(a, 4)) == 0.5 &&
               isinf(json_num(json_at(a, 5))), "numbers");
        const char want[] = "q\"b\\s/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
        const json_value *str = json_get(v, "s");
        EXPECT(json_str_len(str) == sizeof want - 1 &&
               memcmp(json_str(str), want, sizeof want) == 0, "string decoded to %zu bytes",
               json_str_len(str));
        EXPECT(json_typeof(json_get(v, "t")) == JSON_BOOL && json_bool(json_get(v, "t")) &&
               !json_bool(json_get(v, "f")) && json_typeof(json_get(v, "n")) == JSON_NULL &&
               json_get(v, "n") != NULL, "true/false/null");
        EXPECT(json_typeof(json_get(v, "o")) == JSON_OBJECT && json_len(json_get(v, "o")) == 0 &&
               json_typeof(json_get(v, "e")) == JSON_ARRAY, "empty containers");
        EXPECT(json_num(json_get(v, "dup")) == 2, "last duplicate key wins");
        const json_value *x = json_get(v, "x");
        EXPECT(isnan(json_num(json_at(x, 0))) && json_num(json_at(x, 1)) == INFINITY &&
               json_num(json_at(x, 2)) == -INFINITY, "NaN / Infinity");
        EXPECT(strcmp(json_str(json_get(v, "raw")), "\xc3\xa9") == 0, "raw UTF-8 kept");
        EXPECT(strcmp(json_key_at(v, 1), "s") == 0 && json_key_at(v, 11) == NULL, "keys");
        /* wrong types and absent things are quiet */
        EXPECT(json_get(v, "missing") == NULL && json_at(a, 6) == NULL && json_str(a) == NULL &&
               isnan(json_num(str)) && json_len(str) == 0 && json_get(a, "a") == NULL &&
               json_at(NULL, 0) == NULL, "accessors on the wrong type");
    }
    json_free(v);
    /* not NUL-terminated: only len bytes are read */
    char buf[4] = {'1', '2', '3', '4'};
    v = json_parse(buf, 2, err);
    EXPECT(v && json_num(v) == 12, "length not honoured");
    json_free(v);
    TEST_END();
}

static void test_json_malformed(void) {
    TEST_BEGIN("json: malformed input is rejected with a message");
    const char *bad[] = {
        "", "   ", "{", "[", "[1,]", "[,1]", "{\"a\":}", "{\"a\" 1}", "{1:2}", "{\"a\":1,}",
        "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"a\nb\"", "\"a\\", "01", "1.", ".5", "-", "1e", "1e+", "+1",
        "--1", "tru", "nul", "falsey", "[1 2]", "[]]", "{}{}", "nan", "-NaN", "[1,\"a\":2]",
        "{\"a\":1 \"b\":2}", "\x01", "[\"\xff\" \xfe]", "\"\xff\"", "\"\xc3\"", "\"\xc0\x80\"",
        "\"\xed\xa0\x80\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[GEMMA_ERR_LEN] = "";
        json_value *v = json_parse(bad[i], strlen(bad[i]), err);
        EXPECT(v == NULL && strncmp(err, "json: line ", 11) == 0, "accepted '%s' (err '%s')",
               bad[i], err);
        json_free(v);
    }
    /* a NUL byte inside the text is just a bad character */
    json_value *v = json_parse("[1,\0 2]", 7, NULL);
    EXPECT(v == NULL, "NUL accepted");
    json_free(v);
    /* nesting: JSON_MAX_DEPTH levels parse, one more (or 100000) is refused without a
     * stack overflow */
    const size_t depths[3] = {JSON_MAX_DEPTH, JSON_MAX_DEPTH + 1, 100000};
    char *text = malloc(2 * depths[2]);
    for (int i = 0; i < 3; i++) {
        size_t depth = depths[i];
        memset(text, '[', depth);
        memset(text + depth, ']', depth);
        char err[GEMMA_ERR_LEN] = "";
        v = json_parse(text, 2 * depth, err);
        EXPECT((v != NULL) == (depth <= JSON_MAX_DEPTH), "depth %zu: %s", depth, err);
        json_free(v);
    }
    free(text);
    TEST_END();
}

/* A fixture's text: every prefix but the whole must fail, and random byte changes must
 * never crash (the sanitizer build checks the memory side). */
static void test_json_damage(void) {
    TEST_BEGIN("json: truncated and corrupted fixture text fails cleanly");
    size_t len = 0;
    char *text = read_file(fixture_path("models/gemma3-q4_k.json"), &len);
    if (!text) {
        TEST_END();
        test_skip("json damage: no fixture %s", fixture_path("models/gemma3-q4_k.json"));
        return;
    }
    char err[GEMMA_ERR_LEN];
    /* the text ends with "}\n" or "}": a prefix ending at or after the brace still parses */
    size_t end = len;
    while (end > 0 && text[end - 1] != '}') end--;
    int accepted = 0;
    for (size_t n = 0; n < end; n++) {
        json_value *v = json_parse(text, n, err);
        accepted += v != NULL;
        json_free(v);
    }
    EXPECT(accepted == 0, "%d truncations accepted", accepted);
    json_value *whole = json_parse(text, len, err);
    EXPECT(whole != NULL, "fixture rejected: %s", err);
    json_free(whole);
    sampler_rng r;
    rng_seed(&r, 3);
    char *copy = malloc(len);
    const char junk[] = "{}[],:\"\\u0 1e-.tfn\x80\xff";
    for (int trial = 0; trial < 2000; trial++) {
        memcpy(copy, text, len);
        int edits = 1 + (int)(rng_next(&r) % 4);
        for (int e = 0; e < edits; e++)
            copy[rng_next(&r) % len] = junk[rng_next(&r) % (sizeof junk - 1)];
        json_value *v = json_parse(copy, len, err);
        json_free(v);
    }
    free(copy);
    free(text);
    TEST_END();
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each models/NAME.json: ids are integers, and the logits file holds len(ids) rows of
 * n_vocab floats (one row when logits_rows is "last"). */
static void check_model_fixture(const char *name) {
    TEST_BEGIN("json: fixture models/%s agrees with its logits file", name);
    char rel[600];
    snprintf(rel, sizeof rel, "models/%s", name);
    size_t len = 0;
    char *text = read_file(fixture_path(rel), &len);
    EXPECT(text != NULL, "cannot read %s", fixture_path(rel));
    char err[GEMMA_ERR_LEN] = "";
    json_value *doc = text ? json_parse(text, len, err) : NULL;
    EXPECT(!text || doc, "%s: %s", name, err);
    if (doc) {
        const json_value *ids = json_get(doc, "ids");
        double n_vocab = json_num(json_get(doc, "n_vocab"));
        const char *logits = json_str(json_get(doc, "logits"));
        const char *rows_kind = json_str(json_get(doc, "logits_rows"));
        EXPECT(json_typeof(ids) == JSON_ARRAY && json_len(ids) > 0, "ids missing");
        for (size_t i = 0; i < json_len(ids); i++) {
            double id = json_num(json_at(ids, i));
            EXPECT(id >= 0 && id < n_vocab && id == floor(id), "ids[%zu] = %g", i, id);
        }
        EXPECT(n_vocab > 0 && n_vocab == floor(n_vocab), "n_vocab %g", n_vocab);
        EXPECT(logits != NULL, "logits file name missing");
        EXPECT(!rows_kind || strcmp(rows_kind, "last") == 0, "logits_rows '%s'", rows_kind);
        struct stat st;
        if (logits && n_vocab > 0) {
            snprintf(rel, sizeof rel, "models/%s", logits);
            bool found = stat(fixture_path(rel), &st) == 0;
            EXPECT(found, "no logits file %s", fixture_path(rel));
            if (found) {
                double row_bytes = n_vocab * 4;
                double rows = (double)st.st_size / row_bytes;
                double want = rows_kind ? 1 : (double)json_len(ids);
                EXPECT(rows == want, "%s: %lld bytes = %g rows of %g, expected %g rows", logits,
                       (long long)st.st_size, rows, n_vocab, want);
            }
        }
        const json_value *greedy = json_get(doc, "greedy");
        if (greedy) {
            EXPECT(json_len(json_get(greedy, "prompt_ids")) > 0 &&
                   json_len(json_get(greedy, "ids")) > 0, "greedy without ids");
        }
    }
    json_free(doc);
    free(text);
    TEST_END();
}

static void test_model_fixtures(void) {
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s", fixture_path("models"));
    DIR *dir = opendir(dir_path);
    if (!dir) {
        test_skip("json: no fixture directory %s", dir_path);
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, compare_names);
    if (n == 0) test_skip("json: no fixture .json files in %s", dir_path);
    for (int i = 0; i < n; i++) {
        check_model_fixture(names[i]);
        free(names[i]);
    }
}

void suite_sampler(void) {
    test_defaults_and_errors();
    test_rng();
    test_greedy();
    test_top_k_1_is_greedy();
    test_seeds();
    test_frequencies();
    test_top_k();
    test_top_p();
    test_min_p();
    test_temperature();
    test_repeat_penalty();
    test_repeat_window();
    test_suppress();
    test_odd_logits();
    test_against_reference();
    test_big_vocab();
    test_json_values();
    test_json_malformed();
    test_json_damage();
    test_model_fixtures();
}
