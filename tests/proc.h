/* proc.h - running the gemma binary the way a person or a shell pipeline meets it, for the
 * tests: on a pseudo-terminal (keys in, the screen out), or with stdout on a pipe read as it
 * arrives (each chunk with its arrival time).
 *
 * The screen text is what the terminal received with CR bytes and CSI sequences (colours,
 * cursor moves, bracketed-paste mode) taken out; the raw bytes are kept too. */
#ifndef GEMMA_TEST_PROC_H
#define GEMMA_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PTY_SCREEN_MAX (1 << 17)

typedef struct {
    int fd;                       /* the terminal's master side */
    pid_t pid;
    char raw[PTY_SCREEN_MAX];     /* every byte received */
    size_t raw_len;
    char screen[PTY_SCREEN_MAX];  /* the same without CR and CSI sequences */
    size_t len;
    int esc;                      /* inside an escape sequence: 1 after ESC, 2 in CSI */
} pty_session;

/* Start argv[0] with argv on a new pseudo-terminal (stdin, stdout; stderr too when
 * stderr_on_screen, else /dev/null) of 100 columns. env: "NAME=value" to set, "NAME" to
 * unset; NULL-terminated, may be NULL. */
bool pty_spawn(pty_session *p, char *const argv[], const char *const env[], bool stderr_on_screen);
/* Read until needle appears in the screen text at or after offset from, or timeout_ms;
 * returns its offset or -1. */
long pty_expect(pty_session *p, size_t from, const char *needle, int timeout_ms);
/* Read whatever comes for ms milliseconds. */
void pty_drain(pty_session *p, int ms);
void pty_send(pty_session *p, const char *keys);
/* Wait up to timeout_ms for the program to exit (reading its output meanwhile); returns
 * its wait status, or -1 after killing it. Closes the terminal. */
int pty_finish(pty_session *p, int timeout_ms);

/* A run with stdout on a pipe read as it arrives; stderr is collected; stdin /dev/null. */
typedef struct {
    double t_ms;   /* arrival time since start */
    size_t bytes;
} chunk;

typedef struct {
    chunk *chunks;
    int n_chunks;
    char *out, *err;          /* everything read (NUL-terminated) */
    size_t out_len, err_len;
    double total_ms;          /* start to exit */
    int status;               /* wait status */
} pipe_run;

/* Run argv; after max_out bytes of stdout (0: no limit) close the pipe, as `| head -c N`
 * does, and go on collecting stderr until the program exits. */
bool pipe_run_argv(pipe_run *r, char *const argv[], size_t max_out);
void pipe_run_free(pipe_run *r);

#endif
