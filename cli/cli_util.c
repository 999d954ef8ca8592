/* cli_util.c - helpers shared by the command-line subcommands: errors and exit codes,
 * stdout streaming, argument parsing, reading prompts, writing float files, threads. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


bool log_enabled = true;
const char *cli_command;

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

_Noreturn void die_usage(const char *fmt, ...) {
    va_list ap;
    fputs("gemma: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cli_command) fprintf(stderr, " (see 'gemma %s --help')\n", cli_command);
    else fputs(" (see 'gemma --help')\n", stderr);
    exit(EXIT_USAGE);
}

void warn_threads(const char *flag, int n) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0 && n > cpus)
        logf_("gemma: warning: %s %d is more threads than this machine's %ld CPUs; "
              "they will take turns and run slower\n", flag, n, cpus);
}


/* ---------------------------------------------------------------------------------------
 * Output: stdout gets generated text only; the generation loop flushes it per token. A
 * closed pipe ends the program quietly with status 0 (`gemma ... | head -c 10`), or, once
 * generation has called out_defer_close(), stops it at the next token. */

static bool defer_close, closed;

void out_defer_close(void) { defer_close = true; }
bool out_closed(void) { return closed; }

static void out_failed(void) {
    if (errno != EPIPE) die(EXIT_IO, "writing to stdout failed: %s", strerror(errno));
    if (!defer_close) exit(0);
    closed = true;
}

/* The text goes through a buffer of its own and write(2), not through stdio: Ctrl-C and
 * SIGTERM are caught without SA_RESTART (a blocked read must return), so a write to a slow
 * terminal or a full pipe can return EINTR, and glibc's stdio then drops its buffer
 * (measured: 1 MiB through fwrite/fflush under signals lost a quarter of it) while the
 * program went on; before that, it exited with status 4, "Interrupted system call". The
 * handler only sets a flag, which the generation loop reads at the next token, so an
 * interrupted write simply goes on. What stdio holds for stdout (printf) is flushed before
 * this buffer starts filling, so the two keep their order. */
static char obuf[1 << 16];
static size_t olen;

/* All n bytes to stdout, an interrupted write going on; false (errno set) on an error. */
static bool write_raw(const char *p, size_t n) {
    while (n) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w == 0 || errno != EINTR) {
            if (w == 0) errno = EIO;
            return false;
        }
    }
    return true;
}

static void write_all(const char *p, size_t n) {
    if (!closed && !write_raw(p, n)) out_failed();
}

/* printf's text, if any. An interrupted flush loses it (glibc drops the buffer); the text
 * that matters, the answer, goes through obuf. */
static void stdio_flush(void) {
    if (fflush(stdout) != 0 && !closed) {
        if (errno == EINTR) clearerr(stdout);
        else out_failed();
    }
}

/* At exit: what is left, errors ignored (exit() must not be called again from here). */
static void out_at_exit(void) {
    if (!closed && olen) (void)write_raw(obuf, olen);
    olen = 0;
}

void out_write(const char *buf, size_t len) {
    static bool registered;
    if (closed || !len) return;
    if (!registered) registered = atexit(out_at_exit) == 0;
    if (olen == 0) stdio_flush(); /* printf's text first */
    if (olen + len > sizeof obuf) {
        write_all(obuf, olen);
        olen = 0;
        if (len > sizeof obuf) {
            write_all(buf, len);
            return;
        }
    }
    memcpy(obuf + olen, buf, len);
    olen += len;
}

void out_flush(void) {
    if (olen) {
        size_t n = olen;
        olen = 0;
        write_all(obuf, n);
    }
    if (!closed) stdio_flush();
}

/* Streams token bytes without ever printing half a UTF-8 character: a trailing incomplete
 * sequence is held back until the next token completes it (byte-fallback tokens). */

/* How the bytes s[0..n) begin (Unicode's well-formed UTF-8, Table 3-7): returns the length
 * of a complete valid character, 0 if the bytes are a valid but incomplete start, or -k if
 * the first k bytes are a maximal ill-formed subpart (to be shown as one U+FFFD). */
size_t partial_prefix(char *const *strs, int m, const char *s, size_t n) {
    size_t best = 0;
    for (int i = 0; i < m; i++) {
        size_t len = strlen(strs[i]);
        for (size_t k = len - 1; k > best; k--)
            if (k <= n && !memcmp(s + n - k, strs[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

bool use_color(int mode, int fd) {
    if (mode >= 0) return mode == 1;
    const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
    return isatty(fd) && !(no && *no) && !(term && !strcmp(term, "dumb"));
}

int utf8_check(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;  /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;  /* <= U+10FFFF */
    } else {
        return -1;                 /* 80..C1, F5..FF never start a character */
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0;
        unsigned b = s[i], l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) return -i;
    }
    return len;
}

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Output is always well-formed UTF-8: complete characters are written as they come, an
 * incomplete one waits for the next token (byte-fallback tokens spell characters one byte
 * at a time), and ill-formed bytes become U+FFFD. */
void stream_put(utf8_stream *s, const char *buf, size_t len) {
    for (size_t i = 0; i < len; i++) {
        s->pend[s->n++] = buf[i];
        while (s->n > 0) {
            int r = utf8_check((const unsigned char *)s->pend, (size_t)s->n);
            if (r == 0) break;                       /* wait for more bytes */
            int used = r > 0 ? r : -r;
            if (r > 0) out_write(s->pend, (size_t)r);
            else out_write(replacement, 3);
            memmove(s->pend, s->pend + used, (size_t)(s->n - used));
            s->n -= used;
        }
    }
}

void stream_finish(utf8_stream *s) {
    if (s->n > 0) out_write(replacement, 3);      /* a character cut off at the end */
    s->n = 0;
    out_flush();
}

char *utf8_sanitize(const char *in, size_t n, size_t *out_len) {
    char *out = xmalloc(3 * n + 1);
    size_t o = 0, i = 0;
    while (i < n) {
        int r = utf8_check((const unsigned char *)in + i, n - i);
        if (r > 0) {
            memcpy(out + o, in + i, (size_t)r);
            o += (size_t)r;
            i += (size_t)r;
        } else {
            memcpy(out + o, replacement, 3);
            o += 3;
            i += r < 0 ? (size_t)-r : n - i;      /* 0: incomplete at the very end */
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
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

gemma_kv_type parse_kv_type(const char *flag, const char *s) {
    int t = gemma_kv_type_parse(s);
    if (t < 0) die_usage("invalid value '%s' for %s (f32, f16, bf16 or q8_0)", s, flag);
    return (gemma_kv_type)t;
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
bool sampling_arg(sampling_args *s, int id, const char *f, const char *v) {
    gemma_sampler_params *sp = &s->sp;
    switch (id) {
    case SAMPLING_TEMP: sp->temp = parse_float(f, v, -1e9, 1e9); s->set_temp = true; break;
    case SAMPLING_TOP_K: sp->top_k = (int)parse_int(f, v, 0, INT_MAX); s->set_top_k = true; break;
    case SAMPLING_TOP_P: sp->top_p = parse_float(f, v, 0, 1); s->set_top_p = true; break;
    case SAMPLING_MIN_P: sp->min_p = parse_float(f, v, 0, 1); s->set_min_p = true; break;
    case SAMPLING_REPEAT_PENALTY: sp->repeat_penalty = parse_float(f, v, 1e-6, 1e6); break;
    case SAMPLING_REPEAT_LAST_N: sp->repeat_last_n = (int)parse_int(f, v, -1, INT_MAX); break;
    case SAMPLING_SEED: { /* llama.cpp: -1 and 4294967295 (its LLAMA_DEFAULT_SEED) mean random */
        long long seed = parse_int(f, v, -1, (long long)UINT32_MAX);
        sp->seed = (seed < 0 || seed == (long long)UINT32_MAX) ? GEMMA_SEED_RANDOM : (uint64_t)seed;
        break;
    }
    default: return false;
    }
    return true;
}

void sampling_file_defaults(sampling_args *s, const gemma_model_info *info) {
    if (info->has_temp && !s->set_temp) s->sp.temp = info->temp;
    if (info->has_top_k && !s->set_top_k) s->sp.top_k = info->top_k;
    if (info->has_top_p && !s->set_top_p) s->sp.top_p = info->top_p;
    if (info->has_min_p && !s->set_min_p) s->sp.min_p = info->min_p;
}

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

char *read_named(const char *path, const char *what, size_t *len) {
    if (strcmp(path, "-") == 0) {
        char *b = read_all(stdin, len);
        if (!b) die(EXIT_IO, "reading stdin failed: %s", strerror(errno));
        return b;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) die(EXIT_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    char *b = read_all(fp, len);
    int e = errno;
    fclose(fp);
    if (!b) die(EXIT_IO, "reading %s '%s' failed: %s", what, path, strerror(e));
    return b;
}

char *read_path(const char *path, size_t *len) { return read_named(path, "file", len); }

char *unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r != '\\' || !r[1]) { *w++ = *r; continue; }
        char c = r[1], out = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r'
                             : c == '\\' || c == '"' || c == '\'' ? c : 0;
        if (out) { *w++ = out; r++; }
        else *w++ = *r;                /* unknown escape: the backslash stays, as written */
    }
    *w = 0;
    return s;
}

gemma_model *load_or_die(const char *path, bool vocab_only) {
    char err[GEMMA_ERR_LEN];
    if (!path) die_usage("no model given: use -m FILE.gguf");
    gemma_model *m = vocab_only ? gemma_vocab_load(path, err) : gemma_model_load(path, err);
    if (!m) die(EXIT_MODEL, "%s", err);
    return m;
}

gemma_model *load_model_or_die(const char *path, const gemma_model_params *p) {
    char err[GEMMA_ERR_LEN];
    if (!path) die_usage("no model given: use -m FILE.gguf");
    gemma_model *m = gemma_model_load_params(path, p, err);
    if (!m) die(EXIT_MODEL, "%s", err);
    return m;
}

void describe_repack(const gemma_model_info *info, char *buf, size_t cap) {
    if (!info->n_repacked) {
        snprintf(buf, cap, "weights in the file's layout (not repacked)");
        return;
    }
    snprintf(buf, cap, "repacked %d weight matrices (%s), %.1f MiB, %.1f MiB of it in 2 MiB pages, in %.0f ms",
             info->n_repacked, info->repacked_layouts, (double)info->repacked_bytes / 1048576.0,
             (double)info->repacked_huge_bytes / 1048576.0, info->repack_seconds * 1e3);
}

void write_floats(const char *path, const float *v, size_t n) {
    FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!fp) die(EXIT_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
    if (fwrite(v, sizeof(float), n, fp) != n || (fp == stdout ? fflush(fp) : fclose(fp)) != 0)
        die(EXIT_IO, "writing '%s' failed: %s", path, strerror(errno));
}


/* ---------------------------------------------------------------------------------------
 * Threads for the two CLI loops that want them, bench's bandwidth measurement and
 * quantize's row conversion (the engine's pool is internal). Starting threads per call costs
 * tens of microseconds, nothing beside the work each call hands out. */

typedef struct {
    void (*fn)(void *ctx, int ith, int nth);
    void *ctx;
    int ith, nth;
} thread_arg;

static void *thread_main(void *p) {
    const thread_arg *a = p;
    a->fn(a->ctx, a->ith, a->nth);
    return NULL;
}

void run_threads(int n, void (*fn)(void *ctx, int ith, int nth), void *ctx) {
    if (n < 1) n = 1;
    thread_arg *args = xmalloc((size_t)n * sizeof *args);
    pthread_t *tids = xmalloc((size_t)n * sizeof *tids);
    bool *started = xcalloc((size_t)n, sizeof *started);
    for (int i = 1; i < n; i++) {
        args[i] = (thread_arg){fn, ctx, i, n};
        started[i] = pthread_create(&tids[i], NULL, thread_main, &args[i]) == 0;
    }
    fn(ctx, 0, n);
    for (int i = 1; i < n; i++)
        if (!started[i]) fn(ctx, i, n);      /* no thread for this share: do it here */
    for (int i = 1; i < n; i++)
        if (started[i]) pthread_join(tids[i], NULL);
    free(started);
    free(tids);
    free(args);
}
