/* test_stream.c - generated text as the reader of stdout sees it, on a random-weight model
 * of Gemma 3 270M's real shape (written by mkmodel's code into build/tmp once):
 *   - through a pipe, the text arrives in many pieces spread over the generation, and the
 *     pieces put together are the whole answer (--json's text for the same seed);
 *   - a reader that goes away (`| head -c 10`) ends a 4000-token run after a few tokens,
 *     with exit status 0;
 *   - on a terminal the answer's last line is ended; a pipe gets the exact text;
 *   - a token that ends inside a UTF-8 character never reaches the reader half-written. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "proc.h"
#include "test.h"

int mkmodel_main(int argc, char **argv); /* tools/mkmodel.c, compiled into test_mkmodel.c */

static const char *stream_model(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/stream-gemma3-270m-Q4_0.gguf", tmp_dir());
    struct stat st;
    if (stat(path, &st) == 0) return path;
    char part[520];
    snprintf(part, sizeof part, "%s.part", path);
    char *argv[] = {"mkmodel", "--preset", "gemma3-270m", "--type", "Q4_0", "-q", "-o", part, NULL};
    if (mkmodel_main(8, argv) != 0 || rename(part, path) != 0) return NULL;
    return path;
}

/* "gemma: generate   64 tokens in  1234.56 ms" -> 64 and 1234.56 */
static bool generate_line(const char *err, int *n, double *ms) {
    const char *g = strstr(err, "gemma: generate");
    *ms = 0;
    return g && (sscanf(g, "gemma: generate %d tokens in %lf ms", n, ms) == 2 ||
                 sscanf(g, "gemma: generate %d token", n) == 1);
}

/* Does s[0..n) end inside a UTF-8 character? */
static bool cut_inside_char(const char *s, size_t n) {
    size_t i = n, k = 0;
    while (i > 0 && k < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--, k++;
    if (i == 0) return k > 0;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    return k < need;
}

static char *json_text_of(char *const argv[]) {
    pipe_run r;
    if (!pipe_run_argv(&r, argv, 0)) return NULL;
    json_value *v = json_parse(r.out, r.out_len, NULL);
    const char *t = json_str(json_get(v, "text"));
    char *text = t ? strdup(t) : NULL;
    json_free(v);
    pipe_run_free(&r);
    return text;
}

static void pieces(const char *bin, const char *model, double *ms_per_token) {
    char *argv[] = {(char *)bin, "-m", (char *)model, "--raw", "-p", "Once upon a time", "-n", "64",
                    "--ignore-eos", "--seed", "7", "-t", "2", NULL};
    TEST_BEGIN("stream: 64 tokens through a pipe arrive in many pieces spread over the generation");
    pipe_run r;
    bool ok = pipe_run_argv(&r, argv, 0);
    EXPECT(ok, "cannot run %s", bin);
    if (!ok) { TEST_END(); return; }
    int n = 0;
    double gen_ms = 0;
    EXPECT(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %d; stderr: %s", r.status, r.err);
    EXPECT(generate_line(r.err, &n, &gen_ms) && n == 64, "stderr: %s", r.err);
    /* one write per token; a busy machine may let the reader see two at once now and then */
    EXPECT(r.n_chunks >= 32, "stdout came in %d pieces", r.n_chunks);
    double spread = r.n_chunks > 0 ? r.chunks[r.n_chunks - 1].t_ms - r.chunks[0].t_ms : 0;
    EXPECT(spread >= 0.5 * gen_ms, "the pieces came within %.0f ms of a %.0f ms generation", spread, gen_ms);
    *ms_per_token = n > 0 ? gen_ms / n : 0;
    TEST_END();

    TEST_BEGIN("stream: the pieces put together are the whole answer (--json's text, same seed)");
    char *json_argv[] = {(char *)bin, "-m", (char *)model, "--raw", "-p", "Once upon a time", "-n", "64",
                         "--ignore-eos", "--seed", "7", "-t", "2", "--json", NULL};
    char *want = json_text_of(json_argv);
    EXPECT(want && strlen(want) == r.out_len && !memcmp(want, r.out, r.out_len),
           "streamed %zu bytes '%.60s...', --json text '%.60s...'", r.out_len, r.out, want ? want : "(none)");
    free(want);
    pipe_run_free(&r);
    TEST_END();
}

static void reader_goes_away(const char *bin, const char *model, double ms_per_token) {
    char *argv[] = {(char *)bin, "-m", (char *)model, "--raw", "-p", "Once upon a time", "-n", "4000",
                    "--ignore-eos", "-t", "2", NULL};
    TEST_BEGIN("stream: | head -c 10 ends a 4000-token run after a few tokens, status 0");
    pipe_run r;
    bool ok = pipe_run_argv(&r, argv, 10);
    EXPECT(ok, "cannot run %s", bin);
    if (ok) {
        int n = 0;
        double ms;
        EXPECT(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %d; stderr: %s", r.status, r.err);
        EXPECT(generate_line(r.err, &n, &ms) && n < 100, "generated %d tokens; stderr: %s", n, r.err);
        EXPECT(strstr(r.err, "stdout was closed") != NULL, "stderr does not say why: %s", r.err);
        /* 4000 tokens would take 4000 x ms_per_token */
        EXPECT(ms_per_token <= 0 || r.total_ms < 400 * ms_per_token + 30000,
               "took %.0f ms (%.1f ms per token)", r.total_ms, ms_per_token);
        pipe_run_free(&r);
    }
    TEST_END();
}

/* On a terminal: the text, then one newline; through a pipe: the text alone. */
static void terminal_newline(const char *bin) {
    char model[512];
    snprintf(model, sizeof model, "%s", fixture_path("models/gemma4-vocab-e2e.gguf"));
    char *argv[] = {(char *)bin, "-m", model, "-p", "hello", "-n", "8", "--temp", "0", "--log-disable", NULL};
    TEST_BEGIN("stream: on a terminal the answer ends with a newline; a pipe gets the exact text");
    pipe_run r;
    bool ok = pipe_run_argv(&r, argv, 0);
    pty_session *p = calloc(1, sizeof *p);
    ok = ok && p && pty_spawn(p, argv, NULL, false);
    EXPECT(ok, "cannot run %s", bin);
    if (ok) {
        int status = pty_finish(p, 20000);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
        EXPECT(r.out_len > 0 && r.out[r.out_len - 1] != '\n', "the pipe's text should not end in a newline "
               "for this test to mean something: '%s'", r.out);
        EXPECT(p->len == r.out_len + 1 && !memcmp(p->screen, r.out, r.out_len) && p->screen[r.out_len] == '\n',
               "terminal '%s', pipe '%s'", p->screen, r.out);
        pipe_run_free(&r);
    }
    free(p);
    TEST_END();

}

/* What generation does per token (stream_put, then out_flush) with tokens that cut
 * characters (byte-fallback tokens spell one byte each): whatever the reader of the pipe
 * can read after each flush ends on a character boundary, and nothing is lost. */
static void flushed_pieces(void) {
    TEST_BEGIN("stream: a token that ends inside a UTF-8 character is held back until the next completes it");
    static const char text[] = "caf\xc3\xa9 \xf0\x9f\xa6\x99 \xe4\xb8\xad!";
    int fds[2];
    bool ok = pipe(fds) == 0;
    EXPECT(ok, "pipe");
    fflush(stdout);
    int saved = ok ? dup(STDOUT_FILENO) : -1;
    if (ok && saved >= 0 && dup2(fds[1], STDOUT_FILENO) >= 0) {
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        char got[64];
        size_t n = 0;
        int cuts = 0;
        utf8_stream us = {{0}, 0};
        for (size_t i = 0; i + 1 < sizeof text; i++) { /* one byte per token */
            stream_put(&us, text + i, 1);
            out_flush();
            ssize_t r = read(fds[0], got + n, sizeof got - 1 - n);
            if (r > 0) n += (size_t)r;
            cuts += cut_inside_char(got, n);
        }
        stream_finish(&us);
        ssize_t r = read(fds[0], got + n, sizeof got - 1 - n);
        if (r > 0) n += (size_t)r;
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        EXPECT(cuts == 0, "the reader saw half a character %d times", cuts);
        EXPECT(n == sizeof text - 1 && !memcmp(got, text, n), "read '%.*s'", (int)n, got);
    }
    if (saved >= 0) close(saved);
    if (ok) {
        close(fds[0]);
        close(fds[1]);
    }
    TEST_END();
}

/* Text written while signals arrive: Ctrl-C and SIGTERM are caught without SA_RESTART, so
 * a write blocked on a full pipe or a slow terminal returns EINTR. A child writes 1 MiB of
 * known bytes through out_write / out_flush into a pipe the parent reads slowly, sending a
 * caught SIGUSR1 (no SA_RESTART) before each read: every byte must arrive, in order, and the
 * child must end normally (it exited with status 4, "Interrupted system call", before). */
static void on_usr1(int sig) { (void)sig; }

static void test_write_interrupted(void) {
    TEST_BEGIN("stream: writes interrupted by a caught signal go on: every byte arrives, in order, exit 0");
    enum { LEN = 1 << 20, PIECE = 4096 };
    int fd[2];
    EXPECT(pipe(fd) == 0, "pipe");
    fflush(stdout); /* the child's copy of stdout's buffer must be empty */
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        close(fd[0]);
        dup2(fd[1], STDOUT_FILENO);
        close(fd[1]);
        static char buf[PIECE];
        for (int off = 0; off < LEN; off += PIECE) {
            for (int i = 0; i < PIECE; i++) buf[i] = (char)((off + i) * 7 + (off + i) / 251);
            out_write(buf, PIECE);
            out_flush();
        }
        _exit(0);
    }
    close(fd[1]);
    char *got = malloc(LEN);
    size_t n = 0;
    int signals = 0;
    while (n < LEN) {
        ssize_t r = read(fd[0], got + n, LEN - n < 4096 ? LEN - n : 4096);
        if (r <= 0) break;
        n += (size_t)r;
        if (kill(pid, SIGUSR1) == 0) signals++; /* after the first bytes: the handler is in place */
        usleep(100);
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d (%d signals)", status, signals);
    EXPECT(n == LEN, "%zu of %d bytes arrived", n, LEN);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != (char)(i * 7 + i / 251)) { bad = i + 1; break; }
    EXPECT(bad == 0, "byte %zu differs", bad - 1);
    free(got);
    TEST_END();
}

void suite_stream(void) {
    test_write_interrupted();
    flushed_pieces();
    const char *bin = getenv("GEMMA_BIN");
    if (!bin) { test_skip("stream: GEMMA_BIN not set"); return; }
    terminal_newline(bin);
    TEST_BEGIN("stream: a random-weight gemma3-270m Q4_0 model (mkmodel)");
    const char *model = stream_model();
    EXPECT(model != NULL, "mkmodel failed");
    TEST_END();
    if (!model) return;
    char path[512];
    snprintf(path, sizeof path, "%s", model);
    double ms_per_token = 0;
    pieces(bin, path, &ms_per_token);
    reader_goes_away(bin, path, ms_per_token);
}
