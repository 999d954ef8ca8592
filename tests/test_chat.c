/* test_chat.c - chat formatting (exact turn strings) and the interactive chat driven
 * through a pseudo-terminal: two turns, no CPU burnt while it waits for input, /clear,
 * Ctrl-C during an answer, Ctrl-D. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gemma.h"
#include "test.h"

static void check_turn(const char *what, gemma_chat_format f, const char *sys, const char *user,
                       bool first, bool think, const char *want) {
    TEST_BEGIN("chat: %s", what);
    char *got = gemma_chat_turn(f, sys, user, first, think);
    EXPECT(!strcmp(got, want), "got  '%s'\n    want '%s'", got, want);
    free(got);
    TEST_END();
}

static void turn_formats(void) {
    check_turn("Gemma 1-3 first turn", GEMMA_CHAT_GEMMA, NULL, " Hi there \n", true, false,
               "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n");
    check_turn("Gemma 1-3 system prompt folded into the first user turn", GEMMA_CHAT_GEMMA,
               "Be brief.", "Hi", true, false,
               "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
    check_turn("Gemma 1-3 later turn closes the previous answer", GEMMA_CHAT_GEMMA, "ignored", "Next",
               false, false, "<end_of_turn>\n<start_of_turn>user\nNext<end_of_turn>\n<start_of_turn>model\n");
    check_turn("Gemma 4 first turn, no system, thinking off (empty thought pre-filled)",
               GEMMA_CHAT_GEMMA4, NULL, "Hello", true, false,
               "<|turn>user\nHello<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
    check_turn("Gemma 4 system turn", GEMMA_CHAT_GEMMA4, "You are helpful.", "Hi", true, false,
               "<|turn>system\nYou are helpful.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
    check_turn("Gemma 4 thinking on", GEMMA_CHAT_GEMMA4, NULL, "Why?", true, true,
               "<|turn>system\n<|think|><turn|>\n<|turn>user\nWhy?<turn|>\n<|turn>model\n");
    check_turn("Gemma 4 later turn", GEMMA_CHAT_GEMMA4, NULL, "More", false, false,
               "<turn|>\n<|turn>user\nMore<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");

    /* the Gemma 4 worked example of doc/tokenizer.md#worked-example tokenizes as documented */
    TEST_BEGIN("chat: Gemma 4 turn tokenizes to the documented ids");
    char err[GEMMA_ERR_LEN];
    gemma_model *m = gemma_vocab_load(fixture_path("tokenizer/gemma-4.gguf"), err);
    EXPECT(m != NULL, "%s", err);
    if (m) {
        char *t = gemma_chat_turn(GEMMA_CHAT_GEMMA4, NULL, "Hello", true, false);
        int n;
        int32_t *ids = gemma_tokenize(m, t, strlen(t), true, true, &n);
        const int32_t want[] = {2, 105, 2364, 107, 9259, 106, 107, 105, 4368, 107, 100, 45518, 107, 101};
        EXPECT(n == 14, "%d ids", n);
        for (int i = 0; i < n && i < 14; i++) EXPECT(ids[i] == want[i], "id %d: %d, want %d", i, ids[i], want[i]);
        free(ids);
        free(t);
        gemma_model_free(m);
    }
    TEST_END();

    TEST_BEGIN("chat: formats detected from the fixtures");
    m = gemma_model_load(fixture_path("models/gemma3-q8_0.gguf"), err);
    EXPECT(m && gemma_chat_format_of(m) == GEMMA_CHAT_GEMMA, "gemma3 fixture: %s", m ? "wrong format" : err);
    gemma_model_free(m);
    m = gemma_model_load(fixture_path("models/gemma4-vocab-e2e.gguf"), err);
    EXPECT(m && gemma_chat_format_of(m) == GEMMA_CHAT_GEMMA4, "gemma4 fixture: %s", m ? "wrong format" : err);
    gemma_model_free(m);
    TEST_END();
}

/* ---- a pseudo-terminal session ---- */

typedef struct {
    int fd;
    pid_t pid;
    char buf[1 << 16];
    size_t len;     /* bytes read so far (\r removed) */
} pty_session;

static bool pty_spawn(pty_session *p, char *const argv[]) {
    memset(p, 0, sizeof *p);
    p->fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (p->fd < 0 || grantpt(p->fd) || unlockpt(p->fd)) return false;
    char *slave = ptsname(p->fd);
    if (!slave) return false;
    p->pid = fork();
    if (p->pid < 0) return false;
    if (p->pid == 0) {
        setsid();
        int s = open(slave, O_RDWR);
        if (s < 0) _exit(126);
        ioctl(s, TIOCSCTTY, 0);
        dup2(s, 0);
        dup2(s, 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        close(s);
        close(null);
        close(p->fd);
        execv(argv[0], argv);
        _exit(127);
    }
    return true;
}

/* Read until `needle` appears after offset `from`, or timeout; returns its offset or -1. */
static long pty_expect(pty_session *p, size_t from, const char *needle, int timeout_ms) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        p->buf[p->len] = 0;
        char *hit = from <= p->len ? strstr(p->buf + from, needle) : NULL;
        if (hit) return hit - p->buf;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int left = timeout_ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) return -1;
        struct pollfd pf = {p->fd, POLLIN, 0};
        if (poll(&pf, 1, left) <= 0) continue;
        char tmp[4096];
        ssize_t r = read(p->fd, tmp, sizeof tmp);
        if (r <= 0) return -1;
        for (ssize_t i = 0; i < r && p->len < sizeof p->buf - 1; i++)
            if (tmp[i] != '\r') p->buf[p->len++] = tmp[i];
    }
}

static void pty_send(pty_session *p, const char *s) {
    ssize_t w = write(p->fd, s, strlen(s));
    (void)w;
}

/* CPU time (user + system, all threads) process pid has used, in clock ticks; -1 if
 * /proc does not say. */
static long cpu_ticks(pid_t pid) {
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    size_t n = fread(line, 1, sizeof line - 1, fp);
    fclose(fp);
    line[n] = 0;
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long utime, stime;
    /* after ")": state, then fields 4-13, then utime (14) and stime (15) */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
    return (long)(utime + stime);
}

/* One-shot output of the same first turn, for comparison. */
static char *oneshot(const char *bin, const char *model, const char *prompt) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s -m %s -p '%s' -n 8 --temp 0 --log-disable < /dev/null", bin, model, prompt);
    FILE *fp = popen(cmd, "r");
    if (!fp) return NULL;
    static char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, fp);
    out[n] = 0;
    pclose(fp);
    return out;
}

static void interactive(void) {
    const char *bin = getenv("GEMMA_BIN");
    if (!bin) { test_skip("chat: interactive session (GEMMA_BIN not set)"); return; }
    const char *model = fixture_path("models/gemma3-q8_0.gguf");
    char mpath[512];
    snprintf(mpath, sizeof mpath, "%s", model);
    char *want = oneshot(bin, mpath, "hello");
    /* two threads, so the pool has a worker that could spin */
    char *argv[] = {(char *)bin, "-m", mpath, "--temp", "0", "-n", "8", "--color", "off", "-t", "2", NULL};
    pty_session p;
    TEST_BEGIN("chat: starts on a terminal with no prompt and shows the prompt marker");
    bool ok = pty_spawn(&p, argv);
    EXPECT(ok, "cannot spawn under a pty");
    long at = ok ? pty_expect(&p, 0, "> ", 10000) : -1;
    EXPECT(at >= 0, "no prompt marker; screen: '%s'", p.buf);
    TEST_END();
    if (at < 0) { if (ok) { kill(p.pid, SIGKILL); waitpid(p.pid, NULL, 0); close(p.fd); } return; }

    TEST_BEGIN("chat: first answer equals the one-shot answer to the same prompt");
    size_t mark = p.len;
    pty_send(&p, "hello\n");
    long next = pty_expect(&p, mark + 6, "\n> ", 10000);
    EXPECT(next >= 0, "no prompt after the answer; screen: '%s'", p.buf + mark);
    if (next >= 0 && want) {
        /* the screen shows the echoed "hello\n", then the answer, "\n", then "> " */
        const char *ans = p.buf + mark + strlen("hello\n");
        size_t alen = (size_t)(next - (ans - p.buf));
        EXPECT(alen == strlen(want) && !memcmp(ans, want, alen), "answer '%.*s', one-shot '%s'", (int)alen, ans, want);
    }
    TEST_END();

    TEST_BEGIN("chat: a second turn is answered (history kept)");
    mark = p.len;
    pty_send(&p, "and again\n");
    next = pty_expect(&p, mark + 10, "\n> ", 10000);
    EXPECT(next >= 0, "no prompt after the second answer; screen: '%s'", p.buf + mark);
    TEST_END();

    /* The pool's threads spin for a fraction of a millisecond after a job, then sleep
     * (threads.c): a chat waiting for its user costs no CPU. A spinning thread would use
     * ~100 ticks per second. */
    usleep(100000);
    long t0 = cpu_ticks(p.pid);
    usleep(1000000);
    long t1 = cpu_ticks(p.pid);
    if (t0 < 0 || t1 < 0) {
        test_skip("chat: waiting for input uses no CPU (no /proc/PID/stat)");
    } else {
        TEST_BEGIN("chat: waiting for input uses no CPU");
        EXPECT(t1 - t0 <= 2, "%ld clock ticks of CPU in 1 s of waiting (%ld per second is one core)", t1 - t0,
               sysconf(_SC_CLK_TCK));
        TEST_END();
    }

    TEST_BEGIN("chat: /regen redoes the last answer (greedy: the same text again)");
    {
        /* the answer to "and again" is on screen between its echo and the next prompt */
        const char *prev = strstr(p.buf, "and again\n");
        long prev_end = prev ? pty_expect(&p, (size_t)(prev - p.buf), "\n> ", 100) : -1;
        size_t from = p.len;
        pty_send(&p, "/regen\n");
        long end = pty_expect(&p, from + 7, "\n> ", 10000);
        EXPECT(end >= 0, "no prompt after /regen");
        if (prev && prev_end >= 0 && end >= 0) {
            const char *a = prev + strlen("and again\n"), *b = p.buf + from + strlen("/regen\n");
            size_t la = (size_t)(prev_end - (a - p.buf)), lb = (size_t)(end - (b - p.buf));
            EXPECT(la == lb && !memcmp(a, b, la), "regenerated '%.*s', first '%.*s'", (int)lb, b, (int)la, a);
        }
    }
    TEST_END();

    TEST_BEGIN("chat: /clear starts over (same first answer again)");
    mark = p.len;
    pty_send(&p, "/clear\n");
    long cl = pty_expect(&p, mark, "cleared", 5000);
    EXPECT(cl >= 0, "no confirmation: '%s'", p.buf + mark);
    EXPECT(pty_expect(&p, cl > 0 ? (size_t)cl : mark, "\n> ", 5000) >= 0, "no prompt after /clear");
    mark = p.len;
    pty_send(&p, "hello\n");
    next = pty_expect(&p, mark + 6, "\n> ", 10000);
    EXPECT(next >= 0, "no answer after /clear");
    if (next >= 0 && want) {
        const char *ans = strstr(p.buf + mark, "hello\n");
        if (ans) {
            ans += 6;
            size_t alen = (size_t)(next - (ans - p.buf));
            EXPECT(alen == strlen(want) && !memcmp(ans, want, alen), "answer after /clear differs: '%.*s'", (int)alen, ans);
        }
    }
    TEST_END();

    TEST_BEGIN("chat: Ctrl-D exits with status 0");
    pty_send(&p, "\x04");
    int status = -1;
    for (int i = 0; i < 100 && waitpid(p.pid, &status, WNOHANG) == 0; i++) usleep(50000);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    if (!WIFEXITED(status)) { kill(p.pid, SIGKILL); waitpid(p.pid, NULL, 0); }
    close(p.fd);
    TEST_END();

    /* Ctrl-C during a long answer stops the answer, not the program */
    char *argv2[] = {(char *)bin, "-m", mpath, "--temp", "0", "-n", "-1", "--ignore-eos", "-c", "4096",
                     "--context-shift", "--color", "off", NULL};
    TEST_BEGIN("chat: Ctrl-C stops the answer and returns to the prompt");
    ok = pty_spawn(&p, argv2);
    EXPECT(ok && pty_expect(&p, 0, "> ", 10000) >= 0, "no prompt");
    mark = p.len;
    pty_send(&p, "hello\n");
    usleep(300000);
    pty_send(&p, "\x03");
    long st = pty_expect(&p, mark, "[stopped]", 10000);
    EXPECT(st >= 0, "no [stopped] marker: '%.200s'", p.buf + mark);
    EXPECT(pty_expect(&p, st > 0 ? (size_t)st : mark, "\n> ", 5000) >= 0, "no prompt after Ctrl-C");
    pty_send(&p, "/exit\n");
    status = -1;
    for (int i = 0; i < 100 && waitpid(p.pid, &status, WNOHANG) == 0; i++) usleep(50000);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "/exit status %d", status);
    if (!WIFEXITED(status)) { kill(p.pid, SIGKILL); waitpid(p.pid, NULL, 0); }
    close(p.fd);
    TEST_END();
}

/* Output text is always well-formed UTF-8 (ill-formed subparts -> one U+FFFD each). */
static void utf8_output(void) {
    static const struct { const char *in, *want; } cases[] = {
        {"plain", "plain"},
        {"caf\xc3\xa9 \xf0\x9f\xa6\x99", "caf\xc3\xa9 \xf0\x9f\xa6\x99"},
        {"a\xc0z", "a\xef\xbf\xbdz"},                     /* never a lead byte */
        {"a\xe2\x82z", "a\xef\xbf\xbdz"},                /* truncated, then ASCII */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"end\xe2\x82", "end\xef\xbf\xbd"},              /* cut off at the end */
        {"\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd"},
    };
    TEST_BEGIN("chat: output text is sanitized to well-formed UTF-8");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        char *o = utf8_sanitize(cases[i].in, strlen(cases[i].in), &n);
        EXPECT(n == strlen(cases[i].want) && !memcmp(o, cases[i].want, n), "case %zu", i);
        free(o);
    }
    TEST_END();
}

void suite_chat(void) {
    utf8_output();
    turn_formats();
    interactive();
}
