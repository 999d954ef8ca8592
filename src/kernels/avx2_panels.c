/* avx2_panels.c - AVX2 kernels for the 16-row panel layouts (kernels/panels.c has the layouts
 * and the scalar twins these give the bits of), part of the AVX2 layer.
 *
 *   unpack_half()    the codes of one half of a panel block (rows 0-7 or 8-15: 32 of each
 *                    64-byte group) as 8 registers, one per 4-element group, lane r = row r's
 *                    4 codes
 *   block_dot()      one activation row's block: the exact integer dot of 8 rows
 *   block_tile()     up to 2 halves x na activation rows, each half unpacked once for all na
 *   q4_k_half(), q6_k_half()   the K-quants' super-block for one half and na activation rows
 *   q4_k_decode(), q6_k_decode()   the same for one activation row, each code group loaded
 *                    once for all the sub-blocks it serves
 *   iq4_xs_half()    IQ4_XS's super-block for one half and 1..4 activation rows (codebook
 *                    values signed, the sign trick of Q8_0 below)
 *   panel_dot(), k_panel_dot() the panel kernels (quant.h: panel_fn)
 *
 * The layouts are the AVX-512 ones (16 rows, 4-byte groups): a ymm holds one group of 8 rows,
 * so one panel is two halves and no layout of its own is needed. Decode (one activation row)
 * takes both halves of a block before the next block, so each thread still reads one stream
 * front to back; prefill takes a half at a time against up to 4 activation rows (16 ymm
 * registers: 8 of codes, 4 accumulators, the rest temporaries).
 *
 * Without VNNI the 4-product dot of a lane is vpmaddubsw (unsigned weight byte x signed
 * activation byte, adjacent pairs added to int16) then vpmaddwd (int16 pairs added to int32).
 * The int16 sums are exact as long as they stay below 2^15, so the int16 stage adds as many
 * groups as the code range allows before widening: 8 groups for 4-bit codes (8 x 2 x 15 x 128
 * = 30720), 4 for 5-bit ones (31744), 2 for Q6_K's 6-bit ones (32256). Q8_0's codes (u up
 * to 255) would overflow even one pair, so Q8_0 uses the signed codes q = u - 128 with the
 * sign moved onto the activation (|q| x sign(a, q), exact for activation codes in -127..127,
 * the range the quantizers produce), and so does IQ4_XS (codebook values -127..113, which
 * +128 would overflow as Q8_0's do). The K-quants' vpmaddwd multiplies by the sub-block scale
 * (as an int16 pair) instead of by ones, which saves the int32 multiply. Every sum is the
 * scalar twin's integer, and the float steps are its steps in its order: the same bits. */
#if defined(__x86_64__)

#include <immintrin.h>

#include "dispatch.h"
#include "kernels.h"

#define INLINE inline __attribute__((always_inline))
#define PANEL_NA 4 /* activation rows per prefill tile */
#define HALF 8     /* rows per ymm */

typedef enum { KIND_Q4_0, KIND_Q5_0, KIND_Q8_0 } panel_kind;

static const struct {
    size_t block;  /* bytes per panel block */
    int offset;    /* c in u = q + c */
} kinds[] = {[KIND_Q4_0] = {16 * 18, 8}, [KIND_Q5_0] = {16 * 22, 16}, [KIND_Q8_0] = {16 * 34, 128}};

static INLINE __m256i loadu256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static INLINE int32_t rd_i32(const uint8_t *p) { return (int32_t)rd_u32(p); }

/* Group g of activation codes (4 bytes at 4g) in every lane. */
static INLINE __m256i act_group(const uint8_t *aq, int g) { return _mm256_set1_epi32(rd_i32(aq + 4 * g)); }

/* The int16 pair sums of unsigned codes q times activation group g. */
static INLINE __m256i dot16(__m256i q, const uint8_t *aq, int g) { return _mm256_maddubs_epi16(q, act_group(aq, g)); }

/* The 8 f16 scales of half h at p, widened. */
static INLINE __m256 scales8(const uint8_t *p, int h) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * HALF * h)));
}

/* Stores the first n (<= 8) lanes of v. */
static INLINE void store_rows(float *y, __m256 v, int n) {
    if (n >= HALF) {
        _mm256_storeu_ps(y, v);
        return;
    }
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y, mask, v);
}

/* 16 in byte j of the result where bit j of m is set, else 0 (Q5_0's fifth bits). */
static INLINE __m256i mask_bytes16(uint32_t m) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
                                            3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)m), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

/* q[g] = the codes of element group g (elements 4g .. 4g+3) of rows 8h .. 8h+7 of a block:
 * unsigned (u = q + c) for Q4_0 and Q5_0, signed (q) for Q8_0. */
static INLINE void unpack_half(const panel_kind kind, const uint8_t *pb, int h, __m256i q[8]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    if (kind == KIND_Q8_0) {
        const __m256i flip = _mm256_set1_epi8((char)0x80);
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) q[l] = _mm256_xor_si256(loadu256(pb + 32 + 64 * l + 32 * h), flip);
        return;
    }
    const uint8_t *nib = pb + (kind == KIND_Q5_0 ? 96 : 32) + 32 * h;
#pragma GCC unroll 4
    for (int l = 0; l < 4; l++) {
        __m256i v = loadu256(nib + 64 * l);
        q[l] = _mm256_and_si256(v, m4);
        q[l + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
    if (kind == KIND_Q5_0) {
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) q[g] = _mm256_or_si256(q[g], mask_bytes16(rd_u32(pb + 32 + 8 * g + 4 * h)));
    }
}

/* The exact dot of the 8 rows' block codes q with activation block ab (Q8_0S): the scalar
 * twin's isum in every lane. */
static INLINE __m256i block_dot(const panel_kind kind, const __m256i q[8], const uint8_t *ab) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (kind == KIND_Q8_0) {
        __m256i s = _mm256_setzero_si256(), t = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int g = 0; g < 8; g += 2) {
            __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(q[g]), _mm256_sign_epi8(act_group(ab, g), q[g]));
            __m256i p1 = _mm256_maddubs_epi16(_mm256_abs_epi8(q[g + 1]), _mm256_sign_epi8(act_group(ab, g + 1), q[g + 1]));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(p0, ones));
            t = _mm256_add_epi32(t, _mm256_madd_epi16(p1, ones));
        }
        return _mm256_add_epi32(s, t);
    }
    __m256i start = _mm256_set1_epi32(-kinds[kind].offset * rd_i32(ab + 36));
    __m256i s0 = _mm256_add_epi16(dot16(q[0], ab, 0), dot16(q[1], ab, 1));
    __m256i s1 = _mm256_add_epi16(dot16(q[2], ab, 2), dot16(q[3], ab, 3));
    __m256i s2 = _mm256_add_epi16(dot16(q[4], ab, 4), dot16(q[5], ab, 5));
    __m256i s3 = _mm256_add_epi16(dot16(q[6], ab, 6), dot16(q[7], ab, 7));
    if (kind == KIND_Q4_0) /* 8 groups of 4-bit codes fit int16 */
        return _mm256_add_epi32(start, _mm256_madd_epi16(_mm256_add_epi16(_mm256_add_epi16(s0, s1), _mm256_add_epi16(s2, s3)), ones));
    __m256i lo = _mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones), hi = _mm256_madd_epi16(_mm256_add_epi16(s2, s3), ones);
    return _mm256_add_epi32(start, _mm256_add_epi32(lo, hi));
}

/* A compiler barrier between the two halves of a block: without it GCC shares the activation
 * broadcasts of both halves (the same values) over the whole fully unrolled super-block and
 * spills them and the codes to a 4 KB stack frame. With the K-quant decode's outer loop left
 * rolled (below), it took AVX2 decode of e2b Q4_K_M (78% Q6_K) from 11.5 to 16.4 GB/s on one
 * core, 30 -> 49.5 t/s on two (41 without the barrier; chrt, noisy: +-5). */
static INLINE void halves_apart(void) { __asm__ volatile("" ::: "memory"); }

/* The hardware prefetchers alone fall behind here, for two reasons: with several activation
 * rows a block takes longer to multiply than to read, and with one (decode) a single core
 * keeps too few reads in flight to reach DRAM's bandwidth. So the first half of a panel
 * (which touches every line of its blocks) prefetches AHEAD bytes ahead, in tiles of 4 rows
 * and in decode. One core, a 72 MB Q4_0 matrix in DRAM: 4 rows 72 -> 80 GMAC/s, 8 rows
 * 80 -> 83 (98 from L3); 2 and 3 rows gained nothing (2 lost 66 -> 53). Decode on a Zen 3,
 * gemma bench tg32, two threads, paired runs: e2b Q4_0 27.5 -> 33.2 t/s, gemma3-1b Q8_0 14.7
 * -> 16.4, e2b Q4_K_M 19.1 -> 20.2 (2048 and 8192 bytes ahead: the same within the noise). */
#define AHEAD 4096

static INLINE void prefetch_ahead(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + AHEAD + o, _MM_HINT_T0);
}

/* Whether a tile of na activation rows from half h0 prefetches (above). */
static INLINE bool prefetches(const int na, const int h0) { return (na == 1 || na >= 4) && h0 == 0; }

/* Q8_0 against several activation rows (the blocks at a, a_stride apart): isum[j] = the
 * exact dot of rows 8h .. 8h+7 of a panel block with row j, as block_dot, but with the block's
 * groups in two passes of four: four groups' codes and their absolute values are 8 registers,
 * which leaves room for the rows' sums; with all eight groups unpacked at once GCC spilled the
 * codes and the accumulators (Zen 3, pp512, two threads, paired runs: gemma3-1b Q8_0 78.6 ->
 * 83.7 t/s, e2b Q8_0 116 -> 120). */
static INLINE void q8_0_rows(const uint8_t *pb, int h, const uint8_t *a, size_t a_stride, const int na, __m256i *isum) {
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
#pragma GCC unroll 4
    for (int j = 0; j < na; j++) isum[j] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int pass = 0; pass < 2; pass++) {
        __m256i q[4], w[4];
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) {
            q[l] = _mm256_xor_si256(loadu256(pb + 32 + 64 * (4 * pass + l) + 32 * h), flip);
            w[l] = _mm256_abs_epi8(q[l]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) {
            const uint8_t *ab = a + (size_t)j * a_stride + 16 * pass;
            __m256i p[4];
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) p[l] = _mm256_madd_epi16(_mm256_maddubs_epi16(w[l], _mm256_sign_epi8(act_group(ab, l), q[l])), ones);
            isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])));
        }
        halves_apart();
    }
}

/* Halves h0 .. h0 + nh - 1 of one panel for activation rows 0 .. na - 1 (a_stride apart);
 * `rows` valid rows in the panel. */
static INLINE void block_tile(const panel_kind kind, const int na, const int h0, const int nh, int64_t nb, float *y,
                              size_t y_stride, const uint8_t *panel, int rows, const uint8_t *a, size_t a_stride) {
    __m256 acc[2][PANEL_NA];
#pragma GCC unroll 2
    for (int h = 0; h < nh; h++)
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) acc[h][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = panel + (size_t)b * kinds[kind].block;
        if (prefetches(na, h0)) prefetch_ahead(pb, kinds[kind].block);
#pragma GCC unroll 2
        for (int h = 0; h < nh; h++) {
            __m256 dw = scales8(pb, h0 + h);
            if (kind == KIND_Q8_0 && na > 1) {
                __m256i isum[PANEL_NA];
                q8_0_rows(pb, h0 + h, a + 40 * (size_t)b, a_stride, na, isum);
#pragma GCC unroll 4
                for (int j = 0; j < na; j++) {
                    const uint8_t *ab = a + (size_t)j * a_stride + 40 * (size_t)b;
                    __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(rd_f32(ab + 32)));
                    acc[h][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), d, acc[h][j]);
                }
                continue;
            }
            __m256i q[8];
            unpack_half(kind, pb, h0 + h, q);
#pragma GCC unroll 4
            for (int j = 0; j < na; j++) {
                const uint8_t *ab = a + (size_t)j * a_stride + 40 * (size_t)b;
                __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(rd_f32(ab + 32)));
                acc[h][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot(kind, q, ab)), d, acc[h][j]);
            }
            halves_apart();
        }
    }
#pragma GCC unroll 2
    for (int h = 0; h < nh; h++)
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) store_rows(y + (size_t)j * y_stride + HALF * (h0 + h), acc[h][j], rows - HALF * (h0 + h));
}

static INLINE void panel_dot(const panel_kind kind, int64_t K, float *y, size_t y_stride, const void *w,
                             int64_t n_rows, const void *a, size_t a_stride, int64_t M) {
    int64_t nb = K / 32;
    size_t panel_bytes = (size_t)nb * kinds[kind].block;
    const uint8_t *am = a;
    if (M == 1) { /* decode: both halves of each block in turn, one stream */
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            int rows = n_rows - r >= PANEL_ROWS ? PANEL_ROWS : (int)(n_rows - r);
            if (rows > HALF) block_tile(kind, 1, 0, 2, nb, y + r, y_stride, panel, rows, am, a_stride);
            else block_tile(kind, 1, 0, 1, nb, y + r, y_stride, panel, rows, am, a_stride);
        }
        return;
    }
    for (int64_t m = 0; m < M; m += PANEL_NA) {
        int na = (int)(M - m < PANEL_NA ? M - m : PANEL_NA);
        am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            int rows = n_rows - r >= PANEL_ROWS ? PANEL_ROWS : (int)(n_rows - r);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            for (int h = 0; h * HALF < rows; h++) {
                switch (na) { /* a body per count keeps the accumulators in registers */
                case 1: block_tile(kind, 1, h, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                case 2: block_tile(kind, 2, h, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                case 3: block_tile(kind, 3, h, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                default: block_tile(kind, 4, h, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                }
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

/* ---- K-quants (Q4_K, Q5_K, Q6_K): one f32 step per super-block of 256 ----
 * Per half, super-block and activation row: isum = sum over sub-blocks of the int16 code x
 * activation pair sums, widened by vpmaddwd with the sub-block's scale as an int16 pair
 * (scale x (p0 + p1) per lane, exact: 63 x 2 x 32256 < 2^31); one cvt + fma (Q4_K/Q5_K: a
 * second for the mins, from the activation sums). Each sub-block's codes are unpacked once
 * for all na activation rows. */

typedef enum { KQ4, KQ5, KQ6, KIQ4 } k_kind; /* KIQ4: IQ4_XS, on the same super-block loops */

static INLINE size_t k_block_bytes(const k_kind kind) {
    return kind == KQ4 ? 16 * 144 : kind == KQ5 ? 16 * 176 : kind == KQ6 ? 16 * 210 : 16 * 136;
}

static INLINE __m256i bits(__m256i v, int shift, int width) {
    return _mm256_and_si256(_mm256_srli_epi32(v, shift), _mm256_set1_epi32((1 << width) - 1));
}

/* A lane's value (< 2^15) in both of its 16-bit halves. */
static INLINE __m256i twice16(__m256i v) { return _mm256_or_si256(v, _mm256_slli_epi32(v, 16)); }

/* Q5_K: 16 in every byte of H whose bit b is set (the fifth bit of its code), else 0. */
static INLINE __m256i fifth_bit(__m256i H, const int b) {
    __m256i moved = b <= 4 ? _mm256_slli_epi16(H, 4 - b) : _mm256_srli_epi16(H, b - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(16));
}

/* Q4_K / Q5_K: the 6-bit scale (S = S0, the low bits in S2) or min (S = S1) of sub-block j
 * of the 8 rows, from the three dword groups of packed scales (kernels.h's k4_scale_min). */
static INLINE __m256i k4_field(__m256i S, __m256i S2, const int j, const bool min) {
    if (j < 4) return bits(S, 8 * j, 6);
    return _mm256_or_si256(bits(S2, 8 * (j - 4) + (min ? 4 : 0), 4), _mm256_slli_epi32(bits(S, 8 * (j - 4) + 6, 2), 4));
}

/* A 16-bit pair (lo, hi) in every lane. */
static INLINE __m256i pair16(int32_t lo, int32_t hi) {
    return _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16));
}

/* Q4_K / Q5_K: the vpmaddwd factor of sub-block j's scale, the 8 rows at ph (a panel
 * super-block + 32 h). */
static INLINE __m256i k4_scale_pair(const uint8_t *ph, int j) {
    return twice16(k4_field(loadu256(ph + 64), loadu256(ph + 192), j, false));
}

/* Q4_K / Q5_K: the mins of sub-blocks 2k, 2k + 1 as 16-bit pairs, k < 4, of the 8 rows at ph. */
static INLINE void k4_min_pairs(const uint8_t *ph, __m256i mpair[4]) {
    __m256i S1 = loadu256(ph + 128), S2 = loadu256(ph + 192);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        mpair[k] = _mm256_or_si256(k4_field(S1, S2, 2 * k, true), _mm256_slli_epi32(k4_field(S1, S2, 2 * k + 1, true), 16));
}

/* Q4_K / Q5_K: acc + isum x d x d_a - (sum over sub-blocks of min x activation sum) x dmin x d_a,
 * for one activation row's Q8_K super-block ab. */
static INLINE __m256 k4_step(const __m256i mpair[4], __m256 d, __m256 dmin, const uint8_t *ab, __m256i isum, __m256 acc) {
    __m256i msum = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) { /* mins of sub-blocks 2k, 2k + 1 x their activation sums */
        int32_t b0 = (int32_t)rd_i16(ab + 260 + 8 * k) + rd_i16(ab + 262 + 8 * k);
        int32_t b1 = (int32_t)rd_i16(ab + 264 + 8 * k) + rd_i16(ab + 266 + 8 * k);
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mpair[k], pair16(b0, b1)));
    }
    __m256 da = _mm256_set1_ps(rd_f32(ab));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d, da), acc);
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, da), acc);
}

/* Q4_K / Q5_K (`five`): rows 8h .. 8h+7 of one panel super-block against na activation
 * rows' Q8_K super-blocks (a_stride apart). */
static INLINE void q4_k_half(const bool five, const int na, const uint8_t *pb, int h, const uint8_t *a,
                             size_t a_stride, __m256 *acc) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const uint8_t *ph = pb + 32 * h;
    __m256i isum[PANEL_NA];
#pragma GCC unroll 4
    for (int r = 0; r < na; r++) isum[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) { /* sub-block j: chunk j / 2, low nibbles for even j */
        __m256i q[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m256i v = loadu256(ph + (five ? 768 : 256) + 64 * (8 * (j / 2) + l));
            q[l] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, m4);
            if (five) q[l] = _mm256_or_si256(q[l], fifth_bit(loadu256(ph + 256 + 64 * l), j));
        }
        __m256i sc = k4_scale_pair(ph, j);
#pragma GCC unroll 4
        for (int r = 0; r < na; r++) {
            const uint8_t *aq = a + (size_t)r * a_stride + 4 + 32 * j;
            __m256i s0 = _mm256_add_epi16(dot16(q[0], aq, 0), dot16(q[1], aq, 1));
            __m256i s1 = _mm256_add_epi16(dot16(q[2], aq, 2), dot16(q[3], aq, 3));
            __m256i s2 = _mm256_add_epi16(dot16(q[4], aq, 4), dot16(q[5], aq, 5));
            __m256i s3 = _mm256_add_epi16(dot16(q[6], aq, 6), dot16(q[7], aq, 7));
            __m256i part;
            if (five) /* 4 groups of 5-bit codes per int16 sum */
                part = _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(s0, s1), sc),
                                        _mm256_madd_epi16(_mm256_add_epi16(s2, s3), sc));
            else
                part = _mm256_madd_epi16(_mm256_add_epi16(_mm256_add_epi16(s0, s1), _mm256_add_epi16(s2, s3)), sc);
            isum[r] = _mm256_add_epi32(isum[r], part);
        }
    }
    __m256i mpair[4];
    k4_min_pairs(ph, mpair);
    __m256 d = scales8(pb, h), dmin = scales8(pb + 32, h);
#pragma GCC unroll 4
    for (int r = 0; r < na; r++) acc[r] = k4_step(mpair, d, dmin, a + (size_t)r * a_stride, isum[r], acc[r]);
}

/* Q6_K: the int8 scale in byte m of every dword of S, sign-extended, in both 16-bit halves
 * of the dword (the vpmaddwd factor of a sub-block). */
static INLINE __m256i scale_pair6(__m256i S, int m) {
    /* byte m of every dword to both bytes 1 and 3 (then >> 8 as int16: the scale twice) */
    static const int8_t spread[4][32] = {
#define SPREAD(k) {-1, k, -1, k, -1, 4 + k, -1, 4 + k, -1, 8 + k, -1, 8 + k, -1, 12 + k, -1, 12 + k, \
                   -1, k, -1, k, -1, 4 + k, -1, 4 + k, -1, 8 + k, -1, 8 + k, -1, 12 + k, -1, 12 + k}
        SPREAD(0), SPREAD(1), SPREAD(2), SPREAD(3)
#undef SPREAD
    };
    return _mm256_srai_epi16(_mm256_shuffle_epi8(S, _mm256_loadu_si256((const __m256i *)spread[m])), 8);
}

/* Q6_K: the int8 scales of sub-blocks 2k, 2k + 1 as sign-extended 16-bit pairs, k < 8, of the
 * 8 rows at ph (a panel super-block + 32 h): bytes 2 (k % 2) and 2 (k % 2) + 1 of every dword
 * of scale group k / 2 moved to the high bytes of its two halves, then shifted down signed. */
static INLINE void q6_k_scale_pairs(const uint8_t *ph, __m256i spair[8]) {
    static const int8_t spread[2][32] = {
#define SPREAD(k) {-1, k, -1, k + 1, -1, 4 + k, -1, 5 + k, -1, 8 + k, -1, 9 + k, -1, 12 + k, -1, 13 + k, \
                   -1, k, -1, k + 1, -1, 4 + k, -1, 5 + k, -1, 8 + k, -1, 9 + k, -1, 12 + k, -1, 13 + k}
        SPREAD(0), SPREAD(2)
#undef SPREAD
    };
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        spair[k] = _mm256_srai_epi16(_mm256_shuffle_epi8(loadu256(ph + 32 + 64 * (k / 2)),
                                                         _mm256_loadu_si256((const __m256i *)spread[k % 2])), 8);
}

/* Q6_K: acc + (isum - 32 x sum over sub-blocks of scale x activation sum) x d x d_a, for one
 * activation row's Q8_K super-block ab (the sums of sub-blocks 2k, 2k + 1 as one dword). */
static INLINE __m256 q6_k_step(const __m256i spair[8], __m256 d, const uint8_t *ab, __m256i isum, __m256 acc) {
    __m256i off = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) off = _mm256_add_epi32(off, _mm256_madd_epi16(spair[k], _mm256_set1_epi32(rd_i32(ab + 260 + 4 * k))));
    __m256i total = _mm256_sub_epi32(isum, _mm256_slli_epi32(off, 5));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(rd_f32(ab))), acc);
}

/* Q6_K, as q4_k_half. Sub-block sb holds element groups 4 sb + k (k < 4): half
 * hh = sb / 8, g = sb % 8 / 2 (low nibbles of ql group 16hh + 8(g & 1) + l4 shifted by 4(g >> 1),
 * two bits of qh group 8hh + l4 at 2g), l4 = 4 (sb % 2) + k. The -32 offsets come once per
 * super-block and row from the activation sums. */
static INLINE void q6_k_half(const int na, const uint8_t *pb, int h, const uint8_t *a, size_t a_stride, __m256 *acc) {
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    const uint8_t *ph = pb + 32 * h;
    __m256i isum[PANEL_NA];
#pragma GCC unroll 4
    for (int r = 0; r < na; r++) isum[r] = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (int sb = 0; sb < 16; sb++) {
        int hh = sb / 8, g = sb % 8 / 2;
        __m256i q[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            int l4 = 4 * (sb % 2) + k;
            __m256i L = loadu256(ph + q6_k_ql_at(16 * hh + 8 * (g & 1) + l4)), H = loadu256(ph + q6_k_qh_at(8 * hh + l4));
            __m256i hi2 = g < 2 ? _mm256_slli_epi16(H, 4 - 2 * g) : g == 2 ? H : _mm256_srli_epi16(H, 2);
            q[k] = _mm256_or_si256(_mm256_and_si256(g >> 1 ? _mm256_srli_epi16(L, 4) : L, m4), _mm256_and_si256(hi2, m30));
        }
        __m256i sc = scale_pair6(loadu256(ph + 32 + 64 * (sb / 4)), sb % 4);
#pragma GCC unroll 4
        for (int r = 0; r < na; r++) {
            const uint8_t *aq = a + (size_t)r * a_stride + 4 + 16 * sb;
            __m256i s0 = _mm256_add_epi16(dot16(q[0], aq, 0), dot16(q[1], aq, 1)); /* 2 groups of 6-bit codes */
            __m256i s1 = _mm256_add_epi16(dot16(q[2], aq, 2), dot16(q[3], aq, 3));
            isum[r] = _mm256_add_epi32(isum[r], _mm256_add_epi32(_mm256_madd_epi16(s0, sc), _mm256_madd_epi16(s1, sc)));
        }
    }
    __m256i spair[8];
    q6_k_scale_pairs(ph, spair);
    __m256 d = scales8(pb, h);
#pragma GCC unroll 4
    for (int r = 0; r < na; r++) acc[r] = q6_k_step(spair, d, a + (size_t)r * a_stride, isum[r], acc[r]);
}

/* The sums so far, opaque to the compiler: GCC otherwise reassociates a chain of int16 adds
 * into a tree over all of its products and spills them (q4_k_decode). */
static INLINE void in_order2(__m256i *a, __m256i *b) { __asm__("" : "+x"(*a), "+x"(*b)); }

/* A compiler barrier: the loads before it are issued before the ones after it (as in
 * avx512_panels.c, where GCC otherwise spreads Q5_K's loads over the whole super-block and
 * the hardware prefetchers lose the stream). */
static INLINE void read_in_order(const bool on) {
    if (on) __asm__ volatile("" ::: "memory");
}

/* Q4_K / Q5_K decode (one activation row), rows 8h .. 8h+7: each chunk of 32 code groups is
 * loaded once and serves its two sub-blocks (low and high nibbles), instead of once per
 * sub-block as in q4_k_half. The loop keeps nothing but the codes' and activations' pointers
 * and isum across chunks (the scales are loaded again where they are used, the mins are
 * taken after it): with the packed scales held in registers and the mins inside, GCC spilled
 * isum and the products (Q4_K from L2, one core: 14.6 -> 19.3 GB/s with in_order2). */
static INLINE __m256 q4_k_decode(const bool five, const uint8_t *pb, int h, const uint8_t *ab, __m256 acc) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const uint8_t *ph = pb + 32 * h, *codes = ph + (five ? 768 : 256), *aq = ab + 4;
    __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 1 /* rolled: fully unrolled, GCC spilled (moe Q4_K_M tg32 20 -> 25 t/s) */
    for (int c = 0; c < 4; c++, codes += 512, aq += 64) {
        int j = 2 * c; /* sub-blocks j (low nibbles) and j + 1 (high) */
        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256(), part = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m256i v = loadu256(codes + 64 * l);
            __m256i ql = _mm256_and_si256(v, m4), qh = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            if (five) {
                __m256i H = loadu256(ph + 256 + 64 * l);
                ql = _mm256_or_si256(ql, fifth_bit(H, j));
                qh = _mm256_or_si256(qh, fifth_bit(H, j + 1));
            }
            lo = _mm256_add_epi16(lo, dot16(ql, aq, l));
            hi = _mm256_add_epi16(hi, dot16(qh, aq, 8 + l));
            in_order2(&lo, &hi);
            if (five && l % 4 == 3) { /* 4 groups of 5-bit codes fill an int16 sum */
                part = _mm256_add_epi32(part, _mm256_add_epi32(_mm256_madd_epi16(lo, k4_scale_pair(ph, j)),
                                                               _mm256_madd_epi16(hi, k4_scale_pair(ph, j + 1))));
                lo = hi = _mm256_setzero_si256();
            }
        }
        read_in_order(five);
        if (!five) part = _mm256_add_epi32(_mm256_madd_epi16(lo, k4_scale_pair(ph, j)), _mm256_madd_epi16(hi, k4_scale_pair(ph, j + 1)));
        isum = _mm256_add_epi32(isum, part);
    }
    __m256i mpair[4];
    k4_min_pairs(ph, mpair);
    return k4_step(mpair, scales8(pb, h), scales8(pb + 32, h), ab, isum, acc);
}

/* Q6_K decode, rows 8h .. 8h+7, the super-block's four 768-byte segments in turn: segment i
 * (kernels.h's q6_k_ql_at) holds, for k < 4, ql group 16 (i / 2) + 4 (i % 2) + k at 64 k, its
 * partner eight groups on at 256 + 64 k, and qh group 8 (i / 2) + 4 (i % 2) + k at 512 + 64 k.
 * Each ql pair and qh group is loaded once and gives the codes of four sub-blocks (g = 0..3:
 * sub-block 8 (i / 2) + 2 g + i % 2, whose activation group for code k sits 32 g + 4 k bytes
 * into the segment's), two groups per int16 sum. Addresses are the segment's plus constants:
 * computed from i through q6_k_ql_at, GCC kept them in scalar registers it then spilled (with
 * the scale pairs by vpshufb, below: 8.6 -> 18.2 GB/s on one core from L2). */
static INLINE __m256 q6_k_decode(const uint8_t *pb, int h, const uint8_t *ab, __m256 acc) {
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    const uint8_t *ph = pb + 32 * h;
    __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 1 /* rolled, as q4_k_decode's */
    for (int i = 0; i < 4; i++) {
        const uint8_t *seg = ph + 288 + 768 * i, *aq = ab + 4 + 128 * (i / 2) + 16 * (i % 2);
        const uint8_t *S = ph + 32 + 128 * (i / 2); /* scales of sub-blocks 8 (i / 2) .. +7 */
        __m256i sc[4] = {scale_pair6(loadu256(S), i % 2), scale_pair6(loadu256(S), 2 + i % 2),
                         scale_pair6(loadu256(S + 64), i % 2), scale_pair6(loadu256(S + 64), 2 + i % 2)};
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++) {
            __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 2
            for (int k = 2 * p; k < 2 * p + 2; k++) {
                __m256i A = loadu256(seg + 64 * k), B = loadu256(seg + 256 + 64 * k), H = loadu256(seg + 512 + 64 * k);
                __m256i q0 = _mm256_or_si256(_mm256_and_si256(A, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
                __m256i q1 = _mm256_or_si256(_mm256_and_si256(B, m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
                __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(A, 4), m4), _mm256_and_si256(H, m30));
                __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(B, 4), m4),
                                             _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
                s[0] = _mm256_add_epi16(s[0], dot16(q0, aq, k));
                s[1] = _mm256_add_epi16(s[1], dot16(q1, aq, 8 + k));
                s[2] = _mm256_add_epi16(s[2], dot16(q2, aq, 16 + k));
                s[3] = _mm256_add_epi16(s[3], dot16(q3, aq, 24 + k));
            }
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) isum = _mm256_add_epi32(isum, _mm256_madd_epi16(s[g], sc[g]));
        }
    }
    __m256i spair[8];
    q6_k_scale_pairs(ph, spair);
    return q6_k_step(spair, scales8(pb, h), ab, isum, acc);
}

/* ---- IQ4_XS: codebook values by vpshufb, signed ----
 * The values (-127..113) as unsigned codes (+128, up to 241, as the AVX-512 kernel takes them)
 * would overflow vpmaddubsw's int16 pair (241 x 127 x 2 = 61214), so the codes stay signed and
 * the sign moves onto the activation, as for Q8_0: |w| x sign(a, w), exact for activation codes
 * in -127..127 (quantize_q8_k's range). A pair sum reaches 2 x 127 x 127 = 32258, so no two
 * groups share an int16 sum: each is widened at once by vpmaddwd with the sub-block's scale
 * ls - 32 as the int16 pair (|32 x 2 x 32258| < 2^31). The result is sum_e w_e a_e per
 * sub-block with no offset: the scalar twin's -128 x sum + sum (w + 128) a, the same integer.
 * One core, 2048 x 2048, in L3: 38 GMAC/s for one activation row, 59 for 4 or 8. Without the
 * vpsignb it would be 20 % faster, but the exact way around it (w = 16 (idx - 8) + a residual
 * in 0..26 by vpshufb, both unsigned, the offsets from the activation sums) needs a second
 * vpmaddubsw per group and more accumulators than registers: 36-44 GMAC/s. */

/* Rows 8h .. 8h+7 of one IQ4_XS_R16 super-block against na activation rows' Q8_K
 * super-blocks (a_stride apart): per row isum = sum over sub-blocks of (ls - 32) x dot, one
 * f32 step. Each code group is looked up once for all na rows; decode (na = 1) reads the
 * super-block's half front to back. */
static INLINE void iq4_xs_half(const int na, const uint8_t *pb, int h, const uint8_t *a, size_t a_stride, __m256 *acc) {
    const __m256i m4 = _mm256_set1_epi8(15), k32 = _mm256_set1_epi16(32);
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kvalues_iq4nl));
    const uint8_t *ph = pb + 32 * h;
    __m256i L = loadu256(ph + 32), H = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(pb + 96 + 16 * h)));
    __m256i isum[PANEL_NA];
#pragma GCC unroll 4
    for (int r = 0; r < na; r++) isum[r] = _mm256_setzero_si256();
#pragma GCC unroll 1 /* rolled, as q4_k_decode's */
    for (int ib = 0; ib < 8; ib++) {
        /* scale ls: low 4 bits from scales_l (byte ib / 2, nibble ib % 2), high 2 from scales_h */
        __m256i ls = _mm256_or_si256(bits(L, 4 * ib, 4), _mm256_slli_epi32(bits(H, 2 * ib, 2), 4));
        __m256i sc = _mm256_sub_epi16(twice16(ls), k32);
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) { /* group 4 ib + l: elements 4l .. 4l+3 (low), 16 + 4l .. (high) */
            __m256i v = loadu256(ph + 128 + 64 * (4 * ib + l));
            __m256i q0 = _mm256_shuffle_epi8(book, _mm256_and_si256(v, m4));
            __m256i q1 = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            __m256i w0 = _mm256_abs_epi8(q0), w1 = _mm256_abs_epi8(q1);
#pragma GCC unroll 4
            for (int r = 0; r < na; r++) {
                const uint8_t *aq = a + (size_t)r * a_stride + 4 + 32 * ib;
                __m256i p0 = _mm256_maddubs_epi16(w0, _mm256_sign_epi8(act_group(aq, l), q0));
                __m256i p1 = _mm256_maddubs_epi16(w1, _mm256_sign_epi8(act_group(aq, 4 + l), q1));
                isum[r] = _mm256_add_epi32(isum[r], _mm256_add_epi32(_mm256_madd_epi16(p0, sc), _mm256_madd_epi16(p1, sc)));
            }
        }
    }
    __m256 d = scales8(pb, h);
#pragma GCC unroll 4
    for (int r = 0; r < na; r++) {
        __m256 da = _mm256_set1_ps(rd_f32(a + (size_t)r * a_stride));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_mul_ps(d, da), acc[r]);
    }
}

/* Halves h0 .. h0 + nh - 1 of one panel for activation rows 0 .. na - 1. */
static INLINE void k_tile(const k_kind kind, const int na, const int h0, const int nh, int64_t nsb, float *y,
                          size_t y_stride, const uint8_t *panel, int rows, const uint8_t *a, size_t a_stride) {
    __m256 acc[2][PANEL_NA];
#pragma GCC unroll 2
    for (int h = 0; h < nh; h++)
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) acc[h][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *pb = panel + (size_t)b * k_block_bytes(kind);
        if (prefetches(na, h0)) prefetch_ahead(pb, k_block_bytes(kind));
#pragma GCC unroll 2
        for (int h = 0; h < nh; h++) {
            const uint8_t *ab = a + 292 * (size_t)b;
            if (kind == KIQ4) iq4_xs_half(na, pb, h0 + h, ab, a_stride, acc[h]);
            else if (na == 1) /* decode */
                acc[h][0] = kind == KQ6 ? q6_k_decode(pb, h0 + h, ab, acc[h][0]) : q4_k_decode(kind == KQ5, pb, h0 + h, ab, acc[h][0]);
            else if (kind == KQ6) q6_k_half(na, pb, h0 + h, ab, a_stride, acc[h]);
            else q4_k_half(kind == KQ5, na, pb, h0 + h, ab, a_stride, acc[h]);
            halves_apart();
        }
    }
#pragma GCC unroll 2
    for (int h = 0; h < nh; h++)
#pragma GCC unroll 4
        for (int j = 0; j < na; j++) store_rows(y + (size_t)j * y_stride + HALF * (h0 + h), acc[h][j], rows - HALF * (h0 + h));
}

static INLINE void k_panel_dot(const k_kind kind, int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows,
                               const void *a, size_t a_stride, int64_t M) {
    int64_t nsb = K / QK_K;
    size_t panel_bytes = (size_t)nsb * k_block_bytes(kind);
    if (M == 1) { /* decode: both halves of each super-block in turn, one stream */
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            int rows = n_rows - r >= PANEL_ROWS ? PANEL_ROWS : (int)(n_rows - r);
            if (rows > HALF) k_tile(kind, 1, 0, 2, nsb, y + r, y_stride, panel, rows, a, a_stride);
            else k_tile(kind, 1, 0, 1, nsb, y + r, y_stride, panel, rows, a, a_stride);
        }
        return;
    }
    for (int64_t m = 0; m < M; m += PANEL_NA) {
        int na = (int)(M - m < PANEL_NA ? M - m : PANEL_NA);
        const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            int rows = n_rows - r >= PANEL_ROWS ? PANEL_ROWS : (int)(n_rows - r);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            for (int h = 0; h * HALF < rows; h++) {
                switch (na) {
                case 1: k_tile(kind, 1, h, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                case 2: k_tile(kind, 2, h, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                case 3: k_tile(kind, 3, h, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                default: k_tile(kind, 4, h, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                }
            }
        }
    }
}

static void panel_dot_q4_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    k_panel_dot(KQ4, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_dot_q5_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    k_panel_dot(KQ5, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_dot_q6_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                           size_t a_stride, int64_t M) {
    k_panel_dot(KQ6, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_dot_iq4_xs(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                             size_t a_stride, int64_t M) {
    k_panel_dot(KIQ4, K, y, y_stride, w, n_rows, a, a_stride, M);
}

/* The panel layouts this layer repacks into, and their kernels (called by the AVX2
 * installer, so the AVX-512 sets built over it start from them). */
void kernels_avx2_panels_install(kernel_set *k) {
    k->repack_to[GGML_TYPE_Q4_0] = TYPE_Q4_0_R16;
    k->repack_to[GGML_TYPE_Q5_0] = TYPE_Q5_0_R16;
    k->repack_to[GGML_TYPE_Q8_0] = TYPE_Q8_0_R16;
    k->type[TYPE_Q4_0_R16].panel_dot = panel_dot_q4_0;
    k->type[TYPE_Q5_0_R16].panel_dot = panel_dot_q5_0;
    k->type[TYPE_Q8_0_R16].panel_dot = panel_dot_q8_0;
    k->repack_to[GGML_TYPE_Q4_K] = TYPE_Q4_K_R16;
    k->repack_to[GGML_TYPE_Q5_K] = TYPE_Q5_K_R16;
    k->repack_to[GGML_TYPE_Q6_K] = TYPE_Q6_K_R16;
    k->type[TYPE_Q4_K_R16].panel_dot = panel_dot_q4_k;
    k->type[TYPE_Q5_K_R16].panel_dot = panel_dot_q5_k;
    k->type[TYPE_Q6_K_R16].panel_dot = panel_dot_q6_k;
    k->repack_to[GGML_TYPE_IQ4_XS] = TYPE_IQ4_XS_R16;
    k->type[TYPE_IQ4_XS_R16].panel_dot = panel_dot_iq4_xs;
}

#else
typedef int kernels_avx2_panels_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
