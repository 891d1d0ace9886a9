/* dkvm create: host -> plan -> SMBIOS -> OpenCore -> disk -> XML -> bundle. */
#include "vm/vm.h"
#include "vm/tune.h"
#include "vm/access.h"
#include "vm/efiman.h"
#include "host/host.h"
#include "smbios/smbios.h"
#include "smbios/memmap.h"
#include "tune/ocedit.h"
#include "opencore/opencore.h"
#include "opencore/release.h"
#include "fetch/fetch.h"
#include "image/gpt.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/paths.h"
#include "util/plist.h"
#include "util/cleanup.h"
#include "util/bytes.h"

#include <dirent.h>
#include <strings.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libxml/xmlstring.h>

void dk_create_result_free(struct dk_create_result *r)
{
	free(r->dir);
	dk_strv_free(r->warnings);
	if (r->manifest)
		json_object_put(r->manifest);
	if (r->efi)
		json_object_put(r->efi);
	memset(r, 0, sizeof *r);
}

static int copy_file(const char *src, const char *dst)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return dk_fail_errno("%s", src);
	struct stat st;
	if (fstat(in, &st) < 0)
		return dk_fail_errno("%s", src);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file", src);
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return dk_fail_errno("%s", dst);
	off_t left = st.st_size;
	while (left > 0) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
			char buf[1 << 16];
			ssize_t k = read(in, buf, sizeof buf);
			if (k < 0)
				return dk_fail_errno("%s", src);
			if (k == 0)
				break;
			if (dk_write_all(out, buf, (size_t)k) < 0)
				return dk_fail_prefix("%s", dst);
			left -= k;
			continue;
		}
		if (n < 0)
			return dk_fail_errno("%s -> %s", src, dst);
		if (n == 0)
			break;
		left -= n;
	}
	if (fsync(out) < 0)
		return dk_fail_errno("%s", dst);
	return 0;
}

/* A ready OpenCore image must be what the VM boots from: a raw GPT disk with an
 * EFI System Partition (it is attached with format=raw). */
static int check_opencore_image(const char *path)
{
	/* O_NONBLOCK: a FIFO is refused, not waited on */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return dk_fail_errno("%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return dk_fail_errno("%s", path);
	if (!S_ISREG(st.st_mode))
		return dk_fail("%s: not a regular file", path);
	uint8_t magic[4] = {0};
	if (st.st_size >= 4 && dk_pread_all(fd, magic, 4, 0) < 0)
		return dk_fail_prefix("%s", path);
	if (!memcmp(magic, "QFI\xfb", 4))
		return dk_fail("%s: a qcow2 image; --opencore-image takes a raw disk image "
			       "(dkvm opencore image --format raw)", path);
	struct dk_gpt_part esp;
	if (dk_gpt_find(fd, (uint64_t)st.st_size, dk_gpt_type_esp, &esp, path) < 0)
		return dk_fail_prefix("--opencore-image");
	return 0;
}

int dk_vm_name_check(const char *name, bool new_vm)
{
	bool ok = dk_name_is_safe(name) &&
		  (!new_vm || (name[0] != '-' && name[0] != '.' && xmlCheckUTF8((const xmlChar *)name)));
	if (ok)
		return 0;
	/* one line whatever the name holds */
	char shown[64];
	size_t n = 0;
	bool utf8 = name && xmlCheckUTF8((const xmlChar *)name);
	for (const char *p = name ? name : ""; *p && n + 4 < sizeof shown; p++) {
		unsigned char c = (unsigned char)*p;
		shown[n++] = c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8) ? '?' : *p;
	}
	snprintf(shown + n, sizeof shown - n, "%s", name && strlen(name) > n ? "..." : "");
	return dk_fail("VM name '%s': not a safe name (no '/', quotes, backslashes, '$' or control characters, "
		       "UTF-8, no leading '-' or '.', at most 200 bytes)",
		       shown);
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	return dk_write_file_atomic(path, text, strlen(text), true, mode);
}

/* One create in progress: the options, the result, and what the steps have
 * made so far (undone by build_undo on failure). */
struct build {
	const struct dk_create_opts *o;
	struct dk_create_result *r;
	virConnectPtr conn;
	const struct dk_virt_caps *caps;
	const char *parent, *final;
	bool exists;
	char *tmp, *t_oc, *t_disk, *t_vars;
	struct dk_bundle fin;         /* the final paths */
	struct dk_vm_files files;
	json_object *man;
	struct dk_smbios sm;
	struct dk_strv vols_made;     /* the storage volumes made (names) */
	char *vol_oc, *vol_vars;      /* their paths (the domain's OpenCore image, NVRAM) */
	bool defined;
	char **driver_names;          /* basenames of --driver files */
	struct dk_strv drivers;       /* every extra driver file: --driver, then OcBinaryData's */
	char *bindata_path, *bindata_source; /* the OcBinaryData driver fetched, or NULL */
	struct dk_oc_bindata_res resources;  /* OcBinaryData's Resources, for OpenCanopy (n 0: none) */
};

/* A warning for the user: kept in the result, the CLI prints it. */
static void add_warning(struct dk_create_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(struct dk_create_result *r, const char *fmt, ...)
{
	size_t n = 0;
	while (r->warnings && r->warnings[n])
		n++;
	r->warnings = dk_realloc(r->warnings, (n + 2) * sizeof *r->warnings);
	va_list ap;
	va_start(ap, fmt);
	r->warnings[n] = dk_vasprintf(fmt, ap);
	va_end(ap);
	r->warnings[n + 1] = NULL;
}

/* The OpenCorePkg release: given, or downloaded (cached). malloc'd path;
 * offline and not in the cache: NULL without an error (*missing set; the
 * staging says it with whatever else is missing). */
static char *oc_release(const struct dk_create_opts *o, bool *missing)
{
	*missing = false;
	if (o->opencore)
		return dk_strdup(o->opencore);
	struct dk_oc_fetched f = {0};
	if (o->offline) {
		int k = dk_oc_fetch_cached("OpenCorePkg", NULL, &f);
		if (k <= 0) {
			*missing = k == 0;
			return NULL;
		}
	} else if (dk_oc_fetch("OpenCorePkg", NULL, NULL, &f) < 0) {
		dk_oc_fetched_free(&f);
		dk_fail_prefix("OpenCore: cannot download the OpenCorePkg release (offline? pass --opencore ZIP|DIR, or --offline to use the cache)");
		return NULL;
	}
	char *release = dk_strdup(f.path);
	dk_oc_fetched_free(&f);
	return release;
}

static json_object *set_json(const struct dk_plan *p)
{
	struct dk_oc_set_opts so = dk_vm_oc_set_opts(p);
	struct dk_oc_set_item *items;
	size_t n;
	dk_oc_set_resolve(&so, &items, &n);
	json_object *j = json_object_new_object(), *k = json_object_new_array(), *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(items[i].name));
		json_object_object_add(e, "repo", items[i].repo ? json_object_new_string(items[i].repo) : NULL);
		json_object_object_add(e, "reason", json_object_new_string(items[i].reason));
		json_object_array_add(items[i].acpi ? a : k, e);
	}
	free(items);
	json_object_object_add(j, "kexts", k);
	json_object_object_add(j, "acpi", a);
	return j;
}

/* OpenCanopy (--picker gui, or --driver OpenCanopy.efi) and its Resources. */
static bool wants_canopy(const struct dk_create_opts *o)
{
	bool canopy = o->picker && !strcmp(o->picker, "gui");
	for (size_t i = 0; o->drivers && o->drivers[i]; i++) {
		const char *bn = strrchr(o->drivers[i], '/');
		canopy |= !strcasecmp(bn ? bn + 1 : o->drivers[i], "OpenCanopy.efi");
	}
	return canopy;
}

/* The "efi" list's "picker" entries (what --explain says about OpenCanopy). */
static void picker_json(const struct dk_create_opts *o, json_object *efi)
{
	if (!wants_canopy(o))
		return;
	json_object *l = json_object_new_array();
	json_object *e = json_object_new_object();
	json_object_object_add(e, "name", json_object_new_string("OpenCanopy.efi"));
	json_object_object_add(e, "reason", json_object_new_string(
		"guide 4.6: the graphical picker (the release's), PickerMode External, PickerAttributes 17, "
		"PickerVariant Acidanthera\\GoldenGate"));
	json_object_array_add(l, e);
	e = json_object_new_object();
	_cleanup_free_ char *why = dk_asprintf(
		"what OpenCanopy draws with, from acidanthera/OcBinaryData@%.12s (pinned, SHA-256 verified, cached): "
		"Font/Font_{1x,2x}.{bin,png}, Image/Acidanthera/GoldenGate, Label; no Audio: PickerAudioAssist stays off",
		dk_oc_bindata_commit());
	json_object_object_add(e, "name", json_object_new_string("Resources"));
	json_object_object_add(e, "reason", json_object_new_string(why));
	json_object_array_add(l, e);
	json_object_object_add(efi, "picker", l);
}

/* config.plist from the release's Sample.plist into the bundle's temporary
 * directory; the sample's release goes into oc (manifest). The host CPU kind
 * is the plan's (the facts'), not read again. */
static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* --driver files: each a regular *.efi file, no two of the same name. */
static int check_drivers(const char *const *drivers)
{
	for (size_t i = 0; drivers && drivers[i]; i++) {
		const char *bn = base_of(drivers[i]);
		struct stat st;
		if (stat(drivers[i], &st) < 0)
			return dk_fail_errno("--driver %s", drivers[i]);
		if (!S_ISREG(st.st_mode))
			return dk_fail("--driver %s: not a regular file", drivers[i]);
		if (!dk_name_is_safe(bn) || !dk_endswith(bn, ".efi"))
			return dk_fail("--driver %s: not a plain *.efi file name", drivers[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(base_of(drivers[j]), bn))
				return dk_fail("--driver %s: a driver named %s is given twice", drivers[i], bn);
	}
	return 0;
}

/* --memory-map: the guide's custom memory map (dkvm tune memory-map) in the new config. */
static int config_memory_map(struct build *b, char **xml, uint32_t *len)
{
	plist_t cfg = NULL, mem = NULL;
	char note[512];
	if (dk_memory_map_from(b->o->memory_map, b->r->plan.memory_mib, &mem, note, sizeof note) < 0)
		return -1;
	if (note[0])
		add_warning(b->r, "%s", note);
	if (dk_plist_parse(*xml, *len, "config.plist", &cfg) < 0) {
		plist_free(mem);
		return -1;
	}
	int rc = dk_oc_set_memory(cfg, mem);
	if (rc == 0) {
		char *out = NULL;
		uint32_t n = 0;
		plist_to_xml(cfg, &out, &n);
		if (!out) {
			rc = dk_fail("config.plist: cannot serialize it");
		} else {
			free(*xml);
			*xml = dk_strndup(out, n);
			*len = n;
			plist_to_xml_free(out);
		}
	}
	plist_free(cfg);
	return rc;
}

static int oc_config(struct build *b, const char *release, const char *kexts_dir, char *const *acpi,
		     json_object *oc)
{
	struct dk_oc_release *rel = NULL;
	if (dk_oc_release_open(release, &rel) < 0)
		return -1;
	char *sample = NULL;
	size_t slen = 0;
	int rc = dk_oc_release_read(rel, "Docs/Sample.plist", &sample, &slen);
	dk_oc_release_close(rel);
	if (rc < 0)
		return -1;
	_cleanup_free_ char *sample_path = dk_asprintf("%s/Sample.plist", b->tmp);
	rc = dk_write_file_atomic(sample_path, sample, slen, true, 0644);
	free(sample);
	if (rc < 0)
		return -1;
	struct dk_vm_oc_inputs in;
	struct dk_oc_config_opts co = dk_vm_oc_config_opts(&b->r->plan, NULL, &in);
	co.sample_path = sample_path;
	co.smbios = &b->sm;
	co.kexts_dir = kexts_dir;
	co.acpi = (const char *const *)acpi;
	co.drivers = (const char *const *)b->driver_names;
	co.boot_args = b->o->boot_args;
	co.picker = b->o->picker;
	co.force = b->o->force;
	char *xml = NULL;
	uint32_t xlen = 0;
	struct dk_oc_changes ch = {0};
	rc = dk_oc_config_build(&co, &xml, &xlen, &ch);
	dk_vm_oc_inputs_free(&in);
	const char *sample_rel = dk_oc_sample_release(sample_path, NULL);
	json_object_object_add(oc, "sample_release", json_object_new_string(sample_rel ? sample_rel : "unknown"));
	unlink(sample_path);
	if (rc < 0)
		return dk_fail_prefix("OpenCore config");
	dk_oc_changes_free(&ch);
	if (b->o->memory_map && (rc = config_memory_map(b, &xml, &xlen)) < 0) {
		free(xml);
		return -1;
	}
	_cleanup_free_ char *cfg = dk_asprintf("%s/config.plist", b->tmp);
	rc = dk_write_file_atomic(cfg, xml, xlen, true, 0600);
	free(xml);
	return rc;
}

/* recoveryOS: given, fetched into the temporary directory, or none (NULL,
 * no error). *fail is set on failure. */
static char *oc_recovery(struct build *b, bool *fail)
{
	*fail = false;
	if (b->o->recovery)
		return dk_strdup(b->o->recovery);
	if (b->o->no_recovery)
		return NULL;
	char *rdir = dk_asprintf("%s/recovery", b->tmp);
	struct dk_fetch_recovery_opts fo = {.macos = b->r->plan.macos, .outdir = rdir};
	struct dk_fetch_recovery_result fr = {0};
	if (dk_mkdir_p(rdir, 0755) < 0 || dk_fetch_recovery(&fo, &fr) < 0) {
		free(rdir);
		*fail = true;
		dk_fail_prefix("recoveryOS for %s (offline? pass --recovery DIR or --no-recovery)", b->r->plan.macos);
		return NULL;
	}
	dk_fetch_recovery_result_free(&fr);
	return rdir;
}

/* The extra drivers: --driver files, then the release family's HFS+ driver
 * from OcBinaryData when the release does not ship it and none was given. */
static int oc_drivers(struct build *b)
{
	const struct dk_create_opts *o = b->o;
	struct dk_strv names = {0};
	const char *hfs = NULL;
	for (size_t i = 0; o->drivers && o->drivers[i]; i++) {
		dk_strv_push(&b->drivers, o->drivers[i]);
		dk_strv_push(&names, base_of(o->drivers[i]));
		if (dk_oc_is_hfs_driver(base_of(o->drivers[i])))
			hfs = base_of(o->drivers[i]);
	}
	b->driver_names = dk_strv_take(&names);
	const struct dk_macos *os = dk_macos_find(b->r->plan.macos);
	if (hfs || !os)
		return 0;
	const char *want = dk_oc_hfs_driver(os);
	const struct dk_oc_bindata_file *pin;
	int k = dk_oc_bindata_find(want, &pin);
	if (k < 0)
		return -1;
	if (!k)
		return 0; /* the release has it */
	struct dk_oc_bindata_got g;
	if (dk_oc_bindata_fetch(want, NULL, &g) < 0)
		return dk_fail_prefix("macOS %s needs %s, which OpenCorePkg does not ship",
				      os->marketing, want);
	dk_strv_push(&b->drivers, g.path);
	b->bindata_path = DK_TAKE_PTR(g.path);
	b->bindata_source = DK_TAKE_PTR(g.source);
	dk_oc_bindata_got_free(&g);
	return 0;
}

/* OpenCanopy (--picker gui, or --driver OpenCanopy.efi) draws from
 * EFI/OC/Resources: OcBinaryData's, pinned, fetched or from the cache. */
static int oc_resources(struct build *b)
{
	const struct dk_create_opts *o = b->o;
	if (!wants_canopy(o))
		return 0;
	if (dk_oc_bindata_resources(NULL, o->offline, &b->resources) < 0)
		return dk_fail_prefix("OpenCanopy's Resources");
	return 0;
}

/* The manifest's "efi": what the image holds, with versions and sources. */
json_object *dk_vm_efi_json(const struct dk_oc_image_result *res, const char *oc_version, const char *bindata_path,
			    const char *bindata_source)
{
	json_object *efi = json_object_new_object();
	json_object *kx = json_object_new_array(), *ac = json_object_new_array(), *dr = json_object_new_array(),
		    *tl = json_object_new_array();
	json_object_object_add(efi, "opencore", oc_version ? json_object_new_string(oc_version) : NULL);
	json_object_object_add(efi, "kexts", kx);
	json_object_object_add(efi, "acpi", ac);
	json_object_object_add(efi, "drivers", dr);
	json_object_object_add(efi, "tools", tl);
	for (size_t i = 0; i < res->nentries; i++) {
		const struct dk_oc_image_entry *e = &res->entries[i];
		json_object *j = json_object_new_object();
		const char *version = NULL, *source = e->source;
		_cleanup_free_ char *rel_src = NULL;
		if (e->release) {
			version = oc_version;
			rel_src = dk_asprintf("OpenCorePkg %s", oc_version ? oc_version : "?");
			source = rel_src;
		} else if (bindata_path && !strcmp(e->source, bindata_path)) {
			version = dk_oc_bindata_commit();
			source = bindata_source;
		}
		json_object_object_add(j, "name", json_object_new_string(e->name));
		json_object_object_add(j, "version", version ? json_object_new_string(version) : NULL);
		json_object_object_add(j, "source", json_object_new_string(source));
		json_object_object_add(j, "sha256", e->sha256 ? json_object_new_string(e->sha256) : NULL);
		json_object *arr = e->kind == 'k' ? kx : e->kind == 'a' ? ac : e->kind == 'd' ? dr : tl;
		json_object_array_add(arr, j);
	}
	return efi;
}

/* What was staged, for the manifest. */
void dk_vm_staged_json(const struct dk_oc_staged *st, json_object *oc)
{
	json_object *k = json_object_new_array(), *a = json_object_new_array();
	for (size_t i = 0; i < st->ninfo; i++) {
		const struct dk_oc_staged_kext *x = &st->info[i];
		json_object *e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(x->name));
		json_object_object_add(e, "source", json_object_new_string(x->source));
		json_object_object_add(e, "version", x->version ? json_object_new_string(x->version) : NULL);
		json_object_object_add(e, "repo", x->repo ? json_object_new_string(x->repo) : NULL);
		json_object_object_add(e, "asset", x->asset ? json_object_new_string(x->asset) : NULL);
		json_object_object_add(e, "sha256", x->sha256 ? json_object_new_string(x->sha256) : NULL);
		json_object_array_add(k, e);
	}
	for (char **p = st->acpi_names; p && *p; p++)
		json_object_array_add(a, json_object_new_string(*p));
	json_object_object_add(oc, "kexts", k);
	json_object_object_add(oc, "acpi", a);
}

/* The staged kexts and SSDTs were copied from a temporary folder: name their
 * real sources (the kext release and its digest, the OpenCorePkg release). */
void dk_vm_efi_staged_sources(json_object *efi, const struct dk_oc_staged *st, const char *oc_version)
{
	json_object *kx = NULL, *ac = NULL;
	json_object_object_get_ex(efi, "kexts", &kx);
	json_object_object_get_ex(efi, "acpi", &ac);
	for (size_t i = 0; kx && i < json_object_array_length(kx); i++) {
		json_object *e = json_object_array_get_idx(kx, i);
		const char *n = dk_json_get_str(e, "name");
		for (size_t k = 0; n && k < st->ninfo; k++) {
			const struct dk_oc_staged_kext *x = &st->info[k];
			size_t l = strlen(x->name);
			if (strncmp(n, x->name, l) || strcmp(n + l, ".kext"))
				continue;
			_cleanup_free_ char *src = x->repo ? dk_asprintf("%s %s (%s)", x->repo, x->version ? x->version : "?", x->source)
							   : dk_strdup(x->source);
			json_object_object_add(e, "version", x->version ? json_object_new_string(x->version) : NULL);
			json_object_object_add(e, "source", json_object_new_string(src));
			if (x->sha256)
				json_object_object_add(e, "sha256", json_object_new_string(x->sha256));
		}
	}
	for (size_t i = 0; ac && i < json_object_array_length(ac); i++) {
		json_object *e = json_object_array_get_idx(ac, i);
		const char *src = dk_json_get_str(e, "source");
		if (src && strstr(src, "/efi/ACPI/")) {
			_cleanup_free_ char *rel = dk_asprintf("OpenCorePkg %s Docs/AcpiSamples/Binaries", oc_version ? oc_version : "?");
			json_object_object_add(e, "version", oc_version ? json_object_new_string(oc_version) : NULL);
			json_object_object_add(e, "source", json_object_new_string(rel));
		}
	}
}

/* Build the OpenCore image: release + the guide's kexts and SSDTs (staged in
 * the temporary bundle) + drivers + Sample.plist -> config -> image. */
static int build_opencore(struct build *b)
{
	const struct dk_create_opts *o = b->o;
	bool missing;
	_cleanup_free_ char *release = oc_release(o, &missing);
	if (!release && !missing)
		return -1;
	if (release) { /* a release that cannot be read fails before anything is fetched */
		struct dk_oc_release *rel = NULL;
		if (dk_oc_release_open(release, &rel) < 0)
			return -1;
		bool ok = dk_oc_release_has(rel, "Docs/Sample.plist");
		dk_oc_release_close(rel);
		if (!ok)
			return dk_fail("%s: no Docs/Sample.plist in the release", release);
	}
	if (oc_drivers(b) < 0 || oc_resources(b) < 0)
		return -1;
	_cleanup_free_ char *stage = dk_asprintf("%s/efi", b->tmp);
	const char *kext_dirs[] = {o->kexts, NULL};
	struct dk_oc_stage_opts so = {.set = dk_vm_oc_set_opts(&b->r->plan), .release = release, .dir = stage,
				      .kext_dirs = o->kexts ? kext_dirs : NULL, .kexts = o->kext_list, .acpi = o->acpi,
				      .pins = o->kext_pins, .offline = o->offline};
	struct dk_oc_staged st;
	if (dk_oc_stage(&so, &st) < 0)
		return dk_fail_prefix("OpenCore EFI");
	json_object *oc = json_object_new_object();
	_cleanup_free_ char *kdir = dk_asprintf("%s/Kexts", stage);
	int rc = oc_config(b, release, kdir, st.acpi_names, oc);
	bool fail = false;
	_cleanup_free_ char *recovery = rc < 0 ? NULL : oc_recovery(b, &fail);
	if (rc < 0 || fail) {
		dk_oc_staged_free(&st);
		json_object_put(oc);
		return -1;
	}
	_cleanup_free_ char *cfg = dk_asprintf("%s/config.plist", b->tmp);
	struct dk_oc_image_result res = {0};
	struct dk_oc_image_opts io = {
		.release = release,
		.config = cfg,
		.kexts = (const char *const *)st.kexts,
		.acpi = (const char *const *)st.acpi,
		.recovery = recovery,
		.output = b->t_oc,
		.drivers = (const char *const *)b->drivers.v,
		.resources = (const char *const *)b->resources.files,
		.resource_rels = (const char *const *)b->resources.rels,
		.result = &res,
	};
	rc = dk_oc_image_build(&io);
	dk_vm_staged_json(&st, oc);
	dk_rm_rf(stage); /* on the image now */
	if (recovery && !o->recovery)
		dk_rm_rf(recovery); /* fetched into the bundle: it is on the image now */
	if (rc < 0) {
		dk_oc_staged_free(&st);
		dk_oc_image_result_free(&res);
		json_object_put(oc);
		return dk_fail_prefix("OpenCore image");
	}
	json_object *sr;
	const char *ocv = json_object_object_get_ex(oc, "sample_release", &sr) ? json_object_get_string(sr) : NULL;
	json_object *efi = dk_vm_efi_json(&res, ocv && strcmp(ocv, "unknown") ? ocv : NULL, b->bindata_path, b->bindata_source);
	dk_vm_efi_staged_sources(efi, &st, ocv && strcmp(ocv, "unknown") ? ocv : NULL);
	if (b->resources.n) {
		json_object *rs = json_object_new_object();
		json_object_object_add(rs, "version", json_object_new_string(dk_oc_bindata_commit()));
		json_object_object_add(rs, "source", json_object_new_string(b->resources.source));
		json_object_object_add(rs, "files", json_object_new_int64((int64_t)b->resources.n));
		json_object_object_add(efi, "resources", rs);
	}
	json_object_object_add(b->man, "efi", efi);
	dk_oc_staged_free(&st);
	dk_oc_image_result_free(&res);
	json_object_object_add(oc, "release", json_object_new_string(release));
	/* the config's inputs, so that a later rebuild (dkvm update) keeps them */
	json_object *ba = json_object_new_array();
	for (size_t i = 0; o->boot_args && o->boot_args[i]; i++)
		json_object_array_add(ba, json_object_new_string(o->boot_args[i]));
	json_object_object_add(oc, "boot_args", ba);
	json_object_object_add(oc, "picker", json_object_new_string(o->picker ? o->picker : "text"));
	if (o->force) /* what the guide forbids was accepted (VirtualSMC): a rebuild accepts it too */
		json_object_object_add(oc, "force", json_object_new_boolean(true));
	json_object_object_add(oc, "recovery", recovery ? json_object_new_string(o->recovery ? o->recovery : "fetched") : NULL);
	json_object_object_add(b->man, "opencore", oc);
	return 0;
}
static char *qemu_version(const char *qemu)
{
	char *out = NULL;
	char *argv[] = {(char *)qemu, "--version", NULL};
	if (dk_run(argv, &out, 5000) < 0) {
		free(out);
		dk_errclear();
		return NULL;
	}
	char *v = strstr(out, "version ");
	char *res = NULL;
	if (v) {
		v += 8;
		size_t n = strcspn(v, " \n");
		res = dk_strndup(v, n);
	}
	free(out);
	return res;
}

static const char *start_sh =
	"#!/bin/sh\n"
	"# Start this VM with QEMU directly (what `dkvm start` does, in the foreground).\n"
	"cd \"$(dirname \"$0\")\" || exit 1\n"
	"exec sh ./qemu.argv \"$@\"\n";

/* ---- the bundle, one step per artifact ---- */

/* The temporary bundle directory beside the final one, its file paths, and
 * the manifest's head. */
static int step_tmpdir(struct build *b)
{
	if (dk_mkdir_p(b->parent, 0755) < 0)
		return -1;
	/* A remote libvirt opens the bundle's paths on its own machine. (A local
	 * one is given access by dk_bundle_access() once the bundle exists.) */
	if (b->o->uri && !b->o->pool && !dk_virt_uri_is_local(b->o->uri))
		add_warning(b->r, "libvirt %s is remote: the bundle's files must exist at the same paths there (%s), "
				  "or use --pool to upload them",
			    b->o->uri, b->final);
	b->tmp = dk_asprintf("%s/.%s.XXXXXX", b->parent, b->o->name);
	if (!mkdtemp(b->tmp)) {
		dk_fail_errno("%s", b->tmp);
		free(b->tmp);
		b->tmp = NULL;
		return -1;
	}
	chmod(b->tmp, 0700); /* secrets inside: SMBIOS serials, UUID */
	dk_bundle_paths(&b->fin, b->parent, b->o->name);
	b->files = dk_bundle_files(&b->fin);
	b->t_oc = dk_asprintf("%s/OpenCore.img", b->tmp);
	b->t_disk = dk_asprintf("%s/disk.qcow2", b->tmp);
	b->t_vars = dk_asprintf("%s/OVMF_VARS.fd", b->tmp);
	b->man = json_object_new_object();
	json_object_object_add(b->man, "dkvm_version", json_object_new_string(DKVM_VERSION));
	json_object_object_add(b->man, "name", json_object_new_string(b->o->name));
	json_object_object_add(b->man, "created", json_object_new_int64((int64_t)time(NULL)));
	return 0;
}

static int step_smbios(struct build *b)
{
	const struct dk_mac_model *mm = dk_mac_model_find(b->r->plan.model);
	if (!mm)
		return dk_fail("SMBIOS: model %s is not in the model table", b->r->plan.model);
	if (dk_smbios_generate(mm, &b->sm) < 0)
		return dk_fail_prefix("SMBIOS");
	json_object_object_add(b->man, "smbios", dk_smbios_to_json(&b->sm));
	return 0;
}

/* OpenCore.img: a ready image copied, or built. */
static int step_opencore(struct build *b)
{
	const char *img = b->o->opencore_image;
	if (!img)
		return build_opencore(b);
	if (check_opencore_image(img) < 0 || copy_file(img, b->t_oc) < 0)
		return -1;
	json_object *oc = json_object_new_object();
	json_object_object_add(oc, "image", json_object_new_string(img));
	json_object_object_add(b->man, "opencore", oc);
	return 0;
}

/* The disk: disk.qcow2 in the bundle (with --pool uploaded by step_volumes). */
static int step_disk(struct build *b)
{
	char size[32];
	snprintf(size, sizeof size, "%llu", (unsigned long long)b->r->plan.disk_bytes);
	char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", b->t_disk, size, NULL};
	char *cap = NULL;
	int k = dk_run(argv, &cap, 60000);
	free(cap);
	if (k < 0)
		return dk_fail_prefix("disk");
	chmod(b->t_disk, 0600); /* the guest's data */
	return 0;
}

/* The per-VM copy of the OVMF variable store. */
static int step_vars(struct build *b) { return copy_file(b->r->plan.ovmf_vars, b->t_vars); }

/* --pool: every file the domain uses becomes a volume of the pool, created
 * (all first: a name taken fails before any upload) and uploaded through
 * libvirt's storage API, so a remote libvirt needs nothing copied. The
 * domain then names the volumes' paths; OpenCore.img and OVMF_VARS.fd stay
 * in the bundle as local copies, the disk lives only in the pool. */
static int step_volumes(struct build *b)
{
	const struct dk_create_opts *o = b->o;
	if (!o->pool)
		return 0;
	static const char *const roles[] = {"disk", "opencore", "vars"};
	const char *src[] = {b->t_disk, b->t_oc, b->t_vars};
	char *names[3] = {0}, *paths[3] = {0};
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++) {
		names[i] = dk_vm_volume_name(o->name, roles[i]);
		struct stat st;
		if (stat(src[i], &st) < 0) {
			rc = dk_fail_errno("%s", src[i]);
			break;
		}
		if (o->force && dk_virt_vol_delete(b->conn, o->pool, names[i]) < 0) {
			rc = -1;
			break;
		}
		rc = dk_virt_vol_create(b->conn, o->pool, names[i], (uint64_t)st.st_size, "raw", &paths[i]);
		if (rc == 0)
			dk_strv_push(&b->vols_made, names[i]);
	}
	json_object *vols = json_object_new_array();
	for (int i = 0; i < 3 && rc == 0; i++) {
		uint8_t sum[32];
		char hex[65];
		struct stat st;
		if (dk_virt_vol_upload(b->conn, o->pool, names[i], src[i]) < 0 || stat(src[i], &st) < 0 ||
		    dk_sha256_file(src[i], sum) < 0) {
			rc = -1;
			break;
		}
		dk_hex(sum, sizeof sum, hex);
		json_object *v = json_object_new_object();
		json_object_object_add(v, "role", json_object_new_string(roles[i]));
		json_object_object_add(v, "pool", json_object_new_string(o->pool));
		json_object_object_add(v, "volume", json_object_new_string(names[i]));
		json_object_object_add(v, "path", json_object_new_string(paths[i]));
		json_object_object_add(v, "bytes", json_object_new_int64((int64_t)st.st_size));
		json_object_object_add(v, "sha256", json_object_new_string(hex));
		json_object_array_add(vols, v);
	}
	if (rc == 0) {
		json_object_object_add(b->man, "volumes", DK_TAKE_PTR(vols));
		json_object *dj = json_object_new_object();
		json_object_object_add(dj, "path", json_object_new_string(paths[0]));
		json_object_object_add(dj, "pool", json_object_new_string(o->pool));
		json_object_object_add(dj, "volume", json_object_new_string(names[0]));
		json_object_object_add(b->man, "disk", dj);
		free(b->fin.disk);
		b->fin.disk = DK_TAKE_PTR(paths[0]);
		b->files = dk_bundle_files(&b->fin);
		b->vol_oc = DK_TAKE_PTR(paths[1]);
		b->vol_vars = DK_TAKE_PTR(paths[2]);
		unlink(b->t_disk); /* the disk is the volume now */
	}
	if (vols)
		json_object_put(vols);
	for (int i = 0; i < 3; i++) {
		free(names[i]);
		free(paths[i]);
	}
	return rc;
}

/* domain.xml (defined in libvirt when connected), qemu.argv, start.sh. */
static int step_render(struct build *b)
{
	const struct dk_plan *p = &b->r->plan;
	/* the domain's files: the volumes where there are */
	struct dk_vm_files df = b->files;
	if (b->vol_oc)
		df.opencore = b->vol_oc;
	if (b->vol_vars)
		df.vars = b->vol_vars;
	char *xml = NULL;
	if (dk_libvirt_xml(p, &df, b->caps, &xml) < 0)
		return -1;
	_cleanup_free_ char *xp = dk_asprintf("%s/domain.xml", b->tmp);
	int k = write_text(xp, xml, 0600);
	if (k == 0 && b->conn && (k = dk_virt_define(b->conn, xml)) == 0)
		b->defined = true;
	free(xml);
	if (k < 0)
		return -1;
	char *full = dk_vm_argv_file(p, &b->files);
	if (!full)
		return -1;
	_cleanup_free_ char *ap = dk_asprintf("%s/qemu.argv", b->tmp);
	_cleanup_free_ char *sp = dk_asprintf("%s/start.sh", b->tmp);
	k = write_text(ap, full, 0700);
	free(full);
	if (k < 0 || write_text(sp, start_sh, 0755) < 0)
		return -1;
	return 0;
}

/* manifest.json: plan, versions, libvirt binding. */
static int step_manifest(struct build *b)
{
	json_object *man = b->man;
	json_object_object_add(man, "plan", dk_plan_to_json(&b->r->plan));
	json_object *ver = json_object_new_object();
	char *qv = qemu_version(b->r->plan.qemu_path);
	json_object_object_add(ver, "qemu", qv ? json_object_new_string(qv) : NULL);
	free(qv);
	unsigned long v = b->caps->version;
	if (v) {
		char lv[32];
		snprintf(lv, sizeof lv, "%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
		json_object_object_add(ver, "libvirt", json_object_new_string(lv));
	}
	json_object_object_add(man, "versions", ver);
	json_object *lv = json_object_new_object();
	json_object_object_add(lv, "uri", b->o->uri ? json_object_new_string(b->o->uri) : NULL);
	json_object_object_add(lv, "defined", json_object_new_boolean(b->defined));
	json_object_object_add(man, "libvirt", lv);
	/* what dkvm wrote, so that dkvm tune sees hand edits */
	json_object *fj = json_object_new_object();
	static const char *const written[] = {"domain.xml", "qemu.argv"};
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *wp = dk_asprintf("%s/%s", b->tmp, written[i]);
		uint8_t h[32];
		char hx[65];
		if (dk_sha256_file(wp, h) < 0)
			return -1;
		dk_hex(h, sizeof h, hx);
		json_object_object_add(fj, written[i], json_object_new_string(hx));
	}
	json_object_object_add(man, "files", fj);
	const char *s = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	_cleanup_free_ char *mp = dk_asprintf("%s/manifest.json", b->tmp);
	_cleanup_free_ char *txt = dk_strjoin(s, "\n");
	return write_text(mp, txt, 0600);
}

/* Commit: move an old bundle aside (--force), rename the new one in. */
static int step_commit(struct build *b)
{
	_cleanup_free_ char *old = NULL;
	if (b->exists) {
		old = dk_asprintf("%s/.%s.old.%d", b->parent, b->o->name, (int)getpid());
		if (rename(b->final, old) < 0)
			return dk_fail_errno("%s", b->final);
	}
	if (rename(b->tmp, b->final) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			dk_fail("%s: another dkvm create of this VM is running or has just finished", b->o->name);
		else
			dk_fail_errno("%s -> %s", b->tmp, b->final);
		if (old)
			rename(old, b->final);
		return -1;
	}
	if (old)
		dk_rm_rf(old);
	return 0;
}

/* A failed build leaves nothing: the domain, the volume, the temporary
 * directory go; the first error is kept. */
static void build_undo(struct build *b)
{
	char msg[DK_ERRMSG_MAX];
	snprintf(msg, sizeof msg, "%s", dk_errmsg());
	if (b->defined && b->conn)
		dk_virt_undefine(b->conn, b->o->name);
	for (size_t i = 0; b->conn && i < b->vols_made.n; i++)
		if (dk_virt_vol_delete(b->conn, b->o->pool, b->vols_made.v[i]) < 0)
			dk_errclear();
	if (b->tmp)
		dk_rm_rf(b->tmp);
	dk_fail("%s", msg);
}

typedef int (*build_step)(struct build *);

static int build_bundle(struct build *b, const build_step *steps)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && steps[i]; i++)
		rc = steps[i](b);
	if (rc == 0) {
		b->r->dir = dk_strdup(b->final);
		b->r->defined = b->defined;
		b->r->manifest = DK_TAKE_PTR(b->man);
	} else {
		build_undo(b);
	}
	if (b->man)
		json_object_put(b->man);
	dk_bundle_close(&b->fin);
	dk_strv_free(b->driver_names);
	dk_strv_clear(&b->drivers);
	free(b->bindata_path);
	free(b->bindata_source);
	dk_oc_bindata_res_free(&b->resources);
	free(b->t_oc);
	free(b->t_disk);
	dk_strv_clear(&b->vols_made);
	free(b->vol_oc);
	free(b->vol_vars);
	free(b->t_vars);
	free(b->tmp);
	return rc;
}

/* ---- create: facts -> plan -> bundle ---- */

/* Failed host checks: the ISA, QEMU and OVMF refuse in the plan; the rest is
 * said (IOMMU only matters for passthrough). */
static void warn_host_checks(const struct dk_facts *f, struct dk_create_result *r)
{
	struct dk_checks cs = {0};
	dk_host_checks(&f->host, &cs);
	for (size_t i = 0; i < cs.n; i++)
		if (cs.v[i].status == DK_CHECK_FAIL && strncmp(cs.v[i].id, "iommu", 5) != 0 &&
		    strncmp(cs.v[i].id, "macos", 5) != 0 && strncmp(cs.v[i].id, "libvirt.", 8) != 0)
			add_warning(r, "host check %s: %s (see dkvm host check)", cs.v[i].id, cs.v[i].summary);
	dk_checks_free(&cs);
}

/* With --no-grant, libvirt's QEMU user must already reach the parent
 * directory: else refuse before anything is built, with the setfacl command. */
static int check_no_grant(const struct dk_create_opts *o, const struct dk_facts *f, const char *parent)
{
	/* --pool: the domain uses volumes of the pool, not the bundle */
	if (!f->qemu_user_known || !o->no_grant || o->dry_run || o->pool)
		return 0;
	/* the deepest existing directory at or above the parent */
	_cleanup_free_ char *d = dk_strdup(parent);
	while (!dk_path_exists(d) && strrchr(d, '/') && strrchr(d, '/') != d)
		*strrchr(d, '/') = '\0';
	const char *dirs[] = {d, NULL};
	struct dk_grants g = {0};
	if (dk_access_missing(&f->qemu_user, dirs, 0, &g) < 0)
		return -1;
	int rc = 0;
	if (g.n) {
		_cleanup_free_ char *fix = dk_access_fix(&g);
		rc = dk_fail("%s: libvirt's QEMU runs as %s and cannot reach %s; run: %s (or use --dir under "
			     "/var/lib/libvirt/images, or leave out --no-grant)",
			     o->name, dk_ident_str(&f->qemu_user), parent, fix);
	}
	dk_grants_free(&g);
	return rc;
}

/* --force never pulls a bundle away from a running QEMU; the grants the old
 * bundle recorded go on with its replacement (*old_access). */
static int check_replace(const struct dk_create_opts *o, const char *parent, json_object **old_access)
{
	struct dk_bundle old;
	if (dk_bundle_open(parent, o->name, &old) < 0) {
		dk_errclear();
		return 0;
	}
	json_object *acc;
	if (json_object_object_get_ex(old.manifest, "access", &acc) && acc)
		*old_access = json_object_get(acc);
	struct dk_vm_state st;
	dk_vm_state(&old, &st);
	bool running = !strcmp(st.state, "running") || !strcmp(st.state, "paused");
	dk_bundle_close(&old);
	dk_errclear();
	if (running)
		return dk_fail("%s: is running; stop it first (dkvm stop %s)", o->name, o->name);
	return 0;
}

/* libvirt's QEMU (another user) reaches the bundle from now on. */
static void grant_access(const struct dk_create_opts *o, virConnectPtr conn, const char *parent,
			 json_object **old_access, struct dk_create_result *r)
{
	struct dk_bundle b;
	struct dk_access_result ar;
	int k = dk_bundle_open(parent, o->name, &b);
	if (k == 0 && *old_access) {
		json_object_object_add(b.manifest, "access", DK_TAKE_PTR(*old_access));
		k = dk_bundle_write_manifest(&b);
	}
	if (k < 0 || dk_bundle_access(&b, conn, o->no_grant, &ar) < 0) {
		add_warning(r, "%s", dk_errmsg());
		dk_errclear();
	}
	dk_bundle_close(&b);
}

/* Refusals from the facts, before the plan: QEMU missing, a domain of that
 * name without --force, --no-grant where libvirt's QEMU cannot reach. */
static int check_facts(const struct dk_create_opts *o, const struct dk_facts *f, const char *parent)
{
	if (!o->no_host_check && f->qemu_missing)
		return dk_fail("host: QEMU not found (%s): install qemu-system-x86",
			       f->host.qemu.path[0] ? f->host.qemu.path : "/usr/bin/qemu-system-x86_64");
	if (check_no_grant(o, f, parent) < 0)
		return -1;
	if (f->domain_defined && !o->force)
		return dk_fail("%s: a domain of that name is already defined in %s (use --force to replace it)", o->name,
			       o->uri);
	return 0;
}

static int create_unlocked(const struct dk_create_opts *o, struct dk_create_result *r)
{
	_cleanup_free_ char *parent = dk_bundle_parent(o->parent);
	_cleanup_free_ char *final = dk_asprintf("%s/%s", parent, o->name);
	bool exists = dk_path_exists(final);
	if (o->pool && !o->uri)
		return dk_fail("--pool %s: needs --connect URI (the pool is libvirt's)", o->pool);
	if (exists && !o->force && !o->dry_run)
		return dk_fail("%s: a VM (or its kept disk) exists at %s; use --force to replace it", o->name, final);
	if (check_drivers(o->drivers) < 0)
		return -1;
	if (o->drivers && o->drivers[0] && o->opencore_image)
		return dk_fail("--driver: not with --opencore-image (the image is used as is)");

	struct dk_plan_opts po = o->plan;
	po.name = o->name;
	po.accel = (enum dk_accel_choice)o->accel;
	po.force_devices = o->force;
	/* the ROM file is the user's (not the host's): resolved here, read by QEMU */
	_cleanup_free_ char *rom = NULL;
	if (po.gpu_rom) {
		struct stat st;
		if (!(rom = realpath(po.gpu_rom, NULL)) || stat(rom, &st) < 0)
			return dk_fail("--gpu-rom %s: %s", po.gpu_rom, strerror(errno));
		if (!S_ISREG(st.st_mode) || access(rom, R_OK) < 0)
			return dk_fail("--gpu-rom %s: not a readable regular file", po.gpu_rom);
		po.gpu_rom = rom;
	}
	po.pool = o->pool;
	virConnectPtr conn = NULL;
	if (o->uri && !(conn = dk_virt_open(o->uri)))
		return -1;
	/* the pool first: nothing is built for a pool that is not there */
	if (o->pool && dk_virt_pool_check(conn, o->pool) < 0) {
		dk_virt_close(conn);
		return -1;
	}
	struct dk_facts f;
	struct dk_facts_opts fo = {.name = o->name, .conn = conn, .uri = o->uri, .domain_uuid = o->force,
				   .cpu_model = dk_plan_cpu_model(&po), .accel = po.accel,
				   .pci = po.gpu || po.n_usb || po.audio};
	if (dk_facts_gather(&fo, &f) < 0) {
		dk_virt_close(conn);
		return -1;
	}
	json_object *old_access = NULL;
	int rc = -1;
	warn_host_checks(&f, r);
	if (check_facts(o, &f, parent) < 0 || dk_plan_build(&f, &po, &r->plan) < 0)
		goto out;
	for (int i = 0; i < r->plan.n_warnings; i++)
		add_warning(r, "%s", r->plan.warnings[i]);
	if (exists && o->force && !o->dry_run && check_replace(o, parent, &old_access) < 0)
		goto out;
	rc = 0;
	if (!o->opencore_image) {
		r->efi = set_json(&r->plan);
		picker_json(o, r->efi);
	}
	if (o->dry_run)
		goto out;
	struct build b = {.o = o, .r = r, .conn = conn, .caps = &f.caps, .parent = parent, .final = final,
			  .exists = exists};
	static const build_step steps[] = {step_tmpdir, step_smbios, step_opencore, step_disk, step_vars,
					   step_volumes, step_render, step_manifest, step_commit, NULL};
	rc = build_bundle(&b, steps);
	if (rc == 0 && conn && dk_virt_uri_is_local(o->uri))
		grant_access(o, conn, parent, &old_access, r);
out:
	if (old_access)
		json_object_put(old_access);
	dk_facts_free(&f);
	dk_virt_close(conn);
	return rc;
}


/* ---- PowerPC (vm/ppc.h): disk, argv, manifest; no OpenCore, OVMF, SMBIOS ---- */

/* domain.xml (defined in libvirt when connected), qemu.argv, start.sh. */
static int step_ppc_render(struct build *b)
{
	const struct dk_ppc_plan *p = &b->r->ppc_plan;
	if (b->conn) {
		char *xml = NULL;
		if (dk_ppc_libvirt_xml(p, &b->files, &xml) < 0)
			return -1;
		_cleanup_free_ char *xp = dk_asprintf("%s/domain.xml", b->tmp);
		int k = write_text(xp, xml, 0600);
		if (k == 0 && b->o->force)
			dk_virt_undefine(b->conn, b->o->name);
		if (k == 0 && (k = dk_virt_define(b->conn, xml)) == 0)
			b->defined = true;
		free(xml);
		if (k < 0)
			return -1;
	}
	struct dk_qemu_opts qo = {.display = DK_DISPLAY_GTK, .direct_io = true, .serial_file = false};
	struct dk_argv a;
	if (dk_ppc_qemu_argv(p, &b->files, &qo, &a) < 0)
		return -1;
	char *sh = dk_argv_to_shell(&a);
	dk_argv_free(&a);
	char *full = dk_asprintf("#!/bin/sh\n# QEMU command line of VM %s (dkvm %s)\nexec %s", b->o->name, DKVM_VERSION, sh);
	free(sh);
	_cleanup_free_ char *ap = dk_asprintf("%s/qemu.argv", b->tmp);
	_cleanup_free_ char *sp = dk_asprintf("%s/start.sh", b->tmp);
	int k = write_text(ap, full, 0700);
	free(full);
	if (k < 0 || write_text(sp, start_sh, 0755) < 0)
		return -1;
	return 0;
}

/* manifest.json: "arch": "ppc", the PowerPC plan, versions, libvirt binding. */
static int step_ppc_manifest(struct build *b)
{
	json_object *man = b->man;
	json_object_object_add(man, "arch", json_object_new_string("ppc"));
	json_object_object_add(man, "plan", dk_ppc_plan_to_json(&b->r->ppc_plan));
	json_object *ver = json_object_new_object();
	char *qv = qemu_version(b->r->ppc_plan.qemu_path);
	json_object_object_add(ver, "qemu", qv ? json_object_new_string(qv) : NULL);
	free(qv);
	json_object_object_add(man, "versions", ver);
	json_object *lv = json_object_new_object();
	json_object_object_add(lv, "uri", b->o->uri ? json_object_new_string(b->o->uri) : NULL);
	json_object_object_add(lv, "defined", json_object_new_boolean(b->defined));
	json_object_object_add(man, "libvirt", lv);
	const char *s = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	_cleanup_free_ char *mp = dk_asprintf("%s/manifest.json", b->tmp);
	_cleanup_free_ char *txt = dk_strjoin(s, "\n");
	return write_text(mp, txt, 0600);
}

/* The install media: an existing regular file (a FIFO is refused, not
 * waited on), as an absolute path. malloc'd. */
static char *ppc_iso(const char *iso)
{
	char *abs = realpath(iso, NULL);
	if (!abs) {
		dk_fail_errno("--iso %s", iso);
		return NULL;
	}
	int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		dk_fail_errno("--iso %s", iso);
	} else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		dk_fail("--iso %s: not a regular file (an ISO, .toast or .cdr image)", iso);
	} else {
		close(fd);
		return abs;
	}
	if (fd >= 0)
		close(fd);
	free(abs);
	return NULL;
}

static int create_ppc(const struct dk_create_opts *o, struct dk_create_result *r)
{
	_cleanup_free_ char *parent = dk_bundle_parent(o->parent);
	_cleanup_free_ char *final = dk_asprintf("%s/%s", parent, o->name);
	bool exists = dk_path_exists(final);
	if (o->pool)
		return dk_fail("--pool: not with --arch ppc");
	if (exists && !o->force && !o->dry_run)
		return dk_fail("%s: a VM (or its kept disk) exists at %s; use --force to replace it", o->name, final);
	_cleanup_free_ char *iso = NULL;
	if (o->iso && !(iso = ppc_iso(o->iso)))
		return -1;
	virConnectPtr conn = NULL;
	if (o->uri && !(conn = dk_virt_open(o->uri)))
		return -1;
	struct dk_ppc_facts f;
	json_object *old_access = NULL;
	int rc = -1;
	if (dk_ppc_facts_gather(o->name, conn, o->uri, &f) < 0)
		goto out;
	if (f.domain_defined && !o->force) {
		dk_fail("%s: a domain of that name is already defined in %s (use --force to replace it)", o->name, o->uri);
		goto out;
	}
	struct dk_ppc_plan_opts po = {.name = o->name, .macos = o->plan.macos, .memory_bytes = o->plan.memory_bytes,
				      .disk_bytes = o->plan.disk_bytes, .iso = iso, .mac = o->plan.mac,
				      .uuid = o->plan.uuid};
	if (dk_ppc_plan_build(&f, &po, &r->ppc_plan) < 0)
		goto out;
	r->ppc = true;
	dk_ppc_plan_common(&r->ppc_plan, &r->plan);
	if (exists && o->force && !o->dry_run && check_replace(o, parent, &old_access) < 0)
		goto out;
	rc = 0;
	if (o->dry_run)
		goto out;
	struct dk_virt_caps none = {0};
	struct build b = {.o = o, .r = r, .conn = conn, .caps = &none, .parent = parent, .final = final,
			  .exists = exists};
	static const build_step steps[] = {step_tmpdir, step_disk, step_ppc_render, step_ppc_manifest, step_commit, NULL};
	rc = build_bundle(&b, steps);
	if (rc == 0 && conn && dk_virt_uri_is_local(o->uri))
		grant_access(o, conn, parent, &old_access, r);
out:
	if (old_access)
		json_object_put(old_access);
	dk_virt_close(conn);
	return rc;
}

int dk_vm_create(const struct dk_create_opts *o, struct dk_create_result *r)
{
	memset(r, 0, sizeof *r);
	if (dk_vm_name_check(o->name, true) < 0)
		return -1;
	int (*const create)(const struct dk_create_opts *, struct dk_create_result *) = o->ppc ? create_ppc : create_unlocked;
	if (o->dry_run)
		return create(o, r);
	_cleanup_free_ char *parent = dk_bundle_parent(o->parent);
	bool had_parent = dk_path_exists(parent);
	if (dk_mkdir_p(parent, 0755) < 0)
		return -1;
	/* one create (update, tune, start, destroy) of a name at a time */
	struct dk_vm_lock lock;
	int rc = dk_vm_lock(parent, o->name, &lock) < 0 ? -1 : create(o, r);
	dk_vm_unlock(&lock);
	if (rc < 0 && !had_parent)
		rmdir(parent); /* made for nothing (only when empty) */
	return rc;
}
