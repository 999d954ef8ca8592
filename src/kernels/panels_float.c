/* panels_float.c - the 16-row panel layouts of the float weight types (BF16, F16) and their
 * scalar kernels: the specification the AVX-512 kernels (avx512_float_panels.c) are tested
 * against bit for bit. kernels/panels.c has the quantized layouts and the general picture.
 *
 *   repack_bf16_r16 / unpack_bf16_r16   BF16 rows <-> one BF16_R16 panel
 *   repack_f16_r16 / unpack_f16_r16     F16 rows <-> one F16_R16 panel
 *   panel_dot_bf16_r16                  BF16_R16 x BF16 activations, vdpbf16ps's arithmetic
 *   panel_dot_f16_r16                   F16_R16 x F32 activations, f32 fused multiply-adds
 *
 * Both layouts go along the row in pairs of elements (a "group", 64 bytes for 16 rows), so K
 * must be even (every Gemma width is; an odd one stays in the file's layout):
 *   BF16_R16, group g @64g: lane r (4 bytes @4r) = row r's elements 2g (low half) and 2g+1,
 *     one vdpbf16ps operand: with the activation pair broadcast to every lane, one
 *     instruction adds both products of all 16 rows (32 multiply-adds).
 *   F16_R16, group g @64g: @0 + 2r row r's element 2g, @32 + 2r its element 2g+1: each half
 *     is one vcvtph2ps to 16 floats, one FMA with a broadcast activation.
 * The panel keeps the file's bytes per row (2 per element).
 *
 * Activations: BF16 weights take the activations rounded to bf16 (to nearest even, as
 * llama.cpp does for BF16 weights: its vec_dot_type for BF16 is BF16), so a pair of products
 * is one vdpbf16ps. F16 weights keep f32 activations (the products stay exact, as in the
 * row-major F16 kernels): converting them to bf16 would drop 3 of f16's 11 significant bits.
 *
 * Summation, per row, two chains c = g mod 2 from 0, then y = chain 0 + chain 1:
 *   BF16: chain = vdpbf16ps(chain, w pair g, a pair g), which (measured on this Zen 4 over
 *     32 M random cases, and as Intel's pseudo-code says) is: inputs with a zero exponent
 *     read as zero (DAZ), chain = fma(w[2g+1], a[2g+1], chain) then fma(w[2g], a[2g], chain),
 *     each rounded to nearest even and a subnormal result flushed to zero (FTZ);
 *   F16: chain = fma(w[2g], a[2g], chain), then fma(w[2g+1], a[2g+1], chain) (IEEE, no flush).
 * Two chains, so a one-token kernel keeps two multiply-adds in flight per panel. */
#include <math.h>

#include "kernels.h"

#define GROUP_BYTES 64 /* 16 rows x 2 elements x 2 bytes */

static const uint8_t zero_pair[4];

static void put_bf16(uint8_t *pg, const uint8_t *pair, int r) { memcpy(pg + 4 * r, pair, 4); }
static void get_bf16(uint8_t *pair, const uint8_t *pg, int r) { memcpy(pair, pg + 4 * r, 4); }
static void put_f16(uint8_t *pg, const uint8_t *pair, int r) {
    memcpy(pg + 2 * r, pair, 2);
    memcpy(pg + 32 + 2 * r, pair + 2, 2);
}
static void get_f16(uint8_t *pair, const uint8_t *pg, int r) {
    memcpy(pair, pg + 2 * r, 2);
    memcpy(pair + 2, pg + 32 + 2 * r, 2);
}

typedef void (*pair_fn)(uint8_t *a, const uint8_t *b, int r);

/* n rows (w_row bytes apart) into one panel, row by row (one sequential read of the file);
 * rows n .. 15 are zeros. */
static void repack_pairs(uint8_t *dst, const uint8_t *rows, size_t w_row, int n, int64_t K, pair_fn put) {
    for (int r = 0; r < PANEL_ROWS; r++)
        for (int64_t g = 0; g < K / 2; g++)
            put(dst + (size_t)g * GROUP_BYTES, r < n ? rows + (size_t)r * w_row + 4 * (size_t)g : zero_pair, r);
}

static void unpack_pairs(uint8_t *dst, const uint8_t *panel, int r, int64_t K, pair_fn get) {
    for (int64_t g = 0; g < K / 2; g++) get(dst + 4 * (size_t)g, panel + (size_t)g * GROUP_BYTES, r);
}

void repack_bf16_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_pairs(dst, rows, w_row, n, K, put_bf16);
}
void repack_f16_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_pairs(dst, rows, w_row, n, K, put_f16);
}
void unpack_bf16_r16(void *dst, const void *panel, int r, int64_t K) { unpack_pairs(dst, panel, r, K, get_bf16); }
void unpack_f16_r16(void *dst, const void *panel, int r, int64_t K) { unpack_pairs(dst, panel, r, K, get_f16); }

/* ---- the scalar kernels ---- */

/* A subnormal as a zero of its sign (vdpbf16ps's DAZ on inputs, FTZ on results). */
static inline float flush(float x) { return fabsf(x) < 0x1p-126f ? copysignf(0.0f, x) : x; }

static inline float bf16_at(const uint8_t *p) { return flush(bf16_to_fp32(rd_u16(p))); }

/* Row r of a BF16_R16 panel times one bf16 activation row. */
static float bf16_row_dot(const uint8_t *panel, int r, const uint8_t *a, int64_t K) {
    float chain[2] = {0.0f, 0.0f};
    for (int64_t g = 0; g < K / 2; g++) {
        const uint8_t *w = panel + (size_t)g * GROUP_BYTES + 4 * r, *x = a + 4 * g;
        float *c = &chain[g & 1];
        *c = flush(fmaf(bf16_at(w + 2), bf16_at(x + 2), *c));
        *c = flush(fmaf(bf16_at(w), bf16_at(x), *c));
    }
    return chain[0] + chain[1];
}

/* Row r of an F16_R16 panel times one f32 activation row. */
static float f16_row_dot(const uint8_t *panel, int r, const uint8_t *a, int64_t K) {
    float chain[2] = {0.0f, 0.0f};
    for (int64_t g = 0; g < K / 2; g++) {
        const uint8_t *w = panel + (size_t)g * GROUP_BYTES + 2 * r;
        float *c = &chain[g & 1];
        *c = fmaf(rd_f16(w), rd_f32(a + 8 * g), *c);
        *c = fmaf(rd_f16(w + 32), rd_f32(a + 8 * g + 4), *c);
    }
    return chain[0] + chain[1];
}

typedef float (*row_dot_fn)(const uint8_t *panel, int r, const uint8_t *a, int64_t K);

static void float_panel_dot(row_dot_fn row_dot, int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows,
                            const void *a, size_t a_stride, int64_t M) {
    size_t panel_bytes = (size_t)(K / 2) * GROUP_BYTES;
    for (int64_t i = 0; i < n_rows; i++) {
        const uint8_t *panel = (const uint8_t *)w + (size_t)(i / PANEL_ROWS) * panel_bytes;
        for (int64_t m = 0; m < M; m++)
            y[(size_t)m * y_stride + (size_t)i] =
                row_dot(panel, (int)(i % PANEL_ROWS), (const uint8_t *)a + (size_t)m * a_stride, K);
    }
}

void panel_dot_bf16_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M) {
    float_panel_dot(bf16_row_dot, K, y, y_stride, w, n_rows, a, a_stride, M);
}
void panel_dot_f16_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                       size_t a_stride, int64_t M) {
    float_panel_dot(f16_row_dot, K, y, y_stride, w, n_rows, a, a_stride, M);
}
