/* session.c - the session that one-shot generation (generate.c) and the chat (chat.c) run
 * on: the model, context and sampler, the tokens in the cache, and the generation of one
 * answer with its output.
 *
 *   session_load        the model, context, sampler and constraint of the options
 *   session_feed_turn   a user turn in the chat format (text, tool calls and results:
 *                       session_feed_text, session_feed_results), fed in chunks; with
 *                       --context-shift the oldest tokens after n_keep make room
 *   generate            sample (step.c's rules), print, feed, until the answer ends: the
 *                       answer on stdout (reverse prompts held back), a Gemma 4 thought on
 *                       stderr (or hidden), tool calls held back for the caller
 *   session_rewind      back to a shorter history (the chat's /regen)
 *   session_free */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gemma.h"
#include "session.h"

volatile sig_atomic_t g_signal;

/* ---------------------------------------------------------------------------------------
 * The session: feeding tokens, context shift, rewinding. */

static void hist_push(session *S, const int32_t *ids, int n) {
    if (S->n_hist + n > S->cap_hist) {
        S->cap_hist = (S->n_hist + n) * 2;
        S->hist = xrealloc(S->hist, (size_t)S->cap_hist * sizeof(int32_t));
    }
    memcpy(S->hist + S->n_hist, ids, (size_t)n * sizeof(int32_t));
    S->n_hist += n;
}

/* Evaluate n tokens in chunks of the batch size (progress on a terminal); logits of the
 * last one land in S->logits. */
static int eval_chunks(session *S, const int32_t *ids, int n, char *err) {
    int B = S->g->n_batch > 0 ? S->g->n_batch : 512;
    for (int i = 0; i < n; i += B) {
        int k = n - i < B ? n - i : B;
        if (gemma_eval(S->c, ids + i, k, S->logits, false, err)) return -1;
        if (S->progress && n > B) fprintf(stderr, "\rgemma: prompt %d/%d tokens", i + k, n);
    }
    if (S->progress && n > B) fprintf(stderr, "\r\033[K");
    return 0;
}

/* Context shift: make room for n more tokens by dropping the oldest ones after the first
 * n_keep: half of them, or as many as n needs if that is more. What is kept is evaluated
 * again at its new positions (one prompt pass, but every cached key is then exactly what
 * the model computes there). */
static int context_shift(session *S, int n, char *err) {
    int n_keep = S->n_keep < S->n_hist ? S->n_keep : S->n_hist;
    int movable = S->n_hist - n_keep;
    int n_discard = movable / 2, need = S->n_hist + n - S->n_ctx;
    if (n_discard < need) n_discard = need;
    if (n_discard > movable || n_discard < 1)
        return set_err(err, "%d tokens do not fit in the context (%d) even after shifting: %d "
                       "at its start are kept (--keep); use -c to enlarge it", n, S->n_ctx, n_keep);
    memmove(S->hist + n_keep, S->hist + n_keep + n_discard,
            (size_t)(S->n_hist - n_keep - n_discard) * sizeof(int32_t));
    S->n_hist -= n_discard;
    if (S->answer_start >= n_keep + n_discard) S->answer_start -= n_discard;
    else if (S->answer_start > n_keep) S->answer_start = -1; /* its turn was dropped */
    gemma_context_reset(S->c);
    S->n_shifts++;
    if (log_enabled && S->g->verbose)
        fprintf(stderr, "\ngemma: context shift: dropped %d tokens, kept %d\n", n_discard, S->n_hist);
    return eval_chunks(S, S->hist, S->n_hist, err);
}

/* Feed new tokens (a prompt or a sampled token), shifting first if they do not fit. */
static int feed(session *S, const int32_t *ids, int n, char *err) {
    if (S->n_hist + n > S->n_ctx) {
        if (!S->g->context_shift) return set_err(err, "context is full (%d tokens)", S->n_ctx);
        if (context_shift(S, n, err)) return -1;
    }
    hist_push(S, ids, n);
    return eval_chunks(S, ids, n, err);
}

int session_rewind(session *S, int n, char *err) {
    if (n < 1 || n > S->n_hist) return set_err(err, "cannot rewind to %d of %d tokens", n, S->n_hist);
    S->n_hist = n - 1;
    if (gemma_context_truncate(S->c, n - 1) != 0) {  /* a sliding window overwrote cells */
        if (S->n_hist && eval_chunks(S, S->hist, S->n_hist, err)) return -1;
    }
    int32_t last = S->hist[n - 1];                     /* fed again: its logits */
    return feed(S, &last, 1, err);
}

/* The ids of a turn: the chat format's markers as control tokens, the user's text as text
 * unless --special; a prompt without a chat turn (--raw, no template) parses markup, as
 * whoever wrote it meant it. */
static int32_t *turn_tokens(session *S, const char *system, const char *user, bool first, int *n) {
    const gen_args *g = S->g;
    if (S->fmt != GEMMA_CHAT_NONE)
        return gemma_chat_turn_tokens(S->m, S->fmt, first ? system : NULL, user, first, g->think,
                                      first, g->special, n);
    char *text = gemma_chat_turn(GEMMA_CHAT_NONE, first ? system : NULL, user, first, false);
    int32_t *ids = gemma_tokenize(S->m, text, strlen(text), first, true, n);
    free(text);
    return ids;
}

/* Feed prompt tokens (a turn, tool calls, tool results); on error none of them stays in
 * the cache. */
static int feed_prompt(session *S, const int32_t *ids, int n, char *err) {
    int start = S->n_hist;
    if (S->n_hist + n > S->n_ctx && !S->g->context_shift)
        return S->n_hist == 0
                   ? set_err(err, "the prompt is %d tokens, longer than the context (%d); use -c to enlarge it",
                             n, S->n_ctx)
                   : set_err(err, "this turn (%d tokens) does not fit in the %d tokens left of the context; "
                             "/clear starts over (or use -c, --context-shift)", n, S->n_ctx - S->n_hist);
    for (int i = 0; i < n; i++) gemma_sampler_accept(S->s, ids[i]);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = feed(S, ids, n, err);
    S->prompt_ms += ms_since(&t0);
    S->n_prompt += n;
    if (rc && S->n_hist > start) { /* take the tokens out again */
        char e2[GEMMA_ERR_LEN];
        S->n_hist = start;
        if (gemma_context_truncate(S->c, start) != 0 && start && eval_chunks(S, S->hist, start, e2))
            S->n_hist = 0, gemma_context_reset(S->c);
    }
    return rc;
}

int session_feed_turn(session *S, const char *system, const char *user, bool first, char *err) {
    int n;
    int32_t *ids = turn_tokens(S, system, user, first, &n);
    int rc = 0;
    if (n == 0) {
        rc = set_err(err, "the prompt is empty");
    } else {
        if (first) { /* --keep counts from the start of the first turn; BOS always stays */
            int keep = S->g->keep < 0 || S->g->keep > n ? n : S->g->keep;
            S->n_keep = keep > 1 ? keep : 1;
        }
        rc = feed_prompt(S, ids, n, err);
    }
    free(ids);
    return rc;
}

int session_feed_text(session *S, const char *text, char *err) {
    int n;
    int32_t *ids = gemma_tokenize(S->m, text, strlen(text), false, true, &n);
    int rc = n ? feed_prompt(S, ids, n, err) : 0;
    free(ids);
    return rc;
}

/* Each result as the template writes it; the empty thought channel that closes the group
 * when thinking is off (gemma_tool_response adds it when told thinking is off) only once,
 * after the last. */
int session_feed_results(session *S, char *const *names, char *const *results, int n, char *err) {
    size_t len = 0, cap = 256;
    char *text = xmalloc(cap);
    text[0] = 0;
    for (int i = 0; i < n; i++) {
        bool last = i == n - 1;
        char *r = gemma_tool_response(names[i], results[i], strlen(results[i]), S->rules.think || !last, err);
        if (!r) {
            free(text);
            return -1;
        }
        size_t k = strlen(r);
        if (len + k + 1 > cap) text = xrealloc(text, cap = (len + k + 1) * 2);
        memcpy(text + len, r, k + 1);
        len += k;
        free(r);
    }
    int rc = session_feed_text(S, text, err);
    free(text);
    if (rc == 0) S->after_results = true;
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Output of one answer */

/* Append visible text; returns true if a reverse prompt just matched (it is removed). */
static bool answer_put(const gen_args *g, answer *A, const char *piece, size_t k) {
    buf *t = &A->text;
    buf_put(t, piece, k);
    bool stop = false;
    for (int r = 0; r < g->n_rprompts && !stop; r++) {
        size_t rl = strlen(g->rprompts[r]);
        const char *hit = rl <= t->len ? strstr(t->p + (A->emitted > rl ? A->emitted - rl : 0), g->rprompts[r]) : NULL;
        if (hit) {
            t->len = (size_t)(hit - t->p);
            t->p[t->len] = 0;
            stop = true;
        }
    }
    size_t safe = stop ? t->len : t->len - partial_prefix(g->rprompts, g->n_rprompts, t->p, t->len);
    if (safe > A->emitted) {
        if (!A->collect) stream_put(&A->out, t->p + A->emitted, safe - A->emitted);
        A->emitted = safe;
    }
    return stop;
}

static void thought_show(const gen_args *g, const answer *A, const char *text, size_t k) {
    if (A->collect || g->hide_thinking || k == 0) return;
    if (A->color) fputs("\033[2m", stderr);
    fwrite(text, 1, k, stderr);
    if (A->color) fputs("\033[0m", stderr);
    fflush(stderr);
}

/* A thought's piece: shown as it comes, once the channel's name is behind it. */
static void thought_put(const gen_args *g, answer *A, const char *piece, size_t k) {
    buf_put(&A->thought, piece, k);
    if (A->thought_named) {
        thought_show(g, A, piece, k);
        return;
    }
    int name = step_thought_name(A->thought.p, A->thought.len);
    if (name < 0) return; /* may still be the name */
    A->thought_named = true;
    A->thought_from = (size_t)name;
    thought_show(g, A, A->thought.p + name, A->thought.len - (size_t)name);
}

static void answer_finish(const gen_args *g, answer *A) {
    if (!A->thought_named && A->thought.len) { /* a thought cut off while it looked like the name */
        A->thought_named = true;
        thought_show(g, A, A->thought.p, A->thought.len);
    }
    if (!A->collect) {
        if (A->text.len > A->emitted) stream_put(&A->out, A->text.p + A->emitted, A->text.len - A->emitted);
        A->emitted = A->text.len;
        stream_finish(&A->out);
    }
}

void answer_free(answer *A) {
    buf_free(&A->text);
    buf_free(&A->thought);
    free(A->calls);
}

/* ---------------------------------------------------------------------------------------
 * Generation of one answer: each token's text reaches stdout when the token is sampled
 * (stream_put holds back only half a UTF-8 character or a possible reverse prompt). */

/* Tokens the answer may still take after n: what -n leaves and what the context holds (the
 * token sampled when the context is full is shown but not fed); -1: no limit (the grammar's
 * budget, step.h). */
static int tokens_left(const session *S, int n) {
    const gen_args *g = S->g;
    int left = g->n_predict >= 0 ? g->n_predict - n : -1;
    if (!g->context_shift) {
        int room = S->n_ctx - S->n_hist + 1;
        if (left < 0 || room < left) left = room;
    }
    return left;
}

/* The calls the answer ended with, if any (a stop that left them whole: the end of the
 * answer, -n or the context). */
static stop_reason read_calls(const step *st, answer *A, stop_reason why, char *err) {
    if (why == STOP_ERROR || why == STOP_NO_TOKEN) return why;
    if (step_calls(st, &A->calls, &A->n_calls, &A->calls_cut, err)) return STOP_ERROR;
    bool whole = why == STOP_EOG || why == STOP_LIMIT || why == STOP_CONTEXT;
    return A->n_calls > 0 && whole ? STOP_TOOL_CALLS : why;
}

stop_reason generate(session *S, answer *A, char *err) {
    const gen_args *g = S->g;
    char piece[512];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    stop_reason why = STOP_LIMIT;
    S->answer_start = S->n_hist;
    step st;
    step_begin(&st, &S->rules, S->s, S->after_results);
    S->after_results = false;
    for (int n = 0;; n++) {
        if (g->n_predict >= 0 && n >= g->n_predict) { why = STOP_LIMIT; break; }
        if (g_signal) { why = STOP_INTERRUPT; break; }
        int32_t id = step_sample(&st, S->logits, tokens_left(S, n));
        if (id == GEMMA_TOKEN_NONE) {
            set_err(err, "the grammar allows no token after %d tokens of output (is it satisfiable?)", n);
            why = STOP_NO_TOKEN;
            break;
        }
        gemma_sampler_accept(S->s, id);
        step_kind kind = step_token(&st, id);
        if (kind == STEP_END) { why = STOP_EOG; break; }
        S->n_gen++;
        bool rp = false;
        if (kind == STEP_TEXT || kind == STEP_THOUGHT) {
            size_t k = gemma_token_to_piece(S->m, id, piece, sizeof piece);
            if (k > sizeof piece) k = sizeof piece;
            if (kind == STEP_THOUGHT) thought_put(g, A, piece, k);
            else rp = answer_put(g, A, piece, k);
        }
        if (!A->collect) out_flush();     /* the reader sees this token now */
        if (rp) { why = STOP_RPROMPT; break; }
        if (out_closed()) { why = STOP_CLOSED; break; }
        if (step_done(&st)) { why = STOP_GRAMMAR_DONE; break; }
        if (g->n_predict >= 0 && n + 1 >= g->n_predict) { why = STOP_LIMIT; break; }
        if (S->n_hist >= S->n_ctx && !g->context_shift) { why = STOP_CONTEXT; break; }
        if (feed(S, &id, 1, err)) { why = STOP_ERROR; break; }
        S->n_evals++;
    }
    S->gen_ms += ms_since(&t0);
    answer_finish(g, A);
    why = read_calls(&st, A, why, err);
    step_end(&st);
    return why;
}

/* One pool serves both kinds of eval, with as many threads as the larger of -t and -tb.
 * Without -t, generation gets the engine's default (physical cores), known once a context
 * exists; a larger -tb then needs a context made again with that many. */
static gemma_context *make_context(gemma_model *m, int n_ctx, const gen_args *g, char *err) {
    int t = g->n_threads, tb = g->n_threads_batch;
    gemma_context_params cp = {.n_ctx = n_ctx, .n_threads = t ? (t > tb ? t : tb) : 0, .n_batch = g->n_batch,
                               .type_k = g->type_k, .type_v = g->type_v};
    gemma_context *c = gemma_context_new(m, &cp, err);
    if (c && !t) t = gemma_n_threads(c);
    if (c && tb > gemma_n_threads(c)) {
        gemma_context_free(c);
        cp.n_threads = tb;
        c = gemma_context_new(m, &cp, err);
    }
    if (c) gemma_set_threads(c, t, tb ? tb : t);
    return c;
}

/* The grammar, schema or tools on this model's vocabulary (step.h). Tools need Gemma 4's
 * tool tokens and chat format: asking them of another model is a model error. */
static void bind_constraint(session *S, gen_args *g) {
    step_spec *sp = &g->spec;
    sp->channels = S->fmt == GEMMA_CHAT_GEMMA4;
    sp->think = g->think;
    if (sp->tools && !gemma_model_has_tool_tokens(S->m))
        die(EXIT_MODEL, "%s: '%s' (%s) has no tool-call tokens: --tools needs a Gemma 4 model", g->model,
            S->info.name, S->info.arch);
    if (sp->tools && S->fmt != GEMMA_CHAT_GEMMA4)
        die(EXIT_MODEL, "%s: '%s' has no Gemma 4 chat template: --tools needs one", g->model, S->info.name);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[GEMMA_ERR_LEN];
    if (step_rules_init(&S->rules, S->m, sp, err)) die(EXIT_USAGE, "%s", err);
    if (g->verbose && S->rules.first)
        logf_("gemma: constrained output: %s, bound to the vocabulary in %.0f ms\n",
              sp->tools ? "tool calls" : sp->json ? "any JSON value" : sp->json_schema ? "JSON schema" : "grammar",
              ms_since(&t0));
}

void session_load(session *S, gen_args *g, double *load_ms) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (log_enabled && isatty(STDERR_FILENO)) fprintf(stderr, "gemma: loading %s ...\r", g->model);
    S->g = g;
    S->answer_start = -1;
    S->m = load_model_or_die(g->model, &(gemma_model_params){.no_repack = g->no_repack});
    gemma_model_get_info(S->m, &S->info);
    *load_ms = ms_since(&t0);
    logf_("gemma: loaded %s '%s' from %s: %.2fB params, %s, %.1f MiB, in %.0f ms\n", S->info.arch,
          S->info.name, g->model, S->info.n_params / 1e9, S->info.ftype, S->info.n_bytes / 1048576.0, *load_ms);
    if (g->verbose) {
        char repack[256];
        describe_repack(&S->info, repack, sizeof repack);
        logf_("gemma: %s\n", repack);
    }

    /* sampling: the file's recommended values unless the user chose */
    sampling_file_defaults(&g->samp, &S->info);

    S->n_ctx = g->n_ctx;
    if (S->n_ctx == 0) S->n_ctx = S->info.n_ctx_train;
    if (S->n_ctx < 0) S->n_ctx = S->info.n_ctx_train < 4096 ? S->info.n_ctx_train : 4096;
    char err[GEMMA_ERR_LEN];
    S->c = make_context(S->m, S->n_ctx, g, err);
    if (!S->c) die(EXIT_RUNTIME, "%s", err);
    int nt = gemma_n_threads(S->c), ntb = gemma_n_threads_batch(S->c);
    char batch_threads[48] = "";
    if (ntb != nt) snprintf(batch_threads, sizeof batch_threads, " (%d for prompts)", ntb);
    logf_("gemma: context %d tokens (model trained for %d%s), %d thread%s%s, %s kernels\n", S->n_ctx,
          S->info.n_ctx_train, g->n_ctx < 0 ? "; -c to change" : "", nt, nt == 1 ? "" : "s", batch_threads,
          gemma_kernel_path());
    if (g->verbose)
        logf_("gemma: memory: model %.1f MiB (mapped), KV cache %.1f MiB (K %s, V %s), scratch %.1f MiB\n",
              S->info.n_bytes / 1048576.0, gemma_kv_bytes(S->c) / 1048576.0, gemma_kv_type_name(gemma_kv_type_k(S->c)),
              gemma_kv_type_name(gemma_kv_type_v(S->c)), gemma_scratch_bytes(S->c) / 1048576.0);

    S->s = gemma_sampler_new(S->m, &g->samp.sp, err);
    if (!S->s) die(EXIT_USAGE, "%s", err);
    if (g->verbose)
        logf_("gemma: sampling temp %.2f, top-k %d, top-p %.2f, min-p %.2f, repeat-penalty %.2f (last %d), seed %llu\n",
              g->samp.sp.temp, g->samp.sp.top_k, g->samp.sp.top_p, g->samp.sp.min_p, g->samp.sp.repeat_penalty,
              g->samp.sp.repeat_last_n,
              (unsigned long long)gemma_sampler_seed(S->s));
    S->logits = xmalloc((size_t)S->info.n_vocab * sizeof(float));
    S->progress = log_enabled && isatty(STDERR_FILENO);

    S->fmt = g->raw ? GEMMA_CHAT_NONE : gemma_chat_format_of(S->m);
    if (g->think && g->raw) logf_("gemma: --think needs a chat turn to think in; with --raw it is ignored\n");
    else if (g->think && S->fmt != GEMMA_CHAT_GEMMA4)
        logf_("gemma: --think needs a Gemma 4 chat model ('%s' is %s); ignored\n", S->info.name, S->info.arch);
    bind_constraint(S, g);
}

void session_free(session *S) {
    step_rules_free(&S->rules);
    free(S->logits);
    free(S->hist);
    gemma_sampler_free(S->s);
    gemma_context_free(S->c);
    gemma_model_free(S->m);
}
