/* server.h - the connection loop of `gemma serve` (server.c): one thread, poll() over the
 * listening socket, the connections, the scheduler's wake-up pipe and the signal pipe. */
#ifndef GEMMA_SERVER_H
#define GEMMA_SERVER_H

#include "api.h"
#include "http.h"
#include "scheduler.h"

typedef struct {
    int listen_fd;          /* bound and listening, non-blocking */
    int wake_fd;            /* read end of the scheduler's wake-up pipe */
    int signal_fd;          /* read end of the pipe the SIGTERM/SIGINT handler writes */
    http_limits limits;
    double timeout;         /* seconds: slow or idle clients; the grace time at shutdown */
    int max_conns;
    api *A;
    sched *S;
} server_params;

/* Serve until a signal arrives, then drain (see server.c). Returns 0. */
int server_run(const server_params *p);

#endif
