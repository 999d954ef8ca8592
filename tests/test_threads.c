/* test_threads.c - the worker pool with fewer active threads than it has (pool_set_active,
 * behind -tb / -t): each job runs on exactly the first n threads, each once, told n, also
 * when the count changes between every pair of jobs (a left-out worker must neither run a
 * job nor miss one it belongs to); and no lost wake-up when jobs come and end just as the
 * waiting side gives up spinning and goes to sleep. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "threads.h"

#define POOL 4

typedef struct {
    atomic_int calls[POOL];
    atomic_int bad_nth;
    int want_nth;
} job;

static void count_call(void *arg, int ith, int nth) {
    job *j = arg;
    if (ith >= 0 && ith < POOL) atomic_fetch_add(&j->calls[ith], 1);
    if (nth != j->want_nth) atomic_fetch_add(&j->bad_nth, 1);
}

/* ---- wake-ups at the edge of the spin budget ----
 * A waiting thread spins for 200 us (threads.c SPIN_NS), then sleeps; a job posted or
 * finished as it goes to sleep must still wake it. Jobs here start after pauses and run for
 * times spread around that budget, so both the worker's and the caller's sleep races the
 * other side's store many times. A lost wake-up leaves both threads asleep for good, so a
 * watchdog ends the run with a FAIL line instead of hanging the suite. */
static void busy_us(int us) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

typedef struct { int worker_us; atomic_int runs; } edge_job;

static void edge_call(void *arg, int ith, int nth) {
    (void)nth;
    edge_job *j = arg;
    if (ith == 1) busy_us(j->worker_us);
    atomic_fetch_add(&j->runs, 1);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int seconds;
} watchdog;

static void *watchdog_main(void *arg) {
    watchdog *w = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += w->seconds;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0 && !w->done) {
            printf("FAIL threads: no lost wake-up at the edge of the spin budget (still waiting after %d s)\n",
                   w->seconds);
            fflush(stdout);
            _exit(1);
        }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void wakeups_at_the_edge(void) {
    TEST_BEGIN("threads: no lost wake-up when jobs start and end at the edge of the spin budget");
    watchdog w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 120};
    pthread_t dog;
    bool guarded = pthread_create(&dog, NULL, watchdog_main, &w) == 0;
    threadpool *p = pool_new(2);
    int missed = 0;
    unsigned rng = 12345;
    for (int r = 0; r < 30000; r++) {
        rng = rng * 1103515245u + 12345u;
        int pause_us = 190 + (int)(rng >> 16) % 40;     /* around the 200 us budget */
        edge_job j = {(int)(rng >> 8) % 300, 0};         /* the caller waits 0..300 us */
        if (r % 2) busy_us(pause_us);
        else usleep((useconds_t)pause_us);
        pool_run(p, edge_call, &j);
        if (atomic_load(&j.runs) != 2) missed++;
    }
    pool_free(p);
    EXPECT(missed == 0, "%d of 30000 jobs returned before both threads ran them", missed);
    if (guarded) {
        pthread_mutex_lock(&w.mu);
        w.done = true;
        pthread_cond_signal(&w.cv);
        pthread_mutex_unlock(&w.mu);
        pthread_join(dog, NULL);
    }
    TEST_END();
}

void suite_threads(void) {
    TEST_BEGIN("threads: pool_set_active clamps to [1, pool size]");
    threadpool *p = pool_new(POOL);
    pool_set_active(p, 0);
    EXPECT(pool_active(p) == 1, "0 -> %d", pool_active(p));
    pool_set_active(p, 99);
    EXPECT(pool_active(p) == POOL, "99 -> %d", pool_active(p));
    TEST_END();

    TEST_BEGIN("threads: each job runs once on each of the first n threads, n changing every job");
    static const int pattern[] = {1, 4, 2, 3, 1, 1, 4, 4, 2, 1, 3};
    int wrong = 0;
    for (int r = 0; r < 3000 && wrong < 5; r++) {
        int n = pattern[r % (int)(sizeof pattern / sizeof pattern[0])];
        job j;
        memset(&j, 0, sizeof j);
        j.want_nth = n;
        pool_set_active(p, n);
        pool_run(p, count_call, &j);
        for (int t = 0; t < POOL; t++) {
            int c = atomic_load(&j.calls[t]);
            if (c != (t < n ? 1 : 0)) {
                EXPECT(false, "job %d with %d threads: thread %d ran %d times", r, n, t, c);
                wrong++;
            }
        }
        EXPECT(atomic_load(&j.bad_nth) == 0, "job %d: nth was not %d", r, n);
    }
    pool_free(p);
    TEST_END();

    wakeups_at_the_edge();
}
