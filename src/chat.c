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
 * Everything it needs from a model is asked through the public API (gemma.h). */
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
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
int32_t *gemma_chat_turn_tokens(const gemma_model *m, gemma_chat_format f, const char *system,
                                const char *user, bool first, bool think, bool add_bos,
                                bool parse_special, int *n_out) {
    turn_text b;
    render_turn(&b, f, system, user, first, think);
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
