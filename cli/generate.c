/* generate.c - `gemma -m MODEL -p TEXT`: one-shot generation (and the start of a chat).
 * Flag names follow llama.cpp's so users' habits carry over.
 *
 * A run: parse the options (the table below) -> build the prompt text (-p, -f, stdin) ->
 * load the model -> feed the prompt as a chat turn when the model has a chat template
 * (unless --raw) -> sample, print (flushed per token), feed, until an end-of-turn token,
 * -n, a reverse prompt, Ctrl-C, a closed stdout or a full context (--context-shift drops
 * old tokens instead) -> timings on stderr, or one JSON object on stdout (--json).
 *
 * The session the chat shares (load, feed, generate) is session.c's; chat.c holds the
 * interactive loop. --completion-bash is commands.c's (it knows every subcommand). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gemma.h"
#include "chat.h"
#include "options.h"
#include "session.h"

/* ---------------------------------------------------------------------------------------
 * Options */

enum {
    O_HELP = 1, O_VERSION, O_COMPLETION, O_MODEL, O_PROMPT, O_FILE, O_SYSTEM, O_SYSTEM_FILE,
    O_RAW, O_CHAT, O_THINK, O_HIDE_THINKING, O_ESCAPE, O_NO_ESCAPE, O_SPECIAL, O_N_PREDICT,
    O_RPROMPT, O_IGNORE_EOS, O_CTX, O_SHIFT, O_NO_SHIFT, O_KEEP, O_THREADS, O_THREADS_BATCH, O_BATCH,
    O_NO_REPACK, O_JSON, O_DISPLAY_PROMPT, O_NO_DISPLAY_PROMPT, O_COLOR, O_LOG_DISABLE, O_VERBOSE,
    O_GRAMMAR, O_GRAMMAR_FILE, O_SCHEMA, O_SCHEMA_FILE, O_FORMAT, O_TOOLS, O_TOOL_CHOICE,
    O_TOOL_CALL, O_TOOL_RESPONSE, O_CTK, O_CTV,
    /* llama.cpp flags that mean nothing here: accepted with a note (ignored_reason) */
    O_NGL, O_FLASH_ATTN, O_NO_MMAP, O_MLOCK, O_JINJA, O_NO_WARMUP, O_DEVICE, O_NUMA,
};

const cli_option gen_options[] = {
    {"input:", NULL, 0, NULL},
    {"-m|--model", "FILE", O_MODEL, "model file (GGUF)"},
    {"-p|--prompt", "TEXT", O_PROMPT, "prompt text (escapes such as \\n are processed; see -e)"},
    {"-f|--file", "FILE", O_FILE, "read the prompt from FILE ('-' = stdin)"},
    {"-sys|--system-prompt", "TEXT", O_SYSTEM, "system prompt"},
    {"-sysf|--system-prompt-file", "FILE", O_SYSTEM_FILE, "read the system prompt from FILE"},
    {"--raw|-no-cnv|--no-conversation", NULL, O_RAW, "plain completion: no chat turn around the prompt"},
    {"-cnv|--chat|--conversation", NULL, O_CHAT,
     "interactive chat (with -p: its first turn); /help lists the commands"},
    {"--think", NULL, O_THINK, "Gemma 4: let the model think first (thoughts on stderr)"},
    {"--hide-thinking", NULL, O_HIDE_THINKING, "with --think: do not show the thoughts"},
    {"-e|--escape", NULL, O_ESCAPE, "process \\n \\t \\r \\\\ \\\" \\' in -p, -sys and -r (default)"},
    {"--no-escape", NULL, O_NO_ESCAPE, "take -p, -sys and -r as written"},
    {"--special|--parse-special", NULL, O_SPECIAL,
     "control-token text in a chat turn (<start_of_turn>) becomes control tokens\n"
     "(default: it stays text; --raw prompts always parse it)"},
    {"generation:", NULL, 0, NULL},
    {"-n|--n-predict", "N", O_N_PREDICT, "tokens to generate (-1 = until the end of the answer; default -1)"},
    {"-r|--reverse-prompt", "STR", O_RPROMPT, "stop when the output ends with STR (not printed; repeatable)"},
    {"--ignore-eos", NULL, O_IGNORE_EOS, "keep generating past end-of-generation tokens"},
    {"-c|--ctx-size", "N", O_CTX, "context size (default: the model's, at most 4096; 0 = the model's)"},
    {"--context-shift", NULL, O_SHIFT, "when the context is full, drop old tokens and go on"},
    {"--no-context-shift", NULL, O_NO_SHIFT, NULL},
    {"--keep", "N", O_KEEP, "with --context-shift: tokens of the prompt start to keep (-1 = all)"},
    {"sampling:", NULL, 0, NULL},
    {"--temp", "T", SAMPLING_TEMP, "temperature (default 0.8; 0 = greedy)"},
    {"--top-k", "N", SAMPLING_TOP_K, "keep the N most likely tokens (default 40; 0 = off)"},
    {"--top-p", "P", SAMPLING_TOP_P, "nucleus sampling (default 0.95; 1 = off)"},
    {"--min-p", "P", SAMPLING_MIN_P, "drop tokens below P x the top probability (default 0.05; 0 = off)"},
    {"--repeat-penalty", "F", SAMPLING_REPEAT_PENALTY, "(default 1.0 = off)"},
    {"--repeat-last-n", "N", SAMPLING_REPEAT_LAST_N, "tokens the repeat penalty looks back on (default 64)"},
    {"-s|--seed", "N", SAMPLING_SEED, "random seed, 0 to 4294967294 (default: random, reported by -v and --json)"},
    {"constrained output (one of the first six; the output then parses as promised):", NULL, 0, NULL},
    {"--grammar", "TEXT", O_GRAMMAR, "a GBNF grammar (llama.cpp's syntax, start rule root) the output follows"},
    {"--grammar-file", "FILE", O_GRAMMAR_FILE, "the same, read from FILE"},
    {"-j|--json-schema", "SCHEMA", O_SCHEMA, "the output is JSON that this JSON schema accepts"},
    {"-jf|--json-schema-file", "FILE", O_SCHEMA_FILE, "the same, the schema read from FILE"},
    {"--format", "json", O_FORMAT, "the output is a JSON value (ollama's --format json)"},
    {"--tools", "FILE", O_TOOLS,
     "Gemma 4 tool calls: the tools in OpenAI's JSON format; a call the model makes\n"
     "is printed as a JSON line {\"name\",\"arguments\"} (stop reason tool_calls)"},
    {"--tool-choice", "auto|required|none", O_TOOL_CHOICE,
     "with --tools: calls optional (auto, default), the answer must be calls\n"
     "(required; after tool results it is auto), or no calls (none)"},
    {"--tool-call", "CALL", O_TOOL_CALL,
     "replay a call the model made (a line --tools printed: JSON text, or a file of\n"
     "such lines) after the prompt; then give its result with --tool-response"},
    {"--tool-response", "RESULT", O_TOOL_RESPONSE,
     "the result of the call(s) before it: JSON text starting with { [ or \",\n"
     "or a file holding JSON; one per call, in order; the model continues from there"},
    {"performance:", NULL, 0, NULL},
    {"-t|--threads", "N", O_THREADS, "threads for generation (default: physical cores)"},
    {"-tb|--threads-batch", "N", O_THREADS_BATCH, "threads for prompt processing (default: as -t)"},
    {"-b|--batch-size|-ub|--ubatch-size", "N", O_BATCH, "prompt tokens per forward batch (default 512)"},
    {"-ctk|--cache-type-k", "TYPE", O_CTK, KV_TYPE_HELP("keys", "f16")},
    {"-ctv|--cache-type-v", "TYPE", O_CTV, KV_TYPE_HELP("values", "f16")},
    {"-nr|--no-repack", NULL, O_NO_REPACK,
     "keep the weights in the file's layout (default: repacked at load; -v says which)"},
    {"output:", NULL, 0, NULL},
    {"--json", NULL, O_JSON, "print one JSON object (text, token counts, timings, stop reason, seed)"},
    {"--display-prompt", NULL, O_DISPLAY_PROMPT, "print the prompt before the generated text"},
    {"--no-display-prompt", NULL, O_NO_DISPLAY_PROMPT, NULL},
    {"--color|--colour|-co", "[on|off|auto]", O_COLOR,
     "colours (default auto: a terminal, unless NO_COLOR is set or TERM=dumb)"},
    {"--log-disable", NULL, O_LOG_DISABLE, "nothing on stderr but errors"},
    {"-v|--verbose", NULL, O_VERBOSE, "memory report, sampling settings and seed on stderr"},
    {"-h|--help", NULL, O_HELP, "this help;  gemma SUBCOMMAND --help: a subcommand's"},
    {"--version", NULL, O_VERSION, "version and kernel path"},
    {"--completion-bash", NULL, O_COMPLETION, "print a bash completion script"}, /* run_command's */
    {"accepted for llama.cpp habits, without effect here (a note on stderr says so):\n"
     "  -ngl N, -fa [on|off|auto], --no-mmap, --mlock, --jinja, --no-warmup, -dev LIST, --numa T",
     NULL, 0, NULL},
    {"-ngl|--n-gpu-layers|--gpu-layers", "N", O_NGL, NULL},
    {"-fa|--flash-attn", "[on|off|auto|1|0]", O_FLASH_ATTN, NULL},
    {"--no-mmap", NULL, O_NO_MMAP, NULL},
    {"--mlock", NULL, O_MLOCK, NULL},
    {"--jinja", NULL, O_JINJA, NULL},
    {"--no-warmup", NULL, O_NO_WARMUP, NULL},
    {"-dev|--device", "LIST", O_DEVICE, NULL},
    {"--numa", "TYPE", O_NUMA, NULL},
    {0},
};

static const char *ignored_reason(int id) {
    switch (id) {
    case O_NGL: case O_DEVICE: return "this engine runs on the CPU only";
    case O_FLASH_ATTN: return "attention has one exact path here, tiled where it pays";
    case O_NO_MMAP: return "the model file is always memory-mapped";
    case O_MLOCK: return "the mapped pages are left to the kernel";
    case O_JINJA: return "Gemma's chat turns are built in (no template engine)";
    case O_NO_WARMUP: return "there is no warm-up run";
    case O_NUMA: return "threads are not placed per NUMA node";
    default: return NULL;
    }
}

void print_usage(void) {
    printf(
        "usage: gemma -m MODEL.gguf [-p PROMPT | -f FILE] [options]   generate / chat\n"
        "       gemma info MODEL.gguf [--tensors] [--json]               inspect a file\n"
        "       gemma bench -m MODEL.gguf [-p 512] [-n 128] [-t N]       llama-bench style speed test\n"
        "       gemma quantize IN.gguf OUT.gguf TYPE                     e.g. Q4_K_M, Q8_0\n"
        "       gemma perplexity -m MODEL.gguf -f TEXT [-c 512]\n"
        "       gemma logits | tokenize | dequant ...                    (gemma SUB --help)\n"
        "\n"
        "Generated text goes to stdout, streamed token by token; model information and timings\n"
        "go to stderr. With a chat model, -p is sent as one user turn (--raw: plain completion).\n"
        "With no prompt and a terminal on stdin and stdout, gemma starts a chat.\n"
        "Piped stdin is the prompt; with -p too, the prompt is stdin, a blank line, then -p\n"
        "(a program that starts gemma with a pipe it never closes should use </dev/null).\n"
        "Every long option also takes its value as --name=value.\n"
        "\n");
    opt_print_help(stdout, gen_options);
    printf(
        "\n"
        "Sampling defaults are replaced by the file's general.sampling.* values unless given.\n"
        "\n"
        "examples:\n"
        "  gemma -m gemma-3-1b-it-Q4_K_M.gguf -p \"Why is the sky blue?\"\n"
        "  cat notes.txt | gemma -m model.gguf -p \"Summarize this\" -n 200\n"
        "  gemma -m model.gguf --raw -p \"Q: 2+2?\\nA:\" -r \"Q:\" --temp 0 -n 64\n"
        "  gemma -m model.gguf                       # chat in the terminal\n"
        "\n"
        "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 model file error, 4 I/O error,\n"
        "            130 interrupted (SIGINT), 143 terminated (SIGTERM)\n");
}

static void print_version(void) { printf("gemma %s (kernels: %s)\n", GEMMA_VERSION, gemma_kernel_path()); }

static char *text_arg(const gen_args *g, const char *v) {
    char *s = xstrdup(v);
    return g->escape ? unescape(s) : s;
}

static int color_arg(const char *v) {
    if (!v || !strcmp(v, "on") || !strcmp(v, "always")) return 1;
    if (!strcmp(v, "off") || !strcmp(v, "never")) return 0;
    if (!strcmp(v, "auto")) return -1;
    die_usage("invalid value '%s' for --color (on, off or auto)", v);
}

/* What the options say before they are applied: texts that take escapes wait until every
 * option is read (-e and --no-escape may come after them); notes about ignored llama.cpp
 * flags wait for --log-disable. */
typedef struct {
    const char *prompt, *system, *rprompts[MAX_RPROMPTS];
    char notes[8][160];
    int n_notes;
    int constraint;                 /* O_GRAMMAR ... O_TOOLS, 0: none */
    const char *constraint_value;
    bool tool_choice;
    const char *ex[MAX_EXCHANGE];   /* --tool-call / --tool-response values, in order */
    bool ex_result[MAX_EXCHANGE];
    int n_ex;
} pending_args;

static const char *constraint_flag(int id) {
    switch (id) {
    case O_GRAMMAR: return "--grammar";
    case O_GRAMMAR_FILE: return "--grammar-file";
    case O_SCHEMA: return "--json-schema";
    case O_SCHEMA_FILE: return "--json-schema-file";
    case O_FORMAT: return "--format";
    default: return "--tools";
    }
}

static void set_option(gen_args *g, pending_args *pa, int id, const char *f, const char *v) {
    if (sampling_arg(&g->samp, id, f, v)) return;
    switch (id) {
    case OPT_ARG: die_usage("unexpected argument '%s'", v);
    case O_HELP: print_usage(); exit(0);
    case O_VERSION: print_version(); exit(0);
    case O_COMPLETION: break;   /* run_command answered it before cmd_generate */
    case O_MODEL: g->model = v; break;
    case O_PROMPT: pa->prompt = v; break;
    case O_FILE: g->file = v; break;
    case O_SYSTEM: pa->system = v; break;
    case O_SYSTEM_FILE: g->system_file = v; break;
    case O_RAW: g->raw = true; break;
    case O_CHAT: g->chat = true; break;
    case O_THINK: g->think = true; break;
    case O_HIDE_THINKING: g->hide_thinking = true; break;
    case O_ESCAPE: g->escape = true; break;
    case O_NO_ESCAPE: g->escape = false; break;
    case O_SPECIAL: g->special = true; break;
    case O_N_PREDICT: g->n_predict = (int)parse_int(f, v, -1, INT_MAX); break;
    case O_RPROMPT:
        if (!*v) die_usage("--reverse-prompt must not be empty");
        if (g->n_rprompts == MAX_RPROMPTS) die_usage("at most %d reverse prompts", MAX_RPROMPTS);
        pa->rprompts[g->n_rprompts++] = v;
        break;
    case O_IGNORE_EOS: g->ignore_eos = true; break;
    case O_CTX: g->n_ctx = (int)parse_int(f, v, 0, 1 << 30); break;
    case O_SHIFT: g->context_shift = true; break;
    case O_NO_SHIFT: g->context_shift = false; break;
    case O_KEEP: g->keep = (int)parse_int(f, v, -1, INT_MAX); break;
    case O_THREADS: g->n_threads = (int)parse_int(f, v, 1, 1024); break;
    case O_THREADS_BATCH: g->n_threads_batch = (int)parse_int(f, v, 1, 1024); break;
    case O_BATCH: g->n_batch = (int)parse_int(f, v, 1, 1 << 16); break;
    case O_CTK: g->type_k = parse_kv_type(f, v); break;
    case O_CTV: g->type_v = parse_kv_type(f, v); break;
    case O_JSON: g->json = true; break;
    case O_DISPLAY_PROMPT: g->display_prompt = true; break;
    case O_NO_DISPLAY_PROMPT: g->display_prompt = false; break;
    case O_COLOR: g->color = color_arg(v); break;
    case O_LOG_DISABLE: log_enabled = false; break;
    case O_VERBOSE: g->verbose = true; break;
    case O_NO_REPACK: g->no_repack = true; break;
    case O_GRAMMAR: case O_GRAMMAR_FILE: case O_SCHEMA: case O_SCHEMA_FILE: case O_FORMAT: case O_TOOLS:
        if (pa->constraint)
            die_usage("give one of --grammar, --grammar-file, -j, -jf, --format and --tools, not two "
                      "(%s and %s)", constraint_flag(pa->constraint), constraint_flag(id));
        if (id == O_FORMAT && strcmp(v, "json") != 0)
            die_usage("unknown --format '%s' (only json; a JSON schema goes to -j)", v);
        pa->constraint = id;
        pa->constraint_value = v;
        break;
    case O_TOOL_CHOICE:
        if (!strcmp(v, "auto")) g->spec.choice = TOOL_CHOICE_AUTO;
        else if (!strcmp(v, "required")) g->spec.choice = TOOL_CHOICE_REQUIRED;
        else if (!strcmp(v, "none")) g->spec.choice = TOOL_CHOICE_NONE;
        else die_usage("invalid value '%s' for --tool-choice (auto, required or none)", v);
        pa->tool_choice = true;
        break;
    case O_TOOL_CALL: case O_TOOL_RESPONSE:
        if (pa->n_ex == MAX_EXCHANGE) die_usage("at most %d --tool-call and --tool-response", MAX_EXCHANGE);
        pa->ex_result[pa->n_ex] = id == O_TOOL_RESPONSE;
        pa->ex[pa->n_ex++] = v;
        break;
    default: /* a llama.cpp flag without meaning here */
        if (pa->n_notes < (int)(sizeof pa->notes / sizeof pa->notes[0]))
            snprintf(pa->notes[pa->n_notes++], sizeof pa->notes[0], "gemma: note: %s%s%.40s ignored: %s\n",
                     f, v ? " " : "", v ? v : "", ignored_reason(id));
        break;
    }
}

/* The grammar, schema or tools text of the option given, checked before the model loads:
 * a mistake in it is a usage error naming the file (or the option) and the place. */
static void load_constraint(gen_args *g, const pending_args *pa) {
    step_spec *sp = &g->spec;
    const char *v = pa->constraint_value;
    size_t n;
    switch (pa->constraint) {
    case 0: return;
    case O_FORMAT: sp->json = true; return;
    case O_GRAMMAR: sp->gbnf = g->constraint_text = xstrdup(v); break;
    case O_GRAMMAR_FILE: sp->gbnf = g->constraint_text = read_named(v, "grammar file", &n); break;
    case O_SCHEMA: sp->json_schema = g->constraint_text = xstrdup(v); break;
    case O_SCHEMA_FILE: sp->json_schema = g->constraint_text = read_named(v, "schema file", &n); break;
    case O_TOOLS: sp->tools = g->constraint_text = read_named(v, "tools file", &n); break;
    }
    char err[GEMMA_ERR_LEN];
    bool file = pa->constraint == O_GRAMMAR_FILE || pa->constraint == O_SCHEMA_FILE || pa->constraint == O_TOOLS;
    if (step_spec_check(sp, err)) die(EXIT_USAGE, "%s: %s", file ? v : constraint_flag(pa->constraint), err);
}

/* JSON given inline (text that starts with {, [ or ") or the name of a file holding it. */
static char *json_arg(const char *v, const char *what) {
    const char *p = v + strspn(v, " \t\r\n");
    if (*p == '{' || *p == '[' || *p == '"') return xstrdup(v);
    size_t n;
    return read_named(v, what, &n);
}

static void add_exchange(gen_args *g, char *text, char *name, bool result) {
    if (g->n_ex == MAX_EXCHANGE) die_usage("at most %d tool calls and results", MAX_EXCHANGE);
    g->ex_text[g->n_ex] = text;
    g->ex_name[g->n_ex] = name;
    g->ex_result[g->n_ex++] = result;
}

/* The calls of one --tool-call (a JSON text, or a file of JSON lines) as markup. */
static void add_calls(gen_args *g, const gemma_tools *t, const char *v) {
    char *all = json_arg(v, "tool call file"), err[GEMMA_ERR_LEN];
    int count = 0;
    for (char *line = all, *next; line && *line; line = next) {
        next = line + strcspn(line, "\n");
        if (*next) *next++ = 0;
        if (!line[strspn(line, " \t\r")]) continue;
        char *name;
        char *markup = gemma_tool_call_text(t, line, strlen(line), &name, err);
        if (!markup) die(EXIT_USAGE, "--tool-call %.60s: %s", v, err);
        add_exchange(g, markup, name, false);
        count++;
    }
    free(all);
    if (!count) die_usage("--tool-call %.60s: no call in it", v);
}

/* --tool-call and --tool-response as they came: groups of calls, each followed by one result
 * per call, in order (as the model made them: its calls, then their results, then it goes
 * on). A result is checked as JSON and named after its call. */
static void load_exchange(gen_args *g, const pending_args *pa) {
    if (!pa->n_ex) return;
    if (!g->spec.tools) die_usage("--tool-call and --tool-response need --tools (the tools the calls were made to)");
    char err[GEMMA_ERR_LEN];
    gemma_tools *t = gemma_tools_parse(g->spec.tools, strlen(g->spec.tools), err);
    int first = 0, calls = 0, answered = 0;   /* the group: its first call, its calls, results */
    for (int i = 0; i < pa->n_ex; i++) {
        if (!pa->ex_result[i]) {
            if (answered && answered < calls) break;             /* reported below */
            if (answered) calls = answered = 0;
            if (!calls) first = g->n_ex;
            int before = g->n_ex;
            add_calls(g, t, pa->ex[i]);
            calls += g->n_ex - before;
            continue;
        }
        if (answered == calls)
            die_usage("--tool-response %.60s: every --tool-call before it already has its result "
                      "(give the calls, then one result per call)", pa->ex[i]);
        const char *name = g->ex_name[first + answered];
        char *json = json_arg(pa->ex[i], "tool response file");
        char *check = gemma_tool_response(name, json, strlen(json), true, err);
        if (!check) die(EXIT_USAGE, "--tool-response %.60s: %s", pa->ex[i], err);
        free(check);
        add_exchange(g, json, xstrdup(name), true);
        answered++;
    }
    if (answered < calls)
        die_usage("the tool call '%s' has no --tool-response (give one result per call, after the calls)",
                  g->ex_name[first + answered]);
    gemma_tools_free(t);
}

static void parse_gen_args(int argc, char **argv, gen_args *g) {
    memset(g, 0, sizeof *g);
    g->n_predict = -1;
    g->n_ctx = -1;
    g->type_k = g->type_v = GEMMA_KV_F16; /* llama.cpp's default */
    g->color = -1;
    g->escape = true;
    gemma_sampler_params_default(&g->samp.sp);
    if (argc == 2 && !strcmp(argv[1], "-v")) { /* bare -v: the version, as many tools do */
        print_version();
        exit(0);
    }
    pending_args pa;
    memset(&pa, 0, sizeof pa);
    opt_iter it = opt_start(gen_options, argc, argv, 1);
    const char *v;
    for (int id; (id = opt_next(&it, &v)) != OPT_END;) set_option(g, &pa, id, it.name, v);

    for (int i = 0; i < pa.n_notes; i++) logf_("%s", pa.notes[i]);
    if (pa.prompt && g->file) die_usage("give either -p or -f, not both");
    if (pa.system && g->system_file) die_usage("give either -sys or -sysf, not both");
    if (g->chat && g->json) die_usage("--json is for one-shot runs, not --chat");
    if (g->hide_thinking && !g->think) g->hide_thinking = false;
    if (pa.prompt) g->prompt = text_arg(g, pa.prompt);
    if (pa.system) g->system = text_arg(g, pa.system);
    for (int r = 0; r < g->n_rprompts; r++) g->rprompts[r] = text_arg(g, pa.rprompts[r]);
    if (g->n_threads) warn_threads("-t", g->n_threads);
    if (g->n_threads_batch) warn_threads("-tb", g->n_threads_batch);
    if (pa.tool_choice && pa.constraint != O_TOOLS) die_usage("--tool-choice applies to --tools");
    if (pa.constraint == O_TOOLS && g->raw)
        die_usage("--tools declares the tools in the system turn: it needs a chat turn, not --raw");
    load_constraint(g, &pa);
    load_exchange(g, &pa);
    g->spec.ignore_eos = g->ignore_eos;
}

static void free_gen_args(gen_args *g) {
    free(g->prompt);
    free(g->system);
    for (int r = 0; r < g->n_rprompts; r++) free(g->rprompts[r]);
    free(g->constraint_text);
    for (int i = 0; i < g->n_ex; i++) {
        free(g->ex_text[i]);
        free(g->ex_name[i]);
    }
}

/* ---------------------------------------------------------------------------------------
 * Signals: Ctrl-C stops the current answer (chat) or the run (one-shot), cleanly. */

static void on_signal(int sig) { g_signal = sig; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);   /* no SA_RESTART: a blocked read returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
}

/* ---------------------------------------------------------------------------------------
 * The prompt text: -p, -f, piped stdin, or piped stdin + blank line + -p (as ollama). One
 * trailing newline of a file or stdin prompt is dropped, as llama.cpp does for -f. */

/* All of stdin. A program that starts gemma with a pipe it never closes would wait here
 * forever without a word, so after a few seconds without the end of input, say why. The
 * wait is in slices of 100 ms, so Ctrl-C ends it even between two reads. */
static char *read_stdin_prompt(size_t *len) {
    enum { HINT_MS = 3000 };
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool hinted = false;
    for (;;) {
        if (g_signal) {
            free(buf);
            exit(g_signal == SIGTERM ? 143 : 130);
        }
        struct pollfd pf = {STDIN_FILENO, POLLIN, 0};
        int ready = poll(&pf, 1, 100);
        if (!hinted && ms_since(&t0) >= HINT_MS) {
            logf_("gemma: still reading the prompt from stdin (it is not a terminal): end it, "
                  "or give </dev/null\n");
            hinted = true;
        }
        if (ready <= 0) continue;   /* a slice went by, or a signal: look again */
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(STDIN_FILENO, buf + n, cap - 1 - n);
        if (r == 0) break;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die(EXIT_IO, "reading stdin failed: %s", strerror(errno));
        n += (size_t)r;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static char *build_prompt(const gen_args *g, size_t *len, bool stdin_is_tty) {
    if (g->file) {
        char *text = read_named(g->file, "prompt file", len);
        if (*len && text[*len - 1] == '\n') text[--*len] = 0;
        return text;
    }
    size_t plen = 0;
    char *piped = NULL;
    if (!stdin_is_tty && !g->chat) {
        piped = read_stdin_prompt(&plen);
        if (plen && piped[plen - 1] == '\n') piped[--plen] = 0;
        if (plen == 0) {
            free(piped);
            piped = NULL;
        }
    }
    if (!g->prompt) {
        *len = plen;
        return piped;           /* NULL: no prompt at all (an interactive chat may start) */
    }
    size_t n = strlen(g->prompt);
    if (!piped) {
        *len = n;
        return xstrdup(g->prompt);
    }
    char *text = xmalloc(plen + 2 + n + 1);
    memcpy(text, piped, plen);
    memcpy(text + plen, "\n\n", 2);
    memcpy(text + plen + 2, g->prompt, n + 1);
    *len = plen + 2 + n;
    free(piped);
    return text;
}

/* ---------------------------------------------------------------------------------------
 * One-shot run: the report */

/* stderr's words for each stop_reason (step.h has the JSON names) */
static const char *stop_text[] = {"stopped at the end of the answer", "stopped at the -n limit",
                                  "stopped: the context is full", "stopped at a reverse prompt",
                                  "interrupted", "stopped: stdout was closed", "stopped by an error",
                                  "stopped at tool calls", "stopped: the grammar is complete",
                                  "stopped: the grammar allows no token"};

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

/* Generation speed counts the tokens fed back (the first token of an answer is sampled
 * from the prompt's logits, so -n 1 has no generation pass to time). */
static bool gen_rate(const session *S, double *rate) {
    *rate = S->gen_ms > 0 && S->n_evals > 0 ? S->n_evals * 1e3 / S->gen_ms : 0.0;
    return S->n_evals > 0;
}

static void print_json(const session *S, const answer *A, stop_reason why, double load_ms) {
    FILE *o = stdout;
    size_t n;
    char *t = utf8_sanitize(A->text.p ? A->text.p : "", A->text.len, &n); /* JSON strings are UTF-8 */
    fputs("{\"text\":", o);
    json_string(o, t, n);
    free(t);
    if (A->thought.len > A->thought_from) {
        t = utf8_sanitize(A->thought.p + A->thought_from, A->thought.len - A->thought_from, &n);
        fputs(",\"thinking\":", o);
        json_string(o, t, n);
        free(t);
    }
    fprintf(o, ",\"stop_reason\":\"%s\"", stop_reason_name(why));
    if (S->rules.tools) { /* the calls' lines are JSON objects already */
        fputs(",\"tool_calls\":[", o);
        for (const char *c = A->calls; c && *c;) {
            size_t k = strcspn(c, "\n");
            if (c != A->calls) fputc(',', o);
            fwrite(c, 1, k, o);
            c += k + (c[k] == '\n');
        }
        fputc(']', o);
    }
    fprintf(o, ",\"tokens\":{\"prompt\":%d,\"generated\":%d}", S->n_prompt, S->n_gen);
    double rate;
    bool timed = gen_rate(S, &rate);
    fprintf(o, ",\"timings\":{\"load_ms\":%.3f,\"prompt_ms\":%.3f,\"generate_ms\":%.3f,"
               "\"prompt_tokens_per_second\":%.3f,\"generate_tokens_per_second\":",
            load_ms, S->prompt_ms, S->gen_ms, S->prompt_ms > 0 ? S->n_prompt * 1e3 / S->prompt_ms : 0.0);
    if (timed) fprintf(o, "%.3f", rate);
    else fputs("null", o);
    gemma_sampler_timings st;
    gemma_sampler_get_timings(S->s, &st);
    fprintf(o, ",\"sample_ms\":%.3f,\"sample_ms_per_token\":", st.sample_ms);
    if (st.n_samples) fprintf(o, "%.4f", st.sample_ms / (double)st.n_samples);
    else fputs("null", o);
    fprintf(o, ",\"grammar_ms\":%.3f,\"grammar_checks\":%llu,\"grammar_fallbacks\":%llu}", st.grammar_ms,
            (unsigned long long)st.n_grammar_checks, (unsigned long long)st.n_grammar_fallbacks);
    fputs(",\"model\":", o);
    json_string(o, S->info.name, strlen(S->info.name));
    fprintf(o, ",\"seed\":%llu,\"context_shifts\":%d}\n", (unsigned long long)gemma_sampler_seed(S->s), S->n_shifts);
    out_flush();
}

static void print_timings(const session *S, stop_reason why, bool blank_line) {
    if (blank_line) logf_("\n");
    logf_("gemma: prompt   %6d tokens in %9.2f ms (%8.2f tokens/s)\n", S->n_prompt, S->prompt_ms,
          S->prompt_ms > 0 ? S->n_prompt * 1e3 / S->prompt_ms : 0.0);
    double rate;
    if (gen_rate(S, &rate))
        logf_("gemma: generate %6d tokens in %9.2f ms (%8.2f tokens/s), %s\n", S->n_gen, S->gen_ms,
              rate, stop_text[why]);
    else
        logf_("gemma: generate %6d token%s (from the prompt's logits: no generation pass to time), %s\n",
              S->n_gen, S->n_gen == 1 ? "" : "s", stop_text[why]);
    gemma_sampler_timings st;
    gemma_sampler_get_timings(S->s, &st);
    if (S->g->verbose && st.n_samples) {
        /* the sampler's share of generation (a grammar's checks included) */
        logf_("gemma: sampling %6llu tokens in %9.2f ms (%8.3f ms/token, %.1f %% of generation)",
              (unsigned long long)st.n_samples, st.sample_ms, st.sample_ms / (double)st.n_samples,
              S->gen_ms > 0 ? 100.0 * st.sample_ms / S->gen_ms : 0.0);
        if (S->rules.first)
            logf_("; grammar %.2f ms, %llu tokens checked, %llu whole-vocabulary checks",
                  st.grammar_ms, (unsigned long long)st.n_grammar_checks,
                  (unsigned long long)st.n_grammar_fallbacks);
        logf_("\n");
    }
}

/* ---------------------------------------------------------------------------------------
 * The command */

/* The tool exchange of an earlier run, after the prompt: each group of calls as the model
 * wrote them, then their results; the answer then continues from there. */
static int replay_exchange(session *S, char *err) {
    const gen_args *g = S->g;
    for (int i = 0; i < g->n_ex;) {
        int calls = i;
        for (; i < g->n_ex && !g->ex_result[i]; i++)
            if (session_feed_text(S, g->ex_text[i], err)) return -1;
        int results = i;
        while (i < g->n_ex && g->ex_result[i]) i++;
        if (session_feed_results(S, g->ex_name + calls, g->ex_text + results, i - results, err)) return -1;
    }
    return 0;
}

static int run_oneshot(session *S, const char *sys, const char *prompt, size_t plen, double load_ms) {
    const gen_args *g = S->g;
    char err[GEMMA_ERR_LEN];
    bool out_tty = isatty(STDOUT_FILENO);
    if (g->display_prompt && !g->json) {
        out_write(prompt, plen);
        out_flush();
    }
    if (session_feed_turn(S, sys, prompt, true, err)) die(EXIT_RUNTIME, "%s", err);
    if (replay_exchange(S, err)) die(EXIT_RUNTIME, "%s", err);
    answer A = {0};
    A.collect = g->json;
    A.color = use_color(g->color, STDERR_FILENO);
    stop_reason why = g_signal ? STOP_INTERRUPT : generate(S, &A, err);
    if (why == STOP_ERROR) die(EXIT_RUNTIME, "%s", err);
    bool ended = A.emitted == 0 || A.text.p[A.emitted - 1] == '\n';
    if (A.n_calls && !g->json) { /* each call one JSON line, after the text on a line of its own */
        if (!ended) out_write("\n", 1);
        out_write(A.calls, strlen(A.calls));
        out_flush();
        ended = true;
    }
    /* a terminal gets the answer's last line ended, so the shell prompt starts on its own
     * line; pipes and files get exactly the generated text */
    bool newline = !g->json && out_tty && !ended;
    if (newline) {
        out_write("\n", 1);
        out_flush();
    }
    if (why == STOP_CONTEXT)
        logf_("\ngemma: context full (%d tokens), stopping; use -c to enlarge it or --context-shift\n", S->n_ctx);
    if (A.calls_cut) logf_("gemma: an unfinished tool call at the end was dropped (%s)\n", stop_text[why]);
    if (g->json) print_json(S, &A, why, load_ms);
    print_timings(S, why, !newline && !g->json && !A.n_calls);
    answer_free(&A);
    if (why == STOP_NO_TOKEN) die(EXIT_RUNTIME, "%s", err);
    return why == STOP_INTERRUPT ? (g_signal == SIGTERM ? 143 : 130) : 0;
}

int cmd_generate(int argc, char **argv) {
    gen_args g;
    parse_gen_args(argc, argv, &g);
    if (!g.model) die_usage("no model given: use -m FILE.gguf");
    install_signals();
    bool in_tty = isatty(STDIN_FILENO), out_tty = isatty(STDOUT_FILENO);
    size_t plen = 0;
    char *prompt = build_prompt(&g, &plen, in_tty);
    bool interactive = g.chat || (!prompt && in_tty && out_tty);
    if (!prompt && !interactive) die_usage("no prompt: use -p TEXT, -f FILE, or pipe text into stdin");
    if (g.n_ex && interactive) die_usage("--tool-call and --tool-response are for one-shot runs (in a chat, answer the call)");
    size_t slen = 0;
    char *system_text = g.system_file ? read_named(g.system_file, "system prompt file", &slen) : NULL;
    if (system_text && slen && system_text[slen - 1] == '\n') system_text[--slen] = 0;
    const char *sys = system_text ? system_text : g.system;

    session S = {0};
    double load_ms;
    session_load(&S, &g, &load_ms);
    char err[GEMMA_ERR_LEN], *sys_tools;   /* the tools declared after the system text */
    if (step_system_prompt(&S.rules, sys, &sys_tools, err)) die(EXIT_USAGE, "%s", err);
    out_defer_close(); /* a reader that goes away stops generation at the next token */
    int rc = interactive ? run_chat(&S, sys_tools, prompt) : run_oneshot(&S, sys_tools, prompt, plen, load_ms);
    free(sys_tools);
    session_free(&S);
    free(prompt);
    free(system_text);
    free_gen_args(&g);
    return rc;
}
