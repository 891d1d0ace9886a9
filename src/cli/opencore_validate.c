/* dkvm opencore validate */
#include "cli/cli.h"
#include "opencore/opencore.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"

#include <string.h>

static const struct dk_opt validate_opts[] = {
	{"sample", 's', "FILE", "the Sample.plist of the same OpenCore release (schema)", DK_C_FILE, DK_OPT_SHORT},
	{"efi", 'e', "DIR", "an EFI tree: the directory holding OC/ (or EFI/OC, or OC itself)", DK_C_DIR, DK_OPT_SHORT},
	{"image", 'i', "IMG", "check against the EFI in a disk image (a GPT disk's EFI System\n"
	 "Partition or a bare FAT32 volume), read without mounting; without\n"
	 "a config.plist argument, validate the image's EFI/OC/config.plist", DK_C_FILE, DK_OPT_SHORT},
	{"json", 0, NULL, "print {\"config\",\"image\",\"sample\",\"efi\",\"errors\",\"warnings\",\n"
	 "\"valid\",\n"
	 "\"findings\":[{\"severity\",\"path\",\"rule\",\"message\"}]}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_opencore_validate = {
	.head = "usage: dkvm opencore validate config.plist [--sample Sample.plist] [--efi DIR | --image IMG] [--json]\n"
		"       dkvm opencore validate --image IMG [--sample Sample.plist] [--json]\n"
		"\n"
		"Validate an OpenCore config.plist:\n"
		"  * schema, with --sample: every key of the release's Sample.plist present, no\n"
		"    unknown keys, the same types; array entries (Kernel/Add, UEFI/Drivers, ...)\n"
		"    against the Sample's entries; keys starting with '#' are comments;\n"
		"  * the rule families of OpenCore's validator: enums (SecureBootModel, DmgLoading,\n"
		"    Vault, PickerMode, KernelArch, ...), documented bits (ScanPolicy with its lock\n"
		"    bits, PickerAttributes, ExposeSensitiveData, Target), dependent quirks\n"
		"    (ProvideCustomSlide and friends need OpenRuntime.efi, Lilu needs\n"
		"    DisableLinkeditJettison, DmgLoading=Any only with SecureBootModel=Disabled,\n"
		"    HFS+ drivers need ConnectDrivers, ...), path suffixes, charsets and lengths,\n"
		"    duplicates, plugin kexts after their parents, patch sizes and masks,\n"
		"    MinKernel/MaxKernel, device paths, NVRAM GUIDs and value sizes,\n"
		"    PlatformInfo formats (UUID, 6-byte ROM, serial and MLB lengths);\n"
		"  * with --efi or --image: every enabled ACPI table, driver, tool and kext\n"
		"    (bundle, executable, Info.plist) exists in the EFI tree, executables match\n"
		"    the kexts' Info.plist, and kexts come after the kexts they depend on\n"
		"    (OSBundleLibraries).\n",
	.opts = validate_opts,
	.tail = "Examples:\n"
		"  dkvm opencore validate config.plist --sample OpenCore-1.0.6/Docs/Sample.plist\n"
		"  dkvm opencore validate EFI/OC/config.plist --efi EFI --json\n"
		"  dkvm opencore validate --image OpenCore.img --sample Sample.plist\n"
		"\n"
		"Exit status: 0 no errors (warnings allowed), 1 errors found or unreadable input,\n"
		"2 usage error.\n",
	.operands = DK_C_FILE,
};

int dk_cmd_opencore_validate(int argc, char **argv)
{
	const char *cmd = "opencore validate";
	struct dk_oc_validate_opts o = {0};
	int c;
	optind = 0;
	while ((c = dk_opt_next(&dk_spec_opencore_validate, argc, argv)) != -1) {
		switch (c) {
		case 's': o.sample_path = optarg; break;
		case 'e': o.efi_dir = optarg; break;
		case 'i': o.image = optarg; break;
		case 'h': return dk_print_spec_help(&dk_spec_opencore_validate);
		default: return dk_getopt_error(cmd, c, argv);
		}
	}
	if (optind >= argc && !o.image)
		return dk_usage_error(cmd, "missing config.plist");
	if (optind + 1 < argc)
		return dk_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if (o.efi_dir && o.image)
		return dk_usage_error(cmd, "--efi and --image exclude each other");
	o.config_path = optind < argc ? argv[optind] : NULL;
	struct dk_oc_findings f;
	if (dk_oc_validate(&o, &f) < 0)
		return dk_cli_fail();
	if (dk_json_output) {
		dk_json_print(dk_oc_findings_to_json(&o, &f));
	} else {
		for (int i = 0; i < f.n; i++) {
			bool err = f.v[i].severity == DK_OC_ERROR;
			printf("%s%s%s: %s%s%s [%s]\n", err ? dk_c_red() : dk_c_yellow(), err ? "error" : "warning",
			       dk_c_reset(), dk_esc(f.v[i].path), *f.v[i].path ? ": " : "", dk_esc(f.v[i].message),
			       f.v[i].rule); /* path and message quote the plist's keys and values */
		}
		printf("%s: %d error%s, %d warning%s%s\n", dk_esc(o.config_path ? o.config_path : "EFI/OC/config.plist"), f.errors, f.errors == 1 ? "" : "s", f.warnings,
		       f.warnings == 1 ? "" : "s", f.errors ? "" : " - valid");
	}
	int rc = f.errors ? DK_EXIT_FAIL : DK_EXIT_OK;
	dk_oc_findings_free(&f);
	return rc;
}
