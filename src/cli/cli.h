/* The dkvm command line: `dkvm [global options] <noun> <verb> [options]`.
 *
 * main.c strips the global options (--json, --sysroot, --root, -v, -q,
 * --no-color) wherever they appear, applies them to libdkvm, and dispatches to
 * one handler per command. A handler gets argv starting at its verb (argv[0] is
 * e.g. "check") and returns the exit status: 0 success, 1 operation or check
 * failed, 2 usage error. Handlers contain argv parsing and printing only; the
 * work is in libdkvm.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <getopt.h>

#define DK_EXIT_OK 0
#define DK_EXIT_FAIL 1
#define DK_EXIT_USAGE 2

typedef int (*dk_cmd_fn)(int argc, char **argv);

/* What completes an option's argument or a command's operands: one of these,
 * or a space-separated list of words ("kvm tcg auto"); NULL: nothing. */
#define DK_C_FILE "@file"
#define DK_C_DIR "@dir"
#define DK_C_VM "@vm"   /* VM bundle names */
#define DK_C_BDF "@bdf" /* PCI addresses from /sys/bus/pci/devices */
#define DK_C_MODEL "@model" /* Mac models dkvm knows */
#define DK_C_MACOS "@macos" /* macOS release names */
#define DK_C_GPU "@gpu"     /* GPU kinds (dk_gpu_names, opencore --gpu) */

enum {
	DK_OPT_SHORT = 1,  /* also -<val> */
	DK_OPT_GLOBAL = 2, /* a global option (main.c parses it) documented for this command */
	DK_OPT_X86 = 4,    /* create: x86 only, refused with --arch ppc */
};

/* One option of a command, the single source of its getopt_long entry, its
 * line in --help and its shell completion. */
struct dk_opt {
	const char *name;     /* long name (without --) */
	int val;              /* what dk_opt_next() returns; the letter of -<val> with DK_OPT_SHORT */
	const char *arg;      /* argument name shown in --help; NULL: takes no argument */
	const char *help;     /* "\n" continues on the next line; NULL: not listed in --help */
	const char *complete; /* the argument's completion (DK_C_* or words) */
	unsigned flags;       /* DK_OPT_* */
};

/* A command's options and --help around them. */
struct dk_cmd_spec {
	const char *head;         /* usage line and description, before "Options:" */
	const struct dk_opt *opts; /* ends with {0}; --help/-h are always accepted */
	const char *tail;         /* after the options: examples, exit status ("" none) */
	const char *operands;     /* completion of the operands (DK_C_* or words) */
};

struct dk_cmd {
	const char *noun;
	const char *verb; /* NULL for single-word commands (create, start, ...) */
	dk_cmd_fn fn;
	const char *summary;
	const struct dk_cmd_spec *spec; /* NULL: not converted to a table yet */
};

extern const struct dk_cmd dk_commands[];
extern const size_t dk_n_commands;

/* getopt_long over spec's table (set optind = 0 first): the option's val,
 * ':' or '?' as getopt_long, -1 at the end. */
int dk_opt_next(const struct dk_cmd_spec *spec, int argc, char **argv);
/* The option of spec's table whose val is val, or NULL. */
const struct dk_opt *dk_opt_find(const struct dk_cmd_spec *spec, int val);
/* Print spec's --help to stdout (head, "Options:" with one line per listed
 * option, tail) and return DK_EXIT_OK. */
int dk_print_spec_help(const struct dk_cmd_spec *spec);
/* dkvm completion bash|zsh|fish (src/cli/completion.c). */
int dk_cmd_completion(int argc, char **argv);

/* "dkvm: <cmd>: <msg>" + a hint line; returns DK_EXIT_USAGE. */
int dk_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Install the CLI's reporter (progress bar / JSON lines, warnings) for the
 * global options in effect (src/cli/progress.c). */
void dk_cli_set_reporter(void);
/* Prints "dkvm: <dk_errmsg()>" and returns DK_EXIT_FAIL. */
int dk_cli_fail(void);
/* Standard getopt loop tail: reports unknown options / missing args as usage errors. */
int dk_getopt_error(const char *cmd, int c, char **argv);
/* After the getopt loop of a command without operands: 0, or the usage error
 * "unexpected argument 'X'" (DK_EXIT_USAGE). */
int dk_cli_no_operands(const char *cmd, int argc, char **argv);
/* A command whose only option is --help and that takes exactly one operand:
 * 0 with *arg set, DK_EXIT_USAGE after a usage error, or -1 after printing
 * help (the caller then exits DK_EXIT_OK). */
int dk_cli_one_operand(const char *cmd, const struct dk_cmd_spec *spec, int argc, char **argv, const char **arg);
/* Look val up in the NULL-terminated names: its index, or -1 after the usage
 * error "OPT must be a, b or c, not 'val'". */
int dk_cli_choice(const char *cmd, const char *opt, const char *val, const char *const *names);
/* A count/number option: an unsigned integer in [min, max], else the usage
 * error "OPT must be MIN..MAX, not 'val'" and -1. */
int dk_cli_uint(const char *cmd, const char *opt, const char *val, uint64_t min, uint64_t max, uint64_t *out);

#define DK_CMD(name) int name(int argc, char **argv)
#define DK_SPEC(name) extern const struct dk_cmd_spec dk_spec_##name
DK_SPEC(create);
DK_SPEC(tune);
DK_SPEC(update);
DK_SPEC(start);
DK_SPEC(stop);
DK_SPEC(list);
DK_SPEC(show);
DK_SPEC(destroy);
DK_SPEC(export);
DK_SPEC(wizard);
DK_SPEC(doctor);
DK_SPEC(completion);
DK_SPEC(host_check);
DK_SPEC(host_iommu);
DK_SPEC(host_report);
DK_SPEC(smbios_generate);
DK_SPEC(smbios_decode);
DK_SPEC(smbios_check_mlb);
DK_SPEC(dmg_info);
DK_SPEC(dmg_verify);
DK_SPEC(dmg_convert);
DK_SPEC(fetch_recovery);
DK_SPEC(fetch_list);
DK_SPEC(fetch_installer);
DK_SPEC(chunklist_verify);
DK_SPEC(opencore_config);
DK_SPEC(opencore_validate);
DK_SPEC(opencore_image);
DK_SPEC(opencore_fetch);
DK_SPEC(hooks_install);
DK_SPEC(hooks_remove);
DK_SPEC(vfio_bind);
DK_SPEC(vfio_unbind);
DK_SPEC(vfio_persist);
DK_SPEC(vfio_undo);

DK_CMD(dk_cmd_host_check);
DK_CMD(dk_cmd_host_iommu);
DK_CMD(dk_cmd_host_report);
DK_CMD(dk_cmd_smbios_generate);
DK_CMD(dk_cmd_smbios_decode);
DK_CMD(dk_cmd_smbios_check_mlb);
DK_CMD(dk_cmd_opencore_config);
DK_CMD(dk_cmd_opencore_validate);
DK_CMD(dk_cmd_opencore_image);
DK_CMD(dk_cmd_opencore_fetch);
DK_CMD(dk_cmd_dmg_info);
DK_CMD(dk_cmd_dmg_verify);
DK_CMD(dk_cmd_dmg_convert);
DK_CMD(dk_cmd_fetch_list);
DK_CMD(dk_cmd_fetch_recovery);
DK_CMD(dk_cmd_fetch_installer);
DK_CMD(dk_cmd_chunklist_verify);
DK_CMD(dk_cmd_create);
DK_CMD(dk_cmd_start);
DK_CMD(dk_cmd_stop);
DK_CMD(dk_cmd_list);
DK_CMD(dk_cmd_show);
DK_CMD(dk_cmd_destroy);
DK_CMD(dk_cmd_export);
DK_CMD(dk_cmd_tune);
DK_CMD(dk_cmd_update);
DK_CMD(dk_cmd_wizard);
DK_CMD(dk_cmd_doctor);
DK_CMD(dk_cmd_hooks_install);
DK_CMD(dk_cmd_hooks_remove);
DK_CMD(dk_cmd_vfio_bind);
DK_CMD(dk_cmd_vfio_unbind);
DK_CMD(dk_cmd_vfio_persist);
DK_CMD(dk_cmd_vfio_undo);
