/* neon.c - Arm NEON row dots and tile kernels for every weight type (AArch64 only).
 *
 * Every format has one body, `*_rows`, that multiplies one weight row with `na` activation
 * rows (1 or GEMM_MAX_NA): each weight block is decoded into int8 (or f32) registers once and
 * then meets the matching block of every activation row, so in prefill the decode work and
 * the weight bytes are shared by four tokens. The row dot (vec_dot) is the body with na = 1;
 * the tile kernel (gemm) runs it once per weight row with na = 4, or na = 1 per activation
 * row on an edge tile.
 *
 * Integer block dots come in two flavours (doc/formats.md#neon):
 *  - baseline ARMv8 NEON, present on every AArch64 CPU: widening multiplies (smull) and
 *    pairwise widening adds (sadalp);
 *  - ARMv8.2 dotprod: sdot adds four int8 products into each int32 lane.
 * The bodies take the choice as a compile-time constant, so each instantiation holds only its
 * own instructions (tests/test_neon.sh checks with objdump that the baseline set contains no
 * sdot). kernels_neon_install() installs the baseline layer, kernels_neon_dotprod_install()
 * the sdot kernels over it (and the panel kernels of neon_panels.c: only that set repacks);
 * dispatch.c picks by the kernel's HWCAP_ASIMDDP bit (cpu.c). Build
 * flags (Makefile): this file gets -march=armv8.2-a+dotprod+fp16; without dotprod only the
 * baseline set is built.
 *
 * Results equal the scalar kernels' (kernels/scalar.c) up to float rounding: the integer part
 * of each block is exact, but float accumulation runs in four lanes, and K-quant super-blocks
 * keep the min term apart from the scale term.
 *
 * The forward pass's elementwise kernels (GEGLU, RMSNorm, soft-capping) give the scalar ones'
 * bits: the same f16 rounding and table for GELU, the same double lanes for the sum of
 * squares, the same rounded operations in the same order for tanh. Both NEON sets use them. */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <stdbool.h>

#include "dispatch.h"
#include "kernels.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ======================= building blocks ======================= */

/* acc + the 16 products a[i] * b[i], summed into the four int32 lanes. sdot groups four
 * products per lane; the baseline path pairs them in int16 (smull: exact for any int8 input)
 * and adds pairs into the lanes (sadalp).
 * The lanes differ between the two, their total does not. */
static ALWAYS_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b, bool sdot) {
#if defined(__ARM_FEATURE_DOTPROD)
    if (sdot) return vdotq_s32(acc, a, b);
#endif
    (void)sdot;
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

/* Dot of 32 weight codes (w0: elements 0..15, w1: 16..31) with 32 activation codes at q. */
static ALWAYS_INLINE int32x4_t dot32(int8x16_t w0, int8x16_t w1, const uint8_t *q, bool sdot) {
    int32x4_t p = dot16(vdupq_n_s32(0), w0, vreinterpretq_s8_u8(vld1q_u8(q)), sdot);
    return dot16(p, w1, vreinterpretq_s8_u8(vld1q_u8(q + 16)), sdot);
}

/* Sums of the four int32x4 vectors p0..p3, one per lane (four sub-blocks side by side). */
static ALWAYS_INLINE int32x4_t sum4(int32x4_t p0, int32x4_t p1, int32x4_t p2, int32x4_t p3) {
    return vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
}

/* Half float at p (unaligned) as f32, by the FPU's exact conversion (__fp16 is the
 * AArch64 storage-only half type: a load and one fcvt). */
static inline float h2f(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

/* Loads through byte pointers: blocks sit at any offset, so nothing here is aligned. */
static inline int8x16_t ld_s8(const uint8_t *p) { return vreinterpretq_s8_u8(vld1q_u8(p)); }
static inline int16x8_t ld_s16(const uint8_t *p) { return vreinterpretq_s16_u8(vld1q_u8(p)); }
static inline float32x4_t ld_f32(const uint8_t *p) { return vreinterpretq_f32_u8(vld1q_u8(p)); }

static inline int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

/* The four sign-extended int32 vectors of 16 int8 values. */
static inline void widen_s8(int8x16_t v, int32x4_t out[4]) {
    int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
    out[0] = vmovl_s16(vget_low_s16(lo));
    out[1] = vmovl_high_s16(lo);
    out[2] = vmovl_s16(vget_low_s16(hi));
    out[3] = vmovl_high_s16(hi);
}

/* Σ m[k] * bsums[k] for 8 int16 pairs (mins, per-32 or per-16 activation sums). */
static inline int32_t dot_s16x8(int16x8_t a, int16x8_t b) {
    int32x4_t p = vmull_s16(vget_low_s16(a), vget_low_s16(b));
    return vaddvq_s32(vmlal_high_s16(p, a, b));
}

/* 0xFF in byte e of lo (elements 0..15) and hi (16..31) where bit e of the u32 qh is set:
 * Q5_0 / Q5_1's fifth bits as byte masks. */
static inline void fifth_bit_masks(uint32_t qh, uint8x16_t *lo, uint8x16_t *hi) {
    const uint8x16_t bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
    uint8x16_t b01 = vcombine_u8(vdup_n_u8((uint8_t)qh), vdup_n_u8((uint8_t)(qh >> 8)));
    uint8x16_t b23 = vcombine_u8(vdup_n_u8((uint8_t)(qh >> 16)), vdup_n_u8((uint8_t)(qh >> 24)));
    *lo = vtstq_u8(b01, bit);
    *hi = vtstq_u8(b23, bit);
}

/* ======================= float weights (f32 activations) ======================= */

/* The 16 weights at w as f32, four vectors. */
static ALWAYS_INLINE void load16_f32(enum ggml_type type, const uint8_t *w, float32x4_t v[4]) {
    if (type == GGML_TYPE_F32) {
        for (int k = 0; k < 4; k++) v[k] = ld_f32(w + 16 * k);
    } else if (type == GGML_TYPE_F16) {
        for (int k = 0; k < 2; k++) {
            float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(w + 16 * k));
            v[2 * k] = vcvt_f32_f16(vget_low_f16(h));
            v[2 * k + 1] = vcvt_high_f32_f16(h);
        }
    } else { /* BF16: the bits of an f32 with the low half zero */
        const uint16x8_t zero = vdupq_n_u16(0);
        for (int k = 0; k < 2; k++) {
            uint16x8_t b = vreinterpretq_u16_u8(vld1q_u8(w + 16 * k));
            v[2 * k] = vreinterpretq_f32_u16(vzip1q_u16(zero, b));
            v[2 * k + 1] = vreinterpretq_f32_u16(vzip2q_u16(zero, b));
        }
    }
}

static ALWAYS_INLINE float weight_f(enum ggml_type type, const uint8_t *w, int i) {
    if (type == GGML_TYPE_F32) return rd_f32(w + 4 * i);
    if (type == GGML_TYPE_F16) return h2f(w + 2 * i);
    return bf16_to_fp32(rd_u16(w + 2 * i));
}

/* out[j * out_stride] = dot(weight row w, f32 row a + j * a_stride), any n: 16 elements per
 * step in four f32 lanes per accumulator, the n % 16 tail in scalar. */
static ALWAYS_INLINE void float_rows(enum ggml_type type, int n, const uint8_t *w,
                                     const uint8_t *a, size_t a_stride, float *out,
                                     size_t out_stride, int na) {
    const size_t wsize = type == GGML_TYPE_F32 ? 4 : 2;
    float32x4_t acc[GEMM_MAX_NA][4];
#pragma GCC unroll 4
    for (int j = 0; j < na; j++)
        for (int k = 0; k < 4; k++) acc[j][k] = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t wv[4];
        load16_f32(type, w + wsize * (size_t)i, wv);
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) {
            const uint8_t *aj = a + j * a_stride + 4 * (size_t)i;
            for (int k = 0; k < 4; k++) acc[j][k] = vfmaq_f32(acc[j][k], wv[k], ld_f32(aj + 16 * k));
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) {
        const uint8_t *aj = a + j * a_stride;
        float tail = 0.0f;
        for (int t = i; t < n; t++) tail += weight_f(type, w, t) * rd_f32(aj + 4 * (size_t)t);
        float32x4_t s = vaddq_f32(vaddq_f32(acc[j][0], acc[j][1]), vaddq_f32(acc[j][2], acc[j][3]));
        out[j * out_stride] = vaddvq_f32(s) + tail;
    }
}

/* ======================= 32-element blocks (Q8_0 / Q8_1 activations) ======================= */

static ALWAYS_INLINE size_t block32_bytes(enum ggml_type type) {
    switch (type) {
    case GGML_TYPE_Q4_0: return 18;
    case GGML_TYPE_Q4_1: return 20;
    case GGML_TYPE_Q5_0: return 22;
    case GGML_TYPE_Q5_1: return 24;
    case GGML_TYPE_IQ4_NL: return 18;
    case GGML_TYPE_MXFP4: return 17;
    default: return 34; /* Q8_0 */
    }
}

/* Block b of a 32-element format as signed codes w[0] (elements 0..15), w[1] (16..31), each
 * exactly the integer the scalar kernel multiplies; returns the block scale. `book` is the
 * codebook register of IQ4_NL / MXFP4 (tbl with the nibble as index). */
static ALWAYS_INLINE float decode32(enum ggml_type type, const uint8_t *b, int8x16_t book,
                                    int8x16_t w[2]) {
    const uint8x16_t m4 = vdupq_n_u8(15);
    uint8x16_t v, lo, hi;
    switch (type) {
    case GGML_TYPE_Q4_0: /* q - 8 */
        v = vld1q_u8(b + 2);
        w[0] = vsubq_s8(s8(vandq_u8(v, m4)), vdupq_n_s8(8));
        w[1] = vsubq_s8(s8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
        return h2f(b);
    case GGML_TYPE_Q4_1: /* q; the min comes from the Q8_1 sum */
        v = vld1q_u8(b + 4);
        w[0] = s8(vandq_u8(v, m4));
        w[1] = s8(vshrq_n_u8(v, 4));
        return h2f(b);
    case GGML_TYPE_Q5_0: /* q - 16: a clear fifth bit ORs in 0xF0, i.e. the int8 n - 16 */
        v = vld1q_u8(b + 6);
        fifth_bit_masks(rd_u32(b + 2), &lo, &hi);
        w[0] = s8(vorrq_u8(vandq_u8(v, m4), vbicq_u8(vdupq_n_u8(0xF0), lo)));
        w[1] = s8(vorrq_u8(vshrq_n_u8(v, 4), vbicq_u8(vdupq_n_u8(0xF0), hi)));
        return h2f(b);
    case GGML_TYPE_Q5_1: /* q = n | fifth bit << 4 */
        v = vld1q_u8(b + 8);
        fifth_bit_masks(rd_u32(b + 4), &lo, &hi);
        w[0] = s8(vorrq_u8(vandq_u8(v, m4), vandq_u8(lo, vdupq_n_u8(0x10))));
        w[1] = s8(vorrq_u8(vshrq_n_u8(v, 4), vandq_u8(hi, vdupq_n_u8(0x10))));
        return h2f(b);
    case GGML_TYPE_IQ4_NL:
        v = vld1q_u8(b + 2);
        w[0] = vqtbl1q_s8(book, vandq_u8(v, m4));
        w[1] = vqtbl1q_s8(book, vshrq_n_u8(v, 4));
        return h2f(b);
    case GGML_TYPE_MXFP4:
        v = vld1q_u8(b + 1);
        w[0] = vqtbl1q_s8(book, vandq_u8(v, m4));
        w[1] = vqtbl1q_s8(book, vshrq_n_u8(v, 4));
        return e8m0_to_fp32_half(b[0]);
    default: /* Q8_0 */
        w[0] = ld_s8(b + 2);
        w[1] = ld_s8(b + 18);
        return h2f(b);
    }
}

/* Per block and activation row: acc += float(int dot) * (dw * da) in four f32 lanes; the
 * affine formats (Q8_1 activations) add m * s per block on the side. */
static ALWAYS_INLINE void block32_rows(enum ggml_type type, int n, const uint8_t *w,
                                       const uint8_t *a, size_t a_stride, float *out,
                                       size_t out_stride, int na, bool sdot) {
    const bool affine = type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1;
    const size_t wsize = block32_bytes(type), asize = affine ? 36 : 34, aqs = affine ? 4 : 2;
    const int8x16_t book = vld1q_s8(type == GGML_TYPE_MXFP4 ? kvalues_mxfp4 : kvalues_iq4nl);
    float32x4_t acc[GEMM_MAX_NA];
    float msum[GEMM_MAX_NA];
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) {
        acc[j] = vdupq_n_f32(0.0f);
        msum[j] = 0.0f;
    }
    for (int b = 0; b < n / 32; b++, w += wsize) {
        int8x16_t wq[2];
        float dw = decode32(type, w, book, wq);
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) {
            const uint8_t *ab = a + j * a_stride + (size_t)b * asize;
            int32x4_t p = dot32(wq[0], wq[1], ab + aqs, sdot);
            acc[j] = vfmaq_n_f32(acc[j], vcvtq_f32_s32(p), dw * h2f(ab));
            if (affine) msum[j] += h2f(w + 2) * h2f(ab + 2);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) out[j * out_stride] = vaddvq_f32(acc[j]) + msum[j];
}

/* ======================= 256-element super-blocks (Q8_K activations) ======================= */

#define Q8K_BYTES 292
#define Q8K_QS 4
#define Q8K_BSUMS 260

/* The activation block of row j for super-block b. */
static inline const uint8_t *q8k_block(const uint8_t *a, size_t a_stride, int j, int b) {
    return a + j * a_stride + (size_t)b * Q8K_BYTES;
}

/* Q4_K / Q5_K: the 8 six-bit scales and mins from the 12 packed bytes
 * (doc/formats.md#k-quant-scales), four at a time
 * through u32 lanes: bytes 0-3 hold sc[0..3] (+ high bits of sc[4..7]), bytes 4-7 m[0..3]
 * (+ high bits of m[4..7]), bytes 8-11 the low nibbles of sc[4..7] | m[4..7] << 4. */
static inline void k4_scales_mins(const uint8_t *S, uint8_t sc[8], uint8_t m[8]) {
    uint32_t s0 = rd_u32(S), s1 = rd_u32(S + 4), s2 = rd_u32(S + 8);
    uint32_t v[4] = {s0 & 0x3f3f3f3fu, (s2 & 0x0f0f0f0fu) | ((s0 >> 6) & 0x03030303u) << 4,
                     s1 & 0x3f3f3f3fu, ((s2 >> 4) & 0x0f0f0f0fu) | ((s1 >> 6) & 0x03030303u) << 4};
    memcpy(sc, v, 8);
    memcpy(m, v + 2, 8);
}

/* Per-32 activation sums of a Q8_K block: bsums[2j] + bsums[2j+1], j = 0..7. */
static inline int16x8_t q8k_sums32(const uint8_t *ab) {
    return vpaddq_s16(ld_s16(ab + Q8K_BSUMS), ld_s16(ab + Q8K_BSUMS + 16));
}

/* Q2_K: 16 sub-blocks of 16; scale nibble lo, min nibble hi; codes 2 bits, byte l of each
 * 32-byte half serves elements l, l+32, l+64, l+96 (shift 2 per group of 32). */
static ALWAYS_INLINE void q2_k_rows(int n, const uint8_t *w, const uint8_t *a, size_t a_stride,
                                    float *out, size_t out_stride, int na, bool sdot) {
    const uint8x16_t m2 = vdupq_n_u8(3);
    float sum[GEMM_MAX_NA] = {0};
    for (int b = 0; b < n / QK_K; b++, w += 84) {
        uint8x16_t sm = vld1q_u8(w);
        int32x4_t sc[4];
        widen_s8(s8(vandq_u8(sm, vdupq_n_u8(15))), sc);
        uint8x16_t mins = vshrq_n_u8(sm, 4);
        int16x8_t mins_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
        int16x8_t mins_hi = vreinterpretq_s16_u16(vmovl_high_u8(mins));
        int32x4_t isum[GEMM_MAX_NA];
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) isum[j] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t v0 = vld1q_u8(w + 16 + 32 * h), v1 = vld1q_u8(w + 32 + 32 * h);
            for (int g = 0; g < 4; g += 2) { /* groups g, g+1: sub-blocks 8h+2g .. 8h+2g+3 */
                int8x16_t c0 = s8(vandq_u8(v0, m2)), c1 = s8(vandq_u8(v1, m2));
                v0 = vshrq_n_u8(v0, 2);
                v1 = vshrq_n_u8(v1, 2);
                int8x16_t c2 = s8(vandq_u8(v0, m2)), c3 = s8(vandq_u8(v1, m2));
                v0 = vshrq_n_u8(v0, 2);
                v1 = vshrq_n_u8(v1, 2);
#pragma GCC unroll 4
                for (int j = 0; j < na; j++) {
                    const uint8_t *q = q8k_block(a, a_stride, j, b) + Q8K_QS + 128 * h + 32 * g;
                    const int32x4_t z = vdupq_n_s32(0);
                    int32x4_t s = sum4(dot16(z, c0, ld_s8(q), sdot), dot16(z, c1, ld_s8(q + 16), sdot),
                                       dot16(z, c2, ld_s8(q + 32), sdot), dot16(z, c3, ld_s8(q + 48), sdot));
                    isum[j] = vmlaq_s32(isum[j], s, sc[2 * h + g / 2]);
                }
            }
        }
        float d = h2f(w + 80), dmin = h2f(w + 82);
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) {
            const uint8_t *ab = q8k_block(a, a_stride, j, b);
            int summ = dot_s16x8(mins_lo, ld_s16(ab + Q8K_BSUMS)) +
                       dot_s16x8(mins_hi, ld_s16(ab + Q8K_BSUMS + 16));
            float da = q8_k_d(ab);
            sum[j] += (da * d) * (float)vaddvq_s32(isum[j]) - (da * dmin) * (float)summ;
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) out[j * out_stride] = sum[j];
}

/* Q3_K: Q2_K's code layout; a clear hmask bit (bit 4h+g of byte l) subtracts 4; 16 signed
 * 6-bit scales: low nibbles from bytes 0-7, two high bits from bytes 8-11 (doc/formats.md#q3_k). */
static ALWAYS_INLINE void q3_k_rows(int n, const uint8_t *w, const uint8_t *a, size_t a_stride,
                                    float *out, size_t out_stride, int na, bool sdot) {
    const uint8x16_t m2 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    const int8x16_t hi_shift = {0, 0, 0, 0, -2, -2, -2, -2, -4, -4, -4, -4, -6, -6, -6, -6};
    float sum[GEMM_MAX_NA] = {0};
    for (int b = 0; b < n / QK_K; b++, w += 110) {
        /* scale k: (S[k % 8] nibble k / 8) | ((S[8 + k % 4] >> 2 * (k / 4)) & 3) << 4, - 32 */
        uint8x8_t s_lo = vld1_u8(w + 96);
        uint8x16_t lo4 = vcombine_u8(vand_u8(s_lo, vdup_n_u8(15)), vshr_n_u8(s_lo, 4));
        uint8x16_t s_hi = vreinterpretq_u8_u32(vdupq_n_u32(rd_u32(w + 104)));
        uint8x16_t hi2 = vandq_u8(vshlq_u8(s_hi, hi_shift), m2);
        int32x4_t sc[4];
        widen_s8(vsubq_s8(s8(vorrq_u8(lo4, vshlq_n_u8(hi2, 4))), vdupq_n_s8(32)), sc);
        uint8x16_t hm0 = vld1q_u8(w), hm1 = vld1q_u8(w + 16);
        int32x4_t isum[GEMM_MAX_NA];
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) isum[j] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t v0 = vld1q_u8(w + 32 + 32 * h), v1 = vld1q_u8(w + 48 + 32 * h);
            for (int g = 0; g < 4; g += 2) {
                int8x16_t c[4];
                for (int t = 0; t < 2; t++) {
                    uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + g + t)));
                    c[2 * t] = s8(vsubq_u8(vandq_u8(v0, m2), vbicq_u8(four, vtstq_u8(hm0, bit))));
                    c[2 * t + 1] = s8(vsubq_u8(vandq_u8(v1, m2), vbicq_u8(four, vtstq_u8(hm1, bit))));
                    v0 = vshrq_n_u8(v0, 2);
                    v1 = vshrq_n_u8(v1, 2);
                }
#pragma GCC unroll 4
                for (int j = 0; j < na; j++) {
                    const uint8_t *q = q8k_block(a, a_stride, j, b) + Q8K_QS + 128 * h + 32 * g;
                    const int32x4_t z = vdupq_n_s32(0);
                    int32x4_t s = sum4(dot16(z, c[0], ld_s8(q), sdot), dot16(z, c[1], ld_s8(q + 16), sdot),
                                       dot16(z, c[2], ld_s8(q + 32), sdot), dot16(z, c[3], ld_s8(q + 48), sdot));
                    isum[j] = vmlaq_s32(isum[j], s, sc[2 * h + g / 2]);
                }
            }
        }
        float d = h2f(w + 108);
#pragma GCC unroll 4
        for (int j = 0; j < na; j++)
            sum[j] += (q8_k_d(q8k_block(a, a_stride, j, b)) * d) * (float)vaddvq_s32(isum[j]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) out[j * out_stride] = sum[j];
}

/* Q4_K (bits 4) and Q5_K (bits 5): 8 sub-blocks of 32 with 6-bit scales and mins; chunk c of
 * 32 qs bytes gives sub-block 2c (low nibbles) and 2c+1 (high nibbles); Q5_K's fifth bit of
 * element e is bit e/32 of qh[e % 32]. */
static ALWAYS_INLINE void k4_rows(int bits, int n, const uint8_t *w, const uint8_t *a,
                                  size_t a_stride, float *out, size_t out_stride, int na,
                                  bool sdot) {
    const uint8x16_t m4 = vdupq_n_u8(15), b4 = vdupq_n_u8(0x10);
    const size_t bsize = bits == 4 ? 144 : 176, qs = bits == 4 ? 16 : 48;
    float sum[GEMM_MAX_NA] = {0};
    for (int b = 0; b < n / QK_K; b++, w += bsize) {
        uint8_t sc[8], m[8];
        k4_scales_mins(w + 4, sc, m);
        int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
        if (bits == 5) {
            qh0 = vld1q_u8(w + 16);
            qh1 = vld1q_u8(w + 32);
        }
        int32x4_t isum[GEMM_MAX_NA];
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) isum[j] = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            uint8x16_t v0 = vld1q_u8(w + qs + 32 * c), v1 = vld1q_u8(w + qs + 32 * c + 16);
            uint8x16_t lo0 = vandq_u8(v0, m4), lo1 = vandq_u8(v1, m4);
            uint8x16_t hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
            if (bits == 5) { /* bits 2c and 2c+1 of qh, moved to bit 4 */
                lo0 = vorrq_u8(lo0, vandq_u8(vshlq_n_u8(qh0, 4), b4));
                lo1 = vorrq_u8(lo1, vandq_u8(vshlq_n_u8(qh1, 4), b4));
                hi0 = vorrq_u8(hi0, vandq_u8(vshlq_n_u8(qh0, 3), b4));
                hi1 = vorrq_u8(hi1, vandq_u8(vshlq_n_u8(qh1, 3), b4));
                qh0 = vshrq_n_u8(qh0, 2);
                qh1 = vshrq_n_u8(qh1, 2);
            }
#pragma GCC unroll 4
            for (int j = 0; j < na; j++) {
                const uint8_t *q = q8k_block(a, a_stride, j, b) + Q8K_QS + 64 * c;
                isum[j] = vmlaq_n_s32(isum[j], dot32(s8(lo0), s8(lo1), q, sdot), sc[2 * c]);
                isum[j] = vmlaq_n_s32(isum[j], dot32(s8(hi0), s8(hi1), q + 32, sdot), sc[2 * c + 1]);
            }
        }
        float d = h2f(w), dmin = h2f(w + 2);
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) {
            const uint8_t *ab = q8k_block(a, a_stride, j, b);
            int summ = dot_s16x8(mins, q8k_sums32(ab));
            float da = q8_k_d(ab);
            sum[j] += (da * d) * (float)vaddvq_s32(isum[j]) - (da * dmin) * (float)summ;
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) out[j * out_stride] = sum[j];
}

/* Q6_K: code of element e = 128h + 32g + l is (4 bits of ql[64h + 32(g&1) + l], nibble g>>1)
 * | (2 bits g of qh[32h + l]) << 4, minus 32; 16 sub-blocks of 16 with int8 scales. */
static ALWAYS_INLINE void q6_k_rows(int n, const uint8_t *w, const uint8_t *a, size_t a_stride,
                                    float *out, size_t out_stride, int na, bool sdot) {
    const uint8x16_t m4 = vdupq_n_u8(15), m2h = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    float sum[GEMM_MAX_NA] = {0};
    for (int b = 0; b < n / QK_K; b++, w += 210) {
        int32x4_t sc[4];
        widen_s8(ld_s8(w + 192), sc);
        int32x4_t isum[GEMM_MAX_NA];
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) isum[j] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
            for (int g = 0; g < 4; g += 2) { /* groups g, g+1: sub-blocks 8h+2g .. 8h+2g+3 */
                uint8x16_t q0 = vld1q_u8(ql), q1 = vld1q_u8(ql + 16);
                uint8x16_t q2 = vld1q_u8(ql + 32), q3 = vld1q_u8(ql + 48);
                uint8x16_t l0, l1, l2, l3, u0, u1, u2, u3;
                if (g == 0) { /* groups 0, 1: low nibbles, qh bits 0-1 and 2-3 */
                    l0 = vandq_u8(q0, m4), l1 = vandq_u8(q1, m4);
                    l2 = vandq_u8(q2, m4), l3 = vandq_u8(q3, m4);
                    u0 = vshlq_n_u8(h0, 4), u1 = vshlq_n_u8(h1, 4);
                    u2 = vshlq_n_u8(h0, 2), u3 = vshlq_n_u8(h1, 2);
                } else { /* groups 2, 3: high nibbles, qh bits 4-5 and 6-7 */
                    l0 = vshrq_n_u8(q0, 4), l1 = vshrq_n_u8(q1, 4);
                    l2 = vshrq_n_u8(q2, 4), l3 = vshrq_n_u8(q3, 4);
                    u0 = h0, u1 = h1;
                    u2 = vshrq_n_u8(h0, 2), u3 = vshrq_n_u8(h1, 2);
                }
                int8x16_t c0 = vsubq_s8(s8(vorrq_u8(l0, vandq_u8(u0, m2h))), off);
                int8x16_t c1 = vsubq_s8(s8(vorrq_u8(l1, vandq_u8(u1, m2h))), off);
                int8x16_t c2 = vsubq_s8(s8(vorrq_u8(l2, vandq_u8(u2, m2h))), off);
                int8x16_t c3 = vsubq_s8(s8(vorrq_u8(l3, vandq_u8(u3, m2h))), off);
#pragma GCC unroll 4
                for (int j = 0; j < na; j++) {
                    const uint8_t *q = q8k_block(a, a_stride, j, b) + Q8K_QS + 128 * h + 32 * g;
                    const int32x4_t z = vdupq_n_s32(0);
                    int32x4_t s = sum4(dot16(z, c0, ld_s8(q), sdot), dot16(z, c1, ld_s8(q + 16), sdot),
                                       dot16(z, c2, ld_s8(q + 32), sdot), dot16(z, c3, ld_s8(q + 48), sdot));
                    isum[j] = vmlaq_s32(isum[j], s, sc[2 * h + g / 2]);
                }
            }
        }
        float d = h2f(w + 208);
#pragma GCC unroll 4
        for (int j = 0; j < na; j++)
            sum[j] += (q8_k_d(q8k_block(a, a_stride, j, b)) * d) * (float)vaddvq_s32(isum[j]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) out[j * out_stride] = sum[j];
}

/* IQ4_XS: 8 sub-blocks of 32 codebook values (split-halves nibbles, 16 qs bytes each) with
 * 6-bit scales stored +32. */
static ALWAYS_INLINE void iq4_xs_rows(int n, const uint8_t *w, const uint8_t *a,
                                      size_t a_stride, float *out, size_t out_stride, int na,
                                      bool sdot) {
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int8x16_t book = vld1q_s8(kvalues_iq4nl);
    float sum[GEMM_MAX_NA] = {0};
    for (int b = 0; b < n / QK_K; b++, w += 136) {
        int32x4_t isum[GEMM_MAX_NA];
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) isum[j] = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib++) {
            uint8x16_t v = vld1q_u8(w + 8 + 16 * ib);
            int8x16_t c0 = vqtbl1q_s8(book, vandq_u8(v, m4)), c1 = vqtbl1q_s8(book, vshrq_n_u8(v, 4));
            int ls = iq4_xs_scale(w, ib);
#pragma GCC unroll 4
            for (int j = 0; j < na; j++) {
                const uint8_t *q = q8k_block(a, a_stride, j, b) + Q8K_QS + 32 * ib;
                isum[j] = vmlaq_n_s32(isum[j], dot32(c0, c1, q, sdot), ls);
            }
        }
        float d = h2f(w);
#pragma GCC unroll 4
        for (int j = 0; j < na; j++)
            sum[j] += (q8_k_d(q8k_block(a, a_stride, j, b)) * d) * (float)vaddvq_s32(isum[j]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) out[j * out_stride] = sum[j];
}

/* ======================= entry points ======================= */

/* Every body under one signature, so one macro can build the table entries from it. */
#define ROWS_ARGS int n, const uint8_t *w, const uint8_t *a, size_t as, float *o, size_t os, int na, bool sd
#define ROWS_PASS n, w, a, as, o, os, na, sd
static ALWAYS_INLINE void f32_rows(ROWS_ARGS) { (void)sd; float_rows(GGML_TYPE_F32, n, w, a, as, o, os, na); }
static ALWAYS_INLINE void f16_rows(ROWS_ARGS) { (void)sd; float_rows(GGML_TYPE_F16, n, w, a, as, o, os, na); }
static ALWAYS_INLINE void bf16_rows(ROWS_ARGS) { (void)sd; float_rows(GGML_TYPE_BF16, n, w, a, as, o, os, na); }
static ALWAYS_INLINE void q4_0_rows(ROWS_ARGS) { block32_rows(GGML_TYPE_Q4_0, ROWS_PASS); }
static ALWAYS_INLINE void q4_1_rows(ROWS_ARGS) { block32_rows(GGML_TYPE_Q4_1, ROWS_PASS); }
static ALWAYS_INLINE void q5_0_rows(ROWS_ARGS) { block32_rows(GGML_TYPE_Q5_0, ROWS_PASS); }
static ALWAYS_INLINE void q5_1_rows(ROWS_ARGS) { block32_rows(GGML_TYPE_Q5_1, ROWS_PASS); }
static ALWAYS_INLINE void q8_0_rows(ROWS_ARGS) { block32_rows(GGML_TYPE_Q8_0, ROWS_PASS); }
static ALWAYS_INLINE void iq4_nl_rows(ROWS_ARGS) { block32_rows(GGML_TYPE_IQ4_NL, ROWS_PASS); }
static ALWAYS_INLINE void mxfp4_rows(ROWS_ARGS) { block32_rows(GGML_TYPE_MXFP4, ROWS_PASS); }
static ALWAYS_INLINE void q4_k_rows(ROWS_ARGS) { k4_rows(4, ROWS_PASS); }
static ALWAYS_INLINE void q5_k_rows(ROWS_ARGS) { k4_rows(5, ROWS_PASS); }

/* NAME_VARIANT_dot (vec_dot) and NAME_VARIANT_gemm (tile kernel) from NAME_rows, with the
 * dot flavour fixed (false: baseline NEON, true: sdot). A tile with all GEMM_MAX_NA
 * activation rows shares each decoded weight block among them; an edge tile goes row by
 * row. */
#define NEON_KERNELS(NAME, VARIANT, SDOT)                                                     \
    static void NAME##_##VARIANT##_dot(int n, float *s, const void *x, const void *y) {       \
        NAME##_rows(n, x, y, 0, s, 0, 1, SDOT);                                               \
    }                                                                                         \
    static void NAME##_##VARIANT##_gemm(int n, float *s, size_t s_stride, const void *w,      \
                                        size_t w_stride, const void *a, size_t a_stride,      \
                                        int nw, int na) {                                     \
        for (int i = 0; i < nw; i++) {                                                        \
            const uint8_t *wi = (const uint8_t *)w + (size_t)i * w_stride;                    \
            if (na == GEMM_MAX_NA) {                                                          \
                NAME##_rows(n, wi, a, a_stride, s + i, s_stride, GEMM_MAX_NA, SDOT);          \
                continue;                                                                     \
            }                                                                                 \
            for (int j = 0; j < na; j++)                                                      \
                NAME##_rows(n, wi, (const uint8_t *)a + (size_t)j * a_stride, 0,             \
                            s + (size_t)j * s_stride + i, 0, 1, SDOT);                        \
        }                                                                                     \
    }

/* ======================= elementwise kernels of the forward pass ======================= */

/* gelu(gate) * up for 4 lanes, as the scalar gelu(): fcvtn rounds the gate to f16 (to
 * nearest even, as fp32_to_fp16, with the default FPCR), whose bits index the table in
 * -10 < x < 10 (NEON has no gather: four loads); elsewhere the lane keeps x, or 0 where
 * x <= -10. A NaN fails both comparisons and so stays itself. */
static inline float32x4_t geglu4(float32x4_t g, float32x4_t u) {
    uint16_t h[4];
    vst1_u16(h, vreinterpret_u16_f16(vcvt_f16_f32(g)));
    float t[4] = {gelu_table[h[0]], gelu_table[h[1]], gelu_table[h[2]], gelu_table[h[3]]};
    uint32x4_t mid = vandq_u32(vcgtq_f32(g, vdupq_n_f32(-10.0f)), vcltq_f32(g, vdupq_n_f32(10.0f)));
    uint32x4_t low = vcleq_f32(g, vdupq_n_f32(-10.0f));
    float32x4_t r = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(g), low));
    return vmulq_f32(vbslq_f32(mid, vld1q_f32(t), r), u);
}

static void geglu_neon(float *out, const float *gate, const float *up, int n) {
    int j = 0;
    for (; j + 4 <= n; j += 4) vst1q_f32(out + j, geglu4(vld1q_f32(gate + j), vld1q_f32(up + j)));
    if (j == n) return;
    float g[4] = {0}, u[4] = {0}, o[4]; /* the tail, padded, so nothing is read past n */
    memcpy(g, gate + j, (size_t)(n - j) * sizeof(float));
    memcpy(u, up + j, (size_t)(n - j) * sizeof(float));
    vst1q_f32(o, geglu4(vld1q_f32(g), vld1q_f32(u)));
    memcpy(out + j, o, (size_t)(n - j) * sizeof(float));
}

/* Lanes 2c, 2c+1 of the sum of squares (kernels.h, RMS_LANES) live in acc[c]; 16 floats add
 * their squares, exact in double, to the 16 lanes. */
static inline void sum_squares16(float64x2_t acc[8], const float *x) {
    for (int q = 0; q < 4; q++) {
        float32x4_t v = vld1q_f32(x + 4 * q);
        float64x2_t lo = vcvt_f64_f32(vget_low_f32(v)), hi = vcvt_high_f64_f32(v);
        acc[2 * q] = vaddq_f64(acc[2 * q], vmulq_f64(lo, lo));
        acc[2 * q + 1] = vaddq_f64(acc[2 * q + 1], vmulq_f64(hi, hi));
    }
}

static void rmsnorm_neon(float *out, const float *x, const float *w, int n, float eps) {
    float64x2_t acc[8];
    for (int c = 0; c < 8; c++) acc[c] = vdupq_n_f64(0.0);
    int i = 0;
    for (; i + 16 <= n; i += 16) sum_squares16(acc, x + i);
    if (i < n) {
        float t[16] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        sum_squares16(acc, t);
    }
    /* halving: lane k + lane k+8 (acc[c] + acc[c+4]), +4, +2, then the pair's +1 */
    for (int h = 4; h >= 1; h /= 2)
        for (int c = 0; c < h; c++) acc[c] = vaddq_f64(acc[c], acc[c + h]);
    float s = rms_scale(vgetq_lane_f64(acc[0], 0) + vgetq_lane_f64(acc[0], 1), n, eps);

    float32x4_t sv = vdupq_n_f32(s);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_f32(vld1q_f32(x + i), sv);
        if (w) v = vmulq_f32(v, vld1q_f32(w + i));
        vst1q_f32(out + i, v);
    }
    for (; i < n; i++) out[i] = w ? (x[i] * s) * w[i] : x[i] * s;
}

/* As softcap_scalar (kernels/scalar.c) for 4 lanes, the same operations in the same order (no
 * fused ones; vrndnq_f32 rounds to nearest even); a NaN lane keeps its input. */
static inline float32x4_t softcap4(float32x4_t v, float32x4_t cap) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    const uint32x4_t sign = vdupq_n_u32(0x80000000u);
    float32x4_t y = vdivq_f32(v, cap);
    float32x4_t a = vminq_f32(vdupq_n_f32(TANH_CLAMP), vabsq_f32(y)); /* NaN stays */
    float32x4_t z = vmulq_f32(vdupq_n_f32(-2.0f), a);
    float32x4_t nf = vrndnq_f32(vmulq_f32(z, vdupq_n_f32(EXPM1_LOG2E)));
    float32x4_t r = vsubq_f32(z, vmulq_f32(nf, vdupq_n_f32(EXPM1_LN2_HI)));
    r = vsubq_f32(r, vmulq_f32(nf, vdupq_n_f32(EXPM1_LN2_LO)));
    float32x4_t q = vdupq_n_f32(EXPM1_C8);
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(EXPM1_C7));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(EXPM1_C6));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(EXPM1_C5));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(EXPM1_C4));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(EXPM1_C3));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(EXPM1_C2));
    float32x4_t p = vaddq_f32(vmulq_f32(vmulq_f32(r, r), q), r);
    float32x4_t s = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(nf), vdupq_n_s32(127)), 23));
    float32x4_t sp = vmulq_f32(s, p);
    float32x4_t num = vaddq_f32(sp, vsubq_f32(s, one));
    float32x4_t den = vaddq_f32(sp, vaddq_f32(s, one));
    float32x4_t th = vdivq_f32(vnegq_f32(num), den);
    th = vbslq_f32(sign, y, vabsq_f32(th)); /* copysign(th, y) */
    uint32x4_t nan = vmvnq_u32(vceqq_f32(y, y));
    return vbslq_f32(nan, v, vmulq_f32(th, cap));
}

static void softcap_neon(float *x, int n, float cap) {
    const float32x4_t capv = vdupq_n_f32(cap);
    int j = 0;
    for (; j + 4 <= n; j += 4) vst1q_f32(x + j, softcap4(vld1q_f32(x + j), capv));
    if (j == n) return;
    float t[4] = {0}; /* the tail, padded, so nothing is read past n */
    memcpy(t, x + j, (size_t)(n - j) * sizeof(float));
    vst1q_f32(t, softcap4(vld1q_f32(t), capv));
    memcpy(x + j, t, (size_t)(n - j) * sizeof(float));
}

/* The table rows one variant installs. */
typedef struct {
    enum ggml_type type;
    vec_dot_fn vec_dot;
    gemm_fn gemm;
} neon_entry;

#define ENTRY(TYPE, NAME, VARIANT) {TYPE, NAME##_##VARIANT##_dot, NAME##_##VARIANT##_gemm}

/* Baseline ARMv8 NEON. Float weights have no integer dot, so their kernels serve both sets. */
NEON_KERNELS(f32, neon, false)
NEON_KERNELS(f16, neon, false)
NEON_KERNELS(bf16, neon, false)
NEON_KERNELS(q4_0, neon, false)
NEON_KERNELS(q4_1, neon, false)
NEON_KERNELS(q5_0, neon, false)
NEON_KERNELS(q5_1, neon, false)
NEON_KERNELS(q8_0, neon, false)
NEON_KERNELS(q2_k, neon, false)
NEON_KERNELS(q3_k, neon, false)
NEON_KERNELS(q4_k, neon, false)
NEON_KERNELS(q5_k, neon, false)
NEON_KERNELS(q6_k, neon, false)
NEON_KERNELS(iq4_nl, neon, false)
NEON_KERNELS(iq4_xs, neon, false)
NEON_KERNELS(mxfp4, neon, false)

static const neon_entry neon_kernels[] = {
    ENTRY(GGML_TYPE_F32, f32, neon),       ENTRY(GGML_TYPE_F16, f16, neon),
    ENTRY(GGML_TYPE_BF16, bf16, neon),     ENTRY(GGML_TYPE_Q4_0, q4_0, neon),
    ENTRY(GGML_TYPE_Q4_1, q4_1, neon),     ENTRY(GGML_TYPE_Q5_0, q5_0, neon),
    ENTRY(GGML_TYPE_Q5_1, q5_1, neon),     ENTRY(GGML_TYPE_Q8_0, q8_0, neon),
    ENTRY(GGML_TYPE_Q2_K, q2_k, neon),     ENTRY(GGML_TYPE_Q3_K, q3_k, neon),
    ENTRY(GGML_TYPE_Q4_K, q4_k, neon),     ENTRY(GGML_TYPE_Q5_K, q5_k, neon),
    ENTRY(GGML_TYPE_Q6_K, q6_k, neon),     ENTRY(GGML_TYPE_IQ4_NL, iq4_nl, neon),
    ENTRY(GGML_TYPE_IQ4_XS, iq4_xs, neon), ENTRY(GGML_TYPE_MXFP4, mxfp4, neon),
};

static void install(type_traits *t, const neon_entry *e, size_t count) {
    for (size_t i = 0; i < count; i++) {
        t[e[i].type].vec_dot = e[i].vec_dot;
        t[e[i].type].gemm = e[i].gemm;
    }
}

/* Baseline kernels, valid on every AArch64 CPU (Advanced SIMD is mandatory there), with
 * GEGLU, RMSNorm and soft-capping (no integer dots in those: both NEON sets use them). */
void kernels_neon_install(kernel_set *k) {
    install(k->type, neon_kernels, sizeof neon_kernels / sizeof neon_kernels[0]);
    k->vec.geglu = geglu_neon;
    k->vec.rmsnorm = rmsnorm_neon;
    k->vec.softcap = softcap_neon;
}

#if defined(__ARM_FEATURE_DOTPROD)
NEON_KERNELS(q4_0, sdot, true)
NEON_KERNELS(q4_1, sdot, true)
NEON_KERNELS(q5_0, sdot, true)
NEON_KERNELS(q5_1, sdot, true)
NEON_KERNELS(q8_0, sdot, true)
NEON_KERNELS(q2_k, sdot, true)
NEON_KERNELS(q3_k, sdot, true)
NEON_KERNELS(q4_k, sdot, true)
NEON_KERNELS(q5_k, sdot, true)
NEON_KERNELS(q6_k, sdot, true)
NEON_KERNELS(iq4_nl, sdot, true)
NEON_KERNELS(iq4_xs, sdot, true)
NEON_KERNELS(mxfp4, sdot, true)

static const neon_entry sdot_kernels[] = {
    ENTRY(GGML_TYPE_Q4_0, q4_0, sdot),     ENTRY(GGML_TYPE_Q4_1, q4_1, sdot),
    ENTRY(GGML_TYPE_Q5_0, q5_0, sdot),     ENTRY(GGML_TYPE_Q5_1, q5_1, sdot),
    ENTRY(GGML_TYPE_Q8_0, q8_0, sdot),     ENTRY(GGML_TYPE_Q2_K, q2_k, sdot),
    ENTRY(GGML_TYPE_Q3_K, q3_k, sdot),     ENTRY(GGML_TYPE_Q4_K, q4_k, sdot),
    ENTRY(GGML_TYPE_Q5_K, q5_k, sdot),     ENTRY(GGML_TYPE_Q6_K, q6_k, sdot),
    ENTRY(GGML_TYPE_IQ4_NL, iq4_nl, sdot), ENTRY(GGML_TYPE_IQ4_XS, iq4_xs, sdot),
    ENTRY(GGML_TYPE_MXFP4, mxfp4, sdot),
};
#endif

/* Over the baseline layer: the integer formats' sdot versions; only for CPUs with the
 * dotprod extension. Built without dotprod, it adds nothing (the baseline set remains). */
void kernels_neon_dotprod_install(kernel_set *k) {
#if defined(__ARM_FEATURE_DOTPROD)
    install(k->type, sdot_kernels, sizeof sdot_kernels / sizeof sdot_kernels[0]);
    kernels_neon_panels_install(k);
#else
    (void)k;
#endif
}

#else
typedef int kernels_neon_needs_aarch64; /* an empty translation unit is not ISO C */
#endif
