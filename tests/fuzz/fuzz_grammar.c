/* fuzz_grammar.c - libFuzzer harness: arbitrary bytes as a GBNF grammar, and a grammar
 * driven by tokens.
 *
 * The input is parsed as a grammar (its first line may be the start rule's name after
 * "#root "). A grammar that parses is then walked for a few steps over a small vocabulary
 * (ASCII pieces, multi-byte characters, lone lead and continuation bytes, a piece that
 * prints nothing, an end-of-generation token), with a token budget. Checked on every step:
 *   - the whole-vocabulary check (gmatch_allowed_tokens) equals asking token by token;
 *   - an allowed token is accepted, and a refused one is refused without changing the state;
 *   - with the budget used up, the output is complete whenever the grammar could be
 *     completed in that many tokens at the start.
 * A failed parse must leave a one-line message starting with "grammar: ". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "grammar_match.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const longer[] = {
    "ab", "true", "null", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "", "<t>", "x\"y", "",
};
#define N_LONGER (int)(sizeof longer / sizeof longer[0])
#define N_PIECES (256 + N_LONGER)             /* the last one ends generation */

static char bytes[256][2];
static const char *pieces[N_PIECES];
static uint32_t lens[N_PIECES];

static gmatch_vocab *vocab;

static void fail(const char *what, int step, int id) {
    fprintf(stderr, "fuzz_grammar: step %d, token %d: %s\n", step, id, what);
    abort();
}

static int32_t find_piece(void *ctx, const char *text, size_t len) {
    (void)ctx;
    for (int i = 0; i < N_PIECES - 1; i++)
        if (lens[i] == len && memcmp(pieces[i], text, len) == 0) return i;
    return 'a';                               /* any other token text: some token */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!vocab) {
        bool eog[N_PIECES] = {false};
        for (int i = 0; i < 256; i++) {
            bytes[i][0] = (char)i;
            pieces[i] = bytes[i];
            lens[i] = 1;
        }
        for (int i = 0; i < N_LONGER; i++) {
            pieces[256 + i] = longer[i];
            lens[256 + i] = (uint32_t)strlen(longer[i]);
        }
        eog[N_PIECES - 1] = true;
        vocab = gmatch_vocab_new(N_PIECES, pieces, lens, eog);
    }
    char root[64] = "root";
    const char *text = (const char *)data;
    size_t len = size;
    if (size > 6 && memcmp(data, "#root ", 6) == 0) {       /* "#root NAME\n" picks the start */
        size_t k = 0;
        while (6 + k < size && data[6 + k] != '\n' && k + 1 < sizeof root) {
            root[k] = (char)data[6 + k];
            k++;
        }
        root[k] = 0;
    }
    char err[GEMMA_ERR_LEN] = "";
    grammar *g = grammar_parse(text, len, root, err);
    if (!g) {
        if (strncmp(err, "grammar: ", 9) != 0 || strchr(err, '\n')) fail("bad error message", 0, -1);
        return 0;
    }
    if (grammar_resolve_tokens(g, find_piece, NULL, N_PIECES, err)) {
        grammar_free(g);
        return 0;
    }
    gmatch *m = gmatch_new(g);
    int budget = 12;
    int64_t start = gmatch_distance(m);
    gmatch_set_budget(m, budget);
    uint8_t allowed[N_PIECES];
    unsigned pick = size ? data[size - 1] : 0;
    int step = 0;
    for (; step < budget; step++) {
        int n = gmatch_allowed_tokens(m, vocab, allowed), count = 0;
        for (int i = 0; i < N_PIECES; i++) {
            bool one = gmatch_allows_token(m, vocab, i);
            if (one != (allowed[i] != 0)) fail("whole-vocabulary and one-by-one checks differ", step, i);
            count += one;
        }
        if (count != n) fail("allowed count", step, -1);
        if (n == 0) break;
        int id = -1;
        for (int k = 0, want = (int)(pick++ % (unsigned)n); k < N_PIECES; k++)
            if (allowed[k] && want-- == 0) id = k;
        for (int k = 0; k < N_PIECES; k++) {               /* a refused token changes nothing */
            if (allowed[k]) continue;
            int before = gmatch_n_stacks(m);
            if (gmatch_accept_token(m, vocab, k)) fail("a refused token was accepted", step, k);
            if (gmatch_n_stacks(m) != before) fail("a refused token changed the state", step, k);
            break;
        }
        if (id == N_PIECES - 1) break;                     /* end of generation */
        if (!gmatch_accept_token(m, vocab, id)) fail("an allowed token was refused", step, id);
    }
    if (step == budget && start >= 0 && start <= budget && !gmatch_is_complete(m))
        fail("budget spent but the output is not complete", step, -1);
    gmatch_free(m);
    grammar_free(g);
    return 0;
}
