/* bench.c - `gemma bench`: llama-bench's measurements, options and output formats, so a
 * row of ours and a row of llama.cpp's compare directly.
 *
 *   gemma bench -m model.gguf                      pp512 and tg128, 5 repetitions, markdown
 *   gemma bench -m a.gguf,b.gguf -p 128 -n 32 -t 1,2 -o json
 *   gemma bench --membw                            the machine's memory read bandwidth
 *
 * As llama-bench: each test is one warm-up run, then -r timed runs, each from an empty KV
 * cache, or (-d D, "pp512 @ d4096") from one holding D random tokens evaluated untimed just
 * before. ppN feeds N random tokens in one eval (split into micro-batches of -b); tgN runs N
 * single-token decode steps; ppN+tgM does both in one timed run. t/s = tokens / seconds of
 * a run (the depth's tokens not counted), reported as mean ± sample standard deviation over
 * the runs.
 *
 * Token generation on a CPU is bound by reading the weights from memory, so tg rows also
 * get the effective weight-read bandwidth (the engine's weight_bytes_per_token x t/s) and
 * its share of the bandwidth this machine measures with a plain streaming read (--membw),
 * measured again right before and after each tg test (membw_now).
 * Everything about the model comes through the public API (gemma.h). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef GEMMA_BUILD_COMMIT
#define GEMMA_BUILD_COMMIT GEMMA_VERSION
#endif
#ifndef GEMMA_BUILD_NUMBER
#define GEMMA_BUILD_NUMBER 0
#endif

#define MAX_LIST 256          /* entries of one comma list */
#define MAX_TOKENS (1 << 20)  /* -p / -n limit per test */

/* ---------------------------------------------------------------------------------------
 * Options */

typedef struct {
    int v[MAX_LIST];
    int n;
} int_list;

typedef enum { OUT_MD, OUT_JSON, OUT_JSONL, OUT_CSV } out_format;

typedef struct {
    const char *models[MAX_LIST];
    int n_models;
    int_list n_prompt, n_gen, n_batch, n_threads;
    int_list n_depth;         /* -d: tokens already in the KV cache before each timed run */
    int_list no_repack;       /* -nr: 0 repacked at load (the default), 1 the file's layout */
    int_list type_k, type_v;  /* -ctk / -ctv: gemma_kv_type values (default f16) */
    int_list pg_pp, pg_tg;    /* -pg pairs */
    int reps;
    out_format fmt;
    bool membw;               /* --membw */
    bool no_membw;            /* --no-membw: skip the automatic measurement */
    bool membw_once;          /* --membw-once: tg shares against the start's measurement only */
    bool no_warmup;
    bool verbose;
} bench_args;

static void usage(void) {
    printf(
        "usage: gemma bench -m MODEL.gguf [options]\n"
        "       gemma bench --membw [-t N]\n"
        "\n"
        "Measure prompt processing (ppN) and token generation (tgN) speed the way llama.cpp's\n"
        "llama-bench does, with the same table, JSON and CSV layouts. Lists take commas\n"
        "(1,2,4) and ranges (first-last, first-last+step, first-last*factor); every\n"
        "combination is run.\n"
        "\n"
        "options:\n"
        "  -m, --model FILE[,FILE]  model file(s) (repeatable)\n"
        "  -p, --n-prompt N         prompt tokens per pp test (default 512; 0 = no pp test)\n"
        "  -n, --n-gen N            generated tokens per tg test (default 128; 0 = no tg test)\n"
        "  -pg PP,TG                a prompt of PP tokens then TG generated ones (repeatable)\n"
        "  -d, --n-depth N          tokens already in the context before each test (default 0):\n"
        "                           evaluated untimed, then the test continues after them\n"
        "  -r, --repetitions N      timed runs per test (default 5)\n"
        "  -t, --threads N          threads (default: physical cores, %d here)\n"
        "  -b, --batch-size N       prompt tokens per forward micro-batch (default 512; -ub too)\n"
        "  -nr, --no-repack 0|1     1: weights in the file's layout, not repacked at load (default 0)\n"
        "  -ctk, --cache-type-k T   KV cache type of the keys: f32, f16, bf16, q8_0 (default f16)\n"
        "  -ctv, --cache-type-v T   KV cache type of the values (the same; default f16)\n"
        "  -o, --output FORMAT      md, json, jsonl or csv (default md)\n"
        "      --membw              measure the memory read bandwidth (alone: only that)\n"
        "      --no-membw           do not measure it for tg tests\n"
        "      --membw-once         measure it once at the start, not again beside each tg test\n"
        "      --no-warmup          skip the warm-up run of each test\n"
        "  -v, --verbose            progress on stderr (default: only when it is a terminal)\n"
        "  -h, --help               this help\n"
        "\n"
        "Random token ids are fed (no text). tg rows also show the effective weight-read\n"
        "bandwidth (weights touched per token x t/s) and its share of the measured bandwidth:\n"
        "the better of two measurements taken right before and right after the test, with its\n"
        "threads and in its weights' pages (a host shared with others can swing within minutes).\n"
        "\n"
        "examples:\n"
        "  gemma bench -m gemma-3-1b-it-Q4_0.gguf\n"
        "  gemma bench -m model.gguf -p 128 -n 32 -t 1,2,4 -r 3 -o json\n"
        "\n"
        "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 model file error, 4 I/O error\n",
        gemma_default_threads());
}

static void list_push(int_list *l, const char *flag, long long v) {
    if (l->n >= MAX_LIST) die_usage("too many values for %s (at most %d)", flag, MAX_LIST);
    l->v[l->n++] = (int)v;
}

static long long parse_ll(const char *flag, const char *item, const char **s) {
    char *end;
    errno = 0;
    long long v = strtoll(*s, &end, 10);
    if (end == *s || errno || **s == '-' || **s == '+')
        die_usage("invalid value '%s' for %s (expected a number, list or range)", item, flag);
    *s = end;
    return v;
}

/* llama-bench's list syntax: items separated by commas, each N, A-B, A-B+S or A-B*F. */
static void parse_int_list(const char *flag, const char *arg, int_list *out, long long lo,
                           long long hi) {
    const char *s = arg;
    for (;;) {
        long long first = parse_ll(flag, arg, &s), last = first, step = 1;
        char op = '+';
        if (*s == '-') {
            s++;
            last = parse_ll(flag, arg, &s);
            if (*s == '+' || *s == '*') {
                op = *s++;
                step = parse_ll(flag, arg, &s);
            }
        }
        bool range = last != first || op != '+' || step != 1;
        if (first < lo || last > hi || first > last || step > hi ||
            (range && op == '+' && step < 1) || (range && op == '*' && (step < 2 || first < 1)))
            die_usage("invalid value '%s' for %s (values in [%lld, %lld], ranges increasing)", arg, flag, lo, hi);
        for (long long v = first; v <= last; v = op == '+' ? v + step : v * step) list_push(out, flag, v);
        if (*s == 0) break;
        if (*s != ',') die_usage("invalid value '%s' for %s (expected a number, list or range)", arg, flag);
        s++;
    }
}

/* A comma list of KV cache type names. */
static void parse_type_list(const char *flag, const char *arg, int_list *out) {
    char item[32];
    for (const char *s = arg;;) {
        size_t n = strcspn(s, ",");
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), s);
        list_push(out, flag, n < sizeof item ? parse_kv_type(flag, item) : parse_kv_type(flag, s));
        if (!s[n]) break;
        s += n + 1;
    }
}

static void parse_bench_args(int argc, char **argv, bench_args *a) {
    memset(a, 0, sizeof *a);
    a->reps = 5;
    a->fmt = OUT_MD;
    bool set_p = false, set_n = false, set_b = false, set_t = false;
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) { usage(); exit(0); }
        else if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            /* comma-separated names; the strings are argv's, split in place */
            char *s = (char *)arg_value(argc, argv, &i);
            for (char *tok = s; tok; ) {
                char *comma = strchr(tok, ',');
                if (comma) *comma = 0;
                if (!*tok) die_usage("empty model name in '%s'", f);
                if (a->n_models >= MAX_LIST) die_usage("too many models (at most %d)", MAX_LIST);
                a->models[a->n_models++] = tok;
                tok = comma ? comma + 1 : NULL;
            }
        }
        else if (!strcmp(f, "-p") || !strcmp(f, "--n-prompt")) {
            set_p = true;
            parse_int_list(f, arg_value(argc, argv, &i), &a->n_prompt, 0, MAX_TOKENS);
        }
        else if (!strcmp(f, "-n") || !strcmp(f, "--n-gen")) {
            set_n = true;
            parse_int_list(f, arg_value(argc, argv, &i), &a->n_gen, 0, MAX_TOKENS);
        }
        else if (!strcmp(f, "-d") || !strcmp(f, "--n-depth"))
            parse_int_list(f, arg_value(argc, argv, &i), &a->n_depth, 0, MAX_TOKENS);
        else if (!strcmp(f, "-pg")) {
            const char *v = arg_value(argc, argv, &i);
            int_list pair = {{0}, 0};
            parse_int_list(f, v, &pair, 0, MAX_TOKENS);
            if (pair.n != 2 || strchr(v, '-')) die_usage("invalid value '%s' for -pg (expected PP,TG)", v);
            list_push(&a->pg_pp, f, pair.v[0]);
            list_push(&a->pg_tg, f, pair.v[1]);
        }
        else if (!strcmp(f, "-r") || !strcmp(f, "--repetitions"))
            a->reps = (int)parse_int(f, arg_value(argc, argv, &i), 1, 1000000);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) {
            set_t = true;
            parse_int_list(f, arg_value(argc, argv, &i), &a->n_threads, 1, 1024);
        }
        else if (!strcmp(f, "-b") || !strcmp(f, "--batch-size") || !strcmp(f, "-ub") || !strcmp(f, "--ubatch-size")) {
            set_b = true;
            parse_int_list(f, arg_value(argc, argv, &i), &a->n_batch, 1, 1 << 16);
        }
        else if (!strcmp(f, "-ctk") || !strcmp(f, "--cache-type-k"))
            parse_type_list(f, arg_value(argc, argv, &i), &a->type_k);
        else if (!strcmp(f, "-ctv") || !strcmp(f, "--cache-type-v"))
            parse_type_list(f, arg_value(argc, argv, &i), &a->type_v);
        else if (!strcmp(f, "-nr") || !strcmp(f, "--no-repack"))
            parse_int_list(f, arg_value(argc, argv, &i), &a->no_repack, 0, 1);
        else if (!strcmp(f, "-o") || !strcmp(f, "--output")) {
            const char *v = arg_value(argc, argv, &i);
            if (!strcmp(v, "md")) a->fmt = OUT_MD;
            else if (!strcmp(v, "json")) a->fmt = OUT_JSON;
            else if (!strcmp(v, "jsonl")) a->fmt = OUT_JSONL;
            else if (!strcmp(v, "csv")) a->fmt = OUT_CSV;
            else die_usage("invalid value '%s' for %s (expected md, json, jsonl or csv)", v, f);
        }
        else if (!strcmp(f, "--membw")) a->membw = true;
        else if (!strcmp(f, "--no-membw")) a->no_membw = true;
        else if (!strcmp(f, "--membw-once")) a->membw_once = true;
        else if (!strcmp(f, "--no-warmup")) a->no_warmup = true;
        else if (!strcmp(f, "-v") || !strcmp(f, "--verbose") || !strcmp(f, "--progress")) a->verbose = true;
        else if (f[0] == '-') die_usage("unknown option '%s'", f);
        else die_usage("unexpected argument '%s'", f);
    }
    if (!set_p) list_push(&a->n_prompt, "-p", 512);
    if (!set_n) list_push(&a->n_gen, "-n", 128);
    if (!set_b) list_push(&a->n_batch, "-b", 512);
    if (!set_t) list_push(&a->n_threads, "-t", gemma_default_threads());
    if (!a->no_repack.n) list_push(&a->no_repack, "-nr", 0);
    if (!a->n_depth.n) list_push(&a->n_depth, "-d", 0);
    if (!a->type_k.n) list_push(&a->type_k, "-ctk", GEMMA_KV_F16);
    if (!a->type_v.n) list_push(&a->type_v, "-ctv", GEMMA_KV_F16);
    if (a->n_models == 0 && !a->membw) die_usage("no model given: use -m FILE.gguf (or --membw)");
    if (a->membw && a->no_membw) die_usage("give either --membw or --no-membw, not both");
    if (a->membw_once && a->no_membw) die_usage("give either --membw-once or --no-membw, not both");
}

/* ---------------------------------------------------------------------------------------
 * Progress on stderr: a line that rewrites itself on a terminal, plain lines with -v,
 * nothing otherwise (stdout carries only the results). */

static int progress_mode; /* 0 off, 1 terminal status line, 2 verbose lines */

#if defined(__GNUC__)
#define PRINTF_LIKE __attribute__((format(printf, 1, 2)))
#else
#define PRINTF_LIKE
#endif

static void progress(const char *fmt, ...) PRINTF_LIKE;
static void progress(const char *fmt, ...) {
    if (!progress_mode || !log_enabled) return;
    va_list ap;
    va_start(ap, fmt);
    if (progress_mode == 1) fputs("\r\033[K", stderr);
    fputs("gemma bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(progress_mode == 1 ? "" : "\n", stderr);
    fflush(stderr);
    va_end(ap);
}

static void progress_clear(void) {
    if (progress_mode == 1 && log_enabled) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/* Results go to stdout through printf; a closed pipe ends the program quietly (out_flush). */
static void out_printf(const char *fmt, ...) PRINTF_LIKE;
static void out_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---------------------------------------------------------------------------------------
 * The machine: CPU name, cache and memory sizes (Linux files; fallbacks elsewhere). */

static void cpu_model_name(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) return;
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        snprintf(out, cap, "%s", colon);
        out[strcspn(out, "\r\n")] = 0;
        break;
    }
    fclose(fp);
}

/* The largest CPU cache (the last level), in bytes; 0 if unknown. */
static uint64_t last_level_cache_bytes(void) {
    uint64_t best = 0;
    for (int i = 0; i < 16; i++) {
        char path[96], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *fp = fopen(path, "r");
        if (!fp) break;
        if (fgets(buf, sizeof buf, fp)) {
            char *end;
            unsigned long long v = strtoull(buf, &end, 10);
            if (*end == 'K') v <<= 10;
            else if (*end == 'M') v <<= 20;
            else if (*end == 'G') v <<= 30;
            if (v > best) best = v;
        }
        fclose(fp);
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (best == 0) {
        long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
        if (v > 0) best = (uint64_t)v;
    }
#endif
    return best;
}

static uint64_t physical_ram_bytes(void) {
#ifdef _SC_PHYS_PAGES
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) return (uint64_t)pages * (uint64_t)page;
#endif
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Memory read bandwidth: every thread streams through its slice of a buffer several
 * times larger than the last-level cache, summing the 64-bit words (a read-only
 * reduction the compiler must keep: the sums are published). Best pass of several.
 * Measured twice: in 4 KiB pages (what a mapped file gets) and in 2 MiB pages where the OS
 * gives them (what weights repacked at load get): a stream through 2 MiB pages walks the
 * page tables 512x less often, which on this Zen 4 VM reads 60-63 GB/s against 53-54. A
 * model's "% of membw" is against the measurement in the pages its weights are in. */

#define MEMBW_PASSES 5

typedef struct {
    uint64_t *buf;
    size_t n_words;
    atomic_uint_fast64_t sink;
} membw_job;

/* This thread's slice [lo, hi) of the words, on cache-line (8-word) boundaries. */
static void slice(const membw_job *j, int ith, int nth, size_t *lo, size_t *hi) {
    size_t lines = j->n_words / 8;
    *lo = lines * (size_t)ith / (size_t)nth * 8;
    *hi = lines * (size_t)(ith + 1) / (size_t)nth * 8;
}

static void membw_fill(void *arg, int ith, int nth) {
    membw_job *j = arg;
    size_t lo, hi;
    slice(j, ith, nth, &lo, &hi);
    for (size_t i = lo; i < hi; i++) j->buf[i] = i * 0x9E3779B97F4A7C15u; /* first touch */
}

/* Eight independent accumulators keep the adds off the critical path, so the loads
 * (memory) are the limit rather than one long dependency chain. */
static uint64_t sum_words(const uint64_t *p, size_t n) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += p[i];     a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
    }
    for (; i < n; i++) a0 += p[i];
    return a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
}

static void membw_read(void *arg, int ith, int nth) {
    membw_job *j = arg;
    size_t lo, hi;
    slice(j, ith, nth, &lo, &hi);
    atomic_fetch_xor(&j->sink, sum_words(j->buf + lo, hi - lo));
}

/* Buffer size: at least 1 GiB and 4x the last-level cache, at most a quarter of RAM. */
static size_t membw_buffer_bytes(void) {
    uint64_t want = 1ull << 30, llc = last_level_cache_bytes(), ram = physical_ram_bytes();
    if (llc * 4 > want) want = llc * 4;
    want = (want + (64ull << 20) - 1) & ~((64ull << 20) - 1);
    if (ram && want > ram / 4) want = (ram / 4) & ~((1ull << 20) - 1);
    if (want > (16ull << 30)) want = 16ull << 30;
    if (want > SIZE_MAX / 2) want = SIZE_MAX / 2;
    return (size_t)want;
}

typedef struct {
    int threads[MAX_LIST + 1];
    double gbps[MAX_LIST + 1];   /* best pass, 1e9 bytes/s, 4 KiB pages */
    double huge[MAX_LIST + 1];   /* the same in 2 MiB pages (when have_huge) */
    int n;
    size_t bytes;                /* buffer size used */
    uint64_t llc;
    bool have_huge;              /* the OS gave (most of) the second buffer 2 MiB pages */
} membw_result;

/* Bytes of [p, p + n) in transparent huge pages (Linux /proc/self/smaps), 0 if unknown. */
static uint64_t huge_page_bytes(const void *p, size_t n) {
    FILE *fp = fopen("/proc/self/smaps", "r");
    if (!fp) return 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + n;
    bool inside = false;
    uint64_t total = 0;
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        unsigned long a, b, kb;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) inside = a < hi && b > lo;
        else if (inside && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) total += (uint64_t)kb << 10;
    }
    fclose(fp);
    return total;
}

/* An anonymous buffer of n bytes in 4 KiB pages or (huge) asking for 2 MiB ones. */
static uint64_t *membw_buffer(size_t n, bool huge) {
    /* cppcheck-suppress invalidFunctionArg ; MAP_ANONYMOUS takes fd -1 (POSIX: portable code passes it) */
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    madvise(p, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
    (void)huge;
#endif
    return p;
}

/* Best-of-passes GB/s of every thread count of r in gbps[] (buffer already filled). */
static void membw_passes(membw_result *r, membw_job *j, double *gbps, const char *pages) {
    for (int k = 0; k < r->n; k++) {
        progress("memory bandwidth, %s pages: %d thread%s", pages, r->threads[k], r->threads[k] == 1 ? "" : "s");
        uint64_t best = UINT64_MAX;
        for (int pass = 0; pass < MEMBW_PASSES; pass++) {
            uint64_t t0 = now_ns();
            run_threads(r->threads[k], membw_read, j);
            uint64_t dt = now_ns() - t0;
            if (dt < best) best = dt;
        }
        gbps[k] = (double)r->bytes / (double)(best ? best : 1);  /* bytes/ns = GB/s */
    }
}

/* Read bandwidth with each thread count of `threads` (distinct values) and with 1 thread.
 * Returns false (with a warning) if no buffer could be allocated. */
static bool measure_membw(const int_list *threads, membw_result *r) {
    memset(r, 0, sizeof *r);
    r->llc = last_level_cache_bytes();
    r->bytes = membw_buffer_bytes();
    membw_job j;
    j.buf = NULL;
    while (r->bytes >= (64u << 20) && !(j.buf = membw_buffer(r->bytes, false))) r->bytes /= 2;
    if (!j.buf) {
        logf_("gemma bench: warning: cannot allocate a buffer to measure memory bandwidth\n");
        return false;
    }
    j.n_words = r->bytes / sizeof(uint64_t);
    atomic_init(&j.sink, 0);

    /* thread counts: the -t values (largest first), then 1 */
    int maxt = 1;
    for (int i = 0; i < threads->n; i++) if (threads->v[i] > maxt) maxt = threads->v[i];
    for (int i = 0; i < threads->n; i++) {
        bool dup = false;
        for (int k = 0; k < r->n; k++) dup |= r->threads[k] == threads->v[i];
        if (!dup) r->threads[r->n++] = threads->v[i];
    }
    bool has1 = false;
    for (int k = 0; k < r->n; k++) has1 |= r->threads[k] == 1;
    if (!has1) r->threads[r->n++] = 1;

    progress("memory bandwidth: filling a %zu MiB buffer", r->bytes >> 20);
    run_threads(maxt, membw_fill, &j);
    membw_passes(r, &j, r->gbps, "4 KiB");
    munmap(j.buf, r->bytes);
    if ((j.buf = membw_buffer(r->bytes, true))) {
        run_threads(maxt, membw_fill, &j);
        r->have_huge = huge_page_bytes(j.buf, r->bytes) >= r->bytes / 2;
        if (r->have_huge) membw_passes(r, &j, r->huge, "2 MiB");
        munmap(j.buf, r->bytes);
    }
    progress_clear();
    return true;
}

/* The bandwidth now with `threads` threads in `bytes` of 4 KiB or (huge) 2 MiB pages, best
 * of the passes; -1 if no buffer (or not the pages asked for). Beside a tg test: on a host
 * whose memory is shared with other machines the bandwidth moves by 40 % within minutes
 * (this project's Zen 4 VM: 35-68 GB/s), so a share against the start's figure would say
 * more about that minute than about the engine. */
static double membw_now(size_t bytes, int threads, bool huge) {
    membw_job j;
    if (!(j.buf = membw_buffer(bytes, huge))) return -1;
    j.n_words = bytes / sizeof(uint64_t);
    atomic_init(&j.sink, 0);
    run_threads(threads, membw_fill, &j);
    double gbps = -1;
    if (!huge || huge_page_bytes(j.buf, bytes) >= bytes / 2) {
        membw_result r = {.threads = {threads}, .n = 1, .bytes = bytes};
        membw_passes(&r, &j, r.gbps, huge ? "2 MiB" : "4 KiB");
        gbps = r.gbps[0];
    }
    munmap(j.buf, bytes);
    progress_clear();
    return gbps;
}

/* The bandwidth with `threads` threads, in 2 MiB pages if `huge` and measured; -1: none. */
static double membw_at(const membw_result *r, int threads, bool huge) {
    for (int k = 0; k < r->n; k++)
        if (r->threads[k] == threads) return huge && r->have_huge ? r->huge[k] : r->gbps[k];
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * Running the tests */

typedef struct {
    int n_prompt, n_gen, n_batch, n_threads;
    int n_depth;              /* tokens in the context before the timed part */
    gemma_kv_type type_k, type_v;
} bench_test;

typedef struct {
    const char *model_filename;
    char model_type[160];
    uint64_t model_size, model_n_params, weight_bytes_tok;
    bench_test t;
    int no_repack;
    int n_threads_used;
    char test_time[32];
    uint64_t *samples_ns;
    int n_samples;
    double membw_gbps, membw_1t_gbps; /* < 0: not measured */
    bool membw_huge;                  /* they are the 2 MiB-page measurements */
} bench_result;

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* A random id of an ordinary token (not a control, unused or unknown one), so the run
 * looks like text to the model; a few draws at most, any id after that. */
static int32_t random_token(const gemma_model *m, int n_vocab, uint64_t *rng) {
    int32_t id = 0;
    for (int tries = 0; tries < 64; tries++) {
        id = (int32_t)(rng_next(rng) % (uint64_t)n_vocab);
        if (gemma_token_is_text(m, id)) break;
    }
    return id;
}

/* The first token of a sequence: BOS when the vocabulary adds one (as llama-bench). */
static int32_t first_token(const gemma_model *m, int n_vocab, uint64_t *rng) {
    int32_t bos = gemma_token_bos(m);
    return bos >= 0 && bos < n_vocab ? bos : random_token(m, n_vocab, rng);
}

static void eval_or_die(gemma_context *c, const int32_t *ids, int n, float *logits) {
    char err[GEMMA_ERR_LEN];
    if (gemma_eval(c, ids, n, logits, false, err) != 0) die(EXIT_RUNTIME, "%s", err);
}

/* pp: n prompt tokens in one eval (the context splits them into micro-batches); the first
 * is BOS unless the context already holds tokens (`after`). */
static void run_prompt(gemma_context *c, const gemma_model *m, int n_vocab, int n, int32_t *ids,
                       float *logits, uint64_t *rng, bool after) {
    ids[0] = after ? random_token(m, n_vocab, rng) : first_token(m, n_vocab, rng);
    for (int i = 1; i < n; i++) ids[i] = random_token(m, n_vocab, rng);
    eval_or_die(c, ids, n, logits);
}

/* tg: n decode steps of one token each. */
static void run_gen(gemma_context *c, const gemma_model *m, int n_vocab, int n, float *logits,
                    uint64_t *rng, bool after) {
    int32_t tok = after ? random_token(m, n_vocab, rng) : first_token(m, n_vocab, rng);
    for (int i = 0; i < n; i++) {
        eval_or_die(c, &tok, 1, logits);
        tok = random_token(m, n_vocab, rng);
    }
}

/* As llama-bench: pp512, tg128, pp512+tg128, and " @ d4096" after a depth. */
static void test_name(const bench_test *t, char *out, size_t cap) {
    int n;
    if (t->n_gen == 0) n = snprintf(out, cap, "pp%d", t->n_prompt);
    else if (t->n_prompt == 0) n = snprintf(out, cap, "tg%d", t->n_gen);
    else n = snprintf(out, cap, "pp%d+tg%d", t->n_prompt, t->n_gen);
    if (t->n_depth > 0 && n >= 0 && (size_t)n < cap) snprintf(out + n, cap - (size_t)n, " @ d%d", t->n_depth);
}

/* The untimed part of a run: the context reset, then n_depth tokens in it. */
static void fill_depth(gemma_context *c, const gemma_model *m, int n_vocab, const bench_test *t, int32_t *ids,
                       float *logits, uint64_t *rng) {
    gemma_context_reset(c);
    if (t->n_depth > 0) run_prompt(c, m, n_vocab, t->n_depth, ids, logits, rng, false);
}

static void run_test(gemma_model *m, const bench_test *t, const bench_args *a, int idx,
                     int count, bench_result *r) {
    char err[GEMMA_ERR_LEN], name[64];
    test_name(t, name, sizeof name);
    int n_ctx = t->n_depth + t->n_prompt + t->n_gen;
    gemma_context_params cp = {.n_ctx = n_ctx > 0 ? n_ctx : 1,
                               .n_threads = t->n_threads, .n_batch = t->n_batch, .type_k = t->type_k,
                               .type_v = t->type_v};
    gemma_context *c = gemma_context_new(m, &cp, err);
    if (!c) die(EXIT_RUNTIME, "%s", err);
    r->n_threads_used = gemma_n_threads(c);
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    int V = info.n_vocab;
    int n_ids = t->n_prompt > t->n_depth ? t->n_prompt : t->n_depth;
    int32_t *ids = xmalloc((size_t)(n_ids > 0 ? n_ids : 1) * sizeof(int32_t));
    bool after = t->n_depth > 0;
    float *logits = xmalloc((size_t)V * sizeof(float));
    uint64_t rng = 0x5DEECE66Dull; /* fixed: every run of a test sees the same kind of input */

    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(r->test_time, sizeof r->test_time, "%Y-%m-%dT%H:%M:%SZ", &tmv);

    if (!a->no_warmup) { /* as llama-bench: the whole prompt, one decode step */
        progress("test %d/%d: %s, %d threads: warm-up", idx, count, name, r->n_threads_used);
        fill_depth(c, m, V, t, ids, logits, &rng);
        if (t->n_prompt > 0) run_prompt(c, m, V, t->n_prompt, ids, logits, &rng, after);
        if (t->n_gen > 0) run_gen(c, m, V, 1, logits, &rng, after || t->n_prompt > 0);
    }
    r->samples_ns = xmalloc((size_t)a->reps * sizeof(uint64_t));
    r->n_samples = 0;
    for (int rep = 0; rep < a->reps; rep++) {
        progress("test %d/%d: %s, %d threads: run %d/%d", idx, count, name, r->n_threads_used,
                 rep + 1, a->reps);
        fill_depth(c, m, V, t, ids, logits, &rng);
        uint64_t t0 = now_ns();
        if (t->n_prompt > 0) run_prompt(c, m, V, t->n_prompt, ids, logits, &rng, after);
        if (t->n_gen > 0) run_gen(c, m, V, t->n_gen, logits, &rng, after || t->n_prompt > 0);
        uint64_t dt = now_ns() - t0;
        r->samples_ns[r->n_samples++] = dt ? dt : 1;
    }
    progress_clear();
    free(ids);
    free(logits);
    gemma_context_free(c);
}

/* ---------------------------------------------------------------------------------------
 * Statistics, as llama-bench computes them (sample standard deviation). */

static double sample_ts(const bench_result *r, int i) {
    return 1e9 * (double)(r->t.n_prompt + r->t.n_gen) / (double)r->samples_ns[i];
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0;
}

static double stdev_of(const double *v, int n) {
    if (n <= 1) return 0;
    double mu = mean_of(v, n), ss = 0;
    for (int i = 0; i < n; i++) ss += (v[i] - mu) * (v[i] - mu);
    return sqrt(ss / (n - 1));
}

typedef struct { double avg_ns, sd_ns, avg_ts, sd_ts; } bench_stats;

static bench_stats stats_of(const bench_result *r) {
    double *ns = xcalloc((size_t)r->n_samples * 2, sizeof(double)), *ts = ns + r->n_samples;
    for (int i = 0; i < r->n_samples; i++) {
        ns[i] = (double)r->samples_ns[i];
        ts[i] = sample_ts(r, i);
    }
    bench_stats s = {mean_of(ns, r->n_samples), stdev_of(ns, r->n_samples),
                     mean_of(ts, r->n_samples), stdev_of(ts, r->n_samples)};
    free(ns);
    return s;
}

/* Effective weight-read bandwidth of a tg-only test in GB/s, or -1. */
static double weight_gbps(const bench_result *r, const bench_stats *s) {
    if (r->t.n_prompt != 0 || r->t.n_gen == 0) return -1;
    return (double)r->weight_bytes_tok * s->avg_ts / 1e9;
}

/* ---------------------------------------------------------------------------------------
 * Output: the fields of one result (llama-bench's names first, ours after), then the
 * markdown, JSON, JSONL and CSV printers over them. */

typedef enum { F_STR, F_INT, F_FLOAT, F_NONE } field_kind;
typedef struct {
    const char *name;
    field_kind kind;
    char val[256];
} field;

static int result_fields(const bench_result *r, field *f, const char *cpu_info) {
    bench_stats s = stats_of(r);
    int n = 0;
#define FIELD(nm, kd, ...) do { f[n].name = nm; f[n].kind = kd; \
        snprintf(f[n].val, sizeof f[n].val, __VA_ARGS__); n++; } while (0)
    FIELD("build_commit", F_STR, "%s", GEMMA_BUILD_COMMIT);
    FIELD("build_number", F_INT, "%d", GEMMA_BUILD_NUMBER);
    FIELD("cpu_info", F_STR, "%s", cpu_info);
    FIELD("gpu_info", F_STR, "%s", "");
    FIELD("backends", F_STR, "CPU");
    FIELD("model_filename", F_STR, "%s", r->model_filename);
    FIELD("model_type", F_STR, "%s", r->model_type);
    FIELD("model_size", F_INT, "%" PRIu64, r->model_size);
    FIELD("model_n_params", F_INT, "%" PRIu64, r->model_n_params);
    FIELD("n_batch", F_INT, "%d", r->t.n_batch);
    FIELD("n_ubatch", F_INT, "%d", r->t.n_batch);
    FIELD("n_threads", F_INT, "%d", r->n_threads_used);
    FIELD("type_k", F_STR, "%s", gemma_kv_type_name(r->t.type_k));
    FIELD("type_v", F_STR, "%s", gemma_kv_type_name(r->t.type_v));
    FIELD("n_gpu_layers", F_INT, "0");
    FIELD("n_prompt", F_INT, "%d", r->t.n_prompt);
    FIELD("n_gen", F_INT, "%d", r->t.n_gen);
    FIELD("n_depth", F_INT, "%d", r->t.n_depth);
    FIELD("test_time", F_STR, "%s", r->test_time);
    FIELD("avg_ns", F_INT, "%" PRIu64, (uint64_t)llround(s.avg_ns));
    FIELD("stddev_ns", F_INT, "%" PRIu64, (uint64_t)llround(s.sd_ns));
    FIELD("avg_ts", F_FLOAT, "%f", s.avg_ts);
    FIELD("stddev_ts", F_FLOAT, "%f", s.sd_ts);
    /* ours */
    FIELD("kernel_path", F_STR, "%s", gemma_kernel_path());
    FIELD("no_repack", F_INT, "%d", r->no_repack);
    FIELD("weight_bytes_per_token", F_INT, "%" PRIu64, r->weight_bytes_tok);
    double wg = weight_gbps(r, &s);
    if (wg >= 0) FIELD("weight_gbps", F_FLOAT, "%f", wg);
    else FIELD("weight_gbps", F_NONE, "%s", "");
    if (r->membw_gbps > 0) FIELD("membw_gbps", F_FLOAT, "%f", r->membw_gbps);
    else FIELD("membw_gbps", F_NONE, "%s", "");
    if (r->membw_1t_gbps > 0) FIELD("membw_1t_gbps", F_FLOAT, "%f", r->membw_1t_gbps);
    else FIELD("membw_1t_gbps", F_NONE, "%s", "");
    if (r->membw_gbps > 0) FIELD("membw_pages", F_STR, "%s", r->membw_huge ? "2M" : "4K");
    else FIELD("membw_pages", F_NONE, "%s", "");
#undef FIELD
    return n;
}
#define MAX_FIELDS 40

static void print_json_string(const char *s) {
    out_printf("\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"') out_printf("\\\"");
        else if (*p == '\\') out_printf("\\\\");
        else if (*p < 0x20) out_printf("\\u%04x", *p);
        else out_printf("%c", *p);
    }
    out_printf("\"");
}

/* One object; fields without a value are left out. jsonl: all on one line. */
static void print_json_object(const bench_result *r, const char *cpu_info, bool one_line) {
    field f[MAX_FIELDS];
    int n = result_fields(r, f, cpu_info);
    const char *ind = one_line ? "" : "    ", *sep = one_line ? " " : "\n";
    out_printf(one_line ? "{" : "  {\n");
    for (int i = 0; i < n; i++) {
        if (f[i].kind == F_NONE) continue;
        out_printf("%s\"%s\": ", ind, f[i].name);
        if (f[i].kind == F_STR) print_json_string(f[i].val);
        else out_printf("%s", f[i].val);
        out_printf(",%s", sep);
    }
    out_printf("%s\"samples_ns\": [ ", ind);
    for (int i = 0; i < r->n_samples; i++) out_printf("%s%" PRIu64, i ? ", " : "", r->samples_ns[i]);
    out_printf(" ],%s%s\"samples_ts\": [ ", sep, ind);
    for (int i = 0; i < r->n_samples; i++) out_printf("%s%g", i ? ", " : "", sample_ts(r, i));
    out_printf(" ]%s", one_line ? "}\n" : "\n  }");
}

static void print_csv_header(const char *cpu_info) {
    bench_result dummy;
    memset(&dummy, 0, sizeof dummy);
    uint64_t one = 1;
    dummy.samples_ns = &one;
    dummy.n_samples = 1;
    dummy.model_filename = "";
    field f[MAX_FIELDS];
    int n = result_fields(&dummy, f, cpu_info);
    for (int i = 0; i < n; i++) out_printf("%s%s", i ? "," : "", f[i].name);
    out_printf("\n");
}

static void print_csv_row(const bench_result *r, const char *cpu_info) {
    field f[MAX_FIELDS];
    int n = result_fields(r, f, cpu_info);
    for (int i = 0; i < n; i++) {
        out_printf("%s\"", i ? "," : "");
        for (const char *p = f[i].val; *p; p++) out_printf("%s%c", *p == '"' ? "\"" : "", *p);
        out_printf("\"");
    }
    out_printf("\n");
}

/* Markdown: llama-bench's columns and widths (negative = left-aligned), then ours. */
typedef struct {
    char backend[96];
    int backend_w;
    bool batch_col;           /* -b other than the default: an n_batch column, as llama-bench */
    bool repack_col;          /* -nr other than the default: an nr column */
    bool type_k_col, type_v_col; /* -ctk / -ctv other than f16: type_k / type_v columns, as llama-bench */
    bool weight_col, membw_col;
    int test_w;               /* the test column: 15, as llama-bench, or its widest name */
} md_layout;

static void md_cell(int width, const char *s) { out_printf(" %*s |", width, s); }

static void md_header(const md_layout *L) {
    struct { const char *name; int w; } cols[14];
    int n = 0;
    cols[n].name = "model"; cols[n++].w = -30;
    cols[n].name = "size"; cols[n++].w = 10;
    cols[n].name = "params"; cols[n++].w = 10;
    cols[n].name = "backend"; cols[n++].w = -L->backend_w;
    cols[n].name = "threads"; cols[n++].w = 7;
    if (L->batch_col) { cols[n].name = "n_batch"; cols[n++].w = 7; }
    if (L->repack_col) { cols[n].name = "nr"; cols[n++].w = 2; }
    if (L->type_k_col) { cols[n].name = "type_k"; cols[n++].w = -6; }
    if (L->type_v_col) { cols[n].name = "type_v"; cols[n++].w = -6; }
    cols[n].name = "test"; cols[n++].w = L->test_w;
    cols[n].name = "t/s"; cols[n++].w = 20;
    if (L->weight_col) { cols[n].name = "weights GB/s"; cols[n++].w = 12; }
    if (L->membw_col) { cols[n].name = "% of membw"; cols[n++].w = 10; }
    out_printf("|");
    for (int i = 0; i < n; i++) md_cell(cols[i].w, cols[i].name);
    out_printf("\n|");
    for (int i = 0; i < n; i++) {
        int w = abs(cols[i].w);
        out_printf(" ");
        for (int k = 0; k < w - 1; k++) out_printf("-");
        out_printf("%s |", cols[i].w > 0 ? ":" : "-");
    }
    out_printf("\n");
}

static void md_row(const md_layout *L, const bench_result *r) {
    bench_stats s = stats_of(r);
    char buf[128];
    out_printf("|");
    md_cell(-30, r->model_type);
    if (r->model_size < (1ull << 30)) snprintf(buf, sizeof buf, "%.2f MiB", (double)r->model_size / (1 << 20));
    else snprintf(buf, sizeof buf, "%.2f GiB", (double)r->model_size / (1 << 30));
    md_cell(10, buf);
    if (r->model_n_params < 1000000000ull) snprintf(buf, sizeof buf, "%.2f M", (double)r->model_n_params / 1e6);
    else snprintf(buf, sizeof buf, "%.2f B", (double)r->model_n_params / 1e9);
    md_cell(10, buf);
    md_cell(-L->backend_w, L->backend);
    snprintf(buf, sizeof buf, "%d", r->n_threads_used);
    md_cell(7, buf);
    if (L->batch_col) {
        snprintf(buf, sizeof buf, "%d", r->t.n_batch);
        md_cell(7, buf);
    }
    if (L->repack_col) {
        snprintf(buf, sizeof buf, "%d", r->no_repack);
        md_cell(2, buf);
    }
    if (L->type_k_col) md_cell(-6, gemma_kv_type_name(r->t.type_k));
    if (L->type_v_col) md_cell(-6, gemma_kv_type_name(r->t.type_v));
    test_name(&r->t, buf, sizeof buf);
    md_cell(L->test_w, buf);
    snprintf(buf, sizeof buf, "%.2f \xC2\xB1 %.2f", s.avg_ts, s.sd_ts);
    md_cell(21, buf); /* one more: "±" is two bytes */
    double wg = weight_gbps(r, &s);
    if (L->weight_col) {
        if (wg >= 0) snprintf(buf, sizeof buf, "%.2f", wg);
        else buf[0] = 0;
        md_cell(12, buf);
    }
    if (L->membw_col) {
        if (wg >= 0 && r->membw_gbps > 0) snprintf(buf, sizeof buf, "%.1f %%", 100.0 * wg / r->membw_gbps);
        else buf[0] = 0;
        md_cell(10, buf);
    }
    out_printf("\n");
}

static void print_membw_only(const membw_result *mb, out_format fmt) {
    if (fmt == OUT_MD) {
        out_printf("memory read bandwidth: %.2f GiB buffer", (double)mb->bytes / (1ull << 30));
        if (mb->llc) out_printf(" (last-level cache %.0f MiB)", (double)mb->llc / (1 << 20));
        out_printf(", best of %d passes\n\n", MEMBW_PASSES);
        out_printf("| threads | GB/s, 4 KiB pages | GB/s, 2 MiB pages |\n| ------: | ----------------: | ----------------: |\n");
        for (int k = 0; k < mb->n; k++) {
            out_printf("| %7d | %17.2f |", mb->threads[k], mb->gbps[k]);
            if (mb->have_huge) out_printf(" %17.2f |\n", mb->huge[k]);
            else out_printf(" %17s |\n", "(none from the OS)");
        }
        return;
    }
    if (fmt == OUT_CSV) out_printf("n_threads,membw_gbps,membw_huge_gbps,buffer_bytes,llc_bytes,passes\n");
    if (fmt == OUT_JSON) out_printf("[\n");
    for (int k = 0; k < mb->n; k++) {
        char huge[64] = "";
        if (mb->have_huge) snprintf(huge, sizeof huge, "%f", mb->huge[k]);
        if (fmt == OUT_CSV)
            out_printf("%d,%f,%s,%zu,%" PRIu64 ",%d\n", mb->threads[k], mb->gbps[k], huge, mb->bytes, mb->llc,
                       MEMBW_PASSES);
        else
            out_printf("%s{\"n_threads\": %d, \"membw_gbps\": %f, %s%s%s\"buffer_bytes\": %zu, \"llc_bytes\": %" PRIu64
                       ", \"passes\": %d}%s",
                       fmt == OUT_JSON ? "  " : "", mb->threads[k], mb->gbps[k], *huge ? "\"membw_huge_gbps\": " : "",
                       huge, *huge ? ", " : "", mb->bytes, mb->llc, MEMBW_PASSES,
                       fmt == OUT_JSON ? (k + 1 < mb->n ? ",\n" : "\n") : "\n");
    }
    if (fmt == OUT_JSON) out_printf("]\n");
}

/* ---------------------------------------------------------------------------------------
 * The command */

static void warn_slow_build(void) {
#if !defined(__OPTIMIZE__)
    logf_("gemma bench: warning: debug build, performance may be affected\n");
#endif
#if defined(__SANITIZE_ADDRESS__)
    logf_("gemma bench: warning: sanitizer enabled, performance may be affected\n");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    logf_("gemma bench: warning: sanitizer enabled, performance may be affected\n");
#endif
#endif
}

/* Under a real-time policy (chrt -f, llama-bench's --prio 3) the kernel's RT throttling, on
 * by default (sched_rt_runtime_us 950000 of every 1000000), stops a CPU's real-time threads
 * for the rest of each period once they have run 95 % of it. A bench's threads never sleep
 * (they spin between products), so every second of a test loses 50 ms: measured, 4-5 tokens
 * in 400 of gemma3-1b decode took 50-70 ms instead of 13-18 (3 % of the test), none without
 * the policy. Said, not refused: the numbers are still right for that setting. */
static void warn_rt_throttling(void) {
#if defined(__linux__)
    int policy = sched_getscheduler(0);
    if (policy != SCHED_FIFO && policy != SCHED_RR) return;
    long long runtime = -1, period = 0;
    FILE *f = fopen("/proc/sys/kernel/sched_rt_runtime_us", "r");
    if (f) {
        if (fscanf(f, "%lld", &runtime) != 1) runtime = -1;
        fclose(f);
    }
    if ((f = fopen("/proc/sys/kernel/sched_rt_period_us", "r"))) {
        if (fscanf(f, "%lld", &period) != 1) period = 0;
        fclose(f);
    }
    if (runtime < 0 || period <= 0 || runtime >= period) return;
    logf_("gemma bench: warning: real-time policy (%s) with the kernel's RT throttling on (%lld of every %lld us): "
          "spinning threads are stopped for %lld ms of every second, so results can read up to %.0f %% low; "
          "run without it, or with kernel.sched_rt_runtime_us = -1\n",
          policy == SCHED_FIFO ? "SCHED_FIFO" : "SCHED_RR", runtime, period, (period - runtime) / 1000,
          100.0 * (double)(period - runtime) / (double)period);
#endif
}

int cmd_bench(int argc, char **argv) {
    bench_args a;
    parse_bench_args(argc, argv, &a);
    progress_mode = a.verbose ? 2 : isatty(STDERR_FILENO) ? 1 : 0;

    /* the tests, in llama-bench's order: per model, batch size, cache types, thread count, depth: pp, tg, pg */
    int n_tests = 0;
    size_t max_tests = (size_t)(a.n_prompt.n + a.n_gen.n + a.pg_pp.n + 1) * (size_t)a.n_batch.n
                     * (size_t)a.n_threads.n * (size_t)a.n_depth.n * (size_t)a.type_k.n * (size_t)a.type_v.n;
    if (max_tests > 100000) die_usage("too many combinations of -p, -n, -pg, -d, -b, -t, -ctk and -ctv");
    bench_test *tests = xmalloc(sizeof(bench_test) * max_tests);
    bool any_tg = false;
    for (int ib = 0; ib < a.n_batch.n; ib++)
        for (int ik = 0; ik < a.type_k.n; ik++)
        for (int iv = 0; iv < a.type_v.n; iv++)
        for (int it = 0; it < a.n_threads.n; it++)
        for (int id = 0; id < a.n_depth.n; id++) {
            bench_test base = {0, 0, a.n_batch.v[ib], a.n_threads.v[it], a.n_depth.v[id],
                               (gemma_kv_type)a.type_k.v[ik], (gemma_kv_type)a.type_v.v[iv]};
            for (int i = 0; i < a.n_prompt.n; i++)
                if (a.n_prompt.v[i] > 0) { tests[n_tests] = base; tests[n_tests++].n_prompt = a.n_prompt.v[i]; }
            for (int i = 0; i < a.n_gen.n; i++)
                if (a.n_gen.v[i] > 0) { tests[n_tests] = base; tests[n_tests++].n_gen = a.n_gen.v[i]; any_tg = true; }
            for (int i = 0; i < a.pg_pp.n; i++)
                if (a.pg_pp.v[i] > 0 || a.pg_tg.v[i] > 0) {
                    tests[n_tests] = base;
                    tests[n_tests].n_prompt = a.pg_pp.v[i];
                    tests[n_tests++].n_gen = a.pg_tg.v[i];
                    any_tg |= a.pg_tg.v[i] > 0 && a.pg_pp.v[i] == 0;
                }
        }

    /* every model must load before anything is measured or printed */
    for (int i = 0; i < a.n_models; i++) /* (without repacking: that is the first test's) */
        gemma_model_free(load_model_or_die(a.models[i], &(gemma_model_params){.no_repack = true}));
    warn_slow_build();
    warn_rt_throttling();

    membw_result mb;
    bool have_membw = false;
    if (a.membw || (any_tg && !a.no_membw && a.n_models > 0)) have_membw = measure_membw(&a.n_threads, &mb);
    if (a.n_models == 0) {
        if (have_membw) print_membw_only(&mb, a.fmt);
        out_flush();
        free(tests);
        return have_membw ? 0 : EXIT_RUNTIME;
    }

    char cpu_info[256];
    cpu_model_name(cpu_info, sizeof cpu_info);
    md_layout L;
    memset(&L, 0, sizeof L);
    snprintf(L.backend, sizeof L.backend, "CPU %s", gemma_kernel_path());
    L.backend_w = (int)strlen(L.backend) > 10 ? (int)strlen(L.backend) : 10;
    L.batch_col = a.n_batch.n > 1 || a.n_batch.v[0] != 512;
    L.repack_col = a.no_repack.n > 1 || a.no_repack.v[0] != 0;
    L.type_k_col = a.type_k.n > 1 || a.type_k.v[0] != GEMMA_KV_F16;
    L.type_v_col = a.type_v.n > 1 || a.type_v.v[0] != GEMMA_KV_F16;
    L.weight_col = any_tg;
    L.membw_col = any_tg && have_membw;
    L.test_w = 15;
    for (int i = 0; i < n_tests; i++) {
        char name[64];
        test_name(&tests[i], name, sizeof name);
        if ((int)strlen(name) > L.test_w) L.test_w = (int)strlen(name);
    }

    if (a.fmt == OUT_MD) md_header(&L);
    else if (a.fmt == OUT_JSON) out_printf("[\n");
    else if (a.fmt == OUT_CSV) print_csv_header(cpu_info);
    out_flush();

    uint64_t *wbt = xmalloc(sizeof(uint64_t) * (size_t)a.n_models);
    char (*desc)[160] = xmalloc(sizeof(*desc) * (size_t)a.n_models);
    int done = 0;
    int n_runs = a.n_models * a.no_repack.n * n_tests;
    for (int im = 0; im < a.n_models; im++)
    for (int ir = 0; ir < a.no_repack.n; ir++) {
        progress("loading %s", a.models[im]);
        gemma_model *m = load_model_or_die(a.models[im], &(gemma_model_params){.no_repack = a.no_repack.v[ir] != 0});
        gemma_model_info info;
        gemma_model_get_info(m, &info);
        gemma_model_desc(m, desc[im], sizeof desc[im]);
        wbt[im] = info.weight_bytes_per_token;
        char repack[256];
        describe_repack(&info, repack, sizeof repack);
        progress("%s: %s", a.models[im], repack);
        for (int it = 0; it < n_tests; it++) {
            bench_result r;
            memset(&r, 0, sizeof r);
            r.model_filename = a.models[im];
            r.no_repack = a.no_repack.v[ir];
            snprintf(r.model_type, sizeof r.model_type, "%s", desc[im]);
            r.model_size = info.n_bytes;
            r.model_n_params = info.n_params;
            r.weight_bytes_tok = wbt[im];
            r.t = tests[it];
            /* the share is against the pages the weights are in: 2 MiB if most were repacked into them */
            r.membw_huge = have_membw && mb.have_huge && info.repacked_huge_bytes * 2 > info.n_bytes;
            bool beside = have_membw && !a.membw_once && tests[it].n_gen > 0 && tests[it].n_prompt == 0;
            int tg_threads = tests[it].n_threads;
            double before = beside ? membw_now(mb.bytes, tg_threads, r.membw_huge) : -1;
            run_test(m, &tests[it], &a, (im * a.no_repack.n + ir) * n_tests + it + 1, n_runs, &r);
            double after = beside ? membw_now(mb.bytes, tg_threads, r.membw_huge) : -1;
            r.membw_gbps = have_membw ? membw_at(&mb, r.n_threads_used, r.membw_huge) : -1;
            if (beside && (before > 0 || after > 0) && r.n_threads_used == tg_threads)
                r.membw_gbps = before > after ? before : after;
            r.membw_1t_gbps = have_membw ? membw_at(&mb, 1, r.membw_huge) : -1;
            if (a.fmt == OUT_MD) md_row(&L, &r);
            else if (a.fmt == OUT_JSON) {
                if (done) out_printf(",\n");
                print_json_object(&r, cpu_info, false);
            }
            else if (a.fmt == OUT_JSONL) print_json_object(&r, cpu_info, true);
            else print_csv_row(&r, cpu_info);
            out_flush();
            done++;
            free(r.samples_ns);
        }
        gemma_model_free(m);
    }

    if (a.fmt == OUT_JSON) out_printf("%s]\n", done ? "\n" : "");
    if (a.fmt == OUT_MD) {
        if (any_tg || have_membw) out_printf("\n");
        if (any_tg)
            for (int im = 0; im < a.n_models; im++) {
                const char *base = strrchr(a.models[im], '/');
                out_printf("weights read per generated token: %.2f MiB (%s, %s)\n",
                           (double)wbt[im] / (1 << 20), desc[im], base ? base + 1 : a.models[im]);
            }
        if (have_membw) {
            out_printf("memory read bandwidth:");
            for (int k = 0; k < mb.n; k++)
                out_printf("%s %.2f GB/s with %d thread%s", k ? "," : "", mb.gbps[k], mb.threads[k],
                           mb.threads[k] == 1 ? "" : "s");
            out_printf(" (%.2f GiB buffer, 4 KiB pages, best of %d passes)\n", (double)mb.bytes / (1ull << 30),
                       MEMBW_PASSES);
            if (mb.have_huge) {
                out_printf("memory read bandwidth in 2 MiB pages:");
                for (int k = 0; k < mb.n; k++)
                    out_printf("%s %.2f GB/s with %d thread%s", k ? "," : "", mb.huge[k], mb.threads[k],
                               mb.threads[k] == 1 ? "" : "s");
                out_printf(" (the %% of membw of a model repacked into 2 MiB pages is against these)\n");
            }
            if (any_tg && !a.membw_once)
                out_printf("(measured at the start; each tg row's %% of membw is against the better of two "
                           "measurements right before and after it, with its threads, in its pages)\n");
        }
        out_printf("\nbuild: %s (%d)\n", GEMMA_BUILD_COMMIT, GEMMA_BUILD_NUMBER);
    }
    out_flush();
    free(wbt);
    free(desc);
    free(tests);
    return 0;
}
