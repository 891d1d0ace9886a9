/* Internal helpers of the config/validate part of src/opencore (config engineer). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <plist/plist.h>

#include "opencore/opencore.h"

/* ---- plist helpers (ocplist.c) ---- */
/* Parse XML (or binary) plist bytes, nested at most DK_PLIST_MAX_DEPTH deep
 * (util/plist.h); -1 after dk_fail naming name. The root may be any type. */
int dk_pl_parse(const char *data, size_t len, const char *name, plist_t *out);
/* Read and parse a file; the root must be a dict. Errors name the file. */
int dk_pl_load(const char *path, plist_t *out);
/* Walk "A/B/C" through dicts (no '/' inside keys on the way). */
plist_t dk_pl_get(plist_t root, const char *path);
const char *dk_pl_type_name(plist_type t);
/* A short rendering for explanations and messages (malloc'd). */
char *dk_pl_render(plist_t node);
/* Typed getters tolerant of NULL / wrong types. */
bool dk_pl_bool(plist_t dict, const char *key, bool def);
int64_t dk_pl_int(plist_t dict, const char *key, int64_t def);
const char *dk_pl_str(plist_t dict, const char *key); /* NULL unless a string */
const uint8_t *dk_pl_data(plist_t dict, const char *key, size_t *len); /* NULL unless data */
bool dk_pl_is(plist_t node, plist_type t);

/* Walk a dict's items in order:
 *     _cleanup_(dk_pl_iter_end) struct dk_pl_iter it = {.dict = d};
 *     while (dk_pl_next(&it)) use(it.key, it.val);
 * it.key lives until the next step; leaving the loop early is safe with the
 * cleanup attribute (or an explicit dk_pl_iter_end()). */
struct dk_pl_iter {
	plist_t dict;
	plist_dict_iter it;
	char *key;
	plist_t val;
};
bool dk_pl_next(struct dk_pl_iter *i);
void dk_pl_iter_end(struct dk_pl_iter *i);
/* "parent/key", or "key" when parent is "" (malloc'd). */
char *dk_pl_join(const char *parent, const char *key);

/* ---- findings (validate.c) ---- */
/* Append one finding (errors/warnings counted). */
void dk_oc_finding_add(struct dk_oc_findings *f, enum dk_oc_severity sev, const char *path, const char *rule,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- small file helpers (ocplist.c) ---- */
/* The part after the last '/' (the whole string when there is none). */
const char *dk_oc_basename(const char *path);
bool dk_oc_is_dir(const char *path);  /* stat(): an existing directory */
bool dk_oc_is_file(const char *path); /* stat(): an existing regular file */

/* ---- kexts (kexts.c) ---- */
struct dk_kext {
	char *bundle_path;  /* relative to the Kexts dir: "A.kext" or "A.kext/Contents/PlugIns/B.kext" */
	char *identifier;   /* CFBundleIdentifier */
	char *executable;   /* "Contents/MacOS/<CFBundleExecutable>" or "" */
	char *name;         /* bundle directory name without ".kext" */
	char *version;      /* CFBundleShortVersionString / CFBundleVersion, or NULL */
	char **deps;        /* OSBundleLibraries keys */
	int ndeps;
	int parent;         /* index of the containing kext for plugins, -1 */
	const char *min_kernel, *max_kernel; /* from the known-kext table, or "" */
	const char *kernel_reason;
};
/* Read every *.kext in dir (and their Contents/PlugIns), ordered so that each
 * kext follows the kexts it depends on (OSBundleLibraries) and its parent;
 * Lilu first among equals. */
int dk_kexts_scan(const char *dir, struct dk_kext **out, int *n);
void dk_kexts_free(struct dk_kext *v, int n);
/* Read one kext bundle's Info.plist: identifier, executable, deps. */
int dk_kext_read_info(const char *bundle_dir, struct dk_kext *k);
/* The same from a parsed Info.plist (what names it in errors). */
int dk_kext_parse_info(plist_t info, const char *what, struct dk_kext *k);
/* Refuse a symbolic link inside the bundle that leads outside it (its files
 * would be copied into the EFI) or nowhere: -1 naming the link. The bundle
 * itself may be a link. */
int dk_kext_check_links(const char *bundle_dir);

/* ---- recipes (recipes.c) ---- */
enum dk_oc_op {
	DK_OC_SET,      /* path = value */
	DK_OC_CLEAR,    /* empty the array/dict at path */
	DK_OC_BOOTARG,  /* append a token to boot-args */
	DK_OC_APPEND,   /* append an entry (fields) to the array at path */
};
struct dk_oc_field {
	const char *key;
	char type;          /* 'b' bool, 'i' integer, 's' string, 'x' data (hex), 'a' data (ASCII) */
	const char *value;
};
struct dk_oc_recipe {
	enum dk_oc_op op;
	const char *path;
	char type;                  /* as dk_oc_field.type; '$' = from context (smbios, resolution) */
	const char *value;
	const struct dk_oc_field *fields; /* DK_OC_APPEND, terminated by {NULL} */
	/* conditions (all must hold) */
	const char *models;         /* '|'-separated model names, NULL = any */
	const char *os_min, *os_max; /* dk_macos names, NULL = open */
	unsigned gpus;              /* bitmask 1 << enum dk_gpu, 0 = any */
	unsigned cpus;              /* bitmask 1 << enum dk_host_cpu_kind, 0 = any */
	const char *kext;           /* "id" = present, "!id" = absent, NULL = any */
	const char *without;        /* a kext (bundle name) that must be absent, NULL = any */
	/* upgrade-safe: os_min/os_max are checked against every release in the
	 * model's range, not the planned one; the entry's own kernel range
	 * (MinKernel/MaxKernel) gates it at boot, so one config survives an
	 * in-place macOS upgrade. */
	bool upgrade;
	const char *reason;
};
extern const struct dk_oc_recipe dk_oc_recipes[];
extern const int dk_oc_recipe_count;

/* DeviceProperties/Add/<device path>/<key> per passed-through device. */
struct dk_oc_devprop {
	char when;                /* 'a': audio controller passed; 'g': GPU passed */
	uint16_t vendor, device;  /* 'g': the GPU it applies to (0: any) */
	const char *key;
	char type;                /* 'x' data (hex), '$' from context (4-byte little-endian data): "layout"
				     (layout_id), "spoof" (gpu_spoof; the entry applies only when it is set) */
	const char *value;
	const char *reason;
};
extern const struct dk_oc_devprop dk_oc_devprops[];
extern const int dk_oc_devprop_count;

struct dk_oc_known_kext {
	const char *name;        /* bundle name without .kext */
	const char *executable;  /* expected ExecutablePath, "" for plist-only, NULL = not checked */
	const char *parent;      /* bundle name that must come first, or NULL */
	const char *min_kernel, *max_kernel; /* "" = none */
	const char *reason;
};
extern const struct dk_oc_known_kext dk_oc_known_kexts[];
extern const int dk_oc_known_kext_count;
const struct dk_oc_known_kext *dk_oc_known_kext_find(const char *name);

/* For which releases an entry is active: "all releases", "macOS 13 Ventura
 * and later", "up to macOS 10.14 Mojave", "macOS 10.13 High Sierra to 10.14
 * Mojave"; a MinKernel/MaxKernel ("" = none) is named when given (malloc'd). */
char *dk_oc_active_text(const struct dk_macos *lo, const struct dk_macos *hi, const char *min_kernel,
			const char *max_kernel);
/* The first release whose Darwin major is at least that of kernel "21.4.0". */
const struct dk_macos *dk_oc_macos_of_kernel(const char *kernel);

/* Darwin version "22.0.0" -> comparable number; -1 when malformed. */
long dk_oc_kernel_version(const char *s);
