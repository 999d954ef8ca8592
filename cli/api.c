/* api.c - the endpoints of `gemma serve`: OpenAI's chat and text completions, models,
 * llama-server's tokenize / detokenize, health, Prometheus metrics and the chat page.
 *
 *   api_handle            authorisation, then the route table (path, method, handler)
 *   chat_completions      messages -> gemma_chat_render (src/chat.c) -> a job
 *   completions           prompt text -> tokens -> a job
 *     read_sampling         the request's sampling and stopping fields, checked
 *     submit                the job to the scheduler (503 when the queue is full)
 *   writer_emit           the job's events as the response: one JSON object at the end, or
 *                         server-sent events (chat.completion.chunk / text_completion) and
 *                         data: [DONE]
 *   tokenize, detokenize, models, health, metrics, page
 *
 * Errors are OpenAI's shape, {"error":{"message":...,"type":...,"param":...,"code":...}},
 * with the status in the HTTP status line. The model in a request is not checked (one model
 * is served, as llama-server does). */
#include "api.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "gemma_json.h"

extern const char serve_page[];
extern const unsigned long serve_page_len;

enum { KIND_CHAT, KIND_COMPLETION };

struct api {
    gemma_model *m;
    sched *S;
    api_params p;
    gemma_model_info info;
    gemma_chat_format fmt;
    long created;                    /* start time, for /v1/models */
    atomic_bool draining;
    atomic_uint_least64_t n_requests, n_errors, n_prompt_tokens, n_gen_tokens;
    atomic_uint_least64_t status_count[6];   /* 1xx .. 5xx by first digit */
    atomic_uint_least64_t next_id;
};

api *api_new(gemma_model *m, sched *S, const api_params *p) {
    api *A = xcalloc(1, sizeof *A);
    A->m = m;
    A->S = S;
    A->p = *p;
    gemma_model_get_info(m, &A->info);
    A->fmt = gemma_chat_format_of(m);
    A->created = (long)time(NULL);
    return A;
}

void api_free(api *A) { free(A); }

void api_set_draining(api *A) { atomic_store(&A->draining, true); }

void api_count(api *A, int status, int n_prompt, int n_gen) {
    atomic_fetch_add(&A->n_requests, 1);
    if (status >= 400) atomic_fetch_add(&A->n_errors, 1);
    if (status >= 100 && status < 600) atomic_fetch_add(&A->status_count[status / 100], 1);
    atomic_fetch_add(&A->n_prompt_tokens, (uint64_t)(n_prompt > 0 ? n_prompt : 0));
    atomic_fetch_add(&A->n_gen_tokens, (uint64_t)(n_gen > 0 ? n_gen : 0));
}

/* ---------------------------------------------------------------------------------------
 * Replies */

static void put_json_string(buf *b, const char *s, size_t n) {
    char *q = gemma_json_quote(s, n);
    buf_puts(b, q);
    free(q);
}

static void put_json_cstr(buf *b, const char *s) { put_json_string(b, s, strlen(s)); }

static const char *error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

static void error_json(buf *b, int status, const char *message, const char *param) {
    buf_puts(b, "{\"error\":{\"message\":");
    put_json_cstr(b, message);
    buf_printf(b, ",\"type\":\"%s\",\"param\":", error_type(status));
    if (param) put_json_cstr(b, param);
    else buf_puts(b, "null");
    buf_printf(b, ",\"code\":%d}}", status);
}

static void error_param(api_reply *out, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void error_param(api_reply *out, int status, const char *param, const char *fmt, ...) {
    char msg[GEMMA_ERR_LEN + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_clear(&out->body);
    out->status = status;
    out->content_type = "application/json";
    error_json(&out->body, status, msg, param);
}

void api_error(api_reply *out, int status, const char *message) {
    error_param(out, status, NULL, "%s", message);
}

static void reply_json(api_reply *out, int status) {
    out->status = status;
    out->content_type = "application/json";
}

/* ---------------------------------------------------------------------------------------
 * Reading the request's fields: each reader returns false after setting a 400 reply that
 * names the field. */

typedef struct {
    const gemma_json *doc;
    api_reply *out;
} fields;

static bool is_type(const gemma_json *v, gemma_json_type t) { return v && gemma_json_typeof(v) == t; }

/* A number field in [lo, hi] (absent or null: unchanged). */
static bool read_number(fields *f, const char *key, double lo, double hi, double *x) {
    const gemma_json *v = gemma_json_get(f->doc, key);
    if (!v || is_type(v, GEMMA_JSON_NULL)) return true;
    double d = gemma_json_num(v);
    if (!is_type(v, GEMMA_JSON_NUMBER) || !(d >= lo && d <= hi)) {
        error_param(f->out, 400, key, "'%s' must be a number from %g to %g", key, lo, hi);
        return false;
    }
    *x = d;
    return true;
}

static bool read_float(fields *f, const char *key, double lo, double hi, float *x) {
    double d = *x;
    if (!read_number(f, key, lo, hi, &d)) return false;
    *x = (float)d;
    return true;
}

static bool read_int(fields *f, const char *key, double lo, double hi, int *x) {
    double d = *x;
    if (!read_number(f, key, lo, hi, &d)) return false;
    if (d != floor(d)) {
        error_param(f->out, 400, key, "'%s' must be an integer", key);
        return false;
    }
    *x = (int)d;
    return true;
}

static bool read_bool(fields *f, const char *key, bool *x) {
    const gemma_json *v = gemma_json_get(f->doc, key);
    if (!v || is_type(v, GEMMA_JSON_NULL)) return true;
    if (!is_type(v, GEMMA_JSON_BOOL)) {
        error_param(f->out, 400, key, "'%s' must be true or false", key);
        return false;
    }
    *x = gemma_json_bool(v);
    return true;
}

/* stop: a string or an array of at most 4 non-empty strings. */
static bool read_stop(fields *f, job *j) {
    const gemma_json *v = gemma_json_get(f->doc, "stop");
    if (!v || is_type(v, GEMMA_JSON_NULL)) return true;
    size_t n = is_type(v, GEMMA_JSON_STRING) ? 1 : is_type(v, GEMMA_JSON_ARRAY) ? gemma_json_len(v) : 0;
    if (!is_type(v, GEMMA_JSON_STRING) && !is_type(v, GEMMA_JSON_ARRAY)) n = SCHED_MAX_STOP + 1;
    if (n > SCHED_MAX_STOP) {
        error_param(f->out, 400, "stop", "'stop' must be a string or an array of at most %d strings", SCHED_MAX_STOP);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const gemma_json *s = is_type(v, GEMMA_JSON_STRING) ? v : gemma_json_at(v, i);
        if (!is_type(s, GEMMA_JSON_STRING) || gemma_json_str_len(s) == 0 ||
            strlen(gemma_json_str(s)) != gemma_json_str_len(s)) {
            error_param(f->out, 400, "stop", "'stop' strings must be non-empty text");
            return false;
        }
        j->stop[j->n_stop++] = xstrdup(gemma_json_str(s));
    }
    return true;
}

/* The sampling and stopping fields shared by both completion endpoints. */
static bool read_sampling(api *A, fields *f, job *j) {
    j->sp = A->p.sp;
    j->n_predict = A->p.n_predict;
    /* OpenAI's penalties count the tokens of the completion: the sampler sees only those
     * (no prompt tokens are accepted) over all of them, unless repeat_last_n says otherwise */
    j->sp.repeat_last_n = -1;
    double seed = -1;
    int n = 1, max_tokens = j->n_predict;
    if (!read_float(f, "temperature", 0, 100, &j->sp.temp) || !read_float(f, "top_p", 0, 1, &j->sp.top_p) ||
        !read_int(f, "top_k", 0, 1 << 30, &j->sp.top_k) || !read_float(f, "min_p", 0, 1, &j->sp.min_p) ||
        !read_float(f, "presence_penalty", -2, 2, &j->sp.presence_penalty) ||
        !read_float(f, "frequency_penalty", -2, 2, &j->sp.frequency_penalty) ||
        !read_float(f, "repeat_penalty", 1e-6, 1e6, &j->sp.repeat_penalty) ||
        !read_int(f, "repeat_last_n", -1, 1 << 24, &j->sp.repeat_last_n) ||
        !read_number(f, "seed", -1, 4294967295.0, &seed) || !read_int(f, "n", 1, 1, &n) ||
        !read_int(f, "max_tokens", -1, 1 << 30, &max_tokens) ||
        !read_int(f, "max_completion_tokens", -1, 1 << 30, &max_tokens) ||
        !read_int(f, "n_predict", -1, 1 << 30, &max_tokens) || !read_stop(f, j))
        return false;
    if (seed >= 0 && seed < 4294967295.0) {
        if (seed != floor(seed)) {
            error_param(f->out, 400, "seed", "'seed' must be an integer");
            return false;
        }
        j->sp.seed = (uint64_t)seed;
    }
    if (j->sp.temp <= 0) j->sp.temp = 0;       /* greedy */
    j->n_predict = max_tokens;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * The response writer (runs on the inference thread, with the job's mutex held) */

typedef struct {
    api *A;
    int kind;
    bool stream, include_usage;
    bool started;                    /* a chunk went out (the first one names the role) */
    char id[48];
    long created;
    int n_prompt;
    buf content, reasoning;          /* the whole text, for the non-streamed reply */
} writer;

static void writer_free(void *p) {
    writer *w = p;
    buf_free(&w->content);
    buf_free(&w->reasoning);
    free(w);
}

static const char *finish_text(finish_reason r) {
    switch (r) {
    case FINISH_LENGTH: return "length";
    case FINISH_TOOL_CALLS: return "tool_calls";
    default: return "stop";
    }
}

static void put_usage(buf *b, const job *j, const writer *w) {
    buf_printf(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
               w->n_prompt, j->n_gen, w->n_prompt + j->n_gen, j->n_cached);
}

static void put_head(buf *b, const writer *w, bool chunk) {
    buf_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":", w->id,
               w->kind == KIND_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion",
               w->created);
    put_json_cstr(b, w->A->p.model_id);
    buf_puts(b, ",\"system_fingerprint\":\"gemma-" GEMMA_VERSION "\"");
}

/* The answer's tool calls in OpenAI's shape, from the scheduler's JSON lines
 * {"name":...,"arguments":{...}}: arguments as a JSON string; in a stream's delta each with
 * its index. */
static void put_tool_calls(buf *b, const writer *w, const job_event *e, bool delta) {
    buf_puts(b, "\"tool_calls\":[");
    const char *p = e->tool_calls;
    for (int i = 0; i < e->n_tool_calls && p && *p; i++) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char err[GEMMA_ERR_LEN];
        gemma_json *call = gemma_json_parse(p, n, err);
        const char *name = gemma_json_str(gemma_json_get(call, "name"));
        const gemma_json *a = gemma_json_get(call, "arguments");
        char *args = a ? gemma_json_to_string(a) : NULL;
        if (i) buf_puts(b, ",");
        if (delta) buf_printf(b, "{\"index\":%d,", i);
        else buf_puts(b, "{");
        buf_printf(b, "\"id\":\"call_%s_%d\",\"type\":\"function\",\"function\":{\"name\":", w->id + 9, i);
        put_json_cstr(b, name ? name : "");
        buf_puts(b, ",\"arguments\":");
        put_json_cstr(b, args ? args : "{}");
        buf_puts(b, "}}");
        free(args);
        gemma_json_free(call);
        p = nl ? nl + 1 : p + n;
    }
    buf_puts(b, "]");
}

/* One server-sent event: data: {...}\n\n */
static void sse_chunk(job *j, writer *w, const job_event *e, bool first, const char *finish) {
    buf *b = &j->out;
    buf_puts(b, "data: ");
    put_head(b, w, true);
    buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (w->kind == KIND_CHAT) {
        buf_puts(b, "\"delta\":{");
        bool comma = false;
        if (first) {
            buf_puts(b, "\"role\":\"assistant\"");
            comma = true;
        }
        if (e && e->content_len) {
            buf_puts(b, comma ? ",\"content\":" : "\"content\":");
            put_json_string(b, e->content, e->content_len);
            comma = true;
        } else if (first) {
            buf_puts(b, ",\"content\":\"\"");
        }
        if (e && e->reasoning_len) {
            buf_puts(b, comma ? ",\"reasoning_content\":" : "\"reasoning_content\":");
            put_json_string(b, e->reasoning, e->reasoning_len);
        }
        buf_puts(b, "}");
    } else {
        buf_puts(b, "\"text\":");
        put_json_string(b, e ? e->content : "", e ? e->content_len : 0);
    }
    buf_puts(b, ",\"logprobs\":null,\"finish_reason\":");
    if (finish) buf_printf(b, "\"%s\"", finish);
    else buf_puts(b, "null");
    buf_puts(b, "}]");
    if (w->include_usage) buf_puts(b, ",\"usage\":null");
    buf_puts(b, "}\n\n");
}

static void stream_event(job *j, writer *w, const job_event *e) {
    buf *b = &j->out;
    if (e->finish == FINISH_ERROR) {
        buf_puts(b, "data: ");
        error_json(b, 500, e->error ? e->error : "generation failed", NULL);
        buf_puts(b, "\n\ndata: [DONE]\n\n");
        return;
    }
    if (e->finish == FINISH_CANCELLED) {   /* the shutdown's grace time ran out (or nobody reads) */
        buf_puts(b, "data: ");
        error_json(b, 503, "the generation was cancelled: the server is shutting down", NULL);
        buf_puts(b, "\n\ndata: [DONE]\n\n");
        return;
    }
    if (e->content_len || e->reasoning_len) {
        sse_chunk(j, w, e, !w->started, NULL);
        w->started = true;
    }
    if (e->finish == FINISH_NONE) return;
    if (e->n_tool_calls && w->kind == KIND_CHAT) {   /* the calls whole, in one delta */
        buf_puts(b, "data: ");
        put_head(b, w, true);
        buf_puts(b, ",\"choices\":[{\"index\":0,\"delta\":{");
        if (!w->started) buf_puts(b, "\"role\":\"assistant\",\"content\":null,");
        put_tool_calls(b, w, e, true);
        buf_puts(b, "},\"logprobs\":null,\"finish_reason\":null}]");
        if (w->include_usage) buf_puts(b, ",\"usage\":null");
        buf_puts(b, "}\n\n");
        w->started = true;
    }
    sse_chunk(j, w, NULL, !w->started, finish_text(e->finish));
    if (w->include_usage) {
        buf_puts(b, "data: ");
        put_head(b, w, true);
        buf_puts(b, ",\"choices\":[],");
        put_usage(b, j, w);
        buf_puts(b, "}\n\n");
    }
    buf_puts(b, "data: [DONE]\n\n");
}

static void whole_reply(job *j, writer *w, const job_event *e) {
    buf *b = &j->out;
    if (e->finish == FINISH_ERROR) {
        j->status = 500;
        error_json(b, 500, e->error ? e->error : "generation failed", NULL);
        return;
    }
    j->status = 200;
    put_head(b, w, false);
    buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (w->kind == KIND_CHAT) {
        buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        if (e->n_tool_calls && !w->content.len) buf_puts(b, "null");   /* OpenAI's: calls only */
        else put_json_string(b, w->content.p ? w->content.p : "", w->content.len);
        if (w->reasoning.len) {
            buf_puts(b, ",\"reasoning_content\":");
            put_json_string(b, w->reasoning.p, w->reasoning.len);
        }
        if (e->n_tool_calls) {
            buf_puts(b, ",");
            put_tool_calls(b, w, e, false);
        }
        buf_puts(b, "}");
    } else {
        buf_puts(b, "\"text\":");
        put_json_string(b, w->content.p ? w->content.p : "", w->content.len);
    }
    buf_printf(b, ",\"logprobs\":null,\"finish_reason\":\"%s\"}],", finish_text(e->finish));
    put_usage(b, j, w);
    buf_puts(b, "}");
}

static void writer_emit(job *j, const job_event *e) {
    writer *w = j->ctx;
    if (w->stream) {
        j->status = 200;
        stream_event(j, w, e);
        return;
    }
    buf_put(&w->content, e->content, e->content_len);
    buf_put(&w->reasoning, e->reasoning, e->reasoning_len);
    if (e->finish != FINISH_NONE && e->finish != FINISH_CANCELLED) whole_reply(j, w, e);
}

/* ---------------------------------------------------------------------------------------
 * The completion endpoints */

static bool check_prompt(api *A, api_reply *out, const job *j) {
    int n_ctx = sched_n_ctx(A->S);
    if (j->n_prompt == 0) {
        error_param(out, 400, "prompt", "the prompt is empty");
        return false;
    }
    if (j->n_prompt >= n_ctx) {
        error_param(out, 400, "messages",
                    "the prompt is %d tokens; a slot's context holds %d (the server's -c), with room for the answer",
                    j->n_prompt, n_ctx);
        return false;
    }
    return true;
}

/* Hand the job over: the reply is the job from here on. */
static void submit(api *A, api_reply *out, job *j, writer *w) {
    if (atomic_load(&A->draining)) {
        error_param(out, 503, NULL, "the server is shutting down");
        job_release(j);
        return;
    }
    j->emit = writer_emit;
    j->ctx = w;
    j->free_ctx = writer_free;
    if (sched_submit(A->S, j) != 0) {
        error_param(out, 503, NULL, "the server is busy: every slot is working and the queue is full; try again");
        job_release(j);
        return;
    }
    out->job = j;
    out->stream = w->stream;
    out->status = 200;
}

static writer *new_writer(api *A, fields *f, int kind, bool *ok) {
    writer *w = xcalloc(1, sizeof *w);
    w->A = A;
    w->kind = kind;
    w->created = (long)time(NULL);
    snprintf(w->id, sizeof w->id, "%s-%llu%06llu", kind == KIND_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)w->created, (unsigned long long)atomic_fetch_add(&A->next_id, 1) % 1000000);
    *ok = read_bool(f, "stream", &w->stream);
    const gemma_json *so = gemma_json_get(f->doc, "stream_options");
    if (*ok && so && !is_type(so, GEMMA_JSON_NULL)) {
        fields g = {so, f->out};
        *ok = is_type(so, GEMMA_JSON_OBJECT) && read_bool(&g, "include_usage", &w->include_usage);
        if (!*ok && !is_type(so, GEMMA_JSON_OBJECT))
            error_param(f->out, 400, "stream_options", "'stream_options' must be an object");
    }
    return w;
}

/* A message's content: a string, null, or an array of {"type":"text","text":...} parts
 * (joined by newlines). malloc'd into *text; false with the reply set. */
static bool message_text(const gemma_json *content, size_t i, char **text, api_reply *out) {
    if (!content || is_type(content, GEMMA_JSON_NULL)) {
        *text = NULL;
        return true;
    }
    if (is_type(content, GEMMA_JSON_STRING)) {
        if (strlen(gemma_json_str(content)) != gemma_json_str_len(content)) {
            error_param(out, 400, "messages", "messages[%zu].content holds a NUL character", i);
            return false;
        }
        *text = xstrdup(gemma_json_str(content));
        return true;
    }
    if (!is_type(content, GEMMA_JSON_ARRAY)) {
        error_param(out, 400, "messages", "messages[%zu].content must be a string or an array of text parts", i);
        return false;
    }
    buf b = {0};
    buf_puts(&b, "");
    for (size_t k = 0; k < gemma_json_len(content); k++) {
        const gemma_json *part = gemma_json_at(content, k);
        const char *type = gemma_json_str(gemma_json_get(part, "type"));
        const gemma_json *t = gemma_json_get(part, "text");
        if (!type || strcmp(type, "text") || !is_type(t, GEMMA_JSON_STRING) ||
            strlen(gemma_json_str(t)) != gemma_json_str_len(t)) {
            error_param(out, 400, "messages", "messages[%zu].content[%zu]: only text parts are supported", i, k);
            buf_free(&b);
            return false;
        }
        if (k) buf_puts(&b, "\n");
        buf_puts(&b, gemma_json_str(t));
    }
    *text = b.p;
    return true;
}

typedef struct {
    gemma_chat_message *msgs;
    char **owned;          /* strings to free */
    int n, n_owned;
} message_list;

static void message_list_free(message_list *l) {
    for (int i = 0; i < l->n_owned; i++) free(l->owned[i]);
    free(l->owned);
    free(l->msgs);
}

static char *keep(message_list *l, char *s) {
    if (s) l->owned[l->n_owned++] = s;
    return s;
}

/* The name of the function a tool message answers: its own "name", else the call of an
 * earlier assistant message with the same id. */
static const char *tool_name(const gemma_json *msgs, size_t i) {
    const gemma_json *m = gemma_json_at(msgs, i);
    const char *name = gemma_json_str(gemma_json_get(m, "name"));
    const char *id = gemma_json_str(gemma_json_get(m, "tool_call_id"));
    for (size_t k = i; !name && id && k-- > 0;) {
        const gemma_json *calls = gemma_json_get(gemma_json_at(msgs, k), "tool_calls");
        for (size_t c = 0; c < gemma_json_len(calls); c++) {
            const char *cid = gemma_json_str(gemma_json_get(gemma_json_at(calls, c), "id"));
            if (cid && !strcmp(cid, id))
                return gemma_json_str(gemma_json_get(gemma_json_get(gemma_json_at(calls, c), "function"), "name"));
        }
    }
    return name;
}

static bool read_messages(const gemma_json *msgs, message_list *l, api_reply *out) {
    size_t n = gemma_json_len(msgs);
    if (!is_type(msgs, GEMMA_JSON_ARRAY) || n == 0) {
        error_param(out, 400, "messages", "'messages' must be a non-empty array");
        return false;
    }
    l->msgs = xcalloc(n, sizeof *l->msgs);
    l->owned = xcalloc(2 * n, sizeof *l->owned);
    for (size_t i = 0; i < n; i++) {
        const gemma_json *m = gemma_json_at(msgs, i);
        const char *role = gemma_json_str(gemma_json_get(m, "role"));
        if (!is_type(m, GEMMA_JSON_OBJECT) || !role) {
            error_param(out, 400, "messages", "messages[%zu] must be an object with a 'role'", i);
            return false;
        }
        char *text;
        if (!message_text(gemma_json_get(m, "content"), i, &text, out)) return false;
        gemma_chat_message *cm = &l->msgs[l->n++];
        cm->role = role;
        cm->content = keep(l, text);
        const gemma_json *calls = gemma_json_get(m, "tool_calls");
        if (calls && !is_type(calls, GEMMA_JSON_NULL)) cm->tool_calls = keep(l, gemma_json_to_string(calls));
        if (!strcmp(role, "tool")) cm->name = tool_name(msgs, i);
    }
    return true;
}

/* Gemma 4 thinking: the server's --think, unless the request says (llama-server's
 * chat_template_kwargs.enable_thinking, ollama's think, or OpenAI's reasoning_effort). */
static bool read_think(api *A, fields *f, bool *think) {
    *think = A->p.think;
    const gemma_json *kw = gemma_json_get(f->doc, "chat_template_kwargs");
    fields g = {kw, f->out};
    if (kw && !read_bool(&g, "enable_thinking", think)) return false;
    if (!read_bool(f, "think", think)) return false;
    const char *effort = gemma_json_str(gemma_json_get(f->doc, "reasoning_effort"));
    if (effort) *think = strcmp(effort, "none") != 0 && strcmp(effort, "minimal") != 0;
    return true;
}

/* tool_choice: "auto" (default), "none", "required", or one named function (its tool alone,
 * required). The tools' JSON for step.c into *text (malloc'd). */
static bool read_tool_choice(fields *f, const gemma_json *tools, step_spec *spec, char **text) {
    const gemma_json *tc = gemma_json_get(f->doc, "tool_choice");
    const char *name = NULL, *choice = gemma_json_str(tc);
    spec->choice = TOOL_CHOICE_AUTO;
    if (choice && !strcmp(choice, "none")) spec->choice = TOOL_CHOICE_NONE;
    else if (choice && !strcmp(choice, "required")) spec->choice = TOOL_CHOICE_REQUIRED;
    else if (is_type(tc, GEMMA_JSON_OBJECT)) {
        name = gemma_json_str(gemma_json_get(gemma_json_get(tc, "function"), "name"));
        spec->choice = TOOL_CHOICE_REQUIRED;
    }
    if ((choice && strcmp(choice, "auto") && spec->choice == TOOL_CHOICE_AUTO) ||
        (!choice && tc && !is_type(tc, GEMMA_JSON_NULL) && !name)) {
        error_param(f->out, 400, "tool_choice",
                    "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}");
        return false;
    }
    if (!name) {
        *text = gemma_json_to_string(tools);
    } else {
        for (size_t i = 0; i < gemma_json_len(tools) && !*text; i++) {
            const gemma_json *t = gemma_json_at(tools, i);
            const char *n = gemma_json_str(gemma_json_get(gemma_json_get(t, "function"), "name"));
            if (!n || strcmp(n, name)) continue;
            char *one = gemma_json_to_string(t);
            buf b = {0};
            buf_printf(&b, "[%s]", one);
            free(one);
            *text = b.p;
        }
        if (!*text) {
            error_param(f->out, 400, "tool_choice", "'tool_choice' names '%s', which is not among the tools", name);
            return false;
        }
    }
    spec->tools = *text;
    return true;
}

/* What the answer must be: response_format (json_object, json_schema) or tools with
 * tool_choice, and Gemma 4's thought channel: the rules of the CLI's per-token step
 * (step.c) into j->rules. False with a 400 reply naming the field. */
static bool read_rules(api *A, fields *f, job *j, bool think, bool tools_allowed) {
    step_spec spec = {0};
    spec.channels = A->fmt == GEMMA_CHAT_GEMMA4;
    spec.think = think;
    char *schema = NULL, *tools = NULL, err[GEMMA_ERR_LEN];
    const char *param = "response_format";
    bool ok = read_bool(f, "ignore_eos", &spec.ignore_eos);
    const gemma_json *rf = gemma_json_get(f->doc, "response_format");
    if (ok && rf && !is_type(rf, GEMMA_JSON_NULL)) {
        const char *type = gemma_json_str(gemma_json_get(rf, "type"));
        const gemma_json *sc = gemma_json_get(gemma_json_get(rf, "json_schema"), "schema");
        if (type && !strcmp(type, "json_object")) {
            spec.json = true;
        } else if (type && !strcmp(type, "json_schema") && is_type(sc, GEMMA_JSON_OBJECT)) {
            spec.json_schema = schema = gemma_json_to_string(sc);
        } else if (!type || strcmp(type, "text")) {
            error_param(f->out, 400, param, "'response_format' must be {\"type\":\"text\"}, {\"type\":\"json_object\"} "
                                            "or {\"type\":\"json_schema\",\"json_schema\":{\"schema\":{...}}}");
            ok = false;
        }
    }
    const gemma_json *tl = gemma_json_get(f->doc, "tools");
    if (ok && tools_allowed && is_type(tl, GEMMA_JSON_ARRAY) && gemma_json_len(tl) > 0) {
        param = "tools";
        if (spec.json || spec.json_schema) {
            error_param(f->out, 400, param, "'tools' and 'response_format' cannot be combined");
            ok = false;
        } else if (!gemma_model_has_tool_tokens(A->m)) {
            error_param(f->out, 400, param, "this model has no tool-call tokens (Gemma 4 models have them)");
            ok = false;
        } else {
            ok = read_tool_choice(f, tl, &spec, &tools);
        }
    }
    if (ok && step_spec_check(&spec, err) != 0) {
        error_param(f->out, 400, param, "%s", err);
        ok = false;
    }
    if (ok) {
        j->rules = xcalloc(1, sizeof *j->rules);
        if (step_rules_init(j->rules, A->m, &spec, err) != 0) {
            error_param(f->out, 400, param, "%s", err);
            free(j->rules);
            j->rules = NULL;
            ok = false;
        }
    }
    free(schema);
    free(tools);
    return ok;
}

static void chat_completions(api *A, fields *f, api_reply *out) {
    message_list l = {0};
    job *j = job_new();
    writer *w = NULL;
    bool ok = read_messages(gemma_json_get(f->doc, "messages"), &l, out) && read_sampling(A, f, j);
    bool think = false;
    if (ok) ok = read_think(A, f, &think);
    if (ok) ok = read_rules(A, f, j, think && A->fmt == GEMMA_CHAT_GEMMA4, true);
    if (ok) w = new_writer(A, f, KIND_CHAT, &ok);
    if (ok) {
        char err[GEMMA_ERR_LEN];
        gemma_chat_options o = {.think = think && A->fmt == GEMMA_CHAT_GEMMA4, .tools = j->rules->tools};
        j->after_results = l.n > 0 && !strcmp(l.msgs[l.n - 1].role, "tool");
        j->prompt = gemma_chat_render(A->m, A->fmt, l.msgs, l.n, &o, false, &j->n_prompt, err);
        if (!j->prompt) {
            error_param(out, 400, "messages", "%s", err);
            ok = false;
        }
    }
    message_list_free(&l);
    if (ok) ok = check_prompt(A, out, j);
    if (!ok) {
        if (w) writer_free(w);
        job_release(j);
        return;
    }
    w->n_prompt = j->n_prompt;
    submit(A, out, j, w);
}

static void completions(api *A, fields *f, api_reply *out) {
    const gemma_json *prompt = gemma_json_get(f->doc, "prompt");
    if (is_type(prompt, GEMMA_JSON_ARRAY) && gemma_json_len(prompt) == 1) prompt = gemma_json_at(prompt, 0);
    if (!is_type(prompt, GEMMA_JSON_STRING)) {
        error_param(out, 400, "prompt", "'prompt' must be a string (or an array of one string)");
        return;
    }
    job *j = job_new();
    bool ok = read_sampling(A, f, j) && read_rules(A, f, j, false, false);
    writer *w = ok ? new_writer(A, f, KIND_COMPLETION, &ok) : NULL;
    if (ok) {
        /* a plain completion: the prompt's text as written, special-token text included */
        j->prompt = gemma_tokenize(A->m, gemma_json_str(prompt), gemma_json_str_len(prompt), true, true, &j->n_prompt);
        ok = check_prompt(A, out, j);
    }
    if (!ok) {
        if (w) writer_free(w);
        job_release(j);
        return;
    }
    w->n_prompt = j->n_prompt;
    submit(A, out, j, w);
}

/* ---------------------------------------------------------------------------------------
 * The other endpoints */

static void tokenize(api *A, fields *f, api_reply *out) {
    const gemma_json *content = gemma_json_get(f->doc, "content");
    bool add_special = false, with_pieces = false;
    if (!is_type(content, GEMMA_JSON_STRING)) {
        error_param(out, 400, "content", "'content' must be a string");
        return;
    }
    if (!read_bool(f, "add_special", &add_special) || !read_bool(f, "with_pieces", &with_pieces)) return;
    int n;
    int32_t *ids = gemma_tokenize(A->m, gemma_json_str(content), gemma_json_str_len(content), add_special, true, &n);
    buf *b = &out->body;
    buf_puts(b, "{\"tokens\":[");
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(b, ",");
        if (!with_pieces) {
            buf_printf(b, "%d", ids[i]);
            continue;
        }
        char piece[512];
        size_t k = gemma_token_to_piece(A->m, ids[i], piece, sizeof piece);
        buf_printf(b, "{\"id\":%d,\"piece\":", ids[i]);
        put_json_string(b, piece, k < sizeof piece ? k : sizeof piece);
        buf_puts(b, "}");
    }
    buf_puts(b, "]}");
    free(ids);
    reply_json(out, 200);
}

static void detokenize(api *A, fields *f, api_reply *out) {
    const gemma_json *tokens = gemma_json_get(f->doc, "tokens");
    if (!is_type(tokens, GEMMA_JSON_ARRAY)) {
        error_param(out, 400, "tokens", "'tokens' must be an array of token ids");
        return;
    }
    buf text = {0};
    buf_puts(&text, "");
    for (size_t i = 0; i < gemma_json_len(tokens); i++) {
        double d = gemma_json_num(gemma_json_at(tokens, i));
        if (!(d >= 0 && d < A->info.n_vocab) || d != floor(d)) {
            error_param(out, 400, "tokens", "tokens[%zu] is not a token id of this model (0 to %d)", i,
                        A->info.n_vocab - 1);
            buf_free(&text);
            return;
        }
        char piece[512];
        size_t k = gemma_token_to_piece(A->m, (int32_t)d, piece, sizeof piece);
        buf_put(&text, piece, k < sizeof piece ? k : sizeof piece);
    }
    buf_puts(&out->body, "{\"content\":");
    put_json_string(&out->body, text.p, text.len);
    buf_puts(&out->body, "}");
    buf_free(&text);
    reply_json(out, 200);
}

static void models(api *A, api_reply *out) {
    buf *b = &out->body;
    buf_puts(b, "{\"object\":\"list\",\"data\":[{\"id\":");
    put_json_cstr(b, A->p.model_id);
    buf_printf(b, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"gemma\",\"meta\":{\"arch\":", A->created);
    put_json_cstr(b, A->info.arch ? A->info.arch : "");
    buf_printf(b, ",\"n_vocab\":%d,\"n_ctx_train\":%d,\"n_ctx\":%d,\"n_params\":%llu,\"size\":%llu}}]}",
               A->info.n_vocab, A->info.n_ctx_train, sched_n_ctx(A->S), (unsigned long long)A->info.n_params,
               (unsigned long long)A->info.n_bytes);
    reply_json(out, 200);
}

/* 200 while requests are taken (a slot free or room in the queue), 503 while shutting down
 * or when a new request would be refused: a load balancer sends traffic elsewhere. */
static void health(api *A, api_reply *out) {
    sched_stats st;
    sched_get_stats(A->S, &st);
    bool full = st.queued >= st.max_queue + st.n_slots - st.slots_busy;   /* as sched_submit */
    const char *status = atomic_load(&A->draining) ? "shutting down" : full ? "busy" : "ok";
    buf_printf(&out->body, "{\"status\":\"%s\",\"slots_idle\":%d,\"slots_processing\":%d,\"queued\":%d}", status,
               st.n_slots - st.slots_busy, st.slots_busy, st.queued);
    reply_json(out, strcmp(status, "ok") ? 503 : 200);
}

static void metric(buf *b, const char *name, const char *type, const char *help, double v) {
    buf_printf(b, "# HELP gemma_%s %s\n# TYPE gemma_%s %s\ngemma_%s %.17g\n", name, help, name, type, name, v);
}

static void metrics(api *A, api_reply *out) {
    sched_stats st;
    sched_get_stats(A->S, &st);
    buf *b = &out->body;
    metric(b, "requests_total", "counter", "HTTP requests answered.", (double)atomic_load(&A->n_requests));
    buf_puts(b, "# HELP gemma_responses_total HTTP responses by status class.\n"
                "# TYPE gemma_responses_total counter\n");
    for (int c = 2; c <= 5; c++)
        buf_printf(b, "gemma_responses_total{code=\"%dxx\"} %llu\n", c,
                   (unsigned long long)atomic_load(&A->status_count[c]));
    metric(b, "prompt_tokens_total", "counter", "Prompt tokens of completed requests.",
           (double)atomic_load(&A->n_prompt_tokens));
    metric(b, "tokens_predicted_total", "counter", "Tokens generated.", (double)st.gen_tokens);
    metric(b, "prompt_tokens_evaluated_total", "counter", "Prompt tokens evaluated (not found in a slot's cache).",
           (double)st.prompt_tokens);
    metric(b, "prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's cache.",
           (double)st.cached_tokens);
    metric(b, "prompt_seconds_total", "counter", "Time evaluating prompts.", st.prompt_seconds);
    metric(b, "tokens_predicted_seconds_total", "counter", "Time evaluating generated tokens.", st.gen_seconds);
    metric(b, "prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
           st.prompt_seconds > 0 ? (double)st.prompt_tokens / st.prompt_seconds : 0);
    metric(b, "predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
           st.gen_seconds > 0 ? (double)st.gen_tokens / st.gen_seconds : 0);
    metric(b, "requests_processing", "gauge", "Requests running in a slot.", st.slots_busy);
    metric(b, "requests_deferred", "gauge", "Requests waiting for a slot.", st.queued);
    metric(b, "slots_total", "gauge", "Slots (-np).", st.n_slots);
    metric(b, "kv_cache_tokens", "gauge", "Tokens held in the slots' KV caches.", (double)st.cache_tokens);
    metric(b, "steps_total", "counter", "Scheduler steps (one evaluation over all active slots).", (double)st.steps);
    out->status = 200;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void page(api_reply *out) {
    buf_put(&out->body, serve_page, serve_page_len);
    out->status = 200;
    out->content_type = "text/html; charset=utf-8";
}

/* ---------------------------------------------------------------------------------------
 * Routing */

typedef enum { NEEDS_NOTHING, NEEDS_JSON } route_input;

typedef struct {
    const char *path, *method;
    bool public;          /* no API key needed */
    route_input input;
    void (*json)(api *A, fields *f, api_reply *out);
    void (*plain)(api *A, api_reply *out);
} route;

static void page_route(api *A, api_reply *out) {
    (void)A;
    page(out);
}

static const route routes[] = {
    {"/v1/chat/completions", "POST", false, NEEDS_JSON, chat_completions, NULL},
    {"/chat/completions", "POST", false, NEEDS_JSON, chat_completions, NULL},
    {"/v1/completions", "POST", false, NEEDS_JSON, completions, NULL},
    {"/completions", "POST", false, NEEDS_JSON, completions, NULL},
    {"/tokenize", "POST", false, NEEDS_JSON, tokenize, NULL},
    {"/detokenize", "POST", false, NEEDS_JSON, detokenize, NULL},
    {"/v1/models", "GET", false, NEEDS_NOTHING, NULL, models},
    {"/models", "GET", false, NEEDS_NOTHING, NULL, models},
    {"/health", "GET", true, NEEDS_NOTHING, NULL, health},
    {"/v1/health", "GET", true, NEEDS_NOTHING, NULL, health},
    {"/metrics", "GET", true, NEEDS_NOTHING, NULL, metrics},
    {"/", "GET", true, NEEDS_NOTHING, NULL, page_route},
};
#define N_ROUTES (int)(sizeof routes / sizeof routes[0])

/* Authorization: Bearer KEY, compared in time independent of where they differ. */
static bool authorised(const api *A, const http_request *r) {
    if (!A->p.api_key) return true;
    size_t n = 0;
    const char *v = http_header_get(r, "authorization", &n);
    if (!v || n < 7 || strncasecmp(v, "Bearer ", 7)) return false;
    v += 7;
    n -= 7;
    size_t k = strlen(A->p.api_key);
    unsigned diff = (unsigned)(n != k);
    for (size_t i = 0; i < n; i++) diff |= (unsigned)(v[i] ^ A->p.api_key[i % (k ? k : 1)]);
    return diff == 0;
}

void api_handle(api *A, const http_request *r, const char *body, size_t len, api_reply *out) {
    memset(out, 0, sizeof *out);
    if (http_method_is(r, "OPTIONS")) {   /* CORS preflight */
        out->status = 204;
        out->extra_headers = "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                             "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
                             "Access-Control-Max-Age: 86400\r\n";
        return;
    }
    const route *rt = NULL;
    bool path_known = false;
    for (int i = 0; i < N_ROUTES && !rt; i++) {
        if (!http_path_is(r, routes[i].path)) continue;
        path_known = true;
        bool head = http_method_is(r, "HEAD") && !strcmp(routes[i].method, "GET");
        if (http_method_is(r, routes[i].method) || head) rt = &routes[i];
    }
    if (!rt) {
        if (path_known) {
            error_param(out, 405, NULL, "method %.*s is not allowed on %.*s", (int)r->method_len, r->method,
                        (int)r->path_len, r->target);
            out->extra_headers = "Allow: GET, HEAD, POST, OPTIONS\r\n";
        } else {
            error_param(out, 404, NULL, "no endpoint %.*s", (int)r->path_len, r->target);
        }
        return;
    }
    if (!rt->public && !authorised(A, r)) {
        error_param(out, 401, NULL, "invalid or missing API key (Authorization: Bearer KEY)");
        out->extra_headers = "WWW-Authenticate: Bearer\r\n";
        return;
    }
    if (rt->input == NEEDS_NOTHING) {
        rt->plain(A, out);
        return;
    }
    char err[GEMMA_ERR_LEN];
    gemma_json *doc = gemma_json_parse(body, len, err);
    if (!doc) {
        error_param(out, 400, NULL, "the body is not valid JSON: %s", err);
        return;
    }
    if (gemma_json_typeof(doc) != GEMMA_JSON_OBJECT) {
        error_param(out, 400, NULL, "the body must be a JSON object");
    } else {
        fields f = {doc, out};
        rt->json(A, &f, out);
    }
    gemma_json_free(doc);
}
