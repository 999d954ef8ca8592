/* cli_util.c - helpers shared by the command-line subcommands: errors and exit codes,
 * stdout streaming, argument parsing, reading prompts, writing float files. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


bool log_enabled = true;

void logf_(const char *fmt, ...) {
    if (!log_enabled) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

_Noreturn void die(int code, const char *fmt, ...) {
    va_list ap;
    fputs("gemma: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}


/* ---------------------------------------------------------------------------------------
 * Output: stdout gets generated text only, flushed per token. A closed pipe ends the
 * program quietly with status 0 (`gemma ... | head -c 10`). */

void out_write(const char *buf, size_t len) {
    if (len && fwrite(buf, 1, len, stdout) != len) {
        if (errno == EPIPE) exit(0);
        die(EXIT_IO, "writing to stdout failed: %s", strerror(errno));
    }
}

void out_flush(void) {
    if (fflush(stdout) != 0) {
        if (errno == EPIPE) exit(0);
        die(EXIT_IO, "writing to stdout failed: %s", strerror(errno));
    }
}

/* Streams token bytes without ever printing half a UTF-8 character: a trailing incomplete
 * sequence is held back until the next token completes it (byte-fallback tokens). */

int utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1; /* stray continuation or invalid lead byte: pass through */
}

void stream_put(utf8_stream *s, const char *buf, size_t len) {
    for (size_t i = 0; i < len; i++) {
        s->pend[s->n++] = buf[i];
        int need = utf8_seq_len((unsigned char)s->pend[0]);
        /* a continuation byte is required after the lead byte; anything else is invalid */
        if (s->n > 1 && ((unsigned char)s->pend[s->n - 1] & 0xC0) != 0x80) {
            char last = s->pend[--s->n];
            out_write(s->pend, (size_t)s->n); /* emit the broken prefix as is */
            s->n = 0;
            s->pend[s->n++] = last;
            need = utf8_seq_len((unsigned char)last);
        }
        if (s->n >= need) {
            out_write(s->pend, (size_t)s->n);
            s->n = 0;
        }
    }
}

void stream_finish(utf8_stream *s) {
    out_write(s->pend, (size_t)s->n);
    s->n = 0;
    out_flush();
}

/* ---------------------------------------------------------------------------------------
 * Argument parsing helpers */

const char *arg_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die_usage("option '%s' needs a value", argv[*i]);
    return argv[++*i];
}

long long parse_int(const char *flag, const char *s, long long lo, long long hi) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die_usage("invalid value '%s' for %s (expected an integer in [%lld, %lld])", s, flag, lo, hi);
    return v;
}

float parse_float(const char *flag, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        die_usage("invalid value '%s' for %s (expected a number in [%g, %g])", s, flag, lo, hi);
    return (float)v;
}

/* Read a whole stream; returns a malloc'd, NUL-terminated buffer (length in *len). */
char *read_all(FILE *fp, size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) die(EXIT_RUNTIME, "out of memory");
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) die(EXIT_RUNTIME, "out of memory");
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, fp);
        if (r == 0) break;
        n += r;
    }
    if (ferror(fp)) { free(buf); return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *read_path(const char *path, size_t *len) {
    if (strcmp(path, "-") == 0) {
        char *b = read_all(stdin, len);
        if (!b) die(EXIT_IO, "reading stdin failed: %s", strerror(errno));
        return b;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) die(EXIT_IO, "cannot open prompt file '%s': %s", path, strerror(errno));
    char *b = read_all(fp, len);
    int e = errno;
    fclose(fp);
    if (!b) die(EXIT_IO, "reading '%s' failed: %s", path, strerror(e));
    return b;
}

gemma_model *load_or_die(const char *path, bool vocab_only) {
    char err[GEMMA_ERR_LEN];
    if (!path) die_usage("no model given: use -m FILE.gguf");
    gemma_model *m = vocab_only ? gemma_vocab_load(path, err) : gemma_model_load(path, err);
    if (!m) die(EXIT_MODEL, "%s", err);
    return m;
}

void write_floats(const char *path, const float *v, size_t n) {
    FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!fp) die(EXIT_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
    if (fwrite(v, sizeof(float), n, fp) != n || (fp == stdout ? fflush(fp) : fclose(fp)) != 0)
        die(EXIT_IO, "writing '%s' failed: %s", path, strerror(errno));
}

