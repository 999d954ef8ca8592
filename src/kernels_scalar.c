/* kernels_scalar.c - the portable row-dot kernels: the specification every SIMD kernel is
 * tested against.
 *
 * Each weight block meets an activation block of the same span (Q8_0 / Q8_1 / Q8_K, or plain
 * f32 for float weights) and contributes exactly what GGUF_AND_QUANTS.md §4.1 lists: an exact
 * int32 dot of the codes, times the product of the two float scales, plus (affine formats) a
 * min term taken from the activation block's precomputed sums. Float accumulation across
 * blocks is sequential. No integer sum can overflow: the largest, a Q4_K super-block, stays
 * below 63 * 15 * 128 * 256 < 2^31 even for hostile bytes. */
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
