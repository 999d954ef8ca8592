/* amx.h - prefill matmuls on Intel AMX tiles (x86-64, Sapphire Rapids and later).
 *
 * AMX adds eight tile registers of up to 16 rows x 64 bytes and one instruction that
 * multiplies two of them into a third: tdpbssd (int8 x int8 -> int32, 16 x 16 outputs from
 * 16 x 64 by 64 x 16 bytes) and tdpbf16ps (bf16 pairs -> f32). One tdpbssd does the work of
 * 16 vpdpbusd, which is why prompt processing (many tokens per weight row) goes here while
 * decode (one token) stays on the vector kernels, where memory bandwidth is the limit.
 *
 * How a quantized matmul maps onto the tiles (kernels/amx.c has the details):
 *   weights      16 rows at a time ("panel"), unpacked once per call into int8 codes of one
 *                scale block (32 elements; 16 for Q6_K) per tile row, plus f32 scales;
 *   activations  quantized once as for the dot products (Q8_0 / Q8_1 / Q8_K), then
 *                rearranged into the tile's "VNNI" layout: 16 tokens per tile;
 *   tiles        C[16 rows][16 tokens] = A(codes) x B(tokens) for one block, then the
 *                per-block scale fix-up in f32: acc += float(C) * d_w[row] * d_a[token].
 * Nothing is stored beside the mapping: panels live in a per-thread scratch of a few
 * hundred KB and are rebuilt per call (their cost is shared by every token of the batch).
 * BF16 weights need no unpacking: their rows are loaded into tiles straight from the
 * mapping and accumulate in f32 inside the tile (activations rounded to bf16, as llama.cpp's
 * BF16 dot does). F16 weights are split exactly into two bf16 parts, the activations into
 * two as well, and three products per block keep the f32 dot's precision. F32 weights (the
 * per-layer-embedding projection, the MoE router) and their activations split into three
 * bf16 parts each, exactly, and six products keep f32 precision.
 * Q4_K, Q5_K and Q6_K put the base-8 digits of their integer sub-block scales into the
 * weight codes, so a whole 256-element super-block sums inside the tile.
 * A feed-forward's gate and up panels share the tiles and GeGLU runs on each output tile
 * in registers (amx_gated_rows); with a Q8_0-activation down projection the results are
 * quantized there too, straight into its packed input (amx_gated_rows_q8): the widest
 * activations of the model never go to memory in f32.
 * Attention of a batch (forward.c) runs on bf16 tiles as well, its floats split into two
 * or three bf16 parts so that the scores keep f32 precision (amx_attn_scores).
 *
 * Use only after cpu_get() reports AMX-TILE + AMX-INT8 (and the Linux permission request
 * succeeded, which cpu.c does); quant_amx() says whether the active kernel set includes it. */
#ifndef GEMMA_AMX_H
#define GEMMA_AMX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tokens per tile (the N dimension of C) and weight rows per panel (its M dimension). */
#define AMX_TOKENS 16
#define AMX_ROWS 16

/* Whether weights of `type` with rows of K elements have an AMX kernel (BF16, F16 and F32
 * also need AMX-BF16, has_bf16, and K a multiple of 32). */
bool amx_supports(uint32_t type, int64_t K, bool has_bf16);

/* Bytes of the rearranged activations: of one group of 16 tokens of K elements, and of the
 * ceil(M / 16) groups of M tokens (group g at g * amx_group_size). */
size_t amx_group_size(uint32_t type, int64_t K);
size_t amx_act_size(uint32_t type, int64_t K, int64_t M);

/* Rearrange n <= 16 tokens into one group's tile layout at dst (tokens n .. 15 are zero).
 * `a` holds their n rows, a_row bytes apart, in the type's vec_dot_type (Q8_0, Q8_1,
 * Q8_K); for BF16 and F16 weights, rows of K floats. */
void amx_pack_act(uint32_t type, const void *a, size_t a_row, int64_t K, int n, void *dst);

/* Per-thread scratch bytes amx_rows needs for weight rows of K elements. */
size_t amx_scratch_size(uint32_t type, int64_t K);

/* y[m * N + n] = dot(weight row n, token m) for rows n0 .. n0 + nrows - 1 (nrows <= 32) and
 * every token m < M. w: the weight matrix (rows of w_row bytes); act: from amx_pack_act. */
void amx_rows(uint32_t type, float *y, int64_t N, const void *w, size_t w_row, int64_t K,
              int64_t n0, int nrows, const void *act, int64_t M, void *scratch);

/* out[i] = gelu(gate[i]) * up[i], i < n (cpu.h's vec_kernels.geglu). */
typedef void (*amx_geglu_fn)(float *out, const float *gate, const float *up, int n);

/* Whether amx_gated_rows takes weights of `type` (the quantized types of amx_supports). */
bool amx_gated_supports(uint32_t type);

/* A feed-forward's two products and its activation in one pass: y[m * N + n] =
 * geglu(dot(gate row n, token m), dot(up row n, token m)) for rows n0 .. n0 + nrows - 1
 * (nrows <= 16) and every token m < M. The gate and up panels take the tiles side by side,
 * and geglu runs on each output tile while it is still in registers: the two products
 * never go to memory, nor come back for a separate activation pass. */
void amx_gated_rows(uint32_t type, float *y, int64_t N, const void *gate, const void *up,
                    size_t w_row, int64_t K, int64_t n0, int nrows, const void *act, int64_t M,
                    void *scratch, amx_geglu_fn geglu);

/* Whether amx_gated_rows_q8 takes gate and up weights of `type` (the per-block formats)
 * feeding a down projection of down_type (one whose activations are Q8_0). */
bool amx_gated_q8_supports(uint32_t type, uint32_t down_type);

/* amx_gated_rows for the 32 rows n0 .. n0 + 31 (n0 a multiple of 32, N of them a multiple
 * of 32), with each token's 32 outputs quantized to one Q8_0 block (as the down projection's
 * activations would be) and written straight into `groups`: the amx_pack_act layout of Q8_0
 * activations of K = N elements for the M tokens. The feed-forward's widest activations
 * then never exist in f32. */
void amx_gated_rows_q8(uint32_t type, void *groups, int64_t N, const void *gate, const void *up,
                       size_t w_row, int64_t K, int64_t n0, const void *act, int64_t M, void *scratch,
                       amx_geglu_fn geglu);

/* Whether a down projection of down_type takes Q8_K activations on the tiles (the K-quants
 * and IQ4_XS), whose groups amx_put_q8_k fills. */
bool amx_q8_k_input(uint32_t down_type);

/* Quantize y (M rows of 256 floats, y_row floats apart) to Q8_K as super-block sb of
 * K-element activations, into `groups` laid out as amx_pack_act lays out Q8_K activations:
 * the feed-forward's gated outputs (amx_gated_rows, 256 rows at a time) become the down
 * projection's input without a pass over the whole f32 intermediate. */
void amx_put_q8_k(const float *y, size_t y_row, int64_t M, int64_t K, int64_t sb, void *groups);


/* ---- attention (forward.c), on bf16 tiles at f32 precision for the scores ----
 * Each value is split in bf16 parts and each product taken several times (kernels/amx.c).
 * Needs AMX-BF16 and a head dimension hd that is a multiple of 32. */

/* Bytes of one kv head's packed keys and values for a cache of len cells. */
size_t amx_kv_size(int hd, int len);

/* Pack cells 32 * b0 .. 32 * b1 - 1 of one kv head into dst (amx_kv_size bytes): keys at
 * k + cell * k_stride (hd floats each), values transposed at v + dim * v_stride + cell.
 * Cells at len and beyond are zero. */
void amx_kv_pack(const float *k, size_t k_stride, const float *v, size_t v_stride, int hd, int len,
                 int b0, int b1, void *dst);

/* Rows r0 .. r1 of x (16 rows of n floats, n a multiple of 16, stride floats apart) split
 * into `parts` bf16 parts for the A tiles: dst = parts planes of 16 x n; other rows zero.
 * Queries take 3 parts, probabilities 2. */
void amx_split_rows(const float *x, size_t stride, int r0, int r1, int n, int parts, uint16_t *dst);

/* One online-softmax step of one query row on the tiles: *m = max(*m, s[a .. b]); each
 * e_k = exp(s_k - *m) for k in [a, b] (0 below FLT_MIN, and 0 outside [a, b]), k < n, goes
 * out split as the row's two bf16 parts p[k] and p[16 n + k] (the A tile layout of
 * amx_split_rows); returns the sum of the e_k. */
float amx_softmax_row(const float *s, int n, int a, int b, float *m, uint16_t *p);

/* S[r * s_stride + j] = q_r . key(c0 + j) for the 16 query rows q (3 parts, n = hd) and
 * cells c0 .. c0 + n - 1 of the packed kv (c0 and n multiples of 32). */
void amx_attn_scores(float *S, size_t s_stride, const uint16_t *q, int hd, const void *kv, int len,
                     int c0, int n);

/* T[r * t_stride + d] = sum_j p_r[j] * value(c0 + j)[d] for the 16 rows p (2 parts, n
 * floats each, a multiple of 32) over cells c0 .. c0 + n - 1 of the packed kv. */
void amx_attn_values(float *T, size_t t_stride, const uint16_t *p, int n, const void *kv, int len,
                     int hd, int c0);
#endif
