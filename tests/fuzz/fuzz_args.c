/* fuzz_args.c - libFuzzer harness: arbitrary command lines through the `gemma` CLI.
 *
 * The input is split on NUL bytes into at most MAX_ARGS arguments, and `-m
 * /nonexistent.gguf` is appended, so whatever the options say, no model is ever loaded and
 * no output file is written: every command line ends in a usage error (2), a model error
 * (3), an I/O error (4) or, for --help/--version, success (0). Any other exit code, a crash
 * or a sanitizer report is a finding.
 *
 * The CLI is cli/main.c compiled with -Dmain=gemma_cli_main (mk/fuzz.mk), called in
 * process: the binary is linked with -Wl,--wrap=exit, and __wrap_exit() below returns to
 * the harness with longjmp while an input runs (exit() elsewhere, e.g. libFuzzer's own, is
 * passed through). Memory the CLI leaves behind when it "exits" is not a leak, so leak
 * detection is off (__asan_default_options below, and -detect_leaks=0 in run.sh). Arguments containing '/' are rewritten to '_', so files named by options
 * are relative to the working directory: run it in an empty scratch directory
 * (tests/fuzz/run.sh does). stdin is /dev/null, stdout is discarded. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ARGS 16
#define MAX_ARG_BYTES 256

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int gemma_cli_main(int argc, char **argv);
const char *__asan_default_options(void);
void __real_exit(int code) __attribute__((noreturn));
void __wrap_exit(int code) __attribute__((noreturn));

static jmp_buf cli_return;
static volatile bool in_cli;
static volatile int cli_code;

void __wrap_exit(int code) {
    if (in_cli) {
        cli_code = code;
        in_cli = false;
        longjmp(cli_return, 1);
    }
    __real_exit(code);
}

const char *__asan_default_options(void) { return "detect_leaks=0"; }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0) {
        perror("fuzz_args: /dev/null");
        abort();
    }
    if (fd > STDOUT_FILENO) close(fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char buf[MAX_ARGS][MAX_ARG_BYTES];
    static char model_opt[] = "-m", model_path[] = "/nonexistent.gguf", prog[] = "gemma";
    char *argv[MAX_ARGS + 4];
    int argc = 0;
    argv[argc++] = prog;
    for (size_t i = 0; i < size && argc <= MAX_ARGS;) {
        size_t end = i;
        while (end < size && data[end] != 0) end++;
        size_t n = end - i < MAX_ARG_BYTES - 1 ? end - i : MAX_ARG_BYTES - 1;
        char *a = buf[argc - 1];
        memcpy(a, data + i, n);
        a[n] = 0;
        for (size_t k = 0; k < n; k++)
            if (a[k] == '/') a[k] = '_';
        argv[argc++] = a;
        i = end + 1;
    }
    argv[argc++] = model_opt;
    argv[argc++] = model_path;
    argv[argc] = NULL;

    log_enabled = true;
    clearerr(stdin);
    in_cli = true;
    int code;
    if (setjmp(cli_return) == 0) {
        code = gemma_cli_main(argc, argv);
        in_cli = false;
    } else {
        code = cli_code;
    }
    fflush(stdout);
    if (code != 0 && code != EXIT_USAGE && code != EXIT_MODEL && code != EXIT_IO) {
        fprintf(stderr, "fuzz_args: exit code %d for:", code);
        for (int i = 1; i < argc; i++) fprintf(stderr, " '%s'", argv[i]);
        fprintf(stderr, "\n");
        abort();
    }
    return 0;
}
