/* sampler.h - pick the next token from a row of logits.
 *
 * The chain is llama.cpp's default one (common_params_sampling), minus the samplers that are
 * off by default (dry, top_n_sigma, typical_p, xtc):
 *
 *   suppress -> repeat penalty -> top_k -> top_p -> min_p -> temperature -> softmax -> draw
 *
 *   suppress        tokens listed with sampler_set_suppress() get logit -inf (Gemma 4's
 *                   tokenizer.ggml.suppress_tokens; llama.cpp does it with a logit bias,
 *                   which also comes first in its chain).
 *   repeat penalty  every distinct token among the last repeat_last_n accepted tokens, once:
 *                   logit > 0 ? logit / penalty : logit * penalty.
 *   top_k           keep the k largest logits.
 *   top_p           keep the smallest prefix (by descending logit) whose probability mass,
 *                   softmax over the tokens top_k kept and BEFORE temperature, is >= top_p.
 *   min_p           keep tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p).
 *   temperature     divide the kept logits by temp.
 *   draw            softmax over the kept tokens and one uniform draw from the sampler's RNG.
 *
 * temp <= 0 is greedy: the argmax after suppress and penalty (ties -> lowest id). That is
 * what llama.cpp's chain gives too (its temperature step keeps only the max logit, which
 * every earlier filter keeps).
 * Every filter keeps at least one token. Ties between equal logits are broken by the lower
 * token id, so a run is a pure function of (seed, logits, accepted tokens).
 *
 * The RNG is xoshiro256** seeded through splitmix64: the same seed gives the same tokens on
 * every platform (llama.cpp uses std::mt19937, so its random streams are not reproduced). */
#ifndef GEMMA_SAMPLER_H
#define GEMMA_SAMPLER_H

#include <stdint.h>

#include "grammar_match.h"

/* ---- random numbers ---- */

typedef struct { uint64_t s[4]; } sampler_rng;

void rng_seed(sampler_rng *r, uint64_t seed);   /* state = 4 outputs of splitmix64(seed) */
uint64_t rng_next(sampler_rng *r);              /* xoshiro256** */
double rng_uniform(sampler_rng *r);             /* [0, 1), 53 random bits */
float rng_uniformf(sampler_rng *r);             /* [0, 1), 24 random bits */

/* ---- the sampler ---- */

/* A seed meaning "pick one from the clock"; sampler_seed() tells which one was used, a
 * number below SAMPLER_SEED_CLOCK_LIMIT (2^32 - 1: llama.cpp's -s range without its
 * "random" value 0xFFFFFFFF). */
#define SAMPLER_SEED_RANDOM UINT64_MAX
#define SAMPLER_SEED_CLOCK_LIMIT 0xFFFFFFFFull

typedef struct {
    float temp;            /* 0.8;  <= 0: greedy */
    int top_k;             /* 40;   <= 0 (or >= n_vocab): off */
    float top_p;           /* 0.95; >= 1: off */
    float min_p;           /* 0.05; <= 0: off */
    float repeat_penalty;  /* 1.0 = off; must be > 0 */
    int repeat_last_n;     /* 64;   0: off; < 0: every token accepted since the last reset
                              (llama.cpp's -1 means "context size", the same thing when the
                              caller resets with the context) */
    uint64_t seed;         /* SAMPLER_SEED_RANDOM: from the clock */
} sampler_params;

typedef struct gemma_sampler sampler;   /* the API's opaque gemma_sampler (gemma.h) */

/* llama.cpp's CLI defaults (see the fields above); seed = SAMPLER_SEED_RANDOM. */
void sampler_params_default(sampler_params *p);

/* All scratch space is allocated here (a few bytes per vocabulary entry); sampling does not
 * allocate. Returns NULL with a message in err (GEMMA_ERR_LEN bytes) on bad parameters. */
sampler *sampler_new(const sampler_params *p, int n_vocab, char *err);
void sampler_free(sampler *s);

/* The seed in use (the resolved one when SAMPLER_SEED_RANDOM was asked for). */
uint64_t sampler_seed(const sampler *s);

/* Tokens that are never sampled (replaces the previous list; ids out of range ignored). */
void sampler_set_suppress(sampler *s, const int32_t *ids, int n);

/* Add a token to the history the repeat penalty looks at (prompt tokens too, as llama.cpp's
 * CLI does). Ids out of range are ignored. */
void sampler_accept(sampler *s, int32_t token);

/* Forget the history and restart the RNG: the fixed seed again, or a fresh clock seed when
 * the parameters asked for SAMPLER_SEED_RANDOM (as llama.cpp's dist sampler does). */
void sampler_reset(sampler *s);

/* The next token for one row of n_vocab logits (not modified). Does not accept the token:
 * call sampler_accept() with it. If every token is impossible (all -inf), returns the
 * lowest id among the candidates left. NaN logits count as -inf, +inf as FLT_MAX. */
int32_t sampler_sample(sampler *s, const float *logits);

/* ---- grammar-constrained sampling ----
 * With a grammar matcher attached, sampler_sample() returns only tokens the matcher allows
 * (gmatch_allows_token). The chain runs as usual, then its candidates are tried in the order
 * of the draw: a draw without replacement (greedy: rank order) until one is allowed, at most
 * SAMPLER_GRAMMAR_TRIES of them. Only when none of those fits is the whole vocabulary checked
 * (gmatch_allowed_tokens), the other tokens set to -inf and the chain run again on that row.
 * The matcher is not advanced: the caller accepts the token it keeps (gmatch_accept_token),
 * as it calls sampler_accept(). */
#define SAMPLER_GRAMMAR_TRIES 64
#define SAMPLER_NO_TOKEN (-1)    /* the grammar allows no token at all */

/* m and v stay the caller's; NULL m: no grammar. */
void sampler_set_grammar(sampler *s, gmatch *m, const gmatch_vocab *v);

typedef struct {
    uint64_t n_samples;          /* sampler_sample() calls */
    double sample_s;             /* time in them, grammar work included */
    double grammar_s;            /* of which in the grammar's checks */
    uint64_t n_grammar_checks;   /* candidates checked one by one */
    uint64_t n_grammar_fallbacks;/* times the whole vocabulary was checked */
} sampler_stats;
void sampler_get_stats(const sampler *s, sampler_stats *st);

/* The tokens the chain would draw from for these logits and their final probabilities,
 * sorted by descending probability (ties: lower id first); no random number is used.
 * Writes min(count, cap) entries (ids or probs may be NULL) and returns the count. For
 * inspection and tests. */
int sampler_candidates(sampler *s, const float *logits, int32_t *ids, float *probs, int cap);

#endif
