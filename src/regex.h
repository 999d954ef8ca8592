/* regex.h - the regular expressions of JSON Schema's "pattern" (ECMA-262 syntax, a subset)
 * as a GBNF expression, so a grammar can require them.
 *
 * Supported: literal characters and escaped punctuation, . (not \n or \r), [classes] with
 * ranges and ^ negation, \d \D \w \W \s \S (inside classes too), \t \n \r \f \v \0 \xHH
 * \uHHHH, groups ( ) (?: ) (?<name> ), alternatives |, quantifiers * + ? {m} {m,} {m,n}
 * (a lazy ? after one changes nothing here), ^ at the start and $ at the end. As in JSON
 * Schema a pattern is unanchored: without ^ (or $) any text may come before (or after).
 * Anything else (lookaround, backreferences, \b, anchors elsewhere) is an error.
 *
 * The characters are written the way the output needs them: as they are (REGEX_RAW), inside
 * a JSON string (REGEX_JSON: " and \ and control characters escaped; a character that needs
 * a \u escape is left out, the grammar being the stricter side), or inside a Gemma 4 tool
 * call string (REGEX_GEMMA4: '<' left out, so the text <|"|> that ends the string cannot
 * occur in it). */
#ifndef GEMMA_REGEX_H
#define GEMMA_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

typedef enum { REGEX_RAW, REGEX_JSON, REGEX_GEMMA4 } regex_encoding;

/* Append one parenthesised GBNF expression for the strings matching pattern[0..len).
 * Returns 0, or -1 with "pattern: what" in err. */
int regex_to_gbnf(strbuf *out, const char *pattern, size_t len, regex_encoding enc, char *err);

/* One code point written for a GBNF class or literal: escaped where it has to be (\ ] - "
 * [, and ^ as \x5E), \x \u \U for anything not printable ASCII. */
void gbnf_class_char(strbuf *b, uint32_t c);

/* Does s[0..n) match pattern (JSON Schema semantics)? -1 with err if the pattern is not
 * supported, else 1 or 0. */
int regex_match(const char *pattern, size_t len, const char *s, size_t n, char *err);

#endif
