/* avx512_emu.h - the AVX-512 intrinsics of the AVX-512 kernel files, emulated in C, so that
 * those files compile a second time for CPUs without AVX-512 (the "avx512-emu" kernel set,
 * dispatch.h) and their code paths are tested on every x86-64 machine with AVX2: most of our
 * users' machines, and development machines of the same kind, have no AVX-512, and code
 * that cannot run there must still be tested there, never skipped.
 *
 * Included by avx512_intrin.h after <immintrin.h> when AVX512_EMULATED is defined; the files
 * are then built with the AVX2 set's flags, so the AVX2, FMA and F16C intrinsics they use
 * besides stay real instructions (and the emulation uses them where they are the exact
 * same operation: F16C's conversions). Each emulated intrinsic is a function emu_NAME, and
 * NAME is defined to it at the end of this file; an intrinsic a kernel uses that is not here
 * fails to compile (GCC refuses to inline an AVX-512 intrinsic into code built without
 * AVX-512), so nothing falls through to an instruction the CPU lacks.
 *
 * Semantics are those of Intel's SDM (vol. 2) and intrinsics guide, element by element,
 * bit for bit: integer arithmetic wraps modulo 2^n unless the instruction saturates; float
 * arithmetic is IEEE single or double with the default MXCSR (round to nearest even, no
 * flush to zero), which C's operators give under -ffp-contract=off, and FMA is fmaf's one
 * rounding; vdpbf16ps treats denormal inputs as zero and flushes denormal results, as the
 * SDM says, whatever MXCSR holds; the header-defined reductions (_mm512_reduce_*) pair the
 * elements as GCC's avx512fintrin.h does, since that order is what the real build computes.
 * Masked loads and stores touch only the selected elements' bytes (fault suppression).
 * NaN payloads follow the hardware where the result is a NaN operand (min/max return the
 * second operand when either is a NaN); nothing here raises or records FP exceptions.
 *
 * Speed is not the point (loops over elements, vectorized where the compiler sees it): the
 * emulated set is for tests and GEMMA_KERNELS=avx512-emu, never chosen by itself. */
#ifndef GEMMA_AVX512_EMU_H
#define GEMMA_AVX512_EMU_H

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* One 512-bit register, seen as any of its element types. */
typedef union {
    __m512 ps;
    __m512i si;
    __m512d pd;
    float f32[16];
    double f64[8];
    int8_t i8[64];
    uint8_t u8[64];
    int16_t i16[32];
    uint16_t u16[32];
    int32_t i32[16];
    uint32_t u32[16];
    int64_t i64[8];
    uint64_t u64[8];
    __m256i y[2];
    __m256 yf[2];
    __m256d yd[2];
    __m128i x[4];
    __m128 xf[4];
} emu_v512;

typedef union {
    __m256i si;
    __m256 ps;
    int8_t i8[32];
    uint8_t u8[32];
    int16_t i16[16];
    uint16_t u16[16];
    int32_t i32[8];
    uint32_t u32[8];
    float f32[8];
    __m128i x[2];
} emu_v256;

typedef union {
    __m128i si;
    __m128 ps;
    int8_t i8[16];
    uint8_t u8[16];
    int16_t i16[8];
    int32_t i32[4];
    float f32[4];
} emu_v128;

#define EMU static __attribute__((noinline, unused))

static inline emu_v512 e512_ps(__m512 v) { emu_v512 u; u.ps = v; return u; }
static inline emu_v512 e512_si(__m512i v) { emu_v512 u; u.si = v; return u; }
static inline emu_v512 e512_pd(__m512d v) { emu_v512 u; u.pd = v; return u; }
static inline emu_v512 e512_zero(void) { emu_v512 u; memset(&u, 0, sizeof u); return u; }
static inline emu_v256 e512_y(__m256i v) { emu_v256 u; u.si = v; return u; }
static inline emu_v128 e512_x(__m128i v) { emu_v128 u; u.si = v; return u; }

/* bits -> float */
static inline float e512_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- set ---- */

EMU __m512 emu_mm512_setzero_ps(void) { return e512_zero().ps; }
EMU __m512i emu_mm512_setzero_si512(void) { return e512_zero().si; }
EMU __m512d emu_mm512_setzero_pd(void) { return e512_zero().pd; }
EMU __m512 emu_mm512_set1_ps(float a) { emu_v512 r; for (int i = 0; i < 16; i++) r.f32[i] = a; return r.ps; }
EMU __m512i emu_mm512_set1_epi8(char a) { emu_v512 r; memset(r.u8, (uint8_t)a, 64); return r.si; }
EMU __m512i emu_mm512_set1_epi16(short a) { emu_v512 r; for (int i = 0; i < 32; i++) r.i16[i] = a; return r.si; }
EMU __m512i emu_mm512_set1_epi32(int a) { emu_v512 r; for (int i = 0; i < 16; i++) r.i32[i] = a; return r.si; }
EMU __m512i emu_mm512_set1_epi64(long long a) { emu_v512 r; for (int i = 0; i < 8; i++) r.i64[i] = a; return r.si; }
EMU __m512i emu_mm512_setr_epi32(int e0, int e1, int e2, int e3, int e4, int e5, int e6, int e7, int e8, int e9,
                                 int e10, int e11, int e12, int e13, int e14, int e15) {
    emu_v512 r;
    int32_t e[16] = {e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15};
    memcpy(r.i32, e, 64);
    return r.si;
}
EMU __m512i emu_mm512_set_epi32(int e15, int e14, int e13, int e12, int e11, int e10, int e9, int e8, int e7, int e6,
                                int e5, int e4, int e3, int e2, int e1, int e0) {
    return emu_mm512_setr_epi32(e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15);
}
EMU __m512i emu_mm512_setr_epi64(long long e0, long long e1, long long e2, long long e3, long long e4, long long e5,
                                 long long e6, long long e7) {
    emu_v512 r;
    int64_t e[8] = {e0, e1, e2, e3, e4, e5, e6, e7};
    memcpy(r.i64, e, 64);
    return r.si;
}
EMU __m512i emu_mm512_set_epi64(long long e7, long long e6, long long e5, long long e4, long long e3, long long e2,
                                long long e1, long long e0) {
    return emu_mm512_setr_epi64(e0, e1, e2, e3, e4, e5, e6, e7);
}

/* ---- loads and stores (the masked ones touch only the selected elements) ---- */

EMU __m512 emu_mm512_loadu_ps(const void *p) { emu_v512 r; memcpy(&r, p, 64); return r.ps; }
EMU __m512 emu_mm512_load_ps(const void *p) { return emu_mm512_loadu_ps(p); }
EMU __m512i emu_mm512_loadu_si512(const void *p) { emu_v512 r; memcpy(&r, p, 64); return r.si; }
EMU __m512i emu_mm512_load_si512(const void *p) { return emu_mm512_loadu_si512(p); }
EMU void emu_mm512_storeu_ps(void *p, __m512 a) { memcpy(p, &a, 64); }
EMU void emu_mm512_store_ps(void *p, __m512 a) { memcpy(p, &a, 64); }
EMU void emu_mm512_storeu_si512(void *p, __m512i a) { memcpy(p, &a, 64); }
EMU void emu_mm512_store_si512(void *p, __m512i a) { memcpy(p, &a, 64); }

EMU __m512 emu_mm512_maskz_loadu_ps(__mmask16 k, const void *p) {
    emu_v512 r = e512_zero();
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.f32[i], (const char *)p + 4 * i, 4);
    return r.ps;
}
EMU __m512i emu_mm512_maskz_loadu_epi16(__mmask32 k, const void *p) {
    emu_v512 r = e512_zero();
    for (int i = 0; i < 32; i++)
        if (k >> i & 1) memcpy(&r.i16[i], (const char *)p + 2 * i, 2);
    return r.si;
}
EMU void emu_mm512_mask_storeu_ps(void *p, __mmask16 k, __m512 a) {
    emu_v512 v = e512_ps(a);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy((char *)p + 4 * i, &v.f32[i], 4);
}
EMU __m256 emu_mm256_maskz_loadu_ps(__mmask8 k, const void *p) {
    emu_v256 r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 8; i++)
        if (k >> i & 1) memcpy(&r.f32[i], (const char *)p + 4 * i, 4);
    return r.ps;
}
EMU __m256i emu_mm256_maskz_loadu_epi16(__mmask16 k, const void *p) {
    emu_v256 r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.i16[i], (const char *)p + 2 * i, 2);
    return r.si;
}
EMU void emu_mm256_mask_storeu_ps(void *p, __mmask8 k, __m256 a) {
    emu_v256 v;
    v.ps = a;
    for (int i = 0; i < 8; i++)
        if (k >> i & 1) memcpy((char *)p + 4 * i, &v.f32[i], 4);
}
EMU void emu_mm256_mask_storeu_epi16(void *p, __mmask16 k, __m256i a) {
    emu_v256 v = e512_y(a);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy((char *)p + 2 * i, &v.i16[i], 2);
}
EMU void emu_mm_mask_storeu_ps(void *p, __mmask8 k, __m128 a) {
    emu_v128 v;
    v.ps = a;
    for (int i = 0; i < 4; i++)
        if (k >> i & 1) memcpy((char *)p + 4 * i, &v.f32[i], 4);
}

/* vgatherdps / vpgatherdd: element i from base + idx[i] * scale where the mask selects it */
EMU __m512 emu_mm512_mask_i32gather_ps(__m512 src, __mmask16 k, __m512i idx, const void *base, int scale) {
    emu_v512 r = e512_ps(src), ix = e512_si(idx);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.f32[i], (const char *)base + (int64_t)ix.i32[i] * scale, 4);
    return r.ps;
}
EMU __m512 emu_mm512_i32gather_ps(__m512i idx, const void *base, int scale) {
    return emu_mm512_mask_i32gather_ps(e512_zero().ps, 0xffff, idx, base, scale);
}
EMU __m512i emu_mm512_mask_i32gather_epi32(__m512i src, __mmask16 k, __m512i idx, const void *base, int scale) {
    emu_v512 r = e512_si(src), ix = e512_si(idx);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.i32[i], (const char *)base + (int64_t)ix.i32[i] * scale, 4);
    return r.si;
}

/* ---- float arithmetic ---- */

#define EMU_PS2(name, expr)                                                    \
    EMU __m512 emu_mm512_##name(__m512 a_, __m512 b_) {                        \
        emu_v512 a = e512_ps(a_), b = e512_ps(b_), r;                            \
        for (int i = 0; i < 16; i++) {                                         \
            float x = a.f32[i], y = b.f32[i];                                  \
            r.f32[i] = (expr);                                                 \
        }                                                                      \
        return r.ps;                                                           \
    }
EMU_PS2(add_ps, x + y)
EMU_PS2(sub_ps, x - y)
EMU_PS2(mul_ps, x * y)
EMU_PS2(div_ps, x / y)
/* vminps/vmaxps: the second operand when either is a NaN or both are zeros */
EMU_PS2(min_ps, x < y ? x : y)
EMU_PS2(max_ps, x > y ? x : y)
/* vscalefps: x * 2^floor(y) (finite operands; the kernels scale by small integers) */
EMU_PS2(scalef_ps, isnan(x) || isnan(y) ? x + y : ldexpf(x, (int)fmaxf(fminf(floorf(y), 1000.0f), -1000.0f)))
#undef EMU_PS2

#define EMU_PS_BITS(name, expr)                                                \
    EMU __m512 emu_mm512_##name(__m512 a_, __m512 b_) {                        \
        emu_v512 a = e512_ps(a_), b = e512_ps(b_), r;                            \
        for (int i = 0; i < 16; i++) {                                         \
            uint32_t x = a.u32[i], y = b.u32[i];                               \
            r.u32[i] = (expr);                                                 \
        }                                                                      \
        return r.ps;                                                           \
    }
EMU_PS_BITS(and_ps, x &y)
EMU_PS_BITS(or_ps, x | y)
EMU_PS_BITS(xor_ps, x ^ y)
EMU_PS_BITS(andnot_ps, ~x & y)
#undef EMU_PS_BITS

EMU __m512 emu_mm512_abs_ps(__m512 a) {
    emu_v512 r = e512_ps(a);
    for (int i = 0; i < 16; i++) r.u32[i] &= 0x7fffffffu;
    return r.ps;
}
EMU __m512 emu_mm512_fmadd_ps(__m512 a_, __m512 b_, __m512 c_) {
    emu_v512 a = e512_ps(a_), b = e512_ps(b_), c = e512_ps(c_), r;
    for (int i = 0; i < 16; i++) r.f32[i] = fmaf(a.f32[i], b.f32[i], c.f32[i]);
    return r.ps;
}
/* vfnmadd: -(a * b) + c, one rounding */
EMU __m512 emu_mm512_fnmadd_ps(__m512 a_, __m512 b_, __m512 c_) {
    emu_v512 a = e512_ps(a_), b = e512_ps(b_), c = e512_ps(c_), r;
    for (int i = 0; i < 16; i++) r.f32[i] = fmaf(-a.f32[i], b.f32[i], c.f32[i]);
    return r.ps;
}
EMU __m512 emu_mm512_mask_add_ps(__m512 src, __mmask16 k, __m512 a, __m512 b) {
    emu_v512 r = e512_ps(src), s = e512_ps(emu_mm512_add_ps(a, b));
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.f32[i] = s.f32[i];
    return r.ps;
}
EMU __m512 emu_mm512_mask_max_ps(__m512 src, __mmask16 k, __m512 a, __m512 b) {
    emu_v512 r = e512_ps(src), s = e512_ps(emu_mm512_max_ps(a, b));
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.f32[i] = s.f32[i];
    return r.ps;
}
EMU __m512 emu_mm512_maskz_sub_ps(__mmask16 k, __m512 a, __m512 b) {
    emu_v512 r = e512_zero(), s = e512_ps(emu_mm512_sub_ps(a, b));
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.f32[i] = s.f32[i];
    return r.ps;
}
EMU __m512 emu_mm512_maskz_div_ps(__mmask16 k, __m512 a, __m512 b) {
    emu_v512 r = e512_zero(), s = e512_ps(emu_mm512_div_ps(a, b));
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.f32[i] = s.f32[i];
    return r.ps;
}

/* vrndscaleps: round to a multiple of 2^-M, M = imm[7:4], in the mode imm[1:0] (or MXCSR's,
 * round to nearest even, with imm[2]) */
static inline float e512_round_mode(float x, int mode) {
    switch (mode) {
    case 1: return floorf(x);
    case 2: return ceilf(x);
    case 3: return truncf(x);
    default: return nearbyintf(x); /* default rounding: to nearest even */
    }
}
EMU __m512 emu_mm512_roundscale_ps(__m512 a_, int imm) {
    emu_v512 a = e512_ps(a_), r;
    int m = imm >> 4 & 15, mode = imm & 4 ? 0 : imm & 3;
    for (int i = 0; i < 16; i++) {
        float x = a.f32[i];
        r.f32[i] = isnan(x) || isinf(x) ? x + x : ldexpf(e512_round_mode(ldexpf(x, m), mode), -m);
        if (r.f32[i] == 0.0f) r.f32[i] = copysignf(0.0f, x);
    }
    return r.ps;
}

/* doubles */
EMU __m512d emu_mm512_add_pd(__m512d a_, __m512d b_) {
    emu_v512 a = e512_pd(a_), b = e512_pd(b_), r;
    for (int i = 0; i < 8; i++) r.f64[i] = a.f64[i] + b.f64[i];
    return r.pd;
}
EMU __m512d emu_mm512_mul_pd(__m512d a_, __m512d b_) {
    emu_v512 a = e512_pd(a_), b = e512_pd(b_), r;
    for (int i = 0; i < 8; i++) r.f64[i] = a.f64[i] * b.f64[i];
    return r.pd;
}

/* ---- integer arithmetic, logic and shifts ---- */

#define EMU_EPI2(name, n, f, T, expr)                                          \
    EMU __m512i emu_mm512_##name(__m512i a_, __m512i b_) {                     \
        emu_v512 a = e512_si(a_), b = e512_si(b_), r;                            \
        for (int i = 0; i < n; i++) {                                          \
            T x = a.f[i], y = b.f[i];                                          \
            r.f[i] = (expr);                                                   \
        }                                                                      \
        return r.si;                                                           \
    }
EMU_EPI2(add_epi32, 16, u32, uint32_t, x + y)
EMU_EPI2(sub_epi32, 16, u32, uint32_t, x - y)
EMU_EPI2(sub_epi16, 32, u16, uint16_t, (uint16_t)(x - y))
EMU_EPI2(mullo_epi32, 16, u32, uint32_t, x *y)
EMU_EPI2(mullo_epi16, 32, u16, uint32_t, (uint16_t)(x * y))
EMU_EPI2(and_si512, 8, u64, uint64_t, x &y)
EMU_EPI2(or_si512, 8, u64, uint64_t, x | y)
EMU_EPI2(xor_si512, 8, u64, uint64_t, x ^ y)
/* vprolvq: rotate left by y mod 64 */
EMU_EPI2(rolv_epi64, 8, u64, uint64_t, y % 64 ? x << (y % 64) | x >> (64 - y % 64) : x)
/* vpsrlvq: a count above 63 gives 0 */
EMU_EPI2(srlv_epi64, 8, u64, uint64_t, y > 63 ? 0 : x >> y)
#undef EMU_EPI2

/* shifts by an immediate: a count past the element's width gives 0 (the arithmetic shift:
 * the sign) */
#define EMU_SHIFT(name, n, f, T, expr, width)                                  \
    EMU __m512i emu_mm512_##name(__m512i a_, unsigned int c) {                 \
        emu_v512 a = e512_si(a_), r;                                            \
        for (int i = 0; i < n; i++) {                                          \
            T x = a.f[i];                                                      \
            r.f[i] = c >= width ? 0 : (expr);                                  \
        }                                                                      \
        return r.si;                                                           \
    }
EMU_SHIFT(srli_epi16, 32, u16, uint16_t, (uint16_t)(x >> c), 16)
EMU_SHIFT(slli_epi16, 32, u16, uint16_t, (uint16_t)(x << c), 16)
EMU_SHIFT(srli_epi32, 16, u32, uint32_t, x >> c, 32)
EMU_SHIFT(slli_epi32, 16, u32, uint32_t, x << c, 32)
#undef EMU_SHIFT
EMU __m512i emu_mm512_srai_epi32(__m512i a_, unsigned int c) {
    emu_v512 a = e512_si(a_), r;
    if (c > 31) c = 31;
    /* the sign copied into the vacated bits, without relying on >> of a negative value */
    for (int i = 0; i < 16; i++) {
        uint32_t x = a.u32[i], s = x >> 31 ? ~0u : 0u;
        r.u32[i] = c ? x >> c | s << (32 - c) : x;
    }
    return r.si;
}

/* vpmaddwd: pairs of signed 16-bit products added into 32 bits (wrapping in the one case
 * that overflows, -32768 * -32768 twice) */
EMU __m512i emu_mm512_madd_epi16(__m512i a_, __m512i b_) {
    emu_v512 a = e512_si(a_), b = e512_si(b_), r;
    for (int i = 0; i < 16; i++)
        r.u32[i] = (uint32_t)((int32_t)a.i16[2 * i] * b.i16[2 * i]) +
                   (uint32_t)((int32_t)a.i16[2 * i + 1] * b.i16[2 * i + 1]);
    return r.si;
}
/* vpdpbusd: src + the four products of unsigned bytes of a and signed bytes of b, modulo 2^32 */
EMU __m512i emu_mm512_dpbusd_epi32(__m512i s_, __m512i a_, __m512i b_) {
    emu_v512 s = e512_si(s_), a = e512_si(a_), b = e512_si(b_), r;
    for (int i = 0; i < 16; i++) {
        uint32_t acc = s.u32[i];
        for (int j = 0; j < 4; j++) acc += (uint32_t)((int32_t)a.u8[4 * i + j] * b.i8[4 * i + j]);
        r.u32[i] = acc;
    }
    return r.si;
}
EMU __m256i emu_mm256_dpbusd_epi32(__m256i s_, __m256i a_, __m256i b_) {
    emu_v256 s = e512_y(s_), a = e512_y(a_), b = e512_y(b_), r;
    for (int i = 0; i < 8; i++) {
        uint32_t acc = s.u32[i];
        for (int j = 0; j < 4; j++) acc += (uint32_t)((int32_t)a.u8[4 * i + j] * b.i8[4 * i + j]);
        r.u32[i] = acc;
    }
    return r.si;
}
/* vpdpwssd: src + two signed 16-bit products, modulo 2^32 */
EMU __m512i emu_mm512_dpwssd_epi32(__m512i s_, __m512i a_, __m512i b_) {
    emu_v512 s = e512_si(s_), a = e512_si(a_), b = e512_si(b_), r;
    for (int i = 0; i < 16; i++)
        r.u32[i] = s.u32[i] + (uint32_t)((int32_t)a.i16[2 * i] * b.i16[2 * i]) +
                   (uint32_t)((int32_t)a.i16[2 * i + 1] * b.i16[2 * i + 1]);
    return r.si;
}

/* vdpbf16ps, as the SDM gives it: per f32 element, src += odd pair product, then += even
 * pair product, each one FMA rounded to nearest even, denormal inputs read as zero and
 * denormal results flushed to zero (MXCSR neither consulted nor changed) */
static inline float e512_daz(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }
static inline float e512_bf16(uint16_t h) { return e512_daz(e512_float((uint32_t)h << 16)); }
EMU __m512 emu_mm512_dpbf16_ps(__m512 s_, __m512bh a_, __m512bh b_) {
    emu_v512 s = e512_ps(s_), a, b, r;
    memcpy(&a, &a_, 64);
    memcpy(&b, &b_, 64);
    for (int i = 0; i < 16; i++) {
        float acc = e512_daz(s.f32[i]);
        acc = e512_daz(fmaf(e512_bf16(a.u16[2 * i + 1]), e512_bf16(b.u16[2 * i + 1]), acc));
        acc = e512_daz(fmaf(e512_bf16(a.u16[2 * i]), e512_bf16(b.u16[2 * i]), acc));
        r.f32[i] = acc;
    }
    return r.ps;
}

/* vpternlogd: each result bit is imm's bit number (a << 2 | b << 1 | c) of the three inputs' bits */
EMU __m512i emu_mm512_ternarylogic_epi32(__m512i a_, __m512i b_, __m512i c_, int imm) {
    emu_v512 a = e512_si(a_), b = e512_si(b_), c = e512_si(c_), r;
    for (int i = 0; i < 8; i++) {
        uint64_t x = a.u64[i], y = b.u64[i], z = c.u64[i], v = 0;
        for (int k = 0; k < 8; k++) {
            if (!(imm >> k & 1)) continue;
            uint64_t m = (k & 4 ? x : ~x) & (k & 2 ? y : ~y) & (k & 1 ? z : ~z);
            v |= m;
        }
        r.u64[i] = v;
    }
    return r.si;
}

/* ---- conversions ---- */

EMU __m512 emu_mm512_cvtepi32_ps(__m512i a_) {
    emu_v512 a = e512_si(a_), r;
    for (int i = 0; i < 16; i++) r.f32[i] = (float)a.i32[i];
    return r.ps;
}
/* vcvtps2dq: round to nearest even; a NaN or out-of-range value gives 0x80000000 */
EMU __m512i emu_mm512_cvtps_epi32(__m512 a_) {
    emu_v512 a = e512_ps(a_), r;
    for (int i = 0; i < 16; i++) {
        float x = nearbyintf(a.f32[i]);
        r.i32[i] = x >= -2147483648.0f && x < 2147483648.0f ? (int32_t)x : INT32_MIN;
    }
    return r.si;
}
EMU __m512d emu_mm512_cvtps_pd(__m256 a) {
    emu_v256 v;
    v.ps = a;
    emu_v512 r;
    for (int i = 0; i < 8; i++) r.f64[i] = v.f32[i];
    return r.pd;
}
/* f16 <-> f32: F16C's own instructions, half a register at a time */
EMU __m512 emu_mm512_cvtph_ps(__m256i a) {
    emu_v256 v = e512_y(a);
    emu_v512 r;
    r.yf[0] = _mm256_cvtph_ps(v.x[0]);
    r.yf[1] = _mm256_cvtph_ps(v.x[1]);
    return r.ps;
}
#define emu_mm512_cvtps_ph(a, imm)                                                                    \
    __extension__({                                                                                   \
        emu_v512 emu_a_ = e512_ps(a);                                                                  \
        emu_v256 emu_r_;                                                                              \
        emu_r_.x[0] = _mm256_cvtps_ph(emu_a_.yf[0], imm);                                             \
        emu_r_.x[1] = _mm256_cvtps_ph(emu_a_.yf[1], imm);                                             \
        emu_r_.si;                                                                                    \
    })

/* widening: sign or zero extension */
EMU __m512i emu_mm512_cvtepu16_epi32(__m256i a_) {
    emu_v256 a = e512_y(a_);
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.u32[i] = a.u16[i];
    return r.si;
}
EMU __m512i emu_mm512_cvtepi16_epi32(__m256i a_) {
    emu_v256 a = e512_y(a_);
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.i32[i] = a.i16[i];
    return r.si;
}
EMU __m512i emu_mm512_cvtepi8_epi32(__m128i a_) {
    emu_v128 a = e512_x(a_);
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.i32[i] = a.i8[i];
    return r.si;
}
EMU __m512i emu_mm512_cvtepi8_epi16(__m256i a_) {
    emu_v256 a = e512_y(a_);
    emu_v512 r;
    for (int i = 0; i < 32; i++) r.i16[i] = a.i8[i];
    return r.si;
}
EMU __m512i emu_mm512_cvtepu32_epi64(__m256i a_) {
    emu_v256 a = e512_y(a_);
    emu_v512 r;
    for (int i = 0; i < 8; i++) r.u64[i] = a.u32[i];
    return r.si;
}
/* narrowing: vpmovdb / vpmovdw / vpmovwb truncate */
EMU __m128i emu_mm512_cvtepi32_epi8(__m512i a_) {
    emu_v512 a = e512_si(a_);
    emu_v128 r;
    for (int i = 0; i < 16; i++) r.i8[i] = (int8_t)a.u32[i];
    return r.si;
}
EMU __m256i emu_mm512_cvtepi32_epi16(__m512i a_) {
    emu_v512 a = e512_si(a_);
    emu_v256 r;
    for (int i = 0; i < 16; i++) r.u16[i] = (uint16_t)a.u32[i];
    return r.si;
}
EMU __m256i emu_mm512_cvtepi16_epi8(__m512i a_) {
    emu_v512 a = e512_si(a_);
    emu_v256 r;
    for (int i = 0; i < 32; i++) r.u8[i] = (uint8_t)a.u16[i];
    return r.si;
}
/* vpackssdw: per 128-bit lane, a's four and then b's four, saturated to 16 bits */
static inline int16_t e512_sat16(int32_t x) { return (int16_t)(x < -32768 ? -32768 : x > 32767 ? 32767 : x); }
EMU __m512i emu_mm512_packs_epi32(__m512i a_, __m512i b_) {
    emu_v512 a = e512_si(a_), b = e512_si(b_), r;
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < 4; i++) {
            r.i16[8 * l + i] = e512_sat16(a.i32[4 * l + i]);
            r.i16[8 * l + 4 + i] = e512_sat16(b.i32[4 * l + i]);
        }
    return r.si;
}

/* ---- comparisons and masks ---- */

/* vcmpps's 32 predicates: bits 0-2 the relation (EQ LT LE UNORD NEQ NLT NLE ORD), bit 3
 * flips which way an unordered pair goes for EQ/NEQ and adds FALSE/TRUE/GE/GT, bit 4 only
 * signalling, which is not modelled */
static inline int e512_cmp(float x, float y, int p) {
    int un = isnan(x) || isnan(y);
    int r;
    switch (p & 15) {
    case 0: r = !un && x == y; break;  /* EQ_OQ */
    case 1: r = !un && x < y; break;   /* LT_OS */
    case 2: r = !un && x <= y; break;  /* LE_OS */
    case 3: r = un; break;             /* UNORD_Q */
    case 4: r = un || x != y; break;   /* NEQ_UQ */
    case 5: r = un || !(x < y); break; /* NLT_US */
    case 6: r = un || !(x <= y); break;/* NLE_US */
    case 7: r = !un; break;            /* ORD_Q */
    case 8: r = un || x == y; break;   /* EQ_UQ */
    case 9: r = un || !(x >= y); break;/* NGE_US */
    case 10: r = un || !(x > y); break;/* NGT_US */
    case 11: r = 0; break;             /* FALSE_OQ */
    case 12: r = !un && x != y; break; /* NEQ_OQ */
    case 13: r = !un && x >= y; break; /* GE_OS */
    case 14: r = !un && x > y; break;  /* GT_OS */
    default: r = 1; break;             /* TRUE_UQ */
    }
    return r;
}
EMU __mmask16 emu_mm512_cmp_ps_mask(__m512 a_, __m512 b_, int p) {
    emu_v512 a = e512_ps(a_), b = e512_ps(b_);
    unsigned m = 0;
    for (int i = 0; i < 16; i++) m |= (unsigned)e512_cmp(a.f32[i], b.f32[i], p) << i;
    return (__mmask16)m;
}
EMU __mmask16 emu_mm512_cmpgt_epu32_mask(__m512i a_, __m512i b_) {
    emu_v512 a = e512_si(a_), b = e512_si(b_);
    unsigned m = 0;
    for (int i = 0; i < 16; i++) m |= (unsigned)(a.u32[i] > b.u32[i]) << i;
    return (__mmask16)m;
}
EMU __mmask16 emu_mm512_cmple_epi32_mask(__m512i a_, __m512i b_) {
    emu_v512 a = e512_si(a_), b = e512_si(b_);
    unsigned m = 0;
    for (int i = 0; i < 16; i++) m |= (unsigned)(a.i32[i] <= b.i32[i]) << i;
    return (__mmask16)m;
}
EMU __mmask16 emu_mm512_cmpge_epi32_mask(__m512i a_, __m512i b_) {
    emu_v512 a = e512_si(a_), b = e512_si(b_);
    unsigned m = 0;
    for (int i = 0; i < 16; i++) m |= (unsigned)(a.i32[i] >= b.i32[i]) << i;
    return (__mmask16)m;
}
EMU __mmask64 emu_mm512_test_epi8_mask(__m512i a_, __m512i b_) {
    emu_v512 a = e512_si(a_), b = e512_si(b_);
    uint64_t m = 0;
    for (int i = 0; i < 64; i++) m |= (uint64_t)((a.u8[i] & b.u8[i]) != 0) << i;
    return (__mmask64)m;
}
EMU __mmask64 emu_mm512_movepi8_mask(__m512i a_) {
    emu_v512 a = e512_si(a_);
    uint64_t m = 0;
    for (int i = 0; i < 64; i++) m |= (uint64_t)(a.u8[i] >> 7) << i;
    return (__mmask64)m;
}
EMU __m512i emu_mm512_movm_epi8(__mmask64 k) {
    emu_v512 r;
    for (int i = 0; i < 64; i++) r.u8[i] = k >> i & 1 ? 0xff : 0;
    return r.si;
}
EMU __m128i emu_mm_movm_epi8(__mmask16 k) {
    emu_v128 r;
    for (int i = 0; i < 16; i++) r.u8[i] = k >> i & 1 ? 0xff : 0;
    return r.si;
}
EMU __mmask64 emu_cvtu64_mask64(unsigned long long a) { return (__mmask64)a; }

/* merging and zeroing moves */
EMU __m512i emu_mm512_mask_add_epi8(__m512i src, __mmask64 k, __m512i a_, __m512i b_) {
    emu_v512 r = e512_si(src), a = e512_si(a_), b = e512_si(b_);
    for (int i = 0; i < 64; i++)
        if (k >> i & 1) r.u8[i] = (uint8_t)(a.u8[i] + b.u8[i]);
    return r.si;
}
EMU __m512 emu_mm512_mask_mov_ps(__m512 src, __mmask16 k, __m512 a_) {
    emu_v512 r = e512_ps(src), a = e512_ps(a_);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.u32[i] = a.u32[i];
    return r.ps;
}
EMU __m512 emu_mm512_maskz_mov_ps(__mmask16 k, __m512 a) { return emu_mm512_mask_mov_ps(e512_zero().ps, k, a); }
EMU __m512i emu_mm512_mask_mov_epi32(__m512i src, __mmask16 k, __m512i a_) {
    emu_v512 r = e512_si(src), a = e512_si(a_);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.u32[i] = a.u32[i];
    return r.si;
}
EMU __m512i emu_mm512_mask_blend_epi32(__mmask16 k, __m512i a, __m512i b) { return emu_mm512_mask_mov_epi32(a, k, b); }
EMU __m512i emu_mm512_mask_set1_epi32(__m512i src, __mmask16 k, int a) {
    return emu_mm512_mask_mov_epi32(src, k, emu_mm512_set1_epi32(a));
}
EMU __m512i emu_mm512_mask_set1_epi16(__m512i src, __mmask32 k, short a) {
    emu_v512 r = e512_si(src);
    for (int i = 0; i < 32; i++)
        if (k >> i & 1) r.i16[i] = a;
    return r.si;
}
EMU __m256i emu_mm256_mask_mov_epi16(__m256i src, __mmask16 k, __m256i a_) {
    emu_v256 r = e512_y(src), a = e512_y(a_);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.u16[i] = a.u16[i];
    return r.si;
}
EMU __m512 emu_mm512_mask_broadcastss_ps(__m512 src, __mmask16 k, __m128 a) {
    emu_v128 v;
    v.ps = a;
    return emu_mm512_mask_mov_ps(src, k, emu_mm512_set1_ps(v.f32[0]));
}

/* ---- shuffles, permutes, inserts, extracts, broadcasts, casts ---- */

/* vpshufb: within each 128-bit lane, byte b[i] & 15 of a, or 0 where b[i]'s top bit is set */
EMU __m512i emu_mm512_shuffle_epi8(__m512i a_, __m512i b_) {
    emu_v512 a = e512_si(a_), b = e512_si(b_), r;
    for (int i = 0; i < 64; i++) r.u8[i] = b.u8[i] & 0x80 ? 0 : a.u8[(i & ~15) | (b.u8[i] & 15)];
    return r.si;
}
/* vpshufd: within each lane, dword (imm >> 2j) & 3 */
EMU __m512i emu_mm512_shuffle_epi32(__m512i a_, int imm) {
    emu_v512 a = e512_si(a_), r;
    for (int i = 0; i < 16; i++) r.u32[i] = a.u32[(i & ~3) | (imm >> 2 * (i & 3) & 3)];
    return r.si;
}
/* vpermilps with an immediate: the same on floats */
EMU __m512 emu_mm512_permute_ps(__m512 a, int imm) {
    emu_v512 r = e512_si(emu_mm512_shuffle_epi32(e512_ps(a).si, imm));
    return r.ps;
}
/* vshufps: within each lane, two of a's elements, then two of b's */
EMU __m512 emu_mm512_shuffle_ps(__m512 a_, __m512 b_, int imm) {
    emu_v512 a = e512_ps(a_), b = e512_ps(b_), r;
    for (int l = 0; l < 16; l += 4) {
        r.u32[l] = a.u32[l + (imm & 3)];
        r.u32[l + 1] = a.u32[l + (imm >> 2 & 3)];
        r.u32[l + 2] = b.u32[l + (imm >> 4 & 3)];
        r.u32[l + 3] = b.u32[l + (imm >> 6 & 3)];
    }
    return r.ps;
}
/* vshufi64x2 / vshuff32x4: 128-bit lanes 0-1 from a, 2-3 from b, each chosen by two bits */
EMU __m512i emu_mm512_shuffle_i64x2(__m512i a_, __m512i b_, int imm) {
    emu_v512 a = e512_si(a_), b = e512_si(b_), r;
    r.x[0] = a.x[imm & 3];
    r.x[1] = a.x[imm >> 2 & 3];
    r.x[2] = b.x[imm >> 4 & 3];
    r.x[3] = b.x[imm >> 6 & 3];
    return r.si;
}
EMU __m512 emu_mm512_shuffle_f32x4(__m512 a, __m512 b, int imm) {
    emu_v512 r = e512_si(emu_mm512_shuffle_i64x2(e512_ps(a).si, e512_ps(b).si, imm));
    return r.ps;
}
/* vpermd / vpermps: element idx[i] & 15 of a */
EMU __m512i emu_mm512_permutexvar_epi32(__m512i idx_, __m512i a_) {
    emu_v512 idx = e512_si(idx_), a = e512_si(a_), r;
    for (int i = 0; i < 16; i++) r.u32[i] = a.u32[idx.u32[i] & 15];
    return r.si;
}
EMU __m512 emu_mm512_permutexvar_ps(__m512i idx, __m512 a) {
    emu_v512 r = e512_si(emu_mm512_permutexvar_epi32(idx, e512_ps(a).si));
    return r.ps;
}
/* vpermt2ps: element idx[i] & 15 of a, or of b when idx[i] & 16 */
EMU __m512 emu_mm512_permutex2var_ps(__m512 a_, __m512i idx_, __m512 b_) {
    emu_v512 a = e512_ps(a_), idx = e512_si(idx_), b = e512_ps(b_), r;
    for (int i = 0; i < 16; i++) r.u32[i] = idx.u32[i] & 16 ? b.u32[idx.u32[i] & 15] : a.u32[idx.u32[i] & 15];
    return r.ps;
}
/* unpacks: within each lane, the low (or high) halves' elements interleaved, a first */
#define EMU_UNPACK(name, n, f, hi)                                             \
    EMU __m512i emu_mm512_##name(__m512i a_, __m512i b_) {                     \
        emu_v512 a = e512_si(a_), b = e512_si(b_), r;                            \
        const int per = n / 4, half = per / 2;                                 \
        for (int l = 0; l < n; l += per)                                       \
            for (int i = 0; i < half; i++) {                                   \
                r.f[l + 2 * i] = a.f[l + (hi) * half + i];                     \
                r.f[l + 2 * i + 1] = b.f[l + (hi) * half + i];                 \
            }                                                                  \
        return r.si;                                                           \
    }
EMU_UNPACK(unpacklo_epi8, 64, u8, 0)
EMU_UNPACK(unpackhi_epi8, 64, u8, 1)
EMU_UNPACK(unpacklo_epi32, 16, u32, 0)
EMU_UNPACK(unpackhi_epi32, 16, u32, 1)
EMU_UNPACK(unpacklo_epi64, 8, u64, 0)
EMU_UNPACK(unpackhi_epi64, 8, u64, 1)
#undef EMU_UNPACK
EMU __m512 emu_mm512_unpacklo_ps(__m512 a, __m512 b) {
    return e512_si(emu_mm512_unpacklo_epi32(e512_ps(a).si, e512_ps(b).si)).ps;
}
EMU __m512 emu_mm512_unpackhi_ps(__m512 a, __m512 b) {
    return e512_si(emu_mm512_unpackhi_epi32(e512_ps(a).si, e512_ps(b).si)).ps;
}

EMU __m512i emu_mm512_broadcast_i32x4(__m128i a) {
    emu_v512 r;
    for (int l = 0; l < 4; l++) r.x[l] = a;
    return r.si;
}
EMU __m512i emu_mm512_mask_broadcast_i32x4(__m512i src, __mmask16 k, __m128i a) {
    return emu_mm512_mask_mov_epi32(src, k, emu_mm512_broadcast_i32x4(a));
}
EMU __m512i emu_mm512_broadcast_i64x4(__m256i a) {
    emu_v512 r;
    r.y[0] = r.y[1] = a;
    return r.si;
}
EMU __m512i emu_mm512_inserti64x4(__m512i a, __m256i b, int imm) {
    emu_v512 r = e512_si(a);
    r.y[imm & 1] = b;
    return r.si;
}
EMU __m512i emu_mm512_inserti32x4(__m512i a, __m128i b, int imm) {
    emu_v512 r = e512_si(a);
    r.x[imm & 3] = b;
    return r.si;
}
EMU __m256i emu_mm512_extracti64x4_epi64(__m512i a, int imm) { return e512_si(a).y[imm & 1]; }
EMU __m256d emu_mm512_extractf64x4_pd(__m512d a, int imm) { return e512_pd(a).yd[imm & 1]; }
EMU __m256 emu_mm512_extractf32x8_ps(__m512 a, int imm) { return e512_ps(a).yf[imm & 1]; }

/* casts: the upper part of a widening cast is undefined; here it is zero */
EMU __m512i emu_mm512_castsi256_si512(__m256i a) {
    emu_v512 r = e512_zero();
    r.y[0] = a;
    return r.si;
}
EMU __m512i emu_mm512_castsi128_si512(__m128i a) {
    emu_v512 r = e512_zero();
    r.x[0] = a;
    return r.si;
}
EMU __m512 emu_mm512_castps256_ps512(__m256 a) {
    emu_v512 r = e512_zero();
    r.yf[0] = a;
    return r.ps;
}
EMU __m512 emu_mm512_zextps128_ps512(__m128 a) {
    emu_v512 r = e512_zero();
    r.xf[0] = a;
    return r.ps;
}
EMU __m256i emu_mm512_castsi512_si256(__m512i a) { return e512_si(a).y[0]; }
EMU __m256 emu_mm512_castps512_ps256(__m512 a) { return e512_ps(a).yf[0]; }
EMU __m256d emu_mm512_castpd512_pd256(__m512d a) { return e512_pd(a).yd[0]; }
EMU __m512 emu_mm512_castsi512_ps(__m512i a) { return e512_si(a).ps; }
EMU __m512i emu_mm512_castps_si512(__m512 a) { return e512_ps(a).si; }
EMU __m512d emu_mm512_castps_pd(__m512 a) { return e512_ps(a).pd; }
EMU float emu_mm512_cvtss_f32(__m512 a) { return e512_ps(a).f32[0]; }

/* ---- reductions (GCC's avx512fintrin.h sequences: halves added pairwise, 8 + 8, 4 + 4,
 * 2 + 2, 1 + 1; min/max with the later half as the first operand) ---- */

EMU float emu_mm512_reduce_add_ps(__m512 a_) {
    emu_v512 a = e512_ps(a_);
    float t[8];
    for (int i = 0; i < 8; i++) t[i] = a.f32[8 + i] + a.f32[i];
    for (int i = 0; i < 4; i++) t[i] = t[4 + i] + t[i];
    float u0 = t[0] + t[2], u1 = t[1] + t[3];
    return u0 + u1;
}
/* _mm512_reduce_max_ps: max(hi, lo) at each halving, then (x, swapped x) twice */
static inline float e512_maxf(float x, float y) { return x > y ? x : y; }
EMU float emu_mm512_reduce_max_ps(__m512 a_) {
    emu_v512 a = e512_ps(a_);
    float t[8];
    for (int i = 0; i < 8; i++) t[i] = e512_maxf(a.f32[8 + i], a.f32[i]);
    for (int i = 0; i < 4; i++) t[i] = e512_maxf(t[4 + i], t[i]);
    float u[4] = {e512_maxf(t[0], t[2]), e512_maxf(t[1], t[3]), e512_maxf(t[2], t[0]), e512_maxf(t[3], t[1])};
    return e512_maxf(u[0], u[1]);
}
EMU int emu_mm512_reduce_add_epi32(__m512i a_) {
    emu_v512 a = e512_si(a_);
    uint32_t s = 0;
    for (int i = 0; i < 16; i++) s += a.u32[i];
    return (int32_t)s;
}

/* ---- the names the kernels use ---- */

#undef _mm512_setzero_ps
#define _mm512_setzero_ps emu_mm512_setzero_ps
#undef _mm512_setzero_si512
#define _mm512_setzero_si512 emu_mm512_setzero_si512
#undef _mm512_setzero_pd
#define _mm512_setzero_pd emu_mm512_setzero_pd
#undef _mm512_set1_ps
#define _mm512_set1_ps emu_mm512_set1_ps
#undef _mm512_set1_epi8
#define _mm512_set1_epi8 emu_mm512_set1_epi8
#undef _mm512_set1_epi16
#define _mm512_set1_epi16 emu_mm512_set1_epi16
#undef _mm512_set1_epi32
#define _mm512_set1_epi32 emu_mm512_set1_epi32
#undef _mm512_set1_epi64
#define _mm512_set1_epi64 emu_mm512_set1_epi64
#undef _mm512_setr_epi32
#define _mm512_setr_epi32 emu_mm512_setr_epi32
#undef _mm512_set_epi32
#define _mm512_set_epi32 emu_mm512_set_epi32
#undef _mm512_setr_epi64
#define _mm512_setr_epi64 emu_mm512_setr_epi64
#undef _mm512_set_epi64
#define _mm512_set_epi64 emu_mm512_set_epi64
#undef _mm512_loadu_ps
#define _mm512_loadu_ps emu_mm512_loadu_ps
#undef _mm512_load_ps
#define _mm512_load_ps emu_mm512_load_ps
#undef _mm512_loadu_si512
#define _mm512_loadu_si512 emu_mm512_loadu_si512
#undef _mm512_load_si512
#define _mm512_load_si512 emu_mm512_load_si512
#undef _mm512_storeu_ps
#define _mm512_storeu_ps emu_mm512_storeu_ps
#undef _mm512_store_ps
#define _mm512_store_ps emu_mm512_store_ps
#undef _mm512_storeu_si512
#define _mm512_storeu_si512 emu_mm512_storeu_si512
#undef _mm512_store_si512
#define _mm512_store_si512 emu_mm512_store_si512
#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps emu_mm512_maskz_loadu_ps
#undef _mm512_maskz_loadu_epi16
#define _mm512_maskz_loadu_epi16 emu_mm512_maskz_loadu_epi16
#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps emu_mm512_mask_storeu_ps
#undef _mm256_maskz_loadu_ps
#define _mm256_maskz_loadu_ps emu_mm256_maskz_loadu_ps
#undef _mm256_maskz_loadu_epi16
#define _mm256_maskz_loadu_epi16 emu_mm256_maskz_loadu_epi16
#undef _mm256_mask_storeu_ps
#define _mm256_mask_storeu_ps emu_mm256_mask_storeu_ps
#undef _mm256_mask_storeu_epi16
#define _mm256_mask_storeu_epi16 emu_mm256_mask_storeu_epi16
#undef _mm_mask_storeu_ps
#define _mm_mask_storeu_ps emu_mm_mask_storeu_ps
#undef _mm512_mask_i32gather_ps
#define _mm512_mask_i32gather_ps emu_mm512_mask_i32gather_ps
#undef _mm512_i32gather_ps
#define _mm512_i32gather_ps emu_mm512_i32gather_ps
#undef _mm512_mask_i32gather_epi32
#define _mm512_mask_i32gather_epi32 emu_mm512_mask_i32gather_epi32
#undef _mm512_add_ps
#define _mm512_add_ps emu_mm512_add_ps
#undef _mm512_sub_ps
#define _mm512_sub_ps emu_mm512_sub_ps
#undef _mm512_mul_ps
#define _mm512_mul_ps emu_mm512_mul_ps
#undef _mm512_div_ps
#define _mm512_div_ps emu_mm512_div_ps
#undef _mm512_min_ps
#define _mm512_min_ps emu_mm512_min_ps
#undef _mm512_max_ps
#define _mm512_max_ps emu_mm512_max_ps
#undef _mm512_scalef_ps
#define _mm512_scalef_ps emu_mm512_scalef_ps
#undef _mm512_and_ps
#define _mm512_and_ps emu_mm512_and_ps
#undef _mm512_or_ps
#define _mm512_or_ps emu_mm512_or_ps
#undef _mm512_xor_ps
#define _mm512_xor_ps emu_mm512_xor_ps
#undef _mm512_andnot_ps
#define _mm512_andnot_ps emu_mm512_andnot_ps
#undef _mm512_abs_ps
#define _mm512_abs_ps emu_mm512_abs_ps
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps emu_mm512_fmadd_ps
#undef _mm512_fnmadd_ps
#define _mm512_fnmadd_ps emu_mm512_fnmadd_ps
#undef _mm512_mask_add_ps
#define _mm512_mask_add_ps emu_mm512_mask_add_ps
#undef _mm512_mask_max_ps
#define _mm512_mask_max_ps emu_mm512_mask_max_ps
#undef _mm512_maskz_sub_ps
#define _mm512_maskz_sub_ps emu_mm512_maskz_sub_ps
#undef _mm512_maskz_div_ps
#define _mm512_maskz_div_ps emu_mm512_maskz_div_ps
#undef _mm512_roundscale_ps
#define _mm512_roundscale_ps emu_mm512_roundscale_ps
#undef _mm512_add_pd
#define _mm512_add_pd emu_mm512_add_pd
#undef _mm512_mul_pd
#define _mm512_mul_pd emu_mm512_mul_pd
#undef _mm512_add_epi32
#define _mm512_add_epi32 emu_mm512_add_epi32
#undef _mm512_sub_epi32
#define _mm512_sub_epi32 emu_mm512_sub_epi32
#undef _mm512_sub_epi16
#define _mm512_sub_epi16 emu_mm512_sub_epi16
#undef _mm512_mullo_epi32
#define _mm512_mullo_epi32 emu_mm512_mullo_epi32
#undef _mm512_mullo_epi16
#define _mm512_mullo_epi16 emu_mm512_mullo_epi16
#undef _mm512_and_si512
#define _mm512_and_si512 emu_mm512_and_si512
#undef _mm512_or_si512
#define _mm512_or_si512 emu_mm512_or_si512
#undef _mm512_xor_si512
#define _mm512_xor_si512 emu_mm512_xor_si512
#undef _mm512_rolv_epi64
#define _mm512_rolv_epi64 emu_mm512_rolv_epi64
#undef _mm512_srlv_epi64
#define _mm512_srlv_epi64 emu_mm512_srlv_epi64
#undef _mm512_srli_epi16
#define _mm512_srli_epi16 emu_mm512_srli_epi16
#undef _mm512_slli_epi16
#define _mm512_slli_epi16 emu_mm512_slli_epi16
#undef _mm512_srli_epi32
#define _mm512_srli_epi32 emu_mm512_srli_epi32
#undef _mm512_slli_epi32
#define _mm512_slli_epi32 emu_mm512_slli_epi32
#undef _mm512_srai_epi32
#define _mm512_srai_epi32 emu_mm512_srai_epi32
#undef _mm512_madd_epi16
#define _mm512_madd_epi16 emu_mm512_madd_epi16
#undef _mm512_dpbusd_epi32
#define _mm512_dpbusd_epi32 emu_mm512_dpbusd_epi32
#undef _mm256_dpbusd_epi32
#define _mm256_dpbusd_epi32 emu_mm256_dpbusd_epi32
#undef _mm512_dpwssd_epi32
#define _mm512_dpwssd_epi32 emu_mm512_dpwssd_epi32
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps emu_mm512_dpbf16_ps
#undef _mm512_ternarylogic_epi32
#define _mm512_ternarylogic_epi32 emu_mm512_ternarylogic_epi32
#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps emu_mm512_cvtepi32_ps
#undef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32 emu_mm512_cvtps_epi32
#undef _mm512_cvtps_pd
#define _mm512_cvtps_pd emu_mm512_cvtps_pd
#undef _mm512_cvtph_ps
#define _mm512_cvtph_ps emu_mm512_cvtph_ps
#undef _mm512_cvtps_ph
#define _mm512_cvtps_ph emu_mm512_cvtps_ph
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32 emu_mm512_cvtepu16_epi32
#undef _mm512_cvtepi16_epi32
#define _mm512_cvtepi16_epi32 emu_mm512_cvtepi16_epi32
#undef _mm512_cvtepi8_epi32
#define _mm512_cvtepi8_epi32 emu_mm512_cvtepi8_epi32
#undef _mm512_cvtepi8_epi16
#define _mm512_cvtepi8_epi16 emu_mm512_cvtepi8_epi16
#undef _mm512_cvtepu32_epi64
#define _mm512_cvtepu32_epi64 emu_mm512_cvtepu32_epi64
#undef _mm512_cvtepi32_epi8
#define _mm512_cvtepi32_epi8 emu_mm512_cvtepi32_epi8
#undef _mm512_cvtepi32_epi16
#define _mm512_cvtepi32_epi16 emu_mm512_cvtepi32_epi16
#undef _mm512_cvtepi16_epi8
#define _mm512_cvtepi16_epi8 emu_mm512_cvtepi16_epi8
#undef _mm512_packs_epi32
#define _mm512_packs_epi32 emu_mm512_packs_epi32
#undef _mm512_cmp_ps_mask
#define _mm512_cmp_ps_mask emu_mm512_cmp_ps_mask
#undef _mm512_cmpgt_epu32_mask
#define _mm512_cmpgt_epu32_mask emu_mm512_cmpgt_epu32_mask
#undef _mm512_cmple_epi32_mask
#define _mm512_cmple_epi32_mask emu_mm512_cmple_epi32_mask
#undef _mm512_cmpge_epi32_mask
#define _mm512_cmpge_epi32_mask emu_mm512_cmpge_epi32_mask
#undef _mm512_test_epi8_mask
#define _mm512_test_epi8_mask emu_mm512_test_epi8_mask
#undef _mm512_movepi8_mask
#define _mm512_movepi8_mask emu_mm512_movepi8_mask
#undef _mm512_movm_epi8
#define _mm512_movm_epi8 emu_mm512_movm_epi8
#undef _mm_movm_epi8
#define _mm_movm_epi8 emu_mm_movm_epi8
#undef _cvtu64_mask64
#define _cvtu64_mask64 emu_cvtu64_mask64
#undef _mm512_mask_add_epi8
#define _mm512_mask_add_epi8 emu_mm512_mask_add_epi8
#undef _mm512_mask_mov_ps
#define _mm512_mask_mov_ps emu_mm512_mask_mov_ps
#undef _mm512_maskz_mov_ps
#define _mm512_maskz_mov_ps emu_mm512_maskz_mov_ps
#undef _mm512_mask_mov_epi32
#define _mm512_mask_mov_epi32 emu_mm512_mask_mov_epi32
#undef _mm512_mask_blend_epi32
#define _mm512_mask_blend_epi32 emu_mm512_mask_blend_epi32
#undef _mm512_mask_set1_epi32
#define _mm512_mask_set1_epi32 emu_mm512_mask_set1_epi32
#undef _mm512_mask_set1_epi16
#define _mm512_mask_set1_epi16 emu_mm512_mask_set1_epi16
#undef _mm256_mask_mov_epi16
#define _mm256_mask_mov_epi16 emu_mm256_mask_mov_epi16
#undef _mm512_mask_broadcastss_ps
#define _mm512_mask_broadcastss_ps emu_mm512_mask_broadcastss_ps
#undef _mm512_shuffle_epi8
#define _mm512_shuffle_epi8 emu_mm512_shuffle_epi8
#undef _mm512_shuffle_epi32
#define _mm512_shuffle_epi32 emu_mm512_shuffle_epi32
#undef _mm512_permute_ps
#define _mm512_permute_ps emu_mm512_permute_ps
#undef _mm512_shuffle_ps
#define _mm512_shuffle_ps emu_mm512_shuffle_ps
#undef _mm512_shuffle_i64x2
#define _mm512_shuffle_i64x2 emu_mm512_shuffle_i64x2
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4 emu_mm512_shuffle_f32x4
#undef _mm512_permutexvar_epi32
#define _mm512_permutexvar_epi32 emu_mm512_permutexvar_epi32
#undef _mm512_permutexvar_ps
#define _mm512_permutexvar_ps emu_mm512_permutexvar_ps
#undef _mm512_permutex2var_ps
#define _mm512_permutex2var_ps emu_mm512_permutex2var_ps
#undef _mm512_unpacklo_epi8
#define _mm512_unpacklo_epi8 emu_mm512_unpacklo_epi8
#undef _mm512_unpackhi_epi8
#define _mm512_unpackhi_epi8 emu_mm512_unpackhi_epi8
#undef _mm512_unpacklo_epi32
#define _mm512_unpacklo_epi32 emu_mm512_unpacklo_epi32
#undef _mm512_unpackhi_epi32
#define _mm512_unpackhi_epi32 emu_mm512_unpackhi_epi32
#undef _mm512_unpacklo_epi64
#define _mm512_unpacklo_epi64 emu_mm512_unpacklo_epi64
#undef _mm512_unpackhi_epi64
#define _mm512_unpackhi_epi64 emu_mm512_unpackhi_epi64
#undef _mm512_unpacklo_ps
#define _mm512_unpacklo_ps emu_mm512_unpacklo_ps
#undef _mm512_unpackhi_ps
#define _mm512_unpackhi_ps emu_mm512_unpackhi_ps
#undef _mm512_broadcast_i32x4
#define _mm512_broadcast_i32x4 emu_mm512_broadcast_i32x4
#undef _mm512_mask_broadcast_i32x4
#define _mm512_mask_broadcast_i32x4 emu_mm512_mask_broadcast_i32x4
#undef _mm512_broadcast_i64x4
#define _mm512_broadcast_i64x4 emu_mm512_broadcast_i64x4
#undef _mm512_inserti64x4
#define _mm512_inserti64x4 emu_mm512_inserti64x4
#undef _mm512_inserti32x4
#define _mm512_inserti32x4 emu_mm512_inserti32x4
#undef _mm512_extracti64x4_epi64
#define _mm512_extracti64x4_epi64 emu_mm512_extracti64x4_epi64
#undef _mm512_extractf64x4_pd
#define _mm512_extractf64x4_pd emu_mm512_extractf64x4_pd
#undef _mm512_extractf32x8_ps
#define _mm512_extractf32x8_ps emu_mm512_extractf32x8_ps
#undef _mm512_castsi256_si512
#define _mm512_castsi256_si512 emu_mm512_castsi256_si512
#undef _mm512_castsi128_si512
#define _mm512_castsi128_si512 emu_mm512_castsi128_si512
#undef _mm512_castps256_ps512
#define _mm512_castps256_ps512 emu_mm512_castps256_ps512
#undef _mm512_zextps128_ps512
#define _mm512_zextps128_ps512 emu_mm512_zextps128_ps512
#undef _mm512_castsi512_si256
#define _mm512_castsi512_si256 emu_mm512_castsi512_si256
#undef _mm512_castps512_ps256
#define _mm512_castps512_ps256 emu_mm512_castps512_ps256
#undef _mm512_castpd512_pd256
#define _mm512_castpd512_pd256 emu_mm512_castpd512_pd256
#undef _mm512_castsi512_ps
#define _mm512_castsi512_ps emu_mm512_castsi512_ps
#undef _mm512_castps_si512
#define _mm512_castps_si512 emu_mm512_castps_si512
#undef _mm512_castps_pd
#define _mm512_castps_pd emu_mm512_castps_pd
#undef _mm512_cvtss_f32
#define _mm512_cvtss_f32 emu_mm512_cvtss_f32
#undef _mm512_reduce_add_ps
#define _mm512_reduce_add_ps emu_mm512_reduce_add_ps
#undef _mm512_reduce_max_ps
#define _mm512_reduce_max_ps emu_mm512_reduce_max_ps
#undef _mm512_reduce_add_epi32
#define _mm512_reduce_add_epi32 emu_mm512_reduce_add_epi32

#undef EMU
#endif
