/* fuzz_gguf.c - libFuzzer harness: arbitrary bytes as a GGUF file, all the way to logits.
 *
 *   1. gguf_open_memory(): must either fail with a one-line message or hand out a file
 *      whose every key, array, string and tensor lies inside the buffer (checked here by
 *      reading all of them: ASan catches any pointer that does not);
 *   2. if it parses, the same bytes go into a memfd and through the real file path:
 *      gemma_model_load("/proc/self/fd/N") - mmap, tokenizer, model binding;
 *   3. if the model loads: tokenize a short text, evaluate it in a context of 8 tokens,
 *      sample once, print the pieces, dequantize a few tensors (the `dequant` subcommand);
 *      if only the vocabulary loads: tokenize and detokenize with it.
 * Any crash, sanitizer report, leak or runaway allocation is a finding. Set
 * FUZZ_GGUF_VERBOSE=1 to see why each input was rejected (for checking seeds). */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gemma.h"
#include "gguf.h"
#include "kernels/quant.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char memfd_path[64];
static int verbose;

static void check_err(const char *what, const char *err) {
    size_t n = strnlen(err, GEMMA_ERR_LEN);
    if (n == 0 || n == GEMMA_ERR_LEN || memchr(err, '\n', n)) {
        fprintf(stderr, "fuzz_gguf: %s failed without a one-line message: '%.*s'\n", what,
                (int)n, err);
        abort();
    }
    if (verbose) fprintf(stderr, "fuzz_gguf: %s: %s\n", what, err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    verbose = getenv("FUZZ_GGUF_VERBOSE") != NULL;
    memfd = memfd_create("fuzz_gguf", MFD_CLOEXEC);
    if (memfd < 0) {
        perror("fuzz_gguf: memfd_create");
        abort();
    }
    snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    (void)gemma_kernel_path(); /* the kernel set is chosen and built once, outside the runs */
    return 0;
}

/* Touch every byte the parsed file points at: a pointer outside the buffer is an ASan
 * report, a wrong lookup an abort. */
static uint64_t walk_file(const gguf_file *f, const uint8_t *data, size_t size) {
    uint64_t sum = 0;
    char err[GEMMA_ERR_LEN];
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (gguf_find(f, kv->key) != kv) abort();
        int64_t iv;
        float fv;
        bool bv;
        gguf_str sv;
        sum += (uint64_t)gguf_get_i64(f, kv->key, &iv, err);
        sum += (uint64_t)gguf_get_f32(f, kv->key, &fv, err);
        sum += (uint64_t)gguf_get_bool(f, kv->key, &bv, err);
        if (gguf_get_str(f, kv->key, &sv, err) == 1) {
            if ((const uint8_t *)sv.ptr < data || sv.len > size ||
                (const uint8_t *)sv.ptr + sv.len > data + size)
                abort();
            for (uint64_t j = 0; j < sv.len; j++) sum += (uint8_t)sv.ptr[j];
        }
        if (kv->type != GGUF_ARRAY) continue;
        if (kv->arr_type == GGUF_STRING) {
            gguf_str *s = malloc((size_t)(kv->arr_n ? kv->arr_n : 1) * sizeof *s);
            if (gguf_arr_strings(f, kv, s, err) != 0) abort();
            for (uint64_t j = 0; j < kv->arr_n; j++)
                if (s[j].len) sum += (uint8_t)s[j].ptr[0] + (uint8_t)s[j].ptr[s[j].len - 1];
            free(s);
        } else {
            for (uint64_t j = 0; j < kv->arr_n; j++)
                sum += (uint64_t)gguf_arr_int(kv, j) + (uint64_t)(gguf_arr_float(kv, j) != 0);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (gguf_find_tensor(f, t->name) != t) abort();
        const uint8_t *p = t->data;
        if (p < data || t->nbytes > size || p + t->nbytes > data + size) abort();
        if (t->nbytes) sum += p[0] + p[t->nbytes - 1];
    }
    return sum;
}

static void run_vocab(gemma_model *m, const char *text) {
    int n = 0;
    int32_t *ids = gemma_tokenize(m, text, strlen(text), true, true, &n);
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    char piece[64];
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= info.n_vocab) abort();
        size_t k = gemma_token_to_piece(m, ids[i], piece, sizeof piece);
        (void)k;
        (void)gemma_token_is_eog(m, ids[i]);
    }
    free(ids);
}

static void run_model(gemma_model *m) {
    char err[GEMMA_ERR_LEN];
    gemma_model_info info;
    gemma_model_get_info(m, &info);
    if (info.n_vocab <= 0) abort();
    static const char text[] = "<start_of_turn>user\nHello world<end_of_turn>";
    int n = 0;
    int32_t *ids = gemma_tokenize(m, text, sizeof text - 1, true, true, &n);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= info.n_vocab) abort();
    /* a prompt batch of 3 (padded with ids of a tiny vocabulary's choice: batched
     * attention differs from the one-token path), then one decode step below */
    ids = realloc(ids, 3 * sizeof *ids);
    for (; n < 3; n++) ids[n] = n % info.n_vocab;
    n = 3;

    gemma_context_params cp = {.n_ctx = 8, .n_threads = 1, .n_batch = 4};
    gemma_context *c = gemma_context_new(m, &cp, err);
    if (!c) {
        check_err("gemma_context_new", err);
        free(ids);
        return;
    }
    float *logits = calloc((size_t)info.n_vocab, sizeof(float));
    if (n > 0 && gemma_eval(c, ids, n, logits, false, err) != 0) check_err("gemma_eval", err);
    gemma_sampler_params sp;
    gemma_sampler_params_default(&sp);
    sp.seed = 1;
    gemma_sampler *s = gemma_sampler_new(m, &sp, err);
    if (s) {
        int32_t id = gemma_sampler_sample(s, logits);
        if (id < 0 || id >= info.n_vocab) abort();
        gemma_sampler_accept(s, id);
        char piece[64];
        gemma_token_to_piece(m, id, piece, sizeof piece);
        /* one decode step at the next position, as generation does */
        if (gemma_n_past(c) < gemma_n_ctx(c) && gemma_eval(c, &id, 1, logits, false, err) != 0)
            check_err("gemma_eval (decode)", err);
        gemma_sampler_free(s);
    } else {
        check_err("gemma_sampler_new", err);
    }
    free(logits);
    free(ids);
    gemma_context_free(c);
}

/* The `dequant` subcommand's path: the first few tensors by name. */
static void run_dequant(const gguf_file *f) {
    char err[GEMMA_ERR_LEN];
    for (uint64_t i = 0; i < f->n_tensors && i < 4; i++) {
        size_t n = 0;
        float *v = gemma_dequant_tensor(memfd_path, f->tensors[i].name, &n, err);
        if (v) free(v);
        else check_err("gemma_dequant_tensor", err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[GEMMA_ERR_LEN];
    err[0] = 0;
    gguf_file *f = gguf_open_memory(data, size, "fuzz.gguf", err);
    if (!f) {
        check_err("gguf_open_memory", err);
        return 0;
    }
    volatile uint64_t sum = walk_file(f, data, size);
    (void)sum;

    /* The same bytes through the file path (open, fstat, mmap). */
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) abort();
    run_dequant(f);
    gguf_close(f);

    gemma_model *m = gemma_model_load(memfd_path, err);
    if (m) {
        run_model(m);
        gemma_model_free(m);
        return 0;
    }
    check_err("gemma_model_load", err);
    m = gemma_vocab_load(memfd_path, err);
    if (!m) {
        check_err("gemma_vocab_load", err);
        return 0;
    }
    run_vocab(m, "Hello world <start_of_turn>\xe2\x96\x81 caf\xc3\xa9\n\n<|turn>x");
    run_vocab(m, "");
    gemma_model_free(m);
    return 0;
}
