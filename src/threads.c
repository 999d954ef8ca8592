/* threads.c - persistent worker pool.
 *
 * A forward pass is a chain of small parallel regions (decode: 72-221 per token, most of
 * them matrix products of 20-400 us), separated by serial steps on the caller of 2-100 us.
 * So a waiting thread - a worker between jobs, the caller waiting for the workers - first
 * spins for a bounded time (SPIN_NS) and only then sleeps on a condition variable:
 *   - spinning, a hand-off costs ~1 us; waking a sleeper costs 11-19 us (measured on a
 *     Zen 4 KVM guest), which at 54-82% of the regions was 2-6% of decode;
 *   - sleeping after the budget keeps an idle engine (a chat waiting for input) at 0% CPU,
 *     and a `pause` (spin_relax) per step and a sched_yield every SPINS_PER_YIELD steps
 *     leave the core to other threads on a busy machine, where spinning without bound is
 *     what makes OpenMP runtimes collapse.
 * A sleeper is woken only if one is asleep (the `sleepers` / `caller_asleep` flags), so a
 * job started while everyone spins costs no system call.
 *
 * Those flags are a store-then-load handshake on two variables (the waker stores the job
 * word, then reads `sleepers`; the sleeper bumps `sleepers`, then reads the job word): each
 * side must see the other's store or its own must be seen. C11's seq_cst accesses promise
 * that, but qemu-user 7.2 running AArch64 code on x86-64 translates stlr/ldar without the
 * store-load barrier between them, and a worker slept through its job there (both threads
 * on futexes, the NEON suites hung in CI). So each side puts a full fence between its store
 * and its load (store_then_load): a dmb or mfence per job start, ~30 ns against jobs of
 * 20-400 us, and never a lost wake-up on any memory model.
 *
 * The job word carries the job's number and its thread count in one atomic, so a worker
 * left out of a job (pool_set_active) decides so from the word alone: the caller does not
 * wait for it, and it never reads fn/ctx, which the next job may already be writing. A
 * worker left out of the jobs sleeps at once instead of spinning. */
#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct threadpool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* workers sleep here between jobs */
    pthread_cond_t done;     /* the caller sleeps here while a job's workers are still busy */
    atomic_uint job;         /* (job number << 16) | its thread count; pool_run bumps it */
    atomic_int pending;      /* workers still running the current job */
    atomic_int sleepers;     /* workers asleep on `wake` (or about to be) */
    atomic_bool caller_asleep;
    atomic_bool quit;
    atomic_int active;       /* threads the next jobs use (pool_set_active) */
    pool_fn fn;
    void *ctx;
};

typedef struct { threadpool *p; int ith; } worker_arg;

/* ---- bounded spinning ----
 * The budget covers the serial steps between two regions of one token. Measured in the
 * decode of gemma3-1b, gemma4-e2b and the 26B-A4B MoE (Q4_0, 2 threads, Zen 4): 97-99% of
 * those gaps are under 50 us and all but a few per 100 tokens under 100 us; the longest
 * (100-500 us) are rare. Worker sleeps per token: 1.3 (g1b), 5.3 (e2b), 2.9 (moe) with a
 * 50 us budget; 0.1, 0.2, 0.4 with 100 us; none with 200 us (500 us: no better). So 200 us,
 * with margin for slower cores and wider models; spinning costs a thread at most that much
 * CPU per wait: ~1% of a core at 40 tokens/s, nothing once the engine is idle. */
#define SPIN_NS 200000
#define SPINS_PER_CLOCK 64     /* a step is ~25 ns on Zen 4 (pause), the clock read ~23 ns */
#define SPINS_PER_YIELD 1024   /* ~25 us: yield costs ~0.5 us when nobody else wants the core */

/* Tell the core this is a spin-wait: frees the pipeline for the sibling hyper-thread,
 * lowers power, and avoids the memory-order flush when the awaited store arrives. */
static inline void spin_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static int64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct { unsigned steps; int64_t start; } spinner;

static spinner spin_begin(void) { return (spinner){0, clock_ns()}; }

/* One step of a bounded busy wait: false once the budget is spent (then sleep). */
static bool spin_step(spinner *s) {
    spin_relax();
    s->steps++;
    if (s->steps % SPINS_PER_YIELD == 0) sched_yield();
    return s->steps % SPINS_PER_CLOCK != 0 || clock_ns() - s->start < SPIN_NS;
}

void pool_wait_flag(const atomic_int *flag) {
    spinner s = spin_begin();
    while (!atomic_load_explicit(flag, memory_order_acquire)) (void)spin_step(&s);
}

/* ---- the workers ---- */

#define JOB_THREADS(job) ((int)((job) & 0xFFFFu))
#define MAX_THREADS 0xFFFF

/* The job word after `seen`: spin (unless worker ith is left out of the jobs), then sleep
 * until pool_run (or pool_free) changes it. */
/* The store before the fence is seen by others before the load after it reads. */
static inline void store_then_load(void) { atomic_thread_fence(memory_order_seq_cst); }

static unsigned next_job(threadpool *p, unsigned seen, int ith) {
    unsigned job = atomic_load(&p->job);
    if (ith < atomic_load(&p->active)) {
        spinner s = spin_begin();
        while ((job = atomic_load(&p->job)) == seen && spin_step(&s)) {}
    }
    if (job != seen) return job;
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1); /* before the re-check: pool_run stores, then looks */
    store_then_load();
    while ((job = atomic_load(&p->job)) == seen) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return job;
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    threadpool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    for (unsigned seen = 0;;) {
        seen = next_job(p, seen, ith);
        if (atomic_load(&p->quit)) return NULL;
        if (ith >= JOB_THREADS(seen)) continue; /* not part of this job */
        p->fn(p->ctx, ith, JOB_THREADS(seen));
        /* the last one out wakes a caller that went to sleep (it sets the flag, then looks) */
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            store_then_load();
            if (atomic_load(&p->caller_asleep)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done);
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
}

threadpool *pool_new(int n_threads) {
    threadpool *p = xcalloc(1, sizeof *p);
    p->n = n_threads < 1 ? 1 : n_threads > MAX_THREADS ? MAX_THREADS : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->job, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_asleep, false);
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

/* Start the next job on nth threads: the spinning workers see it, the sleeping ones are
 * woken. Only the caller (pool_run, pool_free) writes the word. */
static void start_job(threadpool *p, int nth) {
    unsigned next = ((atomic_load(&p->job) >> 16) + 1) << 16;
    atomic_store(&p->job, next | (unsigned)nth);
    store_then_load();
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

void pool_free(threadpool *p) {
    if (!p) return;
    atomic_store(&p->quit, true);
    start_job(p, p->n);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
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
    start_job(p, nth);
    fn(ctx, 0, nth);
    /* The workers usually finish within microseconds of the caller's own share. */
    spinner s = spin_begin();
    while (atomic_load(&p->pending) > 0 && spin_step(&s)) {}
    if (atomic_load(&p->pending) == 0) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_asleep, true); /* before the re-check: the last worker looks */
    store_then_load();
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
    atomic_store(&p->caller_asleep, false);
    pthread_mutex_unlock(&p->mu);
}

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

/* Physical cores: distinct (physical id, core id) pairs in /proc/cpuinfo; falls back to
 * the number of online logical CPUs. */
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
