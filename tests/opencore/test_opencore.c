/* opencore config + validate: library-level tests on the real Sample.plist
 * files of OpenCore 1.0.5, 1.0.6 and 1.0.7. */
#include "t.h"
#include "opencore/opencore.h"
#include "opencore/oc_internal.h"
#include "smbios/smbios.h"
#include "smbios/macos.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/plist.h"
#include "util/cleanup.h"
#include "util/report.h"
#include "util/strv.h"

#include <plist/plist.h>
#include <string.h>

static const char *const releases[] = {"1.0.5", "1.0.6", "1.0.7"};

static char *sample_path(const char *rel)
{
	char *name = dk_asprintf("fixtures/opencore/Sample-%s.plist", rel);
	char *p = t_path(t_shared(), name);
	free(name);
	return p;
}

static char *read_all(const char *path, size_t *len)
{
	char *d = NULL;
	if (dk_read_file(path, &d, len, 64u << 20) < 0)
		return NULL;
	return d;
}

/* Build a config; returns XML or NULL. */
static char *build(const char *sample, const char *model, const char *os, enum dk_gpu gpu, enum dk_host_cpu_kind cpu,
		   const char *resolution, uint32_t *len, struct dk_oc_changes *ch)
{
	const struct dk_mac_model *m = dk_mac_model_find(model);
	struct dk_smbios id;
	if (!m || dk_smbios_generate(m, &id) < 0)
		return NULL;
	struct dk_oc_config_opts o = {
		.sample_path = sample, .model = m, .macos = dk_macos_find(os), .gpu = gpu, .host_cpu = cpu,
		.smbios = &id, .resolution = resolution,
	};
	char *xml = NULL;
	if (dk_oc_config_build(&o, &xml, len, ch) < 0)
		return NULL;
	return xml;
}

static int count_errors(const char *xml, uint32_t len, const char *sample_xml, size_t slen, bool show)
{
	struct dk_oc_findings f;
	if (dk_oc_validate_xml(xml, len, sample_xml, (uint32_t)slen, NULL, &f) < 0)
		return -1;
	int e = f.errors;
	if (show)
		for (int i = 0; i < f.n; i++)
			if (f.v[i].severity == DK_OC_ERROR)
				fprintf(stderr, "    %s: %s [%s]\n", f.v[i].path, f.v[i].message, f.v[i].rule);
	dk_oc_findings_free(&f);
	return e;
}

static bool has_finding(const char *xml, uint32_t len, const char *sample_xml, size_t slen, const char *path,
			const char *rule)
{
	struct dk_oc_findings f;
	if (dk_oc_validate_xml(xml, len, sample_xml, (uint32_t)slen, NULL, &f) < 0)
		return false;
	bool hit = false;
	for (int i = 0; i < f.n; i++)
		if (!strcmp(f.v[i].path, path) && (!rule || !strcmp(f.v[i].rule, rule)) && f.v[i].severity == DK_OC_ERROR)
			hit = true;
	if (!hit) {
		fprintf(stderr, "    expected %s [%s]; got:\n", path, rule ? rule : "*");
		for (int i = 0; i < f.n; i++)
			fprintf(stderr, "      %s: %s [%s]\n", f.v[i].path, f.v[i].message, f.v[i].rule);
	}
	dk_oc_findings_free(&f);
	return hit;
}

TEST(kernel_versions)
{
	CHECK(dk_oc_kernel_version("22.0.0") == 220000);
	CHECK(dk_oc_kernel_version("29.99.99") == 299999);
	CHECK(dk_oc_kernel_version("8") == 80000);
	CHECK(dk_oc_kernel_version("22.") < 0);
	CHECK(dk_oc_kernel_version("abc") < 0);
	CHECK(dk_oc_kernel_version("") < 0);
	CHECK(dk_oc_kernel_version("100.0.0") < 0);
}

TEST(release_detection)
{
	CHECK_STR(dk_oc_sample_release("/x/Sample-1.0.6.plist", NULL), "1.0.6");
	CHECK_STR(dk_oc_sample_release("/c/OpenCore-1.0.5-RELEASE/Docs/Sample.plist", NULL), "1.0.5");
	CHECK_STR(dk_oc_sample_release("/nonexistent/Sample.plist", NULL), "unknown");
	/* content fingerprint when the path has no version */
	char *sp = sample_path("1.0.5");
	char *data = NULL;
	size_t len;
	CHECK(dk_read_file(sp, &data, &len, 1 << 24) == 0);
	char *copy = t_path(t_tmpdir(), "Sample.plist");
	CHECK(dk_write_file_atomic(copy, data, len, true, 0644) == 0);
	CHECK_STR(dk_oc_sample_release(copy, NULL), "1.0.5");
	free(sp);
	free(data);
	free(copy);
	CHECK_STR(dk_oc_sample_release("/tmp/Sample.plist", "0.9.9"), "0.9.9");
}

/* Every model x every supported release of interest x every sample -> valid. */
TEST(matrix_validates)
{
	const char *targets[] = {"lion", "elcapitan", "highsierra", "mojave", "catalina", "bigsur",
				 "monterey", "ventura", "sonoma", "sequoia", "tahoe"};
	int built = 0;
	for (size_t r = 0; r < DK_ARRAY_SIZE(releases); r++) {
		char *sp = sample_path(releases[r]);
		size_t slen;
		char *sx = read_all(sp, &slen);
		CHECK(sx != NULL);
		for (int mi = 0; sx && mi < dk_mac_model_count; mi++) {
			const struct dk_mac_model *m = &dk_mac_models[mi];
			for (size_t t = 0; t < DK_ARRAY_SIZE(targets); t++) {
				if (!dk_mac_model_supports(m, dk_macos_find(targets[t])))
					continue;
				for (int gpu = 0; gpu < 3; gpu++) {
					uint32_t len;
					char *xml = build(sp, m->name, targets[t], (enum dk_gpu)gpu,
							  gpu == 1 ? DK_HOSTCPU_AMD : DK_HOSTCPU_INTEL, "1920x1080", &len, NULL);
					if (!xml) {
						fprintf(stderr, "    %s %s %s: %s\n", releases[r], m->name, targets[t], dk_errmsg());
						CHECK(xml != NULL);
						continue;
					}
					built++;
					int e = count_errors(xml, len, sx, slen, true);
					if (e != 0)
						fprintf(stderr, "    ^ %s %s %s gpu %d\n", releases[r], m->name, targets[t], gpu);
					CHECK_INT(e, 0);
					free(xml);
				}
			}
		}
		free(sx);
		free(sp);
	}
	CHECK(built > 200);
}

static plist_t parse(const char *xml, uint32_t len)
{
	plist_t p = NULL;
	plist_from_xml(xml, len, &p);
	return p;
}

static char *serialize(plist_t p, uint32_t *len)
{
	char *x = NULL;
	plist_to_xml(p, &x, len);
	char *r = dk_strndup(x, *len);
	plist_to_xml_free(x);
	return r;
}

TEST(values_per_model)
{
	char *sp = sample_path("1.0.6");
	uint32_t len;
	char *xml = build(sp, "MacPro7,1", "sonoma", DK_GPU_NONE, DK_HOSTCPU_INTEL, "2560x1440", &len, NULL);
	CHECK(xml != NULL);
	plist_t p = xml ? parse(xml, len) : NULL;
	CHECK(p != NULL);
	if (p) {
		CHECK_STR(dk_pl_str(dk_pl_get(p, "Misc/Security"), "SecureBootModel"), "Disabled");
		CHECK_STR(dk_pl_str(dk_pl_get(p, "Misc/Security"), "DmgLoading"), "Any");
		CHECK_STR(dk_pl_str(dk_pl_get(p, "Misc/Security"), "Vault"), "Optional");
		CHECK(dk_pl_int(dk_pl_get(p, "Misc/Security"), "ScanPolicy", -5) == 0);
		CHECK(dk_pl_bool(dk_pl_get(p, "Booter/Quirks"), "RebuildAppleMemoryMap", false));
		CHECK(!dk_pl_bool(dk_pl_get(p, "Booter/Quirks"), "SetupVirtualMap", true));
		CHECK(dk_pl_bool(dk_pl_get(p, "Kernel/Quirks"), "ForceSecureBootScheme", false));
		CHECK_STR(dk_pl_str(dk_pl_get(p, "UEFI/Output"), "Resolution"), "2560x1440");
		CHECK_STR(dk_pl_str(dk_pl_get(p, "PlatformInfo/Generic"), "SystemProductName"), "MacPro7,1");
		size_t rl;
		CHECK(dk_pl_data(dk_pl_get(p, "PlatformInfo/Generic"), "ROM", &rl) && rl == 6);
		plist_t patches = dk_pl_get(p, "Kernel/Patch");
		CHECK_INT(plist_array_get_size(patches), 1);
		plist_t p0 = plist_array_get_item(patches, 0);
		CHECK_STR(dk_pl_str(p0, "MaxKernel"), "29.99.99");
		CHECK_STR(dk_pl_str(p0, "Identifier"), "com.apple.iokit.IOPCIFamily");
		plist_t drv = dk_pl_get(p, "UEFI/Drivers");
		CHECK_INT(plist_array_get_size(drv), 3);
		CHECK_STR(dk_pl_str(plist_array_get_item(drv, 0), "Path"), "OpenRuntime.efi");
		CHECK_STR(dk_pl_str(plist_array_get_item(drv, 1), "Path"), "OpenHfsPlus.efi");
		CHECK_INT(plist_array_get_size(dk_pl_get(p, "ACPI/Add")), 0);
		CHECK_INT(plist_dict_get_size(dk_pl_get(p, "DeviceProperties/Add")), 0);
		CHECK_STR(dk_pl_str(dk_pl_get(p, "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82"), "boot-args"),
			  "-v keepsyms=1 debug=0x100");
		size_t kl;
		const uint8_t *kbd = dk_pl_data(dk_pl_get(p, "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82"), "prev-lang:kbd", &kl);
		CHECK(kbd && kl == 6 && !memcmp(kbd, "en:252", 6));
		plist_free(p);
	}
	free(xml);

	xml = build(sp, "MacPro5,1", "mojave", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &len, NULL);
	CHECK(xml != NULL);
	p = xml ? parse(xml, len) : NULL;
	if (p) {
		CHECK_STR(dk_pl_str(dk_pl_get(p, "Misc/Security"), "SecureBootModel"), "Disabled");
		CHECK_STR(dk_pl_str(dk_pl_get(p, "Misc/Security"), "DmgLoading"), "Signed");
		CHECK_STR(dk_pl_str(dk_pl_get(p, "Misc/Boot"), "HibernateMode"), "RTC");
		CHECK(dk_pl_bool(dk_pl_get(p, "Kernel/Emulate"), "DummyPowerManagement", false));
		CHECK(!dk_pl_bool(dk_pl_get(p, "Kernel/Quirks"), "DisableLinkeditJettison", true));
		CHECK(dk_pl_bool(dk_pl_get(p, "Booter/Quirks"), "AllowRelocationBlock", false));
		CHECK_STR(dk_pl_str(dk_pl_get(p, "UEFI/Output"), "GopPassThrough"), "Enabled");
		CHECK(dk_pl_int(dk_pl_get(p, "UEFI/APFS"), "MinDate", 0) == -1);
		CHECK_STR(dk_pl_str(dk_pl_get(p, "UEFI/Output"), "Resolution"), "Max"); /* Sample value kept */
		CHECK_INT(plist_array_get_size(dk_pl_get(p, "Kernel/Patch")), 0);
		plist_t drv = dk_pl_get(p, "UEFI/Drivers");
		CHECK_INT(plist_array_get_size(drv), 4);
		CHECK_STR(dk_pl_str(plist_array_get_item(drv, 2), "Path"), "HfsPlusLegacy.efi");
		CHECK_STR(dk_pl_str(dk_pl_get(p, "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82"), "boot-args"),
			  "-v keepsyms=1 debug=0x100 -nehalem_error_disable");
		plist_free(p);
	}
	free(xml);

	/* unsupported combination */
	CHECK(build(sp, "MacPro5,1", "sonoma", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &len, NULL) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "MacPro5,1 does not run macOS Sonoma");
	CHECK(build(sp, "MacPro7,1", "sonoma", DK_GPU_NONE, DK_HOSTCPU_INTEL, "big", &len, NULL) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "resolution 'big'");
	/* the host CPU is a fact the caller gives: the library reads no /proc/cpuinfo */
	CHECK(build(sp, "MacPro7,1", "sonoma", DK_GPU_NONE, DK_HOSTCPU_AUTO, NULL, &len, NULL) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "host CPU kind (intel or amd) is required");
	free(sp);
}

TEST(explain_records_reasons)
{
	char *sp = sample_path("1.0.5");
	uint32_t len;
	struct dk_oc_changes ch = {0};
	char *xml = build(sp, "MacPro7,1", "sequoia", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &len, &ch);
	CHECK(xml != NULL);
	bool scan = false, dmg = false, drv = false;
	for (int i = 0; i < ch.n; i++) {
		CHECK(ch.v[i].reason && *ch.v[i].reason);
		if (!strcmp(ch.v[i].path, "Misc/Security/ScanPolicy") && !strcmp(ch.v[i].value, "0"))
			scan = true;
		if (!strcmp(ch.v[i].path, "Misc/Security/DmgLoading") && strstr(ch.v[i].reason, "Sonoma"))
			dmg = true;
		if (!strcmp(ch.v[i].path, "UEFI/Drivers[0]") && strstr(ch.v[i].value, "OpenRuntime.efi"))
			drv = true;
	}
	CHECK(scan && dmg && drv);
	dk_oc_changes_free(&ch);
	free(xml);
	free(sp);
}

/* Take a valid config, break it one way, check the finding's path. */
TEST(broken_copies_detected)
{
	char *sp = sample_path("1.0.7");
	size_t slen;
	char *sx = read_all(sp, &slen);
	uint32_t len;
	char *xml = build(sp, "MacPro7,1", "sequoia", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &len, NULL);
	CHECK(xml && sx);
	if (!xml || !sx)
		return;
	CHECK_INT(count_errors(xml, len, sx, slen, true), 0);

	struct {
		const char *what, *path, *rule;
	} cases[] = {
		{"unknown", "Misc/Security/Bogus", "schema.unknown-key"},
		{"removed", "Misc/Security/DmgLoading", "schema.missing-key"},
		{"type", "Misc/Security/ScanPolicy", "schema.wrong-type"},
		{"enum", "Misc/Security/Vault", "enum"},
		{"dupkext", "Kernel/Add[1]/BundlePath", "kernel.duplicate"},
		{"entrykey", "UEFI/Drivers[1]/Bogus", "schema.unknown-key"},
		{"entrymissing", "UEFI/Drivers[0]/LoadEarly", "schema.missing-key"},
		{"dmgany", "Misc/Security/DmgLoading", "misc.secureboot"},
		{"noruntime", "Booter/Quirks/ProvideCustomSlide", "booter.openruntime"},
		{"rom", "PlatformInfo/Generic/ROM", "platform.rom"},
		{"suffix", "ACPI/Add[0]/Path", "path.suffix"},
		{"plugin", "Kernel/Add[0]/BundlePath", "kernel.plugin-order"},
		{"scan", "Misc/Security/ScanPolicy", "misc.scanpolicy"},
		{"nvram", "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82/csr-active-config", "nvram.size"},
		{"patch", "Kernel/Patch[0]/Replace", "patch.size"},
		{"lilu", "Kernel/Quirks/DisableLinkeditJettison", "kernel.lilu"},
		{"noot", "Kernel/Add[2]/BundlePath", "kernel.conflict"},
	};
	for (size_t i = 0; i < DK_ARRAY_SIZE(cases); i++) {
		plist_t p = parse(xml, len);
		plist_t sec = dk_pl_get(p, "Misc/Security");
		const char *w = cases[i].what;
		plist_t kadd = dk_pl_get(p, "Kernel/Add");
		plist_t kext = plist_new_dict();
		plist_dict_set_item(kext, "Arch", plist_new_string("Any"));
		plist_dict_set_item(kext, "BundlePath", plist_new_string("Lilu.kext"));
		plist_dict_set_item(kext, "Comment", plist_new_string(""));
		plist_dict_set_item(kext, "Enabled", plist_new_bool(1));
		plist_dict_set_item(kext, "ExecutablePath", plist_new_string("Contents/MacOS/Lilu"));
		plist_dict_set_item(kext, "MaxKernel", plist_new_string(""));
		plist_dict_set_item(kext, "MinKernel", plist_new_string(""));
		plist_dict_set_item(kext, "PlistPath", plist_new_string("Contents/Info.plist"));
		if (!strcmp(w, "unknown")) {
			plist_dict_set_item(sec, "Bogus", plist_new_bool(1));
			plist_free(kext);
		} else if (!strcmp(w, "removed")) {
			plist_dict_remove_item(sec, "DmgLoading");
			plist_free(kext);
		} else if (!strcmp(w, "type")) {
			plist_dict_set_item(sec, "ScanPolicy", plist_new_string("0"));
			plist_free(kext);
		} else if (!strcmp(w, "enum")) {
			plist_dict_set_item(sec, "Vault", plist_new_string("optional"));
			plist_free(kext);
		} else if (!strcmp(w, "dupkext")) {
			plist_array_append_item(kadd, plist_copy(kext));
			plist_array_append_item(kadd, kext);
			plist_dict_set_item(dk_pl_get(p, "Kernel/Quirks"), "DisableLinkeditJettison", plist_new_bool(1));
		} else if (!strcmp(w, "entrykey")) {
			plist_dict_set_item(plist_array_get_item(dk_pl_get(p, "UEFI/Drivers"), 1), "Bogus", plist_new_uint(1));
			plist_free(kext);
		} else if (!strcmp(w, "entrymissing")) {
			plist_dict_remove_item(plist_array_get_item(dk_pl_get(p, "UEFI/Drivers"), 0), "LoadEarly");
			plist_free(kext);
		} else if (!strcmp(w, "dmgany")) {
			plist_dict_set_item(sec, "DmgLoading", plist_new_string("Any"));
			plist_dict_set_item(sec, "SecureBootModel", plist_new_string("Default"));
			plist_free(kext);
		} else if (!strcmp(w, "noruntime")) {
			plist_array_remove_item(dk_pl_get(p, "UEFI/Drivers"), 0);
			plist_dict_set_item(dk_pl_get(p, "Booter/Quirks"), "ProvideCustomSlide", plist_new_bool(1));
			plist_free(kext);
		} else if (!strcmp(w, "rom")) {
			plist_dict_set_item(dk_pl_get(p, "PlatformInfo/Generic"), "ROM", plist_new_data("abc", 3));
			plist_free(kext);
		} else if (!strcmp(w, "suffix")) {
			plist_t a = plist_new_dict();
			plist_dict_set_item(a, "Comment", plist_new_string(""));
			plist_dict_set_item(a, "Enabled", plist_new_bool(1));
			plist_dict_set_item(a, "Path", plist_new_string("SSDT-EC.dsl"));
			plist_array_append_item(dk_pl_get(p, "ACPI/Add"), a);
			plist_free(kext);
		} else if (!strcmp(w, "plugin")) {
			plist_dict_set_item(kext, "BundlePath", plist_new_string("WhateverGreen.kext"));
			plist_dict_set_item(kext, "ExecutablePath", plist_new_string("Contents/MacOS/WhateverGreen"));
			plist_array_append_item(kadd, kext);
		} else if (!strcmp(w, "scan")) {
			plist_dict_set_item(sec, "ScanPolicy", plist_new_uint(0x100));
			plist_free(kext);
		} else if (!strcmp(w, "nvram")) {
			plist_dict_set_item(dk_pl_get(p, "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82"),
					    "csr-active-config", plist_new_data("\x67\x00", 2));
			plist_free(kext);
		} else if (!strcmp(w, "patch")) {
			plist_dict_set_item(plist_array_get_item(dk_pl_get(p, "Kernel/Patch"), 0), "Replace",
					    plist_new_data("\x00\x00\xEB", 3));
			plist_free(kext);
		} else if (!strcmp(w, "noot")) {
			const char *names[] = {"WhateverGreen", "NootRX"};
			plist_array_append_item(kadd, plist_copy(kext));
			for (int k = 0; k < 2; k++) {
				plist_t e = plist_copy(kext);
				char bp[64], ex[64];
				snprintf(bp, sizeof bp, "%s.kext", names[k]);
				snprintf(ex, sizeof ex, "Contents/MacOS/%s", names[k]);
				plist_dict_set_item(e, "BundlePath", plist_new_string(bp));
				plist_dict_set_item(e, "ExecutablePath", plist_new_string(ex));
				plist_array_append_item(kadd, e);
			}
			plist_free(kext);
			plist_dict_set_item(dk_pl_get(p, "Kernel/Quirks"), "DisableLinkeditJettison", plist_new_bool(1));
		} else if (!strcmp(w, "lilu")) {
			plist_array_append_item(kadd, kext);
			plist_dict_set_item(dk_pl_get(p, "Kernel/Quirks"), "DisableLinkeditJettison", plist_new_bool(0));
		}
		uint32_t blen;
		char *broken = serialize(p, &blen);
		plist_free(p);
		bool hit = has_finding(broken, blen, sx, slen, cases[i].path, cases[i].rule);
		if (!hit)
			fprintf(stderr, "    case %s\n", w);
		CHECK(hit);
		free(broken);
	}
	free(xml);
	free(sx);
	free(sp);
}

TEST(missing_key_in_sample)
{
	char *sp = sample_path("1.0.6");
	plist_t s;
	CHECK(dk_pl_load(sp, &s) == 0);
	plist_dict_remove_item(dk_pl_get(s, "Misc/Security"), "DmgLoading");
	uint32_t len;
	char *x = serialize(s, &len);
	plist_free(s);
	char *p = t_path(t_tmpdir(), "Sample-1.0.6.plist");
	CHECK(dk_write_file_atomic(p, x, len, true, 0644) == 0);
	free(x);
	uint32_t olen;
	CHECK(build(p, "MacPro7,1", "sequoia", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &olen, NULL) == NULL);
	CHECK_STR(dk_errmsg(), "Sample-1.0.6.plist (OpenCore 1.0.6): missing key Misc/Security/DmgLoading");

	/* a whole section missing */
	CHECK(dk_pl_load(sp, &s) == 0);
	plist_dict_remove_item(s, "Booter");
	x = serialize(s, &len);
	plist_free(s);
	CHECK(dk_write_file_atomic(p, x, len, true, 0644) == 0);
	free(x);
	CHECK(build(p, "MacPro7,1", "sequoia", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &olen, NULL) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "missing key Booter/");
	/* a key with another type than the recipe expects */
	CHECK(dk_pl_load(sp, &s) == 0);
	plist_dict_set_item(dk_pl_get(s, "Misc/Security"), "ScanPolicy", plist_new_string("0"));
	x = serialize(s, &len);
	plist_free(s);
	CHECK(dk_write_file_atomic(p, x, len, true, 0644) == 0);
	free(x);
	CHECK(build(p, "MacPro7,1", "sequoia", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &olen, NULL) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "Misc/Security/ScanPolicy is a string");
	free(p);
	free(sp);
}

TEST(malformed_inputs)
{
	char *p = t_path(t_tmpdir(), "bad.plist");
	CHECK(dk_write_file_atomic(p, "<plist><dict><key>x</key>", 25, true, 0644) == 0);
	uint32_t len;
	CHECK(build(p, "MacPro7,1", "sequoia", DK_GPU_NONE, DK_HOSTCPU_INTEL, NULL, &len, NULL) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "bad.plist: not a valid property list");
	CHECK(strchr(dk_errmsg(), '\n') == NULL);
	struct dk_oc_findings f;
	struct dk_oc_validate_opts vo = {.config_path = p};
	CHECK(dk_oc_validate(&vo, &f) < 0);
	CHECK_CONTAINS(dk_errmsg(), "bad.plist");
	CHECK(dk_write_file_atomic(p, "<plist><array/></plist>", 23, true, 0644) == 0);
	CHECK(dk_oc_validate(&vo, &f) < 0);
	CHECK_CONTAINS(dk_errmsg(), "not a dictionary");
	CHECK(dk_oc_validate_xml("junk", 4, NULL, 0, NULL, &f) < 0);
	free(p);
}

/* "bplist00" with n arrays, each holding k references to the next (the last:
 * to itself when cycle, else to an integer). */
static char *bpl_chain(size_t n, unsigned k, bool cycle, size_t *len)
{
	size_t nobj = n + 1, objs = 8 + n * (1 + 4 * k) + 2, total = objs + 4 * nobj + 32;
	unsigned char *b = dk_calloc(total, 1), *p = b + 8, *offs = b + objs;
	memcpy(b, "bplist00", 8);
	for (size_t i = 0; i < nobj; i++) {
		size_t off = (size_t)(p - b);
		for (int j = 0; j < 4; j++)
			offs[4 * i + j] = (unsigned char)(off >> (24 - 8 * j));
		if (i == n) {
			*p++ = 0x10;
			*p++ = 0;
			break;
		}
		*p++ = (unsigned char)(0xA0 | k);
		size_t to = cycle && i == n - 1 ? i : i + 1;
		for (unsigned r = 0; r < k; r++)
			for (int j = 0; j < 4; j++)
				*p++ = (unsigned char)(to >> (24 - 8 * j));
	}
	unsigned char *t = b + total - 32;
	t[6] = 4;
	t[7] = 4;
	for (int j = 0; j < 8; j++) {
		t[8 + j] = (unsigned char)((uint64_t)nobj >> (56 - 8 * j));
		t[24 + j] = (unsigned char)((uint64_t)objs >> (56 - 8 * j));
	}
	*len = total;
	return (char *)b;
}

/* XML: the root dict, then n - 1 levels of open (between) close */
static char *xml_nest(size_t n, const char *open, const char *between, const char *close, size_t *len)
{
	struct dk_buf b = {0};
	dk_buf_printf(&b, "<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict><key>k</key>");
	for (size_t i = 1; i < n; i++)
		dk_buf_printf(&b, "%s%s", open, between);
	dk_buf_printf(&b, "<string>x</string>");
	for (size_t i = 1; i < n; i++)
		dk_buf_printf(&b, "%s", close);
	dk_buf_printf(&b, "</dict></plist>");
	*len = b.len;
	return b.data;
}

/* libplist recurses without a limit: the depth is bounded before parsing */
TEST(plist_depth_bounded)
{
	size_t len;
	char *x = xml_nest(DK_PLIST_MAX_DEPTH, "<array>", "", "</array>", &len);
	CHECK(dk_plist_check_depth(x, len, "x") == 0);
	plist_t p = NULL;
	CHECK(dk_plist_parse(x, len, "x", &p) == 0 && p);
	plist_free(p);
	free(x);
	x = xml_nest(DK_PLIST_MAX_DEPTH + 1, "<array>", "", "</array>", &len);
	CHECK(dk_plist_check_depth(x, len, "deep.plist") < 0);
	CHECK_STR(dk_errmsg(), "deep.plist: plist nested deeper than 128 levels");
	free(x);
	/* 100k levels: an error, not a crash (in the validator too) */
	x = xml_nest(100000, "<dict><key>a</key>", "", "</dict>", &len);
	struct dk_oc_findings f;
	CHECK(dk_oc_validate_xml(x, (uint32_t)len, NULL, 0, NULL, &f) < 0);
	CHECK_STR(dk_errmsg(), "config: plist nested deeper than 128 levels");
	free(x);
	/* tags counted as a plist parser reads them */
	x = xml_nest(2000, "<array/>", "<array />", "", &len); /* empty containers, not nested */
	CHECK(dk_plist_check_depth(x, len, "x") == 0);
	free(x);
	x = xml_nest(200, "<array >", "<!-- </array> --><![CDATA[</dict>]]><?pi </array>?>", "</array\n>", &len);
	CHECK(dk_plist_check_depth(x, len, "x") < 0);
	free(x);
	x = xml_nest(200, "<array\n>", "", "</array>", &len);
	CHECK(dk_plist_check_depth(x, len, "x") < 0);
	free(x);
	x = xml_nest(200, "<arrays>", "", "</arrays>", &len); /* not containers */
	CHECK(dk_plist_check_depth(x, len, "x") == 0);
	free(x);
	/* binary */
	char *b = bpl_chain(DK_PLIST_MAX_DEPTH, 1, false, &len);
	CHECK(dk_plist_check_depth(b, len, "b") == 0);
	CHECK(dk_plist_parse(b, len, "b", &p) == 0 && plist_get_node_type(p) == PLIST_ARRAY);
	plist_free(p);
	free(b);
	b = bpl_chain(DK_PLIST_MAX_DEPTH + 1, 1, false, &len);
	CHECK(dk_plist_parse(b, len, "b.plist", &p) < 0 && !p);
	CHECK_STR(dk_errmsg(), "b.plist: plist nested deeper than 128 levels");
	free(b);
	b = bpl_chain(100000, 1, false, &len);
	CHECK(dk_oc_validate_xml(b, (uint32_t)len, NULL, 0, NULL, &f) < 0);
	CHECK_STR(dk_errmsg(), "config: plist nested deeper than 128 levels");
	free(b);
	/* shared children are walked once: 100 levels of 14 references each */
	b = bpl_chain(100, 14, false, &len);
	CHECK(dk_plist_check_depth(b, len, "b") == 0);
	free(b);
	b = bpl_chain(3, 1, true, &len);
	CHECK(dk_plist_check_depth(b, len, "b") < 0);
	CHECK_CONTAINS(dk_errmsg(), "b: not a valid property list");
	free(b);
	/* a reference past the object table */
	b = bpl_chain(3, 1, false, &len);
	b[8 + 1 + 3] = 9;
	CHECK(dk_plist_check_depth(b, len, "b") < 0);
	CHECK_CONTAINS(dk_errmsg(), "b: not a valid property list (bad binary plist object table)");
	free(b);
}

/* ---- the EFI tree model (dk_efi_tree_plan): a config + a fake listing ---- */

static plist_t efi_config(void)
{
	static const char xml[] =
		"<plist><dict>"
		"<key>ACPI</key><dict><key>Add</key><array>"
		"<dict><key>Enabled</key><true/><key>Path</key><string>SSDT-EC.aml</string></dict>"
		"<dict><key>Enabled</key><false/><key>Path</key><string>SSDT-OFF.aml</string></dict>"
		"</array></dict>"
		"<key>Kernel</key><dict><key>Add</key><array>"
		"<dict><key>Enabled</key><true/><key>BundlePath</key><string>Lilu.kext</string>"
		"<key>ExecutablePath</key><string>Contents/MacOS/Lilu</string><key>PlistPath</key><string>Contents/Info.plist</string></dict>"
		"<dict><key>Enabled</key><true/><key>BundlePath</key><string>VirtualSMC.kext</string>"
		"<key>ExecutablePath</key><string>Contents/MacOS/VirtualSMC</string><key>PlistPath</key><string>Contents/Info.plist</string></dict>"
		"</array></dict>"
		"<key>Misc</key><dict><key>Tools</key><array>"
		"<dict><key>Enabled</key><true/><key>Path</key><string>OpenShell.efi</string></dict>"
		"<dict><key>Enabled</key><true/><key>Path</key><string>../escape.efi</string></dict>"
		"</array></dict>"
		"<key>UEFI</key><dict><key>Drivers</key><array>"
		"<dict><key>Enabled</key><true/><key>Path</key><string>openruntime.efi</string></dict>"
		"<dict><key>Enabled</key><true/><key>Path</key><string>HfsPlus.efi</string></dict>"
		"<string>#AudioDxe.efi</string>"
		"</array></dict>"
		"</dict></plist>";
	plist_t p = NULL;
	CHECK(dk_pl_parse(xml, sizeof xml - 1, "efi", &p) == 0);
	return p;
}

/* The finding of rule at path, or NULL. */
static const struct dk_oc_finding *efi_finding(const struct dk_oc_findings *f, const char *path, const char *rule)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].path, path) && !strcmp(f->v[i].rule, rule))
			return &f->v[i];
	return NULL;
}

static bool efi_copies(const struct dk_efi_tree *t, const char *dest)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].dest, dest))
			return true;
	return false;
}

TEST(efi_tree_plan_build)
{
	plist_t cfg = efi_config();
	struct dk_efi_given g = {.release = "rel.zip", .config = "config.plist"};
	static const char *const rel[] = {"BOOT/BOOTx64.efi", "OC/OpenCore.efi", "OC/Drivers/OpenRuntime.efi",
					  "OC/Drivers/AudioDxe.efi", "OC/Tools/OpenShell.efi", "OC/Resources/Font/A.png"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(rel); i++)
		dk_efi_given_add(&g, rel[i], false, DK_EFI_RELEASE, -1, "rel.zip");
	dk_efi_given_add(&g, "OC/Kexts/Lilu.kext", true, DK_EFI_USER, 0, "Lilu.kext");
	g.v[g.n - 1].whole = true;
	dk_efi_given_add(&g, "OC/Kexts/Lilu.kext/Contents/Info.plist", false, DK_EFI_USER, 0, "Lilu.kext");
	dk_efi_given_add(&g, "OC/Kexts/Lilu.kext/Contents/MacOS/Lilu", false, DK_EFI_USER, 0, "Lilu.kext");
	dk_efi_given_add(&g, "OC/Kexts/VirtualSMC.kext", true, DK_EFI_USER, 1, "smc.zip");
	dk_efi_given_add(&g, "OC/Kexts/VirtualSMC.kext/Contents/Info.plist", false, DK_EFI_USER, 2, "smc.zip");
	dk_efi_given_add(&g, "OC/Kexts/SMCProcessor.kext", true, DK_EFI_USER, 3, "smc.zip");
	dk_efi_given_add(&g, "OC/ACPI/SSDT-EC.aml", false, DK_EFI_USER, 4, "SSDT-EC.aml");
	dk_efi_given_add(&g, "OC/ACPI/SSDT-X.aml", false, DK_EFI_USER, 5, "SSDT-X.aml");
	struct dk_efi_tree t;
	struct dk_oc_findings f = {0};
	dk_efi_tree_plan(cfg, &g, &t, &f);
	/* the tree: boot files, config, the enabled drivers and tools, resources, kexts, ACPI */
	CHECK(t.n > 7 && !strcmp(t.v[0].dest, "EFI/BOOT") && t.v[0].from == DK_EFI_NEW_DIR);
	CHECK(efi_copies(&t, "EFI/BOOT/BOOTx64.efi") && efi_copies(&t, "EFI/OC/OpenCore.efi"));
	CHECK(efi_copies(&t, "EFI/OC/config.plist"));
	CHECK(efi_copies(&t, "EFI/OC/Drivers/OpenRuntime.efi")); /* found ignoring case, spelled as given */
	CHECK(!efi_copies(&t, "EFI/OC/Drivers/AudioDxe.efi"));   /* '#': disabled */
	CHECK(efi_copies(&t, "EFI/OC/Tools/OpenShell.efi"));
	CHECK(efi_copies(&t, "EFI/OC/Resources/Font/A.png"));
	CHECK(efi_copies(&t, "EFI/OC/Kexts/Lilu.kext"));
	CHECK(!efi_copies(&t, "EFI/OC/Kexts/Lilu.kext/Contents/Info.plist")); /* whole: one tree */
	CHECK(efi_copies(&t, "EFI/OC/Kexts/VirtualSMC.kext/Contents/Info.plist"));
	CHECK(!efi_copies(&t, "EFI/OC/Kexts/SMCProcessor.kext")); /* a zip's unused bundle */
	CHECK(efi_copies(&t, "EFI/OC/ACPI/SSDT-EC.aml") && efi_copies(&t, "EFI/OC/ACPI/SSDT-X.aml"));
	/* the findings */
	const struct dk_oc_finding *x;
	CHECK((x = efi_finding(&f, "UEFI/Drivers[0]/Path", "efi.case-mismatch")) && x->severity == DK_OC_WARNING);
	CHECK((x = efi_finding(&f, "UEFI/Drivers[1]/Path", "efi.missing-file")) &&
	      strstr(x->message, "HfsPlus.efi is enabled but the release rel.zip has no"));
	CHECK(efi_finding(&f, "Misc/Tools[1]/Path", "efi.bad-path"));
	CHECK((x = efi_finding(&f, "Kernel/Add[1]/ExecutablePath", "efi.missing-file")) &&
	      strstr(x->message, "ExecutablePath Contents/MacOS/VirtualSMC not found in smc.zip"));
	CHECK((x = efi_finding(&f, "ACPI/Add", "efi.unused")) && strstr(x->message, "SSDT-X.aml: not in config.plist"));
	CHECK(!efi_finding(&f, "Kernel/Add", "efi.unused")); /* Lilu and smc.zip are used */
	CHECK_INT(f.errors, 3);
	CHECK_INT(f.warnings, 2);
	CHECK(t.nbundles == 2 && t.bundles[0] && !strcmp(t.bundles[0], "Kexts/Lilu.kext"));
	dk_oc_findings_free(&f);
	dk_efi_tree_free(&t);
	dk_efi_given_free(&g);
	plist_free(cfg);
}

TEST(efi_tree_plan_check)
{
	plist_t cfg = efi_config();
	static const char *const tree[] = {"OC/Drivers/OpenRuntime.efi", "OC/Drivers/HfsPlus.efi", "OC/ACPI/ssdt-ec.aml",
					   "OC/Tools/OpenShell.efi", "OC/Kexts/Lilu.kext/Contents/Info.plist",
					   "OC/Kexts/Lilu.kext/Contents/MacOS/Lilu"};
	struct dk_efi_given g = {.tree = "efi/OC"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(tree); i++)
		dk_efi_given_add(&g, tree[i], false, DK_EFI_TREE, -1, NULL);
	struct dk_efi_tree t;
	struct dk_oc_findings f = {0};
	dk_efi_tree_plan(cfg, &g, &t, &f);
	const struct dk_oc_finding *x;
	CHECK((x = efi_finding(&f, "", "efi.missing-file")) && !strcmp(x->message, "OpenCore.efi is not in efi/OC"));
	CHECK(efi_finding(&f, "ACPI/Add[0]/Path", "efi.case-mismatch"));
	CHECK(efi_finding(&f, "UEFI/Drivers[0]/Path", "efi.case-mismatch"));
	CHECK((x = efi_finding(&f, "Kernel/Add[1]/BundlePath", "efi.missing-file")) &&
	      !strcmp(x->message, "Kexts/VirtualSMC.kext is not in the EFI tree"));
	CHECK(efi_finding(&f, "Misc/Tools[1]/Path", "efi.bad-path"));
	CHECK(!efi_finding(&f, "ACPI/Add", "efi.unused")); /* files of a tree are not the user's */
	CHECK_INT(f.errors, 2);
	CHECK(t.nbundles == 2 && t.bundles[0] && !strcmp(t.bundles[0], "Kexts/Lilu.kext") && !t.bundles[1]);
	dk_oc_findings_free(&f);
	dk_efi_tree_free(&t);
	/* names from a FAT volume carry no case: no case findings */
	g.fold_case = true;
	f = (struct dk_oc_findings){0};
	dk_efi_tree_plan(cfg, &g, &t, &f);
	CHECK(!efi_finding(&f, "ACPI/Add[0]/Path", "efi.case-mismatch"));
	CHECK_INT(f.warnings, 1);
	dk_oc_findings_free(&f);
	dk_efi_tree_free(&t);
	dk_efi_given_free(&g);
	plist_free(cfg);
}

/* Build with explicit passthrough / drivers; XML or NULL. */
static char *build_ex(const char *sample, const char *model, const char *os, const struct dk_oc_passthrough *pt,
		      const char *const *drivers, uint32_t *len)
{
	const struct dk_mac_model *m = dk_mac_model_find(model);
	struct dk_smbios id;
	if (!m || dk_smbios_generate(m, &id) < 0)
		return NULL;
	struct dk_oc_config_opts o = {.sample_path = sample, .model = m, .macos = dk_macos_find(os),
				      .host_cpu = DK_HOSTCPU_INTEL, .smbios = &id, .passthrough = pt, .drivers = drivers};
	char *xml = NULL;
	if (dk_oc_config_build(&o, &xml, len, NULL) < 0)
		return NULL;
	return xml;
}

/* The DeviceProperties table applied for a synthetic passthrough: layout-id on
 * the audio controller, the chart's spoof on a matching GPU, none on another
 * GPU; without passthrough the Sample's example is removed. */
TEST(device_properties_table)
{
	char *sp = sample_path("1.0.6");
	size_t slen;
	char *sx = read_all(sp, &slen);
	uint32_t len;
	char *xml = build_ex(sp, "MacPro7,1", "sonoma", NULL, NULL, &len);
	plist_t p = xml ? parse(xml, len) : NULL;
	CHECK(p != NULL);
	if (p)
		CHECK_INT(plist_dict_get_size(dk_pl_get(p, "DeviceProperties/Add")), 0);
	plist_free(p);
	free(xml);

	struct dk_oc_passthrough pt = {.audio_path = "PciRoot(0x0)/Pci(0x2,0x0)", .layout_id = 7,
				       .gpu_path = "PciRoot(0x0)/Pci(0x3,0x0)", .gpu_vendor = 0x1002, .gpu_device = 0x73ef,
				       .gpu_spoof = "0x73ff"};
	xml = build_ex(sp, "MacPro7,1", "sonoma", &pt, NULL, &len);
	p = xml ? parse(xml, len) : NULL;
	CHECK(p != NULL);
	if (p) {
		plist_t add = dk_pl_get(p, "DeviceProperties/Add");
		CHECK_INT(plist_dict_get_size(add), 2);
		size_t n = 0;
		const uint8_t *d = dk_pl_data(plist_dict_get_item(add, "PciRoot(0x0)/Pci(0x2,0x0)"), "layout-id", &n);
		CHECK(d && n == 4 && d[0] == 7 && d[1] == 0 && d[2] == 0 && d[3] == 0);
		d = dk_pl_data(plist_dict_get_item(add, "PciRoot(0x0)/Pci(0x3,0x0)"), "device-id", &n);
		CHECK(d && n == 4 && d[0] == 0xff && d[1] == 0x73 && d[2] == 0 && d[3] == 0);
		CHECK_INT(count_errors(xml, len, sx, slen, true), 0);
	}
	plist_free(p);
	free(xml);

	/* a GPU the chart does not spoof: nothing for it */
	pt.audio_path = NULL;
	pt.gpu_device = 0x73bf;
	pt.gpu_spoof = NULL;
	xml = build_ex(sp, "MacPro7,1", "sonoma", &pt, NULL, &len);
	p = xml ? parse(xml, len) : NULL;
	CHECK(p != NULL);
	if (p)
		CHECK_INT(plist_dict_get_size(dk_pl_get(p, "DeviceProperties/Add")), 0);
	plist_free(p);
	free(xml);

	/* the chart's family spoof (Tahiti 0x679a -> 0x6790), behind a root port */
	pt.gpu_path = "PciRoot(0x0)/Pci(0x1C,0x0)/Pci(0x0,0x0)";
	pt.gpu_device = 0x679a;
	pt.gpu_spoof = "0x6790";
	xml = build_ex(sp, "MacPro7,1", "monterey", &pt, NULL, &len);
	p = xml ? parse(xml, len) : NULL;
	CHECK(p != NULL);
	if (p) {
		size_t n = 0;
		const uint8_t *d = dk_pl_data(plist_dict_get_item(dk_pl_get(p, "DeviceProperties/Add"), pt.gpu_path),
					      "device-id", &n);
		CHECK(d && n == 4 && d[0] == 0x90 && d[1] == 0x67 && d[2] == 0 && d[3] == 0);
		CHECK_INT(count_errors(xml, len, sx, slen, true), 0);
	}
	plist_free(p);
	free(xml);
	/* a spoof that is not a device id: refused */
	pt.gpu_spoof = "0x1234x";
	CHECK(build_ex(sp, "MacPro7,1", "monterey", &pt, NULL, &len) == NULL);
	CHECK_CONTAINS(dk_errmsg(), "not a PCI device id");
	dk_errclear();
	pt.gpu_spoof = "0x73ff";

	/* a device path that is not one: refused, one line */
	pt.gpu_device = 0x73ef;
	pt.gpu_path = "PciRoot(0x0)/<x>";
	CHECK(build_ex(sp, "MacPro7,1", "sonoma", &pt, NULL, &len) == NULL);
	CHECK(strstr(dk_errmsg(), "not a device path") != NULL);
	dk_errclear();
	free(sx);
	free(sp);
}

/* Exactly one HFS+ driver per release family: the default, a given HfsPlus.efi
 * in place of OpenHfsPlus.efi, and the other family's driver refused. */
static int count_hfs(plist_t p, const char **which)
{
	plist_t drv = dk_pl_get(p, "UEFI/Drivers");
	int n = 0;
	for (uint32_t i = 0; i < plist_array_get_size(drv); i++) {
		const char *path = dk_pl_str(plist_array_get_item(drv, i), "Path");
		if (path && dk_oc_is_hfs_driver(path)) {
			n++;
			*which = path;
		}
	}
	return n;
}

TEST(one_hfs_driver_per_family)
{
	char *sp = sample_path("1.0.6");
	struct {
		const char *model, *os, *given, *want;
	} cases[] = {
		{"MacPro7,1", "sonoma", NULL, "OpenHfsPlus.efi"},
		{"MacPro7,1", "catalina", "HfsPlus.efi", "HfsPlus.efi"},
		{"MacPro7,1", "sequoia", "OpenHfsPlus.efi", "OpenHfsPlus.efi"},
		{"MacPro5,1", "mojave", NULL, "HfsPlusLegacy.efi"},
		{"MacPro5,1", "highsierra", "HfsPlusLegacy.efi", "HfsPlusLegacy.efi"},
		{"MacPro5,1", "mojave", "HfsPlus.efi", NULL},
		{"MacPro5,1", "mojave", "OpenHfsPlus.efi", NULL},
		{"MacPro7,1", "sonoma", "HfsPlusLegacy.efi", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *drivers[] = {cases[i].given, NULL};
		uint32_t len;
		char *xml = build_ex(sp, cases[i].model, cases[i].os, NULL, cases[i].given ? drivers : NULL, &len);
		if (!cases[i].want) {
			CHECK(xml == NULL);
			CHECK(strstr(dk_errmsg(), "cannot be used with macOS") != NULL);
			dk_errclear();
			continue;
		}
		plist_t p = xml ? parse(xml, len) : NULL;
		CHECK(p != NULL);
		const char *which = NULL;
		if (p) {
			CHECK_INT(count_hfs(p, &which), 1);
			CHECK(which && !strcmp(which, cases[i].want));
		}
		plist_free(p);
		free(xml);
	}
	const struct dk_oc_bindata_file *pf;
	CHECK(dk_oc_bindata_find("hfspluslegacy.efi", &pf) == 1 && pf);
	CHECK(dk_oc_bindata_find("OpenHfsPlus.efi", &pf) == 0 && !pf);
	/* a pins file that cannot be read is an error, not "no such driver" */
	setenv("DKVM_OCBINARYDATA_PINS", "/nonexistent/pins", 1);
	CHECK(dk_oc_bindata_find("HfsPlusLegacy.efi", &pf) == -1 && !pf);
	CHECK_CONTAINS(dk_errmsg(), "DKVM_OCBINARYDATA_PINS");
	dk_errclear();
	unsetenv("DKVM_OCBINARYDATA_PINS");
	free(sp);
}

/* ---- upgrade-safe recipes and golden configs ---- */

/* A fixed identity, so configs are reproducible. */
static void fixed_smbios(const struct dk_mac_model *m, struct dk_smbios *id)
{
	memset(id, 0, sizeof *id);
	snprintf(id->product, sizeof id->product, "%s", m->name);
	snprintf(id->serial, sizeof id->serial, "%s", "F5KGOLDEN001");
	snprintf(id->mlb, sizeof id->mlb, "%s", "F5K000000GOLDEN01");
	snprintf(id->uuid, sizeof id->uuid, "%s", "00000000-0000-4000-8000-000000000000");
	memcpy(id->rom, "\x00\x16\xCB\x00\x00\x01", 6);
}

struct gopts {
	const char *model, *os;
	enum dk_gpu gpu;
	const char *const *drivers;
	const char *const *bootargs;
	const char *picker;
	const char *kexts_dir;
	bool force;
	bool rebuild;
};

static char *build_g(const char *sample, const struct gopts *g, uint32_t *len, struct dk_oc_changes *ch)
{
	const struct dk_mac_model *m = dk_mac_model_find(g->model);
	if (!m)
		return NULL;
	struct dk_smbios id;
	fixed_smbios(m, &id);
	struct dk_oc_config_opts o = {.sample_path = sample, .model = m, .macos = dk_macos_find(g->os), .gpu = g->gpu,
				      .host_cpu = DK_HOSTCPU_INTEL, .smbios = &id, .resolution = "1920x1080",
				      .drivers = g->drivers, .kexts_dir = g->kexts_dir, .release = "1.0.7",
				      .boot_args = g->bootargs, .picker = g->picker, .force = g->force,
				      .boot_args_rebuild = g->rebuild};
	char *xml = NULL;
	if (dk_oc_config_build(&o, &xml, len, ch) < 0)
		return NULL;
	return xml;
}

/* Every leaf as "path = value", arrays by index. */
static void flatten(plist_t n, const char *path, struct dk_buf *b)
{
	if (dk_pl_is(n, PLIST_DICT)) {
		_cleanup_(dk_pl_iter_end) struct dk_pl_iter it = {.dict = n};
		while (dk_pl_next(&it)) {
			if (it.key[0] == '#')
				continue;
			char *p = dk_pl_join(path, it.key);
			flatten(it.val, p, b);
			free(p);
		}
	} else if (dk_pl_is(n, PLIST_ARRAY)) {
		for (uint32_t i = 0; i < plist_array_get_size(n); i++) {
			char *p = dk_asprintf("%s[%u]", path, i);
			flatten(plist_array_get_item(n, i), p, b);
			free(p);
		}
	} else {
		char *v = dk_pl_render(n);
		dk_buf_printf(b, "%s = %s\n", path, v);
		free(v);
	}
}

/* The config as a reviewable text: every leaf that differs from the Sample,
 * then for which releases each change is active (when not all). */
static char *golden_text(const char *xml, uint32_t len, const char *sx, size_t slen, const struct dk_oc_changes *ch)
{
	plist_t c = parse(xml, len), sp = NULL;
	plist_from_xml(sx, (uint32_t)slen, &sp);
	struct dk_buf fc = {0}, fs = {0}, out = {0};
	flatten(c, "", &fc);
	flatten(sp, "", &fs);
	dk_buf_puts(&out, "# leaves that differ from the Sample\n");
	for (char *line = fc.data, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = 0;
		char *hay = dk_asprintf("\n%s\n", line);
		char *sample = dk_asprintf("\n%s", fs.data);
		if (!strstr(sample, hay))
			dk_buf_printf(&out, "%s\n", line);
		free(hay);
		free(sample);
	}
	dk_buf_puts(&out, "# active only for some releases\n");
	for (int i = 0; ch && i < ch->n; i++)
		if (strcmp(ch->v[i].active, "all releases"))
			dk_buf_printf(&out, "%s: %s\n", ch->v[i].path, ch->v[i].active);
	dk_buf_free(&fc);
	dk_buf_free(&fs);
	plist_free(c);
	plist_free(sp);
	return out.data;
}

static void golden(const char *name, const char *actual)
{
	char *path = dk_asprintf("%s/tests/opencore/golden/%s", t_srcdir(), name);
	if (getenv("DKVM_REGEN")) {
		CHECK(dk_write_file_atomic(path, actual, strlen(actual), true, 0644) == 0);
	} else {
		size_t n;
		char *want = read_all(path, &n);
		if (!want || strcmp(want, actual)) {
			char *got = dk_asprintf("%s/%s.actual", t_tmpdir(), name);
			dk_write_file_atomic(got, actual, strlen(actual), true, 0644);
			fprintf(stderr, "    %s differs: diff -u %s %s (DKVM_REGEN=1 to accept)\n", path, path, got);
			t_case_failed = 1;
			free(got);
		}
		free(want);
	}
	free(path);
}

/* The release families the recipes tell apart. */
static const char *const families[] = {"elcapitan", "highsierra", "catalina", "monterey", "ventura", "sonoma"};

/* One golden per model x release family (OpenCore 1.0.7's Sample), each valid. */
TEST(golden_configs)
{
	char *sp = sample_path("1.0.7");
	size_t slen;
	char *sx = read_all(sp, &slen);
	CHECK(sx != NULL);
	int n = 0;
	for (int mi = 0; sx && mi < dk_mac_model_count; mi++) {
		const struct dk_mac_model *m = &dk_mac_models[mi];
		for (size_t f = 0; f < DK_ARRAY_SIZE(families); f++) {
			if (!dk_mac_model_supports(m, dk_macos_find(families[f])))
				continue;
			struct gopts g = {.model = m->name, .os = families[f]};
			struct dk_oc_changes ch;
			uint32_t len;
			char *xml = build_g(sp, &g, &len, &ch);
			CHECK(xml != NULL);
			if (!xml)
				continue;
			CHECK_INT(count_errors(xml, len, sx, slen, true), 0);
			char *text = golden_text(xml, len, sx, slen, &ch);
			char *name = dk_asprintf("%s-%s.txt", m->name, families[f]);
			for (char *p = name; *p; p++)
				if (*p == ',')
					*p = '_';
			golden(name, text);
			n++;
			free(name);
			free(text);
			free(xml);
			dk_oc_changes_free(&ch);
		}
	}
	CHECK(n >= 20);
	free(sx);
	free(sp);
}

/* Does the config hold a Kernel/Patch entry with this Comment? */
static bool has_patch(plist_t p, const char *comment, const char *min_kernel)
{
	plist_t a = dk_pl_get(p, "Kernel/Patch");
	for (uint32_t i = 0; i < plist_array_get_size(a); i++) {
		plist_t e = plist_array_get_item(a, i);
		const char *cm = dk_pl_str(e, "Comment"), *mk = dk_pl_str(e, "MinKernel");
		if (cm && !strcmp(cm, comment) && mk && !strcmp(mk, min_kernel) && dk_pl_bool(e, "Enabled", false))
			return true;
	}
	return false;
}

/* In-place upgrade: a config made for the oldest release of a model's range
 * validates and holds every later release's kernel patches (gated by their
 * MinKernel), and the guide's kext set for the oldest holds every later
 * release's kexts (each gated by MinKernel in the known-kext table). */
TEST(config_survives_inplace_upgrade)
{
	for (size_t r = 0; r < DK_ARRAY_SIZE(releases); r++) {
		char *sp = sample_path(releases[r]);
		size_t slen;
		char *sx = read_all(sp, &slen);
		for (int mi = 0; sx && mi < dk_mac_model_count; mi++) {
			const struct dk_mac_model *m = &dk_mac_models[mi];
			const struct dk_macos *oldest = dk_macos_find(m->macos_min);
			struct gopts g0 = {.model = m->name, .os = oldest->name};
			uint32_t len0;
			char *x0 = build_g(sp, &g0, &len0, NULL);
			CHECK(x0 != NULL);
			if (!x0)
				continue;
			CHECK_INT(count_errors(x0, len0, sx, slen, true), 0);
			plist_t p0 = parse(x0, len0);
			struct dk_oc_set_opts so0 = {.model = m, .macos = oldest};
			struct dk_oc_set_item *set0;
			size_t nset0;
			dk_oc_set_resolve(&so0, &set0, &nset0);
			for (int k = 0; k < dk_macos_count; k++) {
				const struct dk_macos *later = &dk_macos_table[k];
				if (dk_macos_cmp(later, oldest) <= 0 || !dk_mac_model_supports(m, later))
					continue;
				struct gopts g = {.model = m->name, .os = later->name};
				uint32_t len;
				char *x = build_g(sp, &g, &len, NULL);
				plist_t p = x ? parse(x, len) : NULL;
				plist_t a = dk_pl_get(p, "Kernel/Patch");
				for (uint32_t i = 0; i < plist_array_get_size(a); i++) {
					plist_t e = plist_array_get_item(a, i);
					const char *cm = dk_pl_str(e, "Comment"), *mk = dk_pl_str(e, "MinKernel");
					bool ok = cm && mk && has_patch(p0, cm, mk);
					if (!ok)
						fprintf(stderr, "    %s %s config lacks %s's patch %s\n", m->name, oldest->name,
							later->name, cm ? cm : "?");
					CHECK(ok);
				}
				struct dk_oc_set_opts so = {.model = m, .macos = later};
				struct dk_oc_set_item *set;
				size_t nset;
				dk_oc_set_resolve(&so, &set, &nset);
				for (size_t i = 0; i < nset; i++) {
					bool found = false;
					for (size_t j = 0; j < nset0; j++)
						found |= !strcmp(set[i].name, set0[j].name);
					if (!found)
						fprintf(stderr, "    %s %s set lacks %s's %s\n", m->name, oldest->name, later->name,
							set[i].name);
					CHECK(found);
				}
				free(set);
				plist_free(p);
				free(x);
			}
			/* a kext beyond the oldest release is gated by its MinKernel */
			for (size_t j = 0; j < nset0; j++) {
				const struct dk_oc_known_kext *kk = dk_oc_known_kext_find(set0[j].name);
				if (kk && kk->min_kernel[0])
					CHECK(dk_oc_kernel_version(kk->min_kernel) > 0);
			}
			free(set0);
			plist_free(p0);
			free(x0);
		}
		free(sx);
		free(sp);
	}
	/* MacPro7,1 from Catalina: the Ventura+ PCI patch is there, gated, and
	 * the explanation says for which releases */
	char *sp = sample_path("1.0.6");
	struct gopts g = {.model = "MacPro7,1", .os = "catalina"};
	struct dk_oc_changes ch;
	uint32_t len;
	char *x = build_g(sp, &g, &len, &ch);
	CHECK(x != NULL);
	plist_t p = x ? parse(x, len) : NULL;
	CHECK(p && has_patch(p, "CaseySJ | IOPCIIsHotplugPort | Fix PCI bus enumeration on KVM | 13.0+", "22.0.0"));
	bool said = false;
	for (int i = 0; x && i < ch.n; i++)
		if (!strcmp(ch.v[i].path, "Kernel/Patch[0]"))
			said = strstr(ch.v[i].active, "macOS 13 Ventura and later (MinKernel 22.0.0, MaxKernel 29.99.99)") != NULL;
	CHECK(said);
	/* a release-chosen setting says its range */
	said = false;
	for (int i = 0; x && i < ch.n; i++)
		if (!strcmp(ch.v[i].path, "UEFI/APFS/MinDate"))
			said = !strcmp(ch.v[i].active, "up to macOS 10.15 Catalina");
	CHECK(said);
	plist_free(p);
	free(x);
	if (x)
		dk_oc_changes_free(&ch);
	free(sp);
}

static char *bootargs_of(const char *xml, uint32_t len)
{
	plist_t p = parse(xml, len);
	const char *v = dk_pl_str(dk_pl_get(p, "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82"), "boot-args");
	char *r = dk_strdup(v ? v : "(none)");
	plist_free(p);
	return r;
}

/* --boot-args: "A B" adds, -X removes (also the Sample's and the recipes'
 * tokens), +X adds a token that starts with '-'; removing what is not there
 * and bad characters are refused. */
/* boot-args across a rebuild: the recipe tokens follow the new config, every
 * other token of the old one (the user's, a write-up's) stays. */
TEST(bootargs_merge)
{
	char **m = dk_oc_recipe_bootargs();
	/* every BOOTARG recipe's token, taken from the table */
	CHECK(dk_strv_contains(m, "agdpmod=pikera"));
	CHECK(dk_strv_contains(m, "agdpmod=vit9696"));
	CHECK(dk_strv_contains(m, "debug=0x100"));
	CHECK(dk_strv_contains(m, "ngfxgl=1"));
	CHECK(dk_strv_contains(m, "-nehalem_error_disable"));
	CHECK(!dk_strv_contains(m, "-v"));
	CHECK(!dk_strv_contains(m, "revpatch=memtab,pci,cpuname"));
	size_t n = 0;
	for (int i = 0; i < dk_oc_recipe_count; i++)
		n += dk_oc_recipes[i].op == DK_OC_BOOTARG;
	CHECK_INT(dk_strv_len(m), n);
	dk_strv_free(m);
	struct {
		const char *old, *fresh, *want;
	} c[] = {
		/* a recipe token the new plan adds appears; the user's stays */
		{"-v keepsyms=1 debug=0x100 mine=1", "-v keepsyms=1 debug=0x100 agdpmod=pikera",
		 "-v keepsyms=1 debug=0x100 mine=1 agdpmod=pikera"},
		/* one it no longer wants goes */
		{"-v keepsyms=1 debug=0x100 agdpmod=pikera revpatch=memtab,pci,cpuname revcpu=1",
		 "-v keepsyms=1 debug=0x100", "-v keepsyms=1 debug=0x100 revpatch=memtab,pci,cpuname revcpu=1"},
		/* the user removed a Sample token: the fresh config has it again */
		{"keepsyms=1 debug=0x100", "-v keepsyms=1 debug=0x100", "keepsyms=1 debug=0x100 -v"},
		{"", "", ""},
		{"  a   a b ", "", "a b"},
		{"", "-v agdpmod=vit9696", "-v agdpmod=vit9696"},
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *s = dk_oc_bootargs_merge(c[i].old, c[i].fresh);
		CHECK_STR(s, c[i].want);
		free(s);
	}
}

TEST(user_boot_args)
{
	for (size_t r = 0; r < DK_ARRAY_SIZE(releases); r++) {
		char *sp = sample_path(releases[r]);
		size_t slen;
		char *sx = read_all(sp, &slen);
		const char *ba[] = {"alcid=1 radpg=15", "-keepsyms=1", "+-radvesa", "--v", "-debug=0x100", "nv_disable=1", NULL};
		struct gopts g = {.model = "MacPro7,1", .os = "sonoma", .bootargs = ba};
		uint32_t len;
		struct dk_oc_changes ch;
		char *x = build_g(sp, &g, &len, &ch);
		CHECK(x != NULL);
		if (x) {
			char *v = bootargs_of(x, len);
			CHECK_STR(v, "alcid=1 radpg=15 -radvesa nv_disable=1");
			free(v);
			CHECK_INT(count_errors(x, len, sx, slen, true), 0);
			bool said = false;
			for (int i = 0; i < ch.n; i++)
				said |= !strcmp(ch.v[i].value, "- keepsyms=1") && !strcmp(ch.v[i].reason, "removed by --boot-args");
			CHECK(said);
			dk_oc_changes_free(&ch);
		}
		free(x);
		free(sx);
		free(sp);
	}
	char *sp = sample_path("1.0.6");
	uint32_t len;
	const char *absent[] = {"-radvesa", NULL};
	struct gopts g = {.model = "MacPro7,1", .os = "sonoma", .bootargs = absent};
	CHECK(build_g(sp, &g, &len, NULL) == NULL);
	CHECK(strstr(dk_errmsg(), "'radvesa' is not in boot-args") && strstr(dk_errmsg(), "write +-radvesa"));
	dk_errclear();
	/* applied again by update/tune: a recorded removal whose token the plan
	 * no longer adds (the GPU taken out) is skipped */
	g.rebuild = true;
	char *xr = build_g(sp, &g, &len, NULL);
	CHECK(xr != NULL);
	free(xr);
	g.rebuild = false;
	const char *bad[] = {"a\"b", NULL};
	g.bootargs = bad;
	CHECK(build_g(sp, &g, &len, NULL) == NULL);
	CHECK(strstr(dk_errmsg(), "not allowed in boot-args") != NULL);
	dk_errclear();
	const char *empty[] = {"  ", NULL};
	CHECK(dk_oc_boot_args_check(empty) < 0);
	dk_errclear();
	free(sp);
}

/* A kext bundle with an Info.plist (identifier, executable, Lilu dependency). */
static void mk_kext(const char *dir, const char *name, const char *id, bool lilu_dep)
{
	char *d = dk_asprintf("%s/%s.kext/Contents/MacOS", dir, name);
	CHECK(dk_mkdir_p(d, 0755) == 0);
	char *exe = dk_asprintf("%s/%s", d, name);
	CHECK(dk_write_file_atomic(exe, "MACHO", 5, true, 0644) == 0);
	char *info = dk_asprintf(
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><plist version=\"1.0\"><dict>"
		"<key>CFBundleIdentifier</key><string>%s</string><key>CFBundleExecutable</key><string>%s</string>"
		"<key>CFBundleShortVersionString</key><string>1.0</string><key>OSBundleLibraries</key><dict>"
		"<key>com.apple.kpi.libkern</key><string>8.0.0</string>%s</dict></dict></plist>",
		id, name, lilu_dep ? "<key>as.vit9696.Lilu</key><string>1.2.0</string>" : "");
	char *ip = dk_asprintf("%s/%s.kext/Contents/Info.plist", dir, name);
	CHECK(dk_write_file_atomic(ip, info, strlen(info), true, 0644) == 0);
	free(d);
	free(exe);
	free(info);
	free(ip);
}

static struct dk_buf warned;
static void catch_warn(void *ud, const char *msg)
{
	(void)ud;
	dk_buf_printf(&warned, "%s\n", msg);
}

/* The chart's GPU routes: agdpmod=pikera only for Navi with WhateverGreen
 * (not older AMD, not with NootRX); Kepler native to Big Sur, past it the
 * legacy NVIDIA / OCLP route with csr-active-config 03080000 and a warning. */
TEST(gpu_routes)
{
	char *sp = sample_path("1.0.7");
	size_t slen;
	char *sx = read_all(sp, &slen);
	char *kx = t_path(t_tmpdir(), "gpu-kexts");
	mk_kext(kx, "Lilu", "as.vit9696.Lilu", false);
	mk_kext(kx, "WhateverGreen", "as.vit9696.WhateverGreen", true);
	char *kn = t_path(t_tmpdir(), "gpu-kexts-nootrx");
	mk_kext(kn, "Lilu", "as.vit9696.Lilu", false);
	mk_kext(kn, "WhateverGreen", "as.vit9696.WhateverGreen", true);
	mk_kext(kn, "NootRX", "com.ChefKissInc.NootRX", true);
	struct dk_reporter rep = {.warn = catch_warn};
	dk_set_reporter(&rep);
	struct {
		enum dk_gpu gpu;
		const char *os, *kexts, *want_args, *want_csr, *warn;
	} cases[] = {
		{DK_GPU_NAVI, "sonoma", kx, "-v keepsyms=1 debug=0x100 agdpmod=pikera", "00000000", NULL},
		{DK_GPU_AMD, "sonoma", kx, "-v keepsyms=1 debug=0x100", "00000000", NULL},
		{DK_GPU_NAVI, "sonoma", kn, "-v keepsyms=1 debug=0x100", "00000000", NULL},
		{DK_GPU_NAVI22, "sonoma", kn, "-v keepsyms=1 debug=0x100", "00000000", NULL},
		{DK_GPU_KEPLER, "bigsur", kx, "-v keepsyms=1 debug=0x100 agdpmod=vit9696", "00000000", NULL},
		{DK_GPU_KEPLER, "sonoma", kx,
		 "-v keepsyms=1 debug=0x100 agdpmod=vit9696 ngfxgl=1 ngfxcompat=1 amfi_get_out_of_my_way=1 ipc_control_port_options=0",
		 "03080000", "Kepler (legacy NVIDIA) has no macOS driver past Big Sur"},
	};
	for (size_t i = 0; i < DK_ARRAY_SIZE(cases); i++) {
		dk_buf_free(&warned);
		struct gopts g = {.model = "MacPro7,1", .os = cases[i].os, .gpu = cases[i].gpu, .kexts_dir = cases[i].kexts};
		uint32_t len;
		char *x = build_g(sp, &g, &len, NULL);
		CHECK(x != NULL);
		if (!x)
			continue;
		char *v = bootargs_of(x, len);
		CHECK_STR(v, cases[i].want_args);
		free(v);
		plist_t p = parse(x, len);
		size_t n = 0;
		const uint8_t *csr = dk_pl_data(dk_pl_get(p, "NVRAM/Add/7C436110-AB2A-4BBB-A880-FE41995C9F82"),
						"csr-active-config", &n);
		char hex[9] = "";
		if (csr && n == 4)
			snprintf(hex, sizeof hex, "%02X%02X%02X%02X", csr[0], csr[1], csr[2], csr[3]);
		CHECK_STR(hex, cases[i].want_csr);
		/* NootRX beside WhateverGreen: the validator says so (kernel.conflict) */
		CHECK_INT(count_errors(x, len, sx, slen, cases[i].kexts != kn), cases[i].kexts == kn ? 1 : 0);
		if (cases[i].warn)
			CHECK(warned.data && strstr(warned.data, cases[i].warn));
		else
			CHECK(!warned.data || !strstr(warned.data, "Kepler"));
		plist_free(p);
		free(x);
	}
	dk_set_reporter(NULL);
	dk_buf_free(&warned);
	free(kx);
	free(kn);
	free(sx);
	free(sp);
}

/* Guide-required kexts missing: a warning naming the kext and what breaks;
 * VirtualSMC refused (QEMU's applesmc) unless forced. */
TEST(required_kexts_warn_virtualsmc_refused)
{
	char *sp = sample_path("1.0.6");
	char *none = t_path(t_tmpdir(), "no-kexts");
	CHECK(dk_mkdir_p(none, 0755) == 0);
	struct dk_reporter rep = {.warn = catch_warn};
	dk_set_reporter(&rep);
	dk_buf_free(&warned);
	struct gopts g = {.model = "MacPro7,1", .os = "sequoia", .kexts_dir = none};
	uint32_t len;
	char *x = build_g(sp, &g, &len, NULL);
	CHECK(x != NULL);
	CHECK(warned.data && strstr(warned.data, "VMHide.kext missing") && strstr(warned.data, "Bluetooth"));
	CHECK(warned.data && strstr(warned.data, "AppleMCEReporterDisabler.kext missing") && strstr(warned.data, "12.3"));
	CHECK(warned.data && strstr(warned.data, "Lilu.kext missing"));
	free(x);
	/* Big Sur: neither VMHide nor the MCE disabler is required yet */
	dk_buf_free(&warned);
	g.os = "bigsur";
	x = build_g(sp, &g, &len, NULL);
	CHECK(x != NULL);
	CHECK(!warned.data || (!strstr(warned.data, "VMHide.kext missing") && !strstr(warned.data, "AppleMCEReporterDisabler.kext missing")));
	free(x);
	/* the full set: no warning */
	char *full = t_path(t_tmpdir(), "full-kexts");
	mk_kext(full, "Lilu", "as.vit9696.Lilu", false);
	mk_kext(full, "VMHide", "org.example.VMHide", true);
	mk_kext(full, "AppleMCEReporterDisabler", "com.apple.driver.AppleMCEReporterDisabler", false);
	dk_buf_free(&warned);
	g.os = "sequoia";
	g.kexts_dir = full;
	x = build_g(sp, &g, &len, NULL);
	CHECK(x != NULL);
	CHECK(warned.data == NULL);
	free(x);
	/* VirtualSMC: refused, naming applesmc; kept with force (and a warning) */
	mk_kext(full, "VirtualSMC", "as.vit9696.VirtualSMC", true);
	CHECK(build_g(sp, &g, &len, NULL) == NULL);
	CHECK(strstr(dk_errmsg(), "VirtualSMC") && strstr(dk_errmsg(), "applesmc") && strstr(dk_errmsg(), "--force"));
	dk_errclear();
	g.force = true;
	dk_buf_free(&warned);
	x = build_g(sp, &g, &len, NULL);
	CHECK(x != NULL);
	CHECK(warned.data && strstr(warned.data, "applesmc"));
	free(x);
	dk_set_reporter(NULL);
	dk_buf_free(&warned);
	free(full);
	free(none);
	free(sp);
}

static const char *drv_path(plist_t p, const char *name)
{
	plist_t a = dk_pl_get(p, "UEFI/Drivers");
	for (uint32_t i = 0; i < plist_array_get_size(a); i++) {
		const char *v = dk_pl_str(plist_array_get_item(a, i), "Path");
		if (v && !strcmp(v, name))
			return v;
	}
	return NULL;
}

/* --picker gui and --driver OpenCanopy.efi: OpenCanopy loaded, PickerMode
 * External, the guide's picker settings; the validator accepts both. */
TEST(gui_picker)
{
	for (size_t r = 0; r < DK_ARRAY_SIZE(releases); r++) {
		char *sp = sample_path(releases[r]);
		size_t slen;
		char *sx = read_all(sp, &slen);
		const char *canopy[] = {"OpenCanopy.efi", NULL};
		struct gopts gs[] = {
			{.model = "MacPro7,1", .os = "sonoma", .picker = "gui"},
			{.model = "MacPro7,1", .os = "sonoma", .drivers = canopy},
			{.model = "MacPro5,1", .os = "mojave", .picker = "gui"},
		};
		for (size_t i = 0; i < DK_ARRAY_SIZE(gs); i++) {
			uint32_t len;
			char *x = build_g(sp, &gs[i], &len, NULL);
			CHECK(x != NULL);
			if (!x)
				continue;
			plist_t p = parse(x, len);
			plist_t boot = dk_pl_get(p, "Misc/Boot");
			CHECK_STR(dk_pl_str(boot, "PickerMode"), "External");
			CHECK_STR(dk_pl_str(boot, "PickerVariant"), "Acidanthera\\GoldenGate");
			CHECK(dk_pl_int(boot, "PickerAttributes", 0) == 17);
			CHECK(drv_path(p, "OpenCanopy.efi") != NULL);
			CHECK_INT(count_errors(x, len, sx, slen, true), 0);
			plist_free(p);
			free(x);
		}
		free(sx);
		free(sp);
	}
	char *sp = sample_path("1.0.6");
	uint32_t len;
	const char *canopy[] = {"OpenCanopy.efi", NULL};
	struct gopts g = {.model = "MacPro7,1", .os = "sonoma", .picker = "text", .drivers = canopy};
	CHECK(build_g(sp, &g, &len, NULL) == NULL);
	CHECK(strstr(dk_errmsg(), "--picker gui") != NULL);
	dk_errclear();
	/* text (the default): builtin picker, no OpenCanopy */
	g.drivers = NULL;
	char *x = build_g(sp, &g, &len, NULL);
	plist_t p = x ? parse(x, len) : NULL;
	CHECK(p && !drv_path(p, "OpenCanopy.efi") && !strcmp(dk_pl_str(dk_pl_get(p, "Misc/Boot"), "PickerMode"), "Builtin"));
	plist_free(p);
	free(x);
	free(sp);
}

/* The built-in OcBinaryData pins are well-formed (checked here without
 * dk_oc_bindata_pin_ok): 64 lowercase hex, size > 0, Drivers/ or Resources/
 * paths without "..", unique ignoring case; the Resources are OpenCanopy's
 * for GoldenGate (fonts, GoldenGate images, labels), no Audio, no other theme. */
TEST(bindata_pins_builtin)
{
	size_t n;
	const struct dk_oc_bindata_file *v = dk_oc_bindata_builtin(&n);
	CHECK(n > 50);
	size_t res = 0, font = 0, gg = 0, label = 0;
	for (size_t i = 0; i < n; i++) {
		const char *path = v[i].path;
		CHECK(strlen(v[i].sha256) == 64 && strspn(v[i].sha256, "0123456789abcdef") == 64);
		CHECK(v[i].size > 0);
		CHECK(!strstr(path, "..") && !strstr(path, "//") && !strchr(path, '\\') && path[0] != '/');
		CHECK(!strncmp(path, "Drivers/", 8) || !strncmp(path, "Resources/", 10));
		CHECK(dk_oc_bindata_pin_ok(&v[i]));
		for (size_t j = 0; j < i; j++)
			CHECK(strcasecmp(v[j].path, path) != 0);
		if (strncmp(path, "Resources/", 10))
			continue;
		res++;
		CHECK(strncmp(path, "Resources/Audio/", 16) != 0);
		font += !strncmp(path, "Resources/Font/Font_", 20);
		gg += !strncmp(path, "Resources/Image/Acidanthera/GoldenGate/", 39);
		label += !strncmp(path, "Resources/Label/", 16);
	}
	CHECK(font == 4 && gg > 0 && label > 0 && res == font + gg + label);
	const struct dk_oc_bindata_file *pf;
	CHECK(dk_oc_bindata_find("hfspluslegacy.efi", &pf) == 1 && pf);
	CHECK(dk_oc_bindata_find("Font_1x.bin", &pf) == 0);
}

/* tmpl with each "%s" replaced by h */
static char *subst_hash(const char *tmpl, const char *h)
{
	char *out = dk_strdup("");
	for (const char *s = tmpl; *s;) {
		const char *m = strstr(s, "%s");
		size_t l = m ? (size_t)(m - s) : strlen(s);
		char *nx = dk_asprintf("%s%.*s%s", out, (int)l, s, m ? h : "");
		free(out);
		out = nx;
		s += l + (m ? 2 : 0);
	}
	return out;
}

/* DKVM_OCBINARYDATA_PINS lines: good ones read, a bad one named by line. */
TEST(bindata_pins_parse)
{
	const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char *good = dk_asprintf("# test pins\n\nResources/Font/Font_1x.bin %s 10\n  Drivers/X.efi %s 5\r\n", h, h);
	struct dk_oc_bindata_file *v;
	size_t n;
	CHECK(dk_oc_bindata_pins_parse(good, strlen(good), "pins", &v, &n) == 0);
	CHECK(n == 2 && !strcmp(v[0].path, "Resources/Font/Font_1x.bin") && v[0].size == 10 && v[1].size == 5);
	dk_oc_bindata_pins_free(v, n);
	free(good);
	const char *bad[] = {"Resources/../x %s 1", "Resources/Font/./x %s 1", "/Resources/x %s 1", "Other/x %s 1",
			     "Resources/x %s 0", "Resources/x %s 1x", "Resources/x %s -1", "Resources/x %s", "Resources/x %s 1 y",
			     "Drivers/x.txt %s 1", "Drivers/a/b.efi %s 1", "Resources/x %s 1\nresources/X %s 2",
			     "Resources/x\\y %s 1", "Resources/x/ %s 1"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(bad); i++) {
		char *t = subst_hash(bad[i], h);
		CHECK(dk_oc_bindata_pins_parse(t, strlen(t), "pins", &v, &n) < 0);
		CHECK(strstr(dk_errmsg(), "pins: line ") != NULL);
		dk_errclear();
		free(t);
	}
	char up[200];
	snprintf(up, sizeof up, "Resources/x %.63sA 1", h);
	CHECK(dk_oc_bindata_pins_parse(up, strlen(up), "pins", &v, &n) < 0);
	dk_errclear();
	CHECK(dk_oc_bindata_pins_parse("Resources/x\0 y", 14, "pins", &v, &n) < 0);
	dk_errclear();
}

static int count_rule(const char *xml, uint32_t len, const char *efi, const char *rule, enum dk_oc_severity sev)
{
	struct dk_oc_findings f;
	if (dk_oc_validate_xml(xml, len, NULL, 0, efi, &f) < 0)
		return -1;
	int k = 0;
	for (int i = 0; i < f.n; i++)
		k += !strcmp(f.v[i].rule, rule) && f.v[i].severity == sev;
	dk_oc_findings_free(&f);
	return k;
}

/* PickerMode External: OpenCanopy.efi must be loaded and the tree must hold
 * Resources/Image/<variant>, Font and Label, else OpenCore falls back to the
 * builtin picker (warnings, not errors). */
TEST(picker_resources_validate)
{
	char *sp = sample_path("1.0.6");
	uint32_t len;
	struct gopts g = {.model = "MacPro7,1", .os = "sonoma", .picker = "gui"};
	char *x = build_g(sp, &g, &len, NULL);
	CHECK(x != NULL);
	char *efi = t_path(t_tmpdir(), "picker-efi");
	char *drv = dk_asprintf("%s/OC/Drivers", efi);
	CHECK(dk_mkdir_p(drv, 0755) == 0);
	CHECK(count_rule(x, len, efi, "efi.picker-resources", DK_OC_WARNING) == 3);
	CHECK(count_rule(x, len, NULL, "efi.picker-resources", DK_OC_WARNING) == 0); /* no tree: not checked */
	const char *dirs[] = {"Image/Acidanthera/GoldenGate", "Font", "Label"};
	for (size_t i = 0; i < DK_ARRAY_SIZE(dirs); i++) {
		char *d = dk_asprintf("%s/OC/Resources/%s", efi, dirs[i]);
		CHECK(dk_mkdir_p(d, 0755) == 0);
		free(d);
		CHECK(count_rule(x, len, efi, "efi.picker-resources", DK_OC_WARNING) == (int)(2 - i));
	}
	/* another theme's folder is not GoldenGate's */
	char *other = dk_asprintf("%s/OC/Resources/Image/Acidanthera", efi);
	char *gg = dk_asprintf("%s/GoldenGate", other), *syrah = dk_asprintf("%s/Syrah", other);
	CHECK(rename(gg, syrah) == 0);
	CHECK(count_rule(x, len, efi, "efi.picker-resources", DK_OC_WARNING) == 1);
	free(other);
	free(gg);
	free(syrah);
	CHECK(count_rule(x, len, NULL, "misc.picker-external", DK_OC_WARNING) == 0);
	free(x);
	/* External without OpenCanopy: the builtin picker */
	g.picker = "text";
	x = build_g(sp, &g, &len, NULL);
	plist_t p = x ? parse(x, len) : NULL;
	CHECK(p != NULL);
	if (p) {
		plist_dict_set_item(dk_pl_get(p, "Misc/Boot"), "PickerMode", plist_new_string("External"));
		char *y = NULL;
		uint32_t ylen = 0;
		plist_to_xml(p, &y, &ylen);
		CHECK(count_rule(y, ylen, NULL, "misc.picker-external", DK_OC_WARNING) == 1);
		CHECK(count_rule(y, ylen, efi, "efi.picker-resources", DK_OC_WARNING) == 0);
		plist_to_xml_free(y);
		plist_free(p);
	}
	free(x);
	free(drv);
	free(efi);
	free(sp);
}

/* MacPro5,1 with an HFS driver: one HFS driver, valid; or a refusal naming
 * the driver the guide allows for that release. iMacPro1,1's explanation
 * says it uses the MacPro7,1 recipe. */
TEST(macpro5_hfs_and_imacpro_recipe)
{
	char *sp = sample_path("1.0.7");
	size_t slen;
	char *sx = read_all(sp, &slen);
	/* MacPro5,1 runs Lion to Mojave: HfsPlusLegacy.efi only (given: valid,
	 * one HFS driver); OpenHfsPlus/HfsPlus refused, naming the allowed one */
	const char *open_hfs[] = {"OpenHfsPlus.efi", NULL}, *hfs[] = {"HfsPlus.efi", NULL},
		   *legacy[] = {"HfsPlusLegacy.efi", NULL};
	const char *oses[] = {"lion", "elcapitan", "highsierra", "mojave"};
	uint32_t len;
	for (size_t i = 0; i < DK_ARRAY_SIZE(oses); i++) {
		struct gopts g = {.model = "MacPro5,1", .os = oses[i], .drivers = legacy};
		char *x = build_g(sp, &g, &len, NULL);
		CHECK(x != NULL);
		if (x) {
			plist_t p = parse(x, len);
			const char *which = NULL;
			CHECK_INT(count_hfs(p, &which), 1);
			CHECK(which && !strcmp(which, "HfsPlusLegacy.efi"));
			CHECK_INT(count_errors(x, len, sx, slen, true), 0);
			plist_free(p);
			free(x);
		}
		for (int k = 0; k < 2; k++) {
			g.drivers = k ? hfs : open_hfs;
			CHECK(build_g(sp, &g, &len, NULL) == NULL);
			CHECK(strstr(dk_errmsg(), "allows only HfsPlusLegacy.efi") != NULL);
			dk_errclear();
		}
	}

	struct gopts gi = {.model = "iMacPro1,1", .os = "sonoma"};
	struct dk_oc_changes ch;
	char *x = build_g(sp, &gi, &len, &ch);
	CHECK(x != NULL);
	bool said = false;
	for (int i = 0; x && i < ch.n; i++)
		said |= !strcmp(ch.v[i].path, "PlatformInfo/Generic/SystemProductName") &&
			strstr(ch.v[i].reason, "uses the MacPro7,1 recipe");
	CHECK(said);
	if (x)
		dk_oc_changes_free(&ch);
	free(x);
	free(sx);
	free(sp);
}

int main(void)
{
	RUN(kernel_versions);
	RUN(efi_tree_plan_build);
	RUN(efi_tree_plan_check);
	RUN(release_detection);
	RUN(matrix_validates);
	RUN(values_per_model);
	RUN(explain_records_reasons);
	RUN(broken_copies_detected);
	RUN(missing_key_in_sample);
	RUN(malformed_inputs);
	RUN(plist_depth_bounded);
	RUN(device_properties_table);
	RUN(one_hfs_driver_per_family);
	RUN(golden_configs);
	RUN(config_survives_inplace_upgrade);
	RUN(user_boot_args);
	RUN(bootargs_merge);
	RUN(gpu_routes);
	RUN(required_kexts_warn_virtualsmc_refused);
	RUN(gui_picker);
	RUN(bindata_pins_builtin);
	RUN(bindata_pins_parse);
	RUN(picker_resources_validate);
	RUN(macpro5_hfs_and_imacpro_recipe);
	return t_done();
}
