/* test_grammar.c - GBNF grammars (src/grammar.c) and the matcher (src/grammar_match.c):
 * what a grammar accepts, how a bad one is reported, tokens cut inside a character, the
 * whole-vocabulary check against token-by-token checks, and the sampler constrained by a
 * grammar (src/sampler.c). */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "grammar_match.h"
#include "sampler.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

enum { REJECT = -1, PREFIX = 0, WHOLE = 1 };

/* How far text gets in the grammar: WHOLE (a sentence), PREFIX, REJECT; -2 if the grammar
 * does not parse. */
static int match(const char *gbnf, const char *text) {
    char err[GEMMA_ERR_LEN] = "";
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    if (!g) {
        printf("    (grammar rejected: %s)\n", err);
        return -2;
    }
    gmatch *m = gmatch_new(g);
    int r = !gmatch_accept_text(m, text, strlen(text)) ? REJECT
          : gmatch_is_complete(m) ? WHOLE : PREFIX;
    gmatch_free(m);
    grammar_free(g);
    return r;
}

typedef struct { const char *text; int want; } sample;

static void expect_matches(const char *gbnf, const sample *s, int n) {
    for (int i = 0; i < n; i++) {
        int got = match(gbnf, s[i].text);
        EXPECT(got == s[i].want, "grammar %s\n      text \"%s\": got %d, want %d", gbnf, s[i].text,
               got, s[i].want);
    }
}
#define EXPECT_MATCHES(gbnf, ...)                                           \
    do {                                                                    \
        const sample s_[] = {__VA_ARGS__};                                  \
        expect_matches(gbnf, s_, (int)(sizeof s_ / sizeof s_[0]));          \
    } while (0)

/* The grammar must fail with a message containing want. */
static void expect_error(const char *gbnf, const char *want) {
    char err[GEMMA_ERR_LEN] = "";
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    EXPECT(g == NULL && strstr(err, want) != NULL, "grammar %s\n      error '%s', want '%s'",
           gbnf, g ? "(accepted)" : err, want);
    grammar_free(g);
}

/* ---------------------------------------------------------------------------------------
 * Syntax and what it matches
 * ------------------------------------------------------------------------------------- */

static void test_basics(void) {
    TEST_BEGIN("grammar: literals, sequences, alternatives, groups, rule references");
    EXPECT_MATCHES("root ::= \"ab\" (\"c\" | \"de\") tail\ntail ::= \"!\" | \"?\" \"?\"\n",
                   {"abc!", WHOLE}, {"abde??", WHOLE}, {"abde?", PREFIX}, {"ab", PREFIX},
                   {"", PREFIX}, {"abd!", REJECT}, {"abc!!", REJECT}, {"x", REJECT});
    /* an empty alternative, and a rule that is only empty */
    EXPECT_MATCHES("root ::= ws \"x\" ws\nws ::= | \" \" ws\n", {"x", WHOLE}, {"  x ", WHOLE},
                   {" ", PREFIX}, {"x\t", REJECT});
    EXPECT_MATCHES("root ::= \"\"", {"", WHOLE}, {"a", REJECT});
    /* right recursion is fine (balanced parentheses) */
    EXPECT_MATCHES("root ::= \"(\" root \")\" | \"\"", {"((()))", WHOLE}, {"((", PREFIX},
                   {"())", REJECT});
    TEST_END();
}

static void test_repetitions(void) {
    TEST_BEGIN("grammar: repetitions * + ? {m} {m,} {m,n} and on groups");
    EXPECT_MATCHES("root ::= \"a\"*", {"", WHOLE}, {"aaaa", WHOLE}, {"ab", REJECT});
    EXPECT_MATCHES("root ::= \"a\"+", {"", PREFIX}, {"a", WHOLE}, {"aaa", WHOLE});
    EXPECT_MATCHES("root ::= \"a\"? \"b\"", {"b", WHOLE}, {"ab", WHOLE}, {"aab", REJECT});
    EXPECT_MATCHES("root ::= [0-9]{3}", {"12", PREFIX}, {"123", WHOLE}, {"1234", REJECT});
    EXPECT_MATCHES("root ::= [0-9]{2,}", {"1", PREFIX}, {"12", WHOLE}, {"1234567", WHOLE});
    EXPECT_MATCHES("root ::= [0-9]{2,4} \".\"", {"1.", REJECT}, {"12.", WHOLE},
                   {"1234.", WHOLE}, {"12345", REJECT});
    EXPECT_MATCHES("root ::= [0-9]{0,2}", {"", WHOLE}, {"99", WHOLE}, {"999", REJECT});
    EXPECT_MATCHES("root ::= (\"ab\" | \"c\"){2} \"!\"", {"abc!", WHOLE}, {"cc!", WHOLE},
                   {"c!", REJECT}, {"ababab", REJECT});
    /* a string literal repeats whole; a repetition of a repetition applies to all of it */
    EXPECT_MATCHES("root ::= \"ab\"{2}", {"abab", WHOLE}, {"abb", REJECT});
    EXPECT_MATCHES("root ::= \"a\"{2}?", {"", WHOLE}, {"aa", WHOLE}, {"a", PREFIX});
    EXPECT_MATCHES("root ::= [a]{ 1 , 2 }", {"aa", WHOLE}, {"aaa", REJECT});
    /* stacked repetitions: one repetition where that is the same language (a fuzzed
     * "[2-9]{1,16}" with 23 '+' after it took minutes when each nested the one before) */
    EXPECT_MATCHES("root ::= \"a\"+++ \"!\"", {"!", REJECT}, {"a!", WHOLE},
                   {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", WHOLE}, {"aab", REJECT});
    EXPECT_MATCHES("root ::= [0-9]{1,2}+*", {"", WHOLE}, {"12345", WHOLE}, {"1x", REJECT});
    EXPECT_MATCHES("root ::= \"a\"?{2}", {"", WHOLE}, {"aa", WHOLE}, {"aaa", REJECT});
    EXPECT_MATCHES("root ::= \"a\"{1,2}{2}", {"a", PREFIX}, {"aa", WHOLE}, {"aaaa", WHOLE},
                   {"aaaaa", REJECT});
    EXPECT_MATCHES("root ::= \"a\"{2}{2,3}", {"aaa", PREFIX}, {"aaaa", WHOLE}, {"aaaaa", PREFIX},
                   {"aaaaaa", WHOLE}, {"aaaaaaa", REJECT});
    EXPECT_MATCHES("root ::= \"a\"{0}+ \"b\"", {"b", WHOLE}, {"ab", REJECT});
    EXPECT_MATCHES("root ::= \"\"+* \"b\"", {"b", WHOLE}, {"ab", REJECT});
    /* an outer {0,0} (fuzzed: a division by zero), also of an unbounded inner repetition */
    EXPECT_MATCHES("root ::= (\"- \" \"x\"){0,3}{0,0} \"b\"", {"b", WHOLE}, {"- xb", REJECT});
    EXPECT_MATCHES("root ::= \"a\"+{0,0} \"b\"", {"b", WHOLE}, {"ab", REJECT});
    TEST_END();
}

static void test_classes(void) {
    TEST_BEGIN("grammar: character classes: ranges, negation, escapes, any character");
    EXPECT_MATCHES("root ::= [a-cx-z_]+", {"abzy_", WHOLE}, {"abd", REJECT});
    EXPECT_MATCHES("root ::= [^\"\\\\\\n]*", {"plain text", WHOLE}, {"a\"", REJECT},
                   {"a\\", REJECT}, {"a\n", REJECT});
    /* escaped ] - [ inside a class, and a '-' at the end is literal */
    EXPECT_MATCHES("root ::= [\\]\\-\\[a-]+", {"]-[a-", WHOLE}, {"b", REJECT});
    EXPECT_MATCHES("root ::= . . \"!\"", {"ab!", WHOLE}, {"\xc3\xa9\xe2\x82\xac!", WHOLE},
                   {"a!", PREFIX});
    EXPECT_MATCHES("root ::= [^a-z]", {"A", WHOLE}, {"q", REJECT}, {"\xf0\x9f\x98\x80", WHOLE});
    EXPECT_MATCHES("root ::= \"\\t\\r\\n\\\\\\\"\\[\\]\\-\"", {"\t\r\n\\\"[]-", WHOLE});
    TEST_END();
}

static void test_utf8(void) {
    TEST_BEGIN("grammar: UTF-8 text and ranges, \\x \\u \\U escapes, invalid UTF-8 rejected");
    /* hiragana written as UTF-8 in the grammar, and the same range as \u escapes */
    const char *hira[] = {"root ::= [\xe3\x81\x81-\xe3\x82\x9f]+", "root ::= [\\u3041-\\u309F]+"};
    for (int i = 0; i < 2; i++)
        EXPECT_MATCHES(hira[i], {"\xe3\x81\xb2\xe3\x82\x89\xe3\x81\x8c\xe3\x81\xaa", WHOLE},
                       {"\xe3\x81\xb2\xe3\x82\xab", REJECT}, {"a", REJECT});
    /* 4-byte characters: an emoji range by \U, a single one by \U and as text */
    EXPECT_MATCHES("root ::= [\\U0001F600-\\U0001F64F]", {"\xf0\x9f\x98\x80", WHOLE},
                   {"\xf0\x9f\x99\x8f", WHOLE}, {"\xf0\x9f\x99\x90", REJECT});
    EXPECT_MATCHES("root ::= \"\\U0001F600\" \"\xf0\x9f\x98\x81\"",
                   {"\xf0\x9f\x98\x80\xf0\x9f\x98\x81", WHOLE});
    EXPECT_MATCHES("root ::= \"\\x41\\u00e9\"", {"A\xc3\xa9", WHOLE}, {"Ae", REJECT});
    /* a character cut short is a prefix; ill-formed bytes are rejected */
    EXPECT_MATCHES("root ::= \"\\u00e9\"", {"\xc3", PREFIX}, {"\xc3\xa9", WHOLE});
    EXPECT_MATCHES("root ::= .*", {"\xff", REJECT}, {"\xc3\x28", REJECT}, {"\xc0\x80", REJECT},
                   {"\xed\xa0\x80", REJECT}, {"\xf4\x90\x80\x80", REJECT});
    /* a cut character whose possible completions cannot match is rejected early */
    EXPECT_MATCHES("root ::= [a-z\\u00e0-\\u00ff]", {"\xc3", PREFIX}, {"\xe3", REJECT});
    expect_error("root ::= \"\xff\"", "invalid UTF-8");
    TEST_END();
}

static void test_layout(void) {
    TEST_BEGIN("grammar: comments, rules over several lines, newlines inside groups and after |");
    const char *g =
        "# a comment line\n"
        "root ::= (   # open a group\n"
        "    \"a\"\n"
        "    | \"b\"   # inside\n"
        ") rest |\n"
        "  \"c\"\n"
        "\n"
        "rest::=\"!\"# no spaces needed\r\n";
    EXPECT_MATCHES(g, {"a!", WHOLE}, {"b!", WHOLE}, {"c", WHOLE}, {"c!", REJECT});
    TEST_END();
}

static void test_errors(void) {
    TEST_BEGIN("grammar: errors say what and where (line, column)");
    expect_error("root ::= \"a\"\nx ::= \"b\" )", "line 2, column 11: unexpected ')'");
    expect_error("root ::= \"a\"\n\nfoo bar", "line 3, column 5: expected '::=' after the rule name 'foo'");
    expect_error("root ::= \"abc", "line 1, column 10: unterminated string literal");
    expect_error("root ::= [a-", "unterminated character class");
    expect_error("root ::= [z-a]", "line 1, column 11: empty range");
    expect_error("root ::= (\"a\" | \"b\"", "expected ')' for the '(' on line 1, column 10");
    expect_error("root ::= \"a\" |\nnext ::= \"b\"", "line 2, column 6: unexpected '::='");
    expect_error("root ::= * \"a\"", "line 1, column 10: '*' has nothing before it to repeat");
    expect_error("root ::= \"a\"{3,1}", "the maximum is below the minimum");
    expect_error("root ::= \"a\"{x}", "expected a number");
    expect_error("root ::= \"a\"{2", "a repetition is written {m}, {m,} or {m,n}");
    expect_error("root ::= \"\\q\"", "line 1, column 11: unknown escape");
    expect_error("root ::= \"\\x4\"", "'\\x' needs 2 hex digits");
    expect_error("root ::= \"\\U00110000\"", "beyond U+10FFFF");
    expect_error("root ::= <[12x]>", "a token id is written <[123]>");
    expect_error("root ::= !\"a\"", "'!' must be followed by a token");
    expect_error("::= \"a\"", "line 1, column 1: expected a rule name");
    TEST_END();
}

static void test_rule_checks(void) {
    TEST_BEGIN("grammar: undefined and twice-defined rules, the start rule");
    expect_error("root ::= item+\nitme ::= \"x\"\n", "line 1, column 10: undefined rule 'item'");
    expect_error("root ::= a\na ::= \"x\"\na ::= \"y\"\n", "line 3, column 1: rule 'a' is already defined on line 2");
    expect_error("start ::= \"x\"", "no rule named 'root'");
    char err[GEMMA_ERR_LEN] = "";
    grammar *g = grammar_parse("start ::= \"x\"", 13, "start", err);
    EXPECT(g != NULL, "custom start rule: %s", err);
    grammar_free(g);
    /* rule names: letters, digits, '-' and '_' */
    EXPECT_MATCHES("root ::= my-rule_2\nmy-rule_2 ::= \"ok\"", {"ok", WHOLE});
    TEST_END();
}

static void test_left_recursion(void) {
    TEST_BEGIN("grammar: left recursion is rejected naming the rule");
    expect_error("root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]",
                 "rule 'expr' can reach itself without consuming any input (expr -> expr)");
    expect_error("root ::= a\na ::= b \"x\"\nb ::= a | \"y\"", "(a -> b -> a)");
    /* through something that can be empty */
    expect_error("root ::= a\na ::= ws a \"x\" | \"y\"\nws ::= \" \"?", "rule 'a'");
    /* a repetition of something that can be empty would loop the same way */
    expect_error("root ::= (\"a\"?)*", "a repetition of something that can be empty");
    expect_error("root ::= x+\nx ::= \"a\"*", "rule 'root' can reach itself");
    /* recursion after a character is fine */
    EXPECT_MATCHES("root ::= expr\nexpr ::= term (\"+\" expr)?\nterm ::= [0-9] | \"(\" expr \")\"",
                   {"1+(2+3)", WHOLE}, {"1+", PREFIX}, {"+1", REJECT});
    TEST_END();
}

static void test_limits(void) {
    TEST_BEGIN("grammar: huge repetitions and sizes are errors, not hangs");
    expect_error("root ::= \"a\"{100001}", "repetition count above the limit");
    expect_error("root ::= \"abcdefghij\"{100000} \"abcdefghij\"{100000} \"abcdefghij\"{100000} "
                 "\"abcdefghij\"{100000} \"abcdefghij\"{100000}", "the grammar is too large");
    /* large but allowed: a bounded repetition of 5000 */
    char text[64];
    snprintf(text, sizeof text, "root ::= [a-z]{0,5000}");
    char *s = malloc(5002);
    memset(s, 'q', 5001);
    s[5000] = 0;
    EXPECT(match(text, s) == WHOLE, "5000 letters");
    s[5001] = 0;
    s[5000] = 'q';
    EXPECT(match(text, s) == REJECT, "5001 letters");
    free(s);
    TEST_END();
}

static void test_state(void) {
    TEST_BEGIN("grammar: matcher state: complete, done, a rejected text changes nothing");
    char err[GEMMA_ERR_LEN];
    const char *gbnf = "root ::= \"ab\" \"c\"?";
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    gmatch *m = gmatch_new(g);
    EXPECT(!gmatch_is_complete(m) && !gmatch_is_done(m), "start");
    EXPECT(gmatch_accept_text(m, "a", 1), "a");
    EXPECT(!gmatch_accept_text(m, "x", 1), "x after a");
    EXPECT(gmatch_allows_text(m, "b", 1) && !gmatch_allows_text(m, "bb", 2), "allows");
    EXPECT(gmatch_accept_text(m, "b", 1), "b after a rejected x");
    EXPECT(gmatch_is_complete(m) && !gmatch_is_done(m), "ab: complete, c may follow");
    EXPECT(gmatch_accept_text(m, "c", 1) && gmatch_is_done(m), "abc: done");
    EXPECT(!gmatch_allows_text(m, "c", 1), "nothing after done");
    gmatch_reset(m);
    EXPECT(gmatch_accept_text(m, "abc", 3) && gmatch_is_done(m), "after reset");
    gmatch_free(m);
    grammar_free(g);
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------------------------- */

/* A vocabulary from a NULL-terminated list of pieces; eog: its indexes (-1 ends). */
typedef struct {
    gmatch_vocab *v;
    int n;
} test_vocab;

static test_vocab make_vocab(const char *const *pieces, int n, const int *eog) {
    uint32_t *lens = malloc((size_t)n * sizeof *lens);
    bool *is_eog = calloc((size_t)n, 1);
    for (int i = 0; i < n; i++) lens[i] = (uint32_t)strlen(pieces[i]);
    for (int i = 0; eog && eog[i] >= 0; i++) is_eog[eog[i]] = true;
    test_vocab tv = {gmatch_vocab_new(n, pieces, lens, is_eog), n};
    free(lens);
    free(is_eog);
    return tv;
}

static int32_t find_piece(void *ctx, const char *text, size_t len) {
    const char *const *pieces = ctx;
    for (int i = 0; pieces[i]; i++)
        if (strlen(pieces[i]) == len && memcmp(pieces[i], text, len) == 0) return i;
    return -1;
}

/* allowed_tokens must agree with allows_token for every token. */
static void check_allowed_set(gmatch *m, const gmatch_vocab *v, int n, const char *where) {
    uint8_t *allowed = malloc((size_t)n);
    int count = gmatch_allowed_tokens(m, v, allowed), mismatches = 0, k = 0;
    for (int i = 0; i < n; i++) {
        bool one = gmatch_allows_token(m, v, i);
        k += allowed[i];
        if (one != (allowed[i] != 0) && mismatches++ < 3)
            EXPECT(false, "%s: token %d: whole-vocabulary check %d, one by one %d", where, i,
                   allowed[i], one);
    }
    EXPECT(count == k, "%s: count %d, flags %d", where, count, k);
    free(allowed);
}

static void test_cut_characters(void) {
    TEST_BEGIN("grammar: a character split over byte tokens is held until it completes");
    /* 0: "\xc3" 1: "\xa9" 2: "a" 3: "\xc3\xa9" 4: "\xe2" 5: "\x82\xac" 6: eos */
    const char *pieces[] = {"\xc3", "\xa9", "a", "\xc3\xa9", "\xe2", "\x82\xac", "", NULL};
    const int eog[] = {6, -1};
    test_vocab tv = make_vocab(pieces, 7, eog);
    char err[GEMMA_ERR_LEN];
    const char *gbnf = "root ::= [\\u00e9\\u20ac]+";          /* é and € */
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    gmatch *m = gmatch_new(g);
    EXPECT(gmatch_allows_token(m, tv.v, 0) && gmatch_allows_token(m, tv.v, 3) &&
           gmatch_allows_token(m, tv.v, 4), "lead bytes and whole characters allowed");
    EXPECT(!gmatch_allows_token(m, tv.v, 1) && !gmatch_allows_token(m, tv.v, 2) &&
           !gmatch_allows_token(m, tv.v, 6), "continuation byte, 'a', eos not allowed at start");
    check_allowed_set(m, tv.v, tv.n, "start");
    EXPECT(gmatch_accept_token(m, tv.v, 0), "accept \\xc3");
    EXPECT(!gmatch_is_complete(m), "half a character is not complete");
    EXPECT(gmatch_allows_token(m, tv.v, 1) && !gmatch_allows_token(m, tv.v, 5) &&
           !gmatch_allows_token(m, tv.v, 2) && !gmatch_allows_token(m, tv.v, 0),
           "after \\xc3 only \\xa9");
    check_allowed_set(m, tv.v, tv.n, "after \\xc3");
    EXPECT(gmatch_accept_token(m, tv.v, 1) && gmatch_is_complete(m), "é complete");
    EXPECT(gmatch_allows_token(m, tv.v, 6), "eos where complete");
    EXPECT(gmatch_accept_token(m, tv.v, 4) && gmatch_accept_token(m, tv.v, 5), "€ in two tokens");
    EXPECT(gmatch_accept_token(m, tv.v, 6), "eos accepted");
    gmatch_free(m);
    grammar_free(g);
    /* \xc3 could only start é..., a grammar of ASCII refuses it at once */
    gbnf = "root ::= [a-z]+";
    g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    m = gmatch_new(g);
    EXPECT(!gmatch_allows_token(m, tv.v, 0) && gmatch_allows_token(m, tv.v, 2), "ASCII only");
    gmatch_free(m);
    grammar_free(g);
    gmatch_vocab_free(tv.v);
    TEST_END();
}

/* A lead byte and a continuation that can only become a surrogate (U+D800-U+DFFF), which no
 * UTF-8 text holds: refused at once, not left as a dead end where no byte may follow (a
 * random-weight model found it: 0xED 0xBE inside a [^<] string of a tool call). */
static void test_cut_surrogates(void) {
    TEST_BEGIN("grammar: bytes that could only end in a surrogate are refused");
    /* 0: "\xed" 1: "\x9f" 2: "\xbe" 3: "\x80" 4: "a" 5: eos */
    const char *pieces[] = {"\xed", "\x9f", "\xbe", "\x80", "a", "", NULL};
    const int eog[] = {5, -1};
    test_vocab tv = make_vocab(pieces, 6, eog);
    char err[GEMMA_ERR_LEN];
    const char *gbnf = "root ::= [^<]+";
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    gmatch *m = gmatch_new(g);
    EXPECT(gmatch_allows_token(m, tv.v, 0), "\xed may start U+D000-U+D7FF");
    EXPECT(gmatch_accept_token(m, tv.v, 0), "accept \xed");
    EXPECT(gmatch_allows_token(m, tv.v, 1), "\xed \x9f: U+D7C0-U+D7FF");
    EXPECT(!gmatch_allows_token(m, tv.v, 2), "\xed \xbe: only surrogates");
    check_allowed_set(m, tv.v, tv.n, "after \xed");
    EXPECT(gmatch_accept_token(m, tv.v, 1) && gmatch_accept_token(m, tv.v, 3), "U+D7C0");
    EXPECT(gmatch_is_complete(m), "U+D7C0 complete");
    gmatch_free(m);
    grammar_free(g);
    /* a class of surrogates alone: no byte can start one of its characters */
    gbnf = "root ::= \"a\" [\\uD800-\\uDFFF]";
    g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    EXPECT(g != NULL, "%s", err);
    m = gmatch_new(g);
    EXPECT(gmatch_accept_token(m, tv.v, 4), "a");
    EXPECT(!gmatch_allows_token(m, tv.v, 0), "\xed refused: it could only be a surrogate here");
    check_allowed_set(m, tv.v, tv.n, "surrogate class");
    gmatch_free(m);
    grammar_free(g);
    gmatch_vocab_free(tv.v);
    TEST_END();
}

static void test_token_elements(void) {
    TEST_BEGIN("grammar: token elements <text>, <[id]>, !<...>; end-of-generation tokens");
    /* 0 <call> (prints its text) 1 <end> 2 "x" 3 "y" 4 <think> (prints nothing) 5 eos */
    const char *pieces[] = {"<call>", "<end>", "x", "y", "", "", NULL};
    const int eog[] = {5, -1};
    test_vocab tv = make_vocab(pieces, 6, eog);
    char err[GEMMA_ERR_LEN];
    const char *gbnf = "root ::= !<call>* <call> body <[1]>\nbody ::= \"x\"+";
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    EXPECT(g && grammar_resolve_tokens(g, find_piece, (void *)pieces, 6, err) == 0, "%s", err);
    gmatch *m = gmatch_new(g);
    EXPECT(gmatch_allows_token(m, tv.v, 3) && gmatch_allows_token(m, tv.v, 4) &&
           gmatch_allows_token(m, tv.v, 0), "free tokens and <call> at the start");
    check_allowed_set(m, tv.v, tv.n, "free text");
    EXPECT(gmatch_accept_token(m, tv.v, 3) && gmatch_accept_token(m, tv.v, 4), "free tokens");
    EXPECT(gmatch_accept_token(m, tv.v, 0), "<call>");
    EXPECT(!gmatch_allows_token(m, tv.v, 1) && !gmatch_allows_token(m, tv.v, 5) &&
           gmatch_allows_token(m, tv.v, 2), "body needs an x first");
    check_allowed_set(m, tv.v, tv.n, "body");
    EXPECT(gmatch_accept_token(m, tv.v, 2) && gmatch_allows_token(m, tv.v, 1), "<[1]> after x");
    /* the text "<end>" spelled by characters is not the token */
    EXPECT(gmatch_accept_token(m, tv.v, 1) && gmatch_is_done(m), "done after <end>");
    EXPECT(gmatch_allows_token(m, tv.v, 5) && !gmatch_allows_token(m, tv.v, 2), "only eos now");
    check_allowed_set(m, tv.v, tv.n, "done");
    gmatch_free(m);
    grammar_free(g);
    /* resolution errors name the token */
    gbnf = "root ::= <nope>";
    g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    EXPECT(grammar_resolve_tokens(g, find_piece, (void *)pieces, 6, err) != 0 &&
           strstr(err, "line 1, column 10: <nope> is not a token"), "%s", err);
    grammar_free(g);
    gbnf = "root ::= <[6]>";
    g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    EXPECT(grammar_resolve_tokens(g, find_piece, (void *)pieces, 6, err) != 0 &&
           strstr(err, "token id 6 is outside the vocabulary"), "%s", err);
    grammar_free(g);
    gmatch_vocab_free(tv.v);
    TEST_END();
}

static void test_budget(void) {
    TEST_BEGIN("grammar: with a token budget the output is complete when the budget runs out");
    /* 0-25 letters, 26 "!", 27 "\xc3" 28 "\xa9" (é in two tokens), 29 "ab", 30 eos */
    const char *pieces[32];
    static char letters[26][2];
    for (int i = 0; i < 26; i++) {
        letters[i][0] = (char)('a' + i);
        pieces[i] = letters[i];
    }
    pieces[26] = "!";
    pieces[27] = "\xc3";
    pieces[28] = "\xa9";
    pieces[29] = "ab";
    pieces[30] = "";
    pieces[31] = NULL;
    const int eog[] = {30, -1};
    test_vocab tv = make_vocab(pieces, 31, eog);
    char err[GEMMA_ERR_LEN];
    const char *gbnf = "root ::= [a-z]* \"\u00e9\" \"!\"";
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    gmatch *m = gmatch_new(g);
    EXPECT(gmatch_distance(m) == 3, "é is 2 bytes, ! one: %lld", (long long)gmatch_distance(m));
    gmatch_set_budget(m, 5);
    check_allowed_set(m, tv.v, tv.n, "budget 5");
    EXPECT(gmatch_allows_token(m, tv.v, 0) && gmatch_allows_token(m, tv.v, 29), "letters: 5 left");
    EXPECT(gmatch_accept_token(m, tv.v, 0) && gmatch_accept_token(m, tv.v, 29), "a, ab");
    /* 3 tokens left, 3 needed: only the way to the end */
    EXPECT(!gmatch_allows_token(m, tv.v, 1) && gmatch_allows_token(m, tv.v, 27), "3 left");
    check_allowed_set(m, tv.v, tv.n, "budget 3");
    EXPECT(gmatch_accept_token(m, tv.v, 27) && gmatch_distance(m) == 2, "half of é");
    EXPECT(gmatch_accept_token(m, tv.v, 28) && gmatch_accept_token(m, tv.v, 26) &&
           gmatch_is_done(m) && gmatch_budget(m) == 0, "done at the budget");
    /* a budget too small for any sentence restricts nothing */
    gmatch_reset(m);
    gmatch_set_budget(m, 2);
    EXPECT(gmatch_allows_token(m, tv.v, 3), "infeasible budget: letters still allowed");
    gmatch_free(m);
    grammar_free(g);
    /* no completion at all */
    gbnf = "root ::= \"a\" root";
    g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    m = gmatch_new(g);
    EXPECT(gmatch_distance(m) == -1, "endless grammar: %lld", (long long)gmatch_distance(m));
    gmatch_free(m);
    grammar_free(g);
    gmatch_vocab_free(tv.v);
    TEST_END();
}

/* A random vocabulary: ASCII words, accented and CJK text, 4-byte characters, byte pieces
 * (some lone lead or continuation bytes), an empty piece, an end-of-generation token. */
static const char *const random_units[] = {
    "a", "b", "{", "}", "\"", ":", ",", " ", "\n", "1", "0", "-", ".", "e", "t", "r", "u",
    "n", "l", "f", "\\", "[", "]", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe3\x81\x82",
};

static char **random_pieces(sampler_rng *r, int n) {
    char **p = malloc((size_t)(n + 1) * sizeof *p);
    for (int i = 0; i < n; i++) {
        char buf[64] = "";
        int kind = (int)((uint32_t)rng_next(r) % 10);
        if (i < 256 && kind < 2) {                         /* a single byte */
            buf[0] = (char)(0x80 + (uint32_t)rng_next(r) % 0x60);
            buf[1] = 0;
        } else {
            int len = 1 + (int)((uint32_t)rng_next(r) % 5);
            for (int k = 0; k < len; k++)
                strcat(buf, random_units[(uint32_t)rng_next(r) % (sizeof random_units / sizeof *random_units)]);
        }
        p[i] = strdup(buf);
    }
    p[n] = NULL;
    return p;
}

/* Random walks through a grammar over a random vocabulary: at each step the whole-vocabulary
 * check must equal the token-by-token one; then a random allowed token is taken. */
static void test_allowed_equals_one_by_one(void) {
    TEST_BEGIN("grammar: the whole-vocabulary check equals checking token by token");
    const char *grammars[] = {
        "root ::= \"{\" ws (pair (\",\" ws pair)*)? \"}\"\npair ::= str \":\" ws val\n"
        "str ::= \"\\\"\" [^\"\\\\]* \"\\\"\"\nval ::= str | [0-9]+ | \"true\" | root\nws ::= [ \\n]*",
        "root ::= ([a-z] | [\\u00e0-\\u00ff] | \"\\u20ac\")+ (\" \" root)?",
        "root ::= [^{}]* \"}\" [\\U0001F600]?",
    };
    sampler_rng r;
    rng_seed(&r, 7);
    const int n = 3000;
    char **pieces = random_pieces(&r, n);
    pieces[n - 1][0] = 0;                                   /* an end-of-generation token */
    pieces[n - 2][0] = 0;                                   /* a token that prints nothing */
    const int eog[] = {n - 1, -1};
    test_vocab tv = make_vocab((const char *const *)pieces, n, eog);
    for (size_t gi = 0; gi < sizeof grammars / sizeof *grammars; gi++) {
        char err[GEMMA_ERR_LEN];
        grammar *g = grammar_parse(grammars[gi], strlen(grammars[gi]), NULL, err);
        EXPECT(g != NULL, "grammar %zu: %s", gi, err);
        if (!g) continue;
        gmatch *m = gmatch_new(g);
        gmatch_set_budget(m, 8 + 6 * (int)gi);               /* a budget that bites */
        uint8_t *allowed = malloc((size_t)n);
        for (int step = 0; step < 25; step++) {
            char where[64];
            snprintf(where, sizeof where, "grammar %zu step %d", gi, step);
            check_allowed_set(m, tv.v, n, where);
            int count = gmatch_allowed_tokens(m, tv.v, allowed);
            if (count == 0) break;
            int pick = (int)((uint32_t)rng_next(&r) % (uint32_t)count), id = 0;
            for (int i = 0; i < n; i++)
                if (allowed[i] && pick-- == 0) id = i;
            if (id == n - 1) break;                          /* end of generation */
            EXPECT(gmatch_accept_token(m, tv.v, id), "%s: allowed token %d refused", where, id);
        }
        free(allowed);
        gmatch_free(m);
        grammar_free(g);
    }
    gmatch_vocab_free(tv.v);
    for (int i = 0; i < n; i++) free(pieces[i]);
    free(pieces);
    TEST_END();
}

/* ---------------------------------------------------------------------------------------
 * The sampler with a grammar
 * ------------------------------------------------------------------------------------- */

static void test_sampler(void) {
    TEST_BEGIN("sampler: a grammar keeps the best allowed candidate; the whole vocabulary "
               "only when none of the chain's fits");
    enum { N = 200 };
    const char *pieces[N + 1];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%c%d", i < 100 ? 'a' : 'b', i);
        pieces[i] = names[i];
    }
    pieces[N - 1] = "";                                      /* eos */
    pieces[N] = NULL;
    const int eog[] = {N - 1, -1};
    test_vocab tv = make_vocab(pieces, N, eog);
    char err[GEMMA_ERR_LEN];
    const char *gbnf = "root ::= \"b\" [0-9]+";
    grammar *g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    gmatch *m = gmatch_new(g);
    float logits[N];
    for (int i = 0; i < N; i++) logits[i] = (float)(N - i) * 0.1f;   /* a-tokens best */
    sampler_params p;
    sampler_params_default(&p);
    p.temp = 0;
    p.seed = 1;
    sampler *s = sampler_new(&p, N, err);
    sampler_set_grammar(s, m, tv.v);
    /* greedy: the best token "a0" is not allowed; the best b-token is b100 */
    EXPECT(sampler_sample(s, logits) == 100, "greedy picks the best allowed token");
    sampler_stats st;
    sampler_get_stats(s, &st);
    EXPECT(st.n_grammar_fallbacks == 1, "100 disallowed tokens above it: a fallback (%llu)",
           (unsigned long long)st.n_grammar_fallbacks);
    /* a suppressed token is not chosen for the grammar's sake while others are allowed */
    const int32_t suppressed[] = {100};
    sampler_set_suppress(s, suppressed, 1);
    EXPECT(sampler_sample(s, logits) == 101, "suppressed b100 skipped");
    sampler_set_suppress(s, NULL, 0);
    sampler_get_stats(s, &st);
    const uint64_t fallbacks_before = st.n_grammar_fallbacks;
    /* with b-tokens on top, no fallback */
    logits[150] = 100;
    EXPECT(sampler_sample(s, logits) == 150, "best token allowed");
    sampler_get_stats(s, &st);
    EXPECT(st.n_grammar_fallbacks == fallbacks_before && st.n_samples == 3, "no new fallback");
    sampler_free(s);
    /* with temperature: never a disallowed token, all allowed ones reachable */
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    s = sampler_new(&p, N, err);
    sampler_set_grammar(s, m, tv.v);
    for (int i = 0; i < N; i++) logits[i] = 0;
    int seen_b = 0, bad = 0;
    bool hit[N] = {false};
    for (int t = 0; t < 2000; t++) {
        int32_t id = sampler_sample(s, logits);
        if (id < 100 || id == N - 1) bad++;
        else if (!hit[id]) { hit[id] = true; seen_b++; }
    }
    EXPECT(bad == 0 && seen_b == 99, "%d disallowed draws, %d of 99 allowed tokens seen", bad,
           seen_b);
    /* after "b1" the grammar is complete: eos and digits */
    EXPECT(gmatch_accept_token(m, tv.v, 101), "b1");
    logits[N - 1] = 50;
    EXPECT(sampler_sample(s, logits) == N - 1, "eos where complete");
    sampler_free(s);
    gmatch_free(m);
    grammar_free(g);
    /* a grammar nothing in the vocabulary can continue */
    gbnf = "root ::= \"z\"";
    g = grammar_parse(gbnf, strlen(gbnf), NULL, err);
    m = gmatch_new(g);
    s = sampler_new(&p, N, err);
    sampler_set_grammar(s, m, tv.v);
    EXPECT(sampler_sample(s, logits) == SAMPLER_NO_TOKEN, "no token possible");
    sampler_free(s);
    gmatch_free(m);
    grammar_free(g);
    gmatch_vocab_free(tv.v);
    TEST_END();
}

void suite_grammar(void) {
    test_basics();
    test_repetitions();
    test_classes();
    test_utf8();
    test_layout();
    test_errors();
    test_rule_checks();
    test_left_recursion();
    test_limits();
    test_state();
    test_cut_characters();
    test_cut_surrogates();
    test_token_elements();
    test_budget();
    test_allowed_equals_one_by_one();
    test_sampler();
}
