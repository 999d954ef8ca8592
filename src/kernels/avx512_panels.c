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

#include "avx512_intrin.h"

#include "dispatch.h"
#include "kernels.h"

#ifndef INLINE /* the emulated build (avx512_emulated.h) leaves the choice to the compiler */
#define INLINE inline __attribute__((always_inline))
#endif
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

/* With 3 or more activation rows a block takes longer to multiply than to read, and the
 * hardware prefetchers alone then fall behind: from DRAM (a 72 MB Q4_0 matrix, one core, 2 MiB
 * pages) 8 rows ran at 124 GMAC/s against 178 from L3. A software prefetch of every line
 * BATCH_AHEAD bytes ahead brings them to 174 (3 rows: 124 -> 149, 4: 145 -> 162; 2 rows gain
 * nothing, and at one row, memory-bound, the extra instructions cost 35 -> 32 GB/s). */
#define BATCH_AHEAD 4096

static INLINE void prefetch_ahead(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + BATCH_AHEAD + o, _MM_HINT_T0);
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
        if (na >= 3) prefetch_ahead(pb, kinds[kind].block);
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

/* ---- K-quants (Q4_K, Q5_K, Q6_K): one f32 step per super-block of 256 ----
 * Per super-block and activation row: isum = sum over sub-blocks of scale x exact dot
 * (vpdpbusd, then vpmulld by the sub-block scale), one cvt + fma (Q4_K/Q5_K: a second for
 * the mins). Prefill (k_rows): each sub-block's codes are unpacked once into registers and
 * serve up to 8 activation rows, one load (the broadcast activation group) per vpdpbusd;
 * Q6_K's -32 offsets and Q4_K's mins come once per super-block and row from the activation
 * sums (vpmaddwd of 16-bit scale pairs x sum pairs). Integer sums are exact in any grouping,
 * so every path gives the scalar twin's bits. Decode (one row) reads the panel straight
 * through (q4_k_decode, q6_k_decode). */

typedef enum { KQ4, KQ5, KQ6 } k_kind;

/* Bytes per panel super-block of each kind. */
static INLINE size_t k_block_bytes(const k_kind kind) { return kind == KQ4 ? 16 * 144 : kind == KQ5 ? 16 * 176 : 16 * 210; }

static INLINE __m512i bits(__m512i v, int shift, int width) {
    return _mm512_and_si512(_mm512_srli_epi32(v, shift), _mm512_set1_epi32((1 << width) - 1));
}

/* Q5_K: 16 in every byte of H whose bit b is set (the fifth bit of its code), else 0. */
static INLINE __m512i fifth_bit(__m512i H, const int b) {
    __m512i moved = b <= 4 ? _mm512_slli_epi16(H, (unsigned)(4 - b)) : _mm512_srli_epi16(H, (unsigned)(b - 4));
    return _mm512_and_si512(moved, _mm512_set1_epi8(16));
}

/* Q4_K / Q5_K: the 6-bit scale (S = S0, the low bits in S2) or min (S = S1) of sub-block j
 * of the 16 rows, from the three dword groups of packed scales (kernels.h's k4_scale_min). */
static INLINE __m512i k4_field(__m512i S, __m512i S2, const int j, const bool min) {
    if (j < 4) return bits(S, 8 * j, 6);
    return _mm512_or_si512(bits(S2, 8 * (j - 4) + (min ? 4 : 0), 4), _mm512_slli_epi32(bits(S, 8 * (j - 4) + 6, 2), 4));
}

/* A 16-bit pair (lo, hi) in every lane. */
static INLINE __m512i pair16(int32_t lo, int32_t hi) {
    return _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16));
}

/* isum[r] += sc x (exact dot of the 4 n code groups q with row r's groups g0 .. g0 + 4n - 1). */
static INLINE void sub_block_rows(const int na, const int n, const __m512i *q, __m512i sc, const uint8_t *a,
                                  size_t a_stride, int g0, __m512i *isum) {
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) {
        const uint8_t *aq = a + (size_t)r * a_stride + 4;
        __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], act_group(aq, g0));
#pragma GCC unroll 8
        for (int l = 1; l < n; l++) s = _mm512_dpbusd_epi32(s, q[l], act_group(aq, g0 + l));
        isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(s, sc));
    }
}

/* Q4_K / Q5_K (`five`) prefill: one panel super-block against na activation rows' Q8_K
 * super-blocks (a_stride apart). */
static INLINE void q4_k_rows(const bool five, const int na, const uint8_t *pb, const uint8_t *a, size_t a_stride,
                             __m512 *acc) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i S0 = loadu512(pb + 64), S1 = loadu512(pb + 128), S2 = loadu512(pb + 192);
    __m512i isum[PANEL_NA];
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) isum[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) { /* sub-block j: chunk j / 2, low nibbles for even j */
        __m512i q[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m512i v = loadu512(pb + (five ? 768 : 256) + 64 * (8 * (j / 2) + l));
            q[l] = _mm512_and_si512(j % 2 ? _mm512_srli_epi16(v, 4) : v, m4);
            if (five) q[l] = _mm512_or_si512(q[l], fifth_bit(loadu512(pb + 256 + 64 * l), j));
        }
        sub_block_rows(na, 8, q, k4_field(S0, S2, j, false), a, a_stride, 8 * j, isum);
    }
    __m512i mpair[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        mpair[k] = _mm512_or_si512(k4_field(S1, S2, 2 * k, true), _mm512_slli_epi32(k4_field(S1, S2, 2 * k + 1, true), 16));
    __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
    __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + 32)));
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) {
        const uint8_t *ab = a + (size_t)r * a_stride;
        __m512i msum = _mm512_setzero_si512();
        /* mins of sub-blocks 2k, 2k + 1 x their activation sums; vpdpwssd is vpmaddwd + vpaddd
         * in one (the add took a slot the unpacking needs: tile 43.8 -> 45.0 MAC/cycle) */
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            int32_t b0 = (int32_t)rd_i16(ab + 260 + 8 * k) + rd_i16(ab + 262 + 8 * k);
            int32_t b1 = (int32_t)rd_i16(ab + 264 + 8 * k) + rd_i16(ab + 266 + 8 * k);
            msum = _mm512_dpwssd_epi32(msum, mpair[k], pair16(b0, b1));
        }
        __m512 da = _mm512_set1_ps(rd_f32(ab));
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_mul_ps(d, da), acc[r]);
        acc[r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, da), acc[r]);
    }
}

/* Per byte: the low nibble of lo, the high nibble of hi, as decode's select_nibble but with
 * hi (a temporary) as the operand vpternlogd overwrites, not the shared mask, which GCC
 * otherwise copies before every select. */
static INLINE __m512i code_select(__m512i lo, __m512i hi) {
    return _mm512_ternarylogic_epi32(hi, lo, _mm512_set1_epi8(15), 0xD8);
}

/* Row r's int8 scale of Q6_K sub-block sb in lane r. */
static INLINE __m512i q6_k_sc(const uint8_t *pb, const int sb) {
    return _mm512_srai_epi32(_mm512_slli_epi32(loadu512(pb + 32 + 64 * (sb / 4)), 24 - 8 * (sb % 4)), 24);
}

/* isum[r] += sc x (dot of sub-block sb's 4 code groups q with activation row r - 32 x its
 * activation sum): the -32 offset is the chain's start value, so the integer work per
 * sub-block and row is 4 vpdpbusd and one vpmulld, the ops that share Zen 4's two vpdpbusd
 * pipes (a vpmaddwd per two sub-blocks for the offsets took them too). */
static INLINE void q6_k_sub_block(const int na, const __m512i *q, __m512i sc, const uint8_t *a, size_t a_stride,
                                  const int sb, __m512i *isum) {
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) {
        const uint8_t *ab = a + (size_t)r * a_stride;
        __m512i s = _mm512_set1_epi32(-32 * (int32_t)rd_i16(ab + 260 + 2 * sb));
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) s = _mm512_dpbusd_epi32(s, q[l], act_group(ab + 4, 4 * sb + l));
        isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(s, sc));
        /* isum[r] complete here: GCC otherwise runs many rows' chains first and parks their
         * dots on the stack (1199 stack moves; 39 -> 41 MAC/cycle without). On Q4_K's tile
         * the same barrier cost 2 %, so it stays here. */
        avx512_keep(isum[r]);
    }
}

/* Q6_K prefill: one panel super-block against na activation rows' Q8_K super-blocks. The
 * layout's 768-byte chunk i (h = i / 2, l4 = 4 (i % 2) .. +3) holds ql groups A = 16h + l4,
 * B = 16h + 8 + l4 and qh groups 8h + l4; A's nibbles with qh bits 0-1 and 4-5 are the codes
 * of sub-blocks 8h + i % 2 and 8h + 4 + i % 2, B's with bits 2-3 and 6-7 those of 8h + 2 + i % 2
 * and 8h + 6 + i % 2. Each half chunk is unpacked into 8 registers (as q6_k_decode) that
 * serve all na rows; unpacking the whole super-block sub-block by sub-block kept GCC
 * spilling (1766 stack moves in the function; 24-26 MAC/cycle against Q4_K's 41). */
static INLINE void q6_k_rows(const int na, const uint8_t *pb, const uint8_t *a, size_t a_stride, __m512 *acc) {
    const __m512i m33 = _mm512_set1_epi8(0x33), mcc = _mm512_set1_epi8((char)0xCC);
    __m512i isum[PANEL_NA];
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) isum[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const int h = i / 2, l0 = 4 * (i % 2);
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m512i lo[4], hi[4];
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) {
                __m512i X = loadu512(pb + q6_k_ql_at(16 * h + 8 * half + l0 + l));
                __m512i H = loadu512(pb + q6_k_qh_at(8 * h + l0 + l));
                if (half == 0) {
                    __m512i H02 = _mm512_and_si512(H, m33);
                    lo[l] = code_select(X, _mm512_slli_epi16(H02, 4));
                    hi[l] = code_select(_mm512_srli_epi16(X, 4), H02);
                } else {
                    __m512i H13 = _mm512_and_si512(H, mcc);
                    lo[l] = code_select(X, _mm512_slli_epi16(H13, 2));
                    hi[l] = code_select(_mm512_srli_epi16(X, 4), _mm512_srli_epi16(H13, 2));
                }
            }
            const int sb = 8 * h + 2 * half + i % 2;
            q6_k_sub_block(na, lo, q6_k_sc(pb, sb), a, a_stride, sb, isum);
            q6_k_sub_block(na, hi, q6_k_sc(pb, sb + 4), a, a_stride, sb + 4, isum);
        }
    }
    __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) {
        __m512 da = _mm512_set1_ps(rd_f32(a + (size_t)r * a_stride));
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_mul_ps(d, da), acc[r]);
    }
}

/* A compiler barrier: the loads before it are issued before the ones after it. For Q5_K's
 * decode GCC otherwise folds the loads into the ALU operations and spreads them over the
 * whole 2816-byte super-block out of order, and the hardware prefetchers lose the stream:
 * 10.5 GB/s from DRAM on one core, 23.8 with a barrier after the qh groups and after each
 * chunk (Q4_K, whose loads GCC keeps in order: 32). */
static INLINE void read_in_order(const bool on) {
    if (on) __asm__ volatile("" ::: "memory");
}

/* One activation row (decode): the same sums straight from the loaded weights, a chunk
 * of two sub-blocks at a time (unpacking a super-block into a buffer first halved the
 * speed). Q5_K (`five`): the 8 qh groups are read once and serve every chunk. A chunk's 8
 * lines are loaded before its arithmetic (as q6_k_decode's segments): Q4_K from DRAM on one
 * core 29.8-30.4 -> 30.3-30.9 GB/s (a plain read 31.5-32.5 beside). */
static INLINE __m512 q4_k_decode(const bool five, const uint8_t *pb, const uint8_t *ab, __m512 acc) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const uint8_t *aq = ab + 4;
    __m512i S0 = loadu512(pb + 64), S1 = loadu512(pb + 128), S2 = loadu512(pb + 192);
    __m512i isum = _mm512_setzero_si512(), msum = _mm512_setzero_si512();
    __m512i H[8];
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) H[l] = five ? loadu512(pb + 256 + 64 * l) : _mm512_setzero_si512();
    read_in_order(five);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512(), vs[8];
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) vs[l] = loadu512(pb + (five ? 768 : 256) + 64 * (8 * c + l));
        read_in_order(true);
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) {
            __m512i v = vs[l];
            __m512i ql = _mm512_and_si512(v, m4), qhi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            if (five) {
                ql = _mm512_or_si512(ql, fifth_bit(H[l], 2 * c));
                qhi = _mm512_or_si512(qhi, fifth_bit(H[l], 2 * c + 1));
            }
            lo = _mm512_dpbusd_epi32(lo, ql, act_group(aq, 16 * c + l));
            hi = _mm512_dpbusd_epi32(hi, qhi, act_group(aq, 16 * c + 8 + l));
        }
        read_in_order(five);
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

/* Per byte: the low nibble of lo, the high nibble of hi (one vpternlogd, a bitwise select:
 * imm 0xE4 = C ? A : B with A = lo, B = hi, C = the mask). lo is the operand the instruction
 * overwrites, so the compiler needs no copy of the mask per select (with the mask first it
 * made 64 register copies per super-block). */
static INLINE __m512i select_nibble(__m512i lo, __m512i hi) {
    return _mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi8(15), 0xE4);
}

/* Decode: each byte of H holds the high 2 bits of the four codes q0..q3 built from it (bits
 * 2k, 2k + 1 for qk). Masked once into the bits of q0, q2 (0x33) and of q1, q3 (0xCC), and
 * each shifted so its pair lands on bits 4-5 with only zeros or bits the select drops beside
 * it, a code takes two operations after the shared ones (11 per 4 codes instead of 17).
 * Measured on Zen 4: one core, panels in L2, 57 -> 63 GB/s; two cores streaming a 605 MB
 * Q6_K matrix from 2 MiB pages, 46-47 -> 47-48 GB/s (Q4_0 streams at 62-64 there).
 * Each 768-byte segment (4 ql groups of each nibble half, their 4 qh groups) is loaded whole
 * into registers before any of it is used (read_in_order): the twelve misses go out
 * together, where GCC otherwise spread them between the arithmetic. One core streaming a
 * 419 MB matrix (2 MiB pages, best of 8 paired runs): 29.5-30.8 -> 31.7-32.7 GB/s, against
 * 32-33.5 for the same loads with no arithmetic (Q4_0's decode: 32.9); two cores, K = 1536:
 * 57.5-58.7 -> 61.6-63.2 GB/s, the 605 MB K = 2816 matrix 52.1-52.6 -> 58.9-60.6 (Q4_0's
 * decode 62.8-63.6 and a plain read 60.5-62.1 beside). */
static INLINE __m512 q6_k_decode(const uint8_t *pb, const uint8_t *ab, __m512 acc) {
    const __m512i m33 = _mm512_set1_epi8(0x33), mcc = _mm512_set1_epi8((char)0xCC);
    const uint8_t *aq = ab + 4;
    __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* h = i / 2, l4 = 4 (i % 2) .. +3: sub-blocks 8h + 2g + i % 2 */
        int h = i / 2, l0 = 4 * (i % 2);
        __m512i s[4];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) s[g] = _mm512_set1_epi32(-32 * (int32_t)rd_i16(ab + 260 + 2 * (8 * h + 2 * g + i % 2)));
        __m512i As[4], Bs[4], Hs[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) As[k] = loadu512(pb + q6_k_ql_at(16 * h + l0 + k));
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) Bs[k] = loadu512(pb + q6_k_ql_at(16 * h + 8 + l0 + k));
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) Hs[k] = loadu512(pb + q6_k_qh_at(8 * h + l0 + k));
        read_in_order(true);
#pragma GCC unroll 4
        for (int l4 = l0; l4 < l0 + 4; l4++) {
            __m512i A = As[l4 - l0], B = Bs[l4 - l0], H = Hs[l4 - l0];
            __m512i H02 = _mm512_and_si512(H, m33), H13 = _mm512_and_si512(H, mcc);
            __m512i q0 = select_nibble(A, _mm512_slli_epi16(H02, 4));
            __m512i q1 = select_nibble(B, _mm512_slli_epi16(H13, 2));
            __m512i q2 = select_nibble(_mm512_srli_epi16(A, 4), H02);
            __m512i q3 = select_nibble(_mm512_srli_epi16(B, 4), _mm512_srli_epi16(H13, 2));
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

/* One panel's rows for activation rows 0 .. na - 1. */
static INLINE void k_tile(const k_kind kind, const int na, int64_t nsb, float *y, size_t y_stride, const uint8_t *panel,
                          __mmask16 rows, const uint8_t *a, size_t a_stride) {
    __m512 acc[PANEL_NA];
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *pb = panel + (size_t)b * k_block_bytes(kind);
        if (na == 1) {
            acc[0] = kind == KQ6 ? q6_k_decode(pb, a + 292 * (size_t)b, acc[0])
                                 : q4_k_decode(kind == KQ5, pb, a + 292 * (size_t)b, acc[0]);
            continue;
        }
        if (na >= 3) prefetch_ahead(pb, k_block_bytes(kind));
        if (kind == KQ6) q6_k_rows(na, pb, a + 292 * (size_t)b, a_stride, acc);
        else q4_k_rows(kind == KQ5, na, pb, a + 292 * (size_t)b, a_stride, acc);
    }
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) _mm512_mask_storeu_ps(y + (size_t)j * y_stride, rows, acc[j]);
}

static INLINE void k_panel_dot(const k_kind kind, int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows,
                               const void *a, size_t a_stride, int64_t M) {
    int64_t nsb = K / QK_K;
    size_t panel_bytes = (size_t)nsb * k_block_bytes(kind);
    for (int64_t m = 0; m < M; m += PANEL_NA) {
        int na = (int)(M - m < PANEL_NA ? M - m : PANEL_NA);
        const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            __mmask16 rows = n_rows - r >= PANEL_ROWS ? 0xffff : (__mmask16)((1u << (n_rows - r)) - 1);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            switch (na) {
            case 1: k_tile(kind, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 2: k_tile(kind, 2, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 3: k_tile(kind, 3, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 4: k_tile(kind, 4, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 5: k_tile(kind, 5, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 6: k_tile(kind, 6, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 7: k_tile(kind, 7, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            default: k_tile(kind, 8, nsb, yr, y_stride, panel, rows, am, a_stride); break;
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

/* ---- IQ4_XS: codebook indices through vpshufb to kvalues_iq4nl + 128 (unsigned), then as
 * the K-quants: per sub-block an exact dot times its scale (ls - 32) into the super-block's
 * int32, the -128 offsets once per super-block from the activation sums, one f32 step. */

static INLINE void iq4_xs_rows(const int na, const uint8_t *pb, const uint8_t *a, size_t a_stride, __m512 *acc) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m128i k128 = _mm_add_epi8(_mm_loadu_si128((const __m128i *)kvalues_iq4nl), _mm_set1_epi8((char)0x80));
    const __m512i table = _mm512_broadcast_i32x4(k128);
    __m512i L = loadu512(pb + 32), H = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(pb + 96)));
    __m512i isum[PANEL_NA], off[PANEL_NA];
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) isum[r] = off[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int ib = 0; ib < 8; ib++) {
        __m512i q[8];
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) {
            __m512i v = loadu512(pb + 128 + 64 * (4 * ib + l));
            q[l] = _mm512_shuffle_epi8(table, _mm512_and_si512(v, m4));
            q[l + 4] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
        }
        __m512i ls = _mm512_sub_epi32(_mm512_or_si512(bits(L, 8 * (ib / 2) + 4 * (ib % 2), 4), _mm512_slli_epi32(bits(H, 2 * ib, 2), 4)),
                                      _mm512_set1_epi32(32));
        sub_block_rows(na, 8, q, ls, a, a_stride, 8 * ib, isum);
#pragma GCC unroll 8
        for (int r = 0; r < na; r++) { /* sum over sub-blocks of scale x activation sum */
            const uint8_t *ab = a + (size_t)r * a_stride;
            int32_t bs = (int32_t)rd_i16(ab + 260 + 4 * ib) + rd_i16(ab + 262 + 4 * ib);
            off[r] = _mm512_add_epi32(off[r], _mm512_mullo_epi32(ls, _mm512_set1_epi32(bs)));
        }
    }
    __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
#pragma GCC unroll 8
    for (int r = 0; r < na; r++) {
        __m512i s = _mm512_sub_epi32(isum[r], _mm512_slli_epi32(off[r], 7));
        __m512 da = _mm512_set1_ps(rd_f32(a + (size_t)r * a_stride));
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(d, da), acc[r]);
    }
}

static INLINE void iq4_xs_tile(const int na, int64_t nsb, float *y, size_t y_stride, const uint8_t *panel,
                               __mmask16 rows, const uint8_t *a, size_t a_stride) {
    __m512 acc[PANEL_NA];
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nsb; b++) {
        if (na >= 3) prefetch_ahead(panel + (size_t)b * 16 * 136, 16 * 136);
        iq4_xs_rows(na, panel + (size_t)b * 16 * 136, a + 292 * (size_t)b, a_stride, acc);
    }
#pragma GCC unroll 8
    for (int j = 0; j < na; j++) _mm512_mask_storeu_ps(y + (size_t)j * y_stride, rows, acc[j]);
}

static void panel_dot_iq4_xs(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                             size_t a_stride, int64_t M) {
    int64_t nsb = K / QK_K;
    size_t panel_bytes = (size_t)nsb * 16 * 136;
    for (int64_t m = 0; m < M; m += PANEL_NA) {
        int na = (int)(M - m < PANEL_NA ? M - m : PANEL_NA);
        const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
        for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
            const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
            __mmask16 rows = n_rows - r >= PANEL_ROWS ? 0xffff : (__mmask16)((1u << (n_rows - r)) - 1);
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            switch (na) {
            case 1: iq4_xs_tile(1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 2: iq4_xs_tile(2, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 3: iq4_xs_tile(3, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 4: iq4_xs_tile(4, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 5: iq4_xs_tile(5, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 6: iq4_xs_tile(6, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            case 7: iq4_xs_tile(7, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            default: iq4_xs_tile(8, nsb, yr, y_stride, panel, rows, am, a_stride); break;
            }
        }
    }
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
    k->repack_to[GGML_TYPE_Q5_K] = TYPE_Q5_K_R16;
    k->repack_to[GGML_TYPE_Q6_K] = TYPE_Q6_K_R16;
    k->type[TYPE_Q4_K_R16].panel_dot = panel_dot_q4_k;
    k->type[TYPE_Q5_K_R16].panel_dot = panel_dot_q5_k;
    k->type[TYPE_Q6_K_R16].panel_dot = panel_dot_q6_k;
    k->repack_to[GGML_TYPE_IQ4_XS] = TYPE_IQ4_XS_R16;
    k->type[TYPE_IQ4_XS_R16].panel_dot = panel_dot_iq4_xs;
}

#else
typedef int kernels_avx512_panels_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
