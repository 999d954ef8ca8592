/* test_step.c - the rules of one generated token (cli/step.c) on Gemma 4's real vocabulary,
 * with logits written by hand so that each case knows what an unconstrained sampler would
 * pick: the thought channel is free and the grammar applies after it, a refused first token
 * is drawn again under the grammar, the caller's budget reaches the grammar, tool calls are
 * held back and read back, --ignore-eos stops when the grammar is done. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
#include "step.h"

typedef struct {
    gemma_model *m;
    gemma_sampler *s;
    float *logits;
    int n_vocab;
} fixture;

static bool open_fixture(fixture *f) {
    char err[GEMMA_ERR_LEN];
    memset(f, 0, sizeof *f);
    f->m = gemma_vocab_load(fixture_path("tokenizer/gemma-4.gguf"), err);
    if (!f->m) return false;
    gemma_model_info info;
    gemma_model_get_info(f->m, &info);
    f->n_vocab = info.n_vocab;
    gemma_sampler_params p;
    gemma_sampler_params_default(&p);
    p.temp = 0;                                   /* greedy: the best allowed token */
    f->s = gemma_sampler_new(f->m, &p, err);
    f->logits = calloc((size_t)f->n_vocab, sizeof *f->logits);
    return f->s && f->logits;
}

static void close_fixture(fixture *f) {
    free(f->logits);
    gemma_sampler_free(f->s);
    gemma_model_free(f->m);
}

/* The one token of a text (-1 if it takes several). */
static int32_t token_of(const fixture *f, const char *text) {
    int n;
    int32_t *ids = gemma_tokenize(f->m, text, strlen(text), false, true, &n);
    int32_t id = n == 1 ? ids[0] : -1;
    free(ids);
    return id;
}

/* Logits that rank `best` first, `second` next, everything else far below. */
static const float *rank(fixture *f, int32_t best, int32_t second) {
    for (int i = 0; i < f->n_vocab; i++) f->logits[i] = -10.0f;
    if (second >= 0) f->logits[second] = 5.0f;
    if (best >= 0) f->logits[best] = 10.0f;
    return f->logits;
}

static void piece(const fixture *f, int32_t id, char *buf, size_t cap) {
    size_t k = gemma_token_to_piece(f->m, id, buf, cap - 1);
    buf[k < cap - 1 ? k : cap - 1] = 0;
}

static void test_thought_then_grammar(fixture *f) {
    TEST_BEGIN("step: with --think the thought is free and the grammar shapes the answer after it");
    char err[GEMMA_ERR_LEN] = "";
    step_spec sp = {.gbnf = "root ::= \"yes\" | \"no\"", .channels = true, .think = true};
    step_rules R;
    EXPECT(step_rules_init(&R, f->m, &sp, err) == 0, "%s", err);
    int32_t hello = token_of(f, "hello"), eog = token_of(f, "<turn|>"), yes = token_of(f, "yes");
    EXPECT(hello >= 0 && eog >= 0 && yes >= 0 && R.ch_open >= 0, "tokens %d %d %d", hello, eog, yes);
    step S;
    step_begin(&S, &R, f->s, false);
    int32_t id = step_sample(&S, rank(f, R.ch_open, hello), -1);
    EXPECT(id == R.ch_open && step_token(&S, id) == STEP_MARK, "the channel opens: %d", id);
    id = step_sample(&S, rank(f, hello, yes), -1);
    EXPECT(id == hello && step_token(&S, id) == STEP_THOUGHT, "a free thought token: %d", id);
    id = step_sample(&S, rank(f, eog, hello), -1);
    EXPECT(id == R.ch_close, "an end of turn in the thought closes the thought instead: %d", id);
    EXPECT(step_token(&S, id) == STEP_MARK && S.attached, "the grammar is attached after the thought");
    id = step_sample(&S, rank(f, hello, -1), -1);
    char p[64];
    piece(f, id, p, sizeof p);
    EXPECT(id != hello && *p && (!strncmp("yes", p, strlen(p)) || !strncmp("no", p, strlen(p))),
           "the answer follows the grammar: '%s'", p);
    step_end(&S);
    step_rules_free(&R);
    TEST_END();

    TEST_BEGIN("step: with --think, a first token that is not a thought must fit the grammar");
    EXPECT(step_rules_init(&R, f->m, &sp, err) == 0, "%s", err);
    step_begin(&S, &R, f->s, false);
    id = step_sample(&S, rank(f, hello, yes), -1);
    EXPECT(id == yes && S.attached, "drawn again under the grammar: %d (want %d)", id, yes);
    EXPECT(step_token(&S, id) == STEP_TEXT && S.phase == PHASE_ANSWER, "the answer has started");
    step_end(&S);
    step_begin(&S, &R, f->s, false);
    id = step_sample(&S, rank(f, yes, hello), -1);
    EXPECT(id == yes && step_token(&S, id) == STEP_TEXT, "an allowed first token is kept: %d", id);
    id = step_sample(&S, rank(f, eog, hello), -1);
    EXPECT(id == eog && step_token(&S, id) == STEP_END, "then the end of the answer: %d", id);
    step_end(&S);
    step_rules_free(&R);
    TEST_END();
}

static void test_budget(fixture *f) {
    TEST_BEGIN("step: the tokens the caller has left are the grammar's budget");
    char err[GEMMA_ERR_LEN] = "";
    step_spec sp = {.gbnf = "root ::= \"x\" | \"yyyyyyyyyyyyyyyyyyyy\""};
    step_rules R;
    EXPECT(step_rules_init(&R, f->m, &sp, err) == 0, "%s", err);
    int32_t x = token_of(f, "x"), y = token_of(f, "y");
    step S;
    step_begin(&S, &R, f->s, false);
    EXPECT(step_sample(&S, rank(f, y, x), -1) == y, "no limit: the likelier y");
    EXPECT(step_sample(&S, rank(f, y, x), 1) == x, "one token left: only x completes in time");
    step_end(&S);
    step_rules_free(&R);
    TEST_END();
}

static const char tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]";

/* Feed a text's tokens through step_token; the kinds in kinds[] (up to cap). */
static int feed_text(fixture *f, step *S, const char *text, step_kind *kinds, int cap) {
    int n;
    int32_t *ids = gemma_tokenize(f->m, text, strlen(text), false, true, &n);
    for (int i = 0; i < n && i < cap; i++) kinds[i] = step_token(S, ids[i]);
    free(ids);
    return n;
}

static void test_tool_calls(fixture *f) {
    TEST_BEGIN("step: a tool call is held back from <|tool_call> on and read back as a JSON line");
    char err[GEMMA_ERR_LEN] = "";
    step_spec sp = {.tools = tools, .channels = true};
    step_rules R;
    EXPECT(step_rules_init(&R, f->m, &sp, err) == 0, "%s", err);
    step S;
    step_begin(&S, &R, f->s, false);
    step_kind kinds[64];
    int n = feed_text(f, &S, "Sure.", kinds, 64);
    for (int i = 0; i < n; i++) EXPECT(kinds[i] == STEP_TEXT, "text token %d: kind %d", i, kinds[i]);
    n = feed_text(f, &S, "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|>", kinds, 64);
    for (int i = 0; i < n && i < 64; i++) EXPECT(kinds[i] == STEP_CALL, "call token %d: kind %d", i, kinds[i]);
    EXPECT(gemma_grammar_is_complete(S.g), "the grammar followed the call");
    char *lines = NULL;
    int calls = 0;
    bool cut = true;
    EXPECT(step_calls(&S, &lines, &calls, &cut, err) == 0 && calls == 1 && !cut && lines &&
           !strcmp(lines, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n"),
           "%d calls: %s", calls, lines ? lines : err);
    free(lines);
    feed_text(f, &S, "<|tool_call>call:get_w", kinds, 64);
    EXPECT(step_calls(&S, &lines, &calls, &cut, err) == 0 && calls == 1 && cut,
           "a call cut off is dropped: %d calls, cut %d", calls, cut);
    free(lines);
    n = feed_text(f, &S, "<|tool_response>", kinds, 64);
    EXPECT(n == 1 && kinds[0] == STEP_END, "<|tool_response> ends the answer");
    step_end(&S);
    step_rules_free(&R);
    TEST_END();

    TEST_BEGIN("step: --tool-choice required forces a call first, auto after results, none forbids calls");
    sp.choice = TOOL_CHOICE_REQUIRED;
    EXPECT(step_rules_init(&R, f->m, &sp, err) == 0, "%s", err);
    int32_t sure = token_of(f, "Sure");
    EXPECT(R.first != R.after && !gemma_grammar_allows(R.first, sure) &&
           gemma_grammar_allows(R.first, R.call_open), "required: a call right away");
    step_begin(&S, &R, f->s, true);
    EXPECT(S.g == R.after && gemma_grammar_allows(S.g, sure), "after results: text is allowed");
    step_end(&S);
    step_rules_free(&R);
    sp.choice = TOOL_CHOICE_NONE;
    EXPECT(step_rules_init(&R, f->m, &sp, err) == 0, "%s", err);
    EXPECT(!gemma_grammar_allows(R.first, R.call_open) && gemma_grammar_allows(R.first, sure),
           "none: text but no call");
    step_rules_free(&R);
    TEST_END();
}

static void test_ignore_eos(fixture *f) {
    TEST_BEGIN("step: --ignore-eos passes end-of-generation tokens and stops when the grammar is done");
    char err[GEMMA_ERR_LEN] = "";
    step_spec sp = {.gbnf = "root ::= \"ok\" \" \"?", .ignore_eos = true};
    step_rules R;
    EXPECT(step_rules_init(&R, f->m, &sp, err) == 0, "%s", err);
    step S;
    step_begin(&S, &R, f->s, false);
    step_kind kinds[8];
    feed_text(f, &S, "ok", kinds, 8);
    EXPECT(!step_done(&S), "complete, but a space may follow");
    EXPECT(step_token(&S, token_of(f, "<turn|>")) == STEP_MARK && !step_done(&S),
           "an end-of-turn token is passed over");
    feed_text(f, &S, " ", kinds, 8);
    EXPECT(step_done(&S), "done: nothing can follow");
    step_end(&S);
    step_rules_free(&R);
    TEST_END();
}

void suite_step(void) {
    fixture f;
    if (!open_fixture(&f)) {
        close_fixture(&f);
        test_skip("step: no tokenizer/gemma-4.gguf fixture");
        return;
    }
    test_thought_then_grammar(&f);
    test_budget(&f);
    test_tool_calls(&f);
    test_ignore_eos(&f);
    close_fixture(&f);
}
