/* Recorded sysroot reads. */
#include "host/internal.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"

#include <dirent.h>
#include <errno.h>
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

char *hread(const char *abs)
{
	rec(abs, HREC_FILE);
	return dk_read_host_str(abs);
}

char *hreadf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *p = dk_vasprintf(fmt, ap);
	va_end(ap);
	return hread(p);
}

long long hread_llf(long long def, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *p = dk_vasprintf(fmt, ap);
	va_end(ap);
	rec(p, HREC_FILE);
	return dk_read_host_ll(p, def);
}

char *hread_raw(const char *abs, size_t *len)
{
	rec(abs, HREC_FILE);
	_cleanup_free_ char *p = dk_host_path(abs);
	char *d = NULL;
	if (dk_read_file(p, &d, len, 16 << 20) < 0) {
		dk_errclear();
		return NULL;
	}
	return d;
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
