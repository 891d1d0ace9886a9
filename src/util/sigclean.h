/* Remove in-progress temporary files when the process is killed by SIGINT,
 * SIGTERM or SIGHUP: the handler unlinks every registered path, then
 * re-raises the signal with its default action (so the exit status still
 * says "killed by signal"). dk_atomic_open() registers every temp file
 * it creates, and dk_atomic_commit()/dk_atomic_abort() forget it, so every
 * atomic output is covered; other temp files can be registered directly. */
#pragma once

/* Register path (copied); returns a slot for dk_sigclean_del(), or -1 when
 * every slot is taken or the path is too long (then nothing is guarded). */
int dk_sigclean_add(const char *path);
/* Forget a slot (-1 is ignored). Call after the temp file is renamed or unlinked. */
void dk_sigclean_del(int slot);

/* mkostemp(tmpl, O_CLOEXEC) and register the file, with SIGINT/SIGTERM/SIGHUP
 * blocked in between so no signal can leave it behind. Returns the fd (or -1,
 * errno set) and the slot in *slot (-1 when not guarded). */
int dk_sigclean_mkstemp(char *tmpl, int *slot);
