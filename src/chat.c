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

/* A growable string. */
typedef struct { char *p; size_t n, cap; } sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* The templates trim message content. */
static void put_trimmed(sbuf *b, const char *s) {
    const char *e = s + strlen(s);
    while (s < e && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r')) e--;
    put(b, s, (size_t)(e - s));
}

char *gemma_chat_turn(gemma_chat_format f, const char *system, const char *user, bool first,
                      bool think) {
    sbuf b = {xmalloc(64), 0, 64};
    b.p[0] = 0;
    bool has_system = system && *system;
    if (f == GEMMA_CHAT_GEMMA) {
        if (!first) puts_(&b, "<end_of_turn>\n");
        puts_(&b, "<start_of_turn>user\n");
        if (first && has_system) {        /* folded into the first user turn */
            put_trimmed(&b, system);
            puts_(&b, "\n\n");
        }
        put_trimmed(&b, user);
        puts_(&b, "<end_of_turn>\n<start_of_turn>model\n");
    } else if (f == GEMMA_CHAT_GEMMA4) {
        if (!first) puts_(&b, "<turn|>\n");
        if (first && (has_system || think)) {
            puts_(&b, "<|turn>system\n");
            if (think) puts_(&b, "<|think|>");
            if (has_system) put_trimmed(&b, system);
            puts_(&b, "<turn|>\n");
        }
        puts_(&b, "<|turn>user\n");
        put_trimmed(&b, user);
        puts_(&b, "<turn|>\n<|turn>model\n");
        if (!think) puts_(&b, "<|channel>thought\n<channel|>"); /* empty thought, pre-filled */
    } else {
        if (first && has_system) {
            puts_(&b, system);
            puts_(&b, "\n\n");
        }
        puts_(&b, user);
    }
    return b.p;
}
