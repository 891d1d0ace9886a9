/* dkvm update: rebuild a bundle's OpenCore EFI (vm.h, "update"). */
#include "vm/vm.h"
#include "vm/efiman.h"
#include "opencore/opencore.h"
#include "opencore/release.h"
#include "image/fat32.h"
#include "util/cleanup.h"
#include "util/diff.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/plist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void dk_efi_rebuild_result_free(struct dk_efi_rebuild_result *r)
{
	free(r->old_opencore);
	free(r->new_opencore);
	free(r->release);
	for (size_t i = 0; i < r->nkexts; i++) {
		free(r->kexts[i].name);
		free(r->kexts[i].old_version);
		free(r->kexts[i].new_version);
	}
	free(r->kexts);
	for (size_t i = 0; i < r->nchanges; i++)
		free(r->changes[i].path);
	free(r->changes);
	free(r->diff);
	dk_strv_free(r->warnings);
	memset(r, 0, sizeof *r);
}

/* ---- config migration ---- */

/* Lists that hold the EFI's files: made again for the new set. */
static const char *const generated[] = {"ACPI/Add", "Kernel/Add", "UEFI/Drivers", "Misc/Tools", NULL};
/* Dictionaries keyed by the user (device paths, NVRAM GUIDs and variables):
 * the user's entries stay even when the Sample does not have them. */
static const char *const maps[] = {"DeviceProperties/Add", "DeviceProperties/Delete", "NVRAM/Add",
				   "NVRAM/Delete", "NVRAM/LegacySchema", NULL};
/* Documented sections no Sample.plist carries: the user's stay (the custom
 * memory map of dkvm tune memory-map). */
static const char *const optional[] = {"PlatformInfo/Memory", NULL};
/* boot-args: merged token by token (dk_oc_bootargs_merge): the recipes'
 * tokens follow the new plan, the user's stay. */
static const char bootargs_path[] = "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82/boot-args";

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (!strcmp(*l, s))
			return true;
	return false;
}

static void change_add(struct dk_efi_rebuild_result *r, const char *path, const char *kind)
{
	r->changes = dk_realloc(r->changes, (r->nchanges + 1) * sizeof *r->changes);
	r->changes[r->nchanges++] = (struct dk_cfg_change){.path = dk_strdup(path), .kind = kind};
}

static bool node_equal(plist_t a, plist_t b)
{
	if (plist_get_node_type(a) != plist_get_node_type(b))
		return false;
	char *xa = NULL, *xb = NULL;
	uint32_t la = 0, lb = 0;
	plist_to_xml(a, &xa, &la);
	plist_to_xml(b, &xb, &lb);
	bool eq = xa && xb && la == lb && !memcmp(xa, xb, la);
	if (xa)
		plist_to_xml_free(xa);
	if (xb)
		plist_to_xml_free(xb);
	return eq;
}

/* The new dictionary: fresh's keys in fresh's order, the user's values where
 * both have the key; then (in a map) the user's own entries. */
static plist_t migrate(plist_t old, plist_t fresh, const char *path, bool map, struct dk_efi_rebuild_result *r)
{
	plist_t out = plist_new_dict();
	plist_dict_iter it = NULL;
	plist_dict_new_iter(fresh, &it);
	for (;;) {
		char *key = NULL;
		plist_t fv = NULL;
		plist_dict_next_item(fresh, it, &key, &fv);
		if (!key)
			break;
		_cleanup_free_ char *p = *path ? dk_asprintf("%s/%s", path, key) : dk_strdup(key);
		plist_t ov = old ? plist_dict_get_item(old, key) : NULL;
		plist_t nv;
		if (in_list(generated, p)) {
			nv = plist_copy(fv);
			if (!ov || !node_equal(ov, fv))
				change_add(r, p, "regenerated");
		} else if (!ov) {
			nv = plist_copy(fv);
			change_add(r, p, "added");
		} else if (plist_get_node_type(ov) != plist_get_node_type(fv)) {
			nv = plist_copy(fv);
			change_add(r, p, "retyped");
		} else if (plist_get_node_type(fv) == PLIST_DICT) {
			nv = migrate(ov, fv, p, map || in_list(maps, p), r);
		} else if (!strcmp(p, bootargs_path) && plist_get_node_type(fv) == PLIST_STRING) {
			/* the tokens the new plan's recipes want, plus the user's own */
			_cleanup_free_ char *m = dk_oc_bootargs_merge(plist_get_string_ptr(ov, NULL),
								      plist_get_string_ptr(fv, NULL));
			nv = plist_new_string(m);
			if (!node_equal(nv, fv))
				change_add(r, p, "merged");
		} else {
			nv = plist_copy(ov);
			if (!node_equal(ov, fv))
				change_add(r, p, "kept");
		}
		plist_dict_set_item(out, key, nv);
		free(key);
	}
	free(it);
	if (!old)
		return out;
	it = NULL;
	plist_dict_new_iter(old, &it);
	for (;;) {
		char *key = NULL;
		plist_t ov = NULL;
		plist_dict_next_item(old, it, &key, &ov);
		if (!key)
			break;
		if (!plist_dict_get_item(fresh, key)) {
			_cleanup_free_ char *p = *path ? dk_asprintf("%s/%s", path, key) : dk_strdup(key);
			if (map || in_list(optional, p)) {
				plist_dict_set_item(out, key, plist_copy(ov));
			} else {
				change_add(r, p, "dropped");
			}
		}
		free(key);
	}
	free(it);
	return out;
}

/* ---- the current image ---- */

/* Copy a file or a folder (recursively, at most 16 deep) of the FAT volume
 * to host path dst, a file in bounded chunks. */
static int fat_extract(struct dk_fat_vol *v, const char *src, const char *dst, int depth)
{
	struct dk_fat_dirent st;
	int k = dk_fat_stat(v, src, &st);
	if (k != 0)
		return k < 0 ? -1 : dk_fail("%s: not on the image", src);
	bool dir = st.is_dir;
	uint32_t size = st.size;
	free(st.name);
	if (!dir) {
		/* streamed: recoveryOS's BaseSystem.dmg is most of a GiB */
		struct dk_atomic a;
		if (dk_atomic_open(&a, dst, false, 0600) < 0)
			return -1;
		if (dk_fat_read_fd(v, src, size, a.fd, dst) < 0) {
			dk_atomic_abort(&a);
			return -1;
		}
		return dk_atomic_commit(&a);
	}
	if (depth > 16)
		return dk_fail("%s: folders nested too deep", src);
	if (mkdir(dst, 0700) < 0)
		return dk_fail_errno("%s", dst);
	struct dk_fat_dirent *e = NULL;
	size_t n = 0;
	if (dk_fat_list(v, src, &e, &n) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!dk_name_is_safe(e[i].name) || !strcmp(e[i].name, ".") || !strcmp(e[i].name, ".."))
			continue;
		_cleanup_free_ char *s = dk_asprintf("%s/%s", src, e[i].name);
		_cleanup_free_ char *d = dk_asprintf("%s/%s", dst, e[i].name);
		rc = fat_extract(v, s, d, depth + 1);
	}
	dk_fat_dirents_free(e, n);
	return rc;
}

/* The names in a folder of the image (none when it is absent). */
static int fat_names(struct dk_fat_vol *v, const char *dir, struct dk_strv *out)
{
	if (dk_fat_stat(v, dir, NULL) != 0)
		return 0;
	struct dk_fat_dirent *e = NULL;
	size_t n = 0;
	if (dk_fat_list(v, dir, &e, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (dk_name_is_safe(e[i].name) && e[i].name[0] != '.')
			dk_strv_push(out, e[i].name);
	dk_fat_dirents_free(e, n);
	return 0;
}

/* ---- one rebuild ---- */

struct rebuild {
	struct dk_bundle *b;
	const struct dk_efi_rebuild_opts *o;
	struct dk_efi_rebuild_result *r;
	char *tmp;                     /* beside the bundle, removed at the end */
	char *release;
	char *old_xml;                 /* the bundle's config.plist */
	size_t old_len;
	char *sample;                  /* the release's Sample.plist */
	size_t sample_len;
	struct dk_strv pins;
	struct dk_strv user_kexts, user_acpi, drivers, driver_names;
	struct dk_strv res_files, res_rels; /* EFI/OC/Resources, carried over (OpenCanopy's) */
	char *recovery;                /* extracted recoveryOS folder, or NULL */
	struct dk_oc_staged st;
	bool staged;
	char *old_canon;               /* the current config re-serialized */
	char *new_xml;
	uint32_t new_len;
};

/* The release: given, the bundle's own (current), or fetched (the cache
 * with --offline). */
static int pick_release(struct rebuild *w)
{
	const struct dk_efi_rebuild_opts *o = w->o;
	json_object *oc = dk_json_get(w->b->manifest, "opencore");
	const char *cur_ver = dk_json_get_str(dk_json_get(w->b->manifest, "efi"), "opencore");
	if (o->opencore) {
		w->release = dk_strdup(o->opencore);
		return 0;
	}
	const char *version = o->opencore_version;
	if (o->current && !version) {
		const char *rel = dk_json_get_str(oc, "release");
		if (rel && dk_path_exists(rel)) {
			w->release = dk_strdup(rel);
			return 0;
		}
		version = cur_ver;
	}
	struct dk_oc_fetched f = {0};
	int k;
	if (o->offline) {
		k = dk_oc_fetch_cached("OpenCorePkg", version, &f);
		if (k == 0)
			dk_fail("OpenCorePkg %s is not in the cache (--offline): run dkvm opencore fetch%s%s, or pass "
				"--opencore ZIP|DIR",
				version ? version : "(any version)", version ? " --version " : "", version ? version : "");
	} else {
		k = dk_oc_fetch("OpenCorePkg", version, o->mirror, &f) < 0 ? -1 : 1;
		if (k < 0)
			dk_fail_prefix("OpenCore: cannot download the OpenCorePkg release (offline? pass --opencore ZIP|DIR, "
				       "or --offline to use the cache)");
	}
	if (k > 0)
		w->release = dk_strdup(f.path);
	dk_oc_fetched_free(&f);
	return k > 0 ? 0 : -1;
}

static int read_sample(struct rebuild *w)
{
	struct dk_oc_release *rel = NULL;
	if (dk_oc_release_open(w->release, &rel) < 0)
		return -1;
	int rc = dk_oc_release_read(rel, "Docs/Sample.plist", &w->sample, &w->sample_len);
	dk_oc_release_close(rel);
	if (rc < 0)
		return dk_fail_prefix("%s: no Docs/Sample.plist in the release", w->release);
	return 0;
}

/* Kext pins: the given ones, then (current) the versions the bundle has. */
static void make_pins(struct rebuild *w)
{
	for (size_t i = 0; w->o->kext_pins && w->o->kext_pins[i]; i++)
		dk_strv_push(&w->pins, w->o->kext_pins[i]);
	if (!w->o->current)
		return;
	json_object *k = dk_json_get(dk_json_get(w->b->manifest, "opencore"), "kexts");
	for (size_t i = 0; k && json_object_is_type(k, json_type_array) && i < json_object_array_length(k); i++) {
		json_object *e = json_object_array_get_idx(k, i);
		const char *n = dk_json_get_str(e, "name"), *v = dk_json_get_str(e, "version");
		const char *src = dk_json_get_str(e, "source");
		if (!n || !v || !src || (strcmp(src, "fetched") && strcmp(src, "cached")))
			continue;
		bool given = false;
		for (size_t j = 0; j < w->pins.n; j++)
			given |= !strncmp(w->pins.v[j], n, strlen(n)) && w->pins.v[j][strlen(n)] == '=';
		if (!given)
			dk_strv_push_take(&w->pins, dk_asprintf("%s=%s", n, v));
	}
}

static const char *old_kext_source(struct rebuild *w, const char *name)
{
	json_object *k = dk_json_get(dk_json_get(w->b->manifest, "opencore"), "kexts");
	for (size_t i = 0; k && json_object_is_type(k, json_type_array) && i < json_object_array_length(k); i++) {
		json_object *e = json_object_array_get_idx(k, i);
		const char *n = dk_json_get_str(e, "name");
		if (n && !strcmp(n, name))
			return dk_json_get_str(e, "source");
	}
	return NULL;
}

/* What the current image has that the new set does not make: the user's
 * kexts and SSDTs, drivers outside the release, recoveryOS. */
static int carry_over(struct rebuild *w, const struct dk_oc_set_item *items, size_t nitems)
{
	struct dk_fat_vol *v = NULL;
	if (dk_fat_open(w->b->opencore, &v) < 0)
		return dk_fail_prefix("the current OpenCore image");
	struct dk_oc_release *rel = NULL;
	int rc = dk_oc_release_open(w->release, &rel);
	struct dk_strv names = {0};
	_cleanup_free_ char *dir = dk_asprintf("%s/old", w->tmp);
	if (rc == 0 && mkdir(dir, 0700) < 0)
		rc = dk_fail_errno("%s", dir);
	/* kexts: not in the set, or replaced by the user at create */
	if (rc == 0)
		rc = fat_names(v, "EFI/OC/Kexts", &names);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		const char *n = names.v[i];
		if (!dk_endswith(n, ".kext"))
			continue;
		_cleanup_free_ char *base = dk_strndup(n, strlen(n) - 5);
		bool in_set = false;
		for (size_t j = 0; j < nitems; j++)
			in_set |= !items[j].acpi && !strcasecmp(items[j].name, base);
		const char *src = old_kext_source(w, base);
		/* the user's (and unknown ones) are carried; dkvm's own that the set
		 * no longer has (a write-up turned off, a GPU taken out) are dropped */
		bool user = src && !strcmp(src, "user");
		if (!user && (in_set || src))
			continue;
		_cleanup_free_ char *s = dk_asprintf("EFI/OC/Kexts/%s", n), *d = dk_asprintf("%s/%s", dir, n);
		if ((rc = fat_extract(v, s, d, 0)) == 0)
			dk_strv_push(&w->user_kexts, d);
	}
	dk_strv_clear(&names);
	if (rc == 0)
		rc = fat_names(v, "EFI/OC/ACPI", &names);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		bool in_set = false;
		for (size_t j = 0; j < nitems; j++)
			in_set |= items[j].acpi && !strcasecmp(items[j].name, names.v[i]);
		if (in_set)
			continue;
		_cleanup_free_ char *s = dk_asprintf("EFI/OC/ACPI/%s", names.v[i]);
		_cleanup_free_ char *d = dk_asprintf("%s/%s", dir, names.v[i]);
		if ((rc = fat_extract(v, s, d, 0)) == 0)
			dk_strv_push(&w->user_acpi, d);
	}
	dk_strv_clear(&names);
	/* drivers the new release does not ship */
	if (rc == 0)
		rc = fat_names(v, "EFI/OC/Drivers", &names);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		_cleanup_free_ char *rp = dk_asprintf("X64/EFI/OC/Drivers/%s", names.v[i]);
		if (dk_oc_release_has(rel, rp))
			continue;
		_cleanup_free_ char *s = dk_asprintf("EFI/OC/Drivers/%s", names.v[i]);
		_cleanup_free_ char *d = dk_asprintf("%s/%s", dir, names.v[i]);
		if ((rc = fat_extract(v, s, d, 0)) == 0) {
			dk_strv_push(&w->drivers, d);
			dk_strv_push(&w->driver_names, names.v[i]);
		}
	}
	dk_strv_clear(&names);
	/* EFI/OC/Resources (OpenCanopy's fonts, images, labels): kept as they are */
	_cleanup_free_ char *res = dk_asprintf("%s/Resources", dir);
	if (rc == 0 && dk_fat_stat(v, "EFI/OC/Resources", NULL) == 0 && (rc = fat_extract(v, "EFI/OC/Resources", res, 0)) == 0) {
		struct dk_efi_given g = {0};
		rc = dk_efi_given_host(&g, res, "R", DK_EFI_USER, -1, NULL);
		for (size_t i = 0; rc == 0 && i < g.n; i++)
			if (!g.v[i].is_dir) {
				dk_strv_push_take(&w->res_files, dk_asprintf("%s/%s", res, g.v[i].path + 2));
				dk_strv_push(&w->res_rels, g.v[i].path + 2);
			}
		dk_efi_given_free(&g);
	}
	if (rc == 0 && dk_fat_stat(v, "com.apple.recovery.boot", NULL) == 0) {
		w->recovery = dk_asprintf("%s/recovery", w->tmp);
		_cleanup_free_ char *d = dk_asprintf("%s/com.apple.recovery.boot", w->recovery);
		if (mkdir(w->recovery, 0700) < 0)
			rc = dk_fail_errno("%s", w->recovery);
		else
			rc = fat_extract(v, "com.apple.recovery.boot", d, 0);
	}
	if (rel)
		dk_oc_release_close(rel);
	dk_fat_close(v);
	return rc < 0 ? dk_fail_prefix("the current OpenCore image %s", w->b->opencore) : 0;
}

/* The identity in the current config (the recipes need one; the user's
 * values win in the migration anyway). */
static void old_identity(plist_t old, const char *model, struct dk_smbios *sm)
{
	memset(sm, 0, sizeof *sm);
	snprintf(sm->product, sizeof sm->product, "%s", model);
	plist_t g = plist_access_path(old, 2, "PlatformInfo", "Generic");
	if (!g || plist_get_node_type(g) != PLIST_DICT)
		return;
	struct { const char *key; char *dst; size_t n; } s[] = {
		{"SystemSerialNumber", sm->serial, sizeof sm->serial},
		{"MLB", sm->mlb, sizeof sm->mlb},
		{"SystemUUID", sm->uuid, sizeof sm->uuid},
	};
	for (size_t i = 0; i < DK_ARRAY_SIZE(s); i++) {
		plist_t n = plist_dict_get_item(g, s[i].key);
		if (n && plist_get_node_type(n) == PLIST_STRING) {
			char *v = NULL;
			plist_get_string_val(n, &v);
			snprintf(s[i].dst, s[i].n, "%s", v ? v : "");
			free(v);
		}
	}
	plist_t rom = plist_dict_get_item(g, "ROM");
	if (rom && plist_get_node_type(rom) == PLIST_DATA) {
		char *d = NULL;
		uint64_t len = 0;
		plist_get_data_val(rom, &d, &len);
		if (d && len == 6)
			memcpy(sm->rom, d, 6);
		free(d);
	}
}

/* The new config: fresh from the Sample with the recipes, then the user's
 * values migrated into it, then the caller's edit. */
static int new_config(struct rebuild *w)
{
	struct dk_bundle *b = w->b;
	plist_t old = NULL;
	if (dk_plist_parse(w->old_xml, w->old_len, "config.plist", &old) < 0)
		return -1;
	if (plist_get_node_type(old) != PLIST_DICT) {
		plist_free(old);
		return dk_fail("%s/config.plist: not a dictionary", b->dir);
	}
	/* the current config as this serializer writes it: the diff shows only
	 * what the migration changes, not formatting */
	plist_t canon = plist_copy(old);
	char *cx = NULL;
	uint32_t clen = 0;
	plist_to_xml(canon, &cx, &clen);
	plist_free(canon);
	if (!cx) {
		plist_free(old);
		return dk_fail("%s/config.plist: cannot serialize it", b->dir);
	}
	w->old_canon = dk_strndup(cx, clen);
	plist_to_xml_free(cx);
	struct dk_smbios sm;
	old_identity(old, b->plan.model, &sm);
	_cleanup_free_ char *sp = dk_asprintf("%s/Sample.plist", w->tmp);
	_cleanup_free_ char *kdir = dk_asprintf("%s/efi/Kexts", w->tmp);
	/* as create built it: the plan's GPU, devices, the recorded --boot-args and --picker */
	struct dk_vm_oc_inputs in;
	struct dk_oc_config_opts co = dk_vm_oc_config_opts(&b->plan, dk_json_get(b->manifest, "opencore"), &in);
	co.sample_path = sp;
	co.smbios = &sm;
	co.kexts_dir = kdir;
	co.acpi = (const char *const *)w->st.acpi_names;
	co.drivers = (const char *const *)w->driver_names.v;
	char *xml = NULL;
	uint32_t len = 0;
	struct dk_oc_changes ch = {0};
	plist_t fresh = NULL, merged = NULL;
	int rc = dk_write_file_atomic(sp, w->sample, w->sample_len, true, 0600);
	if (rc == 0 && (rc = dk_oc_config_build(&co, &xml, &len, &ch)) < 0)
		dk_fail_prefix("OpenCore config from %s", w->release);
	dk_oc_changes_free(&ch);
	dk_vm_oc_inputs_free(&in);
	if (rc == 0)
		rc = dk_plist_parse(xml, len, "the new config.plist", &fresh);
	free(xml);
	if (rc == 0) {
		merged = migrate(old, fresh, "", false, w->r);
		if (w->o->edit)
			rc = w->o->edit(merged, w->o->edit_ctx);
	}
	if (rc == 0) {
		char *out = NULL;
		plist_to_xml(merged, &out, &w->new_len);
		if (!out) {
			rc = dk_fail("the new config.plist: cannot serialize it");
		} else {
			w->new_xml = dk_strndup(out, w->new_len);
			plist_to_xml_free(out);
		}
	}
	plist_free(old);
	if (fresh)
		plist_free(fresh);
	if (merged)
		plist_free(merged);
	return rc;
}

/* The validator on the new config: errors refuse (the first one named). */
static int validate_config(struct rebuild *w)
{
	struct dk_oc_findings f;
	if (dk_oc_validate_xml(w->new_xml, w->new_len, w->sample, (uint32_t)w->sample_len, NULL, &f) < 0)
		return -1;
	struct dk_strv warn = {0};
	int rc = 0;
	for (int i = 0; i < f.n; i++) {
		if (f.v[i].severity == DK_OC_ERROR && rc == 0)
			rc = dk_fail("the config.plist migrated to OpenCore %s is not valid (%d error%s): %s: %s [%s]; "
				     "the bundle is unchanged",
				     w->r->new_opencore ? w->r->new_opencore : "?", f.errors, f.errors == 1 ? "" : "s",
				     f.v[i].path, f.v[i].message, f.v[i].rule);
		else if (f.v[i].severity == DK_OC_WARNING)
			dk_strv_push_take(&warn, dk_asprintf("config.plist: %s: %s [%s]", f.v[i].path, f.v[i].message,
							     f.v[i].rule));
	}
	dk_oc_findings_free(&f);
	w->r->warnings = dk_strv_take(&warn);
	return rc;
}

/* Kext versions before and after. */
static void kext_changes(struct rebuild *w)
{
	struct dk_efi_rebuild_result *r = w->r;
	json_object *k = dk_json_get(dk_json_get(w->b->manifest, "opencore"), "kexts");
	size_t nold = k && json_object_is_type(k, json_type_array) ? json_object_array_length(k) : 0;
	for (size_t i = 0; i < w->st.ninfo; i++) {
		const struct dk_oc_staged_kext *x = &w->st.info[i];
		r->kexts = dk_realloc(r->kexts, (r->nkexts + 1) * sizeof *r->kexts);
		struct dk_kext_change *c = &r->kexts[r->nkexts++];
		*c = (struct dk_kext_change){.name = dk_strdup(x->name), .new_version = x->version ? dk_strdup(x->version) : NULL};
		for (size_t j = 0; j < nold; j++) {
			json_object *e = json_object_array_get_idx(k, j);
			const char *n = dk_json_get_str(e, "name"), *v = dk_json_get_str(e, "version");
			if (n && !strcmp(n, x->name)) {
				c->old_version = dk_strdup(v ? v : "");
				const char *os = dk_json_get_str(e, "sha256");
				if ((!os) != (!x->sha256) || (os && strcmp(os, x->sha256)) || !v != !x->version ||
				    (v && x->version && strcmp(v, x->version)))
					r->changed = true;
			}
		}
		if (!c->old_version)
			r->changed = true;
	}
	for (size_t j = 0; j < nold; j++) {
		const char *n = dk_json_get_str(json_object_array_get_idx(k, j), "name");
		bool still = false;
		for (size_t i = 0; n && i < w->st.ninfo; i++)
			still |= !strcmp(n, w->st.info[i].name);
		if (n && !still) {
			r->kexts = dk_realloc(r->kexts, (r->nkexts + 1) * sizeof *r->kexts);
			const char *v = dk_json_get_str(json_object_array_get_idx(k, j), "version");
			r->kexts[r->nkexts++] = (struct dk_kext_change){.name = dk_strdup(n), .old_version = dk_strdup(v ? v : "")};
			r->changed = true;
		}
	}
}

/* Build the image in the temporary folder, check it, rename it in (the old
 * one kept as .prev), rewrite the manifest. */
static int apply(struct rebuild *w)
{
	struct dk_bundle *b = w->b;
	_cleanup_free_ char *cfg = dk_asprintf("%s/config.plist", w->tmp);
	_cleanup_free_ char *img = dk_asprintf("%s/OpenCore.img", w->tmp);
	if (dk_write_file_atomic(cfg, w->new_xml, w->new_len, false, 0600) < 0)
		return -1;
	struct dk_oc_image_result res = {0};
	struct dk_oc_image_opts io = {
		.release = w->release,
		.config = cfg,
		.kexts = (const char *const *)w->st.kexts,
		.acpi = (const char *const *)w->st.acpi,
		.recovery = w->recovery,
		.output = img,
		.drivers = (const char *const *)w->drivers.v,
		.resources = (const char *const *)w->res_files.v,
		.resource_rels = (const char *const *)w->res_rels.v,
		.result = &res,
	};
	if (dk_oc_image_build(&io) < 0) {
		dk_oc_image_result_free(&res);
		return dk_fail_prefix("OpenCore image");
	}
	/* the image as the VM will see it */
	_cleanup_free_ char *sp = dk_asprintf("%s/Sample.plist", w->tmp);
	struct dk_oc_validate_opts vo = {.sample_path = sp, .image = img};
	struct dk_oc_findings f;
	int rc = dk_oc_validate(&vo, &f);
	if (rc == 0) {
		for (int i = 0; i < f.n && rc == 0; i++)
			if (f.v[i].severity == DK_OC_ERROR)
				rc = dk_fail("the new OpenCore image is not valid: %s: %s [%s]; the bundle is unchanged",
					     f.v[i].path, f.v[i].message, f.v[i].rule);
		dk_oc_findings_free(&f);
	}
	if (rc < 0) {
		dk_oc_image_result_free(&res);
		return -1;
	}
	/* the manifest's records */
	json_object *man = json_object_get(b->manifest);
	json_object *copy = NULL;
	json_object_deep_copy(man, &copy, NULL);
	json_object_put(man);
	json_object *oldoc = dk_json_get(copy, "opencore");
	json_object *oc = json_object_new_object();
	const char *ver = w->r->new_opencore;
	json_object_object_add(oc, "sample_release", json_object_new_string(ver ? ver : "unknown"));
	dk_vm_staged_json(&w->st, oc);
	json_object_object_add(oc, "release", json_object_new_string(w->release));
	json_object *recov = dk_json_get(oldoc, "recovery");
	json_object_object_add(oc, "recovery", recov ? json_object_get(recov) : NULL);
	/* the config's inputs create recorded (efiman.c reads them back) */
	static const char *const inputs[] = {"boot_args", "picker", "force"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(inputs); i++) {
		json_object *in = dk_json_get(oldoc, inputs[i]);
		if (in)
			json_object_object_add(oc, inputs[i], json_object_get(in));
	}
	json_object *efi = dk_vm_efi_json(&res, ver, NULL, NULL);
	dk_vm_efi_staged_sources(efi, &w->st, ver);
	/* carried-over drivers keep what the manifest said of them */
	json_object *odr = dk_json_get(dk_json_get(copy, "efi"), "drivers"), *ndr = dk_json_get(efi, "drivers");
	for (size_t i = 0; ndr && i < json_object_array_length(ndr); i++) {
		json_object *e = json_object_array_get_idx(ndr, i);
		const char *src = dk_json_get_str(e, "source");
		if (!src || !dk_startswith(src, w->tmp))
			continue;
		for (size_t j = 0; odr && j < json_object_array_length(odr); j++) {
			json_object *oe = json_object_array_get_idx(odr, j);
			const char *on = dk_json_get_str(oe, "name"), *nn = dk_json_get_str(e, "name");
			if (on && nn && !strcmp(on, nn)) {
				json_object *x;
				if ((x = dk_json_get(oe, "version")))
					json_object_object_add(e, "version", json_object_get(x));
				if ((x = dk_json_get(oe, "source")))
					json_object_object_add(e, "source", json_object_get(x));
			}
		}
	}
	dk_oc_image_result_free(&res);
	json_object_object_add(copy, "opencore", oc);
	json_object *ores = dk_json_get(dk_json_get(copy, "efi"), "resources");
	if (ores && w->res_files.n) /* carried over as they were */
		json_object_object_add(efi, "resources", json_object_get(ores));
	json_object_object_add(copy, "efi", efi);
	/* rename in: the old image and config become .prev */
	_cleanup_free_ char *cfg_final = dk_asprintf("%s/config.plist", b->dir);
	_cleanup_free_ char *img_prev = dk_asprintf("%s.prev", b->opencore);
	_cleanup_free_ char *cfg_prev = dk_asprintf("%s.prev", cfg_final);
	bool had_cfg = dk_path_exists(cfg_final);
	if (rename(b->opencore, img_prev) < 0) {
		json_object_put(copy);
		return dk_fail_errno("%s", b->opencore);
	}
	if (had_cfg && rename(cfg_final, cfg_prev) < 0) {
		rc = dk_fail_errno("%s", cfg_final);
		rename(img_prev, b->opencore);
		json_object_put(copy);
		return rc;
	}
	json_object *saved = b->manifest;
	b->manifest = copy;
	rc = rename(img, b->opencore) < 0 ? dk_fail_errno("%s", b->opencore)
	     : rename(cfg, cfg_final) < 0 ? dk_fail_errno("%s", cfg_final)
					  : dk_bundle_write_manifest(b);
	if (rc < 0) {
		/* put the old ones back */
		rename(img_prev, b->opencore);
		if (had_cfg)
			rename(cfg_prev, cfg_final);
		b->manifest = saved;
		json_object_put(copy);
		return dk_fail_prefix("update %s", b->name);
	}
	json_object_put(saved);
	return 0;
}

static int rebuild(struct rebuild *w)
{
	struct dk_bundle *b = w->b;
	const struct dk_efi_rebuild_opts *o = w->o;
	struct dk_efi_rebuild_result *r = w->r;
	if (b->ppc)
		return dk_fail("%s: a PowerPC VM has no OpenCore EFI", b->name);
	json_object *oc = dk_json_get(b->manifest, "opencore");
	if (dk_json_get_str(oc, "image"))
		return dk_fail("%s: its OpenCore image was given with --opencore-image; dkvm does not rebuild it", b->name);
	if (b->vol_opencore) {
		_cleanup_free_ char *vol = dk_vm_volume_name(b->name, "opencore");
		return dk_fail("%s: made with --pool: it boots volume %s of libvirt pool %s, which dkvm update does not "
			       "upload again; build an image with dkvm opencore image and upload it with virsh vol-upload "
			       "(the VM is unchanged)", b->name, vol, b->pool ? b->pool : "?");
	}
	struct dk_vm_state s;
	dk_vm_state(b, &s);
	dk_errclear();
	if (!strcmp(s.state, "running") || !strcmp(s.state, "paused"))
		return dk_fail("%s: is running; stop it first (dkvm stop %s)", b->name, b->name);
	if (o->kext_pins && dk_oc_pins_check(o->kext_pins) < 0)
		return -1;
	/* the current config: the bundle's, else the image's */
	_cleanup_free_ char *cfg = dk_asprintf("%s/config.plist", b->dir);
	if (dk_path_exists(cfg)) {
		if (dk_read_file(cfg, &w->old_xml, &w->old_len, 16 << 20) < 0)
			return -1;
	} else {
		struct dk_fat_vol *v = NULL;
		if (dk_fat_open(b->opencore, &v) < 0)
			return -1;
		int k = dk_fat_read(v, "EFI/OC/config.plist", &w->old_xml, &w->old_len, 16 << 20);
		dk_fat_close(v);
		if (k < 0)
			return -1;
	}
	const char *cur = dk_json_get_str(dk_json_get(b->manifest, "efi"), "opencore");
	r->old_opencore = cur ? dk_strdup(cur) : NULL;
	if (pick_release(w) < 0 || read_sample(w) < 0)
		return -1;
	r->release = dk_strdup(w->release);
	w->tmp = dk_asprintf("%s/.%s.update.XXXXXX", b->parent, b->name);
	if (!mkdtemp(w->tmp)) {
		int e = errno;
		free(w->tmp);
		w->tmp = NULL;
		errno = e;
		return dk_fail_errno("%s: temporary folder", b->parent);
	}
	_cleanup_free_ char *sp = dk_asprintf("%s/Sample.plist", w->tmp);
	if (dk_write_file_atomic(sp, w->sample, w->sample_len, true, 0600) < 0)
		return -1;
	/* as create names it: by the Sample's digest, else by the release's path */
	const char *nv = dk_oc_sample_release(sp, NULL);
	if (!strcmp(nv, "unknown"))
		nv = dk_oc_sample_release(w->release, NULL);
	r->new_opencore = nv && strcmp(nv, "unknown") ? dk_strdup(nv) : NULL;
	/* the set, what the image carries over, staged */
	struct dk_oc_set_opts so = dk_vm_oc_set_opts(&b->plan);
	struct dk_oc_set_item *items = NULL;
	size_t nitems = 0;
	dk_oc_set_resolve(&so, &items, &nitems);
	int rc = carry_over(w, items, nitems);
	free(items);
	if (rc < 0)
		return -1;
	make_pins(w);
	_cleanup_free_ char *stage = dk_asprintf("%s/efi", w->tmp);
	struct dk_oc_stage_opts sto = {.set = so, .release = w->release, .dir = stage,
				       .kexts = (const char *const *)w->user_kexts.v,
				       .acpi = (const char *const *)w->user_acpi.v,
				       .pins = (const char *const *)w->pins.v, .mirror = o->mirror, .offline = o->offline};
	if (dk_oc_stage(&sto, &w->st) < 0)
		return dk_fail_prefix("OpenCore EFI");
	w->staged = true;
	if (new_config(w) < 0)
		return -1;
	r->diff = dk_udiff(w->old_canon, w->new_xml, "config.plist", "config.plist (new)");
	if (validate_config(w) < 0)
		return -1;
	kext_changes(w);
	if (*r->diff || (!r->old_opencore) != (!r->new_opencore) ||
	    (r->old_opencore && strcmp(r->old_opencore, r->new_opencore)))
		r->changed = true;
	if (!r->changed || o->dry_run)
		return 0;
	if (apply(w) < 0)
		return -1;
	r->applied = true;
	return 0;
}

/* The manifest on disk is still the one b was opened with (another command
 * may have changed the VM before we held its lock). */
static int manifest_unchanged(const struct dk_bundle *b)
{
	_cleanup_free_ char *mpath = dk_asprintf("%s/manifest.json", b->dir);
	char *data = NULL;
	size_t len = 0;
	if (dk_read_file(mpath, &data, &len, 16 << 20) < 0)
		return dk_fail_prefix("%s: the VM changed while the update started", b->name);
	json_object *now = json_tokener_parse(data);
	free(data);
	bool same = now && json_object_equal(now, b->manifest);
	json_object_put(now);
	if (!same)
		return dk_fail("%s: another dkvm command changed the VM (%s) while the update started; run it again",
			       b->name, mpath);
	return 0;
}

int dk_vm_efi_rebuild(struct dk_bundle *b, const struct dk_efi_rebuild_opts *o, struct dk_efi_rebuild_result *r)
{
	memset(r, 0, sizeof *r);
	/* no create, start, tune, destroy or other update of this VM meanwhile */
	struct dk_vm_lock lock;
	if (dk_vm_lock(b->parent, b->name, &lock) < 0)
		return -1;
	if (lock.fd >= 0 && manifest_unchanged(b) < 0) {
		dk_vm_unlock(&lock);
		return -1;
	}
	struct rebuild w = {.b = b, .o = o, .r = r};
	int rc = rebuild(&w);
	if (w.tmp) {
		char msg[DK_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "%s", dk_errmsg());
		dk_rm_rf(w.tmp);
		if (rc < 0)
			dk_fail("%s", msg);
	}
	free(w.tmp);
	free(w.release);
	free(w.old_xml);
	free(w.sample);
	free(w.new_xml);
	free(w.old_canon);
	free(w.recovery);
	dk_strv_clear(&w.pins);
	dk_strv_clear(&w.user_kexts);
	dk_strv_clear(&w.user_acpi);
	dk_strv_clear(&w.drivers);
	dk_strv_clear(&w.driver_names);
	dk_strv_clear(&w.res_files);
	dk_strv_clear(&w.res_rels);
	if (w.staged)
		dk_oc_staged_free(&w.st);
	dk_vm_unlock(&lock);
	return rc;
}

json_object *dk_efi_rebuild_to_json(const struct dk_bundle *b, const struct dk_efi_rebuild_result *r, bool dry_run)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
	json_object_object_add(o, "changed", json_object_new_boolean(r->changed));
	json_object_object_add(o, "applied", json_object_new_boolean(r->applied));
	json_object *oc = json_object_new_object();
	json_object_object_add(oc, "old", dk_json_str(r->old_opencore));
	json_object_object_add(oc, "new", dk_json_str(r->new_opencore));
	json_object_object_add(oc, "release", dk_json_str(r->release));
	json_object_object_add(o, "opencore", oc);
	json_object *k = json_object_new_array();
	for (size_t i = 0; i < r->nkexts; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(r->kexts[i].name));
		json_object_object_add(e, "old", dk_json_str(r->kexts[i].old_version));
		json_object_object_add(e, "new", dk_json_str(r->kexts[i].new_version));
		json_object_array_add(k, e);
	}
	json_object_object_add(o, "kexts", k);
	json_object *c = json_object_new_array();
	for (size_t i = 0; i < r->nchanges; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "path", json_object_new_string(r->changes[i].path));
		json_object_object_add(e, "kind", json_object_new_string(r->changes[i].kind));
		json_object_array_add(c, e);
	}
	json_object_object_add(o, "config", c);
	json_object_object_add(o, "diff", dk_json_str(r->diff ? r->diff : ""));
	json_object *w = json_object_new_array();
	for (char **p = r->warnings; p && *p; p++)
		json_object_array_add(w, json_object_new_string(*p));
	json_object_object_add(o, "warnings", w);
	return o;
}
