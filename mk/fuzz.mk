# mk/fuzz.mk - libFuzzer harnesses (tests/fuzz/), included by the Makefile.
#
#   make fuzz                  build and run every harness for FUZZ_TIME seconds each, FUZZ_JOBS
#                              (default 2) at a time, each harness's lines printed together
#   make fuzz FUZZ_TIME=600    longer run
#   make fuzz-build            only build build-fuzz/fuzz_{gguf,tokenizer,args,grammar,json,http}
#   make fuzz-seeds            regenerate the committed hand-made GGUF seeds
#   make fuzz-clean            remove build-fuzz/ (binaries, working corpora, artifacts)
#
# Needs clang with libFuzzer (Debian: libclang-rt-14-dev). Each run works on a copy of the
# corpus under build-fuzz/corpus/NAME (committed seeds + fixtures from FUZZ_FIXTURES) and
# fails on the first finding; the reproducer is left in build-fuzz/artifacts/NAME/.
# Leave the including Makefile's default goal alone, wherever this file is included.
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)
FUZZ_CC       ?= clang
FUZZ_BUILD    ?= build-fuzz
FUZZ_TIME     ?= 60
FUZZ_FIXTURES ?= tests/fixtures
FUZZ_NAMES    ?= gguf tokenizer args grammar json http
FUZZ_JOBS     ?= 2
FUZZ_SAN       = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_BASE_CFLAGS = -std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc -Icli
FUZZ_CFLAGS    = $(FUZZ_BASE_CFLAGS) $(FUZZ_SAN)
FUZZ_LIB_OBJ   = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(wildcard src/*.c src/kernels/*.c) \
                   $(filter-out cli/main.c,$(wildcard cli/*.c))) $(FUZZ_BUILD)/obj/gen/serve_page.o
FUZZ_DEPS      = $(wildcard src/*.h src/kernels/*.h cli/*.h include/*.h)
FUZZ_BINS      = $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-seeds fuzz-clean
fuzz-build: $(FUZZ_BINS)

# A harness is one process on one core, so two cores run two for the same FUZZ_TIME each.
# xargs exits non-zero if any run does.
fuzz: $(FUZZ_BINS) fixtures
	@printf '%s\n' $(FUZZ_NAMES) | xargs -P $(FUZZ_JOBS) -I{} sh -c \
	    'sh tests/fuzz/run.sh {} $(FUZZ_TIME) $(FUZZ_BUILD) $(FUZZ_FIXTURES) > $(FUZZ_BUILD)/{}.out 2>&1; \
	     rc=$$?; cat $(FUZZ_BUILD)/{}.out; exit $$rc'

# Library objects: coverage-instrumented (no libFuzzer main), the ISA kernel files with
# their target flags as in the Makefile. The numeric kernels (dot products, dequantization,
# matmul tiling) are left without coverage instrumentation: their loops branch on sizes, not
# on the file's structure, and tracing every comparison in them made an evaluation 10x
# slower. The kernel files (src/kernels/) are also built without the sanitizers: clang 14's
# ASan on the unrolled AVX-512 panel kernels took over 10 minutes for one file (7 s without),
# most of CI's fuzzing step. Their callers (matmul.c, forward.c, the loader), which compute
# every pointer and size a kernel gets, stay under ASan and UBSan, and `make sanitize` runs
# the kernels themselves under both on the whole suite.
FUZZ_NOCOV = src/kernels/% src/matmul
FUZZ_NOSAN = src/kernels/%
fuzz_cov = $(if $(filter $(FUZZ_NOCOV),$(1)),,-fsanitize=fuzzer-no-link)
fuzz_san = $(if $(filter $(FUZZ_NOSAN),$(1)),,$(FUZZ_SAN))
$(FUZZ_BUILD)/obj/%.o: %.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_BASE_CFLAGS) $(call fuzz_san,$*) $(call fuzz_cov,$*) $(call isa_flags,$<) -c -o $@ $<

# The server's chat page, embedded as in the Makefile.
$(FUZZ_BUILD)/gen/serve_page.c: cli/serve_page.html
	$(call embed_page,$<,$@)
$(FUZZ_BUILD)/obj/gen/serve_page.o: $(FUZZ_BUILD)/gen/serve_page.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

# amx_emulated.c is amx.c compiled once more (the tiles emulated); the *_emulated.c twins of
# the AVX-512 files compile those files again (their instructions emulated).
$(FUZZ_BUILD)/obj/src/kernels/amx_emulated.o: src/kernels/amx.c
$(FUZZ_BUILD)/obj/src/kernels/amx_avx512_emulated.o: src/kernels/amx.c
$(FUZZ_BUILD)/obj/src/kernels/avx512_emulated.o: src/kernels/avx512.c
$(FUZZ_BUILD)/obj/src/kernels/avx512_panels_emulated.o: src/kernels/avx512_panels.c
$(FUZZ_BUILD)/obj/src/kernels/avx512_float_panels_emulated.o: src/kernels/avx512_float_panels.c
$(FUZZ_BUILD)/obj/src/kernels/avx512_bf16_emulated.o: src/kernels/avx512_bf16.c

# The CLI's main() under another name, so fuzz_args can call it (libFuzzer owns main).
$(FUZZ_BUILD)/obj/cli_main.o: cli/main.c $(FUZZ_DEPS) | $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Dmain=gemma_cli_main -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ) $(FUZZ_DEPS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) -lm -lpthread

# exit() is wrapped so the CLI's usage errors return to the harness instead of ending it.
$(FUZZ_BUILD)/fuzz_args: tests/fuzz/fuzz_args.c $(FUZZ_BUILD)/obj/cli_main.o $(FUZZ_LIB_OBJ) $(FUZZ_DEPS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer -Wl,--wrap=exit -o $@ $< \
	    $(FUZZ_BUILD)/obj/cli_main.o $(FUZZ_LIB_OBJ) -lm -lpthread

$(FUZZ_BUILD)/mkseeds: tests/fuzz/mkseeds.c $(FUZZ_LIB_OBJ) $(FUZZ_DEPS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer-no-link -o $@ $< $(FUZZ_LIB_OBJ) -lm -lpthread

fuzz-seeds: $(FUZZ_BUILD)/mkseeds
	$(FUZZ_BUILD)/mkseeds tests/fuzz/corpus/gguf

$(FUZZ_BUILD)/obj:
	mkdir -p $@

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
