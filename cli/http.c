/* http.c - HTTP/1.1 request heads and response framing (see http.h).
 *
 *   http_parse_head   skip_empty_lines -> the request line (method, target, version) ->
 *                     header fields, one per line, each checked as it is read ->
 *                     the headers that matter here (Content-Length, Transfer-Encoding,
 *                     Connection, Expect)
 *   http_head, http_chunk, http_chunk_end   what the server writes */
#include "http.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: the characters of a token (methods, header names). */
static bool is_tchar(unsigned char c) {
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the line starting at p (the LF's index), or -1 if there is none within n. */
static long find_lf(const char *p, size_t n) {
    const char *lf = memchr(p, '\n', n);
    return lf ? (long)(lf - p) : -1;
}

/* The line p[0..lf) without its CR. */
static size_t line_len(const char *p, long lf) {
    return lf > 0 && p[lf - 1] == '\r' ? (size_t)lf - 1 : (size_t)lf;
}

static bool same_ci(const char *a, size_t n, const char *b) {
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* Does the comma-separated list v[0..n) hold the token want (case-insensitive)? */
static bool list_has(const char *v, size_t n, const char *want) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e > s && same_ci(v + s, e - s, want)) return true;
    }
    return false;
}

/* METHOD SP TARGET SP HTTP/1.x: 0, or -status. */
static int parse_request_line(const char *p, size_t n, const http_limits *lim, http_request *r) {
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i > 32 || i >= n || p[i] != ' ') return -400;
    r->method = p;
    r->method_len = i++;
    size_t t = i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f) return -400;   /* no controls or spaces in a target */
        i++;
    }
    if (i - t > lim->max_target) return -414;
    if (i == t || i >= n) return -400;
    r->target = p + t;
    r->target_len = i - t;
    if (r->target[0] != '/' && !(r->target_len == 1 && r->target[0] == '*')) {
        /* absolute-form (RFC 9112 3.2.2): keep the path of http://host/path */
        const char *s = memchr(r->target, '/', r->target_len);
        if (r->target_len < 8 || strncasecmp(r->target, "http", 4) || !s || s + 2 > r->target + r->target_len ||
            s[1] != '/')
            return -400;
        const char *path = memchr(s + 2, '/', (size_t)(r->target + r->target_len - (s + 2)));
        if (!path) return -400;
        r->target_len -= (size_t)(path - r->target);
        r->target = path;
    }
    const char *q = memchr(r->target, '?', r->target_len);
    r->path_len = q ? (size_t)(q - r->target) : r->target_len;
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) || !isdigit((unsigned char)p[i + 5]) || p[i + 6] != '.' ||
        !isdigit((unsigned char)p[i + 7]))
        return -400;
    if (p[i + 5] != '1') return -505;
    r->minor = p[i + 7] - '0';
    return 0;
}

/* NAME ":" OWS VALUE OWS into r->headers: 0, or -status. */
static int parse_field(const char *p, size_t n, http_request *r) {
    if (p[0] == ' ' || p[0] == '\t') return -400;          /* obsolete line folding */
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i])) i++;
    if (i == 0 || i >= n || p[i] != ':') return -400;      /* also: space before the colon */
    if (r->n_headers == HTTP_MAX_HEADERS) return -431;
    size_t v = i + 1, e = n;
    while (v < e && (p[v] == ' ' || p[v] == '\t')) v++;
    while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t')) e--;
    for (size_t k = v; k < e; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return -400;
    }
    r->headers[r->n_headers++] = (http_header){p, p + v, i, e - v};
    return 0;
}

/* Content-Length: digits only; a list of equal values counts as one (RFC 9112 6.3). */
static int read_content_length(const http_header *h, const http_limits *lim, bool *seen, size_t *len) {
    const char *v = h->value;
    size_t n = h->value_len, i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        if (i == n) break;
        uint64_t x = 0;
        size_t s = i;
        for (; i < n && isdigit((unsigned char)v[i]); i++) {
            x = x * 10 + (uint64_t)(v[i] - '0');
            if (x > lim->max_body) return -413;
        }
        if (i == s) return -400;
        while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
        if (i < n && v[i] != ',') return -400;
        if (*seen && x != *len) return -400;
        *seen = true;
        *len = (size_t)x;
    }
    return *seen ? 0 : -400;
}

static int read_fields(http_request *r, const http_limits *lim) {
    bool has_length = false;
    r->keep_alive = r->minor >= 1;
    for (int k = 0; k < r->n_headers; k++) {
        const http_header *h = &r->headers[k];
        if (same_ci(h->name, h->name_len, "content-length")) {
            int rc = read_content_length(h, lim, &has_length, &r->content_length);
            if (rc) return rc;
        } else if (same_ci(h->name, h->name_len, "transfer-encoding")) {
            return -501;
        } else if (same_ci(h->name, h->name_len, "connection")) {
            if (list_has(h->value, h->value_len, "close")) r->keep_alive = false;
            else if (list_has(h->value, h->value_len, "keep-alive")) r->keep_alive = true;
        } else if (same_ci(h->name, h->name_len, "expect")) {
            if (!same_ci(h->value, h->value_len, "100-continue")) return -417;
            r->expect_continue = r->minor >= 1;
        }
    }
    return 0;
}

int http_parse_head(const char *buf, size_t n, const http_limits *lim, http_request *r) {
    memset(r, 0, sizeof *r);
    size_t pos = 0;
    while (pos < n && (buf[pos] == '\r' || buf[pos] == '\n')) {  /* empty lines first */
        if (buf[pos] == '\r' && pos + 1 < n && buf[pos + 1] != '\n') return -400;
        pos++;
    }
    if (pos > 64) return -400;
    bool first = true;
    for (;;) {
        if (pos >= n) return n > lim->max_head ? -431 : 0;
        long lf = find_lf(buf + pos, n - pos);
        if (lf < 0) {
            if (first && n - pos > lim->max_target + 64) return -414;
            return n > lim->max_head ? -431 : 0;
        }
        if (pos + (size_t)lf + 1 > lim->max_head) return first ? -414 : -431;
        const char *line = buf + pos;
        size_t len = line_len(line, lf);
        for (size_t i = 0; i < len; i++)
            if (line[i] == '\r' || line[i] == 0) return -400;  /* a bare CR or NUL inside a line */
        pos += (size_t)lf + 1;
        if (first) {
            int rc = parse_request_line(line, len, lim, r);
            if (rc) return rc;
            first = false;
            continue;
        }
        if (len == 0) break;                               /* the blank line: end of the head */
        int rc = parse_field(line, len, r);
        if (rc) return rc;
    }
    r->head_len = pos;
    int rc = read_fields(r, lim);
    return rc ? rc : 1;
}

const char *http_header_get(const http_request *r, const char *name, size_t *len) {
    for (int k = 0; k < r->n_headers; k++)
        if (same_ci(r->headers[k].name, r->headers[k].name_len, name)) {
            if (len) *len = r->headers[k].value_len;
            return r->headers[k].value;
        }
    return NULL;
}

bool http_method_is(const http_request *r, const char *method) {
    return strlen(method) == r->method_len && !memcmp(r->method, method, r->method_len);
}

bool http_path_is(const http_request *r, const char *path) {
    return strlen(path) == r->path_len && !memcmp(r->target, path, r->path_len);
}

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

void http_head(buf *out, int status, const char *content_type, long long content_length, bool keep_alive,
               const char *extra) {
    buf_printf(out, "HTTP/1.1 %d %s\r\nServer: gemma/%s\r\n", status, http_status_text(status), GEMMA_VERSION);
    if (content_type) buf_printf(out, "Content-Type: %s\r\n", content_type);
    if (content_length >= 0) buf_printf(out, "Content-Length: %lld\r\n", content_length);
    else buf_puts(out, "Transfer-Encoding: chunked\r\n");
    buf_puts(out, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (extra) buf_puts(out, extra);
    buf_puts(out, "\r\n");
}

void http_chunk(buf *out, const char *data, size_t n) {
    if (n == 0) return;   /* a zero-size chunk would end the body */
    buf_printf(out, "%zx\r\n", n);
    buf_put(out, data, n);
    buf_puts(out, "\r\n");
}

void http_chunk_end(buf *out) { buf_puts(out, "0\r\n\r\n"); }
