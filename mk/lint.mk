# mk/lint.mk - static analysis and a memory check, both for CI (included by the Makefile;
# also usable alone: make -f Makefile -f mk/lint.mk lint).
#
#   make lint       cppcheck over src/ cli/ tools/ tests/ with the checked-in configuration (the
#                   flags below and .cppcheck-suppressions); fails on any finding
#   make memcheck   valgrind memcheck on short generations and a tokenization with the
#                   normal build (no sanitizers); fails on any error or definite leak
#
# Needs (Debian): cppcheck (written against 2.10), valgrind.
ifndef LINT_MK_INCLUDED
LINT_MK_INCLUDED := 1
# Wherever the Makefile includes this file, its own first target stays the default goal.
LINT_SAVED_GOAL := $(.DEFAULT_GOAL)

CPPCHECK ?= cppcheck
VALGRIND ?= valgrind
LINT_FIXTURES ?= tests/fixtures

# `information` is on for unmatchedSuppression: a suppression that no longer matches fails the
# lint. cppcheck 2.10 ignores C11's _Noreturn, so die() is spelled in a way it knows;
# otherwise every `if (!p) die(...)` reads to it as "p may be NULL below".
CPPCHECK_FLAGS = --std=c11 --library=posix --enable=warning,portability,performance,information \
                 --inline-suppr --suppressions-list=.cppcheck-suppressions --error-exitcode=1 -q \
                 -Iinclude -Isrc -Icli -D__linux__ -D__GNUC__ '-D_Noreturn=__attribute__((noreturn))'
LINT_SRC      = $(wildcard src/*.c src/kernels/*.c cli/*.c tools/*.c tests/*.c)
# Files with AArch64-only code, checked again as AArch64 with and without the dot-product
# extension (their x86-64 pass sees none of it).
LINT_ARM_SRC  = $(shell grep -l '__aarch64__' $(LINT_SRC))

.PHONY: lint memcheck lint-tool lint-x86 lint-arm-dotprod lint-arm
# Three passes, one process each (make -j2 lint runs two at once). Not cppcheck -j: it turns
# off the whole-program checks, whose suppressions then read as unmatched.
lint: lint-x86 lint-arm-dotprod lint-arm
	@echo "make lint: no findings"
lint-tool:
	@command -v $(CPPCHECK) >/dev/null || { echo "make lint: needs $(CPPCHECK)" >&2; exit 1; }
lint-x86: lint-tool
	$(CPPCHECK) $(CPPCHECK_FLAGS) -D__x86_64__ $(LINT_SRC)
lint-arm-dotprod: lint-tool
	$(CPPCHECK) $(CPPCHECK_FLAGS) --suppress=unmatchedSuppression -D__aarch64__ \
	    -D__ARM_FEATURE_DOTPROD $(LINT_ARM_SRC)
lint-arm: lint-tool
	$(CPPCHECK) $(CPPCHECK_FLAGS) --suppress=unmatchedSuppression -D__aarch64__ $(LINT_ARM_SRC)

# Leaks count as errors only when definite or indirect: "still reachable" blocks at exit are
# not bugs. valgrind 3.19 does not decode AVX-512, but it also hides AVX-512 from CPUID, so
# the run-time dispatch (src/kernels/cpu.c) picks the AVX2 kernels under it by itself; the banner on
# stderr names the kernel set used. Generation reads a non-terminal stdin as part of the
# prompt, hence </dev/null.
MEMCHECK = $(VALGRIND) -q --error-exitcode=1 --leak-check=full \
           --errors-for-leak-kinds=definite,indirect --track-origins=yes
memcheck: $(BIN) fixtures
	@command -v $(VALGRIND) >/dev/null || { echo "make memcheck: needs $(VALGRIND)" >&2; exit 1; }
	$(MEMCHECK) ./$(BIN) -m $(LINT_FIXTURES)/models/gemma3-q8_0.gguf -p hello -n 8 --temp 0 -t 2 </dev/null
	$(MEMCHECK) ./$(BIN) -m $(LINT_FIXTURES)/models/gemma4-moe-q8_0.gguf -p hello -n 8 --temp 0 -t 2 </dev/null
	$(MEMCHECK) ./$(BIN) -m $(LINT_FIXTURES)/models/gemma4-moe-q8_0.gguf -p hello -n 8 \
	    --temp 0.8 --seed 1 --repeat-penalty 1.1 -t 2 </dev/null
	$(MEMCHECK) ./$(BIN) tokenize -m $(LINT_FIXTURES)/tokenizer/gemma-4.gguf \
	    -f $(LINT_FIXTURES)/tokenizer/gemma-4.inp >/dev/null
	@echo "make memcheck: clean"

.DEFAULT_GOAL := $(LINT_SAVED_GOAL)
endif
