/* strbuf.h - a growable byte string for text that is built piece by piece (grammars, JSON,
 * chat markup). Always NUL-terminated after the first write; allocation failures exit
 * (xrealloc), so the calls cannot fail. */
#ifndef GEMMA_STRBUF_H
#define GEMMA_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p;          /* NULL until something is written */
    size_t n, cap;    /* bytes used (NUL excluded), bytes allocated */
} strbuf;

void sb_put(strbuf *b, const char *s, size_t n);
void sb_puts(strbuf *b, const char *s);
void sb_putc(strbuf *b, char c);
void sb_printf(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A UTF-8 encoding of code point cp (<= 0x10FFFF). */
void sb_put_utf8(strbuf *b, unsigned cp);
/* The text as a malloc'd NUL-terminated string (an empty one if nothing was written); the
 * buffer is left empty. */
char *sb_take(strbuf *b);
void sb_free(strbuf *b);

#endif
