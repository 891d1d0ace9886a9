/* dkvm opencore image: argv -> dk_oc_image_build() -> summary. */
#include "cli/cli.h"
#include "opencore/opencore.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/strv.h"

#include <string.h>

static const struct dk_opt image_opts[] = {
	{"release", 'r', "DIR|ZIP", "OpenCorePkg release (the published zip, or unpacked)", DK_C_FILE, 0},
	{"config", 'c', "FILE", "config.plist to install as EFI/OC/config.plist", DK_C_FILE, 0},
	{"kext", 'k', "DIR|ZIP", "a .kext folder for EFI/OC/Kexts, or a kext release zip (its\n"
	 "bundles that config.plist enables are copied) (repeatable)", DK_C_FILE, 0},
	{"acpi", 'a', "FILE", "an .aml table for EFI/OC/ACPI (repeatable)", DK_C_FILE, 0},
	{"driver", 'd', "FILE", "a UEFI driver not in the release, e.g. HfsPlus.efi (repeatable)", DK_C_FILE, 0},
	{"recovery", 'R', "DIR", "copy com.apple.recovery.boot (DIR/com.apple.recovery.boot or\n"
	 "DIR itself) to the volume root", DK_C_DIR, 0},
	{"add", 'A', "SRC:DEST", "copy a host file or folder SRC to DEST in the volume (repeatable)", NULL, 0},
	{"size", 's', "SIZE|auto", "disk size (e.g. 2G, 512M); auto = content + 16 MiB, >= 64 MiB", NULL, 0},
	{"format", 'f', "raw|qcow2", "output format (default raw; qcow2 written directly)", "raw qcow2", 0},
	{"reproducible", 'P', NULL, "fixed timestamps ($SOURCE_DATE_EPOCH or 2000-01-01), GUIDs and\n"
	 "volume id derived from the content: same input, same bytes", NULL, 0},
	{"force", 'F', NULL, "overwrite IMG if it exists", NULL, 0},
	{"output", 'o', "IMG", "the image to write (required)", DK_C_FILE, DK_OPT_SHORT},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_opencore_image = {
	.head = "usage: dkvm opencore image --release DIR|ZIP --config config.plist -o IMG [options]\n"
		"\n"
		"Build a bootable OpenCore disk image without root: a GPT disk with one EFI System\n"
		"Partition (FAT32, label OPENCORE) holding EFI/BOOT/BOOTx64.efi, EFI/OC/OpenCore.efi,\n"
		"EFI/OC/config.plist and EFI/OC/{ACPI,Drivers,Kexts,Resources,Tools}. Only the drivers\n"
		"and tools config.plist enables are copied from the release; every enabled Kernel/Add\n"
		"and ACPI/Add entry must be given with --kext / --acpi.\n",
	.opts = image_opts,
	.tail = "Examples:\n"
		"  dkvm opencore image --release OpenCore-1.0.6-RELEASE.zip --config config.plist \\\n"
		"      --kext Lilu.kext --kext VMHide.kext --recovery ~/macos-15 --size 2G -o OpenCore.img\n"
		"  dkvm opencore image --release OC --config config.plist --format qcow2 -o oc.qcow2\n"
		"\n"
		"Exit status: 0 written, 1 failed (nothing is left at IMG), 2 usage error.\n"
		"See dkvm-opencore-image(1).\n",
	.operands = NULL,
};

static void print_list(const char *what, char **v)
{
	printf("  %-10s", what);
	if (!v || !*v)
		printf(" (none)");
	for (; v && *v; v++)
		printf(" %s", dk_esc(*v)); /* names from the EFI folder or a zip */
	printf("\n");
}

int dk_cmd_opencore_image(int argc, char **argv)
{
	const char *cmd = "opencore image";
	struct dk_oc_image_opts o = {0};
	struct dk_strv kexts = {0}, acpi = {0}, drivers = {0}, add = {0};
	int rc = DK_EXIT_OK;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_opencore_image, argc, argv)) != -1) {
		switch (c) {
		case 'r': o.release = optarg; break;
		case 'c': o.config = optarg; break;
		case 'k': dk_strv_push(&kexts, optarg); break;
		case 'a': dk_strv_push(&acpi, optarg); break;
		case 'd': dk_strv_push(&drivers, optarg); break;
		case 'A':
			if (!strrchr(optarg, ':') || strrchr(optarg, ':') == optarg || !strrchr(optarg, ':')[1]) {
				rc = dk_usage_error(cmd, "--add wants SRC:DEST, got '%s'", optarg);
				goto out;
			}
			dk_strv_push(&add, optarg);
			break;
		case 'R': o.recovery = optarg; break;
		case 's':
			if (!strcmp(optarg, "auto")) {
				o.size = 0;
			} else if (dk_parse_size(optarg, &o.size) < 0 || o.size == 0) {
				rc = dk_usage_error(cmd, "--size: '%s' is not a size (e.g. 2G, 512M, auto)", optarg);
				goto out;
			}
			break;
		case 'f':
			if (!strcmp(optarg, "raw")) {
				o.qcow2 = false;
			} else if (!strcmp(optarg, "qcow2")) {
				o.qcow2 = true;
			} else {
				rc = dk_usage_error(cmd, "--format: '%s' is not raw or qcow2", optarg);
				goto out;
			}
			break;
		case 'P': o.reproducible = true; break;
		case 'F': o.force = true; break;
		case 'o': o.output = optarg; break;
		case 'h': rc = dk_print_spec_help(&dk_spec_opencore_image); goto out;
		default: rc = dk_getopt_error(cmd, c, argv); goto out;
		}
	}
	if (optind < argc) {
		rc = dk_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!o.release || !o.config || !o.output) {
		rc = dk_usage_error(cmd, "--release, --config and -o are required");
		goto out;
	}
	o.kexts = (const char *const *)kexts.v;
	o.acpi = (const char *const *)acpi.v;
	o.drivers = (const char *const *)drivers.v;
	o.add = (const char *const *)add.v;
	o.progress = true;
	struct dk_oc_image_result res;
	o.result = &res;
	if (dk_oc_image_build(&o) < 0) {
		rc = dk_cli_fail();
		goto out;
	}
	if (dk_json_output) {
		dk_json_print(dk_oc_image_to_json(&o, &res));
	} else if (dk_verbosity > DK_QUIET) {
		char a[32], b[32];
		printf("%s: %s %s disk, EFI System Partition at %s, FAT32 \"OPENCORE\" (%u-byte clusters), %s of "
		       "files\n",
		       dk_esc(o.output), dk_format_size(res.disk_bytes, a, sizeof a), o.qcow2 ? "qcow2" : "raw",
		       "1 MiB", res.cluster_size, dk_format_size(res.payload_bytes, b, sizeof b));
		print_list("drivers:", res.drivers);
		print_list("tools:", res.tools);
		print_list("kexts:", res.kexts);
		print_list("acpi:", res.acpi);
		if (res.recovery)
			printf("  recovery:  com.apple.recovery.boot\n");
	}
	dk_oc_image_result_free(&res);
out:
	dk_strv_clear(&kexts);
	dk_strv_clear(&acpi);
	dk_strv_clear(&drivers);
	dk_strv_clear(&add);
	return rc;
}
