/* step.c - one generated token's rules (see step.h for the loop that drives them).
 *
 *   step_spec_check     the grammar / schema / tools text, before a model is loaded
 *   step_rules_init     the grammars of an answer and of an answer after tool results
 *   step_begin          reset; the grammar attached now, or after a first thought
 *   step_sample         a thought samples freely; an answer samples under the grammar, its
 *                       budget first set to what the caller has left
 *   step_token          the phase (open -> thought -> answer), the grammar advanced, a tool
 *                       call held back from <|tool_call> on
 *   step_calls          the held-back text read into JSON lines through the last whole call
 *
 * Only gemma.h and the C library: no output, no exit, no globals (step.h says why). */
#include "step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *stop_reason_name(stop_reason why) {
    static const char *names[] = {"eos", "limit", "context", "reverse_prompt", "interrupted",
                                  "output_closed", "error", "tool_calls", "grammar_done",
                                  "no_token"};
    return (unsigned)why < sizeof names / sizeof *names ? names[why] : "?";
}

/* ---------------------------------------------------------------------------------------
 * The rules of a run */

/* Any text but a call: tool_choice none, with the tools still declared (OpenAI's meaning). */
static const char no_calls_gbnf[] = "root ::= !<|tool_call>*\n";

int step_spec_check(const step_spec *sp, char *err) {
    if (sp->gbnf) return gemma_gbnf_check(sp->gbnf, strlen(sp->gbnf), NULL, err);
    if (sp->json_schema) {
        char *text = gemma_json_schema_to_gbnf(sp->json_schema, strlen(sp->json_schema), err);
        free(text);
        return text ? 0 : -1;
    }
    if (sp->tools) {
        gemma_tools *t = gemma_tools_parse(sp->tools, strlen(sp->tools), err);
        char *text = t ? gemma_tools_gbnf(t, sp->choice == TOOL_CHOICE_REQUIRED, err) : NULL;
        free(text);
        gemma_tools_free(t);
        return text ? 0 : -1;
    }
    return 0;
}

static int tool_grammars(step_rules *R, const step_spec *sp, char *err) {
    const gemma_model *m = R->m;
    R->tools = gemma_tools_parse(sp->tools, strlen(sp->tools), err);
    if (!R->tools) return -1;
    if (sp->choice == TOOL_CHOICE_NONE) {
        R->first = gemma_grammar_new(m, no_calls_gbnf, strlen(no_calls_gbnf), NULL, err);
        R->after = R->first;
        return R->first ? 0 : -1;
    }
    /* text and then calls, or (required) calls right away; after results: auto */
    R->after = gemma_tools_grammar(m, R->tools, false, err);
    if (!R->after) return -1;
    R->first = sp->choice == TOOL_CHOICE_REQUIRED ? gemma_tools_grammar(m, R->tools, true, err)
                                                  : R->after;
    return R->first ? 0 : -1;
}

int step_rules_init(step_rules *R, const gemma_model *m, const step_spec *sp, char *err) {
    memset(R, 0, sizeof *R);
    R->m = m;
    R->channels = sp->channels;
    R->think = sp->think && sp->channels;
    R->ignore_eos = sp->ignore_eos;
    R->ch_open = sp->channels ? gemma_token_id(m, "<|channel>") : -1;
    R->ch_close = sp->channels ? gemma_token_id(m, "<channel|>") : -1;
    R->call_open = sp->tools ? gemma_token_id(m, "<|tool_call>") : -1;
    int rc = 0;
    if (sp->gbnf) R->first = gemma_grammar_new(m, sp->gbnf, strlen(sp->gbnf), NULL, err);
    else if (sp->json_schema)
        R->first = gemma_grammar_from_json_schema(m, sp->json_schema, strlen(sp->json_schema), err);
    else if (sp->json) R->first = gemma_grammar_json(m, err);
    else if (sp->tools) rc = tool_grammars(R, sp, err);
    if (!sp->tools) {
        R->after = R->first;
        if ((sp->gbnf || sp->json_schema || sp->json) && !R->first) rc = -1;
    }
    if (rc) step_rules_free(R);
    return rc;
}

void step_rules_free(step_rules *R) {
    if (R->after != R->first) gemma_grammar_free(R->after);
    gemma_grammar_free(R->first);
    gemma_tools_free(R->tools);
    memset(R, 0, sizeof *R);
}

int step_system_prompt(const step_rules *R, const char *system, char **out, char *err) {
    *out = NULL;
    if (!R->tools) {
        if (system && !(*out = strdup(system))) {
            snprintf(err, GEMMA_ERR_LEN, "out of memory copying the system prompt");
            return -1;
        }
        return 0;
    }
    *out = gemma_tools_system_prompt(R->tools, system, err);
    return *out ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------
 * One answer */

static void attach(step *S) {
    gemma_grammar_reset(S->g);
    gemma_sampler_set_grammar(S->s, S->g);
    S->attached = true;
}

void step_begin(step *S, const step_rules *R, gemma_sampler *s, bool after_results) {
    memset(S, 0, sizeof *S);
    S->R = R;
    S->s = s;
    S->g = after_results ? R->after : R->first;
    S->phase = R->think ? PHASE_OPEN : PHASE_ANSWER;
    gemma_sampler_set_grammar(s, NULL);
    if (S->g && S->phase == PHASE_ANSWER) attach(S);
}

int32_t step_sample(step *S, const float *logits, int budget) {
    const step_rules *R = S->R;
    if (!S->g) return gemma_sampler_sample(S->s, logits);
    if (S->phase == PHASE_THOUGHT) {
        int32_t id = gemma_sampler_sample(S->s, logits);
        /* a thought that would end the turn is closed instead: the answer the grammar
         * shapes still comes */
        if (!R->ignore_eos && R->ch_close >= 0 && gemma_token_is_eog(R->m, id)) id = R->ch_close;
        return id;
    }
    if (S->phase == PHASE_OPEN && !S->attached) {
        /* free, so the model can open its thought channel; any other token must be one the
         * grammar allows, else it is drawn again under the grammar */
        int32_t id = gemma_sampler_sample(S->s, logits);
        if (id == R->ch_open) return id;
        attach(S);
        gemma_grammar_set_budget(S->g, budget);
        if (gemma_grammar_allows(S->g, id)) return id;
    }
    gemma_grammar_set_budget(S->g, budget);
    return gemma_sampler_sample(S->s, logits);
}

/* The token's piece appended to the held-back call (out of memory: the call is marked
 * lost, and step_calls says so). */
static void hold_back(step *S, int32_t id) {
    char piece[512];
    size_t k = gemma_token_to_piece(S->R->m, id, piece, sizeof piece);
    if (k > sizeof piece) k = sizeof piece;
    if (S->call_lost) return;
    if (S->call_len + k + 1 > S->call_cap) {
        size_t cap = (S->call_len + k + 1) * 2;
        char *p = realloc(S->call, cap);
        if (!p) {
            S->call_lost = true;
            return;
        }
        S->call = p;
        S->call_cap = cap;
    }
    memcpy(S->call + S->call_len, piece, k);
    S->call_len += k;
    S->call[S->call_len] = 0;
}

step_kind step_token(step *S, int32_t id) {
    const step_rules *R = S->R;
    bool eog = gemma_token_is_eog(R->m, id);
    if (eog && !R->ignore_eos) return STEP_END;
    if (S->phase == PHASE_OPEN) {
        if (id == R->ch_open) {
            S->phase = PHASE_THOUGHT;
            return STEP_MARK;
        }
        S->phase = PHASE_ANSWER;
    } else if (S->phase == PHASE_THOUGHT) {
        if (id != R->ch_close) return eog ? STEP_MARK : STEP_THOUGHT;
        S->phase = PHASE_ANSWER;
        if (S->g) attach(S);
        return STEP_MARK;
    }
    if (S->attached) {
        /* the sampler returned a token the grammar allows, so this advances it (an
         * end-of-generation token under --ignore-eos leaves it where it is) */
        gemma_grammar_accept(S->g, id);
    } else if (id == R->ch_open && R->ch_open >= 0) { /* free text: a thought may come anywhere */
        S->phase = PHASE_THOUGHT;
        return STEP_MARK;
    } else if (id == R->ch_close && R->ch_close >= 0) {
        return STEP_MARK;
    }
    if (eog) return STEP_MARK;
    if (R->tools && (S->in_call || id == R->call_open)) {
        S->in_call = true;
        hold_back(S, id);
        return STEP_CALL;
    }
    return STEP_TEXT;
}

bool step_done(const step *S) {
    return S->R->ignore_eos && S->attached && gemma_grammar_is_done(S->g);
}

int step_calls(const step *S, char **lines, int *n, bool *cut_off, char *err) {
    static const char close[] = "<tool_call|>";
    *lines = NULL;
    *n = 0;
    *cut_off = false;
    if (S->call_lost) {
        snprintf(err, GEMMA_ERR_LEN, "out of memory holding back a tool call");
        return -1;
    }
    if (!S->call_len) return 0;
    size_t end = 0, k = strlen(close);
    for (size_t i = 0; i + k <= S->call_len; i++)
        if (!memcmp(S->call + i, close, k)) end = i + k;
    *cut_off = end < S->call_len;
    if (end == 0) return 0;
    int count = 0;
    char *text = gemma_tool_calls_parse(S->R->tools, S->call, end, &count, err);
    if (!text) return -1;
    if (count) *lines = text;
    else free(text);
    *n = count;
    return 0;
}

void step_end(step *S) {
    if (S->s) gemma_sampler_set_grammar(S->s, NULL);
    free(S->call);
    S->call = NULL;
    S->call_len = S->call_cap = 0;
    S->call_lost = false;
    S->attached = false;
}

int step_thought_name(const char *text, size_t len) {
    static const char name[] = "thought\n";
    size_t k = sizeof name - 1;
    if (len < k) return memcmp(text, name, len) ? 0 : -1;
    return memcmp(text, name, k) ? 0 : (int)k;
}
