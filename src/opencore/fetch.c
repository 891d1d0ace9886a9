/* dk_oc_fetch(): OpenCorePkg and kext release zips from GitHub releases into
 * the cache, verified by the SHA-256 digest the releases API publishes. */
#include "opencore/opencore.h"
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
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <pthread.h>
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct sink {
	struct dk_buf *buf;   /* memory sink, or */
	int fd;               /* file sink */
	uint64_t written, max;
	EVP_MD_CTX *md;
	struct dk_progress *prog;
	int err;
};

static size_t on_data(char *p, size_t sz, size_t n, void *u)
{
	struct sink *s = u;
	size_t len = sz * n;
	if (s->max && s->written + len > s->max) {
		s->err = EFBIG;
		return 0;
	}
	if (s->buf) {
		dk_buf_append(s->buf, p, len);
	} else {
		if (dk_write_all(s->fd, p, len) < 0) {
			s->err = errno ? errno : EIO;
			return 0;
		}
		EVP_DigestUpdate(s->md, p, len);
		if (s->prog)
			dk_progress_add(s->prog, len);
	}
	s->written += len;
	return len;
}

/* GET url into the sink; errors name the URL. */
static int http_get(const char *url, struct sink *s, bool api)
{
	pthread_once(&curl_once, curl_init);
	CURL *c = curl_easy_init();
	if (!c)
		return dk_fail("%s: cannot initialise libcurl", url);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	if (api) {
		hdr = curl_slist_append(hdr, "Accept: application/vnd.github+json");
		hdr = curl_slist_append(hdr, "X-GitHub-Api-Version: 2022-11-28");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "dkvm/" DKVM_VERSION);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
		const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
		bool net = rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT ||
			   rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_OPERATION_TIMEDOUT;
		return dk_fail("%s: %s%s", url, why, net ? " (no network? --mirror URL serves a local copy)" : "");
	}
	if (s->err == EFBIG)
		return dk_fail("%s: response too large", url);
	if (rc == CURLE_WRITE_ERROR || s->err)
		return dk_fail("%s: %s", url, strerror(s->err ? s->err : EIO));
	if (code == 404)
		return dk_fail("%s: not found (HTTP 404)", url);
	if (code == 403 || code == 429)
		return dk_fail("%s: refused (HTTP %ld; GitHub API rate limit? try again later or use --mirror)", url,
			       code);
	if (code >= 400)
		return dk_fail("%s: HTTP %ld", url, code);
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

int dk_oc_fetch(const char *name, const char *version, const char *mirror_in, struct dk_oc_fetched *out)
{
	memset(out, 0, sizeof *out);
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
	_cleanup_free_ char *mir = NULL;
	if (mirror) {
		mir = dk_strdup(mirror);
		size_t l = strlen(mir);
		while (l && mir[l - 1] == '/')
			mir[--l] = 0;
		if (!dk_startswith(mir, "http://") && !dk_startswith(mir, "https://"))
			return dk_fail("%s: a mirror must be an http:// or https:// URL", mirror);
	}
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

	_cleanup_free_ char *api = version
		? dk_asprintf("%s/repos/%s/releases/tags/%s", mir ? mir : "https://api.github.com", repo, version)
		: dk_asprintf("%s/repos/%s/releases/latest", mir ? mir : "https://api.github.com", repo);
	struct dk_buf body = {0};
	struct sink s = {.buf = &body, .max = API_MAX};
	if (http_get(api, &s, true) < 0) {
		dk_buf_free(&body);
		/* offline and no version asked: the newest verified release in the cache */
		if (!version) {
			_cleanup_free_ char *msg = dk_strdup(dk_errmsg());
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
			if (best) {
				_cleanup_free_ char *vd = dk_asprintf("%s/%s", rdir, best);
				find_cached(vd, out);
				out->version = best;
				dk_warn("%s (using the cached %s %s)", msg, repo, best);
				return 0;
			}
			dk_fail("%s", msg);
		}
		dk_oc_fetched_free(out);
		return -1;
	}
	dk_buf_append(&body, "", 1);
	json_tokener *tok = json_tokener_new();
	json_object *j = json_tokener_parse_ex(tok, body.data, (int)body.len);
	json_tokener_free(tok);
	dk_buf_free(&body);
	int r = 0;
	json_object *assets = NULL;
	const char *tag = dk_json_get_str(j, "tag_name");
	if (!j || !json_object_is_type(j, json_type_object))
		r = dk_fail("%s: not a JSON object", api);
	else if (!tag || !dk_name_is_safe(tag))
		r = dk_fail("%s: no usable tag_name", api);
	else if (!json_object_object_get_ex(j, "assets", &assets) || !json_object_is_type(assets, json_type_array))
		r = dk_fail("%s: no assets", api);
	json_object *pick = NULL;
	if (r == 0) {
		size_t n = json_object_array_length(assets);
		int best = 0;
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
		if (!pick)
			r = dk_fail("%s: release %s has no .zip asset", repo, tag);
	}
	const char *aname = pick ? dk_json_get_str(pick, "name") : NULL;
	const char *aurl = pick ? dk_json_get_str(pick, "browser_download_url") : NULL;
	const char *digest = pick ? dk_json_get_str(pick, "digest") : NULL;
	if (r == 0 && (!aname || !dk_name_is_safe(aname)))
		r = dk_fail("%s: asset name '%s' is not a safe file name", api, aname ? aname : "");
	if (r == 0 && !aurl)
		r = dk_fail("%s: asset %s has no browser_download_url", api, aname);
	char want[65] = "";
	if (r == 0 && digest) {
		if (!dk_startswith(digest, "sha256:") || strlen(digest) != 7 + 64)
			r = dk_fail("%s: asset %s: unsupported digest '%s'", api, aname, digest);
		else
			for (int i = 0; i < 64; i++)
				want[i] = (char)tolower((unsigned char)digest[7 + i]);
		for (int i = 0; r == 0 && i < 64; i++)
			if (!isxdigit((unsigned char)want[i]))
				r = dk_fail("%s: asset %s: malformed digest", api, aname);
	}
	json_object *szo = NULL;
	uint64_t asize = 0;
	if (pick && json_object_object_get_ex(pick, "size", &szo) && json_object_is_type(szo, json_type_int))
		asize = (uint64_t)json_object_get_int64(szo);
	if (r < 0) {
		json_object_put(j);
		dk_oc_fetched_free(out);
		return -1;
	}
	out->version = dk_strdup(tag);
	out->asset = dk_strdup(aname);
	out->url = rewrite(aurl, mir);
	_cleanup_free_ char *dir = dk_asprintf("%s/releases/%s/%s", cache, repo, tag);
	out->path = dk_asprintf("%s/%s", dir, aname);
	_cleanup_free_ char *side = dk_asprintf("%s.sha256", out->path);
	json_object_put(j);

	/* already cached and matching? */
	if (dk_path_exists(out->path)) {
		char hex[65];
		_cleanup_free_ char *rec = NULL;
		size_t rl;
		if (hash_file(out->path, hex) == 0 &&
		    ((*want && !strcmp(hex, want)) ||
		     (!*want && dk_read_file(side, &rec, &rl, 4096) == 0 && !strncmp(rec, hex, 64)))) {
			out->sha256 = dk_strdup(hex);
			out->cached = true;
			out->verified = *want != 0;
			out->size = asize;
			return 0;
		}
	}
	if (dk_mkdir_p(dir, 0755) < 0) {
		dk_oc_fetched_free(out);
		return -1;
	}
	struct dk_atomic a;
	if (dk_atomic_open(&a, out->path, true, 0644) < 0) {
		dk_oc_fetched_free(out);
		return -1;
	}
	struct dk_progress prog;
	dk_progress_start(&prog, out->asset, asize);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	struct sink fs = {.fd = a.fd, .md = md, .prog = &prog, .max = asize ? asize + 1 : (4ull << 30)};
	r = http_get(out->url, &fs, false);
	dk_progress_finish(&prog);
	unsigned char d[32];
	unsigned int dl = 0;
	EVP_DigestFinal_ex(md, d, &dl);
	EVP_MD_CTX_free(md);
	char hex[65];
	dk_hex(d, 32, hex);
	if (r == 0 && asize && fs.written != asize)
		r = dk_fail("%s: got %llu bytes, the release lists %llu", out->url, (unsigned long long)fs.written,
			    (unsigned long long)asize);
	if (r == 0 && *want && strcmp(hex, want) != 0)
		r = dk_fail("%s: SHA-256 mismatch: got %s, the release lists %s", out->url, hex, want);
	if (r < 0) {
		dk_atomic_abort(&a);
		dk_oc_fetched_free(out);
		return -1;
	}
	if (!*want)
		dk_warn("%s: the release publishes no digest; recorded SHA-256 %s", out->asset, hex);
	r = dk_atomic_commit(&a);
	if (r < 0) {
		dk_oc_fetched_free(out);
		return -1;
	}
	_cleanup_free_ char *rec = dk_asprintf("%s %s\n", hex, *want ? "verified" : "unverified");
	if (dk_write_file_atomic(side, rec, strlen(rec), true, 0644) < 0) {
		dk_oc_fetched_free(out);
		return -1;
	}
	out->sha256 = dk_strdup(hex);
	out->size = fs.written;
	out->verified = *want != 0;
	return 0;
}
