/* test_threads.c - the worker pool with fewer active threads than it has (pool_set_active,
 * behind -tb / -t): each job runs on exactly the first n threads, each once, told n, also
 * when the count changes between every pair of jobs (a left-out worker must neither run a
 * job nor miss one it belongs to). */
#include <stdatomic.h>
#include <string.h>

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
}
