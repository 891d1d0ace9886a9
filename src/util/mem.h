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

/* Escape an untrusted string (from a file, an archive, a server, argv) for a
 * text-mode terminal: C0 controls (newline, ESC...), DEL, C1 controls, Unicode
 * bidi controls and line/paragraph separators, and every byte that is not
 * valid UTF-8 become \xNN (each byte); a backslash becomes \\. Printable
 * ASCII and valid printable UTF-8 are kept. Malloc'd; NULL for NULL. */
char *dk_str_escape(const char *s);
/* dk_str_escape() for printf arguments: the result lives in one of 16
 * per-thread buffers reused in turn (so up to 16 in one call); "(null)" for NULL.
 * For the CLI's main thread. */
const char *dk_esc(const char *s);
/* The same for messages (dk_errmsg(), warnings) that dk_fail() already kept on
 * one line with C escapes ("\\n"): escapes what is left unsafe but keeps
 * backslashes as they are, so those escapes are not doubled. */
const char *dk_esc_msg(const char *s);
/* dk_esc_msg() malloc'd (for threads: dk_esc's buffers live as long as their thread). */
char *dk_msg_escape(const char *s);

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
