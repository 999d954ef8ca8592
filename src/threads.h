/* threads.h - a persistent pool of worker threads for data-parallel loops.
 *
 * pool_run(pool, fn, ctx) calls fn(ctx, ith, nth) once on each of the nth active threads
 * (the caller is thread 0) and returns when all are done. Work inside fn is usually split with
 * pool_next(): an atomic counter handing out chunk indices, so a fast thread takes more
 * chunks and no core idles while another finishes its share. */
#ifndef GEMMA_THREADS_H
#define GEMMA_THREADS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct threadpool threadpool;
typedef void (*pool_fn)(void *ctx, int ith, int nth);

threadpool *pool_new(int n_threads);   /* n_threads >= 1; 1 means no extra threads */
void pool_free(threadpool *p);
int pool_size(const threadpool *p);
void pool_run(threadpool *p, pool_fn fn, void *ctx);
/* Threads the next pool_run calls use: the first n (clamped to [1, pool_size]); the others
 * sleep. One pool thus serves prompt processing (-tb) and generation (-t) with different
 * counts; per-thread scratch stays sized by pool_size. */
void pool_set_active(threadpool *p, int n);
int pool_active(const threadpool *p);

/* Shared chunk counter for dynamic scheduling inside one pool_run. */
typedef struct { atomic_int next; } chunk_counter;
static inline void chunks_reset(chunk_counter *c) { atomic_store(&c->next, 0); }
static inline int chunks_next(chunk_counter *c) { return atomic_fetch_add(&c->next, 1); }

/* Inside one pool_run: wait until another thread of the run sets *flag (acquire), spinning
 * with the pool's pause and yield (for a flag that thread is about to set: a few us). */
void pool_wait_flag(const atomic_int *flag);

/* fn(arg, r0, r1) over the rows [0, n) of `width` floats each, in chunks over the pool when
 * there is enough work to pay for waking the threads (prefill); small jobs (decode) run on
 * the caller's thread. For row-independent work, so results do not depend on the split:
 * the elementwise steps between matrix products (norms, GeGLU, residual adds). */
typedef void (*rows_fn)(const void *arg, int r0, int r1);
void pool_for_rows(threadpool *p, int n, int64_t width, rows_fn fn, const void *arg);

int cpu_physical_cores(void);

#endif
