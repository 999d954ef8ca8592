/* test_fixtures.c - every model fixture in tests/fixtures/models: our logits against
 * llama.cpp's, in one batch and token by token, within the fixture's atol / top1_min, plus
 * the reference greedy continuation where the fixture has one. The model is loaded as a user
 * loads it (weights repacked into the active set's panel layouts, unless GEMMA_NO_REPACK).
 * The batch runs once more with the tile kernels forced on for every matmul and once forced
 * off, on the model loaded with its weights in the file's layout (which the tiles read):
 * the tiles of the active kernel set, or where it has none, the AMX set on emulated tiles
 * (kernels/amx_ops.h) when the CPU runs it. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gemma.h"
#include "json.h"
#include "matmul.h"
#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "test.h"
#include "util.h"

typedef struct {
    char name[128];
    json_value *doc;
    int32_t *ids;
    int n_ids;
    int n_vocab;
    double atol, top1_min;
    bool last_only;
    float *ref;       /* expected logits */
    int ref_rows;
} fixture;

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

static bool load_fixture(fixture *f, const char *name) {
    char rel[256], err[GEMMA_ERR_LEN];
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(rel, sizeof rel, "models/%s.json", name);
    size_t len;
    char *text = read_file(fixture_path(rel), &len);
    if (!text) return false;
    f->doc = json_parse(text, len, err);
    free(text);
    if (!f->doc) return false;
    const json_value *ids = json_get(f->doc, "ids");
    f->n_ids = (int)json_len(ids);
    f->ids = malloc((size_t)f->n_ids * sizeof(int32_t));
    for (int i = 0; i < f->n_ids; i++) f->ids[i] = (int32_t)json_num(json_at(ids, (size_t)i));
    f->n_vocab = (int)json_num(json_get(f->doc, "n_vocab"));
    f->atol = json_num(json_get(f->doc, "atol"));
    f->top1_min = json_num(json_get(f->doc, "top1_min"));
    const char *rows = json_str(json_get(f->doc, "logits_rows"));
    f->last_only = rows && !strcmp(rows, "last");
    snprintf(rel, sizeof rel, "models/%s", json_str(json_get(f->doc, "logits")));
    /* cppcheck-suppress invalidPointerCast ; the file holds little-endian IEEE floats and
     * read_file's buffer is malloc'd, so suitably aligned */
    f->ref = (float *)read_file(fixture_path(rel), &len);
    f->ref_rows = f->ref ? (int)(len / sizeof(float) / (size_t)f->n_vocab) : 0;
    return f->ref != NULL && f->n_ids > 0;
}

static void free_fixture(fixture *f) {
    json_free(f->doc);
    free(f->ids);
    free(f->ref);
}

/* Compare our rows with the reference: max |diff| per row <= atol, and the argmax agrees on
 * at least top1_min of the rows. */
static void compare(const fixture *f, const float *ours, const char *mode) {
    int rows = f->last_only ? 1 : f->n_ids;
    int first = f->last_only ? f->n_ids - 1 : 0;
    EXPECT(f->ref_rows == rows, "reference has %d rows, expected %d", f->ref_rows, rows);
    if (f->ref_rows != rows) return;
    double worst = 0;
    int worst_row = 0, agree = 0;
    bool finite = true;
    for (int r = 0; r < rows; r++) {
        const float *a = ours + (size_t)(first + r) * f->n_vocab, *b = f->ref + (size_t)r * f->n_vocab;
        for (int i = 0; i < f->n_vocab; i++) {
            if (!isfinite(a[i])) finite = false;
            double d = fabs((double)a[i] - b[i]);
            if (d > worst) { worst = d; worst_row = r; }
        }
        agree += argmax(a, f->n_vocab) == argmax(b, f->n_vocab);
    }
    EXPECT(finite, "%s: non-finite logits", mode);
    EXPECT(worst <= f->atol, "%s: max |dlogit| %.4g at row %d > atol %.4g", mode, worst, first + worst_row, f->atol);
    EXPECT(agree >= f->top1_min * rows - 1e-9, "%s: top-1 agreement %d/%d < %.3f", mode, agree, rows, f->top1_min);
    printf("     %s %s: max |dlogit| %.4g (atol %.4g, %.0f%%), top-1 %d/%d\n", f->name, mode, worst,
           f->atol, 100 * worst / f->atol, agree, rows);
}

/* Run argv (argv[0] = program path), stdin from /dev/null, stderr discarded; returns the
 * malloc'd stdout (NUL-terminated) and the exit status in *status. */
static char *run_capture(char *const argv[], size_t *len, int *status) {
    int fd[2];
    if (pipe(fd) != 0) return NULL;
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return NULL; }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(fd[0], buf + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd[0]);
    waitpid(pid, status, 0);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Fixtures with a "prompt" text (real vocabulary): the text must tokenize to prompt_ids
 * (BOS added, special tokens parsed), and plain --temp 0 completion through the CLI must
 * print exactly the reference continuation's text (--raw: the prompt is already written in
 * the turn markup, so it must not be wrapped in another chat turn). */
static void run_prompt_checks(const fixture *f, gemma_model *m, const char *gguf) {
    const char *prompt = json_str(json_get(f->doc, "prompt"));
    const json_value *greedy = json_get(f->doc, "greedy");
    if (!prompt) return;
    TEST_BEGIN("fixture %s: prompt tokenizes to prompt_ids", f->name);
    const json_value *want = json_get(f->doc, "prompt_ids");
    int n;
    int32_t *ids = gemma_tokenize(m, prompt, strlen(prompt), true, true, &n);
    EXPECT(n == (int)json_len(want), "%d ids, want %zu", n, json_len(want));
    for (int i = 0; i < n && i < (int)json_len(want); i++)
        EXPECT(ids[i] == (int32_t)json_num(json_at(want, (size_t)i)), "id %d: %d, want %d", i, ids[i],
               (int)json_num(json_at(want, (size_t)i)));
    free(ids);
    TEST_END();

    const char *text = json_str(json_get(greedy, "text"));
    const char *bin = getenv("GEMMA_BIN");
    if (!text) return;
    if (!bin) { test_skip("fixture %s: CLI completion (GEMMA_BIN not set)", f->name); return; }
    TEST_BEGIN("fixture %s: `gemma --raw -p PROMPT --temp 0 -n 16 --ignore-eos` prints the reference text", f->name);
    char nstr[16];
    snprintf(nstr, sizeof nstr, "%zu", json_len(json_get(greedy, "ids")));
    char *argv[] = {(char *)bin, "-m", (char *)gguf, "-p", (char *)prompt, "--temp", "0",
                    "-n", nstr, "--ignore-eos", "--raw", NULL};
    size_t len = 0;
    int status = -1;
    char *out = run_capture(argv, &len, &status);
    EXPECT(out && WIFEXITED(status) && WEXITSTATUS(status) == 0, "gemma failed (status %d)", status);
    EXPECT(out && len == strlen(text) && memcmp(out, text, len) == 0, "stdout '%s'\n    want   '%s'",
           out ? out : "", text);
    free(out);
    TEST_END();
}

/* The kernel set whose tiles the "on" / "off" cases use (KERNELS_COUNT: none). */
static kernel_set_id tile_set = KERNELS_COUNT;

static void run_fixture(const char *name) {
    fixture f = {0};
    char err[GEMMA_ERR_LEN];
    TEST_BEGIN("fixture %s: loads", name);
    bool ok = load_fixture(&f, name);
    EXPECT(ok, "cannot read fixture files for %s", name);
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", name);
    gemma_model *m = ok ? gemma_model_load(fixture_path(rel), err) : NULL;
    EXPECT(m != NULL, "load failed: %s", err);
    if (m) {
        gemma_model_info info;
        gemma_model_get_info(m, &info);
        EXPECT(info.n_vocab == f.n_vocab, "n_vocab %d, fixture says %d", info.n_vocab, f.n_vocab);
        const char *arch = json_str(json_get(f.doc, "arch"));
        EXPECT(arch && !strcmp(arch, info.arch), "arch %s, fixture says %s", info.arch, arch ? arch : "?");
    }
    TEST_END();
    if (!m) { free_fixture(&f); return; }

    size_t V = (size_t)f.n_vocab;
    float *logits = malloc((size_t)f.n_ids * V * sizeof(float));

    /* one batch, all positions */
    TEST_BEGIN("fixture %s: batch", name);
    gemma_context_params cp = {.n_ctx = f.n_ids + 16, .n_threads = 2, .n_batch = f.n_ids};
    gemma_context *c = gemma_context_new(m, &cp, err);
    EXPECT(c != NULL, "context: %s", err);
    if (c) {
        int rc = gemma_eval(c, f.ids, f.n_ids, logits, true, err);
        EXPECT(rc == 0, "eval: %s", err);
        if (rc == 0) compare(&f, logits, "batch");
        gemma_context_free(c);
    }
    TEST_END();

    /* the tile kernels forced on for every matmul, even single tokens, and forced off (the
     * batch above uses them from their minimum batch up when the active set has them) */
    if (tile_set != KERNELS_COUNT) {
        static const struct { int min_rows; const char *what, *mode; } tile_modes[] = {
            {1, "every matmul on the tiles", "tiles-on"}, {0, "tiles off", "tiles-off"}};
        kernel_set_id before = kernels_select(tile_set);
        gemma_model *mf = gemma_model_load_params(fixture_path(rel), &(gemma_model_params){.no_repack = true}, err);
        for (int k = 0; k < 2 && mf; k++) {
            TEST_BEGIN("fixture %s: batch, weights in the file's layout, %s (%s)", name, tile_modes[k].what,
                       kernel_set_name(tile_set));
            int old = matmul_set_tile_min_rows(tile_modes[k].min_rows);
            gemma_context_params pa = {.n_ctx = f.n_ids + 16, .n_threads = 2, .n_batch = f.n_ids};
            gemma_context *ca = gemma_context_new(mf, &pa, err);
            EXPECT(ca != NULL, "context: %s", err);
            if (ca) {
                int rc = gemma_eval(ca, f.ids, f.n_ids, logits, true, err);
                EXPECT(rc == 0, "eval: %s", err);
                if (rc == 0) compare(&f, logits, tile_modes[k].mode);
                gemma_context_free(ca);
            }
            matmul_set_tile_min_rows(old);
            TEST_END();
        }
        gemma_model_free(mf);
        kernels_select(before);
    }

    /* the thread count must not change the result: every output element is computed by one
     * thread, in the same order whatever the split */
    TEST_BEGIN("fixture %s: 1 and 2 threads give identical logits", name);
    {
        float *l1 = xmalloc((size_t)f.n_ids * V * sizeof(float));
        gemma_context_params p1 = {.n_ctx = f.n_ids + 16, .n_threads = 1, .n_batch = f.n_ids};
        gemma_context *c1 = gemma_context_new(m, &p1, err);
        EXPECT(c1 != NULL, "context: %s", err);
        if (c1) {
            int rc = gemma_eval(c1, f.ids, f.n_ids, l1, true, err);
            EXPECT(rc == 0, "eval: %s", err);
            gemma_context_params p2 = {.n_ctx = f.n_ids + 16, .n_threads = 2, .n_batch = f.n_ids};
            gemma_context *c2 = gemma_context_new(m, &p2, err);
            if (c2 && rc == 0 && gemma_eval(c2, f.ids, f.n_ids, logits, true, err) == 0)
                EXPECT(memcmp(l1, logits, (size_t)f.n_ids * V * sizeof(float)) == 0,
                       "logits differ between 1 and 2 threads");
            gemma_context_free(c2);
            gemma_context_free(c1);
        }
        free(l1);
    }
    TEST_END();

    /* token by token (decode), single thread */
    TEST_BEGIN("fixture %s: decode", name);
    cp = (gemma_context_params){.n_ctx = f.n_ids + 16, .n_threads = 1, .n_batch = 1};
    c = gemma_context_new(m, &cp, err);
    EXPECT(c != NULL, "context: %s", err);
    if (c) {
        int rc = 0;
        for (int i = 0; i < f.n_ids && rc == 0; i++) rc = gemma_eval(c, &f.ids[i], 1, logits + (size_t)i * V, false, err);
        EXPECT(rc == 0, "eval: %s", err);
        if (rc == 0) compare(&f, logits, "decode");
        gemma_context_free(c);
    }
    TEST_END();

    /* micro-batches smaller than the prompt (exercises the sliding-window ring buffer) */
    TEST_BEGIN("fixture %s: batches of 5", name);
    cp = (gemma_context_params){.n_ctx = f.n_ids, .n_threads = 2, .n_batch = 5};
    c = gemma_context_new(m, &cp, err);
    EXPECT(c != NULL, "context: %s", err);
    if (c) {
        int rc = gemma_eval(c, f.ids, f.n_ids, logits, true, err);
        EXPECT(rc == 0, "eval: %s", err);
        if (rc == 0) compare(&f, logits, "ubatch5");
        gemma_context_free(c);
    }
    TEST_END();

    /* greedy continuation */
    const json_value *greedy = json_get(f.doc, "greedy");
    if (greedy) {
        TEST_BEGIN("fixture %s: greedy continuation", name);
        const json_value *pids = json_get(greedy, "prompt_ids"), *gids = json_get(greedy, "ids");
        int np = (int)json_len(pids), ng = (int)json_len(gids);
        int32_t *p = malloc((size_t)(np + 1) * sizeof(int32_t));
        for (int i = 0; i < np; i++) p[i] = (int32_t)json_num(json_at(pids, (size_t)i));
        cp = (gemma_context_params){.n_ctx = np + ng + 1, .n_threads = 2, .n_batch = 0};
        c = gemma_context_new(m, &cp, err);
        EXPECT(c != NULL, "context: %s", err);
        if (c) {
            int rc = gemma_eval(c, p, np, logits, false, err);
            for (int k = 0; k < ng && rc == 0; k++) {
                int32_t next = (int32_t)argmax(logits, f.n_vocab);
                int32_t want = (int32_t)json_num(json_at(gids, (size_t)k));
                EXPECT(next == want, "step %d: got %d, want %d", k, next, want);
                if (next != want) break;
                rc = gemma_eval(c, &next, 1, logits, false, err);
            }
            EXPECT(rc == 0, "eval: %s", err);
            gemma_context_free(c);
        }
        free(p);
        TEST_END();
    }
    run_prompt_checks(&f, m, fixture_path(rel));
    free(logits);
    gemma_model_free(m);
    free_fixture(&f);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void suite_fixtures(void) {
    if (kernels_active()->tile.group) tile_set = kernels_active()->id;
    else if (kernel_set_supported(cpu_get(), KERNELS_AMX_EMULATED)) tile_set = KERNELS_AMX_EMULATED;
    else if (kernel_set_supported(cpu_get(), KERNELS_AMX_AVX512_EMULATED)) tile_set = KERNELS_AMX_AVX512_EMULATED;
    if (tile_set == KERNELS_COUNT)
        test_skip("fixtures: tiles on/off cases (the active set has no tile kernels, and this CPU cannot run the "
                  "emulated AMX ones)");
    else if (tile_set != kernels_active()->id)
        test_skip("fixtures: tiles on/off cases run on %s (the active set has no tile kernels)",
                  kernel_set_name(tile_set));
    DIR *d = opendir(fixture_path("models"));
    TEST_BEGIN("fixtures: directory %s exists", fixture_path("models"));
    EXPECT(d != NULL, "cannot open the fixture directory");
    TEST_END();
    if (!d) return;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) {
            names[n] = malloc(len - 4);
            memcpy(names[n], e->d_name, len - 5);
            names[n][len - 5] = 0;
            n++;
        }
    }
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        run_fixture(names[i]);
        free(names[i]);
    }
}
