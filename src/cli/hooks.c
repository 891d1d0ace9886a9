/* dkvm hooks install|remove: argv and output only; the scripts and the file
 * plan are src/tune/hooks.c. */
#include "cli/cli.h"
#include "tune/hooks.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/strv.h"

#include <stdlib.h>
#include <string.h>

static const struct dk_opt install_opts[] = {
	{"single-gpu", 'g', "BDF", "a PCI function to hand to vfio-pci (repeat, or BDF,BDF; more BDFs may\n"
	 "follow NAME): the GPU and every other function of its IOMMU group", DK_C_BDF, 0},
	{"display-manager", 'd', "DM", "auto (default: the host's display-manager.service), none, or a unit\n"
	 "name (gdm, gdm3, sddm, lightdm, ...)", "auto none gdm gdm3 sddm lightdm lxdm xdm", 0},
	{"apply", 'a', NULL, "write the files (default: print what would be written)", NULL, 0},
	{"force", 'f', NULL, "replace a hook file not written by dkvm (backed up beside it)", NULL, 0},
	{"root", 0, "DIR", "write under DIR instead of / (global option)", DK_C_DIR, DK_OPT_GLOBAL},
	{"sysroot", 0, "DIR", "read the host (PCI devices, display manager) under DIR (global option)", DK_C_DIR,
	 DK_OPT_GLOBAL},
	{"json", 0, NULL, "print {\"vm\",\"applied\",\"files\":[{\"path\",\"action\",...}]}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, NULL, NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_hooks_install = {
	.head = "usage: dkvm hooks install NAME --single-gpu BDF... [--display-manager DM] [--apply] [--force]\n"
		"\n"
		"Single-GPU passthrough through libvirt hooks. Writes libvirt's qemu hook dispatcher\n"
		"/etc/libvirt/hooks/qemu (it runs every executable in qemu.d/VM/OPERATION/SUB-OPERATION/)\n"
		"and for the VM NAME qemu.d/NAME/prepare/begin/dkvm-single-gpu.sh, which stops the display\n"
		"manager, unbinds the framebuffer consoles and the EFI framebuffer (or simpledrm), unloads\n"
		"the nvidia modules or unbinds the functions' drivers and detaches each function to vfio-pci\n"
		"(virsh nodedev-detach), and qemu.d/NAME/release/end/dkvm-single-gpu.sh, which undoes the\n"
		"steps done, in reverse order. Without --apply nothing is written: the new files are printed\n"
		"in full, changed ones as a unified diff. A dispatcher not written by dkvm is left alone\n"
		"unless --force (then backed up; dkvm hooks remove restores it). Installing twice changes\n"
		"nothing. The BDFs must exist on the host (--sysroot).\n",
	.opts = install_opts,
	.tail = "Examples:\n"
		"  dkvm hooks install mymac --single-gpu 0b:00.0,0b:00.1\n"
		"  dkvm hooks install mymac --single-gpu 0b:00.0 --single-gpu 0b:00.1 --apply\n"
		"\n"
		"Exit status: 0 written (or would be), 1 failure, 2 usage error.\n",
	.operands = DK_C_VM,
};

static const struct dk_opt remove_opts[] = {
	{"apply", 'a', NULL, "remove the files (default: print what would be removed)", NULL, 0},
	{"root", 0, "DIR", "remove under DIR instead of / (global option)", DK_C_DIR, DK_OPT_GLOBAL},
	{"json", 0, NULL, "print {\"vm\",\"applied\",\"files\":[{\"path\",\"action\",...}]}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, NULL, NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_hooks_remove = {
	.head = "usage: dkvm hooks remove NAME [--apply]\n"
		"\n"
		"Remove the VM's dkvm-single-gpu.sh hooks (restoring a file they replaced), and the\n"
		"dispatcher /etc/libvirt/hooks/qemu when it is dkvm's and no VM's hooks need it any more\n"
		"(restoring the dispatcher it replaced with --force). Without --apply nothing is removed.\n",
	.opts = remove_opts,
	.tail = "Exit status: 0 removed (or would be, or nothing installed), 1 failure, 2 usage error.\n",
	.operands = DK_C_VM,
};

static void add_bdfs(struct dk_strv *l, const char *arg)
{
	_cleanup_free_ char *s = dk_strdup(arg);
	char *save = NULL;
	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (*t)
			dk_strv_push(l, t);
}

static int report(const char *vm, const struct dk_hook_plan *p, bool apply)
{
	if (dk_json_output) {
		dk_json_print(dk_hook_plan_to_json(vm, p, apply));
		return DK_EXIT_OK;
	}
	bool dispatcher_new = false;
	for (int i = 0; i < p->n; i++) {
		const struct dk_hook_change *c = &p->c[i];
		_cleanup_free_ char *rp = dk_root_path(c->path);
		_cleanup_free_ char *diff = NULL;
		switch (c->act) {
		case DK_HOOK_SAME: printf("unchanged %s\n", rp); break;
		case DK_HOOK_CREATE:
			printf("%s %s (mode 0755):\n%s", apply ? "created" : "create", rp, c->want);
			dispatcher_new |= !strcmp(c->path, DK_HOOK_DISPATCHER);
			break;
		case DK_HOOK_UPDATE:
		case DK_HOOK_REPLACE:
			printf("%s %s%s:\n", apply ? (c->act == DK_HOOK_UPDATE ? "updated" : "replaced")
						  : (c->act == DK_HOOK_UPDATE ? "update" : "replace"),
			       rp, c->act == DK_HOOK_REPLACE ? " (not written by dkvm: backed up as .dkvm-bak.TIME)" : "");
			diff = dk_text_diff(c->path, c->old, c->want);
			fputs(diff, stdout);
			dispatcher_new |= c->act == DK_HOOK_REPLACE && !strcmp(c->path, DK_HOOK_DISPATCHER);
			break;
		case DK_HOOK_REMOVE: printf("%s %s\n", apply ? "removed" : "remove", rp); break;
		case DK_HOOK_RESTORE:
			printf("%s %s from %s\n", apply ? "restored" : "restore", rp, c->backup);
			break;
		case DK_HOOK_KEEP: printf("kept %s (%s)\n", rp, c->note ? c->note : ""); break;
		}
	}
	if (!apply)
		printf("dry run: nothing written; add --apply to write under %s\n", *dk_root() ? dk_root() : "/");
	else if (dispatcher_new)
		printf("libvirtd looks for hook scripts when it starts: restart it (systemctl restart libvirtd)\n");
	return DK_EXIT_OK;
}

int dk_cmd_hooks_install(int argc, char **argv)
{
	struct dk_strv bdfs = {0};
	const char *dm = "auto";
	bool apply = false, force = false, gpu = false;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_hooks_install, argc, argv)) != -1) {
		switch (c) {
		case 'g':
			gpu = true;
			add_bdfs(&bdfs, optarg);
			break;
		case 'd': dm = optarg; break;
		case 'a': apply = true; break;
		case 'f': force = true; break;
		case 'h': dk_strv_clear(&bdfs); return dk_print_spec_help(&dk_spec_hooks_install);
		default: dk_strv_clear(&bdfs); return dk_getopt_error("hooks install", c, argv);
		}
	}
	if (optind >= argc) {
		dk_strv_clear(&bdfs);
		return dk_usage_error("hooks install", "missing VM name");
	}
	const char *vm = argv[optind];
	if (!gpu) {
		dk_strv_clear(&bdfs);
		return dk_usage_error("hooks install", "say which PCI functions: --single-gpu BDF...");
	}
	for (int i = optind + 1; i < argc; i++)
		add_bdfs(&bdfs, argv[i]);
	if (!bdfs.n) {
		dk_strv_clear(&bdfs);
		return dk_usage_error("hooks install", "--single-gpu needs a PCI address (BDF)");
	}
	_cleanup_free_ char *unit = NULL;
	if (!strcmp(dm, "none"))
		unit = dk_strdup("");
	else if (strcmp(dm, "auto") != 0 && !(unit = dk_hook_dm_unit(dm))) {
		dk_errclear();
		dk_strv_clear(&bdfs);
		return dk_usage_error("hooks install", "--display-manager '%s': not a unit name (auto, none, gdm, ...)",
				      dk_esc_msg(dm));
	}
	struct dk_hook_cfg cfg;
	int r = dk_hook_cfg_from_host(vm, bdfs.v, unit, &cfg);
	dk_strv_clear(&bdfs);
	if (r < 0)
		return dk_cli_fail();
	struct dk_hook_plan p;
	if (dk_hooks_plan_install(&cfg, force, &p) < 0)
		return dk_cli_fail();
	if (apply && dk_hooks_apply(&p) < 0) {
		dk_hook_plan_free(&p);
		return dk_cli_fail();
	}
	int rc = report(vm, &p, apply);
	dk_hook_plan_free(&p);
	return rc;
}

int dk_cmd_hooks_remove(int argc, char **argv)
{
	bool apply = false;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_hooks_remove, argc, argv)) != -1) {
		switch (c) {
		case 'a': apply = true; break;
		case 'h': return dk_print_spec_help(&dk_spec_hooks_remove);
		default: return dk_getopt_error("hooks remove", c, argv);
		}
	}
	if (optind >= argc)
		return dk_usage_error("hooks remove", "missing VM name");
	if (optind + 1 < argc)
		return dk_usage_error("hooks remove", "unexpected argument '%s'", argv[optind + 1]);
	const char *vm = argv[optind];
	struct dk_hook_plan p;
	if (dk_hooks_plan_remove(vm, &p) < 0)
		return dk_cli_fail();
	if (p.n == 0 && !dk_json_output) {
		printf("no dkvm hooks installed for '%s'\n", vm);
		dk_hook_plan_free(&p);
		return DK_EXIT_OK;
	}
	if (apply && dk_hooks_apply(&p) < 0) {
		dk_hook_plan_free(&p);
		return dk_cli_fail();
	}
	int rc = report(vm, &p, apply);
	dk_hook_plan_free(&p);
	return rc;
}
