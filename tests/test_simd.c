/* test_simd.c - the SIMD kernel sets against their scalar twins, and the kernel selection.
 *
 * For every kernel set this CPU supports (the others are skipped) a private copy of the set
 * is built with kernel_set_build(), so the sets are tested side by side whatever
 * GEMMA_KERNELS says. Each weight type is checked on random rows of several lengths:
 *  - vec_dot and every gemm tile shape (1..GEMM_MAX_NW x 1..GEMM_MAX_NA, unaligned rows,
 *    padded strides, cells outside the tile untouched) against the scalar vec_dot of
 *    quant_traits(). Integer block sums are exact in both, only the order of the
 *    float accumulation differs, so they must agree to 1e-5 of sum |w[e] * a[e]| over the
 *    dequantized rows (which bounds every partial sum, hence the rounding of any order);
 *  - with all scales 1 the result is an integer and must be exact;
 *  - the replaced activation quantizers (Q8_0, Q8_1, Q8_K, Q8_0S) must write the reference bytes
 *    for finite inputs, exact ties included, and never the code -128;
 *  - the AVX-512 Q4_0 / Q5_0 / Q8_0 tiles must equal llama.cpp's summation order bit for bit
 *    (emulated here), including a captured real sum that sits on an f16 rounding midpoint;
 *    so must their one-activation-row (decode) path, also for rows longer than its prep.
 * A tile with na = 1 runs the AVX-512 set's decode kernels, so the tile cases cover those.
 * The forward pass's elementwise kernels (GEGLU, RMSNorm; dispatch.h's vec_kernels) must give the
 * scalar ones' bits (NaN as NaN) on rows of odd lengths, unaligned and in place, with edge
 * values: GELU's +-10 cut-offs, f16 rounding ties, subnormals, NaN, +-Inf, and 2^20 float bit
 * patterns spread over all of them; the scalar ones are checked once against their formulas.
 * With GEMMA_BENCH=1 the suite also prints vec_dot GB/s and gemm GFLOP/s per type and set on
 * a 2048 x 2048 matrix, and GEGLU / RMSNorm ns per element (one thread, per second of its
 * CPU time); nothing is asserted. */
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "util.h"
#include "rng.h"

void suite_simd(void);

/* ---------------------------------------------------------------- helpers */

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* The weight types with a vec_dot, and where their float scale fields sit in a block. */
typedef struct {
    uint32_t type;
    int f16_scales[2];   /* byte offsets of f16 scale fields, -1 = none */
    int e8m0_scale;      /* MXFP4's exponent byte offset, -1 = none */
} weight_type;

static const weight_type weight_types[] = {
    {GGML_TYPE_F32, {-1, -1}, -1},    {GGML_TYPE_F16, {-1, -1}, -1},
    {GGML_TYPE_BF16, {-1, -1}, -1},   {GGML_TYPE_Q4_0, {0, -1}, -1},
    {GGML_TYPE_Q4_1, {0, 2}, -1},     {GGML_TYPE_Q5_0, {0, -1}, -1},
    {GGML_TYPE_Q5_1, {0, 2}, -1},     {GGML_TYPE_Q8_0, {0, -1}, -1},
    {GGML_TYPE_Q2_K, {80, 82}, -1},   {GGML_TYPE_Q3_K, {108, -1}, -1},
    {GGML_TYPE_Q4_K, {0, 2}, -1},     {GGML_TYPE_Q5_K, {0, 2}, -1},
    {GGML_TYPE_Q6_K, {208, -1}, -1},  {GGML_TYPE_IQ4_NL, {0, -1}, -1},
    {GGML_TYPE_IQ4_XS, {0, -1}, -1},  {GGML_TYPE_MXFP4, {-1, -1}, 0},
    {TYPE_BF16_BF16, {-1, -1}, -1}, /* a bf16 KV cache's cells with bf16 probabilities */
};
#define N_WEIGHT_TYPES (int)(sizeof weight_types / sizeof weight_types[0])

static bool is_float_type(uint32_t t) {
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == TYPE_BF16_BF16;
}

/* A weight row of n elements: float types from Gaussian values; block types from random
 * bytes (every code pattern, Q8_0's -128 included) with the scale fields replaced by
 * moderate finite values, or by exactly 1 when `unit`. Float rows with `unit` hold small
 * integers, so every product and sum is exact. */
static void make_weight_row(const weight_type *wt, uint8_t *row, int n, bool unit) {
    const type_traits *t = quant_traits(wt->type);
    if (is_float_type(wt->type)) {
        float *x = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++)
            x[i] = unit ? (float)((int)(rng_u64() % 17) - 8) : (float)rng_gauss();
        t->from_float(x, row, n);
        free(x);
        return;
    }
    size_t size = quant_row_size(wt->type, n);
    for (size_t i = 0; i < size; i++) row[i] = (uint8_t)rng_u64();
    for (size_t b = 0; b < size; b += t->type_size) {
        for (int k = 0; k < 2; k++) {
            if (wt->f16_scales[k] < 0) continue;
            float v = unit ? 1.0f : (float)((0.2 + rng_uniform()) * 0.01);
            if (!unit && (wt->type == GGML_TYPE_Q4_1 || wt->type == GGML_TYPE_Q5_1) && k == 1)
                v = -v * 8; /* the added min */
            put_u16(row + b + (size_t)wt->f16_scales[k], fp32_to_fp16(v));
        }
        if (wt->e8m0_scale >= 0) row[b + (size_t)wt->e8m0_scale] = unit ? 128 : (uint8_t)(118 + rng_u64() % 8);
    }
}

/* An activation row in vec_dot_type: Gaussian values through the reference quantizer (so
 * codes stay in -127..127); with `unit`, random codes with every scale 1 and Q8_1's s = 0
 * (then Q4_1/Q5_1 give the pure integer dot, since their m is 1 * s). */
static void make_act_row(uint32_t at, uint8_t *row, int n, bool unit) {
    float *x = calloc((size_t)n, sizeof(float));
    for (int i = 0; i < n; i++) x[i] = (float)rng_gauss();
    bool plain = at == GGML_TYPE_F32 || at == GGML_TYPE_BF16; /* no scales: unit = small integers */
    if (plain && unit)
        for (int i = 0; i < n; i++) x[i] = (float)((int)(rng_u64() % 17) - 8);
    quantize_row(at, x, row, n);
    free(x);
    if (!unit || plain) return;
    const type_traits *t = quant_traits(at);
    for (size_t b = 0; b < quant_row_size(at, n); b += t->type_size) {
        if (at == GGML_TYPE_Q8_K) {
            float one = 1.0f;
            memcpy(row + b, &one, 4);
        } else {
            put_u16(row + b, 0x3c00);
            if (at == GGML_TYPE_Q8_1) put_u16(row + b + 2, 0);
        }
    }
}

/* The sum of |w[e] * a[e]| over the dequantized rows: a bound on every partial sum a kernel
 * may form (per lane, per block, per sub-block scale), so any summation order rounds to
 * within a small multiple of 2^-24 of it. For formats with a min (two scale fields) the d
 * and the min parts of each weight are bounded separately, since they may cancel. */
static double abs_terms(const weight_type *wt, const uint8_t *w, const uint8_t *a, int n) {
    const type_traits *t = quant_traits(wt->type);
    size_t size = quant_row_size(wt->type, n);
    float *wf = malloc((size_t)n * sizeof(float)), *af = malloc((size_t)n * sizeof(float));
    uint8_t *copy = malloc(size);
    dequant_row(t->vec_dot_type, a, af, n);
    double sum = 0.0;
    for (int k = 0; k < (wt->f16_scales[1] < 0 ? 1 : 2); k++) {
        memcpy(copy, w, size);
        if (wt->f16_scales[1] >= 0) /* zero the other field: k = 0 keeps d, k = 1 the min */
            for (size_t b = 0; b < size; b += t->type_size) put_u16(copy + b + wt->f16_scales[1 - k], 0);
        dequant_row(wt->type, copy, wf, n);
        for (int e = 0; e < n; e++) sum += fabs((double)wf[e] * (double)af[e]);
    }
    free(wf);
    free(af);
    free(copy);
    return sum;
}

static bool close_enough(float got, float want, double scale) {
    if (isnan(got) || isnan(want)) return false;
    return fabs((double)got - (double)want) <= 1e-5 * scale + 1e-30;
}

/* Row lengths tried for a block size: single blocks, odd counts, 4096+, and one longer than
 * the 16384 elements the AVX-512 tiles prepare activations for at a time. */
static int row_lengths(int bs, int *out) {
    if (bs == 1) {
        static const int f[] = {1, 7, 8, 33, 100, 4099, 16411};
        memcpy(out, f, sizeof f);
        return 7;
    }
    int mult[] = {1, 2, 3, 5, 8, 4096 / bs + 1, 16384 / bs + 3};
    for (int i = 0; i < 7; i++) out[i] = mult[i] * bs;
    return 7;
}

/* ---------------------------------------------------------------- one kernel set */

/* Set s, built privately (the sets are a few KB: not on the stack). */
static const kernel_set *built(kernel_set_id s) {
    static kernel_set sets[KERNELS_COUNT];
    kernel_set_build(&sets[s], s);
    return &sets[s];
}

static void test_vec_dot(const type_traits *tab, kernel_set_id set, const weight_type *wt) {
    const type_traits *ref = quant_traits(wt->type);
    uint32_t at = ref->vec_dot_type;
    int lens[8], nl = row_lengths(ref->blck_size, lens);
    TEST_BEGIN("simd %s: %s vec_dot matches the scalar kernel on random rows", kernel_set_name(set), ref->name);
    for (int li = 0; li < nl; li++) {
        int n = lens[li];
        for (int rep = 0; rep < 3; rep++) {
            /* odd offsets: rows sit at any byte offset of a mapping */
            uint8_t *wbuf = malloc(quant_row_size(wt->type, n) + 1), *abuf = malloc(quant_row_size(at, n) + 1);
            uint8_t *w = wbuf + 1, *a = abuf + (rep & 1);
            make_weight_row(wt, w, n, false);
            make_act_row(at, a, n, false);
            float want, got;
            ref->vec_dot(n, &want, w, a);
            tab[wt->type].vec_dot(n, &got, w, a);
            double scale = abs_terms(wt, w, a, n);
            EXPECT(close_enough(got, want, scale), "n=%d rep=%d: got %.9g, scalar %.9g (scale %.3g)", n, rep, got, want, scale);
            free(wbuf);
            free(abuf);
        }
    }
    TEST_END();

    TEST_BEGIN("simd %s: %s vec_dot with unit scales gives the scalar integer dot exactly", kernel_set_name(set), ref->name);
    for (int li = 0; li < nl - 1; li++) { /* the longest row's sums outgrow f32's 2^24 */
        int n = lens[li];
        uint8_t *w = malloc(quant_row_size(wt->type, n)), *a = malloc(quant_row_size(at, n));
        make_weight_row(wt, w, n, true);
        make_act_row(at, a, n, true);
        float want, got;
        ref->vec_dot(n, &want, w, a);
        tab[wt->type].vec_dot(n, &got, w, a);
        EXPECT(got == want && want == floorf(want), "n=%d: got %.9g, scalar %.9g", n, got, want);
        free(w);
        free(a);
    }
    TEST_END();
}

static void test_gemm(const type_traits *tab, kernel_set_id set, const weight_type *wt) {
    const type_traits *ref = quant_traits(wt->type);
    gemm_fn gemm = tab[wt->type].gemm;
    if (!gemm) return; /* the matmul driver uses vec_dot */
    uint32_t at = ref->vec_dot_type;
    int lens[8], nl = row_lengths(ref->blck_size, lens);
    TEST_BEGIN("simd %s: %s gemm, every tile shape up to %dx%d, matches the scalar kernel", kernel_set_name(set),
               ref->name, GEMM_MAX_NW, GEMM_MAX_NA);
    for (int li = 0; li < nl; li += 2) { /* lengths 0, 2, 4, 6: 1 block .. beyond 16384 */
        int n = lens[li];
        for (int unit = 0; unit < (li < nl - 1 ? 2 : 1); unit++) { /* exact only below 2^24 */
            size_t wrow = quant_row_size(wt->type, n), arow = quant_row_size(at, n);
            size_t w_stride = wrow + 3, a_stride = arow + 5; /* padded, unaligned strides */
            uint8_t *wbuf = malloc(w_stride * GEMM_MAX_NW + 1), *abuf = malloc(a_stride * GEMM_MAX_NA + 2);
            uint8_t *w = wbuf + 1, *a = abuf + 2;
            for (int i = 0; i < GEMM_MAX_NW; i++) make_weight_row(wt, w + i * w_stride, n, unit);
            for (int j = 0; j < GEMM_MAX_NA; j++) make_act_row(at, a + j * a_stride, n, unit);
            float want[GEMM_MAX_NA][GEMM_MAX_NW];
            double scale[GEMM_MAX_NA][GEMM_MAX_NW];
            for (int j = 0; j < GEMM_MAX_NA; j++)
                for (int i = 0; i < GEMM_MAX_NW; i++) {
                    ref->vec_dot(n, &want[j][i], w + i * w_stride, a + j * a_stride);
                    scale[j][i] = abs_terms(wt, w + i * w_stride, a + j * a_stride, n);
                }
            enum { S_STRIDE = GEMM_MAX_NW + 3 };
            for (int nw = 1; nw <= GEMM_MAX_NW; nw++)
                for (int na = 1; na <= GEMM_MAX_NA; na++) {
                    float s[GEMM_MAX_NA * S_STRIDE];
                    for (int k = 0; k < GEMM_MAX_NA * S_STRIDE; k++) s[k] = -12345.0f;
                    gemm(n, s, S_STRIDE, w, w_stride, a, a_stride, nw, na);
                    for (int j = 0; j < GEMM_MAX_NA; j++)
                        for (int i = 0; i < S_STRIDE; i++) {
                            float got = s[j * S_STRIDE + i];
                            if (j < na && i < nw) {
                                bool ok = unit ? got == want[j][i] : close_enough(got, want[j][i], scale[j][i]);
                                EXPECT(ok, "n=%d unit=%d tile %dx%d cell (w %d, a %d): got %.9g, scalar %.9g", n,
                                       unit, nw, na, i, j, got, want[j][i]);
                            } else {
                                EXPECT(got == -12345.0f, "n=%d tile %dx%d wrote outside the tile at (%d, %d)", n,
                                       nw, na, i, j);
                            }
                        }
                }
            free(wbuf);
            free(abuf);
        }
    }
    TEST_END();
}

/* ---------------------------------------------------------------- summation order */

/* The Q8_0 pairings in llama.cpp's x86 summation order (ggml's AVX2 row dot, its tile kernels,
 * and our AVX2 tiles for 2+ activation rows): per row 8 f32 lanes, lane m accumulating
 * fma(dw * da, P_m, lane m) over the blocks with P_m the integer dot of the block's elements
 * 4m..4m+3, then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
static int q8_0_pairing_code(uint32_t type, const uint8_t *blk, int e) {
    if (type == GGML_TYPE_Q8_0) return (int8_t)blk[2 + e];
    if (type == GGML_TYPE_Q4_0) return (e < 16 ? blk[2 + e] & 15 : blk[2 + e - 16] >> 4) - 8;
    uint32_t qh = rd_u32(blk + 2); /* Q5_0 */
    int low = e < 16 ? blk[6 + e] & 15 : blk[6 + e - 16] >> 4;
    return (low | (int)((qh >> e) & 1) << 4) - 16;
}

static float llama_order_dot(uint32_t type, int n, const uint8_t *w, const uint8_t *a) {
    size_t wsize = quant_traits(type)->type_size;
    float lane[8] = {0};
    for (int b = 0; b < n / 32; b++, w += wsize, a += 34) {
        float d = fp16_to_fp32(rd_u16(w)) * fp16_to_fp32(rd_u16(a));
        for (int m = 0; m < 8; m++) {
            int p = 0;
            for (int e = 4 * m; e < 4 * m + 4; e++) p += q8_0_pairing_code(type, w, e) * (int8_t)a[2 + e];
            lane[m] = fmaf(d, (float)p, lane[m]);
        }
    }
    float t0 = (lane[0] + lane[4]) + (lane[2] + lane[6]), t1 = (lane[1] + lane[5]) + (lane[3] + lane[7]);
    return t0 + t1;
}

/* Captured from gemma3-q4_0 (fixture ids, token 6, layer 0): FFN gate row 157 (Q4_0, 256
 * elements) and the Q8_0 activation row it meets. llama.cpp's order gives 1.58642578125,
 * exactly the midpoint between two halves; the GELU table rounds it to f16 (to even, down),
 * and a sum one ulp above rounds up instead, which moved later logits by 0.1. */
static const char tie_w_hex[] =
    "76a48b7348d98b98446396096458aa4b703611a50b6d6675a57bb9a49ed899e7b39f8a6a99a5c6db88f66549a77b4a8d"
    "cc0a69aba7573fa4a74dc998a26cc9ad4a67b8c205459833c0a679ccba7a90757859869a7ab56866573779234199037f"
    "2a74a3c60c54a5a8655f8998c324789426939877aa417949b9990c9d8537f421a1bf727e08c0647375a4d8c586f5a6cf";
static const char tie_a_hex[] =
    "eb255a1109ef231cfac923f11423df0bea7a18111eea7f094927de06dee85ce10d1bf9245492d4f8d2a50437187ec1f6"
    "b481f724fb5c0fd41db0f74df9410bcbe636f1bf8c28fc04fb1d25f2fe0bfd0c0c81c101070aeb032bfe183f25ee2a15"
    "21f0e4040deec225b3cd0cde37ed390738e431efc3faec0bc8c827817c091a9c11c8f720f840c21510270081e7f4e9e5"
    "cd399312e5400b0cecf0200edb1102fded3f98ba44023e0edfe66c279500154001fe010804137f12f0dce3fdfd34d5cb"
    "151c6ffd02b6fef10ff0fa210124e8d8e7dec7140f1d42c3e1447ffe02fc16242090ba2ede85695646b76c9818434d27"
    "a7f4e09e13c3ecf9e20c050b7f4ef61d542bf0f13246a1f6a4ba16d9fa1af00a";

static void hex_bytes(const char *hex, uint8_t *out) {
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* The x86 tiles of the Q8_0 pairings (AVX2 and AVX-512, decode's single activation row
 * included) and the AVX2 row dots keep llama.cpp's order bit for bit (the fixtures' logits
 * depend on it through f16 rounding midpoints), for every tile shape. */
static void test_summation_order(const type_traits *tab, kernel_set_id set) {
    bool avx512 = set == KERNELS_AVX512 || set == KERNELS_AVX512_EMULATED;
    if (!avx512 && set != KERNELS_AVX2) return;
    TEST_BEGIN("simd %s: a gemma3-q4_0 FFN gate sum on an f16 rounding midpoint comes out exact", kernel_set_name(set));
    enum { N = 256, WROW = 144, AROW = 272, S_STRIDE = GEMM_MAX_NW + 1 };
    uint8_t w[GEMM_MAX_NW * WROW], a[GEMM_MAX_NA * AROW];
    hex_bytes(tie_w_hex, w);
    hex_bytes(tie_a_hex, a);
    for (int i = 1; i < GEMM_MAX_NW; i++) memcpy(w + i * WROW, w, WROW);
    for (int j = 1; j < GEMM_MAX_NA; j++) memcpy(a + j * AROW, a, AROW);
    EXPECT(llama_order_dot(GGML_TYPE_Q4_0, N, w, a) == 1.58642578125f, "emulated order: %.9g",
           llama_order_dot(GGML_TYPE_Q4_0, N, w, a));
    int bad = 0;
    for (int nw = 1; nw <= GEMM_MAX_NW; nw++)
        for (int na = 1; na <= GEMM_MAX_NA; na++) {
            float s[GEMM_MAX_NA * S_STRIDE];
            tab[GGML_TYPE_Q4_0].gemm(N, s, S_STRIDE, w, WROW, a, AROW, nw, na);
            for (int j = 0; j < na; j++)
                for (int i = 0; i < nw; i++)
                    if (s[j * S_STRIDE + i] != 1.58642578125f && bad++ < 3)
                        EXPECT(false, "tile %dx%d cell (w %d, a %d): %.12g, want 1.58642578125", nw, na, i, j,
                               s[j * S_STRIDE + i]);
        }
    EXPECT(bad == 0, "%d cells off the midpoint", bad);
    TEST_END();

    static const uint32_t types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const weight_type *wt = NULL;
        for (int k = 0; k < N_WEIGHT_TYPES; k++)
            if (weight_types[k].type == types[ti]) wt = &weight_types[k];
        const type_traits *ref = quant_traits(wt->type);
        TEST_BEGIN("simd %s: %s gemm sums in llama.cpp's order, bit for bit, every tile shape", kernel_set_name(set),
                   ref->name);
        static const int lens[] = {32, 96, 256, 2048, 16384};
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            int n = lens[li];
            size_t w_stride = quant_row_size(wt->type, n) + 1, a_stride = quant_row_size(GGML_TYPE_Q8_0, n) + 3;
            uint8_t *w = malloc(w_stride * GEMM_MAX_NW), *a = malloc(a_stride * GEMM_MAX_NA);
            for (int i = 0; i < GEMM_MAX_NW; i++) make_weight_row(wt, w + i * w_stride, n, false);
            for (int j = 0; j < GEMM_MAX_NA; j++) make_act_row(GGML_TYPE_Q8_0, a + j * a_stride, n, false);
            float want[GEMM_MAX_NA][GEMM_MAX_NW];
            for (int j = 0; j < GEMM_MAX_NA; j++)
                for (int i = 0; i < GEMM_MAX_NW; i++) want[j][i] = llama_order_dot(wt->type, n, w + i * w_stride, a + j * a_stride);
            int bad = 0;
            for (int nw = 1; nw <= GEMM_MAX_NW; nw++)
                for (int na = 1; na <= GEMM_MAX_NA; na++) {
                    float s[GEMM_MAX_NA * S_STRIDE];
                    tab[wt->type].gemm(n, s, S_STRIDE, w, w_stride, a, a_stride, nw, na);
                    for (int j = 0; j < na; j++)
                        for (int i = 0; i < nw; i++)
                            if (s[j * S_STRIDE + i] != want[j][i] && bad++ < 3)
                                EXPECT(false, "n=%d tile %dx%d cell (w %d, a %d): got %.9g, llama.cpp order %.9g", n,
                                       nw, na, i, j, s[j * S_STRIDE + i], want[j][i]);
                }
            EXPECT(bad == 0, "n=%d: %d cells differ from llama.cpp's order", n, bad);
            if (set == KERNELS_AVX2) { /* its row dots too (the AVX-512 set keeps Q4_0's own) */
                int bad_dot = 0;
                for (int i = 0; i < GEMM_MAX_NW; i++) {
                    float got;
                    tab[wt->type].vec_dot(n, &got, w + i * w_stride, a);
                    bad_dot += got != want[0][i];
                }
                EXPECT(bad_dot == 0, "n=%d: %d row dots differ from llama.cpp's order", n, bad_dot);
            }
            free(w);
            free(a);
        }
        TEST_END();
    }

    /* Decode (one activation row) keeps the order for any length: rows longer than the
     * activation prep holds (PREP_MAX blocks, 16384 elements) take its fallback path. The
     * tiles split such rows into chunks, so this is for na = 1 only. */
    if (!avx512) return;
    TEST_BEGIN("simd %s: decode (one activation row) sums in llama.cpp's order beyond 16384 elements",
               kernel_set_name(set));
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const weight_type *wt = NULL;
        for (int k = 0; k < N_WEIGHT_TYPES; k++)
            if (weight_types[k].type == types[ti]) wt = &weight_types[k];
        enum { NW = 5 };
        int n = 16384 + 96;
        size_t w_stride = quant_row_size(wt->type, n) + 1;
        uint8_t *w = malloc(w_stride * NW), *a = malloc(quant_row_size(GGML_TYPE_Q8_0, n));
        for (int i = 0; i < NW; i++) make_weight_row(wt, w + i * w_stride, n, false);
        make_act_row(GGML_TYPE_Q8_0, a, n, false);
        float s[NW + 1];
        s[NW] = -12345.0f;
        tab[wt->type].gemm(n, s, NW, w, w_stride, a, 0, NW, 1);
        for (int i = 0; i < NW; i++) {
            float want = llama_order_dot(wt->type, n, w + i * w_stride, a);
            EXPECT(s[i] == want, "%s row %d: got %.9g, llama.cpp order %.9g", quant_type_name(wt->type), i, s[i], want);
        }
        EXPECT(s[NW] == -12345.0f, "%s: wrote past the %d rows", quant_type_name(wt->type), NW);
        free(w);
        free(a);
    }
    TEST_END();
}

/* The replaced activation quantizers write the reference bytes. */
static void test_quantizers(const type_traits *tab, kernel_set_id set) {
    static const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q8_1, GGML_TYPE_Q8_K, TYPE_Q8_0S, GGML_TYPE_BF16,
                                     GGML_TYPE_F16};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t type = types[ti];
        const type_traits *ref = quant_traits(type);
        if (tab[type].from_float == ref->from_float) continue;
        /* BF16 (BF16_R16's activations) and F16 (the KV cache's rows) have no codes */
        bool codes = type != GGML_TYPE_BF16 && type != GGML_TYPE_F16;
        TEST_BEGIN("simd %s: %s activation quantizer writes the reference bytes%s", kernel_set_name(set), ref->name,
                   codes ? ", never -128" : " (NaN, Inf, subnormals, ties too)");
        enum { N = 4096 };
        float *x = malloc(N * sizeof(float));
        size_t size = quant_row_size(type, N);
        uint8_t *want = malloc(size), *got = malloc(size);
        for (int kind = 0; kind < (codes ? 6 : 7); kind++) {
            for (int i = 0; i < N; i++) x[i] = (float)rng_gauss();
            if (kind == 1) /* exact ties: amax 127 makes d = 1 (Q8_0) and iscale = +-1 (Q8_K) */
                for (int i = 0; i < N; i++) x[i] = (float)((int)(rng_u64() % 254) - 127) + ((rng_u64() & 1) ? 0.5f : 0.0f);
            if (kind == 1)
                for (int i = 0; i < N; i += 32) x[i + (int)(rng_u64() % 32)] = (rng_u64() & 1) ? 127.0f : -127.0f;
            if (kind == 2) /* outliers, zero blocks, equal-magnitude maxima of both signs */
                for (int i = 0; i < N; i++) {
                    uint64_t r = rng_u64() % 64;
                    if (r == 0) x[i] = 1e4f;
                    if (r == 1) x[i] = -1e4f;
                    if (i >= 512 && i < 1024) x[i] = 0.0f;
                }
            if (kind == 3) /* tiny values (subnormal f16 scales) and huge ones */
                for (int i = 0; i < N; i++) x[i] *= (i < N / 2) ? 1e-6f : 1e30f;
            if (kind == 4) /* Inf entries */
                for (int i = 0; i < N; i += 300) x[i] = (i & 1) ? INFINITY : -INFINITY;
            if (kind == 5) /* values on a coarse grid: many exact ties after scaling */
                for (int i = 0; i < N; i++) x[i] = (float)((int)(rng_u64() % 9) - 4) * 0.25f;
            if (kind == 6) /* any bits: NaNs (signalling too), subnormals, bf16 rounding ties */
                for (int i = 0; i < N; i++) {
                    uint32_t u = (uint32_t)rng_u64();
                    if (i % 3 == 0) u = (u & 0xffff0000u) | 0x8000u;
                    memcpy(&x[i], &u, 4);
                }
            ref->from_float(x, want, N);
            memset(got, 0xAA, size);
            tab[type].from_float(x, got, N);
            size_t first_diff = size;
            for (size_t k = 0; k < size; k++)
                if (want[k] != got[k]) { first_diff = k; break; }
            EXPECT(first_diff == size, "data kind %d: first differing byte %zu (block %zu): got %02x, want %02x", kind,
                   first_diff, first_diff / ref->type_size, first_diff < size ? got[first_diff] : 0,
                   first_diff < size ? want[first_diff] : 0);
            int qs = type == GGML_TYPE_Q8_0 ? 2 : type == TYPE_Q8_0S ? 0 : 4, ncodes = ref->blck_size;
            for (size_t b = 0; codes && b < size; b += ref->type_size)
                for (int e = 0; e < ncodes; e++)
                    EXPECT(got[b + (size_t)qs + (size_t)e] != 0x80, "data kind %d: code -128 in block %zu", kind, b / ref->type_size);
        }
        free(x);
        free(want);
        free(got);
        TEST_END();
    }
}

/* The tiles of the KV cache's types (F32, F16, BF16 with f32 or bf16 activations, Q8_0) at attention's shapes
 * (attention.c's dot_tile: Q·K^T over head_dim 256 / 512, P·V^T over up to 512 keys) and,
 * for the float types, at lengths on either side of a 16-float vector, which the row
 * lengths above leave out; each on a 32 x 8 tile with unaligned strides. */
static void test_gemm_kv_lengths(const type_traits *tab, kernel_set_id set) {
    static const weight_type kv_types[] = {
        {GGML_TYPE_F32, {-1, -1}, -1}, {GGML_TYPE_F16, {-1, -1}, -1}, {GGML_TYPE_BF16, {-1, -1}, -1},
        {TYPE_BF16_BF16, {-1, -1}, -1}, {GGML_TYPE_Q8_0, {0, -1}, -1}};
    static const int lens[] = {15, 16, 17, 31, 32, 48, 64, 256, 511, 512};
    for (size_t ti = 0; ti < sizeof kv_types / sizeof kv_types[0]; ti++) {
        const weight_type *wt = &kv_types[ti];
        gemm_fn gemm = tab[wt->type].gemm;
        if (!gemm) continue;
        const type_traits *ref = quant_traits(wt->type);
        uint32_t at = ref->vec_dot_type;
        TEST_BEGIN("simd %s: %s gemm on attention row lengths (15..512), 32x8 tile, matches the scalar kernel",
                   kernel_set_name(set), ref->name);
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            int n = lens[li];
            if (n % ref->blck_size || n % quant_traits(at)->blck_size) continue;
            size_t w_stride = quant_row_size(wt->type, n) + 6, a_stride = quant_row_size(at, n) + 10;
            size_t s_stride = GEMM_MAX_NW + 1;
            uint8_t *wbuf = malloc(w_stride * GEMM_MAX_NW + 1), *abuf = malloc(a_stride * GEMM_MAX_NA + 3);
            uint8_t *w = wbuf + 1, *a = abuf + 3;
            for (int i = 0; i < GEMM_MAX_NW; i++) make_weight_row(wt, w + i * w_stride, n, false);
            for (int j = 0; j < GEMM_MAX_NA; j++) make_act_row(at, a + j * a_stride, n, false);
            float s[GEMM_MAX_NA * (GEMM_MAX_NW + 1)];
            gemm(n, s, s_stride, w, w_stride, a, a_stride, GEMM_MAX_NW, GEMM_MAX_NA);
            for (int j = 0; j < GEMM_MAX_NA; j++)
                for (int i = 0; i < GEMM_MAX_NW; i++) {
                    float want, got = s[(size_t)j * s_stride + (size_t)i];
                    ref->vec_dot(n, &want, w + i * w_stride, a + j * a_stride);
                    double scale = abs_terms(wt, w + i * w_stride, a + j * a_stride, n);
                    EXPECT(close_enough(got, want, scale), "n=%d cell (w %d, a %d): got %.9g, scalar %.9g", n, i, j,
                           got, want);
                }
            free(wbuf);
            free(abuf);
        }
        TEST_END();
    }
}

/* ---------------------------------------------------------------- elementwise kernels */

/* The same bits, or both NaN: a NaN's payload may depend on operand order, nothing else may. */
static bool same_float(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

static float float_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The index of the first element where got and want differ (as same_float), or n. */
static int first_difference(const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++)
        if (!same_float(got[i], want[i])) return i;
    return n;
}

/* The same, bit for bit: a NaN must keep its sign and payload too. */
static int first_bit_difference(const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0) return i;
    return n;
}

/* Gate values at every edge of the GELU lookup: the -10 / 10 cut-offs and the floats next
 * to them; f16 rounding midpoints (ties to even, upwards and downwards) and the floats either
 * side, including the midpoint just below 10 that rounds to 10; f16 subnormals and the 2^-25
 * tie; f32 subnormals; +-0, +-Inf, NaNs of both signs, quiet and signalling; huge values.
 * Returns the count (at most 200). */
static int special_gates(float *g) {
    int n = 0;
    static const float edges[] = {-10.0f, 10.0f, 9.99609375f, -9.99609375f, 9.9921875f, 65504.0f, 65520.0f,
                                  1e30f, -1e30f, FLT_MAX, -FLT_MAX, 0.0f, -0.0f, 0x1p-24f, -0x1p-24f, 0x1p-25f,
                                  -0x1p-25f, 0x1.8p-25f, 0x1.8p-24f, 0x1p-14f, 0x1.ffcp-15f, FLT_MIN, -FLT_MIN,
                                  0x1p-149f, -0x1p-149f, 1e-40f, -3e-39f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        g[n++] = edges[i];
        g[n++] = nextafterf(edges[i], 0.0f);
        g[n++] = nextafterf(edges[i], edges[i] < 0 ? -INFINITY : INFINITY);
    }
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800123u, 0x7fffffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) g[n++] = float_of_bits(nans[i]);
    /* f16 midpoints: halves h (even and odd, normal and subnormal, below 10) and h + 1 */
    static const uint16_t halves[] = {0x0000, 0x0001, 0x0002, 0x03fe, 0x03ff, 0x0400, 0x0401, 0x3bff,
                                      0x3c00, 0x3c01, 0x4000, 0x4001, 0x48fe, 0x48ff};
    for (size_t i = 0; i < sizeof halves / sizeof halves[0]; i++)
        for (int sign = 0; sign < 2; sign++) {
            uint16_t h = (uint16_t)(halves[i] | (sign ? 0x8000 : 0));
            float mid = (fp16_to_fp32(h) + fp16_to_fp32((uint16_t)(h + 1))) / 2; /* exact */
            g[n++] = mid;
            g[n++] = nextafterf(mid, 0.0f);
            g[n++] = nextafterf(mid, sign ? -INFINITY : INFINITY);
        }
    return n;
}

/* A gate row: Gaussian values of spread 4 (most of the table's range), with every eighth
 * value drawn from the special ones. */
static void make_gate_row(float *g, int n, const float *special, int n_special) {
    for (int i = 0; i < n; i++)
        g[i] = rng_u64() % 8 == 0 ? special[rng_u64() % (uint64_t)n_special] : (float)(4.0 * rng_gauss());
}

/* An up row: Gaussian values, now and then 0, +-Inf or NaN. */
static void make_up_row(float *u, int n) {
    static const float odd[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN};
    for (int i = 0; i < n; i++)
        u[i] = rng_u64() % 32 == 0 ? odd[rng_u64() % 5] : (float)rng_gauss();
}

/* Row lengths around every vector width and its multiples (4, 8, 16 floats, the 16 lanes of
 * the sum of squares), the model widths, and long odd ones. */
static const int elementwise_lens[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 100, 256, 1152, 2047, 6913};
#define N_ELEMENTWISE_LENS (int)(sizeof elementwise_lens / sizeof elementwise_lens[0])

static void test_geglu(const vec_kernels *k, const vec_kernels *ref, kernel_set_id set) {
    float special[200];
    int n_special = special_gates(special);
    enum { MAX = 6913 + 16 };
    float *g = malloc(MAX * sizeof(float)), *u = malloc(MAX * sizeof(float));
    float *want = malloc(MAX * sizeof(float)), *got = malloc(MAX * sizeof(float));

    TEST_BEGIN("simd %s: GEGLU gives the scalar kernel's bits on random rows of %d lengths (1..6913), in place too",
               kernel_set_name(set), N_ELEMENTWISE_LENS);
    for (int li = 0; li < N_ELEMENTWISE_LENS; li++) {
        int n = elementwise_lens[li];
        for (int rep = 0; rep < 4; rep++) {
            int off = rep; /* unaligned rows */
            make_gate_row(g + off, n, special, n_special);
            make_up_row(u + off, n);
            got[off + n] = -12345.0f;
            ref->geglu(want, g + off, u + off, n);
            k->geglu(got + off, g + off, u + off, n);
            int d = first_difference(got + off, want, n);
            EXPECT(d == n, "n=%d: element %d (gate %a, up %a): got %a, scalar %a", n, d, g[off + d], u[off + d],
                   got[off + d], want[d]);
            EXPECT(got[off + n] == -12345.0f, "n=%d: wrote past the row", n);
            k->geglu(g + off, g + off, u + off, n); /* out == gate, as forward.c does */
            d = first_difference(g + off, want, n);
            EXPECT(d == n, "n=%d in place: element %d: got %a, scalar %a", n, d, g[off + d], want[d]);
        }
    }
    TEST_END();

    TEST_BEGIN("simd %s: GEGLU on %d edge gates (+-10, f16 ties, subnormals, NaN, Inf) in every lane matches "
               "the scalar bits", kernel_set_name(set), n_special);
    for (int shift = 0; shift < 17; shift++) { /* each value meets every lane and the tail */
        int n = n_special + shift;
        for (int i = 0; i < n; i++) {
            g[i] = i < shift ? 1.0f : special[i - shift];
            u[i] = i % 3 == 0 ? 1.0f : (float)rng_gauss();
        }
        ref->geglu(want, g, u, n);
        k->geglu(got, g, u, n);
        int d = first_difference(got, want, n);
        EXPECT(d == n, "shift %d: gate %a (up %a): got %a, scalar %a", shift, g[d], u[d], got[d], want[d]);
    }
    TEST_END();

    TEST_BEGIN("simd %s: GEGLU on 2^20 float bit patterns spread over all 2^32 matches the scalar bits",
               kernel_set_name(set));
    enum { CHUNK = 4096 };
    int bad = 0;
    uint32_t bad_bits = 0;
    for (uint32_t c = 0; c < (1u << 20) / CHUNK; c++) {
        for (int i = 0; i < CHUNK; i++) {
            g[i] = float_of_bits((c * CHUNK + (uint32_t)i) * 4093u); /* 4093 is odd: 2^20 distinct */
            u[i] = 1.0f;
        }
        ref->geglu(want, g, u, CHUNK);
        k->geglu(got, g, u, CHUNK);
        for (int i = 0; i < CHUNK; i++)
            if (!same_float(got[i], want[i]) && bad++ == 0) memcpy(&bad_bits, &g[i], 4);
    }
    EXPECT(bad == 0, "%d inputs differ, the first 0x%08x", bad, bad_bits);
    TEST_END();

    free(g);
    free(u);
    free(want);
    free(got);
}

/* Soft-capping inputs at its edges, for cap 1 (scaled by the cap): where tanh rounds to 1
 * (9.01) and the clamp (10), the range reduction's steps (multiples of ln2 / 2), tiny and
 * subnormal values whose tanh is themselves, +-0, +-Inf, huge values and NaNs. Returns the
 * count (at most 120). */
static int special_logits(float *x, float cap) {
    static const float edges[] = {0.0f, -0.0f, 9.01f, -9.01f, 10.0f, -10.0f, 0.34657359f, 0.69314718f,
                                  1.03972077f, -1.03972077f, 1.0f, 0.5f, 2.0f, 4.0f, 8.0f, 12.0f, 1e-4f, 1e-20f,
                                  FLT_MIN, -FLT_MIN, 0x1p-149f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY};
    int n = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        float e = isinf(edges[i]) || fabsf(edges[i]) < 1e-3f ? edges[i] : edges[i] * cap;
        x[n++] = e;
        x[n++] = nextafterf(e, 0.0f);
        x[n++] = nextafterf(e, e < 0 ? -INFINITY : INFINITY);
    }
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800123u};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) x[n++] = float_of_bits(nans[i]);
    return n;
}

/* A row of logits: Gaussian of spread 2 cap (most of tanh's curve), every eighth value a
 * special one. */
static void make_logit_row(float *x, int n, float cap, const float *special, int n_special) {
    for (int i = 0; i < n; i++)
        x[i] = rng_u64() % 8 == 0 ? special[rng_u64() % (uint64_t)n_special] : (float)(2.0 * cap * rng_gauss());
}

static void test_softcap(const vec_kernels *k, const vec_kernels *ref, kernel_set_id set) {
    enum { MAX = 6913 + 16 };
    static const float caps[] = {30.0f, 50.0f, 1.0f}; /* Gemma's final and attention caps */
    float *x = malloc(MAX * sizeof(float)), *want = malloc(MAX * sizeof(float)), *got = malloc(MAX * sizeof(float));
    float special[120];

    TEST_BEGIN("simd %s: soft-capping gives the scalar kernel's bits (NaN payloads too) on random rows of %d "
               "lengths (1..6913), caps 30, 50, 1, edge values in every lane",
               kernel_set_name(set), N_ELEMENTWISE_LENS);
    for (int ci = 0; ci < 3; ci++) {
        int n_special = special_logits(special, caps[ci]);
        for (int li = 0; li < N_ELEMENTWISE_LENS; li++) {
            int n = elementwise_lens[li];
            for (int rep = 0; rep < 4; rep++) {
                int off = rep; /* unaligned rows */
                make_logit_row(x + off, n, caps[ci], special, n_special);
                memcpy(want, x + off, (size_t)n * sizeof(float));
                memcpy(got + off, x + off, (size_t)n * sizeof(float));
                got[off + n] = -12345.0f;
                ref->softcap(want, n, caps[ci]);
                k->softcap(got + off, n, caps[ci]);
                int d = first_bit_difference(got + off, want, n);
                EXPECT(d == n, "cap %g n=%d: element %d (x %a): got %a, scalar %a", caps[ci], n, d, x[off + d],
                       got[off + d], want[d]);
                EXPECT(got[off + n] == -12345.0f, "n=%d: wrote past the row", n);
            }
        }
        for (int shift = 0; shift < 17; shift++) { /* each edge value meets every lane and the tail */
            int n = n_special + shift;
            for (int i = 0; i < n; i++) x[i] = i < shift ? 1.0f : special[i - shift];
            memcpy(want, x, (size_t)n * sizeof(float));
            memcpy(got, x, (size_t)n * sizeof(float));
            ref->softcap(want, n, caps[ci]);
            k->softcap(got, n, caps[ci]);
            int d = first_bit_difference(got, want, n);
            EXPECT(d == n, "cap %g shift %d: x %a: got %a, scalar %a", caps[ci], shift, x[d], got[d], want[d]);
        }
    }
    TEST_END();

    TEST_BEGIN("simd %s: soft-capping on 2^20 float bit patterns spread over all 2^32 matches the scalar bits "
               "(caps 1 and 30)", kernel_set_name(set));
    enum { CHUNK = 4096 };
    int bad = 0;
    uint32_t bad_bits = 0;
    for (int ci = 0; ci < 2; ci++)
        for (uint32_t c = 0; c < (1u << 20) / CHUNK; c++) {
            for (int i = 0; i < CHUNK; i++) x[i] = float_of_bits((c * CHUNK + (uint32_t)i) * 4093u);
            memcpy(want, x, CHUNK * sizeof(float));
            memcpy(got, x, CHUNK * sizeof(float));
            ref->softcap(want, CHUNK, ci ? 30.0f : 1.0f);
            k->softcap(got, CHUNK, ci ? 30.0f : 1.0f);
            for (int i = 0; i < CHUNK; i++)
                if (memcmp(&got[i], &want[i], sizeof got[i]) != 0 && bad++ == 0) memcpy(&bad_bits, &x[i], 4);
        }
    EXPECT(bad == 0, "%d inputs differ, the first 0x%08x", bad, bad_bits);
    TEST_END();
    free(x);
    free(want);
    free(got);
}

/* Four integers whose squares add up to m (Lagrange: there always are). */
static void four_squares(int m, int q[4]) {
    for (int a = (int)sqrt(m); a >= 0; a--)
        for (int b = 0; a * a + b * b <= m; b++)
            for (int c = 0; a * a + b * b + c * c <= m; c++) {
                int r = m - a * a - b * b - c * c, d = (int)lround(sqrt(r));
                if (d * d == r) {
                    q[0] = a, q[1] = b, q[2] = c, q[3] = d;
                    return;
                }
            }
}

/* RMSNorm rows whose result shows the order of the adds in the sum of squares S.
 * S is, exactly, n times an f32 midpoint m = 2 + odd * 2^-23: the mean of squares then rounds
 * to the even neighbour, m's lower one. Tiny squares, each 0.4 ulp of S, vanish when added
 * to S alone, but two added to each other first make 0.8 ulp, which survives and lifts the
 * mean to the upper neighbour. With eps = 0 the two neighbours give different factors
 * 1 / sqrt(mean), so the output shows whether tiny squares met before meeting S. */
typedef struct {
    int n;
    float big[8];  /* the elements that add up to S exactly: 2n and 2n * odd * 2^-24, each
                      as four squares (0 where a split needs fewer) */
    float tiny;    /* square 0.4 ulp of S */
} tie_row;

/* The midpoint's odd multiple of 2^-23: the smallest whose lower neighbour is even (so the
 * tie rounds down) and whose two neighbours give different factors. */
static int tie_odd(void) {
    for (int j = 0;; j += 2) {
        float lo = 2.0f + ldexpf((float)j, -22), hi = nextafterf(lo, 4.0f);
        if (1.0f / sqrtf(lo) != 1.0f / sqrtf(hi)) return 2 * j + 1;
    }
}

static tie_row make_tie(int n) {
    tie_row t = {n, {0}, 0};
    int odd = tie_odd(), q[4];
    four_squares(2 * n, q);
    for (int i = 0; i < 4; i++) t.big[i] = (float)q[i];
    four_squares(2 * n * odd, q);
    for (int i = 0; i < 4; i++) t.big[4 + i] = ldexpf((float)q[i], -12);
    double ulp = ldexp(1.0, (int)floor(log2(2.0 * n)) - 52);
    t.tiny = (float)sqrt(0.4 * ulp);
    return t;
}

/* A row of n >= 8 (any length: a division by n that is not exact weakens, but does not
 * spoil, the effect): the big elements at random places, 1..8 tiny ones elsewhere. */
static void make_tie_row(float *x, int n) {
    tie_row t = make_tie(n);
    for (int i = 0; i < n; i++) x[i] = 0.0f;
    for (int i = 0; i < 8; i++) {
        int at;
        do at = (int)(rng_u64() % (uint64_t)n); while (x[at] != 0.0f);
        x[at] = (rng_u64() & 1) ? -t.big[i] : t.big[i];
        if (t.big[i] == 0.0f) x[at] = 0.0f;
    }
    int tiny = 1 + (int)(rng_u64() % 8);
    for (int i = 0; i < tiny; i++) {
        int at = (int)(rng_u64() % (uint64_t)n);
        if (x[at] == 0.0f) x[at] = t.tiny;
    }
}

/* An RMSNorm input row of one kind: Gaussian (as activations), magnitudes spread over 1e-30
 * .. 1e30, f32 subnormals, all zero, Gaussian with an Inf, with a NaN, and a mean of squares
 * on a float rounding tie (make_tie_row). */
enum { NORM_KINDS = 7 };
static const char *const norm_kind_names[NORM_KINDS] = {"gaussian", "wide magnitudes", "subnormal", "zero",
                                                        "with an Inf", "with a NaN", "on a tie"};

static void make_norm_row(float *x, int n, int kind) {
    if (kind == 6 && n >= 8) {
        make_tie_row(x, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        double v = rng_gauss();
        if (kind == 1) v *= pow(10.0, 60.0 * rng_uniform() - 30.0);
        if (kind == 2) v = (double)float_of_bits((uint32_t)(rng_u64() % 0x800000u)) * (v < 0 ? -1 : 1);
        if (kind == 3) v = 0.0;
        x[i] = (float)v;
    }
    if (kind == 4) x[rng_u64() % (uint64_t)n] = (rng_u64() & 1) ? INFINITY : -INFINITY;
    if (kind == 5) x[rng_u64() % (uint64_t)n] = NAN;
}

/* Rows of 256 (16 per lane of the sum): S's elements in rows 1..14 of lane p, one tiny square
 * in lane a and one in lane b, each in row 0 or 15 (a == b: one in each, so one meets the
 * lane before S's elements and one after), for every p and a <= b. k and ref must agree on
 * every row. With `differing` (k unused), count instead the rows on which the plain
 * left-to-right sum gives another result than ref: that the rows tell orders apart at all. */
static void tie_order_rows(const vec_kernels *k, const vec_kernels *ref, int *differing) {
    enum { N = 256 };
    tie_row t = make_tie(N);
    float x[N], want[N], got[N];
    int bad = 0, first_p = -1, first_a = -1, first_b = -1;
    for (int p = 0; p < 16; p++)
        for (int a = 0; a < 16; a++)
            for (int b = a; b < 16; b++) {
                for (int i = 0; i < N; i++) x[i] = 0.0f;
                for (int i = 0, row = 1; i < 8; i++)
                    if (t.big[i] != 0.0f && row <= 14) x[p + 16 * row++] = t.big[i];
                int ra = (int)(rng_u64() % 2) * 15, rb = a == b ? 15 - ra : (int)(rng_u64() % 2) * 15;
                x[a + 16 * ra] = t.tiny;
                x[b + 16 * rb] = t.tiny;
                ref->rmsnorm(want, x, NULL, N, 0.0f);
                if (differing) {
                    double sum = 0.0;
                    for (int i = 0; i < N; i++) sum += (double)x[i] * x[i];
                    float f = 1.0f / sqrtf((float)(sum / N));
                    for (int i = 0; i < N; i++)
                        if (!same_float(x[i] * f, want[i])) {
                            ++*differing;
                            break;
                        }
                    continue;
                }
                k->rmsnorm(got, x, NULL, N, 0.0f);
                if (first_difference(got, want, N) < N && bad++ == 0) first_p = p, first_a = a, first_b = b;
            }
    EXPECT(bad == 0, "%d rows differ, the first with S in lane %d, tiny squares in lanes %d and %d", bad, first_p,
           first_a, first_b);
}

static void test_rmsnorm(const vec_kernels *k, const vec_kernels *ref, kernel_set_id set) {
    enum { MAX = 6913 + 16 };
    float *x = malloc(MAX * sizeof(float)), *w = malloc(MAX * sizeof(float));
    float *want = malloc(MAX * sizeof(float)), *got = malloc(MAX * sizeof(float));
    TEST_BEGIN("simd %s: RMSNorm gives the scalar kernel's bits on %d lengths x %d kinds of rows, with and without "
               "weights, in place too", kernel_set_name(set), N_ELEMENTWISE_LENS, NORM_KINDS);
    for (int li = 0; li < N_ELEMENTWISE_LENS; li++) {
        int n = elementwise_lens[li];
        for (int kind = 0; kind < NORM_KINDS; kind++)
            for (int rep = 0; rep < (kind == 6 ? 16 : 2); rep++) {
                int weighted = rep % 2;
                int off = (li + kind) % 4; /* unaligned rows */
                const float eps = kind == 6 ? 0.0f : weighted ? 1e-6f : 1e-5f;
                make_norm_row(x + off, n, kind);
                for (int i = 0; i < n; i++) w[off + i] = (float)(1.0 + 0.5 * rng_gauss());
                const float *wp = weighted ? w + off : NULL;
                got[off + n] = -12345.0f;
                ref->rmsnorm(want, x + off, wp, n, eps);
                k->rmsnorm(got + off, x + off, wp, n, eps);
                int d = first_difference(got + off, want, n);
                EXPECT(d == n, "n=%d %s%s: element %d (x %a): got %a, scalar %a", n, norm_kind_names[kind],
                       weighted ? " weighted" : "", d, x[off + d], got[off + d], want[d]);
                EXPECT(got[off + n] == -12345.0f, "n=%d: wrote past the row", n);
                k->rmsnorm(x + off, x + off, wp, n, eps); /* out == x, as forward.c and attention.c do */
                d = first_difference(x + off, want, n);
                EXPECT(d == n, "n=%d %s in place: element %d: got %a, scalar %a", n, norm_kind_names[kind], d,
                       x[off + d], want[d]);
            }
    }
    TEST_END();

    TEST_BEGIN("simd %s: RMSNorm adds the 16 lanes of its sum of squares in the scalar order (S in each lane, "
               "two tiny squares in each pair of lanes)", kernel_set_name(set));
    tie_order_rows(k, ref, NULL);
    TEST_END();
    free(x);
    free(w);
    free(want);
    free(got);
}

/* The scalar kernels are the specification: checked here once against their definitions. */
static float gelu_reference(float x) {
    if (isnan(x)) return x;
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    float h = fp16_to_fp32(fp32_to_fp16(x));
    const float c = 0.79788456080286535587989211986876f;
    return fp16_to_fp32(fp32_to_fp16(0.5f * h * (1.0f + tanhf(c * h * (1.0f + 0.044715f * h * h)))));
}

/* |got - want| in units of the last place of want as a float (of the smallest normal's below it). */
static double ulps(float got, double want) {
    int e;
    frexp(fabs(want) < FLT_MIN ? FLT_MIN : fabs(want), &e);
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

/* The largest error of the scalar soft-capping against cap * tanh(x / cap) in double on
 * inputs x[0 .. n-1] whose quotient x / cap is a normal float; *worst_x: where. */
static double softcap_worst_ulps(const vec_kernels *ref, float *x, float *out, int n, float cap, float *worst_x) {
    memcpy(out, x, (size_t)n * sizeof(float));
    ref->softcap(out, n, cap);
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i]) || isinf(x[i]) || fabsf(x[i] / cap) < FLT_MIN) continue;
        double e = ulps(out[i], (double)cap * tanh((double)x[i] / cap));
        if (e > worst) worst = e, *worst_x = x[i];
    }
    return worst;
}

/* Soft-capping's tanh (kernels/scalar.c) against tanh in double: within 2 ulp for cap 1 (the
 * tanh alone; 1.94 at worst over every float), within 4 for caps 30 and 50, where the
 * quotient x / cap and the product with cap round too (3.6 at worst in 2^24 samples). On 2^20
 * bit patterns spread over all floats and 2^20 points dense in [-12 cap, 12 cap]; and the
 * values that are exact: NaN, +-Inf, +-0, the tiny ones. */
static void test_scalar_softcap(const vec_kernels *ref) {
    enum { CHUNK = 4096 };
    float x[CHUNK], out[CHUNK];
    static const float caps[] = {1.0f, 30.0f, 50.0f};
    TEST_BEGIN("simd scalar: soft-capping is cap * tanh(x / cap) within 2 ulp (cap 1) or 4 ulp (caps 30, 50) on "
               "2^20 spread bit patterns and 2^20 points in [-12 cap, 12 cap]");
    for (int ci = 0; ci < 3; ci++) {
        double limit = caps[ci] == 1.0f ? 2.0 : 4.0, worst = 0.0;
        float worst_x = 0.0f;
        for (uint32_t c = 0; c < 2 * (1u << 20) / CHUNK; c++) {
            for (int i = 0; i < CHUNK; i++) {
                uint32_t j = c * CHUNK + (uint32_t)i;
                x[i] = j < (1u << 20) ? float_of_bits(j * 4093u)
                                      : caps[ci] * (-12.0f + 24.0f * (float)(j - (1u << 20)) / (float)(1u << 20));
            }
            float wx = 0.0f;
            double w = softcap_worst_ulps(ref, x, out, CHUNK, caps[ci], &wx);
            if (w > worst) worst = w, worst_x = wx;
        }
        EXPECT(worst <= limit, "cap %g: %.3f ulp at x = %a", caps[ci], worst, worst_x);
    }
    TEST_END();

    TEST_BEGIN("simd scalar: soft-capping keeps a NaN's bits, takes +-Inf to +-cap, +-0 to +-0, huge to +-cap and "
               "tiny x to x");
    float v[] = {float_of_bits(0xffc01234u), INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -FLT_MAX};
    ref->softcap(v, 7, 30.0f);
    uint32_t nan_bits;
    memcpy(&nan_bits, &v[0], 4);
    EXPECT(nan_bits == 0xffc01234u && v[1] == 30.0f && v[2] == -30.0f,
           "NaN 0xffc01234 -> 0x%08x, Inf -> %g, -Inf -> %g", nan_bits, v[1], v[2]);
    EXPECT(v[3] == 0.0f && !signbit(v[3]) && v[4] == 0.0f && signbit(v[4]), "+0 -> %g, -0 -> %g", v[3], v[4]);
    EXPECT(v[5] == 30.0f && v[6] == -30.0f, "1e30 -> %g, -FLT_MAX -> %g", v[5], v[6]);
    float tiny[] = {1e-30f, -3e-39f, 0x1p-149f, 1e-5f}; /* cap 1: tanh(x) rounds to x */
    ref->softcap(tiny, 4, 1.0f);
    EXPECT(tiny[0] == 1e-30f && tiny[1] == -3e-39f && tiny[2] == 0x1p-149f && tiny[3] == 1e-5f,
           "tanh(1e-30) = %g, tanh(-3e-39) = %g, tanh(2^-149) = %a, tanh(1e-5) = %.9g", tiny[0], tiny[1], tiny[2],
           tiny[3]);
    TEST_END();
}

static void test_scalar_elementwise(void) {
    vec_kernels ref = built(KERNELS_SCALAR)->vec;
    float special[200];
    int n_special = special_gates(special);
    enum { CHUNK = 4096 };
    float g[CHUNK], u[CHUNK], out[CHUNK];

    TEST_BEGIN("simd scalar: GEGLU is gelu(f16(gate)) rounded to f16, times up (0 below -10, gate above 10, NaN "
               "for NaN), on 2^20 spread bit patterns and the edge gates");
    int bad = 0;
    uint32_t bad_bits = 0;
    for (uint32_t c = 0; c <= (1u << 20) / CHUNK; c++) {
        int n = c < (1u << 20) / CHUNK ? CHUNK : n_special;
        for (int i = 0; i < n; i++) {
            g[i] = c < (1u << 20) / CHUNK ? float_of_bits((c * CHUNK + (uint32_t)i) * 4093u) : special[i];
            u[i] = 1.0f;
        }
        ref.geglu(out, g, u, n);
        for (int i = 0; i < n; i++)
            if (!same_float(out[i], gelu_reference(g[i])) && bad++ == 0) memcpy(&bad_bits, &g[i], 4);
    }
    EXPECT(bad == 0, "%d inputs differ from the definition, the first 0x%08x", bad, bad_bits);
    g[0] = NAN, u[0] = 2.0f, g[1] = -20.0f, u[1] = 3.0f, g[2] = 12.5f, u[2] = -2.0f, g[3] = 1.0f, u[3] = NAN;
    ref.geglu(out, g, u, 4);
    EXPECT(isnan(out[0]) && out[1] == 0.0f && out[2] == -25.0f && isnan(out[3]),
           "NaN gate -> %g, -20 -> %g, 12.5 * -2 -> %g, NaN up -> %g", out[0], out[1], out[2], out[3]);
    TEST_END();

    TEST_BEGIN("simd scalar: the RMSNorm rows made to show the order of the adds do tell it from left to right");
    int differing = 0;
    tie_order_rows(NULL, &ref, &differing);
    EXPECT(differing > 0, "no row tells the two orders apart");
    TEST_END();

    TEST_BEGIN("simd scalar: RMSNorm is x / sqrt(mean(x^2) + eps) * w to float rounding, in place the same");
    for (int li = 0; li < N_ELEMENTWISE_LENS; li++) {
        int n = elementwise_lens[li];
        if (n > CHUNK) continue;
        for (int i = 0; i < n; i++) g[i] = (float)(3.0 * rng_gauss()), u[i] = (float)(1.0 + rng_gauss());
        const float eps = 1e-6f;
        ref.rmsnorm(out, g, u, n, eps);
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (double)g[i] * g[i];
        double r = 1.0 / sqrt(ss / n + eps);
        int worst = -1;
        for (int i = 0; i < n; i++) {
            double want = (double)g[i] * r * u[i];
            if (fabs(out[i] - want) > 1e-6 * fabs(want) + 1e-30 && worst < 0) worst = i;
        }
        EXPECT(worst < 0, "n=%d: element %d: got %.9g, want %.9g", n, worst, worst < 0 ? 0 : out[worst],
               worst < 0 ? 0 : (double)g[worst] * r * u[worst]);
        float in_place[CHUNK];
        memcpy(in_place, g, (size_t)n * sizeof(float));
        ref.rmsnorm(in_place, in_place, u, n, eps);
        EXPECT(first_difference(in_place, out, n) == n, "n=%d: in place differs", n);
    }
    TEST_END();

    test_scalar_softcap(&ref);
}

static void test_elementwise(kernel_set_id set) {
    vec_kernels k = built(set)->vec, ref = built(KERNELS_SCALAR)->vec;
    TEST_BEGIN("simd %s: GEGLU, RMSNorm and soft-capping have versions of their own", kernel_set_name(set));
    EXPECT(k.geglu && k.geglu != ref.geglu, "GEGLU is the scalar one");
    EXPECT(k.rmsnorm && k.rmsnorm != ref.rmsnorm, "RMSNorm is the scalar one");
    EXPECT(k.softcap && k.softcap != ref.softcap, "soft-capping is the scalar one");
    TEST_END();
    test_geglu(&k, &ref, set);
    test_rmsnorm(&k, &ref, set);
    test_softcap(&k, &ref, set);
}

/* Attention multiplies a cache's values as the type its set names (kv_values_as): that row
 * must read the cells' bytes as the cache's type does and have a kernel. */
static void test_kv_forms(kernel_set_id set) {
    static const uint32_t cache_types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0};
    const kernel_set *k = built(set);
    TEST_BEGIN("simd %s: the types attention multiplies KV cells as keep the cells' storage", kernel_set_name(set));
    for (size_t i = 0; i < sizeof cache_types / sizeof cache_types[0]; i++) {
        uint32_t c = cache_types[i], as = k->kv_values_as[c];
        if (!as) continue;
        const type_traits *a = as < TYPE_COUNT ? &k->type[as] : NULL, *ct = quant_traits(c);
        EXPECT(a && a->blck_size == ct->blck_size && a->type_size == ct->type_size && a->to_float == ct->to_float &&
                   a->vec_dot && !a->panel && quant_traits(a->vec_dot_type)->from_float,
               "%s values as %s", quant_type_name(c), quant_type_name(as));
    }
    TEST_END();
}

static void test_set(kernel_set_id set) {
    const cpu_features *f = cpu_get();
    if (!kernel_set_supported(f, set)) {
        test_skip("simd %s: this CPU lacks the instructions", kernel_set_name(set));
        return;
    }
    const type_traits *tab = built(set)->type;
    rng_seed(1000 + (uint64_t)set);
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        test_vec_dot(tab, set, &weight_types[i]);
        test_gemm(tab, set, &weight_types[i]);
    }
    test_quantizers(tab, set);
    test_summation_order(tab, set);
    test_gemm_kv_lengths(tab, set);
    test_kv_forms(set);
    test_elementwise(set);
}

/* ---------------------------------------------------------------- selection */

static void test_selection(void) {
    TEST_BEGIN("simd: kernel_set_choose honours GEMMA_KERNELS and falls back with a warning");
    cpu_features none = {0}, avx2 = {0}, avx512 = {0}, neon = {0};
    avx2.has_avx2 = avx2.has_fma = avx2.has_f16c = true;
    avx512 = avx2;
    avx512.has_avx512f = avx512.has_avx512bw = avx512.has_avx512vl = avx512.has_avx512dq = true;
    avx512.has_avx512vnni = true;
    neon.has_neon = neon.has_dotprod = true;
    char warn[256];
    EXPECT(kernel_set_choose(&none, NULL, warn, sizeof warn) == KERNELS_SCALAR && !warn[0], "no features -> scalar");
    EXPECT(kernel_set_choose(&none, "scalar", warn, sizeof warn) == KERNELS_SCALAR && !warn[0], "scalar request");
#if defined(__x86_64__)
    EXPECT(kernel_set_choose(&avx512, NULL, warn, sizeof warn) == KERNELS_AVX512 && !warn[0], "best of avx512");
    EXPECT(kernel_set_choose(&avx512, "", warn, sizeof warn) == KERNELS_AVX512 && !warn[0], "empty request");
    EXPECT(kernel_set_choose(&avx512, "avx2", warn, sizeof warn) == KERNELS_AVX2 && !warn[0], "avx2 request");
    EXPECT(kernel_set_choose(&avx512, "AVX2", warn, sizeof warn) == KERNELS_AVX2, "case-insensitive");
    EXPECT(kernel_set_choose(&avx512, "scalar", warn, sizeof warn) == KERNELS_SCALAR && !warn[0], "scalar");
    EXPECT(kernel_set_choose(&avx2, NULL, warn, sizeof warn) == KERNELS_AVX2, "best of avx2");
    EXPECT(kernel_set_choose(&avx2, "avx512", warn, sizeof warn) == KERNELS_AVX2 && strstr(warn, "avx512"),
           "avx512 request on an AVX2 CPU: got a warning '%s'", warn);
    cpu_features no_vnni = avx512;
    no_vnni.has_avx512vnni = false;
    EXPECT(kernel_set_choose(&no_vnni, NULL, warn, sizeof warn) == KERNELS_AVX2, "AVX-512 without VNNI -> AVX2");
    cpu_features no_fma = avx2;
    no_fma.has_fma = false;
    EXPECT(kernel_set_choose(&no_fma, NULL, warn, sizeof warn) == KERNELS_SCALAR, "AVX2 without FMA -> scalar");
    EXPECT(kernel_set_choose(&avx512, "neon", warn, sizeof warn) == KERNELS_AVX512 && warn[0], "neon on x86");
    /* the emulated AVX-512 set: on any AVX2 CPU when asked for, never by itself */
    EXPECT(kernel_set_choose(&avx2, "avx512-emu", warn, sizeof warn) == KERNELS_AVX512_EMULATED && !warn[0],
           "avx512-emu request on an AVX2 CPU");
    EXPECT(kernel_set_choose(&avx512, "AVX512-EMU", warn, sizeof warn) == KERNELS_AVX512_EMULATED && !warn[0],
           "avx512-emu request on an AVX-512 CPU");
    EXPECT(kernel_set_choose(&no_fma, "avx512-emu", warn, sizeof warn) == KERNELS_SCALAR && strstr(warn, "avx512-emu"),
           "avx512-emu request without FMA: got a warning '%s'", warn);
#endif
#if defined(__aarch64__)
    EXPECT(kernel_set_choose(&neon, NULL, warn, sizeof warn) == KERNELS_NEON_DOTPROD, "best of neon+dotprod");
    cpu_features base = neon;
    base.has_dotprod = false;
    EXPECT(kernel_set_choose(&base, "neon", warn, sizeof warn) == KERNELS_NEON && !warn[0], "neon baseline");
    EXPECT(kernel_set_choose(&neon, "avx2", warn, sizeof warn) == KERNELS_NEON_DOTPROD && warn[0], "avx2 on arm");
#endif
    (void)neon;
    EXPECT(kernel_set_choose(&avx512, "fast", warn, sizeof warn) == kernel_set_choose(&avx512, NULL, NULL, 0) &&
               strstr(warn, "unknown"), "unknown request: warning '%s'", warn);
    TEST_END();

    TEST_BEGIN("simd: the active set is the one GEMMA_KERNELS and the CPU select, whole: type table, GEGLU, "
               "RMSNorm and soft-capping, tiles");
    const kernel_set *active = kernels_active();
    kernel_set_id want = kernel_set_choose(cpu_get(), getenv("GEMMA_KERNELS"), NULL, 0);
    EXPECT(active->id == want && strcmp(active->name, kernel_set_name(want)) == 0, "active: %s, expected %s",
           active->name, kernel_set_name(want));
    const type_traits *tab = built(want)->type;
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        uint32_t t = weight_types[i].type;
        EXPECT(kernel_traits(t)->vec_dot == tab[t].vec_dot && kernel_traits(t)->gemm == tab[t].gemm,
               "%s: active kernels are not those of %s", quant_type_name(t), kernel_set_name(want));
    }
    EXPECT(kernel_traits(GGML_TYPE_Q8_0)->from_float == tab[GGML_TYPE_Q8_0].from_float, "Q8_0 quantizer");
    if (want == KERNELS_SCALAR)
        EXPECT(kernel_traits(GGML_TYPE_Q4_0)->vec_dot == quant_traits(GGML_TYPE_Q4_0)->vec_dot,
               "scalar path uses the scalar kernels");
    EXPECT(active->vec.geglu == built(want)->vec.geglu && active->vec.rmsnorm == built(want)->vec.rmsnorm &&
               active->vec.softcap == built(want)->vec.softcap,
           "the active GEGLU / RMSNorm / soft-capping are not those of %s", kernel_set_name(want));
    EXPECT(memcmp(&active->tile, &built(want)->tile, sizeof active->tile) == 0, "the active tile kernels are not "
           "those of %s", kernel_set_name(want));
    TEST_END();

    TEST_BEGIN("simd: the f16 table holds every half as the conversion instructions give it (NaNs made quiet)");
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float want_f = fp16_to_fp32((uint16_t)h);
        uint32_t got, want_bits;
        memcpy(&got, &kernel_fp16_table[h], 4);
        memcpy(&want_bits, &want_f, 4);
        if (isnan(want_f)) want_bits |= 0x00400000u;
        if (got != want_bits && bad++ < 3) EXPECT(0, "half 0x%04x: 0x%08x, want 0x%08x", h, got, want_bits);
    }
    EXPECT(bad == 0, "%d halves differ", bad);
    TEST_END();

    TEST_BEGIN("simd: cpu_get reports a consistent feature set");
    const cpu_features *f = cpu_get();
    EXPECT(f == cpu_get(), "same pointer every call");
    EXPECT(!f->has_avx512vnni || f->has_avx512f, "VNNI implies AVX-512F");
    EXPECT(!f->has_avx512f || f->has_avx2, "AVX-512 implies AVX2");
    EXPECT(!f->has_dotprod || f->has_neon, "dotprod implies NEON");
    TEST_END();
}

/* ---------------------------------------------------------------- benchmark */

/* CPU time of this thread: other processes sharing the cores do not count against us. */
static double thread_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GEGLU over an FFN row of 6912 and RMSNorm over an embedding row of 1152 (Gemma 3 1B);
 * soft-capping over 6912 logits. */
static void bench_elementwise(kernel_set_id set) {
    vec_kernels k = built(set)->vec;
    enum { F = 6912, E = 1152 };
    float *g = malloc(F * sizeof(float)), *u = malloc(F * sizeof(float)), *o = malloc(F * sizeof(float));
    for (int i = 0; i < F; i++) g[i] = (float)(2.0 * rng_gauss()), u[i] = (float)rng_gauss();
    double t0 = thread_seconds(), t1;
    long elems = 0;
    do {
        for (int r = 0; r < 100; r++) k.geglu(o, g, u, F);
        elems += 100L * F;
        t1 = thread_seconds();
    } while (t1 - t0 < 0.3);
    double geglu_ns = (t1 - t0) * 1e9 / (double)elems;
    t0 = thread_seconds();
    elems = 0;
    do {
        for (int r = 0; r < 100; r++) k.rmsnorm(o, g, u, E, 1e-6f);
        elems += 100L * E;
        t1 = thread_seconds();
    } while (t1 - t0 < 0.3);
    double rmsnorm_ns = (t1 - t0) * 1e9 / (double)elems;
    for (int i = 0; i < F; i++) o[i] = (float)(30.0 * rng_gauss());
    t0 = thread_seconds();
    elems = 0;
    do {
        for (int r = 0; r < 100; r++) k.softcap(o, F, 30.0f); /* tanh saturates: o stays in range */
        elems += 100L * F;
        t1 = thread_seconds();
    } while (t1 - t0 < 0.3);
    printf("bench %-12s GEGLU %.3f ns/element, RMSNorm %.3f ns/element, soft-capping %.3f ns/element\n",
           kernel_set_name(set), geglu_ns, rmsnorm_ns, (t1 - t0) * 1e9 / (double)elems);
    fflush(stdout);
    free(g);
    free(u);
    free(o);
}

static void bench_set(kernel_set_id set) {
    if (!kernel_set_supported(cpu_get(), set) || set == KERNELS_AMX_EMULATED || set == KERNELS_AVX512_EMULATED ||
        set == KERNELS_AMX_AVX512_EMULATED)
        return;
    bench_elementwise(set);
    const type_traits *tab = built(set)->type;
    enum { N = 2048, K = 2048, M = 64 };
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        const weight_type *wt = &weight_types[i];
        const type_traits *t = &tab[wt->type];
        uint32_t at = t->vec_dot_type;
        size_t wrow = quant_row_size(wt->type, K), arow = quant_row_size(at, K);
        uint8_t *w = malloc(wrow * N), *a = malloc(arow * M);
        float *y = malloc(sizeof(float) * N * M);
        for (int r = 0; r < N; r++) make_weight_row(wt, w + r * wrow, K, false);
        for (int r = 0; r < M; r++) make_act_row(at, a + r * arow, K, false);
        /* decode: one activation row against the whole matrix, repeated, as the matmul driver
         * does it (tiles of one activation row, or row dots) */
        double t0 = thread_seconds(), t1;
        int reps = 0;
        do {
            if (t->gemm)
                for (int r = 0; r < N; r += GEMM_MAX_NW) t->gemm(K, y + r, N, w + r * wrow, wrow, a, arow, GEMM_MAX_NW, 1);
            else
                for (int r = 0; r < N; r++) t->vec_dot(K, &y[r], w + r * wrow, a);
            reps++;
            t1 = thread_seconds();
        } while (t1 - t0 < 0.3);
        double gbs = (double)wrow * N * reps / (t1 - t0) / 1e9;
        /* prefill: M activation rows in tiles (the matmul driver's order), or row dots */
        double gflops = 0;
        t0 = thread_seconds();
        reps = 0;
        do {
            for (int m = 0; m < M; m += GEMM_MAX_NA)
                for (int r = 0; r < N; r += GEMM_MAX_NW) {
                    if (t->gemm)
                        t->gemm(K, y + (size_t)m * N + r, N, w + r * wrow, wrow, a + m * arow, arow, GEMM_MAX_NW,
                                GEMM_MAX_NA);
                    else
                        for (int i2 = 0; i2 < GEMM_MAX_NW; i2++)
                            for (int j = 0; j < GEMM_MAX_NA; j++)
                                t->vec_dot(K, y + (size_t)(m + j) * N + r + i2, w + (r + i2) * wrow,
                                           a + (m + j) * arow);
                }
            reps++;
            t1 = thread_seconds();
        } while (t1 - t0 < 0.3);
        gflops = 2.0 * N * K * M * reps / (t1 - t0) / 1e9;
        printf("bench %-12s %-6s decode %6.2f GB/s  %s %7.1f GFLOP/s\n", kernel_set_name(set), t->name, gbs,
               t->gemm ? "gemm   " : "vec_dot", gflops);
        fflush(stdout);
        free(w);
        free(a);
        free(y);
    }
}

void suite_simd(void) {
    test_selection();
    rng_seed(999);
    test_scalar_elementwise();
    for (int s = 0; s < KERNELS_COUNT; s++) {
        if ((s == KERNELS_AMX_EMULATED || s == KERNELS_AMX_AVX512_EMULATED) && kernel_set_supported(cpu_get(), s))
            test_skip("simd %s: the AVX-512 set's vector kernels (test_amx tests its tiles)", kernel_set_name(s));
        else if (s != KERNELS_SCALAR)
            test_set((kernel_set_id)s);
    }
    const char *bench = getenv("GEMMA_BENCH");
    if (bench && *bench && strcmp(bench, "0") != 0)
        for (int s = 0; s < KERNELS_COUNT; s++) bench_set((kernel_set_id)s);
}
