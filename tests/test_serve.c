/* test_serve.c - `gemma serve` ($GEMMA_BIN) as a client meets it over a socket, on a
 * random-weight model of Gemma 3's shape (shrunk, two layers, the real vocabulary and chat
 * tokens; written into build/tmp once):
 *   - a streamed answer arrives as server-sent events spread over the generation, not at
 *     its end, and the events put together are the whole answer;
 *   - greedy decoding gives the same tokens for a request alone and among seven others;
 *   - robustness: 200 idle connections, malformed, truncated, oversized and slow requests,
 *     a client that disconnects mid-stream (its generation stops at once), after which the
 *     server still answers; it exits 0 at SIGTERM (under `make sanitize`: with no
 *     sanitizer report, which would make the exit status non-zero).
 * The endpoints and error statuses as curl sees them: tests/test_serve.sh. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "test.h"

int mkmodel_main(int argc, char **argv); /* tools/mkmodel.c, compiled into test_mkmodel.c */

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Gemma 3 270M's shape divided by 4, two layers, the fixture vocabulary (so chat turns are
 * real control tokens): 30 MB, a few ms per token. */
static const char *serve_model(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/serve-gemma3-tiny-Q4_0.gguf", tmp_dir());
    struct stat st;
    if (stat(path, &st) == 0) return path;
    /* tests/serve_lib.sh may be making the same file at the same time (tests/run.sh runs
     * parts in parallel): each maker writes its own part and renames it whole. */
    char part[540], vocab[512];
    snprintf(part, sizeof part, "%s.part.%d", path, (int)getpid());
    snprintf(vocab, sizeof vocab, "%s", fixture_path("tokenizer/gemma-3.gguf"));
    char *argv[] = {"mkmodel", "--preset", "gemma3-270m", "--type", "Q4_0", "--shrink", "4", "--layers", "2",
                    "--vocab", vocab, "-q", "-o", part, NULL};
    if (mkmodel_main(14, argv) != 0 || rename(part, path) != 0) return NULL;
    return path;
}

/* ---------------------------------------------------------------------------------------
 * The server process */

typedef struct {
    pid_t pid;
    int port;
    char log[512];          /* its stderr */
} server_proc;

/* Start `$GEMMA_BIN serve -m MODEL --port 0 ARGS...` and wait for its "listening" line. */
static bool server_start(server_proc *sp, const char *model, const char *const args[]) {
    const char *bin = getenv("GEMMA_BIN");
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "serve";
    argv[n++] = "-m";
    argv[n++] = (char *)model;
    argv[n++] = "--port";
    argv[n++] = "0";
    for (int i = 0; args[i] && n < 39; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    snprintf(sp->log, sizeof sp->log, "%s/serve-%d.log", tmp_dir(), (int)getpid());
    unlink(sp->log);   /* an earlier run's "listening" line is not this server's */
    sp->pid = fork();
    if (sp->pid < 0) return false;
    if (sp->pid == 0) {
        int err = open(sp->log, O_WRONLY | O_CREAT | O_TRUNC, 0644), null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(err, 2);
        execv(bin, argv);
        _exit(127);
    }
    for (double t0 = now_ms(); now_ms() - t0 < 120000;) {
        char *text = read_file(sp->log, NULL);
        const char *at = text ? strstr(text, "listening on http://127.0.0.1:") : NULL;
        if (at && strchr(at, '\n')) sp->port = atoi(at + strlen("listening on http://127.0.0.1:"));  /* a whole line */
        free(text);
        if (sp->port > 0) return true;
        if (waitpid(sp->pid, NULL, WNOHANG) == sp->pid) return false;
        sleep_ms(20);
    }
    kill(sp->pid, SIGKILL);
    waitpid(sp->pid, NULL, 0);
    return false;
}

/* SIGTERM, then its wait status (-1 if it had to be killed after timeout_ms). */
static int server_stop(server_proc *sp, int timeout_ms) {
    kill(sp->pid, SIGTERM);
    int status;
    for (double t0 = now_ms(); now_ms() - t0 < timeout_ms; sleep_ms(10))
        if (waitpid(sp->pid, &status, WNOHANG) == sp->pid) return status;
    kill(sp->pid, SIGKILL);
    waitpid(sp->pid, NULL, 0);
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * A client */

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        s += k;
        n -= (size_t)k;
    }
    return true;
}

#define MAX_READS 4096

typedef struct {
    char *data;               /* everything received, NUL-terminated */
    size_t len;
    int n_reads;
    double t[MAX_READS];      /* each read's arrival (ms since the request was sent) */
    size_t end[MAX_READS];    /* and the length received up to its end */
    int status;               /* from the status line, 0 if none */
    bool closed;              /* the server closed the connection */
} response;

/* Read until the server closes the connection or timeout_ms pass. */
static void read_response(int fd, response *r, double t_sent, int timeout_ms) {
    memset(r, 0, sizeof *r);
    size_t cap = 1 << 16;
    r->data = malloc(cap);
    r->data[0] = 0;
    for (double t0 = now_ms(); now_ms() - t0 < timeout_ms;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        if (r->len + 65536 + 1 > cap) {
            char *grown = realloc(r->data, cap *= 2);
            if (!grown) break;
            r->data = grown;
        }
        ssize_t k = recv(fd, r->data + r->len, 65536, 0);
        if (k <= 0) {
            r->closed = true;
            break;
        }
        r->len += (size_t)k;
        r->data[r->len] = 0;
        if (r->n_reads < MAX_READS) {
            r->t[r->n_reads] = now_ms() - t_sent;
            r->end[r->n_reads++] = r->len;
        }
    }
    if (!strncmp(r->data, "HTTP/1.1 ", 9)) r->status = atoi(r->data + 9);
}

/* One request on a new connection (Connection: close), the whole response back. */
static void request(int port, const char *method, const char *path, const char *body, response *r) {
    int fd = dial(port);
    char head[512];
    size_t n = body ? strlen(body) : 0;
    snprintf(head, sizeof head,
             "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n",
             method, path, n);
    double t = now_ms();
    if (fd < 0 || !send_all(fd, head, strlen(head)) || !send_all(fd, body ? body : "", n)) {
        memset(r, 0, sizeof *r);
        r->data = calloc(1, 1);
        if (fd >= 0) close(fd);
        return;
    }
    read_response(fd, r, t, 60000);
    close(fd);
}

static const char *body_of(const response *r) {
    const char *b = strstr(r->data, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* The answer's text in a non-streamed chat reply (malloc'd), NULL if there is none. */
static char *chat_content(const response *r) {
    json_value *v = json_parse(body_of(r), strlen(body_of(r)), NULL);
    const char *c = json_str(json_get(json_get(json_at(json_get(v, "choices"), 0), "message"), "content"));
    char *s = c ? strdup(c) : NULL;
    json_free(v);
    return s;
}

/* The /health reply's slots_processing, -1 if unreadable. */
static int slots_processing(int port) {
    response r;
    request(port, "GET", "/health", NULL, &r);
    json_value *v = json_parse(body_of(&r), strlen(body_of(&r)), NULL);
    double x = json_num(json_get(v, "slots_processing"));
    json_free(v);
    free(r.data);
    return x == x ? (int)x : -1;
}

/* A counter of /metrics, -1 if absent. */
static double metric(int port, const char *name) {
    response r;
    request(port, "GET", "/metrics", NULL, &r);
    double x = -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(r.data, key);
    if (at) x = atof(at + strlen(key));
    free(r.data);
    return x;
}

static char *chat_body(const char *text, int max_tokens, bool stream, double temp, int seed) {
    char *b = malloc(512 + strlen(text));
    sprintf(b, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":%d,\"stream\":%s,"
               "\"temperature\":%g,\"seed\":%d}",
            text, max_tokens, stream ? "true" : "false", temp, seed);
    return b;
}

/* ---------------------------------------------------------------------------------------
 * The cases */

/* The content deltas of a stream, put together; *n_events counts the data: lines. */
static char *stream_text(const char *raw, int *n_events, bool *done) {
    size_t cap = strlen(raw) + 1, len = 0;
    char *text = calloc(1, cap);
    *n_events = 0;
    *done = strstr(raw, "data: [DONE]") != NULL;
    for (const char *p = strstr(raw, "data: {"); p; p = strstr(p + 1, "data: {")) {
        const char *e = strstr(p, "\n\n");
        if (!e) break;
        /* a chunk boundary may split the line: the JSON is from "{" to the line's end */
        json_value *v = json_parse(p + 6, (size_t)(e - p - 6), NULL);
        const char *c = json_str(json_get(json_get(json_at(json_get(v, "choices"), 0), "delta"), "content"));
        if (c && len + strlen(c) < cap) {
            memcpy(text + len, c, strlen(c));
            len += strlen(c);
        }
        if (v) ++*n_events;
        json_free(v);
    }
    return text;
}

static void streaming(int port) {
    TEST_BEGIN("serve: a streamed answer arrives event by event over the generation, and adds up to the answer");
    char *body = chat_body("Tell me a story about the sea", 128, true, 0, 1);
    response r;
    request(port, "POST", "/v1/chat/completions", body, &r);
    free(body);
    EXPECT(r.status == 200 && strstr(r.data, "text/event-stream") && strstr(r.data, "Transfer-Encoding: chunked"),
           "head: %.300s", r.data);
    /* the reads that brought events, and when */
    int reads_with_events = 0;
    double first = -1, last = -1;
    for (int i = 0; i < r.n_reads; i++) {
        size_t from = i ? r.end[i - 1] : 0;
        char save = r.data[r.end[i]];
        r.data[r.end[i]] = 0;
        bool has = strstr(r.data + from, "data: ") != NULL;
        r.data[r.end[i]] = save;
        if (!has) continue;
        reads_with_events++;
        if (first < 0) first = r.t[i];
        last = r.t[i];
    }
    double total = r.n_reads ? r.t[r.n_reads - 1] : 0;
    /* the tiny model makes a token in ~1 ms, so reads may gather a few events each; a
     * buffered answer comes in one or two */
    EXPECT(reads_with_events >= 8, "events came in %d reads (of 128 tokens): buffered, not streamed",
           reads_with_events);
    EXPECT(last - first >= 0.5 * total, "events from %.1f ms to %.1f ms of %.1f ms", first, last, total);
    int n_events;
    bool done;
    char *text = stream_text(r.data, &n_events, &done);
    EXPECT(done && n_events >= 32, "%d events, [DONE] %s", n_events, done ? "seen" : "missing");
    free(r.data);
    /* the same request whole */
    body = chat_body("Tell me a story about the sea", 128, false, 0, 1);
    request(port, "POST", "/v1/chat/completions", body, &r);
    free(body);
    char *whole = chat_content(&r);
    EXPECT(whole && !strcmp(whole, text), "streamed '%s' vs whole '%s'", text, whole ? whole : "(none)");
    printf("    stream: %d events in %d reads, first at %.1f ms, last at %.1f ms\n", n_events, reads_with_events,
           first, last);
    free(whole);
    free(text);
    free(r.data);
    TEST_END();
}

static void greedy_among_others(int port) {
    TEST_BEGIN("serve: greedy decoding gives the same tokens alone and among seven other requests");
    const char *prompt = "Name three colours of the rainbow";
    char *body = chat_body(prompt, 32, false, 0, 1);
    response r;
    request(port, "POST", "/v1/chat/completions", body, &r);
    char *alone = chat_content(&r);
    free(r.data);
    EXPECT(alone && *alone, "no answer alone");
    /* eight at once: the same request among seven different ones (greedy and sampled) */
    double steps0 = metric(port, "gemma_steps_total"), tokens0 = metric(port, "gemma_tokens_predicted_total");
    int fd[8];
    double t = now_ms();
    for (int i = 0; i < 8; i++) {
        char text[128];
        snprintf(text, sizeof text, "Other question number %d about %s", i, i % 2 ? "birds" : "trees");
        char *b = i == 3 ? strdup(body) : chat_body(text, 24 + 4 * i, false, i % 2 ? 0.9 : 0, 100 + i);
        char head[256];
        snprintf(head, sizeof head, "POST /v1/chat/completions HTTP/1.1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                 strlen(b));
        fd[i] = dial(port);
        EXPECT(fd[i] >= 0 && send_all(fd[i], head, strlen(head)) && send_all(fd[i], b, strlen(b)), "send %d", i);
        free(b);
    }
    for (int i = 0; i < 8; i++) {
        read_response(fd[i], &r, t, 60000);
        close(fd[i]);
        EXPECT(r.status == 200, "request %d: %.200s", i, r.data);
        if (i == 3) {
            char *among = chat_content(&r);
            EXPECT(among && alone && !strcmp(among, alone), "alone '%s', among others '%s'", alone ? alone : "",
                   among ? among : "");
            free(among);
        }
        free(r.data);
    }
    /* they ran together: a step advanced several of them (one after another, every
     * generated token would take a step of its own) */
    double steps = metric(port, "gemma_steps_total") - steps0;
    double tokens = metric(port, "gemma_tokens_predicted_total") - tokens0;
    EXPECT(steps > 0 && steps < tokens / 2, "%.0f steps for %.0f tokens", steps, tokens);
    free(alone);
    free(body);
    TEST_END();
}

static void many_connections(int port) {
    TEST_BEGIN("serve: 200 idle connections at once, and a request on the next one is answered");
    int fds[200], n = 0;
    for (int i = 0; i < 200; i++)
        if ((fds[n] = dial(port)) >= 0) n++;
    EXPECT(n == 200, "%d of 200 connected", n);
    response r;
    request(port, "GET", "/health", NULL, &r);
    EXPECT(r.status == 200 && strstr(r.data, "\"ok\""), "health: %.200s", r.data);
    free(r.data);
    for (int i = 0; i < n; i++) close(fds[i]);
    TEST_END();
}

/* Send raw bytes, read the reply: its status (0: none) within timeout_ms. */
static int raw_status(int port, const char *bytes, size_t n, int timeout_ms, response *r) {
    int fd = dial(port);
    memset(r, 0, sizeof *r);
    r->data = calloc(1, 1);
    if (fd < 0) return -1;
    free(r->data);
    double t = now_ms();
    send_all(fd, bytes, n);
    read_response(fd, r, t, timeout_ms);
    close(fd);
    return r->status;
}

static void bad_requests(int port) {
    static const struct { const char *what, *bytes; int status; } bad[] = {
        {"a TLS hello", "\x16\x03\x01\x02\x05\x01\x03\x01\xfc\x03\x03 hello\r\n\r\n", 400},
        {"a request line without a version", "GET /health\r\n\r\n", 400},
        {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
        {"a header without a colon", "GET /health HTTP/1.1\r\nHost\r\n\r\n", 400},
        {"a chunked body", "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501},
        {"a body past --max-body, refused before it is sent", "POST /v1/completions HTTP/1.1\r\nContent-Length: 50000000\r\n\r\n",
         413},
        {"not JSON", "POST /v1/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TEST_BEGIN("serve: %s: %d with an OpenAI error body", bad[i].what, bad[i].status);
        response r;
        int st = raw_status(port, bad[i].bytes, strlen(bad[i].bytes), 10000, &r);
        EXPECT(st == bad[i].status && strstr(r.data, "{\"error\":{\"message\":"), "got %d: %.300s", st, r.data);
        free(r.data);
        TEST_END();
    }

    TEST_BEGIN("serve: 40 KB of header fields: 431; random bytes on 50 connections: no reply but an error");
    char *big = malloc(50000);
    int k = sprintf(big, "GET /health HTTP/1.1\r\n");
    while (k < 40000) k += sprintf(big + k, "X-Padding: %040d\r\n", k);
    sprintf(big + k, "\r\n");
    response r;
    int st = raw_status(port, big, strlen(big), 10000, &r);
    EXPECT(st == 431, "big head: %d", st);
    free(r.data);
    free(big);
    unsigned seed = 7;
    for (int c = 0; c < 50; c++) {
        char junk[600];
        size_t n = 1 + (size_t)(rand_r(&seed) % sizeof junk);
        for (size_t i = 0; i < n; i++) junk[i] = (char)(rand_r(&seed) & 0xff);
        junk[n - 1] = '\n';
        int fd = dial(port);
        send_all(fd, junk, n);
        close(fd);   /* without waiting for the reply: the server writes to a closed socket */
    }
    TEST_END();

    TEST_BEGIN("serve: cut-off requests (half a head, half a body) then a close: the server goes on");
    const char *cuts[] = {"POST /v1/chat/completions HTTP/1.1\r\nContent-Le",
                          "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"messages\":"};
    for (int i = 0; i < 2; i++) {
        int fd = dial(port);
        send_all(fd, cuts[i], strlen(cuts[i]));
        sleep_ms(50);
        close(fd);
    }
    request(port, "GET", "/health", NULL, &r);
    EXPECT(r.status == 200, "health after cut-off requests: %d", r.status);
    free(r.data);
    TEST_END();
}

/* --timeout is 2 s here. */
static void slow_client(int port) {
    TEST_BEGIN("serve: a request trickling in (slowloris) gets 408 after --timeout, and others are served meanwhile");
    int fd = dial(port);
    const char *head = "POST /v1/completions HTTP/1.1\r\nContent-Length: 20\r\nX-Slow: ";
    double t0 = now_ms();
    send_all(fd, head, strlen(head));
    response r;
    int got = 0;
    for (int i = 0; i < 40 && !got; i++) {   /* a byte every 100 ms */
        sleep_ms(100);
        if (!send_all(fd, "a", 1)) break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) got = 1;
        if (i == 5) {
            response h;
            request(port, "GET", "/health", NULL, &h);
            EXPECT(h.status == 200, "another client while the slow one sends: %d", h.status);
            free(h.data);
        }
    }
    read_response(fd, &r, t0, 5000);
    double ms = now_ms() - t0;
    close(fd);
    EXPECT(r.status == 408, "status %d: %.200s", r.status, r.data);
    EXPECT(ms > 1800 && ms < 4500, "408 after %.0f ms (--timeout 2)", ms);
    free(r.data);
    TEST_END();
}

static void disconnect_mid_stream(int port) {
    TEST_BEGIN("serve: a client that disconnects mid-stream stops its generation at once");
    double before = metric(port, "gemma_tokens_predicted_total");
    int fd = dial(port);
    char *b = chat_body("Write a very long essay", 900, true, 0.8, 5);
    char head[256];
    snprintf(head, sizeof head, "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", strlen(b));
    send_all(fd, head, strlen(head));
    send_all(fd, b, strlen(b));
    free(b);
    /* read until the first event, then hang up */
    char tmp[4096];
    size_t got = 0;
    bool event = false;
    for (double t0 = now_ms(); !event && now_ms() - t0 < 30000;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t k = recv(fd, tmp + got, sizeof tmp - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
        tmp[got] = 0;
        event = strstr(tmp, "data: {") != NULL;
        if (got > sizeof tmp - 100) got = 0;
    }
    EXPECT(event, "no event before hanging up");
    close(fd);
    int busy = -1;
    double t0 = now_ms();
    while (now_ms() - t0 < 10000 && (busy = slots_processing(port)) != 0) sleep_ms(20);
    double after = metric(port, "gemma_tokens_predicted_total");
    EXPECT(busy == 0, "the slot is still busy");
    EXPECT(after - before < 100, "%.0f tokens generated of 900 after the client left", after - before);
    printf("    disconnect: slot free %.0f ms after the hang-up, %.0f tokens generated\n", now_ms() - t0,
           after - before);
    TEST_END();
}

static void still_answers(int port) {
    TEST_BEGIN("serve: after all that, a chat completion is still answered");
    char *body = chat_body("Hello again", 8, false, 0, 1);
    response r;
    request(port, "POST", "/v1/chat/completions", body, &r);
    free(body);
    char *c = chat_content(&r);
    EXPECT(r.status == 200 && c, "%.300s", r.data);
    free(c);
    free(r.data);
    TEST_END();
}

void suite_serve(void) {
    if (!getenv("GEMMA_BIN")) {
        test_skip("serve: the server over sockets (GEMMA_BIN not set)");
        return;
    }
    const char *model = serve_model();
    if (!model) {
        TEST_BEGIN("serve: the test model");
        EXPECT(false, "mkmodel could not write the test model into %s", tmp_dir());
        TEST_END();
        return;
    }
    signal(SIGPIPE, SIG_IGN);
    server_proc sp = {0};
    const char *args[] = {"-np", "8", "-c", "1024", "--timeout", "2", "--max-body", "1048576", "-t", "1", NULL};
    TEST_BEGIN("serve: starts and prints the port it listens on");
    bool up = server_start(&sp, model, args);
    EXPECT(up, "no 'listening' line in %s", sp.log);
    TEST_END();
    if (!up) return;
    streaming(sp.port);
    greedy_among_others(sp.port);
    many_connections(sp.port);
    bad_requests(sp.port);
    slow_client(sp.port);
    disconnect_mid_stream(sp.port);
    still_answers(sp.port);
    TEST_BEGIN("serve: SIGTERM: exit status 0 (no sanitizer report), 'stopped' logged");
    int status = server_stop(&sp, 30000);
    char *log = read_file(sp.log, NULL);
    EXPECT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status %d", status);
    EXPECT(log && strstr(log, "gemma: stopped") && !strstr(log, "ERROR: ") && !strstr(log, "runtime error"),
           "log: %.2000s", log ? log : "(none)");
    free(log);
    TEST_END();
}
