/* repack.c - weights repacked once at load into the kernel set's row-panel layouts.
 *
 * Which: every matrix (or expert stack) the forward pass multiplies whose file type the
 * active kernel set wants in a panel layout (kernels/dispatch.h: repack_to), the tied
 * token_embd included (the output projection is 30-42 % of a token's time; the embedding
 * lookup reads its row back out of the panel, model.c's weight_row, so there is no second
 * copy). An expert stack is repacked when its rows per expert fill whole panels (every
 * Gemma one does), so expert e still starts e x rows x row bytes in; a 2-D matrix's last
 * panel is padded with zero rows.
 *
 * Where: one anonymous region for all of them, asked for in 2 MiB pages (MADV_HUGEPAGE:
 * 60-63 GB/s of reads on this Zen 4 against 53-54 with the file's 4 KiB pages, a token
 * streaming 0.5-1 GB through the TLB), read-only once written. After each matrix is
 * repacked the file mapping's pages of it are dropped (MADV_DONTNEED: the mapping is
 * private and never written, so they are simply unmapped), so resident memory stays about
 * the file's size, never twice it.
 *
 * How fast: each matrix is split by panels over the machine's cores; a panel block is a
 * few dozen 4-byte moves. The file is read once, in order.
 *
 *   model_repack()       plan_add() per matrix, then region_new(), repack_matrix() each
 *   model_repack_free()  the region */
#include "repack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/dispatch.h"
#include "kernels/quant.h"
#include "threads.h"
#include "util.h"

#define HUGE_PAGE ((size_t)2 << 20)

typedef struct {
    weight *w;
    uint32_t to;              /* the panel layout */
    int64_t mats;             /* matrices in the stack (1 for a 2-D weight) */
    int64_t panels;           /* per matrix */
    size_t panel_bytes;
    size_t offset;            /* in the region */
    int same_as;              /* the rows are another item's (bound twice): its copy, -1: none */
} plan_item;

typedef struct {
    plan_item *item;
    int n, cap;
    size_t bytes;
} plan;

/* A matrix for the plan if the set repacks its type and its shape allows it: the forward
 * pass finds its parts (experts; gate and up of a stacked expert, `part` rows each) at row
 * offsets, so those must fall on panel boundaries. */
static void plan_add(plan *p, const kernel_set *ks, weight *w, int64_t part) {
    if (!w->data || w->type >= GGML_TYPE_COUNT) return;
    uint32_t to = ks->repack_to[w->type];
    if (!to) return;
    const type_traits *tt = &ks->type[to];
    int64_t K = w->ne[0], N = w->ne[1], mats = w->ne[2] * w->ne[3];
    if (K % tt->blck_size != 0 || ((mats > 1 || part < N) && part % tt->panel != 0)) return;
    if (p->n == p->cap) p->item = xrealloc(p->item, (size_t)(p->cap = p->cap ? 2 * p->cap : 64) * sizeof *p->item);
    plan_item *it = &p->item[p->n];
    *it = (plan_item){w, to, mats, (N + tt->panel - 1) / tt->panel, quant_panel_size(to, K), p->bytes, -1};
    for (int i = 0; i < p->n; i++)
        if (p->item[i].w->data == w->data && p->item[i].w->type == w->type && p->item[i].w->ne[1] == N &&
            p->item[i].mats == mats) {
            it->same_as = i;
            it->offset = p->item[i].offset;
        }
    p->n++;
    if (it->same_as >= 0) return;
    p->bytes += (size_t)(mats * it->panels) * it->panel_bytes;
    p->bytes = (p->bytes + 63) & ~(size_t)63; /* each matrix on its own cache lines */
}

static void plan_model(plan *p, gemma_model *m) {
    const kernel_set *ks = kernels_active();
    weight *out = m->output.data ? &m->output : &m->tok_embd;
    plan_add(p, ks, out, out->ne[1]);
    for (int il = 0; il < m->n_layer; il++) {
        layer_weights *l = &m->layers[il];
        weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->ffn_gate, &l->ffn_up, &l->ffn_down,
                        &l->gate_exps, &l->up_exps, &l->down_exps, &l->ple_gate, &l->ple_proj};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) plan_add(p, ks, ws[i], ws[i]->ne[1]);
        plan_add(p, ks, &l->gate_up_exps, l->gate_up_exps.ne[1] / 2);
    }
}

/* size bytes of anonymous memory at a 2 MiB boundary, asked for in huge pages. */
static void *region_new(size_t size) {
    size_t span = size + HUGE_PAGE;
    /* cppcheck-suppress invalidFunctionArg ; MAP_ANONYMOUS takes fd -1 (POSIX: portable code passes it) */
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *start = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (start > raw) munmap(raw, (size_t)(start - raw));
    if (raw + span > start + size) munmap(start + size, (size_t)(raw + span - (start + size)));
#ifdef MADV_HUGEPAGE
    madvise(start, size, MADV_HUGEPAGE); /* advice: without THP the pages stay 4 KiB */
#endif
    return start;
}

/* Bytes of [addr, addr + size) the kernel backs with huge pages (Linux's AnonHugePages of the
 * mappings inside it); 0 where /proc/self/smaps is not there. */
static uint64_t huge_bytes(const void *addr, size_t size) {
    FILE *fp = fopen("/proc/self/smaps", "r");
    if (!fp) return 0;
    uintptr_t lo = (uintptr_t)addr, hi = lo + size;
    bool inside = false;
    uint64_t total = 0;
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        unsigned long a, b, kb;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = a < hi && b > lo;
        else if (inside && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
            total += (uint64_t)kb << 10;
    }
    fclose(fp);
    return total;
}

/* Repacking one matrix: thread ith takes panels [P ith / nth, P (ith + 1) / nth). */
typedef struct {
    const plan_item *it;
    uint8_t *dst;
} repack_job;

static void repack_worker(void *arg, int ith, int nth) {
    const repack_job *j = arg;
    const plan_item *it = j->it;
    const weight *w = it->w;
    const type_traits *tt = quant_traits(it->to);
    int64_t N = w->ne[1], P = it->mats * it->panels;
    for (int64_t p = P * ith / nth; p < P * (ith + 1) / nth; p++) {
        int64_t mat = p / it->panels, r0 = p % it->panels * tt->panel;
        int rows = (int)(N - r0 < tt->panel ? N - r0 : tt->panel);
        const uint8_t *src = (const uint8_t *)w->data + (size_t)(mat * N + r0) * w->row_bytes;
        tt->repack(j->dst + (size_t)p * it->panel_bytes, src, w->row_bytes, rows, w->ne[0]);
    }
}

/* Unmap the file pages wholly inside [p, p + n): the copy in the region replaces them. */
static void drop_file_pages(const gguf_file *f, const void *p, size_t n) {
    if (!f->mmapped) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* "Q4_0_R16 x 182, Q8_0_R16 x 1" */
static void describe(const plan *p, char *out, size_t cap) {
    int count[TYPE_COUNT] = {0};
    for (int i = 0; i < p->n; i++) count[p->item[i].to] += p->item[i].same_as < 0;
    size_t len = 0;
    out[0] = 0;
    for (uint32_t t = 0; t < TYPE_COUNT; t++)
        if (count[t] && len < cap) {
            int k = snprintf(out + len, cap - len, "%s%s x %d", len ? ", " : "", quant_type_name(t), count[t]);
            len += k > 0 ? (size_t)k : 0;
        }
}

void model_repack(gemma_model *m) {
    double t0 = now_seconds();
    plan p = {0};
    plan_model(&p, m);
    uint8_t *region = p.n ? region_new(p.bytes) : NULL;
    if (!region) { /* nothing to repack, or no memory for it: the file's layout works too */
        free(p.item);
        return;
    }
    threadpool *pool = pool_new(cpu_physical_cores());
    for (int i = 0; i < p.n; i++) {
        plan_item *it = &p.item[i];
        repack_job j = {it, region + it->offset};
        weight *w = it->w;
        if (it->same_as < 0) {
            pool_run(pool, repack_worker, &j);
            drop_file_pages(m->gguf, w->data, w->row_bytes * (size_t)(w->ne[1] * it->mats));
        }
        w->data = j.dst;
        w->type = it->to;
    }
    pool_free(pool);
    mprotect(region, p.bytes, PROT_READ);
    model_repacked *r = &m->repacked;
    r->n_matrices = 0;
    for (int i = 0; i < p.n; i++) r->n_matrices += p.item[i].same_as < 0;
    r->bytes = p.bytes;
    r->huge_bytes = huge_bytes(region, p.bytes);
    r->region = region;
    r->region_size = p.bytes;
    describe(&p, r->layouts, sizeof r->layouts);
    r->seconds = now_seconds() - t0;
    free(p.item);
}

void model_repack_free(gemma_model *m) {
    if (m->repacked.region) munmap(m->repacked.region, m->repacked.region_size);
    m->repacked.region = NULL;
}
