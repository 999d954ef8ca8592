/* fuzz_http.c - libFuzzer harness: arbitrary bytes as a connection's stream of requests
 * through the server's HTTP/1.1 parser (cli/http.c), taken one after another as the
 * connection loop takes pipelined requests.
 *
 * Checked on every input:
 *   - the parser answers 1 (a whole head), 0 (more bytes needed) or one of the statuses it
 *     documents (400, 413, 414, 417, 431, 501, 505);
 *   - a whole head lies within the bytes given: head_len <= size, method, target and every
 *     header inside it, path_len <= target_len, Content-Length within the limit;
 *   - the verdict on a whole head does not change with bytes after it (a head is judged by
 *     itself: the same rc and head_len on exactly head_len bytes);
 *   - the chunked framing of the body decodes back to the body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

static bool inside(const char *p, size_t n, const char *lo, size_t len) {
    return p >= lo && p + n <= lo + len;
}

static void check_head(const char *p, size_t n, const http_limits *lim, const http_request *r) {
    if (r->head_len > n || r->head_len == 0) fail("head_len outside the input");
    if (!inside(r->method, r->method_len, p, r->head_len) || !inside(r->target, r->target_len, p, r->head_len))
        fail("request line outside the head");
    if (r->path_len > r->target_len || r->target_len == 0) fail("path longer than the target");
    if (r->content_length > lim->max_body) fail("Content-Length past the limit");
    if (r->n_headers < 0 || r->n_headers > HTTP_MAX_HEADERS) fail("header count");
    for (int i = 0; i < r->n_headers; i++) {
        const http_header *h = &r->headers[i];
        if (!inside(h->name, h->name_len, p, r->head_len) || !inside(h->value, h->value_len, p, r->head_len))
            fail("header outside the head");
    }
    http_request again;
    if (http_parse_head(p, r->head_len, lim, &again) != 1 || again.head_len != r->head_len)
        fail("a whole head judged differently without the bytes after it");
}

/* The body in chunks of a few sizes, decoded back. */
static void check_chunks(const char *body, size_t n) {
    buf b = {0};
    for (size_t at = 0, k = 1; at < n; at += k, k = k * 3 + 1) http_chunk(&b, body + at, at + k <= n ? k : n - at);
    http_chunk_end(&b);
    buf out = {0};
    size_t at = 0;
    for (;;) {
        char *end;
        size_t size = strtoul(b.p + at, &end, 16);
        if (end[0] != '\r' || end[1] != '\n') fail("chunk size line");
        at = (size_t)(end - b.p) + 2;
        if (size == 0) break;
        buf_put(&out, b.p + at, size);
        at += size + 2;
    }
    if (out.len != n || (n && memcmp(out.p, body, n))) fail("chunked body decodes differently");
    buf_free(&b);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* copy: the parser must not read past the bytes it is given (ASan sees the heap end) */
    char *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    const http_limits lim = {2048, 512, 1 << 16};
    size_t at = 0;
    while (at < size) {
        http_request r;
        int rc = http_parse_head(p + at, size - at, &lim, &r);
        if (rc == 0) break;
        if (rc < 0) {
            int s = -rc;
            if (s != 400 && s != 413 && s != 414 && s != 417 && s != 431 && s != 501 && s != 505)
                fail("an undocumented status");
            break;
        }
        if (rc != 1) fail("an undocumented return value");
        check_head(p + at, size - at, &lim, &r);
        size_t body = r.content_length < size - at - r.head_len ? r.content_length : size - at - r.head_len;
        check_chunks(p + at + r.head_len, body);
        at += r.head_len + body;
    }
    free(p);
    return 0;
}
