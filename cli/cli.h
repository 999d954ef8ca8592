/* cli.h - the pieces of the `gemma` command line: subcommands (one file each) and the
 * helpers they share. Every subcommand takes the whole argv (argv[1] is its name) and
 * returns the process exit code.
 *
 * Exit codes: 0 success (also when the reader of stdout goes away), 1 runtime error,
 * 2 usage error, 3 model file error, 4 I/O error. */
#ifndef GEMMA_CLI_H
#define GEMMA_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemma.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_MODEL = 3, EXIT_IO = 4 };

/* subcommands */
int cmd_generate(int argc, char **argv);    /* generate.c: gemma -m MODEL -p TEXT */
void print_usage(void);                     /* generate.c: gemma --help */
int cmd_logits(int argc, char **argv);      /* cli_tools.c */
int cmd_tokenize(int argc, char **argv);    /* cli_tools.c */
int cmd_dequant(int argc, char **argv);     /* cli_tools.c */
int cmd_bench(int argc, char **argv);       /* bench.c */
int cmd_info(int argc, char **argv);        /* info.c */
int cmd_quantize(int argc, char **argv);    /* quantize.c */
int cmd_perplexity(int argc, char **argv);  /* perplexity.c */
int cmd_grammar(int argc, char **argv);     /* grammar.c */
int cmd_serve(int argc, char **argv);       /* serve.c: the HTTP server */
int run_command(int argc, char **argv);     /* commands.c: the subcommand argv[1] names */

/* ---- messages and exits ---- */
extern bool log_enabled;                    /* --log-disable clears it */
/* The subcommand running ("bench"; NULL: generation), named by usage errors. */
extern const char *cli_command;
void logf_(const char *fmt, ...);           /* stderr, unless logging is disabled */
_Noreturn void die(int code, const char *fmt, ...); /* "gemma: error: ..." and exit(code) */
/* "gemma: error: ... (see 'gemma SUB --help')" and exit(EXIT_USAGE). */
_Noreturn void die_usage(const char *fmt, ...);
/* A warning on stderr when n threads are more than the machine's CPUs (flag: "-t"). */
void warn_threads(const char *flag, int n);

/* ---- stdout: generated text only ----
 * A closed pipe (EPIPE) exits quietly with status 0, or, after out_defer_close(), drops
 * further output and makes out_closed() true, so generation can stop at the next token and
 * still report on stderr. */
void out_write(const char *buf, size_t len);
void out_flush(void);
void out_defer_close(void);
bool out_closed(void);
/* Never print half a UTF-8 character nor an ill-formed one: an incomplete trailing sequence
 * is held back, ill-formed bytes are shown as U+FFFD. */
typedef struct {
    char pend[8];
    int n;
} utf8_stream;
int utf8_check(const unsigned char *s, size_t n);
void stream_put(utf8_stream *s, const char *buf, size_t len);   /* ill-formed bytes -> U+FFFD */
void stream_finish(utf8_stream *s);
/* A malloc'd well-formed copy of in[0..n) (ill-formed subparts -> U+FFFD), NUL-terminated. */
char *utf8_sanitize(const char *in, size_t n, size_t *out_len);
/* The length of the longest suffix of s[0..n) that is a proper prefix of one of strs[0..m)
 * (non-empty): text held back while it may still become a stop string or reverse prompt. */
size_t partial_prefix(char *const *strs, int m, const char *s, size_t n);
/* Colours for a stream: --color on/off, or auto = a terminal, NO_COLOR unset and TERM not
 * "dumb" (no-color.org). */
bool use_color(int mode, int fd);

/* ---- arguments and files ---- */
const char *arg_value(int argc, char **argv, int *i);     /* the value after argv[*i] */
long long parse_int(const char *flag, const char *s, long long lo, long long hi);
float parse_float(const char *flag, const char *s, double lo, double hi);
/* A KV cache type by llama.cpp's name (f32, f16, bf16, q8_0); a usage error listing them. */
gemma_kv_type parse_kv_type(const char *flag, const char *s);
/* "-ctk|--cache-type-k" and "-ctv|--cache-type-v" help text */
#define KV_TYPE_HELP(WHAT, DEF) "KV cache type of the " WHAT ": f32, f16, bf16, q8_0 (default " DEF ")"
char *read_all(FILE *fp, size_t *len);                    /* NULL on read error */
char *read_path(const char *path, size_t *len);           /* "-" = stdin; dies on error */
/* The same, naming the file as `what` in errors ("system prompt file"). */
char *read_named(const char *path, const char *what, size_t *len);
/* llama.cpp's escapes in place: \n \t \r \\ \" \' (others stay as written); returns s. */
char *unescape(char *s);
gemma_model *load_or_die(const char *path, bool vocab_only);
gemma_model *load_model_or_die(const char *path, const gemma_model_params *p);
/* "repacked 183 weight matrices (Q4_0_R16 x 183), 536.3 MiB, ... in 2 MiB pages, in 120 ms" */
void describe_repack(const gemma_model_info *info, char *buf, size_t cap);
void write_floats(const char *path, const float *v, size_t n); /* "-" = stdout */

/* ---- sampling flags, as generation and the server both take them ----
 * Their option ids (options.h tables; above any table's own ids) and what they set. */
enum { SAMPLING_TEMP = 1000, SAMPLING_TOP_K, SAMPLING_TOP_P, SAMPLING_MIN_P, SAMPLING_REPEAT_PENALTY,
       SAMPLING_REPEAT_LAST_N, SAMPLING_SEED };
typedef struct {
    gemma_sampler_params sp;
    bool set_temp, set_top_k, set_top_p, set_min_p;   /* given on the command line */
} sampling_args;
/* Option id's value v (flag f names it in errors) into s: true if id is a sampling flag. */
bool sampling_arg(sampling_args *s, int id, const char *f, const char *v);
/* The model file's recommended temp, top-k, top-p and min-p where no flag gave one. */
void sampling_file_defaults(sampling_args *s, const gemma_model_info *info);

/* ---- threads: fn(ctx, ith, nth) on n threads (the caller is thread 0), returning when all
 * are done (threads that cannot be started run on the caller) ---- */
void run_threads(int n, void (*fn)(void *ctx, int ith, int nth), void *ctx);

/* ---- memory, errors, sizes, time ----
 * The CLI's own twins of the engine's internal helpers (src/util.h is not part of the API).
 * They are static so that they never meet the engine's functions of the same names, which
 * libgemma.a links into the same binary. */
static inline void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory allocating %zu bytes", n);
    return p;
}
static inline void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die(EXIT_RUNTIME, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}
static inline void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die(EXIT_RUNTIME, "out of memory allocating %zu bytes", n);
    return q;
}
static inline char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* printf into err (GEMMA_ERR_LEN bytes, may be NULL); returns -1: `return set_err(...)`. */
#if defined(__GNUC__)
static inline int set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static inline int set_err(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, GEMMA_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Overflow-checked size arithmetic: false on overflow. */
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

/* Monotonic time in seconds. */
static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
static inline double ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

#endif
