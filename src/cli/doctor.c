/* dkvm doctor: argv and output only; the rules are src/doctor/. */
#include "cli/cli.h"
#include "doctor/doctor.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdlib.h>
#include <string.h>

static const struct dk_opt doctor_opts[] = {
	{"domain", 'd', "NAME", "a libvirt domain (with --connect)", NULL, 0},
	{"connect", 'c', "URI", "the libvirt connection of --domain (qemu:///system, ...)", NULL, 0},
	{"xml", 'x', "FILE", "a libvirt domain XML file (also one dkvm did not make)", DK_C_FILE, 0},
	{"argv", 'a', "FILE", "a QEMU command line (a qemu.argv file: shell words)", DK_C_FILE, 0},
	{"config", 'C', "FILE", "an OpenCore config.plist", DK_C_FILE, 0},
	{"log", 'l', "FILE", "an OpenCore log (opencore-*.txt)", DK_C_FILE, 0},
	{"macos", 'r', "RELEASE", "the target release (default: the bundle's, or the domain's <description>)",
	 DK_C_MACOS, 0},
	{"no-host", 'H', NULL, "do not read host facts (ignore_msrs, clocksource, CPU vendor)", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"json", 0, NULL, "print {\"findings\":[{\"id\",\"severity\",\"source\",\"evidence\",\"fix\"}],\n"
			  "\"errors\":N,\"warnings\":N}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_doctor = {
	.head = "usage: dkvm doctor [NAME | --domain NAME --connect URI | --xml FILE | --argv FILE]\n"
		"                   [--config FILE] [--log FILE] [--macos RELEASE] [--no-host] [--dir DIR]\n"
		"\n"
		"Check a VM against the known failures of macOS on QEMU/KVM (the DarwinKVM guide's\n"
		"troubleshooting table, the peers' top complaints): CPU topology, the CPU vendor and\n"
		"model on this host and for the release, applesmc, the memory balloon, the NIC model,\n"
		"SecureBootModel/DmgLoading, kexts' kernel ranges, well-known shared serials, the\n"
		"host's ignore_msrs and clocksource, and OpenCore log lines mapped to their causes.\n"
		"\n"
		"NAME is a dkvm bundle: its domain.xml, qemu.argv and config.plist, and the OpenCore\n"
		"image's EFI/OC/config.plist and opencore-*.txt logs (read without mounting). Host\n"
		"facts are read (through --sysroot) when a VM definition is given. Each finding has a\n"
		"severity, an id, the evidence and the fix.\n",
	.opts = doctor_opts,
	.tail = "Examples:\n"
		"  dkvm doctor mymac\n"
		"  dkvm doctor --domain macos --connect qemu:///system\n"
		"  dkvm doctor --xml macOS-libvirt-Catalina.xml --macos catalina\n"
		"  dkvm doctor --config config.plist --log opencore-2024-01-01-120000.txt --macos sonoma\n"
		"\n"
		"Exit status: 0 no warnings or errors (info findings allowed), 1 warnings or errors\n"
		"found, or an input could not be read, 2 usage error.\n",
	.operands = DK_C_VM,
};

static void print_text(const struct dk_findings *f)
{
	const char *last = NULL;
	for (size_t i = 0; i < f->n; i++) {
		const struct dk_finding *x = &f->v[i];
		if (!last || strcmp(last, x->source) != 0) {
			printf("%s%s%s:\n", dk_c_bold(), dk_esc(x->source), dk_c_reset());
			last = x->source;
		}
		const char *col = x->severity == DK_DOC_ERROR ? dk_c_red() : x->severity == DK_DOC_WARNING ? dk_c_yellow() : "";
		printf("  %s%-7s%s %s: %s\n", col, dk_doctor_sev_name(x->severity), dk_c_reset(), x->id, dk_esc(x->evidence));
		printf("          fix: %s\n", dk_esc(x->fix));
	}
	if (!f->n)
		printf("no known problems found\n");
	else
		printf("%d error%s, %d warning%s\n", f->errors, f->errors == 1 ? "" : "s", f->warnings,
		       f->warnings == 1 ? "" : "s");
}

static void print_json(const struct dk_findings *f)
{
	dk_json_print(dk_findings_to_json(f));
}

int dk_cmd_doctor(int argc, char **argv)
{
	struct dk_doctor_opts o = {0};
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_doctor, argc, argv)) != -1) {
		switch (c) {
		case 'd': o.domain = optarg; break;
		case 'c': o.uri = optarg; break;
		case 'x': o.xml = optarg; break;
		case 'a': o.argv = optarg; break;
		case 'C': o.config = optarg; break;
		case 'l': o.log = optarg; break;
		case 'r': o.macos = optarg; break;
		case 'H': o.no_host = true; break;
		case 'D': o.dir = optarg; break;
		case 'h': return dk_print_spec_help(&dk_spec_doctor);
		default: return dk_getopt_error("doctor", c, argv);
		}
	}
	if (optind < argc)
		o.name = argv[optind++];
	if (optind < argc)
		return dk_usage_error("doctor", "unexpected argument '%s'", dk_esc(argv[optind]));
	if (!!o.name + !!o.domain + !!o.xml + !!o.argv > 1)
		return dk_usage_error("doctor", "give one VM: NAME, --domain, --xml or --argv");
	if (!o.name && !o.domain && !o.xml && !o.argv && !o.config && !o.log)
		return dk_usage_error("doctor", "nothing to check: give NAME, --domain, --xml, --argv, --config or --log");
	if (o.domain && !o.uri)
		return dk_usage_error("doctor", "--domain needs --connect URI");
	if (o.uri && !o.domain)
		return dk_usage_error("doctor", "--connect goes with --domain");
	if (o.dir && !o.name)
		return dk_usage_error("doctor", "--dir goes with a bundle NAME");
	if (o.macos && !dk_macos_find(o.macos))
		return dk_usage_error("doctor", "--macos '%s': not a macOS release dkvm knows", dk_esc(o.macos));

	struct dk_doctor_input in;
	if (dk_doctor_load(&o, &in) < 0)
		return dk_cli_fail();
	struct dk_findings f;
	int r = dk_doctor_run(&in, &f);
	dk_doctor_input_free(&in);
	if (r < 0)
		return dk_cli_fail();
	if (dk_json_output)
		print_json(&f);
	else
		print_text(&f);
	int rc = f.errors || f.warnings ? DK_EXIT_FAIL : DK_EXIT_OK;
	dk_findings_free(&f);
	return rc;
}
