/* scheduler.c - the scheduler of `gemma serve`: slots, the request queue, and the inference
 * thread that advances every active slot one step at a time (see scheduler.h).
 *
 *   sched_main           the inference thread: assign queued jobs to free slots, then step
 *     assign_jobs        queue -> the free slot whose cache shares the longest prefix with
 *                        the job's prompt (a chat's next turn finds its conversation there);
 *       start_job        truncate the slot's cache to that prefix, a sampler for the job
 *     step_slots         one step over all active slots:
 *       plan_slot          a slot with prompt left feeds up to n_chunk prompt tokens, a
 *                          generating slot feeds the token it sampled last; a step holds
 *                          every generating slot's token and prompt chunks up to step_rows()
 *       eval_step          THE evaluation: one gemma_eval_batch for all slots (one batch of
 *                          rows through every matmul, each row attending to its own slot's
 *                          cache)
 *       generate_token     the CLI's per-token step (step.c): sampled under the job's rules
 *                          (a JSON schema, any JSON, tool calls), the token's kind (answer,
 *                          thought, channel mark, a call held back); stop strings and half
 *                          characters held back, deltas emitted
 *       finish             the calls read back (finish_reason tool_calls), the last event;
 *                          the slot keeps its tokens for the next job
 *
 * Prompts go in chunks of n_chunk tokens, so a long prompt delays the other slots' next token
 * by one chunk's evaluation at a time, never by the whole prompt. A chunk's size does not
 * depend on what else runs, and a row's results do not depend on the other rows of the
 * batch (include/gemma.h: gemma_eval_batch), so a request's tokens do not either
 * (tests/test_serve.c checks a greedy request alone and among seven others). */
#include "scheduler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---------------------------------------------------------------------------------------
 * Jobs */

job *job_new(void) {
    job *j = xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->cancel, false);
    atomic_init(&j->refs, 1);
    j->n_predict = -1;
    j->slot = -1;
    gemma_sampler_params_default(&j->sp);
    return j;
}

void job_retain(job *j) { atomic_fetch_add(&j->refs, 1); }

void job_release(job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    free(j->prompt);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    if (j->rules) step_rules_free(j->rules);
    free(j->rules);
    if (j->free_ctx) j->free_ctx(j->ctx);
    buf_free(&j->out);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* ---------------------------------------------------------------------------------------
 * Slots and the scheduler */

/* The text of the running answer: what was emitted, and what is held back until it is clear
 * that it is not the start of a stop string or of a character. */
typedef struct {
    buf content, reasoning;
    size_t content_sent, reasoning_sent;
    bool thought_named;       /* the channel's name ("thought\n") is behind us */
} answer_text;

typedef struct {
    int id;
    gemma_context *c;
    int32_t *cache;           /* the tokens in the KV cache, in order */
    int n_cache;
    job *j;                   /* NULL: free */
    int n_fed;                /* prompt tokens in the cache */
    gemma_sampler *s;
    step st;                  /* the running answer's token rules (step.c) */
    float *logits;            /* n_vocab floats in sched.logits: slot i's at i * n_vocab */
    int32_t next;             /* the token sampled last, fed in the next step */
    double last_used;
    answer_text t;
} slot;

struct sched {
    gemma_model *m;
    sched_params p;
    int n_vocab;
    slot *slots;
    float *logits;               /* [n_slots][n_vocab], one block: when the step's rows with
                                    logits are consecutive slots, gemma_eval_batch writes
                                    them where they go, not through a copy (8 MB a step of 8
                                    slots on a 262,144-token vocabulary) */
    pthread_t thread;
    bool started;

    pthread_mutex_t mu;          /* guards what follows */
    pthread_cond_t cv;
    job **queue;
    int n_queue;
    bool stop;
    sched_stats st;
};

static void wake(sched *S) {
    if (S->p.wake_fd < 0) return;
    ssize_t rc = write(S->p.wake_fd, "w", 1);   /* a full pipe is a wake-up pending: fine */
    (void)rc;
}

/* Rows a step holds at most: every other slot's token and one prompt chunk (the contexts'
 * micro-batch, so a step is one forward pass). */
static int step_rows(const sched_params *p) { return p->n_chunk + p->n_slots - 1; }

sched *sched_new(gemma_model *m, const sched_params *p, char *err) {
    sched *S = xcalloc(1, sizeof *S);
    S->m = m;
    S->p = *p;
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    S->n_vocab = info.n_vocab;
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);
    S->queue = xcalloc((size_t)p->max_queue + (size_t)p->n_slots, sizeof *S->queue);
    S->slots = xcalloc((size_t)p->n_slots, sizeof *S->slots);
    S->st.n_slots = p->n_slots;
    S->st.max_queue = p->max_queue;
    S->logits = xmalloc((size_t)p->n_slots * (size_t)S->n_vocab * sizeof *S->logits);
    for (int i = 0; i < p->n_slots; i++) {
        slot *s = &S->slots[i];
        s->id = i;
        gemma_context_params cp = {.n_ctx = p->n_ctx,
                                   .n_threads = p->n_threads > p->n_threads_batch ? p->n_threads : p->n_threads_batch,
                                   .n_batch = step_rows(p), .type_k = p->type_k, .type_v = p->type_v};
        s->c = gemma_context_new(m, &cp, err);
        if (!s->c) {
            sched_free(S);
            return NULL;
        }
        gemma_set_threads(s->c, p->n_threads, p->n_threads_batch);
        s->cache = xmalloc((size_t)p->n_ctx * sizeof *s->cache);
        s->logits = S->logits + (size_t)i * (size_t)S->n_vocab;
    }
    return S;
}

void sched_free(sched *S) {
    if (!S) return;
    for (int i = 0; i < S->p.n_slots; i++) {
        slot *s = &S->slots[i];
        gemma_context_free(s->c);
        gemma_sampler_free(s->s);
        free(s->cache);
        buf_free(&s->t.content);
        buf_free(&s->t.reasoning);
        job_release(s->j);
    }
    for (int i = 0; i < S->n_queue; i++) job_release(S->queue[i]);
    free(S->queue);
    free(S->slots);
    free(S->logits);
    pthread_mutex_destroy(&S->mu);
    pthread_cond_destroy(&S->cv);
    free(S);
}

int sched_n_ctx(const sched *S) { return S->p.n_ctx; }

size_t sched_kv_bytes(const sched *S) {
    size_t n = 0;
    for (int i = 0; i < S->p.n_slots; i++) n += gemma_kv_bytes(S->slots[i].c);
    return n;
}

/* A job is taken while a slot is free for it or the queue has room: n_queue counts both the
 * jobs waiting and those about to get a free slot at the next assign_jobs. */
int sched_submit(sched *S, job *j) {
    pthread_mutex_lock(&S->mu);
    int rc = -1;
    if (S->n_queue < S->p.max_queue + S->p.n_slots - S->st.slots_busy && !S->stop) {
        job_retain(j);
        j->t_submit = now_seconds();
        S->queue[S->n_queue++] = j;
        S->st.queued = S->n_queue;
        pthread_cond_signal(&S->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&S->mu);
    return rc;
}

int sched_pending(sched *S) {
    pthread_mutex_lock(&S->mu);
    int n = S->n_queue + S->st.slots_busy;
    pthread_mutex_unlock(&S->mu);
    return n;
}

void sched_cancel_all(sched *S) {
    pthread_mutex_lock(&S->mu);
    for (int i = 0; i < S->n_queue; i++) atomic_store(&S->queue[i]->cancel, true);
    for (int i = 0; i < S->p.n_slots; i++)
        if (S->slots[i].j) atomic_store(&S->slots[i].j->cancel, true);
    pthread_cond_signal(&S->cv);
    pthread_mutex_unlock(&S->mu);
}

void sched_get_stats(sched *S, sched_stats *st) {
    pthread_mutex_lock(&S->mu);
    *st = S->st;
    pthread_mutex_unlock(&S->mu);
}

/* ---------------------------------------------------------------------------------------
 * Events */

/* Hand an event to the job's writer and wake the connection loop. */
static void emit(sched *S, job *j, const job_event *e) {
    pthread_mutex_lock(&j->mu);
    j->emit(j, e);
    if (e->finish != FINISH_NONE) j->done = true;
    pthread_mutex_unlock(&j->mu);
    wake(S);
}

/* A job that ends without running (cancelled while queued). */
static void drop_job(sched *S, job *j, finish_reason why, const char *error) {
    job_event e = {0};
    e.finish = why;
    e.error = error;
    j->t_end = now_seconds();
    emit(S, j, &e);
    job_release(j);
}

/* ---------------------------------------------------------------------------------------
 * Assigning jobs to slots */

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* The free slot to run j: the longest common prefix with its cache, then the one unused the
 * longest (its cache is the least likely to be wanted again). */
static slot *pick_slot(sched *S, const job *j) {
    slot *best = NULL;
    int best_lcp = -1;
    for (int i = 0; i < S->p.n_slots; i++) {
        slot *s = &S->slots[i];
        if (s->j) continue;
        int lcp = common_prefix(s->cache, s->n_cache, j->prompt, j->n_prompt);
        if (lcp > best_lcp || (lcp == best_lcp && s->last_used < best->last_used)) {
            best = s;
            best_lcp = lcp;
        }
    }
    return best;
}

static void answer_reset(answer_text *t) {
    buf_clear(&t->content);
    buf_clear(&t->reasoning);
    t->content_sent = t->reasoning_sent = 0;
    t->thought_named = false;
}

/* Called with S->mu held: the slot's cache is cut to the prefix it shares with the prompt
 * (at least the last prompt token is evaluated again, for its logits). */
static bool start_job(sched *S, slot *s, job *j) {
    int keep = common_prefix(s->cache, s->n_cache, j->prompt, j->n_prompt);
    if (keep >= j->n_prompt) keep = j->n_prompt - 1;
    if (keep < s->n_cache && gemma_context_truncate(s->c, keep) != 0) keep = 0;  /* it was reset */
    if (keep == 0) gemma_context_reset(s->c);
    s->n_cache = keep;
    s->n_fed = keep;
    j->n_cached = keep;
    j->slot = s->id;
    j->t_start = now_seconds();
    char err[GEMMA_ERR_LEN];
    gemma_sampler_free(s->s);
    s->s = gemma_sampler_new(S->m, &j->sp, err);
    if (!s->s) {
        drop_job(S, j, FINISH_ERROR, err);
        return false;
    }
    step_begin(&s->st, j->rules, s->s, j->after_results);
    answer_reset(&s->t);
    s->j = j;
    S->st.slots_busy++;
    S->st.cached_tokens += (uint64_t)keep;
    return true;
}

/* Queue -> free slots, in arrival order; cancelled jobs leave the queue here. Called with
 * S->mu held. */
static void assign_jobs(sched *S) {
    int w = 0;
    for (int i = 0; i < S->n_queue; i++) {
        job *j = S->queue[i];
        if (atomic_load(&j->cancel)) {
            drop_job(S, j, FINISH_CANCELLED, NULL);
            continue;
        }
        slot *s = S->st.slots_busy < S->p.n_slots ? pick_slot(S, j) : NULL;
        if (s) start_job(S, s, j);
        else S->queue[w++] = j;
    }
    S->n_queue = w;
    S->st.queued = w;
}

/* ---------------------------------------------------------------------------------------
 * The text of a token */

/* Where text[from..to) may be cut without splitting a character: to, or the start of an
 * incomplete character at its end. */
static size_t char_boundary(const char *text, size_t from, size_t to) {
    for (size_t k = 1; k <= 3 && to >= from + k; k++) {
        unsigned char c = (unsigned char)text[to - k];
        if ((c & 0xC0) != 0x80) {   /* a lead byte (or ASCII): is its character complete? */
            return utf8_check((const unsigned char *)text + to - k, k) == 0 ? to - k : to;
        }
    }
    return to;
}

/* A stop string in the content: it is cut there, and true. Only the part not yet sent (and
 * a stop string's length before it) is searched. */
static bool cut_at_stop(const job *j, answer_text *t) {
    bool hit = false;
    for (int i = 0; i < j->n_stop; i++) {
        size_t len = strlen(j->stop[i]);
        size_t from = t->content_sent > len ? t->content_sent - len : 0;
        const char *p = t->content.len >= len ? strstr(t->content.p + from, j->stop[i]) : NULL;
        if (p && (size_t)(p - t->content.p) < t->content.len) {
            t->content.len = (size_t)(p - t->content.p);
            t->content.p[t->content.len] = 0;
            hit = true;
        }
    }
    return hit;
}

/* Emit what can be sent: all of it at the end, else what cannot be the start of a stop
 * string or of a character. */
static void send_text(sched *S, slot *s, finish_reason finish, const char *calls, int n_calls) {
    answer_text *t = &s->t;
    size_t c_end = t->content.len, r_end = t->reasoning.len;
    if (finish == FINISH_NONE) {
        c_end = char_boundary(t->content.p, t->content_sent, c_end - partial_prefix(s->j->stop, s->j->n_stop, t->content.p, c_end));
        r_end = char_boundary(t->reasoning.p, t->reasoning_sent, r_end);
    }
    job_event e = {0};
    if (c_end > t->content_sent) {
        e.content = t->content.p + t->content_sent;
        e.content_len = c_end - t->content_sent;
        t->content_sent = c_end;
    }
    if (r_end > t->reasoning_sent) {
        e.reasoning = t->reasoning.p + t->reasoning_sent;
        e.reasoning_len = r_end - t->reasoning_sent;
        t->reasoning_sent = r_end;
    }
    e.finish = finish;
    e.tool_calls = calls;
    e.n_tool_calls = n_calls;
    if (e.content_len || e.reasoning_len || finish != FINISH_NONE) emit(S, s->j, &e);
}

/* The thought channel opens with its name (step_thought_name): not part of the reasoning. */
static void skip_channel_name(answer_text *t) {
    if (t->thought_named) return;
    int name = step_thought_name(t->reasoning.p + t->reasoning_sent, t->reasoning.len - t->reasoning_sent);
    if (name < 0) return;
    t->reasoning_sent += (size_t)name;
    t->thought_named = true;
}

/* The end of a job: what is held back goes out with the reason; the slot keeps its cache. */
static void finish(sched *S, slot *s, finish_reason why, const char *error) {
    job *j = s->j;
    j->t_end = now_seconds();
    char *calls = NULL, err[GEMMA_ERR_LEN];
    int n_calls = 0;
    bool cut_off;
    if ((why == FINISH_STOP || why == FINISH_LENGTH) && j->rules->tools) {
        /* the calls the answer made (held back from its text by step.c) */
        if (step_calls(&s->st, &calls, &n_calls, &cut_off, err) != 0) {
            why = FINISH_ERROR;
            error = err;
        } else if (n_calls > 0) {
            why = FINISH_TOOL_CALLS;
        }
    }
    if (why == FINISH_ERROR || why == FINISH_CANCELLED) {
        job_event e = {0};
        e.finish = why;
        e.error = error;
        emit(S, j, &e);
    } else {
        send_text(S, s, why, calls, n_calls);
    }
    free(calls);
    step_end(&s->st);
    s->j = NULL;
    s->last_used = now_seconds();
    pthread_mutex_lock(&S->mu);
    S->st.slots_busy--;
    S->st.jobs_done++;
    S->st.gen_tokens += (uint64_t)j->n_gen;
    pthread_mutex_unlock(&S->mu);
    job_release(j);
}

/* Sample the next token from the slot's logits under the job's rules (step.c, as the CLI
 * does) and deliver its text. */
static void generate_token(sched *S, slot *s) {
    job *j = s->j;
    int left = S->p.n_ctx - s->n_cache;   /* tokens that still fit */
    int budget = j->n_predict >= 0 && j->n_predict - j->n_gen < left ? j->n_predict - j->n_gen : left;
    int32_t id = step_sample(&s->st, s->logits, budget);
    if (id == GEMMA_TOKEN_NONE) {        /* the grammar cannot go on */
        finish(S, s, FINISH_ERROR, "the grammar allows no token here");
        return;
    }
    gemma_sampler_accept(s->s, id);
    step_kind kind = step_token(&s->st, id);
    if (kind == STEP_END) {
        finish(S, s, FINISH_STOP, NULL);
        return;
    }
    if (j->n_gen++ == 0) j->t_first = now_seconds();
    answer_text *t = &s->t;
    bool stopped = false;
    if (kind == STEP_TEXT || kind == STEP_THOUGHT) {
        char piece[512];
        size_t k = gemma_token_to_piece(S->m, id, piece, sizeof piece);
        if (k > sizeof piece) k = sizeof piece;
        if (kind == STEP_THOUGHT) {
            buf_put(&t->reasoning, piece, k);
            skip_channel_name(t);
        } else {
            buf_put(&t->content, piece, k);
            stopped = j->n_stop > 0 && cut_at_stop(j, t);
        }
    }
    if (stopped || step_done(&s->st)) {
        finish(S, s, FINISH_STOP, NULL);
        return;
    }
    if (kind != STEP_THOUGHT || t->thought_named) send_text(S, s, FINISH_NONE, NULL, 0);
    if (j->n_predict >= 0 && j->n_gen >= j->n_predict) finish(S, s, FINISH_LENGTH, NULL);
    else if (s->n_cache >= S->p.n_ctx) finish(S, s, FINISH_LENGTH, NULL);  /* no room to feed it */
    else s->next = id;
}

/* ---------------------------------------------------------------------------------------
 * One step */

typedef struct {
    slot *s;
    const int32_t *ids;
    int n;
    bool prompt;              /* prompt tokens (else the token sampled last) */
    bool want_logits;         /* the last row's logits, into s->logits */
    int rc;
    char err[GEMMA_ERR_LEN];
    double seconds;
} eval_item;

/* The evaluation of a step: ONE gemma_eval_batch for all items, their rows one batch through
 * every matrix product (each weight read once per step however many slots run), each row
 * attending to its own slot's cache. Slot 0's context always leads (first, with no tokens if
 * it is idle), so every step runs on the same threads and scratch. */
static void eval_step(sched *S, eval_item *items, int n) {
    gemma_batch_item *b = xcalloc((size_t)n + 1, sizeof *b);
    int nb = 0, rows = 0;
    if (n == 0 || items[0].s != &S->slots[0]) b[nb++] = (gemma_batch_item){S->slots[0].c, NULL, 0, NULL, false};
    for (int i = 0; i < n; i++) {
        eval_item *it = &items[i];
        b[nb++] = (gemma_batch_item){it->s->c, it->ids, it->n, it->want_logits ? it->s->logits : NULL, false};
        rows += it->n;
    }
    char err[GEMMA_ERR_LEN];
    double t0 = now_seconds();
    int rc = n ? gemma_eval_batch(b, nb, err) : 0;
    double t = now_seconds() - t0;
    for (int i = 0; i < n; i++) {
        eval_item *it = &items[i];
        it->rc = rc;
        if (rc) snprintf(it->err, sizeof it->err, "%s", err);
        it->seconds = rows ? t * it->n / rows : 0; /* the step's time, shared by rows */
    }
    free(b);
}

/* What the slot feeds this step: its last token, or the next chunk of its prompt. */
static void plan_slot(sched *S, slot *s, eval_item *it) {
    job *j = s->j;
    memset(it, 0, sizeof *it);
    it->s = s;
    if (s->n_fed < j->n_prompt) {
        int left = j->n_prompt - s->n_fed;
        it->n = left < S->p.n_chunk ? left : S->p.n_chunk;
        it->ids = j->prompt + s->n_fed;
        it->prompt = true;
        it->want_logits = s->n_fed + it->n == j->n_prompt;
    } else {
        it->ids = &s->next;
        it->n = 1;
        it->want_logits = true;
    }
}

/* One step over all active slots: every generating slot's token, then prompt chunks, the
 * slot that started first first, while the step's rows stay within step_rows() (the first
 * always fits: its slot is not generating). A chunk's size does not depend on what else
 * runs, so neither do its rows' results; a prompt that does not fit waits a step, and the
 * running streams wait at most one chunk per step. */
static void step_slots(sched *S) {
    eval_item *items = xcalloc((size_t)S->p.n_slots, sizeof *items);
    slot **prompting = xcalloc((size_t)S->p.n_slots, sizeof *prompting);
    int n = 0, n_prompting = 0, rows = 0;
    for (int i = 0; i < S->p.n_slots; i++) {
        slot *s = &S->slots[i];
        if (!s->j) continue;
        if (atomic_load(&s->j->cancel)) {
            finish(S, s, FINISH_CANCELLED, NULL);
            continue;
        }
        if (s->n_fed < s->j->n_prompt) {
            prompting[n_prompting++] = s;
            continue;
        }
        plan_slot(S, s, &items[n]);
        rows += items[n++].n;
    }
    while (n_prompting > 0) {
        int first = 0;
        for (int k = 1; k < n_prompting; k++)
            if (prompting[k]->j->t_start < prompting[first]->j->t_start) first = k;
        slot *s = prompting[first];
        prompting[first] = prompting[--n_prompting];
        eval_item it;
        plan_slot(S, s, &it);
        if (rows + it.n > step_rows(&S->p)) continue;
        items[n++] = it;
        rows += it.n;
    }
    free(prompting);
    /* in slot order: slot 0 leads the batch when it runs */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && items[k].s->id < items[k - 1].s->id; k--) {
            eval_item t = items[k];
            items[k] = items[k - 1];
            items[k - 1] = t;
        }
    eval_step(S, items, n);
    uint64_t prompt_tokens = 0;
    double prompt_s = 0, gen_s = 0;
    for (int i = 0; i < n; i++) {
        eval_item *it = &items[i];
        slot *s = it->s;
        if (it->rc != 0) {
            gemma_context_reset(s->c);   /* what is in the cache is no longer known */
            s->n_cache = 0;
            finish(S, s, FINISH_ERROR, it->err);
            continue;
        }
        memcpy(s->cache + s->n_cache, it->ids, (size_t)it->n * sizeof *it->ids);
        s->n_cache += it->n;
        if (it->prompt) {
            s->n_fed += it->n;
            prompt_tokens += (uint64_t)it->n;
            prompt_s += it->seconds;
        } else {
            gen_s += it->seconds;
        }
        if (it->want_logits) generate_token(S, s);
    }
    free(items);
    pthread_mutex_lock(&S->mu);
    S->st.steps++;
    S->st.prompt_tokens += prompt_tokens;
    S->st.prompt_seconds += prompt_s;
    S->st.gen_seconds += gen_s;
    uint64_t cached = 0;
    for (int i = 0; i < S->p.n_slots; i++) cached += (uint64_t)S->slots[i].n_cache;
    S->st.cache_tokens = cached;
    pthread_mutex_unlock(&S->mu);
}

/* ---------------------------------------------------------------------------------------
 * The inference thread */

static void *sched_main(void *arg) {
    sched *S = arg;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        assign_jobs(S);
        if (S->stop) break;
        if (S->st.slots_busy == 0) {
            pthread_cond_wait(&S->cv, &S->mu);
            continue;
        }
        pthread_mutex_unlock(&S->mu);
        step_slots(S);
        pthread_mutex_lock(&S->mu);
    }
    for (int i = 0; i < S->n_queue; i++) drop_job(S, S->queue[i], FINISH_CANCELLED, NULL);
    S->n_queue = 0;
    pthread_mutex_unlock(&S->mu);
    for (int i = 0; i < S->p.n_slots; i++)
        if (S->slots[i].j) finish(S, &S->slots[i], FINISH_CANCELLED, NULL);
    return NULL;
}

int sched_start(sched *S, char *err) {
    int rc = pthread_create(&S->thread, NULL, sched_main, S);
    if (rc) return set_err(err, "cannot start the inference thread: %s", strerror(rc));
    S->started = true;
    return 0;
}

void sched_stop(sched *S) {
    pthread_mutex_lock(&S->mu);
    S->stop = true;
    pthread_cond_signal(&S->cv);
    pthread_mutex_unlock(&S->mu);
    if (S->started) pthread_join(S->thread, NULL);
    S->started = false;
}
