/* Kext bundles: read Info.plist, find plugins, order by dependency. */
#include "opencore/oc_internal.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/cleanup.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void kext_clear(struct dk_kext *k)
{
	free(k->bundle_path);
	free(k->identifier);
	free(k->executable);
	free(k->name);
	free(k->version);
	for (int i = 0; i < k->ndeps; i++)
		free(k->deps[i]);
	free(k->deps);
	memset(k, 0, sizeof *k);
}

void dk_kexts_free(struct dk_kext *v, int n)
{
	for (int i = 0; i < n; i++)
		kext_clear(&v[i]);
	free(v);
}

int dk_kext_parse_info(plist_t p, const char *what, struct dk_kext *k)
{
	const char *id = dk_pl_str(p, "CFBundleIdentifier");
	if (!id || !*id)
		return dk_fail("%s: CFBundleIdentifier missing", what);
	const char *exe = dk_pl_str(p, "CFBundleExecutable");
	if (exe && *exe && (strchr(exe, '/') || !strcmp(exe, "..")))
		return dk_fail("%s: CFBundleExecutable \"%s\" is not a file name", what, exe);
	k->identifier = dk_strdup(id);
	k->executable = exe && *exe ? dk_asprintf("Contents/MacOS/%s", exe) : dk_strdup("");
	const char *ver = dk_pl_str(p, "CFBundleShortVersionString");
	if (!ver)
		ver = dk_pl_str(p, "CFBundleVersion");
	k->version = ver ? dk_strdup(ver) : NULL;
	plist_t libs = plist_dict_get_item(p, "OSBundleLibraries");
	if (dk_pl_is(libs, PLIST_DICT)) {
		_cleanup_(dk_pl_iter_end) struct dk_pl_iter it = {.dict = libs};
		while (dk_pl_next(&it)) {
			k->deps = dk_realloc(k->deps, sizeof *k->deps * (size_t)(k->ndeps + 1));
			k->deps[k->ndeps++] = DK_TAKE_PTR(it.key);
		}
	}
	return 0;
}

int dk_kext_read_info(const char *bundle_dir, struct dk_kext *k)
{
	_cleanup_free_ char *info = dk_asprintf("%s/Contents/Info.plist", bundle_dir);
	if (!dk_oc_is_file(info))
		return dk_fail("%s: no Contents/Info.plist (not a kext bundle)", bundle_dir);
	plist_t p;
	if (dk_pl_load(info, &p) < 0)
		return -1;
	int r = dk_kext_parse_info(p, info, k);
	plist_free(p);
	return r;
}

static int check_links(const char *root, size_t rootlen, const char *dir, int depth)
{
	if (depth > 32)
		return dk_fail("%s: folders nested too deeply", dir);
	DIR *d = opendir(dir);
	if (!d)
		return dk_fail_errno("%s", dir);
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		_cleanup_free_ char *p = dk_asprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) < 0) {
			r = dk_fail_errno("%s", p);
		} else if (S_ISLNK(st.st_mode)) {
			_cleanup_free_ char *real = realpath(p, NULL);
			if (!real)
				r = dk_fail_errno("%s: a symbolic link that does not resolve", p);
			else if (strncmp(real, root, rootlen) || (real[rootlen] && real[rootlen] != '/'))
				r = dk_fail("%s: a symbolic link to %s, outside the kext (refused)", p, real);
		} else if (S_ISDIR(st.st_mode)) {
			r = check_links(root, rootlen, p, depth + 1);
		}
	}
	closedir(d);
	return r;
}

int dk_kext_check_links(const char *bundle_dir)
{
	_cleanup_free_ char *root = realpath(bundle_dir, NULL);
	if (!root)
		return dk_fail_errno("%s", bundle_dir);
	return check_links(root, strlen(root), bundle_dir, 0);
}

struct scan {
	struct dk_kext *v;
	int n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.kext names in dir. */
static int list_kexts(const char *dir, char ***names, int *count)
{
	*names = NULL;
	*count = 0;
	DIR *d = opendir(dir);
	if (!d)
		return dk_fail_errno("%s", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !dk_endswith(e->d_name, ".kext"))
			continue;
		_cleanup_free_ char *full = dk_asprintf("%s/%s", dir, e->d_name);
		if (!dk_oc_is_dir(full))
			continue;
		*names = dk_realloc(*names, sizeof **names * (size_t)(*count + 1));
		(*names)[(*count)++] = dk_strdup(e->d_name);
	}
	closedir(d);
	if (*count > 1)
		qsort(*names, (size_t)*count, sizeof **names, cmp_str);
	return 0;
}

static int scan_one(struct scan *s, const char *root, const char *rel, int parent, int depth)
{
	_cleanup_free_ char *full = dk_asprintf("%s/%s", root, rel);
	struct dk_kext k = {0};
	/* plug-ins are inside their parent: checked with it */
	if (parent < 0 && dk_kext_check_links(full) < 0)
		return -1;
	if (dk_kext_read_info(full, &k) < 0)
		return -1;
	k.bundle_path = dk_strdup(rel);
	const char *base = dk_oc_basename(rel);
	k.name = dk_strndup(base, strlen(base) - 5);
	k.parent = parent;
	if (k.executable[0]) {
		_cleanup_free_ char *exe = dk_asprintf("%s/%s", full, k.executable);
		if (!dk_oc_is_file(exe)) {
			dk_fail("%s: Info.plist names executable %s, which is missing", full, k.executable);
			kext_clear(&k);
			return -1;
		}
	}
	const struct dk_oc_known_kext *kk = dk_oc_known_kext_find(k.name);
	k.min_kernel = kk ? kk->min_kernel : "";
	k.max_kernel = kk ? kk->max_kernel : "";
	k.kernel_reason = kk ? kk->reason : NULL;
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].identifier, k.identifier)) {
			dk_fail("%s: bundle identifier %s is also used by %s", full, k.identifier, s->v[i].bundle_path);
			kext_clear(&k);
			return -1;
		}
	s->v = dk_realloc(s->v, sizeof *s->v * (size_t)(s->n + 1));
	s->v[s->n] = k;
	int me = s->n++;
	if (depth >= 4)
		return 0;
	_cleanup_free_ char *plugdir = dk_asprintf("%s/Contents/PlugIns", full);
	if (!dk_oc_is_dir(plugdir))
		return 0;
	char **names;
	int count;
	if (list_kexts(plugdir, &names, &count) < 0)
		return -1;
	int r = 0;
	for (int i = 0; i < count && r == 0; i++) {
		_cleanup_free_ char *sub = dk_asprintf("%s/Contents/PlugIns/%s", rel, names[i]);
		r = scan_one(s, root, sub, me, depth + 1);
	}
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return r;
}

static int find_id(const struct scan *s, const char *id)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].identifier, id))
			return i;
	return -1;
}

int dk_kexts_scan(const char *dir, struct dk_kext **out, int *n)
{
	*out = NULL;
	*n = 0;
	if (!dk_oc_is_dir(dir))
		return dk_path_exists(dir) ? dk_fail("%s: not a directory", dir) : dk_fail_errno("%s", dir);
	char **names;
	int count;
	if (list_kexts(dir, &names, &count) < 0)
		return -1;
	struct scan s = {0};
	int r = 0;
	for (int i = 0; i < count && r == 0; i++)
		r = scan_one(&s, dir, names[i], -1, 0);
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
	if (r < 0) {
		dk_kexts_free(s.v, s.n);
		return -1;
	}

	/* Order: repeatedly take the first ready kext, Lilu before all others,
	 * else in scan order (names sorted, plugins right after their parent). */
	int *order = dk_calloc((size_t)s.n + 1, sizeof *order);
	bool *placed = dk_calloc((size_t)s.n + 1, sizeof *placed);
	for (int k = 0; k < s.n; k++) {
		int pick = -1;
		for (int pass = 0; pass < 2 && pick < 0; pass++) {
			for (int i = 0; i < s.n; i++) {
				if (placed[i])
					continue;
				if (pass == 0 && strcmp(s.v[i].identifier, "as.vit9696.Lilu") != 0)
					continue;
				bool ready = s.v[i].parent < 0 || placed[s.v[i].parent];
				for (int d = 0; d < s.v[i].ndeps && ready; d++) {
					int j = find_id(&s, s.v[i].deps[d]);
					if (j >= 0 && j != i && !placed[j])
						ready = false;
				}
				if (ready) {
					pick = i;
					break;
				}
			}
		}
		if (pick < 0) {
			struct dk_buf b = {0};
			for (int i = 0; i < s.n; i++)
				if (!placed[i])
					dk_buf_printf(&b, "%s%s", b.len ? ", " : "", s.v[i].bundle_path);
			dk_fail("%s: kexts depend on each other in a cycle: %s", dir, b.data);
			dk_buf_free(&b);
			free(order);
			free(placed);
			dk_kexts_free(s.v, s.n);
			return -1;
		}
		placed[pick] = true;
		order[k] = pick;
	}
	struct dk_kext *sorted = dk_calloc((size_t)s.n + 1, sizeof *sorted);
	int *newidx = dk_calloc((size_t)s.n + 1, sizeof *newidx);
	for (int k = 0; k < s.n; k++)
		newidx[order[k]] = k;
	for (int k = 0; k < s.n; k++) {
		sorted[k] = s.v[order[k]];
		if (sorted[k].parent >= 0)
			sorted[k].parent = newidx[sorted[k].parent];
	}
	free(s.v);
	free(order);
	free(placed);
	free(newidx);
	*out = sorted;
	*n = s.n;
	return 0;
}
