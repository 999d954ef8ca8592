/* session.h - what the one-shot run (generate.c) and the interactive chat (chat.c) share
 * (session.c): the options of the generation command, the session (model, context, sampler
 * and the tokens in the cache), and the generation of one answer with its output. */
#ifndef GEMMA_SESSION_H
#define GEMMA_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "cli.h"
#include "gemma.h"
#include "step.h"

#define MAX_RPROMPTS 16
#define MAX_EXCHANGE 64    /* --tool-call and --tool-response arguments */

typedef struct {
    const char *model, *file, *system_file;
    char *prompt, *system;           /* owned copies (escapes processed unless --no-escape) */
    int n_predict, n_ctx, n_threads, n_threads_batch, n_batch, keep;
    gemma_kv_type type_k, type_v;    /* the KV cache's (-ctk, -ctv; default f16) */
    bool ignore_eos, display_prompt, raw, chat, think, hide_thinking, json, context_shift;
    bool verbose, escape, special, no_repack;
    int color;                       /* -1 auto, 0 off, 1 on */
    char *rprompts[MAX_RPROMPTS];
    int n_rprompts;
    sampling_args samp;              /* --temp, --top-k, ... --seed */
    /* constrained output (--grammar, -j, --format, --tools ...): its text is owned */
    step_spec spec;
    char *constraint_text;
    /* an earlier tool exchange to replay after the prompt (--tool-call, --tool-response in
     * the order given): each call's markup, or a result's JSON; the tool's name for both */
    char *ex_text[MAX_EXCHANGE], *ex_name[MAX_EXCHANGE];
    bool ex_result[MAX_EXCHANGE];
    int n_ex;
} gen_args;

/* The tokens in the cache, the statistics of the run, and what generation writes into. */
typedef struct {
    gemma_model *m;
    gemma_context *c;
    gemma_sampler *s;
    const gen_args *g;
    gemma_model_info info;
    gemma_chat_format fmt;  /* GEMMA_CHAT_NONE with --raw or without a chat template */
    step_rules rules;       /* grammar, schema or tools (step.h) */
    bool after_results;     /* the next answer continues after tool results */
    int n_ctx;
    int32_t *hist;          /* tokens in the cache, in order */
    int n_hist, cap_hist;
    int n_keep;             /* --context-shift keeps hist[0 .. n_keep) */
    int answer_start;       /* hist length before the last answer; -1: none (or shifted out) */
    float *logits;          /* next-token logits after the last feed */
    bool progress;          /* show prompt-processing progress on stderr */
    /* statistics of the run */
    int n_prompt, n_gen, n_evals, n_shifts;
    double prompt_ms, gen_ms;
} session;

/* One answer: the visible text (stdout, or collected for --json), the thoughts of a
 * thinking model (stderr, or hidden), reverse prompts held back until it is clear they
 * are not the start of a match, and the tool calls it ended with. */
typedef struct {
    bool collect;          /* --json: keep the text, print nothing */
    bool color;            /* thoughts dimmed */
    buf text;              /* the answer so far */
    size_t emitted;        /* of it, the bytes shown */
    buf thought;           /* the thought channel's text, its name included */
    size_t thought_from;   /* where the thought begins, past the name */
    bool thought_named;    /* whether the name is known to be there or not (until then the
                            * text is held back) */
    utf8_stream out;
    char *calls;           /* JSON lines {"name":...,"arguments":{...}} (NULL: none) */
    int n_calls;
    bool calls_cut;        /* an unfinished call at the end was dropped */
} answer;

/* SIGINT / SIGTERM seen (0: none); generation stops at the next token. */
extern volatile sig_atomic_t g_signal;

/* The model, context, sampler and constraint of g (the file's sampling values where the
 * user chose none), with the load time in *load_ms; dies with the reason on failure. */
void session_load(session *S, gen_args *g, double *load_ms);
void session_free(session *S);

/* Tokenize and feed one user turn (the chat format's markup around it, system prompt on
 * the first; plain text with --raw). On error nothing of the turn stays in the cache. */
int session_feed_turn(session *S, const char *system, const char *user, bool first, char *err);
/* Tokenize (control-token text becomes control tokens) and feed text that continues the
 * model's turn: tool calls and results. */
int session_feed_text(session *S, const char *text, char *err);
/* The results of tool calls (JSON texts, one per call of names[]) fed to the model, which
 * continues its turn at the next generate(). */
int session_feed_results(session *S, char *const *names, char *const *results, int n, char *err);
/* Back to the first n tokens of the history, with the logits after token n-1. */
int session_rewind(session *S, int n, char *err);
/* Sample, print and feed until the answer ends; the text also lands in A. STOP_ERROR and
 * STOP_NO_TOKEN come with err. */
stop_reason generate(session *S, answer *A, char *err);
void answer_free(answer *A);

#endif
