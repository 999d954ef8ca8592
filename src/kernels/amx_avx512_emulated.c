/* amx_avx512_emulated.c - amx.c with its tile instructions (amx_ops.h) and its AVX-512 ones
 * (avx512_emu.h) both emulated in C: the "amx-emu" kernel set on CPUs without AVX-512, over
 * the emulated AVX-512 set (avx512_emulated.h), so the AMX code paths are tested on any
 * x86-64 CPU with AVX2. */
#define AMX_EMULATED 1
#include "avx512_emulated.h"
#define kernels_amx_emulated_install kernels_amx_avx512_emulated_install
#include "amx.c"
