/* util.h - small helpers shared by every module: error strings, half floats, safe math. */
#ifndef GEMMA_UTIL_H
#define GEMMA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gemma.h" /* GEMMA_ERR_LEN */

/* Every fallible function writes a one-line message into a caller-supplied buffer of
 * GEMMA_ERR_LEN bytes (the public API's size) and returns non-zero. set_err: printf into
 * err (may be NULL); always returns -1 so callers can `return set_err(...)`. */
int set_err(char *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Copy at most `max` bytes of s (len bytes, not NUL-terminated, from a file) into dst
 * (cap bytes, NUL-terminated), with control characters shown as '?' so that a message
 * quoting it stays one line. Returns dst. */
char *printable_str(char *dst, size_t cap, const char *s, size_t len, size_t max);

/* ---- IEEE half and bfloat16 (exact decode, round-to-nearest-even encode) ---- */
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
static inline float bf16_to_fp32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
uint16_t fp32_to_bf16(float f);

/* ---- unaligned little-endian loads (host is little-endian: x86-64, arm64) ---- */
static inline uint16_t rd_u16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t rd_u32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rd_u64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* ---- overflow-checked size arithmetic: return false on overflow ---- */
static inline bool mul_ok(uint64_t a, uint64_t b, uint64_t *r) {
    if (a != 0 && b > UINT64_MAX / a) return false;
    *r = a * b;
    return true;
}
static inline bool add_ok(uint64_t a, uint64_t b, uint64_t *r) {
    if (b > UINT64_MAX - a) return false;
    *r = a + b;
    return true;
}

/* malloc/calloc that abort with a message on failure (sizes are checked by callers). */
/* n zeroed bytes at a 64-byte aligned address, or NULL when out of memory; release with
 * free_lines(). For buffers that kernels stream whole cache lines of: with malloc's 16-byte
 * alignment every 64-byte row of an AMX tile or of a matmul's output straddles two lines
 * (measured: 10-25 % of AMX prefill). */
void *alloc_lines(size_t n);
void *xalloc_lines(size_t n); /* the same, exiting with a message when out of memory */
void free_lines(void *p);
/* The allocations of a set-up that runs to its end (a context's buffers): the first failure
 * writes its message ("cannot allocate N MiB for the KV cache") into err and later requests
 * get NULL, so the caller checks `failed` once and frees whatever it got. Each request adds
 * n to *total (the memory report). */
typedef struct {
    char *err;
    bool failed;
} setup_alloc;
void *setup_alloc_lines(setup_alloc *a, size_t n, size_t *total, const char *what);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Monotonic time in seconds. */
double now_seconds(void);

#endif
