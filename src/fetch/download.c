#include "fetch/download.h"
#include "fetch/http.h"
#include "util/bytes.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Without a chunklist, pieces of 1 MiB: the unit of resume and of splitting. */
#define PIECE_NOCL (1u << 20)
#define MAX_CONN 32

enum { P_PENDING, P_INFLIGHT, P_DONE };

struct piece {
	uint64_t off;
	uint32_t size;
	const uint8_t *sha; /* NULL: unverified */
	int state;
	int retries;
};

struct job {
	struct dk_download *d;
	struct piece *p;
	uint64_t n, total, done_count, run_cap;
	struct req *act[MAX_CONN]; /* ranged requests in flight (lock held) */
	uint64_t splits;
	int fd;
	char *part, *state_path, *id;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool abort;
	bool no_ranges; /* the server answered 200 to a ranged GET: one full stream instead */
	bool nospace;   /* a write failed for lack of space (ENOSPC, EDQUOT, EFBIG) */
	char err[DK_ERRMSG_MAX];
	struct dk_progress prog;
	uint64_t bytes, refetched;
};

/* One GET of pieces [first, last]. cur is the piece being received; it only
 * moves with the job lock held. last may be lowered by an idle worker that
 * takes over the tail of the range (with the lock held; read atomically). */
struct req {
	struct job *j;
	CURL *curl;
	uint64_t first, last, cur, cur_got;
	EVP_MD_CTX *md;
	bool checked, complete, fatal;
	bool full;     /* a whole-file GET (server without Range support) */
	bool fellback; /* this ranged GET got a 200: released, not a failure */
	char range_hdr[160];
	char why[256];
};

/* ---- state file ---- */

static void save_state(struct job *j)
{
	/* called with the lock held */
	struct dk_buf b = {0};
	dk_buf_printf(&b, "dkvm-download 1\nid %s\nsize %" PRIu64 "\npieces %" PRIu64 "\ndone ", j->id, j->total, j->n);
	for (uint64_t i = 0; i < j->n; i++)
		dk_buf_append(&b, j->p[i].state == P_DONE ? "1" : "0", 1);
	dk_buf_append(&b, "\n", 1);
	_cleanup_free_ char *tmp = dk_asprintf("%s.tmp", j->state_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		int rc = dk_write_all(fd, b.data, b.len);
		close(fd);
		if (rc == 0 && rename(tmp, j->state_path) == 0) {
			dk_buf_free(&b);
			return;
		}
		unlink(tmp);
	}
	dk_errclear();
	dk_buf_free(&b);
}

/* Load a matching state: marks DONE pieces; returns how many. */
static uint64_t load_state(struct job *j)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (dk_read_file(j->state_path, &data, &len, 16u << 20) < 0) {
		dk_errclear();
		return 0;
	}
	char id[200];
	uint64_t size, n;
	int off = 0;
	if (sscanf(data, "dkvm-download 1\nid %199s\nsize %" SCNu64 "\npieces %" SCNu64 "\ndone %n", id, &size, &n,
		   &off) != 3 ||
	    off == 0)
		return 0;
	if (strcmp(id, j->id) != 0 || size != j->total || n != j->n || len - (size_t)off < n)
		return 0;
	struct stat st;
	if (stat(j->part, &st) < 0 || (uint64_t)st.st_size != j->total)
		return 0;
	const char *bits = data + off;
	uint64_t count = 0;
	_cleanup_close_ int fd = open(j->part, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint8_t *buf = NULL;
	for (uint64_t i = 0; i < n; i++) {
		if (bits[i] != '1')
			continue;
		struct piece *p = &j->p[i];
		if (p->sha && !j->d->no_verify) {
			/* re-check from disk: local read, no download */
			buf = dk_realloc(buf, p->size);
			uint8_t h[32];
			if (dk_pread_all(fd, buf, p->size, (off_t)p->off) < 0) {
				dk_errclear();
				continue;
			}
			if (dk_sha256(buf, p->size, h) < 0 || memcmp(h, p->sha, 32) != 0) {
				dk_errclear();
				continue;
			}
		}
		p->state = P_DONE;
		count++;
	}
	free(buf);
	return count;
}

/* ---- transfer callbacks ---- */

static void set_fatal(struct job *j, const char *msg)
{
	pthread_mutex_lock(&j->lock);
	if (!j->abort) {
		j->abort = true;
		snprintf(j->err, sizeof j->err, "%s", msg);
	}
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

static size_t hdr_cb(char *p, size_t sz, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = sz * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		r->range_hdr[0] = '\0';
	if (len > 14 && strncasecmp(p, "content-range:", 14) == 0) {
		size_t m = len - 14 < sizeof r->range_hdr - 1 ? len - 14 : sizeof r->range_hdr - 1;
		memcpy(r->range_hdr, p + 14, m);
		r->range_hdr[m] = '\0';
	}
	return len;
}

/* Check the response once, at its first body byte. 0 ok, -1 stop. */
static int check_response(struct req *r)
{
	struct job *j = r->j;
	long st = 0;
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &st);
	char msg[DK_ERRMSG_MAX];
	uint64_t start = j->p[r->first].off;
	bool whole = start == 0 && __atomic_load_n(&r->last, __ATOMIC_RELAXED) == j->n - 1;
	if (st == 206) {
		unsigned long long a = 0, b = 0, tot = 0;
		const char *s = r->range_hdr;
		while (*s == ' ')
			s++;
		int k = sscanf(s, "bytes %llu-%llu/%llu", &a, &b, &tot);
		if (k < 2 || a != start) {
			snprintf(msg, sizeof msg, "%s: bad Content-Range '%s' for a request at %" PRIu64, j->d->url,
				 dk_strstrip(r->range_hdr), start);
			set_fatal(j, msg);
			return -1;
		}
		curl_off_t cl = -1;
		curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (cl >= 0 && b >= a && (unsigned long long)cl != b - a + 1) {
			/* the body is framed by Content-Length: bytes past it would be
			 * read as the next answer on this connection */
			snprintf(msg, sizeof msg, "%s: malformed HTTP response: Content-Length %lld for Content-Range %llu-%llu "
				 "(%s)", j->d->url, (long long)cl, a, b,
				 (unsigned long long)cl < b - a + 1 ? "the server sends more data than its Content-Length" :
								      "longer than the range it answers");
			set_fatal(j, msg);
			return -1;
		}
		if (k == 3 && tot != j->total) {
			snprintf(msg, sizeof msg, "%s: server has %llu bytes, expected %" PRIu64 "%s", j->d->url, tot,
				 j->total, tot < j->total ? " (short file)" : "");
			set_fatal(j, msg);
			return -1;
		}
		return 0;
	}
	if (st == 200 && (whole || r->full)) {
		curl_off_t cl = -1;
		curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (cl >= 0 && (uint64_t)cl != j->total) {
			snprintf(msg, sizeof msg, "%s: server has %lld bytes, expected %" PRIu64 "%s", j->d->url,
				 (long long)cl, j->total, (uint64_t)cl < j->total ? " (short file)" : "");
			set_fatal(j, msg);
			return -1;
		}
		return 0;
	}
	if (st == 200) {
		/* no Range support: stop the parallel workers, then one full stream */
		pthread_mutex_lock(&j->lock);
		if (!j->no_ranges)
			dk_verbose("%s: server ignores Range requests; falling back to one stream", j->d->url);
		j->no_ranges = true;
		pthread_cond_broadcast(&j->cond);
		pthread_mutex_unlock(&j->lock);
		r->fellback = true;
		return -1;
	}
	if (st == 416) {
		snprintf(msg, sizeof msg, "%s: range %" PRIu64 "- not satisfiable (file on the server is shorter than %" PRIu64
			 " bytes)", j->d->url, start, j->total);
		set_fatal(j, msg);
		return -1;
	}
	if (st >= 400 && st < 500) {
		snprintf(msg, sizeof msg, "%s: HTTP %ld%s", j->d->url, st,
			 st == 401 || st == 403 ? " (access denied: AssetToken or cookie rejected)" :
			 st == 404		? " (not found)" :
						  "");
		set_fatal(j, msg);
		return -1;
	}
	snprintf(r->why, sizeof r->why, "HTTP %ld", st);
	return -1; /* 5xx etc.: retry */
}

/* Take back progress for bytes that will be fetched again (unsigned wrap = subtraction). */
static void progress_sub(struct job *j, uint64_t n)
{
	if (n)
		dk_progress_add(&j->prog, (uint64_t)0 - n);
}

static void piece_failed(struct job *j, uint64_t i, const char *why)
{
	/* lock held */
	struct piece *p = &j->p[i];
	p->state = P_PENDING;
	p->retries++;
	j->refetched++;
	dk_verbose("%s: chunk %" PRIu64 ": %s; fetching it again (attempt %d)", j->d->label, i, why, p->retries + 1);
	if (p->retries > j->d->max_retries && !j->abort) {
		j->abort = true;
		snprintf(j->err, sizeof j->err, "%s: chunk %" PRIu64 " (bytes %" PRIu64 "-%" PRIu64 "): %s, %d attempts",
			 j->d->url, i, p->off, p->off + p->size - 1, why, p->retries);
	}
}

/* All of piece p (r->cur) arrived: check its hash, mark it done (or to be
 * fetched again), move on to the next. */
static void piece_received(struct req *r, struct piece *p)
{
	struct job *j = r->j;
	bool ok = true;
	if (p->sha && !j->d->no_verify) {
		uint8_t h[32];
		unsigned int hl = 32;
		EVP_DigestFinal_ex(r->md, h, &hl);
		ok = memcmp(h, p->sha, 32) == 0;
		EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
	}
	pthread_mutex_lock(&j->lock);
	if (ok) {
		p->state = P_DONE;
		j->done_count++;
		save_state(j);
	} else {
		piece_failed(j, r->cur, "SHA-256 mismatch");
		progress_sub(j, p->size);
	}
	r->cur++;
	r->cur_got = 0;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (ok)
		/* start writing it back now, so the final fsync does not wait for
		 * the whole file (advisory; errors show at fsync) */
		sync_file_range(j->fd, (off_t)p->off, p->size, SYNC_FILE_RANGE_WRITE);
}

static size_t body_cb(char *data, size_t sz, size_t n, void *ud)
{
	struct req *r = ud;
	struct job *j = r->j;
	size_t len = sz * n, used = 0, skipped = 0;
	if (!r->checked) {
		r->checked = true;
		if (check_response(r) < 0) {
			r->fatal = __atomic_load_n(&j->abort, __ATOMIC_RELAXED);
			return 0;
		}
	}
	if (__atomic_load_n(&j->abort, __ATOMIC_RELAXED))
		return 0;
	while (used < len) {
		if (r->cur > __atomic_load_n(&r->last, __ATOMIC_RELAXED)) {
			/* more than we asked for, or the tail was handed to another
			 * connection: stop here */
			r->complete = true;
			dk_progress_add(&j->prog, used - skipped);
			__atomic_add_fetch(&j->bytes, used, __ATOMIC_RELAXED);
			return 0;
		}
		struct piece *p = &j->p[r->cur];
		size_t take = len - used;
		if (take > p->size - r->cur_got)
			take = p->size - r->cur_got;
		if (r->full && p->state == P_DONE) {
			/* whole-file stream: this chunk is already verified, skip its bytes */
			skipped += take;
			r->cur_got += take;
			used += take;
			if (r->cur_got == p->size) {
				r->cur++;
				r->cur_got = 0;
			}
			continue;
		}
		if (dk_pwrite_all(j->fd, data + used, take, (off_t)(p->off + r->cur_got)) < 0) {
			char msg[DK_ERRMSG_MAX];
			int e = errno;
			if (e == ENOSPC || e == EDQUOT || e == EFBIG)
				__atomic_store_n(&j->nospace, true, __ATOMIC_RELAXED);
			snprintf(msg, sizeof msg, "%s: %s", j->part, dk_errmsg());
			set_fatal(j, msg);
			r->fatal = true;
			return 0;
		}
		if (p->sha && !j->d->no_verify)
			EVP_DigestUpdate(r->md, data + used, take);
		r->cur_got += take;
		used += take;
		if (r->cur_got == p->size)
			piece_received(r, p);
	}
	dk_progress_add(&j->prog, len - skipped);
	__atomic_add_fetch(&j->bytes, len, __ATOMIC_RELAXED);
	return len;
}

static int xferinfo_cb(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct req *r = ud;
	if (!r->full && __atomic_load_n(&r->j->no_ranges, __ATOMIC_RELAXED)) {
		r->fellback = true;
		return 1;
	}
	return __atomic_load_n(&r->j->abort, __ATOMIC_RELAXED) ? 1 : 0;
}

/* ---- workers ---- */

static uint64_t run_bytes(const struct job *j, uint64_t a, uint64_t b)
{
	uint64_t n = 0;
	for (uint64_t i = a; i <= b; i++)
		n += j->p[i].size;
	return n;
}

/* With no pending piece left: take the second half of the largest range still
 * in flight (whole pieces, so chunk-aligned; at least one piece stays with its
 * owner beyond the one it is receiving), so no connection idles while another
 * has more than two pieces to go. Lock held. */
static bool split_largest(struct job *j, struct req *me)
{
	struct req *v = NULL;
	uint64_t best = 0;
	for (int i = 0; i < MAX_CONN; i++) {
		struct req *r = j->act[i];
		if (!r || r->last < r->cur + 2)
			continue;
		uint64_t b = run_bytes(j, r->cur + 1, r->last);
		if (b > best) {
			best = b;
			v = r;
		}
	}
	if (!v)
		return false;
	uint64_t half = run_bytes(j, v->cur, v->last) / 2, k = v->last, tail = j->p[k].size;
	while (k - 1 > v->cur + 1 && tail + j->p[k - 1].size <= half)
		tail += j->p[--k].size;
	me->first = me->cur = k;
	me->last = v->last;
	__atomic_store_n(&v->last, k - 1, __ATOMIC_RELAXED);
	j->splits++;
	return true;
}

/* Next range for a worker: pending pieces first (a run of them, or a piece
 * being retried alone), else half of the largest range in flight; registers me. */
static bool claim(struct job *j, struct req *me, int *retries)
{
	pthread_mutex_lock(&j->lock);
	for (;;) {
		if (j->abort || j->no_ranges || j->done_count == j->n) {
			pthread_mutex_unlock(&j->lock);
			return false;
		}
		uint64_t i = 0;
		while (i < j->n && j->p[i].state != P_PENDING)
			i++;
		if (i == j->n) {
			if (split_largest(j, me)) {
				*retries = 0;
				break;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&j->cond, &j->lock, &ts);
			continue;
		}
		uint64_t k = i, bytes = j->p[i].size;
		if (j->p[i].retries == 0)
			while (k + 1 < j->n && j->p[k + 1].state == P_PENDING && j->p[k + 1].retries == 0 &&
			       bytes + j->p[k + 1].size <= j->run_cap) {
				k++;
				bytes += j->p[k].size;
			}
		for (uint64_t m = i; m <= k; m++)
			j->p[m].state = P_INFLIGHT;
		me->first = me->cur = i;
		me->last = k;
		*retries = j->p[i].retries;
		break;
	}
	for (int s = 0; s < MAX_CONN; s++)
		if (!j->act[s]) {
			j->act[s] = me;
			break;
		}
	pthread_mutex_unlock(&j->lock);
	return true;
}

static void backoff(int retries)
{
	/* exponential: 100 ms, 200 ms, 400 ms ... capped at 5 s */
	long ms = 100L << (retries - 1 < 6 ? retries - 1 : 6);
	if (ms > 5000)
		ms = 5000;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* One GET of pieces [r->first, r->last] (ranged, r registered by claim), or
 * of the whole file (full). r->j, curl and md are set; the rest is reset here
 * (ranged: by claim, under the lock). */
static void one_request(struct job *j, struct req *r, bool full)
{
	CURL *c = r->curl;
	EVP_MD_CTX *md = r->md;
	r->full = full;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	char range[64];
	pthread_mutex_lock(&j->lock);
	uint64_t a = j->p[r->first].off, b = j->p[r->last].off + j->p[r->last].size - 1;
	pthread_mutex_unlock(&j->lock);
	snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, a, b);
	curl_easy_setopt(c, CURLOPT_RANGE, full ? NULL : range);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	if (!r->checked && rc == CURLE_OK) {
		/* no body at all */
		r->checked = true;
		if (check_response(r) == 0)
			snprintf(r->why, sizeof r->why, "empty response");
	}
	pthread_mutex_lock(&j->lock);
	while (r->cur <= r->last && j->p[r->cur].state == P_DONE) /* full stream cut inside a verified chunk */
		r->cur++, r->cur_got = 0;
	if (r->cur <= r->last && !j->abort && !r->fellback) {
		if (!r->why[0]) {
			if (rc != CURLE_OK) {
				char why[CURL_ERROR_SIZE + 128];
				bool malformed;
				dk_http_why(c, rc, errbuf, &malformed, why, sizeof why);
				const char *pfx = malformed ? "" : "connection failed: ";
				snprintf(r->why, sizeof r->why, "%s%.*s", pfx, (int)(sizeof r->why - strlen(pfx) - 1), why);
			}
			else
				snprintf(r->why, sizeof r->why, "response ended early (%" PRIu64 " of %u bytes)", r->cur_got,
					 j->p[r->cur].size);
		}
		piece_failed(j, r->cur, r->why);
		progress_sub(j, r->cur_got);
	}
	for (uint64_t m = r->cur; m <= r->last; m++)
		if (j->p[m].state == P_INFLIGHT)
			j->p[m].state = P_PENDING;
	for (int i = 0; i < MAX_CONN; i++)
		if (j->act[i] == r)
			j->act[i] = NULL;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

struct wctx {
	struct job *j;
	bool full;
};

static void *worker(void *arg)
{
	struct wctx *w = arg;
	struct job *j = w->j;
	struct dk_download *d = j->d;
	CURL *c = dk_http_easy(d->url, d->allow_http, d->user_agent);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct curl_slist *h = NULL;
	char *cookie = NULL;
	if (!c || !md) {
		set_fatal(j, "cannot initialise libcurl/OpenSSL");
		goto out;
	}
	if (d->cookie) {
		cookie = dk_asprintf("Cookie: %s", d->cookie);
		h = curl_slist_append(h, cookie);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (w->full) {
		/* one stream at a time, skipping verified chunks; bounded passes */
		for (int pass = 0; pass <= d->max_retries; pass++) {
			pthread_mutex_lock(&j->lock);
			bool stop = j->abort || j->done_count == j->n;
			pthread_mutex_unlock(&j->lock);
			if (stop)
				break;
			if (pass)
				backoff(pass);
			struct req r = {.j = j, .curl = c, .md = md, .first = 0, .last = j->n - 1};
			one_request(j, &r, true);
		}
		goto out;
	}
	int retries;
	for (;;) {
		struct req r = {.j = j, .curl = c, .md = md};
		if (!claim(j, &r, &retries))
			break;
		if (retries > 0)
			backoff(retries);
		one_request(j, &r, false);
	}
out:
	curl_slist_free_all(h);
	free(cookie);
	if (c)
		curl_easy_cleanup(c);
	EVP_MD_CTX_free(md);
	return NULL;
}

static int head_size(struct dk_download *d, uint64_t *size)
{
	CURL *c = dk_http_easy(d->url, d->allow_http, d->user_agent);
	if (!c)
		return dk_fail("%s: cannot initialise libcurl", d->url);
	struct curl_slist *h = NULL;
	_cleanup_free_ char *cookie = d->cookie ? dk_asprintf("Cookie: %s", d->cookie) : NULL;
	if (cookie)
		h = curl_slist_append(h, cookie);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	long st = 0;
	curl_off_t cl = -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	char why[CURL_ERROR_SIZE + 128] = "";
	if (rc != CURLE_OK)
		dk_http_why(c, rc, errbuf, NULL, why, sizeof why);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		return dk_fail("%s: %s", d->url, why);
	if (st < 200 || st > 299)
		return dk_fail("%s: HTTP %ld", d->url, st);
	if (cl <= 0)
		return dk_fail("%s: server does not report the size", d->url);
	*size = (uint64_t)cl;
	return 0;
}

static char *beside(const char *path, const char *suffix)
{
	_cleanup_free_ char *a = dk_strdup(path), *b = dk_strdup(path);
	return dk_asprintf("%s/.%s.%s", dirname(a), basename(b), suffix);
}

/* Free bytes for an unprivileged writer in the directory of path; -1 unknown. */
static int64_t free_space(const char *path)
{
	_cleanup_free_ char *dd = dk_strdup(path);
	struct statvfs sv;
	if (statvfs(dirname(dd), &sv) < 0)
		return -1;
	return (int64_t)((uint64_t)sv.f_bavail * sv.f_frsize);
}

static void fail_nospace(const struct dk_download *d, uint64_t need, int64_t avail)
{
	char n[32], f[32] = "?";
	dk_format_size(need, n, sizeof n);
	if (avail >= 0)
		dk_format_size((uint64_t)avail, f, sizeof f);
	dk_fail("%s: no space left on device (need %s, %s free)", d->path, n, f);
}

/* The pieces of d (its chunklist's chunks, else 1 MiB pieces of its size,
 * asked of the server when not given) and the id its state file carries. */
static int job_pieces(struct dk_download *d, struct job *j)
{
	if (d->cl) {
		j->n = d->cl->count;
		j->total = d->cl->image_size;
		j->p = dk_calloc(j->n, sizeof *j->p);
		for (uint64_t i = 0; i < j->n; i++) {
			j->p[i].off = d->cl->chunks[i].offset;
			j->p[i].size = d->cl->chunks[i].size;
			j->p[i].sha = d->cl->chunks[i].sha256;
		}
		char hex[65];
		dk_hex(d->cl->file_sha256, 32, hex);
		j->id = dk_asprintf("chunklist-%s", hex);
		return 0;
	}
	uint64_t size = d->size;
	if (!size && head_size(d, &size) < 0)
		return -1;
	j->total = size;
	j->n = (size + PIECE_NOCL - 1) / PIECE_NOCL;
	j->p = dk_calloc(j->n ? j->n : 1, sizeof *j->p);
	for (uint64_t i = 0; i < j->n; i++) {
		j->p[i].off = i * PIECE_NOCL;
		j->p[i].size = (uint32_t)(size - j->p[i].off < PIECE_NOCL ? size - j->p[i].off : PIECE_NOCL);
	}
	_cleanup_free_ char *base = dk_url_basename(d->url);
	j->id = dk_asprintf("size-%" PRIu64 "-%s", size, base);
	return 0;
}

/* The final path exists (and no --force): 0 when it is the complete,
 * verified file, else -1 with the refusal. */
static int existing_final(struct dk_download *d, const struct job *j, const struct stat *st)
{
	if (d->cl && !d->no_verify) {
		if (dk_chunklist_verify_image(d->cl, d->path, NULL) < 0)
			return dk_fail("%s: already exists and does not match its chunklist (use --force to replace it)",
				       d->path);
	} else if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != j->total) {
		return dk_fail("%s: already exists (use --force to replace it)", d->path);
	}
	d->already_complete = true;
	return 0;
}

/* Free space up front: the part file is sparse, so a full disk would
 * otherwise only show up deep into the download. Sets j->nospace. */
static int check_space(struct dk_download *d, struct job *j, uint64_t resumed)
{
	struct stat st;
	uint64_t have = 0, need = d->reserve;
	if (stat(j->part, &st) == 0 && S_ISREG(st.st_mode))
		have = (uint64_t)st.st_blocks * 512;
	int64_t avail = free_space(d->path);
	if (resumed) {
		need += j->total - (have < j->total ? have : j->total);
	} else {
		need += j->total;
		if (avail >= 0)
			avail += (int64_t)have; /* truncated below */
	}
	if (avail >= 0 && (uint64_t)avail < need) {
		fail_nospace(d, need, avail);
		j->nospace = true;
		return -1; /* nothing touched: a resumable state stays as it was */
	}
	return 0;
}

/* The part file, full size (kept when resuming), and its first state. */
static int open_part(struct job *j, uint64_t resumed)
{
	j->fd = open(j->part, O_RDWR | O_CREAT | O_CLOEXEC | (resumed ? 0 : O_TRUNC), 0644);
	if (j->fd < 0)
		return dk_fail_errno("%s", j->part);
	if (ftruncate(j->fd, (off_t)j->total) < 0) {
		if (errno == EFBIG)
			j->nospace = true;
		return dk_fail_errno("%s", j->part);
	}
	if (!resumed) {
		pthread_mutex_lock(&j->lock);
		save_state(j);
		pthread_mutex_unlock(&j->lock);
	}
	return 0;
}

/* Fetch every pending piece: one balanced range per connection; idle
 * connections then split the largest range left (claim), so all stay busy to
 * the end; one full stream when the server ignores ranges. */
static int run_workers(struct dk_download *d, struct job *j)
{
	uint64_t pending = 0, resumed_bytes = 0;
	for (uint64_t i = 0; i < j->n; i++) {
		if (j->p[i].state == P_DONE)
			resumed_bytes += j->p[i].size;
		else
			pending += j->p[i].size;
	}
	j->run_cap = (pending + (uint64_t)d->connections - 1) / (uint64_t)d->connections;
	dk_progress_start(&j->prog, d->label, j->total);
	dk_progress_set(&j->prog, resumed_bytes);
	int nw = d->connections;
	if ((uint64_t)nw > j->n - j->done_count)
		nw = (int)(j->n - j->done_count);
	pthread_t th[MAX_CONN];
	int started = 0;
	struct wctx par = {j, false}, seq = {j, true};
	for (int i = 0; i < nw; i++) {
		if (pthread_create(&th[i], NULL, worker, &par) != 0) {
			set_fatal(j, "cannot start a download thread");
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (j->no_ranges && !j->abort && j->done_count != j->n)
		worker(&seq);
	dk_progress_finish(&j->prog);
	d->bytes_downloaded = j->bytes;
	d->pieces_refetched = j->refetched;
	if (!j->abort && j->done_count == j->n)
		return 0;
	if (j->nospace) {
		uint64_t left = d->reserve;
		for (uint64_t i = 0; i < j->n; i++)
			if (j->p[i].state != P_DONE)
				left += j->p[i].size;
		fail_nospace(d, left, free_space(d->path));
	} else {
		dk_fail("%s", j->abort ? j->err : "download incomplete");
	}
	return -1;
}

/* Every piece verified: the part file becomes the final path, durably. */
static int finish(struct dk_download *d, struct job *j)
{
	if (fsync(j->fd) < 0) {
		if (errno == ENOSPC || errno == EDQUOT)
			j->nospace = true;
		return dk_fail_errno("%s", j->part);
	}
	close(j->fd);
	j->fd = -1;
	if (rename(j->part, d->path) < 0)
		return dk_fail_errno("%s", d->path);
	unlink(j->state_path);
	_cleanup_free_ char *dd = dk_strdup(d->path);
	_cleanup_close_ int dfd = open(dirname(dd), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}

/* After a failure: nothing worth keeping is removed; kept verified pieces
 * are named in the message, with how to resume. */
static void after_failure(struct job *j)
{
	if (j->done_count == 0 && j->fd >= 0) {
		unlink(j->part);
		unlink(j->state_path);
	} else if (j->done_count > 0 && (j->fd >= 0 || j->nospace)) {
		char msg[DK_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "%s", dk_errmsg());
		dk_fail("%s; %" PRIu64 " of %" PRIu64 " chunks kept: %srun the same command again to resume", msg,
			j->done_count, j->n, j->nospace ? "free some space, then " : "");
	}
}

/* The download proper, from the state on disk to the final path. */
static int run_job(struct dk_download *d, struct job *j)
{
	struct stat st;
	if (lstat(d->path, &st) == 0 && !d->force)
		return existing_final(d, j, &st);
	uint64_t resumed = load_state(j);
	if (d->resume && resumed == 0)
		return dk_fail("%s: nothing to resume (no matching partial download beside it)", d->path);
	d->pieces_resumed = resumed;
	j->done_count = resumed;
	if (check_space(d, j, resumed) < 0)
		return -1;
	if (resumed)
		dk_info("%s: resuming: %" PRIu64 " of %" PRIu64 " chunks already verified", d->label, resumed, j->n);
	if (open_part(j, resumed) < 0 || run_workers(d, j) < 0 || finish(d, j) < 0)
		return -1;
	return 0;
}

int dk_download_run(struct dk_download *d)
{
	if (!d->connections)
		d->connections = 4;
	if (d->connections < 1 || d->connections > MAX_CONN)
		return dk_fail("%s: --connections must be 1..32", d->path);
	if (!d->max_retries)
		d->max_retries = 5;
	if (!d->label)
		d->label = d->path;
	d->bytes_downloaded = d->pieces_resumed = d->pieces_refetched = 0;
	d->already_complete = false;
	if (dk_url_is_http(d->url) && !d->allow_http)
		return dk_fail("%s: refusing plain HTTP here (use https)", d->url);
	struct job j = {.d = d, .fd = -1};
	if (job_pieces(d, &j) < 0)
		return -1;
	d->pieces = j.n;
	j.part = beside(d->path, "dkvm-part");
	j.state_path = beside(d->path, "dkvm-state");
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	int ret = run_job(d, &j);
	if (ret < 0)
		after_failure(&j);
	if (j.fd >= 0)
		close(j.fd);
	pthread_mutex_destroy(&j.lock);
	pthread_cond_destroy(&j.cond);
	free(j.p);
	free(j.part);
	free(j.state_path);
	free(j.id);
	return ret;
}

int dk_fetch_check_outdir(const char *dir)
{
	if (!*dir)
		return dk_fail("empty output directory name");
	struct stat st;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : dk_fail("%s: not a directory", dir);
	return errno == ENOENT ? 0 : dk_fail_errno("%s", dir);
}
