/* serve_bench.c - concurrent streaming clients against an OpenAI-compatible server (gemma
 * serve, llama-server): aggregate generated tokens/s and time to first token, for 1, 2, 4, 8
 * clients at once. A benchmark, not a test.
 *
 *   build/serve_bench --port 8080 [--clients 1,2,4,8] [-n 64] [-r 3] [--label NAME]
 *
 *   run_clients      N threads, each one streamed /v1/completions request (greedy, n tokens,
 *                    a prompt of its own so no client finds another's prefix cached), all
 *                    released at once
 *     one_client     connect, send, read the server-sent events: the first text's arrival
 *                    (TTFT), the tokens (usage.completion_tokens, else the events with text)
 *   main             per concurrency the best of -r runs (by aggregate t/s), one table row
 *
 * aggregate t/s = all clients' generated tokens / (the last token's arrival - the start),
 * so it includes the prompts' evaluation, as a user waiting for N answers sees it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64

typedef struct {
    const char *host;
    int port, n_predict, index, round;
    pthread_barrier_t *start;
    double t0;                 /* the common start (s) */
    double ttft, t_end;        /* s after t0; ttft < 0: no text came */
    int tokens;
    bool ok;
} client;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The events of a stream that bring text ("text":"x... or "content":"x...). */
static int text_events(const char *s) {
    int n = 0;
    for (const char *p = strstr(s, "data: {"); p; p = strstr(p + 1, "data: {")) {
        const char *e = strstr(p, "\n\n");
        if (!e) break;
        size_t k = 8;
        const char *t = memmem(p, (size_t)(e - p), "\"text\":\"", k);
        if (!t) t = memmem(p, (size_t)(e - p), "\"content\":\"", k = 11);
        if (t && t + k < e && t[k] != '"') n++;
    }
    return n;
}

static void *one_client(void *arg) {
    client *c = arg;
    char body[512], req[1024];
    snprintf(body, sizeof body,
             "{\"prompt\":\"Client %d, round %d: write a long story about a lighthouse keeper and the sea.\","
             "\"max_tokens\":%d,\"temperature\":0,\"stream\":true,\"ignore_eos\":true,"
             "\"stream_options\":{\"include_usage\":true}}",
             c->index, c->round, c->n_predict);
    snprintf(req, sizeof req,
             "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             c->host, strlen(body), body);
    c->ttft = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->port);
    inet_pton(AF_INET, c->host, &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_barrier_wait(c->start);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 65536 >= cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) break;
            buf = grown;
        }
        ssize_t k = recv(fd, buf + len, 65536, 0);
        if (k <= 0) break;
        len += (size_t)k;
        buf[len] = 0;
        double t = now_s() - c->t0;
        if (c->ttft < 0 && text_events(buf) > 0) c->ttft = t;
        c->t_end = t;
    }
    close(fd);
    buf[len] = 0;
    const char *u = strstr(buf, "\"completion_tokens\":");
    c->tokens = u ? atoi(u + strlen("\"completion_tokens\":")) : text_events(buf);
    c->ok = strstr(buf, " 200 ") != NULL && c->tokens > 0;
    free(buf);
    return NULL;
}

typedef struct {
    double agg_tps, ttft_mean, ttft_max;
    int tokens;
    bool ok;
} result;

static result run_clients(const char *host, int port, int n, int n_predict, int round) {
    client c[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        c[i] = (client){host, port, n_predict, i, round, &start, t0, -1, 0, 0, false};
        pthread_create(&th[i], NULL, one_client, &c[i]);
    }
    pthread_barrier_wait(&start);
    double t_start = now_s();
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);   /* their times are from t0 */
    pthread_barrier_destroy(&start);
    result r = {0};
    r.ok = true;
    double end = 0, shift = t_start - t0;
    for (int i = 0; i < n; i++) {
        r.ok = r.ok && c[i].ok && c[i].ttft >= 0;
        r.tokens += c[i].tokens;
        double ttft = c[i].ttft - shift;
        r.ttft_mean += ttft / n;
        if (ttft > r.ttft_max) r.ttft_max = ttft;
        if (c[i].t_end - shift > end) end = c[i].t_end - shift;
    }
    r.agg_tps = end > 0 ? r.tokens / end : 0;
    return r;
}

static void usage(void) {
    fprintf(stderr, "usage: serve_bench --port N [--host 127.0.0.1] [--clients 1,2,4,8] [-n 64] [-r 3] [--label NAME]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *clients = "1,2,4,8", *label = "server";
    int port = 0, n_predict = 64, reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        if (!strcmp(a, "--port")) port = atoi(argv[++i]);
        else if (!strcmp(a, "--host")) host = argv[++i];
        else if (!strcmp(a, "--clients")) clients = argv[++i];
        else if (!strcmp(a, "-n")) n_predict = atoi(argv[++i]);
        else if (!strcmp(a, "-r")) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--label")) label = argv[++i];
        else usage();
    }
    if (port <= 0 || n_predict <= 0 || reps <= 0) usage();
    printf("| server | clients | tokens | aggregate t/s | TTFT mean ms | TTFT max ms |\n"
           "|---|---:|---:|---:|---:|---:|\n");
    char list[256];
    snprintf(list, sizeof list, "%s", clients);
    int round = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int n = atoi(tok);
        if (n < 1 || n > MAX_CLIENTS) usage();
        result best = {0};
        for (int r = 0; r < reps; r++) {
            result x = run_clients(host, port, n, n_predict, round++);
            if (!x.ok) {
                fprintf(stderr, "serve_bench: %d clients: a request failed or brought no text\n", n);
                return 1;
            }
            if (x.agg_tps > best.agg_tps) best = x;
        }
        printf("| %s | %d | %d | %.1f | %.0f | %.0f |\n", label, n, best.tokens, best.agg_tps, best.ttft_mean * 1e3,
               best.ttft_max * 1e3);
        fflush(stdout);
    }
    return 0;
}
