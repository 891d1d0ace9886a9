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
#include "util/plist.h"
#include "util/bytes.h"
#include "util/strv.h"

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
	for (size_t i = 0; i < r->nentries; i++) {
		free(r->entries[i].name);
		free(r->entries[i].source);
		free(r->entries[i].sha256);
	}
	free(r->entries);
	r->entries = NULL;
	r->nentries = 0;
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

/* Where the bytes of a given item (struct dk_efi_item.src) come from. */
struct src {
	const char *host;          /* a host file or folder, or NULL */
	struct dk_oc_release *zip; /* borrowed from sources.zips */
	char *zpath;               /* the path inside zip */
};

/* Everything the user gave, as EFI tree items (opencore.h "EFI tree"). */
struct sources {
	struct dk_efi_given g;
	struct src *v;
	size_t n;
	struct dk_oc_release **zips;
	size_t nzips;
	struct dk_strv kexts, acpi; /* names given, to refuse twice the same */
};

static void sources_free(struct sources *s)
{
	dk_efi_given_free(&s->g);
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].zpath);
	free(s->v);
	for (size_t i = 0; i < s->nzips; i++)
		dk_oc_release_close(s->zips[i]);
	free(s->zips);
	dk_strv_clear(&s->kexts);
	dk_strv_clear(&s->acpi);
}

/* A user item whose bytes come from host (or zip:zpath). */
static void add_user(struct sources *s, const char *path, bool is_dir, const char *host, struct dk_oc_release *zip,
		     const char *zpath, const char *from)
{
	s->v = dk_realloc(s->v, (s->n + 1) * sizeof *s->v);
	s->v[s->n] = (struct src){.host = host, .zip = zip, .zpath = zpath ? dk_strdup(zpath) : NULL};
	dk_efi_given_add(&s->g, path, is_dir, DK_EFI_USER, (int)s->n, from);
	s->n++;
}

static int kext_name(struct sources *s, const char *name, const char *given)
{
	if (dk_strv_contains(s->kexts.v, name))
		return dk_fail("%s: a kext named %s is given twice", given, name);
	dk_strv_push(&s->kexts, name);
	return 0;
}

/* A .kext folder: copied whole; its files listed for the config's paths. */
static int collect_kext_dir(struct sources *s, const char *arg)
{
	_cleanup_free_ char *bn = base_dup(arg);
	_cleanup_free_ char *info = dk_asprintf("%s/Contents/Info.plist", arg);
	if (!dk_endswith(bn, ".kext"))
		return dk_fail("%s: a kext folder's name must end in .kext", arg);
	if (!dk_oc_is_file(info))
		return dk_fail("%s: missing Contents/Info.plist (not a kext)", arg);
	if (dk_kext_check_links(arg) < 0 || kext_name(s, bn, arg) < 0)
		return -1;
	_cleanup_free_ char *top = dk_asprintf("OC/Kexts/%s", bn);
	add_user(s, top, true, arg, NULL, NULL, arg);
	s->g.v[s->g.n - 1].whole = true;
	return dk_efi_given_host(&s->g, arg, top, DK_EFI_USER, (int)s->n - 1, arg);
}

/* One bundle of a kext zip, with its files. */
static int collect_zip_bundle(struct sources *s, struct dk_oc_release *z, const char *zpath, const char *arg)
{
	_cleanup_free_ char *nm = base_dup(zpath);
	_cleanup_free_ char *info = dk_asprintf("%s/Contents/Info.plist", zpath);
	if (!dk_oc_release_has(z, info))
		return dk_fail("%s: %s: missing Contents/Info.plist (not a kext)", arg, zpath);
	if (kext_name(s, nm, arg) < 0)
		return -1;
	_cleanup_free_ char *top = dk_asprintf("OC/Kexts/%s", nm);
	add_user(s, top, true, NULL, z, zpath, arg);
	char **files;
	size_t nf;
	if (dk_oc_release_list(z, zpath, &files, &nf) < 0)
		return -1;
	for (size_t j = 0; j < nf; j++) {
		_cleanup_free_ char *path = dk_asprintf("%s/%s", top, files[j]);
		_cleanup_free_ char *zp = dk_asprintf("%s/%s", zpath, files[j]);
		add_user(s, path, false, NULL, z, zp, arg);
	}
	dk_oc_release_names_free(files, nf);
	return 0;
}

static int collect_kext_zip(struct sources *s, const char *arg)
{
	if (!dk_oc_is_file(arg))
		return dk_fail("%s: no such kext folder or zip", arg);
	struct dk_oc_release *z;
	if (dk_oc_release_open(arg, &z) < 0)
		return -1;
	s->zips = dk_realloc(s->zips, (s->nzips + 1) * sizeof *s->zips);
	s->zips[s->nzips++] = z;
	char **paths;
	size_t np;
	dk_oc_release_kexts(z, &paths, &np);
	int r = np ? 0 : dk_fail("%s: no .kext bundle in the zip", arg);
	for (size_t j = 0; r == 0 && j < np; j++)
		r = collect_zip_bundle(s, z, paths[j], arg);
	dk_oc_release_names_free(paths, np);
	return r;
}

/* --acpi and --driver files: EFI/OC/ACPI/<name>, EFI/OC/Drivers/<name>. */
static int collect_files(struct sources *s, const char *const *files, const char *dir, struct dk_strv *once)
{
	for (size_t i = 0; files && files[i]; i++) {
		_cleanup_free_ char *bn = base_dup(files[i]);
		if (!dk_oc_is_file(files[i]))
			return fail_kind(files[i], false);
		if (once && dk_strv_contains(once->v, bn))
			return dk_fail("%s: an ACPI table named %s is given twice", files[i], bn);
		if (once)
			dk_strv_push(once, bn);
		_cleanup_free_ char *path = dk_asprintf("OC/%s/%s", dir, bn);
		add_user(s, path, false, files[i], NULL, NULL, files[i]);
	}
	return 0;
}

/* The release's X64/EFI, then --kext, --acpi, --driver. */
static int collect(const struct dk_oc_image_opts *o, struct dk_oc_release *rel, struct sources *s)
{
	char **files;
	size_t nf;
	if (dk_oc_release_list(rel, "X64/EFI", &files, &nf) < 0)
		return -1;
	for (size_t i = 0; i < nf; i++)
		dk_efi_given_add(&s->g, files[i], false, DK_EFI_RELEASE, -1, dk_oc_release_path(rel));
	dk_oc_release_names_free(files, nf);
	for (size_t i = 0; o->kexts && o->kexts[i]; i++) {
		const char *arg = o->kexts[i];
		if ((dk_oc_is_dir(arg) ? collect_kext_dir(s, arg) : collect_kext_zip(s, arg)) < 0)
			return -1;
	}
	if (collect_files(s, o->acpi, "ACPI", &s->acpi) < 0)
		return -1;
	if (collect_files(s, o->drivers, "Drivers", NULL) < 0)
		return -1;
	/* EFI/OC/Resources files (OcBinaryData's, for OpenCanopy) */
	for (size_t i = 0; o->resources && o->resources[i]; i++) {
		if (!o->resource_rels || !o->resource_rels[i])
			return dk_fail("opencore image: a resource without its path");
		if (!dk_oc_is_file(o->resources[i]))
			return fail_kind(o->resources[i], false);
		_cleanup_free_ char *path = dk_asprintf("OC/Resources/%s", o->resource_rels[i]);
		add_user(s, path, false, o->resources[i], NULL, NULL, o->resources[i]);
	}
	return 0;
}

/* The first error fails; warnings are passed on. */
static int report(const char *cfg, const struct dk_oc_findings *f)
{
	for (int i = 0; i < f->n; i++)
		if (f->v[i].severity == DK_OC_ERROR)
			return dk_fail("%s: %s%s%s", cfg, f->v[i].path, *f->v[i].path ? ": " : "", f->v[i].message);
	for (int i = 0; i < f->n; i++)
		dk_warn("%s", f->v[i].message);
	return 0;
}

static int write_copy(struct dk_fat_builder *b, struct dk_oc_release *rel, const struct sources *s, const char *cfg,
		      const struct dk_efi_copy *c)
{
	if (c->from == DK_EFI_NEW_DIR)
		return dk_fat_add_dir(b, c->dest);
	if (c->from == DK_EFI_FROM_CONFIG)
		return dk_fat_add_file(b, c->dest, cfg);
	const struct dk_efi_item *it = &s->g.v[c->item];
	if (it->origin == DK_EFI_RELEASE) {
		_cleanup_free_ char *relp = dk_asprintf("X64/EFI/%s", it->path);
		return add_release_file(b, rel, relp, c->dest);
	}
	const struct src *src = &s->v[it->src];
	if (it->whole && src->host)
		return dk_fat_add_tree(b, c->dest, src->host);
	if (it->is_dir)
		return dk_fat_add_dir(b, c->dest);
	if (src->host)
		return dk_fat_add_file(b, c->dest, src->host);
	return add_release_file(b, src->zip, src->zpath, c->dest);
}

/* What was copied, by folder (a kext: its bundle). */
static void record(const struct dk_efi_copy *c, struct dk_strv *drivers, struct dk_strv *tools, struct dk_strv *kexts,
		   struct dk_strv *acpis)
{
	static const char *const dirs[] = {"EFI/OC/Drivers/", "EFI/OC/Tools/", "EFI/OC/Kexts/", "EFI/OC/ACPI/"};
	struct dk_strv *lists[] = {drivers, tools, kexts, acpis};
	if (c->from != DK_EFI_FROM_ITEM)
		return;
	for (size_t i = 0; i < DK_ARRAY_SIZE(dirs); i++) {
		size_t l = strlen(dirs[i]);
		if (!strncmp(c->dest, dirs[i], l) && (lists[i] != kexts || !strchr(c->dest + l, '/')))
			dk_strv_push(lists[i], c->dest + l);
	}
}

struct entries {
	struct dk_oc_image_entry *v;
	size_t n;
};

/* What a copy is, for the result: kind, name, source and digest. */
static void add_entry(struct entries *es, struct dk_oc_release *rel, const struct sources *s,
		      const struct dk_efi_copy *c)
{
	static const char *const dirs[] = {"EFI/OC/Drivers/", "EFI/OC/Tools/", "EFI/OC/Kexts/", "EFI/OC/ACPI/"};
	static const char kinds[] = {'d', 't', 'k', 'a'};
	if (c->from != DK_EFI_FROM_ITEM)
		return;
	for (size_t i = 0; i < DK_ARRAY_SIZE(dirs); i++) {
		size_t l = strlen(dirs[i]);
		if (strncmp(c->dest, dirs[i], l) != 0 || strchr(c->dest + l, '/'))
			continue;
		const struct dk_efi_item *it = &s->g.v[c->item];
		struct dk_oc_image_entry e = {.kind = kinds[i], .name = dk_strdup(c->dest + l)};
		uint8_t d[32];
		char hex[65];
		bool have = false;
		if (it->origin == DK_EFI_RELEASE) {
			e.release = true;
			e.source = dk_strdup(dk_oc_release_path(rel));
			_cleanup_free_ char *relp = dk_asprintf("X64/EFI/%s", it->path);
			_cleanup_free_ char *data = NULL;
			size_t len;
			have = dk_oc_release_read(rel, relp, &data, &len) == 0 && dk_sha256(data, len, d) == 0;
		} else {
			const struct src *src = &s->v[it->src];
			e.source = dk_strdup(it->from ? it->from : "?");
			if (!it->is_dir && src->host)
				have = dk_sha256_file(src->host, d) == 0;
		}
		dk_errclear();
		if (have) {
			dk_hex(d, 32, hex);
			e.sha256 = dk_strdup(hex);
		}
		es->v = dk_realloc(es->v, (es->n + 1) * sizeof *es->v);
		es->v[es->n++] = e;
		return;
	}
}

/* --recovery and --add, outside the EFI tree. */
static int add_extras(const struct dk_oc_image_opts *o, struct dk_fat_builder *b)
{
	int r = 0;
	if (o->recovery) {
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
		if (!colon || colon == o->add[i] || !colon[1])
			return dk_fail("%s: expected SRC:DEST", o->add[i]);
		_cleanup_free_ char *src = dk_strndup(o->add[i], colon - o->add[i]);
		const char *dst = colon + 1;
		r = dk_oc_is_dir(src) ? dk_fat_add_tree(b, dst, src) : dk_fat_add_file(b, dst, src);
	}
	return r;
}

/* The whole volume into b; records what was copied. */
static int assemble(const struct dk_oc_image_opts *o, struct dk_fat_builder *b, struct dk_oc_release *rel,
		    plist_t root, struct dk_strv *drivers, struct dk_strv *tools, struct dk_strv *kexts,
		    struct dk_strv *acpis, struct entries *es)
{
	const char *rp = dk_oc_release_path(rel);
	if (!dk_oc_release_has(rel, "X64/EFI/OC/OpenCore.efi"))
		return dk_fail("%s: not an OpenCorePkg release: no X64/EFI/OC/OpenCore.efi", rp);
	if (!dk_oc_release_has(rel, "X64/EFI/BOOT/BOOTx64.efi"))
		return dk_fail("%s: not an OpenCorePkg release: no X64/EFI/BOOT/BOOTx64.efi", rp);
	struct sources s = {.g = {.release = rp, .config = o->config}};
	struct dk_efi_tree t = {0};
	struct dk_oc_findings f = {0};
	int r = collect(o, rel, &s);
	if (r == 0) {
		dk_efi_tree_plan(root, &s.g, &t, &f);
		r = report(o->config, &f);
	}
	for (size_t i = 0; r == 0 && i < t.n; i++) {
		r = write_copy(b, rel, &s, o->config, &t.v[i]);
		record(&t.v[i], drivers, tools, kexts, acpis);
		if (r == 0 && es)
			add_entry(es, rel, &s, &t.v[i]);
	}
	if (r == 0)
		r = add_extras(o, b);
	dk_oc_findings_free(&f);
	dk_efi_tree_free(&t);
	sources_free(&s);
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
	struct entries es = {0};
	int r = assemble(o, b, rel, root, &drivers, &tools, &kexts, &acpis, o->result ? &es : NULL);
	plist_free(root);
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
		res->entries = es.v;
		res->nentries = es.n;
		es.v = NULL;
		es.n = 0;
	}
	for (size_t i = 0; i < es.n; i++) {
		free(es.v[i].name);
		free(es.v[i].source);
		free(es.v[i].sha256);
	}
	free(es.v);
	dk_oc_release_close(rel);
	dk_strv_clear(&drivers);
	dk_strv_clear(&tools);
	dk_strv_clear(&kexts);
	dk_strv_clear(&acpis);
	dk_fat_free(b);
	return r;
}
