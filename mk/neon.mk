# mk/neon.mk - the AArch64 build, run under qemu-user on an x86-64 machine (included by the
# Makefile; also usable alone: make -f Makefile -f mk/neon.mk neon-test).
#
#   make neon-build   cross-compile ./gemma and the test runner into build-arm64/ (static,
#                     so qemu-aarch64 needs no sysroot)
#   make neon-test    tests/test_neon.sh: neon-build, the NEON kernels checked with objdump,
#                     then the kernel, quant and fixture suites under qemu-aarch64 on a
#                     dotprod CPU (-cpu max) and on a baseline ARMv8.0 one (-cpu cortex-a72);
#                     fails on any failure
#
# Needs (Debian): gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross
# qemu-user.
ifndef NEON_MK_INCLUDED
NEON_MK_INCLUDED := 1
# Wherever the Makefile includes this file, its own first target stays the default goal.
NEON_SAVED_GOAL := $(.DEFAULT_GOAL)

NEON_CC      ?= aarch64-linux-gnu-gcc
NEON_OBJDUMP ?= aarch64-linux-gnu-objdump
NEON_QEMU    ?= qemu-aarch64
NEON_BUILD   ?= build-arm64

.PHONY: neon-build neon-test
neon-build:
	$(MAKE) -f Makefile -f mk/neon.mk CC=$(NEON_CC) BUILD=$(NEON_BUILD) \
	    BIN=$(NEON_BUILD)/gemma CFLAGS=-static $(NEON_BUILD)/gemma $(NEON_BUILD)/test_runner

neon-test: fixtures
	NEON_BUILD=$(NEON_BUILD) NEON_QEMU=$(NEON_QEMU) NEON_OBJDUMP=$(NEON_OBJDUMP) \
	    MAKE="$(MAKE)" sh tests/test_neon.sh

# Debian 12's aarch64 GCC 12.2 stops with an internal compiler error (vect_transform_reduction)
# on a loop that holds both an integer sum of int8 values and an fmaxf reduction, as
# tests/test_quants.c does; loop vectorization of the test files is not worth that.
$(NEON_BUILD)/obj/tests/%.o: override CFLAGS += -fno-tree-loop-vectorize

.DEFAULT_GOAL := $(NEON_SAVED_GOAL)
endif
