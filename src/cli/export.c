/* dkvm export: argv and output only; the rendering is dk_proxmox_conf(). */
#include "cli/cli.h"
#include "vm/vm.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdlib.h>
#include <string.h>

static const struct dk_opt export_opts[] = {
	{"proxmox", 'P', NULL, "the export format (Proxmox VE; the only one)", NULL, 0},
	{"vmid", 'i', "N", "the Proxmox VM ID, 100..999999999 (default 100)", NULL, 0},
	{"output", 'o', "FILE", "write the config to FILE (atomically; mode 0600: it holds the UUID)", DK_C_FILE,
	 DK_OPT_SHORT},
	{"force", 'f', NULL, "replace FILE when it exists", NULL, 0},
	{"storage", 's', "STORAGE", "Proxmox storage for the disks and EFI vars (default local-lvm)", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"json", 0, NULL, "print {\"vmid\",\"config\",\"commands\":[...]}", NULL, DK_OPT_GLOBAL},
	{0},
};

const struct dk_cmd_spec dk_spec_export = {
	.head = "usage: dkvm export NAME --proxmox [--vmid N] [-o FILE [--force]] [--storage STORAGE] [--dir DIR]\n"
		"\n"
		"Write the VM as a Proxmox VE VM: its qemu-server config (/etc/pve/qemu-server/N.conf)\n"
		"and the qm commands that import its OpenCore image and disk. The config carries the\n"
		"plan's decisions as its leading '#' lines (the VM's notes in Proxmox), then machine q35,\n"
		"bios ovmf, the CPU topology and memory, the NIC with the VM's MAC on vmbr0, the display,\n"
		"and in args: isa-applesmc with the OSK, -smbios type=2, the plan's -cpu and the xHCI\n"
		"keyboard and tablet. The commands (run on the Proxmox host once the config is in place)\n"
		"add an EFI vars disk without pre-enrolled keys, then import the OpenCore image (virtio0,\n"
		"boot 1) and the disk (virtio1 or sata0 as planned, boot 2) with qm importdisk and attach\n"
		"each with qm set. The image paths are this machine's: run them where the files are.\n"
		"\n"
		"The config goes to stdout and the commands to stderr, so that stdout can be redirected\n"
		"to the .conf file; with -o the config goes to FILE and the commands to stdout.\n",
	.opts = export_opts,
	.tail = "Examples:\n"
		"  dkvm export mymac --proxmox --vmid 120 > 120.conf\n"
		"  dkvm export mymac --proxmox --vmid 120 -o /etc/pve/qemu-server/120.conf --storage local\n"
		"\n"
		"Exit status: 0 written, 1 failure (no such VM, a plan Proxmox cannot take, FILE exists),\n"
		"2 usage error.\n",
	.operands = DK_C_VM,
};

int dk_cmd_export(int argc, char **argv)
{
	bool proxmox = false, force = false;
	const char *out = NULL, *dir = NULL;
	struct dk_pve_opts po = {.vmid = 100, .storage = "local-lvm"};
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_export, argc, argv)) != -1) {
		uint64_t v;
		switch (c) {
		case 'P': proxmox = true; break;
		case 'i':
			if (dk_cli_uint("export", "--vmid", optarg, DK_PVE_VMID_MIN, DK_PVE_VMID_MAX, &v) < 0)
				return DK_EXIT_USAGE;
			po.vmid = (unsigned long)v;
			break;
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 's':
			if (dk_pve_storage_check(optarg) < 0) {
				dk_errclear();
				return dk_usage_error("export", "--storage '%s': not a Proxmox storage ID", optarg);
			}
			po.storage = optarg;
			break;
		case 'D': dir = optarg; break;
		case 'h': return dk_print_spec_help(&dk_spec_export);
		default: return dk_getopt_error("export", c, argv);
		}
	}
	if (optind >= argc)
		return dk_usage_error("export", "missing VM name");
	if (optind + 1 < argc)
		return dk_usage_error("export", "unexpected argument '%s'", argv[optind + 1]);
	if (!proxmox)
		return dk_usage_error("export", "say the format: --proxmox (the only one)");
	if (force && !out)
		return dk_usage_error("export", "--force needs -o FILE");
	if (out && dk_output_check(out, force) < 0)
		return dk_cli_fail();

	char *parent = dk_bundle_parent(dir);
	struct dk_bundle b;
	int r = dk_bundle_open(parent, argv[optind], &b);
	free(parent);
	if (r < 0)
		return dk_cli_fail();
	struct dk_vm_files f = dk_bundle_files(&b);
	char *conf = NULL, **cmds = NULL;
	if (dk_proxmox_conf(&b.plan, &f, &po, &conf, &cmds) < 0) {
		dk_fail_prefix("%s", b.name);
		dk_bundle_close(&b);
		return dk_cli_fail();
	}
	dk_bundle_close(&b);
	if (out && dk_write_file_atomic(out, conf, strlen(conf), force, 0600) < 0) {
		free(conf);
		dk_strv_free(cmds);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print(dk_proxmox_to_json(po.vmid, conf, out, cmds));
	} else {
		if (!out)
			fputs(conf, stdout);
		FILE *cf = out ? stdout : stderr;
		fprintf(cf, "# on the Proxmox host, with the config as /etc/pve/qemu-server/%lu.conf:\n", po.vmid);
		for (char **p = cmds; p && *p; p++)
			fprintf(cf, "%s\n", *p);
	}
	free(conf);
	dk_strv_free(cmds);
	return DK_EXIT_OK;
}
