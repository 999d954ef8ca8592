/* test_dump.c - GEMMA_DUMP (src/dump.h) through the public API: what it writes is what the
 * forward pass computes.
 *
 * A Gemma 3 fixture (6 layers, width 64, tied output, no final soft-cap) evaluates 12 tokens
 * in micro-batches of 5 with GEMMA_DUMP=all and GEMMA_DUMP_DIR set. Every point must have
 * its file, holding one row per token of the point's width and nothing else; and the rows
 * must satisfy the equations of the steps between the points, recomputed here in double
 * from the model's weights (gemma_dequant_tensor):
 *   inp_embd     = token_embd[id]                                 exactly
 *   inp_scaled   = inp_embd * sqrtf(n_embd)                        exactly (one f32 product)
 *   attn_norm-l  = RMSNorm(in_l; attn_norm)                        in_l: inp_scaled, l_out-(l-1)
 *   attn_out-l   = Wo · kqv_out-l
 *   ffn_inp-l    = in_l + RMSNorm(attn_out-l; post_attention_norm)
 *   l_out-l      = ffn_inp-l + RMSNorm(ffn_out-l; post_ffw_norm)
 *   result_norm  = RMSNorm(l_out-5; output_norm)
 *   result_output = token_embd · result_norm, and bit for bit the logits gemma_eval returns
 * The engine computes in f32 (sums of squares in double), this file in double: a relative
 * difference of 1e-4 of the row's largest value leaves room for f32 rounding over 128-term
 * sums (about 128 * 6e-8 = 8e-6) while a point dumped at the wrong place (before or after a
 * norm, the wrong layer) is off by O(1). RMSNorm's eps (1e-6 in the file) moves a norm of
 * rows whose mean square is O(1) by about 1e-6, so it is left out.
 * Then: the layer filter, result_output against the logits token by token, an unset
 * GEMMA_DUMP writing nothing and not changing the logits, and the errors. */
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemma.h"

#define MODEL "models/gemma3-f32.gguf"
#define N_TOK 12
#define N_LAYER 6
#define N_EMBD 64

static const int32_t ids[N_TOK] = {2, 17, 99, 4, 250, 311, 7, 42, 128, 500, 3, 64};
static char dir[512];

/* An empty dump directory under build/tmp. */
static void fresh_dir(void) {
    snprintf(dir, sizeof dir, "%s/dump", tmp_dir());
    mkdir(dir, 0755);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static int count_files(void) {
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* DIR/NAME.f32 as floats (*n of them), NULL if absent. */
static float *load(const char *name, size_t *n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s.f32", dir, name);
    size_t len;
    char *buf = read_file(p, &len);
    *n = buf ? len / sizeof(float) : 0;
    float *x = buf ? malloc(*n * sizeof(float) + 1) : NULL;
    if (x) memcpy(x, buf, *n * sizeof(float));
    free(buf);
    return x;
}

static float *load_layer(const char *name, int il, size_t *n) {
    char full[128];
    snprintf(full, sizeof full, "%s-%d", name, il);
    return load(full, n);
}

static float *weights(const char *name) {
    char err[GEMMA_ERR_LEN];
    size_t n;
    float *w = gemma_dequant_tensor(fixture_path(MODEL), name, &n, err);
    EXPECT(w, "%s", err);
    return w;
}

/* Evaluate ids with GEMMA_DUMP=spec (NULL: unset) into dir, micro-batches of n_batch;
 * decode: one gemma_eval per token (logits of each). logits: N_TOK rows. */
static int eval_dumped(const char *spec, int n_batch, bool decode, float *logits, char *err) {
    if (spec) setenv("GEMMA_DUMP", spec, 1);
    else unsetenv("GEMMA_DUMP");
    setenv("GEMMA_DUMP_DIR", dir, 1);
    int rc = -1;
    gemma_model *m = gemma_model_load(fixture_path(MODEL), err);
    gemma_context *c = m ? gemma_context_new(m, &(gemma_context_params){.n_ctx = 64, .n_threads = 2, .n_batch = n_batch}, err) : NULL;
    unsetenv("GEMMA_DUMP");
    unsetenv("GEMMA_DUMP_DIR");
    if (c) {
        rc = 0;
        if (!decode) rc = gemma_eval(c, ids, N_TOK, logits, true, err);
        for (int i = 0; decode && i < N_TOK && rc == 0; i++)
            rc = gemma_eval(c, &ids[i], 1, logits + (size_t)i * 512, false, err);
    }
    gemma_context_free(c);
    gemma_model_free(m);
    return rc;
}

/* max |got - want| over n values, against tol * (1 + max |want|) */
static bool close_rows(const float *got, const double *want, size_t n, double tol, double *worst) {
    double big = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(want[i]) > big) big = fabs(want[i]);
        if (fabs(got[i] - want[i]) > diff || isnan(got[i])) diff = isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]);
    }
    *worst = diff / (1 + big);
    return *worst <= tol;
}

/* out[r] = rms_norm(x[r]) * w, rows of d, in double */
static void rmsnorm_rows(double *out, const float *x, const float *w, int d, int rows) {
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)x[r * d + i] * x[r * d + i];
        double s = 1.0 / sqrt(ss / d);
        for (int i = 0; i < d; i++) out[r * d + i] = x[r * d + i] * s * w[i];
    }
}

/* out[r][n] = sum_k W[n][k] x[r][k]: W has N rows of K */
static void matvec_rows(double *out, const float *W, int N, int K, const float *x, int rows) {
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)W[(size_t)n * K + k] * x[(size_t)r * K + k];
            out[(size_t)r * N + n] = s;
        }
}

static const struct { const char *name; int width; bool layered; } points[] = {
    {"inp_embd", N_EMBD, false}, {"inp_scaled", N_EMBD, false}, {"attn_norm", N_EMBD, true},
    {"kqv_out", 128, true},      {"attn_out", N_EMBD, true},    {"ffn_inp", N_EMBD, true},
    {"ffn_out", N_EMBD, true},   {"l_out", N_EMBD, true},       {"result_norm", N_EMBD, false},
    {"result_output", 512, false},
};

static void test_all_points(void) {
    char err[GEMMA_ERR_LEN];
    static float logits[N_TOK * 512];
    fresh_dir();
    TEST_BEGIN("dump: GEMMA_DUMP=all writes every point of every layer, one row per token of its width");
    EXPECT(eval_dumped("all", 5, false, logits, err) == 0, "%s", err);
    int want_files = 0;
    for (size_t p = 0; p < sizeof points / sizeof points[0]; p++)
        for (int il = 0; il < (points[p].layered ? N_LAYER : 1); il++) {
            size_t n;
            float *x = points[p].layered ? load_layer(points[p].name, il, &n) : load(points[p].name, &n);
            EXPECT(x && n == (size_t)N_TOK * points[p].width, "%s-%d: %zu floats, want %d x %d", points[p].name, il, n,
                   N_TOK, points[p].width);
            free(x);
            want_files++;
        }
    EXPECT(count_files() == want_files, "%d files in %s, want %d", count_files(), dir, want_files);
    TEST_END();

    TEST_BEGIN("dump: the rows satisfy the equations of the steps between the points");
    size_t n;
    float *emb = weights("token_embd.weight"), *out_norm = weights("output_norm.weight");
    float *inp_embd = load("inp_embd", &n), *inp_scaled = load("inp_scaled", &n);
    static double want[N_TOK * 512];
    double worst;
    if (emb && out_norm && inp_embd && inp_scaled) {
        for (int i = 0; i < N_TOK; i++) {
            EXPECT(memcmp(inp_embd + i * N_EMBD, emb + ids[i] * N_EMBD, N_EMBD * sizeof(float)) == 0,
                   "inp_embd row %d is not token_embd[%d]", i, ids[i]);
            for (int d = 0; d < N_EMBD; d++)
                EXPECT(inp_scaled[i * N_EMBD + d] == inp_embd[i * N_EMBD + d] * sqrtf((float)N_EMBD),
                       "inp_scaled[%d][%d] != inp_embd * sqrt(n_embd)", i, d);
        }
        float *in = inp_scaled;
        for (int il = 0; il < N_LAYER; il++) {
            char name[64];
#define W(t) (snprintf(name, sizeof name, "blk.%d." t ".weight", il), weights(name))
            float *w_attn_norm = W("attn_norm"), *w_post_attn = W("post_attention_norm"), *w_o = W("attn_output"),
                  *w_post_ffw = W("post_ffw_norm");
#undef W
            float *attn_norm = load_layer("attn_norm", il, &n), *kqv = load_layer("kqv_out", il, &n),
                  *attn_out = load_layer("attn_out", il, &n), *ffn_inp = load_layer("ffn_inp", il, &n),
                  *ffn_out = load_layer("ffn_out", il, &n), *l_out = load_layer("l_out", il, &n);
            if (w_attn_norm && w_post_attn && w_o && w_post_ffw && attn_norm && kqv && attn_out && ffn_inp && ffn_out &&
                l_out) {
                rmsnorm_rows(want, in, w_attn_norm, N_EMBD, N_TOK);
                EXPECT(close_rows(attn_norm, want, N_TOK * N_EMBD, 1e-4, &worst), "attn_norm-%d: off by %g", il, worst);
                matvec_rows(want, w_o, N_EMBD, 128, kqv, N_TOK);
                EXPECT(close_rows(attn_out, want, N_TOK * N_EMBD, 1e-4, &worst), "attn_out-%d: off by %g", il, worst);
                rmsnorm_rows(want, attn_out, w_post_attn, N_EMBD, N_TOK);
                for (int i = 0; i < N_TOK * N_EMBD; i++) want[i] += in[i];
                EXPECT(close_rows(ffn_inp, want, N_TOK * N_EMBD, 1e-4, &worst), "ffn_inp-%d: off by %g", il, worst);
                rmsnorm_rows(want, ffn_out, w_post_ffw, N_EMBD, N_TOK);
                for (int i = 0; i < N_TOK * N_EMBD; i++) want[i] += ffn_inp[i];
                EXPECT(close_rows(l_out, want, N_TOK * N_EMBD, 1e-4, &worst), "l_out-%d: off by %g", il, worst);
            } else {
                EXPECT(false, "layer %d: a weight or a dump file is missing", il);
            }
            free(w_attn_norm), free(w_post_attn), free(w_o), free(w_post_ffw);
            free(attn_norm), free(kqv), free(attn_out), free(ffn_inp), free(ffn_out);
            if (in != inp_scaled) free(in);
            in = l_out;
        }
        float *result_norm = load("result_norm", &n), *result_output = load("result_output", &n);
        if (result_norm && result_output && in) {
            rmsnorm_rows(want, in, out_norm, N_EMBD, N_TOK);
            EXPECT(close_rows(result_norm, want, N_TOK * N_EMBD, 1e-4, &worst), "result_norm: off by %g", worst);
            matvec_rows(want, emb, 512, N_EMBD, result_norm, N_TOK);
            EXPECT(close_rows(result_output, want, N_TOK * 512, 1e-4, &worst), "result_output: off by %g", worst);
            EXPECT(memcmp(result_output, logits, sizeof logits) == 0, "result_output differs from the logits");
        } else {
            EXPECT(false, "result_norm, result_output or l_out-%d missing", N_LAYER - 1);
        }
        if (in != inp_scaled) free(in);
        free(result_norm);
        free(result_output);
    } else {
        EXPECT(false, "weights or inp_* files missing");
    }
    free(emb);
    free(out_norm);
    free(inp_embd);
    free(inp_scaled);
    TEST_END();
}

static void test_filter_and_decode(void) {
    char err[GEMMA_ERR_LEN];
    static float logits[N_TOK * 512], again[N_TOK * 512];
    fresh_dir();
    TEST_BEGIN("dump: NAME-N takes one layer, NAME every layer, result_output the logits token by token");
    EXPECT(eval_dumped("l_out-2,attn_out,result_output", 1, true, logits, err) == 0, "%s", err);
    size_t n;
    float *x = load_layer("l_out", 2, &n);
    EXPECT(x && n == (size_t)N_TOK * N_EMBD, "l_out-2: %zu floats", n);
    free(x);
    for (int il = 0; il < N_LAYER; il++) {
        x = load_layer("attn_out", il, &n);
        EXPECT(x && n == (size_t)N_TOK * N_EMBD, "attn_out-%d: %zu floats", il, n);
        free(x);
    }
    x = load("result_output", &n);
    EXPECT(x && n == (size_t)N_TOK * 512 && memcmp(x, logits, sizeof logits) == 0,
           "result_output (%zu floats) is not the logits of the %d evaluations", n, N_TOK);
    free(x);
    EXPECT(count_files() == 1 + N_LAYER + 1, "%d files, want %d", count_files(), N_LAYER + 2);
    TEST_END();

    fresh_dir();
    TEST_BEGIN("dump: without GEMMA_DUMP nothing is written and the logits are the same");
    EXPECT(eval_dumped(NULL, 1, true, again, err) == 0, "%s", err);
    EXPECT(count_files() == 0, "%d files written", count_files());
    EXPECT(memcmp(logits, again, sizeof logits) == 0, "the logits changed");
    TEST_END();
}

static void test_errors(void) {
    static const struct { const char *spec, *want; } bad[] = {
        {"l_out,bogus", "GEMMA_DUMP: unknown name 'bogus' (known: inp_embd"},
        {"l_out-6", "GEMMA_DUMP: 'l_out-6': the model has layers 0 .. 5"},
        {"result_norm-1", "GEMMA_DUMP: 'result_norm-1': result_norm is not a per-layer point"},
        {"attn_norm-99999999999999999999", "the model has layers 0 .. 5"},
    };
    char err[GEMMA_ERR_LEN];
    static float logits[N_TOK * 512];
    fresh_dir();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TEST_BEGIN("dump: GEMMA_DUMP=%s is an error at context creation", bad[i].spec);
        err[0] = 0;
        EXPECT(eval_dumped(bad[i].spec, 4, false, logits, err) != 0, "accepted");
        EXPECT(strstr(err, bad[i].want) && !strchr(err, '\n'), "message '%s', want '%s...'", err, bad[i].want);
        TEST_END();
    }
    TEST_BEGIN("dump: a GEMMA_DUMP_DIR that is not a directory is an error at context creation");
    snprintf(dir, sizeof dir, "%s", fixture_path(MODEL));
    err[0] = 0;
    EXPECT(eval_dumped("l_out", 4, false, logits, err) != 0, "accepted");
    EXPECT(strstr(err, "GEMMA_DUMP_DIR: '") && strstr(err, "is not a directory"), "message '%s'", err);
    TEST_END();
}

void suite_dump(void) {
    test_all_points();
    test_filter_and_decode();
    test_errors();
}
