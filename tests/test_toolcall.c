/* test_toolcall.c - Gemma 4 tool calls (src/toolcall.c, src/constrain.c): the value syntax
 * both ways, declarations as the chat template writes them, the grammar of calls run on the
 * real Gemma 4 vocabulary (fixtures/tokenizer/gemma-4.gguf), calls read back and checked,
 * responses, and the error for a model without tool tokens. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "gemma.h"
#include "json.h"
#include "toolcall.h"
#include "util.h"

static const char weather_tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Current "
    "weather for a city\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
    "\"string\",\"description\":\"City name\"},\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\","
    "\"fahrenheit\"]},\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7}},\"required\":"
    "[\"city\",\"unit\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"set_alarm\",\"description\":\"Set an alarm\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"time\":{\"type\":\"string\",\"format\":"
    "\"time\"},\"labels\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":8}},"
    "\"meta\":{\"type\":\"object\",\"properties\":{\"note\":{\"type\":[\"string\",\"null\"]}},"
    "\"required\":[\"note\"]}},\"required\":[\"time\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"now\",\"description\":\"The time\"}}]";

/* ---------------------------------------------------------------------------------------
 * The value syntax
 * ------------------------------------------------------------------------------------- */

static void test_value_round_trip(void) {
    TEST_BEGIN("toolcall: JSON -> Gemma 4 value syntax -> JSON gives the same value");
    static const char *values[] = {
        "\"plain\"", "\"\"", "\"quote \\\" backslash \\\\ slash / newline \\n tab \\t\"",
        "\"unicode \\u00e9\\u20ac\\ud83d\\ude00 and raw \xc3\xa9\"", "\"{braces}, [brackets]: "
        "colons\"", "0", "-12", "3.25", "1e-05", "-2.5E+10", "true", "false", "null", "[]", "{}",
        "[1,\"two\",[3,[4]],{\"five\":5}]",
        "{\"b\":{\"y\":[true,null],\"x\":\"s\"},\"a\":1,\"key with spaces\":\"v\"}",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char err[GEMMA_ERR_LEN] = "";
        json_value *v = json_parse(values[i], strlen(values[i]), err);
        EXPECT(v != NULL, "fixture %s: %s", values[i], err);
        for (int escape = 0; escape < 2 && v; escape++) {
            strbuf b = {0};
            EXPECT(gemma_value_write(&b, v, escape, err) == 0, "write %s: %s", values[i], err);
            json_value *back = b.p ? gemma_value_read(b.p, b.n, NULL, err) : NULL;
            EXPECT(back && json_equal(v, back), "%s -> %s -> %s", values[i], b.p ? b.p : "",
                   back ? "a different value" : err);
            json_free(back);
            sb_free(&b);
        }
        json_free(v);
    }
    TEST_END();
}

static void test_value_text(void) {
    TEST_BEGIN("toolcall: the value syntax as the template writes it, and what is read");
    char err[GEMMA_ERR_LEN];
    const char *j = "{\"b\":[1,null],\"a\":\"x y\",\"c\":{\"d\":true}}";
    json_value *v = json_parse(j, strlen(j), err);
    strbuf b = {0};
    gemma_value_write(&b, v, false, err);
    EXPECT(b.p && strcmp(b.p, "{a:<|\"|>x y<|\"|>,b:[1,None],c:{d:true}}") == 0, "bare keys: %s", b.p);
    sb_free(&b);
    gemma_value_write(&b, v, true, err);
    EXPECT(b.p && strcmp(b.p, "{<|\"|>a<|\"|>:<|\"|>x y<|\"|>,<|\"|>b<|\"|>:[1,None],"
                              "<|\"|>c<|\"|>:{<|\"|>d<|\"|>:true}}") == 0, "quoted keys: %s", b.p);
    sb_free(&b);
    json_free(v);
    /* read: quoted keys, null or None, a string with every special character raw */
    const char *t = "{<|\"|>k<|\"|>:null,m:None,s:<|\"|>a\"b\\c\n{}[],:<|\"|>}";
    v = gemma_value_read(t, strlen(t), NULL, err);
    char *back = v ? json_to_string(v) : NULL;
    EXPECT(back && strcmp(back, "{\"k\":null,\"m\":null,\"s\":\"a\\\"b\\\\c\\n{}[],:\"}") == 0,
           "read: %s", back ? back : err);
    free(back);
    json_free(v);
    /* what cannot be written, and what cannot be read */
    const char *quoted = "\"a<|\\\"|>b\"";
    v = json_parse(quoted, strlen(quoted), err);
    EXPECT(v && gemma_value_write(&b, v, false, err) != 0 && strstr(err, "<|\"|>"),
           "a string holding <|\"|>: %s", err);
    sb_free(&b);
    json_free(v);
    v = json_parse("{\"a:b\":1}", 9, err);
    EXPECT(v && gemma_value_write(&b, v, false, err) != 0 && strstr(err, "'a:b'"), "key a:b");
    sb_free(&b);
    json_free(v);
    static const struct { const char *text, *want; } bad[] = {
        {"<|\"|>open", "at byte 9: a string without its closing"},
        {"{a 1}", "expected ':' after the key 'a 1'"}, {"[1 2]", "expected ',' or ']'"},
        {"{a:}", "at byte 3: expected a value"}, {"nul", "expected a value"},
        {"1 x", "text after the value"}, {"01", "at byte 0: expected a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = gemma_value_read(bad[i].text, strlen(bad[i].text), NULL, err);
        EXPECT(!v && strstr(err, bad[i].want), "'%s': %s (want %s)", bad[i].text,
               v ? "read" : err, bad[i].want);
        json_free(v);
    }
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * Tools: declarations, calls, responses
 * ------------------------------------------------------------------------------------- */

static void test_declarations(void) {
    TEST_BEGIN("toolcall: declarations in the system turn, as the chat template writes them");
    char err[GEMMA_ERR_LEN] = "";
    gemma_tools *t = gemma_tools_parse(weather_tools, strlen(weather_tools), err);
    EXPECT(t != NULL, "%s", err);
    char *sys = t ? gemma_tools_system_prompt(t, "  Be brief.\n", err) : NULL;
    /* derived by hand from google's template: properties sorted, enum in STRING, OBJECT's
     * properties and required, ARRAY's items, and the template's own commas (none before
     * type after properties/items when there is no description) */
    const char *want =
        "Be brief."
        "<|tool>declaration:get_weather{description:<|\"|>Current weather for a city<|\"|>,"
        "parameters:{properties:{city:{description:<|\"|>City name<|\"|>,type:<|\"|>STRING<|\"|>},"
        "days:{type:<|\"|>INTEGER<|\"|>},unit:{enum:[<|\"|>celsius<|\"|>,<|\"|>fahrenheit<|\"|>],"
        "type:<|\"|>STRING<|\"|>}},required:[<|\"|>city<|\"|>,<|\"|>unit<|\"|>],"
        "type:<|\"|>OBJECT<|\"|>}}<tool|>"
        "<|tool>declaration:set_alarm{description:<|\"|>Set an alarm<|\"|>,parameters:{properties:"
        "{labels:{,items:{maxLength:8,type:<|\"|>STRING<|\"|>}type:<|\"|>ARRAY<|\"|>},meta:{,"
        "properties:{note:{type:<|\"|>STRING<|\"|>}},required:[<|\"|>note<|\"|>]type:<|\"|>OBJECT"
        "<|\"|>},time:{type:<|\"|>STRING<|\"|>}},required:[<|\"|>time<|\"|>],type:<|\"|>OBJECT"
        "<|\"|>}}<tool|>"
        "<|tool>declaration:now{description:<|\"|>The time<|\"|>}<tool|>";
    EXPECT(sys && strcmp(sys, want) == 0, "got\n      %s\n    want\n      %s", sys ? sys : err, want);
    /* in the system turn of the chat format */
    char *turn = sys ? gemma_chat_turn(GEMMA_CHAT_GEMMA4, sys, "Hi", true, false) : NULL;
    EXPECT(turn && strncmp(turn, "<|turn>system\nBe brief.<|tool>declaration:get_weather{", 53) == 0 &&
           strstr(turn, "<tool|><turn|>\n<|turn>user\nHi<turn|>\n"), "turn: %s", turn);
    free(turn);
    free(sys);
    gemma_tools_free(t);
    TEST_END();
}

static void test_tool_list_errors(void) {
    TEST_BEGIN("toolcall: a bad tool list is an error saying which tool and what");
    static const struct { const char *json, *want; } cases[] = {
        {"{\"name\":\"x\"}", "tools: expected an array"},
        {"[{\"type\":\"function\"}]", "item 0: expected {\"type\":\"function\""},
        {"[{\"type\":\"function\",\"function\":{\"description\":\"d\"}}]", "item 0: the function needs a \"name\""},
        {"[{\"function\":{\"name\":\"a b\"}}]", "needs a \"name\" of letters"},
        {"[{\"function\":{\"name\":\"f\"}},{\"function\":{\"name\":\"f\"}}]", "the name 'f' is used twice"},
        {"[{\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"array\"}}}]", "'f': \"parameters\" must be a JSON schema of an object"},
        {"[{\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^<b>$\"}}}}}]",
         "'f': parameters: json schema: #/properties/a: pattern:"},
        {"[{\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"not\":{}}}}}}]",
         "'f': parameters: json schema: #/properties/x: unsupported keyword 'not'"},
        {"[{\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a:b\":{}}}}}]",
         "property name 'a:b' cannot be written in Gemma 4's call syntax"},
        {"[1,", "tools: json: line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[GEMMA_ERR_LEN] = "";
        gemma_tools *t = gemma_tools_parse(cases[i].json, strlen(cases[i].json), err);
        EXPECT(!t && strstr(err, cases[i].want), "%s\n      got '%s', want '%s'", cases[i].json,
               t ? "(accepted)" : err, cases[i].want);
        gemma_tools_free(t);
    }
    TEST_END();
}

static void test_calls_read(void) {
    TEST_BEGIN("toolcall: calls in generated text become JSON lines, checked against the tools");
    char err[GEMMA_ERR_LEN] = "";
    gemma_tools *t = gemma_tools_parse(weather_tools, strlen(weather_tools), err);
    const char *text = "Let me check.<|tool_call>call:get_weather{city:<|\"|>Paris, \"FR\"<|\"|>,"
                       "days:3,unit:<|\"|>celsius<|\"|>}<tool_call|><|tool_call>call:now{}"
                       "<tool_call|>";
    int n = -1;
    char *lines = gemma_tool_calls_parse(t, text, strlen(text), &n, err);
    EXPECT(lines && n == 2 && strcmp(lines,
           "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris, \\\"FR\\\"\",\"days\":3,"
           "\"unit\":\"celsius\"}}\n{\"name\":\"now\",\"arguments\":{}}\n") == 0,
           "%d calls: %s", n, lines ? lines : err);
    free(lines);
    lines = gemma_tool_calls_parse(t, "no calls here", 13, &n, err);
    EXPECT(lines && n == 0 && lines[0] == 0, "no calls");
    free(lines);
    static const struct { const char *text, *want; } bad[] = {
        {"<|tool_call>get_weather{}<tool_call|>", "tool call 1: expected 'call:'"},
        {"<|tool_call>call:nope{}<tool_call|>", "tool call 1: 'nope' is not one of the declared tools"},
        {"<|tool_call>call:get_weather{city:<|\"|>x<|\"|>,unit:<|\"|>kelvin<|\"|>}<tool_call|>",
         "tool call 1 (get_weather): the arguments do not match the parameters: not one of the enum values"},
        {"<|tool_call>call:get_weather{unit:<|\"|>celsius<|\"|>}<tool_call|>",
         "the required property 'city' is missing"},
        {"<|tool_call>call:now{}<tool_call|><|tool_call>call:now{}", "tool call 2 (now): expected {arguments} then <tool_call|>"},
        {"<|tool_call>call:now{x:}<tool_call|>", "tool call 1 (now): gemma value: at byte 3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lines = gemma_tool_calls_parse(t, bad[i].text, strlen(bad[i].text), &n, err);
        EXPECT(!lines && strstr(err, bad[i].want), "%s\n      got '%s', want '%s'", bad[i].text,
               lines ? lines : err, bad[i].want);
        free(lines);
    }
    gemma_tools_free(t);
    TEST_END();
}

static void test_responses(void) {
    TEST_BEGIN("toolcall: a tool's result as the model reads it, and a call written back");
    char err[GEMMA_ERR_LEN] = "";
    const char *r = "{\"temp\":21.5,\"sky\":\"clear\",\"alerts\":[]}";
    char *text = gemma_tool_response("get_weather", r, strlen(r), false, err);
    EXPECT(text && strcmp(text, "<|tool_response>response:get_weather{alerts:[],sky:<|\"|>clear"
                                "<|\"|>,temp:21.5}<tool_response|><|channel>thought\n<channel|>") == 0,
           "object, thinking off: %s", text ? text : err);
    free(text);
    text = gemma_tool_response("now", "\"12:00\"", 7, true, err);
    EXPECT(text && strcmp(text, "<|tool_response>response:now{value:<|\"|>12:00<|\"|>}"
                                "<tool_response|>") == 0, "a plain value, thinking on: %s",
           text ? text : err);
    free(text);
    text = gemma_tool_response("now", "{", 1, false, err);
    EXPECT(!text && strstr(err, "tool response for 'now': json:"), "bad JSON: %s", err);
    json_value *args = json_parse("{\"b\":2,\"a\":\"x\"}", 15, err);
    text = tool_call_write("f", args, err);
    EXPECT(text && strcmp(text, "<|tool_call>call:f{a:<|\"|>x<|\"|>,b:2}<tool_call|>") == 0,
           "call: %s", text);
    free(text);
    json_free(args);
    TEST_END();
}

static void test_call_text(void) {
    TEST_BEGIN("toolcall: a call line (or an OpenAI call) put back as markup, checked against the tools");
    char err[GEMMA_ERR_LEN] = "";
    gemma_tools *t = gemma_tools_parse(weather_tools, strlen(weather_tools), err);
    /* what gemma_tool_calls_parse printed comes back as the markup it was read from */
    const char *markup = "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:3,unit:<|\"|>celsius"
                         "<|\"|>}<tool_call|>";
    int n = 0;
    char *line = gemma_tool_calls_parse(t, markup, strlen(markup), &n, err);
    char *name = NULL;
    char *text = line ? gemma_tool_call_text(t, line, strlen(line), &name, err) : NULL;
    EXPECT(text && !strcmp(text, markup) && name && !strcmp(name, "get_weather"), "round trip: %s",
           text ? text : err);
    free(text);
    free(name);
    free(line);
    const char *openai = "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                         "\"arguments\":\"{\\\"unit\\\":\\\"celsius\\\",\\\"city\\\":\\\"Paris\\\",\\\"days\\\":3}\"}}";
    text = gemma_tool_call_text(t, openai, strlen(openai), NULL, err);
    EXPECT(text && !strcmp(text, markup), "OpenAI call: %s", text ? text : err);
    free(text);
    text = gemma_tool_call_text(NULL, "{\"name\":\"anything\"}", 19, NULL, err);
    EXPECT(text && !strcmp(text, "<|tool_call>call:anything{}<tool_call|>"), "no tools, no arguments: %s",
           text ? text : err);
    free(text);
    static const struct { const char *json, *want; } bad[] = {
        {"{\"name\":\"nope\",\"arguments\":{}}", "'nope' is not one of the declared tools"},
        {"{\"name\":\"get_weather\",\"arguments\":{\"city\":\"x\"}}", "the required property 'unit' is missing"},
        {"{\"name\":\"now\",\"arguments\":[1]}", "tool call 'now': \"arguments\" must be an object"},
        {"{\"arguments\":{}}", "tool call: expected {\"name\": ..., \"arguments\": {...}}"},
        {"{\"name\":\"now\",", "tool call: json:"},
        {"{\"name\":\"a{b\"}", "tool call: the name 'a{b' cannot be written in a call"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        text = gemma_tool_call_text(strstr(bad[i].want, "declared") || strstr(bad[i].want, "unit") ? t : NULL,
                                    bad[i].json, strlen(bad[i].json), NULL, err);
        EXPECT(!text && strstr(err, bad[i].want), "%s\n      got '%s', want '%s'", bad[i].json,
               text ? text : err, bad[i].want);
        free(text);
    }
    gemma_tools_free(t);
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * The grammar of calls on the real vocabulary
 * ------------------------------------------------------------------------------------- */

/* Feed text, tokenized as the model would have written it, through the grammar; returns 1 if
 * complete, 0 if a prefix, -1 if a token was refused. */
static int run_tokens(gemma_model *m, gemma_grammar *g, const char *text) {
    gemma_grammar_reset(g);
    int n;
    int32_t *ids = gemma_tokenize(m, text, strlen(text), false, true, &n);
    int r = 0;
    for (int i = 0; i < n && r == 0; i++)
        if (!gemma_grammar_accept(g, ids[i])) r = -1;
    free(ids);
    return r < 0 ? -1 : gemma_grammar_is_complete(g) ? 1 : 0;
}

static void test_call_grammar(void) {
    TEST_BEGIN("toolcall: the grammar of calls on Gemma 4's vocabulary");
    char err[GEMMA_ERR_LEN] = "";
    gemma_model *m = gemma_vocab_load(fixture_path("tokenizer/gemma-4.gguf"), err);
    if (!m) {
        TEST_END();
        test_skip("tool grammar: no vocabulary %s", fixture_path("tokenizer/gemma-4.gguf"));
        return;
    }
    EXPECT(gemma_model_has_tool_tokens(m), "Gemma 4 has tool tokens");
    gemma_tools *t = gemma_tools_parse(weather_tools, strlen(weather_tools), err);
    gemma_grammar *req = gemma_tools_grammar(m, t, true, err);
    EXPECT(req != NULL, "required: %s", err);
    gemma_grammar *any = gemma_tools_grammar(m, t, false, err);
    EXPECT(any != NULL, "auto: %s", err);
    static const struct { const char *text; int required, auto_; } cases[] = {
        {"<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,unit:<|\"|>celsius<|\"|>}<tool_call|>", 1, 1},
        {"<|tool_call>call:get_weather{city:<|\"|>a<b<|\"|>,days:7,unit:<|\"|>fahrenheit<|\"|>}<tool_call|>"
         "<|tool_call>call:now{}<tool_call|>", 1, 1},
        {"<|tool_call>call:set_alarm{labels:[<|\"|>x<|\"|>,<|\"|><|\"|>],meta:{note:None},"
         "time:<|\"|>07:30:00Z<|\"|>}<tool_call|>", 1, 1},
        {"<|tool_call>call:set_alarm{meta:{note:<|\"|>n<|\"|>},time:<|\"|>07:30:00+01:00<|\"|>}<tool_call|>", 1, 1},
        {"<|tool_call>call:get_weather{city:<|\"|>Paris", 0, 0},               /* unfinished */
        {"Sure, one moment.", -1, 1},                          /* text instead of a call */
        {"Sure.<|tool_call>call:now{}<tool_call|>", -1, 1},
        {"<|tool_call>call:get_weather{unit:<|\"|>celsius<|\"|>,city:<|\"|>P<|\"|>}<tool_call|>", -1, -1},
        {"<|tool_call>call:get_weather{city:<|\"|>P<|\"|>,unit:<|\"|>kelvin<|\"|>}<tool_call|>", -1, -1},
        {"<|tool_call>call:get_weather{city:<|\"|>P<|\"|>,days:8,unit:<|\"|>celsius<|\"|>}<tool_call|>", -1, -1},
        {"<|tool_call>call:get_weather{city:<|\"|>P<|\"|>}<tool_call|>", -1, -1},
        {"<|tool_call>call:set_alarm{time:<|\"|>7:30<|\"|>}<tool_call|>", -1, -1},
        {"<|tool_call>call:set_alarm{labels:[<|\"|>too long a label<|\"|>],time:<|\"|>07:30:00Z<|\"|>}<tool_call|>", -1, -1},
        {"<|tool_call>call:delete_all{}<tool_call|>", -1, -1},
        {"<|tool_call>call:now{}<tool_call|>Done.", -1, -1},   /* nothing after the calls */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && req && any; i++) {
        int r = run_tokens(m, req, cases[i].text), a = run_tokens(m, any, cases[i].text);
        EXPECT(r == cases[i].required && a == cases[i].auto_, "%s\n      required %d (want %d), "
               "auto %d (want %d)", cases[i].text, r, cases[i].required, a, cases[i].auto_);
    }
    /* the end of generation (<|tool_response>) only after a whole call */
    int32_t eog = gemma_token_id(m, "<|tool_response>");
    if (req) {
        run_tokens(m, req, "<|tool_call>call:now{}");
        EXPECT(!gemma_grammar_allows(req, eog), "not inside a call");
        run_tokens(m, req, "<|tool_call>call:now{}<tool_call|>");
        EXPECT(gemma_grammar_allows(req, eog), "after a call");
    }
    /* the string delimiter is the <|"|> token: spelled out in characters it is refused */
    if (req) {
        run_tokens(m, req, "<|tool_call>call:get_weather{city:");
        int32_t quote = gemma_token_id(m, "<|\"|>"), lt = gemma_token_id(m, "<");
        EXPECT(gemma_grammar_allows(req, quote) && !gemma_grammar_allows(req, lt), "<|\"|> token");
    }
    gemma_grammar_free(req);
    gemma_grammar_free(any);
    gemma_model_free(m);
    /* Gemma 1-3 have no tool tokens */
    m = gemma_vocab_load(fixture_path("tokenizer/gemma-3.gguf"), err);
    if (m) {
        EXPECT(!gemma_model_has_tool_tokens(m), "Gemma 3 has none");
        gemma_grammar *g = gemma_tools_grammar(m, t, false, err);
        EXPECT(!g && strstr(err, "has no tool-call tokens: tool calls need a Gemma 4 model"),
               "Gemma 3: %s", g ? "(a grammar)" : err);
        gemma_grammar_free(g);
        gemma_model_free(m);
    }
    gemma_tools_free(t);
    TEST_END();
}

void suite_toolcall(void) {
    test_value_round_trip();
    test_value_text();
    test_declarations();
    test_tool_list_errors();
    test_calls_read();
    test_responses();
    test_call_text();
    test_call_grammar();
}
