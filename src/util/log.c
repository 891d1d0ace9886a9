#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

int dk_verbosity = DK_NORMAL;
bool dk_color = false;

__attribute__((format(printf, 2, 0))) static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void dk_info(const char *fmt, ...)
{
	if (dk_verbosity < DK_NORMAL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void dk_verbose(const char *fmt, ...)
{
	if (dk_verbosity < DK_VERBOSE)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("dkvm: ", fmt, ap);
	va_end(ap);
}

void dk_warn(const char *fmt, ...)
{
	if (dk_verbosity < DK_NORMAL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog("dkvm: warning: ", fmt, ap);
	va_end(ap);
}
