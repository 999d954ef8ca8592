/* grammar.h - GBNF grammars (llama.cpp's syntax, grammars/README.md there) parsed into flat
 * rules that the matcher (grammar_match.h) walks.
 *
 *   root   ::= "{" ws pair ("," ws pair)* "}"     rules: name ::= alternatives, one per line
 *   pair   ::= [a-z]+ ":" ws ( num | "null" )      | alternatives, ( ) groups
 *   num    ::= "-"? [0-9]{1,16}                    * + ? {m} {m,} {m,n} repetitions
 *   ws     ::= | [ \t\n]                           "..." literals, [...] [^...] classes, .
 *   # comments; \xHH \uHHHH \UHHHHHHHH \t \r \n \\ \" \[ \] \- escapes; UTF-8 text as is
 *   call   ::= <|tool_call> !<[50]>* <[50]>        tokens: <text> (one vocabulary token),
 *                                                  <[id]>, and !<...> = any token but that one
 *
 * A rule is stored as its alternatives one after another, each a sequence of elements ending
 * in GE_ALT (or GE_END for the last):
 *
 *   rule r:  elems[start_r ..]  =  seq1 ALT seq2 ALT ... seqN END
 *
 * Groups and repetitions become generated rules, as llama.cpp does it:
 *   S{m,n} -> S ... S (m times) R(n-m),   R(k) ::= S R(k-1) |   (R(1) ::= S |)
 *   S{m,}  -> S ... S (m times) R,        R    ::= S R |
 * so every loop is a right recursion; the matcher never sees a repetition count.
 *
 * Checked when parsing (each an error with line and column, or naming the rule): syntax,
 * undefined rules, rules defined twice, a missing start rule, and left recursion (a rule that
 * can reach itself without consuming input, which would make the matcher loop forever;
 * this includes a repetition of something that can match the empty string). */
#ifndef GEMMA_GRAMMAR_H
#define GEMMA_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest repetition count and grammar size accepted (a larger one is an error rather
 * than, as in llama.cpp, silently unbounded). */
#define GRAMMAR_MAX_REPEAT 100000
#define GRAMMAR_MAX_ELEMS (1u << 22)

typedef enum {
    GE_END,        /* end of the rule's last alternative */
    GE_ALT,        /* end of an alternative, another follows */
    GE_REF,        /* value: rule index */
    GE_CHAR,       /* value: one code point */
    GE_CLASS,      /* value: index into classes */
    GE_ANY,        /* any code point (.) */
    GE_TOKEN,      /* value: index into tokens; matches that vocabulary token */
    GE_TOKEN_NOT,  /* value: index into tokens; matches any other vocabulary token */
} gram_op;

typedef struct { uint8_t op; uint32_t value; } gram_elem;
typedef struct { uint32_t lo, hi; } cp_range;                 /* inclusive */
typedef struct { uint32_t first, n; bool negated; } char_class; /* ranges[first, first+n) */
typedef struct {
    char *text;          /* "<|tool_call>" as written, or NULL for <[id]> */
    int32_t id;          /* the token id; -1 until resolved against a vocabulary */
    int line, col;       /* where it is written */
} gram_token;

typedef struct {
    char *name;          /* as written; generated rules: NULL */
    uint32_t start;      /* first element in elems */
    uint32_t origin;     /* the written rule a generated one belongs to (itself if written) */
} gram_rule;

typedef struct {
    gram_rule *rules;
    uint32_t n_rules, root;
    gram_elem *elems;
    uint32_t n_elems;
    char_class *classes;
    uint32_t n_classes;
    cp_range *ranges;
    uint32_t n_ranges;
    gram_token *tokens;
    uint32_t n_tokens;
} grammar;

/* Parse len bytes of GBNF (NUL-terminated or not); root is the start rule's name (NULL:
 * "root"). Returns NULL with "grammar: line L, column C: what" (or "grammar: rule 'x': what")
 * in err (GEMMA_ERR_LEN bytes). */
grammar *grammar_parse(const char *text, size_t len, const char *root, char *err);
void grammar_free(grammar *g);

/* Token elements written as text (<|tool_call>) get their ids from find(); <[id]> ones are
 * checked against n_vocab. Returns non-zero with a message naming the token otherwise. */
typedef int32_t (*grammar_token_finder)(void *ctx, const char *text, size_t len);
int grammar_resolve_tokens(grammar *g, grammar_token_finder find, void *ctx, int32_t n_vocab,
                           char *err);

/* The user-visible name of rule r (a generated rule: the written rule it came from). */
const char *grammar_rule_name(const grammar *g, uint32_t r);

/* Does code point c match the character element e (GE_CHAR, GE_CLASS or GE_ANY)? */
bool grammar_char_matches(const grammar *g, gram_elem e, uint32_t c);
/* Could some code point in [lo, hi] match e? (For a UTF-8 sequence cut between tokens.) */
bool grammar_char_range_matches(const grammar *g, gram_elem e, uint32_t lo, uint32_t hi);

static inline bool gram_is_end(gram_elem e) { return e.op == GE_END || e.op == GE_ALT; }
static inline bool gram_is_char(gram_elem e) {
    return e.op == GE_CHAR || e.op == GE_CLASS || e.op == GE_ANY;
}

#endif
