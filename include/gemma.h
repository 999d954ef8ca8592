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
/* The token ids of that turn (add_bos: BOS first, for the first turn). The template's own
 * markers become control tokens; in the system and user text, control-token text such as
 * "<start_of_turn>" becomes a control token only if parse_special, so with it off a pasted
 * or piped document cannot forge a turn; Gemma 4 tool declarations in the system text
 * (gemma_tools_system_prompt) keep their <|tool> and <tool|> tokens either way. Returns a
 * malloc'd array of *n ids. */
int32_t *gemma_chat_turn_tokens(const gemma_model *m, gemma_chat_format f, const char *system,
                                const char *user, bool first, bool think, bool add_bos,
                                bool parse_special, int *n);

/* A whole conversation (OpenAI's messages) as the chat template renders it, followed by
 * the generation prompt. Roles: "system" (or "developer"), "user", "assistant" (or "model"),
 * "tool". Gemma 1-3 fold the system text into the first turn and have no tool roles; Gemma 4
 * renders a system turn (with <|think|> and the tool declarations), earlier answers with
 * their thoughts cut out, an assistant's tool calls as <|tool_call>call:NAME{...}<tool_call|>
 * and tool results as <|tool_response>response:NAME{...}<tool_response|> in the same model
 * turn, which stays open after them, as it is when the model calls tools live
 * (doc/chat.md#conversations). A model without a chat template (GEMMA_CHAT_NONE) gets the
 * contents, system first, separated by blank lines. */
typedef struct {
    const char *role;
    const char *content;     /* NULL: none */
    /* assistant: its calls in OpenAI's JSON, [{"type":"function","function":{"name":"f",
     * "arguments":"{\"x\":1}"}}, ...] (arguments a JSON text or an object); NULL: none */
    const char *tool_calls;
    const char *name;        /* tool: the function whose result the content is */
} gemma_chat_message;

typedef struct gemma_tools gemma_tools;
typedef struct {
    bool think;                  /* Gemma 4: let the model think first */
    const gemma_tools *tools;    /* Gemma 4: tools declared in the system turn; NULL: none */
} gemma_chat_options;

/* The rendered text (malloc'd), for inspection; NULL + err on a message it cannot render
 * (an unknown role, a tool role or tool calls outside Gemma 4, malformed calls). */
char *gemma_chat_render_text(gemma_chat_format f, const gemma_chat_message *msgs, int n,
                             const gemma_chat_options *o, char *err);
/* Its token ids, BOS first, tokenized as gemma_chat_turn_tokens does: the template's markers
 * become control tokens, the messages' text only with parse_special (off: a pasted
 * "<start_of_turn>" stays text). malloc'd array of *n_ids; NULL + err. */
int32_t *gemma_chat_render(const gemma_model *m, gemma_chat_format f, const gemma_chat_message *msgs,
                           int n, const gemma_chat_options *o, bool parse_special, int *n_ids,
                           char *err);

/* ---- inference context ---- */
/* The KV cache's element types (llama.cpp's -ctk / -ctv). F32 is exact; F16 and BF16 halve
 * the cache and the attention's reads; Q8_0 (blocks of 32 values with one scale) takes about
 * a quarter plus the scales. The zero value is F32, so a zero-initialised gemma_context_params
 * keeps the exact cache; the gemma command defaults to F16, as llama.cpp does. */
typedef enum { GEMMA_KV_F32 = 0, GEMMA_KV_F16, GEMMA_KV_BF16, GEMMA_KV_Q8_0, GEMMA_KV_COUNT } gemma_kv_type;

typedef struct {
    int n_ctx;       /* KV cache size in tokens (<= 0: min(training context, 4096)) */
    int n_threads;   /* <= 0: gemma_default_threads() */
    int n_batch;     /* tokens per forward micro-batch (<= 0: 512) */
    gemma_kv_type type_k, type_v;  /* the cache's keys and values (default F32) */
} gemma_context_params;

/* llama.cpp's name of a cache type ("f32", "f16", "bf16", "q8_0"); NULL out of range. */
const char *gemma_kv_type_name(gemma_kv_type t);
/* The type of a name gemma_kv_type_name gives; -1 for any other. */
int gemma_kv_type_parse(const char *name);

gemma_context *gemma_context_new(gemma_model *m, const gemma_context_params *p, char *err);
void gemma_context_free(gemma_context *c);
/* Feed n tokens at the next positions. logits: n_vocab floats for the last token, or
 * n * n_vocab for every token when all_logits; NULL: none (a prompt chunk whose logits are
 * not needed skips the output projection). */
int gemma_eval(gemma_context *c, const int32_t *ids, int n, float *logits, bool all_logits,
               char *err);
/* Several sequences at once (continuous batching): each item feeds its tokens to its own
 * context, as gemma_eval would, but all items' tokens form one batch through every matrix
 * product, so the weights are read once per step for all of them; each token attends to its
 * own context's cache. The contexts must be distinct, on one model, and have at least as
 * many threads as the first, whose threads and micro-batch size (n_batch rows in all; more
 * are split) the pass uses. An item's logits are the same bits as from gemma_eval on its
 * context alone, given the same split of its tokens into evaluations (tests/test_batch.c)
 * on the scalar, AVX2 and AVX-512 kernels with the weights repacked as loading does by
 * default. Two paths sum a row in another order at one row than in a batch, so there rows
 * agree to rounding (4e-7 relative on the fixtures), not to the bit: AVX-512's K-quant
 * decode kernels for weights left in the file's layout (GEMMA_NO_REPACK), and the AMX tiles
 * from 16 rows.
 * Returns 0, or -1 with a message and nothing evaluated. */
typedef struct {
    gemma_context *c;
    const int32_t *ids;
    int n;                /* tokens (0: the item is skipped) */
    float *logits;        /* as gemma_eval's: the last token's, or all; NULL: none */
    bool all_logits;
} gemma_batch_item;
int gemma_eval_batch(const gemma_batch_item *items, int n, char *err);
int gemma_n_ctx(const gemma_context *c);
int gemma_n_past(const gemma_context *c);
/* Threads from now on for evals of one token (generation) and of several (prompt
 * processing), as llama_set_n_threads; each in [1, the n_threads the context was made with]
 * (both are that number at first). */
void gemma_set_threads(gemma_context *c, int n_threads, int n_threads_batch);
int gemma_n_threads(const gemma_context *c);        /* for generation */
int gemma_n_threads_batch(const gemma_context *c);  /* for prompt processing */
size_t gemma_kv_bytes(const gemma_context *c);   /* the cache's bytes, at its types */
gemma_kv_type gemma_kv_type_k(const gemma_context *c);
gemma_kv_type gemma_kv_type_v(const gemma_context *c);
void gemma_context_reset(gemma_context *c);
/* Keep the first n cached tokens; -1 if that is impossible (the context is then reset and
 * the caller re-evaluates what it wants to keep). */
int gemma_context_truncate(gemma_context *c, int n);
size_t gemma_scratch_bytes(const gemma_context *c);

/* ---- sampling ---- */
/* A seed from the clock, drawn in [0, 2^32 - 1): the range llama.cpp's -s accepts, below
 * JSON's exact-integer limit 2^53, so the seed gemma_sampler_seed() reports reproduces the
 * run when given back. */
#define GEMMA_SEED_RANDOM UINT64_MAX
typedef struct {
    float temp;           /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* the window of all three penalties (< 0: since the sampler began) */
    uint64_t seed;        /* GEMMA_SEED_RANDOM: from the clock (see above) */
    /* OpenAI's, over the accepted tokens in the window, after the repeat penalty: logit -=
     * count * frequency_penalty + (count > 0) * presence_penalty. 0: off. */
    float presence_penalty, frequency_penalty;
} gemma_sampler_params;
void gemma_sampler_params_default(gemma_sampler_params *p); /* llama.cpp's CLI defaults */
gemma_sampler *gemma_sampler_new(const gemma_model *m, const gemma_sampler_params *p, char *err);
void gemma_sampler_free(gemma_sampler *s);
int32_t gemma_sampler_sample(gemma_sampler *s, const float *logits);
void gemma_sampler_accept(gemma_sampler *s, int32_t id);
uint64_t gemma_sampler_seed(const gemma_sampler *s);

/* ---- constrained output: grammars, JSON schemas, Gemma 4 tool calls ----
 * (src/constrain.c; the engine: grammar.h, grammar_match.h, json_schema.h, toolcall.h)
 *
 *   gemma_grammar *g = gemma_grammar_from_json_schema(m, schema, strlen(schema), err);
 *   gemma_sampler_set_grammar(s, g);
 *   for (;;) {
 *       int32_t id = gemma_sampler_sample(s, logits);   // only tokens g allows
 *       if (id == GEMMA_TOKEN_NONE || gemma_token_is_eog(m, id)) break;
 *       gemma_grammar_accept(g, id);                     // advance with the kept token
 *       gemma_sampler_accept(s, id);
 *       ...evaluate id...
 *   }
 *
 * With a grammar attached the sampler returns only tokens that keep the output a prefix of
 * a sentence of the grammar (the chain's own candidates are tried first; the whole
 * vocabulary is checked only when none fits); end-of-generation tokens only where the
 * grammar is complete, and once it is done (nothing can follow) only those. The caller
 * advances the grammar with each token it keeps: prompt tokens go to gemma_sampler_accept
 * but never to the grammar. Output is generated as text of the grammar when its pieces
 * (as gemma_token_to_piece prints them) are joined. */
typedef struct gemma_grammar gemma_grammar;
#define GEMMA_TOKEN_NONE (-1)   /* the grammar allows no token at all (cannot continue) */

/* A GBNF grammar (llama.cpp's syntax, token elements such as <|tool_call> included) bound to
 * m's vocabulary; root: the start rule (NULL: "root"). */
gemma_grammar *gemma_grammar_new(const gemma_model *m, const char *gbnf, size_t len,
                                 const char *root, char *err);
/* The JSON texts a JSON schema accepts (see json_schema.h for the keywords). */
gemma_grammar *gemma_grammar_from_json_schema(const gemma_model *m, const char *schema,
                                              size_t len, char *err);
/* Any JSON value (ollama's --format json). */
gemma_grammar *gemma_grammar_json(const gemma_model *m, char *err);
void gemma_grammar_free(gemma_grammar *g);
void gemma_grammar_reset(gemma_grammar *g);                 /* back to the start */
bool gemma_grammar_allows(gemma_grammar *g, int32_t id);
/* Advance by a kept token; false (and no change) if the grammar (or the budget) does not
 * allow it. */
bool gemma_grammar_accept(gemma_grammar *g, int32_t id);
/* At most this many more tokens will be sampled (e.g. what -n and the context leave; -1:
 * no limit, the default, also after a reset): each accepted token spends one, and only
 * tokens after which the grammar can still be completed in time are allowed, so output cut
 * at the limit is still a whole sentence (when one that short exists). */
void gemma_grammar_set_budget(gemma_grammar *g, int tokens);
bool gemma_grammar_is_complete(const gemma_grammar *g);   /* the output is a sentence */
bool gemma_grammar_is_done(const gemma_grammar *g);       /* ... and nothing can follow */
/* Attach (NULL: detach). g stays the caller's and must outlive the attachment. */
void gemma_sampler_set_grammar(gemma_sampler *s, gemma_grammar *g);

/* Where the sampler's time went (for -v and --json timings). */
typedef struct {
    uint64_t n_samples;         /* gemma_sampler_sample calls */
    double sample_ms;           /* their total time, grammar work included */
    double grammar_ms;          /* of which checking tokens against the grammar */
    uint64_t n_grammar_checks;  /* candidates checked one by one */
    uint64_t n_grammar_fallbacks; /* samples where the whole vocabulary was checked */
} gemma_sampler_timings;
void gemma_sampler_get_timings(const gemma_sampler *s, gemma_sampler_timings *t);

/* Text only, no model (gemma grammar ...): the GBNF of a JSON schema / of any JSON value
 * (malloc'd), and a check of a GBNF text (0 = valid, else -1 with the error). */
char *gemma_json_schema_to_gbnf(const char *schema, size_t len, char *err);
char *gemma_json_gbnf(void);
int gemma_gbnf_check(const char *gbnf, size_t len, const char *root, char *err);
/* How far text[0..n) gets in a GBNF grammar (no tokens: token elements never match):
 * 1 a whole sentence, 0 a prefix of one, -1 not even that (the byte where it fails in
 * *fail_at if not NULL); -2 with err if the grammar is invalid. */
int gemma_gbnf_match(const char *gbnf, size_t len, const char *root, const char *text,
                     size_t n, size_t *fail_at, char *err);

/* Gemma 4 tool calls. Tools are JSON in the OpenAI format:
 * [{"type":"function","function":{"name":...,"description":...,"parameters":{schema}}}]. */
gemma_tools *gemma_tools_parse(const char *json, size_t len, char *err);
void gemma_tools_free(gemma_tools *t);
/* Does the model have Gemma 4's tool tokens (<|tool_call> ...)? Gemma 1-3 do not. */
bool gemma_model_has_tool_tokens(const gemma_model *m);
/* The system text with the tools declared after it (trimmed system + <|tool>declaration:
 * ...<tool|> per tool): pass it as gemma_chat_turn's system. malloc'd; NULL + err. */
char *gemma_tools_system_prompt(const gemma_tools *t, const char *system, char *err);
/* What the model may write: required = one or more calls right away (with thinking on,
 * attach it after the thought channel closes), else any text without calls, then optionally
 * calls (<|tool_call>call:NAME{args}<tool_call|>, the arguments matching the tool's
 * parameters). An error naming the model if it has no tool tokens. */
gemma_grammar *gemma_tools_grammar(const gemma_model *m, const gemma_tools *t, bool required,
                                   char *err);
/* The GBNF text of gemma_tools_grammar (malloc'd; for printing, no model needed). */
char *gemma_tools_gbnf(const gemma_tools *t, bool required, char *err);
/* The calls in generated text as JSON lines {"name":...,"arguments":{...}}\n (malloc'd,
 * "" if there are none); *n_calls their count. NULL + err on a malformed call. */
char *gemma_tool_calls_parse(const gemma_tools *t, const char *text, size_t len, int *n_calls,
                             char *err);
/* The markup of one call (<|tool_call>call:NAME{...}<tool_call|>), to put a call the model
 * made back into a conversation: call_json is a line of gemma_tool_calls_parse or an OpenAI
 * call {"type":"function","function":{"name":...,"arguments":"{...}"}} (arguments as an object
 * or a JSON text of one). With t, the name must be a declared tool's and the arguments must
 * match its parameters. The tool's name in *name (malloc'd; may be NULL), for
 * gemma_tool_response. malloc'd; NULL + err. */
char *gemma_tool_call_text(const gemma_tools *t, const char *call_json, size_t len, char **name,
                           char *err);
/* The text to feed after the model's calls to give it a tool's result (JSON): the response
 * markup, then the empty thought channel when think is off, as the template does. */
char *gemma_tool_response(const char *name, const char *result_json, size_t len, bool think,
                          char *err);

/* ---- tensors ---- */
/* Dequantize the tensor `name` of a GGUF file into a malloc'd float array of *n elements. */
float *gemma_dequant_tensor(const char *path, const char *name, size_t *n, char *err);

/* ---- misc ---- */
const char *gemma_kernel_path(void);   /* "scalar", "AVX2", ... */
int gemma_default_threads(void);       /* the machine's physical cores */

#endif
