/* config.plist validation: schema conformance against the release's
 * Sample.plist, the rule families of OpenCore's own validator (ocvalidate),
 * and consistency with an EFI tree. Findings carry the path they are about. */
#include "opencore/oc_internal.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/cleanup.h"
#include "image/fat32.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void dk_oc_findings_free(struct dk_oc_findings *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n; i++) {
		free(f->v[i].path);
		free(f->v[i].rule);
		free(f->v[i].message);
	}
	free(f->v);
	memset(f, 0, sizeof *f);
}

struct vctx {
	plist_t cfg, sample;
	const char *oc_dir; /* EFI/OC of the tree (host path, or "EFI/OC" inside vol), or NULL */
	struct dk_fat_vol *vol; /* the EFI read from a disk image, or NULL */
	struct dk_oc_findings *f;
};

void dk_oc_finding_add(struct dk_oc_findings *f, enum dk_oc_severity sev, const char *path, const char *rule,
		       const char *fmt, ...)
{
	f->v = dk_realloc(f->v, sizeof *f->v * (size_t)(f->n + 1));
	struct dk_oc_finding *x = &f->v[f->n++];
	x->severity = sev;
	x->path = dk_strdup(path);
	x->rule = dk_strdup(rule);
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&x->message, fmt, ap) < 0)
		x->message = dk_strdup("(out of memory)");
	va_end(ap);
	if (sev == DK_OC_ERROR)
		f->errors++;
	else
		f->warnings++;
}
#define finding(v, sev, path, rule, ...) dk_oc_finding_add((v)->f, sev, path, rule, __VA_ARGS__)
#define ERR(v, path, rule, ...) finding(v, DK_OC_ERROR, path, rule, __VA_ARGS__)
#define WARN(v, path, rule, ...) finding(v, DK_OC_WARNING, path, rule, __VA_ARGS__)

/* ---------------- schema ---------------- */

static const char *const map_paths[] = {
	"DeviceProperties/Add", "DeviceProperties/Delete", "NVRAM/Add", "NVRAM/Delete", "NVRAM/LegacySchema", NULL,
};
/* Documented sections a Sample.plist does not carry. */
static const char *const optional_paths[] = {
	"PlatformInfo/DataHub", "PlatformInfo/Memory", "PlatformInfo/PlatformNVRAM", "PlatformInfo/SMBIOS",
	"Misc/Serial/Custom", NULL,
};

/* Keys the guide says may be deleted (OpenCore then uses its default). */
static const char *const deletable_paths[] = {"NVRAM/LegacySchema", NULL};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (!strcmp(*l, s))
			return true;
	return false;
}

static bool is_comment_key(const char *k)
{
	return k[0] == '#';
}

static void schema_node(struct vctx *v, plist_t c, plist_t s, const char *path);

static void schema_map(struct vctx *v, plist_t c, plist_t s, const char *path)
{
	/* free-form keys; children typed like the Sample's first child */
	plist_t first = NULL;
	_cleanup_(dk_pl_iter_end) struct dk_pl_iter si = {.dict = s};
	while (!first && dk_pl_next(&si))
		if (!is_comment_key(si.key))
			first = si.val;
	if (!first)
		return;
	_cleanup_(dk_pl_iter_end) struct dk_pl_iter ci = {.dict = c};
	while (dk_pl_next(&ci)) {
		if (!is_comment_key(ci.key) && plist_get_node_type(ci.val) != plist_get_node_type(first)) {
			_cleanup_free_ char *p = dk_asprintf("%s/%s", path, ci.key);
			ERR(v, p, "schema.wrong-type", "is a %s, the Sample has a %s here",
			    dk_pl_type_name(plist_get_node_type(ci.val)), dk_pl_type_name(plist_get_node_type(first)));
		}
	}
}

static void schema_dict(struct vctx *v, plist_t c, plist_t s, const char *path)
{
	if (in_list(map_paths, path)) {
		schema_map(v, c, s, path);
		return;
	}
	_cleanup_(dk_pl_iter_end) struct dk_pl_iter si = {.dict = s};
	while (dk_pl_next(&si)) {
		if (!is_comment_key(si.key)) {
			_cleanup_free_ char *p = dk_pl_join(path, si.key);
			plist_t cv = plist_dict_get_item(c, si.key);
			if (!cv)
				finding(v, in_list(deletable_paths, p) ? DK_OC_WARNING : DK_OC_ERROR, p, "schema.missing-key",
					"missing key (the Sample has a %s)", dk_pl_type_name(plist_get_node_type(si.val)));
			else
				schema_node(v, cv, si.val, p);
		}
	}
	_cleanup_(dk_pl_iter_end) struct dk_pl_iter ci = {.dict = c};
	while (dk_pl_next(&ci)) {
		const char *k = ci.key;
		plist_t cv = ci.val;
		if (!is_comment_key(k) && !plist_dict_get_item(s, k)) {
			_cleanup_free_ char *p = dk_pl_join(path, k);
			if (in_list(optional_paths, p)) {
				if (!dk_pl_is(cv, PLIST_DICT))
					ERR(v, p, "schema.wrong-type", "is a %s, expected a dictionary",
					    dk_pl_type_name(plist_get_node_type(cv)));
			} else {
				ERR(v, p, "schema.unknown-key", "unknown key (not in this release's Sample.plist)");
			}
		}
	}
}

static void schema_array(struct vctx *v, plist_t c, plist_t s, const char *path)
{
	uint32_t ns = plist_array_get_size(s);
	if (ns == 0)
		return;
	plist_t s0 = plist_array_get_item(s, 0);
	plist_type et = plist_get_node_type(s0);
	uint32_t nc = plist_array_get_size(c);
	if (et != PLIST_DICT) {
		for (uint32_t i = 0; i < nc; i++) {
			plist_t e = plist_array_get_item(c, i);
			if (plist_get_node_type(e) != et) {
				_cleanup_free_ char *p = dk_asprintf("%s[%u]", path, i);
				ERR(v, p, "schema.wrong-type", "is a %s, the Sample's entries are %ss",
				    dk_pl_type_name(plist_get_node_type(e)), dk_pl_type_name(et));
			}
		}
		return;
	}
	/* entry schema: union of keys (allowed), intersection (required) */
	for (uint32_t i = 0; i < nc; i++) {
		plist_t e = plist_array_get_item(c, i);
		_cleanup_free_ char *ep = dk_asprintf("%s[%u]", path, i);
		if (!dk_pl_is(e, PLIST_DICT)) {
			ERR(v, ep, "schema.wrong-type", "is a %s, the Sample's entries are dictionaries",
			    dk_pl_type_name(plist_get_node_type(e)));
			continue;
		}
		/* required + typed */
		for (uint32_t j = 0; j < ns; j++) {
			plist_t se = plist_array_get_item(s, j);
			if (!dk_pl_is(se, PLIST_DICT))
				continue;
			_cleanup_(dk_pl_iter_end) struct dk_pl_iter si = {.dict = se};
			while (dk_pl_next(&si)) {
				const char *k = si.key;
				plist_t sv = si.val;
				if (is_comment_key(k))
					continue;
				/* only judge each key once: at the first Sample entry holding it */
				bool first_holder = true;
				for (uint32_t q = 0; q < j; q++)
					if (plist_dict_get_item(plist_array_get_item(s, q), k))
						first_holder = false;
				if (first_holder) {
					bool required = true;
					for (uint32_t q = 0; q < ns; q++)
						if (!plist_dict_get_item(plist_array_get_item(s, q), k))
							required = false;
					_cleanup_free_ char *p = dk_asprintf("%s/%s", ep, k);
					plist_t cv = plist_dict_get_item(e, k);
					if (!cv) {
						if (required)
							ERR(v, p, "schema.missing-key", "missing key (the Sample's entries have a %s)",
							    dk_pl_type_name(plist_get_node_type(sv)));
					} else {
						schema_node(v, cv, sv, p);
					}
				}
			}
		}
		/* unknown */
		_cleanup_(dk_pl_iter_end) struct dk_pl_iter ei = {.dict = e};
		while (dk_pl_next(&ei)) {
			const char *k = ei.key;
			bool known = is_comment_key(k);
			for (uint32_t j = 0; j < ns && !known; j++)
				if (plist_dict_get_item(plist_array_get_item(s, j), k))
					known = true;
			if (!known) {
				_cleanup_free_ char *p = dk_asprintf("%s/%s", ep, k);
				ERR(v, p, "schema.unknown-key", "unknown key (not in this release's Sample.plist entries)");
			}
		}
	}
}

static void schema_node(struct vctx *v, plist_t c, plist_t s, const char *path)
{
	plist_type ct = plist_get_node_type(c), st = plist_get_node_type(s);
	if (ct != st) {
		ERR(v, *path ? path : "(root)", "schema.wrong-type", "is a %s, the Sample has a %s", dk_pl_type_name(ct),
		    dk_pl_type_name(st));
		return;
	}
	if (ct == PLIST_DICT)
		schema_dict(v, c, s, path);
	else if (ct == PLIST_ARRAY)
		schema_array(v, c, s, path);
}

/* ---------------- rule helpers ---------------- */

static plist_t get(struct vctx *v, const char *path)
{
	return dk_pl_get(v->cfg, path);
}

static bool oneof(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

static void check_enum(struct vctx *v, plist_t dict, const char *dpath, const char *key, const char *const *set)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	if (!dk_pl_is(n, PLIST_STRING))
		return; /* the schema check reports missing / mistyped keys */
	const char *s = plist_get_string_ptr(n, NULL);
	if (!oneof(s, set)) {
		struct dk_buf b = {0};
		for (const char *const *p = set; *p; p++)
			dk_buf_printf(&b, "%s%s", p == set ? "" : ", ", **p ? *p : "\"\"");
		_cleanup_free_ char *p = dk_asprintf("%s/%s", dpath, key);
		ERR(v, p, "enum", "\"%s\" is not one of: %s", s, b.data);
		dk_buf_free(&b);
	}
}

static void check_bits(struct vctx *v, plist_t dict, const char *dpath, const char *key, uint64_t allowed)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	if (!dk_pl_is(n, PLIST_UINT))
		return;
	uint64_t x = 0;
	plist_get_uint_val(n, &x);
	if (x & ~allowed) {
		_cleanup_free_ char *p = dk_asprintf("%s/%s", dpath, key);
		ERR(v, p, "bits", "0x%" PRIX64 " has undocumented bits 0x%" PRIX64, x, x & ~allowed);
	}
}

static void check_range(struct vctx *v, plist_t dict, const char *dpath, const char *key, int64_t lo, int64_t hi)
{
	plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
	if (!dk_pl_is(n, PLIST_UINT))
		return;
	int64_t x = dk_pl_int(dict, key, 0);
	if (x < lo || x > hi) {
		_cleanup_free_ char *p = dk_asprintf("%s/%s", dpath, key);
		ERR(v, p, "range", "%" PRId64 " is outside %" PRId64 "..%" PRId64, x, lo, hi);
	}
}

static bool entry_enabled(plist_t e)
{
	return dk_pl_bool(e, "Enabled", false);
}

static uint32_t arr_size(plist_t a)
{
	return dk_pl_is(a, PLIST_ARRAY) ? plist_array_get_size(a) : 0;
}

static bool path_chars_ok(const char *s, bool driver)
{
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '/')
			continue;
		if (!driver && ch == '\\')
			continue;
		return false;
	}
	return true;
}

/* Path rules shared by ACPI/Kernel/UEFI/Tools entries. */
static void check_file_path(struct vctx *v, plist_t e, const char *epath, const char *key, bool driver,
			    const char *suffix1, const char *suffix2, bool may_be_empty)
{
	const char *s = dk_pl_str(e, key);
	if (!s)
		return;
	_cleanup_free_ char *p = dk_asprintf("%s/%s", epath, key);
	if (!*s) {
		if (!may_be_empty)
			ERR(v, p, "path.empty", "is empty");
		return;
	}
	if (strlen(s) + 1 > 192)
		ERR(v, p, "path.length", "is %zu bytes long (at most 191)", strlen(s));
	if (!path_chars_ok(s, driver))
		ERR(v, p, "path.charset", "\"%s\" has characters outside %s", s,
		    driver ? "0-9 A-Z a-z _ - . /" : "0-9 A-Z a-z _ - . / \\");
	if (suffix1) {
		size_t n = strlen(s), l1 = strlen(suffix1), l2 = suffix2 ? strlen(suffix2) : 0;
		bool ok = (n >= l1 && !strcasecmp(s + n - l1, suffix1)) || (suffix2 && n >= l2 && !strcasecmp(s + n - l2, suffix2));
		if (!ok)
			ERR(v, p, "path.suffix", "\"%s\" has a file name suffix other than %s%s%s", s, suffix1,
			    suffix2 ? " and " : "", suffix2 ? suffix2 : "");
	}
}

static void check_kernel_versions(struct vctx *v, plist_t e, const char *epath)
{
	const char *mn = dk_pl_str(e, "MinKernel"), *mx = dk_pl_str(e, "MaxKernel");
	long a = -2, b = -2;
	if (mn && *mn) {
		a = dk_oc_kernel_version(mn);
		_cleanup_free_ char *p = dk_asprintf("%s/MinKernel", epath);
		if (a < 0)
			ERR(v, p, "kernel.version", "\"%s\" is not a Darwin version (A.B.C)", mn);
		else if (a < 80000)
			ERR(v, p, "kernel.version", "\"%s\" is below Darwin 8", mn);
	}
	if (mx && *mx) {
		b = dk_oc_kernel_version(mx);
		_cleanup_free_ char *p = dk_asprintf("%s/MaxKernel", epath);
		if (b < 0)
			ERR(v, p, "kernel.version", "\"%s\" is not a Darwin version (A.B.C)", mx);
		else if (b < 80000)
			ERR(v, p, "kernel.version", "\"%s\" is below Darwin 8", mx);
	}
	if (a >= 0 && b >= 0 && b < a) {
		_cleanup_free_ char *p = dk_asprintf("%s/MaxKernel", epath);
		ERR(v, p, "kernel.version", "MaxKernel %s is below MinKernel %s", mx, mn);
	}
}

static const char *const arch_set[] = {"Any", "i386", "x86_64", NULL};

static void check_patch(struct vctx *v, plist_t e, const char *epath, bool kernel)
{
	size_t nf, nr, nm, nrm;
	const uint8_t *find = dk_pl_data(e, "Find", &nf), *rep = dk_pl_data(e, "Replace", &nr);
	const uint8_t *mask = dk_pl_data(e, "Mask", &nm), *rmask = dk_pl_data(e, "ReplaceMask", &nrm);
	if (!find || !rep)
		return;
	_cleanup_free_ char *pr = dk_asprintf("%s/Replace", epath);
	_cleanup_free_ char *pm = dk_asprintf("%s/Mask", epath);
	_cleanup_free_ char *prm = dk_asprintf("%s/ReplaceMask", epath);
	if (nf > 0 && nr != nf)
		ERR(v, pr, "patch.size", "Replace is %zu bytes, Find is %zu", nr, nf);
	if (nf == 0 && nr == 0)
		ERR(v, pr, "patch.size", "Find and Replace are both empty");
	if (mask && nm > 0) {
		if (nm != nf)
			ERR(v, pm, "patch.size", "Mask is %zu bytes, Find is %zu", nm, nf);
		else
			for (size_t i = 0; i < nf; i++)
				if (find[i] & ~mask[i]) {
					ERR(v, pm, "patch.mask", "Find has bits outside Mask at byte %zu", i);
					break;
				}
	}
	if (rmask && nrm > 0) {
		if (nrm != nr)
			ERR(v, prm, "patch.size", "ReplaceMask is %zu bytes, Replace is %zu", nrm, nr);
		else
			for (size_t i = 0; i < nr; i++)
				if (rep[i] & ~rmask[i]) {
					ERR(v, prm, "patch.mask", "Replace has bits outside ReplaceMask at byte %zu", i);
					break;
				}
	}
	if (kernel) {
		check_enum(v, e, epath, "Arch", arch_set);
		check_kernel_versions(v, e, epath);
		const char *id = dk_pl_str(e, "Identifier");
		if (id && !*id) {
			_cleanup_free_ char *p = dk_asprintf("%s/Identifier", epath);
			ERR(v, p, "patch.identifier", "is empty (use \"kernel\" or a bundle identifier)");
		}
	}
}

static bool guid_ok(const char *s)
{
	return s && dk_uuid_is_valid(s);
}

static bool devpath_ok(const char *s)
{
	/* Node(args)/Node(args)... */
	const char *p = s;
	if (!*p)
		return false;
	while (*p) {
		const char *start = p;
		while (isalnum((unsigned char)*p))
			p++;
		if (p == start || *p != '(')
			return false;
		p++;
		while (*p && *p != ')' && *p != '(' && *p != '/')
			p++;
		if (*p != ')')
			return false;
		p++;
		if (*p == '/') {
			p++;
			if (!*p)
				return false;
		} else if (*p) {
			return false;
		}
	}
	return true;
}

/* Index of the enabled UEFI driver whose file name is `name`, or -1. */
static int driver_index(struct vctx *v, const char *name)
{
	plist_t d = get(v, "UEFI/Drivers");
	for (uint32_t i = 0; i < arr_size(d); i++) {
		plist_t e = plist_array_get_item(d, i);
		const char *p = dk_pl_str(e, "Path");
		if (!p || !entry_enabled(e))
			continue;
		const char *base = dk_oc_basename(p);
		if (!strcasecmp(base, name))
			return (int)i;
	}
	return -1;
}

static const char *bundle_name(const char *bundle_path, char *buf, size_t n)
{
	snprintf(buf, n, "%s", dk_oc_basename(bundle_path));
	size_t l = strlen(buf);
	if (l > 5 && !strcasecmp(buf + l - 5, ".kext"))
		buf[l - 5] = 0;
	return buf;
}

/* Index of the first enabled Kernel/Add entry with that bundle name, or -1. */
static int kext_index(struct vctx *v, const char *name)
{
	plist_t a = get(v, "Kernel/Add");
	for (uint32_t i = 0; i < arr_size(a); i++) {
		plist_t e = plist_array_get_item(a, i);
		const char *bp = dk_pl_str(e, "BundlePath");
		char buf[256];
		if (bp && entry_enabled(e) && !strcmp(bundle_name(bp, buf, sizeof buf), name))
			return (int)i;
	}
	return -1;
}

static void walk_strings(struct vctx *v, plist_t n, const char *path, int depth)
{
	if (depth > 64) {
		ERR(v, path, "structure.depth", "nesting deeper than 64 levels");
		return;
	}
	switch (plist_get_node_type(n)) {
	case PLIST_STRING: {
		const char *s = plist_get_string_ptr(n, NULL);
		for (const char *p = s; p && *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E) {
				ERR(v, path, "string.ascii", "has a character outside printable ASCII at offset %td", p - s);
				break;
			}
		break;
	}
	case PLIST_DICT: {
		_cleanup_(dk_pl_iter_end) struct dk_pl_iter it = {.dict = n};
		while (dk_pl_next(&it)) {
			_cleanup_free_ char *p = dk_pl_join(path, it.key);
			walk_strings(v, it.val, p, depth + 1);
		}
		break;
	}
	case PLIST_ARRAY:
		for (uint32_t i = 0; i < plist_array_get_size(n); i++) {
			_cleanup_free_ char *p = dk_asprintf("%s[%u]", path, i);
			walk_strings(v, plist_array_get_item(n, i), p, depth + 1);
		}
		break;
	default:
		break;
	}
}

/* A set of strings compared without case (open addressing, linear probing),
 * each with the index it was first seen at. The strings are borrowed. */
struct strset {
	const char **key;
	uint32_t *idx;
	size_t cap; /* a power of two, at least twice the entries */
	bool exact; /* compare with case */
};

static void strset_init(struct strset *set, uint32_t n, bool exact)
{
	*set = (struct strset){.cap = 4, .exact = exact};
	while (set->cap < 2 * (size_t)n)
		set->cap *= 2;
	set->key = dk_calloc(set->cap, sizeof *set->key);
	set->idx = dk_calloc(set->cap, sizeof *set->idx);
}

static void strset_free(struct strset *set)
{
	free(set->key);
	free(set->idx);
}

static uint64_t hash_str(const char *s, bool exact)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= exact ? (unsigned char)*s : (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ull;
	}
	return h;
}

/* The index s was first added with, or -1 after adding it with index i. */
static int64_t strset_add(struct strset *set, const char *s, uint32_t i)
{
	size_t m = set->cap - 1;
	for (size_t k = hash_str(s, set->exact) & m;; k = (k + 1) & m) {
		if (!set->key[k]) {
			set->key[k] = s;
			set->idx[k] = i;
			return -1;
		}
		if (set->exact ? !strcmp(set->key[k], s) : !strcasecmp(set->key[k], s))
			return set->idx[k];
	}
}

/* The index s was added with, or -1. */
static int64_t strset_find(const struct strset *set, const char *s)
{
	size_t m = set->cap - 1;
	for (size_t k = hash_str(s, set->exact) & m; set->key[k]; k = (k + 1) & m)
		if (set->exact ? !strcmp(set->key[k], s) : !strcasecmp(set->key[k], s))
			return set->idx[k];
	return -1;
}

/* Duplicate check on a string key of array entries (without case): each
 * repeat names the first entry with that string. */
static void check_duplicates(struct vctx *v, const char *apath, const char *key, const char *rule)
{
	plist_t a = get(v, apath);
	uint32_t n = arr_size(a);
	if (n < 2)
		return;
	struct strset set;
	strset_init(&set, n, false);
	for (uint32_t i = 0; i < n; i++) {
		const char *si = dk_pl_str(plist_array_get_item(a, i), key);
		if (!si || !*si)
			continue;
		int64_t j = strset_add(&set, si, i);
		if (j >= 0) {
			_cleanup_free_ char *p = dk_asprintf("%s[%u]/%s", apath, i, key);
			ERR(v, p, rule, "\"%s\" is duplicated (also %s[%u])", si, apath, (uint32_t)j);
		}
	}
	strset_free(&set);
}

/* ---------------- sections ---------------- */

static void rules_acpi(struct vctx *v)
{
	plist_t add = get(v, "ACPI/Add");
	for (uint32_t i = 0; i < arr_size(add); i++) {
		_cleanup_free_ char *ep = dk_asprintf("ACPI/Add[%u]", i);
		check_file_path(v, plist_array_get_item(add, i), ep, "Path", false, ".aml", ".bin", false);
	}
	check_duplicates(v, "ACPI/Add", "Path", "acpi.duplicate");
	plist_t del = get(v, "ACPI/Delete");
	for (uint32_t i = 0; i < arr_size(del); i++) {
		plist_t e = plist_array_get_item(del, i);
		size_t n;
		if (dk_pl_data(e, "TableSignature", &n) && n != 0 && n != 4) {
			_cleanup_free_ char *p = dk_asprintf("ACPI/Delete[%u]/TableSignature", i);
			ERR(v, p, "acpi.size", "is %zu bytes (0 or 4)", n);
		}
		if (dk_pl_data(e, "OemTableId", &n) && n != 0 && n != 8) {
			_cleanup_free_ char *p = dk_asprintf("ACPI/Delete[%u]/OemTableId", i);
			ERR(v, p, "acpi.size", "is %zu bytes (0 or 8)", n);
		}
	}
	plist_t pat = get(v, "ACPI/Patch");
	for (uint32_t i = 0; i < arr_size(pat); i++) {
		_cleanup_free_ char *ep = dk_asprintf("ACPI/Patch[%u]", i);
		check_patch(v, plist_array_get_item(pat, i), ep, false);
	}
}

static void rules_booter(struct vctx *v)
{
	plist_t q = get(v, "Booter/Quirks");
	plist_t mmio = get(v, "Booter/MmioWhitelist");
	for (uint32_t i = 0; i < arr_size(mmio); i++)
		if (entry_enabled(plist_array_get_item(mmio, i)) && !dk_pl_bool(q, "DevirtualiseMmio", false)) {
			_cleanup_free_ char *p = dk_asprintf("Booter/MmioWhitelist[%u]", i);
			ERR(v, p, "booter.dependency", "is enabled, but Booter/Quirks/DevirtualiseMmio is not");
		}
	plist_t pat = get(v, "Booter/Patch");
	for (uint32_t i = 0; i < arr_size(pat); i++) {
		plist_t e = plist_array_get_item(pat, i);
		_cleanup_free_ char *ep = dk_asprintf("Booter/Patch[%u]", i);
		check_enum(v, e, ep, "Arch", arch_set);
		check_patch(v, e, ep, false);
	}
	if (!q)
		return;
	bool slide = dk_pl_bool(q, "ProvideCustomSlide", false);
	const char *need_slide[] = {"AllowRelocationBlock", "EnableSafeModeSlide", NULL};
	for (const char **k = need_slide; *k; k++)
		if (dk_pl_bool(q, *k, false) && !slide) {
			_cleanup_free_ char *p = dk_asprintf("Booter/Quirks/%s", *k);
			ERR(v, p, "booter.dependency", "is enabled, but ProvideCustomSlide is not");
		}
	if (dk_pl_int(q, "ProvideMaxSlide", 0) > 0 && !slide)
		ERR(v, "Booter/Quirks/ProvideMaxSlide", "booter.dependency", "is set, but ProvideCustomSlide is not enabled");
	bool rt = driver_index(v, "OpenRuntime.efi") >= 0;
	const char *need_rt[] = {"DisableVariableWrite", "EnableWriteUnprotector", "ProvideCustomSlide", "ClearTaskSwitchBit", NULL};
	for (const char **k = need_rt; *k; k++)
		if (dk_pl_bool(q, *k, false) && !rt) {
			_cleanup_free_ char *p = dk_asprintf("Booter/Quirks/%s", *k);
			ERR(v, p, "booter.openruntime", "is enabled, but OpenRuntime.efi is not loaded at UEFI/Drivers");
		}
	if (dk_pl_bool(q, "EnableWriteUnprotector", false) && dk_pl_bool(q, "RebuildAppleMemoryMap", false) &&
	    dk_pl_bool(q, "SyncRuntimePermissions", false))
		ERR(v, "Booter/Quirks/EnableWriteUnprotector", "booter.conflict",
		    "is enabled together with RebuildAppleMemoryMap and SyncRuntimePermissions (use only the latter two)");
	int64_t bars = dk_pl_int(q, "ResizeAppleGpuBars", -1);
	if (bars != 0 && bars != -1)
		ERR(v, "Booter/Quirks/ResizeAppleGpuBars", "range", "%" PRId64 " is not 0 or -1", bars);
}

static void rules_devprops(struct vctx *v)
{
	const char *secs[] = {"DeviceProperties/Add", "DeviceProperties/Delete", NULL};
	for (const char **s = secs; *s; s++) {
		plist_t d = get(v, *s);
		if (!dk_pl_is(d, PLIST_DICT))
			continue;
		_cleanup_(dk_pl_iter_end) struct dk_pl_iter it = {.dict = d};
		while (dk_pl_next(&it)) {
			if (!is_comment_key(it.key) && !devpath_ok(it.key)) {
				_cleanup_free_ char *p = dk_asprintf("%s/%s", *s, it.key);
				ERR(v, p, "deviceproperties.path", "is not a device path (e.g. PciRoot(0x0)/Pci(0x1b,0x0))");
			}
		}
	}
}

/* The order and kext rules of enabled Kernel/Add[i] (bp). */
static void kernel_add_entry(struct vctx *v, plist_t e, uint32_t i, const char *ep, const char *bp,
			     const struct strset *paths, const struct strset *names, plist_t q)
{
	char name[256];
	bundle_name(bp, name, sizeof name);
	if (!strcmp(name, "BrcmFirmwareRepo")) {
		_cleanup_free_ char *p = dk_asprintf("%s/BundlePath", ep);
		ERR(v, p, "kernel.forbidden", "BrcmFirmwareRepo.kext cannot be injected by OpenCore (use BrcmFirmwareData)");
	}
	const struct dk_oc_known_kext *kk = dk_oc_known_kext_find(name);
	if (kk) {
		const char *exe = dk_pl_str(e, "ExecutablePath");
		if (exe && kk->executable && strcmp(exe, kk->executable) != 0) {
			_cleanup_free_ char *p = dk_asprintf("%s/ExecutablePath", ep);
			ERR(v, p, "kernel.known-kext", "%s.kext needs ExecutablePath \"%s\", not \"%s\"", name,
			    kk->executable, exe);
		}
		if (kk->parent) {
			int pi = (int)strset_find(names, kk->parent);
			if (pi < 0 || pi > (int)i) {
				_cleanup_free_ char *p = dk_asprintf("%s/BundlePath", ep);
				ERR(v, p, "kernel.plugin-order", "%s.kext is a plugin of %s.kext, which is %s", name,
				    kk->parent, pi < 0 ? "missing (or disabled)" : "placed after it");
			}
		}
	}
	/* plugins inside a bundle: the containing bundle first */
	const char *pl = strstr(bp, "/Contents/PlugIns/");
	if (pl) {
		_cleanup_free_ char *parent = dk_strndup(bp, (size_t)(pl - bp));
		int found = (int)strset_find(paths, parent);
		if (found < 0 || found > (int)i) {
			_cleanup_free_ char *p = dk_asprintf("%s/BundlePath", ep);
			ERR(v, p, "kernel.plugin-order", "plugin of %s, which is %s", parent,
			    found < 0 ? "missing (or disabled)" : "placed after it");
		}
	}
	if (!strcmp(name, "Lilu") && q && !dk_pl_bool(q, "DisableLinkeditJettison", false))
		ERR(v, "Kernel/Quirks/DisableLinkeditJettison", "kernel.lilu",
		    "Lilu.kext is loaded at %s, but DisableLinkeditJettison is not enabled", ep);
}

static void rules_kernel_add(struct vctx *v)
{
	plist_t add = get(v, "Kernel/Add");
	plist_t q = get(v, "Kernel/Quirks");
	uint32_t n = arr_size(add);
	/* the first enabled entry of each BundlePath and of each kext name */
	struct strset paths, names;
	strset_init(&paths, n, true);
	strset_init(&names, n, true);
	char **namev = dk_calloc((size_t)n + 1, sizeof *namev);
	for (uint32_t i = 0; i < n; i++) {
		plist_t e = plist_array_get_item(add, i);
		const char *bp = dk_pl_str(e, "BundlePath");
		if (!bp || !entry_enabled(e))
			continue;
		char buf[256];
		namev[i] = dk_strdup(bundle_name(bp, buf, sizeof buf));
		strset_add(&paths, bp, i);
		strset_add(&names, namev[i], i);
	}
	for (uint32_t i = 0; i < n; i++) {
		plist_t e = plist_array_get_item(add, i);
		_cleanup_free_ char *ep = dk_asprintf("Kernel/Add[%u]", i);
		check_file_path(v, e, ep, "BundlePath", false, ".kext", NULL, false);
		check_file_path(v, e, ep, "PlistPath", false, ".plist", NULL, false);
		check_file_path(v, e, ep, "ExecutablePath", false, NULL, NULL, true);
		check_enum(v, e, ep, "Arch", arch_set);
		check_kernel_versions(v, e, ep);
		const char *bp = dk_pl_str(e, "BundlePath");
		if (bp && entry_enabled(e))
			kernel_add_entry(v, e, i, ep, bp, &paths, &names, q);
	}
	strset_free(&paths);
	strset_free(&names);
	for (uint32_t i = 0; i < n; i++)
		free(namev[i]);
	free(namev);
	check_duplicates(v, "Kernel/Add", "BundlePath", "kernel.duplicate");
	/* the DarwinKVM guide's kext rules */
	int noot = kext_index(v, "NootRX"), weg = kext_index(v, "WhateverGreen");
	if (noot >= 0 && weg >= 0) {
		_cleanup_free_ char *p = dk_asprintf("Kernel/Add[%d]/BundlePath", noot);
		ERR(v, p, "kernel.conflict", "NootRX.kext must not be used together with WhateverGreen.kext (Kernel/Add[%d])", weg);
	}
	int vsmc = kext_index(v, "VirtualSMC");
	if (vsmc >= 0) {
		_cleanup_free_ char *p = dk_asprintf("Kernel/Add[%d]/BundlePath", vsmc);
		WARN(v, p, "kernel.vm", "VirtualSMC.kext is not needed in a QEMU VM: isa-applesmc provides the SMC");
	}
}

static void rules_kernel(struct vctx *v)
{
	plist_t q = get(v, "Kernel/Quirks");
	rules_kernel_add(v);
	plist_t blk = get(v, "Kernel/Block");
	static const char *const strategies[] = {"Disable", "Exclude", NULL};
	for (uint32_t i = 0; i < arr_size(blk); i++) {
		plist_t e = plist_array_get_item(blk, i);
		_cleanup_free_ char *ep = dk_asprintf("Kernel/Block[%u]", i);
		check_enum(v, e, ep, "Arch", arch_set);
		check_enum(v, e, ep, "Strategy", strategies);
		check_kernel_versions(v, e, ep);
	}
	plist_t frc = get(v, "Kernel/Force");
	for (uint32_t i = 0; i < arr_size(frc); i++) {
		plist_t e = plist_array_get_item(frc, i);
		_cleanup_free_ char *ep = dk_asprintf("Kernel/Force[%u]", i);
		check_file_path(v, e, ep, "BundlePath", false, ".kext", NULL, false);
		check_file_path(v, e, ep, "PlistPath", false, ".plist", NULL, false);
		check_file_path(v, e, ep, "ExecutablePath", false, NULL, NULL, true);
		check_enum(v, e, ep, "Arch", arch_set);
		check_kernel_versions(v, e, ep);
	}
	check_duplicates(v, "Kernel/Force", "BundlePath", "kernel.duplicate");
	plist_t pat = get(v, "Kernel/Patch");
	for (uint32_t i = 0; i < arr_size(pat); i++) {
		_cleanup_free_ char *ep = dk_asprintf("Kernel/Patch[%u]", i);
		check_patch(v, plist_array_get_item(pat, i), ep, true);
	}
	plist_t emu = get(v, "Kernel/Emulate");
	if (emu) {
		size_t l;
		if (dk_pl_data(emu, "Cpuid1Data", &l) && l != 0 && l != 16)
			ERR(v, "Kernel/Emulate/Cpuid1Data", "kernel.size", "is %zu bytes (0 or 16)", l);
		if (dk_pl_data(emu, "Cpuid1Mask", &l) && l != 0 && l != 16)
			ERR(v, "Kernel/Emulate/Cpuid1Mask", "kernel.size", "is %zu bytes (0 or 16)", l);
		check_kernel_versions(v, emu, "Kernel/Emulate");
	}
	if (q && dk_pl_bool(q, "CustomSMBIOSGuid", false)) {
		const char *mode = dk_pl_str(get(v, "PlatformInfo"), "UpdateSMBIOSMode");
		if (!mode || strcmp(mode, "Custom") != 0)
			ERR(v, "Kernel/Quirks/CustomSMBIOSGuid", "kernel.dependency",
			    "is enabled, but PlatformInfo/UpdateSMBIOSMode is not Custom");
	}
	if (q)
		check_range(v, q, "Kernel/Quirks", "SetApfsTrimTimeout", -1, INT32_MAX);
	plist_t sch = get(v, "Kernel/Scheme");
	static const char *const karch[] = {"Auto", "i386", "i386-user32", "x86_64", NULL};
	static const char *const kcache[] = {"Auto", "Cacheless", "Mkext", "Prelinked", NULL};
	check_enum(v, sch, "Kernel/Scheme", "KernelArch", karch);
	check_enum(v, sch, "Kernel/Scheme", "KernelCache", kcache);
}

#define SCAN_FS_LOCK 0x1u
#define SCAN_DEV_LOCK 0x2u
#define SCAN_FS_BITS 0x7F00u
#define SCAN_DEV_BITS 0x1FF0000u
#define SCAN_APFS 0x100u

static void rules_misc(struct vctx *v)
{
	plist_t boot = get(v, "Misc/Boot");
	static const char *const hib[] = {"None", "Auto", "RTC", "NVRAM", NULL};
	static const char *const picker[] = {"Builtin", "External", "Apple", NULL};
	static const char *const launcher[] = {"Disabled", "Full", "Short", "System", NULL};
	check_enum(v, boot, "Misc/Boot", "HibernateMode", hib);
	check_enum(v, boot, "Misc/Boot", "PickerMode", picker);
	check_enum(v, boot, "Misc/Boot", "LauncherOption", launcher);
	check_bits(v, boot, "Misc/Boot", "PickerAttributes", 0xFF);
	check_bits(v, boot, "Misc/Boot", "ConsoleAttributes", 0x7F);
	plist_t dbg = get(v, "Misc/Debug");
	check_bits(v, dbg, "Misc/Debug", "Target", 0xFF);

	plist_t sec = get(v, "Misc/Security");
	static const char *const vault[] = {"Optional", "Basic", "Secure", NULL};
	static const char *const dmg[] = {"Disabled", "Signed", "Any", NULL};
	static const char *const sbm[] = {"Default", "Disabled", "j137", "j680", "j132", "j174", "j140k", "j140a",
					  "j152f", "j160", "j230k", "j214k", "j223", "j215", "j185", "j185f",
					  "x86legacy", NULL};
	check_enum(v, sec, "Misc/Security", "Vault", vault);
	check_enum(v, sec, "Misc/Security", "DmgLoading", dmg);
	check_enum(v, sec, "Misc/Security", "SecureBootModel", sbm);
	check_bits(v, sec, "Misc/Security", "ExposeSensitiveData", 0xF);
	const char *dl = dk_pl_str(sec, "DmgLoading"), *sb = dk_pl_str(sec, "SecureBootModel");
	if (dl && sb && !strcmp(dl, "Any") && strcmp(sb, "Disabled") != 0)
		ERR(v, "Misc/Security/DmgLoading", "misc.secureboot",
		    "is Any, which OpenCore allows only with SecureBootModel Disabled (it is %s)", sb);
	plist_t sp = sec ? plist_dict_get_item(sec, "ScanPolicy") : NULL;
	if (dk_pl_is(sp, PLIST_UINT)) {
		uint64_t x = 0;
		plist_get_uint_val(sp, &x);
		uint64_t known = SCAN_FS_LOCK | SCAN_DEV_LOCK | SCAN_FS_BITS | SCAN_DEV_BITS;
		if (x & ~known)
			ERR(v, "Misc/Security/ScanPolicy", "bits", "0x%" PRIX64 " has undocumented bits 0x%" PRIX64, x, x & ~known);
		if ((x & SCAN_FS_BITS) && !(x & SCAN_FS_LOCK))
			ERR(v, "Misc/Security/ScanPolicy", "misc.scanpolicy", "allows file systems but lacks OC_SCAN_FILE_SYSTEM_LOCK (0x1)");
		if ((x & SCAN_DEV_BITS) && !(x & SCAN_DEV_LOCK))
			ERR(v, "Misc/Security/ScanPolicy", "misc.scanpolicy", "allows devices but lacks OC_SCAN_DEVICE_LOCK (0x2)");
	}
	if (dk_pl_bool(sec, "AuthRestart", false) && kext_index(v, "VirtualSMC") < 0)
		ERR(v, "Misc/Security/AuthRestart", "misc.dependency", "is enabled, but VirtualSMC.kext is not loaded");

	plist_t tools = get(v, "Misc/Tools");
	for (uint32_t i = 0; i < arr_size(tools); i++) {
		_cleanup_free_ char *ep = dk_asprintf("Misc/Tools[%u]", i);
		check_file_path(v, plist_array_get_item(tools, i), ep, "Path", false, NULL, NULL, false);
	}
	check_duplicates(v, "Misc/Tools", "Path", "misc.duplicate");
	plist_t ent = get(v, "Misc/Entries");
	for (uint32_t i = 0; i < arr_size(ent); i++) {
		const char *p = dk_pl_str(plist_array_get_item(ent, i), "Path");
		if (p && !*p) {
			_cleanup_free_ char *pp = dk_asprintf("Misc/Entries[%u]/Path", i);
			ERR(v, pp, "path.empty", "is empty");
		}
	}
}

static void nvram_value(struct vctx *v, const char *guid, const char *key, plist_t val)
{
	_cleanup_free_ char *p = dk_asprintf("NVRAM/Add/%s/%s", guid, key);
	uint64_t len = 0;
	const char *d = dk_pl_is(val, PLIST_DATA) ? plist_get_data_ptr(val, &len) : NULL;
	if (!strcmp(key, "boot-args")) {
		if (!dk_pl_is(val, PLIST_STRING))
			ERR(v, p, "nvram.type", "must be a string");
	} else if (!strcmp(key, "csr-active-config")) {
		if (!d || len != 4)
			ERR(v, p, "nvram.size", "must be 4 bytes of data");
	} else if (!strcmp(key, "UIScale")) {
		if (!d || len != 1 || (d[0] != 1 && d[0] != 2))
			ERR(v, p, "nvram.value", "must be 1 byte of data, 01 or 02");
	} else if (!strcmp(key, "FirmwareFeatures") || !strcmp(key, "FirmwareFeaturesMask")) {
		if (!d || len != 4)
			ERR(v, p, "nvram.size", "must be 4 bytes of data");
	} else if (!strcmp(key, "ExtendedFirmwareFeatures") || !strcmp(key, "ExtendedFirmwareFeaturesMask")) {
		if (!d || len != 8)
			ERR(v, p, "nvram.size", "must be 8 bytes of data");
	} else if (!strcmp(key, "DefaultBackgroundColor")) {
		if (!d || len != 4 || d[3] != 0)
			ERR(v, p, "nvram.value", "must be 4 bytes of data ending in 00");
	} else if (!strcmp(key, "nvda_drv")) {
		if (!d || len != 1 || (d[0] != 0x30 && d[0] != 0x31))
			ERR(v, p, "nvram.value", "must be 1 byte of data, 30 or 31");
	} else if (!strcmp(key, "prev-lang:kbd")) {
		if (!d && !dk_pl_is(val, PLIST_STRING))
			ERR(v, p, "nvram.type", "must be data or a string");
	}
}

static void rules_nvram(struct vctx *v)
{
	const char *secs[] = {"NVRAM/Add", "NVRAM/Delete", "NVRAM/LegacySchema", NULL};
	for (const char **s = secs; *s; s++) {
		plist_t d = get(v, *s);
		if (!dk_pl_is(d, PLIST_DICT))
			continue;
		_cleanup_(dk_pl_iter_end) struct dk_pl_iter it = {.dict = d};
		while (dk_pl_next(&it)) {
			const char *guid = it.key;
			plist_t c = it.val;
			if (!is_comment_key(guid)) {
				_cleanup_free_ char *p = dk_asprintf("%s/%s", *s, guid);
				if (!guid_ok(guid))
					ERR(v, p, "nvram.guid", "is not a well-formed GUID");
				if (!strcmp(*s, "NVRAM/Add") && dk_pl_is(c, PLIST_DICT)) {
					_cleanup_(dk_pl_iter_end) struct dk_pl_iter vi = {.dict = c};
					while (dk_pl_next(&vi))
						if (!is_comment_key(vi.key))
							nvram_value(v, guid, vi.key, vi.val);
				}
			}
		}
	}
}

static void rules_platform(struct vctx *v)
{
	plist_t pi = get(v, "PlatformInfo");
	static const char *const modes[] = {"TryOverwrite", "Create", "Overwrite", "Custom", NULL};
	check_enum(v, pi, "PlatformInfo", "UpdateSMBIOSMode", modes);
	plist_t g = get(v, "PlatformInfo/Generic");
	if (!g)
		return;
	static const char *const mem[] = {"Auto", "Upgradable", "Soldered", NULL};
	check_enum(v, g, "PlatformInfo/Generic", "SystemMemoryStatus", mem);
	const char *uuid = dk_pl_str(g, "SystemUUID");
	if (uuid && *uuid && strcmp(uuid, "OEM") != 0 && !guid_ok(uuid))
		ERR(v, "PlatformInfo/Generic/SystemUUID", "platform.uuid", "\"%s\" is not empty, OEM or a GUID", uuid);
	size_t rl;
	if (dk_pl_data(g, "ROM", &rl) && rl != 6)
		ERR(v, "PlatformInfo/Generic/ROM", "platform.rom", "is %zu bytes (must be 6)", rl);
	bool automatic = dk_pl_bool(pi, "Automatic", false);
	const char *prod = dk_pl_str(g, "SystemProductName");
	if (automatic && prod && !dk_mac_model_find(prod))
		WARN(v, "PlatformInfo/Generic/SystemProductName", "platform.model", "\"%s\" is not in dkvm's model table", prod);
	const char *serial = dk_pl_str(g, "SystemSerialNumber");
	if (serial && *serial && strcmp(serial, "OEM") != 0) {
		size_t l = strlen(serial);
		if (l != 11 && l != 12) {
			ERR(v, "PlatformInfo/Generic/SystemSerialNumber", "platform.serial", "is %zu characters (11 or 12)", l);
		} else {
			struct dk_serial_info si;
			dk_serial_decode(serial, &si);
			if (!si.valid)
				WARN(v, "PlatformInfo/Generic/SystemSerialNumber", "platform.serial", "%s is unlikely: %s", serial,
				     si.reason);
			else if (prod && si.model && strcasecmp(si.model->name, prod) != 0)
				WARN(v, "PlatformInfo/Generic/SystemSerialNumber", "platform.serial",
				     "%s decodes as %s, not %s", serial, si.model->name, prod);
		}
	}
	const char *mlb = dk_pl_str(g, "MLB");
	if (mlb && *mlb && strcmp(mlb, "OEM") != 0) {
		struct dk_mlb_info mi;
		dk_mlb_check(mlb, &mi);
		if (mi.length != 13 && mi.length != 17)
			ERR(v, "PlatformInfo/Generic/MLB", "platform.mlb", "is %d characters (13 or 17)", mi.length);
		else if (!mi.checksum_ok)
			WARN(v, "PlatformInfo/Generic/MLB", "platform.mlb", "%s: base34 checksum does not match", mlb);
	}
}

static bool resolution_ok(const char *s)
{
	if (!*s || !strcmp(s, "Max"))
		return true;
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != 'x' || !isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '@') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == 0;
}

static void rules_uefi(struct vctx *v)
{
	plist_t drv = get(v, "UEFI/Drivers");
	uint32_t n = arr_size(drv);
	int ovrd = driver_index(v, "OpenVariableRuntimeDxe.efi"), ort = driver_index(v, "OpenRuntime.efi");
	for (uint32_t i = 0; i < n; i++) {
		plist_t e = plist_array_get_item(drv, i);
		_cleanup_free_ char *ep = dk_asprintf("UEFI/Drivers[%u]", i);
		check_file_path(v, e, ep, "Path", true, ".efi", NULL, false);
		if (!entry_enabled(e))
			continue;
		const char *p = dk_pl_str(e, "Path");
		if (!p)
			continue;
		const char *base = dk_oc_basename(p);
		bool early = dk_pl_bool(e, "LoadEarly", false);
		bool want_early = !strcasecmp(base, "OpenVariableRuntimeDxe.efi") ||
				  (ovrd >= 0 && !strcasecmp(base, "OpenRuntime.efi"));
		if (early != want_early) {
			_cleanup_free_ char *pp = dk_asprintf("%s/LoadEarly", ep);
			ERR(v, pp, "uefi.loadearly", "%s must have LoadEarly %s", base, want_early ? "true" : "false");
		}
	}
	if (ovrd >= 0 && ort >= 0 && ovrd > ort)
		ERR(v, "UEFI/Drivers", "uefi.order", "OpenVariableRuntimeDxe.efi must be placed before OpenRuntime.efi");
	check_duplicates(v, "UEFI/Drivers", "Path", "uefi.duplicate");

	plist_t uefi = get(v, "UEFI");
	bool connect = dk_pl_bool(uefi, "ConnectDrivers", false);
	const char *need_connect[] = {"HfsPlus.efi", "OpenHfsPlus.efi", "HfsPlusLegacy.efi", "AudioDxe.efi", NULL};
	for (const char **d = need_connect; *d; d++)
		if (driver_index(v, *d) >= 0 && !connect)
			ERR(v, "UEFI/ConnectDrivers", "uefi.dependency", "%s is loaded, but ConnectDrivers is not enabled", *d);
	if ((driver_index(v, "HfsPlus.efi") >= 0 || driver_index(v, "OpenHfsPlus.efi") >= 0) &&
	    driver_index(v, "HfsPlusLegacy.efi") >= 0)
		ERR(v, "UEFI/Drivers", "uefi.hfs-mix", "HfsPlusLegacy.efi must not be mixed with HfsPlus.efi / OpenHfsPlus.efi");
	const char *pm = dk_pl_str(get(v, "Misc/Boot"), "PickerMode");
	if (driver_index(v, "OpenCanopy.efi") >= 0 && pm && strcmp(pm, "External") != 0)
		ERR(v, "Misc/Boot/PickerMode", "uefi.dependency", "OpenCanopy.efi is loaded, but PickerMode is %s, not External", pm);
	/* External without an external picker: OpenCore uses its builtin one */
	if (pm && !strcmp(pm, "External") && driver_index(v, "OpenCanopy.efi") < 0)
		WARN(v, "Misc/Boot/PickerMode", "misc.picker-external",
		     "PickerMode is External, but OpenCanopy.efi is not loaded (UEFI/Drivers): OpenCore falls back to the "
		     "builtin picker");
	plist_t in = get(v, "UEFI/Input");
	bool keysup = dk_pl_bool(in, "KeySupport", false);
	if (driver_index(v, "OpenUsbKbDxe.efi") >= 0 && keysup)
		ERR(v, "UEFI/Input/KeySupport", "uefi.conflict", "OpenUsbKbDxe.efi is loaded, KeySupport must be disabled");
	if (driver_index(v, "Ps2KeyboardDxe.efi") >= 0 && !keysup)
		ERR(v, "UEFI/Input/KeySupport", "uefi.dependency", "Ps2KeyboardDxe.efi is loaded, KeySupport must be enabled");

	plist_t apfs = get(v, "UEFI/APFS");
	if (dk_pl_bool(apfs, "EnableJumpstart", false)) {
		int64_t sp = dk_pl_int(get(v, "Misc/Security"), "ScanPolicy", 0);
		if (sp != 0 && !(sp & SCAN_APFS))
			ERR(v, "UEFI/APFS/EnableJumpstart", "uefi.dependency", "is enabled, but ScanPolicy does not allow APFS");
	}
	plist_t out = get(v, "UEFI/Output");
	const char *res = dk_pl_str(out, "Resolution");
	if (res && !resolution_ok(res))
		ERR(v, "UEFI/Output/Resolution", "uefi.resolution", "\"%s\" is not WxH, WxH@BPP, Max or empty", res);
	const char *cm = dk_pl_str(out, "ConsoleMode");
	if (cm && !resolution_ok(cm))
		ERR(v, "UEFI/Output/ConsoleMode", "uefi.resolution", "\"%s\" is not WxH, Max or empty", cm);
	check_range(v, out, "UEFI/Output", "UIScale", -1, 2);
	static const char *const gop[] = {"Disabled", "Enabled", "Apple", NULL};
	check_enum(v, out, "UEFI/Output", "GopPassThrough", gop);
	check_range(v, get(v, "UEFI/Quirks"), "UEFI/Quirks", "ResizeGpuBars", -1, 19);
	plist_t rm = get(v, "UEFI/ReservedMemory");
	static const char *const types[] = {"Reserved", "LoaderCode", "LoaderData", "BootServiceCode",
					    "BootServiceData", "RuntimeCode", "RuntimeData", "Available",
					    "Persistent", "UnusableMemory", "ACPIReclaimMemory", "ACPIMemoryNVS",
					    "MemoryMappedIO", "MemoryMappedIOPortSpace", "PalCode", NULL};
	for (uint32_t i = 0; i < arr_size(rm); i++) {
		_cleanup_free_ char *ep = dk_asprintf("UEFI/ReservedMemory[%u]", i);
		check_enum(v, plist_array_get_item(rm, i), ep, "Type", types);
	}
}

/* ---------------- EFI tree ---------------- */

static int efi_kext_info(struct vctx *v, const char *bundle_rel, struct dk_kext *k)
{
	_cleanup_free_ char *full = dk_asprintf("%s/%s", v->oc_dir, bundle_rel);
	if (!v->vol)
		return dk_kext_read_info(full, k);
	_cleanup_free_ char *info = dk_asprintf("%s/Contents/Info.plist", full);
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (dk_fat_read(v->vol, info, &data, &len, 4u << 20) < 0)
		return -1;
	plist_t p;
	if (dk_pl_parse(data, len, info, &p) < 0)
		return -1;
	if (!dk_pl_is(p, PLIST_DICT)) {
		plist_free(p);
		return dk_fail("%s: not a valid property list", info);
	}
	int r = dk_kext_parse_info(p, info, k);
	plist_free(p);
	return r;
}

/* The files and folders of a FAT volume's dir, as prefix/<relative path>. */
static int fat_walk(struct dk_fat_vol *vol, const char *dir, const char *prefix, struct dk_efi_given *g, int depth)
{
	struct dk_fat_dirent *e;
	size_t n;
	if (depth > 32 || dk_fat_list(vol, dir, &e, &n) < 0)
		return depth > 32 ? 0 : -1;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *full = dk_asprintf("%s/%s", dir, e[i].name);
		_cleanup_free_ char *rel = dk_asprintf("%s/%s", prefix, e[i].name);
		dk_efi_given_add(g, rel, e[i].is_dir, DK_EFI_TREE, -1, NULL);
		if (e[i].is_dir)
			r = fat_walk(vol, full, rel, g, depth + 1);
	}
	dk_fat_dirents_free(e, n);
	return r;
}

/* The tree's EFI/OC as items "OC/...": absent or unreadable parts are missing. */
static void efi_list(struct vctx *v, struct dk_efi_given *g)
{
	int r = v->vol ? fat_walk(v->vol, v->oc_dir, "OC", g, 0)
		       : dk_efi_given_host(g, v->oc_dir, "OC", DK_EFI_TREE, -1, NULL);
	if (r < 0)
		dk_errclear();
}

/* What the plan reports that the schema and path rules report already. */
static bool covered_elsewhere(const char *rule)
{
	return !strcmp(rule, "efi.no-path") || !strcmp(rule, "efi.not-array");
}

/* Info.plist of each kext found: ExecutablePath as it says, dependencies first. */
static void efi_kexts(struct vctx *v, const struct dk_efi_tree *t)
{
	plist_t a = get(v, "Kernel/Add");
	uint32_t n = t->nbundles;
	struct dk_kext *info = dk_calloc((size_t)n + 1, sizeof *info);
	bool *ok = dk_calloc((size_t)n + 1, sizeof *ok);
	for (uint32_t i = 0; i < n; i++) {
		if (!t->bundles[i])
			continue;
		if (efi_kext_info(v, t->bundles[i], &info[i]) < 0) {
			_cleanup_free_ char *pp = dk_asprintf("Kernel/Add[%u]/PlistPath", i);
			ERR(v, pp, "efi.kext-info", "%s", dk_errmsg());
			continue;
		}
		ok[i] = true;
		const char *exe = dk_pl_str(plist_array_get_item(a, i), "ExecutablePath");
		const char *want = info[i].executable;
		if (exe && strcmp(exe, want) != 0) {
			_cleanup_free_ char *pp = dk_asprintf("Kernel/Add[%u]/ExecutablePath", i);
			ERR(v, pp, "efi.kext-executable", "is \"%s\", but the kext's Info.plist says \"%s\"", exe,
			    want[0] ? want : "(no executable)");
		}
	}
	for (uint32_t i = 0; i < n; i++)
		for (int d = 0; ok[i] && d < info[i].ndeps; d++)
			for (uint32_t j = i + 1; j < n; j++)
				if (ok[j] && !strcmp(info[j].identifier, info[i].deps[d])) {
					_cleanup_free_ char *pp = dk_asprintf("Kernel/Add[%u]/BundlePath", i);
					ERR(v, pp, "kernel.dependency-order", "depends on %s (Kernel/Add[%u]), which is placed after it",
					    info[i].deps[d], j);
				}
	for (uint32_t i = 0; i < n; i++) {
		free(info[i].identifier);
		free(info[i].executable);
		free(info[i].version);
		for (int d = 0; d < info[i].ndeps; d++)
			free(info[i].deps[d]);
		free(info[i].deps);
	}
	free(info);
	free(ok);
}

/* A folder of the tree ("OC/Resources/Font"): listed, or holding items. */
static bool tree_has_dir(const struct dk_efi_given *g, const char *dir)
{
	size_t l = strlen(dir);
	for (size_t i = 0; i < g->n; i++)
		if (!strncasecmp(g->v[i].path, dir, l) &&
		    (g->v[i].path[l] == '/' || (!g->v[i].path[l] && g->v[i].is_dir)))
			return true;
	return false;
}

/* PickerMode External with OpenCanopy.efi: OpenCanopy draws from
 * EFI/OC/Resources -- the variant's images (Acidanthera\GoldenGate:
 * Resources/Image/Acidanthera/GoldenGate; Auto: Resources/Image/Acidanthera;
 * an old-style name: Resources/Image), Font and Label. Without them it cannot
 * start and OpenCore falls back to the builtin picker (boots, so a warning). */
static void efi_picker(struct vctx *v, const struct dk_efi_given *g)
{
	plist_t boot = get(v, "Misc/Boot");
	const char *pm = dk_pl_str(boot, "PickerMode");
	if (!pm || strcmp(pm, "External") != 0 || driver_index(v, "OpenCanopy.efi") < 0)
		return;
	const char *var = dk_pl_str(boot, "PickerVariant");
	char img[128] = "Image";
	if (!var || !*var || !strcmp(var, "Auto"))
		snprintf(img, sizeof img, "Image/Acidanthera");
	else if (strchr(var, '\\')) {
		if (strlen(var) > 100 || strchr(var, '/') || strstr(var, ".."))
			return; /* not a folder name: the schema's business */
		snprintf(img, sizeof img, "Image/%s", var);
		for (char *c = img; *c; c++)
			if (*c == '\\')
				*c = '/';
	}
	const char *need[] = {img, "Font", "Label"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(need); i++) {
		_cleanup_free_ char *dir = dk_asprintf("OC/Resources/%s", need[i]);
		if (!tree_has_dir(g, dir))
			WARN(v, "Misc/Boot/PickerMode", "efi.picker-resources",
			     "PickerMode is External with OpenCanopy.efi, but %s has no Resources/%s%s%s%s: OpenCanopy "
			     "cannot start and OpenCore falls back to the builtin picker",
			     v->oc_dir ? v->oc_dir : "the EFI tree", need[i], i ? "" : " (PickerVariant ",
			     i ? "" : var ? var : "Auto", i ? "" : ")");
	}
}

/* The EFI tree rule (dk_efi_tree_plan) on the tree, then the kexts' Info.plist. */
static void rules_efi(struct vctx *v)
{
	struct dk_efi_given g = {.tree = v->oc_dir, .fold_case = v->vol != NULL};
	efi_list(v, &g);
	struct dk_oc_findings f = {0};
	struct dk_efi_tree t;
	dk_efi_tree_plan(v->cfg, &g, &t, &f);
	for (int i = 0; i < f.n; i++)
		if (!covered_elsewhere(f.v[i].rule))
			finding(v, f.v[i].severity, f.v[i].path, f.v[i].rule, "%s", f.v[i].message);
	dk_oc_findings_free(&f);
	efi_kexts(v, &t);
	efi_picker(v, &g);
	dk_efi_tree_free(&t);
	dk_efi_given_free(&g);
}

/* ---------------- entry points ---------------- */

static int run(plist_t cfg, plist_t sample, const char *efi_dir, struct dk_fat_vol *vol, struct dk_oc_findings *out)
{
	struct vctx v = {.cfg = cfg, .sample = sample, .f = out, .vol = vol};
	_cleanup_free_ char *oc = NULL;
	if (vol) {
		v.oc_dir = "EFI/OC";
	} else if (efi_dir) {
		_cleanup_free_ char *a = dk_asprintf("%s/OC", efi_dir);
		_cleanup_free_ char *b = dk_asprintf("%s/EFI/OC", efi_dir);
		if (dk_oc_is_dir(a))
			oc = DK_TAKE_PTR(a);
		else if (dk_oc_is_dir(b))
			oc = DK_TAKE_PTR(b);
		else if (dk_oc_is_dir(efi_dir))
			oc = dk_strdup(efi_dir);
		else if (!dk_path_exists(efi_dir))
			return dk_fail_errno("%s", efi_dir);
		else
			return dk_fail("%s: not a directory", efi_dir);
		v.oc_dir = oc;
	}
	if (sample)
		schema_node(&v, cfg, sample, "");
	walk_strings(&v, cfg, "", 0);
	rules_acpi(&v);
	rules_booter(&v);
	rules_devprops(&v);
	rules_kernel(&v);
	rules_misc(&v);
	rules_nvram(&v);
	rules_platform(&v);
	rules_uefi(&v);
	if (v.oc_dir)
		rules_efi(&v);
	return 0;
}

int dk_oc_validate_xml(const char *config_xml, uint32_t config_len, const char *sample_xml, uint32_t sample_len,
		       const char *efi_dir, struct dk_oc_findings *out)
{
	memset(out, 0, sizeof *out);
	plist_t cfg = NULL;
	if (dk_pl_parse(config_xml, config_len, "config", &cfg) < 0)
		return -1;
	if (!dk_pl_is(cfg, PLIST_DICT)) {
		if (cfg)
			plist_free(cfg);
		return dk_fail("config: not a valid property list with a dictionary root");
	}
	plist_t smp = NULL;
	if (sample_xml) {
		if (dk_pl_parse(sample_xml, sample_len, "sample", &smp) < 0) {
			plist_free(cfg);
			return -1;
		}
		if (!dk_pl_is(smp, PLIST_DICT)) {
			if (smp)
				plist_free(smp);
			plist_free(cfg);
			return dk_fail("sample: not a valid property list with a dictionary root");
		}
	}
	int r = run(cfg, smp, efi_dir, NULL, out);
	plist_free(cfg);
	if (smp)
		plist_free(smp);
	return r;
}

int dk_oc_validate(const struct dk_oc_validate_opts *o, struct dk_oc_findings *out)
{
	memset(out, 0, sizeof *out);
	if (!o || (!o->config_path && !o->image))
		return dk_fail("opencore validate: a config.plist is required");
	struct dk_fat_vol *vol = NULL;
	plist_t cfg = NULL, smp = NULL;
	int r = -1;
	if (o->image && dk_fat_open(o->image, &vol) < 0)
		return -1;
	if (o->config_path) {
		if (dk_pl_load(o->config_path, &cfg) < 0)
			goto out;
	} else {
		_cleanup_free_ char *data = NULL;
		size_t len;
		if (dk_fat_read(vol, "EFI/OC/config.plist", &data, &len, 64u << 20) < 0) {
			dk_fail_prefix("%s", o->image);
			goto out;
		}
		_cleanup_free_ char *what = dk_asprintf("%s: EFI/OC/config.plist", o->image);
		if (dk_pl_parse(data, len, what, &cfg) < 0)
			goto out;
		if (!dk_pl_is(cfg, PLIST_DICT)) {
			dk_fail("%s: EFI/OC/config.plist: not a valid property list with a dictionary root", o->image);
			goto out;
		}
	}
	if (o->sample_path && dk_pl_load(o->sample_path, &smp) < 0)
		goto out;
	r = run(cfg, smp, o->efi_dir, vol, out);
out:
	if (cfg)
		plist_free(cfg);
	if (smp)
		plist_free(smp);
	if (vol)
		dk_fat_close(vol);
	return r;
}
