/* test_gguf.c - the GGUF container reader: valid files parse, every broken file in
 * doc/gguf.md#validation-rules is refused with a message naming the problem, nothing crashes.
 *
 * Test files are built in memory with a tiny writer (the `bytes` builder below). Each is
 * opened from an exact-size heap copy, so AddressSanitizer sees any read past the end. */
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "kernels/quant.h"
#include "util.h"

/* gguf_parse_steps per record (key, tensor, array element) that a linear parse stays under:
 * measured at most 5.8 (reads and table probes); quadratic work is thousands. */
#define MAX_STEPS_PER_RECORD 10

/* ---- a byte-buffer GGUF writer ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(bytes *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(bytes *b, float v) { put(b, &v, 4); }
static void put_f64(bytes *b, double v) { put(b, &v, 8); }
static void put_strn(bytes *b, const char *s, size_t n) { put_u64(b, n); put(b, s, n); }
static void put_str(bytes *b, const char *s) { put_strn(b, s, strlen(s)); }
static void put_zeros(bytes *b, size_t n) { while (n--) put_u8(b, 0); }
static void pad_to(bytes *b, size_t align) { while (b->n % align) put_u8(b, 0); }
static void patch_u64(bytes *b, size_t at, uint64_t v) { memcpy(b->p + at, &v, 8); }
static void bytes_free(bytes *b) { free(b->p); memset(b, 0, sizeof *b); }

static void put_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void put_key(bytes *b, const char *key, uint32_t type) { put_str(b, key); put_u32(b, type); }
static void put_arr(bytes *b, const char *key, uint32_t elem, uint64_t n) {
    put_key(b, key, GGUF_ARRAY);
    put_u32(b, elem);
    put_u64(b, n);
}
/* A tensor-info record; ne has n_dims entries (n_dims may be out of range on purpose). */
static void put_tinfo(bytes *b, const char *name, uint32_t n_dims, const int64_t *ne,
                      uint32_t type, uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(b, (uint64_t)ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

/* ---- helpers ---- */

static bool contains_ci(const char *s, const char *want) {
    size_t n = strlen(want);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && (s[i] | 0x20) == (want[i] | 0x20)) i++;
        if (i == n) return true;
    }
    return n == 0;
}

/* Open an exact-size heap copy of b (the copy is returned in *copy for the caller to free
 * after gguf_close). */
static gguf_file *open_copy(const bytes *b, size_t n, uint8_t **copy, char *err) {
    *copy = malloc(n ? n : 1);
    if (n) memcpy(*copy, b->p, n);
    return gguf_open_memory(*copy, n, "t.gguf", err);
}

/* Expect b to be refused with a one-line message starting with the name and containing
 * every one of the (up to two) strings. */
static void expect_fail2(const bytes *b, const char *want, const char *want2) {
    char err[GEMMA_ERR_LEN] = "";
    uint8_t *copy;
    gguf_file *f = open_copy(b, b->n, &copy, err);
    EXPECT(f == NULL, "file was accepted, expected an error mentioning '%s'", want);
    gguf_close(f);
    free(copy);
    EXPECT(strncmp(err, "t.gguf: ", 8) == 0, "message does not start with the name: '%s'", err);
    EXPECT(contains_ci(err, want), "message '%s' does not mention '%s'", err, want);
    if (want2) EXPECT(contains_ci(err, want2), "message '%s' does not mention '%s'", err, want2);
    EXPECT(strchr(err, '\n') == NULL, "message has a newline: '%s'", err);
}
static void expect_fail(const bytes *b, const char *want) { expect_fail2(b, want, NULL); }

static gguf_file *expect_open(const bytes *b, uint8_t **copy) {
    char err[GEMMA_ERR_LEN] = "";
    gguf_file *f = open_copy(b, b->n, copy, err);
    EXPECT(f != NULL, "valid file refused: %s", err);
    return f;
}

static bool write_file(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(p, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

static float f32_at(const void *p, size_t i) {
    float v;
    memcpy(&v, (const uint8_t *)p + 4 * i, 4);
    return v;
}

/* ---- the worked example of doc/gguf.md#worked-example ---- */

static void build_worked_example(bytes *b, size_t marks[6]) {
    put_header(b, 3, 2, 4);
    put_key(b, "general.architecture", GGUF_STRING);
    put_str(b, "llama");
    marks[0] = b->n;
    put_key(b, "test.u32", GGUF_U32);
    put_u32(b, 7);
    marks[1] = b->n;
    put_arr(b, "test.arr", GGUF_I32, 3);
    put_u32(b, 1); put_u32(b, 2); put_u32(b, 3);
    marks[2] = b->n;
    put_key(b, "test.s", GGUF_STRING);
    put_str(b, "h\xc3\xa9");
    marks[3] = b->n;
    put_tinfo(b, "a", 2, (const int64_t[]){3, 2}, GGML_TYPE_F32, 0);
    marks[4] = b->n;
    put_tinfo(b, "b", 1, (const int64_t[]){5}, GGML_TYPE_F16, 32);
    marks[5] = b->n;
    pad_to(b, 32);
    for (int i = 0; i < 6; i++) put_f32(b, (float)(i + 1));
    pad_to(b, 32);
    for (int i = 0; i < 5; i++) put_u16(b, fp32_to_fp16((float)i * 0.5f));
    pad_to(b, 32);
}

static void check_worked_example(const gguf_file *f, const uint8_t *base) {
    char err[GEMMA_ERR_LEN];
    EXPECT(f->version == 3 && f->n_kv == 4 && f->n_tensors == 2, "header: v%u %llu kv %llu tensors",
           f->version, (unsigned long long)f->n_kv, (unsigned long long)f->n_tensors);
    EXPECT(f->alignment == 32, "alignment %u", f->alignment);
    EXPECT(f->data_offset == 0x100, "data offset 0x%llx", (unsigned long long)f->data_offset);

    gguf_str s = {0};
    EXPECT(gguf_get_str(f, "general.architecture", &s, err) == 1 && gguf_str_eq(s, "llama"),
           "general.architecture");
    uint32_t u = 0;
    int64_t i64 = 0;
    EXPECT(gguf_get_u32(f, "test.u32", &u, err) == 1 && u == 7, "test.u32 = %u", u);
    EXPECT(gguf_get_i64(f, "test.u32", &i64, err) == 1 && i64 == 7, "test.u32 as i64");
    EXPECT(gguf_get_str(f, "test.s", &s, err) == 1 && s.len == 3 &&
           memcmp(s.ptr, "h\xc3\xa9", 3) == 0, "test.s = UTF-8 'hé'");
    EXPECT((const uint8_t *)s.ptr > base && (const uint8_t *)s.ptr < base + f->size,
           "string points into the file");

    const gguf_kv *arr = gguf_find(f, "test.arr");
    EXPECT(arr && arr->type == GGUF_ARRAY && arr->arr_type == GGUF_I32 && arr->arr_n == 3,
           "test.arr shape");
    if (arr) {
        EXPECT(gguf_arr_is_int(arr) && !gguf_arr_is_float(arr), "test.arr is an int array");
        EXPECT(gguf_arr_int(arr, 0) == 1 && gguf_arr_int(arr, 1) == 2 && gguf_arr_int(arr, 2) == 3,
               "test.arr values");
        EXPECT(gguf_arr_strings(f, arr, NULL, err) == -1 && contains_ci(err, "test.arr"),
               "gguf_arr_strings on an int array: %s", err);
    }

    /* wrong types: -1 with a message naming the key and the types */
    EXPECT(gguf_get_str(f, "test.u32", &s, err) == -1 && contains_ci(err, "test.u32") &&
           contains_ci(err, "u32") && contains_ci(err, "string"), "str of u32: %s", err);
    EXPECT(gguf_get_u32(f, "test.s", &u, err) == -1 && contains_ci(err, "test.s"),
           "u32 of string: %s", err);
    float fl = 0;
    EXPECT(gguf_get_f32(f, "test.u32", &fl, err) == -1, "f32 of u32");
    bool bl = false;
    EXPECT(gguf_get_bool(f, "test.u32", &bl, err) == -1, "bool of u32 = 7");
    EXPECT(gguf_get_i64(f, "test.arr", &i64, err) == -1 && contains_ci(err, "array of i32"),
           "i64 of array: %s", err);
    /* absent keys: 0 and the output untouched */
    u = 12345;
    EXPECT(gguf_get_u32(f, "test.missing", &u, err) == 0 && u == 12345, "absent u32");
    s.ptr = NULL;
    EXPECT(gguf_get_str(f, "nope", &s, err) == 0 && s.ptr == NULL, "absent str");
    EXPECT(gguf_find(f, "test") == NULL && gguf_find(f, "test.u32x") == NULL, "prefix keys absent");

    const gguf_tensor *a = gguf_find_tensor(f, "a"), *b = gguf_find_tensor(f, "b");
    EXPECT(a && b && gguf_find_tensor(f, "c") == NULL, "tensor look-up");
    if (a) {
        EXPECT(a->n_dims == 2 && a->ne[0] == 3 && a->ne[1] == 2 && a->ne[2] == 1 && a->ne[3] == 1,
               "a shape");
        EXPECT(a->type == GGML_TYPE_F32 && a->nbytes == 24 && a->offset == 0, "a type/size/offset");
        EXPECT((const uint8_t *)a->data == base + 0x100, "a data pointer");
        EXPECT(f32_at(a->data, 0) == 1.0f && f32_at(a->data, 5) == 6.0f, "a values");
    }
    if (b) {
        EXPECT(b->n_dims == 1 && b->ne[0] == 5 && b->ne[1] == 1, "b shape");
        EXPECT(b->type == GGML_TYPE_F16 && b->nbytes == 10 && b->offset == 32,
               "b type/size/offset");
        EXPECT((const uint8_t *)b->data == base + 0x120, "b data pointer");
        EXPECT(fp16_to_fp32(rd_u16((const uint8_t *)b->data + 8)) == 2.0f, "b[4] == 2");
    }
}

static void test_worked_example(void) {
    bytes b = {0};
    size_t marks[6];
    build_worked_example(&b, marks);

    TEST_BEGIN("gguf: worked example (doc/gguf.md#worked-example) has the documented layout");
    static const size_t want[6] = {0x45, 0x5d, 0x89, 0xa6, 0xcf, 0xf0};
    for (int i = 0; i < 6; i++)
        EXPECT(marks[i] == want[i],
               "record %d ends at 0x%zx, expected 0x%zx", i, marks[i], want[i]);
    EXPECT(b.n == 0x140, "file size 0x%zx", b.n);
    TEST_END();

    TEST_BEGIN("gguf: worked example parses from memory (keys, arrays, UTF-8, tensors, getters)");
    uint8_t *copy;
    gguf_file *f = expect_open(&b, &copy);
    if (f) {
        EXPECT(!f->mmapped, "memory file is not mmapped");
        check_worked_example(f, copy);
    }
    gguf_close(f);
    free(copy);
    TEST_END();

    TEST_BEGIN("gguf: worked example parses from a file on disk (mmap)");
    char path[512], err[GEMMA_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/gguf_worked_example.gguf", tmp_dir());
    EXPECT(write_file(path, b.p, b.n), "cannot write %s", path);
    f = gguf_open(path, err);
    EXPECT(f != NULL, "gguf_open failed: %s", err);
    if (f) {
        EXPECT(f->mmapped && f->size == b.n && strcmp(f->path, path) == 0, "mapping and path");
        check_worked_example(f, f->base);
    }
    gguf_close(f);
    TEST_END();
    bytes_free(&b);
}

/* ---- a file with every value type, arrays of several kinds, and two tensors ---- */

static void build_all_types(bytes *b) {
    put_header(b, 3, 2, 0); /* kv count patched below */
    uint64_t n = 0;
    put_key(b, "t.u8", GGUF_U8); put_u8(b, 200); n++;
    put_key(b, "t.i8", GGUF_I8); put_u8(b, (uint8_t)-5); n++;
    put_key(b, "t.u16", GGUF_U16); put_u16(b, 60000); n++;
    put_key(b, "t.i16", GGUF_I16); put_u16(b, (uint16_t)-300); n++;
    put_key(b, "t.u32", GGUF_U32); put_u32(b, 4000000000u); n++;
    put_key(b, "t.i32", GGUF_I32); put_u32(b, (uint32_t)-70000); n++;
    put_key(b, "t.f32", GGUF_F32); put_f32(b, 1.5f); n++;
    put_key(b, "t.bool", GGUF_BOOL); put_u8(b, 1); n++;
    put_key(b, "t.bool7", GGUF_BOOL); put_u8(b, 7); n++;  /* nonzero reads as true */
    put_key(b, "t.str", GGUF_STRING); put_str(b, "hello"); n++;
    put_key(b, "t.empty", GGUF_STRING); put_str(b, ""); n++;
    put_key(b, "t.u64", GGUF_U64); put_u64(b, (1ull << 63) + 5); n++;
    put_key(b, "t.i64", GGUF_I64); put_u64(b, (uint64_t)-(1ll << 40)); n++;
    put_key(b, "t.f64", GGUF_F64); put_f64(b, -2.25); n++;
    put_arr(b, "t.arr.i32", GGUF_I32, 3);
    put_u32(b, 1); put_u32(b, (uint32_t)-2); put_u32(b, 3); n++;
    put_arr(b, "t.arr.i16", GGUF_I16, 2); put_u16(b, (uint16_t)-7); put_u16(b, 9); n++;
    put_arr(b, "t.arr.u64", GGUF_U64, 2); put_u64(b, 42); put_u64(b, UINT64_MAX); n++;
    put_arr(b, "t.arr.f32", GGUF_F32, 2); put_f32(b, 0.5f); put_f32(b, -4.0f); n++;
    put_arr(b, "t.arr.f64", GGUF_F64, 1); put_f64(b, 1e300); n++;
    put_arr(b, "t.arr.bool", GGUF_BOOL, 3); put_u8(b, 1); put_u8(b, 0); put_u8(b, 2); n++;
    put_arr(b, "t.arr.str", GGUF_STRING, 3);
    put_str(b, "a"); put_str(b, ""); put_strn(b, "x\0y", 3); n++;
    put_arr(b, "t.arr.u8", GGUF_U8, 0); n++;  /* empty arrays are legal */
    patch_u64(b, 16, n);
    put_tinfo(b, "t.f32", 2, (const int64_t[]){4, 2}, GGML_TYPE_F32, 0);
    put_tinfo(b, "t.q8", 1, (const int64_t[]){64}, GGML_TYPE_Q8_0, 32);
    pad_to(b, 32);
    for (int i = 0; i < 8; i++) put_f32(b, (float)i);
    for (int i = 0; i < 68; i++) put_u8(b, (uint8_t)i);
    /* no padding after the last tensor: every proper prefix is then invalid */
}

static void test_all_types(void) {
    bytes b = {0};
    build_all_types(&b);
    char err[GEMMA_ERR_LEN];

    TEST_BEGIN("gguf: every value type and array kind parses, getters convert");
    uint8_t *copy;
    gguf_file *f = expect_open(&b, &copy);
    if (f) {
        int64_t v = 0;
        uint32_t u = 0;
        float fl = 0;
        bool bl = false;
        gguf_str s;
        EXPECT(gguf_get_i64(f, "t.u8", &v, err) == 1 && v == 200, "u8");
        EXPECT(gguf_get_i64(f, "t.i8", &v, err) == 1 && v == -5, "i8");
        EXPECT(gguf_get_u32(f, "t.i8", &u, err) == -1 && contains_ci(err, "negative"),
               "u32 of -5: %s", err);
        EXPECT(gguf_get_u32(f, "t.u16", &u, err) == 1 && u == 60000, "u16");
        EXPECT(gguf_get_i64(f, "t.i16", &v, err) == 1 && v == -300, "i16");
        EXPECT(gguf_get_u32(f, "t.u32", &u, err) == 1 && u == 4000000000u, "u32");
        EXPECT(gguf_get_i64(f, "t.i32", &v, err) == 1 && v == -70000, "i32");
        EXPECT(gguf_get_f32(f, "t.f32", &fl, err) == 1 && fl == 1.5f, "f32");
        EXPECT(gguf_get_f32(f, "t.f64", &fl, err) == 1 && fl == -2.25f, "f64 as f32");
        EXPECT(gguf_get_bool(f, "t.bool", &bl, err) == 1 && bl, "bool");
        bl = false;
        EXPECT(gguf_get_bool(f, "t.bool7", &bl, err) == 1 && bl, "bool byte 7 is true");
        EXPECT(gguf_get_i64(f, "t.bool", &v, err) == 1 && v == 1, "bool as integer");
        EXPECT(gguf_get_str(f, "t.str", &s, err) == 1 && gguf_str_eq(s, "hello"), "string");
        EXPECT(gguf_get_str(f, "t.empty", &s, err) == 1 && s.len == 0, "empty string value");
        EXPECT(gguf_get_i64(f, "t.u64", &v, err) == -1 && contains_ci(err, "fit"),
               "u64 > INT64_MAX: %s", err);
        EXPECT(gguf_get_u32(f, "t.i64", &u, err) == -1, "u32 of negative i64");
        EXPECT(gguf_get_i64(f, "t.i64", &v, err) == 1 && v == -(1ll << 40), "i64");
        EXPECT(gguf_get_u32(f, "t.u64", &u, err) == -1 && contains_ci(err, "u32"),
               "u32 of huge u64");
        EXPECT(gguf_get_f32(f, "t.str", &fl, err) == -1, "f32 of string");

        const gguf_kv *kv = gguf_find(f, "t.arr.i32");
        EXPECT(kv && kv->arr_n == 3 && gguf_arr_int(kv, 1) == -2 && gguf_arr_float(kv, 2) == 3.0,
               "i32 array");
        kv = gguf_find(f, "t.arr.i16");
        EXPECT(kv && gguf_arr_int(kv, 0) == -7 && gguf_arr_int(kv, 1) == 9, "i16 array");
        kv = gguf_find(f, "t.arr.u64");
        EXPECT(kv && gguf_arr_int(kv, 0) == 42 && gguf_arr_int(kv, 1) == INT64_MAX,
               "u64 array saturates");
        kv = gguf_find(f, "t.arr.f32");
        EXPECT(kv && gguf_arr_is_float(kv) && !gguf_arr_is_int(kv) && gguf_arr_float(kv, 1) == -4.0,
               "f32 array");
        kv = gguf_find(f, "t.arr.f64");
        EXPECT(kv && gguf_arr_float(kv, 0) == 1e300, "f64 array");
        kv = gguf_find(f, "t.arr.bool");
        EXPECT(kv && gguf_arr_is_int(kv) && gguf_arr_int(kv, 0) == 1 && gguf_arr_int(kv, 1) == 0 &&
               gguf_arr_int(kv, 2) == 1, "bool array");
        kv = gguf_find(f, "t.arr.str");
        gguf_str strs[3];
        EXPECT(kv && gguf_arr_strings(f, kv, strs, err) == 0, "string array: %s", err);
        if (kv) {
            EXPECT(gguf_str_eq(strs[0], "a") && strs[1].len == 0, "strings 0 and 1");
            EXPECT(strs[2].len == 3 && memcmp(strs[2].ptr, "x\0y", 3) == 0,
                   "string with a NUL byte");
        }
        kv = gguf_find(f, "t.arr.u8");
        EXPECT(kv && kv->type == GGUF_ARRAY && kv->arr_n == 0, "empty array");
        const gguf_tensor *q = gguf_find_tensor(f, "t.q8");
        EXPECT(q && q->nbytes == 68 && (const uint8_t *)q->data + 68 == copy + b.n,
               "q8 tensor at the end");
        EXPECT(strcmp(gguf_vtype_name(GGUF_U32), "u32") == 0 && strcmp(gguf_vtype_name(99),
               "invalid") == 0,
               "gguf_vtype_name");
    }
    gguf_close(f);
    free(copy);
    TEST_END();

    TEST_BEGIN("gguf: truncation at every byte offset is refused (%zu prefixes)", b.n);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        char e[GEMMA_ERR_LEN] = "";
        f = open_copy(&b, n, &copy, e);
        bool ok = f == NULL && strncmp(e, "t.gguf: ", 8) == 0 &&
                  (contains_ci(e, "truncated") || contains_ci(e, "empty"));
        if (!ok && bad++ < 3) EXPECT(ok, "prefix of %zu bytes: %s", n, f ? "accepted" : e);
        gguf_close(f);
        free(copy);
    }
    EXPECT(bad == 0, "%d prefixes not refused as truncated", bad);
    TEST_END();

    TEST_BEGIN("gguf: truncated file on disk is refused via gguf_open");
    char path[512];
    snprintf(path, sizeof path, "%s/gguf_truncated.gguf", tmp_dir());
    EXPECT(write_file(path, b.p, b.n - 1), "cannot write %s", path);
    f = gguf_open(path, err);
    EXPECT(f == NULL && strncmp(err, path, strlen(path)) == 0 && contains_ci(err, "truncated") &&
           contains_ci(err, "t.q8"), "message: %s", err);
    gguf_close(f);
    TEST_END();

    TEST_BEGIN("gguf: random byte flips never crash (fixed seed, 5000 files)");
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int accepted = 0;
    for (int it = 0; it < 5000; it++) {
        copy = malloc(b.n);
        memcpy(copy, b.p, b.n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            size_t at = (size_t)(rng % b.n);
            uint8_t val = (uint8_t)(rng >> 32);
            if (it % 3 == 0) val = (rng >> 40) & 1 ? 0xff : 0x00;
            copy[at] = (it % 5 == 0) ? (uint8_t)(copy[at] ^ (1u << ((rng >> 48) & 7))) : val;
        }
        char e[GEMMA_ERR_LEN] = "";
        f = gguf_open_memory(copy, b.n, "t.gguf", e);
        if (f) {  /* touch everything the file hands out */
            accepted++;
            for (uint64_t i = 0; i < f->n_kv; i++) {
                const gguf_kv *kv = &f->kv[i];
                EXPECT(gguf_find(f, kv->key) == kv, "lookup of key %llu", (unsigned long long)i);
                if (kv->type == GGUF_ARRAY && kv->arr_type == GGUF_STRING) {
                    gguf_str *strs = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *strs);
                    gguf_arr_strings(f, kv, strs, e);
                    volatile uint8_t sink = 0;
                    for (uint64_t j = 0; j < kv->arr_n; j++)
                        if (strs[j].len) sink ^= (uint8_t)strs[j].ptr[strs[j].len - 1];
                    (void)sink;
                    free(strs);
                } else if (kv->type == GGUF_ARRAY) {
                    for (uint64_t j = 0; j < kv->arr_n; j++) (void)gguf_arr_float(kv, j);
                } else {
                    int64_t v;
                    gguf_str s;
                    (void)gguf_get_i64(f, kv->key, &v, e);
                    if (gguf_get_str(f, kv->key, &s, e) == 1 && s.len)
                        EXPECT((const uint8_t *)s.ptr + s.len <= copy + b.n, "string in bounds");
                }
            }
            for (uint64_t i = 0; i < f->n_tensors; i++) {
                const gguf_tensor *t = &f->tensors[i];
                EXPECT(gguf_find_tensor(f, t->name) == t,
                       "lookup of tensor %llu", (unsigned long long)i);
                const uint8_t *d = t->data;
                EXPECT(d >= copy && d + t->nbytes <= copy + b.n,
                       "tensor %s in bounds", t->name);
            }
            gguf_close(f);
        } else {
            EXPECT(strncmp(e, "t.gguf: ", 8) == 0 && !strchr(e, '\n'), "message: %s", e);
        }
        free(copy);
    }
    EXPECT(accepted > 0 && accepted < 5000,
           "accepted %d of 5000 (expected some of each)", accepted);
    TEST_END();
    bytes_free(&b);
}

/* ---- header ---- */

static void test_header(void) {
    bytes b = {0};

    TEST_BEGIN("gguf: bad magic is refused, showing the 4 bytes");
    put(&b, "GGML", 4); put_u32(&b, 3); put_u64(&b, 0); put_u64(&b, 0);
    expect_fail2(&b, "magic", "'GGML'");
    b.p[0] = 0x01;
    expect_fail2(&b, "magic", "'?GML'");
    bytes_free(&b);
    put(&b, "hello", 5);
    expect_fail(&b, "magic");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: files shorter than the header are refused");
    expect_fail(&b, "empty");  /* 0 bytes */
    put(&b, "GGU", 3);
    expect_fail(&b, "truncated");
    bytes_free(&b);
    put(&b, "GGUF", 4); put_u32(&b, 3); put_u32(&b, 0);
    expect_fail2(&b, "truncated", "tensor count");
    bytes_free(&b);
    TEST_END();

    static const struct { uint32_t v; const char *want; } versions[] = {
        {0, "version 0"}, {1, "GGUFv1 is no longer supported"}, {4, "newer than supported"},
        {0x03000000, "endian"}, {0x00020000, "endian"}, {0xFFFFFFFF, "newer"},
    };
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        TEST_BEGIN("gguf: version 0x%x is refused", versions[i].v);
        put_header(&b, versions[i].v, 0, 0);
        expect_fail(&b, versions[i].want);
        bytes_free(&b);
        TEST_END();
    }

    TEST_BEGIN("gguf: version 2 is accepted");
    put_header(&b, 2, 0, 1);
    put_key(&b, "a", GGUF_U8); put_u8(&b, 1);
    uint8_t *copy;
    gguf_file *f = expect_open(&b, &copy);
    EXPECT(!f || f->version == 2, "version");
    gguf_close(f);
    free(copy);
    bytes_free(&b);
    TEST_END();

    static const struct { uint64_t n_tensors, n_kv; const char *want; } counts[] = {
        {0, 1ull << 62, "kv count"},
        {(1ull << 63) - 1, 0, "tensor count"},
        {0, UINT64_MAX, "negative"},
        {1ull << 63, 0, "negative"},
        {0, 2, "kv count"},       /* 2 records cannot fit in the 14 bytes that follow */
        {1, 0, "tensor count"},   /* 25 bytes needed, 14 present */
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        TEST_BEGIN("gguf: absurd counts are refused (tensors %llu, kv %llu)",
                   (unsigned long long)counts[i].n_tensors, (unsigned long long)counts[i].n_kv);
        put_header(&b, 3, counts[i].n_tensors, counts[i].n_kv);
        put_key(&b, "a", GGUF_U8); put_u8(&b, 1);  /* 14 bytes: one minimal record */
        expect_fail(&b, counts[i].want);
        bytes_free(&b);
        TEST_END();
    }
}

/* ---- key/value section ---- */

static void test_kv_rules(void) {
    bytes b = {0};

    TEST_BEGIN("gguf: absurd key length is refused");
    put_header(&b, 3, 0, 1);
    put_u64(&b, 1ull << 40); put(&b, "abcdef", 6);
    expect_fail2(&b, "2^30", "key 0");
    bytes_free(&b);
    put_header(&b, 3, 0, 1);
    put_u64(&b, 100); put(&b, "abcdef", 6);
    expect_fail2(&b, "truncated", "remain");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: absurd string value length is refused");
    put_header(&b, 3, 0, 1);
    put_key(&b, "s", GGUF_STRING); put_u64(&b, 1ull << 31); put(&b, "xyz", 3);
    expect_fail2(&b, "2^30", "'s'");
    bytes_free(&b);
    put_header(&b, 3, 0, 1);
    put_key(&b, "s", GGUF_STRING); put_u64(&b, 1000); put(&b, "xyz", 3);
    expect_fail2(&b, "truncated", "3 remain");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: absurd array counts are refused");
    put_header(&b, 3, 0, 1);
    put_arr(&b, "a", GGUF_U8, (1ull << 30) + 1); put_u8(&b, 0);
    expect_fail2(&b, "2^30", "array count");
    bytes_free(&b);
    put_header(&b, 3, 0, 1);
    put_arr(&b, "a", GGUF_U64, 1ull << 61);  /* count * 8 would overflow */
    put_u64(&b, 0);
    expect_fail(&b, "2^30");
    bytes_free(&b);
    put_header(&b, 3, 0, 1);
    put_arr(&b, "a", GGUF_U64, 1ull << 30);  /* 8 GiB of u64s in a tiny file */
    put_u64(&b, 0);
    expect_fail2(&b, "truncated", "remain");
    bytes_free(&b);
    put_header(&b, 3, 0, 1);
    put_arr(&b, "a", GGUF_STRING, 1ull << 29);  /* string arrays: 8 bytes per element minimum */
    put_str(&b, "x");
    expect_fail2(&b, "truncated", "strings");
    bytes_free(&b);
    put_header(&b, 3, 0, 1);
    put_arr(&b, "a", GGUF_STRING, 2);
    put_str(&b, "x"); put_u64(&b, 1ull << 32); put(&b, "yyyy", 4);
    expect_fail2(&b, "element 1", "2^30");
    bytes_free(&b);
    TEST_END();

    static const uint32_t bad_types[] = {13, 0xFFFFFFFF};
    for (int i = 0; i < 2; i++) {
        TEST_BEGIN("gguf: unknown value type %u is refused", bad_types[i]);
        put_header(&b, 3, 0, 1);
        put_key(&b, "k", bad_types[i]); put_u64(&b, 0);
        char want[64];
        snprintf(want, sizeof want, "invalid value type %u", bad_types[i]);
        expect_fail(&b, want);
        bytes_free(&b);
        put_header(&b, 3, 0, 1);
        put_arr(&b, "k", bad_types[i], 1); put_u64(&b, 0);
        expect_fail(&b, "invalid array element type");
        bytes_free(&b);
        TEST_END();
    }

    TEST_BEGIN("gguf: array of arrays is refused");
    put_header(&b, 3, 0, 1);
    put_arr(&b, "nested", GGUF_ARRAY, 1);
    put_u32(&b, GGUF_U8); put_u64(&b, 1); put_u8(&b, 5);
    expect_fail2(&b, "nested", "'nested'");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: empty key is refused");
    put_header(&b, 3, 0, 2);
    put_key(&b, "ok", GGUF_U8); put_u8(&b, 1);
    put_key(&b, "", GGUF_U8); put_u8(&b, 1);
    expect_fail2(&b, "key 1", "empty");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: key containing a NUL byte is refused");
    put_header(&b, 3, 0, 1);
    put_strn(&b, "a\0b", 3); put_u32(&b, GGUF_U8); put_u8(&b, 1);
    expect_fail(&b, "NUL");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: duplicate key is refused");
    put_header(&b, 3, 0, 3);
    put_key(&b, "general.name", GGUF_STRING); put_str(&b, "x");
    put_key(&b, "other", GGUF_U8); put_u8(&b, 1);
    put_key(&b, "general.name", GGUF_U32); put_u32(&b, 1);
    expect_fail2(&b, "duplicate", "general.name");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: 100000 keys parse and look up by hash (duplicate found at the end)");
    put_header(&b, 3, 0, 100000);
    char key[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "k.%d", i);
        put_key(&b, key, GGUF_U32); put_u32(&b, (uint32_t)i * 3);
    }
    uint8_t *copy;
    gguf_file *f = expect_open(&b, &copy);
    if (f) {
        /* the work, not the time (which a loaded machine stretches): a linear scan for
         * duplicates or a hash that collides would be ~50000 steps per key */
        double per_key = (double)gguf_parse_steps(f) / 100000;
        EXPECT(per_key <= MAX_STEPS_PER_RECORD, "%.1f parse steps per key", per_key);
        char err[GEMMA_ERR_LEN];
        uint32_t v = 0;
        EXPECT(gguf_get_u32(f, "k.99999", &v, err) == 1 && v == 299997, "k.99999");
        EXPECT(gguf_get_u32(f, "k.0", &v, err) == 1 && v == 0, "k.0");
        EXPECT(gguf_find(f, "k.100000") == NULL, "absent");
    }
    gguf_close(f);
    free(copy);
    b.n -= 4 + 4 + 8 + strlen("k.99999");  /* replace the last key with a duplicate */
    put_key(&b, "k.5", GGUF_U32); put_u32(&b, 1);
    expect_fail2(&b, "duplicate", "key 5)");
    bytes_free(&b);
    TEST_END();
}

static void test_alignment(void) {
    bytes b = {0};

    TEST_BEGIN("gguf: general.alignment of the wrong type is refused");
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.alignment", GGUF_I32); put_u32(&b, 32);
    expect_fail2(&b, "general.alignment", "must be of type u32 but is i32");
    bytes_free(&b);
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.alignment", GGUF_U64); put_u64(&b, 32);
    expect_fail2(&b, "general.alignment", "u64");
    bytes_free(&b);
    TEST_END();

    static const uint32_t bad[] = {0, 3, 48};
    for (int i = 0; i < 3; i++) {
        TEST_BEGIN("gguf: general.alignment %u is refused", bad[i]);
        put_header(&b, 3, 0, 1);
        put_key(&b, "general.alignment", GGUF_U32); put_u32(&b, bad[i]);
        expect_fail2(&b, "alignment", "power of two");
        bytes_free(&b);
        TEST_END();
    }

    TEST_BEGIN("gguf: a valid file with alignment 64");
    put_header(&b, 3, 2, 1);
    put_key(&b, "general.alignment", GGUF_U32); put_u32(&b, 64);
    put_tinfo(&b, "x", 1, (const int64_t[]){3}, GGML_TYPE_F32, 0);
    put_tinfo(&b, "y", 2, (const int64_t[]){32, 2}, GGML_TYPE_Q8_0, 64);
    pad_to(&b, 64);
    size_t data_off = b.n;
    put_zeros(&b, 12); pad_to(&b, 64); put_zeros(&b, 68); pad_to(&b, 64);
    uint8_t *copy;
    gguf_file *f = expect_open(&b, &copy);
    if (f) {
        EXPECT(f->alignment == 64 && f->data_offset == data_off && data_off % 64 == 0,
               "alignment/data offset");
        const gguf_tensor *y = gguf_find_tensor(f, "y");
        EXPECT(y && (const uint8_t *)y->data == copy + data_off + 64 && y->nbytes == 68,
               "y placement");
    }
    gguf_close(f);
    free(copy);
    /* the same offsets under the default alignment would be a gap: 64 instead of 32 */
    bytes_free(&b);
    TEST_END();
}

/* ---- tensor infos and the data section ---- */

/* A file with one KV and the given tensor infos; data section of data_bytes zero bytes. */
static void one_tensor(bytes *b, const char *name, uint32_t n_dims, const int64_t *ne,
                       uint32_t type, uint64_t offset, size_t data_bytes) {
    put_header(b, 3, 1, 1);
    put_key(b, "general.architecture", GGUF_STRING); put_str(b, "test");
    put_tinfo(b, name, n_dims, ne, type, offset);
    pad_to(b, 32);
    put_zeros(b, data_bytes);
}

static void test_tensor_rules(void) {
    bytes b = {0};
    const int64_t ne8[] = {8, 1, 1, 1, 1};
    uint8_t *copy;
    gguf_file *f;

    TEST_BEGIN("gguf: tensor with an empty name is refused");
    one_tensor(&b, "", 1, ne8, GGML_TYPE_F32, 0, 32);
    expect_fail2(&b, "tensor 0", "empty name");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: tensor name of 64 bytes is refused, 63 accepted");
    char name[65];
    memset(name, 'n', 64);
    name[64] = 0;
    one_tensor(&b, name, 1, ne8, GGML_TYPE_F32, 0, 32);
    expect_fail(&b, "too long");
    bytes_free(&b);
    name[63] = 0;
    one_tensor(&b, name, 1, ne8, GGML_TYPE_F32, 0, 32);
    f = expect_open(&b, &copy);
    EXPECT(!f || gguf_find_tensor(f, name) != NULL, "63-byte name found");
    gguf_close(f);
    free(copy);
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: duplicate tensor name is refused");
    put_header(&b, 3, 2, 0);
    put_tinfo(&b, "w", 1, ne8, GGML_TYPE_F32, 0);
    put_tinfo(&b, "w", 1, ne8, GGML_TYPE_F32, 32);
    pad_to(&b, 32);
    put_zeros(&b, 64);
    expect_fail2(&b, "duplicate", "'w'");
    bytes_free(&b);
    TEST_END();

    static const uint32_t bad_dims[] = {0, 5};
    for (int i = 0; i < 2; i++) {
        TEST_BEGIN("gguf: tensor with %u dimensions is refused", bad_dims[i]);
        one_tensor(&b, "w", bad_dims[i], ne8, GGML_TYPE_F32, 0, 32);
        expect_fail(&b, "dimensions");
        bytes_free(&b);
        TEST_END();
    }

    TEST_BEGIN("gguf: negative dimension is refused");
    one_tensor(&b, "w", 2, (const int64_t[]){8, -3}, GGML_TYPE_F32, 0, 32);
    expect_fail2(&b, "negative", "-3");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: element count / byte size overflow is refused");
    one_tensor(&b, "w", 3, (const int64_t[]){1ll << 32, 1ll << 32, 4}, GGML_TYPE_F32, 0, 32);
    expect_fail2(&b, "element count", "overflow");
    bytes_free(&b);
    one_tensor(&b, "w", 2, (const int64_t[]){1ll << 31, 1ll << 31}, GGML_TYPE_F32, 0, 32);
    expect_fail2(&b, "byte size", "overflow");
    bytes_free(&b);
    one_tensor(&b, "w", 2, (const int64_t[]){1ll << 20, 1ll << 20}, GGML_TYPE_F32, 0, 32);
    expect_fail2(&b, "truncated", "'w'");  /* representable, but 4 TiB is not in the file */
    bytes_free(&b);
    TEST_END();

    static const struct { uint32_t type; const char *want; } bad_types[] = {
        {99, "unknown type id 99"}, {GGML_TYPE_COUNT, "unknown type"},
        {TYPE_Q4_0_R16, "unknown type"}, /* our panel layouts are never a file's */
        {4, "removed"}, {31, "removed"}, {36, "removed"},
    };
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        TEST_BEGIN("gguf: tensor type id %u is refused", bad_types[i].type);
        one_tensor(&b, "w", 1, (const int64_t[]){256}, bad_types[i].type, 0, 1024);
        expect_fail2(&b, bad_types[i].want, "'w'");
        bytes_free(&b);
        TEST_END();
    }

    TEST_BEGIN("gguf: types this build may not compute with are still valid in the container");
    one_tensor(&b, "w", 1, (const int64_t[]){256}, GGML_TYPE_IQ2_XXS, 0, 66);
    f = expect_open(&b, &copy);
    EXPECT(!f || (f->tensors[0].type == GGML_TYPE_IQ2_XXS && f->tensors[0].nbytes == 66),
           "IQ2_XXS tensor");
    gguf_close(f);
    free(copy);
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: row length not a multiple of the block size is refused (Q4_0, 33)");
    one_tensor(&b, "w", 2, (const int64_t[]){33, 2}, GGML_TYPE_Q4_0, 0, 64);
    expect_fail2(&b, "multiple", "block size 32");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: zero-element tensor is valid");
    one_tensor(&b, "w", 2, (const int64_t[]){0, 5}, GGML_TYPE_Q4_0, 0, 0);
    f = expect_open(&b, &copy);
    EXPECT(!f || f->tensors[0].nbytes == 0, "nbytes 0");
    gguf_close(f);
    free(copy);
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: misaligned tensor offset is refused");
    one_tensor(&b, "w", 1, ne8, GGML_TYPE_F32, 8, 64);
    expect_fail2(&b, "offset 8", "alignment");
    bytes_free(&b);
    put_header(&b, 3, 2, 0);
    put_tinfo(&b, "a", 1, ne8, GGML_TYPE_F32, 0);
    put_tinfo(&b, "b", 1, ne8, GGML_TYPE_F32, 40);
    pad_to(&b, 32);
    put_zeros(&b, 96);
    expect_fail2(&b, "'b'", "alignment");
    bytes_free(&b);
    TEST_END();

    static const struct { uint64_t off; const char *what; } placements[] = {
        {64, "gap"}, {0, "overlap"},
    };
    for (int i = 0; i < 2; i++) {
        TEST_BEGIN("gguf: tensor offset not the running total is refused (%s)", placements[i].what);
        put_header(&b, 3, 2, 0);
        put_tinfo(&b, "a", 1, ne8, GGML_TYPE_F32, 0);
        put_tinfo(&b, "b", 1, ne8, GGML_TYPE_F32, placements[i].off);
        pad_to(&b, 32);
        put_zeros(&b, 128);
        expect_fail2(&b, "expected 32", "'b'");
        bytes_free(&b);
        TEST_END();
    }

    TEST_BEGIN("gguf: tensor data past the end of the file is refused");
    one_tensor(&b, "w", 2, (const int64_t[]){8, 4}, GGML_TYPE_F32, 0, 127);
    expect_fail2(&b, "truncated", "'w'");
    bytes_free(&b);
    /* an offset far past the end (the running-total rule fires first, still an offset error) */
    one_tensor(&b, "w", 1, ne8, GGML_TYPE_F32, 1ull << 62, 32);
    expect_fail(&b, "offset");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: data section starting past the end of the file is refused");
    put_header(&b, 3, 1, 0);
    put_tinfo(&b, "w", 1, (const int64_t[]){0}, GGML_TYPE_F32, 0);
    /* the infos end at byte 57; the data section would start at 64 */
    expect_fail2(&b, "truncated", "data section");
    bytes_free(&b);
    TEST_END();

    TEST_BEGIN("gguf: 5000 tensors parse and look up by hash");
    put_header(&b, 3, 5000, 0);
    char tname[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(tname, sizeof tname, "blk.%d.w", i);
        put_tinfo(&b, tname, 1, (const int64_t[]){4}, GGML_TYPE_F32, (uint64_t)i * 32);
    }
    pad_to(&b, 32);
    put_zeros(&b, 5000 * 32);
    f = expect_open(&b, &copy);
    if (f) {
        const gguf_tensor *t = gguf_find_tensor(f, "blk.4321.w");
        EXPECT(t && t->offset == 4321 * 32 &&
               (const uint8_t *)t->data == copy + f->data_offset + 4321 * 32,
               "blk.4321.w");
        EXPECT(gguf_find_tensor(f, "blk.5000.w") == NULL, "absent tensor");
    }
    gguf_close(f);
    free(copy);
    bytes_free(&b);
    TEST_END();
}

static void test_vocab_only(void) {
    bytes b = {0};
    TEST_BEGIN("gguf: a 0-tensor file ending right after the KVs is valid (memory and disk)");
    put_header(&b, 3, 0, 2);
    put_key(&b, "tokenizer.ggml.model", GGUF_STRING); put_str(&b, "llama");
    put_arr(&b, "tokenizer.ggml.tokens", GGUF_STRING, 3);
    put_str(&b, "<pad>"); put_str(&b, "<s>"); put_str(&b, "\xe2\x96\x81the");
    EXPECT(b.n % 32 != 0, "test file should not end aligned (%zu bytes)", b.n);
    uint8_t *copy;
    gguf_file *f = expect_open(&b, &copy);
    EXPECT(!f || (f->n_tensors == 0 && f->n_kv == 2), "counts");
    gguf_close(f);
    free(copy);
    char path[512], err[GEMMA_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/gguf_vocab_only.gguf", tmp_dir());
    EXPECT(write_file(path, b.p, b.n), "cannot write %s", path);
    f = gguf_open(path, err);
    EXPECT(f != NULL, "gguf_open: %s", err);
    if (f) {
        const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.tokens");
        gguf_str s[3];
        EXPECT(kv && gguf_arr_strings(f, kv, s, err) == 0 && gguf_str_eq(s[2], "\xe2\x96\x81the"),
               "tokens");
    }
    gguf_close(f);
    bytes_free(&b);
    TEST_END();
}

static void test_open_errors(void) {
    char err[GEMMA_ERR_LEN] = "", path[512];

    TEST_BEGIN("gguf: missing path is a clean error naming the path");
    snprintf(path, sizeof path, "%s/does-not-exist.gguf", tmp_dir());
    gguf_file *f = gguf_open(path, err);
    EXPECT(f == NULL && strncmp(err, path, strlen(path)) == 0 && contains_ci(err, "cannot open"),
           "message: %s", err);
    gguf_close(f);
    TEST_END();

    TEST_BEGIN("gguf: a directory is a clean error naming the path");
    f = gguf_open(tmp_dir(), err);
    EXPECT(f == NULL && strncmp(err, tmp_dir(), strlen(tmp_dir())) == 0 && contains_ci(err,
           "directory"),
           "message: %s", err);
    gguf_close(f);
    TEST_END();

    TEST_BEGIN("gguf: empty and tiny files on disk are clean errors");
    snprintf(path, sizeof path, "%s/gguf_empty.gguf", tmp_dir());
    EXPECT(write_file(path, "", 0), "cannot write %s", path);
    f = gguf_open(path, err);
    EXPECT(f == NULL && strncmp(err, path, strlen(path)) == 0 && contains_ci(err, "empty"),
           "empty: %s", err);
    gguf_close(f);
    EXPECT(write_file(path, "GGUF\3\0\0\0", 8), "cannot write %s", path);
    f = gguf_open(path, err);
    EXPECT(f == NULL && contains_ci(err, "truncated"), "8 bytes: %s", err);
    gguf_close(f);
    TEST_END();
}

/* ---- the fixtures: every .gguf must open ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_fixture(const char *rel) {
    char err[GEMMA_ERR_LEN] = "";
    TEST_BEGIN("gguf: fixture %s opens", rel);
    gguf_file *f = gguf_open(fixture_path(rel), err);
    EXPECT(f != NULL, "%s", err);
    if (f) {
        EXPECT(f->version == 3, "version %u", f->version);
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            EXPECT((const uint8_t *)t->data + t->nbytes <= f->base + f->size,
                   "tensor %s in bounds", t->name);
        }
        /* a vocabulary's 262,144 strings: a few steps each, counted (not timed) */
        uint64_t records = f->n_kv + f->n_tensors;
        for (uint64_t i = 0; i < f->n_kv; i++)
            if (f->kv[i].type == GGUF_ARRAY) records += f->kv[i].arr_n;
        double per_record = (double)gguf_parse_steps(f) / (double)records;
        EXPECT(per_record <= MAX_STEPS_PER_RECORD, "%.1f parse steps per record", per_record);
        if (strcmp(rel, "models/gemma3-q8_0.gguf") == 0) {
            gguf_str arch = {0};
            EXPECT(gguf_get_str(f, "general.architecture", &arch, err) == 1 && gguf_str_eq(arch,
                   "gemma3"),
                   "general.architecture");
            const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
            EXPECT(t && t->ne[1] == 512,
                   "token_embd.weight ne[1] = %lld", t ? (long long)t->ne[1] : -1LL);
        }
        if (strcmp(rel, "tokenizer/gemma-4.gguf") == 0) {
            const gguf_kv *tok = gguf_find(f, "tokenizer.ggml.tokens");
            const gguf_kv *mer = gguf_find(f, "tokenizer.ggml.merges");
            EXPECT(tok && tok->arr_n == 262144, "262144 tokens");
            EXPECT(mer && mer->arr_n == 514906, "514906 merges");
            if (mer) {
                gguf_str *s = malloc(mer->arr_n * sizeof *s);
                EXPECT(gguf_arr_strings(f, mer, s, err) == 0 && s[0].len > 0, "merges readable");
                free(s);
            }
        }
    }
    gguf_close(f);
    TEST_END();
}

static void test_fixtures(void) {
    static const char *const dirs[] = {"models", "quants", "tokenizer"};
    for (int d = 0; d < 3; d++) {
        DIR *dir = opendir(fixture_path(dirs[d]));
        if (!dir) {
            test_skip("gguf: fixtures %s (directory %s not found)", dirs[d], fixture_path(dirs[d]));
            continue;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
            names = xrealloc(names, (n + 1) * sizeof *names);
            names[n] = xmalloc(strlen(dirs[d]) + len + 2);
            sprintf(names[n], "%s/%s", dirs[d], e->d_name);
            n++;
        }
        closedir(dir);
        if (n > 1) qsort(names, n, sizeof *names, cmp_str); /* names is NULL when n == 0 */
        for (size_t i = 0; i < n; i++) {
            check_fixture(names[i]);
            free(names[i]);
        }
        free(names);
    }
}

void suite_gguf(void) {
    test_worked_example();
    test_all_types();
    test_header();
    test_kv_rules();
    test_alignment();
    test_tensor_rules();
    test_vocab_only();
    test_open_errors();
    test_fixtures();
}
