/* test.h - a tiny test harness (no framework). A test case is a block between
 * TEST_BEGIN and TEST_END; EXPECT records failures into the current case. The runner prints
 * "ok   name" or "FAIL name" per case and finally "N passed, N failed". */
#ifndef GEMMA_TEST_H
#define GEMMA_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

void test_begin(const char *fmt, ...);
void test_failf(const char *file, int line, const char *fmt, ...);
void test_end(void);
void test_skip(const char *fmt, ...);   /* report a skipped case (counts as neither) */

#define TEST_BEGIN(...) test_begin(__VA_ARGS__)
#define TEST_END() test_end()
#define EXPECT(cond, ...) \
    do { if (!(cond)) test_failf(__FILE__, __LINE__, __VA_ARGS__); } while (0)

/* Path of a fixture: "<fixtures dir>/<rel>" (dir = $GEMMA_FIXTURES or tests/fixtures).
 * Returns a static buffer (overwritten by the next call). */
const char *fixture_path(const char *rel);
/* Read a whole file into a malloc'd buffer (NUL-terminated, *len excludes the NUL).
 * Returns NULL if it cannot be read. */
char *read_file(const char *path, size_t *len);
/* A scratch directory for test outputs (created on demand): "build/tmp". */
const char *tmp_dir(void);

/* Suites, one per test file. */
void suite_gguf(void);
void suite_quants(void);
void suite_tokenizer(void);
void suite_sampler(void);
void suite_model(void);
void suite_chat(void);
void suite_mkmodel(void);
void suite_quantize(void);
void suite_perplexity(void);
void suite_simd(void);
void suite_panels(void);
void suite_amx(void);
void suite_neon(void);
void suite_regress(void);
void suite_fixtures(void);
void suite_kvcache(void);
void suite_dump(void);
void suite_grammar(void);
void suite_json_schema(void);
void suite_toolcall(void);
void suite_constrained(void);
void suite_step(void);
void suite_lineedit(void);
void suite_stream(void);
void suite_threads(void);
void suite_http(void);
void suite_serve(void);
void suite_batch(void);

#endif
