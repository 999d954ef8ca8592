/* avx512_emulated.h - included first by the AVX-512 set's emulated twins (avx512_emulated.c,
 * avx512_panels_emulated.c, avx512_float_panels_emulated.c, avx512_bf16_emulated.c): each
 * compiles its AVX-512 file once more with the instructions emulated in C (avx512_intrin.h,
 * avx512_emu.h) and its installer renamed, so both builds link into one binary. Together
 * they are the "avx512-emu" kernel set (dispatch.h): the AVX-512 code paths on any x86-64
 * CPU with AVX2, for tests and GEMMA_KERNELS=avx512-emu. */
#define AVX512_EMULATED 1
#define kernels_avx512_install kernels_avx512_emulated_install
#define kernels_avx512_panels_install kernels_avx512_panels_emulated_install
#define kernels_avx512_float_panels_install kernels_avx512_float_panels_emulated_install
#define kernels_avx512_bf16_install kernels_avx512_bf16_emulated_install
/* The kernels' helpers are forced inline for speed; emulated, that only multiplies the
 * code (13x, minutes of compiling): the compiler chooses. */
#define INLINE inline
