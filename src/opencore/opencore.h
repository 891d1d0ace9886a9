/* OpenCore: releases, config.plist recipes, validation, the EFI tree, the EFI
 * image, and release fetching. Sections follow that order (src/opencore/
 * meson.build lists the sources the same way). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <plist/plist.h>

#include "smbios/smbios.h"
#include "smbios/macos.h"

/* ---- release ---- */

/* The OpenCore release a Sample.plist belongs to: `given` when set, else a
 * version X.Y.Z found in its path (e.g. OpenCore-1.0.6-RELEASE/Docs/Sample.plist,
 * Sample-1.0.6.plist), else the release whose Sample.plist has the same SHA-256
 * (known: 1.0.5, 1.0.6/1.0.7), else "unknown". Returns a static or the given string. */
const char *dk_oc_sample_release(const char *sample_path, const char *given);

/* ---- config recipes ---- */

/* The passed-through GPU, as the guide's chart routes it: AMD before Navi
 * (WhateverGreen), NVIDIA (WhateverGreen, web drivers), Navi 22 (RX 67xx:
 * NootRX instead of WhateverGreen, never both), Navi 10/14/21/23
 * (WhateverGreen + agdpmod=pikera), Kepler (native to Big Sur; past it the
 * guide's legacy NVIDIA / OCLP route: csr-active-config 03080000, AMFI off). */
enum dk_gpu { DK_GPU_NONE = 0, DK_GPU_AMD, DK_GPU_NVIDIA, DK_GPU_NAVI22, DK_GPU_NAVI, DK_GPU_KEPLER };
enum dk_host_cpu_kind { DK_HOSTCPU_AUTO = 0, DK_HOSTCPU_INTEL, DK_HOSTCPU_AMD };
/* The GPU kinds' names ("none", "amd", "nvidia", "navi22", "navi", "kepler"),
 * indexed by enum dk_gpu, NULL-terminated: the one table every command's
 * --gpu, its completion and the efi-MODEL-RELEASE-GPU folder use. */
extern const char *const dk_gpu_names[];
const char *dk_gpu_name(enum dk_gpu g);
/* The kind named name, or -1. */
int dk_gpu_from_name(const char *name);

/* Passed-through devices as the guest sees them (the plan's): what the
 * DeviceProperties table (recipes.c) keys on. */
struct dk_oc_passthrough {
	const char *audio_path;  /* HD Audio controller's device path, "PciRoot(0x0)/Pci(0x2,0x0)"; NULL: none */
	int layout_id;           /* AppleALC layout-id; 0: 1 */
	const char *gpu_path;    /* the GPU's device path; NULL: none */
	uint16_t gpu_vendor, gpu_device; /* its PCI ids (host's lspci -nn) */
	const char *gpu_spoof;   /* the GPU chart's device-id spoof for it ("0x73ff", host/gpu.h), NULL: none */
};

struct dk_oc_config_opts {
	const char *sample_path;          /* the release's Docs/Sample.plist */
	const struct dk_mac_model *model;
	const struct dk_macos *macos;
	enum dk_gpu gpu;
	enum dk_host_cpu_kind host_cpu;   /* the host's CPU (a fact the caller gathers): INTEL or AMD */
	const struct dk_smbios *smbios;   /* required */
	const char *resolution;           /* "1920x1080" or NULL */
	const char *kexts_dir;            /* kexts to add (read Info.plist of each), or NULL */
	const char *const *drivers;       /* extra UEFI drivers, NULL-terminated, or NULL */
	const char *const *acpi;          /* SSDT file names placed in ACPI/, NULL-terminated, or NULL */
	bool explain;                     /* collect explanations */
	const char *release;              /* OpenCore release of the sample ("1.0.6"), NULL = detect */
	const struct dk_oc_passthrough *passthrough; /* NULL: none (DeviceProperties/Add stays empty) */
	/* --boot-args, in order: "A B" adds each token ("+X" adds X, for a token
	 * that starts with '-'), a single "-X" removes token X (an error when X is
	 * not in boot-args). Applied after the Sample's and the recipes' tokens. */
	const char *const *boot_args;
	bool boot_args_rebuild;           /* boot_args recorded at create, applied again (update, tune):
					   * removing a token that is no longer there is skipped, not an error */
	const char *picker;               /* "gui" (OpenCanopy, PickerMode External), "text" or NULL (text) */
	bool force;                       /* accept what the guide forbids (VirtualSMC beside QEMU's applesmc) */
};
/* Check --boot-args values (characters, length); -1 after dk_fail naming the value. */
int dk_oc_boot_args_check(const char *const *boot_args);
/* Every boot-args token some recipe (recipes.c) can add, from the recipes
 * table: the tokens a rebuild owns (NULL-terminated, dk_strv_free). */
char **dk_oc_recipe_bootargs(void);
/* boot-args after a rebuild: the fresh config's tokens, plus the old
 * config's tokens no recipe manages (the user's, a write-up's revpatch=),
 * in the old order, then the fresh ones it lacked. A recipe token the new
 * config no longer has is gone. malloc'd. */
char *dk_oc_bootargs_merge(const char *old, const char *fresh);

/* One recorded change: "Misc/Security/ScanPolicy = 0: <reason>". */
struct dk_oc_change {
	char *path, *value, *reason;
	char *active; /* for which macOS releases the entry acts: "all releases", "macOS 13 Ventura and later (MinKernel 22.0.0)" */
};
struct dk_oc_changes {
	struct dk_oc_change *v;
	int n;
};
void dk_oc_changes_free(struct dk_oc_changes *c);

/* Build config.plist (XML) in memory. */
int dk_oc_config_build(const struct dk_oc_config_opts *o, char **xml, uint32_t *len,
		       struct dk_oc_changes *changes);
/* The document `dkvm --json opencore config` prints for a config written to
 * output from release's Sample.plist (json.c); o->smbios is required. */
json_object *dk_oc_config_to_json(const struct dk_oc_config_opts *o, const char *output, const char *release,
				  const struct dk_oc_changes *ch);

/* ---- validation ---- */

enum dk_oc_severity { DK_OC_ERROR = 0, DK_OC_WARNING = 1 };
struct dk_oc_finding {
	enum dk_oc_severity severity;
	char *path;    /* "Kernel/Add[2]/BundlePath", "" for the whole file */
	char *rule;    /* "schema.unknown-key", "kernel.plugin-order", "efi.missing-file", ... */
	char *message;
};
struct dk_oc_findings {
	struct dk_oc_finding *v;
	int n, errors, warnings;
};
void dk_oc_findings_free(struct dk_oc_findings *f);

struct dk_oc_validate_opts {
	const char *config_path; /* NULL with image: EFI/OC/config.plist of the image */
	const char *sample_path; /* schema source, or NULL (rules only) */
	const char *efi_dir;     /* EFI tree to check against (the dir holding OC/, or EFI/OC itself), or NULL */
	const char *image;       /* disk image (GPT ESP or bare FAT32) holding EFI/OC, or NULL */
};
/* Validate; -1 only when the inputs cannot be read/parsed (dk_fail set). The
 * findings say whether the config is good: errors == 0. */
int dk_oc_validate(const struct dk_oc_validate_opts *o, struct dk_oc_findings *out);
/* The document `dkvm --json opencore validate` prints (json.c). */
json_object *dk_oc_findings_to_json(const struct dk_oc_validate_opts *o, const struct dk_oc_findings *f);
/* The same on an in-memory XML config, schema from an optional in-memory sample. */
int dk_oc_validate_xml(const char *config_xml, uint32_t config_len, const char *sample_xml, uint32_t sample_len,
		       const char *efi_dir, struct dk_oc_findings *out);

/* ---- EFI tree ---- */

/* One model of the EFI tree, used both to build an image (`opencore image`)
 * and to check a tree (`opencore validate --efi/--image`).
 *
 * The path rule (OpenCore's): an enabled entry's path is relative to its
 * folder: ACPI/Add Path to EFI/OC/ACPI, UEFI/Drivers Path to EFI/OC/Drivers,
 * Misc/Tools Path to EFI/OC/Tools, Kernel/Add BundlePath to EFI/OC/Kexts and
 * its PlistPath / ExecutablePath to that bundle. A path is '/'-separated, not
 * absolute, without '\', "." or ".." components and without empty ones
 * (efi.bad-path). Names are compared as FAT does, ignoring case: a file found
 * only with another case is used, with an efi.case-mismatch warning (unless
 * the names come from a FAT volume, whose short names carry no case). An
 * enabled entry whose file is absent is an efi.missing-file error; a file the
 * user gave (a kext folder, an ACPI table, a kext zip) that no enabled entry
 * uses is an efi.unused warning. An entry without a path is efi.no-path and an
 * entry list that is not an array efi.not-array (validation reports those
 * through its schema and path rules instead). Old-style string entries are
 * paths, disabled by a leading '#'. */
enum dk_efi_origin {
	DK_EFI_USER = 0, /* given by the user (--kext, --acpi, --driver): wins over the release */
	DK_EFI_RELEASE,  /* in the OpenCorePkg release's X64/EFI */
	DK_EFI_TREE,     /* already in the EFI tree being checked */
};
/* A file or folder that can be, or is, in the tree. */
struct dk_efi_item {
	char *path;        /* relative to EFI/: "OC/Drivers/OpenRuntime.efi", "BOOT/BOOTx64.efi" */
	bool is_dir;
	bool whole;        /* a kext folder copied as one tree (its files follow it, listed) */
	enum dk_efi_origin origin;
	int src;           /* the caller's index of its source */
	const char *from;  /* names its source in messages ("ps2.zip"); borrowed */
};
/* What is available: items (a kext bundle's files right after the bundle). */
struct dk_efi_given {
	struct dk_efi_item *v;
	size_t n, cap;
	const char *release; /* building: the release (for messages); NULL: checking a tree */
	const char *config;  /* the config's name, for messages */
	const char *tree;    /* checking: the EFI/OC folder, for messages */
	bool fold_case;      /* names from a FAT volume: no case-mismatch findings */
};
void dk_efi_given_add(struct dk_efi_given *g, const char *path, bool is_dir, enum dk_efi_origin origin, int src,
		      const char *from);
void dk_efi_given_free(struct dk_efi_given *g);
/* Add the files and folders under host dir (following links, at most 32
 * deep; deeper levels are left out) as prefix/<relative path>. */
int dk_efi_given_host(struct dk_efi_given *g, const char *dir, const char *prefix, enum dk_efi_origin origin,
		      int src, const char *from);

enum dk_efi_from { DK_EFI_FROM_ITEM, DK_EFI_FROM_CONFIG, DK_EFI_NEW_DIR };
struct dk_efi_copy {
	char *dest;            /* in the volume: "EFI/OC/Drivers/OpenRuntime.efi" */
	enum dk_efi_from from;
	size_t item;           /* DK_EFI_FROM_ITEM: index in the given items (whole: a tree) */
};
struct dk_efi_tree {
	struct dk_efi_copy *v; /* in writing order */
	size_t n;
	char **bundles;        /* per Kernel/Add entry: the bundle found with its PlistPath, relative to EFI/OC, or NULL */
	uint32_t nbundles;
};
void dk_efi_tree_free(struct dk_efi_tree *t);
/* The tree a config needs from what is given, and the findings (appended,
 * rules efi.*). Pure: reads nothing but its arguments. */
void dk_efi_tree_plan(plist_t config, const struct dk_efi_given *given, struct dk_efi_tree *out,
		      struct dk_oc_findings *findings);
/* ---- image ---- */

/* The EFI image (GPT + FAT32 ESP). */
struct dk_oc_image_opts {
	const char *release;      /* OpenCorePkg release: zip or unpacked dir */
	const char *config;       /* config.plist path */
	const char *const *kexts; /* .kext dirs or kext release zips, NULL-terminated, or NULL */
	const char *const *acpi;  /* .aml files, NULL-terminated, or NULL */
	const char *recovery;     /* dir holding com.apple.recovery.boot (or the dir itself), or NULL */
	uint64_t size;            /* bytes, 0 = auto */
	bool qcow2;
	bool reproducible;
	bool force;
	const char *output;
	const char *const *drivers; /* extra UEFI driver .efi files (not in the release), or NULL */
	const char *const *add;     /* "SRC:DEST" host file/dir copied to DEST in the volume, or NULL */
	/* EFI/OC/Resources files: resources[i] (a host file) to EFI/OC/Resources/<resource_rels[i]>;
	   NULL-terminated, or NULL */
	const char *const *resources, *const *resource_rels;
	bool progress;              /* progress bar while copying data */
	struct dk_oc_image_result *result; /* optional: what was built */
};
struct dk_oc_image_result {
	uint64_t disk_bytes;      /* raw disk size */
	uint64_t file_size;       /* output file length (qcow2 differs) */
	uint64_t part_offset, part_bytes, payload_bytes;
	uint32_t cluster_size;
	char disk_guid[37], part_guid[37];
	size_t nfiles;            /* files + directories in the volume */
	char **drivers, **tools, **kexts, **acpi; /* copied names, NULL-terminated */
	bool recovery;
	/* the drivers, kexts and ACPI tables copied, in writing order */
	struct dk_oc_image_entry *entries;
	size_t nentries;
};
struct dk_oc_image_entry {
	char kind;     /* 'd' driver, 'k' kext, 'a' ACPI table, 't' tool */
	char *name;    /* "OpenRuntime.efi", "Lilu.kext" */
	char *source;  /* the release (zip or folder) or the file / folder / zip given */
	bool release;  /* from the OpenCorePkg release */
	char *sha256;  /* of the file; NULL for a kext bundle */
};
void dk_oc_image_result_free(struct dk_oc_image_result *r);
/* Build the image: GPT + FAT32 ESP (label OPENCORE) holding EFI/BOOT/BOOTx64.efi,
 * EFI/OC/{OpenCore.efi,config.plist,ACPI,Drivers,Kexts,Resources,Tools}; only the
 * drivers and tools the config enables are copied; every enabled Kernel/Add and
 * ACPI/Add entry must be among the given kexts / ACPI files. */
int dk_oc_image_build(const struct dk_oc_image_opts *o);
/* The document `dkvm --json opencore image` prints for a built image (see
 * dkvm-opencore(1)). */
json_object *dk_oc_image_to_json(const struct dk_oc_image_opts *o, const struct dk_oc_image_result *r);

/* ---- fetch ---- */

/* Download a release zip (OpenCorePkg or a kext) from GitHub releases into the
 * cache ($XDG_CACHE_HOME/dkvm/releases/<repo>/<version>/<asset>), verified by the
 * SHA-256 the release API publishes. name: "OpenCorePkg", "Lilu", "VMHide", ...
 * or "owner/repo"; version NULL = latest; mirror NULL = https://api.github.com
 * and github.com (a mirror serves both the API paths and the download paths). */
struct dk_oc_fetched {
	char *name, *repo, *version, *asset, *path, *url, *sha256;
	uint64_t size;
	bool cached;    /* already in the cache, nothing downloaded */
	bool verified;  /* SHA-256 matched a published digest */
};
int dk_oc_fetch(const char *name, const char *version, const char *mirror, struct dk_oc_fetched *out);
void dk_oc_fetched_free(struct dk_oc_fetched *f);
/* The same from the cache only (no network): 1 found (out filled), 0 not in
 * the cache, -1 bad arguments. version NULL = the newest cached. */
int dk_oc_fetch_cached(const char *name, const char *version, struct dk_oc_fetched *out);
/* Remove a just-downloaded asset and its recorded checksum from the cache
 * (it proved unusable). */
void dk_oc_fetched_discard(const struct dk_oc_fetched *f);
/* owner/repo for a known name ("Lilu" -> "acidanthera/Lilu"), NULL if unknown. */
const char *dk_oc_fetch_repo(const char *name);
/* One entry of `dkvm --json opencore fetch`'s "releases" (json.c). */
json_object *dk_oc_fetched_to_json(const struct dk_oc_fetched *f);

/* ---- OcBinaryData files ---- */

/* Drivers that OpenCorePkg releases do not ship (HfsPlus.efi,
 * HfsPlusLegacy.efi) and the Resources OpenCanopy draws with (PickerVariant
 * Acidanthera\GoldenGate: Font/Font_{1x,2x}.{bin,png},
 * Image/Acidanthera/GoldenGate/, Label/; no Audio, PickerAudioAssist stays
 * off) come from acidanthera/OcBinaryData at a commit pinned in dkvm, each
 * file with its pinned SHA-256 and size, through
 * https://raw.githubusercontent.com/acidanthera/OcBinaryData/<commit>/<path>
 * (a mirror -- --mirror or DKVM_GITHUB_MIRROR -- serves the same path), cached
 * in $XDG_CACHE_HOME/dkvm/ocbinarydata/<commit>/ (a driver by its name, a
 * Resources file by its path). A download whose digest or size differs is
 * refused and nothing is cached for it. DKVM_OCBINARYDATA_PINS=FILE (lines
 * "PATH SHA256 SIZE", '#' comments) replaces the built-in table: for mirrors
 * holding other files, and tests. */
struct dk_oc_bindata_file {
	const char *path;   /* in the repository: "Drivers/HfsPlusLegacy.efi", "Resources/Font/Font_1x.bin" */
	const char *sha256; /* lowercase hex */
	uint64_t size;      /* > 0 */
};
struct dk_oc_bindata_got {
	char *path;   /* the cached file */
	char *url;
	char *source; /* "acidanthera/OcBinaryData@<12 hex>" */
	bool cached;  /* already there, nothing downloaded */
};
const char *dk_oc_bindata_commit(void);
/* The built-in table (generated Resources rows: bindata_resources.h). */
const struct dk_oc_bindata_file *dk_oc_bindata_builtin(size_t *n);
/* A well-formed pin: "Drivers/NAME.efi" or "Resources/..." made of safe
 * components ([A-Za-z0-9._-], no "." or ".."), 64 lowercase hex, size > 0. */
bool dk_oc_bindata_pin_ok(const struct dk_oc_bindata_file *f);
/* Parse a pins file (DKVM_OCBINARYDATA_PINS); -1 naming the line when a row
 * is not a well-formed pin or a path is pinned twice (ignoring case). */
int dk_oc_bindata_pins_parse(const char *text, size_t len, const char *name, struct dk_oc_bindata_file **v,
			     size_t *n);
void dk_oc_bindata_pins_free(struct dk_oc_bindata_file *v, size_t n);
/* 1 and *out: the pinned driver of that name (case-insensitive); 0: none; -1: the pins file
 * (DKVM_OCBINARYDATA_PINS) cannot be read or is malformed. */
int dk_oc_bindata_find(const char *file, const struct dk_oc_bindata_file **out);
int dk_oc_bindata_fetch(const char *file, const char *mirror, struct dk_oc_bindata_got *out);
/* The same with an explicit pin (tests, a newer commit). */
int dk_oc_bindata_fetch_pinned(const char *commit, const struct dk_oc_bindata_file *f, const char *mirror,
			       struct dk_oc_bindata_got *out);
void dk_oc_bindata_got_free(struct dk_oc_bindata_got *g);
/* Every pinned Resources file, from the cache or downloaded (one after the
 * other, progress "OcBinaryData Resources" through the reporter); offline:
 * the cache only, and -1 naming what is missing. */
struct dk_oc_bindata_res {
	char **files;  /* the cached files, NULL-terminated */
	char **rels;   /* their paths under EFI/OC/Resources/ ("Font/Font_1x.bin") */
	size_t n;
	size_t fetched; /* how many were downloaded (not cached) */
	char *source;  /* "acidanthera/OcBinaryData@<12 hex>" */
};
int dk_oc_bindata_resources(const char *mirror, bool offline, struct dk_oc_bindata_res *out);
void dk_oc_bindata_res_free(struct dk_oc_bindata_res *r);
/* The guide's HFS+ driver families: Mojave and older load only
 * HfsPlusLegacy.efi (with DUDK firmware); Catalina and later OpenHfsPlus.efi
 * (the release's, the default) or HfsPlus.efi (OcBinaryData). A config holds
 * exactly one. */
const char *dk_oc_hfs_driver(const struct dk_macos *os); /* the default */
bool dk_oc_is_hfs_driver(const char *name);
bool dk_oc_hfs_allowed(const struct dk_macos *os, const char *name);
/* ---- the guide's EFI set (efiset.c) ---- */

/* What the guide puts in EFI/OC/Kexts and EFI/OC/ACPI for a model, release and
 * passed-through devices: a data table (efiset.c), resolved purely. */
struct dk_oc_set_opts {
	const struct dk_mac_model *model;
	const struct dk_macos *macos;
	enum dk_gpu gpu;
	bool audio;               /* motherboard audio passed through (AppleALC) */
	bool restrict_events;     /* RestrictEvents whatever the model (its write-up) */
};
struct dk_oc_set_item {
	const char *name;         /* kext "Lilu", or SSDT file "SSDT-PLUG-ALT.aml" */
	const char *repo;         /* kext release repo; NULL: written by dkvm (codeless) or an SSDT */
	bool acpi;                /* an SSDT from the OpenCorePkg release's Docs/AcpiSamples/Binaries */
	const char *reason;
};
/* The set, kexts first (Lilu first), then SSDTs; *items is malloc'd. */
void dk_oc_set_resolve(const struct dk_oc_set_opts *o, struct dk_oc_set_item **items, size_t *n);

/* Fetch (or take from the cache) and unpack the set into dir (created):
 * dir/Kexts/<Name>.kext and dir/ACPI/<file>. Kext release zips: the RELEASE
 * asset, its <Name>.kext bundle (not the .dSYM); codeless kexts are written
 * by dkvm; SSDTs come from the OpenCorePkg release. User kexts (.kext dirs,
 * linked; kext zips, unpacked) and SSDT files replace fetched ones of the
 * same name. */
struct dk_oc_stage_opts {
	struct dk_oc_set_opts set;
	const char *release;             /* OpenCorePkg release (zip or dir), for the SSDTs; NULL with
					    offline: it is missing from the cache (said with the rest) */
	const char *dir;                 /* staging folder (must not exist) */
	const char *const *kext_dirs;    /* --kexts DIR folders holding *.kext, or NULL */
	const char *const *kexts;        /* --kext .kext folders or kext zips, or NULL */
	const char *const *acpi;         /* --acpi files, or NULL */
	const char *const *pins;         /* "Lilu=1.6.9", or NULL */
	const char *mirror;              /* NULL: $DKVM_GITHUB_MIRROR or GitHub */
	bool offline;                    /* the cache only */
};
struct dk_oc_staged_kext {
	char *name, *source, *version, *repo, *asset, *sha256; /* source: fetched|cached|dkvm|user */
	const char *reason;
};
struct dk_oc_staged {
	char **kexts;                    /* dir/Kexts/<Name>.kext, NULL-terminated */
	char **acpi;                     /* dir/ACPI/<file>, NULL-terminated */
	char **acpi_names;               /* their file names */
	struct dk_oc_staged_kext *info;  /* per staged kext (what, where from) */
	size_t ninfo;
};
int dk_oc_stage(const struct dk_oc_stage_opts *o, struct dk_oc_staged *out);
void dk_oc_staged_free(struct dk_oc_staged *s);
/* "Name=version" pins: -1 unless each is well-formed and names a known kext. */
int dk_oc_pins_check(const char *const *pins);

/* The set staged in a folder beside a path (stage.c). */
struct dk_oc_staged_dir {
	char *dir;       /* the set: dir/Kexts/<Name>.kext, dir/ACPI/<file> */
	char *kexts_dir; /* dir/Kexts */
	char *tmp;       /* a temporary folder dk_oc_staged_dir_free() removes; NULL: the set stays */
	struct dk_oc_staged st;
	bool staged;
};
/* opencore fetch --macos: o's set (o->dir ignored) in efi-MODEL-RELEASE[-GPU]/
 * beside o->release (the OpenCorePkg release zip), staged in a temporary
 * folder there and swapped in once complete (an earlier set of that name is
 * replaced only then). */
int dk_oc_stage_release(const struct dk_oc_stage_opts *o, struct dk_oc_staged_dir *out);
/* opencore config --guide-kexts: sample must be the Docs/Sample.plist of an
 * unpacked OpenCorePkg release (its SSDTs); o's set (o->release and o->dir
 * ignored) staged in a new temporary folder beside output, which
 * dk_oc_staged_dir_free() removes. Nothing is left on failure. */
int dk_oc_stage_for_sample(const struct dk_oc_stage_opts *o, const char *sample, const char *output,
			   struct dk_oc_staged_dir *out);
void dk_oc_staged_dir_free(struct dk_oc_staged_dir *d);
/* The staged kexts then SSDTs: [{"name","version","source","sha256","path","reason"}
 * ..., {"name","path"} ...], the "set" of `dkvm --json opencore fetch` (json.c). */
json_object *dk_oc_staged_to_json(const struct dk_oc_staged_dir *d);
