/* OpenCore: config.plist from a release's Sample.plist, validation, the EFI
 * image, and release fetching. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "smbios/smbios.h"
#include "smbios/macos.h"

enum dk_gpu { DK_GPU_NONE = 0, DK_GPU_AMD, DK_GPU_NVIDIA };
enum dk_host_cpu_kind { DK_HOSTCPU_AUTO = 0, DK_HOSTCPU_INTEL, DK_HOSTCPU_AMD };

struct dk_oc_config_opts {
	const char *sample_path;          /* the release's Docs/Sample.plist */
	const struct dk_mac_model *model;
	const struct dk_macos *macos;
	enum dk_gpu gpu;
	enum dk_host_cpu_kind host_cpu;
	const struct dk_smbios *smbios;   /* required */
	const char *resolution;           /* "1920x1080" or NULL */
	const char *kexts_dir;            /* kexts to add (read Info.plist of each), or NULL */
	const char *const *drivers;       /* extra UEFI drivers, NULL-terminated, or NULL */
	const char *const *acpi;          /* SSDT file names placed in ACPI/, NULL-terminated, or NULL */
	bool explain;                     /* collect explanations */
};

/* One recorded change: "Misc/Security/ScanPolicy = 0: <reason>". */
struct dk_oc_change {
	char *path, *value, *reason;
};
struct dk_oc_changes {
	struct dk_oc_change *v;
	int n;
};
void dk_oc_changes_free(struct dk_oc_changes *c);

/* Build config.plist (XML) in memory. */
int dk_oc_config_build(const struct dk_oc_config_opts *o, char **xml, uint32_t *len,
		       struct dk_oc_changes *changes);

/* The EFI image (GPT + FAT32 ESP). */
struct dk_oc_image_opts {
	const char *release;      /* OpenCorePkg release: zip or unpacked dir */
	const char *config;       /* config.plist path */
	const char *const *kexts; /* .kext dirs, NULL-terminated, or NULL */
	const char *const *acpi;  /* .aml files, NULL-terminated, or NULL */
	const char *recovery;     /* dir holding com.apple.recovery.boot (or the dir itself), or NULL */
	uint64_t size;            /* bytes, 0 = auto */
	bool qcow2;
	bool reproducible;
	bool force;
	const char *output;
};
int dk_oc_image_build(const struct dk_oc_image_opts *o);
