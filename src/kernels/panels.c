/* panels.c - the row-panel layouts weights are repacked into at load, and their scalar
 * kernels: the specification the SIMD panel kernels are tested against.
 *
 *   repack_*_r16 / unpack_*_r16   file rows -> one panel, one row of a panel -> file format
 *   panel_dot_*_r16               the scalar panel kernels (quant.h: panel_fn): Q4_0, Q5_0,
 *                                 Q8_0 with Q8_0S activations, Q4_K, Q5_K, Q6_K and IQ4_XS
 *                                 with Q8_K ones
 *
 * A panel holds PANEL_ROWS = 16 consecutive rows of a matrix, block by block along the row
 * (32 elements per block). A panel block is the 16 rows' blocks rearranged so that
 *   - the 16 rows' f16 scales come first, row r's at 2r: one vcvtph2ps widens all 16;
 *   - then the codes in 4-byte groups: group l of row 0, of row 1, ... of row 15, so one
 *     64-byte load holds group l of all 16 rows, one 32-bit lane per row.
 * A 4-byte activation group broadcast to every lane then feeds one vpdpbusd (unsigned weight
 * byte x signed activation byte, 4 products added into each int32 lane) for 16 rows at once:
 * each lane sums its own row, and no horizontal reduction is ever needed (lane r is output
 * r). The layouts keep the file's bytes per row, so a panel is 16 rows' worth of bytes.
 *
 * Q4_0_R16, 288 bytes per panel block (16 Q4_0 blocks):
 *   @0  d[16] f16;  @32 + 64 l + 4 r (l = 0..3): row r's qs[4l .. 4l+3], unchanged: low
 *   nibbles are elements 4l + i, high nibbles 16 + 4l + i. Codes u = q + 8 in 0..15.
 * Q8_0_R16, 544 bytes:
 *   @0  d[16];  @32 + 64 l + 4 r (l = 0..7): row r's codes 4l .. 4l+3 XOR 0x80, i.e. u = q + 128
 *   in 0..255 (unsigned, as vpdpbusd wants the weight operand).
 * Q5_0_R16, 352 bytes:
 *   @0  d[16];  @32 the fifth bits as 8 masks of 64 bits, mask (h, l) at 32 + 8 (4h + l) with
 *   bit 4r + i = the fifth bit of element 16h + 4l + i of row r: exactly the byte of the
 *   64-byte group where that element's nibble lands (h = 0 low nibbles, 1 high), so a kernel
 *   adds 16 under the mask (one kmov and one masked add per 64 codes);  @96 the nibbles as
 *   Q4_0_R16's. Codes u = q + 16 in 0..31.
 *
 * Q4_K_R16, 2304 bytes per panel super-block (16 Q4_K blocks of 256):
 *   @0 d[16] f16;  @32 dmin[16] f16;  @64 + 64 k + 4 r (k = 0..2): bytes 4k .. 4k+3 of row r's
 *   12 packed 6-bit scales and mins (decoded as kernels.h's k4_scale_min);  @256 + 64 G + 4 r
 *   (G = 0..31): row r's qs[4G .. 4G+3]: chunk c = G / 8 holds sub-block 2c in its low and
 *   2c+1 in its high nibbles, elements 64c + 4(G % 8) + i (+ 32 for the high ones).
 * Q5_K_R16, 2816 bytes:
 *   Q4_K_R16's first 256 bytes;  @256 + 64 l + 4 r (l = 0..7): row r's qh[4l .. 4l+3] (bit j
 *   of qh[4l + i] is the fifth bit of element 32j + 4l + i, so this group lines up byte for
 *   byte with qs group 8c + l: bit 2c for its low nibbles, 2c+1 for its high ones);  @768 the
 *   codes as Q4_K_R16's @256. Codes 0..31.
 * IQ4_XS_R16, 2176 bytes:
 *   @0 d[16];  @32 + 4r: row r's scales_l (4 bytes);  @96 + 2r: its scales_h;  @128 + 64 G + 4r
 *   (G = 0..31): row r's qs[4G .. 4G+3]: sub-block G / 4, low nibbles its elements 4(G % 4) + i,
 *   high ones 16 + 4(G % 4) + i. Codebook indices; kernels map them to kvalues_iq4nl + 128
 *   (unsigned, 1..241) and start each sub-block's dot at -128 x its activation sum.
 * Q6_K_R16, 3360 bytes:
 *   @0 d[16];  @32 + 64 k + 4 r (k = 0..3): row r's int8 scales of sub-blocks 4k .. 4k+3;
 *   then row r's ql[4G .. 4G+3] at q6_k_ql_at(G) + 4r and qh[4G .. 4G+3] at q6_k_qh_at(G) + 4r
 *   (kernels.h): in the order the kernels read them, so one super-block streams front to
 *   back (with ql and qh apart, decode read 8.6 GB/s from DRAM on one core, against 40 from
 *   L2). Codes u = q + 32 in 0..63.
 *
 * Activations (Q8_0S, 40 bytes per block): Q8_0's codes @0, its d (the f16 value Q8_0 stores)
 * as f32 @32, the sum of the codes @36. With u = q + c the block's integer dot is
 *   sum_e q_e a_e = sum_e u_e a_e - c sum_e a_e,
 * exact in int32 (below 2^21 in magnitude), so the kernels start each lane at -c * sum.
 * The K-quant layouts take Q8_K activations (f32 d, codes, sums per 16).
 *
 * Summation: per row, per block in order, one f32 step from acc = 0:
 *   acc = fma((float)isum, d_w * d_a, acc);
 * for the K-quants per super-block of 256, isum = sum over sub-blocks of scale x exact dot
 * (Q6_K's dots start at -32 x the sub-block's activation sum), and Q4_K's / Q5_K's mins once
 * more:
 *   acc = fma(-(float)msum, dmin_w * d_a, acc),  msum = sum_j min_j x (activation sum of j).
 * The SIMD kernels do exactly this in their lane for the row, so they give these kernels'
 * bits. The row-major kernels add d_w d_a isum without fusing (llama.cpp's order for
 * AVX-512), which differs by about an ulp per block; tests compare with a tolerance from
 * sum |w a| there, and bit for bit between the twins. */
#include <math.h>

#include "kernels.h"

/* ---- repacking: file blocks <-> panel blocks ----
 * A panel is built row by row (each row's blocks put into their places in the panel blocks:
 * one sequential read of the file, writes within a panel that stays in L1; 6 GB/s per core,
 * against 2.4 when gathering the 16 rows block by block), padding rows as all-zero blocks,
 * and read back one row at a time. */

typedef void (*block_put_fn)(uint8_t *pb, const uint8_t *blk, int r);
typedef void (*block_get_fn)(uint8_t *dst, const uint8_t *pb, int r);

static const uint8_t zero_block[256];

static void put_q4_0(uint8_t *pb, const uint8_t *b, int r) {
    memcpy(pb + 2 * r, b, 2);
    for (int l = 0; l < 4; l++) memcpy(pb + 32 + 64 * l + 4 * r, b + 2 + 4 * l, 4);
}

static void get_q4_0(uint8_t *dst, const uint8_t *pb, int r) {
    memcpy(dst, pb + 2 * r, 2);
    for (int l = 0; l < 4; l++) memcpy(dst + 2 + 4 * l, pb + 32 + 64 * l + 4 * r, 4);
}

static void put_q8_0(uint8_t *pb, const uint8_t *b, int r) {
    memcpy(pb + 2 * r, b, 2);
    for (int l = 0; l < 8; l += 2) { /* two groups per 8-byte load */
        uint64_t g = rd_u64(b + 2 + 4 * l) ^ 0x8080808080808080ull;
        uint32_t lo = (uint32_t)g, hi = (uint32_t)(g >> 32);
        memcpy(pb + 32 + 64 * l + 4 * r, &lo, 4);
        memcpy(pb + 32 + 64 * (l + 1) + 4 * r, &hi, 4);
    }
}

static void get_q8_0(uint8_t *dst, const uint8_t *pb, int r) {
    memcpy(dst, pb + 2 * r, 2);
    for (int l = 0; l < 8; l++) {
        uint32_t g = rd_u32(pb + 32 + 64 * l + 4 * r) ^ 0x80808080u;
        memcpy(dst + 2 + 4 * l, &g, 4);
    }
}

/* Scale and nibbles; the fifth-bit masks take all 16 rows at once (q5_0_masks). */
static void put_q5_0(uint8_t *pb, const uint8_t *b, int r) {
    memcpy(pb + 2 * r, b, 2);
    for (int l = 0; l < 4; l++) memcpy(pb + 96 + 64 * l + 4 * r, b + 6 + 4 * l, 4);
}

/* The 8 masks of every panel block (mask k = 4h + l holds bits 4k .. 4k+3 of each row's qh). */
static void q5_0_masks(uint8_t *dst, const uint8_t *rows, size_t w_row, int n, int64_t K) {
    for (int64_t b = 0; b < K / 32; b++) {
        uint64_t mask[8] = {0};
        for (int r = 0; r < n; r++) {
            uint32_t qh = rd_u32(rows + (size_t)r * w_row + (size_t)b * 22 + 2);
            for (int k = 0; k < 8; k++) mask[k] |= (uint64_t)(qh >> 4 * k & 15) << 4 * r;
        }
        memcpy(dst + (size_t)b * 16 * 22 + 32, mask, sizeof mask);
    }
}

static void get_q5_0(uint8_t *dst, const uint8_t *pb, int r) {
    uint32_t qh = 0;
    for (int k = 0; k < 8; k++) qh |= (uint32_t)(rd_u64(pb + 32 + 8 * k) >> 4 * r & 15) << 4 * k;
    memcpy(dst, pb + 2 * r, 2);
    memcpy(dst + 2, &qh, 4);
    for (int l = 0; l < 4; l++) memcpy(dst + 6 + 4 * l, pb + 96 + 64 * l + 4 * r, 4);
}

/* The K-quants: fields moved whole in 4-byte groups, one group of each row after the other. */
static void put_groups(uint8_t *pb, const uint8_t *b, int r, int dst, int src, int n) {
    for (int g = 0; g < n; g++) memcpy(pb + dst + 64 * g + 4 * r, b + src + 4 * g, 4);
}
static void get_groups(uint8_t *dst, const uint8_t *pb, int r, int at, int src, int n) {
    for (int g = 0; g < n; g++) memcpy(dst + at + 4 * g, pb + src + 64 * g + 4 * r, 4);
}

static void put_q4_k(uint8_t *pb, const uint8_t *b, int r) {
    memcpy(pb + 2 * r, b, 2);
    memcpy(pb + 32 + 2 * r, b + 2, 2);
    put_groups(pb, b, r, 64, 4, 3);
    put_groups(pb, b, r, 256, 16, 32);
}

static void get_q4_k(uint8_t *dst, const uint8_t *pb, int r) {
    memcpy(dst, pb + 2 * r, 2);
    memcpy(dst + 2, pb + 32 + 2 * r, 2);
    get_groups(dst, pb, r, 4, 64, 3);
    get_groups(dst, pb, r, 16, 256, 32);
}

static void put_q5_k(uint8_t *pb, const uint8_t *b, int r) {
    memcpy(pb + 2 * r, b, 2);
    memcpy(pb + 32 + 2 * r, b + 2, 2);
    put_groups(pb, b, r, 64, 4, 3);
    put_groups(pb, b, r, 256, 16, 8);
    put_groups(pb, b, r, 768, 48, 32);
}

static void get_q5_k(uint8_t *dst, const uint8_t *pb, int r) {
    memcpy(dst, pb + 2 * r, 2);
    memcpy(dst + 2, pb + 32 + 2 * r, 2);
    get_groups(dst, pb, r, 4, 64, 3);
    get_groups(dst, pb, r, 16, 256, 8);
    get_groups(dst, pb, r, 48, 768, 32);
}

static void put_q6_k(uint8_t *pb, const uint8_t *b, int r) {
    memcpy(pb + 2 * r, b + 208, 2);
    put_groups(pb, b, r, 32, 192, 4);
    for (int G = 0; G < 32; G++) memcpy(pb + q6_k_ql_at(G) + 4 * r, b + 4 * G, 4);
    for (int G = 0; G < 16; G++) memcpy(pb + q6_k_qh_at(G) + 4 * r, b + 128 + 4 * G, 4);
}

static void get_q6_k(uint8_t *dst, const uint8_t *pb, int r) {
    memcpy(dst + 208, pb + 2 * r, 2);
    get_groups(dst, pb, r, 192, 32, 4);
    for (int G = 0; G < 32; G++) memcpy(dst + 4 * G, pb + q6_k_ql_at(G) + 4 * r, 4);
    for (int G = 0; G < 16; G++) memcpy(dst + 128 + 4 * G, pb + q6_k_qh_at(G) + 4 * r, 4);
}

static void put_iq4_xs(uint8_t *pb, const uint8_t *b, int r) {
    memcpy(pb + 2 * r, b, 2);
    memcpy(pb + 32 + 4 * r, b + 4, 4);
    memcpy(pb + 96 + 2 * r, b + 2, 2);
    put_groups(pb, b, r, 128, 8, 32);
}

static void get_iq4_xs(uint8_t *dst, const uint8_t *pb, int r) {
    memcpy(dst, pb + 2 * r, 2);
    memcpy(dst + 4, pb + 32 + 4 * r, 4);
    memcpy(dst + 2, pb + 96 + 2 * r, 2);
    get_groups(dst, pb, r, 8, 128, 32);
}

/* n rows (w_row bytes apart) of blocks of `bs` bytes (blck elements) into a panel of
 * `pbs`-byte blocks. */
static inline void repack_rows(uint8_t *dst, const uint8_t *rows, size_t w_row, int n, int64_t K, int blck,
                               size_t bs, size_t pbs, block_put_fn put) {
    for (int r = 0; r < PANEL_ROWS; r++)
        for (int64_t b = 0; b < K / blck; b++)
            put(dst + (size_t)b * pbs, r < n ? rows + (size_t)r * w_row + (size_t)b * bs : zero_block, r);
}

static inline void unpack_row(uint8_t *dst, const uint8_t *panel, int r, int64_t K, int blck, size_t bs, size_t pbs,
                              block_get_fn get) {
    for (int64_t b = 0; b < K / blck; b++) get(dst + (size_t)b * bs, panel + (size_t)b * pbs, r);
}

void repack_q4_0_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_rows(dst, rows, w_row, n, K, 32, 18, 16 * 18, put_q4_0);
}
void repack_q5_0_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_rows(dst, rows, w_row, n, K, 32, 22, 16 * 22, put_q5_0);
    q5_0_masks(dst, rows, w_row, n, K);
}
void repack_q8_0_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_rows(dst, rows, w_row, n, K, 32, 34, 16 * 34, put_q8_0);
}
void repack_q4_k_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_rows(dst, rows, w_row, n, K, QK_K, 144, 16 * 144, put_q4_k);
}
void repack_q5_k_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_rows(dst, rows, w_row, n, K, QK_K, 176, 16 * 176, put_q5_k);
}
void repack_q6_k_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_rows(dst, rows, w_row, n, K, QK_K, 210, 16 * 210, put_q6_k);
}
void repack_iq4_xs_r16(void *dst, const void *rows, size_t w_row, int n, int64_t K) {
    repack_rows(dst, rows, w_row, n, K, QK_K, 136, 16 * 136, put_iq4_xs);
}
void unpack_iq4_xs_r16(void *dst, const void *panel, int r, int64_t K) {
    unpack_row(dst, panel, r, K, QK_K, 136, 16 * 136, get_iq4_xs);
}
void unpack_q4_0_r16(void *dst, const void *panel, int r, int64_t K) { unpack_row(dst, panel, r, K, 32, 18, 16 * 18, get_q4_0); }
void unpack_q5_0_r16(void *dst, const void *panel, int r, int64_t K) { unpack_row(dst, panel, r, K, 32, 22, 16 * 22, get_q5_0); }
void unpack_q8_0_r16(void *dst, const void *panel, int r, int64_t K) { unpack_row(dst, panel, r, K, 32, 34, 16 * 34, get_q8_0); }
void unpack_q4_k_r16(void *dst, const void *panel, int r, int64_t K) {
    unpack_row(dst, panel, r, K, QK_K, 144, 16 * 144, get_q4_k);
}
void unpack_q5_k_r16(void *dst, const void *panel, int r, int64_t K) {
    unpack_row(dst, panel, r, K, QK_K, 176, 16 * 176, get_q5_k);
}
void unpack_q6_k_r16(void *dst, const void *panel, int r, int64_t K) {
    unpack_row(dst, panel, r, K, QK_K, 210, 16 * 210, get_q6_k);
}

/* ---- the scalar panel kernels ---- */

typedef enum { KIND_Q4_0, KIND_Q5_0, KIND_Q8_0 } panel_kind;

static const struct {
    size_t block;   /* bytes per panel block */
    int offset;     /* c in u = q + c */
} kinds[] = {[KIND_Q4_0] = {16 * 18, 8}, [KIND_Q5_0] = {16 * 22, 16}, [KIND_Q8_0] = {16 * 34, 128}};

/* The unsigned code u of element e (0..31) of row r in a panel block. */
static inline int panel_code(panel_kind kind, const uint8_t *pb, int r, int e) {
    int h = e / 16, l = e % 16 / 4, i = e % 4;
    switch (kind) {
    case KIND_Q4_0:
        return pb[32 + 64 * l + 4 * r + i] >> 4 * h & 15;
    case KIND_Q5_0:
        return (pb[96 + 64 * l + 4 * r + i] >> 4 * h & 15) | (int)(rd_u64(pb + 32 + 8 * (4 * h + l)) >> (4 * r + i) & 1) << 4;
    default:
        return pb[32 + 64 * (e / 4) + 4 * r + i];
    }
}

/* Q4_K / Q5_K: the unsigned code of element e of row r (the low 4 bits at qs, Q5_K's fifth
 * bit from its qh groups); the row's 12 scale bytes. */
static inline int q4_k_panel_code(const uint8_t *pb, int r, int e, bool five) {
    int low = pb[(five ? 768 : 256) + 64 * (8 * (e / 64) + e % 32 / 4) + 4 * r + e % 4] >> 4 * (e % 64 / 32) & 15;
    return five ? low | (pb[256 + 64 * (e % 32 / 4) + 4 * r + e % 4] >> e / 32 & 1) << 4 : low;
}
static inline void q4_k_panel_scales(const uint8_t *pb, int r, uint8_t S[12]) {
    for (int t = 0; t < 12; t++) S[t] = pb[64 + 64 * (t / 4) + 4 * r + t % 4];
}

/* Q6_K: the unsigned code (0..63) of element e of row r; its scale of sub-block k. */
static inline int q6_k_panel_code(const uint8_t *pb, int r, int e) {
    int h = e / 128, g = e % 128 / 32, l = e % 32, qi = 64 * h + 32 * (g & 1) + l, hi = 32 * h + l;
    int low4 = pb[q6_k_ql_at(qi / 4) + 4 * r + qi % 4] >> 4 * (g >> 1) & 15;
    int hi2 = pb[q6_k_qh_at(hi / 4) + 4 * r + hi % 4] >> 2 * g & 3;
    return low4 | hi2 << 4;
}
static inline int q6_k_panel_scale(const uint8_t *pb, int r, int k) {
    return (int8_t)pb[32 + 64 * (k / 4) + 4 * r + k % 4];
}

/* Row r of a Q4_K_R16 / Q5_K_R16 / Q6_K_R16 panel times one Q8_K activation row. */
static float panel_row_dot_k(uint32_t type, const uint8_t *panel, int r, const uint8_t *a, int64_t K) {
    size_t block = quant_panel_size(type, QK_K);
    float acc = 0.0f;
    for (int64_t b = 0; b < K / QK_K; b++, a += 292) {
        const uint8_t *pb = panel + (size_t)b * block;
        const int8_t *aq = q8_k_qs(a);
        float da = q8_k_d(a);
        int32_t isum = 0, msum = 0;
        if (type != TYPE_Q6_K_R16) {
            uint8_t S[12];
            q4_k_panel_scales(pb, r, S);
            for (int j = 0; j < 8; j++) {
                int sc, m, dot = 0;
                k4_scale_min(S, j, &sc, &m);
                for (int e = 32 * j; e < 32 * j + 32; e++) dot += q4_k_panel_code(pb, r, e, type == TYPE_Q5_K_R16) * aq[e];
                isum += sc * dot;
                msum += m * (q8_k_bsum(a, 2 * j) + q8_k_bsum(a, 2 * j + 1));
            }
            acc = fmaf((float)isum, rd_f16(pb + 2 * r) * da, acc);
            acc = fmaf(-(float)msum, rd_f16(pb + 32 + 2 * r) * da, acc);
        } else {
            for (int k = 0; k < 16; k++) {
                int dot = -32 * q8_k_bsum(a, k);
                for (int e = 16 * k; e < 16 * k + 16; e++) dot += q6_k_panel_code(pb, r, e) * aq[e];
                isum += q6_k_panel_scale(pb, r, k) * dot;
            }
            acc = fmaf((float)isum, rd_f16(pb + 2 * r) * da, acc);
        }
    }
    return acc;
}

static void panel_dot_k(uint32_t type, int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows,
                        const void *a, size_t a_stride, int64_t M) {
    size_t panel_bytes = quant_panel_size(type, K);
    for (int64_t i = 0; i < n_rows; i++) {
        const uint8_t *panel = (const uint8_t *)w + (size_t)(i / PANEL_ROWS) * panel_bytes;
        for (int64_t m = 0; m < M; m++)
            y[(size_t)m * y_stride + (size_t)i] =
                panel_row_dot_k(type, panel, (int)(i % PANEL_ROWS), (const uint8_t *)a + (size_t)m * a_stride, K);
    }
}

void panel_dot_q4_k_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M) {
    panel_dot_k(TYPE_Q4_K_R16, K, y, y_stride, w, n_rows, a, a_stride, M);
}
void panel_dot_q5_k_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M) {
    panel_dot_k(TYPE_Q5_K_R16, K, y, y_stride, w, n_rows, a, a_stride, M);
}
void panel_dot_q6_k_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M) {
    panel_dot_k(TYPE_Q6_K_R16, K, y, y_stride, w, n_rows, a, a_stride, M);
}

/* Row r of an IQ4_XS_R16 panel times one Q8_K activation row: per super-block isum = sum of
 * (scale - 32) x exact dot of sub-block, one f32 step. */
static float iq4_xs_row_dot(const uint8_t *panel, int r, const uint8_t *a, int64_t K) {
    float acc = 0.0f;
    for (int64_t b = 0; b < K / QK_K; b++, a += 292) {
        const uint8_t *pb = panel + (size_t)b * 16 * 136;
        const int8_t *aq = q8_k_qs(a);
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            int lo4 = pb[32 + 4 * r + ib / 2] >> 4 * (ib % 2) & 15, hi2 = rd_u16(pb + 96 + 2 * r) >> 2 * ib & 3;
            int dot = -128 * (q8_k_bsum(a, 2 * ib) + q8_k_bsum(a, 2 * ib + 1));
            for (int e = 0; e < 32; e++) {
                int idx = pb[128 + 64 * (4 * ib + e % 16 / 4) + 4 * r + e % 4] >> 4 * (e / 16) & 15;
                dot += (kvalues_iq4nl[idx] + 128) * aq[32 * ib + e];
            }
            isum += ((lo4 | hi2 << 4) - 32) * dot;
        }
        acc = fmaf((float)isum, rd_f16(pb + 2 * r) * q8_k_d(a), acc);
    }
    return acc;
}

void panel_dot_iq4_xs_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                          size_t a_stride, int64_t M) {
    size_t panel_bytes = (size_t)(K / QK_K) * 16 * 136;
    for (int64_t i = 0; i < n_rows; i++) {
        const uint8_t *panel = (const uint8_t *)w + (size_t)(i / PANEL_ROWS) * panel_bytes;
        for (int64_t m = 0; m < M; m++)
            y[(size_t)m * y_stride + (size_t)i] =
                iq4_xs_row_dot(panel, (int)(i % PANEL_ROWS), (const uint8_t *)a + (size_t)m * a_stride, K);
    }
}

/* Row r of a panel times one activation row, in the order the header describes. */
static inline float panel_row_dot(panel_kind kind, const uint8_t *panel, int r, const uint8_t *a, int64_t K) {
    float acc = 0.0f;
    for (int64_t b = 0; b < K / 32; b++, a += 40) {
        const uint8_t *pb = panel + (size_t)b * kinds[kind].block;
        int32_t isum = -kinds[kind].offset * (int32_t)rd_u32(a + 36);
        for (int e = 0; e < 32; e++) isum += panel_code(kind, pb, r, e) * (int8_t)a[e];
        acc = fmaf((float)isum, rd_f16(pb + 2 * r) * rd_f32(a + 32), acc);
    }
    return acc;
}

static inline void panel_dot(panel_kind kind, int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows,
                             const void *a, size_t a_stride, int64_t M) {
    size_t panel_bytes = (size_t)(K / 32) * kinds[kind].block;
    for (int64_t i = 0; i < n_rows; i++) {
        const uint8_t *panel = (const uint8_t *)w + (size_t)(i / PANEL_ROWS) * panel_bytes;
        for (int64_t m = 0; m < M; m++)
            y[(size_t)m * y_stride + (size_t)i] =
                panel_row_dot(kind, panel, (int)(i % PANEL_ROWS), (const uint8_t *)a + (size_t)m * a_stride, K);
    }
}

void panel_dot_q4_0_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M) {
    panel_dot(KIND_Q4_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}
void panel_dot_q5_0_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M) {
    panel_dot(KIND_Q5_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}
void panel_dot_q8_0_r16(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                        size_t a_stride, int64_t M) {
    panel_dot(KIND_Q8_0, K, y, y_stride, w, n_rows, a, a_stride, M);
}
