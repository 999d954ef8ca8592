/* json_schema.c - JSON Schema to GBNF, and a validator (see json_schema.h).
 *
 *   rules       the grammar being written: (name, body) pairs, names made unique
 *               (add_rule); primitive rules of each syntax added on first use (prim)
 *   visit       one schema -> the body of a rule for its instances:
 *                 check_keywords (anything unknown is an error)
 *                 $ref -> ref_rule        enum / const -> enum_body
 *                 anyOf / oneOf -> union_body          allOf -> merged object_body
 *                 each type -> typed_body: integer_body, string_body, array_body,
 *                 object_body, or a primitive
 *   validate    the same keywords checked on a JSON value
 *
 * In the JSON syntax every value's rule ends in `space` (optional whitespace), so the
 * separators need none before them: "{" space kv "," space kv "}" space. */
#include "json_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "regex.h"
#include "util.h"

/* Integers and numbers are limited to this many digits (an unbounded digit run would let a
 * model write forever); "no bound" on an integer means this many digits. */
#define MAX_DIGITS 16
#define MAX_ABS_INT 9999999999999999LL      /* 10^16 - 1 */

/* ---------------------------------------------------------------------------------------
 * The grammar being written
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const json_value *doc;
    char *ref;
    char *rule;
} ref_entry;

struct schema_conv {
    schema_syntax syn;
    char **names, **bodies;
    uint32_t n_rules, cap_rules;
    ref_entry *refs;
    uint32_t n_refs, cap_refs;
    const json_value *doc;    /* where $refs resolve */
    char *err;
    bool failed;
    int depth;                /* schema nesting, bounded against hostile input */
};

static void conv_fail(schema_conv *c, const char *path, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = true;
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(c->err, "json schema: %s: %s", path, what);
}

static int find_rule(const schema_conv *c, const char *name) {
    for (uint32_t i = 0; i < c->n_rules; i++)
        if (strcmp(c->names[i], name) == 0) return (int)i;
    return -1;
}

/* Names of the primitive rules: a rule made from a schema never takes one of them. */
static bool is_reserved(const char *name) {
    static const char *reserved[] = {
        "space", "char", "string", "integral-part", "decimal-part", "number", "integer",
        "boolean", "null", "value", "object", "array", "date", "time", "date-time", "uuid",
        "key-char", "gstr", "gstr-1", "gstr-2", "gstr-3", "gstr-4", "gkey", "gkey-char",
        "gvalue", "gobject", "garray", "gstring",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(name, reserved[i]) == 0) return true;
    return false;
}

/* An empty body is written "" (a rule line ending right after ::= would take the next
 * line as its body). */
static void push_rule(schema_conv *c, const char *name, const char *body) {
    if (!body[0]) body = "\"\"";
    if (c->n_rules == c->cap_rules) {
        c->cap_rules = c->cap_rules ? 2 * c->cap_rules : 32;
        c->names = xrealloc(c->names, c->cap_rules * sizeof *c->names);
        c->bodies = xrealloc(c->bodies, c->cap_rules * sizeof *c->bodies);
    }
    c->names[c->n_rules] = xstrdup(name);
    c->bodies[c->n_rules] = xstrdup(body);
    c->n_rules++;
}

/* A rule name from any text: [a-zA-Z0-9-] kept, runs of anything else become one '-'. */
static char *sanitize(const char *name) {
    size_t n = strlen(name);
    char *s = xmalloc(n + 2);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (ok) s[k++] = ch;
        else if (k == 0 || s[k - 1] != '-') s[k++] = '-';
    }
    if (k == 0) s[k++] = 'r';
    s[k] = 0;
    return s;
}

/* Add `name ::= body`, the name made valid and unused (a same-named rule with the same
 * body is reused). Returns the name as stored. */
static const char *add_rule(schema_conv *c, const char *name, const char *body) {
    char *base = sanitize(name);
    size_t blen = strlen(base);
    if (blen > 120) base[blen = 120] = 0;                 /* long paths: keep names short */
    char *cand = xmalloc(blen + 24);
    strcpy(cand, base);
    if (is_reserved(cand)) strcat(cand, "-");
    for (int i = 0;; i++) {
        int at = find_rule(c, cand);
        if (at >= 0 && strcmp(c->bodies[at], body) == 0) {
            free(base);
            free(cand);
            return c->names[at];
        }
        if (at < 0) break;
        snprintf(cand, blen + 24, "%s%s%d", base, is_reserved(base) ? "-" : "", i);
    }
    push_rule(c, cand, body);
    free(base);
    free(cand);
    return c->names[c->n_rules - 1];
}

const char *schema_conv_rule(schema_conv *c, const char *name, const char *body) {
    return add_rule(c, name, body);
}

/* ---- primitives ---- */

typedef struct { const char *name, *body; } prim_rule;

/* A JSON string character: anything but " \ and control characters, or an escape; a \u
 * escape of a surrogate half only as a pair, so every string decodes. */
#define JSON_CHAR "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-Ce-fE-F] " \
                  "[0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} | [dD] [89abAB] [0-9a-fA-F]{2} " \
                  "\"\\\\u\" [dD] [c-fC-F] [0-9a-fA-F]{2}))"

static const prim_rule json_prims[] = {
    {"space", "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}"},
    {"char", JSON_CHAR},
    {"string", "\"\\\"\" char* \"\\\"\" space"},
    {"integral-part", "[0] | [1-9] [0-9]{0,15}"},
    {"decimal-part", "[0-9]{1,16}"},
    {"number", "(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)? space"},
    {"integer", "(\"-\"? integral-part) space"},
    {"boolean", "(\"true\" | \"false\") space"},
    {"null", "\"null\" space"},
    {"value", "object | array | string | number | boolean | null"},
    {"object", "\"{\" space (string \":\" space value (\",\" space string \":\" space value)*)? "
               "\"}\" space"},
    {"array", "\"[\" space (value (\",\" space value)*)? \"]\" space"},
    {"key-char", "[^\"\\\\\\x7F\\x00-\\x1F]"},
};

/* Gemma 4's value syntax. A string is <|"|> text <|"|> where the text never contains
 * <|"|>: gstr tracks how much of it the text ends with (gstr-k: the last k characters are
 * its first k), and no character may complete it. */
static const prim_rule gemma_prims[] = {
    {"gstr", "| [^<] gstr | \"<\" gstr-1"},
    {"gstr-1", "| \"|\" gstr-2 | \"<\" gstr-1 | [^<|] gstr"},
    {"gstr-2", "| \"\\\"\" gstr-3 | \"<\" gstr-1 | [^<\"] gstr"},
    {"gstr-3", "| \"|\" gstr-4 | \"<\" gstr-1 | [^<|] gstr"},
    {"gstr-4", "| \"<\" gstr-1 | [^<>] gstr"},
    {"string", "<|\"|> gstr <|\"|>"},
    {"integral-part", "[0] | [1-9] [0-9]{0,15}"},
    {"decimal-part", "[0-9]{1,16}"},
    {"number", "(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)?"},
    {"integer", "\"-\"? integral-part"},
    {"boolean", "\"true\" | \"false\""},
    {"null", "\"null\" | \"None\""},
    {"gkey-char", "[^:,{}[\\]<\\x00-\\x20]"},
    {"gkey", "gkey-char+"},
    {"value", "object | array | string | number | boolean | null"},
    {"object", "\"{\" (gkey \":\" value (\",\" gkey \":\" value)*)? \"}\""},
    {"array", "\"[\" (value (\",\" value)*)? \"]\""},
};

/* Format fragments (the characters between the quotes), the same in both syntaxes. */
static const prim_rule format_prims[] = {
    {"date", "[0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | [1-2] [0-9] | "
             "\"3\" [0-1])"},
    {"time", "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{3})? "
             "(\"Z\" | [-+] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"},
    {"date-time", "date \"T\" time"},
    {"uuid", "[0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} "
             "\"-\" [0-9a-fA-F]{12}"},
};

static const prim_rule *find_prim(const prim_rule *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

/* The primitive rule `name` of the current syntax, with every rule its body names. */
static const char *prim(schema_conv *c, const char *name) {
    int at = find_rule(c, name);
    if (at >= 0) return c->names[at];
    const prim_rule *p = c->syn == SCHEMA_JSON
                             ? find_prim(json_prims, sizeof json_prims / sizeof *json_prims, name)
                             : find_prim(gemma_prims, sizeof gemma_prims / sizeof *gemma_prims, name);
    if (!p) p = find_prim(format_prims, sizeof format_prims / sizeof *format_prims, name);
    if (!p) return NULL;                      /* cannot happen: callers name known rules */
    push_rule(c, p->name, p->body);
    const char *stored = c->names[c->n_rules - 1];
    /* dependencies: every word of the body that names a primitive */
    const char *b = p->body;
    while (*b) {
        if (*b == '"') {                      /* skip literals */
            for (b++; *b && *b != '"'; b++)
                if (*b == '\\' && b[1]) b++;
            if (*b) b++;
        } else if (*b == '[') {
            for (b++; *b && *b != ']'; b++)
                if (*b == '\\' && b[1]) b++;
            if (*b) b++;
        } else if (*b == '<') {
            while (*b && *b != '>') b++;
            if (*b) b++;
        } else if ((*b >= 'a' && *b <= 'z') || *b == '-') {
            const char *s = b;
            while ((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') || *b == '-') b++;
            char word[32];
            size_t n = (size_t)(b - s);
            if (n < sizeof word) {
                memcpy(word, s, n);
                word[n] = 0;
                if (find_rule(c, word) < 0) prim(c, word);
            }
        } else {
            b++;
        }
    }
    return stored;
}

/* " space" after a JSON value (the rule made on first use); nothing in Gemma 4's syntax. */
static const char *space(schema_conv *c) {
    if (c->syn != SCHEMA_JSON) return "";
    prim(c, "space");
    return " space";
}

void gbnf_literal(strbuf *b, const char *s, size_t len) {
    sb_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            sb_putc(b, '\\');
            sb_putc(b, (char)ch);
        } else if (ch == '\n') {
            sb_puts(b, "\\n");
        } else if (ch == '\r') {
            sb_puts(b, "\\r");
        } else if (ch == '\t') {
            sb_puts(b, "\\t");
        } else if (ch < 0x20 || ch == 0x7f) {
            sb_printf(b, "\\x%02X", ch);
        } else {
            sb_putc(b, (char)ch);
        }
    }
    sb_putc(b, '"');
}

/* ---------------------------------------------------------------------------------------
 * Keywords
 * ------------------------------------------------------------------------------------- */

static const char *const annotation_keywords[] = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment",
    "deprecated", "readOnly", "writeOnly", "$defs", "definitions",
};
static const char *const constraint_keywords[] = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "items",
    "prefixItems", "additionalItems", "minItems", "maxItems", "minLength", "maxLength",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf",
    "$ref", "format", "pattern", "nullable",
};

static bool in_list(const char *const *list, size_t n, const char *key) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], key) == 0) return true;
    return false;
}
#define IN_LIST(list, key) in_list(list, sizeof list / sizeof *list, key)

/* NULL if every keyword of s is known, else the first unknown one. */
static const char *unknown_keyword(const json_value *s) {
    for (size_t i = 0; i < json_len(s); i++) {
        const char *k = json_key_at(s, i);
        if (!IN_LIST(annotation_keywords, k) && !IN_LIST(constraint_keywords, k)) return k;
    }
    return NULL;
}

/* The first constraint keyword of s other than those listed in `allowed` (NULL if none). */
static const char *other_constraint(const json_value *s, const char *const *allowed, size_t n) {
    for (size_t i = 0; i < json_len(s); i++) {
        const char *k = json_key_at(s, i);
        if (IN_LIST(constraint_keywords, k) && !in_list(allowed, n, k)) return k;
    }
    return NULL;
}

/* A non-negative integer keyword (minLength, ...); -1 if absent; -2 (with an error) if
 * malformed. */
static long long count_keyword(schema_conv *c, const json_value *s, const char *key,
                               const char *path) {
    const json_value *v = json_get(s, key);
    if (!v) return -1;
    double x = json_num(v);
    if (json_typeof(v) != JSON_NUMBER || x < 0 || x != floor(x)) {
        conv_fail(c, path, "'%s' must be a non-negative integer", key);
        return -2;
    }
    if (x > GRAMMAR_MAX_REPEAT) {
        conv_fail(c, path, "'%s' %.0f is above the grammar's repetition limit %d", key, x,
                  GRAMMAR_MAX_REPEAT);
        return -2;
    }
    return (long long)x;
}

/* ---------------------------------------------------------------------------------------
 * $ref
 * ------------------------------------------------------------------------------------- */

/* The value a local reference ("#", "#/$defs/name", any JSON pointer after '#') names in
 * doc, or NULL. */
static const json_value *resolve_pointer(const json_value *doc, const char *ref) {
    if (ref[0] != '#') return NULL;
    const char *p = ref + 1;
    const json_value *v = doc;
    while (*p) {
        if (*p != '/') return NULL;
        p++;
        char seg[256];
        size_t k = 0;
        while (*p && *p != '/' && k + 1 < sizeof seg) {
            if (p[0] == '~' && p[1] == '0') { seg[k++] = '~'; p += 2; }
            else if (p[0] == '~' && p[1] == '1') { seg[k++] = '/'; p += 2; }
            else seg[k++] = *p++;
        }
        seg[k] = 0;
        if (json_typeof(v) == JSON_OBJECT) {
            v = json_get(v, seg);
        } else if (json_typeof(v) == JSON_ARRAY) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            v = *end || !k ? NULL : json_at(v, i);
        } else {
            return NULL;
        }
        if (!v) return NULL;
    }
    return v;
}

static const char *visit_rule(schema_conv *c, const json_value *s, const char *name,
                              const char *path);
static char *visit(schema_conv *c, const json_value *s, const char *name, const char *path);

/* The rule of the schema a $ref names: made once per (document, reference), named before
 * its body is written so recursive references find it. */
static const char *ref_rule(schema_conv *c, const json_value *ref, const char *path) {
    const char *r = json_str(ref);
    if (!r) {
        conv_fail(c, path, "'$ref' must be a string");
        return NULL;
    }
    for (uint32_t i = 0; i < c->n_refs; i++)
        if (c->refs[i].doc == c->doc && strcmp(c->refs[i].ref, r) == 0) return c->refs[i].rule;
    const json_value *target = resolve_pointer(c->doc, r);
    if (!target) {
        conv_fail(c, path, "'$ref' '%s' %s", r,
                  r[0] == '#' ? "names nothing in this document"
                              : "is not a local reference (only '#...' is supported)");
        return NULL;
    }
    /* reserve the name: a placeholder rule that the real body replaces */
    char name[160];
    snprintf(name, sizeof name, "ref%s", r + 1);
    char *placeholder = xmalloc(strlen(r) + 32);
    sprintf(placeholder, "( \"placeholder for %u\" )", c->n_refs);
    const char *rule = add_rule(c, name, placeholder);
    free(placeholder);
    int at = find_rule(c, rule);
    if (c->n_refs == c->cap_refs) {
        c->cap_refs = c->cap_refs ? 2 * c->cap_refs : 8;
        c->refs = xrealloc(c->refs, c->cap_refs * sizeof *c->refs);
    }
    c->refs[c->n_refs++] = (ref_entry){c->doc, xstrdup(r), c->names[at]};
    const char *stored = c->refs[c->n_refs - 1].rule;
    char target_path[512];
    snprintf(target_path, sizeof target_path, "%s", r);
    if (++c->depth > 200) {
        conv_fail(c, path, "schemas nested too deeply");
        return NULL;
    }
    char *body = visit(c, target, stored, target_path);
    c->depth--;
    if (!body) return NULL;
    at = find_rule(c, stored);
    free(c->bodies[at]);
    c->bodies[at] = body;
    return stored;
}

/* ---------------------------------------------------------------------------------------
 * Values written as grammar text (enum / const)
 * ------------------------------------------------------------------------------------- */

/* The items of a Gemma 4 value, as it is written in a call: keys sorted and bare, strings
 * between <|"|> tokens. False if the value cannot be written so. */
static bool gemma_value_items(strbuf *b, const json_value *v);

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool gemma_value_items(strbuf *b, const json_value *v) {
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_str(v);
        size_t n = json_str_len(v);
        for (size_t i = 0; i + 5 <= n; i++)
            if (memcmp(s + i, "<|\"|>", 5) == 0) return false;
        sb_puts(b, " <|\"|>");
        if (n) {
            sb_putc(b, ' ');
            gbnf_literal(b, s, n);
        }
        sb_puts(b, " <|\"|>");
        return true;
    }
    case JSON_ARRAY:
        sb_puts(b, " \"[\"");
        for (size_t i = 0; i < json_len(v); i++) {
            if (i) sb_puts(b, " \",\"");
            if (!gemma_value_items(b, json_at(v, i))) return false;
        }
        sb_puts(b, " \"]\"");
        return true;
    case JSON_OBJECT: {
        size_t n = json_len(v);
        const char **keys = xmalloc((n ? n : 1) * sizeof *keys);
        for (size_t i = 0; i < n; i++) keys[i] = json_key_at(v, i);
        qsort(keys, n, sizeof *keys, cmp_keys);
        bool ok = true;
        sb_puts(b, " \"{\"");
        for (size_t i = 0; i < n && ok; i++) {
            if (i && strcmp(keys[i], keys[i - 1]) == 0) continue;   /* duplicate: last wins */
            if (i) sb_puts(b, " \",\"");
            if (strpbrk(keys[i], ":,{}<") || !*keys[i]) ok = false;
            strbuf k = {0};
            sb_puts(&k, keys[i]);
            sb_putc(&k, ':');
            sb_putc(b, ' ');
            gbnf_literal(b, k.p, k.n);
            sb_free(&k);
            if (ok) ok = gemma_value_items(b, json_get(v, keys[i]));
        }
        sb_puts(b, " \"}\"");
        free(keys);
        return ok;
    }
    default: {
        char *t = json_to_string(v);
        sb_putc(b, ' ');
        gbnf_literal(b, t, strlen(t));
        free(t);
        return true;
    }
    }
}

/* One value as grammar items in the current syntax (JSON: compact text then space). */
static bool value_items(schema_conv *c, strbuf *b, const json_value *v) {
    if (c->syn == SCHEMA_GEMMA4) return gemma_value_items(b, v);
    char *t = json_to_string(v);
    gbnf_literal(b, t, strlen(t));
    free(t);
    return true;
}

static bool validate_in(const json_value *s, const json_value *doc, const json_value *inst,
                        bool skip_enum, char *why);

static char *enum_body(schema_conv *c, const json_value *s, const char *path) {
    const json_value *cst = json_get(s, "const"), *en = json_get(s, "enum");
    if (en && json_typeof(en) != JSON_ARRAY) {
        conv_fail(c, path, "'enum' must be an array");
        return NULL;
    }
    strbuf b = {0};
    size_t n = cst ? 1 : json_len(en), kept = 0;
    sb_putc(&b, '(');
    for (size_t i = 0; i < n; i++) {
        const json_value *v = cst ? cst : json_at(en, i);
        if (cst && en) {                      /* both: the const must be among the enum */
            bool found = false;
            for (size_t k = 0; k < json_len(en) && !found; k++) found = json_equal(v, json_at(en, k));
            if (!found) continue;
        }
        if (!validate_in(s, c->doc, v, true, NULL)) continue;   /* fails other keywords */
        if (kept++) sb_puts(&b, " |");
        sb_putc(&b, ' ');
        if (!value_items(c, &b, v)) {
            conv_fail(c, path, "an enum/const value cannot be written in Gemma 4's call syntax "
                               "(a string holding <|\"|>, or an odd key)");
            sb_free(&b);
            return NULL;
        }
    }
    if (kept == 0) {
        conv_fail(c, path, "no 'enum'/'const' value satisfies the rest of the schema");
        sb_free(&b);
        return NULL;
    }
    sb_printf(&b, " )%s", space(c));
    return sb_take(&b);
}

/* ---------------------------------------------------------------------------------------
 * Integers: the decimal strings of [lo, hi] as alternatives of digit classes
 * ------------------------------------------------------------------------------------- */

static bool all_digit(const char *s, int n, char d) {
    for (int i = 0; i < n; i++)
        if (s[i] != d) return false;
    return true;
}

static void digit_run(strbuf *b, int n) {
    if (n == 1) sb_puts(b, " [0-9]");
    else if (n > 1) sb_printf(b, " [0-9]{%d}", n);
}

/* Strings of n digits from x to y (x <= y): the shared first digit, or three parts: x's
 * first digit with the rest of x's range, the digits between with anything after, y's first
 * digit with the rest of y's range. */
static void same_length_range(strbuf *b, const char *x, const char *y, int n) {
    if (n == 0) return;
    if (x[0] == y[0]) {
        sb_printf(b, " \"%c\"", x[0]);
        if (n > 1) {
            sb_puts(b, " (");
            same_length_range(b, x + 1, y + 1, n - 1);
            sb_puts(b, " )");
        }
        return;
    }
    bool x_low = all_digit(x + 1, n - 1, '0'), y_high = all_digit(y + 1, n - 1, '9');
    char lo = x_low ? x[0] : (char)(x[0] + 1), hi = y_high ? y[0] : (char)(y[0] - 1);
    bool first = true;
    sb_puts(b, " (");
    if (!x_low) {
        char nines[MAX_DIGITS + 2];
        memset(nines, '9', (size_t)n - 1);
        sb_printf(b, " \"%c\" (", x[0]);
        same_length_range(b, x + 1, nines, n - 1);
        sb_puts(b, " )");
        first = false;
    }
    if (lo <= hi) {
        if (!first) sb_puts(b, " |");
        if (lo == hi) sb_printf(b, " \"%c\"", lo);
        else sb_printf(b, " [%c-%c]", lo, hi);
        digit_run(b, n - 1);
        first = false;
    }
    if (!y_high) {
        char zeros[MAX_DIGITS + 2];
        memset(zeros, '0', (size_t)n - 1);
        if (!first) sb_puts(b, " |");
        sb_printf(b, " \"%c\" (", y[0]);
        same_length_range(b, zeros, y + 1, n - 1);
        sb_puts(b, " )");
    }
    sb_puts(b, " )");
}

/* 0 <= a <= b: one alternative per length. */
static void nonnegative_range(strbuf *b, long long a, long long c) {
    char sa[24], sc[24];
    int la = snprintf(sa, sizeof sa, "%lld", a), lc = snprintf(sc, sizeof sc, "%lld", c);
    sb_puts(b, " (");
    for (int len = la; len <= lc; len++) {
        char lo[24], hi[24];
        if (len == la) memcpy(lo, sa, (size_t)la + 1);
        else { memset(lo, '0', (size_t)len); lo[0] = '1'; lo[len] = 0; }
        if (len == lc) memcpy(hi, sc, (size_t)lc + 1);
        else { memset(hi, '9', (size_t)len); hi[len] = 0; }
        if (len > la) sb_puts(b, " |");
        same_length_range(b, lo, hi, len);
    }
    sb_puts(b, " )");
}

static void int_range(strbuf *b, long long lo, long long hi) {
    bool first = true;
    sb_puts(b, "(");
    if (lo < 0) {
        long long nhi = hi < -1 ? hi : -1;
        sb_puts(b, " \"-\"");
        nonnegative_range(b, -nhi, -lo);
        first = false;
    }
    if (hi >= 0) {
        if (!first) sb_puts(b, " |");
        nonnegative_range(b, lo > 0 ? lo : 0, hi);
    }
    sb_puts(b, " )");
}

/* The bounds of an integer schema, clamped to what MAX_DIGITS digits can write.
 * exclusiveMinimum/Maximum: a number (2019-09 and later) or, with minimum/maximum, true
 * (draft 4). Returns false (with an error) on a malformed or empty range. */
static bool integer_bounds(schema_conv *c, const json_value *s, const char *path, long long *lo,
                           long long *hi, bool *bounded) {
    double l = -(double)MAX_ABS_INT, h = (double)MAX_ABS_INT;
    *bounded = false;
    static const char *keys[] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    for (int i = 0; i < 4; i++) {
        const json_value *v = json_get(s, keys[i]);
        if (!v) continue;
        bool exclusive = i == 1 || i == 3, lower = i < 2;
        if (exclusive && json_typeof(v) == JSON_BOOL) continue;     /* draft 4: below */
        if (json_typeof(v) != JSON_NUMBER || !isfinite(json_num(v))) {
            conv_fail(c, path, "'%s' must be a number", keys[i]);
            return false;
        }
        double x = json_num(v);
        bool excl_flag = json_bool(json_get(s, lower ? "exclusiveMinimum" : "exclusiveMaximum"));
        if (!exclusive && excl_flag) exclusive = true;
        double bound = lower ? (exclusive ? floor(x) + 1 : ceil(x))
                             : (exclusive ? ceil(x) - 1 : floor(x));
        if (lower && bound > l) l = bound;
        if (!lower && bound < h) h = bound;
        *bounded = true;
    }
    if (l < -(double)MAX_ABS_INT) l = -(double)MAX_ABS_INT;
    if (h > (double)MAX_ABS_INT) h = (double)MAX_ABS_INT;
    if (l > h) {
        conv_fail(c, path, "no integer of at most %d digits lies between the bounds", MAX_DIGITS);
        return false;
    }
    *lo = (long long)l;
    *hi = (long long)h;
    return true;
}

static char *integer_body(schema_conv *c, const json_value *s, const char *path) {
    long long lo, hi;
    bool bounded;
    if (!integer_bounds(c, s, path, &lo, &hi, &bounded)) return NULL;
    if (!bounded) return xstrdup(prim(c, "integer"));
    strbuf b = {0};
    int_range(&b, lo, hi);
    sb_puts(&b, space(c));
    return sb_take(&b);
}

/* ---------------------------------------------------------------------------------------
 * Strings
 * ------------------------------------------------------------------------------------- */

/* Gemma 4 string text of lo..hi characters (hi < 0: no bound) that never contains <|"|>:
 * the automaton of gstr (state k = how much of <|"|> the text ends with) times a count r
 * of characters so far, saturating at lo when there is no upper bound. Rules are made for
 * every (k, r); the few that cannot be reached do no harm. */
static const char *gemma_bounded_text(schema_conv *c, long long lo, long long hi) {
    static const char *const next_char[4] = {"\"<\"", "\"|\"", "\"\\\"\"", "\"|\""};
    static const char *const other[5] = {"[^<]", "[^<|]", "[^<\"]", "[^<|]", "[^<>]"};
    long long top = hi >= 0 ? hi : lo;        /* the largest count tracked */
    char base[64], name[96];
    snprintf(base, sizeof base, "gtext-%lld-%lld", lo, hi);
    snprintf(name, sizeof name, "%s-0-0", base);
    int at = find_rule(c, name);
    if (at >= 0) return c->names[at];
    for (long long r = 0; r <= top; r++) {
        long long nr = hi < 0 && r == top ? top : r + 1;
        for (int k = 0; k <= 4; k++) {
            strbuf b = {0};
            bool can_go = hi < 0 || r < hi;
            if (r >= lo) sb_puts(&b, can_go ? "|" : "");   /* the text may end here */
            if (can_go) {
                if (k < 4) sb_printf(&b, " %s %s-%d-%lld |", next_char[k], base, k + 1, nr);
                if (k > 0) sb_printf(&b, " \"<\" %s-1-%lld |", base, nr);
                sb_printf(&b, " %s %s-0-%lld", other[k], base, nr);
            }
            snprintf(name, sizeof name, "%s-%d-%lld", base, k, r);
            push_rule(c, name, b.p ? b.p : "");
            sb_free(&b);
        }
    }
    snprintf(name, sizeof name, "%s-0-0", base);
    return c->names[find_rule(c, name)];
}

static char *string_body(schema_conv *c, const json_value *s, const char *path) {
    const json_value *fmt = json_get(s, "format"), *pat = json_get(s, "pattern");
    long long min = count_keyword(c, s, "minLength", path);
    long long max = count_keyword(c, s, "maxLength", path);
    if (min == -2 || max == -2) return NULL;
    bool json = c->syn == SCHEMA_JSON;
    const char *open = json ? "\"\\\"\"" : "<|\"|>", *close = json ? "\"\\\"\" space" : "<|\"|>";
    strbuf b = {0};
    if (fmt) {
        const char *f = json_str(fmt);
        if (!f) { conv_fail(c, path, "'format' must be a string"); return NULL; }
        if (strcmp(f, "date") && strcmp(f, "time") && strcmp(f, "date-time") && strcmp(f, "uuid")) {
            conv_fail(c, path, "format '%s' is not supported (date, time, date-time, uuid are)", f);
            return NULL;
        }
        if (pat || min >= 0 || max >= 0) {
            conv_fail(c, path, "'format' together with 'pattern', 'minLength' or 'maxLength' is "
                               "not supported");
            return NULL;
        }
        sb_printf(&b, "%s %s %s", open, prim(c, f), close);
        return sb_take(&b);
    }
    if (pat) {
        const char *p = json_str(pat);
        if (!p) { conv_fail(c, path, "'pattern' must be a string"); return NULL; }
        if (min >= 0 || max >= 0) {
            conv_fail(c, path, "'pattern' together with 'minLength'/'maxLength' is not supported");
            return NULL;
        }
        sb_printf(&b, "%s ", open);
        char err[GEMMA_ERR_LEN];
        if (regex_to_gbnf(&b, p, json_str_len(pat), json ? REGEX_JSON : REGEX_GEMMA4, err)) {
            conv_fail(c, path, "%s", err);
            sb_free(&b);
            return NULL;
        }
        sb_printf(&b, " %s", close);
        return sb_take(&b);
    }
    if (min < 0 && max < 0) return xstrdup(prim(c, "string"));
    if (min < 0) min = 0;
    if (max >= 0 && max < min) {
        conv_fail(c, path, "'maxLength' is below 'minLength'");
        return NULL;
    }
    if (json) {
        sb_printf(&b, "%s %s", open, prim(c, "char"));
        if (max < 0) sb_printf(&b, "{%lld,}", min);
        else if (max == min) sb_printf(&b, "{%lld}", min);
        else sb_printf(&b, "{%lld,%lld}", min, max);
        sb_printf(&b, " %s", close);
    } else {
        sb_printf(&b, "%s %s %s", open, gemma_bounded_text(c, min, max), close);
    }
    return sb_take(&b);
}

/* ---------------------------------------------------------------------------------------
 * Arrays
 * ------------------------------------------------------------------------------------- */

/* A GBNF repetition of min..max (max < 0: no bound). */
static void put_count(strbuf *b, long long min, long long max) {
    if (max < 0 && min == 0) sb_putc(b, '*');
    else if (max < 0 && min == 1) sb_putc(b, '+');
    else if (max < 0) sb_printf(b, "{%lld,}", min);
    else if (min == 0 && max == 1) sb_putc(b, '?');
    else if (min == max) sb_printf(b, "{%lld}", min);
    else sb_printf(b, "{%lld,%lld}", min, max);
}

static char *array_body(schema_conv *c, const json_value *s, const char *name,
                        const char *path) {
    const json_value *items = json_get(s, "items"), *prefix = json_get(s, "prefixItems");
    const json_value *extra = items;
    if (json_typeof(items) == JSON_ARRAY) {   /* draft 7: items as a tuple */
        if (prefix) { conv_fail(c, path, "'items' as an array beside 'prefixItems'"); return NULL; }
        prefix = items;
        extra = json_get(s, "additionalItems");
    } else if (json_get(s, "additionalItems")) {
        conv_fail(c, path, "'additionalItems' needs 'items' as an array (a tuple)");
        return NULL;
    }
    if (prefix && json_typeof(prefix) != JSON_ARRAY) {
        conv_fail(c, path, "'prefixItems' must be an array");
        return NULL;
    }
    if (extra && json_typeof(extra) != JSON_OBJECT && json_typeof(extra) != JSON_BOOL) {
        conv_fail(c, path, "'items' must be a schema");
        return NULL;
    }
    long long lo = count_keyword(c, s, "minItems", path), hi = count_keyword(c, s, "maxItems", path);
    if (lo == -2 || hi == -2) return NULL;
    if (lo < 0) lo = 0;
    if (hi >= 0 && hi < lo) { conv_fail(c, path, "'maxItems' is below 'minItems'"); return NULL; }
    /* a tuple allows no further items unless items says so; a plain array any */
    bool extras = prefix ? (extra && !(json_typeof(extra) == JSON_BOOL && !json_bool(extra)))
                         : !(json_typeof(extra) == JSON_BOOL && !json_bool(extra));
    long long n_prefix = (long long)json_len(prefix);
    if (hi >= 0 && n_prefix > hi) n_prefix = hi;      /* maxItems cuts the tuple */
    if (lo < n_prefix) lo = n_prefix;                 /* otherwise it is written in full */
    if (!extras && lo > n_prefix) {
        conv_fail(c, path, "'minItems' %lld asks for more items than the tuple allows", lo);
        return NULL;
    }
    bool json = c->syn == SCHEMA_JSON;
    const char *sep = json ? "\",\" space" : "\",\"";
    char sub[512], sub_path[600];
    const char **rules = xmalloc((size_t)(n_prefix + 1) * sizeof *rules);
    for (long long i = 0; i < n_prefix; i++) {
        snprintf(sub, sizeof sub, "%s-%lld", name, i);
        snprintf(sub_path, sizeof sub_path, "%s/prefixItems/%lld", path, i);
        rules[i] = visit_rule(c, json_at(prefix, (size_t)i), sub, sub_path);
        if (!rules[i]) { free(rules); return NULL; }
    }
    const char *item = NULL;
    if (extras) {
        snprintf(sub, sizeof sub, "%s-item", name);
        snprintf(sub_path, sizeof sub_path, "%s/items", path);
        item = extra && json_typeof(extra) == JSON_OBJECT ? visit_rule(c, extra, sub, sub_path)
                                                          : prim(c, "value");
        if (!item) { free(rules); return NULL; }
    }
    strbuf b = {0};
    sb_puts(&b, json ? "\"[\" space" : "\"[\"");
    /* the tuple's items, then the extra ones */
    for (long long i = 0; i < n_prefix; i++)
        sb_printf(&b, " %s%s%s", i ? sep : "", i ? " " : "", rules[i]);
    if (extras && (hi < 0 || hi > n_prefix)) {
        long long emin = lo > n_prefix ? lo - n_prefix : 0;
        long long emax = hi < 0 ? -1 : hi - n_prefix;
        if (n_prefix == 0) {
            /* item (sep item){emin-1, emax-1}, optional when emin is 0 */
            long long rmin = emin > 0 ? emin - 1 : 0, rmax = emax < 0 ? -1 : emax - 1;
            sb_printf(&b, " %s%s", emin == 0 ? "(" : "", item);
            if (rmax != 0) {
                sb_printf(&b, " (%s %s)", sep, item);
                put_count(&b, rmin, rmax);
            }
            if (emin == 0) sb_puts(&b, ")?");
        } else {
            sb_printf(&b, " (%s %s)", sep, item);
            put_count(&b, emin, emax);
        }
    }
    sb_puts(&b, json ? " \"]\" space" : " \"]\"");
    free(rules);
    return sb_take(&b);
}

/* ---------------------------------------------------------------------------------------
 * Objects
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const char *key;
    const json_value *schema;
    bool required;
} prop;

/* Keys other than the declared ones: a tree of the declared names over the key characters
 * (JSON: no escapes; Gemma: bare-key characters); at each node, a declared character leads
 * on, any other key character leaves the names behind, and stopping is allowed unless the
 * path so far is a declared name. */
typedef struct key_node {
    uint32_t cp;
    bool end;
    struct key_node **kids;
    int n_kids;
} key_node;

static void key_tree_free(key_node *t) {
    for (int i = 0; i < t->n_kids; i++) key_tree_free(t->kids[i]);
    free(t->kids);
    free(t);
}

/* Decode the next code point of a key (keys come from JSON text: valid UTF-8). */
static uint32_t next_cp(const unsigned char **p) {
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    c = len == 1 ? c : c & (0x3Fu >> (len - 1));
    for (int k = 1; k < len && s[k]; k++) c = c << 6 | (s[k] & 0x3F);
    *p = s + len;
    return c;
}

static bool key_char_ok(schema_conv *c, uint32_t cp) {
    if (c->syn == SCHEMA_JSON) return cp >= 0x20 && cp != '"' && cp != '\\' && cp != 0x7F;
    return cp > 0x20 && (cp >= 0x80 || !strchr(":,{}[]<", (int)cp));
}

static void key_tree_add(schema_conv *c, key_node *t, const char *key) {
    const unsigned char *p = (const unsigned char *)key;
    while (*p) {
        uint32_t cp = next_cp(&p);
        if (!key_char_ok(c, cp)) return;      /* an extra key cannot spell this name */
        key_node *kid = NULL;
        for (int i = 0; i < t->n_kids && !kid; i++)
            if (t->kids[i]->cp == cp) kid = t->kids[i];
        if (!kid) {
            kid = xcalloc(1, sizeof *kid);
            kid->cp = cp;
            t->kids = xrealloc(t->kids, (size_t)(t->n_kids + 1) * sizeof *t->kids);
            t->kids[t->n_kids++] = kid;
        }
        t = kid;
    }
    t->end = true;
}

static const char *key_tree_rule(schema_conv *c, const key_node *t, const char *name) {
    const char *kc = c->syn == SCHEMA_JSON ? prim(c, "key-char") : prim(c, "gkey-char");
    strbuf b = {0};
    bool first = true;
    if (!t->end) { first = false; }           /* the empty alternative */
    for (int i = 0; i < t->n_kids; i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s-%d", name, i);
        const char *r = key_tree_rule(c, t->kids[i], sub);
        strbuf ch = {0};
        sb_put_utf8(&ch, t->kids[i]->cp);
        sb_printf(&b, "%s ", first ? "" : " |");
        gbnf_literal(&b, ch.p, ch.n);
        sb_printf(&b, " %s", r);
        sb_free(&ch);
        first = false;
    }
    /* any other key character, then anything */
    sb_printf(&b, "%s [^", first ? "" : " |");
    if (c->syn == SCHEMA_JSON) sb_puts(&b, "\"\\\\\\x7F\\x00-\\x1F");
    else sb_puts(&b, ":,{}[\\]<\\x00-\\x20");
    for (int i = 0; i < t->n_kids; i++) gbnf_class_char(&b, t->kids[i]->cp);
    sb_printf(&b, "] %s*", kc);
    const char *r = add_rule(c, name, b.p);
    sb_free(&b);
    return r;
}

/* The rule of an extra key=value pair (value: the rule of additionalProperties). */
static const char *extra_kv_rule(schema_conv *c, const prop *props, int n, const char *value,
                                 const char *name) {
    char sub[512];
    key_node *t = xcalloc(1, sizeof *t);
    for (int i = 0; i < n; i++) key_tree_add(c, t, props[i].key);
    snprintf(sub, sizeof sub, "%s-extra-key", name);
    const char *key = key_tree_rule(c, t, sub);
    key_tree_free(t);
    strbuf b = {0};
    if (c->syn == SCHEMA_JSON) sb_printf(&b, "\"\\\"\" %s \"\\\"\" space \":\" space %s", key, value);
    else sb_printf(&b, "%s \":\" %s", key, value);
    snprintf(sub, sizeof sub, "%s-extra-kv", name);
    const char *r = add_rule(c, sub, b.p);
    sb_free(&b);
    return r;
}

/* The pairs from property i on, when an earlier one was written (more = true: each pair
 * needs a comma first) or not. Optional properties may be skipped; the extra pairs, if
 * any, come last. */
typedef struct {
    schema_conv *c;
    const char **kv;          /* [n] rule of each declared pair */
    const prop *props;
    int n;
    const char *extra;        /* rule of an extra pair, or NULL */
    const char *name;
    const char **memo[2];     /* [more][i] */
} pair_chain;

static const char *chain_rule(pair_chain *pc, int i, bool more) {
    if (pc->memo[more][i]) return pc->memo[more][i];
    schema_conv *c = pc->c;
    const char *sep = c->syn == SCHEMA_JSON ? "\",\" space " : "\",\" ";
    strbuf b = {0};
    if (i == pc->n) {
        if (!pc->extra) return "\"\"";         /* nothing more: the empty string */
        if (more) sb_printf(&b, "(%s%s)*", sep, pc->extra);
        else sb_printf(&b, "(%s (%s%s)*)?", pc->extra, sep, pc->extra);
    } else {
        const char *rest = chain_rule(pc, i + 1, true);
        sb_printf(&b, "%s%s %s", more ? sep : "", pc->kv[i], rest);
        if (!pc->props[i].required) sb_printf(&b, " | %s", chain_rule(pc, i + 1, more));
    }
    char sub[512];
    snprintf(sub, sizeof sub, "%s-%s-%d", pc->name, more ? "more" : "from", i);
    const char *r = add_rule(c, sub, b.p ? b.p : "");
    sb_free(&b);
    pc->memo[more][i] = r;
    return r;
}

static int cmp_props(const void *a, const void *b) {
    return strcmp(((const prop *)a)->key, ((const prop *)b)->key);
}

/* props: in declared order (sorted here for Gemma 4); extra: the schema of additional
 * properties (true: any value) or NULL for none. */
static char *object_body(schema_conv *c, prop *props, int n, const json_value *extra,
                         const char *name, const char *path) {
    bool json = c->syn == SCHEMA_JSON;
    if (!json && n > 0) qsort(props, (size_t)n, sizeof *props, cmp_props);   /* props NULL when n == 0 */
    const char **kv = xmalloc((size_t)(n ? n : 1) * sizeof *kv);
    char sub[512], sub_path[600];
    for (int i = 0; i < n; i++) {
        if (!json && (strpbrk(props[i].key, ":,{}<") || !*props[i].key)) {
            conv_fail(c, path, "property name '%s' cannot be written in Gemma 4's call syntax",
                      props[i].key);
            free(kv);
            return NULL;
        }
        snprintf(sub, sizeof sub, "%s-%s", name, props[i].key);
        snprintf(sub_path, sizeof sub_path, "%s/properties/%s", path, props[i].key);
        const char *value = visit_rule(c, props[i].schema, sub, sub_path);
        if (!value) { free(kv); return NULL; }
        strbuf b = {0};
        if (json) {
            strbuf key = {0};
            json_write_string(&key, props[i].key, strlen(props[i].key));
            gbnf_literal(&b, key.p, key.n);
            sb_free(&key);
            sb_printf(&b, " space \":\" space %s", value);
        } else {
            strbuf key = {0};
            sb_printf(&key, "%s:", props[i].key);
            gbnf_literal(&b, key.p, key.n);
            sb_free(&key);
            sb_printf(&b, " %s", value);
        }
        snprintf(sub, sizeof sub, "%s-%s-kv", name, props[i].key);
        kv[i] = add_rule(c, sub, b.p);
        sb_free(&b);
    }
    const char *extra_kv = NULL;
    if (extra) {
        const char *value;
        if (json_typeof(extra) == JSON_BOOL) {
            value = prim(c, "value");
        } else {
            snprintf(sub, sizeof sub, "%s-additional", name);
            snprintf(sub_path, sizeof sub_path, "%s/additionalProperties", path);
            value = visit_rule(c, extra, sub, sub_path);
        }
        if (!value) { free(kv); return NULL; }
        extra_kv = extra_kv_rule(c, props, n, value, name);
    }
    strbuf b = {0};
    sb_puts(&b, json ? "\"{\" space " : "\"{\" ");
    bool all_required = true;
    for (int i = 0; i < n; i++) all_required = all_required && props[i].required;
    if (all_required && !extra_kv) {
        const char *sep = json ? "\",\" space " : "\",\" ";
        for (int i = 0; i < n; i++) sb_printf(&b, "%s%s ", i ? sep : "", kv[i]);
    } else {
        pair_chain pc = {c, kv, props, n, extra_kv, name, {NULL, NULL}};
        pc.memo[0] = xcalloc((size_t)n + 1, sizeof *pc.memo[0]);
        pc.memo[1] = xcalloc((size_t)n + 1, sizeof *pc.memo[1]);
        sb_printf(&b, "%s ", chain_rule(&pc, 0, false));
        free(pc.memo[0]);
        free(pc.memo[1]);
    }
    sb_puts(&b, json ? "\"}\" space" : "\"}\"");
    free(kv);
    return sb_take(&b);
}

/* properties / required / additionalProperties of one schema into a property list. */
static prop *collect_props(schema_conv *c, const json_value *s, int *n_out, const char *path) {
    const json_value *ps = json_get(s, "properties"), *req = json_get(s, "required");
    const json_value *add = json_get(s, "additionalProperties");
    if (ps && json_typeof(ps) != JSON_OBJECT) {
        conv_fail(c, path, "'properties' must be an object");
        return NULL;
    }
    if (req && json_typeof(req) != JSON_ARRAY) {
        conv_fail(c, path, "'required' must be an array of names");
        return NULL;
    }
    size_t n = json_len(ps);
    prop *props = xmalloc((n + json_len(req) + 1) * sizeof *props);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = json_key_at(ps, i);
        if (json_get(ps, key) != json_at(ps, i)) continue;  /* a duplicate: the last counts */
        props[k++] = (prop){key, json_at(ps, i), false};
    }
    for (size_t i = 0; i < json_len(req); i++) {
        const char *name = json_str(json_at(req, i));
        if (!name) {
            conv_fail(c, path, "'required' must be an array of names");
            free(props);
            return NULL;
        }
        int at = -1;
        for (int j = 0; j < k && at < 0; j++)
            if (strcmp(props[j].key, name) == 0) at = j;
        if (at >= 0) {
            props[at].required = true;
            continue;
        }
        /* required but not declared: any value, if additional properties allow it */
        if (!add || (json_typeof(add) == JSON_BOOL && !json_bool(add))) {
            conv_fail(c, path, "required property '%s' is not declared in 'properties'%s", name,
                      add ? " and additionalProperties is false" : "");
            free(props);
            return NULL;
        }
        props[k++] = (prop){name, add, true};
    }
    *n_out = k;
    return props;
}

/* The extra-property schema: NULL (none) for absent or false. */
static const json_value *extra_schema(schema_conv *c, const json_value *s, const char *path) {
    const json_value *add = json_get(s, "additionalProperties");
    if (!add) return NULL;
    if (json_typeof(add) == JSON_BOOL) return json_bool(add) ? add : NULL;
    if (json_typeof(add) != JSON_OBJECT) {
        conv_fail(c, path, "'additionalProperties' must be a boolean or a schema");
        return NULL;
    }
    return add;
}

static char *plain_object_body(schema_conv *c, const json_value *s, const char *name,
                               const char *path) {
    if (!json_get(s, "properties") && !json_get(s, "required") &&
        !json_get(s, "additionalProperties"))
        return xstrdup(prim(c, "object"));     /* {"type": "object"}: any object */
    int n;
    prop *props = collect_props(c, s, &n, path);
    if (!props) return NULL;
    const json_value *extra = extra_schema(c, s, path);
    char *body = c->failed ? NULL : object_body(c, props, n, extra, name, path);
    free(props);
    return body;
}

/* allOf: the object schemas of every part (and of s itself) merged into one property list.
 * A part may only say type object, properties, required, additionalProperties, or refer
 * to (or be made of) such parts. */
typedef struct {
    prop *props;
    int n, cap;
    const json_value **closed;   /* parts with additionalProperties false or a schema */
    int n_closed, cap_closed;
} merged;

static bool merge_part(schema_conv *c, merged *m, const json_value *part, const char *path,
                       int depth) {
    if (depth > 64) { conv_fail(c, path, "allOf nested too deeply"); return false; }
    if (json_typeof(part) == JSON_BOOL && json_bool(part)) return true;
    if (json_typeof(part) != JSON_OBJECT) {
        conv_fail(c, path, "an allOf part must be an object schema");
        return false;
    }
    const char *bad = unknown_keyword(part);
    if (bad) { conv_fail(c, path, "unsupported keyword '%s'", bad); return false; }
    static const char *const ok[] = {"type", "properties", "required", "additionalProperties",
                                     "allOf", "$ref"};
    bad = other_constraint(part, ok, sizeof ok / sizeof *ok);
    if (bad) {
        conv_fail(c, path, "allOf combines object schemas only (properties, required, "
                           "additionalProperties); '%s' is not supported in it", bad);
        return false;
    }
    const json_value *t = json_get(part, "type");
    if (t && !(json_str(t) && strcmp(json_str(t), "object") == 0)) {
        conv_fail(c, path, "allOf combines object schemas only");
        return false;
    }
    const json_value *ref = json_get(part, "$ref");
    if (ref) {
        const json_value *target = json_str(ref) ? resolve_pointer(c->doc, json_str(ref)) : NULL;
        if (!target) { conv_fail(c, path, "'$ref' names nothing in this document"); return false; }
        if (!merge_part(c, m, target, json_str(ref), depth + 1)) return false;
    }
    const json_value *all = json_get(part, "allOf");
    if (all && json_typeof(all) != JSON_ARRAY) { conv_fail(c, path, "'allOf' must be an array"); return false; }
    for (size_t i = 0; i < json_len(all); i++) {
        char sub[600];
        snprintf(sub, sizeof sub, "%s/allOf/%zu", path, i);
        if (!merge_part(c, m, json_at(all, i), sub, depth + 1)) return false;
    }
    int n;
    prop *props = collect_props(c, part, &n, path);
    if (!props) return false;
    for (int i = 0; i < n; i++) {
        int at = -1;
        for (int j = 0; j < m->n && at < 0; j++)
            if (strcmp(m->props[j].key, props[i].key) == 0) at = j;
        if (at < 0) {
            if (m->n == m->cap) {
                m->cap = m->cap ? 2 * m->cap : 8;
                m->props = xrealloc(m->props, (size_t)m->cap * sizeof *m->props);
            }
            m->props[m->n++] = props[i];
        } else {
            bool open_any = json_typeof(props[i].schema) == JSON_OBJECT &&
                            json_len(props[i].schema) == 0;
            if (!json_equal(m->props[at].schema, props[i].schema) && !open_any) {
                conv_fail(c, path, "allOf: property '%s' is defined differently in two parts",
                          props[i].key);
                free(props);
                return false;
            }
            m->props[at].required = m->props[at].required || props[i].required;
        }
    }
    free(props);
    const json_value *add = json_get(part, "additionalProperties");
    if (add && !(json_typeof(add) == JSON_BOOL && json_bool(add))) {
        if (m->n_closed == m->cap_closed) {
            m->cap_closed = m->cap_closed ? 2 * m->cap_closed : 4;
            m->closed = xrealloc(m->closed, (size_t)m->cap_closed * sizeof *m->closed);
        }
        m->closed[m->n_closed++] = part;
    }
    return true;
}

static char *allof_body(schema_conv *c, const json_value *s, const char *name, const char *path) {
    merged m = {0};
    char *body = NULL;
    if (merge_part(c, &m, s, path, 0)) {
        /* a part that forbids other properties must declare every merged one */
        bool ok = true;
        for (int k = 0; k < m.n_closed && ok; k++) {
            const json_value *ps = json_get(m.closed[k], "properties");
            for (int i = 0; i < m.n && ok; i++) {
                if (json_get(ps, m.props[i].key)) continue;
                conv_fail(c, path, "allOf: a part with additionalProperties does not declare "
                                   "'%s', which another part does", m.props[i].key);
                ok = false;
            }
        }
        if (ok) body = object_body(c, m.props, m.n, NULL, name, path);
    }
    free(m.props);
    free(m.closed);
    return body;
}

/* ---------------------------------------------------------------------------------------
 * anyOf / oneOf
 * ------------------------------------------------------------------------------------- */

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_FRAC = 8, T_STRING = 16, T_ARRAY = 32, T_OBJECT = 64,
       T_ALL = 127 };

static unsigned type_bit(const char *t) {
    static const struct { const char *name; unsigned bits; } names[] = {
        {"null", T_NULL}, {"boolean", T_BOOL}, {"integer", T_INT}, {"number", T_INT | T_FRAC},
        {"string", T_STRING}, {"array", T_ARRAY}, {"object", T_OBJECT},
    };
    for (size_t i = 0; i < 7; i++)
        if (t && strcmp(t, names[i].name) == 0) return names[i].bits;
    return 0;
}

static unsigned value_bits(const json_value *v) {
    switch (json_typeof(v)) {
    case JSON_NULL: return T_NULL;
    case JSON_BOOL: return T_BOOL;
    case JSON_NUMBER: return json_num(v) == floor(json_num(v)) ? T_INT : T_FRAC;
    case JSON_STRING: return T_STRING;
    case JSON_ARRAY: return T_ARRAY;
    case JSON_OBJECT: return T_OBJECT;
    }
    return T_ALL;
}

/* The kinds of value a schema can accept (an over-estimate). */
static unsigned schema_bits(const json_value *s, const json_value *doc, int depth) {
    if (depth > 32 || json_typeof(s) != JSON_OBJECT) return T_ALL;
    const json_value *ref = json_get(s, "$ref");
    if (ref) {
        const json_value *t = json_str(ref) ? resolve_pointer(doc, json_str(ref)) : NULL;
        return t ? schema_bits(t, doc, depth + 1) : T_ALL;
    }
    unsigned bits = T_ALL;
    const json_value *cst = json_get(s, "const"), *en = json_get(s, "enum");
    if (cst) bits = value_bits(cst);
    else if (json_typeof(en) == JSON_ARRAY) {
        bits = 0;
        for (size_t i = 0; i < json_len(en); i++) bits |= value_bits(json_at(en, i));
    }
    const json_value *t = json_get(s, "type");
    if (t) {
        unsigned tb = 0;
        if (json_typeof(t) == JSON_ARRAY)
            for (size_t i = 0; i < json_len(t); i++) tb |= type_bit(json_str(json_at(t, i)));
        else tb = type_bit(json_str(t));
        if (json_bool(json_get(s, "nullable"))) tb |= T_NULL;
        bits &= tb;
    }
    const json_value *any = json_get(s, "anyOf") ? json_get(s, "anyOf") : json_get(s, "oneOf");
    if (json_typeof(any) == JSON_ARRAY) {
        unsigned ab = 0;
        for (size_t i = 0; i < json_len(any); i++) ab |= schema_bits(json_at(any, i), doc, depth + 1);
        bits &= ab;
    }
    return bits;
}

/* The const / enum values a schema pins a property to (NULL: not pinned). */
static const json_value *pinned_values(const json_value *s, bool *single) {
    *single = false;
    if (json_get(s, "const")) { *single = true; return json_get(s, "const"); }
    const json_value *en = json_get(s, "enum");
    return json_typeof(en) == JSON_ARRAY ? en : NULL;
}

static bool pinned_contains(const json_value *vals, bool single, const json_value *v) {
    if (single) return json_equal(vals, v);
    for (size_t i = 0; i < json_len(vals); i++)
        if (json_equal(json_at(vals, i), v)) return true;
    return false;
}

static bool in_required(const json_value *s, const char *key) {
    const json_value *req = json_get(s, "required");
    for (size_t i = 0; i < json_len(req); i++)
        if (json_str(json_at(req, i)) && strcmp(json_str(json_at(req, i)), key) == 0) return true;
    return false;
}

/* Can no value satisfy both a and b? Different kinds of value, or objects that a required
 * property tells apart by disjoint const/enum values. */
static bool disjoint(const json_value *a, const json_value *b, const json_value *doc) {
    if ((schema_bits(a, doc, 0) & schema_bits(b, doc, 0)) == 0) return true;
    const json_value *pa = json_get(a, "properties"), *pb = json_get(b, "properties");
    for (size_t i = 0; i < json_len(pa); i++) {
        const char *key = json_key_at(pa, i);
        if (!in_required(a, key) || !in_required(b, key) || !json_get(pb, key)) continue;
        bool sa, sb;
        const json_value *va = pinned_values(json_at(pa, i), &sa);
        const json_value *vb = pinned_values(json_get(pb, key), &sb);
        if (!va || !vb) continue;
        bool overlap = false;
        size_t n = sa ? 1 : json_len(va);
        for (size_t k = 0; k < n && !overlap; k++)
            overlap = pinned_contains(vb, sb, sa ? va : json_at(va, k));
        if (!overlap) return true;
    }
    return false;
}

static char *union_body(schema_conv *c, const json_value *s, const char *name, const char *path) {
    bool one = json_get(s, "oneOf") != NULL;
    const char *kw = one ? "oneOf" : "anyOf";
    const json_value *alts = json_get(s, kw);
    if (json_get(s, "oneOf") && json_get(s, "anyOf")) {
        conv_fail(c, path, "'anyOf' and 'oneOf' together are not supported");
        return NULL;
    }
    if (json_typeof(alts) != JSON_ARRAY || json_len(alts) == 0) {
        conv_fail(c, path, "'%s' must be a non-empty array of schemas", kw);
        return NULL;
    }
    static const char *const ok[] = {"anyOf", "oneOf"};
    const char *bad = other_constraint(s, ok, 2);
    if (bad) {
        conv_fail(c, path, "'%s' beside '%s' is not supported: put it inside each alternative",
                  bad, kw);
        return NULL;
    }
    size_t n = json_len(alts);
    if (one)
        for (size_t i = 0; i < n; i++)
            for (size_t k = i + 1; k < n; k++)
                if (!disjoint(json_at(alts, i), json_at(alts, k), c->doc)) {
                    conv_fail(c, path, "oneOf alternatives %zu and %zu may both match a value, "
                                       "which a grammar cannot rule out (use anyOf, or tell them "
                                       "apart by type or by a required const property)", i, k);
                    return NULL;
                }
    strbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        char sub[512], sub_path[600];
        snprintf(sub, sizeof sub, "%s-%zu", name, i);
        snprintf(sub_path, sizeof sub_path, "%s/%s/%zu", path, kw, i);
        const char *r = visit_rule(c, json_at(alts, i), sub, sub_path);
        if (!r) { sb_free(&b); return NULL; }
        sb_printf(&b, "%s%s", i ? " | " : "", r);
    }
    return sb_take(&b);
}

/* ---------------------------------------------------------------------------------------
 * visit
 * ------------------------------------------------------------------------------------- */

static const char *const object_kw[] = {"properties", "required", "additionalProperties"};
static const char *const array_kw[] = {"items", "prefixItems", "additionalItems", "minItems",
                                       "maxItems"};
static const char *const string_kw[] = {"minLength", "maxLength", "pattern", "format"};
static const char *const number_kw[] = {"minimum", "maximum", "exclusiveMinimum",
                                        "exclusiveMaximum"};

static bool has_any(const json_value *s, const char *const *kw, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (json_get(s, kw[i])) return true;
    return false;
}
#define HAS_ANY(s, kw) has_any(s, kw, sizeof kw / sizeof *kw)

static char *typed_body(schema_conv *c, const json_value *s, const char *t, const char *name,
                        const char *path) {
    if (strcmp(t, "null") == 0) return xstrdup(prim(c, "null"));
    if (strcmp(t, "boolean") == 0) return xstrdup(prim(c, "boolean"));
    if (strcmp(t, "integer") == 0) return integer_body(c, s, path);
    if (strcmp(t, "number") == 0) {
        if (HAS_ANY(s, number_kw)) {
            conv_fail(c, path, "minimum/maximum are supported for \"type\": \"integer\" only");
            return NULL;
        }
        return xstrdup(prim(c, "number"));
    }
    if (strcmp(t, "string") == 0) return string_body(c, s, path);
    if (strcmp(t, "array") == 0) return array_body(c, s, name, path);
    if (strcmp(t, "object") == 0) return plain_object_body(c, s, name, path);
    conv_fail(c, path, "unknown type '%s'", t);
    return NULL;
}

/* The types a schema allows: its "type" (one or a list; nullable adds null) or, without
 * one, the type its keywords belong to; none at all means any value. */
static int schema_types(schema_conv *c, const json_value *s, const char *types[8],
                        const char *path) {
    const json_value *t = json_get(s, "type");
    int n = 0;
    if (t) {
        size_t m = json_typeof(t) == JSON_ARRAY ? json_len(t) : 1;
        for (size_t i = 0; i < m; i++) {
            const char *name = json_str(json_typeof(t) == JSON_ARRAY ? json_at(t, i) : t);
            if (!type_bit(name)) {
                conv_fail(c, path, "'type' must be null, boolean, integer, number, string, "
                                   "array, object or a list of them");
                return -1;
            }
            bool dup = false;
            for (int k = 0; k < n; k++) dup = dup || strcmp(types[k], name) == 0;
            if (!dup && n < 7) types[n++] = name;
        }
        if (n == 0) { conv_fail(c, path, "'type' is an empty list"); return -1; }
    } else {
        bool o = HAS_ANY(s, object_kw), a = HAS_ANY(s, array_kw), str = HAS_ANY(s, string_kw);
        bool num = HAS_ANY(s, number_kw);
        if (o + a + str + num > 1) {
            conv_fail(c, path, "keywords of different types without a 'type'");
            return -1;
        }
        if (num) {
            conv_fail(c, path, "minimum/maximum are supported for \"type\": \"integer\" only");
            return -1;
        }
        if (o) types[n++] = "object";
        else if (a) types[n++] = "array";
        else if (str) types[n++] = "string";
        else return 0;
    }
    const json_value *nullable = json_get(s, "nullable");
    if (nullable && json_typeof(nullable) != JSON_BOOL) {
        conv_fail(c, path, "'nullable' must be a boolean");
        return -1;
    }
    if (json_bool(nullable)) {
        bool has = false;
        for (int k = 0; k < n; k++) has = has || strcmp(types[k], "null") == 0;
        if (!has) types[n++] = "null";
    }
    return n;
}

static char *visit(schema_conv *c, const json_value *s, const char *name, const char *path) {
    if (c->failed) return NULL;
    if (json_typeof(s) == JSON_BOOL) {
        if (json_bool(s)) return xstrdup(prim(c, "value"));
        conv_fail(c, path, "the schema false matches nothing");
        return NULL;
    }
    if (json_typeof(s) != JSON_OBJECT) {
        conv_fail(c, path, "a schema must be an object or a boolean");
        return NULL;
    }
    const char *bad = unknown_keyword(s);
    if (bad) {
        conv_fail(c, path, "unsupported keyword '%s'", bad);
        return NULL;
    }
    if (json_get(s, "$ref")) {
        static const char *const ok[] = {"$ref"};
        bad = other_constraint(s, ok, 1);
        if (bad) {
            conv_fail(c, path, "'%s' beside '$ref' is not supported", bad);
            return NULL;
        }
        const char *r = ref_rule(c, json_get(s, "$ref"), path);
        return r ? xstrdup(r) : NULL;
    }
    if (json_get(s, "enum") || json_get(s, "const")) return enum_body(c, s, path);
    if (json_get(s, "anyOf") || json_get(s, "oneOf")) return union_body(c, s, name, path);
    if (json_get(s, "allOf")) return allof_body(c, s, name, path);
    const char *types[8];
    int n = schema_types(c, s, types, path);
    if (n < 0) return NULL;
    if (n == 0) return xstrdup(prim(c, "value"));
    if (n == 1) return typed_body(c, s, types[0], name, path);
    strbuf b = {0};
    for (int i = 0; i < n; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s-%s", name, types[i]);
        char *body = typed_body(c, s, types[i], sub, path);
        if (!body) { sb_free(&b); return NULL; }
        sb_printf(&b, "%s%s", i ? " | " : "", add_rule(c, sub, body));
        free(body);
    }
    return sb_take(&b);
}

static bool is_rule_name(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-'))
            return false;
    return true;
}

/* The rule for a schema: a rule of its own, or an existing rule when the body is just one
 * (a property of type string is the rule `string`). */
static const char *visit_rule(schema_conv *c, const json_value *s, const char *name,
                              const char *path) {
    if (++c->depth > 200) {
        conv_fail(c, path, "schemas nested too deeply");
        c->depth--;
        return NULL;
    }
    char *body = visit(c, s, name, path);
    c->depth--;
    if (!body) return NULL;
    const char *r;
    int at = is_rule_name(body) ? find_rule(c, body) : -1;
    r = at >= 0 ? c->names[at] : add_rule(c, name, body);
    free(body);
    return r;
}

/* ---------------------------------------------------------------------------------------
 * Public
 * ------------------------------------------------------------------------------------- */

schema_conv *schema_conv_new(schema_syntax syntax) {
    schema_conv *c = xcalloc(1, sizeof *c);
    c->syn = syntax;
    if (syntax == SCHEMA_JSON) prim(c, "space");    /* every value's rule ends with it */
    return c;
}

void schema_conv_free(schema_conv *c) {
    if (!c) return;
    for (uint32_t i = 0; i < c->n_rules; i++) {
        free(c->names[i]);
        free(c->bodies[i]);
    }
    for (uint32_t i = 0; i < c->n_refs; i++) free(c->refs[i].ref);
    free(c->names);
    free(c->bodies);
    free(c->refs);
    free(c);
}

const char *schema_conv_add(schema_conv *c, const json_value *schema, const json_value *doc,
                            const char *name, char *err) {
    c->doc = doc ? doc : schema;
    c->err = err;
    c->failed = false;
    c->depth = 0;
    char *body = visit(c, schema, name, "#");
    if (!body) return NULL;
    const char *r = add_rule(c, name, body);
    free(body);
    return r;
}

char *schema_conv_text(const schema_conv *c) {
    strbuf b = {0};
    int root = find_rule(c, "root");
    if (root >= 0) sb_printf(&b, "root ::= %s\n", c->bodies[root]);
    for (uint32_t i = 0; i < c->n_rules; i++)
        if ((int)i != root) sb_printf(&b, "%s ::= %s\n", c->names[i], c->bodies[i]);
    return sb_take(&b);
}

char *json_schema_to_gbnf(const char *schema, size_t len, char *err) {
    json_value *doc = json_parse(schema, len, err);
    if (!doc) {
        char inner[GEMMA_ERR_LEN];
        snprintf(inner, sizeof inner, "%s", err ? err : "");
        set_err(err, "json schema: %s", inner);
        return NULL;
    }
    schema_conv *c = schema_conv_new(SCHEMA_JSON);
    char *text = NULL;
    if (schema_conv_add(c, doc, doc, "root", err)) {
        text = schema_conv_text(c);
        char gerr[GEMMA_ERR_LEN];
        grammar *g = grammar_parse(text, strlen(text), NULL, gerr);
        if (!g) {
            if (getenv("GEMMA_DEBUG_GRAMMAR")) fprintf(stderr, "%s", text);
            set_err(err, "json schema: the grammar made from it is not valid: %s", gerr);
            free(text);
            text = NULL;
        }
        grammar_free(g);
    }
    schema_conv_free(c);
    json_free(doc);
    return text;
}

char *json_any_gbnf(void) { return json_schema_to_gbnf("{}", 2, NULL); }

/* ---------------------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const json_value *doc;
    char *why;
    int depth;
} vctx;

static bool vfail(vctx *v, const char *fmt, ...) {
    if (v->why) {
        char what[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        set_err(v->why, "%s", what);
    }
    return false;
}

static bool validate(vctx *v, const json_value *s, const json_value *inst, bool skip_enum);

static size_t utf8_count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static bool format_ok(const char *f, const char *s, size_t n) {
    static const struct { const char *name, *re; } formats[] = {
        {"date", "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"},
        {"time", "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{3})?(Z|[-+]([01][0-9]|2[0-3]):[0-5][0-9])$"},
        {"date-time", "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{3})?(Z|[-+]([01][0-9]|2[0-3]):[0-5][0-9])$"},
        {"uuid", "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
    };
    for (size_t i = 0; i < 4; i++)
        if (strcmp(f, formats[i].name) == 0)
            return regex_match(formats[i].re, strlen(formats[i].re), s, n, NULL) == 1;
    return false;
}

static bool validate_number(vctx *v, const json_value *s, double x) {
    static const char *keys[] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    for (int i = 0; i < 4; i++) {
        const json_value *b = json_get(s, keys[i]);
        if (!b || json_typeof(b) == JSON_BOOL) continue;
        double y = json_num(b);
        bool lower = i < 2;
        bool excl = i == 1 || i == 3 ||
                    json_bool(json_get(s, lower ? "exclusiveMinimum" : "exclusiveMaximum"));
        bool ok = lower ? (excl ? x > y : x >= y) : (excl ? x < y : x <= y);
        if (!ok) return vfail(v, "%g is out of the bound %s %g", x, keys[i], y);
    }
    return true;
}

static bool validate_object(vctx *v, const json_value *s, const json_value *inst) {
    const json_value *ps = json_get(s, "properties"), *req = json_get(s, "required");
    const json_value *add = json_get(s, "additionalProperties");
    for (size_t i = 0; i < json_len(req); i++) {
        const char *k = json_str(json_at(req, i));
        if (k && !json_get(inst, k)) return vfail(v, "the required property '%s' is missing", k);
    }
    for (size_t i = 0; i < json_len(inst); i++) {
        const char *k = json_key_at(inst, i);
        const json_value *ps_k = json_get(ps, k);
        if (ps_k) {
            if (!validate(v, ps_k, json_at(inst, i), false)) return false;
        } else if (add) {
            if (json_typeof(add) == JSON_BOOL && !json_bool(add))
                return vfail(v, "property '%s' is not allowed", k);
            if (json_typeof(add) == JSON_OBJECT && !validate(v, add, json_at(inst, i), false))
                return false;
        }
    }
    return true;
}

static bool validate_array(vctx *v, const json_value *s, const json_value *inst) {
    size_t n = json_len(inst);
    const json_value *items = json_get(s, "items"), *prefix = json_get(s, "prefixItems");
    const json_value *rest = items;
    if (json_typeof(items) == JSON_ARRAY) {
        prefix = items;
        rest = json_get(s, "additionalItems");
    }
    const json_value *mn = json_get(s, "minItems"), *mx = json_get(s, "maxItems");
    if (mn && (double)n < json_num(mn)) return vfail(v, "%zu items, fewer than minItems", n);
    if (mx && (double)n > json_num(mx)) return vfail(v, "%zu items, more than maxItems", n);
    for (size_t i = 0; i < n; i++) {
        const json_value *is = i < json_len(prefix) ? json_at(prefix, i) : rest;
        if (!is) continue;
        if (json_typeof(is) == JSON_BOOL && !json_bool(is))
            return vfail(v, "item %zu is not allowed", i);
        if (!validate(v, is, json_at(inst, i), false)) return false;
    }
    return true;
}

static bool validate_type(vctx *v, const json_value *s, const json_value *inst) {
    const json_value *t = json_get(s, "type");
    unsigned bits = 0;
    if (json_typeof(t) == JSON_ARRAY)
        for (size_t i = 0; i < json_len(t); i++) bits |= type_bit(json_str(json_at(t, i)));
    else bits = type_bit(json_str(t));
    if (json_bool(json_get(s, "nullable"))) bits |= T_NULL;
    unsigned have = value_bits(inst);
    if (!(bits & have)) return vfail(v, "a %s where the schema wants another type",
                                     json_type_name(json_typeof(inst)));
    return true;
}

static bool validate(vctx *v, const json_value *s, const json_value *inst, bool skip_enum) {
    if (++v->depth > 200) { v->depth--; return vfail(v, "schema nested too deeply"); }
    bool ok = true;
    if (json_typeof(s) == JSON_BOOL) {
        ok = json_bool(s) || vfail(v, "the schema false matches nothing");
        v->depth--;
        return ok;
    }
    if (json_typeof(s) != JSON_OBJECT) {
        v->depth--;
        return vfail(v, "a schema must be an object or a boolean");
    }
    const char *bad = unknown_keyword(s);
    if (bad) { v->depth--; return vfail(v, "unsupported keyword '%s'", bad); }
    const json_value *ref = json_get(s, "$ref");
    if (ref) {
        const json_value *t = json_str(ref) ? resolve_pointer(v->doc, json_str(ref)) : NULL;
        ok = t ? validate(v, t, inst, false) : vfail(v, "'$ref' names nothing");
    }
    if (ok && json_get(s, "type")) ok = validate_type(v, s, inst);
    if (ok && !skip_enum && json_get(s, "const") && !json_equal(json_get(s, "const"), inst))
        ok = vfail(v, "not the const value");
    if (ok && !skip_enum && json_get(s, "enum")) {
        bool found = false;
        for (size_t i = 0; i < json_len(json_get(s, "enum")) && !found; i++)
            found = json_equal(json_at(json_get(s, "enum"), i), inst);
        if (!found) ok = vfail(v, "not one of the enum values");
    }
    const json_value *any = json_get(s, "anyOf"), *one = json_get(s, "oneOf"), *all = json_get(s, "allOf");
    if (ok && any) {
        bool found = false;
        for (size_t i = 0; i < json_len(any) && !found; i++) found = validate(v, json_at(any, i), inst, false);
        if (!found) ok = vfail(v, "matches no anyOf alternative");
    }
    if (ok && one) {
        int count = 0;
        for (size_t i = 0; i < json_len(one); i++) count += validate(v, json_at(one, i), inst, false);
        if (count != 1) ok = vfail(v, "matches %d oneOf alternatives, not exactly one", count);
    }
    for (size_t i = 0; ok && i < json_len(all); i++) ok = validate(v, json_at(all, i), inst, false);
    if (ok) {
        switch (json_typeof(inst)) {
        case JSON_OBJECT: ok = validate_object(v, s, inst); break;
        case JSON_ARRAY: ok = validate_array(v, s, inst); break;
        case JSON_NUMBER: ok = validate_number(v, s, json_num(inst)); break;
        case JSON_STRING: {
            size_t n = utf8_count(json_str(inst), json_str_len(inst));
            const json_value *mn = json_get(s, "minLength"), *mx = json_get(s, "maxLength");
            const json_value *pat = json_get(s, "pattern"), *fmt = json_get(s, "format");
            if (mn && (double)n < json_num(mn)) ok = vfail(v, "a string shorter than minLength");
            else if (mx && (double)n > json_num(mx)) ok = vfail(v, "a string longer than maxLength");
            else if (pat) {
                char err[GEMMA_ERR_LEN];
                int r = regex_match(json_str(pat), json_str_len(pat), json_str(inst),
                                    json_str_len(inst), err);
                if (r < 0) ok = vfail(v, "%s", err);
                else if (!r) ok = vfail(v, "the string does not match the pattern");
            } else if (fmt && json_str(fmt)) {
                if (!format_ok(json_str(fmt), json_str(inst), json_str_len(inst)))
                    ok = vfail(v, "the string is not a %s", json_str(fmt));
            }
            break;
        }
        default: break;
        }
    }
    v->depth--;
    return ok;
}

static bool validate_in(const json_value *s, const json_value *doc, const json_value *inst,
                        bool skip_enum, char *why) {
    vctx v = {doc ? doc : s, why, 0};
    return validate(&v, s, inst, skip_enum);
}

bool json_schema_validate(const json_value *schema, const json_value *doc,
                          const json_value *instance, char *why) {
    return validate_in(schema, doc, instance, false, why);
}
