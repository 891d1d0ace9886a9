/* FAT32 writer (see fat32.h). Layout: reserved sectors (boot sector 0, FSInfo
 * 1, backup boot 6, backup FSInfo 7), FAT #1, FAT #2, data. Directories get
 * the first clusters (root = 2), then the files, each in one contiguous run. */
#include "image/fat32.h"
#include "image/gpt.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 512u

struct fnode {
	char *name;
	uint16_t *u16; /* UCS-2 long name */
	size_t u16len;
	uint8_t sname[11];
	bool need_lfn;
	bool is_dir;
	char *src;
	uint8_t *data;
	uint64_t size;
	time_t mtime;
	struct fnode **kids;
	size_t nkids, cap;
	uint32_t first_cluster, nclusters;
};

struct dk_fat_builder {
	struct fnode root;
	size_t count;
	uint64_t file_bytes;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static uint16_t get16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void node_free(struct fnode *n)
{
	for (size_t i = 0; i < n->nkids; i++) {
		node_free(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	free(n->name);
	free(n->u16);
	free(n->src);
	free(n->data);
}

struct dk_fat_builder *dk_fat_new(void)
{
	struct dk_fat_builder *b = dk_calloc(1, sizeof *b);
	b->root.is_dir = true;
	b->root.mtime = -1;
	return b;
}

void dk_fat_free(struct dk_fat_builder *b)
{
	if (!b)
		return;
	node_free(&b->root);
	free(b);
}

size_t dk_fat_count(const struct dk_fat_builder *b) { return b->count; }

static void manifest(const struct fnode *d, const char *prefix, struct dk_buf *out)
{
	for (size_t i = 0; i < d->nkids; i++) {
		const struct fnode *k = d->kids[i];
		dk_buf_printf(out, "%s/%s %c %" PRIu64 "\n", prefix, k->name, k->is_dir ? 'd' : 'f', k->size);
		if (k->is_dir) {
			_cleanup_free_ char *p = dk_asprintf("%s/%s", prefix, k->name);
			manifest(k, p, out);
		}
	}
}

void dk_fat_manifest(const struct dk_fat_builder *b, struct dk_buf *out)
{
	manifest(&b->root, "", out);
}
uint64_t dk_fat_file_bytes(const struct dk_fat_builder *b) { return b->file_bytes; }

/* UTF-8 -> UCS-2; -1 on invalid UTF-8 or characters outside the BMP. */
static int utf8_to_ucs2(const char *s, uint16_t **out, size_t *outlen)
{
	size_t n = strlen(s);
	uint16_t *u = dk_malloc((n + 1) * sizeof *u);
	size_t k = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t c;
		int extra;
		if (*p < 0x80) { c = *p; extra = 0; }
		else if ((*p & 0xE0) == 0xC0) { c = *p & 0x1F; extra = 1; }
		else if ((*p & 0xF0) == 0xE0) { c = *p & 0x0F; extra = 2; }
		else { free(u); return -1; }
		p++;
		for (int i = 0; i < extra; i++, p++) {
			if ((*p & 0xC0) != 0x80) { free(u); return -1; }
			c = c << 6 | (*p & 0x3F);
		}
		if ((extra == 1 && c < 0x80) || (extra == 2 && c < 0x800) || (c >= 0xD800 && c <= 0xDFFF)) {
			free(u);
			return -1;
		}
		u[k++] = (uint16_t)c;
	}
	*out = u;
	*outlen = k;
	return 0;
}

static int check_name(const char *name, const char *path)
{
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return dk_fail("%s: invalid FAT file name", path);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || strchr("\"*/:<>?\\|", *p))
			return dk_fail("%s: character '%c' is not allowed in FAT names", path, *p >= 0x20 ? *p : '?');
	char last = name[strlen(name) - 1];
	if (last == '.' || last == ' ')
		return dk_fail("%s: FAT names cannot end in '%c'", path, last);
	return 0;
}

static struct fnode *find_kid(struct fnode *d, const char *name, size_t len)
{
	for (size_t i = 0; i < d->nkids; i++)
		if (strlen(d->kids[i]->name) == len && !strncasecmp(d->kids[i]->name, name, len))
			return d->kids[i];
	return NULL;
}

static struct fnode *add_kid(struct fnode *d, const char *name, size_t len, const char *path)
{
	_cleanup_free_ char *nm = dk_strndup(name, len);
	if (check_name(nm, path) < 0)
		return NULL;
	uint16_t *u;
	size_t ul;
	if (utf8_to_ucs2(nm, &u, &ul) < 0) {
		dk_fail("%s: name is not valid UTF-8 (or outside the BMP)", path);
		return NULL;
	}
	if (ul > 255) {
		free(u);
		dk_fail("%s: name longer than 255 characters", path);
		return NULL;
	}
	if (d->nkids == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->kids = dk_realloc(d->kids, d->cap * sizeof *d->kids);
	}
	struct fnode *n = dk_calloc(1, sizeof *n);
	n->name = DK_TAKE_PTR(nm);
	n->u16 = u;
	n->u16len = ul;
	n->mtime = -1;
	d->kids[d->nkids++] = n;
	return n;
}

/* Walk/create the parents of path; returns the parent dir and the last name. */
static struct fnode *parent_of(struct dk_fat_builder *b, const char *path, const char **last)
{
	struct fnode *d = &b->root;
	const char *p = path;
	while (*p == '/')
		p++;
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash) {
			*last = p;
			return d;
		}
		if (slash == p) {
			p++;
			continue;
		}
		struct fnode *k = find_kid(d, p, slash - p);
		if (k && !k->is_dir) {
			dk_fail("%s: '%.*s' is a file, not a directory", path, (int)(slash - p), p);
			return NULL;
		}
		if (!k) {
			k = add_kid(d, p, slash - p, path);
			if (!k)
				return NULL;
			k->is_dir = true;
			b->count++;
		}
		d = k;
		p = slash + 1;
	}
}

static struct fnode *new_entry(struct dk_fat_builder *b, const char *path, bool dir)
{
	const char *last;
	struct fnode *d = parent_of(b, path, &last);
	if (!d)
		return NULL;
	size_t len = strlen(last);
	while (len && last[len - 1] == '/')
		len--;
	struct fnode *k = find_kid(d, last, len);
	if (k) {
		if (dir && k->is_dir)
			return k;
		dk_fail("%s: already in the image", path);
		return NULL;
	}
	k = add_kid(d, last, len, path);
	if (!k)
		return NULL;
	k->is_dir = dir;
	b->count++;
	return k;
}

int dk_fat_add_dir(struct dk_fat_builder *b, const char *path)
{
	return new_entry(b, path, true) ? 0 : -1;
}

int dk_fat_add_file(struct dk_fat_builder *b, const char *path, const char *src)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return dk_fail_errno("%s", src);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file", src);
	if ((uint64_t)st.st_size > DK_FAT_MAX_FILE)
		return dk_fail("%s: larger than 4 GiB, too large for FAT32", src);
	struct fnode *n = new_entry(b, path, false);
	if (!n)
		return -1;
	n->src = dk_strdup(src);
	n->size = st.st_size;
	n->mtime = st.st_mtime;
	b->file_bytes += n->size;
	return 0;
}

int dk_fat_add_data(struct dk_fat_builder *b, const char *path, const void *data, size_t len)
{
	if ((uint64_t)len > DK_FAT_MAX_FILE)
		return dk_fail("%s: larger than 4 GiB, too large for FAT32", path);
	struct fnode *n = new_entry(b, path, false);
	if (!n)
		return -1;
	n->data = dk_malloc(len ? len : 1);
	if (len)
		memcpy(n->data, data, len);
	n->size = len;
	b->file_bytes += len;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_tree(struct dk_fat_builder *b, const char *path, const char *src_dir, int depth);

int dk_fat_add_tree(struct dk_fat_builder *b, const char *path, const char *src_dir)
{
	return add_tree(b, path, src_dir, 0);
}

static int add_tree(struct dk_fat_builder *b, const char *path, const char *src_dir, int depth)
{
	if (depth > 32)
		return dk_fail("%s: folders nested too deeply (a symlink loop?)", src_dir);
	if (dk_fat_add_dir(b, path) < 0)
		return -1;
	DIR *d = opendir(src_dir);
	if (!d)
		return dk_fail_errno("%s", src_dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = dk_realloc(names, cap * sizeof *names);
		}
		names[n++] = dk_strdup(e->d_name);
	}
	closedir(d);
	/* sorted: the image does not depend on readdir order */
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (r == 0) {
			_cleanup_free_ char *src = dk_asprintf("%s/%s", src_dir, names[i]);
			_cleanup_free_ char *dst = dk_asprintf("%s/%s", path, names[i]);
			struct stat st;
			if (stat(src, &st) < 0)
				r = dk_fail_errno("%s", src);
			else if (S_ISDIR(st.st_mode))
				r = add_tree(b, dst, src, depth + 1);
			else if (S_ISREG(st.st_mode))
				r = dk_fat_add_file(b, dst, src);
			else
				r = dk_fail("%s: not a regular file or directory", src);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* ---- short names ---- */

static bool sfn_ok(unsigned char c)
{
	return c >= 0x80 || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'()-@^_`{}~", c);
}

static unsigned char up(unsigned char c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

/* Does name fit 8.3 exactly (modulo case)? Fill sn when it does. */
static bool fits_83(const char *name, uint8_t sn[11])
{
	memset(sn, ' ', 11);
	const char *dot = strchr(name, '.');
	size_t blen = dot ? (size_t)(dot - name) : strlen(name);
	if (blen < 1 || blen > 8)
		return false;
	if (dot && (strchr(dot + 1, '.') || strlen(dot + 1) < 1 || strlen(dot + 1) > 3))
		return false;
	for (size_t i = 0; i < blen; i++) {
		unsigned char c = up(name[i]);
		if (c >= 0x80 || !sfn_ok(c))
			return false;
		sn[i] = c;
	}
	if (dot)
		for (size_t i = 0; dot[1 + i]; i++) {
			unsigned char c = up(dot[1 + i]);
			if (c >= 0x80 || !sfn_ok(c))
				return false;
			sn[8 + i] = c;
		}
	return true;
}

static void basis_name(const char *name, char base[9], char ext[4])
{
	const char *p = name;
	while (*p == '.' || *p == ' ')
		p++;
	const char *dot = strrchr(p, '.');
	size_t bl = 0, el = 0;
	for (const char *q = p; *q && q != dot && bl < 8; q++) {
		unsigned char c = *q;
		if (c == ' ' || c == '.')
			continue;
		if ((c & 0xC0) == 0x80)
			continue; /* UTF-8 continuation: the lead byte already became '_' */
		c = up(c);
		base[bl++] = (c < 0x80 && sfn_ok(c)) ? c : '_';
	}
	if (dot)
		for (const char *q = dot + 1; *q && el < 3; q++) {
			unsigned char c = *q;
			if (c == ' ' || (c & 0xC0) == 0x80)
				continue;
			c = up(c);
			ext[el++] = (c < 0x80 && sfn_ok(c)) ? c : '_';
		}
	if (!bl)
		base[bl++] = '_';
	base[bl] = 0;
	ext[el] = 0;
}

static bool sname_taken(struct fnode *d, size_t upto, const uint8_t sn[11])
{
	for (size_t i = 0; i < upto; i++)
		if (!memcmp(d->kids[i]->sname, sn, 11))
			return true;
	return false;
}

static uint8_t lfn_checksum(const uint8_t sn[11])
{
	uint8_t s = 0;
	for (int i = 0; i < 11; i++)
		s = (uint8_t)(((s & 1) << 7) + (s >> 1) + sn[i]);
	return s;
}

static int assign_short_names(struct fnode *d)
{
	for (size_t i = 0; i < d->nkids; i++) {
		struct fnode *k = d->kids[i];
		uint8_t sn[11];
		if (fits_83(k->name, sn) && !sname_taken(d, i, sn)) {
			memcpy(k->sname, sn, 11);
			uint8_t upper[11];
			fits_83(k->name, upper);
			/* a long name entry keeps the case when the name is not all upper case */
			k->need_lfn = false;
			for (const char *p = k->name; *p; p++)
				if (*p >= 'a' && *p <= 'z')
					k->need_lfn = true;
		} else {
			char base[9], ext[4];
			basis_name(k->name, base, ext);
			bool ok = false;
			for (unsigned n = 1; n < 1000000 && !ok; n++) {
				char tail[8];
				int tl = snprintf(tail, sizeof tail, "~%u", n);
				size_t keep = strlen(base);
				if (keep > (size_t)(8 - tl))
					keep = 8 - tl;
				memset(sn, ' ', 11);
				memcpy(sn, base, keep);
				memcpy(sn + keep, tail, tl);
				memcpy(sn + 8, ext, strlen(ext));
				ok = !sname_taken(d, i, sn);
			}
			if (!ok)
				return dk_fail("%s: too many similar names in one directory", k->name);
			memcpy(k->sname, sn, 11);
			k->need_lfn = true;
		}
		if (k->sname[0] == 0xE5)
			k->sname[0] = 0x05;
		if (k->is_dir && assign_short_names(k) < 0)
			return -1;
	}
	return 0;
}

static size_t dir_entries(const struct fnode *d, bool root)
{
	size_t n = root ? 1 : 2;
	for (size_t i = 0; i < d->nkids; i++)
		n += 1 + (d->kids[i]->need_lfn ? (d->kids[i]->u16len + 12) / 13 : 0);
	return n;
}

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* Cluster counts for every node at cluster size cs (after short names). */
static int size_tree(struct fnode *d, bool root, uint32_t cs, uint64_t *total)
{
	size_t ents = dir_entries(d, root);
	if (ents > 65536)
		return dk_fail("%s: more than 65536 directory entries", root ? "/" : d->name);
	d->nclusters = (uint32_t)div_up(ents * 32, cs);
	*total += d->nclusters;
	for (size_t i = 0; i < d->nkids; i++) {
		struct fnode *k = d->kids[i];
		if (k->is_dir) {
			if (size_tree(k, false, cs, total) < 0)
				return -1;
		} else {
			k->nclusters = (uint32_t)div_up(k->size, cs);
			*total += k->nclusters;
		}
	}
	return 0;
}

uint64_t dk_fat_content_bytes(struct dk_fat_builder *b, uint32_t cs)
{
	uint64_t total = 0;
	if (assign_short_names(&b->root) < 0 || size_tree(&b->root, true, cs, &total) < 0)
		return UINT64_MAX;
	return total * cs;
}

int dk_fat_geometry(uint64_t bytes, struct dk_fat_geometry *g)
{
	uint64_t sectors = bytes / SEC;
	if (sectors > 0xFFFFFFFFull)
		return dk_fail("FAT32 volume of %" PRIu64 " bytes is too large (max 2 TiB)", bytes);
	uint32_t spc;
	if (sectors <= 532480)
		spc = 1;
	else if (sectors <= 16777216)
		spc = 8;
	else if (sectors <= 33554432)
		spc = 16;
	else if (sectors <= 67108864)
		spc = 32;
	else
		spc = 64;
	for (; spc >= 1; spc /= 2) {
		uint32_t reserved = 32;
		uint64_t fat = div_up(((sectors - reserved) / spc + 2) * 4, SEC);
		uint32_t align = spc < 8 ? 8 : spc;
		while ((reserved + 2 * fat) % align)
			reserved++;
		if (sectors <= reserved + 2 * fat) {
			if (spc == 1)
				break;
			continue;
		}
		uint64_t clusters = (sectors - reserved - 2 * fat) / spc;
		if (clusters >= DK_FAT32_MIN_CLUSTERS && clusters <= 0x0FFFFFF5 - 2) {
			g->sectors = sectors;
			g->spc = spc;
			g->reserved = reserved;
			g->fat_sectors = (uint32_t)fat;
			g->clusters = (uint32_t)clusters;
			return 0;
		}
		if (spc == 1)
			break;
	}
	return dk_fail("a FAT32 volume of %" PRIu64 " bytes is too small (needs 65525 clusters, about 33 MiB)",
		       bytes);
}

uint64_t dk_fat_auto_size(struct dk_fat_builder *b, uint64_t slack)
{
	const uint64_t MiB = 1 << 20;
	uint64_t need = dk_fat_content_bytes(b, 4096);
	if (need == UINT64_MAX)
		return 0;
	uint64_t size = need + slack;
	size += size / 64 + 4 * MiB; /* FATs and reserved sectors */
	size = div_up(size, MiB) * MiB;
	if (size < 64 * MiB)
		size = 64 * MiB;
	for (int tries = 0; tries < 64; tries++) {
		struct dk_fat_geometry g;
		if (dk_fat_geometry(size, &g) == 0) {
			uint64_t used = dk_fat_content_bytes(b, g.spc * SEC);
			if (used != UINT64_MAX && used / (g.spc * SEC) <= g.clusters &&
			    (uint64_t)(g.clusters) * g.spc * SEC - used >= slack)
				return size;
		}
		size = div_up(size + size / 16, MiB) * MiB;
	}
	return 0;
}

/* ---- writing ---- */

struct wctx {
	int fd;
	uint64_t off;
	uint32_t cs;
	uint64_t data_off; /* byte offset of cluster 2 inside fd */
	uint32_t *fat;
	uint32_t next;
	const struct dk_fat_write_opts *o;
	time_t now;
	uint8_t *copybuf;
};

static void alloc_chain(struct wctx *w, struct fnode *n)
{
	if (!n->nclusters) {
		n->first_cluster = 0;
		return;
	}
	n->first_cluster = w->next;
	for (uint32_t i = 0; i < n->nclusters; i++)
		w->fat[w->next + i] = i + 1 < n->nclusters ? w->next + i + 1 : 0x0FFFFFFF;
	w->next += n->nclusters;
}

static void alloc_dirs(struct wctx *w, struct fnode *d)
{
	for (size_t i = 0; i < d->nkids; i++)
		if (d->kids[i]->is_dir) {
			alloc_chain(w, d->kids[i]);
			alloc_dirs(w, d->kids[i]);
		}
}

static void alloc_files(struct wctx *w, struct fnode *d)
{
	for (size_t i = 0; i < d->nkids; i++) {
		if (d->kids[i]->is_dir)
			alloc_files(w, d->kids[i]);
		else
			alloc_chain(w, d->kids[i]);
	}
}

static void fat_time(const struct wctx *w, time_t t, uint16_t *date, uint16_t *tm)
{
	struct tm tmv;
	if (w->o->fixed_time)
		t = w->o->when;
	else if (t < 0)
		t = w->now;
	if (w->o->fixed_time)
		gmtime_r(&t, &tmv);
	else
		localtime_r(&t, &tmv);
	int year = tmv.tm_year + 1900;
	if (year < 1980) {
		*date = (1 << 5) | 1;
		*tm = 0;
		return;
	}
	if (year > 2107)
		year = 2107;
	*date = (uint16_t)((year - 1980) << 9 | (tmv.tm_mon + 1) << 5 | tmv.tm_mday);
	*tm = (uint16_t)(tmv.tm_hour << 11 | tmv.tm_min << 5 | tmv.tm_sec / 2);
}

static void short_entry(uint8_t *e, const uint8_t sn[11], uint8_t attr, uint32_t cluster, uint32_t size,
			uint16_t date, uint16_t tm)
{
	memcpy(e, sn, 11);
	e[11] = attr;
	put16(e + 14, tm);
	put16(e + 16, date);
	put16(e + 18, date);
	put16(e + 20, (uint16_t)(cluster >> 16));
	put16(e + 22, tm);
	put16(e + 24, date);
	put16(e + 26, (uint16_t)cluster);
	put32(e + 28, size);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Write runs of non-zero 4 KiB blocks; zero blocks stay holes. */
static int write_nonzero(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	size_t i = 0;
	while (i < len) {
		size_t blk = len - i < 4096 ? len - i : 4096;
		if (all_zero(buf + i, blk)) {
			i += blk;
			continue;
		}
		size_t j = i + blk;
		while (j < len) {
			size_t b2 = len - j < 4096 ? len - j : 4096;
			if (all_zero(buf + j, b2))
				break;
			j += b2;
		}
		if (dk_pwrite_all(fd, buf + i, j - i, off + i) < 0)
			return -1;
		i = j;
	}
	return 0;
}

static uint64_t cl_off(const struct wctx *w, uint32_t c) { return w->data_off + (uint64_t)(c - 2) * w->cs; }

static int write_dir(struct wctx *w, struct fnode *d, bool root, uint32_t parent_cluster)
{
	size_t len = (size_t)d->nclusters * w->cs;
	_cleanup_free_ uint8_t *buf = dk_calloc(1, len);
	uint8_t *e = buf;
	uint16_t date, tm;
	fat_time(w, d->mtime, &date, &tm);
	if (root) {
		uint8_t lab[11];
		memset(lab, ' ', 11);
		memcpy(lab, w->o->label, strlen(w->o->label));
		short_entry(e, lab, 0x08, 0, 0, date, tm);
		e += 32;
	} else {
		uint8_t dot[11], dotdot[11];
		memset(dot, ' ', 11);
		memset(dotdot, ' ', 11);
		dot[0] = '.';
		dotdot[0] = dotdot[1] = '.';
		short_entry(e, dot, 0x10, d->first_cluster, 0, date, tm);
		short_entry(e + 32, dotdot, 0x10, parent_cluster, 0, date, tm);
		e += 64;
	}
	for (size_t i = 0; i < d->nkids; i++) {
		struct fnode *k = d->kids[i];
		if (k->need_lfn) {
			uint8_t sum = lfn_checksum(k->sname);
			size_t nlfn = (k->u16len + 12) / 13;
			for (size_t s = nlfn; s >= 1; s--) {
				/* physical order: last part first */
				e[0] = (uint8_t)(s | (s == nlfn ? 0x40 : 0));
				e[11] = 0x0F;
				e[12] = 0;
				e[13] = sum;
				static const int pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
				for (int c = 0; c < 13; c++) {
					size_t idx = (s - 1) * 13 + c;
					uint16_t ch = idx < k->u16len ? k->u16[idx] : idx == k->u16len ? 0x0000 : 0xFFFF;
					put16(e + pos[c], ch);
				}
				e += 32;
			}
		}
		uint16_t kd, kt;
		fat_time(w, k->mtime, &kd, &kt);
		short_entry(e, k->sname, k->is_dir ? 0x10 : 0x20, k->first_cluster, k->is_dir ? 0 : (uint32_t)k->size,
			    kd, kt);
		e += 32;
	}
	if (write_nonzero(w->fd, buf, len, cl_off(w, d->first_cluster)) < 0)
		return -1;
	for (size_t i = 0; i < d->nkids; i++)
		if (d->kids[i]->is_dir && write_dir(w, d->kids[i], false, root ? 0 : d->first_cluster) < 0)
			return -1;
	return 0;
}

static int copy_file(struct wctx *w, struct fnode *k)
{
	uint64_t dst = cl_off(w, k->first_cluster);
	if (!k->src) {
		if (write_nonzero(w->fd, k->data, k->size, dst) < 0)
			return -1;
		if (w->o->progress)
			dk_progress_add(w->o->progress, k->size);
		return 0;
	}
	_cleanup_close_ int in = open(k->src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return dk_fail_errno("%s", k->src);
	struct stat st;
	if (fstat(in, &st) < 0)
		return dk_fail_errno("%s", k->src);
	if ((uint64_t)st.st_size != k->size)
		return dk_fail("%s: changed size while building the image", k->src);
	uint64_t done = 0;
	bool use_cfr = true;
	while (done < k->size) {
		size_t want = k->size - done > (64u << 20) ? (64u << 20) : (size_t)(k->size - done);
		ssize_t r = -1;
		if (use_cfr) {
			loff_t ioff = done, ooff = dst + done;
			r = copy_file_range(in, &ioff, w->fd, &ooff, want, 0);
			if (r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL ||
				      errno == EBADF)) {
				use_cfr = false;
				continue;
			}
			if (r < 0)
				return dk_fail_errno("%s: copy into the image", k->src);
			if (r == 0)
				return dk_fail("%s: changed size while building the image", k->src);
		} else {
			if (!w->copybuf)
				w->copybuf = dk_malloc(1 << 20);
			if (want > (1u << 20))
				want = 1u << 20;
			if (dk_pread_all(in, w->copybuf, want, done) < 0)
				return -1;
			if (write_nonzero(w->fd, w->copybuf, want, dst + done) < 0)
				return -1;
			r = (ssize_t)want;
		}
		done += r;
		if (w->o->progress)
			dk_progress_add(w->o->progress, r);
	}
	return 0;
}

static int write_files(struct wctx *w, struct fnode *d)
{
	for (size_t i = 0; i < d->nkids; i++) {
		struct fnode *k = d->kids[i];
		if (k->is_dir ? write_files(w, k) : copy_file(w, k))
			return -1;
	}
	return 0;
}

int dk_fat_write(struct dk_fat_builder *b, int fd, uint64_t off, uint64_t bytes, const struct dk_fat_write_opts *o)
{
	struct dk_fat_geometry g;
	if (dk_fat_geometry(bytes, &g) < 0)
		return -1;
	const char *label = o->label ? o->label : "NO NAME";
	if (strlen(label) > 11)
		return dk_fail("volume label '%s' is longer than 11 characters", label);
	for (const char *p = label; *p; p++)
		if (*p != ' ' && !sfn_ok((unsigned char)*p))
			return dk_fail("volume label '%s': character '%c' not allowed", label, *p);
	uint32_t cs = g.spc * SEC;
	uint64_t total = 0;
	if (assign_short_names(&b->root) < 0 || size_tree(&b->root, true, cs, &total) < 0)
		return -1;
	if (total > g.clusters)
		return dk_fail("content needs %" PRIu64 " clusters of %u bytes, the volume has %u (use a larger size)",
			       total, cs, g.clusters);
	struct wctx w = {.fd = fd, .off = off, .cs = cs, .o = o, .now = time(NULL)};
	w.data_off = off + (uint64_t)(g.reserved + 2 * g.fat_sectors) * SEC;
	size_t fat_entries = (size_t)total + 2;
	_cleanup_free_ uint32_t *fat = dk_calloc(fat_entries, sizeof *fat);
	w.fat = fat;
	fat[0] = 0x0FFFFFF8;
	fat[1] = 0x0FFFFFFF;
	w.next = 2;
	alloc_chain(&w, &b->root);
	alloc_dirs(&w, &b->root);
	alloc_files(&w, &b->root);

	/* boot sector */
	uint8_t bs[SEC] = {0};
	bs[0] = 0xEB; bs[1] = 0x58; bs[2] = 0x90;
	memcpy(bs + 3, "DKVM1.0 ", 8);
	put16(bs + 11, SEC);
	bs[13] = (uint8_t)g.spc;
	put16(bs + 14, (uint16_t)g.reserved);
	bs[16] = 2;
	bs[21] = 0xF8;
	put16(bs + 24, 32);
	put16(bs + 26, 64);
	put32(bs + 28, o->hidden_sectors);
	put32(bs + 32, (uint32_t)g.sectors);
	put32(bs + 36, g.fat_sectors);
	put32(bs + 44, 2);
	put16(bs + 48, 1);
	put16(bs + 50, 6);
	bs[64] = 0x80;
	bs[66] = 0x29;
	put32(bs + 67, o->volume_id);
	memset(bs + 71, ' ', 11);
	memcpy(bs + 71, label, strlen(label));
	memcpy(bs + 82, "FAT32   ", 8);
	/* boot code: print a message and halt (not a boot disk for BIOS) */
	static const uint8_t code[] = {0x0E, 0x1F, 0xBE, 0x77, 0x7C, 0xAC, 0x22, 0xC0, 0x74, 0x0B, 0x56,
				       0xB4, 0x0E, 0xBB, 0x07, 0x00, 0xCD, 0x10, 0x5E, 0xEB, 0xF0, 0x32,
				       0xE4, 0xCD, 0x16, 0xCD, 0x19, 0xEB, 0xFE};
	memcpy(bs + 90, code, sizeof code);
	static const char msg[] = "This is not a bootable disk (UEFI only).\r\n";
	memcpy(bs + 0x77, msg, sizeof msg);
	bs[510] = 0x55;
	bs[511] = 0xAA;
	uint8_t fsi[SEC] = {0};
	put32(fsi, 0x41615252);
	put32(fsi + 484, 0x61417272);
	put32(fsi + 488, g.clusters - (uint32_t)total);
	put32(fsi + 492, w.next <= g.clusters + 1 ? w.next : 0xFFFFFFFF);
	put32(fsi + 508, 0xAA550000);
	uint8_t s2[SEC] = {0};
	s2[510] = 0x55;
	s2[511] = 0xAA;
	if (dk_pwrite_all(fd, bs, SEC, off) < 0 || dk_pwrite_all(fd, fsi, SEC, off + SEC) < 0 ||
	    dk_pwrite_all(fd, s2, SEC, off + 2 * SEC) < 0 || dk_pwrite_all(fd, bs, SEC, off + 6 * SEC) < 0 ||
	    dk_pwrite_all(fd, fsi, SEC, off + 7 * SEC) < 0 || dk_pwrite_all(fd, s2, SEC, off + 8 * SEC) < 0)
		return -1;
	/* FATs (little-endian entries) */
	size_t fat_bytes = fat_entries * 4;
	_cleanup_free_ uint8_t *fb = dk_malloc(fat_bytes);
	for (size_t i = 0; i < fat_entries; i++)
		put32(fb + 4 * i, fat[i]);
	for (int f = 0; f < 2; f++)
		if (write_nonzero(fd, fb, fat_bytes, off + (uint64_t)(g.reserved + f * g.fat_sectors) * SEC) < 0)
			return -1;
	int r = write_dir(&w, &b->root, true, 0);
	if (r == 0)
		r = write_files(&w, &b->root);
	free(w.copybuf);
	return r;
}

/* ---- reader ---- */

struct dk_fat_vol {
	int fd;
	bool own_fd;
	char *what;
	uint64_t off, len;
	uint32_t bps, spc, cs, reserved, nfats, fat_sectors, root_cluster, clusters;
	uint64_t data_off;
	char label[12];
	uint32_t *fat;
};

const char *dk_fat_label(const struct dk_fat_vol *v) { return v->label; }
uint32_t dk_fat_cluster_size(const struct dk_fat_vol *v) { return v->cs; }
uint32_t dk_fat_clusters(const struct dk_fat_vol *v) { return v->clusters; }
uint64_t dk_fat_offset(const struct dk_fat_vol *v) { return v->off; }

void dk_fat_close(struct dk_fat_vol *v)
{
	if (!v)
		return;
	if (v->own_fd && v->fd >= 0)
		close(v->fd);
	free(v->fat);
	free(v->what);
	free(v);
}

int dk_fat_open_fd(int fd, uint64_t off, uint64_t len, const char *what, struct dk_fat_vol **out)
{
	uint8_t bs[SEC];
	if (len < 64 * SEC)
		return dk_fail("%s: too small for a FAT32 volume", what);
	if (dk_pread_all(fd, bs, SEC, off) < 0)
		return dk_fail_prefix("%s", what);
	if (bs[510] != 0x55 || bs[511] != 0xAA)
		return dk_fail("%s: no FAT boot sector signature", what);
	uint32_t bps = get16(bs + 11), spc = bs[13], reserved = get16(bs + 14), nfats = bs[16];
	uint32_t root_ents = get16(bs + 17), tot16 = get16(bs + 19), fat16 = get16(bs + 22);
	uint32_t tot32 = get32(bs + 32), fat32 = get32(bs + 36), rootc = get32(bs + 44);
	if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096)
		return dk_fail("%s: not a FAT volume (bytes per sector %u)", what, bps);
	if (!spc || (spc & (spc - 1)) || !reserved || !nfats || nfats > 4)
		return dk_fail("%s: not a FAT volume (bad BPB)", what);
	if (root_ents || fat16 || !fat32 || tot16)
		return dk_fail("%s: not a FAT32 volume", what);
	uint64_t tot = tot32;
	if (tot * bps > len)
		return dk_fail("%s: FAT32 volume (%" PRIu64 " bytes) is larger than its partition", what, tot * bps);
	uint64_t meta = reserved + (uint64_t)nfats * fat32;
	if (meta >= tot)
		return dk_fail("%s: FAT32 metadata exceeds the volume", what);
	uint64_t clusters = (tot - meta) / spc;
	if (clusters > (uint64_t)fat32 * bps / 4 - 2)
		clusters = (uint64_t)fat32 * bps / 4 - 2;
	if (clusters < 1 || clusters > 0x0FFFFFF5)
		return dk_fail("%s: bad FAT32 cluster count", what);
	if (rootc < 2 || rootc >= clusters + 2)
		return dk_fail("%s: bad root directory cluster %u", what, rootc);
	if ((uint64_t)fat32 * bps > (512u << 20))
		return dk_fail("%s: FAT too large", what);
	struct dk_fat_vol *v = dk_calloc(1, sizeof *v);
	v->fd = fd;
	v->what = dk_strdup(what);
	v->off = off;
	v->len = len;
	v->bps = bps;
	v->spc = spc;
	v->cs = bps * spc;
	v->reserved = reserved;
	v->nfats = nfats;
	v->fat_sectors = fat32;
	v->root_cluster = rootc;
	v->clusters = (uint32_t)clusters;
	v->data_off = off + meta * bps;
	memcpy(v->label, bs + 71, 11);
	v->label[11] = 0;
	for (int i = 10; i >= 0 && v->label[i] == ' '; i--)
		v->label[i] = 0;
	size_t n = (size_t)clusters + 2;
	uint8_t *raw = dk_malloc(n * 4);
	if (dk_pread_all(fd, raw, n * 4, off + (uint64_t)reserved * bps) < 0) {
		free(raw);
		dk_fail_prefix("%s: FAT", what);
		dk_fat_close(v);
		return -1;
	}
	v->fat = dk_malloc(n * sizeof *v->fat);
	for (size_t i = 0; i < n; i++)
		v->fat[i] = get32(raw + 4 * i) & 0x0FFFFFFF;
	free(raw);
	*out = v;
	return 0;
}

int dk_fat_open(const char *image, struct dk_fat_vol **out)
{
	_cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dk_fail_errno("%s", image);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s", image);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return dk_fail("%s: not a regular file", image);
	uint64_t size = st.st_size;
	uint8_t mbr[SEC];
	if (size < SEC || dk_pread_all(fd, mbr, SEC, 0) < 0)
		return dk_fail("%s: too small for a disk image", image);
	uint64_t off = 0, len = size;
	if (!memcmp(mbr, "QFI\xfb", 4))
		return dk_fail("%s: a qcow2 image; only raw images can be read (qemu-img convert -O raw)", image);
	if (mbr[510] == 0x55 && mbr[511] == 0xAA && mbr[446 + 4] == 0xEE) {
		struct dk_gpt_part part;
		if (dk_gpt_find(fd, size, dk_gpt_type_esp, &part, image) < 0) {
			_cleanup_free_ char *msg = dk_strdup(dk_errmsg());
			if (dk_gpt_find(fd, size, NULL, &part, image) < 0)
				return dk_fail("%s", msg);
		}
		off = part.first_lba * DK_GPT_SECTOR;
		len = (part.last_lba - part.first_lba + 1) * DK_GPT_SECTOR;
	}
	if (dk_fat_open_fd(fd, off, len, image, out) < 0)
		return -1;
	(*out)->own_fd = true;
	fd = -1;
	return 0;
}

/* next cluster, 0 at end of chain, UINT32_MAX when broken */
static uint32_t next_cl(const struct dk_fat_vol *v, uint32_t c)
{
	uint32_t n = v->fat[c];
	if (n >= 0x0FFFFFF8)
		return 0;
	if (n < 2 || n >= v->clusters + 2)
		return UINT32_MAX;
	return n;
}

/* Read a chain (max bytes, or the whole chain when max == 0). */
static int read_chain(struct dk_fat_vol *v, uint32_t first, uint64_t max, uint8_t **out, size_t *outlen)
{
	struct dk_buf b = {0};
	uint32_t c = first;
	uint64_t steps = 0;
	_cleanup_free_ uint8_t *tmp = dk_malloc(v->cs);
	while (c) {
		if (c < 2 || c >= v->clusters + 2 || ++steps > v->clusters) {
			dk_buf_free(&b);
			return dk_fail("%s: broken FAT cluster chain at cluster %u", v->what, c);
		}
		if (dk_pread_all(v->fd, tmp, v->cs, v->data_off + (uint64_t)(c - 2) * v->cs) < 0) {
			dk_buf_free(&b);
			return dk_fail_prefix("%s", v->what);
		}
		size_t take = v->cs;
		if (max && b.len + take > max)
			take = max - b.len;
		dk_buf_append(&b, tmp, take);
		if (max && b.len >= max)
			break;
		c = next_cl(v, c);
		if (c == UINT32_MAX) {
			dk_buf_free(&b);
			return dk_fail("%s: broken FAT cluster chain", v->what);
		}
	}
	*out = (uint8_t *)b.data;
	*outlen = b.len;
	return 0;
}

static void ucs2_append_utf8(struct dk_buf *b, uint16_t c)
{
	char s[3];
	if (c < 0x80) {
		s[0] = (char)c;
		dk_buf_append(b, s, 1);
	} else if (c < 0x800) {
		s[0] = (char)(0xC0 | c >> 6);
		s[1] = (char)(0x80 | (c & 0x3F));
		dk_buf_append(b, s, 2);
	} else {
		s[0] = (char)(0xE0 | c >> 12);
		s[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		s[2] = (char)(0x80 | (c & 0x3F));
		dk_buf_append(b, s, 3);
	}
}

static int parse_dir(struct dk_fat_vol *v, uint32_t cluster, struct dk_fat_dirent **out, size_t *nout)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	if (read_chain(v, cluster, 0, &buf, &len) < 0)
		return -1;
	struct dk_fat_dirent *ents = NULL;
	size_t n = 0, cap = 0;
	uint16_t lfn[20 * 13 + 1];
	int lfn_parts = 0, lfn_expect = 0;
	uint8_t lfn_sum = 0;
	for (size_t i = 0; i + 32 <= len; i += 32) {
		const uint8_t *e = buf + i;
		if (e[0] == 0)
			break;
		if (e[0] == 0xE5) {
			lfn_parts = 0;
			continue;
		}
		if (e[11] == 0x0F) {
			int ord = e[0] & 0x1F;
			if (ord < 1 || ord > 20) {
				lfn_parts = 0;
				continue;
			}
			if (e[0] & 0x40) {
				lfn_expect = ord;
				lfn_parts = 0;
				lfn_sum = e[13];
				for (int k = 0; k < 20 * 13 + 1; k++)
					lfn[k] = 0;
			} else if (!lfn_expect || ord != lfn_expect - lfn_parts || e[13] != lfn_sum) {
				lfn_expect = lfn_parts = 0;
				continue;
			}
			static const int pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
			for (int c = 0; c < 13; c++)
				lfn[(ord - 1) * 13 + c] = get16(e + pos[c]);
			lfn_parts++;
			continue;
		}
		if (e[11] & 0x08 || e[0] == '.') {
			lfn_expect = lfn_parts = 0;
			continue;
		}
		struct dk_fat_dirent d = {0};
		char sn[13];
		int k = 0;
		uint8_t nt = e[12];
		for (int j = 0; j < 8 && e[j] != ' '; j++) {
			char c = (char)(j == 0 && e[0] == 0x05 ? 0xE5 : e[j]);
			sn[k++] = c;
		}
		int base_len = k;
		if (e[8] != ' ') {
			sn[k++] = '.';
			for (int j = 8; j < 11 && e[j] != ' '; j++)
				sn[k++] = (char)e[j];
		}
		sn[k] = 0;
		memcpy(d.short_name, sn, 13);
		bool have_lfn = lfn_expect && lfn_parts == lfn_expect && lfn_checksum(e) == lfn_sum;
		struct dk_buf nb = {0};
		if (have_lfn) {
			for (int j = 0; j < lfn_expect * 13 && lfn[j] && lfn[j] != 0xFFFF; j++)
				ucs2_append_utf8(&nb, lfn[j]);
		}
		if (!nb.len) {
			for (int j = 0; j < k; j++) {
				char c = sn[j];
				if (c >= 'A' && c <= 'Z' && (j < base_len ? (nt & 0x08) : (nt & 0x10)))
					c = (char)(c + 32);
				dk_buf_append(&nb, &c, 1);
			}
		}
		dk_buf_append(&nb, "", 1);
		d.name = nb.data;
		d.attr = e[11];
		d.is_dir = e[11] & 0x10;
		d.cluster = (uint32_t)get16(e + 20) << 16 | get16(e + 26);
		d.size = get32(e + 28);
		d.wtime = get16(e + 22);
		d.wdate = get16(e + 24);
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			ents = dk_realloc(ents, cap * sizeof *ents);
		}
		ents[n++] = d;
		lfn_expect = lfn_parts = 0;
	}
	free(buf);
	*out = ents;
	*nout = n;
	return 0;
}

void dk_fat_dirents_free(struct dk_fat_dirent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

int dk_fat_stat(struct dk_fat_vol *v, const char *path, struct dk_fat_dirent *out)
{
	struct dk_fat_dirent cur = {.is_dir = true, .cluster = v->root_cluster, .attr = 0x10};
	char *curname = dk_strdup("/");
	const char *p = path;
	int depth = 0;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchrnul(p, '/');
		size_t len = end - p;
		if (!cur.is_dir || ++depth > 64) {
			free(curname);
			return 1;
		}
		struct dk_fat_dirent *ents;
		size_t n;
		if (cur.cluster == 0)
			cur.cluster = v->root_cluster; /* ".." of a first-level directory */
		if (parse_dir(v, cur.cluster, &ents, &n) < 0) {
			free(curname);
			return -1;
		}
		bool found = false;
		for (size_t i = 0; i < n && !found; i++) {
			if ((strlen(ents[i].name) == len && !strncasecmp(ents[i].name, p, len)) ||
			    (strlen(ents[i].short_name) == len && !strncasecmp(ents[i].short_name, p, len))) {
				free(curname);
				cur = ents[i];
				curname = DK_TAKE_PTR(ents[i].name);
				found = true;
			}
		}
		dk_fat_dirents_free(ents, n);
		if (!found) {
			free(curname);
			return 1;
		}
		p = end;
	}
	if (out) {
		*out = cur;
		out->name = curname;
	} else {
		free(curname);
	}
	return 0;
}

int dk_fat_list(struct dk_fat_vol *v, const char *dir, struct dk_fat_dirent **out, size_t *n)
{
	struct dk_fat_dirent d;
	int r = dk_fat_stat(v, dir, &d);
	if (r < 0)
		return -1;
	if (r > 0)
		return dk_fail("%s: %s: no such directory in the image", v->what, dir);
	free(d.name);
	if (!d.is_dir)
		return dk_fail("%s: %s: not a directory", v->what, dir);
	return parse_dir(v, d.cluster ? d.cluster : v->root_cluster, out, n);
}

/* Check the chain of a file of size bytes from first: every cluster in
 * range, none twice (a loop), long enough. Only the FAT in memory is read. */
static int check_file_chain(struct dk_fat_vol *v, const char *path, uint32_t first, uint64_t size)
{
	uint64_t need = (size + v->cs - 1) / v->cs;
	if (!need)
		return 0;
	if (need > v->clusters)
		return dk_fail("%s: %s: size %" PRIu64 " is larger than the volume", v->what, path, size);
	size_t nbits = (size_t)v->clusters + 2;
	_cleanup_free_ uint8_t *seen = dk_calloc((nbits + 7) / 8, 1);
	uint32_t c = first;
	for (uint64_t i = 0; i < need; i++) {
		if (c < 2 || c >= v->clusters + 2)
			return dk_fail("%s: %s: cluster %u is out of range (the volume has clusters 2 to %u): a broken FAT",
				       v->what, path, c, v->clusters + 1);
		if (seen[c / 8] & (1u << (c % 8)))
			return dk_fail("%s: %s: the cluster chain loops (cluster %u twice): a broken FAT", v->what, path, c);
		seen[c / 8] |= (uint8_t)(1u << (c % 8));
		uint32_t n = v->fat[c];
		if (i + 1 < need && n >= 0x0FFFFFF8)
			return dk_fail("%s: %s: the cluster chain ends after %" PRIu64 " of %" PRIu64 " clusters (shorter "
				       "than the file size): a broken FAT", v->what, path, i + 1, need);
		c = n;
	}
	return 0;
}

/* A regular file of at most max bytes in the image, its entry in *d. */
static int stat_regular(struct dk_fat_vol *v, const char *path, uint64_t max, struct dk_fat_dirent *d)
{
	int r = dk_fat_stat(v, path, d);
	if (r < 0)
		return -1;
	if (r > 0)
		return dk_fail("%s: %s: no such file in the image", v->what, path);
	free(d->name);
	d->name = NULL;
	if (d->is_dir)
		return dk_fail("%s: %s: is a directory", v->what, path);
	if (d->size > max)
		return dk_fail("%s: %s: too large (%u bytes)", v->what, path, d->size);
	return 0;
}

int dk_fat_read_stream(struct dk_fat_vol *v, const char *path, uint64_t max, size_t chunk, dk_fat_sink sink,
		       void *ctx)
{
	struct dk_fat_dirent d;
	if (stat_regular(v, path, max, &d) < 0)
		return -1;
	if (check_file_chain(v, path, d.cluster, d.size) < 0)
		return -1;
	if (!chunk)
		chunk = 1u << 20;
	/* whole clusters per read: at least one */
	size_t per = chunk / v->cs ? chunk / v->cs : 1;
	_cleanup_free_ uint8_t *buf = dk_malloc(per * v->cs);
	uint64_t left = d.size;
	uint32_t c = d.cluster;
	while (left) {
		/* a run of consecutive clusters (a file is usually one run) */
		uint32_t start = c;
		size_t n = 1;
		c = v->fat[c];
		while (n < per && (uint64_t)n * v->cs < left && c == start + n) {
			n++;
			c = v->fat[c];
		}
		size_t bytes = (uint64_t)n * v->cs < left ? n * v->cs : (size_t)left;
		if (dk_pread_all(v->fd, buf, bytes, v->data_off + (uint64_t)(start - 2) * v->cs) < 0)
			return dk_fail_prefix("%s: %s", v->what, path);
		left -= bytes;
		/* a chunk smaller than a cluster: the cluster in pieces */
		for (size_t off = 0; off < bytes;) {
			size_t k = bytes - off < chunk ? bytes - off : chunk;
			if (sink(ctx, buf + off, k) < 0)
				return -1;
			off += k;
		}
	}
	return 0;
}

struct mem_sink {
	char *buf;
	size_t len, cap;
};

static int to_mem(void *ctx, const void *data, size_t len)
{
	struct mem_sink *m = ctx;
	if (len > m->cap - m->len)
		return dk_fail("the file grew while being read");
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	return 0;
}

struct fd_sink {
	int fd;
	const char *what;
};

static int to_fd(void *ctx, const void *data, size_t len)
{
	struct fd_sink *f = ctx;
	return dk_write_all(f->fd, data, len) < 0 ? dk_fail_prefix("%s", f->what) : 0;
}

int dk_fat_read_fd(struct dk_fat_vol *v, const char *path, uint64_t max, int fd, const char *what)
{
	struct fd_sink f = {.fd = fd, .what = what};
	return dk_fat_read_stream(v, path, max, 0, to_fd, &f);
}

int dk_fat_read(struct dk_fat_vol *v, const char *path, char **data, size_t *len, size_t max)
{
	struct dk_fat_dirent d;
	if (stat_regular(v, path, max, &d) < 0)
		return -1;
	struct mem_sink m = {.buf = dk_malloc((size_t)d.size + 1), .cap = d.size};
	if (dk_fat_read_stream(v, path, max, 0, to_mem, &m) < 0) {
		free(m.buf);
		return -1;
	}
	m.buf[m.len] = 0;
	*data = m.buf;
	*len = m.len;
	return 0;
}
