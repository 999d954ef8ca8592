/* avx512_intrin.h - what the AVX-512 kernel files (avx512*.c) are written in: the compiler's
 * intrinsics, built with the files' -mavx512* flags; or, when a file is compiled as part of
 * the emulated set (its *_emulated.c twin defines AVX512_EMULATED), the same names emulated
 * exactly in C over AVX2 (avx512_emu.h), so the "avx512-emu" set runs the AVX-512 code paths
 * on any x86-64 CPU with AVX2 and they are tested there.
 *
 *   avx512_keep(v)        a register barrier: v is complete here (the compiler may not
 *                         move its computation past this point)
 *   avx512_has_bf16()     whether the BF16 instructions (vdpbf16ps) may run: the CPU's
 *                         flag, or always when emulated */
#ifndef GEMMA_AVX512_INTRIN_H
#define GEMMA_AVX512_INTRIN_H

#include <immintrin.h>
#include <stdbool.h>

#include "cpu.h"

#if defined(AVX512_EMULATED)
#include "avx512_emu.h"
#define avx512_keep(v) __asm__("" : "+m"(v))
#define avx512_has_bf16() true
#else
#define avx512_keep(v) __asm__("" : "+v"(v))
#define avx512_has_bf16() (cpu_get()->has_avx512bf16)
#endif

#endif
