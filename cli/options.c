/* options.c - the option-table parser of options.h: spellings, --name=value, optional
 * values, --help columns, and the nearest known spelling for a typo. */
#include "options.h"

#include <string.h>

#include "cli.h"

/* Calls fn(spelling, length, arg) for each '|'-separated spelling of o; stops when fn
 * returns true and returns true then. */
static bool each_name(const cli_option *o, bool (*fn)(const char *, size_t, void *), void *arg) {
    for (const char *s = o->names; *s;) {
        size_t n = strcspn(s, "|");
        if (fn(s, n, arg)) return true;
        s += n;
        if (*s == '|') s++;
    }
    return false;
}

typedef struct { const char *name; size_t len; } name_ref;

static bool same_name(const char *s, size_t n, void *arg) {
    const name_ref *r = arg;
    return n == r->len && !memcmp(s, r->name, n);
}

static const cli_option *find_option(const cli_option *opts, const char *name, size_t len) {
    name_ref r = {name, len};
    for (const cli_option *o = opts; o->names; o++)
        if (o->id > 0 && each_name(o, same_name, &r)) return o;
    return NULL;
}

/* Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours each cost 1 ("--tmep" is one edit from "--temp", two from "--keep"). */
int edit_distance(const char *a, const char *b) {
    enum { MAX = 64 };
    size_t la = strlen(a) < MAX ? strlen(a) : MAX, lb = strlen(b) < MAX ? strlen(b) : MAX;
    int d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

typedef struct { const char *typed; char best[64]; int dist; } nearest;

static const char *undashed(const char *s) { return s + strspn(s, "-"); }

/* How far a typed option is from a spelling, dashes aside; one that is a start of the
 * other ("--temperature", "--ctx") counts as one edit away. */
static int option_distance(const char *typed, const char *name) {
    const char *t = undashed(typed), *n = undashed(name);
    size_t lt = strlen(t), ln = strlen(n), shorter = lt < ln ? lt : ln;
    if (shorter >= 3 && !strncmp(t, n, shorter)) return lt == ln ? 0 : 1;
    return edit_distance(t, n);
}

static bool closer(const char *s, size_t n, void *arg) {
    nearest *z = arg;
    char name[64];
    if (n >= sizeof name) return false;
    memcpy(name, s, n);
    name[n] = 0;
    int d = option_distance(z->typed, name);
    if (d < z->dist) {
        z->dist = d;
        memcpy(z->best, name, n + 1);
    }
    return false;
}

/* "unknown option '--tmep'; did you mean '--temp'?" when a spelling is within a third of
 * the typed length (at least one edit): close enough to be a typo, not another word. One or
 * two letters ("-x") are too few to guess from. */
_Noreturn static void unknown_option(const cli_option *opts, const char *typed) {
    nearest z = {typed, "", 1 << 30};
    for (const cli_option *o = opts; o->names; o++)
        if (o->id > 0) each_name(o, closer, &z);
    int len = (int)strlen(undashed(typed)), limit = len < 3 ? -1 : len < 6 ? 1 : len / 3;
    if (z.dist <= limit) die_usage("unknown option '%s'; did you mean '%s'?", typed, z.best);
    die_usage("unknown option '%s'", typed);
}

/* Is v one of the words of an optional value "[a|b|c]"? */
static bool is_word(const char *spec, const char *v) {
    size_t n = strlen(v);
    for (const char *s = spec + 1; *s && *s != ']';) {
        size_t k = strcspn(s, "|]");
        if (k == n && !memcmp(s, v, n)) return true;
        s += k;
        if (*s == '|') s++;
    }
    return false;
}

opt_iter opt_start(const cli_option *opts, int argc, char **argv, int first) {
    opt_iter it;
    memset(&it, 0, sizeof it);
    it.opts = opts;
    it.argc = argc;
    it.argv = argv;
    it.i = first;
    return it;
}

int opt_next(opt_iter *it, const char **value) {
    *value = NULL;
    if (it->i >= it->argc) return OPT_END;
    const char *a = it->argv[it->i++];
    if (a[0] != '-' || a[1] == 0) { /* "-" alone is a value: stdin */
        *value = a;
        return OPT_ARG;
    }
    size_t len = strlen(a);
    const char *inline_value = NULL;
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    if (eq) {
        len = (size_t)(eq - a);
        inline_value = eq + 1;
    }
    snprintf(it->name, sizeof it->name, "%.*s", (int)len, a);
    const cli_option *o = find_option(it->opts, a, len);
    if (!o) unknown_option(it->opts, it->name);
    if (!o->value) {
        if (inline_value) die_usage("option '%s' takes no value", it->name);
    } else if (inline_value) {
        *value = inline_value;
    } else if (o->value[0] == '[') {
        if (it->i < it->argc && is_word(o->value, it->argv[it->i])) *value = it->argv[it->i++];
    } else {
        if (it->i >= it->argc) die_usage("option '%s' needs a value (%s)", it->name, o->value);
        *value = it->argv[it->i++];
    }
    return o->id;
}

/* ---------------------------------------------------------------------------------------
 * Help and completion */

typedef struct { char *buf; size_t cap, len; bool first; } line_buf;

static bool append_name(const char *s, size_t n, void *arg) {
    line_buf *l = arg;
    int k = snprintf(l->buf + l->len, l->cap - l->len, "%s%.*s", l->first ? "" : ", ", (int)n, s);
    if (k > 0) l->len = l->len + (size_t)k < l->cap ? l->len + (size_t)k : l->cap - 1;
    l->first = false;
    return false;
}

void opt_print_help(FILE *fp, const cli_option *opts) {
    enum { COLUMN = 30 };
    for (const cli_option *o = opts; o->names; o++) {
        if (o->id == 0) {
            fprintf(fp, "%s\n", o->names);
            continue;
        }
        if (!o->help) continue;
        /* "  -m, --model FILE"; long-only options line up with the long spellings */
        char left[160];
        line_buf l = {left, sizeof left, 0, true};
        l.len = (size_t)snprintf(left, sizeof left, "%s", o->names[1] == '-' ? "      " : "  ");
        each_name(o, append_name, &l);
        if (o->value) snprintf(left + l.len, sizeof left - l.len, " %s", o->value);
        size_t w = strlen(left);
        if (w + 1 < COLUMN) fprintf(fp, "%s%*s", left, (int)(COLUMN - w), "");
        else fprintf(fp, "%s\n%*s", left, COLUMN, "");
        for (const char *h = o->help; *h;) { /* continuation lines of the help text */
            size_t n = strcspn(h, "\n");
            fprintf(fp, "%.*s\n", (int)n, h);
            h += n;
            if (*h == '\n' && *++h) fprintf(fp, "%*s", COLUMN, "");
        }
    }
}

static bool print_name(const char *s, size_t n, void *arg) {
    fprintf((FILE *)arg, " %.*s", (int)n, s);
    return false;
}

void opt_print_names(FILE *fp, const cli_option *opts) {
    for (const cli_option *o = opts; o->names; o++)
        if (o->id > 0) each_name(o, print_name, fp);
}
