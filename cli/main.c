/* main.c - the `gemma` command line: one-shot generation, interactive chat, and the
 * dispatch to the subcommands (cli_tools.c, bench.c, info.c, quantize.c, perplexity.c).
 * Flag names follow llama.cpp's so users' habits carry over.
 *
 * A run: parse flags -> build the prompt text (-p, -f, stdin) -> load the model ->
 * wrap the prompt as a chat turn when the model has a chat template (unless --raw) ->
 * feed it (prompt processing) -> sample, print, feed, until an end-of-turn token, -n, a
 * reverse prompt, Ctrl-C or a full context (--context-shift drops old tokens instead). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gemma.h"

/* ---------------------------------------------------------------------------------------
 * Options */

static void usage(void) {
    printf(
        "usage: gemma -m MODEL.gguf [-p PROMPT | -f FILE] [options]   generate / chat\n"
        "       gemma info MODEL.gguf [--tensors] [--json]               inspect a file\n"
        "       gemma bench -m MODEL.gguf [-p 512] [-n 128] [-t N]       llama-bench style speed test\n"
        "       gemma quantize IN.gguf OUT.gguf TYPE                     e.g. Q4_K_M, Q8_0\n"
        "       gemma perplexity -m MODEL.gguf -f TEXT [-c 512]\n"
        "       gemma logits | tokenize | dequant ...                    (see README)\n"
        "\n"
        "Generated text goes to stdout; model information and timings go to stderr.\n"
        "With a chat model, -p is sent as one user turn (--raw: plain completion).\n"
        "With no prompt and a terminal on stdin and stdout, gemma starts a chat.\n"
        "Piped stdin is the prompt; with -p too, the prompt is stdin, a blank line, then -p.\n"
        "\n"
        "input:\n"
        "  -m, --model FILE          model file (GGUF)\n"
        "  -p, --prompt TEXT         prompt text\n"
        "  -f, --file FILE           read the prompt from FILE ('-' = stdin)\n"
        "  -sys, --system-prompt T   system prompt;  -sysf FILE: read it from a file\n"
        "      --raw, -no-cnv        plain completion: no chat turn around the prompt\n"
        "  -cnv, --chat              interactive chat (/clear, /regen, /exit; Ctrl-C stops an answer)\n"
        "      --think               Gemma 4: let the model think first (thoughts on stderr)\n"
        "      --hide-thinking       with --think: do not show the thoughts\n"
        "generation:\n"
        "  -n, --n-predict N         tokens to generate (-1 = until the end of the answer; default -1)\n"
        "  -r, --reverse-prompt STR  stop when the output ends with STR (not printed; repeatable)\n"
        "      --ignore-eos          keep generating past end-of-generation tokens\n"
        "  -c, --ctx-size N          context size (default: the model's, at most 4096; 0 = the model's)\n"
        "      --context-shift       when the context is full, drop old tokens and go on\n"
        "      --keep N              with --context-shift: tokens of the prompt start to keep (-1 = all)\n"
        "sampling:\n"
        "      --temp T              temperature (default 0.8; 0 = greedy)\n"
        "      --top-k N             (default 40; 0 = off)    --top-p P  (default 0.95; 1 = off)\n"
        "      --min-p P             (default 0.05; 0 = off)\n"
        "      --repeat-penalty F    (default 1.0 = off)      --repeat-last-n N (default 64)\n"
        "  -s, --seed N              random seed (default: random)\n"
        "performance:\n"
        "  -t, --threads N           threads (default: physical cores)\n"
        "  -b, --batch-size N        prompt tokens per forward batch (default 512)\n"
        "  -nr, --no-repack          keep the weights in the file's layout (default: repacked at\n"
        "                            load for the kernels; -v says which)\n"
        "output:\n"
        "      --json                print one JSON object (text, token counts, timings, stop reason)\n"
        "      --display-prompt      print the prompt before the generated text (--no-display-prompt)\n"
        "      --color on|off|auto   colours in chat (default auto: only on a terminal)\n"
        "      --log-disable         nothing on stderr but errors\n"
        "  -v, --verbose             memory report and more details on stderr\n"
        "  -h, --help                this help;  --version: version and kernel path\n"
        "      --completion-bash     print a bash completion script\n"
        "\n"
        "Sampling defaults are replaced by the file's general.sampling.* values unless given.\n"
        "\n"
        "examples:\n"
        "  gemma -m gemma-3-1b-it-Q4_K_M.gguf -p \"Why is the sky blue?\"\n"
        "  cat notes.txt | gemma -m model.gguf -p \"Summarize this\" -n 200\n"
        "  gemma -m model.gguf --raw -f prompt.txt --temp 0 -n 64\n"
        "  gemma -m model.gguf                       # chat in the terminal\n"
        "\n"
        "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 model file error, 4 I/O error,\n"
        "            130 interrupted (SIGINT), 143 terminated (SIGTERM)\n");
}

static void completion_bash(void) {
    printf(
        "# bash completion for gemma: eval \"$(gemma --completion-bash)\"\n"
        "_gemma() {\n"
        "  local cur prev\n"
        "  cur=\"${COMP_WORDS[COMP_CWORD]}\"; prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        "  case \"$prev\" in\n"
        "    -m|--model|-f|--file|-sysf|-o) COMPREPLY=( $(compgen -f -- \"$cur\") ); return;;\n"
        "    --color) COMPREPLY=( $(compgen -W 'on off auto' -- \"$cur\") ); return;;\n"
        "  esac\n"
        "  if [ $COMP_CWORD -eq 1 ] && [[ \"$cur\" != -* ]]; then\n"
        "    COMPREPLY=( $(compgen -W 'info bench quantize perplexity logits tokenize dequant' -- \"$cur\") ); return\n"
        "  fi\n"
        "  COMPREPLY=( $(compgen -W '-m --model -p --prompt -f --file -sys --system-prompt -sysf --raw -no-cnv -cnv --chat --think --hide-thinking -n --n-predict -r --reverse-prompt --ignore-eos -c --ctx-size --context-shift --keep --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n -s --seed -t --threads -b --batch-size -nr --no-repack --json --display-prompt --no-display-prompt --color --log-disable -v --verbose -h --help --version --completion-bash' -- \"$cur\") )\n"
        "}\n"
        "complete -o default -F _gemma gemma\n");
}

#define MAX_RPROMPTS 16

typedef struct {
    const char *model, *prompt, *file, *system, *system_file;
    int n_predict, n_ctx, n_threads, n_batch, keep;
    bool ignore_eos, display_prompt, raw, chat, think, hide_thinking, json, context_shift;
    bool verbose, no_repack;
    int color;                       /* -1 auto, 0 off, 1 on */
    const char *rprompts[MAX_RPROMPTS];
    int n_rprompts;
    gemma_sampler_params sp;
    bool set_temp, set_top_k, set_top_p, set_min_p;
} gen_args;

static void parse_gen_args(int argc, char **argv, gen_args *g) {
    memset(g, 0, sizeof *g);
    g->n_predict = -1;
    g->n_ctx = -1;
    g->keep = 0;
    g->color = -1;
    gemma_sampler_params_default(&g->sp);
    if (argc == 2 && !strcmp(argv[1], "-v")) { /* bare -v: the version, as many tools do */
        printf("gemma %s (kernels: %s)\n", GEMMA_VERSION, gemma_kernel_path());
        exit(0);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(s) (!strcmp(a, s))
        if (IS("-h") || IS("--help")) { usage(); exit(0); }
        else if (IS("--version")) {
            printf("gemma %s (kernels: %s)\n", GEMMA_VERSION, gemma_kernel_path());
            exit(0);
        }
        else if (IS("--completion-bash")) { completion_bash(); exit(0); }
        else if (IS("-m") || IS("--model")) g->model = arg_value(argc, argv, &i);
        else if (IS("-p") || IS("--prompt")) g->prompt = arg_value(argc, argv, &i);
        else if (IS("-f") || IS("--file")) g->file = arg_value(argc, argv, &i);
        else if (IS("-sys") || IS("--system-prompt")) g->system = arg_value(argc, argv, &i);
        else if (IS("-sysf") || IS("--system-prompt-file")) g->system_file = arg_value(argc, argv, &i);
        else if (IS("--raw") || IS("-no-cnv") || IS("--no-conversation")) g->raw = true;
        else if (IS("-cnv") || IS("--chat") || IS("--conversation")) g->chat = true;
        else if (IS("--think")) g->think = true;
        else if (IS("--hide-thinking")) g->hide_thinking = true;
        else if (IS("-n") || IS("--n-predict")) g->n_predict = (int)parse_int(a, arg_value(argc, argv, &i), -1, INT_MAX);
        else if (IS("-r") || IS("--reverse-prompt")) {
            const char *r = arg_value(argc, argv, &i);
            if (!*r) die_usage("--reverse-prompt must not be empty");
            if (g->n_rprompts == MAX_RPROMPTS) die_usage("at most %d reverse prompts", MAX_RPROMPTS);
            g->rprompts[g->n_rprompts++] = r;
        }
        else if (IS("--ignore-eos")) g->ignore_eos = true;
        else if (IS("-c") || IS("--ctx-size")) g->n_ctx = (int)parse_int(a, arg_value(argc, argv, &i), 0, 1 << 30);
        else if (IS("--context-shift")) g->context_shift = true;
        else if (IS("--no-context-shift")) g->context_shift = false;
        else if (IS("--keep")) g->keep = (int)parse_int(a, arg_value(argc, argv, &i), -1, INT_MAX);
        else if (IS("-t") || IS("--threads")) g->n_threads = (int)parse_int(a, arg_value(argc, argv, &i), 1, 1024);
        else if (IS("-b") || IS("--batch-size") || IS("-ub") || IS("--ubatch-size"))
            g->n_batch = (int)parse_int(a, arg_value(argc, argv, &i), 1, 1 << 16);
        else if (IS("--temp")) { g->sp.temp = parse_float(a, arg_value(argc, argv, &i), -1e9, 1e9); g->set_temp = true; }
        else if (IS("--top-k")) { g->sp.top_k = (int)parse_int(a, arg_value(argc, argv, &i), 0, INT_MAX); g->set_top_k = true; }
        else if (IS("--top-p")) { g->sp.top_p = parse_float(a, arg_value(argc, argv, &i), 0, 1); g->set_top_p = true; }
        else if (IS("--min-p")) { g->sp.min_p = parse_float(a, arg_value(argc, argv, &i), 0, 1); g->set_min_p = true; }
        else if (IS("--repeat-penalty")) g->sp.repeat_penalty = parse_float(a, arg_value(argc, argv, &i), 1e-6, 1e6);
        else if (IS("--repeat-last-n")) g->sp.repeat_last_n = (int)parse_int(a, arg_value(argc, argv, &i), -1, INT_MAX);
        else if (IS("-s") || IS("--seed")) {
            long long s = parse_int(a, arg_value(argc, argv, &i), -1, (long long)UINT32_MAX);
            g->sp.seed = (s < 0 || s == (long long)UINT32_MAX) ? GEMMA_SEED_RANDOM : (uint64_t)s;
        }
        else if (IS("--json")) g->json = true;
        else if (IS("--display-prompt")) g->display_prompt = true;
        else if (IS("--no-display-prompt")) g->display_prompt = false;
        else if (IS("--color") || IS("--colour")) {
            const char *v = arg_value(argc, argv, &i);
            if (!strcmp(v, "on") || !strcmp(v, "always")) g->color = 1;
            else if (!strcmp(v, "off") || !strcmp(v, "never")) g->color = 0;
            else if (!strcmp(v, "auto")) g->color = -1;
            else die_usage("invalid value '%s' for --color (on, off or auto)", v);
        }
        else if (IS("--log-disable")) log_enabled = false;
        else if (IS("-v") || IS("--verbose")) g->verbose = true;
        else if (IS("-nr") || IS("--no-repack")) g->no_repack = true;
        else if (a[0] == '-') die_usage("unknown option '%s'", a);
        else die_usage("unexpected argument '%s'", a);
#undef IS
    }
    if (g->prompt && g->file) die_usage("give either -p or -f, not both");
    if (g->system && g->system_file) die_usage("give either -sys or -sysf, not both");
    if (g->chat && g->json) die_usage("--json is for one-shot runs, not --chat");
    if (g->hide_thinking && !g->think) g->hide_thinking = false;
}

/* The prompt text: -p, -f, piped stdin, or piped stdin + blank line + -p (as ollama). One
 * trailing newline of a file or stdin prompt is dropped, as llama.cpp does for -f.
 * Returns NULL when there is no prompt at all (then an interactive chat may start). */
static char *build_prompt(const gen_args *g, size_t *len, bool stdin_is_tty) {
    char *text = NULL;
    if (g->file) {
        text = read_path(g->file, len);
        if (*len && text[*len - 1] == '\n') text[--*len] = 0;
        return text;
    }
    char *piped = NULL;
    size_t plen = 0;
    if (!stdin_is_tty && !g->chat) {
        piped = read_all(stdin, &plen);
        if (!piped) die(EXIT_IO, "reading stdin failed: %s", strerror(errno));
        if (plen && piped[plen - 1] == '\n') piped[--plen] = 0;
    }
    if (!g->prompt) {
        if (!piped || plen == 0) { free(piped); return NULL; }
        *len = plen;
        return piped;
    }
    size_t n = strlen(g->prompt);
    if (!piped || plen == 0) {
        free(piped);
        text = xstrdup(g->prompt);
        *len = n;
        return text;
    }
    text = malloc(plen + 2 + n + 1);
    if (!text) die(EXIT_RUNTIME, "out of memory");
    memcpy(text, piped, plen);
    memcpy(text + plen, "\n\n", 2);
    memcpy(text + plen + 2, g->prompt, n + 1);
    *len = plen + 2 + n;
    free(piped);
    return text;
}

/* ---------------------------------------------------------------------------------------
 * Signals: Ctrl-C stops the current answer (chat) or the run (one-shot), cleanly. */

static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);   /* no SA_RESTART: a blocked read returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
}

static double ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---------------------------------------------------------------------------------------
 * The session: model, context, sampler, and the token history the cache holds. */

typedef struct {
    gemma_model *m;
    gemma_context *c;
    gemma_sampler *s;
    const gen_args *g;
    gemma_model_info info;
    int n_ctx;
    int32_t *hist;          /* tokens in the cache, in order */
    int n_hist, cap_hist;
    int n_keep;             /* --context-shift keeps hist[0 .. n_keep) */
    float *logits;          /* next-token logits after the last feed */
    bool progress;          /* show prompt-processing progress on stderr */
    /* statistics of the current run */
    int n_prompt, n_gen, n_evals;
    double prompt_ms, gen_ms;
    int n_shifts;
} session;

static void hist_push(session *S, const int32_t *ids, int n) {
    if (S->n_hist + n > S->cap_hist) {
        S->cap_hist = (S->n_hist + n) * 2;
        S->hist = xrealloc(S->hist, (size_t)S->cap_hist * sizeof(int32_t));
    }
    memcpy(S->hist + S->n_hist, ids, (size_t)n * sizeof(int32_t));
    S->n_hist += n;
}

/* Evaluate n tokens in chunks of the batch size (progress on a terminal); logits of the
 * last one land in S->logits. */
static int eval_chunks(session *S, const int32_t *ids, int n, char *err) {
    int B = S->g->n_batch > 0 ? S->g->n_batch : 512;
    for (int i = 0; i < n; i += B) {
        int k = n - i < B ? n - i : B;
        if (gemma_eval(S->c, ids + i, k, S->logits, false, err)) return -1;
        if (S->progress && n > B) fprintf(stderr, "\rgemma: prompt %d/%d tokens", i + k, n);
    }
    if (S->progress && n > B) fprintf(stderr, "\r\033[K");
    return 0;
}

/* Context shift: keep hist[0..n_keep), drop half of the rest (the oldest), re-evaluate what
 * is kept at its new positions. (Re-evaluating costs one prompt pass, but keeps every cached
 * key exactly what the model computes at that position.) */
static int context_shift(session *S, char *err) {
    int n_keep = S->n_keep < S->n_hist ? S->n_keep : S->n_hist;
    int n_discard = (S->n_hist - n_keep) / 2;
    if (n_discard < 1) return set_err(err, "context is full and nothing can be dropped");
    memmove(S->hist + n_keep, S->hist + n_keep + n_discard,
            (size_t)(S->n_hist - n_keep - n_discard) * sizeof(int32_t));
    S->n_hist -= n_discard;
    gemma_context_reset(S->c);
    S->n_shifts++;
    if (log_enabled && S->g->verbose)
        fprintf(stderr, "\ngemma: context shift: dropped %d tokens, kept %d\n", n_discard, S->n_hist);
    return eval_chunks(S, S->hist, S->n_hist, err);
}

/* Feed new tokens (a prompt or a sampled token). */
static int feed(session *S, const int32_t *ids, int n, char *err) {
    if (S->n_hist + n > S->n_ctx) {
        if (!S->g->context_shift || n > S->n_ctx / 2)
            return set_err(err, "context is full (%d tokens)", S->n_ctx);
        while (S->n_hist + n > S->n_ctx)
            if (context_shift(S, err)) return -1;
    }
    hist_push(S, ids, n);
    return eval_chunks(S, ids, n, err);
}

/* ---------------------------------------------------------------------------------------
 * Output of one answer: the visible text (stdout, or collected for --json), the thoughts
 * of a thinking model (stderr, or hidden), and reverse prompts held back until it is clear
 * they are not the start of a match. */

typedef struct {
    const gen_args *g;
    bool collect;          /* --json: keep the text, print nothing */
    char *text;            /* the answer so far */
    size_t len, cap, emitted;
    char *thought;
    size_t tlen, tcap;
    utf8_stream out, err;
    bool in_thought, color;
} answer;

static void grow(char **p, size_t *cap, size_t need) {
    if (need + 1 > *cap) {
        *cap = (need + 1) * 2;
        *p = xrealloc(*p, *cap);
    }
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of some reverse prompt. */
static size_t partial_rprompt(const gen_args *g, const char *s, size_t n) {
    size_t best = 0;
    for (int r = 0; r < g->n_rprompts; r++) {
        size_t rl = strlen(g->rprompts[r]);
        for (size_t k = rl - 1; k > best; k--)
            if (k <= n && !memcmp(s + n - k, g->rprompts[r], k)) { best = k; break; }
    }
    return best;
}

/* Append visible text; returns true if a reverse prompt just matched (it is removed). */
static bool answer_put(answer *A, const char *piece, size_t k) {
    grow(&A->text, &A->cap, A->len + k);
    memcpy(A->text + A->len, piece, k);
    A->len += k;
    A->text[A->len] = 0;
    bool stop = false;
    for (int r = 0; r < A->g->n_rprompts && !stop; r++) {
        size_t rl = strlen(A->g->rprompts[r]);
        const char *hit = rl <= A->len ? strstr(A->text + (A->emitted > rl ? A->emitted - rl : 0), A->g->rprompts[r]) : NULL;
        if (hit) {
            A->len = (size_t)(hit - A->text);
            A->text[A->len] = 0;
            stop = true;
        }
    }
    size_t safe = stop ? A->len : A->len - partial_rprompt(A->g, A->text, A->len);
    if (safe > A->emitted) {
        if (!A->collect) stream_put(&A->out, A->text + A->emitted, safe - A->emitted);
        A->emitted = safe;
    }
    return stop;
}

static void thought_put(answer *A, const char *piece, size_t k) {
    grow(&A->thought, &A->tcap, A->tlen + k);
    memcpy(A->thought + A->tlen, piece, k);
    A->tlen += k;
    A->thought[A->tlen] = 0;
    if (A->collect || A->g->hide_thinking) return;
    if (A->color) fputs("\033[2m", stderr);
    for (size_t i = 0; i < k; i++) fputc(piece[i], stderr);
    if (A->color) fputs("\033[0m", stderr);
    fflush(stderr);
}

static void answer_finish(answer *A) {
    if (!A->collect) {
        if (A->len > A->emitted) stream_put(&A->out, A->text + A->emitted, A->len - A->emitted);
        A->emitted = A->len;
        stream_finish(&A->out);
    }
}

/* ---------------------------------------------------------------------------------------
 * Generation of one answer */

typedef enum { STOP_EOG, STOP_LIMIT, STOP_CONTEXT, STOP_RPROMPT, STOP_INTERRUPT, STOP_ERROR } stop_reason;
static const char *stop_names[] = {"end of turn", "token limit", "context full", "reverse prompt",
                                   "interrupted", "error"};
static const char *stop_json[] = {"eos", "limit", "context", "reverse_prompt", "interrupted", "error"};

static stop_reason generate(session *S, answer *A, bool chat_mode, char *err) {
    const gen_args *g = S->g;
    int32_t ch_open = chat_mode ? gemma_token_id(S->m, "<|channel>") : -1;
    int32_t ch_close = chat_mode ? gemma_token_id(S->m, "<channel|>") : -1;
    char piece[512];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    stop_reason why = STOP_LIMIT;
    int n = 0;
    for (;;) {
        if (g->n_predict >= 0 && n >= g->n_predict) { why = STOP_LIMIT; break; }
        if (g_signal) { why = STOP_INTERRUPT; break; }
        int32_t id = gemma_sampler_sample(S->s, S->logits);
        gemma_sampler_accept(S->s, id);
        if (!g->ignore_eos && gemma_token_is_eog(S->m, id)) { why = STOP_EOG; break; }
        n++;
        S->n_gen++;
        bool rp = false;
        if (ch_open >= 0 && id == ch_open) A->in_thought = true;
        else if (ch_close >= 0 && id == ch_close) A->in_thought = false;
        else {
            size_t k = gemma_token_to_piece(S->m, id, piece, sizeof piece);
            if (k > sizeof piece) k = sizeof piece;
            if (A->in_thought) thought_put(A, piece, k);
            else rp = answer_put(A, piece, k);
        }
        if (rp) { why = STOP_RPROMPT; break; }
        if (g->n_predict >= 0 && n >= g->n_predict) { why = STOP_LIMIT; break; }
        if (S->n_hist >= S->n_ctx && !g->context_shift) { why = STOP_CONTEXT; break; }
        if (feed(S, &id, 1, err)) { why = STOP_ERROR; break; }
        S->n_evals++;
    }
    S->gen_ms += ms_since(&t0);
    answer_finish(A);
    return why;
}

/* ---------------------------------------------------------------------------------------
 * One-shot run */

static void json_string(FILE *fp, const char *s, size_t n) {
    fputc('"', fp);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(fp, "\\%c", c);
        else if (c == '\n') fputs("\\n", fp);
        else if (c == '\r') fputs("\\r", fp);
        else if (c == '\t') fputs("\\t", fp);
        else if (c < 0x20 || c == 0x7f) fprintf(fp, "\\u%04x", c);
        else fputc(c, fp);
    }
    fputc('"', fp);
}

static void print_json(const session *S, const answer *A, stop_reason why, double load_ms) {
    FILE *o = stdout;
    size_t n;
    char *t = utf8_sanitize(A->text ? A->text : "", A->len, &n); /* JSON strings are UTF-8 */
    fputs("{\"text\":", o);
    json_string(o, t, n);
    free(t);
    if (A->tlen) {
        t = utf8_sanitize(A->thought, A->tlen, &n);
        fputs(",\"thinking\":", o);
        json_string(o, t, n);
        free(t);
    }
    fprintf(o, ",\"stop_reason\":\"%s\"", stop_json[why]);
    fprintf(o, ",\"tokens\":{\"prompt\":%d,\"generated\":%d}", S->n_prompt, S->n_gen);
    fprintf(o, ",\"timings\":{\"load_ms\":%.3f,\"prompt_ms\":%.3f,\"generate_ms\":%.3f,"
               "\"prompt_tokens_per_second\":%.3f,\"generate_tokens_per_second\":%.3f}",
            load_ms, S->prompt_ms, S->gen_ms, S->prompt_ms > 0 ? S->n_prompt * 1e3 / S->prompt_ms : 0.0,
            S->gen_ms > 0 && S->n_evals > 0 ? S->n_evals * 1e3 / S->gen_ms : 0.0);
    fputs(",\"model\":", o);
    json_string(o, S->info.name, strlen(S->info.name));
    fprintf(o, ",\"seed\":%llu,\"context_shifts\":%d}\n", (unsigned long long)gemma_sampler_seed(S->s), S->n_shifts);
    out_flush();
}

static void print_timings(const session *S, stop_reason why) {
    logf_("\n");
    logf_("gemma: prompt   %6d tokens in %9.2f ms (%8.2f tokens/s)\n", S->n_prompt, S->prompt_ms,
          S->prompt_ms > 0 ? S->n_prompt * 1e3 / S->prompt_ms : 0.0);
    logf_("gemma: generate %6d tokens in %9.2f ms (%8.2f tokens/s), stopped at %s\n", S->n_gen,
          S->gen_ms, S->gen_ms > 0 && S->n_evals > 0 ? S->n_evals * 1e3 / S->gen_ms : 0.0, stop_names[why]);
}

/* Tokenize and feed the first turn (BOS added) or a later one. */
static int feed_text(session *S, const char *text, size_t len, bool first, char *err) {
    int n;
    int32_t *ids = gemma_tokenize(S->m, text, len, first, true, &n);
    int rc = 0;
    if (n == 0) rc = set_err(err, "the prompt is empty");
    else if (S->n_hist + n > S->n_ctx && !S->g->context_shift)
        rc = set_err(err, "the prompt is %d tokens, longer than the context (%d); use -c to enlarge it",
                      S->n_hist + n, S->n_ctx);
    else if (S->n_hist + n > S->n_ctx)
        rc = set_err(err, "the prompt is %d tokens, longer than the context (%d) even after shifting; use -c to enlarge it",
                      n, S->n_ctx);
    if (rc == 0) {
        for (int i = 0; i < n; i++) gemma_sampler_accept(S->s, ids[i]);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = feed(S, ids, n, err);
        S->prompt_ms += ms_since(&t0);
        S->n_prompt += n;
        if (first && S->g->keep != 0) S->n_keep = S->g->keep < 0 || S->g->keep > n ? n : S->g->keep;
        else if (first) S->n_keep = 1; /* the first token (BOS) always stays */
    }
    free(ids);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Interactive chat */

static char *read_line(bool *eof) {
    size_t cap = 256, n = 0;
    char *buf = xmalloc(cap);
    *eof = false;
    for (;;) {
        int c = fgetc(stdin);
        if (c == EOF) {
            if (ferror(stdin) && errno == EINTR && g_signal == SIGINT) {
                clearerr(stdin);
                free(buf);
                return NULL; /* Ctrl-C at the prompt */
            }
            *eof = n == 0;
            break;
        }
        if (c == '\n') break;
        if (n + 2 > cap) buf = xrealloc(buf, cap *= 2);
        buf[n++] = (char)c;
    }
    buf[n] = 0;
    return buf;
}

static int run_chat(session *S, gemma_chat_format fmt, const char *system) {
    const gen_args *g = S->g;
    bool color = g->color == 1 || (g->color == -1 && isatty(STDOUT_FILENO));
    char err[GEMMA_ERR_LEN];
    printf("%sgemma chat%s with %s. /clear starts over, /regen redoes the last answer, /exit or "
           "Ctrl-D quits; Ctrl-C stops an answer.\n",
           color ? "\033[1m" : "", color ? "\033[0m" : "", S->info.name);
    bool first = true;
    int turn_start = 0;           /* history length before the last user turn */
    int answer_start = 0;         /* history length before the last answer */
    char *last_user = NULL;
    for (;;) {
        printf("%s> %s", color ? "\033[1;32m" : "", color ? "\033[0m" : "");
        out_flush();
        g_signal = 0;
        bool eof;
        char *line = read_line(&eof);
        if (!line) { printf("\n"); break; }   /* Ctrl-C at the prompt: quit */
        if (eof) { free(line); printf("\n"); break; }
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) { free(line); break; }
        if (!strcmp(line, "/clear")) {
            gemma_context_reset(S->c);
            S->n_hist = 0;
            first = true;
            free(line);
            printf("(conversation cleared)\n");
            continue;
        }
        bool regen = !strcmp(line, "/regen");
        if (regen) {
            free(line);
            if (!last_user) { printf("(nothing to regenerate)\n"); continue; }
            /* back to just after the last user turn; re-evaluate if the cache can't roll back */
            if (gemma_context_truncate(S->c, answer_start) != 0) {
                S->n_hist = answer_start;
                if (eval_chunks(S, S->hist, S->n_hist, err)) die(EXIT_RUNTIME, "%s", err);
            } else {
                S->n_hist = answer_start;
                /* logits for the last prompt token: re-feed it */
                int32_t last = S->hist[--S->n_hist];
                gemma_context_truncate(S->c, S->n_hist);
                if (feed(S, &last, 1, err)) die(EXIT_RUNTIME, "%s", err);
            }
        } else if (*line == 0) {
            free(line);
            continue;
        } else {
            free(last_user);
            last_user = line;
            turn_start = S->n_hist;
            char *turn = gemma_chat_turn(fmt, first ? system : NULL, line, first, g->think);
            int rc = feed_text(S, turn, strlen(turn), first, err);
            free(turn);
            if (rc) {
                fprintf(stderr, "gemma: %s\n", err);
                /* drop the turn that did not fit and carry on */
                if (gemma_context_truncate(S->c, turn_start) != 0) {
                    S->n_hist = turn_start;
                    if (S->n_hist && eval_chunks(S, S->hist, S->n_hist, err)) die(EXIT_RUNTIME, "%s", err);
                }
                S->n_hist = turn_start;
                continue;
            }
            first = false;
            answer_start = S->n_hist;
        }
        answer A = {0};
        A.g = g;
        A.color = color;
        if (color) fputs("\033[0m", stdout);
        g_signal = 0;
        stop_reason why = generate(S, &A, fmt == GEMMA_CHAT_GEMMA4, err);
        if (why == STOP_ERROR) fprintf(stderr, "\ngemma: %s\n", err);
        if (why == STOP_INTERRUPT) printf("%s[stopped]%s", color ? "\033[2m" : "", color ? "\033[0m" : "");
        if (why == STOP_CONTEXT) fprintf(stderr, "\ngemma: the context is full; /clear to start over (or use --context-shift)\n");
        printf("\n");
        out_flush();
        free(A.text);
        free(A.thought);
        g_signal = 0;
    }
    free(last_user);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Main generation command */

static int cmd_generate(int argc, char **argv) {
    gen_args g;
    parse_gen_args(argc, argv, &g);
    if (!g.model) die_usage("no model given: use -m FILE.gguf");
    bool in_tty = isatty(STDIN_FILENO), out_tty = isatty(STDOUT_FILENO);
    size_t plen = 0;
    char *prompt = build_prompt(&g, &plen, in_tty);
    bool interactive = g.chat || (!prompt && in_tty && out_tty);
    if (!prompt && !interactive) die_usage("no prompt: use -p TEXT, -f FILE, or pipe text into stdin");
    if (g.chat && prompt) die_usage("--chat reads its turns from the terminal; give no -p/-f");
    size_t slen = 0;
    char *system = g.system_file ? read_path(g.system_file, &slen) : NULL;
    if (system && slen && system[slen - 1] == '\n') system[--slen] = 0;
    const char *sys = system ? system : g.system;

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (log_enabled && isatty(STDERR_FILENO)) fprintf(stderr, "gemma: loading %s ...\r", g.model);
    session S = {0};
    S.g = &g;
    S.m = load_model_or_die(g.model, &(gemma_model_params){.no_repack = g.no_repack});
    gemma_model_get_info(S.m, &S.info);
    double load_ms = ms_since(&t0);
    logf_("gemma: loaded %s '%s' from %s: %.2fB params, %s, %.1f MiB, in %.0f ms\n", S.info.arch,
          S.info.name, g.model, S.info.n_params / 1e9, S.info.ftype, S.info.n_bytes / 1048576.0, load_ms);
    if (g.verbose) {
        char repack[256];
        describe_repack(&S.info, repack, sizeof repack);
        logf_("gemma: %s\n", repack);
    }

    /* sampling: the file's recommended values unless the user chose */
    if (S.info.has_temp && !g.set_temp) g.sp.temp = S.info.temp;
    if (S.info.has_top_k && !g.set_top_k) g.sp.top_k = S.info.top_k;
    if (S.info.has_top_p && !g.set_top_p) g.sp.top_p = S.info.top_p;
    if (S.info.has_min_p && !g.set_min_p) g.sp.min_p = S.info.min_p;

    S.n_ctx = g.n_ctx;
    if (S.n_ctx == 0) S.n_ctx = S.info.n_ctx_train;
    if (S.n_ctx < 0) S.n_ctx = S.info.n_ctx_train < 4096 ? S.info.n_ctx_train : 4096;
    char err[GEMMA_ERR_LEN];
    gemma_context_params cp = {S.n_ctx, g.n_threads, g.n_batch};
    S.c = gemma_context_new(S.m, &cp, err);
    if (!S.c) die(EXIT_RUNTIME, "%s", err);
    logf_("gemma: context %d tokens (model trained for %d%s), %d threads, %s kernels\n", S.n_ctx,
          S.info.n_ctx_train, g.n_ctx < 0 ? "; -c to change" : "", gemma_n_threads(S.c), gemma_kernel_path());
    if (g.verbose)
        logf_("gemma: memory: model %.1f MiB (mapped), KV cache %.1f MiB, scratch %.1f MiB\n",
              S.info.n_bytes / 1048576.0, gemma_kv_bytes(S.c) / 1048576.0, gemma_scratch_bytes(S.c) / 1048576.0);

    S.s = gemma_sampler_new(S.m, &g.sp, err);
    if (!S.s) die(EXIT_USAGE, "%s", err);
    if (g.verbose)
        logf_("gemma: sampling temp %.2f, top-k %d, top-p %.2f, min-p %.2f, repeat-penalty %.2f (last %d), seed %llu\n",
              g.sp.temp, g.sp.top_k, g.sp.top_p, g.sp.min_p, g.sp.repeat_penalty, g.sp.repeat_last_n,
              (unsigned long long)gemma_sampler_seed(S.s));
    S.logits = xmalloc((size_t)S.info.n_vocab * sizeof(float));
    S.progress = log_enabled && isatty(STDERR_FILENO);

    gemma_chat_format fmt = g.raw ? GEMMA_CHAT_NONE : gemma_chat_format_of(S.m);
    if (g.think && fmt != GEMMA_CHAT_GEMMA4) logf_("gemma: --think needs a Gemma 4 chat model; ignored\n");
    install_signals();
    int rc = 0;
    if (interactive) {
        if (fmt == GEMMA_CHAT_NONE) logf_("gemma: this model has no chat template; turns are plain text\n");
        rc = run_chat(&S, fmt, sys);
    } else {
        char *text = prompt;
        size_t tlen = plen;
        if (fmt != GEMMA_CHAT_NONE) {
            text = gemma_chat_turn(fmt, sys, prompt, true, g.think);
            tlen = strlen(text);
        } else if (sys) {
            text = gemma_chat_turn(GEMMA_CHAT_NONE, sys, prompt, true, false);
            tlen = strlen(text);
        }
        if (g.display_prompt && !g.json) {
            out_write(prompt, plen);
            out_flush();
        }
        if (feed_text(&S, text, tlen, true, err)) die(EXIT_RUNTIME, "%s", err);
        if (text != prompt) free(text);
        answer A = {0};
        A.g = &g;
        A.collect = g.json;
        A.color = g.color == 1;
        stop_reason why = g_signal ? STOP_INTERRUPT : generate(&S, &A, fmt == GEMMA_CHAT_GEMMA4, err);
        if (why == STOP_ERROR) die(EXIT_RUNTIME, "%s", err);
        if (why == STOP_CONTEXT) logf_("\ngemma: context full (%d tokens), stopping; use -c to enlarge it or --context-shift\n", S.n_ctx);
        if (g.json) print_json(&S, &A, why, load_ms);
        print_timings(&S, why);
        free(A.text);
        free(A.thought);
        if (why == STOP_INTERRUPT) rc = g_signal == SIGTERM ? 143 : 130;
    }
    free(S.logits);
    free(S.hist);
    free(prompt);
    free(system);
    gemma_sampler_free(S.s);
    gemma_context_free(S.c);
    gemma_model_free(S.m);
    return rc;
}

/* The model is mmap'd: if the file is truncated or replaced while we run, touching a page
 * past its new end raises SIGBUS. Report it instead of dying silently (async-signal-safe). */
static void on_sigbus(int sig) {
    (void)sig;
    static const char msg[] = "gemma: error: the model file was truncated or changed while in use (SIGBUS)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(EXIT_MODEL);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN); /* a closed stdout becomes EPIPE, handled in out_write */
    signal(SIGBUS, on_sigbus);
    if (argc > 1 && !strcmp(argv[1], "logits")) return cmd_logits(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "tokenize")) return cmd_tokenize(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "dequant")) return cmd_dequant(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "bench")) return cmd_bench(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "info")) return cmd_info(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "quantize")) return cmd_quantize(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "perplexity")) return cmd_perplexity(argc, argv);
    if (argc < 2) {
        usage();
        return EXIT_USAGE;
    }
    return cmd_generate(argc, argv);
}
