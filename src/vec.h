/* vec.h - element-wise operations on rows of floats, shared by the forward pass (forward.c)
 * and attention (attention.c): adds, scales, soft-cap, RMSNorm, the RoPE rotation.
 *
 * The engine is compiled for the baseline ISA, and gcc -O2 only vectorizes a loop whose trip
 * count is a known multiple of the vector width. So the long loops below go in blocks of
 * VB elements with a fixed-count inner loop (vectorized as straight-line code) plus a
 * scalar tail. Pointers marked restrict never alias; the others may be equal (in place).
 * The functions are static inline so that each caller keeps its loops inlined, as when they
 * lived in one file. */
#ifndef GEMMA_VEC_H
#define GEMMA_VEC_H

#include <math.h>

#include "kernels/dispatch.h"

#define VB 8

/* y[i] += x[i] */
static inline void add_to(float *restrict y, const float *restrict x, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) y[i + k] += x[i + k];
    for (; i < n; i++) y[i] += x[i];
}

/* x[i] *= s */
static inline void scale(float *x, float s, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) x[i + k] *= s;
    for (; i < n; i++) x[i] *= s;
}

/* y[i] += (x[i] * a) * b */
static inline void add_scaled(float *restrict y, const float *restrict x, float a, float b, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) y[i + k] += (x[i + k] * a) * b;
    for (; i < n; i++) y[i] += (x[i] * a) * b;
}

/* out[i] = out[i] * alpha + t[i] */
static inline void rescale_add(float *restrict out, float alpha, const float *restrict t, int n) {
    int i = 0;
    for (; i + VB <= n; i += VB)
        for (int k = 0; k < VB; k++) out[i + k] = out[i + k] * alpha + t[i + k];
    for (; i < n; i++) out[i] = out[i] * alpha + t[i];
}

static inline float softcap(float x, float cap) { return cap * tanhf(x / cap); }

/* RMSNorm(x; w) = x / sqrt(mean(x^2) + eps) * w; w == NULL is the weightless form; out may
 * be x. The kernel of the active set (kernels/dispatch.h) takes the sum of squares in double. */
static inline void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    kernels_active()->vec.rmsnorm(out, x, w, n, eps);
}

/* NEOX RoPE on one head (doc/forward.md#rope): dimension i is paired with i + n_rot/2, for
 * i < half = n_rot/2, turned by the angle whose cosine and sine are cs[i], sn[i]; dimensions
 * >= n_rot are left alone. */
static inline void rotate_pairs(float *restrict lo, float *restrict hi, const float *restrict cs,
                                const float *restrict sn, int half) {
    int i = 0;
    for (; i + VB <= half; i += VB)
        for (int k = 0; k < VB; k++) {
            float a = lo[i + k], b = hi[i + k];
            lo[i + k] = a * cs[i + k] - b * sn[i + k];
            hi[i + k] = a * sn[i + k] + b * cs[i + k];
        }
    for (; i < half; i++) {
        float a = lo[i], b = hi[i];
        lo[i] = a * cs[i] - b * sn[i];
        hi[i] = a * sn[i] + b * cs[i];
    }
}
static inline void rope(float *v, int half, const float *cs, const float *sn) {
    rotate_pairs(v, v + half, cs, sn, half);
}

#endif
