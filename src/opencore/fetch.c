/* dk_oc_fetch(): OpenCorePkg and kext release zips from GitHub releases into
 * the cache, verified by the SHA-256 digest the releases API publishes. */
#include "opencore/opencore.h"
#include "fetch/http.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/output.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/progress.h"

#include <ctype.h>
#include <dirent.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_MAX (4u << 20)

static const struct {
	const char *name, *repo;
} known[] = {
	{"OpenCorePkg", "acidanthera/OpenCorePkg"},
	{"OpenCore", "acidanthera/OpenCorePkg"},
	{"Lilu", "acidanthera/Lilu"},
	{"WhateverGreen", "acidanthera/WhateverGreen"},
	{"AppleALC", "acidanthera/AppleALC"},
	{"RestrictEvents", "acidanthera/RestrictEvents"},
	{"VirtualSMC", "acidanthera/VirtualSMC"},
	{"NVMeFix", "acidanthera/NVMeFix"},
	{"VoodooPS2", "acidanthera/VoodooPS2"},
	{"VoodooPS2Controller", "acidanthera/VoodooPS2"},
	{"CPUFriend", "acidanthera/CPUFriend"},
	{"CryptexFixup", "acidanthera/CryptexFixup"},
	{"FeatureUnlock", "acidanthera/FeatureUnlock"},
	{"BrcmPatchRAM", "acidanthera/BrcmPatchRAM"},
	{"AirportBrcmFixup", "acidanthera/AirportBrcmFixup"},
	{"IntelMausi", "acidanthera/IntelMausi"},
	{"VMHide", "Carnations-Botanica/VMHide"},
	{"NootRX", "ChefKissInc/NootRX"},
	{"NootedRed", "ChefKissInc/NootedRed"},
};

const char *dk_oc_fetch_repo(const char *name)
{
	for (size_t i = 0; i < DK_ARRAY_SIZE(known); i++)
		if (!strcasecmp(known[i].name, name))
			return known[i].repo;
	return NULL;
}

void dk_oc_fetched_free(struct dk_oc_fetched *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->repo);
	free(f->version);
	free(f->asset);
	free(f->path);
	free(f->url);
	free(f->sha256);
	memset(f, 0, sizeof *f);
}

#define OFFLINE_HINT "(no network? a local copy: opencore fetch --mirror URL, or DKVM_GITHUB_MIRROR=URL)"

/* GitHub's answers, in words: 0 for a 2xx/3xx status. */
static int github_status(const char *url, long code)
{
	if (code == 404)
		return dk_fail("%s: not found (HTTP 404)", url);
	if (code == 403 || code == 429)
		return dk_fail("%s: refused (HTTP %ld; GitHub API rate limit? try again later or use --mirror)", url,
			       code);
	if (code >= 400)
		return dk_fail("%s: HTTP %ld", url, code);
	return 0;
}

/* A request to GitHub (or the mirror) with the settings every one shares. */
static struct dk_http_req github_req(const char *url, bool api)
{
	static const char *const api_headers[] = {"Accept: application/vnd.github+json",
						  "X-GitHub-Api-Version: 2022-11-28", NULL};
	return (struct dk_http_req){.url = url,
				    .allow_http = dk_url_is_http(url),
				    .connect_timeout_s = 20,
				    .low_speed_time_s = 60,
				    .max_redirs = 10,
				    .headers = api ? api_headers : NULL,
				    .offline_hint = OFFLINE_HINT,
				    .max_body = API_MAX};
}

/* GET a releases API document; its JSON object in *out. */
static int api_get(const char *url, json_object **out)
{
	struct dk_http_req q = github_req(url, true);
	struct dk_http_resp resp;
	*out = NULL;
	if (dk_http_request(&q, &resp) < 0)
		return -1;
	if (github_status(url, resp.status) < 0) {
		dk_http_resp_free(&resp);
		return -1;
	}
	json_tokener *tok = json_tokener_new();
	json_object *j = json_tokener_parse_ex(tok, resp.body.data, (int)resp.body.len);
	json_tokener_free(tok);
	dk_http_resp_free(&resp);
	if (!j || !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		return dk_fail("%s: not a JSON object", url);
	}
	*out = j;
	return 0;
}

static int hash_file(const char *path, char hex[65])
{
	unsigned char d[32];
	if (dk_sha256_file(path, d) < 0)
		return -1;
	dk_hex(d, 32, hex);
	return 0;
}

/* Mirror: replace scheme://host of a download URL with the mirror. */
static char *rewrite(const char *url, const char *mirror)
{
	if (!mirror)
		return dk_strdup(url);
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return dk_asprintf("%s%s", mirror, p ? p : "/");
}

/* A cached asset with a recorded, matching checksum in dir (pinned version). */
static int find_cached(const char *dir, struct dk_oc_fetched *out)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while (!found && (e = readdir(d))) {
		if (!dk_endswith(e->d_name, ".sha256"))
			continue;
		_cleanup_free_ char *side = dk_asprintf("%s/%s", dir, e->d_name);
		_cleanup_free_ char *asset = dk_strndup(e->d_name, strlen(e->d_name) - 7);
		_cleanup_free_ char *path = dk_asprintf("%s/%s", dir, asset);
		_cleanup_free_ char *rec = NULL;
		size_t rl;
		char hex[65];
		if (!dk_path_exists(path) || dk_read_file(side, &rec, &rl, 4096) < 0)
			continue;
		dk_strstrip(rec);
		if (hash_file(path, hex) < 0 || strncmp(rec, hex, 64) != 0)
			continue;
		out->asset = DK_TAKE_PTR(asset);
		out->path = DK_TAKE_PTR(path);
		out->sha256 = dk_strdup(hex);
		struct stat st;
		if (stat(out->path, &st) == 0)
			out->size = st.st_size;
		out->cached = true;
		out->verified = strstr(rec, "verified") != NULL;
		found = 1;
	}
	closedir(d);
	return found;
}

/* owner/repo for name, checked; the mirror (--mirror, else
 * DKVM_GITHUB_MIRROR) without trailing slashes in *mir, or NULL. */
static int check_args(const char *name, const char *version, const char *mirror_in, const char **repo_out,
		      char **mir)
{
	*mir = NULL;
	const char *repo = strchr(name, '/') ? name : dk_oc_fetch_repo(name);
	if (!repo)
		return dk_fail("%s: unknown release name (known: OpenCorePkg, Lilu, WhateverGreen, AppleALC, "
			       "RestrictEvents, VirtualSMC, NVMeFix, VoodooPS2, VMHide, ...; or give owner/repo)",
			       name);
	const char *slash = strchr(repo, '/');
	_cleanup_free_ char *owner = dk_strndup(repo, slash - repo);
	if (!dk_name_is_safe(owner) || !dk_name_is_safe(slash + 1))
		return dk_fail("%s: not a valid owner/repo", repo);
	if (version && !dk_name_is_safe(version))
		return dk_fail("%s: not a valid version", version);
	const char *mirror = mirror_in;
	if (!mirror && getenv("DKVM_GITHUB_MIRROR") && *getenv("DKVM_GITHUB_MIRROR"))
		mirror = getenv("DKVM_GITHUB_MIRROR");
	if (mirror) {
		char *m = dk_strdup(mirror);
		size_t l = strlen(m);
		while (l && m[l - 1] == '/')
			m[--l] = 0;
		if (!dk_startswith(m, "http://") && !dk_startswith(m, "https://")) {
			free(m);
			return dk_fail("%s: a mirror must be an http:// or https:// URL", mirror);
		}
		*mir = m;
	}
	*repo_out = repo;
	return 0;
}

/* Offline, no version asked: the newest verified release of repo in the
 * cache, with a warning carrying msg (why the API failed). 1 found, 0 not. */
static int newest_cached(const char *cache, const char *repo, const char *msg, struct dk_oc_fetched *out)
{
	_cleanup_free_ char *rdir = dk_asprintf("%s/releases/%s", cache, repo);
	char *best = NULL;
	DIR *d = opendir(rdir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || (best && strverscmp(e->d_name, best) <= 0))
			continue;
		struct dk_oc_fetched tmp = {0};
		_cleanup_free_ char *vd = dk_asprintf("%s/%s", rdir, e->d_name);
		if (find_cached(vd, &tmp) && tmp.verified) {
			free(best);
			best = dk_strdup(e->d_name);
		}
		dk_oc_fetched_free(&tmp);
	}
	if (d)
		closedir(d);
	if (!best)
		return 0;
	_cleanup_free_ char *vd = dk_asprintf("%s/%s", rdir, best);
	find_cached(vd, out);
	out->version = best;
	dk_warn("%s (using the cached %s %s)", msg, repo, best);
	return 1;
}

/* The release asset to fetch, from a releases API answer. */
struct asset {
	const char *tag, *name, *url;
	char want[65]; /* published SHA-256 (lowercase hex), or "" */
	uint64_t size; /* published size, or 0 */
};

/* The .zip to use: -RELEASE first, then any non-DEBUG, then DEBUG. */
static json_object *pick_zip(json_object *assets)
{
	json_object *pick = NULL;
	int best = 0;
	size_t n = json_object_array_length(assets);
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(assets, i);
		const char *an = dk_json_get_str(a, "name");
		if (!an || !dk_endswith(an, ".zip"))
			continue;
		int score = dk_endswith(an, "-RELEASE.zip") ? 3 : strstr(an, "DEBUG") ? 1 : 2;
		if (score > best) {
			best = score;
			pick = a;
		}
	}
	return pick;
}

/* "sha256:<64 hex>" into want (lowercase). */
static int parse_digest(const char *api, const char *aname, const char *digest, char want[65])
{
	if (!dk_startswith(digest, "sha256:") || strlen(digest) != 7 + 64)
		return dk_fail("%s: asset %s: unsupported digest '%s'", api, aname, digest);
	for (int i = 0; i < 64; i++) {
		want[i] = (char)tolower((unsigned char)digest[7 + i]);
		if (!isxdigit((unsigned char)want[i]))
			return dk_fail("%s: asset %s: malformed digest", api, aname);
	}
	want[64] = '\0';
	return 0;
}

/* The asset of release j (strings point into j). */
static int find_asset(json_object *j, const char *api, const char *repo, struct asset *as)
{
	memset(as, 0, sizeof *as);
	json_object *assets = NULL;
	as->tag = dk_json_get_str(j, "tag_name");
	if (!as->tag || !dk_name_is_safe(as->tag))
		return dk_fail("%s: no usable tag_name", api);
	if (!json_object_object_get_ex(j, "assets", &assets) || !json_object_is_type(assets, json_type_array))
		return dk_fail("%s: no assets", api);
	json_object *pick = pick_zip(assets);
	if (!pick)
		return dk_fail("%s: release %s has no .zip asset", repo, as->tag);
	as->name = dk_json_get_str(pick, "name");
	as->url = dk_json_get_str(pick, "browser_download_url");
	const char *digest = dk_json_get_str(pick, "digest");
	if (!as->name || !dk_name_is_safe(as->name))
		return dk_fail("%s: asset name '%s' is not a safe file name", api, as->name ? as->name : "");
	if (!as->url)
		return dk_fail("%s: asset %s has no browser_download_url", api, as->name);
	if (digest && parse_digest(api, as->name, digest, as->want) < 0)
		return -1;
	json_object *szo = NULL;
	if (json_object_object_get_ex(pick, "size", &szo) && json_object_is_type(szo, json_type_int))
		as->size = (uint64_t)json_object_get_int64(szo);
	return 0;
}

/* out->path already holds the asset: its hash matches the published digest,
 * or (none published) the one recorded beside it. */
static bool cached_matches(struct dk_oc_fetched *out, const char *want, const char *side, uint64_t size)
{
	char hex[65];
	_cleanup_free_ char *rec = NULL;
	size_t rl;
	if (!dk_path_exists(out->path) || hash_file(out->path, hex) < 0) {
		dk_errclear();
		return false;
	}
	if (*want ? strcmp(hex, want) != 0 : dk_read_file(side, &rec, &rl, 4096) < 0 || strncmp(rec, hex, 64) != 0) {
		dk_errclear();
		return false;
	}
	out->sha256 = dk_strdup(hex);
	out->cached = true;
	out->verified = *want != 0;
	out->size = size;
	return true;
}

/* Download out->url to out->path, hashed as it is written (verified against
 * the published digest and size when there are), and record its SHA-256
 * beside it. */
static int download_asset(struct dk_oc_fetched *out, const struct asset *as, const char *side)
{
	struct dk_progress prog;
	dk_progress_start(&prog, out->asset, as->size);
	struct dk_http_req q = github_req(out->url, false);
	struct dk_http_save sv = {.path = out->path, .mode = 0644, .force = true, .size = as->size,
				  .sha256 = *as->want ? as->want : NULL, .listed_by = "the release lists",
				  .check_status = github_status};
	struct dk_http_file f = {.prog = &prog, .max = as->size ? as->size + 1 : (4ull << 30)};
	int r = dk_http_save_file(&q, &sv, &f);
	dk_progress_finish(&prog);
	if (r < 0)
		return -1;
	if (!*as->want)
		dk_warn("%s: the release publishes no digest; recorded SHA-256 %s", out->asset, f.sha256);
	_cleanup_free_ char *rec = dk_asprintf("%s %s\n", f.sha256, *as->want ? "verified" : "unverified");
	if (dk_write_file_atomic(side, rec, strlen(rec), true, 0644) < 0)
		return -1;
	out->sha256 = dk_strdup(f.sha256);
	out->size = f.written;
	out->verified = *as->want != 0;
	return 0;
}

/* The release the API describes: from the cache when it matches, else downloaded. */
static int fetch_release(json_object *j, const char *api, const char *repo, const char *mir, const char *cache,
			 struct dk_oc_fetched *out)
{
	struct asset as;
	if (find_asset(j, api, repo, &as) < 0)
		return -1;
	out->version = dk_strdup(as.tag);
	out->asset = dk_strdup(as.name);
	out->url = rewrite(as.url, mir);
	_cleanup_free_ char *dir = dk_asprintf("%s/releases/%s/%s", cache, repo, as.tag);
	out->path = dk_asprintf("%s/%s", dir, as.name);
	_cleanup_free_ char *side = dk_asprintf("%s.sha256", out->path);
	if (cached_matches(out, as.want, side, as.size))
		return 0;
	if (dk_mkdir_p(dir, 0755) < 0)
		return -1;
	return download_asset(out, &as, side);
}

int dk_oc_fetch_cached(const char *name, const char *version, struct dk_oc_fetched *out)
{
	memset(out, 0, sizeof *out);
	const char *repo = NULL;
	_cleanup_free_ char *mir = NULL;
	if (check_args(name, version, NULL, &repo, &mir) < 0)
		return -1;
	_cleanup_free_ char *cache = dk_cache_dir();
	out->name = dk_strdup(name);
	out->repo = dk_strdup(repo);
	int found = 0;
	if (version) {
		_cleanup_free_ char *dir = dk_asprintf("%s/releases/%s/%s", cache, repo, version);
		if ((found = find_cached(dir, out)))
			out->version = dk_strdup(version);
	} else {
		_cleanup_free_ char *rdir = dk_asprintf("%s/releases/%s", cache, repo);
		char *best = NULL;
		DIR *d = opendir(rdir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.' || (best && strverscmp(e->d_name, best) <= 0))
				continue;
			struct dk_oc_fetched tmp = {0};
			_cleanup_free_ char *vd = dk_asprintf("%s/%s", rdir, e->d_name);
			if (find_cached(vd, &tmp)) {
				free(best);
				best = dk_strdup(e->d_name);
			}
			dk_oc_fetched_free(&tmp);
		}
		if (d)
			closedir(d);
		if (best) {
			_cleanup_free_ char *vd = dk_asprintf("%s/%s", rdir, best);
			found = find_cached(vd, out);
			out->version = best;
		}
	}
	if (!found) {
		dk_oc_fetched_free(out);
		return 0;
	}
	return 1;
}

int dk_oc_fetch(const char *name, const char *version, const char *mirror_in, struct dk_oc_fetched *out)
{
	memset(out, 0, sizeof *out);
	const char *repo = NULL;
	_cleanup_free_ char *mir = NULL;
	if (check_args(name, version, mirror_in, &repo, &mir) < 0)
		return -1;
	_cleanup_free_ char *cache = dk_cache_dir();
	out->name = dk_strdup(name);
	out->repo = dk_strdup(repo);
	if (version) {
		_cleanup_free_ char *dir = dk_asprintf("%s/releases/%s/%s", cache, repo, version);
		if (find_cached(dir, out)) {
			out->version = dk_strdup(version);
			return 0;
		}
	}
	const char *base = mir ? mir : "https://api.github.com";
	_cleanup_free_ char *api = version ? dk_asprintf("%s/repos/%s/releases/tags/%s", base, repo, version)
					   : dk_asprintf("%s/repos/%s/releases/latest", base, repo);
	json_object *j = NULL;
	if (api_get(api, &j) < 0) {
		_cleanup_free_ char *msg = dk_strdup(dk_errmsg());
		/* offline and no version asked: the newest verified release in the cache */
		if (!version && newest_cached(cache, repo, msg, out))
			return 0;
		dk_fail("%s", msg);
		dk_oc_fetched_free(out);
		return -1;
	}
	int r = fetch_release(j, api, repo, mir, cache, out);
	json_object_put(j);
	if (r < 0)
		dk_oc_fetched_free(out);
	return r;
}

void dk_oc_fetched_discard(const struct dk_oc_fetched *f)
{
	if (!f->path)
		return;
	_cleanup_free_ char *side = dk_asprintf("%s.sha256", f->path);
	unlink(f->path);
	unlink(side);
	/* the version folder, and the repo folders above it, when empty */
	_cleanup_free_ char *d = dk_strdup(f->path);
	for (int i = 0; i < 4 && strrchr(d, '/'); i++) {
		*strrchr(d, '/') = 0;
		if (rmdir(d) < 0)
			break;
	}
}
