#include "util/log.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int dk_verbosity = DK_NORMAL;
bool dk_color = false;

__attribute__((format(printf, 2, 0))) static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	/* messages quote names from files and servers: one line, no controls */
	char *msg = dk_vasprintf(fmt, ap);
	char *e = dk_msg_escape(msg); /* may run in a worker thread */
	fprintf(stderr, "%s%s\n", prefix, e);
	free(e);
	free(msg);
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
