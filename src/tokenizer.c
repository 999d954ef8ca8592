/* tokenizer.c - Gemma's two tokenizers, reproducing llama.cpp token for token.
 *
 * Encoding runs in three stages (doc/tokenizer.md):
 *   1. special-token splitting: token texts written in the input become their ids
 *      (doc/tokenizer.md#special-token-splitting);
 *   2. each remaining text fragment goes through the vocabulary's algorithm:
 *      SPM   ("llama", Gemma 1-3): spaces -> U+2581, one symbol per UTF-8 lead byte, then
 *            repeatedly merge the adjacent pair whose concatenation is the best-scoring
 *            token (doc/tokenizer.md#spm);
 *      BPE   ("gemma4"): spaces -> U+2581, UTF-8 cleaned up, split into runs of newlines
 *            and runs of everything else, then repeatedly merge the adjacent pair with
 *            the lowest merge rank (doc/tokenizer.md#gemma-4-bpe);
 *   3. symbols that did not become tokens fall back to byte tokens <0xXX>.
 * Both merge loops keep candidate pairs in a binary heap over a linked list of symbols, so
 * a word of n characters costs O(n log n) whatever the input.
 *
 * Loading builds two hash tables (token text -> id, merge "left right" -> rank) and a trie
 * of special token texts. Token texts and merges are not copied: they point into the GGUF
 * mapping, which must stay open while the tokenizer is used. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

enum vocab_kind { VOCAB_SPM, VOCAB_GEMMA4 };

/* Inputs longer than this are refused (empty result): it keeps every offset and symbol
 * index comfortably inside 32 bits. */
#define MAX_TEXT_LEN ((size_t)256 << 20)
#define MAX_EOG 32

/* ---- hashing and open-addressing tables ---------------------------------------------- */

static uint64_t mix64(uint64_t x) { /* murmur3's finaliser */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL * (n + 1);
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    if (n > 0) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
    }
    return mix64(h);
}

static uint64_t hash_pair(const char *a, size_t na, const char *b, size_t nb) {
    return mix64(hash_bytes(a, na) ^ (hash_bytes(b, nb) * 0xc2b2ae3d27d4eb4fULL + 1));
}

/* A slot holds a value (token id or merge rank; < 0 = empty) and 32 more bits of the key's
 * hash, so most mismatches are rejected without touching the key. */
typedef struct {
    uint32_t tag;
    int32_t val;
} slot;

typedef struct {
    slot *slots;
    uint64_t mask;
} table;

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif
#define PREFETCH_AHEAD 16

static void table_init(table *tb, uint64_t n_keys) {
    uint64_t cap = 16;
    while (cap < 2 * n_keys) cap <<= 1;
    tb->slots = xmalloc(cap * sizeof(slot));
    memset(tb->slots, 0xff, cap * sizeof(slot)); /* val = -1 everywhere */
    tb->mask = cap - 1;
}

/* ---- the tokenizer ------------------------------------------------------------------- */

/* Trie of the texts that special-token splitting looks for. Node 0 is the root. */
typedef struct {
    int32_t n_nodes;
    int32_t *token;       /* per node: token id ending here, or -1 */
    int32_t *shorter;     /* per node: nearest proper ancestor that ends a token, or -1 */
    int32_t *group;       /* per terminal node: index of its length in group_len */
    uint32_t *depth;      /* per node: text length */
    int32_t root_next[256];
    struct { uint64_t key; int32_t child; } *edges; /* (node << 8 | byte) + 1 -> child */
    uint64_t edge_mask;
    uint32_t *group_len;  /* distinct token lengths, longest first */
    int32_t n_groups;
} special_trie;

struct tokenizer {
    enum vocab_kind kind;
    int32_t n_vocab;
    gguf_str *text;          /* token texts, pointing into the mapping */
    float *score;            /* SPM merge priority */
    uint8_t *type;           /* enum token_type after llama.cpp's load-time fixes; 0 = undefined */
    uint64_t max_token_len;
    table vocab;             /* text -> id (a repeated text maps to its later id, like llama.cpp) */

    gguf_str *merge;         /* gemma4: "left right" strings, index = rank */
    uint32_t *merge_left;    /* length of the left part of each merge */
    int32_t n_merges;
    uint64_t max_merge_len;  /* longest left+right */
    table merges;            /* (left, right) -> rank */

    int32_t byte_token[256]; /* byte fallback: <0xXX> (SPM: or the 1-byte token), -1 if none */
    int32_t bos, eos, eot, eom;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_space_prefix;
    int32_t eog[MAX_EOG];
    int n_eog;
    special_trie special[2]; /* [0]: USER_DEFINED only; [1]: with CONTROL/UNKNOWN (parse_special) */
    uint64_t load_steps;     /* hash-table slots probed while loading (tokenizer_load_steps) */
};

static bool text_is(gguf_str s, const char *p, size_t n) {
    return s.len == n && memcmp(s.ptr, p, n) == 0;
}

/* The id of text p[0..n), -1 if none; adds the slots it probed to *steps. */
static int32_t vocab_lookup(const tokenizer *t, const char *p, size_t n, uint64_t *steps) {
    if (n == 0 || n > t->max_token_len) return -1;
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        const slot *e = &t->vocab.slots[i];
        ++*steps;
        if (e->val < 0) return -1;
        if (e->tag == tag && text_is(t->text[e->val], p, n)) return e->val;
    }
}

static int32_t vocab_find(const tokenizer *t, const char *p, size_t n) {
    uint64_t steps = 0;
    return vocab_lookup(t, p, n, &steps);
}

static int32_t vocab_find_str(const tokenizer *t, const char *s) {
    return vocab_find(t, s, strlen(s));
}

static void vocab_insert(tokenizer *t, int32_t id, uint64_t h) {
    gguf_str s = t->text[id];
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        slot *e = &t->vocab.slots[i];
        t->load_steps++;
        if (e->val < 0 || (e->tag == tag && text_is(t->text[e->val], s.ptr, s.len))) {
            e->tag = tag;
            e->val = id;
            return;
        }
    }
}

static bool merge_is(const tokenizer *t, int32_t rank, const char *a, size_t na, const char *b,
                     size_t nb) {
    gguf_str m = t->merge[rank];
    return t->merge_left[rank] == na && m.len == na + 1 + nb && memcmp(m.ptr, a, na) == 0 &&
           memcmp(m.ptr + na + 1, b, nb) == 0;
}

/* Rank of the merge (a, b), -1 if there is none; adds the slots it probed to *steps. */
static int32_t merge_find(const tokenizer *t, const char *a, size_t na, const char *b,
                          size_t nb, uint64_t *steps) {
    if (t->n_merges == 0 || na + nb > t->max_merge_len) return -1;
    uint64_t h = hash_pair(a, na, b, nb);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->merges.mask;; i = (i + 1) & t->merges.mask) {
        const slot *e = &t->merges.slots[i];
        ++*steps;
        if (e->val < 0) return -1;
        if (e->tag == tag && merge_is(t, e->val, a, na, b, nb)) return e->val;
    }
}

/* ---- loading ------------------------------------------------------------------------- */

static int load_kind(tokenizer *t, const gguf_file *f, char *err) {
    gguf_str model;
    int rc = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (rc < 0) return -1;
    if (rc == 0)
        return set_err(err, "%s: no tokenizer.ggml.model key (no vocabulary in the file)",
                       f->path);
    if (gguf_str_eq(model, "llama")) {
        t->kind = VOCAB_SPM;
    } else if (gguf_str_eq(model, "gemma4")) {
        t->kind = VOCAB_GEMMA4;
    } else {
        char q[48];
        return set_err(err, "%s: unsupported tokenizer.ggml.model '%s' (expected 'llama' or "
                       "'gemma4')", f->path, printable_str(q, sizeof q, model.ptr, model.len, 40));
    }
    return 0;
}

/* Token texts, scores and types (missing scores read as 0, missing types as NORMAL). */
static int load_tokens(tokenizer *t, const gguf_file *f, char *err) {
    const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.tokens");
    if (!kv) return set_err(err, "%s: no tokenizer.ggml.tokens key", f->path);
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING)
        return set_err(err, "%s: tokenizer.ggml.tokens is not an array of strings", f->path);
    if (kv->arr_n == 0 || kv->arr_n > INT32_MAX)
        return set_err(err, "%s: tokenizer.ggml.tokens has %llu entries", f->path,
                       (unsigned long long)kv->arr_n);
    int32_t n = (int32_t)kv->arr_n;
    t->n_vocab = n;
    t->text = xmalloc((size_t)n * sizeof(gguf_str));
    if (gguf_arr_strings(f, kv, t->text, err) < 0) return -1;

    t->score = xcalloc((size_t)n, sizeof(float));
    const gguf_kv *sc = gguf_find(f, "tokenizer.ggml.scores");
    if (sc) {
        if (!gguf_arr_is_float(sc) || sc->arr_n < (uint64_t)n)
            return set_err(err, "%s: tokenizer.ggml.scores is not an array of %d floats", f->path,
                           n);
        for (int32_t i = 0; i < n; i++) t->score[i] = (float)gguf_arr_float(sc, (uint64_t)i);
    }

    t->type = xmalloc((size_t)n);
    const gguf_kv *ty = gguf_find(f, "tokenizer.ggml.token_type");
    if (ty && (!gguf_arr_is_int(ty) || ty->arr_n < (uint64_t)n))
        return set_err(err, "%s: tokenizer.ggml.token_type is not an array of %d integers",
                       f->path, n);
    for (int32_t i = 0; i < n; i++) {
        int64_t v = ty ? gguf_arr_int(ty, (uint64_t)i) : TOKEN_NORMAL;
        t->type[i] = (uint8_t)(v >= TOKEN_NORMAL && v <= TOKEN_BYTE ? v : 0);
    }

    /* Empty texts can never match anything, so they stay out of the table. Hashing first
     * lets the insertion loop prefetch slots ahead: the table is larger than the caches and
     * its misses are most of the load time. */
    uint64_t *hash = xmalloc((size_t)n * sizeof(uint64_t));
    for (int32_t i = 0; i < n; i++) {
        hash[i] = hash_bytes(t->text[i].ptr, t->text[i].len);
        if (t->text[i].len > t->max_token_len) t->max_token_len = t->text[i].len;
    }
    table_init(&t->vocab, (uint64_t)n);
    for (int32_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            PREFETCH(&t->vocab.slots[hash[i + PREFETCH_AHEAD] & t->vocab.mask]);
        if (t->text[i].len > 0) vocab_insert(t, i, hash[i]);
    }
    free(hash);
    return 0;
}

/* gemma4 merges: "left right", split at the first space at index >= 1, rank = index. A
 * pair listed twice keeps its first (lowest) rank, as llama.cpp's map emplace does. */
static int load_merges(tokenizer *t, const gguf_file *f, char *err) {
    const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.merges");
    if (!kv) return set_err(err, "%s: gemma4 tokenizer without tokenizer.ggml.merges", f->path);
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING || kv->arr_n > INT32_MAX)
        return set_err(err, "%s: tokenizer.ggml.merges is not an array of strings", f->path);
    int32_t n = (int32_t)kv->arr_n;
    t->n_merges = n;
    t->merge = xmalloc((size_t)n * sizeof(gguf_str) + 1);
    t->merge_left = xmalloc((size_t)n * sizeof(uint32_t) + 1);
    if (gguf_arr_strings(f, kv, t->merge, err) < 0) return -1;
    uint64_t *hash = xmalloc((size_t)n * sizeof(uint64_t) + 1);
    for (int32_t r = 0; r < n; r++) {
        gguf_str m = t->merge[r];
        const char *sp = NULL;
        if (m.len >= 2 && m.len <= UINT32_MAX) sp = memchr(m.ptr + 1, ' ', m.len - 1);
        size_t na = sp ? (size_t)(sp - m.ptr) : 0, nb = sp ? m.len - na - 1 : 0;
        t->merge_left[r] = nb > 0 ? (uint32_t)na : 0; /* 0: no usable split, never matches */
        hash[r] = nb > 0 ? hash_pair(m.ptr, na, sp + 1, nb) : 0;
        if (nb > 0 && na + nb > t->max_merge_len) t->max_merge_len = na + nb;
    }
    table_init(&t->merges, (uint64_t)n);
    for (int32_t r = 0; r < n; r++) {
        if (r + PREFETCH_AHEAD < n)
            PREFETCH(&t->merges.slots[hash[r + PREFETCH_AHEAD] & t->merges.mask]);
        uint32_t na = t->merge_left[r];
        if (na == 0) continue;
        const char *a = t->merge[r].ptr, *b = a + na + 1;
        size_t nb = t->merge[r].len - na - 1;
        uint32_t tag = (uint32_t)(hash[r] >> 32);
        for (uint64_t i = hash[r] & t->merges.mask;; i = (i + 1) & t->merges.mask) {
            slot *e = &t->merges.slots[i];
            t->load_steps++;
            if (e->val < 0) {
                e->tag = tag;
                e->val = r;
                break;
            }
            if (e->tag == tag && merge_is(t, e->val, a, na, b, nb)) break;
        }
    }
    free(hash);
    return 0;
}

/* Special ids and flags. Defaults follow llama.cpp: SPM bos 1, eos 2, add_bos on,
 * add_space_prefix on; gemma4 no ids, and add_bos forced on whatever the file says. */
static int load_flags(tokenizer *t, const gguf_file *f, char *err) {
    bool spm = t->kind == VOCAB_SPM;
    t->bos = spm ? 1 : -1;
    t->eos = spm ? 2 : -1;
    t->eot = t->eom = -1;
    t->fim_pre = t->fim_suf = t->fim_mid = t->fim_pad = t->fim_rep = t->fim_sep = -1;
    const struct { const char *key; int32_t *id; } keys[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},
        {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.eot_token_id", &t->eot},
        {"tokenizer.ggml.eom_token_id", &t->eom},
        {"tokenizer.ggml.fim_pre_token_id", &t->fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &t->fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &t->fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &t->fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &t->fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &t->fim_sep},
        {"tokenizer.ggml.prefix_token_id", &t->fim_pre}, /* deprecated spellings */
        {"tokenizer.ggml.suffix_token_id", &t->fim_suf},
        {"tokenizer.ggml.middle_token_id", &t->fim_mid},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t v;
        int rc = gguf_get_i64(f, keys[i].key, &v, err);
        if (rc < 0) return -1;
        if (rc == 1 && v >= 0 && v < t->n_vocab) *keys[i].id = (int32_t)v; /* else keep default */
    }
    if (t->bos >= t->n_vocab) t->bos = -1; /* a default beyond a tiny vocabulary */
    if (t->eos >= t->n_vocab) t->eos = -1;

    t->add_bos = spm;
    t->add_eos = false;
    t->add_space_prefix = spm;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &t->add_eos, err) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err) < 0)
        return -1;
    if (!spm) {
        t->add_bos = true;            /* llama.cpp forces it for the gemma4 pre-tokenizer */
        t->add_space_prefix = false;  /* not used by its BPE path */
    }
    return 0;
}

/* llama.cpp ORs the CONTROL attribute onto tokens it recognises by text; with one type per
 * token that is "becomes CONTROL", which behaves identically in splitting and printing. */
static void make_control(tokenizer *t, int32_t id) { t->type[id] = TOKEN_CONTROL; }

static void eog_add(tokenizer *t, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    if (t->n_eog < MAX_EOG) t->eog[t->n_eog++] = id;
}

static void eog_remove(tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) {
            t->eog[i] = t->eog[--t->n_eog];
            return;
        }
}

static bool eog_has_text(const tokenizer *t, const char *s, int32_t *id) {
    for (int i = 0; i < t->n_eog; i++)
        if (gguf_str_eq(t->text[t->eog[i]], s)) {
            if (id) *id = t->eog[i];
            return true;
        }
    return false;
}

/* The text lists of llama.cpp's llama_vocab::impl::load (the version with Gemma 4 support).
 * Where several candidates exist llama.cpp takes whichever its hash map yields first; we
 * take the first in list order. No Gemma vocabulary has more than one of any list. */
static const char *const EOT_TEXTS[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
    "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<end_of_utterance>", NULL};
static const char *const EOM_TEXTS[] = {"<|eom_id|>", NULL};
static const char *const FIM_PRE_TEXTS[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
    "<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const FIM_SUF_TEXTS[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
    "<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const FIM_MID_TEXTS[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
    "<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const FIM_PAD_TEXTS[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
    "[PAD]", NULL};
static const char *const FIM_REP_TEXTS[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
    "<REPO>", "<reponame>", NULL};
static const char *const FIM_SEP_TEXTS[] = {"<|file_sep|>", NULL};
static const char *const EOG_TEXTS[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
    "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
    "<turn|>", "<|tool_response>", NULL};

/* Fill an id the metadata did not give from the first listed text in the vocabulary. */
static void detect_by_text(tokenizer *t, int32_t *id, const char *const *texts) {
    if (*id >= 0) return;
    for (; *texts; texts++) {
        int32_t found = vocab_find_str(t, *texts);
        if (found >= 0) {
            *id = found;
            make_control(t, found);
            return;
        }
    }
}

/* Reproduce llama.cpp's load-time attribute fixes and its end-of-generation set. */
static void fix_special_tokens(tokenizer *t) {
    detect_by_text(t, &t->eot, EOT_TEXTS);
    detect_by_text(t, &t->eom, EOM_TEXTS);
    detect_by_text(t, &t->fim_pre, FIM_PRE_TEXTS);
    detect_by_text(t, &t->fim_suf, FIM_SUF_TEXTS);
    detect_by_text(t, &t->fim_mid, FIM_MID_TEXTS);
    detect_by_text(t, &t->fim_pad, FIM_PAD_TEXTS);
    detect_by_text(t, &t->fim_rep, FIM_REP_TEXTS);
    detect_by_text(t, &t->fim_sep, FIM_SEP_TEXTS);

    eog_add(t, t->fim_pad);
    eog_add(t, t->fim_rep);
    eog_add(t, t->fim_sep);
    for (const char *const *s = EOG_TEXTS; *s; s++) {
        int32_t id = vocab_find_str(t, *s);
        if (id < 0) continue;
        eog_add(t, id);
        make_control(t, id);
    }
    eog_add(t, t->eos);
    eog_add(t, t->eot);
    eog_add(t, t->eom);
    /* (llama.cpp's gpt-oss / harmony "<|end|>" fixes are left out: no Gemma vocabulary has
     * those tokens.) */

    /* "workaround for gemma4": </s> is an HTML tag there, not an end of generation; it is
     * dropped from the set and made NORMAL again. */
    int32_t s_id;
    if (eog_has_text(t, "<|tool_response>", NULL) && eog_has_text(t, "</s>", &s_id)) {
        eog_remove(t, s_id);
        t->type[s_id] = TOKEN_NORMAL;
    }
}

static void find_byte_tokens(tokenizer *t) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        int32_t id = vocab_find(t, name, 6);
        if (id < 0 && t->kind == VOCAB_SPM) {
            char c = (char)b;
            id = vocab_find(t, &c, 1);
        }
        t->byte_token[b] = id;
    }
}

/* ---- special-token trie -------------------------------------------------------------- */

static bool is_special(const tokenizer *t, int32_t id, bool with_control) {
    int ty = t->type[id];
    if (t->text[id].len == 0) return false;
    return ty == TOKEN_USER_DEFINED ||
           (with_control && (ty == TOKEN_CONTROL || ty == TOKEN_UNKNOWN));
}

static int32_t trie_child(const special_trie *tr, int32_t node, uint8_t c) {
    if (node == 0) return tr->root_next[c];
    uint64_t key = ((uint64_t)node << 8 | c) + 1;
    for (uint64_t i = mix64(key) & tr->edge_mask;; i = (i + 1) & tr->edge_mask) {
        if (tr->edges[i].key == key) return tr->edges[i].child;
        if (tr->edges[i].key == 0) return -1;
    }
}

static int32_t trie_add_child(special_trie *tr, int32_t node, uint8_t c) {
    int32_t child = tr->n_nodes++;
    tr->token[child] = -1;
    tr->depth[child] = tr->depth[node] + 1;
    if (node == 0) {
        tr->root_next[c] = child;
        return child;
    }
    uint64_t key = ((uint64_t)node << 8 | c) + 1;
    uint64_t i = mix64(key) & tr->edge_mask;
    while (tr->edges[i].key != 0) i = (i + 1) & tr->edge_mask;
    tr->edges[i].key = key;
    tr->edges[i].child = child;
    return child;
}

static int cmp_u32_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void trie_build(special_trie *tr, const tokenizer *t, bool with_control) {
    uint64_t total = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (is_special(t, id, with_control)) total += t->text[id].len;
    /* One node per byte at most; the file's size bounds the total. Past 2^31 nodes (only a
     * hostile file) the texts that do not fit are left out. */
    uint64_t cap_nodes = total + 1;
    if (cap_nodes > INT32_MAX) cap_nodes = INT32_MAX;
    tr->token = xmalloc(cap_nodes * sizeof(int32_t));
    tr->shorter = xmalloc(cap_nodes * sizeof(int32_t));
    tr->group = xmalloc(cap_nodes * sizeof(int32_t));
    tr->depth = xmalloc(cap_nodes * sizeof(uint32_t));
    int32_t *parent = xmalloc(cap_nodes * sizeof(int32_t));
    uint64_t cap_edges = 16;
    while (cap_edges < 2 * cap_nodes) cap_edges <<= 1;
    tr->edges = xcalloc(cap_edges, sizeof(*tr->edges));
    tr->edge_mask = cap_edges - 1;
    for (int c = 0; c < 256; c++) tr->root_next[c] = -1;
    tr->n_nodes = 1;
    tr->token[0] = -1;
    tr->depth[0] = 0;
    parent[0] = -1;

    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!is_special(t, id, with_control)) continue;
        gguf_str s = t->text[id];
        int32_t node = 0;
        for (uint64_t k = 0; k < s.len; k++) {
            uint8_t c = (uint8_t)s.ptr[k];
            int32_t next = trie_child(tr, node, c);
            if (next < 0) {
                if ((uint64_t)tr->n_nodes >= cap_nodes) break;
                next = trie_add_child(tr, node, c);
                parent[next] = node;
            }
            node = next;
        }
        if (tr->depth[node] == s.len) tr->token[node] = id; /* later id wins, like text lookup */
    }

    /* Children are created after their parents, so one forward pass links each node to the
     * nearest shorter token on its path. */
    uint32_t *lens = xmalloc((size_t)tr->n_nodes * sizeof(uint32_t));
    int32_t n_lens = 0;
    tr->shorter[0] = -1;
    for (int32_t v = 1; v < tr->n_nodes; v++) {
        int32_t p = parent[v];
        tr->shorter[v] = tr->token[p] >= 0 ? p : tr->shorter[p];
        if (tr->token[v] >= 0) lens[n_lens++] = tr->depth[v];
    }
    qsort(lens, (size_t)n_lens, sizeof(uint32_t), cmp_u32_desc);
    tr->group_len = xmalloc(((size_t)n_lens + 1) * sizeof(uint32_t));
    tr->n_groups = 0;
    for (int32_t i = 0; i < n_lens; i++)
        if (tr->n_groups == 0 || tr->group_len[tr->n_groups - 1] != lens[i])
            tr->group_len[tr->n_groups++] = lens[i];
    for (int32_t v = 0; v < tr->n_nodes; v++) {
        tr->group[v] = -1;
        if (tr->token[v] < 0) continue;
        int32_t lo = 0, hi = tr->n_groups - 1; /* group_len is descending */
        while (lo < hi) {
            int32_t mid = (lo + hi) / 2;
            if (tr->group_len[mid] > tr->depth[v]) lo = mid + 1;
            else hi = mid;
        }
        tr->group[v] = lo;
    }
    free(lens);
    free(parent);
}

static void trie_free(special_trie *tr) {
    free(tr->token);
    free(tr->shorter);
    free(tr->group);
    free(tr->depth);
    free(tr->edges);
    free(tr->group_len);
}

/* ---- load / free --------------------------------------------------------------------- */

tokenizer *tokenizer_load(const gguf_file *f, char *err) {
    tokenizer *t = xcalloc(1, sizeof *t);
    if (load_kind(t, f, err) < 0 || load_tokens(t, f, err) < 0 ||
        (t->kind == VOCAB_GEMMA4 && load_merges(t, f, err) < 0) || load_flags(t, f, err) < 0) {
        tokenizer_free(t);
        return NULL;
    }
    fix_special_tokens(t);
    find_byte_tokens(t);
    trie_build(&t->special[0], t, false);
    trie_build(&t->special[1], t, true);
    return t;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->score);
    free(t->type);
    free(t->vocab.slots);
    free(t->merge);
    free(t->merge_left);
    free(t->merges.slots);
    trie_free(&t->special[0]);
    trie_free(&t->special[1]);
    free(t);
}

/* ---- special-token splitting (doc/tokenizer.md#special-token-splitting) --------------- */

/* llama.cpp takes the special tokens longest first and, for each, cuts every occurrence out
 * of the still-unsplit text, left to right. Running that literally costs one scan of the
 * text per special token (6000+ for Gemma 3), so instead: find, for every position, the
 * longest special text starting there (trie walk); then process lengths longest first,
 * accepting an occurrence when none of its bytes is already taken, and letting a rejected
 * occurrence fall back to the next shorter special text at the same position. Within one
 * length, tokens are taken in id order (llama.cpp's order there is unspecified). */
typedef struct {
    size_t pos;
    uint32_t len;
    int32_t id;
} span;

typedef struct {
    int32_t id;
    int32_t cand;
    size_t pos;
} occurrence;

static int cmp_occurrence(const void *a, const void *b) {
    const occurrence *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static span *find_specials(const special_trie *tr, const char *s, size_t n, size_t *n_spans,
                           uint64_t *steps) {
    *n_spans = 0;
    if (tr->n_groups == 0 || n == 0) return NULL;

    /* Candidates: positions where some special text starts, with its longest such text. */
    size_t n_cand = 0, cap = 0;
    size_t *cpos = NULL;
    int32_t *cnode = NULL;
    for (size_t p = 0; p < n; p++) {
        int32_t node = tr->root_next[(uint8_t)s[p]], best = -1;
        for (size_t q = p + 1; node >= 0; q++) {
            ++*steps;
            if (tr->token[node] >= 0) best = node;
            if (q >= n) break;
            node = trie_child(tr, node, (uint8_t)s[q]);
        }
        if (best < 0) continue;
        if (n_cand == cap) {
            cap = cap ? 2 * cap : 64;
            cpos = xrealloc(cpos, cap * sizeof(size_t));
            cnode = xrealloc(cnode, cap * sizeof(int32_t));
        }
        cpos[n_cand] = p;
        cnode[n_cand++] = best;
    }
    if (n_cand == 0) return NULL;

    /* One list of candidates per token length (group), walked longest first. */
    int32_t *head = xmalloc((size_t)tr->n_groups * sizeof(int32_t));
    int32_t *link = xmalloc(n_cand * sizeof(int32_t));
    for (int32_t g = 0; g < tr->n_groups; g++) head[g] = -1;
    for (size_t c = 0; c < n_cand; c++) {
        int32_t g = tr->group[cnode[c]];
        link[c] = head[g];
        head[g] = (int32_t)c;
    }
    uint8_t *taken = xcalloc(n, 1);
    occurrence *occ = xmalloc(n_cand * sizeof(occurrence));
    span *out = NULL;
    size_t n_out = 0, cap_out = 0;

    for (int32_t g = 0; g < tr->n_groups; g++) {
        uint32_t len = tr->group_len[g];
        size_t k = 0;
        for (int32_t c = head[g]; c >= 0; c = link[c])
            if (!taken[cpos[c]]) occ[k++] = (occurrence){tr->token[cnode[c]], c, cpos[c]};
        qsort(occ, k, sizeof(occurrence), cmp_occurrence);
        *steps += k;
        for (size_t i = 0; i < k; i++) {
            size_t p = occ[i].pos;
            int32_t c = occ[i].cand;
            if (taken[p]) continue; /* nothing can start here any more */
            /* Every taken stretch is at least len long, so checking both ends suffices. */
            if (!taken[p + len - 1]) {
                memset(taken + p, 1, len);
                if (n_out == cap_out) {
                    cap_out = cap_out ? 2 * cap_out : 16;
                    out = xrealloc(out, cap_out * sizeof(span));
                }
                out[n_out++] = (span){p, len, occ[i].id};
                continue;
            }
            int32_t shorter = tr->shorter[cnode[c]];
            if (shorter >= 0) {
                int32_t g2 = tr->group[shorter];
                cnode[c] = shorter;
                link[c] = head[g2];
                head[g2] = c;
            }
        }
    }
    if (n_out > 1) qsort(out, n_out, sizeof(span), cmp_span); /* out is NULL when n_out == 0 */
    free(cpos);
    free(cnode);
    free(head);
    free(link);
    free(taken);
    free(occ);
    *n_spans = n_out;
    return out;
}

/* ---- the merge machinery shared by SPM and BPE --------------------------------------- */

typedef struct {
    uint32_t start, n;   /* bytes of the work buffer; n = 0 once merged into its left */
    int32_t prev, next;
} symbol;

/* A candidate merge of the symbol at the key's low 32 bits (left) with its right
 * neighbour. The high 32 bits order candidates (SPM: highest score first; BPE: lowest rank
 * first), the low bits break ties towards the leftmost pair, so the heap compares one
 * integer. size detects stale entries. */
typedef struct {
    uint64_t key;
    int32_t right;
    uint32_t size;
} bigram;

static int32_t bigram_left(const bigram *b) { return (int32_t)(uint32_t)b->key; }

/* High key bits for an SPM score: -score mapped to an unsigned integer in the same order. */
static uint32_t spm_priority(float score) {
    float neg = -score;
    uint32_t u;
    if (neg == 0) neg = 0; /* -0 and +0 tie, as they do for llama.cpp */
    memcpy(&u, &neg, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

typedef struct {
    int32_t *ids;
    size_t n_ids, cap_ids;
    char *buf;           /* the fragment after the vocabulary's text transformation */
    size_t cap_buf;
    symbol *sym;
    size_t cap_sym;
    bigram *heap;
    size_t n_heap, cap_heap;
    uint64_t steps;      /* trie steps, hash-table probes, heap moves, merges: the work done */
} encoder;

static void emit(encoder *e, int32_t id) {
    if (e->n_ids == e->cap_ids) {
        e->cap_ids = e->cap_ids ? 2 * e->cap_ids : 64;
        e->ids = xrealloc(e->ids, e->cap_ids * sizeof(int32_t));
    }
    e->ids[e->n_ids++] = id;
}

static bool bigram_before(const bigram *a, const bigram *b) { return a->key < b->key; }

static void heap_push(encoder *e, bigram b) {
    if (e->n_heap == e->cap_heap) {
        e->cap_heap = e->cap_heap ? 2 * e->cap_heap : 64;
        e->heap = xrealloc(e->heap, e->cap_heap * sizeof(bigram));
    }
    size_t i = e->n_heap++;
    e->steps++;
    while (i > 0 && bigram_before(&b, &e->heap[(i - 1) / 2])) {
        e->steps++;
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = b;
}

static bool heap_pop(encoder *e, bigram *top) {
    if (e->n_heap == 0) return false;
    e->steps++;
    *top = e->heap[0];
    bigram last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!bigram_before(&e->heap[c], &last)) break;
        e->steps++;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n > 0) e->heap[i] = last;
    return true;
}

static void reserve_buf(encoder *e, size_t n) {
    if (n > e->cap_buf) {
        e->cap_buf = n;
        free(e->buf);
        e->buf = xmalloc(n);
    }
}

static int utf8_len(uint8_t lead) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[lead >> 4];
}

/* One symbol per character of buf[start, start + n), cut by lead byte (a truncated last
 * character keeps what is there). Returns the number of symbols. */
static int32_t split_chars(encoder *e, size_t start, size_t n) {
    if (n > e->cap_sym) {
        e->cap_sym = n;
        free(e->sym);
        e->sym = xmalloc(n * sizeof(symbol));
    }
    int32_t k = 0;
    e->steps += n;
    for (size_t off = 0; off < n; k++) {
        size_t len = (size_t)utf8_len((uint8_t)e->buf[start + off]);
        if (len > n - off) len = n - off;
        int32_t next = off + len < n ? k + 1 : -1;
        e->sym[k] = (symbol){(uint32_t)(start + off), (uint32_t)len, k - 1, next};
        off += len;
    }
    return k;
}

typedef void (*pair_fn)(const tokenizer *t, encoder *e, int32_t left, int32_t right);

/* Merge the best candidate pair until none is left; try_pair queues new neighbours. */
static void merge_symbols(const tokenizer *t, encoder *e, int32_t n_sym, pair_fn try_pair) {
    e->n_heap = 0;
    for (int32_t i = 1; i < n_sym; i++) try_pair(t, e, i - 1, i);
    bigram b;
    while (heap_pop(e, &b)) {
        int32_t left = bigram_left(&b);
        symbol *l = &e->sym[left], *r = &e->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) e->sym[r->next].prev = left;
        try_pair(t, e, l->prev, left);
        try_pair(t, e, left, l->next);
    }
}

/* Each surviving symbol becomes its token, or else one byte token per byte (bytes without
 * one are dropped: llama.cpp's BPE does the same, its SPM would throw). */
static void emit_symbols(const tokenizer *t, encoder *e, int32_t n_sym) {
    for (int32_t i = n_sym > 0 ? 0 : -1; i >= 0; i = e->sym[i].next) {
        const symbol *s = &e->sym[i];
        int32_t id = vocab_lookup(t, e->buf + s->start, s->n, &e->steps);
        if (id >= 0) {
            emit(e, id);
            continue;
        }
        e->steps += s->n;
        for (uint32_t k = 0; k < s->n; k++) {
            int32_t b = t->byte_token[(uint8_t)e->buf[s->start + k]];
            if (b >= 0) emit(e, b);
        }
    }
}

static size_t put_space_mark(char *p) { /* U+2581 LOWER ONE EIGHTH BLOCK */
    p[0] = (char)0xE2;
    p[1] = (char)0x96;
    p[2] = (char)0x81;
    return 3;
}

/* ---- SPM (doc/tokenizer.md#spm) -------------------------------------------------------- */

static void spm_try_pair(const tokenizer *t, encoder *e, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const symbol *a = &e->sym[left], *b = &e->sym[right];
    uint32_t size = a->n + b->n;
    int32_t id = vocab_lookup(t, e->buf + a->start, size, &e->steps);
    if (id < 0) return;
    uint64_t key = (uint64_t)spm_priority(t->score[id]) << 32 | (uint32_t)left;
    heap_push(e, (bigram){key, right, size});
}

static void spm_fragment(const tokenizer *t, encoder *e, const char *s, size_t n,
                         bool space_prefix) {
    reserve_buf(e, 3 * n + 3);
    size_t m = space_prefix ? put_space_mark(e->buf) : 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') m += put_space_mark(e->buf + m);
        else e->buf[m++] = s[i];
    }
    int32_t n_sym = split_chars(e, 0, m);
    merge_symbols(t, e, n_sym, spm_try_pair);
    emit_symbols(t, e, n_sym);
}

/* ---- Gemma 4 BPE (doc/tokenizer.md#gemma-4-bpe) ---------------------------------------- */

/* llama.cpp decodes the text into code points (an invalid byte becomes U+FFFD and decoding
 * resumes at the next byte; overlong forms and surrogates decode as they stand) and
 * re-encodes them, after the raw spaces were turned into U+2581. Writes at most 3n bytes. */
static size_t clean_utf8(const char *src, size_t n, char *dst) {
    const uint8_t *s = (const uint8_t *)src;
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        uint32_t cp = 0xFFFD;
        size_t len = 1;
        if (b < 0x80) {
            if (b == ' ') {
                m += put_space_mark(dst + m);
                i++;
                continue;
            }
            cp = b;
        } else if ((b & 0x40) == 0) {
            /* stray continuation byte: invalid */
        } else if ((b & 0x20) == 0) {
            if (i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
                cp = (uint32_t)(b & 0x1F) << 6 | (s[i + 1] & 0x3F);
                len = 2;
            }
        } else if ((b & 0x10) == 0) {
            if (i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
                cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 |
                     (s[i + 2] & 0x3F);
                len = 3;
            }
        } else if ((b & 0x08) == 0) {
            if (i + 3 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
                (s[i + 3] & 0xC0) == 0x80) {
                cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 |
                     (uint32_t)(s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
                len = 4;
            }
        }
        /* Above U+10FFFF llama.cpp's re-encoder throws; we use U+FFFD. */
        if (cp > 0x10FFFF) cp = 0xFFFD;
        i += len;
        if (cp < 0x80) {
            dst[m++] = (char)cp;
        } else if (cp < 0x800) {
            dst[m++] = (char)(0xC0 | cp >> 6);
            dst[m++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            dst[m++] = (char)(0xE0 | cp >> 12);
            dst[m++] = (char)(0x80 | (cp >> 6 & 0x3F));
            dst[m++] = (char)(0x80 | (cp & 0x3F));
        } else {
            dst[m++] = (char)(0xF0 | cp >> 18);
            dst[m++] = (char)(0x80 | (cp >> 12 & 0x3F));
            dst[m++] = (char)(0x80 | (cp >> 6 & 0x3F));
            dst[m++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return m;
}

static void bpe_try_pair(const tokenizer *t, encoder *e, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const symbol *a = &e->sym[left], *b = &e->sym[right];
    int32_t rank = merge_find(t, e->buf + a->start, a->n, e->buf + b->start, b->n, &e->steps);
    if (rank < 0) return;
    heap_push(e, (bigram){(uint64_t)rank << 32 | (uint32_t)left, right, a->n + b->n});
}

static void bpe_word(const tokenizer *t, encoder *e, size_t start, size_t n, bool newlines) {
    if (newlines) { /* a run of newlines that is itself a token is taken whole */
        int32_t id = vocab_lookup(t, e->buf + start, n, &e->steps);
        if (id >= 0) {
            emit(e, id);
            return;
        }
    }
    int32_t n_sym = split_chars(e, start, n);
    merge_symbols(t, e, n_sym, bpe_try_pair);
    emit_symbols(t, e, n_sym);
}

static void bpe_fragment(const tokenizer *t, encoder *e, const char *s, size_t n) {
    reserve_buf(e, 3 * n);
    size_t m = clean_utf8(s, n, e->buf);
    for (size_t w = 0; w < m;) { /* words: runs of '\n' and runs of anything else */
        bool nl = e->buf[w] == '\n';
        size_t end = w + 1;
        while (end < m && (e->buf[end] == '\n') == nl) end++;
        bpe_word(t, e, w, end - w, nl);
        w = end;
    }
}

/* ---- public API ---------------------------------------------------------------------- */

int32_t *tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                          bool parse_special, int *n_out) {
    uint64_t steps = 0;
    return tokenizer_encode_steps(t, text, len, add_bos, parse_special, n_out, &steps);
}

int32_t *tokenizer_encode_steps(const tokenizer *t, const char *text, size_t len, bool add_bos,
                                bool parse_special, int *n_out, uint64_t *steps) {
    encoder e = {0};
    if (add_bos && t->add_bos && t->bos >= 0) emit(&e, t->bos);
    if (!text || len > MAX_TEXT_LEN) len = 0;

    size_t n_spans = 0;
    span *spans = find_specials(&t->special[parse_special ? 1 : 0], text, len, &n_spans, &e.steps);
    bool after_special = true; /* SPM's space prefix goes on the first fragment too */
    size_t pos = 0;
    for (size_t i = 0; i <= n_spans; i++) {
        size_t end = i < n_spans ? spans[i].pos : len;
        if (end > pos) {
            if (t->kind == VOCAB_SPM)
                spm_fragment(t, &e, text + pos, end - pos, t->add_space_prefix && after_special);
            else
                bpe_fragment(t, &e, text + pos, end - pos);
            after_special = false;
        }
        if (i < n_spans) {
            emit(&e, spans[i].id);
            after_special = true;
            pos = spans[i].pos + spans[i].len;
        }
    }
    if (add_bos && t->add_eos && t->eos >= 0) emit(&e, t->eos);

    free(spans);
    free(e.buf);
    free(e.sym);
    free(e.heap);
    *steps += e.steps + e.n_ids;
    if (!e.ids) e.ids = xmalloc(1);
    *n_out = (int)e.n_ids;
    return e.ids;
}

static size_t copy_out(char *buf, size_t cap, size_t at, const char *src, size_t n) {
    if (at < cap) memcpy(buf + at, src, n < cap - at ? n : cap - at);
    return at + n;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

size_t tokenizer_piece(const tokenizer *t, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= t->n_vocab) return 0;
    gguf_str s = t->text[id];
    switch (t->type[id]) {
    case TOKEN_USER_DEFINED:
        return copy_out(buf, cap, 0, s.ptr, s.len);
    case TOKEN_NORMAL: { /* U+2581 -> space */
        size_t out = 0, from = 0;
        for (size_t i = 0; i + 3 <= s.len; i++) {
            if (memcmp(s.ptr + i, "\xE2\x96\x81", 3) != 0) continue;
            out = copy_out(buf, cap, out, s.ptr + from, i - from);
            out = copy_out(buf, cap, out, " ", 1);
            from = i + 3;
            i += 2;
        }
        return copy_out(buf, cap, out, s.ptr + from, s.len - from);
    }
    case TOKEN_BYTE: {
        int hi = s.len == 6 ? hex_digit(s.ptr[3]) : -1, lo = s.len == 6 ? hex_digit(s.ptr[4]) : -1;
        if (hi < 0 || lo < 0 || memcmp(s.ptr, "<0x", 3) != 0 || s.ptr[5] != '>')
            return copy_out(buf, cap, 0, s.ptr, s.len); /* not <0xXX>: show it as it is */
        char byte = (char)(hi << 4 | lo);
        return copy_out(buf, cap, 0, &byte, 1);
    }
    default: /* CONTROL, UNKNOWN, UNUSED, undefined: not shown */
        return 0;
    }
}

const char *tokenizer_text(const tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->text[id].len;
    return t->text[id].ptr;
}

int tokenizer_n_vocab(const tokenizer *t) { return t->n_vocab; }
int tokenizer_n_merges(const tokenizer *t) { return t->n_merges; }
uint64_t tokenizer_load_steps(const tokenizer *t) { return t->load_steps; }
int32_t tokenizer_bos(const tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const tokenizer *t) { return t->eos; }
bool tokenizer_add_bos(const tokenizer *t) { return t->add_bos; }

bool tokenizer_is_eog(const tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

int tokenizer_type(const tokenizer *t, int32_t id) {
    return id < 0 || id >= t->n_vocab ? 0 : t->type[id];
}

int32_t tokenizer_find(const tokenizer *t, const char *text, size_t len) {
    return text ? vocab_find(t, text, len) : -1;
}
