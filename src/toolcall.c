/* toolcall.c - Gemma 4 tool declarations, calls and responses (see toolcall.h).
 *
 *   tools_parse          the OpenAI list, checked, each schema converted once as a test
 *   tools_declarations   declaration_write -> parameters_write (the template's
 *                        format_function_declaration / format_parameters)
 *   tools_grammar        one rule per tool through json_schema in Gemma 4 syntax
 *   gemma_value_write    JSON -> value syntax (the template's format_argument)
 *   gemma_value_read     value syntax -> JSON
 *   tool_calls_read      every call of a model's output, checked against the tools */
#include "toolcall.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_schema.h"
#include "util.h"

#define QUOTE "<|\"|>"           /* Gemma 4's string delimiter token */
#define QUOTE_LEN 5

static bool contains_quote(const char *s, size_t n) {
    for (size_t i = 0; i + QUOTE_LEN <= n; i++)
        if (memcmp(s + i, QUOTE, QUOTE_LEN) == 0) return true;
    return false;
}

/* ---------------------------------------------------------------------------------------
 * Writing values
 * ------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted (the template's dictsort), each once. */
static const char **sorted_keys(const json_value *obj, size_t *n_out) {
    size_t n = json_len(obj), k = 0;
    const char **keys = xmalloc((n ? n : 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++) keys[i] = json_key_at(obj, i);
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(keys[k - 1], keys[i]) != 0) keys[k++] = keys[i];
    *n_out = k;
    return keys;
}

static int write_string(strbuf *b, const char *s, size_t n, char *err) {
    if (contains_quote(s, n))
        return set_err(err, "a string holding the text <|\"|> cannot be written in Gemma 4's "
                            "value syntax");
    sb_puts(b, QUOTE);
    sb_put(b, s, n);
    sb_puts(b, QUOTE);
    return 0;
}

int gemma_value_write(strbuf *b, const json_value *v, bool escape_keys, char *err) {
    switch (json_typeof(v)) {
    case JSON_NULL: sb_puts(b, "None"); return 0;
    case JSON_BOOL: sb_puts(b, json_bool(v) ? "true" : "false"); return 0;
    case JSON_NUMBER: {
        char *t = json_to_string(v);
        sb_puts(b, t);
        free(t);
        return 0;
    }
    case JSON_STRING: return write_string(b, json_str(v), json_str_len(v), err);
    case JSON_ARRAY:
        sb_putc(b, '[');
        for (size_t i = 0; i < json_len(v); i++) {
            if (i) sb_putc(b, ',');
            if (gemma_value_write(b, json_at(v, i), escape_keys, err)) return -1;
        }
        sb_putc(b, ']');
        return 0;
    case JSON_OBJECT: {
        size_t n;
        const char **keys = sorted_keys(v, &n);
        int rc = 0;
        sb_putc(b, '{');
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i) sb_putc(b, ',');
            if (escape_keys) {
                rc = write_string(b, keys[i], strlen(keys[i]), err);
            } else if (!*keys[i] || strpbrk(keys[i], ":,{}[]<")) {
                rc = set_err(err, "the key '%s' cannot be written bare in Gemma 4's value syntax",
                             keys[i]);
            } else {
                sb_puts(b, keys[i]);
            }
            sb_putc(b, ':');
            if (rc == 0) rc = gemma_value_write(b, json_get(v, keys[i]), escape_keys, err);
        }
        sb_putc(b, '}');
        free(keys);
        return rc;
    }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Reading values
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const char *start, *p, *end;
    char *err;
    bool failed;
} vreader;

static void rfail(vreader *r, const char *fmt, ...) {
    if (r->failed) return;
    r->failed = true;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    set_err(r->err, "gemma value: at byte %d: %s", (int)(r->p - r->start), what);
}

static bool at_word(const vreader *r, const char *w) {
    size_t n = strlen(w);
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, w, n) == 0;
}

/* <|"|> text <|"|> at r->p: the text (malloc'd) and its length. */
static char *read_string(vreader *r, size_t *len) {
    r->p += QUOTE_LEN;
    const char *s = r->p;
    while (r->p < r->end && !at_word(r, QUOTE)) r->p++;
    if (r->p >= r->end) {
        rfail(r, "a string without its closing <|\"|>");
        return NULL;
    }
    *len = (size_t)(r->p - s);
    char *out = xmalloc(*len + 1);
    memcpy(out, s, *len);
    out[*len] = 0;
    r->p += QUOTE_LEN;
    return out;
}

static json_value *read_value(vreader *r, int depth);

/* A key: <|"|>text<|"|> or bare characters up to ':'. */
static char *read_key(vreader *r, size_t *len) {
    if (at_word(r, QUOTE)) return read_string(r, len);
    const char *s = r->p;
    while (r->p < r->end && *r->p && *r->p != ':' && !strchr(",{}[]<", *r->p)) r->p++;
    if (r->p == s) {
        rfail(r, "expected a key");
        return NULL;
    }
    *len = (size_t)(r->p - s);
    char *out = xmalloc(*len + 1);
    memcpy(out, s, *len);
    out[*len] = 0;
    return out;
}

static json_value *read_container(vreader *r, int depth) {
    bool obj = *r->p == '{';
    char close = obj ? '}' : ']';
    json_value *v = obj ? json_new_object() : json_new_array();
    r->p++;
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t key_len = 0;
        if (obj) {
            key = read_key(r, &key_len);
            if (!key) break;
            if (r->p >= r->end || *r->p != ':') {
                rfail(r, "expected ':' after the key '%s'", key);
                free(key);
                break;
            }
            r->p++;
        }
        json_value *item = read_value(r, depth + 1);
        if (!item) { free(key); break; }
        if (obj) json_put(v, key, key_len, item);
        else json_append(v, item);
        free(key);
        if (r->p < r->end && *r->p == ',') { r->p++; continue; }
        if (r->p < r->end && *r->p == close) { r->p++; return v; }
        rfail(r, "expected ',' or '%c'", close);
        break;
    }
    json_free(v);
    return NULL;
}

static json_value *read_value(vreader *r, int depth) {
    if (r->p >= r->end) {
        rfail(r, "expected a value, found the end");
        return NULL;
    }
    if (depth > JSON_MAX_DEPTH) {
        rfail(r, "values nested deeper than %d", JSON_MAX_DEPTH);
        return NULL;
    }
    if (at_word(r, QUOTE)) {
        size_t len;
        char *s = read_string(r, &len);
        if (!s) return NULL;
        json_value *v = json_new_string(s, len);
        free(s);
        return v;
    }
    char c = *r->p;
    if (c == '{' || c == '[') return read_container(r, depth);
    static const struct { const char *word; int kind; } words[] = {
        {"true", 1}, {"false", 0}, {"null", 2}, {"None", 2},
    };
    for (size_t i = 0; i < 4; i++) {
        if (!at_word(r, words[i].word)) continue;
        r->p += strlen(words[i].word);
        return words[i].kind == 2 ? json_new_null() : json_new_bool(words[i].kind == 1);
    }
    const char *s = r->p;
    while (r->p < r->end && *r->p && strchr("+-.0123456789eE", *r->p)) r->p++;
    if (r->p > s && json_is_number_text(s, (size_t)(r->p - s)))
        return json_new_number_text(s, (size_t)(r->p - s));
    r->p = s;
    rfail(r, "expected a value");
    return NULL;
}

json_value *gemma_value_read(const char *s, size_t n, size_t *used, char *err) {
    vreader r = {s, s, s + n, err, false};
    json_value *v = read_value(&r, 0);
    if (v && !used && r.p != r.end) {
        rfail(&r, "text after the value");
        json_free(v);
        return NULL;
    }
    if (v && used) *used = (size_t)(r.p - r.start);
    return v;
}

/* ---------------------------------------------------------------------------------------
 * The tool list
 * ------------------------------------------------------------------------------------- */

static bool valid_name(const char *s) {
    if (!*s || strlen(s) > 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

tool_list *tools_parse(const char *json, size_t len, char *err) {
    char jerr[GEMMA_ERR_LEN];
    json_value *doc = json_parse(json, len, jerr);
    if (!doc) {
        set_err(err, "tools: %s", jerr);
        return NULL;
    }
    const json_value *list = doc;
    if (json_typeof(list) == JSON_OBJECT && json_get(list, "tools")) list = json_get(list, "tools");
    if (json_typeof(list) != JSON_ARRAY) {
        set_err(err, "tools: expected an array of {\"type\":\"function\",\"function\":{...}}");
        json_free(doc);
        return NULL;
    }
    tool_list *t = xcalloc(1, sizeof *t);
    t->doc = doc;
    t->tools = xcalloc(json_len(list) + 1, sizeof *t->tools);
    for (size_t i = 0; i < json_len(list); i++) {
        const json_value *item = json_at(list, i);
        const json_value *fn = json_get(item, "function");
        const char *type = json_str(json_get(item, "type"));
        if (json_typeof(fn) != JSON_OBJECT || (type && strcmp(type, "function") != 0)) {
            set_err(err, "tools: item %zu: expected {\"type\":\"function\",\"function\":{...}}", i);
            goto bad;
        }
        const char *name = json_str(json_get(fn, "name"));
        if (!name || !valid_name(name)) {
            set_err(err, "tools: item %zu: the function needs a \"name\" of letters, digits, "
                         "'_', '-' or '.' (at most 64)", i);
            goto bad;
        }
        if (tools_find(t, name, strlen(name))) {
            set_err(err, "tools: the name '%s' is used twice", name);
            goto bad;
        }
        const json_value *desc = json_get(fn, "description");
        if (desc && !json_str(desc)) {
            set_err(err, "tools: '%s': \"description\" must be a string", name);
            goto bad;
        }
        const json_value *params = json_get(fn, "parameters");
        if (params) {
            const char *ptype = json_str(json_get(params, "type"));
            if (json_typeof(params) != JSON_OBJECT || (ptype && strcmp(ptype, "object") != 0)) {
                set_err(err, "tools: '%s': \"parameters\" must be a JSON schema of an object",
                        name);
                goto bad;
            }
            schema_conv *c = schema_conv_new(SCHEMA_GEMMA4);
            char serr[GEMMA_ERR_LEN];
            bool ok = schema_conv_add(c, params, params, "args", serr) != NULL;
            schema_conv_free(c);
            if (!ok) {
                set_err(err, "tools: '%s': parameters: %s", name, serr);
                goto bad;
            }
        }
        t->tools[t->n++] = (tool_def){name, fn, params};
    }
    return t;
bad:
    tools_free(t);
    return NULL;
}

void tools_free(tool_list *t) {
    if (!t) return;
    json_free(t->doc);
    free(t->tools);
    free(t);
}

const tool_def *tools_find(const tool_list *t, const char *name, size_t len) {
    for (int i = 0; t && i < t->n; i++)
        if (strlen(t->tools[i].name) == len && memcmp(t->tools[i].name, name, len) == 0)
            return &t->tools[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Declarations (the template's format_parameters and format_function_declaration)
 * ------------------------------------------------------------------------------------- */

static void upper(strbuf *b, const char *s) {
    for (; s && *s; s++) sb_putc(b, *s >= 'a' && *s <= 'z' ? (char)(*s - 32) : *s);
}

static bool truthy(const json_value *v) {
    switch (json_typeof(v)) {
    case JSON_NULL: return false;
    case JSON_BOOL: return json_bool(v);
    case JSON_NUMBER: return json_num(v) != 0;
    case JSON_STRING: return json_str_len(v) > 0;
    default: return json_len(v) > 0;
    }
}

/* required:[<|"|>a<|"|>,...] */
static int write_required(strbuf *b, const json_value *req, char *err) {
    sb_puts(b, "required:[");
    for (size_t i = 0; i < json_len(req); i++) {
        if (i) sb_putc(b, ',');
        const char *s = json_str(json_at(req, i));
        if (!s) return set_err(err, "'required' must list names");
        if (write_string(b, s, strlen(s), err)) return -1;
    }
    sb_putc(b, ']');
    return 0;
}

/* The type a property declares (the first of a list), upper-cased; "" if none. */
static void write_type(strbuf *b, const json_value *schema) {
    const json_value *t = json_get(schema, "type");
    if (json_typeof(t) == JSON_ARRAY) t = json_at(t, 0);
    upper(b, json_str(t));
}

static int parameters_write(strbuf *b, const json_value *props, char *err);

/* items:{...} of an array property: every key of the items schema, sorted. */
static int items_write(strbuf *b, const json_value *items, char *err) {
    size_t n;
    const char **keys = sorted_keys(items, &n);
    int rc = 0, written = 0;
    sb_puts(b, ",items:{");
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_value *v = json_get(items, keys[i]);
        if (json_typeof(v) == JSON_NULL) continue;
        if (written++) sb_putc(b, ',');
        if (strcmp(keys[i], "properties") == 0) {
            sb_puts(b, "properties:{");
            if (json_typeof(v) == JSON_OBJECT) rc = parameters_write(b, v, err);
            sb_putc(b, '}');
        } else if (strcmp(keys[i], "required") == 0) {
            rc = write_required(b, v, err);
        } else if (strcmp(keys[i], "type") == 0) {
            sb_puts(b, "type:");
            if (json_typeof(v) == JSON_ARRAY) {
                sb_putc(b, '[');
                for (size_t k = 0; k < json_len(v); k++) {
                    if (k) sb_putc(b, ',');
                    sb_puts(b, QUOTE);
                    upper(b, json_str(json_at(v, k)));
                    sb_puts(b, QUOTE);
                }
                sb_putc(b, ']');
            } else {
                sb_puts(b, QUOTE);
                upper(b, json_str(v));
                sb_puts(b, QUOTE);
            }
        } else {
            sb_printf(b, "%s:", keys[i]);
            rc = gemma_value_write(b, v, true, err);
        }
    }
    sb_putc(b, '}');
    free(keys);
    return rc;
}

/* KEY:{description:...,nullable:true,enum:[...] / properties:{...},required:[...] /
 * items:{...},type:<|"|>TYPE<|"|>} for each property, sorted by name. The commas follow the
 * template exactly (it puts none before type after properties or items when there is no
 * description). Two departures: a property named like one of the template's own keys
 * (description, type, properties, required, nullable) is written, where the template drops
 * it; an object property without "properties" gets an empty properties:{} rather than its
 * own schema keys listed as properties. */
static int parameters_write(strbuf *b, const json_value *props, char *err) {
    size_t n;
    const char **keys = sorted_keys(props, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_value *v = json_get(props, keys[i]);
        if (i) sb_putc(b, ',');
        sb_printf(b, "%s:{", keys[i]);
        bool comma = false;
        const json_value *desc = json_get(v, "description");
        if (truthy(desc) && json_str(desc)) {
            sb_puts(b, "description:");
            rc = write_string(b, json_str(desc), json_str_len(desc), err);
            comma = true;
        }
        if (truthy(json_get(v, "nullable"))) {
            sb_puts(b, comma ? ",nullable:true" : "nullable:true");
            comma = true;
        }
        strbuf type = {0};
        write_type(&type, v);
        const char *t = type.p ? type.p : "";
        if (rc == 0 && strcmp(t, "STRING") == 0) {
            if (truthy(json_get(v, "enum"))) {
                sb_puts(b, comma ? ",enum:" : "enum:");
                comma = true;
                rc = gemma_value_write(b, json_get(v, "enum"), true, err);
            }
        } else if (rc == 0 && strcmp(t, "OBJECT") == 0) {
            sb_puts(b, ",properties:{");
            const json_value *sub = json_get(v, "properties");
            if (json_typeof(sub) == JSON_OBJECT) rc = parameters_write(b, sub, err);
            sb_putc(b, '}');
            if (rc == 0 && truthy(json_get(v, "required"))) {
                sb_putc(b, ',');
                rc = write_required(b, json_get(v, "required"), err);
            }
        } else if (rc == 0 && strcmp(t, "ARRAY") == 0) {
            const json_value *items = json_get(v, "items");
            if (json_typeof(items) == JSON_OBJECT && json_len(items) > 0)
                rc = items_write(b, items, err);
        }
        sb_printf(b, "%stype:" QUOTE "%s" QUOTE "}", comma ? "," : "", t);
        sb_free(&type);
    }
    free(keys);
    return rc;
}

static int declaration_write(strbuf *b, const tool_def *tool, char *err) {
    const json_value *fn = tool->function, *params = tool->parameters;
    const json_value *desc = json_get(fn, "description");
    sb_printf(b, "<|tool>declaration:%s{description:", tool->name);
    if (write_string(b, desc ? json_str(desc) : "", json_str_len(desc), err)) return -1;
    if (truthy(params)) {
        sb_puts(b, ",parameters:{");
        const json_value *props = json_get(params, "properties");
        if (truthy(props)) {
            sb_puts(b, "properties:{");
            if (parameters_write(b, props, err)) return -1;
            sb_puts(b, "},");
        }
        if (truthy(json_get(params, "required"))) {
            if (write_required(b, json_get(params, "required"), err)) return -1;
            sb_putc(b, ',');
        }
        /* the template closes parameters only after a type; an object schema has one */
        sb_puts(b, "type:" QUOTE);
        upper(b, json_str(json_get(params, "type")) ? json_str(json_get(params, "type")) : "object");
        sb_puts(b, QUOTE "}");
    }
    sb_puts(b, "}<tool|>");
    return 0;
}

char *tools_declarations(const tool_list *t, char *err) {
    strbuf b = {0};
    for (int i = 0; i < t->n; i++) {
        char derr[GEMMA_ERR_LEN];
        if (declaration_write(&b, &t->tools[i], derr)) {
            set_err(err, "tools: '%s': %s", t->tools[i].name, derr);
            sb_free(&b);
            return NULL;
        }
    }
    return sb_take(&b);
}

/* ---------------------------------------------------------------------------------------
 * The grammar of calls
 * ------------------------------------------------------------------------------------- */

char *tools_grammar(const tool_list *t, bool required, char *err) {
    if (t->n == 0) {
        set_err(err, "tools: the list is empty");
        return NULL;
    }
    schema_conv *c = schema_conv_new(SCHEMA_GEMMA4);
    strbuf calls = {0};
    for (int i = 0; i < t->n; i++) {
        const tool_def *d = &t->tools[i];
        char name[96], serr[GEMMA_ERR_LEN];
        snprintf(name, sizeof name, "%s-args", d->name);
        const char *args = "\"{}\"";
        if (d->parameters) {
            args = schema_conv_add(c, d->parameters, d->parameters, name, serr);
            if (!args) {
                set_err(err, "tools: '%s': parameters: %s", d->name, serr);
                schema_conv_free(c);
                sb_free(&calls);
                return NULL;
            }
        }
        strbuf body = {0};
        gbnf_literal(&body, d->name, strlen(d->name));
        sb_printf(&body, " %s", args);
        snprintf(name, sizeof name, "call-%s", d->name);
        sb_printf(&calls, "%s%s", i ? " | " : "", schema_conv_rule(c, name, body.p));
        sb_free(&body);
    }
    strbuf call = {0};
    sb_printf(&call, "<|tool_call> \"call:\" (%s) <tool_call|>", calls.p);
    const char *call_rule = schema_conv_rule(c, "tool-call", call.p);
    strbuf root = {0};
    if (required) {
        sb_printf(&root, "%s+", call_rule);
    } else {
        sb_printf(&root, "!<|tool_call>* %s*", call_rule);
    }
    schema_conv_rule(c, "root", root.p);
    char *text = schema_conv_text(c);
    sb_free(&calls);
    sb_free(&call);
    sb_free(&root);
    schema_conv_free(c);
    return text;
}

/* ---------------------------------------------------------------------------------------
 * Calls and responses
 * ------------------------------------------------------------------------------------- */

static const char *find_text(const char *s, const char *end, const char *what) {
    size_t n = strlen(what);
    for (; s + n <= end; s++)
        if (memcmp(s, what, n) == 0) return s;
    return NULL;
}

json_value *tool_calls_read(const tool_list *t, const char *text, size_t len, char *err) {
    static const char open[] = "<|tool_call>", close[] = "<tool_call|>";
    const char *p = text, *end = text + len;
    json_value *calls = json_new_array();
    int index = 0;
    while ((p = find_text(p, end, open)) != NULL) {
        index++;
        p += strlen(open);
        if ((size_t)(end - p) < 5 || memcmp(p, "call:", 5) != 0) {
            set_err(err, "tool call %d: expected 'call:' after <|tool_call>", index);
            goto bad;
        }
        p += 5;
        const char *name = p;
        while (p < end && *p != '{' && *p != '<') p++;
        if (p >= end || *p != '{' || p == name) {
            set_err(err, "tool call %d: expected a name and '{' after 'call:'", index);
            goto bad;
        }
        size_t name_len = (size_t)(p - name);
        const tool_def *tool = tools_find(t, name, name_len);
        if (t && !tool) {
            set_err(err, "tool call %d: '%.*s' is not one of the declared tools", index,
                    (int)(name_len < 64 ? name_len : 64), name);
            goto bad;
        }
        size_t used;
        char verr[GEMMA_ERR_LEN];
        json_value *args = gemma_value_read(p, (size_t)(end - p), &used, verr);
        if (!args) {
            set_err(err, "tool call %d (%.*s): %s", index, (int)name_len, name, verr);
            goto bad;
        }
        p += used;
        if (json_typeof(args) != JSON_OBJECT || (size_t)(end - p) < strlen(close) ||
            memcmp(p, close, strlen(close)) != 0) {
            set_err(err, "tool call %d (%.*s): expected {arguments} then <tool_call|>", index,
                    (int)name_len, name);
            json_free(args);
            goto bad;
        }
        p += strlen(close);
        if (tool && tool->parameters &&
            !json_schema_validate(tool->parameters, tool->parameters, args, verr)) {
            set_err(err, "tool call %d (%s): the arguments do not match the parameters: %s",
                    index, tool->name, verr);
            json_free(args);
            goto bad;
        }
        json_value *call = json_new_object();
        json_put(call, "name", 4, json_new_string(name, name_len));
        json_put(call, "arguments", 9, args);
        json_append(calls, call);
    }
    return calls;
bad:
    json_free(calls);
    return NULL;
}

char *tool_call_write(const char *name, const json_value *arguments, char *err) {
    if (json_typeof(arguments) != JSON_OBJECT) {
        set_err(err, "tool call '%s': the arguments must be an object", name);
        return NULL;
    }
    strbuf b = {0};
    sb_printf(&b, "<|tool_call>call:%s", name);
    if (gemma_value_write(&b, arguments, false, err)) {
        sb_free(&b);
        return NULL;
    }
    sb_puts(&b, "<tool_call|>");
    return sb_take(&b);
}

char *tool_response_write(const char *name, const json_value *response, char *err) {
    strbuf b = {0};
    sb_printf(&b, "<|tool_response>response:%s", name);
    int rc;
    if (json_typeof(response) == JSON_OBJECT) {
        rc = gemma_value_write(&b, response, false, err);
    } else {
        sb_puts(&b, "{value:");
        rc = gemma_value_write(&b, response, false, err);
        sb_putc(&b, '}');
    }
    if (rc) {
        sb_free(&b);
        return NULL;
    }
    sb_puts(&b, "<tool_response|>");
    return sb_take(&b);
}
