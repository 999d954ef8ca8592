/* test_amx.c - the AMX tile kernels (kernels/amx.c) against the scalar row dots, the
 * feed-forward and attention entries of the tile table, the tile-operation emulation they
 * can run on (kernels/amx_ops.h), and the choice of the AMX kernel sets.
 *
 * The kernels under test are the real AMX set's on a CPU with AMX (and the OS's tile
 * state), else the "amx-emu" set's: the same code with the tile instructions emulated in C,
 * which needs the AVX-512 set for the rest; with neither, the kernel cases are skipped with
 * a message. Where both run, the emulation must give the hardware's bits. For each type
 * with a tile kernel: random weight rows (random bytes with moderate scale fields, as
 * test_simd.c does, so every code pattern occurs) and Gaussian activations through the
 * reference quantizer; every output of the tile set's rows() must match the scalar vec_dot
 * to within 1e-5 of a bound on the partial sums (the block integer sums are exact in both;
 * only the float accumulation order differs). Then the same through matmul() with its
 * thread pool, the tiles forced on for every batch size against the tiles off; the fused
 * feed-forward against its unfused steps, bit for bit; attention against double sums. */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "matmul.h"
#include "rng.h"
#include "test.h"
#include "threads.h"
#include "util.h"

/* The emulated tile operations themselves, compiled into this file: plain C, so their own
 * cases run on any machine. */
#define AMX_EMULATED 1
#include "kernels/amx_ops.h"

static uint32_t rnd(void) { return (uint32_t)(rng_u64() >> 32); }
static float gauss(void) { return (float)rng_gauss(); }
static void put_f16(uint8_t *p, float v) { uint16_t h = fp32_to_fp16(v); memcpy(p, &h, 2); }

typedef struct {
    uint32_t type;
    int f16[2];   /* offsets of the f16 scale fields in a block, -1 = none */
    int e8m0;     /* MXFP4's exponent byte, -1 = none */
} amx_type;

static const amx_type types[] = {
    {GGML_TYPE_Q4_0, {0, -1}, -1},   {GGML_TYPE_Q4_1, {0, 2}, -1},    {GGML_TYPE_Q5_0, {0, -1}, -1},
    {GGML_TYPE_Q5_1, {0, 2}, -1},    {GGML_TYPE_Q8_0, {0, -1}, -1},   {GGML_TYPE_IQ4_NL, {0, -1}, -1},
    {GGML_TYPE_MXFP4, {-1, -1}, 0},  {GGML_TYPE_Q4_K, {0, 2}, -1},    {GGML_TYPE_Q5_K, {0, 2}, -1},
    {GGML_TYPE_Q6_K, {208, -1}, -1}, {GGML_TYPE_IQ4_XS, {0, -1}, -1}, {GGML_TYPE_BF16, {-1, -1}, -1},
    {GGML_TYPE_F16, {-1, -1}, -1},   {GGML_TYPE_F32, {-1, -1}, -1},
};
enum { T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0, T_IQ4_NL, T_MXFP4, T_Q4_K, T_Q5_K, T_Q6_K, T_IQ4_XS, T_BF16, T_F16 };

static bool is_float(uint32_t type) { return type == GGML_TYPE_BF16 || type == GGML_TYPE_F16 || type == GGML_TYPE_F32; }

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

/* y[M][N] through set s's tile kernels straight (no pool): pack every group, rows() per
 * two panels. */
static void tile_products(const kernel_set *s, uint32_t type, float *y, const uint8_t *w, int N, int K,
                          const uint8_t *a, size_t a_row, int M) {
    const tile_kernels *t = &s->tile;
    size_t w_row = quant_row_size(type, K), gs = t->group_size(type, K);
    uint8_t *packed = malloc(gs * (size_t)((M + t->group - 1) / t->group));
    uint8_t *scratch = malloc(t->scratch_size(type, K));
    for (int m0 = 0; m0 < M; m0 += t->group)
        t->pack(type, a + (size_t)m0 * a_row, a_row, K, M - m0 < t->group ? M - m0 : t->group,
                packed + gs * (size_t)(m0 / t->group));
    for (int n0 = 0; n0 < N; n0 += 2 * t->panel)
        t->rows(type, y, N, w, w_row, K, n0, N - n0 < 2 * t->panel ? N - n0 : 2 * t->panel, packed, M, scratch);
    free(packed);
    free(scratch);
}

static void test_kernel(const kernel_set *s, const amx_type *t, int N, int K, int M) {
    const type_traits *ref = quant_traits(t->type);
    TEST_BEGIN("amx %s: %s, %d rows x %d tokens x K %d, matches the scalar kernel", s->name, ref->name, N, M, K);
    uint8_t *w = random_weights(t, N, K);
    float *x;
    size_t a_row, w_row = quant_row_size(t->type, K);
    uint8_t *a = random_acts(t->type, M, K, &x, &a_row);
    float *y = malloc((size_t)M * N * sizeof(float));
    for (int i = 0; i < M * N; i++) y[i] = NAN;
    tile_products(s, t->type, y, w, N, K, a, a_row, M);
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
    free(y);
    TEST_END();
}

/* Through matmul(): two threads, the tiles for every batch size vs the vector kernels. */
static void test_matmul(const kernel_set *s, const amx_type *t, int N, int K, int M) {
    const type_traits *ref = quant_traits(t->type);
    TEST_BEGIN("amx %s: matmul %s %dx%d, %d tokens, tiles on = tiles off", s->name, ref->name, N, K, M);
    uint8_t *w = random_weights(t, N, K);
    float *x;
    size_t a_row;
    free(random_acts(t->type, M, K, &x, &a_row));
    matmul_ctx mc = two_thread_ctx(K, M);
    float *on = malloc((size_t)M * N * sizeof(float)), *off = malloc((size_t)M * N * sizeof(float));
    for (int i = 0; i < M * N; i++) on[i] = NAN;
    int old = matmul_set_tile_min_rows(1);
    matmul(&mc, on, w, t->type, N, K, x, M);
    EXPECT(mc.tile_act != NULL, "matmul did not take the tile kernels");
    matmul_set_tile_min_rows(0);
    matmul(&mc, off, w, t->type, N, K, x, M);
    matmul_set_tile_min_rows(old);
    double worst = 0, scale = 0;
    for (int i = 0; i < M * N; i++) {
        worst = fmax(worst, isnan(on[i]) ? INFINITY : fabs((double)on[i] - off[i]));
        scale = fmax(scale, fabs((double)off[i]));
    }
    EXPECT(worst <= 1e-4 * (1 + scale) * sqrt((double)K / 256), "max |on - off| %.3g (largest output %.3g)", worst, scale);
    ctx_free(&mc);
    free(w);
    free(x);
    free(on);
    free(off);
    TEST_END();
}

/* matmul_geglu (gate and up panels side by side, geglu on the tiles) against the same two
 * products through the tiles separately and the geglu kernel over their outputs: the same
 * tile sums in the same order, so equal bit for bit. */
static void test_gated(const kernel_set *s, const amx_type *t, int N, int K, int M) {
    const type_traits *ref = quant_traits(t->type);
    TEST_BEGIN("amx %s: matmul_geglu %s %dx%d, %d tokens = gate and up products, then geglu", s->name, ref->name, N,
               K, M);
    EXPECT(s->tile.gated_supports(t->type) && s->tile.supports(t->type, K), "the tiles do not take the gated pair");
    uint8_t *gate = random_weights(t, N, K), *up = random_weights(t, N, K);
    float *x;
    size_t a_row;
    free(random_acts(t->type, M, K, &x, &a_row));
    matmul_ctx mc = two_thread_ctx(K, M);
    size_t n = (size_t)M * N;
    float *fused = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    int old = matmul_set_tile_min_rows(1);
    matmul_geglu(&mc, fused, gate, up, t->type, N, K, x, M, u);
    matmul_part p[2] = {{.y = g, .w = gate, .type = t->type, .N = N},
                          {.y = u, .w = up, .type = t->type, .N = N}};
    matmul_many(&mc, p, 2, K, x, M);
    s->vec.geglu(g, g, u, (int)n);
    matmul_set_tile_min_rows(old);
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

/* matmul_ffn against its steps taken one by one under the same settings: matmul_geglu, then
 * the down matmul. Where the tiles take the whole feed-forward (`fused`: the gated outputs
 * quantized on the tiles into the down projection's input, which alone grows ffn_act), the
 * same codes and scales; elsewhere the same calls. Equal bit for bit either way. */
static void test_ffn(const kernel_set *s, const amx_type *g, const amx_type *d, int E, int F, int M, bool fused) {
    TEST_BEGIN("amx %s: matmul_ffn %s / %s down, E %d, F %d, %d tokens, %s = geglu, then down", s->name,
               quant_type_name(g->type), quant_type_name(d->type), E, F, M, fused ? "fused" : "not fused");
    uint8_t *gate = random_weights(g, F, E), *up = random_weights(g, F, E), *down = random_weights(d, E, F);
    float *x;
    size_t a_row;
    free(random_acts(GGML_TYPE_F32, M, E, &x, &a_row));
    matmul_ctx mc = two_thread_ctx(F > E ? F : E, M);
    matmul_ffn_weights w = {gate, up, down, g->type, g->type, d->type, E, F, false};
    float *out = malloc((size_t)M * E * sizeof(float)), *mid = malloc(matmul_ffn_scratch(&w, M) * sizeof(float));
    float *sep = malloc((size_t)M * E * sizeof(float)), *act = malloc((size_t)M * F * sizeof(float));
    float *u = malloc((size_t)M * F * sizeof(float));
    matmul_ffn(&mc, out, &w, x, M, mid);
    EXPECT((mc.ffn_act != NULL) == fused, "the tiles %s the whole feed-forward", fused ? "did not take" : "took");
    matmul_geglu(&mc, act, gate, up, g->type, F, E, x, M, u);
    matmul(&mc, sep, down, d->type, E, F, act, M);
    int bad = 0;
    for (size_t i = 0; i < (size_t)M * E; i++)
        if (memcmp(&out[i], &sep[i], sizeof(float)) != 0 && bad++ < 3)
            EXPECT(0, "token %zu row %zu: matmul_ffn %.9g, steps %.9g", i / (size_t)E, i % (size_t)E, out[i], sep[i]);
    EXPECT(bad == 0, "%d outputs differ", bad);
    ctx_free(&mc);
    free(gate);
    free(up);
    free(down);
    free(x);
    free(out);
    free(mid);
    free(sep);
    free(act);
    free(u);
    TEST_END();
}

/* A block's probabilities in the AMX form (amx.c): two bf16 parts, planes of 16 rows x n
 * cells, row r at r * n; the parts as the kernels split them (h = bf16(x), m = bf16(x - h)). */
static void split_probs(const float *P, size_t stride, int n, uint16_t *pt) {
    for (int r = 0; r < 16; r++)
        for (int j = 0; j < n; j++) {
            float x = P[(size_t)r * stride + j];
            uint16_t h = fp32_to_bf16(x);
            pt[(size_t)r * n + j] = h;
            pt[(size_t)16 * n + (size_t)r * n + j] = fp32_to_bf16(x - bf16_to_fp32(h));
        }
}

/* The attention tiles against double sums: a kv head of len cells (not a multiple of 32, so
 * the last block is padding), packed from a cache with two heads (strides as attention.c's);
 * scores of 12 query rows (the block's other 4 zero) over two steps, the second running into
 * the padding; P V over the same cells. Scores must match to f32 precision (2^-22 of
 * sum |q k|), P V to 2^-15 of sum |p v| (two-part splits). */
static void test_attention_tiles(const kernel_set *s, int hd, int len) {
    const tile_kernels *t = &s->tile;
    TEST_BEGIN("amx %s: attention tiles, head dim %d, %d cells: scores to f32 precision, P V to 2^-15", s->name, hd,
               len);
    EXPECT(t->attn_supports(hd), "head dim %d not taken", hd);
    int kvd = 2 * hd, v_stride = (len + 15) / 16 * 16 + 16, n_blk = (len + 31) / 32, nq = 12;
    float *k = malloc((size_t)len * kvd * sizeof(float)), *v = malloc((size_t)kvd * v_stride * sizeof(float));
    for (int i = 0; i < len * kvd; i++) k[i] = gauss();
    for (int i = 0; i < kvd * v_stride; i++) v[i] = gauss();
    float q[16 * 512], P[16 * 512], S[16 * 512], T[16 * 512];
    for (int i = 0; i < 16 * hd; i++) q[i] = gauss();
    for (int i = 0; i < 16 * 512; i++) P[i] = (float)(rnd() % 100000) / 100000.0f;
    size_t kv_bytes = t->kv_size(hd, len);
    uint8_t *kv = malloc(kv_bytes), *qt = malloc(t->query_size(hd)), *pt = malloc(t->prob_size(512));
    memset(kv, 0xff, kv_bytes); /* every byte must be written */
    memset(qt, 0xff, t->query_size(hd));
    t->kv_pack(k + hd, (size_t)kvd, v + (size_t)hd * v_stride, (size_t)v_stride, hd, len, 0, n_blk, kv);
    t->attn_queries(q, (size_t)hd, nq, hd, qt);
    int bad = 0;
    for (int c0 = 0; c0 < 32 * n_blk; c0 += 64) {
        int n = 32 * n_blk - c0 < 64 ? 32 * n_blk - c0 : 64;
        for (int i = 0; i < 16 * 512; i++) S[i] = NAN;
        t->attn_scores(S, 512, qt, hd, kv, len, c0, n);
        for (int r = 0; r < 16; r++)
            for (int j = 0; j < n; j++) {
                double want = 0, mag = 0;
                for (int d = 0; r < nq && c0 + j < len && d < hd; d++) {
                    double p = (double)q[r * hd + d] * k[(size_t)(c0 + j) * kvd + hd + d];
                    want += p;
                    mag += fabs(p);
                }
                if (!(fabs(S[r * 512 + j] - want) <= mag * 0x1p-22) && bad++ < 3)
                    EXPECT(0, "score row %d cell %d: got %.9g, want %.9g", r, c0 + j, S[r * 512 + j], want);
            }
        split_probs(P, 512, n, (uint16_t *)(void *)pt);
        for (int i = 0; i < 16 * 512; i++) T[i] = NAN;
        t->attn_values(T, (size_t)hd, pt, n, kv, len, hd, c0);
        for (int r = 0; r < 16; r++)
            for (int d = 0; d < hd; d++) {
                double want = 0, mag = 0;
                for (int j = 0; j < n && c0 + j < len; j++) {
                    double p = (double)P[r * 512 + j] * v[(size_t)(hd + d) * v_stride + c0 + j];
                    want += p;
                    mag += fabs(p);
                }
                if (!(fabs(T[r * hd + d] - want) <= mag * 0x1p-15) && bad++ < 3)
                    EXPECT(0, "P V row %d dim %d: got %.9g, want %.9g", r, d, T[r * hd + d], want);
            }
    }
    EXPECT(bad == 0, "%d outputs differ", bad);
    free(k);
    free(v);
    free(kv);
    free(qt);
    free(pt);
    TEST_END();
}

/* attn_probs against expf in double: e_k = exp(s_k - max) for k in [a, b], the max taken
 * with the running one, values below FLT_MIN flushed, zero outside; e comes back as the
 * row's two bf16 parts (to 2^-16), the sum to f32 rounding. A row with a > b is all zero
 * and keeps its max. */
static void test_softmax_row(const kernel_set *s) {
    TEST_BEGIN("amx %s: softmax step: exp to 2 ulp, masked and flushed lanes zero, running max kept", s->name);
    enum { N = 96, ROW = 5 };
    float sc[N];
    uint16_t p[32 * N];
    int bad = 0;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < N; k++) sc[k] = 8.0f * gauss();
        sc[40] = -150.0f; /* exp underflows: flushed to 0 */
        int a = 5 + round, b = 80 - 7 * round;
        float prior[3] = {-INFINITY, 0.5f, 40.0f}, m = prior[round];
        double mx = prior[round];
        for (int k = a; k <= b; k++) mx = sc[k] > mx ? sc[k] : mx;
        memset(p, 0xff, sizeof p);
        float sum = s->tile.attn_probs(sc, N, a, b, &m, p, ROW);
        EXPECT(m == (float)mx, "max %g, want %g", m, mx);
        double want_sum = 0;
        for (int k = 0; k < N; k++) {
            double want = k < a || k > b ? 0 : exp((double)sc[k] - mx);
            if (want < FLT_MIN) want = 0;
            want_sum += want;
            double got = (double)bf16_to_fp32(p[ROW * N + k]) + bf16_to_fp32(p[16 * N + ROW * N + k]);
            if (!(fabs(got - want) <= want * 0x1p-16) && bad++ < 3)
                EXPECT(0, "round %d lane %d: got %.9g, want %.9g", round, k, got, want);
        }
        EXPECT(fabs(sum - want_sum) <= want_sum * 1e-6, "sum %.9g, want %.9g", sum, want_sum);
    }
    float m = 3.0f;
    memset(p, 0xff, sizeof p);
    float sum = s->tile.attn_probs(sc, N, 1, 0, &m, p, ROW);
    for (int k = 0; k < N; k++) bad += p[ROW * N + k] != 0 || p[16 * N + ROW * N + k] != 0;
    EXPECT(sum == 0.0f && m == 3.0f, "empty range: sum %g, max %g", sum, m);
    EXPECT(bad == 0, "%d lanes differ", bad);
    TEST_END();
}

/* On a CPU with AMX: the emulated set gives the real tiles' bits, on the int8 and the bf16
 * paths and the attention scores. */
static void test_emulation_matches(const kernel_set *real, const kernel_set *emu) {
    static const int which[] = {T_Q4_0, T_Q4_1, T_Q4_K, T_Q6_K, T_IQ4_XS, T_BF16, T_F16, T_F16 + 1};
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
        const amx_type *t = &types[which[i]];
        if (is_float(t->type) && !real->tile.supports(t->type, 512)) continue; /* no AMX-BF16 */
        TEST_BEGIN("amx: the emulated tiles give the hardware's bits, %s", quant_type_name(t->type));
        int N = 37, K = 512, M = 33;
        uint8_t *w = random_weights(t, N, K);
        float *x;
        size_t a_row;
        uint8_t *a = random_acts(t->type, M, K, &x, &a_row);
        float *y1 = malloc((size_t)M * N * sizeof(float)), *y2 = malloc((size_t)M * N * sizeof(float));
        tile_products(real, t->type, y1, w, N, K, a, a_row, M);
        tile_products(emu, t->type, y2, w, N, K, a, a_row, M);
        EXPECT(memcmp(y1, y2, (size_t)M * N * sizeof(float)) == 0, "outputs differ");
        free(w);
        free(x);
        free(a);
        free(y1);
        free(y2);
        TEST_END();
    }
}

/* The emulated operations against their definitions (amx_ops.h): shapes, int32 wrapping,
 * the order of tdpbf16ps's sums, denormals in and out. */
static void test_emulated_ops(void) {
    TEST_BEGIN("amx emulation: tdpbssd is C += A . B over signed bytes in wrapping int32, rows and columns past "
               "the shape zero");
    _Alignas(64) tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[0] = 3, cfg.colsb[0] = 8;   /* A: 3 x 8 bytes (K = 8) */
    cfg.rows[1] = 2, cfg.colsb[1] = 12;  /* B: 2 rows x 3 columns of 4 bytes */
    cfg.rows[2] = 3, cfg.colsb[2] = 12;  /* C: 3 x 3 int32 */
    tile_config_load(&cfg);
    int8_t A[3][8], B[2][12];
    int32_t C[3][3], got[4][4];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 8; k++) A[i][k] = (int8_t)(rnd() & 0xff);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 12; j++) B[k][j] = (int8_t)(rnd() & 0xff);
    A[0][0] = -128, B[0][0] = -128;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) C[i][j] = i == 0 && j == 0 ? INT32_MAX : (int32_t)rnd();
    tile_load(0, A, 8);
    tile_load(1, B, 12);
    tile_load(2, C, 12);
    tile_dpbssd(2, 0, 1);
    memset(got, 0x55, sizeof got);
    tile_store(2, got, 16);
    int bad = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int64_t want = C[i][j];
            for (int k = 0; k < 8; k++) want += A[i][k] * B[k / 4][4 * j + k % 4];
            bad += got[i][j] != (int32_t)(uint32_t)(uint64_t)want;
        }
    EXPECT(bad == 0, "%d outputs differ", bad);
    EXPECT(got[0][3] == 0x55555555 && got[3][0] == 0x55555555, "stored past the tile's shape");
    tile_release();
    TEST_END();

    TEST_BEGIN("amx emulation: tdpbf16ps sums even and odd pairs apart, then adds them to C; denormals read as "
               "zero, tiny results flush");
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[0] = 1, cfg.colsb[0] = 8;   /* A: one row, 2 pairs */
    cfg.rows[1] = 2, cfg.colsb[1] = 4;   /* B: 2 rows x 1 column (a pair) */
    cfg.rows[2] = 1, cfg.colsb[2] = 4;   /* C: 1 x 1 */
    tile_config_load(&cfg);
    /* C = 1, even products 2^24 and -2^24, odd ones 1 and 0: the SDM's order gives
     * 1 + ((2^24 - 2^24) + (1 + 0)) = 2; each product straight into C would give
     * ((1 + 2^24) + 1 - 2^24) + 0 = 0 (2^24 + 1 rounds to 2^24) */
    uint16_t a[4] = {fp32_to_bf16(0x1p12f), fp32_to_bf16(1.0f), fp32_to_bf16(-0x1p12f), fp32_to_bf16(1.0f)};
    uint16_t b[2][2] = {{fp32_to_bf16(0x1p12f), fp32_to_bf16(1.0f)}, {fp32_to_bf16(0x1p12f), 0}};
    float c = 1.0f, out = 0;
    tile_load(0, a, 8);
    tile_load(1, b, 4);
    tile_load(2, &c, 4);
    tile_dpbf16ps(2, 0, 1);
    tile_store(2, &out, 4);
    EXPECT(out == 2.0f, "order: got %.9g, want 2", out);
    /* C = -2^24, even products 2^24 and 0, odd ones 1 and 0: (even + odd) rounds to 2^24
     * before it meets C, so the result is 0; C + even + odd in any other grouping gives 1 */
    uint16_t a2[4] = {fp32_to_bf16(0x1p12f), fp32_to_bf16(1.0f), 0, 0};
    uint16_t b2[2][2] = {{fp32_to_bf16(0x1p12f), fp32_to_bf16(1.0f)}, {0, 0}};
    c = -0x1p24f;
    tile_load(0, a2, 8);
    tile_load(1, b2, 4);
    tile_load(2, &c, 4);
    tile_dpbf16ps(2, 0, 1);
    tile_store(2, &out, 4);
    EXPECT(out == 0.0f, "the partial sums meet C last: got %.9g, want 0", out);
    /* a denormal input reads as zero: 2^-130 * 2^10 would be 2^-120, a normal result */
    uint16_t da[4] = {fp32_to_bf16(0x1p-130f), 0, 0, 0}, db[2][2] = {{fp32_to_bf16(0x1p10f), 0}, {0, 0}};
    c = 0.0f;
    tile_load(0, da, 8);
    tile_load(1, db, 4);
    tile_load(2, &c, 4);
    tile_dpbf16ps(2, 0, 1);
    tile_store(2, &out, 4);
    EXPECT(out == 0.0f, "denormal input: got %g", out);
    /* a tiny result flushes to zero: -2^-70 * 2^-70 (not -2^-140, a denormal) */
    uint16_t ta[4] = {fp32_to_bf16(-0x1p-70f), 0, 0, 0}, tb[2][2] = {{fp32_to_bf16(0x1p-70f), 0}, {0, 0}};
    tile_load(0, ta, 8);
    tile_load(1, tb, 4);
    tile_load(2, &c, 4);
    tile_dpbf16ps(2, 0, 1);
    tile_store(2, &out, 4);
    EXPECT(out == 0.0f, "tiny result: got %g, want 0", out);
    tile_release();
    TEST_END();
}

/* matmul_many (products sharing their input, converted once) must give exactly what
 * separate matmul calls give: mixed activation formats (Q8_K, Q8_0, f32), single tokens and
 * a batch (tile kernels when the active set has them). */
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
        p[i] = (matmul_part){.y = malloc((size_t)M * N[i] * sizeof(float)), .w = w[i], .type = parts[i].type,
                             .N = N[i]};
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

/* y = 2 y + 1 on a run of outputs (an epilogue that shows whether it ran exactly once). */
static void twice_plus_one(const void *arg, float *y, int64_t n) {
    (void)arg;
    for (int64_t i = 0; i < n; i++) y[i] = 2.0f * y[i] + 1.0f;
}

/* Parts with inputs of their own (one job for the down products of a token's experts),
 * some sharing one, some the job's, one with an epilogue: each part's outputs must be a
 * separate matmul's on its input, bit for bit, the epilogue applied once to each. On the
 * active set's kernels, or (tiles: its name) with its tiles forced on. */
static void test_many_inputs(int M, const char *tiles) {
    TEST_BEGIN("matmul: matmul_many of parts with inputs of their own and an epilogue = separate matmuls, %d tokens%s%s",
               M, tiles ? ", tiles of " : "", tiles ? tiles : "");
    int old_min = matmul_set_tile_min_rows(tiles ? 1 : -1);
    static const amx_type parts[] = {{GGML_TYPE_Q4_0, {0, -1}, -1}, {GGML_TYPE_Q8_0, {0, -1}, -1},
                                     {GGML_TYPE_Q4_0, {0, -1}, -1}, {GGML_TYPE_Q4_K, {0, 2}, -1},
                                     {GGML_TYPE_F16, {-1, -1}, -1}};
    enum { P = 5, K = 256 };
    const int N[P] = {40, 24, 33, 64, 17};
    const int input[P] = {1, 0, 2, 1, 2}; /* 0: the job's X */
    float *x[3];
    size_t a_row;
    for (int k = 0; k < 3; k++) free(random_acts(GGML_TYPE_F32, M, K, &x[k], &a_row));
    matmul_ctx mc = two_thread_ctx(K, M);
    matmul_part p[P];
    float *one[P];
    uint8_t *w[P];
    for (int i = 0; i < P; i++) {
        w[i] = random_weights(&parts[i], N[i], K);
        p[i] = (matmul_part){.y = malloc((size_t)M * N[i] * sizeof(float)), .w = w[i], .type = parts[i].type,
                             .N = N[i], .x = input[i] ? x[input[i]] : NULL};
        one[i] = malloc((size_t)M * N[i] * sizeof(float));
        matmul(&mc, one[i], w[i], parts[i].type, N[i], K, x[input[i]], M);
    }
    p[3].epilogue = twice_plus_one;
    for (int m = 0; m < M * N[3]; m++) one[3][m] = 2.0f * one[3][m] + 1.0f;
    matmul_many(&mc, p, P, K, x[0], M);
    for (int i = 0; i < P; i++) {
        EXPECT(memcmp(one[i], p[i].y, (size_t)M * N[i] * sizeof(float)) == 0, "part %d (%s, input %d) differs", i,
               quant_type_name(parts[i].type), input[i]);
        free(p[i].y);
        free(one[i]);
        free(w[i]);
    }
    ctx_free(&mc);
    for (int k = 0; k < 3; k++) free(x[k]);
    matmul_set_tile_min_rows(old_min);
    TEST_END();
}

/* Which threads ran the prologue, how often, and the thread count it was told. */
typedef struct { atomic_int calls[4]; atomic_int nth; } prologue_log;

static void log_prologue(const void *arg, int ith, int nth) {
    prologue_log *l = (prologue_log *)(uintptr_t)arg;
    if (ith >= 0 && ith < 4) atomic_fetch_add(&l->calls[ith], 1);
    atomic_store(&l->nth, nth);
}

/* A job's prologue (the first part's): run once by each thread of the run, told the run's
 * thread count, the products unchanged. */
static void test_prologue(int M) {
    TEST_BEGIN("matmul: a job's prologue runs once on each of its threads, the products unchanged, %d tokens", M);
    enum { K = 256, N = 96 };
    static const amx_type q4 = {GGML_TYPE_Q4_0, {0, -1}, -1};
    float *x;
    size_t a_row;
    free(random_acts(GGML_TYPE_F32, M, K, &x, &a_row));
    uint8_t *w = random_weights(&q4, N, K);
    matmul_ctx mc = two_thread_ctx(K, M);
    float *plain = malloc((size_t)M * N * sizeof(float)), *y = malloc((size_t)M * N * sizeof(float));
    matmul(&mc, plain, w, GGML_TYPE_Q4_0, N, K, x, M);
    for (int run = 0; run < 3; run++) {
        prologue_log log = {0};
        matmul_part p = {.y = y, .w = w, .type = GGML_TYPE_Q4_0, .N = N, .prologue = log_prologue,
                         .prologue_arg = &log};
        matmul_many(&mc, &p, 1, K, x, M);
        EXPECT(atomic_load(&log.calls[0]) == 1 && atomic_load(&log.calls[1]) == 1 && atomic_load(&log.calls[2]) == 0,
               "run %d: calls %d, %d, %d", run, atomic_load(&log.calls[0]), atomic_load(&log.calls[1]),
               atomic_load(&log.calls[2]));
        EXPECT(atomic_load(&log.nth) == 2, "run %d: nth %d", run, atomic_load(&log.nth));
        EXPECT(memcmp(plain, y, (size_t)M * N * sizeof(float)) == 0, "run %d: the products differ", run);
    }
    prologue_log log = {0};
    matmul_part p = {.y = y, .w = w, .type = GGML_TYPE_Q4_0, .N = N, .prologue = log_prologue, .prologue_arg = &log};
    pool_set_active(mc.pool, 1);
    matmul_many(&mc, &p, 1, K, x, M);
    pool_set_active(mc.pool, 2);
    EXPECT(atomic_load(&log.calls[0]) == 1 && atomic_load(&log.calls[1]) == 0 && atomic_load(&log.nth) == 1,
           "one active thread: calls %d, %d, nth %d", atomic_load(&log.calls[0]), atomic_load(&log.calls[1]),
           atomic_load(&log.nth));
    ctx_free(&mc);
    free(plain);
    free(y);
    free(w);
    free(x);
    TEST_END();
}

static void test_selection(void) {
    TEST_BEGIN("amx: the AMX set is preferred, GEMMA_KERNELS=avx512 turns it off, amx-emu only when asked for");
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
    EXPECT(kernel_set_choose(&f, NULL, warn, sizeof warn) == KERNELS_AVX512, "the emulation is never the best");
    EXPECT(kernel_set_choose(&f, "amx-emu", warn, sizeof warn) == KERNELS_AMX_EMULATED && !warn[0], "amx-emu request");
    cpu_features avx2 = f;
    avx2.has_avx512f = false;
    EXPECT(kernel_set_choose(&avx2, "amx-emu", warn, sizeof warn) == KERNELS_AMX_AVX512_EMULATED && !warn[0],
           "amx-emu without AVX-512: over the emulated AVX-512 set: '%s'", warn);
    EXPECT(kernel_set_choose(&avx2, NULL, warn, sizeof warn) == KERNELS_AVX2, "without AVX-512, no emulation is best");
    cpu_features no_fma = avx2;
    no_fma.has_fma = false;
    EXPECT(kernel_set_choose(&no_fma, "amx-emu", warn, sizeof warn) == KERNELS_SCALAR && strstr(warn, "amx-emu"),
           "amx-emu needs at least the AVX2 set: '%s'", warn);
    cpu_features no_int8 = amx;
    no_int8.has_amx_int8 = false;
    EXPECT(kernel_set_choose(&no_int8, NULL, warn, sizeof warn) == KERNELS_AVX512, "AMX-TILE without INT8");
    cpu_features no_vnni = amx;
    no_vnni.has_avx512vnni = false;
    EXPECT(kernel_set_choose(&no_vnni, NULL, warn, sizeof warn) == KERNELS_AVX2, "AMX needs the AVX-512 set");
#else
    EXPECT(kernel_set_choose(&amx, "amx", warn, sizeof warn) != KERNELS_AMX && warn[0], "no AMX off x86");
    EXPECT(kernel_set_choose(&amx, "amx-emu", warn, sizeof warn) != KERNELS_AMX_EMULATED && warn[0],
           "no emulated AMX off x86");
#endif
    TEST_END();
}

/* Every case of one AMX set (real or emulated). */
static void test_set(const kernel_set *s) {
    const tile_kernels *t = &s->tile;
    kernel_set_id before = kernels_select(s->id); /* matmul() runs on the active set */
    rng_seed(77);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const amx_type *ty = &types[i];
        if (!t->supports(ty->type, 512)) {
            test_skip("amx %s: %s needs AMX-BF16", s->name, quant_type_name(ty->type));
            continue;
        }
        test_kernel(s, ty, 32, 256, 16);   /* one full tile pair */
        test_kernel(s, ty, 37, 768, 33);   /* partial panel and token group on both sides */
        test_kernel(s, ty, 5, 512, 1);     /* a single token */
        test_matmul(s, ty, 96, 512, 40);
        test_matmul(s, ty, 96, 512, 1);    /* a single token: chunks of two panels */
        if (!is_float(ty->type)) test_gated(s, ty, 37, 768, 33);
    }
    const amx_type *q = types;
    test_ffn(s, &q[T_Q4_0], &q[T_Q4_0], 256, 96, 40, true);
    test_ffn(s, &q[T_Q8_0], &q[T_Q5_0], 128, 64, 17, true);
    test_ffn(s, &q[T_Q4_1], &q[T_Q8_0], 64, 160, 33, true);
    test_ffn(s, &q[T_IQ4_NL], &q[T_Q4_0], 96, 32, 16, true);
    test_ffn(s, &q[T_Q4_K], &q[T_Q6_K], 256, 512, 40, true);   /* Q4_K_M's pairing, two super-blocks */
    test_ffn(s, &q[T_Q4_K], &q[T_Q4_K], 512, 256, 17, true);
    test_ffn(s, &q[T_Q4_0], &q[T_Q5_K], 64, 256, 33, true);
    test_ffn(s, &q[T_IQ4_XS], &q[T_IQ4_XS], 256, 256, 16, true);
    /* not fused: a K-quant gate feeding Q8_0 activations; a batch below the tiles' minimum;
     * gate and up of a float type (not gated on the tiles) */
    test_ffn(s, &q[T_Q4_K], &q[T_Q4_0], 256, 256, 40, false);
    test_ffn(s, &q[T_Q4_0], &q[T_Q4_0], 256, 256, t->min_batch - 1, false);
    if (t->supports(GGML_TYPE_F16, 256)) test_ffn(s, &q[T_F16], &q[T_Q8_0], 256, 64, 33, false);
    if (t->attn_supports) {
        test_attention_tiles(s, 32, 45);
        test_attention_tiles(s, 256, 200);
        test_attention_tiles(s, 512, 96);
        test_softmax_row(s);
    } else {
        test_skip("amx %s: the attention tiles need AMX-BF16", s->name);
    }
    test_many_inputs(40, s->name);
    test_many_inputs(1, s->name);
    TEST_BEGIN("amx %s: the gated tiles take the quantized types only, and no head dims but multiples of 32", s->name);
    EXPECT(!t->gated_supports(GGML_TYPE_BF16) && !t->gated_supports(GGML_TYPE_F16), "float types");
    EXPECT(t->gated_supports(GGML_TYPE_Q4_0) && t->gated_supports(GGML_TYPE_Q6_K), "Q4_0, Q6_K");
    EXPECT(!t->attn_supports || (!t->attn_supports(80) && t->attn_supports(256)), "head dims");
    TEST_END();
    kernels_select(before);
}

void suite_amx(void) {
    rng_seed(7);
    test_many(1);
    test_many(40);
    test_many_inputs(1, NULL);
    test_many_inputs(40, NULL);
    test_prologue(1);
    test_prologue(40);
    test_selection();
    test_emulated_ops();
    const cpu_features *f = cpu_get();
    /* the emulated tiles over the real AVX-512 set, or where it is missing over the emulated one */
    kernel_set_id emu_id = kernel_set_supported(f, KERNELS_AMX_EMULATED) ? KERNELS_AMX_EMULATED
                                                                          : KERNELS_AMX_AVX512_EMULATED;
    bool real = kernel_set_supported(f, KERNELS_AMX), emulated = kernel_set_supported(f, emu_id);
    static kernel_set amx, emu; /* a set is a few KB */
    if (real) kernel_set_build(&amx, KERNELS_AMX);
    if (emulated) kernel_set_build(&emu, emu_id);
    if (real) {
        test_set(&amx);
        test_emulation_matches(&amx, &emu);
    } else if (emulated) {
        test_skip("amx: no AMX tiles here (CPU or OS), so the AMX kernels run on the emulated tiles");
        test_set(&emu);
    } else {
        test_skip("amx: no AMX, and not even the AVX2 set the emulated tiles and AVX-512 need: the AMX kernels are "
                  "not tested");
    }
}
