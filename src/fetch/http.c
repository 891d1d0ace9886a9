#include "fetch/http.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/fs.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void dk_http_init(void)
{
	pthread_once(&once, init_once);
}

bool dk_url_is_http(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0;
}

CURL *dk_http_easy(const char *url, bool allow_http, const char *user_agent)
{
	dk_http_init();
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	const char *protos = allow_http ? "http,https" : "https";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent ? user_agent : "dkvm/" DKVM_VERSION);
	return c;
}

const char *dk_http_why(CURL *c, CURLcode rc, const char *errbuf, bool *malformed, char *buf, size_t n)
{
	bool bad = rc == CURLE_WEIRD_SERVER_REPLY ||
		   (rc == CURLE_UNSUPPORTED_PROTOCOL && errbuf &&
		    (strstr(errbuf, "HTTP/0.9") || strstr(errbuf, "response code") || strstr(errbuf, "HTTP version")));
	if (malformed)
		*malformed = bad;
	if (!bad) {
		snprintf(buf, n, "%s", errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return buf;
	}
	long fresh = 1;
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &fresh);
	if (fresh == 0)
		/* a reused connection: what came first was the tail of the last answer */
		snprintf(buf, n, "malformed HTTP response (the previous response on this connection sent more "
				 "data than its Content-Length)");
	else
		snprintf(buf, n, "malformed HTTP response (no valid HTTP status line)");
	return buf;
}

struct sink {
	struct dk_buf *b;
	size_t max;
	bool overflow;
	CURL *curl;
	struct dk_http_file *file; /* NULL: memory only */
	EVP_MD_CTX *md;
	int state;                 /* file sink: 0 undecided, 1 to the file, 2 to memory */
	int err;                   /* errno of a failed write */
};

/* The file sink: the answer's status (known at its first body byte) decides
 * whether the body is the file or an error page kept in memory. */
static size_t file_write(struct sink *s, const char *p, size_t len)
{
	struct dk_http_file *f = s->file;
	if (f->max && f->written + len > f->max) {
		s->overflow = true;
		return 0;
	}
	if (dk_write_all(f->fd, p, len) < 0) {
		s->err = errno ? errno : EIO;
		dk_errclear();
		return 0;
	}
	EVP_DigestUpdate(s->md, p, len);
	f->written += len;
	if (f->prog)
		dk_progress_add(f->prog, len);
	return len;
}

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t len = sz * n;
	if (s->file && s->state == 0) {
		long st = 0;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &st);
		s->state = st >= 200 && st <= 299 ? 1 : 2;
	}
	if (s->state == 1)
		return file_write(s, p, len);
	if (s->b->len + len > s->max) {
		s->overflow = true;
		return 0;
	}
	dk_buf_append(s->b, p, len);
	return len;
}

static size_t header_cb(char *p, size_t sz, size_t n, void *ud)
{
	struct dk_buf *b = ud;
	size_t len = sz * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		b->len = 0; /* a new response (redirect): keep only the last headers */
	dk_buf_append(b, p, len);
	return len;
}

/* Request headers of r (freed with curl_slist_free_all); *own holds the
 * formatted ones. */
static struct curl_slist *req_headers(const struct dk_http_req *r, CURL *c, char *own[2])
{
	struct curl_slist *h = NULL;
	own[0] = own[1] = NULL;
	if (r->cookie) {
		own[0] = dk_asprintf("Cookie: %s", r->cookie);
		h = curl_slist_append(h, own[0]);
	}
	if (r->connection_close)
		h = curl_slist_append(h, "Connection: close");
	for (const char *const *x = r->headers; x && *x; x++)
		h = curl_slist_append(h, *x);
	if (r->post) {
		own[1] = dk_asprintf("Content-Type: %s", r->content_type ? r->content_type : "text/plain");
		h = curl_slist_append(h, own[1]);
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(r->post));
	}
	return h;
}

static void req_options(const struct dk_http_req *r, CURL *c)
{
	if (r->timeout_s)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, r->timeout_s);
	if (r->connect_timeout_s)
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->connect_timeout_s);
	if (r->max_redirs)
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, r->max_redirs);
	if (r->low_speed_time_s) {
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, r->low_speed_time_s);
	}
}

static bool offline_error(CURLcode rc)
{
	return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_PROXY ||
	       rc == CURLE_OPERATION_TIMEDOUT;
}

/* The outcome of a performed request: 0, or -1 with the message. */
static int req_result(const struct dk_http_req *r, const struct sink *s, CURLcode rc, const char *why)
{
	if (s->overflow)
		return dk_fail("%s: response larger than %" PRIu64 " bytes", r->url,
			       s->state == 1 ? s->file->max : (uint64_t)s->max);
	if (s->err)
		return dk_fail("%s: writing the download: %s", r->url, strerror(s->err));
	if (rc != CURLE_OK)
		return dk_fail("%s: %s%s%s", r->url, why, r->offline_hint && offline_error(rc) ? " " : "",
			       r->offline_hint && offline_error(rc) ? r->offline_hint : "");
	return 0;
}

int dk_http_request(const struct dk_http_req *r, struct dk_http_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	if (dk_url_is_http(r->url) && !r->allow_http)
		return dk_fail("%s: refusing plain HTTP here (use https)", r->url);
	CURL *c = dk_http_easy(r->url, r->allow_http, r->user_agent);
	if (!c)
		return dk_fail("%s: cannot initialise libcurl", r->url);
	char *own[2];
	struct curl_slist *h = req_headers(r, c, own);
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	struct sink s = {&resp->body, r->max_body ? r->max_body : 64u << 20, false, c, r->file, NULL, 0, 0};
	if (r->file) {
		r->file->written = 0;
		s.md = EVP_MD_CTX_new();
		if (!s.md || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1)
			abort(); /* out of memory */
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp->headers);
	req_options(r, c);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	char why[CURL_ERROR_SIZE + 128] = "";
	if (rc != CURLE_OK)
		dk_http_why(c, rc, errbuf, NULL, why, sizeof why);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(own[0]);
	free(own[1]);
	if (s.md) {
		unsigned char d[32];
		unsigned int dl = 0;
		EVP_DigestFinal_ex(s.md, d, &dl);
		EVP_MD_CTX_free(s.md);
		dk_hex(d, 32, r->file->sha256);
	}
	if (req_result(r, &s, rc, why) < 0) {
		dk_http_resp_free(resp);
		return -1;
	}
	if (!resp->body.data)
		dk_buf_append(&resp->body, "", 0);
	/* keep the body NUL-terminated for text parsers */
	dk_buf_append(&resp->body, "", 1);
	resp->body.len--;
	return 0;
}

static int status_2xx(const char *url, long st)
{
	if (st >= 200 && st <= 299)
		return 0;
	return dk_fail("%s: HTTP %ld%s", url, st,
		       st == 401 || st == 403 ? " (access denied: token or cookie rejected)" :
		       st == 404	      ? " (not found)" :
						"");
}

int dk_http_get(const struct dk_http_req *r, struct dk_http_resp *resp)
{
	if (dk_http_request(r, resp) < 0)
		return -1;
	if (status_2xx(r->url, resp->status) < 0) {
		dk_http_resp_free(resp);
		return -1;
	}
	return 0;
}

/* The saved download matches what s expects: 0, or -1 with the message. */
static int save_check(const struct dk_http_req *r, const struct dk_http_save *s, const struct dk_http_file *f,
		      long status)
{
	if ((s->check_status ? s->check_status : status_2xx)(r->url, status) < 0)
		return -1;
	const char *by = s->listed_by ? s->listed_by : "expected";
	if (s->size && f->written != s->size)
		return dk_fail("%s: got %" PRIu64 " bytes, %s %" PRIu64, r->url, f->written, by, s->size);
	if (s->sha256 && strcmp(f->sha256, s->sha256) != 0)
		return dk_fail("%s: SHA-256 mismatch: got %s, %s %s", r->url, f->sha256, by, s->sha256);
	return 0;
}

int dk_http_save_file(const struct dk_http_req *r, const struct dk_http_save *s, struct dk_http_file *f)
{
	struct dk_atomic a;
	if (dk_atomic_open(&a, s->path, s->force, s->mode) < 0)
		return -1;
	f->fd = a.fd;
	f->written = 0;
	f->sha256[0] = '\0';
	struct dk_http_req q = *r;
	q.file = f;
	struct dk_http_resp resp;
	if (dk_http_request(&q, &resp) < 0) {
		dk_atomic_abort(&a);
		return -1;
	}
	int rc = save_check(r, s, f, resp.status);
	dk_http_resp_free(&resp);
	if (rc < 0) {
		dk_atomic_abort(&a);
		return -1;
	}
	return dk_atomic_commit(&a);
}

void dk_http_resp_free(struct dk_http_resp *resp)
{
	dk_buf_free(&resp->body);
	dk_buf_free(&resp->headers);
}

char *dk_http_header(const struct dk_http_resp *resp, const char *name)
{
	size_t nl = strlen(name);
	const char *p = resp->headers.data, *end = p ? p + resp->headers.len : NULL;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			return dk_strndup(v, (size_t)(ve - v));
		}
		p = eol + 1;
	}
	return NULL;
}

char *dk_url_basename(const char *url)
{
	size_t n = strcspn(url, "?#");
	const char *s = url;
	for (size_t i = 0; i < n; i++)
		if (url[i] == '/')
			s = url + i + 1;
	return dk_strndup(s, n - (size_t)(s - url));
}
