/* serve.c - `gemma serve -m MODEL`: an OpenAI-compatible HTTP server in one process.
 *
 *   cmd_serve        options (the table below) -> the model loaded and the slots' contexts
 *                    made (a model that cannot be loaded is an error before the port
 *                    opens) -> the port opened -> the inference thread started
 *                    (scheduler.c) -> the connection loop (server.c) until SIGTERM/SIGINT and
 *                    its drain -> exit 0
 *
 * The modules: http.c (HTTP/1.1 parsing and framing), server.c (connections, poll, timeouts,
 * shutdown), api.c (the endpoints and their JSON), scheduler.c (slots, queue, the step over all
 * active slots), serve_page.html (the chat page at /, built into the binary). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "cli.h"
#include "options.h"
#include "scheduler.h"
#include "server.h"

enum {
    S_HELP = 1, S_MODEL, S_ALIAS, S_HOST, S_PORT, S_PARALLEL, S_CTX, S_API_KEY, S_TIMEOUT, S_QUEUE,
    S_N_PREDICT, S_PRESENCE, S_FREQUENCY, S_THINK, S_THREADS, S_THREADS_BATCH, S_CHUNK, S_MAX_BODY, S_LOG_DISABLE,
    S_VERBOSE, S_IGNORED, S_CTK, S_CTV,
};

const cli_option serve_options[] = {
    {"model:", NULL, 0, NULL},
    {"-m|--model", "FILE", S_MODEL, "model file (GGUF)"},
    {"-a|--alias", "NAME", S_ALIAS, "the model's name in /v1/models and replies (default: the file name)"},
    {"server:", NULL, 0, NULL},
    {"--host", "ADDR", S_HOST, "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"},
    {"--port", "N", S_PORT, "port (default 8080; 0 = any free port, printed at start)"},
    {"-np|--parallel", "N", S_PARALLEL, "slots: requests generated at the same time (default 4)"},
    {"-c|--ctx-size", "N", S_CTX, "context of each slot in tokens (default: the model's, at most 4096)"},
    {"--api-key", "KEY", S_API_KEY, "require 'Authorization: Bearer KEY' (also $GEMMA_API_KEY)"},
    {"--timeout", "S", S_TIMEOUT, "seconds a client may take to send a request or to read, and the\n"
                                  "grace time for running requests at SIGTERM (default 30)"},
    {"--queue", "N", S_QUEUE, "requests waiting for a slot before 503 (default 64)"},
    {"--max-body", "BYTES", S_MAX_BODY, "largest request body (default 8 MiB)"},
    {"request defaults (a request's own fields win):", NULL, 0, NULL},
    {"-n|--n-predict", "N", S_N_PREDICT, "max_tokens when a request gives none (-1 = until the answer ends)"},
    {"--temp", "T", SAMPLING_TEMP, "temperature (default 0.8, or the file's)"},
    {"--top-k", "N", SAMPLING_TOP_K, "top-k (default 40, or the file's)"},
    {"--top-p", "P", SAMPLING_TOP_P, "top-p (default 0.95, or the file's)"},
    {"--min-p", "P", SAMPLING_MIN_P, "min-p (default 0.05, or the file's)"},
    {"--repeat-penalty", "F", SAMPLING_REPEAT_PENALTY, "(default 1.0 = off)"},
    {"--repeat-last-n", "N", SAMPLING_REPEAT_LAST_N, "tokens the penalties look back on (default -1: the whole answer)"},
    {"--presence-penalty", "F", S_PRESENCE, "OpenAI's presence penalty (default 0)"},
    {"--frequency-penalty", "F", S_FREQUENCY, "OpenAI's frequency penalty (default 0)"},
    {"-s|--seed", "N", SAMPLING_SEED, "seed for requests without one (default: random per request)"},
    {"--think", NULL, S_THINK, "Gemma 4: think first unless a request says not to (reasoning_content)"},
    {"performance:", NULL, 0, NULL},
    {"-t|--threads", "N", S_THREADS, "threads for generation (default: physical cores)"},
    {"-tb|--threads-batch", "N", S_THREADS_BATCH, "threads for prompt processing (default: as -t)"},
    {"-b|--batch-size|-ub|--ubatch-size", "N", S_CHUNK,
     "prompt tokens a slot evaluates per step, between other slots' tokens (default 64)"},
    {"-ctk|--cache-type-k", "TYPE", S_CTK, KV_TYPE_HELP("keys", "f16")},
    {"-ctv|--cache-type-v", "TYPE", S_CTV, KV_TYPE_HELP("values", "f16")},
    {"output:", NULL, 0, NULL},
    {"--log-disable", NULL, S_LOG_DISABLE, "nothing on stderr but errors (no request lines)"},
    {"-v|--verbose", NULL, S_VERBOSE, "memory and sampling settings at start"},
    {"-h|--help", NULL, S_HELP, "this help"},
    {"accepted for llama-server habits, without effect: -cb, --metrics, -ngl N, -fa [on|off|auto], --jinja",
     NULL, 0, NULL},
    {"-cb|--cont-batching|--metrics|--jinja|--no-mmap", NULL, S_IGNORED, NULL},
    {"-ngl|--n-gpu-layers", "N", S_IGNORED, NULL},
    {"-fa|--flash-attn", "[on|off|auto|1|0]", S_IGNORED, NULL},
    {0},
};

typedef struct {
    const char *model, *alias, *host, *api_key;
    int port, n_slots, n_ctx, queue, n_threads, n_threads_batch, n_chunk, n_predict;
    long long max_body;
    double timeout;
    bool think, verbose;
    gemma_kv_type type_k, type_v;
    sampling_args samp;
} serve_args;

static void print_serve_usage(void) {
    printf("usage: gemma serve -m MODEL.gguf [--host 127.0.0.1] [--port 8080] [-np 4] [options]\n"
           "\n"
           "An OpenAI-compatible server: POST /v1/chat/completions, /v1/completions, /tokenize,\n"
           "/detokenize; GET /v1/models, /health, /metrics, and a chat page at /.\n"
           "Every long option also takes its value as --name=value.\n\n");
    opt_print_help(stdout, serve_options);
    printf("\nexample:\n"
           "  gemma serve -m gemma-3-1b-it-Q4_0.gguf -np 8 -c 4096 --port 8080\n"
           "  curl localhost:8080/v1/chat/completions -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}'\n"
           "\nSIGTERM or Ctrl-C stops taking requests, lets running ones finish within --timeout, exits 0.\n");
}

static void parse_serve_args(int argc, char **argv, serve_args *a) {
    memset(a, 0, sizeof *a);
    a->host = "127.0.0.1";
    a->port = 8080;
    a->n_slots = 4;
    a->n_ctx = -1;
    a->type_k = a->type_v = GEMMA_KV_F16;
    a->queue = 64;
    a->n_chunk = 64;
    a->n_predict = -1;
    a->timeout = 30;
    a->max_body = 8 << 20;
    a->api_key = getenv("GEMMA_API_KEY");
    gemma_sampler_params_default(&a->samp.sp);
    a->samp.sp.repeat_last_n = -1;
    opt_iter it = opt_start(serve_options, argc, argv, 2);
    const char *v;
    for (int id; (id = opt_next(&it, &v)) != OPT_END;) {
        const char *f = it.name;
        if (sampling_arg(&a->samp, id, f, v)) continue;
        switch (id) {
        case OPT_ARG: die_usage("unexpected argument '%s'", v);
        case S_HELP: print_serve_usage(); exit(0);
        case S_MODEL: a->model = v; break;
        case S_ALIAS: a->alias = v; break;
        case S_HOST: a->host = v; break;
        case S_PORT: a->port = (int)parse_int(f, v, 0, 65535); break;
        case S_PARALLEL: a->n_slots = (int)parse_int(f, v, 1, 256); break;
        case S_CTX: a->n_ctx = (int)parse_int(f, v, 0, 1 << 24); break;
        case S_API_KEY: a->api_key = v; break;
        case S_TIMEOUT: a->timeout = parse_float(f, v, 0.1, 86400); break;
        case S_QUEUE: a->queue = (int)parse_int(f, v, 0, 1 << 20); break;
        case S_MAX_BODY: a->max_body = parse_int(f, v, 1024, 1LL << 32); break;
        case S_N_PREDICT: a->n_predict = (int)parse_int(f, v, -1, INT_MAX); break;
        case S_PRESENCE: a->samp.sp.presence_penalty = parse_float(f, v, -2, 2); break;
        case S_FREQUENCY: a->samp.sp.frequency_penalty = parse_float(f, v, -2, 2); break;
        case S_THINK: a->think = true; break;
        case S_THREADS: a->n_threads = (int)parse_int(f, v, 1, 1024); break;
        case S_THREADS_BATCH: a->n_threads_batch = (int)parse_int(f, v, 1, 1024); break;
        case S_CTK: a->type_k = parse_kv_type(f, v); break;
        case S_CTV: a->type_v = parse_kv_type(f, v); break;
        case S_CHUNK: a->n_chunk = (int)parse_int(f, v, 1, 1 << 16); break;
        case S_LOG_DISABLE: log_enabled = false; break;
        case S_VERBOSE: a->verbose = true; break;
        default: logf_("gemma: note: %s ignored (continuous batching, metrics and Gemma's templates are built in; "
                       "CPU only)\n", f);
        }
    }
    if (!a->model) die_usage("no model given: use -m FILE.gguf");
    if (a->api_key && !*a->api_key) a->api_key = NULL;
    if (a->n_threads) warn_threads("-t", a->n_threads);
}

/* ---------------------------------------------------------------------------------------
 * Signals: the handler only writes to a pipe the connection loop polls. */

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    char c = (char)sig;
    ssize_t rc = write(signal_pipe[1], &c, 1);
    (void)rc;
    errno = saved;
}

static void make_pipe(int fds[2]) {
    if (pipe(fds) != 0) die(EXIT_RUNTIME, "pipe: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
}

static void install_signals(void) {
    make_pipe(signal_pipe);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---------------------------------------------------------------------------------------
 * The listening socket */

static int open_port(const char *host, int port, int *bound_port) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0) die(EXIT_USAGE, "cannot listen on %s:%d: %s", host, port, gai_strerror(rc));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
        die(EXIT_RUNTIME, "cannot listen on %s:%d: %s", host, port, strerror(errno));
    freeaddrinfo(res);
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *bound_port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                   : ((struct sockaddr_in *)&addr)->sin_port);
    return fd;
}

/* The model's name: --alias, else the file name without directories and .gguf. */
static char *model_id(const serve_args *a) {
    if (a->alias) return xstrdup(a->alias);
    const char *base = strrchr(a->model, '/');
    char *id = xstrdup(base ? base + 1 : a->model);
    size_t n = strlen(id);
    if (n > 5 && !strcmp(id + n - 5, ".gguf")) id[n - 5] = 0;
    return id;
}

int cmd_serve(int argc, char **argv) {
    serve_args a;
    parse_serve_args(argc, argv, &a);
    double t0 = now_seconds();
    gemma_model *m = load_or_die(a.model, false);
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    sampling_file_defaults(&a.samp, &info);
    int n_ctx = a.n_ctx == 0 ? info.n_ctx_train : a.n_ctx < 0 ? (info.n_ctx_train < 4096 ? info.n_ctx_train : 4096)
                                                              : a.n_ctx;
    int wake[2];
    make_pipe(wake);
    int threads = a.n_threads ? a.n_threads : gemma_default_threads();
    sched_params sp = {a.n_slots, n_ctx, threads, a.n_threads_batch ? a.n_threads_batch : threads,
                       a.n_chunk, a.queue, wake[1], a.type_k, a.type_v};
    char err[GEMMA_ERR_LEN];
    sched *S = sched_new(m, &sp, err);
    if (!S) die(EXIT_RUNTIME, "%s", err);
    install_signals();
    int port = 0;
    int listen_fd = open_port(a.host, a.port, &port);
    char *id = model_id(&a);
    api_params ap = {id, a.api_key, a.samp.sp, a.n_predict, a.think};
    api *A = api_new(m, S, &ap);
    if (sched_start(S, err)) die(EXIT_RUNTIME, "%s", err);
    logf_("gemma: loaded %s '%s' (%s, %.2fB params) in %.0f ms; %d slot%s of %d tokens, %d thread%s, %s kernels\n",
          info.arch, info.name, info.ftype, info.n_params / 1e9, (now_seconds() - t0) * 1e3, a.n_slots,
          a.n_slots == 1 ? "" : "s", n_ctx, threads, threads == 1 ? "" : "s", gemma_kernel_path());
    if (a.verbose)
        logf_("gemma: memory: KV cache %.1f MiB for %d slot%s (K %s, V %s)\n", sched_kv_bytes(S) / 1048576.0, a.n_slots,
              a.n_slots == 1 ? "" : "s", gemma_kv_type_name(a.type_k), gemma_kv_type_name(a.type_v));
    if (a.verbose)
        logf_("gemma: request defaults: temp %.2f, top-k %d, top-p %.2f, min-p %.2f, max_tokens %d%s\n", a.samp.sp.temp,
              a.samp.sp.top_k, a.samp.sp.top_p, a.samp.sp.min_p, a.n_predict, a.api_key ? "; API key required" : "");
    logf_("gemma: listening on http://%s%s%s:%d as '%s'\n", strchr(a.host, ':') ? "[" : "", a.host,
          strchr(a.host, ':') ? "]" : "", port, id);
    server_params p = {listen_fd, wake[0], signal_pipe[0],
                       {16384, 8192, (size_t)a.max_body}, a.timeout, 256, A, S};
    server_run(&p);
    sched_stop(S);
    api_free(A);
    sched_free(S);
    gemma_model_free(m);
    free(id);
    close(wake[0]);
    close(wake[1]);
    logf_("gemma: stopped\n");
    return 0;
}
