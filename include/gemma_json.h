/* gemma_json.h - the engine's JSON reader and string writer (src/json.c), public for the
 * programs built on the engine (the server reads OpenAI requests with it):
 *
 *   char err[GEMMA_ERR_LEN];
 *   gemma_json *doc = gemma_json_parse(body, len, err);       // NULL + "json: line 1, ..."
 *   const char *model = gemma_json_str(gemma_json_get(doc, "model"));
 *   for (size_t i = 0; i < gemma_json_len(msgs); i++) ... gemma_json_at(msgs, i) ...
 *   char *q = gemma_json_quote(text, n);                      // "\"...\"", malloc'd
 *   gemma_json_free(doc);
 *
 * Reading follows RFC 8259 (strings must be well-formed UTF-8; \u escapes decoded; nesting
 * deeper than 256 refused; duplicate keys: the last one wins). The accessors take NULL or a
 * value of another type and return NULL / 0 / NAN, so lookups chain without checks. */
#ifndef GEMMA_JSON_PUBLIC_H
#define GEMMA_JSON_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct json_value gemma_json;

typedef enum {
    GEMMA_JSON_NULL, GEMMA_JSON_BOOL, GEMMA_JSON_NUMBER, GEMMA_JSON_STRING, GEMMA_JSON_ARRAY,
    GEMMA_JSON_OBJECT
} gemma_json_type;

gemma_json *gemma_json_parse(const char *text, size_t len, char *err);
void gemma_json_free(gemma_json *v);

gemma_json_type gemma_json_typeof(const gemma_json *v);      /* GEMMA_JSON_NULL for NULL */
const char *gemma_json_type_name(gemma_json_type t);         /* "null", "boolean", ... */
const gemma_json *gemma_json_get(const gemma_json *obj, const char *key);
size_t gemma_json_len(const gemma_json *v);                  /* items of an array or object */
const gemma_json *gemma_json_at(const gemma_json *arr, size_t i);
const char *gemma_json_key_at(const gemma_json *obj, size_t i);
double gemma_json_num(const gemma_json *v);                  /* NAN if not a number */
bool gemma_json_bool(const gemma_json *v);                   /* false if not a boolean */
const char *gemma_json_str(const gemma_json *v);             /* NULL if not a string */
size_t gemma_json_str_len(const gemma_json *v);              /* bytes (a string may hold NUL) */

/* Compact JSON text of a value (malloc'd). */
char *gemma_json_to_string(const gemma_json *v);
/* s[0..len) as a JSON string literal with its quotes (malloc'd); ill-formed UTF-8 bytes
 * become U+FFFD, so the result is always valid JSON. */
char *gemma_json_quote(const char *s, size_t len);

#endif
