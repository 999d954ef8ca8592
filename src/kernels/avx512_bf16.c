/* avx512_bf16.c - AVX512_BF16 tiles for a bf16 KV cache: its cells times bf16 activations
 * with vdpbf16ps (TYPE_BF16_BF16's gemm; scalar twin vec_dot_bf16_bf16 in kernels/scalar.c).
 * Part of the AVX-512 layer, compiled with -mavx512bf16 and installed only where cpu.c
 * reports AVX512_BF16.
 *
 *   bf16_block()      up to 4 cache rows x 4 activation rows, 16 accumulators
 *   gemm_bf16_bf16()  the tile kernel (quant.h: gemm_fn): blocks of 4 x 4, then the edges
 *   install           kv_values_as[BF16] = TYPE_BF16_BF16: attention's P·V^T
 *
 * Why: the AVX-512 set's float tiles widen each bf16 cell to f32 and do 16 multiply-adds per
 * FMA; vdpbf16ps takes 32 cells and 32 bf16 activations as they are and does 32 in one
 * instruction, so a product needs half the instructions on the same pipes (GEMMA_BENCH=1
 * test_runner =simd, 2048 x 2048: 172 GFLOP/s against the f32-activation BF16 tile's 107).
 * The price is the other operand rounded to bf16; each product of two bf16 values is then
 * exact in f32, so only the sum's order and the DAZ/FTZ on subnormals differ from the twin.
 *   P·V^T: the probabilities rounded to bf16 (each within 2^-9 of itself) keep a bf16 cache
 *     within the tolerance tests/test_kvcache.c states (5 % of the largest logit; measured
 *     3.3 %, as with f32 probabilities); attention's share of a g1b pp512 after 4096 tokens
 *     (perf samples in the P·V^T tile) drops from 6.4 % to 3.7 %.
 *   Q·K^T stays on f32 queries: rounded to bf16 as llama.cpp does for a bf16 cache, the
 *     gemma2 fixture's soft-capped scores moved its logits by 11.8 % of the largest.
 *
 * Per 32 elements a block loads 4 cache rows and 4 activation rows once each and issues 16
 * vdpbf16ps; each lane of an accumulator sums one pair of elements per step, and one
 * transposing reduction per activation row turns the 4 rows' accumulators into their 4
 * adjacent outputs. The n % 32 tail is one masked step (masked-off elements load as 0). */
#if defined(__x86_64__)

#include "avx512_intrin.h"

#include "avx512_sums.h"
#include "cpu.h"
#include "dispatch.h"
#include "kernels.h"

#ifndef INLINE /* the emulated build (avx512_emulated.h) leaves the choice to the compiler */
#define INLINE inline __attribute__((always_inline))
#endif

/* 32 bf16 values at element i of a row; the first n - i < 32 of them under mask m. */
static INLINE __m512bh load32(const uint8_t *p, int i) {
    return (__m512bh)_mm512_loadu_si512((const void *)(p + 2 * (size_t)i));
}
static INLINE __m512bh load32_part(const uint8_t *p, int i, __mmask32 m) {
    return (__m512bh)_mm512_maskz_loadu_epi16(m, p + 2 * (size_t)i);
}

/* s[j * s_stride + r] = dot(row r of w, row j of a) for r < RW, j < RA (both <= 4). */
static INLINE void bf16_block(int n, float *s, size_t s_stride, const uint8_t *w, size_t w_stride, const uint8_t *a,
                              size_t a_stride, const int RW, const int RA) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) wv[r] = load32(w + (size_t)r * w_stride, i);
#pragma GCC unroll 4
        for (int j = 0; j < RA; j++) {
            __m512bh av = load32(a + (size_t)j * a_stride, i);
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], wv[r], av);
        }
    }
    if (i < n) {
        __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) wv[r] = load32_part(w + (size_t)r * w_stride, i, m);
#pragma GCC unroll 4
        for (int j = 0; j < RA; j++) {
            __m512bh av = load32_part(a + (size_t)j * a_stride, i, m);
#pragma GCC unroll 4
            for (int r = 0; r < RW; r++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], wv[r], av);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < RA; j++) {
        __m128 sums = hsum4_ps(acc[0][j], acc[1][j], acc[2][j], acc[3][j]);
        float *sj = s + (size_t)j * s_stride;
        if (RW == 4) _mm_storeu_ps(sj, sums);
        else _mm_mask_storeu_ps(sj, (__mmask8)((1u << RW) - 1), sums);
    }
}

/* RW cache rows against every activation row, 4 at a time (then the 1..3 left); the cache
 * rows stay in L1 between the blocks. */
static INLINE void bf16_rows(int n, float *s, size_t s_stride, const uint8_t *w, size_t w_stride, const uint8_t *a,
                             size_t a_stride, int na, const int RW) {
    for (int j = 0; j < na; j += 4, a += 4 * a_stride, s += 4 * s_stride) {
        switch (na - j < 4 ? na - j : 4) { /* a body per count keeps the accumulators in registers */
        case 1: bf16_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 1); break;
        case 2: bf16_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 2); break;
        case 3: bf16_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 3); break;
        default: bf16_block(n, s, s_stride, w, w_stride, a, a_stride, RW, 4); break;
        }
    }
}

static void gemm_bf16_bf16(int n, float *s, size_t s_stride, const void *w, size_t w_stride, const void *a,
                           size_t a_stride, int nw, int na) {
    const uint8_t *wp = w;
    int i = 0;
    for (; i + 4 <= nw; i += 4) bf16_rows(n, s + i, s_stride, wp + (size_t)i * w_stride, w_stride, a, a_stride, na, 4);
    wp += (size_t)i * w_stride;
    switch (nw - i) {
    case 3: bf16_rows(n, s + i, s_stride, wp, w_stride, a, a_stride, na, 3); break;
    case 2: bf16_rows(n, s + i, s_stride, wp, w_stride, a, a_stride, na, 2); break;
    case 1: bf16_rows(n, s + i, s_stride, wp, w_stride, a, a_stride, na, 1); break;
    default: break;
    }
}

void kernels_avx512_bf16_install(kernel_set *k) {
    if (!avx512_has_bf16()) return;
    k->type[TYPE_BF16_BF16].gemm = gemm_bf16_bf16;
    k->kv_values_as[GGML_TYPE_BF16] = TYPE_BF16_BF16; /* P·V^T only: see the header */
}

#else
typedef int kernels_avx512_bf16_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
