/* sampler.c - llama.cpp's default sampling chain over one row of logits (see sampler.h).
 *
 * Cost per token for a 262144-entry vocabulary: a copy of the row when tokens are suppressed
 * or penalised, one pass keeping the top_k best in a k-entry heap, then work on k entries.
 * Without top_k the top_p step pops a heap of the whole vocabulary only as far as the
 * probability mass needs, instead of sorting it. No allocation after sampler_new(). */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* ---------------------------------------------------------------------------------------
 * Random numbers: xoshiro256** (Blackman & Vigna), state filled by splitmix64.
 * ------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Four consecutive splitmix64 outputs are distinct, so the state is never all zero. */
void rng_seed(sampler_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(sampler_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* The top bits are the best ones of xoshiro256**; k bits / 2^k is exact and < 1. */
double rng_uniform(sampler_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
float rng_uniformf(sampler_rng *r) { return (float)(rng_next(r) >> 40) * 0x1.0p-24f; }

/* Mix the wall clock, the monotonic clock, the pid and a counter (two samplers made in the
 * same nanosecond still differ), into [0, 2^32 - 1): a seed the CLI's -s accepts and
 * reports exactly (JSON numbers are exact below 2^53). */
static uint64_t clock_seed(void) {
    static uint64_t counter;
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    uint64_t x = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
    x ^= ((uint64_t)mono.tv_nsec << 21) ^ ((uint64_t)getpid() << 40);
    x += ++counter * 0xD1B54A32D192ED03ull;
    return splitmix64(&x) % SAMPLER_SEED_CLOCK_LIMIT;
}

/* ---------------------------------------------------------------------------------------
 * Candidates: (logit, id) pairs, ranked by larger logit first, then lower id.
 * ------------------------------------------------------------------------------------- */

typedef struct { float logit; int32_t id; } candidate;

static inline bool ranks_before(candidate a, candidate b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

/* Binary heap over h[0..n). best_on_top: the best-ranked at the root (to pop in rank
 * order); otherwise the worst at the root (to keep the k best seen so far). */
static inline bool heap_above(candidate a, candidate b, bool best_on_top) {
    return best_on_top ? ranks_before(a, b) : ranks_before(b, a);
}

static void sift_down(candidate *h, int n, int i, bool best_on_top) {
    candidate x = h[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_above(h[c + 1], h[c], best_on_top)) c++;
        if (!heap_above(h[c], x, best_on_top)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void heapify(candidate *h, int n, bool best_on_top) {
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(h, n, i, best_on_top);
}

static int compare_rank(const void *pa, const void *pb) {
    candidate a = *(const candidate *)pa, b = *(const candidate *)pb;
    return ranks_before(a, b) ? -1 : ranks_before(b, a) ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------
 * The sampler
 * ------------------------------------------------------------------------------------- */

#define MAX_REPEAT_LAST_N (1 << 24)
#define BEST_GUESS 256        /* top_p without top_k: first try this many best tokens */

struct gemma_sampler {
    sampler_params p;
    int n_vocab;
    uint64_t seed;            /* resolved seed */
    sampler_rng rng;

    float *work;              /* [n_vocab] the row after suppress and penalty; later the
                                 unnormalised probabilities of the candidates */
    candidate *cand;          /* [n_vocab] what the chain still keeps: cand[0..n_cand) */
    candidate *best;          /* [BEST_GUESS] scratch of top_p_within_best() */
    int n_cand;
    bool sorted;              /* cand[0..n_cand) is in rank order */

    int32_t *suppress;
    int n_suppress;

    /* Repeat-penalty history, allocated only when the penalty is on. A ring of the last
     * ring_cap tokens (none when the window is unbounded), a count per token, and the
     * distinct tokens with count > 0 so the penalty touches each exactly once. */
    bool penalize;
    int32_t *ring;
    int ring_cap, ring_len, ring_head;
    int32_t *count;           /* [n_vocab] */
    int32_t *seen;            /* distinct tokens in the window */
    int32_t *seen_pos;        /* [n_vocab] index of a token in seen (when count > 0) */
    int n_seen;

    gmatch *grammar;          /* the caller's, NULL: unconstrained */
    const gmatch_vocab *grammar_vocab;
    uint8_t *allowed;         /* [n_vocab] the grammar's verdicts in a fallback */
    sampler_stats stats;
};

void sampler_params_default(sampler_params *p) {
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = SAMPLER_SEED_RANDOM;
}

sampler *sampler_new(const sampler_params *p, int n_vocab, char *err) {
    if (n_vocab <= 0) {
        set_err(err, "sampler: n_vocab %d must be positive", n_vocab);
        return NULL;
    }
    if (isnan(p->temp) || isnan(p->top_p) || isnan(p->min_p) || isnan(p->repeat_penalty)) {
        set_err(err, "sampler: temp, top_p, min_p and repeat_penalty must be numbers");
        return NULL;
    }
    if (!(p->repeat_penalty > 0)) {
        set_err(err, "sampler: repeat_penalty %g must be > 0 (1 = off)", (double)p->repeat_penalty);
        return NULL;
    }
    if (p->repeat_last_n > MAX_REPEAT_LAST_N) {
        set_err(err, "sampler: repeat_last_n %d is too large (max %d; -1 = whole history)",
                p->repeat_last_n, MAX_REPEAT_LAST_N);
        return NULL;
    }
    sampler *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->n_vocab = n_vocab;
    s->work = xmalloc((size_t)n_vocab * sizeof *s->work);
    s->cand = xmalloc((size_t)n_vocab * sizeof *s->cand);
    s->best = xmalloc(BEST_GUESS * sizeof *s->best);
    s->penalize = p->repeat_penalty != 1.0f && p->repeat_last_n != 0;
    if (s->penalize) {
        s->ring_cap = p->repeat_last_n > 0 ? p->repeat_last_n : 0;
        int max_seen = s->ring_cap > 0 && s->ring_cap < n_vocab ? s->ring_cap : n_vocab;
        if (s->ring_cap > 0) s->ring = xmalloc((size_t)s->ring_cap * sizeof *s->ring);
        s->count = xcalloc((size_t)n_vocab, sizeof *s->count);
        s->seen = xmalloc((size_t)max_seen * sizeof *s->seen);
        s->seen_pos = xmalloc((size_t)n_vocab * sizeof *s->seen_pos);
    }
    s->seed = p->seed == SAMPLER_SEED_RANDOM ? clock_seed() : p->seed;
    rng_seed(&s->rng, s->seed);
    return s;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->cand);
    free(s->best);
    free(s->suppress);
    free(s->ring);
    free(s->count);
    free(s->seen);
    free(s->seen_pos);
    free(s->allowed);
    free(s);
}

uint64_t sampler_seed(const sampler *s) { return s->seed; }

void sampler_set_suppress(sampler *s, const int32_t *ids, int n) {
    free(s->suppress);
    s->suppress = NULL;
    s->n_suppress = 0;
    if (n <= 0 || !ids) return;
    s->suppress = xmalloc((size_t)n * sizeof *s->suppress);
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < s->n_vocab) s->suppress[s->n_suppress++] = ids[i];
}

/* ---- history ---- */

static void history_add(sampler *s, int32_t t) {
    if (s->count[t] == 0) {
        s->seen_pos[t] = s->n_seen;
        s->seen[s->n_seen++] = t;
    }
    if (s->count[t] < INT32_MAX) s->count[t]++;  /* only ever > 0 matters when unbounded */
}

static void history_drop(sampler *s, int32_t t) {
    if (--s->count[t] > 0) return;
    int32_t last = s->seen[--s->n_seen];     /* swap-remove t from the distinct list */
    s->seen[s->seen_pos[t]] = last;
    s->seen_pos[last] = s->seen_pos[t];
}

void sampler_accept(sampler *s, int32_t token) {
    if (!s->penalize || token < 0 || token >= s->n_vocab) return;
    if (s->ring_cap > 0) {
        if (s->ring_len == s->ring_cap) {    /* full: the oldest leaves the window */
            history_drop(s, s->ring[s->ring_head]);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % s->ring_cap;
        } else {
            s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = token;
            s->ring_len++;
        }
    }
    history_add(s, token);
}

void sampler_reset(sampler *s) {
    if (s->penalize) {
        for (int i = 0; i < s->n_seen; i++) s->count[s->seen[i]] = 0;
        s->n_seen = 0;
        s->ring_len = 0;
        s->ring_head = 0;
    }
    if (s->p.seed == SAMPLER_SEED_RANDOM) s->seed = clock_seed();
    rng_seed(&s->rng, s->seed);
}

/* ---- the chain ---- */

/* The row the chain reads: the caller's logits as they are when nothing needs changing,
 * else a copy in work with suppressed tokens at -inf and the repeat penalty applied to each
 * distinct token of the window (after suppress, as llama.cpp's logit bias comes first;
 * -inf stays -inf). NaN and +inf are left for clean_logit() where values are read. */
static const float *prepare_logits(sampler *s, const float *logits) {
    if (s->n_suppress == 0 && s->n_seen == 0) return logits;
    float *w = s->work;
    memcpy(w, logits, (size_t)s->n_vocab * sizeof *w);
    for (int i = 0; i < s->n_suppress; i++) w[s->suppress[i]] = -INFINITY;
    float pen = s->p.repeat_penalty;
    for (int i = 0; i < s->n_seen; i++) {
        float *v = &w[s->seen[i]];
        *v = *v > 0 ? *v / pen : *v * pen;
    }
    return w;
}

/* NaN -> -inf (never chosen), +inf -> FLT_MAX (so max - max is 0, not inf - inf). */
static inline float clean_logit(float v) {
    return v > FLT_MAX ? FLT_MAX : v == v ? v : -INFINITY;
}

/* Both scans over the whole row below skip blocks holding nothing above the current bar
 * with this branch-free test, which the compiler vectorises; a plain compare-and-keep loop
 * runs at the latency of a conditional move instead (8x slower here). */
enum { SCAN_BLOCK = 256 };

static inline bool any_above(const float *x, float bar) {
    int above = 0;
    for (int j = 0; j < SCAN_BLOCK; j++) above |= x[j] > bar;
    return above != 0;
}

/* Lowest id among the largest values (NaN never compares larger; all NaN/-inf gives 0). */
static int32_t argmax(const float *row, int n) {
    int32_t best = 0;
    float max = -INFINITY;
    for (int i = 0; i < n;) {
        int end = i + SCAN_BLOCK <= n ? i + SCAN_BLOCK : n;
        if (end - i == SCAN_BLOCK && !any_above(row + i, max)) {
            i = end;
            continue;
        }
        for (; i < end; i++) {
            if (row[i] > max) {
                max = row[i];
                best = i;
            }
        }
    }
    return best;
}

/* top_k: the k best into cand[0..k) in rank order, via a k-entry heap whose root is the
 * weakest kept so far. A later id never beats an equal logit, so one '>' against the root
 * rejects almost every token (NaN included); the cleaned value is checked again for +inf.
 * Off: every token, in id order, unsorted. */
static void keep_best(sampler *s, const float *row, int k) {
    int n = s->n_vocab;
    candidate *h = s->cand;
    if (k <= 0 || k >= n) {
        for (int i = 0; i < n; i++) h[i] = (candidate){clean_logit(row[i]), i};
        s->n_cand = n;
        s->sorted = false;
        return;
    }
    for (int i = 0; i < k; i++) h[i] = (candidate){clean_logit(row[i]), i};
    heapify(h, k, false);
    for (int i = k; i < n;) {
        int end = i + SCAN_BLOCK <= n ? i + SCAN_BLOCK : n;
        if (end - i == SCAN_BLOCK && !any_above(row + i, h[0].logit)) {
            i = end;
            continue;
        }
        for (; i < end; i++) {
            if (row[i] > h[0].logit) {
                float v = clean_logit(row[i]);
                if (!(v > h[0].logit)) continue;
                h[0] = (candidate){v, i};
                sift_down(h, k, 0, false);
            }
        }
    }
    /* heap sort: moving the weakest to the back leaves cand[0..k) best first */
    for (int end = k - 1; end > 0; end--) {
        candidate t = h[0];
        h[0] = h[end];
        h[end] = t;
        sift_down(h, end, 0, false);
    }
    s->n_cand = k;
    s->sorted = true;
}

static void keep_top_k(sampler *s, const float *row) { keep_best(s, row, s->p.top_k); }

static float max_logit(const sampler *s) {
    if (s->sorted) return s->cand[0].logit;
    float m = -INFINITY;
    for (int i = 0; i < s->n_cand; i++)
        if (s->cand[i].logit > m) m = s->cand[i].logit;
    return m;
}

/* The BEST_GUESS best candidates into s->best in rank order (a k-entry heap, as top_k),
 * then walk them; returns the prefix length that reaches target, or 0 if they do not (on
 * real logits they nearly always do, and this skips ordering the whole vocabulary). */
static int top_p_within_best(sampler *s, float max, double target) {
    const candidate *c = s->cand;
    candidate *h = s->best;
    int n = s->n_cand, k = BEST_GUESS < n ? BEST_GUESS : n;
    memcpy(h, c, (size_t)k * sizeof *h);
    heapify(h, k, false);
    for (int i = k; i < n; i++) {
        if (ranks_before(c[i], h[0])) {
            h[0] = c[i];
            sift_down(h, k, 0, false);
        }
    }
    for (int end = k - 1; end > 0; end--) {
        candidate t = h[0];
        h[0] = h[end];
        h[end] = t;
        sift_down(h, end, 0, false);
    }
    double cum = 0;
    for (int i = 0; i < k; i++) {
        cum += expf(h[i].logit - max);
        if (cum >= target) return i + 1;
    }
    return 0;
}

/* top_p: the shortest rank-order prefix holding >= top_p of the probability mass, with
 * probabilities = softmax over the current candidates at temperature 1. When unsorted,
 * first look among the BEST_GUESS best (llama.cpp guesses 256 the same way), else pop a
 * best-on-top heap only as far as needed (popped entries collect at the back, best last)
 * and move that prefix to the front. Either way the running sum adds the same terms in
 * the same order, so the cut is the same. */
static void keep_top_p(sampler *s, float max) {
    candidate *c = s->cand;
    int n = s->n_cand;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += expf(c[i].logit - max);
    double target = (double)s->p.top_p * sum, cum = 0;
    int m = 0;
    if (s->sorted) {
        while (m < n) {
            cum += expf(c[m++].logit - max);
            if (cum >= target) break;
        }
    } else if ((m = top_p_within_best(s, max, target)) > 0) {
        memcpy(c, s->best, (size_t)m * sizeof *c);
        s->sorted = true;
    } else {
        m = 0;
        heapify(c, n, true);
        int heap_n = n;
        while (heap_n > 0) {
            candidate top = c[0];
            c[0] = c[--heap_n];
            c[heap_n] = top;
            sift_down(c, heap_n, 0, true);
            m++;
            cum += expf(top.logit - max);
            if (cum >= target) break;
        }
        for (int i = n - m, j = n - 1; i < j; i++, j--) {   /* best first */
            candidate t = c[i];
            c[i] = c[j];
            c[j] = t;
        }
        memmove(c, c + (n - m), (size_t)m * sizeof *c);
        s->sorted = true;
    }
    s->n_cand = m;
}

/* min_p: keep logit >= max + log(min_p) (p >= min_p * p_max), and always the best. */
static void keep_min_p(sampler *s, float max) {
    candidate *c = s->cand;
    float threshold = max + logf(s->p.min_p);
    if (s->sorted) {
        int m = 1;
        while (m < s->n_cand && c[m].logit >= threshold) m++;
        s->n_cand = m;
        return;
    }
    int m = 0;
    candidate best = c[0];
    for (int i = 0; i < s->n_cand; i++) {
        if (ranks_before(c[i], best)) best = c[i];
        if (c[i].logit >= threshold) c[m++] = c[i];
    }
    if (m == 0) c[m++] = best;     /* min_p > 1: nothing reaches the bar */
    s->n_cand = m;
}

/* Run top_k, top_p, min_p on the row and leave the survivors in cand[0..n_cand), then their
 * unnormalised probabilities exp((logit - max) / temp) in work[0..n_cand); returns their
 * sum. Requires temp > 0. */
static double run_chain(sampler *s, const float *row) {
    keep_top_k(s, row);   /* from here on work is free: it holds the probabilities */
    float max = max_logit(s);
    if (max == -INFINITY) {   /* nothing possible: cand[0] is the lowest id either way */
        s->n_cand = 1;
        s->work[0] = 1;
        return 1;
    }
    if (s->p.top_p < 1.0f && s->n_cand > 1) keep_top_p(s, max);
    if (s->p.min_p > 0.0f && s->n_cand > 1) keep_min_p(s, max);
    /* temperature: (logit - max) / temp rather than logit / temp - max / temp, so a tiny
     * temperature cannot overflow to inf - inf */
    double sum = 0;
    for (int i = 0; i < s->n_cand; i++) {
        float e = expf((s->cand[i].logit - max) / s->p.temp);
        s->work[i] = e;
        sum += e;
    }
    return sum;
}

/* inverse CDF over the candidates' weights work[0..n_cand) summing to sum: the first
 * candidate whose running sum passes u * sum; if rounding keeps u * sum out of reach, the
 * last candidate that has any weight. Returns its index in cand. */
static int draw(sampler *s, double sum) {
    double target = rng_uniform(&s->rng) * sum, cum = 0;
    int last = 0;
    for (int i = 0; i < s->n_cand; i++) {
        if (s->work[i] <= 0) continue;
        last = i;
        cum += s->work[i];
        if (cum > target) return i;
    }
    return last;
}

static int32_t sample_row(sampler *s, const float *row) {
    if (!(s->p.temp > 0)) return argmax(row, s->n_vocab);
    double sum = run_chain(s, row);
    return s->cand[draw(s, sum)].id;
}

static bool grammar_allows(sampler *s, int32_t id) {
    double t0 = now_seconds();
    bool ok = gmatch_allows_token(s->grammar, s->grammar_vocab, id);
    s->stats.grammar_s += now_seconds() - t0;
    s->stats.n_grammar_checks++;
    return ok;
}

/* The chain's own choice if the grammar allows it, else its next best (greedy) or its next
 * draw without replacement, up to SAMPLER_GRAMMAR_TRIES tokens; -1 if none fits. Drawing
 * without replacement until a token fits gives each allowed candidate its probability
 * conditioned on being allowed. */
static int32_t sample_candidates(sampler *s, const float *row) {
    if (!(s->p.temp > 0)) {
        int32_t best = argmax(row, s->n_vocab);
        if (grammar_allows(s, best)) return best;
        keep_best(s, row, SAMPLER_GRAMMAR_TRIES);
        if (!s->sorted) qsort(s->cand, (size_t)s->n_cand, sizeof *s->cand, compare_rank);
        for (int i = 0; i < s->n_cand && s->cand[i].logit > -INFINITY; i++)   /* not suppressed */
            if (s->cand[i].id != best && grammar_allows(s, s->cand[i].id)) return s->cand[i].id;
        return -1;
    }
    double sum = run_chain(s, row);
    for (int tries = 0; tries < SAMPLER_GRAMMAR_TRIES && sum > 0; tries++) {
        int i = draw(s, sum);
        if (s->work[i] <= 0) break;            /* nothing with weight is left */
        if (grammar_allows(s, s->cand[i].id)) return s->cand[i].id;
        s->work[i] = 0;
        sum = 0;                               /* re-add rather than subtract: no drift */
        for (int k = 0; k < s->n_cand; k++) sum += s->work[k];
    }
    return -1;
}

/* No candidate fits: every token the grammar disallows gets -inf and the chain runs on that
 * row. An allowed token is returned even if its logit is -inf (suppressed): the grammar's
 * word is final. */
static int32_t sample_allowed(sampler *s, const float *logits) {
    s->stats.n_grammar_fallbacks++;
    if (!s->allowed) s->allowed = xmalloc((size_t)s->n_vocab);
    double t0 = now_seconds();
    int n = gmatch_allowed_tokens(s->grammar, s->grammar_vocab, s->allowed);
    s->stats.grammar_s += now_seconds() - t0;
    if (n == 0) return SAMPLER_NO_TOKEN;
    const float *row = prepare_logits(s, logits);
    float *w = s->work;
    if (row != w) memcpy(w, row, (size_t)s->n_vocab * sizeof *w);
    int32_t first = -1;
    bool finite = false;
    for (int i = 0; i < s->n_vocab; i++) {
        if (!s->allowed[i]) w[i] = -INFINITY;
        else {
            if (first < 0) first = i;
            if (clean_logit(w[i]) > -INFINITY) finite = true;
        }
    }
    if (!finite) return first;
    return sample_row(s, w);
}

int32_t sampler_sample(sampler *s, const float *logits) {
    double t0 = now_seconds();
    int32_t id;
    if (!s->grammar) {
        id = sample_row(s, prepare_logits(s, logits));
    } else {
        id = sample_candidates(s, prepare_logits(s, logits));
        if (id < 0) id = sample_allowed(s, logits);
    }
    s->stats.sample_s += now_seconds() - t0;
    s->stats.n_samples++;
    return id;
}

void sampler_set_grammar(sampler *s, gmatch *m, const gmatch_vocab *v) {
    s->grammar = m && v && gmatch_vocab_size(v) == s->n_vocab ? m : NULL;
    s->grammar_vocab = s->grammar ? v : NULL;
}

void sampler_get_stats(const sampler *s, sampler_stats *st) { *st = s->stats; }

int sampler_candidates(sampler *s, const float *logits, int32_t *ids, float *probs, int cap) {
    const float *row = prepare_logits(s, logits);
    if (!(s->p.temp > 0)) {
        if (cap > 0 && ids) ids[0] = argmax(row, s->n_vocab);
        if (cap > 0 && probs) probs[0] = 1.0f;
        return 1;
    }
    double sum = run_chain(s, row);
    /* probabilities decrease with rank, so rank order is the promised order */
    for (int i = 0; i < s->n_cand; i++) s->cand[i].logit = (float)(s->work[i] / sum);
    if (!s->sorted) qsort(s->cand, (size_t)s->n_cand, sizeof *s->cand, compare_rank);
    for (int i = 0; i < s->n_cand && i < cap; i++) {
        if (ids) ids[i] = s->cand[i].id;
        if (probs) probs[i] = s->cand[i].logit;
    }
    return s->n_cand;
}
