/* cli_tools.c - the small subcommands tests and curious users rely on:
 *   gemma logits   -m FILE --ids 2,17,99 -o OUT.f32 [--decode]
 *   gemma tokenize -m FILE (-p TEXT | -f FILE) [--no-bos] [--no-parse-special]
 *   gemma dequant  -m FILE --tensor NAME -o OUT.f32 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Subcommands */

int cmd_logits(int argc, char **argv) {
    const char *model = NULL, *ids_arg = NULL, *out = NULL;
    bool decode = false;
    int threads = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--ids")) ids_arg = arg_value(argc, argv, &i);
        else if (!strcmp(a, "-o")) out = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--decode")) decode = true;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) threads = (int)parse_int(a, arg_value(argc, argv, &i), 1, 1024);
        else die_usage("unknown option '%s' for 'gemma logits'", a);
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
    gemma_context_params cp = {n, threads, decode ? 1 : n};
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
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool bos = true, special = true;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = arg_value(argc, argv, &i);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = arg_value(argc, argv, &i);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) file = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--no-bos")) bos = false;
        else if (!strcmp(a, "--no-parse-special")) special = false;
        else die_usage("unknown option '%s' for 'gemma tokenize'", a);
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
    const char *model = NULL, *name = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--tensor")) name = arg_value(argc, argv, &i);
        else if (!strcmp(a, "-o")) out = arg_value(argc, argv, &i);
        else die_usage("unknown option '%s' for 'gemma dequant'", a);
    }
    if (!model || !name || !out) die_usage("'gemma dequant' needs -m FILE --tensor NAME -o OUT.f32");
    char err[GEMMA_ERR_LEN];
    size_t n = 0;
    float *v = gemma_dequant_tensor(model, name, &n, err);
    if (!v) die(EXIT_MODEL, "%s", err);
    write_floats(out, v, n);
    free(v);
    return 0;
}

