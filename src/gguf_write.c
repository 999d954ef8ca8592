/* gguf_write.c - the GGUF writer: KVs serialized as they are set, tensor infos laid out
 * the way ggml lays them out, tensor bytes streamed to the file chunk by chunk. */
#include "gguf_write.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/quant.h"
#include "util.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define CHUNK_BYTES ((size_t)8 << 20)   /* rows handed to a fill callback per call */

/* ---------------------------------------------------------------------------------------
 * A growable byte buffer for serialized values. */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s, uint64_t len) {
    put_u64(b, len);
    put(b, s, (size_t)len);
}

/* ---------------------------------------------------------------------------------------
 * The writer. */

typedef struct {
    char *key;
    bytes val;             /* u32 value type, then the payload exactly as in the file */
} wkv;

typedef struct {
    gguf_writer_tensor info;   /* info.name points at the owned copy below */
    char *name;
    const void *data;          /* or NULL with fill */
    gguf_fill_fn fill;
    void *ctx;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    int64_t n_t, cap_t;
    uint32_t alignment;
    char err[GEMMA_ERR_LEN];   /* first error recorded by an adder ("" = none) */
    gguf_progress_fn progress;
    void *progress_ctx;
};

static const uint8_t vtype_size[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static bool fixed_size_type(uint32_t t) {
    return t < GGUF_VTYPE_COUNT && t != GGUF_STRING && t != GGUF_ARRAY;
}

/* Remember the first error only: later ones are usually consequences. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(gguf_writer *w, const char *fmt, ...) {
    if (!w->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, sizeof w->err, fmt, ap);
        va_end(ap);
    }
    return -1;
}

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = xcalloc(1, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    free(w->kv);
    for (int64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

const char *gguf_writer_error(const gguf_writer *w) { return w->err[0] ? w->err : NULL; }

void gguf_writer_set_progress(gguf_writer *w, gguf_progress_fn fn, void *ctx) {
    w->progress = fn;
    w->progress_ctx = ctx;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Tensor offsets: a running total of align_up(nbytes, alignment), as ggml requires. */
static void layout(gguf_writer *w) {
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        w->t[i].info.offset = off;
        off += align_up(w->t[i].info.nbytes, w->alignment);
    }
}

static long find_kv(const gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return (long)i;
    return -1;
}

bool gguf_writer_has(const gguf_writer *w, const char *key) { return find_kv(w, key) >= 0; }

/* general.alignment decides the layout: it must be a u32 power of two (ggml's rule). */
static int update_alignment(gguf_writer *w) {
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    long i = find_kv(w, "general.alignment");
    if (i >= 0) {
        const bytes *v = &w->kv[i].val;
        uint32_t type = rd_u32(v->p), a = type == GGUF_U32 ? rd_u32(v->p + 4) : 0;
        if (a == 0 || (a & (a - 1)))
            return fail(w, "key '%s' must be a u32 power of two", "general.alignment");
        w->alignment = a;
    }
    layout(w);
    return 0;
}

/* Store (or replace in place) a key with an already serialized value; takes val. */
static int set_kv(gguf_writer *w, const char *key, bytes val) {
    if (!key || !key[0]) {
        free(val.p);
        return fail(w, "empty metadata key");
    }
    long i = find_kv(w, key);
    if (i >= 0) {
        free(w->kv[i].val.p);
        w->kv[i].val = val;
    } else {
        if (w->n_kv == w->cap_kv) {
            w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 32;
            w->kv = xrealloc(w->kv, w->cap_kv * sizeof *w->kv);
        }
        w->kv[w->n_kv].key = xmalloc(strlen(key) + 1);
        strcpy(w->kv[w->n_kv].key, key);
        w->kv[w->n_kv].val = val;
        w->n_kv++;
    }
    return strcmp(key, "general.alignment") == 0 ? update_alignment(w) : 0;
}

static int set_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v) {
    bytes b = {0};
    put_u32(&b, type);
    put(&b, v, vtype_size[type]);
    return set_kv(w, key, b);
}

int gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v) {
    return set_scalar(w, key, GGUF_U8, &v);
}
int gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v) {
    return set_scalar(w, key, GGUF_I8, &v);
}
int gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v) {
    return set_scalar(w, key, GGUF_U16, &v);
}
int gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v) {
    return set_scalar(w, key, GGUF_I16, &v);
}
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, GGUF_U32, &v);
}
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, GGUF_I32, &v);
}
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, GGUF_U64, &v);
}
int gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v) {
    return set_scalar(w, key, GGUF_I64, &v);
}
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    return set_scalar(w, key, GGUF_F32, &v);
}
int gguf_writer_set_f64(gguf_writer *w, const char *key, double v) {
    return set_scalar(w, key, GGUF_F64, &v);
}
int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return set_scalar(w, key, GGUF_BOOL, &b);
}

int gguf_writer_set_strn(gguf_writer *w, const char *key, const char *s, size_t len) {
    bytes b = {0};
    put_u32(&b, GGUF_STRING);
    put_str(&b, s, len);
    return set_kv(w, key, b);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s) {
    return gguf_writer_set_strn(w, key, s, strlen(s));
}

int gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data,
                        uint64_t n) {
    if (!fixed_size_type(elem_type))
        return fail(w, "key '%s': array element type %s is not a fixed-size type", key,
                    gguf_vtype_name(elem_type));
    uint64_t size;
    if (!mul_ok(n, vtype_size[elem_type], &size) || size > SIZE_MAX / 2)
        return fail(w, "key '%s': array too large", key);
    bytes b = {0};
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, elem_type);
    put_u64(&b, n);
    size_t start = b.len;
    put(&b, data, (size_t)size);
    if (elem_type == GGUF_BOOL) /* the spec allows only 0 and 1 */
        for (size_t i = start; i < b.len; i++) b.p[i] = b.p[i] != 0;
    return set_kv(w, key, b);
}

int gguf_writer_set_arr_strn(gguf_writer *w, const char *key, const gguf_str *s, uint64_t n) {
    bytes b = {0};
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b, s[i].ptr, s[i].len);
    return set_kv(w, key, b);
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *s, uint64_t n) {
    bytes b = {0};
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b, s[i], strlen(s[i]));
    return set_kv(w, key, b);
}

int gguf_writer_remove(gguf_writer *w, const char *key) {
    long i = find_kv(w, key);
    if (i < 0) return 0;
    free(w->kv[i].key);
    free(w->kv[i].val.p);
    memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - (size_t)i - 1) * sizeof *w->kv);
    w->n_kv--;
    if (strcmp(key, "general.alignment") == 0) update_alignment(w);
    return 1;
}

/* Bytes of n payloads of type t starting at p (the file was validated by gguf_open, so
 * every string length lies inside the mapping). */
static uint64_t payload_size(uint32_t t, const uint8_t *p, uint64_t n) {
    if (t != GGUF_STRING) return n * vtype_size[t];
    uint64_t size = 0;
    for (uint64_t i = 0; i < n; i++) size += 8 + rd_u64(p + size);
    return size;
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_file *f, const gguf_kv *kv) {
    (void)f;
    bytes b = {0};
    put_u32(&b, kv->type);
    if (kv->type == GGUF_ARRAY) {
        put_u32(&b, kv->arr_type);
        put_u64(&b, kv->arr_n);
        put(&b, kv->data, (size_t)payload_size(kv->arr_type, kv->data, kv->arr_n));
    } else {
        put(&b, kv->data, (size_t)payload_size(kv->type, kv->data, 1));
    }
    return set_kv(w, kv->key, b);
}

int gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *f, const char *prefix) {
    size_t plen = prefix ? strlen(prefix) : 0;
    int n = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        if (plen && strncmp(f->kv[i].key, prefix, plen) != 0) continue;
        if (gguf_writer_copy_kv(w, f, &f->kv[i])) return -1;
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------
 * Tensors. */

static int add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                      const int64_t *ne, const void *data, gguf_fill_fn fill, void *ctx) {
    if (!name || !name[0] || strlen(name) >= GGUF_MAX_NAME)
        return fail(w, "tensor name '%.80s' is empty or longer than 63 bytes", name ? name : "");
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return fail(w, "duplicate tensor name '%s'", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return fail(w, "tensor '%s': number of dimensions must be 1..4", name);
    const type_traits *tt = quant_traits(type);
    if (!tt || tt->blck_size == 0)
        return fail(w, "tensor '%s': invalid tensor type %u", name, type);
    gguf_writer_tensor info = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t n_rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0) return fail(w, "tensor '%s': negative dimension", name);
        info.ne[d] = ne[d];
        if (d > 0 && !mul_ok(n_rows, (uint64_t)ne[d], &n_rows))
            return fail(w, "tensor '%s': size overflow", name);
    }
    if (info.ne[0] % tt->blck_size)
        return fail(w, "tensor '%s': row length %lld is not a multiple of the %s block size (%d)",
                    name, (long long)info.ne[0], tt->name, tt->blck_size);
    uint64_t row_bytes = (uint64_t)(info.ne[0] / tt->blck_size) * tt->type_size, nbytes;
    if (!mul_ok(row_bytes, n_rows, &nbytes) || nbytes > (UINT64_MAX >> 2))
        return fail(w, "tensor '%s': size overflow", name);
    info.row_bytes = (size_t)row_bytes;
    info.n_rows = (int64_t)n_rows;
    info.nbytes = nbytes;

    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
        w->t = xrealloc(w->t, (size_t)w->cap_t * sizeof *w->t);
    }
    wtensor *t = &w->t[w->n_t++];
    t->name = xmalloc(strlen(name) + 1);
    strcpy(t->name, name);
    info.name = t->name;
    t->info = info;
    t->data = data;
    t->fill = fill;
    t->ctx = ctx;
    layout(w);
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

int gguf_writer_add_tensor_fill(gguf_writer *w, const char *name, uint32_t type,
                                uint32_t n_dims, const int64_t *ne, gguf_fill_fn fill,
                                void *ctx) {
    if (!fill) return fail(w, "tensor '%s': no fill callback", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, ctx);
}

int64_t gguf_writer_n_tensors(const gguf_writer *w) { return w->n_t; }

const gguf_writer_tensor *gguf_writer_get_tensor(const gguf_writer *w, int64_t i) {
    return i >= 0 && i < w->n_t ? &w->t[i].info : NULL;
}

/* ---------------------------------------------------------------------------------------
 * Output. */

/* Header: magic, version, counts, KVs, tensor infos (without the trailing padding). */
static void build_header(const gguf_writer *w, bytes *h) {
    put(h, "GGUF", 4);
    put_u32(h, 3);
    put_u64(h, (uint64_t)w->n_t);
    put_u64(h, (uint64_t)w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(h, w->kv[i].key, strlen(w->kv[i].key));
        put(h, w->kv[i].val.p, w->kv[i].val.len);
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        const gguf_writer_tensor *t = &w->t[i].info;
        put_str(h, t->name, strlen(t->name));
        put_u32(h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(h, (uint64_t)t->ne[d]);
        put_u32(h, t->type);
        put_u64(h, t->offset);
    }
}

static uint64_t header_size(const gguf_writer *w) {
    uint64_t n = 24;
    for (size_t i = 0; i < w->n_kv; i++) n += 8 + strlen(w->kv[i].key) + w->kv[i].val.len;
    for (int64_t i = 0; i < w->n_t; i++) /* name, n_dims, dims, type, offset */
        n += 8 + strlen(w->t[i].name) + 4 + 8 * w->t[i].info.n_dims + 4 + 8;
    return n;
}

/* The header is padded to the alignment even without tensors, as gguf-py and ggml do. */
static uint64_t data_offset(const gguf_writer *w) {
    return align_up(header_size(w), w->alignment);
}

uint64_t gguf_writer_file_size(const gguf_writer *w) {
    uint64_t n = data_offset(w);
    for (int64_t i = 0; i < w->n_t; i++) n += align_up(w->t[i].info.nbytes, w->alignment);
    return n;
}

typedef struct {
    gguf_writer *w;
    int fd;
    const char *path;
    char *err;
    uint64_t done, total;
} output;

static int out_write(output *o, const void *src, size_t n) {
    const uint8_t *p = src;
    while (n) {
        ssize_t r = write(o->fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return set_err(o->err, "%s: write failed: %s", o->path,
                           r < 0 ? strerror(errno) : "no progress");
        p += r;
        n -= (size_t)r;
        o->done += (uint64_t)r;
    }
    return 0;
}

static int out_zeros(output *o, uint64_t n) {
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n > sizeof zeros ? sizeof zeros : (size_t)n;
        if (out_write(o, zeros, k)) return -1;
        n -= k;
    }
    return 0;
}

static void report(output *o) {
    if (o->w->progress) o->w->progress(o->w->progress_ctx, o->done, o->total);
}

/* One tensor's bytes: straight from the caller's pointer, or chunk by chunk from its fill
 * callback into buf (grown as needed), then the padding. */
static int write_tensor(output *o, const wtensor *t, uint8_t **buf, size_t *cap) {
    const gguf_writer_tensor *info = &t->info;
    if (t->data) {
        for (uint64_t pos = 0; pos < info->nbytes; pos += CHUNK_BYTES) {
            uint64_t n = info->nbytes - pos < CHUNK_BYTES ? info->nbytes - pos : CHUNK_BYTES;
            if (out_write(o, (const uint8_t *)t->data + pos, (size_t)n)) return -1;
            if (pos + n < info->nbytes) report(o);
        }
    } else if (info->nbytes > 0) {
        int64_t rows_per_chunk = info->row_bytes ? (int64_t)(CHUNK_BYTES / info->row_bytes) : 1;
        if (rows_per_chunk < 1) rows_per_chunk = 1;
        if (rows_per_chunk > info->n_rows) rows_per_chunk = info->n_rows;
        size_t need = (size_t)rows_per_chunk * info->row_bytes;
        if (need > *cap) {
            free(*buf);
            *buf = xmalloc(need);
            *cap = need;
        }
        for (int64_t r = 0; r < info->n_rows; r += rows_per_chunk) {
            int64_t n = info->n_rows - r < rows_per_chunk ? info->n_rows - r : rows_per_chunk;
            char e2[GEMMA_ERR_LEN] = "";
            if (t->fill(t->ctx, info, *buf, r, n, e2))
                return set_err(o->err, "%s: tensor '%s': %s", o->path, info->name,
                               e2[0] ? e2 : "fill callback failed");
            if (out_write(o, *buf, (size_t)n * info->row_bytes)) return -1;
            if (r + n < info->n_rows) report(o);
        }
    }
    if (out_zeros(o, align_up(info->nbytes, o->w->alignment) - info->nbytes)) return -1;
    report(o);
    return 0;
}

int gguf_writer_write(gguf_writer *w, const char *path, char *err) {
    if (w->err[0]) return set_err(err, "%s: %s", path, w->err);
    layout(w);
    bytes h = {0};
    build_header(w, &h);
    output o = {.w = w, .path = path, .err = err, .total = gguf_writer_file_size(w)};
    o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o.fd < 0) {
        free(h.p);
        return set_err(err, "%s: cannot create: %s", path, strerror(errno));
    }
    struct stat st;
    bool regular = fstat(o.fd, &st) == 0 && S_ISREG(st.st_mode); /* not /dev/null & co. */
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = out_write(&o, h.p, h.len);
    if (!rc) rc = out_zeros(&o, data_offset(w) - h.len);
    for (int64_t i = 0; i < w->n_t && !rc; i++) rc = write_tensor(&o, &w->t[i], &buf, &cap);
    free(buf);
    free(h.p);
    if (close(o.fd) && !rc) rc = set_err(err, "%s: write failed: %s", path, strerror(errno));
    if (!rc && o.done != o.total)
        rc = set_err(err, "%s: wrote %llu bytes, expected %llu", path,
                     (unsigned long long)o.done, (unsigned long long)o.total);
    if (rc && regular) unlink(path); /* never leave a truncated model behind */
    return rc;
}
