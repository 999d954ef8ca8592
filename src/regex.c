/* regex.c - a regular expression subset to GBNF (see regex.h).
 *
 *   regex_to_gbnf   anchors at the ends, then parse_alternatives -> parse_sequence ->
 *                   parse_atom (+ quantifier); every character set becomes emit_set()'s
 *                   expression in the output's encoding
 *   char sets       sorted, merged code point ranges (cset_*)
 *   regex_match     the expression as a grammar, matched by grammar_match */
#include "regex.h"

#include <stdarg.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "grammar_match.h"
#include "util.h"

#define MAX_CP 0x10FFFFu

/* ---------------------------------------------------------------------------------------
 * Character sets
 * ------------------------------------------------------------------------------------- */

typedef struct { cp_range *r; uint32_t n, cap; } cset;

static void cset_add(cset *s, uint32_t lo, uint32_t hi) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->r = xrealloc(s->r, s->cap * sizeof *s->r);
    }
    s->r[s->n++] = (cp_range){lo, hi};
}

static int cmp_range(const void *a, const void *b) {
    const cp_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort and merge overlapping or adjacent ranges. */
static void cset_normalize(cset *s) {
    if (s->n < 2) return;
    qsort(s->r, s->n, sizeof *s->r, cmp_range);
    uint32_t k = 0;
    for (uint32_t i = 1; i < s->n; i++) {
        if (s->r[i].lo <= s->r[k].hi + 1) {
            if (s->r[i].hi > s->r[k].hi) s->r[k].hi = s->r[i].hi;
        } else {
            s->r[++k] = s->r[i];
        }
    }
    s->n = k + 1;
}

static void cset_complement(cset *s) {
    cset_normalize(s);
    cset c = {0};
    uint32_t next = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->r[i].lo > next) cset_add(&c, next, s->r[i].lo - 1);
        next = s->r[i].hi + 1;
    }
    if (next <= MAX_CP) cset_add(&c, next, MAX_CP);
    free(s->r);
    *s = c;
}

/* s minus [lo, hi] (s normalized). */
static void cset_remove(cset *s, uint32_t lo, uint32_t hi) {
    cset c = {0};
    for (uint32_t i = 0; i < s->n; i++) {
        cp_range r = s->r[i];
        if (r.hi < lo || r.lo > hi) { cset_add(&c, r.lo, r.hi); continue; }
        if (r.lo < lo) cset_add(&c, r.lo, lo - 1);
        if (r.hi > hi) cset_add(&c, hi + 1, r.hi);
    }
    free(s->r);
    *s = c;
}

static bool cset_has(const cset *s, uint32_t c) {
    for (uint32_t i = 0; i < s->n; i++)
        if (s->r[i].lo <= c && c <= s->r[i].hi) return true;
    return false;
}

void gbnf_class_char(strbuf *b, uint32_t c) {
    if (c == '^') {
        sb_puts(b, "\\x5E");         /* GBNF has no \^, and a raw ^ first would negate */
    } else if (c == '\\' || c == ']' || c == '-' || c == '"' || c == '[') {
        sb_putc(b, '\\');
        sb_putc(b, (char)c);
    } else if (c >= 0x20 && c < 0x7f) {
        sb_putc(b, (char)c);
    } else if (c < 0x100) {
        sb_printf(b, "\\x%02X", c);
    } else if (c < 0x10000) {
        sb_printf(b, "\\u%04X", c);
    } else {
        sb_printf(b, "\\U%08X", c);
    }
}

/* A GBNF class for a normalized non-empty set, as [..] or as [^..] of its complement when
 * that is shorter. */
static void put_class(strbuf *b, const cset *s) {
    cset c = {0};
    for (uint32_t i = 0; i < s->n; i++) cset_add(&c, s->r[i].lo, s->r[i].hi);
    cset_complement(&c);
    bool negate = c.n < s->n;
    const cset *show = negate ? &c : s;
    sb_puts(b, negate ? "[^" : "[");
    for (uint32_t i = 0; i < show->n; i++) {
        gbnf_class_char(b, show->r[i].lo);
        if (show->r[i].hi != show->r[i].lo) {
            if (show->r[i].hi > show->r[i].lo + 1) sb_putc(b, '-');
            gbnf_class_char(b, show->r[i].hi);
        }
    }
    sb_putc(b, ']');
    free(c.r);
}

/* ---------------------------------------------------------------------------------------
 * The parser
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const char *start, *p, *end;
    regex_encoding enc;
    strbuf *out;
    char *err;
    bool failed;
    int depth;
} rparser;

static void fail(rparser *ps, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = true;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(ps->err, "pattern: %s (at character %d)", what, (int)(ps->p - ps->start) + 1);
}

/* The set, written for the output: the characters that can stand as they are in a class,
 * plus, for JSON, the escapes of " \ and the named control characters. */
static void emit_set(rparser *ps, cset *s) {
    cset_normalize(s);
    static const struct { uint32_t c; const char *esc; } named[] = {
        {'"', "\\\\\\\""}, {'\\', "\\\\\\\\"}, {'\b', "\\\\b"}, {'\f', "\\\\f"},
        {'\n', "\\\\n"}, {'\r', "\\\\r"}, {'\t', "\\\\t"},
    };
    bool has_named[7] = {false};
    if (ps->enc == REGEX_JSON) {
        for (int i = 0; i < 7; i++) has_named[i] = cset_has(s, named[i].c);
        cset_remove(s, 0, 0x1F);
        cset_remove(s, '"', '"');
        cset_remove(s, '\\', '\\');
    } else if (ps->enc == REGEX_GEMMA4) {
        cset_remove(s, '<', '<');
    }
    int n_alt = s->n > 0;
    for (int i = 0; i < 7; i++) n_alt += has_named[i];
    if (n_alt == 0) {
        fail(ps, ps->enc == REGEX_GEMMA4 ? "only '<', which a Gemma 4 tool-call string cannot "
                                           "hold, or nothing can match here"
                                         : "a character set that can match nothing");
        return;
    }
    if (n_alt > 1) sb_putc(ps->out, '(');
    bool first = true;
    if (s->n > 0) {
        if (s->n == 1 && s->r[0].lo == s->r[0].hi) {
            sb_putc(ps->out, '"');
            gbnf_class_char(ps->out, s->r[0].lo);
            sb_putc(ps->out, '"');
        } else {
            put_class(ps->out, s);
        }
        first = false;
    }
    for (int i = 0; i < 7; i++) {
        if (!has_named[i]) continue;
        sb_printf(ps->out, "%s\"%s\"", first ? "" : " | ", named[i].esc);
        first = false;
    }
    if (n_alt > 1) sb_putc(ps->out, ')');
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static uint32_t read_hex(rparser *ps, int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        int d = ps->p < ps->end ? hexval(*ps->p) : -1;
        if (d < 0) {
            fail(ps, "expected %d hex digits", digits);
            return 0;
        }
        v = v << 4 | (uint32_t)d;
        ps->p++;
    }
    return v;
}

/* One UTF-8 character of the pattern. */
static uint32_t read_utf8(rparser *ps) {
    const unsigned char *s = (const unsigned char *)ps->p;
    size_t avail = (size_t)(ps->end - ps->p);
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > avail) goto bad;
    uint32_t v = len == 1 ? c : c & (0x3Fu >> (len - 1));
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) goto bad;
        v = v << 6 | (s[k] & 0x3F);
    }
    if (v > MAX_CP || (v >= 0xD800 && v <= 0xDFFF) ||
        (len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000))
        goto bad;
    ps->p += len;
    return v;
bad:
    fail(ps, "invalid UTF-8");
    return 0;
}

static void add_class_escape(cset *s, char e, bool *handled) {
    *handled = true;
    cset x = {0};
    switch (e) {
    case 'd': case 'D': cset_add(&x, '0', '9'); break;
    case 'w': case 'W':
        cset_add(&x, '0', '9');
        cset_add(&x, 'A', 'Z');
        cset_add(&x, '_', '_');
        cset_add(&x, 'a', 'z');
        break;
    case 's': case 'S':
        cset_add(&x, '\t', '\r');
        cset_add(&x, ' ', ' ');
        cset_add(&x, 0xA0, 0xA0);
        cset_add(&x, 0x1680, 0x1680);
        cset_add(&x, 0x2000, 0x200A);
        cset_add(&x, 0x2028, 0x2029);
        cset_add(&x, 0x202F, 0x202F);
        cset_add(&x, 0x205F, 0x205F);
        cset_add(&x, 0x3000, 0x3000);
        cset_add(&x, 0xFEFF, 0xFEFF);
        break;
    default: *handled = false; return;
    }
    if (e == 'D' || e == 'W' || e == 'S') cset_complement(&x);
    for (uint32_t i = 0; i < x.n; i++) cset_add(s, x.r[i].lo, x.r[i].hi);
    free(x.r);
}

/* A single-character escape after '\' (the backslash consumed): its code point. */
static uint32_t char_escape(rparser *ps, bool in_class) {
    if (ps->p >= ps->end) {
        fail(ps, "'\\' at the end");
        return 0;
    }
    char e = *ps->p++;
    switch (e) {
    case 't': return '\t';
    case 'n': return '\n';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0':
        if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') break;
        return 0;
    case 'x': return read_hex(ps, 2);
    case 'u': return read_hex(ps, 4);
    case 'b':
        if (in_class) return '\b';
        fail(ps, "word boundaries (\\b) are not supported");
        return 0;
    default:
        if ((unsigned char)e >= 0x80 || !((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
                                          (e >= '0' && e <= '9'))) {
            ps->p--;
            return read_utf8(ps);              /* an escaped punctuation mark or symbol */
        }
    }
    ps->p--;
    if (e >= '1' && e <= '9') fail(ps, "backreferences are not supported");
    else fail(ps, "unknown escape '\\%c'", e);
    return 0;
}

/* [...] after '[' */
static void parse_class(rparser *ps, cset *s) {
    bool negate = ps->p < ps->end && *ps->p == '^';
    if (negate) ps->p++;
    bool first = true;
    while (!ps->failed) {
        if (ps->p >= ps->end) {
            fail(ps, "unterminated '['");
            return;
        }
        if (*ps->p == ']' && !first) {
            ps->p++;
            break;
        }
        first = false;
        uint32_t lo;
        if (*ps->p == '[' && ps->p + 1 < ps->end && ps->p[1] == ':') {
            fail(ps, "POSIX classes ([:alpha:]) are not supported");
            return;
        }
        if (*ps->p == '\\') {
            ps->p++;
            bool handled = false;
            if (ps->p < ps->end) add_class_escape(s, *ps->p, &handled);
            if (handled) {
                ps->p++;
                continue;
            }
            lo = char_escape(ps, true);
        } else {
            lo = read_utf8(ps);
        }
        if (ps->failed) return;
        uint32_t hi = lo;
        if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
            ps->p++;
            if (*ps->p == '\\') {
                ps->p++;
                hi = char_escape(ps, true);
            } else {
                hi = read_utf8(ps);
            }
            if (ps->failed) return;
            if (hi < lo) {
                fail(ps, "range out of order in a class");
                return;
            }
        }
        cset_add(s, lo, hi);
    }
    if (negate) cset_complement(s);
}

static bool parse_alternatives(rparser *ps);

/* Parse one atom into the output; *nullable: it can match the empty string. Returns false
 * when there is no atom here. */
static bool parse_atom(rparser *ps, bool *nullable) {
    char c = *ps->p;
    *nullable = false;
    cset s = {0};
    if (c == '(') {
        ps->p++;
        if (ps->p < ps->end && *ps->p == '?') {
            ps->p++;
            if (ps->p < ps->end && *ps->p == ':') {
                ps->p++;
            } else if (ps->p < ps->end && (*ps->p == '<' || *ps->p == 'P') &&
                       !(ps->p + 1 < ps->end && (ps->p[1] == '=' || ps->p[1] == '!'))) {
                if (*ps->p == 'P') ps->p++;             /* (?P<name> */
                while (ps->p < ps->end && *ps->p != '>') ps->p++;
                if (ps->p >= ps->end) { fail(ps, "unterminated group name"); return true; }
                ps->p++;
            } else {
                fail(ps, "lookaround and other (? groups are not supported");
                return true;
            }
        }
        if (++ps->depth > 100) { fail(ps, "groups nested too deeply"); return true; }
        *nullable = parse_alternatives(ps);
        ps->depth--;
        if (ps->failed) return true;
        if (ps->p >= ps->end || *ps->p != ')') { fail(ps, "missing ')'"); return true; }
        ps->p++;
        return true;
    }
    if (c == '[') {
        ps->p++;
        parse_class(ps, &s);
    } else if (c == '.') {
        ps->p++;
        cset_add(&s, '\n', '\n');
        cset_add(&s, '\r', '\r');
        cset_complement(&s);
    } else if (c == '\\') {
        ps->p++;
        bool handled = false;
        if (ps->p < ps->end) add_class_escape(&s, *ps->p, &handled);
        if (handled) ps->p++;
        else {
            uint32_t cp = char_escape(ps, false);
            cset_add(&s, cp, cp);
        }
    } else if (c == '^' || c == '$') {
        fail(ps, "'%c' is supported only at the start ('^') or the end ('$') of the pattern", c);
    } else if (c == '*' || c == '+' || c == '?') {
        fail(ps, "'%c' has nothing to repeat", c);
    } else if (c == ')' ) {
        fail(ps, "unbalanced ')'");
    } else if (c == '|') {
        free(s.r);
        return false;
    } else {
        uint32_t cp = read_utf8(ps);
        cset_add(&s, cp, cp);
    }
    if (!ps->failed) emit_set(ps, &s);
    free(s.r);
    return true;
}

/* A quantifier after an atom, if there is one: {m}, {m,}, {m,n} or * + ?; a '{' that does
 * not start one is a literal (as ECMA-262 reads it outside unicode mode). Returns its
 * minimum count, or -1 if there is none. */
static long parse_quantifier(rparser *ps, bool nullable) {
    if (ps->p >= ps->end) return -1;
    char c = *ps->p;
    unsigned long min = 0, max = ULONG_MAX;
    if (c == '*' || c == '+' || c == '?') {
        ps->p++;
        min = c == '+';
        max = c == '?' ? 1 : ULONG_MAX;
    } else if (c == '{') {
        const char *q = ps->p + 1;
        char *end;
        if (q >= ps->end || *q < '0' || *q > '9') return -1;
        min = strtoul(q, &end, 10);
        q = end;
        if (q < ps->end && *q == '}') {
            max = min;
        } else if (q < ps->end && *q == ',') {
            q++;
            if (q < ps->end && *q >= '0' && *q <= '9') {
                max = strtoul(q, &end, 10);
                q = end;
            }
            if (q >= ps->end || *q != '}') return -1;
        } else {
            return -1;
        }
        ps->p = q + 1;
        if (max < min) { fail(ps, "quantifier {%lu,%lu} out of order", min, max); return 0; }
        if (min > GRAMMAR_MAX_REPEAT || (max != ULONG_MAX && max > GRAMMAR_MAX_REPEAT)) {
            fail(ps, "repetition count above the limit %d", GRAMMAR_MAX_REPEAT);
            return 0;
        }
    } else {
        return -1;
    }
    if (ps->p < ps->end && *ps->p == '?') ps->p++;            /* lazy: same strings */
    if (nullable && max == ULONG_MAX) {
        fail(ps, "an unbounded repetition of something that can be empty is not supported");
        return 0;
    }
    if (min == 0 && max == ULONG_MAX) sb_putc(ps->out, '*');
    else if (min == 1 && max == ULONG_MAX) sb_putc(ps->out, '+');
    else if (min == 0 && max == 1) sb_putc(ps->out, '?');
    else if (max == ULONG_MAX) sb_printf(ps->out, "{%lu,}", min);
    else if (min == max) sb_printf(ps->out, "{%lu}", min);
    else sb_printf(ps->out, "{%lu,%lu}", min, max);
    return (long)min;
}

/* Items until '|', ')' or the end; returns whether the sequence can be empty. */
static bool parse_sequence(rparser *ps) {
    bool nullable = true;
    while (!ps->failed && ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
        bool atom_nullable;
        sb_putc(ps->out, ' ');
        if (!parse_atom(ps, &atom_nullable)) break;
        long min = parse_quantifier(ps, atom_nullable);
        if (min >= 0 && !ps->failed && parse_quantifier(ps, false) >= 0)
            fail(ps, "a quantifier after a quantifier");
        if (!atom_nullable && min != 0) nullable = false;
    }
    return nullable;
}

static bool parse_alternatives(rparser *ps) {
    sb_puts(ps->out, "(");
    bool nullable = parse_sequence(ps);
    while (!ps->failed && ps->p < ps->end && *ps->p == '|') {
        ps->p++;
        sb_puts(ps->out, " |");
        if (parse_sequence(ps)) nullable = true;
    }
    sb_puts(ps->out, " )");
    return nullable;
}

/* Is there a '|' outside every group and class? */
static bool has_top_level_alternative(const char *p, const char *end) {
    int depth = 0;
    bool in_class = false;
    for (; p < end; p++) {
        if (*p == '\\') { p++; continue; }
        if (in_class) { if (*p == ']') in_class = false; continue; }
        if (*p == '[') in_class = true;
        else if (*p == '(') depth++;
        else if (*p == ')') depth--;
        else if (*p == '|' && depth == 0) return true;
    }
    return false;
}

static void emit_any_text(rparser *ps) {
    cset all = {0};
    cset_add(&all, 0, MAX_CP);
    sb_putc(ps->out, ' ');
    emit_set(ps, &all);
    sb_putc(ps->out, '*');
    free(all.r);
}

int regex_to_gbnf(strbuf *out, const char *pattern, size_t len, regex_encoding enc, char *err) {
    rparser ps = {pattern, pattern, pattern + len, enc, out, err, false, 0};
    const char *end = ps.end;
    bool start_anchor = len > 0 && pattern[0] == '^';
    /* a final '$' is an anchor unless escaped (an odd number of backslashes before it) */
    bool end_anchor = false;
    if (len > (size_t)start_anchor && pattern[len - 1] == '$') {
        size_t k = 0;
        while (k + 1 < len && pattern[len - 2 - k] == '\\') k++;
        end_anchor = k % 2 == 0;
    }
    if (start_anchor) ps.p++;
    if (end_anchor) ps.end = end - 1;
    if ((start_anchor || end_anchor) && has_top_level_alternative(ps.p, ps.end)) {
        set_err(err, "pattern: '^' or '$' with a top-level '|' is not supported; group the "
                     "alternatives: ^(a|b)$");
        return -1;
    }
    sb_puts(out, "(");
    if (!start_anchor) emit_any_text(&ps);
    sb_putc(out, ' ');
    parse_alternatives(&ps);
    if (!ps.failed && ps.p < ps.end) fail(&ps, "unbalanced ')'");
    if (!end_anchor && !ps.failed) emit_any_text(&ps);
    sb_puts(out, " )");
    return ps.failed ? -1 : 0;
}

int regex_match(const char *pattern, size_t len, const char *s, size_t n, char *err) {
    strbuf b = {0};
    sb_puts(&b, "root ::= ");
    if (regex_to_gbnf(&b, pattern, len, REGEX_RAW, err)) {
        sb_free(&b);
        return -1;
    }
    sb_putc(&b, '\n');
    grammar *g = grammar_parse(b.p, b.n, NULL, err);
    sb_free(&b);
    if (!g) return -1;
    gmatch *m = gmatch_new(g);
    int ok = gmatch_accept_text(m, s, n) && gmatch_is_complete(m);
    gmatch_free(m);
    grammar_free(g);
    return ok;
}
