/* lineedit.c - the chat's line editor (lineedit.h): raw terminal mode, key decoding, the
 * line buffer with its history, and drawing the line on one screen row.
 *
 *   le_read:  raw mode + bracketed paste on -> draw the prompt -> read bytes -> le_feed each
 *             -> redraw what changed -> until Enter / Ctrl-D / Ctrl-C -> terminal restored
 *   le_feed:  bytes -> keys (ESC [ ... final, ESC O x, UTF-8 sequences, pasted text) -> edits
 *   refresh:  "\r" prompt, the visible part of the line, erase to the end, cursor column
 *
 * Only a few ANSI sequences are written (CSI K, CSI n C, CSI H, CSI 2 J, bracketed-paste
 * mode), which every terminal emulator in use today understands; chat.c does not use this
 * editor for TERM=dumb. */
#include "lineedit.h"
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>


#define MAX_HISTORY 1000
#define NEWLINE_GLYPH "\xE2\x86\xB5" /* U+21B5, how a newline in the line is shown */

typedef enum { IN_TEXT, IN_ESC, IN_CSI, IN_SS3 } input_state;

struct lineedit {
    int in, out;
    const volatile sig_atomic_t *interrupt; /* set by a signal handler: stop reading */
    /* the line: bytes of well-formed UTF-8, the cursor on a character boundary */
    char *buf;
    size_t len, cap, pos;
    /* input decoding */
    input_state state;
    char csi[16];           /* parameter and intermediate bytes of a CSI sequence */
    int csi_len;
    bool pasting, paste_cr; /* inside ESC[200~ ... ESC[201~; the last pasted byte was CR */
    unsigned char utf8[4];  /* a character arriving byte by byte */
    int utf8_have, utf8_need;
    unsigned char inbuf[4096]; /* read but not yet fed (type-ahead after an Enter) */
    size_t in_len, in_pos;
    /* history: this session's entries, oldest first */
    char **hist;
    int n_hist, hist_pos;   /* hist_pos == n_hist: the line being written (kept in scratch) */
    char *scratch;
    /* display */
    const char *prompt;
    int prompt_cols, cols;
    size_t scroll;          /* byte offset of the first visible character */
    bool dirty, clear_screen;
    char echo[64];          /* bytes to write when a character was simply appended */
    size_t echo_len;
};

/* ---------------------------------------------------------------------------------------
 * Characters and columns */

int char_columns(unsigned cp) {
    static const unsigned zero[][2] = {
        {0x0300, 0x036F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F},
        {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}};
    static const unsigned wide[][2] = {
        {0x1100, 0x115F}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF}, {0xA000, 0xA4CF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (cp >= zero[i][0] && cp <= zero[i][1]) return 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (cp >= wide[i][0] && cp <= wide[i][1]) return 2;
    return 1;
}

static bool is_cont(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

static size_t next_char(const lineedit *e, size_t i) {
    if (i < e->len) i++;
    while (i < e->len && is_cont(e->buf[i])) i++;
    return i;
}

static size_t prev_char(const lineedit *e, size_t i) {
    if (i > 0) i--;
    while (i > 0 && is_cont(e->buf[i])) i--;
    return i;
}

/* The code point at s (the buffer holds only well-formed UTF-8). */
static unsigned decode(const char *s) {
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) return c;
    int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    unsigned cp = c & (0x3F >> n);
    for (int k = 1; k <= n; k++) cp = (cp << 6) | ((unsigned char)s[k] & 0x3F);
    return cp;
}

static int columns_at(const lineedit *e, size_t i) {
    char c = e->buf[i];
    return c == '\n' || c == '\t' ? 1 : char_columns(decode(e->buf + i));
}

static size_t columns(const lineedit *e, size_t from, size_t to) {
    size_t w = 0;
    for (size_t i = from; i < to; i = next_char(e, i)) w += (size_t)columns_at(e, i);
    return w;
}

/* Columns of the prompt on screen: colour sequences (ESC [ ... final) take none. */
static int prompt_columns(const char *p) {
    int w = 0;
    for (const char *s = p; *s;) {
        if (*s == '\033' && s[1] == '[') {
            s += 2;
            while (*s && !(*s >= 0x40 && *s <= 0x7E)) s++;
            if (*s) s++;
            continue;
        }
        if (!is_cont(*s)) w += char_columns(decode(s));
        s++;
    }
    return w;
}

/* Columns the line may use: the last one stays free so the cursor never wraps. */
static size_t avail_columns(const lineedit *e) {
    int a = e->cols - e->prompt_cols - 1;
    return a > 1 ? (size_t)a : 1;
}

/* ---------------------------------------------------------------------------------------
 * Editing */

static void set_line(lineedit *e, const char *s) {
    size_t n = strlen(s);
    if (n + 1 > e->cap) {
        e->cap = n + 64;
        e->buf = xrealloc(e->buf, e->cap);
    }
    memcpy(e->buf, s, n + 1);
    e->len = e->pos = n;
    e->dirty = true;
}

/* The glyph a character of the line is drawn as. */
static size_t glyph(const char *c, size_t n, const char **out) {
    if (*c == '\n') { *out = NEWLINE_GLYPH; return 3; }
    if (*c == '\t') { *out = " "; return 1; }
    *out = c;
    return n;
}

static void insert(lineedit *e, const char *s, size_t n) {
    if (e->len + n + 1 > e->cap) {
        e->cap = (e->len + n + 1) * 2;
        e->buf = xrealloc(e->buf, e->cap);
    }
    bool at_end = e->pos == e->len;
    memmove(e->buf + e->pos + n, e->buf + e->pos, e->len - e->pos);
    memcpy(e->buf + e->pos, s, n);
    e->len += n;
    e->pos += n;
    e->buf[e->len] = 0;
    /* appended and still fitting: the terminal only needs the character itself */
    const char *g;
    size_t gl = glyph(s, n, &g);
    if (!e->dirty && at_end && e->echo_len + gl <= sizeof e->echo &&
        columns(e, e->scroll, e->len) <= avail_columns(e)) {
        memcpy(e->echo + e->echo_len, g, gl);
        e->echo_len += gl;
    } else {
        e->dirty = true;
    }
}

static void erase(lineedit *e, size_t from, size_t to) {
    memmove(e->buf + from, e->buf + to, e->len - to);
    e->len -= to - from;
    e->buf[e->len] = 0;
    e->pos = from;
    e->dirty = true;
}

static void move_to(lineedit *e, size_t pos) {
    e->pos = pos;
    e->dirty = true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

static size_t word_left(const lineedit *e) {
    size_t i = e->pos;
    while (i > 0 && is_space(e->buf[i - 1])) i--;
    while (i > 0 && !is_space(e->buf[i - 1])) i--;
    return i;
}

static size_t word_right(const lineedit *e) {
    size_t i = e->pos;
    while (i < e->len && is_space(e->buf[i])) i++;
    while (i < e->len && !is_space(e->buf[i])) i++;
    return i;
}

static void history_move(lineedit *e, int dir) {
    int to = e->hist_pos + dir;
    if (to < 0 || to > e->n_hist) return;
    if (e->hist_pos == e->n_hist) { /* leaving the line being written: keep it */
        free(e->scratch);
        e->scratch = xstrdup(e->buf);
    }
    e->hist_pos = to;
    set_line(e, to == e->n_hist ? (e->scratch ? e->scratch : "") : e->hist[to]);
}

void le_history_add(lineedit *e, const char *line) {
    if (!*line || (e->n_hist && !strcmp(e->hist[e->n_hist - 1], line))) return;
    if (e->n_hist == MAX_HISTORY) {
        free(e->hist[0]);
        memmove(e->hist, e->hist + 1, (size_t)(MAX_HISTORY - 1) * sizeof(char *));
        e->n_hist--;
    }
    e->hist = xrealloc(e->hist, (size_t)(e->n_hist + 1) * sizeof(char *));
    e->hist[e->n_hist++] = xstrdup(line);
    e->hist_pos = e->n_hist;
}

/* ---------------------------------------------------------------------------------------
 * Keys */

/* A byte of text, assembled into whole UTF-8 characters (stray bytes are dropped). */
static void text_byte(lineedit *e, unsigned char c) {
    if (c < 0x80) {
        e->utf8_have = 0;
        char ch = (char)c;
        insert(e, &ch, 1);
        return;
    }
    if (c >= 0xC2 && c <= 0xF4) {
        e->utf8[0] = c;
        e->utf8_have = 1;
        e->utf8_need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        return;
    }
    if (c >= 0x80 && c <= 0xBF && e->utf8_have > 0) {
        e->utf8[e->utf8_have++] = c;
        if (e->utf8_have == e->utf8_need) {
            insert(e, (const char *)e->utf8, (size_t)e->utf8_need);
            e->utf8_have = 0;
        }
        return;
    }
    e->utf8_have = 0;
}

static le_status control_key(lineedit *e, unsigned char c) {
    switch (c) {
    case '\r': case '\n': return LE_LINE;
    case 0x01: move_to(e, 0); break;                                     /* Ctrl-A */
    case 0x05: move_to(e, e->len); break;                                /* Ctrl-E */
    case 0x02: move_to(e, prev_char(e, e->pos)); break;                  /* Ctrl-B */
    case 0x06: move_to(e, next_char(e, e->pos)); break;                  /* Ctrl-F */
    case 0x08: case 0x7F: erase(e, prev_char(e, e->pos), e->pos); break; /* Backspace */
    case 0x04:                                                           /* Ctrl-D */
        if (e->len == 0) return LE_EOF;
        erase(e, e->pos, next_char(e, e->pos));
        break;
    case 0x0B: erase(e, e->pos, e->len); break;                          /* Ctrl-K */
    case 0x15: erase(e, 0, e->pos); break;                               /* Ctrl-U */
    case 0x17: erase(e, word_left(e), e->pos); break;                    /* Ctrl-W */
    case 0x10: history_move(e, -1); break;                               /* Ctrl-P */
    case 0x0E: history_move(e, +1); break;                               /* Ctrl-N */
    case 0x0C: e->clear_screen = e->dirty = true; break;                 /* Ctrl-L */
    case 0x03:                                                           /* Ctrl-C */
        if (e->len == 0) return LE_INTERRUPT;
        erase(e, 0, e->len);
        break;
    case '\t': text_byte(e, c); break;
    default: break; /* other control characters do nothing */
    }
    return LE_MORE;
}

/* The final byte of ESC [ params final. */
static void csi_key(lineedit *e, unsigned char final) {
    e->csi[e->csi_len] = 0;
    const char *p = e->csi;
    bool word = strstr(p, ";5") || strstr(p, ";3"); /* Ctrl- or Alt-arrow */
    if (final == '~') {
        int n = atoi(p);
        if (n == 200) e->pasting = true;
        else if (n == 201) e->pasting = false;
        else if (e->pasting) return;
        else if (n == 1 || n == 7) move_to(e, 0);
        else if (n == 4 || n == 8) move_to(e, e->len);
        else if (n == 3) erase(e, e->pos, next_char(e, e->pos));
        return;
    }
    if (e->pasting) return;
    switch (final) {
    case 'A': history_move(e, -1); break;
    case 'B': history_move(e, +1); break;
    case 'C': move_to(e, word ? word_right(e) : next_char(e, e->pos)); break;
    case 'D': move_to(e, word ? word_left(e) : prev_char(e, e->pos)); break;
    case 'H': move_to(e, 0); break;
    case 'F': move_to(e, e->len); break;
    default: break;
    }
}

/* Pasted text goes in as it is: newlines (CR, LF or CRLF) and tabs included. */
static void paste_byte(lineedit *e, unsigned char c) {
    bool after_cr = e->paste_cr;
    e->paste_cr = c == '\r';
    if (c == '\r' || (c == '\n' && !after_cr)) text_byte(e, '\n');
    else if (c == '\t' || (c >= 0x20 && c != 0x7F)) text_byte(e, c);
}

le_status le_feed(lineedit *e, unsigned char c) {
    switch (e->state) {
    case IN_ESC:
        e->state = c == '[' ? IN_CSI : c == 'O' ? IN_SS3 : IN_TEXT;
        e->csi_len = 0;
        if (e->state != IN_TEXT || e->pasting) return LE_MORE;
        if (c == 'b' || c == 'B') move_to(e, word_left(e));        /* Alt-B */
        else if (c == 'f' || c == 'F') move_to(e, word_right(e));  /* Alt-F */
        else if (c == 0x7F || c == 0x08) erase(e, word_left(e), e->pos);
        return LE_MORE;
    case IN_CSI:
        if (c >= 0x20 && c <= 0x3F) {
            if (e->csi_len < (int)sizeof e->csi - 1) e->csi[e->csi_len++] = (char)c;
            return LE_MORE;
        }
        e->state = IN_TEXT;
        csi_key(e, c);
        return LE_MORE;
    case IN_SS3:
        e->state = IN_TEXT;
        if (!e->pasting) csi_key(e, c); /* ESC O A .. ESC O F: the same keys */
        return LE_MORE;
    case IN_TEXT:
        break;
    }
    if (c == 0x1B) {
        e->state = IN_ESC;
        return LE_MORE;
    }
    if (e->pasting) {
        paste_byte(e, c);
        return LE_MORE;
    }
    if (c < 0x20 || c == 0x7F) return control_key(e, c);
    text_byte(e, c);
    return LE_MORE;
}

void le_begin(lineedit *e) {
    e->len = e->pos = 0;
    if (e->buf) e->buf[0] = 0;
    e->state = IN_TEXT;
    e->pasting = e->paste_cr = false;
    e->utf8_have = 0;
    e->hist_pos = e->n_hist;
    free(e->scratch);
    e->scratch = NULL;
    e->scroll = 0;
    e->dirty = e->clear_screen = false;
    e->echo_len = 0;
}

const char *le_text(const lineedit *e, size_t *cursor) {
    if (cursor) *cursor = e->pos;
    return e->buf ? e->buf : "";
}

/* ---------------------------------------------------------------------------------------
 * The terminal */

static struct termios saved_mode;
static int raw_fd = -1;

static void raw_off(void) {
    if (raw_fd < 0) return;
    tcsetattr(raw_fd, TCSANOW, &saved_mode);
    raw_fd = -1;
}

/* Raw mode: bytes as typed (no echo, no line buffering, Ctrl-C and Ctrl-Z as bytes, CR not
 * turned into LF). Output processing stays on. Type-ahead is kept (TCSANOW). */
static bool raw_on(int fd) {
    static bool registered;
    struct termios raw;
    if (tcgetattr(fd, &saved_mode) != 0) return false;
    raw = saved_mode;
    raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &raw) != 0) return false;
    raw_fd = fd;
    if (!registered) registered = atexit(raw_off) == 0; /* whatever way the program ends */
    return true;
}

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void write_str(int fd, const char *s) { write_all(fd, s, strlen(s)); }

static int terminal_columns(int fd) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* The first character of the widest window that ends at byte `end` and fits in avail
 * columns (walking back from the end: O(window), however long the line). */
static size_t window_start(const lineedit *e, size_t end, size_t avail) {
    size_t start = end, used = 0;
    while (start > 0) {
        size_t p = prev_char(e, start), w = (size_t)columns_at(e, p);
        if (used + w > avail) break;
        used += w;
        start = p;
    }
    return start;
}

/* Draw the line: the window of it that holds the cursor, as wide as the terminal allows. */
static void refresh(lineedit *e) {
    e->cols = terminal_columns(e->out);
    size_t avail = avail_columns(e);
    if (e->pos < e->scroll) e->scroll = e->pos;
    if (columns(e, e->scroll, e->pos) > avail) e->scroll = window_start(e, e->pos, avail);
    else if (e->scroll > 0 && columns(e, e->scroll, e->len) < avail)
        e->scroll = window_start(e, e->len, avail); /* room again (text deleted): show more */

    size_t cap = strlen(e->prompt) + 3 * e->len + 64, n = 0;
    char *out = xmalloc(cap);
    if (e->clear_screen) n += (size_t)snprintf(out + n, cap - n, "\033[H\033[2J");
    n += (size_t)snprintf(out + n, cap - n, "\r%s", e->prompt);
    size_t used = 0;
    for (size_t i = e->scroll; i < e->len; i = next_char(e, i)) {
        size_t w = (size_t)columns_at(e, i);
        if (used + w > avail) break;
        const char *g;
        size_t gl = glyph(e->buf + i, next_char(e, i) - i, &g);
        memcpy(out + n, g, gl);
        n += gl;
        used += w;
    }
    size_t col = (size_t)e->prompt_cols + columns(e, e->scroll, e->pos);
    n += (size_t)snprintf(out + n, cap - n, "\033[0K\r");
    if (col > 0) n += (size_t)snprintf(out + n, cap - n, "\033[%zuC", col);
    write_all(e->out, out, n);
    free(out);
    e->dirty = e->clear_screen = false;
    e->echo_len = 0;
}

static void show_changes(lineedit *e) {
    if (e->dirty) refresh(e);
    else if (e->echo_len) write_all(e->out, e->echo, e->echo_len);
    e->echo_len = 0;
}

/* read(2) that a signal cannot strand: the flag is checked, then poll waits at most
 * 100 ms, so a signal whose handler ran just before the wait (no EINTR then) is still
 * seen within 100 ms. >0 bytes, 0 end of input, -1 interrupted. */
ssize_t read_interruptible(int fd, void *buf, size_t n, const volatile sig_atomic_t *flag) {
    for (;;) {
        if (flag && *flag) return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        int ready = poll(&pf, 1, 100);
        if (ready < 0 && errno == EINTR) continue; /* the flag says whether it matters */
        if (ready == 0) continue;
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR) continue;
        return r < 0 ? 0 : r;
    }
}

/* The next input byte: type-ahead first. 1 ok, 0 end of input, -1 interrupted. */
static int next_byte(lineedit *e, unsigned char *c) {
    if (e->in_pos == e->in_len) {
        show_changes(e);
        ssize_t r = read_interruptible(e->in, e->inbuf, sizeof e->inbuf, e->interrupt);
        if (r <= 0) return (int)r;
        e->in_len = (size_t)r;
        e->in_pos = 0;
    }
    *c = e->inbuf[e->in_pos++];
    return 1;
}

le_status le_read(lineedit *e, const char *prompt, char **line) {
    *line = NULL;
    le_begin(e);
    set_line(e, "");
    e->prompt = prompt;
    e->prompt_cols = prompt_columns(prompt);
    if (!raw_on(e->in)) return LE_EOF;
    write_str(e->out, "\033[?2004h"); /* bracketed paste: a pasted block arrives marked */
    refresh(e);
    le_status st = LE_MORE;
    while (st == LE_MORE) {
        unsigned char c = 0;
        int r = next_byte(e, &c);
        if (r <= 0) {
            st = r == 0 ? LE_EOF : LE_INTERRUPT;
            break;
        }
        st = le_feed(e, c);
    }
    if (st == LE_LINE) {   /* leave the whole line on screen, scrolled to its end */
        e->pos = e->len;
        refresh(e);
        *line = xstrdup(e->buf);
        le_history_add(e, e->buf);
    } else {
        show_changes(e);
        if (st == LE_INTERRUPT) write_str(e->out, "^C");
    }
    write_str(e->out, "\r\n\033[?2004l");
    raw_off();
    return st;
}

lineedit *le_new(int in_fd, int out_fd, const volatile sig_atomic_t *interrupt) {
    lineedit *e = xcalloc(1, sizeof *e);
    e->in = in_fd;
    e->out = out_fd;
    e->interrupt = interrupt;
    e->cols = 80;
    e->prompt = "";
    set_line(e, "");
    le_begin(e);
    return e;
}

void le_free(lineedit *e) {
    if (!e) return;
    for (int i = 0; i < e->n_hist; i++) free(e->hist[i]);
    free(e->hist);
    free(e->scratch);
    free(e->buf);
    free(e);
}
