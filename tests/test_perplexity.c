/* test_perplexity.c - `gemma perplexity` (run as a program, $GEMMA_BIN) against a
 * perplexity computed here independently: the same text tokenized through the library,
 * each chunk evaluated in one gemma_eval call with all logits, and llama.cpp's formula
 * (second half of each chunk, first token replaced by BOS, log-softmax in double) applied
 * in this file. Also llama.cpp's KL-divergence file layout, KL divergence against a model's
 * own base logits and against another quantization, and the error exits. */
#include "matmul.h"
#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "test.h"
#include "gemma.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL_Q8 "models/gemma3-q8_0.gguf"
#define MODEL_Q4 "models/gemma3-q4_0.gguf"

/* ---------------------------------------------------------------------------------------
 * Running the CLI */

static char text_path[256], short_path[256], out_path[256], err_path[256], base_path[256];
static char q8_path[1024], q4_path[1024];

/* Runs `$GEMMA_BIN perplexity ARGS...` (NULL-terminated) with stdout and stderr in files;
 * returns its exit status, or -1 if it did not exit normally. */
static int run_perplexity(const char *const *args) {
    const char *bin = getenv("GEMMA_BIN");
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = (char *)"perplexity";
    for (; *args && n < 31; args++) argv[n++] = (char *)*args;
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

static char *slurp(const char *path) {
    size_t len;
    char *s = read_file(path, &len);
    if (!s) {
        s = malloc(1);
        s[0] = 0;
    }
    return s;
}

/* The running "[k]PPL," values of the progress line; returns how many. */
static int parse_running(const char *out, double *v, int cap) {
    int n = 0;
    for (const char *p = out; (p = strchr(p, '[')) != NULL && n < cap; p++) {
        int k;
        double x;
        if (sscanf(p, "[%d]%lf,", &k, &x) == 2 && k == n + 1) v[n++] = x;
    }
    return n;
}

static bool parse_final(const char *out, double *ppl, double *unc) {
    const char *p = strstr(out, "Final estimate: PPL = ");
    return p && sscanf(p, "Final estimate: PPL = %lf +/- %lf", ppl, unc) == 2;
}

/* The first number after `label` in the output (e.g. "Mean    KLD:"). */
static bool parse_after(const char *out, const char *label, double *v) {
    const char *p = strstr(out, label);
    return p && sscanf(p + strlen(label), "%lf", v) == 1;
}

static bool rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

/* ---------------------------------------------------------------------------------------
 * The text and the independent reference */

/* Pseudo-words from a fixed generator: a text whose tokens we control (thousands of them
 * with the fixture's 512-token vocabulary), ending in a newline the CLI must drop. */
static void write_text(const char *path, int n_words) {
    static const char *syl[] = {"ka", "lo", "mi", "ten", "sor", "be", "qua", "ri",
                                "vel", "on", "xu", "da", "pre", "hal", "ne", "zo"};
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    uint32_t s = 12345;
    for (int w = 0; w < n_words; w++) {
        s = s * 1664525u + 1013904223u;
        int n_syl = 1 + (int)((s >> 24) % 3);
        for (int k = 0; k < n_syl; k++) {
            s = s * 1664525u + 1013904223u;
            fputs(syl[(s >> 20) % 16], fp);
        }
        fputs((s >> 8) % 10 == 0 ? ". " : " ", fp);
    }
    fputs("\n", fp);
    fclose(fp);
}

/* Tokens of a text file as the CLI must see them: one trailing newline dropped, BOS added
 * (the vocabulary adds one), special-token text not parsed. */
static int32_t *tokenize_file(const gemma_model *m, const char *path, int *n) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) { *n = 0; return NULL; }
    if (len && text[len - 1] == '\n') len--;
    int32_t *ids = gemma_tokenize(m, text, len, true, false, n);
    free(text);
    return ids;
}

#define MAX_CHUNKS 256
typedef struct {
    int n_chunk;
    double running[MAX_CHUNKS];  /* PPL after each chunk */
    double ppl, unc;
} reference;

/* llama.cpp's perplexity, computed from all-logits evaluation of each chunk, independently
 * of the CLI's code. The chunk goes in as the CLI feeds it: the unscored first half (only
 * its last logits asked for), then the scored half. Attention steps over the keys from the
 * first key a block of queries sees, so a chunk evaluated in one piece or in two adds the
 * same keys in other SIMD lanes; on this random model a last-bit difference there can flip
 * an f16 rounding in GELU and move a huge logit by ~0.1. */
static bool reference_ppl(gemma_model *m, const int32_t *tokens, int n_tokens, int n_ctx, int max_chunks,
                          reference *r) {
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    const int V = info.n_vocab, first = n_ctx / 2;
    int n_bos;
    int32_t *bos = gemma_tokenize(m, "", 0, true, false, &n_bos);
    char err[GEMMA_ERR_LEN];
    /* the KV cache of the command's default (f16, as llama-perplexity's) */
    gemma_context_params cp = {.n_ctx = n_ctx, .n_threads = 0, .n_batch = n_ctx, .type_k = GEMMA_KV_F16,
                               .type_v = GEMMA_KV_F16};
    gemma_context *c = gemma_context_new(m, &cp, err);
    float *logits = malloc((size_t)n_ctx * (size_t)V * sizeof(float));
    int32_t *ids = malloc((size_t)n_ctx * sizeof(int32_t));
    r->n_chunk = n_tokens / n_ctx;
    if (max_chunks > 0 && max_chunks < r->n_chunk) r->n_chunk = max_chunks;
    bool ok = c && logits && ids && n_bos == 1 && r->n_chunk <= MAX_CHUNKS;
    double nll = 0, nll2 = 0;
    int count = 0;
    for (int k = 0; ok && k < r->n_chunk; k++) {
        memcpy(ids, tokens + (size_t)k * (size_t)n_ctx, (size_t)n_ctx * sizeof(int32_t));
        ids[0] = bos[0];
        gemma_context_reset(c);
        if (gemma_eval(c, ids, first, logits, false, err) ||
            gemma_eval(c, ids + first, n_ctx - first, logits + (size_t)first * (size_t)V, true, err)) {
            ok = false;
            break;
        }
        for (int j = first; j < n_ctx - 1; j++) {
            const float *row = logits + (size_t)j * (size_t)V;
            double mx = row[0], sum = 0;
            for (int i = 1; i < V; i++) if (row[i] > mx) mx = row[i];
            for (int i = 0; i < V; i++) sum += exp((double)row[i] - mx);
            /* cppcheck-suppress invalidFunctionArg ; sum >= 1: the maximum adds exp(0) */
            double v = -((double)row[ids[j + 1]] - mx - log(sum));
            nll += v;
            nll2 += v * v;
            count++;
        }
        r->running[k] = exp(nll / count);
    }
    if (ok) {
        double mean = nll / count, var = nll2 / count - mean * mean;
        r->ppl = exp(mean);
        r->unc = sqrt(var / (count - 1)) * r->ppl;
    }
    free(bos);
    free(logits);
    free(ids);
    if (c) gemma_context_free(c);
    return ok;
}

/* ---------------------------------------------------------------------------------------
 * Cases */

static void case_matches_reference(gemma_model *m, const int32_t *tokens, int n_tokens, const reference *ref16) {
    TEST_BEGIN("perplexity: -c 16 --chunks 4 -b 5 matches an independent all-logits evaluation");
    const char *args[] = {"-m", q8_path, "-f", text_path, "-c", "16", "--chunks", "4", "-b", "5", NULL};
    int rc = run_perplexity(args);
    char *out = slurp(out_path);
    double run[MAX_CHUNKS], ppl = 0, unc = 0;
    int n = parse_running(out, run, MAX_CHUNKS);
    EXPECT(rc == 0, "exit status %d", rc);
    EXPECT(n == 4, "%d running values in the progress line, expected 4: %.200s", n, out);
    for (int k = 0; k < n && k < ref16->n_chunk; k++)
        EXPECT(rel_close(run[k], ref16->running[k], 1e-4), "chunk %d: running PPL %.6g, reference %.6g", k + 1,
               run[k], ref16->running[k]);
    EXPECT(parse_final(out, &ppl, &unc), "no final estimate in: %.300s", out);
    EXPECT(rel_close(ppl, ref16->ppl, 1e-4), "PPL %.8g, reference %.8g", ppl, ref16->ppl);
    EXPECT(rel_close(unc, ref16->unc, 1e-3), "uncertainty %.8g, reference %.8g", unc, ref16->unc);
    free(out);
    TEST_END();

    TEST_BEGIN("perplexity: without --chunks every one of n_tokens / n_ctx chunks is scored (-c 64)");
    reference ref64;
    bool ok = reference_ppl(m, tokens, n_tokens, 64, -1, &ref64);
    EXPECT(ok, "reference evaluation failed");
    const char *args64[] = {"-m", q8_path, "-f", text_path, "-c", "64", "-t", "2", NULL};
    rc = run_perplexity(args64);
    out = slurp(out_path);
    n = parse_running(out, run, MAX_CHUNKS);
    EXPECT(rc == 0, "exit status %d", rc);
    EXPECT(ok && n == ref64.n_chunk && n == n_tokens / 64, "%d chunks scored, %d tokens / 64 = %d", n, n_tokens,
           n_tokens / 64);
    EXPECT(parse_final(out, &ppl, &unc) && ok && rel_close(ppl, ref64.ppl, 1e-4), "PPL %.8g, reference %.8g",
           ppl, ref64.ppl);
    free(out);
    TEST_END();
}

/* A prefix of the test text, plus a newline, whose tokens (newline dropped) number exactly n
 * while the newline itself would add one: written to `path`. */
static bool write_prefix_of_n_tokens(const gemma_model *m, const char *path, int n) {
    size_t len;
    char *text = read_file(text_path, &len);
    bool found = false;
    for (size_t l = 1; text && l + 1 < len && !found; l++) {
        int a, b;
        char save = text[l];
        int32_t *ids = gemma_tokenize(m, text, l, true, false, &a);
        free(ids);
        if (a > n) break;
        text[l] = '\n';
        ids = gemma_tokenize(m, text, l + 1, true, false, &b);
        free(ids);
        text[l] = save;
        if (a == n && b == n + 1) {
            FILE *fp = fopen(path, "wb");
            if (fp) {
                fwrite(text, 1, l, fp);
                fputc('\n', fp);
                found = fclose(fp) == 0;
            }
        }
    }
    free(text);
    return found;
}

static void case_too_short(const gemma_model *m) {
    TEST_BEGIN("perplexity: 2 * n_ctx - 1 tokens (the file's last newline dropped) exits 1 with llama.cpp's message");
    EXPECT(write_prefix_of_n_tokens(m, short_path, 31), "no prefix of the text has 31 tokens");
    const char *args[] = {"-m", q8_path, "-f", short_path, "-c", "16", NULL};
    int rc = run_perplexity(args);
    char *err = slurp(err_path), *out = slurp(out_path);
    EXPECT(rc == 1, "exit status %d, expected 1", rc);
    EXPECT(strstr(err, "you need at least 32 tokens to evaluate perplexity with a context of 16") != NULL,
           "stderr: %s", err);
    EXPECT(strstr(err, "tokenizes to only 31 tokens") != NULL, "stderr does not give the token count: %s", err);
    EXPECT(out[0] == 0, "stdout not empty: %s", out);
    free(err);
    free(out);
    TEST_END();

    TEST_BEGIN("perplexity: exactly 2 * n_ctx tokens is enough for 2 chunks");
    EXPECT(write_prefix_of_n_tokens(m, short_path, 32), "no prefix of the text has 32 tokens");
    rc = run_perplexity(args);
    out = slurp(out_path);
    double run[4], ppl, unc;
    EXPECT(rc == 0, "exit status %d", rc);
    EXPECT(parse_running(out, run, 4) == 2 && parse_final(out, &ppl, &unc), "output: %s", out);
    free(out);
    TEST_END();
}

static void case_usage_errors(void) {
    TEST_BEGIN("perplexity: bad flags exit 2 with a message naming the problem");
    static const struct { const char *args[8]; const char *needle; } bad[] = {
        {{"-m", q8_path, "-f", text_path, "--frobnicate", NULL}, "--frobnicate"},
        {{"-m", q8_path, "-f", text_path, "-c", "abc", NULL}, "abc"},
        {{"-m", q8_path, "-f", text_path, "-c", "2", NULL}, "-c"},
        {{"-m", q8_path, "-f", text_path, "-c", NULL}, "-c"},
        {{"-m", q8_path, "-f", text_path, "--chunks", "0", NULL}, "--chunks"},
        {{"-m", q8_path, NULL}, "-f"},
        {{"-f", text_path, NULL}, "-m"},
        {{"-m", q8_path, "--kl-divergence", NULL}, "--kl-divergence-base"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run_perplexity(bad[i].args);
        char *err = slurp(err_path);
        EXPECT(rc == 2, "case %zu: exit status %d, expected 2 (stderr: %s)", i, rc, err);
        EXPECT(strstr(err, bad[i].needle) != NULL, "case %zu: stderr does not mention '%s': %s", i, bad[i].needle, err);
        free(err);
    }
    TEST_END();
}

static void case_base_file(gemma_model *m, const int32_t *tokens, const reference *ref16) {
    TEST_BEGIN("perplexity: --kl-divergence-base writes llama.cpp's log-probability file");
    const char *args[] = {"-m", q8_path, "-f", text_path, "-c", "16", "--chunks", "4",
                          "--kl-divergence-base", base_path, NULL};
    int rc = run_perplexity(args);
    char *out = slurp(out_path);
    double ppl = 0, unc = 0;
    EXPECT(rc == 0, "exit status %d", rc);
    EXPECT(parse_final(out, &ppl, &unc) && rel_close(ppl, ref16->ppl, 1e-4), "PPL %.8g, reference %.8g", ppl,
           ref16->ppl);
    free(out);

    /* "_logits_", n_ctx, n_vocab, n_chunk, tokens, then 4 chunks x 7 rows x nv uint16 */
    const int n_ctx = 16, V = 512, n_chunk = 4, n_score = 7, nv = 2 * ((V + 1) / 2) + 4;
    size_t len = 0;
    char *f = read_file(base_path, &len);
    size_t want = 8 + 12 + 4 * (size_t)(n_chunk * n_ctx) + 2 * (size_t)(n_chunk * n_score * nv);
    EXPECT(f && len == want, "file size %zu, expected %zu", len, want);
    if (f && len == want) {
        int32_t head[3];
        memcpy(head, f + 8, sizeof head);
        EXPECT(memcmp(f, "_logits_", 8) == 0, "magic %.8s", f);
        EXPECT(head[0] == n_ctx && head[1] == V && head[2] == n_chunk, "header %d %d %d", head[0], head[1], head[2]);
        EXPECT(memcmp(f + 20, tokens, 4 * (size_t)(n_chunk * n_ctx)) == 0, "stored tokens differ from the text's");

        /* chunk 2's rows decode to the log-softmax of an independent evaluation */
        const uint16_t *rows = (const uint16_t *)(void *)(f + 20 + 4 * (size_t)(n_chunk * n_ctx)) + (size_t)n_score * nv;
        int n_bos;
        int32_t *bos = gemma_tokenize(m, "", 0, true, false, &n_bos);
        int32_t ids[16];
        memcpy(ids, tokens + n_ctx, sizeof ids);
        ids[0] = bos[0];
        free(bos);
        char err[GEMMA_ERR_LEN];
        gemma_context_params cp = {.n_ctx = n_ctx, .n_threads = 0, .n_batch = n_ctx, .type_k = GEMMA_KV_F16,
                                   .type_v = GEMMA_KV_F16}; /* the command's default cache */
        gemma_context *c = gemma_context_new(m, &cp, err);
        float *logits = malloc((size_t)n_ctx * V * sizeof(float));
        bool ok = c && gemma_eval(c, ids, n_ctx, logits, true, err) == 0;
        EXPECT(ok, "evaluation failed: %s", err);
        double worst = 0;
        for (int r = 0; ok && r < n_score; r++) {
            const uint16_t *row = rows + (size_t)r * nv;
            float scale, min_lp;
            memcpy(&scale, row, 4);
            memcpy(&min_lp, row + 2, 4);
            const float *l = logits + (size_t)(n_ctx / 2 + r) * V;
            double mx = l[0], sum = 0;
            for (int i = 1; i < V; i++) if (l[i] > mx) mx = l[i];
            for (int i = 0; i < V; i++) sum += exp((double)l[i] - mx);
            EXPECT(scale > 0 && scale <= 16.0 / 65535 * 1.001, "row %d: scale %g", r, scale);
            for (int i = 0; i < V; i++) {
                double lp = (double)l[i] - mx - log(sum), dec = (double)scale * row[4 + i] + min_lp;
                /* stored to the nearest step; q = 0 also holds everything below the window */
                double d = row[4 + i] ? fabs(dec - lp) : lp - dec;
                if (d > worst) worst = d;
            }
        }
        EXPECT(worst <= 16.0 / 65535 + 1e-4, "decoded log-probabilities off by %g", worst);
        free(logits);
        if (c) gemma_context_free(c);
    }
    free(f);
    TEST_END();
}

static void case_kl_divergence(void) {
    TEST_BEGIN("perplexity: KL divergence of gemma3-q8_0 against its own base logits is ~0, same top 100%%");
    const char *base_args[] = {"-m", q8_path, "-f", text_path, "-c", "64", "--chunks", "4",
                               "--kl-divergence-base", base_path, NULL};
    int rc = run_perplexity(base_args);
    EXPECT(rc == 0, "saving the base: exit status %d", rc);
    const char *self_args[] = {"-m", q8_path, "--kl-divergence-base", base_path, "--kl-divergence", NULL};
    rc = run_perplexity(self_args);
    char *out = slurp(out_path);
    double kld = -1, max_kld = -1, same = -1, ppl_base_self = -1, ppl_base_q4 = -2;
    EXPECT(rc == 0, "exit status %d", rc);
    EXPECT(strstr(out, "chunk             PPL") && strstr(out, "\n   4    "), "per-chunk table missing: %.300s", out);
    EXPECT(parse_after(out, "Mean    KLD:", &kld) && fabs(kld) < 1e-5, "mean KLD %g", kld);
    EXPECT(parse_after(out, "Maximum KLD:", &max_kld) && max_kld < 1e-3, "maximum KLD %g", max_kld);
    EXPECT(parse_after(out, "Same top p:", &same) && same == 100.0, "same top p %g%%", same);
    EXPECT(parse_after(out, "Mean PPL(base)                :", &ppl_base_self), "no Mean PPL(base): %.300s", out);
    free(out);
    TEST_END();

    TEST_BEGIN("perplexity: KL divergence of gemma3-q4_0 against gemma3-q8_0's base logits is > 0");
    const char *q4_args[] = {"-m", q4_path, "--kl-divergence-base", base_path, "--kl-divergence", "-t", "1", NULL};
    rc = run_perplexity(q4_args);
    out = slurp(out_path);
    kld = -1;
    EXPECT(rc == 0, "exit status %d", rc);
    EXPECT(parse_after(out, "Mean    KLD:", &kld) && kld > 1e-5, "mean KLD %g, expected > 0", kld);
    EXPECT(parse_after(out, "Maximum KLD:", &max_kld) && max_kld > kld, "maximum KLD %g <= mean %g", max_kld, kld);
    EXPECT(parse_after(out, "99.0%   KLD:", &max_kld) && strstr(out, "Median  KLD:") && strstr(out, "RMS Δp"),
           "percentile lines missing: %.300s", out);
    /* the base side comes from the file alone: identical whichever model is compared */
    EXPECT(parse_after(out, "Mean PPL(base)                :", &ppl_base_q4) && ppl_base_q4 == ppl_base_self,
           "PPL(base) %g vs %g with the base model itself", ppl_base_q4, ppl_base_self);
    free(out);
    TEST_END();

    TEST_BEGIN("perplexity: a damaged base file exits 1 naming the problem");
    size_t len = 0;
    char *f = read_file(base_path, &len);
    EXPECT(f && len > 1000, "no base file");
    if (f && len > 1000) {
        FILE *fp = fopen(base_path, "wb");
        if (fp) { fwrite(f, 1, len / 2, fp); fclose(fp); }
        rc = run_perplexity(self_args);
        char *err = slurp(err_path);
        EXPECT(rc == 1 && strstr(err, "truncated"), "truncated file: exit %d, stderr: %s", rc, err);
        free(err);
        memcpy(f, "_notlog_", 8);
        fp = fopen(base_path, "wb");
        if (fp) { fwrite(f, 1, len, fp); fclose(fp); }
        rc = run_perplexity(self_args);
        err = slurp(err_path);
        EXPECT(rc == 1 && strstr(err, "does not look like"), "bad magic: exit %d, stderr: %s", rc, err);
        free(err);
    }
    free(f);
    TEST_END();
}

void suite_perplexity(void) {
    if (!getenv("GEMMA_BIN") || !*getenv("GEMMA_BIN")) {
        test_skip("perplexity: GEMMA_BIN is not set (run through tests/run.sh)");
        return;
    }
    snprintf(q8_path, sizeof q8_path, "%s", fixture_path(MODEL_Q8));
    snprintf(q4_path, sizeof q4_path, "%s", fixture_path(MODEL_Q4));
    const char *dir = tmp_dir();
    int pid = (int)getpid(); /* `make test` and `make sanitize` share build/tmp */
    snprintf(text_path, sizeof text_path, "%s/ppl-%d-text.txt", dir, pid);
    snprintf(short_path, sizeof short_path, "%s/ppl-%d-short.txt", dir, pid);
    snprintf(out_path, sizeof out_path, "%s/ppl-%d-out.txt", dir, pid);
    snprintf(err_path, sizeof err_path, "%s/ppl-%d-err.txt", dir, pid);
    snprintf(base_path, sizeof base_path, "%s/ppl-%d-base.kld", dir, pid);
    write_text(text_path, 250);

    /* These cases compare evaluations made with different batch sizes, on a random model
     * whose huge logits amplify any difference in summation order. The tile kernels (from
     * 16 tokens on, with AMX) sum differently from the vector kernels, so they are kept out
     * here, in this process and in the children; the amx and fixtures suites test them. */
    int tile_rows = matmul_set_tile_min_rows(0);
    char *kernels = getenv("GEMMA_KERNELS") ? strdup(getenv("GEMMA_KERNELS")) : NULL;
    if (kernels_active()->tile.group) setenv("GEMMA_KERNELS", "avx512", 1);

    char err[GEMMA_ERR_LEN];
    gemma_model *m = gemma_model_load(q8_path, err);
    int n_tokens = 0;
    int32_t *tokens = m ? tokenize_file(m, text_path, &n_tokens) : NULL;
    reference ref16;
    if (!m || !tokens || n_tokens < 5 * 64 || !reference_ppl(m, tokens, n_tokens, 16, 4, &ref16)) {
        TEST_BEGIN("perplexity: fixture model and reference evaluation");
        EXPECT(false, "model %s: %s; %d tokens", q8_path, m ? "loaded" : err, n_tokens);
        TEST_END();
    } else {
        case_matches_reference(m, tokens, n_tokens, &ref16);
        case_too_short(m);
        case_usage_errors();
        case_base_file(m, tokens, &ref16);
        case_kl_divergence();
    }
    free(tokens);
    if (m) gemma_model_free(m);
    const char *paths[] = {text_path, short_path, out_path, err_path, base_path};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) unlink(paths[i]);
    matmul_set_tile_min_rows(tile_rows);
    if (kernels) setenv("GEMMA_KERNELS", kernels, 1);
    else unsetenv("GEMMA_KERNELS");
    free(kernels);
}
