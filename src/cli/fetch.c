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

static const char help_recovery[] =
	"usage: dkvm fetch recovery --macos RELEASE | --board-id ID [--mlb MLB] [--os latest|default]\n"
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
	"  these fixed names are used whatever file names the server gives)\n"
	"\n"
	"Options:\n"
	"  --macos RELEASE    release from 'dkvm fetch list' (sonoma, 14, \"Big Sur\"...):\n"
	"                     uses its board-id, MLB and os from the release table\n"
	"  --board-id ID      ask for this board-id instead (e.g. Mac-7BA5B2D9E42DDD94)\n"
	"  --mlb MLB          17-character board serial (default: the release's, or zeros)\n"
	"  --os default|latest  oldest or newest build for the board (default: release's)\n"
	"  -o, --output DIR   where com.apple.recovery.boot/ goes (default: .)\n"
	"  --connections N    parallel connections, 1..32 (default 4)\n"
	"  --server URL       replaces http://osrecovery.apple.com (mirrors, tests)\n"
	"  --trust-key PEM    RSA public key (PEM) that replaces Apple's chunklist key\n"
	"  --resume           require a partial download to continue (resuming is\n"
	"                     otherwise automatic when one is found)\n"
	"  --force            replace an existing image that does not verify\n"
	"  --diag             Apple Diagnostics instead of recoveryOS\n"
	"  --json             progress as JSON lines on stderr, result as JSON on stdout\n"
	"  -h, --help         this help\n"
	"\n"
	"Examples:\n"
	"  dkvm fetch recovery --macos sonoma -o ~/macos\n"
	"  dkvm fetch recovery --board-id Mac-CFF7D910A743CAAF --os latest --connections 8\n"
	"\n"
	"Exit status: 0 downloaded and verified (or already present and verified),\n"
	"1 failure (no final image is left), 2 usage error.\n";

int dk_cmd_fetch_recovery(int argc, char **argv)
{
	enum { O_MACOS = 256, O_BOARD, O_MLB, O_OS, O_CONN, O_SERVER, O_KEY, O_RESUME, O_FORCE, O_DIAG, O_NOVERIFY };
	static const struct option opts[] = {
		{"macos", required_argument, NULL, O_MACOS},
		{"board-id", required_argument, NULL, O_BOARD},
		{"mlb", required_argument, NULL, O_MLB},
		{"os", required_argument, NULL, O_OS},
		{"output", required_argument, NULL, 'o'},
		{"connections", required_argument, NULL, O_CONN},
		{"server", required_argument, NULL, O_SERVER},
		{"trust-key", required_argument, NULL, O_KEY},
		{"resume", no_argument, NULL, O_RESUME},
		{"force", no_argument, NULL, O_FORCE},
		{"diag", no_argument, NULL, O_DIAG},
		{"no-verify-for-bench", no_argument, NULL, O_NOVERIFY},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_fetch_recovery_opts o = {0};
	const char *cmd = "fetch recovery";
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (c) {
		case O_MACOS: o.macos = optarg; break;
		case O_BOARD: o.board_id = optarg; break;
		case O_MLB: o.mlb = optarg; break;
		case O_OS: {
			static const char *const names[] = {"default", "latest", NULL};
			if (dk_cli_choice(cmd, "--os", optarg, names) < 0)
				return DK_EXIT_USAGE;
			o.os = optarg;
			break;
		}
		case 'o': o.outdir = optarg; break;
		case O_CONN:
			if (parse_conns(cmd, optarg, &o.connections))
				return DK_EXIT_USAGE;
			break;
		case O_SERVER: o.server = optarg; break;
		case O_KEY: o.trust_key = optarg; break;
		case O_RESUME: o.resume = true; break;
		case O_FORCE: o.force = true; break;
		case O_DIAG: o.diag = true; break;
		case O_NOVERIFY: o.no_verify = true; break;
		case 'h': return dk_print_help(help_recovery);
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
		json_object *j = json_object_new_object();
		json_object_object_add(j, "product", dk_json_str(r.product));
		json_object_object_add(j, "image", dk_json_str(r.image_path));
		json_object_object_add(j, "chunklist", dk_json_str(r.chunklist_path));
		json_object_object_add(j, "image_url", dk_json_str(r.image_url));
		json_object_object_add(j, "image_size", json_object_new_int64((int64_t)r.image_size));
		json_object_object_add(j, "chunks", json_object_new_int64((int64_t)r.chunks));
		json_object_object_add(j, "chunks_resumed", json_object_new_int64((int64_t)r.chunks_resumed));
		json_object_object_add(j, "chunks_refetched", json_object_new_int64((int64_t)r.chunks_refetched));
		json_object_object_add(j, "bytes_downloaded", json_object_new_int64((int64_t)r.bytes_downloaded));
		json_object_object_add(j, "already_complete", json_object_new_boolean(r.already_complete));
		json_object_object_add(j, "verified", json_object_new_boolean(!o.no_verify));
		dk_json_print(j);
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

static const char help_list[] =
	"usage: dkvm fetch list [--json] [--catalog URL] [--offline] [--timeout S]\n"
	"\n"
	"List every macOS release from Lion to Tahoe with the recoveryOS request that\n"
	"yields it (board-id, MLB, os=default|latest: a board whose last release is the\n"
	"target, with an all-zero MLB; older releases use a product-only MLB), and, when\n"
	"Apple's software-update catalog is reachable, the full installers it offers\n"
	"(products with InstallAssistant.pkg: version, build, size, post date, beta).\n"
	"An unreachable catalog prints a warning; the recovery table is still printed.\n"
	"\n"
	"Options:\n"
	"  --catalog URL      software-update catalog (gzip'd or plain plist; default:\n"
	"                     Apple's catalog for macOS 26 and everything before it)\n"
	"  --offline          do not contact the catalog\n"
	"  --timeout S        catalog timeout in seconds (default 10)\n"
	"  --json             one JSON document on stdout (see dkvm-fetch(1))\n"
	"  -h, --help         this help\n"
	"\n"
	"Examples:\n"
	"  dkvm fetch list\n"
	"  dkvm fetch list --json --offline\n"
	"\n"
	"Exit status: 0 (also when the catalog is unreachable), 2 usage error.\n";

int dk_cmd_fetch_list(int argc, char **argv)
{
	enum { O_CATALOG = 256, O_OFFLINE, O_TIMEOUT };
	static const struct option opts[] = {
		{"catalog", required_argument, NULL, O_CATALOG},
		{"offline", no_argument, NULL, O_OFFLINE},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *cmd = "fetch list", *catalog = DK_SUCATALOG_URL;
	bool offline = false;
	long timeout = 10;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_CATALOG: catalog = optarg; break;
		case O_OFFLINE: offline = true; break;
		case O_TIMEOUT: {
			uint64_t v;
			if (dk_cli_uint(cmd, "--timeout", optarg, 1, 600, &v) < 0)
				return DK_EXIT_USAGE;
			timeout = (long)v;
			break;
		}
		case 'h': return dk_print_help(help_list);
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
		json_object *o = json_object_new_object(), *rec = json_object_new_array();
		for (int i = 0; i < dk_macos_count; i++) {
			const struct dk_macos *m = &dk_macos_table[i];
			json_object *r = json_object_new_object();
			json_object_object_add(r, "name", dk_json_str(m->name));
			json_object_object_add(r, "marketing", dk_json_str(m->marketing));
			json_object_object_add(r, "version", dk_json_str(m->version));
			json_object_object_add(r, "board_id", dk_json_str(m->board_id));
			json_object_object_add(r, "mlb", dk_json_str(m->mlb));
			json_object_object_add(r, "os", dk_json_str(m->os));
			json_object_array_add(rec, r);
		}
		json_object_object_add(o, "recovery", rec);
		json_object *co = json_object_new_object();
		json_object_object_add(co, "url", offline ? NULL : dk_json_str(catalog));
		json_object_object_add(co, "reachable", json_object_new_boolean(reachable));
		json_object_object_add(co, "error", dk_json_str(cat_err));
		json_object *inst = json_object_new_array();
		for (int i = 0; i < cat.count; i++) {
			const struct dk_sw_product *p = &cat.products[i];
			json_object *r = json_object_new_object();
			json_object_object_add(r, "product", dk_json_str(p->id));
			json_object_object_add(r, "title", dk_json_str(p->title));
			json_object_object_add(r, "version", dk_json_str(p->version));
			json_object_object_add(r, "build", dk_json_str(p->build));
			json_object_object_add(r, "size", json_object_new_int64((int64_t)p->size));
			json_object_object_add(r, "post_date", dk_json_str(p->post_date));
			json_object_object_add(r, "beta", json_object_new_boolean(p->beta));
			json_object_object_add(r, "packages", json_object_new_int(p->npkgs));
			json_object_array_add(inst, r);
		}
		json_object_object_add(co, "installers", inst);
		json_object_object_add(o, "catalog", co);
		dk_json_print(o);
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

static const char help_installer[] =
	"usage: dkvm fetch installer --version X[.Y[.Z]] [-o DIR] [--catalog URL] [--connections N] [--force]\n"
	"\n"
	"Download a full macOS installer from Apple's software-update catalog: every\n"
	"package of the newest product matching the version (a beta only when nothing\n"
	"else matches), into DIR/<version>_<build>/. Each package is fetched with the\n"
	"same parallel, resumable machinery as recoveryOS and verified chunk by chunk\n"
	"against its integrity chunklist (IntegrityDataURL) where Apple publishes one.\n"
	"Those chunklists are normally unsigned (their chunk hashes are checked, which\n"
	"ties every byte to the catalog entry); packages without one are checked by\n"
	"size only, and the output says so.\n"
	"\n"
	"Options:\n"
	"  --version V        14, 14.6, 14.6.1 ... (see 'dkvm fetch list')\n"
	"  -o, --output DIR   parent directory (default: .)\n"
	"  --catalog URL      software-update catalog (default: Apple's)\n"
	"  --connections N    parallel connections per package, 1..32 (default 4)\n"
	"  --force            replace existing packages that do not verify\n"
	"  --json             result as JSON on stdout, progress as JSON lines on stderr\n"
	"  -h, --help         this help\n"
	"\n"
	"Examples:\n"
	"  dkvm fetch installer --version 15 -o ~/macos\n"
	"\n"
	"Exit status: 0 every package downloaded and verified, 1 failure, 2 usage error.\n";

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
	enum { O_VERSION = 256, O_CATALOG, O_CONN, O_FORCE };
	static const struct option opts[] = {
		{"version", required_argument, NULL, O_VERSION},
		{"output", required_argument, NULL, 'o'},
		{"catalog", required_argument, NULL, O_CATALOG},
		{"connections", required_argument, NULL, O_CONN},
		{"force", no_argument, NULL, O_FORCE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *cmd = "fetch installer";
	struct dk_fetch_installer_opts o = {0};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (c) {
		case O_VERSION: o.version = optarg; break;
		case 'o': o.outdir = optarg; break;
		case O_CATALOG: o.catalog = optarg; break;
		case O_CONN:
			if (parse_conns(cmd, optarg, &o.connections))
				return DK_EXIT_USAGE;
			break;
		case O_FORCE: o.force = true; break;
		case 'h': return dk_print_help(help_installer);
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
		json_object *j = json_object_new_object(), *arr = json_object_new_array();
		json_object_object_add(j, "product", dk_json_str(r.product));
		json_object_object_add(j, "version", dk_json_str(r.version));
		json_object_object_add(j, "build", dk_json_str(r.build));
		json_object_object_add(j, "dir", dk_json_str(r.dir));
		for (int i = 0; i < r.npkgs; i++) {
			json_object *p = json_object_new_object();
			json_object_object_add(p, "path", dk_json_str(r.pkgs[i].path));
			json_object_object_add(p, "size", json_object_new_int64((int64_t)r.pkgs[i].size));
			json_object_object_add(p, "verification", dk_json_str(r.pkgs[i].verification));
			json_object_object_add(p, "already_complete", json_object_new_boolean(r.pkgs[i].already_complete));
			json_object_array_add(arr, p);
		}
		json_object_object_add(j, "packages", arr);
		dk_json_print(j);
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
