/* json.h - JSON values (RFC 8259): a reader into a small tree, builders and a writer. Used
 * for JSON schemas, tool lists and tool calls, and by the tests for the fixtures.
 *
 * Reading: strings are decoded to UTF-8 (\uXXXX escapes included, surrogate pairs combined;
 * a lone surrogate is an error, and so is text that is not well-formed UTF-8) and
 * NUL-terminated; json_str_len() gives the exact length when
 * a string holds \u0000. Numbers keep their text as written (json_num_text) beside the double,
 * so a number is written back exactly as it was read. json_parse_lenient() also reads the bare
 * words NaN, Infinity and -Infinity as numbers (Python's json module writes them). Duplicate
 * object keys: json_get() finds the last one (as Python does); the tree keeps them all, in
 * order. Nesting deeper than JSON_MAX_DEPTH is rejected.
 *
 * The accessors take NULL or a value of the wrong type and return NULL / 0 / NAN, so lookups
 * can be chained: json_num(json_at(json_get(doc, "ids"), 3)). */
#ifndef GEMMA_JSON_H
#define GEMMA_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define JSON_MAX_DEPTH 256

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;

/* Parse len bytes (need not be NUL-terminated). Returns NULL on malformed input with
 * "json: line L, column C: what" in err (GEMMA_ERR_LEN bytes, may be NULL). */
json_value *json_parse(const char *text, size_t len, char *err);
json_value *json_parse_lenient(const char *text, size_t len, char *err);
void json_free(json_value *v);

json_type json_typeof(const json_value *v);          /* JSON_NULL for NULL */
const char *json_type_name(json_type t);             /* "null", "boolean", "number", ... */
const json_value *json_get(const json_value *obj, const char *key);  /* NULL if absent */
size_t json_len(const json_value *v);                /* items of an array or object, else 0 */
const json_value *json_at(const json_value *arr, size_t i);          /* NULL if out of range */
const char *json_key_at(const json_value *obj, size_t i);            /* i-th key, NULL if none */
double json_num(const json_value *v);                /* NAN if not a number */
const char *json_num_text(const json_value *v);      /* the number as written, NULL if none */
bool json_bool(const json_value *v);                 /* false if not a boolean */
const char *json_str(const json_value *v);           /* NULL if not a string */
size_t json_str_len(const json_value *v);            /* bytes, 0 if not a string */

/* ---- building ---- */
json_value *json_new_null(void);
json_value *json_new_bool(bool b);
/* text: a number in JSON syntax (not checked here; json_is_number_text() checks). */
json_value *json_new_number_text(const char *text, size_t len);
json_value *json_new_number(double x);               /* written with %.17g, integers as such */
json_value *json_new_string(const char *s, size_t len);
json_value *json_new_array(void);
json_value *json_new_object(void);
/* Append (takes ownership of item). json_append on an object is an error (returns -1), as
 * is json_put on an array. */
int json_append(json_value *arr, json_value *item);
int json_put(json_value *obj, const char *key, size_t key_len, json_value *item);
/* A deep copy. */
json_value *json_copy(const json_value *v);
/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? exactly. */
bool json_is_number_text(const char *s, size_t len);

/* ---- writing ---- */
/* Compact JSON (no spaces). Strings are escaped as JSON requires ("\\", "\"", control
 * characters); invalid UTF-8 bytes in a string become U+FFFD. Non-finite numbers (from
 * json_parse_lenient) are written as null. */
void json_write(strbuf *b, const json_value *v);
void json_write_string(strbuf *b, const char *s, size_t len);
char *json_to_string(const json_value *v);           /* malloc'd compact text */

/* Same value as JSON means it: numbers by value, strings by bytes, arrays in order, objects
 * as key sets (order ignored; same keys, equal values). */
bool json_equal(const json_value *a, const json_value *b);

#endif
