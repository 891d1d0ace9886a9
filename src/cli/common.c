#include "cli/cli.h"
#include "util/error.h"
#include "util/mem.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int dk_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = dk_vasprintf(fmt, ap); /* quotes argv: no controls on the terminal */
	va_end(ap);
	fprintf(stderr, "dkvm: %s: %s\n", cmd, dk_esc(msg));
	free(msg);
	fprintf(stderr, "Try 'dkvm %s --help'.\n", cmd);
	return DK_EXIT_USAGE;
}

int dk_cli_fail(void)
{
	fprintf(stderr, "dkvm: %s\n", dk_esc_msg(dk_errmsg())); /* may quote files and servers */
	return DK_EXIT_FAIL;
}

int dk_getopt_error(const char *cmd, int c, char **argv)
{
	/* A long option is argv[optind - 1]. A short one is optopt, in a cluster
	 * that is argv[optind - 1] when it was the cluster's last letter, else
	 * argv[optind] (getopt has not moved past "-rf" after 'r'). */
	const char *prev = argv[optind - 1], *cur = argv[optind];
	bool prev_long = prev[0] == '-' && prev[1] == '-';
	bool in_cur = cur && cur[0] == '-' && cur[1] && cur[1] != '-' && optopt > 0 && strchr(cur + 1, optopt);
	char shortopt[3] = {'-', (char)optopt, '\0'};
	const char *name = optopt > 0 && optopt < 0x7f && (!prev_long || in_cur) ? shortopt : prev;
	if (c == ':')
		return dk_usage_error(cmd, "option '%s' needs a value", name);
	return dk_usage_error(cmd, "unknown option '%s'", name);
}

int dk_print_help(const char *text)
{
	fputs(text, stdout);
	return DK_EXIT_OK;
}

int dk_cli_no_operands(const char *cmd, int argc, char **argv)
{
	if (optind < argc)
		return dk_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int dk_cli_one_operand(const char *cmd, const char *help, int argc, char **argv, const char **arg)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			dk_print_help(help);
			return -1;
		}
		return dk_getopt_error(cmd, c, argv);
	}
	if (optind + 1 != argc)
		return dk_usage_error(cmd, optind >= argc ? "missing argument" : "too many arguments");
	*arg = argv[optind];
	return 0;
}

int dk_cli_choice(const char *cmd, const char *opt, const char *val, const char *const *names)
{
	struct dk_buf b = {0};
	int n = 0;
	for (; names[n]; n++)
		if (!strcmp(names[n], val))
			return n;
	for (int i = 0; i < n; i++)
		dk_buf_printf(&b, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
	dk_usage_error(cmd, "%s must be %s, not '%s'", opt, b.data ? b.data : "", val);
	dk_buf_free(&b);
	return -1;
}

int dk_cli_uint(const char *cmd, const char *opt, const char *val, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	if (dk_parse_u64(val, &v) < 0 || v < min || v > max) {
		dk_errclear();
		dk_usage_error(cmd, "%s must be %llu..%llu, not '%s'", opt, (unsigned long long)min,
			       (unsigned long long)max, val);
		return -1;
	}
	*out = v;
	return 0;
}
