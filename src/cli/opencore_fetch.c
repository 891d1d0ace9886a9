/* dkvm opencore fetch: argv -> dk_oc_fetch() for OpenCorePkg and kexts. */
#include "cli/cli.h"
#include "opencore/opencore.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/fs.h"
#include "smbios/smbios.h"
#include "smbios/macos.h"

#include <stdlib.h>
#include <unistd.h>

#include <string.h>

static const struct dk_opt fetch_opts[] = {
	{"version", 'V', "X.Y.Z", "OpenCorePkg version (default: the latest release)", NULL, 0},
	{"kext", 'k', "LIST", "comma-separated kexts: Lilu, WhateverGreen, AppleALC,\n"
	 "RestrictEvents, VirtualSMC, NVMeFix, VoodooPS2, VMHide, NootRX,\n"
	 "... or owner/repo; NAME@VER pins a version (repeatable)", NULL, 0},
	{"no-opencore", 'N', NULL, "fetch only the kexts", NULL, 0},
	{"macos", 'M', "RELEASE", "also the guide's kext set (and SSDTs) for this macOS release, as\n"
	 "create resolves it: fetched, verified, RELEASE bundles unpacked beside\n"
	 "the OpenCorePkg release in efi-MODEL-RELEASE/{Kexts,ACPI}", DK_C_MACOS, 0},
	{"model", 'o', "MODEL", "with --macos: the Mac model (default MacPro7,1)", DK_C_MODEL, 0},
	{"gpu", 'g', "KIND", "with --macos: passed-through GPU, as opencore config --gpu: amd,\n"
	 "navi, navi22, nvidia, kepler or none", DK_C_GPU, 0},
	{"audio", 'a', NULL, "with --macos: motherboard audio passed through (AppleALC)", NULL, 0},
	{"mirror", 'm', "URL", "use URL instead of https://api.github.com and the download\n"
	 "hosts (it serves /repos/<owner>/<repo>/releases/... and the\n"
	 "download paths); also $DKVM_GITHUB_MIRROR", NULL, 0},
	{"json", 0, NULL, "print the fetched files as JSON", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_opencore_fetch = {
	.head = "usage: dkvm opencore fetch [--version X.Y.Z] [--kext NAME[@VER],...] [--mirror URL]\n"
		"                           [--macos RELEASE [--model MODEL] [--gpu KIND] [--audio]]\n"
		"\n"
		"Download the OpenCorePkg release zip and kext release zips from GitHub releases into\n"
		"the cache ($XDG_CACHE_HOME/dkvm/releases/<owner>/<repo>/<version>/), each verified\n"
		"against the SHA-256 digest the release publishes. Files already cached (and matching)\n"
		"are not downloaded again; a pinned version that is cached needs no network.\n",
	.opts = fetch_opts,
	.tail = "Examples:\n"
		"  dkvm opencore fetch --kext Lilu,WhateverGreen,VMHide\n"
		"  dkvm opencore fetch --version 1.0.6 --kext Lilu@1.7.1\n"
		"\n"
		"Exit status: 0 all fetched, 1 a download or check failed, 2 usage error.\n"
		"See dkvm-opencore-image(1).\n",
	.operands = NULL,
};

/* --macos: the guide's set staged beside the release zip; its kexts and SSDTs printed. */
static int stage_set(const struct dk_oc_set_opts *so, const char *release, const char *mirror, json_object **set)
{
	struct dk_oc_stage_opts o = {.set = *so, .release = release, .mirror = mirror};
	struct dk_oc_staged_dir d;
	if (dk_oc_stage_release(&o, &d) < 0)
		return -1;
	if (dk_json_output) {
		*set = dk_oc_staged_to_json(&d);
	} else {
		for (size_t i = 0; i < d.st.ninfo; i++) {
			const struct dk_oc_staged_kext *k = &d.st.info[i];
			printf("%-14s %-8s %s/%s.kext (%s)\n", dk_esc(k->name), dk_esc(k->version ? k->version : "-"),
			       dk_esc(d.kexts_dir), dk_esc(k->name), dk_esc(k->source));
		}
		for (char **a = d.st.acpi_names; a && *a; a++)
			printf("%-14s %-8s %s/ACPI/%s (OpenCorePkg)\n", dk_esc(*a), "-", dk_esc(d.dir), dk_esc(*a));
	}
	dk_oc_staged_dir_free(&d);
	return 0;
}

int dk_cmd_opencore_fetch(int argc, char **argv)
{
	const char *cmd = "opencore fetch";
	const char *version = NULL, *mirror = NULL, *macos = NULL, *model = NULL;
	struct dk_oc_set_opts so = {0};
	int g;
	bool opencore = true;
	struct dk_buf kexts = {0};
	int rc = DK_EXIT_OK;
	optind = 0;
	int c;
	while ((c = dk_opt_next(&dk_spec_opencore_fetch, argc, argv)) != -1) {
		switch (c) {
		case 'V': version = optarg; break;
		case 'k':
			if (kexts.len)
				dk_buf_puts(&kexts, ",");
			dk_buf_puts(&kexts, optarg);
			break;
		case 'm': mirror = optarg; break;
		case 'N': opencore = false; break;
		case 'M': macos = optarg; break;
		case 'o': model = optarg; break;
		case 'a': so.audio = true; break;
		case 'g':
			if ((g = dk_cli_choice(cmd, "--gpu", optarg, dk_gpu_names)) < 0) {
				dk_buf_free(&kexts);
				return DK_EXIT_USAGE;
			}
			so.gpu = (enum dk_gpu)g;
			break;
		case 'h': dk_buf_free(&kexts); return dk_print_spec_help(&dk_spec_opencore_fetch);
		default: dk_buf_free(&kexts); return dk_getopt_error(cmd, c, argv);
		}
	}
	if (optind < argc) {
		dk_buf_free(&kexts);
		return dk_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	}
	if (!macos && (model || so.gpu || so.audio)) {
		dk_buf_free(&kexts);
		return dk_usage_error(cmd, "--model, --gpu and --audio go with --macos");
	}
	if (macos) {
		so.macos = dk_macos_find(macos);
		so.model = dk_mac_model_find(model ? model : "MacPro7,1");
		const char *bad = !so.macos ? "macOS release" : !so.model ? "model" : NULL;
		if (bad || !opencore) {
			dk_buf_free(&kexts);
			return bad ? dk_usage_error(cmd, "unknown %s '%s'", bad, !so.macos ? macos : model)
				   : dk_usage_error(cmd, "--macos needs the OpenCorePkg release (its SSDTs): not with --no-opencore");
		}
	}
	/* the work list: name + version */
	char *list = kexts.len ? dk_strndup(kexts.data, kexts.len) : dk_strdup("");
	dk_buf_free(&kexts);
	const char *names[64], *vers[64];
	size_t n = 0;
	if (opencore) {
		names[n] = "OpenCorePkg";
		vers[n++] = version;
	}
	char *save = NULL;
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		dk_strstrip(t);
		if (!*t)
			continue;
		if (n >= DK_ARRAY_SIZE(names)) {
			free(list);
			return dk_usage_error(cmd, "too many kexts");
		}
		char *at = strchr(t, '@');
		if (at)
			*at++ = 0;
		if (!strchr(t, '/') && !dk_oc_fetch_repo(t)) {
			rc = dk_usage_error(cmd, "unknown kext '%s' (give owner/repo for others)", t);
			free(list);
			return rc;
		}
		names[n] = t;
		vers[n++] = at && *at ? at : NULL;
	}
	if (!n) {
		free(list);
		return dk_usage_error(cmd, "nothing to fetch (--no-opencore without --kext)");
	}
	json_object *arr = json_object_new_array(), *set = NULL;
	char *ocpath = NULL;
	for (size_t i = 0; i < n; i++) {
		struct dk_oc_fetched f;
		if (dk_oc_fetch(names[i], vers[i], mirror, &f) < 0) {
			rc = dk_cli_fail();
			break;
		}
		if (i == 0 && opencore)
			ocpath = dk_strdup(f.path);
		if (dk_json_output)
			json_object_array_add(arr, dk_oc_fetched_to_json(&f));
		else
			printf("%-14s %-8s %s (%s)\n", dk_esc(f.name), dk_esc(f.version), dk_esc(f.path), /* a release tag */
			       f.cached ? (f.verified ? "cached, verified" : "cached") :
			       (f.verified ? "downloaded, SHA-256 verified" : "downloaded, no published digest"));
		dk_oc_fetched_free(&f);
	}
	if (rc == DK_EXIT_OK && macos && stage_set(&so, ocpath, mirror, &set) < 0)
		rc = dk_cli_fail();
	free(ocpath);
	if (dk_json_output && rc == DK_EXIT_OK) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "releases", arr);
		json_object_object_add(o, "set", set);
		dk_json_print(o);
	} else {
		json_object_put(arr);
		json_object_put(set);
	}
	free(list);
	return rc;
}
