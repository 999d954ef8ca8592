/* test_http.c - the server's HTTP/1.1 request parser and response framing (cli/http.c), on
 * the bytes clients send: whole and cut-off requests, keep-alive rules, every refusal with
 * its status, and the chunked framing a client reads back. */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "test.h"

static const http_limits lim = {1024, 256, 4096};

static int parse(const char *s, http_request *r) { return http_parse_head(s, strlen(s), &lim, r); }

static void good_requests(void) {
    TEST_BEGIN("http: a POST with a body: method, path, query, headers, Content-Length, head length");
    http_request r;
    const char *req = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type:  application/json \r\n"
                      "Content-Length: 7\r\n\r\n{\"a\":1}";
    int rc = parse(req, &r);
    EXPECT(rc == 1, "rc %d", rc);
    EXPECT(http_method_is(&r, "POST") && http_path_is(&r, "/v1/chat/completions"), "method/path");
    EXPECT(r.target_len == strlen("/v1/chat/completions?x=1"), "target keeps the query");
    size_t n;
    const char *ct = http_header_get(&r, "CONTENT-type", &n);
    EXPECT(ct && n == 16 && !memcmp(ct, "application/json", 16), "header value trimmed, name case-insensitive");
    EXPECT(r.content_length == 7 && r.head_len == strlen(req) - 7 && r.keep_alive && r.minor == 1, "framing");
    TEST_END();

    TEST_BEGIN("http: keep-alive: 1.1 by default, Connection: close ends it, 1.0 only when asked");
    EXPECT(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r) == 1 && !r.keep_alive, "1.1 close");
    EXPECT(parse("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n", &r) == 1 && !r.keep_alive, "list");
    EXPECT(parse("GET / HTTP/1.0\r\n\r\n", &r) == 1 && !r.keep_alive, "1.0 default");
    EXPECT(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r) == 1 && r.keep_alive, "1.0 keep-alive");
    TEST_END();

    TEST_BEGIN("http: bare LF line ends, empty lines before the request, absolute-form targets, Expect");
    EXPECT(parse("GET /health HTTP/1.1\nHost: x\n\n", &r) == 1 && http_path_is(&r, "/health"), "LF only");
    EXPECT(parse("\r\n\r\nGET /health HTTP/1.1\r\n\r\n", &r) == 1 && http_path_is(&r, "/health"), "empty lines");
    EXPECT(parse("GET http://host:8080/v1/models HTTP/1.1\r\n\r\n", &r) == 1 && http_path_is(&r, "/v1/models"),
           "absolute form");
    EXPECT(parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", &r) == 1 &&
           r.expect_continue, "100-continue");
    EXPECT(parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", &r) == 1 && r.content_length == 5,
           "equal Content-Length values count once");
    TEST_END();

    TEST_BEGIN("http: a request cut anywhere is incomplete (0), never an error");
    const char *full = "POST /v1/completions HTTP/1.1\r\nHost: example\r\nContent-Length: 2\r\n\r\n";
    for (size_t k = 0; k < strlen(full); k++) {
        rc = http_parse_head(full, k, &lim, &r);
        EXPECT(rc == 0, "cut at %zu: rc %d", k, rc);
    }
    EXPECT(http_parse_head(full, strlen(full), &lim, &r) == 1, "whole");
    TEST_END();
}

static void bad_requests(void) {
    static const struct { const char *what, *req; int status; } bad[] = {
        {"no version", "GET /\r\n\r\n", 400},
        {"lower-case version", "GET / http/1.1\r\n\r\n", 400},
        {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
        {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
        {"target without a slash", "GET health HTTP/1.1\r\n\r\n", 400},
        {"control byte in the target", "GET /a\x01 HTTP/1.1\r\n\r\n", 400},
        {"space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
        {"obsolete line folding", "GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", 400},
        {"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400},
        {"control byte in a value", "GET / HTTP/1.1\r\nX: a\x02\r\n\r\n", 400},
        {"bare CR", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400},
        {"NUL in a line", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400},
        {"conflicting Content-Length", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
        {"Content-Length not a number", "POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n", 400},
        {"negative Content-Length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        {"body larger than the limit", "POST / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", 413},
        {"huge Content-Length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
        {"chunked request body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"unknown expectation", "POST / HTTP/1.1\r\nExpect: tea\r\n\r\n", 417},
        {"method with a slash", "G/ET / HTTP/1.1\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TEST_BEGIN("http: refused with %d: %s", bad[i].status, bad[i].what);
        http_request r;
        size_t n = strlen(bad[i].req);
        if (strstr(bad[i].what, "NUL")) n = strlen("GET / HTTP/1.1\r\nX: a") + 1 + strlen("b\r\n\r\n");
        int rc = http_parse_head(bad[i].req, n, &lim, &r);
        EXPECT(rc == -bad[i].status, "rc %d", rc);
        TEST_END();
    }

    TEST_BEGIN("http: limits: a long target 414, a head past max_head 431 (also before it ends), 65 headers 431");
    http_request r;
    char big[4096];
    int k = snprintf(big, sizeof big, "GET /");
    while (k < 400) big[k++] = 'a';
    snprintf(big + k, sizeof big - (size_t)k, " HTTP/1.1\r\n\r\n");
    EXPECT(parse(big, &r) == -414, "long target: %d", parse(big, &r));
    big[k] = 0;   /* still arriving */
    EXPECT(parse(big, &r) == -414, "long target, incomplete: %d", parse(big, &r));
    k = snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    while (k < 1500) k += snprintf(big + k, sizeof big - (size_t)k, "X-Pad: 0123456789\r\n");
    EXPECT(parse(big, &r) == -431, "head past the limit, incomplete: %d", parse(big, &r));
    k = snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    for (int h = 0; h < 65; h++) k += snprintf(big + k, sizeof big - (size_t)k, "X%d: 1\r\n", h);
    snprintf(big + k, sizeof big - (size_t)k, "\r\n");
    EXPECT(parse(big, &r) == -431, "65 headers: %d", parse(big, &r));
    TEST_END();
}

static void framing(void) {
    TEST_BEGIN("http: response head, chunks and the last chunk read back as a client would");
    buf b = {0};
    http_head(&b, 200, "text/event-stream", -1, true, "X-A: 1\r\n");
    EXPECT(!strncmp(b.p, "HTTP/1.1 200 OK\r\n", 17) && strstr(b.p, "Transfer-Encoding: chunked\r\n") &&
           strstr(b.p, "Connection: keep-alive\r\n") && strstr(b.p, "X-A: 1\r\n") &&
           !strcmp(b.p + b.len - 4, "\r\n\r\n"), "head: %s", b.p);
    buf_clear(&b);
    http_chunk(&b, "hello world, ", 13);
    http_chunk(&b, "", 0);                   /* nothing: an empty chunk would end the body */
    http_chunk(&b, "bye", 3);
    http_chunk_end(&b);
    /* decode: size line, data, CRLF, until the zero chunk */
    char body[64] = "";
    size_t at = 0, got = 0;
    for (;;) {
        size_t size = strtoul(b.p + at, NULL, 16);
        at = (size_t)(strstr(b.p + at, "\r\n") - b.p) + 2;
        if (size == 0) break;
        memcpy(body + got, b.p + at, size);
        got += size;
        at += size + 2;
    }
    EXPECT(got == 16 && !memcmp(body, "hello world, bye", 16) && at + 2 == b.len, "decoded '%.*s'", (int)got, body);
    buf_clear(&b);
    http_head(&b, 413, "application/json", 10, false, NULL);
    EXPECT(strstr(b.p, "413 Content Too Large\r\n") && strstr(b.p, "Content-Length: 10\r\n") &&
           strstr(b.p, "Connection: close\r\n"), "error head: %s", b.p);
    buf_free(&b);
    TEST_END();
}

void suite_http(void) {
    good_requests();
    bad_requests();
    framing();
}
