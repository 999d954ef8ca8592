/* options.h - command-line options as a table: one row per option lists its spellings,
 * its value and its help line, so parsing, --help, the bash completion and the "did you
 * mean" hint all read the same rows. A command adds an option by adding a row and a case
 * in its switch over the ids.
 *
 *   static const cli_option opts[] = {
 *       {"input:", NULL, 0, NULL},                        // a heading in --help
 *       {"-m|--model", "FILE", OPT_MODEL, "model file (GGUF)"},
 *       {"--raw|-no-cnv", NULL, OPT_RAW, "plain completion"},
 *       {"--color", "[on|off|auto]", OPT_COLOR, "colours"}, // optional value: one of these words
 *       {0}};
 *   opt_iter it = opt_start(opts, argc, argv, 1);
 *   for (int id; (id = opt_next(&it, &val)) != OPT_END;) switch (id) { ... }
 *
 * Rules (llama.cpp's, plus --name=value): every long option also takes its value as
 * `--name=value`; a switch given a value is an error; an option whose value is optional
 * takes the next argument only when it is one of the listed words. Unknown options are
 * usage errors that name the nearest known spelling (edit distance). */
#ifndef GEMMA_OPTIONS_H
#define GEMMA_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    const char *names; /* spellings separated by '|'; a row whose id is 0 is a heading */
    const char *value; /* the value's name in --help; NULL: a switch; "[a|b]": optional, one of a, b */
    int id;            /* > 0 for options */
    const char *help;  /* one line for --help; NULL: accepted but not listed */
} cli_option;

enum { OPT_END = -1, OPT_ARG = -2 }; /* end of argv; an argument that is not an option */

typedef struct {
    const cli_option *opts; /* ends with a row of zeros */
    int argc;
    char **argv;
    int i;                  /* next argv index */
    char name[64];          /* the spelling of the option just returned (without =value) */
} opt_iter;

opt_iter opt_start(const cli_option *opts, int argc, char **argv, int first);
/* The next option's id with *value set to its value (NULL for a switch or an optional
 * value not given), OPT_ARG with *value = the argument, or OPT_END. Dies with a usage
 * error on an unknown option, a missing value, or a value given to a switch. */
int opt_next(opt_iter *it, const char **value);

/* --help lines: headings as they are, options as "  -m, --model FILE   help" in columns. */
void opt_print_help(FILE *fp, const cli_option *opts);
/* Every spelling, space-separated (for the bash completion). */
void opt_print_names(FILE *fp, const cli_option *opts);

/* Levenshtein distance of a and b (bytes); for suggestions. */
int edit_distance(const char *a, const char *b);

#endif
