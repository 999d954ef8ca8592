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

/* Group g of activation codes (4 bytes at 4g) in every lane. */
static INLINE __m512i act_group(const uint8_t *aq, int g) { return _mm512_set1_epi32(rd_i32(aq + 4 * g)); }

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

/* ---- K-quants: one f32 step per super-block of 256 ----
 * A panel super-block is unpacked once into codes for its 64 element groups and the 16
 * rows' scales (a few KB, in L1), then every activation row runs over it: per sub-block the
 * exact dot (vpdpbusd), times the sub-block scale (vpmulld), into the super-block's int32. */

typedef struct {
    __m512i q[64];      /* q[g]: element group g (elements 4g .. 4g+3) of the 16 rows */
    __m512i sc[16];     /* per sub-block scale (Q4_K: 8 of 32 elements, Q6_K: 16 of 16) */
    __m512i mn[8];      /* Q4_K: per sub-block min */
    __m512 d, dmin;
} k_block;

static INLINE __m512i bits(__m512i v, int shift, int width) {
    return _mm512_and_si512(_mm512_srli_epi32(v, shift), _mm512_set1_epi32((1 << width) - 1));
}

static INLINE void unpack_q4_k(const uint8_t *pb, k_block *k) {
    const __m512i m4 = _mm512_set1_epi8(15);
    k->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
    k->dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + 32)));
    __m512i S0 = loadu512(pb + 64), S1 = loadu512(pb + 128), S2 = loadu512(pb + 192);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) { /* kernels.h's k4_scale_min, 16 rows at a time */
        k->sc[j] = bits(S0, 8 * j, 6);
        k->mn[j] = bits(S1, 8 * j, 6);
        k->sc[j + 4] = _mm512_or_si512(bits(S2, 8 * j, 4), _mm512_slli_epi32(bits(S0, 8 * j + 6, 2), 4));
        k->mn[j + 4] = _mm512_or_si512(bits(S2, 8 * j + 4, 4), _mm512_slli_epi32(bits(S1, 8 * j + 6, 2), 4));
    }
#pragma GCC unroll 32
    for (int G = 0; G < 32; G++) { /* chunk c = G / 8: sub-block 2c low, 2c + 1 high */
        __m512i v = loadu512(pb + 256 + 64 * G);
        int c = G / 8, l = G % 8;
        k->q[16 * c + l] = _mm512_and_si512(v, m4);
        k->q[16 * c + 8 + l] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
}

static INLINE void unpack_q6_k(const uint8_t *pb, k_block *k) {
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    k->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
#pragma GCC unroll 16
    for (int sb = 0; sb < 16; sb++) /* int8 scale sb % 4 of dword group sb / 4, sign-extended */
        k->sc[sb] = _mm512_srai_epi32(_mm512_slli_epi32(loadu512(pb + 32 + 64 * (sb / 4)), 24 - 8 * (sb % 4)), 24);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) { /* h = i / 8, l4 = i % 8: ql groups 16h + l4 (A), + 8 (B), qh 8h + l4 */
        int h = i / 8, l4 = i % 8;
        __m512i A = loadu512(pb + q6_k_ql_at(16 * h + l4)), B = loadu512(pb + q6_k_ql_at(16 * h + 8 + l4));
        __m512i H = loadu512(pb + q6_k_qh_at(8 * h + l4));
        /* element 128h + 32g + 4 l4 + i: low4 from A (g = 0, 2) or B (g = 1, 3), 2 bits of H at 2g */
        k->q[32 * h + l4] = _mm512_or_si512(_mm512_and_si512(A, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30));
        k->q[32 * h + 8 + l4] = _mm512_or_si512(_mm512_and_si512(B, m4), _mm512_and_si512(_mm512_slli_epi16(H, 2), m30));
        k->q[32 * h + 16 + l4] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(A, 4), m4), _mm512_and_si512(H, m30));
        k->q[32 * h + 24 + l4] =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(B, 4), m4), _mm512_and_si512(_mm512_srli_epi16(H, 2), m30));
    }
}

/* The exact dot of groups g0 .. g0 + n - 1 (n even) with one activation row's codes aq,
 * started at s (two chains, added at the end). */
static INLINE __m512i groups_dot(const k_block *k, int g0, int n, const uint8_t *aq, __m512i s) {
    __m512i t = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int g = g0; g < g0 + n; g += 2) {
        s = _mm512_dpbusd_epi32(s, k->q[g], act_group(aq, g));
        t = _mm512_dpbusd_epi32(t, k->q[g + 1], act_group(aq, g + 1));
    }
    return _mm512_add_epi32(s, t);
}

/* One activation row's Q8_K super-block ab against the unpacked panel super-block. */
static INLINE __m512 q4_k_step(const k_block *k, const uint8_t *ab, __m512 acc) {
    const uint8_t *aq = ab + 4;
    __m512i isum = _mm512_setzero_si512(), msum = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        __m512i dot = groups_dot(k, 8 * j, 8, aq, _mm512_setzero_si512());
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, k->sc[j]));
        int32_t bsum = (int32_t)rd_i16(ab + 260 + 4 * j) + rd_i16(ab + 262 + 4 * j);
        msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(k->mn[j], _mm512_set1_epi32(bsum)));
    }
    __m512 da = _mm512_set1_ps(rd_f32(ab));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(k->d, da), acc);
    return _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(k->dmin, da), acc);
}

static INLINE __m512 q6_k_step(const k_block *k, const uint8_t *ab, __m512 acc) {
    const uint8_t *aq = ab + 4;
    __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int sb = 0; sb < 16; sb++) {
        __m512i dot = groups_dot(k, 4 * sb, 4, aq, _mm512_set1_epi32(-32 * (int32_t)rd_i16(ab + 260 + 2 * sb)));
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, k->sc[sb]));
    }
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(k->d, _mm512_set1_ps(rd_f32(ab))), acc);
}

/* One activation row (decode): the same sums straight from the loaded weights, a
 * sub-block at a time, without going through k_block (its stores and loads halved the
 * speed). Integer sums are exact in any grouping, so this gives k_tile's bits. */
static INLINE __m512 q4_k_decode(const uint8_t *pb, const uint8_t *ab, __m512 acc) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const uint8_t *aq = ab + 4;
    __m512i S0 = loadu512(pb + 64), S1 = loadu512(pb + 128), S2 = loadu512(pb + 192);
    __m512i isum = _mm512_setzero_si512(), msum = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m512i v = loadu512(pb + 256 + 64 * (8 * c + l));
            lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(v, m4), act_group(aq, 16 * c + l));
            hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4), act_group(aq, 16 * c + 8 + l));
        }
        int j = 2 * c; /* sub-blocks j (low nibbles) and j + 1 (high) */
        __m512i sc0, sc1, mn0, mn1;
        if (c < 2) {
            sc0 = bits(S0, 8 * j, 6), sc1 = bits(S0, 8 * j + 8, 6);
            mn0 = bits(S1, 8 * j, 6), mn1 = bits(S1, 8 * j + 8, 6);
        } else {
            int t = j - 4;
            sc0 = _mm512_or_si512(bits(S2, 8 * t, 4), _mm512_slli_epi32(bits(S0, 8 * t + 6, 2), 4));
            sc1 = _mm512_or_si512(bits(S2, 8 * t + 8, 4), _mm512_slli_epi32(bits(S0, 8 * t + 14, 2), 4));
            mn0 = _mm512_or_si512(bits(S2, 8 * t + 4, 4), _mm512_slli_epi32(bits(S1, 8 * t + 6, 2), 4));
            mn1 = _mm512_or_si512(bits(S2, 8 * t + 12, 4), _mm512_slli_epi32(bits(S1, 8 * t + 14, 2), 4));
        }
        isum = _mm512_add_epi32(isum, _mm512_add_epi32(_mm512_mullo_epi32(lo, sc0), _mm512_mullo_epi32(hi, sc1)));
        /* mins: m_j x bsum_j + m_j+1 x bsum_j+1 as one vpmaddwd of 16-bit pairs (m < 64, |bsum| < 4100) */
        int32_t b0 = (int32_t)rd_i16(ab + 260 + 4 * j) + rd_i16(ab + 262 + 4 * j);
        int32_t b1 = (int32_t)rd_i16(ab + 264 + 4 * j) + rd_i16(ab + 266 + 4 * j);
        __m512i mpair = _mm512_or_si512(mn0, _mm512_slli_epi32(mn1, 16));
        __m512i bpair = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)b0 | (uint32_t)(uint16_t)b1 << 16));
        msum = _mm512_add_epi32(msum, _mm512_madd_epi16(mpair, bpair));
    }
    __m512 da = _mm512_set1_ps(rd_f32(ab));
    __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
    __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + 32)));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, da), acc);
    return _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, da), acc);
}

static INLINE __m512 q6_k_decode(const uint8_t *pb, const uint8_t *ab, __m512 acc) {
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    const uint8_t *aq = ab + 4;
    __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* h = i / 2, l4 = 4 (i % 2) .. +3: sub-blocks 8h + 2g + i % 2 */
        int h = i / 2, l0 = 4 * (i % 2);
        __m512i s[4];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) s[g] = _mm512_set1_epi32(-32 * (int32_t)rd_i16(ab + 260 + 2 * (8 * h + 2 * g + i % 2)));
#pragma GCC unroll 4
        for (int l4 = l0; l4 < l0 + 4; l4++) {
            __m512i A = loadu512(pb + q6_k_ql_at(16 * h + l4)), B = loadu512(pb + q6_k_ql_at(16 * h + 8 + l4));
            __m512i H = loadu512(pb + q6_k_qh_at(8 * h + l4));
            __m512i q0 = _mm512_or_si512(_mm512_and_si512(A, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30));
            __m512i q1 = _mm512_or_si512(_mm512_and_si512(B, m4), _mm512_and_si512(_mm512_slli_epi16(H, 2), m30));
            __m512i q2 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(A, 4), m4), _mm512_and_si512(H, m30));
            __m512i q3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(B, 4), m4),
                                         _mm512_and_si512(_mm512_srli_epi16(H, 2), m30));
            s[0] = _mm512_dpbusd_epi32(s[0], q0, act_group(aq, 32 * h + l4));
            s[1] = _mm512_dpbusd_epi32(s[1], q1, act_group(aq, 32 * h + 8 + l4));
            s[2] = _mm512_dpbusd_epi32(s[2], q2, act_group(aq, 32 * h + 16 + l4));
            s[3] = _mm512_dpbusd_epi32(s[3], q3, act_group(aq, 32 * h + 24 + l4));
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            int sb = 8 * h + 2 * g + i % 2;
            __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(loadu512(pb + 32 + 64 * (sb / 4)), 24 - 8 * (sb % 4)), 24);
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(s[g], sc));
        }
    }
    __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(rd_f32(ab))), acc);
}

/* One panel's rows for activation rows 0 .. na - 1; `six`: Q6_K, else Q4_K. */
static INLINE void k_tile(const bool six, const int na, int64_t nsb, float *y, size_t y_stride, const uint8_t *panel,
                          __mmask16 rows, const uint8_t *a, size_t a_stride) {
    __m512 acc[PANEL_NA];
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) acc[j] = _mm512_setzero_ps();
    k_block k;
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *pb = panel + (size_t)b * (six ? 16 * 210 : 16 * 144);
        if (na == 1) {
            acc[0] = six ? q6_k_decode(pb, a + 292 * (size_t)b, acc[0]) : q4_k_decode(pb, a + 292 * (size_t)b, acc[0]);
            continue;
        }
        if (six) unpack_q6_k(pb, &k);
        else unpack_q4_k(pb, &k);
        for (int j = 0; j < na; j++) { /* k's codes come from L1 for every row */
            const uint8_t *ab = a + (size_t)j * a_stride + 292 * (size_t)b;
            acc[j] = six ? q6_k_step(&k, ab, acc[j]) : q4_k_step(&k, ab, acc[j]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) _mm512_mask_storeu_ps(y + (size_t)j * y_stride, rows, acc[j]);
}

static INLINE void k_panel_dot(const bool six, int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows,
                               const void *a, size_t a_stride, int64_t M) {
    int64_t nsb = K / QK_K;
    size_t panel_bytes = (size_t)nsb * (six ? 16 * 210 : 16 * 144);
    for (int64_t m = 0; m < M; m += 4) {
        int na = (int)(M - m < 4 ? M - m : 4);
        const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            __mmask16 rows = n_rows - r >= PANEL_ROWS ? 0xffff : (__mmask16)((1u << (n_rows - r)) - 1);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            switch (na) {
            case 1: k_tile(six, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 2: k_tile(six, 2, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 3: k_tile(six, 3, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            default: k_tile(six, 4, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            }
        }
    }
}

static void panel_dot_q4_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    k_panel_dot(false, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_dot_q6_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    k_panel_dot(true, K, y, y_stride, w, n_rows, a, a_stride, M);
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
    k->repack_to[GGML_TYPE_Q4_K] = TYPE_Q4_K_R16;
    k->repack_to[GGML_TYPE_Q6_K] = TYPE_Q6_K_R16;
    k->type[TYPE_Q4_K_R16].panel_dot = panel_dot_q4_k;
    k->type[TYPE_Q6_K_R16].panel_dot = panel_dot_q6_k;
}

#else
typedef int kernels_avx512_panels_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
