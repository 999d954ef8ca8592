/* grammar.c - the GBNF parser and the checks of a parsed grammar (see grammar.h).
 *
 *   grammar_parse      text -> rules under construction (one element vector per rule):
 *                        parse_rule -> parse_alternates -> parse_sequence -> one item:
 *                        literal | class | token | rule reference | ( group ) | .
 *                        followed by any number of * + ? {m,n} (repeat())
 *   check_references   every referenced rule is defined; the start rule exists
 *   flatten            the vectors into one element array (grammar.h's layout)
 *   check_left_recursion  no rule reaches itself without consuming input
 *
 * Positions in messages are 1-based lines and byte columns of the text. */
#include "grammar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------
 * The parser's state
 * ------------------------------------------------------------------------------------- */

typedef struct { gram_elem *v; uint32_t n, cap; } elem_vec;

typedef struct {
    char *name;               /* NULL for generated rules */
    uint32_t origin;
    elem_vec body;
    bool defined;
    const char *defined_at;   /* where its definition starts (written rules) */
    const char *first_ref;    /* where it is first referenced */
} rule_build;

typedef struct {
    const char *start, *p, *end;
    char *err;
    bool failed;
    rule_build *rules;
    uint32_t n_rules, cap_rules;
    uint32_t *names;          /* open-addressing table of written rule indices */
    uint32_t names_cap;       /* a power of two; UINT32_MAX marks a free slot */
    char_class *classes;
    uint32_t n_classes, cap_classes;
    cp_range *ranges;
    uint32_t n_ranges, cap_ranges;
    gram_token *tokens;
    uint32_t n_tokens, cap_tokens;
    size_t n_elems;           /* over every rule, for GRAMMAR_MAX_ELEMS */
} gparser;

static void line_col(const char *start, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *q = start; q < at; q++) {
        if (*q == '\n') { (*line)++; *col = 1; } else { (*col)++; }
    }
}

/* Record the first error, at a position of the text. */
static void fail_at(gparser *ps, const char *at, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = true;
    char what[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line, col;
    line_col(ps->start, at, &line, &col);
    set_err(ps->err, "grammar: line %d, column %d: %s", line, col, what);
}

/* Show a character of the text in a message: 'c', or U+XXXX for what is not printable. */
static const char *show_char(const char *p, const char *end, char buf[16]) {
    if (p >= end) return "the end of the text";
    unsigned char c = (unsigned char)*p;
    if (c >= 0x21 && c < 0x7f) snprintf(buf, 16, "'%c'", c);
    else if (c == ' ') snprintf(buf, 16, "a space");
    else snprintf(buf, 16, "byte 0x%02x", c);
    return buf;
}

/* ---- growing arrays ---- */

#define GROW(arr, n, cap)                                                   \
    do {                                                                    \
        if ((n) == (cap)) {                                                 \
            (cap) = (cap) ? 2 * (cap) : 16;                                 \
            (arr) = xrealloc((arr), (size_t)(cap) * sizeof *(arr));         \
        }                                                                   \
    } while (0)

static void push_elem(gparser *ps, uint32_t rule, uint8_t op, uint32_t value) {
    if (ps->failed) return;
    if (++ps->n_elems > GRAMMAR_MAX_ELEMS) {
        fail_at(ps, ps->p, "the grammar is too large (more than %u elements)", GRAMMAR_MAX_ELEMS);
        return;
    }
    elem_vec *b = &ps->rules[rule].body;
    GROW(b->v, b->n, b->cap);
    b->v[b->n++] = (gram_elem){op, value};
}

static uint32_t new_rule(gparser *ps, char *name, uint32_t origin) {
    GROW(ps->rules, ps->n_rules, ps->cap_rules);
    uint32_t r = ps->n_rules++;
    ps->rules[r] = (rule_build){name, name ? r : origin, {NULL, 0, 0}, false, NULL, NULL};
    return r;
}

static uint32_t hash_name(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void names_insert(gparser *ps, uint32_t r) {
    uint32_t mask = ps->names_cap - 1;
    const char *name = ps->rules[r].name;
    uint32_t i = hash_name(name, strlen(name)) & mask;
    while (ps->names[i] != UINT32_MAX) i = (i + 1) & mask;
    ps->names[i] = r;
}

/* The written rule called s[0..n), created (undefined) on first sight. */
static uint32_t rule_named(gparser *ps, const char *s, size_t n) {
    if (ps->names_cap == 0 || 2 * (ps->n_rules + 1) > ps->names_cap) {   /* keep load <= 1/2 */
        uint32_t cap = ps->names_cap ? 2 * ps->names_cap : 64;
        while (2 * (ps->n_rules + 1) > cap) cap *= 2;
        free(ps->names);
        ps->names = xmalloc((size_t)cap * sizeof *ps->names);
        memset(ps->names, 0xff, (size_t)cap * sizeof *ps->names);
        ps->names_cap = cap;
        for (uint32_t r = 0; r < ps->n_rules; r++)
            if (ps->rules[r].name) names_insert(ps, r);
    }
    uint32_t mask = ps->names_cap - 1;
    for (uint32_t i = hash_name(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t r = ps->names[i];
        if (r == UINT32_MAX) break;
        if (strlen(ps->rules[r].name) == n && memcmp(ps->rules[r].name, s, n) == 0) return r;
    }
    char *name = xmalloc(n + 1);
    memcpy(name, s, n);
    name[n] = 0;
    uint32_t r = new_rule(ps, name, 0);
    names_insert(ps, r);
    return r;
}

/* ---------------------------------------------------------------------------------------
 * Lexical pieces
 * ------------------------------------------------------------------------------------- */

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Spaces, tabs and comments; line ends too when newline_ok (inside groups, after '|' and
 * '::=', between rules). */
static void skip_space(gparser *ps, bool newline_ok) {
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == ' ' || c == '\t') ps->p++;
        else if (newline_ok && (c == '\n' || c == '\r')) ps->p++;
        else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n' && *ps->p != '\r') ps->p++;
        } else break;
    }
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One UTF-8 encoded code point at ps->p (strict: no overlongs or surrogates). */
static bool parse_utf8(gparser *ps, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)ps->p;
    size_t avail = (size_t)(ps->end - ps->p);
    unsigned c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; ps->p++; return true; }
    if ((c & 0xE0) == 0xC0) { len = 2; v = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; v = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; v = c & 0x07; min = 0x10000; }
    else goto bad;
    if (len > avail) goto bad;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) goto bad;
        v = v << 6 | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) goto bad;
    *cp = v;
    ps->p += len;
    return true;
bad:
    fail_at(ps, ps->p, "invalid UTF-8 (byte 0x%02x)", c);
    return false;
}

/* One character of a literal or class: an escape or a UTF-8 code point. */
static bool parse_char(gparser *ps, uint32_t *cp) {
    if (ps->p >= ps->end) {
        fail_at(ps, ps->p, "unexpected end of the text");
        return false;
    }
    if (*ps->p != '\\') return parse_utf8(ps, cp);
    const char *at = ps->p;
    if (ps->p + 1 >= ps->end) {
        fail_at(ps, at, "unexpected end of the text after '\\'");
        return false;
    }
    char e = ps->p[1];
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int d = ps->p + 2 + i < ps->end ? hex_digit(ps->p[2 + i]) : -1;
            if (d < 0) {
                fail_at(ps, at, "'\\%c' needs %d hex digits", e, digits);
                return false;
            }
            v = v << 4 | (uint32_t)d;
        }
        if (v > 0x10FFFF) {
            fail_at(ps, at, "'\\%c' escape U+%X is beyond U+10FFFF", e, v);
            return false;
        }
        ps->p += 2 + digits;
        *cp = v;
        return true;
    }
    switch (e) {
    case 't': *cp = '\t'; break;
    case 'r': *cp = '\r'; break;
    case 'n': *cp = '\n'; break;
    case '\\': case '"': case '[': case ']': case '-': *cp = (unsigned char)e; break;
    default: {
        char buf[16];
        fail_at(ps, at, "unknown escape '\\' followed by %s", show_char(ps->p + 1, ps->end, buf));
        return false;
    }
    }
    ps->p += 2;
    return true;
}

static bool parse_count(gparser *ps, uint64_t *out) {
    const char *s = ps->p;
    uint64_t v = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        if (v <= GRAMMAR_MAX_REPEAT) v = v * 10 + (uint64_t)(*ps->p - '0');
        ps->p++;
    }
    if (ps->p == s) {
        fail_at(ps, s, "expected a number");
        return false;
    }
    if (v > GRAMMAR_MAX_REPEAT) {
        fail_at(ps, s, "repetition count above the limit %d", GRAMMAR_MAX_REPEAT);
        return false;
    }
    *out = v;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Items of a sequence
 * ------------------------------------------------------------------------------------- */

static void parse_literal(gparser *ps, uint32_t rule) {
    const char *open = ps->p++;
    while (!ps->failed) {
        if (ps->p >= ps->end) {
            fail_at(ps, open, "unterminated string literal");
            return;
        }
        if (*ps->p == '"') {
            ps->p++;
            return;
        }
        uint32_t cp;
        if (parse_char(ps, &cp)) push_elem(ps, rule, GE_CHAR, cp);
    }
}

static void parse_class(gparser *ps, uint32_t rule) {
    const char *open = ps->p++;
    bool negated = ps->p < ps->end && *ps->p == '^';
    if (negated) ps->p++;
    uint32_t first = ps->n_ranges;
    while (!ps->failed) {
        if (ps->p >= ps->end) {
            fail_at(ps, open, "unterminated character class '['");
            return;
        }
        if (*ps->p == ']') {
            ps->p++;
            break;
        }
        const char *at = ps->p;
        uint32_t lo, hi;
        if (!parse_char(ps, &lo)) return;
        hi = lo;
        if (ps->p + 1 < ps->end && ps->p[0] == '-' && ps->p[1] != ']') {
            ps->p++;
            if (!parse_char(ps, &hi)) return;
            if (hi < lo) {
                fail_at(ps, at, "empty range in a character class (U+%04X > U+%04X)", lo, hi);
                return;
            }
        }
        GROW(ps->ranges, ps->n_ranges, ps->cap_ranges);
        ps->ranges[ps->n_ranges++] = (cp_range){lo, hi};
    }
    uint32_t n = ps->n_ranges - first;
    if (!negated && n == 1 && ps->ranges[first].lo == ps->ranges[first].hi) {
        push_elem(ps, rule, GE_CHAR, ps->ranges[first].lo);     /* [a] is "a" */
        ps->n_ranges = first;
        return;
    }
    GROW(ps->classes, ps->n_classes, ps->cap_classes);
    ps->classes[ps->n_classes] = (char_class){first, n, negated};
    push_elem(ps, rule, GE_CLASS, ps->n_classes++);
}

/* <[id]>, <text> or either after '!'. */
static void parse_token(gparser *ps, uint32_t rule) {
    const char *at = ps->p;
    bool negated = *ps->p == '!';
    if (negated) ps->p++;
    if (ps->p >= ps->end || *ps->p != '<') {
        fail_at(ps, at, "'!' must be followed by a token such as <[123]> or <text>");
        return;
    }
    const char *open = ps->p++;
    gram_token t = {NULL, -1, 0, 0};
    line_col(ps->start, at, &t.line, &t.col);
    if (ps->p < ps->end && *ps->p == '[') {
        ps->p++;
        int64_t id = 0;
        const char *digits = ps->p;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (id < INT32_MAX) id = id * 10 + (*ps->p - '0');
            ps->p++;
        }
        if (ps->p == digits || ps->p + 1 >= ps->end || ps->p[0] != ']' || ps->p[1] != '>') {
            fail_at(ps, open, "a token id is written <[123]>");
            return;
        }
        if (id >= INT32_MAX) {
            fail_at(ps, open, "token id too large");
            return;
        }
        ps->p += 2;
        t.id = (int32_t)id;
    } else {
        const char *s = ps->p;
        while (ps->p < ps->end && *ps->p != '>' && *ps->p != '\n') ps->p++;
        if (ps->p >= ps->end || *ps->p != '>' || ps->p == s) {
            fail_at(ps, open, "a token is written <text> or <[id]> on one line");
            return;
        }
        ps->p++;
        size_t n = (size_t)(ps->p - open);
        t.text = xmalloc(n + 1);
        memcpy(t.text, open, n);
        t.text[n] = 0;
    }
    GROW(ps->tokens, ps->n_tokens, ps->cap_tokens);
    ps->tokens[ps->n_tokens] = t;
    push_elem(ps, rule, negated ? GE_TOKEN_NOT : GE_TOKEN, ps->n_tokens++);
}

static void parse_alternates(gparser *ps, uint32_t rule, bool nested);

static void parse_group(gparser *ps, uint32_t rule) {
    const char *open = ps->p++;
    skip_space(ps, true);
    uint32_t sub = new_rule(ps, NULL, ps->rules[rule].origin);
    parse_alternates(ps, sub, true);
    if (ps->failed) return;
    if (ps->p >= ps->end || *ps->p != ')') {
        char buf[16];
        int line, col;
        line_col(ps->start, open, &line, &col);
        fail_at(ps, ps->p, "expected ')' for the '(' on line %d, column %d, found %s", line, col,
                show_char(ps->p, ps->end, buf));
        return;
    }
    ps->p++;
    push_elem(ps, rule, GE_REF, sub);
}

/* Replace the item at body[item..n) by its repetition min..max times (max UINT64_MAX: no
 * bound), with the generated rules of grammar.h. */
static void repeat(gparser *ps, uint32_t rule, uint32_t item, uint64_t min, uint64_t max) {
    elem_vec *b = &ps->rules[rule].body;
    uint32_t len = b->n - item;
    if (len == 0) return;                         /* "" repeated is still "" */
    bool unbounded = max == UINT64_MAX;
    uint64_t copies = min + (unbounded ? 1 : max - min);
    if (copies * (len + 3) + ps->n_elems > GRAMMAR_MAX_ELEMS) {
        fail_at(ps, ps->p, "the grammar is too large (more than %u elements)", GRAMMAR_MAX_ELEMS);
        return;
    }
    gram_elem *x = xmalloc(len * sizeof *x);
    memcpy(x, b->v + item, len * sizeof *x);
    b->n = item;
    ps->n_elems -= len;
    for (uint64_t i = 0; i < min; i++)
        for (uint32_t k = 0; k < len; k++) push_elem(ps, rule, x[k].op, x[k].value);
    uint32_t origin = ps->rules[rule].origin, last = 0;
    uint64_t n_opt = unbounded ? 1 : max - min;
    for (uint64_t i = 0; i < n_opt; i++) {
        uint32_t r = new_rule(ps, NULL, origin);
        for (uint32_t k = 0; k < len; k++) push_elem(ps, r, x[k].op, x[k].value);
        if (unbounded) push_elem(ps, r, GE_REF, r);           /* R ::= S R | */
        else if (i > 0) push_elem(ps, r, GE_REF, last);       /* R(k) ::= S R(k-1) | */
        push_elem(ps, r, GE_ALT, 0);
        push_elem(ps, r, GE_END, 0);
        last = r;
    }
    if (n_opt > 0) push_elem(ps, rule, GE_REF, last);
    free(x);
}

/* {m}, {m,}, {m,n} after '{': its bounds; false (and the parser failed) if malformed. */
static bool parse_braces(gparser *ps, uint64_t *min_out, uint64_t *max_out) {
    const char *open = ps->p++;
    uint64_t min, max;
    skip_space(ps, false);
    if (!parse_count(ps, &min)) return false;
    skip_space(ps, false);
    if (ps->p < ps->end && *ps->p == '}') {
        max = min;
    } else if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        skip_space(ps, false);
        max = UINT64_MAX;
        if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && !parse_count(ps, &max)) return false;
        skip_space(ps, false);
        if (ps->p >= ps->end || *ps->p != '}') {
            fail_at(ps, open, "a repetition is written {m}, {m,} or {m,n}");
            return false;
        }
        if (max < min) {
            fail_at(ps, open, "repetition {%llu,%llu}: the maximum is below the minimum",
                    (unsigned long long)min, (unsigned long long)max);
            return false;
        }
    } else {
        fail_at(ps, open, "a repetition is written {m}, {m,} or {m,n}");
        return false;
    }
    ps->p++;
    *min_out = min;
    *max_out = max;
    return true;
}

/* A repetition {c,d} of an item that is itself X{a,b}, as one repetition of X where that is
 * the same language: when a <= 1 <= b, the counts k x [a, b] for k in [c, d] leave no gaps,
 * so X{a,b}{c,d} = X{a*c, b*d}. Nested, "x+++..." would be one rule inside the next, and
 * their ways of splitting the same text multiply with each level (a fuzzed grammar with 23
 * stacked '+' kept the matcher busy for minutes). */
static bool combine_repeats(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t *min, uint64_t *max) {
    if (a > 1 || b < 1) return false;
    *min = a * c;
    if (d == 0) *max = 0; /* X{a,b}{0,0}: the empty string, however many X could be */
    else if (b == UINT64_MAX || d == UINT64_MAX) *max = UINT64_MAX;
    else if (b > (UINT64_MAX - 1) / d) return false; /* too large either way: repeat() says so */
    else *max = b * d;
    return true;
}

/* Items until something that cannot start or modify one ('|', ')', a line end when not
 * nested, the end). */
static void parse_sequence(gparser *ps, uint32_t rule, bool nested) {
    uint32_t item = UINT32_MAX;              /* where the last item starts in the body */
    gram_elem *base = NULL;                  /* when the last item is a repetition: what it */
    uint32_t base_len = 0;                   /* repeats, and how often (rep_min..rep_max) */
    uint64_t rep_min = 0, rep_max = 0;
    while (!ps->failed && ps->p < ps->end) {
        char c = *ps->p;
        uint32_t here = ps->rules[rule].body.n;
        if (c == '"') {
            parse_literal(ps, rule);
        } else if (c == '[') {
            parse_class(ps, rule);
        } else if (c == '<' || c == '!') {
            parse_token(ps, rule);
        } else if (c == '(') {
            parse_group(ps, rule);
        } else if (c == '.') {
            ps->p++;
            push_elem(ps, rule, GE_ANY, 0);
        } else if (is_name_char(c)) {
            const char *s = ps->p;
            while (ps->p < ps->end && is_name_char(*ps->p)) ps->p++;
            uint32_t r = rule_named(ps, s, (size_t)(ps->p - s));
            if (!ps->rules[r].first_ref) ps->rules[r].first_ref = s;
            push_elem(ps, rule, GE_REF, r);
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (item == UINT32_MAX) {
                fail_at(ps, ps->p, "'%c' has nothing before it to repeat", c);
                return;
            }
            uint64_t min = c == '+', max = c == '?' ? 1 : UINT64_MAX;
            if (c == '{') {
                if (!parse_braces(ps, &min, &max)) break;
            } else {
                ps->p++;
            }
            elem_vec *b = &ps->rules[rule].body;
            if (base && combine_repeats(rep_min, rep_max, min, max, &min, &max)) {
                b->n = item;                 /* the repetition again, of what it repeated */
                ps->n_elems -= here - item;
                for (uint32_t k = 0; k < base_len; k++) push_elem(ps, rule, base[k].op, base[k].value);
            } else {
                free(base);
                base_len = b->n - item;
                base = xmalloc((base_len ? base_len : 1) * sizeof *base);
                if (base_len) memcpy(base, b->v + item, base_len * sizeof *base); /* "" has no elements */
            }
            rep_min = min;
            rep_max = max;
            repeat(ps, rule, item, min, max);
            skip_space(ps, nested);
            continue;                        /* the repetition is now the last item */
        } else {
            break;
        }
        item = here;
        free(base);
        base = NULL;
        skip_space(ps, nested);
    }
    free(base);
}

static void parse_alternates(gparser *ps, uint32_t rule, bool nested) {
    parse_sequence(ps, rule, nested);
    while (!ps->failed && ps->p < ps->end && *ps->p == '|') {
        push_elem(ps, rule, GE_ALT, 0);
        ps->p++;
        skip_space(ps, true);
        parse_sequence(ps, rule, nested);
    }
    push_elem(ps, rule, GE_END, 0);
}

static void parse_rule(gparser *ps) {
    const char *s = ps->p;
    while (ps->p < ps->end && is_name_char(*ps->p)) ps->p++;
    if (ps->p == s) {
        char buf[16];
        fail_at(ps, s, "expected a rule name, found %s", show_char(s, ps->end, buf));
        return;
    }
    uint32_t r = rule_named(ps, s, (size_t)(ps->p - s));
    skip_space(ps, false);
    if (ps->end - ps->p < 3 || memcmp(ps->p, "::=", 3) != 0) {
        char buf[16];
        fail_at(ps, ps->p, "expected '::=' after the rule name '%s', found %s",
                ps->rules[r].name, show_char(ps->p, ps->end, buf));
        return;
    }
    if (ps->rules[r].defined) {
        int line, col;
        line_col(ps->start, ps->rules[r].defined_at, &line, &col);
        fail_at(ps, s, "rule '%s' is already defined on line %d", ps->rules[r].name, line);
        return;
    }
    ps->rules[r].defined = true;
    ps->rules[r].defined_at = s;
    ps->p += 3;
    skip_space(ps, true);
    parse_alternates(ps, r, false);
    if (ps->failed) return;
    if (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '\r' || c == '\n') {
            ps->p++;
        } else if (c == ':' && ps->end - ps->p >= 3 && memcmp(ps->p, "::=", 3) == 0) {
            fail_at(ps, ps->p, "unexpected '::=' (a line ending in '|' continues the rule "
                               "on the next line)");
            return;
        } else {
            char buf[16];
            fail_at(ps, ps->p, "unexpected %s", show_char(ps->p, ps->end, buf));
            return;
        }
    }
    skip_space(ps, true);
}

/* ---------------------------------------------------------------------------------------
 * Checks and the flat form
 * ------------------------------------------------------------------------------------- */

static void check_references(gparser *ps, const char *root) {
    for (uint32_t r = 0; r < ps->n_rules && !ps->failed; r++) {
        const rule_build *rb = &ps->rules[r];
        if (rb->name && !rb->defined)
            fail_at(ps, rb->first_ref, "undefined rule '%s'", rb->name);
    }
    if (ps->failed) return;
    uint32_t n = (uint32_t)strlen(root);
    bool found = false;
    for (uint32_t r = 0; r < ps->n_rules && !found; r++)
        found = ps->rules[r].name && strlen(ps->rules[r].name) == n &&
                memcmp(ps->rules[r].name, root, n) == 0;
    if (!found) {
        ps->failed = true;
        set_err(ps->err, "grammar: no rule named '%s' (the start rule)", root);
    }
}

static grammar *flatten(gparser *ps, const char *root) {
    grammar *g = xcalloc(1, sizeof *g);
    g->n_rules = ps->n_rules;
    g->rules = xmalloc((size_t)(ps->n_rules ? ps->n_rules : 1) * sizeof *g->rules);
    size_t total = 0;
    for (uint32_t r = 0; r < ps->n_rules; r++) total += ps->rules[r].body.n;
    g->elems = xmalloc((total ? total : 1) * sizeof *g->elems);
    for (uint32_t r = 0; r < ps->n_rules; r++) {
        rule_build *rb = &ps->rules[r];
        g->rules[r] = (gram_rule){rb->name, (uint32_t)g->n_elems, rb->origin};
        rb->name = NULL;                     /* now owned by g */
        memcpy(g->elems + g->n_elems, rb->body.v, rb->body.n * sizeof *g->elems);
        g->n_elems += rb->body.n;
        if (g->rules[r].name && strcmp(g->rules[r].name, root) == 0) g->root = r;
    }
    g->classes = ps->classes;
    g->n_classes = ps->n_classes;
    g->ranges = ps->ranges;
    g->n_ranges = ps->n_ranges;
    g->tokens = ps->tokens;
    g->n_tokens = ps->n_tokens;
    ps->classes = NULL;
    ps->ranges = NULL;
    ps->tokens = NULL;
    ps->n_tokens = 0;
    return g;
}

const char *grammar_rule_name(const grammar *g, uint32_t r) {
    const char *name = r < g->n_rules ? g->rules[g->rules[r].origin].name : NULL;
    return name ? name : "?";
}

/* nullable[r]: rule r can match the empty string (a fixed point over the rules). */
static bool *nullable_rules(const grammar *g) {
    bool *nullable = xcalloc(g->n_rules ? g->n_rules : 1, sizeof *nullable);
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t r = 0; r < g->n_rules; r++) {
            if (nullable[r]) continue;
            bool empty_so_far = true;
            for (const gram_elem *e = g->elems + g->rules[r].start;; e++) {
                if (gram_is_end(*e)) {
                    if (empty_so_far) { nullable[r] = changed = true; break; }
                    if (e->op == GE_END) break;
                    empty_so_far = true;         /* next alternative */
                } else if (e->op != GE_REF || !nullable[e->value]) {
                    empty_so_far = false;
                }
            }
        }
    }
    return nullable;
}

/* Left edges r -> s: s is referenced where everything before it in an alternative of r can
 * be empty. A cycle of left edges is left recursion; found by an iterative depth-first
 * search (a grammar can have 100000 generated rules in a chain) and reported with its path. */
static int check_left_recursion(const grammar *g, char *err) {
    bool *nullable = nullable_rules(g);
    uint32_t n = g->n_rules;
    /* the left edges of every rule, as lists */
    uint32_t *edge_first = xcalloc((size_t)n + 1, sizeof *edge_first);
    uint32_t *edges = NULL;
    uint32_t n_edges = 0, cap_edges = 0;
    for (uint32_t r = 0; r < n; r++) {
        edge_first[r] = n_edges;
        bool left = true;
        for (const gram_elem *e = g->elems + g->rules[r].start;; e++) {
            if (gram_is_end(*e)) {
                if (e->op == GE_END) break;
                left = true;
            } else if (left && e->op == GE_REF) {
                GROW(edges, n_edges, cap_edges);
                edges[n_edges++] = e->value;
                left = nullable[e->value];
            } else {
                left = false;
            }
        }
    }
    edge_first[n] = n_edges;
    enum { WHITE, GRAY, BLACK };
    uint8_t *color = xcalloc(n ? n : 1, 1);
    uint32_t *stack = xmalloc((size_t)(n ? n : 1) * sizeof *stack);   /* rule on the path */
    uint32_t *next = xmalloc((size_t)(n ? n : 1) * sizeof *next);     /* its next edge */
    int rc = 0;
    for (uint32_t s = 0; s < n && rc == 0; s++) {
        if (color[s] != WHITE) continue;
        uint32_t depth = 0;
        stack[depth] = s;
        next[depth] = edge_first[s];
        color[s] = GRAY;
        depth++;
        while (depth > 0 && rc == 0) {
            uint32_t r = stack[depth - 1];
            if (next[depth - 1] == edge_first[r + 1]) {
                color[r] = BLACK;
                depth--;
                continue;
            }
            uint32_t t = edges[next[depth - 1]++];
            if (color[t] == WHITE) {
                color[t] = GRAY;
                stack[depth] = t;
                next[depth] = edge_first[t];
                depth++;
            } else if (color[t] == GRAY) {   /* a cycle: t ... r -> t */
                uint32_t from = depth - 1;
                while (stack[from] != t) from--;
                strbuf path = {0};
                const char *last = NULL;
                for (uint32_t i = from; i < depth; i++) {
                    const char *name = grammar_rule_name(g, stack[i]);
                    if (last && strcmp(last, name) == 0) continue;
                    if (path.n > 200) { sb_puts(&path, " -> ..."); break; }
                    sb_printf(&path, "%s%s", last ? " -> " : "", name);
                    last = name;
                }
                sb_printf(&path, " -> %s", grammar_rule_name(g, t));
                rc = set_err(err, "grammar: rule '%s' can reach itself without consuming any "
                             "input (%s): left recursion, or a repetition of something that "
                             "can be empty", grammar_rule_name(g, t), path.p);
                sb_free(&path);
            }
        }
    }
    free(nullable);
    free(edge_first);
    free(edges);
    free(color);
    free(stack);
    free(next);
    return rc;
}

static void parser_free(gparser *ps) {
    for (uint32_t r = 0; r < ps->n_rules; r++) {
        free(ps->rules[r].name);
        free(ps->rules[r].body.v);
    }
    free(ps->rules);
    free(ps->names);
    free(ps->classes);
    free(ps->ranges);
    for (uint32_t i = 0; i < ps->n_tokens; i++) free(ps->tokens[i].text);
    free(ps->tokens);
}

grammar *grammar_parse(const char *text, size_t len, const char *root, char *err) {
    if (!root) root = "root";
    if (!text) text = "";
    gparser ps = {0};
    ps.start = ps.p = text;
    ps.end = text + len;
    ps.err = err;
    skip_space(&ps, true);
    while (!ps.failed && ps.p < ps.end) parse_rule(&ps);
    if (!ps.failed) check_references(&ps, root);
    grammar *g = ps.failed ? NULL : flatten(&ps, root);
    parser_free(&ps);
    if (g && check_left_recursion(g, err)) {
        grammar_free(g);
        g = NULL;
    }
    return g;
}

void grammar_free(grammar *g) {
    if (!g) return;
    for (uint32_t r = 0; r < g->n_rules; r++) free(g->rules[r].name);
    for (uint32_t i = 0; i < g->n_tokens; i++) free(g->tokens[i].text);
    free(g->rules);
    free(g->elems);
    free(g->classes);
    free(g->ranges);
    free(g->tokens);
    free(g);
}

int grammar_resolve_tokens(grammar *g, grammar_token_finder find, void *ctx, int32_t n_vocab,
                           char *err) {
    for (uint32_t i = 0; i < g->n_tokens; i++) {
        gram_token *t = &g->tokens[i];
        if (t->text) t->id = find ? find(ctx, t->text, strlen(t->text)) : -1;
        if (t->text && t->id < 0)
            return set_err(err, "grammar: line %d, column %d: %s is not a token of this "
                           "model's vocabulary", t->line, t->col, t->text);
        if (t->id < 0 || t->id >= n_vocab)
            return set_err(err, "grammar: line %d, column %d: token id %d is outside the "
                           "vocabulary (%d tokens)", t->line, t->col, t->id, n_vocab);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Character matching
 * ------------------------------------------------------------------------------------- */

bool grammar_char_matches(const grammar *g, gram_elem e, uint32_t c) {
    if (e.op == GE_CHAR) return e.value == c;
    if (e.op == GE_ANY) return true;
    const char_class *k = &g->classes[e.value];
    bool in = false;
    for (uint32_t i = 0; i < k->n && !in; i++)
        in = g->ranges[k->first + i].lo <= c && c <= g->ranges[k->first + i].hi;
    return in != k->negated;
}

bool grammar_char_range_matches(const grammar *g, gram_elem e, uint32_t lo, uint32_t hi) {
    if (e.op == GE_CHAR) return lo <= e.value && e.value <= hi;
    if (e.op == GE_ANY) return true;
    const char_class *k = &g->classes[e.value];
    if (!k->negated) {
        for (uint32_t i = 0; i < k->n; i++)
            if (g->ranges[k->first + i].lo <= hi && lo <= g->ranges[k->first + i].hi) return true;
        return false;
    }
    /* negated: is some code point of [lo, hi] outside every range? Walk lo upwards past the
     * ranges that cover it (at most n steps per pass, n passes). */
    for (uint32_t pass = 0; pass <= k->n; pass++) {
        bool moved = false;
        for (uint32_t i = 0; i < k->n; i++) {
            cp_range r = g->ranges[k->first + i];
            if (r.lo <= lo && lo <= r.hi) {
                if (r.hi >= hi) return false;
                lo = r.hi + 1;
                moved = true;
            }
        }
        if (!moved) return true;
    }
    return true;
}
