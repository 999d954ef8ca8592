# gemma - build with `make`, test with `make test`, sanitizers with `make sanitize`.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?=
BASEFLAGS = -std=c11 -Wall -Wextra -Werror -ffp-contract=off -D_POSIX_C_SOURCE=200809L \
            -D_DEFAULT_SOURCE -Iinclude $(OPT) -g
LDLIBS  = -lm -lpthread
SOAK_TOKENS ?= 6000
BUILD   ?= build
BIN     ?= gemma

MACHINE := $(shell $(CC) -dumpmachine)
# The ISA kernel files (src/kernels/avx2.c, ...) get their own target flags; the rest of the
# binary stays portable and the fast path is chosen at run time (src/kernels/cpu.c).
ifneq (,$(findstring x86_64,$(MACHINE)))
ISA_FLAGS_avx2   = -mavx2 -mfma -mf16c
ISA_FLAGS_avx2_panels = $(ISA_FLAGS_avx2)
ISA_FLAGS_avx2_float_panels = $(ISA_FLAGS_avx2)
ISA_FLAGS_avx512 = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c -mavx2
ISA_FLAGS_avx512_panels = $(ISA_FLAGS_avx512)
ISA_FLAGS_avx512_float_panels = $(ISA_FLAGS_avx512) -mavx512bf16
ISA_FLAGS_avx512_bf16 = $(ISA_FLAGS_avx512) -mavx512bf16
ISA_FLAGS_amx    = $(ISA_FLAGS_avx512) -mamx-tile -mamx-int8 -mamx-bf16 -mprfchw
# amx.c again, with the tile instructions emulated in C (src/kernels/amx_ops.h)
ISA_FLAGS_amx_emulated = $(ISA_FLAGS_avx512)
# the AVX-512 files again, their AVX-512 instructions emulated in C over AVX2
# (src/kernels/avx512_emu.h). -Wno-psabi: 64-byte vectors pass by value without AVX-512 (the
# calls stay inside the file); -Wno-maybe-uninitialized: the accumulator arrays the kernels
# fill for their first na rows only, which GCC cannot follow through the emulated calls
ISA_FLAGS_avx512_emu = $(ISA_FLAGS_avx2) -Wno-psabi -Wno-maybe-uninitialized
ISA_FLAGS_avx512_emulated = $(ISA_FLAGS_avx512_emu)
ISA_FLAGS_avx512_panels_emulated = $(ISA_FLAGS_avx512_emu)
ISA_FLAGS_avx512_float_panels_emulated = $(ISA_FLAGS_avx512_emu)
ISA_FLAGS_avx512_bf16_emulated = $(ISA_FLAGS_avx512_emu)
ISA_FLAGS_amx_avx512_emulated = $(ISA_FLAGS_avx512_emu)
endif
ifneq (,$(findstring aarch64,$(MACHINE)))
ISA_FLAGS_neon   = -march=armv8.2-a+dotprod+fp16
ISA_FLAGS_neon_panels = $(ISA_FLAGS_neon)
endif
isa_flags = $(if $(findstring /kernels/,$(1)),$(ISA_FLAGS_$(basename $(notdir $(1)))))

# Which headers a layer sees: the CLI only include/ (the public API), so an engine header
# included from cli/ fails to compile; of it, only the two file-format tools (info, quantize)
# also see src/ for the GGUF and block-format headers. Everything else sees src/.
CLI_FORMAT_TOOLS = cli/info.c cli/quantize.c
inc_flags = $(if $(filter cli/%,$(1)),$(if $(filter $(CLI_FORMAT_TOOLS),$(1)),-Isrc),-Isrc)

# The layers: src/ the engine (src/kernels/ what knows an ISA or a block format) built as a
# library; cli/ the command line on top of it; tools/ and tests/ link against both.
LIB_SRC  = $(wildcard src/*.c src/kernels/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      = $(BUILD)/libgemma.a
CLI_SRC  = $(filter-out cli/main.c,$(wildcard cli/*.c))
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/serve_page.o
TEST_SRC = $(wildcard tests/*.c)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all test sanitize clean tools install uninstall demo
all: $(BIN) tools

$(LIB): $(LIB_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

# Developer tools (tools/*.c), each linked against the engine's library.
TOOLS = $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c))
tools: $(TOOLS)
$(BUILD)/%: tools/%.c $(LIB) | $(BUILD)/obj
	$(CC) $(BASEFLAGS) -Isrc $(CFLAGS) -MMD -MP -MF $(BUILD)/obj/tools-$*.d -o $@ $< $(LIB) $(LDLIBS)

$(BIN): $(BUILD)/obj/cli/main.o $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(BASEFLAGS) -o $@ $^ $(LDLIBS)

# The tests call the CLI's subcommands in-process too (cmd_quantize, ...).
$(BUILD)/test_runner: $(TEST_OBJ) $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(BASEFLAGS) -o $@ $^ $(LDLIBS)

# The server's chat page (cli/serve_page.html) as a C array, made with od and sed (POSIX):
# serve_page[] and serve_page_len, NUL-terminated.
define embed_page
	@mkdir -p $(dir $(2))
	{ echo '/* generated from $(1) by the Makefile: do not edit */'; \
	  echo 'const char serve_page[] = {'; \
	  od -An -v -tx1 $(1) | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0};'; echo 'const unsigned long serve_page_len = sizeof serve_page - 1;'; } > $(2).tmp
	mv $(2).tmp $(2)
endef
$(BUILD)/gen/serve_page.c: cli/serve_page.html
	$(call embed_page,$<,$@)
$(BUILD)/obj/gen/serve_page.o: $(BUILD)/gen/serve_page.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -c -o $@ $<

# Header dependencies come from the compiler (-MMD -MP): a header change rebuilds only the
# objects that include it.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(call inc_flags,$<) $(call isa_flags,$<) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/tests/%.o: override BASEFLAGS += -Icli

$(BUILD)/obj:
	mkdir -p $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The three largest fixtures, real vocabularies of 6-25 MB, are not kept in git: they are
# copied from the project's shared fixtures beside the checkout, byte for byte (which
# tests/test_fixture_copy.sh checks, with every other fixture).
FIXTURES_ORIGINAL ?= ../shared/fixtures
LARGE_FIXTURES := tests/fixtures/tokenizer/gemma-3.gguf tests/fixtures/tokenizer/gemma-4.gguf \
                  tests/fixtures/models/gemma4-vocab-e2e.gguf
.PHONY: fixtures
fixtures: $(LARGE_FIXTURES)
$(LARGE_FIXTURES): tests/fixtures/%:
	@if [ -f $(FIXTURES_ORIGINAL)/$* ]; then cp $(FIXTURES_ORIGINAL)/$* $@ && echo "copied $@ from $(FIXTURES_ORIGINAL)"; \
	else echo "$@: not in the checkout, and no $(FIXTURES_ORIGINAL)/$* to copy it from (set FIXTURES_ORIGINAL to the shared fixtures)" >&2; exit 1; fi

# The test command README.md gives: unit + fixture suites, then the CLI checks.
test: $(BIN) $(BUILD)/test_runner $(TOOLS) $(LARGE_FIXTURES)
	GEMMA_BIN=./$(BIN) TEST_RUNNER=$(BUILD)/test_runner SOAK_TOKENS=$(SOAK_TOKENS) sh tests/run.sh

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build dir.
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
sanitize:
	$(MAKE) BUILD=build-san BIN=build-san/gemma OPT=-O1 CFLAGS="$(SANFLAGS)" SOAK_TOKENS=3000 test

# No download needed: a random-weight model of Gemma 3 270M's real shape, one prompt and a
# short benchmark. The weights are random, so the text is gibberish; the speed is real.
DEMO_MODEL = models/demo-gemma3-270m-RANDOM-WEIGHTS-Q4_0.gguf
demo: $(BIN) tools
	@test -f $(DEMO_MODEL) || $(BUILD)/mkmodel --preset gemma3-270m --type Q4_0 -o $(DEMO_MODEL)
	@echo "== gemma on $(DEMO_MODEL): RANDOM WEIGHTS, so expect gibberish text =="
	./$(BIN) -m $(DEMO_MODEL) -p "Why is the sky blue?" -n 32 --temp 0.7 --seed 1
	@echo "== gemma bench (real speed on this machine) =="
	./$(BIN) bench -m $(DEMO_MODEL) -p 64 -n 16 -r 2

# `make install PREFIX=/usr/local` (DESTDIR for packaging): the binary, the man page and the
# bash completion.
PREFIX ?= /usr/local
# The bash completion comes from the binary itself (gemma --completion-bash), so it always
# knows the options of the binary it completes.
BASH_COMPLETION_DIR = $(PREFIX)/share/bash-completion/completions
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(BASH_COMPLETION_DIR)
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/gemma
	install -m 644 doc/gemma.1 $(DESTDIR)$(PREFIX)/share/man/man1/gemma.1
	./$(BIN) --completion-bash > $(DESTDIR)$(BASH_COMPLETION_DIR)/gemma
	chmod 644 $(DESTDIR)$(BASH_COMPLETION_DIR)/gemma

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/gemma $(DESTDIR)$(PREFIX)/share/man/man1/gemma.1 \
	    $(DESTDIR)$(BASH_COMPLETION_DIR)/gemma

clean:
	rm -rf build build-san build-clang build-arm64 build-fuzz $(BIN)

# AArch64 cross build + NEON tests under qemu (make neon-test); libFuzzer targets (make fuzz)
-include mk/neon.mk
-include mk/fuzz.mk
# cppcheck with the checked-in configuration (make lint); valgrind on short runs (make memcheck)
-include mk/lint.mk
