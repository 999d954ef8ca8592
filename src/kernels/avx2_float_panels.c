/* avx2_float_panels.c - AVX2 kernels for the float panel layouts BF16_R16 and F16_R16;
 * kernels/panels_float.c has the layouts and the scalar twins whose bits these give (the
 * AVX-512 ones are in avx512_float_panels.c). Part of the AVX2 layer (AVX2 + FMA + F16C).
 *
 *   group_weights()  one 64-byte group (2 elements x 16 rows) as four 8-float registers
 *   float_tile()     16 rows x na <= 2 activation rows: two chains per row, as the twin
 *   float_dot()      the panel kernel (quant.h: panel_fn): pairs of activation rows, each
 *                    over all the call's panels
 *
 * Per group and 8 rows: BF16 one 32-byte load, its pairs split into two f32 registers with
 * a shift and a mask (a bf16 is the high half of an f32); F16 two vcvtph2ps. Then per
 * activation row two FMAs with the pair's two activations broadcast. Each weight register
 * serves both activation rows of a tile; a pair of tiles would need 16 accumulators, more
 * than AVX2's 16 registers leave. With one activation row (decode) the 16 rows' four chains
 * stream each panel front to back.
 *
 * vdpbf16ps's arithmetic on BF16_R16 (the twin's: inputs with a zero exponent read as zero,
 * each step's result flushed to zero when subnormal) comes from MXCSR's DAZ and FTZ bits,
 * set for a tile's chains and cleared before their final sum (which the twin does not
 * flush). The compiler does not know that MXCSR orders float operations, so empty asm
 * statements on the accumulators pin the chains between the two writes. F16_R16 is plain
 * IEEE arithmetic (no flushes). */
#if defined(__x86_64__)

#include <immintrin.h>

#include "dispatch.h"
#include "kernels.h"

#define INLINE inline __attribute__((always_inline))
#define FLOAT_NA 2    /* activation rows per tile */
#define MXCSR_DAZ_FTZ 0x8040u

typedef enum { KIND_BF16, KIND_F16 } float_kind;

/* The compiler must keep v where it is relative to the MXCSR writes around it. */
#define PIN(v) __asm__ volatile("" : "+x"(v))

/* Group g's weights: w[h][e] = element 2g + e of rows 8h .. 8h + 7, as f32. */
static INLINE void group_weights(const float_kind kind, const uint8_t *panel, int64_t g, __m256 w[2][2]) {
    const uint8_t *pg = panel + 64 * (size_t)g;
    if (kind == KIND_BF16) { /* lane r: row r's pair, element 2g in the low half */
        const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(pg + 32 * h));
            w[h][0] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
            w[h][1] = _mm256_castsi256_ps(_mm256_and_si256(v, hi));
        }
    } else { /* @0 the 16 rows' element 2g, @32 their element 2g + 1 */
        for (int h = 0; h < 2; h++) {
            w[h][0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pg + 16 * h)));
            w[h][1] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pg + 32 + 16 * h)));
        }
    }
}

/* Group g of one activation row, broadcast: a[e] = its element 2g + e. */
static INLINE void group_acts(const float_kind kind, const uint8_t *a, int64_t g, __m256 x[2]) {
    if (kind == KIND_BF16) {
        __m256i p = _mm256_set1_epi32((int)rd_u32(a + 4 * g));
        x[0] = _mm256_castsi256_ps(_mm256_slli_epi32(p, 16));
        x[1] = _mm256_castsi256_ps(_mm256_and_si256(p, _mm256_set1_epi32((int)0xffff0000u)));
    } else {
        x[0] = _mm256_set1_ps(rd_f32(a + 8 * g));
        x[1] = _mm256_set1_ps(rd_f32(a + 8 * g + 4));
    }
}

/* chain += the group's two products, in the twin's order: BF16 (vdpbf16ps) the odd element
 * first, F16 the even one. */
static INLINE __m256 group_step(const float_kind kind, __m256 w[2], __m256 x[2], __m256 chain) {
    if (kind == KIND_BF16) return _mm256_fmadd_ps(w[0], x[0], _mm256_fmadd_ps(w[1], x[1], chain));
    return _mm256_fmadd_ps(w[1], x[1], _mm256_fmadd_ps(w[0], x[0], chain));
}

/* Group g into chain c (c[j][h]) of each of the na activation rows. */
static INLINE void group_rows(const float_kind kind, const int na, const uint8_t *panel, int64_t g, const uint8_t *a,
                              size_t a_stride, __m256 c[FLOAT_NA][2]) {
    __m256 w[2][2];
    group_weights(kind, panel, g, w);
#pragma GCC unroll 2
    for (int j = 0; j < na; j++) {
        __m256 x[2];
        group_acts(kind, a + (size_t)j * a_stride, g, x);
        c[j][0] = group_step(kind, w[0], x, c[j][0]);
        c[j][1] = group_step(kind, w[1], x, c[j][1]);
    }
}

/* The first `rows` (1..8) floats of v to y. */
static INLINE void store_rows(float *y, __m256 v, int rows) {
    if (rows >= 8) {
        _mm256_storeu_ps(y, v);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, v);
    memcpy(y, t, (size_t)rows * sizeof(float));
}

/* One panel's first `rows` rows for activation rows 0 .. na - 1. */
static INLINE void float_tile(const float_kind kind, const int na, int64_t K, float *y, size_t y_stride,
                              const uint8_t *panel, int rows, const uint8_t *a, size_t a_stride) {
    __m256 c0[FLOAT_NA][2], c1[FLOAT_NA][2];
    unsigned csr = 0;
    if (kind == KIND_BF16) {
        csr = _mm_getcsr();
        _mm_setcsr(csr | MXCSR_DAZ_FTZ);
    }
#pragma GCC unroll 2
    for (int j = 0; j < na; j++)
        for (int h = 0; h < 2; h++) {
            c0[j][h] = c1[j][h] = _mm256_setzero_ps();
            if (kind == KIND_BF16) {
                PIN(c0[j][h]);
                PIN(c1[j][h]);
            }
        }
    int64_t G = K / 2, g = 0;
    for (; g + 1 < G; g += 2) {
        group_rows(kind, na, panel, g, a, a_stride, c0);
        group_rows(kind, na, panel, g + 1, a, a_stride, c1);
    }
    if (g < G) group_rows(kind, na, panel, g, a, a_stride, c0);
    if (kind == KIND_BF16) {
#pragma GCC unroll 2
        for (int j = 0; j < na; j++)
            for (int h = 0; h < 2; h++) {
                PIN(c0[j][h]);
                PIN(c1[j][h]);
            }
        _mm_setcsr(csr);
#pragma GCC unroll 2
        for (int j = 0; j < na; j++)
            for (int h = 0; h < 2; h++) {
                PIN(c0[j][h]);
                PIN(c1[j][h]);
            }
    }
#pragma GCC unroll 2
    for (int j = 0; j < na; j++) {
        float *yj = y + (size_t)j * y_stride;
        store_rows(yj, _mm256_add_ps(c0[j][0], c1[j][0]), rows);
        if (rows > 8) store_rows(yj + 8, _mm256_add_ps(c0[j][1], c1[j][1]), rows - 8);
    }
}

static INLINE void float_dot(const float_kind kind, int64_t K, float *y, size_t y_stride, const void *w,
                             int64_t n_rows, const void *a, size_t a_stride, int64_t M) {
    size_t panel_bytes = (size_t)(K / 2) * 64;
    for (int64_t m = 0; m < M; m += FLOAT_NA) {
        int na = (int)(M - m < FLOAT_NA ? M - m : FLOAT_NA);
        const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            int rows = n_rows - r >= PANEL_ROWS ? PANEL_ROWS : (int)(n_rows - r);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            if (na == 1) float_tile(kind, 1, K, yr, y_stride, panel, rows, am, a_stride);
            else float_tile(kind, 2, K, yr, y_stride, panel, rows, am, a_stride);
        }
    }
}

static void panel_dot_bf16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    float_dot(KIND_BF16, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_dot_f16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                          size_t a_stride, int64_t M) {
    float_dot(KIND_F16, K, y, y_stride, w, n_rows, a, a_stride, M);
}

/* BF16_R16's activations: f32 -> bf16 with integer operations, the bits of util.c's
 * fp32_to_bf16 (round to nearest even, NaNs made quiet). */
static void to_bf16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf); /* both sides below 2^31 */
        __m256i hi = _mm256_srli_epi32(u, 16);
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(half, _mm256_and_si256(hi, one))), 16);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), nan);
        /* the 8 low halves in order: pack within 128-bit lanes, then gather the two lanes' quads */
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), _MM_SHUFFLE(3, 1, 2, 0));
        _mm_storeu_si128((__m128i *)(p + 2 * i), _mm256_castsi256_si128(packed));
    }
    for (; i < n; i++) {
        uint16_t h = fp32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* F16 and BF16 weights into their panels, with these kernels (called by the AVX2 installer;
 * the AVX-512 layer replaces the F16 kernel, and the BF16 one where it has vdpbf16ps). */
void kernels_avx2_float_panels_install(kernel_set *k) {
    k->repack_to[GGML_TYPE_F16] = TYPE_F16_R16;
    k->type[TYPE_F16_R16].panel_dot = panel_dot_f16;
    k->repack_to[GGML_TYPE_BF16] = TYPE_BF16_R16;
    k->type[TYPE_BF16_R16].panel_dot = panel_dot_bf16;
    k->type[GGML_TYPE_BF16].from_float = to_bf16;
}

#else
typedef int kernels_avx2_float_panels_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
