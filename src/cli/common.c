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

int dk_cli_no_operands(const char *cmd, int argc, char **argv)
{
	if (optind < argc)
		return dk_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int dk_cli_one_operand(const char *cmd, const struct dk_cmd_spec *spec, int argc, char **argv, const char **arg)
{
	int c;
	optind = 0;
	while ((c = dk_opt_next(spec, argc, argv)) != -1) {
		if (c == 'h') {
			dk_print_spec_help(spec);
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

#define MAX_OPTS 48

/* getopt_long's tables for one spec, built on first use (the CLI parses one
 * command line, in one thread). */
static const struct dk_cmd_spec *built;
static struct option longopts[MAX_OPTS + 2];
static char shortopts[2 * MAX_OPTS + 4];

static void build(const struct dk_cmd_spec *spec)
{
	size_t n = 0, k = 0;
	bool have_help = false;
	shortopts[k++] = ':';
	for (const struct dk_opt *o = spec->opts; o && o->name && n < MAX_OPTS; o++) {
		if (o->flags & DK_OPT_GLOBAL)
			continue;
		longopts[n++] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->val};
		if (o->flags & DK_OPT_SHORT) {
			shortopts[k++] = (char)o->val;
			if (o->arg)
				shortopts[k++] = ':';
		}
		have_help |= !strcmp(o->name, "help");
	}
	if (!have_help) {
		longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
		shortopts[k++] = 'h';
	}
	longopts[n] = (struct option){0};
	shortopts[k] = '\0';
	built = spec;
}

int dk_opt_next(const struct dk_cmd_spec *spec, int argc, char **argv)
{
	if (built != spec)
		build(spec);
	return getopt_long(argc, argv, shortopts, longopts, NULL);
}

const struct dk_opt *dk_opt_find(const struct dk_cmd_spec *spec, int val)
{
	for (const struct dk_opt *o = spec->opts; o && o->name; o++)
		if (o->val == val && !(o->flags & DK_OPT_GLOBAL))
			return o;
	return NULL;
}

/* "  -o, --output FILE", with room for "-x, " before long-only options when
 * the table has short ones. */
static void opt_left(char *out, size_t size, const struct dk_opt *o, bool shorts)
{
	char sh[8] = "";
	if (o->flags & DK_OPT_SHORT)
		snprintf(sh, sizeof sh, "-%c, ", o->val);
	else if (shorts)
		snprintf(sh, sizeof sh, "    ");
	snprintf(out, size, "  %s--%s%s%s", sh, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

int dk_print_spec_help(const struct dk_cmd_spec *spec)
{
	bool shorts = false;
	size_t width = 0;
	char left[128];
	for (const struct dk_opt *o = spec->opts; o->name; o++)
		shorts |= (o->flags & DK_OPT_SHORT) && o->help && strcmp(o->name, "help") != 0;
	for (const struct dk_opt *o = spec->opts; o->name; o++) {
		if (!o->help)
			continue;
		opt_left(left, sizeof left, o, shorts);
		if (strlen(left) > width)
			width = strlen(left);
	}
	width += 2;
	fputs(spec->head, stdout);
	fputs("\nOptions:\n", stdout);
	for (const struct dk_opt *o = spec->opts; o->name; o++) {
		if (!o->help)
			continue;
		opt_left(left, sizeof left, o, shorts);
		printf("%-*s", (int)width, left);
		for (const char *h = o->help; *h;) {
			size_t len = strcspn(h, "\n");
			printf("%.*s\n", (int)len, h);
			h += len;
			if (*h == '\n' && *++h)
				printf("%*s", (int)width, "");
		}
	}
	if (spec->tail && *spec->tail) {
		fputc('\n', stdout);
		fputs(spec->tail, stdout);
	}
	return DK_EXIT_OK;
}
