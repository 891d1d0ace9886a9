/* The guide's EFI set (opencore.h, "the guide's EFI set"): which kexts and
 * SSDTs go in EFI/OC for a model, release and passed-through devices (a data
 * table), and staging them: kext release zips fetched through dk_oc_fetch()
 * and unpacked, codeless kexts written, SSDTs taken from the OpenCorePkg
 * release, the user's own kexts and SSDTs replacing those of the same name. */
#include "opencore/oc_internal.h"
#include "opencore/release.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/paths.h"
#include "util/strv.h"

#include <dirent.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEGACY "MacPro5,1|MacPro4,1|MacPro3,1|MacPro2,1|MacPro1,1"
#define GPU(x) (1u << (x))
#define ACPI_DIR "Docs/AcpiSamples/Binaries/"

/* A row applies when every condition holds. Kernel limits (MinKernel/MaxKernel)
 * are in the known-kext table (recipes.c), which Kernel/Add uses; os_min is
 * therefore checked against the newest release of the model's range (every
 * os_min row has a MinKernel), so the config survives an in-place upgrade. */
static const struct rule {
	const char *name;   /* kext name, or SSDT file (.aml) */
	const char *os_min; /* dk_macos name, NULL = any */
	bool modern_only, legacy_only;
	const char *models; /* '|'-separated, NULL = any */
	unsigned gpus;      /* 1 << enum dk_gpu, 0 = any */
	bool audio;         /* only with motherboard audio */
	bool codeless;      /* Info.plist only, written by dkvm */
	const char *reason;
} rules[] = {
	{"Lilu", NULL, false, false, NULL, 0, false, false,
	 "guide: always (the patching base of the other kexts)"},
	{"VMHide", "sonoma", false, false, NULL, 0, false, false,
	 "guide: required from Sonoma (Bluetooth on 14, Apple ID/iCloud on 15); MinKernel 23.0.0"},
	{"AppleMCEReporterDisabler", "monterey", false, false, NULL, 0, false, true,
	 "guide: required on KVM from macOS 12.3 (MinKernel 21.4.0); a plist-only kext written by dkvm"},
	{"RestrictEvents", NULL, false, false, "MacPro7,1", 0, false, false,
	 "guide (RestrictEvents write-up): MacPro7,1's memory-misconfigured and PCI-slot notifications off"},
	{"WhateverGreen", NULL, false, false, NULL,
	 GPU(DK_GPU_AMD) | GPU(DK_GPU_NVIDIA) | GPU(DK_GPU_NAVI) | GPU(DK_GPU_KEPLER), false, false,
	 "guide: AMD (Navi 10 and older, Navi 21 for DRM) and NVIDIA GPUs need WhateverGreen"},
	{"NootRX", NULL, false, false, NULL, GPU(DK_GPU_NAVI22), false, false,
	 "guide: Navi 22 (RX 67xx) needs NootRX, never together with WhateverGreen"},
	{"AppleALC", NULL, false, false, NULL, 0, true, false,
	 "guide (motherboard audio write-up): passed-through HD Audio needs AppleALC"},
	{"SSDT-EC-USBX-DESKTOP.aml", NULL, true, false, NULL, 0, false, false,
	 "guide: SSDT-EC-USBX (a dummy EC and USB power properties; the release's desktop build)"},
	{"SSDT-PLUG-ALT.aml", NULL, true, false, NULL, 0, false, false,
	 "guide: SSDT-PLUG (plugin-type, XCPM); the -ALT build because QEMU declares its CPUs as "
	 "ACPI0007 Device objects (\\_SB.CPUS.Cnnn), which the plain SSDT-PLUG does not find"},
	{"SSDT-EC-DESKTOP.aml", NULL, false, true, NULL, 0, false, false,
	 "guide (MacPro5,1): SSDT-EC only (the release's desktop build)"},
};

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *bar = strchrnul(p, '|');
		if ((size_t)(bar - p) == n && !strncasecmp(p, name, n))
			return true;
		p = *bar ? bar + 1 : bar;
	}
	return false;
}

static bool rule_applies(const struct rule *r, const struct dk_oc_set_opts *o)
{
	bool legacy = o->model && in_list(LEGACY, o->model->name);
	if (r->modern_only && legacy)
		return false;
	if (r->legacy_only && !legacy)
		return false;
	if (o->restrict_events && !strcmp(r->name, "RestrictEvents"))
		return true;
	if (r->models && (!o->model || !in_list(r->models, o->model->name)))
		return false;
	/* upgrade-safe: a kext a later release of the model's range needs is in
	 * the set already (its MinKernel, from the known-kext table, gates it) */
	const struct dk_macos *newest = o->macos;
	const struct dk_macos *hi = o->model ? dk_macos_find(o->model->macos_max) : NULL;
	if (hi && (!newest || dk_macos_cmp(hi, newest) > 0))
		newest = hi;
	if (r->os_min && newest && dk_macos_cmp(newest, dk_macos_find(r->os_min)) < 0)
		return false;
	if (r->gpus && !(r->gpus & GPU(o->gpu)))
		return false;
	if (r->audio && !o->audio)
		return false;
	return true;
}

static const struct rule *rule_find(const char *name)
{
	for (size_t i = 0; i < DK_ARRAY_SIZE(rules); i++)
		if (!strcasecmp(rules[i].name, name))
			return &rules[i];
	return NULL;
}

void dk_oc_set_resolve(const struct dk_oc_set_opts *o, struct dk_oc_set_item **items, size_t *n)
{
	*items = dk_calloc(DK_ARRAY_SIZE(rules) + 1, sizeof **items);
	*n = 0;
	for (size_t i = 0; i < DK_ARRAY_SIZE(rules); i++) {
		const struct rule *r = &rules[i];
		if (!rule_applies(r, o))
			continue;
		bool acpi = dk_endswith(r->name, ".aml");
		(*items)[(*n)++] = (struct dk_oc_set_item){
			.name = r->name, .repo = acpi || r->codeless ? NULL : dk_oc_fetch_repo(r->name), .acpi = acpi,
			.reason = r->reason};
	}
}

int dk_oc_pins_check(const char *const *pins)
{
	for (size_t i = 0; pins && pins[i]; i++) {
		const char *eq = strchr(pins[i], '=');
		if (!eq || eq == pins[i] || !eq[1])
			return dk_fail("--kext-version '%s': expected NAME=VERSION (Lilu=1.6.9)", pins[i]);
		_cleanup_free_ char *name = dk_strndup(pins[i], (size_t)(eq - pins[i]));
		if (!dk_oc_fetch_repo(name))
			return dk_fail("--kext-version '%s': %s is not a kext dkvm fetches", pins[i], name);
		if (!dk_name_is_safe(eq + 1))
			return dk_fail("--kext-version '%s': not a valid version", pins[i]);
	}
	return 0;
}

static const char *pin_for(const char *const *pins, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; pins && pins[i]; i++)
		if (!strncasecmp(pins[i], name, n) && pins[i][n] == '=')
			return pins[i] + n + 1;
	return NULL;
}

void dk_oc_staged_free(struct dk_oc_staged *s)
{
	if (!s)
		return;
	dk_strv_free(s->kexts);
	dk_strv_free(s->acpi);
	dk_strv_free(s->acpi_names);
	for (size_t i = 0; i < s->ninfo; i++) {
		struct dk_oc_staged_kext *k = &s->info[i];
		free(k->name);
		free(k->source);
		free(k->version);
		free(k->repo);
		free(k->asset);
		free(k->sha256);
	}
	free(s->info);
	memset(s, 0, sizeof *s);
}

/* ---- writing the staged files ---- */

/* The codeless AppleMCEReporterDisabler: an Info.plist whose personalities
 * out-probe Apple's MCE reporter (reference: companion-tools §8b). */
static plist_t mce_personality(const char *category, const char *provider)
{
	plist_t p = plist_new_dict();
	plist_dict_set_item(p, "CFBundleIdentifier", plist_new_string("com.apple.driver.AppleIntelMCEReporter"));
	plist_dict_set_item(p, "IOClass", plist_new_string("IOService"));
	plist_dict_set_item(p, "IOMatchCategory", plist_new_string(category));
	plist_dict_set_item(p, "IOProbeScore", plist_new_uint(5000));
	plist_dict_set_item(p, "IOProviderClass", plist_new_string(provider));
	return p;
}

static int write_mce_kext(const char *bundle)
{
	plist_t root = plist_new_dict();
	plist_dict_set_item(root, "CFBundleDevelopmentRegion", plist_new_string("English"));
	plist_dict_set_item(root, "CFBundleIdentifier", plist_new_string("org.dkvm.AppleMCEReporterDisabler"));
	plist_dict_set_item(root, "CFBundleInfoDictionaryVersion", plist_new_string("6.0"));
	plist_dict_set_item(root, "CFBundleName", plist_new_string("AppleMCEReporterDisabler"));
	plist_dict_set_item(root, "CFBundlePackageType", plist_new_string("KEXT"));
	plist_dict_set_item(root, "CFBundleShortVersionString", plist_new_string("1.0"));
	plist_dict_set_item(root, "CFBundleSignature", plist_new_string("????"));
	plist_dict_set_item(root, "CFBundleVersion", plist_new_string("1.0"));
	plist_t pers = plist_new_dict();
	plist_dict_set_item(pers, "AppleIntelMCEReporter",
			    mce_personality("AppleIntelMCEReporter", "AppleIntelMCEInterruptNub"));
	plist_t ctl = mce_personality("AppleIntelMCEInterruptController", "IOPlatformExpertDevice");
	plist_t match = plist_new_array();
	static const char *const boards[] = {"Mac-F60DEB81FF30ACF6", "Mac-7BA5B2D9E42DDD94", "Mac-27AD2F918AE68F61"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(boards); i++) {
		plist_t m = plist_new_dict();
		plist_dict_set_item(m, "board-id", plist_new_string(boards[i]));
		plist_array_append_item(match, m);
	}
	plist_dict_set_item(ctl, "IOPropertyMatch", match);
	plist_dict_set_item(pers, "AppleIntelMCEInterruptController", ctl);
	plist_dict_set_item(root, "IOKitPersonalities", pers);
	plist_dict_set_item(root, "OSBundleRequired", plist_new_string("Root"));
	char *xml = NULL;
	uint32_t len = 0;
	plist_to_xml(root, &xml, &len);
	plist_free(root);
	_cleanup_free_ char *contents = dk_asprintf("%s/Contents", bundle);
	_cleanup_free_ char *info = dk_asprintf("%s/Info.plist", contents);
	int r = xml && dk_mkdir_p(contents, 0755) == 0 ? dk_write_file_atomic(info, xml, len, false, 0644) : -1;
	if (xml)
		plist_to_xml_free(xml);
	return r;
}

/* Copy the files of folder rel inside release/zip r to dest. */
static int unpack_tree(struct dk_oc_release *r, const char *rel, const char *dest)
{
	char **names = NULL;
	size_t n = 0;
	if (dk_oc_release_list(r, rel, &names, &n) < 0)
		return -1;
	int rc = n ? 0 : dk_fail("%s: %s is empty", dk_oc_release_path(r), rel);
	for (size_t i = 0; i < n && rc == 0; i++) {
		_cleanup_free_ char *src = dk_asprintf("%s/%s", rel, names[i]);
		_cleanup_free_ char *dst = dk_asprintf("%s/%s", dest, names[i]);
		_cleanup_free_ char *dir = dk_strndup(dst, (size_t)(strrchr(dst, '/') - dst));
		char *data = NULL;
		size_t len = 0;
		rc = dk_oc_release_read(r, src, &data, &len);
		if (rc == 0)
			rc = dk_mkdir_p(dir, 0755);
		if (rc == 0)
			rc = dk_write_file_atomic(dst, data, len, false, 0644);
		free(data);
	}
	dk_oc_release_names_free(names, n);
	return rc;
}

/* The bundles of a kext zip; only: the one named want (NULL: all). */
static int unpack_zip(const char *zip, const char *want, const char *kdir, struct dk_strv *names)
{
	struct dk_oc_release *r = NULL;
	if (dk_oc_release_open(zip, &r) < 0)
		return -1;
	char **paths = NULL;
	size_t np = 0;
	dk_oc_release_kexts(r, &paths, &np);
	int rc = 0, got = 0;
	for (size_t i = 0; i < np && rc == 0; i++) {
		const char *bn = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];
		_cleanup_free_ char *nm = dk_strndup(bn, strlen(bn) - 5);
		if (want && strcmp(nm, want) != 0)
			continue;
		if (dk_strv_contains(names->v, nm)) {
			if (want)
				continue;
			rc = dk_fail("%s: a kext named %s.kext is given twice", zip, nm);
			break;
		}
		_cleanup_free_ char *dest = dk_asprintf("%s/%s.kext", kdir, nm);
		rc = unpack_tree(r, paths[i], dest);
		if (rc == 0) {
			dk_strv_push(names, nm);
			got++;
		}
	}
	if (rc == 0 && !got)
		rc = want ? dk_fail("%s: no %s.kext in the zip", zip, want) : dk_fail("%s: no .kext bundle in the zip", zip);
	dk_oc_release_names_free(paths, np);
	dk_oc_release_close(r);
	return rc;
}

struct stage {
	const struct dk_oc_stage_opts *o;
	char *kdir, *adir;
	struct dk_strv kexts;  /* staged kext names */
	struct dk_strv acpi;   /* staged SSDT names */
	struct dk_oc_staged *out;
};

static struct dk_oc_staged_kext *info_add(struct stage *s, const char *name, const char *source, const char *reason)
{
	s->out->info = dk_realloc(s->out->info, (s->out->ninfo + 1) * sizeof *s->out->info);
	struct dk_oc_staged_kext *k = &s->out->info[s->out->ninfo++];
	memset(k, 0, sizeof *k);
	k->name = dk_strdup(name);
	k->source = dk_strdup(source);
	k->reason = reason;
	return k;
}

/* A user .kext folder: linked in (copied into the image as it is). */
static int stage_user_dir(struct stage *s, const char *path)
{
	const char *bn = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!dk_endswith(bn, ".kext") || strlen(bn) < 6)
		return dk_fail("%s: a kext folder's name must end in .kext", path);
	_cleanup_free_ char *nm = dk_strndup(bn, strlen(bn) - 5);
	if (dk_strv_contains(s->kexts.v, nm))
		return dk_fail("%s: a kext named %s.kext is given twice", path, nm);
	_cleanup_free_ char *abs = realpath(path, NULL);
	if (!abs)
		return dk_fail_errno("%s", path);
	_cleanup_free_ char *link = dk_asprintf("%s/%s", s->kdir, bn);
	if (symlink(abs, link) < 0)
		return dk_fail_errno("%s", link);
	dk_strv_push(&s->kexts, nm);
	info_add(s, nm, "user", NULL)->asset = dk_strdup(abs);
	return 0;
}

static int stage_user(struct stage *s)
{
	const struct dk_oc_stage_opts *o = s->o;
	for (size_t i = 0; o->kext_dirs && o->kext_dirs[i]; i++) {
		const char *d = o->kext_dirs[i];
		DIR *dd = opendir(d);
		if (!dd)
			return dk_fail_errno("%s", d);
		struct dk_strv found = {0};
		struct dirent *e;
		while ((e = readdir(dd)))
			if (e->d_name[0] != '.' && dk_endswith(e->d_name, ".kext"))
				dk_strv_push_take(&found, dk_asprintf("%s/%s", d, e->d_name));
		closedir(dd);
		int rc = 0;
		for (size_t j = 0; j < found.n && rc == 0; j++)
			rc = stage_user_dir(s, found.v[j]);
		dk_strv_clear(&found);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; o->kexts && o->kexts[i]; i++) {
		const char *k = o->kexts[i];
		if (dk_oc_is_dir(k)) {
			if (stage_user_dir(s, k) < 0)
				return -1;
			continue;
		}
		if (!dk_oc_is_file(k))
			return dk_fail("%s: no such kext folder or zip", k);
		size_t before = s->kexts.n;
		if (unpack_zip(k, NULL, s->kdir, &s->kexts) < 0)
			return -1;
		for (size_t j = before; j < s->kexts.n; j++)
			info_add(s, s->kexts.v[j], "user", NULL)->asset = dk_strdup(k);
	}
	for (size_t i = 0; o->acpi && o->acpi[i]; i++) {
		const char *a = o->acpi[i];
		const char *bn = strrchr(a, '/') ? strrchr(a, '/') + 1 : a;
		if (!dk_name_is_safe(bn) || !(dk_endswith(bn, ".aml") || dk_endswith(bn, ".bin")))
			return dk_fail("%s: an SSDT's name must end in .aml or .bin", a);
		if (dk_strv_contains(s->acpi.v, bn))
			return dk_fail("%s: an SSDT named %s is given twice", a, bn);
		char *data = NULL;
		size_t len = 0;
		_cleanup_free_ char *dst = dk_asprintf("%s/%s", s->adir, bn);
		int rc = dk_read_file(a, &data, &len, 16u << 20);
		if (rc == 0)
			rc = dk_write_file_atomic(dst, data, len, false, 0644);
		free(data);
		if (rc < 0)
			return -1;
		dk_strv_push(&s->acpi, bn);
	}
	return 0;
}

/* One release kext: fetched or cached, its bundle unpacked. A download that
 * proves unusable is not kept. */
static int stage_fetched(struct stage *s, const struct dk_oc_set_item *it, struct dk_strv *missing)
{
	const char *ver = pin_for(s->o->pins, it->name);
	struct dk_oc_fetched f;
	if (s->o->offline) {
		int k = dk_oc_fetch_cached(it->name, ver, &f);
		if (k < 0)
			return -1;
		if (k == 0) {
			dk_strv_push_take(missing, dk_asprintf("%s %s", it->repo, ver ? ver : "(any version)"));
			return 0;
		}
	} else if (dk_oc_fetch(it->name, ver, s->o->mirror, &f) < 0) {
		return dk_fail_prefix("%s", it->name);
	}
	if (unpack_zip(f.path, it->name, s->kdir, &s->kexts) < 0) {
		if (!f.cached)
			dk_oc_fetched_discard(&f);
		dk_oc_fetched_free(&f);
		return dk_fail_prefix("%s", it->name);
	}
	struct dk_oc_staged_kext *k = info_add(s, it->name, f.cached ? "cached" : "fetched", it->reason);
	k->version = DK_TAKE_PTR(f.version);
	k->repo = DK_TAKE_PTR(f.repo);
	k->asset = DK_TAKE_PTR(f.asset);
	k->sha256 = DK_TAKE_PTR(f.sha256);
	dk_oc_fetched_free(&f);
	return 0;
}

static int stage_acpi(struct stage *s, struct dk_oc_release **rel, const struct dk_oc_set_item *it,
		      struct dk_strv *missing)
{
	if (dk_strv_contains(s->acpi.v, it->name))
		return 0; /* the user's own file of that name */
	if (!s->o->release && s->o->offline) {
		if (!dk_strv_contains(missing->v, "acidanthera/OpenCorePkg (any version)"))
			dk_strv_push(missing, "acidanthera/OpenCorePkg (any version)");
		return 0;
	}
	if (!s->o->release)
		return dk_fail("%s: no OpenCorePkg release to take it from", it->name);
	if (!*rel && dk_oc_release_open(s->o->release, rel) < 0)
		return -1;
	_cleanup_free_ char *src = dk_asprintf(ACPI_DIR "%s", it->name);
	if (!dk_oc_release_has(*rel, src))
		return dk_fail("%s: the OpenCorePkg release has no %s (give the SSDT with --acpi FILE)",
			       dk_oc_release_path(*rel), src);
	char *data = NULL;
	size_t len = 0;
	_cleanup_free_ char *dst = dk_asprintf("%s/%s", s->adir, it->name);
	int rc = dk_oc_release_read(*rel, src, &data, &len);
	if (rc == 0)
		rc = dk_write_file_atomic(dst, data, len, false, 0644);
	free(data);
	if (rc == 0)
		dk_strv_push(&s->acpi, it->name);
	return rc;
}

static int stage_set(struct stage *s)
{
	struct dk_oc_set_item *items;
	size_t n;
	dk_oc_set_resolve(&s->o->set, &items, &n);
	struct dk_strv missing = {0};
	struct dk_oc_release *rel = NULL;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct dk_oc_set_item *it = &items[i];
		if (it->acpi) {
			rc = stage_acpi(s, &rel, it, &missing);
		} else if (dk_strv_contains(s->kexts.v, it->name)) {
			continue; /* the user's kext replaces it */
		} else if (rule_find(it->name) && rule_find(it->name)->codeless) {
			_cleanup_free_ char *b = dk_asprintf("%s/%s.kext", s->kdir, it->name);
			rc = write_mce_kext(b);
			if (rc == 0) {
				dk_strv_push(&s->kexts, it->name);
				info_add(s, it->name, "dkvm", it->reason)->version = dk_strdup("1.0");
			}
		} else {
			rc = stage_fetched(s, it, &missing);
		}
	}
	dk_oc_release_close(rel);
	free(items);
	if (rc == 0 && missing.n) {
		_cleanup_free_ char *list = dk_strv_join(missing.v, ", ");
		rc = dk_fail("--offline: not in the cache: %s (run dkvm opencore fetch with network first)", list);
	}
	dk_strv_clear(&missing);
	return rc;
}

int dk_oc_stage(const struct dk_oc_stage_opts *o, struct dk_oc_staged *out)
{
	memset(out, 0, sizeof *out);
	if (dk_oc_pins_check(o->pins) < 0)
		return -1;
	if (mkdir(o->dir, 0700) < 0)
		return dk_fail_errno("%s", o->dir);
	struct stage s = {.o = o, .out = out};
	s.kdir = dk_asprintf("%s/Kexts", o->dir);
	s.adir = dk_asprintf("%s/ACPI", o->dir);
	int rc = dk_mkdir_p(s.kdir, 0755) < 0 || dk_mkdir_p(s.adir, 0755) < 0 ? -1 : 0;
	if (rc == 0)
		rc = stage_user(&s);
	if (rc == 0)
		rc = stage_set(&s);
	if (rc == 0) {
		struct dk_strv k = {0}, a = {0};
		for (size_t i = 0; i < s.kexts.n; i++)
			dk_strv_push_take(&k, dk_asprintf("%s/%s.kext", s.kdir, s.kexts.v[i]));
		for (size_t i = 0; i < s.acpi.n; i++)
			dk_strv_push_take(&a, dk_asprintf("%s/%s", s.adir, s.acpi.v[i]));
		out->kexts = dk_strv_take(&k);
		out->acpi = dk_strv_take(&a);
		out->acpi_names = dk_strv_take(&s.acpi);
	} else {
		dk_oc_staged_free(out);
		char msg[DK_ERRMSG_MAX];
		snprintf(msg, sizeof msg, "%s", dk_errmsg());
		dk_rm_rf(o->dir);
		dk_fail("%s", msg);
	}
	dk_strv_clear(&s.kexts);
	dk_strv_clear(&s.acpi);
	free(s.kdir);
	free(s.adir);
	return rc;
}

/* ---- GPU kind names ---- */

const char *const dk_gpu_names[] = {[DK_GPU_NONE] = "none", [DK_GPU_AMD] = "amd", [DK_GPU_NVIDIA] = "nvidia",
				    [DK_GPU_NAVI22] = "navi22", [DK_GPU_NAVI] = "navi", [DK_GPU_KEPLER] = "kepler",
				    NULL};

const char *dk_gpu_name(enum dk_gpu g)
{
	return (size_t)g < DK_ARRAY_SIZE(dk_gpu_names) - 1 ? dk_gpu_names[g] : "none";
}

int dk_gpu_from_name(const char *name)
{
	for (int i = 0; name && dk_gpu_names[i]; i++)
		if (!strcmp(dk_gpu_names[i], name))
			return i;
	return -1;
}
