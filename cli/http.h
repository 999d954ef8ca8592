/* http.h - HTTP/1.1 (RFC 9112) as the server speaks it, without sockets: the head of a
 * request parsed from the bytes received so far, and the framing of responses (status line,
 * headers, chunked transfer coding, server-sent events). The connection loop (server.c)
 * feeds it bytes; the tests and the fuzz harness (tests/fuzz/fuzz_http.c) call it directly.
 *
 *   http_request r;
 *   int rc = http_parse_head(bytes, n, &limits, &r);
 *   rc > 0: the head is r.head_len bytes; the body is the next r.content_length bytes
 *   rc == 0: incomplete, read more (the limits are already checked on what is there)
 *   rc < 0: -status to answer before closing (400, 413, 414, 417, 431, 501, 505)
 *
 * What it accepts: a request line METHOD SP TARGET SP HTTP/1.0|1.1, header fields NAME:
 * VALUE, lines ended by CRLF or a bare LF, empty lines before the request line (RFC 9112
 * 2.2). Refused: whitespace before a field's colon, obsolete line folding, control bytes,
 * conflicting Content-Length values, a body in chunked coding (501: bodies need
 * Content-Length here), versions other than 1.x (505). Pointers in http_request point into
 * the caller's bytes. */
#ifndef GEMMA_HTTP_H
#define GEMMA_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define HTTP_MAX_HEADERS 64

typedef struct {
    size_t max_head;     /* request line + header fields + blank line, bytes (431 past it) */
    size_t max_target;   /* the request target (414 past it) */
    size_t max_body;     /* Content-Length (413 past it) */
} http_limits;

typedef struct {
    const char *name, *value;
    size_t name_len, value_len;   /* the value without surrounding whitespace */
} http_header;

typedef struct {
    const char *method, *target;  /* into the caller's bytes, not NUL-terminated */
    size_t method_len, target_len;
    size_t path_len;              /* the target up to '?' */
    int minor;                    /* HTTP/1.minor */
    http_header headers[HTTP_MAX_HEADERS];
    int n_headers;
    size_t head_len;              /* bytes up to and including the blank line */
    size_t content_length;
    bool keep_alive;              /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
    bool expect_continue;         /* "Expect: 100-continue": answer 100 before the body */
} http_request;

int http_parse_head(const char *buf, size_t n, const http_limits *lim, http_request *r);

/* The header's value (case-insensitive name), NULL if absent; *len its length. */
const char *http_header_get(const http_request *r, const char *name, size_t *len);
bool http_method_is(const http_request *r, const char *method);
bool http_path_is(const http_request *r, const char *path);

const char *http_status_text(int status);   /* "Not Found"; "Unknown" for others */

/* A response head. content_length < 0: chunked transfer coding (then frame the body with
 * http_chunk and end it with http_chunk_end). extra: more header lines, each ending in
 * "\r\n", or NULL. */
void http_head(buf *out, int status, const char *content_type, long long content_length, bool keep_alive,
               const char *extra);
void http_chunk(buf *out, const char *data, size_t n);   /* nothing for n == 0 */
void http_chunk_end(buf *out);

#endif
