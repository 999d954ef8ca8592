/* cpu.h - what this CPU (and its operating system) can run.
 *
 * The binary is portable: only the ISA files in src/kernels/ are compiled with ISA flags, and
 * their functions are called only after cpu_get() reports the instructions AND the operating
 * system's support for the register state they use (x86: XCR0 via xgetbv for YMM / ZMM /
 * AMX tiles; AArch64: the kernel's HWCAP bits). Which kernel set runs is dispatch.h's
 * business. */
#ifndef GEMMA_CPU_H
#define GEMMA_CPU_H

#include <stdbool.h>

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

#endif
