/* amx.c - the AMX tile kernels: prefill matmuls and attention on Intel AMX (x86-64,
 * Sapphire Rapids and later), installed as the tile kernels of the AMX sets (dispatch.h).
 * Compiled with the AVX-512 flags and, for the real tiles, -mamx-tile -mamx-int8
 * -mamx-bf16; amx_emulated.c compiles it once more with the tile instructions emulated in C
 * (amx_ops.h), so the same kernels run and are tested on CPUs without AMX.
 *
 * AMX adds eight tile registers of up to 16 rows x 64 bytes and one instruction that
 * multiplies two of them into a third: tdpbssd (int8 x int8 -> int32, 16 x 16 outputs from
 * 16 x 64 by 64 x 16 bytes) and tdpbf16ps (bf16 pairs -> f32). One tdpbssd does the work of
 * 16 vpdpbusd, which is why prompt processing (many tokens per weight row) goes here while
 * decode (one token) stays on the vector kernels, where memory bandwidth is the limit.
 *
 * How a quantized matmul maps onto the tiles:
 *   weights      16 rows at a time ("panel"), unpacked once per call into int8 codes of one
 *                scale block (32 elements; 16 for Q6_K) per tile row, plus f32 scales;
 *   activations  quantized once as for the dot products (Q8_0 / Q8_1 / Q8_K), then
 *                rearranged ("packed") into the tile's "VNNI" layout: 16 tokens per group;
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
 * in registers (gated_rows); with a Q8_0-activation down projection the results are
 * quantized there too, straight into its packed input (gated_rows_q8): the widest
 * activations of the model never go to memory in f32.
 * Attention of a batch (attention.c) runs on bf16 tiles as well, its floats split into two
 * or three bf16 parts so that the scores keep f32 precision (attn_scores).
 *
 * ---- The int8 path, one scale block at a time ----
 * tdpbssd computes C[m][n] += sum_k A[m][k] * B[k/4][4n + k%4] over signed bytes. We put 16
 * weight rows in A (one row per tile row, the L codes of one scale block) and 16 tokens in B,
 * so C[r][t] is the integer dot of weight row r and token t over one block, exactly the sumi
 * of the scalar kernels. Every block then needs its scales, in f32 (AVX-512, one vector per
 * weight row = 16 tokens):
 *   Q8_0 pairings (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4):  acc += C * (d_w * d_a)
 *   Q8_1 pairings (Q4_1, Q5_1):                       acc += C * (d_w * d_a) + m_w * s_a
 *   IQ4_XS (Q8_K activations):  sub += C * (d * ls_j), and per super-block  acc += sub * d_a
 * Weight codes are unpacked to signed bytes with their offsets applied (Q4_0: q - 8, IQ4:
 * codebook values), so no offset correction is needed; only the mins of the affine formats
 * remain, paid through the activation sums as in the dot products. Q4_K, Q5_K and Q6_K take
 * a faster way, by the digits of their integer scales (see below).
 *
 * Tiles: tmm0-1 = A (two 16-row weight panels), tmm2-3 = B (two 16-token groups),
 * tmm4-7 = C for the 2 x 2 pairs, so one A load serves two token groups and one B load two
 * panels. Every block's C must leave the tile (tilestored) for its scales: per 16 x 16 x 32
 * products that store costs as much as the tdpbssd itself, and the fix-up about as much
 * again (measured on the development machine; the tile unit and the vector units barely
 * overlap).
 * Blocks go in chunks of CHUNK: all their products first, then each C tile's fix-up over
 * the chunk with its 16 accumulators in registers; the next chunk's products are issued
 * between those fix-ups (a 2-3 % gain: the units overlap only a little).
 *
 * Layouts. Activations of one 16-token group: element k of token t at byte
 * (k / 4) * 64 + t * 4 + k % 4 (so any block of L elements is a B tile of L/4 rows of 64
 * bytes), followed by f32 arrays [blocks][16 tokens] of scales. A weight panel: block s of
 * row r at codes + (s * 16 + r) * L (an A tile of 16 rows of L bytes), then f32 arrays
 * [blocks][16 rows] of scales and mins.
 *
 * ---- The feed-forward (int8_rows with `up`, int8_gated_q8) ----
 * Gate and up panels of the same rows take the two A tiles, and GeGLU runs on the output
 * tiles in registers; for a down projection with Q8_0 activations the results are also
 * quantized there, into its packed input.
 *
 * ---- The bf16 path (BF16, F16 and F32 weights; attention; at the end) ----
 * tdpbf16ps: C[m][n] += sum_k A[m][2k..2k+1] . B[k][2n..2n+1] in f32. BF16 weight rows are
 * already the A layout (32 elements = 64 bytes per tile row), so full panels are loaded from
 * the mapping with the row stride; C accumulates over all of K inside the tile. F16 and F32
 * values are split into two or three bf16 parts and the products taken several times.
 *
 * Use only after cpu_get() reports AMX-TILE + AMX-INT8 (and the Linux permission request
 * succeeded, which cpu.c does), or in the emulated build where AVX-512 is present. */
#if defined(__x86_64__)

#include <float.h>
#include <string.h>

#include "amx_ops.h"
#include "avx512_intrin.h"
#include "dispatch.h"
#include "kernels.h"
#include "quant.h"

#ifndef INLINE /* the emulated AVX-512 build (avx512_emulated.h) leaves the choice to the compiler */
#define INLINE inline __attribute__((always_inline))
#endif

/* Tokens per packed activation group (the N dimension of C), weight rows per panel (its M). */
#define AMX_TOKENS 16
#define AMX_ROWS 16

enum fixup { FIX_Q8_0, FIX_Q8_1, FIX_K_MIN, FIX_K };

/* One weight panel's unpacked row: codes of block s at codes + s * 16 * L, its scale at
 * ws[s * 16] and min at wm[s * 16] (the panel interleaves 16 rows; callers pass row r's
 * base pointers). */
typedef void (*unpack_fn)(const uint8_t *row, int64_t K, int8_t *codes, float *ws, float *wm);

typedef struct {
    uint32_t type;
    int L;             /* elements per scale block, = bytes per tile row of A */
    enum fixup fix;
    unpack_fn unpack;
} amx_format;

/* ---- weight unpacking, one row at a time ---- */

/* An f16 field through F16C (kernels.h's rd_f16 is the portable one). */
static INLINE float f16(const uint8_t *p) { return _cvtsh_ss(rd_u16(p)); }

static INLINE __m128i load128(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static INLINE void store128(int8_t *p, __m128i v) { _mm_storeu_si128((__m128i *)p, v); }

/* The 32 4-bit codes of a split-halves block (element j low nibble, j + 16 high nibble). */
static INLINE void nibbles(const uint8_t *qs, __m128i *lo, __m128i *hi) {
    __m128i v = load128(qs), m = _mm_set1_epi8(15);
    *lo = _mm_and_si128(v, m);
    *hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
}

/* Byte i = 16 where bit i of bits is set (Q5's fifth bit). */
static INLINE __m128i bits16(uint32_t bits) {
    return _mm_and_si128(_mm_movm_epi8((__mmask16)bits), _mm_set1_epi8(16));
}

/* bf16 of 16 floats, round to nearest even (finite inputs), as 32-bit lanes */
static INLINE __m512i bf16_rne(__m512i bits) {
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    return _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)), 16);
}

/* 16 floats -> `parts` bf16 parts, part i at out[i * step]. */
static INLINE void split16(const float *x, int parts, uint16_t *out, size_t step) {
    __m512 rest = _mm512_loadu_ps(x);
    for (int i = 0; i < parts; i++) {
        __m512i h = bf16_rne(_mm512_castps_si512(rest));
        _mm256_storeu_si256((__m256i *)(out + (size_t)i * step), _mm512_cvtepi32_epi16(h));
        rest = _mm512_sub_ps(rest, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
    }
}

static void unpack_q4_0(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    (void)wm;
    for (int64_t b = 0; b < K / 32; b++, w += 18, c += 16 * 32) {
        __m128i lo, hi, off = _mm_set1_epi8(8);
        nibbles(w + 2, &lo, &hi);
        store128(c, _mm_sub_epi8(lo, off));
        store128(c + 16, _mm_sub_epi8(hi, off));
        ws[b * 16] = f16(w);
    }
}

static void unpack_q4_1(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    for (int64_t b = 0; b < K / 32; b++, w += 20, c += 16 * 32) {
        __m128i lo, hi;
        nibbles(w + 4, &lo, &hi);
        store128(c, lo);
        store128(c + 16, hi);
        ws[b * 16] = f16(w);
        wm[b * 16] = f16(w + 2);
    }
}

static void unpack_q5_0(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    (void)wm;
    for (int64_t b = 0; b < K / 32; b++, w += 22, c += 16 * 32) {
        __m128i lo, hi, off = _mm_set1_epi8(16);
        uint32_t qh = rd_u32(w + 2);
        nibbles(w + 6, &lo, &hi);
        store128(c, _mm_sub_epi8(_mm_or_si128(lo, bits16(qh & 0xffff)), off));
        store128(c + 16, _mm_sub_epi8(_mm_or_si128(hi, bits16(qh >> 16)), off));
        ws[b * 16] = f16(w);
    }
}

static void unpack_q5_1(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    for (int64_t b = 0; b < K / 32; b++, w += 24, c += 16 * 32) {
        __m128i lo, hi;
        uint32_t qh = rd_u32(w + 4);
        nibbles(w + 8, &lo, &hi);
        store128(c, _mm_or_si128(lo, bits16(qh & 0xffff)));
        store128(c + 16, _mm_or_si128(hi, bits16(qh >> 16)));
        ws[b * 16] = f16(w);
        wm[b * 16] = f16(w + 2);
    }
}

static void unpack_q8_0(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    (void)wm;
    for (int64_t b = 0; b < K / 32; b++, w += 34, c += 16 * 32) {
        memcpy(c, w + 2, 32);
        ws[b * 16] = f16(w);
    }
}

/* 4-bit indices through a 16-entry codebook of signed bytes (IQ4_NL, IQ4_XS, MXFP4). */
static INLINE void codebook32(const uint8_t *qs, __m128i book, int8_t *c) {
    __m128i lo, hi;
    nibbles(qs, &lo, &hi);
    store128(c, _mm_shuffle_epi8(book, lo));
    store128(c + 16, _mm_shuffle_epi8(book, hi));
}

static void unpack_iq4_nl(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    (void)wm;
    __m128i book = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
    for (int64_t b = 0; b < K / 32; b++, w += 18, c += 16 * 32) {
        codebook32(w + 2, book, c);
        ws[b * 16] = f16(w);
    }
}

static void unpack_mxfp4(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    (void)wm;
    __m128i book = _mm_loadu_si128((const __m128i *)kvalues_mxfp4);
    for (int64_t b = 0; b < K / 32; b++, w += 17, c += 16 * 32) {
        codebook32(w + 1, book, c);
        ws[b * 16] = e8m0_to_fp32_half(w[0]);
    }
}

static void unpack_iq4_xs(const uint8_t *w, int64_t K, int8_t *c, float *ws, float *wm) {
    (void)wm;
    __m128i book = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
    for (int64_t sb = 0; sb < K / QK_K; sb++, w += 136) {
        float d = f16(w);
        for (int ib = 0; ib < 8; ib++, c += 16 * 32, ws += 16) {
            codebook32(w + 8 + 16 * ib, book, c);
            ws[0] = d * (float)iq4_xs_scale(w, ib);
        }
    }
}

/* Q4_K / Q5_K: the 32 bytes of chunk j/2 hold sub-block j in their low (j even) or high
 * nibbles. */
static INLINE __m256i k_nibbles(const uint8_t *qs, int j) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
    if (j & 1) v = _mm256_srli_epi16(v, 4);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

static const amx_format formats[] = {
    {GGML_TYPE_Q4_0, 32, FIX_Q8_0, unpack_q4_0},   {GGML_TYPE_Q4_1, 32, FIX_Q8_1, unpack_q4_1},
    {GGML_TYPE_Q5_0, 32, FIX_Q8_0, unpack_q5_0},   {GGML_TYPE_Q5_1, 32, FIX_Q8_1, unpack_q5_1},
    {GGML_TYPE_Q8_0, 32, FIX_Q8_0, unpack_q8_0},   {GGML_TYPE_IQ4_NL, 32, FIX_Q8_0, unpack_iq4_nl},
    {GGML_TYPE_MXFP4, 32, FIX_Q8_0, unpack_mxfp4}, {GGML_TYPE_IQ4_XS, 32, FIX_K, unpack_iq4_xs},
    /* by scale digits (see "K-quants by scale digits" below): no per-block unpacker */
    {GGML_TYPE_Q4_K, 0, FIX_K_MIN, NULL},          {GGML_TYPE_Q5_K, 0, FIX_K_MIN, NULL},
    {GGML_TYPE_Q6_K, 0, FIX_K, NULL},
};

static const amx_format *format_of(uint32_t type) {
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (formats[i].type == type) return &formats[i];
    return NULL;
}

static bool is_float_type(uint32_t type) {
    return type == GGML_TYPE_BF16 || type == GGML_TYPE_F16 || type == GGML_TYPE_F32;
}

/* The quantized types; with AMX-BF16 also the float ones, for rows of a multiple of 32. */
static bool amx_supports_int8(uint32_t type, int64_t K) { (void)K; return format_of(type) != NULL; }
static bool amx_supports_bf16(uint32_t type, int64_t K) {
    return is_float_type(type) ? K % 32 == 0 : amx_supports_int8(type, K);
}

/* F16 and BF16 weights both take f32 activations but lay them out differently. */
static uint32_t amx_layout(uint32_t type) {
    return type == GGML_TYPE_F16 || type == GGML_TYPE_BF16 ? type : quant_traits(type)->vec_dot_type;
}

/* ---- activation layout ---- */

/* f32 values per token after the codes: Q8_0 d per block; Q8_1 d and s per block; Q8_K d per
 * super-block and the sum of codes per 32-element block. */
static int64_t act_floats(uint32_t type, int64_t K) {
    const amx_format *f = format_of(type);
    if (!f) return 0;
    if (f->fix == FIX_Q8_0) return K / 32;
    if (f->fix == FIX_Q8_1) return 2 * (K / 32);
    return K / QK_K + K / 32;
}

static size_t group_bytes(uint32_t type, int64_t K) {
    if (type == GGML_TYPE_BF16) return (size_t)K * 16 * 2;
    if (type == GGML_TYPE_F16) return (size_t)K * 16 * 2 * 2; /* bf16 high and low parts */
    if (type == GGML_TYPE_F32) return (size_t)K * 16 * 2 * 3; /* three bf16 parts */
    return (size_t)K * 16 + (size_t)act_floats(type, K) * 16 * sizeof(float);
}

/* Copy n codes of token t into the group's B layout. */
static void put_codes(uint8_t *g, int t, const uint8_t *q, int64_t k0, int64_t n) {
    for (int64_t k = 0; k < n; k += 4) memcpy(g + ((k0 + k) / 4) * 64 + t * 4, q + k, 4);
}

/* Super-block sb of a Q8_K row (blk: 292 bytes) as token t of a group of K-element rows:
 * codes, d, and the sums of the codes per 32. */
static void put_q8_k(uint8_t *grp, int t, const uint8_t *blk, int64_t K, int64_t sb) {
    float *fl = (float *)(void *)(grp + (size_t)K * 16);
    int64_t nsb = K / QK_K;
    put_codes(grp, t, blk + 4, QK_K * sb, QK_K);
    fl[sb * 16 + t] = q8_k_d(blk);
    for (int j = 0; j < 8; j++)
        fl[(nsb + sb * 8 + j) * 16 + t] = (float)(q8_k_bsum(blk, 2 * j) + q8_k_bsum(blk, 2 * j + 1));
}

static void amx_pack_act(uint32_t type, const void *a, size_t a_row, int64_t K, int n, void *dst) {
    uint8_t *grp = dst;
    if (n < AMX_TOKENS) memset(grp, 0, group_bytes(type, K)); /* a full group overwrites it all */
    if (type == GGML_TYPE_F32) {
        /* the three bf16 parts of each float, in bf16-pair planes K * 32 bytes apart (element
         * k of token t at (k / 2) * 64 + t * 4 + (k % 2) * 2) */
        _Alignas(64) uint16_t part[3][16];
        for (int t = 0; t < n; t++) {
            const float *x = (const float *)(const void *)((const uint8_t *)a + (size_t)t * a_row);
            for (int64_t k = 0; k < K; k += 16) {
                split16(x + k, 3, part[0], 16);
                for (int p = 0; p < 3; p++)
                    for (int i = 0; i < 16; i += 2)
                        memcpy(grp + (size_t)p * K * 32 + (size_t)((k + i) / 2) * 64 + (size_t)t * 4, &part[p][i], 4);
            }
        }
        return;
    }
    if (type == GGML_TYPE_BF16 || type == GGML_TYPE_F16) {
        /* bf16 pairs: element k of token t at (k / 2) * 64 + t * 4 + (k % 2) * 2. For F16
         * weights also the rounding remainder x - hi, as a second bf16 plane at K * 32. */
        for (int t = 0; t < n; t++) {
            const float *x = (const float *)(const void *)((const uint8_t *)a + (size_t)t * a_row);
            for (int64_t k = 0; k < K; k++) {
                uint16_t h = fp32_to_bf16(x[k]);
                size_t at = (size_t)(k / 2) * 64 + (size_t)t * 4 + (size_t)(k % 2) * 2;
                memcpy(grp + at, &h, 2);
                if (type == GGML_TYPE_F16) {
                    uint16_t l = fp32_to_bf16(x[k] - bf16_to_fp32(h));
                    memcpy(grp + (size_t)K * 32 + at, &l, 2);
                }
            }
        }
        return;
    }
    const amx_format *f = format_of(type);
    float *fl = (float *)(void *)(grp + (size_t)K * 16);
    int64_t nb = K / 32;
    for (int t = 0; t < n; t++) {
        const uint8_t *row = (const uint8_t *)a + (size_t)t * a_row;
        if (f->fix == FIX_Q8_0 || f->fix == FIX_Q8_1) {
            size_t bs = f->fix == FIX_Q8_0 ? 34 : 36, qo = f->fix == FIX_Q8_0 ? 2 : 4;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = row + b * bs;
                put_codes(grp, t, blk + qo, 32 * b, 32);
                fl[b * 16 + t] = f16(blk);
                if (f->fix == FIX_Q8_1) fl[(nb + b) * 16 + t] = f16(blk + 2);
            }
        } else {
            for (int64_t sb = 0; sb < K / QK_K; sb++) put_q8_k(grp, t, row + sb * 292, K, sb);
        }
    }
}

/* The set's Q8_K quantizer (the vector layers' one: the reference bytes, faster), kept by
 * the installer. */
static from_float_fn quantize_q8_k;

static void amx_put_q8_k(const float *y, size_t y_row, int64_t M, int64_t K, int64_t sb, void *groups) {
    size_t gb = group_bytes(GGML_TYPE_Q4_K, K);
    uint8_t blk[292];
    for (int64_t m = 0; m < M; m++) {
        quantize_q8_k(y + (size_t)m * y_row, blk, QK_K);
        put_q8_k((uint8_t *)groups + gb * (size_t)(m / AMX_TOKENS), (int)(m % AMX_TOKENS), blk, K, sb);
    }
}

static size_t amx_scratch_size(uint32_t type, int64_t K) {
    /* the largest of: two per-block panels of 16 rows (16 K bytes of codes + 2 floats per
     * block and row each); two digit panels (gate and up of amx_gated_rows; up to 3 x 16 K
     * bytes + 9 floats per super-block and row each); two zero-padded bf16 panels, one F16
     * panel's two planes (2 x 32 K bytes) or one F32 panel's three (3 x 32 K bytes) */
    (void)type;
    return (size_t)K * 128 + 512;
}

/* ---- tiles ---- */

/* A: 16 rows x a_bytes; B: b_rows x 64 bytes; C: 16 x 64 bytes (16 int32 / f32). */
static void configure_tiles(int a_bytes, int b_rows) {
    _Alignas(64) tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = (uint8_t)(i == 2 || i == 3 ? b_rows : 16);
        cfg.colsb[i] = (uint16_t)(i < 2 ? a_bytes : 64);
    }
    tile_config_load(&cfg);
}

typedef struct {
    const int8_t *codes;   /* [blocks][16 rows][L] */
    const float *ws, *wm;  /* [blocks][16 rows] */
} panel;

/* Unpack rows n0 .. n0 + rows - 1 (rows <= 16) into a panel at mem; missing rows stay 0. */
static panel unpack_panel(const amx_format *f, const uint8_t *w, size_t w_row, int64_t K,
                          int64_t n0, int rows, uint8_t *mem) {
    int64_t nblk = K / f->L;
    int8_t *codes = (int8_t *)mem;
    float *ws = (float *)(void *)(mem + (size_t)K * 16), *wm = ws + nblk * 16;
    if (rows < 16) memset(mem, 0, (size_t)K * 16 + (size_t)nblk * 16 * 2 * sizeof(float));
    for (int r = 0; r < rows; r++)
        f->unpack(w + (size_t)(n0 + r) * w_row, K, codes + r * f->L, ws + r, wm + r);
    return (panel){codes, ws, wm};
}

/* y for one tile: acc[r] holds weight row n0 + r for tokens m0 .. m0 + 15. Transposed
 * through memory (a gather per token) so that each token's outputs go out as one vector
 * store: y's rows are N floats apart, and a scalar store per output would touch a new cache
 * line every time. (An in-register transpose measured slower.) */
static void store_tile(float *y, int64_t N, int64_t n0, int rows, int64_t m0, int64_t M,
                       const __m512 acc[16]) {
    _Alignas(64) float t[16][16];
    for (int r = 0; r < 16; r++) _mm512_store_ps(t[r], acc[r]);
    const __m512i column = _mm512_set_epi32(240, 224, 208, 192, 176, 160, 144, 128, 112, 96, 80,
                                            64, 48, 32, 16, 0);
    __mmask16 keep = (__mmask16)((1u << rows) - 1);
    for (int j = 0; j < 16 && m0 + j < M; j++)
        _mm512_mask_storeu_ps(y + (m0 + j) * N + n0, keep, _mm512_i32gather_ps(column, &t[0][j], 4));
}

/* Ask for the output lines of a tile (16 tokens' rows of y from n0) ahead of store_tile:
 * y is usually far larger than the caches, and the ownership requests of 16 scattered
 * lines, issued at the store, stall it. Issued before a tile's products, they complete
 * while the tiles compute. */
static INLINE void prefetch_tile(float *y, int64_t N, int64_t n0, int64_t m0, int64_t M) {
    for (int64_t j = m0; j < m0 + AMX_TOKENS && j < M; j++) __builtin_prefetch(y + j * N + n0, 1, 3); /* prefetchw */
}

/* The fix-up of blocks s0 .. s0 + n - 1 for one C tile (one panel x one token group), from
 * their stored products c[i] (16 rows x 16 tokens each): see the top of the file. The tile's
 * outputs acc[r] (row r, 16 tokens) stay in memory between calls and in registers inside.
 * fl: the token group's floats (Q8_0/Q8_1: d, then s per block; Q8_K: d per super-block,
 * then the code sums per 32). A K-quant chunk never straddles super-blocks. */
static INLINE void chunk_fixup(enum fixup fix, int L, __m512 acc_mem[16], const int32_t c[][4][16][16],
                               int tile, const panel *p, const float *fl, int64_t K, int64_t s0, int n) {
    __m512 acc[16];
    if (fix == FIX_Q8_0 || fix == FIX_Q8_1) {
        /* the first chunk starts from zero (no memset of acc_mem: rep stos is slow here) */
        _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) acc[r] = s0 ? acc_mem[r] : _mm512_setzero_ps();
        for (int i = 0; i < n; i++) {
            int64_t s = s0 + i;
            const float *ws = p->ws + s * 16, *wm = p->wm + s * 16;
            __m512 da = _mm512_loadu_ps(fl + s * 16);
            __m512 sa = fix == FIX_Q8_1 ? _mm512_loadu_ps(fl + (K / 32 + s) * 16) : da;
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
                __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512(c[i][tile][r]));
                acc[r] = _mm512_fmadd_ps(v, _mm512_mul_ps(da, _mm512_set1_ps(ws[r])), acc[r]);
                if (fix == FIX_Q8_1) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(wm[r]), sa, acc[r]);
            }
        }
        _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) acc_mem[r] = acc[r];
        return;
    }
    __m512 sub[16]; /* this chunk's part of the super-block sum, before d_a */
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) sub[r] = _mm512_setzero_ps();
    for (int i = 0; i < n; i++) {
        int64_t s = s0 + i;
        const float *ws = p->ws + s * 16;
        _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512(c[i][tile][r]));
            sub[r] = _mm512_fmadd_ps(v, _mm512_set1_ps(ws[r]), sub[r]);
        }
    }
    __m512 da = _mm512_loadu_ps(fl + (s0 / (QK_K / L)) * 16);
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++)
        acc_mem[r] = s0 ? _mm512_fmadd_ps(sub[r], da, acc_mem[r]) : _mm512_mul_ps(sub[r], da);
}

/* Block s's products for np panels (A tiles 0-1) x ng token groups (B tiles 2-3) into C
 * tiles 4-7, stored to c[2 * panel + group]. np and ng are constants in each instantiation,
 * so the tile numbers are too. */
static INLINE void block_products(int L, int np, int ng, const panel p[2], const uint8_t *grp[2],
                                  int64_t s, int32_t c[4][16][16]) {
    size_t off = (size_t)s * 16 * L;
    tile_load(0, p[0].codes + off, L);
    tile_load(2, grp[0] + off, 64);
    if (np == 2) tile_load(1, p[1].codes + off, L);
    if (ng == 2) tile_load(3, grp[1] + off, 64);
    tile_zero(4);
    tile_dpbssd(4, 0, 2);
    if (ng == 2) { tile_zero(5); tile_dpbssd(5, 0, 3); }
    if (np == 2) { tile_zero(6); tile_dpbssd(6, 1, 2); }
    if (np == 2 && ng == 2) { tile_zero(7); tile_dpbssd(7, 1, 3); }
    tile_store(4, c[0], 64);
    if (ng == 2) tile_store(5, c[1], 64);
    if (np == 2) tile_store(6, c[2], 64);
    if (np == 2 && ng == 2) tile_store(7, c[3], 64);
}

/* Blocks per chunk. A chunk's products are stored (4 blocks x 4 tiles = 16 KB, double
 * buffered: 32 KB, in L1), then each C tile's fix-up runs over the chunk with its outputs in
 * registers. */
#define CHUNK 4

/* np panels x ng token groups over all of K; acc[2 * panel + group][r] = row r's outputs
 * for the group's 16 tokens. Software-pipelined: chunk ch+1's products are issued between
 * chunk ch's per-tile fix-ups, into the other half of a double buffer, so the tile unit
 * works while the vector units do the fix-up. */
static INLINE void int8_tiles(enum fixup fix, int L, int np, int ng, const panel p[2],
                              const uint8_t *grp[2], int64_t K, __m512 acc[4][16]) {
    _Alignas(64) int32_t c[2][CHUNK][4][16][16];
    const float *fl[2] = {(const float *)(const void *)(grp[0] + K * 16),
                          (const float *)(const void *)(grp[ng - 1] + K * 16)};
    int64_t nblk = K / L;
    int nt = np * ng;
    int n0 = nblk < CHUNK ? (int)nblk : CHUNK;
    for (int i = 0; i < n0; i++) block_products(L, np, ng, p, grp, i, c[0][i]);
    for (int64_t s0 = 0, ch = 0; s0 < nblk; s0 += CHUNK, ch++) {
        int n = nblk - s0 < CHUNK ? (int)(nblk - s0) : CHUNK;
        int64_t s1 = s0 + CHUNK;
        int nn = s1 >= nblk ? 0 : (nblk - s1 < CHUNK ? (int)(nblk - s1) : CHUNK);
        int32_t (*cur)[4][16][16] = c[ch & 1], (*nxt)[4][16][16] = c[(ch & 1) ^ 1];
        for (int t = 0; t < nt; t++) {
            int pi = t / ng, gi = t % ng;
            for (int i = t * nn / nt; i < (t + 1) * nn / nt; i++)
                block_products(L, np, ng, p, grp, s1 + i, nxt[i]);
            chunk_fixup(fix, L, acc[2 * pi + gi], (const int32_t(*)[4][16][16])cur, 2 * pi + gi,
                        &p[pi], fl[gi], K, s0, n);
        }
    }
}

#define INT8_TILES(FIX)                                                                         \
    static void tiles_##FIX(int L, int np, int ng, const panel p[2], const uint8_t *grp[2],     \
                            int64_t K, __m512 acc[4][16]) {                                    \
        if (np == 2 && ng == 2) int8_tiles(FIX, L, 2, 2, p, grp, K, acc);                       \
        else if (np == 2) int8_tiles(FIX, L, 2, 1, p, grp, K, acc);                             \
        else if (ng == 2) int8_tiles(FIX, L, 1, 2, p, grp, K, acc);                             \
        else int8_tiles(FIX, L, 1, 1, p, grp, K, acc);                                          \
    }
INT8_TILES(FIX_Q8_0)
INT8_TILES(FIX_Q8_1)
INT8_TILES(FIX_K)

static void run_tiles(const amx_format *f, int np, int ng, const panel p[2], const uint8_t *grp[2],
                      int64_t K, __m512 acc[4][16]) {
    switch (f->fix) {
    case FIX_Q8_0: tiles_FIX_Q8_0(f->L, np, ng, p, grp, K, acc); break;
    case FIX_Q8_1: tiles_FIX_Q8_1(f->L, np, ng, p, grp, K, acc); break;
    default: tiles_FIX_K(f->L, np, ng, p, grp, K, acc); break; /* IQ4_XS */
    }
}

/* Rows n0 .. n0 + nrows - 1 of w (nrows <= 32, two panels); or, with `up`, nrows <= 16 rows
 * of w (gate) and the same rows of up as the two panels, written out as geglu(gate, up). */
static void int8_rows(const amx_format *f, float *y, int64_t N, const uint8_t *w, const uint8_t *up,
                      size_t w_row, int64_t K, int64_t n0, int nrows, const uint8_t *act, int64_t M,
                      uint8_t *scratch, geglu_fn geglu) {
    size_t pbytes = (size_t)K * 32;   /* codes 16 K + floats <= 16 K */
    panel p[2];
    int np = up || nrows > 16 ? 2 : 1;
    for (int i = 0; i < np; i++) {
        const uint8_t *src = up && i ? up : w;
        int64_t r0 = up ? n0 : n0 + 16 * i;
        int rows = up ? nrows : (nrows - 16 * i < 16 ? nrows - 16 * i : 16);
        p[i] = unpack_panel(f, src, w_row, K, r0, rows, scratch + pbytes * (size_t)i);
    }
    if (np == 1) p[1] = p[0];
    configure_tiles(f->L, f->L / 4);
    int64_t G = (M + AMX_TOKENS - 1) / AMX_TOKENS;
    size_t gb = group_bytes(f->type, K);
    for (int64_t g = 0; g < G; g += 2) {
        int ng = G - g >= 2 ? 2 : 1;
        const uint8_t *grp[2] = {act + gb * (size_t)g, act + gb * (size_t)(g + ng - 1)};
        for (int pi = 0; pi < (up ? 1 : np); pi++)
            for (int gi = 0; gi < ng; gi++) prefetch_tile(y, N, n0 + 16 * pi, (g + gi) * AMX_TOKENS, M);
        __m512 acc[4][16];
        run_tiles(f, np, ng, p, grp, K, acc);
        if (up) { /* acc[gi]: gate rows, acc[2 + gi]: up rows, for token group gi */
            for (int gi = 0; gi < ng; gi++) {
                geglu((float *)acc[gi], (const float *)acc[gi], (const float *)acc[2 + gi], 256);
                store_tile(y, N, n0, nrows, (g + gi) * AMX_TOKENS, M, acc[gi]);
            }
            continue;
        }
        for (int pi = 0; pi < np; pi++) {
            int rows = nrows - 16 * pi < 16 ? nrows - 16 * pi : 16;
            for (int gi = 0; gi < ng; gi++)
                store_tile(y, N, n0 + 16 * pi, rows, (g + gi) * AMX_TOKENS, M, acc[2 * pi + gi]);
        }
    }
    tile_release();
}

/* round(v) half away from zero (roundf), NaN -> 0, clamped to -127 .. 127, as int32 */
static INLINE __m512i round_away_code(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 r = _mm512_mask_add_ps(t, up, t, step);
    r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), r);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvtps_epi32(r);
}

/* x[r] = output r of a block of 32 (one per weight row) for 16 tokens, quantized per token
 * as quantize_block_q8 does (d = amax / 127, codes round(x / d) half away from zero, d kept
 * through f16), straight into an activation group: codes of rows 4i .. 4i + 3 of token t
 * at blk[64 i + 4 t ..] (the B layout of amx_pack_act), d at scale[t]. */
static void quantize_tile_q8(const __m512 x[32], uint8_t *blk, float *scale) {
    __m512 amax = _mm512_setzero_ps();
    for (int r = 0; r < 32; r++) amax = _mm512_max_ps(amax, _mm512_abs_ps(x[r]));
    __m512 d = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
    __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ), _mm512_set1_ps(1.0f), d);
    _mm512_storeu_ps(scale, _mm512_cvtph_ps(_mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    for (int i = 0; i < 8; i++) {
        __m512i word = _mm512_setzero_si512();
        for (int e = 0; e < 4; e++) {
            __m512i c = _mm512_and_si512(round_away_code(_mm512_mul_ps(x[4 * i + e], id)), _mm512_set1_epi32(255));
            word = _mm512_or_si512(word, _mm512_slli_epi32(c, 8 * e));
        }
        _mm512_storeu_si512(blk + 64 * i, word);
    }
}

/* amx_gated_rows_q8 for the per-block formats: four panels (gate and up of rows n0 .. n0 +
 * 15, then of n0 + 16 .. n0 + 31), two passes of the tiles per token group pair. */
static void int8_gated_q8(const amx_format *f, uint8_t *groups, int64_t N, const uint8_t *gate,
                          const uint8_t *up, size_t w_row, int64_t K, int64_t n0, const uint8_t *act,
                          int64_t M, uint8_t *scratch, geglu_fn geglu) {
    size_t pbytes = (size_t)K * 32;
    panel p[4];
    for (int i = 0; i < 4; i++)
        p[i] = unpack_panel(f, i & 1 ? up : gate, w_row, K, n0 + 16 * (i / 2), 16, scratch + pbytes * (size_t)i);
    configure_tiles(f->L, f->L / 4);
    int64_t G = (M + AMX_TOKENS - 1) / AMX_TOKENS;
    size_t gb = group_bytes(f->type, K), db = group_bytes(GGML_TYPE_Q8_0, N);
    for (int64_t g = 0; g < G; g += 2) {
        int ng = G - g >= 2 ? 2 : 1;
        const uint8_t *grp[2] = {act + gb * (size_t)g, act + gb * (size_t)(g + ng - 1)};
        __m512 acc[2][4][16]; /* [rows n0 .. / n0 + 16 ..][gate group 0, 1, up group 0, 1][row] */
        run_tiles(f, 2, ng, p, grp, K, acc[0]);
        run_tiles(f, 2, ng, p + 2, grp, K, acc[1]);
        for (int gi = 0; gi < ng; gi++) {
            __m512 x[32];
            for (int h = 0; h < 2; h++) {
                geglu((float *)acc[h][gi], (const float *)acc[h][gi], (const float *)acc[h][2 + gi], 256);
                for (int r = 0; r < 16; r++) x[16 * h + r] = acc[h][gi][r];
            }
            uint8_t *out = groups + db * (size_t)(g + gi);
            quantize_tile_q8(x, out + (size_t)(n0 / 32) * 512, (float *)(void *)(out + (size_t)N * 16) + (n0 / 32) * 16);
        }
    }
    tile_release();
}

/* ---- K-quants by scale digits (Q4_K, Q5_K, Q6_K) ----
 * Their sub-block scales are integers (Q4_K: 6 bits, 0..63 per 32 elements; Q6_K: int8 per
 * 16), so a super-block's integer sum  isum = sum_j sc_j * (codes_j . a_j)  (the scalar
 * kernels' sumi) can be formed in the tiles over all 256 elements at once, if the scales go
 * into the weight codes. Code times scale does not fit a byte (15 * 63), but times a base-8
 * digit of the scale does: sc = sum_p 8^p dig_p, with dig_p in 0..7 for Q4_K (2 digits,
 * q * dig <= 105) and Q5_K (codes made signed, q - 16: |.| * 7 <= 112), and in -3..4 for
 * Q6_K (3 digits, |(q - 32) * dig| <= 128, where only -32 * 4 reaches -128). Digit p's codes q * dig_p(j) are their own A tiles; C_p sums over
 * the super-block (4 products of K = 64) inside the tile; isum = sum_p 8^p C_p in int32,
 * exact. So a super-block costs one C store and one fix-up per digit instead of one per
 * sub-block:
 *   Q4_K: acc += (d * d_a) * isum - sum_j (dmin * m_j) * (d_a * bsum_j(a))
 *   Q5_K: the same with the offset in the min: (dmin * m_j - 16 * d * sc_j)
 *   Q6_K: acc += (d * d_a) * isum
 * Tiles: tmm0-1 = two digits' codes of one 16-row panel, tmm2-3 = two token groups,
 * tmm4-7 = C for digit x group; Q6_K's third digit takes a second pass. */

typedef struct {
    int digits;
    const int8_t *codes;     /* [digit][super-block][4][16 rows][64] */
    const float *d;          /* [super-block][16 rows] */
    const float *wm;         /* [super-block][8][16 rows]: Q4_K's / Q5_K's min per sub-block */
    int64_t nsb;
} kd_panel;

static INLINE int8_t *kd_codes(const kd_panel *p, int dig, int64_t sb, int kk, int r) {
    return (int8_t *)p->codes + (((size_t)dig * (size_t)p->nsb + (size_t)sb) * 4 + (size_t)kk) * 1024 + (size_t)r * 64;
}

/* 32 codes times 32 (int16) digits, back to bytes (the products fit, see above). */
static INLINE __m256i times_digits(__m256i q, __m512i dig) {
    return _mm512_cvtepi16_epi8(_mm512_mullo_epi16(_mm512_cvtepi8_epi16(q), dig));
}

/* Digit p (0, 1, 2) of sc in base 8 with digits in -3..4. */
static INLINE int q6_digit(int sc, int p) {
    for (int i = 0; i < p; i++) sc = (sc - (((sc + 3) & 7) - 3)) / 8;
    return ((sc + 3) & 7) - 3;
}

static void kd_unpack_q4_k(const uint8_t *w, kd_panel *p, int r) {
    for (int64_t sb = 0; sb < p->nsb; sb++, w += 144) {
        float dmin = f16(w + 2);
        ((float *)p->d)[sb * 16 + r] = f16(w);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(w + 4, j, &sc, &m);
            ((float *)p->wm)[(sb * 8 + j) * 16 + r] = dmin * (float)m;
            __m256i q = k_nibbles(w + 16, j);   /* elements 32 j .. 32 j + 31 */
            for (int dig = 0; dig < 2; dig++)
                _mm256_storeu_si256((__m256i *)(kd_codes(p, dig, sb, j / 2, r) + 32 * (j & 1)),
                                    times_digits(q, _mm512_set1_epi16((short)(dig ? sc >> 3 : sc & 7))));
        }
    }
}

/* Q5_K: Q4_K's nibbles at qs@48 plus the fifth bit, bit j of qh[l] for element 32 j + l. */
static void kd_unpack_q5_k(const uint8_t *w, kd_panel *p, int r) {
    const __m256i one = _mm256_set1_epi8(1), off = _mm256_set1_epi8(16);
    for (int64_t sb = 0; sb < p->nsb; sb++, w += 176) {
        float d = f16(w), dmin = f16(w + 2);
        ((float *)p->d)[sb * 16 + r] = d;
        __m256i qh = _mm256_loadu_si256((const __m256i *)(w + 16));
        for (int j = 0; j < 8; j++) {
            int sc, m;
            k4_scale_min(w + 4, j, &sc, &m);
            ((float *)p->wm)[(sb * 8 + j) * 16 + r] = dmin * (float)m - 16.0f * d * (float)sc;
            __m256i h = _mm256_and_si256(_mm256_srli_epi16(qh, j), one);
            __m256i q = _mm256_sub_epi8(_mm256_or_si256(k_nibbles(w + 48, j), _mm256_slli_epi16(h, 4)), off);
            for (int dig = 0; dig < 2; dig++)
                _mm256_storeu_si256((__m256i *)(kd_codes(p, dig, sb, j / 2, r) + 32 * (j & 1)),
                                    times_digits(q, _mm512_set1_epi16((short)(dig ? sc >> 3 : sc & 7))));
        }
    }
}

/* Q6_K element 128h + 32g + l (g = 0..3, l = 0..31): the low (g < 2) or high nibble of
 * ql[64h + 32(g & 1) + l], bits 2g..2g+1 of qh[32h + l]; code - 32. Its 32 elements span
 * sub-blocks 8h + 2g and 8h + 2g + 1. */
static void kd_unpack_q6_k(const uint8_t *w, kd_panel *p, int r) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t sb = 0; sb < p->nsb; sb++, w += 210) {
        ((float *)p->d)[sb * 16 + r] = f16(w + 208);
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w + 128 + 32 * h));
            for (int g = 0; g < 4; g++) {
                __m256i ql = (g & 1) ? ql1 : ql0;
                __m256i lo = g < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m2);
                __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), off);
                int k = 8 * h + 2 * g, sc0 = q6_k_scale(w, k), sc1 = q6_k_scale(w, k + 1);
                for (int dig = 0; dig < 3; dig++) {
                    __m512i dv = _mm512_mask_set1_epi16(_mm512_set1_epi16((short)q6_digit(sc0, dig)),
                                                        (__mmask32)0xffff0000u, (short)q6_digit(sc1, dig));
                    _mm256_storeu_si256((__m256i *)(kd_codes(p, dig, sb, 2 * h + g / 2, r) + 32 * (g & 1)),
                                        times_digits(q, dv));
                }
            }
        }
    }
}

/* Rows n0 .. n0 + rows - 1 (rows <= 16) of a Q4_K / Q5_K / Q6_K matrix as a digit panel at mem;
 * missing rows stay zero. */
static kd_panel kd_unpack(uint32_t type, const uint8_t *w, size_t w_row, int64_t K, int64_t n0,
                          int rows, uint8_t *mem) {
    kd_panel p = {type == GGML_TYPE_Q6_K ? 3 : 2, (int8_t *)mem, NULL, NULL, K / QK_K};
    size_t codes = (size_t)p.digits * (size_t)K * 16, floats = (size_t)p.nsb * 16 * 9;
    p.d = (float *)(void *)(mem + codes);
    p.wm = p.d + p.nsb * 16;
    if (rows < 16) memset(mem, 0, codes + floats * sizeof(float));
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = w + (size_t)(n0 + r) * w_row;
        if (type == GGML_TYPE_Q4_K) kd_unpack_q4_k(row, &p, r);
        else if (type == GGML_TYPE_Q5_K) kd_unpack_q5_k(row, &p, r);
        else kd_unpack_q6_k(row, &p, r);
    }
    return p;
}

/* One panel x ng token groups (1-2) over all of K: acc[group][r] = row r's 16 outputs. */
static void kd_tiles(const kd_panel *p, bool mins, int ng, const uint8_t *grp[2], int64_t K,
                     __m512 acc[2][16]) {
    _Alignas(64) int32_t c[4][16][16];
    __m512i isum[2][16];
    const float *fl[2] = {(const float *)(const void *)(grp[0] + K * 16),
                          (const float *)(const void *)(grp[ng - 1] + K * 16)};
    for (int64_t sb = 0; sb < p->nsb; sb++) {
        for (int d0 = 0; d0 < p->digits; d0 += 2) {
            bool two = p->digits - d0 >= 2;
            tile_zero(4);
            if (ng == 2) tile_zero(5);
            if (two) tile_zero(6);
            if (two && ng == 2) tile_zero(7);
            for (int kk = 0; kk < 4; kk++) {
                size_t boff = (size_t)(sb * QK_K + 64 * kk) * 16;
                tile_load(0, kd_codes(p, d0, sb, kk, 0), 64);
                tile_load(2, grp[0] + boff, 64);
                if (two) tile_load(1, kd_codes(p, d0 + 1, sb, kk, 0), 64);
                if (ng == 2) tile_load(3, grp[1] + boff, 64);
                tile_dpbssd(4, 0, 2);
                if (ng == 2) tile_dpbssd(5, 0, 3);
                if (two) tile_dpbssd(6, 1, 2);
                if (two && ng == 2) tile_dpbssd(7, 1, 3);
            }
            tile_store(4, c[0], 64);
            if (ng == 2) tile_store(5, c[1], 64);
            if (two) tile_store(6, c[2], 64);
            if (two && ng == 2) tile_store(7, c[3], 64);
            /* isum = sum_p 8^p C_p; a second pass (Q6_K's third digit) adds to the first's */
            for (int g = 0; g < ng; g++)
                _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) {
                    __m512i v = _mm512_load_si512(c[g][r]);
                    if (d0) v = _mm512_add_epi32(isum[g][r], _mm512_slli_epi32(v, 3 * d0));
                    if (two) v = _mm512_add_epi32(v, _mm512_slli_epi32(_mm512_load_si512(c[2 + g][r]), 3 * d0 + 3));
                    isum[g][r] = v;
                }
        }
        for (int g = 0; g < ng; g++) {
            __m512 da = _mm512_loadu_ps(fl[g] + sb * 16), a[16];
            const float *d = p->d + sb * 16;
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++)
                a[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[g][r]), _mm512_mul_ps(da, _mm512_set1_ps(d[r])),
                                       sb ? acc[g][r] : _mm512_setzero_ps());
            if (mins) /* j outer: the 16 rows' chains interleave */
                for (int j = 0; j < 8; j++) {
                    __m512 ab = _mm512_mul_ps(da, _mm512_loadu_ps(fl[g] + (p->nsb + sb * 8 + j) * 16));
                    const float *wm = p->wm + (sb * 8 + j) * 16;
                    _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++)
                        a[r] = _mm512_fnmadd_ps(_mm512_set1_ps(wm[r]), ab, a[r]);
                }
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++) acc[g][r] = a[r];
        }
    }
}

/* As int8_rows, for the digit formats: panels one after the other (a digit panel fills
 * the A tiles alone); with `up`, the gate and up panels side by side in the scratch. */
static void kd_rows(uint32_t type, float *y, int64_t N, const uint8_t *w, const uint8_t *up,
                    size_t w_row, int64_t K, int64_t n0, int nrows, const uint8_t *act, int64_t M,
                    uint8_t *scratch, geglu_fn geglu) {
    configure_tiles(64, 16);
    int64_t G = (M + AMX_TOKENS - 1) / AMX_TOKENS;
    size_t gb = group_bytes(type, K);
    bool mins = type != GGML_TYPE_Q6_K;
    for (int p0 = 0; p0 < nrows; p0 += 16) {
        int rows = nrows - p0 < 16 ? nrows - p0 : 16;
        kd_panel p = kd_unpack(type, w, w_row, K, n0 + p0, rows, scratch), pu = p;
        if (up) pu = kd_unpack(type, up, w_row, K, n0 + p0, rows, scratch + (size_t)K * 64);
        for (int64_t g = 0; g < G; g += 2) {
            int ng = G - g >= 2 ? 2 : 1;
            const uint8_t *grp[2] = {act + gb * (size_t)g, act + gb * (size_t)(g + ng - 1)};
            __m512 acc[2][16], acc_up[2][16];
            for (int gi = 0; gi < ng; gi++) prefetch_tile(y, N, n0 + p0, (g + gi) * AMX_TOKENS, M);
            kd_tiles(&p, mins, ng, grp, K, acc);
            if (up) {
                kd_tiles(&pu, mins, ng, grp, K, acc_up);
                for (int gi = 0; gi < ng; gi++)
                    geglu((float *)acc[gi], (const float *)acc[gi], (const float *)acc_up[gi], 256);
            }
            for (int gi = 0; gi < ng; gi++) store_tile(y, N, n0 + p0, rows, (g + gi) * AMX_TOKENS, M, acc[gi]);
        }
    }
    tile_release();
}

/* ---- bf16 ---- */

/* C tiles accumulate over K; A from the mapping (full panels) or a zero-padded copy. */
static INLINE void bf16_pairs(int np, int ng, const uint8_t *a[2], size_t a_stride,
                              const uint8_t *grp[2], int64_t K, float out[4][16][16]) {
    tile_zero(4);
    if (ng == 2) tile_zero(5);
    if (np == 2) tile_zero(6);
    if (np == 2 && ng == 2) tile_zero(7);
    for (int64_t s = 0; s < K / 32; s++) {
        tile_load(0, a[0] + s * 64, a_stride);
        tile_load(2, grp[0] + s * 1024, 64);
        if (np == 2) tile_load(1, a[1] + s * 64, a_stride);
        if (ng == 2) tile_load(3, grp[1] + s * 1024, 64);
        tile_dpbf16ps(4, 0, 2);
        if (ng == 2) tile_dpbf16ps(5, 0, 3);
        if (np == 2) tile_dpbf16ps(6, 1, 2);
        if (np == 2 && ng == 2) tile_dpbf16ps(7, 1, 3);
    }
    tile_store(4, out[0], 64);
    if (ng == 2) tile_store(5, out[1], 64);
    if (np == 2) tile_store(6, out[2], 64);
    if (np == 2 && ng == 2) tile_store(7, out[3], 64);
}

static void bf16_rows(float *y, int64_t N, const uint8_t *w, size_t w_row, int64_t K, int64_t n0,
                      int nrows, const uint8_t *act, int64_t M, uint8_t *scratch) {
    const uint8_t *a[2];
    size_t stride = w_row;
    int np = nrows > 16 ? 2 : 1;
    if (nrows % 16) { /* a partial panel: never load rows past the matrix */
        stride = (size_t)K * 2;
        memset(scratch, 0, stride * 32);
        for (int r = 0; r < nrows; r++) memcpy(scratch + r * stride, w + (size_t)(n0 + r) * w_row, stride);
        a[0] = scratch;
        a[1] = scratch + 16 * stride;
    } else {
        a[0] = w + (size_t)n0 * w_row;
        a[1] = a[0] + 16 * w_row;
    }
    configure_tiles(64, 16);
    int64_t G = (M + AMX_TOKENS - 1) / AMX_TOKENS;
    size_t gb = group_bytes(GGML_TYPE_BF16, K);
    for (int64_t g = 0; g < G; g += 2) {
        int ng = G - g >= 2 ? 2 : 1;
        const uint8_t *grp[2] = {act + gb * (size_t)g, act + gb * (size_t)(g + ng - 1)};
        _Alignas(64) float out[4][16][16];
        if (np == 2 && ng == 2) bf16_pairs(2, 2, a, stride, grp, K, out);
        else if (np == 2) bf16_pairs(2, 1, a, stride, grp, K, out);
        else if (ng == 2) bf16_pairs(1, 2, a, stride, grp, K, out);
        else bf16_pairs(1, 1, a, stride, grp, K, out);
        for (int pi = 0; pi < np; pi++) {
            int rows = nrows - 16 * pi < 16 ? nrows - 16 * pi : 16;
            for (int gi = 0; gi < ng; gi++) {
                __m512 acc[16];
                for (int r = 0; r < 16; r++) acc[r] = _mm512_load_ps(out[2 * pi + gi][r]);
                store_tile(y, N, n0 + 16 * pi, rows, (g + gi) * AMX_TOKENS, M, acc);
            }
        }
    }
    tile_release();
}

/* C += A . B for values split into three bf16 parts, tiles ah, am, al of A and bh, bm, bl of
 * B: the six products whose terms are above 2^-24 of the product,
 *   ah.bh + ah.bm + am.bh + ah.bl + al.bh + am.bm
 * (a macro: the tile numbers go into the instructions, as literal numbers) */
#define SPLIT3_PRODUCTS(c, ah, am, al, bh, bm, bl) \
    do {                                           \
        tile_dpbf16ps(c, ah, bh);                 \
        tile_dpbf16ps(c, ah, bm);                 \
        tile_dpbf16ps(c, am, bh);                 \
        tile_dpbf16ps(c, ah, bl);                 \
        tile_dpbf16ps(c, al, bh);                 \
        tile_dpbf16ps(c, am, bm);                 \
    } while (0)

/* The f32 tiles C6 (token group g) and C7 (g + 1, if ng is 2) out to y through store_tile. */
static void store_c67(float *y, int64_t N, int64_t n0, int rows, int64_t g, int ng, int64_t M) {
    _Alignas(64) float out[2][16][16];
    tile_store(6, out[0], 64);
    tile_store(7, out[1], 64);
    for (int gi = 0; gi < ng; gi++) {
        __m512 acc[16];
        for (int r = 0; r < 16; r++) acc[r] = _mm512_load_ps(out[gi][r]);
        store_tile(y, N, n0, rows, (g + gi) * AMX_TOKENS, M, acc);
    }
}

/* ---- F16 weights on bf16 tiles ----
 * An f16 weight (11-bit significand) is exactly hi + lo with hi = bf16(w) and lo =
 * bf16(w - hi) (at most 3 significant bits left); the activation likewise x ~ xh + xl
 * (16 bits). Three products into one f32 tile, wh.xh + wl.xh + wh.xl, leave out only
 * wl.xl (below 2^-16 of the term): closer to the f32 dot than llama.cpp's own F16 path,
 * which rounds the activations to f16. Tiles: tmm0-1 = the panel's hi and lo rows,
 * tmm2-5 = two token groups' hi and lo, tmm6-7 = C. */

/* 16 f16 weights -> bf16 high part (round to nearest even) and low remainder. */
static INLINE void split_f16(const uint8_t *w, uint8_t *hi, uint8_t *lo) {
    __m512 x = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)w));
    __m512i bits = _mm512_castps_si512(x), one = _mm512_set1_epi32(1);
    __m512i round = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(bits, 16), one));
    __m512i h = _mm512_srli_epi32(_mm512_add_epi32(bits, round), 16);
    __m512 rest = _mm512_sub_ps(x, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
    __m512i rb = _mm512_castps_si512(rest);
    __m512i l = _mm512_srli_epi32(_mm512_add_epi32(rb, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                  _mm512_and_si512(_mm512_srli_epi32(rb, 16), one))), 16);
    _mm256_storeu_si256((__m256i *)hi, _mm512_cvtepi32_epi16(h));
    _mm256_storeu_si256((__m256i *)lo, _mm512_cvtepi32_epi16(l));
}

static void f16_rows(float *y, int64_t N, const uint8_t *w, size_t w_row, int64_t K, int64_t n0,
                     int nrows, const uint8_t *act, int64_t M, uint8_t *scratch) {
    size_t stride = (size_t)K * 2;              /* bytes per panel row, per plane */
    uint8_t *hi = scratch, *lo = scratch + 16 * stride;
    configure_tiles(64, 16);
    int64_t G = (M + AMX_TOKENS - 1) / AMX_TOKENS;
    size_t gb = group_bytes(GGML_TYPE_F16, K);
    for (int p0 = 0; p0 < nrows; p0 += 16) {
        int rows = nrows - p0 < 16 ? nrows - p0 : 16;
        if (rows < 16) memset(scratch, 0, 32 * stride);
        for (int r = 0; r < rows; r++)
            for (int64_t k = 0; k < K; k += 16)
                split_f16(w + (size_t)(n0 + p0 + r) * w_row + k * 2, hi + r * stride + k * 2, lo + r * stride + k * 2);
        for (int64_t g = 0; g < G; g += 2) {
            int ng = G - g >= 2 ? 2 : 1;
            const uint8_t *g0 = act + gb * (size_t)g, *g1 = act + gb * (size_t)(g + ng - 1);
            size_t lo_plane = (size_t)K * 32;
            tile_zero(6);
            tile_zero(7);
            for (int64_t s = 0; s < K / 32; s++) {
                tile_load(0, hi + s * 64, stride);
                tile_load(1, lo + s * 64, stride);
                tile_load(2, g0 + s * 1024, 64);
                tile_load(3, g0 + lo_plane + s * 1024, 64);
                tile_dpbf16ps(6, 0, 2);
                tile_dpbf16ps(6, 1, 2);
                tile_dpbf16ps(6, 0, 3);
                if (ng == 2) {
                    tile_load(4, g1 + s * 1024, 64);
                    tile_load(5, g1 + lo_plane + s * 1024, 64);
                    tile_dpbf16ps(7, 0, 4);
                    tile_dpbf16ps(7, 1, 4);
                    tile_dpbf16ps(7, 0, 5);
                }
            }
            store_c67(y, N, n0 + p0, rows, g, ng, M);
        }
    }
    tile_release();
}

/* ---- F32 weights on bf16 tiles ----
 * A float is exactly the sum of three bf16 parts (h, m, l; see the attention section), so
 * the f32 dot w . x is, to f32 precision, the six products of SPLIT3_PRODUCTS into one f32
 * tile. Tiles: tmm0-2 = the
 * panel's three parts, tmm3-5 = a token group's three parts, tmm6-7 = C for two groups. */
static void f32_rows(float *y, int64_t N, const uint8_t *w, size_t w_row, int64_t K, int64_t n0,
                     int nrows, const uint8_t *act, int64_t M, uint8_t *scratch) {
    size_t stride = (size_t)K * 2, plane = 16 * stride; /* bytes per panel row / part */
    configure_tiles(64, 16);
    int64_t G = (M + AMX_TOKENS - 1) / AMX_TOKENS;
    size_t gb = group_bytes(GGML_TYPE_F32, K), xplane = (size_t)K * 32;
    for (int p0 = 0; p0 < nrows; p0 += 16) {
        int rows = nrows - p0 < 16 ? nrows - p0 : 16;
        if (rows < 16) memset(scratch, 0, 3 * plane);
        for (int r = 0; r < rows; r++) {
            const float *wr = (const float *)(const void *)(w + (size_t)(n0 + p0 + r) * w_row);
            for (int64_t k = 0; k < K; k += 16)
                split16(wr + k, 3, (uint16_t *)(void *)(scratch + r * stride) + k, plane / 2);
        }
        for (int64_t g = 0; g < G; g += 2) {
            int ng = G - g >= 2 ? 2 : 1;
            tile_zero(6);
            tile_zero(7);
            for (int64_t s = 0; s < K / 32; s++) {
                tile_load(0, scratch + s * 64, stride);
                tile_load(1, scratch + plane + s * 64, stride);
                tile_load(2, scratch + 2 * plane + s * 64, stride);
                for (int gi = 0; gi < ng; gi++) {
                    const uint8_t *x = act + gb * (size_t)(g + gi) + s * 1024;
                    tile_load(3, x, 64);
                    tile_load(4, x + xplane, 64);
                    tile_load(5, x + 2 * xplane, 64);
                    if (gi == 0) SPLIT3_PRODUCTS(6, 0, 1, 2, 3, 4, 5);
                    else SPLIT3_PRODUCTS(7, 0, 1, 2, 3, 4, 5);
                }
            }
            store_c67(y, N, n0 + p0, rows, g, ng, M);
        }
    }
    tile_release();
}

/* ---- attention on bf16 tiles ----
 * S = Q K^T and T = P V of attention.c's steps (tile_steps), for a block of 16 queries, with
 * every float split into bf16 parts: x = h + m + l exactly (h = bf16(x), m = bf16(x - h),
 * l = x - h - m, each difference exact in f32), or into two, x ~ h + m (to 2^-16).
 * Scores feed exp(), which turns their absolute error into a relative one, so they get
 * the f32 dot's precision: six products into one f32 tile,
 *   q.k ~ qh.kh + qh.km + qm.kh + qh.kl + ql.kh + qm.km
 * (left out: terms below 2^-24 of the product). P V takes two-part splits and three
 * products, ph.vh + ph.vm + pm.vh (to about 2^-16: a relative error of the output, far
 * below what a cache of f16 values, llama.cpp's default, gives).
 * Keys and values come from one kv head's cache, packed per batch by amx_kv_pack:
 *   keys    per 16 cells (B tiles for S): [hd / 2 dim pairs][16 cells][2], planes h, m, l
 *   values  per 32 cells (B tiles for T): [hd / 16][16 cell pairs][16 dims][2], planes h, m
 * Queries and probabilities are the A tiles, split row-major: planes of [16 rows][n]. */

/* Planes of the packed keys and values, in that order. */
enum { KEY_PARTS = 3, VALUE_PARTS = 2 };

static size_t kv_plane(int hd, int len) { return (size_t)(len + 31) / 32 * 32 * (size_t)hd; }

static size_t amx_kv_size(int hd, int len) { return kv_plane(hd, len) * (KEY_PARTS + VALUE_PARTS) * sizeof(uint16_t); }

static void amx_kv_pack(const float *k, size_t k_stride, const float *v, size_t v_stride, int hd, int len,
                 int b0, int b1, void *dst) {
    size_t plane = kv_plane(hd, len);
    uint16_t *keys = dst, *values = keys + KEY_PARTS * plane;
    _Alignas(64) float t[32];
    _Alignas(64) uint16_t part[KEY_PARTS][32];
    for (int b = b0; b < b1; b++) {
        for (int c = 32 * b; c < 32 * b + 32; c++) { /* keys: cell c's dims pair up */
            uint16_t *o = keys + (size_t)(c / 16) * 16 * hd + (size_t)(c % 16) * 2;
            for (int d = 0; d < hd; d += 16) {
                if (c < len) split16(k + (size_t)(c - 32 * b0) * k_stride + d, KEY_PARTS, part[0], 32);
                else memset(part, 0, sizeof part);
                for (int p = 0; p < KEY_PARTS; p++)
                    for (int i = 0; i < 16; i++) o[p * plane + (size_t)((d + i) / 2) * 32 + (size_t)((d + i) % 2)] = part[p][i];
            }
        }
        int n = len - 32 * b < 32 ? len - 32 * b : 32;
        for (int d = 0; d < hd; d++) { /* values: dim d of cells 32b .. 32b + 31 pair up */
            memcpy(t, v + (size_t)d * v_stride + 32 * (size_t)(b - b0), (size_t)n * sizeof(float));
            memset(t + n, 0, (size_t)(32 - n) * sizeof(float));
            split16(t, VALUE_PARTS, part[0], 32);
            split16(t + 16, VALUE_PARTS, part[0] + 16, 32);
            uint16_t *o = values + ((size_t)b * (hd / 16) + (size_t)(d / 16)) * 512 + (size_t)(d % 16) * 2;
            for (int p = 0; p < VALUE_PARTS; p++)
                for (int i = 0; i < 32; i++) o[p * plane + (size_t)(i / 2) * 32 + (size_t)(i % 2)] = part[p][i];
        }
    }
}

static void amx_split_rows(const float *x, size_t stride, int r0, int r1, int n, int parts, uint16_t *dst) {
    size_t plane = 16 * (size_t)n;
    for (int r = 0; r < 16; r++) {
        if (r < r0 || r > r1) {
            for (int p = 0; p < parts; p++) memset(dst + p * plane + (size_t)r * n, 0, (size_t)n * 2);
            continue;
        }
        for (int i = 0; i < n; i += 16) split16(x + (size_t)r * stride + i, parts, dst + (size_t)r * n + i, plane);
    }
}

/* exp(x) for x <= 0 (Cephes' expf: 2^n times a degree-7 polynomial of the remainder, within
 * 2 ulp of libm's), 0 where the result would fall below FLT_MIN. */
static INLINE __m512 exp_nonpositive(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512 e = _mm512_scalef_ps(y, n);
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(e, _mm512_set1_ps(FLT_MIN), _CMP_GE_OQ), e);
}

static float amx_softmax_row(const float *s, int n, int a, int b, float *m, uint16_t *p) {
    __m512 mx = _mm512_set1_ps(*m);
    for (int k = a; k <= b; k += 16) {
        __mmask16 in = (__mmask16)(b - k >= 15 ? 0xffff : (1u << (b - k + 1)) - 1);
        mx = _mm512_mask_max_ps(mx, in, mx, _mm512_maskz_loadu_ps(in, s + k));
    }
    float top = _mm512_reduce_max_ps(mx);
    *m = top;
    __m512 sum = _mm512_setzero_ps(), vtop = _mm512_set1_ps(top);
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i va = _mm512_set1_epi32(a), vb = _mm512_set1_epi32(b);
    _Alignas(64) float e[16];
    for (int k = 0; k < n; k += 16, idx = _mm512_add_epi32(idx, _mm512_set1_epi32(16))) {
        __mmask16 in = _mm512_cmpge_epi32_mask(idx, va) & _mm512_cmple_epi32_mask(idx, vb);
        __m512 x = _mm512_maskz_sub_ps(in, _mm512_loadu_ps(s + k), vtop);
        __m512 v = _mm512_maskz_mov_ps(in, exp_nonpositive(x));
        sum = _mm512_add_ps(sum, v);
        _mm512_store_ps(e, v);
        split16(e, 2, p + k, 16 * (size_t)n);
    }
    return _mm512_reduce_add_ps(sum);
}

static void amx_attn_scores(float *S, size_t s_stride, const void *qt, int hd, const void *kv, int len, int c0,
                            int n) {
    const uint16_t *q = qt;
    size_t plane = kv_plane(hd, len), qplane = 16 * (size_t)hd, a_stride = (size_t)hd * 2;
    const uint16_t *keys = kv;
    configure_tiles(64, 16);
    for (int j = 0; j < n; j += 32) { /* cells c0 + j .. + 31: two blocks of 16 keys, C6 and C7 */
        tile_zero(6);
        tile_zero(7);
        for (int d = 0; d < hd; d += 32) {
            tile_load(0, q + d, a_stride);              /* qh */
            tile_load(1, q + qplane + d, a_stride);     /* qm */
            tile_load(2, q + 2 * qplane + d, a_stride); /* ql */
            for (int i = 0; i < 2; i++) {
                const uint16_t *kb = keys + (size_t)((c0 + j) / 16 + i) * 16 * (size_t)hd + (size_t)d * 16;
                tile_load(3, kb, 64);             /* kh */
                tile_load(4, kb + plane, 64);     /* km */
                tile_load(5, kb + 2 * plane, 64); /* kl */
                if (i == 0) SPLIT3_PRODUCTS(6, 0, 1, 2, 3, 4, 5);
                else SPLIT3_PRODUCTS(7, 0, 1, 2, 3, 4, 5);
            }
        }
        tile_store(6, S + j, s_stride * sizeof(float));
        tile_store(7, S + j + 16, s_stride * sizeof(float));
    }
    tile_release();
}

static void amx_attn_values(float *T, size_t t_stride, const void *pt, int n, const void *kv, int len, int hd,
                            int c0) {
    const uint16_t *p = pt;
    size_t plane = kv_plane(hd, len), pplane = 16 * (size_t)n, a_stride = (size_t)n * 2;
    const uint16_t *values = (const uint16_t *)kv + KEY_PARTS * plane;
    configure_tiles(64, 16);
    for (int d = 0; d < hd; d += 32) { /* dims d .. d + 31: two blocks of 16, C6 and C7 */
        tile_zero(6);
        tile_zero(7);
        for (int j = 0; j < n; j += 32) {
            const uint16_t *vb = values + ((size_t)((c0 + j) / 32) * (size_t)(hd / 16) + (size_t)(d / 16)) * 512;
            tile_load(0, p + j, a_stride);          /* ph */
            tile_load(1, p + pplane + j, a_stride); /* pm */
            tile_load(2, vb, 64);                   /* vh, dims d .. */
            tile_load(3, vb + plane, 64);           /* vm */
            tile_load(4, vb + 512, 64);             /* vh, dims d + 16 .. */
            tile_load(5, vb + 512 + plane, 64);     /* vm */
            tile_dpbf16ps(6, 0, 2);
            tile_dpbf16ps(6, 0, 3);
            tile_dpbf16ps(6, 1, 2);
            tile_dpbf16ps(7, 0, 4);
            tile_dpbf16ps(7, 0, 5);
            tile_dpbf16ps(7, 1, 4);
        }
        tile_store(6, T + d, t_stride * sizeof(float));
        tile_store(7, T + d + 16, t_stride * sizeof(float));
    }
    tile_release();
}

static void amx_rows(uint32_t type, float *y, int64_t N, const void *w, size_t w_row, int64_t K,
              int64_t n0, int nrows, const void *act, int64_t M, void *scratch) {
    uint8_t *mem = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    if (type == GGML_TYPE_BF16) {
        bf16_rows(y, N, w, w_row, K, n0, nrows, act, M, mem);
        return;
    }
    if (type == GGML_TYPE_F16) {
        f16_rows(y, N, w, w_row, K, n0, nrows, act, M, mem);
        return;
    }
    if (type == GGML_TYPE_F32) {
        f32_rows(y, N, w, w_row, K, n0, nrows, act, M, mem);
        return;
    }
    const amx_format *f = format_of(type);
    if (!f) return;
    if (f->unpack) int8_rows(f, y, N, w, NULL, w_row, K, n0, nrows, act, M, mem, NULL);
    else kd_rows(type, y, N, w, NULL, w_row, K, n0, nrows, act, M, mem, NULL);
}

static bool amx_gated_supports(uint32_t type) { return format_of(type) != NULL; }

static bool amx_gated_q8_supports(uint32_t type, uint32_t down_type) {
    const amx_format *f = format_of(type), *d = format_of(down_type);
    return f && f->unpack && d && d->fix == FIX_Q8_0;
}

static bool amx_q8_k_input(uint32_t down_type) {
    const amx_format *d = format_of(down_type);
    return d && (d->fix == FIX_K || d->fix == FIX_K_MIN);
}

static void amx_gated_rows_q8(uint32_t type, void *groups, int64_t N, const void *gate, const void *up,
                       size_t w_row, int64_t K, int64_t n0, const void *act, int64_t M, void *scratch,
                       geglu_fn geglu) {
    uint8_t *mem = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const amx_format *f = format_of(type);
    if (!f || !f->unpack) return;
    int8_gated_q8(f, groups, N, gate, up, w_row, K, n0, act, M, mem, geglu);
}

static void amx_gated_rows(uint32_t type, float *y, int64_t N, const void *gate, const void *up,
                    size_t w_row, int64_t K, int64_t n0, int nrows, const void *act, int64_t M,
                    void *scratch, geglu_fn geglu) {
    uint8_t *mem = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const amx_format *f = format_of(type);
    if (!f) return;
    if (f->unpack) int8_rows(f, y, N, gate, up, w_row, K, n0, nrows, act, M, mem, geglu);
    else kd_rows(type, y, N, gate, up, w_row, K, n0, nrows, act, M, mem, geglu);
}

/* ---- attention steps in the tile set's terms (dispatch.h) ----
 * A block's queries: three bf16 parts (planes of 16 rows x hd); its probabilities: two
 * parts (planes of 16 rows x n cells), row r at r * n. */

static bool amx_attn_supports(int head_dim) { return head_dim % 32 == 0; }
static size_t amx_query_size(int hd) { return (size_t)3 * AMX_TOKENS * (size_t)hd * sizeof(uint16_t); }
static size_t amx_prob_size(int n) { return (size_t)2 * AMX_TOKENS * (size_t)n * sizeof(uint16_t); }

static void amx_attn_queries(const float *q, size_t stride, int nq, int hd, void *qt) {
    amx_split_rows(q, stride, 0, nq - 1, hd, 3, qt);
}

static float amx_attn_probs(const float *s, int n, int a, int b, float *m, void *pt, int row) {
    uint16_t *p = (uint16_t *)pt + (size_t)row * n;
    if (a > b) { /* a row that sees none of these cells */
        memset(p, 0, (size_t)n * sizeof(uint16_t));
        memset(p + (size_t)AMX_TOKENS * n, 0, (size_t)n * sizeof(uint16_t));
        return 0.0f;
    }
    return amx_softmax_row(s, n, a, b, m, p);
}

/* ---- the installer: one per build (amx_emulated.c: the emulated tiles) ---- */

static void install(kernel_set *k, bool bf16) {
    quantize_q8_k = k->type[GGML_TYPE_Q8_K].from_float;
    tile_kernels *t = &k->tile;
    t->group = AMX_TOKENS;
    t->panel = AMX_ROWS;
    t->min_batch = 16;
    t->supports = bf16 ? amx_supports_bf16 : amx_supports_int8;
    t->layout = amx_layout;
    t->group_size = group_bytes;
    t->pack = amx_pack_act;
    t->scratch_size = amx_scratch_size;
    t->rows = amx_rows;
    t->gated_supports = amx_gated_supports;
    t->gated_rows = amx_gated_rows;
    t->gated_q8_supports = amx_gated_q8_supports;
    t->gated_rows_q8 = amx_gated_rows_q8;
    t->q8_k_input = amx_q8_k_input;
    t->put_q8_k = amx_put_q8_k;
    /* The tiles read the file's layout: weights they take stay in it (the AVX-512 layer's
     * panels would leave prefill to the vector kernels). */
    for (uint32_t type = 0; type < GGML_TYPE_COUNT; type++)
        if (format_of(type)) k->repack_to[type] = 0;
    if (!bf16) return; /* attention takes bf16 tiles */
    t->kv_block = 32;
    t->attn_supports = amx_attn_supports;
    t->kv_size = amx_kv_size;
    t->kv_pack = amx_kv_pack;
    t->query_size = amx_query_size;
    t->prob_size = amx_prob_size;
    t->attn_queries = amx_attn_queries;
    t->attn_scores = amx_attn_scores;
    t->attn_probs = amx_attn_probs;
    t->attn_values = amx_attn_values;
}

#if defined(AMX_EMULATED)
void kernels_amx_emulated_install(kernel_set *k) { install(k, true); }
#else
void kernels_amx_install(kernel_set *k, bool bf16) { install(k, bf16); }
#endif

#else
typedef int kernels_amx_needs_x86_64; /* an empty translation unit is not ISO C */
#endif
