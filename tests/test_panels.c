/* test_panels.c - the row-panel layouts weights are repacked into at load (kernels/panels.c),
 * their kernels, the thread split that runs them, and the repacking of a loaded model.
 *
 *  - layouts: repacking N rows (N not a multiple of 16 too) and unpacking every row gives
 *    the file's bytes back; rows past N unpack as zero blocks;
 *  - the scalar panel kernels (the specification) against the scalar row dots of the file
 *    types on the same data: they differ only in the float accumulation (one fused
 *    multiply-add per block, two for Q4_K's and Q5_K's scales and mins, against products and adds),
 *    each step rounding to within 2^-24 of a partial sum, and every partial sum is at most
 *    S = sum |w[e] a[e]| over the dequantized rows (d and min parts bounded apart); so they
 *    agree to (2 steps + 1) x 2^-24 x S;
 *  - every SIMD set's panel kernels against the scalar ones: the same integer sums and the
 *    same float steps in the same order, so bit for bit, for every tile shape (1 .. 17
 *    activation rows, i.e. two full groups of 8 and a remainder), rows not a multiple of 16,
 *    one to 216 blocks, outputs outside the rows untouched; with hostile codes too (random
 *    bytes: Q8_0's -128, every fifth-bit pattern); IQ4_XS again at the int16 limit of AVX2's
 *    vpmaddubsw (codes -127 and 113 against activations +-127);
 *  - matmul() on panel layouts on 1, 2 and 3 threads (several parts, prefill and decode)
 *    gives the panel kernel's bits whatever the split;
 *  - a loaded model: repacked as the active set says, the embedding row read back from a
 *    panel equals the file's row, and the file's pages of the repacked tensors are no
 *    longer resident (memory stays ~1x the file). */
#include "test.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gemma.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "matmul.h"
#include "model.h"
#include "rng.h"
#include "threads.h"
#include "util.h"

static const uint32_t layouts[] = {TYPE_Q4_0_R16, TYPE_Q5_0_R16, TYPE_Q8_0_R16, TYPE_Q4_K_R16, TYPE_Q5_K_R16,
                                   TYPE_Q6_K_R16, TYPE_BF16_R16, TYPE_F16_R16, TYPE_IQ4_XS_R16};
#define N_LAYOUTS (int)(sizeof layouts / sizeof layouts[0])

/* Where a file type's f16 scale fields sit in its block: d, and the min's (-1: none). */
static void scale_fields(uint32_t type, int *d, int *dmin) {
    *d = type == GGML_TYPE_Q6_K ? 208 : 0;
    *dmin = type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K ? 2 : -1;
}

/* Float steps per block of a layout's kernels (the K-quants' mins take a second one; the
 * float layouts' "blocks" are pairs, one step per element). */
static int steps_per_block(uint32_t layout) {
    return layout == TYPE_Q4_K_R16 || layout == TYPE_Q5_K_R16 || layout == TYPE_BF16_R16 || layout == TYPE_F16_R16 ? 2 : 1;
}

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static bool float_type(uint32_t type) { return type == GGML_TYPE_BF16 || type == GGML_TYPE_F16; }

/* Hostile float weights: any sign and mantissa, exponents from zero (subnormals, which
 * vdpbf16ps reads as zero) up, never Inf or NaN: odd rows only tiny ones (products and
 * sums in the subnormal range, which vdpbf16ps flushes), even rows up to ~2^20. */
static void hostile_floats(uint32_t type, uint8_t *w, int n, int64_t K) {
    for (int r = 0; r < n; r++)
        for (int64_t i = 0; i < K; i++) {
            uint16_t v = (uint16_t)rng_u64(), top = r % 2 ? 21 : 148;
            if (type == GGML_TYPE_BF16) v = (uint16_t)((v & 0x807f) | (uint16_t)(rng_u64() % top) << 7);
            else v = (uint16_t)((v & 0x83ff) | (uint16_t)(rng_u64() % (r % 2 ? 3 : 31)) << 10);
            put_u16(w + 2 * ((size_t)r * (size_t)K + (size_t)i), v);
        }
}

/* n rows of K elements of a file type: random bytes (every code pattern) with f16 scales in
 * [0.25, 2) x 2^-4, or from Gaussian values through the reference quantizer. */
static uint8_t *random_rows(uint32_t type, int n, int64_t K, bool hostile) {
    const type_traits *t = quant_traits(type);
    size_t size = quant_row_size(type, K) * (size_t)n;
    uint8_t *w = malloc(size);
    if (hostile && float_type(type)) {
        hostile_floats(type, w, n, K);
    } else if (hostile || !t->from_float) { /* IQ4_XS has no quantizer: any bytes are valid codes */
        int d, dmin;
        scale_fields(type, &d, &dmin);
        for (size_t i = 0; i < size; i++) w[i] = (uint8_t)rng_u64();
        for (size_t b = 0; b < size; b += t->type_size) {
            put_u16(w + b + d, fp32_to_fp16((float)(0.015625 + rng_uniform() / 8)));
            if (dmin >= 0) put_u16(w + b + dmin, fp32_to_fp16((float)(0.015625 + rng_uniform() / 8)));
        }
    } else {
        float *x = malloc((size_t)K * sizeof(float));
        for (int r = 0; r < n; r++) {
            for (int64_t i = 0; i < K; i++) x[i] = (float)rng_gauss();
            quantize_row(type, x, w + quant_row_size(type, K) * (size_t)r, K);
        }
        free(x);
    }
    return w;
}

/* The rows repacked into ceil(n / 16) panels. */
static uint8_t *repacked(uint32_t layout, const uint8_t *rows, int n, int64_t K) {
    const type_traits *t = quant_traits(layout);
    size_t row = quant_row_size(t->panel_base, K), pb = quant_panel_size(layout, K);
    int np = (n + t->panel - 1) / t->panel;
    uint8_t *p = malloc(pb * (size_t)np);
    for (int i = 0; i < np; i++) {
        int rows_here = n - i * t->panel < t->panel ? n - i * t->panel : t->panel;
        t->repack(p + pb * (size_t)i, rows + row * (size_t)(i * t->panel), row, rows_here, K);
    }
    return p;
}

/* M activation rows of K: floats, in the layout's activation format (act) and in its base
 * type's (base: what the row dots take). */
typedef struct {
    float *x;
    uint8_t *act, *base;
    size_t act_row, base_row;
} acts;

static acts random_acts(uint32_t layout, int M, int64_t K) {
    const type_traits *t = quant_traits(layout);
    uint32_t at = t->vec_dot_type, bt = quant_traits(t->panel_base)->vec_dot_type;
    acts a;
    a.act_row = quant_row_size(at, K);
    a.base_row = quant_row_size(bt, K);
    a.x = malloc((size_t)M * (size_t)K * sizeof(float));
    a.act = malloc(a.act_row * (size_t)M);
    a.base = malloc(a.base_row * (size_t)M);
    for (int64_t i = 0; i < M * K; i++) a.x[i] = (float)rng_gauss();
    for (int m = 0; m < M; m++) {
        quantize_row(at, a.x + (size_t)m * (size_t)K, a.act + a.act_row * (size_t)m, K);
        quantize_row(bt, a.x + (size_t)m * (size_t)K, a.base + a.base_row * (size_t)m, K);
    }
    return a;
}

static void acts_free(acts *a) {
    free(a->x);
    free(a->act);
    free(a->base);
}

/* ---------------------------------------------------------------- layouts */

static void test_round_trip(uint32_t layout) {
    const type_traits *t = quant_traits(layout);
    TEST_BEGIN("panels: %s repacks %s rows and gives every row back byte for byte (5..48 rows, 1..7 blocks)", t->name,
               quant_type_name(t->panel_base));
    static const int ns[] = {5, 16, 17, 37, 48};
    static const int64_t blocks[] = {1, 3, 7};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            int n = ns[a];
            int64_t K = blocks[b] * t->blck_size;
            size_t row = quant_row_size(t->panel_base, K), pb = quant_panel_size(layout, K);
            EXPECT(pb == (size_t)t->panel * row, "panel bytes %zu != 16 rows of %zu", pb, row);
            uint8_t *rows = random_rows(t->panel_base, n, K, true);
            uint8_t *p = repacked(layout, rows, n, K);
            uint8_t *back = malloc(row), *zero = calloc(1, row);
            int np = (n + t->panel - 1) / t->panel;
            for (int r = 0; r < np * t->panel; r++) {
                t->unpack_row(back, p + pb * (size_t)(r / t->panel), r % t->panel, K);
                const uint8_t *want = r < n ? rows + row * (size_t)r : zero;
                EXPECT(memcmp(back, want, row) == 0, "%d rows, K %lld: row %d differs", n, (long long)K, r);
            }
            free(rows);
            free(p);
            free(back);
            free(zero);
        }
    TEST_END();
}

/* ---------------------------------------------------------------- kernels */

/* S = sum |w[e] a[e]| of file row w and activation row a (of type at), dequantized: a bound
 * on every partial sum. For a type with mins the d and the min parts of each weight are
 * bounded separately (each with the other scale zeroed), since they may cancel. */
static double abs_terms(uint32_t type, uint32_t at, const uint8_t *w, const uint8_t *a, int64_t K) {
    const type_traits *t = quant_traits(type);
    size_t size = quant_row_size(type, K);
    float *wf = malloc((size_t)K * sizeof(float)), *af = malloc((size_t)K * sizeof(float));
    uint8_t *copy = malloc(size);
    int field[2];
    scale_fields(type, &field[0], &field[1]);
    dequant_row(at, a, af, K);
    double s = 0;
    for (int k = 0; k < (field[1] < 0 ? 1 : 2); k++) {
        memcpy(copy, w, size);
        if (field[1] >= 0)
            for (size_t b = 0; b < size; b += t->type_size) put_u16(copy + b + field[1 - k], 0);
        dequant_row(type, copy, wf, K);
        for (int64_t e = 0; e < K; e++) s += fabs((double)wf[e] * af[e]);
    }
    free(wf);
    free(af);
    free(copy);
    return s;
}

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs((double)x[i]) > m ? fabs((double)x[i]) : m;
    return m;
}

static void test_scalar_twin(uint32_t layout, int64_t K, bool hostile) {
    const type_traits *t = quant_traits(layout), *base = quant_traits(t->panel_base);
    TEST_BEGIN("panels: scalar %s kernel = scalar %s row dot within (2 steps + 1) 2^-24 sum|w a|%s, K %lld%s", t->name,
               base->name, layout == TYPE_BF16_R16 ? " + 2^-8 sum|w a| (bf16 activations)" : "", (long long)K,
               hostile ? ", random bytes" : "");
    enum { N = 37, M = 3 };
    uint8_t *rows = random_rows(t->panel_base, N, K, hostile), *p = repacked(layout, rows, N, K);
    acts a = random_acts(layout, M, K);
    float y[M * N];
    t->panel_dot(K, y, N, p, N, a.act, a.act_row, M);
    size_t row = quant_row_size(t->panel_base, K);
    int steps = steps_per_block(layout) * (int)(K / t->blck_size);
    double worst = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float want;
            base->vec_dot((int)K, &want, rows + row * (size_t)n, a.base + a.base_row * (size_t)m);
            double S = abs_terms(t->panel_base, base->vec_dot_type, rows + row * (size_t)n,
                                 a.base + a.base_row * (size_t)m, K);
            double tol = (double)(2 * steps + 1) * 0x1p-24 * S, d = fabs((double)y[m * N + n] - want);
            if (layout == TYPE_BF16_R16) /* activations rounded to bf16 (2^-8 relative), and
                                            vdpbf16ps's flushes (under 2^-126 each) */
                tol += 0x1p-8 * S + (double)(4 * K) * 0x1p-126 * (1 + max_abs(a.x + (size_t)m * (size_t)K, K));
            EXPECT(d <= tol, "row %d, activation %d: %.9g vs %.9g (tolerance %.3g)", n, m, y[m * N + n], want, tol);
            if (S > 0 && d / S > worst) worst = d / S;
        }
    printf("     worst |panel - row dot| / sum|w a| = %.3g\n", worst);
    free(rows);
    free(p);
    acts_free(&a);
    TEST_END();
}

/* Every tile shape of a set's kernel against the scalar one, bit for bit. */
static void test_set_kernel(const kernel_set *s, uint32_t layout) {
    const type_traits *t = &s->type[layout], *ref = quant_traits(layout);
    if (t->panel_dot == ref->panel_dot) return;
    TEST_BEGIN("panels %s: %s kernel = the scalar one bit for bit: 1..17 activation rows, 1..49 weight rows, 1..216 "
               "blocks (K-quants: 1..33), random and hostile data",
               s->name, ref->name);
    static const int ns[] = {1, 15, 16, 17, 49};
    static const int64_t blocks[] = {1, 2, 5, 36, 216};
    int shapes = 0;
    for (size_t ki = 0; ki < sizeof blocks / sizeof blocks[0]; ki++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            int64_t K = blocks[ki] * ref->blck_size;
            if (K > 8192) K = 8192 / ref->blck_size * ref->blck_size + ref->blck_size; /* K-quants: 33 blocks */
            int N = ns[ni], M = K >= 1152 ? 9 : 17, stride = N + 3;
            uint8_t *rows = random_rows(ref->panel_base, N, K, ni % 2 == 0), *p = repacked(layout, rows, N, K);
            acts a = random_acts(layout, M, K);
            size_t cells = (size_t)M * (size_t)stride;
            float *want = malloc(cells * sizeof(float)), *got = malloc(cells * sizeof(float));
            ref->panel_dot(K, want, (size_t)stride, p, N, a.act, a.act_row, M);
            for (int m = 1; m <= M; m += (m < 9 ? 1 : 8)) { /* every group size, and two groups + 1 */
                for (size_t i = 0; i < cells; i++) got[i] = -7.0f;
                t->panel_dot(K, got, (size_t)stride, p, N, a.act, a.act_row, m);
                shapes++;
                for (int r = 0; r < M; r++)
                    for (int c = 0; c < stride; c++) {
                        float g = got[(size_t)r * stride + c];
                        if (r < m && c < N)
                            EXPECT(memcmp(&g, &want[(size_t)r * stride + c], 4) == 0,
                                   "K %lld, %d rows x %d activations: [%d][%d] %.9g, want %.9g", (long long)K, N, m, r,
                                   c, g, want[(size_t)r * stride + c]);
                        else
                            EXPECT(g == -7.0f, "K %lld, %d rows x %d activations: [%d][%d] written outside", (long long)K,
                                   N, m, r, c);
                    }
            }
            free(rows);
            free(p);
            free(want);
            free(got);
            acts_free(&a);
        }
    printf("     %d shapes\n", shapes);
    TEST_END();
}

/* IQ4_XS at the int16 limit: codebook values -127 and 113 against activation codes +-127, so
 * every product pair of a SIMD kernel's 16-bit stage is as large as it gets (2 x 127 x 127 =
 * 32258; AVX2 multiplies |w| by sign(a, w) in vpmaddubsw, a sum of two groups would
 * overflow), with every sub-block scale: the set's kernel = the scalar one bit for bit. */
static void test_iq4_xs_limits(const kernel_set *s) {
    const type_traits *t = &s->type[TYPE_IQ4_XS_R16], *ref = quant_traits(TYPE_IQ4_XS_R16);
    if (t->panel_dot == ref->panel_dot) return;
    TEST_BEGIN("panels %s: IQ4_XS_R16 kernel = the scalar one bit for bit with codes -127 and 113 against "
               "activations +-127 (int16 pair sums at 32258), 1..4 activation rows",
               s->name);
    enum { N = 17, M = 4, NSB = 2, K = NSB * 256 };
    uint8_t rows[N * NSB * 136], act[M * NSB * 292];
    for (int r = 0; r < N; r++)
        for (int b = 0; b < NSB; b++) {
            uint8_t *blk = rows + (size_t)(r * NSB + b) * 136;
            for (int i = 2; i < 8; i++) blk[i] = (uint8_t)rng_u64(); /* scales: any of 0..63 */
            put_u16(blk, fp32_to_fp16(0.015625f * (float)(1 + r % 3)));
            memset(blk + 8, r % 3 == 2 ? 0xff : 0x00, 128); /* index 15 (113) or 0 (-127) */
        }
    for (int m = 0; m < M; m++) /* all -127, all +127, alternating in pairs, by sign of a random */
        for (int b = 0; b < NSB; b++) {
            uint8_t *blk = act + (size_t)(m * NSB + b) * 292;
            float d = 0.01f * (float)(m + 1);
            memcpy(blk, &d, 4);
            for (int k = 0; k < 16; k++) {
                int sum = 0;
                for (int e = 16 * k; e < 16 * k + 16; e++) {
                    int q = m == 0 ? -127 : m == 1 ? 127 : m == 2 ? (e / 2 % 2 ? 127 : -127) : rng_u64() % 2 ? 127 : -127;
                    blk[4 + e] = (uint8_t)(int8_t)q;
                    sum += q;
                }
                int16_t bsum = (int16_t)sum;
                memcpy(blk + 260 + 2 * k, &bsum, 2);
            }
        }
    uint8_t *p = repacked(TYPE_IQ4_XS_R16, rows, N, K);
    float want[M * N], got[M * N];
    ref->panel_dot(K, want, N, p, N, act, NSB * 292, M);
    for (int m = 1; m <= M; m++) {
        t->panel_dot(K, got, N, p, N, act, NSB * 292, m);
        for (int i = 0; i < m * N; i++)
            EXPECT(memcmp(&got[i], &want[i], 4) == 0, "%d activations: [%d][%d] %.9g, want %.9g", m, i / N, i % N,
                   got[i], want[i]);
    }
    free(p);
    TEST_END();
}

/* ---------------------------------------------------------------- matmul and the split */

static matmul_ctx ctx_new(int threads, int64_t K, int64_t M) {
    matmul_ctx mc = {0};
    mc.pool = pool_new(threads);
    mc.qbuf_size = matmul_scratch_size(K, M);
    mc.qbuf = malloc(mc.qbuf_size);
    return mc;
}

static void ctx_free(matmul_ctx *mc) {
    matmul_ctx_release(mc);
    pool_free(mc->pool);
    free(mc->qbuf);
}

/* One part of every panel layout (two activation formats) sharing one input through
 * matmul_many, after a part in the file's layout, on 1, 2 and 3 threads: each panel part's
 * outputs are its panel kernel's on the same activations. */
static void test_matmul(int M) {
    TEST_BEGIN("panels: matmul_many of every panel layout on 1, 2 and 3 threads = the panel kernels, %d tokens", M);
    const int64_t K = 512;
    const int N[N_LAYOUTS] = {1000, 37, 160, 48, 40, 33, 50, 19, 35};
    uint8_t *p[N_LAYOUTS];
    float *want[N_LAYOUTS], *got[N_LAYOUTS];
    const kernel_set *ks = kernels_active();
    float *x = NULL;
    for (int i = 0; i < N_LAYOUTS; i++) {
        const type_traits *t = quant_traits(layouts[i]);
        rng_seed(500 + (uint64_t)M);
        acts a = random_acts(layouts[i], M, K); /* the same floats for every part */
        uint8_t *rows = random_rows(t->panel_base, N[i], K, false);
        p[i] = repacked(layouts[i], rows, N[i], K);
        free(rows);
        want[i] = malloc((size_t)M * N[i] * sizeof(float));
        got[i] = malloc((size_t)M * N[i] * sizeof(float));
        ks->type[layouts[i]].panel_dot(K, want[i], (size_t)N[i], p[i], N[i], a.act, a.act_row, M);
        if (!x) {
            x = a.x;
            a.x = NULL;
        }
        acts_free(&a);
    }
    acts a = {x, NULL, NULL, 0, 0};
    for (int threads = 1; threads <= 3; threads++) {
        matmul_ctx mc = ctx_new(threads, K, M);
        matmul_part parts[N_LAYOUTS];
        for (int i = 0; i < N_LAYOUTS; i++) {
            for (int k = 0; k < M * N[i]; k++) got[i][k] = NAN;
            parts[i] = (matmul_part){.y = got[i], .w = p[i], .type = layouts[i], .N = N[i]};
        }
        /* two jobs, the first of several parts */
        int first = N_LAYOUTS - 1 < MATMUL_MAX_PARTS ? N_LAYOUTS - 1 : MATMUL_MAX_PARTS;
        matmul_many(&mc, parts, first, K, a.x, M);
        matmul_many(&mc, parts + first, N_LAYOUTS - first, K, a.x, M);
        for (int i = 0; i < N_LAYOUTS; i++)
            EXPECT(memcmp(got[i], want[i], (size_t)M * N[i] * sizeof(float)) == 0, "%d threads: %s part differs",
                   threads, quant_type_name(layouts[i]));
        ctx_free(&mc);
    }
    for (int i = 0; i < N_LAYOUTS; i++) {
        free(p[i]);
        free(want[i]);
        free(got[i]);
    }
    acts_free(&a);
    TEST_END();
}

/* ---------------------------------------------------------------- a loaded model */

/* Resident kB of the file mapping of `path` in this process (/proc/self/smaps), -1 if unknown. */
static long mapped_rss_kb(const char *path) {
    FILE *fp = fopen("/proc/self/smaps", "r");
    if (!fp) return -1;
    char line[1024];
    bool inside = false;
    long total = -1, kb;
    while (fgets(line, sizeof line, fp)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            size_t len = strlen(line), plen = strlen(path);
            inside = len > plen && !strncmp(line + len - plen - 1, path, plen);
        } else if (inside && sscanf(line, "Rss: %ld kB", &kb) == 1) {
            total = (total < 0 ? 0 : total) + kb;
        }
    }
    fclose(fp);
    return total;
}

static void test_model(void) {
    char err[GEMMA_ERR_LEN], path[4096];
    snprintf(path, sizeof path, "%s", fixture_path("models/gemma3-q8_0.gguf"));
    TEST_BEGIN("panels: a loaded gemma3-q8_0 is repacked as the kernel set says, and its tied embedding rows read "
               "back from the panels equal the file's");
    gemma_model *plain = gemma_model_load_params(path, &(gemma_model_params){.no_repack = true}, err);
    EXPECT(plain != NULL, "%s", err);
    gemma_model *m = gemma_model_load(path, err);
    EXPECT(m != NULL, "%s", err);
    if (m && plain) {
        gemma_model_info info;
        gemma_model_get_info(m, &info);
        uint32_t want = kernels_active()->repack_to[GGML_TYPE_Q8_0];
        bool no_env = !getenv("GEMMA_NO_REPACK") || !strcmp(getenv("GEMMA_NO_REPACK"), "0");
        if (want && no_env) {
            EXPECT(m->tok_embd.type == want && m->layers[0].ffn_down.type == want, "not repacked: %s",
                   quant_type_name(m->tok_embd.type));
            EXPECT(info.n_repacked > 0 && info.repacked_bytes > 0 && strstr(info.repacked_layouts, "Q8_0_R16"),
                   "info: %d matrices, %llu bytes, '%s'", info.n_repacked, (unsigned long long)info.repacked_bytes,
                   info.repacked_layouts);
        } else {
            EXPECT(m->tok_embd.type == GGML_TYPE_Q8_0 && info.n_repacked == 0, "repacked although the set (or "
                   "GEMMA_NO_REPACK) says not to");
        }
        EXPECT(plain->tok_embd.type == GGML_TYPE_Q8_0, "no_repack still repacked");
        int64_t E = m->tok_embd.ne[0], V = m->tok_embd.ne[1];
        float *a = malloc((size_t)E * sizeof(float)), *b = malloc((size_t)E * sizeof(float));
        uint8_t *row_buf = malloc(m->tok_embd.row_bytes);
        for (int64_t r = 0; r < V; r += V / 97 + 1) {
            weight_row(&m->tok_embd, r, a, row_buf);
            weight_row(&plain->tok_embd, r, b, NULL);
            EXPECT(memcmp(a, b, (size_t)E * sizeof(float)) == 0, "embedding row %lld differs", (long long)r);
        }
        free(a);
        free(b);
        free(row_buf);
    }
    gemma_model_free(m);
    gemma_model_free(plain);
    TEST_END();

    if (!kernels_active()->repack_to[GGML_TYPE_Q8_0] || (getenv("GEMMA_NO_REPACK") && strcmp(getenv("GEMMA_NO_REPACK"), "0")))
        return;
    TEST_BEGIN("panels: after repacking, the file's pages of the repacked tensors are no longer resident");
    char abs[PATH_MAX];
    struct stat st;
    EXPECT(realpath(path, abs) && stat(abs, &st) == 0, "%s: cannot resolve", path);
    m = gemma_model_load(path, err);
    EXPECT(m != NULL, "%s", err);
    long kb = mapped_rss_kb(abs);
    if (m && kb >= 0) {
        gemma_model_info info;
        gemma_model_get_info(m, &info);
        /* what may stay: the metadata and tokenizer, the tensors kept in the file's layout
         * (norms), and at most two partial 4 KiB pages per repacked matrix */
        long limit = (long)(((uint64_t)st.st_size - info.repacked_bytes) >> 10) + 8L * info.n_repacked;
        EXPECT(kb <= limit, "%ld kB of the file still resident (repacked %llu of %lld bytes, limit %ld kB)", kb,
               (unsigned long long)info.repacked_bytes, (long long)st.st_size, limit);
        printf("     file pages resident after repacking: %ld kB of a %lld kB file\n", kb, (long long)st.st_size >> 10);
    } else if (kb < 0) {
        test_skip("panels: /proc/self/smaps is not readable here");
    }
    gemma_model_free(m);
    TEST_END();
}

void suite_panels(void) {
    rng_seed(1601);
    for (int i = 0; i < N_LAYOUTS; i++) test_round_trip(layouts[i]);
    for (int i = 0; i < N_LAYOUTS; i++) {
        int64_t bs = quant_traits(layouts[i])->blck_size;
        test_scalar_twin(layouts[i], 1152 / bs * bs + (bs > 32 ? bs : 0), false); /* Q4_K: 1280 */
        test_scalar_twin(layouts[i], 6912, false);
        test_scalar_twin(layouts[i], bs < 32 ? 38 : 3 * bs, true); /* floats: 19 pairs */
    }
    for (int s = 0; s < KERNELS_COUNT; s++) {
        if (s == KERNELS_SCALAR || !kernel_set_supported(cpu_get(), (kernel_set_id)s)) continue;
        static kernel_set set; /* a few KB: not on the stack */
        kernel_set_build(&set, (kernel_set_id)s);
        for (int i = 0; i < N_LAYOUTS; i++) test_set_kernel(&set, layouts[i]);
        test_iq4_xs_limits(&set);
    }
    test_matmul(1);
    test_matmul(21);
    test_model();
}
