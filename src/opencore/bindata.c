/* OcBinaryData files: drivers OpenCorePkg releases do not ship (HfsPlus.efi,
 * HfsPlusLegacy.efi) and the Resources OpenCanopy draws with. Fetched from
 * acidanthera/OcBinaryData at a pinned commit, each file checked against the
 * SHA-256 and size pinned here, and cached in
 * $XDG_CACHE_HOME/dkvm/ocbinarydata/<commit>/ (drivers by name, Resources
 * under Resources/). DKVM_OCBINARYDATA_PINS=FILE replaces the table (mirrors,
 * tests). */
#include "opencore/opencore.h"
#include "fetch/http.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/progress.h"
#include "util/strv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* acidanthera/OcBinaryData master of 2025-08-11 ("Re-use AppleRecv.icns as
 * NetworkBoot.icns"); digests of its files at that commit. */
#define PIN_COMMIT "3b2e3749975714f5329bea00bdffec8233c02385"
static const struct dk_oc_bindata_file builtin[] = {
	{"Drivers/HfsPlus.efi", "a55b5fff36578864ba6792c4c6369c71f6f35b61dd5a853ddf8583cd36c31d8f", 37892},
	{"Drivers/HfsPlusLegacy.efi", "a7185433aacf677268ccfd339b8adc27fa07f19149500a78d08bf79670c82c37", 37892},
#include "opencore/bindata_resources.h"
};
_Static_assert(sizeof(DK_BINDATA_RESOURCES_COMMIT) == sizeof(PIN_COMMIT), "one commit for all pins");

#define PINS_MAX_BYTES (1u << 20)
#define PINS_MAX 4096

const char *dk_oc_bindata_commit(void) { return PIN_COMMIT; }

const struct dk_oc_bindata_file *dk_oc_bindata_builtin(size_t *n)
{
	*n = DK_ARRAY_SIZE(builtin);
	return builtin;
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

/* "Drivers/<name>.efi" or "Resources/<a>/<b>...": components of
 * [A-Za-z0-9._-], none empty, "." or "..", at most 8 deep. */
static bool pin_path_ok(const char *p)
{
	bool drv = dk_startswith(p, "Drivers/");
	if (!drv && !dk_startswith(p, "Resources/"))
		return false;
	if (strlen(p) > 200 || strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") != strlen(p))
		return false;
	int depth = 0;
	for (const char *s = p; *s; depth++) {
		const char *e = strchrnul(s, '/');
		if (e == s || (e - s == 1 && *s == '.') || (e - s == 2 && !strncmp(s, "..", 2)))
			return false;
		s = *e ? e + 1 : e;
		if (*e && !*s)
			return false; /* trailing '/' */
	}
	return depth >= 2 && depth <= 8 && (!drv || (depth == 2 && dk_endswith(p, ".efi")));
}

bool dk_oc_bindata_pin_ok(const struct dk_oc_bindata_file *f)
{
	return f && f->path && f->sha256 && pin_path_ok(f->path) && hex64(f->sha256) && f->size > 0 &&
	       f->size <= (256u << 20);
}

void dk_oc_bindata_pins_free(struct dk_oc_bindata_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].path);
		free((char *)v[i].sha256);
	}
	free(v);
}

int dk_oc_bindata_pins_parse(const char *text, size_t len, const char *name, struct dk_oc_bindata_file **out,
			     size_t *nout)
{
	*out = NULL;
	*nout = 0;
	struct dk_oc_bindata_file *v = NULL;
	size_t n = 0;
	int line = 0;
	for (size_t at = 0; at < len; ) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t l = nl ? (size_t)(nl - (text + at)) : len - at;
		_cleanup_free_ char *ln = dk_strndup(text + at, l);
		at += l + 1;
		line++;
		if (strlen(ln) != l) {
			dk_oc_bindata_pins_free(v, n);
			return dk_fail("%s: line %d: a NUL byte", name, line);
		}
		char *s = ln + strspn(ln, " \t\r");
		if (!*s || *s == '#')
			continue;
		char path[256], sum[80], size[32], extra[2];
		int k = sscanf(s, "%255s %79s %31s %1s", path, sum, size, extra);
		char *end;
		unsigned long long sz = k >= 3 ? strtoull(size, &end, 10) : 0;
		struct dk_oc_bindata_file f = {.path = path, .sha256 = sum, .size = sz};
		if (k != 3 || !isdigit((unsigned char)size[0]) || *end || !dk_oc_bindata_pin_ok(&f)) {
			dk_oc_bindata_pins_free(v, n);
			return dk_fail("%s: line %d: expected \"Drivers/NAME.efi|Resources/PATH SHA256 SIZE\" "
				       "(a safe path, 64 lowercase hex digits, a size > 0)", name, line);
		}
		for (size_t i = 0; i < n; i++)
			if (!strcasecmp(v[i].path, path)) {
				dk_oc_bindata_pins_free(v, n);
				return dk_fail("%s: line %d: %s is pinned twice", name, line, path);
			}
		if (n == PINS_MAX) {
			dk_oc_bindata_pins_free(v, n);
			return dk_fail("%s: more than %d pins", name, PINS_MAX);
		}
		v = dk_realloc(v, (n + 1) * sizeof *v);
		v[n++] = (struct dk_oc_bindata_file){.path = dk_strdup(path), .sha256 = dk_strdup(sum), .size = sz};
	}
	*out = v;
	*nout = n;
	return 0;
}

/* The table: DKVM_OCBINARYDATA_PINS's (read once), or the built-in one. */
static struct {
	bool loaded;
	struct dk_oc_bindata_file *v;
	size_t n;
} env_pins;

static int pins(const struct dk_oc_bindata_file **v, size_t *n)
{
	const char *file = getenv("DKVM_OCBINARYDATA_PINS");
	if (!file || !*file) {
		*v = dk_oc_bindata_builtin(n);
		return 0;
	}
	if (!env_pins.loaded) {
		_cleanup_free_ char *text = NULL;
		size_t len;
		if (dk_read_file(file, &text, &len, PINS_MAX_BYTES) < 0 ||
		    dk_oc_bindata_pins_parse(text, len, file, &env_pins.v, &env_pins.n) < 0)
			return dk_fail_prefix("DKVM_OCBINARYDATA_PINS");
		env_pins.loaded = true;
	}
	*v = env_pins.v;
	*n = env_pins.n;
	return 0;
}

int dk_oc_bindata_find(const char *file, const struct dk_oc_bindata_file **out)
{
	const struct dk_oc_bindata_file *v;
	size_t n;
	*out = NULL;
	if (pins(&v, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (dk_startswith(v[i].path, "Drivers/") && !strcasecmp(v[i].path + 8, file)) {
			*out = &v[i];
			return 1;
		}
	return 0;
}

void dk_oc_bindata_got_free(struct dk_oc_bindata_got *g)
{
	free(g->path);
	free(g->url);
	free(g->source);
	memset(g, 0, sizeof *g);
}

static int github_raw_status(const char *url, long code)
{
	if (code >= 400)
		return dk_fail("%s: HTTP %ld", url, code);
	return 0;
}

/* The cached file (drivers by name, as before; Resources by path). */
static char *cache_path(const char *commit, const char *path)
{
	_cleanup_free_ char *cache = dk_cache_dir();
	const char *rel = dk_startswith(path, "Drivers/") ? path + 8 : path;
	return dk_asprintf("%s/ocbinarydata/%s/%s", cache, commit, rel);
}

/* One pinned file: from the cache when its digest matches, else downloaded
 * (unless offline: 1, nothing set but out->path). */
static int fetch_one(const char *commit, const struct dk_oc_bindata_file *f, const char *mirror, bool offline,
		     struct dk_progress *prog, const char *hint, struct dk_oc_bindata_got *out)
{
	memset(out, 0, sizeof *out);
	if (!commit || strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40)
		return dk_fail("OcBinaryData: '%s' is not a commit id", commit ? commit : "");
	if (!dk_oc_bindata_pin_ok(f))
		return dk_fail("OcBinaryData: bad pin for %s", f && f->path ? f->path : "?");
	const char *mir = mirror;
	if (!mir && getenv("DKVM_GITHUB_MIRROR") && *getenv("DKVM_GITHUB_MIRROR"))
		mir = getenv("DKVM_GITHUB_MIRROR");
	if (mir && !dk_startswith(mir, "http://") && !dk_startswith(mir, "https://"))
		return dk_fail("%s: a mirror must be an http:// or https:// URL", mir);
	_cleanup_free_ char *base = mir ? dk_strdup(mir) : dk_strdup("https://raw.githubusercontent.com");
	for (size_t l = strlen(base); l && base[l - 1] == '/'; l--)
		base[l - 1] = 0;
	out->path = cache_path(commit, f->path);
	out->url = dk_asprintf("%s/acidanthera/OcBinaryData/%s/%s", base, commit, f->path);
	out->source = dk_asprintf("acidanthera/OcBinaryData@%.12s", commit);
	uint8_t d[32];
	char hex[65];
	if (dk_path_exists(out->path) && dk_sha256_file(out->path, d) == 0) {
		dk_hex(d, 32, hex);
		if (!strcmp(hex, f->sha256)) {
			out->cached = true;
			if (prog)
				dk_progress_add(prog, f->size);
			return 0;
		}
		if (!offline)
			unlink(out->path); /* not the pinned file: fetched again */
	}
	dk_errclear();
	if (offline)
		return 1;
	_cleanup_free_ char *dir = dk_strdup(out->path);
	*strrchr(dir, '/') = 0;
	if (dk_mkdir_p(dir, 0755) < 0)
		goto fail;
	struct dk_http_req q = {.url = out->url, .allow_http = dk_url_is_http(out->url), .connect_timeout_s = 20,
				.low_speed_time_s = 60, .max_redirs = 10, .offline_hint = hint};
	struct dk_http_save sv = {.path = out->path, .mode = 0644, .force = true, .size = f->size,
				  .sha256 = f->sha256, .listed_by = "dkvm pins", .check_status = github_raw_status};
	struct dk_http_file hf = {.max = f->size + 1, .prog = prog};
	if (dk_http_save_file(&q, &sv, &hf) < 0)
		goto fail;
	return 0;
fail:
	dk_fail_prefix("OcBinaryData %s", f->path);
	dk_oc_bindata_got_free(out);
	return -1;
}

int dk_oc_bindata_fetch_pinned(const char *commit, const struct dk_oc_bindata_file *f, const char *mirror,
			       struct dk_oc_bindata_got *out)
{
	return fetch_one(commit, f, mirror, false, NULL, "(no network? give the driver with --driver FILE)", out);
}

int dk_oc_bindata_fetch(const char *file, const char *mirror, struct dk_oc_bindata_got *out)
{
	memset(out, 0, sizeof *out);
	const struct dk_oc_bindata_file *f;
	int k = dk_oc_bindata_find(file, &f);
	if (k < 0)
		return -1;
	if (!k)
		return dk_fail("%s: not an OcBinaryData driver dkvm knows (HfsPlus.efi, HfsPlusLegacy.efi)", file);
	return dk_oc_bindata_fetch_pinned(PIN_COMMIT, f, mirror, out);
}

void dk_oc_bindata_res_free(struct dk_oc_bindata_res *r)
{
	dk_strv_free(r->files);
	dk_strv_free(r->rels);
	free(r->source);
	memset(r, 0, sizeof *r);
}

int dk_oc_bindata_resources(const char *mirror, bool offline, struct dk_oc_bindata_res *out)
{
	memset(out, 0, sizeof *out);
	const struct dk_oc_bindata_file *v;
	size_t n;
	if (pins(&v, &n) < 0)
		return -1;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (dk_startswith(v[i].path, "Resources/"))
			total += v[i].size;
	if (!total)
		return dk_fail("OcBinaryData: no Resources are pinned");
	struct dk_strv files = {0}, rels = {0}, missing = {0};
	struct dk_progress prog;
	dk_progress_start(&prog, "OcBinaryData Resources", total);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!dk_startswith(v[i].path, "Resources/"))
			continue;
		struct dk_oc_bindata_got g;
		int k = fetch_one(PIN_COMMIT, &v[i], mirror, offline, &prog,
				  "(no network? run with network once, then --offline uses the cache)", &g);
		if (k < 0) {
			rc = -1;
			break;
		}
		if (k == 1)
			dk_strv_push(&missing, v[i].path);
		else {
			dk_strv_push(&files, g.path);
			dk_strv_push(&rels, v[i].path + strlen("Resources/"));
			out->fetched += !g.cached;
		}
		dk_oc_bindata_got_free(&g);
	}
	dk_progress_finish(&prog);
	if (rc == 0 && missing.n) {
		size_t shown = missing.n > 3 ? 3 : missing.n;
		_cleanup_free_ char *more = missing.n > shown ? dk_asprintf(" and %zu more", missing.n - shown) : dk_strdup("");
		char *head[4] = {0};
		for (size_t i = 0; i < shown; i++)
			head[i] = missing.v[i];
		_cleanup_free_ char *list = dk_strv_join(head, ", ");
		rc = dk_fail("--offline: not in the cache: acidanthera/OcBinaryData@%.12s %s%s (run once with network "
			     "first)", PIN_COMMIT, list, more);
	}
	dk_strv_clear(&missing);
	if (rc < 0) {
		dk_strv_clear(&files);
		dk_strv_clear(&rels);
		out->fetched = 0;
		return -1;
	}
	out->files = dk_strv_take(&files);
	out->rels = dk_strv_take(&rels);
	for (out->n = 0; out->rels[out->n]; out->n++)
		;
	out->source = dk_asprintf("acidanthera/OcBinaryData@%.12s", PIN_COMMIT);
	return 0;
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
