/* cpu.c - CPU feature detection and the choice of kernel set (see cpu.h).
 *
 * x86-64: cpuid says what the core implements; the OS must also have enabled the register
 * state in XCR0 (read with xgetbv, allowed once cpuid reports OSXSAVE), otherwise the first
 * YMM/ZMM instruction faults or silently loses state on a context switch:
 *   bits 1-2  SSE + AVX (YMM) state            needed by the AVX2 set
 *   bits 5-7  opmask + ZMM_Hi256 + Hi16_ZMM    needed by the AVX-512 set
 *   bits 17-18 XTILECFG + XTILEDATA            AMX (Linux additionally requires a per-process
 *                                              arch_prctl(ARCH_REQ_XCOMP_PERM) before use)
 * AArch64: the kernel's HWCAP words (Linux getauxval, macOS sysctl). */
#include "cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

static cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (unsigned long long)hi << 32 | lo;
}

static bool bit(unsigned int word, int n) { return (word >> n) & 1u; }

/* Linux keeps the 8 KB of tile data out of a process's saved state until the process asks
 * for it (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, kernel 5.16+); a tile
 * instruction before that raises SIGILL. The grant is per process and covers every thread.
 * Other systems: assume the OS either enables the state in XCR0 or not at all. */
static bool amx_permitted(void) {
#if defined(__linux__)
    enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return false;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0) return false;
    return (perm >> XFEATURE_XTILEDATA) & 1;
#else
    return true;
#endif
}

static void detect(cpu_features *f) {
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return;
    bool fma = bit(c, 12), osxsave = bit(c, 27), avx = bit(c, 28), f16c = bit(c, 29);
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = read_xcr0();
    bool os_ymm = (xcr0 & 0x6) == 0x6;
    bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
    bool os_amx = (xcr0 & 0x60000) == 0x60000;
    if (!os_ymm) return;

    unsigned int a7 = 0, b7 = 0, c7 = 0, d7 = 0, a71 = 0, unused;
    if (__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7) && a7 >= 1) /* a7: last sub-leaf */
        __get_cpuid_count(7, 1, &a71, &unused, &unused, &unused);
    f->has_fma = fma;
    f->has_f16c = f16c;
    f->has_avx2 = bit(b7, 5);
    f->has_avx_vnni = bit(a71, 4);
    if (os_zmm) {
        f->has_avx512f = bit(b7, 16);
        f->has_avx512dq = bit(b7, 17);
        f->has_avx512bw = bit(b7, 30);
        f->has_avx512vl = bit(b7, 31);
        f->has_avx512vnni = bit(c7, 11);
        f->has_avx512bf16 = bit(a71, 5);
    }
    if (os_amx && bit(d7, 24) && amx_permitted()) {
        f->has_amx_bf16 = bit(d7, 22);
        f->has_amx_tile = true;
        f->has_amx_int8 = bit(d7, 25);
    }
}

#elif defined(__aarch64__)
static void detect(cpu_features *f) {
    f->has_neon = true; /* Advanced SIMD is mandatory in AArch64 */
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    f->has_dotprod = (hw >> 20) & 1;                      /* HWCAP_ASIMDDP */
    f->has_fp16 = ((hw >> 9) & 1) && ((hw >> 10) & 1);    /* HWCAP_FPHP, HWCAP_ASIMDHP */
    f->has_i8mm = (hw2 >> 13) & 1;                        /* HWCAP2_I8MM */
#elif defined(__APPLE__)
    int v = 0;
    size_t len = sizeof v;
    if (sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0) f->has_dotprod = v;
    v = 0, len = sizeof v;
    if (sysctlbyname("hw.optional.arm.FEAT_I8MM", &v, &len, NULL, 0) == 0) f->has_i8mm = v;
    v = 0, len = sizeof v;
    if (sysctlbyname("hw.optional.arm.FEAT_FP16", &v, &len, NULL, 0) == 0) f->has_fp16 = v;
#endif
}

#else
static void detect(cpu_features *f) { (void)f; }
#endif

static void detect_once(void) { detect(&features); }

const cpu_features *cpu_get(void) {
    pthread_once(&features_once, detect_once);
    return &features;
}

/* ---- kernel sets ---- */

static const struct {
    const char *name;     /* what quant_kernel_path() reports */
    const char *request;  /* the GEMMA_KERNELS value that asks for it */
} sets[KERNELS_COUNT] = {
    [KERNELS_SCALAR] = {"scalar", "scalar"},
    [KERNELS_AVX2] = {"AVX2", "avx2"},
    [KERNELS_AVX512] = {"AVX-512 VNNI", "avx512"},
    [KERNELS_NEON] = {"NEON", "neon"},
    [KERNELS_NEON_DOTPROD] = {"NEON dotprod", "neon"},
    [KERNELS_AMX] = {"AMX + AVX-512 VNNI", "amx"},
};

const char *kernel_set_name(kernel_set s) {
    return (unsigned)s < KERNELS_COUNT ? sets[s].name : "unknown";
}

bool kernel_set_supported(const cpu_features *f, kernel_set s) {
    switch (s) {
    case KERNELS_SCALAR:
        return true;
    case KERNELS_AVX2:
#if defined(__x86_64__)
        return f->has_avx2 && f->has_fma && f->has_f16c;
#else
        return false;
#endif
    case KERNELS_AVX512:
#if defined(__x86_64__)
        return kernel_set_supported(f, KERNELS_AVX2) && f->has_avx512f && f->has_avx512bw &&
               f->has_avx512vl && f->has_avx512dq && f->has_avx512vnni;
#else
        return false;
#endif
    case KERNELS_AMX:
#if defined(__x86_64__)
        return kernel_set_supported(f, KERNELS_AVX512) && f->has_amx_tile && f->has_amx_int8;
#else
        return false;
#endif
    case KERNELS_NEON:
#if defined(__aarch64__)
        return f->has_neon;
#else
        return false;
#endif
    case KERNELS_NEON_DOTPROD:
#if defined(__aarch64__)
        return f->has_neon && f->has_dotprod;
#else
        return false;
#endif
    default:
        return false;
    }
}

static kernel_set best_set(const cpu_features *f) {
    static const kernel_set order[] = {KERNELS_AMX, KERNELS_AVX512, KERNELS_AVX2, KERNELS_NEON_DOTPROD,
                                       KERNELS_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (kernel_set_supported(f, order[i])) return order[i];
    return KERNELS_SCALAR;
}

kernel_set kernel_set_choose(const cpu_features *f, const char *request, char *warn,
                             size_t warn_len) {
    if (warn && warn_len) warn[0] = 0;
    kernel_set best = best_set(f);
    if (!request || !*request) return best;
    /* "neon" means the best NEON set, so look at the faster of the two first. */
    static const kernel_set by_request[] = {KERNELS_SCALAR, KERNELS_AVX2, KERNELS_AVX512,
                                            KERNELS_AMX, KERNELS_NEON_DOTPROD, KERNELS_NEON};
    bool known = false;
    for (size_t i = 0; i < sizeof by_request / sizeof by_request[0]; i++) {
        kernel_set s = by_request[i];
        if (strcasecmp(request, sets[s].request) != 0) continue;
        known = true;
        if (kernel_set_supported(f, s)) return s;
    }
    if (warn && warn_len) {
        if (known)
            snprintf(warn, warn_len, "GEMMA_KERNELS=%s: not supported by this CPU, using %s",
                     request, sets[best].name);
        else
            snprintf(warn, warn_len,
                     "GEMMA_KERNELS=%s: unknown (expected scalar, avx2, avx512, amx or neon), "
                     "using %s", request, sets[best].name);
    }
    return best;
}

void kernels_install(type_traits *t, kernel_set s) {
    switch (s) {
#if defined(__x86_64__)
    case KERNELS_AVX2:
        kernels_avx2_install(t);
        break;
    case KERNELS_AVX512:
    case KERNELS_AMX: /* the same vector kernels; matmul.c adds the tiles for prefill */
        kernels_avx2_install(t);
        kernels_avx512_install(t);
        break;
#endif
#if defined(__aarch64__)
    case KERNELS_NEON:
        kernels_neon_install(t);
        break;
    case KERNELS_NEON_DOTPROD:
        kernels_neon_dotprod_install(t);
        break;
#endif
    default:
        break;
    }
}

/* ---- elementwise kernels ---- */

void vec_kernels_install(vec_kernels *k, kernel_set s) {
    gelu_table_init();
    k->geglu = geglu_scalar;
    k->rmsnorm = rmsnorm_scalar;
    switch (s) {
#if defined(__x86_64__)
    case KERNELS_AVX2:
        kernels_avx2_vec_install(k);
        break;
    case KERNELS_AVX512:
    case KERNELS_AMX:
        kernels_avx2_vec_install(k);
        kernels_avx512_vec_install(k);
        break;
#endif
#if defined(__aarch64__)
    case KERNELS_NEON:
    case KERNELS_NEON_DOTPROD: /* no integer dots here: the same versions */
        kernels_neon_vec_install(k);
        break;
#endif
    default:
        break;
    }
}

static vec_kernels active_vec;
static pthread_once_t active_vec_once = PTHREAD_ONCE_INIT;

static void install_active_vec(void) { vec_kernels_install(&active_vec, kernel_set_active()); }

const vec_kernels *vec_kernels_active(void) {
    pthread_once(&active_vec_once, install_active_vec);
    return &active_vec;
}
