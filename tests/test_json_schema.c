/* test_json_schema.c - JSON Schema to GBNF (src/json_schema.c), its validator and the pattern
 * regular expressions (src/regex.c).
 *
 * Every keyword is checked the way a user meets it: the grammar made from a schema must take
 * the JSON texts the schema allows and refuse the others (where the grammar is deliberately
 * stricter than the schema, the case says so), the validator must agree with the schema, and
 * texts the grammar produces on its own (random walks through it, one character at a time)
 * must parse as JSON and validate. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "grammar_match.h"
#include "json.h"
#include "json_schema.h"
#include "regex.h"
#include "sampler.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

/* One JSON text and what is expected of it: the grammar takes it whole (grammar), and the
 * validator accepts it (valid; -1: the text is not even JSON, so nothing to validate). */
typedef struct {
    const char *text;
    int grammar;
    int valid;
} instance;

#define OK(t) {t, 1, 1}              /* allowed by both */
#define NO(t) {t, 0, 0}              /* refused by both */
#define STRICT(t) {t, 0, 1}          /* valid JSON Schema, but the grammar is stricter */
#define NOT_JSON(t) {t, 0, -1}       /* not JSON at all */
#define DUPLICATE(t) {t, 0, -2}      /* a duplicate key: the grammar refuses, JSON Schema does
                                        not say */

static bool whole_match(const grammar *g, const char *text) {
    gmatch *m = gmatch_new(g);
    bool ok = gmatch_accept_text(m, text, strlen(text)) && gmatch_is_complete(m);
    gmatch_free(m);
    return ok;
}

/* A vocabulary of single characters for random walks: printable ASCII, \n \t, and a few
 * multi-byte characters. */
static const char *walk_chars[128];
static int n_walk_chars;
static gmatch_vocab *walk_vocab;

static void make_walk_vocab(void) {
    if (walk_vocab) return;
    static char ascii[96][2];
    n_walk_chars = 0;
    for (int c = 0x20; c < 0x7f; c++) {
        ascii[c - 0x20][0] = (char)c;
        walk_chars[n_walk_chars++] = ascii[c - 0x20];
    }
    walk_chars[n_walk_chars++] = "\n";
    walk_chars[n_walk_chars++] = "\t";
    walk_chars[n_walk_chars++] = "\xc3\xa9";
    walk_chars[n_walk_chars++] = "\xe2\x82\xac";
    walk_chars[n_walk_chars++] = "\xf0\x9f\x98\x80";
    uint32_t lens[128];
    for (int i = 0; i < n_walk_chars; i++) lens[i] = (uint32_t)strlen(walk_chars[i]);
    walk_vocab = gmatch_vocab_new(n_walk_chars, walk_chars, lens, NULL);
}

/* A random sentence of g: random allowed characters, stopping (with probability 1/3) where
 * complete; after 400 characters, characters that close things are preferred. Returns a
 * malloc'd text, or NULL if the walk got too long. */
static char *random_sentence(const grammar *g, sampler_rng *r) {
    make_walk_vocab();
    gmatch *m = gmatch_new(g);
    strbuf out = {0};
    sb_puts(&out, "");
    uint8_t allowed[128];
    static const char closers[] = "\"]}0123456789nulltruefalse";
    for (int step = 0; step < 4000; step++) {
        if (gmatch_is_complete(m) && (rng_next(r) % 3 == 0 || gmatch_is_done(m))) {
            gmatch_free(m);
            return sb_take(&out);
        }
        int n = gmatch_allowed_tokens(m, walk_vocab, allowed);
        if (n == 0) break;
        int pick = -1;
        if (step > 400) {
            for (int tries = 0; tries < 20 && pick < 0; tries++) {
                int i = (int)(rng_next(r) % (uint64_t)n_walk_chars);
                if (allowed[i] && strchr(closers, walk_chars[i][0])) pick = i;
            }
        }
        if (pick < 0) {
            int k = (int)(rng_next(r) % (uint64_t)n);
            for (int i = 0; i < n_walk_chars && pick < 0; i++)
                if (allowed[i] && k-- == 0) pick = i;
        }
        gmatch_accept_token(m, walk_vocab, pick);
        sb_puts(&out, walk_chars[pick]);
    }
    gmatch_free(m);
    sb_free(&out);
    return NULL;
}

/* The grammar of schema takes / refuses each instance as expected, the validator agrees,
 * and 30 random sentences of the grammar are JSON that validates. */
static void check_schema(const char *schema, const instance *cases, int n) {
    char err[GEMMA_ERR_LEN] = "";
    char *gbnf = json_schema_to_gbnf(schema, strlen(schema), err);
    EXPECT(gbnf != NULL, "schema %s: %s", schema, err);
    if (!gbnf) return;
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    EXPECT(g != NULL, "schema %s: its grammar: %s", schema, err);
    json_value *doc = json_parse(schema, strlen(schema), err);
    for (int i = 0; g && i < n; i++) {
        const instance *c = &cases[i];
        bool took = whole_match(g, c->text);
        EXPECT(took == (c->grammar == 1), "schema %s\n      grammar %s %s", schema,
               took ? "takes" : "refuses", c->text);
        json_value *v = json_parse(c->text, strlen(c->text), err);
        EXPECT((v != NULL) == (c->valid != -1), "%s: JSON parse %d", c->text, v != NULL);
        if (v && c->valid >= 0) {
            char why[GEMMA_ERR_LEN] = "";
            bool valid = json_schema_validate(doc, doc, v, why);
            EXPECT(valid == (c->valid == 1), "schema %s\n      validator %s %s (%s)", schema,
                   valid ? "accepts" : "refuses", c->text, why);
        }
        json_free(v);
    }
    sampler_rng r;
    rng_seed(&r, 99);
    int walked = 0;
    for (int k = 0; g && k < 30; k++) {
        char *s = random_sentence(g, &r);
        if (!s) continue;
        walked++;
        json_value *v = json_parse(s, strlen(s), err);
        char why[GEMMA_ERR_LEN] = "";
        EXPECT(v && json_schema_validate(doc, doc, v, why), "schema %s\n      generated %s: %s",
               schema, s, v ? why : err);
        json_free(v);
        free(s);
    }
    EXPECT(walked >= 10, "schema %s: only %d of 30 random walks ended", schema, walked);
    json_free(doc);
    grammar_free(g);
    free(gbnf);
}
#define CHECK_SCHEMA(schema, ...)                                               \
    do {                                                                        \
        const instance c_[] = {__VA_ARGS__};                                    \
        check_schema(schema, c_, (int)(sizeof c_ / sizeof c_[0]));              \
    } while (0)

static void expect_schema_error(const char *schema, const char *want) {
    char err[GEMMA_ERR_LEN] = "";
    char *gbnf = json_schema_to_gbnf(schema, strlen(schema), err);
    EXPECT(!gbnf && strstr(err, want), "schema %s\n      error '%s', want '%s'", schema,
           gbnf ? "(converted)" : err, want);
    free(gbnf);
}

/* ---------------------------------------------------------------------------------------
 * Keywords
 * ------------------------------------------------------------------------------------- */

static void test_types(void) {
    TEST_BEGIN("json schema: type string, number, integer, boolean, null, lists of types");
    CHECK_SCHEMA("{\"type\":\"string\"}", OK("\"abc\""), OK("\"\""),
                 OK("\"q\\\"\\\\\\n\\u00e9\\ud83d\\ude00\""), OK("\"\xc3\xa9\""), NO("1"),
                 NOT_JSON("\"\\ud800\""), NOT_JSON("\"a\nb\""), NOT_JSON("abc"));
    CHECK_SCHEMA("{\"type\":\"number\"}", OK("0"), OK("-1.5"), OK("2e10"), OK("1.25E-3"),
                 OK("-0"), NO("\"1\""), NOT_JSON("01"), NOT_JSON("1."), NOT_JSON(".5"),
                 NOT_JSON("+1"));
    CHECK_SCHEMA("{\"type\":\"integer\"}", OK("0"), OK("-42"), OK("1234567890123456"),
                 STRICT("1.0"), STRICT("12345678901234567"), NO("1.5"), NO("true"));
    CHECK_SCHEMA("{\"type\":\"boolean\"}", OK("true"), OK("false"), NO("0"), NO("null"));
    CHECK_SCHEMA("{\"type\":\"null\"}", OK("null"), NO("0"), NO("\"null\""));
    CHECK_SCHEMA("{\"type\":[\"string\",\"null\"]}", OK("\"a\""), OK("null"), NO("1"));
    CHECK_SCHEMA("{\"type\":\"integer\",\"nullable\":true}", OK("7"), OK("null"), NO("\"7\""));
    /* no type: any JSON value; whitespace between tokens */
    CHECK_SCHEMA("{}", OK("{\"a\": [1, \"x\", null, {\"b\": false}]}"), OK("3"),
                 OK("[\n  1,\n  2\n]"), NOT_JSON("[1,]"));
    TEST_END();
}

static void test_objects(void) {
    TEST_BEGIN("json schema: properties, required and optional keys in declared order, "
               "additionalProperties");
    const char *s = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                    "\"age\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\","
                    "\"items\":{\"type\":\"string\"}}},\"required\":[\"name\"]}";
    CHECK_SCHEMA(s, OK("{\"name\":\"a\"}"), OK("{\"name\":\"a\",\"age\":3}"),
                 OK("{ \"name\" : \"a\" , \"tags\" : [\"x\"] }"),
                 OK("{\"name\":\"a\",\"age\":3,\"tags\":[]}"),
                 NO("{\"age\":3}"), NO("{}"), NO("{\"name\":1}"),
                 STRICT("{\"age\":3,\"name\":\"a\"}"),          /* keys in declared order */
                 STRICT("{\"name\":\"a\",\"other\":1}"));       /* no others unless allowed */
    /* every property optional */
    CHECK_SCHEMA("{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}}}",
                 OK("{}"), OK("{\"a\":1}"), OK("{\"b\":2}"), OK("{\"a\":1,\"b\":2}"),
                 NO("{\"a\":\"x\"}"));
    /* additionalProperties: a schema for the other keys, which must differ from the
     * declared ones */
    CHECK_SCHEMA("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},"
                 "\"required\":[\"id\"],\"additionalProperties\":{\"type\":\"boolean\"}}",
                 OK("{\"id\":1}"), OK("{\"id\":1,\"x\":true,\"idx\":false,\"i\":true}"),
                 NO("{\"id\":1,\"x\":2}"), NO("{\"x\":true}"),
                 DUPLICATE("{\"id\":1,\"id\":true}"));
    /* declared names with characters a grammar class must escape (^ - ] \\) */
    CHECK_SCHEMA("{\"properties\":{\"a^b\":{\"type\":\"null\"},\"^]-\":{\"type\":\"null\"}},"
                 "\"additionalProperties\":{\"type\":\"integer\"}}", OK("{\"a^b\":null,\"^\":1}"),
                 OK("{\"^]-\":null,\"^]\":2,\"a^\":3}"), DUPLICATE("{\"a^b\":null,\"a^b\":1}"));
    CHECK_SCHEMA("{\"additionalProperties\":true}", OK("{\"any\":[1,{}]}"), OK("{}"));
    CHECK_SCHEMA("{\"properties\":{\"a\":{\"const\":1}},\"additionalProperties\":false}",
                 OK("{\"a\":1}"), OK("{}"), NO("{\"a\":1,\"b\":2}"));
    /* a required key that is not declared takes the additionalProperties schema */
    CHECK_SCHEMA("{\"required\":[\"k\"],\"additionalProperties\":{\"type\":\"string\"}}",
                 OK("{\"k\":\"v\"}"), NO("{}"), NO("{\"k\":1}"));
    CHECK_SCHEMA("{\"type\":\"object\"}", OK("{}"), OK("{\"a\":{\"b\":[null]}}"), NO("[]"));
    TEST_END();
}

static void test_enum_const(void) {
    TEST_BEGIN("json schema: enum and const (values failing the other keywords left out)");
    CHECK_SCHEMA("{\"enum\":[\"red\",\"green\",3,null,{\"a\":[1]}]}", OK("\"red\""), OK("3"),
                 OK("null"), OK("{\"a\":[1]}"), NO("\"blue\""), NO("4"));
    CHECK_SCHEMA("{\"const\":\"x\\\"y\"}", OK("\"x\\\"y\""), NO("\"x\""));
    CHECK_SCHEMA("{\"type\":\"string\",\"enum\":[\"a\",1,\"bb\"],\"maxLength\":1}", OK("\"a\""),
                 NO("1"), NO("\"bb\""));
    expect_schema_error("{\"type\":\"string\",\"enum\":[1,2]}", "no 'enum'/'const' value satisfies");
    TEST_END();
}

static void test_arrays(void) {
    TEST_BEGIN("json schema: items, prefixItems, minItems, maxItems");
    CHECK_SCHEMA("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,"
                 "\"maxItems\":3}", OK("[1]"), OK("[1, 2, 3]"), NO("[]"), NO("[1,2,3,4]"),
                 NO("[\"a\"]"));
    CHECK_SCHEMA("{\"type\":\"array\",\"minItems\":2}", OK("[1,\"a\"]"), NO("[1]"));
    CHECK_SCHEMA("{\"type\":\"array\",\"maxItems\":0}", OK("[]"), NO("[1]"));
    CHECK_SCHEMA("{\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"string\"}],\"items\":false}",
                 OK("[1,\"a\"]"), NO("[1,\"a\",2]"), NO("[\"a\",1]"), STRICT("[1]"));
    CHECK_SCHEMA("{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":{\"type\":\"boolean\"},"
                 "\"minItems\":2}", OK("[1,true]"), OK("[1,true,false]"), NO("[1]"),
                 NO("[1,2]"));
    CHECK_SCHEMA("{\"prefixItems\":[{\"const\":1},{\"const\":2},{\"const\":3}],\"maxItems\":2}",
                 OK("[1,2]"), NO("[1,2,3]"), STRICT("[1]"));
    /* draft 7: items as a list, additionalItems */
    CHECK_SCHEMA("{\"items\":[{\"type\":\"string\"}],\"additionalItems\":{\"type\":\"null\"}}",
                 OK("[\"a\"]"), OK("[\"a\",null,null]"), NO("[\"a\",1]"));
    TEST_END();
}

static void test_strings(void) {
    TEST_BEGIN("json schema: minLength, maxLength (characters), formats date, time, "
               "date-time, uuid");
    CHECK_SCHEMA("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", OK("\"ab\""),
                 OK("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""), OK("\"\\n\\u0041\""),
                 NO("\"a\""), NO("\"abcd\""));
    CHECK_SCHEMA("{\"type\":\"string\",\"format\":\"date\"}", OK("\"2024-02-29\""),
                 NO("\"2024-13-01\""), NO("\"2024-1-01\""), NO("\"x\""));
    CHECK_SCHEMA("{\"type\":\"string\",\"format\":\"time\"}", OK("\"23:59:59Z\""),
                 OK("\"08:30:00.123+02:00\""), NO("\"24:00:00Z\""), NO("\"08:30:00\""));
    CHECK_SCHEMA("{\"type\":\"string\",\"format\":\"date-time\"}", OK("\"2020-01-31T12:00:00Z\""),
                 NO("\"2020-01-31 12:00:00Z\""));
    CHECK_SCHEMA("{\"type\":\"string\",\"format\":\"uuid\"}",
                 OK("\"123e4567-e89b-12d3-a456-426614174000\""),
                 NO("\"123e4567e89b12d3a456426614174000\""));
    expect_schema_error("{\"type\":\"string\",\"format\":\"email\"}", "format 'email' is not supported");
    TEST_END();
}

static void test_integer_bounds(void) {
    TEST_BEGIN("json schema: minimum, maximum, exclusiveMinimum, exclusiveMaximum of integers");
    CHECK_SCHEMA("{\"type\":\"integer\",\"minimum\":-15,\"maximum\":2345}", OK("-15"), OK("-1"),
                 OK("0"), OK("9"), OK("10"), OK("999"), OK("1000"), OK("2345"), OK("2299"),
                 NO("-16"), NO("2346"), NO("3000"), NO("-100"), NO("10000"));
    CHECK_SCHEMA("{\"type\":\"integer\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":100}",
                 OK("1"), OK("99"), NO("0"), NO("100"));
    CHECK_SCHEMA("{\"type\":\"integer\",\"minimum\":1000}", OK("1000"), OK("99999999"),
                 NO("999"), NO("-1000"));
    CHECK_SCHEMA("{\"type\":\"integer\",\"maximum\":-7}", OK("-7"), OK("-123456"), NO("-6"),
                 NO("0"));
    CHECK_SCHEMA("{\"type\":\"integer\",\"minimum\":1.5,\"maximum\":3.5}", OK("2"), OK("3"),
                 NO("1"), NO("4"));
    /* draft 4's boolean exclusiveMinimum */
    CHECK_SCHEMA("{\"type\":\"integer\",\"minimum\":5,\"exclusiveMinimum\":true,\"maximum\":7}",
                 OK("6"), OK("7"), NO("5"));
    expect_schema_error("{\"type\":\"number\",\"minimum\":0}", "supported for \"type\": \"integer\" only");
    expect_schema_error("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "no integer");
    TEST_END();
}

static void test_combinations(void) {
    TEST_BEGIN("json schema: anyOf, oneOf (alternatives that cannot overlap), allOf of objects");
    CHECK_SCHEMA("{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                 "\"required\":[\"a\"]},{\"type\":\"object\",\"properties\":{\"b\":{\"type\":"
                 "\"string\"}},\"required\":[\"b\"]}]}", OK("{\"a\":1}"), OK("{\"b\":\"x\"}"),
                 NO("{\"a\":\"x\"}"), NO("{}"));
    CHECK_SCHEMA("{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", OK("\"s\""),
                 OK("5"), NO("true"));
    /* told apart by a required const property */
    CHECK_SCHEMA("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"circle\"},"
                 "\"r\":{\"type\":\"number\"}},\"required\":[\"kind\",\"r\"]},{\"type\":\"object\","
                 "\"properties\":{\"kind\":{\"const\":\"square\"},\"side\":{\"type\":\"number\"}},"
                 "\"required\":[\"kind\",\"side\"]}]}", OK("{\"kind\":\"circle\",\"r\":1}"),
                 OK("{\"kind\":\"square\",\"side\":2.5}"), NO("{\"kind\":\"circle\",\"side\":1}"));
    expect_schema_error("{\"oneOf\":[{\"type\":\"object\"},{\"type\":\"object\",\"properties\":"
                        "{\"a\":{\"type\":\"string\"}}}]}", "oneOf alternatives 0 and 1 may both match");
    CHECK_SCHEMA("{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]},"
                 "{\"properties\":{\"b\":{\"type\":\"integer\"}}}]}", OK("{\"a\":\"x\"}"),
                 OK("{\"a\":\"x\",\"b\":1}"), NO("{\"b\":1}"));
    CHECK_SCHEMA("{\"$defs\":{\"base\":{\"properties\":{\"id\":{\"type\":\"integer\"}},"
                 "\"required\":[\"id\"]}},\"allOf\":[{\"$ref\":\"#/$defs/base\"},{\"properties\":"
                 "{\"n\":{\"type\":\"null\"}},\"required\":[\"n\"]}]}", OK("{\"id\":1,\"n\":null}"),
                 NO("{\"id\":1}"));
    expect_schema_error("{\"allOf\":[{\"type\":\"string\"},{\"minLength\":2}]}", "allOf combines object schemas only");
    expect_schema_error("{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}},"
                        "\"additionalProperties\":false},{\"properties\":{\"b\":{}}}]}",
                        "does not declare 'b'");
    TEST_END();
}

static void test_refs(void) {
    TEST_BEGIN("json schema: $ref to $defs, definitions, JSON pointers, recursive schemas");
    CHECK_SCHEMA("{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},\"type\":\"array\","
                 "\"items\":{\"$ref\":\"#/$defs/pos\"}}", OK("[1,2]"), NO("[0]"));
    CHECK_SCHEMA("{\"definitions\":{\"s\":{\"type\":\"string\"}},\"properties\":{\"x\":"
                 "{\"$ref\":\"#/definitions/s\"},\"y\":{\"$ref\":\"#/properties/x\"}}}",
                 OK("{\"x\":\"a\",\"y\":\"b\"}"), NO("{\"y\":1}"));
    /* a linked list and a tree: recursion through $ref */
    CHECK_SCHEMA("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":"
                 "\"integer\"},\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":"
                 "\"null\"}]}},\"required\":[\"v\",\"next\"]}},\"$ref\":\"#/$defs/node\"}",
                 OK("{\"v\":1,\"next\":{\"v\":2,\"next\":null}}"), NO("{\"v\":1}"));
    CHECK_SCHEMA("{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":"
                 "{\"$ref\":\"#\"},\"maxItems\":2}}}", OK("{\"kids\":[{},{\"kids\":[]}]}"),
                 NO("{\"kids\":[1]}"));
    expect_schema_error("{\"$ref\":\"https://example.com/s.json\"}", "not a local reference");
    expect_schema_error("{\"$ref\":\"#/$defs/missing\"}", "names nothing in this document");
    expect_schema_error("{\"$ref\":\"#\"}", "can reach itself");
    TEST_END();
}

static void test_patterns(void) {
    TEST_BEGIN("json schema: pattern (ECMA-262 subset) in JSON strings");
    CHECK_SCHEMA("{\"type\":\"string\",\"pattern\":\"^[a-z]+\\\\d{2}$\"}", OK("\"abc12\""),
                 NO("\"abc1\""), NO("\"ABC12\""), NO("\"abc123\""));
    CHECK_SCHEMA("{\"pattern\":\"^(ab|cd)+-?$\"}", OK("\"abcdab\""), OK("\"ab-\""), NO("\"ac\""));
    /* unanchored: the text only has to contain a match */
    CHECK_SCHEMA("{\"type\":\"string\",\"pattern\":\"x[0-9]\"}", OK("\"x1\""),
                 OK("\"aa x7 bb\""), NO("\"xx\""));
    /* quotes, backslashes and newlines in the pattern become JSON escapes */
    CHECK_SCHEMA("{\"type\":\"string\",\"pattern\":\"^a\\\"b\\\\\\\\c\\\\n$\"}",
                 OK("\"a\\\"b\\\\c\\n\""), NO("\"a\\\"b\\\\c\""));
    CHECK_SCHEMA("{\"type\":\"string\",\"pattern\":\"^\\\\w+@\\\\w+\\\\.com$\"}",
                 OK("\"me@site.com\""), NO("\"me@site,com\""), NO("\"@site.com\""));
    CHECK_SCHEMA("{\"type\":\"string\",\"pattern\":\"^[^0-9]{1,3}$\"}", OK("\"a\\\"\""),
                 OK("\"\xc3\xa9\""), NO("\"a1\""), NO("\"abcd\""));
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"^(?=a)a$\"}", "lookaround");
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"^(a)\\\\1$\"}", "backreferences");
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"^a|b$\"}", "top-level '|'");
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"^(a*)*$\"}", "can be empty");
    TEST_END();
}

static void test_regex(void) {
    TEST_BEGIN("regex: what the pattern subset matches (JSON Schema semantics)");
    static const struct { const char *re, *s; int want; } cases[] = {
        {"^abc$", "abc", 1}, {"^abc$", "abcd", 0}, {"abc", "xxabcxx", 1}, {"^abc", "abcx", 1},
        {"abc$", "xabc", 1}, {"abc$", "abcx", 0}, {"^a.c$", "a\xc3\xa9" "c", 1},
        {"^a.c$", "a\nc", 0}, {"^[a-c]+$", "abcab", 1}, {"^[^a-c]+$", "xyz", 1},
        {"^[^a-c]+$", "xaz", 0}, {"^\\d\\D\\w\\W\\s\\S$", "1a_ \t!", 1},
        {"^\\d\\D$", "12", 0}, {"^\\W$", "_", 0},
        {"^\\d\\D\\w\\W\\s\\S$", "1aB- x", 1}, {"^[\\d.]+$", "3.14", 1},
        {"^a{2,3}$", "aaa", 1}, {"^a{2,3}$", "aaaa", 0}, {"^a{2}$", "aa", 1},
        {"^a{2,}$", "aaaaa", 1}, {"^(?:ab)+$", "abab", 1}, {"^(?<n>ab)?c$", "c", 1},
        {"^a+?b*?$", "aab", 1}, {"^\\x41\\u00e9$", "A\xc3\xa9", 1}, {"^\\.\\*\\+$", ".*+", 1},
        {"^a{,2}$", "a{,2}", 1}, {"^[\\]\\-]+$", "]-]", 1}, {"^$", "", 1}, {"^$", "a", 0},
        {"^(a|bc|)d$", "d", 1}, {"^(a|bc|)d$", "bcd", 1}, {"^(a|bc|)d$", "bd", 0},
        {"^[\\^x]+$", "^x^", 1}, {"^[\\^x]+$", "y", 0}, {"^[a^]$", "^", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[GEMMA_ERR_LEN] = "";
        int got = regex_match(cases[i].re, strlen(cases[i].re), cases[i].s, strlen(cases[i].s), err);
        EXPECT(got == cases[i].want, "/%s/ on \"%s\": %d, want %d %s", cases[i].re, cases[i].s,
               got, cases[i].want, err);
    }
    static const char *bad[] = {"(a", "a)", "[a", "a**", "\\b", "(?!a)", "\\1", "[[:alpha:]]",
                                "a{3,1}", "\\q", "^a$b", "*a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[GEMMA_ERR_LEN] = "";
        int got = regex_match(bad[i], strlen(bad[i]), "a", 1, err);
        EXPECT(got == -1 && strncmp(err, "pattern: ", 9) == 0, "/%s/ accepted (%d)", bad[i], got);
    }
    TEST_END();
}

static void test_unsupported(void) {
    TEST_BEGIN("json schema: an unsupported keyword is an error naming it and where it is");
    static const struct { const char *schema, *want; } cases[] = {
        {"{\"type\":\"array\",\"uniqueItems\":true}", "#: unsupported keyword 'uniqueItems'"},
        {"{\"properties\":{\"a\":{\"not\":{}}}}", "#/properties/a: unsupported keyword 'not'"},
        {"{\"if\":{},\"then\":{}}", "unsupported keyword 'if'"},
        {"{\"type\":\"number\",\"multipleOf\":2}", "unsupported keyword 'multipleOf'"},
        {"{\"patternProperties\":{}}", "unsupported keyword 'patternProperties'"},
        {"{\"type\":\"object\",\"minProperties\":1}", "unsupported keyword 'minProperties'"},
        {"{\"type\":\"array\",\"contains\":{}}", "unsupported keyword 'contains'"},
        {"{\"items\":{\"type\":\"string\",\"$anchor\":\"x\"}}", "#/items: unsupported keyword '$anchor'"},
        {"false", "the schema false matches nothing"},
        {"{\"type\":\"text\"}", "'type' must be"},
        {"{\"type\":\"string\",\"minLength\":-1}", "'minLength' must be a non-negative integer"},
        {"{\"type\":\"string\",\"format\":\"date\",\"maxLength\":3}", "'format' together with"},
        {"{\"anyOf\":[{}],\"type\":\"string\"}", "'type' beside 'anyOf' is not supported"},
        {"{\"$ref\":\"#/$defs/a\",\"minLength\":1,\"$defs\":{\"a\":{}}}", "'minLength' beside '$ref'"},
        {"[1", "json schema: json: line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_schema_error(cases[i].schema, cases[i].want);
    TEST_END();
}

static void test_gbnf_text(void) {
    TEST_BEGIN("json schema: the grammar text (what 'gemma grammar' prints) names its rules "
               "after the schema");
    const char *s = "{\"type\":\"object\",\"properties\":{\"first name\":{\"type\":\"string\"}},"
                    "\"required\":[\"first name\"]}";
    char err[GEMMA_ERR_LEN];
    char *g = json_schema_to_gbnf(s, strlen(s), err);
    EXPECT(g && strncmp(g, "root ::= \"{\" space root-first-name-kv \"}\" space\n", 48) == 0,
           "root rule: %s", g ? g : err);
    EXPECT(g && strstr(g, "root-first-name-kv ::= \"\\\"first name\\\"\" space \":\" space string\n"),
           "property rule: %s", g);
    EXPECT(g && strstr(g, "\nspace ::= "), "space rule");
    free(g);
    g = json_any_gbnf();
    EXPECT(g && strncmp(g, "root ::= value\n", 15) == 0, "any value: %s", g);
    free(g);
    TEST_END();
}

void suite_json_schema(void) {
    test_types();
    test_objects();
    test_enum_const();
    test_arrays();
    test_strings();
    test_integer_bounds();
    test_combinations();
    test_refs();
    test_patterns();
    test_regex();
    test_unsupported();
    test_gbnf_text();
    gmatch_vocab_free(walk_vocab);
    walk_vocab = NULL;
}
