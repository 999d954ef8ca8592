/* fuzz_tokenizer.c - libFuzzer harness: arbitrary bytes through both Gemma tokenizers.
 *
 * The two fixture vocabularies (SPM gemma-3.gguf and BPE gemma-4.gguf, from
 * $GEMMA_FIXTURES/tokenizer or tests/fixtures/tokenizer) are loaded once. Each input is
 * tokenized with parse_special on and off, and every id is turned back into its piece.
 * Checked on every input:
 *   - every id is in [0, n_vocab), and BOS comes first exactly when it was asked for;
 *   - tokenizer_piece() never writes past `cap` and reports the same length for any cap;
 * and, where the algorithm guarantees it:
 *   - SPM, parse_special off, input valid UTF-8 without U+2581: the pieces concatenate back
 *     to the input exactly (spaces become U+2581 and back, everything else is a vocabulary
 *     piece, a user-defined token printed as its own text, or a byte token - the vocabulary
 *     has all 256 - and no space prefix is added for this vocabulary).
 * BPE gets no round-trip check: it rewrites invalid UTF-8 and may drop bytes it has no
 * token for, and CONTROL texts are removed when parse_special is on. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const char *name;
    gguf_file *f;
    tokenizer *t;
    bool spm;
} vocab;

static vocab vocabs[2] = {{"gemma-3.gguf", NULL, NULL, true}, {"gemma-4.gguf", NULL, NULL, false}};

static void load_vocab(vocab *v) {
    const char *dir = getenv("GEMMA_FIXTURES");
    char path[1024], err[GEMMA_ERR_LEN];
    snprintf(path, sizeof path, "%s/tokenizer/%s", dir && *dir ? dir : "tests/fixtures",
             v->name);
    v->f = gguf_open(path, err);
    if (v->f) v->t = tokenizer_load(v->f, err);
    if (!v->t) {
        fprintf(stderr, "fuzz_tokenizer: cannot load the vocabulary: %s\n"
                "(set GEMMA_FIXTURES to the fixtures directory)\n", err);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (int i = 0; i < 2; i++) load_vocab(&vocabs[i]);
    return 0;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t len;
        uint32_t cp, min;
        if (b < 0x80) { i++; continue; }
        else if ((b & 0xE0) == 0xC0) { len = 2; cp = b & 0x1F; min = 0x80; }
        else if ((b & 0xF0) == 0xE0) { len = 3; cp = b & 0x0F; min = 0x800; }
        else if ((b & 0xF8) == 0xF0) { len = 4; cp = b & 0x07; min = 0x10000; }
        else return false;
        if (len > n - i) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static bool contains(const uint8_t *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0) return true;
    return false;
}

static void fail(const vocab *v, bool special, const char *what) {
    fprintf(stderr, "fuzz_tokenizer: %s (parse_special %d): %s\n", v->name, special, what);
    abort();
}

/* Tokenize, check ids, concatenate the pieces; returns the malloc'd text (length *out_n). */
static char *round_trip(const vocab *v, const uint8_t *data, size_t size, bool add_bos,
                        bool special, size_t *out_n) {
    const tokenizer *t = v->t;
    int n = -1;
    int32_t *ids = tokenizer_encode(t, (const char *)data, size, add_bos, special, &n);
    if (!ids || n < 0) fail(v, special, "no result");
    int nv = tokenizer_n_vocab(t);
    bool bos_first = add_bos && tokenizer_add_bos(t) && tokenizer_bos(t) >= 0;
    if (bos_first && (n == 0 || ids[0] != tokenizer_bos(t))) fail(v, special, "BOS missing");
    size_t cap = 64, len = 0;
    char *text = malloc(cap);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= nv) fail(v, special, "id out of range");
        if (i == 0 && bos_first) continue;
        size_t k = tokenizer_piece(t, ids[i], NULL, 0);
        if (len + k + 1 > cap) {
            while (len + k + 1 > cap) cap *= 2;
            text = realloc(text, cap);
        }
        /* exact-size heap buffers: ASan flags a write past cap */
        char *piece = malloc(k ? k : 1);
        if (tokenizer_piece(t, ids[i], piece, k) != k) fail(v, special, "piece length varies");
        if (k > 1) {
            char *part = malloc(k - 1);
            if (tokenizer_piece(t, ids[i], part, k - 1) != k ||
                memcmp(part, piece, k - 1) != 0)
                fail(v, special, "truncated piece differs");
            free(part);
        }
        memcpy(text + len, piece, k);
        len += k;
        free(piece);
    }
    free(ids);
    *out_n = len;
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bool utf8 = valid_utf8(data, size);
    bool has_mark = contains(data, size, "\xe2\x96\x81");
    for (int vi = 0; vi < 2; vi++) {
        const vocab *v = &vocabs[vi];
        for (int special = 0; special < 2; special++) {
            size_t n = 0;
            char *text = round_trip(v, data, size, special == 0, special != 0, &n);
            if (v->spm && !special && utf8 && !has_mark &&
                (n != size || memcmp(text, data, size) != 0)) {
                fprintf(stderr, "fuzz_tokenizer: decoded %zu bytes '%.*s' from %zu input bytes\n",
                        n, (int)(n < 200 ? n : 200), text, size);
                fail(v, false, "SPM round trip changed the text");
            }
            free(text);
        }
    }
    return 0;
}
