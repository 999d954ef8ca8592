/* gemma.h - the library interface of the gemma inference engine (the CLI uses only this).
 *
 *   gemma_model *m = gemma_model_load("model.gguf", err);
 *   gemma_context *c = gemma_context_new(m, &(gemma_context_params){.n_ctx = 4096}, err);
 *   int n; int32_t *ids = gemma_tokenize(m, text, strlen(text), true, true, &n);
 *   gemma_eval(c, ids, n, logits, false, err);           // logits of the last token
 *   int32_t next = gemma_sampler_sample(s, logits);
 *
 * Fallible calls take `char err[GEMMA_ERR_LEN]` and return NULL / non-zero with a one-line
 * message in it. */
#ifndef GEMMA_H
#define GEMMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEMMA_VERSION "0.1.0"
/* Size of every err buffer; the message names the file and the problem, e.g.
 * "model.gguf: tensor 'blk.0.attn_q.weight' has shape [2048, 4096, 1], expected ...". */
#define GEMMA_ERR_LEN 512

typedef struct gemma_model gemma_model;
typedef struct gemma_context gemma_context;
typedef struct gemma_sampler gemma_sampler;

/* ---- model ---- */
typedef struct {
    /* Keep every weight in the file's layout (llama.cpp's --no-repack). By default the
     * matrices whose types the kernels have panel layouts for are repacked once at load into
     * anonymous memory (2 MiB pages where the OS gives them), and the file's pages of them
     * are released, so memory stays about the file's size. The environment variable
     * GEMMA_NO_REPACK=1 turns it off for every load. */
    bool no_repack;
} gemma_model_params;

/* gemma_model_load_params with every parameter at its default. */
gemma_model *gemma_model_load(const char *path, char *err);
gemma_model *gemma_model_load_params(const char *path, const gemma_model_params *p, char *err);
/* Only the vocabulary (works on vocabulary-only GGUF files): for the tokenizer calls. */
gemma_model *gemma_vocab_load(const char *path, char *err);
void gemma_model_free(gemma_model *m);

typedef struct {
    const char *arch;        /* "gemma3" */
    const char *name;        /* general.name or the file name */
    const char *ftype;       /* dominant weight type, e.g. "Q8_0" */
    int n_layer, n_embd, n_vocab, n_ctx_train;
    uint64_t n_params, n_bytes;
    /* Bytes of weights one generated token reads: the matrices it multiplies, the routed
     * experts' share of each expert stack, one row of each embedding table. Decoding on a
     * CPU is bound by reading these, so bytes x tokens/s is the bandwidth it achieves. */
    uint64_t weight_bytes_per_token;
    bool has_chat_template;  /* tokenizer.chat_template is present */
    /* Weights repacked at load (gemma_model_params): how many matrices, their bytes, how
     * many of those bytes the OS put in 2 MiB pages, the time it took, and the layouts,
     * e.g. "Q4_0_R16 x 183". n_repacked 0: all in the file's layout. */
    int n_repacked;
    uint64_t repacked_bytes, repacked_huge_bytes;
    double repack_seconds;
    const char *repacked_layouts;
    /* sampling defaults stored in the file (general.sampling.*); has_* false if absent */
    bool has_temp, has_top_k, has_top_p, has_min_p;
    float temp, top_p, min_p;
    int top_k;
} gemma_model_info;
void gemma_model_get_info(const gemma_model *m, gemma_model_info *info);
/* llama.cpp's one-line description, "<arch> <size class> <file type>": "gemma3 1B Q4_0",
 * "gemma2 ?B Q8_0" for an unknown layer count, "... Q4_K - Medium (guessed)" when the file
 * has no general.file_type. snprintf-like: writes at most cap bytes, returns the length. */
size_t gemma_model_desc(const gemma_model *m, char *buf, size_t cap);

/* ---- tokenizer ---- */
/* Returns a malloc'd array (free it) of *n ids. add_bos follows the vocabulary's setting;
 * parse_special turns control-token text such as "<start_of_turn>" into its id. */
int32_t *gemma_tokenize(const gemma_model *m, const char *text, size_t len, bool add_bos,
                        bool parse_special, int *n);
/* Bytes a generated token prints as (control tokens print nothing); snprintf-like. */
size_t gemma_token_to_piece(const gemma_model *m, int32_t id, char *buf, size_t cap);
bool gemma_token_is_eog(const gemma_model *m, int32_t id);
/* Id of the token whose text is exactly `text`, -1 if the vocabulary has none. */
int32_t gemma_token_id(const gemma_model *m, const char *text);
/* The BOS token gemma_tokenize puts first with add_bos, -1 if the vocabulary adds none. */
int32_t gemma_token_bos(const gemma_model *m);
/* An ordinary token (text, a byte or user-defined), not a control, unknown or unused one:
 * what a random "text-like" input is drawn from. */
bool gemma_token_is_text(const gemma_model *m, int32_t id);

/* ---- chat formatting ---- */
typedef enum {
    GEMMA_CHAT_NONE = 0,   /* no chat template: plain completion */
    GEMMA_CHAT_GEMMA,      /* Gemma 1-3: <start_of_turn>user ... <end_of_turn> */
    GEMMA_CHAT_GEMMA4      /* Gemma 4: <|turn>user ... <turn|>, system role, thinking */
} gemma_chat_format;
/* The turn format of a model: NONE unless the file has tokenizer.chat_template and its
 * vocabulary has the turn tokens. */
gemma_chat_format gemma_chat_format_of(const gemma_model *m);
/* Text of one user turn followed by the generation prompt (BOS not included: tokenize with
 * add_bos for the first turn). first: the start of the conversation (the system prompt, if
 * any, goes here); otherwise the previous model turn is closed first. think: Gemma 4
 * thinking on. Returns a malloc'd string. */
char *gemma_chat_turn(gemma_chat_format f, const char *system, const char *user, bool first,
                      bool think);

/* ---- inference context ---- */
typedef struct {
    int n_ctx;       /* KV cache size in tokens (<= 0: min(training context, 4096)) */
    int n_threads;   /* <= 0: gemma_default_threads() */
    int n_batch;     /* tokens per forward micro-batch (<= 0: 512) */
} gemma_context_params;

gemma_context *gemma_context_new(gemma_model *m, const gemma_context_params *p, char *err);
void gemma_context_free(gemma_context *c);
/* Feed n tokens at the next positions. logits: n_vocab floats for the last token, or
 * n * n_vocab for every token when all_logits. */
int gemma_eval(gemma_context *c, const int32_t *ids, int n, float *logits, bool all_logits,
               char *err);
int gemma_n_ctx(const gemma_context *c);
int gemma_n_past(const gemma_context *c);
int gemma_n_threads(const gemma_context *c);
size_t gemma_kv_bytes(const gemma_context *c);
void gemma_context_reset(gemma_context *c);
/* Keep the first n cached tokens; -1 if that is impossible (the context is then reset and
 * the caller re-evaluates what it wants to keep). */
int gemma_context_truncate(gemma_context *c, int n);
size_t gemma_scratch_bytes(const gemma_context *c);

/* ---- sampling ---- */
#define GEMMA_SEED_RANDOM UINT64_MAX
typedef struct {
    float temp;           /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;
    uint64_t seed;        /* GEMMA_SEED_RANDOM: from the clock */
} gemma_sampler_params;
void gemma_sampler_params_default(gemma_sampler_params *p); /* llama.cpp's CLI defaults */
gemma_sampler *gemma_sampler_new(const gemma_model *m, const gemma_sampler_params *p, char *err);
void gemma_sampler_free(gemma_sampler *s);
int32_t gemma_sampler_sample(gemma_sampler *s, const float *logits);
void gemma_sampler_accept(gemma_sampler *s, int32_t id);
uint64_t gemma_sampler_seed(const gemma_sampler *s);

/* ---- tensors ---- */
/* Dequantize the tensor `name` of a GGUF file into a malloc'd float array of *n elements. */
float *gemma_dequant_tensor(const char *path, const char *name, size_t *n, char *err);

/* ---- misc ---- */
const char *gemma_kernel_path(void);   /* "scalar", "AVX2", ... */
int gemma_default_threads(void);       /* the machine's physical cores */

#endif
