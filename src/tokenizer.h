/* tokenizer.h - text <-> token ids for Gemma vocabularies.
 *
 * Two algorithms, chosen by `tokenizer.ggml.model`:
 *   "llama"  - SentencePiece-style score-driven merges with byte fallback (Gemma 1/2/3),
 *   "gemma4" - BPE with ranked merges over U+2581-spaced text (Gemma 4).
 * Both first split out special tokens written in the text
 * (doc/tokenizer.md#special-token-splitting) and
 * behave exactly as llama.cpp does (fixtures in tests/fixtures/tokenizer). */
#ifndef GEMMA_TOKENIZER_H
#define GEMMA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

enum token_type {
    TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5, TOKEN_BYTE = 6
};

typedef struct tokenizer tokenizer;

/* Build the tokenizer from a GGUF's tokenizer.* keys (vocabulary-only files work too).
 * Returns NULL with a one-line message (naming f->path) in err on failure.
 * Token texts point into f's mapping: keep f open until tokenizer_free(). */
tokenizer *tokenizer_load(const gguf_file *f, char *err);
void tokenizer_free(tokenizer *t);

/* Tokenize len bytes of text (any bytes; need not be valid UTF-8 or NUL-terminated;
 * texts over 256 MiB are not tokenized: only the BOS, if any, is returned).
 * add_bos: prepend BOS if the vocabulary asks for it (tokenizer.ggml.add_bos_token, forced
 * on for gemma4; EOS is appended too if tokenizer.ggml.add_eos_token, never for Gemma).
 * parse_special: recognise CONTROL token text such as <start_of_turn>
 * (USER_DEFINED tokens are always recognised). Returns a malloc'd array (free()) and its
 * length in *n_out; never NULL (an empty result is a valid 1-byte allocation). */
int32_t *tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                          bool parse_special, int *n_out);
/* The same, adding the work it did to *steps: trie steps, hash-table probes, heap moves,
 * merges and ids written. Tests hold it to O(n log n) in the text's length by counting, so
 * a quadratic path fails them however loaded the machine is. */
int32_t *tokenizer_encode_steps(const tokenizer *t, const char *text, size_t len, bool add_bos,
                                bool parse_special, int *n_out, uint64_t *steps);

/* The bytes a token prints as, the way llama.cpp renders output with special tokens not
 * shown: CONTROL/UNKNOWN -> nothing, BYTE <0xXX> -> that one raw byte, NORMAL -> its text
 * with U+2581 turned into spaces, USER_DEFINED -> its text (UNUSED and untyped tokens print
 * nothing either). Writes at most cap bytes and returns the full length (like snprintf, no
 * NUL added). */
size_t tokenizer_piece(const tokenizer *t, int32_t id, char *buf, size_t cap);
/* The raw text of a token as stored in the vocabulary (for debugging / --verbose-prompt). */
const char *tokenizer_text(const tokenizer *t, int32_t id, size_t *len);

int tokenizer_n_vocab(const tokenizer *t);
int tokenizer_n_merges(const tokenizer *t);               /* gemma4's BPE merges, 0 for SPM */
/* Hash-table slots probed while building the text and merge tables: about 1.5 per entry at
 * their load factor of at most 1/2; a hash that collides makes it grow as entries^2. */
uint64_t tokenizer_load_steps(const tokenizer *t);
int32_t tokenizer_bos(const tokenizer *t);       /* -1 if none */
int32_t tokenizer_eos(const tokenizer *t);
bool tokenizer_add_bos(const tokenizer *t);
bool tokenizer_is_eog(const tokenizer *t, int32_t id);     /* end-of-generation token? */
int tokenizer_type(const tokenizer *t, int32_t id);        /* enum token_type (attrs after load-time fixes) */
/* Find a token id by exact text, -1 if absent. */
int32_t tokenizer_find(const tokenizer *t, const char *text, size_t len);

#endif
