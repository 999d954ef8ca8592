/* perplexity.c - `gemma perplexity`: llama.cpp's llama-perplexity for Gemma models.
 *
 *   gemma perplexity -m MODEL -f TEXT [-c 512] [-b N] [-t N] [--chunks N]
 *   gemma perplexity -m BASE.gguf  -f TEXT --kl-divergence-base BASE.kld   (PPL + save)
 *   gemma perplexity -m QUANT.gguf --kl-divergence-base BASE.kld --kl-divergence
 *
 * The method is llama.cpp's, so numbers compare with what its users publish:
 *   - the whole file is tokenized once (BOS prepended when the vocabulary adds one, special
 *     tokens not parsed, one trailing newline of the file dropped as llama.cpp's -f does);
 *   - it is cut into n_chunk = n_tokens / n_ctx chunks of n_ctx tokens (--chunks caps it);
 *     fewer than 2 * n_ctx tokens is an error;
 *   - each chunk is evaluated from an empty KV cache with its first token replaced by BOS,
 *     and only its second half is scored: the logits at positions first = n_ctx/2 ..
 *     n_ctx-2 predict the token after them (the model always has n_ctx/2 tokens of context);
 *   - nll = -log_softmax(logits)[next] in double; PPL = exp(mean nll) and its uncertainty
 *     is PPL * sqrt(var(nll) / (count - 1)) (first-order error propagation of exp).
 * Results (the running "[1]12.3456,[2]..." line and the final estimate) go to stdout,
 * progress and timings to stderr.
 *
 * The KL-divergence file is llama.cpp's, byte for byte, so files interoperate (host byte
 * order, little-endian on every machine we build for):
 *   char[8] "_logits_"; int32 n_ctx; int32 n_vocab; int32 n_chunk;
 *   int32 tokens[n_chunk * n_ctx]                   (as tokenized, not BOS-replaced)
 *   then per chunk, per scored position (n_ctx - 1 - n_ctx/2 of them), one row of
 *   nv = 2*((n_vocab+1)/2) + 4 uint16:
 *     float scale, float min_log_prob             (the first 4 uint16)
 *     uint16 q[n_vocab] (+ one zero pad if n_vocab is odd)
 *   where log_softmax[i] ~= scale * q[i] + min_log_prob over a window of 16 nats below the
 *   top logit (anything lower is stored as q = 0). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static const char LOGITS_MAGIC[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

/* ---------------------------------------------------------------------------------------
 * Arguments */

typedef struct {
    const char *model, *text_path, *logits_path;
    int n_ctx, n_batch, n_threads;
    int n_chunks;         /* -1: every chunk */
    bool ctx_given, kl_divergence;
    gemma_kv_type type_k, type_v;
} ppl_args;

static void usage(void) {
    printf(
        "usage: gemma perplexity -m MODEL.gguf -f TEXT [options]\n"
        "       gemma perplexity -m BASE.gguf -f TEXT --kl-divergence-base BASE.kld\n"
        "       gemma perplexity -m QUANT.gguf --kl-divergence-base BASE.kld --kl-divergence\n"
        "\n"
        "Perplexity of a model on a text, computed as llama.cpp's llama-perplexity does:\n"
        "the text is cut into chunks of -c tokens and the second half of each chunk is\n"
        "scored. With --kl-divergence-base alone the base model's log-probabilities are\n"
        "also saved (llama.cpp's file format); adding --kl-divergence compares another\n"
        "model (a quantization of the same one) against that file instead.\n"
        "Results go to stdout, progress to stderr.\n"
        "\n"
        "options:\n"
        "  -m, --model FILE             model file (GGUF)\n"
        "  -f, --file FILE              text to score ('-' = stdin)\n"
        "  -c, --ctx-size N             tokens per chunk (default 512)\n"
        "  -b, --batch-size N           tokens per forward batch (default 512, at most -c)\n"
        "  -t, --threads N              threads (default: physical cores)\n"
        "  -ctk, --cache-type-k TYPE    KV cache type of the keys: f32, f16, bf16, q8_0 (default f16)\n"
        "  -ctv, --cache-type-v TYPE    KV cache type of the values (the same; default f16)\n"
        "      --chunks N               score at most N chunks (default -1 = all)\n"
        "      --kl-divergence-base F   file of the base model's log-probabilities\n"
        "      --kl-divergence          compare -m against the base file (no -f needed)\n"
        "      --log-disable            no progress on stderr\n"
        "  -h, --help                   this help\n");
}

static void parse_args(int argc, char **argv, ppl_args *a) {
    memset(a, 0, sizeof *a);
    a->n_ctx = 512;
    a->n_chunks = -1;
    a->type_k = a->type_v = GEMMA_KV_F16; /* llama.cpp's default */
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) { usage(); exit(0); }
        else if (!strcmp(s, "-m") || !strcmp(s, "--model")) a->model = arg_value(argc, argv, &i);
        else if (!strcmp(s, "-f") || !strcmp(s, "--file")) a->text_path = arg_value(argc, argv, &i);
        else if (!strcmp(s, "-c") || !strcmp(s, "--ctx-size")) {
            a->n_ctx = (int)parse_int(s, arg_value(argc, argv, &i), 4, 1 << 20);
            a->ctx_given = true;
        }
        else if (!strcmp(s, "-b") || !strcmp(s, "--batch-size") || !strcmp(s, "-ub") || !strcmp(s, "--ubatch-size"))
            a->n_batch = (int)parse_int(s, arg_value(argc, argv, &i), 1, 1 << 16);
        else if (!strcmp(s, "-t") || !strcmp(s, "--threads")) a->n_threads = (int)parse_int(s, arg_value(argc, argv, &i), 1, 1024);
        else if (!strcmp(s, "-ctk") || !strcmp(s, "--cache-type-k")) a->type_k = parse_kv_type(s, arg_value(argc, argv, &i));
        else if (!strcmp(s, "-ctv") || !strcmp(s, "--cache-type-v")) a->type_v = parse_kv_type(s, arg_value(argc, argv, &i));
        else if (!strcmp(s, "--chunks")) {
            a->n_chunks = (int)parse_int(s, arg_value(argc, argv, &i), -1, INT_MAX);
            if (a->n_chunks == 0) die_usage("--chunks 0 scores nothing (use -1 for every chunk)");
        }
        else if (!strcmp(s, "--kl-divergence-base")) a->logits_path = arg_value(argc, argv, &i);
        else if (!strcmp(s, "--kl-divergence")) a->kl_divergence = true;
        else if (!strcmp(s, "--log-disable")) log_enabled = false;
        else die_usage("unknown option '%s' for 'gemma perplexity'", s);
    }
    if (!a->model) die_usage("'gemma perplexity' needs -m MODEL.gguf");
    if (a->kl_divergence && !a->logits_path)
        die_usage("--kl-divergence needs --kl-divergence-base FILE (the base model's saved log-probabilities)");
    if (!a->kl_divergence && !a->text_path) die_usage("'gemma perplexity' needs -f TEXT (the text to score)");
}

/* ---------------------------------------------------------------------------------------
 * Log-softmax of one logits row, in the three flavours llama.cpp uses. They sum exp() in
 * double over float differences from the maximum and keep llama.cpp's float/double mix, so
 * results agree with its output digit for digit on the same logits. */

/* The softmax denominator sum of exp(logit - max), in double over float differences. Never
 * below 1 (the maximum itself contributes exp(0)), so its log is always defined. */
static double sum_exp_from_max(const float *logits, int n_vocab, float max) {
    double sum_exp = 0.0;
    for (int i = 0; i < n_vocab; i++) sum_exp += expf(logits[i] - max);
    return sum_exp;
}

/* Negative log-likelihood of `tok` (plain perplexity). */
static double token_nll(const float *logits, int n_vocab, int tok) {
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++) if (logits[i] > max) max = logits[i];
    return -((logits[tok] - max) - log(sum_exp_from_max(logits, n_vocab, max)));
}

/* llama.cpp's nearest_int: round half to even (what the FPU does by default). */
static uint16_t quantize_step(float x) {
    float r = nearbyintf(x);
    return r <= 0 ? 0 : r >= 65535.f ? 65535 : (uint16_t)r;
}

/* Stores the row's log-softmax as uint16 steps (layout in the file comment) and returns
 * the negative log-likelihood of `tok` (float arithmetic, as llama.cpp's saving path). */
static double quantize_log_probs(const float *logits, int n_vocab, uint16_t *row, int tok) {
    float max = logits[0], min = logits[0];
    for (int i = 1; i < n_vocab; i++) {
        if (logits[i] > max) max = logits[i];
        if (logits[i] < min) min = logits[i];
    }
    if (min < max - 16) min = max - 16; /* below e^-16 the probability does not matter */
    const float log_sum_exp = (float)log(sum_exp_from_max(logits, n_vocab, max));
    const float min_log_prob = min - max - log_sum_exp;
    const float scale = (max - min) / 65535.f;
    memcpy(row, &scale, sizeof scale);
    memcpy(row + 2, &min_log_prob, sizeof min_log_prob);
    uint16_t *q = row + 4;
    memset(q, 0, (size_t)(2 * ((n_vocab + 1) / 2)) * sizeof *q);
    if (scale != 0) {
        const float inv_scale = 1.0f / scale;
        for (int i = 0; i < n_vocab; i++)
            if (logits[i] > min) q[i] = quantize_step(inv_scale * (logits[i] - min));
    }
    return max + log_sum_exp - logits[tok];
}

/* Running sums of the KL-divergence comparison (llama.cpp's kl_divergence_result). */
typedef struct {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2;
    double sum_p_diff, sum_p_diff2, sum_p_diff4;
    float max_p_diff;
    size_t n_same_top, count;
} kld_stats;

/* Compares one row of logits with the base model's stored row: adds nll, KL(base || this),
 * Δp (probability of the true token, this minus base) and top-1 agreement to *k. */
static void compare_row(const float *logits, int n_vocab, const uint16_t *base_row, int tok,
                        kld_stats *k, float *kld_out, float *p_diff_out) {
    float max = logits[0];
    int imax = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max) { max = logits[i]; imax = i; }
    const float log_sum_exp = (float)log(sum_exp_from_max(logits, n_vocab, max));
    float scale, min_log_prob;
    memcpy(&scale, base_row, sizeof scale);
    memcpy(&min_log_prob, base_row + 2, sizeof min_log_prob);
    const uint16_t *q = base_row + 4;

    const float nll = max + log_sum_exp - logits[tok];
    k->sum_nll += nll;
    k->sum_nll2 += nll * nll;
    const float nll_base = -(scale * q[tok] + min_log_prob);
    k->sum_nll_base += nll_base;
    k->sum_nll_base2 += nll_base * nll_base;
    k->sum_nll_nll_base += nll * nll_base;

    /* KL(base || this) = sum p_base (log p_base - log p), skipping p_base < e^-16 */
    const float log_norm = max + log_sum_exp;
    double kld = 0;
    int imax_base = 0;
    float log_p_base_max = 0;
    for (int i = 0; i < n_vocab; i++) {
        const float log_p_base = scale * q[i] + min_log_prob;
        if (i == 0 || log_p_base > log_p_base_max) { log_p_base_max = log_p_base; imax_base = i; }
        if (log_p_base > -16.f) kld += expf(log_p_base) * (log_p_base - logits[i] + log_norm);
    }
    k->sum_kld += kld;
    k->sum_kld2 += kld * kld;
    k->count++;
    if (imax == imax_base) k->n_same_top++;

    const float p_diff = expf(-nll) - expf(-nll_base);
    const double p_diff2 = p_diff * p_diff;
    k->sum_p_diff += p_diff;
    k->sum_p_diff2 += p_diff2;
    k->sum_p_diff4 += p_diff2 * p_diff2;
    if (fabsf(p_diff) > k->max_p_diff) k->max_p_diff = fabsf(p_diff);
    *kld_out = (float)kld;
    *p_diff_out = p_diff;
}

/* ---------------------------------------------------------------------------------------
 * Evaluating one chunk */

typedef struct {
    gemma_context *ctx;
    int n_ctx, first, n_vocab;
    int32_t bos;      /* -1: the vocabulary adds no BOS */
    int32_t *ids;     /* the chunk as fed (first token replaced by BOS) */
    float *unscored;  /* n_vocab: logits of the unscored first half (not needed) */
    float *logits;    /* n_ctx - first rows: the logits at positions first .. n_ctx-1 */
} chunk_eval;

/* BOS id when the vocabulary prepends one (else -1): what tokenizing "" produces. Like
 * llama.cpp, refuse vocabularies that append EOS (every chunk would end in it). */
static int32_t vocab_bos(const gemma_model *m) {
    int n = 0;
    int32_t *ids = gemma_tokenize(m, "", 0, true, false, &n);
    int32_t bos = -1;
    for (int i = 0; i < n; i++) {
        if (gemma_token_is_eog(m, ids[i]))
            die(EXIT_RUNTIME, "perplexity: the vocabulary appends an end-of-text token to every text; "
                "perplexity needs one that does not");
        bos = ids[i];
    }
    free(ids);
    return bos;
}

static void chunk_eval_init(chunk_eval *e, gemma_model *m, const ppl_args *a, int n_ctx) {
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    if (info.n_ctx_train > 0 && n_ctx > info.n_ctx_train)
        logf_("perplexity: warning: the model was trained on only %d context tokens (%d specified)\n",
              info.n_ctx_train, n_ctx);
    e->n_ctx = n_ctx;
    e->first = n_ctx / 2;
    e->n_vocab = info.n_vocab;
    e->bos = vocab_bos(m);
    int n_batch = a->n_batch > 0 ? a->n_batch : 512;
    if (n_batch > n_ctx) n_batch = n_ctx;
    char err[GEMMA_ERR_LEN];
    gemma_context_params cp = {.n_ctx = n_ctx, .n_threads = a->n_threads, .n_batch = n_batch, .type_k = a->type_k,
                               .type_v = a->type_v};
    e->ctx = gemma_context_new(m, &cp, err);
    if (!e->ctx) die(EXIT_RUNTIME, "%s", err);
    uint64_t n_floats = 0;
    if (!mul_ok((uint64_t)(n_ctx - e->first), (uint64_t)e->n_vocab, &n_floats) || n_floats > SIZE_MAX / sizeof(float))
        die(EXIT_RUNTIME, "perplexity: %d x %d logits do not fit in memory", n_ctx - e->first, e->n_vocab);
    e->ids = malloc((size_t)n_ctx * sizeof *e->ids);
    e->unscored = malloc((size_t)e->n_vocab * sizeof(float));
    e->logits = malloc((size_t)n_floats * sizeof(float));
    if (!e->ids || !e->unscored || !e->logits)
        die(EXIT_RUNTIME, "perplexity: out of memory for %d x %d logits", n_ctx - e->first, e->n_vocab);
    logf_("perplexity: n_ctx = %d, batch_size = %d, threads = %d, scoring %d tokens per chunk\n",
          n_ctx, n_batch, gemma_n_threads(e->ctx), n_ctx - 1 - e->first);
}

static void chunk_eval_free(chunk_eval *e) {
    gemma_context_free(e->ctx);
    free(e->ids);
    free(e->unscored);
    free(e->logits);
}

/* Evaluates tokens[0..n_ctx) from an empty cache. Only the scored half's logits are kept
 * (half the memory of all n_ctx rows: 256 MB less for a 262k vocabulary at -c 512). */
static void eval_chunk(chunk_eval *e, const int32_t *tokens) {
    memcpy(e->ids, tokens, (size_t)e->n_ctx * sizeof *e->ids);
    if (e->bos >= 0) e->ids[0] = e->bos;
    gemma_context_reset(e->ctx);
    char err[GEMMA_ERR_LEN];
    if (gemma_eval(e->ctx, e->ids, e->first, e->unscored, false, err) ||
        gemma_eval(e->ctx, e->ids + e->first, e->n_ctx - e->first, e->logits, true, err))
        die(EXIT_RUNTIME, "perplexity: %s", err);
}

/* Time of the first chunk and the resulting ETA, as llama.cpp prints them. */
static void log_eta(double seconds, int n_chunk) {
    logf_("perplexity: %.2f seconds per pass - ETA ", seconds);
    int total = (int)(seconds * n_chunk);
    if (total >= 60 * 60) {
        logf_("%d hours ", total / (60 * 60));
        total %= 60 * 60;
    }
    logf_("%.2f minutes\n", total / 60.0);
}

/* printf to stdout through out_write (a closed pipe ends the program quietly). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void outf(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) out_write(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---------------------------------------------------------------------------------------
 * Perplexity (and saving the base log-probabilities) */

static void write_or_die(FILE *fp, const char *path, const void *p, size_t size, size_t n) {
    if (fwrite(p, size, n, fp) != n) die(EXIT_IO, "writing '%s' failed: %s", path, strerror(errno));
}

static int run_perplexity(const ppl_args *a) {
    size_t len = 0;
    char *text = read_path(a->text_path, &len);
    if (len && text[len - 1] == '\n') text[--len] = 0; /* as llama.cpp's -f */
    gemma_model *m = load_or_die(a->model, false);
    const int n_ctx = a->n_ctx;

    logf_("perplexity: tokenizing the input ..\n");
    double t0 = now_seconds();
    int n_tokens = 0;
    int32_t *tokens = gemma_tokenize(m, text, len, true, false, &n_tokens);
    free(text);
    logf_("perplexity: tokenization took %g ms\n", 1e3 * (now_seconds() - t0));
    if (n_tokens < 2 * n_ctx)
        die(EXIT_RUNTIME, "perplexity: you need at least %d tokens to evaluate perplexity with a context of %d; "
            "the data file you provided tokenizes to only %d tokens", 2 * n_ctx, n_ctx, n_tokens);

    int n_chunk = n_tokens / n_ctx;
    if (a->n_chunks > 0 && a->n_chunks < n_chunk) n_chunk = a->n_chunks;
    chunk_eval e;
    chunk_eval_init(&e, m, a, n_ctx);
    const int n_score = n_ctx - 1 - e.first;

    FILE *save = NULL;
    uint16_t *rows = NULL;
    const size_t nv = (size_t)(2 * ((e.n_vocab + 1) / 2) + 4);
    if (a->logits_path) {
        save = fopen(a->logits_path, "wb");
        if (!save) die(EXIT_IO, "cannot open '%s' for writing: %s", a->logits_path, strerror(errno));
        logf_("perplexity: saving all log-probabilities to %s\n", a->logits_path);
        int32_t head[3] = {n_ctx, e.n_vocab, n_chunk};
        write_or_die(save, a->logits_path, LOGITS_MAGIC, 1, sizeof LOGITS_MAGIC);
        write_or_die(save, a->logits_path, head, sizeof head[0], 3);
        write_or_die(save, a->logits_path, tokens, sizeof tokens[0], (size_t)n_chunk * (size_t)n_ctx);
        rows = malloc((size_t)n_score * nv * sizeof *rows);
        if (!rows) die(EXIT_RUNTIME, "perplexity: out of memory for %d rows of log-probabilities", n_score);
    }

    logf_("perplexity: calculating perplexity over %d chunks, n_ctx=%d\n", n_chunk, n_ctx);
    double nll = 0, nll2 = 0;
    int count = 0;
    for (int c = 0; c < n_chunk; c++) {
        double t_start = now_seconds();
        const int32_t *chunk = tokens + (size_t)c * (size_t)n_ctx;
        eval_chunk(&e, chunk);
        if (c == 0) log_eta(now_seconds() - t_start, n_chunk);
        /* row r = position first + r predicts the token at first + r + 1 */
        for (int r = 0; r < n_score; r++) {
            const float *row = e.logits + (size_t)r * (size_t)e.n_vocab;
            const int next = chunk[e.first + r + 1];
            double v = save ? quantize_log_probs(row, e.n_vocab, rows + (size_t)r * nv, next)
                            : token_nll(row, e.n_vocab, next);
            nll += v;
            nll2 += v * v;
        }
        if (save) write_or_die(save, a->logits_path, rows, sizeof *rows, (size_t)n_score * nv);
        count += n_score;
        outf("[%d]%.4f,", c + 1, exp(nll / count));
        out_flush();
    }
    outf("\n");

    /* var(nll) / (count - 1) is the variance of the mean; d exp(x) = exp(x) dx */
    nll /= count;
    nll2 /= count;
    const double ppl = exp(nll);
    const double var = nll2 - nll * nll;
    if (var > 0) {
        outf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, sqrt(var / (count - 1)) * ppl);
    } else {
        logf_("perplexity: unexpected non-positive variance of log(prob): no uncertainty\n");
        outf("Final estimate: PPL = %.4f +/- nan\n", ppl);
    }
    out_flush();

    if (save) {
        if (fclose(save) != 0) die(EXIT_IO, "writing '%s' failed: %s", a->logits_path, strerror(errno));
        logf_("perplexity: saved the log-probabilities of %d chunks to %s\n", n_chunk, a->logits_path);
    }
    free(rows);
    free(tokens);
    chunk_eval_free(&e);
    gemma_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * KL divergence against saved base log-probabilities */

typedef struct {
    double mean, unc;
} estimate;

/* Mean of the samples behind (sum, sum of squares) and the standard error of that mean;
 * llama.cpp reports no uncertainty from 10 samples or fewer. */
static estimate mean_and_uncertainty(double sum, double sum2, size_t count) {
    estimate r = {0, 0};
    if (count < 1) return r;
    r.mean = sum / (double)count;
    double var = sum2 / (double)count - r.mean * r.mean;
    r.unc = var > 0 && count > 10 ? sqrt(var / (double)(count - 1)) : 0;
    return r;
}

/* Covariance of the two means (0 below 10 samples, as llama.cpp). */
static double covariance(double sum_a, double sum_b, double sum_ab, size_t count) {
    if (count < 10) return 0;
    double n = (double)count;
    return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

/* sqrt that prints 0 rather than nan when rounding drives a variance below zero. */
static double sqrt0(double x) { return x > 0 ? sqrt(x) : 0; }

static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

/* Linear interpolation between the two nearest sorted values (llama.cpp's percentile). */
static float percentile(const float *v, size_t n, float fraction) {
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    float p = fraction * (float)(n - 1);
    size_t ip = (size_t)p;
    p -= (float)ip;
    return (1 - p) * v[ip] + p * v[ip + 1 < n ? ip + 1 : n - 1];
}

static float median(const float *v, size_t n) {
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

/* The base file's header and tokens; dies with a message naming the file on any problem. */
static int32_t *read_base_header(FILE *fp, const char *path, int n_vocab_model, int *n_ctx,
                                 int *n_chunk) {
    char magic[8];
    int32_t head[3];
    if (fread(magic, 1, sizeof magic, fp) != sizeof magic || memcmp(magic, LOGITS_MAGIC, sizeof magic))
        die(EXIT_RUNTIME, "%s does not look like a file containing log-probabilities "
            "(made with --kl-divergence-base)", path);
    if (fread(head, sizeof head[0], 3, fp) != 3) die(EXIT_RUNTIME, "%s: truncated header", path);
    *n_ctx = head[0];
    *n_chunk = head[2];
    if (head[0] < 4 || head[0] > (1 << 20))
        die(EXIT_RUNTIME, "%s: unsupported context size %d (expected 4 .. %d)", path, head[0], 1 << 20);
    if (head[1] != n_vocab_model)
        die(EXIT_RUNTIME, "%s: inconsistent vocabulary (%d tokens in the file, %d in the model)", path, head[1],
            n_vocab_model);
    if (head[2] < 1) die(EXIT_RUNTIME, "%s: invalid chunk count %d", path, head[2]);

    /* The size the header promises must be there before we evaluate anything. */
    uint64_t n_tok = 0, n_rows = 0, row_bytes = 0, need = 0;
    const uint64_t nv = (uint64_t)(2 * ((n_vocab_model + 1) / 2) + 4);
    const uint64_t n_score = (uint64_t)(head[0] - 1 - head[0] / 2);
    if (!mul_ok((uint64_t)head[0], (uint64_t)head[2], &n_tok) || n_tok > SIZE_MAX / sizeof(int32_t) ||
        !mul_ok(n_score, (uint64_t)head[2], &n_rows) || !mul_ok(n_rows, nv * 2, &row_bytes) ||
        !add_ok(20 + 4 * n_tok, row_bytes, &need))
        die(EXIT_RUNTIME, "%s: header sizes overflow (n_ctx %d, n_chunk %d)", path, head[0], head[2]);
    if (fseeko(fp, 0, SEEK_END) == 0) {
        off_t size = ftello(fp);
        if (size >= 0 && (uint64_t)size < need)
            die(EXIT_RUNTIME, "%s: truncated: %d chunks of %d tokens need %llu bytes, the file has %lld", path,
                head[2], head[0], (unsigned long long)need, (long long)size);
        if (fseeko(fp, 20, SEEK_SET) != 0) die(EXIT_IO, "%s: seek failed: %s", path, strerror(errno));
    }
    int32_t *tokens = malloc((size_t)n_tok * sizeof *tokens);
    if (!tokens) die(EXIT_RUNTIME, "%s: out of memory for %llu tokens", path, (unsigned long long)n_tok);
    if (fread(tokens, sizeof *tokens, (size_t)n_tok, fp) != (size_t)n_tok)
        die(EXIT_RUNTIME, "%s: failed reading the evaluation tokens", path);
    for (uint64_t i = 0; i < n_tok; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab_model)
            die(EXIT_RUNTIME, "%s: token %d at index %llu is out of range (vocabulary has %d tokens)", path,
                tokens[i], (unsigned long long)i, n_vocab_model);
    return tokens;
}

/* One line per chunk: running PPL, ln(PPL ratio), mean KLD, RMS Δp, same-top share. */
static void print_chunk_line(int chunk, const kld_stats *k) {
    estimate log_ppl = mean_and_uncertainty(k->sum_nll, k->sum_nll2, k->count);
    const double ppl = exp(log_ppl.mean);
    outf("%4d", chunk);
    outf("    %9.4f ± %9.4f", ppl, ppl * log_ppl.unc);
    estimate log_ppl_base = mean_and_uncertainty(k->sum_nll_base, k->sum_nll_base2, k->count);
    const double cov = covariance(k->sum_nll, k->sum_nll_base, k->sum_nll_nll_base, k->count);
    outf("    %10.5f ± %10.5f", log_ppl.mean - log_ppl_base.mean,
         sqrt0(log_ppl.unc * log_ppl.unc + log_ppl_base.unc * log_ppl_base.unc - 2.0 * cov));
    estimate kl = mean_and_uncertainty(k->sum_kld, k->sum_kld2, k->count);
    outf("    %10.5f ± %10.5f", kl.mean, kl.unc);
    estimate p_mse = mean_and_uncertainty(k->sum_p_diff2, k->sum_p_diff4, k->count);
    const double rms = sqrt0(p_mse.mean);
    outf("    %6.3f ± %6.3f %%", 100.0 * rms, rms > 0 ? 100.0 * 0.5 / rms * p_mse.unc : 0.0);
    const double top = (double)k->n_same_top / (double)k->count;
    outf("    %6.3f ± %6.3f %%\n", 100.0 * top,
         k->count > 1 ? 100.0 * sqrt0(top * (1 - top) / (double)(k->count - 1)) : 0.0);
    out_flush();
}

/* The summary llama.cpp prints after the chunks (values sorted in place). */
static void print_summary(const kld_stats *k, float *kld_values, float *p_diff_values) {
    const size_t n = k->count;
    qsort(kld_values, n, sizeof *kld_values, cmp_float);
    qsort(p_diff_values, n, sizeof *p_diff_values, cmp_float);

    outf("====== Perplexity statistics ======\n");
    estimate log_ppl = mean_and_uncertainty(k->sum_nll, k->sum_nll2, n);
    const double ppl = exp(log_ppl.mean), ppl_unc = ppl * log_ppl.unc;
    outf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", ppl, ppl_unc);
    estimate log_ppl_base = mean_and_uncertainty(k->sum_nll_base, k->sum_nll_base2, n);
    const double ppl_base = exp(log_ppl_base.mean), ppl_base_unc = ppl_base * log_ppl_base.unc;
    outf("Mean PPL(base)                : %10.6f ± %10.6f\n", ppl_base, ppl_base_unc);
    const double cov = covariance(k->sum_nll, k->sum_nll_base, k->sum_nll_nll_base, n);
    const double sd_prod = log_ppl.unc * log_ppl_base.unc;
    outf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", sd_prod > 0 ? 100.0 * cov / sd_prod : 0.0);
    const double ratio_log = log_ppl.mean - log_ppl_base.mean;
    const double ratio_log_unc =
        sqrt0(log_ppl.unc * log_ppl.unc + log_ppl_base.unc * log_ppl_base.unc - 2.0 * cov);
    outf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", ratio_log, ratio_log_unc);
    const double ratio = exp(ratio_log);
    outf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", ratio, ratio * ratio_log_unc);
    const double ppl_cov = ppl * ppl_base * cov;
    outf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", ppl - ppl_base,
         sqrt0(ppl_unc * ppl_unc + ppl_base_unc * ppl_base_unc - 2.0 * ppl_cov));
    outf("\n");

    outf("====== KL divergence statistics ======\n");
    estimate kl = mean_and_uncertainty(k->sum_kld, k->sum_kld2, n);
    outf("Mean    KLD: %10.6f ± %10.6f\n", kl.mean, kl.unc);
    static const struct { const char *label; float fraction; } kld_rows[] = {
        {"99.9%   KLD", 0.999f}, {"99.0%   KLD", 0.990f}, {"95.0%   KLD", 0.950f},
        {"90.0%   KLD", 0.900f}, {NULL, 0.5f},           {"10.0%   KLD", 0.100f},
        {" 5.0%   KLD", 0.050f}, {" 1.0%   KLD", 0.010f}, {" 0.1%   KLD", 0.001f},
    };
    outf("Maximum KLD: %10.6f\n", kld_values[n - 1]);
    for (size_t i = 0; i < sizeof kld_rows / sizeof kld_rows[0]; i++) {
        if (kld_rows[i].label) outf("%s: %10.6f\n", kld_rows[i].label, percentile(kld_values, n, kld_rows[i].fraction));
        else outf("Median  KLD: %10.6f\n", median(kld_values, n));
    }
    outf("Minimum KLD: %10.6f\n", kld_values[0]);
    outf("\n");

    outf("====== Token probability statistics ======\n");
    estimate p_diff = mean_and_uncertainty(k->sum_p_diff, k->sum_p_diff2, n);
    outf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * p_diff.mean, 100.0 * p_diff.unc);
    static const struct { const char *label; float fraction; } p_rows[] = {
        {"99.9%   Δp", 0.999f}, {"99.0%   Δp", 0.990f}, {"95.0%   Δp", 0.950f}, {"90.0%   Δp", 0.900f},
        {"75.0%   Δp", 0.750f}, {NULL, 0.5f},          {"25.0%   Δp", 0.250f}, {"10.0%   Δp", 0.100f},
        {" 5.0%   Δp", 0.050f}, {" 1.0%   Δp", 0.010f}, {" 0.1%   Δp", 0.001f},
    };
    outf("Maximum Δp: %6.3f%%\n", 100.0 * p_diff_values[n - 1]);
    for (size_t i = 0; i < sizeof p_rows / sizeof p_rows[0]; i++) {
        if (p_rows[i].label) outf("%s: %6.3f%%\n", p_rows[i].label, 100.0 * percentile(p_diff_values, n, p_rows[i].fraction));
        else outf("Median  Δp: %6.3f%%\n", 100.0 * median(p_diff_values, n));
    }
    outf("Minimum Δp: %6.3f%%\n", 100.0 * p_diff_values[0]);
    estimate p_mse = mean_and_uncertainty(k->sum_p_diff2, k->sum_p_diff4, n);
    const double rms = sqrt0(p_mse.mean);
    outf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * rms, rms > 0 ? 100.0 * 0.5 / rms * p_mse.unc : 0.0);
    const double top = (double)k->n_same_top / (double)n;
    outf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * top, 100.0 * sqrt0(top * (1.0 - top) / (double)(n - 1)));
    out_flush();
}

static int run_kl_divergence(const ppl_args *a) {
    if (a->text_path) logf_("perplexity: --kl-divergence reads its tokens from %s; -f is ignored\n", a->logits_path);
    gemma_model *m = load_or_die(a->model, false);
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    FILE *in = fopen(a->logits_path, "rb");
    if (!in) die(EXIT_IO, "cannot open '%s': %s", a->logits_path, strerror(errno));
    int n_ctx, n_chunk;
    int32_t *tokens = read_base_header(in, a->logits_path, info.n_vocab, &n_ctx, &n_chunk);
    if (a->ctx_given && a->n_ctx != n_ctx)
        logf_("perplexity: %s was computed with a context of %d: using that rather than -c %d\n", a->logits_path,
              n_ctx, a->n_ctx);
    const int n_chunk_file = n_chunk;
    if (a->n_chunks > 0 && a->n_chunks < n_chunk) n_chunk = a->n_chunks;

    chunk_eval e;
    chunk_eval_init(&e, m, a, n_ctx);
    const int n_score = n_ctx - 1 - e.first;
    const size_t nv = (size_t)(2 * ((e.n_vocab + 1) / 2) + 4);
    const size_t n_values = (size_t)n_score * (size_t)n_chunk;
    uint16_t *base_rows = malloc((size_t)n_score * nv * sizeof *base_rows);
    float *kld_values = malloc(n_values * sizeof(float));
    float *p_diff_values = malloc(n_values * sizeof(float));
    if (!base_rows || !kld_values || !p_diff_values)
        die(EXIT_RUNTIME, "perplexity: out of memory for %d chunks of %d scored tokens", n_chunk, n_score);

    logf_("perplexity: comparing with %s: %d of its %d chunks, n_ctx=%d\n", a->logits_path, n_chunk,
          n_chunk_file, n_ctx);
    kld_stats k;
    memset(&k, 0, sizeof k);
    for (int c = 0; c < n_chunk; c++) {
        double t_start = now_seconds();
        if (fread(base_rows, sizeof *base_rows, (size_t)n_score * nv, in) != (size_t)n_score * nv)
            die(EXIT_RUNTIME, "%s: failed reading the log-probabilities of chunk %d", a->logits_path, c + 1);
        const int32_t *chunk = tokens + (size_t)c * (size_t)n_ctx;
        eval_chunk(&e, chunk);
        if (c == 0) {
            log_eta(now_seconds() - t_start, n_chunk);
            outf("\nchunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence"
                 "              Δp RMS            Same top p\n");
        }
        for (int r = 0; r < n_score; r++) {
            size_t at = (size_t)c * (size_t)n_score + (size_t)r;
            compare_row(e.logits + (size_t)r * (size_t)e.n_vocab, e.n_vocab, base_rows + (size_t)r * nv,
                        chunk[e.first + r + 1], &k, &kld_values[at], &p_diff_values[at]);
        }
        print_chunk_line(c + 1, &k);
    }
    outf("\n");
    if (k.count >= 100) print_summary(&k, kld_values, p_diff_values);
    else logf_("perplexity: only %zu scored tokens: no summary statistics below 100 (as llama.cpp)\n", k.count);
    out_flush();

    fclose(in);
    free(base_rows);
    free(kld_values);
    free(p_diff_values);
    free(tokens);
    chunk_eval_free(&e);
    gemma_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Entry point */

int cmd_perplexity(int argc, char **argv) {
    ppl_args a;
    parse_args(argc, argv, &a);
    return a.kl_divergence ? run_kl_divergence(&a) : run_perplexity(&a);
}
