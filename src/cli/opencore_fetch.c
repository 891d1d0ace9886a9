/* dkvm opencore fetch: argv -> dk_oc_fetch() for OpenCorePkg and kexts. */
#include "cli/cli.h"
#include "opencore/opencore.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/output.h"

#include <string.h>

static const struct dk_opt fetch_opts[] = {
	{"version", 'V', "X.Y.Z", "OpenCorePkg version (default: the latest release)", NULL, 0},
	{"kext", 'k', "LIST", "comma-separated kexts: Lilu, WhateverGreen, AppleALC,\n"
	 "RestrictEvents, VirtualSMC, NVMeFix, VoodooPS2, VMHide, NootRX,\n"
	 "... or owner/repo; NAME@VER pins a version (repeatable)", NULL, 0},
	{"no-opencore", 'N', NULL, "fetch only the kexts", NULL, 0},
	{"mirror", 'm', "URL", "use URL instead of https://api.github.com and the download\n"
	 "hosts (it serves /repos/<owner>/<repo>/releases/... and the\n"
	 "download paths); also $DKVM_GITHUB_MIRROR", NULL, 0},
	{"json", 0, NULL, "print the fetched files as JSON", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_opencore_fetch = {
	.head = "usage: dkvm opencore fetch [--version X.Y.Z] [--kext NAME[@VER],...] [--mirror URL]\n"
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

static json_object *fetched_json(const struct dk_oc_fetched *f)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", dk_json_str(f->name));
	json_object_object_add(o, "repo", dk_json_str(f->repo));
	json_object_object_add(o, "version", dk_json_str(f->version));
	json_object_object_add(o, "asset", dk_json_str(f->asset));
	json_object_object_add(o, "path", dk_json_str(f->path));
	json_object_object_add(o, "url", dk_json_str(f->url));
	json_object_object_add(o, "sha256", dk_json_str(f->sha256));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)f->size));
	json_object_object_add(o, "cached", json_object_new_boolean(f->cached));
	json_object_object_add(o, "verified", json_object_new_boolean(f->verified));
	return o;
}

int dk_cmd_opencore_fetch(int argc, char **argv)
{
	const char *cmd = "opencore fetch";
	const char *version = NULL, *mirror = NULL;
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
		case 'h': dk_buf_free(&kexts); return dk_print_spec_help(&dk_spec_opencore_fetch);
		default: dk_buf_free(&kexts); return dk_getopt_error(cmd, c, argv);
		}
	}
	if (optind < argc) {
		dk_buf_free(&kexts);
		return dk_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
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
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct dk_oc_fetched f;
		if (dk_oc_fetch(names[i], vers[i], mirror, &f) < 0) {
			rc = dk_cli_fail();
			break;
		}
		if (dk_json_output)
			json_object_array_add(arr, fetched_json(&f));
		else
			printf("%-14s %-8s %s (%s)\n", dk_esc(f.name), dk_esc(f.version), dk_esc(f.path), /* a release tag */
			       f.cached ? (f.verified ? "cached, verified" : "cached") :
			       (f.verified ? "downloaded, SHA-256 verified" : "downloaded, no published digest"));
		dk_oc_fetched_free(&f);
	}
	if (dk_json_output && rc == DK_EXIT_OK) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "releases", arr);
		dk_json_print(o);
	} else {
		json_object_put(arr);
	}
	free(list);
	return rc;
}
