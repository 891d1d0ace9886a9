#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[DK_ERRMSG_MAX];

/* Keep the message on one line: control characters (a newline in a file name,
 * say) become C escapes, so "dkvm: <what>: <why>" stays one line. */
static void one_line(void)
{
	char tmp[DK_ERRMSG_MAX];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)errbuf; *p && o + 5 < sizeof tmp; p++) {
		if (*p >= 0x20 && *p != 0x7f) {
			tmp[o++] = (char)*p;
			continue;
		}
		const char *esc = *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : *p == '\r' ? "\\r" : NULL;
		if (esc)
			o += (size_t)snprintf(tmp + o, sizeof tmp - o, "%s", esc);
		else
			o += (size_t)snprintf(tmp + o, sizeof tmp - o, "\\x%02x", *p);
	}
	tmp[o] = '\0';
	memcpy(errbuf, tmp, o + 1);
}

int dk_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	one_line();
	return -1;
}

/* errbuf = "<a>: <b>", cut at the buffer's end (messages are bounded). */
static void set_joined(const char *a, const char *b)
{
	size_t la = strnlen(a, sizeof errbuf - 3);
	memmove(errbuf, a, la);
	memcpy(errbuf + la, ": ", 2);
	size_t lb = strnlen(b, sizeof errbuf - la - 3);
	memmove(errbuf + la + 2, b, lb);
	errbuf[la + 2 + lb] = '\0';
}

int dk_fail_errno(const char *fmt, ...)
{
	int e = errno;
	char tmp[DK_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	set_joined(tmp, strerror(e));
	one_line();
	errno = e;
	return -1;
}

int dk_fail_prefix(const char *fmt, ...)
{
	char pre[DK_ERRMSG_MAX], old[DK_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	snprintf(old, sizeof old, "%s", errbuf);
	set_joined(pre, old);
	one_line();
	return -1;
}

const char *dk_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

void dk_errclear(void)
{
	errbuf[0] = '\0';
}
