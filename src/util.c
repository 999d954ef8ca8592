/* util.c - error strings, half-float conversion, allocation, time. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int set_err(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, GEMMA_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* f16 -> f32, exact for every bit pattern (subnormals included, doc/formats.md#f32-f16-bf16). */
float fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: value = man * 2^-24, renormalise */
            int e = -1;
            do { man <<= 1; e++; } while ((man & 0x400) == 0);
            man &= 0x3ff;
            bits = sign | ((uint32_t)(112 - e) << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* f32 -> f16, round to nearest even; overflow to inf; NaN to quiet NaN. */
uint16_t fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return (uint16_t)(sign | 0x7e00); /* NaN */
    if (ax >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (ax < 0x38800000) {                                  /* below smallest normal half */
        /* subnormal half: value / 2^-24, rounded to nearest even */
        if (ax < 0x33000000) return (uint16_t)sign;         /* < 2^-25: rounds to zero */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;                           /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t e = (ax >> 23) - 112;
    uint32_t m = ax & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

uint16_t fp32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

void *alloc_lines(size_t n) {
    /* calloc, not aligned_alloc + memset: large blocks then stay untouched (and unbacked)
     * until used. The block's own address is kept just below the aligned one. */
    const size_t slack = 64 + sizeof(uintptr_t);
    if (n > SIZE_MAX - slack) return NULL;
    uint8_t *block = calloc(1, n + slack);
    if (!block) return NULL;
    uintptr_t at = (uintptr_t)block;
    uint8_t *p = block + ((at + sizeof at + 63) / 64 * 64 - at);
    memcpy(p - sizeof at, &at, sizeof at);
    return p;
}
void free_lines(void *p) {
    if (!p) return;
    uintptr_t at;
    memcpy(&at, (uint8_t *)p - sizeof at, sizeof at);
    free((void *)at);
}
void *xalloc_lines(size_t n) {
    void *p = alloc_lines(n);
    if (!p) { fprintf(stderr, "gemma: out of memory allocating %zu bytes\n", n); exit(1); }
    return p;
}

void *setup_alloc_lines(setup_alloc *a, size_t n, size_t *total, const char *what) {
    if (a->failed) return NULL;
    void *p = alloc_lines(n);
    if (!p) {
        set_err(a->err, "cannot allocate %zu MiB for the %s", n >> 20, what);
        a->failed = true;
    }
    *total += n;
    return p;
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "gemma: out of memory allocating %zu bytes\n", n); exit(1); }
    return p;
}
void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) { fprintf(stderr, "gemma: out of memory allocating %zu x %zu bytes\n", n, size); exit(1); }
    return p;
}
void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) { fprintf(stderr, "gemma: out of memory allocating %zu bytes\n", n); exit(1); }
    return q;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

char *printable_str(char *dst, size_t cap, const char *s, size_t len, size_t max) {
    size_t n = 0;
    if (len > max) len = max;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cap) dst[n < cap ? n : cap - 1] = 0;
    return dst;
}
