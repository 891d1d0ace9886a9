#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[DK_ERRMSG_MAX];

int dk_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	return -1;
}

int dk_fail_errno(const char *fmt, ...)
{
	int e = errno;
	char tmp[DK_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	snprintf(errbuf, sizeof errbuf, "%s: %s", tmp, strerror(e));
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
	snprintf(errbuf, sizeof errbuf, "%s: %s", pre, old);
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
