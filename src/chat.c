/* chat.c - the turn formats of Gemma's chat templates (doc/chat.md), rendered
 * directly rather than by a Jinja interpreter: the templates of every Gemma release produce
 * exactly these strings for plain user/model/system text.
 *
 * Gemma 1-3:  <start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n
 * Gemma 4:    <|turn>system\n{<|think|>}{system}<turn|>\n<|turn>user\n{user}<turn|>\n
 *             <|turn>model\n{<|channel>thought\n<channel|> when thinking is off}
 * A later turn first closes the previous answer (<end_of_turn>\n or <turn|>\n): generation
 * stops at that end-of-turn token without feeding it to the model.
 *
 * gemma_chat_turn_tokens tokenizes a turn so that only the template's own markers become
 * control tokens: text a user pipes in can then not forge a turn (the rest of the turn is
 * tokenized with parse_special as the caller says). Gemma 4's tool declarations in the
 * system text (<|tool>...<tool|>) count as the template's markers.
 *
 * gemma_chat_render does the same for a whole conversation (OpenAI's messages, for the
 * server): render_conversation -> one writer per format (render_gemma3, render_gemma4,
 * render_plain) -> tokenize_marked.
 *
 * Everything it needs from a model is asked through the public API (gemma.h). */
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
#include "json.h"
#include "toolcall.h"
#include "util.h"

gemma_chat_format gemma_chat_format_of(const gemma_model *m) {
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    if (!info.has_chat_template) return GEMMA_CHAT_NONE;
    if (info.arch && !strcmp(info.arch, "gemma4"))
        return gemma_token_id(m, "<|turn>") >= 0 && gemma_token_id(m, "<turn|>") >= 0
                   ? GEMMA_CHAT_GEMMA4 : GEMMA_CHAT_NONE;
    return gemma_token_id(m, "<start_of_turn>") >= 0 && gemma_token_id(m, "<end_of_turn>") >= 0
               ? GEMMA_CHAT_GEMMA : GEMMA_CHAT_NONE;
}

/* The text of a turn, and where in it the template's own control tokens are: those become
 * control tokens however the text around them is tokenized (gemma_chat_turn_tokens). */
typedef struct {
    char *p;
    size_t n, cap;
    size_t *marks;       /* [2 * i]: offset of control token i, [2 * i + 1]: its length */
    int n_marks, cap_marks;
} turn_text;

static void put(turn_text *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(turn_text *b, const char *s) { put(b, s, strlen(s)); }

/* A control token of the template, e.g. "<start_of_turn>". */
static void control(turn_text *b, const char *s) {
    if (b->n_marks == b->cap_marks) {
        b->cap_marks = b->cap_marks ? 2 * b->cap_marks : 8;
        b->marks = xrealloc(b->marks, (size_t)b->cap_marks * 2 * sizeof(size_t));
    }
    b->marks[2 * b->n_marks] = b->n;
    b->marks[2 * b->n_marks + 1] = strlen(s);
    b->n_marks++;
    puts_(b, s);
}

/* The templates trim message content. */
static void trim(const char **s, const char **e) {
    while (*s < *e && (**s == ' ' || **s == '\n' || **s == '\t' || **s == '\r')) (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\n' || (*e)[-1] == '\t' || (*e)[-1] == '\r')) (*e)--;
}

static void put_trimmed(turn_text *b, const char *s) {
    const char *e = s + strlen(s);
    trim(&s, &e);
    put(b, s, (size_t)(e - s));
}

/* Gemma 4's system text, trimmed, with the tool declarations gemma_tools_system_prompt put
 * after it: their <|tool> and <tool|> are the template's markup (CONTROL tokens), so they
 * become control tokens even when the rest is tokenized as plain text. */
static void put_system4(turn_text *b, const char *s) {
    static const char *const marks[] = {"<|tool>", "<tool|>"};
    const char *e = s + strlen(s);
    trim(&s, &e);
    while (s < e) {
        const char *hit = NULL, *mark = NULL;
        for (int i = 0; i < 2; i++) {
            size_t k = strlen(marks[i]);
            for (const char *p = s; p + k <= e && (!hit || p < hit); p++)
                if (!memcmp(p, marks[i], k)) { hit = p; mark = marks[i]; break; }
        }
        if (!hit) break;
        put(b, s, (size_t)(hit - s));
        control(b, mark);
        s = hit + strlen(mark);
    }
    put(b, s, (size_t)(e - s));
}

static void render_turn(turn_text *b, gemma_chat_format f, const char *system, const char *user,
                        bool first, bool think) {
    memset(b, 0, sizeof *b);
    put(b, "", 0);
    bool has_system = system && *system;
    if (f == GEMMA_CHAT_GEMMA) {
        if (!first) { control(b, "<end_of_turn>"); puts_(b, "\n"); }
        control(b, "<start_of_turn>");
        puts_(b, "user\n");
        if (first && has_system) {        /* folded into the first user turn */
            put_trimmed(b, system);
            puts_(b, "\n\n");
        }
        put_trimmed(b, user);
        control(b, "<end_of_turn>");
        puts_(b, "\n");
        control(b, "<start_of_turn>");
        puts_(b, "model\n");
    } else if (f == GEMMA_CHAT_GEMMA4) {
        if (!first) { control(b, "<turn|>"); puts_(b, "\n"); }
        if (first && (has_system || think)) {
            control(b, "<|turn>");
            puts_(b, "system\n");
            if (think) control(b, "<|think|>");
            if (has_system) put_system4(b, system);
            control(b, "<turn|>");
            puts_(b, "\n");
        }
        control(b, "<|turn>");
        puts_(b, "user\n");
        put_trimmed(b, user);
        control(b, "<turn|>");
        puts_(b, "\n");
        control(b, "<|turn>");
        puts_(b, "model\n");
        if (!think) {                     /* empty thought, pre-filled */
            control(b, "<|channel>");
            puts_(b, "thought\n");
            control(b, "<channel|>");
        }
    } else {
        if (first && has_system) {
            puts_(b, system);
            puts_(b, "\n\n");
        }
        puts_(b, user);
    }
}

char *gemma_chat_turn(gemma_chat_format f, const char *system, const char *user, bool first,
                      bool think) {
    turn_text b;
    render_turn(&b, f, system, user, first, think);
    free(b.marks);
    return b.p;
}

/* Append src[0..n) to the id list. */
static void append_ids(int32_t **ids, int *n, int *cap, const int32_t *src, int k) {
    if (k == 0) return;
    if (*n + k > *cap) {
        *cap = (*n + k) * 2 + 8;
        *ids = xrealloc(*ids, (size_t)*cap * sizeof(int32_t));
    }
    memcpy(*ids + *n, src, (size_t)k * sizeof(int32_t));
    *n += k;
}

/* The text between the template's control tokens is tokenized on its own: the tokenizer
 * splits its input at control tokens anyway and tokenizes each piece separately, so with
 * parse_special this gives the ids of gemma_tokenize(whole turn, parse_special) exactly
 * (tests/test_chat.c compares them); without it, control-token text written by the user
 * stays text. BOS comes first when asked (Gemma vocabularies never add EOS). */
static int32_t *tokenize_marked(const gemma_model *m, turn_text *b, bool add_bos, bool parse_special,
                                int *n_out);

int32_t *gemma_chat_turn_tokens(const gemma_model *m, gemma_chat_format f, const char *system,
                                const char *user, bool first, bool think, bool add_bos,
                                bool parse_special, int *n_out) {
    turn_text b;
    render_turn(&b, f, system, user, first, think);
    return tokenize_marked(m, &b, add_bos, parse_special, n_out);
}

/* The ids of a rendered text: its marks as control tokens, the text between them tokenized
 * with parse_special as asked. Frees b's buffers. */
static int32_t *tokenize_marked(const gemma_model *m, turn_text *bp, bool add_bos, bool parse_special,
                                int *n_out) {
    turn_text b = *bp;
    int n = 0, cap = 0;
    int32_t *ids = NULL;
    int32_t bos = gemma_token_bos(m);
    if (add_bos && bos >= 0) append_ids(&ids, &n, &cap, &bos, 1);
    size_t pos = 0;
    for (int i = 0; i <= b.n_marks; i++) {
        size_t end = i < b.n_marks ? b.marks[2 * i] : b.n;
        int k;
        int32_t *part = gemma_tokenize(m, b.p + pos, end - pos, false, parse_special, &k);
        append_ids(&ids, &n, &cap, part, k);
        free(part);
        if (i == b.n_marks) break;
        size_t len = b.marks[2 * i + 1];
        char after = b.p[end + len];     /* the marker alone, NUL-terminated for a moment */
        b.p[end + len] = 0;
        int32_t id = gemma_token_id(m, b.p + end);
        b.p[end + len] = after;
        if (id >= 0) {
            append_ids(&ids, &n, &cap, &id, 1);
        } else { /* not in this vocabulary (a format forced on it): as text would be */
            part = gemma_tokenize(m, b.p + end, len, false, true, &k);
            append_ids(&ids, &n, &cap, part, k);
            free(part);
        }
        pos = end + len;
    }
    free(b.marks);
    free(b.p);
    if (!ids) ids = xmalloc(1);
    *n_out = n;
    return ids;
}

/* ---------------------------------------------------------------------------------------
 * Whole conversations (gemma_chat_render): OpenAI's messages in a template's turns. */

typedef enum { ROLE_SYSTEM, ROLE_USER, ROLE_MODEL, ROLE_TOOL, ROLE_UNKNOWN } chat_role;

static chat_role role_of(const char *r) {
    if (!r) return ROLE_UNKNOWN;
    if (!strcmp(r, "system") || !strcmp(r, "developer")) return ROLE_SYSTEM;
    if (!strcmp(r, "user")) return ROLE_USER;
    if (!strcmp(r, "assistant") || !strcmp(r, "model")) return ROLE_MODEL;
    if (!strcmp(r, "tool")) return ROLE_TOOL;
    return ROLE_UNKNOWN;
}

static const char *text_of(const gemma_chat_message *m) { return m->content ? m->content : ""; }

/* An earlier answer as the Gemma 4 template's strip_thinking leaves it: every
 * <|channel>...<channel|> cut out, the rest trimmed. */
static void put_answer(turn_text *b, const char *s) {
    turn_text plain = {0};
    put(&plain, "", 0);
    for (const char *p = s;;) {
        const char *open = strstr(p, "<|channel>");
        const char *close = open ? strstr(open, "<channel|>") : NULL;
        if (!open || !close) {
            puts_(&plain, p);
            break;
        }
        put(&plain, p, (size_t)(open - p));
        p = close + strlen("<channel|>");
    }
    put_trimmed(b, plain.p);
    free(plain.p);
}

/* An assistant's tool calls, <|tool_call>call:NAME{args}<tool_call|> each (those markers are
 * USER_DEFINED tokens: recognised in any text, so no marks are needed). */
static int put_tool_calls(turn_text *b, const char *calls_json, char *err) {
    json_value *calls = json_parse(calls_json, strlen(calls_json), err);
    if (!calls) return -1;
    int rc = 0;
    if (json_typeof(calls) != JSON_ARRAY) rc = set_err(err, "tool_calls: expected an array, got %s",
                                                       json_type_name(json_typeof(calls)));
    for (size_t i = 0; rc == 0 && i < json_len(calls); i++) {
        const json_value *fn = json_get(json_at(calls, i), "function");
        const char *name = json_str(json_get(fn, "name"));
        const json_value *args = json_get(fn, "arguments");
        if (!name) {
            rc = set_err(err, "tool_calls[%zu]: no function name", i);
            break;
        }
        json_value *parsed = NULL;
        if (json_typeof(args) == JSON_STRING) {   /* OpenAI sends the arguments as JSON text */
            char jerr[GEMMA_ERR_LEN];
            parsed = json_parse(json_str(args), json_str_len(args), jerr);
            if (!parsed) {
                rc = set_err(err, "tool_calls[%zu] (%s): arguments: %s", i, name, jerr);
                break;
            }
            args = parsed;
        }
        char *call = tool_call_write(name, args ? args : NULL, err);
        json_free(parsed);
        if (!call) {
            rc = -1;
            break;
        }
        puts_(b, call);
        free(call);
    }
    json_free(calls);
    return rc;
}

/* A tool's result: <|tool_response> (a CONTROL token: a mark) then response:NAME{...}
 * <tool_response|>. A content that is JSON is given as that value, other text as a string. */
static int put_tool_response(turn_text *b, const gemma_chat_message *msg, char *err) {
    const char *content = text_of(msg);
    json_value *v = json_parse(content, strlen(content), NULL);
    if (!v) v = json_new_string(content, strlen(content));
    char *text = tool_response_write(msg->name && *msg->name ? msg->name : "unknown", v, err);
    json_free(v);
    if (!text) return -1;
    const char *open = "<|tool_response>";
    size_t k = strlen(open);
    control(b, open);
    puts_(b, !strncmp(text, open, k) ? text + k : text);
    free(text);
    return 0;
}

/* The tool declarations after the system text, one <|tool>...<tool|> each: those two are
 * CONTROL tokens, so they are marks, and a description holding the text "<tool|>" cannot
 * end a declaration early. */
static int put_declarations(turn_text *b, const gemma_tools *tools, char *err) {
    const size_t open = strlen("<|tool>"), close = strlen("<tool|>");
    for (int i = 0; i < tools->list->n; i++) {
        char *d = tools_declaration(tools->list, i, err);
        if (!d) return -1;
        size_t n = strlen(d);
        control(b, "<|tool>");
        put(b, d + open, n - open - close);
        control(b, "<tool|>");
        free(d);
    }
    return 0;
}

/* Gemma 4: <|turn>ROLE\n...<turn|>\n per message. An assistant turn with tool calls stays
 * open while tool results follow; an assistant message right after them continues it. */
static int render_gemma4(turn_text *b, const gemma_chat_message *msgs, int n, const gemma_chat_options *o,
                         char *err) {
    int first = 0;
    bool has_system = n > 0 && role_of(msgs[0].role) == ROLE_SYSTEM;
    if (has_system || o->think || o->tools) {
        control(b, "<|turn>");
        puts_(b, "system\n");
        if (o->think) control(b, "<|think|>");
        if (has_system) put_trimmed(b, text_of(&msgs[0]));
        if (o->tools && put_declarations(b, o->tools, err)) return -1;
        control(b, "<turn|>");
        puts_(b, "\n");
        first = has_system;
    }
    bool open = false;   /* a model turn is open (tool calls, then their results) */
    for (int i = first; i < n; i++) {
        const gemma_chat_message *msg = &msgs[i];
        chat_role r = role_of(msg->role);
        if (open && r != ROLE_TOOL && r != ROLE_MODEL) {
            control(b, "<turn|>");
            puts_(b, "\n");
            open = false;
        }
        if (r == ROLE_TOOL) {
            if (!open) {
                control(b, "<|turn>");
                puts_(b, "model\n");
                open = true;
            }
            if (put_tool_response(b, msg, err)) return -1;
            continue;
        }
        if (r == ROLE_MODEL) {
            if (!open) {
                control(b, "<|turn>");
                puts_(b, "model\n");
            }
            if (msg->tool_calls && put_tool_calls(b, msg->tool_calls, err)) return -1;
            put_answer(b, text_of(msg));
            bool calls_pending = msg->tool_calls && i + 1 < n && role_of(msgs[i + 1].role) == ROLE_TOOL;
            open = calls_pending;
            if (!open) {
                control(b, "<turn|>");
                puts_(b, "\n");
            }
            continue;
        }
        control(b, "<|turn>");
        puts_(b, r == ROLE_SYSTEM ? "system\n" : "user\n");
        put_trimmed(b, text_of(msg));
        control(b, "<turn|>");
        puts_(b, "\n");
    }
    if (!open) {
        control(b, "<|turn>");
        puts_(b, "model\n");
    }
    if (!o->think) {   /* the empty thought, pre-filled */
        control(b, "<|channel>");
        puts_(b, "thought\n");
        control(b, "<channel|>");
    }
    return 0;
}

/* Gemma 1-3: the system text (all system messages, blank-line separated) and a blank line
 * open the first other message; user and model turns alternate as given. */
static int render_gemma3(turn_text *b, const gemma_chat_message *msgs, int n, char *err) {
    turn_text sys = {0};
    put(&sys, "", 0);
    for (int i = 0; i < n; i++) {
        chat_role r = role_of(msgs[i].role);
        if (r == ROLE_TOOL || (r == ROLE_MODEL && msgs[i].tool_calls)) {
            free(sys.p);
            return set_err(err, "messages[%d]: tool calls and results need a Gemma 4 model", i);
        }
        if (r != ROLE_SYSTEM) continue;
        if (sys.n) puts_(&sys, "\n\n");
        put_trimmed(&sys, text_of(&msgs[i]));
    }
    bool prefix = sys.n > 0;
    for (int i = 0; i < n; i++) {
        chat_role r = role_of(msgs[i].role);
        if (r == ROLE_SYSTEM) continue;
        control(b, "<start_of_turn>");
        puts_(b, r == ROLE_MODEL ? "model\n" : "user\n");
        if (prefix) {
            puts_(b, sys.p);
            puts_(b, "\n\n");
            prefix = false;
        }
        put_trimmed(b, text_of(&msgs[i]));
        control(b, "<end_of_turn>");
        puts_(b, "\n");
    }
    if (prefix) {   /* only system messages: they make the user turn */
        control(b, "<start_of_turn>");
        puts_(b, "user\n");
        puts_(b, sys.p);
        control(b, "<end_of_turn>");
        puts_(b, "\n");
    }
    free(sys.p);
    control(b, "<start_of_turn>");
    puts_(b, "model\n");
    return 0;
}

/* No template: the contents as they are, system first, blank lines between them. */
static int render_plain(turn_text *b, const gemma_chat_message *msgs, int n) {
    bool any = false;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if ((role_of(msgs[i].role) == ROLE_SYSTEM) != (pass == 0) || !msgs[i].content) continue;
            if (any) puts_(b, "\n\n");
            puts_(b, msgs[i].content);
            any = true;
        }
    return 0;
}

static int render_conversation(turn_text *b, gemma_chat_format f, const gemma_chat_message *msgs, int n,
                               const gemma_chat_options *o, char *err) {
    static const gemma_chat_options none = {0};
    if (!o) o = &none;
    memset(b, 0, sizeof *b);
    put(b, "", 0);
    for (int i = 0; i < n; i++)
        if (role_of(msgs[i].role) == ROLE_UNKNOWN)
            return set_err(err, "messages[%d]: unknown role '%s' (system, developer, user, assistant, tool)",
                           i, msgs[i].role ? msgs[i].role : "(none)");
    if (o->tools && f != GEMMA_CHAT_GEMMA4) return set_err(err, "tools need a Gemma 4 model");
    if (f == GEMMA_CHAT_GEMMA4) return render_gemma4(b, msgs, n, o, err);
    if (f == GEMMA_CHAT_GEMMA) return render_gemma3(b, msgs, n, err);
    return render_plain(b, msgs, n);
}

char *gemma_chat_render_text(gemma_chat_format f, const gemma_chat_message *msgs, int n,
                             const gemma_chat_options *o, char *err) {
    turn_text b;
    int rc = render_conversation(&b, f, msgs, n, o, err);
    free(b.marks);
    if (rc) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

int32_t *gemma_chat_render(const gemma_model *m, gemma_chat_format f, const gemma_chat_message *msgs,
                           int n, const gemma_chat_options *o, bool parse_special, int *n_ids,
                           char *err) {
    turn_text b;
    if (render_conversation(&b, f, msgs, n, o, err)) {
        free(b.marks);
        free(b.p);
        return NULL;
    }
    return tokenize_marked(m, &b, true, parse_special, n_ids);
}
