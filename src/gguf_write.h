/* gguf_write.h - build a GGUF v3 file (doc/gguf.md#writing): metadata is collected in
 * memory, tensor data is streamed to the file at write time, so a writer never holds a
 * whole model (a tensor's bytes come from a caller's pointer or from a fill callback that
 * produces a few rows at a time).
 *
 *   gguf_writer *w = gguf_writer_new();
 *   gguf_writer_set_str(w, "general.architecture", "gemma3");
 *   gguf_writer_set_u32(w, "gemma3.block_count", 26);
 *   gguf_writer_add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, ne, data);
 *   gguf_writer_add_tensor_fill(w, "blk.0.attn_q.weight", GGML_TYPE_Q4_0, 2, ne, fill, ctx);
 *   if (gguf_writer_write(w, "out.gguf", err)) ... ;
 *   gguf_writer_free(w);
 *
 * Layout is ggml's: KVs and tensor infos in insertion order, zero padding to the alignment
 * (`general.alignment` if set, else 32), then each tensor's bytes followed by zero padding
 * to the alignment, so offset[i+1] = offset[i] + align_up(nbytes[i]). Setting a key that
 * exists replaces its value in place. Adders record the first error (bad key, duplicate
 * tensor name, row length not a multiple of the block size, ...) and return -1;
 * gguf_writer_write() then refuses to write and reports it. */
#ifndef GEMMA_GGUF_WRITE_H
#define GEMMA_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct gguf_writer gguf_writer;

/* What a fill callback is told about the tensor it fills. A "row" is ne[0] elements
 * (row_bytes bytes); a tensor has n_rows = ne[1] * ne[2] * ne[3] rows. */
typedef struct {
    const char *name;
    uint32_t type;            /* ggml type (quant.h) */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    size_t row_bytes;
    int64_t n_rows;
    uint64_t nbytes;
    uint64_t offset;          /* in the data section */
} gguf_writer_tensor;

/* Write rows [row0, row0 + n_rows) of tensor t into dst (n_rows * t->row_bytes bytes).
 * Rows are requested in order, in chunks of a few MB. Return 0, or -1 with a one-line
 * message in err (GEMMA_ERR_LEN bytes). */
typedef int (*gguf_fill_fn)(void *ctx, const gguf_writer_tensor *t, void *dst, int64_t row0,
                            int64_t n_rows, char *err);

/* Called after each chunk written: bytes of the file written so far and the total. */
typedef void (*gguf_progress_fn)(void *ctx, uint64_t done, uint64_t total);

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

/* ---- metadata ---- */
int gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
int gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s); /* NUL-terminated */
int gguf_writer_set_strn(gguf_writer *w, const char *key, const char *s, size_t len);
/* An array of a fixed-size element type (u8 .. f64, bool: one byte each, 0 or 1), n
 * elements packed little-endian at data. */
int gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data,
                        uint64_t n);
int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *s, uint64_t n);
int gguf_writer_set_arr_strn(gguf_writer *w, const char *key, const gguf_str *s, uint64_t n);

/* Copy one KV of an open file verbatim (any type, including string arrays). */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_file *f, const gguf_kv *kv);
/* Copy every KV of f whose key starts with prefix (NULL or "" = all), in file order.
 * Returns the number copied, or -1. */
int gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *f, const char *prefix);
/* Remove a key: 1 if it was there, 0 if not. */
int gguf_writer_remove(gguf_writer *w, const char *key);
bool gguf_writer_has(const gguf_writer *w, const char *key);

/* ---- tensors ---- */
/* n_dims 1..4; ne[0] must be a multiple of the type's block size; names < 64 bytes and
 * unique. `data` (nbytes of it) must stay valid until gguf_writer_write() returns. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, const void *data);
int gguf_writer_add_tensor_fill(gguf_writer *w, const char *name, uint32_t type,
                                uint32_t n_dims, const int64_t *ne, gguf_fill_fn fill,
                                void *ctx);
int64_t gguf_writer_n_tensors(const gguf_writer *w);
/* Tensor i in file order (offsets are final once all tensors are added), NULL if out of
 * range. */
const gguf_writer_tensor *gguf_writer_get_tensor(const gguf_writer *w, int64_t i);

/* ---- output ---- */
void gguf_writer_set_progress(gguf_writer *w, gguf_progress_fn fn, void *ctx);
/* Bytes the file will have. */
uint64_t gguf_writer_file_size(const gguf_writer *w);
/* The first error an adder recorded, or NULL. */
const char *gguf_writer_error(const gguf_writer *w);
/* Write the file. On failure returns -1 with a one-line message naming path in err and
 * removes the partial file. */
int gguf_writer_write(gguf_writer *w, const char *path, char *err);

#endif
