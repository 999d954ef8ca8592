/* test_model.c - model binding errors: a fixture model with one thing broken must be
 * rejected with a clear one-line message that names the file and the problem. The broken
 * files are made by patching bytes of a copy of a fixture (same length, so the container
 * stays valid and the model binding is what has to notice). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "gemma.h"
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

void suite_model(void) {
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
