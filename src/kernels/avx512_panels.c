/* avx512_panels.c - AVX-512 VNNI kernels for the 16-row panel layouts (kernels/panels.c has
 * the layouts and the scalar twins these give the bits of), part of the AVX-512 layer.
 *
 *   unpack_block()   a panel block's codes as 8 registers, one per 4-element group, lane r =
 *                    row r's 4 codes (unsigned)
 *   block_step()     one activation row's block: 8 vpdpbusd with the activation group
 *                    broadcast to every lane, then the block's one f32 step for all 16 rows
 *   panels_tile()    16 rows x na <= 8 activation rows, each block unpacked once for all na
 *   panel_dot()      the panel kernel (quant.h: panel_fn): groups of 8 activation rows, each
 *                    over all the call's panels (the caller keeps those in L2)
 *
 * Per 16 rows x 32 elements and activation row this is 8 vpdpbusd and 4 other vector
 * operations (start value, scale product, conversion, FMA), against 4 vpdpbusd and 9 float
 * operations per 8 rows in the row-major tiles (llama.cpp's order) - Zen 4 runs both kinds
 * on the same pipes. With one activation row (decode) the loop reads each panel once, front
 * to back, and needs no software prefetch: with each thread on one sequential stream
 * (matmul.c's split) the hardware prefetchers keep up (42-54 GB/s on this Zen 4 with 4 KiB
 * pages, 54-66 with 2 MiB pages, measured with these loops). */
#if defined(__x86_64__)

#include <immintrin.h>

#include "dispatch.h"
#include "kernels.h"

#define INLINE inline __attribute__((always_inline))
#define PANEL_NA 8 /* activation rows per tile */

typedef enum { KIND_Q4_0, KIND_Q5_0, KIND_Q8_0 } panel_kind;

static const struct {
    size_t block;  /* bytes per panel block */
    int offset;    /* c in u = q + c */
} kinds[] = {[KIND_Q4_0] = {16 * 18, 8}, [KIND_Q5_0] = {16 * 22, 16}, [KIND_Q8_0] = {16 * 34, 128}};

static INLINE __m512i loadu512(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }
static INLINE int32_t rd_i32(const uint8_t *p) { return (int32_t)rd_u32(p); }

/* q[g] = the codes of element group g (elements 4g .. 4g+3) of the 16 rows. */
static INLINE void unpack_block(const panel_kind kind, const uint8_t *pb, __m512i q[8]) {
    const __m512i m4 = _mm512_set1_epi8(15);
    if (kind == KIND_Q8_0) {
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) q[l] = loadu512(pb + 32 + 64 * l);
        return;
    }
    const uint8_t *nib = pb + (kind == KIND_Q5_0 ? 96 : 32);
#pragma GCC unroll 4
    for (int l = 0; l < 4; l++) {
        __m512i v = loadu512(nib + 64 * l);
        q[l] = _mm512_and_si512(v, m4);
        q[l + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
    if (kind == KIND_Q5_0) {
        const __m512i sixteen = _mm512_set1_epi8(16);
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) q[g] = _mm512_mask_add_epi8(q[g], _cvtu64_mask64(rd_u64(pb + 32 + 8 * g)), q[g], sixteen);
    }
}

/* Group g of activation block ab (4 codes) in every lane. */
static INLINE __m512i act_group(const uint8_t *ab, int g) { return _mm512_set1_epi32(rd_i32(ab + 4 * g)); }

/* acc + (float)(block dot) * (d_w * d_a) for the 16 rows, one activation block ab. Written
 * out, not as a loop over q[]: a loop kept q[] on the stack (measured: 29 GB/s on g1b Q8_0
 * decode). Two chains, added at the end: the integer sums are exact in any order. */
static INLINE __m512 block_step(const panel_kind kind, const __m512i q[8], __m512 dw, const uint8_t *ab, __m512 acc) {
    __m512i s = _mm512_set1_epi32(-kinds[kind].offset * rd_i32(ab + 36));
    __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[1], act_group(ab, 1));
    s = _mm512_dpbusd_epi32(s, q[0], act_group(ab, 0));
    s = _mm512_dpbusd_epi32(s, q[2], act_group(ab, 2));
    t = _mm512_dpbusd_epi32(t, q[3], act_group(ab, 3));
    s = _mm512_dpbusd_epi32(s, q[4], act_group(ab, 4));
    t = _mm512_dpbusd_epi32(t, q[5], act_group(ab, 5));
    s = _mm512_dpbusd_epi32(s, q[6], act_group(ab, 6));
    t = _mm512_dpbusd_epi32(t, q[7], act_group(ab, 7));
    __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(rd_f32(ab + 32)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s, t)), d, acc);
}

/* One panel's rows (lanes under `rows`) for activation rows 0 .. na - 1 (a_stride apart). */
static INLINE void panels_tile(const panel_kind kind, const int na, int64_t nb, float *y, size_t y_stride,
                               const uint8_t *panel, __mmask16 rows, const uint8_t *a, size_t a_stride) {
    /* The loops over the na accumulators are unrolled (GCC and clang read the pragma) so
     * they and q[] stay in registers: left as loops, they went through the stack. */
    __m512 acc[PANEL_NA];
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = panel + (size_t)b * kinds[kind].block;
        __m512i q[8];
        unpack_block(kind, pb, q);
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) acc[j] = block_step(kind, q, dw, a + (size_t)j * a_stride + 40 * (size_t)b, acc[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) _mm512_mask_storeu_ps(y + (size_t)j * y_stride, rows, acc[j]);
}

static INLINE void panel_dot(const panel_kind kind, int64_t K, float *y, size_t y_stride, const void *w,
                             int64_t n_rows, const void *a, size_t a_stride, int64_t M) {
    int64_t nb = K / 32;
    size_t panel_bytes = (size_t)nb * kinds[kind].block;
    for (int64_t m = 0; m < M; m += PANEL_NA) {
        int na = (int)(M - m < PANEL_NA ? M - m : PANEL_NA);
        const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            __mmask16 rows = n_rows - r >= PANEL_ROWS ? 0xffff : (__mmask16)((1u << (n_rows - r)) - 1);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            switch (na) { /* a body per count keeps the accumulators in registers */
            case 1: panels_tile(kind, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
            case 2: panels_tile(kind, 2, nb, yr, y_stride, panel, rows, am, a_stride); break;
            case 3: panels_tile(kind, 3, nb, yr, y_stride, panel, rows, am, a_stride); break;
            case 4: panels_tile(kind, 4, nb, yr, y_stride, panel, rows, am, a_stride); break;
            case 5: panels_tile(kind, 5, nb, yr, y_stride, panel, rows, am, a_stride); break;
            case 6: panels_tile(kind, 6, nb, yr, y_stride, panel, rows, am, a_stride); break;
            case 7: panels_tile(kind, 7, nb, yr, y_stride, panel, rows, am, a_stride); break;
            default: panels_tile(kind, 8, nb, yr, y_stride, panel, rows, am, a_stride); break;
            }
        }
    }
}

static void panel_dot_q4_0(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    panel_dot(KIND_Q4_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_dot_q5_0(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    panel_dot(KIND_Q5_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_dot_q8_0(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    panel_dot(KIND_Q8_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}

/* The panel layouts this layer repacks into, and their kernels (called by the AVX-512
 * installer, so the AMX sets built over it have them too). */
void kernels_avx512_panels_install(kernel_set *k) {
    k->repack_to[GGML_TYPE_Q4_0] = TYPE_Q4_0_R16;
    k->repack_to[GGML_TYPE_Q5_0] = TYPE_Q5_0_R16;
    k->repack_to[GGML_TYPE_Q8_0] = TYPE_Q8_0_R16;
    k->type[TYPE_Q4_0_R16].panel_dot = panel_dot_q4_0;
    k->type[TYPE_Q5_0_R16].panel_dot = panel_dot_q5_0;
    k->type[TYPE_Q8_0_R16].panel_dot = panel_dot_q8_0;
}

#else
typedef int kernels_avx512_panels_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
