/* kernels_vec_avx2.c - the few f32 vector operations outside the type table that are worth
 * a SIMD version (compiled with -mavx2 -mfma, called only when cpu.c reports both). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "quant.h"

/* y[i] += a * x[i]: attention's weighted sum of value rows. */
void axpy_f32_avx2(int n, float a, const float *x, float *y) {
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
        __m256 y1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8));
        _mm256_storeu_ps(y + i, y0);
        _mm256_storeu_ps(y + i + 8, y1);
    }
    for (; i < n; i++) y[i] += a * x[i];
}
#endif
