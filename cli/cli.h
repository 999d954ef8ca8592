/* cli.h - the pieces of the `gemma` command line: subcommands (one file each) and the
 * helpers they share. Every subcommand takes the whole argv (argv[1] is its name) and
 * returns the process exit code.
 *
 * Exit codes: 0 success (also when the reader of stdout goes away), 1 runtime error,
 * 2 usage error, 3 model file error, 4 I/O error. */
#ifndef GEMMA_CLI_H
#define GEMMA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "gemma.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_MODEL = 3, EXIT_IO = 4 };

/* subcommands */
int cmd_generate(int argc, char **argv);    /* generate.c: gemma -m MODEL -p TEXT */
void print_usage(void);                     /* generate.c: gemma --help */
int cmd_logits(int argc, char **argv);      /* cli_tools.c */
int cmd_tokenize(int argc, char **argv);    /* cli_tools.c */
int cmd_dequant(int argc, char **argv);     /* cli_tools.c */
int cmd_bench(int argc, char **argv);       /* bench.c */
int cmd_info(int argc, char **argv);        /* info.c */
int cmd_quantize(int argc, char **argv);    /* quantize.c */
int cmd_perplexity(int argc, char **argv);  /* perplexity.c */
void print_completion_bash(void);           /* commands.c: gemma --completion-bash */
int run_command(int argc, char **argv);     /* commands.c: the subcommand argv[1] names */

/* ---- messages and exits ---- */
extern bool log_enabled;                    /* --log-disable clears it */
/* The subcommand running ("bench"; NULL: generation), named by usage errors. */
extern const char *cli_command;
void logf_(const char *fmt, ...);           /* stderr, unless logging is disabled */
_Noreturn void die(int code, const char *fmt, ...); /* "gemma: error: ..." and exit(code) */
/* "gemma: error: ... (see 'gemma SUB --help')" and exit(EXIT_USAGE). */
_Noreturn void die_usage(const char *fmt, ...);
/* A warning on stderr when n threads are more than the machine's CPUs (flag: "-t"). */
void warn_threads(const char *flag, int n);

/* ---- stdout: generated text only ----
 * A closed pipe (EPIPE) exits quietly with status 0, or, after out_defer_close(), drops
 * further output and makes out_closed() true, so generation can stop at the next token and
 * still report on stderr. */
void out_write(const char *buf, size_t len);
void out_flush(void);
void out_defer_close(void);
bool out_closed(void);
/* Never print half a UTF-8 character nor an ill-formed one: an incomplete trailing sequence
 * is held back, ill-formed bytes are shown as U+FFFD. */
typedef struct {
    char pend[8];
    int n;
} utf8_stream;
int utf8_check(const unsigned char *s, size_t n);
void stream_put(utf8_stream *s, const char *buf, size_t len);   /* ill-formed bytes -> U+FFFD */
void stream_finish(utf8_stream *s);
/* A malloc'd well-formed copy of in[0..n) (ill-formed subparts -> U+FFFD), NUL-terminated. */
char *utf8_sanitize(const char *in, size_t n, size_t *out_len);

/* ---- arguments and files ---- */
const char *arg_value(int argc, char **argv, int *i);     /* the value after argv[*i] */
long long parse_int(const char *flag, const char *s, long long lo, long long hi);
float parse_float(const char *flag, const char *s, double lo, double hi);
char *read_all(FILE *fp, size_t *len);                    /* NULL on read error */
char *read_path(const char *path, size_t *len);           /* "-" = stdin; dies on error */
/* The same, naming the file as `what` in errors ("system prompt file"). */
char *read_named(const char *path, const char *what, size_t *len);
/* llama.cpp's escapes in place: \n \t \r \\ \" \' (others stay as written); returns s. */
char *unescape(char *s);
gemma_model *load_or_die(const char *path, bool vocab_only);
void write_floats(const char *path, const float *v, size_t n); /* "-" = stdout */

#endif
