/* test_amx.c - the AMX tile kernels (kernels/amx.c) against the scalar row dots, and the
 * choice of the AMX kernel set.
 *
 * On a CPU without AMX (or when the OS refuses the tile state) the kernel cases are skipped
 * with a message; the selection cases run everywhere. For each type with an AMX kernel:
 * random weight rows (random bytes with moderate scale fields, as test_simd.c does, so every
 * code pattern occurs) and Gaussian activations through the reference quantizer; every
 * output of amx_rows must match the scalar vec_dot to within 1e-5 of a bound on the partial
 * sums (the block integer sums are exact in both; only the float accumulation order differs).
 * Then the same through matmul() with its thread pool: AMX forced on for every batch size
 * against AMX off. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/amx.h"
#include "kernels/cpu.h"
#include "matmul.h"
#include "kernels/quant.h"
#include "rng.h"
#include "test.h"
#include "threads.h"
#include "util.h"

static uint32_t rnd(void) { return (uint32_t)(rng_u64() >> 32); }
static float gauss(void) { return (float)rng_gauss(); }
static void put_f16(uint8_t *p, float v) { uint16_t h = fp32_to_fp16(v); memcpy(p, &h, 2); }

typedef struct {
    uint32_t type;
    int f16[2];   /* offsets of the f16 scale fields in a block, -1 = none */
    int e8m0;     /* MXFP4's exponent byte, -1 = none */
} amx_type;

#if defined(__x86_64__) /* the AMX kernels and their tests (kernels/amx.c is empty elsewhere) */
static const amx_type types[] = {
    {GGML_TYPE_Q4_0, {0, -1}, -1},   {GGML_TYPE_Q4_1, {0, 2}, -1},    {GGML_TYPE_Q5_0, {0, -1}, -1},
    {GGML_TYPE_Q5_1, {0, 2}, -1},    {GGML_TYPE_Q8_0, {0, -1}, -1},   {GGML_TYPE_IQ4_NL, {0, -1}, -1},
    {GGML_TYPE_MXFP4, {-1, -1}, 0},  {GGML_TYPE_Q4_K, {0, 2}, -1},    {GGML_TYPE_Q5_K, {0, 2}, -1},
    {GGML_TYPE_Q6_K, {208, -1}, -1}, {GGML_TYPE_IQ4_XS, {0, -1}, -1}, {GGML_TYPE_BF16, {-1, -1}, -1},
    {GGML_TYPE_F16, {-1, -1}, -1},   {GGML_TYPE_F32, {-1, -1}, -1},
};
#endif

/* A matmul context on two threads with activation scratch for M rows of K; ctx_free. */
static matmul_ctx two_thread_ctx(int64_t K, int64_t M) {
    matmul_ctx mc = {0};
    mc.pool = pool_new(2);
    mc.qbuf_size = matmul_scratch_size(K, M);
    mc.qbuf = malloc(mc.qbuf_size);
    return mc;
}

static void ctx_free(matmul_ctx *mc) {
    matmul_ctx_release(mc);
    pool_free(mc->pool);
    free(mc->qbuf);
}

/* n rows of K elements of type t->type. */
static uint8_t *random_weights(const amx_type *t, int n, int K) {
    const type_traits *tt = quant_traits(t->type);
    size_t row = quant_row_size(t->type, K), size = row * (size_t)n;
    uint8_t *w = malloc(size);
    if (t->type == GGML_TYPE_F32) {
        for (size_t i = 0; i < size; i += 4) {
            float f = gauss();
            memcpy(w + i, &f, 4);
        }
        return w;
    }
    if (t->type == GGML_TYPE_BF16 || t->type == GGML_TYPE_F16) {
        for (size_t i = 0; i < size; i += 2) {
            uint16_t h = t->type == GGML_TYPE_BF16 ? fp32_to_bf16(gauss()) : fp32_to_fp16(gauss());
            memcpy(w + i, &h, 2);
        }
        return w;
    }
    for (size_t i = 0; i < size; i++) w[i] = (uint8_t)rnd();
    for (size_t b = 0; b < size; b += tt->type_size) {
        for (int k = 0; k < 2; k++)
            if (t->f16[k] >= 0) put_f16(w + b + t->f16[k], (k ? -8.0f : 1.0f) * (0.002f + (float)(rnd() % 1000) * 1e-5f));
        if (t->e8m0 >= 0) w[b + t->e8m0] = (uint8_t)(118 + rnd() % 8);
    }
    return w;
}

/* M activation rows of K floats, and the same in the type's vec_dot_type (*a_row bytes each). */
static uint8_t *random_acts(uint32_t type, int M, int K, float **xf, size_t *a_row) {
    const type_traits *tt = quant_traits(type);
    float *x = malloc((size_t)M * K * sizeof(float));
    for (int i = 0; i < M * K; i++) x[i] = gauss();
    /* the bf16 tiles take bf16 activations (as llama.cpp's BF16 dot does): give the scalar
     * reference the same rounded values, so only the summation order differs */
    if (type == GGML_TYPE_BF16)
        for (int i = 0; i < M * K; i++) x[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
    *xf = x;
    if (tt->vec_dot_type == GGML_TYPE_F32) {
        *a_row = (size_t)K * sizeof(float);
        uint8_t *a = malloc((size_t)M * *a_row);
        memcpy(a, x, (size_t)M * *a_row);
        return a;
    }
    *a_row = quant_row_size(tt->vec_dot_type, K);
    uint8_t *a = malloc((size_t)M * *a_row);
    for (int m = 0; m < M; m++) quantize_row(tt->vec_dot_type, x + (size_t)m * K, a + (size_t)m * *a_row, K);
    return a;
}

#if defined(__x86_64__)
/* A bound on the magnitude of any partial sum of dot(w row, a row): sum |a| times 4 max |w|
 * (a format with a min may split a weight into two larger parts of opposite sign). */
static double bound(uint32_t type, const uint8_t *w, const uint8_t *a, int K) {
    const type_traits *tt = quant_traits(type);
    float *wf = malloc((size_t)K * sizeof(float)), *af = malloc((size_t)K * sizeof(float));
    dequant_row(type, w, wf, K);
    if (tt->vec_dot_type == GGML_TYPE_F32) memcpy(af, a, (size_t)K * sizeof(float));
    else dequant_row(tt->vec_dot_type, a, af, K);
    double wmax = 0, asum = 0;
    for (int e = 0; e < K; e++) {
        if (fabs(wf[e]) > wmax) wmax = fabs(wf[e]);
        asum += fabs(af[e]);
    }
    free(wf);
    free(af);
    return 4 * wmax * asum;
}

/* The AMX kernels straight (no pool): amx_pack_act for every group, amx_rows per 32 rows. */
static void test_kernel(const amx_type *t, int N, int K, int M) {
    const type_traits *ref = quant_traits(t->type);
    TEST_BEGIN("amx: %s, %d rows x %d tokens x K %d, matches the scalar kernel", ref->name, N, M, K);
    uint8_t *w = random_weights(t, N, K);
    float *x;
    size_t a_row, w_row = quant_row_size(t->type, K);
    uint8_t *a = random_acts(t->type, M, K, &x, &a_row);
    uint8_t *packed = malloc(amx_act_size(t->type, K, M));
    uint8_t *scratch = malloc(amx_scratch_size(t->type, K));
    float *y = malloc((size_t)M * N * sizeof(float));
    for (int i = 0; i < M * N; i++) y[i] = NAN;
    for (int m0 = 0; m0 < M; m0 += AMX_TOKENS)
        amx_pack_act(t->type, a + (size_t)m0 * a_row, a_row, K, M - m0 < AMX_TOKENS ? M - m0 : AMX_TOKENS,
                     packed + amx_group_size(t->type, K) * (size_t)(m0 / AMX_TOKENS));
    for (int n0 = 0; n0 < N; n0 += 32)
        amx_rows(t->type, y, N, w, w_row, K, n0, N - n0 < 32 ? N - n0 : 32, packed, M, scratch);
    int bad = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float want;
            ref->vec_dot(K, &want, w + (size_t)n * w_row, a + (size_t)m * a_row);
            double tol = 1e-5 * bound(t->type, w + (size_t)n * w_row, a + (size_t)m * a_row, K);
            float got = y[(size_t)m * N + n];
            if (!(fabs((double)got - want) <= tol) && bad++ < 3)
                EXPECT(0, "row %d token %d: got %.9g, want %.9g (tol %.3g)", n, m, got, want, tol);
        }
    EXPECT(bad == 0, "%d outputs differ", bad);
    free(w);
    free(x);
    free(a);
    free(packed);
    free(scratch);
    free(y);
    TEST_END();
}

/* Through matmul(): two threads, AMX for every batch size vs the vector kernels. */
static void test_matmul(const amx_type *t, int N, int K, int M) {
    const type_traits *ref = quant_traits(t->type);
    TEST_BEGIN("amx: matmul %s %dx%d, %d tokens, AMX on = AMX off", ref->name, N, K, M);
    uint8_t *w = random_weights(t, N, K);
    float *x;
    size_t a_row;
    free(random_acts(t->type, M, K, &x, &a_row));
    matmul_ctx mc = two_thread_ctx(K, M);
    float *on = malloc((size_t)M * N * sizeof(float)), *off = malloc((size_t)M * N * sizeof(float));
    int old = matmul_set_amx_min_rows(1);
    matmul(&mc, on, w, t->type, N, K, x, M);
    matmul_set_amx_min_rows(0);
    matmul(&mc, off, w, t->type, N, K, x, M);
    matmul_set_amx_min_rows(old);
    double worst = 0, scale = 0;
    for (int i = 0; i < M * N; i++) {
        worst = fmax(worst, fabs((double)on[i] - off[i]));
        scale = fmax(scale, fabs((double)off[i]));
    }
    EXPECT(mc.amx_act != NULL, "matmul did not take the AMX path");
    EXPECT(worst <= 1e-4 * (1 + scale) * sqrt((double)K / 256), "max |on - off| %.3g (largest output %.3g)", worst, scale);
    ctx_free(&mc);
    free(w);
    free(x);
    free(on);
    free(off);
    TEST_END();
}

/* matmul_geglu (gate and up panels side by side, geglu on the tiles) against the same two
 * products through the AMX tiles separately and the geglu kernel over their outputs: the
 * same tile sums in the same order, so equal bit for bit. */
static void test_gated(const amx_type *t, int N, int K, int M) {
    const type_traits *ref = quant_traits(t->type);
    TEST_BEGIN("amx: matmul_geglu %s %dx%d, %d tokens = gate and up products, then geglu", ref->name, N, K, M);
    uint8_t *gate = random_weights(t, N, K), *up = random_weights(t, N, K);
    float *x;
    size_t a_row;
    free(random_acts(t->type, M, K, &x, &a_row));
    matmul_ctx mc = two_thread_ctx(K, M);
    size_t n = (size_t)M * N;
    float *fused = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    int old = matmul_set_amx_min_rows(1);
    EXPECT(matmul_fuses_geglu(t->type, K, M), "not fused");
    matmul_geglu(&mc, fused, gate, up, t->type, N, K, x, M);
    matmul_part p[2] = {{g, gate, t->type, N}, {u, up, t->type, N}};
    matmul_many(&mc, p, 2, K, x, M);
    vec_kernels_active()->geglu(g, g, u, (int)n);
    matmul_set_amx_min_rows(0);
    EXPECT(!matmul_fuses_geglu(t->type, K, M), "fused with AMX off");
    matmul_set_amx_min_rows(old);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&fused[i], &g[i], sizeof(float)) != 0 && bad++ < 3)
            EXPECT(0, "token %zu row %zu: fused %.9g, separate %.9g", i / (size_t)N, i % (size_t)N, fused[i], g[i]);
    EXPECT(bad == 0, "%d outputs differ", bad);
    ctx_free(&mc);
    free(gate);
    free(up);
    free(x);
    free(fused);
    free(g);
    free(u);
    TEST_END();
}

/* matmul_ffn (the gated outputs quantized on the tiles into the down projection's input)
 * against matmul_geglu and a separate down matmul, both on the tiles: the same codes and
 * scales, so equal bit for bit. */
static void test_ffn(const amx_type *g, const amx_type *d, int E, int F, int M) {
    TEST_BEGIN("amx: matmul_ffn %s / %s down, E %d, F %d, %d tokens = geglu, then down", quant_type_name(g->type),
               quant_type_name(d->type), E, F, M);
    uint8_t *gate = random_weights(g, F, E), *up = random_weights(g, F, E), *down = random_weights(d, E, F);
    float *x;
    size_t a_row;
    free(random_acts(GGML_TYPE_F32, M, E, &x, &a_row));
    matmul_ctx mc = two_thread_ctx(F, M);
    float *fused = malloc((size_t)M * E * sizeof(float)), *mid = malloc((size_t)M * F * sizeof(float));
    float *sep = malloc((size_t)M * E * sizeof(float));
    int old = matmul_set_amx_min_rows(1);
    EXPECT(matmul_fuses_ffn(g->type, d->type, E, F, M), "not fused");
    matmul_ffn(&mc, fused, gate, up, g->type, down, d->type, E, F, x, M);
    matmul_geglu(&mc, mid, gate, up, g->type, F, E, x, M);
    matmul(&mc, sep, down, d->type, E, F, mid, M);
    matmul_set_amx_min_rows(old);
    int bad = 0;
    for (size_t i = 0; i < (size_t)M * E; i++)
        if (memcmp(&fused[i], &sep[i], sizeof(float)) != 0 && bad++ < 3)
            EXPECT(0, "token %zu row %zu: fused %.9g, separate %.9g", i / (size_t)E, i % (size_t)E, fused[i], sep[i]);
    EXPECT(bad == 0, "%d outputs differ", bad);
    ctx_free(&mc);
    free(gate);
    free(up);
    free(down);
    free(x);
    free(fused);
    free(mid);
    free(sep);
    TEST_END();
}

/* The attention tiles against double sums: a kv head of len cells (not a multiple of 32, so
 * the last block is padding), packed from a cache with two heads (strides as forward.c's);
 * scores of 16 query rows (some zero) over two steps, the second running into the padding;
 * P V over the same cells. Scores must match to f32 precision (2^-22 of sum |q k|), P V to
 * 2^-15 of sum |p v| (two-part splits). */
static void test_attention_tiles(int hd, int len) {
    TEST_BEGIN("amx: attention tiles, head dim %d, %d cells: scores to f32 precision, P V to 2^-15", hd, len);
    int kvd = 2 * hd, v_stride = (len + 15) / 16 * 16 + 16, n_blk = (len + 31) / 32;
    float *k = malloc((size_t)len * kvd * sizeof(float)), *v = malloc((size_t)kvd * v_stride * sizeof(float));
    for (int i = 0; i < len * kvd; i++) k[i] = gauss();
    for (int i = 0; i < kvd * v_stride; i++) v[i] = gauss();
    float q[16 * 512], P[16 * 512], S[16 * 512], T[16 * 512];
    for (int i = 0; i < 16 * hd; i++) q[i] = gauss();
    for (int i = 0; i < 16 * 512; i++) P[i] = (float)(rnd() % 100000) / 100000.0f;
    size_t kv_bytes = amx_kv_size(hd, len);
    uint8_t *kv = malloc(kv_bytes);
    uint16_t *qs = malloc((size_t)16 * hd * 3 * 2), *ps = malloc((size_t)16 * 512 * 2 * 2);
    memset(kv, 0xff, kv_bytes); /* every byte must be written */
    amx_kv_pack(k + hd, (size_t)kvd, v + (size_t)hd * v_stride, (size_t)v_stride, hd, len, 0, n_blk, kv);
    amx_split_rows(q, (size_t)hd, 2, 13, hd, 3, qs);
    int bad = 0;
    for (int c0 = 0; c0 < 32 * n_blk; c0 += 64) {
        int n = 32 * n_blk - c0 < 64 ? 32 * n_blk - c0 : 64;
        for (int i = 0; i < 16 * 512; i++) S[i] = NAN;
        amx_attn_scores(S, 512, qs, hd, kv, len, c0, n);
        for (int r = 0; r < 16; r++)
            for (int j = 0; j < n; j++) {
                double want = 0, mag = 0;
                for (int d = 0; r >= 2 && r <= 13 && c0 + j < len && d < hd; d++) {
                    double t = (double)q[r * hd + d] * k[(size_t)(c0 + j) * kvd + hd + d];
                    want += t;
                    mag += fabs(t);
                }
                if (!(fabs(S[r * 512 + j] - want) <= mag * 0x1p-22) && bad++ < 3)
                    EXPECT(0, "score row %d cell %d: got %.9g, want %.9g", r, c0 + j, S[r * 512 + j], want);
            }
        amx_split_rows(P, 512, 0, 15, n, 2, ps);
        for (int i = 0; i < 16 * 512; i++) T[i] = NAN;
        amx_attn_values(T, (size_t)hd, ps, n, kv, len, hd, c0);
        for (int r = 0; r < 16; r++)
            for (int d = 0; d < hd; d++) {
                double want = 0, mag = 0;
                for (int j = 0; j < n && c0 + j < len; j++) {
                    double t = (double)P[r * 512 + j] * v[(size_t)(hd + d) * v_stride + c0 + j];
                    want += t;
                    mag += fabs(t);
                }
                if (!(fabs(T[r * hd + d] - want) <= mag * 0x1p-15) && bad++ < 3)
                    EXPECT(0, "P V row %d dim %d: got %.9g, want %.9g", r, d, T[r * hd + d], want);
            }
    }
    EXPECT(bad == 0, "%d outputs differ", bad);
    free(k);
    free(v);
    free(kv);
    free(qs);
    free(ps);
    TEST_END();
}

/* amx_softmax_row against expf in double: e_k = exp(s_k - max) for k in [a, b], the max
 * taken with the running one, values below FLT_MIN flushed, zero outside; e comes back as
 * two bf16 parts (to 2^-16), the sum to f32 rounding. */
static void test_softmax_row(void) {
    TEST_BEGIN("amx: softmax row: exp to 2 ulp, masked and flushed lanes zero, running max kept");
    enum { N = 96 };
    float s[N];
    uint16_t p[32 * N];
    int bad = 0;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < N; k++) s[k] = 8.0f * gauss();
        s[40] = -150.0f; /* exp underflows: flushed to 0 */
        int a = 5 + round, b = 80 - 7 * round;
        float prior[3] = {-INFINITY, 0.5f, 40.0f}, m = prior[round];
        double mx = prior[round];
        for (int k = a; k <= b; k++) mx = s[k] > mx ? s[k] : mx;
        memset(p, 0xff, sizeof p);
        float sum = amx_softmax_row(s, N, a, b, &m, p);
        EXPECT(m == (float)mx, "max %g, want %g", m, mx);
        double want_sum = 0;
        for (int k = 0; k < N; k++) {
            double want = k < a || k > b ? 0 : exp((double)s[k] - mx);
            if (want < FLT_MIN) want = 0;
            want_sum += want;
            double got = (double)bf16_to_fp32(p[k]) + bf16_to_fp32(p[16 * N + k]);
            if (!(fabs(got - want) <= want * 0x1p-16) && bad++ < 3)
                EXPECT(0, "round %d lane %d: got %.9g, want %.9g", round, k, got, want);
        }
        EXPECT(fabs(sum - want_sum) <= want_sum * 1e-6, "sum %.9g, want %.9g", sum, want_sum);
    }
    EXPECT(bad == 0, "%d lanes differ", bad);
    TEST_END();
}
#endif

/* matmul_many (products sharing their input, converted once) must give exactly what
 * separate matmul calls give: mixed activation formats (Q8_K, Q8_0, f32), single tokens and
 * a batch (AMX tiles when the CPU has them). */
static void test_many(int M) {
    TEST_BEGIN("matmul: matmul_many of Q4_K, Q6_K, Q8_0 and F16 parts = separate matmuls, %d tokens", M);
    static const amx_type parts[] = {{GGML_TYPE_Q4_K, {0, 2}, -1}, {GGML_TYPE_Q6_K, {208, -1}, -1},
                                     {GGML_TYPE_Q8_0, {0, -1}, -1}, {GGML_TYPE_F16, {-1, -1}, -1}};
    const int K = 512, N[4] = {40, 24, 33, 17};
    float *x;
    size_t a_row;
    free(random_acts(GGML_TYPE_F32, M, K, &x, &a_row));
    matmul_ctx mc = two_thread_ctx(K, M);
    matmul_part p[4];
    float *one[4];
    uint8_t *w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = random_weights(&parts[i], N[i], K);
        p[i] = (matmul_part){malloc((size_t)M * N[i] * sizeof(float)), w[i], parts[i].type, N[i]};
        one[i] = malloc((size_t)M * N[i] * sizeof(float));
        matmul(&mc, one[i], w[i], parts[i].type, N[i], K, x, M);
    }
    matmul_many(&mc, p, 4, K, x, M);
    for (int i = 0; i < 4; i++) {
        EXPECT(memcmp(one[i], p[i].y, (size_t)M * N[i] * sizeof(float)) == 0, "part %d (%s) differs", i,
               quant_type_name(parts[i].type));
        free(p[i].y);
        free(one[i]);
        free(w[i]);
    }
    ctx_free(&mc);
    free(x);
    TEST_END();
}

static void test_selection(void) {
    TEST_BEGIN("amx: the kernel set with AMX is preferred, GEMMA_KERNELS=avx512 turns it off");
    cpu_features f = {0};
    f.has_avx2 = f.has_fma = f.has_f16c = true;
    f.has_avx512f = f.has_avx512bw = f.has_avx512vl = f.has_avx512dq = f.has_avx512vnni = true;
    cpu_features amx = f;
    amx.has_amx_tile = amx.has_amx_int8 = true;
    char warn[256];
#if defined(__x86_64__)
    EXPECT(kernel_set_choose(&amx, NULL, warn, sizeof warn) == KERNELS_AMX && !warn[0], "best with AMX");
    EXPECT(kernel_set_choose(&amx, "avx512", warn, sizeof warn) == KERNELS_AVX512 && !warn[0], "avx512 request");
    EXPECT(kernel_set_choose(&amx, "AMX", warn, sizeof warn) == KERNELS_AMX && !warn[0], "amx request");
    EXPECT(kernel_set_choose(&f, "amx", warn, sizeof warn) == KERNELS_AVX512 && strstr(warn, "amx"),
           "amx request without AMX falls back with a warning: '%s'", warn);
    cpu_features no_int8 = amx;
    no_int8.has_amx_int8 = false;
    EXPECT(kernel_set_choose(&no_int8, NULL, warn, sizeof warn) == KERNELS_AVX512, "AMX-TILE without INT8");
    cpu_features no_vnni = amx;
    no_vnni.has_avx512vnni = false;
    EXPECT(kernel_set_choose(&no_vnni, NULL, warn, sizeof warn) == KERNELS_AVX2, "AMX needs the AVX-512 set");
#else
    EXPECT(kernel_set_choose(&amx, "amx", warn, sizeof warn) != KERNELS_AMX && warn[0], "no AMX off x86");
#endif
    TEST_END();
}

void suite_amx(void) {
    test_many(1);
    test_many(40);
    test_selection();
    if (!kernel_set_supported(cpu_get(), KERNELS_AMX)) {
        test_skip("amx: this CPU has no AMX-INT8, or the OS did not grant the tile state");
        return;
    }
#if defined(__x86_64__)
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const amx_type *t = &types[i];
        bool float_type = t->type == GGML_TYPE_BF16 || t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_F32;
        if (float_type && !cpu_get()->has_amx_bf16) {
            test_skip("amx: %s needs AMX-BF16", quant_type_name(t->type));
            continue;
        }
        test_kernel(t, 32, 256, 16);   /* one full tile pair */
        test_kernel(t, 37, 768, 33);   /* partial panel and token group on both sides */
        test_kernel(t, 5, 512, 1);     /* a single token */
        test_matmul(t, 96, 512, 40);
        if (!float_type) test_gated(t, 37, 768, 33);
    }
    {
        const amx_type q4_0 = types[0], q4_1 = types[1], q5_0 = types[2], q8_0 = types[4], iq4_nl = types[5];
        test_ffn(&q4_0, &q4_0, 256, 96, 40);
        test_ffn(&q8_0, &q5_0, 128, 64, 17);
        test_ffn(&q4_1, &q8_0, 64, 160, 33);
        test_ffn(&iq4_nl, &q4_0, 96, 32, 16);
        const amx_type q4_k = types[7], q5_k = types[8], q6_k = types[9], iq4_xs = types[10];
        test_ffn(&q4_k, &q6_k, 256, 512, 40);   /* Q4_K_M's pairing, two super-blocks */
        test_ffn(&q4_k, &q4_k, 512, 256, 17);
        test_ffn(&q4_0, &q5_k, 64, 256, 33);
        test_ffn(&iq4_xs, &iq4_xs, 256, 256, 16);
        TEST_BEGIN("amx: matmul_ffn takes Q8_0 down inputs from F % 32, Q8_K ones from F % 256");
        int old = matmul_set_amx_min_rows(16);
        EXPECT(!matmul_fuses_ffn(GGML_TYPE_Q4_0, GGML_TYPE_Q6_K, 256, 288, 64), "Q6_K down, F = 288");
        EXPECT(matmul_fuses_ffn(GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, 256, 512, 64), "Q6_K down, F = 512");
        EXPECT(!matmul_fuses_ffn(GGML_TYPE_Q4_K, GGML_TYPE_Q4_0, 256, 256, 64), "Q4_K gate, Q4_0 down");
        EXPECT(!matmul_fuses_ffn(GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, 256, 272, 64), "F = 272");
        EXPECT(!matmul_fuses_ffn(GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, 256, 256, 15), "15 tokens");
        EXPECT(matmul_fuses_ffn(GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, 256, 256, 64), "Q4_0 throughout");
        matmul_set_amx_min_rows(old);
        TEST_END();
    }
    if (cpu_get()->has_amx_bf16) {
        test_attention_tiles(32, 45);
        test_attention_tiles(256, 200);
        test_attention_tiles(512, 96);
        test_softmax_row();
    } else {
        test_skip("amx: the attention tiles need AMX-BF16");
    }
    TEST_BEGIN("amx: matmul_geglu is not offered for BF16 and F16 weights, nor below the AMX batch");
    int old = matmul_set_amx_min_rows(16);
    EXPECT(!matmul_fuses_geglu(GGML_TYPE_BF16, 512, 64) && !matmul_fuses_geglu(GGML_TYPE_F16, 512, 64), "float types");
    EXPECT(!matmul_fuses_geglu(GGML_TYPE_Q4_0, 512, 15) && matmul_fuses_geglu(GGML_TYPE_Q4_0, 512, 16), "batch size");
    matmul_set_amx_min_rows(old);
    TEST_END();
#endif
}
