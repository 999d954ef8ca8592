/* kernels.h - private to src/kernels/: codebooks, the per-element decoders of every block
 * format, the scalar row-dot kernels, and the scalar elementwise kernels of the forward pass
 * (GEGLU, RMSNorm, soft-capping: dispatch.h's vec_kernels), and the lookup tables they read.
 *
 * Blocks are read as bytes at the offsets of doc/formats.md#byte-maps (never through
 * structs: weight rows sit at arbitrary offsets of the mapping and MXFP4 blocks are 17 bytes),
 * multi-byte fields through memcpy. Every index below is masked to the width of its field, so
 * any bit pattern decodes without reading outside its block. The same decoders serve the
 * dequantizers (quant.c) and the scalar kernels (kernels/scalar.c), which keeps the two in
 * lock step; SIMD kernels are tested against the scalar ones. */
#ifndef GEMMA_KERNELS_H
#define GEMMA_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "quant.h"
#include "util.h"

/* Non-linear 4-bit codebooks (doc/formats.md#constants). */
extern const int8_t kvalues_iq4nl[16];
extern const int8_t kvalues_mxfp4[16];  /* E2M1 values doubled, so they are integers */

static inline float rd_f32(const void *p) { float f; memcpy(&f, p, 4); return f; }
static inline int16_t rd_i16(const void *p) { int16_t v; memcpy(&v, p, 2); return v; }
static inline float rd_f16(const void *p) { return fp16_to_fp32(rd_u16(p)); }

/* MXFP4's E8M0 exponent as the half scale 2^(e-128), built from bits (doc/formats.md#mxfp4). */
static inline float e8m0_to_fp32_half(uint8_t e) {
    uint32_t bits = e >= 2 ? (uint32_t)(e - 1) << 23 : e == 1 ? 0x00400000u : 0x00200000u;
    return rd_f32(&bits);
}

/* The 4-bit code of element e (0..31) of a 32-element block: byte j holds element j in its
 * low nibble and element j + 16 in its high nibble ("split halves"). */
static inline int nibble32(const uint8_t *qs, int e) {
    return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4;
}

/* Fifth bit of element e of a Q5_0 / Q5_1 block (qh read as a little-endian u32). */
static inline int q5_high_bit(uint32_t qh, int e) { return (int)((qh >> e) & 1); }

/* ---- K-quants: element e (0..255) of one super-block ---- */

/* Q2_K: 2-bit code 0..3; each qs byte packs elements l, l+32, l+64, l+96 of a 128-half. */
static inline int q2_k_code(const uint8_t *blk, int e) {
    const uint8_t *qs = blk + 16;
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

/* Q3_K: signed code -4..3 (the hmask bit set means "do not subtract 4"). */
static inline int q3_k_code(const uint8_t *blk, int e) {
    const uint8_t *hmask = blk, *qs = blk + 32;
    int low = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    int hbit = (hmask[e % 32] >> (e / 32)) & 1;
    return hbit ? low : low - 4;
}

/* Q3_K: signed 6-bit scale of sub-block k (0..15), -32..31. */
static inline int q3_k_scale(const uint8_t *blk, int k) {
    const uint8_t *S = blk + 96;
    int lo4 = k < 8 ? S[k] & 15 : S[k - 8] >> 4;
    int hi2 = (S[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (lo4 | hi2 << 4) - 32;
}

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes S. */
static inline void k4_scale_min(const uint8_t *S, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = S[j] & 63;
        *m = S[j + 4] & 63;
    } else {
        *sc = (S[j + 4] & 15) | ((S[j - 4] >> 6) << 4);
        *m = (S[j + 4] >> 4) | ((S[j] >> 6) << 4);
    }
}

/* Q4_K: 4-bit code; the 32 bytes of chunk c serve sub-block 2c (low nibbles) and 2c+1. */
static inline int q4_k_code(const uint8_t *blk, int e) {
    uint8_t byte = blk[16 + 32 * (e / 64) + e % 32];
    return (e % 64) < 32 ? byte & 15 : byte >> 4;
}

/* Q5_K: Q4_K's low 4 bits at qs@48 plus the fifth bit at position e/32 of qh[e % 32]. */
static inline int q5_k_code(const uint8_t *blk, int e) {
    uint8_t byte = blk[48 + 32 * (e / 64) + e % 32];
    int low = (e % 64) < 32 ? byte & 15 : byte >> 4;
    int high = (blk[16 + e % 32] >> (e / 32)) & 1;
    return low | high << 4;
}

/* Q6_K: signed code -32..31 from 4 low bits (ql) and 2 high bits (qh). */
static inline int q6_k_code(const uint8_t *blk, int e) {
    const uint8_t *ql = blk, *qh = blk + 128;
    int h = e / 128, g = (e % 128) / 32, l = e % 32;
    int low4 = (ql[64 * h + 32 * (g & 1) + l] >> (4 * (g >> 1))) & 15;
    int hi2 = (qh[32 * h + l] >> (2 * g)) & 3;
    return (low4 | hi2 << 4) - 32;
}

/* Q6_K: signed 8-bit scale of sub-block k (0..15). */
static inline int q6_k_scale(const uint8_t *blk, int k) { return (int8_t)blk[192 + k]; }

/* IQ4_XS: 6-bit scale of sub-block ib (0..7), stored +32; returns ls - 32. */
static inline int iq4_xs_scale(const uint8_t *blk, int ib) {
    int lo4 = (blk[4 + ib / 2] >> (4 * (ib % 2))) & 15;
    int hi2 = (rd_u16(blk + 2) >> (2 * ib)) & 3;
    return (lo4 | hi2 << 4) - 32;
}

/* IQ4_XS: codebook index of element e: sub-block e/32 uses qs bytes 16*(e/32) .. +15 with
 * the usual split-halves nibble order. */
static inline int iq4_xs_index(const uint8_t *blk, int e) {
    return nibble32(blk + 8 + 16 * (e / 32), e % 32);
}

/* Q8_K activation block: d f32 @0, qs i8 @4, bsums i16 @260. */
static inline float q8_k_d(const uint8_t *blk) { return rd_f32(blk); }
static inline const int8_t *q8_k_qs(const uint8_t *blk) { return (const int8_t *)(blk + 4); }
static inline int q8_k_bsum(const uint8_t *blk, int k) { return rd_i16(blk + 260 + 2 * k); }

/* ---- scalar row dots: *s = dot(weight row x, activation row y), n elements ---- */
void vec_dot_f32_f32(int n, float *s, const void *x, const void *y);
void vec_dot_f16_f32(int n, float *s, const void *x, const void *y);
void vec_dot_bf16_f32(int n, float *s, const void *x, const void *y);
void vec_dot_bf16_bf16(int n, float *s, const void *x, const void *y);
void vec_dot_q4_0_q8_0(int n, float *s, const void *x, const void *y);
void vec_dot_q4_1_q8_1(int n, float *s, const void *x, const void *y);
void vec_dot_q5_0_q8_0(int n, float *s, const void *x, const void *y);
void vec_dot_q5_1_q8_1(int n, float *s, const void *x, const void *y);
void vec_dot_q8_0_q8_0(int n, float *s, const void *x, const void *y);
void vec_dot_q2_k_q8_k(int n, float *s, const void *x, const void *y);
void vec_dot_q3_k_q8_k(int n, float *s, const void *x, const void *y);
void vec_dot_q4_k_q8_k(int n, float *s, const void *x, const void *y);
void vec_dot_q5_k_q8_k(int n, float *s, const void *x, const void *y);
void vec_dot_q6_k_q8_k(int n, float *s, const void *x, const void *y);
void vec_dot_iq4_nl_q8_0(int n, float *s, const void *x, const void *y);
void vec_dot_iq4_xs_q8_k(int n, float *s, const void *x, const void *y);
void vec_dot_mxfp4_q8_0(int n, float *s, const void *x, const void *y);

/* ---- row panels of the float types (kernels/panels_float.c) ---- */
void repack_bf16_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void repack_f16_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void unpack_bf16_r16(void *dst, const void *panel, int r, int64_t K);
void unpack_f16_r16(void *dst, const void *panel, int r, int64_t K);
void panel_dot_bf16_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M);
void panel_dot_f16_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                       size_t a_stride, int64_t M);

/* ---- row panels (kernels/panels.c): the layouts' repacking and scalar panel kernels ---- */
#define PANEL_ROWS 16
void repack_q4_0_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void repack_q5_0_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void repack_q8_0_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void unpack_q4_0_r16(void *dst, const void *panel, int r, int64_t K);
void unpack_q5_0_r16(void *dst, const void *panel, int r, int64_t K);
void unpack_q8_0_r16(void *dst, const void *panel, int r, int64_t K);
void panel_dot_q4_0_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M);
void panel_dot_q5_0_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M);
void panel_dot_q8_0_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M);
/* Q6_K_R16: where 4-byte group G of the ql bytes (G < 32) and of the qh bytes (G < 16) sit
 * in a panel super-block (panels.c): in the order the kernels read them, 4 segments of 768
 * bytes, one per 128-element half h and 4-element-group half: its 4 ql groups of the low
 * nibbles' g = 0/2, its 4 ql groups of g = 1/3, its 4 qh groups. */
static inline int q6_k_ql_at(int G) {
    int h = G / 16, b = G % 16 / 8, l4 = G % 8;
    return 288 + 768 * (2 * h + l4 / 4) + 64 * (4 * b + l4 % 4);
}
static inline int q6_k_qh_at(int G) {
    int h = G / 8, l4 = G % 8;
    return 288 + 768 * (2 * h + l4 / 4) + 64 * (8 + l4 % 4);
}
void repack_q4_k_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void repack_q5_k_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void repack_q6_k_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void unpack_q4_k_r16(void *dst, const void *panel, int r, int64_t K);
void unpack_q5_k_r16(void *dst, const void *panel, int r, int64_t K);
void unpack_q6_k_r16(void *dst, const void *panel, int r, int64_t K);
void repack_iq4_xs_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K);
void unpack_iq4_xs_r16(void *dst, const void *panel, int r, int64_t K);
void panel_dot_iq4_xs_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                          size_t a_stride, int64_t M);
void panel_dot_q4_k_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M);
void panel_dot_q5_k_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M);
void panel_dot_q6_k_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M);

/* ---- elementwise kernels of the forward pass (vec_kernels, dispatch.h) ---- */

/* The lookup tables the kernels read, filled once by dispatch.c before any kernel set is
 * built (so no installer depends on another): GELU of every f16 input, rounded to f16,
 * indexed by the input's bits (defined and filled by gelu_table_fill(), kernels/scalar.c);
 * and f16 -> f32 of every half as the F16C instructions convert it (defined in dispatch.c):
 * a table load is cheaper than the conversion instructions in the AVX kernels' hot loops. */
extern float gelu_table[65536];
void gelu_table_fill(void);
extern float kernel_fp16_table[65536];

/* RMSNorm's sum of squares runs in RMS_LANES double lanes: x[i]^2 goes to lane i % RMS_LANES
 * (a short tail as if padded with zeros), and the lanes are then added by halving, lane k +=
 * lane k + h for h = 8, 4, 2, 1. Every vector width can follow that order exactly (16 lanes
 * are two AVX-512, four AVX2 or eight NEON registers), so every set gives the same bits. */
#define RMS_LANES 16

/* The factor RMSNorm multiplies by, from the sum of squares of n elements. */
static inline float rms_scale(double sum_sq, int n, float eps) {
    return 1.0f / sqrtf((float)(sum_sq / n) + eps);
}

/* Soft-capping's tanh (softcap_scalar in kernels/scalar.c has the derivation): the constants
 * every version uses, so that all give the same bits. */
#define TANH_CLAMP 10.0f                         /* tanh(a) rounds to 1 in float from a = 9.01 */
#define EXPM1_LOG2E 1.44269504088896341f
#define EXPM1_LN2_HI 0.693145751953125f          /* ln 2 = LN2_HI + LN2_LO; 16 bits, so */
#define EXPM1_LN2_LO 1.42860682030941723212e-6f   /* n * LN2_HI is exact for |n| < 256 */
/* expm1(r) = r + r^2 (C2 + C3 r + ... + C8 r^6): the Taylor series, truncated where the
 * rest is below 1e-9 relative for |r| <= ln2 / 2. */
#define EXPM1_C2 0.5f
#define EXPM1_C3 (1.0f / 6)
#define EXPM1_C4 (1.0f / 24)
#define EXPM1_C5 (1.0f / 120)
#define EXPM1_C6 (1.0f / 720)
#define EXPM1_C7 (1.0f / 5040)
#define EXPM1_C8 (1.0f / 40320)

/* The portable versions: the specification the SIMD ones are tested against. */
void geglu_scalar(float *out, const float *gate, const float *up, int n);
void rmsnorm_scalar(float *out, const float *x, const float *w, int n, float eps);
void softcap_scalar(float *x, int n, float cap);

#endif
