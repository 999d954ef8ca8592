/* buf.h - a growable byte buffer: the server's response bodies built piece by piece and a
 * connection's bytes in and out (consumed from the front as the socket takes them), the
 * CLI's answer and thought as they are generated (session.h). The
 * CLI's twin of the engine's strbuf (src/strbuf.h is not part of the API), plus the front
 * consumption a socket queue needs. Allocation failures exit (xrealloc), so calls cannot fail;
 * the bytes are always NUL-terminated after the first write. */
#ifndef GEMMA_CLI_BUF_H
#define GEMMA_CLI_BUF_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    char *p;          /* NULL until something is written */
    size_t len, cap;
} buf;

static inline void buf_reserve(buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static inline void buf_put(buf *b, const void *s, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static inline void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

#if defined(__GNUC__)
static inline void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static inline void buf_printf(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Drop the first n bytes (what a socket has taken). */
static inline void buf_consume(buf *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->p, b->p + n, b->len - n);
        b->len -= n;
    }
    if (b->p) b->p[b->len] = 0;
}

static inline void buf_clear(buf *b) { buf_consume(b, b->len); }

static inline void buf_free(buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#endif
