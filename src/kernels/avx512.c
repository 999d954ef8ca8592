/* avx512.c - x86-64 AVX-512 (F/BW/VL/DQ) + VNNI tile kernels for prefill (Q4_0, Q5_0,
 * Q8_0, Q4_K, Q5_K, Q6_K; F32, F16, BF16 float tiles, which attention's steps also take on
 * caches of those types), the Q4_0 row dot and the panel kernels' activation quantizer
 * (Q8_0S). Compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mavx512vnni (+AVX2, FMA, F16C); installed on top of the AVX2 set,
 * which covers every other entry, only when cpu.c reports all of them and the OS's ZMM state.
 * With a single activation row (decode) the gemm entries leave the tiles for per-row paths
 * that stream the weights sequentially (see "decode" at the end).
 *
 * ---- Tile kernels (gemm) ----
 * Weight rows are taken 8 at a time and interleaved on the fly so that one 512-bit register
 * holds the same 8-byte slice of all 8 rows (qword lane r = row r). The matching 8 activation
 * bytes are broadcast from memory to every lane (a plain load), and vpdpbusd multiplies them
 * with all 8 rows at once: each row's block sum builds up in its own int32 lanes, with no
 * horizontal reduction and no shuffle per multiply. A weight register, once unpacked, serves
 * every activation row of the tile; an activation broadcast serves 8 weight rows. Per block
 * and activation row the K-quants then need one int->float conversion and one FMA with the 8
 * scale products (doc/formats.md#interleaved-rows); the Q8_0 pairings four, to keep llama.cpp's
 * summation order (see "the Q8_0 pairings' summation order" below). Tiles wider than 8 rows (if GEMM_MAX_NW allows)
 * loop over 8-row groups that share the per-call activation prep below; activation rows go
 * in groups of 4, or 8 if GEMM_MAX_NA allows, each group a body specialized for its count
 * so that the accumulators stay in registers.
 *
 * vpdpbusd multiplies unsigned by signed bytes. Weight codes are made unsigned (Q4_0 and Q5_0
 * without their -8 / -16 offset, Q8_0 plus 128) and the activations stay signed; the offset
 * then costs offset * sum(activation codes of the 4 elements of a lane), which is folded into
 * the starting value of the lane's int32 accumulator: a small table computed once per call
 * for each activation block ("activation prep") and reused by all weight rows. The K-quants keep
 * their unsigned codes and weight each sub-block dot by its scale with vpmaddwd after
 * packing two dots to int16 (each below 2^15 by construction); mins and Q6_K's -32 offset
 * come from the activation block sums (bsums), as in the scalar kernels.
 *
 * Integer sums are exact, as in the scalar kernels. The float accumulation of the Q8_0
 * pairings is llama.cpp's, bit for bit, for rows up to PREP_MAX blocks; the K-quants' differs
 * (each row's sum is spread over 2 or 4 lanes, added at the end).
 *
 * The forward pass's elementwise kernels (GEGLU, RMSNorm, soft-capping) give the scalar ones' bits, as in
 * the AVX2 set; a partial last step uses masked loads and stores. */
#if defined(__x86_64__)

#include "avx512_intrin.h"

#include "avx512_sums.h"
#include "dispatch.h"
#include "kernels.h"

#ifndef INLINE /* the emulated build (avx512_emulated.h) leaves the choice to the compiler */
#define INLINE inline __attribute__((always_inline))
#endif

static INLINE __m128i loadu128(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static INLINE __m256i loadu256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* The 8 bytes at p in every qword lane (a broadcast load). */
static INLINE __m512i bcast64(const uint8_t *p) { return _mm512_set1_epi64((long long)rd_u64(p)); }

/* The 16 bytes at p in every 128-bit lane (a broadcast load). */
static INLINE __m512i bcast128(const uint8_t *p) { return _mm512_broadcast_i32x4(loadu128(p)); }

/* Four 16-byte rows r0..r3 as the four 128-bit lanes of one register. */
static INLINE __m512i lanes4(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3) {
    __m512i v = _mm512_castsi128_si512(loadu128(r0));
    v = _mm512_inserti32x4(v, loadu128(r1), 1);
    v = _mm512_inserti32x4(v, loadu128(r2), 2);
    return _mm512_inserti32x4(v, loadu128(r3), 3);
}

/* 16 bytes from each of 8 rows (at row[r] + off) as two registers: qword lane r of lo holds
 * bytes 0..7 of row r, of hi bytes 8..15. */
static INLINE void interleave_8x16(const uint8_t *const row[8], size_t off, __m512i *lo, __m512i *hi) {
    __m512i even = lanes4(row[0] + off, row[2] + off, row[4] + off, row[6] + off);
    __m512i odd = lanes4(row[1] + off, row[3] + off, row[5] + off, row[7] + off);
    *lo = _mm512_unpacklo_epi64(even, odd);
    *hi = _mm512_unpackhi_epi64(even, odd);
}

/* 32 bytes from each of 8 rows as four registers; z[k] qword lane r = bytes 8k..8k+7 of row r. */
static INLINE void interleave_8x32(const uint8_t *const row[8], size_t off, __m512i z[4]) {
    __m512i ab = _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(row[0] + off)), loadu256(row[2] + off), 1);
    __m512i cd = _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(row[1] + off)), loadu256(row[3] + off), 1);
    __m512i ef = _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(row[4] + off)), loadu256(row[6] + off), 1);
    __m512i gh = _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(row[5] + off)), loadu256(row[7] + off), 1);
    /* per 128-bit lane: lo = [row a qword q, row b qword q], q = 0 or 2 */
    __m512i lo0 = _mm512_unpacklo_epi64(ab, cd), hi0 = _mm512_unpackhi_epi64(ab, cd);
    __m512i lo1 = _mm512_unpacklo_epi64(ef, gh), hi1 = _mm512_unpackhi_epi64(ef, gh);
    z[0] = _mm512_shuffle_i64x2(lo0, lo1, 0x88);
    z[2] = _mm512_shuffle_i64x2(lo0, lo1, 0xdd);
    z[1] = _mm512_shuffle_i64x2(hi0, hi1, 0x88);
    z[3] = _mm512_shuffle_i64x2(hi0, hi1, 0xdd);
}

/* f32 of the f16 at byte offset `off` of each of 8 rows, each twice (lanes 2r, 2r+1). The
 * halves are packed in general-purpose registers (shifts and ors run on ports the vector
 * work leaves free), so only three vector uops build the 8-half vector. */
static INLINE __m512 row_scales_x2(const uint8_t *const row[8], size_t off) {
    uint64_t lo = (uint64_t)rd_u16(row[0] + off) | (uint64_t)rd_u16(row[1] + off) << 16 |
                  (uint64_t)rd_u16(row[2] + off) << 32 | (uint64_t)rd_u16(row[3] + off) << 48;
    uint64_t hi = (uint64_t)rd_u16(row[4] + off) | (uint64_t)rd_u16(row[5] + off) << 16 |
                  (uint64_t)rd_u16(row[6] + off) << 32 | (uint64_t)rd_u16(row[7] + off) << 48;
    __m256 d = _mm256_cvtph_ps(_mm_unpacklo_epi64(_mm_cvtsi64_si128((long long)lo), _mm_cvtsi64_si128((long long)hi)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
                                 _mm512_castps256_ps512(d));
}

/* Sum lanes 2r and 2r+1 of acc and store (or add to) the first nw of the 8 row results. */
static INLINE void store_rows(float *s, __m512 acc, int nw, bool add) {
    __m512 pair = _mm512_add_ps(acc, _mm512_permute_ps(acc, 0xb1));
    __m256 r = _mm512_castps512_ps256(_mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0), pair));
    __mmask8 k = (__mmask8)((1u << nw) - 1);
    if (add) r = _mm256_add_ps(r, _mm256_maskz_loadu_ps(k, s));
    _mm256_mask_storeu_ps(s, k, r);
}

/* ---- activation prep for the Q8_0 pairings ----
 * Per activation row and block: the f32 scale, and for each 4-element group m of the block
 * the offset correction -c * (a[4m] + .. + a[4m+3]) (c = the weight offset) that starts the
 * int32 lane holding group m's dot. Computed once per call for all activation rows and
 * reused by every weight row. */

#define PREP_MAX 512 /* activation blocks prepared at once (16384 elements) */

typedef struct { /* rows padded so that the rows' entries of one block fall in different cache sets */
    float d[GEMM_MAX_NA][PREP_MAX + 16];
    int32_t init[GEMM_MAX_NA][PREP_MAX + 2][8];
} q8_0_prep;

/* The f16 at byte 0 of each of 16 blocks of `size` bytes (fewer if cnt < 16) as f32. */
static INLINE __m512 block_scales16(const uint8_t *blk, int size, int cnt) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(size));
    __mmask16 k = cnt >= 16 ? 0xffff : (__mmask16)((1u << cnt) - 1);
    __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, idx, (const void *)blk, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
}

static INLINE void prep_q8_0(q8_0_prep *p, const uint8_t *a, size_t a_stride, int na, int b0, int cnt, int c) {
    const __m256i cc = _mm256_set1_epi8((char)c);
    for (int j = 0; j < na; j++) {
        const uint8_t *blk = a + (size_t)j * a_stride + (size_t)b0 * 34;
        for (int b = 0; b < cnt; b += 16) _mm512_storeu_ps(&p->d[j][b], block_scales16(blk + 34 * b, 34, cnt - b));
        for (int b = 0; b < cnt; b++) {
            __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), cc, loadu256(blk + 34 * b + 2));
            _mm256_storeu_si256((__m256i *)p->init[j][b], _mm256_sub_epi32(_mm256_setzero_si256(), sums));
        }
    }
}

/* The 8 weight row pointers of group g of a tile; rows past nw repeat the group's first row
 * (read, never stored). */
static INLINE void group_rows(const uint8_t *row[8], const void *w, size_t w_stride, int g, int nw) {
    for (int r = 0; r < 8; r++) {
        int i = 8 * g + r < nw ? 8 * g + r : 8 * g;
        row[r] = (const uint8_t *)w + (size_t)i * w_stride;
    }
}

/* Accumulators of one 8-row group: acc[j] lanes 2r, 2r+1 = row r x activation row j. */
typedef struct {
    __m512 acc[GEMM_MAX_NA];
} group_acc;

/* ---- the Q8_0 pairings' summation order ----
 * The float sums follow llama.cpp's x86 kernels (ggml's AVX2 row dot and its tile kernels,
 * which our AVX2 tiles mirror) step for step, so that the results are bit-identical, not just
 * equal to rounding: per row, 8 f32 lanes, lane m accumulating over the blocks
 * fma(dw * da, P_m, lane m) with P_m the integer dot of the block's elements 4m..4m+3, then
 * the horizontal sum ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). An order that is as
 * accurate but different (one lane per 16 elements, say) moves some results by an ulp, and
 * the model amplifies an ulp wherever it rounds a value to f16: the GELU table lookup flips
 * to the neighbouring half when the sum sits on a rounding midpoint (gemma3-q4_0, token 6,
 * FFN gate row 157 = 1.58642578125 exactly), which moved later logits by 0.1.
 * Here P_2k and P_2k+1 of row r are dwords 2r, 2r+1 of the vpdpbusd of q[k] (elements
 * 8k..8k+7 in qword lane r), so acc[j][k] carries lanes 2k, 2k+1 of every row. */
typedef struct {
    __m512 acc[GEMM_MAX_NA][4];
} q8_0_acc;

/* One weight block of the 8 rows against block b0 + b of each activation row: q[k] holds
 * elements 8k..8k+7 of every row (unsigned codes), dw the rows' scales (lanes 2r, 2r+1). */
static INLINE void q8_0_tile_block(q8_0_acc *ga, const __m512i q[4], __m512 dw, const q8_0_prep *prep,
                                   const uint8_t *a, size_t a_stride, int b0, int b, const int na) {
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) {
        const uint8_t *aq = a + (size_t)j * a_stride + (size_t)(b0 + b) * 34 + 2;
        const uint8_t *init = (const uint8_t *)prep->init[j][b];
        __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(prep->d[j][b]));
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m512i p = _mm512_dpbusd_epi32(bcast64(init + 8 * k), q[k], bcast64(aq + 8 * k));
            ga->acc[j][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, ga->acc[j][k]);
        }
    }
}

/* The 8 lanes of each row summed in the order above; lanes 2r, 2r+1 of the result hold
 * (l0 + l4) + (l2 + l6) and (l1 + l5) + (l3 + l7), which store_rows adds. */
static INLINE __m512 q8_0_row_sums(const __m512 acc[4]) {
    return _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]));
}

/* ---- Q4_0 x Q8_0 ----
 * Byte j of a block holds elements j (low nibble) and j+16 (high nibble), so qword lane r of
 * lo & 15 is elements 0..7 of row r, (lo >> 4) & 15 elements 16..23, and hi likewise 8..15
 * and 24..31. Codes q are unsigned 0..15; the -8 is the start value -8 * sum(a) of each
 * 4-element lane. */
static INLINE void q4_0_group(q8_0_acc *ga, const uint8_t *const row[8], const q8_0_prep *prep,
                              const uint8_t *a, size_t a_stride, int b0, int cnt, const int na) {
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int b = 0; b < cnt; b++) {
        size_t off = (size_t)(b0 + b) * 18;
        __m512i lo, hi;
        interleave_8x16(row, off + 2, &lo, &hi);
        __m512i q0 = _mm512_and_si512(lo, m4), q2 = _mm512_and_si512(_mm512_srli_epi16(lo, 4), m4);
        __m512i q1 = _mm512_and_si512(hi, m4), q3 = _mm512_and_si512(_mm512_srli_epi16(hi, 4), m4);
        __m512 dw = row_scales_x2(row, off);
        __m512i q[4] = {q0, q1, q2, q3};
        q8_0_tile_block(ga, q, dw, prep, a, a_stride, b0, b, na);
    }
}

/* The tile kernel proper: activation rows in groups of 4 (8 when GEMM_MAX_NA allows), each
 * group one body specialized for its row count so the accumulators stay in registers. */
#if GEMM_MAX_NA >= 8
#define GEMM_TAKE8(NAME)                                                                            \
    if (na >= 8) {                                                                                  \
        NAME##_na(n, s, s_stride, w, w_stride, a, a_stride, nw, 8);                                 \
        take = 8;                                                                                   \
    } else
#else
#define GEMM_TAKE8(NAME)
#endif
#define GEMM_DISPATCH(NAME)                                                                         \
    static void NAME(int n, float *s, size_t s_stride, const void *w, size_t w_stride,              \
                     const void *a, size_t a_stride, int nw, int na) {                              \
        while (na > 0) {                                                                            \
            int take = na < 4 ? na : 4;                                                             \
            GEMM_TAKE8(NAME)                                                                        \
            switch (take) {                                                                         \
            case 1: NAME##_na(n, s, s_stride, w, w_stride, a, a_stride, nw, 1); break;              \
            case 2: NAME##_na(n, s, s_stride, w, w_stride, a, a_stride, nw, 2); break;              \
            case 3: NAME##_na(n, s, s_stride, w, w_stride, a, a_stride, nw, 3); break;              \
            default: NAME##_na(n, s, s_stride, w, w_stride, a, a_stride, nw, 4); break;             \
            }                                                                                       \
            s += (size_t)take * s_stride;                                                           \
            a = (const uint8_t *)a + (size_t)take * a_stride;                                       \
            na -= take;                                                                             \
        }                                                                                           \
    }

/* The tile driver shared by the Q8_0 pairings: activation prep once per K-chunk of up to
 * PREP_MAX blocks, then each 8-row group of weights over the chunk; a row longer than one
 * chunk adds the chunks' partial sums in s. */
#define Q8_0_GEMM(NAME, GROUP, OFFSET)                                                             \
    static INLINE void NAME##_na(int n, float *s, size_t s_stride, const void *w, size_t w_stride,   \
                                 const void *a, size_t a_stride, int nw, const int na) {             \
        q8_0_prep prep;                                                                             \
        int nb = n / 32, ng = (nw + 7) / 8;                                                          \
        for (int b0 = 0; b0 < nb; b0 += PREP_MAX) {                                                 \
            int cnt = nb - b0 < PREP_MAX ? nb - b0 : PREP_MAX;                                       \
            prep_q8_0(&prep, a, a_stride, na, b0, cnt, OFFSET);                                      \
            for (int g = 0; g < ng; g++) {                                                          \
                const uint8_t *row[8];                                                               \
                group_rows(row, w, w_stride, g, nw);                                                \
                q8_0_acc ga;                                                                         \
                _Pragma("GCC unroll 8") for (int j = 0; j < na; j++)                                 \
                    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) ga.acc[j][k] = _mm512_setzero_ps(); \
                GROUP(&ga, row, &prep, a, a_stride, b0, cnt, na);                                    \
                int rows = nw - 8 * g < 8 ? nw - 8 * g : 8;                                          \
                _Pragma("GCC unroll 8") for (int j = 0; j < na; j++)                                 \
                    store_rows(s + (size_t)j * s_stride + 8 * g, q8_0_row_sums(ga.acc[j]), rows, b0 > 0); \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    GEMM_DISPATCH(NAME)

/* ---- Q8_0 x Q8_0 ----
 * Weight codes + 128 (unsigned) against signed activations; the 128 * sum(a) excess is the
 * start value -128 * sum(a) of each 4-element lane. */
static INLINE void q8_0_group(q8_0_acc *ga, const uint8_t *const row[8], const q8_0_prep *prep,
                              const uint8_t *a, size_t a_stride, int b0, int cnt, const int na) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < cnt; b++) {
        size_t off = (size_t)(b0 + b) * 34;
        __m512i q[4];
        interleave_8x32(row, off + 2, q);
#pragma GCC unroll 8
        for (int k = 0; k < 4; k++) q[k] = _mm512_xor_si512(q[k], bias);
        __m512 dw = row_scales_x2(row, off);
        q8_0_tile_block(ga, q, dw, prep, a, a_stride, b0, b, na);
    }
}

/* The 32-bit words at byte offset `off` of the 8 rows, as qword lane r = word of row r. */
static INLINE __m512i row_words_x8(const uint8_t *const row[8], size_t off) {
    __m256i v = _mm256_setr_epi32((int)rd_u32(row[0] + off), (int)rd_u32(row[1] + off), (int)rd_u32(row[2] + off),
                                  (int)rd_u32(row[3] + off), (int)rd_u32(row[4] + off), (int)rd_u32(row[5] + off),
                                  (int)rd_u32(row[6] + off), (int)rd_u32(row[7] + off));
    return _mm512_cvtepu32_epi64(v);
}

/* q + 16 where bit i of byte k of row r's qh (qword lane r of qh) is set, for byte i of
 * qword lane r of q. */
static INLINE __m512i fifth_bits(__m512i q, __m512i qh, const int k, __m512i bit, __m512i b4) {
    const long long lo = (long long)(0x0101010101010101ull * (uint64_t)k);
    const long long hi = (long long)(0x0101010101010101ull * (uint64_t)(8 + k));
    __m512i spread = _mm512_shuffle_epi8(qh, _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo));
    return _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(spread, bit), q, b4);
}

/* ---- Q5_0 x Q8_0 ----
 * As Q4_0 with a fifth bit: bit e of the row's qh is element e's, so the registers of
 * elements 0..7, 8..15, 16..23, 24..31 take byte 0, 1, 2, 3 of qh. vpshufb spreads that byte
 * over the row's 8 lanes, vptestmb picks bit i for lane i, and a masked add sets the 16.
 * Codes 0..31 unsigned; the -16 is the start value -16 * sum(a) of each 4-element lane. */
static INLINE void q5_0_group(q8_0_acc *ga, const uint8_t *const row[8], const q8_0_prep *prep,
                              const uint8_t *a, size_t a_stride, int b0, int cnt, const int na) {
    const __m512i m4 = _mm512_set1_epi8(15), b4 = _mm512_set1_epi8(16);
    const __m512i bit = _mm512_set1_epi64(0x8040201008040201ll);
    for (int b = 0; b < cnt; b++) {
        size_t off = (size_t)(b0 + b) * 22;
        __m512i lo, hi;
        interleave_8x16(row, off + 6, &lo, &hi);
        __m512i q[4] = {_mm512_and_si512(lo, m4), _mm512_and_si512(hi, m4),
                        _mm512_and_si512(_mm512_srli_epi16(lo, 4), m4), _mm512_and_si512(_mm512_srli_epi16(hi, 4), m4)};
        __m512i qh = row_words_x8(row, off + 2);
        q[0] = fifth_bits(q[0], qh, 0, bit, b4);
        q[1] = fifth_bits(q[1], qh, 1, bit, b4);
        q[2] = fifth_bits(q[2], qh, 2, bit, b4);
        q[3] = fifth_bits(q[3], qh, 3, bit, b4);
        __m512 dw = row_scales_x2(row, off);
        q8_0_tile_block(ga, q, dw, prep, a, a_stride, b0, b, na);
    }
}

Q8_0_GEMM(tiles_q4_0, q4_0_group, 8)
Q8_0_GEMM(tiles_q5_0, q5_0_group, 16)
Q8_0_GEMM(tiles_q8_0, q8_0_group, 128)

/* ======================= K-quants x Q8_K =======================
 * Q8_K activation prep: per activation row and super-block, the f32 scale and the 16 bsums
 * folded to the 8 per-32 sums (Q4_K / Q5_K mins) — or kept (Q6_K). */

#define KPREP_MAX 64 /* super-blocks prepared at once (16384 elements) */

typedef struct {
    float d[GEMM_MAX_NA][KPREP_MAX];
    /* per-32 sums B0..B7, then the same with the dword pairs swapped: B2 B3 B0 B1 B6 B7 B4 B5 */
    int16_t bsum32[GEMM_MAX_NA][KPREP_MAX][16];
} q8_k_prep;

static INLINE void prep_q8_k(q8_k_prep *p, const uint8_t *a, size_t a_stride, int na, int b0, int cnt) {
    for (int j = 0; j < na; j++) {
        const uint8_t *blk = a + (size_t)j * a_stride + (size_t)b0 * 292;
        for (int b = 0; b < cnt; b++, blk += 292) {
            p->d[j][b] = q8_k_d(blk);
            __m128i s = _mm_hadd_epi16(loadu128(blk + 260), loadu128(blk + 276));
            _mm_storeu_si128((__m128i *)p->bsum32[j][b], s);
            _mm_storeu_si128((__m128i *)(p->bsum32[j][b] + 8), _mm_shuffle_epi32(s, 0xb1));
        }
    }
}

/* Per super-block and 8-row group, the scales of a Q4_K / Q5_K block rearranged for the
 * tile: the accumulator of a 64-element chunk holds, per 128-bit lane l, rows 2l and 2l+1
 * twice (dwords [2l, 2l+1, 2l, 2l+1], first for the low-nibble sub-block, then the high). */
typedef struct {
    __m512i sc[4];    /* int16 pairs (sc, sc) per dword: the two sub-block scales of chunk c */
    __m512i mins[2];  /* int16 pairs (m[s], m[s+1]) matching the broadcast bsum32 pairs */
    __m512 d, dmin;   /* f32 super-scales per dword */
} k4_scales;

/* The 16 header bytes (d, dmin, 12 scale bytes) of 8 rows, unpacked. vpunpck{l,h}dq of the
 * even and odd rows give, per 128-bit lane l, dwords [h(2l), h(2l+1)] of header words 0..3. */
static INLINE void k4_unpack_scales(k4_scales *ks, const uint8_t *const row[8], size_t off) {
    __m512i even = lanes4(row[0] + off, row[2] + off, row[4] + off, row[6] + off);
    __m512i odd = lanes4(row[1] + off, row[3] + off, row[5] + off, row[7] + off);
    __m512i t0 = _mm512_unpacklo_epi32(even, odd); /* [D(2l), D(2l+1), W0(2l), W0(2l+1)] */
    __m512i t1 = _mm512_unpackhi_epi32(even, odd); /* [W1(2l), W1(2l+1), W2(2l), W2(2l+1)] */
    __m512i w0 = _mm512_shuffle_epi32(t0, _MM_PERM_DCDC);
    __m512i w1 = _mm512_shuffle_epi32(t1, _MM_PERM_BABA);
    __m512i w2 = _mm512_shuffle_epi32(t1, _MM_PERM_DCDC);
    const __m512i m6 = _mm512_set1_epi8(0x3f), m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x03);
    /* doc/formats.md#k-quant-scales: scales 0..3 = w0 & 63, 4..7 = (w2 & 15) | (w0 >> 6) << 4;
     * mins from w1 likewise */
    __m512i sc_lo = _mm512_and_si512(w0, m6);
    __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(w2, m4),
                                    _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w0, 6), m2), 4));
    __m512i mn_lo = _mm512_and_si512(w1, m6);
    __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 4), m4),
                                    _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w1, 6), m2), 4));
    /* per lane: bytes [x(2l) 0..3, x(2l+1) 0..3, x(2l) 4..7, x(2l+1) 4..7] */
    __m512i sc8 = _mm512_mask_blend_epi32(0xcccc, sc_lo, sc_hi);
    __m512i mn8 = _mm512_mask_blend_epi32(0xcccc, mn_lo, mn_hi);
    /* byte of sub-block s of row 2l + rho in sc8 / mn8 */
#define K4_AT(s, rho) ((s) < 4 ? 4 * (rho) + (s) : 8 + 4 * (rho) + (s) - 4)
#define K4_PAIR(s, rho) (int)((unsigned)K4_AT(s, rho) | 0x80u << 8 | (unsigned)K4_AT(s, rho) << 16 | 0x80u << 24)
    for (int c = 0; c < 4; c++) {
        __m128i idx = _mm_setr_epi32(K4_PAIR(2 * c, 0), K4_PAIR(2 * c, 1), K4_PAIR(2 * c + 1, 0), K4_PAIR(2 * c + 1, 1));
        ks->sc[c] = _mm512_shuffle_epi8(sc8, _mm512_broadcast_i32x4(idx));
    }
    /* dword i of a lane multiplies bsum32 pair i of the broadcast (mins[0]: B0B1 B2B3 B4B5
     * B6B7; mins[1]: B2B3 B0B1 B6B7 B4B5) and belongs to row 2l (i even) or 2l+1 (i odd) */
#define K4_MPAIR(s, rho) (int)((unsigned)K4_AT(s, rho) | 0x80u << 8 | (unsigned)K4_AT((s) + 1, rho) << 16 | 0x80u << 24)
    ks->mins[0] = _mm512_shuffle_epi8(mn8, _mm512_broadcast_i32x4(_mm_setr_epi32(K4_MPAIR(0, 0), K4_MPAIR(2, 1), K4_MPAIR(4, 0), K4_MPAIR(6, 1))));
    ks->mins[1] = _mm512_shuffle_epi8(mn8, _mm512_broadcast_i32x4(_mm_setr_epi32(K4_MPAIR(2, 0), K4_MPAIR(0, 1), K4_MPAIR(6, 0), K4_MPAIR(4, 1))));
#undef K4_MPAIR
#undef K4_PAIR
#undef K4_AT
    /* d and dmin: halves [d(2l), d(2l+1), d(2l), d(2l+1), dmin(2l), dmin(2l+1), dmin(2l), dmin(2l+1)] per lane */
    __m512i h = _mm512_shuffle_epi8(t0, _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 4, 5, 0, 1, 4, 5, 2, 3, 6, 7, 2, 3, 6, 7)));
    __m512 f0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h)), f1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
    ks->d = _mm512_permutex2var_ps(f0, _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), f1);
    ks->dmin = _mm512_permutex2var_ps(f0, _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31), f1);
}

/* 16 int32 lanes of x and y (each |v| < 2^15) as int16, then times the int16 pairs of sc:
 * the chunk's two sub-block dots weighted by their scales, per the lane layout above. */
static INLINE __m512i scale_subblocks(__m512i x, __m512i y, __m512i sc) {
    return _mm512_madd_epi16(_mm512_packs_epi32(x, y), sc);
}

/* ---- Q4_K x Q8_K ----
 * Chunk c (64 elements) of a super-block: its 32 qs bytes serve sub-block 2c (low nibbles)
 * and 2c+1 (high). Per activation row the two sub-block dots (16 elements per lane, < 2^15
 * in magnitude) are packed to int16 and weighted by their 6-bit scales in one vpmaddwd. The
 * min term, dmin * sum_s m[s] * bsum32[s], takes two more vpmaddwd per super-block. */
/* Q4_K / Q5_K: sum_j m_j * bsum_j of block b for each activation row (per dword lane
 * pair, as float), the part the mins take off. */
static INLINE void k4_min_sums(__m512 mins[GEMM_MAX_NA], const k4_scales *ks, const q8_k_prep *prep, int b,
                               const int na) {
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) {
        const int16_t *bs = prep->bsum32[j][b];
        mins[j] = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_madd_epi16(ks->mins[0], bcast128((const uint8_t *)bs)),
                                                      _mm512_madd_epi16(ks->mins[1], bcast128((const uint8_t *)(bs + 8)))));
    }
}

static INLINE void q4_k_group(group_acc *ga, const uint8_t *const row[8], const q8_k_prep *prep,
                              const uint8_t *a, size_t a_stride, int b0, int cnt, const int na) {
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int b = 0; b < cnt; b++) {
        size_t off = (size_t)(b0 + b) * 144;
        k4_scales ks;
        k4_unpack_scales(&ks, row, off);
        __m512i isum[GEMM_MAX_NA];
        __m512 mins[GEMM_MAX_NA];
        k4_min_sums(mins, &ks, prep, b, na);
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) isum[j] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i z[4];
            interleave_8x32(row, off + 16 + 32 * c, z);
            __m512i lo[4], hi[4];
#pragma GCC unroll 8
            for (int k = 0; k < 4; k++) {
                lo[k] = _mm512_and_si512(z[k], m4);
                hi[k] = _mm512_and_si512(_mm512_srli_epi16(z[k], 4), m4);
            }
#pragma GCC unroll 8
            for (int j = 0; j < na; j++) {
                const uint8_t *aq = a + (size_t)j * a_stride + (size_t)(b0 + b) * 292 + 4 + 64 * c;
                __m512i x = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[0], bcast64(aq));
                __m512i y = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], bcast64(aq + 32));
                x = _mm512_dpbusd_epi32(x, lo[1], bcast64(aq + 8));
                y = _mm512_dpbusd_epi32(y, hi[1], bcast64(aq + 40));
                x = _mm512_dpbusd_epi32(x, lo[2], bcast64(aq + 16));
                y = _mm512_dpbusd_epi32(y, hi[2], bcast64(aq + 48));
                x = _mm512_dpbusd_epi32(x, lo[3], bcast64(aq + 24));
                y = _mm512_dpbusd_epi32(y, hi[3], bcast64(aq + 56));
                isum[j] = _mm512_add_epi32(isum[j], scale_subblocks(x, y, ks.sc[c]));
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) {
            __m512 da = _mm512_set1_ps(prep->d[j][b]);
            ga->acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[j]), _mm512_mul_ps(ks.d, da), ga->acc[j]);
            ga->acc[j] = _mm512_fnmadd_ps(mins[j], _mm512_mul_ps(ks.dmin, da), ga->acc[j]);
        }
    }
}

/* Sum the four dwords [row 2l, row 2l+1, row 2l, row 2l+1] of each lane and store the first
 * nw of the 8 row results (or add them to s). */
static INLINE void store_rows_k(float *s, __m512 acc, int nw, bool add) {
    __m512 pair = _mm512_add_ps(acc, _mm512_permute_ps(acc, 0x4e)); /* dword i + dword i^2 */
    __m256 r = _mm512_castps512_ps256(_mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 0, 0, 0, 0, 0, 0, 0, 0), pair));
    __mmask8 k = (__mmask8)((1u << nw) - 1);
    if (add) r = _mm256_add_ps(r, _mm256_maskz_loadu_ps(k, s));
    _mm256_mask_storeu_ps(s, k, r);
}

#define Q8_K_GEMM(NAME, GROUP, PREP_T, PREP)                                                         \
    static INLINE void NAME##_na(int n, float *s, size_t s_stride, const void *w, size_t w_stride,   \
                                 const void *a, size_t a_stride, int nw, const int na) {             \
        PREP_T prep;                                                                                \
        int nb = n / QK_K, ng = (nw + 7) / 8;                                                        \
        for (int b0 = 0; b0 < nb; b0 += KPREP_MAX) {                                                \
            int cnt = nb - b0 < KPREP_MAX ? nb - b0 : KPREP_MAX;                                     \
            PREP(&prep, a, a_stride, na, b0, cnt);                                                   \
            for (int g = 0; g < ng; g++) {                                                          \
                const uint8_t *row[8];                                                               \
                group_rows(row, w, w_stride, g, nw);                                                \
                group_acc ga;                                                                        \
                _Pragma("GCC unroll 8") for (int j = 0; j < na; j++) ga.acc[j] = _mm512_setzero_ps(); \
                GROUP(&ga, row, &prep, a, a_stride, b0, cnt, na);                                    \
                int rows = nw - 8 * g < 8 ? nw - 8 * g : 8;                                          \
                _Pragma("GCC unroll 8") for (int j = 0; j < na; j++)                                 \
                    store_rows_k(s + (size_t)j * s_stride + 8 * g, ga.acc[j], rows, b0 > 0);         \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    GEMM_DISPATCH(NAME)

/* ---- Q5_K x Q8_K ----
 * Q4_K plus the fifth bits: bit 2c (2c+1) of qh[l] belongs to element l of the low (high)
 * nibble sub-block of chunk c; qh is interleaved like the codes, and each bit is moved to
 * bit 4 by a shift and merged with vpternlogd (select by the 0x0f mask). Codes reach 31, so
 * each sub-block dot is split in two halves of 8 elements per lane to stay below 2^15. */
static INLINE __m512i select_low_nibble(__m512i low, __m512i high) {
    return _mm512_ternarylogic_epi32(low, high, _mm512_set1_epi8(15), 0xe4); /* m ? low : high */
}

static INLINE __m512i bit_to_b4(__m512i h, const int bitpos) {
    __m512i t = bitpos < 4 ? _mm512_slli_epi16(h, 4 - bitpos) : bitpos > 4 ? _mm512_srli_epi16(h, bitpos - 4) : h;
    return _mm512_and_si512(t, _mm512_set1_epi8(16));
}

static INLINE void q5_k_group(group_acc *ga, const uint8_t *const row[8], const q8_k_prep *prep,
                              const uint8_t *a, size_t a_stride, int b0, int cnt, const int na) {
    for (int b = 0; b < cnt; b++) {
        size_t off = (size_t)(b0 + b) * 176;
        k4_scales ks;
        k4_unpack_scales(&ks, row, off);
        __m512i qh[4];
        interleave_8x32(row, off + 16, qh);
        __m512i isum[GEMM_MAX_NA];
        __m512 mins[GEMM_MAX_NA];
        k4_min_sums(mins, &ks, prep, b, na);
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) isum[j] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++) {
            __m512i z[4];
            interleave_8x32(row, off + 48 + 32 * c, z);
            __m512i lo[4], hi[4];
#pragma GCC unroll 8
            for (int k = 0; k < 4; k++) {
                lo[k] = select_low_nibble(z[k], bit_to_b4(qh[k], 2 * c));
                hi[k] = select_low_nibble(_mm512_srli_epi16(z[k], 4), bit_to_b4(qh[k], 2 * c + 1));
            }
#pragma GCC unroll 8
            for (int j = 0; j < na; j++) {
                const uint8_t *aq = a + (size_t)j * a_stride + (size_t)(b0 + b) * 292 + 4 + 64 * c;
                __m512i x0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[0], bcast64(aq));
                __m512i y0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], bcast64(aq + 32));
                __m512i x1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[2], bcast64(aq + 16));
                __m512i y1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[2], bcast64(aq + 48));
                x0 = _mm512_dpbusd_epi32(x0, lo[1], bcast64(aq + 8));
                y0 = _mm512_dpbusd_epi32(y0, hi[1], bcast64(aq + 40));
                x1 = _mm512_dpbusd_epi32(x1, lo[3], bcast64(aq + 24));
                y1 = _mm512_dpbusd_epi32(y1, hi[3], bcast64(aq + 56));
                isum[j] = _mm512_add_epi32(isum[j], _mm512_add_epi32(scale_subblocks(x0, y0, ks.sc[c]),
                                                                     scale_subblocks(x1, y1, ks.sc[c])));
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) {
            __m512 da = _mm512_set1_ps(prep->d[j][b]);
            ga->acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[j]), _mm512_mul_ps(ks.d, da), ga->acc[j]);
            ga->acc[j] = _mm512_fnmadd_ps(mins[j], _mm512_mul_ps(ks.dmin, da), ga->acc[j]);
        }
    }
}

/* ---- Q6_K x Q8_K ----
 * Unsigned codes 0..63 (low4 | high2 << 4); the -32 offset is -32 * sum_s sc[s] * bsums[s],
 * added through four vpmaddwd per super-block. Sub-blocks are 16 elements (two registers);
 * a single vpdpbusd lane (4 elements, < 63 * 127 * 4) fits int16, so every register's dot
 * starts fresh and two are packed per vpmaddwd with their sub-block's signed 8-bit scale. */
typedef struct {
    __m512i sc[16];  /* int16 pairs (sc, sc) of sub-block s per dword [row 2l, 2l+1, 2l, 2l+1] */
    __m512i corr[4]; /* -32 * scale pairs matching the broadcast bsum pairs of prep bsp */
    __m512 d;
} k6_scales;

typedef struct {
    float d[GEMM_MAX_NA][KPREP_MAX];
    /* bsum pairs P0..P7 (P_i = bsums 2i, 2i+1) arranged P0 P0 P1 P1 | P2 P2 P3 P3 | ... */
    int16_t bsp[GEMM_MAX_NA][KPREP_MAX][32];
} q8_k6_prep;

static INLINE void prep_q8_k6(q8_k6_prep *p, const uint8_t *a, size_t a_stride, int na, int b0, int cnt) {
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (int j = 0; j < na; j++) {
        const uint8_t *blk = a + (size_t)j * a_stride + (size_t)b0 * 292;
        for (int b = 0; b < cnt; b++, blk += 292) {
            p->d[j][b] = q8_k_d(blk);
            _mm512_storeu_si512(p->bsp[j][b], _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(loadu256(blk + 260))));
        }
    }
}

/* f32 of the f16 at `off` of the 8 rows, laid out [row 2l, 2l+1, 2l, 2l+1] per lane. */
static INLINE __m512 row_scales_k(const uint8_t *const row[8], size_t off) {
    uint64_t lo = (uint64_t)rd_u16(row[0] + off) | (uint64_t)rd_u16(row[1] + off) << 16 |
                  (uint64_t)rd_u16(row[2] + off) << 32 | (uint64_t)rd_u16(row[3] + off) << 48;
    uint64_t hi = (uint64_t)rd_u16(row[4] + off) | (uint64_t)rd_u16(row[5] + off) << 16 |
                  (uint64_t)rd_u16(row[6] + off) << 32 | (uint64_t)rd_u16(row[7] + off) << 48;
    __m256 d = _mm256_cvtph_ps(_mm_unpacklo_epi64(_mm_cvtsi64_si128((long long)lo), _mm_cvtsi64_si128((long long)hi)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7),
                                 _mm512_castps256_ps512(d));
}

static INLINE void k6_unpack_scales(k6_scales *ks, const uint8_t *const row[8], size_t off) {
    __m512i lo, hi; /* per lane l: [sc(2l, 0..7), sc(2l+1, 0..7)] and the same for 8..15 */
    {
        __m512i even = lanes4(row[0] + off + 192, row[2] + off + 192, row[4] + off + 192, row[6] + off + 192);
        __m512i odd = lanes4(row[1] + off + 192, row[3] + off + 192, row[5] + off + 192, row[7] + off + 192);
        lo = _mm512_unpacklo_epi64(even, odd);
        hi = _mm512_unpackhi_epi64(even, odd);
    }
    /* regroup to [sc(2l, 4t..4t+3), sc(2l+1, 4t..4t+3)] for t = 0, 1 (2, 3 in hi), then sign-extend
     * in-lane by interleaving with the sign bytes */
    const __m512i regroup = bcast128((const uint8_t *)"\x00\x01\x02\x03\x08\x09\x0a\x0b\x04\x05\x06\x07\x0c\x0d\x0e\x0f");
    lo = _mm512_shuffle_epi8(lo, regroup);
    hi = _mm512_shuffle_epi8(hi, regroup);
    __m512i slo = _mm512_movm_epi8(_mm512_movepi8_mask(lo)), shi = _mm512_movm_epi8(_mm512_movepi8_mask(hi));
    __m512i w[4] = {_mm512_unpacklo_epi8(lo, slo), _mm512_unpackhi_epi8(lo, slo),
                    _mm512_unpacklo_epi8(hi, shi), _mm512_unpackhi_epi8(hi, shi)};
    /* w[t] words per lane: sc(2l, 4t..4t+3), sc(2l+1, 4t..4t+3) */
    static const uint8_t pick[4][16] = {
        {0, 1, 0, 1, 8, 9, 8, 9, 0, 1, 0, 1, 8, 9, 8, 9},
        {2, 3, 2, 3, 10, 11, 10, 11, 2, 3, 2, 3, 10, 11, 10, 11},
        {4, 5, 4, 5, 12, 13, 12, 13, 4, 5, 4, 5, 12, 13, 12, 13},
        {6, 7, 6, 7, 14, 15, 14, 15, 6, 7, 6, 7, 14, 15, 14, 15},
    };
#pragma GCC unroll 16
    for (int sub = 0; sub < 16; sub++) ks->sc[sub] = _mm512_shuffle_epi8(w[sub / 4], bcast128(pick[sub % 4]));
#pragma GCC unroll 8
    for (int t = 0; t < 4; t++)
        ks->corr[t] = _mm512_sub_epi16(_mm512_setzero_si512(),
                                       _mm512_slli_epi16(_mm512_shuffle_epi32(w[t], (_MM_PERM_ENUM)0xd8), 5));
    ks->d = row_scales_k(row, off + 208);
}

static INLINE void q6_k_group(group_acc *ga, const uint8_t *const row[8], const q8_k6_prep *prep,
                              const uint8_t *a, size_t a_stride, int b0, int cnt, const int na) {
    const __m512i m30 = _mm512_set1_epi8(0x30);
    for (int b = 0; b < cnt; b++) {
        size_t off = (size_t)(b0 + b) * 210;
        k6_scales ks;
        k6_unpack_scales(&ks, row, off);
        __m512i isum[GEMM_MAX_NA];
#pragma GCC unroll 8
        for (int j = 0; j < na; j++) {
            const uint8_t *bp = (const uint8_t *)prep->bsp[j][b];
            __m512i c0 = _mm512_add_epi32(_mm512_madd_epi16(ks.corr[0], bcast128(bp)), _mm512_madd_epi16(ks.corr[1], bcast128(bp + 16)));
            __m512i c1 = _mm512_add_epi32(_mm512_madd_epi16(ks.corr[2], bcast128(bp + 32)), _mm512_madd_epi16(ks.corr[3], bcast128(bp + 48)));
            isum[j] = _mm512_add_epi32(c0, c1);
        }
        for (int h = 0; h < 2; h++) {
            __m512i ql0[4], ql1[4], qh[4];
            interleave_8x32(row, off + 64 * h, ql0);
            interleave_8x32(row, off + 64 * h + 32, ql1);
            interleave_8x32(row, off + 128 + 32 * h, qh);
#pragma GCC unroll 8
            for (int g = 0; g < 4; g++) {
                __m512i q[4];
#pragma GCC unroll 8
                for (int k = 0; k < 4; k++) {
                    __m512i low = g == 0 ? ql0[k] : g == 1 ? ql1[k] : g == 2 ? _mm512_srli_epi16(ql0[k], 4) : _mm512_srli_epi16(ql1[k], 4);
                    __m512i high = g == 0 ? _mm512_slli_epi16(qh[k], 4) : g == 1 ? _mm512_slli_epi16(qh[k], 2)
                                 : g == 2 ? qh[k] : _mm512_srli_epi16(qh[k], 2);
                    q[k] = select_low_nibble(low, _mm512_and_si512(high, m30));
                }
#pragma GCC unroll 8
                for (int j = 0; j < na; j++) {
                    const uint8_t *aq = a + (size_t)j * a_stride + (size_t)(b0 + b) * 292 + 4 + 128 * h + 32 * g;
                    __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], bcast64(aq));
                    __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[1], bcast64(aq + 8));
                    __m512i d2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2], bcast64(aq + 16));
                    __m512i d3 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[3], bcast64(aq + 24));
                    isum[j] = _mm512_add_epi32(isum[j], _mm512_add_epi32(_mm512_madd_epi16(_mm512_packs_epi32(d0, d1), ks.sc[8 * h + 2 * g]),
                                                                         _mm512_madd_epi16(_mm512_packs_epi32(d2, d3), ks.sc[8 * h + 2 * g + 1])));
                }
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < na; j++)
            ga->acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[j]), _mm512_mul_ps(ks.d, _mm512_set1_ps(prep->d[j][b])), ga->acc[j]);
    }
}

Q8_K_GEMM(gemm_q4_k, q4_k_group, q8_k_prep, prep_q8_k)
Q8_K_GEMM(gemm_q5_k, q5_k_group, q8_k_prep, prep_q8_k)
Q8_K_GEMM(gemm_q6_k, q6_k_group, q8_k6_prep, prep_q8_k6)

/* ======================= row dot =======================
 * The Q4_0 vec_dot (the matmul driver uses the tiles and the decode path below; this order
 * is not llama.cpp's). Two 32-element blocks per 512-bit register: 128-bit lane 0 holds block b's elements 0..15,
 * lane 1 its 16..31, lanes 2-3 block b+1. Block sums stay in their own 8 int32 lanes and are
 * scaled by a vector holding each block's scale product in its half. */

/* [f(p0) x 8, f(p1) x 8] from the f16 table: broadcast loads only. */
static INLINE __m512 scale_pair(const uint8_t *p0, const uint8_t *p1) {
    __m512 v = _mm512_set1_ps(kernel_fp16_table[rd_u16(p0)]);
    return _mm512_mask_broadcastss_ps(v, 0xff00, _mm_load_ss(&kernel_fp16_table[rd_u16(p1)]));
}

/* [16 bytes at p0 twice, 16 bytes at p1 twice] as nibbles: lane 0 = p0 & 15, lane 1 = p0 >> 4. */
static INLINE __m512i nibbles64(const uint8_t *p0, const uint8_t *p1) {
    __m512i v = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(loadu128(p0)), 0xff00, loadu128(p1));
    v = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(v, _mm512_set1_epi8(15));
}

/* The 32 activation codes of two Q8_0 blocks. */
static INLINE __m512i act64(const uint8_t *a0, const uint8_t *a1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(a0)), loadu256(a1), 1);
}

static void vec_dot_q4_0(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x, *a = y;
    const __m512i eight = _mm512_set1_epi8(8);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int nb = n / 32, b = 0;
    for (; b + 4 <= nb; b += 4, w += 72, a += 136) {
        __m512i a01 = act64(a + 2, a + 36), a23 = act64(a + 70, a + 104);
        __m512i s01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), nibbles64(w + 2, w + 20), a01);
        __m512i s23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), nibbles64(w + 38, w + 56), a23);
        s01 = _mm512_sub_epi32(s01, _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a01));
        s23 = _mm512_sub_epi32(s23, _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, a23));
        __m512 d01 = _mm512_mul_ps(scale_pair(w, w + 18), scale_pair(a, a + 34));
        __m512 d23 = _mm512_mul_ps(scale_pair(w + 36, w + 54), scale_pair(a + 68, a + 102));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s01), d01, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s23), d23, acc1);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; b < nb; b++, w += 18, a += 34) { /* the last 1..3 blocks: the scalar kernel's arithmetic */
        float t;
        vec_dot_q4_0_q8_0(32, &t, w, a);
        sum += t;
    }
    *s = sum;
}

/* ======================= decode: one activation row =======================
 * Decode reads every weight once and is bound by memory; what matters is that the weight
 * rows stream in at the machine's bandwidth. The tiles' 8-row interleave (which pays off
 * when a weight register serves many activation rows) only costs shuffles here. How many
 * rows to keep in flight depends on their length. Measured on a 2-core Sapphire Rapids-class
 * VM (GB/s of weights, 2 threads, matrices far larger than the caches, a noisy machine):
 *   rows of ~1.2 KB (Q8_0 x 1152, Q6_K x 1536): 8 rows in flight  9.0 / 6.0,
 *                                               1-2 rows           11.4 / 10.8
 *   rows of 7-10 KB (Q8_0 x 6912, Q6_K x 12288): 8 rows  13.4 / 14.0,  1-2 rows  12.4 / 11.6
 * Short rows read one after the other (or, for the Q8_0 pairings, two adjacent ones) form a
 * single sequential stream, which the hardware prefetcher follows and a software prefetch a
 * fixed distance ahead keeps ahead of the loads; with 8 short rows in flight the 8 streams
 * sit a row apart and each row's prefetch lands in the next row, already being read. Long
 * rows are long streams of their own, and 8 of them keep more misses in flight. So rows of
 * at least DEC_LONG bytes go 8 at a time. Prefetch: T0 beats T1/T2 and NTA.
 * The activation row is prepared once per call and stays in L1.
 *
 * ---- the Q8_0 pairings ----
 * Each row keeps its own 8 lanes in llama.cpp's order (lane m = elements 4m..4m+3 of every
 * block, dword m of a 256-bit half), two rows per 512-bit register: row g in the low half,
 * g+1 in the high half, its 32 codes in element order. The activation block is broadcast to
 * both halves with its offset correction (the start value -c * sum(a) of each lane, as in
 * the tiles) and scale, prepared once per call for rows up to PREP_MAX blocks. */

#define DEC_AHEAD 2048      /* bytes each row is prefetched ahead (Q8_0 pairings) */
#define DEC_LONG 6144       /* rows of at least this many bytes go 8 at a time ... */
#define DEC_AHEAD_LONG 1024 /* ... and the Q8_0 pairings then prefetch this far ahead */

/* Q4_0 codes 0..15 of the blocks at p0 (low half) and p1 (high half). */
static INLINE __m512i q4_0_pair(const uint8_t *p0, const uint8_t *p1) { return nibbles64(p0 + 2, p1 + 2); }

/* Q8_0 codes + 128 (unsigned) of the two blocks. */
static INLINE __m512i q8_0_pair(const uint8_t *p0, const uint8_t *p1) {
    return _mm512_xor_si512(act64(p0 + 2, p1 + 2), _mm512_set1_epi8((char)0x80));
}

/* Q5_0 codes 0..31: the nibbles plus 16 where bit e of the block's qh is set. Each half
 * holds its qh in every dword; vpshufb spreads byte e / 8 over bytes e (in-lane: the low
 * 128 bits take qh bytes 0, 1, the high ones 2, 3), and vptestmb picks bit e % 8. */
static INLINE __m512i q5_0_pair(const uint8_t *p0, const uint8_t *p1) {
    __m512i q = nibbles64(p0 + 6, p1 + 6);
    __m512i qh = _mm512_mask_set1_epi32(_mm512_set1_epi32((int)rd_u32(p0 + 2)), 0xff00, (int)rd_u32(p1 + 2));
    const __m512i spread = _mm512_setr_epi64(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll,
                                             0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll);
    __mmask64 set = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, spread), _mm512_set1_epi64(0x8040201008040201ll));
    return _mm512_mask_add_epi8(q, set, q, _mm512_set1_epi8(16));
}

/* Each 256-bit half of acc summed ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)) into its
 * lane 0 (float addition commutes, so only the grouping matters). */
static INLINE __m512 halves_llama_sum(__m512 acc) {
    __m512 t = _mm512_add_ps(acc, _mm512_shuffle_f32x4(acc, acc, 0xb1)); /* l_i + l_i+4 */
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4e));                     /* (l0+l4)+(l2+l6), .. */
    return _mm512_add_ps(t, _mm512_permute_ps(t, 0xb1));
}

/* The activation row's scales and offset corrections (as in the tiles' prep), once per call. */
typedef struct {
    float d[PREP_MAX];
    int32_t init[PREP_MAX][8];
} q8_0_prep1;

static INLINE void prep1_q8_0(q8_0_prep1 *p, const uint8_t *a, int nb, int c) {
    const __m256i cc = _mm256_set1_epi8((char)c);
    for (int b = 0; b < nb; b += 16) _mm512_storeu_ps(&p->d[b], block_scales16(a + 34 * b, 34, nb - b));
    for (int b = 0; b < nb; b++) {
        __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), cc, loadu256(a + 34 * b + 2));
        _mm256_storeu_si256((__m256i *)p->init[b], _mm256_sub_epi32(_mm256_setzero_si256(), sums));
    }
}

/* Rows row[0..2P) (pairs in the two halves of P accumulators; the first `rows` are stored),
 * block by block, with the activation's corrections and scales from prep or, for rows
 * longer than prep holds (prep NULL), computed here. */
static INLINE void q8_0_decode_rows(const int P, int nb, float *s, const uint8_t *const row[8], int rows,
                                    const uint8_t *a, const q8_0_prep1 *prep, const int wsize, const int offset,
                                    __m512i (*pair)(const uint8_t *, const uint8_t *)) {
    const __m512i cc = _mm512_set1_epi8((char)offset);
    const int ahead = P == 1 ? DEC_AHEAD : DEC_AHEAD_LONG;
    __m512 acc[4];
#pragma GCC unroll 4
    for (int i = 0; i < P; i++) acc[i] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++, a += 34) {
        size_t off = (size_t)b * (size_t)wsize;
        __m512i av = _mm512_broadcast_i64x4(loadu256(a + 2)), init;
        __m512 da;
        if (prep) {
            init = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)prep->init[b]));
            da = _mm512_set1_ps(prep->d[b]);
        } else {
            init = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), cc, av));
            da = _mm512_set1_ps(kernel_fp16_table[rd_u16(a)]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < P; i++) {
            const uint8_t *p0 = row[2 * i] + off, *p1 = row[2 * i + 1] + off;
            _mm_prefetch((const char *)p0 + ahead, _MM_HINT_T0);
            _mm_prefetch((const char *)p1 + ahead, _MM_HINT_T0);
            __m512i p = _mm512_dpbusd_epi32(init, pair(p0, p1), av);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(scale_pair(p0, p1), da), acc[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < P; i++) {
        __m512 t = halves_llama_sum(acc[i]);
        if (2 * i < rows) s[2 * i] = _mm512_cvtss_f32(t);
        if (2 * i + 1 < rows) s[2 * i + 1] = _mm512_cvtss_f32(_mm512_castps256_ps512(_mm512_extractf32x8_ps(t, 1)));
    }
}

/* Groups of 2 rows, or 8 for rows of at least DEC_LONG bytes (rows past nw repeat the group's
 * first, not stored), each with and without prep. */
static INLINE void q8_0_decode(int n, float *s, const uint8_t *w, size_t w_stride, const uint8_t *a, int nw,
                               const int wsize, const int offset, __m512i (*pair)(const uint8_t *, const uint8_t *)) {
    int nb = n / 32;
    bool long_rows = (size_t)nb * (size_t)wsize >= DEC_LONG;
    int R = long_rows ? 8 : 2;
    q8_0_prep1 prep;
    if (nb <= PREP_MAX) prep1_q8_0(&prep, a, nb, offset);
    for (int g = 0; g < nw; g += R) {
        const uint8_t *row[8];
        for (int r = 0; r < R; r++) row[r] = w + (size_t)(g + r < nw ? g + r : g) * w_stride;
        int rows = nw - g < R ? nw - g : R;
        if (long_rows) {
            if (nb <= PREP_MAX) q8_0_decode_rows(4, nb, s + g, row, rows, a, &prep, wsize, offset, pair);
            else q8_0_decode_rows(4, nb, s + g, row, rows, a, NULL, wsize, offset, pair);
        } else {
            if (nb <= PREP_MAX) q8_0_decode_rows(1, nb, s + g, row, rows, a, &prep, wsize, offset, pair);
            else q8_0_decode_rows(1, nb, s + g, row, rows, a, NULL, wsize, offset, pair);
        }
    }
}

#define Q8_0_DECODE(NAME, WSIZE, PAIR, OFFSET)                                                      \
    static void gemm_##NAME(int n, float *s, size_t s_stride, const void *w, size_t w_stride,       \
                            const void *a, size_t a_stride, int nw, int na) {                       \
        if (na == 1) q8_0_decode(n, s, w, w_stride, a, nw, WSIZE, OFFSET, PAIR);                    \
        else tiles_##NAME(n, s, s_stride, w, w_stride, a, a_stride, nw, na);                        \
    }

Q8_0_DECODE(q4_0, 18, q4_0_pair, 8)
Q8_0_DECODE(q5_0, 22, q5_0_pair, 16)
Q8_0_DECODE(q8_0, 34, q8_0_pair, 128)

/* ---- the K-quants ----
 * The 64 codes of one 512-bit register come in the order the block stores them, and the
 * prepared activation codes match:
 *  - Q4_K / Q5_K: qs bytes 0..63 (chunks 0, 1) give the low-nibble sub-blocks 0 | 2 in one
 *    register (halves) and the high-nibble 1 | 3 in another; bytes 64..127 likewise 4 | 6
 *    and 5 | 7, against activations [0..31 | 64..95], [32..63 | 96..127], ...
 *  - Q6_K: ql bytes 0..63 of half h give elements 128h + 0..63 (low nibbles) and
 *    128h + 64..127 (high), so the activation codes are used as they are.
 * vpdpbusd leaves each 4-element dot in its own int32 (|dot| <= 4 * 63 * 128 < 2^15, so its
 * low 16 bits are the dot as int16), and vpdpwssd against (scale, 0) word pairs weights it
 * by its sub-block's scale and adds it to the row's int32 lanes. Per super-block one
 * conversion and FMA (for Q4_K / Q5_K one more for the mins) move them to the row's f32
 * lanes, summed at the end of the row. Rows longer than KPREP_MAX super-blocks go in
 * K-chunks whose partial sums add up in s. */

#define KDEC_AHEAD 1024 /* bytes each row is prefetched ahead */

static INLINE __m512i loadu512(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }

/* [32 bytes at p0 | 32 bytes at p1] */
static INLINE __m512i halves(const uint8_t *p0, const uint8_t *p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(p0)), loadu256(p1), 1);
}

/* Prefetch the `size` bytes at p (one block of the row) KDEC_AHEAD bytes ahead. */
static INLINE void prefetch_block(const uint8_t *p, const int size) {
#pragma GCC unroll 4
    for (int o = 0; o < size; o += 64) _mm_prefetch((const char *)p + KDEC_AHEAD + o, _MM_HINT_T0);
}

/* The activation row prepared for the K-quant rows, per super-block: its scale, the bsums
 * in the form the min / offset term needs, and (Q4_K / Q5_K) the codes reordered. */
typedef struct {
    float d[KPREP_MAX];
    int32_t bs[KPREP_MAX][16];          /* Q4_K / Q5_K: 8 per-32 sums as int16; Q6_K: (-bsum, 0) word pairs */
    uint8_t q[KPREP_MAX][256] __attribute__((aligned(64))); /* Q4_K / Q5_K: codes in register order */
} kdec_prep;

static INLINE void kdec_prep_k4(kdec_prep *p, const uint8_t *a, int cnt) {
    for (int b = 0; b < cnt; b++, a += 292) {
        const uint8_t *q = a + 4;
        _mm512_store_si512((void *)p->q[b], halves(q, q + 64));
        _mm512_store_si512((void *)(p->q[b] + 64), halves(q + 32, q + 96));
        _mm512_store_si512((void *)(p->q[b] + 128), halves(q + 128, q + 192));
        _mm512_store_si512((void *)(p->q[b] + 192), halves(q + 160, q + 224));
        _mm_storeu_si128((__m128i *)p->bs[b], _mm_hadd_epi16(loadu128(a + 260), loadu128(a + 276)));
        p->d[b] = q8_k_d(a);
    }
}

static INLINE void kdec_prep_k6(kdec_prep *p, const uint8_t *a, int cnt) {
    for (int b = 0; b < cnt; b++, a += 292) {
        __m512i bs = _mm512_cvtepi16_epi32(loadu256(a + 260));
        bs = _mm512_and_si512(_mm512_sub_epi32(_mm512_setzero_si512(), bs), _mm512_set1_epi32(0xffff));
        _mm512_storeu_si512((void *)p->bs[b], bs);
        p->d[b] = q8_k_d(a);
    }
}

/* Q4_K / Q5_K: the 8 scales and the 8 mins of a super-block from its 12 packed bytes at q
 * (doc/formats.md#k-quant-scales), one byte per sub-block, in general-purpose registers. */
static INLINE void k4_scales_mins(const uint8_t *q, uint64_t *sc, uint64_t *mn) {
    uint32_t u0 = rd_u32(q), u1 = rd_u32(q + 4), u2 = rd_u32(q + 8);
    uint32_t sh = (u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4;
    uint32_t mh = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4;
    *sc = (u0 & 0x3f3f3f3fu) | (uint64_t)sh << 32;
    *mn = (u1 & 0x3f3f3f3fu) | (uint64_t)mh << 32;
}

/* vpshufb controls turning 8 scale bytes (in every qword) into (scale, 0) word pairs: sub-block
 * 0 | 2, 1 | 3, 4 | 6, 5 | 7 in the two halves, matching the code registers. */
#define K4_PICK(a, b) {(a) | 0x80808000u, (a) | 0x80808000u, (a) | 0x80808000u, (a) | 0x80808000u, \
                       (a) | 0x80808000u, (a) | 0x80808000u, (a) | 0x80808000u, (a) | 0x80808000u, \
                       (b) | 0x80808000u, (b) | 0x80808000u, (b) | 0x80808000u, (b) | 0x80808000u, \
                       (b) | 0x80808000u, (b) | 0x80808000u, (b) | 0x80808000u, (b) | 0x80808000u}
static const uint32_t k4_pick[4][16] __attribute__((aligned(64))) = {K4_PICK(0, 2), K4_PICK(1, 3), K4_PICK(4, 6), K4_PICK(5, 7)};
#undef K4_PICK

/* The scale-weighted sum of the four 4-element dot registers x[k], and the min term, into acc. */
static INLINE __m512 k4_finish(const uint8_t *p, const __m512i x[4], const kdec_prep *k, int b, __m512 acc) {
    uint64_t sc, mn;
    k4_scales_mins(p + 4, &sc, &mn);
    __m512i scv = _mm512_set1_epi64((long long)sc), isum = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        isum = _mm512_dpwssd_epi32(isum, x[i], _mm512_shuffle_epi8(scv, _mm512_load_si512((const void *)k4_pick[i])));
    __m128i m = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn)), loadu128((const uint8_t *)k->bs[b]));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(kernel_fp16_table[rd_u16(p)] * k->d[b]), acc);
    return _mm512_fnmadd_ps(_mm512_zextps128_ps512(_mm_cvtepi32_ps(m)),
                            _mm512_set1_ps(kernel_fp16_table[rd_u16(p + 2)] * k->d[b]), acc);
}

static INLINE __m512i kq(const kdec_prep *k, int b, int i) { return _mm512_load_si512((const void *)(k->q[b] + 64 * i)); }

/* Q4_K: d, dmin, 12 scale bytes, 128 qs bytes. */
static INLINE __m512 q4_k_row(const uint8_t *p, const uint8_t *a, const kdec_prep *k, int b, __m512 acc) {
    (void)a;
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i z0 = loadu512(p + 16), z1 = loadu512(p + 80), x[4];
    x[0] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(z0, m4), kq(k, b, 0));
    x[1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(z0, 4), m4), kq(k, b, 1));
    x[2] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(z1, m4), kq(k, b, 2));
    x[3] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(z1, 4), m4), kq(k, b, 3));
    return k4_finish(p, x, k, b, acc);
}

/* Q5_K: d, dmin, 12 scale bytes, 32 qh bytes, 128 qs bytes. Element l of sub-block s takes
 * bit s of qh[l] as its fifth bit: qh sits in both halves of a register and vptestmb picks
 * bit s (a different one per half) for a masked add of 16. */
static INLINE __m512i q5_k_bits(__m512i q, __m512i qh, int s0, int s1) {
    __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << s0)), _mm256_set1_epi8((char)(1 << s1)), 1);
    return _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(qh, bit), q, _mm512_set1_epi8(16));
}

static INLINE __m512 q5_k_row(const uint8_t *p, const uint8_t *a, const kdec_prep *k, int b, __m512 acc) {
    (void)a;
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i qh = _mm512_broadcast_i64x4(loadu256(p + 16));
    __m512i z0 = loadu512(p + 48), z1 = loadu512(p + 112), x[4];
    x[0] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q5_k_bits(_mm512_and_si512(z0, m4), qh, 0, 2), kq(k, b, 0));
    x[1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q5_k_bits(_mm512_and_si512(_mm512_srli_epi16(z0, 4), m4), qh, 1, 3), kq(k, b, 1));
    x[2] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q5_k_bits(_mm512_and_si512(z1, m4), qh, 4, 6), kq(k, b, 2));
    x[3] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q5_k_bits(_mm512_and_si512(_mm512_srli_epi16(z1, 4), m4), qh, 5, 7), kq(k, b, 3));
    return k4_finish(p, x, k, b, acc);
}

/* Q6_K: 128 ql bytes, 64 qh bytes, 16 signed scales, d. In half h, ql byte l (l < 64) holds
 * elements 128h + l (low nibble) and 128h + 64 + l (high); qh byte l % 32 of the half holds
 * their top two bits at bits 2 * (l / 32) and 4 + 2 * (l / 32). A per-qword rotate brings
 * them to bits 4-5 (left by 4 | 2 for the low nibbles, 0 | -2 for the high) and vpternlogd
 * merges them with the nibble. Codes are 0..63; the -32 comes from the bsums. */
static INLINE __m512 q6_k_row(const uint8_t *p, const uint8_t *a, const kdec_prep *k, int b, __m512 acc) {
    const __m512i m4 = _mm512_set1_epi8(15), m6 = _mm512_set1_epi8(63);
    const __m512i rot_lo = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), rot_hi = _mm512_setr_epi64(0, 0, 0, 0, 62, 62, 62, 62);
    /* (scale, 0) word pairs: 128-bit lane i of register v gets sub-block 4v + i */
    __m512i sc = _mm512_and_si512(_mm512_cvtepi8_epi32(loadu128(p + 192)), _mm512_set1_epi32(0xffff));
    __m512i isum = _mm512_slli_epi32(_mm512_dpwssd_epi32(_mm512_setzero_si512(), sc, loadu512((const uint8_t *)k->bs[b])), 5);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m512i ql = loadu512(p + 64 * h), qh = _mm512_broadcast_i64x4(loadu256(p + 128 + 32 * h));
        __m512i lo = _mm512_and_si512(_mm512_ternarylogic_epi32(ql, _mm512_rolv_epi64(qh, rot_lo), m4, 0xe4), m6);
        __m512i hi = _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), _mm512_rolv_epi64(qh, rot_hi), m4, 0xe4), m6);
        __m512i slo = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), sc);
        __m512i shi = _mm512_permutexvar_epi32(_mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), sc);
        if (h) {
            slo = _mm512_permutexvar_epi32(_mm512_setr_epi32(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11), sc);
            shi = _mm512_permutexvar_epi32(_mm512_setr_epi32(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15), sc);
        }
        const uint8_t *aq = a + 4 + (size_t)b * 292 + 128 * h;
        isum = _mm512_dpwssd_epi32(isum, _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, loadu512(aq)), slo);
        isum = _mm512_dpwssd_epi32(isum, _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, loadu512(aq + 64)), shi);
    }
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(kernel_fp16_table[rd_u16(p + 208)] * k->d[b]), acc);
}

/* The decode driver: per K-chunk of up to KPREP_MAX super-blocks the activation prep, then
 * the rows one after the other, or 8 at a time when a row has at least DEC_LONG bytes (rows
 * past nw repeat the group's first and are not stored). */
#define K_DECODE(NAME, BSIZE, PREP, ROW, TILES)                                                    \
    static INLINE void NAME##_rows(const int R, int cnt, float *s, const uint8_t *const row[8], int rows, \
                                   const uint8_t *ab, const kdec_prep *prep, bool add) {            \
        __m512 acc[8];                                                                              \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();           \
        for (int b = 0; b < cnt; b++) {                                                             \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                    \
                const uint8_t *p = row[r] + (size_t)b * (BSIZE);                                    \
                prefetch_block(p, BSIZE);                                                           \
                acc[r] = ROW(p, ab, prep, b, acc[r]);                                               \
            }                                                                                       \
        }                                                                                           \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                        \
            if (r >= rows) break;                                                                   \
            float sum = _mm512_reduce_add_ps(acc[r]);                                               \
            s[r] = add ? s[r] + sum : sum;                                                          \
        }                                                                                           \
    }                                                                                               \
    static void NAME(int n, float *s, const uint8_t *w, size_t w_stride, const uint8_t *a, int nw) { \
        kdec_prep prep;                                                                             \
        int nb = n / QK_K;                                                                          \
        bool long_rows = (size_t)nb * (BSIZE) >= DEC_LONG;                                          \
        for (int b0 = 0; b0 < nb; b0 += KPREP_MAX) {                                                \
            int cnt = nb - b0 < KPREP_MAX ? nb - b0 : KPREP_MAX;                                     \
            const uint8_t *ab = a + (size_t)b0 * 292;                                               \
            PREP(&prep, ab, cnt);                                                                   \
            const uint8_t *w0 = w + (size_t)b0 * (BSIZE);                                           \
            if (long_rows) {                                                                        \
                for (int g = 0; g < nw; g += 8) {                                                   \
                    const uint8_t *row[8];                                                          \
                    for (int r = 0; r < 8; r++) row[r] = w0 + (size_t)(g + r < nw ? g + r : g) * w_stride; \
                    NAME##_rows(8, cnt, s + g, row, nw - g < 8 ? nw - g : 8, ab, &prep, b0 > 0);    \
                }                                                                                   \
            } else {                                                                                \
                for (int r = 0; r < nw; r++) {                                                      \
                    const uint8_t *row[8] = {w0 + (size_t)r * w_stride};                            \
                    NAME##_rows(1, cnt, s + r, row, 1, ab, &prep, b0 > 0);                          \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    static void gemm_##NAME(int n, float *s, size_t s_stride, const void *w, size_t w_stride,       \
                            const void *a, size_t a_stride, int nw, int na) {                       \
        if (na == 1) NAME(n, s, w, w_stride, a, nw);                                                \
        else TILES(n, s, s_stride, w, w_stride, a, a_stride, nw, na);                               \
    }

K_DECODE(q4_k_decode, 144, kdec_prep_k4, q4_k_row, gemm_q4_k)
K_DECODE(q5_k_decode, 176, kdec_prep_k4, q5_k_row, gemm_q5_k)
K_DECODE(q6_k_decode, 210, kdec_prep_k6, q6_k_row, gemm_q6_k)

/* ======================= float tiles: F32, F16, BF16 =======================
 * Q·K^T and P·V^T in attention.c's vector steps on f32, f16 and bf16 caches, and the F16 /
 * BF16 weight products with several activation rows. A block of up to 4 weight rows x 4 activation
 * rows keeps its 16 dot products in 16 zmm accumulators: per 16 elements each weight load
 * serves every activation row of the block and each activation load every weight row (8
 * loads for 16 FMAs). The n % 16 tail is one masked iteration (masked-off lanes read
 * nothing and load as 0). Each block ends with one transposing reduction per activation
 * row, turning the 4 weight rows' accumulators into their 4 adjacent outputs. */

/* The weight loaders of the float tiles: 16 elements at element i of a row as f32, and the
 * first n < 16 of them (the rest 0). f16 through F16C's vcvtph2ps; bf16 is a 16-bit shift
 * into the high half. The KV cache's f16 and bf16 cells take these too (attention.c). */
static INLINE __m512 w_f32(const uint8_t *w, int i) { return _mm512_loadu_ps(w + 4 * (size_t)i); }
static INLINE __m512 w_f32_part(const uint8_t *w, int i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, w + 4 * (size_t)i);
}
static INLINE __m512 w_f16(const uint8_t *w, int i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + 2 * (size_t)i)));
}
static INLINE __m512 w_f16_part(const uint8_t *w, int i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + 2 * (size_t)i));
}
static INLINE __m512 bf16_wide(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
static INLINE __m512 w_bf16(const uint8_t *w, int i) {
    return bf16_wide(_mm256_loadu_si256((const __m256i *)(w + 2 * (size_t)i)));
}
static INLINE __m512 w_bf16_part(const uint8_t *w, int i, __mmask16 m) {
    return bf16_wide(_mm256_maskz_loadu_epi16(m, w + 2 * (size_t)i));
}

/* s[j * s_stride + r] = dot(row r of w, row j of a) for r < RW, j < RA (both <= 4); w's
 * elements through LOADW / LOADW_PART, a's are f32. */
#define FLOAT_BLOCK(NAME, LOADW, LOADW_PART)                                                          \
    static INLINE void NAME##_block(int n, float *s, size_t s_stride, const uint8_t *w, size_t w_stride, \
                                    const uint8_t *a, size_t a_stride, const int RW, const int RA) {    \
        __m512 acc[4][4];                                                                             \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                           \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_ps();     \
        int i = 0;                                                                                    \
        for (; i + 16 <= n; i += 16) {                                                                \
            __m512 wv[4];                                                                             \
            _Pragma("GCC unroll 4") for (int r = 0; r < RW; r++) wv[r] = LOADW(w + (size_t)r * w_stride, i); \
            _Pragma("GCC unroll 4") for (int j = 0; j < RA; j++) {                                    \
                __m512 av = _mm512_loadu_ps(a + (size_t)j * a_stride + 4 * (size_t)i);                 \
                _Pragma("GCC unroll 4") for (int r = 0; r < RW; r++) acc[r][j] = _mm512_fmadd_ps(wv[r], av, acc[r][j]); \
            }                                                                                         \
        }                                                                                             \
        if (i < n) {                                                                                  \
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1);                                           \
            __m512 wv[4];                                                                             \
            _Pragma("GCC unroll 4") for (int r = 0; r < RW; r++) wv[r] = LOADW_PART(w + (size_t)r * w_stride, i, m); \
            _Pragma("GCC unroll 4") for (int j = 0; j < RA; j++) {                                    \
                __m512 av = _mm512_maskz_loadu_ps(m, a + (size_t)j * a_stride + 4 * (size_t)i);        \
                _Pragma("GCC unroll 4") for (int r = 0; r < RW; r++) acc[r][j] = _mm512_fmadd_ps(wv[r], av, acc[r][j]); \
            }                                                                                         \
        }                                                                                             \
        _Pragma("GCC unroll 4") for (int j = 0; j < RA; j++) {                                        \
            __m128 sums = hsum4_ps(acc[0][j], acc[1][j], acc[2][j], acc[3][j]);                       \
            float *sj = s + (size_t)j * s_stride;                                                     \
            if (RW == 4) _mm_storeu_ps(sj, sums);                                                     \
            else _mm_mask_storeu_ps(sj, (__mmask8)((1u << RW) - 1), sums);                            \
        }                                                                                             \
    }

/* RW weight rows against every activation row, in blocks of 4 (then the 1..3 left). The
 * weight rows stay in L1 between blocks: a P·V^T call's 32 rows of 512 floats do not fit. */
#define FLOAT_ROWS(NAME)                                                                              \
    static INLINE void NAME##_rows(int n, float *s, size_t s_stride, const uint8_t *w, size_t w_stride, \
                                   const uint8_t *a, size_t a_stride, int na, const int RW) {          \
        for (int j = 0; j < na; j += 4, a += 4 * a_stride, s += 4 * s_stride) {                       \
            switch (na - j < 4 ? na - j : 4) {                                                        \
            case 1: NAME##_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 1); break;             \
            case 2: NAME##_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 2); break;             \
            case 3: NAME##_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 3); break;             \
            default: NAME##_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 4); break;            \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
    static void gemm_##NAME(int n, float *s, size_t s_stride, const void *w, size_t w_stride, const void *a, \
                            size_t a_stride, int nw, int na) {                                        \
        const uint8_t *wp = w;                                                                        \
        int i = 0;                                                                                    \
        for (; i + 4 <= nw; i += 4)                                                                   \
            NAME##_rows(n, s + i, s_stride, wp + (size_t)i * w_stride, w_stride, a, a_stride, na, 4); \
        wp += (size_t)i * w_stride;                                                                   \
        switch (nw - i) {                                                                             \
        case 3: NAME##_rows(n, s + i, s_stride, wp, w_stride, a, a_stride, na, 3); break;             \
        case 2: NAME##_rows(n, s + i, s_stride, wp, w_stride, a, a_stride, na, 2); break;             \
        case 1: NAME##_rows(n, s + i, s_stride, wp, w_stride, a, a_stride, na, 1); break;             \
        default: break;                                                                               \
        }                                                                                             \
    }

FLOAT_BLOCK(f32, w_f32, w_f32_part)
FLOAT_ROWS(f32)
FLOAT_BLOCK(f16, w_f16, w_f16_part)
FLOAT_ROWS(f16)
FLOAT_BLOCK(bf16, w_bf16, w_bf16_part)
FLOAT_ROWS(bf16)

/* ======================= elementwise kernels of the forward pass ======================= */

/* Lanes j of a 16-float step that lie before n (a partial step reads and writes only those). */
static inline __mmask16 lanes_before(int j, int n) {
    return n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
}

/* As geglu8 of the AVX2 set, 16 lanes: the table is gathered only where -10 < x < 10. */
static void geglu_avx512(float *out, const float *gate, const float *up, int n) {
    const __m512 lo = _mm512_set1_ps(-10.0f), hi = _mm512_set1_ps(10.0f);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = lanes_before(j, n);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + j), u = _mm512_maskz_loadu_ps(m, up + j);
        __mmask16 mid = _mm512_cmp_ps_mask(g, lo, _CMP_GT_OQ) & _mm512_cmp_ps_mask(g, hi, _CMP_LT_OQ);
        __m512 r = _mm512_mask_mov_ps(g, _mm512_cmp_ps_mask(g, lo, _CMP_LE_OQ), _mm512_setzero_ps());
        __m512i h = _mm512_cvtepu16_epi32(_mm512_cvtps_ph(g, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        r = _mm512_mask_i32gather_ps(r, mid, h, gelu_table, 4);
        _mm512_mask_storeu_ps(out + j, m, _mm512_mul_ps(r, u));
    }
}

/* The 16 double lanes of the sum of squares (kernels.h, RMS_LANES): lanes 0..7 in acc0,
 * 8..15 in acc1. */
static void rmsnorm_avx512(float *out, const float *x, const float *w, int n, float eps) {
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(lanes_before(i, n), x + i);
        __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d d1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        acc0 = _mm512_add_pd(acc0, _mm512_mul_pd(d0, d0));
        acc1 = _mm512_add_pd(acc1, _mm512_mul_pd(d1, d1));
    }
    /* halving: lane k + lane k+8, then +4 (256-bit halves), +2 (128-bit halves), +1 */
    __m512d s8 = _mm512_add_pd(acc0, acc1);
    __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(s8), _mm512_extractf64x4_pd(s8, 1));
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    double sum = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    __m512 s = _mm512_set1_ps(rms_scale(sum, n, eps));

    for (int i = 0; i < n; i += 16) {
        __mmask16 m = lanes_before(i, n);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), s);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

/* As softcap_scalar (kernels/scalar.c), 16 lanes, the same operations in the same order (no
 * fused ones); a NaN lane keeps its input. */
static void softcap_avx512(float *x, int n, float cap) {
    const __m512 capv = _mm512_set1_ps(cap), one = _mm512_set1_ps(1.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = lanes_before(j, n);
        __m512 v = _mm512_maskz_loadu_ps(m, x + j);
        __m512 y = _mm512_div_ps(v, capv);
        __m512 a = _mm512_min_ps(_mm512_set1_ps(TANH_CLAMP), _mm512_andnot_ps(sign, y)); /* NaN stays */
        __m512 z = _mm512_mul_ps(_mm512_set1_ps(-2.0f), a);
        __m512 nf = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(EXPM1_LOG2E)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_sub_ps(z, _mm512_mul_ps(nf, _mm512_set1_ps(EXPM1_LN2_HI)));
        r = _mm512_sub_ps(r, _mm512_mul_ps(nf, _mm512_set1_ps(EXPM1_LN2_LO)));
        __m512 q = _mm512_set1_ps(EXPM1_C8);
        q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(EXPM1_C7));
        q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(EXPM1_C6));
        q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(EXPM1_C5));
        q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(EXPM1_C4));
        q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(EXPM1_C3));
        q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(EXPM1_C2));
        __m512 p = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(r, r), q), r);
        __m512 s = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(nf), _mm512_set1_epi32(127)), 23));
        __m512 sp = _mm512_mul_ps(s, p);
        __m512 num = _mm512_add_ps(sp, _mm512_sub_ps(s, one));
        __m512 den = _mm512_add_ps(sp, _mm512_add_ps(s, one));
        __m512 th = _mm512_div_ps(_mm512_xor_ps(num, sign), den);
        th = _mm512_or_ps(_mm512_andnot_ps(sign, th), _mm512_and_ps(sign, y)); /* copysign(th, y) */
        __m512 out = _mm512_mask_mov_ps(_mm512_mul_ps(th, capv), _mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q), v);
        _mm512_mask_storeu_ps(x + j, m, out);
    }
}

/* ======================= activation quantizer: Q8_0S =======================
 * The panel kernels' activations (kernels/panels.c), as quant.c's reference and the AVX2
 * quantizer: d = amax / 127, codes roundf(x / d) (half away from zero), d kept as the f16
 * value Q8_0 stores. One block of 32 is two registers: half the instructions of the AVX2
 * version, so that the out-of-order core overlaps several blocks' division chains (8 rows of
 * 6912 in L2, one core: 0.60 -> 0.43 ns per float). */

/* roundf(v) as avx2.c's round_away_code: trunc, one step away from zero when the remainder
 * is at least one half; NaN becomes 0; clamped to -127..127. */
static INLINE __m512i round_away_code(__m512 v) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 rem = _mm512_andnot_ps(sign, _mm512_sub_ps(v, t));
    __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, sign));
    __m512 r = _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(rem, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, step);
    r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), r);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvtps_epi32(r);
}

static void quantize_q8_0s(const float *src, void *dst, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 40, src += 32) {
        __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
        float d = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1))) / 127.0f;
        __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        __m512i c0 = round_away_code(_mm512_mul_ps(v0, id)), c1 = round_away_code(_mm512_mul_ps(v1, id));
        _mm_storeu_si128((__m128i *)b, _mm512_cvtepi32_epi8(c0));
        _mm_storeu_si128((__m128i *)(b + 16), _mm512_cvtepi32_epi8(c1));
        float d16 = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(c0, c1));
        memcpy(b + 32, &d16, 4);
        memcpy(b + 36, &sum, 4);
    }
}

/* f32 -> f16 with vcvtps2ph, rounding to nearest even (subnormal halves, overflow to Inf
 * included), NaNs as util.c's fp32_to_fp16 makes them (sign | 0x7e00): its bits. The KV
 * cache's f16 rows (the scalar loop was 1 % of a server step of 8 sequences). */
static void to_f16(const float *src, void *dst, int64_t n) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, src + i);
        __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i qnan = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16((short)0x8000)), _mm256_set1_epi16(0x7e00));
        h = _mm256_mask_mov_epi16(h, nan, qnan);
        _mm256_mask_storeu_epi16(p + 2 * i, m, h);
    }
}

void kernels_avx512_install(kernel_set *k) {
    type_traits *t = k->type;
    t[GGML_TYPE_F32].gemm = gemm_f32;
    t[GGML_TYPE_F16].gemm = gemm_f16;
    t[GGML_TYPE_BF16].gemm = gemm_bf16;
    t[GGML_TYPE_Q4_0].vec_dot = vec_dot_q4_0;
    t[GGML_TYPE_Q4_0].gemm = gemm_q4_0;
    t[GGML_TYPE_Q5_0].gemm = gemm_q5_0;
    t[GGML_TYPE_Q8_0].gemm = gemm_q8_0;
    t[GGML_TYPE_Q4_K].gemm = gemm_q4_k_decode;
    t[GGML_TYPE_Q5_K].gemm = gemm_q5_k_decode;
    t[GGML_TYPE_Q6_K].gemm = gemm_q6_k_decode;
    t[TYPE_Q8_0S].from_float = quantize_q8_0s;
    t[GGML_TYPE_F16].from_float = to_f16;
    k->vec.geglu = geglu_avx512;
    k->vec.rmsnorm = rmsnorm_avx512;
    k->vec.softcap = softcap_avx512;
    kernels_avx512_panels_install(k);
    kernels_avx512_float_panels_install(k);
    kernels_avx512_bf16_install(k);
}

#else
typedef int kernels_avx512_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
