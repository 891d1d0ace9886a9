#include "util/log.h"
#include "util/mem.h"
#include "util/report.h"

#include <stdarg.h>
#include <stdlib.h>

int dk_verbosity = DK_NORMAL;
bool dk_color = false;

static struct dk_reporter reporter;

void dk_set_reporter(const struct dk_reporter *r)
{
	reporter = r ? *r : (struct dk_reporter){0};
}

const struct dk_reporter *dk_get_reporter(void)
{
	return &reporter;
}

__attribute__((format(printf, 2, 0))) static void note(enum dk_note_level level, const char *fmt, va_list ap)
{
	if (!reporter.note)
		return;
	char *msg = dk_vasprintf(fmt, ap);
	reporter.note(reporter.ud, level, msg);
	free(msg);
}

void dk_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	note(DK_NOTE_INFO, fmt, ap);
	va_end(ap);
}

void dk_verbose(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	note(DK_NOTE_VERBOSE, fmt, ap);
	va_end(ap);
}

void dk_warn(const char *fmt, ...)
{
	if (!reporter.warn)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = dk_vasprintf(fmt, ap);
	va_end(ap);
	reporter.warn(reporter.ud, msg);
	free(msg);
}
