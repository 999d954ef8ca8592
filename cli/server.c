/* server.c - the connection loop of `gemma serve` (see server.h).
 *
 *   server_run           poll() until shutdown, then drain:
 *     accept_clients     new connections (past max_conns: a 503 and close)
 *     on_readable        bytes in; read() == 0, POLLHUP or POLLRDHUP: the client is gone,
 *                        and its generation is cancelled at once (close_conn)
 *       next_request     the head parsed (http.c) and limited, 100 Continue when asked,
 *                        the body awaited, api_handle (api.c): a whole reply or a job;
 *                        pipelined requests are taken one after the other
 *     pump_job           a job's new bytes: server-sent events as chunks, or the whole
 *                        reply once done (woken through the scheduler's pipe)
 *     on_writable        bytes out, as the client takes them
 *     check_timeouts     a request not whole within --timeout of its first byte: 408
 *                        (slowloris); idle keep-alive and stalled readers: closed
 *   drain                SIGTERM/SIGINT: the port closes, /health says 503, idle
 *                        connections close; running jobs get --timeout seconds to finish,
 *                        then they are cancelled; return when every reply is out
 *
 * Every request gets one line on stderr: peer, method, path, status, tokens, time. */
#define _GNU_SOURCE
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

typedef enum { C_READ, C_JOB, C_CLOSING } conn_state;

typedef struct {
    int fd;
    char peer[64];
    conn_state state;
    buf in, out;
    bool continue_sent;
    bool keep_alive;
    double t_request;          /* first byte of the request being read (0: none) */
    double t_io;               /* last byte in or out */
    job *job;
    bool stream;
    bool head_only;            /* HEAD: no body */
    /* the request, for its log line */
    char method[16], path[96];
    double t0;
} conn;

typedef struct {
    const server_params *p;
    conn **conns;
    int n_conns;
    bool draining;
    double drain_deadline;
    bool cancelled;
} server;

static const char cors[] = "Access-Control-Allow-Origin: *\r\n";

/* ---------------------------------------------------------------------------------------
 * Connections */

static void log_request(const conn *c, int status, const job *j) {
    double ms = (now_seconds() - c->t0) * 1e3;
    if (j)
        logf_("gemma: %s %s %s %d, %d prompt tokens (%d cached), %d generated, %.0f ms\n", c->peer, c->method,
              c->path, status, j->n_prompt, j->n_cached, j->n_gen, ms);
    else
        logf_("gemma: %s %s %s %d, %.0f ms\n", c->peer, c->method, c->path, status, ms);
}

static void close_conn(server *sv, int i) {
    conn *c = sv->conns[i];
    if (c->job) {   /* the client went away mid-generation: stop it now */
        atomic_store(&c->job->cancel, true);
        log_request(c, 499, c->job);
        api_count(sv->p->A, 499, c->job->n_prompt, c->job->n_gen);
        job_release(c->job);
    }
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
    sv->conns[i] = sv->conns[--sv->n_conns];
}

/* A reply of the connection loop's own (a malformed or too-large request): the status with
 * OpenAI's error body, and the connection closes once it is sent. */
static void reply_error(server *sv, conn *c, int status, const char *message) {
    api_reply r;
    memset(&r, 0, sizeof r);
    api_error(&r, status, message);
    char extra[128];
    snprintf(extra, sizeof extra, "%s", cors);
    http_head(&c->out, status, r.content_type, (long long)r.body.len, false, extra);
    buf_put(&c->out, r.body.p, r.body.len);
    buf_free(&r.body);
    if (!c->method[0]) snprintf(c->method, sizeof c->method, "-");
    if (!c->path[0]) snprintf(c->path, sizeof c->path, "-");
    log_request(c, status, NULL);
    api_count(sv->p->A, status, 0, 0);
    c->state = C_CLOSING;
}

static const char *parse_error_text(int status) {
    switch (status) {
    case 413: return "the request body is larger than the server accepts";
    case 414: return "the request target is too long";
    case 431: return "the request's header fields are too large";
    case 417: return "only 'Expect: 100-continue' is understood";
    case 501: return "request bodies must come with Content-Length (no chunked transfer coding)";
    case 505: return "only HTTP/1.0 and HTTP/1.1 are spoken here";
    default: return "malformed HTTP request";
    }
}

static void send_reply(server *sv, conn *c, api_reply *r) {
    char extra[512];
    snprintf(extra, sizeof extra, "%s%s", cors, r->extra_headers ? r->extra_headers : "");
    http_head(&c->out, r->status, r->content_type, r->status == 204 ? 0 : (long long)r->body.len, c->keep_alive,
              extra);
    if (!c->head_only && r->status != 204) buf_put(&c->out, r->body.p, r->body.len);
    log_request(c, r->status, NULL);
    api_count(sv->p->A, r->status, 0, 0);
    if (!c->keep_alive) c->state = C_CLOSING;
}

static void next_request(server *sv, conn *c);

/* The job's new bytes to the client; at the end, the reply's last bytes and the next request. */
static void pump_job(server *sv, conn *c) {
    job *j = c->job;
    pthread_mutex_lock(&j->mu);
    bool done = j->done;
    int status = j->status;
    if (c->stream) {
        http_chunk(&c->out, j->out.p, j->out.len);
        buf_clear(&j->out);
    }
    pthread_mutex_unlock(&j->mu);
    if (!done) return;
    if (c->stream) {   /* the writer said how it ended (api.c: [DONE], or an error event) */
        http_chunk_end(&c->out);
    } else if (status == 0) {
        api_reply r;
        memset(&r, 0, sizeof r);
        api_error(&r, 503, "the server is shutting down");
        status = 503;
        http_head(&c->out, 503, r.content_type, (long long)r.body.len, false, cors);
        buf_put(&c->out, r.body.p, r.body.len);
        buf_free(&r.body);
        c->keep_alive = false;
    } else {
        http_head(&c->out, status, "application/json", (long long)j->out.len, c->keep_alive, cors);
        if (!c->head_only) buf_put(&c->out, j->out.p, j->out.len);
    }
    log_request(c, c->stream ? 200 : status, j);
    api_count(sv->p->A, c->stream ? 200 : status, j->n_prompt, j->n_gen);
    job_release(j);
    c->job = NULL;
    c->state = c->keep_alive && !sv->draining ? C_READ : C_CLOSING;
    if (c->state == C_READ) next_request(sv, c);
}

/* Take the requests that are whole in c->in, one at a time. */
static void next_request(server *sv, conn *c) {
    const server_params *p = sv->p;
    while (c->state == C_READ && c->in.len > 0) {
        http_request r;
        int rc = http_parse_head(c->in.p, c->in.len, &p->limits, &r);
        if (!c->t_request) c->t_request = now_seconds();
        if (rc == 0) return;
        c->t0 = c->t_request;
        if (rc > 0 || r.path_len > 0) {   /* the request line was read (413 ...): name it */
            snprintf(c->method, sizeof c->method, "%.*s", (int)(r.method_len < 15 ? r.method_len : 15), r.method);
            snprintf(c->path, sizeof c->path, "%.*s", (int)(r.path_len < 95 ? r.path_len : 95), r.target);
        } else {
            c->method[0] = c->path[0] = 0;
        }
        if (rc < 0) {
            reply_error(sv, c, -rc, parse_error_text(-rc));
            return;
        }
        size_t need = r.head_len + r.content_length;
        if (c->in.len < need) {
            if (r.expect_continue && !c->continue_sent) {
                buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                c->continue_sent = true;
            }
            return;
        }
        c->keep_alive = r.keep_alive && !sv->draining;
        c->head_only = http_method_is(&r, "HEAD");
        api_reply rep;
        api_handle(p->A, &r, c->in.p + r.head_len, r.content_length, &rep);
        buf_consume(&c->in, need);
        c->continue_sent = false;
        c->t_request = c->in.len ? now_seconds() : 0;
        if (rep.job) {
            c->job = rep.job;
            c->stream = rep.stream;
            c->state = C_JOB;
            if (c->stream) {
                char extra[256];
                snprintf(extra, sizeof extra, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n%s", cors);
                http_head(&c->out, 200, "text/event-stream", -1, c->keep_alive, extra);
            }
            buf_free(&rep.body);
            pump_job(sv, c);
            return;
        }
        send_reply(sv, c, &rep);
        buf_free(&rep.body);
    }
}

/* ---------------------------------------------------------------------------------------
 * Socket events */

/* false: the client is gone (closed, reset, or an error). */
static bool on_readable(server *sv, conn *c) {
    char tmp[65536];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->t_io = now_seconds();
        if (c->state == C_CLOSING) continue;   /* discarded: the reply says why */
        buf_put(&c->in, tmp, (size_t)n);
        if (c->state == C_READ) next_request(sv, c);
        size_t cap = sv->p->limits.max_head + sv->p->limits.max_body + sizeof tmp;
        if (c->in.len > cap) return true;      /* pipelined beyond reason: wait */
    }
}

/* false: the client is gone. */
static bool on_writable(conn *c) {
    while (c->out.len > 0) {
        ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        buf_consume(&c->out, (size_t)n);
        c->t_io = now_seconds();
    }
    return true;
}

static void peer_name(const struct sockaddr_storage *a, char *out, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, a->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

static void accept_clients(server *sv) {
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept(sv->p->listen_fd, (struct sockaddr *)&addr, &len);
        if (fd < 0) return;   /* EAGAIN: no more; other errors (EMFILE ...): try next time */
        int flags = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
        if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || sv->n_conns >= sv->p->max_conns) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                       "Content-Length: 96\r\nConnection: close\r\n\r\n"
                                       "{\"error\":{\"message\":\"too many connections\",\"type\":\"unavailable_error\","
                                       "\"param\":null,\"code\":503}}";
            ssize_t rc = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)rc;
            close(fd);
            continue;
        }
        conn *c = xcalloc(1, sizeof *c);
        c->fd = fd;
        c->t_io = now_seconds();
        c->state = C_READ;
        peer_name(&addr, c->peer, sizeof c->peer);
        sv->conns[sv->n_conns++] = c;
    }
}

/* A request not whole within --timeout of its first byte (a slow client holding a
 * connection: slowloris) gets 408; an idle keep-alive connection or a reader that takes
 * nothing for --timeout is closed. Returns false to close c now. */
static bool check_timeouts(server *sv, conn *c, double now) {
    double limit = sv->p->timeout;
    if (c->out.len > 0 && now - c->t_io > limit) return false;          /* a stalled reader */
    if (c->state == C_CLOSING) return c->out.len > 0;
    if (c->state != C_READ) return true;
    if (c->t_request && now - c->t_request > limit) {
        reply_error(sv, c, 408, "the request did not arrive in time (--timeout)");
        return true;
    }
    return !(c->in.len == 0 && !c->t_request && now - c->t_io > limit);  /* idle keep-alive */
}

/* ---------------------------------------------------------------------------------------
 * The loop */

static void drain_pipe(int fd) {
    char tmp[256];
    while (read(fd, tmp, sizeof tmp) > 0) {}
}

/* SIGTERM/SIGINT: stop taking connections and requests; idle connections close now. */
static void start_drain(server *sv, double now) {
    sv->draining = true;
    sv->drain_deadline = now + sv->p->timeout;
    close(sv->p->listen_fd);
    api_set_draining(sv->p->A);
    logf_("gemma: shutting down: %d request%s running, %.0f s to finish (--timeout)\n", sched_pending(sv->p->S),
          sched_pending(sv->p->S) == 1 ? "" : "s", sv->p->timeout);
    for (int i = sv->n_conns - 1; i >= 0; i--) {
        conn *c = sv->conns[i];
        if (c->state == C_READ && c->out.len == 0) close_conn(sv, i);
        else c->keep_alive = false;
    }
}

int server_run(const server_params *p) {
    server sv = {0};
    sv.p = p;
    sv.conns = xcalloc((size_t)p->max_conns, sizeof *sv.conns);
    struct pollfd *pfd = xcalloc((size_t)p->max_conns + 3, sizeof *pfd);
    for (;;) {
        double now = now_seconds();
        if (sv.draining && sv.n_conns == 0 && sched_pending(p->S) == 0) break;
        if (sv.draining && !sv.cancelled && now > sv.drain_deadline) {
            logf_("gemma: shutting down: cancelling what still runs\n");
            sched_cancel_all(p->S);
            sv.cancelled = true;
            sv.drain_deadline = now + 5;   /* for the last bytes */
        } else if (sv.cancelled && now > sv.drain_deadline) {
            break;
        }
        int n = 0;
        pfd[n++] = (struct pollfd){p->wake_fd, POLLIN, 0};
        pfd[n++] = (struct pollfd){p->signal_fd, POLLIN, 0};
        int base = n;
        for (int i = 0; i < sv.n_conns; i++) {
            conn *c = sv.conns[i];
            short ev = POLLRDHUP;
            size_t cap = p->limits.max_head + p->limits.max_body + 65536;
            if (c->in.len <= cap) ev |= POLLIN;
            if (c->out.len) ev |= POLLOUT;
            pfd[n++] = (struct pollfd){c->fd, ev, 0};
        }
        if (!sv.draining) pfd[n++] = (struct pollfd){p->listen_fd, POLLIN, 0};
        int rc = poll(pfd, (nfds_t)n, 250);
        if (rc < 0 && errno != EINTR) die(EXIT_RUNTIME, "poll: %s", strerror(errno));
        now = now_seconds();
        if (pfd[1].revents) {
            drain_pipe(p->signal_fd);
            if (!sv.draining) start_drain(&sv, now);
        }
        if (pfd[0].revents) drain_pipe(p->wake_fd);
        /* connections: in, then the jobs' output, then out; from the back, so that closing
         * one (moving the last into its place) does not skip any */
        int polled = sv.n_conns;
        for (int i = polled - 1; i >= 0; i--) {
            conn *c = sv.conns[i];
            short re = pfd[base + i].revents;
            bool alive = true;
            if (re & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) alive = on_readable(&sv, c);
            if (alive && (re & (POLLRDHUP | POLLHUP | POLLERR))) alive = false;
            if (alive && c->job) pump_job(&sv, c);
            if (alive && c->out.len) alive = on_writable(c);
            if (alive) alive = check_timeouts(&sv, c, now);
            if (alive && c->state == C_CLOSING && c->out.len == 0) alive = false;
            if (!alive) close_conn(&sv, i);
        }
        if (!sv.draining && n > base + polled && pfd[n - 1].revents) accept_clients(&sv);
    }
    while (sv.n_conns > 0) close_conn(&sv, sv.n_conns - 1);
    free(pfd);
    free(sv.conns);
    return 0;
}
