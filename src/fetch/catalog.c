/* Apple's software-update catalog (a plist, usually gzip'd): the products that
 * carry a full installer (ExtendedMetaInfo/InstallAssistantPackageIdentifiers
 * and an InstallAssistant package), with version/build/title read from each
 * product's English distribution (<auxinfo> VERSION/BUILD, suDisabledGroupID). */
#include "fetch/fetch.h"
#include "fetch/http.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/plist.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <plist/plist.h>
#include <zlib.h>

#define CATALOG_MAX (512u << 20)
#define MAC_EPOCH_OFFSET 978307200LL /* 2001-01-01 in Unix time */

int dk_version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		char *ea, *eb;
		unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
		if (x != y)
			return x < y ? -1 : 1;
		a = *ea == '.' ? ea + 1 : ea;
		b = *eb == '.' ? eb + 1 : eb;
		if (ea == a && eb == b && !isdigit((unsigned char)*a) && !isdigit((unsigned char)*b))
			break;
		if (!*ea && !*eb)
			break;
	}
	return 0;
}

static int gunzip(const void *in, size_t inlen, const char *name, struct dk_buf *out)
{
	z_stream z = {0};
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return dk_fail("%s: zlib init failed", name);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	char buf[65536];
	int rc;
	do {
		z.next_out = (Bytef *)buf;
		z.avail_out = sizeof buf;
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END) {
			inflateEnd(&z);
			return dk_fail("%s: gzip: %s", name, z.msg ? z.msg : "corrupt data");
		}
		dk_buf_append(out, buf, sizeof buf - z.avail_out);
		if (out->len > CATALOG_MAX) {
			inflateEnd(&z);
			return dk_fail("%s: catalog larger than %u bytes", name, CATALOG_MAX);
		}
		if (rc != Z_STREAM_END && z.avail_in == 0 && z.avail_out != 0) {
			inflateEnd(&z);
			return dk_fail("%s: gzip: truncated", name);
		}
	} while (rc != Z_STREAM_END);
	inflateEnd(&z);
	return 0;
}

static const char *pstr(plist_t dict, const char *key)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	if (!n || plist_get_node_type(n) != PLIST_STRING)
		return NULL;
	return plist_get_string_ptr(n, NULL);
}

static uint64_t puint(plist_t dict, const char *key)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	uint64_t v = 0;
	if (n && plist_get_node_type(n) == PLIST_UINT)
		plist_get_uint_val(n, &v);
	return v;
}

static plist_t pdict(plist_t dict, const char *key)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	return n && plist_get_node_type(n) == PLIST_DICT ? n : NULL;
}

static void set_beta(struct dk_sw_product *pr);
static int prod_cmp(const void *a, const void *b);

static void product_free(struct dk_sw_product *p)
{
	free(p->id);
	free(p->title);
	free(p->version);
	free(p->build);
	free(p->post_date);
	free(p->dist_url);
	for (int i = 0; i < p->npkgs; i++) {
		free(p->pkgs[i].url);
		free(p->pkgs[i].integrity_url);
	}
	free(p->pkgs);
}

void dk_catalog_free(struct dk_catalog *cat)
{
	for (int i = 0; i < cat->count; i++)
		product_free(&cat->products[i]);
	free(cat->products);
	memset(cat, 0, sizeof *cat);
}

static bool is_ia_pkg(const char *url)
{
	_cleanup_free_ char *b = dk_url_basename(url);
	return !strcmp(b, "InstallAssistant.pkg") || !strcmp(b, "InstallAssistantAuto.pkg");
}

/* The Packages array of an installer product (one that lists an
 * InstallAssistant package), else NULL. */
static plist_t installer_packages(plist_t val)
{
	if (plist_get_node_type(val) != PLIST_DICT)
		return NULL;
	plist_t emi = pdict(val, "ExtendedMetaInfo");
	if (!pdict(emi, "InstallAssistantPackageIdentifiers"))
		return NULL;
	plist_t pk = plist_dict_get_item(val, "Packages");
	if (!pk || plist_get_node_type(pk) != PLIST_ARRAY)
		return NULL;
	uint32_t n = plist_array_get_size(pk);
	for (uint32_t i = 0; i < n; i++) {
		const char *u = pstr(plist_array_get_item(pk, i), "URL");
		if (u && is_ia_pkg(u))
			return pk;
	}
	return NULL;
}

/* One catalog product (val, with its packages pk) appended to cat. */
static void add_product(struct dk_catalog *cat, const char *id, plist_t val, plist_t pk)
{
	uint32_t n = plist_array_get_size(pk);
	cat->products = dk_realloc(cat->products, (size_t)(cat->count + 1) * sizeof *cat->products);
	struct dk_sw_product *pr = &cat->products[cat->count++];
	memset(pr, 0, sizeof *pr);
	pr->id = dk_strdup(id);
	pr->pkgs = dk_calloc(n ? n : 1, sizeof *pr->pkgs);
	for (uint32_t i = 0; i < n; i++) {
		plist_t d = plist_array_get_item(pk, i);
		const char *u = pstr(d, "URL");
		if (!u)
			continue;
		struct dk_sw_package *sp = &pr->pkgs[pr->npkgs++];
		sp->url = dk_strdup(u);
		sp->size = puint(d, "Size");
		const char *iu = pstr(d, "IntegrityDataURL");
		sp->integrity_url = iu ? dk_strdup(iu) : NULL;
		sp->integrity_size = puint(d, "IntegrityDataSize");
		pr->size += sp->size;
	}
	plist_t date = plist_dict_get_item(val, "PostDate");
	if (date && plist_get_node_type(date) == PLIST_DATE) {
		int32_t sec = 0, usec = 0;
		plist_get_date_val(date, &sec, &usec);
		time_t t = (time_t)((long long)sec + MAC_EPOCH_OFFSET);
		struct tm tm;
		char buf[32];
		gmtime_r(&t, &tm);
		strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
		pr->post_date = dk_strdup(buf);
	}
	const char *dist = pstr(pdict(val, "Distributions"), "English");
	if (!dist)
		dist = pstr(pdict(val, "Distributions"), "en");
	pr->dist_url = dist ? dk_strdup(dist) : NULL;
	/* some catalogs carry these directly */
	const char *v = pstr(val, "DisplayVersion"), *b = pstr(val, "BuildVersion");
	pr->version = v ? dk_strdup(v) : NULL;
	pr->build = b ? dk_strdup(b) : NULL;
}

/* The catalog's plist root dictionary (gunzipped first when gzip'd). */
static int catalog_root(const void *data, size_t len, const char *name, plist_t *root)
{
	struct dk_buf plain = {0};
	const char *p = data;
	*root = NULL;
	if (len >= 2 && (uint8_t)p[0] == 0x1f && (uint8_t)p[1] == 0x8b) {
		if (gunzip(data, len, name, &plain) < 0) {
			dk_buf_free(&plain);
			return -1;
		}
		p = plain.data;
		len = plain.len;
	}
	if (len > UINT32_MAX || len == 0) {
		dk_buf_free(&plain);
		return dk_fail("%s: empty or oversized catalog", name);
	}
	if (dk_plist_check_depth(p, len, name) < 0) {
		dk_buf_free(&plain);
		return -1;
	}
	plist_from_memory(p, (uint32_t)len, root);
	dk_buf_free(&plain);
	if (!*root || plist_get_node_type(*root) != PLIST_DICT) {
		if (*root)
			plist_free(*root);
		*root = NULL;
		return dk_fail("%s: not a software-update catalog (plist dictionary expected)", name);
	}
	return 0;
}

int dk_catalog_parse(const void *data, size_t len, const char *name, struct dk_catalog *cat)
{
	memset(cat, 0, sizeof *cat);
	plist_t root;
	if (catalog_root(data, len, name, &root) < 0)
		return -1;
	plist_t prods = pdict(root, "Products");
	if (!prods) {
		plist_free(root);
		return dk_fail("%s: catalog has no Products", name);
	}
	plist_dict_iter it = NULL;
	plist_dict_new_iter(prods, &it);
	char *key = NULL;
	plist_t val = NULL;
	for (;;) {
		plist_dict_next_item(prods, it, &key, &val);
		if (!val) {
			free(key);
			break;
		}
		_cleanup_free_ char *id = key;
		key = NULL;
		plist_t pk = installer_packages(val);
		if (pk)
			add_product(cat, id, val, pk);
	}
	free(it);
	plist_free(root);
	for (int i = 0; i < cat->count; i++)
		set_beta(&cat->products[i]);
	qsort(cat->products, (size_t)cat->count, sizeof *cat->products, prod_cmp);
	return 0;
}

/* <key>K</key> ... <string>V</string> inside the dist's auxinfo. */
static char *dist_value(const char *s, const char *k)
{
	const char *aux = strstr(s, "<auxinfo>");
	if (!aux)
		return NULL;
	_cleanup_free_ char *pat = dk_asprintf("<key>%s</key>", k);
	const char *p = strstr(aux, pat);
	if (!p)
		return NULL;
	p = strstr(p + strlen(pat), "<string>");
	if (!p)
		return NULL;
	p += 8;
	const char *e = strstr(p, "</string>");
	if (!e || e - p > 64)
		return NULL;
	return dk_strndup(p, (size_t)(e - p));
}

static void apply_dist(struct dk_sw_product *pr, const char *s)
{
	if (!pr->version)
		pr->version = dist_value(s, "VERSION");
	if (!pr->build)
		pr->build = dist_value(s, "BUILD");
	const char *g = strstr(s, "suDisabledGroupID=\"");
	if (g && !pr->title) {
		g += 19;
		const char *e = strchr(g, '"');
		if (e && e - g < 128) {
			pr->title = dk_strndup(g, (size_t)(e - g));
			if (dk_startswith(pr->title, "Install ")) {
				char *t = dk_strdup(pr->title + 8);
				free(pr->title);
				pr->title = t;
			}
		}
	}
}

static void set_beta(struct dk_sw_product *pr)
{
	size_t n = pr->build ? strlen(pr->build) : 0;
	pr->beta = (n && islower((unsigned char)pr->build[n - 1])) || (pr->title && strcasestr(pr->title, "beta"));
}

static int prod_cmp(const void *a, const void *b)
{
	const struct dk_sw_product *x = a, *y = b;
	int c = dk_version_cmp(y->version ? y->version : "0", x->version ? x->version : "0");
	if (c)
		return c;
	return strcmp(y->post_date ? y->post_date : "", x->post_date ? x->post_date : "");
}

struct dist_req {
	struct dk_buf body;
	bool overflow;
};

static size_t dist_cb(char *p, size_t sz, size_t n, void *ud)
{
	struct dist_req *d = ud;
	if (d->body.len + sz * n > (1u << 20)) {
		d->overflow = true;
		return 0;
	}
	dk_buf_append(&d->body, p, sz * n);
	return sz * n;
}

/* Fetch every distribution in parallel (curl multi), bounded by timeout_s. */
static void fetch_dists(struct dk_catalog *cat, bool allow_http, long timeout_s)
{
	CURLM *m = curl_multi_init();
	if (!m)
		return;
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 8L);
	struct dist_req *reqs = dk_calloc((size_t)cat->count + 1, sizeof *reqs);
	CURL **hs = dk_calloc((size_t)cat->count + 1, sizeof *hs);
	for (int i = 0; i < cat->count; i++) {
		const char *u = cat->products[i].dist_url;
		if (!u)
			continue;
		/* a catalog read over HTTPS: its http:// links are fetched over HTTPS too */
		_cleanup_free_ char *su = dk_url_is_http(u) && !allow_http ? dk_asprintf("https://%s", u + 7) : NULL;
		hs[i] = dk_http_easy(su ? su : u, allow_http, NULL);
		if (!hs[i])
			continue;
		curl_easy_setopt(hs[i], CURLOPT_WRITEFUNCTION, dist_cb);
		curl_easy_setopt(hs[i], CURLOPT_WRITEDATA, &reqs[i]);
		curl_easy_setopt(hs[i], CURLOPT_TIMEOUT, timeout_s);
		curl_easy_setopt(hs[i], CURLOPT_CONNECTTIMEOUT, timeout_s);
		curl_easy_setopt(hs[i], CURLOPT_FAILONERROR, 1L);
		curl_multi_add_handle(m, hs[i]);
	}
	int running = 1;
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, 500, NULL);
	}
	for (int i = 0; i < cat->count; i++) {
		if (!hs[i])
			continue;
		long st = 0;
		curl_easy_getinfo(hs[i], CURLINFO_RESPONSE_CODE, &st);
		if (st == 200 && !reqs[i].overflow && reqs[i].body.len) {
			dk_buf_append(&reqs[i].body, "", 1);
			apply_dist(&cat->products[i], reqs[i].body.data);
		} else {
			dk_verbose("%s: distribution not available", cat->products[i].dist_url);
		}
		curl_multi_remove_handle(m, hs[i]);
		curl_easy_cleanup(hs[i]);
		dk_buf_free(&reqs[i].body);
	}
	free(reqs);
	free(hs);
	curl_multi_cleanup(m);
}

int dk_catalog_fetch(const char *url, long timeout_s, struct dk_catalog *cat)
{
	memset(cat, 0, sizeof *cat);
	bool http = dk_url_is_http(url);
	struct dk_http_req q = {.url = url, .allow_http = http, .timeout_s = timeout_s,
				.connect_timeout_s = timeout_s, .max_body = CATALOG_MAX};
	struct dk_http_resp a;
	if (dk_http_get(&q, &a) < 0)
		return -1;
	int rc = dk_catalog_parse(a.body.data, a.body.len, url, cat);
	dk_http_resp_free(&a);
	if (rc < 0)
		return -1;
	fetch_dists(cat, http, timeout_s);
	for (int i = 0; i < cat->count; i++)
		set_beta(&cat->products[i]);
	qsort(cat->products, (size_t)cat->count, sizeof *cat->products, prod_cmp);
	return 0;
}

const struct dk_sw_product *dk_catalog_find(const struct dk_catalog *cat, const char *version)
{
	size_t vl = strlen(version);
	const struct dk_sw_product *beta = NULL;
	for (int i = 0; i < cat->count; i++) {
		const struct dk_sw_product *p = &cat->products[i];
		if (!p->version)
			continue;
		/* "14" matches 14.x; "14.6" matches 14.6 and 14.6.x; exact otherwise */
		if (strncmp(p->version, version, vl) != 0 || (p->version[vl] != '\0' && p->version[vl] != '.'))
			continue;
		if (!p->beta)
			return p; /* sorted newest first */
		if (!beta)
			beta = p;
	}
	return beta;
}
