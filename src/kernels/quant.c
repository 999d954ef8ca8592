/* quant.c - the tensor type table: block sizes, exact dequantizers, reference quantizers
 * (weights and activations), and which row-dot kernel pairs each weight type with which
 * activation format (doc/formats.md).
 *
 * Dequantizers are bit-exact with ggml/gguf-py: f32 arithmetic in the order the spec writes
 * it ("(d*sc)*q - dmin*m"), no FMA (the build uses -ffp-contract=off). Quantizers follow
 * ggml's reference routines operation by operation so `gemma quantize` can reproduce
 * llama-quantize's bytes; their float->int conversions are guarded so that NaN/Inf inputs
 * give some code instead of undefined behaviour, without changing any finite result. */
#include "quant.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels.h"
#include "util.h"

const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};
const int8_t kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* ======================= dequantizers: blocks -> f32 ======================= */

static void dequant_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequant_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = rd_f16(p + 2 * i);
}

static void dequant_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(rd_u16(p + 2 * i));
}

/* Q4_0: d f16 @0, qs @2. x = (q - 8) * d */
static void dequant_q4_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 18, dst += 32) {
        float d = rd_f16(b);
        for (int e = 0; e < 32; e++) dst[e] = (float)(nibble32(b + 2, e) - 8) * d;
    }
}

/* Q4_1: d @0, m @2, qs @4. x = q * d + m */
static void dequant_q4_1(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 20, dst += 32) {
        float d = rd_f16(b), m = rd_f16(b + 2);
        for (int e = 0; e < 32; e++) dst[e] = (float)nibble32(b + 4, e) * d + m;
    }
}

/* Q5_0: d @0, qh u32 @2, qs @6. x = (q - 16) * d */
static void dequant_q5_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 22, dst += 32) {
        float d = rd_f16(b);
        uint32_t qh = rd_u32(b + 2);
        for (int e = 0; e < 32; e++) {
            int q = nibble32(b + 6, e) | q5_high_bit(qh, e) << 4;
            dst[e] = (float)(q - 16) * d;
        }
    }
}

/* Q5_1: d @0, m @2, qh @4, qs @8. x = q * d + m */
static void dequant_q5_1(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 24, dst += 32) {
        float d = rd_f16(b), m = rd_f16(b + 2);
        uint32_t qh = rd_u32(b + 4);
        for (int e = 0; e < 32; e++) {
            int q = nibble32(b + 8, e) | q5_high_bit(qh, e) << 4;
            dst[e] = (float)q * d + m;
        }
    }
}

/* Q8_0: d @0, qs i8 @2. x = q * d */
static void dequant_q8_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 34, dst += 32) {
        float d = rd_f16(b);
        for (int e = 0; e < 32; e++) dst[e] = (float)(int8_t)b[2 + e] * d;
    }
}

/* Q8_1: d @0, s @2 (not needed to decode), qs i8 @4. x = q * d */
static void dequant_q8_1(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 36, dst += 32) {
        float d = rd_f16(b);
        for (int e = 0; e < 32; e++) dst[e] = (float)(int8_t)b[4 + e] * d;
    }
}

/* Q8_0S: qs i8 @0, d f32 @32, the sum of the codes @36 (not needed to decode). x = q * d */
static void dequant_q8_0s(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 40, dst += 32) {
        float d = rd_f32(b + 32);
        for (int e = 0; e < 32; e++) dst[e] = (float)(int8_t)b[e] * d;
    }
}

/* Q2_K: scales @0, qs @16, d @80, dmin @82. x = (d * sc) * q - dmin * m, per 16 */
static void dequant_q2_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 84, dst += QK_K) {
        float d = rd_f16(b + 80), dmin = rd_f16(b + 82);
        for (int e = 0; e < QK_K; e++) {
            uint8_t sm = b[e / 16];
            float dl = d * (float)(sm & 15), ml = dmin * (float)(sm >> 4);
            dst[e] = dl * (float)q2_k_code(b, e) - ml;
        }
    }
}

/* Q3_K: hmask @0, qs @32, scales @96, d @108. x = (d * sc) * q, per 16 */
static void dequant_q3_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 110, dst += QK_K) {
        float d = rd_f16(b + 108);
        for (int e = 0; e < QK_K; e++) {
            float dl = d * (float)q3_k_scale(b, e / 16);
            dst[e] = dl * (float)q3_k_code(b, e);
        }
    }
}

/* Q4_K: d @0, dmin @2, scales @4, qs @16. x = (d * sc) * q - dmin * m, per 32 */
static void dequant_q4_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 144, dst += QK_K) {
        float d = rd_f16(b), dmin = rd_f16(b + 2);
        for (int e = 0; e < QK_K; e++) {
            int sc, m;
            k4_scale_min(b + 4, e / 32, &sc, &m);
            float dl = d * (float)sc, ml = dmin * (float)m;
            dst[e] = dl * (float)q4_k_code(b, e) - ml;
        }
    }
}

/* Q5_K: d @0, dmin @2, scales @4, qh @16, qs @48. As Q4_K with 5-bit codes. */
static void dequant_q5_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 176, dst += QK_K) {
        float d = rd_f16(b), dmin = rd_f16(b + 2);
        for (int e = 0; e < QK_K; e++) {
            int sc, m;
            k4_scale_min(b + 4, e / 32, &sc, &m);
            float dl = d * (float)sc, ml = dmin * (float)m;
            dst[e] = dl * (float)q5_k_code(b, e) - ml;
        }
    }
}

/* Q6_K: ql @0, qh @128, scales i8 @192, d @208. x = (d * sc) * q, per 16 */
static void dequant_q6_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 210, dst += QK_K) {
        float d = rd_f16(b + 208);
        for (int e = 0; e < QK_K; e++) {
            float dl = d * (float)q6_k_scale(b, e / 16);
            dst[e] = dl * (float)q6_k_code(b, e);
        }
    }
}

/* Q8_K: d f32 @0, qs i8 @4, bsums @260. x = d * q */
static void dequant_q8_k(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 292, dst += QK_K) {
        float d = q8_k_d(b);
        for (int e = 0; e < QK_K; e++) dst[e] = d * (float)q8_k_qs(b)[e];
    }
}

/* IQ4_NL: d @0, qs @2. x = d * K[nibble] */
static void dequant_iq4_nl(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 18, dst += 32) {
        float d = rd_f16(b);
        for (int e = 0; e < 32; e++) dst[e] = d * (float)kvalues_iq4nl[nibble32(b + 2, e)];
    }
}

/* IQ4_XS: d @0, scales_h @2, scales_l @4, qs @8. x = (d * (ls - 32)) * K[nibble], per 32 */
static void dequant_iq4_xs(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b += 136, dst += QK_K) {
        float d = rd_f16(b);
        for (int e = 0; e < QK_K; e++) {
            float dl = d * (float)iq4_xs_scale(b, e / 32);
            dst[e] = dl * (float)kvalues_iq4nl[iq4_xs_index(b, e)];
        }
    }
}

/* MXFP4: e u8 @0, qs @1. x = F[nibble] * 2^(e-128) */
static void dequant_mxfp4(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n / 32; i++, b += 17, dst += 32) {
        float d = e8m0_to_fp32_half(b[0]);
        for (int e = 0; e < 32; e++) dst[e] = (float)kvalues_mxfp4[nibble32(b + 1, e)] * d;
    }
}

/* ======================= quantizers: f32 -> blocks ======================= */

/* An already rounded/truncated float as an int in [lo, hi]; NaN gives 0. For every finite
 * input of ggml's reference routines this equals their plain (int) conversion. */
static int clamp_code(float r, int lo, int hi) {
    if (r != r) return 0;
    if (r < (float)lo) return lo;
    if (r > (float)hi) return hi;
    return (int)r;
}

/* ggml's nearest_int (round half to even) for the range where it is defined. */
static float rne(float v) { return nearbyintf(v); }

/* The first element of largest magnitude, with its sign ("signed max", strict >). */
static float signed_max(const float *x, int n, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (amax < fabsf(x[i])) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax_out) *amax_out = amax;
    return max;
}

static void quantize_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void quantize_f16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = fp32_to_fp16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static void quantize_bf16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = fp32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static void put_f16(uint8_t *p, float f) {
    uint16_t h = fp32_to_fp16(f);
    memcpy(p, &h, 2);
}

/* One block of 32 as the reference Q8_0/Q8_1 quantizer does it: d = amax/127, codes
 * roundf(x * (1/d)) into qs (within -127..127 by construction; the clamp only tames NaN and
 * Inf inputs). Returns the unrounded d and the sum of the codes. */
static float quantize_block_q8(const float *x, uint8_t *qs, int *sum) {
    float amax = 0.0f;
    for (int e = 0; e < 32; e++) {
        float av = fabsf(x[e]);
        amax = amax > av ? amax : av;   /* ggml's MAX(), NaN handling included */
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    *sum = 0;
    for (int e = 0; e < 32; e++) {
        int q = clamp_code(roundf(x[e] * id), -127, 127);
        qs[e] = (uint8_t)(int8_t)q;
        *sum += q;
    }
    return d;
}

/* Q8_0 (weights and activations): d f16 @0, codes @2. */
static void quantize_q8_0(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 34, src += 32) {
        int sum;
        put_f16(b, quantize_block_q8(src, b + 2, &sum));
    }
}

/* Q8_1 (activations of Q4_1/Q5_1): Q8_0's d and codes plus s = f2h(sum(codes) * d). */
static void quantize_q8_1(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 36, src += 32) {
        int sum;
        float d = quantize_block_q8(src, b + 4, &sum);
        put_f16(b, d);
        put_f16(b + 2, (float)sum * d);
    }
}

/* Q8_0S (activations of the panel layouts, kernels/panels.c): Q8_0's codes @0, its d as the
 * f16 value Q8_0 stores, widened to f32 @32, and the sum of the codes @36. */
static void quantize_q8_0s(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 40, src += 32) {
        int sum;
        float d = fp16_to_fp32(fp32_to_fp16(quantize_block_q8(src, b, &sum)));
        int32_t s = sum;
        memcpy(b + 32, &d, 4);
        memcpy(b + 36, &s, 4);
    }
}

/* Q8_K (activations of K-quants and IQ4_XS): the signed max maps to -127, d = 1/iscale in
 * f32 (negative when the max is positive); bsums per 16. A zero block is all zeros. */
static void quantize_q8_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b += 292, src += QK_K) {
        memset(b, 0, 292);
        float amax;
        float max = signed_max(src, QK_K, &amax);
        if (amax == 0.0f) continue;
        float iscale = -127.0f / max;
        for (int e = 0; e < QK_K; e++)
            b[4 + e] = (uint8_t)(int8_t)clamp_code(rne(iscale * src[e]), -127, 127);
        for (int k = 0; k < 16; k++) {
            int sum = 0;
            for (int e = 16 * k; e < 16 * k + 16; e++) sum += (int8_t)b[4 + e];
            int16_t bsum = (int16_t)sum;   /* |sum| <= 16 * 127 */
            memcpy(b + 260 + 2 * k, &bsum, 2);
        }
        float d = 1.0f / iscale;
        memcpy(b, &d, 4);
    }
}

/* Q4_0 / Q5_0: d = signed max / -8 (-16); q = min(15 (31), trunc(x/d + 8.5 (16.5))).
 * The extreme element maps to code 0. Returns the codes in q[32]. */
static float quantize_block_sym(const float *x, int nmax, int q[32]) {
    float max = signed_max(x, 32, NULL);
    float d = max / (float)-nmax;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int e = 0; e < 32; e++)
        q[e] = clamp_code(truncf(x[e] * id + ((float)nmax + 0.5f)), 0, 2 * nmax - 1);
    return d;
}

/* Q4_1 / Q5_1: d = (max - min) / 15 (31), q = trunc((x - min)/d + 0.5), m = min. */
static float quantize_block_affine(const float *x, int qmax, int q[32], float *min_out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int e = 0; e < 32; e++) {
        if (x[e] < min) min = x[e];
        if (x[e] > max) max = x[e];
    }
    float d = (max - min) / (float)qmax;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    /* ggml clamps Q4_1 codes at 15 and converts Q5_1 codes unclamped; (max-min)*id + 0.5
     * stays below qmax + 1 for finite blocks, so one clamp matches both. */
    for (int e = 0; e < 32; e++) q[e] = clamp_code(truncf((x[e] - min) * id + 0.5f), 0, qmax);
    *min_out = min;
    return d;
}

static void pack_nibbles(uint8_t *qs, const int q[32]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
}

static void pack_fifth_bits(uint8_t *qh_out, const int q[32]) {
    uint32_t qh = 0;
    for (int e = 0; e < 32; e++) qh |= (uint32_t)((q[e] >> 4) & 1) << e;
    memcpy(qh_out, &qh, 4);
}

static void quantize_q4_0(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 18, src += 32) {
        int q[32];
        put_f16(b, quantize_block_sym(src, 8, q));
        pack_nibbles(b + 2, q);
    }
}

static void quantize_q5_0(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 22, src += 32) {
        int q[32];
        put_f16(b, quantize_block_sym(src, 16, q));
        pack_fifth_bits(b + 2, q);
        pack_nibbles(b + 6, q);
    }
}

static void quantize_q4_1(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 20, src += 32) {
        int q[32];
        float min, d = quantize_block_affine(src, 15, q, &min);
        put_f16(b, d);
        put_f16(b + 2, min);
        pack_nibbles(b + 4, q);
    }
}

static void quantize_q5_1(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 24, src += 32) {
        int q[32];
        float min, d = quantize_block_affine(src, 31, q, &min);
        put_f16(b, d);
        put_f16(b + 2, min);
        pack_fifth_bits(b + 4, q);
        pack_nibbles(b + 8, q);
    }
}

/* MXFP4: shared exponent e = floor(log2(amax)) - 2 + 127 (clamped to a byte: tiny or
 * non-finite blocks would otherwise convert out of range), then each element takes the
 * nearest table value, ties to the lower index. */
static void quantize_mxfp4(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 17, src += 32) {
        float amax = 0.0f;
        for (int e = 0; e < 32; e++)
            if (amax < fabsf(src[e])) amax = fabsf(src[e]);
        uint8_t ex = 0;
        if (amax > 0.0f) ex = (uint8_t)clamp_code(floorf(log2f(amax)) - 2 + 127, 0, 255);
        float d = e8m0_to_fp32_half(ex);
        int q[32];
        for (int e = 0; e < 32; e++) {
            int best = 0;
            float best_err = fabsf((float)kvalues_mxfp4[0] * d - src[e]);
            for (int k = 1; k < 16; k++) {
                float err = fabsf((float)kvalues_mxfp4[k] * d - src[e]);
                if (err < best_err) {
                    best = k;
                    best_err = err;
                }
            }
            q[e] = best;
        }
        b[0] = ex;
        pack_nibbles(b + 1, q);
    }
}

/* ---- K-quants (doc/formats.md#reference-quantizers, without an importance matrix) ----
 * llama-quantize fits each sub-block with a small search, then quantizes the sub-block
 * scales themselves. Reproducing its bytes needs its exact float operation order, including
 * sequential f32 sums; the helpers below keep that order and are annotated where it matters. */

#define GROUP_MAX_EPS 1e-15f

/* round half to even, clamped to [lo, hi] (ggml: MAX(lo, MIN(hi, nearest_int(v)))) */
static int level(float v, int lo, int hi) { return clamp_code(rne(v), lo, hi); }

/* Symmetric fit of x[0..n) to levels -nmax..nmax-1 with weights x^2 ("make_qx_quants",
 * rmse_type 1): the plain scale max/-nmax, then 18 nearby candidates; keeps the levels of the
 * weighted least-squares best. L[i] = level + nmax. Returns the scale (sign of -max). */
static float fit_symmetric(int n, int nmax, const float *x, uint8_t *L) {
    float amax;
    float max = signed_max(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = level(iscale * x[i], -nmax, nmax - 1);
        L[i] = (uint8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = level(iscale * x[i], -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (uint8_t)(level(iscale * x[i], -nmax, nmax - 1) + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric fit ("make_q3_quants" with rmse) of n <= 16 values: levels
 * -nmax..nmax-1 from the plain scale, then up to 5 rounds of coordinate descent on the
 * weighted (x^2) least-squares error. L[i] = level + nmax. Returns the scale. */
static float fit_symmetric_descent(int n, int nmax, const float *x, uint8_t *L) {
    float amax;
    float max = signed_max(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    int lv[16];
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        lv[i] = level(iscale * x[i], -nmax, nmax - 1);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)lv[i];
        suml2 += w * (float)lv[i] * (float)lv[i];
    }
    for (int round = 0; round < 5; round++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)lv[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)lv[i] * (float)lv[i];
                int nl = level(x[i] * sl2 / slx, -nmax, nmax - 1);
                if (nl != lv[i]) {
                    slx += w * x[i] * (float)nl;
                    sl2 += w * (float)nl * (float)nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        lv[i] = nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(lv[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Affine fit x ~ scale * L - the_min with L in 0..nmax ("make_qkx2_quants"): start from
 * the full range [min(x, 0), max x], try nstep+1 scales (rmin + rdelta*is + nmax)/range,
 * each refined by weighted least squares for scale and min (min kept <= 0); keep the
 * smallest weighted error (squared, or absolute with use_mad). Returns the scale; the
 * subtracted minimum (>= 0) goes to *the_min. */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                        float *the_min, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)level(iscale * (x[i] - min), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        best_error += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = level(iscale * (x[i] - min), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                cur_error += w[i] * (use_mad ? fabsf(diff) : diff * diff);
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Packs 2-bit levels the Q2_K/Q3_K way: byte l of each 32-byte half holds elements
 * l, l+32, l+64, l+96 of its 128 elements. */
static void pack_2bit(uint8_t *qs, const uint8_t *L) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *q = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)((q[0] & 3) | (q[32] & 3) << 2 | (q[64] & 3) << 4 | (q[96] & 3) << 6);
        }
}

/* Q2_K: 16 sub-blocks of 16, fitted with weights |x| and absolute error; 4-bit scales and
 * mins relative to the largest of each; then the 2-bit levels are recomputed from the
 * rounded scales. */
static void quantize_q2_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b += 84, src += QK_K) {
        uint8_t L[QK_K];
        float scales[16], mins[16], w[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(src[16 * j + l]);
            scales[j] = fit_affine(16, 3, src + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        memset(b, 0, 84);
        if (max_scale > 0) {
            float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; j++) b[j] = (uint8_t)clamp_code(rne(iscale * scales[j]), -255, 255);
            put_f16(b + 80, max_scale / 15.0f);
        }
        if (max_min > 0) {
            float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; j++)
                b[j] |= (uint8_t)((unsigned)clamp_code(rne(iscale * mins[j]), -255, 255) << 4);
            put_f16(b + 82, max_min / 15.0f);
        }
        for (int j = 0; j < 16; j++) {
            float d = rd_f16(b + 80) * (float)(b[j] & 15);
            if (d == 0.0f) continue;
            float dm = rd_f16(b + 82) * (float)(b[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)level((src[16 * j + l] + dm) / d, 0, 3);
        }
        pack_2bit(b + 16, L);
    }
}

/* Q3_K: 16 sub-blocks of 16, symmetric 3-bit fits; 6-bit signed scales relative to the
 * largest-magnitude one (which maps to -32); levels recomputed from the rounded scales; the
 * third bit goes to hmask (bit e/32 of byte e%32). */
static void quantize_q3_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b += 110, src += QK_K) {
        uint8_t L[QK_K];
        float scales[16];
        float amax = 0, max_scale = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric_descent(16, 4, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(b, 0, 110);
        uint8_t *S = b + 96;
        if (max_scale != 0.0f) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = level(iscale * scales[j], -32, 31) + 32;
                if (j < 8) S[j] = (uint8_t)(l & 15);
                else S[j - 8] |= (uint8_t)((l & 15) << 4);
                S[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            put_f16(b + 108, 1 / iscale);
        }
        for (int j = 0; j < 16; j++) {
            float d = rd_f16(b + 108) * (float)q3_k_scale(b, j);
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(level(src[16 * j + l] / d, -4, 3) + 4);
        }
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 3) {
                b[e % 32] |= (uint8_t)(1u << (e / 32));
                L[e] -= 4;
            }
        }
        pack_2bit(b + 32, L);
    }
}

/* Q4_K / Q5_K: 8 sub-blocks of 32 fitted with weights sqrt(mean x^2) + |x|; 6-bit scales
 * and mins relative to the largest of each (doc/formats.md#k-quant-scales); levels
 * recomputed from the rounded scales. Returns the levels (0..nmax) in L. */
static void quantize_k4_block(const float *x, uint8_t *b, int nmax, float rmin, int nstep, uint8_t *L) {
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xj = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xj[l] * xj[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xj[l]);
        scales[j] = fit_affine(32, nmax, xj, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t *S = b + 4;
    memset(S, 0, 12);
    for (int j = 0; j < 8; j++) {
        /* ggml stores nearest_int() in a uint8_t, then takes MIN(63, .) */
        int ls = (uint8_t)clamp_code(rne(inv_scale * scales[j]), -255, 255);
        int lm = (uint8_t)clamp_code(rne(inv_min * mins[j]), -255, 255);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            S[j] = (uint8_t)ls;
            S[j + 4] = (uint8_t)lm;
        } else {
            S[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            S[j - 4] |= (uint8_t)((ls >> 4) << 6);
            S[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    put_f16(b, max_scale / 63.0f);
    put_f16(b + 2, max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(S, j, &sc, &m);
        float d = rd_f16(b) * (float)sc;
        if (d == 0.0f) continue;
        float dm = rd_f16(b + 2) * (float)m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)level((x[32 * j + l] + dm) / d, 0, nmax);
    }
}

static void quantize_q4_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b += 144, src += QK_K) {
        uint8_t L[QK_K];
        quantize_k4_block(src, b, 15, -1.0f, 20, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[16 + 32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

static void quantize_q5_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b += 176, src += QK_K) {
        uint8_t L[QK_K];
        quantize_k4_block(src, b, 31, -0.5f, 15, L);
        memset(b + 16, 0, 32);
        for (int e = 0; e < QK_K; e++) b[16 + e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[48 + 32 * c + l] = (uint8_t)((L[64 * c + l] & 15) | (L[64 * c + 32 + l] & 15) << 4);
    }
}

/* Q6_K: 16 sub-blocks of 16 with symmetric 6-bit fits; signed 8-bit scales relative to the
 * largest-magnitude one (which maps to -128); levels recomputed from the rounded scales. */
static void quantize_q6_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b += 210, src += QK_K) {
        uint8_t L[QK_K];
        float scales[16];
        float max_abs = 0, max_scale = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_symmetric(16, 32, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(b, 0, 210);
        if (max_abs < GROUP_MAX_EPS) continue;
        float iscale = -128.0f / max_scale;
        put_f16(b + 208, 1 / iscale);
        for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)level(iscale * scales[j], -128, 127);
        for (int j = 0; j < 16; j++) {
            float d = rd_f16(b + 208) * (float)q6_k_scale(b, j);
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(level(src[16 * j + l] / d, -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                b[64 * h + l] = (uint8_t)((q[l] & 15) | (q[l + 64] & 15) << 4);
                b[64 * h + 32 + l] = (uint8_t)((q[l + 32] & 15) | (q[l + 96] & 15) << 4);
                b[128 + 32 * h + l] = (uint8_t)((q[l] >> 4) | (q[l + 32] >> 4) << 2 |
                                                (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
            }
        }
    }
}

/* ======================= the table ======================= */

/* The scalar table is the specification. ROW's fields: name, block size, bytes per block,
 * supported (as a weight), to_float, from_float, vec_dot_type, vec_dot; PANELS' are a
 * panel layout's (kernels/panels.c): name, base type, its block size and bytes per row block,
 * activation format, repacking both ways, scalar panel kernel. */
#define ROW(NAME, BLCK, SIZE, SUPPORTED, TO_FLOAT, FROM_FLOAT, VEC_DOT_TYPE, VEC_DOT)                           \
    {.name = NAME, .blck_size = BLCK, .type_size = SIZE, .supported = SUPPORTED, .to_float = TO_FLOAT,         \
     .from_float = FROM_FLOAT, .vec_dot_type = VEC_DOT_TYPE, .vec_dot = VEC_DOT}
#define PANELS(NAME, BASE, BLCK, SIZE, ACT, REPACK, UNPACK, KERNEL)                                            \
    {.name = NAME, .blck_size = BLCK, .type_size = SIZE, .vec_dot_type = ACT, .panel = PANEL_ROWS,               \
     .panel_base = BASE, .repack = REPACK, .unpack_row = UNPACK, .panel_dot = KERNEL}
static const type_traits scalar_traits[TYPE_COUNT] = {
    [GGML_TYPE_F32] = ROW("F32", 1, 4, true, dequant_f32, quantize_f32, GGML_TYPE_F32, vec_dot_f32_f32),
    [GGML_TYPE_F16] = ROW("F16", 1, 2, true, dequant_f16, quantize_f16, GGML_TYPE_F32, vec_dot_f16_f32),
    [GGML_TYPE_Q4_0] = ROW("Q4_0", 32, 18, true, dequant_q4_0, quantize_q4_0, GGML_TYPE_Q8_0, vec_dot_q4_0_q8_0),
    [GGML_TYPE_Q4_1] = ROW("Q4_1", 32, 20, true, dequant_q4_1, quantize_q4_1, GGML_TYPE_Q8_1, vec_dot_q4_1_q8_1),
    [4] = ROW("Q4_2 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [5] = ROW("Q4_3 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [GGML_TYPE_Q5_0] = ROW("Q5_0", 32, 22, true, dequant_q5_0, quantize_q5_0, GGML_TYPE_Q8_0, vec_dot_q5_0_q8_0),
    [GGML_TYPE_Q5_1] = ROW("Q5_1", 32, 24, true, dequant_q5_1, quantize_q5_1, GGML_TYPE_Q8_1, vec_dot_q5_1_q8_1),
    [GGML_TYPE_Q8_0] = ROW("Q8_0", 32, 34, true, dequant_q8_0, quantize_q8_0, GGML_TYPE_Q8_0, vec_dot_q8_0_q8_0),
    /* activation-only formats: decodable and producible, never a weight */
    [GGML_TYPE_Q8_1] = ROW("Q8_1", 32, 36, false, dequant_q8_1, quantize_q8_1, GGML_TYPE_Q8_1, NULL),
    [GGML_TYPE_Q2_K] = ROW("Q2_K", 256, 84, true, dequant_q2_k, quantize_q2_k, GGML_TYPE_Q8_K, vec_dot_q2_k_q8_k),
    [GGML_TYPE_Q3_K] = ROW("Q3_K", 256, 110, true, dequant_q3_k, quantize_q3_k, GGML_TYPE_Q8_K, vec_dot_q3_k_q8_k),
    [GGML_TYPE_Q4_K] = ROW("Q4_K", 256, 144, true, dequant_q4_k, quantize_q4_k, GGML_TYPE_Q8_K, vec_dot_q4_k_q8_k),
    [GGML_TYPE_Q5_K] = ROW("Q5_K", 256, 176, true, dequant_q5_k, quantize_q5_k, GGML_TYPE_Q8_K, vec_dot_q5_k_q8_k),
    [GGML_TYPE_Q6_K] = ROW("Q6_K", 256, 210, true, dequant_q6_k, quantize_q6_k, GGML_TYPE_Q8_K, vec_dot_q6_k_q8_k),
    [GGML_TYPE_Q8_K] = ROW("Q8_K", 256, 292, false, dequant_q8_k, quantize_q8_k, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_IQ2_XXS] = ROW("IQ2_XXS", 256, 66, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_IQ2_XS] = ROW("IQ2_XS", 256, 74, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_IQ3_XXS] = ROW("IQ3_XXS", 256, 98, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_IQ1_S] = ROW("IQ1_S", 256, 50, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_IQ4_NL] = ROW("IQ4_NL", 32, 18, true, dequant_iq4_nl, NULL, GGML_TYPE_Q8_0, vec_dot_iq4_nl_q8_0),
    [GGML_TYPE_IQ3_S] = ROW("IQ3_S", 256, 110, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_IQ2_S] = ROW("IQ2_S", 256, 82, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_IQ4_XS] = ROW("IQ4_XS", 256, 136, true, dequant_iq4_xs, NULL, GGML_TYPE_Q8_K, vec_dot_iq4_xs_q8_k),
    [GGML_TYPE_I8] = ROW("I8", 1, 1, false, NULL, NULL, GGML_TYPE_I8, NULL),
    [GGML_TYPE_I16] = ROW("I16", 1, 2, false, NULL, NULL, GGML_TYPE_I16, NULL),
    [GGML_TYPE_I32] = ROW("I32", 1, 4, false, NULL, NULL, GGML_TYPE_I32, NULL),
    [GGML_TYPE_I64] = ROW("I64", 1, 8, false, NULL, NULL, GGML_TYPE_I64, NULL),
    [GGML_TYPE_F64] = ROW("F64", 1, 8, false, NULL, NULL, GGML_TYPE_F64, NULL),
    [GGML_TYPE_IQ1_M] = ROW("IQ1_M", 256, 56, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_BF16] = ROW("BF16", 1, 2, true, dequant_bf16, quantize_bf16, GGML_TYPE_F32, vec_dot_bf16_f32),
    [31] = ROW("Q4_0_4_4 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [32] = ROW("Q4_0_4_8 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [33] = ROW("Q4_0_8_8 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [GGML_TYPE_TQ1_0] = ROW("TQ1_0", 256, 54, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [GGML_TYPE_TQ2_0] = ROW("TQ2_0", 256, 66, false, NULL, NULL, GGML_TYPE_Q8_K, NULL),
    [36] = ROW("IQ4_NL_4_4 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [37] = ROW("IQ4_NL_4_8 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [38] = ROW("IQ4_NL_8_8 (removed)", 0, 0, false, NULL, NULL, 0, NULL),
    [GGML_TYPE_MXFP4] = ROW("MXFP4", 32, 17, true, dequant_mxfp4, quantize_mxfp4, GGML_TYPE_Q8_0, vec_dot_mxfp4_q8_0),
    [GGML_TYPE_NVFP4] = ROW("NVFP4", 64, 36, false, NULL, NULL, GGML_TYPE_Q8_0, NULL),
    [GGML_TYPE_Q1_0] = ROW("Q1_0", 128, 18, false, NULL, NULL, GGML_TYPE_Q8_0, NULL),
    [GGML_TYPE_Q2_0] = ROW("Q2_0", 64, 18, false, NULL, NULL, GGML_TYPE_Q8_0, NULL),
    /* our own ids: the panel layouts' activations, and the layouts */
    [TYPE_Q8_0S] = ROW("Q8_0S", 32, 40, false, dequant_q8_0s, quantize_q8_0s, TYPE_Q8_0S, NULL),
    [TYPE_Q4_0_R16] = PANELS("Q4_0_R16", GGML_TYPE_Q4_0, 32, 18, TYPE_Q8_0S, repack_q4_0_r16, unpack_q4_0_r16,
                             panel_dot_q4_0_r16),
    [TYPE_Q5_0_R16] = PANELS("Q5_0_R16", GGML_TYPE_Q5_0, 32, 22, TYPE_Q8_0S, repack_q5_0_r16, unpack_q5_0_r16,
                             panel_dot_q5_0_r16),
    [TYPE_Q8_0_R16] = PANELS("Q8_0_R16", GGML_TYPE_Q8_0, 32, 34, TYPE_Q8_0S, repack_q8_0_r16, unpack_q8_0_r16,
                             panel_dot_q8_0_r16),
    [TYPE_Q4_K_R16] = PANELS("Q4_K_R16", GGML_TYPE_Q4_K, QK_K, 144, GGML_TYPE_Q8_K, repack_q4_k_r16, unpack_q4_k_r16,
                             panel_dot_q4_k_r16),
    [TYPE_Q6_K_R16] = PANELS("Q6_K_R16", GGML_TYPE_Q6_K, QK_K, 210, GGML_TYPE_Q8_K, repack_q6_k_r16, unpack_q6_k_r16,
                             panel_dot_q6_k_r16),
    [TYPE_Q5_K_R16] = PANELS("Q5_K_R16", GGML_TYPE_Q5_K, QK_K, 176, GGML_TYPE_Q8_K, repack_q5_k_r16, unpack_q5_k_r16,
                             panel_dot_q5_k_r16),
    /* pairs of elements: a "block" of 2 (K must be even), 4 bytes per row */
    [TYPE_BF16_R16] = PANELS("BF16_R16", GGML_TYPE_BF16, 2, 4, GGML_TYPE_BF16, repack_bf16_r16, unpack_bf16_r16,
                             panel_dot_bf16_r16),
    [TYPE_F16_R16] = PANELS("F16_R16", GGML_TYPE_F16, 2, 4, GGML_TYPE_F32, repack_f16_r16, unpack_f16_r16,
                            panel_dot_f16_r16),
    [TYPE_IQ4_XS_R16] = PANELS("IQ4_XS_R16", GGML_TYPE_IQ4_XS, QK_K, 136, GGML_TYPE_Q8_K, repack_iq4_xs_r16,
                               unpack_iq4_xs_r16, panel_dot_iq4_xs_r16),
    /* BF16's storage with bf16 activations; never a weight */
    [TYPE_BF16_BF16] = ROW("BF16xBF16", 1, 2, false, dequant_bf16, quantize_bf16, GGML_TYPE_BF16, vec_dot_bf16_bf16),
};

const type_traits *quant_traits(uint32_t type) {
    if (type >= TYPE_COUNT) return NULL;
    return &scalar_traits[type];
}

const char *quant_type_name(uint32_t type) {
    static _Thread_local char buf[32];
    if (type < TYPE_COUNT && scalar_traits[type].name) return scalar_traits[type].name;
    snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

size_t quant_row_size(uint32_t type, int64_t n) {
    const type_traits *t = quant_traits(type);
    if (!t || t->blck_size == 0) return 0;
    return (size_t)(n / t->blck_size) * t->type_size;
}

size_t quant_panel_size(uint32_t type, int64_t K) {
    const type_traits *t = quant_traits(type);
    return t && t->panel ? (size_t)t->panel * quant_row_size(type, K) : 0;
}

const char *quant_ftype_name(int64_t ft) {
    static const char *const names[] = {
        [0] = "all F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0",
        [9] = "Q5_1", [10] = "Q2_K - Medium", [11] = "Q3_K - Small", [12] = "Q3_K - Medium",
        [13] = "Q3_K - Large", [14] = "Q4_K - Small", [15] = "Q4_K - Medium",
        [16] = "Q5_K - Small", [17] = "Q5_K - Medium", [18] = "Q6_K",
        [19] = "IQ2_XXS - 2.0625 bpw", [20] = "IQ2_XS - 2.3125 bpw", [21] = "Q2_K - Small",
        [22] = "IQ3_XS - 3.3 bpw", [23] = "IQ3_XXS - 3.0625 bpw", [24] = "IQ1_S - 1.5625 bpw",
        [25] = "IQ4_NL - 4.5 bpw", [26] = "IQ3_S - 3.4375 bpw", [27] = "IQ3_S mix - 3.66 bpw",
        [28] = "IQ2_S - 2.5 bpw", [29] = "IQ2_M - 2.7 bpw", [30] = "IQ4_XS - 4.25 bpw",
        [31] = "IQ1_M - 1.75 bpw", [32] = "BF16", [36] = "TQ1_0 - 1.69 bpw ternary",
        [37] = "TQ2_0 - 2.06 bpw ternary", [38] = "MXFP4 MoE", [39] = "NVFP4", [40] = "Q1_0",
        [41] = "Q2_0",
    };
    return ft >= 0 && ft < (int64_t)(sizeof names / sizeof names[0]) ? names[ft] : NULL;
}

void dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const type_traits *t = quant_traits(type);
    if (t && t->to_float) t->to_float(src, dst, n);
}

void quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const type_traits *t = quant_traits(type);
    if (t && t->from_float) t->from_float(src, dst, n);
}
