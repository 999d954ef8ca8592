/* amx_ops.h - the tile operations the AMX kernels (amx.c) are written over, in two builds:
 * the instructions themselves (amx.c, compiled with -mamx-tile -mamx-int8 -mamx-bf16), or an
 * exact C emulation of them (amx_emulated.c, which defines AMX_EMULATED), so that the kernels
 * run, and are tested, on CPUs without AMX. The rest of amx.c is AVX-512 in both builds.
 *
 *   tile_config_load(cfg)      ldtilecfg: palette 1 and each tile's shape (rows, bytes per
 *                              row); zeroes every tile
 *   tile_zero(t)               tilezero: tile t = 0
 *   tile_load(t, p, stride)    tileloadd: rows[t] rows of colsb[t] bytes, `stride` bytes apart
 *   tile_store(t, p, stride)   tilestored: the same, to memory
 *   tile_dpbssd(c, a, b)       tdpbssd: C[m][n] += sum_k A[m][k] * B[k / 4][4 n + k % 4] over
 *                              signed bytes, in int32 (wrapping, as the instruction does)
 *   tile_dpbf16ps(c, a, b)     tdpbf16ps: bf16 pairs into f32 (the exact order below)
 *   tile_release()             tilerelease: back to the initial (unconfigured) state
 * Tile numbers are literal numbers 0..7: the instructions encode them.
 *
 * The emulation follows the operation sections of Intel's SDM (vol. 2, TDPBSSD and TDPBF16PS,
 * as of 2024), bit for bit:
 *   tdpbssd    per output, the four byte products of each dword pair added to the int32
 *              accumulator, modulo 2^32 (DPBD);
 *   tdpbf16ps  per output row m, two f32 partial sums per column n start at 0: over k, the
 *              even bf16 pair elements' products are added to one and the odd ones' to the
 *              other, each step one FMA (the bf16 product is exact in f32's significand; one
 *              rounding, to nearest even); then C[m][n] = C[m][n] + (even + odd), two more
 *              roundings. Every step treats denormal inputs as zero (DAZ) and flushes a tiny
 *              result to zero (FTZ), tininess detected after rounding as x86 does; MXCSR plays
 *              no part. (Older SDM editions and the intrinsics guide show the products
 *              accumulated straight into C, odd element first; the current text is the one
 *              followed here.) NaN payloads are not modelled: any NaN stays a NaN.
 * Shapes are checked as the instructions check them: where the hardware would raise #UD
 * (mismatched tile shapes, no configuration), the emulation stops the program with a
 * message, so a kernel that would fault on real tiles fails its tests here too. */
#ifndef GEMMA_AMX_OPS_H
#define GEMMA_AMX_OPS_H

#include <stdint.h>

/* The 64-byte operand of ldtilecfg (palette 1). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

#if !defined(AMX_EMULATED)

#include <immintrin.h>

/* not _tile_loadconfig(): gcc's version names only 8 bytes of the operand, so the stores
 * that fill it may be dropped as dead */
static inline void tile_config_load(const tile_config *cfg) { __asm__ volatile("ldtilecfg %0" : : "m"(*cfg)); }
#define tile_zero(t) _tile_zero(t)
#define tile_load(t, p, stride) _tile_loadd(t, p, stride)
#define tile_store(t, p, stride) _tile_stored(t, p, stride)
#define tile_dpbssd(c, a, b) _tile_dpbssd(c, a, b)
#define tile_dpbf16ps(c, a, b) _tile_dpbf16ps(c, a, b)
#define tile_release() _tile_release()

#else /* AMX_EMULATED */

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tiles are per thread, as the architectural registers are. */
static _Thread_local struct {
    bool configured;
    tile_config cfg;
    _Alignas(64) uint8_t t[8][16][64];
} amx_emu;

static void emu_fault(const char *op, int c, int a, int b, const char *why) {
    fprintf(stderr, "amx emulation: %s tmm%d, tmm%d, tmm%d: %s (the instruction raises #UD)\n", op, c, a, b, why);
    abort();
}

static inline void tile_config_load(const tile_config *cfg) {
    memset(&amx_emu, 0, sizeof amx_emu);
    amx_emu.cfg = *cfg;
    amx_emu.configured = cfg->palette != 0;
}

static inline void tile_release(void) { memset(&amx_emu, 0, sizeof amx_emu); }

static inline void emu_zero(int t) {
    if (!amx_emu.configured) emu_fault("tilezero", t, t, t, "tiles not configured");
    memset(amx_emu.t[t], 0, sizeof amx_emu.t[t]);
}

/* Rows and bytes beyond the tile's shape read as zero. */
static inline void emu_load(int t, const void *p, long stride) {
    if (!amx_emu.configured) emu_fault("tileloadd", t, t, t, "tiles not configured");
    int rows = amx_emu.cfg.rows[t], colsb = amx_emu.cfg.colsb[t];
    memset(amx_emu.t[t], 0, sizeof amx_emu.t[t]);
    for (int r = 0; r < rows; r++) memcpy(amx_emu.t[t][r], (const uint8_t *)p + (long)r * stride, (size_t)colsb);
}

static inline void emu_store(int t, void *p, long stride) {
    if (!amx_emu.configured) emu_fault("tilestored", t, t, t, "tiles not configured");
    int rows = amx_emu.cfg.rows[t], colsb = amx_emu.cfg.colsb[t];
    for (int r = 0; r < rows; r++) memcpy((uint8_t *)p + (long)r * stride, amx_emu.t[t][r], (size_t)colsb);
}

/* The shape rules of both dot products: C is A.rows x B.colsb, A.colsb / 4 == B.rows. */
static inline void emu_check(const char *op, int c, int a, int b) {
    const tile_config *k = &amx_emu.cfg;
    if (!amx_emu.configured) emu_fault(op, c, a, b, "tiles not configured");
    if (c == a || c == b || a == b) emu_fault(op, c, a, b, "operands must be distinct tiles");
    if (k->colsb[c] % 4 || k->colsb[a] % 4 || k->colsb[b] % 4) emu_fault(op, c, a, b, "a row width is not a multiple of 4");
    if (k->colsb[c] != k->colsb[b]) emu_fault(op, c, a, b, "C and B rows differ in width");
    if (k->colsb[a] / 4 != k->rows[b]) emu_fault(op, c, a, b, "A's row width / 4 differs from B's rows");
    if (k->rows[c] != k->rows[a]) emu_fault(op, c, a, b, "C and A differ in rows");
}

static inline void emu_dpbssd(int c, int a, int b) {
    emu_check("tdpbssd", c, a, b);
    int M = amx_emu.cfg.rows[c], K = amx_emu.cfg.colsb[a] / 4, N = amx_emu.cfg.colsb[c] / 4;
    for (int m = 0; m < M; m++) {
        const int8_t *ar = (const int8_t *)amx_emu.t[a][m];
        for (int n = 0; n < N; n++) {
            uint32_t acc;
            memcpy(&acc, &amx_emu.t[c][m][4 * n], 4);
            for (int k = 0; k < K; k++) {
                const int8_t *br = (const int8_t *)amx_emu.t[b][k] + 4 * n;
                int32_t dot = ar[4 * k] * br[0] + ar[4 * k + 1] * br[1] + ar[4 * k + 2] * br[2] + ar[4 * k + 3] * br[3];
                acc += (uint32_t)dot;
            }
            memcpy(&amx_emu.t[c][m][4 * n], &acc, 4);
        }
        memset(&amx_emu.t[c][m][4 * N], 0, (size_t)(64 - 4 * N)); /* write_row_and_zero */
    }
    memset((uint8_t *)(void *)amx_emu.t[c] + (size_t)M * 64, 0, (size_t)(16 - M) * 64); /* zero_upper_rows */
}

/* Denormal inputs read as zero (DAZ). */
static inline float emu_daz(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }

/* a * b + c with DAZ, one rounding to nearest even and FTZ. A result is tiny when it would
 * round, with an unbounded exponent, below FLT_MIN: when the exact value lies below the
 * midpoint FLT_MIN - 2^-151 between FLT_MIN and its predecessor on that grid. fmaf() rounds
 * to the denormal grid instead, so results that come out at most FLT_MIN are decided on the
 * exact value, which double holds here: a result that small comes from operands within a
 * few dozen bits of each other (bf16 or f32 products and sums), or from one so far below
 * the other that double's rounding cannot move it across the midpoint. */
static inline float emu_fma(float a, float b, float c) {
    a = emu_daz(a), b = emu_daz(b), c = emu_daz(c);
    float r = fmaf(a, b, c);
    if (r != 0.0f && fabsf(r) <= FLT_MIN && fabs((double)a * (double)b + (double)c) < 0x1p-126 - 0x1p-151)
        r = copysignf(0.0f, r);
    return r;
}

static inline float emu_bf16(const uint8_t *p) {
    uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline void emu_dpbf16ps(int c, int a, int b) {
    emu_check("tdpbf16ps", c, a, b);
    int M = amx_emu.cfg.rows[c], K = amx_emu.cfg.colsb[a] / 4, N = amx_emu.cfg.colsb[c] / 4;
    for (int m = 0; m < M; m++) {
        float even[16] = {0}, odd[16] = {0};
        for (int k = 0; k < K; k++) {
            float a0 = emu_bf16(&amx_emu.t[a][m][4 * k]), a1 = emu_bf16(&amx_emu.t[a][m][4 * k + 2]);
            for (int n = 0; n < N; n++) {
                even[n] = emu_fma(a0, emu_bf16(&amx_emu.t[b][k][4 * n]), even[n]);
                odd[n] = emu_fma(a1, emu_bf16(&amx_emu.t[b][k][4 * n + 2]), odd[n]);
            }
        }
        for (int n = 0; n < N; n++) {
            float acc;
            memcpy(&acc, &amx_emu.t[c][m][4 * n], 4);
            acc = emu_fma(acc, 1.0f, emu_fma(even[n], 1.0f, odd[n]));
            memcpy(&amx_emu.t[c][m][4 * n], &acc, 4);
        }
        memset(&amx_emu.t[c][m][4 * N], 0, (size_t)(64 - 4 * N)); /* write_row_and_zero */
    }
    memset((uint8_t *)(void *)amx_emu.t[c] + (size_t)M * 64, 0, (size_t)(16 - M) * 64); /* zero_upper_rows */
}

#define tile_zero(t) emu_zero(t)
#define tile_load(t, p, stride) emu_load(t, p, (long)(stride))
#define tile_store(t, p, stride) emu_store(t, p, (long)(stride))
#define tile_dpbssd(c, a, b) emu_dpbssd(c, a, b)
#define tile_dpbf16ps(c, a, b) emu_dpbf16ps(c, a, b)

#endif /* AMX_EMULATED */
#endif
