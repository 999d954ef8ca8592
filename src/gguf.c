/* gguf.c - the GGUF container reader: map the file, then validate it in one linear pass.
 *
 * Layout (doc/gguf.md#layout): a 24-byte header, kv_count key/value records, tensor_count
 * tensor-info records, zero padding to the alignment, then the tensor data. Every read goes
 * through a cursor that checks the bytes remaining first, and every count read from the
 * file is checked against those bytes before anything is allocated from it (the numbered
 * rules of doc/gguf.md#validation-rules, cited below by number). Arrays
 * and hash tables grow as records are actually parsed, so a hostile header claiming a
 * billion records costs nothing. Nothing is copied except keys (NUL-terminated for lookup)
 * and tensor names: strings, arrays and tensor data are pointers into the mapping.
 *
 * Choices beyond ggml (all documented in the error messages):
 * - keys and tensor names containing a NUL byte are rejected (lookups use C strings, so two
 *   names differing after a NUL would otherwise collide silently);
 * - n_dims 0 is rejected, and the product of all nonzero dimensions must fit in an int64
 *   (ggml lets a zero-element tensor have absurd other dimensions);
 * - BOOL values: any nonzero byte reads as true (ggml's reader does the same). */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/quant.h"
#include "util.h"

#define DEFAULT_ALIGNMENT 32
#define MAX_STRING_LEN (1ull << 30)  /* ggml's cap on one string */
#define MAX_ARRAY_LEN (1ull << 30)   /* GGUF_MAX_ARRAY_ELEMENTS */
#define MIN_KV_BYTES 14              /* key length 8 + 1 key byte + type 4 + 1 value byte */
#define MIN_TENSOR_BYTES 25          /* name length 8 + 1 byte + n_dims 4 + type 4 + offset 8 */
#define MAX_RECORDS (1ull << 31)     /* hash tables index entries with uint32 */

typedef unsigned long long ull;  /* for printf: uint64_t is not always `unsigned long long` */
typedef long long ll;

/* Payload size of each scalar value type (0: variable-sized, STRING and ARRAY). */
static const uint8_t vtype_size[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_vtype_name(uint32_t t) {
    static const char *const names[GGUF_VTYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
        "u64", "i64", "f64"};
    return t < GGUF_VTYPE_COUNT ? names[t] : "invalid";
}

/* ---------------------------------------------------------------------------------------
 * Name tables: open addressing over entry indices, so keys and tensor names can be found
 * in O(1) and duplicates rejected without comparing every pair. */

typedef struct {
    uint32_t *slot;  /* entry index + 1; 0 = empty */
    uint64_t cap;    /* power of two, or 0 */
    uint64_t used;
    uint64_t probes; /* slots visited while the file was parsed (gguf_parse_steps) */
} name_table;

typedef struct {
    name_table keys, tensors;
    uint64_t reads;  /* bounded reads the parse made (gguf_parse_steps) */
} gguf_index;

static uint64_t hash_name(const char *s, size_t len) {  /* FNV-1a */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static const char *entry_name(const gguf_file *f, bool tensors, uint64_t id) {
    return tensors ? f->tensors[id].name : f->kv[id].key;
}

/* Index of the entry named s[0..len) (no NUL inside), or -1; adds the slots visited to
 * *probes. */
static int64_t table_probe(const gguf_file *f, const name_table *t, bool tensors, const char *s,
                           size_t len, uint64_t *probes) {
    if (t->cap == 0) return -1;
    uint64_t mask = t->cap - 1;
    for (uint64_t i = hash_name(s, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->slot[i];
        ++*probes;
        if (v == 0) return -1;
        const char *name = entry_name(f, tensors, v - 1);
        /* strncmp stops at name's NUL, so a shorter name is never over-read */
        if (strncmp(name, s, len) == 0 && name[len] == 0) return v - 1;
    }
}

static int64_t table_get(const gguf_file *f, const name_table *t, bool tensors, const char *s,
                         size_t len) {
    uint64_t probes = 0;
    return table_probe(f, t, tensors, s, len, &probes);
}

static void table_put(name_table *t, const char *s, uint64_t id) {
    uint64_t mask = t->cap - 1;
    uint64_t i = hash_name(s, strlen(s)) & mask;
    for (t->probes++; t->slot[i]; t->probes++) i = (i + 1) & mask;
    t->slot[i] = (uint32_t)(id + 1);
    t->used++;
}

/* Insert entry `id` (its name is already stored in f). Returns the index of an earlier entry
 * with the same name (and inserts nothing), or -1. The table doubles at half load. */
static int64_t table_add(const gguf_file *f, name_table *t, bool tensors, uint64_t id) {
    const char *s = entry_name(f, tensors, id);
    int64_t prev = table_probe(f, t, tensors, s, strlen(s), &t->probes);
    if (prev >= 0) return prev;
    if ((t->used + 1) * 2 > t->cap) {
        name_table bigger = {NULL, t->cap ? t->cap * 2 : 16, 0, t->probes};
        bigger.slot = xcalloc(bigger.cap, sizeof *bigger.slot);
        for (uint64_t i = 0; i < t->cap; i++)
            if (t->slot[i])
                table_put(&bigger, entry_name(f, tensors, t->slot[i] - 1), t->slot[i] - 1);
        free(t->slot);
        *t = bigger;
    }
    table_put(t, s, id);
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * The cursor: bounds-checked reads, and errors that say where in the file they happened. */

typedef struct {
    const uint8_t *buf;
    uint64_t size, pos;
    const char *path;
    char *err;
    /* What is being read, formatted only when something fails. */
    const char *section;  /* NULL (header), "key" or "tensor" */
    uint64_t index;
    const char *name;     /* key or tensor name once read (not NUL-terminated) */
    uint64_t name_len;
    int64_t elem;         /* array element being read, or -1 */
    uint64_t reads;       /* calls of take(): the parse's work, linear in the file's records */
} cursor;

static void append(char *out, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void append(char *out, size_t cap, const char *fmt, ...) {
    size_t n = strlen(out);
    if (n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, cap - n, fmt, ap);
    va_end(ap);
}

/* Copy a name from the file for a message: at most 48 bytes, control bytes shown as '?',
 * so a hostile name can neither flood nor break the one-line message. */
static void printable(char *out, size_t cap, const char *s, uint64_t len) {
    size_t n = 0, max = 48;
    for (uint64_t i = 0; i < len && i < max && n + 1 < cap; i++) {
        uint8_t ch = (uint8_t)s[i];
        out[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    out[n] = 0;
    if (len > max) append(out, cap, "...");
}

/* "key 3 ('general.name') element 7 " - the record being read, or "" in the header. */
static void describe(const cursor *c, char *out, size_t cap) {
    out[0] = 0;
    if (!c->section) return;
    append(out, cap, "%s %llu ", c->section, (ull)c->index);
    if (c->name) {
        char nm[64];
        printable(nm, sizeof nm, c->name, c->name_len);
        append(out, cap, "('%s') ", nm);
    }
    if (c->elem >= 0) append(out, cap, "element %lld ", (ll)c->elem);
}

/* "<path>: <record> <problem> (at byte N)"; returns -1. */
static int fail(const cursor *c, uint64_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int fail(const cursor *c, uint64_t at, const char *fmt, ...) {
    char where[192], msg[320];
    describe(c, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return set_err(c->err, "%s: %s%s (at byte %llu)", c->path, where, msg, (ull)at);
}

/* "<path>: truncated file: <record> <field> needs N bytes at offset P, R remain". */
static int truncated(const cursor *c, uint64_t need, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int truncated(const cursor *c, uint64_t need, const char *fmt, ...) {
    char where[192], field[128];
    describe(c, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(field, sizeof field, fmt, ap);
    va_end(ap);
    return set_err(c->err, "%s: truncated file: %s%s needs %llu bytes at offset %llu, %llu remain",
                   c->path, where, field, (ull)need, (ull)c->pos, (ull)(c->size - c->pos));
}

static uint64_t remaining(const cursor *c) { return c->size - c->pos; }

/* Consume n bytes; NULL (with the error set) if fewer remain. */
static const uint8_t *take(cursor *c, uint64_t n, const char *field) {
    if (n > remaining(c)) {
        truncated(c, n, "%s", field);
        return NULL;
    }
    const uint8_t *p = c->buf + c->pos;
    c->pos += n;
    c->reads++;
    return p;
}

static bool read_u32(cursor *c, const char *field, uint32_t *v) {
    const uint8_t *p = take(c, 4, field);
    if (p) *v = rd_u32(p);
    return p != NULL;
}

static bool read_u64(cursor *c, const char *field, uint64_t *v) {
    const uint8_t *p = take(c, 8, field);
    if (p) *v = rd_u64(p);
    return p != NULL;
}

/* A string: u64 length (at most 2^30 and at most the bytes remaining), then the bytes. */
static bool read_str(cursor *c, const char *field, gguf_str *s) {
    uint64_t at = c->pos, len;
    if (remaining(c) < 8) {
        truncated(c, 8, "%s length", field);
        return false;
    }
    len = rd_u64(c->buf + c->pos);
    if (len > MAX_STRING_LEN) {
        fail(c, at, "%s length %llu exceeds the 2^30-byte limit", field, (ull)len);
        return false;
    }
    c->pos += 8;
    if (len > remaining(c)) {
        truncated(c, len, "%s", field);
        return false;
    }
    s->ptr = (const char *)c->buf + c->pos;
    s->len = len;
    c->pos += len;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Records. */

/* Make room for entry `i` in a growing array (doubling), zeroing the new entry. */
static void *grow(void *arr, uint64_t *cap, uint64_t i, size_t elem) {
    if (i >= *cap) {
        *cap = *cap ? *cap * 2 : 16;
        arr = xrealloc(arr, (size_t)(*cap * elem));
    }
    memset((char *)arr + i * elem, 0, elem);
    return arr;
}

/* An array of n strings: each needs at least its 8-byte length, checked before the walk. */
static int skip_string_array(cursor *c, uint64_t n) {
    uint64_t bytes = UINT64_MAX;
    if (!mul_ok(n, 8, &bytes) || bytes > remaining(c))
        return truncated(c, bytes, "array of %llu strings (at least 8 bytes each)", (ull)n);
    for (uint64_t j = 0; j < n; j++) {
        gguf_str s;
        c->elem = (int64_t)j;
        if (!read_str(c, "string", &s)) return -1;
    }
    c->elem = -1;
    return 0;
}

static int parse_value(cursor *c, gguf_kv *kv) {
    uint64_t at = c->pos;
    if (!read_u32(c, "value type", &kv->type)) return -1;
    if (kv->type >= GGUF_VTYPE_COUNT)
        return fail(c, at, "has invalid value type %u (valid: 0..12)", kv->type);
    if (kv->type == GGUF_STRING) {
        gguf_str s;
        kv->data = c->buf + c->pos;  /* a string value's data is its u64 length field */
        return read_str(c, "string value", &s) ? 0 : -1;
    }
    if (kv->type != GGUF_ARRAY) {
        uint64_t size = vtype_size[kv->type];
        if (size > remaining(c))
            return truncated(c, size, "%s value", gguf_vtype_name(kv->type));
        kv->data = c->buf + c->pos;
        c->pos += size;
        return 0;
    }
    at = c->pos;
    if (!read_u32(c, "array element type", &kv->arr_type)) return -1;
    if (kv->arr_type == GGUF_ARRAY)
        return fail(c, at, "is an array of arrays (nested arrays are not supported)");
    if (kv->arr_type >= GGUF_VTYPE_COUNT)
        return fail(c, at, "has invalid array element type %u (valid: 0..12)", kv->arr_type);
    at = c->pos;
    if (!read_u64(c, "array count", &kv->arr_n)) return -1;
    if (kv->arr_n > MAX_ARRAY_LEN)
        return fail(c, at, "array count %llu exceeds the 2^30-element limit", (ull)kv->arr_n);
    kv->data = c->buf + c->pos;
    if (kv->arr_type == GGUF_STRING) return skip_string_array(c, kv->arr_n);
    uint64_t bytes;
    if (!mul_ok(kv->arr_n, vtype_size[kv->arr_type], &bytes))
        return fail(c, at, "array of %llu %s values overflows the byte count", (ull)kv->arr_n,
                    gguf_vtype_name(kv->arr_type));
    if (bytes > remaining(c))
        return truncated(c, bytes, "array of %llu %s values", (ull)kv->arr_n,
                         gguf_vtype_name(kv->arr_type));
    c->pos += bytes;
    return 0;
}

/* Key/value record i: key string, value type, value (rules 4-8). */
static int parse_kv(cursor *c, gguf_file *f, gguf_index *ix, uint64_t *cap, uint64_t i) {
    uint64_t at = c->pos;
    c->section = "key";
    c->index = i;
    c->name = NULL;
    c->elem = -1;
    gguf_str key;
    if (!read_str(c, "name", &key)) return -1;
    if (key.len == 0) return fail(c, at, "is empty (keys must be non-empty)");
    c->name = key.ptr;
    c->name_len = key.len;
    if (memchr(key.ptr, 0, key.len)) return fail(c, at, "name contains a NUL byte");

    f->kv = grow(f->kv, cap, i, sizeof *f->kv);
    gguf_kv *kv = &f->kv[i];
    kv->key = xmalloc(key.len + 1);
    memcpy(kv->key, key.ptr, key.len);
    kv->key[key.len] = 0;
    f->n_kv = i + 1;  /* from here on gguf_close frees the key */
    int64_t prev = table_add(f, &ix->keys, false, i);
    if (prev >= 0) return fail(c, at, "is a duplicate key (same name as key %lld)", (ll)prev);
    return parse_value(c, kv);
}

/* general.alignment: optional, but if present exactly u32 and a nonzero power of two. */
static int read_alignment(cursor *c, gguf_file *f, const gguf_index *ix) {
    const char *k = "general.alignment";
    int64_t id = table_get(f, &ix->keys, false, k, strlen(k));
    f->alignment = DEFAULT_ALIGNMENT;
    if (id < 0) return 0;
    const gguf_kv *kv = &f->kv[id];
    c->section = "key";
    c->index = (uint64_t)id;
    c->name = kv->key;
    c->name_len = strlen(kv->key);
    c->elem = -1;
    uint64_t at = (uint64_t)(kv->data - c->buf);
    if (kv->type != GGUF_U32)
        return fail(c, at, "must be of type u32 but is %s", gguf_vtype_name(kv->type));
    uint32_t a = rd_u32(kv->data);
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(c, at, "alignment %u is not a nonzero power of two", a);
    f->alignment = a;
    return 0;
}

/* Tensor-info record i: name, n_dims, ne[], type, offset (rules 10-17, 19). `expected` is
 * the running total of the earlier tensors' sizes, each padded to the alignment: ggml
 * requires every offset to equal it, so tensors are aligned, in order, without gaps or
 * overlaps. */
static int parse_tensor_info(cursor *c, gguf_file *f, gguf_index *ix, uint64_t *cap,
                             uint64_t i, uint64_t *expected) {
    uint64_t at = c->pos;
    c->section = "tensor";
    c->index = i;
    c->name = NULL;
    c->elem = -1;
    gguf_str name;
    if (!read_str(c, "name", &name)) return -1;
    if (name.len == 0) return fail(c, at, "has an empty name");
    c->name = name.ptr;
    c->name_len = name.len;
    if (name.len >= GGUF_MAX_NAME)
        return fail(c, at, "name too long: %llu bytes, at most %d allowed", (ull)name.len,
                    GGUF_MAX_NAME - 1);
    if (memchr(name.ptr, 0, name.len)) return fail(c, at, "name contains a NUL byte");

    f->tensors = grow(f->tensors, cap, i, sizeof *f->tensors);
    f->n_tensors = i + 1;
    gguf_tensor *t = &f->tensors[i];
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = 0;
    int64_t prev = table_add(f, &ix->tensors, true, i);
    if (prev >= 0) return fail(c, at, "is a duplicate tensor name (same as tensor %lld)", (ll)prev);

    uint64_t field_at = c->pos;
    if (!read_u32(c, "dimension count", &t->n_dims)) return -1;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return fail(c, field_at, "has %u dimensions, expected 1 to %d", t->n_dims, GGUF_MAX_DIMS);
    for (int j = 0; j < GGUF_MAX_DIMS; j++) t->ne[j] = 1;
    for (uint32_t j = 0; j < t->n_dims; j++) {
        uint64_t d;
        field_at = c->pos;
        if (!take(c, 8, "dimensions")) return -1;
        d = rd_u64(c->buf + field_at);
        t->ne[j] = (int64_t)d;
        if (t->ne[j] < 0)
            return fail(c, field_at, "dimension %u is negative (%lld)", j, (ll)t->ne[j]);
    }
    /* Product of the nonzero dimensions must fit in an int64 (rule 13, a bit stricter). */
    uint64_t nel = 1;
    for (int j = 0; j < GGUF_MAX_DIMS; j++) {
        uint64_t d = t->ne[j] ? (uint64_t)t->ne[j] : 1;
        if (!mul_ok(nel, d, &nel) || nel > (uint64_t)INT64_MAX)
            return fail(c, field_at, "element count overflows (%lld x %lld x %lld x %lld)",
                        (ll)t->ne[0], (ll)t->ne[1], (ll)t->ne[2], (ll)t->ne[3]);
    }

    field_at = c->pos;
    if (!read_u32(c, "type", &t->type)) return -1;
    /* ids from GGML_TYPE_COUNT on are the engine's own (panel layouts), never a file's */
    const type_traits *tr = t->type < GGML_TYPE_COUNT ? quant_traits(t->type) : NULL;
    if (!tr) return fail(c, field_at, "has unknown type id %u", t->type);
    if (tr->blck_size <= 0)
        return fail(c, field_at, "has type id %u (%s), which was removed from ggml", t->type,
                    quant_type_name(t->type));
    /* Types this build cannot compute with are still valid container entries; the model
     * binding decides whether it needs them (rule 14's "supported" half lives there). */
    if (t->ne[0] % tr->blck_size != 0)
        return fail(c, field_at, "has %lld elements per row, not a multiple of the %s block "
                    "size %d", (ll)t->ne[0], quant_type_name(t->type), tr->blck_size);
    uint64_t row_bytes, nbytes;
    if (!mul_ok((uint64_t)t->ne[0] / (uint64_t)tr->blck_size, tr->type_size, &row_bytes) ||
        !mul_ok(row_bytes, (uint64_t)t->ne[1], &nbytes) ||
        !mul_ok(nbytes, (uint64_t)t->ne[2], &nbytes) ||
        !mul_ok(nbytes, (uint64_t)t->ne[3], &nbytes) || nbytes > SIZE_MAX)
        return fail(c, field_at, "byte size overflows");
    t->nbytes = nbytes;

    uint64_t a = f->alignment, padded;
    field_at = c->pos;
    if (!read_u64(c, "offset", &t->offset)) return -1;
    if (t->offset % a != 0)
        return fail(c, field_at, "has offset %llu, not a multiple of the alignment %llu",
                    (ull)t->offset, (ull)a);
    if (t->offset != *expected)
        return fail(c, field_at, "has offset %llu, expected %llu (tensors must be packed in "
                    "order, each padded to the alignment)", (ull)t->offset, (ull)*expected);
    if (!add_ok(nbytes, a - 1, &padded) || !add_ok(*expected, padded & ~(a - 1), expected))
        return fail(c, field_at, "size overflow in the data section");
    return 0;
}

/* Data section (rules 18, 20): it starts at the next multiple of the alignment after the
 * infos, and every tensor (already placed by parse_tensor_info) must lie inside the file. */
static int place_tensors(cursor *c, gguf_file *f) {
    uint64_t a = f->alignment, data_off;
    if (!add_ok(c->pos, a - 1, &data_off))
        return fail(c, c->pos, "data section offset overflows");
    data_off &= ~(a - 1);
    f->data_offset = data_off;
    if (f->n_tensors == 0) return 0;  /* vocabulary-only files may end right after the KVs */
    if (data_off > c->size)
        return set_err(c->err, "%s: truncated file: data section starts at offset %llu (infos end "
                       "at %llu, alignment %llu) but the file has %llu bytes", c->path,
                       (ull)data_off, (ull)c->pos, (ull)a, (ull)c->size);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t start = 0, end = 0;
        if (!add_ok(data_off, t->offset, &start) || !add_ok(start, t->nbytes, &end) ||
            end > c->size)
            return set_err(c->err, "%s: truncated file: tensor %llu ('%s') needs %llu bytes at "
                           "offset %llu + %llu, past the end of the file (%llu bytes)", c->path,
                           (ull)i, t->name, (ull)t->nbytes, (ull)data_off, (ull)t->offset,
                           (ull)c->size);
        t->data = c->buf + start;
    }
    return 0;
}

/* Header (rules 1-3), then the records. */
static int parse_file(gguf_file *f, char *err) {
    cursor c = {f->base, f->size, 0, f->path, err, NULL, 0, NULL, 0, -1, 0};
    gguf_index *ix = f->index;
    if (f->size == 0) return set_err(err, "%s: empty file (0 bytes), not a GGUF file", f->path);
    const uint8_t *m = take(&c, 4, "magic");
    if (!m) return -1;
    if (memcmp(m, "GGUF", 4) != 0) {
        char shown[5];
        for (int i = 0; i < 4; i++) shown[i] = (m[i] >= 0x20 && m[i] < 0x7f) ? (char)m[i] : '?';
        shown[4] = 0;
        return fail(&c, 0, "bad magic '%s' (%02x %02x %02x %02x), expected 'GGUF': not a GGUF file",
                    shown, m[0], m[1], m[2], m[3]);
    }
    uint32_t v;
    if (!read_u32(&c, "version", &v)) return -1;
    if (v == 0) return fail(&c, 4, "invalid version 0");
    if ((v & 0xFFFF) == 0)
        return fail(&c, 4, "version 0x%08x: endianness mismatch (big-endian file?); only "
                    "little-endian GGUF is supported", v);
    if (v == 1) return fail(&c, 4, "GGUFv1 is no longer supported (version 1)");
    if (v > 3) return fail(&c, 4, "version %u is newer than supported (2 and 3)", v);
    f->version = v;

    uint64_t n_tensors, n_kv;
    if (!read_u64(&c, "tensor count", &n_tensors) || !read_u64(&c, "kv count", &n_kv)) return -1;
    if ((int64_t)n_tensors < 0)
        return fail(&c, 8, "tensor count %lld is negative", (ll)(int64_t)n_tensors);
    if ((int64_t)n_kv < 0) return fail(&c, 16, "kv count %lld is negative", (ll)(int64_t)n_kv);
    if (n_kv > remaining(&c) / MIN_KV_BYTES || n_kv >= MAX_RECORDS)
        return fail(&c, 16, "kv count %llu is impossible: %llu bytes remain and each key/value "
                    "needs at least %d (truncated or corrupt file)", (ull)n_kv,
                    (ull)remaining(&c), MIN_KV_BYTES);
    if (n_tensors > remaining(&c) / MIN_TENSOR_BYTES || n_tensors >= MAX_RECORDS)
        return fail(&c, 8, "tensor count %llu is impossible: %llu bytes remain and each tensor "
                    "info needs at least %d (truncated or corrupt file)", (ull)n_tensors,
                    (ull)remaining(&c), MIN_TENSOR_BYTES);

    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++)
        if (parse_kv(&c, f, ix, &cap, i)) return -1;
    if (read_alignment(&c, f, ix)) return -1;
    cap = 0;
    uint64_t expected = 0;
    for (uint64_t i = 0; i < n_tensors; i++)
        if (parse_tensor_info(&c, f, ix, &cap, i, &expected)) return -1;
    c.section = NULL;
    int rc = place_tensors(&c, f);
    ix->reads = c.reads;
    return rc;
}

uint64_t gguf_parse_steps(const gguf_file *f) {
    const gguf_index *ix = f->index;
    return ix->reads + ix->keys.probes + ix->tensors.probes;
}

static gguf_file *new_file(const char *path, const void *base, size_t size, bool mmapped) {
    gguf_file *f = xcalloc(1, sizeof *f);
    size_t n = strlen(path);
    f->path = xmalloc(n + 1);
    memcpy(f->path, path, n + 1);
    f->base = base;
    f->size = size;
    f->mmapped = mmapped;
    f->index = xcalloc(1, sizeof(gguf_index));
    return f;
}

static gguf_file *open_parsed(gguf_file *f, char *err) {
    if (parse_file(f, err) == 0) return f;
    gguf_close(f);
    return NULL;
}

gguf_file *gguf_open_memory(const void *buf, size_t size, const char *name, char *err) {
    if (!name) name = "<memory>";
    if (!buf) size = 0;
    return open_parsed(new_file(name, buf, size, false), err);
}

gguf_file *gguf_open(const char *path, char *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    const char *problem = NULL;
    if (fstat(fd, &st) != 0) problem = strerror(errno);
    else if (S_ISDIR(st.st_mode)) problem = "is a directory, not a GGUF file";
    else if (!S_ISREG(st.st_mode)) problem = "is not a regular file";
    else if (st.st_size == 0) problem = "empty file (0 bytes), not a GGUF file";
    else if ((uint64_t)st.st_size > SIZE_MAX) problem = "file too large to map";
    if (problem) {
        close(fd);
        set_err(err, "%s: %s", path, problem);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmap_errno = errno;
    close(fd);  /* the mapping keeps the file alive */
    if (base == MAP_FAILED) {
        set_err(err, "%s: cannot mmap %zu bytes: %s", path, size, strerror(mmap_errno));
        return NULL;
    }
    return open_parsed(new_file(path, base, size, true), err);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (uint64_t i = 0; i < f->n_kv; i++) free(f->kv[i].key);
    free(f->kv);
    free(f->tensors);
    gguf_index *ix = f->index;
    if (ix) {
        free(ix->keys.slot);
        free(ix->tensors.slot);
        free(ix);
    }
    if (f->mmapped) munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

/* ---------------------------------------------------------------------------------------
 * Look-up and typed getters. */

const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    const gguf_index *ix = f->index;
    int64_t id = table_get(f, &ix->keys, false, key, strlen(key));
    return id < 0 ? NULL : &f->kv[id];
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name) return NULL;
    const gguf_index *ix = f->index;
    int64_t id = table_get(f, &ix->tensors, true, name, strlen(name));
    return id < 0 ? NULL : &f->tensors[id];
}

/* "u32", or "array of string" */
static void type_desc(const gguf_kv *kv, char *out, size_t cap) {
    if (kv->type == GGUF_ARRAY)
        snprintf(out, cap, "array of %s", gguf_vtype_name(kv->arr_type));
    else
        snprintf(out, cap, "%s", gguf_vtype_name(kv->type));
}

static int wrong_type(const gguf_file *f, const gguf_kv *kv, const char *expected, char *err) {
    char have[48];
    type_desc(kv, have, sizeof have);
    return set_err(err, "%s: key '%s' has type %s, expected %s", f->path, kv->key, have, expected);
}

/* Integer or bool element at p of type t: sets either *s (negative values) or *u. */
static bool int_at(uint32_t t, const uint8_t *p, bool *negative, int64_t *s, uint64_t *u) {
    int64_t sv = 0;
    *negative = false;
    switch (t) {
    case GGUF_U8: *u = p[0]; return true;
    case GGUF_BOOL: *u = p[0] != 0; return true;
    case GGUF_U16: *u = rd_u16(p); return true;
    case GGUF_U32: *u = rd_u32(p); return true;
    case GGUF_U64: *u = rd_u64(p); return true;
    case GGUF_I8: sv = (int8_t)p[0]; break;
    case GGUF_I16: sv = (int16_t)rd_u16(p); break;
    case GGUF_I32: sv = (int32_t)rd_u32(p); break;
    case GGUF_I64: sv = (int64_t)rd_u64(p); break;
    default: return false;
    }
    if (sv < 0) { *negative = true; *s = sv; }
    else *u = (uint64_t)sv;
    return true;
}

static bool is_int_type(uint32_t t) {
    return t <= GGUF_I32 || t == GGUF_BOOL || t == GGUF_U64 || t == GGUF_I64;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return 0;
    bool neg;
    int64_t s = 0;
    uint64_t u = 0;
    if (kv->type == GGUF_ARRAY || !int_at(kv->type, kv->data, &neg, &s, &u))
        return wrong_type(f, kv, "an integer", err);
    if (!neg && u > (uint64_t)INT64_MAX)
        return set_err(err, "%s: key '%s' value %llu does not fit in an i64", f->path, key, (ull)u);
    *out = neg ? s : (int64_t)u;
    return 1;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return 0;
    bool neg;
    int64_t s = 0;
    uint64_t u = 0;
    if (kv->type == GGUF_ARRAY || !int_at(kv->type, kv->data, &neg, &s, &u))
        return wrong_type(f, kv, "an integer", err);
    if (neg)
        return set_err(err, "%s: key '%s' value %lld is negative, expected a u32", f->path, key,
                       (ll)s);
    if (u > UINT32_MAX)
        return set_err(err, "%s: key '%s' value %llu does not fit in a u32", f->path, key, (ull)u);
    *out = (uint32_t)u;
    return 1;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return 0;
    if (kv->type == GGUF_F32) {
        uint32_t b = rd_u32(kv->data);
        memcpy(out, &b, 4);
        return 1;
    }
    if (kv->type == GGUF_F64) {
        uint64_t b = rd_u64(kv->data);
        double d;
        memcpy(&d, &b, 8);
        *out = (float)d;
        return 1;
    }
    return wrong_type(f, kv, "f32 or f64", err);
}

/* BOOL (any nonzero byte is true), or an integer that is 0 or 1. */
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return 0;
    if (kv->type == GGUF_BOOL) {
        *out = kv->data[0] != 0;
        return 1;
    }
    bool neg;
    int64_t s = 0;
    uint64_t u = 0;
    if (kv->type != GGUF_ARRAY && int_at(kv->type, kv->data, &neg, &s, &u) && !neg && u <= 1) {
        *out = u == 1;
        return 1;
    }
    return wrong_type(f, kv, "bool", err);
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, char *err) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return 0;
    if (kv->type != GGUF_STRING) return wrong_type(f, kv, "string", err);
    out->len = rd_u64(kv->data);
    out->ptr = (const char *)kv->data + 8;
    return 1;
}

bool gguf_arr_is_int(const gguf_kv *kv) {
    return kv->type == GGUF_ARRAY && is_int_type(kv->arr_type);
}

bool gguf_arr_is_float(const gguf_kv *kv) {
    return kv->type == GGUF_ARRAY && (kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64);
}

/* U64 elements above INT64_MAX saturate; non-integer arrays read as 0. */
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i) {
    if (!gguf_arr_is_int(kv)) return 0;
    bool neg;
    int64_t s = 0;
    uint64_t u = 0;
    int_at(kv->arr_type, kv->data + i * vtype_size[kv->arr_type], &neg, &s, &u);
    if (neg) return s;
    return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
}

/* F32/F64 arrays; integer arrays convert too; anything else reads as 0. */
double gguf_arr_float(const gguf_kv *kv, uint64_t i) {
    if (kv->type != GGUF_ARRAY) return 0;
    if (kv->arr_type == GGUF_F32) {
        uint32_t b = rd_u32(kv->data + i * 4);
        float v;
        memcpy(&v, &b, 4);
        return v;
    }
    if (kv->arr_type == GGUF_F64) {
        uint64_t b = rd_u64(kv->data + i * 8);
        double v;
        memcpy(&v, &b, 8);
        return v;
    }
    if (is_int_type(kv->arr_type)) return (double)gguf_arr_int(kv, i);
    return 0;
}

int gguf_arr_strings(const gguf_file *f, const gguf_kv *kv, gguf_str *out, char *err) {
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING)
        return wrong_type(f, kv, "array of string", err);
    /* Validated at open: every length field and its bytes lie inside the mapping. */
    const uint8_t *p = kv->data;
    for (uint64_t j = 0; j < kv->arr_n; j++) {
        out[j].len = rd_u64(p);
        out[j].ptr = (const char *)p + 8;
        p += 8 + out[j].len;
    }
    return 0;
}

bool gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

static int layer_of(const char *name) {
    int layer = -1;
    if (sscanf(name, "blk.%d.", &layer) != 1) layer = -1;
    return layer;
}

int gguf_tensor_order(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    int lx = layer_of(x->name), ly = layer_of(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}
