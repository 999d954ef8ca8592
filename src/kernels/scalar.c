/* scalar.c - the portable row-dot kernels and the elementwise kernels of the forward
 * pass (GEGLU, RMSNorm, soft-capping): the specification every SIMD kernel is tested against.
 *
 * Each weight block meets an activation block of the same span (Q8_0 / Q8_1 / Q8_K, or plain
 * f32 for float weights) and contributes exactly what doc/formats.md#row-dot-products
 * lists: an exact int32 dot of the codes, times the product of the two float scales, plus
 * (affine formats) a min term taken from the activation block's precomputed sums. Float
 * accumulation across blocks is sequential. No integer sum can overflow: the largest, a Q4_K
 * super-block, stays below 63 * 15 * 128 * 256 < 2^31 even for hostile bytes. */
#include "dispatch.h"
#include "kernels.h"

/* ---- float weights: f32 activations, weight converted on the fly, f32 accumulation ---- */

void vec_dot_f32_f32(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += rd_f32(w + 4 * i) * rd_f32(a + 4 * i);
    *s = sum;
}

void vec_dot_f16_f32(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += rd_f16(w + 2 * i) * rd_f32(a + 4 * i);
    *s = sum;
}

void vec_dot_bf16_f32(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += bf16_to_fp32(rd_u16(w + 2 * i)) * rd_f32(a + 4 * i);
    *s = sum;
}

/* BF16 rows with bf16 activations (TYPE_BF16_BF16: a bf16 KV cache's cells where the kernel
 * set multiplies them with vdpbf16ps). A product of two bf16 values (8 significant bits each)
 * is exact in f32, so a SIMD kernel differs only in the order of the sum and in reading
 * subnormal inputs as zero (vdpbf16ps's DAZ: below 2^-126 per product). */
void vec_dot_bf16_bf16(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += bf16_to_fp32(rd_u16(w + 2 * i)) * bf16_to_fp32(rd_u16(a + 2 * i));
    *s = sum;
}

/* ---- 32-element weights with Q8_0 activations (d f16 @0, qs i8 @2, 34 bytes) ---- */

void vec_dot_q4_0_q8_0(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++, w += 18, a += 34) {
        const int8_t *aq = (const int8_t *)(a + 2);
        int sumi = 0;
        for (int e = 0; e < 32; e++) sumi += (nibble32(w + 2, e) - 8) * aq[e];
        sum += (rd_f16(w) * rd_f16(a)) * (float)sumi;
    }
    *s = sum;
}

void vec_dot_q5_0_q8_0(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++, w += 22, a += 34) {
        const int8_t *aq = (const int8_t *)(a + 2);
        uint32_t qh = rd_u32(w + 2);
        int sumi = 0;
        for (int e = 0; e < 32; e++) {
            int q = nibble32(w + 6, e) | q5_high_bit(qh, e) << 4;
            sumi += (q - 16) * aq[e];
        }
        sum += (rd_f16(w) * rd_f16(a)) * (float)sumi;
    }
    *s = sum;
}

void vec_dot_q8_0_q8_0(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++, w += 34, a += 34) {
        const int8_t *wq = (const int8_t *)(w + 2), *aq = (const int8_t *)(a + 2);
        int sumi = 0;
        for (int e = 0; e < 32; e++) sumi += wq[e] * aq[e];
        sum += (rd_f16(w) * rd_f16(a)) * (float)sumi;
    }
    *s = sum;
}

void vec_dot_iq4_nl_q8_0(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++, w += 18, a += 34) {
        const int8_t *aq = (const int8_t *)(a + 2);
        int sumi = 0;
        for (int e = 0; e < 32; e++) sumi += kvalues_iq4nl[nibble32(w + 2, e)] * aq[e];
        sum += (rd_f16(w) * rd_f16(a)) * (float)sumi;
    }
    *s = sum;
}

void vec_dot_mxfp4_q8_0(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++, w += 17, a += 34) {
        const int8_t *aq = (const int8_t *)(a + 2);
        int sumi = 0;
        for (int e = 0; e < 32; e++) sumi += kvalues_mxfp4[nibble32(w + 1, e)] * aq[e];
        sum += (e8m0_to_fp32_half(w[0]) * rd_f16(a)) * (float)sumi;
    }
    *s = sum;
}

/* ---- affine 32-element weights with Q8_1 activations (d @0, s = d*sum(qs) @2, qs @4) ----
 * x = q*dw + m, so a block gives dw*da*sum(q*a) + m*(da*sum(a)) = ... + m*s. */

void vec_dot_q4_1_q8_1(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++, w += 20, a += 36) {
        const int8_t *aq = (const int8_t *)(a + 4);
        int sumi = 0;
        for (int e = 0; e < 32; e++) sumi += nibble32(w + 4, e) * aq[e];
        sum += (rd_f16(w) * rd_f16(a)) * (float)sumi + rd_f16(w + 2) * rd_f16(a + 2);
    }
    *s = sum;
}

void vec_dot_q5_1_q8_1(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; b++, w += 24, a += 36) {
        const int8_t *aq = (const int8_t *)(a + 4);
        uint32_t qh = rd_u32(w + 4);
        int sumi = 0;
        for (int e = 0; e < 32; e++) {
            int q = nibble32(w + 8, e) | q5_high_bit(qh, e) << 4;
            sumi += q * aq[e];
        }
        sum += (rd_f16(w) * rd_f16(a)) * (float)sumi + rd_f16(w + 2) * rd_f16(a + 2);
    }
    *s = sum;
}

/* ---- 256-element super-blocks with Q8_K activations (d f32, qs i8, bsums per 16) ---- */

/* Q2_K: 16 sub-blocks of 16, 4-bit scale (low nibble) and min (high nibble) each.
 * x = (d*sc)*q - dmin*m, so the min term needs only the activation sums per 16. */
void vec_dot_q2_k_q8_k(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / QK_K; b++, w += 84, a += 292) {
        const int8_t *aq = q8_k_qs(a);
        int sumi = 0, summ = 0;
        for (int k = 0; k < 16; k++) {
            int dot = 0;
            for (int e = 16 * k; e < 16 * k + 16; e++) dot += q2_k_code(w, e) * aq[e];
            sumi += (w[k] & 15) * dot;
            summ += (w[k] >> 4) * q8_k_bsum(a, k);
        }
        float da = q8_k_d(a);
        sum += (da * rd_f16(w + 80)) * (float)sumi - (da * rd_f16(w + 82)) * (float)summ;
    }
    *s = sum;
}

/* Q3_K: 16 sub-blocks of 16 with signed 6-bit scales, codes -4..3. */
void vec_dot_q3_k_q8_k(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / QK_K; b++, w += 110, a += 292) {
        const int8_t *aq = q8_k_qs(a);
        int sumi = 0;
        for (int k = 0; k < 16; k++) {
            int dot = 0;
            for (int e = 16 * k; e < 16 * k + 16; e++) dot += q3_k_code(w, e) * aq[e];
            sumi += q3_k_scale(w, k) * dot;
        }
        sum += (q8_k_d(a) * rd_f16(w + 108)) * (float)sumi;
    }
    *s = sum;
}

/* Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins; the min term uses the activation
 * sums of the two 16-groups of each sub-block. */
void vec_dot_q4_k_q8_k(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / QK_K; b++, w += 144, a += 292) {
        const int8_t *aq = q8_k_qs(a);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m, dot = 0;
            k4_scale_min(w + 4, j, &sc, &m);
            for (int e = 32 * j; e < 32 * j + 32; e++) dot += q4_k_code(w, e) * aq[e];
            sumi += sc * dot;
            summ += m * (q8_k_bsum(a, 2 * j) + q8_k_bsum(a, 2 * j + 1));
        }
        float da = q8_k_d(a);
        sum += (da * rd_f16(w)) * (float)sumi - (da * rd_f16(w + 2)) * (float)summ;
    }
    *s = sum;
}

/* Q5_K: as Q4_K with 5-bit codes. */
void vec_dot_q5_k_q8_k(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / QK_K; b++, w += 176, a += 292) {
        const int8_t *aq = q8_k_qs(a);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m, dot = 0;
            k4_scale_min(w + 4, j, &sc, &m);
            for (int e = 32 * j; e < 32 * j + 32; e++) dot += q5_k_code(w, e) * aq[e];
            sumi += sc * dot;
            summ += m * (q8_k_bsum(a, 2 * j) + q8_k_bsum(a, 2 * j + 1));
        }
        float da = q8_k_d(a);
        sum += (da * rd_f16(w)) * (float)sumi - (da * rd_f16(w + 2)) * (float)summ;
    }
    *s = sum;
}

/* Q6_K: 16 sub-blocks of 16 with signed 8-bit scales, codes -32..31. */
void vec_dot_q6_k_q8_k(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / QK_K; b++, w += 210, a += 292) {
        const int8_t *aq = q8_k_qs(a);
        int sumi = 0;
        for (int k = 0; k < 16; k++) {
            int dot = 0;
            for (int e = 16 * k; e < 16 * k + 16; e++) dot += q6_k_code(w, e) * aq[e];
            sumi += q6_k_scale(w, k) * dot;
        }
        sum += (q8_k_d(a) * rd_f16(w + 208)) * (float)sumi;
    }
    *s = sum;
}

/* IQ4_XS: 8 sub-blocks of 32, codebook values, 6-bit scales stored +32. */
void vec_dot_iq4_xs_q8_k(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    float sum = 0.0f;
    for (int b = 0; b < n / QK_K; b++, w += 136, a += 292) {
        const int8_t *aq = q8_k_qs(a);
        int sumi = 0;
        for (int ib = 0; ib < 8; ib++) {
            int dot = 0;
            for (int e = 32 * ib; e < 32 * ib + 32; e++)
                dot += kvalues_iq4nl[iq4_xs_index(w, e)] * aq[e];
            sumi += iq4_xs_scale(w, ib) * dot;
        }
        sum += (q8_k_d(a) * rd_f16(w)) * (float)sumi;
    }
    *s = sum;
}

/* ======================= elementwise kernels of the forward pass ======================= */

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))).
 * Evaluated the way llama.cpp's CPU backend does (doc/forward.md#gelu): for |x| < 10 the
 * input is rounded to f16 and looked up in a table of f16-rounded results. That is faster
 * than tanhf and reproduces the reference's numbers, not just its formula. */
float gelu_table[65536];

static float gelu_exact(float x) {
    const float c = 0.79788456080286535587989211986876f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x)));
}

void gelu_table_fill(void) {
    for (int h = 0; h < 65536; h++)
        gelu_table[h] = fp16_to_fp32(fp32_to_fp16(gelu_exact(fp16_to_fp32((uint16_t)h))));
}

/* Halves of magnitude below 10 are the bits 0 .. 0x48ff (and those with the sign bit). */
void gelu_table_prefetch(void) {
    for (int h = 0; h < 0x4900; h += 16) {
        __builtin_prefetch(gelu_table + h, 0, 3);
        __builtin_prefetch(gelu_table + 0x8000 + h, 0, 3);
    }
}

/* f32 -> f16 bits, round to nearest even, for |x| < 10: normal halves take the fast
 * path (rebias the exponent, round the 13 dropped mantissa bits); tiny values go through
 * the general conversion. Same result as fp32_to_fp16 on that range. */
static inline uint16_t half_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a < 0x38800000) return fp32_to_fp16(x); /* below the smallest normal half */
    a += 0x0fff + ((a >> 13) & 1);
    return (uint16_t)(sign | ((a - 0x38000000) >> 13));
}

/* Beyond the table's range GELU is 0 (x <= -10) or x itself (x >= 10, where tanh rounds to
 * 1); a NaN passes through, as it would through the formula. */
static inline float gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f || isnan(x)) return x;
    return gelu_table[half_bits(x)];
}

void geglu_scalar(float *out, const float *gate, const float *up, int n) {
    for (int j = 0; j < n; j++) out[j] = gelu(gate[j]) * up[j];
}

/* x / sqrt(mean(x^2) + eps) * w, w == NULL meaning 1; out may be x. A product of two floats
 * is exact in double, so only the adds round, in the lane order of RMS_LANES (kernels.h);
 * the lanes also keep the adds independent, which is where the time went with one sum.
 * The multiply is (x * s) * w; blocks of 8 through t let the compiler vectorize it without
 * knowing whether out is x. */
void rmsnorm_scalar(float *out, const float *x, const float *w, int n, float eps) {
    double lane[RMS_LANES] = {0};
    int i = 0;
    for (; i + RMS_LANES <= n; i += RMS_LANES)
        for (int k = 0; k < RMS_LANES; k++) lane[k] += (double)x[i + k] * x[i + k];
    for (int k = 0; i + k < n; k++) lane[k] += (double)x[i + k] * x[i + k];
    for (int h = RMS_LANES / 2; h >= 1; h /= 2)
        for (int k = 0; k < h; k++) lane[k] += lane[k + h];
    float s = rms_scale(lane[0], n, eps);

    float t[8];
    for (i = 0; i + 8 <= n; i += 8) {
        if (w) for (int k = 0; k < 8; k++) t[k] = (x[i + k] * s) * w[i + k];
        else   for (int k = 0; k < 8; k++) t[k] = x[i + k] * s;
        for (int k = 0; k < 8; k++) out[i + k] = t[k];
    }
    for (; i < n; i++) out[i] = w ? (x[i] * s) * w[i] : x[i] * s;
}

/* Soft-capping, x = cap * tanh(x / cap), in place. tanh is odd, so with a = |y|, y = x / cap
 * and e = exp(-2a) in (0, 1]:
 *   tanh(a) = (1 - e) / (1 + e) = -expm1(-2a) / (1 + e),
 * which keeps its relative accuracy for small a through expm1 (1 - 2 / (exp(2a) + 1) would
 * lose it to cancellation) and is exactly 1 once e is below half an ulp of 1 (a is clamped to
 * TANH_CLAMP first, so nothing overflows; a NaN stays a NaN). With z = -2a in [-20, 0] =
 * n ln2 + r, n = round(z / ln2), |r| <= ln2 / 2 (z - n LN2_HI is exact), p = expm1(r) (a
 * polynomial, kernels.h) and s = 2^n, e = s (1 + p), so
 *   numerator   -expm1(z) = -(s p + (s - 1))   (s p and s - 1 exact: one rounding)
 *   denominator   1 + e  =   s p + (s + 1)
 * No fused multiply-add: a CPU without one (where this scalar set runs) would take a slow
 * library call for each, and the plain operations cost at most 0.03 ulp more. Every
 * operation rounds once, in this order, in every version. Measured against tanh in double
 * over every float: at most 1.94 ulp; cap * tanh(x / cap) with the two roundings around it
 * (cap 30 or 50): at most 3.6 ulp in 2^24 samples (tests/test_simd.c samples both). */
static inline float tanh_abs(float a) {
    if (TANH_CLAMP < a) a = TANH_CLAMP;
    float z = -2.0f * a;
    float n = rintf(z * EXPM1_LOG2E);
    float r = z - n * EXPM1_LN2_HI;
    r = r - n * EXPM1_LN2_LO;
    float q = EXPM1_C8;
    q = q * r + EXPM1_C7;
    q = q * r + EXPM1_C6;
    q = q * r + EXPM1_C5;
    q = q * r + EXPM1_C4;
    q = q * r + EXPM1_C3;
    q = q * r + EXPM1_C2;
    float p = r * r * q + r;
    uint32_t bits = (uint32_t)((int)n + 127) << 23; /* 2^n, n in [-29, 0] */
    float s;
    memcpy(&s, &bits, 4);
    return -(s * p + (s - 1.0f)) / (s * p + (s + 1.0f));
}

void softcap_scalar(float *x, int n, float cap) {
    for (int i = 0; i < n; i++) {
        float y = x[i] / cap;
        if (isnan(y)) continue;
        x[i] = copysignf(tanh_abs(fabsf(y)), y) * cap;
    }
}
