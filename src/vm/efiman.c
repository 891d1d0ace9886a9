/* The bundle's OpenCore inputs from its plan and manifest (vm/efiman.h):
 * one home for what create and update (and the tune write-ups that rebuild
 * the EFI) pass to the OpenCore set and config builders. */
#include "vm/efiman.h"
#include "util/mem.h"
#include "util/output.h"
#include "util/strv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The passed-through GPU as the OpenCore recipes know it: the kext the
 * guide's chart names (WhateverGreen by vendor, NootRX), none without one. */
static enum dk_gpu oc_gpu(const struct dk_plan *p)
{
	if (!p->gpu.host[0] || !strcmp(p->gpu.kext, "none") || !p->gpu.kext[0])
		return DK_GPU_NONE;
	if (!strcmp(p->gpu.kext, "NootRX"))
		return DK_GPU_NAVI22;
	if (dk_startswith(p->gpu.vendor_device, "10de:"))
		return !strcmp(p->gpu.family, "Kepler") ? DK_GPU_KEPLER : DK_GPU_NVIDIA;
	/* the chart gives agdpmod=pikera to the Navi cards WhateverGreen drives */
	return strstr(p->gpu.boot_args, "agdpmod=pikera") ? DK_GPU_NAVI : DK_GPU_AMD;
}

static bool has_audio(const struct dk_plan *p)
{
	for (int i = 0; i < p->n_hostdev; i++)
		if (!strcmp(p->hostdev[i].role, "audio"))
			return true;
	return false;
}

/* The guide's set for the plan (what --dry-run shows, what the EFI gets). */
struct dk_oc_set_opts dk_vm_oc_set_opts(const struct dk_plan *p)
{
	return (struct dk_oc_set_opts){.model = dk_mac_model_find(p->model), .macos = dk_macos_find(p->macos),
				       .gpu = oc_gpu(p), .audio = has_audio(p),
				       .restrict_events = p->restrict_events};
}

/* The passed-through devices as OpenCore's DeviceProperties table keys them:
 * their guest paths behind the plan's fixed root ports, the GPU's ids and the
 * chart's spoof (the plan's). NULL when nothing is passed that the table knows. */
static const struct dk_oc_passthrough *oc_passthrough(const struct dk_plan *p, struct dk_vm_oc_inputs *in)
{
	const struct dk_plan_hostdev *a = dk_plan_hostdev_role(p, "audio"), *g = dk_plan_hostdev_role(p, "gpu");
	if (!a && !g)
		return NULL;
	struct dk_oc_passthrough *pt = &in->pt;
	if (a) {
		dk_plan_hostdev_devpath(a, in->audio_path, sizeof in->audio_path);
		pt->audio_path = in->audio_path;
		pt->layout_id = DK_PLAN_AUDIO_LAYOUT;
	}
	if (g) {
		unsigned v = 0, d = 0;
		dk_plan_hostdev_devpath(g, in->gpu_path, sizeof in->gpu_path);
		pt->gpu_path = in->gpu_path;
		if (sscanf(p->gpu.vendor_device, "%4x:%4x", &v, &d) == 2) {
			pt->gpu_vendor = (uint16_t)v;
			pt->gpu_device = (uint16_t)d;
		}
		pt->gpu_spoof = p->gpu.device_id[0] ? p->gpu.device_id : NULL;
	}
	return pt;
}

struct dk_oc_config_opts dk_vm_oc_config_opts(const struct dk_plan *p, json_object *oc, struct dk_vm_oc_inputs *in)
{
	memset(in, 0, sizeof *in);
	struct dk_oc_set_opts so = dk_vm_oc_set_opts(p);
	struct dk_oc_config_opts co = {
		.model = so.model,
		.macos = so.macos,
		.gpu = so.gpu,
		.host_cpu = p->amd_host ? DK_HOSTCPU_AMD : DK_HOSTCPU_INTEL,
		.passthrough = oc_passthrough(p, in),
	};
	if (!oc)
		return co;
	/* the config's inputs create recorded (--boot-args, --picker) */
	json_object *ba = NULL;
	if (json_object_object_get_ex(oc, "boot_args", &ba) && json_object_is_type(ba, json_type_array)) {
		struct dk_strv v = {0};
		for (size_t i = 0; i < json_object_array_length(ba); i++) {
			json_object *e = json_object_array_get_idx(ba, i);
			if (json_object_is_type(e, json_type_string))
				dk_strv_push(&v, json_object_get_string(e));
		}
		in->boot_args = dk_strv_take(&v);
		co.boot_args = (const char *const *)in->boot_args;
		co.boot_args_rebuild = true;
	}
	json_object *force = NULL;
	co.force = json_object_object_get_ex(oc, "force", &force) && json_object_get_boolean(force);
	const char *picker = dk_json_get_str(oc, "picker");
	if (picker) {
		in->picker = dk_strdup(picker);
		co.picker = in->picker;
	}
	return co;
}

void dk_vm_oc_inputs_free(struct dk_vm_oc_inputs *in)
{
	dk_strv_free(in->boot_args);
	free(in->picker);
	memset(in, 0, sizeof *in);
}
