/* dkvm: argv -> global options -> one command handler. */
#include "cli/cli.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct dk_cmd dk_commands[] = {
	{"host", "check", dk_cmd_host_check, "check this host against everything the guide asks for", &dk_spec_host_check},
	{"host", "iommu", dk_cmd_host_iommu, "list IOMMU groups and judge passthrough viability", &dk_spec_host_iommu},
	{"host", "report", dk_cmd_host_report, "write a sanitized snapshot of the host files dkvm reads", &dk_spec_host_report},
	{"vfio", "bind", dk_cmd_vfio_bind, "bind PCI devices to vfio-pci now (until reboot)", &dk_spec_vfio_bind},
	{"vfio", "unbind", dk_cmd_vfio_unbind, "give vfio-pci devices back to their drivers", &dk_spec_vfio_unbind},
	{"vfio", "persist", dk_cmd_vfio_persist, "bind devices to vfio-pci at boot (bootloader, modprobe, initramfs)", &dk_spec_vfio_persist},
	{"vfio", "undo", dk_cmd_vfio_undo, "restore the files 'vfio persist --apply' edited", &dk_spec_vfio_undo},
	{"smbios", "generate", dk_cmd_smbios_generate, "generate a unique SMBIOS identity for a Mac model", &dk_spec_smbios_generate},
	{"smbios", "decode", dk_cmd_smbios_decode, "decode an Apple serial number", &dk_spec_smbios_decode},
	{"smbios", "check-mlb", dk_cmd_smbios_check_mlb, "check a board serial (MLB)", &dk_spec_smbios_check_mlb},
	{"opencore", "config", dk_cmd_opencore_config, "build config.plist from a release's Sample.plist", &dk_spec_opencore_config},
	{"opencore", "validate", dk_cmd_opencore_validate, "validate a config.plist (schema, rules, EFI tree)", &dk_spec_opencore_validate},
	{"opencore", "image", dk_cmd_opencore_image, "build a bootable OpenCore disk image without root", &dk_spec_opencore_image},
	{"opencore", "fetch", dk_cmd_opencore_fetch, "download OpenCorePkg and kext releases into the cache", &dk_spec_opencore_fetch},
	{"dmg", "info", dk_cmd_dmg_info, "describe a UDIF disk image", &dk_spec_dmg_info},
	{"dmg", "verify", dk_cmd_dmg_verify, "verify a UDIF image's checksums", &dk_spec_dmg_verify},
	{"dmg", "convert", dk_cmd_dmg_convert, "convert a UDIF image to a raw (sparse) image", &dk_spec_dmg_convert},
	{"fetch", "list", dk_cmd_fetch_list, "list macOS releases and how to fetch them", &dk_spec_fetch_list},
	{"fetch", "recovery", dk_cmd_fetch_recovery, "download recoveryOS from Apple, verified", &dk_spec_fetch_recovery},
	{"fetch", "installer", dk_cmd_fetch_installer, "download a full installer from Apple's catalog", &dk_spec_fetch_installer},
	{"chunklist", "verify", dk_cmd_chunklist_verify, "verify a chunklist's signature (and an image)", &dk_spec_chunklist_verify},
	{"create", NULL, dk_cmd_create, "create a macOS VM bundle (and libvirt domain)", &dk_spec_create},
	{"start", NULL, dk_cmd_start, "start a VM", &dk_spec_start},
	{"stop", NULL, dk_cmd_stop, "stop a VM (ACPI powerdown, then kill)", &dk_spec_stop},
	{"list", NULL, dk_cmd_list, "list VMs", &dk_spec_list},
	{"show", NULL, dk_cmd_show, "show a VM's plan and files", &dk_spec_show},
	{"update", NULL, dk_cmd_update, "move a stopped VM to a newer OpenCore and kexts (config migrated)", &dk_spec_update},
	{"destroy", NULL, dk_cmd_destroy, "remove a VM (disks kept unless --delete-disks)", &dk_spec_destroy},
	{"export", NULL, dk_cmd_export, "write a VM as a Proxmox VE config and qm import commands", &dk_spec_export},
	{"tune", NULL, dk_cmd_tune, "apply a guide write-up to a VM (pin, iothreads, hugepages, fake-cores; undo)", &dk_spec_tune},
	{"wizard", NULL, dk_cmd_wizard, "walk the guide interactively: host, IOMMU, create, GPU, start", &dk_spec_wizard},
	{"hooks", "install", dk_cmd_hooks_install, "single-GPU passthrough: libvirt hooks that free the GPU for a VM", &dk_spec_hooks_install},
	{"hooks", "remove", dk_cmd_hooks_remove, "remove a VM's single-GPU hooks (restoring what they replaced)", &dk_spec_hooks_remove},
	{"doctor", NULL, dk_cmd_doctor, "check a VM against the known failures (guide, peers, OpenCore logs)", &dk_spec_doctor},
	{"completion", NULL, dk_cmd_completion, "print the bash, zsh or fish completion script", &dk_spec_completion},
};
const size_t dk_n_commands = sizeof dk_commands / sizeof dk_commands[0];

static void usage(FILE *f)
{
	fprintf(f, "usage: dkvm [global options] <command> [options]\n"
		   "\n"
		   "Run macOS as a fast VM on Linux QEMU/KVM, the DarwinKVM way, planned for this host.\n"
		   "\n"
		   "Commands ('dkvm' alone on a terminal starts the wizard):\n");
	for (size_t i = 0; i < dk_n_commands; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s%s%s", dk_commands[i].noun, dk_commands[i].verb ? " " : "",
			 dk_commands[i].verb ? dk_commands[i].verb : "");
		fprintf(f, "  %-20s %s\n", name, dk_commands[i].summary);
	}
	fprintf(f, "\n"
		   "Global options (accepted anywhere on the line):\n"
		   "  --json             machine-readable output on stdout (documented in dkvm(1))\n"
		   "  --sysroot DIR      read host facts under DIR (default /, or $DKVM_SYSROOT)\n"
		   "  --root DIR         write system files under DIR (default /)\n"
		   "  -v, --verbose      more detail (repeat for debug)\n"
		   "  -q, --quiet        errors only\n"
		   "  --no-color         no colors (also NO_COLOR=1)\n"
		   "  -h, --help         this help; 'dkvm <command> --help' for a command\n"
		   "  --version          print the version\n"
		   "\n"
		   "Exit status: 0 success, 1 operation or check failed, 2 usage error.\n"
		   "See dkvm(1) and dkvm-<command>(1).\n");
}

/* The option table of the command named by argv[1] (and argv[2]), once
 * those are known; NULL before or for a command without a table. */
static const struct dk_cmd_spec *spec_of(int out, char **argv)
{
	for (size_t i = 0; out >= 2 && i < dk_n_commands; i++) {
		const struct dk_cmd *c = &dk_commands[i];
		if (strcmp(c->noun, argv[1]) != 0)
			continue;
		if (!c->verb || (out >= 3 && !strcmp(c->verb, argv[2])))
			return c->spec;
	}
	return NULL;
}

/* Whether a of the command's table takes its value in the next argument
 * (--name VALUE, -x VALUE): that value is never a global option, even when
 * it looks like one (--boot-args -v). */
static bool takes_next(const struct dk_cmd_spec *spec, const char *a)
{
	for (const struct dk_opt *o = spec ? spec->opts : NULL; o && o->name; o++) {
		if (!o->arg || (o->flags & DK_OPT_GLOBAL))
			continue;
		if (a[0] == '-' && a[1] == '-' && !strcmp(a + 2, o->name))
			return true;
		if ((o->flags & DK_OPT_SHORT) && a[0] == '-' && a[1] == o->val && !a[2])
			return true;
	}
	return false;
}

/* Remove global options from argv in place; returns new argc or -1 on error. */
static int strip_globals(int argc, char **argv)
{
	int out = 1;
	bool no_color = getenv("NO_COLOR") && *getenv("NO_COLOR");
	const char *env_sysroot = getenv("DKVM_SYSROOT");
	if (env_sysroot && *env_sysroot)
		dk_set_sysroot(env_sysroot);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (i + 1 < argc && takes_next(spec_of(out, argv), a)) {
			argv[out++] = argv[i++];
			argv[out++] = argv[i];
		} else if (strcmp(a, "--json") == 0) {
			dk_json_output = true;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			dk_verbosity++;
		} else if (strcmp(a, "-vv") == 0) {
			dk_verbosity += 2;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			dk_verbosity = DK_QUIET;
		} else if (strcmp(a, "--no-color") == 0) {
			no_color = true;
		} else if (strcmp(a, "--sysroot") == 0 || strcmp(a, "--root") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "dkvm: option '%s' needs a directory\n", a);
				return -1;
			}
			if (a[2] == 's')
				dk_set_sysroot(argv[++i]);
			else
				dk_set_root(argv[++i]);
		} else if (strncmp(a, "--sysroot=", 10) == 0) {
			dk_set_sysroot(a + 10);
		} else if (strncmp(a, "--root=", 7) == 0) {
			dk_set_root(a + 7);
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	dk_color = !no_color && isatty(STDOUT_FILENO) && !dk_json_output;
	return out;
}

int main(int argc, char **argv)
{
	argc = strip_globals(argc, argv);
	if (argc < 0)
		return DK_EXIT_USAGE;
	dk_cli_set_reporter();
	if (argc < 2) {
		/* on a terminal, 'dkvm' alone walks the guide */
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && !dk_json_output) {
			char *wargv[] = {"wizard", NULL};
			return dk_cmd_wizard(1, wargv);
		}
		usage(stderr);
		return DK_EXIT_USAGE;
	}
	const char *noun = argv[1];
	if (!strcmp(noun, "-h") || !strcmp(noun, "--help") || !strcmp(noun, "help")) {
		usage(stdout);
		return DK_EXIT_OK;
	}
	if (!strcmp(noun, "--version") || !strcmp(noun, "version")) {
		printf("dkvm %s\n", DKVM_VERSION);
		return DK_EXIT_OK;
	}
	bool noun_known = false;
	for (size_t i = 0; i < dk_n_commands; i++) {
		const struct dk_cmd *c = &dk_commands[i];
		if (strcmp(c->noun, noun) != 0)
			continue;
		noun_known = true;
		if (!c->verb)
			return c->fn(argc - 1, argv + 1);
		if (argc >= 3 && strcmp(c->verb, argv[2]) == 0)
			return c->fn(argc - 2, argv + 2);
	}
	if (!noun_known) {
		fprintf(stderr, "dkvm: unknown %s '%s'\nTry 'dkvm --help'.\n", noun[0] == '-' ? "option" : "command", dk_esc(noun));
		return DK_EXIT_USAGE;
	}
	bool want_help = argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
	FILE *f = want_help ? stdout : stderr;
	if (!want_help) {
		if (argc >= 3)
			fprintf(stderr, "dkvm: %s: unknown subcommand '%s'\n", noun, dk_esc(argv[2]));
		else
			fprintf(stderr, "dkvm: %s: missing subcommand\n", noun);
	}
	fprintf(f, "usage: dkvm %s <subcommand> [options]\n\n", noun);
	for (size_t i = 0; i < dk_n_commands; i++)
		if (!strcmp(dk_commands[i].noun, noun))
			fprintf(f, "  %-12s %s\n", dk_commands[i].verb, dk_commands[i].summary);
	return want_help ? DK_EXIT_OK : DK_EXIT_USAGE;
}
