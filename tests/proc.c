/* proc.c - child processes on a pseudo-terminal or a pipe, for the CLI tests (proc.h). */
#define _GNU_SOURCE
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void apply_env(const char *const env[]) {
    for (; env && *env; env++) {
        const char *eq = strchr(*env, '=');
        if (!eq) {
            unsetenv(*env);
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - *env), *env);
        setenv(name, eq + 1, 1);
    }
}

/* ---------------------------------------------------------------------------------------
 * Pseudo-terminal */

bool pty_spawn(pty_session *p, char *const argv[], const char *const env[], bool stderr_on_screen) {
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (p->fd < 0) return false;
    if (grantpt(p->fd) || unlockpt(p->fd)) {
        close(p->fd);
        return false;
    }
    struct winsize ws = {.ws_row = 24, .ws_col = 100};
    ioctl(p->fd, TIOCSWINSZ, &ws);
    char *slave = ptsname(p->fd);
    if (!slave) {
        close(p->fd);
        return false;
    }
    p->pid = fork();
    if (p->pid < 0) {
        close(p->fd);
        return false;
    }
    if (p->pid == 0) {
        setsid();
        int s = open(slave, O_RDWR);
        if (s < 0) _exit(126);
        ioctl(s, TIOCSCTTY, 0);
        dup2(s, 0);
        dup2(s, 1);
        if (stderr_on_screen) {
            dup2(s, 2);
        } else {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 2);
            close(null);
        }
        close(s);
        close(p->fd);
        apply_env(env);
        execv(argv[0], argv);
        _exit(127);
    }
    return true;
}

static void screen_byte(pty_session *p, char c) {
    if (p->raw_len < PTY_SCREEN_MAX - 1) p->raw[p->raw_len++] = c;
    p->raw[p->raw_len] = 0;
    if (p->esc == 1) {
        p->esc = c == '[' ? 2 : 0;
        return;
    }
    if (p->esc == 2) {
        if (c >= 0x40 && c <= 0x7E) p->esc = 0;
        return;
    }
    if (c == '\033') {
        p->esc = 1;
        return;
    }
    if (c == '\r') return;
    if (p->len < PTY_SCREEN_MAX - 1) p->screen[p->len++] = c;
    p->screen[p->len] = 0;
}

/* Read what is there within ms; false at the end of output. */
static bool pty_read(pty_session *p, int ms) {
    struct pollfd pf = {p->fd, POLLIN, 0};
    if (poll(&pf, 1, ms) <= 0) return true;
    char tmp[4096];
    ssize_t r = read(p->fd, tmp, sizeof tmp);
    if (r <= 0) return false;
    for (ssize_t i = 0; i < r; i++) screen_byte(p, tmp[i]);
    return true;
}

long pty_expect(pty_session *p, size_t from, const char *needle, int timeout_ms) {
    double end = now_ms() + timeout_ms;
    for (;;) {
        char *hit = from <= p->len ? strstr(p->screen + from, needle) : NULL;
        if (hit) return hit - p->screen;
        double left = end - now_ms();
        if (left <= 0 || !pty_read(p, (int)left)) return -1;
    }
}

void pty_drain(pty_session *p, int ms) {
    double end = now_ms() + ms;
    for (double left = ms; left > 0; left = end - now_ms())
        if (!pty_read(p, (int)left)) break;
}

void pty_send(pty_session *p, const char *keys) {
    size_t n = strlen(keys);
    while (n > 0) {
        ssize_t w = write(p->fd, keys, n);
        if (w <= 0) return;
        keys += w;
        n -= (size_t)w;
    }
}

int pty_finish(pty_session *p, int timeout_ms) {
    int status = -1;
    double end = now_ms() + timeout_ms;
    while (p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == 0) {
        if (now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            status = -1;
            break;
        }
        if (!pty_read(p, 20)) usleep(10000);
    }
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    p->pid = -1;
    return status;
}

/* ---------------------------------------------------------------------------------------
 * Pipes */

static void append(char **buf, size_t *len, const char *s, size_t n) {
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb) return;
    *buf = nb;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

bool pipe_run_argv(pipe_run *r, char *const argv[], size_t max_out) {
    memset(r, 0, sizeof *r);
    int out[2], err[2];
    if (pipe(out) || pipe(err)) return false;
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(null);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    struct pollfd pf[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int cap = 0;
    while (pf[0].fd >= 0 || pf[1].fd >= 0) {
        if (now_ms() - t0 > 600000) { /* ten minutes: something hangs */
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pf, 2, 1000) <= 0) continue;
        char tmp[8192];
        for (int k = 0; k < 2; k++) {
            if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(pf[k].fd, tmp, sizeof tmp);
            if (n <= 0) {
                close(pf[k].fd);
                pf[k].fd = -1;
                continue;
            }
            if (k == 1) {
                append(&r->err, &r->err_len, tmp, (size_t)n);
                continue;
            }
            if (r->n_chunks == cap) {
                cap = cap ? 2 * cap : 64;
                chunk *nc = realloc(r->chunks, (size_t)cap * sizeof *nc);
                if (!nc) continue;
                r->chunks = nc;
            }
            r->chunks[r->n_chunks++] = (chunk){now_ms() - t0, (size_t)n};
            append(&r->out, &r->out_len, tmp, (size_t)n);
            if (max_out && r->out_len >= max_out) { /* the reader goes away */
                close(pf[0].fd);
                pf[0].fd = -1;
            }
        }
    }
    waitpid(pid, &r->status, 0);
    r->total_ms = now_ms() - t0;
    if (!r->out) append(&r->out, &r->out_len, "", 0);
    if (!r->err) append(&r->err, &r->err_len, "", 0);
    return true;
}

void pipe_run_free(pipe_run *r) {
    free(r->chunks);
    free(r->out);
    free(r->err);
}
