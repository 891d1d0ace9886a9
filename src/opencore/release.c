#include "opencore/release.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/strv.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>
#include <zlib.h>

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

/* A symbolic link stored in the zip (Unix mode S_IFLNK): its data is the
 * link's target text, never a file to copy. */
static bool entry_is_symlink(zip_t *z, zip_uint64_t idx)
{
	zip_uint8_t opsys;
	zip_uint32_t attr;
	if (zip_file_get_external_attributes(z, idx, 0, &opsys, &attr) < 0 || opsys != ZIP_OPSYS_UNIX)
		return false;
	return ((attr >> 16) & S_IFMT) == S_IFLNK;
}

/* The entry's raw (compressed) bytes, as many as recorded. */
static int read_raw(struct dk_oc_release *r, const char *rel, zip_uint64_t idx, zip_uint64_t n, unsigned char **out)
{
	zip_file_t *f = zip_fopen_index(r->zip, idx, ZIP_FL_COMPRESSED);
	if (!f)
		return dk_fail("%s: %s: %s", r->path, rel, zip_strerror(r->zip));
	unsigned char *buf = dk_malloc(n ? n : 1);
	zip_uint64_t got = 0;
	while (got < n) {
		zip_int64_t k = zip_fread(f, buf + got, n - got);
		if (k < 0) {
			dk_fail("%s: %s: %s", r->path, rel, zip_file_strerror(f));
			zip_fclose(f);
			free(buf);
			return -1;
		}
		if (k == 0)
			break;
		got += (zip_uint64_t)k;
	}
	zip_fclose(f);
	if (got != n) {
		free(buf);
		return dk_fail("%s: %s: truncated entry (%llu of %llu compressed bytes)", r->path, rel,
			       (unsigned long long)got, (unsigned long long)n);
	}
	*out = buf;
	return 0;
}

/* Inflate a raw deflate stream that must end exactly at the end of in and
 * give exactly want bytes. */
static int inflate_exact(const char *zpath, const char *rel, const unsigned char *in, size_t inlen, char *out,
			 size_t want)
{
	z_stream zs = {0};
	if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
		return dk_fail("%s: %s: cannot start inflating", zpath, rel);
	size_t in_done = 0, out_done = 0;
	char spare[64];
	int zr = Z_OK;
	while (zr == Z_OK) {
		zs.next_in = (Bytef *)(in + in_done);
		zs.avail_in = (uInt)(inlen - in_done > UINT32_MAX ? UINT32_MAX : inlen - in_done);
		/* one spare window past the recorded size: more data is a mismatch */
		bool past = out_done >= want;
		zs.next_out = (Bytef *)(past ? spare : out + out_done);
		zs.avail_out = past ? sizeof spare : (uInt)(want - out_done > UINT32_MAX ? UINT32_MAX : want - out_done);
		uInt ai = zs.avail_in, ao = zs.avail_out;
		zr = inflate(&zs, Z_NO_FLUSH);
		in_done += ai - zs.avail_in;
		out_done += ao - zs.avail_out;
		if (zr == Z_OK && ai == zs.avail_in && ao == zs.avail_out)
			zr = Z_BUF_ERROR; /* no progress: the input ended early */
		if (out_done > want)
			break;
	}
	inflateEnd(&zs);
	if (zr == Z_DATA_ERROR || zr == Z_MEM_ERROR || zr == Z_NEED_DICT)
		return dk_fail("%s: %s: corrupt compressed data", zpath, rel);
	if (zr != Z_STREAM_END || out_done != want || in_done != inlen)
		return dk_fail("%s: %s: size mismatch (the entry's data does not match its recorded size of %zu bytes)",
			       zpath, rel, want);
	return 0;
}

/* Read entry idx whole, checking its recorded size and CRC-32. */
static int read_entry(struct dk_oc_release *r, const char *rel, zip_uint64_t idx, char **data, size_t *len)
{
	if (entry_is_symlink(r->zip, idx))
		return dk_fail("%s: %s: is a symbolic link in the zip (refused)", r->path, rel);
	zip_stat_t zs;
	if (zip_stat_index(r->zip, idx, 0, &zs) < 0)
		return dk_fail("%s: %s: %s", r->path, rel, zip_strerror(r->zip));
	const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_CRC | ZIP_STAT_COMP_METHOD;
	if ((zs.valid & need) != need)
		return dk_fail("%s: %s: sizes or CRC-32 not recorded", r->path, rel);
	if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE)
		return dk_fail("%s: %s: encrypted entry", r->path, rel);
	if (zs.size > RELEASE_FILE_MAX || zs.comp_size > RELEASE_FILE_MAX)
		return dk_fail("%s: %s: too large (%llu bytes)", r->path, rel, (unsigned long long)zs.size);
	if (zs.comp_method != ZIP_CM_STORE && zs.comp_method != ZIP_CM_DEFLATE)
		return dk_fail("%s: %s: unsupported compression method %u", r->path, rel, (unsigned)zs.comp_method);
	if (zs.comp_method == ZIP_CM_STORE && zs.comp_size != zs.size)
		return dk_fail("%s: %s: size mismatch (stored entry: %llu bytes recorded, %llu bytes of data)", r->path,
			       rel, (unsigned long long)zs.size, (unsigned long long)zs.comp_size);
	unsigned char *raw = NULL;
	if (read_raw(r, rel, idx, zs.comp_size, &raw) < 0)
		return -1;
	size_t n = (size_t)zs.size;
	char *buf;
	if (zs.comp_method == ZIP_CM_STORE) {
		buf = dk_realloc(raw, n + 1);
	} else {
		buf = dk_malloc(n + 1);
		int rc = inflate_exact(r->path, rel, raw, (size_t)zs.comp_size, buf, n);
		free(raw);
		if (rc < 0) {
			free(buf);
			return -1;
		}
	}
	uLong crc = crc32(0L, Z_NULL, 0);
	for (size_t off = 0; off < n;) {
		uInt chunk = n - off > UINT32_MAX ? UINT32_MAX : (uInt)(n - off);
		crc = crc32(crc, (const Bytef *)buf + off, chunk);
		off += chunk;
	}
	if ((zip_uint32_t)crc != zs.crc) {
		free(buf);
		return dk_fail("%s: %s: CRC-32 mismatch (recorded %08x, data %08lx)", r->path, rel, (unsigned)zs.crc,
			       (unsigned long)crc);
	}
	buf[n] = 0;
	*data = buf;
	*len = n;
	return 0;
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
	return read_entry(r, rel, (zip_uint64_t)idx, data, len);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_dir(const char *base, const char *sub, struct dk_strv *l)
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
			r = list_dir(base, rel, l);
		else if (S_ISREG(st.st_mode))
			dk_strv_push_take(l, DK_TAKE_PTR(rel));
	}
	closedir(d);
	return r;
}

int dk_oc_release_list(struct dk_oc_release *r, const char *dir, char ***names, size_t *n)
{
	struct dk_strv l = {0};
	if (!r->zip) {
		_cleanup_free_ char *base = dk_asprintf("%s/%s", r->path, dir);
		if (list_dir(base, "", &l) < 0) {
			dk_strv_clear(&l);
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
			dk_strv_push(&l, nm + pl);
		}
	}
	if (l.n)
		qsort(l.v, l.n, sizeof *l.v, cmp_str);
	*names = l.v;
	*n = l.n;
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
	struct dk_strv l = {0};
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
					if (!dk_strv_contains(l.v, root) && rel_safe(root))
						dk_strv_push_take(&l, DK_TAKE_PTR(root));
					break;
				}
				p = *e ? e + 1 : e;
			}
		}
	}
	if (l.n)
		qsort(l.v, l.n, sizeof *l.v, cmp_str);
	*paths = l.v;
	*n = l.n;
	return 0;
}
