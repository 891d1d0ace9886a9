/* recoveryOS over Apple's osrecovery protocol (companion-tools §3.1):
 *   GET  <server>/                                  -> Set-Cookie: session=...
 *   POST <server>/InstallationPayload/RecoveryImage  (key=value lines)
 *        -> AP/AU/AH/AT/CU/CH/CT lines
 *   GET CU, then AU, each with Cookie: AssetToken=<CT|AT>.
 * The chunklist is fetched first and its signature verified before a byte of
 * the image is requested; the image is then fetched in parallel and each chunk
 * checked as it arrives (download.c). */
#include "fetch/fetch.h"
#include "fetch/chunklist.h"
#include "fetch/download.h"
#include "fetch/http.h"
#include "smbios/macos.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/paths.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>


#define ZERO_MLB "00000000000000000"

static void rand_hex(char *out, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	uint8_t b[64];
	if (dk_random_bytes(b, n) < 0) {
		/* getrandom cannot realistically fail; fall back to a weak source */
		dk_errclear();
		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)random();
	}
	for (size_t i = 0; i < n; i++)
		out[i] = hx[b[i] & 15];
	out[n] = '\0';
}

static bool valid_board(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != ',')
			return false;
	return true;
}

static bool valid_mlb(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (size_t i = 0; i < 17; i++)
		if (!isalnum((unsigned char)s[i]))
			return false;
	return true;
}

/* Find "KEY: value" in the answer; malloc'd or NULL. */
static char *answer_get(const char *body, const char *key)
{
	size_t kl = strlen(key);
	const char *p = body;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > kl + 1 && strncmp(p, key, kl) == 0 && p[kl] == ':') {
			const char *v = p + kl + 1;
			while (*v == ' ')
				v++;
			size_t vl = ll - (size_t)(v - p);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			return dk_strndup(v, vl);
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

void dk_fetch_recovery_result_free(struct dk_fetch_recovery_result *r)
{
	if (!r)
		return;
	free(r->product);
	free(r->image_url);
	free(r->chunklist_url);
	free(r->image_path);
	free(r->chunklist_path);
	memset(r, 0, sizeof *r);
}

/* The base name both files are saved under: fixed, chosen by kind from the
 * image URL Apple returns (RecoveryImage.dmg on newer boards, else
 * BaseSystem.dmg). The server's own file names are never used: equal names
 * would make the chunklist overwrite the image, and a name is not ours to trust. */
static const char *asset_base(const char *image_url)
{
	_cleanup_free_ char *b = dk_url_basename(image_url);
	return strncasecmp(b, "RecoveryImage", 13) == 0 ? "RecoveryImage" : "BaseSystem";
}

/* What a request is made of, from the options, checked. */
struct params {
	const char *board, *mlb, *os, *server;
	char *base; /* server without trailing slashes */
	char *dir;  /* <outdir>/com.apple.recovery.boot */
};

static void params_free(struct params *p)
{
	free(p->base);
	free(p->dir);
}

static int check_opts(const struct dk_fetch_recovery_opts *o, struct params *p)
{
	memset(p, 0, sizeof *p);
	const struct dk_macos *m = NULL;
	if (o->macos) {
		m = dk_macos_find(o->macos);
		if (!m)
			return dk_fail("%s: unknown macOS release (see 'dkvm fetch list')", o->macos);
	} else if (!o->board_id) {
		return dk_fail("recovery: give a release (--macos) or a board-id (--board-id)");
	}
	p->board = o->board_id ? o->board_id : m->board_id;
	p->mlb = o->mlb ? o->mlb : m && !o->board_id ? m->mlb : ZERO_MLB;
	p->os = o->os ? o->os : m ? m->os : "default";
	if (!valid_board(p->board))
		return dk_fail("%s: not a board-id (expected e.g. Mac-7BA5B2D9E42DDD94)", p->board);
	if (!valid_mlb(p->mlb))
		return dk_fail("%s: MLB must be exactly 17 letters or digits", p->mlb);
	if (strcmp(p->os, "default") != 0 && strcmp(p->os, "latest") != 0)
		return dk_fail("%s: --os must be 'default' or 'latest'", p->os);
	p->server = o->server ? o->server : DK_OSRECOVERY_URL;
	if (strncmp(p->server, "http://", 7) != 0 && strncmp(p->server, "https://", 8) != 0)
		return dk_fail("%s: server must be an http:// or https:// URL", p->server);
	size_t sl = strlen(p->server);
	while (sl > 8 && p->server[sl - 1] == '/')
		sl--;
	p->base = dk_strndup(p->server, sl);
	const char *outdir = o->outdir ? o->outdir : ".";
	p->dir = dk_asprintf("%s/com.apple.recovery.boot", outdir);
	if (dk_fetch_check_outdir(outdir) < 0 || dk_fetch_check_outdir(p->dir) < 0)
		return -1;
	if (o->trust_key && dk_chunklist_check_key(o->trust_key) < 0)
		return -1;
	return 0;
}

/* 1. the session cookie ("session=..."), malloc'd in *cookie */
static int get_session(const struct params *p, char **cookie)
{
	_cleanup_free_ char *root = dk_asprintf("%s/", p->base);
	struct dk_http_req q = {.url = root, .user_agent = DK_RECOVERY_UA, .allow_http = true,
				.connection_close = true, .timeout_s = 60, .max_body = 1 << 20};
	struct dk_http_resp a;
	if (dk_http_get(&q, &a) < 0)
		return dk_fail_prefix("osrecovery session");
	char *setc = dk_http_header(&a, "Set-Cookie");
	dk_http_resp_free(&a);
	if (!setc || !dk_startswith(setc, "session=")) {
		free(setc);
		return dk_fail("%s: osrecovery: no session cookie in the answer", root);
	}
	setc[strcspn(setc, ";")] = '\0';
	*cookie = setc;
	return 0;
}

/* 2. the image info: product, image and chunklist URLs into r, their asset
 * tokens (AT, CT) into at and ct. */
static int get_info(const struct dk_fetch_recovery_opts *o, const struct params *p, const char *cookie,
		    struct dk_fetch_recovery_result *r, char **at, char **ct)
{
	char cid[17], k[65], fg[65];
	rand_hex(cid, 16);
	rand_hex(k, 64);
	rand_hex(fg, 64);
	_cleanup_free_ char *body =
		o->diag ? dk_asprintf("cid=%s\nsn=%s\nbid=%s\nk=%s\nfg=%s", cid, p->mlb, p->board, k, fg) :
			  dk_asprintf("cid=%s\nsn=%s\nbid=%s\nk=%s\nfg=%s\nos=%s", cid, p->mlb, p->board, k, fg, p->os);
	_cleanup_free_ char *info_url =
		dk_asprintf("%s/InstallationPayload/%s", p->base, o->diag ? "Diagnostics" : "RecoveryImage");
	struct dk_http_req pq = {.url = info_url, .post = body, .content_type = "text/plain", .cookie = cookie,
				 .user_agent = DK_RECOVERY_UA, .allow_http = true, .connection_close = true,
				 .timeout_s = 60, .max_body = 1 << 20};
	struct dk_http_resp a;
	if (dk_http_request(&pq, &a) < 0)
		return -1;
	if (a.status != 200) {
		long st = a.status;
		dk_http_resp_free(&a);
		return dk_fail("%s: HTTP %ld (board-id %s / MLB %s not served?)", info_url, st, p->board, p->mlb);
	}
	static const char *const keys[] = {"AP", "AU", "AH", "AT", "CU", "CH", "CT"};
	char *val[7] = {0};
	for (int i = 0; i < 7; i++) {
		val[i] = answer_get(a.body.data, keys[i]);
		if (!val[i]) {
			dk_fail("%s: osrecovery answer lacks %s", info_url, keys[i]);
			dk_http_resp_free(&a);
			for (int j = 0; j < i; j++)
				free(val[j]);
			return -1;
		}
	}
	dk_http_resp_free(&a);
	r->product = val[0];
	r->image_url = val[1];
	r->chunklist_url = val[4];
	*at = val[3];
	*ct = val[6];
	free(val[2]);
	free(val[5]);
	dk_verbose("osrecovery: product %s, image %s", r->product, r->image_url);
	return 0;
}

/* 3. the chunklist, its signature verified; its bytes stay in *a. */
static int get_chunklist(const struct dk_fetch_recovery_opts *o, const struct params *p, const char *ct,
			 const struct dk_fetch_recovery_result *r, struct dk_http_resp *a, struct dk_chunklist *cl)
{
	_cleanup_free_ char *ct_cookie = dk_asprintf("AssetToken=%s", ct);
	struct dk_http_req cq = {.url = r->chunklist_url, .cookie = ct_cookie, .user_agent = DK_RECOVERY_UA,
				 .allow_http = true, .timeout_s = 120, .max_body = 16u << 20};
	if (dk_http_get(&cq, a) < 0)
		return -1;
	if (dk_chunklist_parse(a->body.data, a->body.len, r->chunklist_url, cl) < 0) {
		dk_http_resp_free(a);
		return -1;
	}
	if (!o->trust_key && dk_url_is_http(p->server) && strcmp(p->base, DK_OSRECOVERY_URL) != 0)
		dk_verbose("osrecovery: server %s: the chunklist must still carry Apple's signature", p->base);
	if (dk_chunklist_verify_sig(cl, r->chunklist_url, o->trust_key, false, NULL) < 0) {
		dk_chunklist_free(cl);
		dk_http_resp_free(a);
		return -1;
	}
	return 0;
}

/* 4. the image, parallel, verified per chunk */
static int get_image(const struct dk_fetch_recovery_opts *o, const char *at, const struct dk_chunklist *cl,
		     size_t reserve, const char *img_name, struct dk_fetch_recovery_result *r)
{
	_cleanup_free_ char *at_cookie = dk_asprintf("AssetToken=%s", at);
	struct dk_download d = {.url = r->image_url, .cookie = at_cookie, .user_agent = DK_RECOVERY_UA,
				.allow_http = true, .path = r->image_path, .cl = cl, .connections = o->connections,
				.resume = o->resume, .force = o->force, .no_verify = o->no_verify, .label = img_name,
				.reserve = reserve};
	int rc = dk_download_run(&d);
	r->chunks_resumed = d.pieces_resumed;
	r->chunks_refetched = d.pieces_refetched;
	r->bytes_downloaded = d.bytes_downloaded;
	r->already_complete = d.already_complete;
	return rc;
}

/* 5. the chunklist beside the image (the bytes verified), unless already there */
static int save_chunklist(const char *path, const struct dk_buf *b)
{
	struct stat st;
	bool same = false;
	if (lstat(path, &st) == 0 && (uint64_t)st.st_size == b->len) {
		_cleanup_free_ char *old = NULL;
		size_t ol;
		if (dk_read_file(path, &old, &ol, 16u << 20) == 0)
			same = ol == b->len && memcmp(old, b->data, ol) == 0;
		dk_errclear();
	}
	return same ? 0 : dk_write_file_atomic(path, b->data, b->len, true, 0644);
}

/* Steps 2-5, with the session cookie. */
static int fetch_with(const struct dk_fetch_recovery_opts *o, const struct params *p, const char *cookie,
		      struct dk_fetch_recovery_result *r)
{
	_cleanup_free_ char *at = NULL, *ct = NULL;
	if (get_info(o, p, cookie, r, &at, &ct) < 0)
		return -1;
	const char *kind = asset_base(r->image_url);
	_cleanup_free_ char *img_name = dk_asprintf("%s.dmg", kind);
	r->image_path = dk_asprintf("%s/%s", p->dir, img_name);
	r->chunklist_path = dk_asprintf("%s/%s.chunklist", p->dir, kind);
	struct dk_http_resp a;
	struct dk_chunklist cl;
	if (get_chunklist(o, p, ct, r, &a, &cl) < 0)
		return -1;
	r->image_size = cl.image_size;
	r->chunks = cl.count;
	int rc = dk_mkdir_p(p->dir, 0755);
	if (rc == 0)
		rc = get_image(o, at, &cl, a.body.len, img_name, r);
	dk_chunklist_free(&cl);
	if (rc == 0)
		rc = save_chunklist(r->chunklist_path, &a.body);
	dk_http_resp_free(&a);
	return rc;
}

int dk_fetch_recovery(const struct dk_fetch_recovery_opts *o, struct dk_fetch_recovery_result *res)
{
	struct dk_fetch_recovery_result local = {0};
	struct dk_fetch_recovery_result *r = res ? res : &local;
	memset(r, 0, sizeof *r);
	struct params p;
	_cleanup_free_ char *cookie = NULL;
	int ret = -1;
	if (check_opts(o, &p) == 0 && get_session(&p, &cookie) == 0)
		ret = fetch_with(o, &p, cookie, r);
	params_free(&p);
	if (r == &local)
		dk_fetch_recovery_result_free(&local);
	return ret;
}
