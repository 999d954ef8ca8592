/* json_schema.h - JSON Schema to GBNF (the grammar of the JSON texts a schema accepts), and a
 * validator for the same keywords.
 *
 * Keywords: type (one or a list), properties, required, additionalProperties, enum, const,
 * items, prefixItems (and draft-7 tuple items / additionalItems), minItems, maxItems,
 * minLength, maxLength, minimum, maximum, exclusiveMinimum, exclusiveMaximum (integers),
 * anyOf, oneOf, allOf (objects), $ref to $defs / definitions / any JSON pointer in the same
 * document, format (date, time, date-time, uuid), pattern (a regular expression subset:
 * literals and escapes, ., [classes], \d \w \s and their negations, groups, |, * + ? {m,n},
 * ^ and $ at the ends), nullable (OpenAPI). Annotations (title, description, default,
 * examples, $schema, $id, $comment, deprecated, readOnly, writeOnly) are ignored. Any other
 * keyword is an error naming it and where it is: the grammar is never silently looser than
 * the schema. Where a schema allows more than a grammar can say, the grammar is the stricter
 * side, and that is documented here:
 *   - object keys come in the declared order, each optional one present or not; without
 *     additionalProperties no other keys appear (JSON Schema's default allows any);
 *   - a \u escape of a surrogate half only as a pair (so every string decodes); keys beyond
 *     the declared ones use no escapes;
 *   - numbers have at most 16 integer and 16 fraction digits (as llama.cpp's grammars);
 *   - a tuple (prefixItems) is written in full unless maxItems cuts it; without items (or
 *     additionalItems) no items follow it;
 *   - oneOf is accepted when its alternatives cannot overlap (different types, or objects
 *     told apart by a required property's const/enum values), else it is an error;
 *   - enum and const values that fail the schema's other keywords are left out.
 *
 * Two output syntaxes: JSON, and the value syntax of Gemma 4's tool calls (call:NAME{k:v}):
 * bare keys in sorted order (as the chat template writes them), strings between <|"|>
 * tokens with nothing escaped (so a string never contains the text <|"|>), no spaces. */
#ifndef GEMMA_JSON_SCHEMA_H
#define GEMMA_JSON_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

typedef enum { SCHEMA_JSON, SCHEMA_GEMMA4 } schema_syntax;

typedef struct schema_conv schema_conv;

schema_conv *schema_conv_new(schema_syntax syntax);
void schema_conv_free(schema_conv *c);
/* Rules for the instances of schema, whose $refs resolve in doc (the document it belongs
 * to; NULL: schema itself). The top rule is called name (made a valid, unused rule name:
 * "root" stays "root" the first time). Returns the rule's name (owned by c), or NULL with
 * "json schema: <where>: <what>" in err. */
const char *schema_conv_add(schema_conv *c, const json_value *schema, const json_value *doc,
                            const char *name, char *err);
/* A rule of the caller's (name made unique as above); returns its name. */
const char *schema_conv_rule(schema_conv *c, const char *name, const char *body);
/* The GBNF text so far, "root" first, then in order of creation (malloc'd). */
char *schema_conv_text(const schema_conv *c);

/* Parse a schema (JSON text) and convert it; the start rule is "root". The result is parsed
 * as GBNF once before it is returned, so it is a valid grammar. NULL + err on failure. */
char *json_schema_to_gbnf(const char *schema, size_t len, char *err);
/* The grammar of any JSON value (the schema {}, ollama's --format json). */
char *json_any_gbnf(void);

/* Does instance satisfy schema (whose $refs resolve in doc, NULL: schema)? The same
 * keywords as the converter, checked as JSON Schema defines them (oneOf exactly one,
 * additionalProperties allowed unless said otherwise, ...). On false, why (GEMMA_ERR_LEN
 * bytes, may be NULL) says where and what; a schema the converter would reject also
 * gives false, with its error. */
bool json_schema_validate(const json_value *schema, const json_value *doc,
                          const json_value *instance, char *why);

/* A GBNF string literal for len bytes (quotes included; ", \ and control characters
 * escaped), appended to b. */
void gbnf_literal(strbuf *b, const char *s, size_t len);

#endif
