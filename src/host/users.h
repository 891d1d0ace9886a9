/* The sysroot's user and group files (/etc/passwd, /etc/group): one reader
 * for the probes (probe.c: the invoking user's groups; qemuuser.c: libvirt's
 * QEMU user). Reads go through hread, so `host report` records them. */
#pragma once
#include <stdbool.h>

/* One line of a colon file split at ':' into up to 7 fields; the fields the
 * line lacks are "" and n says how many it has. line owns the text. */
struct dk_users_ent {
	char *line;
	char *f[7];
	int n;
};

/* Split the line at *cur into e (freeing e's previous line) and move *cur to
 * the next one; false at the end of the file (e is then empty). */
bool dk_users_next(const char **cur, struct dk_users_ent *e);
/* The first line (empty and '#' lines skipped) whose field key_idx is key;
 * false if none. Free e with dk_users_ent_free either way. */
bool dk_users_find(const char *file, int key_idx, const char *key, struct dk_users_ent *e);
void dk_users_ent_free(struct dk_users_ent *e);

/* Whether the comma-separated list (NULL: empty) has the word w. */
bool dk_users_list_has(const char *list, const char *w);

/* Whether the sysroot's /etc/group has group (a line "group:x:gid..."), in
 * *exists, and lists user among its members (the return value; false for an
 * empty user). */
bool dk_users_group_lists(const char *group, const char *user, bool *exists);
