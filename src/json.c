/* json.c - JSON values (see json.h).
 *
 *   reading   parse_value -> parse_container / parse_string_raw / parse_number
 *   building  json_new_* and json_append / json_put
 *   writing   json_write (compact), json_write_string (escaping)
 *   comparing json_equal */
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
    char *str;                /* strings: UTF-8, NUL-terminated; numbers: the text as written */
    size_t str_len;
    json_value **items;       /* arrays and objects */
    char **keys;              /* objects: keys[i] names items[i] */
    size_t n, cap;
};

typedef struct {
    const char *start, *p, *end;
    char *err;
    bool failed;
    bool lenient;             /* NaN, Infinity, -Infinity accepted */
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

static size_t utf8_len(const unsigned char *s, size_t n);

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
    strbuf b = {0};
    sb_put(&b, "", 0);
    ps->p++;                                  /* opening quote */
    for (;;) {
        int c = peek(ps);
        if (c < 0) { fail(ps, "unterminated string"); goto bad; }
        if (c == '"') { ps->p++; break; }
        if (c < 0x20) { fail(ps, "control character 0x%02x in a string", c); goto bad; }
        if (c != '\\') {                      /* a run of plain characters */
            const char *run = ps->p;
            while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
                   (unsigned char)*ps->p >= 0x20) {
                size_t k = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
                if (k == 0) { fail(ps, "invalid UTF-8 in a string"); goto bad; }
                ps->p += k;
            }
            sb_put(&b, run, (size_t)(ps->p - run));
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
        if (simple) { sb_put(&b, simple, 1); continue; }
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
        sb_put_utf8(&b, (unsigned)cp);
    }
    *out_len = b.n;
    *out = sb_take(&b);
    return true;
bad:
    sb_free(&b);
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
    if (ps->lenient && match_word(ps, "Infinity")) {
        json_value *v = new_value(JSON_NUMBER);
        v->number = neg ? -INFINITY : INFINITY;
        return v;
    }
    if (ps->lenient && !neg && match_word(ps, "NaN")) {
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
    return json_new_number_text(s, (size_t)(ps->p - s));
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
    if (c == '-' || (c >= '0' && c <= '9') || (ps->lenient && (c == 'N' || c == 'I')))
        return parse_number(ps);
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

static json_value *parse_document(const char *text, size_t len, bool lenient, char *err) {
    if (!text) { set_err(err, "json: no input"); return NULL; }
    parser ps = {text, text, text + len, err, false, lenient};
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

json_value *json_parse(const char *text, size_t len, char *err) {
    return parse_document(text, len, false, err);
}

json_value *json_parse_lenient(const char *text, size_t len, char *err) {
    return parse_document(text, len, true, err);
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

const char *json_type_name(json_type t) {
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < 6 ? names[t] : "?";
}

double json_num(const json_value *v) { return v && v->type == JSON_NUMBER ? v->number : NAN; }
const char *json_num_text(const json_value *v) {
    return v && v->type == JSON_NUMBER ? v->str : NULL;
}
bool json_bool(const json_value *v) { return v && v->type == JSON_BOOL && v->boolean; }
const char *json_str(const json_value *v) { return v && v->type == JSON_STRING ? v->str : NULL; }
size_t json_str_len(const json_value *v) { return v && v->type == JSON_STRING ? v->str_len : 0; }

/* ---- building ---- */

json_value *json_new_null(void) { return new_value(JSON_NULL); }

json_value *json_new_bool(bool b) {
    json_value *v = new_value(JSON_BOOL);
    v->boolean = b;
    return v;
}

json_value *json_new_number_text(const char *text, size_t len) {
    json_value *v = new_value(JSON_NUMBER);
    v->str = xmalloc(len + 1);
    memcpy(v->str, text, len);
    v->str[len] = 0;
    v->str_len = len;
    v->number = strtod(v->str, NULL);         /* overflow gives +-HUGE_VAL: kept */
    return v;
}

json_value *json_new_number(double x) {
    char buf[40];
    int n;
    if (!isfinite(x)) {
        json_value *v = new_value(JSON_NUMBER);
        v->number = x;
        return v;
    }
    if (x == floor(x) && fabs(x) < 1e15) n = snprintf(buf, sizeof buf, "%.0f", x);
    else n = snprintf(buf, sizeof buf, "%.17g", x);
    return json_new_number_text(buf, (size_t)n);
}

json_value *json_new_string(const char *s, size_t len) {
    json_value *v = new_value(JSON_STRING);
    v->str = xmalloc(len + 1);
    if (len) memcpy(v->str, s, len);
    v->str[len] = 0;
    v->str_len = len;
    return v;
}

json_value *json_new_array(void) { return new_value(JSON_ARRAY); }
json_value *json_new_object(void) { return new_value(JSON_OBJECT); }

int json_append(json_value *arr, json_value *item) {
    if (!arr || arr->type != JSON_ARRAY || !item) return -1;
    push_item(arr, item, NULL);
    return 0;
}

int json_put(json_value *obj, const char *key, size_t key_len, json_value *item) {
    if (!obj || obj->type != JSON_OBJECT || !item) return -1;
    char *k = xmalloc(key_len + 1);
    memcpy(k, key, key_len);
    k[key_len] = 0;
    push_item(obj, item, k);
    return 0;
}

json_value *json_copy(const json_value *v) {
    if (!v) return NULL;
    json_value *c = new_value(v->type);
    c->boolean = v->boolean;
    c->number = v->number;
    if (v->str) {
        c->str = xmalloc(v->str_len + 1);
        memcpy(c->str, v->str, v->str_len + 1);
        c->str_len = v->str_len;
    }
    for (size_t i = 0; i < v->n; i++)
        push_item(c, json_copy(v->items[i]), v->keys ? xstrdup(v->keys[i]) : NULL);
    return c;
}

bool json_is_number_text(const char *s, size_t len) {
    parser ps = {s, s, s + len, NULL, false, false};
    json_value *v = parse_number(&ps);
    bool ok = v && ps.p == ps.end;
    json_free(v);
    return ok;
}

/* ---- writing ---- */

/* Length of the well-formed UTF-8 sequence at s[0..n), 0 if ill-formed (overlongs,
 * surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

void json_write_string(strbuf *b, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    sb_putc(b, '"');
    for (size_t i = 0; i < len;) {
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            sb_putc(b, '\\');
            sb_putc(b, (char)c);
            i++;
        } else if (c < 0x20) {
            const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
                            : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (esc) sb_puts(b, esc);
            else sb_printf(b, "\\u%04x", c);
            i++;
        } else {
            size_t k = utf8_len(u + i, len - i);
            if (k == 0) {
                sb_puts(b, "\xEF\xBF\xBD");      /* U+FFFD for an ill-formed byte */
                i++;
            } else {
                sb_put(b, s + i, k);
                i += k;
            }
        }
    }
    sb_putc(b, '"');
}

void json_write(strbuf *b, const json_value *v) {
    if (!v) { sb_puts(b, "null"); return; }
    switch (v->type) {
    case JSON_NULL: sb_puts(b, "null"); break;
    case JSON_BOOL: sb_puts(b, v->boolean ? "true" : "false"); break;
    case JSON_NUMBER:
        if (v->str) sb_put(b, v->str, v->str_len);
        else if (isfinite(v->number)) sb_printf(b, "%.17g", v->number);
        else sb_puts(b, "null");
        break;
    case JSON_STRING: json_write_string(b, v->str, v->str_len); break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        sb_putc(b, v->type == JSON_ARRAY ? '[' : '{');
        for (size_t i = 0; i < v->n; i++) {
            if (i) sb_putc(b, ',');
            if (v->type == JSON_OBJECT) {
                json_write_string(b, v->keys[i], strlen(v->keys[i]));
                sb_putc(b, ':');
            }
            json_write(b, v->items[i]);
        }
        sb_putc(b, v->type == JSON_ARRAY ? ']' : '}');
        break;
    }
}

char *json_to_string(const json_value *v) {
    strbuf b = {0};
    json_write(&b, v);
    return sb_take(&b);
}

/* ---- comparing ---- */

bool json_equal(const json_value *a, const json_value *b) {
    if (!a || !b) return a == b;
    if (a->type != b->type) return false;
    switch (a->type) {
    case JSON_NULL: return true;
    case JSON_BOOL: return a->boolean == b->boolean;
    case JSON_NUMBER: return a->number == b->number;
    case JSON_STRING:
        return a->str_len == b->str_len && memcmp(a->str, b->str, a->str_len) == 0;
    case JSON_ARRAY:
        if (a->n != b->n) return false;
        for (size_t i = 0; i < a->n; i++)
            if (!json_equal(a->items[i], b->items[i])) return false;
        return true;
    case JSON_OBJECT:        /* duplicate keys: the last one counts, as json_get() reads */
        for (size_t i = 0; i < a->n; i++) {
            if (json_get(a, a->keys[i]) != a->items[i]) continue;   /* an earlier duplicate */
            if (!json_equal(a->items[i], json_get(b, a->keys[i]))) return false;
        }
        for (size_t i = 0; i < b->n; i++)
            if (!json_get(a, b->keys[i])) return false;
        return true;
    }
    return false;
}
