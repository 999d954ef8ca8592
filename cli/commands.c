/* commands.c - the subcommands of `gemma`: which one runs, and the bash completion that
 * knows each one's options.
 *
 *   gemma -m MODEL -p TEXT ...     generation and chat (generate.c, chat.c, lineedit.c)
 *   gemma info|bench|quantize|perplexity|logits|tokenize|dequant ...   (one file each)
 *   gemma serve -m MODEL           the OpenAI-compatible server (serve.c and its modules)
 *
 * Every subcommand has --help; its usage errors point to `gemma SUB --help` (cli_command).
 * Subcommands with an option table (options.h) take --name=value themselves; for the others
 * run_command splits such an argument in two before they see it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

extern const cli_option gen_options[], logits_options[], tokenize_options[], dequant_options[], serve_options[];

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const cli_option *opts;  /* its option table, or NULL: */
    const char *flags;       /* its options for the completion */
} subcommand;

static const subcommand subcommands[] = {
    {"info", cmd_info, NULL, "--tensors --json -h --help"},
    {"bench", cmd_bench, NULL,
     "-m --model -p --n-prompt -n --n-gen -pg -r --repetitions -t --threads -b --batch-size "
     "-ub --ubatch-size -ctk --cache-type-k -ctv --cache-type-v -d --n-depth -o --output --membw --no-membw --membw-once "
     "--no-warmup -v --verbose -h --help"},
    {"quantize", cmd_quantize, NULL, "-t --threads --pure --allow-requantize --log-disable -h --help"},
    {"perplexity", cmd_perplexity, NULL,
     "-m --model -f --file -c --ctx-size -b --batch-size -ub --ubatch-size -t --threads -ctk --cache-type-k "
     "-ctv --cache-type-v --chunks --kl-divergence-base --kl-divergence --log-disable -h --help"},
    {"logits", cmd_logits, logits_options, NULL},
    {"tokenize", cmd_tokenize, tokenize_options, NULL},
    {"dequant", cmd_dequant, dequant_options, NULL},
    {"serve", cmd_serve, serve_options, NULL},
    {"grammar", cmd_grammar, NULL,
     "-j --json-schema -jf --json-schema-file --format --tools --tools-required --grammar "
     "--grammar-file --root --match -h --help"},
};
#define N_SUBCOMMANDS (int)(sizeof subcommands / sizeof subcommands[0])

static void print_flags(const subcommand *s) {
    if (s->opts) opt_print_names(stdout, s->opts);
    else printf(" %s", s->flags);
}

static void print_completion_bash(void) {
    printf("# bash completion for gemma: eval \"$(gemma --completion-bash)\" (make install puts it\n"
           "# in share/bash-completion/completions/gemma)\n"
           "_gemma() {\n"
           "  local cur prev sub=\"\" opts i npos=0\n"
           "  cur=\"${COMP_WORDS[COMP_CWORD]}\"; prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
           "  case \"${COMP_WORDS[1]}\" in");
    for (int i = 0; i < N_SUBCOMMANDS; i++) printf("%s%s", i ? "|" : " ", subcommands[i].name);
    printf(") [ $COMP_CWORD -gt 1 ] && sub=\"${COMP_WORDS[1]}\";; esac\n"
           "  case \"$sub:$prev\" in\n"
           "    bench:-o|bench:--output) COMPREPLY=( $(compgen -W 'md json jsonl csv' -- \"$cur\") ); return;;\n"
           "    *:-m|*:--model|*:-f|*:--file|*:-sysf|*:--system-prompt-file|*:-o|*:--kl-divergence-base)\n"
           "      COMPREPLY=( $(compgen -f -- \"$cur\") ); return;;\n"
           "    :--color|:--colour|:-co|:-fa|:--flash-attn) COMPREPLY=( $(compgen -W 'on off auto' -- \"$cur\") ); return;;\n"
           "  esac\n"
           "  if [ $COMP_CWORD -eq 1 ] && [[ \"$cur\" != -* ]]; then\n"
           "    COMPREPLY=( $(compgen -W '");
    for (int i = 0; i < N_SUBCOMMANDS; i++) printf("%s%s", i ? " " : "", subcommands[i].name);
    printf("' -- \"$cur\") ); return\n"
           "  fi\n"
           "  if [ \"$sub\" = quantize ] && [[ \"$cur\" != -* ]]; then  # the third argument is the type\n"
           "    for ((i = 2; i < COMP_CWORD; i++)); do\n"
           "      case \"${COMP_WORDS[i]}\" in -t|--threads) ((i++));; -*) ;; *) ((npos++));; esac\n"
           "    done\n"
           "    if [ $npos -eq 2 ]; then\n"
           "      COMPREPLY=( $(compgen -W 'Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M "
           "Q5_K_S Q5_K_M Q6_K MXFP4_MOE F16 BF16 F32' -- \"$cur\") ); return\n"
           "    fi\n"
           "  fi\n"
           "  case \"$sub\" in\n");
    for (int i = 0; i < N_SUBCOMMANDS; i++) {
        printf("    %s) opts='", subcommands[i].name);
        print_flags(&subcommands[i]);
        printf("';;\n");
    }
    printf("    *) opts='");
    opt_print_names(stdout, gen_options);
    printf("';;\n"
           "  esac\n"
           "  [[ \"$cur\" == -* ]] && COMPREPLY=( $(compgen -W \"$opts\" -- \"$cur\") )\n"
           "}\n"
           "complete -o default -F _gemma gemma\n");
}

/* --name=value as two arguments, for the subcommands that match whole arguments. A value
 * that itself looks like "--x=y" would be split too; none of theirs does. */
typedef struct { char **argv; char *copies; int argc; } split_args;

static split_args split_long_values(int argc, char **argv) {
    split_args sa = {calloc((size_t)(2 * argc + 1), sizeof(char *)), NULL, 0};
    size_t bytes = 0;
    for (int i = 0; i < argc; i++) bytes += strlen(argv[i]) + 1;
    sa.copies = malloc(bytes);
    if (!sa.argv || !sa.copies) die(EXIT_RUNTIME, "out of memory");
    char *w = sa.copies;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i], *eq = strchr(a, '=');
        bool long_opt = i > 1 && a[0] == '-' && a[1] == '-' && eq && eq > a + 2 &&
                        strspn(a + 2, "abcdefghijklmnopqrstuvwxyz0123456789-") == (size_t)(eq - a - 2);
        if (!long_opt) {
            sa.argv[sa.argc++] = a;
            continue;
        }
        size_t n = strlen(a) + 1;
        memcpy(w, a, n);
        w[eq - a] = 0;
        sa.argv[sa.argc++] = w;
        sa.argv[sa.argc++] = w + (eq - a) + 1;
        w += n;
    }
    return sa;
}

int run_command(int argc, char **argv) {
    cli_command = NULL;
    for (int i = 0; argc > 1 && i < N_SUBCOMMANDS; i++) {
        const subcommand *s = &subcommands[i];
        if (strcmp(argv[1], s->name)) continue;
        cli_command = s->name;
        if (s->opts) return s->run(argc, argv);
        split_args sa = split_long_values(argc, argv);
        int rc = s->run(sa.argc, sa.argv);
        free(sa.argv);
        free(sa.copies);
        return rc;
    }
    if (argc < 2) {
        print_usage();
        return EXIT_USAGE;
    }
    /* the generation command's flag (its table lists it for --help): the completion is ours */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--completion-bash")) {
            print_completion_bash();
            return 0;
        }
    }
    return cmd_generate(argc, argv);
}
