/* grammar.c - `gemma grammar`: the grammars of constrained output, without a model.
 *
 *   gemma grammar --json-schema '{"type":"object",...}'   print the GBNF a schema becomes
 *   gemma grammar --json-schema-file schema.json          (same, from a file)
 *   gemma grammar --format json                           the GBNF of any JSON value
 *   gemma grammar --tools tools.json [--tools-required]   the GBNF of Gemma 4 tool calls
 *   gemma grammar --grammar-file my.gbnf                  check a grammar ("ok" or the error)
 *   gemma grammar ... --match out.txt                     does a text match the grammar?
 *
 * For debugging grammars and schemas, and for scripts that want to know before a run. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma.h"

static void usage(FILE *f) {
    fputs("usage: gemma grammar [options]\n"
          "Print or check the GBNF grammars (llama.cpp's syntax) that constrain output.\n"
          "No model is needed.\n"
          "\n"
          "  --json-schema SCHEMA     print the GBNF of a JSON schema (JSON text)\n"
          "  --json-schema-file FILE  the same, the schema read from FILE ('-' = stdin)\n"
          "  --format json            print the GBNF of any JSON value\n"
          "  --tools FILE             print the GBNF of Gemma 4 tool calls to the tools in FILE\n"
          "                           (OpenAI format: [{\"type\":\"function\",\"function\":{...}}])\n"
          "  --tools-required         with --tools: a call right away, no text first\n"
          "  --grammar TEXT           check a GBNF grammar: prints 'ok' or the error\n"
          "  --grammar-file FILE      the same, the grammar read from FILE ('-' = stdin)\n"
          "  --root NAME              the start rule of --grammar / --grammar-file (default root)\n"
          "  --match FILE             instead of printing, say whether FILE's text ('-' = stdin)\n"
          "                           is a sentence of the grammar: 'match', 'prefix' (it could\n"
          "                           go on to one) or 'no match at byte N'\n"
          "  -h, --help               this help\n"
          "\n"
          "examples:\n"
          "  gemma grammar --json-schema '{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}'\n"
          "  gemma grammar --grammar-file list.gbnf --match answer.txt\n"
          "\n"
          "exit codes: 0 ok (or a whole match), 1 invalid grammar / schema / tools or no whole\n"
          "match, 2 usage error, 4 I/O error\n",
          f);
}

static int usage_error(const char *fmt, const char *arg) {
    fputs("gemma: error: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see 'gemma grammar --help')\n", stderr);
    return EXIT_USAGE;
}

/* A whole file ('-': stdin), NUL-terminated; NULL with a message on stderr. */
static char *slurp(const char *what, const char *path, size_t *len) {
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "gemma: error: cannot open %s '%s': %s\n", what, path, strerror(errno));
        return NULL;
    }
    char *text = read_all(fp, len);
    int e = errno;
    if (fp != stdin) fclose(fp);
    if (!text) fprintf(stderr, "gemma: error: reading %s '%s' failed: %s\n", what, path, strerror(e));
    return text;
}

typedef struct {
    const char *schema, *schema_file, *format, *tools_file, *grammar, *grammar_file, *root;
    const char *match_file;
    bool tools_required;
} grammar_args;

/* The GBNF the options ask for (malloc'd), or NULL with the message printed and *rc set. */
static char *make_grammar(const grammar_args *a, int *rc) {
    char err[GEMMA_ERR_LEN] = "";
    char *text = NULL, *input = NULL;
    size_t len = 0;
    *rc = 1;
    if (a->schema || a->schema_file) {
        input = a->schema ? strdup(a->schema) : slurp("schema file", a->schema_file, &len);
        if (!input) { *rc = EXIT_IO; return NULL; }
        text = gemma_json_schema_to_gbnf(input, strlen(input), err);
    } else if (a->format) {
        text = gemma_json_gbnf();
    } else if (a->tools_file) {
        input = slurp("tools file", a->tools_file, &len);
        if (!input) { *rc = EXIT_IO; return NULL; }
        gemma_tools *t = gemma_tools_parse(input, len, err);
        if (t) text = gemma_tools_gbnf(t, a->tools_required, err);
        gemma_tools_free(t);
    } else {
        input = a->grammar ? strdup(a->grammar) : slurp("grammar file", a->grammar_file, &len);
        if (!input) { *rc = EXIT_IO; return NULL; }
        if (gemma_gbnf_check(input, strlen(input), a->root, err) == 0) {
            text = input;
            input = NULL;
        }
    }
    free(input);
    if (!text) fprintf(stderr, "gemma: error: %s\n", err);
    return text;
}

int cmd_grammar(int argc, char **argv) {
    grammar_args a = {0};
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = !strcmp(o, "--json-schema") || !strcmp(o, "-j") ? &a.schema
                          : !strcmp(o, "--json-schema-file") || !strcmp(o, "-jf") ? &a.schema_file
                          : !strcmp(o, "--format") ? &a.format
                          : !strcmp(o, "--tools") ? &a.tools_file
                          : !strcmp(o, "--grammar") ? &a.grammar
                          : !strcmp(o, "--grammar-file") ? &a.grammar_file
                          : !strcmp(o, "--root") ? &a.root
                          : !strcmp(o, "--match") ? &a.match_file : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(o, "--tools-required")) {
            a.tools_required = true;
            continue;
        }
        if (!slot) return usage_error("unknown option '%s' for 'gemma grammar'", o);
        if (i + 1 >= argc) return usage_error("option '%s' needs a value", o);
        *slot = argv[++i];
    }
    int sources = !!a.schema + !!a.schema_file + !!a.format + !!a.tools_file + !!a.grammar +
                  !!a.grammar_file;
    if (sources != 1)
        return usage_error("%s", "give exactly one of --json-schema, --json-schema-file, "
                                 "--format json, --tools, --grammar, --grammar-file");
    if (a.format && strcmp(a.format, "json") != 0)
        return usage_error("unknown --format '%s' (only 'json')", a.format);
    if (a.tools_required && !a.tools_file) return usage_error("%s", "--tools-required needs --tools");
    if (a.root && !a.grammar && !a.grammar_file)
        return usage_error("%s", "--root applies to --grammar and --grammar-file");
    int rc;
    char *text = make_grammar(&a, &rc);
    if (!text) return rc;
    rc = 0;
    if (a.match_file) {
        size_t n = 0, at = 0;
        char *input = slurp("text file", a.match_file, &n);
        char err[GEMMA_ERR_LEN] = "";
        int m = input ? gemma_gbnf_match(text, strlen(text), a.root, input, n, &at, err) : -3;
        if (m == 1) printf("match\n");
        else if (m == 0) printf("prefix\n");
        else if (m == -1) printf("no match at byte %zu\n", at);
        else if (m == -2) fprintf(stderr, "gemma: error: %s\n", err);
        rc = m == 1 ? 0 : m == -3 ? EXIT_IO : 1;
        free(input);
    } else if (a.grammar || a.grammar_file) {
        printf("ok\n");
    } else {
        fputs(text, stdout);
    }
    free(text);
    return rc;
}
