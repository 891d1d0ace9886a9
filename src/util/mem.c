#include "util/mem.h"
#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
	fputs("dkvm: out of memory\n", stderr);
	abort();
}

void *dk_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *dk_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		oom();
	return p;
}

void *dk_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *dk_strdup(const char *s)
{
	return dk_strndup(s, strlen(s));
}

char *dk_strndup(const char *s, size_t n)
{
	char *r = dk_malloc(n + 1);
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

char *dk_strjoin(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *r = dk_malloc(la + lb + 1);
	memcpy(r, a, la);
	memcpy(r + la, b, lb + 1);
	return r;
}

char *dk_vasprintf(const char *fmt, va_list ap)
{
	char *r = NULL;
	if (vasprintf(&r, fmt, ap) < 0)
		oom();
	return r;
}

char *dk_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *r = dk_vasprintf(fmt, ap);
	va_end(ap);
	return r;
}

bool dk_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool dk_endswith(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *dk_strstrip(char *s)
{
	char *p = s;
	while (*p && isspace((unsigned char)*p))
		p++;
	size_t l = strlen(p);
	while (l && isspace((unsigned char)p[l - 1]))
		p[--l] = '\0';
	if (p != s)
		memmove(s, p, l + 1);
	return s;
}

void dk_buf_append(struct dk_buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = dk_realloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void dk_buf_puts(struct dk_buf *b, const char *s)
{
	dk_buf_append(b, s, strlen(s));
}

void dk_buf_printf(struct dk_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	dk_buf_append(b, s, (size_t)n);
	free(s);
}

void dk_buf_free(struct dk_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int dk_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return dk_fail("'%s': not a number", s ? s : "");
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return dk_fail("'%s': not a number", s);
	*out = v;
	return 0;
}

int dk_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-')
		return dk_fail("'%s': not a size", s ? s : "");
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return dk_fail("'%s': not a size", s);
	double mul = 1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'B': break;
	case 'K': mul = 1024.0; break;
	case 'M': mul = 1024.0 * 1024; break;
	case 'G': mul = 1024.0 * 1024 * 1024; break;
	case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
	default: return dk_fail("'%s': unknown size unit", s);
	}
	if (*end && toupper((unsigned char)*end) != 'B') {
		end++;
		if (*end == 'i')
			end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
	} else if (*end) {
		end++;
	}
	if (*end)
		return dk_fail("'%s': unknown size unit", s);
	double bytes = v * mul;
	if (bytes > 9.0e18)
		return dk_fail("'%s': size too large", s);
	*out = (uint64_t)bytes;
	return 0;
}

const char *dk_format_size(uint64_t bytes, char *buf, size_t n)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, n, "%.1f %s", v, units[u]);
	return buf;
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0. *cp receives it. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t v, min;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Code points a terminal acts on or that reorder/break the line. */
static bool cp_unsafe(uint32_t v)
{
	return (v >= 0x80 && v <= 0x9f) || v == 0x061c || v == 0x200e || v == 0x200f ||
	       (v >= 0x2028 && v <= 0x202e) || (v >= 0x2066 && v <= 0x2069);
}

static char *escape(const char *s, bool keep_backslash)
{
	if (!s)
		return NULL;
	struct dk_buf b = {0};
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp = 0;
		size_t n = *p >= 0x80 ? utf8_seq(p, &cp) : 0;
		if (*p == '\\' && !keep_backslash) {
			dk_buf_puts(&b, "\\\\");
			p++;
		} else if (*p >= 0x20 && *p < 0x7f) { /* a kept backslash too */
			dk_buf_append(&b, p++, 1);
		} else if (n && !cp_unsafe(cp)) {
			dk_buf_append(&b, p, n);
			p += n;
		} else {
			for (size_t k = n ? n : 1; k; k--)
				dk_buf_printf(&b, "\\x%02x", *p++);
		}
	}
	if (!b.data)
		b.data = dk_calloc(1, 1);
	return b.data;
}

char *dk_str_escape(const char *s)
{
	return escape(s, false);
}

char *dk_msg_escape(const char *s)
{
	return escape(s, true);
}

static const char *ring_escape(const char *s, bool keep_backslash)
{
	static _Thread_local char *ring[16];
	static _Thread_local unsigned next;
	if (!s)
		return "(null)";
	unsigned i = next++ % 16;
	free(ring[i]);
	ring[i] = escape(s, keep_backslash);
	return ring[i];
}

const char *dk_esc(const char *s)
{
	return ring_escape(s, false);
}

const char *dk_esc_msg(const char *s)
{
	return ring_escape(s, true);
}
