/* avx2.c - x86-64 AVX2 + FMA + F16C row dots for every weight type, and the
 * activation quantizers (Q8_0, Q8_1, Q8_K). Compiled with -mavx2 -mfma -mf16c; called only
 * when cpu.c reports those instructions and the OS's YMM support.
 *
 * Integer formats follow doc/formats.md#x86-building-blocks: a block's codes become 32 int8 (or
 * uint8) lanes, meet the 32 activation codes in vpmaddubsw (unsigned x signed byte pairs
 * summed into int16) and vpmaddwd (int16 pairs into int32, optionally times a sub-block
 * scale), the int32 lanes are converted once per block and FMA'd with the block's scale
 * product. Signed x signed uses the sign trick (|w| and a * sign(w)), exact because
 * activation codes are never -128. Per-block integer sums are therefore exact and equal the
 * scalar kernels'; only the float accumulation order differs (8 lanes, 2 accumulators),
 * except for the Q8_0 pairings, whose row dots and tiles sum in llama.cpp's x86 order.
 *
 * Tile kernels (gemm, prefill) decode each weight block once - codes, their absolute values,
 * scales - and multiply it with the same block of up to four activation rows, whose
 * accumulators stay in registers: one body per activation-row count, and for the K-quants the
 * same body (`*_rows`) with one activation row is the row dot. The AVX-512 set replaces the
 * tiles of its main types with its own.
 *
 * The activation quantizers give byte-identical blocks to the reference ones in quant.c for
 * every non-NaN input: same f32 operations (d = amax / 127, id = 1 / d, x * id), roundf
 * emulated exactly (truncate, then step away from zero when the exact remainder is >= 0.5),
 * Q8_K's round-half-even by the rounding instruction, F16C conversion of d (identical to the
 * software one except for NaN payloads).
 *
 * The forward pass's elementwise kernels (GEGLU, RMSNorm, soft-capping) give the scalar ones'
 * bits: the same f16 rounding and table for GELU, the same double lanes for the sum of
 * squares, the same rounded operations in the same order for tanh. */
#if defined(__x86_64__)

#include <immintrin.h>

#include "dispatch.h"
#include "kernels.h"

/* ======================= building blocks ======================= */

#define AI inline __attribute__((always_inline)) /* bodies specialized per activation-row count */

/* f16 -> f32 through kernels.h's table: a table load is cheaper than the conversion
 * instructions, whose register forms compete for the shuffle port with the block unpacking. */
static inline float h2f(const uint8_t *p) { return kernel_fp16_table[rd_u16(p)]; }
/* The scale at p in all 8 lanes, straight from the table (a broadcast load). */
static inline __m256 h2f_x8(const uint8_t *p) { return _mm256_broadcast_ss(&kernel_fp16_table[rd_u16(p)]); }

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline __m256i loadu256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i loadu128(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }

/* The 32 codes of a split-halves nibble block (byte j = element j | element j+16 << 4) as
 * bytes 0..15 in element order. */
static inline __m256i nibbles32(const uint8_t *qs) {
    __m256i v = _mm256_broadcastsi128_si256(loadu128(qs)); /* a load, no shuffle uop */
    return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
}

/* Byte e = 0xFF where bit e of `bits` is set (the fifth bits of Q5_0 / Q5_1). */
static inline __m256i bits_to_bytes(uint32_t bits) {
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* Sum of u[i] * s[i] in groups of four, as 8 int32 (u unsigned bytes, s signed; every
 * adjacent pair sum must fit in int16: true for u <= 128 against codes in -127..127). */
static inline __m256i dot_u8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* Signed x signed with the sign trick: |x| * (y * sign(x)); y must not hold -128. */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    return dot_u8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}


/* ======================= float weights ======================= */

static void vec_dot_f32(int n, float *s, const void *x, const void *y) {
    const float *w = x, *a = y;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += rd_f32(w + i) * rd_f32(a + i);
    *s = sum;
}

static inline __m256 load_f16x8(const uint8_t *p) { return _mm256_cvtph_ps(loadu128(p)); }

static void vec_dot_f16(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x;
    const float *a = y;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_f16x8(w + 2 * i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(load_f16x8(w + 2 * i + 16), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_f16x8(w + 2 * i + 32), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_f16x8(w + 2 * i + 48), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_f16x8(w + 2 * i), _mm256_loadu_ps(a + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += h2f(w + 2 * i) * rd_f32(a + i);
    *s = sum;
}

/* bf16 -> f32 is a 16-bit shift into the high half. */
static inline __m256 load_bf16x8(const uint8_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(p)), 16));
}

static void vec_dot_bf16(int n, float *s, const void *x, const void *y) {
    const uint8_t *w = x;
    const float *a = y;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_bf16x8(w + 2 * i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(load_bf16x8(w + 2 * i + 16), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_bf16x8(w + 2 * i + 32), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_bf16x8(w + 2 * i + 48), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_bf16x8(w + 2 * i), _mm256_loadu_ps(a + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += bf16_to_fp32(rd_u16(w + 2 * i)) * rd_f32(a + i);
    *s = sum;
}

/* The bytes are IEEE floats and loadu is an unaligned load that may alias anything, so the
 * cast is sound whatever the buffer's declared type. */
/* cppcheck-suppress invalidPointerCast ; see the comment above */
static inline __m256 load_f32x8(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }
static inline float f32_at(const uint8_t *p) { return rd_f32(p); }
static inline float f16_at(const uint8_t *p) { return h2f(p); }
static inline float bf16_at(const uint8_t *p) { return bf16_to_fp32(rd_u16(p)); }

/* Tile kernels for float weights: each 8-weight slice is converted once and FMA'd into every
 * activation row's two accumulators (two, so that consecutive FMAs are independent). */
#define FLOAT_TILE(NAME, ESIZE, LOADW, AT)                                                        \
    static AI void NAME##_rows(int n, float *s, size_t s_stride, const uint8_t *w,               \
                               const uint8_t *a, size_t a_stride, const int na) {                 \
        __m256 acc0[4], acc1[4];                                                                  \
        _Pragma("GCC unroll 4") for (int j = 0; j < na; j++) acc0[j] = acc1[j] = _mm256_setzero_ps(); \
        int i = 0;                                                                                \
        for (; i + 16 <= n; i += 16) {                                                            \
            __m256 w0 = LOADW(w + (ESIZE) * i), w1 = LOADW(w + (ESIZE) * (i + 8));                  \
            _Pragma("GCC unroll 4") for (int j = 0; j < na; j++) {                                 \
                const uint8_t *aj = a + (size_t)j * a_stride + 4 * (size_t)i;                     \
                acc0[j] = _mm256_fmadd_ps(w0, load_f32x8(aj), acc0[j]);                            \
                acc1[j] = _mm256_fmadd_ps(w1, load_f32x8(aj + 32), acc1[j]);                       \
            }                                                                                     \
        }                                                                                         \
        _Pragma("GCC unroll 4") for (int j = 0; j < na; j++) {                                     \
            const uint8_t *aj = a + (size_t)j * a_stride;                                          \
            float sum = hsum_ps(_mm256_add_ps(acc0[j], acc1[j]));                                  \
            for (int e = i; e < n; e++) sum += AT(w + (ESIZE) * e) * rd_f32(aj + 4 * e);           \
            s[(size_t)j * s_stride] = sum;                                                        \
        }                                                                                         \
    }                                                                                             \
    TILE_ENTRY(NAME)

/* The tile kernel of a `*_rows` body: each weight row against up to four activation rows at
 * a time, one specialized body per count. A single activation row (decode) takes the same
 * body, so a row's sum is in the same order whatever the batch (a server's step batches
 * decode rows: tests/test_batch.c); the Q8_0 pairings take their multi-row decode path
 * before this, in the tiles' order. */
#define TILE_ENTRY(NAME)                                                                          \
    static void NAME(int n, float *s, size_t s_stride, const void *w, size_t w_stride,            \
                     const void *a, size_t a_stride, int nw, int na) {                            \
        for (int i = 0; i < nw; i++) {                                                            \
            const uint8_t *wr = (const uint8_t *)w + (size_t)i * w_stride;                        \
            for (int j0 = 0; j0 < na; j0 += 4) {                                                  \
                const uint8_t *aj = (const uint8_t *)a + (size_t)j0 * a_stride;                   \
                float *sj = s + (size_t)j0 * s_stride + i;                                         \
                switch (na - j0 < 4 ? na - j0 : 4) {                                               \
                case 1: NAME##_rows(n, sj, s_stride, wr, aj, a_stride, 1); break;                  \
                case 2: NAME##_rows(n, sj, s_stride, wr, aj, a_stride, 2); break;                  \
                case 3: NAME##_rows(n, sj, s_stride, wr, aj, a_stride, 3); break;                  \
                default: NAME##_rows(n, sj, s_stride, wr, aj, a_stride, 4); break;                 \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }

FLOAT_TILE(gemm_f32, 4, load_f32x8, f32_at)
FLOAT_TILE(gemm_f16, 2, load_f16x8, f16_at)
FLOAT_TILE(gemm_bf16, 2, load_bf16x8, bf16_at)

/* ======================= 32-element blocks x Q8_0 / Q8_1 =======================
 * Each kernel is a per-block body `*_block` returning the 8 int32 partial sums of the
 * block's integer dot; the row loop runs two blocks per iteration into two accumulators. */

#define Q8_0_SIZE 34
#define Q8_1_SIZE 36

static inline __m256i q4_0_block(const uint8_t *w, const uint8_t *aq) {
    __m256i q = _mm256_sub_epi8(nibbles32(w + 2), _mm256_set1_epi8(8));
    return dot_i8(q, loadu256(aq));
}

static inline __m256i q5_0_block(const uint8_t *w, const uint8_t *aq) {
    /* A clear fifth bit gives 0xF0 | n, which is n - 16 as int8; a set one leaves n. */
    __m256i hi = _mm256_andnot_si256(bits_to_bytes(rd_u32(w + 2)), _mm256_set1_epi8((char)0xF0));
    return dot_i8(_mm256_or_si256(nibbles32(w + 6), hi), loadu256(aq));
}

static inline __m256i q8_0_block(const uint8_t *w, const uint8_t *aq) {
    return dot_i8(loadu256(w + 2), loadu256(aq));
}

static inline __m256i iq4_nl_block(const uint8_t *w, const uint8_t *aq) {
    const __m256i book = _mm256_broadcastsi128_si256(loadu128((const uint8_t *)kvalues_iq4nl));
    return dot_i8(_mm256_shuffle_epi8(book, nibbles32(w + 2)), loadu256(aq));
}

static inline __m256i mxfp4_block(const uint8_t *w, const uint8_t *aq) {
    const __m256i book = _mm256_broadcastsi128_si256(loadu128((const uint8_t *)kvalues_mxfp4));
    return dot_i8(_mm256_shuffle_epi8(book, nibbles32(w + 1)), loadu256(aq));
}

/* Row dots for the Q8_0 pairings in llama.cpp's summation order (see kernels/avx512.c, "the
 * Q8_0 pairings' summation order"): per row one accumulator whose lane m takes
 * fma(dw * da, P_m, lane m) block after block, P_m the integer dot of elements 4m..4m+3
 * (what BLOCK leaves in int32 lane m), then hsum_ps's ((l0 + l4) + (l2 + l6)) + ((l1 + l5) +
 * (l3 + l7)). One chain per row is latency-bound, so decode runs NR rows side by side over
 * one pass of the activation row (its block scale is read once for all of them). */
#define Q8_0_ROW_DOT(NAME, WSIZE, BLOCK, WSCALE)                                                \
    static AI void NAME##_rows1(int n, float *s, const uint8_t *w, size_t w_stride,            \
                                const uint8_t *a, const int nr) {                              \
        __m256 acc[4];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();      \
        for (int b = 0; b < n / 32; b++, w += (WSIZE), a += Q8_0_SIZE) {                        \
            __m256 da = h2f_x8(a);                                                              \
            _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) {                              \
                const uint8_t *wr = w + (size_t)r * w_stride;                                   \
                __m256 d = _mm256_mul_ps(WSCALE(wr), da);                                       \
                acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(BLOCK(wr, a + 2)), acc[r]);      \
            }                                                                                   \
        }                                                                                       \
        _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) s[r] = hsum_ps(acc[r]);            \
    }                                                                                           \
    static void NAME(int n, float *s, const void *x, const void *y) { NAME##_rows1(n, s, x, 0, y, 1); } \
    static void NAME##_decode(int n, float *s, const uint8_t *w, size_t w_stride, const uint8_t *a, int nw) { \
        int i = 0;                                                                              \
        for (; i + 4 <= nw; i += 4) NAME##_rows1(n, s + i, w + (size_t)i * w_stride, w_stride, a, 4); \
        switch (nw - i) {                                                                       \
        case 3: NAME##_rows1(n, s + i, w + (size_t)i * w_stride, w_stride, a, 3); break;        \
        case 2: NAME##_rows1(n, s + i, w + (size_t)i * w_stride, w_stride, a, 2); break;        \
        case 1: NAME##_rows1(n, s + i, w + (size_t)i * w_stride, w_stride, a, 1); break;        \
        default: break;                                                                         \
        }                                                                                       \
    }

static inline __m256 mxfp4_scale(const uint8_t *w) { return _mm256_set1_ps(e8m0_to_fp32_half(w[0])); }

Q8_0_ROW_DOT(vec_dot_q4_0, 18, q4_0_block, h2f_x8)
Q8_0_ROW_DOT(vec_dot_q5_0, 22, q5_0_block, h2f_x8)
Q8_0_ROW_DOT(vec_dot_q8_0, 34, q8_0_block, h2f_x8)
Q8_0_ROW_DOT(vec_dot_iq4_nl, 18, iq4_nl_block, h2f_x8)
Q8_0_ROW_DOT(vec_dot_mxfp4, 17, mxfp4_block, mxfp4_scale)

/* Tile kernels for the same pairings: each weight block is decoded once (signed codes, their
 * absolute values for vpmaddubsw, the scale) and then meets the block of every activation
 * row; the activation rows' accumulators stay in registers (one body per row count). One
 * activation row (decode) goes to the row dots' multi-row path instead. */
static inline __m256i q4_0_codes(const uint8_t *w) { return _mm256_sub_epi8(nibbles32(w + 2), _mm256_set1_epi8(8)); }
static inline __m256i q5_0_codes(const uint8_t *w) {
    __m256i hi = _mm256_andnot_si256(bits_to_bytes(rd_u32(w + 2)), _mm256_set1_epi8((char)0xF0));
    return _mm256_or_si256(nibbles32(w + 6), hi);
}
static inline __m256i q8_0_codes(const uint8_t *w) { return loadu256(w + 2); }
static inline __m256i iq4_nl_codes(const uint8_t *w) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(loadu128((const uint8_t *)kvalues_iq4nl)), nibbles32(w + 2));
}
static inline __m256i mxfp4_codes(const uint8_t *w) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(loadu128((const uint8_t *)kvalues_mxfp4)), nibbles32(w + 1));
}

#define Q8_0_TILE(NAME, WSIZE, CODES, WSCALE, ONE_ROW)                                           \
    static AI void NAME##_tiles_rows(int n, float *s, size_t s_stride, const uint8_t *w,         \
                                   const uint8_t *a, size_t a_stride, const int na) {             \
        __m256 acc[GEMM_MAX_NA];                                                                  \
        _Pragma("GCC unroll 4") for (int j = 0; j < na; j++) acc[j] = _mm256_setzero_ps();        \
        for (int b = 0; b < n / 32; b++, w += (WSIZE)) {                                          \
            __m256i q = CODES(w), aq = _mm256_sign_epi8(q, q);                                    \
            __m256 dw = WSCALE(w);                                                                \
            _Pragma("GCC unroll 4") for (int j = 0; j < na; j++) {                                \
                const uint8_t *ab = a + (size_t)j * a_stride + (size_t)b * Q8_0_SIZE;              \
                __m256i p = dot_u8(aq, _mm256_sign_epi8(loadu256(ab + 2), q));                    \
                acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, h2f_x8(ab)), _mm256_cvtepi32_ps(p), acc[j]); \
            }                                                                                     \
        }                                                                                         \
        _Pragma("GCC unroll 4") for (int j = 0; j < na; j++) s[(size_t)j * s_stride] = hsum_ps(acc[j]); \
    }                                                                                             \
    TILE_ENTRY(NAME##_tiles)                                                                      \
    static void NAME(int n, float *s, size_t s_stride, const void *w, size_t w_stride,            \
                     const void *a, size_t a_stride, int nw, int na) {                            \
        if (na == 1) ONE_ROW##_decode(n, s, w, w_stride, a, nw);                                  \
        else NAME##_tiles(n, s, s_stride, w, w_stride, a, a_stride, nw, na);                      \
    }

Q8_0_TILE(gemm_q4_0, 18, q4_0_codes, h2f_x8, vec_dot_q4_0)
Q8_0_TILE(gemm_q5_0, 22, q5_0_codes, h2f_x8, vec_dot_q5_0)
Q8_0_TILE(gemm_q8_0, 34, q8_0_codes, h2f_x8, vec_dot_q8_0)
Q8_0_TILE(gemm_iq4_nl, 18, iq4_nl_codes, h2f_x8, vec_dot_iq4_nl)
Q8_0_TILE(gemm_mxfp4, 17, mxfp4_codes, mxfp4_scale, vec_dot_mxfp4)

/* Q4_1 / Q5_1 x Q8_1: unsigned codes, so no sign trick; the min adds m * s per block. */
static inline __m256i q4_1_block(const uint8_t *w, const uint8_t *aq) {
    return dot_u8(nibbles32(w + 4), loadu256(aq));
}

static inline __m256i q5_1_block(const uint8_t *w, const uint8_t *aq) {
    __m256i hi = _mm256_and_si256(bits_to_bytes(rd_u32(w + 4)), _mm256_set1_epi8(16));
    return dot_u8(_mm256_or_si256(nibbles32(w + 8), hi), loadu256(aq));
}

#define Q8_1_ROW_DOT(NAME, WSIZE, BLOCK)                                                \
    static void NAME(int n, float *s, const void *x, const void *y) {                   \
        const uint8_t *w = x, *a = y;                                                   \
        int nb = n / 32;                                                                \
        __m256 acc = _mm256_setzero_ps();                                               \
        float mins = 0.0f;                                                              \
        for (int b = 0; b < nb; b++, w += (WSIZE), a += Q8_1_SIZE) {                    \
            __m256 d = _mm256_set1_ps(h2f(w) * h2f(a));                                 \
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(BLOCK(w, a + 4)), acc);         \
            mins += h2f(w + 2) * h2f(a + 2);                                            \
        }                                                                               \
        *s = hsum_ps(acc) + mins;                                                       \
    }

Q8_1_ROW_DOT(vec_dot_q4_1, 20, q4_1_block)
Q8_1_ROW_DOT(vec_dot_q5_1, 24, q5_1_block)

/* ======================= K-quants x Q8_K ======================= */

#define Q8_K_SIZE 292

/* 16 int16 lanes: the first 8 = scale k, the last 8 = scale k + 1, taken from the 16
 * int16 scales in s16 (lanes 0..7 = scales 0..7, 8..15 = scales 8..15). Used to weight the
 * pair sums of 32 elements spanning two 16-element sub-blocks. */
static inline __m256i scale_pair(__m256i s16, int k) {
    static const uint8_t idx[4][32] = {
        {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
        {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
        {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
        {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15},
    };
    /* both 128-bit lanes = the lane holding scales k, k+1 (k even) */
    __m256i lane = k < 8 ? _mm256_permute4x64_epi64(s16, 0x44) : _mm256_permute4x64_epi64(s16, 0xee);
    return _mm256_shuffle_epi8(lane, _mm256_loadu_si256((const __m256i *)idx[(k % 8) / 2]));
}

/* Sum over the 16 sub-blocks of scale[k] * bsums[k], as 8 int32 partial sums. */
static inline __m256i scales_dot_bsums(__m256i s16, const uint8_t *a) {
    return _mm256_madd_epi16(s16, loadu256(a + 260));
}

/* Each K-quant kernel is one body, `*_rows`, that takes one weight row against na activation
 * rows (na a compile-time constant after inlining): the super-block's scales and codes are
 * decoded once and meet every activation row. vec_dot is the body with na = 1; the tile
 * kernel runs it per weight row with up to four activation rows. */
#define K_ROWS_ARGS int n, float *s, size_t s_stride, const uint8_t *w, const uint8_t *a, size_t a_stride, const int na
#define ACT(j, b) (a + (size_t)(j) * a_stride + (size_t)(b) * Q8_K_SIZE) /* Q8_K block b of row j */
#define FOR_J _Pragma("GCC unroll 4") for (int j = 0; j < na; j++)

#define K_ENTRIES(T)                                                                              \
    static void vec_dot_##T(int n, float *s, const void *x, const void *y) {                      \
        T##_rows(n, s, 0, x, y, 0, 1);                                                            \
    }                                                                                             \
    static AI void gemm_##T##_rows(K_ROWS_ARGS) { T##_rows(n, s, s_stride, w, a, a_stride, na); } \
    TILE_ENTRY(gemm_##T)

/* Q2_K: 2-bit codes; byte l of each 32-byte half packs elements l, l+32, l+64, l+96. */
static AI void q2_k_rows(K_ROWS_ARGS) {
    __m256 acc[4];
    float mins[4];
    FOR_J { acc[j] = _mm256_setzero_ps(); mins[j] = 0.0f; }
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int b = 0; b < n / QK_K; b++, w += 84) {
        __m128i sm = loadu128(w);
        __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sm, _mm_set1_epi8(15)));
        __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(15)));
        __m256i sumi[4];
        FOR_J sumi[j] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i v = loadu256(w + 16 + 32 * h);
            for (int g = 0; g < 4; g++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(v, 2 * g), m3);
                __m256i sc = scale_pair(sc16, 8 * h + 2 * g);
                FOR_J {
                    __m256i p = _mm256_maddubs_epi16(q, loadu256(ACT(j, b) + 4 + 128 * h + 32 * g));
                    sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(p, sc));
                }
            }
        }
        FOR_J {
            float da = q8_k_d(ACT(j, b));
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(da * h2f(w + 80)), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
            mins[j] += (da * h2f(w + 82)) * (float)hsum_epi32(scales_dot_bsums(m16, ACT(j, b)));
        }
    }
    FOR_J s[(size_t)j * s_stride] = hsum_ps(acc[j]) - mins[j];
}

/* The 16 signed 6-bit Q3_K scales (stored +32) as int8, from the three u32 words of the 12
 * packed bytes: low nibbles from bytes 0..7, high two bits from bytes 8..11. */
static inline __m128i q3_k_scales(const uint8_t *S) {
    uint32_t a0 = rd_u32(S), a1 = rd_u32(S + 4), a2 = rd_u32(S + 8);
    const uint32_t lo4 = 0x0f0f0f0f, hi2 = 0x03030303;
    uint32_t s0 = (a0 & lo4) | (a2 & hi2) << 4;
    uint32_t s1 = (a1 & lo4) | ((a2 >> 2) & hi2) << 4;
    uint32_t s2 = ((a0 >> 4) & lo4) | ((a2 >> 4) & hi2) << 4;
    uint32_t s3 = ((a1 >> 4) & lo4) | ((a2 >> 6) & hi2) << 4;
    return _mm_sub_epi8(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3), _mm_set1_epi8(32));
}

/* Q3_K: code = (low2 | hbit << 2) - 4, taken unsigned (0..7) and corrected by
 * -4 * sum_k scale[k] * bsums[k]. hmask is shifted right by one per group of 32; bits crossing
 * from the neighbouring byte land above bit 0 and are masked off. */
static AI void q3_k_rows(K_ROWS_ARGS) {
    __m256 acc[4];
    FOR_J acc[j] = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    for (int b = 0; b < n / QK_K; b++, w += 110) {
        __m256i sc16 = _mm256_cvtepi8_epi16(q3_k_scales(w + 96));
        __m256i hm = loadu256(w); /* bit t of byte l: high bit of element 32t + l */
        __m256i sumi[4];
        FOR_J sumi[j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(scales_dot_bsums(sc16, ACT(j, b)), 2));
        for (int h = 0; h < 2; h++) {
            __m256i v = loadu256(w + 32 + 32 * h);
            for (int g = 0; g < 4; g++) {
                __m256i hb = _mm256_and_si256(_mm256_slli_epi16(hm, 2), m4);
                hm = _mm256_srli_epi16(hm, 1);
                __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 2 * g), m3), hb);
                __m256i sc = scale_pair(sc16, 8 * h + 2 * g);
                FOR_J {
                    __m256i p = _mm256_maddubs_epi16(q, loadu256(ACT(j, b) + 4 + 128 * h + 32 * g));
                    sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(p, sc));
                }
            }
        }
        FOR_J acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(q8_k_d(ACT(j, b)) * h2f(w + 108)), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
    }
    FOR_J s[(size_t)j * s_stride] = hsum_ps(acc[j]);
}

/* Q4_K / Q5_K: the 8 scales and 8 mins (6 bits each) from the 12 packed bytes, as bytes
 * sc[0..7] in the low and m[0..7] in the high 8 bytes (doc/formats.md#k-quant-scales). */
static inline __m128i k4_scales_mins(const uint8_t *S) {
    uint32_t w0 = rd_u32(S), w1 = rd_u32(S + 4), w2 = rd_u32(S + 8);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t sc_lo = w0 & m6, sc_hi = (w2 & m4) | ((w0 >> 6) & m2) << 4;
    uint32_t mn_lo = w1 & m6, mn_hi = ((w2 >> 4) & m4) | ((w1 >> 6) & m2) << 4;
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi);
}

/* sum_j m[j] * (bsums[2j] + bsums[2j+1]) as 4 int32 partial sums. */
static inline __m128i k4_mins_dot(__m128i scmin, const uint8_t *a) {
    __m128i m16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scmin, scmin));
    __m128i b32 = _mm_hadd_epi16(loadu128(a + 260), loadu128(a + 276));
    return _mm_madd_epi16(m16, b32);
}

static inline int hsum128_epi32(__m128i s) {
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Q4_K (QH = 0) and Q5_K (QH = 1): chunk c's 32 code bytes serve sub-block 2c (low nibbles)
 * and 2c+1 (high), each weighted by its 6-bit scale through vpmaddwd; the min term is one
 * small integer dot with the per-32 activation sums per super-block. Q5_K's fifth bits:
 * bit 2c (2c+1) of qh[l], qh shifted right by 2 per chunk (crossing bits land above bit 1). */
static AI void k4_rows(K_ROWS_ARGS, const int q5) {
    const size_t bsize = q5 ? 176 : 144, qs = q5 ? 48 : 16;
    __m256 acc[4];
    float mins[4];
    FOR_J { acc[j] = _mm256_setzero_ps(); mins[j] = 0.0f; }
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    for (int b = 0; b < n / QK_K; b++, w += bsize) {
        __m128i scmin = k4_scales_mins(w + 4);
        uint8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, scmin);
        __m256i qh = q5 ? loadu256(w + 16) : _mm256_setzero_si256();
        __m256i sumi[4];
        FOR_J sumi[j] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i v = loadu256(w + qs + 32 * c);
            __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            if (q5) {
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(qh, 3), b4));
                qh = _mm256_srli_epi16(qh, 2);
            }
            __m256i slo = _mm256_set1_epi16(sc[2 * c]), shi = _mm256_set1_epi16(sc[2 * c + 1]);
            FOR_J {
                const uint8_t *aq = ACT(j, b) + 4 + 64 * c;
                __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, loadu256(aq)), slo);
                __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, loadu256(aq + 32)), shi);
                sumi[j] = _mm256_add_epi32(sumi[j], _mm256_add_epi32(plo, phi));
            }
        }
        FOR_J {
            float da = q8_k_d(ACT(j, b));
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(da * h2f(w)), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
            mins[j] += (da * h2f(w + 2)) * (float)hsum128_epi32(k4_mins_dot(scmin, ACT(j, b)));
        }
    }
    FOR_J s[(size_t)j * s_stride] = hsum_ps(acc[j]) - mins[j];
}

static AI void q4_k_rows(K_ROWS_ARGS) { k4_rows(n, s, s_stride, w, a, a_stride, na, 0); }
static AI void q5_k_rows(K_ROWS_ARGS) { k4_rows(n, s, s_stride, w, a, a_stride, na, 1); }

/* Q6_K: unsigned codes 0..63 (low4 | high2 << 4) straight into maddubs; the -32 offset is
 * taken off once per super-block as 32 * sum_k scale[k] * bsums[k]
 * (doc/formats.md#k-quant-inner-loops). */
static AI void q6_k_rows(K_ROWS_ARGS) {
    __m256 acc[4];
    FOR_J acc[j] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    for (int b = 0; b < n / QK_K; b++, w += 210) {
        __m256i sc16 = _mm256_cvtepi8_epi16(loadu128(w + 192));
        __m256i sumi[4];
        FOR_J sumi[j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(scales_dot_bsums(sc16, ACT(j, b)), 5));
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = loadu256(w + 64 * h), ql1 = loadu256(w + 64 * h + 32);
            __m256i qh = loadu256(w + 128 + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int g = 0; g < 4; g++) {
                __m256i sc = scale_pair(sc16, 8 * h + 2 * g);
                FOR_J {
                    __m256i p = _mm256_maddubs_epi16(q[g], loadu256(ACT(j, b) + 4 + 128 * h + 32 * g));
                    sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(p, sc));
                }
            }
        }
        FOR_J acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(q8_k_d(ACT(j, b)) * h2f(w + 208)), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
    }
    FOR_J s[(size_t)j * s_stride] = hsum_ps(acc[j]);
}

/* IQ4_XS: codebook values by vpshufb, a 6-bit scale (stored +32) per 32 elements. */
static AI void iq4_xs_rows(K_ROWS_ARGS) {
    __m256 acc[4];
    FOR_J acc[j] = _mm256_setzero_ps();
    const __m256i book = _mm256_broadcastsi128_si256(loadu128((const uint8_t *)kvalues_iq4nl));
    for (int b = 0; b < n / QK_K; b++, w += 136) {
        __m256i sumi[4];
        FOR_J sumi[j] = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            __m256i q = _mm256_shuffle_epi8(book, nibbles32(w + 8 + 16 * ib)), aq = _mm256_sign_epi8(q, q);
            __m256i sc = _mm256_set1_epi16((short)iq4_xs_scale(w, ib));
            FOR_J {
                __m256i p = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(loadu256(ACT(j, b) + 4 + 32 * ib), q));
                sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(p, sc));
            }
        }
        FOR_J acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(q8_k_d(ACT(j, b)) * h2f(w)), _mm256_cvtepi32_ps(sumi[j]), acc[j]);
    }
    FOR_J s[(size_t)j * s_stride] = hsum_ps(acc[j]);
}

K_ENTRIES(q2_k)
K_ENTRIES(q3_k)
K_ENTRIES(q4_k)
K_ENTRIES(q5_k)
K_ENTRIES(q6_k)
K_ENTRIES(iq4_xs)

/* ======================= activation quantizers ======================= */

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

static inline float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* roundf(v) exactly (half away from zero): trunc, then one step away from zero when the
 * remainder (exact for |v| < 2^23) is at least one half. NaN becomes 0, then the result is
 * clamped to -127..127 like quant.c's clamp_code. */
static inline __m256i round_away_code(__m256 v) {
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 rem = abs_ps(_mm256_sub_ps(v, t));
    __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(rem, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
    r = _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(r);
}

/* Round half to even (nearbyintf), NaN -> 0, clamp to -127..127. */
static inline __m256i round_even_code(__m256 v) {
    __m256 r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(r);
}

/* 32 int32 codes (four vectors of 8, in order) as 32 int8 in order. */
static inline __m256i pack_codes(__m256i c0, __m256i c1, __m256i c2, __m256i c3) {
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(c0, c1), _mm256_packs_epi32(c2, c3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline void put_f16(uint8_t *p, float f) {
    uint16_t h = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
    memcpy(p, &h, 2);
}

/* One block of 32 as quantize_block_q8 (quant.c): codes to qs, returns d, *sum = sum. */
static inline float q8_block(const float *x, uint8_t *qs, int *sum) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        amax = _mm256_max_ps(amax, abs_ps(v[i]));
    }
    float d = hmax_ps(amax) / 127.0f;
    __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m256i c[4];
    for (int i = 0; i < 4; i++) c[i] = round_away_code(_mm256_mul_ps(v[i], id));
    _mm256_storeu_si256((__m256i *)qs, pack_codes(c[0], c[1], c[2], c[3]));
    if (sum)
        *sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3])));
    return d;
}

static void quantize_q8_0(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 34, src += 32) put_f16(b, q8_block(src, b + 2, NULL));
}

static void quantize_q8_1(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 36, src += 32) {
        int sum;
        float d = q8_block(src, b + 4, &sum);
        put_f16(b, d);
        put_f16(b + 2, (float)sum * d);
    }
}

/* Q8_0S (the panel layouts' activations, kernels/panels.c): Q8_0's codes, its d as the f16
 * value Q8_0 stores widened to f32, and the codes' sum. */
static void quantize_q8_0s(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / 32; i++, b += 40, src += 32) {
        int sum;
        float d = _cvtsh_ss(_cvtss_sh(q8_block(src, b, &sum), _MM_FROUND_TO_NEAREST_INT));
        int32_t s = sum;
        memcpy(b + 32, &d, 4);
        memcpy(b + 36, &s, 4);
    }
}

/* Q8_K: the first element of largest magnitude (NaN never wins: vmaxps returns its second
 * operand when the first is NaN, and the accumulator is the second) maps to -127. */
static void quantize_q8_k(const float *src, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b += Q8_K_SIZE, src += QK_K) {
        __m256 amax8 = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8) amax8 = _mm256_max_ps(abs_ps(_mm256_loadu_ps(src + k)), amax8);
        float amax = hmax_ps(amax8);
        if (amax == 0.0f) {
            memset(b, 0, Q8_K_SIZE);
            continue;
        }
        int first = 0;
        for (int k = 0; k < QK_K; k += 8) {
            __m256 eq = _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(src + k)), _mm256_set1_ps(amax), _CMP_EQ_OQ);
            int mask = _mm256_movemask_ps(eq);
            if (mask) {
                first = k + __builtin_ctz((unsigned)mask);
                break;
            }
        }
        float iscale = -127.0f / src[first];
        __m256 is = _mm256_set1_ps(iscale);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i c[4];
            for (int t = 0; t < 4; t++)
                c[t] = round_even_code(_mm256_mul_ps(is, _mm256_loadu_ps(src + k + 8 * t)));
            _mm256_storeu_si256((__m256i *)(b + 4 + k), pack_codes(c[0], c[1], c[2], c[3]));
        }
        for (int k = 0; k < 16; k++) { /* bsums: byte sums of (code + 128), minus 16 * 128 */
            __m128i u = _mm_xor_si128(loadu128(b + 4 + 16 * k), _mm_set1_epi8((char)0x80));
            __m128i sad = _mm_sad_epu8(u, _mm_setzero_si128());
            int16_t bsum = (int16_t)(_mm_cvtsi128_si32(sad) + _mm_extract_epi16(sad, 4) - 2048);
            memcpy(b + 260 + 2 * k, &bsum, 2);
        }
        float d = 1.0f / iscale;
        memcpy(b, &d, 4);
    }
}

/* ======================= elementwise kernels of the forward pass ======================= */

/* gelu(gate) * up for 8 lanes, as the scalar gelu(): the f16 bits of the gate from the
 * conversion instruction (round to nearest even, as fp32_to_fp16) index the table in
 * -10 < x < 10; elsewhere the lane keeps x, or 0 where x <= -10. A NaN fails both
 * comparisons and so stays itself. */
static inline __m256 geglu8(__m256 g, __m256 u) {
    __m256 mid = _mm256_and_ps(_mm256_cmp_ps(g, _mm256_set1_ps(-10.0f), _CMP_GT_OQ),
                               _mm256_cmp_ps(g, _mm256_set1_ps(10.0f), _CMP_LT_OQ));
    __m256 r = _mm256_andnot_ps(_mm256_cmp_ps(g, _mm256_set1_ps(-10.0f), _CMP_LE_OQ), g);
    __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(g, _MM_FROUND_TO_NEAREST_INT));
    r = _mm256_mask_i32gather_ps(r, gelu_table, h, mid, 4);
    return _mm256_mul_ps(r, u);
}

static void geglu_avx2(float *out, const float *gate, const float *up, int n) {
    int j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(out + j, geglu8(_mm256_loadu_ps(gate + j), _mm256_loadu_ps(up + j)));
    if (j == n) return;
    float g[8] = {0}, u[8] = {0}, o[8]; /* the tail, padded, so nothing is read past n */
    memcpy(g, gate + j, (size_t)(n - j) * sizeof(float));
    memcpy(u, up + j, (size_t)(n - j) * sizeof(float));
    _mm256_storeu_ps(o, geglu8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    memcpy(out + j, o, (size_t)(n - j) * sizeof(float));
}

/* Lanes 4c..4c+3 of the sum of squares (kernels.h, RMS_LANES) live in acc[c]; 16 floats add
 * their squares, exact in double, to the 16 lanes. */
static inline void sum_squares16(__m256d acc[4], const float *x) {
    for (int c = 0; c < 4; c++) {
        __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x + 4 * c));
        acc[c] = _mm256_add_pd(acc[c], _mm256_mul_pd(d, d));
    }
}

static void rmsnorm_avx2(float *out, const float *x, const float *w, int n, float eps) {
    __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    int i = 0;
    for (; i + 16 <= n; i += 16) sum_squares16(acc, x + i);
    if (i < n) {
        float t[16] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        sum_squares16(acc, t);
    }
    /* halving: lane k + lane k+8, then +4 (register pairs), +2 (128-bit halves), +1 */
    __m256d s4 = _mm256_add_pd(_mm256_add_pd(acc[0], acc[2]), _mm256_add_pd(acc[1], acc[3]));
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    double sum = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    float s = rms_scale(sum, n, eps);

    __m256 sv = _mm256_set1_ps(s);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sv);
        if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(out + i, v);
    }
    for (; i < n; i++) out[i] = w ? (x[i] * s) * w[i] : x[i] * s;
}

/* As softcap_scalar (kernels/scalar.c) for 8 lanes, the same operations in the same order (no
 * fused ones); a NaN lane keeps its input. */
static inline __m256 softcap8(__m256 v, __m256 cap) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    __m256 y = _mm256_div_ps(v, cap);
    __m256 a = _mm256_min_ps(_mm256_set1_ps(TANH_CLAMP), _mm256_andnot_ps(sign, y)); /* NaN stays */
    __m256 z = _mm256_mul_ps(_mm256_set1_ps(-2.0f), a);
    __m256 nf = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(EXPM1_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(z, _mm256_mul_ps(nf, _mm256_set1_ps(EXPM1_LN2_HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(nf, _mm256_set1_ps(EXPM1_LN2_LO)));
    __m256 q = _mm256_set1_ps(EXPM1_C8);
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(EXPM1_C7));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(EXPM1_C6));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(EXPM1_C5));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(EXPM1_C4));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(EXPM1_C3));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(EXPM1_C2));
    __m256 p = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(r, r), q), r);
    __m256 s = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nf), _mm256_set1_epi32(127)), 23));
    __m256 sp = _mm256_mul_ps(s, p);
    __m256 num = _mm256_add_ps(sp, _mm256_sub_ps(s, one));
    __m256 den = _mm256_add_ps(sp, _mm256_add_ps(s, one));
    __m256 th = _mm256_div_ps(_mm256_xor_ps(num, sign), den);
    th = _mm256_or_ps(_mm256_andnot_ps(sign, th), _mm256_and_ps(sign, y)); /* copysign(th, y) */
    return _mm256_blendv_ps(_mm256_mul_ps(th, cap), v, _mm256_cmp_ps(y, y, _CMP_UNORD_Q));
}

static void softcap_avx2(float *x, int n, float cap) {
    const __m256 capv = _mm256_set1_ps(cap);
    int j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, softcap8(_mm256_loadu_ps(x + j), capv));
    if (j == n) return;
    float t[8] = {0}; /* the tail, padded, so nothing is read past n */
    memcpy(t, x + j, (size_t)(n - j) * sizeof(float));
    _mm256_storeu_ps(t, softcap8(_mm256_loadu_ps(t), capv));
    memcpy(x + j, t, (size_t)(n - j) * sizeof(float));
}

/* ======================= the table entries ======================= */

void kernels_avx2_install(kernel_set *k) {
    type_traits *t = k->type;
    t[GGML_TYPE_F32].vec_dot = vec_dot_f32;
    t[GGML_TYPE_F16].vec_dot = vec_dot_f16;
    t[GGML_TYPE_BF16].vec_dot = vec_dot_bf16;
    t[GGML_TYPE_Q4_0].vec_dot = vec_dot_q4_0;
    t[GGML_TYPE_Q4_1].vec_dot = vec_dot_q4_1;
    t[GGML_TYPE_Q5_0].vec_dot = vec_dot_q5_0;
    t[GGML_TYPE_Q5_1].vec_dot = vec_dot_q5_1;
    t[GGML_TYPE_Q8_0].vec_dot = vec_dot_q8_0;
    t[GGML_TYPE_Q2_K].vec_dot = vec_dot_q2_k;
    t[GGML_TYPE_Q3_K].vec_dot = vec_dot_q3_k;
    t[GGML_TYPE_Q4_K].vec_dot = vec_dot_q4_k;
    t[GGML_TYPE_Q5_K].vec_dot = vec_dot_q5_k;
    t[GGML_TYPE_Q6_K].vec_dot = vec_dot_q6_k;
    t[GGML_TYPE_IQ4_NL].vec_dot = vec_dot_iq4_nl;
    t[GGML_TYPE_IQ4_XS].vec_dot = vec_dot_iq4_xs;
    t[GGML_TYPE_MXFP4].vec_dot = vec_dot_mxfp4;
    t[GGML_TYPE_F32].gemm = gemm_f32;
    t[GGML_TYPE_F16].gemm = gemm_f16;
    t[GGML_TYPE_BF16].gemm = gemm_bf16;
    t[GGML_TYPE_Q4_0].gemm = gemm_q4_0;
    t[GGML_TYPE_Q5_0].gemm = gemm_q5_0;
    t[GGML_TYPE_Q8_0].gemm = gemm_q8_0;
    t[GGML_TYPE_IQ4_NL].gemm = gemm_iq4_nl;
    t[GGML_TYPE_MXFP4].gemm = gemm_mxfp4;
    t[GGML_TYPE_Q2_K].gemm = gemm_q2_k;
    t[GGML_TYPE_Q3_K].gemm = gemm_q3_k;
    t[GGML_TYPE_Q4_K].gemm = gemm_q4_k;
    t[GGML_TYPE_Q5_K].gemm = gemm_q5_k;
    t[GGML_TYPE_Q6_K].gemm = gemm_q6_k;
    t[GGML_TYPE_IQ4_XS].gemm = gemm_iq4_xs;
    t[GGML_TYPE_Q8_0].from_float = quantize_q8_0;
    t[GGML_TYPE_Q8_1].from_float = quantize_q8_1;
    t[GGML_TYPE_Q8_K].from_float = quantize_q8_k;
    t[TYPE_Q8_0S].from_float = quantize_q8_0s;
    k->vec.geglu = geglu_avx2;
    k->vec.rmsnorm = rmsnorm_avx2;
    k->vec.softcap = softcap_avx2;
    kernels_avx2_panels_install(k);
    kernels_avx2_float_panels_install(k);
}

#else
typedef int kernels_avx2_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
