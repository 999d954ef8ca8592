/* grammar_match.h - where a parsed grammar (grammar.h) stands after some output, and which
 * tokens may come next.
 *
 * The state is a set of parse stacks, as in llama.cpp: each stack is the list of grammar
 * positions still to be matched, innermost first, its top always a terminal (a character
 * element or a token element) or the empty stack, which means the text so far is a whole
 * sentence. A code point advances every stack whose top matches it; a stack that cannot
 * take it is dropped; an empty set means the text is not a prefix of any sentence.
 *
 * A UTF-8 sequence may be cut between tokens (byte-fallback tokens print one byte each): the
 * bytes of an unfinished character are kept and the token is allowed if some stack could
 * match some character that starts with them.
 *
 * Tokens (gmatch_vocab) are matched by the text they print. A token that prints nothing
 * (control tokens) is allowed only through a token element (<[id]>, !<[id]>); an
 * end-of-generation token only where the grammar is complete. */
#ifndef GEMMA_GRAMMAR_MATCH_H
#define GEMMA_GRAMMAR_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grammar.h"

typedef struct gmatch gmatch;
typedef struct gmatch_vocab gmatch_vocab;

/* A matcher at the start of g's start rule. g must outlive it. */
gmatch *gmatch_new(const grammar *g);
void gmatch_free(gmatch *m);
void gmatch_reset(gmatch *m);             /* back to the start (and no budget) */

/* ---- text ---- */
/* Feed n bytes of output. Returns false, leaving the state unchanged, if they cannot
 * continue any sentence. */
bool gmatch_accept_text(gmatch *m, const char *s, size_t n);
/* Would these bytes be accepted? (The state is unchanged.) */
bool gmatch_allows_text(gmatch *m, const char *s, size_t n);
/* The output so far is a whole sentence (and ends on a whole character). */
bool gmatch_is_complete(const gmatch *m);
/* Complete, and nothing could follow. */
bool gmatch_is_done(const gmatch *m);
/* Number of live stacks (for tests and statistics). */
int gmatch_n_stacks(const gmatch *m);

/* ---- tokens ---- */
/* The printed text of each token and its kind, indexed for matching: the tokens that print
 * whole characters are kept in a tree of their code points, so the allowed set of a whole
 * vocabulary is found by one walk of that tree. The strings are copied. */
gmatch_vocab *gmatch_vocab_new(int n_vocab, const char *const *pieces, const uint32_t *lens,
                               const bool *is_eog);
void gmatch_vocab_free(gmatch_vocab *v);
int gmatch_vocab_size(const gmatch_vocab *v);

/* Token elements of m's grammar must be resolved (grammar_resolve_tokens) first. */
bool gmatch_allows_token(gmatch *m, const gmatch_vocab *v, int32_t id);
/* Advance by one token; false (state unchanged) if it is not allowed (by the grammar or, if
 * one is set, by the budget). An end-of-generation token leaves a complete state as it is. */
bool gmatch_accept_token(gmatch *m, const gmatch_vocab *v, int32_t id);
/* allowed[id] = 1 for every token gmatch_allows_token() would accept, 0 otherwise; returns
 * how many. */
int gmatch_allowed_tokens(gmatch *m, const gmatch_vocab *v, uint8_t *allowed);

/* A budget of tokens (-1: none, the default): each accepted token spends one, and only tokens
 * after which the output can still be completed within what is left are allowed, so output
 * cut at the budget is still a sentence. This holds when the vocabulary has a token for every
 * byte (every Gemma vocabulary has): the distance to completion counts the bytes of the
 * shortest completion. If even the current state cannot be completed in time, no token is
 * held back. */
void gmatch_set_budget(gmatch *m, int64_t tokens);
int64_t gmatch_budget(const gmatch *m);
/* Tokens the shortest completion needs at most (-1: the grammar cannot be completed). */
int64_t gmatch_distance(gmatch *m);

#endif
