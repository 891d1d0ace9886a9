/* dkvm update: argv -> dk_vm_efi_rebuild() -> what changed. */
#include "cli/cli.h"
#include "vm/vm.h"
#include "opencore/opencore.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/strv.h"

#include <stdlib.h>
#include <string.h>

enum { O_OPENCORE = 1000, O_OC_VERSION, O_KEXT_VERSION, O_OFFLINE, O_DRY_RUN };

static const struct dk_opt update_opts[] = {
	{"opencore", O_OPENCORE, "ZIP|DIR", "this OpenCorePkg release (zip or unpacked folder) instead of the\n"
	 "latest from GitHub", DK_C_FILE, 0},
	{"opencore-version", O_OC_VERSION, "V", "fetch this OpenCorePkg release (1.0.6) instead of the latest", NULL, 0},
	{"kext-version", O_KEXT_VERSION, "NAME=VER", "pin a fetched kext's release (Lilu=1.7.1; repeatable)", NULL, 0},
	{"offline", O_OFFLINE, NULL, "take OpenCorePkg and the kexts from the cache only", NULL, 0},
	{"dry-run", O_DRY_RUN, NULL, "print what would change (versions, kexts, config.plist diff);\n"
	 "change nothing", NULL, 0},
	{"dir", 'D', "DIR", "parent directory of bundles (default $XDG_DATA_HOME/dkvm)", DK_C_DIR, 0},
	{"json", 0, NULL, "print {\"name\",\"dry_run\",\"changed\",\"applied\",\"opencore\",\"kexts\",\n"
	 "\"config\",\"diff\",\"warnings\"}", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, NULL, NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_update = {
	.head = "usage: dkvm update NAME [--opencore ZIP|DIR] [--opencore-version V] [--kext-version NAME=V]...\n"
		"                        [--offline] [--dry-run] [--dir DIR]\n"
		"\n"
		"Move a stopped VM to a newer OpenCorePkg release and newer kexts. The guide's kext set is\n"
		"fetched again (digest-verified, cached); the VM's config.plist is migrated through the new\n"
		"release's Sample.plist: every value the VM has for a key the new Sample still has is kept\n"
		"(the serial, MLB, ROM and UUID byte for byte; boot-args token by token: dkvm's recipe\n"
		"tokens follow the new config, the others stay), keys new in the Sample are added with dkvm's\n"
		"recipes, keys it no longer has are dropped, the kext/SSDT/driver lists are made for the\n"
		"new set. Kexts, SSDTs and drivers added at create and recoveryOS are carried over from the\n"
		"current image. The new config and the new image are validated before anything moves; then\n"
		"the image replaces OpenCore.img (the old one stays as OpenCore.img.prev, the old config as\n"
		"config.plist.prev) and the manifest records the new EFI. The libvirt domain is not\n"
		"changed (same image path). A running VM is refused, and so is one another dkvm command\n"
		"(create, update, tune, start, destroy) is working on, and one made with --pool (its\n"
		"domain boots a pool volume that update does not upload again: build an image with\n"
		"dkvm opencore image, upload it with virsh vol-upload). Nothing changes when the VM\n"
		"already has what the update would make.\n",
	.opts = update_opts,
	.tail = "Examples:\n"
		"  dkvm update mymac --dry-run\n"
		"  dkvm update mymac --opencore-version 1.0.7 --kext-version Lilu=1.7.1\n"
		"  dkvm update mymac --opencore OpenCore-1.0.7-RELEASE.zip --offline\n"
		"\n"
		"Exit status: 0 updated (or nothing to do), 1 failure (the VM is unchanged), 2 usage error.\n"
		"See dkvm-vm(1).\n",
	.operands = DK_C_VM,
};

static void print_text(const struct dk_bundle *b, const struct dk_efi_rebuild_result *r, bool dry)
{
	if (!r->changed) {
		printf("%s: up to date (OpenCore %s)\n", dk_esc(b->name), r->new_opencore ? dk_esc(r->new_opencore) : "?");
		return;
	}
	printf("%s: %s\n", dk_esc(b->name), dry ? "would update (dry run, nothing changed)" : "updated");
	printf("  OpenCore  %s -> %s\n", r->old_opencore ? dk_esc(r->old_opencore) : "?",
	       r->new_opencore ? dk_esc(r->new_opencore) : "?");
	for (size_t i = 0; i < r->nkexts; i++) {
		const struct dk_kext_change *k = &r->kexts[i];
		if (k->old_version && k->new_version && !strcmp(k->old_version, k->new_version))
			continue;
		printf("  kext      %-24s %s -> %s\n", dk_esc(k->name), k->old_version ? dk_esc(k->old_version) : "(none)",
		       k->new_version ? dk_esc(k->new_version) : "(none)");
	}
	for (size_t i = 0; i < r->nchanges; i++)
		printf("  config    %-11s %s\n", r->changes[i].kind, dk_esc(r->changes[i].path));
	if (r->diff && *r->diff)
		fputs(r->diff, stdout);
	if (!dry)
		printf("  previous image kept as %s.prev\n", dk_esc(b->opencore));
}

int dk_cmd_update(int argc, char **argv)
{
	const char *cmd = "update", *dir = NULL;
	struct dk_efi_rebuild_opts o = {0};
	struct dk_strv pins = {0};
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_update, argc, argv)) != -1) {
		switch (c) {
		case O_OPENCORE: o.opencore = optarg; break;
		case O_OC_VERSION: o.opencore_version = optarg; break;
		case O_KEXT_VERSION: dk_strv_push(&pins, optarg); break;
		case O_OFFLINE: o.offline = true; break;
		case O_DRY_RUN: o.dry_run = true; break;
		case 'D': dir = optarg; break;
		case 'h': dk_strv_clear(&pins); return dk_print_spec_help(&dk_spec_update);
		default: dk_strv_clear(&pins); return dk_getopt_error(cmd, c, argv);
		}
	}
	int rc = DK_EXIT_OK;
	if (optind >= argc)
		rc = dk_usage_error(cmd, "missing VM name");
	else if (optind + 1 < argc)
		rc = dk_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	else if (o.opencore && o.opencore_version)
		rc = dk_usage_error(cmd, "--opencore and --opencore-version: give one");
	else if (pins.n && dk_oc_pins_check((const char *const *)pins.v) < 0)
		rc = dk_usage_error(cmd, "%s", dk_errmsg());
	if (rc) {
		dk_strv_clear(&pins);
		return rc;
	}
	o.kext_pins = (const char *const *)pins.v;
	char *parent = dk_bundle_parent(dir);
	struct dk_bundle b;
	int k = dk_bundle_open(parent, argv[optind], &b);
	free(parent);
	if (k < 0) {
		dk_strv_clear(&pins);
		return dk_cli_fail();
	}
	struct dk_efi_rebuild_result r;
	if (dk_vm_efi_rebuild(&b, &o, &r) < 0) {
		rc = dk_cli_fail();
	} else {
		for (char **w = r.warnings; w && *w; w++)
			dk_warn("%s", *w);
		if (dk_json_output)
			dk_json_print(dk_efi_rebuild_to_json(&b, &r, o.dry_run));
		else
			print_text(&b, &r, o.dry_run);
	}
	dk_efi_rebuild_result_free(&r);
	dk_bundle_close(&b);
	dk_strv_clear(&pins);
	return rc;
}
