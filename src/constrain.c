/* constrain.c - the public API of constrained output (gemma.h's grammar / tool section) over
 * the engine's modules:
 *
 *   gemma_grammar   = a parsed grammar (grammar.h) + its matcher (grammar_match.h) + the
 *                     model's vocabulary indexed for matching (the printed piece of every
 *                     token, its end-of-generation flag)
 *   JSON schemas    json_schema.h turns them into GBNF first
 *   tools           toolcall.h: declarations, the call grammar, calls read back and written
 *                   again (a call put back into a conversation is read back as a check) */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
#include "grammar.h"
#include "grammar_match.h"
#include "json.h"
#include "json_schema.h"
#include "model.h"
#include "sampler.h"
#include "strbuf.h"
#include "tokenizer.h"
#include "toolcall.h"
#include "util.h"

struct gemma_grammar {
    grammar *g;
    gmatch *m;
    const gmatch_vocab *v;   /* the model's (vocab_of) */
};

/* The vocabulary as the matcher reads it: each token's printed piece. */
static gmatch_vocab *vocab_new(const gemma_model *m) {
    int n = m->n_vocab;
    char **pieces = xmalloc((size_t)n * sizeof *pieces);
    uint32_t *lens = xmalloc((size_t)n * sizeof *lens);
    bool *eog = xmalloc((size_t)n * sizeof *eog);
    char buf[256];
    for (int i = 0; i < n; i++) {
        size_t k = tokenizer_piece(m->tok, i, buf, sizeof buf);
        pieces[i] = xmalloc(k ? k : 1);
        if (k <= sizeof buf) memcpy(pieces[i], buf, k);
        else tokenizer_piece(m->tok, i, pieces[i], k);
        lens[i] = (uint32_t)k;
        eog[i] = tokenizer_is_eog(m->tok, i);
    }
    gmatch_vocab *v = gmatch_vocab_new(n, (const char *const *)pieces, lens, eog);
    for (int i = 0; i < n; i++) free(pieces[i]);
    free(pieces);
    free(lens);
    free(eog);
    return v;
}

/* The model's matching vocabulary, built once: by the first grammar bound to it (two
 * threads binding the first grammars at once may both build it; one copy is kept). The
 * model is const to its users; the index is a cache of what it holds. */
static const gmatch_vocab *vocab_of(const gemma_model *m) {
    gemma_model *mm = (gemma_model *)m;
    gmatch_vocab *v = atomic_load(&mm->match_vocab);
    if (v) return v;
    gmatch_vocab *fresh = vocab_new(m);
    if (atomic_compare_exchange_strong(&mm->match_vocab, &v, fresh)) return fresh;
    gmatch_vocab_free(fresh); /* another thread's came first: v is it */
    return v;
}

static int32_t find_token(void *ctx, const char *text, size_t len) {
    const gemma_model *m = ctx;
    return tokenizer_find(m->tok, text, len);
}

gemma_grammar *gemma_grammar_new(const gemma_model *m, const char *gbnf, size_t len,
                                 const char *root, char *err) {
    grammar *g = grammar_parse(gbnf, len, root, err);
    if (!g) return NULL;
    if (grammar_resolve_tokens(g, find_token, (void *)m, m->n_vocab, err)) {
        grammar_free(g);
        return NULL;
    }
    gemma_grammar *gg = xcalloc(1, sizeof *gg);
    gg->g = g;
    gg->m = gmatch_new(g);
    gg->v = vocab_of(m);
    return gg;
}

gemma_grammar *gemma_grammar_from_json_schema(const gemma_model *m, const char *schema,
                                              size_t len, char *err) {
    char *text = json_schema_to_gbnf(schema, len, err);
    if (!text) return NULL;
    gemma_grammar *g = gemma_grammar_new(m, text, strlen(text), NULL, err);
    free(text);
    return g;
}

gemma_grammar *gemma_grammar_json(const gemma_model *m, char *err) {
    char *text = json_any_gbnf();
    gemma_grammar *g = gemma_grammar_new(m, text, strlen(text), NULL, err);
    free(text);
    return g;
}

void gemma_grammar_free(gemma_grammar *g) {
    if (!g) return;
    gmatch_free(g->m);
    grammar_free(g->g);
    free(g);
}

void gemma_grammar_reset(gemma_grammar *g) { gmatch_reset(g->m); }
bool gemma_grammar_allows(gemma_grammar *g, int32_t id) { return gmatch_allows_token(g->m, g->v, id); }
bool gemma_grammar_accept(gemma_grammar *g, int32_t id) { return gmatch_accept_token(g->m, g->v, id); }
bool gemma_grammar_is_complete(const gemma_grammar *g) { return gmatch_is_complete(g->m); }
void gemma_grammar_set_budget(gemma_grammar *g, int tokens) { gmatch_set_budget(g->m, tokens); }
bool gemma_grammar_is_done(const gemma_grammar *g) { return gmatch_is_done(g->m); }

void gemma_sampler_set_grammar(gemma_sampler *s, gemma_grammar *g) {
    sampler_set_grammar(s, g ? g->m : NULL, g ? g->v : NULL);
}

void gemma_sampler_get_timings(const gemma_sampler *s, gemma_sampler_timings *t) {
    sampler_stats st;
    sampler_get_stats(s, &st);
    t->n_samples = st.n_samples;
    t->sample_ms = st.sample_s * 1e3;
    t->grammar_ms = st.grammar_s * 1e3;
    t->n_grammar_checks = st.n_grammar_checks;
    t->n_grammar_fallbacks = st.n_grammar_fallbacks;
}

/* ---- text only ---- */

char *gemma_json_schema_to_gbnf(const char *schema, size_t len, char *err) {
    return json_schema_to_gbnf(schema, len, err);
}

char *gemma_json_gbnf(void) { return json_any_gbnf(); }

int gemma_gbnf_check(const char *gbnf, size_t len, const char *root, char *err) {
    grammar *g = grammar_parse(gbnf, len, root, err);
    grammar_free(g);
    return g ? 0 : -1;
}

int gemma_gbnf_match(const char *gbnf, size_t len, const char *root, const char *text,
                     size_t n, size_t *fail_at, char *err) {
    grammar *g = grammar_parse(gbnf, len, root, err);
    if (!g) return -2;
    gmatch *m = gmatch_new(g);
    int result = 0;
    /* byte by byte, to say where it fails (a cut character is held, not rejected) */
    for (size_t i = 0; i < n; i++) {
        if (!gmatch_accept_text(m, text + i, 1)) {
            if (fail_at) *fail_at = i;
            result = -1;
            break;
        }
    }
    if (result == 0 && gmatch_is_complete(m)) result = 1;
    gmatch_free(m);
    grammar_free(g);
    return result;
}

/* ---- tools ---- */

gemma_tools *gemma_tools_parse(const char *json, size_t len, char *err) {
    tool_list *list = tools_parse(json, len, err);
    if (!list) return NULL;
    gemma_tools *t = xcalloc(1, sizeof *t);
    t->list = list;
    return t;
}

void gemma_tools_free(gemma_tools *t) {
    if (!t) return;
    tools_free(t->list);
    free(t);
}

bool gemma_model_has_tool_tokens(const gemma_model *m) {
    static const char *need[] = {"<|tool_call>", "<tool_call|>", "<|tool_response>",
                                 "<tool_response|>", "<|\"|>"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (tokenizer_find(m->tok, need[i], strlen(need[i])) < 0) return false;
    return true;
}

/* The template trims the system text and writes the declarations right after it. */
char *gemma_tools_system_prompt(const gemma_tools *t, const char *system, char *err) {
    char *decl = tools_declarations(t->list, err);
    if (!decl) return NULL;
    strbuf b = {0};
    if (system) {
        const char *s = system, *e = system + strlen(system);
        while (s < e && strchr(" \t\r\n", *s)) s++;
        while (e > s && strchr(" \t\r\n", e[-1])) e--;
        sb_put(&b, s, (size_t)(e - s));
    }
    sb_puts(&b, decl);
    free(decl);
    return sb_take(&b);
}

gemma_grammar *gemma_tools_grammar(const gemma_model *m, const gemma_tools *t, bool required,
                                   char *err) {
    if (!gemma_model_has_tool_tokens(m)) {
        set_err(err, "%s (%s) has no tool-call tokens: tool calls need a Gemma 4 model",
                m->name ? m->name : "the model", m->arch_name ? m->arch_name : "?");
        return NULL;
    }
    char *text = tools_grammar(t->list, required, err);
    if (!text) return NULL;
    gemma_grammar *g = gemma_grammar_new(m, text, strlen(text), NULL, err);
    free(text);
    return g;
}

char *gemma_tools_gbnf(const gemma_tools *t, bool required, char *err) {
    return tools_grammar(t->list, required, err);
}

char *gemma_tool_calls_parse(const gemma_tools *t, const char *text, size_t len, int *n_calls,
                             char *err) {
    json_value *calls = tool_calls_read(t ? t->list : NULL, text, len, err);
    if (!calls) return NULL;
    strbuf b = {0};
    sb_puts(&b, "");
    for (size_t i = 0; i < json_len(calls); i++) {
        json_write(&b, json_at(calls, i));
        sb_putc(&b, '\n');
    }
    if (n_calls) *n_calls = (int)json_len(calls);
    json_free(calls);
    return sb_take(&b);
}

char *gemma_tool_response(const char *name, const char *result_json, size_t len, bool think,
                          char *err) {
    char jerr[GEMMA_ERR_LEN];
    json_value *v = json_parse(result_json, len, jerr);
    if (!v) {
        set_err(err, "tool response for '%s': %s", name, jerr);
        return NULL;
    }
    char *text = tool_response_write(name, v, err);
    json_free(v);
    if (!text || think) return text;
    strbuf b = {0};
    sb_puts(&b, text);
    sb_puts(&b, "<|channel>thought\n<channel|>");    /* the template's prefill without thinking */
    free(text);
    return sb_take(&b);
}

/* The arguments of a call: an object, or (OpenAI) a JSON text of one. */
static json_value *call_arguments(const json_value *fn, const char *name, char *err) {
    const json_value *args = json_get(fn, "arguments");
    if (!args) return json_new_object();
    if (json_typeof(args) == JSON_OBJECT) return json_copy(args);
    char jerr[GEMMA_ERR_LEN];
    json_value *v = json_typeof(args) == JSON_STRING
                        ? json_parse(json_str(args), json_str_len(args), jerr) : NULL;
    if (json_typeof(v) != JSON_OBJECT) {
        set_err(err, "tool call '%s': \"arguments\" must be an object (or a JSON text of one)", name);
        json_free(v);
        return NULL;
    }
    return v;
}

char *gemma_tool_call_text(const gemma_tools *t, const char *call_json, size_t len, char **name,
                           char *err) {
    char jerr[GEMMA_ERR_LEN];
    json_value *call = json_parse(call_json, len, jerr);
    if (!call) {
        set_err(err, "tool call: %s", jerr);
        return NULL;
    }
    const json_value *fn = json_get(call, "function");   /* OpenAI's wrapping */
    if (json_typeof(fn) != JSON_OBJECT) fn = call;
    const char *fname = json_str(json_get(fn, "name"));
    char *text = NULL;
    json_value *args = NULL;
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_.-";   /* what tools_parse accepts */
    if (!fname || !*fname) {
        set_err(err, "tool call: expected {\"name\": ..., \"arguments\": {...}}");
    } else if (fname[strspn(fname, name_chars)]) {
        set_err(err, "tool call: the name '%.64s' cannot be written in a call (letters, digits, "
                     "'_', '.', '-')", fname);
    } else if ((args = call_arguments(fn, fname, err)) != NULL) {
        text = tool_call_write(fname, args, err);
    }
    /* read back with the tools: a declared tool's name, the arguments its parameters allow */
    json_value *back = text && t ? tool_calls_read(t->list, text, strlen(text), err) : NULL;
    if (text && t && !back) {
        free(text);
        text = NULL;
    }
    if (text && name) *name = xstrdup(fname);
    json_free(back);
    json_free(args);
    json_free(call);
    return text;
}
