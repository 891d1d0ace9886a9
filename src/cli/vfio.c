/* dkvm vfio bind|unbind|persist|undo: argv and output only; the work is in
 * src/tune/vfio.c. */
#include "cli/cli.h"
#include "host/host.h"
#include "host/pci.h"
#include "tune/vfio.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"

#include <stdlib.h>
#include <string.h>

static const struct dk_opt bind_opts[] = {
	{"force", 'f', NULL, "take the boot VGA device, a device in no IOMMU group, or part of a group", NULL, 0},
	{"sysroot", 0, "DIR", "the sysfs to write (default /; tests use a copied tree)", DK_C_DIR, DK_OPT_GLOBAL},
	{"json", 0, NULL, "print {\"action\",\"devices\":[{\"bdf\",\"ids\",\"driver_before\",\"note\",\"writes\"}]}", NULL,
	 DK_OPT_GLOBAL},
	{0},
};

const struct dk_cmd_spec dk_spec_vfio_bind = {
	.head = "usage: dkvm vfio bind BDF... [--force]\n"
		"\n"
		"Bind PCI devices to vfio-pci now: for each, write \"vfio-pci\" to its driver_override,\n"
		"the BDF to its current driver's unbind, then the BDF to /sys/bus/pci/drivers_probe.\n"
		"BDF is 0b:00.0 or 0000:0b:00.0; 0b:00 names every function of the slot. Refused\n"
		"without --force: the boot VGA device, a device in no IOMMU group, and a device whose\n"
		"IOMMU group holds another device (not a bridge) that is not named. Nothing is recorded\n"
		"on disk: the binding lasts until reboot or 'dkvm vfio unbind'.\n",
	.opts = bind_opts,
	.tail = "Examples:\n"
		"  sudo dkvm vfio bind 0b:00.0 0b:00.1\n"
		"  sudo dkvm vfio bind 0b:00\n"
		"\n"
		"Exit status: 0 done, 1 refused or a write failed, 2 usage error.\n",
	.operands = DK_C_BDF,
};

const struct dk_cmd_spec dk_spec_vfio_unbind = {
	.head = "usage: dkvm vfio unbind BDF...\n"
		"\n"
		"Give devices back to their own drivers: clear driver_override (a newline), unbind from\n"
		"vfio-pci, and write the BDF to /sys/bus/pci/drivers_probe. A device not on vfio-pci is\n"
		"left alone.\n",
	.opts = bind_opts,
	.tail = "Exit status: 0 done, 1 a write failed or no such device, 2 usage error.\n",
	.operands = DK_C_BDF,
};

static const struct dk_opt persist_opts[] = {
	{"bootloader", 'b', "NAME", "auto (the host's, default), grub, systemd-boot or kernelstub", "auto grub systemd-boot kernelstub",
	 0},
	{"apply", 'a', NULL, "write the files (default: print a unified diff per file, write nothing)", NULL, 0},
	{"force", 'f', NULL, "take the boot VGA device, a device in no IOMMU group, or part of a group", NULL, 0},
	{"root", 0, "DIR", "edit the files under DIR (default /)", DK_C_DIR, DK_OPT_GLOBAL},
	{"sysroot", 0, "DIR", "read the host facts and devices under DIR (default /)", DK_C_DIR, DK_OPT_GLOBAL},
	{"json", 0, NULL, "print {\"applied\",\"ids\",\"params\",\"drivers\",\"files\":[{\"path\",\"diff\",\"backup\"}],\"commands\"}",
	 NULL, DK_OPT_GLOBAL},
	{0},
};

const struct dk_cmd_spec dk_spec_vfio_persist = {
	.head = "usage: dkvm vfio persist BDF... [--bootloader auto|grub|systemd-boot|kernelstub] [--apply]\n"
		"\n"
		"Bind the devices to vfio-pci at every boot (the guide's dual-GPU setup): kernel\n"
		"parameters intel_iommu=on (Intel), iommu=pt and vfio-pci.ids= (the devices' vendor:device\n"
		"IDs) in the bootloader's configuration (GRUB_CMDLINE_LINUX_DEFAULT, systemd-boot entries'\n"
		"options and /etc/kernel/cmdline, or kernelstub's kernel_options), merged with what is\n"
		"there; /etc/modprobe.d/dkvm-vfio.conf with the ids and a softdep for each device's current\n"
		"driver; the vfio modules in the initramfs (initramfs-tools, dracut or mkinitcpio by distro).\n"
		"Without --apply, prints the diff of each file and writes nothing. With --apply, each file\n"
		"gets a backup <file>.dkvm-bak.<time> and is recorded in /var/lib/dkvm/vfio-persist.json\n"
		"for 'dkvm vfio undo'. Running it again changes nothing. Then run the printed commands\n"
		"(initramfs, bootloader) and reboot.\n",
	.opts = persist_opts,
	.tail = "Examples:\n"
		"  dkvm vfio persist 0b:00.0 0b:00.1\n"
		"  sudo dkvm vfio persist 0b:00 --apply\n"
		"\n"
		"Exit status: 0 done (or nothing to do), 1 refused or failed, 2 usage error.\n",
	.operands = DK_C_BDF,
};

static const struct dk_opt undo_opts[] = {
	{"apply", 'a', NULL, "restore the files (default: print what would change)", NULL, 0},
	{"root", 0, "DIR", "the tree persist wrote under (default /)", DK_C_DIR, DK_OPT_GLOBAL},
	{"json", 0, NULL, "print {\"applied\",\"files\":[{\"path\",\"diff\",\"backup\"}]}", NULL, DK_OPT_GLOBAL},
	{0},
};

const struct dk_cmd_spec dk_spec_vfio_undo = {
	.head = "usage: dkvm vfio undo [--apply]\n"
		"\n"
		"Undo 'dkvm vfio persist --apply': every file it edited is restored byte for byte from its\n"
		"backup (the backups are then removed), the files it created are removed, then the\n"
		"manifest /var/lib/dkvm/vfio-persist.json. Without --apply, prints the diffs only.\n",
	.opts = undo_opts,
	.tail = "Exit status: 0 done, 1 nothing to undo or failed, 2 usage error.\n",
	.operands = NULL,
};

static int bind_common(const char *cmd, const struct dk_cmd_spec *spec, bool unbind, int argc, char **argv)
{
	bool force = false;
	optind = 0;
	int c;
	while ((c = dk_opt_next(spec, argc, argv)) != -1) {
		switch (c) {
		case 'f': force = true; break;
		case 'h': return dk_print_spec_help(spec);
		default: return dk_getopt_error(cmd, c, argv);
		}
	}
	if (optind >= argc)
		return dk_usage_error(cmd, "name at least one device (BDF)");
	if (dk_host_sysroot_check() < 0)
		return dk_cli_fail();
	struct dk_pci pci;
	if (dk_pci_scan(&pci) < 0)
		return dk_cli_fail();
	struct dk_vfio_result r;
	int rc = dk_vfio_bind(&pci, argv + optind, unbind, force, &r);
	dk_pci_free(&pci);
	if (dk_json_output && rc == 0) {
		dk_json_print(dk_vfio_result_to_json(&r, unbind));
	} else if (!dk_json_output) {
		for (int i = 0; i < r.n; i++) {
			const struct dk_vfio_dev_result *d = &r.dev[i];
			if (d->note) {
				printf("%s [%s]: %s\n", d->bdf, d->ids, d->note);
				continue;
			}
			if (unbind || !d->driver_before[0])
				printf("%s [%s]: %s\n", d->bdf, d->ids, unbind ? "released from vfio-pci" : "bound to vfio-pci");
			else
				printf("%s [%s]: bound to vfio-pci (was %s)\n", d->bdf, d->ids, d->driver_before);
			for (int k = 0; k < d->nw; k++)
				printf("  %s <- %s\n", d->w[k].path, d->w[k].value[0] == '\n' ? "\\n" : d->w[k].value);
		}
	}
	dk_vfio_result_free(&r);
	return rc < 0 ? dk_cli_fail() : DK_EXIT_OK;
}

int dk_cmd_vfio_bind(int argc, char **argv)
{
	return bind_common("vfio bind", &dk_spec_vfio_bind, false, argc, argv);
}

int dk_cmd_vfio_unbind(int argc, char **argv)
{
	return bind_common("vfio unbind", &dk_spec_vfio_unbind, true, argc, argv);
}

static int print_plan(const struct dk_vfio_plan *p, bool apply, bool undo)
{
	if (dk_json_output) {
		dk_json_print(dk_vfio_plan_to_json(p, apply, undo));
		return DK_EXIT_OK;
	}
	if (!undo && !p->n) {
		printf("nothing to do: vfio-pci.ids=%s and the vfio modules are already configured\n", p->ids);
		return DK_EXIT_OK;
	}
	for (int i = 0; i < p->n; i++)
		fputs(p->files[i].diff, stdout);
	const char *root = dk_root();
	if (apply) {
		for (int i = 0; i < p->n; i++) {
			const struct dk_vfio_file *f = &p->files[i];
			if (undo)
				printf("%s%s: %s\n", root, f->path, f->backup ? "restored" : "removed (dkvm created it)");
			else if (f->backup)
				printf("%s%s: written (backup %s%s)\n", root, f->path, root, f->backup);
			else
				printf("%s%s: written\n", root, f->path);
		}
	} else {
		printf("dry run: nothing written (--apply writes these files)\n");
	}
	if (!undo && p->commands && *p->commands) {
		printf("%s, then reboot:\n", apply ? "now run" : "after --apply, run");
		for (char **s = p->commands; *s; s++)
			printf("  sudo %s\n", *s);
	}
	if (undo && apply)
		printf("then regenerate the initramfs and bootloader configuration as after persist, and reboot\n");
	return DK_EXIT_OK;
}

int dk_cmd_vfio_persist(int argc, char **argv)
{
	bool apply = false, force = false;
	const char *bl = "auto";
	static const char *const bls[] = {"auto", "grub", "systemd-boot", "kernelstub", NULL};
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_vfio_persist, argc, argv)) != -1) {
		switch (c) {
		case 'b':
			if (dk_cli_choice("vfio persist", "--bootloader", optarg, bls) < 0)
				return DK_EXIT_USAGE;
			bl = optarg;
			break;
		case 'a': apply = true; break;
		case 'f': force = true; break;
		case 'h': return dk_print_spec_help(&dk_spec_vfio_persist);
		default: return dk_getopt_error("vfio persist", c, argv);
		}
	}
	if (optind >= argc)
		return dk_usage_error("vfio persist", "name at least one device (BDF)");
	if (dk_host_sysroot_check() < 0)
		return dk_cli_fail();
	struct dk_host h;
	if (dk_host_probe(&h) < 0) {
		dk_host_free(&h);
		return dk_cli_fail();
	}
	struct dk_pci pci;
	if (dk_pci_scan(&pci) < 0) {
		dk_host_free(&h);
		return dk_cli_fail();
	}
	struct dk_vfio_plan p;
	int rc = dk_vfio_persist_plan(&h, &pci, argv + optind, bl, force, &p);
	dk_pci_free(&pci);
	dk_host_free(&h);
	if (rc == 0 && apply)
		rc = dk_vfio_persist_apply(&p);
	int ex = rc < 0 ? dk_cli_fail() : print_plan(&p, apply, false);
	dk_vfio_plan_free(&p);
	return ex;
}

int dk_cmd_vfio_undo(int argc, char **argv)
{
	bool apply = false;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_vfio_undo, argc, argv)) != -1) {
		switch (c) {
		case 'a': apply = true; break;
		case 'h': return dk_print_spec_help(&dk_spec_vfio_undo);
		default: return dk_getopt_error("vfio undo", c, argv);
		}
	}
	if (dk_cli_no_operands("vfio undo", argc, argv))
		return DK_EXIT_USAGE;
	struct dk_vfio_plan p;
	int rc = dk_vfio_undo_plan(&p);
	if (rc == 0 && apply)
		rc = dk_vfio_undo_apply(&p);
	int ex = rc < 0 ? dk_cli_fail() : print_plan(&p, apply, true);
	dk_vfio_plan_free(&p);
	return ex;
}
