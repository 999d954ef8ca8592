/* avx512_float_panels.c - AVX-512 kernels for the float panel layouts BF16_R16 (with
 * AVX512_BF16's vdpbf16ps) and F16_R16 (vcvtph2ps + FMA); kernels/panels_float.c has the
 * layouts and the scalar twins whose bits these give. Part of the AVX-512 layer; compiled
 * with -mavx512bf16 too, but the BF16 kernel is installed only where the CPU has it.
 *
 *   float_tile()   16 rows x na <= 8 activation rows: each 64-byte weight group loaded once
 *                  and used by every activation row (two chains per row, as the twin sums)
 *   float_dot()    the panel kernel (quant.h: panel_fn): groups of 8 activation rows, each
 *                  over all the call's panels (the caller keeps those in L2)
 *   to_bf16()      BF16_R16's activations: f32 -> bf16, the bits of util.c's fp32_to_bf16
 *                  (the scalar loop was 5 % of a BF16 pp512)
 *
 * Per group of 2 elements and 16 rows: BF16 one load and per activation row one vdpbf16ps
 * (32 multiply-adds; 2 per cycle per core on Zen 4's 256-bit halves would be 64), F16 two
 * 32-byte loads, two conversions and per row two FMAs (16 each). With one activation row
 * (decode) a panel streams front to back, two multiply-add chains in flight per panel:
 * enough, since 2 bytes per weight make it memory-bound (one core reads ~30 GB/s here). */
#if defined(__x86_64__)

#include "avx512_intrin.h"

#include "cpu.h"
#include "dispatch.h"
#include "kernels.h"

#ifndef INLINE /* the emulated build (avx512_emulated.h) leaves the choice to the compiler */
#define INLINE inline __attribute__((always_inline))
#endif
#define FLOAT_NA 8 /* activation rows per tile */

typedef enum { KIND_BF16, KIND_F16 } float_kind;

/* acc + group g of one activation row (at a) x the 16 rows' weights of that group. */
static INLINE __m512 bf16_step(__m512i w, const uint8_t *a, int64_t g, __m512 acc) {
    int32_t pair;
    memcpy(&pair, a + 4 * g, 4);
    return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_set1_epi32(pair));
}

static INLINE __m512 f16_step(__m512 w0, __m512 w1, const uint8_t *a, int64_t g, __m512 acc) {
    acc = _mm512_fmadd_ps(w0, _mm512_set1_ps(rd_f32(a + 8 * g)), acc);
    return _mm512_fmadd_ps(w1, _mm512_set1_ps(rd_f32(a + 8 * g + 4)), acc);
}

/* Group g of the panel into chain c of each of the na activation rows. */
static INLINE void group_rows(const float_kind kind, const int na, const uint8_t *panel, int64_t g, const uint8_t *a,
                              size_t a_stride, __m512 *chain) {
    const uint8_t *pg = panel + 64 * (size_t)g;
    if (kind == KIND_BF16) {
        __m512i w = _mm512_loadu_si512((const void *)pg);
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) chain[j] = bf16_step(w, a + (size_t)j * a_stride, g, chain[j]);
    } else {
        __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pg));
        __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pg + 32)));
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) chain[j] = f16_step(w0, w1, a + (size_t)j * a_stride, g, chain[j]);
    }
}

/* One panel's rows (lanes under `rows`) for activation rows 0 .. na - 1. */
static INLINE void float_tile(const float_kind kind, const int na, int64_t K, float *y, size_t y_stride,
                              const uint8_t *panel, __mmask16 rows, const uint8_t *a, size_t a_stride) {
    __m512 c0[FLOAT_NA], c1[FLOAT_NA];
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) c0[j] = c1[j] = _mm512_setzero_ps();
    int64_t G = K / 2, g = 0;
    for (; g + 1 < G; g += 2) {
        group_rows(kind, na, panel, g, a, a_stride, c0);
        group_rows(kind, na, panel, g + 1, a, a_stride, c1);
    }
    if (g < G) group_rows(kind, na, panel, g, a, a_stride, c0);
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) _mm512_mask_storeu_ps(y + (size_t)j * y_stride, rows, _mm512_add_ps(c0[j], c1[j]));
}

static INLINE void float_dot(const float_kind kind, int64_t K, float *y, size_t y_stride, const void *w,
                             int64_t n_rows, const void *a, size_t a_stride, int64_t M) {
    size_t panel_bytes = (size_t)(K / 2) * 64;
    for (int64_t m = 0; m < M; m += FLOAT_NA) {
        int na = (int)(M - m < FLOAT_NA ? M - m : FLOAT_NA);
        const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            __mmask16 rows = n_rows - r >= PANEL_ROWS ? 0xffff : (__mmask16)((1u << (n_rows - r)) - 1);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            switch (na) { /* a body per count keeps the chains in registers */
            case 1: float_tile(kind, 1, K, yr, y_stride, panel, rows, am, a_stride); break;
            case 2: float_tile(kind, 2, K, yr, y_stride, panel, rows, am, a_stride); break;
            case 3: float_tile(kind, 3, K, yr, y_stride, panel, rows, am, a_stride); break;
            case 4: float_tile(kind, 4, K, yr, y_stride, panel, rows, am, a_stride); break;
            case 5: float_tile(kind, 5, K, yr, y_stride, panel, rows, am, a_stride); break;
            case 6: float_tile(kind, 6, K, yr, y_stride, panel, rows, am, a_stride); break;
            case 7: float_tile(kind, 7, K, yr, y_stride, panel, rows, am, a_stride); break;
            default: float_tile(kind, 8, K, yr, y_stride, panel, rows, am, a_stride); break;
            }
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

/* Round to nearest even, NaNs made quiet, with integer operations as fp32_to_bf16 (not
 * vcvtneps2bf16, which reads subnormals as zero). */
static void to_bf16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_loadu_si512((const void *)(src + i));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
        __m512i hi = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, _mm512_set1_epi32(1))));
        r = _mm512_mask_mov_epi32(_mm512_srli_epi32(r, 16), nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
        _mm256_storeu_si256((__m256i *)(p + 2 * i), _mm512_cvtepi32_epi16(r));
    }
    for (; i < n; i++) {
        uint16_t h = fp32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* F16 weights into F16_R16 with this kernel; BF16 ones into BF16_R16 with this one where
 * the CPU has AVX512_BF16 (elsewhere with the AVX2 layer's, avx2_float_panels.c). */
void kernels_avx512_float_panels_install(kernel_set *k) {
    k->repack_to[GGML_TYPE_F16] = TYPE_F16_R16;
    k->type[TYPE_F16_R16].panel_dot = panel_dot_f16;
    if (avx512_has_bf16()) {
        k->repack_to[GGML_TYPE_BF16] = TYPE_BF16_R16;
        k->type[TYPE_BF16_R16].panel_dot = panel_dot_bf16;
    }
    k->type[GGML_TYPE_BF16].from_float = to_bf16;
}

#else
typedef int kernels_avx512_float_panels_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
