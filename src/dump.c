/* dump.c - GEMMA_DUMP (dump.h): the list is parsed once, into a table of wanted (point,
 * layer) pairs; each asked-for point then prints a summary of its rows to stderr or appends
 * them to its file. */
#include "dump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static const struct {
    const char *name;
    bool layered;      /* one per layer: NAME-N */
} points[DUMP_POINTS] = {
    [DUMP_INP_EMBD] = {"inp_embd", false},        [DUMP_INP_SCALED] = {"inp_scaled", false},
    [DUMP_ATTN_NORM] = {"attn_norm", true},       [DUMP_KQV_OUT] = {"kqv_out", true},
    [DUMP_ATTN_OUT] = {"attn_out", true},         [DUMP_FFN_INP] = {"ffn_inp", true},
    [DUMP_FFN_OUT] = {"ffn_out", true},           [DUMP_L_OUT] = {"l_out", true},
    [DUMP_RESULT_NORM] = {"result_norm", false},  [DUMP_RESULT_OUTPUT] = {"result_output", false},
};

struct dumper {
    int n_layer;
    char *dir;           /* NULL: print to stderr */
    bool *wanted;        /* [DUMP_POINTS][n_layer + 1], slot n_layer: outside the layers */
    bool *started;       /* the same: the point's file was created by this dumper */
    int pos0;            /* the current micro-batch's first position */
    bool failed;         /* a write failed; its message is in err */
    char err[GEMMA_ERR_LEN];
};

static size_t slot(const dumper *d, dump_point p, int il) {
    return (size_t)p * (size_t)(d->n_layer + 1) + (size_t)(il < 0 ? d->n_layer : il);
}

/* "l_out-3", "result_norm" */
static void point_name(char *buf, size_t cap, dump_point p, int il) {
    if (il < 0) snprintf(buf, cap, "%s", points[p].name);
    else snprintf(buf, cap, "%s-%d", points[p].name, il);
}

/* Mark one item of the list: NAME, NAME-N, all or all-N (len bytes at s). */
static int want_item(dumper *d, const char *s, size_t len, char *err) {
    char item[64];
    if (len >= sizeof item) return set_err(err, "GEMMA_DUMP: name '%.*s...' is too long", 40, s);
    memcpy(item, s, len);
    item[len] = 0;
    int layer = -1; /* -1: every layer */
    char *dash = strrchr(item, '-');
    if (dash && dash[1]) {
        char *end;
        errno = 0;
        long v = strtol(dash + 1, &end, 10);
        if (*end == 0 && dash[1] >= '0' && dash[1] <= '9') {
            if (errno || v >= d->n_layer)
                return set_err(err, "GEMMA_DUMP: '%s': the model has layers 0 .. %d", item, d->n_layer - 1);
            layer = (int)v;
            *dash = 0;
        }
    }
    bool all = strcmp(item, "all") == 0, found = all;
    for (int p = 0; p < DUMP_POINTS; p++) {
        if (!all && strcmp(item, points[p].name) != 0) continue;
        found = true;
        if (!points[p].layered) {
            if (layer >= 0 && !all)
                return set_err(err, "GEMMA_DUMP: '%s-%d': %s is not a per-layer point", item, layer, item);
            if (layer < 0) d->wanted[slot(d, (dump_point)p, -1)] = true;
            continue;
        }
        for (int il = 0; il < d->n_layer; il++)
            if (layer < 0 || il == layer) d->wanted[slot(d, (dump_point)p, il)] = true;
    }
    if (!found) {
        char known[512] = "";
        for (int p = 0; p < DUMP_POINTS; p++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", points[p].name,
                     points[p].layered ? "[-N], " : ", ");
        return set_err(err, "GEMMA_DUMP: unknown name '%s' (known: %sall[-N])", item, known);
    }
    return 0;
}

int dumper_new(const char *spec, const char *dir, int n_layer, dumper **out, char *err) {
    *out = NULL;
    if (!spec || !*spec) return 0;
    if (dir && *dir) {
        struct stat st;
        if (stat(dir, &st) != 0) return set_err(err, "GEMMA_DUMP_DIR: '%s': %s", dir, strerror(errno));
        if (!S_ISDIR(st.st_mode)) return set_err(err, "GEMMA_DUMP_DIR: '%s' is not a directory", dir);
    }
    dumper *d = xcalloc(1, sizeof *d);
    d->n_layer = n_layer;
    d->dir = dir && *dir ? xstrdup(dir) : NULL;
    d->wanted = xcalloc((size_t)DUMP_POINTS * (size_t)(n_layer + 1), sizeof(bool));
    d->started = xcalloc((size_t)DUMP_POINTS * (size_t)(n_layer + 1), sizeof(bool));
    for (const char *s = spec; *s;) {
        size_t len = strcspn(s, ",");
        if (len > 0 && want_item(d, s, len, err)) {
            dumper_free(d);
            return -1;
        }
        s += len;
        if (*s == ',') s++;
    }
    *out = d;
    return 0;
}

void dumper_free(dumper *d) {
    if (!d) return;
    free(d->dir);
    free(d->wanted);
    free(d->started);
    free(d);
}

void dump_batch(dumper *d, int pos0) { d->pos0 = pos0; }

/* "  pos 5: [v0, v1, v2, ..., v(w-3), v(w-2), v(w-1)] sum s" per row, after a header with the
 * shape {width, rows} and the sum of everything (what llama.cpp's eval-callback shows). */
static void print_rows(const dumper *d, const char *name, const float *x, int width, int n, int r0) {
    double total = 0;
    for (size_t i = 0; i < (size_t)width * (size_t)n; i++) total += x[i];
    fprintf(stderr, "gemma dump: %s {%d, %d} positions %d..%d sum %.6g\n", name, width, n, d->pos0 + r0,
            d->pos0 + r0 + n - 1, total);
    for (int r = 0; r < n; r++) {
        const float *row = x + (size_t)r * width;
        double sum = 0;
        for (int i = 0; i < width; i++) sum += row[i];
        fprintf(stderr, "  pos %d: [", d->pos0 + r0 + r);
        for (int i = 0; i < width; i++) {
            if (width > 6 && i == 3) {
                fprintf(stderr, ", ...");
                i = width - 3;
            }
            fprintf(stderr, "%s%.6g", i ? ", " : "", row[i]);
        }
        fprintf(stderr, "] sum %.6g\n", sum);
    }
}

/* Append the rows to DIR/NAME.f32, created anew by the first write of this dumper. */
static void write_rows(dumper *d, size_t k, const char *name, const float *x, int width, int n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.f32", d->dir, name);
    FILE *f = fopen(path, d->started[k] ? "ab" : "wb");
    size_t count = (size_t)width * (size_t)n;
    bool ok = f && fwrite(x, sizeof(float), count, f) == count;
    if (f && fclose(f) != 0) ok = false;
    if (!ok && !d->failed) {
        set_err(d->err, "GEMMA_DUMP_DIR: cannot write '%s': %s", path, strerror(errno));
        d->failed = true;
    }
    d->started[k] = true;
}

void dump_rows(dumper *d, dump_point p, int il, const float *x, int width, int n, int r0) {
    size_t k = slot(d, p, il);
    if (!d->wanted[k]) return;
    char name[64];
    point_name(name, sizeof name, p, il);
    if (d->dir) write_rows(d, k, name, x, width, n);
    else print_rows(d, name, x, width, n, r0);
}

int dump_error(dumper *d, char *err) {
    if (!d->failed) return 0;
    d->failed = false;
    return set_err(err, "%s", d->err);
}
