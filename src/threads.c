/* threads.c - persistent worker pool. Workers spin briefly on a job counter (cheap
 * hand-off between the many small parallel loops of one forward pass), then sleep on a
 * condition variable so an idle engine burns no CPU.
 *
 * The job word carries the job's number and its thread count in one atomic, so a worker
 * left out of a job (pool_set_active) decides so from the word alone: the caller does not
 * wait for it, and it never reads fn/ctx, which the next job may already be writing. */
#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct threadpool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint job;         /* (job number << 16) | its thread count; pool_run bumps it */
    atomic_int pending;      /* workers still running the current job */
    atomic_bool quit;
    atomic_int active;       /* threads the next jobs use (pool_set_active) */
    pool_fn fn;
    void *ctx;
};

typedef struct { threadpool *p; int ith; } worker_arg;

#define SPIN_ITERS 20000
#define JOB_THREADS(job) ((int)((job) & 0xFFFFu))
#define MAX_THREADS 0xFFFF

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    threadpool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned job = atomic_load(&p->job);
        /* a worker left out of the jobs (pool_set_active) sleeps instead of spinning */
        int spin = ith < atomic_load(&p->active) ? SPIN_ITERS : 0;
        for (int i = 0; job == seen && i < spin; i++) job = atomic_load(&p->job);
        if (job == seen) {
            pthread_mutex_lock(&p->mu);
            while ((job = atomic_load(&p->job)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = job;
        if (ith >= JOB_THREADS(job)) continue; /* not part of this job */
        p->fn(p->ctx, ith, JOB_THREADS(job));
        atomic_fetch_sub(&p->pending, 1);
    }
}

threadpool *pool_new(int n_threads) {
    threadpool *p = xcalloc(1, sizeof *p);
    p->n = n_threads < 1 ? 1 : n_threads > MAX_THREADS ? MAX_THREADS : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->job, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
    p->threads = xcalloc((size_t)p->n, sizeof(pthread_t));
    for (int i = 1; i < p->n; i++) {
        worker_arg *wa = xmalloc(sizeof *wa);
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    atomic_init(&p->active, p->n);
    return p;
}

void pool_free(threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}

int pool_size(const threadpool *p) { return p ? p->n : 1; }

void pool_set_active(threadpool *p, int n) {
    if (p) atomic_store(&p->active, n < 1 ? 1 : n > p->n ? p->n : n);
}

int pool_active(const threadpool *p) { return p ? atomic_load(&p->active) : 1; }

void pool_run(threadpool *p, pool_fn fn, void *ctx) {
    int nth = pool_active(p);
    if (nth == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, nth - 1);
    pthread_mutex_lock(&p->mu);
    unsigned next = ((atomic_load(&p->job) >> 16) + 1) << 16; /* only this thread writes it */
    atomic_store(&p->job, next | (unsigned)nth);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, nth);
    /* Workers usually finish within microseconds: spin, but yield the core now and then so
     * a descheduled worker (busy machine) can run. */
    for (unsigned spins = 0; atomic_load(&p->pending) > 0; spins++)
        if ((spins & 1023) == 1023) sched_yield();
}

/* Physical cores: distinct (physical id, core id) pairs in /proc/cpuinfo; falls back to
 * the number of online logical CPUs. */
typedef struct {
    rows_fn fn;
    const void *arg;
    int n, chunk;
    chunk_counter next;
} rows_job;

#define PARALLEL_MIN_WORK 32768 /* floats touched; below this one thread is faster */

static void rows_worker(void *ctx, int ith, int nth) {
    (void)ith;
    (void)nth;
    rows_job *j = ctx;
    for (int ch = chunks_next(&j->next); ch * j->chunk < j->n; ch = chunks_next(&j->next)) {
        int r0 = ch * j->chunk, r1 = r0 + j->chunk < j->n ? r0 + j->chunk : j->n;
        j->fn(j->arg, r0, r1);
    }
}

void pool_for_rows(threadpool *p, int n, int64_t width, rows_fn fn, const void *arg) {
    int nth = pool_size(p);
    if (nth == 1 || n < 2 || (int64_t)n * width < PARALLEL_MIN_WORK) {
        fn(arg, 0, n);
        return;
    }
    rows_job j = {fn, arg, n, 0, {0}};
    j.chunk = (n + 4 * nth - 1) / (4 * nth); /* four chunks per thread evens out the load */
    chunks_reset(&j.next);
    pool_run(p, rows_worker, &j);
}

int cpu_physical_cores(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) return (int)online;
    char line[256];
    int phys = -1, n = 0;
    int seen[1024][2];
    while (fgets(line, sizeof line, fp)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
        else if (sscanf(line, "core id : %d", &v) == 1) {
            bool dup = false;
            for (int i = 0; i < n; i++)
                if (seen[i][0] == phys && seen[i][1] == v) dup = true;
            if (!dup && n < 1024) { seen[n][0] = phys; seen[n][1] = v; n++; }
        }
    }
    fclose(fp);
    return n > 0 ? n : (int)online;
}
