/* Remove in-progress temporary files when the process is killed by SIGINT,
 * SIGTERM or SIGHUP: the handler unlinks every registered path, then
 * re-raises the signal with its default action (so the exit status still
 * says "killed by signal"). Used by the long writers (dmg convert, disk
 * images, release downloads) around their dk_atomic temp files. */
#pragma once

/* Register path (copied); returns a slot for dk_sigclean_del(), or -1 when
 * every slot is taken or the path is too long (then nothing is guarded). */
int dk_sigclean_add(const char *path);
/* Forget a slot (-1 is ignored). Call after the temp file is renamed or unlinked. */
void dk_sigclean_del(int slot);

/* Refuse to replace an existing output that is not a regular file or a
 * symlink (a device such as /dev/null, a FIFO, a socket): renaming the temp
 * file over it would replace the node itself, even with --force. 0 when path
 * does not exist or may be replaced. */
int dk_out_check_kind(const char *path);
