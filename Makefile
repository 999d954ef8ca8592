# gemma - build with `make`, test with `make test`, sanitizers with `make sanitize`.
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?=
BASEFLAGS = -std=c11 -Wall -Wextra -Werror -ffp-contract=off -D_POSIX_C_SOURCE=200809L \
            -D_DEFAULT_SOURCE -Iinclude -Isrc $(OPT) -g
LDLIBS  = -lm -lpthread
SOAK_TOKENS ?= 20000
BUILD   ?= build
BIN     ?= gemma

MACHINE := $(shell $(CC) -dumpmachine)
# Per-ISA kernel files get their own target flags; the rest of the binary stays portable
# and the fast path is chosen at run time (src/cpu.c).
ifneq (,$(findstring x86_64,$(MACHINE)))
ISA_FLAGS_avx2   = -mavx2 -mfma -mf16c
ISA_FLAGS_avx512 = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c -mavx2
ISA_FLAGS_amx    = $(ISA_FLAGS_avx512) -mamx-tile -mamx-int8 -mamx-bf16 -mprfchw
endif
ifneq (,$(findstring aarch64,$(MACHINE)))
ISA_FLAGS_neon   = -march=armv8.2-a+dotprod+fp16
endif

LIB_SRC  = $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC = $(wildcard tests/*.c)
TEST_OBJ = $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.o)
DEPS     = $(wildcard src/*.h include/*.h tests/*.h)

.PHONY: all test sanitize clean tools install uninstall demo
all: $(BIN) tools

# Developer tools (tools/*.c), each linked against the engine's library objects.
TOOLS = $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c))
tools: $(TOOLS)
$(BUILD)/%: tools/%.c $(LIB_OBJ) $(DEPS) | $(BUILD)/obj
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BIN): $(BUILD)/obj/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(BASEFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_runner: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(BASEFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c $(DEPS) | $(BUILD)/obj
	$(CC) $(BASEFLAGS) $(ISA_FLAGS_$(patsubst kernels_%,%,$*)) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c $(DEPS) | $(BUILD)/obj/tests
	$(CC) $(BASEFLAGS) $(CFLAGS) -c -o $@ $<

# test_mkmodel.c includes the generator itself (to run it in-process under the sanitizers)
$(BUILD)/obj/tests/test_mkmodel.o: tools/mkmodel.c

$(BUILD)/obj $(BUILD)/obj/tests:
	mkdir -p $@

# The test command README.md gives: unit + fixture suites, then the CLI checks.
test: $(BIN) $(BUILD)/test_runner $(TOOLS)
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

# `make install PREFIX=/usr/local` (DESTDIR for packaging): the binary and the man page.
PREFIX ?= /usr/local
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/gemma
	install -m 644 doc/gemma.1 $(DESTDIR)$(PREFIX)/share/man/man1/gemma.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/gemma $(DESTDIR)$(PREFIX)/share/man/man1/gemma.1

clean:
	rm -rf build build-san build-clang build-arm64 build-fuzz $(BIN)

# AArch64 cross build + NEON tests under qemu (make neon-test); libFuzzer targets (make fuzz)
-include mk/neon.mk
-include mk/fuzz.mk
# cppcheck with the checked-in configuration (make lint); valgrind on short runs (make memcheck)
-include mk/lint.mk
