/* cpu.h - what this CPU (and its operating system) can run, and which kernel set to use.
 *
 * The binary is portable: only src/kernels_<isa>.c are compiled with ISA flags, and their
 * functions are called only after cpu_get() reports the instructions AND the operating
 * system's support for the register state they use (x86: XCR0 via xgetbv for YMM / ZMM /
 * AMX tiles; AArch64: the kernel's HWCAP bits). quant_init() picks a kernel set with
 * kernel_set_choose() and installs it into the active type table with kernels_install();
 * the forward pass's elementwise kernels (vec_kernels) follow the same set. */
#ifndef GEMMA_CPU_H
#define GEMMA_CPU_H

#include <stdbool.h>
#include <stddef.h>

#include "quant.h"

typedef struct {
    /* x86-64 (each also requires the OS to save the registers it uses) */
    bool has_avx2, has_fma, has_f16c;
    bool has_avx512f, has_avx512bw, has_avx512vl, has_avx512dq, has_avx512vnni;
    bool has_avx_vnni, has_avx512bf16;
    bool has_amx_tile, has_amx_int8, has_amx_bf16;  /* only if the OS granted the tile state */
    /* AArch64 */
    bool has_neon, has_dotprod, has_i8mm, has_fp16;
} cpu_features;

/* Detected once (thread-safe); never NULL. All false on other architectures. */
const cpu_features *cpu_get(void);

/* The kernel sets, from the portable one up. */
typedef enum {
    KERNELS_SCALAR,
    KERNELS_AVX2,          /* AVX2 + FMA + F16C */
    KERNELS_AVX512,        /* AVX-512 F/BW/VL/DQ + VNNI (plus the AVX2 set underneath) */
    KERNELS_NEON,          /* baseline Advanced SIMD */
    KERNELS_NEON_DOTPROD,  /* NEON with sdot */
    KERNELS_AMX,           /* the AVX-512 set, plus AMX tiles for prefill matmuls (amx.h) */
    KERNELS_COUNT
} kernel_set;

const char *kernel_set_name(kernel_set s);                 /* "AVX-512 VNNI", "scalar", ... */
bool kernel_set_supported(const cpu_features *f, kernel_set s);
/* The fastest supported set, unless `request` (the GEMMA_KERNELS value: scalar, avx2,
 * avx512, amx or neon; NULL or "" = no request) names another supported one. A request for an
 * unknown or unsupported set falls back to the fastest and writes a one-line reason into
 * warn (warn[0] = 0 when there is nothing to say). */
kernel_set kernel_set_choose(const cpu_features *f, const char *request, char *warn,
                             size_t warn_len);
/* Overwrite the kernel pointers of t (a whole table indexed by ggml type) with set s.
 * Only call with a set kernel_set_supported() accepts. */
void kernels_install(type_traits *t, kernel_set s);

/* The per-ISA installers (src/kernels_*.c): each overwrites the vec_dot / gemm /
 * activation quantizer entries it has faster versions of; defined only on their
 * architecture. kernels_avx512_install expects the AVX2 set to be installed first. */
void kernels_avx2_install(type_traits *t);
void kernels_avx512_install(type_traits *t);
void kernels_neon_install(type_traits *t);
void kernels_neon_dotprod_install(type_traits *t);

/* The set quant_init() installed into the active type table (calls quant_init()). */
kernel_set kernel_set_active(void);

/* ---- elementwise kernels of the forward pass ----
 * They do not depend on a weight type, so they sit beside the type table rather than in it;
 * each kernel set has its versions, and every version gives the scalar one's bits. */
typedef struct {
    /* out[j] = gelu(gate[j]) * up[j], j < n, GELU as llama.cpp's table of f16 values (see
     * kernels/scalar.c): 0 for gate <= -10, gate for gate >= 10, NaN for NaN. out may be
     * gate or up. */
    void (*geglu)(float *out, const float *gate, const float *up, int n);
    /* out = x / sqrt(mean(x^2) + eps) * w (w == NULL: 1), the sum of squares in double;
     * out may be x. */
    void (*rmsnorm)(float *out, const float *x, const float *w, int n, float eps);
} vec_kernels;

/* Fill k with set s's versions (the scalar ones where s has none). Only call with a set
 * kernel_set_supported() accepts. */
void vec_kernels_install(vec_kernels *k, kernel_set s);
/* The versions of kernel_set_active(), installed on first use; never NULL. */
const vec_kernels *vec_kernels_active(void);

/* The per-ISA installers of the elementwise kernels; kernels_avx512_vec_install expects the
 * AVX2 versions installed first. */
void kernels_avx2_vec_install(vec_kernels *k);
void kernels_avx512_vec_install(vec_kernels *k);
void kernels_neon_vec_install(vec_kernels *k);

#endif
