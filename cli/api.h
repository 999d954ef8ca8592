/* api.h - the endpoints of `gemma serve` (api.c): an HTTP request in, a reply out, either
 * whole (status, type, body) or as a job for the scheduler whose writer fills the response
 * as tokens come (the connection loop, server.c, sends it). */
#ifndef GEMMA_API_H
#define GEMMA_API_H

#include <stdbool.h>

#include "buf.h"
#include "gemma.h"
#include "http.h"
#include "scheduler.h"

typedef struct {
    const char *model_id;             /* the name /v1/models lists (--alias, else the file's) */
    const char *api_key;              /* NULL: no key needed */
    gemma_sampler_params sp;          /* sampling defaults for requests that do not say */
    int n_predict;                    /* default max_tokens (-1: until the answer ends) */
    bool think;                       /* Gemma 4 thinking unless a request says otherwise */
} api_params;

typedef struct {
    int status;
    const char *content_type;
    buf body;
    const char *extra_headers;        /* NULL or header lines ending in \r\n */
    job *job;                         /* non-NULL: the body comes from this job */
    bool stream;                      /* ... as server-sent events (chunked) */
} api_reply;

typedef struct api api;

api *api_new(gemma_model *m, sched *S, const api_params *p);
void api_free(api *A);
/* Answer the request whose head is r and body body[0..len). */
void api_handle(api *A, const http_request *r, const char *body, size_t len, api_reply *out);
/* An OpenAI-shaped error reply (also for the connection loop's own 400/408/413/431 ...). */
void api_error(api_reply *out, int status, const char *message);
/* Count a finished response for /metrics (status, tokens). */
void api_count(api *A, int status, int n_prompt, int n_gen);
/* The server is shutting down: /health says 503 and new generations are refused. */
void api_set_draining(api *A);

#endif
