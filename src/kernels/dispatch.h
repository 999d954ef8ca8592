/* dispatch.h - the kernel sets: which one this process runs, and everything a set installs.
 *
 * A kernel set gathers every function that knows an ISA, in one struct:
 *   type[t]  the type table's rows (quant.h) with the set's row dots (vec_dot), tile kernels
 *            (gemm), activation quantizers (from_float) and panel kernels (panel_dot), for
 *            every file type and every panel layout: each set has a row (the scalar twin at
 *            least) for each layout, so weights repacked under one set run under any other
 *            (tests switch sets between evaluations of one loaded model);
 *   repack_to which panel layout the set wants each file type repacked into at load;
 *   vec      the forward pass's elementwise kernels (GEGLU, RMSNorm, soft-capping);
 *   tile     batched kernels for prefill and attention on weights in the file's layout (AMX):
 *            zero where the CPU has none.
 *
 * Row panels (kernels/panels.c): weights repacked once at load (repack.c) into 16-row
 * panels with 4-byte groups, so that one broadcast activation group feeds one vpdpbusd for
 * 16 rows; one kernel per layout does decode (one activation row) and prefill (tiles of 16
 * rows x up to 8 activation rows). matmul.c and forward.c pass weights and type ids through
 * as they are. A new layout (a K-quant, another panel height for AVX2 or NEON) plugs in so:
 *   1. quant.h: a type id after GGML_TYPE_COUNT (TYPE_Q4_K_R16 ...);
 *   2. panels.c: its byte map in the header, repack_* / unpack_* (file rows <-> one panel)
 *      and the scalar panel kernel, one f32 step per block (or super-block) in a stated
 *      order; quant.c: its PANELS row (base type, bytes per row, activation format: Q8_0S,
 *      or Q8_K for super-block types, with any sums the kernel wants in that format);
 *   3. the ISA file: the SIMD panel kernel giving the scalar one's bits, installed in
 *      type[layout].panel_dot, and repack_to[file type] = layout in the same installer;
 *   4. tests/test_panels.c: add the layout to `layouts` (round trip, scalar twin against the
 *      row dot with a tolerance from sum |w a|, every set's kernel against the twin bit for
 *      bit, matmul on 1-3 threads); the fixtures then run it end to end on every path.
 * A set that has tiles reading the file's layout (AMX) clears repack_to for the types they
 * take, so prefill stays on them.
 * A set is built in layers, in a fixed order: the scalar specification (quant.c, scalar.c),
 * then each layer's installer overwrites the entries it does faster: AVX2; AVX-512 over
 * AVX2; the AMX tiles over AVX-512; NEON; its sdot kernels over it. The lookup tables
 * the kernels read (f16 -> f32, GELU) are filled by this module before any installer runs,
 * so no installer relies on another one having run.
 *
 * kernels_active() chooses a set once per process (the fastest the CPU and OS support, or
 * the one GEMMA_KERNELS names: scalar, avx2, avx512, amx, amx-emu, avx512-emu, neon) and
 * builds it; everything else asks it. cpu.c only detects features; quant.c only describes
 * formats. The emulated sets are never chosen unless asked for; slow, they are for testing
 * code on CPUs without its instructions: "avx512-emu" is the AVX-512 set with its
 * instructions emulated in C over AVX2 (avx512_emu.h: the AVX-512 files compiled again);
 * "amx-emu" the AMX set with its tile instructions emulated in C (amx_ops.h), over the real
 * AVX-512 set where the CPU has it and over the emulated one elsewhere. */
#ifndef GEMMA_DISPATCH_H
#define GEMMA_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "quant.h"

/* The kernel sets, from the portable one up. */
typedef enum {
    KERNELS_SCALAR,
    KERNELS_AVX2,          /* AVX2 + FMA + F16C */
    KERNELS_AVX512,        /* AVX-512 F/BW/VL/DQ + VNNI (over the AVX2 layer) */
    KERNELS_NEON,          /* baseline Advanced SIMD */
    KERNELS_NEON_DOTPROD,  /* NEON with sdot */
    KERNELS_AMX,           /* the AVX-512 set plus AMX tiles for prefill and attention */
    KERNELS_AMX_EMULATED,  /* the same with the tile instructions emulated (tests) */
    KERNELS_AVX512_EMULATED, /* the AVX-512 set with its instructions emulated, on AVX2 (tests) */
    KERNELS_AMX_AVX512_EMULATED, /* emulated tiles over the emulated AVX-512 set: "amx-emu" on
                                    CPUs without AVX-512 (tests) */
    KERNELS_COUNT
} kernel_set_id;

/* ---- elementwise kernels of the forward pass ----
 * They do not depend on a weight type, so they sit beside the type table rather than in it;
 * every version gives the scalar one's bits (of a NaN: that it is one). */
typedef struct {
    /* out[j] = gelu(gate[j]) * up[j], j < n, GELU as llama.cpp's table of f16 values (see
     * kernels/scalar.c): 0 for gate <= -10, gate for gate >= 10, NaN for NaN. out may be
     * gate or up. */
    void (*geglu)(float *out, const float *gate, const float *up, int n);
    /* out = x / sqrt(mean(x^2) + eps) * w (w == NULL: 1), the sum of squares in double;
     * out may be x. */
    void (*rmsnorm)(float *out, const float *x, const float *w, int n, float eps);
    /* x[i] = cap * tanh(x[i] / cap), i < n (Gemma's logit soft-capping), tanh through expm1
     * to within 2 ulp (kernels/scalar.c); a NaN stays a NaN. */
    void (*softcap)(float *x, int n, float cap);
} vec_kernels;

typedef void (*geglu_fn)(float *out, const float *gate, const float *up, int n);
typedef void (*softcap_fn)(float *x, int n, float cap);

/* ---- tile kernels: many tokens per weight panel (prefill), and attention ----
 * A tile set multiplies a panel of weight rows with a group of `group` tokens at a time,
 * on activations it first rearranges ("packs") into its own layout, one group at a time;
 * weights are taken from the mapping and unpacked per call into panels in a per-thread
 * scratch. matmul.c drives the products (and decides when a batch is large enough);
 * attention.c's online softmax runs its steps on the attention entries. The AMX set (amx.c) is
 * the one implementation so far: group 16, panel 16. Weights repacked at load into row
 * panels do not come through here but through their own type rows (panel_dot, above). */
typedef struct {
    int group;        /* tokens per packed activation group; 0: the set has no tile kernels */
    int panel;        /* weight rows per panel; rows() takes up to two panels */
    int min_batch;    /* the batch from which the tiles pay for packing (matmul.c's default) */

    /* -- products: y[m * N + n] = dot(weight row n, token m) -- */
    /* Whether weights of `type` with rows of K elements have tile kernels. */
    bool (*supports)(uint32_t type, int64_t K);
    /* Weight types giving the same value take the same packed activations. */
    uint32_t (*layout)(uint32_t type);
    /* Bytes of one group's packed activations (groups lie group_size apart). */
    size_t (*group_size)(uint32_t type, int64_t K);
    /* Pack n <= group tokens into one group at dst (tokens n .. group - 1 are zero); `a` holds
     * their rows, a_row bytes apart, in the type's vec_dot_type (rows of K floats for the
     * float types). */
    void (*pack)(uint32_t type, const void *a, size_t a_row, int64_t K, int n, void *dst);
    /* Per-thread scratch bytes of rows() and the gated entries. */
    size_t (*scratch_size)(uint32_t type, int64_t K);
    /* Rows n0 .. n0 + nrows - 1 (nrows <= 2 panels) for every token m < M; act: the packed
     * groups of the M tokens. */
    void (*rows)(uint32_t type, float *y, int64_t N, const void *w, size_t w_row, int64_t K, int64_t n0,
                 int nrows, const void *act, int64_t M, void *scratch);

    /* -- the gated feed-forward: geglu(gate . x, up . x) per output tile, in registers -- */
    bool (*gated_supports)(uint32_t type);   /* the types gated_rows takes (with supports) */
    /* gated_rows: rows n0 .. n0 + nrows - 1 (nrows <= panel) of gate and up, written out as
     * geglu(gate row . token, up row . token). */
    void (*gated_rows)(uint32_t type, float *y, int64_t N, const void *gate, const void *up, size_t w_row,
                       int64_t K, int64_t n0, int nrows, const void *act, int64_t M, void *scratch, geglu_fn geglu);
    /* Whether gated_rows_q8 takes gate and up of `type` for a down projection of down_type
     * (one whose activations are Q8_0). */
    bool (*gated_q8_supports)(uint32_t type, uint32_t down_type);
    /* gated_rows for the 32 rows n0 .. n0 + 31 (n0 and N multiples of 32), each token's 32
     * outputs quantized to one Q8_0 block, as the down projection's activations would be,
     * and written straight into `groups`: the packed Q8_0 activations of K = N elements. */
    void (*gated_rows_q8)(uint32_t type, void *groups, int64_t N, const void *gate, const void *up, size_t w_row,
                          int64_t K, int64_t n0, const void *act, int64_t M, void *scratch, geglu_fn geglu);
    /* Whether a down projection of down_type takes packed Q8_K activations, which put_q8_k
     * fills one super-block at a time from gated_rows' outputs. */
    bool (*q8_k_input)(uint32_t down_type);
    /* Quantize y (M rows of 256 floats, y_row floats apart) to Q8_K as super-block sb of
     * K-element activations, into packed groups. */
    void (*put_q8_k)(const float *y, size_t y_row, int64_t M, int64_t K, int64_t sb, void *groups);

    /* -- attention: blocks of `group` queries against one kv head's packed cache -- */
    int kv_block;                                 /* cells per packed block */
    bool (*attn_supports)(int head_dim);          /* NULL: no tile attention */
    size_t (*kv_size)(int hd, int len);           /* bytes of one kv head's packed cache */
    /* Pack blocks b0 .. b1 - 1 of one kv head: with c0 = b0 * kv_block, keys at
     * k + (cell - c0) * k_stride (hd floats), values transposed at v + dim * v_stride +
     * cell - c0; cells at len and beyond are zero (and not read). */
    void (*kv_pack)(const float *k, size_t k_stride, const float *v, size_t v_stride, int hd, int len, int b0,
                    int b1, void *dst);
    size_t (*query_size)(int hd);                 /* bytes of a block's prepared queries */
    size_t (*prob_size)(int n);                   /* bytes of a block's probabilities, n cells */
    /* Queries 0 .. nq - 1 of a block (rows `stride` floats apart, hd each) in the set's form. */
    void (*attn_queries)(const float *q, size_t stride, int nq, int hd, void *qt);
    /* S[r * s_stride + j] = q_r . key(c0 + j), cells c0 .. c0 + n - 1 (c0, n multiples of
     * kv_block), every query row r of the block. */
    void (*attn_scores)(float *S, size_t s_stride, const void *qt, int hd, const void *kv, int len, int c0, int n);
    /* One online-softmax step of query row `row`: *m = max(*m, s[a .. b]); e_k = exp(s_k - *m)
     * for k in [a, b] (0 below FLT_MIN), 0 elsewhere, k < n, stored as the row's
     * probabilities in pt; returns the sum of the e_k. a > b: the row is all zero, *m kept. */
    float (*attn_probs)(const float *s, int n, int a, int b, float *m, void *pt, int row);
    /* T[r * t_stride + d] = sum_j p_r[j] * value(c0 + j)[d] over cells c0 .. c0 + n - 1. */
    void (*attn_values)(float *T, size_t t_stride, const void *pt, int n, const void *kv, int len, int hd, int c0);
} tile_kernels;

typedef struct {
    kernel_set_id id;
    const char *name;                 /* "AVX-512 VNNI", "scalar", ... */
    type_traits type[TYPE_COUNT];     /* every file type and every panel layout (quant.h) */
    /* The panel layout (a type id with a panel_dot, quant.h) this set's kernels want weights
     * of each file type repacked into at load; 0: keep the file's layout. */
    uint32_t repack_to[GGML_TYPE_COUNT];
    /* The type id attention's vector steps multiply a KV cache's values of each type as: a
     * row with the cells' storage and an activation format of its own, into which the
     * probabilities are converted first; 0: the cache's type with its own row. (AVX512_BF16:
     * bf16 values as TYPE_BF16_BF16, kernels/avx512_bf16.c.) */
    uint32_t kv_values_as[GGML_TYPE_COUNT];
    vec_kernels vec;
    tile_kernels tile;
} kernel_set;

/* Ask the memory for the part of the GELU table (kernels.h: gelu_table) that GeGLU reads
 * (inputs -10 < x < 10, 146 KB): at one token the weights streamed since the last GeGLU
 * have evicted it, and the lookups then wait on a miss each. Called before the products
 * whose outputs GeGLU gates, it is in cache by then (gemma3-1b Q4_0 decode: GeGLU 8.6-9.2
 * -> 4.9-5.3 us a layer; kernels/scalar.c). */
void gelu_table_prefetch(void);

const char *kernel_set_name(kernel_set_id s);
bool kernel_set_supported(const cpu_features *f, kernel_set_id s);
/* The fastest supported set, unless `request` (a GEMMA_KERNELS value; NULL or "" = no
 * request) names another supported one. A request for an unknown or unsupported set falls
 * back to the fastest and writes a one-line reason into warn (warn[0] = 0 when there is
 * nothing to say). */
kernel_set_id kernel_set_choose(const cpu_features *f, const char *request, char *warn, size_t warn_len);
/* Build set s into k (tests build several side by side). Only for a set that
 * kernel_set_supported() accepts on this CPU. */
void kernel_set_build(kernel_set *k, kernel_set_id s);

/* The set this process runs: chosen and built on first use (thread-safe); never NULL. */
const kernel_set *kernels_active(void);
/* Its row for a type id; NULL for ids >= TYPE_COUNT. */
const type_traits *kernel_traits(uint32_t type);
/* Make s (a supported set) the active one and return the one before: for tests, between
 * evaluations (no kernel may be running). */
kernel_set_id kernels_select(kernel_set_id s);

/* ---- the layers' installers (the ISA files), each defined only on its architecture ---- */
void kernels_avx2_install(kernel_set *k);
void kernels_avx2_panels_install(kernel_set *k);           /* its panel kernels (avx2_panels.c) */
void kernels_avx2_float_panels_install(kernel_set *k);     /* BF16/F16 ones (avx2_float_panels.c) */
void kernels_avx512_install(kernel_set *k);                /* over the AVX2 layer */
void kernels_avx512_panels_install(kernel_set *k);         /* its panel kernels (avx512_panels.c) */
void kernels_avx512_float_panels_install(kernel_set *k);   /* BF16/F16 ones (avx512_float_panels.c) */
void kernels_avx512_bf16_install(kernel_set *k);           /* vdpbf16ps KV tiles (avx512_bf16.c) */
void kernels_amx_install(kernel_set *k, bool bf16);        /* tiles; bf16: AMX-BF16 present */
void kernels_amx_emulated_install(kernel_set *k);          /* the same tiles, emulated */
void kernels_avx512_emulated_install(kernel_set *k);       /* the AVX-512 layer emulated */
void kernels_amx_avx512_emulated_install(kernel_set *k);   /* emulated tiles on it */
void kernels_neon_install(kernel_set *k);
void kernels_neon_dotprod_install(kernel_set *k);          /* over the NEON layer */
void kernels_neon_panels_install(kernel_set *k);           /* its panel kernels (neon_panels.c) */

#endif
