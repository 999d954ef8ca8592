/* chat.c - the interactive chat: turns in, answers out, on the session of session.c.
 *
 *   input:    the line editor (lineedit.c) when stdin and stdout are terminals and TERM is
 *             not "dumb"; otherwise plain lines from stdin (a pipe gets no escape sequences)
 *   a turn:   one entry (a pasted block is one entry), or the lines between a line that
 *             starts with """ and one that ends with """ (as ollama)
 *   commands: an entry that starts with /word: /help, /clear, /regen, /bye (= /exit, /quit),
 *             /tool-response, /skip; an unknown /word is reported and not sent to the model
 *   tools:    (--tools, Gemma 4) an answer that ends with tool calls shows each call as a
 *             JSON line; the prompt then asks for each call's result ("get_weather> ") as
 *             JSON (or /tool-response JSON); with all results in, the model goes on
 *   leaving:  /bye, Ctrl-D, or Ctrl-C twice at an empty prompt; Ctrl-C during an answer
 *             stops that answer only
 *
 * The conversation stays in the KV cache: a new turn feeds only its own tokens. With
 * --context-shift a turn that does not fit drops old tokens first (session.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "chat.h"
#include "lineedit.h"

typedef struct {
    session *S;
    const char *system;
    lineedit *ed;          /* NULL: plain lines from stdin */
    bool color;
    bool first;            /* the next turn starts the conversation */
    /* tool calls waiting for their results: names[i] is answered by results[i] */
    char *names[MAX_EXCHANGE], *results[MAX_EXCHANGE];
    int n_calls, n_results;
} chat;

typedef enum { IN_TEXT, IN_EOF, IN_INTERRUPT } input;

static const char *style(const chat *C, const char *sgr) { return C->color ? sgr : ""; }
#define DIM(C) style(C, "\033[2m")
#define RESET(C) style(C, "\033[0m")

/* A line without its newline from a pipe or file (read(2) through a buffer of our own, so a
 * signal is seen even when it comes just before the wait). */
static input plain_line(char **out) {
    static char buf[4096];
    static size_t len, pos;
    size_t cap = 256, n = 0;
    char *line = xmalloc(cap);
    for (;;) {
        if (pos == len) {
            ssize_t r = read_interruptible(STDIN_FILENO, buf, sizeof buf, &g_signal);
            if (r < 0) {
                free(line);
                return IN_INTERRUPT;
            }
            if (r == 0) {
                if (n > 0) break;   /* a last line without a newline */
                free(line);
                return IN_EOF;
            }
            len = (size_t)r;
            pos = 0;
        }
        char c = buf[pos++];
        if (c == '\n') break;
        if (n + 2 > cap) line = xrealloc(line, cap *= 2);
        line[n++] = c;
    }
    line[n] = 0;
    *out = line;
    return IN_TEXT;
}

static input read_entry(chat *C, const char *prompt, char **out) {
    *out = NULL;
    if (!C->ed) {
        printf("%s", prompt);
        fflush(stdout);
        return plain_line(out);
    }
    le_status st = le_read(C->ed, prompt, out);
    return st == LE_LINE ? IN_TEXT : st == LE_EOF ? IN_EOF : IN_INTERRUPT;
}

static bool starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static bool ends_with(const char *s, const char *p) {
    size_t n = strlen(s), k = strlen(p);
    return n >= k && !strcmp(s + n - k, p);
}

/* One turn. An entry starting with """ goes on, line by line ("... " prompt), to a line
 * ending with """; the quotes are not part of the text. *multiline tells that it was such a
 * block (its first line is never a command). */
static input read_turn(chat *C, char **out, bool *multiline) {
    char prompt[160];
    if (C->n_results < C->n_calls) /* the result of the next call */
        snprintf(prompt, sizeof prompt, "%s%.64s> %s", style(C, "\033[1;33m"), C->names[C->n_results], RESET(C));
    else
        snprintf(prompt, sizeof prompt, "%s> %s", style(C, "\033[1;32m"), RESET(C));
    *multiline = false;
    char *line;
    input in = read_entry(C, prompt, &line);
    if (in != IN_TEXT || !starts_with(line, "\"\"\"")) {
        *out = line;
        return in;
    }
    *multiline = true;
    size_t cap = strlen(line) + 256, n = 0;
    char *text = xmalloc(cap);
    text[0] = 0;
    const char *part = line + 3;
    bool any = false;          /* lines so far; an opening """ with nothing after is none */
    snprintf(prompt, sizeof prompt, "%s... %s", style(C, "\033[1;32m"), RESET(C));
    for (;;) {
        bool last = ends_with(part, "\"\"\"");
        size_t k = strlen(part) - (last ? 3 : 0);
        if (any || part != line + 3 || k > 0) {
            if (n + k + 2 > cap) text = xrealloc(text, cap = (n + k + 2) * 2);
            if (any) text[n++] = '\n';
            memcpy(text + n, part, k);
            n += k;
            text[n] = 0;
            any = true;
        }
        free(line);
        if (last) break;
        in = read_entry(C, prompt, &line);
        if (in == IN_INTERRUPT) { /* Ctrl-C abandons the block */
            free(text);
            return IN_INTERRUPT;
        }
        if (in == IN_EOF) break;  /* the end of input closes the block */
        part = line;
    }
    *out = text;
    return IN_TEXT;
}

static void print_help(const chat *C) {
    printf("%s/help               this list\n"
           "/clear              start the conversation over\n"
           "/regen              answer the last turn again\n"
           "/bye, /exit, /quit  leave (also Ctrl-D, or Ctrl-C twice at an empty prompt)\n"
           "/tool-response JSON the result of the tool call the prompt names (an entry that\n"
           "                    is only JSON does the same); /skip leaves the calls unanswered\n"
           "\"\"\"                  on a line of its own or at the start: a turn of several lines,\n"
           "                    up to a line that ends with \"\"\"\n"
           "Ctrl-C during an answer stops it. To send text that starts with /, begin with a space.\n"
           "%s",
           DIM(C), RESET(C));
    if (C->ed)
        printf("%sKeys: arrows, Home/End, Backspace/Delete, Ctrl-A/E/K/U/W, Up/Down for earlier "
               "entries; a paste is one turn.%s\n", DIM(C), RESET(C));
}

/* Is this entry a command (/word ...)? "/usr/bin is..." is not: the word is letters (and
 * inner dashes) only. */
static bool is_command(const char *s, char *word, size_t cap) {
    if (s[0] != '/') return false;
    size_t n = 1;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') || (n > 1 && s[n] == '-')) n++;
    if (n == 1 || (s[n] && s[n] != ' ' && s[n] != '\t')) return false;
    snprintf(word, cap, "%.*s", (int)n, s);
    return true;
}

static void forget_calls(chat *C) {
    for (int i = 0; i < C->n_calls; i++) free(C->names[i]);
    for (int i = 0; i < C->n_results; i++) free(C->results[i]);
    C->n_calls = C->n_results = 0;
}

/* Show the calls an answer ended with (JSON lines) and wait for their results. */
static void wait_for_results(chat *C, const char *calls) {
    forget_calls(C);
    for (const char *c = calls; *c && C->n_calls < MAX_EXCHANGE;) {
        size_t k = strcspn(c, "\n");
        char err[GEMMA_ERR_LEN];
        printf("%stool call:%s %.*s\n", DIM(C), RESET(C), (int)k, c);
        char *line = xmalloc(k + 1);
        memcpy(line, c, k);
        line[k] = 0;
        char *name = NULL, *markup = gemma_tool_call_text(NULL, line, k, &name, err);
        free(markup);
        free(line);
        if (name) C->names[C->n_calls++] = name;
        c += k + (c[k] == '\n');
    }
    printf("%s(type each result as JSON, or /skip)%s\n", DIM(C), RESET(C));
}

static void answer_turn(chat *C);

/* A result typed for the next waiting call; with all of them in, the model goes on. */
static void take_result(chat *C, const char *json) {
    char err[GEMMA_ERR_LEN];
    const char *name = C->names[C->n_results];
    char *check = gemma_tool_response(name, json, strlen(json), true, err);
    if (!check) {
        printf("%s(not a result: %s; type it as JSON, or /skip)%s\n", DIM(C), err, RESET(C));
        return;
    }
    free(check);
    C->results[C->n_results++] = xstrdup(json);
    if (C->n_results < C->n_calls) return;
    int rc = session_feed_results(C->S, C->names, C->results, C->n_calls, err);
    forget_calls(C);
    if (rc) fprintf(stderr, "gemma: %s\n", err);
    else answer_turn(C);
}

/* The answer to the turn just fed (or to the same turn again after a rewind). */
static void answer_turn(chat *C) {
    session *S = C->S;
    char err[GEMMA_ERR_LEN];
    answer A = {0};
    A.color = C->color;
    if (g_signal != SIGTERM) g_signal = 0;
    stop_reason why = generate(S, &A, err);
    bool ended = A.emitted == 0 || A.text.p[A.emitted - 1] == '\n';
    if (why == STOP_INTERRUPT) {
        printf("%s%s[stopped]%s", ended ? "" : " ", DIM(C), RESET(C));
        ended = false;
    }
    if (!ended) printf("\n");
    fflush(stdout);
    if (why == STOP_ERROR || why == STOP_NO_TOKEN) fprintf(stderr, "gemma: %s\n", err);
    if (why == STOP_CONTEXT)
        fprintf(stderr, "gemma: the context is full; /clear to start over (or use --context-shift)\n");
    if (A.calls_cut) fprintf(stderr, "gemma: an unfinished tool call at the end was dropped\n");
    if (why == STOP_TOOL_CALLS) wait_for_results(C, A.calls);
    answer_free(&A);
    if (g_signal == SIGINT) g_signal = 0; /* SIGTERM ends the chat (run_chat) */
}

static void send_turn(chat *C, const char *text) {
    char err[GEMMA_ERR_LEN];
    if (session_feed_turn(C->S, C->system, text, C->first, err)) {
        fprintf(stderr, "gemma: %s\n", err);
        return;
    }
    C->first = false;
    answer_turn(C);
}

/* A command (arg: the rest of the entry); returns false when it is time to leave. */
static bool command(chat *C, const char *word, const char *arg) {
    session *S = C->S;
    char err[GEMMA_ERR_LEN];
    if (!strcmp(word, "/bye") || !strcmp(word, "/exit") || !strcmp(word, "/quit")) return false;
    if (!strcmp(word, "/help")) {
        print_help(C);
    } else if (!strcmp(word, "/tool-response")) {
        const char *json = arg + strspn(arg, " \t");
        if (C->n_results == C->n_calls) printf("%s(no tool call is waiting for a result)%s\n", DIM(C), RESET(C));
        else take_result(C, json);
    } else if (!strcmp(word, "/skip")) {
        if (C->n_calls) printf("%s(the tool calls stay unanswered)%s\n", DIM(C), RESET(C));
        forget_calls(C);
    } else if (!strcmp(word, "/clear")) {
        forget_calls(C);
        gemma_context_reset(S->c);
        S->n_hist = 0;
        S->answer_start = -1;
        C->first = true;
        printf("%s(conversation cleared)%s\n", DIM(C), RESET(C));
    } else if (!strcmp(word, "/regen")) {
        forget_calls(C);
        if (S->answer_start < 1) {
            printf("%s(nothing to regenerate)%s\n", DIM(C), RESET(C));
        } else if (session_rewind(S, S->answer_start, err)) {
            fprintf(stderr, "gemma: %s\n", err);
        } else {
            answer_turn(C);
        }
    } else {
        printf("%s(unknown command %s: not sent to the model; /help lists the commands)%s\n",
               DIM(C), word, RESET(C));
    }
    fflush(stdout);
    return true;
}

int run_chat(session *S, const char *system, const char *first_turn) {
    const char *term = getenv("TERM");
    bool terminal = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    chat C = {S, system, NULL, use_color(S->g->color, STDOUT_FILENO), true, {0}, {0}, 0, 0};
    if (terminal && !(term && !strcmp(term, "dumb"))) C.ed = le_new(STDIN_FILENO, STDOUT_FILENO, &g_signal);
    if (S->fmt == GEMMA_CHAT_NONE) logf_("gemma: no chat template (or --raw): turns are plain text\n");
    printf("%sgemma chat%s with %s. /help lists the commands, /bye leaves; Ctrl-C stops an answer.\n",
           style(&C, "\033[1m"), RESET(&C), S->info.name);
    if (first_turn) {
        printf("%s> %s%s\n", style(&C, "\033[1;32m"), RESET(&C), first_turn);
        send_turn(&C, first_turn);
    }
    int rc = 0;
    bool interrupted = false; /* the last entry ended with Ctrl-C at an empty prompt */
    for (;;) {
        if (g_signal == SIGTERM) { rc = 143; break; }
        g_signal = 0;
        char *text = NULL;
        bool multiline;
        input in = read_turn(&C, &text, &multiline);
        if (g_signal == SIGTERM) { free(text); rc = 143; break; }
        if (in == IN_EOF) {
            if (!C.ed) printf("\n");
            break;
        }
        if (in == IN_INTERRUPT) {
            if (interrupted || !C.ed) break; /* the second Ctrl-C; or a pipe's first */
            printf("%s(to leave: Ctrl-C again, Ctrl-D, or /bye)%s\n", DIM(&C), RESET(&C));
            interrupted = true;
            continue;
        }
        interrupted = false;
        char word[32];
        if (!multiline && is_command(text, word, sizeof word)) {
            bool go_on = command(&C, word, text + strlen(word));
            free(text);
            if (!go_on) break;
            continue;
        }
        bool blank = strspn(text, " \t\n") == strlen(text);
        if (!blank && C.n_results < C.n_calls) take_result(&C, text);
        else if (!blank) send_turn(&C, text);
        free(text);
        if (out_closed()) break; /* nobody reads the answers any more */
    }
    fflush(stdout);
    forget_calls(&C);
    le_free(C.ed);
    return rc;
}
