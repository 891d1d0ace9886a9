#include "fetch/http.h"
#include "util/error.h"

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
};

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t len = sz * n;
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

int dk_http_request(const struct dk_http_req *r, struct dk_http_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	if (dk_url_is_http(r->url) && !r->allow_http)
		return dk_fail("%s: refusing plain HTTP here (use https)", r->url);
	CURL *c = dk_http_easy(r->url, r->allow_http, r->user_agent);
	if (!c)
		return dk_fail("%s: cannot initialise libcurl", r->url);
	struct curl_slist *h = NULL;
	char *cookie = NULL, *ctype = NULL;
	if (r->cookie) {
		cookie = dk_asprintf("Cookie: %s", r->cookie);
		h = curl_slist_append(h, cookie);
	}
	if (r->connection_close)
		h = curl_slist_append(h, "Connection: close");
	if (r->post) {
		ctype = dk_asprintf("Content-Type: %s", r->content_type ? r->content_type : "text/plain");
		h = curl_slist_append(h, ctype);
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(r->post));
	}
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	struct sink s = {&resp->body, r->max_body ? r->max_body : 64u << 20, false};
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp->headers);
	if (r->timeout_s)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, r->timeout_s);
	if (r->connect_timeout_s)
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->connect_timeout_s);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	char why[CURL_ERROR_SIZE + 128] = "";
	if (rc != CURLE_OK)
		dk_http_why(c, rc, errbuf, NULL, why, sizeof why);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(cookie);
	free(ctype);
	if (s.overflow) {
		dk_http_resp_free(resp);
		return dk_fail("%s: response larger than %zu bytes", r->url, s.max);
	}
	if (rc != CURLE_OK) {
		dk_http_resp_free(resp);
		return dk_fail("%s: %s", r->url, why);
	}
	if (!resp->body.data)
		dk_buf_append(&resp->body, "", 0);
	/* keep the body NUL-terminated for text parsers */
	dk_buf_append(&resp->body, "", 1);
	resp->body.len--;
	return 0;
}

int dk_http_get(const struct dk_http_req *r, struct dk_http_resp *resp)
{
	if (dk_http_request(r, resp) < 0)
		return -1;
	if (resp->status < 200 || resp->status > 299) {
		long st = resp->status;
		dk_http_resp_free(resp);
		return dk_fail("%s: HTTP %ld%s", r->url, st,
			       st == 401 || st == 403 ? " (access denied: token or cookie rejected)" :
			       st == 404	      ? " (not found)" :
							"");
	}
	return 0;
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
