/* main.c - the `gemma` program: signal dispositions, then the subcommand (commands.c). */
#include <signal.h>
#include <unistd.h>

#include "cli.h"

/* The model is mmap'd: if the file is truncated or replaced while we run, touching a page
 * past its new end raises SIGBUS. Report it instead of dying silently (async-signal-safe). */
static void on_sigbus(int sig) {
    (void)sig;
    static const char msg[] = "gemma: error: the model file was truncated or changed while in use (SIGBUS)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(EXIT_MODEL);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN); /* a closed stdout becomes EPIPE, handled in out_write */
    signal(SIGBUS, on_sigbus);
    return run_command(argc, argv);
}
