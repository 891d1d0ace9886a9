/* dkvm fetch list|recovery|installer */
#include "cli/cli.h"
#include "fetch/fetch.h"
#include "smbios/macos.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"

#include <stdlib.h>
#include <string.h>

static int parse_conns(const char *cmd, const char *s, int *out)
{
	uint64_t v;
	if (dk_cli_uint(cmd, "--connections", s, 1, 32, &v) < 0)
		return DK_EXIT_USAGE;
	*out = (int)v;
	return 0;
}

/* ---- recovery ---- */

enum { OR_MACOS = 256, OR_BOARD, OR_MLB, OR_OS, OR_CONN, OR_SERVER, OR_KEY, OR_RESUME, OR_FORCE, OR_DIAG, OR_NOVERIFY };

static const struct dk_opt recovery_opts[] = {
	{"macos", OR_MACOS, "RELEASE", "release from 'dkvm fetch list' (sonoma, 14, \"Big Sur\"...):\n"
	 "uses its board-id, MLB and os from the release table", DK_C_MACOS, 0},
	{"board-id", OR_BOARD, "ID", "ask for this board-id instead (e.g. Mac-7BA5B2D9E42DDD94)", NULL, 0},
	{"mlb", OR_MLB, "MLB", "17-character board serial (default: the release's, or zeros)", NULL, 0},
	{"os", OR_OS, "default|latest", "oldest or newest build for the board (default: release's)", "default latest", 0},
	{"output", 'o', "DIR", "where com.apple.recovery.boot/ goes (default: .)", DK_C_DIR, DK_OPT_SHORT},
	{"connections", OR_CONN, "N", "parallel connections, 1..32 (default 4)", NULL, 0},
	{"server", OR_SERVER, "URL", "replaces http://osrecovery.apple.com (mirrors, tests)", NULL, 0},
	{"trust-key", OR_KEY, "PEM", "RSA public key (PEM) that replaces Apple's chunklist key", DK_C_FILE, 0},
	{"resume", OR_RESUME, NULL, "require a partial download to continue (resuming is\n"
	 "otherwise automatic when one is found)", NULL, 0},
	{"force", OR_FORCE, NULL, "replace an existing image that does not verify", NULL, 0},
	{"diag", OR_DIAG, NULL, "Apple Diagnostics instead of recoveryOS", NULL, 0},
	{"json", 0, NULL, "progress as JSON lines on stderr, result as JSON on stdout", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{"no-verify-for-bench", OR_NOVERIFY, NULL, NULL, NULL, 0},
	{0},
};

const struct dk_cmd_spec dk_spec_fetch_recovery = {
	.head = "usage: dkvm fetch recovery --macos RELEASE | --board-id ID [--mlb MLB] [--os latest|default]\n"
		"                           [-o DIR] [--connections N] [--server URL] [--trust-key PEM]\n"
		"                           [--resume] [--force] [--diag]\n"
		"\n"
		"Download recoveryOS from Apple with the osrecovery protocol and verify it:\n"
		"the chunklist's RSA-2048 signature first, then the SHA-256 of every chunk of the\n"
		"image as it arrives. The image is fetched in N parallel ranged requests; a\n"
		"chunk that fails its hash or is cut by a dropped connection is fetched again\n"
		"(bounded retries, backoff) and the rest kept. An interrupted run resumes from\n"
		"the state file beside the partial download. Output, the layout OpenCore boots:\n"
		"  DIR/com.apple.recovery.boot/BaseSystem.dmg + BaseSystem.chunklist\n"
		"  (or RecoveryImage.dmg/.chunklist when Apple's image URL names a RecoveryImage;\n"
		"  these fixed names are used whatever file names the server gives)\n",
	.opts = recovery_opts,
	.tail = "Examples:\n"
		"  dkvm fetch recovery --macos sonoma -o ~/macos\n"
		"  dkvm fetch recovery --board-id Mac-CFF7D910A743CAAF --os latest --connections 8\n"
		"\n"
		"Exit status: 0 downloaded and verified (or already present and verified),\n"
		"1 failure (no final image is left), 2 usage error.\n",
	.operands = NULL,
};

int dk_cmd_fetch_recovery(int argc, char **argv)
{
	struct dk_fetch_recovery_opts o = {0};
	const char *cmd = "fetch recovery";
	int c;
	optind = 0;
	while ((c = dk_opt_next(&dk_spec_fetch_recovery, argc, argv)) != -1) {
		switch (c) {
		case OR_MACOS: o.macos = optarg; break;
		case OR_BOARD: o.board_id = optarg; break;
		case OR_MLB: o.mlb = optarg; break;
		case OR_OS: {
			static const char *const names[] = {"default", "latest", NULL};
			if (dk_cli_choice(cmd, "--os", optarg, names) < 0)
				return DK_EXIT_USAGE;
			o.os = optarg;
			break;
		}
		case 'o': o.outdir = optarg; break;
		case OR_CONN:
			if (parse_conns(cmd, optarg, &o.connections))
				return DK_EXIT_USAGE;
			break;
		case OR_SERVER: o.server = optarg; break;
		case OR_KEY: o.trust_key = optarg; break;
		case OR_RESUME: o.resume = true; break;
		case OR_FORCE: o.force = true; break;
		case OR_DIAG: o.diag = true; break;
		case OR_NOVERIFY: o.no_verify = true; break;
		case 'h': return dk_print_spec_help(&dk_spec_fetch_recovery);
		default: return dk_getopt_error(cmd, c, argv);
		}
	}
	if (dk_cli_no_operands(cmd, argc, argv))
		return DK_EXIT_USAGE;
	if (!o.macos && !o.board_id)
		return dk_usage_error(cmd, "give --macos RELEASE or --board-id ID");
	if (o.outdir && !*o.outdir)
		return dk_usage_error(cmd, "empty output directory name");
	if (o.macos && !dk_macos_find(o.macos))
		return dk_usage_error(cmd, "unknown release '%s' (see 'dkvm fetch list')", o.macos);
	struct dk_fetch_recovery_result r;
	if (dk_fetch_recovery(&o, &r) < 0) {
		dk_fetch_recovery_result_free(&r);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print(dk_fetch_recovery_to_json(&o, &r));
	} else if (dk_verbosity >= DK_NORMAL) {
		char sz[32];
		dk_format_size(r.image_size, sz, sizeof sz);
		printf("%s: %s (%s, %llu chunks)%s\n", dk_esc(r.image_path),
		       r.already_complete ? "already present, verified" : "downloaded, every chunk verified", sz,
		       (unsigned long long)r.chunks, o.no_verify ? " [NOT VERIFIED: bench mode]" : "");
		if (r.chunks_resumed || r.chunks_refetched)
			printf("  %llu chunks resumed from an earlier run, %llu fetched again after a failure\n",
			       (unsigned long long)r.chunks_resumed, (unsigned long long)r.chunks_refetched);
		printf("%s: signature verified\n", dk_esc(r.chunklist_path));
	}
	dk_fetch_recovery_result_free(&r);
	return DK_EXIT_OK;
}

/* ---- list ---- */

enum { OL_CATALOG = 256, OL_OFFLINE, OL_TIMEOUT };

static const struct dk_opt list_opts[] = {
	{"catalog", OL_CATALOG, "URL", "software-update catalog (gzip'd or plain plist; default:\n"
	 "Apple's catalog for macOS 26 and everything before it)", NULL, 0},
	{"offline", OL_OFFLINE, NULL, "do not contact the catalog", NULL, 0},
	{"timeout", OL_TIMEOUT, "S", "catalog timeout in seconds (default 10)", NULL, 0},
	{"json", 0, NULL, "one JSON document on stdout (see dkvm-fetch(1))", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_fetch_list = {
	.head = "usage: dkvm fetch list [--json] [--catalog URL] [--offline] [--timeout S]\n"
		"\n"
		"List every macOS release from Lion to Tahoe with the recoveryOS request that\n"
		"yields it (board-id, MLB, os=default|latest: a board whose last release is the\n"
		"target, with an all-zero MLB; older releases use a product-only MLB), and, when\n"
		"Apple's software-update catalog is reachable, the full installers it offers\n"
		"(products with InstallAssistant.pkg: version, build, size, post date, beta).\n"
		"An unreachable catalog prints a warning; the recovery table is still printed.\n",
	.opts = list_opts,
	.tail = "Examples:\n"
		"  dkvm fetch list\n"
		"  dkvm fetch list --json --offline\n"
		"\n"
		"Exit status: 0 (also when the catalog is unreachable), 2 usage error.\n",
	.operands = NULL,
};

int dk_cmd_fetch_list(int argc, char **argv)
{
	const char *cmd = "fetch list", *catalog = DK_SUCATALOG_URL;
	bool offline = false;
	long timeout = 10;
	int c;
	optind = 0;
	while ((c = dk_opt_next(&dk_spec_fetch_list, argc, argv)) != -1) {
		switch (c) {
		case OL_CATALOG: catalog = optarg; break;
		case OL_OFFLINE: offline = true; break;
		case OL_TIMEOUT: {
			uint64_t v;
			if (dk_cli_uint(cmd, "--timeout", optarg, 1, 600, &v) < 0)
				return DK_EXIT_USAGE;
			timeout = (long)v;
			break;
		}
		case 'h': return dk_print_spec_help(&dk_spec_fetch_list);
		default: return dk_getopt_error(cmd, c, argv);
		}
	}
	if (dk_cli_no_operands(cmd, argc, argv))
		return DK_EXIT_USAGE;
	struct dk_catalog cat = {0};
	bool reachable = false;
	char *cat_err = NULL;
	if (!offline) {
		if (dk_catalog_fetch(catalog, timeout, &cat) == 0) {
			reachable = true;
		} else {
			cat_err = dk_strdup(dk_errmsg());
			dk_warn("software-update catalog unavailable (%s); listing recoveryOS only", cat_err);
		}
	}
	if (dk_json_output) {
		dk_json_print(dk_fetch_list_to_json(&cat, offline ? NULL : catalog, reachable, cat_err));
	} else {
		printf("%srecoveryOS%s (dkvm fetch recovery --macos RELEASE)\n", dk_c_bold(), dk_c_reset());
		printf("  %-13s %-14s %-7s %-21s %-18s %s\n", "RELEASE", "NAME", "VERSION", "BOARD-ID", "MLB", "OS");
		for (int i = 0; i < dk_macos_count; i++) {
			const struct dk_macos *m = &dk_macos_table[i];
			printf("  %-13s %-14s %-7s %-21s %-18s %s\n", m->name, m->marketing, m->version, m->board_id,
			       m->mlb, m->os);
		}
		if (reachable) {
			printf("\n%sfull installers%s (dkvm fetch installer --version X[.Y[.Z]]) from %s\n", dk_c_bold(),
			       dk_c_reset(), dk_esc(catalog));
			printf("  %-9s %-10s %-10s %-11s %-10s %s\n", "VERSION", "BUILD", "SIZE", "DATE", "PRODUCT", "TITLE");
			for (int i = 0; i < cat.count; i++) {
				const struct dk_sw_product *p = &cat.products[i];
				char sz[32], date[11] = "?";
				dk_format_size(p->size, sz, sizeof sz);
				if (p->post_date)
					snprintf(date, sizeof date, "%.10s", p->post_date);
				/* every string here comes from the catalog server */
				printf("  %-9s %-10s %-10s %-11s %-10s %s%s\n", dk_esc(p->version ? p->version : "?"),
				       dk_esc(p->build ? p->build : "?"), sz, dk_esc(date), dk_esc(p->id),
				       dk_esc(p->title ? p->title : ""),
				       p->beta ? " (beta)" : "");
			}
			if (!cat.count)
				printf("  (none)\n");
		}
	}
	free(cat_err);
	dk_catalog_free(&cat);
	return DK_EXIT_OK;
}

/* ---- installer ---- */

enum { OI_VERSION = 256, OI_CATALOG, OI_CONN, OI_FORCE };

static const struct dk_opt installer_opts[] = {
	{"version", OI_VERSION, "V", "14, 14.6, 14.6.1 ... (see 'dkvm fetch list')", NULL, 0},
	{"output", 'o', "DIR", "parent directory (default: .)", DK_C_DIR, DK_OPT_SHORT},
	{"catalog", OI_CATALOG, "URL", "software-update catalog (default: Apple's)", NULL, 0},
	{"connections", OI_CONN, "N", "parallel connections per package, 1..32 (default 4)", NULL, 0},
	{"force", OI_FORCE, NULL, "replace existing packages that do not verify", NULL, 0},
	{"json", 0, NULL, "result as JSON on stdout, progress as JSON lines on stderr", NULL, DK_OPT_GLOBAL},
	{"help", 'h', NULL, "this help", NULL, DK_OPT_SHORT},
	{0},
};

const struct dk_cmd_spec dk_spec_fetch_installer = {
	.head = "usage: dkvm fetch installer --version X[.Y[.Z]] [-o DIR] [--catalog URL] [--connections N] [--force]\n"
		"\n"
		"Download a full macOS installer from Apple's software-update catalog: every\n"
		"package of the newest product matching the version (a beta only when nothing\n"
		"else matches), into DIR/<version>_<build>/. Each package is fetched with the\n"
		"same parallel, resumable machinery as recoveryOS and verified chunk by chunk\n"
		"against its integrity chunklist (IntegrityDataURL) where Apple publishes one.\n"
		"Those chunklists are normally unsigned (their chunk hashes are checked, which\n"
		"ties every byte to the catalog entry); packages without one are checked by\n"
		"size only, and the output says so.\n",
	.opts = installer_opts,
	.tail = "Examples:\n"
		"  dkvm fetch installer --version 15 -o ~/macos\n"
		"\n"
		"Exit status: 0 every package downloaded and verified, 1 failure, 2 usage error.\n",
	.operands = NULL,
};

/* 1 to 3 dot-separated numbers: 15, 14.6, 14.6.1 */
static bool version_ok(const char *v)
{
	int parts = 0;
	for (const char *p = v;; p++) {
		size_t n = strspn(p, "0123456789");
		if (n == 0 || ++parts > 3)
			return false;
		p += n;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
	}
}

int dk_cmd_fetch_installer(int argc, char **argv)
{
	const char *cmd = "fetch installer";
	struct dk_fetch_installer_opts o = {0};
	int c;
	optind = 0;
	while ((c = dk_opt_next(&dk_spec_fetch_installer, argc, argv)) != -1) {
		switch (c) {
		case OI_VERSION: o.version = optarg; break;
		case 'o': o.outdir = optarg; break;
		case OI_CATALOG: o.catalog = optarg; break;
		case OI_CONN:
			if (parse_conns(cmd, optarg, &o.connections))
				return DK_EXIT_USAGE;
			break;
		case OI_FORCE: o.force = true; break;
		case 'h': return dk_print_spec_help(&dk_spec_fetch_installer);
		default: return dk_getopt_error(cmd, c, argv);
		}
	}
	if (dk_cli_no_operands(cmd, argc, argv))
		return DK_EXIT_USAGE;
	if (!o.version)
		return dk_usage_error(cmd, "--version is required");
	if (o.outdir && !*o.outdir)
		return dk_usage_error(cmd, "empty output directory name");
	if (!version_ok(o.version))
		return dk_usage_error(cmd, "--version must look like 15, 14.6 or 14.6.1, not '%s'", o.version);
	struct dk_fetch_installer_result r;
	if (dk_fetch_installer(&o, &r) < 0) {
		dk_fetch_installer_result_free(&r);
		return dk_cli_fail();
	}
	if (dk_json_output) {
		dk_json_print(dk_fetch_installer_to_json(&r));
	} else if (dk_verbosity >= DK_NORMAL) {
		printf("macOS %s (%s), product %s -> %s\n", dk_esc(r.version), dk_esc(r.build), dk_esc(r.product),
		       dk_esc(r.dir));
		for (int i = 0; i < r.npkgs; i++) {
			char sz[32];
			dk_format_size(r.pkgs[i].size, sz, sizeof sz);
			printf("  %s (%s): %s%s\n", dk_esc(r.pkgs[i].path), sz, dk_esc(r.pkgs[i].verification),
			       r.pkgs[i].already_complete ? ", already present" : "");
		}
	}
	dk_fetch_installer_result_free(&r);
	return DK_EXIT_OK;
}
