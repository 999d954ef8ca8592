/* chat.h - the interactive chat (chat.c), which generate.c starts on its session. */
#ifndef GEMMA_CHAT_H
#define GEMMA_CHAT_H

#include "session.h"

/* The interactive chat on S; first_turn (-cnv -p TEXT) is sent before the first prompt.
 * Returns the exit status. */
int run_chat(session *S, const char *system, const char *first_turn);

#endif
