/* test_constrained.c - generation under a grammar, end to end through the C API (gemma.h),
 * on the random-weight fixture models of every generation. Random weights are the hardest
 * case: left alone such a model writes garbage, so every well-formed output below is the
 * grammar's doing. For many seeds: JSON schema outputs parse and validate, any-JSON outputs
 * parse, GBNF outputs are sentences of the grammar, and a forced tool call parses into the
 * arguments of a declared tool. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemma.h"
#include "json.h"
#include "json_schema.h"
#include "model.h"
#include "util.h"

typedef struct {
    gemma_model *m;
    gemma_context *c;
    float *logits;
    int n_vocab;
} loaded;

static bool load(loaded *l, const char *rel) {
    char err[GEMMA_ERR_LEN];
    memset(l, 0, sizeof *l);
    l->m = gemma_model_load(fixture_path(rel), err);
    if (!l->m) return false;
    l->c = gemma_context_new(l->m, &(gemma_context_params){.n_ctx = 1024, .n_threads = 2}, err);
    gemma_model_info info;
    gemma_model_get_info(l->m, &info);
    l->n_vocab = info.n_vocab;
    l->logits = malloc((size_t)info.n_vocab * sizeof *l->logits);
    return l->c != NULL;
}

static void unload(loaded *l) {
    free(l->logits);
    gemma_context_free(l->c);
    gemma_model_free(l->m);
}

typedef enum { END_EOG, END_NONE, END_LIMIT, END_REFUSED } end_kind;

/* A run ended well: at an end-of-generation token, or at the token limit with the grammar
 * complete (the budget makes sure of that). */
#define ENDED_WELL(end, g) \
    ((end) == END_EOG || ((end) == END_LIMIT && gemma_grammar_is_complete(g)))

/* Generate up to max tokens after prompt with grammar g (seed, default sampling; temp < 0
 * keeps the default temperature), the grammar told that max is the budget. The text goes to
 * out; every sampled token must be accepted by the grammar. */
static end_kind generate(loaded *l, gemma_grammar *g, const char *prompt, bool special,
                         uint64_t seed, float temp, int max, strbuf *out,
                         gemma_sampler_timings *timings) {
    char err[GEMMA_ERR_LEN];
    gemma_sampler_params sp;
    gemma_sampler_params_default(&sp);
    sp.seed = seed;
    if (temp >= 0) sp.temp = temp;
    gemma_sampler *s = gemma_sampler_new(l->m, &sp, err);
    gemma_context_reset(l->c);
    gemma_grammar_reset(g);
    gemma_grammar_set_budget(g, max);
    gemma_sampler_set_grammar(s, g);
    int n;
    int32_t *ids = gemma_tokenize(l->m, prompt, strlen(prompt), true, special, &n);
    for (int i = 0; i < n; i++) gemma_sampler_accept(s, ids[i]);
    gemma_eval(l->c, ids, n, l->logits, false, err);
    free(ids);
    end_kind end = END_LIMIT;
    char piece[512];
    sb_puts(out, "");
    for (int i = 0; i < max; i++) {
        int32_t id = gemma_sampler_sample(s, l->logits);
        if (id == GEMMA_TOKEN_NONE) { end = END_NONE; break; }
        if (gemma_token_is_eog(l->m, id)) { end = END_EOG; break; }
        if (!gemma_grammar_accept(g, id)) { end = END_REFUSED; break; }
        gemma_sampler_accept(s, id);
        size_t k = gemma_token_to_piece(l->m, id, piece, sizeof piece);
        sb_put(out, piece, k < sizeof piece ? k : sizeof piece);
        if (gemma_eval(l->c, &id, 1, l->logits, false, err)) break;
    }
    if (timings) gemma_sampler_get_timings(s, timings);
    gemma_sampler_free(s);
    return end;
}

static const char *end_name(end_kind e) {
    return e == END_EOG ? "end of generation" : e == END_NONE ? "no token possible"
         : e == END_LIMIT ? "token limit" : "a sampled token the grammar refused";
}

/* The fixture models, one per generation (the large-vocabulary one last). */
static const char *const models[] = {
    "models/gemma1-f32.gguf", "models/gemma2-f16.gguf", "models/gemma3-q8_0.gguf",
    "models/gemma4-moe-q8_0.gguf", "models/gemma4-vocab-e2e.gguf",
};
#define N_MODELS (int)(sizeof models / sizeof models[0])
static int seeds_for(int model) { return model == N_MODELS - 1 ? 4 : 8; }

static const char person_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":12},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
    "\"email\":{\"type\":\"string\",\"pattern\":\"^[a-z]{1,8}@[a-z]{1,8}\\\\.(com|org)$\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\",\"blue\"]},\"maxItems\":3},"
    "\"born\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"pet\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"object\",\"properties\":{\"kind\":"
    "{\"const\":\"cat\"},\"lives\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9}},"
    "\"required\":[\"kind\",\"lives\"]}]}},"
    "\"required\":[\"name\",\"age\",\"pet\"],\"additionalProperties\":false}";

static void test_json_schema_outputs(void) {
    TEST_BEGIN("constrained: JSON schema outputs parse and validate, every generation, many seeds");
    char err[GEMMA_ERR_LEN] = "";
    json_value *schema = json_parse(person_schema, strlen(person_schema), err);
    int runs = 0;
    for (int mi = 0; mi < N_MODELS; mi++) {
        loaded l;
        if (!load(&l, models[mi])) {
            unload(&l);
            continue;
        }
        gemma_grammar *g = gemma_grammar_from_json_schema(l.m, person_schema,
                                                          strlen(person_schema), err);
        EXPECT(g != NULL, "%s: %s", models[mi], err);
        for (int seed = 1; g && seed <= seeds_for(mi); seed++) {
            strbuf out = {0};
            end_kind end = generate(&l, g, "Describe a person.", false, (uint64_t)seed, -1,
                                    600, &out, NULL);
            json_value *v = json_parse(out.p, out.n, err);
            char why[GEMMA_ERR_LEN] = "";
            bool valid = v && json_schema_validate(schema, schema, v, why);
            EXPECT(ENDED_WELL(end, g) && gemma_grammar_is_complete(g) && valid,
                   "%s seed %d: ended by %s; %s\n      %s", models[mi], seed, end_name(end),
                   v ? (valid ? "valid" : why) : err, out.p);
            json_free(v);
            sb_free(&out);
            runs++;
        }
        gemma_grammar_free(g);
        unload(&l);
    }
    EXPECT(runs >= 4 * 8 + 4, "only %d runs (missing fixture models?)", runs);
    json_free(schema);
    TEST_END();
}

static void test_any_json_outputs(void) {
    TEST_BEGIN("constrained: any-JSON (--format json) outputs parse, every generation");
    char err[GEMMA_ERR_LEN] = "";
    for (int mi = 0; mi < N_MODELS; mi++) {
        loaded l;
        if (!load(&l, models[mi])) {
            unload(&l);
            continue;
        }
        gemma_grammar *g = gemma_grammar_json(l.m, err);
        EXPECT(g != NULL, "%s: %s", models[mi], err);
        for (int seed = 1; g && seed <= seeds_for(mi); seed++) {
            strbuf out = {0};
            end_kind end = generate(&l, g, "JSON please", false, (uint64_t)seed + 100, -1, 300,
                                    &out, NULL);
            json_value *v = json_parse(out.p, out.n, err);
            EXPECT(ENDED_WELL(end, g) && v, "%s seed %d: ended by %s; %s\n      %s", models[mi], seed,
                   end_name(end), v ? "parses" : err, out.p);
            json_free(v);
            sb_free(&out);
        }
        gemma_grammar_free(g);
        unload(&l);
    }
    TEST_END();
}

static void test_gbnf_outputs(void) {
    TEST_BEGIN("constrained: GBNF outputs are sentences of the grammar; greedy runs repeat");
    /* arithmetic with nesting, and a list grammar with non-ASCII characters */
    static const char *const grammars[] = {
        "root ::= expr \"=\"\nexpr ::= term ((\"+\" | \"-\") term){0,4}\n"
        "term ::= [1-9] [0-9]{0,2} | \"(\" expr \")\"\n",
        "root ::= (\"- \" item \"\\n\"){1,3}\nitem ::= [a-z\\u00e0-\\u00ff\\u3041-\\u309f]{1,10}\n",
    };
    char err[GEMMA_ERR_LEN] = "";
    for (int mi = 0; mi < N_MODELS; mi++) {
        loaded l;
        if (!load(&l, models[mi])) {
            unload(&l);
            continue;
        }
        for (size_t gi = 0; gi < sizeof grammars / sizeof *grammars; gi++) {
            const char *text = grammars[gi];
            gemma_grammar *g = gemma_grammar_new(l.m, text, strlen(text), NULL, err);
            EXPECT(g != NULL, "%s: %s", models[mi], err);
            for (int seed = 1; g && seed <= seeds_for(mi); seed++) {
                strbuf out = {0};
                end_kind end = generate(&l, g, "Go:", false, (uint64_t)seed, -1, 400, &out, NULL);
                int whole = gemma_gbnf_match(text, strlen(text), NULL, out.p, out.n, NULL, err);
                EXPECT(ENDED_WELL(end, g) && whole == 1, "%s grammar %zu seed %d: ended by %s, match "
                       "%d\n      %s", models[mi], gi, seed, end_name(end), whole, out.p);
                sb_free(&out);
            }
            /* greedy: the same text twice */
            strbuf a = {0}, b = {0};
            if (g) {
                generate(&l, g, "Go:", false, 1, 0, 400, &a, NULL);
                generate(&l, g, "Go:", false, 2, 0, 400, &b, NULL);
                EXPECT(a.n == b.n && memcmp(a.p, b.p, a.n) == 0, "%s: greedy differs", models[mi]);
            }
            sb_free(&a);
            sb_free(&b);
            gemma_grammar_free(g);
        }
        unload(&l);
    }
    TEST_END();
}

static const char tools_json[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
    "\"maxLength\":20},\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]},"
    "\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7}},\"required\":[\"city\",\"unit\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"set_alarm\",\"description\":\"Alarm\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"time\":{\"type\":\"string\",\"format\":"
    "\"time\"},\"repeat\":{\"type\":\"boolean\"},\"labels\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\",\"maxLength\":6},\"maxItems\":2},\"meta\":{\"type\":\"object\",\"properties\":"
    "{\"note\":{\"type\":[\"string\",\"null\"],\"maxLength\":10},\"level\":{\"type\":\"number\"}},"
    "\"required\":[\"note\"]}},\"required\":[\"time\"]}}}]";

static void test_forced_tool_calls(void) {
    TEST_BEGIN("constrained: a forced tool call on Gemma 4 parses into a declared tool's arguments");
    loaded l;
    char err[GEMMA_ERR_LEN] = "";
    if (!load(&l, "models/gemma4-vocab-e2e.gguf")) {
        unload(&l);
        TEST_END();
        test_skip("tool calls: no gemma4-vocab-e2e fixture");
        return;
    }
    gemma_tools *t = gemma_tools_parse(tools_json, strlen(tools_json), err);
    EXPECT(t != NULL, "%s", err);
    gemma_grammar *g = t ? gemma_tools_grammar(l.m, t, true, err) : NULL;
    EXPECT(g != NULL, "%s", err);
    char *sys = t ? gemma_tools_system_prompt(t, "You call tools.", err) : NULL;
    char *prompt = sys ? gemma_chat_turn(GEMMA_CHAT_GEMMA4, sys, "Weather in Paris?", true, false)
                       : NULL;
    json_value *tools = json_parse(tools_json, strlen(tools_json), err);
    int calls_seen = 0;
    for (int seed = 1; g && prompt && seed <= 8; seed++) {
        strbuf out = {0};
        end_kind end = generate(&l, g, prompt, true, (uint64_t)seed, -1, 300, &out, NULL);
        int n = 0;
        char *lines = gemma_tool_calls_parse(t, out.p, out.n, &n, err);
        EXPECT(ENDED_WELL(end, g) && lines && n >= 1, "seed %d: ended by %s, %d calls: %s\n      %s",
               seed, end_name(end), n, lines ? "" : err, out.p);
        /* each line: {"name": a declared tool, "arguments": valid for its parameters} */
        for (char *p = lines; p && *p;) {
            char *nl = strchr(p, '\n');
            json_value *call = json_parse(p, (size_t)(nl - p), err);
            const char *name = json_str(json_get(call, "name"));
            const json_value *params = NULL;
            for (size_t i = 0; i < json_len(tools) && name; i++) {
                const json_value *fn = json_get(json_at(tools, i), "function");
                if (strcmp(json_str(json_get(fn, "name")), name) == 0) params = json_get(fn, "parameters");
            }
            char why[GEMMA_ERR_LEN] = "";
            EXPECT(params && json_schema_validate(params, params, json_get(call, "arguments"), why),
                   "seed %d: call %.*s: %s", seed, (int)(nl - p), p, params ? why : "unknown tool");
            calls_seen += params != NULL;
            json_free(call);
            p = nl + 1;
        }
        free(lines);
        sb_free(&out);
    }
    EXPECT(calls_seen >= 8, "only %d calls", calls_seen);
    json_free(tools);
    free(prompt);
    free(sys);
    gemma_grammar_free(g);
    gemma_tools_free(t);
    unload(&l);
    TEST_END();
}

static void test_timings(void) {
    TEST_BEGIN("constrained: the sampler reports its time and the grammar's share");
    loaded l;
    char err[GEMMA_ERR_LEN] = "";
    if (!load(&l, "models/gemma3-q8_0.gguf")) {
        unload(&l);
        TEST_END();
        test_skip("timings: no gemma3-q8_0 fixture");
        return;
    }
    gemma_grammar *g = gemma_grammar_json(l.m, err);
    strbuf out = {0};
    gemma_sampler_timings t;
    generate(&l, g, "x", false, 5, -1, 50, &out, &t);
    EXPECT(t.n_samples >= 1 && t.n_samples <= 50 && t.sample_ms > 0 &&
           t.grammar_ms > 0 && t.grammar_ms <= t.sample_ms && t.n_grammar_checks >= t.n_samples -
           t.n_grammar_fallbacks, "samples %llu, %.3f ms, grammar %.3f ms, checks %llu, "
           "fallbacks %llu", (unsigned long long)t.n_samples, t.sample_ms, t.grammar_ms,
           (unsigned long long)t.n_grammar_checks, (unsigned long long)t.n_grammar_fallbacks);
    sb_free(&out);
    gemma_grammar_free(g);
    unload(&l);
    TEST_END();
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct {
    gemma_model *m;
    gemma_grammar *g;
} bind_job;

static void *bind_thread(void *arg) {
    bind_job *b = arg;
    char err[GEMMA_ERR_LEN];
    b->g = gemma_grammar_new(b->m, "root ::= \"yes\" | \"no\"", 21, NULL, err);
    return NULL;
}

/* The matching vocabulary is the model's, built by the first grammar bound and shared by
 * every later one (a server binds one per request): on Gemma 4's 262,144-token vocabulary
 * the first bind builds it, the later ones find it. Four threads binding the first
 * grammars at once end with one index (make sanitize: nothing leaks, no race). */
static void test_vocab_cached(void) {
    TEST_BEGIN("constrained: the vocabulary index is built by a model's first grammar and shared by the rest, "
               "also when four threads bind at once");
    char err[GEMMA_ERR_LEN];
    for (int round = 0; round < 2; round++) {
        gemma_model *m = gemma_vocab_load(fixture_path("tokenizer/gemma-4.gguf"), err);
        EXPECT(m, "%s", err);
        if (!m) break;
        EXPECT(atomic_load(&m->match_vocab) == NULL, "an index before any grammar");
        bind_job jobs[4];
        double t0 = now_ms(), t1 = 0, t2 = 0;
        if (round == 0) { /* one after the other: the first builds, the second finds */
            jobs[0] = (bind_job){m, NULL};
            bind_thread(&jobs[0]);
            t1 = now_ms();
            const struct gmatch_vocab *v = atomic_load(&m->match_vocab);
            jobs[1] = (bind_job){m, NULL};
            bind_thread(&jobs[1]);
            t2 = now_ms();
            EXPECT(v && atomic_load(&m->match_vocab) == v, "the second grammar built another index");
            printf("    vocabulary of %d tokens: first bind %.1f ms, second %.2f ms\n", m->n_vocab, t1 - t0, t2 - t1);
            EXPECT(t2 - t1 < (t1 - t0) / 4, "the second bind took %.1f ms, the first %.1f", t2 - t1, t1 - t0);
            for (int i = 0; i < 2; i++) {
                EXPECT(jobs[i].g && gemma_grammar_allows(jobs[i].g, gemma_token_id(m, "yes")) &&
                           !gemma_grammar_allows(jobs[i].g, gemma_token_id(m, "x")),
                       "grammar %d: 'yes' allowed, 'x' not", i);
                gemma_grammar_free(jobs[i].g);
            }
        } else {
            pthread_t th[4];
            for (int i = 0; i < 4; i++) {
                jobs[i] = (bind_job){m, NULL};
                pthread_create(&th[i], NULL, bind_thread, &jobs[i]);
            }
            for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
            for (int i = 0; i < 4; i++) {
                EXPECT(jobs[i].g && gemma_grammar_allows(jobs[i].g, gemma_token_id(m, "no")),
                       "thread %d: no grammar, or 'no' not allowed", i);
                gemma_grammar_free(jobs[i].g);
            }
            EXPECT(atomic_load(&m->match_vocab) != NULL, "no index kept");
        }
        gemma_model_free(m);
    }
    TEST_END();
}

void suite_constrained(void) {
    test_vocab_cached();
    test_json_schema_outputs();
    test_any_json_outputs();
    test_gbnf_outputs();
    test_forced_tool_calls();
    test_timings();
}
