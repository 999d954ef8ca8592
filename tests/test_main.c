/* test_main.c - runs every suite and prints the summary line CI reads.
 * Usage: test_runner [SUBSTRING | =NAME ...]   the suites whose name contains a SUBSTRING or
 *                                               is exactly a NAME; all of them without one
 *        test_runner --list                    the suite names, one a line (tests/run.sh
 *                                               runs each as a part of its own) */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int n_passed, n_failed, n_skipped;
static char case_name[512];
static int case_failures;
static bool in_case;

void test_begin(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(case_name, sizeof case_name, fmt, ap);
    va_end(ap);
    case_failures = 0;
    in_case = true;
}

void test_failf(const char *file, int line, const char *fmt, ...) {
    if (case_failures < 5) { /* keep logs readable: the first few failures of a case */
        fprintf(stdout, "    %s:%d: ", file, line);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
    }
    case_failures++;
}

void test_end(void) {
    if (!in_case) return;
    if (case_failures == 0) {
        n_passed++;
        printf("ok   %s\n", case_name);
    } else {
        n_failed++;
        printf("FAIL %s (%d failed checks)\n", case_name, case_failures);
    }
    fflush(stdout);
    in_case = false;
}

void test_skip(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("skip %s\n", buf);
    n_skipped++;
}

const char *fixture_path(const char *rel) {
    static char buf[4096];
    const char *dir = getenv("GEMMA_FIXTURES");
    if (!dir || !*dir) dir = "tests/fixtures";
    snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    return buf;
}

char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(fp); return NULL; }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(fp); return NULL; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, fp);
        if (r == 0) break;
        n += r;
    }
    fclose(fp);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

const char *tmp_dir(void) {
    mkdir("build", 0755);
    mkdir("build/tmp", 0755);
    return "build/tmp";
}

static const struct { const char *name; void (*fn)(void); } suites[] = {
    {"gguf", suite_gguf},
    {"quants", suite_quants},
    {"tokenizer", suite_tokenizer},
    {"sampler", suite_sampler},
    {"grammar", suite_grammar},
    {"schema", suite_json_schema},
    {"toolcall", suite_toolcall},
    {"constrained", suite_constrained},
    {"step", suite_step},
    {"threads", suite_threads},
    {"model", suite_model},
    {"fixtures", suite_fixtures},
    {"kvcache", suite_kvcache},
    {"batch", suite_batch},
    {"lineedit", suite_lineedit},
    {"chat", suite_chat},
    {"stream", suite_stream},
    {"http", suite_http},
    {"serve", suite_serve},
    {"mkmodel", suite_mkmodel},
    {"quantize", suite_quantize},
    {"perplexity", suite_perplexity},
    {"simd", suite_simd},
    {"panels", suite_panels},
    {"amx", suite_amx},
    {"neon", suite_neon},
    {"regress", suite_regress},
    {"dump", suite_dump},
};

/* "=model" names the model suite alone; "model" also matches mkmodel. */
static bool selected(const char *suite, const char *arg) {
    return arg[0] == '=' ? strcmp(suite, arg + 1) == 0 : strstr(suite, arg) != NULL;
}

int main(int argc, char **argv) {
    size_t n_suites = sizeof suites / sizeof suites[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n_suites; i++) printf("%s\n", suites[i].name);
        return 0;
    }
    for (size_t i = 0; i < n_suites; i++) {
        bool run = argc < 2;
        for (int a = 1; a < argc; a++)
            if (selected(suites[i].name, argv[a])) run = true;
        if (!run) continue;
        printf("# suite %s\n", suites[i].name);
        fflush(stdout);
        suites[i].fn();
    }
    if (n_skipped) printf("%d passed, %d failed, %d skipped\n", n_passed, n_failed, n_skipped);
    else printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}
