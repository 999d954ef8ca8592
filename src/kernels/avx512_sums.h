/* avx512_sums.h - reductions shared by the AVX-512 kernel files (avx512.c, and avx512_bf16.c,
 * which is compiled apart for its -mavx512bf16). Include only from files built with the
 * AVX-512 flags. */
#ifndef GEMMA_AVX512_SUMS_H
#define GEMMA_AVX512_SUMS_H
#if defined(__x86_64__)
#include "avx512_intrin.h"

/* The lane sums of a, b, c, d as [sum a, sum b, sum c, sum d]. */
static inline __attribute__((always_inline)) __m128 hsum4_ps(__m512 a, __m512 b, __m512 c, __m512 d) {
    /* per 128-bit lane: ab = [a0+a2, b0+b2, a1+a3, b1+b3], cd likewise */
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    /* per 128-bit lane: [a, b, c, d] partial sums */
    __m512 x = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 y = _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    return _mm_add_ps(_mm256_castps256_ps128(y), _mm256_extractf128_ps(y, 1));
}

#endif
#endif
