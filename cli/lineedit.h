/* lineedit.h - the chat's line editor at a terminal: our own, no library. The terminal is
 * in raw mode (termios) only while a line is read; the line is drawn on one screen row and
 * scrolls sideways when it is wider than the terminal.
 *
 * Keys: Left/Right (Ctrl-B/F), Ctrl-Left/Right and Alt-B/F by word, Home/End (Ctrl-A/E),
 * Backspace, Delete (Ctrl-D on a non-empty line), Ctrl-K (to the end), Ctrl-U (to the
 * start), Ctrl-W (the word before the cursor), Up/Down (Ctrl-P/N) through the lines entered
 * in this session, Ctrl-L (clear the screen), Enter. Bracketed paste: a pasted block is
 * inserted whole, newlines included (shown as '↵'), and Enter sends it as one entry.
 * Ctrl-C clears a non-empty line; on an empty one le_read returns LE_INTERRUPT.
 *
 * The key handling (le_feed) is separate from the terminal, so tests can feed it bytes. */
#ifndef GEMMA_LINEEDIT_H
#define GEMMA_LINEEDIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct lineedit lineedit;

typedef enum {
    LE_MORE,       /* le_feed: still editing */
    LE_LINE,       /* Enter: an entry */
    LE_EOF,        /* Ctrl-D on an empty line, or the end of input */
    LE_INTERRUPT,  /* Ctrl-C on an empty line (or SIGINT while reading) */
} le_status;

/* An editor reading in_fd and drawing on out_fd (both a terminal for le_read). le_read
 * returns LE_INTERRUPT once *interrupt (a signal handler's flag; may be NULL) is set. */
lineedit *le_new(int in_fd, int out_fd, const volatile sig_atomic_t *interrupt);
void le_free(lineedit *e);

/* Show the prompt (it may hold colour sequences) and read one entry: LE_LINE with a
 * malloc'd string in *line (added to the history unless empty or a repeat), LE_EOF, or
 * LE_INTERRUPT. The terminal is back in its own mode on return. */
le_status le_read(lineedit *e, const char *prompt, char **line);

/* ---- the editor without a terminal (le_read drives these; tests call them) ---- */
void le_begin(lineedit *e);                        /* an empty line */
le_status le_feed(lineedit *e, unsigned char c);   /* one input byte */
const char *le_text(const lineedit *e, size_t *cursor); /* the line and the cursor's byte offset */
void le_history_add(lineedit *e, const char *line);

/* read(2) of up to n bytes that a signal cannot strand in a blocking wait: returns -1 once
 * *flag is set (within 100 ms), 0 at the end of input or on an error, else the bytes read. */
ssize_t read_interruptible(int fd, void *buf, size_t n, const volatile sig_atomic_t *flag);

/* Columns a code point takes on a terminal: 0 (combining marks), 2 (East Asian wide, emoji)
 * or 1. */
int char_columns(unsigned cp);

#endif
