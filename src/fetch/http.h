/* dkvm's one HTTP client (libcurl), for fetch and opencore fetch alike:
 * one-shot requests into memory or through a hashing file sink, verified
 * whole-file downloads, and easy-handle setup (protocol restrictions, TLS
 * verification, timeouts) for download.c's parallel ranges. HTTPS is
 * verified; plain HTTP is refused unless the caller allows it (Apple's
 * osrecovery protocol, http:// mirrors, loopback test servers). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <curl/curl.h>

#include "util/mem.h"
#include "util/progress.h"

#define DK_RECOVERY_UA "InternetRecovery/1.0"

/* curl_global_init exactly once (thread-safe). */
void dk_http_init(void);

/* A new easy handle for url with dkvm's defaults. */
CURL *dk_http_easy(const char *url, bool allow_http, const char *user_agent);

/* A file sink: the body of a 2xx answer is written to fd (sequentially, from
 * its current offset) and hashed with SHA-256 as it arrives, so a download is
 * verified without reading it back. The body of any other answer goes to
 * resp->body as usual (bounded by max_body). */
struct dk_http_file {
	int fd;
	uint64_t max;             /* a longer body fails the request; 0: no limit */
	struct dk_progress *prog; /* counts the written bytes; may be NULL */
	/* results */
	uint64_t written;
	char sha256[65];          /* hex SHA-256 of the written bytes */
};

struct dk_http_req {
	const char *url;
	const char *post;         /* body; POST when non-NULL */
	const char *content_type; /* for POST */
	const char *cookie;       /* Cookie: header value */
	const char *user_agent;
	bool allow_http;
	bool connection_close;
	long timeout_s;           /* whole request; 0: none */
	long connect_timeout_s;   /* 0: 15 s */
	size_t max_body;          /* 0: 64 MiB */
	long low_speed_time_s;    /* fail after this long below 1 byte/s; 0: never */
	long max_redirs;          /* 0: 5 */
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated */
	const char *offline_hint; /* appended to "cannot connect/resolve/timed out" errors */
	struct dk_http_file *file; /* body to a file instead of resp->body */
};

struct dk_http_resp {
	long status;
	struct dk_buf body;
	struct dk_buf headers; /* raw header lines of the final response */
};

/* Perform the request. Returns 0 on any HTTP answer (check status), -1 on a
 * transport error (message names the URL). */
int dk_http_request(const struct dk_http_req *r, struct dk_http_resp *resp);
/* GET url into resp; fails unless the status is 2xx. */
int dk_http_get(const struct dk_http_req *r, struct dk_http_resp *resp);
void dk_http_resp_free(struct dk_http_resp *resp);

/* A verified download of a whole file: r's body goes through a file sink into
 * a temp file beside path, which becomes path (dk_atomic_*) only when the
 * answer is 2xx (check_status decides instead when set: -1 with dk_fail for a
 * refused status) and the size and SHA-256 match what is expected (when
 * given). f->prog, f->max are honoured; f->written and f->sha256 are set. */
struct dk_http_save {
	const char *path;
	mode_t mode;
	bool force;
	uint64_t size;      /* expected size; 0: any */
	const char *sha256; /* expected lowercase hex SHA-256; NULL: any */
	const char *listed_by; /* who states the expectations, for messages
				  ("got X, the release lists Y"); NULL: "expected" */
	int (*check_status)(const char *url, long status);
};
int dk_http_save_file(const struct dk_http_req *r, const struct dk_http_save *s, struct dk_http_file *f);
/* Value of the first response header name (case-insensitive), malloc'd, or NULL. */
char *dk_http_header(const struct dk_http_resp *resp, const char *name);
/* Why a transfer on c failed, in words a user can act on: libcurl's own text
 * for a malformed answer ("Received HTTP/0.9 when not allowed") names no
 * cause. Writes to buf (n bytes) and returns it; *malformed (may be NULL) tells
 * whether the server's answer was broken rather than the connection. */
const char *dk_http_why(CURL *c, CURLcode rc, const char *errbuf, bool *malformed, char *buf, size_t n);
/* Whether url is plain http:// */
bool dk_url_is_http(const char *url);
/* Last path component of a URL (query and fragment dropped), malloc'd. */
char *dk_url_basename(const char *url);
