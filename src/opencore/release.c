#include "opencore/release.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#define RELEASE_FILE_MAX (256u << 20)

struct dk_oc_release {
	char *path;
	zip_t *zip;
	char *prefix; /* inside the zip, "" or "top/" */
};

const char *dk_oc_release_path(const struct dk_oc_release *r) { return r->path; }

static const char MARK[] = "X64/EFI/OC/OpenCore.efi";

int dk_oc_release_open(const char *path, struct dk_oc_release **out)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return dk_fail_errno("%s", path);
	struct dk_oc_release *r = dk_calloc(1, sizeof *r);
	r->path = dk_strdup(path);
	if (S_ISDIR(st.st_mode)) {
		r->prefix = dk_strdup("");
		*out = r;
		return 0;
	}
	int err = 0;
	r->zip = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
	if (!r->zip) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, err);
		dk_fail("%s: not a readable zip archive: %s", path, zip_error_strerror(&ze));
		zip_error_fini(&ze);
		dk_oc_release_close(r);
		return -1;
	}
	zip_int64_t n = zip_get_num_entries(r->zip, 0);
	for (zip_int64_t i = 0; i < n && !r->prefix; i++) {
		const char *nm = zip_get_name(r->zip, i, 0);
		if (!nm)
			continue;
		size_t l = strlen(nm), ml = strlen(MARK);
		if (l >= ml && !strcmp(nm + l - ml, MARK) && (l == ml || nm[l - ml - 1] == '/'))
			r->prefix = dk_strndup(nm, l - ml);
	}
	if (!r->prefix)
		r->prefix = dk_strdup("");
	*out = r;
	return 0;
}

void dk_oc_release_close(struct dk_oc_release *r)
{
	if (!r)
		return;
	if (r->zip)
		zip_discard(r->zip);
	free(r->path);
	free(r->prefix);
	free(r);
}

static bool rel_safe(const char *rel)
{
	if (!*rel || rel[0] == '/')
		return false;
	for (const char *p = rel; *p;) {
		const char *e = strchrnul(p, '/');
		if ((e - p == 2 && !strncmp(p, "..", 2)) || e == p)
			return false;
		p = *e ? e + 1 : e;
	}
	return true;
}

bool dk_oc_release_has(struct dk_oc_release *r, const char *rel)
{
	if (!rel_safe(rel))
		return false;
	if (!r->zip) {
		_cleanup_free_ char *p = dk_asprintf("%s/%s", r->path, rel);
		struct stat st;
		return stat(p, &st) == 0 && S_ISREG(st.st_mode);
	}
	_cleanup_free_ char *nm = dk_asprintf("%s%s", r->prefix, rel);
	return zip_name_locate(r->zip, nm, 0) >= 0;
}

int dk_oc_release_read(struct dk_oc_release *r, const char *rel, char **data, size_t *len)
{
	if (!rel_safe(rel))
		return dk_fail("%s: %s: unsafe path", r->path, rel);
	if (!r->zip) {
		_cleanup_free_ char *p = dk_asprintf("%s/%s", r->path, rel);
		return dk_read_file(p, data, len, RELEASE_FILE_MAX);
	}
	_cleanup_free_ char *nm = dk_asprintf("%s%s", r->prefix, rel);
	zip_int64_t idx = zip_name_locate(r->zip, nm, 0);
	if (idx < 0)
		return dk_fail("%s: no %s in the release", r->path, rel);
	zip_stat_t zs;
	if (zip_stat_index(r->zip, idx, 0, &zs) < 0 || !(zs.valid & ZIP_STAT_SIZE))
		return dk_fail("%s: %s: %s", r->path, rel, zip_strerror(r->zip));
	if (zs.size > RELEASE_FILE_MAX)
		return dk_fail("%s: %s: too large (%llu bytes)", r->path, rel, (unsigned long long)zs.size);
	zip_file_t *f = zip_fopen_index(r->zip, idx, 0);
	if (!f)
		return dk_fail("%s: %s: %s", r->path, rel, zip_strerror(r->zip));
	char *buf = dk_malloc(zs.size + 1);
	zip_uint64_t got = 0;
	while (got < zs.size) {
		zip_int64_t k = zip_fread(f, buf + got, zs.size - got);
		if (k < 0) {
			dk_fail("%s: %s: %s", r->path, rel, zip_file_strerror(f));
			zip_fclose(f);
			free(buf);
			return -1;
		}
		if (k == 0)
			break;
		got += k;
	}
	/* reading past the end makes libzip check the CRC */
	char extra;
	zip_int64_t k = zip_fread(f, &extra, 1);
	if (k < 0 || got != zs.size) {
		dk_fail("%s: %s: %s", r->path, rel, k < 0 ? zip_file_strerror(f) : "truncated entry");
		zip_fclose(f);
		free(buf);
		return -1;
	}
	zip_fclose(f);
	buf[got] = 0;
	*data = buf;
	*len = got;
	return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		*v = dk_realloc(*v, *cap * sizeof **v);
	}
	(*v)[(*n)++] = s;
}

static int list_dir(const char *base, const char *sub, char ***v, size_t *n, size_t *cap)
{
	_cleanup_free_ char *p = *sub ? dk_asprintf("%s/%s", base, sub) : dk_strdup(base);
	DIR *d = opendir(p);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : dk_fail_errno("%s", p);
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		_cleanup_free_ char *rel = *sub ? dk_asprintf("%s/%s", sub, e->d_name) : dk_strdup(e->d_name);
		_cleanup_free_ char *full = dk_asprintf("%s/%s", base, rel);
		struct stat st;
		if (stat(full, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			r = list_dir(base, rel, v, n, cap);
		else if (S_ISREG(st.st_mode))
			push(v, n, cap, DK_TAKE_PTR(rel));
	}
	closedir(d);
	return r;
}

int dk_oc_release_list(struct dk_oc_release *r, const char *dir, char ***names, size_t *n)
{
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	if (!r->zip) {
		_cleanup_free_ char *base = dk_asprintf("%s/%s", r->path, dir);
		if (list_dir(base, "", &v, &cnt, &cap) < 0) {
			dk_oc_release_names_free(v, cnt);
			return -1;
		}
	} else {
		_cleanup_free_ char *pre = dk_asprintf("%s%s/", r->prefix, dir);
		size_t pl = strlen(pre);
		zip_int64_t ne = zip_get_num_entries(r->zip, 0);
		for (zip_int64_t i = 0; i < ne; i++) {
			const char *nm = zip_get_name(r->zip, i, 0);
			if (!nm || strncmp(nm, pre, pl) || !nm[pl] || nm[strlen(nm) - 1] == '/')
				continue;
			if (!rel_safe(nm + pl))
				continue;
			push(&v, &cnt, &cap, dk_strdup(nm + pl));
		}
	}
	if (cnt)
		qsort(v, cnt, sizeof *v, cmp_str);
	*names = v;
	*n = cnt;
	return 0;
}

void dk_oc_release_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int dk_oc_release_kexts(struct dk_oc_release *r, char ***paths, size_t *n)
{
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	if (r->zip) {
		size_t pl = strlen(r->prefix);
		zip_int64_t ne = zip_get_num_entries(r->zip, 0);
		for (zip_int64_t i = 0; i < ne; i++) {
			const char *nm = zip_get_name(r->zip, i, 0);
			if (!nm || strncmp(nm, r->prefix, pl))
				continue;
			nm += pl;
			if (dk_startswith(nm, "__MACOSX/"))
				continue;
			for (const char *p = nm; *p;) {
				const char *e = strchrnul(p, '/');
				if (e - p > 5 && !strncmp(e - 5, ".kext", 5) && *e == '/') {
					_cleanup_free_ char *root = dk_strndup(nm, e - nm);
					bool dup = false;
					for (size_t k = 0; k < cnt && !dup; k++)
						dup = !strcmp(v[k], root);
					if (!dup && rel_safe(root))
						push(&v, &cnt, &cap, DK_TAKE_PTR(root));
					break;
				}
				p = *e ? e + 1 : e;
			}
		}
	}
	if (cnt)
		qsort(v, cnt, sizeof *v, cmp_str);
	*paths = v;
	*n = cnt;
	return 0;
}
