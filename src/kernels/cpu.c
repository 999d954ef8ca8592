/* cpu.c - CPU feature detection (see cpu.h).
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
