/* test_quants.c - the type table: half/bfloat conversions, bit-exact dequantization against
 * ggml's own output (fixtures/quants), reference quantizers, and the scalar row dots.
 *
 * How the row dots are checked: a kernel must compute exactly the sum over blocks of
 * (weight scale * activation scale) * integer dot (doc/formats.md#row-dot-products). So
 *  - with unit scales its result must equal the integer dot of the codes, exactly;
 *  - in general it must equal the double-precision dot of the two dequantized rows up to
 *    float rounding (f32 block products and sequential f32 accumulation: bounded by
 *    ~n_blocks * 2^-24 of sum |w*a|, measured ~1e-7; we allow 1e-5);
 *  - against the unquantized f32 activations it may differ by the activation quantization
 *    error only: |err| <= ||w|| * ||x - a|| (Cauchy-Schwarz), and ||x - a|| / ||x|| is about
 *    0.5% for Q8_0 and 0.7% for Q8_K on Gaussian data (doc/formats.md#typical-error); we
 *    allow 2e-2 * ||w|| * ||x||. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "gguf.h"
#include "kernels/quant.h"
#include "rng.h"
#include "util.h"

/* ---------------------------------------------------------------- helpers */

static int rng_int(int lo, int hi) { return lo + (int)(rng_u64() % (uint64_t)(hi - lo + 1)); }

static void fill_gauss(float *x, int64_t n, double sigma) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(sigma * rng_gauss());
}

static void fill_bytes(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_u64();
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Equal bit patterns, or both NaN (payloads may differ between decoders). */
static bool same_float(float a, float b) {
    if (isnan(a) && isnan(b)) return true;
    return f32_bits(a) == f32_bits(b);
}

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put_f32(uint8_t *p, float f) { memcpy(p, &f, 4); }

/* The weight types the engine multiplies, with their expected block geometry and pairing. */
static const struct {
    uint32_t type;
    const char *name;
    int blck;
    size_t bytes;
    uint32_t act;
} weight_types[] = {
    {GGML_TYPE_F32, "F32", 1, 4, GGML_TYPE_F32},
    {GGML_TYPE_F16, "F16", 1, 2, GGML_TYPE_F32},
    {GGML_TYPE_BF16, "BF16", 1, 2, GGML_TYPE_F32},
    {GGML_TYPE_Q4_0, "Q4_0", 32, 18, GGML_TYPE_Q8_0},
    {GGML_TYPE_Q4_1, "Q4_1", 32, 20, GGML_TYPE_Q8_1},
    {GGML_TYPE_Q5_0, "Q5_0", 32, 22, GGML_TYPE_Q8_0},
    {GGML_TYPE_Q5_1, "Q5_1", 32, 24, GGML_TYPE_Q8_1},
    {GGML_TYPE_Q8_0, "Q8_0", 32, 34, GGML_TYPE_Q8_0},
    {GGML_TYPE_Q2_K, "Q2_K", 256, 84, GGML_TYPE_Q8_K},
    {GGML_TYPE_Q3_K, "Q3_K", 256, 110, GGML_TYPE_Q8_K},
    {GGML_TYPE_Q4_K, "Q4_K", 256, 144, GGML_TYPE_Q8_K},
    {GGML_TYPE_Q5_K, "Q5_K", 256, 176, GGML_TYPE_Q8_K},
    {GGML_TYPE_Q6_K, "Q6_K", 256, 210, GGML_TYPE_Q8_K},
    {GGML_TYPE_IQ4_NL, "IQ4_NL", 32, 18, GGML_TYPE_Q8_0},
    {GGML_TYPE_IQ4_XS, "IQ4_XS", 256, 136, GGML_TYPE_Q8_K},
    {GGML_TYPE_MXFP4, "MXFP4", 32, 17, GGML_TYPE_Q8_0},
};
#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

/* Byte offsets of the f16 scale fields of each block format (-1: none). `d` is the main
 * scale, `dm` the second one (Q4_1/Q5_1 m, K-quant dmin). Used to build blocks with
 * "sane" or unit scales from random bytes. */
static void scale_offsets(uint32_t type, int *d, int *dm) {
    *d = -1;
    *dm = -1;
    switch (type) {
    case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0: case GGML_TYPE_IQ4_NL:
    case GGML_TYPE_IQ4_XS: case GGML_TYPE_Q8_1:
        *d = 0; break;
    case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1: case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K:
        *d = 0; *dm = 2; break;
    case GGML_TYPE_Q2_K: *d = 80; *dm = 82; break;
    case GGML_TYPE_Q3_K: *d = 108; break;
    case GGML_TYPE_Q6_K: *d = 208; break;
    default: break;
    }
}

/* A weight row of n elements: our reference quantizer applied to Gaussian data, or (when
 * asked, or without a quantizer) random bytes with the scale fields set to plausible values,
 * which reach code and sub-scale combinations a quantizer never writes. */
static void make_weight_row(uint32_t type, uint8_t *w, int64_t n, bool random_bytes) {
    const type_traits *t = quant_traits(type);
    size_t bytes = quant_row_size(type, n);
    if (t->from_float && (!random_bytes || t->blck_size == 1)) {
        float *x = xmalloc((size_t)n * sizeof(float));
        fill_gauss(x, n, 1.0);
        t->from_float(x, w, n);
        free(x);
        return;
    }
    fill_bytes(w, bytes);
    int od, odm;
    scale_offsets(type, &od, &odm);
    for (size_t b = 0; b < bytes / t->type_size; b++) {
        uint8_t *blk = w + b * t->type_size;
        if (od >= 0) put_u16(blk + od, fp32_to_fp16((float)(0.002 + 0.05 * rng_uniform())));
        if (odm >= 0) put_u16(blk + odm, fp32_to_fp16((float)(0.002 + 0.05 * rng_uniform())));
        if (type == GGML_TYPE_MXFP4) blk[0] = (uint8_t)rng_int(118, 130); /* 2^-10 .. 2^2 */
    }
}

/* Activation row in format `act` (F32 means plain floats) for the f32 values x. */
static void *make_act_row(uint32_t act, const float *x, int64_t n) {
    void *a = xmalloc(quant_row_size(act, n));
    quantize_row(act, x, a, n);
    return a;
}

static float *dequant_alloc(uint32_t type, const void *src, int64_t n) {
    float *out = xmalloc((size_t)n * sizeof(float));
    dequant_row(type, src, out, n);
    return out;
}

/* The row dot a kernel must compute, in double, from the dequantized weights wf and
 * activations af (af NULL: the activations are the f32 values in a). *mag receives the sum
 * of |terms|, the scale of the kernel's float rounding. With Q8_1 activations the min term
 * of a block is m * s, where s = f16(d * sum(q)) is stored in the activation block, not the
 * sum of its dequantized values; it is taken from there. */
static double reference_dot(uint32_t type, const uint8_t *w, const float *wf, uint32_t act,
                            const void *a, const float *af, int64_t n, double *mag) {
    const float *ax = af ? af : (const float *)a;
    double dot = 0, m_abs = 0;
    if (act != GGML_TYPE_Q8_1) {
        for (int64_t k = 0; k < n; k++) {
            dot += (double)wf[k] * ax[k];
            m_abs += fabs((double)wf[k] * ax[k]);
        }
        *mag = m_abs;
        return dot;
    }
    size_t wbs = quant_traits(type)->type_size;
    for (int64_t b = 0; b < n / 32; b++) {
        double m = fp16_to_fp32(rd_u16(w + b * wbs + 2));
        double s = fp16_to_fp32(rd_u16((const uint8_t *)a + b * 36 + 2));
        for (int64_t k = 32 * b; k < 32 * b + 32; k++) {
            dot += ((double)wf[k] - m) * ax[k];
            m_abs += fabs(((double)wf[k] - m) * ax[k]);
        }
        dot += m * s;
        m_abs += fabs(m * s);
    }
    *mag = m_abs;
    return dot;
}

/* ---------------------------------------------------------------- the table */

static void test_table(void) {
    TEST_BEGIN("quants: type table rows of the supported weight types");
    for (size_t i = 0; i < N_WEIGHT_TYPES; i++) {
        const type_traits *t = quant_traits(weight_types[i].type);
        const type_traits *ts = quant_traits(weight_types[i].type);
        EXPECT(t && ts, "%s: no row", weight_types[i].name);
        if (!t || !ts) continue;
        EXPECT(strcmp(t->name, weight_types[i].name) == 0, "name %s", t->name);
        EXPECT(t->blck_size == weight_types[i].blck && t->type_size == weight_types[i].bytes,
               "%s: block %d x %zu bytes", t->name, t->blck_size, t->type_size);
        EXPECT(t->supported && t->to_float && t->vec_dot, "%s: not fully supported", t->name);
        EXPECT(t->vec_dot_type == weight_types[i].act, "%s: vec_dot_type %s", t->name,
               quant_type_name(t->vec_dot_type));
        EXPECT(ts->vec_dot && ts->to_float == t->to_float && ts->blck_size == t->blck_size,
               "%s: scalar row differs", t->name);
        const type_traits *a = quant_traits(t->vec_dot_type);
        EXPECT(a->to_float && a->from_float, "%s: activation format %s cannot be produced",
               t->name, a->name);
    }
    EXPECT(quant_traits(TYPE_COUNT) == NULL, "id past the table has a row");
    EXPECT(quant_traits(TYPE_Q4_0_R16)->panel == 16 && !quant_traits(TYPE_Q4_0_R16)->supported &&
               quant_traits(TYPE_Q8_0S)->from_float && !quant_traits(TYPE_Q8_0S)->supported,
           "our own ids: a panel layout and its activation format, neither a file's weight type");
    EXPECT(quant_traits(1000) == NULL, "id past the table has a scalar row");
    EXPECT(strcmp(quant_type_name(99), "type 99") == 0, "unknown name %s", quant_type_name(99));
    EXPECT(quant_traits(4)->blck_size == 0 && quant_row_size(4, 32) == 0, "removed id 4");
    EXPECT(quant_row_size(GGML_TYPE_Q4_K, 512) == 288, "Q4_K row of 512");
    EXPECT(quant_row_size(GGML_TYPE_Q8_K, 512) == 584, "Q8_K row of 512");
    EXPECT(!quant_traits(GGML_TYPE_Q8_K)->supported && !quant_traits(GGML_TYPE_Q8_1)->supported,
           "activation-only formats must not be weight types");
    EXPECT(!quant_traits(GGML_TYPE_IQ2_XXS)->supported &&
               !quant_traits(GGML_TYPE_IQ2_XXS)->to_float, "IQ2_XXS claims support");
    TEST_END();
}

/* ---------------------------------------------------------------- f16 / bf16 */

/* binary16 -> double computed from the definition (not by bit manipulation). */
static double fp16_reference(uint16_t h) {
    int sign = h >> 15, E = (h >> 10) & 31, M = h & 1023;
    double v;
    if (E == 0) v = ldexp((double)M, -24);
    else if (E == 31) v = M ? NAN : INFINITY;
    else v = ldexp((double)(1024 + M), E - 25);
    return sign ? -v : v;
}

static void test_fp16(void) {
    TEST_BEGIN("quants: f16 decode of all 65536 patterns is exact");
    for (uint32_t h = 0; h < 65536; h++) {
        float got = fp16_to_fp32((uint16_t)h);
        double ref = fp16_reference((uint16_t)h);
        if (isnan(ref)) EXPECT(isnan(got), "0x%04x: %g, want NaN", h, got);
        else EXPECT(f32_bits(got) == f32_bits((float)ref), "0x%04x: %a, want %a", h, got, ref);
    }
    TEST_END();

    TEST_BEGIN("quants: f16 encode(decode(h)) == h for every non-NaN h");
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = fp32_to_fp16(fp16_to_fp32((uint16_t)h));
        if (((h >> 10) & 31) == 31 && (h & 1023)) {
            EXPECT((back & 0x7c00) == 0x7c00 && (back & 0x3ff), "NaN 0x%04x -> 0x%04x", h, back);
        } else {
            EXPECT(back == h, "0x%04x -> 0x%04x", h, back);
        }
    }
    TEST_END();

    /* Every interval between consecutive halves: the midpoint goes to the even neighbour, a
     * float just below / above it to the lower / upper one. The top interval's upper end is
     * 65536 (= Inf), so 65520 rounds to Inf; below half the smallest subnormal gives 0. */
    TEST_BEGIN("quants: f16 encode rounds to nearest, ties to even, both signs");
    for (uint32_t h = 0; h < 0x7c00; h++) {
        double lo = fp16_reference((uint16_t)h);
        double hi = h + 1 == 0x7c00 ? 65536.0 : fp16_reference((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2); /* 12 significant bits: exact in f32 */
        EXPECT((double)mid == (lo + hi) / 2, "midpoint of 0x%04x not exact", h);
        for (int s = 0; s < 2; s++) {
            uint16_t sg = s ? 0x8000 : 0;
            float m = s ? -mid : mid;
            uint16_t even = (uint16_t)(((h & 1) ? h + 1 : h) | sg);
            uint16_t below = fp32_to_fp16(nextafterf(m, 0.0f));
            uint16_t above = fp32_to_fp16(nextafterf(m, s ? -INFINITY : INFINITY));
            EXPECT(fp32_to_fp16(m) == even, "tie %a -> 0x%04x, want 0x%04x", m, fp32_to_fp16(m), even);
            EXPECT(below == (uint16_t)(h | sg), "below tie %a -> 0x%04x", m, below);
            EXPECT(above == (uint16_t)((h + 1) | sg), "above tie %a -> 0x%04x", m, above);
        }
    }
    EXPECT(fp32_to_fp16(1e9f) == 0x7c00 && fp32_to_fp16(-INFINITY) == 0xfc00, "overflow");
    EXPECT(fp32_to_fp16(1e-30f) == 0 && fp32_to_fp16(-1e-30f) == 0x8000, "underflow to signed 0");
    uint16_t qnan = fp32_to_fp16(NAN);
    EXPECT((qnan & 0x7c00) == 0x7c00 && (qnan & 0x3ff), "NaN -> 0x%04x", qnan);
    TEST_END();

    TEST_BEGIN("quants: bf16 encode rounds to nearest even and quiets NaN");
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 7) & 0xff) == 0xff) continue; /* Inf / NaN handled below */
        uint32_t u = h << 16;
        EXPECT(fp32_to_bf16(bits_f32(u)) == h, "exact 0x%04x", h);
        EXPECT(fp32_to_bf16(bits_f32(u | 0x7fff)) == h, "below tie 0x%04x", h);
        EXPECT(fp32_to_bf16(bits_f32(u | 0x8001)) == h + 1, "above tie 0x%04x", h);
        uint32_t even = (h & 1) ? h + 1 : h;
        EXPECT(fp32_to_bf16(bits_f32(u | 0x8000)) == even, "tie 0x%04x", h);
    }
    EXPECT(fp32_to_bf16(INFINITY) == 0x7f80 && fp32_to_bf16(-INFINITY) == 0xff80, "Inf");
    EXPECT(fp32_to_bf16(bits_f32(0x7f7fffff)) == 0x7f80, "max float rounds to Inf");
    EXPECT(fp32_to_bf16(bits_f32(0x7f800001)) == 0x7fc0, "signalling NaN -> 0x%04x",
           fp32_to_bf16(bits_f32(0x7f800001)));
    EXPECT(fp32_to_bf16(bits_f32(0xffc12345)) == 0xffc1, "NaN keeps sign and top payload");
    EXPECT(fp32_to_bf16(bits_f32(0x00018000)) == 0x0002, "subnormal tie to even");
    /* the BF16 row of the table uses the same rounding */
    float v[2] = {bits_f32(0x3f808000), bits_f32(0x3f818000)};
    uint16_t out[2];
    quantize_row(GGML_TYPE_BF16, v, out, 2);
    EXPECT(out[0] == 0x3f80 && out[1] == 0x3f82, "BF16 from_float 0x%04x 0x%04x", out[0], out[1]);
    TEST_END();
}

/* ---------------------------------------------------------------- fixtures */

#define FIX_COLS 512
#define FIX_ROWS 8

/* Opens quants/NAME.gguf and returns its tensor "t" (NULL and a failed check otherwise). */
static const gguf_tensor *open_fixture(const char *name, uint32_t type, gguf_file **out) {
    char rel[64], err[GEMMA_ERR_LEN];
    snprintf(rel, sizeof rel, "quants/%s.gguf", name);
    gguf_file *f = gguf_open(fixture_path(rel), err);
    *out = f;
    EXPECT(f != NULL, "%s", err);
    if (!f) return NULL;
    const gguf_tensor *t = gguf_find_tensor(f, "t");
    EXPECT(t != NULL, "%s: no tensor 't'", rel);
    if (!t) return NULL;
    EXPECT(t->type == type && t->ne[0] == FIX_COLS && t->ne[1] == FIX_ROWS &&
               t->nbytes == quant_row_size(type, FIX_COLS) * FIX_ROWS,
           "%s: type %s, %lld x %lld, %llu bytes", rel, quant_type_name(t->type),
           (long long)t->ne[0], (long long)t->ne[1], (unsigned long long)t->nbytes);
    if (t->type != type || t->nbytes != quant_row_size(type, FIX_COLS) * FIX_ROWS) return NULL;
    return t;
}

static void test_fixtures(void) {
    for (size_t i = 0; i < N_WEIGHT_TYPES; i++) {
        uint32_t type = weight_types[i].type;
        const char *name = weight_types[i].name;
        if (type == GGML_TYPE_F32) continue; /* no fixture: F32 is a copy */
        size_t row_bytes = quant_row_size(type, FIX_COLS);

        TEST_BEGIN("quants: %s dequantizes the fixture bit for bit", name);
        gguf_file *f;
        const gguf_tensor *t = open_fixture(name, type, &f);
        char rel[64];
        snprintf(rel, sizeof rel, "quants/%s.f32", name);
        size_t len = 0;
        char *want = read_file(fixture_path(rel), &len);
        EXPECT(want && len == FIX_COLS * FIX_ROWS * sizeof(float), "%s: %zu bytes", rel, len);
        if (t && want && len == FIX_COLS * FIX_ROWS * sizeof(float)) {
            float got[FIX_COLS];
            int bad = 0;
            for (int r = 0; r < FIX_ROWS; r++) {
                dequant_row(type, (const uint8_t *)t->data + r * row_bytes, got, FIX_COLS);
                for (int c = 0; c < FIX_COLS; c++) {
                    float w;
                    memcpy(&w, want + 4 * (r * FIX_COLS + c), 4);
                    if (!same_float(got[c], w) && bad++ < 5)
                        EXPECT(0, "row %d col %d: %a, want %a", r, c, got[c], w);
                }
            }
            EXPECT(bad == 0, "%d values differ", bad);
        }
        free(want);
        TEST_END();

        /* The fixture rows are real ggml output (negative scales, subnormal scales, zero
         * blocks, values near the f16 limit): the kernel must agree with the dequantized
         * dot on them too. */
        TEST_BEGIN("quants: %s scalar vec_dot on the fixture rows", name);
        if (t) {
            const type_traits *tt = quant_traits(type);
            float x[FIX_COLS], wf[FIX_COLS];
            fill_gauss(x, FIX_COLS, 1.0);
            void *a = make_act_row(tt->vec_dot_type, x, FIX_COLS);
            float *af = tt->vec_dot_type == GGML_TYPE_F32 ? NULL
                                                          : dequant_alloc(tt->vec_dot_type, a, FIX_COLS);
            for (int r = 0; r < FIX_ROWS; r++) {
                const uint8_t *w = (const uint8_t *)t->data + r * row_bytes;
                dequant_row(type, w, wf, FIX_COLS);
                double mag;
                double ref = reference_dot(type, w, wf, tt->vec_dot_type, a, af, FIX_COLS, &mag);
                float got;
                tt->vec_dot(FIX_COLS, &got, w, a);
                EXPECT(fabs(got - ref) <= 1e-5 * mag, "row %d: %.9g, want %.9g (sum|.| %g)", r,
                       got, ref, mag);
            }
            free(af);
            free(a);
        }
        TEST_END();
        gguf_close(f);
    }

    /* Our reference quantizers must write what llama-quantize wrote: values that are already
     * on a block's grid (the fixture's own dequantized values) quantize back to the same
     * bytes. (Not a property of the K-quants, whose search may settle on another scale for
     * such values; they are checked against golden hashes in test_golden_quantizers.) */
    static const uint32_t requant[] = {GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0,
                                       GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                                       GGML_TYPE_Q8_0, GGML_TYPE_MXFP4};
    for (size_t i = 0; i < sizeof requant / sizeof requant[0]; i++) {
        uint32_t type = requant[i];
        TEST_BEGIN("quants: %s quantizer reproduces the fixture's bytes", quant_type_name(type));
        gguf_file *f;
        const gguf_tensor *t = open_fixture(quant_type_name(type), type, &f);
        if (t) {
            size_t row_bytes = quant_row_size(type, FIX_COLS);
            float vals[FIX_COLS];
            uint8_t *back = xmalloc(row_bytes);
            for (int r = 0; r < FIX_ROWS; r++) {
                const uint8_t *orig = (const uint8_t *)t->data + r * row_bytes;
                dequant_row(type, orig, vals, FIX_COLS);
                quantize_row(type, vals, back, FIX_COLS);
                size_t bad = 0, first = 0;
                for (size_t k = 0; k < row_bytes; k++)
                    if (back[k] != orig[k] && bad++ == 0) first = k;
                EXPECT(bad == 0, "row %d: %zu bytes differ, first at %zu (0x%02x, want 0x%02x)", r,
                       bad, first, back[first], orig[first]);
            }
            free(back);
        }
        gguf_close(f);
        TEST_END();
    }
}

/* ---------------------------------------------------------------- row dots */

static void test_vec_dot_random(void) {
    const int64_t n = 4096;
    for (size_t i = 0; i < N_WEIGHT_TYPES; i++) {
        uint32_t type = weight_types[i].type;
        const type_traits *t = quant_traits(type);
        TEST_BEGIN("quants: %s x %s vec_dot on random rows of %lld", t->name,
                   quant_type_name(t->vec_dot_type), (long long)n);
        rng_seed(100 + type);
        uint8_t *w = xmalloc(quant_row_size(type, n));
        float *x = xmalloc((size_t)n * sizeof(float));
        /* trials: quantized weights, random-byte weights, activations aligned with the
         * weights (so the dot is as large as |w||x| allows), tiny activations (f16-subnormal
         * scales) */
        for (int trial = 0; trial < 4; trial++) {
            make_weight_row(type, w, n, trial == 1);
            float *wf = dequant_alloc(type, w, n);
            fill_gauss(x, n, trial == 3 ? 1e-3 : 1.0);
            if (trial == 2) {
                double ww = 0;
                for (int64_t k = 0; k < n; k++) ww += (double)wf[k] * wf[k];
                for (int64_t k = 0; k < n; k++) x[k] = (float)(wf[k] / sqrt(ww / n) + 0.3 * x[k]);
            }
            void *a = make_act_row(t->vec_dot_type, x, n);
            float *af = t->vec_dot_type == GGML_TYPE_F32 ? NULL : dequant_alloc(t->vec_dot_type, a, n);
            double mag_a, ref_x = 0, ww = 0, xx = 0;
            double ref_a = reference_dot(type, w, wf, t->vec_dot_type, a, af, n, &mag_a);
            for (int64_t k = 0; k < n; k++) {
                ref_x += (double)wf[k] * x[k];
                ww += (double)wf[k] * wf[k];
                xx += (double)x[k] * x[k];
            }
            float got;
            t->vec_dot((int)n, &got, w, a);
            double tol_x = t->vec_dot_type == GGML_TYPE_F32 ? 1e-5 : 2e-2;
            EXPECT(fabs(got - ref_a) <= 1e-5 * mag_a, "trial %d: %.9g vs dequantized dot %.9g "
                   "(rel %.3g of sum|w*a|)", trial, got, ref_a, fabs(got - ref_a) / mag_a);
            double norm = sqrt(ww * xx);
            EXPECT(fabs(got - ref_x) <= tol_x * norm, "trial %d: %.9g vs f32 dot %.9g (rel %.3g "
                   "of |w||x|)", trial, got, ref_x, fabs(got - ref_x) / norm);
            free(a);
            free(wf);
            free(af);
        }
        free(w);
        free(x);
        TEST_END();
    }
}

/* Sets the float scales of every block of a random weight row to 1 (sub-block integer
 * scales stay random), so the dequantized values are the exact integers the kernel's integer
 * path multiplies. */
static void set_unit_scales(uint32_t type, uint8_t *w, int64_t n) {
    const type_traits *t = quant_traits(type);
    size_t nb = quant_row_size(type, n) / t->type_size;
    int od, odm;
    scale_offsets(type, &od, &odm);
    for (size_t b = 0; b < nb; b++) {
        uint8_t *blk = w + b * t->type_size;
        if (od >= 0) put_u16(blk + od, 0x3c00);
        if (odm >= 0) put_u16(blk + odm, 0x3c00);
        if (type == GGML_TYPE_MXFP4) blk[0] = 128;   /* 2^(128-128) */
    }
    if (t->blck_size == 1) { /* float weights: small integers */
        for (int64_t k = 0; k < n; k++) {
            float v = (float)rng_int(-128, 127);
            if (type == GGML_TYPE_F32) put_f32(w + 4 * k, v);
            else if (type == GGML_TYPE_F16) put_u16(w + 2 * k, fp32_to_fp16(v));
            else put_u16(w + 2 * k, fp32_to_bf16(v));
        }
    }
}

/* An activation row with scale 1 and integer codes a[] in -R..R. */
static void *make_unit_act(uint32_t act, const int *codes, int64_t n) {
    void *buf = xcalloc(1, quant_row_size(act, n) + 4);
    uint8_t *p = buf;
    if (act == GGML_TYPE_F32) {
        for (int64_t k = 0; k < n; k++) put_f32(p + 4 * k, (float)codes[k]);
    } else if (act == GGML_TYPE_Q8_0 || act == GGML_TYPE_Q8_1) {
        size_t bs = act == GGML_TYPE_Q8_0 ? 34 : 36, off = act == GGML_TYPE_Q8_0 ? 2 : 4;
        for (int64_t b = 0; b < n / 32; b++, p += bs) {
            int sum = 0;
            put_u16(p, 0x3c00);
            for (int e = 0; e < 32; e++) {
                p[off + e] = (uint8_t)(int8_t)codes[32 * b + e];
                sum += codes[32 * b + e];
            }
            if (act == GGML_TYPE_Q8_1) put_u16(p + 2, fp32_to_fp16((float)sum)); /* |sum| < 2048: exact */
        }
    } else { /* Q8_K */
        for (int64_t b = 0; b < n / QK_K; b++, p += 292) {
            put_f32(p, 1.0f);
            for (int e = 0; e < QK_K; e++) p[4 + e] = (uint8_t)(int8_t)codes[QK_K * b + e];
            for (int k = 0; k < 16; k++) {
                int sum = 0;
                for (int e = 0; e < 16; e++) sum += codes[QK_K * b + 16 * k + e];
                int16_t s16 = (int16_t)sum;
                memcpy(p + 260 + 2 * k, &s16, 2);
            }
        }
    }
    return buf;
}

static void test_vec_dot_exact(void) {
    const int64_t n = 512;
    for (size_t i = 0; i < N_WEIGHT_TYPES; i++) {
        uint32_t type = weight_types[i].type;
        const type_traits *t = quant_traits(type);
        TEST_BEGIN("quants: %s x %s with unit scales gives the exact integer dot", t->name,
                   quant_type_name(t->vec_dot_type));
        rng_seed(200 + type);
        uint8_t *w = xmalloc(quant_row_size(type, n));
        int *codes = xmalloc((size_t)n * sizeof(int));
        for (int trial = 0; trial < 8; trial++) {
            fill_bytes(w, quant_row_size(type, n));
            set_unit_scales(type, w, n);
            float *wf = dequant_alloc(type, w, n);
            /* Keep every partial sum below 2^24 so f32 accumulation is exact too: bound the
             * activation codes by 2^22 / sum|w| (a margin of 4 for the kernels' separate
             * scale and min sums). Q8_1 also needs |sum of a block| < 2048 for an exact s. */
            double wsum = 0;
            bool integral = true;
            for (int64_t k = 0; k < n; k++) {
                wsum += fabs(wf[k]);
                integral = integral && wf[k] == floorf(wf[k]);
            }
            EXPECT(integral, "unit-scale weights dequantize to non-integers");
            int R = (int)fmin(t->vec_dot_type == GGML_TYPE_Q8_1 ? 63 : 127, 4194304.0 / (wsum + 1));
            EXPECT(R >= 4, "activation range %d too small to be a meaningful test", R);
            int64_t want = 0;
            for (int64_t k = 0; k < n; k++) {
                codes[k] = rng_int(-R, R);
                want += (int64_t)wf[k] * codes[k];
            }
            void *a = make_unit_act(t->vec_dot_type, codes, n);
            float got;
            t->vec_dot((int)n, &got, w, a);
            EXPECT(got == (float)want && fabs((double)want) < 16777216.0,
                   "trial %d: %.1f, want %lld", trial, got, (long long)want);
            free(a);
            free(wf);
        }
        free(codes);
        free(w);
        TEST_END();
    }
}

/* ---------------------------------------------------------------- quantizers */

static void test_round_trip(void) {
    /* rel. RMSE of quantize -> dequantize on N(0,1) data, doc/formats.md#typical-error */
    static const struct { uint32_t type; double rmse; } table[] = {
        {GGML_TYPE_F16, 0.00021}, {GGML_TYPE_BF16, 0.0017}, {GGML_TYPE_Q8_0, 0.0054},
        {GGML_TYPE_Q8_K, 0.0070}, {GGML_TYPE_Q5_1, 0.038}, {GGML_TYPE_Q5_0, 0.043},
        {GGML_TYPE_Q4_1, 0.078}, {GGML_TYPE_Q4_0, 0.086}, {GGML_TYPE_MXFP4, 0.115},
        {GGML_TYPE_Q6_K, 0.018}, {GGML_TYPE_Q5_K, 0.036}, {GGML_TYPE_Q4_K, 0.072},
        {GGML_TYPE_Q3_K, 0.15}, {GGML_TYPE_Q2_K, 0.30},
    };
    const int64_t n = 131072;
    float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        uint32_t type = table[i].type;
        TEST_BEGIN("quants: %s round trip error on Gaussian data matches the reference",
                   quant_type_name(type));
        rng_seed(300 + type);
        fill_gauss(x, n, 1.0);
        void *q = xmalloc(quant_row_size(type, n));
        quantize_row(type, x, q, n);
        dequant_row(type, q, y, n);
        double se = 0, sx = 0;
        for (int64_t k = 0; k < n; k++) {
            se += ((double)y[k] - x[k]) * ((double)y[k] - x[k]);
            sx += (double)x[k] * x[k];
        }
        double rmse = sqrt(se / sx);
        EXPECT(rmse >= 0.7 * table[i].rmse && rmse <= 1.3 * table[i].rmse,
               "rel. RMSE %.4f%%, reference %.4f%%", 100 * rmse, 100 * table[i].rmse);
        free(q);
        TEST_END();
    }
    free(x);
    free(y);
}

/* Golden outputs of llama.cpp's own reference quantizers (quantize_row_*_ref of ggml-base
 * from the llama.cpp build the fixtures were made with, node-llama-cpp 3.22.1), run once on
 * the input below: FNV-1a 64 of the bytes. The input is built from integer random numbers
 * with exact float operations only (no libm), so it is the same on every platform. */
static uint64_t golden_rng(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float golden_unit(uint64_t *s) { return (float)(golden_rng(s) >> 40) * 0x1.0p-24f; }
static float golden_bell(uint64_t *s) { /* Irwin-Hall: roughly N(0, 1) */
    return (golden_unit(s) + golden_unit(s) + golden_unit(s) + golden_unit(s) - 2.0f) * 1.7f;
}

/* 12 kinds of 256-value super-blocks: normal, small, uniform, heavy-tailed, sparse, all
 * positive, large, tiny, on .25 ties, half zero, all zero, all negative. */
static void golden_input(float *x, int64_t n) {
    uint64_t s = 42;
    for (int64_t b = 0; b < n / 256; b++) {
        int kind = (int)(b % 12);
        for (int i = 0; i < 256; i++) {
            float g = golden_bell(&s), v;
            switch (kind) {
            case 0: v = g; break;
            case 1: v = 0.02f * g; break;
            case 2: v = 2.0f * golden_unit(&s) - 1.0f; break;
            case 3: v = g / (fabsf(golden_bell(&s)) + 0.05f); break;
            case 4: v = i % 7 == 0 ? g : 0.0f; break;
            case 5: v = fabsf(g) + 0.1f; break;
            case 6: v = 1000.0f * g; break;
            case 7: v = 1e-6f * g; break;
            case 8: v = (float)(int)(g * 4.0f) * 0.25f; break;
            case 9: v = i < 128 ? 0.0f : g; break;
            case 10: v = 0.0f; break;
            default: v = -fabsf(g); break;
            }
            x[b * 256 + i] = v;
        }
    }
}

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *c = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

static void test_golden_quantizers(void) {
    static const struct { uint32_t type; uint64_t hash; } golden[] = {
        {GGML_TYPE_Q4_0, 0xcdc88721a4aa1289ull}, {GGML_TYPE_Q4_1, 0x20de7108e44d9ac1ull},
        {GGML_TYPE_Q5_0, 0x78093bd828034f54ull}, {GGML_TYPE_Q5_1, 0x918fcced0d44179bull},
        {GGML_TYPE_Q8_0, 0x6225228a36238790ull}, {GGML_TYPE_Q8_1, 0x4f6076b4677560dfull},
        {GGML_TYPE_Q8_K, 0xa72bcff8b1a94d2bull}, {GGML_TYPE_MXFP4, 0xc0f75ae195a39527ull},
        {GGML_TYPE_Q2_K, 0xb7f76dd88c94e5c7ull}, {GGML_TYPE_Q3_K, 0x8a04b36787797baeull},
        {GGML_TYPE_Q4_K, 0x284b10f4d5338353ull}, {GGML_TYPE_Q5_K, 0xfea39096ccd30672ull},
        {GGML_TYPE_Q6_K, 0x81b72d5c38f65822ull},
    };
    const int64_t n = 1024 * 256;
    float *x = xmalloc((size_t)n * sizeof(float));
    golden_input(x, n);
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        uint32_t type = golden[i].type;
        TEST_BEGIN("quants: %s quantizer writes llama.cpp's bytes (golden hash)", quant_type_name(type));
        size_t bytes = quant_row_size(type, n);
        void *q = xmalloc(bytes);
        quantize_row(type, x, q, n);
        uint64_t h = fnv1a(q, bytes);
        EXPECT(h == golden[i].hash, "hash 0x%016llx, want 0x%016llx", (unsigned long long)h,
               (unsigned long long)golden[i].hash);
        free(q);
        TEST_END();
    }
    free(x);
}

/* Blocks that stress the activation quantizers: Gaussian, negative extremes, values on
 * .5 ties of the code grid, tiny (f16-subnormal scale), huge, all zero, constant. */
static void fill_act_block(float *x, int n, int kind) {
    switch (kind % 7) {
    case 0: fill_gauss(x, n, 1.0); break;
    case 1: fill_gauss(x, n, 1.0); x[rng_int(0, n - 1)] = -50.0f; break;
    case 2: for (int e = 0; e < n; e++) x[e] = (float)rng_int(-254, 254) * 0.5f; x[0] = -127.0f; break;
    case 3: fill_gauss(x, n, 1e-4); break;
    case 4: fill_gauss(x, n, 3e4); break;
    case 5: memset(x, 0, (size_t)n * sizeof(float)); break;
    default: for (int e = 0; e < n; e++) x[e] = -0.75f; break;
    }
}

static void test_act_quantizers(void) {
    TEST_BEGIN("quants: Q8_0 activations: d = f16(amax/127), codes roundf(x/d), never -128");
    rng_seed(400);
    for (int blk = 0; blk < 700; blk++) {
        float x[32];
        uint8_t q[34];
        fill_act_block(x, 32, blk);
        quantize_row(GGML_TYPE_Q8_0, x, q, 32);
        float amax = 0;
        for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(x[e]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        EXPECT(rd_u16(q) == fp32_to_fp16(d), "block %d: d 0x%04x", blk, rd_u16(q));
        for (int e = 0; e < 32; e++) {
            int8_t c = (int8_t)q[2 + e];
            EXPECT(c != -128, "block %d: code -128", blk);
            EXPECT(c == (int)roundf(x[e] * id), "block %d elem %d: code %d for %a", blk, e, c, x[e]);
        }
    }
    TEST_END();

    TEST_BEGIN("quants: Q8_1 activations: Q8_0 codes plus s = f16(d * sum)");
    for (int blk = 0; blk < 700; blk++) {
        float x[32];
        uint8_t q0[34], q1[36];
        fill_act_block(x, 32, blk);
        quantize_row(GGML_TYPE_Q8_0, x, q0, 32);
        quantize_row(GGML_TYPE_Q8_1, x, q1, 32);
        EXPECT(memcmp(q0, q1, 2) == 0 && memcmp(q0 + 2, q1 + 4, 32) == 0, "block %d differs from Q8_0", blk);
        int sum = 0;
        float amax = 0;
        for (int e = 0; e < 32; e++) {
            sum += (int8_t)q1[4 + e];
            amax = fmaxf(amax, fabsf(x[e]));
        }
        EXPECT(rd_u16(q1 + 2) == fp32_to_fp16((float)sum * (amax / 127.0f)), "block %d: s", blk);
    }
    TEST_END();

    TEST_BEGIN("quants: Q8_K activations: signed max -> -127, f32 d, bsums, zero blocks");
    for (int blk = 0; blk < 140; blk++) {
        float x[QK_K], y[QK_K];
        uint8_t q[292];
        for (int part = 0; part < 8; part++) fill_act_block(x + 32 * part, 32, blk);
        quantize_row(GGML_TYPE_Q8_K, x, q, QK_K);
        float amax = 0, max = 0;
        for (int e = 0; e < QK_K; e++)
            if (fabsf(x[e]) > amax) { amax = fabsf(x[e]); max = x[e]; }
        float d;
        memcpy(&d, q, 4);
        if (amax == 0) {
            uint8_t zero[292] = {0};
            EXPECT(memcmp(q, zero, 292) == 0, "block %d: zero block not all zero bytes", blk);
            continue;
        }
        EXPECT(d == 1.0f / (-127.0f / max), "block %d: d %a", blk, d);
        EXPECT((d < 0) == (max > 0), "block %d: d %g has the wrong sign for max %g", blk, d, max);
        for (int e = 0; e < QK_K; e++) {
            int8_t c = (int8_t)q[4 + e];
            EXPECT(c != -128, "block %d: code -128", blk);
            EXPECT(c == (int)nearbyintf(-127.0f / max * x[e]), "block %d elem %d: %d", blk, e, c);
        }
        for (int k = 0; k < 16; k++) {
            int sum = 0;
            for (int e = 0; e < 16; e++) sum += (int8_t)q[4 + 16 * k + e];
            int16_t bs;
            memcpy(&bs, q + 260 + 2 * k, 2);
            EXPECT(bs == sum, "block %d: bsums[%d] = %d, want %d", blk, k, bs, sum);
        }
        dequant_row(GGML_TYPE_Q8_K, q, y, QK_K);
        for (int e = 0; e < QK_K; e++)
            EXPECT(fabsf(y[e] - x[e]) <= 0.5001f * fabsf(d), "block %d elem %d: %g -> %g", blk, e, x[e], y[e]);
    }
    TEST_END();

    /* Model activations can blow up: NaN/Inf must not produce undefined conversions or -128
     * (the sanitizer build checks the former). */
    TEST_BEGIN("quants: activation and weight quantizers survive NaN/Inf/huge inputs");
    static const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q8_1, GGML_TYPE_Q8_K,
                                     GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
                                     GGML_TYPE_Q5_1, GGML_TYPE_MXFP4, GGML_TYPE_F16,
                                     GGML_TYPE_BF16, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
                                     GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};
    const float specials[] = {NAN, INFINITY, -INFINITY, 3.4e38f, -3.4e38f, 1e-45f, -0.0f};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
            for (int where = 0; where < 3; where++) {
                float x[QK_K];
                fill_gauss(x, QK_K, 1.0);
                if (where == 0) x[0] = specials[s];
                else if (where == 1) x[QK_K - 1] = specials[s];
                else for (int e = 0; e < QK_K; e++) x[e] = specials[s];
                uint8_t q[2 * 292];
                quantize_row(types[i], x, q, QK_K);
                if (types[i] == GGML_TYPE_Q8_0 || types[i] == GGML_TYPE_Q8_1) {
                    size_t bs = types[i] == GGML_TYPE_Q8_0 ? 34 : 36, off = bs - 32;
                    for (int b = 0; b < QK_K / 32; b++)
                        for (int e = 0; e < 32; e++)
                            EXPECT((int8_t)q[b * bs + off + e] != -128, "%s: -128", quant_type_name(types[i]));
                } else if (types[i] == GGML_TYPE_Q8_K) {
                    for (int e = 0; e < QK_K; e++) EXPECT((int8_t)q[4 + e] != -128, "Q8_K: -128");
                }
            }
        }
    }
    TEST_END();
}

/* ---------------------------------------------------------------- hostile bytes */

static void test_hostile(void) {
    TEST_BEGIN("quants: random and hostile blocks decode and multiply without faults");
    rng_seed(500);
    static const uint16_t bad_halves[] = {0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xffff, 0x0001, 0x8001, 0x7bff};
    for (uint32_t type = 0; type < GGML_TYPE_COUNT; type++) {
        const type_traits *t = quant_traits(type);
        if (!t->to_float) continue;
        const int64_t n = 1024;
        size_t bytes = quant_row_size(type, n);
        /* +1: rows at odd addresses must work (fields are read with memcpy) */
        uint8_t *raw = xmalloc(bytes + 1), *w = raw + 1;
        float *out = xmalloc((size_t)n * sizeof(float));
        for (int trial = 0; trial < 20; trial++) {
            fill_bytes(w, bytes);
            int od, odm;
            scale_offsets(type, &od, &odm);
            size_t nb = bytes / t->type_size;
            for (size_t b = 0; b < nb && trial % 2; b++) {
                uint8_t *blk = w + b * t->type_size;
                uint16_t h = bad_halves[rng_int(0, 7)];
                if (od >= 0) put_u16(blk + od, h);
                if (odm >= 0) put_u16(blk + odm, bad_halves[rng_int(0, 7)]);
                if (type == GGML_TYPE_MXFP4) blk[0] = (uint8_t)(rng_int(0, 1) ? 255 : rng_int(0, 2));
                if (type == GGML_TYPE_Q8_K) put_f32(blk, bits_f32(0x7f800000u | (uint32_t)rng_int(0, 1)));
            }
            dequant_row(type, w, out, n);
            if (t->vec_dot) {
                /* a random activation row, -128 codes and NaN scales included */
                size_t abytes = quant_row_size(t->vec_dot_type, n);
                uint8_t *araw = xmalloc(abytes + 1), *a = araw + 1;
                fill_bytes(a, abytes);
                float s = 0;
                t->vec_dot((int)n, &s, w, a);
                free(araw);
            }
        }
        /* finite scales give finite values for the 16-bit scale formats */
        if (t->blck_size > 1 && type != GGML_TYPE_MXFP4 && type != GGML_TYPE_Q8_K) {
            fill_bytes(w, bytes);
            int od, odm;
            scale_offsets(type, &od, &odm);
            for (size_t b = 0; b < bytes / t->type_size; b++) {
                if (od >= 0) put_u16(w + b * t->type_size + od, 0x3c00);
                if (odm >= 0) put_u16(w + b * t->type_size + odm, 0x3c00);
            }
            dequant_row(type, w, out, n);
            bool finite = true;
            for (int64_t k = 0; k < n; k++) finite = finite && isfinite(out[k]);
            EXPECT(finite, "%s: finite scales gave a non-finite value", t->name);
        }
        free(out);
        free(raw);
    }
    TEST_END();
}

void suite_quants(void) {
    test_table();
    test_fp16();
    test_fixtures();
    test_vec_dot_random();
    test_vec_dot_exact();
    test_round_trip();
    test_golden_quantizers();
    test_act_quantizers();
    test_hostile();
}
