/* quant.h - the tensor type table: block formats, dequantization, activation quantizers and
 * row dot products, one row per ggml type (in the spirit of ggml's type traits).
 *
 * A weight row of type T is multiplied with an activation row that was first converted to
 * T's `vec_dot_type` (F32 for float weights, Q8_0 / Q8_1 / Q8_K for quantized weights,
 * doc/formats.md#row-dot-products). Adding a type means adding a row here, never touching
 * the model.
 * These rows hold the portable scalar kernels; a kernel set (dispatch.h) copies them and
 * replaces the kernels it has faster versions of. */
#ifndef GEMMA_QUANT_H
#define GEMMA_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_IQ2_XXS = 16, GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18, GGML_TYPE_IQ1_S = 19, GGML_TYPE_IQ4_NL = 20, GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22, GGML_TYPE_IQ4_XS = 23, GGML_TYPE_I8 = 24, GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26, GGML_TYPE_I64 = 27, GGML_TYPE_F64 = 28, GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30, GGML_TYPE_TQ1_0 = 34, GGML_TYPE_TQ2_0 = 35, GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_NVFP4 = 40, GGML_TYPE_Q1_0 = 41, GGML_TYPE_Q2_0 = 42, GGML_TYPE_COUNT = 43
};

#define QK_K 256

/* dst[0..n) = dequantized src; n is a multiple of the block size. */
typedef void (*to_float_fn)(const void *src, float *dst, int64_t n);
/* Quantize n floats (multiple of the block size) into blocks at dst. */
typedef void (*from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(weight row x, activation row y); n elements, y already in vec_dot_type. */
typedef void (*vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* Tile kernel for prefill: a block of nw weight rows times na activation rows, so a weight
 * block once loaded serves several tokens:
 *   s[j * s_stride + i] = dot(w + i * w_stride, a + j * a_stride)   i < nw, j < na
 * over n elements. Must accept any 1 <= nw <= GEMM_MAX_NW and 1 <= na <= GEMM_MAX_NA
 * (edge tiles). NULL in a table row: the matmul driver loops over vec_dot. */
typedef void (*gemm_fn)(int n, float *s, size_t s_stride, const void *w, size_t w_stride,
                        const void *a, size_t a_stride, int nw, int na);
#define GEMM_MAX_NW 32
#define GEMM_MAX_NA 8

typedef struct {
    const char *name;           /* "Q4_K" */
    int blck_size;              /* elements per block (0: removed id) */
    size_t type_size;           /* bytes per block */
    bool supported;             /* we can dequantize and multiply it */
    to_float_fn to_float;       /* NULL if unsupported */
    from_float_fn from_float;   /* reference quantizer, NULL if none */
    uint32_t vec_dot_type;      /* activation format for vec_dot */
    vec_dot_fn vec_dot;         /* NULL if unsupported */
    gemm_fn gemm;               /* optional tile kernel (SIMD paths), NULL = use vec_dot */
} type_traits;

/* The specification row of a type id: block format, exact dequantizer, reference quantizer,
 * activation format, and the portable scalar row dot (the twin every SIMD kernel is tested
 * against). NULL for ids >= GGML_TYPE_COUNT; removed ids give a row with blck_size 0. The
 * kernels a run uses are the active kernel set's copy of these rows (dispatch.h:
 * kernel_traits). */
const type_traits *quant_traits(uint32_t type);
const char *quant_type_name(uint32_t type);          /* "type 99" style for unknown ids */
size_t quant_row_size(uint32_t type, int64_t n);     /* bytes of n elements (n % blck == 0) */

/* llama.cpp's display name of a general.file_type value (doc/gguf.md#file-types), e.g.
 * "Q4_K - Medium"; NULL for values it does not know. */
const char *quant_ftype_name(int64_t ftype);

/* dst[0..n) = src decoded (bit-exact with ggml); does nothing for types without to_float. */
void dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Encode n floats (a multiple of the block size) as `type` with its reference quantizer:
 * F32, F16, BF16 (round to nearest even); Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, MXFP4, Q2_K..Q6_K
 * byte for byte as llama-quantize without an importance matrix (ggml's *_ref routines);
 * the activation formats Q8_0, Q8_1, Q8_K (codes always in -127..127). Does nothing for
 * types without from_float (IQ4_NL, IQ4_XS, ...). */
void quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

#endif
