/* neon_panels.c - NEON dotprod kernels for the 16-row panel layouts (kernels/panels.c has the
 * layouts and the scalar twins these give the bits of), part of the NEON dotprod layer.
 *
 *   unpack_quarter()   the codes of rows 4k .. 4k+3 of a panel block (16 bytes of each 64-byte
 *                      group) as 8 registers, one per 4-element group, lane r = row 4k + r
 *   block_dot()        one activation row's block: 8 sdot with the activation group in every
 *                      lane, the scalar twin's exact isum
 *   block_tile()       nq quarters x na activation rows, each quarter unpacked once for all na
 *   q4_k_quarter(), q6_k_quarter()   the K-quants' super-block for 4 rows and na activation rows
 *   panel_dot(), k_panel_dot()       the panel kernels (quant.h: panel_fn)
 *
 * The layouts are the AVX-512 ones: a 128-bit register holds one group of 4 rows, so a panel
 * is four quarters and needs no layout of its own. Decode (one activation row) takes the four
 * quarters of a block before the next block, so each thread reads one stream front to back;
 * prefill takes one quarter at a time against up to 4 activation rows.
 *
 * sdot multiplies signed bytes: the stored codes u = q + c of Q4_0 (c = 8), Q5_0 (16), Q4_K,
 * Q5_K (0) and Q6_K (32) are below 128 and so read the same as signed; each lane starts at
 * -c x (activation sum) as in the scalar twin. Q8_0's u = q + 128 is flipped back to q (XOR
 * 0x80) and needs no start value. Integer sums are exact in any order and the float steps
 * are the twin's (vfmaq: one rounding, as fmaf), so the results are its bits.
 *
 * Only the dotprod set has these kernels (kernels_neon_dotprod_install calls the installer;
 * the function names carry _sdot_ for tests/test_neon.sh's instruction check); the baseline
 * NEON set keeps the weights in the file's layout and its row kernels. */
#if defined(__aarch64__)

#include <arm_neon.h>

#include "dispatch.h"
#include "kernels.h"

#if defined(__ARM_FEATURE_DOTPROD)

#define INLINE inline __attribute__((always_inline))
#define PANEL_NA 4 /* activation rows per prefill tile */
#define QUARTER 4  /* rows per 128-bit register */

typedef enum { KIND_Q4_0, KIND_Q5_0, KIND_Q8_0 } panel_kind;

static const struct {
    size_t block;  /* bytes per panel block */
    int offset;    /* c in u = q + c */
} kinds[] = {[KIND_Q4_0] = {16 * 18, 8}, [KIND_Q5_0] = {16 * 22, 16}, [KIND_Q8_0] = {16 * 34, 128}};

static INLINE int8x16_t ld8(const uint8_t *p) { return vreinterpretq_s8_u8(vld1q_u8(p)); }
static INLINE int32_t rd_i32(const uint8_t *p) { return (int32_t)rd_u32(p); }

/* acc + the 4-product dots of codes q with activation group g (4 bytes at 4g) in every lane. */
static INLINE int32x4_t dot_group(int32x4_t acc, int8x16_t q, const uint8_t *aq, int g) {
    return vdotq_s32(acc, q, vreinterpretq_s8_s32(vdupq_n_s32(rd_i32(aq + 4 * g))));
}

/* The 4 f16 scales of quarter k at p, widened. */
static INLINE float32x4_t scales4(const uint8_t *p, int k) {
    return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p + 2 * QUARTER * k)));
}

/* Stores the first n (<= 4) lanes of v. */
static INLINE void store_rows(float *y, float32x4_t v, int n) {
    if (n >= QUARTER) {
        vst1q_f32(y, v);
        return;
    }
    float t[QUARTER];
    vst1q_f32(t, v);
    for (int i = 0; i < n; i++) y[i] = t[i];
}

/* 16 in byte j where bit j of m is set, else 0 (Q5_0's fifth bits). */
static INLINE int8x16_t mask_bytes16(uint16_t m) {
    static const uint8_t spread[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t v = vqtbl1q_u8(vreinterpretq_u8_u16(vdupq_n_u16(m)), vld1q_u8(spread));
    return vreinterpretq_s8_u8(vandq_u8(vtstq_u8(v, vld1q_u8(bit)), vdupq_n_u8(16)));
}

/* q[g] = the codes of element group g of rows 4k .. 4k+3 of a block: u for Q4_0 and Q5_0,
 * q for Q8_0. */
static INLINE void unpack_quarter(const panel_kind kind, const uint8_t *pb, int k, int8x16_t q[8]) {
    if (kind == KIND_Q8_0) {
        for (int l = 0; l < 8; l++) q[l] = veorq_s8(ld8(pb + 32 + 64 * l + 16 * k), vdupq_n_s8(-128));
        return;
    }
    const uint8_t *nib = pb + (kind == KIND_Q5_0 ? 96 : 32) + 16 * k;
    for (int l = 0; l < 4; l++) {
        uint8x16_t v = vld1q_u8(nib + 64 * l);
        q[l] = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15)));
        q[l + 4] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
    }
    if (kind == KIND_Q5_0)
        for (int g = 0; g < 8; g++) q[g] = vorrq_s8(q[g], mask_bytes16(rd_u16(pb + 32 + 8 * g + 2 * k)));
}

/* The exact dot of the 4 rows' block codes q with activation block ab (Q8_0S). */
static INLINE int32x4_t block_dot(const panel_kind kind, const int8x16_t q[8], const uint8_t *ab) {
    int32x4_t s = vdupq_n_s32(kind == KIND_Q8_0 ? 0 : -kinds[kind].offset * rd_i32(ab + 36)), t = vdupq_n_s32(0);
    for (int g = 0; g < 8; g += 2) {
        s = dot_group(s, q[g], ab, g);
        t = dot_group(t, q[g + 1], ab, g + 1);
    }
    return vaddq_s32(s, t);
}

/* Quarters k0 .. k0 + nq - 1 of one panel for activation rows 0 .. na - 1 (a_stride apart). */
static INLINE void block_tile(const panel_kind kind, const int na, const int k0, const int nq, int64_t nb, float *y,
                              size_t y_stride, const uint8_t *panel, int rows, const uint8_t *a, size_t a_stride) {
    float32x4_t acc[4][PANEL_NA];
    for (int k = 0; k < nq; k++)
        for (int j = 0; j < na; j++) acc[k][j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = panel + (size_t)b * kinds[kind].block;
        for (int k = 0; k < nq; k++) {
            int8x16_t q[8];
            unpack_quarter(kind, pb, k0 + k, q);
            float32x4_t dw = scales4(pb, k0 + k);
            for (int j = 0; j < na; j++) {
                const uint8_t *ab = a + (size_t)j * a_stride + 40 * (size_t)b;
                float32x4_t d = vmulq_n_f32(dw, rd_f32(ab + 32));
                acc[k][j] = vfmaq_f32(acc[k][j], vcvtq_f32_s32(block_dot(kind, q, ab)), d);
            }
        }
    }
    for (int k = 0; k < nq; k++)
        for (int j = 0; j < na; j++)
            store_rows(y + (size_t)j * y_stride + QUARTER * (k0 + k), acc[k][j], rows - QUARTER * (k0 + k));
}

static INLINE void panel_dot(const panel_kind kind, int64_t K, float *y, size_t y_stride, const void *w,
                             int64_t n_rows, const void *a, size_t a_stride, int64_t M) {
    int64_t nb = K / 32;
    size_t panel_bytes = (size_t)nb * kinds[kind].block;
    for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
        const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
        int rows = n_rows - r >= PANEL_ROWS ? PANEL_ROWS : (int)(n_rows - r);
        int nq = (rows + QUARTER - 1) / QUARTER;
        if (M == 1) { /* decode: every quarter of each block in turn, one stream */
            switch (nq) {
            case 1: block_tile(kind, 1, 0, 1, nb, y + r, y_stride, panel, rows, a, a_stride); break;
            case 2: block_tile(kind, 1, 0, 2, nb, y + r, y_stride, panel, rows, a, a_stride); break;
            case 3: block_tile(kind, 1, 0, 3, nb, y + r, y_stride, panel, rows, a, a_stride); break;
            default: block_tile(kind, 1, 0, 4, nb, y + r, y_stride, panel, rows, a, a_stride); break;
            }
            continue;
        }
        for (int64_t m = 0; m < M; m += PANEL_NA) {
            int na = (int)(M - m < PANEL_NA ? M - m : PANEL_NA);
            const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            for (int k = 0; k < nq; k++) {
                switch (na) { /* a body per count keeps the accumulators in registers */
                case 1: block_tile(kind, 1, k, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                case 2: block_tile(kind, 2, k, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                case 3: block_tile(kind, 3, k, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                default: block_tile(kind, 4, k, 1, nb, yr, y_stride, panel, rows, am, a_stride); break;
                }
            }
        }
    }
}

static void panel_sdot_q4_0(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                            size_t a_stride, int64_t M) {
    panel_dot(KIND_Q4_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_sdot_q5_0(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                            size_t a_stride, int64_t M) {
    panel_dot(KIND_Q5_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_sdot_q8_0(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                            size_t a_stride, int64_t M) {
    panel_dot(KIND_Q8_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}

/* ---- K-quants (Q4_K, Q5_K, Q6_K): one f32 step per super-block of 256 ----
 * Per quarter, super-block and activation row: isum = sum over sub-blocks of scale x exact
 * dot (sdot, then a multiply-add by the sub-block scale); one cvt + fma (Q4_K/Q5_K: a second
 * for the mins, from the activation sums; Q6_K's -32 offsets likewise). */

typedef enum { KQ4, KQ5, KQ6 } k_kind;

static INLINE size_t k_block_bytes(const k_kind kind) { return kind == KQ4 ? 16 * 144 : kind == KQ5 ? 16 * 176 : 16 * 210; }

/* Bits shift .. shift + width - 1 of every lane (shifts by register: the counts are loop
 * variables). */
static INLINE int32x4_t bits(uint32x4_t v, int shift, int width) {
    return vreinterpretq_s32_u32(vandq_u32(vshlq_u32(v, vdupq_n_s32(-shift)), vdupq_n_u32((1u << width) - 1)));
}

/* Q4_K / Q5_K: the 6-bit scale (S = S0) or min (S = S1) of sub-block j of the 4 rows
 * (kernels.h's k4_scale_min), S2 the third group of packed scales. */
static INLINE int32x4_t k4_field(uint32x4_t S, uint32x4_t S2, const int j, const bool min) {
    if (j < 4) return bits(S, 8 * j, 6);
    return vorrq_s32(bits(S2, 8 * (j - 4) + (min ? 4 : 0), 4), vshlq_n_s32(bits(S, 8 * (j - 4) + 6, 2), 4));
}

/* Q4_K / Q5_K (`five`): rows 4k .. 4k+3 of one panel super-block against na activation rows'
 * Q8_K super-blocks (a_stride apart). */
static INLINE void q4_k_quarter(const bool five, const int na, const uint8_t *pb, int k, const uint8_t *a,
                                size_t a_stride, float32x4_t *acc) {
    const uint8_t *pk = pb + 16 * k;
    uint32x4_t S0 = vreinterpretq_u32_u8(vld1q_u8(pk + 64)), S1 = vreinterpretq_u32_u8(vld1q_u8(pk + 128)),
               S2 = vreinterpretq_u32_u8(vld1q_u8(pk + 192));
    int32x4_t isum[PANEL_NA], msum[PANEL_NA];
    for (int r = 0; r < na; r++) isum[r] = msum[r] = vdupq_n_s32(0);
    for (int j = 0; j < 8; j++) { /* sub-block j: chunk j / 2, low nibbles for even j */
        int8x16_t q[8];
        for (int l = 0; l < 8; l++) {
            uint8x16_t v = vld1q_u8(pk + (five ? 768 : 256) + 64 * (8 * (j / 2) + l));
            v = j % 2 ? vshrq_n_u8(v, 4) : vandq_u8(v, vdupq_n_u8(15));
            if (five) /* bit j of the qh byte moved to bit 4 */
                v = vorrq_u8(v, vandq_u8(vshlq_u8(vld1q_u8(pk + 256 + 64 * l), vdupq_n_s8((int8_t)(4 - j))), vdupq_n_u8(16)));
            q[l] = vreinterpretq_s8_u8(v);
        }
        int32x4_t sc = k4_field(S0, S2, j, false), mn = k4_field(S1, S2, j, true);
        for (int r = 0; r < na; r++) {
            const uint8_t *ab = a + (size_t)r * a_stride, *aq = ab + 4 + 32 * j;
            int32x4_t s = vdupq_n_s32(0), t = vdupq_n_s32(0);
            for (int l = 0; l < 8; l += 2) {
                s = dot_group(s, q[l], aq, l);
                t = dot_group(t, q[l + 1], aq, l + 1);
            }
            isum[r] = vmlaq_s32(isum[r], vaddq_s32(s, t), sc);
            msum[r] = vmlaq_n_s32(msum[r], mn, (int32_t)rd_i16(ab + 260 + 4 * j) + rd_i16(ab + 262 + 4 * j));
        }
    }
    float32x4_t d = scales4(pb, k), dmin = scales4(pb + 32, k);
    for (int r = 0; r < na; r++) {
        float da = rd_f32(a + (size_t)r * a_stride);
        acc[r] = vfmaq_f32(acc[r], vcvtq_f32_s32(isum[r]), vmulq_n_f32(d, da));
        acc[r] = vfmsq_f32(acc[r], vcvtq_f32_s32(msum[r]), vmulq_n_f32(dmin, da));
    }
}

/* Q6_K, as q4_k_quarter. Sub-block sb holds element groups 4 sb + i (i < 4): half
 * h = sb / 8, g = sb % 8 / 2 (low nibbles of ql group 16h + 8(g & 1) + l4 shifted by 4(g >> 1),
 * two bits of qh group 8h + l4 at 2g), l4 = 4 (sb % 2) + i. */
static INLINE void q6_k_quarter(const int na, const uint8_t *pb, int k, const uint8_t *a, size_t a_stride,
                                float32x4_t *acc) {
    const uint8_t *pk = pb + 16 * k;
    int32x4_t isum[PANEL_NA];
    for (int r = 0; r < na; r++) isum[r] = vdupq_n_s32(0);
    for (int sb = 0; sb < 16; sb++) {
        int h = sb / 8, g = sb % 8 / 2;
        int8x16_t q[4];
        for (int i = 0; i < 4; i++) {
            int l4 = 4 * (sb % 2) + i;
            uint8x16_t L = vld1q_u8(pk + q6_k_ql_at(16 * h + 8 * (g & 1) + l4)), H = vld1q_u8(pk + q6_k_qh_at(8 * h + l4));
            uint8x16_t lo = g >> 1 ? vshrq_n_u8(L, 4) : vandq_u8(L, vdupq_n_u8(15));
            uint8x16_t hi2 = vandq_u8(vshlq_u8(H, vdupq_n_s8((int8_t)(4 - 2 * g))), vdupq_n_u8(0x30));
            q[i] = vreinterpretq_s8_u8(vorrq_u8(lo, hi2));
        }
        int32x4_t S = vreinterpretq_s32_u8(vld1q_u8(pk + 32 + 64 * (sb / 4)));
        int32x4_t sc = vshlq_s32(vshlq_s32(S, vdupq_n_s32(24 - 8 * (sb % 4))), vdupq_n_s32(-24));
        for (int r = 0; r < na; r++) {
            const uint8_t *ab = a + (size_t)r * a_stride, *aq = ab + 4 + 16 * sb;
            int32x4_t s = vdupq_n_s32(-32 * (int32_t)rd_i16(ab + 260 + 2 * sb)), t = vdupq_n_s32(0);
            s = dot_group(s, q[0], aq, 0);
            t = dot_group(t, q[1], aq, 1);
            s = dot_group(s, q[2], aq, 2);
            t = dot_group(t, q[3], aq, 3);
            isum[r] = vmlaq_s32(isum[r], vaddq_s32(s, t), sc);
        }
    }
    float32x4_t d = scales4(pb, k);
    for (int r = 0; r < na; r++)
        acc[r] = vfmaq_f32(acc[r], vcvtq_f32_s32(isum[r]), vmulq_n_f32(d, rd_f32(a + (size_t)r * a_stride)));
}

/* Quarters k0 .. k0 + nq - 1 of one panel for activation rows 0 .. na - 1. */
static INLINE void k_tile(const k_kind kind, const int na, const int k0, const int nq, int64_t nsb, float *y,
                          size_t y_stride, const uint8_t *panel, int rows, const uint8_t *a, size_t a_stride) {
    float32x4_t acc[4][PANEL_NA];
    for (int k = 0; k < nq; k++)
        for (int j = 0; j < na; j++) acc[k][j] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *pb = panel + (size_t)b * k_block_bytes(kind);
        for (int k = 0; k < nq; k++) {
            if (kind == KQ6) q6_k_quarter(na, pb, k0 + k, a + 292 * (size_t)b, a_stride, acc[k]);
            else q4_k_quarter(kind == KQ5, na, pb, k0 + k, a + 292 * (size_t)b, a_stride, acc[k]);
        }
    }
    for (int k = 0; k < nq; k++)
        for (int j = 0; j < na; j++)
            store_rows(y + (size_t)j * y_stride + QUARTER * (k0 + k), acc[k][j], rows - QUARTER * (k0 + k));
}

static INLINE void k_panel_dot(const k_kind kind, int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows,
                               const void *a, size_t a_stride, int64_t M) {
    int64_t nsb = K / QK_K;
    size_t panel_bytes = (size_t)nsb * k_block_bytes(kind);
    for (int64_t r = 0; r < n_rows; r += PANEL_ROWS) {
        const uint8_t *panel = (const uint8_t *)w + (size_t)(r / PANEL_ROWS) * panel_bytes;
        int rows = n_rows - r >= PANEL_ROWS ? PANEL_ROWS : (int)(n_rows - r);
        int nq = (rows + QUARTER - 1) / QUARTER;
        if (M == 1) { /* decode: every quarter of each super-block in turn, one stream */
            switch (nq) {
            case 1: k_tile(kind, 1, 0, 1, nsb, y + r, y_stride, panel, rows, a, a_stride); break;
            case 2: k_tile(kind, 1, 0, 2, nsb, y + r, y_stride, panel, rows, a, a_stride); break;
            case 3: k_tile(kind, 1, 0, 3, nsb, y + r, y_stride, panel, rows, a, a_stride); break;
            default: k_tile(kind, 1, 0, 4, nsb, y + r, y_stride, panel, rows, a, a_stride); break;
            }
            continue;
        }
        for (int64_t m = 0; m < M; m += PANEL_NA) {
            int na = (int)(M - m < PANEL_NA ? M - m : PANEL_NA);
            const uint8_t *am = (const uint8_t *)a + (size_t)m * a_stride;
            float *yr = y + (size_t)m * y_stride + (size_t)r;
            for (int k = 0; k < nq; k++) {
                switch (na) {
                case 1: k_tile(kind, 1, k, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                case 2: k_tile(kind, 2, k, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                case 3: k_tile(kind, 3, k, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                default: k_tile(kind, 4, k, 1, nsb, yr, y_stride, panel, rows, am, a_stride); break;
                }
            }
        }
    }
}

static void panel_sdot_q4_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                            size_t a_stride, int64_t M) {
    k_panel_dot(KQ4, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_sdot_q5_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                            size_t a_stride, int64_t M) {
    k_panel_dot(KQ5, K, y, y_stride, w, n_rows, a, a_stride, M);
}
static void panel_sdot_q6_k(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                            size_t a_stride, int64_t M) {
    k_panel_dot(KQ6, K, y, y_stride, w, n_rows, a, a_stride, M);
}

/* The panel layouts the dotprod layer repacks into, and their kernels. */
void kernels_neon_panels_install(kernel_set *k) {
    k->repack_to[GGML_TYPE_Q4_0] = TYPE_Q4_0_R16;
    k->repack_to[GGML_TYPE_Q5_0] = TYPE_Q5_0_R16;
    k->repack_to[GGML_TYPE_Q8_0] = TYPE_Q8_0_R16;
    k->type[TYPE_Q4_0_R16].panel_dot = panel_sdot_q4_0;
    k->type[TYPE_Q5_0_R16].panel_dot = panel_sdot_q5_0;
    k->type[TYPE_Q8_0_R16].panel_dot = panel_sdot_q8_0;
    k->repack_to[GGML_TYPE_Q4_K] = TYPE_Q4_K_R16;
    k->repack_to[GGML_TYPE_Q5_K] = TYPE_Q5_K_R16;
    k->repack_to[GGML_TYPE_Q6_K] = TYPE_Q6_K_R16;
    k->type[TYPE_Q4_K_R16].panel_dot = panel_sdot_q4_k;
    k->type[TYPE_Q5_K_R16].panel_dot = panel_sdot_q5_k;
    k->type[TYPE_Q6_K_R16].panel_dot = panel_sdot_q6_k;
}

#else
void kernels_neon_panels_install(kernel_set *k) { (void)k; } /* built without dotprod: none */
#endif

#else
typedef int kernels_neon_panels_needs_aarch64; /* an empty translation unit is not ISO C */
#endif
