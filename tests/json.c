/* json.c - a recursive-descent JSON reader into a small tree (see json.h). */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct json_value {
    json_type type;
    bool boolean;
    double number;
    char *str;                /* strings: UTF-8, NUL-terminated */
    size_t str_len;
    json_value **items;       /* arrays and objects */
    char **keys;              /* objects: keys[i] names items[i] */
    size_t n, cap;
};

typedef struct {
    const char *start, *p, *end;
    char *err;
    bool failed;
} parser;

/* Record the first error with its line and column (1-based, counted in bytes). */
static void fail(parser *ps, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = true;
    int line = 1, col = 1;
    for (const char *q = ps->start; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') { line++; col = 1; } else { col++; }
    }
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(ps->err, "json: line %d, column %d: %s", line, col, what);
}

static void skip_space(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* The next byte, or -1 at the end. */
static int peek(const parser *ps) { return ps->p < ps->end ? (unsigned char)*ps->p : -1; }

static json_value *new_value(json_type type) {
    json_value *v = xcalloc(1, sizeof *v);
    v->type = type;
    return v;
}

void json_free(json_value *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

/* ---- strings ---- */

typedef struct { char *buf; size_t len, cap; } byte_buf;

static void buf_push(byte_buf *b, const char *bytes, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 32;
        b->buf = xrealloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, bytes, n);
    b->len += n;
    b->buf[b->len] = 0;
}

static void buf_push_utf8(byte_buf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp; n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    buf_push(b, u, n);
}

/* Four hex digits after "\u"; -1 if malformed. */
static long read_hex4(parser *ps) {
    if (ps->end - ps->p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    ps->p += 4;
    return v;
}

/* A string starting at the opening quote; the decoded bytes go to *out (malloc'd). */
static bool parse_string_raw(parser *ps, char **out, size_t *out_len) {
    byte_buf b = {0};
    buf_push(&b, "", 0);
    ps->p++;                                  /* opening quote */
    for (;;) {
        int c = peek(ps);
        if (c < 0) { fail(ps, "unterminated string"); goto bad; }
        if (c == '"') { ps->p++; break; }
        if (c < 0x20) { fail(ps, "control character 0x%02x in a string", c); goto bad; }
        if (c != '\\') {                      /* a run of plain bytes */
            const char *run = ps->p;
            while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
                   (unsigned char)*ps->p >= 0x20)
                ps->p++;
            buf_push(&b, run, (size_t)(ps->p - run));
            continue;
        }
        ps->p++;                              /* backslash */
        int e = peek(ps);
        const char *simple = NULL;
        switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        case 'u': break;
        default:
            if (e < 0) fail(ps, "unterminated string");
            else fail(ps, "bad escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
            goto bad;
        }
        ps->p++;
        if (simple) { buf_push(&b, simple, 1); continue; }
        long cp = read_hex4(ps);
        if (cp < 0) { fail(ps, "bad \\u escape (need 4 hex digits)"); goto bad; }
        if (cp >= 0xDC00 && cp <= 0xDFFF) { fail(ps, "lone low surrogate \\u%04lx", cp); goto bad; }
        if (cp >= 0xD800 && cp <= 0xDBFF) {   /* high surrogate: a low one must follow */
            if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                fail(ps, "high surrogate \\u%04lx without a low one", cp);
                goto bad;
            }
            ps->p += 2;
            long lo = read_hex4(ps);
            if (lo < 0xDC00 || lo > 0xDFFF) {
                fail(ps, "high surrogate \\u%04lx not followed by a low one", cp);
                goto bad;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        buf_push_utf8(&b, (uint32_t)cp);
    }
    *out = b.buf;
    *out_len = b.len;
    return true;
bad:
    free(b.buf);
    return false;
}

/* ---- numbers and words ---- */

static size_t digits(parser *ps) {
    const char *s = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    return (size_t)(ps->p - s);
}

static bool match_word(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
    ps->p += n;
    return true;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, plus NaN / Infinity / -Infinity. */
static json_value *parse_number(parser *ps) {
    const char *s = ps->p;
    bool neg = peek(ps) == '-';
    if (neg) ps->p++;
    if (match_word(ps, "Infinity")) {
        json_value *v = new_value(JSON_NUMBER);
        v->number = neg ? -INFINITY : INFINITY;
        return v;
    }
    if (!neg && match_word(ps, "NaN")) {
        json_value *v = new_value(JSON_NUMBER);
        v->number = NAN;
        return v;
    }
    if (peek(ps) == '0') {
        ps->p++;
        if (peek(ps) >= '0' && peek(ps) <= '9') { fail(ps, "leading zero in a number"); return NULL; }
    } else if (digits(ps) == 0) {
        fail(ps, "expected a digit");
        return NULL;
    }
    if (peek(ps) == '.') {
        ps->p++;
        if (digits(ps) == 0) { fail(ps, "expected a digit after '.'"); return NULL; }
    }
    if (peek(ps) == 'e' || peek(ps) == 'E') {
        ps->p++;
        if (peek(ps) == '+' || peek(ps) == '-') ps->p++;
        if (digits(ps) == 0) { fail(ps, "expected a digit in the exponent"); return NULL; }
    }
    /* strtod wants a NUL-terminated copy (the text need not be terminated) */
    size_t n = (size_t)(ps->p - s);
    char small[64];
    char *copy = n < sizeof small ? small : xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = 0;
    json_value *v = new_value(JSON_NUMBER);
    v->number = strtod(copy, NULL);           /* overflow gives +-HUGE_VAL: kept */
    if (copy != small) free(copy);
    return v;
}

/* ---- values ---- */

static json_value *parse_value(parser *ps, int depth);

static void push_item(json_value *v, json_value *item, char *key) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4;
        v->items = xrealloc(v->items, v->cap * sizeof *v->items);
        if (v->type == JSON_OBJECT) v->keys = xrealloc(v->keys, v->cap * sizeof *v->keys);
    }
    v->items[v->n] = item;
    if (v->type == JSON_OBJECT) v->keys[v->n] = key;
    v->n++;
}

/* Arrays and objects share the loop: open, then items separated by ',' until close. */
static json_value *parse_container(parser *ps, int depth) {
    bool is_object = *ps->p == '{';
    char close = is_object ? '}' : ']';
    json_value *v = new_value(is_object ? JSON_OBJECT : JSON_ARRAY);
    ps->p++;
    skip_space(ps);
    if (peek(ps) == close) { ps->p++; return v; }
    for (;;) {
        char *key = NULL;
        if (is_object) {
            skip_space(ps);
            size_t key_len;
            if (peek(ps) != '"') { fail(ps, "expected a string key"); goto bad; }
            if (!parse_string_raw(ps, &key, &key_len)) goto bad;
            skip_space(ps);
            if (peek(ps) != ':') { free(key); fail(ps, "expected ':' after a key"); goto bad; }
            ps->p++;
        }
        json_value *item = parse_value(ps, depth + 1);
        if (!item) { free(key); goto bad; }
        push_item(v, item, key);
        skip_space(ps);
        int c = peek(ps);
        if (c == ',') { ps->p++; continue; }
        if (c == close) { ps->p++; return v; }
        if (c < 0) fail(ps, "unterminated %s", is_object ? "object" : "array");
        else fail(ps, "expected ',' or '%c' in %s", close, is_object ? "an object" : "an array");
        goto bad;
    }
bad:
    json_free(v);
    return NULL;
}

static json_value *parse_value(parser *ps, int depth) {
    skip_space(ps);
    int c = peek(ps);
    if (c < 0) { fail(ps, "unexpected end of input"); return NULL; }
    if (c == '{' || c == '[') {
        if (depth >= JSON_MAX_DEPTH) {
            fail(ps, "arrays and objects nested deeper than %d", JSON_MAX_DEPTH);
            return NULL;
        }
        return parse_container(ps, depth);
    }
    if (c == '"') {
        json_value *v = new_value(JSON_STRING);
        if (!parse_string_raw(ps, &v->str, &v->str_len)) { free(v); return NULL; }
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9') || c == 'N' || c == 'I') return parse_number(ps);
    bool is_true = match_word(ps, "true");
    if (is_true || match_word(ps, "false")) {
        json_value *v = new_value(JSON_BOOL);
        v->boolean = is_true;
        return v;
    }
    if (match_word(ps, "null")) return new_value(JSON_NULL);
    fail(ps, c >= 0x20 && c < 0x7f ? "unexpected '%c'" : "unexpected byte 0x%02x", c);
    return NULL;
}

json_value *json_parse(const char *text, size_t len, char *err) {
    if (!text) { set_err(err, "json: no input"); return NULL; }
    parser ps = {text, text, text + len, err, false};
    json_value *v = parse_value(&ps, 0);
    if (!v) return NULL;
    skip_space(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "trailing characters after the value");
        json_free(v);
        return NULL;
    }
    return v;
}

/* ---- accessors ---- */

json_type json_typeof(const json_value *v) { return v ? v->type : JSON_NULL; }

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT || !key) return NULL;
    for (size_t i = obj->n; i-- > 0;)         /* from the back: the last duplicate wins */
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

size_t json_len(const json_value *v) {
    return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->n : 0;
}

const json_value *json_at(const json_value *arr, size_t i) {
    return i < json_len(arr) ? arr->items[i] : NULL;
}

const char *json_key_at(const json_value *obj, size_t i) {
    return obj && obj->type == JSON_OBJECT && i < obj->n ? obj->keys[i] : NULL;
}

double json_num(const json_value *v) { return v && v->type == JSON_NUMBER ? v->number : NAN; }
bool json_bool(const json_value *v) { return v && v->type == JSON_BOOL && v->boolean; }
const char *json_str(const json_value *v) { return v && v->type == JSON_STRING ? v->str : NULL; }
size_t json_str_len(const json_value *v) { return v && v->type == JSON_STRING ? v->str_len : 0; }
