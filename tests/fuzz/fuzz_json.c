/* fuzz_json.c - libFuzzer harness: arbitrary bytes through the JSON reader, the JSON Schema
 * converter and validator, the Gemma 4 value syntax and the tool list reader.
 *
 * Checked on every input:
 *   - json_parse and json_parse_lenient fail with "json: line L, column C: ..." or give a
 *     value; a strict value is also a lenient one;
 *   - a value written (json_write) reads back equal, and so does its Gemma 4 value text
 *     (when it can be written: no string holding <|"|>, bare keys without : , { } [ ] <);
 *   - a value taken as a JSON schema converts to GBNF that parses, or fails with
 *     "json schema: ..."; the validator runs on it with itself as the instance;
 *   - the input read as a Gemma 4 value and as a tool list fails cleanly or succeeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "json.h"
#include "json_schema.h"
#include "toolcall.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_json: %s: %s\n", what, detail);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    char err[GEMMA_ERR_LEN] = "";
    json_value *v = json_parse(text, size, err);
    if (!v && strncmp(err, "json: line ", 11) != 0) fail("strict reader message", err);
    json_value *lv = json_parse_lenient(text, size, err);
    if (v && !lv) fail("strict value refused by the lenient reader", err);
    if (v) {
        char *out = json_to_string(v);
        json_value *back = json_parse(out, strlen(out), err);
        if (!back || !json_equal(v, back)) fail("written JSON reads back different", out);
        json_free(back);
        free(out);
        strbuf g = {0};
        if (gemma_value_write(&g, v, false, err) == 0) {
            json_value *gb = gemma_value_read(g.p, g.n, NULL, err);
            if (!gb || !json_equal(v, gb)) fail("Gemma 4 value text reads back different", g.p);
            json_free(gb);
        }
        sb_free(&g);
        schema_conv *c = schema_conv_new(SCHEMA_JSON);
        if (schema_conv_add(c, v, v, "root", err)) {
            char *gbnf = schema_conv_text(c);
            grammar *gr = grammar_parse(gbnf, strlen(gbnf), NULL, err);
            /* only left recursion through $ref cycles may make an invalid grammar */
            if (!gr && !strstr(err, "can reach itself")) fail("schema grammar does not parse", err);
            grammar_free(gr);
            free(gbnf);
        } else if (strncmp(err, "json schema: ", 13) != 0) {
            fail("schema error message", err);
        }
        schema_conv_free(c);
        c = schema_conv_new(SCHEMA_GEMMA4);
        schema_conv_add(c, v, v, "args", err);
        schema_conv_free(c);
        json_schema_validate(v, v, v, err);
    }
    json_free(v);
    json_free(lv);
    json_value *gv = gemma_value_read(text, size, NULL, err);
    if (!gv && strncmp(err, "gemma value: ", 13) != 0) fail("value reader message", err);
    json_free(gv);
    tool_list *t = tools_parse(text, size, err);
    if (t) {
        char *decl = tools_declarations(t, err);
        char *gram = tools_grammar(t, false, err);
        free(decl);
        free(gram);
    } else if (strncmp(err, "tools: ", 7) != 0) {
        fail("tool list message", err);
    }
    tools_free(t);
    json_value *calls = tool_calls_read(NULL, text, size, err);
    json_free(calls);
    return 0;
}
