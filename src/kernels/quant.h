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

/* Our own type ids, after the file format's (a GGUF never holds them: gguf.c refuses ids
 * from GGML_TYPE_COUNT on). The row-panel layouts weights are repacked into at load
 * (kernels/panels.c), and the activation format their kernels read. */
enum {
    TYPE_Q8_0S = GGML_TYPE_COUNT, /* activations: Q8_0's codes, its d as f32, the codes' sum */
    TYPE_Q4_0_R16,                /* 16-row panels of Q4_0 / Q5_0 / Q8_0 / Q4_K / Q6_K / Q5_K blocks */
    TYPE_Q5_0_R16,
    TYPE_Q8_0_R16,
    TYPE_Q4_K_R16,
    TYPE_Q6_K_R16,
    TYPE_Q5_K_R16,
    TYPE_BF16_R16,                /* 16-row panels of BF16 / F16 rows, in pairs (kernels/panels_float.c) */
    TYPE_F16_R16,
    TYPE_IQ4_XS_R16,              /* 16-row panels of IQ4_XS blocks (kernels/panels.c) */
    TYPE_BF16_BF16,               /* BF16 rows times bf16 activations: a bf16 KV cache's cells
                                     where the kernel set has vdpbf16ps (dispatch.h: kv_values_as) */
    TYPE_COUNT
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

/* A row-panel layout's functions (kernels/panels.c has the layouts). A matrix of N rows is
 * stored as ceil(N / panel) panels of `panel` rows each, panel_size() bytes apart; rows past
 * N in the last panel are zero. */
/* Rows 0 .. n - 1 (n <= panel) of the base type, w_row bytes apart, K elements each, into
 * one panel at dst (rows n .. panel - 1 zero). */
typedef void (*panel_repack_fn)(void *dst, const void *rows, size_t w_row, int n, int64_t K);
/* Row r of the panel at src, back in the base type's format (its row size at dst). */
typedef void (*panel_unpack_fn)(void *dst, const void *panel, int r, int64_t K);
/* The panel kernel: for the n_rows rows of the panels at w (ceil(n_rows / panel) panels,
 * whole but the last) and every activation row m < M (a_stride bytes apart, in the type's
 * vec_dot_type):
 *   y[m * y_stride + i] = dot(row i, activation row m)    i < n_rows
 * Each output is one row's sum in one order, whatever M, n_rows or the split of a matrix
 * into calls, so results do not depend on the thread count. */
typedef void (*panel_fn)(int64_t K, float *y, size_t y_stride, const void *w, int64_t n_rows, const void *a,
                         size_t a_stride, int64_t M);

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
    /* Row-panel layouts only (zero for the row-major types): rows are interleaved `panel` at
     * a time, so vec_dot and gemm do not apply; panel_dot does. type_size is the base
     * type's, per row: a panel of K elements takes panel * quant_row_size(K) bytes. */
    int panel;                  /* rows per panel */
    uint32_t panel_base;        /* the file type whose blocks the layout holds */
    panel_repack_fn repack;
    panel_unpack_fn unpack_row;
    panel_fn panel_dot;
} type_traits;

/* The specification row of a type id: block format, exact dequantizer, reference quantizer,
 * activation format, and the portable scalar row dot (the twin every SIMD kernel is tested
 * against); for a panel layout, its repacking and scalar panel kernel. NULL for ids >=
 * TYPE_COUNT; removed ids give a row with blck_size 0. The
 * kernels a run uses are the active kernel set's copy of these rows (dispatch.h:
 * kernel_traits). */
const type_traits *quant_traits(uint32_t type);
const char *quant_type_name(uint32_t type);          /* "type 99" style for unknown ids */
size_t quant_row_size(uint32_t type, int64_t n);     /* bytes of n elements (n % blck == 0) */
/* Bytes of one panel of a panel layout, rows of K elements; 0 for row-major types. */
size_t quant_panel_size(uint32_t type, int64_t K);

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
