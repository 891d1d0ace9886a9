/* dk_oc_image_build(): an OpenCorePkg release + config.plist + kexts + SSDTs
 * (+ recoveryOS) -> a GPT disk image with a FAT32 ESP, built in userspace. */
#include "opencore/opencore.h"
#include "opencore/release.h"
#include "opencore/oc_internal.h"
#include "image/disk.h"
#include "image/fat32.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strv.h"
#include "util/plist.h"

#include <libgen.h>
#include <plist/plist.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX (16u << 20)

void dk_oc_image_result_free(struct dk_oc_image_result *r)
{
	if (!r)
		return;
	dk_strv_free(r->drivers);
	dk_strv_free(r->tools);
	dk_strv_free(r->kexts);
	dk_strv_free(r->acpi);
	r->drivers = r->tools = r->kexts = r->acpi = NULL;
}

static const char *base_name(const char *p)
{
	size_t l = strlen(p);
	while (l > 1 && p[l - 1] == '/')
		l--;
	const char *b = p + l;
	while (b > p && b[-1] != '/')
		b--;
	return b;
}

/* basename without trailing slashes, malloc'd */
static char *base_dup(const char *p)
{
	const char *b = base_name(p);
	size_t l = strlen(b);
	while (l > 1 && b[l - 1] == '/')
		l--;
	return dk_strndup(b, l);
}

/* A string node's value, malloc'd; NULL unless a string. */
static char *str_of(plist_t n)
{
	const char *v = dk_pl_is(n, PLIST_STRING) ? plist_get_string_ptr(n, NULL) : NULL;
	return v ? dk_strdup(v) : NULL;
}

/* A config path must stay inside its folder. */
static bool path_ok(const char *p)
{
	if (!p || !*p || p[0] == '/' || strchr(p, '\\'))
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');
		if (e == s || (e - s == 2 && !strncmp(s, "..", 2)) || (e - s == 1 && *s == '.'))
			return false;
		s = *e ? e + 1 : e;
	}
	return true;
}

/* Entries of an array under root/sect/key that are enabled: calls fn(path, entry). */
struct entry {
	char *path;
	plist_t dict;
};

static int enabled_entries(plist_t root, const char *sect, const char *key, const char *field, const char *cfg,
			   struct entry **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	plist_t arr = dk_pl_get(dk_pl_get(root, sect), key);
	if (!arr)
		return 0;
	if (plist_get_node_type(arr) != PLIST_ARRAY)
		return dk_fail("%s: %s/%s is not an array", cfg, sect, key);
	uint32_t n = plist_array_get_size(arr);
	struct entry *v = dk_calloc(n ? n : 1, sizeof *v);
	size_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		plist_t it = plist_array_get_item(arr, i);
		char *path = NULL;
		if (plist_get_node_type(it) == PLIST_STRING) {
			/* old-style driver list: a leading '#' disables */
			path = str_of(it);
			if (path && path[0] == '#') {
				free(path);
				continue;
			}
		} else if (plist_get_node_type(it) == PLIST_DICT) {
			if (!dk_pl_bool(it, "Enabled", false))
				continue;
			path = str_of(dk_pl_get(it, field));
		}
		if (!path || !path_ok(path)) {
			dk_fail("%s: %s/%s[%u]: %s '%s' is missing or not a relative path", cfg, sect, key, i, field,
				path ? path : "");
			free(path);
			for (size_t j = 0; j < k; j++)
				free(v[j].path);
			free(v);
			return -1;
		}
		v[k].path = path;
		v[k].dict = it;
		k++;
	}
	*out = v;
	*nout = k;
	return 0;
}

static void entries_free(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

static int add_release_file(struct dk_fat_builder *b, struct dk_oc_release *r, const char *rel, const char *dest)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (dk_oc_release_read(r, rel, &data, &len) < 0)
		return -1;
	return dk_fat_add_data(b, dest, data, len);
}

/* Why path cannot be used as a regular file (want_dir: as a directory):
 * "No such file or directory" and the like, or the wrong kind. */
static int fail_kind(const char *path, bool want_dir)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return dk_fail_errno("%s", path);
	return dk_fail("%s: not a %s", path, want_dir ? "directory" : "regular file");
}

/* A kext to install: a host .kext folder, or a bundle inside a release zip. */
struct kext_src {
	char *name;                /* "Lilu.kext" */
	const char *dir;           /* host folder, or NULL */
	struct dk_oc_release *zip; /* borrowed */
	char *zpath;               /* the bundle's path inside the zip */
	const char *given;         /* the argument, for messages */
	bool used;
};

struct kexts {
	struct kext_src *v;
	size_t n;
	struct dk_oc_release **zips;
	size_t nzips;
};

static void kexts_free(struct kexts *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].name);
		free(k->v[i].zpath);
	}
	free(k->v);
	for (size_t i = 0; i < k->nzips; i++)
		dk_oc_release_close(k->zips[i]);
	free(k->zips);
}

static struct kext_src *kext_find(struct kexts *k, const char *name)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->v[i].name, name))
			return &k->v[i];
	return NULL;
}

static bool kext_has(const struct kext_src *ks, const char *rel)
{
	if (ks->dir) {
		_cleanup_free_ char *f = dk_asprintf("%s/%s", ks->dir, rel);
		return dk_oc_is_file(f);
	}
	_cleanup_free_ char *f = dk_asprintf("%s/%s", ks->zpath, rel);
	return dk_oc_release_has(ks->zip, f);
}

static int kext_add(struct kexts *k, const char *name, const char *given)
{
	if (kext_find(k, name))
		return dk_fail("%s: a kext named %s is given twice", given, name);
	k->v = dk_realloc(k->v, (k->n + 1) * sizeof *k->v);
	k->v[k->n] = (struct kext_src){.name = dk_strdup(name), .given = given};
	k->n++;
	return 0;
}

/* Collect the --kext arguments: .kext folders and kext release zips. */
static int collect_kexts(const struct dk_oc_image_opts *o, struct kexts *k)
{
	for (size_t i = 0; o->kexts && o->kexts[i]; i++) {
		const char *arg = o->kexts[i];
		_cleanup_free_ char *bn = base_dup(arg);
		if (dk_oc_is_dir(arg)) {
			_cleanup_free_ char *info = dk_asprintf("%s/Contents/Info.plist", arg);
			if (!dk_endswith(bn, ".kext"))
				return dk_fail("%s: a kext folder's name must end in .kext", arg);
			if (!dk_oc_is_file(info))
				return dk_fail("%s: missing Contents/Info.plist (not a kext)", arg);
			if (dk_kext_check_links(arg) < 0)
				return -1;
			if (kext_add(k, bn, arg) < 0)
				return -1;
			k->v[k->n - 1].dir = arg;
			continue;
		}
		if (!dk_oc_is_file(arg))
			return dk_fail("%s: no such kext folder or zip", arg);
		struct dk_oc_release *z;
		if (dk_oc_release_open(arg, &z) < 0)
			return -1;
		k->zips = dk_realloc(k->zips, (k->nzips + 1) * sizeof *k->zips);
		k->zips[k->nzips++] = z;
		char **paths;
		size_t np;
		dk_oc_release_kexts(z, &paths, &np);
		int r = np ? 0 : dk_fail("%s: no .kext bundle in the zip", arg);
		for (size_t j = 0; r == 0 && j < np; j++) {
			_cleanup_free_ char *nm = base_dup(paths[j]);
			_cleanup_free_ char *info = dk_asprintf("%s/Contents/Info.plist", paths[j]);
			if (!dk_oc_release_has(z, info))
				r = dk_fail("%s: %s: missing Contents/Info.plist (not a kext)", arg, paths[j]);
			else if (kext_add(k, nm, arg) == 0) {
				k->v[k->n - 1].zip = z;
				k->v[k->n - 1].zpath = dk_strdup(paths[j]);
			} else
				r = -1;
		}
		dk_oc_release_names_free(paths, np);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* The whole tree into b; records what was copied into res. */
static int assemble(const struct dk_oc_image_opts *o, struct dk_fat_builder *b, struct dk_oc_release *rel,
		    plist_t root, struct dk_strv *drivers, struct dk_strv *tools, struct dk_strv *kexts,
		    struct dk_strv *acpis)
{
	const char *rp = dk_oc_release_path(rel);
	const char *cfg = o->config;
	if (!dk_oc_release_has(rel, "X64/EFI/OC/OpenCore.efi"))
		return dk_fail("%s: not an OpenCorePkg release: no X64/EFI/OC/OpenCore.efi", rp);
	if (!dk_oc_release_has(rel, "X64/EFI/BOOT/BOOTx64.efi"))
		return dk_fail("%s: not an OpenCorePkg release: no X64/EFI/BOOT/BOOTx64.efi", rp);

	/* given kexts and SSDTs */
	struct dk_strv acpi_names = {0};
	struct kexts ks = {0};
	int r = collect_kexts(o, &ks);
	for (size_t i = 0; r == 0 && o->acpi && o->acpi[i]; i++) {
		_cleanup_free_ char *bn = base_dup(o->acpi[i]);
		if (!dk_oc_is_file(o->acpi[i]))
			r = fail_kind(o->acpi[i], false);
		else if (dk_strv_contains(acpi_names.v, bn))
			r = dk_fail("%s: an ACPI table named %s is given twice", o->acpi[i], bn);
		else
			dk_strv_push(&acpi_names, bn);
	}
	struct dk_strv extra_drv = {0};
	for (size_t i = 0; r == 0 && o->drivers && o->drivers[i]; i++) {
		_cleanup_free_ char *bn = base_dup(o->drivers[i]);
		if (!dk_oc_is_file(o->drivers[i]))
			r = fail_kind(o->drivers[i], false);
		else
			dk_strv_push(&extra_drv, bn);
	}

	/* what the config uses */
	struct entry *drv = NULL, *tl = NULL, *ka = NULL, *aa = NULL;
	size_t ndrv = 0, ntl = 0, nka = 0, naa = 0;
	if (r == 0)
		r = enabled_entries(root, "UEFI", "Drivers", "Path", cfg, &drv, &ndrv);
	if (r == 0)
		r = enabled_entries(root, "Misc", "Tools", "Path", cfg, &tl, &ntl);
	if (r == 0)
		r = enabled_entries(root, "Kernel", "Add", "BundlePath", cfg, &ka, &nka);
	if (r == 0)
		r = enabled_entries(root, "ACPI", "Add", "Path", cfg, &aa, &naa);

	for (size_t i = 0; r == 0 && i < ndrv; i++) {
		_cleanup_free_ char *relp = dk_asprintf("X64/EFI/OC/Drivers/%s", drv[i].path);
		bool extra = dk_strv_contains(extra_drv.v, drv[i].path);
		if (!extra && !dk_oc_release_has(rel, relp))
			r = dk_fail("%s: UEFI/Drivers: %s is enabled but the release %s has no %s (give it with --driver)",
				    cfg, drv[i].path, rp, relp);
	}
	for (size_t i = 0; r == 0 && i < ntl; i++) {
		_cleanup_free_ char *relp = dk_asprintf("X64/EFI/OC/Tools/%s", tl[i].path);
		if (!dk_oc_release_has(rel, relp))
			r = dk_fail("%s: Misc/Tools: %s is enabled but the release %s has no %s", cfg, tl[i].path, rp,
				    relp);
	}
	for (size_t i = 0; r == 0 && i < nka; i++) {
		const char *bp = ka[i].path;
		_cleanup_free_ char *top = dk_strndup(bp, strchrnul(bp, '/') - bp);
		struct kext_src *kx = kext_find(&ks, top);
		if (!kx) {
			r = dk_fail("%s: Kernel/Add: %s is enabled but no --kext %s was given", cfg, bp, top);
			break;
		}
		kx->used = true;
		/* the bundle's plist and executable must exist inside the given kext */
		const char *inner = bp + strlen(top);
		if (*inner == '/')
			inner++;
		_cleanup_free_ char *plp = str_of(dk_pl_get(ka[i].dict, "PlistPath"));
		_cleanup_free_ char *exe = str_of(dk_pl_get(ka[i].dict, "ExecutablePath"));
		if (plp && *plp) {
			_cleanup_free_ char *f = dk_asprintf("%s%s%s", inner, *inner ? "/" : "", plp);
			if (!path_ok(plp) || !kext_has(kx, f))
				r = dk_fail("%s: Kernel/Add: %s: PlistPath %s not found in %s", cfg, bp, plp, kx->given);
		}
		if (r == 0 && exe && *exe) {
			_cleanup_free_ char *f = dk_asprintf("%s%s%s", inner, *inner ? "/" : "", exe);
			if (!path_ok(exe) || !kext_has(kx, f))
				r = dk_fail("%s: Kernel/Add: %s: ExecutablePath %s not found in %s", cfg, bp, exe,
					    kx->given);
		}
	}
	for (size_t i = 0; r == 0 && i < naa; i++)
		if (!dk_strv_contains(acpi_names.v, aa[i].path))
			r = dk_fail("%s: ACPI/Add: %s is enabled but no --acpi %s was given", cfg, aa[i].path,
				    aa[i].path);

	/* the tree */
	static const char *const dirs[] = {"EFI/BOOT", "EFI/OC/ACPI", "EFI/OC/Drivers", "EFI/OC/Kexts",
					   "EFI/OC/Resources", "EFI/OC/Tools"};
	for (size_t i = 0; r == 0 && i < DK_ARRAY_SIZE(dirs); i++)
		r = dk_fat_add_dir(b, dirs[i]);
	if (r == 0)
		r = add_release_file(b, rel, "X64/EFI/BOOT/BOOTx64.efi", "EFI/BOOT/BOOTx64.efi");
	if (r == 0)
		r = add_release_file(b, rel, "X64/EFI/OC/OpenCore.efi", "EFI/OC/OpenCore.efi");
	/* .contentFlavour / .contentVisibility beside BOOTx64.efi and OpenCore.efi */
	static const char *const dots[] = {"BOOT/.contentFlavour", "BOOT/.contentVisibility", "OC/.contentFlavour",
					   "OC/.contentVisibility"};
	for (size_t i = 0; r == 0 && i < DK_ARRAY_SIZE(dots); i++) {
		_cleanup_free_ char *relp = dk_asprintf("X64/EFI/%s", dots[i]);
		_cleanup_free_ char *dst = dk_asprintf("EFI/%s", dots[i]);
		if (dk_oc_release_has(rel, relp))
			r = add_release_file(b, rel, relp, dst);
	}
	if (r == 0)
		r = dk_fat_add_file(b, "EFI/OC/config.plist", o->config);
	for (size_t i = 0; r == 0 && i < ndrv; i++) {
		_cleanup_free_ char *dst = dk_asprintf("EFI/OC/Drivers/%s", drv[i].path);
		if (dk_strv_contains(drivers->v, drv[i].path))
			continue;
		size_t k;
		for (k = 0; o->drivers && o->drivers[k]; k++) {
			_cleanup_free_ char *bn = base_dup(o->drivers[k]);
			if (!strcmp(bn, drv[i].path))
				break;
		}
		if (o->drivers && o->drivers[k]) {
			r = dk_fat_add_file(b, dst, o->drivers[k]);
		} else {
			_cleanup_free_ char *relp = dk_asprintf("X64/EFI/OC/Drivers/%s", drv[i].path);
			r = add_release_file(b, rel, relp, dst);
		}
		dk_strv_push(drivers, drv[i].path);
	}
	for (size_t i = 0; r == 0 && i < ntl; i++) {
		if (dk_strv_contains(tools->v, tl[i].path))
			continue;
		_cleanup_free_ char *relp = dk_asprintf("X64/EFI/OC/Tools/%s", tl[i].path);
		_cleanup_free_ char *dst = dk_asprintf("EFI/OC/Tools/%s", tl[i].path);
		r = add_release_file(b, rel, relp, dst);
		dk_strv_push(tools, tl[i].path);
	}
	if (r == 0) {
		char **res = NULL;
		size_t nres = 0;
		r = dk_oc_release_list(rel, "X64/EFI/OC/Resources", &res, &nres);
		for (size_t i = 0; r == 0 && i < nres; i++) {
			_cleanup_free_ char *relp = dk_asprintf("X64/EFI/OC/Resources/%s", res[i]);
			_cleanup_free_ char *dst = dk_asprintf("EFI/OC/Resources/%s", res[i]);
			r = add_release_file(b, rel, relp, dst);
		}
		dk_oc_release_names_free(res, nres);
	}
	/* kext folders are always copied; bundles from zips only when the config uses them */
	for (size_t i = 0; r == 0 && i < ks.n; i++) {
		struct kext_src *kx = &ks.v[i];
		_cleanup_free_ char *dst = dk_asprintf("EFI/OC/Kexts/%s", kx->name);
		if (kx->dir) {
			if (!kx->used)
				dk_warn("%s: not in %s Kernel/Add (copied, but OpenCore will not load it)", kx->name, cfg);
			r = dk_fat_add_tree(b, dst, kx->dir);
		} else if (kx->used) {
			char **files;
			size_t nf;
			r = dk_fat_add_dir(b, dst);
			if (r == 0 && (r = dk_oc_release_list(kx->zip, kx->zpath, &files, &nf)) == 0) {
				for (size_t j = 0; r == 0 && j < nf; j++) {
					_cleanup_free_ char *src = dk_asprintf("%s/%s", kx->zpath, files[j]);
					_cleanup_free_ char *d2 = dk_asprintf("%s/%s", dst, files[j]);
					r = add_release_file(b, kx->zip, src, d2);
				}
				dk_oc_release_names_free(files, nf);
			}
		} else {
			continue;
		}
		dk_strv_push(kexts, kx->name);
	}
	for (size_t i = 0; r == 0 && o->kexts && o->kexts[i]; i++) {
		bool any = false;
		for (size_t k = 0; k < ks.n; k++)
			any |= ks.v[k].given == o->kexts[i] && (ks.v[k].used || ks.v[k].dir);
		if (!any)
			dk_warn("%s: none of its kexts is enabled in %s Kernel/Add", o->kexts[i], cfg);
	}
	for (size_t i = 0; r == 0 && o->acpi && o->acpi[i]; i++) {
		_cleanup_free_ char *bn = base_dup(o->acpi[i]);
		_cleanup_free_ char *dst = dk_asprintf("EFI/OC/ACPI/%s", bn);
		bool used = false;
		for (size_t k = 0; k < naa && !used; k++)
			used = !strcmp(aa[k].path, bn);
		if (!used)
			dk_warn("%s: not in %s ACPI/Add (copied, but OpenCore will not load it)", bn, cfg);
		r = dk_fat_add_file(b, dst, o->acpi[i]);
		dk_strv_push(acpis, bn);
	}
	if (r == 0 && o->recovery) {
		_cleanup_free_ char *sub = dk_asprintf("%s/com.apple.recovery.boot", o->recovery);
		if (dk_oc_is_dir(sub))
			r = dk_fat_add_tree(b, "com.apple.recovery.boot", sub);
		else if (dk_oc_is_dir(o->recovery))
			r = dk_fat_add_tree(b, "com.apple.recovery.boot", o->recovery);
		else
			r = fail_kind(o->recovery, true);
	}
	for (size_t i = 0; r == 0 && o->add && o->add[i]; i++) {
		const char *colon = strrchr(o->add[i], ':');
		if (!colon || colon == o->add[i] || !colon[1]) {
			r = dk_fail("%s: expected SRC:DEST", o->add[i]);
			break;
		}
		_cleanup_free_ char *src = dk_strndup(o->add[i], colon - o->add[i]);
		const char *dst = colon + 1;
		if (dk_oc_is_dir(src))
			r = dk_fat_add_tree(b, dst, src);
		else
			r = dk_fat_add_file(b, dst, src);
	}
	entries_free(drv, ndrv);
	entries_free(tl, ntl);
	entries_free(ka, nka);
	entries_free(aa, naa);
	kexts_free(&ks);
	dk_strv_clear(&acpi_names);
	dk_strv_clear(&extra_drv);
	return r;
}

int dk_oc_image_build(const struct dk_oc_image_opts *o)
{
	if (!o->release || !o->config || !o->output)
		return dk_fail("opencore image: release, config and output are required");
	/* refuse early, before any work */
	if (dk_output_check(o->output, o->force) < 0)
		return -1;
	/* a FIFO or a device as config.plist would block or never end */
	struct stat cst;
	if (stat(o->config, &cst) == 0 && !S_ISREG(cst.st_mode) && !S_ISDIR(cst.st_mode))
		return fail_kind(o->config, false);
	_cleanup_free_ char *cfgdata = NULL;
	size_t cfglen;
	if (dk_read_file(o->config, &cfgdata, &cfglen, CONFIG_MAX) < 0)
		return -1;
	plist_t root = NULL;
	if (dk_plist_parse(cfgdata, cfglen, o->config, &root) < 0)
		return -1;
	if (plist_get_node_type(root) != PLIST_DICT) {
		plist_free(root);
		return dk_fail("%s: top level is not a dictionary", o->config);
	}
	struct dk_oc_release *rel = NULL;
	if (dk_oc_release_open(o->release, &rel) < 0) {
		plist_free(root);
		return -1;
	}
	struct dk_fat_builder *b = dk_fat_new();
	struct dk_strv drivers = {0}, tools = {0}, kexts = {0}, acpis = {0};
	int r = assemble(o, b, rel, root, &drivers, &tools, &kexts, &acpis);
	plist_free(root);
	dk_oc_release_close(rel);
	struct dk_disk_info info;
	if (r == 0) {
		struct dk_disk_opts d = {
			.size = o->size,
			.label = "OPENCORE",
			.part_name = "OPENCORE",
			.reproducible = o->reproducible,
			.qcow2 = o->qcow2,
			.force = o->force,
			.progress = o->progress,
		};
		r = dk_disk_write(b, o->output, &d, &info);
	}
	if (r == 0 && o->result) {
		struct dk_oc_image_result *res = o->result;
		memset(res, 0, sizeof *res);
		res->disk_bytes = info.disk_bytes;
		res->file_size = info.file_size;
		res->part_offset = info.part_offset;
		res->part_bytes = info.part_bytes;
		res->payload_bytes = info.file_bytes;
		res->cluster_size = info.cluster_size;
		memcpy(res->disk_guid, info.disk_guid, sizeof res->disk_guid);
		memcpy(res->part_guid, info.part_guid, sizeof res->part_guid);
		res->nfiles = dk_fat_count(b);
		res->drivers = dk_strv_take(&drivers);
		res->tools = dk_strv_take(&tools);
		res->kexts = dk_strv_take(&kexts);
		res->acpi = dk_strv_take(&acpis);
		res->recovery = o->recovery != NULL;
	}
	dk_strv_clear(&drivers);
	dk_strv_clear(&tools);
	dk_strv_clear(&kexts);
	dk_strv_clear(&acpis);
	dk_fat_free(b);
	return r;
}
