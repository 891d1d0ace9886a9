/* dkvm opencore config */
#include "cli/cli.h"
#include "host/host.h"
#include "opencore/opencore.h"
#include "smbios/smbios.h"
#include "smbios/macos.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdlib.h>
#include <string.h>

enum { O_GPU = 256, O_HOSTCPU, O_SMBIOS, O_GENERATE, O_RES, O_KEXTS, O_DRIVER, O_ACPI, O_RELEASE, O_EXPLAIN, O_GUIDE, O_OFFLINE, O_KEXT_VERSION, O_AUDIO, O_BOOTARGS, O_PICKER };

static const struct dk_opt config_opts[] = {
	{"sample", 's', "FILE", "the release's Docs/Sample.plist (required)", DK_C_FILE, DK_OPT_SHORT},
	{"model", 'm', "MODEL", "Mac model (MacPro7,1, MacPro5,1, iMacPro1,1, ...; required)", DK_C_MODEL, DK_OPT_SHORT},
	{"macos", 'M', "RELEASE", "target macOS: name (sonoma), marketing name or version (14)", DK_C_MACOS, DK_OPT_SHORT},
	{"gpu", O_GPU, "KIND", "passed-through GPU, as the guide's chart routes it: navi (RX 5000/6000\n"
	 "with WhateverGreen: agdpmod=pikera), navi22 (RX 67xx: NootRX), amd (older\n"
	 "AMD), nvidia, kepler (past Big Sur: the legacy NVIDIA / OCLP route,\n"
	 "csr-active-config 03080000), none (default)", DK_C_GPU, 0},
	{"host-cpu", O_HOSTCPU, "KIND", "host CPU vendor: auto (read /proc/cpuinfo), amd or intel", "auto amd intel", 0},
	{"smbios", O_SMBIOS, "FILE", "identity from FILE.json as printed by 'dkvm smbios generate --json'", DK_C_FILE, 0},
	{"generate", O_GENERATE, NULL, "generate a new identity (the default without --smbios)", NULL, 0},
	{"resolution", O_RES, "WxH", "UEFI/Output/Resolution (WxH, WxH@BPP or Max)", NULL, 0},
	{"kexts", O_KEXTS, "DIR", "directory holding the .kext bundles the image will contain", DK_C_DIR, 0},
	{"driver", O_DRIVER, "NAME", "an extra UEFI driver in EFI/OC/Drivers (repeatable)", NULL, 0},
	{"acpi", O_ACPI, "NAME", "an SSDT in EFI/OC/ACPI (repeatable)", NULL, 0},
	{"guide-kexts", O_GUIDE, NULL, "the guide's kexts and SSDTs for --model/--macos/--gpu (as create):\n"
	 "fetched (cached, digest-verified), unpacked beside -o while the config\n"
	 "is made; --sample must be an unpacked release's Docs/Sample.plist", NULL, 0},
	{"audio", O_AUDIO, NULL, "with --guide-kexts: motherboard audio is passed through (AppleALC)", NULL, 0},
	{"kext-version", O_KEXT_VERSION, "NAME=VER", "with --guide-kexts: pin a kext's release (repeatable)", NULL, 0},
	{"offline", O_OFFLINE, NULL, "with --guide-kexts: the cache only", NULL, 0},
	{"boot-args", O_BOOTARGS, "ARGS", "\"A B\" adds boot-args (+X adds a token starting with '-'),\n"
	 "-X removes the token X (repeatable, in order)", NULL, 0},
	{"picker", O_PICKER, "gui|text", "gui: OpenCanopy.efi with PickerMode External and the guide's\n"
	 "picker settings (the image needs OpenCanopy.efi and Resources);\n"
	 "text: the builtin text picker (default)", "gui text", 0},
	{"release", O_RELEASE, "X.Y.Z", "OpenCore release of the sample (default: from its path)", NULL, 0},
	{"explain", O_EXPLAIN, NULL, "list every change with its reason", NULL, 0},
	{"output", 'o', "FILE", "where to write config.plist (required)", DK_C_FILE, DK_OPT_SHORT},
	{"force", 'f', NULL, "replace an existing output file; keep a VirtualSMC kext (refused:\n"
	 "QEMU's applesmc is the SMC)", NULL, DK_OPT_SHORT},
	{"json", 0, NULL, "print {\"output\",\"sample\",\"release\",\"model\",\"macos\",\n"
	 "\"smbios\":{...},\"changes\":[{\"path\",\"value\",\"reason\",\"active\"}]}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_opencore_config = {
	.head = "usage: dkvm opencore config --sample Sample.plist --model MODEL --macos RELEASE -o config.plist\n"
		"                            [--gpu KIND] [--host-cpu auto|amd|intel]\n"
		"                            [--smbios FILE.json | --generate] [--resolution WxH]\n"
		"                            [--kexts DIR] [--driver NAME.efi]... [--acpi NAME.aml]...\n"
		"                            [--guide-kexts [--audio] [--kext-version NAME=V]... [--offline]]\n"
		"                            [--boot-args ARGS]... [--picker gui|text]\n"
		"                            [--release X.Y.Z] [--explain] [--force] [--json]\n"
		"\n"
		"Build config.plist from an OpenCore release's own Docs/Sample.plist (never from a\n"
		"template of dkvm's) by applying the DarwinKVM guide's changes as declarative\n"
		"recipes, chosen by Mac model, macOS release, GPU and host CPU. The Sample's\n"
		"example entries are removed and exactly what the EFI image holds is added: UEFI\n"
		"drivers for the model and release, the kexts found in --kexts (read from each\n"
		"kext's Contents/Info.plist, ordered by OSBundleLibraries: Lilu first, plugins\n"
		"after their parents) and the SSDTs named with --acpi. PlatformInfo/Generic gets a\n"
		"unique SMBIOS identity. A key a recipe needs that this Sample.plist lacks is an\n"
		"error naming the key and the release. With --guide-kexts the kexts and SSDTs are the\n"
		"guide's set for the model, release and GPU, resolved and fetched as dkvm create does.\n",
	.opts = config_opts,
	.tail = "Examples:\n"
		"  dkvm opencore config --sample OpenCore-1.0.6/Docs/Sample.plist --model MacPro7,1 \\\n"
		"      --macos sequoia --kexts kexts/ --resolution 1920x1080 -o config.plist --explain\n"
		"  dkvm smbios generate --model MacPro5,1 --json > id.json\n"
		"  dkvm opencore config -s Sample.plist -m MacPro5,1 -M mojave --smbios id.json -o config.plist\n"
		"\n"
		"Exit status: 0 written, 1 failed (nothing written), 2 usage error.\n",
	.operands = NULL,
};

/* indexed by the enums, for dk_cli_choice() */
static const char *const picker_names[] = {"gui", "text", NULL};
static const char *const cpu_names[] = {[DK_HOSTCPU_AUTO] = "auto", [DK_HOSTCPU_INTEL] = "intel",
					[DK_HOSTCPU_AMD] = "amd", NULL};

int dk_cmd_opencore_config(int argc, char **argv)
{
	const char *cmd = "opencore config";
	struct dk_oc_config_opts o = {0};
	const char *model = NULL, *macos = NULL, *smbios_file = NULL, *output = NULL;
	bool generate = false, explain = false, force = false, guide = false, audio = false, offline = false;
	const char *pins[33] = {0};
	int npins = 0;
	const char *drivers[33] = {0}, *acpi[33] = {0}, *bootargs[33] = {0};
	int nd = 0, na = 0, nb = 0;
	int c, k;
	optind = 0;
	while ((c = dk_opt_next(&dk_spec_opencore_config, argc, argv)) != -1) {
		switch (c) {
		case 's': o.sample_path = optarg; break;
		case 'm': model = optarg; break;
		case 'M': macos = optarg; break;
		case 'o': output = optarg; break;
		case 'f': force = true; break;
		case O_GPU:
			if ((k = dk_cli_choice(cmd, "--gpu", optarg, dk_gpu_names)) < 0)
				return DK_EXIT_USAGE;
			o.gpu = (enum dk_gpu)k;
			break;
		case O_HOSTCPU:
			if ((k = dk_cli_choice(cmd, "--host-cpu", optarg, cpu_names)) < 0)
				return DK_EXIT_USAGE;
			o.host_cpu = (enum dk_host_cpu_kind)k;
			break;
		case O_SMBIOS: smbios_file = optarg; break;
		case O_GENERATE: generate = true; break;
		case O_RES: o.resolution = optarg; break;
		case O_KEXTS: o.kexts_dir = optarg; break;
		case O_DRIVER:
			if (nd >= 32)
				return dk_usage_error(cmd, "too many --driver options");
			drivers[nd++] = optarg;
			break;
		case O_ACPI:
			if (na >= 32)
				return dk_usage_error(cmd, "too many --acpi options");
			acpi[na++] = optarg;
			break;
		case O_BOOTARGS:
			if (nb >= 32)
				return dk_usage_error(cmd, "too many --boot-args options");
			bootargs[nb++] = optarg;
			break;
		case O_PICKER:
			if (dk_cli_choice(cmd, "--picker", optarg, picker_names) < 0)
				return DK_EXIT_USAGE;
			o.picker = optarg;
			break;
		case O_RELEASE: o.release = optarg; break;
		case O_EXPLAIN: explain = true; break;
		case O_GUIDE: guide = true; break;
		case O_AUDIO: audio = true; break;
		case O_OFFLINE: offline = true; break;
		case O_KEXT_VERSION:
			if (npins >= 32)
				return dk_usage_error(cmd, "too many --kext-version options");
			pins[npins++] = optarg;
			break;
		case 'h': return dk_print_spec_help(&dk_spec_opencore_config);
		default: return dk_getopt_error(cmd, c, argv);
		}
	}
	if (dk_cli_no_operands(cmd, argc, argv))
		return DK_EXIT_USAGE;
	if (!o.sample_path)
		return dk_usage_error(cmd, "--sample is required (the release's Docs/Sample.plist)");
	if (!model)
		return dk_usage_error(cmd, "--model is required (e.g. MacPro7,1)");
	if (!macos)
		return dk_usage_error(cmd, "--macos is required (e.g. sonoma)");
	if (!output)
		return dk_usage_error(cmd, "-o config.plist is required");
	if (!*output)
		return dk_usage_error(cmd, "empty output file name");
	if (smbios_file && generate)
		return dk_usage_error(cmd, "--smbios and --generate exclude each other");
	if (o.release && (strspn(o.release, "0123456789.") != strlen(o.release) || !*o.release ||
			  o.release[0] == '.' || strstr(o.release, "..")))
		return dk_usage_error(cmd, "--release must look like 1.0.6, not '%s'", o.release);
	o.model = dk_mac_model_find(model);
	if (!o.model)
		return dk_usage_error(cmd, "unknown model '%s' (see 'dkvm smbios generate --list')", model);
	o.macos = dk_macos_find(macos);
	if (!o.macos)
		return dk_usage_error(cmd, "unknown macOS release '%s'", macos);
	if (o.host_cpu == DK_HOSTCPU_AUTO) {
		/* the fact, read here at the edge: /proc/cpuinfo (under --sysroot) */
		struct dk_host h;
		if (dk_host_probe_cpu(&h) < 0)
			dk_errclear(); /* unreadable: Intel, as before */
		o.host_cpu = h.cpu.vendor == DK_VENDOR_AMD ? DK_HOSTCPU_AMD : DK_HOSTCPU_INTEL;
		dk_host_free(&h);
	}
	o.drivers = nd ? drivers : NULL;
	o.acpi = na ? acpi : NULL;
	o.boot_args = nb ? bootargs : NULL;
	if (dk_oc_boot_args_check(o.boot_args) < 0)
		return dk_usage_error(cmd, "%s", dk_errmsg());
	o.force = force;
	o.explain = explain;
	if (!guide && (audio || offline || npins))
		return dk_usage_error(cmd, "--audio, --kext-version and --offline go with --guide-kexts");
	if (guide && o.kexts_dir)
		return dk_usage_error(cmd, "--guide-kexts and --kexts: give one");
	if (npins && dk_oc_pins_check(pins) < 0)
		return dk_usage_error(cmd, "%s", dk_errmsg());
	if (dk_output_check(output, force) < 0)
		return dk_cli_fail();
	struct dk_oc_staged_dir gs = {0};
	if (guide) {
		/* the guide's set in a temporary folder beside the output, from the
		 * release the Sample.plist is in */
		struct dk_oc_stage_opts so = {.set = {.model = o.model, .macos = o.macos, .gpu = o.gpu, .audio = audio},
					      .pins = pins, .offline = offline};
		if (dk_oc_stage_for_sample(&so, o.sample_path, output, &gs) < 0) {
			dk_fail_prefix("--guide-kexts");
			return dk_cli_fail();
		}
		for (char **a = gs.st.acpi_names; a && *a && na < 32; a++)
			acpi[na++] = *a;
		o.kexts_dir = gs.kexts_dir;
		o.acpi = na ? acpi : NULL;
	}

	struct dk_smbios id;
	if (smbios_file) {
		if (dk_smbios_load_json(smbios_file, &id) < 0) {
			dk_oc_staged_dir_free(&gs);
			return dk_cli_fail();
		}
	} else if (dk_smbios_generate(o.model, &id) < 0) {
		dk_oc_staged_dir_free(&gs);
		return dk_cli_fail();
	}
	o.smbios = &id;

	char *xml = NULL;
	uint32_t len = 0;
	struct dk_oc_changes ch = {0};
	if (dk_oc_config_build(&o, &xml, &len, &ch) < 0) {
		dk_oc_staged_dir_free(&gs);
		return dk_cli_fail();
	}
	int rc = DK_EXIT_OK;
	if (dk_write_file_atomic(output, xml, len, force, 0600) < 0) {
		rc = dk_cli_fail();
		goto out;
	}
	const char *release = dk_oc_sample_release(o.sample_path, o.release);
	if (dk_json_output) {
		json_object *j = dk_oc_config_to_json(&o, output, release, &ch);
		dk_json_print(j);
	} else if (explain || dk_verbosity > DK_QUIET) {
		if (explain) {
			for (int i = 0; i < ch.n; i++)
				printf("%s%s%s = %s\n    %s\n    active: %s\n", dk_c_bold(), dk_esc(ch.v[i].path),
				       dk_c_reset(), dk_esc(ch.v[i].value), dk_esc(ch.v[i].reason), dk_esc(ch.v[i].active));
			printf("\n");
		}
		printf("wrote %s: %s, macOS %s (%s), from %s (OpenCore %s), %d changes%s\n", dk_esc(output),
		       o.model->name, o.macos->marketing, o.macos->version, dk_esc(o.sample_path), dk_esc(release), ch.n,
		       explain ? "" : " (--explain lists them)");
		printf("SMBIOS: %s serial %s, MLB %s, UUID %s\n", dk_esc(id.product), dk_esc(id.serial), dk_esc(id.mlb),
		       dk_esc(id.uuid)); /* may come from an --smbios file */
	}
out:
	free(xml);
	dk_oc_changes_free(&ch);
	dk_oc_staged_dir_free(&gs);
	return rc;
}
