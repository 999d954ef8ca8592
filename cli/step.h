/* step.h - one generated token's rules, shared by the one-shot run and the chat
 * (generate.c, chat.c) and meant for the HTTP server: which tokens the sampler may pick (a
 * GBNF grammar, a JSON schema, any JSON, Gemma 4 tool calls), where a token's text goes (the
 * answer, the thoughts, a tool call held back), when the answer ends and why, and the calls
 * read back at its end.
 *
 * For a caller that drives many answers at once (the server, one per slot): the module uses
 * only gemma.h and the C library, writes nothing to stdout or stderr, never exits, and keeps
 * no global state; errors come back as -1 with a line in err (GEMMA_ERR_LEN bytes). What it
 * reads and writes is all in the caller's objects:
 *   - step_spec: plain text, checked without a model by step_spec_check (a request's 400);
 *   - step_rules: the grammars bound to the model's vocabulary. They carry the parse state
 *     of the answer in progress, so one rule set serves one answer at a time: a slot needs
 *     its own, even for the same spec. Binding indexes the vocabulary (about 50 ms for JSON,
 *     100 ms for a schema on the 262,144-token Gemma 3 vocabulary; twice with tools): do it
 *     once per request, not per token;
 *   - step: one answer, on the slot's own gemma_sampler (the grammar is set on it by
 *     step_begin and taken off by step_end);
 *   - the budget: the tokens the caller will still sample at most (max_tokens, the room left
 *     in the context), so output cut there is still whole.
 * Timings: gemma_sampler_get_timings on the slot's sampler (a grammar's share included).
 *
 *   step_spec sp = {.json_schema = text, .channels = ..., .think = ...};
 *   step_spec_check(&sp, err);                  before loading a model: the text is valid
 *   step_rules R;
 *   step_rules_init(&R, model, &sp, err);       once: grammars bound to the vocabulary
 *   step_system_prompt(&R, system, &sys, err);  the tools declared in the system turn
 *   ... feed the turn ...
 *   step S;
 *   step_begin(&S, &R, sampler, after_results); each answer (after_results: it continues
 *                                               after tool results fed to the model)
 *   for (;;) {
 *       int32_t id = step_sample(&S, logits, budget);   budget: tokens the caller will still
 *       if (id == GEMMA_TOKEN_NONE) STOP_NO_TOKEN         sample at most (-1: no limit)
 *       gemma_sampler_accept(sampler, id);
 *       switch (step_token(&S, id)) {
 *       case STEP_END:     STOP_EOG (the token is not fed)
 *       case STEP_TEXT:    the token's piece is answer text
 *       case STEP_THOUGHT: ... thought text
 *       case STEP_MARK, STEP_CALL: nothing to show (a channel marker; a held-back call)
 *       }
 *       if (step_done(&S)) STOP_GRAMMAR_DONE after this token (--ignore-eos)
 *       ... feed id ...
 *   }
 *   step_calls(&S, &lines, &n, &cut, err);      the calls as JSON lines: STOP_TOOL_CALLS
 *   step_end(&S);  ...  step_rules_free(&R);
 *
 * The grammar: reset and attached when the answer starts; with a thought channel first
 * (Gemma 4 --think) only once the channel closes, so the thinking is free and the grammar
 * shapes the answer. Before every sample its budget is set to what the caller says is left
 * (-n, the context), so output cut there is still a whole sentence of the grammar. */
#ifndef GEMMA_STEP_H
#define GEMMA_STEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gemma.h"

/* Why an answer ended (JSON names: stop_reason_name). */
typedef enum {
    STOP_EOG,          /* an end-of-generation token (where the grammar was complete) */
    STOP_LIMIT,        /* -n tokens */
    STOP_CONTEXT,      /* the context is full */
    STOP_RPROMPT,      /* a reverse prompt */
    STOP_INTERRUPT,    /* SIGINT / SIGTERM */
    STOP_CLOSED,       /* the reader of stdout went away */
    STOP_ERROR,        /* an error (a failed eval, ...) */
    STOP_TOOL_CALLS,   /* the answer ended with tool calls, waiting for their results */
    STOP_GRAMMAR_DONE, /* --ignore-eos: the grammar is complete and nothing can follow */
    STOP_NO_TOKEN,     /* the grammar allows no token at all: an error */
} stop_reason;
/* "eos", "limit", "context", "reverse_prompt", "interrupted", "output_closed", "error",
 * "tool_calls", "grammar_done", "no_token" */
const char *stop_reason_name(stop_reason why);

typedef enum { TOOL_CHOICE_AUTO, TOOL_CHOICE_REQUIRED, TOOL_CHOICE_NONE } tool_choice;

/* What the output must be. At most one of gbnf, json_schema, json, tools. */
typedef struct {
    const char *gbnf;        /* a GBNF grammar (llama.cpp's syntax), start rule "root" */
    const char *json_schema; /* a JSON schema */
    bool json;               /* any JSON value (ollama's --format json) */
    const char *tools;       /* Gemma 4 tools, OpenAI's JSON list */
    tool_choice choice;      /* with tools: OpenAI's tool_choice; required = the answer must be
                              * calls, except an answer after tool results (then auto) */
    bool channels;           /* Gemma 4 chat: <|channel>...<channel|> holds a thought */
    bool think;              /* ... and an answer may start with one (--think) */
    bool ignore_eos;         /* end-of-generation tokens do not end an answer */
} step_spec;

/* The texts of a spec are valid (no model needed): 0, or -1 with err ("json schema: ...",
 * "grammar: line 2, column 5: ...", "tools: ..."). */
int step_spec_check(const step_spec *sp, char *err);

typedef struct {
    const gemma_model *m;
    gemma_grammar *first;    /* an answer's grammar (NULL: free text) */
    gemma_grammar *after;    /* an answer after tool results */
    gemma_tools *tools;      /* NULL without tools */
    bool channels, think, ignore_eos;
    int32_t ch_open, ch_close, call_open;   /* token ids, -1 if not used */
} step_rules;

/* The spec bound to m: 0, or -1 with err (a model without tool tokens given tools: check
 * gemma_model_has_tool_tokens first to tell that case apart). */
int step_rules_init(step_rules *R, const gemma_model *m, const step_spec *sp, char *err);
void step_rules_free(step_rules *R);
/* The system text of the first turn: system with the tools declared after it (malloc'd;
 * NULL when there is neither). 0, or -1 with err. */
int step_system_prompt(const step_rules *R, const char *system, char **out, char *err);

typedef enum { STEP_END, STEP_TEXT, STEP_THOUGHT, STEP_MARK, STEP_CALL } step_kind;

typedef enum { PHASE_OPEN, PHASE_THOUGHT, PHASE_ANSWER } step_phase;

/* One answer in progress. */
typedef struct {
    const step_rules *R;
    gemma_sampler *s;
    gemma_grammar *g;        /* this answer's grammar, NULL: none */
    bool attached;           /* g is on the sampler */
    step_phase phase;        /* OPEN: a thought may come first (the grammar waits) */
    bool in_call;            /* from <|tool_call> on, the text is held back in call */
    bool call_lost;          /* out of memory holding it back: step_calls fails */
    char *call;
    size_t call_len, call_cap;
} step;

void step_begin(step *S, const step_rules *R, gemma_sampler *s, bool after_results);
/* The next token (GEMMA_TOKEN_NONE: the grammar allows none). */
int32_t step_sample(step *S, const float *logits, int budget);
/* Where the kept token goes; advances the grammar and the phase. */
step_kind step_token(step *S, int32_t id);
/* --ignore-eos with a grammar: it is complete and nothing can follow (stop now). */
bool step_done(const step *S);
/* The calls of the answer as JSON lines {"name":...,"arguments":{...}}\n (malloc'd; NULL and
 * *n = 0 when there are none). Text after the last whole call (cut off by -n or the context)
 * is dropped and *cut_off set. 0, or -1 with err for a call that does not parse (or that
 * could not be held back for want of memory). */
int step_calls(const step *S, char **lines, int *n, bool *cut_off, char *err);
/* Gemma 4 opens its thought channel with the channel's name, "thought\n", which is not part
 * of the thought. Of a thought's first len bytes, how many are that name: -1 while the text
 * may still become it (hold it back), else its length or 0 (a thought without a name). */
int step_thought_name(const char *text, size_t len);
/* Detach the grammar, free the answer's buffers. */
void step_end(step *S);

#endif
