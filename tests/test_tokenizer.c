/* test_tokenizer.c - the SPM (Gemma 3) and BPE (Gemma 4) tokenizers against llama.cpp's own
 * output (tests/fixtures/tokenizer), then round trips, flags, EOG ids, special-token
 * splitting against a literal transcription of llama.cpp's algorithm, hostile input, and
 * small synthetic vocabularies for the paths the real ones do not take. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"
#include "util.h"

#define SPACE_MARK "\xE2\x96\x81" /* U+2581, SentencePiece's space */
#define CASE_SEP "\n__ggml_vocab_test__\n"

/* ---- helpers ------------------------------------------------------------------------- */

typedef struct {
    const char *ptr;
    size_t len;
} slice;

/* Split buf at every occurrence of sep into a malloc'd array; returns the count. */
static size_t split_at(const char *buf, size_t len, const char *sep, slice **out) {
    size_t n_sep = strlen(sep), n = 0, cap = 16, start = 0;
    *out = xmalloc(cap * sizeof(slice));
    for (size_t i = 0; i + n_sep <= len;) {
        if (memcmp(buf + i, sep, n_sep) != 0) {
            i++;
            continue;
        }
        if (n == cap) *out = xrealloc(*out, (cap *= 2) * sizeof(slice));
        (*out)[n++] = (slice){buf + start, i - start};
        i += n_sep;
        start = i;
    }
    if (n == cap) *out = xrealloc(*out, (cap += 1) * sizeof(slice));
    (*out)[n++] = (slice){buf + start, len - start};
    return n;
}

/* Read tokenizer/<name>.inp and split it into test strings the way llama.cpp's
 * test-tokenizer-0 does: at every "\n__ggml_vocab_test__\n" (the file does not end with
 * one, and the last string has no trailing newline). Returns the buffer (free it). */
static char *read_cases(const char *name, slice **cases, size_t *n_cases) {
    char rel[128];
    size_t len;
    snprintf(rel, sizeof rel, "tokenizer/%s.inp", name);
    char *buf = read_file(fixture_path(rel), &len);
    *n_cases = buf ? split_at(buf, len, CASE_SEP, cases) : 0;
    return buf;
}

/* Parse "1 2 3" into ids; returns the count. */
static int parse_ids(slice line, int32_t *ids, int max) {
    int n = 0;
    const char *p = line.ptr, *end = line.ptr + line.len;
    while (p < end && n < max) {
        while (p < end && *p == ' ') p++;
        if (p >= end) break;
        long v = 0;
        while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
        ids[n++] = (int32_t)v;
        while (p < end && *p != ' ') p++;
    }
    return n;
}

static void format_ids(char *buf, size_t cap, const int32_t *ids, int n) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at + 16 < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%d ", ids[i]);
    if (at + 16 >= cap) snprintf(buf + at, cap - at, "...");
}

static bool valid_utf8(const char *s, size_t n) {
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len = c < 0x80 ? 1 : c >> 5 == 6 ? 2 : c >> 4 == 14 ? 3 : c >> 3 == 30 ? 4 : 0;
        if (len == 0 || i + len > n) return false;
        uint32_t cp = c & (0xFFu >> (len == 1 ? 1 : len + 1));
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (u[i + k] & 0x3F);
        }
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static bool has_space_mark(const char *s, size_t n) {
    for (size_t i = 0; i + 3 <= n; i++)
        if (memcmp(s + i, SPACE_MARK, 3) == 0) return true;
    return false;
}

/* Concatenate the pieces of ids into a malloc'd buffer. */
static char *detokenize(const tokenizer *t, const int32_t *ids, int n, size_t *out_len) {
    size_t len = 0, cap = 64;
    char *out = xmalloc(cap);
    for (int i = 0; i < n; i++) {
        size_t need = tokenizer_piece(t, ids[i], NULL, 0);
        while (len + need > cap) out = xrealloc(out, cap *= 2);
        len += tokenizer_piece(t, ids[i], out + len, need);
    }
    *out_len = len;
    return out;
}

static int32_t *encode_str(const tokenizer *t, const char *s, bool add_bos, bool special,
                           int *n) {
    return tokenizer_encode(t, s, strlen(s), add_bos, special, n);
}

/* Does text encode to exactly want[0..n_want)? Prints what it got if not. */
static bool encodes_to(const tokenizer *t, const char *text, bool add_bos, bool special,
                       const int32_t *want, int n_want) {
    int n;
    int32_t *ids = encode_str(t, text, add_bos, special, &n);
    bool ok = n == n_want && memcmp(ids, want, (size_t)n * sizeof(int32_t)) == 0;
    if (!ok) {
        char got[256];
        format_ids(got, sizeof got, ids, n);
        printf("    '%s' -> %s\n", text, got);
    }
    free(ids);
    return ok;
}
#define IDS(...) \
    (const int32_t[]){__VA_ARGS__}, (int)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

/* splitmix64: reproducible pseudo-random numbers */
static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t put_utf8(char *p, uint32_t cp) {
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (char)(0xC0 | cp >> 6);
        p[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (char)(0xE0 | cp >> 12);
        p[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        p[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | cp >> 18);
    p[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    p[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    p[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- fixtures ------------------------------------------------------------------------ */

static tokenizer *load_vocab(const char *name, gguf_file **gf) {
    char rel[128], err[GEMMA_ERR_LEN] = "";
    snprintf(rel, sizeof rel, "tokenizer/%s.gguf", name);
    double t0 = now_seconds();
    *gf = gguf_open(fixture_path(rel), err);
    double t1 = now_seconds();
    tokenizer *t = *gf ? tokenizer_load(*gf, err) : NULL;
    double t2 = now_seconds();
    TEST_BEGIN("tokenizer: load %s: tokenizer_load %.1f ms (+ gguf_open %.1f ms)", name,
               (t2 - t1) * 1e3, (t1 - t0) * 1e3);
    EXPECT(t != NULL, "%s", err);
    /* The work, not the time (which a loaded machine stretches): table slots probed per
     * entry, about 1.5 at a load factor of 1/2; a hash that collides gives thousands. */
    if (t) {
        double entries = tokenizer_n_vocab(t) + tokenizer_n_merges(t);
        double per_entry = (double)tokenizer_load_steps(t) / entries;
        EXPECT(per_entry <= 4, "%.1f table probes per entry (about 1.5 expected)", per_entry);
    }
    TEST_END();
    return t;
}

/* One case per fixture string: ids must equal llama.cpp's line (no BOS). */
static void check_fixture(const tokenizer *t, const char *name, bool parse_special) {
    slice *cases = NULL, *lines = NULL;
    size_t n_cases, n_out = 0;
    char *inp = read_cases(name, &cases, &n_cases);
    char rel[128];
    snprintf(rel, sizeof rel, "tokenizer/%s.out", name);
    char *out = read_file(fixture_path(rel), &n_out);
    if (out && n_out > 0 && out[n_out - 1] == '\n') n_out--; /* last line's newline */
    size_t n_lines = out ? split_at(out, n_out, "\n", &lines) : 0;

    TEST_BEGIN("tokenizer: %s.inp has %zu strings, .out %zu lines", name, n_cases, n_lines);
    EXPECT(inp && out, "cannot read %s.inp / .out", name);
    EXPECT(n_cases == n_lines && n_cases > 0, "counts differ");
    TEST_END();

    int32_t *want = xmalloc((n_out + 1) * sizeof(int32_t));
    for (size_t i = 0; i < n_cases && i < n_lines; i++) {
        TEST_BEGIN("tokenizer: %s #%zu (%zu bytes)", name, i, cases[i].len);
        int n_want = parse_ids(lines[i], want, (int)n_out + 1), n_got;
        int32_t *got = tokenizer_encode(t, cases[i].ptr, cases[i].len, false, parse_special,
                                        &n_got);
        bool same = n_got == n_want && memcmp(got, want, (size_t)n_got * sizeof(int32_t)) == 0;
        if (!same) {
            char a[600], b[600];
            format_ids(a, sizeof a, want, n_want);
            format_ids(b, sizeof b, got, n_got);
            EXPECT(same, "expected %d ids: %s", n_want, a);
            EXPECT(same, "got      %d ids: %s", n_got, b);
        }
        free(got);
        TEST_END();
    }
    free(want);
    free(cases);
    free(lines);
    free(inp);
    free(out);
}

/* Encode (special tokens not parsed), concatenate the pieces: the input comes back, for
 * every fixture string that is valid UTF-8 without a literal U+2581 (that one prints as a
 * space; invalid UTF-8 becomes U+FFFD in Gemma 4). */
static void check_round_trip(const tokenizer *t, const char *name) {
    slice *cases = NULL;
    size_t n_cases, n_checked = 0;
    char *inp = read_cases(name, &cases, &n_cases);
    TEST_BEGIN("tokenizer: %s round trip (encode, concatenate pieces)", name);
    EXPECT(inp != NULL, "cannot read %s.inp", name);
    for (size_t i = 0; i < n_cases; i++) {
        slice c = cases[i];
        if (!valid_utf8(c.ptr, c.len) || has_space_mark(c.ptr, c.len)) continue;
        int n;
        size_t len;
        int32_t *ids = tokenizer_encode(t, c.ptr, c.len, false, false, &n);
        char *back = detokenize(t, ids, n, &len);
        EXPECT(len == c.len && memcmp(back, c.ptr, len) == 0,
               "string #%zu does not come back (%zu bytes, got %zu)", i, c.len, len);
        n_checked++;
        free(back);
        free(ids);
    }
    EXPECT(n_checked > n_cases / 2, "only %zu of %zu strings checked", n_checked, n_cases);
    TEST_END();
    free(cases);
    free(inp);
}

/* ---- behaviours of the real vocabularies --------------------------------------------- */

static void check_flags_and_eog(const tokenizer *t, const char *name, bool gemma4) {
    TEST_BEGIN("tokenizer: %s empty input", name);
    int n = -1;
    int32_t *ids = tokenizer_encode(t, "", 0, false, false, &n);
    EXPECT(ids != NULL && n == 0, "n = %d", n);
    free(ids);
    ids = tokenizer_encode(t, NULL, 0, true, true, &n);
    EXPECT(ids != NULL && n == 1 && ids[0] == 2, "with add_bos: n = %d", n);
    free(ids);
    TEST_END();

    TEST_BEGIN("tokenizer: %s add_bos prepends <bos>", name);
    EXPECT(tokenizer_add_bos(t) && tokenizer_bos(t) == 2, "add_bos %d, bos %d",
           tokenizer_add_bos(t), tokenizer_bos(t));
    int n1, n2;
    int32_t *plain = encode_str(t, "Hello world", false, false, &n1);
    int32_t *bos = encode_str(t, "Hello world", true, false, &n2);
    EXPECT(n2 == n1 + 1 && bos[0] == 2 &&
           memcmp(bos + 1, plain, (size_t)n1 * sizeof(int32_t)) == 0,
           "n1 = %d n2 = %d first = %d", n1, n2, n2 ? bos[0] : -1);
    free(plain);
    free(bos);
    /* a rendered template's literal <bos> plus add_bos gives two (llama.cpp only warns) */
    bos = encode_str(t, "<bos>hi", true, true, &n2);
    EXPECT(n2 >= 2 && bos[0] == 2 && bos[1] == 2, "n = %d", n2);
    free(bos);
    TEST_END();

    TEST_BEGIN("tokenizer: %s end-of-generation tokens and load-time types", name);
    EXPECT(tokenizer_eos(t) == (gemma4 ? 1 : 106), "eos = %d", tokenizer_eos(t));
    EXPECT(tokenizer_is_eog(t, 1), "<eos> (1)");
    EXPECT(tokenizer_is_eog(t, 106), "106 (%s)", gemma4 ? "<turn|>" : "<end_of_turn>");
    EXPECT(!tokenizer_is_eog(t, 2) && !tokenizer_is_eog(t, 0) && !tokenizer_is_eog(t, 105),
           "<bos>, <pad>, start of turn are not EOG");
    EXPECT(!tokenizer_is_eog(t, -1) && !tokenizer_is_eog(t, 1 << 30), "out of range ids");
    EXPECT(tokenizer_type(t, 105) == TOKEN_CONTROL, "start of turn is CONTROL");
    if (gemma4) {
        EXPECT(tokenizer_is_eog(t, 50), "<|tool_response> (50)");
        EXPECT(tokenizer_type(t, 50) == TOKEN_CONTROL, "<|tool_response> promoted to CONTROL");
        EXPECT(!tokenizer_is_eog(t, 212) && tokenizer_type(t, 212) == TOKEN_NORMAL,
               "</s> (212) is an ordinary HTML token in Gemma 4");
        EXPECT(!tokenizer_is_eog(t, 48) && tokenizer_type(t, 48) == TOKEN_USER_DEFINED,
               "<|tool_call> stays USER_DEFINED");
    } else {
        /* llama.cpp's EOG text list has </s>; without <|tool_response> it stays there */
        EXPECT(tokenizer_is_eog(t, 212) && tokenizer_type(t, 212) == TOKEN_CONTROL,
               "</s> (212) is EOG and CONTROL in an SPM vocabulary");
    }
    TEST_END();

    TEST_BEGIN("tokenizer: %s pieces", name);
    char buf[64];
    size_t len = tokenizer_piece(t, 236743, buf, sizeof buf);
    EXPECT(len == 1 && buf[0] == ' ', "\"" SPACE_MARK "\" prints as one space (len %zu)", len);
    int32_t byte_a = tokenizer_find(t, "<0x41>", 6);
    EXPECT(byte_a == 238 + 0x41, "<0x41> = %d", byte_a);
    len = tokenizer_piece(t, byte_a, buf, sizeof buf);
    EXPECT(len == 1 && buf[0] == 'A', "byte token prints its byte");
    EXPECT(tokenizer_piece(t, 105, buf, sizeof buf) == 0, "CONTROL prints nothing");
    EXPECT(tokenizer_piece(t, 1, buf, sizeof buf) == 0, "<eos> prints nothing");
    len = tokenizer_piece(t, 168, buf, sizeof buf);
    EXPECT(len == 7 && memcmp(buf, "<table>", 7) == 0, "<table> prints as text");
    int32_t hello = tokenizer_find(t, SPACE_MARK "Hello", 8);
    EXPECT(hello == 26352, "\"" SPACE_MARK "Hello\" = %d", hello);
    len = tokenizer_piece(t, hello, buf, 3);
    EXPECT(len == 6 && memcmp(buf, " He", 3) == 0, "truncated piece, full length (%zu)", len);
    EXPECT(tokenizer_piece(t, -1, buf, 4) == 0 && tokenizer_piece(t, 1 << 30, buf, 4) == 0,
           "out of range ids print nothing");
    size_t tl;
    const char *tx = tokenizer_text(t, 105, &tl);
    EXPECT(tx && tl == (gemma4 ? 7u : 15u), "text of 105");
    EXPECT(tokenizer_text(t, -5, &tl) == NULL && tl == 0, "text of an invalid id");
    EXPECT(tokenizer_find(t, "no such token at all", 20) == -1, "find of an absent text");
    EXPECT(tokenizer_n_vocab(t) == 262144, "n_vocab = %d", tokenizer_n_vocab(t));
    TEST_END();
}

static void check_special_tokens(const tokenizer *t3, const tokenizer *t4) {
    TEST_BEGIN("tokenizer: USER_DEFINED split always, CONTROL only with parse_special");
    EXPECT(encodes_to(t4, "<|tool_call>", false, false, IDS(48)), "gemma-4 <|tool_call>");
    EXPECT(encodes_to(t4, "<|turn>", false, true, IDS(105)), "gemma-4 <|turn>, special");
    int n;
    int32_t *ids = encode_str(t4, "<|turn>", false, false, &n);
    EXPECT(n > 1, "gemma-4 <|turn> without parse_special is text: n = %d", n);
    free(ids);
    ids = encode_str(t4, "<|tool_response>", false, false, &n);
    EXPECT(n > 1, "gemma-4 <|tool_response> (EOG, so CONTROL) is text: n = %d", n);
    free(ids);
    EXPECT(encodes_to(t3, "a  b", false, false, IDS(236746, 138, 236763)),
           "gemma-3 two spaces are the USER_DEFINED token 138");
    EXPECT(encodes_to(t3, "</s>", false, true, IDS(212)), "gemma-3 </s> is CONTROL");
    TEST_END();

    /* doc/tokenizer.md#worked-example: a Gemma 4 chat prompt, parse_special on, BOS added */
    TEST_BEGIN("tokenizer: gemma-4 chat prompt worked example");
    EXPECT(encodes_to(t4, "<|turn>user\nHello<turn|>\n<|turn>model\n<|channel>thought\n<channel|>",
                      true, true,
                      IDS(2, 105, 2364, 107, 9259, 106, 107, 105, 4368, 107, 100, 45518, 107, 101)),
           "ids differ");
    TEST_END();
}

/* llama.cpp's special-token partition written out literally (each special token in turn,
 * longest first, cutting every occurrence out of the still-unsplit text), each remaining
 * piece then encoded on its own: must equal encoding the whole string. */
typedef struct {
    int32_t id;
    size_t len;
} special_ref;

static int cmp_special_ref(const void *a, const void *b) {
    const special_ref *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

#define SPLIT_TEXT 400

static bool split_matches_literal(const tokenizer *t, const special_ref *sp, int n_sp,
                                  const char *text, size_t n, bool special) {
    int32_t owner[SPLIT_TEXT + 64]; /* -1: text; >= 0: inside that token; <= -2: starts it */
    for (size_t i = 0; i < n; i++) owner[i] = -1;
    for (int s = 0; s < n_sp; s++) {
        size_t len;
        const char *tx = tokenizer_text(t, sp[s].id, &len);
        for (size_t i = 0; i + len <= n; i++) {
            bool free_run = true;
            for (size_t k = 0; k < len && free_run; k++) free_run = owner[i + k] == -1;
            if (!free_run || memcmp(text + i, tx, len) != 0) continue;
            for (size_t k = 0; k < len; k++) owner[i + k] = sp[s].id;
            owner[i] = -2 - sp[s].id;
            i += len - 1;
        }
    }
    int32_t want[4 * SPLIT_TEXT];
    int n_want = 0;
    for (size_t i = 0; i < n;) {
        if (owner[i] <= -2) {
            size_t len;
            want[n_want++] = -2 - owner[i];
            tokenizer_text(t, -2 - owner[i], &len);
            i += len;
            continue;
        }
        size_t j = i;
        while (j < n && owner[j] == -1) j++;
        int m;
        int32_t *ids = tokenizer_encode(t, text + i, j - i, false, special, &m);
        for (int k = 0; k < m && n_want < 4 * SPLIT_TEXT; k++) want[n_want++] = ids[k];
        free(ids);
        i = j;
    }
    int n_got;
    int32_t *got = tokenizer_encode(t, text, n, false, special, &n_got);
    /* cppcheck-suppress uninitvar ; memcmp reads want[0..n_got), written above as n_got == n_want */
    bool same = n_got == n_want && (n_got == 0 || memcmp(got, want, (size_t)n_got * sizeof(int32_t)) == 0);
    free(got);
    return same;
}

static void check_split_against_literal(const tokenizer *t, const char *name,
                                        const char *const *parts, int n_parts) {
    int n_vocab = tokenizer_n_vocab(t);
    special_ref *sp = xmalloc((size_t)n_vocab * sizeof(special_ref));
    for (int special = 0; special < 2; special++) {
        int n_sp = 0;
        for (int32_t id = 0; id < n_vocab; id++) {
            int ty = tokenizer_type(t, id);
            size_t len;
            tokenizer_text(t, id, &len);
            bool is_special = ty == TOKEN_USER_DEFINED ||
                              (special && (ty == TOKEN_CONTROL || ty == TOKEN_UNKNOWN));
            if (len > 0 && is_special) sp[n_sp++] = (special_ref){id, len};
        }
        qsort(sp, (size_t)n_sp, sizeof(special_ref), cmp_special_ref);
        TEST_BEGIN("tokenizer: %s special-token splitting = llama.cpp's literal algorithm "
                   "(parse_special %d)", name, special);
        uint64_t seed = 7 + (uint64_t)special;
        for (int round = 0; round < 60; round++) {
            char text[SPLIT_TEXT + 64];
            size_t n = 0;
            while (n < SPLIT_TEXT) { /* parts are shorter than 64 bytes */
                const char *p = parts[next_rand(&seed) % (uint64_t)n_parts];
                memcpy(text + n, p, strlen(p));
                n += strlen(p);
            }
            bool same = split_matches_literal(t, sp, n_sp, text, n, special);
            EXPECT(same, "round %d differs", round);
            if (!same) break;
        }
        TEST_END();
    }
    free(sp);
}

/* ---- hostile and large input --------------------------------------------------------- */

/* How the encoder's work grows with the text, counted rather than timed so that a loaded
 * machine cannot fail it: steps (tokenizer_encode_steps) for the first n bytes over the
 * steps for the first n / 2. Linear or n log n work gives about 2 (2.1 for a heap over 2^17
 * symbols); a quadratic path gives 4. */
static double work_growth(const tokenizer *t, const char *text, size_t n, bool special) {
    uint64_t half = 0, whole = 0;
    int n_ids;
    free(tokenizer_encode_steps(t, text, n / 2, false, special, &n_ids, &half));
    free(tokenizer_encode_steps(t, text, n, false, special, &n_ids, &whole));
    return half ? (double)whole / (double)half : 0;
}
#define MAX_GROWTH 2.6

static void check_hostile(const tokenizer *t, const char *name) {
    size_t n = 1 << 20;
    char *buf = xmalloc(n);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = next_rand(&seed);
        memcpy(buf + i, &r, 8);
    }
    for (int special = 0; special < 2; special++) {
        int n_ids;
        int32_t *ids = tokenizer_encode(t, buf, n, true, special, &n_ids);
        double growth = work_growth(t, buf, n, special);
        TEST_BEGIN("tokenizer: %s 1 MiB of random bytes (parse_special %d): %d ids, %.2fx the "
                   "work of the first half", name, special, n_ids, growth);
        bool in_range = n_ids > 1000;
        for (int i = 0; i < n_ids; i++)
            in_range = in_range && ids[i] >= 0 && ids[i] < tokenizer_n_vocab(t);
        EXPECT(in_range, "ids out of range");
        EXPECT(growth > 1.5 && growth <= MAX_GROWTH, "twice the text took %.2fx the work", growth);
        free(ids);
        TEST_END();
    }

    /* Random valid UTF-8 (no literal U+2581) comes back whole. */
    size_t len = 0;
    while (len + 4 <= n / 4) {
        uint64_t r = next_rand(&seed);
        uint32_t kind = (uint32_t)(r % 100), cp;
        r >>= 8;
        if (kind < 40) cp = (uint32_t)(0x20 + r % 95);
        else if (kind < 50) cp = (uint32_t)" \n\t\r"[r % 4];
        else if (kind < 65) cp = (uint32_t)(0x80 + r % (0x800 - 0x80));
        else if (kind < 90) cp = (uint32_t)(0x800 + r % (0x10000 - 0x800));
        else cp = (uint32_t)(0x10000 + r % (0x110000 - 0x10000));
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0x2581) continue;
        len += put_utf8(buf + len, cp);
    }
    TEST_BEGIN("tokenizer: %s round trip of %zu bytes of random UTF-8", name, len);
    int n_rt;
    size_t back_len;
    int32_t *rt = tokenizer_encode(t, buf, len, false, false, &n_rt);
    char *back = detokenize(t, rt, n_rt, &back_len);
    EXPECT(back_len == len && memcmp(back, buf, len) == 0, "got %zu bytes back", back_len);
    free(back);
    free(rt);
    TEST_END();

    /* Long runs that stress the special-token splitter and the merge loops. */
    static const char *const fills[] = {" ", "\n", "\t", "<", "a", SPACE_MARK,
                                        "<start_of_turn>", "<|turn>"};
    static const char *const shown[] = {"space", "\\n", "\\t", "<", "a", SPACE_MARK,
                                        "<start_of_turn>", "<|turn>"};
    size_t n_fill = n / 4;
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        size_t k = strlen(fills[f]);
        for (size_t i = 0; i + k <= n_fill; i += k) memcpy(buf + i, fills[f], k);
        len = n_fill - n_fill % k;
        int n_ids;
        int32_t *ids = tokenizer_encode(t, buf, len, false, true, &n_ids);
        double growth = work_growth(t, buf, len, true);
        TEST_BEGIN("tokenizer: %s 256 KiB of \"%s\" repeated: %d ids, %.2fx the work of the "
                   "first half", name, shown[f], n_ids, growth);
        EXPECT(n_ids > 0, "no ids");
        EXPECT(growth > 1.5 && growth <= MAX_GROWTH, "twice the text took %.2fx the work", growth);
        back = detokenize(t, ids, n_ids, &back_len);
        if (f < 5) EXPECT(back_len == len && memcmp(back, buf, len) == 0, "round trip failed");
        free(back);
        free(ids);
        TEST_END();
    }
    free(buf);

    TEST_BEGIN("tokenizer: %s NUL bytes and a lone lead byte at the end", name);
    int n_ids;
    int32_t *ids = tokenizer_encode(t, "a\0b\xF0", 4, false, false, &n_ids);
    int32_t nul = tokenizer_find(t, "<0x00>", 6);
    bool found = false;
    for (int i = 0; i < n_ids; i++) found = found || ids[i] == nul;
    EXPECT(n_ids >= 3 && found, "NUL becomes <0x00> (n = %d)", n_ids);
    free(ids);
    TEST_END();
}

/* ---- synthetic vocabularies: a minimal GGUF writer ----------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    uint64_t n_kv;
} gbuf;

static void put(gbuf *b, const void *d, size_t n) {
    while (b->n + n > b->cap) b->p = xrealloc(b->p, b->cap = b->cap ? 2 * b->cap : 256);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u32(gbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(gbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(gbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void gguf_begin(gbuf *b) {
    *b = (gbuf){0};
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0); /* tensors */
    put_u64(b, 0); /* key/values, counted by kv_key */
}
static void kv_key(gbuf *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
    b->n_kv++;
    memcpy(b->p + 16, &b->n_kv, 8);
}
static void kv_str(gbuf *b, const char *key, const char *v) {
    kv_key(b, key, GGUF_STRING);
    put_str(b, v);
}
static void kv_u32(gbuf *b, const char *key, uint32_t v) {
    kv_key(b, key, GGUF_U32);
    put_u32(b, v);
}
static void kv_bool(gbuf *b, const char *key, bool v) {
    uint8_t x = v;
    kv_key(b, key, GGUF_BOOL);
    put(b, &x, 1);
}
static void kv_array(gbuf *b, const char *key, uint32_t type, int n) {
    kv_key(b, key, GGUF_ARRAY);
    put_u32(b, type);
    put_u64(b, (uint64_t)n);
}
static void kv_strs(gbuf *b, const char *key, const char *const *v, int n) {
    kv_array(b, key, GGUF_STRING, n);
    for (int i = 0; i < n; i++) put_str(b, v[i]);
}
static void kv_f32s(gbuf *b, const char *key, const float *v, int n) {
    kv_array(b, key, GGUF_F32, n);
    put(b, v, (size_t)n * 4);
}
static void kv_i32s(gbuf *b, const char *key, const int32_t *v, int n) {
    kv_array(b, key, GGUF_I32, n);
    put(b, v, (size_t)n * 4);
}

static void check_synthetic_spm(void) {
    static const char *const tok[] = {"<unk>", "<s>", "</s>", SPACE_MARK, "a", "b",
                                      SPACE_MARK "\x61", "ab", SPACE_MARK "\x61\x62", "<0x0A>",
                                      "<ctl>", "<usr>", "ba", "<0x0A>"};
    static const float score[] = {0, 0, 0, -1, -1, -1, -2, -3, -4, 0, 0, 0, -3, 0};
    static const int32_t type[] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 6, 3, 4, 1, 6};
    gbuf b;
    gguf_begin(&b);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", tok, 14);
    kv_f32s(&b, "tokenizer.ggml.scores", score, 14);
    kv_i32s(&b, "tokenizer.ggml.token_type", type, 14);
    char err[GEMMA_ERR_LEN] = "";
    gguf_file *f = gguf_open_memory(b.p, b.n, "spm.gguf", err);
    tokenizer *t = f ? tokenizer_load(f, err) : NULL;
    TEST_BEGIN("tokenizer: synthetic SPM vocabulary without optional keys (llama.cpp defaults)");
    EXPECT(t != NULL, "%s", err);
    if (t) {
        EXPECT(tokenizer_add_bos(t) && tokenizer_bos(t) == 1 && tokenizer_eos(t) == 2,
               "defaults: add_bos, bos 1, eos 2");
        EXPECT(tokenizer_is_eog(t, 2) && !tokenizer_is_eog(t, 1), "</s> is EOG");
        /* add_space_prefix defaults to true: "ab" is "▁ab"; ▁a (-2) merges before ab (-3) */
        EXPECT(encodes_to(t, "ab", false, false, IDS(8)), "space prefix, score order");
        EXPECT(encodes_to(t, "ab", true, false, IDS(1, 8)), "with BOS");
        /* "▁bab": ▁b is no token; ba and ab tie at -3: the left pair merges first */
        EXPECT(encodes_to(t, "bab", false, false, IDS(3, 12, 5)), "equal scores: leftmost");
        /* byte fallback; the repeated text <0x0A> means its later id; x has no byte token */
        EXPECT(encodes_to(t, "\nx", false, false, IDS(3, 13)), "byte fallback");
        EXPECT(tokenizer_find(t, "<0x0A>", 6) == 13, "repeated text: later id wins");
        /* the space prefix comes back after a special token */
        EXPECT(encodes_to(t, "<usr>ab", false, false, IDS(11, 8)), "USER_DEFINED, prefix");
        EXPECT(encodes_to(t, "<ctl>", false, true, IDS(10)), "CONTROL with parse_special");
        EXPECT(encodes_to(t, "a<ctl>", false, true, IDS(6, 10)), "CONTROL after text");
        EXPECT(encodes_to(t, "", true, false, IDS(1)), "empty with BOS");
    }
    TEST_END();
    tokenizer_free(t);
    gguf_close(f);
    free(b.p);
}

static void check_synthetic_gemma4(void) {
    static const char *const tok[] = {"<pad>", "<eos>", "<bos>", "a", "b", "c", "ab", "bc",
                                      "abc", "\n", "\n\n", "<0x41>", "</s>", "<|tool_response>",
                                      SPACE_MARK, SPACE_MARK "\x61", "<0xEF>", "<0xBF>", "<0xBD>"};
    static const int32_t type[] = {3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, 1, 4, 1, 1, 6, 6, 6};
    static const char *const merges[] = {"b c", "a b", "a bc", "a b", "nospace", "\n \n",
                                         SPACE_MARK " a", "ab c"};
    gbuf b;
    gguf_begin(&b);
    kv_str(&b, "tokenizer.ggml.model", "gemma4");
    kv_strs(&b, "tokenizer.ggml.tokens", tok, 19);
    kv_i32s(&b, "tokenizer.ggml.token_type", type, 19);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 8);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", 2);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 1);
    kv_bool(&b, "tokenizer.ggml.add_bos_token", false);
    char err[GEMMA_ERR_LEN] = "";
    gguf_file *f = gguf_open_memory(b.p, b.n, "g4.gguf", err);
    tokenizer *t = f ? tokenizer_load(f, err) : NULL;
    TEST_BEGIN("tokenizer: synthetic gemma4 vocabulary (merge ranks, newline runs, overrides)");
    EXPECT(t != NULL, "%s", err);
    if (t) {
        EXPECT(tokenizer_add_bos(t), "add_bos is forced on for gemma4");
        EXPECT(encodes_to(t, "abc", true, false, IDS(2, 8)), "b c (rank 0), then a bc (rank 2)");
        EXPECT(encodes_to(t, "ab", false, false, IDS(6)), "a b");
        EXPECT(encodes_to(t, " a", false, false, IDS(15)), "space becomes U+2581");
        EXPECT(encodes_to(t, "\n\n", false, false, IDS(10)), "newline run that is a token");
        EXPECT(encodes_to(t, "\n\n\n", false, false, IDS(10, 9)), "longer run: merges");
        EXPECT(encodes_to(t, "a\nb", false, false, IDS(3, 9, 4)), "no merge across a newline");
        EXPECT(encodes_to(t, "\xFF" "A", false, false, IDS(16, 17, 18, 11)),
               "invalid byte -> U+FFFD -> its byte tokens");
        EXPECT(encodes_to(t, "xA", false, false, IDS(11)), "bytes without a token are dropped");
        EXPECT(tokenizer_is_eog(t, 13) && tokenizer_is_eog(t, 1) && !tokenizer_is_eog(t, 12),
               "<|tool_response> and <eos> are EOG, </s> is not");
        EXPECT(tokenizer_type(t, 12) == TOKEN_NORMAL && tokenizer_type(t, 13) == TOKEN_CONTROL,
               "</s> NORMAL, <|tool_response> CONTROL");
        int n;
        int32_t *ids = encode_str(t, "</s>", false, true, &n);
        EXPECT(n == 0, "</s> is not special and its characters have no tokens: n = %d", n);
        free(ids);
    }
    TEST_END();
    tokenizer_free(t);
    gguf_close(f);
    free(b.p);
}

static void check_load_errors(void) {
    static const char *const tok[] = {"a", "b"};
    static const float score[] = {0};
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"no model key", "tokenizer.ggml.model"},
        {"unsupported model", "unsupported"},
        {"no tokens", "tokenizer.ggml.tokens"},
        {"short scores", "scores"},
        {"gemma4 without merges", "merges"},
        {"tokens of the wrong type", "tokenizer.ggml.tokens"},
    };
    for (int v = 0; v < (int)(sizeof cases / sizeof cases[0]); v++) {
        gbuf b;
        gguf_begin(&b);
        if (v != 0)
            kv_str(&b, "tokenizer.ggml.model", v == 1 ? "gpt2" : v == 4 ? "gemma4" : "llama");
        if (v == 5) kv_u32(&b, "tokenizer.ggml.tokens", 7);
        else if (v != 2) kv_strs(&b, "tokenizer.ggml.tokens", tok, 2);
        if (v == 3) kv_f32s(&b, "tokenizer.ggml.scores", score, 1);
        char err[GEMMA_ERR_LEN] = "";
        gguf_file *f = gguf_open_memory(b.p, b.n, "bad.gguf", err);
        TEST_BEGIN("tokenizer: load error: %s", cases[v].name);
        EXPECT(f != NULL, "gguf: %s", err);
        tokenizer *t = f ? tokenizer_load(f, err) : NULL;
        EXPECT(t == NULL, "loaded anyway");
        EXPECT(strstr(err, "bad.gguf") && strstr(err, cases[v].want), "message: %s", err);
        TEST_END();
        tokenizer_free(t);
        gguf_close(f);
        free(b.p);
    }
}

/* ---- suite --------------------------------------------------------------------------- */

/* Building blocks for random strings that exercise overlapping and nested special texts. */
static const char *const parts3[] = {"<start_of_turn>", "<end_of_turn>", "<start_of", "turn>",
    "<", ">", " ", "  ", "\n", "\n\n", "\t", "a", "</s>", "<s>", "<table>", "</", "user",
    "<bos>", "<unused12>", "<unused1", "2>", "[multimodal]"};
static const char *const parts4[] = {"<|turn>", "<turn|>", "<|tool_call>", "<tool_call|>", "<|",
    "|>", "<", ">", "|", " ", "\n", "\n\n", "<|tool_response>", "<tool_response|>", "<|\"|>",
    "\"", "</s>", "<bos>", "a", "<|channel>", "<channel|>", "<|image|>", "image"};

void suite_tokenizer(void) {
    gguf_file *g3 = NULL, *g4 = NULL;
    tokenizer *t3 = load_vocab("gemma-3", &g3);
    tokenizer *t4 = load_vocab("gemma-4", &g4);
    if (t3) {
        check_fixture(t3, "gemma-3", false);
        check_fixture(t3, "gemma-3-special", true);
        check_round_trip(t3, "gemma-3");
        check_flags_and_eog(t3, "gemma-3", false);
        check_split_against_literal(t3, "gemma-3", parts3, (int)(sizeof parts3 / sizeof *parts3));
        check_hostile(t3, "gemma-3");
    } else {
        test_skip("tokenizer: gemma-3 cases (vocabulary did not load)");
    }
    if (t4) {
        check_fixture(t4, "gemma-4", false);
        check_fixture(t4, "gemma-4-extra", false);
        check_fixture(t4, "gemma-4-special", true);
        check_round_trip(t4, "gemma-4");
        check_round_trip(t4, "gemma-4-extra");
        check_flags_and_eog(t4, "gemma-4", true);
        check_split_against_literal(t4, "gemma-4", parts4, (int)(sizeof parts4 / sizeof *parts4));
        check_hostile(t4, "gemma-4");
    } else {
        test_skip("tokenizer: gemma-4 cases (vocabulary did not load)");
    }
    if (t3 && t4) check_special_tokens(t3, t4);
    check_synthetic_spm();
    check_synthetic_gemma4();
    check_load_errors();
    tokenizer_free(t3);
    tokenizer_free(t4);
    gguf_close(g3);
    gguf_close(g4);
}
