/* scheduler.h - the server's inference side: jobs (one request's generation), slots (a context
 * each, with the tokens in its cache) and the scheduler that runs every active slot one
 * step at a time on the inference thread (scheduler.c).
 *
 * A job is shared by two threads: the connection loop (server.c) that submitted it and
 * reads its output, and the inference thread that generates it. The request part is written
 * before sched_submit and only read after; the output part is guarded by the job's mutex;
 * cancel is an atomic the connection sets when its client goes away. Each side holds a
 * reference (job_release frees at zero).
 *
 * What the scheduler produces is events (text deltas, then the end with its reason and
 * counts); the job's emit function (api.c) turns them into the bytes of the response, in
 * job->out, and the scheduler wakes the connection loop (wake_fd). */
#ifndef GEMMA_SCHEDULER_H
#define GEMMA_SCHEDULER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "gemma.h"
#include "step.h"

#define SCHED_MAX_STOP 4     /* OpenAI's limit on stop sequences */

typedef enum {
    FINISH_NONE = 0, FINISH_STOP, FINISH_LENGTH, FINISH_TOOL_CALLS, FINISH_CANCELLED, FINISH_ERROR
} finish_reason;

typedef struct {
    /* the text since the last event: the answer's, and Gemma 4's thoughts */
    const char *content, *reasoning;
    size_t content_len, reasoning_len;
    finish_reason finish;    /* FINISH_NONE: more to come */
    const char *error;       /* FINISH_ERROR: what went wrong */
    const char *tool_calls;  /* FINISH_TOOL_CALLS: {"name":...,"arguments":{...}}\n per call */
    int n_tool_calls;
} job_event;

typedef struct job job;
struct job {
    /* ---- the request (the submitter's until sched_submit, read-only after) ---- */
    int32_t *prompt;                  /* owned */
    int n_prompt;
    gemma_sampler_params sp;
    int n_predict;                    /* tokens at most; < 0: until the context is full */
    char *stop[SCHED_MAX_STOP];       /* owned; the text ends before the first match */
    int n_stop;
    step_rules *rules;                /* owned: the answer's grammar (a JSON schema, any JSON,
                                       * tools) and Gemma 4's thought channel, as the CLI's
                                       * (step.c); never NULL once submitted */
    bool after_results;               /* the conversation ends with tool results */
    /* the response's writer: called on the inference thread with mu held */
    void (*emit)(job *j, const job_event *e);
    void (*free_ctx)(void *ctx);      /* frees ctx with the job */
    void *ctx;                        /* the writer's state (api.c) */

    /* ---- shared ---- */
    pthread_mutex_t mu;
    buf out;                          /* response bytes not yet taken by the connection */
    bool done;                        /* the last event was emitted */
    int status;                       /* the response's HTTP status (the writer sets it) */
    atomic_bool cancel;               /* the client went away: stop at the next step */
    atomic_int refs;

    /* ---- counts, final once done ---- */
    int n_cached;                     /* prompt tokens found in the slot's cache */
    int n_gen;                        /* tokens generated */
    int slot;                         /* the slot that ran it, -1 before */
    double t_submit, t_start, t_first, t_end;   /* seconds (now_seconds) */
};

job *job_new(void);                   /* refs 1 */
void job_retain(job *j);
void job_release(job *j);

typedef struct {
    int n_slots;
    int n_ctx;                        /* per slot */
    int n_threads, n_threads_batch;
    int n_chunk;                      /* prompt tokens per slot per step */
    int max_queue;                    /* jobs waiting for a slot before sched_submit refuses */
    int wake_fd;                      /* written (one byte) when a job has new output */
    gemma_kv_type type_k, type_v;     /* the slots' KV caches */
} sched_params;

typedef struct {
    int n_slots, slots_busy, queued, max_queue;
    uint64_t prompt_tokens, cached_tokens, gen_tokens, jobs_done, steps;
    double prompt_seconds, gen_seconds;   /* time in prompt and generation evaluation */
    uint64_t cache_tokens;               /* tokens held in all slots' caches */
} sched_stats;

typedef struct sched sched;

sched *sched_new(gemma_model *m, const sched_params *p, char *err);
void sched_free(sched *S);
/* Start the inference thread. */
int sched_start(sched *S, char *err);
/* Queue a job (the scheduler takes a reference): 0, or -1 if the queue is full. */
int sched_submit(sched *S, job *j);
/* Jobs running or queued. */
int sched_pending(sched *S);
/* Cancel every job (running and queued); they end with FINISH_CANCELLED. */
void sched_cancel_all(sched *S);
/* Stop the thread (after the current step) and join it. */
void sched_stop(sched *S);
void sched_get_stats(sched *S, sched_stats *st);
int sched_n_ctx(const sched *S);
size_t sched_kv_bytes(const sched *S);   /* every slot's KV cache */

#endif
