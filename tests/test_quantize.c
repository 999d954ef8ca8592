/* test_quantize.c - `gemma quantize`: byte identity with files llama-quantize wrote (where
 * the fixtures include the source), the mixture rules, preserved metadata, logits of the
 * quantized models, and the errors.
 *
 * The command runs in a child process through cmd_quantize(), the real CLI entry point, so
 * exit codes are observed as a user sees them (and a crash cannot take the runner down).
 *
 * Which fixtures can be compared byte for byte (NOTES.md, the json "notes"):
 *   gemma4-moe-q8_0  = llama-quantize --pure Q8_0 of gemma4-moe-f32 (a fixture): whole file;
 *   gemma2-f16, gemma4-dense-bf16: made from F32 files that are not fixtures, but F16/BF16 ->
 *       F32 is exact, so our F32 -> F16/BF16 of the dequantized file must rebuild the file;
 *   gemma3-q8_0 / -q4_0: their F32 source ('gemma3k') is not a fixture; Q8_0 and Q4_0
 *       re-quantize their own dequantization exactly, so dequantize + quantize must rebuild
 *       the file too;
 *   gemma3-q4_k / -q6_k / -q4_k_m: K-quants are not idempotent (the scale search sees other
 *       values), so there only the metadata, tensor order and tensor types (the whole header)
 *       can be compared, and the logits. */
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "gemma.h"
#include "gguf.h"
#include "gguf_write.h"
#include "json.h"
#include "kernels/quant.h"
#include "test.h"

/* ---------------------------------------------------------------------------------------
 * Running the command */

static char log_path[512];

/* `gemma quantize ARGS...` (ending at a null pointer) in a child; stderr goes to log_path.
 * Returns the exit status, or -1 if the child did not exit normally. */
static int run_quantize(const char *first, ...) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"gemma";
    argv[argc++] = (char *)"quantize";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    snprintf(log_path, sizeof log_path, "%s/quantize.log", tmp_dir());
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        int rc = cmd_quantize(argc, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

/* quantize(ARGS...) = run_quantize with the terminator added, typed as va_arg reads it (a bare
 * NULL may be a plain int 0 when passed through "..."). */
#define quantize(...) run_quantize(__VA_ARGS__, (const char *)NULL)

/* Lines in the log of the last run (error messages must be one line). */
static int log_lines(void) {
    size_t len;
    char *s = read_file(log_path, &len);
    int n = 0;
    for (size_t i = 0; s && i < len; i++) n += s[i] == '\n';
    free(s);
    return n;
}

#define PATH_LEN 512
typedef char path_buf[PATH_LEN];

/* A scratch file under build/tmp. */
static const char *tmp_path(path_buf buf, const char *name) {
    snprintf(buf, PATH_LEN, "%s/q_%s", tmp_dir(), name);
    return buf;
}

static char *model_path(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", name);
    return strdup(fixture_path(rel));
}

static bool files_equal(const char *a, const char *b, size_t *first_diff) {
    size_t la, lb;
    char *x = read_file(a, &la), *y = read_file(b, &lb);
    bool eq = x && y && la == lb && memcmp(x, y, la) == 0;
    *first_diff = 0;
    if (x && y && !eq) {
        size_t n = la < lb ? la : lb;
        while (*first_diff < n && x[*first_diff] == y[*first_diff]) (*first_diff)++;
    }
    free(x);
    free(y);
    return eq;
}

/* ---------------------------------------------------------------------------------------
 * Fixture facts: ids and the calibration numbers. */

typedef struct {
    int32_t *ids;
    int n_ids;
    double logit_std;
    double vs_f32_source;   /* NAN if none */
} fixture_info;

static bool read_fixture(const char *name, fixture_info *fi) {
    char rel[256], err[GEMMA_ERR_LEN];
    size_t len;
    snprintf(rel, sizeof rel, "models/%s.json", name);
    char *text = read_file(fixture_path(rel), &len);
    if (!text) return false;
    json_value *doc = json_parse(text, len, err);
    free(text);
    if (!doc) return false;
    const json_value *ids = json_get(doc, "ids");
    fi->n_ids = (int)json_len(ids);
    fi->ids = malloc((size_t)(fi->n_ids ? fi->n_ids : 1) * sizeof(int32_t));
    for (int i = 0; i < fi->n_ids; i++) fi->ids[i] = (int32_t)json_num(json_at(ids, (size_t)i));
    const json_value *cal = json_get(doc, "calibration");
    fi->logit_std = json_num(json_get(cal, "logit_std"));
    fi->vs_f32_source = json_num(json_get(cal, "vs_f32_source"));
    json_free(doc);
    return fi->n_ids > 0;
}

/* ---------------------------------------------------------------------------------------
 * Logits of a model file: every position of ids, one batch. */

static float *model_logits(const char *path, const fixture_info *fi, int *n_vocab, char *err) {
    gemma_model *m = gemma_model_load(path, err);
    if (!m) return NULL;
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    gemma_context_params cp = {.n_ctx = fi->n_ids + 8, .n_threads = 2, .n_batch = fi->n_ids};
    gemma_context *c = gemma_context_new(m, &cp, err);
    float *out = NULL;
    if (c) {
        out = malloc((size_t)fi->n_ids * (size_t)info.n_vocab * sizeof(float));
        if (gemma_eval(c, fi->ids, fi->n_ids, out, true, err)) {
            free(out);
            out = NULL;
        }
        gemma_context_free(c);
    }
    *n_vocab = info.n_vocab;
    gemma_model_free(m);
    return out;
}

static double max_abs_diff(const float *a, const float *b, size_t n, bool *finite) {
    double worst = 0;
    *finite = true;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) *finite = false;
        double d = fabs((double)a[i] - b[i]);
        if (d > worst) worst = d;
    }
    return worst;
}

/* ---------------------------------------------------------------------------------------
 * Comparing GGUF files: metadata and tensor types. */

static uint64_t rd_u64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Bytes of a KV's payload in the file (all inside the mapping, validated by gguf_open). */
static uint64_t kv_payload_size(const gguf_kv *kv) {
    static const uint8_t sizes[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (kv->type == GGUF_STRING) return 8 + rd_u64(kv->data);
    if (kv->type != GGUF_ARRAY) return sizes[kv->type];
    if (kv->arr_type != GGUF_STRING) return kv->arr_n * sizes[kv->arr_type];
    uint64_t off = 0;
    for (uint64_t i = 0; i < kv->arr_n; i++) off += 8 + rd_u64(kv->data + off);
    return off;
}

static bool kv_equal(const gguf_kv *a, const gguf_kv *b) {
    if (a->type != b->type) return false;
    if (a->type == GGUF_ARRAY && (a->arr_type != b->arr_type || a->arr_n != b->arr_n)) return false;
    uint64_t n = kv_payload_size(a);
    return n == kv_payload_size(b) && memcmp(a->data, b->data, (size_t)n) == 0;
}

/* Every key of src is in out with the same value, except general.file_type (= ftype) and
 * general.quantization_version (= 2); out has no other keys. */
static void expect_metadata_kept(const gguf_file *src, const gguf_file *out, uint32_t ftype) {
    int missing = 0, changed = 0;
    for (uint64_t i = 0; i < src->n_kv; i++) {
        const gguf_kv *a = &src->kv[i];
        if (!strcmp(a->key, "general.file_type") || !strcmp(a->key, "general.quantization_version"))
            continue;
        const gguf_kv *b = gguf_find(out, a->key);
        if (!b) { if (missing++ < 3) EXPECT(false, "key %s missing", a->key); }
        else if (!kv_equal(a, b)) { if (changed++ < 3) EXPECT(false, "key %s changed", a->key); }
    }
    for (uint64_t i = 0; i < out->n_kv; i++) {
        const char *k = out->kv[i].key;
        EXPECT(gguf_find(src, k) || !strcmp(k, "general.file_type") ||
               !strcmp(k, "general.quantization_version"), "unexpected key %s", k);
    }
    uint32_t ft = 99, qv = 0;
    EXPECT(gguf_get_u32(out, "general.file_type", &ft, NULL) == 1 && ft == ftype,
           "general.file_type %u, want %u", ft, ftype);
    EXPECT(gguf_get_u32(out, "general.quantization_version", &qv, NULL) == 1 && qv == 2,
           "general.quantization_version %u, want 2", qv);
}

static uint32_t tensor_type(const gguf_file *f, const char *name) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    return t ? t->type : 9999;
}

#define EXPECT_TYPE(f, name, want)                                                              \
    do {                                                                                        \
        uint32_t got_ = tensor_type(f, name);                                                   \
        EXPECT(got_ == (uint32_t)(want), "%s: %s, want %s", name, quant_type_name(got_),          \
               quant_type_name(want));                                                           \
    } while (0)

/* Same tensors (names, shapes) as the source; 1-D tensors, norms and the other never-
 * quantized tensors keep their type. */
static void expect_tensors_kept(const gguf_file *src, const gguf_file *out) {
    EXPECT(src->n_tensors == out->n_tensors, "%llu tensors, source has %llu",
           (unsigned long long)out->n_tensors, (unsigned long long)src->n_tensors);
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const gguf_tensor *a = &src->tensors[i], *b = gguf_find_tensor(out, a->name);
        EXPECT(b != NULL, "tensor %s missing", a->name);
        if (!b) continue;
        EXPECT(memcmp(a->ne, b->ne, sizeof a->ne) == 0, "tensor %s changed shape", a->name);
        bool keep = (a->ne[1] == 1 && a->ne[2] == 1 && a->ne[3] == 1) || strstr(a->name, "_norm.weight") || strstr(a->name, "ffn_gate_inp") ||
               strstr(a->name, "per_layer_model_proj") || strstr(a->name, ".scale");
        if (keep) EXPECT(a->type == b->type, "%s: %s, should keep %s", a->name,
                         quant_type_name(b->type), quant_type_name(a->type));
    }
}

/* ---------------------------------------------------------------------------------------
 * Logit tolerances. Quantization moves a model's logits away from its source's; the fixtures
 * say how far llama.cpp's own quantization moved them (calibration.vs_f32_source: max
 * |dlogit| over all positions), but only for a few models, and random models differ a lot in
 * how much they amplify weight noise (the random gemma2 moves ten times more than gemma3k
 * under the same Q8_0 rounding). So each model's sensitivity is measured with a probe: every
 * quantizable matrix gets noise shaped like Q8_0's rounding error, u * amax / 256 per block
 * of 32 (u in [-1, 1] from a fixed hash, amax the block's largest magnitude), and the
 * tolerance for type T on model M is
 *     2 x vs_f32_source(T, calibrated model C) x probe(M) / probe(C).
 * Types without a calibrated fixture borrow the number of the closest calibrated type with
 * no more bits; below 4 bits, twice the 4-bit number per bit removed (one bit less doubles
 * the quantization step). */

typedef struct {
    const char *type;
    const char *calib;       /* fixture holding vs_f32_source */
    const char *calib_model; /* the source (label) that fixture was made from, as we have it */
    double factor;           /* multiplies the calibrated distance */
} tol_rule;

static const tol_rule tol_rules[] = {
    {"Q8_0", "gemma3-q8_0", "gemma3k", 2},      {"Q6_K", "gemma3-q6_k", "gemma3k", 2},
    {"Q5_K_M", "gemma3-q4_k_m", "gemma3k", 2},  {"Q5_K_S", "gemma3-q4_k", "gemma3k", 2},
    {"Q5_0", "gemma3-q4_0", "gemma3k", 2},      {"Q5_1", "gemma3-q4_0", "gemma3k", 2},
    {"Q4_K_M", "gemma3-q4_k_m", "gemma3k", 2},  {"Q4_K_S", "gemma3-q4_k", "gemma3k", 2},
    {"Q4_K", "gemma3-q4_k", "gemma3k", 2},      {"Q4_0", "gemma3-q4_0", "gemma3k", 2},
    {"Q4_1", "gemma3-q4_0", "gemma3k", 2},      {"Q3_K_M", "gemma3-q4_k", "gemma3k", 4},
    {"Q3_K_S", "gemma3-q4_k", "gemma3k", 4},    {"Q3_K_L", "gemma3-q4_k", "gemma3k", 4},
    {"Q2_K", "gemma3-q4_k", "gemma3k", 8},      {"F16", "gemma2-f16", "gemma2-f16", 2},
    {"BF16", "gemma4-dense-bf16", "gemma4-dense-bf16", 2},
};

/* A source model with what the checks need. */
typedef struct {
    const char *label;
    path_buf path;           /* the file quantized */
    fixture_info fi;         /* ids to feed */
    float *logits;           /* the source's logits over fi.ids */
    int n_vocab;
    double probe;            /* sensitivity: max |dlogit| under the probe perturbation */
} source_model;

static uint32_t hash32(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static int perturb_fill(void *ctx, const gguf_writer_tensor *t, void *dst, int64_t row0,
                        int64_t n_rows, char *err) {
    (void)err;
    const gguf_tensor *src = ctx;
    const int64_t ne0 = t->ne[0];
    const float *x = (const float *)src->data + row0 * ne0;
    float *y = dst;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t b = 0; b < ne0; b += 32) {  /* blocks of 32, like Q8_0 */
            int64_t end = b + 32 < ne0 ? b + 32 : ne0;
            float amax = 0;
            for (int64_t i = b; i < end; i++) amax = fmaxf(amax, fabsf(x[r * ne0 + i]));
            for (int64_t i = b; i < end; i++) {
                uint64_t idx = (uint64_t)((row0 + r) * ne0 + i);
                double u = hash32(idx * 131 + strlen(src->name)) / 2147483648.0 - 1.0;
                y[r * ne0 + i] = x[r * ne0 + i] + (float)u * amax / 256.0f;
            }
        }
    return 0;
}

static bool is_probed(const gguf_tensor *t) {
    size_t n = strlen(t->name);
    return t->type == GGML_TYPE_F32 && t->ne[1] > 1 && n > 6 && !strcmp(t->name + n - 6, "weight") &&
           !strstr(t->name, "_norm.weight") && !strstr(t->name, "ffn_gate_inp") &&
           !strstr(t->name, "per_layer_model_proj");
}

/* The probe: convert the source to F32 (exact for F16/BF16/Q8_0 data), perturb, compare the
 * perturbed model's logits with the unperturbed F32 model's. */
static double measure_probe(const source_model *sm, char *err) {
    path_buf f32, pert;
    tmp_path(f32, "probe-f32.gguf");
    tmp_path(pert, "probe-perturbed.gguf");
    if (quantize(sm->path, f32, "F32", "--allow-requantize") != 0) {
        snprintf(err, GEMMA_ERR_LEN, "F32 conversion failed");
        return NAN;
    }
    gguf_file *f = gguf_open(f32, err);
    if (!f) return NAN;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_copy_kvs(w, f, NULL);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (is_probed(t)) gguf_writer_add_tensor_fill(w, t->name, t->type, t->n_dims, t->ne, perturb_fill, (void *)t);
        else gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    int rc = gguf_writer_write(w, pert, err);
    gguf_writer_free(w);
    gguf_close(f);
    if (rc) return NAN;
    int nv0 = 0, nv1 = 0;
    float *a = model_logits(f32, &sm->fi, &nv0, err);
    float *b = a ? model_logits(pert, &sm->fi, &nv1, err) : NULL;
    double d = NAN;
    bool finite;
    if (a && b && nv0 == nv1) d = max_abs_diff(a, b, (size_t)sm->fi.n_ids * (size_t)nv0, &finite);
    free(a);
    free(b);
    return d;
}

static const source_model *find_source(const source_model *s, int n, const char *label) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s[i].label, label)) return &s[i];
    return NULL;
}

/* The tolerance for type on model m (NAN if it cannot be derived). */
static double tolerance(const char *type, const source_model *m, const source_model *all, int n) {
    for (size_t i = 0; i < sizeof tol_rules / sizeof tol_rules[0]; i++) {
        if (strcmp(tol_rules[i].type, type)) continue;
        fixture_info fi = {0};
        if (!read_fixture(tol_rules[i].calib, &fi)) return NAN;
        free(fi.ids);
        const source_model *c = find_source(all, n, tol_rules[i].calib_model);
        if (!c || !(c->probe > 0)) return NAN;
        return tol_rules[i].factor * fi.vs_f32_source * m->probe / c->probe;
    }
    return NAN;
}

/* ---------------------------------------------------------------------------------------
 * Cases */

/* Quantize a source to TYPE and check the result: exit 0, loads, metadata kept, never-
 * quantized tensors kept, logits within tolerance of the source's. */
static void check_quantization(const source_model *sm, const source_model *all, int n_all,
                               const char *type, uint32_t ftype, bool pure) {
    TEST_BEGIN("quantize: %s -> %s%s: loads, metadata kept, logits within tolerance", sm->label,
               type, pure ? " --pure" : "");
    char name[128];
    path_buf out;
    snprintf(name, sizeof name, "%s-%s%s.gguf", sm->label, type, pure ? "-pure" : "");
    tmp_path(out, name);
    int rc = pure ? quantize(sm->path, out, type, "-t", "2", "--pure")
                  : quantize(sm->path, out, type, "-t", "2");
    EXPECT(rc == 0, "exit %d (log %s)", rc, log_path);
    char err[GEMMA_ERR_LEN] = "";
    gguf_file *s = gguf_open(sm->path, err), *o = rc == 0 ? gguf_open(out, err) : NULL;
    EXPECT(o != NULL, "output does not open: %s", err);
    if (s && o) {
        expect_metadata_kept(s, o, ftype);
        expect_tensors_kept(s, o);
    }
    gguf_close(o);
    gguf_close(s);
    int nv = 0;
    float *q = rc == 0 ? model_logits(out, &sm->fi, &nv, err) : NULL;
    EXPECT(q != NULL, "quantized model does not run: %s", err);
    if (q) {
        EXPECT(nv == sm->n_vocab, "n_vocab %d, source %d", nv, sm->n_vocab);
        bool finite;
        double d = max_abs_diff(q, sm->logits, (size_t)sm->fi.n_ids * (size_t)sm->n_vocab, &finite);
        double tol = tolerance(type, sm, all, n_all);
        EXPECT(finite, "non-finite logits");
        EXPECT(d <= tol, "max |dlogit| vs source %.4g > tolerance %.4g", d, tol);
        printf("     %s -> %s%s: max |dlogit| vs source %.4g, tolerance %.4g (probe %.3g)\n",
               sm->label, type, pure ? " --pure" : "", d, tol, sm->probe);
    }
    free(q);
    TEST_END();
}

static const struct { const char *name; uint32_t ftype; } ftypes[] = {
    {"Q8_0", 7}, {"Q4_0", 2}, {"Q4_1", 3}, {"Q5_0", 8}, {"Q5_1", 9}, {"Q2_K", 10}, {"Q3_K_S", 11}, {"Q3_K_M", 12}, {"Q3_K_L", 13},
    {"Q4_K_S", 14}, {"Q4_K_M", 15}, {"Q4_K", 15}, {"Q5_K_S", 16}, {"Q5_K_M", 17}, {"Q6_K", 18},
    {"F16", 1}, {"BF16", 32}, {"F32", 0}, {"MXFP4_MOE", 38},
};

static uint32_t ftype_of(const char *type) {
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (!strcmp(ftypes[i].name, type)) return ftypes[i].ftype;
    return 9999;
}

/* Dequantize a fixture to F32 with our own command (--allow-requantize) into out. */
static bool dequantize(const char *fixture, const char *out) {
    char *path = model_path(fixture);
    int rc = quantize(path, out, "F32", "--allow-requantize", "-t", "2");
    free(path);
    return rc == 0;
}

/* Load a source: its ids, logits and probe. One test case each. */
static bool prepare_source(source_model *sm, const char *label, const char *fixture, bool dequant) {
    TEST_BEGIN("quantize: source %s runs (sensitivity probe)", label);
    char err[GEMMA_ERR_LEN] = "";
    sm->label = label;
    bool ok = read_fixture(fixture, &sm->fi);
    EXPECT(ok, "cannot read fixture %s", fixture);
    if (dequant) {
        char name[128];
        snprintf(name, sizeof name, "%s-f32.gguf", label);
        ok = ok && dequantize(fixture, tmp_path(sm->path, name));
    } else {
        char *p = model_path(fixture);
        snprintf(sm->path, PATH_LEN, "%s", p);
        free(p);
    }
    sm->logits = ok ? model_logits(sm->path, &sm->fi, &sm->n_vocab, err) : NULL;
    EXPECT(sm->logits != NULL, "source does not run: %s", err);
    sm->probe = sm->logits ? measure_probe(sm, err) : NAN;
    EXPECT(sm->probe > 0, "probe failed: %s", err);
    if (sm->probe > 0) printf("     %s: probe max |dlogit| %.4g\n", label, sm->probe);
    TEST_END();
    return sm->logits && sm->probe > 0;
}

/* Every F32/F16/BF16 fixture model to Q8_0, Q4_0 and Q4_K_M; the K-quant types need rows
 * of 256, so they run on 'gemma3k', the model of the gemma3-q* fixtures (its F32 source is
 * not a fixture: its Q8_0 file dequantized stands in for it). */
static void test_logits(void) {
    static const struct { const char *label, *fixture; bool dequant; } list[] = {
        {"gemma1-f32", "gemma1-f32", false},         {"gemma2-f16", "gemma2-f16", false},
        {"gemma3-f32", "gemma3-f32", false},         {"gemma4-moe-f32", "gemma4-moe-f32", false},
        {"gemma4-ple-f32", "gemma4-ple-f32", false}, {"gemma4-dense-bf16", "gemma4-dense-bf16", false},
        {"gemma3k", "gemma3-q8_0", true},
    };
    enum { N = sizeof list / sizeof list[0] };
    source_model src[N];
    memset(src, 0, sizeof src);
    bool ok[N];
    for (int i = 0; i < N; i++) ok[i] = prepare_source(&src[i], list[i].label, list[i].fixture, list[i].dequant);

    static const char *const basic[] = {"Q8_0", "Q4_0", "Q4_K_M"};
    for (int i = 0; i < N - 1; i++)
        for (size_t t = 0; t < 3 && ok[i]; t++)
            check_quantization(&src[i], src, N, basic[t], ftype_of(basic[t]), false);

    static const char *const k_types[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
                                          "Q6_K", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16", "BF16"};
    if (ok[N - 1]) {
        for (size_t t = 0; t < sizeof k_types / sizeof k_types[0]; t++)
            check_quantization(&src[N - 1], src, N, k_types[t], ftype_of(k_types[t]), false);
        check_quantization(&src[N - 1], src, N, "Q4_K_M", 15, true);
    }
    for (int i = 0; i < N; i++) {
        free(src[i].logits);
        free(src[i].fi.ids);
    }
}

/* Byte identity with llama-quantize's files. */
static void expect_same_file(const char *ours, const char *fixture) {
    char *want = model_path(fixture);
    size_t at;
    EXPECT(files_equal(ours, want, &at), "%s differs from %s (first difference at byte %zu)", ours,
           want, at);
    free(want);
}

static void test_byte_identity(void) {
    char *src = model_path("gemma4-moe-f32");
    path_buf out;
    tmp_path(out, "moe-q8_0.gguf");
    TEST_BEGIN("quantize: gemma4-moe-f32 --pure Q8_0 is byte-identical to llama-quantize's gemma4-moe-q8_0");
    EXPECT(quantize(src, out, "Q8_0", "--pure", "-t", "3") == 0, "quantize failed (%s)", log_path);
    expect_same_file(out, "gemma4-moe-q8_0");
    TEST_END();
    free(src);

    /* F16 / BF16 <-> F32 is exact both ways */
    static const struct { const char *fixture, *type; } halves[] = {
        {"gemma2-f16", "F16"}, {"gemma4-dense-bf16", "BF16"}};
    for (size_t i = 0; i < 2; i++) {
        TEST_BEGIN("quantize: %s -> F32 -> %s rebuilds the llama-quantize file byte for byte",
                   halves[i].fixture, halves[i].type);
        char *path = model_path(halves[i].fixture);
        path_buf f32, back;
        tmp_path(f32, "half-f32.gguf");
        tmp_path(back, "half-back.gguf");
        EXPECT(quantize(path, f32, "F32") == 0, "to F32 failed (%s)", log_path);
        EXPECT(quantize(f32, back, halves[i].type) == 0, "back failed (%s)", log_path);
        expect_same_file(back, halves[i].fixture);
        free(path);
        TEST_END();
    }

    /* Q8_0 and Q4_0 reproduce their own dequantization exactly: the whole file comes back */
    static const struct { const char *fixture, *type; bool pure; bool whole; } quants[] = {
        {"gemma3-q8_0", "Q8_0", true, true},   {"gemma3-q4_0", "Q4_0", true, true},
        {"gemma3-q4_k", "Q4_K_M", true, false}, {"gemma3-q6_k", "Q6_K", true, false},
        {"gemma3-q4_k_m", "Q4_K_M", false, false},
    };
    for (size_t i = 0; i < sizeof quants / sizeof quants[0]; i++) {
        TEST_BEGIN("quantize: %s dequantized, then %s%s: %s as llama-quantize's", quants[i].fixture,
                   quants[i].pure ? "--pure " : "", quants[i].type,
                   quants[i].whole ? "the same file" : "same header (metadata, order, tensor types)");
        path_buf f32, re;
        bool ok = dequantize(quants[i].fixture, tmp_path(f32, "requant-f32.gguf"));
        EXPECT(ok, "dequantize failed (%s)", log_path);
        tmp_path(re, "requant.gguf");
        int rc = !ok ? -1
                 : quants[i].pure ? quantize(f32, re, quants[i].type, "--pure")
                                  : quantize(f32, re, quants[i].type);
        EXPECT(rc == 0, "quantize failed (%s)", log_path);
        if (quants[i].whole) {
            expect_same_file(re, quants[i].fixture);
        } else if (rc == 0) {
            char err[GEMMA_ERR_LEN];
            char *want_path = model_path(quants[i].fixture);
            gguf_file *a = gguf_open(re, err), *b = gguf_open(want_path, err);
            EXPECT(a && b, "open: %s", err);
            if (a && b) {
                EXPECT(a->data_offset == b->data_offset && a->size == b->size &&
                       memcmp(a->base, b->base, (size_t)a->data_offset) == 0,
                       "headers differ (data offset %llu vs %llu)",
                       (unsigned long long)a->data_offset, (unsigned long long)b->data_offset);
                int diff_types = 0;
                for (uint64_t t = 0; t < b->n_tensors; t++)
                    diff_types += tensor_type(a, b->tensors[t].name) != b->tensors[t].type;
                EXPECT(diff_types == 0, "%d tensors got another type than llama-quantize chose", diff_types);
            }
            gguf_close(a);
            gguf_close(b);
            free(want_path);
        }
        TEST_END();
    }
}

/* The mixture rules on tensors whose type they decide (doc/gguf.md#quantization-mixes). */
static void test_mixture_rules(void) {
    char err[GEMMA_ERR_LEN];
    char *src = model_path("gemma3-f32");
    path_buf out;
    tmp_path(out, "rules.gguf");

    /* gemma3-f32: 6 layers, n_embd 64 (not a multiple of 256: every K-quant falls back) */
    TEST_BEGIN("quantize rules: Q4_K_M on 64-wide rows: use_more_bits layers 2 and 5, fallbacks, tied embedding");
    EXPECT(quantize(src, out, "Q4_K_M") == 0, "quantize failed (%s)", log_path);
    gguf_file *f = gguf_open(out, err);
    EXPECT(f != NULL, "%s", err);
    if (f) {
        char name[64];
        for (int il = 0; il < 6; il++) {
            bool more = il == 2 || il == 5;   /* use_more_bits(il, 6) */
            snprintf(name, sizeof name, "blk.%d.ffn_down.weight", il);  /* 128 wide */
            EXPECT_TYPE(f, name, more ? GGML_TYPE_Q8_0 : GGML_TYPE_Q5_0);  /* Q6_K / Q4_K fallbacks */
            snprintf(name, sizeof name, "blk.%d.attn_v.weight", il);
            EXPECT_TYPE(f, name, more ? GGML_TYPE_Q8_0 : GGML_TYPE_Q5_0);
            snprintf(name, sizeof name, "blk.%d.attn_q.weight", il);
            EXPECT_TYPE(f, name, GGML_TYPE_Q5_0);
            snprintf(name, sizeof name, "blk.%d.attn_q_norm.weight", il);
            EXPECT_TYPE(f, name, GGML_TYPE_F32);
        }
        EXPECT_TYPE(f, "token_embd.weight", GGML_TYPE_Q8_0);   /* tied: output rule, 64 % 256 */
        EXPECT_TYPE(f, "output_norm.weight", GGML_TYPE_F32);
    }
    gguf_close(f);
    TEST_END();

    TEST_BEGIN("quantize rules: Q6_K / Q2_K / Q3_K_M / Q5_K_S fall back to 32-element types on 64-wide rows");
    static const struct { const char *type; uint32_t q, embd; } fb[] = {
        {"Q6_K", GGML_TYPE_Q8_0, GGML_TYPE_Q8_0}, {"Q2_K", GGML_TYPE_Q4_0, GGML_TYPE_Q8_0},
        {"Q3_K_M", GGML_TYPE_Q4_0, GGML_TYPE_Q8_0}, {"Q5_K_S", GGML_TYPE_Q5_1, GGML_TYPE_Q8_0}};
    for (size_t i = 0; i < 4; i++) {
        EXPECT(quantize(src, out, fb[i].type) == 0, "%s failed (%s)", fb[i].type, log_path);
        f = gguf_open(out, err);
        if (!f) continue;
        EXPECT_TYPE(f, "blk.3.attn_q.weight", fb[i].q);
        EXPECT_TYPE(f, "token_embd.weight", fb[i].embd);
        gguf_close(f);
    }
    TEST_END();

    TEST_BEGIN("quantize rules: --pure Q4_K_M gives every quantizable matrix Q4_K (fallback aside)");
    path_buf k;
    bool ok = dequantize("gemma3-q8_0", tmp_path(k, "rules-g3k.gguf"));
    EXPECT(ok && quantize(k, out, "Q4_K_M", "--pure") == 0, "quantize failed (%s)", log_path);
    f = gguf_open(out, err);
    if (f) {
        int n_q4k = 0, n_f32 = 0;
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            n_q4k += f->tensors[i].type == GGML_TYPE_Q4_K;
            n_f32 += f->tensors[i].type == GGML_TYPE_F32;
        }
        EXPECT(n_q4k == 15 && n_f32 == 13, "%d Q4_K + %d F32, want 15 + 13", n_q4k, n_f32);
        EXPECT_TYPE(f, "token_embd.weight", GGML_TYPE_Q4_K);
        gguf_close(f);
    }
    TEST_END();
    free(src);

    /* The per-mix tweaks on gemma3k (2 layers, 256-wide rows, GQA 2): attn_v counts
     * tensors, ffn_down counts layers, use_more_bits(i, 2) is true for i = 1 only. */
    TEST_BEGIN("quantize rules: Q2_K, Q3_K_M, Q3_K_L, Q4_K_S, Q5_K_M, Q6_K choices for attn_v / ffn_down / attn_output / embedding");
    static const struct { const char *type; uint32_t v0, v1, down0, down1, out0, q, embd; } mix[] = {
        {"Q2_K", GGML_TYPE_Q3_K, GGML_TYPE_Q3_K, GGML_TYPE_Q3_K, GGML_TYPE_Q3_K, GGML_TYPE_Q3_K, GGML_TYPE_Q2_K, GGML_TYPE_Q6_K},
        {"Q3_K_M", GGML_TYPE_Q5_K, GGML_TYPE_Q5_K, GGML_TYPE_Q4_K, GGML_TYPE_Q4_K, GGML_TYPE_Q4_K, GGML_TYPE_Q3_K, GGML_TYPE_Q6_K},
        {"Q3_K_L", GGML_TYPE_Q5_K, GGML_TYPE_Q5_K, GGML_TYPE_Q5_K, GGML_TYPE_Q5_K, GGML_TYPE_Q5_K, GGML_TYPE_Q3_K, GGML_TYPE_Q6_K},
        {"Q4_K_S", GGML_TYPE_Q5_K, GGML_TYPE_Q5_K, GGML_TYPE_Q4_K, GGML_TYPE_Q4_K, GGML_TYPE_Q4_K, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K},
        {"Q5_K_M", GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q5_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K},
        {"Q6_K", GGML_TYPE_Q6_K, GGML_TYPE_Q6_K, GGML_TYPE_Q6_K, GGML_TYPE_Q6_K, GGML_TYPE_Q6_K, GGML_TYPE_Q6_K, GGML_TYPE_Q6_K},
        {"Q4_0", GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, GGML_TYPE_Q6_K},
        {"Q8_0", GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0},
    };
    path_buf g3k;
    bool have = dequantize("gemma3-q8_0", tmp_path(g3k, "rules-mix-f32.gguf"));
    EXPECT(have, "dequantize failed (%s)", log_path);
    for (size_t i = 0; have && i < sizeof mix / sizeof mix[0]; i++) {
        EXPECT(quantize(g3k, out, mix[i].type) == 0, "%s failed (%s)", mix[i].type, log_path);
        f = gguf_open(out, err);
        if (!f) continue;
        EXPECT_TYPE(f, "blk.0.attn_v.weight", mix[i].v0);
        EXPECT_TYPE(f, "blk.1.attn_v.weight", mix[i].v1);
        EXPECT_TYPE(f, "blk.0.ffn_down.weight", mix[i].down0);
        EXPECT_TYPE(f, "blk.1.ffn_down.weight", mix[i].down1);
        EXPECT_TYPE(f, "blk.0.attn_output.weight", mix[i].out0);
        EXPECT_TYPE(f, "blk.1.attn_q.weight", mix[i].q);
        EXPECT_TYPE(f, "blk.1.ffn_gate.weight", mix[i].q);
        EXPECT_TYPE(f, "token_embd.weight", mix[i].embd);
        gguf_close(f);
    }
    TEST_END();

    /* Gemma 4 MoE: exactly 8 experts makes attn_v/attn_k Q8_0 and attn_output Q5_K */
    src = model_path("gemma4-moe-f32");
    TEST_BEGIN("quantize rules: 8-expert model: attn_k/attn_v Q8_0, attn_output Q5_K, router and scales kept");
    EXPECT(quantize(src, out, "Q4_K_M") == 0, "quantize failed (%s)", log_path);
    f = gguf_open(out, err);
    if (f) {
        EXPECT_TYPE(f, "blk.0.attn_v.weight", GGML_TYPE_Q8_0);
        EXPECT_TYPE(f, "blk.2.attn_k.weight", GGML_TYPE_Q8_0);
        EXPECT_TYPE(f, "blk.2.attn_output.weight", GGML_TYPE_Q5_K);   /* 256 wide */
        EXPECT_TYPE(f, "blk.0.attn_output.weight", GGML_TYPE_Q5_1);   /* 128 wide: Q5_K falls back */
        EXPECT_TYPE(f, "blk.3.ffn_down_exps.weight", GGML_TYPE_Q8_0); /* layer 3 of 4: more bits */
        EXPECT_TYPE(f, "blk.1.ffn_down_exps.weight", GGML_TYPE_Q5_0);
        EXPECT_TYPE(f, "blk.1.ffn_gate_up_exps.weight", GGML_TYPE_Q5_0);
        EXPECT_TYPE(f, "blk.1.ffn_gate_inp.weight", GGML_TYPE_F32);
        EXPECT_TYPE(f, "blk.1.ffn_gate_inp.scale", GGML_TYPE_F32);
        EXPECT_TYPE(f, "blk.1.ffn_down_exps.scale", GGML_TYPE_F32);
        EXPECT_TYPE(f, "blk.1.layer_output_scale.weight", GGML_TYPE_F32);
        EXPECT_TYPE(f, "rope_freqs.weight", GGML_TYPE_F32);
        gguf_close(f);
    }
    TEST_END();
    free(src);

    /* Gemma 4 PLE: per_layer_token_embd follows the tied embedding, per_layer_model_proj is
     * kept, the 16-wide proj falls back to F16 */
    src = model_path("gemma4-ple-f32");
    TEST_BEGIN("quantize rules: PLE tensors (per_layer_token_embd like the tied embedding, model_proj kept, 16-wide proj F16)");
    EXPECT(quantize(src, out, "Q4_K_M") == 0, "quantize failed (%s)", log_path);
    f = gguf_open(out, err);
    if (f) {
        EXPECT_TYPE(f, "per_layer_token_embd.weight", GGML_TYPE_Q8_0);  /* 96 % 256 */
        EXPECT_TYPE(f, "per_layer_model_proj.weight", GGML_TYPE_F32);
        EXPECT_TYPE(f, "blk.0.proj.weight", GGML_TYPE_F16);             /* Q4_K -> Q5_0 -> F16 */
        EXPECT_TYPE(f, "blk.0.inp_gate.weight", GGML_TYPE_Q5_0);
        gguf_close(f);
    }
    EXPECT(quantize(src, out, "Q8_0") == 0, "Q8_0 failed (%s)", log_path);
    f = gguf_open(out, err);
    if (f) {
        EXPECT_TYPE(f, "blk.0.proj.weight", GGML_TYPE_F16);  /* 16 columns: no Q8_0 block */
        EXPECT_TYPE(f, "per_layer_token_embd.weight", GGML_TYPE_Q8_0);
        gguf_close(f);
    }
    TEST_END();
    free(src);
}

/* MXFP4_MOE: expert stacks MXFP4, every other matrix (and the tied embedding) Q8_0. */
static void test_mxfp4_moe(void) {
    TEST_BEGIN("quantize rules: MXFP4_MOE puts the experts in MXFP4, the rest in Q8_0; the model runs");
    char *src = model_path("gemma4-moe-f32");
    path_buf out;
    tmp_path(out, "moe-mxfp4.gguf");
    EXPECT(quantize(src, out, "MXFP4_MOE") == 0, "quantize failed (%s)", log_path);
    char err[GEMMA_ERR_LEN] = "";
    gguf_file *f = gguf_open(out, err);
    if (f) {
        EXPECT_TYPE(f, "blk.2.ffn_gate_up_exps.weight", GGML_TYPE_MXFP4);
        EXPECT_TYPE(f, "blk.2.ffn_down_exps.weight", GGML_TYPE_MXFP4);
        EXPECT_TYPE(f, "blk.2.ffn_down.weight", GGML_TYPE_Q8_0);
        EXPECT_TYPE(f, "blk.2.attn_q.weight", GGML_TYPE_Q8_0);
        EXPECT_TYPE(f, "token_embd.weight", GGML_TYPE_Q8_0);
        uint32_t ft = 0;
        EXPECT(gguf_get_u32(f, "general.file_type", &ft, NULL) == 1 && ft == 38, "file_type %u", ft);
        gguf_close(f);
    }
    fixture_info fi = {0};
    int nv = 0;
    float *l = read_fixture("gemma4-moe-f32", &fi) ? model_logits(out, &fi, &nv, err) : NULL;
    EXPECT(l != NULL, "does not run: %s", err);
    bool finite = true;
    for (size_t i = 0; l && i < (size_t)fi.n_ids * (size_t)nv; i++) finite = finite && isfinite(l[i]);
    EXPECT(finite, "non-finite logits");
    free(l);
    free(fi.ids);
    free(src);
    TEST_END();
}

/* Threads split rows only: the bytes do not depend on -t. */
static void test_threads(void) {
    TEST_BEGIN("quantize: -t 1 and -t 5 write identical files");
    path_buf k, a, b;
    bool ok = dequantize("gemma3-q8_0", tmp_path(k, "threads-f32.gguf"));
    tmp_path(a, "t1.gguf");
    tmp_path(b, "t5.gguf");
    EXPECT(ok && quantize(k, a, "Q4_K_M", "-t", "1") == 0, "-t 1 failed");
    EXPECT(ok && quantize(k, b, "Q4_K_M", "--threads", "5") == 0, "-t 5 failed");
    size_t at;
    EXPECT(files_equal(a, b, &at), "files differ at byte %zu", at);
    TEST_END();
}

/* A tiny model-looking file with one 2-D tensor holding the given values (and the split
 * keys of a one-part split model, which quantize must drop). */
static bool write_tiny(const char *path, const float *w, int64_t ne0, int64_t ne1) {
    char err[GEMMA_ERR_LEN];
    gguf_writer *g = gguf_writer_new();
    gguf_writer_set_str(g, "general.architecture", "gemma3");
    gguf_writer_set_u32(g, "gemma3.block_count", 1);
    gguf_writer_set_u16(g, "split.no", 0);
    gguf_writer_set_u16(g, "split.count", 1);
    gguf_writer_set_i32(g, "split.tensors.count", 1);
    int64_t ne[2] = {ne0, ne1};
    gguf_writer_add_tensor(g, "blk.0.attn_q.weight", GGML_TYPE_F32, 2, ne, w);
    int rc = gguf_writer_write(g, path, err);
    gguf_writer_free(g);
    return rc == 0;
}

static void test_errors(void) {
    char *src = model_path("gemma3-f32");
    path_buf out, garbage, trunc, missing, nan_src, nan_out;
    tmp_path(out, "err.gguf");

    TEST_BEGIN("quantize errors: unknown TYPE exits 2 with one line");
    EXPECT(quantize(src, out, "Q7_X") == 2, "exit code");
    EXPECT(log_lines() == 1, "%d lines of message", log_lines());
    TEST_END();

    TEST_BEGIN("quantize errors: usage mistakes exit 2 (missing TYPE, bad -t, unknown option)");
    EXPECT(quantize(src, out) == 2, "missing TYPE");
    EXPECT(quantize(src, out, "Q8_0", "-t", "0") == 2, "-t 0");
    EXPECT(quantize(src, out, "Q8_0", "--frobnicate") == 2, "unknown option");
    EXPECT(quantize(src, src, "Q8_0") == 2, "output = input");
    TEST_END();

    TEST_BEGIN("quantize errors: type names are case-insensitive, file-type numbers accepted");
    EXPECT(quantize(src, out, "q4_k_m") == 0, "q4_k_m");
    char err[GEMMA_ERR_LEN];
    gguf_file *f = gguf_open(out, err);
    uint32_t ft = 0;
    EXPECT(f && gguf_get_u32(f, "general.file_type", &ft, NULL) == 1 && ft == 15, "file_type %u", ft);
    gguf_close(f);
    EXPECT(quantize(src, out, "7") == 0, "7 (= Q8_0)");
    f = gguf_open(out, err);
    EXPECT(f && tensor_type(f, "blk.0.attn_q.weight") == GGML_TYPE_Q8_0, "not Q8_0");
    gguf_close(f);
    TEST_END();

    TEST_BEGIN("quantize errors: bad input files exit 3 with one line (missing, garbage, truncated, vocab-only)");
    tmp_path(garbage, "garbage.gguf");
    FILE *fp = fopen(garbage, "wb");
    for (int i = 0; fp && i < 4096; i++) fputc((i * 7919) & 0xFF, fp);
    if (fp) fclose(fp);
    tmp_path(trunc, "trunc.gguf");
    size_t len;
    char *bytes = read_file(src, &len);
    fp = fopen(trunc, "wb");
    if (fp && bytes) fwrite(bytes, 1, len / 2, fp);
    if (fp) fclose(fp);
    free(bytes);
    EXPECT(quantize(tmp_path(missing, "does-not-exist.gguf"), out, "Q8_0") == 3, "missing file");
    EXPECT(log_lines() == 1, "%d lines", log_lines());
    EXPECT(quantize(garbage, out, "Q8_0") == 3, "garbage");
    EXPECT(log_lines() == 1, "%d lines", log_lines());
    EXPECT(quantize(trunc, out, "Q8_0") == 3, "truncated");
    EXPECT(quantize(fixture_path("tokenizer/gemma-3.gguf"), out, "Q8_0") == 3, "vocab-only");
    TEST_END();

    TEST_BEGIN("quantize errors: NaN in a source tensor exits 3 and leaves no output");
    tmp_path(nan_src, "nan.gguf");
    tmp_path(nan_out, "nan-out.gguf");
    float w[64 * 4];
    for (int i = 0; i < 64 * 4; i++) w[i] = (float)(i % 7) - 3.0f;
    w[100] = NAN;
    unlink(nan_out);
    EXPECT(write_tiny(nan_src, w, 64, 4), "cannot write the test file");
    EXPECT(quantize(nan_src, nan_out, "Q8_0") == 3, "exit code");
    EXPECT(access(nan_out, F_OK) != 0, "partial output left behind");
    TEST_END();

    TEST_BEGIN("quantize: split.* keys are dropped, the rest kept");
    for (int i = 0; i < 64 * 4; i++) w[i] = (float)(i % 5) - 2.0f;
    EXPECT(write_tiny(nan_src, w, 64, 4), "cannot write the test file");
    EXPECT(quantize(nan_src, nan_out, "Q4_0") == 0, "exit code (%s)", log_path);
    gguf_file *sf = gguf_open(nan_out, err);
    EXPECT(sf != NULL, "%s", err);
    if (sf) {
        EXPECT(!gguf_find(sf, "split.no") && !gguf_find(sf, "split.count") &&
               !gguf_find(sf, "split.tensors.count"), "split keys kept");
        EXPECT(gguf_find(sf, "gemma3.block_count") != NULL, "block_count lost");
        EXPECT(sf->n_kv == 4, "%llu keys, want 4", (unsigned long long)sf->n_kv);
        EXPECT(!strcmp(sf->kv[2].key, "general.quantization_version") &&
               !strcmp(sf->kv[3].key, "general.file_type"), "re-set keys are not last");
        EXPECT_TYPE(sf, "blk.0.attn_q.weight", GGML_TYPE_Q4_0);
        gguf_close(sf);
    }
    TEST_END();

    TEST_BEGIN("quantize errors: quantized input needs --allow-requantize (exit 2 without)");
    char *q8 = model_path("gemma3-q8_0");
    EXPECT(quantize(q8, out, "Q4_0") == 2, "without the flag");
    EXPECT(quantize(q8, out, "Q4_0", "--allow-requantize") == 0, "with the flag");
    EXPECT(quantize(q8, out, "Q8_0", "--pure") == 0, "same type: a copy, no flag needed");
    size_t at;
    EXPECT(files_equal(out, q8, &at), "Q8_0 -> Q8_0 --pure is not a plain copy (byte %zu)", at);
    free(q8);
    TEST_END();

    TEST_BEGIN("quantize errors: unwritable output exits 4");
    EXPECT(quantize(src, "/nonexistent-dir/x.gguf", "Q8_0") == 4, "exit code");
    TEST_END();
    free(src);
}

void suite_quantize(void) {
    test_byte_identity();
    test_mixture_rules();
    test_mxfp4_moe();
    test_threads();
    test_errors();
    test_logits();
}
