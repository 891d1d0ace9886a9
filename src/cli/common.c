#include "cli/cli.h"
#include "util/error.h"

#include <stdarg.h>

int dk_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "dkvm: %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fprintf(stderr, "Try 'dkvm %s --help'.\n", cmd);
	return DK_EXIT_USAGE;
}

int dk_cli_fail(void)
{
	fprintf(stderr, "dkvm: %s\n", dk_errmsg());
	return DK_EXIT_FAIL;
}

int dk_getopt_error(const char *cmd, int c, char **argv)
{
	if (c == ':')
		return dk_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
	return dk_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int dk_print_help(const char *text)
{
	fputs(text, stdout);
	return DK_EXIT_OK;
}
