/* test_lineedit.c - the chat's line editor fed key bytes as a terminal sends them (no
 * terminal needed: le_feed is the editor without its screen). Each case types keys and
 * checks the line, the cursor and what the editor answers. test_chat.c drives the same
 * editor through a real pseudo-terminal. */
#include <stdlib.h>
#include <string.h>

#include "lineedit.h"
#include "test.h"

#define LEFT "\033[D"
#define RIGHT "\033[C"
#define UP "\033[A"
#define DOWN "\033[B"

/* Feed keys; returns the first status that is not LE_MORE (or LE_MORE). */
static le_status type(lineedit *e, const char *keys) {
    for (const char *k = keys; *k; k++) {
        le_status st = le_feed(e, (unsigned char)*k);
        if (st != LE_MORE) return st;
    }
    return LE_MORE;
}

/* Start an empty line, type keys, and compare the line and the cursor (byte offset). */
static void check(lineedit *e, const char *what, const char *keys, const char *want, size_t want_cursor,
                  le_status want_status) {
    TEST_BEGIN("lineedit: %s", what);
    le_begin(e);
    le_status st = type(e, keys);
    size_t cursor;
    const char *got = le_text(e, &cursor);
    EXPECT(!strcmp(got, want), "line '%s', want '%s'", got, want);
    EXPECT(cursor == want_cursor, "cursor at byte %zu, want %zu", cursor, want_cursor);
    EXPECT(st == want_status, "status %d, want %d", (int)st, (int)want_status);
    TEST_END();
}

static void editing(void) {
    lineedit *e = le_new(-1, -1, NULL);
    check(e, "typing", "hello", "hello", 5, LE_MORE);
    check(e, "Enter ends the line (CR, as a raw terminal sends it)", "hi\r", "hi", 2, LE_LINE);
    check(e, "Left, then typing inserts there", "helo" LEFT "l", "hello", 4, LE_MORE);
    check(e, "Left and Backspace in the middle", "helxo" LEFT "\x7f" "l", "hello", 4, LE_MORE);
    check(e, "Right stops at the end", "ab" LEFT LEFT RIGHT RIGHT RIGHT "c", "abc", 3, LE_MORE);
    check(e, "Ctrl-B / Ctrl-F move too", "ac\x02" "b\x06" "d", "abcd", 4, LE_MORE);
    check(e, "Home (CSI H) and End (CSI F)", "bc\033[Ha\033[Fd", "abcd", 4, LE_MORE);
    check(e, "Home / End as CSI 1~ / 4~ and SS3 H / F", "bc\033[1~a\033[4~d\033OHx\033OFy", "xabcdy", 6, LE_MORE);
    check(e, "Ctrl-A / Ctrl-E", "bc\x01" "a\x05" "d", "abcd", 4, LE_MORE);
    check(e, "Backspace as ^H too", "abc\x08", "ab", 2, LE_MORE);
    check(e, "Delete (CSI 3~) removes the character under the cursor", "abc" LEFT LEFT "\033[3~", "ac", 1, LE_MORE);
    check(e, "Ctrl-D on a non-empty line deletes under the cursor", "abc\x01\x04", "bc", 0, LE_MORE);
    check(e, "Ctrl-D on an empty line is the end of input", "\x04", "", 0, LE_EOF);
    check(e, "Ctrl-K cuts to the end", "hello world" "\033[H" RIGHT RIGHT "\x0b", "he", 2, LE_MORE);
    check(e, "Ctrl-U cuts to the start", "hello world" LEFT LEFT "\x15", "ld", 0, LE_MORE);
    check(e, "Ctrl-W deletes the word before the cursor", "one two three\x17", "one two ", 8, LE_MORE);
    check(e, "Ctrl-W skips spaces first", "one two   \x17", "one ", 4, LE_MORE);
    check(e, "Ctrl-Left / Alt-b jump a word back, Ctrl-Right / Alt-f forward",
          "one two three\033[1;5D\033bX\033fY\033[1;5CZ", "one XtwoY threeZ", 16, LE_MORE);
    check(e, "Alt-f moves to the end of the word", "one two\033[H\033fX", "oneX two", 4, LE_MORE);
    check(e, "Ctrl-C on a non-empty line clears it", "some text\x03", "", 0, LE_MORE);
    check(e, "Ctrl-C on an empty line interrupts", "\x03", "", 0, LE_INTERRUPT);
    check(e, "unknown keys (PageUp, F5, Shift-F1) change nothing", "ab\033[5~\033[15~\033[1;2P", "ab", 2, LE_MORE);
    check(e, "other control characters are ignored", "a\x07\x12\x1a" "b", "ab", 2, LE_MORE);
    le_free(e);
}

static void utf8(void) {
    lineedit *e = le_new(-1, -1, NULL);
    check(e, "UTF-8: Backspace removes a whole character", "caf\xc3\xa9\x7f", "caf", 3, LE_MORE);
    check(e, "UTF-8: Left steps over a 3-byte character", "a\xe2\x82\xac" LEFT "b", "ab\xe2\x82\xac", 2, LE_MORE);
    check(e, "UTF-8: a 4-byte character", "\xf0\x9f\xa6\x99" LEFT "x", "x\xf0\x9f\xa6\x99", 1, LE_MORE);
    check(e, "UTF-8: stray continuation and invalid bytes are dropped", "a\x80\xff" "b\xc3" "c", "abc", 3, LE_MORE);
    le_free(e);

    TEST_BEGIN("lineedit: character widths (wide CJK and emoji 2, combining marks 0)");
    EXPECT(char_columns('a') == 1, "a");
    EXPECT(char_columns(0x4E2D) == 2, "U+4E2D");
    EXPECT(char_columns(0xAC00) == 2, "U+AC00");
    EXPECT(char_columns(0x1F600) == 2, "U+1F600");
    EXPECT(char_columns(0x0301) == 0, "U+0301");
    EXPECT(char_columns(0x00E9) == 1, "U+00E9");
    TEST_END();
}

static void history(void) {
    lineedit *e = le_new(-1, -1, NULL);
    le_history_add(e, "first");
    le_history_add(e, "second");
    le_history_add(e, "second");   /* a repeat is not stored twice */
    le_history_add(e, "");         /* nor an empty line */
    check(e, "Up recalls the last entry, cursor at its end", UP, "second", 6, LE_MORE);
    check(e, "Up twice: the one before", UP UP, "first", 5, LE_MORE);
    check(e, "Up past the oldest stays there", UP UP UP UP, "first", 5, LE_MORE);
    check(e, "Down comes back", UP UP DOWN, "second", 6, LE_MORE);
    check(e, "Down past the newest restores what was being typed", "draft" UP UP DOWN DOWN, "draft", 5, LE_MORE);
    check(e, "Ctrl-P / Ctrl-N are Up / Down", "\x10\x10\x0e", "second", 6, LE_MORE);
    check(e, "a recalled entry can be edited", UP "\x7f\x7f\x7f" "nd", "secnd", 5, LE_MORE);
    check(e, "editing a recalled entry does not change the history", UP, "second", 6, LE_MORE);
    check(e, "Down without history browsing does nothing", "x" DOWN, "x", 1, LE_MORE);
    le_free(e);
}

static void paste(void) {
    lineedit *e = le_new(-1, -1, NULL);
    check(e, "bracketed paste: three lines are one entry (CR, LF, CRLF)",
          "\033[200~line one\rline two\r\nline three\033[201~", "line one\nline two\nline three", 28, LE_MORE);
    check(e, "bracketed paste: Enter afterwards sends it", "\033[200~a\nb\033[201~\r", "a\nb", 3, LE_LINE);
    check(e, "bracketed paste: tabs kept, other control bytes and keys dropped",
          "\033[200~a\tb\x03\x7f\033[Dc\033[201~", "a\tbc", 4, LE_MORE);
    check(e, "bracketed paste: inserted at the cursor", "ad" LEFT "\033[200~b\nc\033[201~", "ab\ncd", 4, LE_MORE);
    check(e, "keys work again after the paste", "\033[200~ab\033[201~" LEFT "\x7f", "b", 0, LE_MORE);
    le_free(e);
}

void suite_lineedit(void) {
    editing();
    utf8();
    history();
    paste();
}
