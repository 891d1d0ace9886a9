/* Recorded sysroot reads. */
#include "host/internal.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool recording;
static struct hrec *recs;
static size_t nrecs, caprecs;

void hrec_start(void) { recording = true; }
void hrec_stop(void) { recording = false; }
const struct hrec *hrec_list(size_t *n)
{
	*n = nrecs;
	return recs;
}
void hrec_reset(void)
{
	for (size_t i = 0; i < nrecs; i++)
		free(recs[i].path);
	free(recs);
	recs = NULL;
	nrecs = caprecs = 0;
}

static void rec(const char *abs, enum hrec_kind k)
{
	if (!recording)
		return;
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i].kind == k && !strcmp(recs[i].path, abs))
			return;
	if (nrecs == caprecs) {
		caprecs = caprecs ? caprecs * 2 : 256;
		recs = dk_realloc(recs, caprecs * sizeof *recs);
	}
	recs[nrecs].path = dk_strdup(abs);
	recs[nrecs].kind = k;
	nrecs++;
}

/* Files refused by type or size during the current probe ("<abs>: why"). */
static char **bad;
static size_t nbad;

void hbad_reset(void)
{
	for (size_t i = 0; i < nbad; i++)
		free(bad[i]);
	free(bad);
	bad = NULL;
	nbad = 0;
}

char *const *hbad_list(size_t *n)
{
	*n = nbad;
	return bad;
}

const char *hbad_find(const char *abs)
{
	size_t l = strlen(abs);
	for (size_t i = 0; i < nbad; i++)
		if (!strncmp(bad[i], abs, l) && bad[i][l] == ':')
			return bad[i];
	return NULL;
}

static const char *ftype(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
	       : S_ISBLK(m) ? "a block device" : S_ISDIR(m) ? "a directory" : "not a regular file";
}

int dk_host_read_regular(const char *path, const char *name, size_t max, char **data, size_t *len)
{
	*data = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENXIO) /* a socket */
			return dk_fail("%s: a socket, not a regular file", name), -2;
		return dk_fail_errno("%s", name);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s", name);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: %s, not a regular file", name, ftype(st.st_mode)), -2;
	if (st.st_size > 0 && (unsigned long long)st.st_size > max)
		return dk_fail("%s: larger than %zu bytes", name, max), -2;
	struct dk_buf b = {0};
	char chunk[65536];
	for (;;) {
		size_t want = max + 1 - b.len < sizeof chunk ? max + 1 - b.len : sizeof chunk;
		ssize_t n = read(fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dk_buf_free(&b);
			return dk_fail_errno("%s", name);
		}
		if (n == 0)
			break;
		dk_buf_append(&b, chunk, (size_t)n);
		if (b.len > max) {
			dk_buf_free(&b);
			return dk_fail("%s: larger than %zu bytes", name, max), -2;
		}
	}
	dk_buf_append(&b, "", 1);
	b.len--;
	*data = b.data;
	if (len)
		*len = b.len;
	return 0;
}

/* A recorded, bounded read: NULL when absent; refusals (wrong type, too
 * large) are kept for hbad_list(). */
static char *hread_bounded(const char *abs, size_t max, size_t *len)
{
	rec(abs, HREC_FILE);
	_cleanup_free_ char *p = dk_host_path(abs);
	char *d = NULL;
	int r = dk_host_read_regular(p, abs, max, &d, len);
	if (r == 0)
		return d;
	if (r == -2 && !hbad_find(abs)) {
		bad = dk_realloc(bad, (nbad + 1) * sizeof *bad);
		bad[nbad++] = dk_strdup(dk_errmsg());
	}
	dk_errclear();
	return NULL;
}

char *hread(const char *abs)
{
	char *d = hread_bounded(abs, HREAD_MAX, NULL);
	return d ? dk_strstrip(d) : NULL;
}

char *hreadf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *p = dk_vasprintf(fmt, ap);
	va_end(ap);
	return hread(p);
}

static long long parse_ll(const char *s, long long def)
{
	if (!s || !*s)
		return def;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || end == s || (*end && *end != '\n' && *end != ' '))
		return def;
	return v;
}

long long hread_llf(long long def, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *p = dk_vasprintf(fmt, ap);
	va_end(ap);
	_cleanup_free_ char *s = hread(p);
	return parse_ll(s, def);
}

char *hread_raw(const char *abs, size_t *len)
{
	return hread_bounded(abs, HREAD_RAW_MAX, len);
}

char *hreadlink_base(const char *abs)
{
	rec(abs, HREC_LINK);
	_cleanup_free_ char *p = dk_host_path(abs);
	char buf[4096];
	ssize_t n = readlink(p, buf, sizeof buf - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	char *b = strrchr(buf, '/');
	return dk_strdup(b ? b + 1 : buf);
}

static int cmpstr(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

int hlist(const char *abs, char ***names)
{
	*names = NULL;
	_cleanup_free_ char *p = dk_host_path(abs);
	DIR *d = opendir(p);
	if (!d)
		return -1;
	rec(abs, HREC_DIR);
	char **v = NULL;
	int n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = dk_realloc(v, (size_t)cap * sizeof *v);
		}
		v[n++] = dk_strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof *v, cmpstr);
	*names = v;
	return n;
}

void hlist_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

bool hexists(const char *abs)
{
	struct stat st;
	return hstat(abs, &st) == 0;
}

int hstat(const char *abs, struct stat *st)
{
	rec(abs, HREC_STAT);
	_cleanup_free_ char *p = dk_host_path(abs);
	return stat(p, st);
}

int hex_u32(const char *s, unsigned *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 16);
	if (errno || end == s || (*end && *end != '\n') || v > 0xffffffffUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int dk_host_sysroot_check(void)
{
	const char *root = dk_sysroot();
	if (!*root)
		return 0;
	struct stat st;
	if (stat(root, &st) < 0)
		return dk_fail_errno("%s: sysroot", root);
	if (!S_ISDIR(st.st_mode))
		return dk_fail("%s: sysroot: not a directory", root);
	return 0;
}
