/* test_mkmodel.c - the GGUF writer (round trips through our reader) and the random-weight
 * model generator (every preset loads and gives finite, non-degenerate logits; the
 * Q4_K_M mix picks llama-quantize's types; the synthetic vocabulary has the real layout;
 * a long prompt in one evaluation matches feeding it token by token).
 * The generator's source is compiled in, so its internals are testable and it runs under
 * the sanitizers like everything else. */
#define MKMODEL_NO_MAIN
#include "../tools/mkmodel.c"

#include <sys/stat.h>

#include "model.h"
#include "rng.h"
#include "test.h"

static const char *tmp_file(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmp_dir(), name);
    return buf;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------------------------------------------------------------------------------------
 * GGUF writer */

typedef struct {
    int calls;
    bool fail;
} fill_state;

/* Row r of a Q8_0 tensor: scale 1, codes r + i (mod 128). */
static int fill_q8(void *ctx, const gguf_writer_tensor *t, void *dst, int64_t row0,
                   int64_t n_rows, char *err) {
    fill_state *s = ctx;
    s->calls++;
    if (s->fail) return set_err(err, "deliberate failure");
    for (int64_t r = 0; r < n_rows; r++) {
        uint8_t *row = (uint8_t *)dst + (size_t)r * t->row_bytes;
        for (int64_t b = 0; b < t->ne[0] / 32; b++) {
            uint8_t *blk = row + b * 34;
            uint16_t one = fp32_to_fp16(1.0f);
            memcpy(blk, &one, 2);
            for (int i = 0; i < 32; i++) blk[2 + i] = (uint8_t)((row0 + r + b * 32 + i) & 127);
        }
    }
    return 0;
}

static void test_writer_round_trip(void) {
    TEST_BEGIN("gguf_write: every KV type and tensors read back by gguf_open");
    char err[GEMMA_ERR_LEN] = "";
    const char *path = tmp_file("writer_round_trip.gguf");
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "test");
    gguf_writer_set_u32(w, "t.replaced", 1);
    gguf_writer_set_u8(w, "t.u8", 200);
    gguf_writer_set_i8(w, "t.i8", -100);
    gguf_writer_set_u16(w, "t.u16", 60000);
    gguf_writer_set_i16(w, "t.i16", -30000);
    gguf_writer_set_u32(w, "t.u32", 4000000000u);
    gguf_writer_set_i32(w, "t.i32", -2000000000);
    gguf_writer_set_u64(w, "t.u64", 18000000000000000000ull);
    gguf_writer_set_i64(w, "t.i64", -9000000000000000000ll);
    gguf_writer_set_f32(w, "t.f32", 1.5f);
    gguf_writer_set_f64(w, "t.f64", -2.25);
    gguf_writer_set_bool(w, "t.bool", true);
    gguf_writer_set_strn(w, "t.str", "h\xc3\xa9\0x", 5);   /* UTF-8 and an inner NUL */
    gguf_writer_set_str(w, "t.empty", "");
    int32_t ints[3] = {1, -2, 3};
    float floats[2] = {0.5f, -4.0f};
    uint8_t bools[3] = {1, 0, 7};  /* 7 is stored as 1 */
    const char *strs[3] = {"a", "", "\xe2\x96\x81x"};
    gguf_writer_set_arr(w, "t.arr_i32", GGUF_I32, ints, 3);
    gguf_writer_set_arr(w, "t.arr_f32", GGUF_F32, floats, 2);
    gguf_writer_set_arr(w, "t.arr_bool", GGUF_BOOL, bools, 3);
    gguf_writer_set_arr_str(w, "t.arr_str", strs, 3);
    gguf_writer_set_u32(w, "t.removed", 1);
    gguf_writer_set_str(w, "t.replaced", "now a string"); /* replaced in place */
    EXPECT(gguf_writer_remove(w, "t.removed") == 1, "remove existing key");
    EXPECT(gguf_writer_remove(w, "t.removed") == 0, "remove absent key");

    float vec[5] = {1, 2, 3, 4, 5};
    uint16_t half[2 * 3 * 2];
    for (int i = 0; i < 12; i++) half[i] = fp32_to_fp16((float)i);
    fill_state fs = {0};
    EXPECT(gguf_writer_add_tensor(w, "vec", GGML_TYPE_F32, 1, (int64_t[]){5}, vec) == 0, "add vec");
    EXPECT(gguf_writer_add_tensor_fill(w, "q8", GGML_TYPE_Q8_0, 2, (int64_t[]){64, 3}, fill_q8,
                                       &fs) == 0, "add q8");
    EXPECT(gguf_writer_add_tensor(w, "half3d", GGML_TYPE_F16, 3, (int64_t[]){2, 3, 2}, half) == 0,
           "add half3d");
    EXPECT(gguf_writer_error(w) == NULL, "no error recorded: %s", gguf_writer_error(w));
    uint64_t expect_size = gguf_writer_file_size(w);
    EXPECT(gguf_writer_write(w, path, err) == 0, "write: %s", err);
    EXPECT(fs.calls == 1, "fill called %d times for a small tensor", fs.calls);
    gguf_writer_free(w);

    gguf_file *f = gguf_open(path, err);
    EXPECT(f != NULL, "reopen: %s", err);
    if (f) {
        struct stat st;
        stat(path, &st);
        EXPECT((uint64_t)st.st_size == expect_size, "file size %lld, predicted %llu",
               (long long)st.st_size, (unsigned long long)expect_size);
        int64_t i64 = 0;
        float f32 = 0;
        bool b = false;
        gguf_str s = {0};
        struct { const char *key; uint32_t type; int64_t value; } ints_want[] = {
            {"t.u8", GGUF_U8, 200}, {"t.i8", GGUF_I8, -100}, {"t.u16", GGUF_U16, 60000},
            {"t.i16", GGUF_I16, -30000}, {"t.u32", GGUF_U32, 4000000000ll},
            {"t.i32", GGUF_I32, -2000000000}, {"t.i64", GGUF_I64, -9000000000000000000ll}};
        for (size_t i = 0; i < sizeof ints_want / sizeof ints_want[0]; i++) {
            const gguf_kv *kv = gguf_find(f, ints_want[i].key);
            EXPECT(kv && kv->type == ints_want[i].type, "%s: type", ints_want[i].key);
            EXPECT(gguf_get_i64(f, ints_want[i].key, &i64, err) == 1 && i64 == ints_want[i].value,
                   "%s = %lld", ints_want[i].key, (long long)i64);
        }
        const gguf_kv *kv = gguf_find(f, "t.u64");
        EXPECT(kv && kv->type == GGUF_U64 && rd_u64(kv->data) == 18000000000000000000ull, "u64");
        EXPECT(gguf_get_f32(f, "t.f32", &f32, err) == 1 && f32 == 1.5f, "f32 %g", f32);
        EXPECT(gguf_get_f32(f, "t.f64", &f32, err) == 1 && f32 == -2.25f, "f64 %g", f32);
        EXPECT(gguf_get_bool(f, "t.bool", &b, err) == 1 && b, "bool");
        EXPECT(gguf_get_str(f, "t.str", &s, err) == 1 && s.len == 5 &&
                   !memcmp(s.ptr, "h\xc3\xa9\0x", 5), "string with NUL");
        EXPECT(gguf_get_str(f, "t.empty", &s, err) == 1 && s.len == 0, "empty string");
        EXPECT(gguf_get_str(f, "t.replaced", &s, err) == 1 && gguf_str_eq(s, "now a string"),
               "replaced value");
        EXPECT(!gguf_find(f, "t.removed"), "removed key is gone");
        EXPECT(f->n_kv == 19, "%llu keys", (unsigned long long)f->n_kv);
        EXPECT(!strcmp(f->kv[1].key, "t.replaced"), "replaced key keeps its place");
        kv = gguf_find(f, "t.arr_i32");
        EXPECT(kv && kv->arr_type == GGUF_I32 && kv->arr_n == 3 && gguf_arr_int(kv, 1) == -2,
               "i32 array");
        kv = gguf_find(f, "t.arr_f32");
        EXPECT(kv && kv->arr_n == 2 && gguf_arr_float(kv, 1) == -4.0, "f32 array");
        kv = gguf_find(f, "t.arr_bool");
        EXPECT(kv && kv->arr_type == GGUF_BOOL && kv->arr_n == 3 && gguf_arr_int(kv, 2) == 1,
               "bool array normalized");
        kv = gguf_find(f, "t.arr_str");
        gguf_str ss[3];
        EXPECT(kv && kv->arr_n == 3 && gguf_arr_strings(f, kv, ss, err) == 0 &&
                   gguf_str_eq(ss[0], "a") && ss[1].len == 0 && gguf_str_eq(ss[2], strs[2]),
               "string array");

        EXPECT(f->n_tensors == 3, "%llu tensors", (unsigned long long)f->n_tensors);
        const gguf_tensor *t = gguf_find_tensor(f, "vec");
        EXPECT(t && t->type == GGML_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 5 && t->offset == 0 &&
                   !memcmp(t->data, vec, sizeof vec), "vec");
        t = gguf_find_tensor(f, "q8");
        EXPECT(t && t->type == GGML_TYPE_Q8_0 && t->ne[0] == 64 && t->ne[1] == 3 && t->offset == 32,
               "q8 info (offset %llu)", t ? (unsigned long long)t->offset : 0ull);
        if (t) {
            float row[64];
            dequant_row(GGML_TYPE_Q8_0, (const uint8_t *)t->data + 2 * 68, row, 64);
            EXPECT(row[0] == 2 && row[63] == 65, "q8 row 2: %g %g", row[0], row[63]);
        }
        t = gguf_find_tensor(f, "half3d");
        EXPECT(t && t->type == GGML_TYPE_F16 && t->n_dims == 3 && t->ne[2] == 2 &&
                   t->offset == 32 + 224 && !memcmp(t->data, half, sizeof half),
               "half3d (offset %llu)", t ? (unsigned long long)t->offset : 0ull);
        EXPECT(f->data_offset % 32 == 0 && f->alignment == 32, "data offset %llu",
               (unsigned long long)f->data_offset);
        gguf_close(f);
    }
    remove(path);
    TEST_END();
}

static void test_writer_alignment(void) {
    TEST_BEGIN("gguf_write: general.alignment 64 lays tensors out on 64-byte boundaries");
    char err[GEMMA_ERR_LEN] = "";
    const char *path = tmp_file("writer_align.gguf");
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 64);
    float a[3] = {1, 2, 3}, b[70] = {0};
    gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 1, (int64_t[]){3}, a);
    gguf_writer_add_tensor(w, "b", GGML_TYPE_F32, 2, (int64_t[]){7, 10}, b);
    gguf_writer_add_tensor(w, "c", GGML_TYPE_F32, 1, (int64_t[]){3}, a);
    EXPECT(gguf_writer_get_tensor(w, 2)->offset == 64 + 320, "offset of c %llu",
           (unsigned long long)gguf_writer_get_tensor(w, 2)->offset);
    EXPECT(gguf_writer_write(w, path, err) == 0, "write: %s", err);
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path, err);
    EXPECT(f && f->alignment == 64 && f->data_offset % 64 == 0, "reopen: %s", err);
    if (f) {
        EXPECT(f->tensors[1].offset == 64 && f->tensors[2].offset == 384, "offsets %llu %llu",
               (unsigned long long)f->tensors[1].offset, (unsigned long long)f->tensors[2].offset);
        EXPECT(f->size == f->data_offset + 64 + 320 + 64, "trailing padding (size %zu)", f->size);
        gguf_close(f);
    }
    remove(path);
    TEST_END();
}

static void test_writer_copy(void) {
    TEST_BEGIN("gguf_write: copying every KV of a real vocabulary file keeps the bytes");
    char err[GEMMA_ERR_LEN] = "";
    gguf_file *src = gguf_open(fixture_path("tokenizer/gemma-3.gguf"), err);
    EXPECT(src != NULL, "%s", err);
    if (src) {
        const char *path = tmp_file("writer_copy.gguf");
        gguf_writer *w = gguf_writer_new();
        int n = gguf_writer_copy_kvs(w, src, NULL);
        EXPECT(n == (int)src->n_kv, "copied %d of %llu", n, (unsigned long long)src->n_kv);
        EXPECT(gguf_writer_copy_kvs(w, src, "tokenizer.ggml.tok") == 2, "prefix selects 2 keys");
        EXPECT(gguf_writer_write(w, path, err) == 0, "write: %s", err);
        gguf_writer_free(w);
        gguf_file *f = gguf_open(path, err);
        EXPECT(f && f->n_kv == src->n_kv && f->size == src->size, "reopen: %s", err);
        if (f) {
            /* a vocabulary-only file is header only: the copy must be byte-identical */
            EXPECT(memcmp(f->base, src->base, src->size) == 0, "bytes differ");
            gguf_close(f);
        }
        remove(path);
        gguf_close(src);
    }
    TEST_END();
}

static void test_writer_errors(void) {
    TEST_BEGIN("gguf_write: bad tensors, failing callbacks and unwritable paths are reported");
    char err[GEMMA_ERR_LEN] = "";
    float v[40] = {0};
    gguf_writer *w = gguf_writer_new();
    EXPECT(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 1, (int64_t[]){40}, v) < 0,
           "row of 40 accepted for Q8_0");
    EXPECT(gguf_writer_error(w) && strstr(gguf_writer_error(w), "block size"), "message: %s",
           gguf_writer_error(w));
    const char *path = tmp_file("writer_bad.gguf");
    EXPECT(gguf_writer_write(w, path, err) < 0 && strstr(err, path) && !file_exists(path),
           "write after an add error: %s", err);
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, (int64_t[]){4}, v);
    EXPECT(gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, (int64_t[]){4}, v) < 0,
           "duplicate name");
    gguf_writer_free(w);
    w = gguf_writer_new();
    char longname[80];
    memset(longname, 'n', 70);
    longname[70] = 0;
    EXPECT(gguf_writer_add_tensor(w, longname, GGML_TYPE_F32, 1, (int64_t[]){4}, v) < 0,
           "long name");
    gguf_writer_free(w);
    w = gguf_writer_new();
    EXPECT(gguf_writer_set_u16(w, "general.alignment", 32) < 0, "alignment must be u32");
    gguf_writer_free(w);

    /* a fill callback failure names the file and the tensor; no partial file is left */
    w = gguf_writer_new();
    fill_state fs = {.fail = true};
    gguf_writer_add_tensor_fill(w, "t", GGML_TYPE_Q8_0, 2, (int64_t[]){32, 2}, fill_q8, &fs);
    EXPECT(gguf_writer_write(w, path, err) < 0 && strstr(err, path) && strstr(err, "'t'") &&
               strstr(err, "deliberate"), "message: %s", err);
    EXPECT(!file_exists(path), "partial file left behind");
    EXPECT(gguf_writer_write(w, "/nonexistent-dir/x.gguf", err) < 0 &&
               strstr(err, "/nonexistent-dir/x.gguf"), "message: %s", err);
    gguf_writer_free(w);

    /* a full disk (Linux /dev/full): one line naming the path; the device is not removed */
    struct stat st;
    if (stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode)) {
        w = gguf_writer_new();
        gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, (int64_t[]){4}, v);
        EXPECT(gguf_writer_write(w, "/dev/full", err) < 0 && strstr(err, "/dev/full") &&
                   !strchr(err, '\n'), "message: %s", err);
        EXPECT(stat("/dev/full", &st) == 0, "/dev/full was removed");
        gguf_writer_free(w);
    }
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * Random weights */

static void test_random_blocks(void) {
    TEST_BEGIN("mkmodel: random blocks of every type dequantize to std ~0.03, mean ~0");
    static const uint32_t types[] = {
        GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
        GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
        GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,
        GGML_TYPE_MXFP4};
    enum { NE0 = 1024, ROWS = 16 };
    uint8_t *buf = xmalloc(ROWS * NE0 * 4);
    float *x = xmalloc(NE0 * sizeof(float));
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        uint32_t type = types[i];
        gguf_writer_tensor t = {.name = "t", .type = type, .n_dims = 2, .ne = {NE0, ROWS, 1, 1},
                                .row_bytes = quant_row_size(type, NE0), .n_rows = ROWS};
        tensor_gen g = {.kind = GEN_RANDOM, .std = WEIGHT_STD, .seed = 7};
        char err[GEMMA_ERR_LEN] = "";
        EXPECT(fill_tensor(&g, &t, buf, 0, ROWS, err) == 0, "%s: %s", quant_type_name(type), err);
        double sum = 0, sum2 = 0;
        bool finite = true;
        for (int r = 0; r < ROWS; r++) {
            dequant_row(type, buf + (size_t)r * t.row_bytes, x, NE0);
            for (int e = 0; e < NE0; e++) {
                finite &= isfinite(x[e]);
                sum += x[e];
                sum2 += (double)x[e] * x[e];
            }
        }
        double n = (double)NE0 * ROWS, mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
        EXPECT(finite && sd > 0.015 && sd < 0.06 && fabs(mean) < 0.2 * sd,
               "%s: std %.4f mean %.5f", quant_type_name(type), sd, mean);
        /* the same rows come out whatever the chunking */
        uint8_t *again = xmalloc(t.row_bytes);
        fill_tensor(&g, &t, again, 5, 1, err);
        EXPECT(memcmp(again, buf + 5 * t.row_bytes, t.row_bytes) == 0,
               "%s: row 5 depends on chunking", quant_type_name(type));
        free(again);
    }
    free(buf);
    free(x);
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * Presets: write a small version, load it, run it. */

static int run_mkmodel(const char *const *args) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "mkmodel";
    for (; *args && argc < 31; args++) argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return mkmodel_main(argc, argv);
}

typedef struct {
    const char *preset, *type, *layers, *shrink;
} preset_case;

static void test_preset_runs(const preset_case *c) {
    TEST_BEGIN("mkmodel: %s (%s layers, %s, widths / %s) loads and gives sane logits", c->preset,
               c->layers, c->type, c->shrink);
    char name[128], err[GEMMA_ERR_LEN] = "";
    snprintf(name, sizeof name, "mk_%s.gguf", c->preset);
    const char *path = tmp_file(name);
    const char *args[] = {"--preset", c->preset, "--type", c->type, "--layers", c->layers,
                          "--shrink", c->shrink, "--vocab-size", "1024", "-q", "-o", path,
                          "--experts", "4", NULL};
    if (!strstr(c->preset, "a4b")) args[13] = NULL; /* --experts only for the MoE preset */
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    logit_stats st;
    EXPECT(check_model(path, &st, err) == 0, "engine: %s", err);
    EXPECT(st.finite, "logits not finite");
    EXPECT(st.rows_differ && st.std > 0.05f && st.max > st.min,
           "degenerate logits: std %g, [%g, %g]", st.std, st.min, st.max);
    gguf_file *f = gguf_open(path, err);
    if (f) {
        gguf_str s = {0};
        char gname[128] = "";
        if (gguf_get_str(f, "general.name", &s, err) == 1 && s.len < sizeof gname)
            memcpy(gname, s.ptr, s.len);
        EXPECT(strstr(gname, "random weights"), "general.name '%s'", gname);
        gguf_close(f);
    }
    remove(path);
    TEST_END();
}

static uint32_t tensor_type(const gguf_file *f, const char *name) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    return t ? t->type : 999;
}

static void expect_types(const gguf_file *f, const char *const (*want)[2], const char *what) {
    for (; (*want)[0]; want++) {
        uint32_t t = tensor_type(f, (*want)[0]);
        EXPECT(t < GGML_TYPE_COUNT && !strcmp(quant_type_name(t), (*want)[1]),
               "%s: %s is %s, want %s", what, (*want)[0],
               t < GGML_TYPE_COUNT ? quant_type_name(t) : "absent", (*want)[1]);
    }
}

static void test_q4_k_m_mix(void) {
    TEST_BEGIN("mkmodel: Q4_K_M picks llama-quantize's types (use_more_bits, tied embedding, "
               "row fallbacks, 8-expert rule)");
    char err[GEMMA_ERR_LEN] = "";
    const char *path = tmp_file("mk_q4km.gguf");
    /* gemma3-1b at its real width: rows of 1152 are not a multiple of 256 */
    const char *args[] = {"--preset", "gemma3-1b", "--layers", "2", "--vocab-size", "1024",
                          "-q", "-o", path, NULL};
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    gguf_file *f = gguf_open(path, err);
    EXPECT(f != NULL, "%s", err);
    if (f) {
        static const char *const want[][2] = {
            {"token_embd.weight", "Q8_0"},           /* tied: Q6_K, but 1152 % 256 -> Q8_0 */
            {"blk.0.attn_q.weight", "Q5_0"},         /* Q4_K row 1152 -> Q5_0 */
            {"blk.0.attn_output.weight", "Q4_K"},    /* row 1024 */
            {"blk.0.attn_v.weight", "Q5_0"},         /* use_more_bits(0, 2) false */
            {"blk.1.attn_v.weight", "Q8_0"},         /* true: Q6_K -> Q8_0 */
            {"blk.0.ffn_down.weight", "Q4_K"},       /* row 6912 = 27 * 256 */
            {"blk.1.ffn_down.weight", "Q6_K"},
            {"blk.1.ffn_gate.weight", "Q5_0"},
            {"blk.0.attn_q_norm.weight", "F32"},
            {"output_norm.weight", "F32"},
            {NULL, NULL}};
        expect_types(f, want, "gemma3-1b");
        int64_t ft = 0;
        EXPECT(gguf_get_i64(f, "general.file_type", &ft, err) == 1 && ft == 15, "file_type %lld",
               (long long)ft);
        gguf_close(f);
    }
    /* gemma4-e2b at its real width (1536 = 6 * 256): both embeddings Q6_K, PLE proj F32 */
    const char *args2[] = {"--preset", "gemma4-e2b", "--layers", "2", "--vocab-size", "1024",
                           "--type", "q4_k_m", "-q", "-o", path, NULL};
    EXPECT(run_mkmodel(args2) == 0, "mkmodel failed");
    f = gguf_open(path, err);
    if (f) {
        static const char *const want[][2] = {
            {"token_embd.weight", "Q6_K"}, {"per_layer_token_embd.weight", "Q6_K"},
            {"per_layer_model_proj.weight", "F32"}, {"rope_freqs.weight", "F32"},
            {"blk.0.attn_q.weight", "Q4_K"}, {"blk.1.ffn_down.weight", "Q6_K"},
            {"blk.0.inp_gate.weight", "Q4_K"}, {"blk.0.layer_output_scale.weight", "F32"},
            {NULL, NULL}};
        expect_types(f, want, "gemma4-e2b");
        gguf_close(f);
    }
    /* 8 experts: attn_k/attn_v Q8_0, attn_output Q5_K; the router stays F32 */
    const char *args3[] = {"--preset", "gemma4-26b-a4b", "--layers", "1", "--experts", "8",
                           "--shrink", "8", "--vocab-size", "1024", "-q", "-o", path, NULL};
    EXPECT(run_mkmodel(args3) == 0, "mkmodel failed");
    f = gguf_open(path, err);
    if (f) {
        static const char *const want[][2] = {
            {"blk.0.attn_k.weight", "Q8_0"}, {"blk.0.attn_v.weight", "Q8_0"},
            {"blk.0.attn_output.weight", "Q5_K"}, {"blk.0.ffn_gate_inp.weight", "F32"},
            {"blk.0.ffn_gate_inp.scale", "F32"}, {"blk.0.ffn_down_exps.scale", "F32"},
            {NULL, NULL}};
        expect_types(f, want, "gemma4-26b-a4b");
        int64_t used = 0;
        EXPECT(gguf_get_i64(f, "gemma4.expert_used_count", &used, err) == 1 && used == 8,
               "expert_used_count %lld", (long long)used);
        gguf_close(f);
    }
    remove(path);
    TEST_END();
}

/* The Gemma 2/3 27B query scale (model.c, query_pre_attn_scalar): the engine knows a 27B by
 * its layer count, as llama.cpp does, and scales queries by 1/sqrt(n_embd / n_head) there
 * and by 1/sqrt(head size) everywhere else. The 2B/1B widths (n_embd / n_head = 288 vs a
 * head size of 256, divided by 32) with the 27B layer counts and one layer fewer. */
static void test_27b_query_scale(void) {
    static const struct { const char *preset, *layers; bool is_27b; } cases[] = {
        {"gemma2-2b", "46", true}, {"gemma2-2b", "45", false},
        {"gemma3-1b", "62", true}, {"gemma3-1b", "61", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TEST_BEGIN("mkmodel: %s with %s layers is %sa 27B: queries scaled by 1/sqrt(%s)",
                   cases[i].preset, cases[i].layers, cases[i].is_27b ? "" : "not ",
                   cases[i].is_27b ? "n_embd / n_head" : "head size");
        char err[GEMMA_ERR_LEN] = "", desc[128] = "";
        const char *path = tmp_file("mk_27b.gguf");
        const char *args[] = {"--preset", cases[i].preset, "--layers", cases[i].layers, "--shrink",
                              "32", "--vocab-size", "1024", "--type", "F16", "-q", "-o", path, NULL};
        EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
        gemma_model *m = gemma_model_load(path, err);
        EXPECT(m != NULL, "load: %s", err);
        if (m) {
            gemma_model_desc(m, desc, sizeof desc);
            EXPECT(!!strstr(desc, " 27B ") == cases[i].is_27b, "described as '%s'", desc);
            for (int il = 0; il < m->n_layer; il++) {
                const layer_weights *l = &m->layers[il];
                float d = cases[i].is_27b ? (float)m->n_embd / (float)l->n_head : (float)l->head_dim;
                EXPECT(l->kq_scale == 1.0f / sqrtf(d), "layer %d: scale %g, want 1/sqrt(%g)", il,
                       l->kq_scale, d);
                if (l->kq_scale != 1.0f / sqrtf(d)) break;
            }
        }
        gemma_model_free(m);
        remove(path);
        TEST_END();
    }
}

static void test_e2b_cut(void) {
    TEST_BEGIN("mkmodel: gemma4-e2b cut to 10 layers keeps a valid shared-KV split");
    char err[GEMMA_ERR_LEN] = "";
    const char *path = tmp_file("mk_e2b10.gguf");
    const char *args[] = {"--preset", "gemma4-e2b", "--layers", "10", "--shrink", "8",
                          "--vocab-size", "1024", "--type", "Q8_0", "-q", "-o", path, NULL};
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    gguf_file *f = gguf_open(path, err);
    EXPECT(f != NULL, "%s", err);
    if (f) {
        int64_t shared = -1;
        EXPECT(gguf_get_i64(f, "gemma4.attention.shared_kv_layers", &shared, err) == 1 &&
                   shared == 5, "shared_kv_layers %lld", (long long)shared);
        const gguf_kv *ff = gguf_find(f, "gemma4.feed_forward_length");
        const gguf_kv *pat = gguf_find(f, "gemma4.attention.sliding_window_pattern");
        EXPECT(ff && ff->arr_n == 10 && gguf_arr_int(ff, 4) == 768 && gguf_arr_int(ff, 5) == 1536,
               "feed_forward_length: double width on the shared layers only");
        EXPECT(pat && pat->arr_n == 10 && gguf_arr_int(pat, 3) == 1 && gguf_arr_int(pat, 4) == 0 &&
                   gguf_arr_int(pat, 9) == 0, "pattern [S,S,S,S,G] x 2");
        EXPECT(gguf_find_tensor(f, "blk.9.proj.weight") &&
                   !gguf_find_tensor(f, "blk.10.attn_q.weight"), "10 layers of tensors");
        gguf_close(f);
    }
    logit_stats st;
    EXPECT(check_model(path, &st, err) == 0 && st.finite && st.rows_differ, "engine: %s", err);
    remove(path);
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * Long prompts: one evaluation against token by token */

/* 700 tokens run past the 512-key sliding window (whose ring of keys then wraps) and across
 * micro-batches of 256, which the fixtures (48 tokens at most) never reach. Every position's
 * logits must match feeding the same tokens one at a time (the decode path: other kernels,
 * no AMX, another attention blocking), within tol times the spread of the logits.
 * Measured on this kind of machine: F32 weights 1e-4 .. 5e-4 of the spread (f32 summation
 * order only), gemma3-1b Q4_0 / Q4_K_M 3e-3 .. 4e-3 (activations quantized to 8 bits turn
 * those into whole code steps); a key mask off by one gives 0.4 .. 0.6. Quantized random
 * E2B models are left out: they amplify the same rounding to 5 % of the spread. */
static void test_long_prompt(const char *preset, const char *type, float tol) {
    TEST_BEGIN("mkmodel: %s %s, 700 tokens in micro-batches of 256 = one token at a time", preset, type);
    enum { N = 700, V = 1024 };
    char err[GEMMA_ERR_LEN] = "";
    const char *path = tmp_file("mk_long.gguf");
    const char *args[] = {"--preset", preset, "--type", type, "--layers", "6", "--shrink", "8",
                          "--vocab-size", "1024", "-q", "-o", path, NULL};
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    gemma_model *m = gemma_model_load(path, err);
    EXPECT(m != NULL, "%s", err);
    gemma_context_params cp = {.n_ctx = 1024, .n_threads = 2, .n_batch = 256};
    gemma_context *batch = m ? gemma_context_new(m, &cp, err) : NULL;
    gemma_context *seq = batch ? gemma_context_new(m, &cp, err) : NULL;
    EXPECT(!m || (batch && seq), "%s", err);
    int32_t ids[N];
    rng_seed(700);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)(rng_u64() % V);
    float *all = malloc((size_t)N * V * sizeof(float)), one[V];
    if (seq && gemma_eval(batch, ids, N, all, true, err) == 0) {
        float lo = INFINITY, hi = -INFINITY, worst = 0;
        int at = -1;
        for (size_t i = 0; i < (size_t)N * V; i++) {
            lo = all[i] < lo ? all[i] : lo;
            hi = all[i] > hi ? all[i] : hi;
        }
        for (int i = 0; i < N && gemma_eval(seq, &ids[i], 1, one, false, err) == 0; i++)
            for (int v = 0; v < V; v++) {
                float d = fabsf(one[v] - all[(size_t)i * V + v]);
                if (!(d <= worst)) worst = d, at = i; /* NaN counts as the worst */
            }
        EXPECT(gemma_n_past(seq) == N, "token by token stopped at %d: %s", gemma_n_past(seq), err);
        EXPECT(worst <= tol * (hi - lo), "max |batch - one at a time| = %g at token %d; logits span %g",
               worst, at, hi - lo);
    } else {
        EXPECT(!seq, "batch evaluation: %s", err);
    }
    free(all);
    gemma_context_free(batch);
    gemma_context_free(seq);
    gemma_model_free(m);
    remove(path);
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * Vocabulary */

static void test_synthetic_vocab(const char *arch, const char *real) {
    TEST_BEGIN("mkmodel: synthetic %s vocabulary has the real special ids, no duplicates, "
               "and tokenizes", arch);
    char err[GEMMA_ERR_LEN] = "";
    vocab v = {0};
    build_vocab(&v, arch, FULL_VOCAB);
    EXPECT(v.text.n == FULL_VOCAB, "%d tokens", v.text.n);
    gguf_file *rf = gguf_open(fixture_path(real), err);
    EXPECT(rf != NULL, "%s", err);
    if (rf) {
        const gguf_kv *tk = gguf_find(rf, "tokenizer.ggml.tokens");
        const gguf_kv *ty = gguf_find(rf, "tokenizer.ggml.token_type");
        gguf_str *rs = xmalloc(tk->arr_n * sizeof *rs);
        gguf_arr_strings(rf, tk, rs, err);
        int bad = 0, first_bad = -1;
        for (int i = 0; i < FULL_VOCAB && (uint64_t)i < tk->arr_n; i++) {
            int rtype = (int)gguf_arr_int(ty, (uint64_t)i);
            bool special = rtype != TOKEN_NORMAL || v.type[i] != TOKEN_NORMAL || i < 494 ||
                           i == FIRST_SINGLE;
            gguf_str mine = {v.text.buf + v.text.off[i], v.text.slen[i]};
            if (special && (rtype != v.type[i] || mine.len != rs[i].len ||
                            memcmp(mine.ptr, rs[i].ptr, mine.len))) {
                if (first_bad < 0) first_bad = i;
                bad++;
            }
        }
        EXPECT(bad == 0, "%d special ids differ from %s, first %d", bad, real, first_bad);
        free(rs);
        gguf_close(rf);
    }
    /* no duplicate token texts (a hash set over the arena) */
    size_t cap = 1 << 20;
    int32_t *slot = xmalloc(cap * sizeof *slot);
    memset(slot, 0xff, cap * sizeof *slot);
    int dups = 0;
    for (int i = 0; i < v.text.n; i++) {
        const char *s = v.text.buf + v.text.off[i];
        size_t n = v.text.slen[i];
        uint64_t h = 1469598103934665603ull;
        for (size_t k = 0; k < n; k++) h = (h ^ (uint8_t)s[k]) * 1099511628211ull;
        for (size_t j = h & (cap - 1);; j = (j + 1) & (cap - 1)) {
            if (slot[j] < 0) { slot[j] = i; break; }
            int o = slot[j];
            if (v.text.slen[o] == n && !memcmp(v.text.buf + v.text.off[o], s, n)) { dups++; break; }
        }
    }
    free(slot);
    EXPECT(dups == 0, "%d duplicate tokens", dups);

    /* a vocabulary-only file made of these keys works with our tokenizer */
    const char *path = tmp_file("mk_vocab.gguf");
    model_cfg m = {0};
    options o = {.preset = strcmp(arch, "gemma4") ? "gemma3-1b" : "gemma4-e2b", .type = "Q8_0"};
    configure(&m, &o, err);
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", arch);
    write_vocab_keys(w, &m, &v);
    EXPECT(gguf_writer_write(w, path, err) == 0, "write: %s", err);
    gguf_writer_free(w);
    gemma_model *gm = gemma_vocab_load(path, err);
    EXPECT(gm != NULL, "vocab load: %s", err);
    if (gm) {
        const char *text = "Hello world, this is a test! \xc3\x84pfel 123";
        int n = 0;
        int32_t *ids = gemma_tokenize(gm, text, strlen(text), false, false, &n);
        char out[256] = "";
        size_t len = 0;
        for (int i = 0; i < n; i++)
            len += gemma_token_to_piece(gm, ids[i], out + len, sizeof out - 1 - len);
        out[len] = 0;
        EXPECT(n > 5 && n < (int)strlen(text), "%d tokens for %zu bytes", n, strlen(text));
        EXPECT(strcmp(out, text) == 0, "round trip gave '%s'", out);
        free(ids);
        gemma_model_free(gm);
    }
    remove(path);
    free_vocab(&v);
    TEST_END();
}

/* Bytes of n values of GGUF type t at p (strings: length field and text). */
static uint64_t kv_payload_size(uint32_t t, const uint8_t *p, uint64_t n) {
    static const uint8_t size[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t != GGUF_STRING) return n * size[t];
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += 8 + rd_u64(p + total);
    return total;
}

static void test_copied_vocab(void) {
    TEST_BEGIN("mkmodel: --vocab copies every tokenizer.* key and sizes the embedding from it");
    char err[GEMMA_ERR_LEN] = "";
    const char *path = tmp_file("mk_vocabcopy.gguf");
    const char *src_path = fixture_path("tokenizer/gemma-3.gguf");
    char src_copy[512];
    snprintf(src_copy, sizeof src_copy, "%s", src_path);
    const char *args[] = {"--preset", "gemma3-270m", "--layers", "1", "--shrink", "4",
                          "--type", "Q4_0", "--vocab", src_copy, "-q", "-o", path, NULL};
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    gguf_file *f = gguf_open(path, err), *src = gguf_open(src_copy, err);
    EXPECT(f && src, "%s", err);
    if (f && src) {
        int n_tok = 0;
        for (uint64_t i = 0; i < src->n_kv; i++) {
            const gguf_kv *a = &src->kv[i];
            if (strncmp(a->key, "tokenizer.", 10)) continue;
            n_tok++;
            const gguf_kv *b = gguf_find(f, a->key);
            uint64_t size = a->type == GGUF_ARRAY ? kv_payload_size(a->arr_type, a->data, a->arr_n)
                                                  : kv_payload_size(a->type, a->data, 1);
            EXPECT(b && b->type == a->type && b->arr_type == a->arr_type && b->arr_n == a->arr_n &&
                       !memcmp(a->data, b->data, (size_t)size), "%s differs", a->key);
        }
        EXPECT(n_tok >= 10, "%d tokenizer keys", n_tok);
        const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
        EXPECT(t && t->ne[1] == 262144, "token_embd rows %lld", t ? (long long)t->ne[1] : 0ll);
    }
    gguf_close(f);
    gguf_close(src);
    logit_stats st;
    EXPECT(check_model(path, &st, err) == 0 && st.finite && st.rows_differ, "engine: %s", err);
    remove(path);
    TEST_END();
}

static void test_determinism_and_options(void) {
    TEST_BEGIN("mkmodel: same seed gives the same file, bad options are refused");
    const char *a = tmp_file("mk_seed_a.gguf");
    char a_path[512], b_path[512];
    snprintf(a_path, sizeof a_path, "%s", a);
    snprintf(b_path, sizeof b_path, "%s", tmp_file("mk_seed_b.gguf"));
    const char *args[] = {"--preset", "gemma4-31b", "--layers", "1", "--shrink", "16",
                          "--vocab-size", "1024", "--type", "Q4_K", "--seed", "7", "-q", "-o",
                          a_path, NULL};
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    args[14] = b_path;
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    size_t na = 0, nb = 0;
    char *fa = read_file(a_path, &na), *fb = read_file(b_path, &nb);
    EXPECT(fa && fb && na == nb && !memcmp(fa, fb, na), "same seed, different files");
    free(fb);
    args[11] = "8";
    EXPECT(run_mkmodel(args) == 0, "mkmodel failed");
    fb = read_file(b_path, &nb);
    EXPECT(fa && fb && na == nb && memcmp(fa, fb, na), "different seed, same file");
    free(fa);
    free(fb);
    remove(a_path);
    remove(b_path);

    char vocab4[512];
    snprintf(vocab4, sizeof vocab4, "%s", fixture_path("tokenizer/gemma-4.gguf"));
    const char *bad[][14] = {
        {"--preset", "gemma9", "-o", b_path, NULL},
        {"--preset", "gemma3-1b", "--type", "Q7_K", "-o", b_path, NULL},
        {"--preset", "gemma3-1b", "--experts", "4", "-o", b_path, NULL},
        {"--preset", "gemma3-1b", "--shrink", "7", "-o", b_path, NULL},
        {"--preset", "gemma3-1b", "--layers", "0", "-o", b_path, NULL},
        {"--preset", "gemma3-1b", NULL},
        {"--preset", "gemma3-1b", "--bogus", "-o", b_path, NULL},
        {"--preset", "gemma4-e2b", "--script", "hi there", "-o", b_path, NULL},   /* no --vocab */
        /* " the" would have to lead on to both " the" and " cat" */
        {"--preset", "gemma4-e2b", "--shrink", "16", "--layers", "1", "--vocab", vocab4,
         "--script", " the the cat", "-o", b_path, NULL}};
    fprintf(stderr, "(the following mkmodel errors are expected)\n");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(run_mkmodel(bad[i]) != 0, "bad option set %zu accepted", i);
        EXPECT(!file_exists(b_path), "bad option set %zu left a file", i);
    }
    TEST_END();
}

void suite_mkmodel(void) {
    test_writer_round_trip();
    test_writer_alignment();
    test_writer_copy();
    test_writer_errors();
    test_random_blocks();
    static const preset_case cases[] = {
        {"gemma-2b", "Q4_0", "2", "8"},       {"gemma2-2b", "Q8_0", "2", "8"},
        {"gemma3-270m", "Q4_K_M", "6", "4"},  {"gemma3-1b", "Q5_K_M", "6", "4"},
        {"gemma3-4b", "IQ4_XS", "6", "8"},    {"gemma4-e2b", "Q6_K", "6", "8"},
        {"gemma4-e4b", "BF16", "6", "8"},     {"gemma4-31b", "MXFP4", "6", "16"},
        {"gemma4-26b-a4b", "Q4_K_M", "6", "8"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_preset_runs(&cases[i]);
    test_q4_k_m_mix();
    test_27b_query_scale();
    test_e2b_cut();
    test_long_prompt("gemma3-1b", "F32", 2e-3f);
    test_long_prompt("gemma4-e2b", "F32", 2e-3f);
    test_long_prompt("gemma3-1b", "Q4_0", 0.02f);
    test_long_prompt("gemma3-1b", "Q4_K_M", 0.02f);
    test_synthetic_vocab("gemma3", "tokenizer/gemma-3.gguf");
    test_synthetic_vocab("gemma4", "tokenizer/gemma-4.gguf");
    test_copied_vocab();
    test_determinism_and_options();
}
