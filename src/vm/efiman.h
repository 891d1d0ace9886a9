/* The bundle's OpenCore EFI, shared by create (create.c) and update
 * (update.c): the guide's set for a plan and the manifest's "efi" /
 * "opencore" records. Internal to src/vm. */
#pragma once
#include <json-c/json.h>

#include "opencore/opencore.h"
#include "vm/plan.h"

/* The guide's EFI set options for a plan (model, release, GPU, audio). */
struct dk_oc_set_opts dk_vm_oc_set_opts(const struct dk_plan *p);

/* What config.plist is built from beyond the release and the EFI's files:
 * the plan's model, macOS, GPU kind (the chart's kext) and host CPU, the
 * passed devices' DeviceProperties at their fixed guest paths, and (oc: the
 * manifest's "opencore", NULL: none) the --boot-args and --picker create
 * recorded. The strings live in *in until dk_vm_oc_inputs_free(). */
struct dk_vm_oc_inputs {
	struct dk_oc_passthrough pt;
	char audio_path[64], gpu_path[64];
	char **boot_args;
	char *picker;
};
struct dk_oc_config_opts dk_vm_oc_config_opts(const struct dk_plan *p, json_object *oc, struct dk_vm_oc_inputs *in);
void dk_vm_oc_inputs_free(struct dk_vm_oc_inputs *in);
/* The manifest's "efi": what the image holds, with versions and sources
 * (bindata_path: the OcBinaryData driver file copied, or NULL). */
json_object *dk_vm_efi_json(const struct dk_oc_image_result *res, const char *oc_version, const char *bindata_path,
			    const char *bindata_source);
/* The staged kexts and SSDTs as the manifest's "opencore" records them. */
void dk_vm_staged_json(const struct dk_oc_staged *st, json_object *oc);
/* Name the staged kexts' and SSDTs' real sources in "efi". */
void dk_vm_efi_staged_sources(json_object *efi, const struct dk_oc_staged *st, const char *oc_version);
