/* cli_tools.c - the small subcommands tests and curious users rely on:
 *   gemma logits   -m FILE --ids 2,17,99 -o OUT.f32 [--decode]
 *   gemma tokenize -m FILE (-p TEXT | -f FILE) [--no-bos] [--no-parse-special]
 *   gemma dequant  -m FILE --tensor NAME -o OUT.f32
 * Each has an option table (options.h) that its --help prints. */
#include "cli.h"
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Subcommands */

enum { T_HELP = 1, T_MODEL, T_IDS, T_OUT, T_DECODE, T_THREADS, T_PROMPT, T_FILE, T_NO_BOS,
       T_NO_SPECIAL, T_TENSOR, T_CTK, T_CTV };

const cli_option logits_options[] = {
    {"usage: gemma logits -m MODEL.gguf --ids 2,17,99 -o OUT.f32 [--decode] [-t N]\n\n"
     "The logits of every position of a token sequence, as little-endian float32\n"
     "(len(ids) x n_vocab), for comparing against another implementation.\n", NULL, 0, NULL},
    {"-m|--model", "FILE", T_MODEL, "model file (GGUF)"},
    {"--ids", "LIST", T_IDS, "token ids, comma-separated"},
    {"-o|--output", "FILE", T_OUT, "where the floats go ('-' = stdout)"},
    {"--decode", NULL, T_DECODE, "feed one token at a time instead of one batch"},
    {"-t|--threads", "N", T_THREADS, "threads (default: physical cores)"},
    {"-ctk|--cache-type-k", "TYPE", T_CTK, KV_TYPE_HELP("keys", "f32, exact")},
    {"-ctv|--cache-type-v", "TYPE", T_CTV, KV_TYPE_HELP("values", "f32, exact")},
    {"-h|--help", NULL, T_HELP, "this help"},
    {0},
};

const cli_option tokenize_options[] = {
    {"usage: gemma tokenize -m MODEL.gguf (-p TEXT | -f FILE) [--no-bos] [--no-parse-special]\n\n"
     "The token ids of a text on one line (the model file may hold only a vocabulary).\n", NULL, 0, NULL},
    {"-m|--model", "FILE", T_MODEL, "model or vocabulary file (GGUF)"},
    {"-p|--prompt", "TEXT", T_PROMPT, "the text"},
    {"-f|--file", "FILE", T_FILE, "read the text from FILE, byte for byte ('-' = stdin)"},
    {"--no-bos", NULL, T_NO_BOS, "no BOS token first"},
    {"--no-parse-special", NULL, T_NO_SPECIAL, "control-token text such as <start_of_turn> stays text"},
    {"-h|--help", NULL, T_HELP, "this help"},
    {0},
};

const cli_option dequant_options[] = {
    {"usage: gemma dequant -m MODEL.gguf --tensor NAME -o OUT.f32\n\n"
     "One tensor of a GGUF file as little-endian float32 (any supported type).\n", NULL, 0, NULL},
    {"-m|--model", "FILE", T_MODEL, "GGUF file"},
    {"--tensor", "NAME", T_TENSOR, "the tensor's name (gemma info FILE --tensors lists them)"},
    {"-o|--output", "FILE", T_OUT, "where the floats go ('-' = stdout)"},
    {"-h|--help", NULL, T_HELP, "this help"},
    {0},
};

_Noreturn static void help_exit(const cli_option *opts) {
    opt_print_help(stdout, opts);
    exit(0);
}

int cmd_logits(int argc, char **argv) {
    const char *model = NULL, *ids_arg = NULL, *out = NULL, *v;
    bool decode = false;
    int threads = 0;
    gemma_kv_type tk = GEMMA_KV_F32, tv = GEMMA_KV_F32; /* exact: comparisons stay as they were */
    opt_iter it = opt_start(logits_options, argc, argv, 2);
    for (int id; (id = opt_next(&it, &v)) != OPT_END;) {
        switch (id) {
        case T_HELP: help_exit(logits_options);
        case T_MODEL: model = v; break;
        case T_IDS: ids_arg = v; break;
        case T_OUT: out = v; break;
        case T_DECODE: decode = true; break;
        case T_THREADS: threads = (int)parse_int(it.name, v, 1, 1024); break;
        case T_CTK: tk = parse_kv_type(it.name, v); break;
        case T_CTV: tv = parse_kv_type(it.name, v); break;
        default: die_usage("unexpected argument '%s'", v);
        }
    }
    if (!ids_arg || !out) die_usage("'gemma logits' needs -m FILE --ids 1,2,3 -o OUT.f32");
    int n = 0, cap = 64;
    int32_t *ids = xmalloc((size_t)cap * sizeof(int32_t));
    for (const char *s = ids_arg; *s;) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX) die_usage("invalid token id list '%s'", ids_arg);
        if (n == cap) ids = xrealloc(ids, (size_t)(cap *= 2) * sizeof(int32_t));
        ids[n++] = (int32_t)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) die_usage("invalid token id list '%s'", ids_arg);
    }
    if (n == 0) die_usage("--ids is empty");
    gemma_model *m = load_or_die(model, false);
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    char err[GEMMA_ERR_LEN];
    gemma_context_params cp = {.n_ctx = n, .n_threads = threads, .n_batch = decode ? 1 : n, .type_k = tk, .type_v = tv};
    gemma_context *c = gemma_context_new(m, &cp, err);
    if (!c) die(EXIT_RUNTIME, "%s", err);
    size_t V = (size_t)info.n_vocab;
    float *logits = malloc((size_t)n * V * sizeof(float));
    if (!logits) die(EXIT_RUNTIME, "out of memory for %d x %zu logits", n, V);
    int rc = 0;
    if (decode)
        for (int i = 0; i < n && rc == 0; i++) rc = gemma_eval(c, &ids[i], 1, logits + (size_t)i * V, false, err);
    else
        rc = gemma_eval(c, ids, n, logits, true, err);
    if (rc) die(EXIT_RUNTIME, "%s", err);
    write_floats(out, logits, (size_t)n * V);
    free(logits);
    free(ids);
    gemma_context_free(c);
    gemma_model_free(m);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL, *v;
    bool bos = true, special = true;
    opt_iter it = opt_start(tokenize_options, argc, argv, 2);
    for (int id; (id = opt_next(&it, &v)) != OPT_END;) {
        switch (id) {
        case T_HELP: help_exit(tokenize_options);
        case T_MODEL: model = v; break;
        case T_PROMPT: prompt = v; break;
        case T_FILE: file = v; break;
        case T_NO_BOS: bos = false; break;
        case T_NO_SPECIAL: special = false; break;
        default: die_usage("unexpected argument '%s'", v);
        }
    }
    if (!prompt == !file) die_usage("'gemma tokenize' needs -m FILE and exactly one of -p TEXT or -f FILE");
    size_t len = 0;
    char *text = file ? read_path(file, &len) : NULL;
    if (prompt) len = strlen(prompt);
    gemma_model *m = load_or_die(model, true);
    int n;
    int32_t *ids = gemma_tokenize(m, text ? text : prompt, len, bos, special, &n);
    char num[16];
    for (int i = 0; i < n; i++) {
        int k = snprintf(num, sizeof num, i ? " %d" : "%d", ids[i]);
        out_write(num, (size_t)k);
    }
    out_write("\n", 1);
    out_flush();
    free(ids);
    free(text);
    gemma_model_free(m);
    return 0;
}

int cmd_dequant(int argc, char **argv) {
    const char *model = NULL, *name = NULL, *out = NULL, *v;
    opt_iter it = opt_start(dequant_options, argc, argv, 2);
    for (int id; (id = opt_next(&it, &v)) != OPT_END;) {
        switch (id) {
        case T_HELP: help_exit(dequant_options);
        case T_MODEL: model = v; break;
        case T_TENSOR: name = v; break;
        case T_OUT: out = v; break;
        default: die_usage("unexpected argument '%s'", v);
        }
    }
    if (!model || !name || !out) die_usage("'gemma dequant' needs -m FILE --tensor NAME -o OUT.f32");
    char err[GEMMA_ERR_LEN];
    size_t n = 0;
    float *values = gemma_dequant_tensor(model, name, &n, err);
    if (!values) die(EXIT_MODEL, "%s", err);
    write_floats(out, values, n);
    free(values);
    return 0;
}

