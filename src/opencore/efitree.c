/* The EFI tree model (opencore.h, "EFI tree"): which files an OpenCore config
 * needs, found among what is given, and what to write where. One rule for
 * `opencore image` (building) and `opencore validate` (checking a tree). */
#include "opencore/oc_internal.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/mem.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define HOST_MAX_DEPTH 32
#define HOST_MAX_ITEMS 200000

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* ---------------- given items ---------------- */

void dk_efi_given_add(struct dk_efi_given *g, const char *path, bool is_dir, enum dk_efi_origin origin, int src,
		      const char *from)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 16;
		g->v = dk_realloc(g->v, g->cap * sizeof *g->v);
	}
	g->v[g->n++] = (struct dk_efi_item){
		.path = dk_strdup(path), .is_dir = is_dir, .origin = origin, .src = src, .from = from};
}

void dk_efi_given_free(struct dk_efi_given *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].path);
	free(g->v);
	g->v = NULL;
	g->n = g->cap = 0;
}

static int host_walk(struct dk_efi_given *g, const char *dir, const char *prefix, enum dk_efi_origin origin, int src,
		     const char *from, int depth)
{
	if (depth > HOST_MAX_DEPTH)
		return 0; /* left out: whoever copies the folder says why */
	_cleanup_(closedirp) DIR *d = opendir(dir);
	if (!d)
		return dk_fail_errno("%s", dir);
	struct dirent *e;
	while ((e = readdir(d)) && g->n < HOST_MAX_ITEMS) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		_cleanup_free_ char *full = dk_asprintf("%s/%s", dir, e->d_name);
		_cleanup_free_ char *rel = dk_asprintf("%s/%s", prefix, e->d_name);
		struct stat st;
		if (stat(full, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		dk_efi_given_add(g, rel, S_ISDIR(st.st_mode), origin, src, from);
		/* an unreadable folder inside: its files are missing (the copy says why) */
		if (S_ISDIR(st.st_mode) && host_walk(g, full, rel, origin, src, from, depth + 1) < 0)
			dk_errclear();
	}
	return 0;
}

int dk_efi_given_host(struct dk_efi_given *g, const char *dir, const char *prefix, enum dk_efi_origin origin,
		      int src, const char *from)
{
	return host_walk(g, dir, prefix, origin, src, from, 0);
}

void dk_efi_tree_free(struct dk_efi_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].dest);
	free(t->v);
	for (uint32_t i = 0; i < t->nbundles; i++)
		free(t->bundles[i]);
	free(t->bundles);
	memset(t, 0, sizeof *t);
}

/* ---------------- lookup ---------------- */

struct idx {
	size_t *v, n;
};

struct plan {
	plist_t cfg;
	const struct dk_efi_given *g;
	size_t *ord;  /* item indices, by path ignoring case, then exact, then origin */
	bool *used;   /* per item: an enabled entry needs it */
	bool *copied; /* per item: already in the tree */
	struct dk_efi_tree *t;
	struct dk_oc_findings *f;
	bool build;
	struct idx drivers, tools; /* items to copy, in config order */
};

static void idx_add(struct idx *l, size_t i)
{
	l->v = dk_realloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = i;
}

static int cmp_items(const void *a, const void *b, void *given)
{
	const struct dk_efi_given *g = given;
	const struct dk_efi_item *x = &g->v[*(const size_t *)a], *y = &g->v[*(const size_t *)b];
	int c = strcasecmp(x->path, y->path);
	if (!c)
		c = strcmp(x->path, y->path);
	if (!c)
		c = (int)x->origin - (int)y->origin;
	if (!c)
		c = *(const size_t *)a < *(const size_t *)b ? -1 : 1;
	return c;
}

struct hit {
	size_t item;
	bool exact; /* same case */
};

/* key (relative to EFI/) as a file, or as a folder (listed, or holding items). */
static bool lookup(const struct plan *p, const char *key, bool want_dir, struct hit *h)
{
	size_t klen = strlen(key), lo = 0, hi = p->g->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcasecmp(p->g->v[p->ord[mid]].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	bool found = false;
	for (size_t j = lo; j < p->g->n; j++) {
		const struct dk_efi_item *it = &p->g->v[p->ord[j]];
		if (strncasecmp(it->path, key, klen) != 0)
			break;
		char c = it->path[klen];
		bool ok = want_dir ? ((c == 0 && it->is_dir) || c == '/') : (c == 0 && !it->is_dir);
		if (!ok)
			continue;
		bool exact = !strncmp(it->path, key, klen);
		if (!found || (exact && !h->exact))
			*h = (struct hit){p->ord[j], exact};
		found = true;
		if (exact)
			break;
	}
	return found;
}

/* ---------------- the path rule ---------------- */

/* Relative, '/'-separated, no "", "." or ".." component, no '\'. */
static bool path_ok(const char *p)
{
	if (!*p || p[0] == '/' || strchr(p, '\\'))
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');
		if (e == s || (e - s == 2 && !strncmp(s, "..", 2)) || (e - s == 1 && *s == '.'))
			return false;
		s = *e ? e + 1 : e;
	}
	return true;
}

#define ERR(p, path, rule, ...) dk_oc_finding_add((p)->f, DK_OC_ERROR, path, rule, __VA_ARGS__)
#define WARN(p, path, rule, ...) dk_oc_finding_add((p)->f, DK_OC_WARNING, path, rule, __VA_ARGS__)

/* An enabled entry's path (NULL: disabled); *bad when it has none. */
static const char *entry_path(plist_t e, const char *key, bool *bad)
{
	*bad = false;
	if (plist_get_node_type(e) == PLIST_STRING) {
		const char *s = plist_get_string_ptr(e, NULL);
		*bad = !s;
		return s && s[0] == '#' ? NULL : s;
	}
	if (plist_get_node_type(e) == PLIST_DICT && !dk_pl_bool(e, "Enabled", false))
		return NULL;
	const char *s = dk_pl_str(e, key);
	*bad = !s || !*s;
	return s;
}

/* Where an item comes from, for messages. */
static const char *where(const struct plan *p, size_t item)
{
	if (!p->build)
		return p->g->tree ? p->g->tree : "the EFI tree";
	return p->g->v[item].from ? p->g->v[item].from : "?";
}

/* key was found as another spelling: fine on FAT, said once. */
static void check_case(struct plan *p, const struct hit *h, const char *fpath, const char *key)
{
	if (h->exact || p->g->fold_case)
		return;
	size_t skip = strncmp(key, "OC/", 3) ? 0 : 3;
	WARN(p, fpath, "efi.case-mismatch", "%s is spelled %.*s in %s (FAT ignores case)", key + skip,
	     (int)(strlen(key) - skip), p->g->v[h->item].path + skip, where(p, h->item));
}

struct sect {
	const char *apath, *key, *dir;
	struct idx *copy; /* where found items go, or NULL */
};

static void missing_file(struct plan *p, const struct sect *s, const char *fpath, const char *path)
{
	const char *rel = p->g->release;
	if (!p->build)
		ERR(p, fpath, "efi.missing-file", "%s/%s is not in the EFI tree", s->dir, path);
	else if (!strcmp(s->dir, "Drivers"))
		ERR(p, fpath, "efi.missing-file",
		    "%s is enabled but the release %s has no X64/EFI/OC/Drivers/%s (give it with --driver)", path, rel,
		    path);
	else if (!strcmp(s->dir, "Tools"))
		ERR(p, fpath, "efi.missing-file", "%s is enabled but the release %s has no X64/EFI/OC/Tools/%s", path, rel,
		    path);
	else
		ERR(p, fpath, "efi.missing-file", "%s is enabled but no --acpi %s was given", path, path);
}

/* The enabled entry i of an array: its path, or NULL (disabled, or reported). */
static const char *checked_path(struct plan *p, plist_t e, const char *fpath, const char *key, const char *dir)
{
	bool bad;
	const char *path = entry_path(e, key, &bad);
	if (bad) {
		ERR(p, fpath, "efi.no-path", "an enabled entry needs a %s", key);
		return NULL;
	}
	if (path && !path_ok(path)) {
		ERR(p, fpath, "efi.bad-path", "\"%s\" is not a relative path inside EFI/OC/%s", path, dir);
		return NULL;
	}
	return path;
}

static plist_t entry_array(struct plan *p, const char *apath)
{
	plist_t a = dk_pl_get(p->cfg, apath);
	if (a && !dk_pl_is(a, PLIST_ARRAY)) {
		ERR(p, apath, "efi.not-array", "is not an array");
		return NULL;
	}
	return a;
}

static void plan_files(struct plan *p, const struct sect *s)
{
	plist_t a = entry_array(p, s->apath);
	uint32_t n = a ? plist_array_get_size(a) : 0;
	for (uint32_t i = 0; i < n; i++) {
		plist_t e = plist_array_get_item(a, i);
		_cleanup_free_ char *fpath = dk_pl_is(e, PLIST_STRING) ? dk_asprintf("%s[%u]", s->apath, i)
								       : dk_asprintf("%s[%u]/%s", s->apath, i, s->key);
		const char *path = checked_path(p, e, fpath, s->key, s->dir);
		if (!path)
			continue;
		_cleanup_free_ char *key = dk_asprintf("OC/%s/%s", s->dir, path);
		struct hit h;
		if (!lookup(p, key, false, &h)) {
			missing_file(p, s, fpath, path);
			continue;
		}
		check_case(p, &h, fpath, key);
		if (s->copy && !p->used[h.item])
			idx_add(s->copy, h.item);
		p->used[h.item] = true;
	}
}

/* PlistPath / ExecutablePath of Kernel/Add[i] inside its bundle (spelled as found). */
static bool plan_kext_file(struct plan *p, plist_t e, uint32_t i, const char *k, const char *bp, const char *bundle,
			   size_t bundle_item)
{
	const char *s = dk_pl_str(e, k);
	if (!s || !*s)
		return true;
	_cleanup_free_ char *fpath = dk_asprintf("Kernel/Add[%u]/%s", i, k);
	if (!path_ok(s)) {
		ERR(p, fpath, "efi.bad-path", "\"%s\" is not a relative path inside the bundle %s", s, bp);
		return false;
	}
	_cleanup_free_ char *key = dk_asprintf("%s/%s", bundle, s);
	struct hit h;
	if (lookup(p, key, false, &h)) {
		check_case(p, &h, fpath, key);
		return true;
	}
	if (p->build)
		ERR(p, fpath, "efi.missing-file", "%s: %s %s not found in %s", bp, k, s, where(p, bundle_item));
	else
		ERR(p, fpath, "efi.missing-file", "Kexts/%s/%s is not in the EFI tree", bp, s);
	return false;
}

static void plan_kext(struct plan *p, plist_t e, uint32_t i)
{
	_cleanup_free_ char *fpath = dk_pl_is(e, PLIST_STRING) ? dk_asprintf("Kernel/Add[%u]", i)
							       : dk_asprintf("Kernel/Add[%u]/BundlePath", i);
	const char *bp = checked_path(p, e, fpath, "BundlePath", "Kexts");
	if (!bp)
		return;
	_cleanup_free_ char *top = dk_asprintf("OC/Kexts/%.*s", (int)(strchrnul(bp, '/') - bp), bp);
	_cleanup_free_ char *key = dk_asprintf("OC/Kexts/%s", bp);
	struct hit h, ht;
	bool has_top = lookup(p, top, true, &ht);
	if (!lookup(p, key, true, &h)) {
		if (!p->build)
			ERR(p, fpath, "efi.missing-file", "Kexts/%s is not in the EFI tree", bp);
		else if (!has_top)
			ERR(p, fpath, "efi.missing-file", "%s is enabled but no --kext %s was given", bp, top + 9);
		else
			ERR(p, fpath, "efi.missing-file", "%s not found in %s", bp, where(p, ht.item));
		return;
	}
	if (has_top)
		p->used[ht.item] = true;
	check_case(p, &h, fpath, key);
	_cleanup_free_ char *bundle = dk_strndup(p->g->v[h.item].path, strlen(key));
	bool plist_ok = plan_kext_file(p, e, i, "PlistPath", bp, bundle, h.item);
	plan_kext_file(p, e, i, "ExecutablePath", bp, bundle, h.item);
	if (plist_ok)
		p->t->bundles[i] = dk_strdup(bundle + 3);
}

static void plan_kexts(struct plan *p)
{
	plist_t a = entry_array(p, "Kernel/Add");
	uint32_t n = a ? plist_array_get_size(a) : 0;
	p->t->bundles = dk_calloc((size_t)n + 1, sizeof *p->t->bundles);
	p->t->nbundles = n;
	for (uint32_t i = 0; i < n; i++)
		plan_kext(p, plist_array_get_item(a, i), i);
}

/* "OC/Kexts/X.kext" given by the user (a folder, or a bundle of a zip). */
static bool is_user_kext(const struct dk_efi_item *it)
{
	return it->origin == DK_EFI_USER && it->is_dir && !strncmp(it->path, "OC/Kexts/", 9) &&
	       !strchr(it->path + 9, '/');
}

static bool is_user_acpi(const struct dk_efi_item *it)
{
	return it->origin == DK_EFI_USER && !it->is_dir && !strncmp(it->path, "OC/ACPI/", 8);
}

/* What the user gave that no enabled entry uses. */
static void plan_unused(struct plan *p)
{
	const struct dk_efi_given *g = p->g;
	const char *cfg = g->config ? g->config : "the config";
	for (size_t i = 0; i < g->n; i++)
		if (is_user_kext(&g->v[i]) && g->v[i].whole && !p->used[i])
			WARN(p, "Kernel/Add", "efi.unused", "%s: not in %s Kernel/Add (copied, but OpenCore will not load it)",
			     g->v[i].path + 9, cfg);
	/* the bundles of one zip follow each other */
	for (size_t i = 0; i < g->n;) {
		if (!is_user_kext(&g->v[i]) || g->v[i].whole) {
			i++;
			continue;
		}
		const char *from = g->v[i].from;
		bool any = false;
		for (; i < g->n && (!is_user_kext(&g->v[i]) || (!g->v[i].whole && g->v[i].from == from)); i++)
			any |= is_user_kext(&g->v[i]) && p->used[i];
		if (!any)
			WARN(p, "Kernel/Add", "efi.unused", "%s: none of its kexts is enabled in %s Kernel/Add", from, cfg);
	}
	for (size_t i = 0; i < g->n; i++)
		if (is_user_acpi(&g->v[i]) && !p->used[i])
			WARN(p, "ACPI/Add", "efi.unused", "%s: not in %s ACPI/Add (copied, but OpenCore will not load it)",
			     g->v[i].path + 8, cfg);
}

/* ---------------- the tree to write ---------------- */

static void add_copy(struct plan *p, char *dest, enum dk_efi_from from, size_t item)
{
	struct dk_efi_tree *t = p->t;
	t->v = dk_realloc(t->v, (t->n + 1) * sizeof *t->v);
	t->v[t->n++] = (struct dk_efi_copy){.dest = dest, .from = from, .item = item};
}

static void copy_item(struct plan *p, size_t i)
{
	if (p->copied[i])
		return;
	p->copied[i] = true;
	add_copy(p, dk_asprintf("EFI/%s", p->g->v[i].path), DK_EFI_FROM_ITEM, i);
}

/* The folders, the boot files and the config. */
static void copy_base(struct plan *p)
{
	static const char *const dirs[] = {"EFI/BOOT", "EFI/OC/ACPI", "EFI/OC/Drivers", "EFI/OC/Kexts",
					   "EFI/OC/Resources", "EFI/OC/Tools"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(dirs); i++)
		add_copy(p, dk_strdup(dirs[i]), DK_EFI_NEW_DIR, 0);
	/* .contentFlavour / .contentVisibility beside BOOTx64.efi and OpenCore.efi */
	static const char *const boot[] = {"BOOT/BOOTx64.efi",	      "OC/OpenCore.efi",
					   "BOOT/.contentFlavour",    "BOOT/.contentVisibility",
					   "OC/.contentFlavour",      "OC/.contentVisibility"};
	struct hit h;
	for (size_t i = 0; i < DK_ARRAY_SIZE(boot); i++)
		if (lookup(p, boot[i], false, &h))
			copy_item(p, h.item);
	add_copy(p, dk_strdup("EFI/OC/config.plist"), DK_EFI_FROM_CONFIG, 0);
}

/* A kext folder whole; a zip's bundle with its files when used. */
static void copy_kexts(struct plan *p)
{
	const struct dk_efi_given *g = p->g;
	for (size_t i = 0; i < g->n; i++) {
		const struct dk_efi_item *it = &g->v[i];
		if (!is_user_kext(it) || (!it->whole && !p->used[i]))
			continue;
		copy_item(p, i);
		if (it->whole)
			continue;
		size_t l = strlen(it->path);
		for (size_t j = i + 1; j < g->n && !strncmp(g->v[j].path, it->path, l) && g->v[j].path[l] == '/'; j++)
			copy_item(p, j);
	}
}

static void copy_all(struct plan *p)
{
	const struct dk_efi_given *g = p->g;
	copy_base(p);
	for (size_t i = 0; i < p->drivers.n; i++)
		copy_item(p, p->drivers.v[i]);
	for (size_t i = 0; i < p->tools.n; i++)
		copy_item(p, p->tools.v[i]);
	/* Resources: by path, a given one before the release's of the same name */
	const char *last = NULL;
	for (size_t k = 0; k < g->n; k++) {
		const struct dk_efi_item *it = &g->v[p->ord[k]];
		if (it->origin == DK_EFI_TREE || it->is_dir || strncmp(it->path, "OC/Resources/", 13) ||
		    (last && !strcasecmp(last, it->path)))
			continue;
		copy_item(p, p->ord[k]);
		last = it->path;
	}
	copy_kexts(p);
	for (size_t i = 0; i < g->n; i++)
		if (is_user_acpi(&g->v[i]) || (p->used[i] && !strncmp(g->v[i].path, "OC/ACPI/", 8)))
			copy_item(p, i);
}

void dk_efi_tree_plan(plist_t config, const struct dk_efi_given *given, struct dk_efi_tree *out,
		      struct dk_oc_findings *findings)
{
	memset(out, 0, sizeof *out);
	struct plan p = {
		.cfg = config,
		.g = given,
		.ord = dk_calloc(given->n + 1, sizeof *p.ord),
		.used = dk_calloc(given->n + 1, sizeof *p.used),
		.copied = dk_calloc(given->n + 1, sizeof *p.copied),
		.t = out,
		.f = findings,
		.build = given->release != NULL,
	};
	for (size_t i = 0; i < given->n; i++)
		p.ord[i] = i;
	qsort_r(p.ord, given->n, sizeof *p.ord, cmp_items, (void *)given);
	struct hit h;
	if (!p.build && !lookup(&p, "OC/OpenCore.efi", false, &h))
		WARN(&p, "", "efi.missing-file", "OpenCore.efi is not in %s", given->tree ? given->tree : "the EFI tree");
	plan_files(&p, &(struct sect){"ACPI/Add", "Path", "ACPI", NULL});
	plan_files(&p, &(struct sect){"UEFI/Drivers", "Path", "Drivers", &p.drivers});
	plan_files(&p, &(struct sect){"Misc/Tools", "Path", "Tools", &p.tools});
	plan_kexts(&p);
	plan_unused(&p);
	copy_all(&p);
	free(p.ord);
	free(p.used);
	free(p.copied);
	free(p.drivers.v);
	free(p.tools.v);
}
