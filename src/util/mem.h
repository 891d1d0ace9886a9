/* Allocation helpers that abort on out-of-memory, and small string tools. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdarg.h>

void *dk_malloc(size_t n);
void *dk_calloc(size_t n, size_t sz);
void *dk_realloc(void *p, size_t n);
char *dk_strdup(const char *s);
char *dk_strndup(const char *s, size_t n);
char *dk_strjoin(const char *a, const char *b);
char *dk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* dk_asprintf() for wrappers that take a va_list. */
char *dk_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

bool dk_startswith(const char *s, const char *prefix);
bool dk_endswith(const char *s, const char *suffix);
char *dk_strstrip(char *s); /* trims in place, returns s */

/* Growable string buffer. */
struct dk_buf {
	char *data;
	size_t len, cap;
};
void dk_buf_append(struct dk_buf *b, const void *data, size_t n);
void dk_buf_puts(struct dk_buf *b, const char *s);
void dk_buf_printf(struct dk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dk_buf_free(struct dk_buf *b);

/* Sizes: "512", "4K", "64M", "2G", "1T", "2GiB", "1.5G" -> bytes. -1 + dk_fail on error. */
int dk_parse_size(const char *s, uint64_t *out);
/* "2.0 GiB" style rendering into buf. */
const char *dk_format_size(uint64_t bytes, char *buf, size_t n);
/* Strict unsigned integer parse (decimal, or 0x hex). */
int dk_parse_u64(const char *s, uint64_t *out);
