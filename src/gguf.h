/* gguf.h - the GGUF container: an mmap'd, fully validated, read-only view of a file.
 *
 * gguf_open() checks everything listed in doc/gguf.md#validation-rules before it returns, so
 * afterwards every string, array and tensor pointer handed out lies inside the mapping.
 * Nothing is copied: strings and arrays point into the file, tensors' `data` too. */
#ifndef GEMMA_GGUF_H
#define GEMMA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
    GGUF_I64 = 11, GGUF_F64 = 12, GGUF_VTYPE_COUNT = 13
};

/* A string inside the mapping: not NUL-terminated, may contain NUL bytes. */
typedef struct {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct {
    char *key;              /* NUL-terminated copy of the key */
    uint32_t type;          /* enum gguf_vtype */
    uint32_t arr_type;      /* element type when type == GGUF_ARRAY */
    uint64_t arr_n;         /* element count when type == GGUF_ARRAY */
    const uint8_t *data;    /* scalar payload, or first array element, inside the mapping */
} gguf_kv;

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 64

typedef struct {
    char name[GGUF_MAX_NAME]; /* NUL-terminated (names are < 64 bytes) */
    uint32_t n_dims;          /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS];/* ne[0] contiguous; missing trailing dims are 1 */
    uint32_t type;            /* ggml type id (quant.h) */
    uint64_t offset;          /* relative to the data section */
    uint64_t nbytes;
    const void *data;         /* inside the mapping */
} gguf_tensor;

typedef struct gguf_file {
    char *path;               /* for error messages */
    const uint8_t *base;      /* start of the mapping (or caller's buffer) */
    size_t size;
    bool mmapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    void *index;              /* private: hash tables for key and tensor look-up */
} gguf_file;

/* Map and validate `path`. On failure returns NULL and writes a one-line message starting
 * with the path into err (GEMMA_ERR_LEN bytes). */
gguf_file *gguf_open(const char *path, char *err);
/* Same, over bytes the caller owns (must outlive the gguf_file). `name` is used in errors. */
gguf_file *gguf_open_memory(const void *buf, size_t size, const char *name, char *err);
void gguf_close(gguf_file *f);
/* The work gguf_open did: its bounded reads (a few per record, one per string of an array)
 * plus the name-table slots it probed (about 1.5 per name and per move when the table
 * doubles). Tests hold it to a few per record, which a quadratic path cannot stay under,
 * without timing anything. */
uint64_t gguf_parse_steps(const gguf_file *f);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);        /* NULL if absent */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters. Return 1 if the key exists and was converted, 0 if it is absent (out is
 * left untouched, so callers pre-set the default), -1 if it exists with an incompatible
 * type (message in err). Integers accept any integer type (and bool) that fits in the
 * result; floats accept F32 and F64; strings only STRING. */
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err);
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, char *err);

/* Array element access (index < kv->arr_n is the caller's job). Integer and bool arrays
 * convert to int64; F32/F64 arrays to double. For string arrays use gguf_arr_strings. */
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i);
double gguf_arr_float(const gguf_kv *kv, uint64_t i);
bool gguf_arr_is_int(const gguf_kv *kv);   /* integer or bool element type */
bool gguf_arr_is_float(const gguf_kv *kv);
/* Fill out[0..n) with the strings of a STRING array (pointers into the mapping).
 * Returns -1 (message in err) if kv is not a string array. */
int gguf_arr_strings(const gguf_file *f, const gguf_kv *kv, gguf_str *out, char *err);

/* Compare a gguf_str with a C string. */
bool gguf_str_eq(gguf_str s, const char *c);

const char *gguf_vtype_name(uint32_t t);

/* qsort comparator over `const gguf_tensor *` pointers: llama.cpp's loader order (layer
 * number of "blk.N." names, -1 for global tensors, then name), which llama-quantize writes
 * and its mix rules count in. */
int gguf_tensor_order(const void *a, const void *b);

#endif
