#include "util/strv.h"
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

void dk_strv_push_take(struct dk_strv *l, char *s)
{
	if (l->n + 1 >= l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = dk_realloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
}

void dk_strv_push(struct dk_strv *l, const char *s)
{
	dk_strv_push_take(l, dk_strdup(s));
}

char **dk_strv_take(struct dk_strv *l)
{
	char **v = l->v ? l->v : dk_calloc(1, sizeof *v);
	l->v = NULL;
	l->n = l->cap = 0;
	return v;
}

void dk_strv_clear(struct dk_strv *l)
{
	dk_strv_free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

size_t dk_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

bool dk_strv_contains(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

char *dk_strv_join(char *const *v, const char *sep)
{
	struct dk_buf b = {0};
	dk_buf_puts(&b, "");
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			dk_buf_puts(&b, sep);
		dk_buf_puts(&b, v[i]);
	}
	return b.data;
}

void dk_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}
