/* test_neon.c - the Arm NEON kernels (src/kernels/neon.c) against the scalar ones.
 *
 * Each kernel set (baseline NEON; NEON + dotprod when the CPU has it) is built privately
 * (kernel_set_build). For every weight type, its row dot must agree with the
 * scalar row dot on random rows of several lengths, and its tile kernel must fill exactly the
 * nw x na cells of every tile shape with the same values. Data: Gaussian rows through the
 * reference quantizers, and random block bytes (every code and sub-block scale pattern) with
 * the block's float scales replaced by moderate random halves. Rows that end at a guard page
 * show that no kernel reads past its rows (GEGLU, RMSNorm and soft-capping included), and the
 * active set must be the fastest NEON set the CPU runs, with its elementwise kernels.
 *
 * Tolerance: both kernels compute the same exact integer block dots, so they differ only in
 * the order of float accumulation (four lanes, split min terms): ~1e-7 of sum |w_i * a_i|.
 * We allow 1e-5 of it. On other architectures the suite reports a skip. */
#include "test.h"

void suite_neon(void);

#if defined(__aarch64__)

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "util.h"
#include "rng.h"

/* The weight types and their float scale fields: offsets of the f16 scales in a block
 * (-1 ends the list); MXFP4's scale is the E8M0 byte at 0. */
static const struct {
    uint32_t type;
    int f16_at[3];
    int lengths[3];   /* row lengths to try (multiples of the block size) */
} types[] = {
    {GGML_TYPE_F32, {-1}, {1, 37, 4096}},
    {GGML_TYPE_F16, {-1}, {5, 70, 4096}},
    {GGML_TYPE_BF16, {-1}, {15, 129, 4096}},
    {GGML_TYPE_Q4_0, {0, -1}, {32, 96, 4096}},
    {GGML_TYPE_Q4_1, {0, 2, -1}, {32, 96, 4096}},
    {GGML_TYPE_Q5_0, {0, -1}, {32, 96, 4096}},
    {GGML_TYPE_Q5_1, {0, 2, -1}, {32, 96, 4096}},
    {GGML_TYPE_Q8_0, {0, -1}, {32, 96, 4096}},
    {GGML_TYPE_Q2_K, {80, 82, -1}, {256, 768, 4096}},
    {GGML_TYPE_Q3_K, {108, -1}, {256, 768, 4096}},
    {GGML_TYPE_Q4_K, {0, 2, -1}, {256, 768, 4096}},
    {GGML_TYPE_Q5_K, {0, 2, -1}, {256, 768, 4096}},
    {GGML_TYPE_Q6_K, {208, -1}, {256, 768, 4096}},
    {GGML_TYPE_IQ4_NL, {0, -1}, {32, 96, 4096}},
    {GGML_TYPE_IQ4_XS, {0, -1}, {256, 768, 4096}},
    {GGML_TYPE_MXFP4, {-1}, {32, 96, 4096}},
};
#define N_TYPES (sizeof types / sizeof types[0])

/* One weight row of n elements: Gaussian values through the reference quantizer, or (for
 * `bytes`, and for types without a quantizer) random block bytes with tame scales. */
static void make_weight_row(int ti, int n, bool bytes, uint8_t *dst) {
    uint32_t type = types[ti].type;
    const type_traits *tt = quant_traits(type);
    if (tt->blck_size == 1 || (!bytes && tt->from_float)) { /* float types: always values */
        float *x = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) x[i] = (float)rng_gauss();
        quantize_row(type, x, dst, n);
        free(x);
        return;
    }
    size_t nb = (size_t)(n / tt->blck_size);
    for (size_t i = 0; i < nb * tt->type_size; i++) dst[i] = (uint8_t)rng_u64();
    for (size_t b = 0; b < nb; b++) {
        uint8_t *blk = dst + b * tt->type_size;
        if (type == GGML_TYPE_MXFP4) blk[0] = (uint8_t)(118 + rng_u64() % 16);
        for (int k = 0; k < 3 && types[ti].f16_at[k] >= 0; k++) {
            uint16_t h = fp32_to_fp16((float)(rng_gauss() * 0.01));
            memcpy(blk + types[ti].f16_at[k], &h, 2);
        }
    }
}

/* A Gaussian activation row: its f32 values and its conversion to the vec_dot type. */
static void make_act_row(uint32_t act_type, int n, float *x, uint8_t *dst) {
    for (int i = 0; i < n; i++) x[i] = (float)rng_gauss();
    if (act_type == GGML_TYPE_F32) memcpy(dst, x, (size_t)n * sizeof(float));
    else quantize_row(act_type, x, dst, n);
}

/* sum |w_i * a_i| over the decoded rows: the scale of the rounding error. */
static double abs_terms(uint32_t type, uint32_t act_type, int n, const uint8_t *w,
                        const uint8_t *a) {
    float *wf = malloc((size_t)n * sizeof(float)), *af = malloc((size_t)n * sizeof(float));
    dequant_row(type, w, wf, n);
    dequant_row(act_type, a, af, n);
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs((double)wf[i] * (double)af[i]);
    free(wf);
    free(af);
    return s;
}

static bool close_enough(float got, float want, double scale) {
    return fabs((double)got - (double)want) <= 1e-5 * scale + 1e-30;
}

/* Every weight type's row dot against the scalar one. */
static void check_vec_dots(const char *set, const type_traits *table) {
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = types[ti].type;
        const type_traits *ref = quant_traits(type);
        TEST_BEGIN("neon %s: %s vec_dot matches scalar (3 lengths, quantized and raw rows)", set,
                   ref->name);
        for (int li = 0; li < 3; li++) {
            int n = types[ti].lengths[li];
            size_t wbytes = quant_row_size(type, n);
            size_t abytes = ref->vec_dot_type == GGML_TYPE_F32 ? (size_t)n * 4
                                                               : quant_row_size(ref->vec_dot_type, n);
            for (int raw = 0; raw < 2; raw++) {
                rng_seed(1000 * ti + 10 * (size_t)li + (size_t)raw);
                uint8_t *w = malloc(wbytes), *a = malloc(abytes);
                float *x = malloc((size_t)n * sizeof(float));
                make_weight_row((int)ti, n, raw, w);
                make_act_row(ref->vec_dot_type, n, x, a);
                float want = 0, got = 0;
                ref->vec_dot(n, &want, w, a);
                table[type].vec_dot(n, &got, w, a);
                double scale = abs_terms(type, ref->vec_dot_type, n, w, a);
                EXPECT(close_enough(got, want, scale), "n=%d %s: neon %.9g scalar %.9g (sum|terms| %g)",
                       n, raw ? "raw" : "quantized", got, want, scale);
                free(w);
                free(a);
                free(x);
            }
        }
        TEST_END();
    }
}

/* Every tile shape nw x na of every type's gemm: the nw x na cells equal the scalar row
 * dots, the rest of the output is untouched. Rows sit at odd padded strides. */
static void check_gemms(const char *set, const type_traits *table) {
    enum { S_STRIDE = GEMM_MAX_NW + 3 };
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = types[ti].type;
        const type_traits *ref = quant_traits(type);
        int n = types[ti].lengths[1];
        size_t w_stride = quant_row_size(type, n) + 3;
        size_t a_stride = (ref->vec_dot_type == GGML_TYPE_F32 ? (size_t)n * 4
                                                              : quant_row_size(ref->vec_dot_type, n)) + 5;
        uint8_t *w = calloc(GEMM_MAX_NW, w_stride), *a = calloc(GEMM_MAX_NA, a_stride);
        float *x = malloc((size_t)n * sizeof(float));
        rng_seed(7000 + ti);
        for (int i = 0; i < GEMM_MAX_NW; i++) make_weight_row((int)ti, n, i % 2, w + i * w_stride);
        for (int j = 0; j < GEMM_MAX_NA; j++) make_act_row(ref->vec_dot_type, n, x, a + j * a_stride);
        float want[GEMM_MAX_NA][GEMM_MAX_NW];
        double scale[GEMM_MAX_NA][GEMM_MAX_NW];
        for (int j = 0; j < GEMM_MAX_NA; j++)
            for (int i = 0; i < GEMM_MAX_NW; i++) {
                ref->vec_dot(n, &want[j][i], w + i * w_stride, a + j * a_stride);
                scale[j][i] = abs_terms(type, ref->vec_dot_type, n, w + i * w_stride, a + j * a_stride);
            }
        TEST_BEGIN("neon %s: %s gemm matches scalar on all %dx%d tile shapes", set, ref->name,
                   GEMM_MAX_NW, GEMM_MAX_NA);
        EXPECT(table[type].gemm != NULL, "no tile kernel installed");
        for (int nw = 1; nw <= GEMM_MAX_NW && table[type].gemm; nw++)
            for (int na = 1; na <= GEMM_MAX_NA; na++) {
                float s[GEMM_MAX_NA + 1][S_STRIDE];
                for (int j = 0; j <= GEMM_MAX_NA; j++)
                    for (int i = 0; i < S_STRIDE; i++) s[j][i] = -12345.0f;
                table[type].gemm(n, &s[0][0], S_STRIDE, w, w_stride, a, a_stride, nw, na);
                for (int j = 0; j <= GEMM_MAX_NA; j++)
                    for (int i = 0; i < S_STRIDE; i++) {
                        if (i < nw && j < na)
                            EXPECT(close_enough(s[j][i], want[j][i], scale[j][i]),
                                   "tile %dx%d cell (%d,%d): %.9g, scalar %.9g", nw, na, i, j,
                                   s[j][i], want[j][i]);
                        else
                            EXPECT(s[j][i] == -12345.0f, "tile %dx%d wrote outside at (%d,%d)",
                                   nw, na, i, j);
                    }
            }
        TEST_END();
        free(w);
        free(a);
        free(x);
    }
}

/* n bytes that end exactly where an inaccessible page begins, so a kernel reading one byte
 * past them faults (vector loads are not checked by the sanitizers). *map / *map_len are for
 * munmap; NULL if mmap fails. */
static uint8_t *before_guard_page(size_t n, void **map, size_t *map_len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (n + page - 1) / page * page;
    *map_len = data + page;
    /* cppcheck-suppress invalidFunctionArg ; fd -1 is what MAP_ANONYMOUS asks for */
    *map = mmap(NULL, *map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED) return NULL;
    if (mprotect((uint8_t *)*map + data, page, PROT_NONE) != 0) {
        munmap(*map, *map_len);
        return NULL;
    }
    return (uint8_t *)*map + data - n;
}

/* Weight and activation rows that end at a guard page: a vec_dot, a full tile and an edge
 * tile each read only inside their rows (a stray read would end the run with SIGSEGV). */
static void check_bounds(const char *set, const type_traits *table) {
    TEST_BEGIN("neon %s: no kernel reads past the end of its rows (guard pages)", set);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = types[ti].type;
        const type_traits *ref = quant_traits(type);
        int n = types[ti].lengths[1];
        size_t w_row = quant_row_size(type, n);
        size_t a_row = ref->vec_dot_type == GGML_TYPE_F32 ? (size_t)n * 4
                                                          : quant_row_size(ref->vec_dot_type, n);
        void *wmap, *amap;
        size_t wlen, alen;
        uint8_t *w = before_guard_page(GEMM_MAX_NW * w_row, &wmap, &wlen);
        uint8_t *a = before_guard_page(GEMM_MAX_NA * a_row, &amap, &alen);
        float *x = malloc((size_t)n * sizeof(float));
        EXPECT(w && a, "mmap failed");
        if (w && a) {
            rng_seed(9000 + ti);
            for (int i = 0; i < GEMM_MAX_NW; i++) make_weight_row((int)ti, n, i % 2, w + i * w_row);
            for (int j = 0; j < GEMM_MAX_NA; j++) make_act_row(ref->vec_dot_type, n, x, a + j * a_row);
            const uint8_t *w_last = w + (GEMM_MAX_NW - 1) * w_row, *a_last = a + (GEMM_MAX_NA - 1) * a_row;
            float got, want, s[GEMM_MAX_NA * GEMM_MAX_NW];
            table[type].vec_dot(n, &got, w_last, a_last);
            ref->vec_dot(n, &want, w_last, a_last);
            EXPECT(close_enough(got, want, abs_terms(type, ref->vec_dot_type, n, w_last, a_last)),
                   "%s vec_dot at the guard: %.9g, scalar %.9g", ref->name, got, want);
            table[type].gemm(n, s, GEMM_MAX_NW, w, w_row, a, a_row, GEMM_MAX_NW, GEMM_MAX_NA);
            table[type].gemm(n, s, GEMM_MAX_NW, w + 5 * w_row, w_row, a + 1 * a_row, a_row, 3, 3);
        }
        if (w) munmap(wmap, wlen);
        if (a) munmap(amap, alen);
        free(x);
    }
    TEST_END();
}

/* GEGLU, RMSNorm and soft-capping (dispatch.h's vec_kernels; test_simd.c checks their bits
 * against the scalar ones) on rows of every length up to 40 that end at a guard page: the
 * tails are read only inside the rows, and written only there. */
static void check_elementwise_bounds(void) {
    static kernel_set neon, scalar;
    kernel_set_build(&neon, KERNELS_NEON);
    kernel_set_build(&scalar, KERNELS_SCALAR);
    vec_kernels k = neon.vec, ref = scalar.vec;
    TEST_BEGIN("neon: GEGLU, RMSNorm and soft-capping read and write only inside their rows (guard pages, "
               "lengths 1..40)");
    EXPECT(k.geglu != ref.geglu && k.rmsnorm != ref.rmsnorm && k.softcap != ref.softcap,
           "the NEON set has no GEGLU / RMSNorm / soft-capping of its own");
    enum { MAX = 40 };
    void *map[4];
    size_t len[4];
    float *row[4];
    for (int r = 0; r < 4; r++) row[r] = (float *)(void *)before_guard_page(MAX * sizeof(float), &map[r], &len[r]);
    EXPECT(row[0] && row[1] && row[2] && row[3], "mmap failed");
    if (row[0] && row[1] && row[2] && row[3]) {
        rng_seed(9500);
        for (int n = 1; n <= MAX; n++) {
            float *g = row[0] + MAX - n, *u = row[1] + MAX - n, *o = row[2] + MAX - n, *w = row[3] + MAX - n;
            float want[MAX];
            for (int i = 0; i < n; i++) {
                g[i] = (float)(4.0 * rng_gauss());
                u[i] = (float)rng_gauss();
                w[i] = (float)(1.0 + rng_gauss());
            }
            ref.geglu(want, g, u, n);
            k.geglu(o, g, u, n);
            EXPECT(memcmp(o, want, (size_t)n * sizeof(float)) == 0, "n=%d: GEGLU differs from scalar", n);
            ref.rmsnorm(want, g, w, n, 1e-6f);
            k.rmsnorm(o, g, w, n, 1e-6f);
            EXPECT(memcmp(o, want, (size_t)n * sizeof(float)) == 0, "n=%d: RMSNorm differs from scalar", n);
            for (int i = 0; i < n; i++) want[i] = o[i] = 30.0f * g[i];
            ref.softcap(want, n, 30.0f);
            k.softcap(o, n, 30.0f);
            EXPECT(memcmp(o, want, (size_t)n * sizeof(float)) == 0, "n=%d: soft-capping differs from scalar", n);
        }
    }
    for (int r = 0; r < 4; r++)
        if (row[r]) munmap(map[r], len[r]);
    TEST_END();
}

static void check_set(const char *set, kernel_set_id id) {
    static kernel_set built;
    kernel_set_build(&built, id);
    const type_traits *table = built.type;
    TEST_BEGIN("neon %s: every supported weight type gets a NEON vec_dot and gemm", set);
    for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++) {
        const type_traits *ref = quant_traits(t);
        if (!ref->supported) {
            EXPECT(table[t].vec_dot == ref->vec_dot && table[t].gemm == ref->gemm,
                   "%s (unsupported) was changed", ref->name);
            continue;
        }
        EXPECT(table[t].vec_dot && table[t].vec_dot != ref->vec_dot, "%s: no NEON vec_dot", ref->name);
        EXPECT(table[t].gemm != NULL, "%s: no NEON gemm", ref->name);
        bool listed = false;
        for (size_t ti = 0; ti < N_TYPES; ti++) listed |= types[ti].type == t;
        EXPECT(listed, "%s is supported but not tested here", ref->name);
    }
    TEST_END();
    check_vec_dots(set, table);
    check_gemms(set, table);
    check_bounds(set, table);
}

/* The active set must be the fastest NEON set this CPU runs. */
static void check_dispatch(void) {
    const char *request = getenv("GEMMA_KERNELS");
    if (request && *request && strcmp(request, "neon") != 0) {
        test_skip("neon: dispatch (GEMMA_KERNELS=%s)", request);
        return;
    }
    static kernel_set built;
    bool dotprod = cpu_get()->has_dotprod;
    kernel_set_build(&built, dotprod ? KERNELS_NEON_DOTPROD : KERNELS_NEON);
    const type_traits *want = built.type;
    TEST_BEGIN("neon: the active set is the %s one (%s), its GEGLU, RMSNorm and soft-capping too",
               dotprod ? "dotprod" : "baseline", kernels_active()->name);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const type_traits *active = kernel_traits(types[ti].type);
        EXPECT(active->vec_dot == want[types[ti].type].vec_dot &&
                   active->gemm == want[types[ti].type].gemm,
               "%s: the active kernels are not the NEON ones", active->name);
    }
    EXPECT(kernels_active()->vec.geglu == built.vec.geglu && kernels_active()->vec.rmsnorm == built.vec.rmsnorm &&
               kernels_active()->vec.softcap == built.vec.softcap,
           "the active GEGLU / RMSNorm / soft-capping are not the NEON ones");
    TEST_END();
}

void suite_neon(void) {
    check_set("baseline", KERNELS_NEON);
    if (cpu_get()->has_dotprod) check_set("dotprod", KERNELS_NEON_DOTPROD);
    else test_skip("neon dotprod: this CPU has no dotprod (qemu-aarch64 -cpu max has)");
    check_elementwise_bounds();
    check_dispatch();
}

#else

void suite_neon(void) { test_skip("neon: not an AArch64 build"); }

#endif
