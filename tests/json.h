/* json.h - a small JSON reader for the test fixtures (RFC 8259, into a tree).
 *
 * Strings are decoded to UTF-8 (\uXXXX escapes included, surrogate pairs combined; a lone
 * surrogate is an error) and NUL-terminated; json_str_len() gives the exact length when a
 * string holds \u0000. Numbers are doubles. As an extension the bare words NaN, Infinity
 * and -Infinity are read as numbers (Python's json module writes them). Duplicate object
 * keys: the last one wins (as in Python). Nesting deeper than JSON_MAX_DEPTH is rejected.
 *
 * The accessors take NULL or a value of the wrong type and return NULL / 0 / NAN, so
 * lookups can be chained: json_num(json_at(json_get(doc, "ids"), 3)). */
#ifndef GEMMA_TEST_JSON_H
#define GEMMA_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 256

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;

/* Parse len bytes (need not be NUL-terminated). Returns NULL on malformed input with
 * "json: line L, column C: what" in err (GEMMA_ERR_LEN bytes, may be NULL). */
json_value *json_parse(const char *text, size_t len, char *err);
void json_free(json_value *v);

json_type json_typeof(const json_value *v);          /* JSON_NULL for NULL */
const json_value *json_get(const json_value *obj, const char *key);  /* NULL if absent */
size_t json_len(const json_value *v);                /* items of an array or object, else 0 */
const json_value *json_at(const json_value *arr, size_t i);          /* NULL if out of range */
const char *json_key_at(const json_value *obj, size_t i);            /* i-th key, NULL if none */
double json_num(const json_value *v);                /* NAN if not a number */
bool json_bool(const json_value *v);                 /* false if not a boolean */
const char *json_str(const json_value *v);           /* NULL if not a string */
size_t json_str_len(const json_value *v);            /* bytes, 0 if not a string */

#endif
