/* The sysroot's /etc/passwd and /etc/group (see users.h). */
#include "host/users.h"
#include "host/internal.h"
#include "util/cleanup.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

void dk_users_ent_free(struct dk_users_ent *e)
{
	free(e->line);
	*e = (struct dk_users_ent){0};
}

bool dk_users_next(const char **cur, struct dk_users_ent *e)
{
	dk_users_ent_free(e);
	const char *p = *cur;
	if (!p || !*p)
		return false;
	size_t len = strcspn(p, "\n");
	*cur = p[len] ? p + len + 1 : p + len;
	char *s = e->line = dk_strndup(p, len);
	for (char *tok; e->n < 7 && (tok = strsep(&s, ":")); e->n++)
		e->f[e->n] = tok;
	for (int i = e->n; i < 7; i++)
		e->f[i] = e->line + len;
	return true;
}

bool dk_users_find(const char *file, int key_idx, const char *key, struct dk_users_ent *e)
{
	for (const char *p = file; dk_users_next(&p, e);)
		if (e->line[0] && e->line[0] != '#' && e->n > key_idx && !strcmp(e->f[key_idx], key))
			return true;
	return false;
}

bool dk_users_list_has(const char *list, const char *w)
{
	size_t l = strlen(w);
	for (const char *p = list; p && *p;) {
		size_t t = strcspn(p, ",");
		if (t == l && !strncmp(p, w, l))
			return true;
		p += t + (p[t] == ',');
	}
	return false;
}

bool dk_users_group_lists(const char *group, const char *user, bool *exists)
{
	_cleanup_free_ char *g = hread("/etc/group");
	struct dk_users_ent e = {0};
	*exists = dk_users_find(g, 0, group, &e) && e.n >= 3;
	bool listed = *exists && user[0] && dk_users_list_has(e.f[3], user);
	dk_users_ent_free(&e);
	return listed;
}
