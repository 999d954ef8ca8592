/* dispatch.c - choosing and building the kernel set (see dispatch.h).
 *
 *   kernel_set_choose()   which set: the CPU's fastest, or the GEMMA_KERNELS request
 *   fill_tables()         the f16 and GELU lookup tables, once, before any set is built
 *   kernel_set_build()    the scalar layer, then the set's ISA layers in order
 *   kernels_active()      the process's set, chosen and built once */
#include "dispatch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels.h"
#include "util.h"

/* ---- which set ---- */

static const struct {
    const char *name;     /* what the banner and `gemma bench` report */
    const char *request;  /* the GEMMA_KERNELS value that asks for it */
} sets[KERNELS_COUNT] = {
    [KERNELS_SCALAR] = {"scalar", "scalar"},
    [KERNELS_AVX2] = {"AVX2", "avx2"},
    [KERNELS_AVX512] = {"AVX-512 VNNI", "avx512"},
    [KERNELS_NEON] = {"NEON", "neon"},
    [KERNELS_NEON_DOTPROD] = {"NEON dotprod", "neon"},
    [KERNELS_AMX] = {"AMX + AVX-512 VNNI", "amx"},
    [KERNELS_AMX_EMULATED] = {"AMX emulated + AVX-512 VNNI", "amx-emu"},
    [KERNELS_AVX512_EMULATED] = {"AVX-512 VNNI emulated", "avx512-emu"},
    [KERNELS_AMX_AVX512_EMULATED] = {"AMX emulated + AVX-512 VNNI emulated", "amx-emu"},
};

const char *kernel_set_name(kernel_set_id s) { return (unsigned)s < KERNELS_COUNT ? sets[s].name : "unknown"; }

#if defined(__x86_64__)
static bool has_avx2_set(const cpu_features *f) { return f->has_avx2 && f->has_fma && f->has_f16c; }
static bool has_avx512_set(const cpu_features *f) {
    return has_avx2_set(f) && f->has_avx512f && f->has_avx512bw && f->has_avx512vl && f->has_avx512dq &&
           f->has_avx512vnni;
}
#endif

bool kernel_set_supported(const cpu_features *f, kernel_set_id s) {
    (void)f; /* unused where no ISA set is built */
    switch (s) {
    case KERNELS_SCALAR:
        return true;
#if defined(__x86_64__)
    case KERNELS_AVX2:
        return has_avx2_set(f);
    case KERNELS_AVX512:
        return has_avx512_set(f);
    case KERNELS_AMX:
        return has_avx512_set(f) && f->has_amx_tile && f->has_amx_int8;
    case KERNELS_AMX_EMULATED: /* the tiles are C; the rest of amx.c is AVX-512 */
        return has_avx512_set(f);
    case KERNELS_AVX512_EMULATED: /* the AVX-512 instructions are C over AVX2 */
        return has_avx2_set(f);
    case KERNELS_AMX_AVX512_EMULATED: /* amx-emu where the AVX-512 it is written in is missing */
        return has_avx2_set(f) && !has_avx512_set(f);
#endif
#if defined(__aarch64__)
    case KERNELS_NEON:
        return f->has_neon;
    case KERNELS_NEON_DOTPROD:
        return f->has_neon && f->has_dotprod;
#endif
    default:
        return false;
    }
}

/* The emulated sets are never the fastest: they run only when asked for. */
static kernel_set_id best_set(const cpu_features *f) {
    static const kernel_set_id order[] = {KERNELS_AMX, KERNELS_AVX512, KERNELS_AVX2, KERNELS_NEON_DOTPROD,
                                          KERNELS_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (kernel_set_supported(f, order[i])) return order[i];
    return KERNELS_SCALAR;
}

kernel_set_id kernel_set_choose(const cpu_features *f, const char *request, char *warn, size_t warn_len) {
    if (warn && warn_len) warn[0] = 0;
    kernel_set_id best = best_set(f);
    if (!request || !*request) return best;
    /* "neon" means the best NEON set, so look at the faster of the two first; "amx-emu" the
     * emulated tiles over the real AVX-512 set, else over the emulated one. */
    static const kernel_set_id by_request[] = {KERNELS_SCALAR, KERNELS_AVX2, KERNELS_AVX512, KERNELS_AMX,
                                               KERNELS_AMX_EMULATED, KERNELS_AMX_AVX512_EMULATED,
                                               KERNELS_AVX512_EMULATED, KERNELS_NEON_DOTPROD, KERNELS_NEON};
    bool known = false;
    for (size_t i = 0; i < sizeof by_request / sizeof by_request[0]; i++) {
        kernel_set_id s = by_request[i];
        if (strcasecmp(request, sets[s].request) != 0) continue;
        known = true;
        if (kernel_set_supported(f, s)) return s;
    }
    if (warn && warn_len) {
        if (known)
            snprintf(warn, warn_len, "GEMMA_KERNELS=%s: not supported by this CPU, using %s", request, sets[best].name);
        else
            snprintf(warn, warn_len,
                     "GEMMA_KERNELS=%s: unknown (expected scalar, avx2, avx512, amx, amx-emu, avx512-emu or neon), using %s",
                     request, sets[best].name);
    }
    return best;
}

/* ---- the lookup tables ---- */

float kernel_fp16_table[65536];

/* fp16_to_fp32, with signalling NaNs made quiet as the conversion instructions (F16C's
 * vcvtph2ps) make them: the table then holds exactly what they would give. */
static float fp16_as_converted(uint16_t h) {
    float f = fp16_to_fp32(h);
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
        uint32_t u;
        memcpy(&u, &f, 4);
        u |= 0x00400000u;
        memcpy(&f, &u, 4);
    }
    return f;
}

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_tables(void) {
    for (int h = 0; h < 65536; h++) kernel_fp16_table[h] = fp16_as_converted((uint16_t)h);
    gelu_table_fill();
}

/* ---- building a set ---- */

void kernel_set_build(kernel_set *k, kernel_set_id s) {
    pthread_once(&tables_once, fill_tables);
    memset(k, 0, sizeof *k);
    k->id = s;
    k->name = kernel_set_name(s);
    for (uint32_t t = 0; t < TYPE_COUNT; t++) k->type[t] = *quant_traits(t);
    k->vec.geglu = geglu_scalar;
    k->vec.rmsnorm = rmsnorm_scalar;
    k->vec.softcap = softcap_scalar;
    switch (s) {
    case KERNELS_SCALAR: /* the panel kernels are as fast as the row ones here: use them, so
                            that a scalar run checks the specification end to end */
        k->repack_to[GGML_TYPE_Q4_0] = TYPE_Q4_0_R16;
        k->repack_to[GGML_TYPE_Q5_0] = TYPE_Q5_0_R16;
        k->repack_to[GGML_TYPE_Q8_0] = TYPE_Q8_0_R16;
        k->repack_to[GGML_TYPE_Q4_K] = TYPE_Q4_K_R16;
        k->repack_to[GGML_TYPE_Q5_K] = TYPE_Q5_K_R16;
        k->repack_to[GGML_TYPE_Q6_K] = TYPE_Q6_K_R16;
        break;
#if defined(__x86_64__)
    case KERNELS_AVX2:
        kernels_avx2_install(k);
        break;
    case KERNELS_AVX512:
        kernels_avx2_install(k);
        kernels_avx512_install(k);
        break;
    case KERNELS_AMX:
        kernels_avx2_install(k);
        kernels_avx512_install(k);
        kernels_amx_install(k, cpu_get()->has_amx_bf16);
        break;
    case KERNELS_AMX_EMULATED:
        kernels_avx2_install(k);
        kernels_avx512_install(k);
        kernels_amx_emulated_install(k);
        break;
    case KERNELS_AVX512_EMULATED:
        kernels_avx2_install(k);
        kernels_avx512_emulated_install(k);
        break;
    case KERNELS_AMX_AVX512_EMULATED:
        kernels_avx2_install(k);
        kernels_avx512_emulated_install(k);
        kernels_amx_avx512_emulated_install(k);
        break;
#endif
#if defined(__aarch64__)
    case KERNELS_NEON:
        kernels_neon_install(k);
        break;
    case KERNELS_NEON_DOTPROD:
        kernels_neon_install(k);
        kernels_neon_dotprod_install(k);
        break;
#endif
    default:
        break;
    }
}

/* ---- the active set ---- */

static kernel_set active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static void choose_and_build(void) {
    char warn[256];
    kernel_set_id s = kernel_set_choose(cpu_get(), getenv("GEMMA_KERNELS"), warn, sizeof warn);
    if (warn[0]) fprintf(stderr, "gemma: %s\n", warn);
    kernel_set_build(&active, s);
}

const kernel_set *kernels_active(void) {
    pthread_once(&active_once, choose_and_build);
    return &active;
}

const type_traits *kernel_traits(uint32_t type) {
    return type < TYPE_COUNT ? &kernels_active()->type[type] : NULL;
}

kernel_set_id kernels_select(kernel_set_id s) {
    kernel_set_id old = kernels_active()->id;
    kernel_set_build(&active, s);
    return old;
}
