/* test_model.c - model binding errors: a fixture model with one thing broken must be
 * rejected with a clear one-line message that names the file and the problem. The broken
 * files are made by patching bytes of a copy of a fixture (same length, so the container
 * stays valid and the model binding is what has to notice). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
#include "gguf.h"
#include "test.h"

/* Replace the first occurrence of `from` by `to` (same length) after offset `after`. */
static bool patch(char *buf, size_t len, const char *from, const char *to, size_t after) {
    size_t n = strlen(from);
    if (strlen(to) != n) return false;
    char *p = memmem(buf + after, len - after, from, n);
    if (!p) return false;
    memcpy(p, to, n);
    return true;
}

static const char *write_tmp(const char *name, const char *buf, size_t len) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir(), name);
    FILE *fp = fopen(path, "wb");
    if (!fp) return NULL;
    fwrite(buf, 1, len, fp);
    fclose(fp);
    return path;
}

/* Load a patched copy of `fixture` and expect an error containing each of `needles`. */
static void expect_rejected(const char *what, const char *fixture, const char *from,
                            const char *to, const char *needle) {
    TEST_BEGIN("model: %s is rejected", what);
    size_t len;
    char *buf = read_file(fixture_path(fixture), &len);
    EXPECT(buf != NULL, "cannot read %s", fixture);
    if (buf) {
        /* to == NULL: overwrite the string value of key `from` (after its 4-byte type and
         * 8-byte length) with "llama3" */
        bool patched = to ? patch(buf, len, from, to, 0) : false;
        if (!to) {
            char *k = memmem(buf, len, from, strlen(from));
            if (k) { memcpy(k + strlen(from) + 12, "llama3", 6); patched = true; }
        }
        EXPECT(patched, "pattern '%s' not found", from);
        const char *path = write_tmp("patched.gguf", buf, len);
        char err[GEMMA_ERR_LEN] = "";
        gemma_model *m = patched && path ? gemma_model_load(path, err) : NULL;
        EXPECT(m == NULL, "loaded although broken");
        EXPECT(strstr(err, "patched.gguf") != NULL, "message does not name the file: %s", err);
        EXPECT(strstr(err, needle) != NULL, "message lacks '%s': %s", needle, err);
        EXPECT(strchr(err, '\n') == NULL, "message is not one line: %s", err);
        printf("     -> %s\n", err);
        gemma_model_free(m);
        free(buf);
    }
    TEST_END();
}

/* The weight bytes one decoded token reads, counted from the file's tensor table by name
 * rather than from the engine's binding: every matrix (2-D or more) except the K and V
 * projections of layers that reuse an earlier layer's cache (the last shared_kv_layers);
 * of each layer's expert stacks the routed share (expert_used_count of expert_count); one
 * row of each embedding table, and the whole token embedding again when it is the output
 * matrix (no output.weight). */
static uint64_t file_bytes_per_token(const char *path) {
    char err[GEMMA_ERR_LEN], key[96];
    gguf_file *f = gguf_open(path, err);
    if (!f) return 0;
    gguf_str arch = {0};
    gguf_get_str(f, "general.architecture", &arch, err);
    int64_t n_layer = 0, shared = 0, n_expert = 0, n_used = 0;
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%.*s.%s", (int)arch.len, arch.ptr, suffix), key)
    gguf_get_i64(f, ARCH_KEY("block_count"), &n_layer, err);
    gguf_get_i64(f, ARCH_KEY("attention.shared_kv_layers"), &shared, err);
    gguf_get_i64(f, ARCH_KEY("expert_count"), &n_expert, err);
    gguf_get_i64(f, ARCH_KEY("expert_used_count"), &n_used, err);
#undef ARCH_KEY
    uint64_t bytes = 0, *experts = calloc((size_t)n_layer + 1, sizeof(uint64_t));
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        int il = -1, at = 0;
        if (t->n_dims < 2) continue;
        if (!strcmp(t->name, "token_embd.weight")) {
            bytes += t->nbytes / (uint64_t)t->ne[1];
            if (!gguf_find_tensor(f, "output.weight")) bytes += t->nbytes;
        } else if (!strcmp(t->name, "per_layer_token_embd.weight")) {
            bytes += t->nbytes / (uint64_t)t->ne[1];
        } else if (sscanf(t->name, "blk.%d.%n", &il, &at) == 1 && at > 0 && il >= 0 && il < n_layer) {
            const char *rest = t->name + at;
            if (strstr(rest, "_exps.")) experts[il] += t->nbytes;
            else if (!((!strcmp(rest, "attn_k.weight") || !strcmp(rest, "attn_v.weight")) &&
                       il >= n_layer - shared))
                bytes += t->nbytes;
        } else {
            bytes += t->nbytes;
        }
    }
    for (int64_t il = 0; il < n_layer; il++)
        if (n_expert > 0) bytes += experts[il] / (uint64_t)n_expert * (uint64_t)n_used;
    free(experts);
    gguf_close(f);
    return bytes;
}

static void test_bytes_per_token(const char *fixture, const char *what) {
    TEST_BEGIN("model: weight bytes per token of a %s model = the file's tensors it reads", what);
    char err[GEMMA_ERR_LEN] = "";
    gemma_model *m = gemma_model_load(fixture_path(fixture), err);
    EXPECT(m != NULL, "load: %s", err);
    if (m) {
        gemma_model_info info;
        gemma_model_get_info(m, &info);
        uint64_t want = file_bytes_per_token(fixture_path(fixture));
        EXPECT(want > 0 && info.weight_bytes_per_token == want, "%s: engine %llu, from the file %llu",
               fixture, (unsigned long long)info.weight_bytes_per_token, (unsigned long long)want);
        EXPECT(info.weight_bytes_per_token < info.n_bytes + info.n_bytes / 2, "more than the file");
        printf("     -> %s: %llu of %llu bytes\n", fixture,
               (unsigned long long)info.weight_bytes_per_token, (unsigned long long)info.n_bytes);
    }
    gemma_model_free(m);
    TEST_END();
}

/* BOS and ordinary tokens as gemma_tokenize and the vocabulary see them. */
static void test_token_kinds(const char *fixture) {
    TEST_BEGIN("model: %s: BOS is what tokenize puts first; text tokens are not control ones", fixture);
    char err[GEMMA_ERR_LEN] = "";
    gemma_model *m = gemma_vocab_load(fixture_path(fixture), err);
    EXPECT(m != NULL, "load: %s", err);
    if (m) {
        int n_bos = 0, n_text = 0;
        int32_t *bos = gemma_tokenize(m, "", 0, true, false, &n_bos);
        int32_t *text = gemma_tokenize(m, "hello world", 11, false, false, &n_text);
        EXPECT(gemma_token_bos(m) == (n_bos == 1 ? bos[0] : -1), "bos %d, tokenize gives %d ids",
               gemma_token_bos(m), n_bos);
        EXPECT(gemma_token_bos(m) < 0 || !gemma_token_is_text(m, gemma_token_bos(m)), "BOS counted as text");
        EXPECT(n_text > 0, "no tokens for text");
        for (int i = 0; i < n_text; i++)
            EXPECT(gemma_token_is_text(m, text[i]), "token %d of \"hello world\" (%d) is not text", i, text[i]);
        const char *turn = gemma_token_id(m, "<start_of_turn>") >= 0 ? "<start_of_turn>" : "<|turn>";
        int32_t ctl = gemma_token_id(m, turn);
        EXPECT(ctl >= 0 && !gemma_token_is_text(m, ctl), "%s (%d) counted as text", turn, ctl);
        EXPECT(!gemma_token_is_text(m, -1), "id -1 counted as text");
        free(bos);
        free(text);
    }
    gemma_model_free(m);
    TEST_END();
}

void suite_model(void) {
    test_bytes_per_token("models/gemma3-q8_0.gguf", "dense");
    test_bytes_per_token("models/gemma1-f32.gguf", "tied-embedding");
    test_bytes_per_token("models/gemma4-moe-q8_0.gguf", "mixture-of-experts");
    test_bytes_per_token("models/gemma4-ple-f32.gguf", "per-layer-embedding, shared-KV");
    test_token_kinds("models/gemma3-q8_0.gguf");
    test_token_kinds("models/gemma4-moe-q8_0.gguf");

    const char *g3 = "models/gemma3-q8_0.gguf";
    expect_rejected("a missing tensor", g3, "blk.1.attn_q.weight", "blk.1.attn_X.weight",
                    "missing tensor 'blk.1.attn_q.weight'");
    expect_rejected("an unsupported architecture", g3, "general.architecture", NULL,
                    "architecture 'llama3' is not supported");
    expect_rejected("a missing required key", g3, "gemma3.block_count", "gemma3.block_coun_",
                    "missing required key 'gemma3.block_count'");
    expect_rejected("a missing embedding length key", g3, "gemma3.embedding_length",
                    "gemma3.embedding_lengtX", "embedding_length");

    /* wrong shape: the file claims a different width than its tensors have */
    TEST_BEGIN("model: tensor shapes that contradict the hyperparameters are rejected");
    size_t len;
    char *buf = read_file(fixture_path(g3), &len);
    EXPECT(buf != NULL, "cannot read fixture");
    if (buf) {
        /* gemma3.feed_forward_length (u32 = 4, value 256) -> 128 */
        const char key[] = "gemma3.feed_forward_length";
        char *p = memmem(buf, len, key, sizeof key - 1);
        EXPECT(p != NULL, "key not found");
        if (p) {
            unsigned char *v = (unsigned char *)p + sizeof key - 1 + 4; /* after the type */
            v[0] = 128;
            v[1] = 0;
            const char *path = write_tmp("shape.gguf", buf, len);
            char err[GEMMA_ERR_LEN] = "";
            gemma_model *m = gemma_model_load(path, err);
            EXPECT(m == NULL, "loaded although shapes are wrong");
            EXPECT(strstr(err, "has shape") && strstr(err, "expected"), "message: %s", err);
            printf("     -> %s\n", err);
            gemma_model_free(m);
        }
        free(buf);
    }
    TEST_END();

    /* a norm weight retyped from F32 to I32 (same size): unsupported type */
    TEST_BEGIN("model: a tensor of an unsupported type is rejected");
    buf = read_file(fixture_path(g3), &len);
    if (buf) {
        const char name[] = "output_norm.weight";
        char *p = memmem(buf, len, name, sizeof name - 1);
        EXPECT(p != NULL, "tensor not found");
        if (p) {
            unsigned char *t = (unsigned char *)p + sizeof name - 1;
            uint32_t nd = t[0];
            unsigned char *type = t + 4 + 8 * nd;
            EXPECT(type[0] == 0, "expected F32 (0), found type %u", type[0]);
            type[0] = 26; /* I32 */
            const char *path = write_tmp("type.gguf", buf, len);
            char err[GEMMA_ERR_LEN] = "";
            gemma_model *m = gemma_model_load(path, err);
            EXPECT(m == NULL, "loaded although a tensor has type I32");
            EXPECT(strstr(err, "I32") && strstr(err, "output_norm.weight"), "message: %s", err);
            printf("     -> %s\n", err);
            gemma_model_free(m);
        }
        free(buf);
    }
    TEST_END();

    /* the same model loads when nothing is broken (guards the tests above) */
    TEST_BEGIN("model: the unpatched fixture loads and reports its shape");
    char err[GEMMA_ERR_LEN] = "";
    gemma_model *m = gemma_model_load(fixture_path(g3), err);
    EXPECT(m != NULL, "load: %s", err);
    if (m) {
        gemma_model_info info;
        gemma_model_get_info(m, &info);
        EXPECT(!strcmp(info.arch, "gemma3") && info.n_layer == 2 && info.n_embd == 256 && info.n_vocab == 512,
               "arch %s, %d layers, width %d, vocab %d", info.arch, info.n_layer, info.n_embd, info.n_vocab);
        EXPECT(!strcmp(info.ftype, "Q8_0"), "ftype %s", info.ftype);
    }
    gemma_model_free(m);
    TEST_END();
}
