/* OcBinaryData drivers (HfsPlus.efi, HfsPlusLegacy.efi, ...): not in the
 * OpenCorePkg releases, fetched from acidanthera/OcBinaryData at a pinned
 * commit, each file checked against the SHA-256 pinned here, and cached in
 * $XDG_CACHE_HOME/dkvm/ocbinarydata/<commit>/<file>. */
#include "opencore/opencore.h"
#include "fetch/http.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* acidanthera/OcBinaryData master of 2025-08-11 ("Re-use AppleRecv.icns as
 * NetworkBoot.icns"); digests of its Drivers/ files at that commit. */
#define PIN_COMMIT "3b2e3749975714f5329bea00bdffec8233c02385"
static const struct dk_oc_bindata_file pinned[] = {
	{"HfsPlus.efi", "a55b5fff36578864ba6792c4c6369c71f6f35b61dd5a853ddf8583cd36c31d8f", 37892},
	{"HfsPlusLegacy.efi", "a7185433aacf677268ccfd339b8adc27fa07f19149500a78d08bf79670c82c37", 37892},
};

const char *dk_oc_bindata_commit(void) { return PIN_COMMIT; }

const struct dk_oc_bindata_file *dk_oc_bindata_find(const char *file)
{
	for (size_t i = 0; i < DK_ARRAY_SIZE(pinned); i++)
		if (!strcasecmp(pinned[i].file, file))
			return &pinned[i];
	return NULL;
}

void dk_oc_bindata_got_free(struct dk_oc_bindata_got *g)
{
	free(g->path);
	free(g->url);
	free(g->source);
	memset(g, 0, sizeof *g);
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	return true;
}

static int github_raw_status(const char *url, long code)
{
	if (code >= 400)
		return dk_fail("%s: HTTP %ld", url, code);
	return 0;
}

int dk_oc_bindata_fetch_pinned(const char *commit, const struct dk_oc_bindata_file *f, const char *mirror,
			       struct dk_oc_bindata_got *out)
{
	memset(out, 0, sizeof *out);
	if (!commit || strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40)
		return dk_fail("OcBinaryData: '%s' is not a commit id", commit ? commit : "");
	if (!f || !dk_name_is_safe(f->file) || !hex64(f->sha256))
		return dk_fail("OcBinaryData: bad pin for %s", f && f->file ? f->file : "?");
	const char *mir = mirror;
	if (!mir && getenv("DKVM_GITHUB_MIRROR") && *getenv("DKVM_GITHUB_MIRROR"))
		mir = getenv("DKVM_GITHUB_MIRROR");
	if (mir && !dk_startswith(mir, "http://") && !dk_startswith(mir, "https://"))
		return dk_fail("%s: a mirror must be an http:// or https:// URL", mir);
	_cleanup_free_ char *base = mir ? dk_strdup(mir) : dk_strdup("https://raw.githubusercontent.com");
	for (size_t l = strlen(base); l && base[l - 1] == '/'; l--)
		base[l - 1] = 0;
	_cleanup_free_ char *cache = dk_cache_dir();
	_cleanup_free_ char *dir = dk_asprintf("%s/ocbinarydata/%s", cache, commit);
	out->path = dk_asprintf("%s/%s", dir, f->file);
	out->url = dk_asprintf("%s/acidanthera/OcBinaryData/%s/Drivers/%s", base, commit, f->file);
	out->source = dk_asprintf("acidanthera/OcBinaryData@%.12s", commit);
	uint8_t d[32];
	char hex[65];
	if (dk_path_exists(out->path) && dk_sha256_file(out->path, d) == 0) {
		dk_hex(d, 32, hex);
		if (!strcmp(hex, f->sha256)) {
			out->cached = true;
			return 0;
		}
		unlink(out->path); /* not the pinned file: fetched again */
	}
	dk_errclear();
	if (dk_mkdir_p(dir, 0755) < 0)
		goto fail;
	struct dk_http_req q = {.url = out->url, .allow_http = dk_url_is_http(out->url), .connect_timeout_s = 20,
				.low_speed_time_s = 60, .max_redirs = 10,
				.offline_hint = "(no network? give the driver with --driver FILE)"};
	struct dk_http_save sv = {.path = out->path, .mode = 0644, .force = true, .size = f->size,
				  .sha256 = f->sha256, .listed_by = "dkvm pins", .check_status = github_raw_status};
	struct dk_http_file hf = {.max = f->size ? f->size + 1 : (64u << 20)};
	if (dk_http_save_file(&q, &sv, &hf) < 0)
		goto fail;
	return 0;
fail:
	dk_fail_prefix("OcBinaryData %s", f->file);
	dk_oc_bindata_got_free(out);
	return -1;
}

int dk_oc_bindata_fetch(const char *file, const char *mirror, struct dk_oc_bindata_got *out)
{
	memset(out, 0, sizeof *out);
	const struct dk_oc_bindata_file *f = dk_oc_bindata_find(file);
	if (!f)
		return dk_fail("%s: not an OcBinaryData driver dkvm knows (HfsPlus.efi, HfsPlusLegacy.efi)", file);
	return dk_oc_bindata_fetch_pinned(PIN_COMMIT, f, mirror, out);
}

const char *dk_oc_hfs_driver(const struct dk_macos *os)
{
	return dk_macos_cmp(os, dk_macos_find("catalina")) >= 0 ? "OpenHfsPlus.efi" : "HfsPlusLegacy.efi";
}

bool dk_oc_is_hfs_driver(const char *name)
{
	return !strcasecmp(name, "OpenHfsPlus.efi") || !strcasecmp(name, "HfsPlus.efi") ||
	       !strcasecmp(name, "HfsPlusLegacy.efi");
}

bool dk_oc_hfs_allowed(const struct dk_macos *os, const char *name)
{
	bool legacy = dk_macos_cmp(os, dk_macos_find("catalina")) < 0;
	return legacy ? !strcasecmp(name, "HfsPlusLegacy.efi")
		      : !strcasecmp(name, "OpenHfsPlus.efi") || !strcasecmp(name, "HfsPlus.efi");
}
