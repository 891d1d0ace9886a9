/* String lists. A strv is a NULL-terminated array of malloc'd strings (NULL
 * is the empty list); struct dk_strv builds one with amortised appends and
 * keeps v NULL-terminated after every push, so l.v is a strv at all times. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct dk_strv {
	char **v;
	size_t n, cap;
};

/* Append a copy of s. */
void dk_strv_push(struct dk_strv *l, const char *s);
/* Append s itself (malloc'd; the list owns it from now on). */
void dk_strv_push_take(struct dk_strv *l, char *s);
/* The strv (never NULL: an empty list gives an array holding only NULL);
 * l is left empty. Free it with dk_strv_free(). */
char **dk_strv_take(struct dk_strv *l);
/* Free every string and the array; l is left empty. */
void dk_strv_clear(struct dk_strv *l);

size_t dk_strv_len(char *const *v);
bool dk_strv_contains(char *const *v, const char *s);
/* The strings with sep between them, malloc'd ("" for an empty list). */
char *dk_strv_join(char *const *v, const char *sep);
void dk_strv_free(char **v);
