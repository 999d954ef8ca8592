/* toolcall.h - Gemma 4 tool use (function calling) in its own markup (doc/chat.md#tool-calls,
 * the official chat template):
 *
 *   system turn   <|tool>declaration:get_weather{description:<|"|>...<|"|>,parameters:{
 *                 properties:{city:{description:<|"|>...<|"|>,type:<|"|>STRING<|"|>}},
 *                 required:[<|"|>city<|"|>],type:<|"|>OBJECT<|"|>}}<tool|>
 *   model         <|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3}<tool_call|>
 *                 then <|tool_response> (an end-of-generation token)
 *   caller        response:get_weather{temp:21,sky:<|"|>clear<|"|>}<tool_response|>
 *
 * The value syntax: strings between <|"|> tokens with nothing escaped, numbers as written,
 * true / false, null (the template writes Python's None; both are read), {key:value,...}
 * with bare keys (keys in <|"|> are read too) in sorted order, [a,b]. A string cannot hold
 * the text <|"|>; rendering such a string is an error.
 *
 * Tools come in the OpenAI format: [{"type":"function","function":{"name":...,
 * "description":...,"parameters":{JSON schema of an object}}}, ...]. */
#ifndef GEMMA_TOOLCALL_H
#define GEMMA_TOOLCALL_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"
#include "strbuf.h"

typedef struct {
    const char *name;                   /* points into the tool list's document */
    const json_value *function;         /* the "function" object */
    const json_value *parameters;       /* its JSON schema, NULL if none */
} tool_def;

typedef struct {
    json_value *doc;
    tool_def *tools;
    int n;
} tool_list;

/* Parse and check a tool list: the format, unique names of [A-Za-z0-9_.-], and that every
 * parameters schema converts to a grammar. NULL with "tools: ..." in err. */
tool_list *tools_parse(const char *json, size_t len, char *err);
void tools_free(tool_list *t);
const tool_def *tools_find(const tool_list *t, const char *name, size_t len);

/* <|tool>declaration:NAME{...}<tool|> for each tool (malloc'd), as the template writes them. */
char *tools_declarations(const tool_list *t, char *err);

/* GBNF for what the model may write: required: one or more calls, right away; otherwise any
 * tokens but <|tool_call>, then optionally calls. Each call is
 * <|tool_call>call:NAME{arguments}<tool_call|> with arguments matching the tool's
 * parameters schema. */
char *tools_grammar(const tool_list *t, bool required, char *err);

/* ---- the value syntax ---- */
/* JSON -> Gemma 4 text. escape_keys: keys between <|"|> (the template does it inside
 * declarations). Returns 0, or -1 with err. */
int gemma_value_write(strbuf *b, const json_value *v, bool escape_keys, char *err);
/* Gemma 4 text -> JSON: one value at s[0..n); *used = bytes read (NULL: the whole text must
 * be the value). NULL with "gemma value: at byte N: what" in err. */
json_value *gemma_value_read(const char *s, size_t n, size_t *used, char *err);

/* ---- calls and responses ---- */
/* Every <|tool_call>call:NAME{...}<tool_call|> in text, as a JSON array of
 * {"name":..., "arguments":{...}}. With t, each name must be a declared tool and its
 * arguments must satisfy its parameters schema. NULL with err naming the call. */
json_value *tool_calls_read(const tool_list *t, const char *text, size_t len, char *err);
/* <|tool_call>call:NAME{...}<tool_call|> for a call (to put one back in a history). */
char *tool_call_write(const char *name, const json_value *arguments, char *err);
/* The text that gives the model a tool's result: <|tool_response>response:NAME{key:value,...}
 * <tool_response|> for an object, response:NAME{value:...} otherwise (as the template writes
 * it). The model's own <|tool_response> ended its generation and is not in the context
 * (end-of-generation tokens are not fed back), so the text starts with it. */
char *tool_response_write(const char *name, const json_value *response, char *err);

#endif
