/* amx_emulated.c - the AMX kernel set's tile kernels (amx.c) compiled a second time, with
 * the tile instructions emulated in exact C (amx_ops.h) and everything else as in amx.c:
 * the "amx-emu" kernel set (dispatch.h), which runs the AMX code paths on any CPU with the
 * AVX-512 set. Slow (the tiles are loops); for tests, and GEMMA_KERNELS=amx-emu. */
#define AMX_EMULATED 1
#include "amx.c"
