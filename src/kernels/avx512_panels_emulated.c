/* avx512_panels_emulated.c - avx512_panels.c with the AVX-512 instructions emulated in C: part of the
 * "avx512-emu" kernel set (avx512_emulated.h). */
#include "avx512_emulated.h"
#include "avx512_panels.c"
